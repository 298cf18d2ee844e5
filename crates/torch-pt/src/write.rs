//! The streaming `.pt` writer (docs/pt-format.md §7).
//!
//! Storages are written one at a time from the caller's `Read` or callback into STORED,
//! 64-byte aligned ZIP entries (`<archive>/data/<n>`); `data.pkl` (a protocol-2 pickle of the
//! value tree, which refers to the storages), `byteorder` and `version` follow at
//! [`PtWriter::finish`]. Memory use is one copy buffer plus the pickle, never a tensor.

use std::collections::{HashMap, HashSet};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

use ckpt_io::AtomicFile;

use crate::dtype::DType;
use crate::error::{err, Error, ErrorKind, Result};
use crate::pickle::MAX_DEPTH;
use crate::value::{contiguous_strides, Dict, DictKind, StorageRef, TensorInfo, Value};
use crate::zip::ZipWriter;

/// Writer settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// The archive's root folder; default: the destination's file stem (as `torch.save`), or
    /// `archive` for [`PtWriter::new`].
    pub archive_name: Option<String>,
    /// Write ZIP64 records even for small files (tests of the ZIP64 paths).
    pub force_zip64: bool,
}

/// Writes a `.pt` archive; see the module docs.
pub struct PtWriter<W: Write + Seek> {
    zip: ZipWriter<W>,
    archive: String,
    storages: HashMap<String, StorageRef>,
    next_key: u64,
    path: PathBuf,
}

fn sanitize_archive_name(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.is_empty() || cleaned.chars().all(|c| c == '.') {
        "archive".to_string()
    } else {
        cleaned
    }
}

impl PtWriter<AtomicFile> {
    /// Starts writing `dest` through an [`AtomicFile`] (nothing appears at `dest` before
    /// [`PtWriter::commit`]).
    pub fn create(dest: impl AsRef<Path>) -> Result<PtWriter<AtomicFile>> {
        PtWriter::create_with(dest, &WriteOptions::default())
    }

    /// [`PtWriter::create`] with options.
    pub fn create_with(
        dest: impl AsRef<Path>,
        opts: &WriteOptions,
    ) -> Result<PtWriter<AtomicFile>> {
        let dest = dest.as_ref();
        let f = AtomicFile::create(dest)
            .map_err(|e| Error::io("creating the output file", e).with_path(dest))?;
        let stem = dest
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut opts = opts.clone();
        if opts.archive_name.is_none() {
            opts.archive_name = Some(stem);
        }
        let mut w = PtWriter::new(f, &opts)?;
        w.path = dest.to_path_buf();
        Ok(w)
    }

    /// Finishes the archive with `root` as its value tree and renames it into place.
    pub fn commit(self, root: &Value) -> Result<()> {
        let path = self.path.clone();
        let f = self.finish(root)?;
        f.commit()
            .map_err(|e| Error::io("committing the output file", e).with_path(&path))
    }
}

impl<W: Write + Seek> PtWriter<W> {
    /// Starts an archive in `w` (at its position 0).
    pub fn new(w: W, opts: &WriteOptions) -> Result<PtWriter<W>> {
        let archive = sanitize_archive_name(opts.archive_name.as_deref().unwrap_or("archive"));
        Ok(PtWriter {
            zip: ZipWriter::new(w, opts.force_zip64),
            archive,
            storages: HashMap::new(),
            next_key: 0,
            path: PathBuf::new(),
        })
    }

    fn ctx(&self, e: Error) -> Error {
        if self.path.as_os_str().is_empty() {
            e
        } else {
            e.with_path(&self.path)
        }
    }

