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
//! `load_on_init` given as a callable or nested deeper than a top-level `SubnetworkLayer`,
//! `custom_param_importer` given as a Python
//! callable or `"subset"` with a shape change (the result depends on the random init), and
//! `ignore_params` given as a plain string.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod error;
pub mod source;
pub mod targets;
pub mod torch_plan;

use std::collections::BTreeMap;
use std::path::Path;

use model_files::{get_checkpoint_filepattern, get_epoch_model, Fs, RealFs};
use param_map::{
    Array, Assignment, Importer, ImporterMode, LoaderOptions, Plan, Planner, TargetVar,
    TensorSource,
};
use returnn_config::{Config, Value};

pub use error::{EngineError, EngineErrorKind};
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

fn unsupported(msg: impl Into<String>) -> EngineError {
    EngineError::new(EngineErrorKind::Unsupported, msg)
}

fn config_value_err(msg: impl Into<String>) -> EngineError {
    EngineError::new(EngineErrorKind::Config("config_value"), msg)
}

/// Finds `key` with a value other than None anywhere inside a (network) value.
fn find_key<'a>(v: &'a Value, key: &str, path: &mut Vec<String>) -> Option<(String, &'a Value)> {
    match v {
        Value::Dict(items) => {
            for (k, val) in items {
                if let Value::Str(ks) = k {
                    if ks == key && *val != Value::None {
                        return Some((path.join("/"), val));
                    }
                    path.push(ks.clone());
                    let r = find_key(val, key, path);
                    path.pop();
                    if r.is_some() {
                        return r;
                    }
                }
            }
            None
        }
        Value::List(items) | Value::Tuple(items) => {
            items.iter().find_map(|x| find_key(x, key, path))
        }
        _ => None,
    }
}

fn str_list(v: &Value, what: &str) -> Result<Vec<String>, EngineError> {
    match v {
        Value::None => Ok(Vec::new()),
        Value::List(items) | Value::Tuple(items) | Value::Set(items) => items
            .iter()
            .map(|x| {
                x.as_str().map(str::to_string).ok_or_else(|| {
                    config_value_err(format!("{what}: expected strings, found {}", x.type_name()))
                })
            })
            .collect(),
        other => Err(config_value_err(format!(
            "{what}: expected a list of strings, found {}",
            other.type_name()
        ))),
    }
}

fn truthy(v: &Value, what: &str) -> Result<bool, EngineError> {
    v.truthy()
        .ok_or_else(|| unsupported(format!("{what}: non-literal Python value")))
}

/// One parsed `preload_from_files` entry.
#[derive(Clone, Debug)]
pub struct PreloadEntry {
    pub key: String,
    pub init_for_train: bool,
    pub opts: LoaderOptions,
}

/// Parses loader options from a dict (a `preload_from_files` entry, whose prefix key is
/// `prefix`, or a `load_on_init` dict of loader kwargs, whose prefix key is `load_if_prefix`).
fn parse_loader_opts(
    opts: &Value,
    ctx: &str,
    prefix_key: &str,
) -> Result<LoaderOptions, EngineError> {
    let Value::Dict(_) = opts else {
        return Err(config_value_err(format!(
            "{ctx} must be a dict, found {}",
            opts.type_name()
        )));
    };
    let what = |o: &str| format!("{ctx}[{o:?}]");
    let get = |o: &str| opts.get_str_key(o);
    let filename = match get("filename") {
        None => {
            return Err(EngineError::new(
                EngineErrorKind::PreloadFilename,
                format!("KeyError: 'filename' ({ctx} has no filename)"),
            ))
        }
        Some(Value::Str(s)) => s.clone(),
        Some(other) => {
            return Err(EngineError::new(
                EngineErrorKind::PreloadFilename,
                format!(
                    "{}: expected a str, found {}",
                    what("filename"),
                    other.type_name()
                ),
            ))
        }
    };
    if let Some(f) = get("custom_missing_load_func") {
        if *f != Value::None {
            return Err(unsupported(format!(
                "{}: a Python callable cannot be run by returnn-ckpt",
                what("custom_missing_load_func")
            )));
        }
    }
    let prefix = match get(prefix_key) {
        None | Some(Value::None) => String::new(),
        Some(Value::Str(s)) => s.clone(),
        Some(other) => {
            return Err(config_value_err(format!(
                "{}: expected a str, found {}",
                what(prefix_key),
                other.type_name()
            )))
        }
    };
    let ignore_params = match get("ignore_params") {
        None => Vec::new(),
        Some(Value::Str(_)) => {
            return Err(unsupported(format!(
                "{}: a plain string (RETURNN would test substrings); give a list",
                what("ignore_params")
            )))
        }
        Some(v) => str_list(v, &what("ignore_params"))?,
    };
    let ignore_params_prefixes = match get("ignore_params_prefixes") {
        None => Vec::new(),
        // A plain string is iterated character by character, as Python does.
        Some(Value::Str(s)) => s.chars().map(String::from).collect(),
        Some(v) => str_list(v, &what("ignore_params_prefixes"))?,
    };
    let mut var_name_mapping = BTreeMap::new();
    match get("var_name_mapping") {
        None | Some(Value::None) => {}
        Some(Value::Dict(m)) => {
            for (a, b) in m {
                match (a.as_str(), b.as_str()) {
                    (Some(a), Some(b)) => {
                        var_name_mapping.insert(a.to_string(), b.to_string());
                    }
                    _ => {
                        return Err(config_value_err(format!(
                            "{}: expected str -> str",
                            what("var_name_mapping")
                        )))
                    }
                }
            }
        }
        Some(other) => {
            return Err(config_value_err(format!(
                "{}: expected a dict, found {}",
                what("var_name_mapping"),
                other.type_name()
            )))
        }
    }
    let ignore_missing = match get("ignore_missing") {
        None => false,
        Some(v) => truthy(v, &what("ignore_missing"))?,
    };
    Ok(LoaderOptions {
        filename,
        params_prefix: String::new(),
        load_if_prefix: prefix,
        ignore_missing,
        ignore_params,
        ignore_params_prefixes,
        var_name_mapping,
        network: None,
        importers: Vec::new(),
    })
}

