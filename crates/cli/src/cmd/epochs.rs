//! `returnn-ckpt epochs CONFIG [++key value]... [--json] [--best [KEY]]`: the existing epochs
//! of the config's model (RETURNN's `get_existing_models`), their files, and, when the
//! learning-rate-control file (`learning_rate_file`) exists, their learning rates and scores.
//! `--best KEY` picks the existing epoch with the lowest KEY (ties: lower epoch); `--best`
//! alone uses the key `tools/get-best-model-epoch.py` would use (the default score key of the
//! last epoch that has scores).
//!
//! JSON: `{"model", "final_epoch", "learning_rate_file", "epochs": [{"epoch", "path",
//! "pretrain", "files", "learning_rate", "scores"}], "best": {"key", "epoch", "value", "path"}}`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use model_files::cleanup::epoch_files;
use model_files::{config_get_final_epoch, get_existing_models, Backend, LrFile, RealFs};
use returnn_config::{Config, Value};
use serde::Serialize;

use super::resolve::{load_config, report_failure, split_trailing_flags, Failure};

#[derive(clap::Args)]
pub struct Args {
    /// RETURNN config file.
    pub config: PathBuf,
    /// `++key value` overrides, as on RETURNN's command line.
    #[arg(num_args = 0.., allow_hyphen_values = true, trailing_var_arg = true, value_name = "++KEY VALUE")]
    pub overrides: Vec<String>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
    /// Pick the best existing epoch by this score key (lowest value); without a key, the
    /// default key of the last scored epoch.
    #[arg(long, num_args = 0..=1, default_missing_value = "", value_name = "KEY")]
    pub best: Option<String>,
    /// Run as if started in DIR (RETURNN's working directory).
    #[arg(short = 'C', long = "cwd", value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// List config statements that were not evaluated.
    #[arg(long, short = 'v')]
    pub verbose: bool,
}

#[derive(Serialize)]
struct EpochJson {
    epoch: u64,
    path: String,
    pretrain: bool,
    files: Vec<String>,
    learning_rate: Option<f64>,
    scores: Option<BTreeMap<String, f64>>,
}

#[derive(Serialize)]
struct BestJson {
    key: String,
    epoch: u64,
    value: f64,
    path: String,
}

#[derive(Serialize)]
struct TfStateJson {
    /// The `checkpoint` state file read.
    file: String,
    /// `model_checkpoint_path`, resolved against the state file's directory as TF does.
    latest: String,
    /// `all_model_checkpoint_paths`, resolved the same way.
    all: Vec<String>,
}

#[derive(Serialize)]
struct EpochsJson {
    model: String,
    final_epoch: i64,
    learning_rate_file: Option<String>,
    epochs: Vec<EpochJson>,
    /// TF's `checkpoint` state file next to the model (RETURNN does not use it to select a
    /// model; shown for comparison), or null.
    tf_checkpoint_state: Option<TfStateJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    best: Option<BestJson>,
    notes: Vec<String>,
}

/// The learning-rate file of a config: `(path, parsed)`; `parsed` is `None` if the option is
/// unset or the file does not exist.
pub(crate) fn load_lr_file(config: &Config) -> Result<(Option<String>, Option<LrFile>), Failure> {
    let Some(path) = config.value("learning_rate_file", None)? else {
        return Ok((None, None));
    };
    if !Path::new(&path).exists() {
        return Ok((Some(path), None));
    }
    let lr = LrFile::load(Path::new(&path)).map_err(|e| Failure {
        message: e.to_string(),
        kind: "lr_file".into(),
    })?;
    Ok((Some(path), Some(lr)))
}

