//! The tensor bundle V2 writer: one `.data-00000-of-00001` shard plus an `.index` table that is
//! byte-identical to TensorFlow's for the same entries added in the same order
//! (docs/tf-bundle-format.md §2.9, §3.6, §3.7, §3.11, §11).
//!
//! ```no_run
//! # fn main() -> Result<(), tf_bundle::write::WriteError> {
//! use tf_bundle::{write::BundleWriter, DType};
//! let mut w = BundleWriter::create("out/model.ckpt")?;
//! w.add_bytes("w", DType::Float32, &[2], &[0, 0, 0x80, 0x3f, 0, 0, 0, 0x40])?;
//! w.add_strings("names", &[2], &[b"xy".as_slice(), b""])?;
//! w.finish()?; // out/model.ckpt.data-00000-of-00001, then out/model.ckpt.index
//! # Ok(()) }
//! ```
//!
//! Files are written as `<final name>.tempstate<random>` in the destination directory (TF's own
//! convention), fsync'd, and renamed at [`BundleWriter::finish`]: the data file first, the index
//! last, so an index never points at a missing or short data file. A writer dropped without
//! `finish` (error, panic, early return) removes its temporary file; nothing appears under the
//! final names. After a `kill -9` only a `.tempstate*` file can remain, never a final name.
//!
//! Deviation from the cross-crate contract: errors are this module's [`WriteError`] (the reader's
//! error type describes reading problems). Besides the contract's `add` (the reader's
//! [`crate::TensorData`]) and `add_raw_from` (streaming from a `Read`),
//! [`BundleWriter::begin_raw`] (streaming through a `Write`), [`BundleWriter::add_bytes`] and
//! [`BundleWriter::add_strings`] take borrowed values. Only little-endian, single-shard,
//! unpartitioned bundles are written.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use ckpt_io::{AtomicFile, TempStyle};
use prost::Message;

use crate::crc::mask as mask_crc;
use crate::proto::{
    tensor_shape_proto, BundleEntryProto, BundleHeaderProto, TensorShapeProto, VersionDef,
};
use crate::table::builder::{TableBuilder, TableOptions};
use crate::varint;
use crate::DType;

pub use crate::bundle::MAX_RANK;
pub use crate::path::{data_file_name, index_file_name};
const COPY_CHUNK: usize = 1 << 20;

/// What went wrong while writing a bundle (see [`WriteError`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteErrorKind {
    /// Reading the source or writing the output failed.
    #[error("I/O error: {0}")]
    Io(#[source] io::Error),
    /// The same tensor name was added twice (TF: "Adding duplicate key").
    #[error("duplicate tensor name")]
    DuplicateKey,
    /// A name TF cannot store as an ordinary tensor key.
    #[error("invalid tensor name: {0}")]
    InvalidName(&'static str),
    /// Shape invalid for TF (too many dims, element count overflows int64).
    #[error("invalid shape {shape:?}: {reason}")]
    InvalidShape {
        /// The offending shape.
        shape: Vec<u64>,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// The payload length does not match the dtype and shape.
    #[error(
        "payload size mismatch: expected {expected} bytes for the dtype and shape, found {found}"
    )]
    SizeMismatch {
        /// Bytes implied by dtype and shape.
        expected: u64,
        /// Bytes given.
        found: u64,
    },
    /// Values of the wrong kind for the dtype (strings for a numeric dtype or the reverse).
    #[error("dtype mismatch: expected {expected}, found {found}")]
    DtypeMismatch {
        /// What the dtype needs.
        expected: String,
        /// What was given.
        found: String,
    },
    /// The data file would exceed TF's int64 offsets.
    #[error("data file too large")]
    TooLarge,
}

impl WriteErrorKind {
    /// A stable short label for scripts and tests.
    pub fn label(&self) -> &'static str {
        match self {
            WriteErrorKind::Io(_) => "io",
            WriteErrorKind::DuplicateKey => "duplicate_key",
            WriteErrorKind::InvalidName(_) => "invalid_name",
            WriteErrorKind::InvalidShape { .. } => "invalid_shape",
            WriteErrorKind::SizeMismatch { .. } => "size_mismatch",
            WriteErrorKind::DtypeMismatch { .. } => "dtype_mismatch",
            WriteErrorKind::TooLarge => "too_large",
        }
    }
}

