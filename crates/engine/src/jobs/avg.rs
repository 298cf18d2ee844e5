//! `avg`: the element-wise mean of the floating-point tensors of several checkpoints, written
//! as a TF bundle (integer tensors such as `global_step` come from the last input; names,
//! dtypes and shapes must match unless `ignore_missing`; see `convert::avg`). Never writes over
//! an input; an existing output is replaced only with `force`.
//!
//! `.pt` inputs (RETURNN PyTorch-engine checkpoints) are averaged as RETURNN's
//! `tools/torch_avg_checkpoints.py` does (docs/pt-faces.md §6) into a `.pt` in its layout:
//! `{"model": {...}, "merged_epochs", "merged_steps", "epoch": max, "step": max, then every
//! other top-level entry from the first input holding it}`; each floating-point tensor is
//! summed in its own dtype in input order (`+=`, float16/bfloat16 through float32 as torch's CPU
//! kernels compute) and divided once by the number of inputs holding it. Where that tool is
//! wrong or fails, we differ [ours]: a tensor tied to another (one storage, the same view) in
//! every input is averaged once and stays tied (the tool's in-place `+=` adds into the shared
//! storage once per key, so tied weights come out wrong), and integer and bool tensors (which
//! the tool's `/=` refuses with a `RuntimeError`) come from the last input holding them.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;
use tf_bundle::DType;
use torch_pt::{Dict, DictKind, PtWriter, TensorInfo as PtTensor, Value};

use crate::error::{Error, ErrorKind, Result};
use crate::inputs::{torch_dtype, Input, InputFormat, InputOptions, PtNaming};
use crate::jobs::inspect::{JsonFloat, PtMetadata};
use crate::output::{bundle_files, check_output, same_file, OutputForm};
use crate::progress::{ConvertProgress, Progress};

/// What to average.
#[derive(Clone, Debug)]
pub struct AvgRequest {
    pub paths: Vec<PathBuf>,
    /// Output bundle prefix (TF inputs) or `.pt` file (`.pt` inputs).
    pub out: PathBuf,
    /// Average a tensor missing from some inputs over the inputs that have it.
    pub ignore_missing: bool,
    pub force: bool,
}

/// A tensor present in only some inputs.
#[derive(Clone, Debug, Serialize)]
pub struct PartialTensor {
    pub name: String,
    /// In how many inputs it is.
    pub inputs: usize,
}

/// What was written.
#[derive(Clone, Debug, Serialize)]
pub struct AvgReport {
    pub out: String,
    pub inputs: usize,
    pub averaged: Vec<String>,
    pub copied_from_last: Vec<String>,
    pub partial: Vec<PartialTensor>,
    /// `.pt` inputs only: the scalar entries written (max `epoch` and `step`, the first input's
    /// `effective_learning_rate` and `returnn_version`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<PtMetadata>,
    /// What reading the inputs noticed.
    pub notes: Vec<String>,
}

/// Averages.
pub fn run(req: &AvgRequest, progress: &dyn Progress) -> Result<AvgReport> {
    let pts = req
        .paths
        .iter()
        .filter(|p| crate::inputs::format_of(p) == InputFormat::Pt)
        .count();
    if pts > 0
        || req
            .paths
            .iter()
            .any(|p| crate::inputs::format_of(p) != InputFormat::Tf)
    {
        if pts != req.paths.len() {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "avg averages TF checkpoints or .pt files, not a mix (and not .safetensors files)",
            )
            .with_hint("convert the inputs to one format first"));
        }
        return run_pt(req, progress);
    }
    let outputs = bundle_files(&req.out);
    check_output(&req.out, OutputForm::Prefix, &outputs, req.force)?;
    let mut inputs = Vec::with_capacity(req.paths.len());
    let mut notes = Vec::new();
    for p in &req.paths {
        let c = tf_bundle::Checkpoint::open(p)?;
        notes.extend(c.notes().iter().cloned());
        inputs.push(c);
    }
    for c in &inputs {
        let files = bundle_files(c.prefix());
        if files
            .iter()
            .any(|f| outputs.iter().any(|o| same_file(f, o)))
        {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "--out {} would overwrite the input {}",
                    req.out.display(),
                    c.prefix().display()
                ),
            )
            .with_path(&req.out)
            .with_hint("choose another output prefix"));
        }
    }
    let mut bar = ConvertProgress::new(progress, "avg");
    let report = convert::avg::average(&inputs, &req.out, req.ignore_missing, &mut |p| {
        bar.update(p)
    })?;
    Ok(AvgReport {
        out: req.out.display().to_string(),
        inputs: inputs.len(),
        averaged: report.averaged,
        copied_from_last: report.copied_from_last,
        partial: report
            .partial
            .into_iter()
            .map(|(name, inputs)| PartialTensor { name, inputs })
            .collect(),
        metadata: None,
        notes,
    })
}

