//! `convert`: a TF checkpoint to `.safetensors` (streaming; see the `convert` crate), a TF
//! checkpoint (V1, multi-shard) to one V2 bundle, or a `.safetensors` file back to a TF
//! bundle; any input ([`crate::inputs`]: TF, `.pt`, `.safetensors`) to a RETURNN PyTorch-engine
//! checkpoint `.pt`, and a `.pt` to safetensors or TF; with name selection, renames and
//! `--no-optimizer`. Tensors the output cannot hold are skipped and listed (or, with `strict`,
//! an error before anything is written). The output appears atomically; an existing output is
//! replaced only with `force`; an output that is the input is refused.
//!
//! A `.pt` output is RETURNN's layout `{"model": OrderedDict, "epoch", "step",
//! "effective_learning_rate", "returnn_version"}` (docs/pt-faces.md §5): `epoch` is `--epoch`,
//! else the input's file name by RETURNN's `model_epoch_from_filename` rule, else what the input
//! stores (a `.pt`'s `epoch`, an int scalar tensor `epoch`, a safetensors `__metadata__`
//! `epoch`), else 1; `step` is `--step`, else a `.pt`'s `step`, else an int scalar tensor
//! `global_step`, else a safetensors `__metadata__` `global_step`, else 0;
//! `effective_learning_rate` is the learning rate of that epoch in the learning-rate file
//! (`lr_file`, or the config's `learning_rate_file`), else a `.pt` input's own, else None;
//! `returnn_version` names returnn-ckpt and its version. Tensors of a `.pt` input that share one
//! storage with the same view stay tied (one storage) in a `.pt` output.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use convert::select::Selection;
use convert::to_safetensors::{Options, StringPolicy};
use model_files::{LrFile, RealFs};
use serde::Serialize;
use tf_bundle::{DType, TensorData};

use crate::config::ConfigRequest;
use crate::error::{Error, ErrorKind, Result};
use crate::inputs::{torch_dtype, Input, InputFormat, InputOptions};
use crate::jobs::inspect::PtMetadata;
use crate::output::{bundle_files, check_output, is_checkpoint_file, same_file, OutputForm};
use crate::progress::{ConvertProgress, Progress};

/// The output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvertTo {
    /// A `.safetensors` file.
    Safetensors,
    /// A TF bundle prefix (`OUT.index`, `OUT.data-00000-of-00001`).
    Tf,
    /// A RETURNN PyTorch-engine checkpoint (`.pt`).
    Pt,
}

/// What `strings` does with string tensors (safetensors output).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Strings {
    /// Skip them (listed in the report).
    #[default]
    Skip,
    /// Store small ones (≤ 64 KiB) in `__metadata__` as `string:<name>`.
    Metadata,
}

/// What to convert.
#[derive(Clone, Debug)]
pub struct ConvertRequest {
    /// A checkpoint, a `.pt` or a `.safetensors` file.
    pub path: PathBuf,
    pub out: PathBuf,
    /// Default: `.pt` if `out` ends in `.pt`, safetensors if it ends in `.safetensors`, else TF
    /// if `path` ends in `.safetensors`, else safetensors.
    pub to: Option<ConvertTo>,
    /// Fail instead of skipping tensors the output cannot hold.
    pub strict: bool,
    pub strings: Strings,
    /// Keep only tensors whose name matches any of these regexes.
    pub include: Vec<String>,
    /// Drop tensors whose name matches any of these regexes.
    pub exclude: Vec<String>,
    /// `REGEX=REPLACEMENT` renames, applied in order.
    pub rename: Vec<String>,
    /// Drop optimizer state.
    pub no_optimizer: bool,
    /// Map float8 to safetensors F8_* instead of skipping.
    pub float8: bool,
    /// Replace an existing output.
    pub force: bool,
    /// Memory-map the input's data shards (explicit opt-in).
    pub mmap: bool,
    /// Leave out tensors that cannot be read (TF cannot read them either) instead of failing.
    pub skip_unreadable: bool,
    /// Write an output even when the filters leave no tensor.
    pub allow_empty: bool,
    /// `.pt` output: the `epoch` entry (default: see the module docs).
    pub epoch: Option<i64>,
    /// `.pt` output: the `step` entry (default: see the module docs).
    pub step: Option<i64>,
    /// `.pt` output: the learning-rate-control file giving `effective_learning_rate`.
    pub lr_file: Option<PathBuf>,
    /// `.pt` output: a config whose `learning_rate_file` gives `effective_learning_rate`
    /// (resolved against the config request's base directory); `lr_file` wins.
    pub config: Option<ConfigRequest>,
}

