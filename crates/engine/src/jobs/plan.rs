//! `plan`: the parameter-loading plan RETURNN would follow, per target variable: status,
//! source file, source key(s), rule and entry. The config picks the engine whose rules apply
//! (`model-files`' engine selection, `backend`):
//!
//! * the TF net-dict engine (`preload_from_files`, `load` / `import_model_train_epoch1` / a
//!   resumed model; `docs/returnn-mapping.md`, `docs/returnn-engine.md` §6-§8). Its document
//!   is `{"notes", "variables"}`, each variable `{"entry", "file", "keys", "rule", "status"}`
//!   with status `loaded`, `random_init` or `missing_ignored`;
//! * the PyTorch engine (`backend = "torch"`, `_load_model`, `docs/returnn-pytorch.md` §2-§3)
//!   and RF models on the TF engine (`backend = "tensorflow"`, `docs/returnn-pytorch.md` §3
//!   last paragraph; the rule ids: `docs/returnn-pytorch.md` §7). Their document has the same keys plus, at the top, `"engine"` (`torch` / `tensorflow-rf`),
//!   `"entries"` (each `preload_from_files` entry in the engine's order: `{"applied", "key",
//!   "reason"}`), `"epoch"` and `"step"` (the engine's epoch and global train step after
//!   loading; null on the RF-on-TF engine), `"main"` (the main checkpoint file or null) and
//!   `"unexpected"` (main-checkpoint keys the module lacks: printed by RETURNN, no error);
//!   each variable also has `"cast"` (`"float64->float32"` when the value is converted as
//!   torch's `copy_` does, else null) and `"reason"` (why a variable without a value raised
//!   no error: `not_requested`, `declared_random`, `non_critical`, `ignore_missing`,
//!   `batch_norm_counter`; null when loaded). Status is `loaded`, `frozen` (loaded by an
//!   `init_for_train: "always"` entry: a non-persistent buffer afterwards, not trained, not
//!   saved), `random_init` or `missing_ignored`; `keys` holds the one state-dict key the value
//!   comes from (as named in the file) and `rule` is `direct`, `prefix`, `var_name_mapping`
//!   or `tied` (the value of a weight tied to it).
//!
//! Targets: for the TF net-dict engine a JSON list, a checkpoint or a `.meta`; for the torch
//! engines a `.pt` or `.safetensors` file (its state-dict keys), an RF checkpoint saved by the
//! TF engine, or the JSON list with the flags a file cannot hold (`non_critical`, `buffer`,
//! `aux`, `tied_to`, and `module_class` for torch's messages).
//!
//! The fresh/resume policy: when the target is one of the config's own model checkpoints (the
//! output of the run the config describes), the plan is made as at the start of that run (the
//! run's own checkpoints are treated as absent) unless a re-run is asked for.

use std::collections::BTreeMap;
use std::path::PathBuf;

use param_map::torch::{TorchAssignment, TorchStatus, TorchVarPlan};
use serde::Serialize;

use crate::config::{self, ConfigRequest};
use crate::error::Result;
use crate::tf_plan::{plan_with, target_is_own_model, EnginePlan, PlanOptions};
use crate::torch_plan::{
    load_engine, load_torch_targets, plan_torch_config, LoadEngine, TorchEnginePlan,
    TorchPlanRequest,
};

/// What to plan.
#[derive(Clone, Debug)]
pub struct PlanRequest {
    pub config: ConfigRequest,
    /// The network's variables: a JSON list `{"variables": [{"name", "shape", "dtype"}]}`, a
    /// checkpoint (its tensor list), a `.meta` MetaGraphDef (its saved global variables), or
    /// for the torch engines a `.pt` / `.safetensors` file (its state dict). Relative to the
    /// process's directory as the face gives it (not to `base_dir`).
    pub target: PathBuf,
    /// `Some(true)`: plan as at the start of a recorded run (the config's own model
    /// checkpoints treated as absent); `Some(false)`: a re-run, resuming from them; `None`:
    /// fresh exactly when the target is one of the config's own model checkpoints.
    pub fresh: Option<bool>,
}

