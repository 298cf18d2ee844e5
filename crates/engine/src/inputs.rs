//! Checkpoint inputs of the jobs (`inspect`, `verify`, `diff`, `avg`, `convert`): a TF
//! checkpoint (tf-bundle), a PyTorch `.pt` file (torch-pt) or a `.safetensors` file, opened by
//! what the path names, behind one interface: the format, the tensor list (name, dtype as
//! [`tf_bundle::DType`], shape), a tensor's little-endian C-order bytes streamed in chunks, its
//! digest (the fixtures' definition) and statistics ([`tf_bundle::elem`]), verification, the
//! notes opening produced, and for `.pt` the RETURNN scalar entries.
//!
//! Which reader (docs/pt-faces.md §1): a path ending in `.pt` is a `.pt` file, one ending in
//! `.safetensors` a safetensors file; any other existing regular file that starts with a ZIP
//! local header (`PK\x03\x04`) is read as `.pt`, and every other path is a TF checkpoint in any
//! of the forms tf-bundle accepts (prefix, `PREFIX.index`/`.meta`/`.data-*`, a directory with a
//! `checkpoint` file, V1 files). A TF path that names nothing while `PATH.pt` exists reads that
//! file (RETURNN's `load` does the same: `_load_model` opens `<name>.pt`), with a note.
//!
//! Tensor names (docs/pt-faces.md §2): a `.pt` file's state dict keys — the entries of `model`
//! in RETURNN's `{"model": ..., "epoch", ...}` layout, else the keys of a flat dict of tensors;
//! a file without a state dict (RETURNN's optimizer file `.opt.pt`: `{"optimizer": {"state":
//! ..., "param_groups": ...}, "param_names", ...}`) lists every tensor under its dotted path from
//! the root, so an optimizer file's tensors are `optimizer.state.<i>.<slot>`. A safetensors
//! file's names are its header's keys.
//!
//! Bounds: a `.pt` is opened by torch-pt (the central directory, the pickle and every view are
//! checked against the file before anything is allocated; CRC-32s are verified as bytes are
//! read). A safetensors header is read only after its 8-byte length was checked against the
//! file and the crate's limit, validated by the `safetensors` crate's own parser (offsets must
//! tile the data exactly, sizes must match shapes, the data must end at the end of the file),
//! and the data is read lazily by offset through [`ckpt_io::ReadAt`].

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use ckpt_io::ReadAt;
use sha2::{Digest, Sha256};
use tf_bundle::elem::{Stats, STATS_CHUNK};
use tf_bundle::scan::{Scanned, Want};
use tf_bundle::{Checkpoint, DType, Tensor, TensorData, TensorInfo};
use torch_pt::{NamedTensor, PtFile, ReturnnScalars};

use crate::error::{Error, ErrorKind, Result};

/// The three input formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputFormat {
    /// A TF checkpoint (V1 or V2 bundle).
    Tf,
    /// A PyTorch `.pt` file (`torch.save`'s ZIP format).
    Pt,
    /// A `.safetensors` file.
    Safetensors,
}

/// How to open an input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InputOptions {
    /// Memory-map the data (explicit opt-in; a file truncated by another process while mapped
    /// crashes the reader with SIGBUS).
    pub mmap: bool,
}

/// How the tensors of a `.pt` file are named (docs/pt-faces.md §2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PtNaming {
    /// The state dict's keys; `under` is `Some("model")` for RETURNN's layout.
    StateDict { under: Option<String> },
    /// No state dict (e.g. an optimizer file): every tensor under its dotted path.
    Paths,
}

struct SafetensorsFile {
    data: Box<dyn ReadAt>,
    /// Absolute offset and length of each tensor's bytes, in `Input::tensors` order.
    spans: Vec<(u64, u64)>,
    metadata: BTreeMap<String, String>,
}

enum Src {
    Tf(Box<Checkpoint>),
    Pt {
        file: Box<PtFile>,
        /// In `Input::tensors` order.
        tensors: Vec<NamedTensor>,
        naming: PtNaming,
    },
    Safetensors(SafetensorsFile),
}