impl ConvertRequest {
    /// A conversion of `path` to `out` with the defaults.
    pub fn new(path: impl Into<PathBuf>, out: impl Into<PathBuf>) -> ConvertRequest {
        ConvertRequest {
            path: path.into(),
            out: out.into(),
            to: None,
            strict: false,
            strings: Strings::Skip,
            include: Vec::new(),
            exclude: Vec::new(),
            rename: Vec::new(),
            no_optimizer: false,
            float8: false,
            force: false,
            mmap: false,
            skip_unreadable: false,
            allow_empty: false,
            epoch: None,
            step: None,
            lr_file: None,
            config: None,
        }
    }
}

/// A tensor left out, and why.
#[derive(Clone, Debug, Serialize)]
pub struct SkippedTensor {
    pub name: String,
    pub dtype: Option<String>,
    pub reason: String,
}

/// What was written.
#[derive(Clone, Debug, Serialize)]
pub struct ConvertReport {
    pub out: String,
    /// `safetensors`, `tf` or `pt`.
    pub format: &'static str,
    /// Tensors written.
    pub tensors: usize,
    /// Tensor payload bytes of a safetensors or `.pt` output (`None` for a TF bundle).
    pub bytes: Option<u64>,
    /// `.pt` output only: the scalar entries written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<PtMetadata>,
    pub skipped: Vec<SkippedTensor>,
    /// What reading the input noticed (e.g. the checkpoint read instead of a `.meta` file).
    pub notes: Vec<String>,
}

fn is_safetensors(p: &std::path::Path) -> bool {
    p.extension().is_some_and(|e| e == "safetensors")
}

fn is_pt(p: &std::path::Path) -> bool {
    p.extension().is_some_and(|e| e == "pt")
}

/// The output format `req` asks for (see [`ConvertRequest::to`]).
fn output_format(req: &ConvertRequest) -> ConvertTo {
    req.to.unwrap_or(if is_pt(&req.out) {
        ConvertTo::Pt
    } else if is_safetensors(&req.out) && !is_safetensors(&req.path) {
        ConvertTo::Safetensors
    } else if is_safetensors(&req.path) && !is_safetensors(&req.out) {
        ConvertTo::Tf
    } else {
        ConvertTo::Safetensors
    })
}

