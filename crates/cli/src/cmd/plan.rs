//! `returnn-ckpt plan CONFIG --target TARGET [++key value]... [--json]`: the parameter-loading
//! plan RETURNN would follow, per target variable: status, source file, source key(s), rule
//! and entry (`engine::plan`).
//!
//! JSON (stable contract):
//! `{"notes": ["..."], "variables": {"<name>": {"entry": "<preload key or load>", "file":
//! "<path>", "keys": ["l1/W"], "rule": "prefix", "status": "loaded"}}}`; where RETURNN would
//! raise: exit 1 and the error document.

use std::process::ExitCode;

use crate::out::{fail, print_json, print_out, Fail};
use crate::plan_view::{plan_text, PlanArgs};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub plan: PlanArgs,
}

pub fn run(args: Args) -> Result<ExitCode, Fail> {
    let call = args.plan.call(false)?;
    let p = engine::plan::run(&call.request).map_err(fail(call.json))?;
    if call.json {
        print_json(&p);
    } else {
        print_out(&plan_text(&p));
    }
    Ok(ExitCode::SUCCESS)
}