    /// Writes a storage of `numel` elements of `dtype`, reading exactly `numel * size` bytes
    /// (little-endian) from `src`; returns its reference for building tensors.
    pub fn add_storage(
        &mut self,
        dtype: DType,
        numel: u64,
        src: &mut dyn Read,
    ) -> Result<StorageRef> {
        self.add_storage_with(dtype, numel, &mut |w| {
            let n = numel * dtype.size();
            let copied = io::copy(&mut src.take(n), w)?;
            if copied != n {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("the source gave {copied} bytes, {n} were expected"),
                ));
            }
            Ok(())
        })
    }

    /// Writes a storage of `numel` elements of `dtype` whose bytes `fill` writes (in any
    /// number of calls; exactly `numel * size` bytes, little-endian).
    pub fn add_storage_with(
        &mut self,
        dtype: DType,
        numel: u64,
        fill: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    ) -> Result<StorageRef> {
        let size = numel.checked_mul(dtype.size()).ok_or_else(|| {
            self.ctx(err(
                ErrorKind::InvalidArgument,
                format!("a storage of {numel} {dtype} elements overflows"),
            ))
        })?;
        let key = self.next_key.to_string();
        let name = format!("{}/data/{key}", self.archive);
        let r = self.zip.add(&name, size, fill);
        if let Err(e) = r {
            let kind = if e.kind() == io::ErrorKind::InvalidData
                || e.kind() == io::ErrorKind::UnexpectedEof
            {
                ErrorKind::InvalidArgument
            } else {
                ErrorKind::Io
            };
            let mut x = Error::io(format!("writing storage {key}"), e);
            if kind == ErrorKind::InvalidArgument {
                x = err(ErrorKind::InvalidArgument, x.to_string());
            }
            return Err(self.ctx(x));
        }
        self.next_key += 1;
        let s = StorageRef {
            key: key.clone(),
            dtype,
            numel,
            location: "cpu".to_string(),
        };
        self.storages.insert(key, s.clone());
        Ok(s)
    }

    /// Checks every tensor of `v` against the storages written.
    fn check(&self, v: &Value, depth: usize) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(err(
                ErrorKind::InvalidArgument,
                format!("the value tree nests deeper than {MAX_DEPTH}"),
            ));
        }
        match v {
            Value::Tensor(t) => check_view(t, self.storages.get(&t.storage.key)),
            Value::Dict(d) => {
                if d.kind == DictKind::Dict && !d.attrs.is_empty() {
                    return Err(err(
                        ErrorKind::InvalidArgument,
                        "attributes on a plain dict (torch's weights-only unpickler builds only OrderedDict attributes)",
                    ));
                }
                for (k, x) in &d.attrs {
                    if !matches!(k, Value::Str(_)) {
                        return Err(err(
                            ErrorKind::InvalidArgument,
                            "an attribute name that is not a str",
                        ));
                    }
                    self.check(x, depth + 1)?;
                }
                for (k, x) in &d.items {
                    self.check(k, depth + 1)?;
                    self.check(x, depth + 1)?;
                }
                Ok(())
            }
            Value::List(items) | Value::Tuple(items) | Value::Set(items) => {
                items.iter().try_for_each(|x| self.check(x, depth + 1))
            }
            _ => Ok(()),
        }
    }

    /// Writes `data.pkl` for `root`, then `byteorder` and `version`, then the central
    /// directory; returns the sink.
    pub fn finish(mut self, root: &Value) -> Result<W> {
        self.check(root, 0).map_err(|e| self.ctx(e))?;
        let mut p = Pickler::default();
        p.out.extend_from_slice(&[0x80, 2]);
        p.value(root).map_err(|e| self.ctx(e))?;
        p.out.push(b'.');
        let archive = self.archive.clone();
        for (name, bytes) in [
            ("data.pkl", p.out.as_slice()),
            ("byteorder", b"little".as_slice()),
            ("version", b"3\n".as_slice()),
        ] {
            let full = format!("{archive}/{name}");
            let r = self
                .zip
                .add(&full, bytes.len() as u64, &mut |w| w.write_all(bytes));
            if let Err(e) = r {
                return Err(self.ctx(Error::io(format!("writing {name}"), e)));
            }
        }
        let path = self.path.clone();
        self.zip.finish().map_err(|e| {
            let e = Error::io("writing the ZIP directory", e);
            if path.as_os_str().is_empty() {
                e
            } else {
                e.with_path(&path)
            }
        })
    }
}