/// float32 to float16 bits as torch's `c10::Half` rounds (nearest even; a NaN becomes the
/// quiet NaN of its sign, payload dropped).
fn to_f16(x: f32) -> u16 {
    if x.is_nan() {
        return if x.is_sign_negative() { 0xFE00 } else { 0x7E00 };
    }
    half::f16::from_f32(x).to_bits()
}

/// float32 to bfloat16 bits as torch's `c10::BFloat16` rounds (nearest even; every NaN becomes
/// `0x7FC0`).
fn to_bf16(x: f32) -> u16 {
    if x.is_nan() {
        return 0x7FC0;
    }
    half::bf16::from_f32(x).to_bits()
}

/// The running sum of one float tensor, in its dtype as torch computes `+=` and `/=` on CPU.
enum Acc {
    F32(Vec<f32>),
    F64(Vec<f64>),
    /// float16 bits; each op in float32, rounded to nearest even.
    F16(Vec<u16>),
    /// bfloat16 bits; likewise.
    Bf16(Vec<u16>),
}

impl Acc {
    fn new(dtype: DType, n: usize) -> Option<Acc> {
        Some(match dtype {
            DType::Float32 => Acc::F32(Vec::with_capacity(n)),
            DType::Float64 => Acc::F64(Vec::with_capacity(n)),
            DType::Float16 => Acc::F16(Vec::with_capacity(n)),
            DType::BFloat16 => Acc::Bf16(Vec::with_capacity(n)),
            _ => return None,
        })
    }

    fn elem_size(&self) -> usize {
        match self {
            Acc::F32(_) => 4,
            Acc::F64(_) => 8,
            Acc::F16(_) | Acc::Bf16(_) => 2,
        }
    }

    /// `first`: the first holder's elements are taken as they are (the tool's
    /// `out[k] = v`); later holders are added element `at..` on.
    fn feed(&mut self, first: bool, at: usize, b: &[u8]) {
        use half::{bf16, f16};
        match self {
            Acc::F32(v) => {
                for (i, c) in b.chunks_exact(4).enumerate() {
                    let x = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                    if first {
                        v.push(x);
                    } else if let Some(a) = v.get_mut(at + i) {
                        *a += x;
                    }
                }
            }
            Acc::F64(v) => {
                for (i, c) in b.chunks_exact(8).enumerate() {
                    let mut a8 = [0u8; 8];
                    a8.copy_from_slice(c);
                    let x = f64::from_le_bytes(a8);
                    if first {
                        v.push(x);
                    } else if let Some(a) = v.get_mut(at + i) {
                        *a += x;
                    }
                }
            }
            Acc::F16(v) => {
                for (i, c) in b.chunks_exact(2).enumerate() {
                    let x = u16::from_le_bytes([c[0], c[1]]);
                    if first {
                        v.push(x);
                    } else if let Some(a) = v.get_mut(at + i) {
                        *a = to_f16(f16::from_bits(*a).to_f32() + f16::from_bits(x).to_f32());
                    }
                }
            }
            Acc::Bf16(v) => {
                for (i, c) in b.chunks_exact(2).enumerate() {
                    let x = u16::from_le_bytes([c[0], c[1]]);
                    if first {
                        v.push(x);
                    } else if let Some(a) = v.get_mut(at + i) {
                        *a = to_bf16(bf16::from_bits(*a).to_f32() + bf16::from_bits(x).to_f32());
                    }
                }
            }
        }
    }

