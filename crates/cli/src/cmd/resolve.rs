//! `returnn-ckpt resolve CONFIG [++key value]... [--json]`: which checkpoint RETURNN loads for
//! a config, at which epoch, and where training continues (RETURNN's `get_epoch_model` and
//! `get_train_start_epoch`, after `__main__`'s handling of `epoch` for `eval`/`forward`).
//! Paths are kept as RETURNN keeps them: relative paths stay relative and are looked up
//! against the current directory (use `-C DIR` to run as if started in DIR, like RETURNN
//! started there).
//!
//! The layers mirrored, in `returnn/__main__.py`'s order: config (overrides, file, overrides),
//! engine selection (`BackendEngine.select_engine`; with neither `backend` nor `use_tensorflow`
//! the TF net-dict engine is assumed where `__main__` would raise), `execute_main_task`'s config
//! rules (`eval`/`forward` copy `epoch` into `load_epoch`; a note `resolve: ...` says so), then
//! `EngineBase.get_epoch_model` / `get_train_start_epoch`. Checked against real RETURNN by
//! `cargo xtask returnn-oracle` (see `tools/returnn-oracle/README.md`).
//!
//! JSON (stable): `{"epoch", "model", "start_epoch", "existing": {"N": path}, "notes": [..]}`;
//! when RETURNN would raise: exit code 1 and `{"error": "<message>", "kind": "<label>"}`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use model_files::{resolve, RealFs, SelectError, Selection};
use returnn_config::{Config, ConfigFormat};
use serde::Serialize;

#[derive(clap::Args)]
pub struct Args {
    /// RETURNN config file (Python `#!...`/`.py`, JSON `{...}`, or line-based `key value`).
    pub config: PathBuf,
    /// `++key value` overrides, as on RETURNN's command line (`+-0.1` gives `-0.1`).
    #[arg(num_args = 0.., allow_hyphen_values = true, trailing_var_arg = true, value_name = "++KEY VALUE")]
    pub overrides: Vec<String>,
    /// Machine-readable output (stable JSON contract).
    #[arg(long)]
    pub json: bool,
    /// Also list config statements that were not evaluated (imports, defs, computed values).
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// Run as if started in DIR (RETURNN's working directory; relative model paths resolve there).
    #[arg(short = 'C', long = "cwd", value_name = "DIR")]
    pub cwd: Option<PathBuf>,
}

/// Flags that may follow the overrides (`trailing_var_arg` takes everything after CONFIG).
pub(crate) struct TrailingFlags {
    pub json: bool,
    pub verbose: bool,
    pub apply: bool,
    pub best: Option<Option<String>>,
}

/// Splits `--json`, `--verbose`/`-v`, `--apply`, `--best [KEY]` off the override list.
pub(crate) fn split_trailing_flags(
    args: &[String],
) -> anyhow::Result<(Vec<String>, TrailingFlags)> {
    let mut out = Vec::new();
    let mut flags = TrailingFlags {
        json: false,
        verbose: false,
        apply: false,
        best: None,
    };
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        match a {
            "--json" => flags.json = true,
            "--verbose" | "-v" => flags.verbose = true,
            "--apply" => flags.apply = true,
            "--best" => {
                let next = args.get(i + 1).filter(|n| !n.starts_with("--") && !n.starts_with("++"));
                flags.best = Some(next.cloned());
                if next.is_some() {
                    i += 1;
                }
            }
            _ if a.starts_with("--best=") => flags.best = Some(Some(a["--best=".len()..].to_string())),
            _ if a.starts_with("++") => {
                let Some(v) = args.get(i + 1) else {
                    anyhow::bail!("override {a} has no value (expected `++key value`)");
                };
                out.push(a.to_string());
                out.push(v.clone());
                i += 1;
            }
            _ => anyhow::bail!(
                "unexpected argument {a:?}: overrides are `++key value` pairs (a value starting with '-' may be written `+-...`)"
            ),
        }
        i += 1;
    }
    Ok((out, flags))
}

/// A failure with a stable kind label (printed as `{"error", "kind"}` with `--json`).
pub(crate) struct Failure {
    pub message: String,
    pub kind: String,
}

impl From<SelectError> for Failure {
    fn from(e: SelectError) -> Failure {
        Failure {
            message: e.to_string(),
            kind: e.kind_label().to_string(),
        }
    }
}

impl From<returnn_config::Error> for Failure {
    /// The message starts with the Python exception RETURNN raises (`NameError: ...`), like
    /// the model-selection errors, unless it is one of our own "not supported" errors.
    fn from(e: returnn_config::Error) -> Failure {
        let exc = e.kind().python_exception();
        let msg = e.to_string();
        let message = if msg.starts_with("not supported") || msg.starts_with(exc) {
            msg
        } else {
            format!("{exc}: {msg}")
        };
        Failure {
            message,
            kind: e.kind().label().to_string(),
        }
    }
}