/// An opened checkpoint input (see the module docs).
pub struct Input {
    src: Src,
    /// The path given (for `.pt` and safetensors; TF inputs show their prefix).
    path: PathBuf,
    tensors: Vec<TensorInfo>,
    index: HashMap<String, usize>,
    notes: Vec<String>,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input")
            .field("path", &self.path)
            .field("format", &self.format())
            .field("tensors", &self.tensors.len())
            .finish()
    }
}

fn has_ext(p: &Path, ext: &str) -> bool {
    p.extension().is_some_and(|e| e == ext)
}

/// Whether `p` is a regular file starting with a ZIP local-file header.
fn looks_like_zip(p: &Path) -> bool {
    use std::io::Read;
    if !p.is_file() {
        return false;
    }
    let mut magic = [0u8; 4];
    std::fs::File::open(p)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == *b"PK\x03\x04"
}

/// Whether TF's reader could find anything for `p` (the prefix forms tf-bundle accepts).
fn tf_exists(p: &Path) -> bool {
    if p.exists() {
        return true;
    }
    let mut index = p.as_os_str().to_os_string();
    index.push(".index");
    Path::new(&index).exists()
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// The format [`Input::open`] reads `path` as (without opening it).
pub fn format_of(path: &Path) -> InputFormat {
    if has_ext(path, "pt") {
        InputFormat::Pt
    } else if has_ext(path, "safetensors") {
        InputFormat::Safetensors
    } else if looks_like_zip(path) {
        InputFormat::Pt
    } else {
        InputFormat::Tf
    }
}

/// An I/O error of a safetensors input (label `io`).
fn st_io(path: &Path, what: &str, e: std::io::Error) -> Error {
    Error::new(
        ErrorKind::Convert(convert::ErrorCode::Io),
        format!("{}: {what}: {e}", path.display()),
    )
    .with_path(path)
    .with_source(e)
}

fn pt_dtype(d: torch_pt::DType) -> DType {
    match d {
        torch_pt::DType::F16 => DType::Float16,
        torch_pt::DType::BF16 => DType::BFloat16,
        torch_pt::DType::F32 => DType::Float32,
        torch_pt::DType::F64 => DType::Float64,
        torch_pt::DType::I8 => DType::Int8,
        torch_pt::DType::I16 => DType::Int16,
        torch_pt::DType::I32 => DType::Int32,
        torch_pt::DType::I64 => DType::Int64,
        torch_pt::DType::U8 => DType::UInt8,
        torch_pt::DType::Bool => DType::Bool,
    }
}

/// The torch dtype a TF dtype is stored as in a `.pt` file, if torch-pt writes one
/// (docs/pt-format.md §5).
pub fn torch_dtype(d: DType) -> Option<torch_pt::DType> {
    Some(match d {
        DType::Float16 => torch_pt::DType::F16,
        DType::BFloat16 => torch_pt::DType::BF16,
        DType::Float32 => torch_pt::DType::F32,
        DType::Float64 => torch_pt::DType::F64,
        DType::Int8 => torch_pt::DType::I8,
        DType::Int16 => torch_pt::DType::I16,
        DType::Int32 => torch_pt::DType::I32,
        DType::Int64 => torch_pt::DType::I64,
        DType::UInt8 => torch_pt::DType::U8,
        DType::Bool => torch_pt::DType::Bool,
        _ => return None,
    })
}

impl Input {
    /// Opens `path` (see the module docs for which reader).
    pub fn open(path: &Path, opts: &InputOptions) -> Result<Input> {
        match format_of(path) {
            InputFormat::Pt => Input::open_pt(path, opts, Vec::new()),
            InputFormat::Safetensors => Input::open_safetensors(path, opts),
            InputFormat::Tf => {
                let pt = with_suffix(path, ".pt");
                if !tf_exists(path) && pt.is_file() {
                    let note = format!(
                        "read {} (no TF checkpoint {} exists; RETURNN's PyTorch engine opens <name>.pt for this name too)",
                        pt.display(),
                        path.display()
                    );
                    return Input::open_pt(&pt, opts, vec![note]);
                }
                let ck = Checkpoint::open_with(
                    path,
                    &tf_bundle::OpenOptions {
                        mmap: opts.mmap,
                        ..tf_bundle::OpenOptions::default()
                    },
                )?;
                Ok(Input::from_checkpoint(ck))
            }
        }
    }

    /// An input over an already opened TF checkpoint.
    pub fn from_checkpoint(ck: Checkpoint) -> Input {
        let tensors = ck.tensors().to_vec();
        let notes = ck.notes().to_vec();
        Input::build(Src::Tf(Box::new(ck)), PathBuf::new(), tensors, notes)
    }

    fn build(src: Src, path: PathBuf, tensors: Vec<TensorInfo>, notes: Vec<String>) -> Input {
        let index = tensors
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.clone(), i))
            .collect();
        Input {
            src,
            path,
            tensors,
            index,
            notes,
        }
    }

    fn open_pt(path: &Path, opts: &InputOptions, mut notes: Vec<String>) -> Result<Input> {
        let file = PtFile::open_with(path, &torch_pt::OpenOptions { mmap: opts.mmap })?;
        let (naming, named) = match file.state_dict() {
            Ok(sd) => {
                let inside = sd.tensors.len();
                let all = file.tensors().len();
                if all > inside {
                    notes.push(format!(
                        "{} tensor{} outside the state dict{} {} not listed",
                        all - inside,
                        if all - inside == 1 { "" } else { "s" },
                        sd.under
                            .as_deref()
                            .map(|u| format!(" '{u}'"))
                            .unwrap_or_default(),
                        if all - inside == 1 { "is" } else { "are" }
                    ));
                }
                (PtNaming::StateDict { under: sd.under }, sd.tensors)
            }
            Err(e) if e.kind() == torch_pt::ErrorKind::NotAStateDict => {
                let why = match e.key() {
                    Some(k) => format!("its top-level entry '{k}' is not a tensor"),
                    None => e.message().to_string(),
                };
                notes.push(format!(
                    "not a state dict ({why}): every tensor is listed under its dotted path from the top level"
                ));
                (PtNaming::Paths, file.tensors())
            }
            Err(e) => return Err(e.into()),
        };
        let mut groups: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for t in &named {
            if t.info.numel() != Some(0) {
                groups
                    .entry(t.info.storage.key.as_str())
                    .or_default()
                    .push(t.name.as_str());
            }
        }
        for names in groups.values().filter(|g| g.len() > 1) {
            notes.push(format!("tied: {} share one storage", names.join(", ")));
        }
        let tensors = named
            .iter()
            .map(|t| TensorInfo {
                name: t.name.clone(),
                dtype: pt_dtype(t.info.dtype),
                shape: t.info.shape.clone(),
                sliced: false,
            })
            .collect();
        Ok(Input::build(
            Src::Pt {
                file: Box::new(file),
                tensors: named,
                naming,
            },
            path.to_path_buf(),
            tensors,
            notes,
        ))
    }

    fn open_safetensors(path: &Path, opts: &InputOptions) -> Result<Input> {
        let data = open_source(path, opts.mmap)?;
        let header = convert::to_tf::read_header_at(data.as_ref(), path)?;
        let mut tensors = Vec::with_capacity(header.tensors.len());
        let mut spans = Vec::with_capacity(header.tensors.len());
        let mut notes = Vec::new();
        for (name, dt, shape, off, len) in header.tensors {
            let Some(dtype) = convert::tf_dtype(dt) else {
                notes.push(format!(
                    "tensor '{name}' has safetensors dtype {dt:?}, which no TF or torch-pt dtype holds: not listed"
                ));
                continue;
            };
            tensors.push(TensorInfo {
                name,
                dtype,
                shape,
                sliced: false,
            });
            spans.push((off, len));
        }
        Ok(Input::build(
            Src::Safetensors(SafetensorsFile {
                data,
                spans,
                metadata: header.metadata,
            }),
            path.to_path_buf(),
            tensors,
            notes,
        ))
    }

    /// The format.
    pub fn format(&self) -> InputFormat {
        match &self.src {
            Src::Tf(_) => InputFormat::Tf,
            Src::Pt { .. } => InputFormat::Pt,
            Src::Safetensors(_) => InputFormat::Safetensors,
        }
    }

    /// The format's name in reports: TF's (`v2`, `v1`), `pt`, `safetensors`.
    pub fn format_name(&self) -> String {
        match &self.src {
            Src::Tf(ck) => ck.format().to_string(),
            Src::Pt { .. } => "pt".into(),
            Src::Safetensors(_) => "safetensors".into(),
        }
    }

    /// The path reports show: a TF checkpoint's prefix, else the file as given.
    pub fn shown(&self) -> String {
        match &self.src {
            Src::Tf(ck) => ck.prefix().display().to_string(),
            _ => self.path.display().to_string(),
        }
    }

    /// The file (a `.pt` or safetensors file) or TF prefix read.
    pub fn path(&self) -> &Path {
        match &self.src {
            Src::Tf(ck) => ck.prefix(),
            _ => &self.path,
        }
    }

    /// The TF checkpoint, for TF inputs.
    pub fn checkpoint(&self) -> Option<&Checkpoint> {
        match &self.src {
            Src::Tf(ck) => Some(ck),
            _ => None,
        }
    }

    /// The `.pt` file, for `.pt` inputs.
    pub fn pt(&self) -> Option<&PtFile> {
        match &self.src {
            Src::Pt { file, .. } => Some(file),
            _ => None,
        }
    }

    /// How a `.pt` input's tensors are named.
    pub fn pt_naming(&self) -> Option<&PtNaming> {
        match &self.src {
            Src::Pt { naming, .. } => Some(naming),
            _ => None,
        }
    }

    /// The `.pt` tensor (view, storage, full path) behind `name`.
    pub fn pt_tensor(&self, name: &str) -> Option<&NamedTensor> {
        match &self.src {
            Src::Pt { tensors, .. } => self.index.get(name).and_then(|&i| tensors.get(i)),
            _ => None,
        }
    }

    /// RETURNN's scalar entries of a `.pt` input (`None` for other formats).
    pub fn returnn_scalars(&self) -> Option<ReturnnScalars> {
        self.pt().map(PtFile::returnn_scalars)
    }

    /// A safetensors input's `__metadata__`.
    pub fn safetensors_metadata(&self) -> Option<&BTreeMap<String, String>> {
        match &self.src {
            Src::Safetensors(s) => Some(&s.metadata),
            _ => None,
        }
    }

    /// The listed tensors, in the file's order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// The tensor `name`.
    pub fn get(&self, name: &str) -> Option<&TensorInfo> {
        self.index.get(name).map(|&i| &self.tensors[i])
    }

    /// Entries that cannot be described (TF only).
    pub fn problems(&self) -> &[tf_bundle::EntryProblem] {
        match &self.src {
            Src::Tf(ck) => ck.problems(),
            _ => &[],
        }
    }

    /// What opening noticed.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Number of data shards (TF only).
    pub fn num_shards(&self) -> Option<u32> {
        match &self.src {
            Src::Tf(ck) => Some(ck.num_shards()),
            _ => None,
        }
    }

    /// `little` or `big`: how the data is stored (reads always return little-endian bytes).
    pub fn endianness(&self) -> String {
        match &self.src {
            Src::Tf(ck) => ck.endianness().to_string(),
            Src::Pt { file, .. } if file.is_big_endian() => "big".into(),
            _ => "little".into(),
        }
    }

    /// Payload bytes of every listed tensor (the progress total of a full read).
    pub fn total_bytes(&self) -> u64 {
        match &self.src {
            Src::Tf(ck) => tf_bundle::scan::total_bytes(ck),
            _ => self
                .tensors
                .iter()
                .map(|t| t.nbytes().unwrap_or(0))
                .fold(0, u64::saturating_add),
        }
    }

    fn not_found(&self, name: &str) -> Error {
        Error::new(
            ErrorKind::Read(tf_bundle::ErrorCode::KeyNotFound),
            format!("{}: tensor '{name}' not found", self.shown()),
        )
        .with_path(self.path())
        .with_key(name)
    }

    /// Streams tensor `name`'s elements (C order, little-endian) into `sink` in bounded chunks;
    /// returns the bytes written. Every byte has passed its checksum (TF CRC32C, the `.pt`
    /// record's CRC-32) before the call returns successfully; on an error `sink` may hold
    /// unverified bytes. String tensors (TF) are an error: they have no raw bytes.
    pub fn read_to(&self, name: &str, sink: &mut dyn Write) -> Result<u64> {
        let i = *self.index.get(name).ok_or_else(|| self.not_found(name))?;
        match &self.src {
            Src::Tf(ck) => Ok(ck.read_raw_to(name, sink)?),
            Src::Pt { file, tensors, .. } => Ok(file.read_to(&tensors[i], sink)?),
            Src::Safetensors(s) => {
                let (off, len) = s.spans[i];
                let mut buf = vec![0u8; STATS_CHUNK.min(len as usize)];
                let mut pos = 0u64;
                while pos < len {
                    let n = (len - pos).min(buf.len() as u64) as usize;
                    s.data
                        .read_exact_at(off + pos, &mut buf[..n])
                        .map_err(|e| {
                            st_io(&self.path, &format!("reading tensor '{name}'"), e).with_key(name)
                        })?;
                    sink.write_all(&buf[..n]).map_err(|e| {
                        Error::new(ErrorKind::Output, format!("writing tensor '{name}': {e}"))
                            .with_key(name)
                            .with_source(e)
                    })?;
                    pos += n as u64;
                }
                Ok(len)
            }
        }
    }

    /// Tensor `name` in memory (TF: as tf-bundle reads it, strings included). The allocation is
    /// bounded by what the file holds (the tensor's bytes were checked against the file at open).
    pub fn read(&self, name: &str) -> Result<Tensor> {
        if let Src::Tf(ck) = &self.src {
            return Ok(ck.read(name)?);
        }
        let info = self.get(name).ok_or_else(|| self.not_found(name))?;
        let n = info.nbytes().and_then(|n| usize::try_from(n).ok());
        let mut out = Vec::with_capacity(n.unwrap_or(0));
        self.read_to(name, &mut out)?;
        Ok(Tensor {
            dtype: info.dtype,
            shape: info.shape.clone(),
            data: TensorData::Bytes(out),
        })
    }

    /// The digest and/or statistics of every listed tensor, in [`Input::tensors`] order (TF: on
    /// all cores through tf-bundle's scan; others: one streamed pass per tensor). `advance` gets
    /// the bytes done.
    pub fn scan(&self, want: Want, advance: &(dyn Fn(u64) + Sync)) -> Vec<Result<Scanned>> {
        if let Src::Tf(ck) = &self.src {
            return tf_bundle::scan::scan_all(ck, want, tf_bundle::par::Jobs::default(), advance)
                .into_iter()
                .map(|r| r.map_err(Error::from))
                .collect();
        }
        self.tensors
            .iter()
            .map(|t| {
                let r = self.scan_one(t, want);
                advance(t.nbytes().unwrap_or(0));
                r
            })
            .collect()
    }

    fn scan_one(&self, t: &TensorInfo, want: Want) -> Result<Scanned> {
        let mut sink = ScanSink::new(t.dtype, want);
        self.read_to(&t.name, &mut sink)?;
        Ok(sink.finish())
    }

    /// Checks everything that can be checked without a reader of the values: TF every CRC and
    /// structural rule (tf-bundle's `verify_all`), `.pt` every record's CRC-32 (after the
    /// structure checks of opening), safetensors that every tensor's bytes can be read (the
    /// format has no checksums; its header was validated at open). One error per problem.
    pub fn verify(&self, advance: &(dyn Fn(u64) + Sync)) -> Vec<Error> {
        match &self.src {
            Src::Tf(ck) => {
                tf_bundle::verify::verify_all(ck, tf_bundle::par::Jobs::default(), advance)
                    .into_iter()
                    .map(Error::from)
                    .collect()
            }
            Src::Pt { file, .. } => {
                let mut out = Vec::new();
                for t in &self.tensors {
                    if let Err(e) = self.read_to(&t.name, &mut std::io::sink()) {
                        out.push(e);
                    }
                    advance(t.nbytes().unwrap_or(0));
                }
                if out.is_empty() {
                    if let Err(e) = file.verify_all() {
                        out.push(e.into());
                    }
                }
                out
            }
            Src::Safetensors(_) => {
                let mut out = Vec::new();
                for t in &self.tensors {
                    if let Err(e) = self.read_to(&t.name, &mut std::io::sink()) {
                        out.push(e);
                    }
                    advance(t.nbytes().unwrap_or(0));
                }
                out
            }
        }
    }
}

