//! The one error type of the library layer: a small `Copy` [`ErrorKind`] that keeps the kind
//! of every crate below it (config, model selection, mapping, reading, converting), a
//! message, the file and the key concerned, and the cause chain ([`std::error::Error::source`]).
//!
//! Every `kind` string a face shows (JSON `"kind"`, Python's `Error.kind`) is
//! [`ErrorKind::label`]; [`ErrorKind::ALL_ENGINE`] and the sub-crates' enums list them all.

use std::fmt;
use std::path::{Path, PathBuf};

type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The config could not be read, or a value has the wrong type (returnn-config's kind).
    Config(returnn_config::ErrorKind),
    /// Model selection raised (model-files' kind, e.g. `load_not_found`).
    Select(model_files::SelectErrorKind),
    /// A loader raised (param-map's kind, e.g. `missing_vars`).
    Map(param_map::MapErrorKind),
    /// A PyTorch-engine (or RF-on-TF-engine) loader raised (param-map's torch kind).
    Torch(param_map::torch::TorchErrorKind),
    /// Reading a checkpoint failed (tf-bundle's kind).
    Read(tf_bundle::ErrorCode),
    /// A conversion, average or comparison failed (convert's kind).
    Convert(convert::ErrorCode),
    /// Reading or writing a PyTorch `.pt` file failed (torch-pt's kind).
    Pt(torch_pt::ErrorKind),
    /// A port from TF net-dict variables to RF / torch parameters failed (port's kind: the
    /// rules, the plan's issues, a transform).
    Port(port::PortErrorKind),
    /// The port rules file could not be read (missing, too large, not UTF-8).
    RulesFile,
    /// A config value has a type the engine cannot use (`config_value`).
    ConfigValue,
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
    /// Writing an output failed.
    Output,
    /// The learning-rate-control file could not be read.
    LrFile,
    /// `--best` needs the learning-rate-control file, which is not there.
    LrFileMissing,
    /// No epoch has the requested score.
    NoScores,
    /// Deleting a file (cleanup) failed.
    DeleteFailed,
    /// A request argument is invalid (bad tolerance, overlapping input and output, ...).
    InvalidArgument,
    /// The command line itself is wrong (a face's own usage error).
    Usage,
    /// RETURNN's `AssertionError: get_model not defined in config` (an RF/torch config).
    NoGetModel,
    /// `get_model` is a literal, which RETURNN then calls: a `TypeError`.
    GetModelNotCallable,
    /// The process was interrupted (SIGINT, SIGTERM, SIGHUP); its unfinished outputs were
    /// removed ([`crate::output::abandon_outputs`]).
    Interrupted,
}

/// What an error means for the caller: the exit code of the CLI (1 or 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The answer is negative: RETURNN would raise here (exit code 1).
    Negative,
    /// The tool could not answer: bad usage, unreadable input, I/O, unsupported (exit code 2).
    Failed,
}

