//! The config side of RETURNN's PyTorch-engine model loading (and of RF models on the TF
//! engine): parses `preload_from_files` the PyTorch way, picks the main checkpoint with
//! model-files' selection for the engine's backend, opens the sources' key lists and calls
//! [`param_map::torch::plan_torch`] / [`param_map::torch::plan_rf_tf`].
//!
//! Files: `.safetensors` through the `safetensors` crate (header only, validated first, as
//! `safetensors.torch.load_file` reads them), TF checkpoints through tf-bundle (RF models on
//! the TF engine), `.pt` through the [`PtReader`] trait (the `.pt` format crate plugs in
//! there; without a reader a `.pt` source is reported as unsupported). Every path in the
//! config is relative to RETURNN's working directory, given explicitly as `base`.
//!
//! Which engine: `backend = "torch"` is the PyTorch engine, `backend = "tensorflow"` the RF
//! engine on TF (`returnn/__main__.py` `init_engine`); both call the config's `get_model`, so a
//! config without a typed `get_model` (a `def` in a Python config is one: returnn-config keeps
//! it as a non-literal value) fails there with RETURNN's `AssertionError: get_model not
//! defined in config`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use model_files::{
    epoch_model_filename, get_checkpoint_filepattern, get_epoch_model_with, main_task_config,
    Backend, Engine, Fs, RealFs,
};
use param_map::torch::{
    plan_rf_tf, plan_torch, IgnoreParams, InitForTrain, PrefixOpt, RfTfConfig, RfTfEntry,
    StoredDict, StoredTensors, StoredValue, TorchError, TorchErrorKind, TorchFile, TorchLoadConfig,
    TorchParam, TorchPlan, TorchPreloadEntry, TorchPreloadOpts,
};
use param_map::{Array, MapError, MapErrorKind, TensorMeta, TensorSource};
use returnn_config::{Config, Value};
use tf_bundle::DType;

use crate::source::CheckpointSource;
use crate::{EngineError, EngineErrorKind};

impl From<TorchError> for EngineError {
    fn from(e: TorchError) -> EngineError {
        EngineError::new(EngineErrorKind::Torch(e.kind()), e.to_string())
    }
}

/// An opened `.pt` file: what `torch.load` returns (structure only) and tensor reads.
pub trait PtFile {
    /// The unpickled root dict (tensors as dtype + shape).
    fn root(&self) -> &StoredDict;
    /// The tensor at `path` (dict keys from the root).
    fn read(&self, path: &[String]) -> Result<Array, MapError>;
}

/// Opens `.pt` files (implemented by the `.pt` format crate).
pub trait PtReader {
    /// Opens `path` (an existing file); `file` is the name the config gives (for messages).
    fn open(&self, path: &Path, file: &str) -> Result<Box<dyn PtFile>, TorchError>;
}

/// Which of RETURNN's loading rules a config gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadEngine {
    /// `returnn/torch/engine.py` `_load_model`.
    Torch,
    /// `returnn/tf/engine_rf.py`: an RF model on the TF engine.
    RfTf,
    /// The TF net-dict engine (not handled here: see [`crate::plan`]).
    NetDict,
}

impl LoadEngine {
    /// `torch`, `tensorflow-rf`, `tensorflow-net-dict`.
    pub fn label(self) -> &'static str {
        match self {
            LoadEngine::Torch => "torch",
            LoadEngine::RfTf => "tensorflow-rf",
            LoadEngine::NetDict => "tensorflow-net-dict",
        }
    }
}

/// Checks the config's `get_model` as both engines use it (`config.typed_value("get_model")`,
/// asserted, then called): it must be a non-literal Python value (a `def`, an import, a
/// lambda: returnn-config keeps those as `Value::Unsupported`). Absent or falsy is RETURNN's
/// `AssertionError: get_model not defined in config`; a truthy literal (a str in a JSON
/// config, ...) is the `TypeError` of calling it.
pub fn check_get_model(config: &Config) -> Result<(), EngineError> {
    match config.get("get_model") {
        Some(Value::Unsupported(_)) => Ok(()),
        Some(v) if v.truthy() == Some(true) => Err(EngineError::new(
            EngineErrorKind::GetModelNotCallable,
            format!("TypeError: '{}' object is not callable", v.type_name()),
        )),
        _ => Err(EngineError::new(
            EngineErrorKind::NoGetModel,
            "AssertionError: get_model not defined in config",
        )),
    }
}