/// One variable of the plan (JSON keys in this order: cast, entry, file, keys, reason, rule,
/// status; `cast` and `reason` only in the torch engines' documents).
#[derive(Clone, Debug, Serialize)]
pub struct VariablePlan {
    /// Torch engines: the dtype conversion of the value (`"float64->float32"`), or null.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cast: Option<Option<String>>,
    /// The preload entry or `load` that fills the variable, if any.
    pub entry: Option<String>,
    /// The checkpoint file (as the config names it).
    pub file: Option<String>,
    /// The checkpoint keys read.
    pub keys: Vec<String>,
    /// Torch engines: why a variable without a value is no error, or null.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Option<&'static str>>,
    /// The mapping rule (`direct`, `prefix`, `var_name_mapping`, `convert:...`, `tied`).
    pub rule: Option<String>,
    /// `loaded`, `frozen` (torch), `random_init` or `missing_ignored`.
    pub status: &'static str,
}

/// One `preload_from_files` entry of a torch-engine plan, in the engine's order.
#[derive(Clone, Debug, Serialize)]
pub struct EntryPlan {
    pub applied: bool,
    pub key: String,
    /// Why it ran or not (`init_for_train=False, task 'train'`, ...).
    pub reason: String,
}

/// The plan. JSON (stable): `{"notes": [..], "variables": {"<name>": {..}}}`, plus `engine`,
/// `entries`, `epoch`, `main`, `step` and `unexpected` for the torch engines (module docs).
#[derive(Clone, Debug, Serialize)]
pub struct PlanReport {
    /// `torch` or `tensorflow-rf`; absent for the TF net-dict engine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entries: Option<Vec<EntryPlan>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epoch: Option<Option<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub main: Option<Option<String>>,
    pub notes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<Option<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unexpected: Option<Vec<String>>,
    pub variables: BTreeMap<String, VariablePlan>,
    /// The variable names in the network's order (for faces that list them).
    #[serde(skip)]
    pub order: Vec<String>,
}

/// A computed plan of whichever engine the config selects, with its opened sources.
pub enum ComputedPlan {
    /// The TF net-dict engine.
    NetDict(EnginePlan),
    /// The PyTorch engine or an RF model on the TF engine.
    Torch(Box<TorchEnginePlan>),
}

const FRESH_NOTE: &str = "planned as at the start of the run: the config's own model checkpoints (the run's output) are treated as absent (--resume plans a re-run instead)";

/// Loads the config and the targets and computes the plan with the rules of the config's
/// engine (with the opened sources, for a sink to read from).
pub fn compute(req: &PlanRequest) -> Result<ComputedPlan> {
    let loaded = config::load(&req.config)?;
    let fresh = match req.fresh {
        Some(f) => f,
        None => target_is_own_model(&loaded.config, &req.config.base_dir, &req.target),
    };
    if load_engine(&loaded.config)? != LoadEngine::NetDict {
        let targets = load_torch_targets(&req.target)?;
        let mut tp = plan_torch_config(TorchPlanRequest {
            config: &loaded.config,
            base: &req.config.base_dir,
            params: targets.params,
            module_class: targets.module_class,
            fresh,
        })?;
        if fresh {
            tp.notes.insert(0, FRESH_NOTE.to_string());
        }
        return Ok(ComputedPlan::Torch(Box::new(tp)));
    }
    let targets = crate::targets::load_targets(&req.target)?;
    let mut ep = plan_with(
        &loaded.config,
        targets,
        &PlanOptions {
            fresh,
            base_dir: req.config.base_dir.clone(),
        },
    )?;
    if fresh {
        ep.plan.notes.insert(0, FRESH_NOTE.to_string());
    }
    Ok(ComputedPlan::NetDict(ep))
}

/// The report of a computed plan.
pub fn report(cp: &ComputedPlan) -> PlanReport {
    match cp {
        ComputedPlan::NetDict(ep) => netdict_report(ep),
        ComputedPlan::Torch(tp) => torch_report(tp),
    }
}

