//! # engine
//!
//! The thin layer that joins the other crates: config -> model selection (model-files) -> the
//! `preload_from_files` entries that apply for this task and epoch -> the main checkpoint
//! (`load`, a resumed model or `import_model_train_epoch1`, with `load_ignore_missing_vars`)
//! -> a complete [`param_map::Plan`] -> values, read lazily one variable at a time and handed
//! to the caller's sink (`returnn-engine.md` §6-§8). It owns no format and no RETURNN mapping
//! rule of its own, never prints and never exits.
//!
//! Paths in a config are relative to the process's current directory, as in RETURNN.
//!
//! Not supported (reported as `unsupported`): `custom_missing_load_func` (a Python callable),
//! `load_on_init` given as a callable, inside the subnetwork of a layer that has one itself, or
//! under a layer kind other than `subnetwork` and `rec` (whose name scopes are modelled),
//! `custom_param_importer` given as a Python
//! callable or `"subset"` with a shape change (the result depends on the random init), and
//! `ignore_params` given as a plain string.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod error;
pub mod netdict;
pub mod source;
pub mod targets;

use std::collections::BTreeMap;
use std::path::Path;

use model_files::{get_checkpoint_filepattern, get_epoch_model, Fs, RealFs};
use netdict::find_key;
use param_map::{Array, Assignment, LoaderOptions, Plan, Planner, TargetVar, TensorSource};
use returnn_config::Config;

pub use error::{EngineError, EngineErrorKind};
pub use netdict::{
    load_on_init_loaders, network_importers, preload_entries, LoadOnInit, PreloadEntry,
};
pub use source::CheckpointSource;
pub use targets::load_targets;

/// A computed plan plus the opened source checkpoints it reads from.
pub struct EnginePlan {
    pub plan: Plan,
    /// Opened checkpoints, by the file string the plan shows.
    pub sources: BTreeMap<String, CheckpointSource>,
    /// The task (`train`, `search`, ...).
    pub task: String,
    /// The epoch the network is built for (RETURNN's engine epoch).
    pub epoch: Option<u64>,
    /// The main checkpoint (if any) and whether it is an `import_model_train_epoch1` import.
    pub main_checkpoint: Option<String>,
}

/// Loads a config file and applies `++key value` overrides.
pub fn load_config(path: &Path, overrides: &[String]) -> Result<Config, EngineError> {
    let mut c = Config::load(path)?;
    c.apply_overrides(overrides)?;
    Ok(c)
}

pub(crate) fn unsupported(msg: impl Into<String>) -> EngineError {
    EngineError::new(EngineErrorKind::Unsupported, msg)
}

pub(crate) fn config_value_err(msg: impl Into<String>) -> EngineError {
    EngineError::new(EngineErrorKind::Config("config_value"), msg)
}

/// Computes the complete loading plan of `config` for a network with variables `targets`
/// (`init_network_from_config`, spec `returnn-engine.md` §6.3, §7, §8). Opens the source
/// checkpoints (index only); reads no tensor data.
pub fn plan(config: &Config, targets: Vec<TargetVar>) -> Result<EnginePlan, EngineError> {
    plan_with(config, targets, &PlanOptions::default())
}

/// Options of [`plan_with`].
#[derive(Clone, Debug, Default)]
pub struct PlanOptions {
    /// Plan as at the start of a recorded run: the config's own model checkpoints
    /// (`<model>.NNN*`, `<model>.pretrain.NNN*`) are treated as absent, since they are that
    /// run's output. Without it, RETURNN (and this plan) would resume from them.
    pub fresh: bool,
}

/// Hides the config's own model files (for [`PlanOptions::fresh`]).
struct FreshFs {
    model: String,
}

impl FreshFs {
    fn hidden(&self, path: &str) -> bool {
        !self.model.is_empty()
            && path.starts_with(&self.model)
            && path[self.model.len()..].starts_with('.')
    }
}