/// An error of [`BundleWriter`]: names the bundle file and, where it applies, the tensor.
#[derive(Debug, thiserror::Error)]
#[error("{}{}: {kind}", path.display(), key.as_ref().map(|k| format!(": tensor '{k}'")).unwrap_or_default())]
pub struct WriteError {
    kind: WriteErrorKind,
    path: PathBuf,
    key: Option<String>,
}

impl WriteError {
    fn new(kind: WriteErrorKind, path: &Path, key: Option<&str>) -> Self {
        WriteError {
            kind,
            path: path.to_path_buf(),
            key: key.map(str::to_owned),
        }
    }
    /// What went wrong.
    pub fn kind(&self) -> &WriteErrorKind {
        &self.kind
    }
    /// The file being written (final name).
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// The tensor name, if the error concerns one tensor.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }
}

/// Writes a TF tensor bundle (V2): see the module docs.
pub struct BundleWriter {
    prefix: PathBuf,
    data_path: PathBuf,
    data: Option<BufWriter<AtomicFile>>,
    offset: u64,
    entries: BTreeMap<Vec<u8>, BundleEntryProto>,
    /// Tensors copied with [`BundleWriter::copy_raw`] whose CRC is not known yet.
    pending_crc: std::collections::BTreeSet<Vec<u8>>,
}

impl std::fmt::Debug for BundleWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BundleWriter")
            .field("prefix", &self.prefix)
            .field("tensors", &self.entries.len())
            .field("data_bytes", &self.offset)
            .finish()
    }
}

impl BundleWriter {
    /// Starts a bundle at `prefix` (files `prefix.index`, `prefix.data-00000-of-00001`). Creates
    /// the temporary data file in the destination directory now; nothing appears under the
    /// final names before [`BundleWriter::finish`].
    pub fn create(prefix: impl AsRef<Path>) -> Result<Self, WriteError> {
        let prefix = prefix.as_ref().to_path_buf();
        let data_path = data_file_name(&prefix, 0, 1);
        let file = AtomicFile::create_with(&data_path, TempStyle::TfTempstate)
            .map_err(|e| WriteError::new(WriteErrorKind::Io(e), &data_path, None))?;
        Ok(BundleWriter {
            prefix,
            data_path,
            data: Some(BufWriter::with_capacity(COPY_CHUNK, file)),
            offset: 0,
            entries: BTreeMap::new(),
            pending_crc: std::collections::BTreeSet::new(),
        })
    }

    /// The prefix this writer writes.
    pub fn prefix(&self) -> &Path {
        &self.prefix
    }