/// Converts.
pub fn run(req: &ConvertRequest, progress: &dyn Progress) -> Result<ConvertReport> {
    let selection = Selection::new(&req.include, &req.exclude, &req.rename, req.no_optimizer)?;
    let to = output_format(req);
    let (form, files) = match to {
        ConvertTo::Tf => (OutputForm::Prefix, bundle_files(&req.out)),
        ConvertTo::Safetensors => (OutputForm::File(".safetensors"), vec![req.out.clone()]),
        ConvertTo::Pt => (OutputForm::File(".pt"), vec![req.out.clone()]),
    };
    check_output(&req.out, form, &files, req.force)?;
    let mut bar = ConvertProgress::new(progress, "convert");
    let format_name = match to {
        ConvertTo::Tf => "tf",
        ConvertTo::Safetensors => "safetensors",
        ConvertTo::Pt => "pt",
    };
    if to == ConvertTo::Tf && is_safetensors(&req.path) && !req.mmap {
        let names = safetensors_names(&req.path)?;
        check_not_empty(req, &selection, names.iter().map(String::as_str))?;
        refuse_same_file(&req.path, &files)?;
        let r = convert::to_tf::safetensors_to_tf(
            &req.path,
            &req.out,
            &selection,
            req.strict,
            &mut |p| bar.update(p),
        )?;
        return Ok(ConvertReport {
            out: req.out.display().to_string(),
            format: format_name,
            tensors: r.tensors.len(),
            bytes: None,
            metadata: None,
            skipped: skipped(r.skipped),
            notes: Vec::new(),
        });
    }
    let input = Input::open(&req.path, &InputOptions { mmap: req.mmap })?;
    let mut notes = input.notes().to_vec();
    match input.checkpoint() {
        Some(ck) => {
            if files.iter().any(|f| is_checkpoint_file(ck.prefix(), f)) {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!(
                        "{} is {}",
                        req.out.display(),
                        if to == ConvertTo::Tf {
                            "the input checkpoint"
                        } else {
                            "a file of the input checkpoint"
                        }
                    ),
                )
                .with_path(&req.out)
                .with_hint("choose another output"));
            }
        }
        None => refuse_same_file(input.path(), &files)?,
    }
    check_not_empty(
        req,
        &selection,
        input
            .tensors()
            .iter()
            .map(|t| t.name.as_str())
            .chain(input.problems().iter().map(|p| p.name.as_str())),
    )?;
    if let (Some(ckpt), ConvertTo::Tf | ConvertTo::Safetensors) = (input.checkpoint(), to) {
        let report = if to == ConvertTo::Tf {
            // From a checkpoint, the only skips are tensors that cannot be read.
            let r = convert::to_tf::checkpoint_to_tf(
                ckpt,
                &req.out,
                &selection,
                !req.skip_unreadable,
                &mut |p| bar.update(p),
            )
            .map_err(unreadable_hint)?;
            (r.tensors.len(), None, skipped(r.skipped))
        } else {
            let opts = Options {
                selection,
                strict: req.strict,
                skip_unreadable: req.skip_unreadable,
                strings: match req.strings {
                    Strings::Skip => StringPolicy::Skip,
                    Strings::Metadata => StringPolicy::Metadata,
                },
                float8: req.float8,
            };
            let r = convert::to_safetensors::to_safetensors(ckpt, &req.out, &opts, &mut |p| {
                bar.update(p)
            })
            .map_err(unreadable_hint)?;
            (r.tensors.len(), Some(r.bytes), skipped(r.skipped))
        };
        return Ok(ConvertReport {
            out: req.out.display().to_string(),
            format: format_name,
            tensors: report.0,
            bytes: report.1,
            metadata: None,
            skipped: report.2,
            notes,
        });
    }
    let plan = plan_any(&input, req, &selection, to)?;
    let bytes_total = plan
        .tensors
        .iter()
        .map(|t| t.nbytes)
        .fold(0, u64::saturating_add);
    let mut p = convert::Progress {
        done: 0,
        total: plan.tensors.len() as u64,
        bytes_done: 0,
        bytes_total,
    };
    let mut tick = |n: u64| {
        p.done += 1;
        p.bytes_done += n;
        bar.update(&p);
    };
    let metadata = match to {
        ConvertTo::Pt => {
            let meta = pt_metadata(&input, req, &mut notes)?;
            write_pt(&input, &plan, &req.out, &meta, &mut tick)?;
            Some(PtMetadata {
                epoch: Some(meta.epoch),
                step: Some(meta.step),
                effective_learning_rate: meta
                    .effective_learning_rate
                    .map(crate::jobs::inspect::JsonFloat),
                returnn_version: Some(meta.returnn_version),
            })
        }
        ConvertTo::Safetensors => {
            // the keys a TF checkpoint's conversion writes (`convert::to_safetensors`), from a
            // `.pt` input's scalars, so that a conversion back to `.pt` keeps them
            let mut md = BTreeMap::new();
            md.insert("source".to_string(), input.shown());
            let stored = input.returnn_scalars().unwrap_or_default();
            if let Some(e) = stored.epoch {
                md.insert("epoch".to_string(), e.to_string());
            }
            if let Some(s) = stored.step {
                md.insert("global_step".to_string(), s.to_string());
            }
            write_safetensors(&input, &plan, &req.out, md, &mut tick)?;
            None
        }
        ConvertTo::Tf => {
            write_tf(&input, &plan, &req.out, &mut tick)?;
            None
        }
    };
    Ok(ConvertReport {
        out: req.out.display().to_string(),
        format: format_name,
        tensors: plan.tensors.len(),
        bytes: (to != ConvertTo::Tf).then_some(bytes_total),
        metadata,
        skipped: plan.skipped,
        notes,
    })
}

