//! [`plan_rf_tf`]: loading an RF model on RETURNN's TF engine (`returnn/tf/engine_rf.py`:
//! `_create_model`, `_load_model`, `_preload_from_files`, `init_train_from_config`,
//! `init_network_from_config`).

use std::collections::BTreeSet;

use super::pyrepr::{py_str, py_str_list};
use super::{
    CastMode, EntryReport, InitReason, PrefixOpt, TorchAssignment, TorchError, TorchErrorKind,
    TorchParam, TorchPlan, TorchStatus, TorchVarPlan,
};
use crate::array::py_shape;
use crate::loader::TensorMeta;

/// The options RF on the TF engine accepts in a `preload_from_files` entry (F-OPT-1).
pub const RF_TF_SUPPORTED: [&str; 3] = ["filename", "ignore_missing", "prefix"];

/// One `preload_from_files` entry, as the TF engine sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RfTfEntry {
    /// Not a dict: `_create_model` calls `opts.get` on it (an `AttributeError`, F-OPT-3).
    NotADict { type_name: String },
    Opts {
        /// Every option name given (checked against [`RF_TF_SUPPORTED`]).
        keys: Vec<String>,
        /// `str(opts["filename"])`; `None` if the key is absent.
        filename: Option<String>,
        prefix: PrefixOpt,
        /// `opts.get("ignore_missing")` is truthy.
        ignore_missing: bool,
    },
}

/// What the TF engine's RF path is given by the config and model selection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RfTfConfig {
    /// `config.value("task", "train")`.
    pub task: String,
    /// The checkpoint `get_epoch_model` selected (a TF checkpoint prefix), if any.
    pub main: Option<String>,
    /// `preload_from_files` entries in config (dict) order.
    pub preload: Vec<(String, RfTfEntry)>,
}

/// Whether the task goes through `init_train_from_config` (`true`) or
/// `init_network_from_config` (`false`); `None` for tasks this path does not model.
fn train_path(task: &str) -> Option<bool> {
    match task {
        "train" | "eval" | "initialize_model" => Some(true),
        "forward" | "search" | "hpx" => Some(false),
        _ => None,
    }
}

