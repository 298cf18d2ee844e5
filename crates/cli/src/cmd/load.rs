//! `returnn-ckpt load CONFIG --target TARGET --out OUT [++key value]...`: computes the plan
//! (exactly what `plan` shows), then writes exactly the loaded variables (`engine::load`):
//! `OUT.safetensors`, `OUT.pt` (the torch engines), or a TF checkpoint prefix. The output
//! appears atomically, only if every value was computed.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::out::{fail, plural, print_json, print_out, usage, Fail};
use crate::plan_view::{plan_text, PlanArgs};
use crate::progress::Bar;

#[derive(clap::Args)]
#[group(skip)]
pub struct Args {
    /// The same arguments as `plan`
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Output: FILE.safetensors, FILE.pt (backend = "torch"), or a TF checkpoint prefix
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Replace an existing output
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: Args, quiet: bool) -> Result<ExitCode, Fail> {
    let call = args.plan.call(true)?;
    let out = call.out.clone().or(args.out.clone()).ok_or_else(|| {
        usage(
            call.json,
            "the following required argument was not provided: --out <OUT>",
        )
    })?;
    let req = engine::load::LoadRequest {
        plan: call.request.clone(),
        out: call.dir.command_line_path(&out),
        force: args.force || call.force,
    };
    let bar = Bar::new(quiet || call.quiet || call.json);
    let mut r = engine::load::run(&req, &bar).map_err(fail(call.json))?;
    r.out = out.display().to_string();
    if call.json {
        print_json(&r);
    } else {
        print_out(&plan_text(&r.plan()));
        print_out(&format!(
            "wrote {} to {}\n",
            plural(r.written, "tensor", "tensors"),
            out.display()
        ));
    }
    Ok(ExitCode::SUCCESS)
}
