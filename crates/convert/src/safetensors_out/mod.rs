//! A streaming safetensors writer.
//!
//! Why not `safetensors::serialize_to_file`: it takes every tensor as a `View` at once, so the
//! caller must hold the whole checkpoint in memory (or map every data file) before the first
//! byte is written. A safetensors header only needs names, dtypes and shapes, which a TF
//! checkpoint's index already gives; so this writer computes the header up front — with the
//! crate's own [`safetensors::tensor::TensorInfo`] serialization, the crate's ordering (dtype
//! alignment descending, then name) and 8-byte header padding, and validates it with the
//! crate's [`safetensors::tensor::Metadata`] parser — and then streams each tensor's bytes
//! (e.g. from `Checkpoint::read_raw_to`) straight into the output. Peak memory is one I/O
//! buffer, never the checkpoint. For the same tensors and no metadata the file is
//! byte-identical to `safetensors::serialize` (a test), so both the Rust crate and Python's
//! `safetensors` load it.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use safetensors::tensor::TensorInfo as StInfo;
use tf_bundle::DType;

use crate::dtypes::safetensors_dtype_with_float8;
use crate::{AtomicFile, Error, ErrorKind};

/// The largest header the `safetensors` crate accepts.
pub const MAX_HEADER_SIZE: usize = 100_000_000;

#[derive(Debug)]
struct Slot {
    name: String,
    begin: u64,
    len: u64,
    written: bool,
}

/// Writes a `.safetensors` file tensor by tensor: see the module docs.
///
/// ```no_run
/// # fn main() -> Result<(), convert::Error> {
/// use std::collections::BTreeMap;
/// use convert::SafetensorsWriter;
/// use tf_bundle::DType;
/// let decl = vec![("w".to_string(), DType::Float32, vec![2]), ("step".to_string(), DType::Int64, vec![])];
/// let mut w = SafetensorsWriter::create("out.safetensors".as_ref(), decl, BTreeMap::new())?;
/// w.write_next("step", &7i64.to_le_bytes())?;
/// let mut s = w.stream("w")?; // e.g. checkpoint.read_raw_to("w", &mut s)?
/// std::io::Write::write_all(&mut s, &[0, 0, 0x80, 0x3f, 0, 0, 0, 0x40]).ok();
/// s.finish()?;
/// w.finish()?; // fsync + rename: out.safetensors appears only now
/// # Ok(()) }
/// ```
///
/// Tensors may be written in any order (out-of-order writes seek); writing them in
/// [`SafetensorsWriter::order`] never seeks. Every declared tensor must be written exactly
/// once before [`SafetensorsWriter::finish`]; a writer dropped unfinished leaves nothing.
#[derive(Debug)]
pub struct SafetensorsWriter {
    path: PathBuf,
    out: BufWriter<AtomicFile>,
    slots: Vec<Slot>,
    by_name: HashMap<String, usize>,
    pos: u64,
}

