//! [`PtFile`]: an opened `.pt` archive, its value tree, and bounded, CRC-checked tensor reads.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use ckpt_io::ReadAt;
use sha2::{Digest, Sha256};

use crate::error::{err, Error, ErrorKind, Result};
use crate::pickle::unpickle;
use crate::value::{collect_tensors, NamedTensor, PathSeg, TensorInfo, TensorPath, Value};
use crate::zip::{self, ZipArchive, ZipEntry, CHUNK};

/// How to open a `.pt` file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpenOptions {
    /// Memory-map the file (needs the `mmap` feature; otherwise opening fails with
    /// [`ErrorKind::Unsupported`]). Enables [`PtFile::tensor_bytes`] without copying.
    pub mmap: bool,
}

/// The `version` record values this reader accepts (torch 2.15 reads 1 to 10 and writes 3).
pub const SUPPORTED_VERSIONS: std::ops::RangeInclusive<u64> = 1..=10;

/// The state dict of a file (docs/pt-format.md §6).
#[derive(Clone, Debug, PartialEq)]
pub struct StateDict {
    /// `Some("model")` when the file is RETURNN's `{"model": state_dict, ...}`, `None` when
    /// the top level itself is the state dict.
    pub under: Option<String>,
    /// The tensors in order; `name` is the state-dict key, `path` the full path.
    pub tensors: Vec<NamedTensor>,
}

impl StateDict {
    /// The tensor under state-dict key `key`.
    pub fn get(&self, key: &str) -> Option<&NamedTensor> {
        self.tensors.iter().find(|t| t.name == key)
    }
}

/// RETURNN's top-level scalar entries (any may be absent; `effective_learning_rate` is also
/// `None` when stored as None).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReturnnScalars {
    pub epoch: Option<i64>,
    pub step: Option<i64>,
    pub effective_learning_rate: Option<f64>,
    pub returnn_version: Option<String>,
}

/// An opened `.pt` file: the ZIP directory, the unpickled value tree (every tensor checked
/// against its storage record), and the source for reading tensor bytes on demand.
pub struct PtFile {
    src: Box<dyn ReadAt>,
    path: PathBuf,
    zip: ZipArchive,
    root: Value,
    protocol: Option<u8>,
    globals: Vec<String>,
    version: u64,
    big_endian: bool,
    verified: Vec<AtomicBool>,
}

impl std::fmt::Debug for PtFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PtFile")
            .field("path", &self.path)
            .field("archive", &self.zip.root())
            .field("version", &self.version)
            .finish()
    }
}

impl PtFile {
    /// Opens `path` (positioned reads).
    pub fn open(path: impl AsRef<Path>) -> Result<PtFile> {
        PtFile::open_with(path, &OpenOptions::default())
    }

    /// Opens `path` with `opts`.
    pub fn open_with(path: impl AsRef<Path>, opts: &OpenOptions) -> Result<PtFile> {
        let path = path.as_ref();
        let src: Box<dyn ReadAt> = if opts.mmap {
            open_mmap(path)?
        } else {
            Box::new(
                ckpt_io::FileSource::open(path)
                    .map_err(|e| Error::io("opening the file", e).with_path(path))?,
            )
        };
        PtFile::from_source(src, path)
    }

    /// Reads a `.pt` held in memory; `name` is used in error messages.
    pub fn from_bytes(bytes: Vec<u8>, name: impl AsRef<Path>) -> Result<PtFile> {
        PtFile::from_source(Box::new(bytes), name)
    }

    /// Reads a `.pt` from any byte source; `name` is used in error messages.
    pub fn from_source(src: Box<dyn ReadAt>, name: impl AsRef<Path>) -> Result<PtFile> {
        let path = name.as_ref().to_path_buf();
        PtFile::parse(src, &path).map_err(|e| e.with_path(&path))
    }