    /// Number of tensors added so far.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if no tensor was added yet.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn err(&self, kind: WriteErrorKind, name: &str) -> WriteError {
        WriteError::new(kind, &self.data_path, Some(name))
    }

    /// Checks name and shape; returns the element count.
    fn check(&self, name: &str, shape: &[u64]) -> Result<u64, WriteError> {
        if name.is_empty() {
            return Err(self.err(
                WriteErrorKind::InvalidName("the empty name is the header key"),
                name,
            ));
        }
        if name.as_bytes()[0] == 0 {
            return Err(self.err(
                WriteErrorKind::InvalidName(
                    "a name starting with NUL would be read as a slice key",
                ),
                name,
            ));
        }
        if self.entries.contains_key(name.as_bytes()) {
            return Err(self.err(WriteErrorKind::DuplicateKey, name));
        }
        if shape.len() > MAX_RANK {
            return Err(self.err(
                WriteErrorKind::InvalidShape {
                    shape: shape.to_vec(),
                    reason: "more than 254 dimensions",
                },
                name,
            ));
        }
        let n = shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .filter(|&n| n <= i64::MAX as u64 && shape.iter().all(|&d| d <= i64::MAX as u64));
        n.ok_or_else(|| {
            self.err(
                WriteErrorKind::InvalidShape {
                    shape: shape.to_vec(),
                    reason: "element count overflows int64",
                },
                name,
            )
        })
    }

    /// Appends to the data file and advances the offset. After an I/O error the writer is
    /// closed (every later call fails), since the file's state is unknown.
    fn write_data(&mut self, name: &str, bytes: &[u8]) -> Result<(), WriteError> {
        let end = self
            .offset
            .checked_add(bytes.len() as u64)
            .filter(|&e| e <= i64::MAX as u64)
            .ok_or_else(|| self.err(WriteErrorKind::TooLarge, name))?;
        let written = match self.data.as_mut() {
            Some(w) => w.write_all(bytes),
            None => Err(io::Error::other("writer is closed after an earlier error")),
        };
        if let Err(e) = written {
            self.data = None;
            return Err(self.err(WriteErrorKind::Io(e), name));
        }
        self.offset = end;
        Ok(())
    }

    fn record(
        &mut self,
        name: &str,
        dtype: DType,
        shape: &[u64],
        begin: u64,
        crc: u32,
    ) -> Result<(), WriteError> {
        let size = self.offset - begin;
        let entry = BundleEntryProto {
            dtype: dtype.to_proto(),
            shape: Some(shape_proto(shape)),
            shard_id: 0,
            offset: begin as i64,
            size: size as i64,
            crc32c: mask_crc(crc),
            slices: Vec::new(),
        };
        self.entries.insert(name.as_bytes().to_vec(), entry);
        Ok(())
    }

    /// Adds a tensor as the reader returns it ([`crate::TensorData`]): bytes for numeric
    /// dtypes, one byte string per element for `string`.
    pub fn add(
        &mut self,
        name: &str,
        dtype: DType,
        shape: &[u64],
        data: &crate::TensorData,
    ) -> Result<(), WriteError> {
        match data {
            crate::TensorData::Bytes(b) => self.add_bytes(name, dtype, shape, b),
            crate::TensorData::Strings(s) if dtype == DType::String => {
                self.add_strings(name, shape, s)
            }
            crate::TensorData::Strings(_) => Err(self.err(
                WriteErrorKind::DtypeMismatch {
                    expected: format!("raw bytes for dtype {dtype}"),
                    found: "strings".into(),
                },
                name,
            )),
        }
    }

    /// Adds a numeric (fixed-size) tensor from its raw little-endian bytes in C order.
    pub fn add_bytes(
        &mut self,
        name: &str,
        dtype: DType,
        shape: &[u64],
        bytes: &[u8],
    ) -> Result<(), WriteError> {
        let expected = self.numeric_size(name, dtype, shape)?;
        if bytes.len() as u64 != expected {
            return Err(self.err(
                WriteErrorKind::SizeMismatch {
                    expected,
                    found: bytes.len() as u64,
                },
                name,
            ));
        }
        let begin = self.offset;
        self.write_data(name, bytes)?;
        self.record(name, dtype, shape, begin, crc32c::crc32c(bytes))
    }

    fn numeric_size(&self, name: &str, dtype: DType, shape: &[u64]) -> Result<u64, WriteError> {
        let n = self.check(name, shape)?;
        let elem = dtype.element_size().ok_or_else(|| {
            self.err(
                WriteErrorKind::DtypeMismatch {
                    expected: "strings for dtype string".into(),
                    found: "raw bytes".into(),
                },
                name,
            )
        })?;
        n.checked_mul(elem as u64)
            .filter(|&s| s <= i64::MAX as u64)
            .ok_or_else(|| self.err(WriteErrorKind::TooLarge, name))
    }

    /// Adds a numeric tensor by streaming exactly `len` raw little-endian bytes from `src` in
    /// bounded chunks (memory: one chunk, never the tensor).
    pub fn add_raw_from(
        &mut self,
        name: &str,
        dtype: DType,
        shape: &[u64],
        src: &mut dyn Read,
        len: u64,
    ) -> Result<(), WriteError> {
        let expected = self.numeric_size(name, dtype, shape)?;
        if len != expected {
            return Err(self.err(
                WriteErrorKind::SizeMismatch {
                    expected,
                    found: len,
                },
                name,
            ));
        }
        let begin = self.offset;
        let mut buf = vec![
            0u8;
            COPY_CHUNK
                .min(usize::try_from(len).unwrap_or(usize::MAX))
                .max(1)
        ];
        let mut crc = 0u32;
        let mut left = len;
        while left > 0 {
            let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let got = match src.read(&mut buf[..want]) {
                Ok(0) => {
                    return Err(self.err(
                        WriteErrorKind::SizeMismatch {
                            expected,
                            found: len - left,
                        },
                        name,
                    ));
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.err(WriteErrorKind::Io(e), name)),
            };
            crc = crc32c::crc32c_append(crc, &buf[..got]);
            self.write_data(name, &buf[..got])?;
            left -= got as u64;
        }
        self.record(name, dtype, shape, begin, crc)
    }

    /// Starts streaming a numeric tensor through [`Write`] (e.g. from the reader's
    /// `Checkpoint::read_raw_to`): write exactly its raw little-endian bytes, then call
    /// [`RawTensorWriter::finish`]. A stream dropped unfinished leaves unreferenced bytes in the
    /// data file (legal: readers locate tensors by offset and size) and no entry.
    pub fn begin_raw(
        &mut self,
        name: &str,
        dtype: DType,
        shape: &[u64],
    ) -> Result<RawTensorWriter<'_>, WriteError> {
        let h = self.open_raw(name, dtype, shape)?;
        Ok(RawTensorWriter { w: self, h })
    }

    /// Like [`BundleWriter::begin_raw`], but the open tensor is an owned [`RawTensor`] that
    /// does not borrow the writer (for callers that write a tensor piecewise between other
    /// work): [`BundleWriter::write_raw`] its bytes, then [`BundleWriter::close_raw`]. Only one
    /// tensor may be open at a time (the data file is written in order).
    pub fn open_raw(
        &mut self,
        name: &str,
        dtype: DType,
        shape: &[u64],
    ) -> Result<RawTensor, WriteError> {
        let expected = self.numeric_size(name, dtype, shape)?;
        Ok(RawTensor {
            name: name.to_string(),
            dtype,
            shape: shape.to_vec(),
            begin: self.offset,
            expected,
            crc: 0,
        })
    }

    /// Appends bytes of the open tensor `h` (refuses more than its dtype and shape allow, or a
    /// tensor that is not the one being written).
    pub fn write_raw(&mut self, h: &mut RawTensor, buf: &[u8]) -> Result<(), WriteError> {
        let written = self.offset.checked_sub(h.begin).unwrap_or(u64::MAX);
        if written == u64::MAX || written + buf.len() as u64 > h.expected {
            return Err(self.err(
                WriteErrorKind::SizeMismatch {
                    expected: h.expected,
                    found: written.saturating_add(buf.len() as u64),
                },
                &h.name,
            ));
        }
        self.write_data(&h.name, buf)?;
        h.crc = crc32c::crc32c_append(h.crc, buf);
        Ok(())
    }

    /// Records the open tensor `h`; fails if fewer bytes than its size were written.
    pub fn close_raw(&mut self, h: RawTensor) -> Result<(), WriteError> {
        let written = self.offset - h.begin;
        if written != h.expected {
            return Err(self.err(
                WriteErrorKind::SizeMismatch {
                    expected: h.expected,
                    found: written,
                },
                &h.name,
            ));
        }
        self.record(&h.name, h.dtype, &h.shape, h.begin, h.crc)
    }

    /// Adds a numeric tensor whose raw little-endian bytes are the concatenation of `pieces`
    /// (`(file, offset, length)`), moved file to file with [`ckpt_io::copy_range`]
    /// (`copy_file_range` where possible) without passing through this process. `crc` is the
    /// unmasked CRC32C of those bytes if the caller knows it (e.g. combined from the source
    /// entries' stored CRCs), or `None` to give it later with [`BundleWriter::set_crc`] (before
    /// [`BundleWriter::finish`], which refuses otherwise). The bytes are not checked here: the
    /// caller must check them (and that `crc` is theirs) before calling `finish`.
    pub fn copy_raw(
        &mut self,
        name: &str,
        dtype: DType,
        shape: &[u64],
        pieces: &[(&fs::File, u64, u64)],
        crc: Option<u32>,
        mode: ckpt_io::CopyMode,
    ) -> Result<ckpt_io::CopyStats, WriteError> {
        let expected = self.numeric_size(name, dtype, shape)?;
        let found = pieces.iter().fold(0u64, |a, p| a.saturating_add(p.2));
        if found != expected {
            return Err(self.err(WriteErrorKind::SizeMismatch { expected, found }, name));
        }
        let begin = self.offset;
        let end = begin
            .checked_add(expected)
            .filter(|&e| e <= i64::MAX as u64)
            .ok_or_else(|| self.err(WriteErrorKind::TooLarge, name))?;
        let mut stats = ckpt_io::CopyStats::default();
        let done = (|| -> io::Result<()> {
            use std::io::{Seek, SeekFrom};
            let w = self
                .data
                .as_mut()
                .ok_or_else(|| io::Error::other("writer is closed after an earlier error"))?;
            w.flush()?;
            let dst = w.get_mut().file_mut()?;
            let mut at = begin;
            for &(src, off, len) in pieces {
                if len > 0 {
                    ckpt_io::copy_range(src, off, dst, at, len, mode, &mut stats)?;
                }
                at += len;
            }
            // positioned copies leave the cursor alone: move it past the copied bytes
            dst.seek(SeekFrom::Start(end))?;
            Ok(())
        })();
        if let Err(e) = done {
            self.data = None;
            return Err(self.err(WriteErrorKind::Io(e), name));
        }
        self.offset = end;
        self.record(name, dtype, shape, begin, crc.unwrap_or(0))?;
        if crc.is_none() {
            self.pending_crc.insert(name.as_bytes().to_vec());
        }
        Ok(stats)
    }

    /// Sets the (unmasked) CRC32C of a tensor added by [`BundleWriter::copy_raw`] without one.
    pub fn set_crc(&mut self, name: &str, crc: u32) -> Result<(), WriteError> {
        if !self.pending_crc.remove(name.as_bytes()) {
            return Err(self.err(
                WriteErrorKind::InvalidName("no copied tensor of this name is waiting for its CRC"),
                name,
            ));
        }
        if let Some(e) = self.entries.get_mut(name.as_bytes()) {
            e.crc32c = mask_crc(crc);
        }
        Ok(())
    }

    /// Adds a `string` tensor (docs/tf-bundle-format.md §3.7: varint lengths, masked length
    /// checksum, bytes).
    pub fn add_strings<S: AsRef<[u8]>>(
        &mut self,
        name: &str,
        shape: &[u64],
        strings: &[S],
    ) -> Result<(), WriteError> {
        let n = self.check(name, shape)?;
        if strings.len() as u64 != n {
            return Err(self.err(
                WriteErrorKind::SizeMismatch {
                    expected: n,
                    found: strings.len() as u64,
                },
                name,
            ));
        }
        let mut head = Vec::with_capacity(strings.len() + 4);
        let mut crc = 0u32;
        let mut size = 4u64;
        for s in strings {
            let l = s.as_ref().len() as u64;
            varint::encode_u64(l, &mut head);
            crc = crate::bundle::extend_string_length_crc(crc, l, false);
            size = size
                .checked_add(varint::encoded_len(l))
                .and_then(|s| s.checked_add(l))
                .ok_or_else(|| self.err(WriteErrorKind::TooLarge, name))?;
        }
        let len_crc = mask_crc(crc).to_le_bytes();
        head.extend_from_slice(&len_crc);
        crc = crc32c::crc32c_append(crc, &len_crc);
        let begin = self.offset;
        self.write_data(name, &head)?;
        for s in strings {
            crc = crc32c::crc32c_append(crc, s.as_ref());
            self.write_data(name, s.as_ref())?;
        }
        debug_assert_eq!(self.offset - begin, size);
        self.record(name, DType::String, shape, begin, crc)
    }

    /// Writes the data file and the `.index` (TF's table settings), fsyncs both and renames
    /// them into place: data first, index last. On error nothing is left under the final names.
    pub fn finish(mut self) -> Result<(), WriteError> {
        if let Some(k) = self.pending_crc.first() {
            let name = String::from_utf8_lossy(k).into_owned();
            return Err(self.err(
                WriteErrorKind::InvalidName("copied without a CRC, and set_crc was never called"),
                &name,
            ));
        }
        let data_path = self.data_path.clone();
        let io_err = |e: io::Error, p: &Path| WriteError::new(WriteErrorKind::Io(e), p, None);
        let data = match self.data.take() {
            Some(w) => w
                .into_inner()
                .map_err(|e| io_err(e.into_error(), &data_path))?,
            None => {
                return Err(io_err(
                    io::Error::other("writer is closed after an earlier error"),
                    &data_path,
                ))
            }
        };
        let index_path = index_file_name(&self.prefix);
        let index = self
            .index_bytes()
            .map_err(|e| io_err(io::Error::other(e), &index_path))?;
        let mut index_file = AtomicFile::create_with(&index_path, TempStyle::TfTempstate)
            .map_err(|e| io_err(e, &index_path))?;
        index_file
            .write_all(&index)
            .map_err(|e| io_err(e, &index_path))?;
        // Overwriting an existing checkpoint: drop its index first, so that a kill between the
        // two commits below leaves "no checkpoint" (a data file without an index), never the
        // old index paired with the new data.
        match fs::remove_file(&index_path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(e, &index_path)),
        }
        data.commit().map_err(|e| io_err(e, &data_path))?;
        // Until the index is in place, an interrupted process (ckpt_io::abandon_outputs)
        // removes the data file too.
        let committed = ckpt_io::PendingOutput::new(&data_path).and_then(|pending| {
            let r = index_file.commit();
            drop(pending);
            r
        });
        if let Err(e) = committed {
            let _ = fs::remove_file(&data_path);
            return Err(io_err(e, &index_path));
        }
        Ok(())
    }

    /// The serialized `.index` for the entries added so far (header `08 01 1a 02 08 01`).
    /// Keys come from a sorted map after the empty header key, so the builder's key-order
    /// check cannot fail here.
    fn index_bytes(&self) -> Result<Vec<u8>, crate::Error> {
        let header = BundleHeaderProto {
            num_shards: 1,
            endianness: 0,
            version: Some(VersionDef {
                producer: 1,
                min_consumer: 0,
                bad_consumers: Vec::new(),
            }),
        };
        let mut t = TableBuilder::new(TableOptions::default());
        t.add(b"", &header.encode_to_vec())?;
        for (k, e) in &self.entries {
            t.add(k, &e.encode_to_vec())?;
        }
        Ok(t.finish())
    }
}

