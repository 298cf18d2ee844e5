//! Random-access byte sources.

use std::fs::File;
use std::io;
use std::path::Path;

/// A byte source that can be read at any offset (shared, no cursor).
pub trait ReadAt: Send + Sync {
    /// Total length in bytes.
    fn size(&self) -> u64;
    /// Fills `buf` with the bytes at `offset..offset + buf.len()`; an error if they do not all
    /// exist.
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
    /// The whole content as one slice, if the source holds it in memory (buffers, memory maps):
    /// lets readers borrow bytes without copying.
    fn as_slice(&self) -> Option<&[u8]> {
        None
    }
    /// The open file behind the source, if it is one read with positioned reads: lets callers
    /// move its bytes with a zero-copy transfer ([`crate::copy_range`]).
    fn as_file(&self) -> Option<&File> {
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

impl<T: ReadAt + ?Sized> ReadAt for Box<T> {
    fn size(&self) -> u64 {
        (**self).size()
    }
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        (**self).read_exact_at(offset, buf)
    }
    fn as_slice(&self) -> Option<&[u8]> {
        (**self).as_slice()
    }
    fn as_file(&self) -> Option<&File> {
        (**self).as_file()
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
    /// Opens `path` read-only. A directory is an error of kind
    /// [`io::ErrorKind::IsADirectory`] (opening one succeeds on Unix, reading it does not).
    pub fn open(path: &Path) -> io::Result<FileSource> {
        let file = File::open(path)?;
        let meta = file.metadata()?;
        if meta.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::IsADirectory,
                "is a directory",
            ));
        }
        Ok(FileSource {
            file,
            len: meta.len(),
        })
    }

    /// The open file (for zero-copy transfers such as `copy_file_range`).
    pub fn file(&self) -> &File {
        &self.file
    }
}

impl ReadAt for FileSource {
    fn size(&self) -> u64 {
        self.len
    }
    fn as_file(&self) -> Option<&File> {
        Some(&self.file)
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
    pub fn open(path: &Path) -> io::Result<MmapSource> {
        let file = File::open(path)?;
        if file.metadata()?.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::IsADirectory,
                "is a directory",
            ));
        }
        // SAFETY: the map is read-only; the documented risk (the file being changed or
        // truncated by someone else while mapped) is why this source is an explicit opt-in.
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::Mmap::map(&file) }?;
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

/// Why [`read_vec`] refused or failed.
#[derive(Debug)]
pub enum ReadVecError {
    /// `offset + len` overflows `u64`.
    Overflow { offset: u64, len: u64 },
    /// The requested range ends past the source (`size` bytes).
    PastEnd { offset: u64, end: u64, size: u64 },
    /// `len` does not fit in this machine's address space.
    TooLarge { len: u64 },
    /// The read itself failed.
    Io(io::Error),
}

impl std::fmt::Display for ReadVecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadVecError::Overflow { offset, len } => {
                write!(f, "offset {offset} + size {len} overflows")
            }
            ReadVecError::PastEnd { offset, end, size } => write!(
                f,
                "bytes {offset}..{end} requested, but the file has only {size} bytes"
            ),
            ReadVecError::TooLarge { len } => write!(f, "size {len} does not fit in memory"),
            ReadVecError::Io(e) => write!(f, "read failed: {e}"),
        }
    }
}

impl std::error::Error for ReadVecError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReadVecError::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// Reads `len` bytes at `offset` after checking they lie inside the source, so the allocation
/// is bounded by the source's real size.
pub fn read_vec(src: &dyn ReadAt, offset: u64, len: u64) -> Result<Vec<u8>, ReadVecError> {
    let end = offset
        .checked_add(len)
        .ok_or(ReadVecError::Overflow { offset, len })?;
    if end > src.size() {
        return Err(ReadVecError::PastEnd {
            offset,
            end,
            size: src.size(),
        });
    }
    let n = usize::try_from(len).map_err(|_| ReadVecError::TooLarge { len })?;
    let mut buf = vec![0u8; n];
    src.read_exact_at(offset, &mut buf)
        .map_err(ReadVecError::Io)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_reads() {
        let data: Vec<u8> = (0..10).collect();
        assert_eq!(read_vec(&data, 2, 3).unwrap(), vec![2, 3, 4]);
        assert!(matches!(
            read_vec(&data, 8, 3),
            Err(ReadVecError::PastEnd {
                end: 11,
                size: 10,
                ..
            })
        ));
        assert!(matches!(
            read_vec(&data, u64::MAX, 2),
            Err(ReadVecError::Overflow { .. })
        ));
        let mut b = [0u8; 2];
        assert!(data.as_slice().read_exact_at(9, &mut b).is_err());
    }

    #[test]
    fn file_source_refuses_directories() {
        let dir = tempfile::tempdir().unwrap();
        let e = FileSource::open(dir.path()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::IsADirectory);
        let p = dir.path().join("f");
        std::fs::write(&p, b"abcdef").unwrap();
        let f = FileSource::open(&p).unwrap();
        assert_eq!(f.size(), 6);
        let mut b = [0u8; 3];
        f.read_exact_at(2, &mut b).unwrap();
        assert_eq!(&b, b"cde");
        assert!(f.read_exact_at(5, &mut b).is_err());
    }
}