/// Loading an RF model (params = `model.named_parameters()` in order, tied ones once) on the
/// TF engine. `open` gets a checkpoint path as the engine names it and returns its tensor list
/// (an error of kind `CheckpointNotFound` when nothing exists there).
pub fn plan_rf_tf(
    params: &[TorchParam],
    cfg: &RfTfConfig,
    open: &mut dyn FnMut(&str) -> Result<Vec<TensorMeta>, TorchError>,
) -> Result<TorchPlan, TorchError> {
    let Some(train) = train_path(&cfg.task) else {
        return Err(TorchError::python(
            TorchErrorKind::Unsupported,
            format!(
                "task {} on the TF engine with an RF model is not modelled (train, eval, initialize_model, forward, search)",
                py_str(&cfg.task)
            ),
        ));
    };
    let mut notes = Vec::new();
    // F-SAVER-1 (_create_model): the truthy prefixes of every entry leave the main saver.
    let mut prefixes: Vec<&str> = Vec::new();
    for (key, e) in &cfg.preload {
        match e {
            RfTfEntry::NotADict { type_name } => {
                return Err(TorchError::python(
                    TorchErrorKind::ConfigValue,
                    format!("'{type_name}' object has no attribute 'get'"),
                )
                .with_entry(key.clone()))
                .map_err(|e| retype(e, "AttributeError"));
            }
            RfTfEntry::Opts { prefix, .. } => {
                if let Some(p) = prefix.truthy() {
                    prefixes.push(p);
                }
            }
        }
    }
    // F-SAVER-2: the load-side Saver over the remaining params; TF refuses an empty one.
    let saver: Vec<usize> = (0..params.len())
        .filter(|&i| {
            !params[i].non_critical && !prefixes.iter().any(|p| params[i].name.starts_with(p))
        })
        .collect();
    if saver.is_empty() {
        return Err(TorchError::python(
            TorchErrorKind::NoVariablesToSave,
            "No variables to save",
        ));
    }
    let mut values: Vec<Option<TorchAssignment>> = vec![None; params.len()];
    let mut reasons: Vec<Option<InitReason>> = vec![None; params.len()];
    // The variables' run-time shapes (F-MAIN-5 can change them).
    let mut var_shapes: Vec<Vec<u64>> = params.iter().map(|p| p.shape.clone()).collect();
    if !train && cfg.main.is_none() {
        // F-MAIN-4
        return Err(TorchError::python(
            TorchErrorKind::NoCheckpoint,
            "forward task: no checkpoint to load (set `load` or `model` in the config)",
        ));
    }
    if let Some(main) = &cfg.main {
        // F-MAIN-1..3: TF's Saver over the params outside the non-critical ones and the
        // preload prefixes; then the non-critical ones the checkpoint has.
        let metas = open(main).map_err(|e| {
            if e.kind() == TorchErrorKind::CheckpointNotFound {
                retype(
                    TorchError::python(
                        TorchErrorKind::CheckpointNotFound,
                        format!("The passed save_path is not a valid checkpoint: {main}"),
                    ),
                    "ValueError",
                )
                .with_file(main.clone())
            } else {
                e.with_entry("load")
            }
        })?;
        let find = |n: &str| metas.iter().find(|m| m.name == n);
        let present_nc: Vec<usize> = (0..params.len())
            .filter(|&i| params[i].non_critical && find(&params[i].name).is_some())
            .collect();
        for idx in [&saver, &present_nc] {
            // TF's RestoreV2 (checked with real RETURNN): the first missing name in sorted
            // order fails at once; otherwise every dtype mismatch is reported, in the Saver's
            // (the model's) order.
            let mut sorted = idx.clone();
            sorted.sort_by(|&a, &b| params[a].name.cmp(&params[b].name));
            if let Some(&i) = sorted.iter().find(|&&i| find(&params[i].name).is_none()) {
                return Err(TorchError::python(
                    TorchErrorKind::MissingVars,
                    format!(
                        "Restoring from checkpoint failed. This is most likely due to a Variable name or other graph key that is missing from the checkpoint. Please ensure that you have not altered the graph expected based on the checkpoint. Original error:\n\nKey {} not found in checkpoint",
                        params[i].name
                    ),
                )
                .with_key(params[i].name.clone())
                .with_file(main.clone()));
            }
            let mut mismatched = Vec::new();
            for &i in idx {
                let p = &params[i];
                let Some(m) = find(&p.name) else { continue };
                if m.dtype != p.dtype {
                    mismatched.push(format!(
                        "tensor_name = {}; expected dtype {} does not equal original dtype {}",
                        p.name,
                        tf_type_name(p.dtype),
                        tf_type_name(m.dtype)
                    ));
                }
            }
            if !mismatched.is_empty() {
                return Err(retype(
                    TorchError::python(
                        TorchErrorKind::DtypeMismatch,
                        format!(
                            "Restoring from checkpoint failed. This is most likely due to a mismatch between the current graph and the graph from the checkpoint. Please ensure that you have not altered the graph expected based on the checkpoint. Original error:\n\n{}",
                            mismatched.join("\n")
                        ),
                    ),
                    "InvalidArgumentError",
                )
                .with_file(main.clone()));
            }
            // F-MAIN-5: TF assigns the restored value to the resource variable without a
            // shape check: a variable whose checkpoint tensor has another shape silently takes
            // that shape (RETURNN raises nothing here).
            for &i in idx {
                let p = &params[i];
                let Some(m) = find(&p.name) else { continue };
                let mut a = assignment(p, "load", main, m, CastMode::NumpyFeed);
                if m.shape != p.shape {
                    a.shape = m.shape.clone();
                    notes.push(format!(
                        "warning: {}: the checkpoint's {} has shape {}, the model expects {}; TF's restore gives the variable the checkpoint's shape without an error",
                        p.name,
                        main,
                        py_shape(&m.shape),
                        py_shape(&p.shape)
                    ));
                }
                var_shapes[i] = m.shape.clone();
                values[i] = Some(a);
            }
        }
        for (i, p) in params.iter().enumerate() {
            if p.non_critical && find(&p.name).is_none() {
                reasons[i] = Some(InitReason::NonCritical);
                notes.push(format!(
                    "Not in checkpoint, non-critical for restore: {}",
                    p.name
                ));
            }
        }
    }
    // F-ORDER-1: sorted key order, each entry overwriting (the last key wins); in every task.
    let mut entries: Vec<&(String, RfTfEntry)> = cfg.preload.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let mut reports = Vec::new();
    for (key, e) in entries {
        let RfTfEntry::Opts {
            keys,
            filename,
            prefix,
            ignore_missing,
        } = e
        else {
            continue; // unreachable: rejected above
        };
        let kq = py_str(key);
        // F-OPT-1
        let mut extra: Vec<&str> = keys
            .iter()
            .map(String::as_str)
            .filter(|k| !RF_TF_SUPPORTED.contains(k))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        extra.sort_unstable();
        if !extra.is_empty() {
            return Err(TorchError::python(
                TorchErrorKind::PreloadOptionNotImplemented,
                format!(
                    "preload_from_files[{kq}]: options {} not implemented on the TF engine (supported: {})",
                    py_str_list(&extra),
                    py_str_list(&RF_TF_SUPPORTED)
                ),
            )
            .with_entry(key.clone()));
        }
        let pre: &str = match prefix {
            PrefixOpt::Absent => "",
            PrefixOpt::Str(s) => s,
            PrefixOpt::None => {
                return Err(TorchError::python(
                    TorchErrorKind::ConfigValue,
                    "startswith first arg must be str or a tuple of str, not NoneType",
                )
                .with_entry(key.clone()))
            }
        };
        // F-PREFIX-1/2
        let mut sub: Vec<usize> = (0..params.len())
            .filter(|&i| params[i].name.starts_with(pre))
            .collect();
        if sub.is_empty() {
            return Err(TorchError::python(
                TorchErrorKind::NoParamsWithPrefix,
                format!(
                    "preload_from_files[{kq}]: no model params with prefix {}",
                    py_str(pre)
                ),
            )
            .with_entry(key.clone()));
        }
        let Some(filename) = filename else {
            // F-OPT-2
            return Err(
                TorchError::python(TorchErrorKind::KeyNotInCheckpoint, "'filename'")
                    .with_entry(key.clone()),
            );
        };
        let pattern = crate_pattern(filename);
        let metas = open(filename).map_err(|e| {
            if e.kind() == TorchErrorKind::CheckpointNotFound {
                retype(
                    TorchError::python(
                        TorchErrorKind::CheckpointNotFound,
                        format!("Unsuccessful TensorSliceReader constructor: Failed to find any matching files for {pattern}"),
                    ),
                    "NotFoundError",
                )
                .with_file(filename.clone())
                .with_entry(key.clone())
            } else {
                e.with_entry(key.clone())
            }
        })?;
        sub.sort_by(|&a, &b| params[a].name.cmp(&params[b].name));
        let mut found: Vec<(usize, &TensorMeta)> = Vec::new();
        for &i in &sub {
            let src = &params[i].name[pre.len()..];
            match metas.iter().find(|m| m.name == src) {
                Some(m) => found.push((i, m)),
                None if *ignore_missing => {
                    reasons[i] = Some(InitReason::IgnoreMissing { entry: key.clone() });
                }
                None => {
                    // F-MISS-1
                    let msg = format!(
                        "preload_from_files[{kq}]: {} (for model param {}) not in {filename} (set ignore_missing to skip)",
                        py_str(src),
                        py_str(&params[i].name)
                    );
                    return Err(TorchError::python(
                        TorchErrorKind::KeyNotInCheckpoint,
                        py_str(&msg),
                    )
                    .with_key(src.to_string())
                    .with_file(filename.clone())
                    .with_entry(key.clone()));
                }
            }
        }
        // F-SHAPE-1 (check_params_complete, in model param order)
        found.sort_by_key(|(i, _)| *i);
        for (i, m) in &found {
            if m.shape != params[*i].shape {
                return Err(TorchError::python(
                    TorchErrorKind::ShapeMismatch,
                    format!(
                        "checkpoint {} has shape {}, model expects {}",
                        params[*i].name,
                        py_shape(&m.shape),
                        py_shape(&params[*i].shape)
                    ),
                )
                .with_key(params[*i].name.clone())
                .with_file(filename.clone())
                .with_entry(key.clone()));
            }
        }
        // F-SHAPE-2: the assign op checks the variable's run-time shape (a main restore of
        // another shape changed it).
        for (i, m) in &found {
            if m.shape != var_shapes[*i] {
                return Err(retype(
                    TorchError::python(
                        TorchErrorKind::ShapeMismatch,
                        format!(
                            "Graph execution error:\n\nTrying to assign to variable with tensor with wrong shape. Expected {} got {}",
                            tf_shape(&var_shapes[*i]),
                            tf_shape(&m.shape)
                        ),
                    ),
                    "InvalidArgumentError",
                )
                .with_key(params[*i].name.clone())
                .with_file(filename.clone())
                .with_entry(key.clone()));
            }
        }
        for (i, m) in &found {
            values[*i] = Some(assignment(
                &params[*i],
                key,
                filename,
                m,
                CastMode::NumpyFeed,
            ));
        }
        notes.push(format!(
            "Pre-loaded {} params with prefix {} from {filename}",
            found.len(),
            py_str(pre)
        ));
        reports.push(EntryReport {
            key: key.clone(),
            applied: true,
            reason: "TF engine: every entry applies".into(),
        });
    }
    let out = params
        .iter()
        .zip(values)
        .zip(reasons)
        .map(|((p, v), r)| match v {
            Some(a) => TorchVarPlan {
                param: p.clone(),
                status: TorchStatus::Loaded,
                source: Some(a),
                reason: None,
            },
            None => {
                let r = r.unwrap_or(InitReason::NotRequested);
                TorchVarPlan {
                    param: p.clone(),
                    status: match r {
                        InitReason::IgnoreMissing { .. } | InitReason::NonCritical => {
                            TorchStatus::MissingIgnored
                        }
                        _ => TorchStatus::RandomInit,
                    },
                    source: None,
                    reason: Some(r),
                }
            }
        })
        .collect();
    Ok(TorchPlan {
        params: out,
        entries: reports,
        epoch: 0,
        first_train_epoch: false,
        unexpected: Vec::new(),
        notes,
    })
}

