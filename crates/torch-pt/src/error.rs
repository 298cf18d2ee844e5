//! The one error type of this crate: a [`ErrorKind`], the file and the tensor key it concerns,
//! and a message saying what was expected and what was found.

use std::fmt;
use std::path::{Path, PathBuf};

/// What went wrong, as a small `Copy` enum; [`ErrorKind::label`] gives a stable snake_case label
/// for machine output. The details are in [`Error`]'s message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An I/O operation failed (open, read, write, rename).
    Io,
    /// The file (or a ZIP entry the format requires, such as `data.pkl` or a storage record)
    /// does not exist.
    NotFound,
    /// Not a ZIP archive (no end-of-central-directory record), e.g. torch's legacy
    /// (pre-1.6, non-ZIP) format.
    NotZip,
    /// The ZIP structure is inconsistent: bad signatures, entries outside the file or
    /// overlapping, names that differ between the local and the central header, duplicate
    /// names, more than one root folder.
    BadZip,
    /// A ZIP feature torch's `.pt` files do not use: compression, encryption, multi-disk
    /// archives.
    UnsupportedZip,
    /// The file is shorter than its structure says.
    Truncated,
    /// A CRC-32 does not match the bytes it covers.
    Checksum,
    /// The `version` record is missing or holds a version this reader does not know; or
    /// `byteorder` holds something else than `little` / `big`.
    Version,
    /// `data.pkl` has an opcode outside the accepted subset (docs/pt-format.md §3).
    BadOpcode,
    /// `data.pkl` names a global that torch's weights-only unpickler refuses (e.g. `os system`).
    ForbiddenGlobal,
    /// `data.pkl` is malformed: stack underflow, a call with the wrong arguments, a value of
    /// the wrong type, invalid UTF-8, no STOP, data after STOP.
    BadPickle,
    /// `data.pkl` refers to a memo slot it never filled.
    BadMemo,
    /// Nesting deeper than the limit (docs/pt-format.md §3).
    TooDeep,
    /// A size, count or expansion beyond what the file can hold or the limits allow.
    TooLarge,
    /// A tensor's shape, stride and offset reach outside its storage, or a storage record's size
    /// differs from what the pickle says.
    BadTensor,
    /// A dtype (storage class) outside the supported set.
    UnsupportedDtype,
    /// Something torch accepts but this crate does not represent (sparse/quantized tensors,
    /// tensor subclasses, cyclic objects, ...), said precisely.
    Unsupported,
    /// The requested key is not in the state dict / value tree.
    KeyNotFound,
    /// The file holds no state dict where one was asked for.
    NotAStateDict,
    /// A caller's argument is invalid (writer: unknown storage, view outside its storage,
    /// source gave the wrong number of bytes, ...).
    InvalidArgument,
}

impl ErrorKind {
    /// The stable snake_case label of this kind (`io`, `not_found`, `not_zip`, `bad_zip`,
    /// `unsupported_zip`, `truncated`, `checksum`, `version`, `bad_opcode`, `forbidden_global`,
    /// `bad_pickle`, `bad_memo`, `too_deep`, `too_large`, `bad_tensor`, `unsupported_dtype`,
    /// `unsupported`, `key_not_found`, `not_a_state_dict`, `invalid_argument`).
    pub fn label(self) -> &'static str {
        match self {
            ErrorKind::Io => "io",
            ErrorKind::NotFound => "not_found",
            ErrorKind::NotZip => "not_zip",
            ErrorKind::BadZip => "bad_zip",
            ErrorKind::UnsupportedZip => "unsupported_zip",
            ErrorKind::Truncated => "truncated",
            ErrorKind::Checksum => "checksum",
            ErrorKind::Version => "version",
            ErrorKind::BadOpcode => "bad_opcode",
            ErrorKind::ForbiddenGlobal => "forbidden_global",
            ErrorKind::BadPickle => "bad_pickle",
            ErrorKind::BadMemo => "bad_memo",
            ErrorKind::TooDeep => "too_deep",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::BadTensor => "bad_tensor",
            ErrorKind::UnsupportedDtype => "unsupported_dtype",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::KeyNotFound => "key_not_found",
            ErrorKind::NotAStateDict => "not_a_state_dict",
            ErrorKind::InvalidArgument => "invalid_argument",
        }
    }

    /// Every kind (for tests and documentation).
    pub const ALL: [ErrorKind; 20] = [
        ErrorKind::Io,
        ErrorKind::NotFound,
        ErrorKind::NotZip,
        ErrorKind::BadZip,
        ErrorKind::UnsupportedZip,
        ErrorKind::Truncated,
        ErrorKind::Checksum,
        ErrorKind::Version,
        ErrorKind::BadOpcode,
        ErrorKind::ForbiddenGlobal,
        ErrorKind::BadPickle,
        ErrorKind::BadMemo,
        ErrorKind::TooDeep,
        ErrorKind::TooLarge,
        ErrorKind::BadTensor,
        ErrorKind::UnsupportedDtype,
        ErrorKind::Unsupported,
        ErrorKind::KeyNotFound,
        ErrorKind::NotAStateDict,
        ErrorKind::InvalidArgument,
    ];
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