/// An output that is the input file itself is refused (replacing it would modify the input).
fn refuse_same_file(input: &Path, outputs: &[PathBuf]) -> Result<()> {
    if outputs.iter().any(|o| o == input || same_file(o, input)) {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("{} is the input file", input.display()),
        )
        .with_path(input)
        .with_hint("choose another output"));
    }
    Ok(())
}

/// One tensor of a generic conversion.
struct Planned {
    src: String,
    out: String,
    dtype: DType,
    shape: Vec<u64>,
    nbytes: u64,
    /// `.pt` output: the output name of an earlier tensor whose storage (and view) this one
    /// shares.
    tied_to: Option<String>,
}

struct Plan {
    tensors: Vec<Planned>,
    skipped: Vec<SkippedTensor>,
}

/// What a conversion from any input through [`Input::read_to`] writes (computed before the
/// output is created: with `strict` a skip is an error and nothing is written).
fn plan_any(
    input: &Input,
    req: &ConvertRequest,
    selection: &Selection,
    to: ConvertTo,
) -> Result<Plan> {
    let mut skipped = Vec::new();
    for p in input.problems() {
        if selection.selects(&p.name) {
            if !req.skip_unreadable {
                return Err(Error::from(p.error.clone())
                    .with_key(&p.name)
                    .with_path(input.path())
                    .with_hint("TensorFlow cannot read this tensor either; pass --skip-unreadable to convert the others"));
            }
            skipped.push(SkippedTensor {
                name: p.name.clone(),
                dtype: None,
                reason: format!("cannot be read: {}", p.error),
            });
        }
    }
    let pairs = selection.apply(input.tensors().iter().map(|t| t.name.as_str()))?;
    let mut tensors: Vec<Planned> = Vec::with_capacity(pairs.len());
    // (storage key, offset, shape, stride) -> output name of its first tensor
    let mut storages: HashMap<(String, u64, Vec<u64>, Vec<u64>), String> = HashMap::new();
    for (src, out) in pairs {
        let Some(info) = input.get(&src) else {
            continue;
        };
        let reason = match to {
            ConvertTo::Pt if info.dtype == DType::String => {
                Some("string tensor: torch has no string dtype".to_string())
            }
            ConvertTo::Pt => torch_dtype(info.dtype).is_none().then(|| {
                format!(
                    "dtype {} has no torch dtype a .pt file stores here (float16/32/64, bfloat16, int8/16/32/64, uint8, bool)",
                    info.dtype
                )
            }),
            ConvertTo::Safetensors => {
                let mapped = if req.float8 {
                    convert::dtypes::safetensors_dtype_with_float8(info.dtype)
                } else {
                    convert::safetensors_dtype(info.dtype)
                };
                mapped
                    .is_none()
                    .then(|| format!("dtype {} has no safetensors equivalent", info.dtype))
            }
            ConvertTo::Tf => None,
        };
        if let Some(reason) = reason {
            if req.strict {
                return Err(Error::new(
                    ErrorKind::Convert(convert::ErrorCode::Unsupported),
                    format!("--strict: '{src}' would be skipped: {reason}"),
                )
                .with_path(input.path())
                .with_key(&src));
            }
            skipped.push(SkippedTensor {
                name: src.clone(),
                dtype: Some(info.dtype.to_string()),
                reason,
            });
            continue;
        }
        if info.sliced {
            // a partitioned tensor whose slices do not cover it cannot be assembled (TF cannot
            // either): find out now, before the output is created
            if let Err(e) = input.read_to(&src, &mut std::io::sink()) {
                if e.label() == "slices" && req.skip_unreadable {
                    skipped.push(SkippedTensor {
                        name: src.clone(),
                        dtype: Some(info.dtype.to_string()),
                        reason: format!("cannot be assembled: {e}"),
                    });
                    continue;
                }
                return Err(unreadable_hint_engine(e));
            }
        }
        let nbytes = info.nbytes().unwrap_or(0);
        let mut tied_to = None;
        if let (ConvertTo::Pt, Some(t)) = (to, input.pt_tensor(&src)) {
            if t.info.numel() != Some(0) {
                let k = (
                    t.info.storage.key.clone(),
                    t.info.storage_offset,
                    t.info.shape.clone(),
                    t.info.stride.clone(),
                );
                match storages.get(&k) {
                    Some(first) => tied_to = Some(first.clone()),
                    None => {
                        storages.insert(k, out.clone());
                    }
                }
            }
        }
        tensors.push(Planned {
            src,
            out,
            dtype: info.dtype,
            shape: info.shape.clone(),
            nbytes,
            tied_to,
        });
    }
    Ok(Plan { tensors, skipped })
}