/// The engine whose loading rules apply to `config` (`backend`, see the module docs).
pub fn load_engine(config: &Config) -> Result<LoadEngine, EngineError> {
    Ok(match Engine::from_config(config)? {
        Engine::Torch => LoadEngine::Torch,
        Engine::TensorFlowRf => LoadEngine::RfTf,
        Engine::TensorFlowNetDict => LoadEngine::NetDict,
    })
}

fn unsupported(msg: impl Into<String>) -> EngineError {
    EngineError::new(EngineErrorKind::Unsupported, msg)
}

fn config_value_err(msg: impl Into<String>) -> EngineError {
    EngineError::new(EngineErrorKind::ConfigValue, msg)
}

fn str_list(v: &Value, what: &str) -> Result<Vec<String>, EngineError> {
    match v {
        Value::List(items) | Value::Tuple(items) | Value::Set(items) => items
            .iter()
            .map(|x| {
                x.as_str().map(str::to_string).ok_or_else(|| {
                    unsupported(format!("{what}: expected strings, found {}", x.type_name()))
                })
            })
            .collect(),
        other => Err(unsupported(format!(
            "{what}: expected a list of strings, found {}",
            other.type_name()
        ))),
    }
}

fn truthy(v: &Value, what: &str) -> Result<bool, EngineError> {
    v.truthy()
        .ok_or_else(|| unsupported(format!("{what}: a non-literal Python value")))
}

fn prefix_opt(v: Option<&Value>, what: &str) -> Result<PrefixOpt, EngineError> {
    Ok(match v {
        None => PrefixOpt::Absent,
        Some(Value::None) => PrefixOpt::None,
        Some(Value::Str(s)) => PrefixOpt::Str(s.clone()),
        Some(other) => {
            return Err(unsupported(format!(
                "{what}: expected a str, found {}",
                other.type_name()
            )))
        }
    })
}

/// The `preload_from_files` items of a config (`typed_value("preload_from_files", {})`, used
/// only if truthy), keys as strings.
fn preload_items(config: &Config) -> Result<Vec<(String, &Value)>, EngineError> {
    let items = match config.get("preload_from_files") {
        None => return Ok(Vec::new()),
        Some(v) if v.truthy() == Some(false) => return Ok(Vec::new()),
        Some(Value::Dict(items)) => items,
        Some(Value::Unsupported(s)) => {
            return Err(unsupported(format!(
                "preload_from_files is computed in the config ({s}); returnn-ckpt reads literal dicts only"
            )))
        }
        Some(other) => {
            return Err(config_value_err(format!(
                "AttributeError: '{}' object has no attribute 'items' (preload_from_files must be a dict)",
                other.type_name()
            )))
        }
    };
    items
        .iter()
        .map(|(k, v)| {
            k.as_str()
                .map(|k| (k.to_string(), v))
                .ok_or_else(|| unsupported("preload_from_files keys must be strings"))
        })
        .collect()
}

