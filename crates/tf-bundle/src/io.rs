//! Random-access byte sources: files (positioned reads), in-memory buffers, and (feature
//! `mmap`) memory maps. Parsers take `&dyn ReadAt` so they run on in-memory bytes too.

use std::fs::File;
use std::io;
use std::path::Path;

use crate::error::{Error, Result};

/// A byte source that can be read at any offset (shared, no cursor).
pub trait ReadAt: Send + Sync {
    /// Total length in bytes.
    fn size(&self) -> u64;
    /// Fills `buf` with the bytes at `offset..offset + buf.len()`; an error if they do not all
    /// exist.
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
    /// The whole content as one slice, if the source holds it in memory (buffers, memory maps):
    /// lets readers borrow tensor bytes without copying.
    fn as_slice(&self) -> Option<&[u8]> {
        None
    }
}

impl ReadAt for [u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| eof())?;
        let end = start.checked_add(buf.len()).ok_or_else(eof)?;
        let src = self.get(start..end).ok_or_else(eof)?;
        buf.copy_from_slice(src);
        Ok(())
    }
    fn as_slice(&self) -> Option<&[u8]> {
        Some(self)
    }
}

impl ReadAt for &[u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        (**self).read_exact_at(offset, buf)
    }
    fn as_slice(&self) -> Option<&[u8]> {
        Some(self)
    }
}

impl ReadAt for Vec<u8> {
    fn size(&self) -> u64 {
        self.len() as u64
    }
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.as_slice().read_exact_at(offset, buf)
    }
    fn as_slice(&self) -> Option<&[u8]> {
        Some(self)
    }
}

fn eof() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "read past end of data")
}

/// A file read with positioned reads (`pread`); its length is taken once at open.
#[derive(Debug)]
pub struct FileSource {
    file: File,
    len: u64,
}

impl FileSource {
    /// Opens `path` read-only. A missing file is [`crate::ErrorKind::MissingFile`] naming it.
    pub fn open(path: &Path) -> Result<FileSource> {
        let file = File::open(path).map_err(|e| Error::io("open", &e).with_path(path))?;
        let meta = file
            .metadata()
            .map_err(|e| Error::io("stat", &e).with_path(path))?;
        if meta.is_dir() {
            return Err(Error::new(crate::ErrorKind::Io {
                op: "open",
                kind: io::ErrorKind::InvalidInput,
                message: "is a directory".into(),
            })
            .with_path(path));
        }
        Ok(FileSource {
            file,
            len: meta.len(),
        })
    }
}

impl ReadAt for FileSource {
    fn size(&self) -> u64 {
        self.len
    }
    #[cfg(unix)]
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        self.file.read_exact_at(buf, offset)
    }
    #[cfg(windows)]
    fn read_exact_at(&self, mut offset: u64, mut buf: &mut [u8]) -> io::Result<()> {
        use std::os::windows::fs::FileExt;
        while !buf.is_empty() {
            match self.file.seek_read(buf, offset) {
                Ok(0) => return Err(eof()),
                Ok(n) => {
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// A read-only memory map of a file (feature `mmap`, an explicit opt-in: a file truncated by
/// another process while mapped can crash the reader with SIGBUS).
#[cfg(feature = "mmap")]
#[derive(Debug)]
pub struct MmapSource {
    map: memmap2::Mmap,
}

#[cfg(feature = "mmap")]
impl MmapSource {
    /// Maps `path` read-only.
    pub fn open(path: &Path) -> Result<MmapSource> {
        let file = File::open(path).map_err(|e| Error::io("open", &e).with_path(path))?;
        // SAFETY: the map is read-only; the documented risk (the file being changed or
        // truncated by someone else while mapped) is why this source is an explicit opt-in.
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::Mmap::map(&file) }
            .map_err(|e| Error::io("mmap", &e).with_path(path))?;
        Ok(MmapSource { map })
    }
}

#[cfg(feature = "mmap")]
impl ReadAt for MmapSource {
    fn size(&self) -> u64 {
        self.map.len() as u64
    }
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.map[..].read_exact_at(offset, buf)
    }
    fn as_slice(&self) -> Option<&[u8]> {
        Some(&self.map[..])
    }
}

/// Reads `len` bytes at `offset` after checking they lie inside the source (so the allocation
/// is bounded by the source's real size).
pub(crate) fn read_vec(src: &dyn ReadAt, offset: u64, len: u64) -> Result<Vec<u8>> {
    let end = offset
        .checked_add(len)
        .ok_or_else(|| Error::corrupt(format!("offset {offset} + size {len} overflows")))?;
    if end > src.size() {
        return Err(Error::truncated(format!(
            "bytes {offset}..{end} requested, but the file has only {} bytes",
            src.size()
        )));
    }
    let n = usize::try_from(len)
        .map_err(|_| Error::corrupt(format!("size {len} does not fit in memory")))?;
    let mut buf = vec![0u8; n];
    src.read_exact_at(offset, &mut buf)
        .map_err(|e| Error::io("read", &e))?;
    Ok(buf)
}
