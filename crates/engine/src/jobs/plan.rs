//! `plan`: the parameter-loading plan RETURNN would follow (`preload_from_files`, `load` /
//! `import_model_train_epoch1` / a resumed model), per target variable: status, source file,
//! source key(s), rule and entry (`docs/returnn-mapping.md`, `docs/returnn-engine.md` §6-§8).
//!
//! The fresh/resume policy: when the target is one of the config's own model checkpoints (the
//! output of the run the config describes), the plan is made as at the start of that run (the
//! run's own checkpoints are treated as absent) unless a re-run is asked for.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::config::{self, ConfigRequest};
use crate::error::Result;
use crate::tf_plan::{plan_with, target_is_own_model, EnginePlan, PlanOptions};

/// What to plan.
#[derive(Clone, Debug)]
pub struct PlanRequest {
    pub config: ConfigRequest,
    /// The network's variables: a JSON list `{"variables": [{"name", "shape", "dtype"}]}`, a
    /// checkpoint (its tensor list) or a `.meta` MetaGraphDef (its saved global variables).
    /// Relative to the process's directory as the face gives it (not to `base_dir`).
    pub target: PathBuf,
    /// `Some(true)`: plan as at the start of a recorded run (the config's own model
    /// checkpoints treated as absent); `Some(false)`: a re-run, resuming from them; `None`:
    /// fresh exactly when the target is one of the config's own model checkpoints.
    pub fresh: Option<bool>,
}

/// One variable of the plan (JSON keys in this order: entry, file, keys, rule, status).
#[derive(Clone, Debug, Serialize)]
pub struct VariablePlan {
    /// The preload entry or `load` that fills the variable, if any.
    pub entry: Option<String>,
    /// The checkpoint file (as the config names it).
    pub file: Option<String>,
    /// The checkpoint keys read.
    pub keys: Vec<String>,
    /// The mapping rule (`direct`, `prefix`, `var_name_mapping`, `convert:...`).
    pub rule: Option<String>,
    /// `loaded`, `random_init` or `missing_ignored`.
    pub status: &'static str,
}

/// The plan. JSON (stable): `{"notes": [..], "variables": {"<name>": {..}}}`.
#[derive(Clone, Debug, Serialize)]
pub struct PlanReport {
    pub notes: Vec<String>,
    pub variables: BTreeMap<String, VariablePlan>,
    /// The variable names in the network's order (for faces that list them).
    #[serde(skip)]
    pub order: Vec<String>,
}

/// Loads the config and the targets and computes the plan (with the opened sources, for a
/// sink to read from).
pub fn compute(req: &PlanRequest) -> Result<EnginePlan> {
    let loaded = config::load(&req.config)?;
    let targets = crate::targets::load_targets(&req.target)?;
    let fresh = match req.fresh {
        Some(f) => f,
        None => target_is_own_model(&loaded.config, &req.config.base_dir, &req.target),
    };
    let mut ep = plan_with(
        &loaded.config,
        targets,
        &PlanOptions {
            fresh,
            base_dir: req.config.base_dir.clone(),
        },
    )?;
    if fresh {
        ep.plan.notes.insert(
            0,
            "planned as at the start of the run: the config's own model checkpoints (the run's output) are treated as absent (--resume plans a re-run instead)".to_string(),
        );
    }
    Ok(ep)
}

/// The report of a computed plan.
pub fn report(ep: &EnginePlan) -> PlanReport {
    let variables = ep
        .plan
        .variables
        .iter()
        .map(|v| {
            let a = v.assignment.as_ref();
            (
                v.var.name.clone(),
                VariablePlan {
                    entry: v.entry.clone(),
                    file: v.file.clone(),
                    keys: a.map(|a| a.keys.clone()).unwrap_or_default(),
                    rule: a.map(|a| a.rule.label()),
                    status: v.status.label(),
                },
            )
        })
        .collect();
    PlanReport {
        notes: ep.plan.notes.clone(),
        variables,
        order: ep
            .plan
            .variables
            .iter()
            .map(|v| v.var.name.clone())
            .collect(),
    }
}

/// Computes the plan and its report.
pub fn run(req: &PlanRequest) -> Result<PlanReport> {
    Ok(report(&compute(req)?))
}