/// One entry, parsed the way the PyTorch engine reads it.
pub fn parse_torch_entry(key: &str, opts: &Value) -> Result<TorchPreloadEntry, EngineError> {
    let Value::Dict(_) = opts else {
        return Ok(TorchPreloadEntry::Invalid);
    };
    let ctx = format!("preload_from_files[{key:?}]");
    let what = |o: &str| format!("{ctx}[{o:?}]");
    let get = |o: &str| opts.get_str_key(o);
    let filename = match get("filename") {
        None => return Ok(TorchPreloadEntry::Invalid),
        Some(Value::None) => None,
        Some(Value::Str(s)) => Some(s.clone()),
        Some(other) => {
            return Err(unsupported(format!(
                "{}: expected a str or None, found {}",
                what("filename"),
                other.type_name()
            )))
        }
    };
    let init_for_train = match get("init_for_train") {
        None => InitForTrain::Recog,
        Some(v) => {
            if !truthy(v, &what("init_for_train"))? {
                InitForTrain::Recog
            } else {
                match v {
                    Value::Str(s) if s == "always" => InitForTrain::Always,
                    Value::Bool(true) => InitForTrain::FirstEpoch,
                    other => InitForTrain::Invalid {
                        repr: other.py_repr().unwrap_or_else(|| "<non-literal>".into()),
                        type_name: other.type_name().to_string(),
                    },
                }
            }
        }
    };
    let pattern = match get("pattern") {
        None | Some(Value::None) => None,
        Some(Value::Str(s)) => Some(s.clone()),
        Some(other) => {
            return Err(unsupported(format!(
                "{}: expected a str, found {}",
                what("pattern"),
                other.type_name()
            )))
        }
    };
    let prefix = prefix_opt(get("prefix"), &what("prefix"))?;
    let checkpoint_key = match get("checkpoint_key") {
        None => Some("model".to_string()),
        Some(Value::None) => None,
        Some(Value::Str(s)) => Some(s.clone()),
        Some(other) => {
            return Err(unsupported(format!(
                "{}: expected a str or None, found {}",
                what("checkpoint_key"),
                other.type_name()
            )))
        }
    };
    let ignore_params = match get("ignore_params") {
        None => IgnoreParams::default(),
        Some(Value::Str(s)) => IgnoreParams::Substring(s.clone()),
        Some(v) => IgnoreParams::List(str_list(v, &what("ignore_params"))?),
    };
    let ignore_params_prefixes = match get("ignore_params_prefixes") {
        None => Vec::new(),
        Some(Value::Str(s)) => s.chars().map(String::from).collect(),
        Some(v) => str_list(v, &what("ignore_params_prefixes"))?,
    };
    let mut var_name_mapping = Vec::new();
    match get("var_name_mapping") {
        None => {}
        Some(Value::Dict(m)) => {
            for (a, b) in m {
                match (a.as_str(), b.as_str()) {
                    (Some(a), Some(b)) => var_name_mapping.push((a.to_string(), b.to_string())),
                    _ => {
                        return Err(unsupported(format!(
                            "{}: expected str -> str",
                            what("var_name_mapping")
                        )))
                    }
                }
            }
        }
        Some(other) => {
            return Err(unsupported(format!(
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
    let custom_missing_load_func = match get("custom_missing_load_func") {
        None => false,
        Some(v) => v.truthy() != Some(false),
    };
    Ok(TorchPreloadEntry::Opts(Box::new(TorchPreloadOpts {
        filename,
        init_for_train,
        pattern,
        prefix,
        checkpoint_key,
        ignore_params,
        ignore_params_prefixes,
        var_name_mapping,
        ignore_missing,
        custom_missing_load_func,
        opts_repr: opts
            .py_repr()
            .unwrap_or_else(|| format!("<{ctx}: non-literal>")),
    })))
}

/// One entry, parsed the way the TF engine's RF path reads it.
pub fn parse_rf_tf_entry(key: &str, opts: &Value) -> Result<RfTfEntry, EngineError> {
    let Value::Dict(items) = opts else {
        return Ok(RfTfEntry::NotADict {
            type_name: opts.type_name().to_string(),
        });
    };
    let ctx = format!("preload_from_files[{key:?}]");
    let mut keys = Vec::new();
    for (k, _) in items {
        keys.push(
            k.as_str()
                .ok_or_else(|| unsupported(format!("{ctx}: option names must be strings")))?
                .to_string(),
        );
    }
    let filename = match opts.get_str_key("filename") {
        None => None,
        Some(v) => Some(
            v.py_str()
                .ok_or_else(|| unsupported(format!("{ctx}[\"filename\"]: non-literal")))?,
        ),
    };
    let prefix = prefix_opt(opts.get_str_key("prefix"), &format!("{ctx}[\"prefix\"]"))?;
    let ignore_missing = match opts.get_str_key("ignore_missing") {
        None => false,
        Some(v) => truthy(v, &format!("{ctx}[\"ignore_missing\"]"))?,
    };
    Ok(RfTfEntry::Opts {
        keys,
        filename,
        prefix,
        ignore_missing,
    })
}

/// An opened source file.
enum Opened {
    Safetensors {
        path: PathBuf,
        /// name -> (dtype, shape, absolute offset, length)
        tensors: BTreeMap<String, (DType, Vec<u64>, u64, u64)>,
        root: StoredDict,
    },
    Pt(Box<dyn PtFile>),
    Tf(Box<CheckpointSource>),
}

/// The files a plan reads from, by the name the config gives them.
#[derive(Default)]
pub struct TorchSources {
    opened: BTreeMap<String, Opened>,
}

impl TorchSources {
    /// The file names opened.
    pub fn files(&self) -> Vec<&str> {
        self.opened.keys().map(String::as_str).collect()
    }
}

fn read_err(file: &str, msg: impl Into<String>) -> MapError {
    MapError::new(MapErrorKind::Read, msg).with_file(file)
}

impl StoredTensors for TorchSources {
    fn read(&self, file: &str, path: &[String]) -> Result<Array, MapError> {
        let o = self
            .opened
            .get(file)
            .ok_or_else(|| read_err(file, format!("checkpoint '{file}' is not open")))?;
        match o {
            Opened::Pt(p) => p.read(path),
            Opened::Tf(s) => {
                let [key] = path else {
                    return Err(read_err(file, format!("no tensor at {path:?}")));
                };
                s.read(key)
            }
            Opened::Safetensors {
                path: p, tensors, ..
            } => {
                let [key] = path else {
                    return Err(read_err(file, format!("no tensor at {path:?}")));
                };
                let (dtype, shape, off, len) = tensors
                    .get(key)
                    .ok_or_else(|| read_err(file, format!("no tensor '{key}'")))?;
                let mut f = std::fs::File::open(p).map_err(|e| read_err(file, e.to_string()))?;
                let data = ckpt_read(&mut f, *off, *len).map_err(|e| {
                    read_err(file, format!("reading tensor '{key}': {e}")).with_var(key.clone())
                })?;
                Array::new(*dtype, shape.clone(), data)
                    .map_err(|e| e.with_var(key.clone()).with_file(file))
            }
        }
    }
}

/// Reads `len` bytes at `off` (the header validated that they lie inside the file).
fn ckpt_read(f: &mut std::fs::File, off: u64, len: u64) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let file_len = f.metadata()?.len();
    if off.checked_add(len).is_none_or(|end| end > file_len) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!(
                "bytes {off}..{} are past the end of the {file_len}-byte file",
                off.saturating_add(len)
            ),
        ));
    }
    f.seek(SeekFrom::Start(off))?;
    let mut buf = Vec::with_capacity(len as usize);
    f.take(len).read_to_end(&mut buf)?;
    if buf.len() as u64 != len {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the file shrank while reading",
        ));
    }
    Ok(buf)
}