#[cfg(feature = "mmap")]
fn open_source(path: &Path, mmap: bool) -> Result<Box<dyn ReadAt>> {
    if mmap {
        return Ok(Box::new(
            ckpt_io::MmapSource::open(path)
                .map_err(|e| st_io(path, "memory-mapping the file", e))?,
        ));
    }
    Ok(Box::new(
        ckpt_io::FileSource::open(path).map_err(|e| st_io(path, "opening the file", e))?,
    ))
}

#[cfg(not(feature = "mmap"))]
fn open_source(path: &Path, mmap: bool) -> Result<Box<dyn ReadAt>> {
    if mmap {
        return Err(Error::new(
            ErrorKind::Unsupported,
            "memory maps need the engine's `mmap` feature",
        )
        .with_path(path));
    }
    Ok(Box::new(
        ckpt_io::FileSource::open(path).map_err(|e| st_io(path, "opening the file", e))?,
    ))
}

/// A sink computing the digest and/or the statistics of a tensor's bytes as they stream by:
/// statistics on the fixed [`STATS_CHUNK`] grid of [`Stats::of_bytes`], so the result is
/// bit-identical to it (and to tf-bundle's parallel scan).
pub struct ScanSink {
    dtype: DType,
    want: Want,
    sha: Sha256,
    stats: Option<Stats>,
    buf: Vec<u8>,
    scratch: Vec<f64>,
}