/// The header bytes (JSON padded with spaces to a multiple of 8) and the slots in file order.
fn build_header(
    tensors: Vec<(String, DType, Vec<u64>)>,
    metadata: &BTreeMap<String, String>,
) -> Result<(Vec<u8>, Vec<Slot>), Error> {
    let mut infos = Vec::with_capacity(tensors.len());
    for (name, dtype, shape) in tensors {
        let st = safetensors_dtype_with_float8(dtype).ok_or_else(|| {
            Error::new(ErrorKind::Unsupported(format!(
                "safetensors has no dtype for {dtype}"
            )))
            .with_key(&name)
        })?;
        if name == "__metadata__" {
            return Err(Error::new(ErrorKind::NameCollision(
                "'__metadata__' is reserved by safetensors".into(),
            ))
            .with_key(name));
        }
        let shape_us: Vec<usize> = shape
            .iter()
            .map(|&d| usize::try_from(d))
            .collect::<Result<_, _>>()
            .map_err(|_| {
                Error::new(ErrorKind::Unsupported(format!("shape {shape:?} too large")))
                    .with_key(&name)
            })?;
        let nbytes = shape
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .and_then(|n| n.checked_mul(dtype.element_size()? as u64))
            .ok_or_else(|| {
                Error::new(ErrorKind::Unsupported(format!("shape {shape:?} too large")))
                    .with_key(&name)
            })?;
        infos.push((name, st, shape_us, nbytes));
    }
    // the safetensors crate's order: dtype descending (= alignment descending), then name
    infos.sort_by(|(ln, lt, ..), (rn, rt, ..)| rt.cmp(lt).then(ln.cmp(rn)));
    let mut json = String::from("{");
    let ser = |e: serde_json::Error| Error::new(ErrorKind::Safetensors(e.to_string()));
    if !metadata.is_empty() {
        json.push_str("\"__metadata__\":");
        json.push_str(&serde_json::to_string(metadata).map_err(ser)?);
    }
    let mut slots = Vec::with_capacity(infos.len());
    let mut offset = 0u64;
    let mut seen = std::collections::HashSet::new();
    for (name, dtype, shape, nbytes) in infos {
        if !seen.insert(name.clone()) {
            return Err(Error::new(ErrorKind::NameCollision(
                "two tensors have this name".into(),
            ))
            .with_key(name));
        }
        let end = offset
            .checked_add(nbytes)
            .ok_or_else(|| Error::new(ErrorKind::Unsupported("output too large".into())))?;
        let info = StInfo {
            dtype,
            shape,
            data_offsets: (
                usize::try_from(offset)
                    .map_err(|_| Error::new(ErrorKind::Unsupported("output too large".into())))?,
                usize::try_from(end)
                    .map_err(|_| Error::new(ErrorKind::Unsupported("output too large".into())))?,
            ),
        };
        if json.len() > 1 {
            json.push(',');
        }
        json.push_str(&serde_json::to_string(&name).map_err(ser)?);
        json.push(':');
        json.push_str(&serde_json::to_string(&info).map_err(ser)?);
        slots.push(Slot {
            name,
            begin: offset,
            len: nbytes,
            written: false,
        });
        offset = end;
    }
    json.push('}');
    let mut header = json.into_bytes();
    header.resize(header.len().next_multiple_of(8), b' ');
    if header.len() > MAX_HEADER_SIZE {
        return Err(Error::new(ErrorKind::Safetensors(format!(
            "header of {} bytes exceeds the limit of {MAX_HEADER_SIZE}",
            header.len()
        ))));
    }
    // validate with the crate's own parser (offsets tile the data, sizes match shapes)
    serde_json::from_slice::<safetensors::tensor::Metadata>(&header).map_err(|e| {
        Error::new(ErrorKind::Safetensors(format!(
            "generated header rejected: {e}"
        )))
    })?;
    let base = 8 + header.len() as u64;
    for s in &mut slots {
        s.begin += base;
    }
    Ok((header, slots))
}

