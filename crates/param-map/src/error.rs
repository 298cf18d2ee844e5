//! Typed errors: one [`MapErrorKind`] per error RETURNN raises while loading parameters (plus a
//! few of our own), each with a stable short label for JSON output.

use std::fmt;

/// What went wrong, with a stable label ([`MapErrorKind::label`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MapErrorKind {
    /// `AssertionError("<loader>: no saveable vars")`: after the prefix and ignore filters no
    /// variable was left for a loader (docs/returnn-mapping.md R-CTOR-1).
    NoSaveableVars,
    /// `AssertionError("did not expect <var>")`: a variable does not start with `params_prefix`
    /// (docs/returnn-mapping.md R-NAME-4).
    ParamsPrefixMismatch,
    /// TF `NotFoundError("CustomCheckpointLoader. could_not_find_map_list: [...]")`: variables
    /// missing in the checkpoint with no mapping, and `ignore_missing` is off
    /// (docs/returnn-mapping.md R-MISS-1).
    MissingVars,
    /// TF `NotFoundError("Key <k> not found in checkpoint")`: a mapping (e.g. `var_name_mapping`,
    /// or a conversion input) names a key the checkpoint lacks (docs/returnn-mapping.md R-MAP-4).
    KeyNotFound,
    /// Python `KeyError('<name>')`: a non-critical variable absent from the checkpoint without
    /// `ignore_missing` on the slow path (docs/returnn-mapping.md R-NC-2).
    NonCriticalMissing,
    /// `AssertionError("no vars to load; ...")`: the slow path resolved nothing
    /// (docs/returnn-mapping.md R-MISS-4).
    NoVarsToLoad,
    /// TF `ValueError("Cannot feed value of shape ...")`: the value for a variable has another
    /// shape (docs/returnn-mapping.md R-SHAPE-1/2). RETURNN fails late, at assignment; we fail in
    /// the plan.
    ShapeMismatch,
    /// An assertion inside an automatic conversion (LSTM / CuDNN shapes that do not fit).
    ConversionFailed,
    /// A value cannot be converted to the variable's dtype (strings, complex, ...).
    DtypeMismatch,
    /// TF `NotFoundError("Unsuccessful TensorSliceReader constructor: Failed to find any
    /// matching files for <path>")`: the checkpoint does not exist.
    CheckpointNotFound,
    /// A layer's `custom_param_importer` raised (unknown mode, a checkpoint key that is not a
    /// param of the layer).
    ImporterFailed,
    /// Reading a source tensor failed (corrupt file, CRC, ...).
    Read,
    /// A feature RETURNN has but this tool cannot reproduce without Python (callables,
    /// `custom_param_importer`, ...).
    Unsupported,
}

impl MapErrorKind {
    /// Every kind (for the test that lists every label).
    pub const ALL: &'static [MapErrorKind] = &[
        MapErrorKind::NoSaveableVars,
        MapErrorKind::ParamsPrefixMismatch,
        MapErrorKind::MissingVars,
        MapErrorKind::KeyNotFound,
        MapErrorKind::NonCriticalMissing,
        MapErrorKind::NoVarsToLoad,
        MapErrorKind::ShapeMismatch,
        MapErrorKind::ConversionFailed,
        MapErrorKind::DtypeMismatch,
        MapErrorKind::CheckpointNotFound,
        MapErrorKind::ImporterFailed,
        MapErrorKind::Read,
        MapErrorKind::Unsupported,
    ];

    /// Stable short label, used as `"kind"` in JSON error output.
    pub fn label(&self) -> &'static str {
        match self {
            MapErrorKind::NoSaveableVars => "no_saveable_vars",
            MapErrorKind::ParamsPrefixMismatch => "params_prefix_mismatch",
            MapErrorKind::MissingVars => "missing_vars",
            MapErrorKind::KeyNotFound => "key_not_found",
            MapErrorKind::NonCriticalMissing => "non_critical_missing",
            MapErrorKind::NoVarsToLoad => "no_vars_to_load",
            MapErrorKind::ShapeMismatch => "shape_mismatch",
            MapErrorKind::ConversionFailed => "conversion_failed",
            MapErrorKind::DtypeMismatch => "dtype_mismatch",
            MapErrorKind::CheckpointNotFound => "checkpoint_not_found",
            MapErrorKind::ImporterFailed => "importer_failed",
            MapErrorKind::Read => "read_error",
            MapErrorKind::Unsupported => "unsupported",
        }
    }
}

/// A mapping error: kind, the message (RETURNN's wording where RETURNN has one, extended with
/// what was expected and found), the checkpoint file and the variable / key concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapError {
    kind: MapErrorKind,
    message: String,
    file: Option<String>,
    var: Option<String>,
}

impl MapError {
    /// A new error of `kind` with `message`.
    pub fn new(kind: MapErrorKind, message: impl Into<String>) -> MapError {
        MapError {
            kind,
            message: message.into(),
            file: None,
            var: None,
        }
    }

    /// Attaches the checkpoint file (as given in the config).
    pub fn with_file(mut self, file: impl Into<String>) -> MapError {
        if self.file.is_none() {
            self.file = Some(file.into());
        }
        self
    }

    /// Attaches the variable (graph name) or checkpoint key concerned.
    pub fn with_var(mut self, var: impl Into<String>) -> MapError {
        if self.var.is_none() {
            self.var = Some(var.into());
        }
        self
    }

    /// The kind.
    pub fn kind(&self) -> &MapErrorKind {
        &self.kind
    }

    /// The message without file / variable decoration (RETURNN's wording where it has one).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The checkpoint file concerned, if known.
    pub fn file(&self) -> Option<&str> {
        self.file.as_deref()
    }

    /// The variable or key concerned, if known.
    pub fn var(&self) -> Option<&str> {
        self.var.as_deref()
    }
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        match (&self.var, &self.file) {
            (Some(v), Some(p)) => write!(f, " (variable '{v}', checkpoint '{p}')"),
            (Some(v), None) => write!(f, " (variable '{v}')"),
            (None, Some(p)) => write!(f, " (checkpoint '{p}')"),
            (None, None) => Ok(()),
        }
    }
}

impl std::error::Error for MapError {}
