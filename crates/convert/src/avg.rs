//! Element-wise mean of several checkpoints (`returnn-ckpt avg`), like RETURNN's
//! `tools/tf_avg_checkpoints.py` (Tensor2Tensor's `avg_checkpoints.py`): each floating-point
//! tensor (float16, bfloat16, float32, float64) is summed in float64 in input order, divided
//! by the number of inputs holding it and rounded once to its dtype (round to nearest even).
//! Every other tensor (integers such as `global_step`, bool, strings, complex, quantized,
//! float8) is taken from the last input that holds it.
//!
//! All inputs must list the same names with the same dtypes and shapes; otherwise an
//! [`ErrorKind::Mismatch`] names the tensor and the inputs. With `ignore_missing`, a tensor
//! missing from some inputs is averaged over the inputs that have it (dtype and shape
//! mismatches stay errors). Everything is checked before the output is created. Memory: one
//! float64 accumulator per tensor (8 bytes per element); inputs are streamed into it and the mean
//! is streamed out, so no input tensor is held in memory.

use std::collections::BTreeMap;
use std::path::Path;

use std::sync::Mutex;

use tf_bundle::par::{self, Jobs};
use tf_bundle::stream::{CrcCheck, Layout, Piece};
use tf_bundle::write::{BundleWriter, RawTensor};
use tf_bundle::{elem, Checkpoint, DType};

use crate::{Error, ErrorKind, Progress};

/// What [`average`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Tensors averaged (floating point).
    pub averaged: Vec<String>,
    /// Tensors copied from the last input holding them.
    pub copied_from_last: Vec<String>,
    /// With `ignore_missing`: tensors missing from some inputs, with the number of inputs
    /// that hold them.
    pub partial: Vec<(String, usize)>,
}

/// Elements per decoded block of a chunk (bounds the decode scratch).
const BLOCK: usize = 1 << 16;

/// Adds the elements of `bytes` (float dtype `d`) into `acc` (same element count).
fn accumulate(d: DType, bytes: &[u8], acc: &mut [f64], scratch: &mut Vec<f64>) {
    let es = d.element_size().unwrap_or(1).max(1);
    for (block, slots) in bytes.chunks(BLOCK * es).zip(acc.chunks_mut(BLOCK)) {
        scratch.clear();
        elem::decode_f64_into(d, block, scratch);
        for (slot, &v) in slots.iter_mut().zip(scratch.iter()) {
            *slot += v;
        }
    }
}

/// Appends `acc[i] / n` rounded once to `d` for every element.
fn emit(d: DType, acc: &[f64], n: f64, out: &mut Vec<u8>) {
    for &v in acc {
        elem::encode_f64(d, v / n, out);
    }
}

/// How one output tensor is produced.
enum Unit {
    /// Bytes `start..start + len` of an averaged tensor, every holder streamable.
    Mean { t: usize, start: u64, len: usize },
    /// Bytes `start..start + len` of a tensor copied from its last holder (streamable).
    Copy { t: usize, start: u64, len: usize },
    /// The whole tensor (strings, V1, interleaved slices, layout errors).
    Whole { t: usize },
}

impl Unit {
    fn tensor(&self) -> usize {
        match *self {
            Unit::Mean { t, .. } | Unit::Copy { t, .. } | Unit::Whole { t } => t,
        }
    }
}

/// What a worker produced: per holder read (the CRC pieces, or the error), and the bytes.
enum Done {
    Chunk(Vec<Result<Vec<Piece>, tf_bundle::Error>>, Vec<u8>),
    Whole(Result<Output, Error>),
}

enum Output {
    Bytes(Vec<u8>),
    Tensor(tf_bundle::Tensor),
}

#[derive(Default)]
struct Scratch {
    buf: Vec<u8>,
    acc: Vec<f64>,
    vals: Vec<f64>,
}

/// A bounded pool of output chunk buffers, reused between chunks.
#[derive(Default)]
struct Pool(Mutex<Vec<Vec<u8>>>);