impl ScanSink {
    /// A sink for a tensor of `dtype`.
    pub fn new(dtype: DType, want: Want) -> ScanSink {
        let stats = (want.stats && tf_bundle::elem::is_real(dtype)).then(Stats::default);
        ScanSink {
            dtype,
            want,
            sha: Sha256::new(),
            stats,
            buf: Vec::new(),
            scratch: Vec::new(),
        }
    }

    fn flush_chunk(&mut self) {
        if let Some(acc) = &mut self.stats {
            if let Some(s) = Stats::of_chunk(self.dtype, &self.buf, &mut self.scratch) {
                acc.merge(&s);
            }
        }
        self.buf.clear();
    }

    /// The digest (if wanted) and the statistics (if wanted; `None` for non-real dtypes and no
    /// elements).
    pub fn finish(mut self) -> Scanned {
        if !self.buf.is_empty() {
            self.flush_chunk();
        }
        Scanned {
            stats: self.stats.and_then(|s| s.summary()),
            sha256: self.want.digest.then(|| self.sha.finalize().into()),
        }
    }
}

impl Write for ScanSink {
    fn write(&mut self, mut b: &[u8]) -> std::io::Result<usize> {
        let n = b.len();
        if self.want.digest {
            self.sha.update(b);
        }
        if self.stats.is_some() {
            while !b.is_empty() {
                let take = (STATS_CHUNK - self.buf.len()).min(b.len());
                self.buf.extend_from_slice(&b[..take]);
                b = &b[take..];
                if self.buf.len() == STATS_CHUNK {
                    self.flush_chunk();
                }
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
