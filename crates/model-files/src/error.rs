//! Typed errors of the model-file rules, each kind with a stable snake_case label.

/// What went wrong. Each kind corresponds to one exception RETURNN raises (named in the doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SelectErrorKind {
    /// `start_epoch` is not `auto` and not an integer string (`ValueError: invalid literal for int()`).
    StartEpochNotInt,
    /// `start_epoch < 1` (`AssertionError`).
    StartEpochLessThanOne,
    /// `load` given, but neither `<L>.meta` nor `<L>` exists (`AssertionError`).
    LoadNotFound,
    /// `import_model_train_epoch1` given, but `<I>.meta` does not exist (`AssertionError`).
    ImportNotFound,
    /// `load_epoch` is typed but not an int, or a string `int()` rejects.
    LoadEpochNotInt,
    /// `load_epoch = None` (typed): `TypeError` comparing `None` with an int.
    LoadEpochNone,
    /// `num_epochs` is typed but not an int, or a string `int()` rejects.
    NumEpochsNotInt,
    /// `num_epochs = None` (typed): `TypeError`.
    NumEpochsNone,
    /// A positive `load_epoch` (without `load`) is not among the existing epochs (`AssertionError`).
    LoadEpochMissing,
    /// The model found for `load_epoch` reads as another epoch (via a `.meta` symlink) (`AssertionError`).
    LoadEpochSymlinkMismatch,
    /// pip: `start_epoch > 1` with a `load_epoch` that is not `start_epoch - 1` (`ValueError`).
    StartEpochInconsistent,
    /// `start_epoch > 1` continues from epoch `start_epoch - 1`, which does not exist (`KeyError`).
    StartEpochModelMissing,
    /// A file name with epoch 0 (`AssertionError`).
    EpochZero,
    /// A file name whose epoch does not fit in 64 bits (Python would accept it).
    EpochOverflow,
    /// A `.meta`/`.pt` symlink whose target lacks the extension (`AssertionError: strange? ...`).
    SymlinkWrongExtension,
    /// `start_batch` is not `auto` (`Exception: custom start_batch ... not supported`).
    StartBatchNotAuto,
    /// A config value could not be read (non-literal Python value, bad type, ...).
    Config,
    /// The backend in the config is not supported by this tool.
    BackendNotSupported,
    /// `backend` is not one RETURNN knows (`KeyError` in `BackendEngine.select_engine`).
    BackendUnknown,
    /// `cleanup_old_models` options are invalid (`AssertionError`).
    CleanupOptions,
    /// Cleanup needs scores, but the learning-rate file has none (`AssertionError`).
    CleanupNoScores,
    /// Cleanup would delete a TF checkpoint without `.index` (`AssertionError`).
    CleanupIndexMissing,
    /// `task = "eval"` without `load` needs `epoch` or `load_epoch` >= 0 (`AssertionError`).
    EvalEpochMissing,
    /// `task = "eval"`: `epoch` and `load_epoch` differ (`AssertionError`).
    EvalEpochMismatch,
    /// `epoch` is typed but not an int, or a string `int()` rejects.
    EpochNotInt,
    /// `epoch = None` (typed), compared with an int (`TypeError`).
    EpochNone,
}

