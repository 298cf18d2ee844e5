//! Engine errors: a stable kind label (for `{"error", "kind"}` output) and a message.

use std::fmt;

/// What failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EngineErrorKind {
    /// The config could not be read or a value has the wrong type (label `config` or the
    /// returnn-config crate's own label).
    Config(&'static str),
    /// Model selection raised (label from model-files, e.g. `load_not_found`).
    Select(&'static str),
    /// A loader raised (label from param-map, e.g. `missing_vars`).
    Map(&'static str),
    /// No model and no training start epoch: RETURNN's "There was also no model found which we
    /// could load. Set one via 'load'." exception.
    NoModel,
    /// `assert self.epoch, "task '<task>'"`: a non-train task whose selected epoch is None.
    NoEpoch,
    /// A `preload_from_files` entry without `filename` (Python `KeyError: 'filename'`).
    PreloadFilename,
    /// The target variable list could not be read.
    Target,
    /// A RETURNN feature this tool cannot reproduce (Python callables, custom importers, ...).
    Unsupported,
    /// Writing the output failed.
    Output,
}

impl EngineErrorKind {
    /// Stable short label.
    pub fn label(&self) -> &'static str {
        match self {
            EngineErrorKind::Config(l) | EngineErrorKind::Select(l) | EngineErrorKind::Map(l) => l,
            EngineErrorKind::NoModel => "no_model",
            EngineErrorKind::NoEpoch => "no_epoch",
            EngineErrorKind::PreloadFilename => "preload_filename_missing",
            EngineErrorKind::Target => "target",
            EngineErrorKind::Unsupported => "unsupported",
            EngineErrorKind::Output => "output",
        }
    }
}

/// An engine error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineError {
    kind: EngineErrorKind,
    message: String,
}

impl EngineError {
    pub fn new(kind: EngineErrorKind, message: impl Into<String>) -> EngineError {
        EngineError {
            kind,
            message: message.into(),
        }
    }
    pub fn kind(&self) -> &EngineErrorKind {
        &self.kind
    }
    /// The stable label of the kind.
    pub fn label(&self) -> &'static str {
        self.kind.label()
    }
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for EngineError {}

impl From<param_map::MapError> for EngineError {
    fn from(e: param_map::MapError) -> EngineError {
        EngineError::new(EngineErrorKind::Map(e.kind().label()), e.to_string())
    }
}

impl From<returnn_config::Error> for EngineError {
    fn from(e: returnn_config::Error) -> EngineError {
        EngineError::new(EngineErrorKind::Config(e.kind().label()), e.to_string())
    }
}

impl From<model_files::SelectError> for EngineError {
    fn from(e: model_files::SelectError) -> EngineError {
        EngineError::new(
            EngineErrorKind::Select(e.kind_label()),
            e.message().to_string(),
        )
    }
}
