//! `returnn-ckpt plan CONFIG --target TARGET [++key value]... [--json]`: the parameter-loading
//! plan RETURNN would follow, per target variable: status, source file, source key(s), rule
//! and entry (`engine::plan`).
//!
//! JSON (stable contract):
//! `{"notes": ["..."], "variables": {"<name>": {"entry": "<preload key or load>", "file":
//! "<path>", "keys": ["l1/W"], "rule": "prefix", "status": "loaded"}}}`; where RETURNN would
//! raise: exit 1 and `{"error": "<message>", "kind": "<stable label>"}`.

use std::process::ExitCode;

use crate::out::{fail_kind, print_json_pretty, print_out};
use crate::plan_view::{plan_text, PlanArgs};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub plan: PlanArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let call = args.plan.call(false)?;
    let p = match engine::plan::run(&call.request) {
        Ok(p) => p,
        Err(e) => return fail_kind(&e, call.error_doc()),
    };
    if call.json {
        print_json_pretty(&p)?;
    } else {
        print_out(&plan_text(&p))?;
    }
    Ok(ExitCode::SUCCESS)
}