/// The RETURNN scalar entries of a `.pt` output (see the module docs).
fn pt_metadata(
    input: &Input,
    req: &ConvertRequest,
    notes: &mut Vec<String>,
) -> Result<torch_pt::ReturnnMeta> {
    let stored = input.returnn_scalars().unwrap_or_default();
    let st_meta = |k: &str| {
        input
            .safetensors_metadata()
            .and_then(|m| m.get(k))
            .and_then(|v| v.parse::<i64>().ok())
    };
    let epoch = match req.epoch {
        Some(e) => e,
        None => {
            let name = epoch_file_name(input);
            let from_name = model_files::model_epoch_from_filename(&RealFs::in_dir(""), &name)
                .map_err(|e| {
                    Error::from(e)
                        .with_path(input.path())
                        .with_hint("pass --epoch N")
                })?;
            match from_name {
                Some(e) => i64::try_from(e).map_err(|_| {
                    Error::new(
                        ErrorKind::InvalidArgument,
                        format!("epoch {e} of {name} does not fit in an int64"),
                    )
                })?,
                None => {
                    let e = stored
                        .epoch
                        .or_else(|| scalar_int(input, "epoch"))
                        .or_else(|| st_meta("epoch"));
                    if e.is_none() {
                        notes.push(format!(
                            "epoch 1: neither the file name {name} nor the input gives an epoch (--epoch N sets one)"
                        ));
                    }
                    e.unwrap_or(1)
                }
            }
        }
    };
    let step = match req.step {
        Some(s) => s,
        None => {
            let s = stored
                .step
                .or_else(|| scalar_int(input, "global_step"))
                .or_else(|| st_meta("global_step"));
            if s.is_none() {
                notes.push("step 0: the input has no global_step (--step N sets one)".to_string());
            }
            s.unwrap_or(0)
        }
    };
    let lr = match learning_rate_file(req)? {
        Some((shown, lr)) => {
            let v = u64::try_from(epoch)
                .ok()
                .and_then(|e| lr.epochs.get(&e))
                .and_then(|d| d.learning_rate);
            if v.is_none() {
                notes.push(format!(
                    "effective_learning_rate None: the learning-rate file {shown} has no learning rate for epoch {epoch}"
                ));
            }
            v
        }
        None => stored.effective_learning_rate,
    };
    Ok(torch_pt::ReturnnMeta {
        epoch,
        step,
        effective_learning_rate: lr,
        returnn_version: format!("returnn-ckpt {}", env!("CARGO_PKG_VERSION")),
    })
}

