//! `returnn-ckpt load CONFIG --target TARGET --out OUT [++key value]...`: computes the plan
//! (exactly what `plan` shows), then writes exactly the loaded variables (`engine::load`):
//! `OUT.safetensors`, or a TF checkpoint prefix. The output appears atomically, only if every
//! value was computed.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::out::{fail_kind, print_json_pretty, print_out};
use crate::plan_view::{plan_text, PlanArgs};
use crate::progress::Bar;

#[derive(clap::Args)]
#[group(skip)]
pub struct Args {
    /// The same arguments as `plan`
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Output: FILE.safetensors, or a TF checkpoint prefix
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let call = args.plan.call(true)?;
    let out = call.out.clone().or(args.out.clone()).ok_or_else(|| {
        anyhow::anyhow!("the following required argument was not provided: --out <OUT>")
    })?;
    let req = engine::load::LoadRequest {
        plan: call.request.clone(),
        out: call.dir.command_line_path(&out),
    };
    let bar = Bar::new();
    let r = engine::load::run(&req, &bar);
    let r = match r {
        Ok(r) => r,
        Err(e) => return fail_kind(&e, call.error_doc()),
    };
    if call.json {
        let mut r = r;
        r.out = out.display().to_string();
        print_json_pretty(&r)?;
    } else {
        print_out(&plan_text(&r.plan()))?;
        print_out(&format!(
            "wrote {} tensors to {}\n",
            r.written,
            out.display()
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}
