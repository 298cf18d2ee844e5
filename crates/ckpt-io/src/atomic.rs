//! Atomic output files: a temp file in the destination directory, fsync, rename.
//!
//! Every live temp file is also listed in a process-wide registry, so that a face that
//! catches SIGINT/SIGTERM (the CLI's signal thread) can remove them before it exits:
//! [`abandon_outputs`] closes the registry (no new temp file, no commit after it) and deletes
//! every listed file. A commit holds the registry's lock across its rename, so an output is
//! either complete at its final name or gone, never half renamed.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// The live temp files (and pending outputs, see [`PendingOutput`]) of this process.
struct Live {
    paths: BTreeMap<u64, PathBuf>,
    next: u64,
    /// Set by [`abandon_outputs`]: the process is ending; nothing may be created or committed.
    closed: bool,
}

static LIVE: Mutex<Live> = Mutex::new(Live {
    paths: BTreeMap::new(),
    next: 0,
    closed: false,
});

fn live() -> MutexGuard<'static, Live> {
    // A panic while holding the lock leaves the map consistent (every operation on it is one
    // insert or remove), so a poisoned lock is still usable.
    LIVE.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn interrupted() -> io::Error {
    io::Error::new(
        io::ErrorKind::Interrupted,
        "the process is being interrupted: outputs are abandoned",
    )
}

impl Live {
    fn register(&mut self, p: &Path) -> u64 {
        self.next += 1;
        self.paths.insert(self.next, p.to_path_buf());
        self.next
    }
}

/// Abandons every unfinished output of this process: deletes the live temp files of all
/// [`AtomicFile`]s and the [`PendingOutput`]s, and closes the registry so that no temp file is
/// created and nothing is committed after this call (those calls fail with
/// [`io::ErrorKind::Interrupted`]). Returns the paths deleted. Meant for a signal-handling
/// thread right before the process exits; it blocks while a commit is renaming.
pub fn abandon_outputs() -> Vec<PathBuf> {
    let mut g = live();
    g.closed = true;
    let paths = std::mem::take(&mut g.paths);
    paths
        .into_values()
        .filter(|p| fs::remove_file(p).is_ok())
        .collect()
}

/// The number of live temp files and pending outputs (for tests and diagnostics).
pub fn live_outputs() -> usize {
    live().paths.len()
}

/// A file already at its final name that is only valid together with another one still being
/// written (a bundle's data file before its index): [`abandon_outputs`] deletes it until this
/// guard is dropped.
#[derive(Debug)]
pub struct PendingOutput {
    id: u64,
}

impl PendingOutput {
    /// Lists `path` for deletion on [`abandon_outputs`] (fails if outputs were abandoned).
    pub fn new(path: impl AsRef<Path>) -> io::Result<PendingOutput> {
        let mut g = live();
        if g.closed {
            return Err(interrupted());
        }
        Ok(PendingOutput {
            id: g.register(path.as_ref()),
        })
    }
}

impl Drop for PendingOutput {
    fn drop(&mut self) {
        live().paths.remove(&self.id);
    }
}

/// How the temporary file next to the destination is named.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TempStyle {
    /// `.<name>.<16 hex digits>.tmp`: hidden, the default for our own outputs.
    #[default]
    Hidden,
    /// `<name>.tempstate<digits>`: TensorFlow's own convention for bundle files, so TF tooling
    /// that cleans up after interrupted saves recognises them.
    TfTempstate,
}

/// A file that appears at its destination only when complete.
///
/// [`AtomicFile::create`] makes the temp file next to the destination (same directory, so the
/// final rename never crosses filesystems); [`AtomicFile::commit`] flushes, fsyncs, renames it
/// over the destination and fsyncs the directory. Dropping an uncommitted `AtomicFile` (an
/// error, a panic, an early return) deletes the temp file, so nothing is ever left at the
/// destination; after a `kill -9` at most the temp file remains.
#[derive(Debug)]
pub struct AtomicFile {
    dest: PathBuf,
    tmp: PathBuf,
    file: Option<File>,
    /// The temp file's entry in the registry of live outputs.
    id: u64,
}