/// The name RETURNN's `model_epoch_from_filename` would be given for this input: a TF prefix,
/// a `.pt` file without `.pt`, a safetensors file without `.safetensors`.
fn epoch_file_name(input: &Input) -> String {
    let p = input.path().display().to_string();
    match input.format() {
        InputFormat::Tf => p,
        InputFormat::Pt => p.strip_suffix(".pt").map(str::to_string).unwrap_or(p),
        InputFormat::Safetensors => p
            .strip_suffix(".safetensors")
            .map(str::to_string)
            .unwrap_or(p),
    }
}

/// The value of an int32/int64 scalar tensor `name`, if the input has one.
fn scalar_int(input: &Input, name: &str) -> Option<i64> {
    let info = input.get(name)?;
    if !info.shape.is_empty() {
        return None;
    }
    let t = input.read(name).ok()?;
    let TensorData::Bytes(b) = &t.data else {
        return None;
    };
    match info.dtype {
        DType::Int64 => Some(i64::from_le_bytes(b.get(..8)?.try_into().ok()?)),
        DType::Int32 => Some(i64::from(i32::from_le_bytes(b.get(..4)?.try_into().ok()?))),
        _ => None,
    }
}

/// The learning-rate file of the request: `lr_file` (must exist), else the config's
/// `learning_rate_file` (if set and present).
fn learning_rate_file(req: &ConvertRequest) -> Result<Option<(String, LrFile)>> {
    if let Some(p) = &req.lr_file {
        let shown = p.display().to_string();
        let lr = LrFile::load(&RealFs::in_dir(""), &shown)
            .map_err(|e| Error::new(ErrorKind::LrFile, e.to_string()).with_path(p))?;
        return Ok(Some((shown, lr)));
    }
    let Some(c) = &req.config else {
        return Ok(None);
    };
    let loaded = crate::config::load(c)?;
    let fs = RealFs::in_dir(&loaded.base_dir);
    let (path, lr) = crate::jobs::epochs::load_lr_file(&loaded.config, &fs)?;
    match (path, lr) {
        (Some(p), Some(lr)) => Ok(Some((p, lr))),
        (Some(p), None) => Err(Error::new(
            ErrorKind::LrFileMissing,
            format!("the config's learning_rate_file {p} does not exist"),
        )
        .with_path(&p)
        .with_hint("pass -C DIR to run where RETURNN ran, or --lr-file FILE")),
        (None, _) => Err(Error::new(
            ErrorKind::LrFileMissing,
            "the config sets no learning_rate_file",
        )
        .with_hint("pass --lr-file FILE")),
    }
}

/// Runs `fill`, which streams a tensor with [`Input::read_to`] into a writer's `io::Write`
/// callback, keeping the reader's error (the callback can only return an `io::Error`).
struct Captured(Option<Error>);

impl Captured {
    fn read(
        &mut self,
        input: &Input,
        src: &str,
        w: &mut dyn std::io::Write,
    ) -> std::io::Result<u64> {
        match input.read_to(src, w) {
            Ok(n) => Ok(n),
            Err(e) => {
                let msg = e.to_string();
                self.0 = Some(e);
                Err(std::io::Error::other(msg))
            }
        }
    }
}

fn write_pt(
    input: &Input,
    plan: &Plan,
    out: &Path,
    meta: &torch_pt::ReturnnMeta,
    tick: &mut dyn FnMut(u64),
) -> Result<()> {
    let mut w = torch_pt::StateDictWriter::create(out, torch_pt::Layout::Returnn(meta.clone()))?;
    let mut written: HashMap<&str, torch_pt::StorageRef> = HashMap::new();
    for t in &plan.tensors {
        if let Some(s) = t.tied_to.as_deref().and_then(|o| written.get(o)) {
            w.add_view(&t.out, s, &t.shape, None, 0)?;
            tick(0);
            continue;
        }
        let Some(dt) = torch_dtype(t.dtype) else {
            continue;
        };
        let mut cap = Captured(None);
        let r = w.add_with(&t.out, dt, &t.shape, &mut |sink| {
            cap.read(input, &t.src, sink).map(|_| ())
        });
        let s = match (r, cap.0) {
            (_, Some(e)) => return Err(e),
            (r, None) => r?,
        };
        written.insert(t.out.as_str(), s);
        tick(t.nbytes);
    }
    w.commit()?;
    Ok(())
}