    fn parse(src: Box<dyn ReadAt>, path: &Path) -> Result<PtFile> {
        let zip = ZipArchive::parse(src.as_ref())?;
        let verified = (0..zip.entries().len())
            .map(|_| AtomicBool::new(false))
            .collect();
        let record = |name: &str| -> Result<Option<Vec<u8>>> {
            match zip.get(name) {
                Some(e) => zip::read_entry(src.as_ref(), e).map(Some),
                None => Ok(None),
            }
        };
        let version_bytes = match record(".data/version")? {
            Some(v) => v,
            None => record("version")?.ok_or_else(|| {
                err(
                    ErrorKind::Version,
                    format!(
                        "no '{}/version' record (torch requires it; its writer stores \"3\\n\")",
                        zip.root()
                    ),
                )
            })?,
        };
        let version = std::str::from_utf8(&version_bytes)
            .ok()
            .map(str::trim)
            .and_then(|s| s.parse::<u64>().ok())
            .filter(|v| SUPPORTED_VERSIONS.contains(v))
            .ok_or_else(|| {
                err(
                    ErrorKind::Version,
                    format!(
                        "the version record holds {:?}; expected a number in {}..={}",
                        String::from_utf8_lossy(&version_bytes[..version_bytes.len().min(32)]),
                        SUPPORTED_VERSIONS.start(),
                        SUPPORTED_VERSIONS.end()
                    ),
                )
            })?;
        let big_endian = match record("byteorder")? {
            None => false,
            Some(b) if b == b"little" => false,
            Some(b) if b == b"big" => true,
            Some(b) => {
                return Err(err(
                    ErrorKind::Version,
                    format!(
                        "the byteorder record holds {:?}; expected \"little\" or \"big\"",
                        String::from_utf8_lossy(&b[..b.len().min(32)])
                    ),
                ))
            }
        };
        let pkl = record("data.pkl")?.ok_or_else(|| {
            err(
                ErrorKind::NotFound,
                format!("no '{}/data.pkl' record", zip.root()),
            )
        })?;
        let u = unpickle(&pkl)?;
        let file = PtFile {
            src,
            path: path.to_path_buf(),
            zip,
            root: u.root,
            protocol: u.protocol,
            globals: u.globals,
            version,
            big_endian,
            verified,
        };
        for t in file.tensors() {
            file.check_tensor(&t)?;
        }
        Ok(file)
    }

    /// Checks that `t`'s storage record exists with the size the pickle says and that the view
    /// lies inside it.
    fn check_tensor(&self, t: &NamedTensor) -> Result<()> {
        let info = &t.info;
        let at = |e: Error| e.with_key(t.name.clone());
        let (_, entry) = self.storage_entry(info).map_err(at)?;
        let need = info.storage.numel.checked_mul(info.dtype.size());
        if need != Some(entry.size) {
            return Err(at(err(
                ErrorKind::BadTensor,
                format!(
                    "storage 'data/{}' is declared as {} {} elements ({} bytes) but its record holds {} bytes",
                    info.storage.key,
                    info.storage.numel,
                    info.dtype,
                    need.map_or("too many".to_string(), |n| n.to_string()),
                    entry.size
                ),
            )));
        }
        if info.numel() == Some(0) {
            // as torch: a tensor without elements needs no storage bytes, whatever its offset
            return Ok(());
        }
        match info.storage_span() {
            Some((_, end)) if end <= info.storage.numel => Ok(()),
            span => Err(at(err(
                ErrorKind::BadTensor,
                format!(
                    "shape {:?}, stride {:?}, offset {} need elements {} of storage 'data/{}', which holds {} elements",
                    info.shape,
                    info.stride,
                    info.storage_offset,
                    span.map_or("beyond 2^64".to_string(), |(a, b)| format!("{a}..{b}")),
                    info.storage.key,
                    info.storage.numel
                ),
            ))),
        }
    }

    fn storage_entry(&self, info: &TensorInfo) -> Result<(usize, &ZipEntry)> {
        let name = format!("data/{}", info.storage.key);
        let i = self.zip.index_of(&name).ok_or_else(|| {
            err(
                ErrorKind::NotFound,
                format!(
                    "storage record '{}/{name}' is missing from the archive",
                    self.zip.root()
                ),
            )
        })?;
        Ok((i, &self.zip.entries()[i]))
    }

    /// The file name given at open.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The archive's root folder name.
    pub fn archive_name(&self) -> &str {
        self.zip.root()
    }

    /// The ZIP entries (name, offsets, size, CRC).
    pub fn records(&self) -> &[ZipEntry] {
        self.zip.entries()
    }

    /// The `version` record's number.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// True when the `byteorder` record says `big` (reads swap bytes to little-endian).
    pub fn is_big_endian(&self) -> bool {
        self.big_endian
    }

    /// The pickle protocol of `data.pkl` (its first PROTO opcode).
    pub fn protocol(&self) -> Option<u8> {
        self.protocol
    }

    /// The globals `data.pkl` names, as `module.name`.
    pub fn globals(&self) -> &[String] {
        &self.globals
    }

    /// The whole value tree.
    pub fn root(&self) -> &Value {
        &self.root
    }