fn check_view(t: &TensorInfo, written: Option<&StorageRef>) -> Result<()> {
    let Some(s) = written else {
        return Err(err(
            ErrorKind::InvalidArgument,
            format!(
                "a tensor refers to storage '{}', which this writer did not write",
                t.storage.key
            ),
        ));
    };
    if s.dtype != t.storage.dtype || s.numel != t.storage.numel || t.dtype != s.dtype {
        return Err(err(
            ErrorKind::InvalidArgument,
            format!(
                "a {} tensor refers to storage '{}' as {} x {}, but it was written as {} x {}",
                t.dtype, s.key, t.storage.numel, t.storage.dtype, s.numel, s.dtype
            ),
        ));
    }
    if t.shape.len() != t.stride.len() {
        return Err(err(
            ErrorKind::InvalidArgument,
            format!(
                "shape {:?} and stride {:?} differ in rank",
                t.shape, t.stride
            ),
        ));
    }
    if t.numel() == Some(0) {
        return Ok(());
    }
    match t.storage_span() {
        Some((_, end)) if end <= s.numel => Ok(()),
        _ => Err(err(
            ErrorKind::InvalidArgument,
            format!(
                "shape {:?}, stride {:?}, offset {} reach outside storage '{}' of {} elements",
                t.shape, t.stride, t.storage_offset, s.key, s.numel
            ),
        )),
    }
}

/// A protocol-2 pickler of [`Value`]s in the layout `torch.save` uses.
#[derive(Default)]
struct Pickler {
    out: Vec<u8>,
    next_memo: u32,
    globals: HashMap<String, u32>,
    pids: HashMap<String, u32>,
}

impl Pickler {
    fn put(&mut self) -> u32 {
        let i = self.next_memo;
        self.next_memo += 1;
        if i < 256 {
            self.out.extend_from_slice(&[b'q', i as u8]);
        } else {
            self.out.push(b'r');
            self.out.extend_from_slice(&i.to_le_bytes());
        }
        i
    }

    fn get(&mut self, i: u32) {
        if i < 256 {
            self.out.extend_from_slice(&[b'h', i as u8]);
        } else {
            self.out.push(b'j');
            self.out.extend_from_slice(&i.to_le_bytes());
        }
    }

    fn global(&mut self, module: &str, name: &str) {
        let full = format!("{module}\n{name}\n");
        if let Some(&i) = self.globals.get(&full) {
            self.get(i);
            return;
        }
        self.out.push(b'c');
        self.out.extend_from_slice(full.as_bytes());
        let i = self.put();
        self.globals.insert(full, i);
    }

    fn str(&mut self, s: &str) {
        self.out.push(b'X');
        self.out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.out.extend_from_slice(s.as_bytes());
    }

    fn int(&mut self, x: i64) {
        if (0..256).contains(&x) {
            self.out.extend_from_slice(&[b'K', x as u8]);
        } else if (0..65536).contains(&x) {
            self.out.push(b'M');
            self.out.extend_from_slice(&(x as u16).to_le_bytes());
        } else if i32::try_from(x).is_ok() {
            self.out.push(b'J');
            self.out.extend_from_slice(&(x as i32).to_le_bytes());
        } else {
            let b = x.to_le_bytes();
            let mut n = 8;
            while n > 1
                && ((b[n - 1] == 0 && b[n - 2] & 0x80 == 0)
                    || (b[n - 1] == 0xFF && b[n - 2] & 0x80 != 0))
            {
                n -= 1;
            }
            self.out.extend_from_slice(&[0x8a, n as u8]);
            self.out.extend_from_slice(&b[..n]);
        }
    }

    fn tuple_of(&mut self, items: &[Value]) -> Result<()> {
        match items.len() {
            0 => self.out.push(b')'),
            n @ 1..=3 => {
                for v in items {
                    self.value(v)?;
                }
                self.out.push(0x84 + n as u8);
            }
            _ => {
                self.out.push(b'(');
                for v in items {
                    self.value(v)?;
                }
                self.out.push(b't');
            }
        }
        Ok(())
    }