impl Pool {
    fn take(&self) -> Vec<u8> {
        let mut v = self
            .0
            .lock()
            .map(|mut p| p.pop())
            .ok()
            .flatten()
            .unwrap_or_default();
        v.clear();
        v
    }
    fn put(&self, v: Vec<u8>) {
        if let Ok(mut p) = self.0.lock() {
            if p.len() < 64 {
                p.push(v);
            }
        }
    }
}

/// Averages `inputs` into a TF bundle at `out_prefix` (see the module docs), on all cores
/// ([`average_with`] with [`Jobs::default`]); `progress` is called after each tensor.
pub fn average(
    inputs: &[Checkpoint],
    out_prefix: &Path,
    ignore_missing: bool,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Report, Error> {
    let (holders, report) = check(inputs, ignore_missing)?;
    run(
        inputs,
        out_prefix,
        holders,
        report,
        Jobs::default(),
        progress,
    )
}

/// Which inputs hold each tensor (by name), after checking dtypes, shapes and presence.
type Holders<'c> = BTreeMap<&'c str, Vec<usize>>;

fn check(inputs: &[Checkpoint], ignore_missing: bool) -> Result<(Holders<'_>, Report), Error> {
    if inputs.is_empty() {
        return Err(Error::new(ErrorKind::InvalidOption(
            "avg needs at least one input".into(),
        )));
    }
    // name -> indices of inputs holding it
    let mut holders: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, c) in inputs.iter().enumerate() {
        for t in c.tensors() {
            holders.entry(t.name.as_str()).or_default().push(i);
        }
    }
    let mut report = Report::default();
    for (name, idx) in &holders {
        let first = inputs[idx[0]]
            .get(name)
            .ok_or_else(|| Error::new(ErrorKind::Usage("listed tensor vanished".into())))?;
        for &i in &idx[1..] {
            let Some(t) = inputs[i].get(name) else {
                continue;
            };
            if t.dtype != first.dtype || t.shape != first.shape {
                return Err(Error::new(ErrorKind::Mismatch(format!(
                    "{} has {} {:?} but {} has {} {:?}",
                    inputs[idx[0]].prefix().display(),
                    first.dtype,
                    first.shape,
                    inputs[i].prefix().display(),
                    t.dtype,
                    t.shape
                )))
                .with_key(*name));
            }
        }
        if idx.len() != inputs.len() {
            if !ignore_missing {
                let missing: Vec<String> = (0..inputs.len())
                    .filter(|i| !idx.contains(i))
                    .map(|i| inputs[i].prefix().display().to_string())
                    .collect();
                return Err(Error::new(ErrorKind::Mismatch(format!(
                    "missing in {} (present in {} of {} inputs; use --ignore-missing to average over those)",
                    missing.join(", "),
                    idx.len(),
                    inputs.len()
                )))
                .with_key(*name));
            }
            report.partial.push((name.to_string(), idx.len()));
        }
    }
    Ok((holders, report))
}

/// [`average`] with `jobs.threads` workers and a progress callback in bytes (increments of
/// output bytes; the total is the sum of the output tensors' sizes). Each output chunk is
/// computed from the same byte range of every input (read in fixed-size chunks into reused
/// buffers; partitioned inputs in order where their slices allow), in parallel, and written in
/// order; the sums run in input order per element, so the output is byte-identical for any
/// thread count. Every input CRC is checked before the output is committed.
pub fn average_with(
    inputs: &[Checkpoint],
    out_prefix: &Path,
    ignore_missing: bool,
    jobs: Jobs,
    progress: tf_bundle::par::Progress,
) -> Result<Report, Error> {
    let (holders, report) = check(inputs, ignore_missing)?;
    let mut last_bytes = 0u64;
    run(inputs, out_prefix, holders, report, jobs, &mut |p| {
        progress(p.bytes_done - last_bytes);
        last_bytes = p.bytes_done;
    })
}

