//! `returnn-ckpt path PATH... [--json]`: for each input, the checkpoint pattern RETURNN's
//! `get_checkpoint_filepattern` makes of it and the epoch `model_epoch_from_filename` reads
//! from that pattern (following `.meta`/`.pt` symlinks as RETURNN does, relative to the
//! current directory).
//!
//! JSON (stable): `[{"input", "pattern", "epoch"}]`, with `"epoch": null, "error": "..."` where
//! RETURNN fails. Exit code 1 if any input fails.

use std::process::ExitCode;

use model_files::{get_checkpoint_filepattern, model_epoch_from_filename, RealFs};
use serde::Serialize;

#[derive(clap::Args)]
pub struct Args {
    /// Checkpoint paths (any of PREFIX, PREFIX.meta/.index/.pt, PREFIX.data-*, ...).
    #[arg(required = true)]
    pub paths: Vec<String>,
    /// Machine-readable output (stable JSON contract).
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct PathJson<'a> {
    input: &'a str,
    pattern: &'a str,
    epoch: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut rows = Vec::with_capacity(args.paths.len());
    let mut failed = false;
    for input in &args.paths {
        let pattern = get_checkpoint_filepattern(input);
        let (epoch, error) = match model_epoch_from_filename(&RealFs, pattern) {
            Ok(e) => (e, None),
            Err(e) => {
                failed = true;
                (None, Some(e.to_string()))
            }
        };
        rows.push(PathJson {
            input,
            pattern,
            epoch,
            error,
        });
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        for r in &rows {
            let epoch = match (&r.error, r.epoch) {
                (Some(e), _) => format!("error: {e}"),
                (None, Some(e)) => format!("epoch {e}"),
                (None, None) => "no epoch".to_string(),
            };
            println!("{}\t{}\t{epoch}", r.input, r.pattern);
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
