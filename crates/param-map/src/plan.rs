//! Precedence between loaders (docs/returnn-mapping.md §10-§11): preload entries in sorted key
//! order, first registrant wins, the main checkpoint never overwrites a preloaded variable.

use crate::convert::Transform;
use crate::error::MapError;
use crate::loader::{plan_loader, Assignment, LoaderOptions, TargetVar, TensorSource};

/// Final state of a target variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// A loader assigns a checkpoint value.
    Loaded,
    /// Nothing loads it: it keeps its fresh (random) initialisation.
    RandomInit,
    /// A loader considered it, found no value and skipped it under `ignore_missing` (or as
    /// non-critical); it keeps its fresh initialisation.
    MissingIgnored,
}

impl Status {
    /// Every status.
    pub const ALL: &'static [Status] =
        &[Status::Loaded, Status::RandomInit, Status::MissingIgnored];

    /// `loaded`, `random_init`, `missing_ignored`.
    pub fn label(self) -> &'static str {
        match self {
            Status::Loaded => "loaded",
            Status::RandomInit => "random_init",
            Status::MissingIgnored => "missing_ignored",
        }
    }
}

/// The plan for one target variable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VarPlan {
    pub var: TargetVar,
    pub status: Status,
    /// Set iff `status == Loaded`.
    pub assignment: Option<Assignment>,
    /// The loader that decided the status (preload key or `load`); `None` for random init.
    pub entry: Option<String>,
    /// That loader's checkpoint file.
    pub file: Option<String>,
}

/// The complete loading plan, in target order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub variables: Vec<VarPlan>,
    pub notes: Vec<String>,
}

impl Plan {
    /// The variables that get a value, in target order.
    pub fn loaded(&self) -> impl Iterator<Item = &Assignment> {
        self.variables.iter().filter_map(|v| v.assignment.as_ref())
    }
}

#[derive(Clone, Debug)]
enum State {
    Free,
    Loaded(Assignment),
    MissingIgnored {
        entry: String,
        file: String,
    },
    /// Registered for custom init by a preload entry without a value (a non-critical var
    /// missing from its checkpoint, no `ignore_missing`): keeps its initial value, and every
    /// later loader skips it as pre-initialized.
    RegisteredWithoutValue {
        entry: String,
        file: String,
    },
}

impl State {
    /// Whether the variable has a custom-init hook (RETURNN's "already loaded" marker).
    fn registered(&self) -> bool {
        matches!(
            self,
            State::Loaded(_) | State::RegisteredWithoutValue { .. }
        )
    }
}

/// How a loader registers the variables it handles (`set_as_custom_init`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Register {
    /// `load_now` only (the main checkpoint).
    No,
    /// A preload entry: registered after `initialize_params`; `load_now` writes the values.
    Preload,
    /// `load_on_init`: the hooks write the values at `initialize_params`.
    AtInit,
}

/// Applies loaders one after another, with RETURNN's precedence.
#[derive(Clone, Debug)]
pub struct Planner {
    vars: Vec<TargetVar>,
    state: Vec<State>,
    notes: Vec<String>,
}

impl Planner {
    /// A planner for the variables of the network to be loaded, all freshly initialised.
    pub fn new(vars: Vec<TargetVar>) -> Planner {
        let state = vec![State::Free; vars.len()];
        Planner {
            vars,
            state,
            notes: Vec::new(),
        }
    }

    /// Adds a free-form note to the plan.
    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// The target variables.
    pub fn vars(&self) -> &[TargetVar] {
        &self.vars
    }

    /// One `preload_from_files` entry (`set_as_custom_init` + `load_now`) over the layer
    /// parameters: every variable it loads is registered and skipped by all later loaders.
    pub fn preload(
        &mut self,
        entry: &str,
        opts: &LoaderOptions,
        src: Result<&dyn TensorSource, MapError>,
    ) -> Result<(), MapError> {
        let idx: Vec<usize> = (0..self.vars.len())
            .filter(|&i| self.vars[i].layer_param)
            .collect();
        self.run(entry, opts, src, &idx, Register::Preload, false)
    }

    /// One `SubnetworkLayer` `load_on_init` loader (`set_as_custom_init` over the layer params
    /// under `opts.params_prefix`); RETURNN runs it twice (docs/returnn-mapping.md R-SUB-2), so
    /// call it twice.
    pub fn load_on_init(
        &mut self,
        entry: &str,
        opts: &LoaderOptions,
        src: Result<&dyn TensorSource, MapError>,
    ) -> Result<(), MapError> {
        let idx: Vec<usize> = (0..self.vars.len())
            .filter(|&i| {
                self.vars[i].layer_param
                    && self.vars[i].name.starts_with(opts.params_prefix.as_str())
            })
            .collect();
        self.run(entry, opts, src, &idx, Register::AtInit, false)
    }

    /// The main checkpoint (`load`, a resumed or imported model) over every saveable variable
    /// (layer params and `global_step`), skipping preloaded ones.
    pub fn main_load(
        &mut self,
        opts: &LoaderOptions,
        src: Result<&dyn TensorSource, MapError>,
    ) -> Result<(), MapError> {
        self.main_load_with(opts, src, false)
    }

