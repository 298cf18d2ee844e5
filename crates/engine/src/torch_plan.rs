//! The config side of RETURNN's PyTorch-engine model loading (and of RF models on the TF
//! engine): parses `preload_from_files` the PyTorch way, picks the main checkpoint with
//! model-files' selection for the engine's backend, opens the sources' key lists and calls
//! [`param_map::torch::plan_torch`] / [`param_map::torch::plan_rf_tf`].
//!
//! Files: `.safetensors` through the `safetensors` crate (header only, validated first, as
//! `safetensors.torch.load_file` reads them), TF checkpoints through tf-bundle (RF models on
//! the TF engine), `.pt` through torch-pt (the weights-only unpickler: nothing in the file is
//! executed; tensors are read CRC-checked, one at a time, only when a value is computed). Every
//! path in the config is relative to RETURNN's working directory, given explicitly as `base`.
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

use crate::error::{Error, ErrorKind};
use crate::source::CheckpointSource;

impl From<TorchError> for Error {
    fn from(e: TorchError) -> Error {
        let mut out = Error::new(ErrorKind::Torch(e.kind()), e.to_string());
        if let Some(f) = e.file() {
            out = out.with_path(f);
        }
        if let Some(k) = e.key() {
            out = out.with_key(k);
        }
        out
    }
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
pub fn check_get_model(config: &Config) -> Result<(), Error> {
    match config.get("get_model") {
        Some(Value::Unsupported(_)) => Ok(()),
        Some(v) if v.truthy() == Some(true) => Err(Error::new(
            ErrorKind::GetModelNotCallable,
            format!("TypeError: '{}' object is not callable", v.type_name()),
        )),
        _ => Err(Error::new(
            ErrorKind::NoGetModel,
            "AssertionError: get_model not defined in config",
        )),
    }
}

/// The engine whose loading rules apply to `config` (`backend`, see the module docs).
pub fn load_engine(config: &Config) -> Result<LoadEngine, Error> {
    Ok(match Engine::from_config(config)? {
        Engine::Torch => LoadEngine::Torch,
        Engine::TensorFlowRf => LoadEngine::RfTf,
        Engine::TensorFlowNetDict => LoadEngine::NetDict,
    })
}

fn unsupported(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Unsupported, msg)
}

fn config_value_err(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::ConfigValue, msg)
}