fn layout_of<'c>(
    ck: &'c Checkpoint,
    name: &str,
    dtype: DType,
) -> Option<Result<Layout<'c>, tf_bundle::Error>> {
    if dtype == DType::String {
        return None;
    }
    ck.layout(name).transpose()
}

fn run(
    inputs: &[Checkpoint],
    out_prefix: &Path,
    holders: BTreeMap<&str, Vec<usize>>,
    mut report: Report,
    jobs: Jobs,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Report, Error> {
    let vanished = || Error::new(ErrorKind::Usage("listed tensor vanished".into()));
    let tensors: Vec<(&str, &Vec<usize>, &tf_bundle::TensorInfo)> = holders
        .iter()
        .map(|(name, idx)| {
            inputs[idx[0]]
                .get(name)
                .map(|info| (*name, idx, info))
                .ok_or_else(vanished)
        })
        .collect::<Result<_, _>>()?;
    // per tensor: the layouts of the inputs read (all holders to average, the last to copy)
    let mut layouts: Vec<Vec<Layout<'_>>> = Vec::with_capacity(tensors.len());
    let mut units = Vec::new();
    for (t, (name, idx, info)) in tensors.iter().enumerate() {
        let dtype = info.dtype;
        let readers: &[usize] = if dtype.is_float() {
            idx
        } else {
            &idx[idx.len() - 1..]
        };
        let ls: Option<Vec<Layout<'_>>> = readers
            .iter()
            .map(|&i| layout_of(&inputs[i], name, dtype).and_then(Result::ok))
            .collect();
        match ls {
            Some(ls) if ls.iter().all(|l| l.len() == ls[0].len()) => {
                let grid: Vec<(u64, usize)> = if ls[0].is_empty() {
                    vec![(0, 0)]
                } else {
                    ls[0].chunks().collect()
                };
                for (start, len) in grid {
                    units.push(if dtype.is_float() {
                        Unit::Mean { t, start, len }
                    } else {
                        Unit::Copy { t, start, len }
                    });
                }
                layouts.push(ls);
            }
            _ => {
                units.push(Unit::Whole { t });
                layouts.push(Vec::new());
            }
        }
    }
    let pool = Pool::default();
    let work = |s: &mut Scratch, u: usize| -> Done {
        match units[u] {
            Unit::Mean { t, start, len } => {
                let dtype = tensors[t].2.dtype;
                let es = dtype.element_size().unwrap_or(1).max(1);
                s.acc.clear();
                s.acc.resize(len / es, 0.0);
                s.buf.resize(len, 0);
                let mut pieces = Vec::with_capacity(layouts[t].len());
                for l in &layouts[t] {
                    let r = l.read_chunk(start, &mut s.buf[..len]);
                    if r.is_ok() {
                        accumulate(dtype, &s.buf[..len], &mut s.acc, &mut s.vals);
                    }
                    pieces.push(r);
                }
                let mut out = pool.take();
                emit(dtype, &s.acc, layouts[t].len() as f64, &mut out);
                Done::Chunk(pieces, out)
            }
            Unit::Copy { t, start, len } => {
                let mut out = pool.take();
                out.resize(len, 0);
                let r = layouts[t][0].read_chunk(start, &mut out);
                Done::Chunk(vec![r], out)
            }
            Unit::Whole { t } => Done::Whole(whole(inputs, tensors[t], s)),
        }
    };
    let mut w = BundleWriter::create(out_prefix)?;
    let mut p = Progress {
        done: 0,
        total: tensors.len() as u64,
        bytes_done: 0,
        bytes_total: tensors
            .iter()
            .map(|t| t.2.nbytes().unwrap_or(0))
            .fold(0, u64::saturating_add),
    };
    // the tensor being written: its open output and the inputs' CRC checks and first errors
    let mut cur: Option<(RawTensor, Vec<CrcCheck>, Option<tf_bundle::Error>)> = None;
    par::ordered(
        units.len(),
        jobs,
        Scratch::default,
        work,
        |u, done| -> Result<(), Error> {
            let t = units[u].tensor();
            let (name, idx, info) = tensors[t];
            let finished = match done {
                Done::Whole(r) => {
                    match r? {
                        Output::Bytes(b) => w.add_bytes(name, info.dtype, &info.shape, &b)?,
                        Output::Tensor(x) => w.add(name, info.dtype, &info.shape, &x.data)?,
                    }
                    true
                }
                Done::Chunk(pieces, out) => {
                    if cur.is_none() {
                        let h = w.open_raw(name, info.dtype, &info.shape)?;
                        let checks = layouts[t].iter().map(Layout::crc_check).collect();
                        cur = Some((h, checks, None));
                    }
                    let Some((h, checks, err)) = cur.as_mut() else {
                        return Err(vanished());
                    };
                    for ((r, check), l) in
                        pieces.into_iter().zip(checks.iter_mut()).zip(&layouts[t])
                    {
                        match r.and_then(|p| check.add(l, &p)) {
                            Ok(()) => {}
                            Err(e) => {
                                err.get_or_insert(e);
                            }
                        }
                    }
                    if let Some(e) = err.take() {
                        return Err(e.into());
                    }
                    w.write_raw(h, &out)?;
                    pool.put(out);
                    let more = units.get(u + 1).is_some_and(|n| n.tensor() == t);
                    if !more {
                        if let Some((h, checks, _)) = cur.take() {
                            for (c, l) in checks.iter().zip(&layouts[t]) {
                                c.finish(l)?;
                            }
                            w.close_raw(h)?;
                        }
                    }
                    !more
                }
            };
            if finished {
                if info.dtype.is_float() {
                    report.averaged.push(name.to_string());
                    p.bytes_done += info.nbytes().unwrap_or(0);
                } else {
                    report.copied_from_last.push(name.to_string());
                }
                let _ = idx;
                p.done += 1;
                progress(&p);
            }
            Ok(())
        },
    )?;
    w.finish()?;
    Ok(report)
}

/// One whole output tensor, the way [`average`] always did it: floats summed from every holder
/// read whole into a float64 accumulator, others read from the last holder.
fn whole(
    inputs: &[Checkpoint],
    (name, idx, info): (&str, &Vec<usize>, &tf_bundle::TensorInfo),
    s: &mut Scratch,
) -> Result<Output, Error> {
    let dtype = info.dtype;
    if !dtype.is_float() {
        let last = idx[idx.len() - 1];
        return Ok(Output::Tensor(inputs[last].read(name)?));
    }
    let count = info
        .num_elements()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| Error::new(ErrorKind::Usage("tensor too large".into())).with_key(name))?;
    let mut acc = vec![0f64; count];
    for &i in idx.iter() {
        let bytes = inputs[i].read_bytes(name)?;
        accumulate(dtype, &bytes, &mut acc, &mut s.vals);
    }
    let mut out = Vec::with_capacity(info.nbytes().unwrap_or(0) as usize);
    emit(dtype, &acc, idx.len() as f64, &mut out);
    Ok(Output::Bytes(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accumulate_and_emit_round_once() {
        let vals = [1.5f32, -2.25, 3.0e-8, f32::MAX];
        let bytes: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut acc = vec![0f64; 4];
        let mut scratch = Vec::new();
        for _ in 0..4 {
            accumulate(DType::Float32, &bytes, &mut acc, &mut scratch);
        }
        let expected: Vec<f64> = vals.iter().map(|&v| 4.0 * f64::from(v)).collect();
        assert_eq!(acc, expected);
        let mut out = Vec::new();
        emit(DType::Float32, &acc, 4.0, &mut out);
        assert_eq!(out, bytes);
        // bfloat16: rounding from f64 happens once, to nearest even (1 + 2^-8 is a tie -> 1.0)
        let mut b = Vec::new();
        emit(DType::BFloat16, &[1.0 + 2f64.powi(-8)], 1.0, &mut b);
        assert_eq!(b, [0x80, 0x3f]);
    }
}
