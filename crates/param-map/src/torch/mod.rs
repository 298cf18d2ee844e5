//! RETURNN's model loading on its PyTorch engine (`returnn/torch/engine.py`, `_load_model`)
//! and for RF models on its TF engine (`returnn/tf/engine_rf.py`), as pure functions from the
//! module's parameters, the config's decisions and the key lists of the opened files to a
//! [`TorchPlan`] (docs/returnn-pytorch.md §2-§3).
//!
//! * [`plan_torch`]: the PyTorch engine. The main checkpoint first (`load_state_dict(strict=False)`),
//!   then `preload_from_files` in reversed sorted key order, each entry overwriting what came
//!   before; `init_for_train` (`False` / `True` / `"always"`), `filename: None` with `pattern`
//!   or `prefix`, `checkpoint_key`, `prefix` prepended to checkpoint keys, `ignore_params*` on
//!   the prefixed names, `var_name_mapping` (pop / insert), `ignore_missing`; non-critical
//!   params dropped from the missing set; one missing-key exception at the end. torch's own
//!   rules inside `load_state_dict` are modelled too: size mismatches, the 0.3-era `[1]` -> `[]`
//!   squeeze, the BatchNorm `num_batches_tracked` default for state dicts without version
//!   metadata, the dtype cast of `copy_`, tied parameters sharing one value.
//! * [`plan_rf_tf`]: RF models on the TF engine: the main checkpoint restored with TF's Saver
//!   (every param outside non-critical ones and the preload prefixes must be there), then the
//!   preload entries (only `filename`, `prefix`, `ignore_missing`) in sorted key order, each
//!   overwriting: the alphabetically last entry wins there (unlike the PyTorch engine), in
//!   every task, training included.
//!
//! Rule ids (T-... for the PyTorch engine, F-... for RF on the TF engine) are cited in the code
//! and in `tests/torch_rules.rs`, one table-driven test per rule.
//!
//! Files are described by what `torch.load` / `safetensors.torch.load_file` return
//! ([`StoredDict`]), never opened here: the caller passes an opener. Tensor values are read
//! only by [`TorchAssignment::evaluate`].

mod cast;
mod error;
pub mod fnmatch;
mod planner;
pub mod pyrepr;
mod rf_tf;

use std::collections::BTreeMap;

use tf_bundle::DType;

pub use cast::torch_cast;
pub use error::{TorchError, TorchErrorKind};
pub use planner::plan_torch;
pub use rf_tf::{plan_rf_tf, RfTfConfig, RfTfEntry, RF_TF_SUPPORTED};

use crate::array::Array;
use crate::error::MapError;

/// A parameter or persistent buffer of the module, in `state_dict()` order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TorchParam {
    /// The state-dict key (`encoder.layers.0.weight`).
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<u64>,
    /// RF `non_critical_for_restore`: never counted as missing (T-NC-1).
    pub non_critical: bool,
    /// A registered tensor that is not a `torch.nn.Parameter` (a plain buffer): not in
    /// `named_parameters()`, and `init_for_train: "always"` fails on it (T-ALWAYS-3).
    pub buffer: bool,
    /// A `torch.nn.Parameter` registered as a buffer (RF auxiliary params such as batch-norm
    /// running statistics): not in `named_parameters()`, but freezable.
    pub aux: bool,
    /// Another (earlier) key naming the same tensor (weight tying): a copy into either sets
    /// both (T-TIED-1).
    pub tied_to: Option<String>,
}

impl TorchParam {
    /// A plain trainable parameter.
    pub fn new(name: impl Into<String>, dtype: DType, shape: Vec<u64>) -> TorchParam {
        TorchParam {
            name: name.into(),
            dtype,
            shape,
            non_critical: false,
            buffer: false,
            aux: false,
            tied_to: None,
        }
    }
}

/// A value stored in a checkpoint file, as far as loading looks at it.
#[derive(Clone, Debug, PartialEq)]
pub enum StoredValue {
    /// A tensor: dtype and shape.
    Tensor {
        dtype: DType,
        shape: Vec<u64>,
    },
    /// A dict with str keys (a state dict, `{"model": ...}`).
    Dict(StoredDict),
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    None,
    /// Anything else, by its Python type name (`list`, `tuple`, ...).
    Other(String),
}

