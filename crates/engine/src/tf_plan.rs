//! The TF net-dict engine's model loading as RETURNN's `init_network_from_config` does it
//! (`docs/returnn-engine.md` §6.3, §7, §8): model selection, `SubnetworkLayer` `load_on_init`,
//! the `preload_from_files` entries that apply for this task and epoch, then the main
//! checkpoint (`load`, a resumed model or `import_model_train_epoch1`, with
//! `load_ignore_missing_vars`), into one [`param_map::Plan`]; values are computed lazily, one
//! variable at a time, for the caller's sink.
//!
//! Paths in the config are relative to the request's base directory (RETURNN's working
//! directory), shown as the config gives them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use model_files::{get_checkpoint_filepattern, get_epoch_model, Fs, RealFs};
use param_map::{Array, Assignment, LoaderOptions, Plan, Planner, TargetVar, TensorSource};
use returnn_config::Config;

use crate::error::{Error, ErrorKind};
use crate::netdict::{
    find_key, load_on_init_loaders, network_importers, preload_entries, LoadOnInit,
};
use crate::source::CheckpointSource;

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

/// Computes the complete loading plan of `config` for a network with variables `targets`
/// (`init_network_from_config`, docs/returnn-engine.md §6.3, §7, §8). Opens the source
/// checkpoints (index only); reads no tensor data.
pub fn plan(config: &Config, targets: Vec<TargetVar>) -> Result<EnginePlan, Error> {
    plan_with(config, targets, &PlanOptions::default())
}

/// Options of [`plan_with`].
#[derive(Clone, Debug, Default)]
pub struct PlanOptions {
    /// Plan as at the start of a recorded run: the config's own model checkpoints
    /// (`<model>.NNN*`, `<model>.pretrain.NNN*`) are treated as absent, since they are that
    /// run's output. Without it, RETURNN (and this plan) would resume from them.
    pub fresh: bool,
    /// RETURNN's working directory (see [`crate::paths`]).
    pub base_dir: PathBuf,
}

/// Hides the config's own model files (for [`PlanOptions::fresh`]; the torch engines too).
pub(crate) struct FreshFs {
    model: String,
    fs: RealFs,
}

impl FreshFs {
    /// `fs` without the files `<model>.*`.
    pub(crate) fn new(model: String, fs: RealFs) -> FreshFs {
        FreshFs { model, fs }
    }

    fn hidden(&self, path: &str) -> bool {
        !self.model.is_empty()
            && path.starts_with(&self.model)
            && path[self.model.len()..].starts_with('.')
    }
}

impl Fs for FreshFs {
    fn exists(&self, path: &str) -> bool {
        !self.hidden(path) && self.fs.exists(path)
    }
    fn is_symlink(&self, path: &str) -> bool {
        !self.hidden(path) && self.fs.is_symlink(path)
    }
    fn read_link(&self, path: &str) -> Option<String> {
        if self.hidden(path) {
            None
        } else {
            self.fs.read_link(path)
        }
    }
    fn list_dir(&self, dir: &str) -> Option<Vec<String>> {
        let names = self.fs.list_dir(dir)?;
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
            self.fs.file_size(path)
        }
    }
    fn read_file(&self, path: &str, max: u64) -> std::io::Result<Vec<u8>> {
        if self.hidden(path) {
            Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                path.to_string(),
            ))
        } else {
            self.fs.read_file(path, max)
        }
    }
    fn remove_file(&self, path: &str) -> std::io::Result<()> {
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            format!("planning never deletes: {path}"),
        ))
    }
}

