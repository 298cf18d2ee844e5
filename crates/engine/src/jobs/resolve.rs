//! `resolve`: which checkpoint RETURNN loads for a config, at which epoch, and where training
//! continues (RETURNN's `get_epoch_model` and `get_train_start_epoch`, after `__main__`'s
//! handling of `epoch` for `eval`/`forward`; see `docs/returnn-engine.md` §5, §6).
//!
//! The layers mirrored, in `returnn/__main__.py`'s order: config (overrides, file, overrides),
//! engine selection (`BackendEngine.select_engine`; with neither `backend` nor `use_tensorflow`
//! the TF net-dict engine is assumed where `__main__` would raise), `execute_main_task`'s config
//! rules, then `EngineBase.get_epoch_model` / `get_train_start_epoch`.

use std::collections::BTreeMap;

use model_files::RealFs;
use serde::Serialize;

use crate::config::{self, ConfigRequest, LoadedConfig};
use crate::error::Result;

/// What to resolve.
#[derive(Clone, Debug)]
pub struct ResolveRequest {
    pub config: ConfigRequest,
}

/// The answer. JSON (stable): `{"epoch", "model", "start_epoch", "existing": {"N": path},
/// "notes": [..]}`.
#[derive(Clone, Debug, Serialize)]
pub struct ResolveReport {
    pub epoch: Option<u64>,
    pub model: Option<String>,
    pub start_epoch: Option<u64>,
    pub existing: BTreeMap<u64, String>,
    pub notes: Vec<String>,
    /// The task (`config.value("task", "train")`).
    #[serde(skip)]
    pub task: String,
    /// For tasks without a training start: what RETURNN's `init_network_from_config` does
    /// next (`docs/returnn-engine.md` §6.3), as a note for people.
    #[serde(skip)]
    pub init_note: Option<String>,
}

/// Loads the config and resolves it.
pub fn run(req: &ResolveRequest) -> Result<ResolveReport> {
    let loaded = config::load_for_selection(&req.config)?;
    run_loaded(&loaded)
}

/// Resolves an already loaded config.
pub fn run_loaded(loaded: &LoadedConfig) -> Result<ResolveReport> {
    let config = &loaded.config;
    let sel = model_files::resolve(config, &RealFs::in_dir(&loaded.base_dir))?;
    let init_note = if sel.start_epoch.is_some() {
        None
    } else if sel.model.is_none() {
        let allow = config
            .bool("allow_random_model_init", false)
            .unwrap_or(false);
        Some(if allow {
            "note: no model; RETURNN initializes randomly (allow_random_model_init)".to_string()
        } else {
            format!(
                "note: no model; RETURNN's TF engine fails for task '{}' unless allow_random_model_init is set",
                sel.task
            )
        })
    } else if sel.epoch.is_none() {
        Some(format!(
            "note: no epoch for task '{}'; RETURNN's TF engine fails (`assert self.epoch`) unless load_epoch is set",
            sel.task
        ))
    } else {
        None
    };
    let mut notes = sel.notes;
    notes.extend(config::ignored_override_notes(loaded));
    if sel.existing.is_empty() {
        notes.extend(config::models_beside_config_note(loaded));
    }
    Ok(ResolveReport {
        epoch: sel.epoch,
        model: sel.model,
        start_epoch: sel.start_epoch,
        existing: sel.existing,
        notes,
        task: sel.task,
        init_note,
    })
}