impl StoredValue {
    /// Python's `type(x).__name__`.
    pub fn py_type(&self) -> &str {
        match self {
            StoredValue::Tensor { .. } => "Tensor",
            StoredValue::Dict(d) => {
                if d.ordered {
                    "OrderedDict"
                } else {
                    "dict"
                }
            }
            StoredValue::Int(_) => "int",
            StoredValue::Float(_) => "float",
            StoredValue::Str(_) => "str",
            StoredValue::Bool(_) => "bool",
            StoredValue::None => "NoneType",
            StoredValue::Other(t) => t,
        }
    }
}

/// A dict of a checkpoint file, keys in file order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StoredDict {
    pub entries: Vec<(String, StoredValue)>,
    /// The `_metadata` attribute torch's `state_dict()` attaches (module prefix -> `version`),
    /// pickled with the dict by `torch.save`; `None` for a plain dict (safetensors, or a
    /// `.pt` written without it).
    pub metadata: Option<BTreeMap<String, Option<i64>>>,
    /// An `OrderedDict` (only shown in type names).
    pub ordered: bool,
}

impl StoredDict {
    /// `d.get(key)`.
    pub fn get(&self, key: &str) -> Option<&StoredValue> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

/// An opened checkpoint file: the name the config gives and what loading it returns.
#[derive(Clone, Debug, PartialEq)]
pub struct TorchFile {
    /// As the config names it (shown in plans and messages).
    pub file: String,
    /// `torch.load(file)` (a RETURNN `.pt`: `{"model": ..., "epoch": ..., ...}`) or
    /// `safetensors.torch.load_file(file)` (flat: tensor name -> tensor).
    pub root: StoredDict,
}

/// `init_for_train` of a preload entry (T-IFT).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum InitForTrain {
    /// Absent or falsy: only when not training.
    #[default]
    Recog,
    /// `True`: only in the first training epoch.
    FirstEpoch,
    /// `"always"`: in every task and epoch; the loaded params are frozen afterwards.
    Always,
    /// Any other truthy value, by its Python repr and type name: a `ValueError`.
    Invalid { repr: String, type_name: String },
}

/// A `prefix` option: absent, given as `None`, or a string.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum PrefixOpt {
    #[default]
    Absent,
    None,
    Str(String),
}

impl PrefixOpt {
    /// `opts.get("prefix", "")` when truthy.
    pub fn truthy(&self) -> Option<&str> {
        match self {
            PrefixOpt::Str(s) if !s.is_empty() => Some(s),
            _ => None,
        }
    }
    /// `repr(opts.get("prefix", ""))`.
    pub fn repr(&self) -> String {
        match self {
            PrefixOpt::Absent => "''".into(),
            PrefixOpt::None => "None".into(),
            PrefixOpt::Str(s) => pyrepr::py_str(s),
        }
    }
}

/// `ignore_params`: a list (membership), or a str (Python's `in` is then a substring test).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IgnoreParams {
    List(Vec<String>),
    Substring(String),
}

impl Default for IgnoreParams {
    fn default() -> IgnoreParams {
        IgnoreParams::List(Vec::new())
    }
}

impl IgnoreParams {
    fn contains(&self, key: &str) -> bool {
        match self {
            IgnoreParams::List(l) => l.iter().any(|x| x == key),
            IgnoreParams::Substring(s) => s.contains(key),
        }
    }
}

/// One `preload_from_files` entry of the PyTorch engine, parsed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TorchPreloadOpts {
    /// `None` for `filename: None`.
    pub filename: Option<String>,
    pub init_for_train: InitForTrain,
    /// `pattern` (used only with `filename: None`), if given and not None.
    pub pattern: Option<String>,
    pub prefix: PrefixOpt,
    /// `checkpoint_key` (default `"model"`; `None` = the whole file).
    pub checkpoint_key: Option<String>,
    pub ignore_params: IgnoreParams,
    /// Prefixes (a str given in the config is iterated by character, as Python does).
    pub ignore_params_prefixes: Vec<String>,
    /// `{new_name: name_in_checkpoint}` in dict order.
    pub var_name_mapping: Vec<(String, String)>,
    pub ignore_missing: bool,
    /// A truthy `custom_missing_load_func` (a Python callable: not run here).
    pub custom_missing_load_func: bool,
    /// `str(opts)`, the entry dict as Python prints it (shown in the `filename: None`
    /// `ValueError`).
    pub opts_repr: String,
}

