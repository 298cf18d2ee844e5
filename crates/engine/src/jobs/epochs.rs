//! `epochs`: the existing epochs of the config's model (RETURNN's `get_existing_models`), their
//! files, and, when the learning-rate-control file exists, their learning rates and scores;
//! optionally the best epoch by a score key (`docs/returnn-engine.md` §4, §12).
//!
//! The best epoch: the existing epoch with the lowest value of the key (ties: the lower epoch);
//! without a key, the key `tools/get-best-model-epoch.py` would use (the default score key of
//! the last epoch that has scores).

use std::collections::BTreeMap;
use std::path::Path;

use model_files::cleanup::epoch_files;
use model_files::{config_get_final_epoch, get_existing_models, Backend, Fs, LrFile, RealFs};
use returnn_config::{Config, Value};
use serde::Serialize;

use crate::config::{self, with_python_exception, ConfigRequest, LoadedConfig};
use crate::error::{Error, ErrorKind, Result};

/// What to list.
#[derive(Clone, Debug)]
pub struct EpochsRequest {
    pub config: ConfigRequest,
    /// `Some("")`: the best epoch by the default key; `Some(key)`: by `key`.
    pub best: Option<String>,
}

/// One existing epoch.
#[derive(Clone, Debug, Serialize)]
pub struct EpochInfo {
    pub epoch: u64,
    pub path: String,
    pub pretrain: bool,
    pub files: Vec<String>,
    pub learning_rate: Option<f64>,
    pub scores: Option<BTreeMap<String, f64>>,
}

/// The best epoch by a score key.
#[derive(Clone, Debug, Serialize)]
pub struct BestEpoch {
    pub key: String,
    pub epoch: u64,
    pub value: f64,
    pub path: String,
}

/// TF's `checkpoint` state file next to the model.
#[derive(Clone, Debug, Serialize)]
pub struct TfState {
    /// The `checkpoint` state file read.
    pub file: String,
    /// `model_checkpoint_path`, resolved against the state file's directory as TF does.
    pub latest: String,
    /// `all_model_checkpoint_paths`, resolved the same way.
    pub all: Vec<String>,
}

/// The answer. JSON (stable): `{"model", "final_epoch", "learning_rate_file", "epochs":
/// [..], "tf_checkpoint_state", "best"?, "notes"}`.
#[derive(Clone, Debug, Serialize)]
pub struct EpochsReport {
    pub model: String,
    pub final_epoch: i64,
    pub learning_rate_file: Option<String>,
    pub epochs: Vec<EpochInfo>,
    /// TF's `checkpoint` state file next to the model (RETURNN does not use it to select a
    /// model; shown for comparison), or null.
    pub tf_checkpoint_state: Option<TfState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub best: Option<BestEpoch>,
    pub notes: Vec<String>,
}

/// The learning-rate file of a config: `(path, parsed)`; `parsed` is `None` if the option is
/// unset or the file does not exist.
pub fn load_lr_file(config: &Config, fs: &dyn Fs) -> Result<(Option<String>, Option<LrFile>)> {
    let Some(path) = config
        .value("learning_rate_file", None)
        .map_err(with_python_exception)?
    else {
        return Ok((None, None));
    };
    if !fs.exists(&path) {
        return Ok((Some(path), None));
    }
    let lr = LrFile::load(fs, &path)
        .map_err(|e| Error::new(ErrorKind::LrFile, e.to_string()).with_path(&path))?;
    Ok((Some(path), Some(lr)))
}

/// `learning_rate_control_error_measure` as a list of keys.
pub fn error_measure(config: &Config) -> Vec<String> {
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

/// Loads the config and lists its epochs.
pub fn run(req: &EpochsRequest) -> Result<EpochsReport> {
    let loaded = config::load_for_selection(&req.config)?;
    run_loaded(&loaded, req.best.clone())
}

/// Lists the epochs of an already loaded config.
pub fn run_loaded(loaded: &LoadedConfig, best: Option<String>) -> Result<EpochsReport> {
    let config = &loaded.config;
    let fs = RealFs::in_dir(&loaded.base_dir);
    let backend = Backend::from_config(config)?;
    let task = config
        .value("task", Some("train"))
        .map_err(with_python_exception)?
        .unwrap_or_default();
    let model = config
        .value("model", Some(""))
        .map_err(with_python_exception)?
        .unwrap_or_default();
    let final_epoch = if model.is_empty() {
        0
    } else {
        config_get_final_epoch(config)?
    };
    let existing = get_existing_models(config, &fs, backend, task == "train")?;
    let (lr_path, lr) = load_lr_file(config, &fs)?;
    let mut notes = config::ignored_override_notes(loaded);
    if existing.is_empty() {
        notes.extend(config::models_beside_config_note(loaded));
    }
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
        epochs.push(EpochInfo {
            epoch: *e,
            path: path.clone(),
            pretrain: path.ends_with(&format!(
                ".pretrain.{}",
                model_files::paths::py_03d(*e as i64)
            )),
            files: epoch_files(&fs, path, backend)
                .into_iter()
                .map(|(f, _)| f)
                .collect(),
            learning_rate: data.and_then(|d| d.learning_rate),
            scores: data.map(|d| d.scores.iter().cloned().collect()),
        });
    }
    let best = match best {
        None => None,
        Some(key) => Some(best_epoch(
            config,
            &existing,
            lr.as_ref(),
            lr_path.as_deref(),
            key,
            &mut notes,
        )?),
    };
    let tf_checkpoint_state = tf_state(&model, &loaded.base_dir, &mut notes);
    Ok(EpochsReport {
        model,
        final_epoch,
        learning_rate_file: lr_path,
        epochs,
        tf_checkpoint_state,
        best,
        notes,
    })
}

/// The existing epoch with the lowest score `key` (ties: the lower epoch); an empty key is
/// the default key of the last scored epoch (`tools/get-best-model-epoch.py`).
fn best_epoch(
    config: &Config,
    existing: &BTreeMap<u64, String>,
    lr: Option<&LrFile>,
    lr_path: Option<&str>,
    key: String,
    notes: &mut Vec<String>,
) -> Result<BestEpoch> {
    let Some(lr) = lr else {
        return Err(Error::new(
            ErrorKind::LrFileMissing,
            format!(
                "--best needs the learning-rate file (learning_rate_file = {})",
                lr_path.unwrap_or("unset")
            ),
        ));
    };
    let key = if key.is_empty() {
        let Some(last) = lr.last_epoch_with_scores() else {
            return Err(Error::new(
                ErrorKind::NoScores,
                "the learning-rate file has no scores",
            ));
        };
        let key = lr.get_error_key(last, &error_measure(config));
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
        return Err(Error::new(
            ErrorKind::NoScores,
            format!("no existing epoch has the score key {key:?}"),
        ));
    };
    Ok(BestEpoch {
        key,
        epoch,
        value,
        path: existing.get(&epoch).cloned().unwrap_or_default(),
    })
}

/// Reads TF's `checkpoint` state file in the model's directory (if any).
fn tf_state(model: &str, base: &Path, notes: &mut Vec<String>) -> Option<TfState> {
    if model.is_empty() {
        return None;
    }
    let dir = match model.rfind('/') {
        Some(0) => Path::new("/"),
        Some(p) => Path::new(&model[..p]),
        None => Path::new("."),
    };
    match tf_bundle::CheckpointState::read_dir(&crate::paths::resolve(base, dir)) {
        Ok(Some(st)) => {
            let show = |p: &str| tf_bundle::state::resolve_in(dir, p).display().to_string();
            Some(TfState {
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
