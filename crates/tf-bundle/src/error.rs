//! The one error type of this crate: an [`ErrorKind`] plus the file and tensor key it concerns.
//! Section numbers (§) refer to docs/tf-bundle-format.md.

use std::fmt;
use std::path::{Path, PathBuf};

/// The structure of a file that is truncated or corrupt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Part {
    /// The table container: footer, magic, block handles, index block (docs/tf-bundle-format.md §2).
    Table,
    /// A table block: its restarts, entries, compression (§2).
    Block,
    /// The bundle header entry (§3.4).
    Header,
    /// A tensor's index entry (§3.5).
    Entry,
    /// A tensor's bytes in a data shard (§3.6).
    Data,
    /// A `DT_STRING` payload (§3.7).
    StringTensor,
    /// A `DT_VARIANT` payload (§3.8).
    VariantTensor,
    /// A partitioned tensor's slice keys or slices (§4).
    Slice,
    /// A V1 checkpoint (§5).
    V1,
    /// The TF2 object graph (§7).
    ObjectGraph,
    /// The `checkpoint` state file (§8).
    StateFile,
}

impl Part {
    /// A stable snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Part::Table => "table",
            Part::Block => "block",
            Part::Header => "header",
            Part::Entry => "entry",
            Part::Data => "data",
            Part::StringTensor => "string_tensor",
            Part::VariantTensor => "variant_tensor",
            Part::Slice => "slice",
            Part::V1 => "v1",
            Part::ObjectGraph => "object_graph",
            Part::StateFile => "state_file",
        }
    }
}

/// What went wrong. Every variant carries enough text to say what was expected and what was
/// found; [`ErrorKind::label`] gives a stable short label for machine output.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An I/O operation failed (open, read, stat); `op` says which.
    #[error("{op} failed: {message}")]
    Io {
        op: &'static str,
        kind: std::io::ErrorKind,
        message: String,
    },
    /// A file that must exist does not (a data shard, the `.index`, a V1 file).
    #[error("file not found")]
    MissingFile,
    /// The requested tensor key is not in the checkpoint.
    #[error("key not found in checkpoint")]
    KeyNotFound,
    /// The path does not name any checkpoint (no `.index`, no V1 file, no `checkpoint` state).
    #[error("no checkpoint found: {0}")]
    NoCheckpoint(String),
    /// A file is shorter than its structure says (truncated table block, tensor past EOF);
    /// `part` says which structure.
    #[error("truncated: {detail}")]
    Truncated { part: Part, detail: String },
    /// Structural corruption of a table or bundle (bad magic, bad block, bad entry, key order,
    /// unparseable protobuf, sizes that do not match, ...); `part` says which structure.
    #[error("corrupt: {detail}")]
    Corrupt { part: Part, detail: String },
    /// A CRC32C did not match. `what` names the checksum (block, tensor, string lengths).
    #[error("{what} checksum does not match: stored {stored:#010x}, computed {computed:#010x}")]
    Checksum {
        what: String,
        stored: u32,
        computed: u32,
    },
    /// The bundle's version forbids reading it (TF's wording).
    #[error("{0}")]
    Version(String),
    /// A dtype that cannot be stored/read (variant, resource, ref, invalid, unknown).
    #[error("{}", crate::dtype::UnsupportedDtype(*.0))]
    UnsupportedDtype(i32),
    /// A valid feature this crate does not implement (said precisely).
    #[error("not supported: {0}")]
    Unsupported(String),
    /// Partitioned tensor slices are inconsistent (rank, bounds, overlap, coverage, missing).
    #[error("bad slices: {0}")]
    Slices(String),
    /// The caller asked for something the tensor cannot give (e.g. raw bytes of a string tensor).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl ErrorKind {
    /// A stable short snake_case label (`io`, `missing_file`, `key_not_found`, ...; see
    /// [`ErrorCode::label`]).
    pub fn label(&self) -> &'static str {
        self.code().label()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Inner {
    kind: ErrorKind,
    path: Option<PathBuf>,
    key: Option<String>,
    /// The byte offset in the file where the problem is, where known.
    offset: Option<u64>,
    /// What the user probably meant (shown after the error, not part of `Display`).
    hint: Option<String>,
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
            offset: None,
            hint: None,
        }))
    }
    /// [`ErrorKind::Corrupt`] in `part`.
    pub fn corrupt(part: Part, msg: impl Into<String>) -> Error {
        Error::new(ErrorKind::Corrupt {
            part,
            detail: msg.into(),
        })
    }
    /// [`ErrorKind::Truncated`] in `part`.
    pub fn truncated(part: Part, msg: impl Into<String>) -> Error {
        Error::new(ErrorKind::Truncated {
            part,
            detail: msg.into(),
        })
    }
    /// Sets the byte offset of the problem in the file, unless one is already set.
    pub fn at_offset(mut self, offset: u64) -> Error {
        if self.0.offset.is_none() {
            self.0.offset = Some(offset);
        }
        self
    }
    /// The byte offset of the problem in the file, where known.
    pub fn offset(&self) -> Option<u64> {
        self.0.offset
    }
    /// The structure that is truncated or corrupt, if this is such an error.
    pub fn part(&self) -> Option<Part> {
        match &self.0.kind {
            ErrorKind::Corrupt { part, .. } | ErrorKind::Truncated { part, .. } => Some(*part),
            _ => None,
        }
    }
    /// An I/O error; `NotFound` becomes [`ErrorKind::MissingFile`].
    pub fn io(op: &'static str, e: &std::io::Error) -> Error {
        if e.kind() == std::io::ErrorKind::NotFound {
            return Error::new(ErrorKind::MissingFile);
        }
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            return Error::truncated(Part::Data, format!("{op}: unexpected end of file"));
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
    /// Adds a hint (what the user probably meant), unless one is already set.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Error {
        if self.0.hint.is_none() {
            self.0.hint = Some(hint.into());
        }
        self
    }
    /// What the user probably meant, if the reader can tell.
    pub fn hint(&self) -> Option<&str> {
        self.0.hint.as_deref()
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

/// The kind of an [`Error`] without its details: a small `Copy` value that callers can keep,
/// compare and match on (the library layer carries it through every crate boundary).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    Io,
    MissingFile,
    KeyNotFound,
    NoCheckpoint,
    Truncated,
    Corrupt,
    Checksum,
    Version,
    UnsupportedDtype,
    Unsupported,
    Slices,
    InvalidArgument,
}