impl ErrorKind {
    /// The engine's own kinds (the wrapped crates list theirs).
    pub const ALL_ENGINE: &'static [ErrorKind] = &[
        ErrorKind::ConfigValue,
        ErrorKind::NoModel,
        ErrorKind::NoEpoch,
        ErrorKind::PreloadFilename,
        ErrorKind::Target,
        ErrorKind::Unsupported,
        ErrorKind::Output,
        ErrorKind::LrFile,
        ErrorKind::LrFileMissing,
        ErrorKind::NoScores,
        ErrorKind::DeleteFailed,
        ErrorKind::InvalidArgument,
        ErrorKind::Usage,
        ErrorKind::NoGetModel,
        ErrorKind::GetModelNotCallable,
        ErrorKind::Interrupted,
        ErrorKind::RulesFile,
    ];

    /// Whether this is RETURNN's answer (it would raise) or a failure to answer.
    pub fn outcome(self) -> Outcome {
        use model_files::SelectErrorKind as S;
        use param_map::torch::TorchErrorKind as T;
        use param_map::MapErrorKind as M;
        use port::PortErrorKind as P;
        use returnn_config::ErrorKind as C;
        match self {
            ErrorKind::Config(C::Io | C::NotFound | C::Unsupported) => Outcome::Failed,
            ErrorKind::Config(_) => Outcome::Negative,
            ErrorKind::Select(S::BackendNotSupported | S::EpochOverflow) => Outcome::Failed,
            ErrorKind::Select(_) => Outcome::Negative,
            ErrorKind::Map(M::Unsupported | M::Read) => Outcome::Failed,
            ErrorKind::Map(_) => Outcome::Negative,
            ErrorKind::Torch(T::Unsupported | T::Read) => Outcome::Failed,
            ErrorKind::Torch(_) => Outcome::Negative,
            ErrorKind::NoGetModel | ErrorKind::GetModelNotCallable => Outcome::Negative,
            // The rules, the network dict or the inputs cannot be used: we cannot answer. The
            // plan's issues (unmapped, unfilled, mismatches, ...): the answer is no.
            ErrorKind::Port(
                P::RulesSyntax | P::RulesInvalid | P::NetworkInvalid | P::Unsupported | P::Read,
            ) => Outcome::Failed,
            ErrorKind::Port(_) => Outcome::Negative,
            ErrorKind::ConfigValue
            | ErrorKind::NoModel
            | ErrorKind::NoEpoch
            | ErrorKind::PreloadFilename => Outcome::Negative,
            ErrorKind::Read(_)
            | ErrorKind::Convert(_)
            | ErrorKind::Pt(_)
            | ErrorKind::RulesFile
            | ErrorKind::Target
            | ErrorKind::Unsupported
            | ErrorKind::Output
            | ErrorKind::LrFile
            | ErrorKind::LrFileMissing
            | ErrorKind::NoScores
            | ErrorKind::DeleteFailed
            | ErrorKind::InvalidArgument
            | ErrorKind::Usage
            | ErrorKind::Interrupted => Outcome::Failed,
        }
    }

    /// The stable label (JSON `"kind"`).
    pub fn label(self) -> &'static str {
        match self {
            ErrorKind::Config(k) => k.label(),
            ErrorKind::Select(k) => k.label(),
            ErrorKind::Map(k) => k.label(),
            ErrorKind::Torch(k) => k.label(),
            ErrorKind::Read(k) => k.label(),
            ErrorKind::Convert(k) => k.label(),
            ErrorKind::Pt(k) => k.label(),
            ErrorKind::Port(k) => k.label(),
            ErrorKind::RulesFile => "rules_file",
            ErrorKind::ConfigValue => "config_value",
            ErrorKind::NoModel => "no_model",
            ErrorKind::NoEpoch => "no_epoch",
            ErrorKind::PreloadFilename => "preload_filename_missing",
            ErrorKind::Target => "target",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Output => "output",
            ErrorKind::LrFile => "lr_file",
            ErrorKind::LrFileMissing => "lr_file_missing",
            ErrorKind::NoScores => "no_scores",
            ErrorKind::DeleteFailed => "delete_failed",
            ErrorKind::InvalidArgument => "invalid_argument",
            ErrorKind::Usage => "usage",
            ErrorKind::NoGetModel => "no_get_model",
            ErrorKind::GetModelNotCallable => "get_model_not_callable",
            ErrorKind::Interrupted => "interrupted",
        }
    }
}

/// A failure of a job: kind, message (RETURNN's wording where RETURNN raises), the file and
/// key concerned, and the underlying error.
#[derive(Debug)]
pub struct Error(Box<Inner>);

#[derive(Debug)]
struct Inner {
    kind: ErrorKind,
    message: String,
    path: Option<PathBuf>,
    key: Option<String>,
    hint: Option<String>,
    source: Option<Cause>,
}

