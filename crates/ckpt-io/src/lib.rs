//! # ckpt-io
//!
//! Owns the byte-level I/O every format crate shares: the [`ReadAt`] trait (positioned reads
//! with no cursor, so one source can serve many readers and threads), its implementations for
//! files ([`FileSource`], `pread`), in-memory bytes and (feature `mmap`, an explicit opt-in)
//! memory maps ([`MmapSource`]), a bounded read helper ([`read_vec`]) that never allocates more
//! than the source holds, [`AtomicFile`], the one way an output file is written: a temp
//! file in the destination directory, fsync, rename (every live temp file listed, so that
//! [`abandon_outputs`] can remove them when the process is interrupted), and [`copy_range`], the zero-copy
//! transfer between files (`copy_file_range`, with a buffered fallback).
//!
//! It never parses a format, never knows a checkpoint, never prints and never reads the
//! process's current directory: a relative path given to it is the caller's decision. Errors
//! are plain [`std::io::Error`]s; the format crates wrap them with the file and tensor they
//! concern.
#![cfg_attr(not(feature = "mmap"), forbid(unsafe_code))]

mod atomic;
mod copy;
mod read;

pub use atomic::{abandon_outputs, live_outputs, AtomicFile, PendingOutput, TempStyle};
pub use copy::{copy_range, is_unsupported, CopyMode, CopyStats};
#[cfg(feature = "mmap")]
pub use read::MmapSource;
pub use read::{read_vec, FileSource, ReadAt, ReadVecError};