    fn ints_tuple(&mut self, xs: &[u64]) -> Result<()> {
        let items: Vec<Value> = xs
            .iter()
            .map(|&x| {
                i64::try_from(x)
                    .map(Value::Int)
                    .map_err(|_| err(ErrorKind::InvalidArgument, format!("size {x} beyond i64")))
            })
            .collect::<Result<_>>()?;
        self.tuple_of(&items)
    }

    fn empty_ordered_dict(&mut self) {
        self.global("collections", "OrderedDict");
        self.out.extend_from_slice(b")R");
    }

    fn items(&mut self, items: &[(Value, Value)]) -> Result<()> {
        for chunk in items.chunks(1000) {
            self.out.push(b'(');
            for (k, v) in chunk {
                self.value(k)?;
                self.value(v)?;
            }
            self.out.push(b'u');
        }
        Ok(())
    }

    fn tensor(&mut self, t: &TensorInfo) -> Result<()> {
        if t.parameter {
            self.global("torch._utils", "_rebuild_parameter");
        }
        self.global("torch._utils", "_rebuild_tensor_v2");
        self.out.push(b'(');
        // the persistent id ('storage', class, key, location, numel), memoised per storage
        match self.pids.get(&t.storage.key) {
            Some(&i) => self.get(i),
            None => {
                self.out.push(b'(');
                self.str("storage");
                self.global("torch", t.storage.dtype.storage_class());
                self.str(&t.storage.key);
                self.str(&t.storage.location);
                let n = i64::try_from(t.storage.numel)
                    .map_err(|_| err(ErrorKind::InvalidArgument, "storage size beyond i64"))?;
                self.int(n);
                self.out.push(b't');
                let i = self.put();
                self.pids.insert(t.storage.key.clone(), i);
            }
        }
        self.out.push(b'Q');
        let off = i64::try_from(t.storage_offset)
            .map_err(|_| err(ErrorKind::InvalidArgument, "storage offset beyond i64"))?;
        self.int(off);
        self.ints_tuple(&t.shape)?;
        self.ints_tuple(&t.stride)?;
        self.out.push(if t.requires_grad && !t.parameter {
            0x88
        } else {
            0x89
        });
        self.empty_ordered_dict();
        self.out.extend_from_slice(b"tR");
        if t.parameter {
            self.out.push(if t.requires_grad { 0x88 } else { 0x89 });
            self.empty_ordered_dict();
            self.out.extend_from_slice(&[0x87, b'R']);
        }
        Ok(())
    }

    fn value(&mut self, v: &Value) -> Result<()> {
        match v {
            Value::None => self.out.push(b'N'),
            Value::Bool(b) => self.out.push(if *b { 0x88 } else { 0x89 }),
            Value::Int(x) => self.int(*x),
            Value::BigInt(b) => {
                let n = u8::try_from(b.len())
                    .map_err(|_| err(ErrorKind::InvalidArgument, "an int wider than 255 bytes"))?;
                self.out.extend_from_slice(&[0x8a, n]);
                self.out.extend_from_slice(b);
            }
            Value::Float(x) => {
                self.out.push(b'G');
                self.out.extend_from_slice(&x.to_be_bytes());
            }
            Value::Complex(re, im) => {
                self.global("__builtin__", "complex");
                self.tuple_of(&[Value::Float(*re), Value::Float(*im)])?;
                self.out.push(b'R');
            }
            Value::Str(s) => self.str(s),
            Value::Bytes(b) => {
                self.global("_codecs", "encode");
                let s: String = b.iter().map(|&c| char::from(c)).collect();
                self.str(&s);
                self.str("latin1");
                self.out.extend_from_slice(&[0x86, b'R']);
            }
            Value::Tuple(items) => self.tuple_of(items)?,
            Value::List(items) => {
                self.out.push(b']');
                if !items.is_empty() {
                    self.out.push(b'(');
                    for x in items {
                        self.value(x)?;
                    }
                    self.out.push(b'e');
                }
            }
            Value::Set(items) => {
                self.global("__builtin__", "set");
                self.value(&Value::List(items.clone()))?;
                self.out.extend_from_slice(&[0x85, b'R']);
            }
            Value::Dict(d) => self.dict(d)?,
            Value::Tensor(t) => self.tensor(t)?,
            Value::Dtype(name) => {
                if !crate::pickle::is_torch_dtype(name) {
                    return Err(err(
                        ErrorKind::InvalidArgument,
                        format!("torch has no dtype '{name}'"),
                    ));
                }
                self.global("torch", name);
            }
            Value::Device(s) => {
                self.global("torch", "device");
                self.str(s);
                self.out.extend_from_slice(&[0x85, b'R']);
            }
            Value::Global(full) => {
                let (module, name) = full.rsplit_once('.').ok_or_else(|| {
                    err(
                        ErrorKind::InvalidArgument,
                        format!("global '{full}' has no module"),
                    )
                })?;
                if !crate::pickle::is_allowed_plain_global(module, name) {
                    return Err(err(
                        ErrorKind::InvalidArgument,
                        format!("global '{full}' is not one torch's weights-only unpickler allows as a value"),
                    ));
                }
                self.global(module, name);
            }
        }
        Ok(())
    }