    /// The value at `path` (string keys of mappings, or indices of lists/tuples given as
    /// decimal strings).
    pub fn value_at(&self, path: &[&str]) -> Option<&Value> {
        let mut v = &self.root;
        for seg in path {
            v = match v {
                Value::Dict(d) => d
                    .items
                    .iter()
                    .find(|(k, _)| match k {
                        Value::Str(s) => s == seg,
                        Value::Int(i) => i.to_string() == *seg,
                        _ => false,
                    })
                    .map(|(_, v)| v)?,
                Value::List(items) | Value::Tuple(items) => {
                    items.get(seg.parse::<usize>().ok()?)?
                }
                _ => return None,
            };
        }
        Some(v)
    }

    /// Every tensor of the tree in order, named by its dotted path
    /// (`model.lin.weight`, `optimizer.state.0.exp_avg`).
    pub fn tensors(&self) -> Vec<NamedTensor> {
        let mut out = Vec::new();
        collect_tensors(&self.root, &TensorPath::default(), &mut out);
        out
    }

    /// The state dict (docs/pt-format.md §6): `ckpt["model"]` when the top level is a dict with
    /// a `"model"` entry (RETURNN's layout; as RETURNN's `ckpt.get("model", ckpt)`), else the
    /// top level itself. Either must be a mapping of string keys to tensors.
    pub fn state_dict(&self) -> Result<StateDict> {
        let fail = |msg: String| err(ErrorKind::NotAStateDict, msg).with_path(&self.path);
        let top = self.root.as_dict().ok_or_else(|| {
            fail(format!(
                "the top level is a {}, not a dict",
                self.root.type_name()
            ))
        })?;
        let (under, dict) = match top.get("model") {
            Some(Value::Dict(d)) => (Some("model".to_string()), d),
            Some(other) => {
                return Err(fail(format!(
                    "'model' is a {}, not a state dict",
                    other.type_name()
                ))
                .with_key("model"))
            }
            None => (None, top),
        };
        let base = match &under {
            Some(u) => TensorPath(vec![PathSeg::Key(u.clone())]),
            None => TensorPath::default(),
        };
        let mut tensors = Vec::with_capacity(dict.items.len());
        for (k, v) in &dict.items {
            let Value::Str(key) = k else {
                return Err(fail(format!(
                    "a state-dict key is a {} ({}), not a str",
                    k.type_name(),
                    crate::value::repr(k)
                )));
            };
            let Value::Tensor(t) = v else {
                let hint = if under.is_none() {
                    " (a top level without a 'model' entry must be a flat dict of tensors)"
                } else {
                    ""
                };
                return Err(fail(format!(
                    "the entry is a {}, not a tensor{hint}",
                    v.type_name()
                ))
                .with_key(key.clone()));
            };
            tensors.push(NamedTensor {
                name: key.clone(),
                path: base.child(PathSeg::Key(key.clone())),
                info: (**t).clone(),
            });
        }
        Ok(StateDict { under, tensors })
    }

    /// The top-level entries that are plain scalars (None, bool, int, float, str, bytes), in
    /// order; empty unless the top level is a dict.
    pub fn scalars(&self) -> Vec<(String, Value)> {
        let Some(d) = self.root.as_dict() else {
            return Vec::new();
        };
        d.items
            .iter()
            .filter_map(|(k, v)| match k {
                Value::Str(s) if v.is_scalar() => Some((s.clone(), v.clone())),
                _ => None,
            })
            .collect()
    }

    /// RETURNN's scalar entries `epoch`, `step`, `effective_learning_rate`, `returnn_version`.
    pub fn returnn_scalars(&self) -> ReturnnScalars {
        let Some(d) = self.root.as_dict() else {
            return ReturnnScalars::default();
        };
        ReturnnScalars {
            epoch: d.get("epoch").and_then(Value::as_i64),
            step: d.get("step").and_then(Value::as_i64),
            effective_learning_rate: d.get("effective_learning_rate").and_then(Value::as_f64),
            returnn_version: d
                .get("returnn_version")
                .and_then(Value::as_str)
                .map(str::to_string),
        }
    }