impl SafetensorsWriter {
    /// Creates the temp output and writes the header for `tensors` (name, TF dtype, shape).
    /// Dtypes must have a safetensors equivalent (see [`crate::dtypes`]); `metadata` becomes
    /// `__metadata__` (omitted when empty).
    pub fn create(
        path: &Path,
        tensors: Vec<(String, DType, Vec<u64>)>,
        metadata: BTreeMap<String, String>,
    ) -> Result<Self, Error> {
        let (header, slots) = build_header(tensors, &metadata).map_err(|e| e.with_path(path))?;
        let file = AtomicFile::create(path).map_err(|e| Error::io(e, path))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        out.write_all(&(header.len() as u64).to_le_bytes())
            .and_then(|()| out.write_all(&header))
            .map_err(|e| Error::io(e, path))?;
        let by_name = slots
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), i))
            .collect();
        Ok(SafetensorsWriter {
            path: path.to_path_buf(),
            out,
            slots,
            by_name,
            pos: 8 + header.len() as u64,
        })
    }

    /// Tensor names in file order (writing in this order never seeks).
    pub fn order(&self) -> impl Iterator<Item = &str> {
        self.slots.iter().map(|s| s.name.as_str())
    }

    /// The expected byte length of a declared tensor.
    pub fn tensor_len(&self, name: &str) -> Option<u64> {
        self.by_name.get(name).map(|&i| self.slots[i].len)
    }

    fn usage(&self, msg: String, name: &str) -> Error {
        Error::new(ErrorKind::Usage(msg))
            .with_path(&self.path)
            .with_key(name)
    }

    /// Writes one declared tensor's little-endian bytes.
    pub fn write_next(&mut self, name: &str, bytes: &[u8]) -> Result<(), Error> {
        let mut s = self.stream(name)?;
        s.write_all(bytes)
            .map_err(|e| Error::io(e, &s.w.path).with_key(name))?;
        s.finish()
    }

    /// Starts streaming one declared tensor: write its bytes into the returned stream (e.g.
    /// with `Checkpoint::read_raw_to`), then call [`TensorStream::finish`].
    pub fn stream(&mut self, name: &str) -> Result<TensorStream<'_>, Error> {
        let i = *self
            .by_name
            .get(name)
            .ok_or_else(|| self.usage("not declared when the writer was created".into(), name))?;
        if self.slots[i].written {
            return Err(self.usage("written twice".into(), name));
        }
        let begin = self.slots[i].begin;
        if self.pos != begin {
            self.out
                .seek(SeekFrom::Start(begin))
                .map_err(|e| Error::io(e, &self.path).with_key(name))?;
            self.pos = begin;
        }
        Ok(TensorStream {
            w: self,
            index: i,
            written: 0,
        })
    }

    /// Writes one declared tensor as the concatenation of `pieces` (`(file, offset, length)`),
    /// moved file to file with [`ckpt_io::copy_range`] (`copy_file_range` where possible). The
    /// bytes are not checked here: the caller checks them before [`SafetensorsWriter::finish`].
    pub fn copy_tensor(
        &mut self,
        name: &str,
        pieces: &[(&std::fs::File, u64, u64)],
        mode: ckpt_io::CopyMode,
    ) -> Result<ckpt_io::CopyStats, Error> {
        let i = *self
            .by_name
            .get(name)
            .ok_or_else(|| self.usage("not declared when the writer was created".into(), name))?;
        if self.slots[i].written {
            return Err(self.usage("written twice".into(), name));
        }
        let (begin, len) = (self.slots[i].begin, self.slots[i].len);
        let found = pieces.iter().fold(0u64, |a, p| a.saturating_add(p.2));
        if found != len {
            return Err(self.usage(format!("expected {len} bytes, found {found}"), name));
        }
        let mut stats = ckpt_io::CopyStats::default();
        let path = self.path.clone();
        (|| -> io::Result<()> {
            self.out.flush()?;
            let dst = self.out.get_mut().file_mut()?;
            let mut at = begin;
            for &(src, off, n) in pieces {
                if n > 0 {
                    ckpt_io::copy_range(src, off, dst, at, n, mode, &mut stats)?;
                }
                at += n;
            }
            // positioned copies leave the cursor alone: move it past the copied bytes
            dst.seek(SeekFrom::Start(begin + len))?;
            Ok(())
        })()
        .map_err(|e| Error::io(e, &path).with_key(name))?;
        self.pos = begin + len;
        self.slots[i].written = true;
        Ok(stats)
    }

    /// Checks that every tensor was written, flushes, fsyncs and renames into place.
    pub fn finish(self) -> Result<(), Error> {
        if let Some(s) = self.slots.iter().find(|s| !s.written) {
            return Err(self.usage("declared but never written".into(), &s.name.clone()));
        }
        let path = self.path.clone();
        let file = self
            .out
            .into_inner()
            .map_err(|e| Error::io(e.into_error(), &path))?;
        file.commit().map_err(|e| Error::io(e, &path))
    }
}

/// One tensor being streamed into a [`SafetensorsWriter`]; implements [`Write`] and refuses
/// more bytes than the tensor's dtype and shape allow.
#[derive(Debug)]
pub struct TensorStream<'a> {
    w: &'a mut SafetensorsWriter,
    index: usize,
    written: u64,
}

impl Write for TensorStream<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let slot = &self.w.slots[self.index];
        if self.written + buf.len() as u64 > slot.len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "tensor '{}': more than the {} bytes its dtype and shape allow",
                    slot.name, slot.len
                ),
            ));
        }
        let n = self.w.out.write(buf)?;
        self.written += n as u64;
        self.w.pos += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.w.out.flush()
    }
}

impl TensorStream<'_> {
    /// Marks the tensor complete; fails if fewer bytes than its size were written.
    pub fn finish(self) -> Result<(), Error> {
        let (name, len) = (
            self.w.slots[self.index].name.clone(),
            self.w.slots[self.index].len,
        );
        if self.written != len {
            return Err(self.w.usage(
                format!("expected {len} bytes, found {}", self.written),
                &name,
            ));
        }
        self.w.slots[self.index].written = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