fn netdict_report(ep: &EnginePlan) -> PlanReport {
    let variables = ep
        .plan
        .variables
        .iter()
        .map(|v| {
            let a = v.assignment.as_ref();
            (
                v.var.name.clone(),
                VariablePlan {
                    cast: None,
                    entry: v.entry.clone(),
                    file: v.file.clone(),
                    keys: a.map(|a| a.keys.clone()).unwrap_or_default(),
                    reason: None,
                    rule: a.map(|a| a.rule.label()),
                    status: v.status.label(),
                },
            )
        })
        .collect();
    PlanReport {
        engine: None,
        entries: None,
        epoch: None,
        main: None,
        notes: ep.plan.notes.clone(),
        step: None,
        unexpected: None,
        variables,
        order: ep
            .plan
            .variables
            .iter()
            .map(|v| v.var.name.clone())
            .collect(),
    }
}

/// The plan's status label (the TF engine's spelling).
fn torch_status(s: TorchStatus) -> &'static str {
    match s {
        TorchStatus::Loaded => "loaded",
        TorchStatus::Frozen => "frozen",
        TorchStatus::RandomInit => "random_init",
        TorchStatus::MissingIgnored => "missing_ignored",
    }
}

/// How the state-dict key became the parameter's name.
fn torch_rule(tp: &TorchEnginePlan, v: &TorchVarPlan, a: &TorchAssignment) -> &'static str {
    let prefix = tp
        .entry_prefix(&a.entry)
        .filter(|p| !p.is_empty())
        .unwrap_or_default();
    let named = |n: &str| a.key == n || format!("{prefix}{}", a.key) == n;
    if a.key == v.param.name {
        "direct"
    } else if !prefix.is_empty() && format!("{prefix}{}", a.key) == v.param.name {
        "prefix"
    } else if tp.plan.params.iter().any(|o| {
        o.param.name != v.param.name && named(&o.param.name) && tp.tied(&v.param, &o.param)
    }) {
        "tied"
    } else {
        "var_name_mapping"
    }
}

fn torch_report(tp: &TorchEnginePlan) -> PlanReport {
    let mut notes = tp.notes.clone();
    if let Some(m) = &tp.main_checkpoint {
        notes.push(format!(
            "main checkpoint ({}): {m} (epoch {})",
            if tp.selected_epoch == Some(0) {
                "import_model_train_epoch1"
            } else {
                "load"
            },
            tp.selected_epoch
                .map_or_else(|| "from the file".to_string(), |e| e.to_string())
        ));
    }
    notes.extend(tp.plan.notes.iter().cloned());
    let variables = tp
        .plan
        .params
        .iter()
        .map(|v| {
            let a = v.source.as_ref();
            (
                v.param.name.clone(),
                VariablePlan {
                    cast: Some(
                        a.filter(|a| a.casts())
                            .map(|a| format!("{}->{}", a.source_dtype, a.dtype)),
                    ),
                    entry: a.map(|a| a.entry.clone()),
                    file: a.map(|a| a.file.clone()),
                    keys: a.map(|a| vec![a.key.clone()]).unwrap_or_default(),
                    reason: Some(v.reason.as_ref().map(|r| r.label())),
                    rule: a.map(|a| torch_rule(tp, v, a).to_string()),
                    status: torch_status(v.status),
                },
            )
        })
        .collect();
    PlanReport {
        engine: Some(tp.engine.label()),
        entries: Some(
            tp.plan
                .entries
                .iter()
                .map(|e| EntryPlan {
                    applied: e.applied,
                    key: e.key.clone(),
                    reason: e.reason.clone(),
                })
                .collect(),
        ),
        epoch: Some(tp.epoch),
        main: Some(tp.main_checkpoint.clone()),
        notes,
        step: Some(tp.step),
        unexpected: Some(tp.plan.unexpected.clone()),
        variables,
        order: tp
            .plan
            .params
            .iter()
            .map(|v| v.param.name.clone())
            .collect(),
    }
}

/// Computes the plan and its report.
pub fn run(req: &PlanRequest) -> Result<PlanReport> {
    Ok(report(&compute(req)?))
}
