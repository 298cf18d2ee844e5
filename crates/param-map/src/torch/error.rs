//! Errors of the PyTorch-engine and RF-on-TF-engine loading rules: one [`TorchErrorKind`] per
//! exception RETURNN (or torch inside it) raises, with a stable snake_case label, and the
//! exception text as RETURNN prints it (`Type: message`).

use std::fmt;

/// What went wrong, with a stable label ([`TorchErrorKind::label`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TorchErrorKind {
    /// `Exception("While loading model ...: ... Missing key(s) in state_dict: ... Any missing
    /// key is an error.")` at the end of `_load_model` (rule T-MISS-1).
    MissingKeys,
    /// torch's `RuntimeError("Error(s) in loading state_dict for <Module>: ...")`: a size
    /// mismatch (or a value that is not a tensor) for a key the module has (T-SHAPE-1).
    SizeMismatch,
    /// `Exception("No keys with prefix '<p>' found in model. ...")` (T-PREFIX-3).
    NoPrefixKeysInModel,
    /// `Exception("No keys with prefix '<p>' found in preload model state. ...")` (T-PREFIX-4).
    NoPrefixKeysInState,
    /// `KeyError: 'model'`: the entry's `checkpoint_key` is not a key of the file (T-CKEY-2).
    CheckpointKeyMissing,
    /// `AttributeError: '<type>' object has no attribute 'keys'`: the value that should be a
    /// state dict is a tensor or a scalar (T-CKEY-4).
    NotADict,
    /// `KeyError: '<name>'`: a `var_name_mapping` value is not a key of the (prefixed,
    /// filtered) state (T-VNM-2).
    VarNameMappingMissing,
    /// `ValueError("preload key <k>: invalid init_for_train value ...")` (T-IFT-4).
    InvalidInitForTrain,
    /// `ValueError("preload key <k> without file ...: no pattern or prefix given")` (T-NONE-3).
    NoPatternOrPrefix,
    /// The bare `AssertionError` of an entry that is not a dict or has no `"filename"` key
    /// (T-ENTRY-1).
    PreloadEntryInvalid,
    /// `ValueError("<name> is not a torch.nn.Parameter, got type Tensor")`: an
    /// `init_for_train: "always"` entry reaches a registered buffer (T-ALWAYS-3).
    NotAParameter,
    /// A checkpoint file cannot be opened because it does not exist (`FileNotFoundError`, TF's
    /// `NotFoundError` / `ValueError` on the TF engine).
    CheckpointNotFound,
    /// A checkpoint file exists but could not be read (corrupt, truncated, not a checkpoint).
    Read,
    /// A RETURNN feature this tool cannot reproduce (Python callables such as
    /// `custom_missing_load_func`, values it cannot evaluate).
    Unsupported,
    /// RF on the TF engine: `AssertionError("preload_from_files['<k>']: options [...] not
    /// implemented on the TF engine (supported: [...])")` (F-OPT-1).
    PreloadOptionNotImplemented,
    /// RF on the TF engine: `AssertionError("preload_from_files['<k>']: no model params with
    /// prefix '<p>'")` (F-PREFIX-2).
    NoParamsWithPrefix,
    /// RF on the TF engine: `KeyError("preload_from_files['<k>']: '<src>' (for model param
    /// '<name>') not in <file> (set ignore_missing to skip)")` (F-MISS-1), or the `KeyError:
    /// 'filename'` of an entry without one (F-OPT-2).
    KeyNotInCheckpoint,
    /// RF on the TF engine: a preload tensor whose shape differs, `ValueError("checkpoint
    /// <name> has shape ..., model expects ...")` (F-SHAPE-1), or TF's `InvalidArgumentError`
    /// when the variable's run-time shape differs (F-SHAPE-2; the main restore raises nothing,
    /// F-MAIN-5).
    ShapeMismatch,
    /// RF on the TF engine: the main restore finds a dtype that differs (TF's Saver restores
    /// without conversion, F-MAIN-3).
    DtypeMismatch,
    /// RF on the TF engine: TF's Saver `NotFoundError` for a model param the main checkpoint
    /// lacks (F-MAIN-2).
    MissingVars,
    /// RF on the TF engine: `AssertionError("forward task: no checkpoint to load ...")`.
    NoCheckpoint,
    /// RF on the TF engine: TF's `ValueError("No variables to save")` when every param is
    /// non-critical or under a preload prefix, so the load-side Saver is empty (F-SAVER-2).
    NoVariablesToSave,
    /// A config value of a type RETURNN fails on (`TypeError`, `AttributeError` of a
    /// non-dict entry on the TF engine).
    ConfigValue,
}

