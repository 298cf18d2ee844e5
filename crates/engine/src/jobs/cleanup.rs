//! `cleanup`: which epochs RETURNN's `cleanup_old_models` keeps and deletes (options from the
//! config's `cleanup_old_models` dict: `keep_last_n`, `keep_best_n`, `keep`; scores from the
//! learning-rate file), and the files concerned (`docs/returnn-engine.md` §11). A dry run
//! unless `apply`, which deletes exactly the listed files.
//!
//! Unlike RETURNN (which globs `<path>*`), files are matched by exact name, so deleting epoch
//! 100 never touches `network.1000.*`.

use std::collections::BTreeMap;

use model_files::cleanup::{apply_plan, human_bytes_size, plan_cleanup, CleanupOptions};
use model_files::{get_existing_models, Backend, LrFile, RealFs};
use serde::Serialize;

use crate::config::{self, ConfigRequest, LoadedConfig};
use crate::error::{Error, ErrorKind, Result};
use crate::jobs::epochs::load_lr_file;

/// What to clean up.
#[derive(Clone, Debug)]
pub struct CleanupRequest {
    pub config: ConfigRequest,
    /// Delete the files (otherwise only list them).
    pub apply: bool,
}

/// A file of a deleted epoch.
#[derive(Clone, Debug, Serialize)]
pub struct CleanupFile {
    pub path: String,
    pub bytes: u64,
}

/// The answer. JSON (stable): `{"stored", "keep", "delete", "files": {"N": [{"path",
/// "bytes"}]}, "bytes", "applied", "log", "notes"}` (`log`: RETURNN's messages; `notes`: ours,
/// where RETURNN would silently do something the user probably did not mean).
#[derive(Clone, Debug, Serialize)]
pub struct CleanupReport {
    pub stored: Vec<u64>,
    pub keep: Vec<u64>,
    pub delete: Vec<u64>,
    pub files: BTreeMap<u64, Vec<CleanupFile>>,
    pub bytes: u64,
    pub applied: bool,
    pub log: Vec<String>,
    pub notes: Vec<String>,
}

/// Loads the config and plans (and with `apply` performs) the cleanup.
pub fn run(req: &CleanupRequest) -> Result<CleanupReport> {
    let loaded = config::load_for_selection(&req.config)?;
    run_loaded(&loaded, req.apply)
}

/// [`run`] on an already loaded config.
pub fn run_loaded(loaded: &LoadedConfig, apply: bool) -> Result<CleanupReport> {
    let config = &loaded.config;
    let fs = RealFs::in_dir(&loaded.base_dir);
    let backend = Backend::from_config(config)?;
    let opts = CleanupOptions::from_config(config)?;
    let existing = get_existing_models(config, &fs, backend, false)?;
    let (_, lr) = load_lr_file(config, &fs)?;
    let lr = lr.unwrap_or_else(LrFile::default);
    let plan = plan_cleanup(&existing, &lr, &opts, &fs, backend)?;
    let bytes: u64 = plan
        .files
        .values()
        .flat_map(|v| v.iter().map(|(_, b)| *b))
        .sum();
    let mut log = plan.log.clone();
    let mut notes = config::ignored_override_notes(loaded);
    if existing.is_empty() {
        notes.extend(config::models_beside_config_note(loaded));
    }
    if let Some(returnn_config::Value::Str(v)) = config.get("cleanup_old_models") {
        notes.push(format!(
            "cleanup_old_models is the string {v:?}: RETURNN reads it only as a dict and ignores it (the config file sets it as a string, so a `++cleanup_old_models` override stays one; set the dict in the config file)"
        ));
    }
    let mut applied = false;
    if apply && !plan.delete.is_empty() {
        let n = apply_plan(&plan, &fs)
            .map_err(|e| Error::new(ErrorKind::DeleteFailed, e.to_string()).with_source(e))?;
        applied = true;
        log.push(format!("Deleted {}.", human_bytes_size(n)));
    } else if !plan.delete.is_empty() {
        log.push(format!(
            "Dry run: would delete {} ({} files); pass --apply to delete.",
            human_bytes_size(bytes),
            plan.files.values().map(Vec::len).sum::<usize>()
        ));
    }
    Ok(CleanupReport {
        stored: plan.stored,
        keep: plan.keep,
        delete: plan.delete,
        files: plan
            .files
            .into_iter()
            .map(|(e, v)| {
                (
                    e,
                    v.into_iter()
                        .map(|(path, bytes)| CleanupFile { path, bytes })
                        .collect(),
                )
            })
            .collect(),
        bytes,
        applied,
        log,
        notes,
    })
}

/// RETURNN's `human_bytes_size`, for faces that print sizes like RETURNN.
pub fn human_size(n: u64) -> String {
    human_bytes_size(n)
}