    fn dict(&mut self, d: &Dict) -> Result<()> {
        match d.kind {
            DictKind::Dict => self.out.push(b'}'),
            DictKind::OrderedDict => self.empty_ordered_dict(),
            DictKind::Counter => {
                self.global("collections", "Counter");
                self.out.extend_from_slice(b")R");
            }
        }
        self.put();
        if !d.items.is_empty() {
            self.items(&d.items)?;
        }
        if !d.attrs.is_empty() {
            self.out.push(b'}');
            self.items(&d.attrs)?;
            self.out.push(b'b');
        }
        Ok(())
    }
}

/// RETURNN's scalar entries of a model checkpoint (`{"model": ..., "epoch", "step",
/// "effective_learning_rate", "returnn_version"}`).
#[derive(Clone, Debug, PartialEq)]
pub struct ReturnnMeta {
    pub epoch: i64,
    pub step: i64,
    pub effective_learning_rate: Option<f64>,
    pub returnn_version: String,
}

/// The top-level layout of a state-dict file.
#[derive(Clone, Debug, PartialEq)]
pub enum Layout {
    /// RETURNN's PyTorch engine: `{"model": OrderedDict(state_dict), "epoch": int, "step": int,
    /// "effective_learning_rate": float|None, "returnn_version": str}`.
    Returnn(ReturnnMeta),
    /// A plain flat dict of tensors (`torch.save(model.state_dict())`), as an OrderedDict.
    Flat,
}

/// Writes a state dict tensor by tensor (see [`Layout`]); tied tensors share one storage.
pub struct StateDictWriter<W: Write + Seek> {
    w: PtWriter<W>,
    layout: Layout,
    entries: Vec<(String, TensorInfo)>,
    names: HashSet<String>,
}

impl StateDictWriter<AtomicFile> {
    /// Starts `dest` (atomic: nothing appears there before [`StateDictWriter::commit`]).
    pub fn create(dest: impl AsRef<Path>, layout: Layout) -> Result<StateDictWriter<AtomicFile>> {
        StateDictWriter::create_with(dest, layout, &WriteOptions::default())
    }

    /// [`StateDictWriter::create`] with options.
    pub fn create_with(
        dest: impl AsRef<Path>,
        layout: Layout,
        opts: &WriteOptions,
    ) -> Result<StateDictWriter<AtomicFile>> {
        Ok(StateDictWriter {
            w: PtWriter::create_with(dest, opts)?,
            layout,
            entries: Vec::new(),
            names: HashSet::new(),
        })
    }

    /// Writes the pickle and renames the file into place.
    pub fn commit(self) -> Result<()> {
        let root = self.root();
        self.w.commit(&root)
    }
}