/// `learning_rate_control_error_measure` as a list of keys.
pub(crate) fn error_measure(config: &Config) -> Vec<String> {
    match config.get("learning_rate_control_error_measure") {
        Some(Value::Str(s)) => vec![s.clone()],
        Some(Value::List(v)) | Some(Value::Tuple(v)) => v
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        _ => config
            .get_text("learning_rate_control_error_measure")
            .map(|v| v.to_vec())
            .unwrap_or_default(),
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (overrides, flags) = split_trailing_flags(&args.overrides)?;
    let json = args.json || flags.json;
    let best_arg = args
        .best
        .clone()
        .or(flags.best.map(|b| b.unwrap_or_default()));
    match collect(&args, &overrides, args.verbose || flags.verbose, best_arg) {
        Ok(out) => {
            if json {
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                print_human(&out);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(f) => report_failure(&f, json),
    }
}

fn collect(
    args: &Args,
    overrides: &[String],
    verbose: bool,
    best: Option<String>,
) -> Result<EpochsJson, Failure> {
    let config = load_config(&args.config, overrides, args.cwd.as_deref(), verbose)?;
    let backend = Backend::from_config(&config)?;
    let task = config.value("task", Some("train"))?.unwrap_or_default();
    let model = config.value("model", Some(""))?.unwrap_or_default();
    let final_epoch = if model.is_empty() {
        0
    } else {
        config_get_final_epoch(&config)?
    };
    let existing = get_existing_models(&config, &RealFs, backend, task == "train")?;
    let (lr_path, lr) = load_lr_file(&config)?;
    let mut notes = Vec::new();
    if model.is_empty() {
        notes.push("config has no 'model': RETURNN finds no existing models".to_string());
    }
    if let (Some(p), None) = (&lr_path, &lr) {
        notes.push(format!("learning-rate file {p} does not exist"));
    }
    if let Some(lr) = &lr {
        notes.extend(lr.warnings.iter().cloned());
    }
    let mut epochs = Vec::new();
    for (e, path) in &existing {
        let data = lr.as_ref().and_then(|l| l.epochs.get(e));
        epochs.push(EpochJson {
            epoch: *e,
            path: path.clone(),
            pretrain: path.ends_with(&format!(
                ".pretrain.{}",
                model_files::paths::py_03d(*e as i64)
            )),
            files: epoch_files(&RealFs, path, backend)
                .into_iter()
                .map(|(f, _)| f)
                .collect(),
            learning_rate: data.and_then(|d| d.learning_rate),
            scores: data.map(|d| d.scores.iter().cloned().collect()),
        });
    }
    let best = match best {
        None => None,
        Some(key) => {
            let Some(lr) = &lr else {
                return Err(Failure {
                    message: format!(
                        "--best needs the learning-rate file (learning_rate_file = {})",
                        lr_path.as_deref().unwrap_or("unset")
                    ),
                    kind: "lr_file_missing".into(),
                });
            };
            let key = if key.is_empty() {
                let Some(last) = lr.last_epoch_with_scores() else {
                    return Err(Failure {
                        message: "the learning-rate file has no scores".into(),
                        kind: "no_scores".into(),
                    });
                };
                let key = lr.get_error_key(last, &error_measure(&config));
                notes.push(format!(
                    "Using key {} (auto via epoch {last})",
                    key.as_deref().unwrap_or("None")
                ));
                key.unwrap_or_default()
            } else {
                key
            };
            let mut ranked: Vec<(f64, u64)> = existing
                .keys()
                .filter_map(|e| {
                    lr.epochs
                        .get(e)
                        .and_then(|d| d.score(&key))
                        .map(|v| (v, *e))
                })
                .collect();
            ranked.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let Some(&(value, epoch)) = ranked.first() else {
                return Err(Failure {
                    message: format!("no existing epoch has the score key {key:?}"),
                    kind: "no_scores".into(),
                });
            };
            Some(BestJson {
                key,
                epoch,
                value,
                path: existing.get(&epoch).cloned().unwrap_or_default(),
            })
        }
    };
    let tf_checkpoint_state = tf_state(&model, &mut notes);
    Ok(EpochsJson {
        model,
        final_epoch,
        learning_rate_file: lr_path,
        epochs,
        tf_checkpoint_state,
        best,
        notes,
    })
}

/// Reads TF's `checkpoint` state file in the model's directory (if any).
fn tf_state(model: &str, notes: &mut Vec<String>) -> Option<TfStateJson> {
    if model.is_empty() {
        return None;
    }
    let dir = match model.rfind('/') {
        Some(0) => Path::new("/"),
        Some(p) => Path::new(&model[..p]),
        None => Path::new("."),
    };
    match tf_bundle::CheckpointState::read_dir(dir) {
        Ok(Some(st)) => {
            let show = |p: &str| tf_bundle::state::resolve_in(dir, p).display().to_string();
            Some(TfStateJson {
                file: dir.join("checkpoint").display().to_string(),
                latest: if st.model_checkpoint_path.is_empty() {
                    String::new()
                } else {
                    show(&st.model_checkpoint_path)
                },
                all: st
                    .all_model_checkpoint_paths
                    .iter()
                    .map(|p| show(p))
                    .collect(),
            })
        }
        Ok(None) => None,
        Err(e) => {
            notes.push(format!("TF checkpoint state file unreadable: {e}"));
            None
        }
    }
}

fn print_human(out: &EpochsJson) {
    println!(
        "model: {}  (epochs scanned: 1..={})",
        if out.model.is_empty() {
            "<unset>"
        } else {
            &out.model
        },
        out.final_epoch
    );
    if let Some(p) = &out.learning_rate_file {
        println!("learning-rate file: {p}");
    }
    if out.epochs.is_empty() {
        println!("no existing epochs");
    }
    for e in &out.epochs {
        let lr = e
            .learning_rate
            .map(|x| format!("  lr {}", returnn_config::py_float_repr(x)))
            .unwrap_or_default();
        let scores = e
            .scores
            .as_ref()
            .map(|s| {
                s.iter()
                    .map(|(k, v)| format!("{k} {}", returnn_config::py_float_repr(*v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .filter(|s| !s.is_empty())
            .map(|s| format!("  {s}"))
            .unwrap_or_default();
        println!("{:>5}  {}{lr}{scores}", e.epoch, e.path);
        for f in &e.files {
            println!("         {f}");
        }
    }
    if let Some(st) = &out.tf_checkpoint_state {
        println!("TF state file {}: latest {}", st.file, st.latest);
    }
    if let Some(b) = &out.best {
        println!(
            "best by {}: epoch {} ({}) = {}",
            b.key,
            b.epoch,
            b.path,
            returnn_config::py_float_repr(b.value)
        );
    }
    for n in &out.notes {
        println!("note: {n}");
    }
}