/// Parses `preload_from_files` (entries in ascending sorted key order).
pub fn preload_entries(config: &Config) -> Result<Vec<PreloadEntry>, EngineError> {
    let items = match config.get("preload_from_files") {
        None | Some(Value::None) => return Ok(Vec::new()),
        Some(Value::Dict(items)) => items,
        Some(other) => {
            return Err(config_value_err(format!(
                "preload_from_files must be a dict, found {}",
                other.type_name()
            )))
        }
    };
    let mut out = Vec::new();
    for (k, opts) in items {
        let key = k
            .as_str()
            .ok_or_else(|| config_value_err("preload_from_files keys must be strings"))?
            .to_string();
        let ctx = format!("preload_from_files[{key:?}]");
        let loader = parse_loader_opts(opts, &ctx, "prefix")?;
        let what = |o: &str| format!("{ctx}[{o:?}]");
        let get = |o: &str| opts.get_str_key(o);
        let init_for_train = match get("init_for_train") {
            None => false,
            Some(v) => truthy(v, &what("init_for_train"))?,
        };
        out.push(PreloadEntry {
            key,
            init_for_train,
            opts: loader,
        });
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
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
    // R-SUB-1/2, R-PREC-5: SubnetworkLayer load_on_init registers during network
    // construction, before the preload loop (twice: RETURNN calls it again after the
    // subnetwork is complete).
    for (layer, opts) in load_on_init_loaders(config)? {
        let file = opts.filename.clone();
        let entry = format!("{layer}.load_on_init");
        for _ in 0..2 {
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

/// The `custom_param_importer` of the network's top-level layers (string modes), with the
/// layer's name scope prefix (`<layer>/`, `<layer>/rec/` for a `rec` layer).
pub fn network_importers(config: &Config) -> Result<Vec<Importer>, EngineError> {
    match config.get("network") {
        Some(Value::Dict(layers)) => layer_importers(layers, ""),
        _ => Ok(Vec::new()),
    }
}

/// Importers of the layers of one network dict, whose absolute scope is `scope`.
fn layer_importers(layers: &[(Value, Value)], scope: &str) -> Result<Vec<Importer>, EngineError> {
    let mut out = Vec::new();
    for (name, layer) in layers {
        let (Some(name), Some(v)) = (name.as_str(), layer.get_str_key("custom_param_importer"))
        else {
            continue;
        };
        let mode = match v {
            Value::Str(m) if m.is_empty() => continue,
            Value::Str(m) => ImporterMode::parse(m),
            Value::Unsupported(what) => {
                return Err(unsupported(format!(
                    "layer '{scope}{name}': custom_param_importer {what} is a Python callable, which returnn-ckpt cannot run"
                )))
            }
            other => match other.truthy() {
                Some(false) => continue,
                _ => ImporterMode::Other(other.py_repr().unwrap_or_default()),
            },
        };
        let is_rec = layer.get_str_key("class").and_then(Value::as_str) == Some("rec");
        out.push(Importer {
            layer: format!("{scope}{name}"),
            prefix: if is_rec {
                format!("{scope}{name}/rec/")
            } else {
                format!("{scope}{name}/")
            },
            mode,
        });
    }
    Ok(out)
}

/// `SubnetworkLayer` `load_on_init` of the network's top-level layers, in network order: the
/// layer name and its loader (`params_prefix` = `<layer>/`, the subnetwork's importers).
pub fn load_on_init_loaders(config: &Config) -> Result<Vec<(String, LoaderOptions)>, EngineError> {
    let mut out = Vec::new();
    let Some(Value::Dict(layers)) = config.get("network") else {
        return Ok(out);
    };
    for (name, layer) in layers {
        let Some(name) = name.as_str() else { continue };
        let sub = layer.get_str_key("subnetwork");
        if let Some(sub) = sub {
            if let Some((deep, _)) = find_key(sub, "load_on_init", &mut vec![name.to_string()]) {
                return Err(unsupported(format!(
                    "nested load_on_init in '{deep}' is not planned by returnn-ckpt"
                )));
            }
        }
        let ctx = format!("network[{name:?}][\"load_on_init\"]");
        let mut opts = match layer.get_str_key("load_on_init") {
            None | Some(Value::None) => continue,
            Some(Value::Str(f)) => LoaderOptions {
                filename: f.clone(),
                ..LoaderOptions::default()
            },
            Some(v @ Value::Dict(_)) => parse_loader_opts(v, &ctx, "load_if_prefix")?,
            Some(other) => {
                return Err(unsupported(format!(
                "{ctx}: {} (a callable or non-literal value) cannot be evaluated by returnn-ckpt",
                other.type_name()
            )))
            }
        };
        opts.params_prefix = format!("{name}/");
        opts.network = Some(format!("<TFNetwork '{name}'>"));
        if let Some(Value::Dict(sublayers)) = sub {
            opts.importers = layer_importers(sublayers, &format!("{name}/"))?;
        }
        out.push((name.to_string(), opts));
    }
    Ok(out)
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
