//! `returnn-ckpt resolve CONFIG [++key value]... [--json]`: which checkpoint RETURNN loads for
//! a config, at which epoch, and where training continues (`engine::resolve`). Paths are kept
//! as RETURNN keeps them: relative paths stay relative; `-C DIR` runs as if RETURNN were
//! started in DIR. Checked against real RETURNN by `cargo xtask returnn-oracle`.
//!
//! JSON (stable): `{"epoch", "model", "start_epoch", "existing": {"N": path}, "notes": [..]}`;
//! when RETURNN would raise: exit code 1 and the error document.

use std::path::PathBuf;
use std::process::ExitCode;

use engine::resolve::ResolveReport;

use crate::args::{load_config_call, Own, WorkDir};
use crate::out::{fail, print_json, print_notes, print_out, Fail};

#[derive(clap::Args)]
pub struct Args {
    /// RETURNN config file (Python `#!...`/`.py`, JSON `{...}`, or line-based `key value`).
    pub config: PathBuf,
    /// RETURNN's command line: `++key value` overrides (`+-0.1` gives `-0.1`) and its options
    /// (`--task eval`, ...)
    #[arg(num_args = 0.., allow_hyphen_values = true, trailing_var_arg = true, value_name = "++KEY VALUE")]
    pub overrides: Vec<String>,
    /// Machine-readable output (stable JSON contract).
    #[arg(long)]
    pub json: bool,
    /// Also list config statements that were not evaluated (imports, defs, computed values).
    #[arg(long, short = 'v')]
    pub verbose: bool,
    #[command(flatten)]
    pub dir: WorkDir,
}

pub fn run(args: Args) -> Result<ExitCode, Fail> {
    let call = load_config_call(
        &args.config,
        &args.overrides,
        &[Own::Json, Own::Verbose, Own::Cwd],
        &args.dir,
        args.json,
        args.verbose,
    )?;
    let report = engine::resolve::run_loaded(&call.loaded).map_err(fail(call.json))?;
    if call.json {
        print_json(&report);
    } else {
        print_out(&human(&report));
        print_notes(report.init_note.as_slice(), false);
        print_notes(&report.notes, false);
    }
    Ok(ExitCode::SUCCESS)
}

fn human(r: &ResolveReport) -> String {
    let mut s = format!("task: {}\n", r.task);
    if r.existing.is_empty() {
        s.push_str("existing models: none\n");
    } else {
        s.push_str("existing models:\n");
        for (e, p) in &r.existing {
            s.push_str(&format!("  {e:>4}  {p}\n"));
        }
    }
    match (&r.model, r.epoch) {
        (Some(m), Some(0)) => s.push_str(&format!(
            "loads: {m} (import_model_train_epoch1: new training from epoch 1)\n"
        )),
        (Some(m), Some(e)) => s.push_str(&format!("loads: {m} (epoch {e})\n")),
        (Some(m), None) => s.push_str(&format!(
            "loads: {m} (no epoch: imported as initialization)\n"
        )),
        (None, _) => s.push_str("loads: nothing\n"),
    }
    if let Some(st) = r.start_epoch {
        s.push_str(&format!("training starts at epoch {st}\n"));
    }
    s
}