impl ErrorKind {
    /// This kind's [`ErrorCode`].
    pub fn code(&self) -> ErrorCode {
        match self {
            ErrorKind::Io { .. } => ErrorCode::Io,
            ErrorKind::MissingFile => ErrorCode::MissingFile,
            ErrorKind::KeyNotFound => ErrorCode::KeyNotFound,
            ErrorKind::NoCheckpoint(_) => ErrorCode::NoCheckpoint,
            ErrorKind::Truncated { .. } => ErrorCode::Truncated,
            ErrorKind::Corrupt { .. } => ErrorCode::Corrupt,
            ErrorKind::Checksum { .. } => ErrorCode::Checksum,
            ErrorKind::Version(_) => ErrorCode::Version,
            ErrorKind::UnsupportedDtype(_) => ErrorCode::UnsupportedDtype,
            ErrorKind::Unsupported(_) => ErrorCode::Unsupported,
            ErrorKind::Slices(_) => ErrorCode::Slices,
            ErrorKind::InvalidArgument(_) => ErrorCode::InvalidArgument,
        }
    }
}

impl ErrorCode {
    /// Every code (for the test that lists every label).
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::Io,
        ErrorCode::MissingFile,
        ErrorCode::KeyNotFound,
        ErrorCode::NoCheckpoint,
        ErrorCode::Truncated,
        ErrorCode::Corrupt,
        ErrorCode::Checksum,
        ErrorCode::Version,
        ErrorCode::UnsupportedDtype,
        ErrorCode::Unsupported,
        ErrorCode::Slices,
        ErrorCode::InvalidArgument,
    ];

    /// The stable label (the same as [`ErrorKind::label`]).
    pub fn label(self) -> &'static str {
        match self {
            ErrorCode::Io => "io",
            ErrorCode::MissingFile => "missing_file",
            ErrorCode::KeyNotFound => "key_not_found",
            ErrorCode::NoCheckpoint => "no_checkpoint",
            ErrorCode::Truncated => "truncated",
            ErrorCode::Corrupt => "corrupt",
            ErrorCode::Checksum => "checksum",
            ErrorCode::Version => "version",
            ErrorCode::UnsupportedDtype => "unsupported_dtype",
            ErrorCode::Unsupported => "unsupported",
            ErrorCode::Slices => "slices",
            ErrorCode::InvalidArgument => "invalid_argument",
        }
    }
}
