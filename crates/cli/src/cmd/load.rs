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
    pub out: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let req = engine::load::LoadRequest {
        plan: args.plan.request(),
        out: args.plan.dir.command_line_path(&args.out),
    };
    let bar = Bar::new();
    let r = engine::load::run(&req, &bar);
    let r = match r {
        Ok(r) => r,
        Err(e) => return fail_kind(&e, args.plan.error_doc()),
    };
    if args.plan.json {
        let mut r = r;
        r.out = args.out.display().to_string();
        print_json_pretty(&r)?;
    } else {
        print_out(&plan_text(&r.plan()))?;
        print_out(&format!(
            "wrote {} tensors to {}\n",
            r.written,
            args.out.display()
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}