/// Opens a safetensors file as `safetensors.torch.load_file` returns it: a flat dict without
/// `_metadata` (T-FILE-2).
fn open_safetensors(path: &Path, file: &str) -> Result<(StoredDict, Opened), TorchError> {
    let read = |m: String| TorchError::python(TorchErrorKind::Read, m).with_file(file);
    let mut f = std::fs::File::open(path).map_err(|e| read(format!("{file}: {e}")))?;
    let header = convert::to_tf::read_header(&mut f, path).map_err(|e| read(e.to_string()))?;
    let mut entries = Vec::with_capacity(header.tensors.len());
    let mut tensors = BTreeMap::new();
    for (name, dt, shape, off, len) in header.tensors {
        let dtype = convert::tf_dtype(dt).ok_or_else(|| {
            read(format!(
                "{file}: tensor '{name}' has dtype {dt:?}, which returnn-ckpt cannot load"
            ))
        })?;
        entries.push((
            name.clone(),
            StoredValue::Tensor {
                dtype,
                shape: shape.clone(),
            },
        ));
        tensors.insert(name, (dtype, shape, off, len));
    }
    let root = StoredDict {
        entries,
        metadata: None,
        ordered: false,
    };
    Ok((
        root.clone(),
        Opened::Safetensors {
            path: path.to_path_buf(),
            tensors,
            root,
        },
    ))
}

/// Opens files for the PyTorch engine (`_torch_load`).
struct TorchOpener<'a> {
    fs: &'a RealFs,
    pt: Option<&'a dyn PtReader>,
    sources: TorchSources,
}