/// A `preload_from_files` entry: parsed options, or a value RETURNN's
/// `assert isinstance(opts, dict) and "filename" in opts` rejects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TorchPreloadEntry {
    Opts(Box<TorchPreloadOpts>),
    /// Not a dict, or a dict without `"filename"`.
    Invalid,
}

/// What the PyTorch engine's `_load_model` is given by the config and model selection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TorchLoadConfig {
    /// `config.value("task", "train")`.
    pub task: String,
    /// The epoch `get_epoch_model` returned (`Some(0)` for an `import_model_train_epoch1`).
    pub epoch: Option<u64>,
    /// The file `_load_model` opens for the selected model (`<model>.pt` if that exists, else
    /// the name as given, docs/returnn-pytorch.md §2), if a model was selected.
    pub main_file: Option<String>,
    /// The engine's `_start_epoch` (set by `init_train_from_config`: tasks train, eval, ...).
    pub start_epoch: Option<u64>,
    /// `preload_from_files` entries by key (any order; empty = none).
    pub preload: Vec<(String, TorchPreloadEntry)>,
    /// The module's class name, shown in torch's `Error(s) in loading state_dict for <cls>`
    /// (`RFModuleAsPTModule` for an RF model).
    pub module_class: String,
}

/// Final state of a parameter after loading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TorchStatus {
    /// A checkpoint value was copied in.
    Loaded,
    /// Loaded by an `init_for_train: "always"` entry (the value may come from a later entry):
    /// a non-persistent buffer afterwards, not trained and not saved (T-ALWAYS-2).
    Frozen,
    /// Keeps its initial (random) value and RETURNN does not complain.
    RandomInit,
    /// Absent from a checkpoint that was asked for it, excused (`ignore_missing`,
    /// non-critical); keeps its initial value.
    MissingIgnored,
}

impl TorchStatus {
    /// `loaded`, `frozen`, `random-init`, `missing-ignored`.
    pub fn label(self) -> &'static str {
        match self {
            TorchStatus::Loaded => "loaded",
            TorchStatus::Frozen => "frozen",
            TorchStatus::RandomInit => "random-init",
            TorchStatus::MissingIgnored => "missing-ignored",
        }
    }
}

/// Why a parameter without a value raised no error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InitReason {
    /// Nothing asked for it (no main checkpoint, outside every applied entry's prefix).
    NotRequested,
    /// Declared random by a `filename: None` entry (T-NONE-1).
    Declared { entry: String },
    /// Missing but non-critical for restore (T-NC-1).
    NonCritical,
    /// Missing in an entry with `ignore_missing` (T-MISS-3).
    IgnoreMissing { entry: String },
    /// torch's BatchNorm fills a missing `num_batches_tracked` with its own value when the
    /// state dict has no version-2 metadata for that module (T-BN-1).
    BatchNormCounter { entry: String },
}

impl InitReason {
    /// `not_requested`, `declared_random`, `non_critical`, `ignore_missing`,
    /// `batch_norm_counter`.
    pub fn label(&self) -> &'static str {
        match self {
            InitReason::NotRequested => "not_requested",
            InitReason::Declared { .. } => "declared_random",
            InitReason::NonCritical => "non_critical",
            InitReason::IgnoreMissing { .. } => "ignore_missing",
            InitReason::BatchNormCounter { .. } => "batch_norm_counter",
        }
    }
}