    /// Divides by `n` (the tool's `/=`) and writes the little-endian bytes.
    fn finish(self, n: usize, out: &mut dyn Write) -> std::io::Result<()> {
        use half::{bf16, f16};
        let mut buf = Vec::with_capacity(1 << 16);
        let mut flush = |buf: &mut Vec<u8>, force: bool| -> std::io::Result<()> {
            if force || buf.len() >= 1 << 16 {
                out.write_all(buf)?;
                buf.clear();
            }
            Ok(())
        };
        match self {
            Acc::F32(v) => {
                let d = n as f32;
                for a in v {
                    buf.extend_from_slice(&(a / d).to_le_bytes());
                    flush(&mut buf, false)?;
                }
            }
            Acc::F64(v) => {
                let d = n as f64;
                for a in v {
                    buf.extend_from_slice(&(a / d).to_le_bytes());
                    flush(&mut buf, false)?;
                }
            }
            Acc::F16(v) => {
                let d = n as f32;
                for a in v {
                    let q = to_f16(f16::from_bits(a).to_f32() / d);
                    buf.extend_from_slice(&q.to_le_bytes());
                    flush(&mut buf, false)?;
                }
            }
            Acc::Bf16(v) => {
                let d = n as f32;
                for a in v {
                    let q = to_bf16(bf16::from_bits(a).to_f32() / d);
                    buf.extend_from_slice(&q.to_le_bytes());
                    flush(&mut buf, false)?;
                }
            }
        }
        flush(&mut buf, true)
    }
}

/// Feeds streamed bytes into an [`Acc`] in whole elements.
struct AccSink<'a> {
    acc: &'a mut Acc,
    first: bool,
    at: usize,
    pending: Vec<u8>,
}

