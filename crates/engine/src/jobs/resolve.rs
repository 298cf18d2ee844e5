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
/// "notes": [..]}`; for the PyTorch engine, when the selected file's name gives no epoch,
/// also `"checkpoint_epoch"` after `"epoch"`: the epoch `_load_model` takes instead
/// (`ckpt["epoch"]`, else the start epoch, else 1; T-EPOCH-1).
#[derive(Clone, Debug, Serialize)]
pub struct ResolveReport {
    pub epoch: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint_epoch: Option<u64>,
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
    let mut checkpoint_epoch = None;
    if model_files::Engine::from_config(config)? == model_files::Engine::Torch
        && sel.epoch.is_none()
    {
        if let Some(m) = sel.model.as_deref().filter(|m| !m.is_empty()) {
            let (e, note) = torch_checkpoint_epoch(&loaded.base_dir, m, sel.start_epoch);
            checkpoint_epoch = e;
            notes.push(note);
        }
    }
    Ok(ResolveReport {
        epoch: sel.epoch,
        checkpoint_epoch,
        model: sel.model,
        start_epoch: sel.start_epoch,
        existing: sel.existing,
        notes,
        task: sel.task,
        init_note,
    })
}

/// T-EPOCH-1 (`_load_model`, engine.py 1347-1352): the file it opens (`<model>.pt`, else the
/// name as given) and, when the name gives no epoch, `ckpt.get("epoch", start_epoch or 1)`,
/// read with torch-pt (a `.safetensors` file holds no epoch). A file that cannot be read gives
/// no epoch and a note: model selection itself does not open the file. The notes start with
/// `resolve: ` (they are not RETURNN log lines).
fn torch_checkpoint_epoch(
    base: &std::path::Path,
    model: &str,
    start_epoch: Option<u64>,
) -> (Option<u64>, String) {
    let with = format!("{model}.pt");
    let file = if crate::paths::resolve(base, &with).exists() {
        with
    } else {
        model.to_string()
    };
    let fallback = start_epoch.unwrap_or(1);
    if file.ends_with(".safetensors") {
        return (
            Some(fallback),
            format!("resolve: {file} stores no epoch; RETURNN's PyTorch engine continues with epoch {fallback} (the start epoch, else 1)"),
        );
    }
    match torch_pt::PtFile::open(crate::paths::resolve(base, &file)) {
        Ok(f) => match f.returnn_scalars().epoch {
            Some(e) if e >= 0 => (
                Some(e as u64),
                format!("resolve: the file name gives no epoch; {file} stores epoch {e}, which RETURNN's PyTorch engine takes"),
            ),
            _ => (
                Some(fallback),
                format!("resolve: neither the file name nor {file} gives an epoch; RETURNN's PyTorch engine uses {fallback} (the start epoch, else 1)"),
            ),
        },
        Err(e) => (
            None,
            format!("resolve: the file name gives no epoch, and {file} could not be read for its stored epoch: {e}"),
        ),
    }
}
