//! `returnn-ckpt path PATH... [--json]`: for each input, the checkpoint pattern RETURNN makes of
//! it and the epoch it reads from that pattern (`engine::path`), following `.meta`/`.pt`
//! symlinks as RETURNN does, from the current directory or `-C DIR`.
//!
//! JSON (stable): `[{"input", "pattern", "epoch"}]`, with `"epoch": null, "error": "..."` where
//! RETURNN fails. Exit code 1 if any input fails.

use std::process::ExitCode;

use crate::args::WorkDir;
use crate::out::{print_json, print_out, Fail, NEGATIVE};

#[derive(clap::Args)]
pub struct Args {
    /// Checkpoint paths (any of PREFIX, PREFIX.meta/.index/.pt, PREFIX.data-*, ...), as RETURNN
    /// would see them.
    #[arg(required = true)]
    pub paths: Vec<String>,
    /// Machine-readable output (stable JSON contract).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub dir: WorkDir,
}

pub fn run(args: Args) -> Result<ExitCode, Fail> {
    let report = engine::path::run(&engine::path::PathRequest {
        paths: args.paths,
        base_dir: args.dir.base(),
    });
    if args.json {
        print_json(&report);
    } else {
        let mut s = String::new();
        for r in &report.paths {
            let epoch = match (&r.error, r.epoch) {
                (Some(e), _) => format!("error: {e}"),
                (None, Some(e)) => format!("epoch {e}"),
                (None, None) => "no epoch".to_string(),
            };
            s.push_str(&format!("{}\t{}\t{epoch}\n", r.input, r.pattern));
        }
        print_out(&s);
    }
    Ok(if report.failed() {
        ExitCode::from(NEGATIVE)
    } else {
        ExitCode::SUCCESS
    })
}