impl Write for AccSink<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let es = self.acc.elem_size();
        let mut data = buf;
        if !self.pending.is_empty() {
            let take = (es - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.pending.len() == es {
                let p = std::mem::take(&mut self.pending);
                self.acc.feed(self.first, self.at, &p);
                self.at += 1;
            }
        }
        let whole = data.len() / es * es;
        self.acc.feed(self.first, self.at, &data[..whole]);
        self.at += whole / es;
        self.pending.extend_from_slice(&data[whole..]);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One output tensor of a `.pt` average.
struct Slot {
    name: String,
    dtype: DType,
    shape: Vec<u64>,
    /// Inputs holding it, in order.
    holders: Vec<usize>,
    /// Output name of an earlier slot it is tied to in every holder.
    tied_to: Option<String>,
}

/// The tie key of tensor `name` in `input`: storage, offset, shape, stride.
fn tie_key(input: &Input, name: &str) -> Option<(String, u64, Vec<u64>, Vec<u64>)> {
    let t = input.pt_tensor(name)?;
    (t.info.numel() != Some(0)).then(|| {
        (
            t.info.storage.key.clone(),
            t.info.storage_offset,
            t.info.shape.clone(),
            t.info.stride.clone(),
        )
    })
}

fn run_pt(req: &AvgRequest, progress: &dyn Progress) -> Result<AvgReport> {
    let outputs = vec![req.out.clone()];
    check_output(&req.out, OutputForm::File(".pt"), &outputs, req.force)?;
    if req.paths.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            "avg needs at least one input",
        ));
    }
    let mut inputs = Vec::with_capacity(req.paths.len());
    let mut notes = Vec::new();
    for p in &req.paths {
        if same_file(p, &req.out) || *p == req.out {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "--out {} would overwrite the input {}",
                    req.out.display(),
                    p.display()
                ),
            )
            .with_path(&req.out)
            .with_hint("choose another output file"));
        }
        let input = Input::open(p, &InputOptions::default())?;
        if !matches!(input.pt_naming(), Some(PtNaming::StateDict { .. })) {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "{} holds no state dict (RETURNN's averaging needs a \"model\" dict of tensors)",
                    p.display()
                ),
            )
            .with_path(p)
            .with_hint("an optimizer file (.opt.pt) cannot be averaged; pass the model files"));
        }
        notes.extend(
            input
                .notes()
                .iter()
                .map(|n| format!("{}: {n}", input.shown())),
        );
        inputs.push(input);
    }
    // the output's tensors in first-appearance order (the tool's dict insertion order)
    let mut slots: Vec<Slot> = Vec::new();
    let mut by_name: HashMap<String, usize> = HashMap::new();
    for (i, input) in inputs.iter().enumerate() {
        for t in input.tensors() {
            match by_name.get(&t.name) {
                Some(&s) => {
                    let first = &slots[s];
                    if first.dtype != t.dtype || first.shape != t.shape {
                        return Err(Error::new(
                            ErrorKind::Convert(convert::ErrorCode::Mismatch),
                            format!(
                                "inputs do not match: {} has {} {:?} but {} has {} {:?}",
                                inputs[first.holders[0]].shown(),
                                first.dtype,
                                first.shape,
                                input.shown(),
                                t.dtype,
                                t.shape
                            ),
                        )
                        .with_key(&t.name));
                    }
                    slots[s].holders.push(i);
                }
                None => {
                    by_name.insert(t.name.clone(), slots.len());
                    slots.push(Slot {
                        name: t.name.clone(),
                        dtype: t.dtype,
                        shape: t.shape.clone(),
                        holders: vec![i],
                        tied_to: None,
                    });
                }
            }
        }
    }
    let mut partial = Vec::new();
    for s in &slots {
        if s.holders.len() != inputs.len() {
            if !req.ignore_missing {
                let missing: Vec<String> = (0..inputs.len())
                    .filter(|i| !s.holders.contains(i))
                    .map(|i| inputs[i].shown())
                    .collect();
                return Err(Error::new(
                    ErrorKind::Convert(convert::ErrorCode::Mismatch),
                    format!(
                        "inputs do not match: missing in {} (present in {} of {} inputs; use --ignore-missing to average over those)",
                        missing.join(", "),
                        s.holders.len(),
                        inputs.len()
                    ),
                )
                .with_key(&s.name));
            }
            partial.push(PartialTensor {
                name: s.name.clone(),
                inputs: s.holders.len(),
            });
        }
    }
    // ties: the same storage view as an earlier slot in every holder, and the same holders
    for k in 0..slots.len() {
        let keys: Vec<_> = slots[k]
            .holders
            .iter()
            .map(|&i| tie_key(&inputs[i], &slots[k].name))
            .collect();
        if keys.iter().any(Option::is_none) {
            continue;
        }
        let found = (0..k).find(|&j| {
            slots[j].tied_to.is_none()
                && slots[j].holders == slots[k].holders
                && slots[j]
                    .holders
                    .iter()
                    .zip(&keys)
                    .all(|(&i, key)| tie_key(&inputs[i], &slots[j].name) == *key)
        });
        if let Some(j) = found {
            slots[k].tied_to = Some(slots[j].name.clone());
        }
    }
    // scalars, as the tool merges them
    let mut epoch: Option<i64> = None;
    let mut step: Option<i64> = None;
    let mut merged_epochs = Vec::new();
    let mut merged_steps = Vec::new();
    let mut rest: Vec<(String, Value)> = Vec::new();
    for input in &inputs {
        let Some(file) = input.pt() else { continue };
        let top = file.root().as_dict();
        let get = |k: &str| top.and_then(|d| d.get(k));
        let e = get("epoch").and_then(Value::as_i64);
        let st = get("step").and_then(Value::as_i64);
        if let Some(e) = e {
            epoch = Some(epoch.map_or(e, |m: i64| m.max(e)));
        }
        if let Some(x) = st {
            step = Some(step.map_or(x, |m: i64| m.max(x)));
        }
        for (k, list) in [
            ("merged_epochs", &mut merged_epochs),
            ("merged_steps", &mut merged_steps),
        ] {
            if let Some(Value::List(items)) = get(k) {
                list.extend(items.iter().cloned());
            }
        }
        merged_epochs.push(get("epoch").cloned().unwrap_or(Value::None));
        merged_steps.push(get("step").cloned().unwrap_or(Value::None));
        for (k, v) in file.scalars() {
            if matches!(
                k.as_str(),
                "model" | "epoch" | "step" | "merged_epochs" | "merged_steps"
            ) || rest.iter().any(|(r, _)| *r == k)
            {
                continue;
            }
            rest.push((k, v));
        }
        if let Some(d) = top {
            for (k, v) in &d.items {
                if let Value::Str(k) = k {
                    if k != "model"
                        && !v.is_scalar()
                        && !matches!(k.as_str(), "merged_epochs" | "merged_steps")
                    {
                        let n = format!(
                            "top-level entry '{k}' of {} is not a plain value: not copied",
                            input.shown()
                        );
                        if !notes.contains(&n) {
                            notes.push(n);
                        }
                    }
                }
            }
        }
    }
    // write
    let total: u64 = slots
        .iter()
        .filter(|s| s.tied_to.is_none())
        .map(|s| {
            let n = s.shape.iter().product::<u64>() * s.dtype.element_size().unwrap_or(1) as u64;
            n * s.holders.len() as u64
        })
        .fold(0, u64::saturating_add);
    progress.begin("avg", total);
    let r = write_pt_average(req, &inputs, &slots, progress);
    progress.end();
    let (model, averaged, copied_from_last) = r?;
    let mut top = Dict::new(DictKind::Dict);
    top.push("model", Value::Dict(model.0));
    top.push("merged_epochs", Value::List(merged_epochs));
    top.push("merged_steps", Value::List(merged_steps));
    if let Some(e) = epoch {
        top.push("epoch", e);
    }
    if let Some(x) = step {
        top.push("step", x);
    }
    let lr = rest
        .iter()
        .find(|(k, _)| k == "effective_learning_rate")
        .and_then(|(_, v)| v.as_f64());
    let version = rest
        .iter()
        .find(|(k, _)| k == "returnn_version")
        .and_then(|(_, v)| v.as_str().map(str::to_string));
    for (k, v) in rest {
        top.push(k, v);
    }
    model.1.commit(&Value::Dict(top))?;
    Ok(AvgReport {
        out: req.out.display().to_string(),
        inputs: inputs.len(),
        averaged,
        copied_from_last,
        partial,
        metadata: Some(PtMetadata {
            epoch,
            step,
            effective_learning_rate: lr.map(JsonFloat),
            returnn_version: version,
        }),
        notes,
    })
}