/// Prints a failure (JSON or human) and returns exit code 1.
pub(crate) fn report_failure(f: &Failure, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"error": f.message, "kind": f.kind}))?
        );
    } else {
        eprintln!("returnn-ckpt: error [{}]: {}", f.kind, f.message);
    }
    Ok(ExitCode::FAILURE)
}

/// Changes to `cwd` (the config path is made absolute first), loads the config there (so
/// `include` resolves as in RETURNN started in that directory), applies overrides, and with
/// `verbose` lists skipped statements and warnings on stderr.
pub(crate) fn load_config(
    path: &Path,
    overrides: &[String],
    cwd: Option<&Path>,
    verbose: bool,
) -> Result<Config, Failure> {
    // `include` (in the file and in overrides) is relative to RETURNN's working directory,
    // so change there first; the config path itself is taken relative to where we started.
    let path = &match cwd {
        Some(_) => std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
        None => path.to_path_buf(),
    };
    if let Some(dir) = cwd {
        std::env::set_current_dir(dir).map_err(|e| Failure {
            message: format!("cannot change to directory {}: {e}", dir.display()),
            kind: "cwd".into(),
        })?;
    }
    let mut config = Config::load(path)?;
    config.apply_overrides(overrides)?;
    if verbose {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let form = match ConfigFormat::detect(&text, &path.to_string_lossy()) {
            ConfigFormat::Python => "Python",
            ConfigFormat::Json => "JSON",
            ConfigFormat::Lines => "line-based",
        };
        eprintln!("config {} ({form})", path.display());
        for (file, s) in config.skipped() {
            let names = if s.names.is_empty() {
                String::new()
            } else {
                format!("  [sets: {}]", s.names.join(", "))
            };
            eprintln!("  skipped {}:{}: {}{names}", file.display(), s.line, s.what);
        }
        for w in config.warnings() {
            eprintln!("  {w}");
        }
    }
    Ok(config)
}

#[derive(Serialize)]
struct ResolveJson<'a> {
    epoch: Option<u64>,
    model: Option<&'a str>,
    start_epoch: Option<u64>,
    existing: &'a BTreeMap<u64, String>,
    notes: &'a [String],
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (overrides, flags) = split_trailing_flags(&args.overrides)?;
    let json = args.json || flags.json;
    let verbose = args.verbose || flags.verbose;
    let config = match load_config(&args.config, &overrides, args.cwd.as_deref(), verbose) {
        Ok(c) => c,
        Err(f) => return report_failure(&f, json),
    };
    let sel = match resolve(&config, &RealFs) {
        Ok(s) => s,
        Err(e) => return report_failure(&e.into(), json),
    };
    if json {
        let out = ResolveJson {
            epoch: sel.epoch,
            model: sel.model.as_deref(),
            start_epoch: sel.start_epoch,
            existing: &sel.existing,
            notes: &sel.notes,
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print_human(&config, &sel);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_human(config: &Config, sel: &Selection) {
    println!("task: {}", sel.task);
    if sel.existing.is_empty() {
        println!("existing models: none");
    } else {
        println!("existing models:");
        for (e, p) in &sel.existing {
            println!("  {e:>4}  {p}");
        }
    }
    match (&sel.model, sel.epoch) {
        (Some(m), Some(0)) => {
            println!("loads: {m} (import_model_train_epoch1: new training from epoch 1)")
        }
        (Some(m), Some(e)) => println!("loads: {m} (epoch {e})"),
        (Some(m), None) => println!("loads: {m} (no epoch: imported as initialization)"),
        (None, _) => println!("loads: nothing"),
    }
    match sel.start_epoch {
        Some(s) => println!("training starts at epoch {s}"),
        None => {
            // RETURNN's init_network_from_config (spec §6.3) for tasks without a train start.
            if sel.model.is_none() {
                let allow = config
                    .bool("allow_random_model_init", false)
                    .unwrap_or(false);
                if allow {
                    println!(
                        "note: no model; RETURNN initializes randomly (allow_random_model_init)"
                    );
                } else {
                    println!("note: no model; RETURNN's TF engine fails for task '{}' unless allow_random_model_init is set", sel.task);
                }
            } else if sel.epoch.is_none() {
                println!("note: no epoch for task '{}'; RETURNN's TF engine fails (`assert self.epoch`) unless load_epoch is set", sel.task);
            }
        }
    }
    for n in &sel.notes {
        println!("{n}");
    }
}