impl Error {
    /// A new error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error(Box::new(Inner {
            kind,
            message: message.into(),
            path: None,
            key: None,
            hint: None,
            source: None,
        }))
    }

    /// Attaches the underlying error (its text is not repeated by `Display`).
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Error {
        self.0.source = Some(Box::new(source));
        self
    }

    /// Sets the file concerned, unless one is set already.
    pub fn with_path(mut self, path: impl AsRef<Path>) -> Error {
        if self.0.path.is_none() {
            self.0.path = Some(path.as_ref().to_path_buf());
        }
        self
    }

    /// Sets the key (tensor, variable, config key) concerned, unless one is set already.
    pub fn with_key(mut self, key: impl Into<String>) -> Error {
        if self.0.key.is_none() {
            self.0.key = Some(key.into());
        }
        self
    }

    /// Adds a hint (what the user probably meant), unless one is set already.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Error {
        if self.0.hint.is_none() {
            self.0.hint = Some(hint.into());
        }
        self
    }

    /// What the user probably meant, if it can be told.
    pub fn hint(&self) -> Option<&str> {
        self.0.hint.as_deref()
    }

    /// Replaces the message (keeps kind, file, key and source).
    pub fn map_message(mut self, f: impl FnOnce(&str) -> String) -> Error {
        self.0.message = f(&self.0.message);
        self
    }

    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// The stable label of the kind.
    pub fn label(&self) -> &'static str {
        self.0.kind.label()
    }

    /// Whether this is RETURNN's answer or a failure to answer ([`ErrorKind::outcome`]; a
    /// config value that is not a literal is "not supported" under any kind: we cannot answer).
    pub fn outcome(&self) -> Outcome {
        if self.0.message.starts_with("not supported") {
            return Outcome::Failed;
        }
        self.0.kind.outcome()
    }

    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The file concerned, if known.
    pub fn path(&self) -> Option<&Path> {
        self.0.path.as_deref()
    }

    /// The key concerned, if known.
    pub fn key(&self) -> Option<&str> {
        self.0.key.as_deref()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0
            .source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// The I/O error inside `e`, if any: its cause chain, and the writers' errors that carry one
/// inline (tf-bundle's `WriteError`).
fn find_io<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a std::io::Error> {
    let mut cur = Some(e);
    while let Some(c) = cur {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        let write = c.downcast_ref::<tf_bundle::write::WriteError>();
        if let Some(tf_bundle::write::WriteErrorKind::Io(io)) = write.map(|w| w.kind()) {
            return Some(io);
        }
        cur = c.source();
    }
    None
}

/// A hint for an I/O failure a user can act on (a full disk, a file size limit, no
/// permission, a read-only filesystem), naming `path`'s directory.
fn io_hint(io: &std::io::Error, path: Option<&Path>) -> Option<String> {
    let dir = path
        .and_then(Path::parent)
        .filter(|d| !d.as_os_str().is_empty())
        .map_or_else(
            || "the current directory".to_string(),
            |d| d.display().to_string(),
        );
    match io.raw_os_error() {
        Some(28) => Some(format!(
            "the disk holding {dir} is full: free some space (nothing was written)"
        )),
        Some(27) => Some(
            "a file size limit (ulimit -f) stopped the write: raise it (nothing was written)"
                .to_string(),
        ),
        Some(13) | Some(1) => Some(format!(
            "no permission to write in {dir}: choose another output directory"
        )),
        Some(30) => Some(format!(
            "{dir} is on a read-only filesystem: choose another output directory"
        )),
        _ => None,
    }
}

impl Error {
    /// Attaches `cause` as the source, with the hint of [`io_hint`] if it has one.
    pub(crate) fn with_output_cause(
        self,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        self.with_io_hint(&cause).with_source(cause)
    }

    /// Adds the hint of [`io_hint`] for an output error `cause` (no-op if there is none).
    fn with_io_hint(self, cause: &(dyn std::error::Error + 'static)) -> Error {
        match find_io(cause).and_then(|io| io_hint(io, self.path())) {
            Some(h) => self.with_hint(h),
            None => self,
        }
    }
}

impl From<param_map::MapError> for Error {
    fn from(e: param_map::MapError) -> Error {
        let mut out = Error::new(ErrorKind::Map(*e.kind()), e.to_string());
        if let Some(f) = e.file() {
            out = out.with_path(f);
        }
        if let Some(v) = e.var() {
            out = out.with_key(v);
        }
        out.with_source(e)
    }
}

impl From<returnn_config::Error> for Error {
    fn from(e: returnn_config::Error) -> Error {
        let mut out = Error::new(ErrorKind::Config(*e.kind()), e.to_string());
        if let Some(f) = e.file() {
            out = out.with_path(f);
        }
        if let Some(k) = e.key() {
            out = out.with_key(k);
        }
        out.with_source(e)
    }
}

impl From<model_files::SelectError> for Error {
    fn from(e: model_files::SelectError) -> Error {
        Error::new(ErrorKind::Select(*e.kind()), e.message().to_string()).with_source(e)
    }
}

impl From<tf_bundle::Error> for Error {
    fn from(e: tf_bundle::Error) -> Error {
        let mut out = Error::new(ErrorKind::Read(e.kind().code()), e.to_string());
        if let Some(h) = e.hint() {
            out = out.with_hint(h);
        }
        if let Some(p) = e.path() {
            out = out.with_path(p);
        }
        if let Some(k) = e.key() {
            out = out.with_key(k);
        }
        out.with_source(e)
    }
}

impl From<convert::Error> for Error {
    fn from(e: convert::Error) -> Error {
        let mut out = Error::new(ErrorKind::Convert(e.kind().code()), e.to_string());
        if let Some(p) = e.path() {
            out = out.with_path(p);
        }
        if let Some(k) = e.key() {
            out = out.with_key(k);
        }
        out.with_io_hint(&e).with_source(e)
    }
}

impl From<torch_pt::Error> for Error {
    fn from(e: torch_pt::Error) -> Error {
        let mut out = Error::new(ErrorKind::Pt(e.kind()), e.to_string());
        if let Some(p) = e.path() {
            out = out.with_path(p);
        }
        if let Some(k) = e.key() {
            out = out.with_key(k);
        }
        out.with_source(e)
    }
}

impl From<port::PortError> for Error {
    fn from(e: port::PortError) -> Error {
        let mut out = Error::new(ErrorKind::Port(e.kind()), e.message().to_string());
        if let Some(f) = e.file() {
            out = out.with_path(f);
        }
        if let Some(k) = e.tf().or(e.target()) {
            out = out.with_key(k);
        }
        out.with_source(e)
    }
}

impl From<tf_bundle::write::WriteError> for Error {
    fn from(e: tf_bundle::write::WriteError) -> Error {
        let mut out = Error::new(ErrorKind::Output, e.to_string()).with_path(e.path());
        if let Some(k) = e.key() {
            out = out.with_key(k);
        }
        out.with_io_hint(&e).with_source(e)
    }
}

/// Result alias of the library layer.
pub type Result<T, E = Error> = std::result::Result<T, E>;