fn str_list(v: &Value, what: &str) -> Result<Vec<String>, Error> {
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

fn truthy(v: &Value, what: &str) -> Result<bool, Error> {
    v.truthy()
        .ok_or_else(|| unsupported(format!("{what}: a non-literal Python value")))
}

fn prefix_opt(v: Option<&Value>, what: &str) -> Result<PrefixOpt, Error> {
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
fn preload_items(config: &Config) -> Result<Vec<(String, &Value)>, Error> {
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
pub fn parse_torch_entry(key: &str, opts: &Value) -> Result<TorchPreloadEntry, Error> {
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
pub fn parse_rf_tf_entry(key: &str, opts: &Value) -> Result<RfTfEntry, Error> {
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
    Pt {
        file: Box<torch_pt::PtFile>,
        root: StoredDict,
    },
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

    /// The root dict of an opened `.pt` or safetensors file (what `torch.load` returns).
    pub fn root(&self, file: &str) -> Option<&StoredDict> {
        match self.opened.get(file)? {
            Opened::Pt { root, .. } | Opened::Safetensors { root, .. } => Some(root),
            Opened::Tf(_) => None,
        }
    }
}

fn read_err(file: &str, msg: impl Into<String>) -> MapError {
    MapError::new(MapErrorKind::Read, msg).with_file(file)
}

/// torch-pt's dtype as tf-bundle's (the names agree: `float32`, `bfloat16`, `bool`, ...).
fn pt_dtype(d: torch_pt::DType) -> Option<DType> {
    DType::from_name(d.name())
}

/// tf-bundle's dtype as torch-pt's, for the `.pt` writer.
pub(crate) fn to_pt_dtype(d: DType) -> Option<torch_pt::DType> {
    torch_pt::DType::from_name(d.name())
}

/// The tensor at `path` (string keys from the root) of an opened `.pt`.
fn pt_tensor_at(root: &torch_pt::Value, path: &[String]) -> Option<torch_pt::TensorInfo> {
    let mut v = root;
    for seg in path {
        v = v.as_dict()?.get(seg)?;
    }
    v.as_tensor().cloned()
}

impl StoredTensors for TorchSources {
    fn read(&self, file: &str, path: &[String]) -> Result<Array, MapError> {
        let o = self
            .opened
            .get(file)
            .ok_or_else(|| read_err(file, format!("checkpoint '{file}' is not open")))?;
        let key = path.join(".");
        match o {
            Opened::Pt { file: pt, .. } => {
                let info = pt_tensor_at(pt.root(), path)
                    .ok_or_else(|| read_err(file, format!("no tensor at {key}")))?;
                let dtype = pt_dtype(info.dtype).ok_or_else(|| {
                    read_err(file, format!("tensor '{key}': dtype {}", info.dtype))
                })?;
                let shape = info.shape.clone();
                let named = torch_pt::NamedTensor {
                    name: key.clone(),
                    path: torch_pt::TensorPath(
                        path.iter().cloned().map(torch_pt::PathSeg::Key).collect(),
                    ),
                    info,
                };
                let data = pt
                    .read(&named)
                    .map_err(|e| read_err(file, e.to_string()).with_var(key.clone()))?;
                Array::new(dtype, shape, data).map_err(|e| e.with_var(key).with_file(file))
            }
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

/// What `torch.load` returns for a value of `data.pkl`, as far as loading looks at it.
fn stored_value(v: &torch_pt::Value) -> StoredValue {
    use torch_pt::Value as V;
    match v {
        V::Tensor(t) => match pt_dtype(t.dtype) {
            Some(dtype) => StoredValue::Tensor {
                dtype,
                shape: t.shape.clone(),
            },
            None => StoredValue::Other("Tensor".into()),
        },
        V::Dict(d) => StoredValue::Dict(stored_dict(d)),
        V::Int(i) => StoredValue::Int(*i),
        V::Float(f) => StoredValue::Float(*f),
        V::Str(s) => StoredValue::Str(s.clone()),
        V::Bool(b) => StoredValue::Bool(*b),
        V::None => StoredValue::None,
        V::BigInt(_) => StoredValue::Other("int".into()),
        V::Complex(..) => StoredValue::Other("complex".into()),
        V::Bytes(_) => StoredValue::Other("bytes".into()),
        V::Tuple(_) => StoredValue::Other("tuple".into()),
        V::List(_) => StoredValue::Other("list".into()),
        V::Set(_) => StoredValue::Other("set".into()),
        V::Dtype(_) => StoredValue::Other("dtype".into()),
        V::Device(_) => StoredValue::Other("device".into()),
        V::Global(_) => StoredValue::Other("type".into()),
    }
}

/// A mapping of `data.pkl` with its `_metadata` attribute (what `state_dict()` attaches:
/// module prefix -> `{"version": N}`, read by torch's BatchNorm rule T-BN-1). Non-str keys are
/// shown by their repr (RETURNN only looks up str keys).
fn stored_dict(d: &torch_pt::Dict) -> StoredDict {
    let entries = d
        .items
        .iter()
        .map(|(k, v)| {
            let key = match k {
                torch_pt::Value::Str(s) => s.clone(),
                other => torch_pt::value::repr(other),
            };
            (key, stored_value(v))
        })
        .collect();
    let metadata = d.attrs.iter().find_map(|(k, v)| {
        if k.as_str() != Some("_metadata") {
            return None;
        }
        let m = v.as_dict()?;
        Some(
            m.items
                .iter()
                .filter_map(|(k, v)| {
                    let version = v.as_dict().and_then(|x| x.get("version")?.as_i64());
                    Some((k.as_str()?.to_string(), version))
                })
                .collect::<BTreeMap<_, _>>(),
        )
    });
    StoredDict {
        entries,
        metadata,
        ordered: d.kind == torch_pt::DictKind::OrderedDict,
    }
}

/// Opens a `.pt` with torch-pt (weights-only rules: nothing executed) as `torch.load` sees it.
fn open_pt(path: &Path, file: &str) -> Result<(StoredDict, Opened), TorchError> {
    let pt = torch_pt::PtFile::open(path).map_err(|e| {
        TorchError::python(
            TorchErrorKind::Read,
            format!("{file}: {} ({})", e, e.kind().label()),
        )
        .with_file(file)
    })?;
    let root = match pt.root() {
        torch_pt::Value::Dict(d) => stored_dict(d),
        other => {
            return Err(TorchError::python(
                TorchErrorKind::Read,
                format!(
                    "{file}: torch.load gives a {}, not a dict (RETURNN expects a checkpoint dict)",
                    other.type_name()
                ),
            )
            .with_file(file))
        }
    };
    Ok((
        root.clone(),
        Opened::Pt {
            file: Box::new(pt),
            root,
        },
    ))
}

/// Opens files for the PyTorch engine (`_torch_load`).
struct TorchOpener<'a> {
    fs: &'a dyn Fs,
    base: &'a Path,
    sources: TorchSources,
}

impl TorchOpener<'_> {
    fn open(&mut self, file: &str) -> Result<TorchFile, TorchError> {
        let root = if let Some(o) = self.sources.opened.get(file) {
            match o {
                Opened::Pt { root, .. } | Opened::Safetensors { root, .. } => root.clone(),
                Opened::Tf(_) => {
                    return Err(TorchError::python(
                        TorchErrorKind::Unsupported,
                        format!("{file}: a TF checkpoint, which torch.load cannot read"),
                    ))
                }
            }
        } else {
            if !self.fs.exists(file) {
                return Err(not_found(file));
            }
            let path = crate::paths::resolve(self.base, file);
            // T-FILE-2: `_torch_load` picks the reader by the `.safetensors` suffix only.
            let (root, opened) = if file.ends_with(".safetensors") {
                open_safetensors(&path, file)?
            } else {
                open_pt(&path, file)?
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
    /// The epoch model selection gave (`get_epoch_model`; `Some(0)` for an import).
    pub selected_epoch: Option<u64>,
    /// The engine's epoch after `_load_model` (`engine.epoch`: the model's epoch, plus one
    /// when training continues from a checkpoint); `None` on the RF-on-TF engine.
    pub epoch: Option<u64>,
    /// The engine's global train step after `_load_model` (T-STEP-1); `None` on RF-on-TF.
    pub step: Option<u64>,
    /// The main checkpoint's stored `"step"` (`ckpt.get("step", 1)`), if it is an int.
    pub main_step: Option<u64>,
    /// Model selection's notes (`warning: ...`).
    pub notes: Vec<String>,
    /// The truthy `prefix` of each preload entry, by key.
    pub prefixes: BTreeMap<String, String>,
}

impl TorchEnginePlan {
    /// The `prefix` of preload entry `key` (None for `load` or an entry without one).
    pub fn entry_prefix(&self, key: &str) -> Option<&str> {
        self.prefixes.get(key).map(String::as_str)
    }

    /// Whether `a` and `b` are one tensor (T-TIED-1: `tied_to` chains lead to the same name).
    pub fn tied(&self, a: &TorchParam, b: &TorchParam) -> bool {
        self.tie_root(a) == self.tie_root(b)
    }

    /// The first name of `p`'s tie group (`p`'s own name when it is not tied).
    pub fn tie_root(&self, p: &TorchParam) -> String {
        {
            let mut name = p.name.clone();
            let mut cur = p.tied_to.clone();
            let mut steps = 0;
            while let Some(t) = cur {
                if steps > self.plan.params.len() {
                    break;
                }
                steps += 1;
                cur = self
                    .plan
                    .params
                    .iter()
                    .find(|q| q.param.name == t)
                    .and_then(|q| q.param.tied_to.clone());
                name = t;
            }
            name
        }
    }

    /// Computes every loaded value (in module order) and hands it to `sink`.
    pub fn for_each_value(
        &self,
        sink: &mut dyn FnMut(&param_map::torch::TorchAssignment, Array) -> Result<(), Error>,
    ) -> Result<(), Error> {
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
    /// Plan as at the start of a recorded run: the config's own model files are treated as
    /// absent (see [`crate::plan`]).
    pub fresh: bool,
}

/// Plans what RETURNN's engine for `req.config` (PyTorch, or RF on TF) loads into the module.
pub fn plan_torch_config(req: TorchPlanRequest<'_>) -> Result<TorchEnginePlan, Error> {
    let engine = load_engine(req.config)?;
    if engine == LoadEngine::NetDict {
        return Err(unsupported(
            "the TF net-dict engine's loading is planned by engine::plan, not by the torch rules",
        ));
    }
    check_get_model(req.config)?;
    let real = RealFs::in_dir(req.base);
    let fresh_fs;
    let fs: &dyn Fs = if req.fresh {
        let model = req.config.value("model", None)?.unwrap_or_default();
        fresh_fs = crate::tf_plan::FreshFs::new(model, RealFs::in_dir(req.base));
        &fresh_fs
    } else {
        &real
    };
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
    let sel = get_epoch_model_with(config, fs, backend)?;
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
            let resolved = crate::paths::resolve(req.base, &pattern)
                .to_string_lossy()
                .into_owned();
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
        let prefixes = cfg
            .preload
            .iter()
            .filter_map(|(k, e)| match e {
                RfTfEntry::Opts { prefix, .. } => Some((k.clone(), prefix.truthy()?.to_string())),
                _ => None,
            })
            .collect();
        return Ok(TorchEnginePlan {
            prefixes,
            engine,
            plan,
            sources,
            task,
            main_checkpoint: model,
            selected_epoch: sel.epoch,
            epoch: None,
            step: None,
            main_step: None,
            notes: sel.notes,
        });
    }
    let mut preload = Vec::new();
    for (k, v) in &items {
        preload.push((k.clone(), parse_torch_entry(k, v)?));
    }
    let prefixes = preload
        .iter()
        .filter_map(|(k, e)| match e {
            TorchPreloadEntry::Opts(o) => Some((k.clone(), o.prefix.truthy()?.to_string())),
            TorchPreloadEntry::Invalid => None,
        })
        .collect();
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
        fs,
        base: req.base,
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
    // T-STEP-1 (engine.py 1352-1358, 1571-1576): the step is `ckpt.get("step", 1) - 1`, plus
    // one again in training; 0 without a checkpoint. The epoch is incremented likewise.
    let training = task == "train";
    let stored = main_file.as_ref().and_then(|f| {
        opener.sources.root(f).and_then(|r| match r.get("step") {
            None => Some(1),
            Some(StoredValue::Int(s)) => Some(*s),
            Some(_) => None,
        })
    });
    let (epoch, step) = match &main_file {
        Some(_) => (
            plan.epoch + u64::from(training),
            stored.map(|s| (s - 1 + i64::from(training)).max(0) as u64),
        ),
        None => (plan.epoch, Some(0)),
    };
    Ok(TorchEnginePlan {
        engine,
        plan,
        sources: opener.sources,
        task,
        main_checkpoint: main_file,
        selected_epoch: sel.epoch,
        epoch: Some(epoch),
        step,
        main_step: stored.map(|s| s.max(0) as u64),
        notes: sel.notes,
        prefixes,
    })
}

/// Upper bound for a JSON target file (a module's parameter list; 1 GiB is hostile).
const MAX_TARGET_JSON: u64 = 1 << 30;

/// A module's parameters as a target of the torch engines.
#[derive(Clone, Debug, Default)]
pub struct TorchTargets {
    /// In `state_dict()` order.
    pub params: Vec<TorchParam>,
    /// The module class a JSON target list names (`"module_class"`), for torch's messages.
    pub module_class: Option<String>,
}

/// Loads the module's parameters: `*.json` -> [`torch_targets_from_json`] (read bounded), a
/// `.safetensors` / `.pt` file -> [`torch_targets_from_file`], anything else is read as a TF
/// checkpoint (an RF model saved by the TF engine: [`rf_tf_targets_from_checkpoint`]).
pub fn load_torch_targets(path: &Path) -> Result<TorchTargets, Error> {
    let err = |m: String| {
        Error::new(
            ErrorKind::Target,
            format!("target '{}': {m}", path.display()),
        )
    };
    let name = path.to_string_lossy();
    if name.ends_with(".json") {
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
        let params = torch_targets_from_json(&buf, path)?;
        let module_class = serde_json::from_slice::<serde_json::Value>(&buf)
            .ok()
            .and_then(|v| v.get("module_class")?.as_str().map(str::to_string));
        return Ok(TorchTargets {
            params,
            module_class,
        });
    }
    let params = if name.ends_with(".safetensors") || name.ends_with(".pt") || is_zip(path) {
        torch_targets_from_file(path)?
    } else {
        rf_tf_targets_from_checkpoint(path)?
    };
    Ok(TorchTargets {
        params,
        module_class: None,
    })
}

/// Whether the file starts with a ZIP local header (a `.pt` under another name).
fn is_zip(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == *b"PK\x03\x04"
}

/// Reads a JSON target list: `{"variables": [{"name", "shape", "dtype", "non_critical",
/// "buffer", "aux", "tied_to"}]}` (`params` is accepted for `variables`), in `state_dict()`
/// order; `dtype` defaults to float32 and may carry a `torch.` prefix.
pub fn torch_targets_from_json(bytes: &[u8], path: &Path) -> Result<Vec<TorchParam>, Error> {
    let err = |m: String| {
        Error::new(
            ErrorKind::Target,
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

/// The parameters of a state-dict file (a RETURNN `.pt`'s `"model"`, or a flat safetensors /
/// `.pt` file), as a target: every tensor, in file order. A `.pt` key whose tensor is the
/// same view of the same storage as an earlier key's is tied to it (T-TIED-1: one tensor
/// under two names, as `torch.save` stores a tied weight); a file cannot say which keys are
/// buffers or non-critical.
pub fn torch_targets_from_file(path: &Path) -> Result<Vec<TorchParam>, Error> {
    let file = path.to_string_lossy().into_owned();
    let target_err = |e: TorchError| {
        Error::new(
            ErrorKind::Target,
            format!("target '{file}': {}", e.message()),
        )
        .with_path(path)
    };
    if file.ends_with(".safetensors") {
        let root = open_safetensors(path, &file).map_err(target_err)?.0;
        return Ok(root
            .entries
            .iter()
            .filter_map(|(k, v)| match v {
                StoredValue::Tensor { dtype, shape } => {
                    Some(TorchParam::new(k.clone(), *dtype, shape.clone()))
                }
                _ => None,
            })
            .collect());
    }
    let pt = torch_pt::PtFile::open(path).map_err(|e| {
        Error::new(ErrorKind::Target, format!("target '{file}': {e}")).with_path(path)
    })?;
    let sd = pt.state_dict().map_err(|e| {
        Error::new(ErrorKind::Target, format!("target '{file}': {e}")).with_path(path)
    })?;
    let mut out: Vec<TorchParam> = Vec::with_capacity(sd.tensors.len());
    for t in &sd.tensors {
        let dtype = pt_dtype(t.info.dtype).ok_or_else(|| {
            Error::new(
                ErrorKind::Target,
                format!(
                    "target '{file}': tensor '{}' has dtype {}",
                    t.name, t.info.dtype
                ),
            )
            .with_key(t.name.clone())
        })?;
        let mut p = TorchParam::new(t.name.clone(), dtype, t.info.shape.clone());
        p.tied_to = sd
            .tensors
            .iter()
            .take_while(|u| u.name != t.name)
            .find(|u| {
                u.info.storage.key == t.info.storage.key
                    && u.info.storage_offset == t.info.storage_offset
                    && u.info.shape == t.info.shape
                    && u.info.stride == t.info.stride
            })
            .map(|u| u.name.clone());
        out.push(p);
    }
    Ok(out)
}

/// The parameters of an RF model saved by the TF engine (its checkpoint holds the RF names plus
/// `global_step` and `epoch`, tied params once, F-SAVE-1), as a target.
pub fn rf_tf_targets_from_checkpoint(path: &Path) -> Result<Vec<TorchParam>, Error> {
    let ckpt = tf_bundle::Checkpoint::open(path).map_err(|e| {
        Error::new(
            ErrorKind::Target,
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