impl Fs for FreshFs {
    fn exists(&self, path: &str) -> bool {
        !self.hidden(path) && RealFs.exists(path)
    }
    fn is_symlink(&self, path: &str) -> bool {
        !self.hidden(path) && RealFs.is_symlink(path)
    }
    fn read_link(&self, path: &str) -> Option<String> {
        if self.hidden(path) {
            None
        } else {
            RealFs.read_link(path)
        }
    }
    fn list_dir(&self, dir: &str) -> Option<Vec<String>> {
        let names = RealFs.list_dir(dir)?;
        let base = self
            .model
            .rsplit('/')
            .next()
            .unwrap_or(&self.model)
            .to_string();
        let model_dir = match self.model.rfind('/') {
            Some(0) => "/",
            Some(p) => &self.model[..p],
            None => ".",
        };
        let same_dir = Path::new(model_dir) == Path::new(if dir.is_empty() { "." } else { dir });
        Some(
            names
                .into_iter()
                .filter(|n| !(same_dir && n.starts_with(&base) && n[base.len()..].starts_with('.')))
                .collect(),
        )
    }
    fn file_size(&self, path: &str) -> Option<u64> {
        if self.hidden(path) {
            None
        } else {
            RealFs.file_size(path)
        }
    }
}

/// Whether `target` (a checkpoint path, possibly with `.meta`/`.index`/`.data-*`) is one of
/// the config's own model checkpoints (`<model>.NNN` or `<model>.pretrain.NNN`), i.e. the output
/// of the run the config describes. Paths are compared after canonicalisation.
pub fn target_is_own_model(config: &Config, target: &Path) -> bool {
    let Ok(Some(model)) = config.value("model", None) else {
        return false;
    };
    if model.is_empty() {
        return false;
    }
    // (canonical directory, file name); a bare name is in ".".
    let split = |p: &Path| {
        let dir = p.parent()?;
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        Some((dir.canonicalize().ok()?, p.file_name()?.to_os_string()))
    };
    let (Some((mdir, mbase)), Some((tdir, tname))) = (split(Path::new(&model)), split(target))
    else {
        return false;
    };
    if mdir != tdir {
        return false;
    }
    let base = mbase.to_string_lossy();
    let name = tname.to_string_lossy();
    let Some(rest) = name.strip_prefix(base.as_ref()) else {
        return false;
    };
    let rest = rest.strip_prefix(".pretrain").unwrap_or(rest);
    let Some(rest) = rest.strip_prefix('.') else {
        return false;
    };
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let tail = &rest[digits.len()..];
    !digits.is_empty()
        && (tail.is_empty() || tail == ".meta" || tail == ".index" || tail.starts_with(".data-"))
}