impl TorchErrorKind {
    /// Every kind (for the test that lists every label).
    pub const ALL: &'static [TorchErrorKind] = &[
        TorchErrorKind::MissingKeys,
        TorchErrorKind::SizeMismatch,
        TorchErrorKind::NoPrefixKeysInModel,
        TorchErrorKind::NoPrefixKeysInState,
        TorchErrorKind::CheckpointKeyMissing,
        TorchErrorKind::NotADict,
        TorchErrorKind::VarNameMappingMissing,
        TorchErrorKind::InvalidInitForTrain,
        TorchErrorKind::NoPatternOrPrefix,
        TorchErrorKind::PreloadEntryInvalid,
        TorchErrorKind::NotAParameter,
        TorchErrorKind::CheckpointNotFound,
        TorchErrorKind::Read,
        TorchErrorKind::Unsupported,
        TorchErrorKind::PreloadOptionNotImplemented,
        TorchErrorKind::NoParamsWithPrefix,
        TorchErrorKind::KeyNotInCheckpoint,
        TorchErrorKind::ShapeMismatch,
        TorchErrorKind::DtypeMismatch,
        TorchErrorKind::MissingVars,
        TorchErrorKind::NoCheckpoint,
        TorchErrorKind::NoVariablesToSave,
        TorchErrorKind::ConfigValue,
    ];

    /// Stable short label, used as `"kind"` in JSON error output.
    pub fn label(self) -> &'static str {
        match self {
            TorchErrorKind::MissingKeys => "missing_keys",
            TorchErrorKind::SizeMismatch => "size_mismatch",
            TorchErrorKind::NoPrefixKeysInModel => "no_prefix_keys_in_model",
            TorchErrorKind::NoPrefixKeysInState => "no_prefix_keys_in_state",
            TorchErrorKind::CheckpointKeyMissing => "checkpoint_key_missing",
            TorchErrorKind::NotADict => "not_a_dict",
            TorchErrorKind::VarNameMappingMissing => "var_name_mapping_missing",
            TorchErrorKind::InvalidInitForTrain => "invalid_init_for_train",
            TorchErrorKind::NoPatternOrPrefix => "no_pattern_or_prefix",
            TorchErrorKind::PreloadEntryInvalid => "preload_entry_invalid",
            TorchErrorKind::NotAParameter => "not_a_parameter",
            TorchErrorKind::CheckpointNotFound => "checkpoint_not_found",
            TorchErrorKind::Read => "read_error",
            TorchErrorKind::Unsupported => "unsupported",
            TorchErrorKind::PreloadOptionNotImplemented => "preload_option_not_implemented",
            TorchErrorKind::NoParamsWithPrefix => "no_params_with_prefix",
            TorchErrorKind::KeyNotInCheckpoint => "key_not_found",
            TorchErrorKind::ShapeMismatch => "shape_mismatch",
            TorchErrorKind::DtypeMismatch => "dtype_mismatch",
            TorchErrorKind::MissingVars => "missing_vars",
            TorchErrorKind::NoCheckpoint => "no_checkpoint",
            TorchErrorKind::NoVariablesToSave => "no_variables_to_save",
            TorchErrorKind::ConfigValue => "config_value",
        }
    }

    /// The Python exception type RETURNN raises for this kind (as its traceback names it).
    pub fn python_exception(self) -> &'static str {
        match self {
            TorchErrorKind::MissingKeys
            | TorchErrorKind::NoPrefixKeysInModel
            | TorchErrorKind::NoPrefixKeysInState => "Exception",
            TorchErrorKind::SizeMismatch => "RuntimeError",
            TorchErrorKind::CheckpointKeyMissing
            | TorchErrorKind::VarNameMappingMissing
            | TorchErrorKind::KeyNotInCheckpoint => "KeyError",
            TorchErrorKind::NotADict => "AttributeError",
            TorchErrorKind::InvalidInitForTrain
            | TorchErrorKind::NoPatternOrPrefix
            | TorchErrorKind::NotAParameter
            | TorchErrorKind::NoVariablesToSave => "ValueError",
            TorchErrorKind::PreloadEntryInvalid
            | TorchErrorKind::PreloadOptionNotImplemented
            | TorchErrorKind::NoParamsWithPrefix
            | TorchErrorKind::NoCheckpoint => "AssertionError",
            TorchErrorKind::CheckpointNotFound => "FileNotFoundError",
            TorchErrorKind::ShapeMismatch => "ValueError",
            TorchErrorKind::DtypeMismatch => "InvalidArgumentError",
            TorchErrorKind::MissingVars => "NotFoundError",
            TorchErrorKind::ConfigValue => "TypeError",
            TorchErrorKind::Read | TorchErrorKind::Unsupported => "NotSupported",
        }
    }
}

