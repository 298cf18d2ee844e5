//! Random-access byte sources for the readers: the shared [`ckpt_io`] sources, opened with this
//! crate's errors (the file named, `NotFound` as [`crate::ErrorKind::MissingFile`]).

use std::io;
use std::path::Path;

use crate::error::{Error, Part, Result};

pub use ckpt_io::FileSource;
#[cfg(feature = "mmap")]
pub use ckpt_io::MmapSource;
pub use ckpt_io::ReadAt;

/// Opens `path` for positioned reads; errors name the file.
pub(crate) fn open_file(path: &Path) -> Result<FileSource> {
    FileSource::open(path).map_err(|e| open_err(&e).with_path(path))
}

/// Maps `path` read-only (feature `mmap`); errors name the file.
#[cfg(feature = "mmap")]
pub(crate) fn open_mmap(path: &Path) -> Result<MmapSource> {
    MmapSource::open(path).map_err(|e| open_err(&e).with_path(path))
}

fn open_err(e: &io::Error) -> Error {
    if e.kind() == io::ErrorKind::IsADirectory {
        Error::new(crate::ErrorKind::Io {
            op: "open",
            kind: io::ErrorKind::InvalidInput,
            message: "is a directory".into(),
        })
    } else {
        Error::io("open", e)
    }
}

/// Reads `len` bytes at `offset` after checking they lie inside the source (so the allocation
/// is bounded by the source's real size).
pub(crate) fn read_vec(src: &dyn ReadAt, offset: u64, len: u64) -> Result<Vec<u8>> {
    ckpt_io::read_vec(src, offset, len).map_err(|e| match e {
        ckpt_io::ReadVecError::PastEnd { .. } => Error::truncated(Part::Data, e.to_string()),
        ckpt_io::ReadVecError::Io(io) => Error::io("read", &io),
        _ => Error::corrupt(Part::Data, e.to_string()),
    })
}