/// [`plan`] with options.
pub fn plan_with(
    config: &Config,
    targets: Vec<TargetVar>,
    options: &PlanOptions,
) -> Result<EnginePlan, EngineError> {
    let sel = if options.fresh {
        let model = config.value("model", None)?.unwrap_or_default();
        get_epoch_model(config, &FreshFs { model })?
    } else {
        get_epoch_model(config, &RealFs)?
    };
    let task = sel.task.clone();
    let mut planner = Planner::new(targets);
    for n in &sel.notes {
        planner.note(n.clone());
    }
    let path = sel.model.clone().filter(|p| !p.is_empty());
    let mut epoch = sel.epoch;
    // §6.3 step 3: no model and no training start epoch (`eval` sets a start epoch via
    // init_train_from_config, so it fails at step 6 instead).
    if path.is_none() && sel.start_epoch.is_none() && task != "eval" {
        if config.bool("allow_random_model_init", false)? {
            planner.note("No model will be loaded. Randomly initializing model.");
            epoch = Some(1);
        } else {
            return Err(EngineError::new(
                EngineErrorKind::NoModel,
                "You are not using training, otherwise start_epoch would be set via self.init_train_from_config(). There was also no model found which we could load. Set one via 'load'.",
            ));
        }
    }
    let is_first_train_epoch =
        matches!(epoch, None | Some(0)) && matches!(task.as_str(), "train" | "initialize_model");
    let engine_epoch = if is_first_train_epoch {
        sel.start_epoch.or(Some(1))
    } else {
        epoch
    };
    if !matches!(engine_epoch, Some(e) if e > 0) {
        return Err(EngineError::new(
            EngineErrorKind::NoEpoch,
            format!("AssertionError: task '{task}' (no epoch for the selected model {path:?}; set load_epoch)"),
        ));
    }
    let importers = network_importers(config)?;
    let mut sources: BTreeMap<String, CheckpointSource> = BTreeMap::new();
    let open = |file: &str,
                sources: &mut BTreeMap<String, CheckpointSource>|
     -> Result<(), param_map::MapError> {
        if !sources.contains_key(file) {
            let s = CheckpointSource::open(file, get_checkpoint_filepattern(file))?;
            sources.insert(file.to_string(), s);
        }
        Ok(())
    };
    // R-SUB-1..3, R-PREC-5: SubnetworkLayer load_on_init registers during network
    // construction, before the preload loop (twice outside a rec unit: RETURNN calls it again
    // after the subnetwork is complete; once inside one).
    for LoadOnInit { layer, opts, calls } in load_on_init_loaders(config)? {
        let file = opts.filename.clone();
        let entry = format!("{layer}.load_on_init");
        for _ in 0..calls {
            let opened = open(&file, &mut sources);
            let src: Result<&dyn TensorSource, param_map::MapError> = match opened {
                Ok(()) => sources
                    .get(&file)
                    .map(|s| s as &dyn TensorSource)
                    .ok_or_else(|| {
                        param_map::MapError::new(
                            param_map::MapErrorKind::Read,
                            "internal: source lost",
                        )
                    }),
                Err(e) => Err(e),
            };
            planner
                .load_on_init(&entry, &opts, src)
                .map_err(|e| prefix_entry(&entry, e))?;
        }
    }
    // §7: preload entries, sorted by key, filtered by init_for_train against task and epoch.
    for entry in preload_entries(config)? {
        let applies = if entry.init_for_train {
            is_first_train_epoch
        } else {
            task != "train"
        };
        if !applies {
            planner.note(format!(
                "preload_from_files[{:?}] not applied (init_for_train={}, task '{task}', first train epoch: {is_first_train_epoch})",
                entry.key, entry.init_for_train
            ));
            continue;
        }
        let file = entry.opts.filename.clone();
        let opened = open(&file, &mut sources);
        let src: Result<&dyn TensorSource, param_map::MapError> = match opened {
            Ok(()) => sources
                .get(&file)
                .map(|s| s as &dyn TensorSource)
                .ok_or_else(|| {
                    param_map::MapError::new(param_map::MapErrorKind::Read, "internal: source lost")
                }),
            Err(e) => Err(e),
        };
        planner
            .preload(&entry.key, &entry.opts, src)
            .map_err(|e| prefix_entry(&entry.key, e))?;
    }
    // §8: the main checkpoint.
    if let Some(p) = &path {
        let ignore_missing = config.bool("load_ignore_missing_vars", false)?;
        planner.note(format!(
            "main checkpoint ({}): {p} (epoch {}), load_ignore_missing_vars={ignore_missing}",
            if sel.epoch == Some(0) {
                "import_model_train_epoch1"
            } else {
                "load"
            },
            sel.epoch
                .map(|e| e.to_string())
                .unwrap_or_else(|| "None".into())
        ));
        let opts = LoaderOptions {
            filename: p.clone(),
            ignore_missing,
            network: Some("<TFNetwork 'root'>".into()),
            importers,
            ..LoaderOptions::default()
        };
        let opened = open(p, &mut sources);
        let src: Result<&dyn TensorSource, param_map::MapError> = match opened {
            Ok(()) => sources
                .get(p)
                .map(|s| s as &dyn TensorSource)
                .ok_or_else(|| {
                    param_map::MapError::new(param_map::MapErrorKind::Read, "internal: source lost")
                }),
            Err(e) => Err(e),
        };
        // R-LPF-1: TF's Saver runs first unless a layer (at any depth) has a
        // custom_param_importer or load_ignore_missing_vars is set (preloads: the planner).
        let deep_importer = config
            .get("network")
            .is_some_and(|net| find_key(net, "custom_param_importer", &mut Vec::new()).is_some());
        planner.main_load_with(&opts, src, !deep_importer)?;
    }
    Ok(EnginePlan {
        plan: planner.finish(),
        sources,
        task,
        epoch: engine_epoch,
        main_checkpoint: path,
    })
}

fn prefix_entry(key: &str, e: param_map::MapError) -> EngineError {
    let mut ee = EngineError::from(e);
    ee = EngineError::new(
        ee.kind().clone(),
        format!("preload_from_files[{key:?}]: {}", ee.message()),
    );
    ee
}

impl EnginePlan {
    /// Computes each loaded variable's value in target order and hands it to `sink`, one at a
    /// time (nothing is kept in memory between calls).
    pub fn for_each_value(
        &self,
        sink: &mut dyn FnMut(&Assignment, Array) -> Result<(), EngineError>,
    ) -> Result<(), EngineError> {
        for a in self.plan.loaded() {
            let src = self.sources.get(&a.file).ok_or_else(|| {
                EngineError::new(
                    EngineErrorKind::Map("read_error"),
                    format!(
                        "checkpoint '{}' of variable '{}' is not open",
                        a.file, a.var
                    ),
                )
            })?;
            let value = a.evaluate(src)?;
            sink(a, value)?;
        }
        Ok(())
    }
}
