//! The error type of this crate.

use std::path::{Path, PathBuf};

/// What went wrong (see [`Error`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Reading a checkpoint failed (corruption, CRC, unsupported entry, ...).
    #[error(transparent)]
    Read(#[from] tf_bundle::Error),
    /// Writing a TF bundle failed.
    #[error(transparent)]
    BundleWrite(#[from] tf_bundle::write::WriteError),
    /// A file could not be created, read or written.
    #[error("I/O error: {0}")]
    Io(#[source] std::io::Error),
    /// A safetensors file is invalid or cannot hold what was asked.
    #[error("safetensors: {0}")]
    Safetensors(String),
    /// A tensor cannot be written to the output format (and `--strict` forbids skipping it).
    #[error("cannot convert: {0}")]
    Unsupported(String),
    /// A bad option (regex, rename rule, ...).
    #[error("invalid option: {0}")]
    InvalidOption(String),
    /// Two tensors would get the same output name.
    #[error("name collision: {0}")]
    NameCollision(String),
    /// Inputs to `avg` disagree (names, dtypes, shapes).
    #[error("inputs do not match: {0}")]
    Mismatch(String),
    /// A streaming writer was used out of contract (wrong size, unknown or repeated tensor).
    #[error("{0}")]
    Usage(String),
}

/// The kind of a convert [`Error`] without its details (`Copy`; see [`ErrorKind::code`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// Reading a checkpoint failed; the reader's own code.
    Read(tf_bundle::ErrorCode),
    BundleWrite,
    Io,
    Safetensors,
    Unsupported,
    InvalidOption,
    NameCollision,
    Mismatch,
    Usage,
}

impl ErrorCode {
    /// Every code but `Read` (which carries the reader's codes).
    pub const OWN: &'static [ErrorCode] = &[
        ErrorCode::BundleWrite,
        ErrorCode::Io,
        ErrorCode::Safetensors,
        ErrorCode::Unsupported,
        ErrorCode::InvalidOption,
        ErrorCode::NameCollision,
        ErrorCode::Mismatch,
        ErrorCode::Usage,
    ];

    /// The stable label ([`ErrorKind::label`]; a read error gives the reader's label).
    pub fn label(self) -> &'static str {
        match self {
            ErrorCode::Read(c) => c.label(),
            ErrorCode::BundleWrite => "bundle_write",
            ErrorCode::Io => "io",
            ErrorCode::Safetensors => "safetensors",
            ErrorCode::Unsupported => "unsupported",
            ErrorCode::InvalidOption => "invalid_option",
            ErrorCode::NameCollision => "name_collision",
            ErrorCode::Mismatch => "mismatch",
            ErrorCode::Usage => "usage",
        }
    }
}

impl ErrorKind {
    /// This kind's [`ErrorCode`].
    pub fn code(&self) -> ErrorCode {
        match self {
            ErrorKind::Read(e) => ErrorCode::Read(e.kind().code()),
            ErrorKind::BundleWrite(_) => ErrorCode::BundleWrite,
            ErrorKind::Io(_) => ErrorCode::Io,
            ErrorKind::Safetensors(_) => ErrorCode::Safetensors,
            ErrorKind::Unsupported(_) => ErrorCode::Unsupported,
            ErrorKind::InvalidOption(_) => ErrorCode::InvalidOption,
            ErrorKind::NameCollision(_) => ErrorCode::NameCollision,
            ErrorKind::Mismatch(_) => ErrorCode::Mismatch,
            ErrorKind::Usage(_) => ErrorCode::Usage,
        }
    }

    /// A stable short snake_case label for scripts and tests ([`ErrorCode::label`]).
    pub fn label(&self) -> &'static str {
        self.code().label()
    }
}

/// An error of this crate: the kind plus, where known, the file and the tensor concerned.
#[derive(Debug)]
pub struct Error(Box<Inner>);

#[derive(Debug)]
struct Inner {
    kind: ErrorKind,
    path: Option<PathBuf>,
    key: Option<String>,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // tf-bundle errors already name their file and key
        let nested = matches!(self.0.kind, ErrorKind::Read(_) | ErrorKind::BundleWrite(_));
        if !nested {
            if let Some(p) = &self.0.path {
                write!(f, "{}: ", p.display())?;
            }
            if let Some(k) = &self.0.key {
                write!(f, "tensor '{k}': ")?;
            }
        }
        write!(f, "{}", self.0.kind)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0.kind {
            ErrorKind::Read(e) => Some(e),
            ErrorKind::BundleWrite(e) => Some(e),
            ErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl Error {
    /// An error of `kind` with no file or tensor attached yet.
    pub fn new(kind: ErrorKind) -> Self {
        Error(Box::new(Inner {
            kind,
            path: None,
            key: None,
        }))
    }
    /// Attaches the file concerned.
    pub fn with_path(mut self, path: impl AsRef<Path>) -> Self {
        self.0.path = Some(path.as_ref().to_path_buf());
        self
    }
    /// Attaches the tensor concerned.
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.0.key = Some(key.into());
        self
    }
    /// An I/O error on `path`.
    pub fn io(e: std::io::Error, path: impl AsRef<Path>) -> Self {
        Error::new(ErrorKind::Io(e)).with_path(path)
    }
    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }
    /// The file concerned, if known.
    pub fn path(&self) -> Option<&Path> {
        match (&self.0.path, &self.0.kind) {
            (Some(p), _) => Some(p),
            (None, ErrorKind::Read(e)) => e.path(),
            (None, ErrorKind::BundleWrite(e)) => Some(e.path()),
            _ => None,
        }
    }
    /// The tensor concerned, if known.
    pub fn key(&self) -> Option<&str> {
        match (&self.0.key, &self.0.kind) {
            (Some(k), _) => Some(k),
            (None, ErrorKind::Read(e)) => e.key(),
            (None, ErrorKind::BundleWrite(e)) => e.key(),
            _ => None,
        }
    }
}

impl From<tf_bundle::Error> for Error {
    fn from(e: tf_bundle::Error) -> Self {
        Error::new(ErrorKind::Read(e))
    }
}

impl From<tf_bundle::write::WriteError> for Error {
    fn from(e: tf_bundle::write::WriteError) -> Self {
        Error::new(ErrorKind::BundleWrite(e))
    }
}