impl TorchOpener<'_> {
    fn open(&mut self, file: &str) -> Result<TorchFile, TorchError> {
        let path = self.fs.resolve(file);
        let root = if let Some(o) = self.sources.opened.get(file) {
            match o {
                Opened::Pt(p) => p.root().clone(),
                Opened::Safetensors { root, .. } => root.clone(),
                Opened::Tf(_) => {
                    return Err(TorchError::python(
                        TorchErrorKind::Unsupported,
                        format!("{file}: a TF checkpoint, which torch.load cannot read"),
                    ))
                }
            }
        } else {
            if !path.exists() {
                return Err(not_found(file));
            }
            // T-FILE-2: `_torch_load` picks the reader by the `.safetensors` suffix only.
            let (root, opened) = if file.ends_with(".safetensors") {
                open_safetensors(&path, file)?
            } else {
                let Some(reader) = self.pt else {
                    return Err(TorchError::python(
                        TorchErrorKind::Unsupported,
                        format!("{file}: reading .pt files needs the .pt reader, which is not plugged in"),
                    )
                    .with_file(file));
                };
                let p = reader.open(&path, file)?;
                (p.root().clone(), Opened::Pt(p))
            };
            self.sources.opened.insert(file.to_string(), opened);
            root
        };
        Ok(TorchFile {
            file: file.to_string(),
            root,
        })
    }
}

/// Python's `FileNotFoundError` of `open(file)`.
fn not_found(file: &str) -> TorchError {
    TorchError::python(
        TorchErrorKind::CheckpointNotFound,
        format!(
            "[Errno 2] No such file or directory: {}",
            param_map::torch::pyrepr::py_str(file)
        ),
    )
    .with_file(file)
}

/// A planned load, with the opened sources its values are read from.
pub struct TorchEnginePlan {
    pub engine: LoadEngine,
    pub plan: TorchPlan,
    pub sources: TorchSources,
    pub task: String,
    /// The main checkpoint file opened (the selected model), if any.
    pub main_checkpoint: Option<String>,
    /// Model selection's notes (`warning: ...`).
    pub notes: Vec<String>,
}

impl TorchEnginePlan {
    /// Computes every loaded value (in module order) and hands it to `sink`.
    pub fn for_each_value(
        &self,
        sink: &mut dyn FnMut(&param_map::torch::TorchAssignment, Array) -> Result<(), EngineError>,
    ) -> Result<(), EngineError> {
        for a in self.plan.loaded() {
            let v = a.evaluate(&self.sources)?;
            sink(a, v)?;
        }
        Ok(())
    }
}

/// What to plan: the config, RETURNN's working directory, the module's parameters.
pub struct TorchPlanRequest<'a> {
    pub config: &'a Config,
    /// RETURNN's working directory (relative paths in the config are relative to it).
    pub base: &'a Path,
    /// The module's parameters and persistent buffers, in `state_dict()` order (for RF on
    /// TF: `named_parameters()`).
    pub params: Vec<TorchParam>,
    /// The module class in torch's messages; default `RFModuleAsPTModule` if any param is
    /// non-critical or aux (an RF model), else `Module`.
    pub module_class: Option<String>,
    pub pt: Option<&'a dyn PtReader>,
}