fn write_safetensors(
    input: &Input,
    plan: &Plan,
    out: &Path,
    metadata: BTreeMap<String, String>,
    tick: &mut dyn FnMut(u64),
) -> Result<()> {
    let decl = plan
        .tensors
        .iter()
        .map(|t| (t.out.clone(), t.dtype, t.shape.clone()))
        .collect();
    let mut w = convert::SafetensorsWriter::create(out, decl, metadata)?;
    let by_out: HashMap<&str, &Planned> =
        plan.tensors.iter().map(|t| (t.out.as_str(), t)).collect();
    let order: Vec<String> = w.order().map(str::to_owned).collect();
    for o in &order {
        let Some(t) = by_out.get(o.as_str()) else {
            continue;
        };
        let mut s = w.stream(o)?;
        input.read_to(&t.src, &mut s)?;
        s.finish()?;
        tick(t.nbytes);
    }
    w.finish()?;
    Ok(())
}

fn write_tf(input: &Input, plan: &Plan, out: &Path, tick: &mut dyn FnMut(u64)) -> Result<()> {
    let mut w = tf_bundle::write::BundleWriter::create(out)?;
    for t in &plan.tensors {
        if t.dtype == DType::String {
            let v = input.read(&t.src)?;
            w.add(&t.out, v.dtype, &v.shape, &v.data)?;
        } else {
            let mut s = w.begin_raw(&t.out, t.dtype, &t.shape)?;
            input.read_to(&t.src, &mut s)?;
            s.finish()?;
        }
        tick(t.nbytes);
    }
    w.finish()?;
    Ok(())
}

fn skipped(v: Vec<convert::to_safetensors::Skipped>) -> Vec<SkippedTensor> {
    v.into_iter()
        .map(|s| SkippedTensor {
            name: s.name,
            dtype: s.dtype.map(|d| d.to_string()),
            reason: s.reason,
        })
        .collect()
}

/// A read error of a tensor that could be left out gets the hint how.
fn unreadable_hint(e: convert::Error) -> Error {
    let read = matches!(e.kind(), convert::ErrorKind::Read(_));
    let e = Error::from(e);
    if read {
        e.with_hint("TensorFlow cannot read this tensor either; pass --skip-unreadable to convert the others")
    } else {
        e
    }
}

/// [`unreadable_hint`] for a read error of the library layer.
fn unreadable_hint_engine(e: Error) -> Error {
    if matches!(e.kind(), ErrorKind::Read(_)) {
        e.with_hint("TensorFlow cannot read this tensor either; pass --skip-unreadable to convert the others")
    } else {
        e
    }
}

/// The filters must leave something, unless an empty output is asked for.
fn check_not_empty<'a>(
    req: &ConvertRequest,
    selection: &Selection,
    names: impl Iterator<Item = &'a str>,
) -> Result<()> {
    let mut any = false;
    let mut total = 0usize;
    for n in names {
        total += 1;
        any |= selection.selects(n);
    }
    if any || req.allow_empty {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::InvalidArgument,
        format!(
            "the filters leave none of the {total} tensors of {}",
            req.path.display()
        ),
    )
    .with_path(&req.path)
    .with_hint(
        "check --include/--exclude/--no-optimizer, or pass --allow-empty to write an empty output",
    ))
}

fn safetensors_names(path: &std::path::Path) -> Result<Vec<String>> {
    let mut f = std::fs::File::open(path).map_err(|e| {
        Error::new(
            ErrorKind::Read(tf_bundle::ErrorCode::Io),
            format!("{}: {e}", path.display()),
        )
        .with_path(path)
        .with_source(e)
    })?;
    let h = convert::to_tf::read_header(&mut f, path)?;
    Ok(h.tensors.into_iter().map(|t| t.0).collect())
}