    fn with_ctx(&self, t: &NamedTensor) -> impl Fn(Error) -> Error + '_ {
        let name = t.name.clone();
        move |e: Error| e.with_key(name.clone()).with_path(&self.path)
    }

    /// Streams tensor `t`'s elements in C order as little-endian bytes into `sink`, in bounded
    /// chunks; returns the number of bytes written.
    ///
    /// The storage record's CRC-32 is verified the first time any of its bytes are read (the
    /// whole record is streamed through the CRC then); later reads of the same record read only
    /// the bytes they need. On a checksum error `sink` may already hold unverified bytes: write
    /// into an atomic output and drop it on error.
    pub fn read_to(&self, t: &NamedTensor, sink: &mut dyn Write) -> Result<u64> {
        self.read_to_inner(t, sink).map_err(self.with_ctx(t))
    }

    fn read_to_inner(&self, t: &NamedTensor, sink: &mut dyn Write) -> Result<u64> {
        self.check_tensor(t)?;
        let info = &t.info;
        let es = info.dtype.size();
        let (i, entry) = self.storage_entry(info)?;
        let nbytes = info
            .nbytes()
            .ok_or_else(|| err(ErrorKind::TooLarge, "the tensor's size overflows"))?;
        if nbytes == 0 {
            // Zero-size tensors read nothing, but a storage that has bytes is still verified.
            if !self.verified[i].load(Ordering::Relaxed) && entry.size > 0 {
                zip::stream_entry(self.src.as_ref(), entry, 0..0, &mut |_| Ok(()))?;
                self.verified[i].store(true, Ordering::Relaxed);
            }
            return Ok(0);
        }
        let swap = self.big_endian && es > 1;
        let mut emit = |b: &[u8]| -> Result<()> {
            if swap {
                let mut v = b.to_vec();
                for e in v.chunks_exact_mut(es as usize) {
                    e.reverse();
                }
                sink.write_all(&v)
            } else {
                sink.write_all(b)
            }
            .map_err(|e| Error::io("writing tensor bytes", e))
        };
        if info.is_contiguous() {
            let start = info.storage_offset * es;
            let range = start..start + nbytes;
            self.read_range(i, entry, range, &mut emit)?;
            return Ok(nbytes);
        }
        // A strided view: read the span it touches, then gather.
        let (lo, hi) = info
            .storage_span()
            .ok_or_else(|| err(ErrorKind::TooLarge, "the view's extent overflows"))?;
        let span_len = usize::try_from((hi - lo) * es).map_err(|_| {
            err(
                ErrorKind::TooLarge,
                "the view's span does not fit in memory",
            )
        })?;
        let mut span = Vec::with_capacity(span_len);
        self.read_range(i, entry, lo * es..hi * es, &mut |b| {
            span.extend_from_slice(b);
            Ok(())
        })?;
        gather(info, lo, &span, &mut emit)?;
        Ok(nbytes)
    }

    /// Hands bytes `range` of record `i` to `visit`: verifying the CRC over the whole record
    /// the first time, afterwards reading only the range.
    fn read_range(
        &self,
        i: usize,
        entry: &ZipEntry,
        range: std::ops::Range<u64>,
        visit: &mut dyn FnMut(&[u8]) -> Result<()>,
    ) -> Result<()> {
        if !self.verified[i].load(Ordering::Relaxed) {
            zip::stream_entry(self.src.as_ref(), entry, range, visit)?;
            self.verified[i].store(true, Ordering::Relaxed);
            return Ok(());
        }
        if let Some(all) = self.src.as_slice() {
            let a = (entry.data_offset + range.start) as usize;
            let b = (entry.data_offset + range.end) as usize;
            let s = all
                .get(a..b)
                .ok_or_else(|| err(ErrorKind::Truncated, "the source shrank"))?;
            return visit(s);
        }
        let mut buf = vec![0u8; CHUNK.min((range.end - range.start) as usize)];
        let mut pos = range.start;
        while pos < range.end {
            let n = (range.end - pos).min(CHUNK as u64) as usize;
            self.src
                .read_exact_at(entry.data_offset + pos, &mut buf[..n])
                .map_err(|e| Error::io("reading tensor bytes", e))?;
            visit(&buf[..n])?;
            pos += n as u64;
        }
        Ok(())
    }

    /// Tensor `t` in C order as little-endian bytes.
    pub fn read(&self, t: &NamedTensor) -> Result<Vec<u8>> {
        let n = t
            .info
            .nbytes()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| {
                err(ErrorKind::TooLarge, "the tensor does not fit in memory").with_key(&t.name)
            })?;
        // check before allocating: the tensor must lie inside its record
        self.check_tensor(t).map_err(self.with_ctx(t))?;
        let mut out = Vec::with_capacity(n);
        self.read_to(t, &mut out)?;
        Ok(out)
    }

    /// Tensor `t` as little-endian C-order bytes, borrowed from the source without copying when
    /// it is in memory or memory-mapped, the tensor is contiguous and the file little-endian;
    /// otherwise read into a new buffer. The record's CRC is verified either way.
    pub fn tensor_bytes(&self, t: &NamedTensor) -> Result<Cow<'_, [u8]>> {
        let borrowed = (|| -> Result<Option<&[u8]>> {
            let Some(all) = self.src.as_slice() else {
                return Ok(None);
            };
            if self.big_endian || !t.info.is_contiguous() {
                return Ok(None);
            }
            self.check_tensor(t)?;
            let (i, entry) = self.storage_entry(&t.info)?;
            if !self.verified[i].load(Ordering::Relaxed) {
                zip::stream_entry(self.src.as_ref(), entry, 0..0, &mut |_| Ok(()))?;
                self.verified[i].store(true, Ordering::Relaxed);
            }
            let nbytes = t
                .info
                .nbytes()
                .ok_or_else(|| err(ErrorKind::TooLarge, "size overflows"))?;
            if nbytes == 0 {
                return Ok(Some(&[]));
            }
            let a = entry.data_offset + t.info.storage_offset * t.info.dtype.size();
            let s = all
                .get(a as usize..(a + nbytes) as usize)
                .ok_or_else(|| err(ErrorKind::Truncated, "tensor bytes past the source"))?;
            Ok(Some(s))
        })()
        .map_err(self.with_ctx(t))?;
        match borrowed {
            Some(s) => Ok(Cow::Borrowed(s)),
            None => self.read(t).map(Cow::Owned),
        }
    }

    /// The fixtures' tensor digest: sha256 of the C-order little-endian bytes, streamed.
    pub fn digest(&self, t: &NamedTensor) -> Result<[u8; 32]> {
        struct H(Sha256);
        impl Write for H {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.update(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut h = H(Sha256::new());
        self.read_to(t, &mut h)?;
        Ok(h.0.finalize().into())
    }

    /// Verifies every record's CRC-32 (including records no tensor uses).
    pub fn verify_all(&self) -> Result<()> {
        for (i, e) in self.zip.entries().iter().enumerate() {
            if !self.verified[i].load(Ordering::Relaxed) {
                zip::stream_entry(self.src.as_ref(), e, 0..0, &mut |_| Ok(()))
                    .map_err(|x| x.with_path(&self.path))?;
                self.verified[i].store(true, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    /// Groups the tensors by storage key: which tensors share a storage (tied weights).
    pub fn shared_storages(&self) -> HashMap<String, Vec<String>> {
        let mut out: HashMap<String, Vec<String>> = HashMap::new();
        for t in self.tensors() {
            out.entry(t.info.storage.key.clone())
                .or_default()
                .push(t.name.clone());
        }
        out.retain(|_, v| v.len() > 1);
        out
    }
}

#[cfg(feature = "mmap")]
fn open_mmap(path: &Path) -> Result<Box<dyn ReadAt>> {
    Ok(Box::new(ckpt_io::MmapSource::open(path).map_err(|e| {
        Error::io("memory-mapping the file", e).with_path(path)
    })?))
}

#[cfg(not(feature = "mmap"))]
fn open_mmap(path: &Path) -> Result<Box<dyn ReadAt>> {
    Err(err(
        ErrorKind::Unsupported,
        "memory maps need torch-pt's `mmap` feature",
    )
    .with_path(path))
}

/// Writes the elements of strided `info` in C order from `span` (the storage's elements
/// `lo..`), in chunks of at most [`CHUNK`] bytes.
fn gather(
    info: &TensorInfo,
    lo: u64,
    span: &[u8],
    emit: &mut dyn FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let es = info.dtype.size() as usize;
    let rank = info.shape.len();
    let mut out = Vec::with_capacity(CHUNK.min(info.nbytes().unwrap_or(0) as usize));
    let mut idx = vec![0u64; rank];
    let total = info.numel().unwrap_or(0);
    // innermost dimension copied as one run when its stride is 1
    let (inner_n, inner_s) = if rank == 0 {
        (1, 1)
    } else {
        (info.shape[rank - 1], info.stride[rank - 1])
    };
    let outer_rank = rank.saturating_sub(1);
    let mut done = 0u64;
    while done < total {
        let mut base = info.storage_offset - lo;
        for (i, s) in idx.iter().zip(&info.stride).take(outer_rank) {
            base += i * s;
        }
        if inner_s == 1 {
            let a = base as usize * es;
            out.extend_from_slice(&span[a..a + inner_n as usize * es]);
        } else {
            for j in 0..inner_n {
                let a = (base + j * inner_s) as usize * es;
                out.extend_from_slice(&span[a..a + es]);
            }
        }
        done += inner_n;
        if out.len() >= CHUNK {
            emit(&out)?;
            out.clear();
        }
        // odometer over the outer dimensions
        for d in (0..outer_rank).rev() {
            idx[d] += 1;
            if idx[d] < info.shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    if !out.is_empty() {
        emit(&out)?;
    }
    Ok(())
}