/// Plans what RETURNN's engine for `req.config` (PyTorch, or RF on TF) loads into the module.
pub fn plan_torch_config(req: TorchPlanRequest<'_>) -> Result<TorchEnginePlan, EngineError> {
    let engine = load_engine(req.config)?;
    if engine == LoadEngine::NetDict {
        return Err(unsupported(
            "the TF net-dict engine's loading is planned by engine::plan, not by the torch rules",
        ));
    }
    check_get_model(req.config)?;
    let fs = RealFs::in_dir(req.base);
    let mf = if engine == LoadEngine::Torch {
        Engine::Torch
    } else {
        Engine::TensorFlowRf
    };
    let adjusted = main_task_config(req.config, mf)?;
    let config = adjusted.as_ref().unwrap_or(req.config);
    let backend = if engine == LoadEngine::Torch {
        Backend::Torch
    } else {
        Backend::TensorFlow
    };
    let sel = get_epoch_model_with(config, &fs, backend)?;
    let task = sel.task.clone();
    let model = sel.model.clone().filter(|m| !m.is_empty());
    let items = preload_items(config)?;
    if engine == LoadEngine::RfTf {
        let mut preload = Vec::new();
        for (k, v) in &items {
            preload.push((k.clone(), parse_rf_tf_entry(k, v)?));
        }
        let cfg = RfTfConfig {
            task: task.clone(),
            main: model.clone(),
            preload,
        };
        let mut sources = TorchSources::default();
        let mut open = |file: &str| -> Result<Vec<TensorMeta>, TorchError> {
            let pattern = get_checkpoint_filepattern(file).to_string();
            let resolved = fs.resolve(&pattern).to_string_lossy().into_owned();
            let src = match sources.opened.get(file) {
                Some(Opened::Tf(s)) => return Ok(s.tensors().to_vec()),
                _ => CheckpointSource::open(file, &resolved).map_err(|e| {
                    let kind = if e.kind() == &MapErrorKind::CheckpointNotFound {
                        TorchErrorKind::CheckpointNotFound
                    } else {
                        TorchErrorKind::Read
                    };
                    TorchError::python(kind, e.message()).with_file(file)
                })?,
            };
            let metas = src.tensors().to_vec();
            sources
                .opened
                .insert(file.to_string(), Opened::Tf(Box::new(src)));
            Ok(metas)
        };
        let plan = plan_rf_tf(&req.params, &cfg, &mut open)?;
        return Ok(TorchEnginePlan {
            engine,
            plan,
            sources,
            task,
            main_checkpoint: model,
            notes: sel.notes,
        });
    }
    let mut preload = Vec::new();
    for (k, v) in &items {
        preload.push((k.clone(), parse_torch_entry(k, v)?));
    }
    // T-FILE-1 (engine.py 1347-1349): `<model>.pt`, else the name as given.
    let main_file = model.as_ref().map(|m| {
        let with = format!("{m}{}", backend.model_postfix());
        if !fs.exists(&with) && fs.exists(m) {
            m.clone()
        } else {
            with
        }
    });
    let module_class = req.module_class.clone().unwrap_or_else(|| {
        if req.params.iter().any(|p| p.non_critical || p.aux) {
            "RFModuleAsPTModule".into()
        } else {
            "Module".into()
        }
    });
    let cfg = TorchLoadConfig {
        task: task.clone(),
        epoch: sel.epoch,
        main_file: main_file.clone(),
        start_epoch: sel.start_epoch,
        preload,
        module_class,
    };
    let mut opener = TorchOpener {
        fs: &fs,
        pt: req.pt,
        sources: TorchSources::default(),
    };
    let plan = plan_torch(&req.params, &cfg, &mut |f| opener.open(f))?;
    // init_train_from_config after _load_model: training (and eval) from start_epoch > 1
    // loads `<model>.<start_epoch-1>.opt.pt` (T-OPT-1).
    if let Some(s) = sel.start_epoch.filter(|&s| s > 1) {
        if matches!(task.as_str(), "train" | "eval") {
            let model_cfg = config.value("model", None)?.unwrap_or_default();
            let opt = format!(
                "{}.opt{}",
                epoch_model_filename(&model_cfg, (s - 1) as i64, false),
                backend.model_postfix()
            );
            if !fs.exists(&opt) {
                return Err(not_found(&opt).into());
            }
        }
    }
    Ok(TorchEnginePlan {
        engine,
        plan,
        sources: opener.sources,
        task,
        main_checkpoint: main_file,
        notes: sel.notes,
    })
}

/// Upper bound for a JSON target file (a module's parameter list; 1 GiB is hostile).
const MAX_TARGET_JSON: u64 = 1 << 30;

/// Loads the module's parameters: `*.json` -> [`torch_targets_from_json`] (read bounded), a
/// `.safetensors` / `.pt` file -> [`torch_targets_from_file`].
pub fn load_torch_targets(
    path: &Path,
    pt: Option<&dyn PtReader>,
) -> Result<Vec<TorchParam>, EngineError> {
    let err = |m: String| {
        EngineError::new(
            EngineErrorKind::Target,
            format!("target '{}': {m}", path.display()),
        )
    };
    if path.to_string_lossy().ends_with(".json") {
        use std::io::Read;
        let f = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
        let mut buf = Vec::new();
        f.take(MAX_TARGET_JSON + 1)
            .read_to_end(&mut buf)
            .map_err(|e| err(e.to_string()))?;
        if buf.len() as u64 > MAX_TARGET_JSON {
            return Err(err(format!(
                "larger than the {MAX_TARGET_JSON}-byte limit for a target list"
            )));
        }
        torch_targets_from_json(&buf, path)
    } else {
        torch_targets_from_file(path, pt)
    }
}