impl<W: Write + Seek> StateDictWriter<W> {
    /// A writer into `w`.
    pub fn new(w: W, layout: Layout, opts: &WriteOptions) -> Result<StateDictWriter<W>> {
        Ok(StateDictWriter {
            w: PtWriter::new(w, opts)?,
            layout,
            entries: Vec::new(),
            names: HashSet::new(),
        })
    }

    fn claim(&mut self, key: &str) -> Result<()> {
        if !self.names.insert(key.to_string()) {
            return Err(self
                .w
                .ctx(err(ErrorKind::InvalidArgument, "the key is given twice").with_key(key)));
        }
        Ok(())
    }

    /// Adds tensor `key` of `dtype` and `shape`, reading its C-order little-endian bytes from
    /// `src`; returns its storage (for [`StateDictWriter::add_view`]).
    pub fn add(
        &mut self,
        key: &str,
        dtype: DType,
        shape: &[u64],
        src: &mut dyn Read,
    ) -> Result<StorageRef> {
        let numel = numel_of(shape).map_err(|e| self.w.ctx(e.with_key(key)))?;
        self.claim(key)?;
        let s = self
            .w
            .add_storage(dtype, numel, src)
            .map_err(|e| e.with_key(key))?;
        self.entries.push((
            key.to_string(),
            TensorInfo::contiguous(s.clone(), shape.to_vec()),
        ));
        Ok(s)
    }

    /// Like [`StateDictWriter::add`] with a callback writing the bytes.
    pub fn add_with(
        &mut self,
        key: &str,
        dtype: DType,
        shape: &[u64],
        fill: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    ) -> Result<StorageRef> {
        let numel = numel_of(shape).map_err(|e| self.w.ctx(e.with_key(key)))?;
        self.claim(key)?;
        let s = self
            .w
            .add_storage_with(dtype, numel, fill)
            .map_err(|e| e.with_key(key))?;
        self.entries.push((
            key.to_string(),
            TensorInfo::contiguous(s.clone(), shape.to_vec()),
        ));
        Ok(s)
    }

    /// Adds tensor `key` as a view of an already written `storage` (a tied weight when it is
    /// the same view; a slice or transpose otherwise); `stride: None` = C-contiguous.
    pub fn add_view(
        &mut self,
        key: &str,
        storage: &StorageRef,
        shape: &[u64],
        stride: Option<&[u64]>,
        offset: u64,
    ) -> Result<()> {
        let t = TensorInfo {
            dtype: storage.dtype,
            shape: shape.to_vec(),
            stride: stride.map_or_else(|| contiguous_strides(shape), <[u64]>::to_vec),
            storage_offset: offset,
            storage: storage.clone(),
            requires_grad: false,
            parameter: false,
        };
        check_view(&t, self.w.storages.get(&storage.key))
            .map_err(|e| self.w.ctx(e.with_key(key)))?;
        self.claim(key)?;
        self.entries.push((key.to_string(), t));
        Ok(())
    }

    fn root(&self) -> Value {
        let mut model = Dict::new(DictKind::OrderedDict);
        for (k, t) in &self.entries {
            model.push(k.as_str(), t.clone());
        }
        match &self.layout {
            Layout::Flat => Value::Dict(model),
            Layout::Returnn(m) => {
                let mut top = Dict::new(DictKind::Dict);
                top.push("model", model);
                top.push("epoch", m.epoch);
                top.push("step", m.step);
                top.push(
                    "effective_learning_rate",
                    m.effective_learning_rate.map_or(Value::None, Value::Float),
                );
                top.push("returnn_version", m.returnn_version.as_str());
                Value::Dict(top)
            }
        }
    }

    /// Writes the pickle and the directory; returns the sink.
    pub fn finish(self) -> Result<W> {
        let root = self.root();
        self.w.finish(&root)
    }
}

fn numel_of(shape: &[u64]) -> Result<u64> {
    shape
        .iter()
        .try_fold(1u64, |a, &d| a.checked_mul(d))
        .ok_or_else(|| {
            err(
                ErrorKind::InvalidArgument,
                format!("shape {shape:?} has more than 2^64 elements"),
            )
        })
}