impl SelectErrorKind {
    /// Every kind (for the test that lists every label).
    pub const ALL: &'static [SelectErrorKind] = &[
        SelectErrorKind::StartEpochNotInt,
        SelectErrorKind::StartEpochLessThanOne,
        SelectErrorKind::LoadNotFound,
        SelectErrorKind::ImportNotFound,
        SelectErrorKind::LoadEpochNotInt,
        SelectErrorKind::LoadEpochNone,
        SelectErrorKind::NumEpochsNotInt,
        SelectErrorKind::NumEpochsNone,
        SelectErrorKind::LoadEpochMissing,
        SelectErrorKind::LoadEpochSymlinkMismatch,
        SelectErrorKind::StartEpochInconsistent,
        SelectErrorKind::StartEpochModelMissing,
        SelectErrorKind::EpochZero,
        SelectErrorKind::EpochOverflow,
        SelectErrorKind::SymlinkWrongExtension,
        SelectErrorKind::StartBatchNotAuto,
        SelectErrorKind::Config,
        SelectErrorKind::BackendNotSupported,
        SelectErrorKind::BackendUnknown,
        SelectErrorKind::CleanupOptions,
        SelectErrorKind::CleanupNoScores,
        SelectErrorKind::CleanupIndexMissing,
        SelectErrorKind::EvalEpochMissing,
        SelectErrorKind::EvalEpochMismatch,
        SelectErrorKind::EpochNotInt,
        SelectErrorKind::EpochNone,
    ];

    /// Stable label (used as `"kind"` in JSON output).
    pub fn label(&self) -> &'static str {
        match self {
            SelectErrorKind::StartEpochNotInt => "start_epoch_not_int",
            SelectErrorKind::StartEpochLessThanOne => "start_epoch_lt_1",
            SelectErrorKind::LoadNotFound => "load_not_found",
            SelectErrorKind::ImportNotFound => "import_not_found",
            SelectErrorKind::LoadEpochNotInt => "load_epoch_not_int",
            SelectErrorKind::LoadEpochNone => "load_epoch_none",
            SelectErrorKind::NumEpochsNotInt => "num_epochs_not_int",
            SelectErrorKind::NumEpochsNone => "num_epochs_none",
            SelectErrorKind::LoadEpochMissing => "load_epoch_missing",
            SelectErrorKind::LoadEpochSymlinkMismatch => "load_epoch_symlink_mismatch",
            SelectErrorKind::StartEpochInconsistent => "start_epoch_inconsistent",
            SelectErrorKind::StartEpochModelMissing => "start_epoch_model_missing",
            SelectErrorKind::EpochZero => "epoch_zero_in_filename",
            SelectErrorKind::EpochOverflow => "epoch_overflow",
            SelectErrorKind::SymlinkWrongExtension => "symlink_wrong_ext",
            SelectErrorKind::StartBatchNotAuto => "start_batch_not_auto",
            SelectErrorKind::Config => "config_value",
            SelectErrorKind::BackendNotSupported => "backend_not_supported",
            SelectErrorKind::BackendUnknown => "backend_unknown",
            SelectErrorKind::CleanupOptions => "cleanup_options",
            SelectErrorKind::CleanupNoScores => "cleanup_no_scores",
            SelectErrorKind::CleanupIndexMissing => "cleanup_index_missing",
            SelectErrorKind::EvalEpochMissing => "eval_epoch_missing",
            SelectErrorKind::EvalEpochMismatch => "eval_epoch_mismatch",
            SelectErrorKind::EpochNotInt => "epoch_not_int",
            SelectErrorKind::EpochNone => "epoch_none",
        }
    }

    /// The Python exception type RETURNN raises for this kind.
    pub fn python_exception(&self) -> &'static str {
        match self {
            SelectErrorKind::StartEpochNotInt | SelectErrorKind::StartEpochInconsistent => {
                "ValueError"
            }
            SelectErrorKind::LoadEpochNone
            | SelectErrorKind::NumEpochsNone
            | SelectErrorKind::EpochNone => "TypeError",
            SelectErrorKind::StartEpochModelMissing | SelectErrorKind::BackendUnknown => "KeyError",
            SelectErrorKind::StartBatchNotAuto => "Exception",
            SelectErrorKind::EpochOverflow
            | SelectErrorKind::Config
            | SelectErrorKind::BackendNotSupported => "NotSupported",
            _ => "AssertionError",
        }
    }
}

/// An error of model selection / path parsing: a kind and a message that says what was
/// expected and what was found (prefixed with the Python exception RETURNN raises).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct SelectError {
    kind: SelectErrorKind,
    message: String,
}

impl SelectError {
    pub(crate) fn new(kind: SelectErrorKind, message: impl Into<String>) -> SelectError {
        SelectError {
            kind,
            message: message.into(),
        }
    }
    pub fn kind(&self) -> &SelectErrorKind {
        &self.kind
    }
    /// Stable label of the kind, e.g. `load_epoch_not_int`.
    pub fn kind_label(&self) -> &'static str {
        self.kind.label()
    }
    pub fn message(&self) -> &str {
        &self.message
    }
}
