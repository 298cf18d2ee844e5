//! `returnn-ckpt cleanup CONFIG [++key value]... [--apply] [--json]`: which epochs RETURNN's
//! `cleanup_old_models` keeps and deletes (options from the config's `cleanup_old_models`
//! dict: `keep_last_n`, `keep_best_n`, `keep`; scores from the learning-rate file), and the
//! files concerned. A dry run unless `--apply`; `--apply` deletes exactly the listed files.
//!
//! Unlike RETURNN (which globs `<path>*`), files are matched by exact name, so deleting epoch
//! 100 never touches `network.1000.*`.
//!
//! JSON: `{"stored", "keep", "delete", "files": {"N": [{"path", "bytes"}]}, "bytes", "applied",
//! "log"}`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use model_files::cleanup::{apply_plan, human_bytes_size, plan_cleanup, CleanupOptions};
use model_files::{get_existing_models, Backend, LrFile, RealFs};
use serde::Serialize;

use super::epochs::load_lr_file;
use super::resolve::{load_config, report_failure, split_trailing_flags, Failure};

#[derive(clap::Args)]
pub struct Args {
    /// RETURNN config file.
    pub config: PathBuf,
    /// `++key value` overrides, as on RETURNN's command line.
    #[arg(num_args = 0.., allow_hyphen_values = true, trailing_var_arg = true, value_name = "++KEY VALUE")]
    pub overrides: Vec<String>,
    /// Delete the files (default: dry run, only list them).
    #[arg(long)]
    pub apply: bool,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
    /// Run as if started in DIR (RETURNN's working directory).
    #[arg(short = 'C', long = "cwd", value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// List config statements that were not evaluated.
    #[arg(long, short = 'v')]
    pub verbose: bool,
}

#[derive(Serialize)]
struct FileJson {
    path: String,
    bytes: u64,
}

#[derive(Serialize)]
struct CleanupJson {
    stored: Vec<u64>,
    keep: Vec<u64>,
    delete: Vec<u64>,
    files: BTreeMap<u64, Vec<FileJson>>,
    bytes: u64,
    applied: bool,
    log: Vec<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (overrides, flags) = split_trailing_flags(&args.overrides)?;
    let json = args.json || flags.json;
    let apply = args.apply || flags.apply;
    let plan = match make_plan(&args, &overrides, args.verbose || flags.verbose) {
        Ok(p) => p,
        Err(f) => return report_failure(&f, json),
    };
    let bytes: u64 = plan
        .files
        .values()
        .flat_map(|v| v.iter().map(|(_, b)| *b))
        .sum();
    let mut log = plan.log.clone();
    let mut applied = false;
    if apply && !plan.delete.is_empty() {
        match apply_plan(&plan) {
            Ok(n) => {
                applied = true;
                log.push(format!("Deleted {}.", human_bytes_size(n)));
            }
            Err(e) => {
                return report_failure(
                    &Failure {
                        message: e.to_string(),
                        kind: "delete_failed".into(),
                    },
                    json,
                )
            }
        }
    } else if !plan.delete.is_empty() {
        log.push(format!(
            "Dry run: would delete {} ({} files); pass --apply to delete.",
            human_bytes_size(bytes),
            plan.files.values().map(Vec::len).sum::<usize>()
        ));
    }
    if json {
        let out = CleanupJson {
            stored: plan.stored.clone(),
            keep: plan.keep.clone(),
            delete: plan.delete.clone(),
            files: plan
                .files
                .iter()
                .map(|(e, v)| {
                    (
                        *e,
                        v.iter()
                            .map(|(p, b)| FileJson {
                                path: p.clone(),
                                bytes: *b,
                            })
                            .collect(),
                    )
                })
                .collect(),
            bytes,
            applied,
            log,
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("stored epochs: {:?}", plan.stored);
        println!("keep:          {:?}", plan.keep);
        println!("delete:        {:?}", plan.delete);
        for (e, files) in &plan.files {
            for (f, b) in files {
                println!(
                    "  {} epoch {e}: {f} ({})",
                    if applied { "deleted" } else { "would delete" },
                    human_bytes_size(*b)
                );
            }
        }
        for l in &log {
            println!("{l}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn make_plan(
    args: &Args,
    overrides: &[String],
    verbose: bool,
) -> Result<model_files::cleanup::CleanupPlan, Failure> {
    let config = load_config(&args.config, overrides, args.cwd.as_deref(), verbose)?;
    let backend = Backend::from_config(&config)?;
    let opts = CleanupOptions::from_config(&config)?;
    let existing = get_existing_models(&config, &RealFs, backend, false)?;
    let (_, lr) = load_lr_file(&config)?;
    let lr = lr.unwrap_or_else(LrFile::default);
    Ok(plan_cleanup(&existing, &lr, &opts, &RealFs, backend)?)
}