/// Whether `target` (a checkpoint path, possibly with `.meta`/`.index`/`.data-*`/`.pt`) is one of
/// the config's own model checkpoints (`<model>.NNN` or `<model>.pretrain.NNN`), i.e. the output
/// of the run the config describes. Paths are compared after canonicalisation.
pub fn target_is_own_model(config: &Config, base_dir: &Path, target: &Path) -> bool {
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
    let model = crate::paths::resolve(base_dir, &model);
    let (Some((mdir, mbase)), Some((tdir, tname))) = (split(&model), split(target)) else {
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
        && (tail.is_empty()
            || tail == ".meta"
            || tail == ".index"
            || tail == ".pt"
            || tail.starts_with(".data-"))
}

/// [`plan`] with options.
pub fn plan_with(
    config: &Config,
    targets: Vec<TargetVar>,
    options: &PlanOptions,
) -> Result<EnginePlan, Error> {
    let fs = RealFs::in_dir(&options.base_dir);
    let sel = if options.fresh {
        let model = config.value("model", None)?.unwrap_or_default();
        get_epoch_model(config, &FreshFs { model, fs })?
    } else {
        get_epoch_model(config, &fs)?
    };
    let mut planner = Planner::new(targets);
    for n in &sel.notes {
        planner.note(n.clone());
    }
    let path = sel.model.clone().filter(|p| !p.is_empty());
    let epoch = network_epoch(config, &sel, path.as_deref(), &mut planner)?;
    // Read before any loader runs, so a callable importer is reported first, as before.
    let importers = network_importers(config)?;
    let mut sources = Sources::new(&options.base_dir);
    plan_load_on_init(config, &mut sources, &mut planner)?;
    plan_preloads(
        config,
        &sel.task,
        epoch.first_train_epoch,
        &mut sources,
        &mut planner,
    )?;
    if let Some(p) = &path {
        plan_main_checkpoint(config, p, sel.epoch, importers, &mut sources, &mut planner)?;
    }
    Ok(EnginePlan {
        plan: planner.finish(),
        sources: sources.opened,
        task: sel.task,
        epoch: Some(epoch.epoch),
        main_checkpoint: path,
    })
}

/// The epoch the network is built for.
struct NetworkEpoch {
    epoch: u64,
    /// RETURNN's `is_first_train_epoch` (decides which preload entries apply).
    first_train_epoch: bool,
}

/// docs/returnn-engine.md §6.3: the engine epoch; no model and no training start epoch is an
/// error unless `allow_random_model_init` (`eval` sets a start epoch via
/// `init_train_from_config`, so it fails at the epoch assertion instead).
fn network_epoch(
    config: &Config,
    sel: &model_files::Selection,
    path: Option<&str>,
    planner: &mut Planner,
) -> Result<NetworkEpoch, Error> {
    let task = sel.task.as_str();
    let mut epoch = sel.epoch;
    if path.is_none() && sel.start_epoch.is_none() && task != "eval" {
        if config.bool("allow_random_model_init", false)? {
            planner.note("No model will be loaded. Randomly initializing model.");
            epoch = Some(1);
        } else {
            return Err(Error::new(
                ErrorKind::NoModel,
                "You are not using training, otherwise start_epoch would be set via self.init_train_from_config(). There was also no model found which we could load. Set one via 'load'.",
            ));
        }
    }
    let first_train_epoch =
        matches!(epoch, None | Some(0)) && matches!(task, "train" | "initialize_model");
    let engine_epoch = if first_train_epoch {
        sel.start_epoch.or(Some(1))
    } else {
        epoch
    };
    match engine_epoch {
        Some(e) if e > 0 => Ok(NetworkEpoch {
            epoch: e,
            first_train_epoch,
        }),
        _ => Err(Error::new(
            ErrorKind::NoEpoch,
            format!("AssertionError: task '{task}' (no epoch for the selected model {path:?}; set load_epoch)"),
        )),
    }
}

/// The source checkpoints of a plan, each opened (index only) once, by the file string the
/// config gives.
struct Sources {
    base: PathBuf,
    opened: BTreeMap<String, CheckpointSource>,
}

impl Sources {
    fn new(base: &Path) -> Sources {
        Sources {
            base: base.to_path_buf(),
            opened: BTreeMap::new(),
        }
    }

    /// The source for `file` (opened now if needed); the error is the loader's to report.
    fn get(&mut self, file: &str) -> Result<&dyn TensorSource, param_map::MapError> {
        if !self.opened.contains_key(file) {
            let s = CheckpointSource::open_in(&self.base, file, get_checkpoint_filepattern(file))?;
            self.opened.insert(file.to_string(), s);
        }
        self.opened
            .get(file)
            .map(|s| s as &dyn TensorSource)
            .ok_or_else(|| {
                param_map::MapError::new(param_map::MapErrorKind::Read, "internal: source lost")
            })
    }
}

/// docs/returnn-mapping.md R-SUB-1..3, R-PREC-5: `SubnetworkLayer` `load_on_init` registers
/// during network construction, before the preload loop (twice outside a rec unit: RETURNN
/// calls it again after the subnetwork is complete; once inside one).
fn plan_load_on_init(
    config: &Config,
    sources: &mut Sources,
    planner: &mut Planner,
) -> Result<(), Error> {
    for LoadOnInit { layer, opts, calls } in load_on_init_loaders(config)? {
        let entry = format!("{layer}.load_on_init");
        for _ in 0..calls {
            let src = sources.get(&opts.filename);
            planner
                .load_on_init(&entry, &opts, src)
                .map_err(|e| prefix_entry(&entry, e))?;
        }
    }
    Ok(())
}

/// docs/returnn-engine.md §7: `preload_from_files` entries, sorted by key, each applied or not
/// by `init_for_train` against the task and the first training epoch.
fn plan_preloads(
    config: &Config,
    task: &str,
    first_train_epoch: bool,
    sources: &mut Sources,
    planner: &mut Planner,
) -> Result<(), Error> {
    for entry in preload_entries(config)? {
        let applies = if entry.init_for_train {
            first_train_epoch
        } else {
            task != "train"
        };
        if !applies {
            planner.note(format!(
                "preload_from_files[{:?}] not applied (init_for_train={}, task '{task}', first train epoch: {first_train_epoch})",
                entry.key, entry.init_for_train
            ));
            continue;
        }
        let src = sources.get(&entry.opts.filename);
        planner
            .preload(&entry.key, &entry.opts, src)
            .map_err(|e| prefix_entry(&entry.key, e))?;
    }
    Ok(())
}

/// docs/returnn-engine.md §8: the main checkpoint (`load`, a resumed model, or
/// `import_model_train_epoch1` when the selected epoch is 0), with `load_ignore_missing_vars`.
fn plan_main_checkpoint(
    config: &Config,
    path: &str,
    selected_epoch: Option<u64>,
    importers: Vec<param_map::Importer>,
    sources: &mut Sources,
    planner: &mut Planner,
) -> Result<(), Error> {
    let ignore_missing = config.bool("load_ignore_missing_vars", false)?;
    planner.note(format!(
        "main checkpoint ({}): {path} (epoch {}), load_ignore_missing_vars={ignore_missing}",
        if selected_epoch == Some(0) {
            "import_model_train_epoch1"
        } else {
            "load"
        },
        selected_epoch
            .map(|e| e.to_string())
            .unwrap_or_else(|| "None".into())
    ));
    let opts = LoaderOptions {
        filename: path.to_string(),
        ignore_missing,
        network: Some("<TFNetwork 'root'>".into()),
        importers,
        ..LoaderOptions::default()
    };
    // docs/returnn-mapping.md R-LPF-1: TF's Saver runs first unless a layer (at any depth) has
    // a custom_param_importer or load_ignore_missing_vars is set (preloads: the planner).
    let deep_importer = config
        .get("network")
        .is_some_and(|net| find_key(net, "custom_param_importer", &mut Vec::new()).is_some());
    let src = sources.get(path);
    planner.main_load_with(&opts, src, !deep_importer)?;
    Ok(())
}

fn prefix_entry(key: &str, e: param_map::MapError) -> Error {
    Error::from(e).map_message(|m| format!("preload_from_files[{key:?}]: {m}"))
}

impl EnginePlan {
    /// Computes each loaded variable's value in target order and hands it to `sink`, one at a
    /// time (nothing is kept in memory between calls).
    pub fn for_each_value(
        &self,
        sink: &mut dyn FnMut(&Assignment, Array) -> Result<(), Error>,
    ) -> Result<(), Error> {
        for a in self.plan.loaded() {
            let src = self.sources.get(&a.file).ok_or_else(|| {
                Error::new(
                    ErrorKind::Map(param_map::MapErrorKind::Read),
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
