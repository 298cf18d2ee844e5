//! The one error type of this crate: an [`ErrorKind`] plus the file and tensor key it concerns.

use std::fmt;
use std::path::{Path, PathBuf};

/// What went wrong. Every variant carries enough text to say what was expected and what was
/// found; [`ErrorKind::label`] gives a stable short label for machine output.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An I/O operation failed (open, read, stat); `op` says which.
    Io {
        op: &'static str,
        kind: std::io::ErrorKind,
        message: String,
    },
    /// A file that must exist does not (a data shard, the `.index`, a V1 file).
    MissingFile,
    /// The requested tensor key is not in the checkpoint.
    KeyNotFound,
    /// The path does not name any checkpoint (no `.index`, no V1 file, no `checkpoint` state).
    NoCheckpoint(String),
    /// A file is shorter than its structure says (truncated table block, tensor past EOF).
    Truncated(String),
    /// Structural corruption of a table or bundle (bad magic, bad block, bad entry, key order,
    /// unparseable protobuf, sizes that do not match, ...).
    Corrupt(String),
    /// A CRC32C did not match. `what` names the checksum (block, tensor, string lengths).
    Checksum {
        what: String,
        stored: u32,
        computed: u32,
    },
    /// The bundle's version forbids reading it (TF's wording).
    Version(String),
    /// A dtype that cannot be stored/read (variant, resource, ref, invalid, unknown).
    UnsupportedDtype(i32),
    /// A valid feature this crate does not implement (said precisely).
    Unsupported(String),
    /// Partitioned tensor slices are inconsistent (rank, bounds, overlap, coverage, missing).
    Slices(String),
    /// The caller asked for something the tensor cannot give (e.g. raw bytes of a string tensor).
    InvalidArgument(String),
}

impl ErrorKind {
    /// A stable short label (`io`, `missing-file`, `key-not-found`, `no-checkpoint`,
    /// `truncated`, `corrupt`, `checksum`, `version`, `unsupported-dtype`, `unsupported`,
    /// `slices`, `invalid-argument`).
    pub fn label(&self) -> &'static str {
        match self {
            ErrorKind::Io { .. } => "io",
            ErrorKind::MissingFile => "missing-file",
            ErrorKind::KeyNotFound => "key-not-found",
            ErrorKind::NoCheckpoint(_) => "no-checkpoint",
            ErrorKind::Truncated(_) => "truncated",
            ErrorKind::Corrupt(_) => "corrupt",
            ErrorKind::Checksum { .. } => "checksum",
            ErrorKind::Version(_) => "version",
            ErrorKind::UnsupportedDtype(_) => "unsupported-dtype",
            ErrorKind::Unsupported(_) => "unsupported",
            ErrorKind::Slices(_) => "slices",
            ErrorKind::InvalidArgument(_) => "invalid-argument",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Io { op, message, .. } => write!(f, "{op} failed: {message}"),
            ErrorKind::MissingFile => f.write_str("file not found"),
            ErrorKind::KeyNotFound => f.write_str("key not found in checkpoint"),
            ErrorKind::NoCheckpoint(m) => write!(f, "no checkpoint found: {m}"),
            ErrorKind::Truncated(m) => write!(f, "truncated: {m}"),
            ErrorKind::Corrupt(m) => write!(f, "corrupt: {m}"),
            ErrorKind::Checksum {
                what,
                stored,
                computed,
            } => write!(
                f,
                "{what} checksum does not match: stored {stored:#010x}, computed {computed:#010x}"
            ),
            ErrorKind::Version(m) => f.write_str(m),
            ErrorKind::UnsupportedDtype(v) => {
                write!(f, "{}", crate::dtype::UnsupportedDtype(*v))
            }
            ErrorKind::Unsupported(m) => write!(f, "not supported: {m}"),
            ErrorKind::Slices(m) => write!(f, "bad slices: {m}"),
            ErrorKind::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Inner {
    kind: ErrorKind,
    path: Option<PathBuf>,
    key: Option<String>,
}

/// An error of this crate: a kind, and (when known) the file and the tensor key.
///
/// `Display` reads `<file>: tensor '<key>': <what was expected vs found>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error(Box<Inner>);

impl Error {
    /// A new error of `kind` without file or key.
    pub fn new(kind: ErrorKind) -> Error {
        Error(Box::new(Inner {
            kind,
            path: None,
            key: None,
        }))
    }
    /// Shorthand for [`ErrorKind::Corrupt`].
    pub fn corrupt(msg: impl Into<String>) -> Error {
        Error::new(ErrorKind::Corrupt(msg.into()))
    }
    /// Shorthand for [`ErrorKind::Truncated`].
    pub fn truncated(msg: impl Into<String>) -> Error {
        Error::new(ErrorKind::Truncated(msg.into()))
    }
    /// An I/O error; `NotFound` becomes [`ErrorKind::MissingFile`].
    pub fn io(op: &'static str, e: &std::io::Error) -> Error {
        if e.kind() == std::io::ErrorKind::NotFound {
            return Error::new(ErrorKind::MissingFile);
        }
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            return Error::truncated(format!("{op}: unexpected end of file"));
        }
        Error::new(ErrorKind::Io {
            op,
            kind: e.kind(),
            message: e.to_string(),
        })
    }
    /// The kind of error.
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }
    /// The file concerned, if known.
    pub fn path(&self) -> Option<&Path> {
        self.0.path.as_deref()
    }
    /// The tensor key concerned, if known.
    pub fn key(&self) -> Option<&str> {
        self.0.key.as_deref()
    }
    /// Sets the file, unless one is already set (the innermost file wins).
    pub fn with_path(mut self, path: impl AsRef<Path>) -> Error {
        if self.0.path.is_none() {
            self.0.path = Some(path.as_ref().to_path_buf());
        }
        self
    }
    /// Sets the tensor key, unless one is already set.
    pub fn with_key(mut self, key: impl Into<String>) -> Error {
        if self.0.key.is_none() {
            self.0.key = Some(key.into());
        }
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = &self.0.path {
            write!(f, "{}: ", p.display())?;
        }
        if let Some(k) = &self.0.key {
            write!(f, "tensor '{}': ", k.escape_debug())?;
        }
        write!(f, "{}", self.0.kind)
    }
}

impl std::error::Error for Error {}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Error {
        Error::new(kind)
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