    /// [`Planner::main_load`] as `TFNetwork.load_params_from_file` does it
    /// (docs/returnn-mapping.md R-LPF-1): with `saver_first` (no layer has a
    /// `custom_param_importer` and `load_ignore_missing_vars` is off) and no preloaded variable,
    /// TF's `Saver.restore` runs first. It succeeds only if every variable is in the checkpoint
    /// under its own name, and then restores values without dtype conversion, so a dtype difference
    /// is an error there; otherwise (a `NotFoundError`) the CustomCheckpointLoader takes over,
    /// which converts dtypes.
    pub fn main_load_with(
        &mut self,
        opts: &LoaderOptions,
        src: Result<&dyn TensorSource, MapError>,
        saver_first: bool,
    ) -> Result<(), MapError> {
        let idx: Vec<usize> = (0..self.vars.len()).collect();
        let any_preloaded = self.state.iter().any(State::registered);
        let saver =
            saver_first && !any_preloaded && opts.importers.is_empty() && !opts.ignore_missing;
        self.run("load", opts, src, &idx, Register::No, saver)
    }

    fn run(
        &mut self,
        entry: &str,
        opts: &LoaderOptions,
        src: Result<&dyn TensorSource, MapError>,
        idx: &[usize],
        register: Register,
        saver: bool,
    ) -> Result<(), MapError> {
        let params: Vec<&TargetVar> = idx.iter().map(|&i| &self.vars[i]).collect();
        let state = &self.state;
        let pre = |j: usize| state[idx[j]].registered();
        let outcome = plan_loader(entry, opts, &params, &pre, src, register != Register::No)?;
        if register == Register::AtInit {
            if let Some(&j) = outcome.registered_without_value.first() {
                // The hook runs at initialize_params and finds no value
                // (docs/returnn-mapping.md §10).
                let name = &params[j].name;
                return Err(MapError::new(
                    crate::error::MapErrorKind::NonCriticalMissing,
                    format!(
                        "KeyError: non-critical variable '{name}' was registered for custom init without a value (not in the checkpoint, ignore_missing off)"
                    ),
                )
                .with_var(name.clone())
                .with_file(opts.filename.clone()));
            }
        }
        if saver && !outcome.slow_path && outcome.missing_ignored.is_empty() {
            // Saver.restore succeeded: no dtype conversion.
            if let Some((_, a)) = outcome
                .assigned
                .iter()
                .find(|(_, a)| a.source_dtype != a.dtype)
            {
                return Err(MapError::new(
                    crate::error::MapErrorKind::DtypeMismatch,
                    format!(
                        "Saver.restore: checkpoint tensor {} has dtype {}, the variable has dtype {} (TF restores without conversion)",
                        a.keys.join(", "),
                        a.source_dtype,
                        a.dtype
                    ),
                )
                .with_var(a.var.clone())
                .with_file(a.file.clone()));
            }
            self.notes.push(
                "[load] restored with TF's Saver (every variable found under its own name)".into(),
            );
        }
        let file = outcome
            .assigned
            .first()
            .map(|(_, a)| a.file.clone())
            .unwrap_or_else(|| opts.filename.clone());
        self.notes.extend(outcome.notes);
        for (j, a) in outcome.assigned {
            if matches!(
                a.transform,
                Transform::NativeToBasicKernel | Transform::NativeToBasicBias
            ) {
                self.notes.push(format!(
                    "{}: converted from NativeLSTM; the LSTMCell layer needs unit_opts {{\"forget_bias\": 0.0}} to compute the same function",
                    a.var
                ));
            }
            self.state[idx[j]] = State::Loaded(a);
        }
        for j in outcome.registered_without_value {
            if !self.state[idx[j]].registered() {
                self.state[idx[j]] = State::RegisteredWithoutValue {
                    entry: entry.to_string(),
                    file: file.clone(),
                };
            }
        }
        for j in outcome.missing_ignored {
            if !self.state[idx[j]].registered() {
                self.state[idx[j]] = State::MissingIgnored {
                    entry: entry.to_string(),
                    file: file.clone(),
                };
            }
        }
        Ok(())
    }

    /// The final plan.
    pub fn finish(self) -> Plan {
        let variables = self
            .vars
            .into_iter()
            .zip(self.state)
            .map(|(var, st)| match st {
                State::Free => VarPlan {
                    var,
                    status: Status::RandomInit,
                    assignment: None,
                    entry: None,
                    file: None,
                },
                State::Loaded(a) => VarPlan {
                    var,
                    status: Status::Loaded,
                    entry: Some(a.entry.clone()),
                    file: Some(a.file.clone()),
                    assignment: Some(a),
                },
                State::MissingIgnored { entry, file }
                | State::RegisteredWithoutValue { entry, file } => VarPlan {
                    var,
                    status: Status::MissingIgnored,
                    assignment: None,
                    entry: Some(entry),
                    file: Some(file),
                },
            })
            .collect();
        Plan {
            variables,
            notes: self.notes,
        }
    }
}