/// Where a parameter's value comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TorchAssignment {
    /// The parameter written.
    pub param: String,
    /// `load` for the main checkpoint, else the preload key.
    pub entry: String,
    /// The source file, as the config names it.
    pub file: String,
    /// The path of the tensor inside the file: `["model", "<key>"]` for a RETURNN `.pt` with
    /// the default `checkpoint_key`, `["<key>"]` for safetensors or `checkpoint_key: None`.
    pub path: Vec<String>,
    /// The key in the state dict the entry loaded (before prefix, ignore and mapping: the
    /// name in the file).
    pub key: String,
    pub source_dtype: DType,
    pub source_shape: Vec<u64>,
    /// The parameter's dtype and shape (the value is cast and, for a `[1]` source of a
    /// scalar, squeezed).
    pub dtype: DType,
    pub shape: Vec<u64>,
    /// How the value is converted to the parameter's dtype.
    pub cast: CastMode,
}

/// The dtype conversion applied when a source tensor's dtype differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CastMode {
    /// torch's `Tensor.copy_` ([`torch_cast`]): the PyTorch engine.
    TorchCopy,
    /// numpy's conversion of a fed value ([`Array::cast`]): RF preloads on the TF engine.
    NumpyFeed,
}

impl TorchAssignment {
    /// Whether `copy_` casts (another dtype).
    pub fn casts(&self) -> bool {
        self.source_dtype != self.dtype
    }

    /// Reads the source tensor from `src` and produces the value the parameter
    /// holds: cast as torch's `copy_` does ([`torch_cast`]), reshaped to the parameter's shape.
    pub fn evaluate(&self, src: &dyn StoredTensors) -> Result<Array, MapError> {
        let a = src
            .read(&self.file, &self.path)
            .map_err(|e| e.with_var(self.key.clone()).with_file(self.file.clone()))?;
        if a.shape != self.source_shape || a.dtype != self.source_dtype {
            return Err(MapError::new(
                crate::error::MapErrorKind::Read,
                format!(
                    "tensor '{}' read as {} {:?}, the file's key list said {} {:?}",
                    self.key, a.dtype, a.shape, self.source_dtype, self.source_shape
                ),
            )
            .with_var(self.key.clone())
            .with_file(self.file.clone()));
        }
        let a = match self.cast {
            CastMode::TorchCopy => torch_cast(a, self.dtype),
            CastMode::NumpyFeed => a.cast(self.dtype),
        }
        .map_err(|e| e.with_var(self.param.clone()).with_file(self.file.clone()))?;
        a.reshape(self.shape.clone())
    }
}

/// Reads tensors of opened checkpoint files (only [`TorchAssignment::evaluate`] calls it).
pub trait StoredTensors {
    /// The tensor at `path` (dict keys from the file's root) of `file` (as the config names
    /// it).
    fn read(&self, file: &str, path: &[String]) -> Result<Array, MapError>;
}

/// The plan for one parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TorchVarPlan {
    pub param: TorchParam,
    pub status: TorchStatus,
    /// Set iff the status is `Loaded` or `Frozen`.
    pub source: Option<TorchAssignment>,
    /// Set iff no value was loaded.
    pub reason: Option<InitReason>,
}

/// What happened to one `preload_from_files` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryReport {
    pub key: String,
    /// Whether the entry ran (its task / epoch condition held).
    pub applied: bool,
    /// Why it did or did not run (`init_for_train=False, task 'train'`, ...).
    pub reason: String,
}

/// The loading plan: per parameter in module order, plus what the engine decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TorchPlan {
    pub params: Vec<TorchVarPlan>,
    /// The entries in the order the engine processed them.
    pub entries: Vec<EntryReport>,
    /// The model epoch `_load_model` works with (before the increment in training).
    pub epoch: u64,
    /// `not epoch and task in (train, initialize_model)`.
    pub first_train_epoch: bool,
    /// Keys of the main checkpoint the module does not have (printed, not an error).
    pub unexpected: Vec<String>,
    /// RETURNN's log lines, shortened.
    pub notes: Vec<String>,
}

impl TorchPlan {
    /// The parameters that get a value, in module order.
    pub fn loaded(&self) -> impl Iterator<Item = &TorchAssignment> {
        self.params.iter().filter_map(|p| p.source.as_ref())
    }
}