/// A loading error: its kind, the exception text (`Type: message`, RETURNN's wording where
/// RETURNN raises), the checkpoint file and the parameter / key concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TorchError {
    kind: TorchErrorKind,
    message: String,
    file: Option<String>,
    key: Option<String>,
    entry: Option<String>,
}

impl TorchError {
    /// A new error; `message` is the full exception text (`KeyError: 'model'`).
    pub fn new(kind: TorchErrorKind, message: impl Into<String>) -> TorchError {
        TorchError {
            kind,
            message: message.into(),
            file: None,
            key: None,
            entry: None,
        }
    }

    /// `Type: text` with the kind's Python exception type (just `Type` for an empty text, as
    /// Python prints a bare `AssertionError`).
    pub fn python(kind: TorchErrorKind, text: impl AsRef<str>) -> TorchError {
        let text = text.as_ref();
        let exc = kind.python_exception();
        if text.is_empty() {
            TorchError::new(kind, exc)
        } else {
            TorchError::new(kind, format!("{exc}: {text}"))
        }
    }

    /// Attaches the checkpoint file (as the config names it), unless one is set.
    pub fn with_file(mut self, file: impl Into<String>) -> TorchError {
        if self.file.is_none() {
            self.file = Some(file.into());
        }
        self
    }

    /// Attaches the parameter or checkpoint key concerned, unless one is set.
    pub fn with_key(mut self, key: impl Into<String>) -> TorchError {
        if self.key.is_none() {
            self.key = Some(key.into());
        }
        self
    }

    /// Attaches the `preload_from_files` key (or `load`) being processed, unless one is set.
    pub fn with_entry(mut self, entry: impl Into<String>) -> TorchError {
        if self.entry.is_none() {
            self.entry = Some(entry.into());
        }
        self
    }

    pub fn kind(&self) -> TorchErrorKind {
        self.kind
    }

    /// The exception text (`Type: message`), exactly as RETURNN's where RETURNN raises.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn file(&self) -> Option<&str> {
        self.file.as_deref()
    }

    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    pub fn entry(&self) -> Option<&str> {
        self.entry.as_deref()
    }
}

impl fmt::Display for TorchError {
    /// The exception text, then what it concerns in parentheses (entry, key, file).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        let mut ctx = Vec::new();
        if let Some(e) = &self.entry {
            ctx.push(format!("entry '{e}'"));
        }
        if let Some(k) = &self.key {
            ctx.push(format!("key '{k}'"));
        }
        if let Some(p) = &self.file {
            ctx.push(format!("checkpoint '{p}'"));
        }
        if !ctx.is_empty() {
            write!(f, " ({})", ctx.join(", "))?;
        }
        Ok(())
    }
}

impl std::error::Error for TorchError {}