type PtModel = (Dict, PtWriter<ckpt_io::AtomicFile>);

/// Streams every slot into the output's storages; returns the model dict (to be committed
/// with the scalars), the averaged and the copied names.
fn write_pt_average(
    req: &AvgRequest,
    inputs: &[Input],
    slots: &[Slot],
    progress: &dyn Progress,
) -> Result<(PtModel, Vec<String>, Vec<String>)> {
    let mut w = PtWriter::create(&req.out)?;
    let mut model = Dict::new(DictKind::Dict);
    let mut storages: HashMap<&str, PtTensor> = HashMap::new();
    let mut averaged = Vec::new();
    let mut copied = Vec::new();
    for s in slots {
        if let Some(t) = s.tied_to.as_deref().and_then(|o| storages.get(o)) {
            let t = t.clone();
            model.push(s.name.as_str(), Value::Tensor(Box::new(t.clone())));
            storages.insert(s.name.as_str(), t);
            if s.dtype.is_float() {
                averaged.push(s.name.clone());
            } else {
                copied.push(s.name.clone());
            }
            continue;
        }
        let dt = torch_dtype(s.dtype).ok_or_else(|| {
            Error::new(
                ErrorKind::Unsupported,
                format!("dtype {} in a .pt input", s.dtype),
            )
            .with_key(&s.name)
        })?;
        let numel: u64 = s.shape.iter().product();
        let nbytes = numel * s.dtype.element_size().unwrap_or(1) as u64;
        let storage = match Acc::new(s.dtype, usize::try_from(numel).unwrap_or(0)) {
            Some(mut acc) => {
                for (k, &i) in s.holders.iter().enumerate() {
                    let mut sink = AccSink {
                        acc: &mut acc,
                        first: k == 0,
                        at: 0,
                        pending: Vec::new(),
                    };
                    inputs[i].read_to(&s.name, &mut sink)?;
                    progress.advance(nbytes);
                }
                averaged.push(s.name.clone());
                let n = s.holders.len();
                w.add_storage_with(dt, numel, &mut |out| {
                    std::mem::replace(&mut acc, Acc::F32(Vec::new())).finish(n, out)
                })
                .map_err(|e| Error::from(e).with_key(&s.name))?
            }
            None => {
                let Some(&last) = s.holders.last() else {
                    continue;
                };
                let mut err = None;
                let st = w.add_storage_with(dt, numel, &mut |out| {
                    inputs[last].read_to(&s.name, out).map(|_| ()).map_err(|e| {
                        let m = e.to_string();
                        err = Some(e);
                        std::io::Error::other(m)
                    })
                });
                if let Some(e) = err {
                    return Err(e);
                }
                progress.advance(nbytes * s.holders.len() as u64);
                copied.push(s.name.clone());
                st.map_err(|e| Error::from(e).with_key(&s.name))?
            }
        };
        let t = PtTensor::contiguous(storage, s.shape.clone());
        model.push(s.name.as_str(), Value::Tensor(Box::new(t.clone())));
        storages.insert(s.name.as_str(), t);
    }
    Ok(((model, w), averaged, copied))
}