fn parent_dir(p: &Path) -> &Path {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

impl AtomicFile {
    /// Creates the hidden temp file for `dest` (the destination directory must exist).
    pub fn create(dest: impl AsRef<Path>) -> io::Result<AtomicFile> {
        AtomicFile::create_with(dest, TempStyle::Hidden)
    }

    /// Creates the temp file for `dest`, named in `style`.
    pub fn create_with(dest: impl AsRef<Path>, style: TempStyle) -> io::Result<AtomicFile> {
        use std::hash::{BuildHasher, Hasher};
        let dest = dest.as_ref().to_path_buf();
        let dir = parent_dir(&dest).to_path_buf();
        let base = dest
            .file_name()
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "the output path has no file name",
                )
            })?
            .to_string_lossy()
            .into_owned();
        let mut last = None;
        for attempt in 0u64..16 {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(attempt);
            h.write_u32(std::process::id());
            let name = match style {
                TempStyle::Hidden => format!(".{base}.{:016x}.tmp", h.finish()),
                TempStyle::TfTempstate => format!("{base}.tempstate{}", h.finish()),
            };
            let tmp = dir.join(name);
            // The lock is held from the creation on, so an abandon cannot miss this file.
            let mut g = live();
            if g.closed {
                return Err(interrupted());
            }
            match OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&tmp)
            {
                Ok(file) => {
                    let id = g.register(&tmp);
                    return Ok(AtomicFile {
                        dest,
                        tmp,
                        file: Some(file),
                        id,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("cannot create a temporary file")))
    }

    /// The final path.
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// The temporary path (for diagnostics and tests).
    pub fn temp_path(&self) -> &Path {
        &self.tmp
    }

    /// The open temp file (for positioned or zero-copy writes such as `copy_file_range`).
    pub fn file_mut(&mut self) -> io::Result<&mut File> {
        self.file
            .as_mut()
            .ok_or_else(|| io::Error::other("the atomic file is already closed"))
    }

    /// Flushes and fsyncs the file, renames it to the destination, fsyncs the directory.
    pub fn commit(mut self) -> io::Result<()> {
        let mut file = self
            .file
            .take()
            .ok_or_else(|| io::Error::other("the atomic file is already closed"))?;
        let done = file.flush().and_then(|()| file.sync_all()).and_then(|()| {
            drop(file);
            let mut g = live();
            let renamed = if g.closed {
                Err(interrupted())
            } else {
                fs::rename(&self.tmp, &self.dest)
            };
            if renamed.is_ok() {
                g.paths.remove(&self.id);
            }
            renamed
        });
        if let Err(e) = done {
            let mut g = live();
            let _ = fs::remove_file(&self.tmp);
            g.paths.remove(&self.id);
            return Err(e);
        }
        if let Ok(d) = File::open(parent_dir(&self.dest)) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file_mut()?.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file_mut()?.flush()
    }
}

impl Seek for AtomicFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.file_mut()?.seek(pos)
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let mut g = live();
            let _ = fs::remove_file(&self.tmp);
            g.paths.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_renames_and_drop_removes() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.bin");
        let mut f = AtomicFile::create(&dest).unwrap();
        f.write_all(b"hello").unwrap();
        assert!(!dest.exists());
        assert!(f.temp_path().exists());
        f.commit().unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"hello");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);

        let other = dir.path().join("other.bin");
        {
            let mut f = AtomicFile::create(&other).unwrap();
            f.write_all(b"partial").unwrap();
        }
        assert!(!other.exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn commit_replaces_an_existing_file_only_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("x");
        fs::write(&dest, b"old").unwrap();
        let mut f = AtomicFile::create(&dest).unwrap();
        f.write_all(b"new").unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"old");
        f.commit().unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"new");
    }

    #[test]
    fn temp_names() {
        let dir = tempfile::tempdir().unwrap();
        let a = AtomicFile::create(dir.path().join("m.index")).unwrap();
        let name = a
            .temp_path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(
            name.starts_with(".m.index.") && name.ends_with(".tmp"),
            "{name}"
        );
        let b =
            AtomicFile::create_with(dir.path().join("m.index"), TempStyle::TfTempstate).unwrap();
        let name = b
            .temp_path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(name.starts_with("m.index.tempstate"), "{name}");
    }

    #[test]
    fn a_missing_directory_is_an_error_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let e = AtomicFile::create(dir.path().join("no/such/out")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