#[derive(Debug)]
struct Inner {
    kind: ErrorKind,
    message: String,
    path: Option<PathBuf>,
    key: Option<String>,
    source: Option<std::io::Error>,
}

/// An error of this crate: a kind, a message (what was expected versus found), and, when known,
/// the file and the tensor key (or value path) concerned.
///
/// `Display` reads `<file>: '<key>': <message>`.
#[derive(Debug, thiserror::Error)]
#[error("{}", Shown(self))]
pub struct Error(Box<Inner>);

struct Shown<'a>(&'a Error);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.0 .0;
        if let Some(p) = &e.path {
            write!(f, "{}: ", p.display())?;
        }
        if let Some(k) = &e.key {
            write!(f, "'{}': ", k.escape_debug())?;
        }
        f.write_str(&e.message)?;
        if let Some(s) = &e.source {
            write!(f, ": {s}")?;
        }
        Ok(())
    }
}

impl Error {
    /// A new error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error(Box::new(Inner {
            kind,
            message: message.into(),
            path: None,
            key: None,
            source: None,
        }))
    }

    /// An I/O error during `op`; `NotFound` becomes [`ErrorKind::NotFound`] and an unexpected
    /// end of file [`ErrorKind::Truncated`].
    pub fn io(op: impl Into<String>, e: std::io::Error) -> Error {
        let kind = match e.kind() {
            std::io::ErrorKind::NotFound => ErrorKind::NotFound,
            std::io::ErrorKind::UnexpectedEof => ErrorKind::Truncated,
            _ => ErrorKind::Io,
        };
        let mut err = Error::new(kind, op);
        err.0.source = Some(e);
        err
    }

    /// The kind of error.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// The message (without file and key).
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The file concerned, if known.
    pub fn path(&self) -> Option<&Path> {
        self.0.path.as_deref()
    }

    /// The tensor key (or value path) concerned, if known.
    pub fn key(&self) -> Option<&str> {
        self.0.key.as_deref()
    }

    /// Sets the file, unless one is already set.
    pub fn with_path(mut self, path: impl AsRef<Path>) -> Error {
        if self.0.path.is_none() {
            self.0.path = Some(path.as_ref().to_path_buf());
        }
        self
    }

    /// Sets the key, unless one is already set.
    pub fn with_key(mut self, key: impl Into<String>) -> Error {
        if self.0.key.is_none() {
            self.0.key = Some(key.into());
        }
        self
    }
}

/// Shorthand constructors used throughout the crate.
pub(crate) fn err(kind: ErrorKind, message: impl Into<String>) -> Error {
    Error::new(kind, message)
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_snake_case_and_distinct() {
        let mut seen = std::collections::BTreeSet::new();
        for k in ErrorKind::ALL {
            let l = k.label();
            assert!(l.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{l}");
            assert!(seen.insert(l), "duplicate label {l}");
        }
    }

    #[test]
    fn display_names_file_and_key() {
        let e = err(ErrorKind::BadTensor, "expected 4 bytes, found 2")
            .with_key("model.w")
            .with_path("x/a.pt")
            .with_key("ignored");
        assert_eq!(
            e.to_string(),
            "x/a.pt: 'model.w': expected 4 bytes, found 2"
        );
        assert_eq!(e.kind().label(), "bad_tensor");
        let io = Error::io(
            "reading data.pkl",
            std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "eof"),
        );
        assert_eq!(io.kind(), ErrorKind::Truncated);
        assert_eq!(io.to_string(), "reading data.pkl: eof");
    }
}