/// Reads a JSON target list: `{"variables": [{"name", "shape", "dtype", "non_critical",
/// "buffer", "aux", "tied_to"}]}` (`params` is accepted for `variables`), in `state_dict()`
/// order; `dtype` defaults to float32 and may carry a `torch.` prefix.
pub fn torch_targets_from_json(bytes: &[u8], path: &Path) -> Result<Vec<TorchParam>, EngineError> {
    let err = |m: String| {
        EngineError::new(
            EngineErrorKind::Target,
            format!("target '{}': {m}", path.display()),
        )
    };
    let v: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| err(format!("invalid JSON: {e}")))?;
    let list = v
        .get("variables")
        .or_else(|| v.get("params"))
        .and_then(|l| l.as_array())
        .ok_or_else(|| err("expected an object with a \"variables\" list".into()))?;
    let mut out = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let name = item
            .get("name")
            .and_then(|n| n.as_str())
            .ok_or_else(|| err(format!("variables[{i}]: missing string \"name\"")))?;
        let dn = item
            .get("dtype")
            .and_then(|d| d.as_str())
            .unwrap_or("float32");
        let dtype = DType::from_name(dn.strip_prefix("torch.").unwrap_or(dn))
            .ok_or_else(|| err(format!("variables[{i}] ({name}): unknown dtype '{dn}'")))?;
        let shape = item
            .get("shape")
            .and_then(|s| s.as_array())
            .ok_or_else(|| err(format!("variables[{i}] ({name}): missing \"shape\" list")))?
            .iter()
            .map(|d| d.as_u64())
            .collect::<Option<Vec<u64>>>()
            .ok_or_else(|| {
                err(format!(
                    "variables[{i}] ({name}): shape must hold non-negative integers"
                ))
            })?;
        let flag = |k: &str| item.get(k).and_then(|b| b.as_bool()).unwrap_or(false);
        let mut p = TorchParam::new(name, dtype, shape);
        p.non_critical = flag("non_critical");
        p.buffer = flag("buffer");
        p.aux = flag("aux");
        p.tied_to = item
            .get("tied_to")
            .and_then(|t| t.as_str())
            .map(str::to_string);
        out.push(p);
    }
    Ok(out)
}

/// The parameters of a state-dict file (a RETURNN `.pt`'s `"model"`, or a flat safetensors
/// file), as a target: every tensor, in file order, no flags (a file cannot say which keys are
/// buffers or non-critical).
pub fn torch_targets_from_file(
    path: &Path,
    pt: Option<&dyn PtReader>,
) -> Result<Vec<TorchParam>, EngineError> {
    let file = path.to_string_lossy().into_owned();
    let root = if file.ends_with(".safetensors") {
        open_safetensors(path, &file)?.0
    } else {
        let reader = pt.ok_or_else(|| {
            unsupported(format!(
                "target '{file}': reading .pt files needs the .pt reader, which is not plugged in"
            ))
        })?;
        reader.open(path, &file)?.root().clone()
    };
    let dict = match root.get("model") {
        Some(StoredValue::Dict(d)) => d.clone(),
        _ => root,
    };
    Ok(dict
        .entries
        .iter()
        .filter_map(|(k, v)| match v {
            StoredValue::Tensor { dtype, shape } => {
                Some(TorchParam::new(k.clone(), *dtype, shape.clone()))
            }
            _ => None,
        })
        .collect())
}

/// The parameters of an RF model saved by the TF engine (its checkpoint holds the RF names plus
/// `global_step` and `epoch`, tied params once, F-SAVE-1), as a target.
pub fn rf_tf_targets_from_checkpoint(path: &Path) -> Result<Vec<TorchParam>, EngineError> {
    let ckpt = tf_bundle::Checkpoint::open(path).map_err(|e| {
        EngineError::new(
            EngineErrorKind::Target,
            format!("target '{}': {e}", path.display()),
        )
    })?;
    Ok(ckpt
        .tensors()
        .iter()
        .filter(|t| t.name != "global_step" && t.name != "epoch")
        .map(|t| TorchParam::new(t.name.clone(), t.dtype, t.shape.clone()))
        .collect())
}
