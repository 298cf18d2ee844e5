//! # torch-pt
//!
//! Owns the PyTorch checkpoint *file format* as state dicts use it (docs/pt-format.md): the
//! ZIP archive `torch.save` writes (STORED entries, ZIP64, one root folder, `data.pkl`,
//! `data/<key>` storages, `version`, optional `byteorder`), a restricted unpickler of
//! `data.pkl` that accepts exactly the opcodes and globals of torch's weights-only unpickler,
//! bounded CRC-checked tensor reads (any view: offset and strides into a shared storage), and a
//! streaming writer whose files `torch.load(f, weights_only=True)` (also with `mmap=True`)
//! reads back bit for bit.
//!
//! It never executes anything from a file (globals are looked up in a fixed table, "calls"
//! build values), never knows RETURNN's loading rules (those are `param-map`'s; only the
//! `{"model": ..., "epoch", ...}` layout is known here), never prints, exits or reads the
//! current directory, and never panics on input: every problem is an [`Error`] with a
//! [`ErrorKind`] (snake_case [`ErrorKind::label`]), the file, the tensor key and what was
//! expected versus found.
//!
//! Entry points: [`PtFile::open`] (then [`PtFile::state_dict`], [`PtFile::tensors`],
//! [`PtFile::read_to`], [`PtFile::tensor_bytes`], [`PtFile::returnn_scalars`]) and
//! [`StateDictWriter`] / [`PtWriter`]. The parsers also run on bytes in memory
//! ([`PtFile::from_bytes`], [`pickle::unpickle`], [`zip::ZipArchive::parse`]) for tests and
//! fuzzing.
//!
//! Invariants: no allocation is sized by a number from the file before it is checked against
//! what the file holds (the central directory against the file size, entries against the
//! central directory, storages against their records, views against their storages, with
//! checked arithmetic); the unpickler's memory is bounded by `data.pkl`'s length, its nesting by
//! [`pickle::MAX_DEPTH`], and the expansion of shared objects by the number of opcodes; every
//! byte returned has passed its record's CRC-32 (verified once per record and open file, by
//! streaming); outputs appear only complete (`ckpt_io::AtomicFile`).
//!
//! ## Why a ZIP reader of our own instead of the `zip` crate
//!
//! The `zip` crate (with default features off: no compression) reads and writes STORED
//! entries and ZIP64, and it verifies CRCs when an entry is read to its end. We use a small
//! central-directory reader and writer instead (`zip.rs`, about 700 lines with tests) because:
//! * the reader must work over [`ckpt_io::ReadAt`] (positioned reads shared by many readers,
//!   in-memory bytes and memory maps), while the `zip` crate needs an exclusive `Read + Seek`
//!   cursor per archive;
//! * zero-copy access to a tensor in a memory-mapped file needs each entry's exact payload
//!   offset and size, checked once at open (the crate resolves them lazily per opened entry);
//! * the rules we enforce on untrusted input are stricter than a general ZIP reader's: every
//!   entry STORED, local and central headers agreeing, no two entries overlapping, every
//!   payload before the central directory, one root folder, no duplicate names;
//! * torch's writer pads local headers with its own extra field `0x4246` to align payloads to
//!   64 bytes (what `mmap=True` loading relies on in torch's writer), and our writer streams an
//!   entry of known size and patches its CRC afterwards: neither is an option of the crate's
//!   writer, whose alignment padding uses another extra-field id;
//! * the format subset is small (docs/pt-format.md §2) and fully covered by table tests, a
//!   corruption sweep, a fuzz target and the torch/Python `zipfile` oracle.
//!
//! CRC-32 itself comes from `crc32fast` (hardware-accelerated where available).
#![cfg_attr(not(feature = "mmap"), forbid(unsafe_code))]

pub mod dtype;
pub mod error;
pub mod pickle;
pub mod read;
pub mod value;
pub mod write;
pub mod zip;

pub use dtype::DType;
pub use error::{Error, ErrorKind, Result};
pub use read::{OpenOptions, PtFile, ReturnnScalars, StateDict};
pub use value::{
    contiguous_strides, Dict, DictKind, NamedTensor, PathSeg, StorageRef, TensorInfo, TensorPath,
    Value,
};
pub use write::{Layout, PtWriter, ReturnnMeta, StateDictWriter, WriteOptions};

/// Lowercase hex of a digest.
pub fn hex(d: &[u8; 32]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}