/// A numeric tensor open for writing (see [`BundleWriter::open_raw`]).
#[derive(Debug)]
pub struct RawTensor {
    name: String,
    dtype: DType,
    shape: Vec<u64>,
    begin: u64,
    expected: u64,
    crc: u32,
}

impl RawTensor {
    /// The tensor's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// One numeric tensor being streamed into a [`BundleWriter`] (see [`BundleWriter::begin_raw`]).
#[derive(Debug)]
pub struct RawTensorWriter<'a> {
    w: &'a mut BundleWriter,
    h: RawTensor,
}

impl Write for RawTensorWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.w.offset - self.h.begin;
        if written + buf.len() as u64 > self.h.expected {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "tensor '{}': more than the {} bytes its dtype and shape allow",
                    self.h.name, self.h.expected
                ),
            ));
        }
        self.w
            .write_raw(&mut self.h, buf)
            .map_err(|e| io::Error::other(e.to_string()))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl RawTensorWriter<'_> {
    /// Records the tensor; fails if fewer bytes than its size were written.
    pub fn finish(self) -> Result<(), WriteError> {
        self.w.close_raw(self.h)
    }
}

fn shape_proto(shape: &[u64]) -> TensorShapeProto {
    TensorShapeProto {
        dim: shape
            .iter()
            .map(|&d| tensor_shape_proto::Dim {
                size: d as i64,
                name: String::new(),
            })
            .collect(),
        unknown_rank: false,
    }
}

#[cfg(test)]
mod tests;