fn assignment(
    p: &TorchParam,
    entry: &str,
    file: &str,
    m: &TensorMeta,
    cast: CastMode,
) -> TorchAssignment {
    TorchAssignment {
        param: p.name.clone(),
        entry: entry.to_string(),
        file: file.to_string(),
        path: vec![m.name.clone()],
        key: m.name.clone(),
        source_dtype: m.dtype,
        source_shape: m.shape.clone(),
        dtype: p.dtype,
        shape: p.shape.clone(),
        cast,
    }
}

/// RETURNN's `get_checkpoint_filepattern`: strips one of `.meta`, `.index`, `.pt`.
fn crate_pattern(f: &str) -> &str {
    [".meta", ".index", ".pt"]
        .iter()
        .find_map(|e| f.strip_suffix(e))
        .unwrap_or(f)
}

/// Replaces the exception type of an error's text.
fn retype(e: TorchError, exc: &str) -> TorchError {
    let kind = e.kind();
    let text = e
        .message()
        .split_once(": ")
        .map(|(_, t)| t.to_string())
        .unwrap_or_default();
    let mut out = TorchError::new(kind, format!("{exc}: {text}"));
    if let Some(f) = e.file() {
        out = out.with_file(f);
    }
    if let Some(k) = e.key() {
        out = out.with_key(k);
    }
    if let Some(x) = e.entry() {
        out = out.with_entry(x);
    }
    out
}

/// TF's `DataTypeString` for the dtypes RF params have.
fn tf_type_name(d: tf_bundle::DType) -> &'static str {
    use tf_bundle::DType::*;
    match d {
        Float32 => "float",
        Float64 => "double",
        Int32 => "int32",
        Int64 => "int64",
        Float16 => "half",
        BFloat16 => "bfloat16",
        other => other.name(),
    }
}

/// TF's shape debug string `[2,3]`.
fn tf_shape(s: &[u64]) -> String {
    format!(
        "[{}]",
        s.iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(",")
    )
}
