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
//! float64 accumulator plus one input tensor at a time.

use std::collections::BTreeMap;
use std::path::Path;

use half::{bf16, f16};
use tf_bundle::write::BundleWriter;
use tf_bundle::{Checkpoint, DType, TensorData};

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

fn to_f64(dtype: DType, bytes: &[u8]) -> Vec<f64> {
    match dtype {
        DType::Float16 => bytes
            .chunks_exact(2)
            .map(|c| f16::from_le_bytes([c[0], c[1]]).to_f64())
            .collect(),
        DType::BFloat16 => bytes
            .chunks_exact(2)
            .map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f64())
            .collect(),
        DType::Float32 => bytes
            .chunks_exact(4)
            .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        _ => bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect(),
    }
}

fn from_f64(dtype: DType, values: &[f64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() * dtype.element_size().unwrap_or(8));
    for &v in values {
        match dtype {
            DType::Float16 => out.extend_from_slice(&f16::from_f64(v).to_le_bytes()),
            DType::BFloat16 => out.extend_from_slice(&bf16::from_f64(v).to_le_bytes()),
            DType::Float32 => out.extend_from_slice(&(v as f32).to_le_bytes()),
            _ => out.extend_from_slice(&v.to_le_bytes()),
        }
    }
    out
}

/// Averages `inputs` into a TF bundle at `out_prefix` (see the module docs).
pub fn average(
    inputs: &[Checkpoint],
    out_prefix: &Path,
    ignore_missing: bool,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Report, Error> {
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
    let mut w = BundleWriter::create(out_prefix)?;
    let mut p = Progress {
        done: 0,
        total: holders.len() as u64,
        bytes_done: 0,
        bytes_total: 0,
    };
    for (name, idx) in &holders {
        let info = inputs[idx[0]]
            .get(name)
            .ok_or_else(|| Error::new(ErrorKind::Usage("listed tensor vanished".into())))?;
        let (dtype, shape) = (info.dtype, info.shape.clone());
        if dtype.is_float() {
            let mut acc: Vec<f64> = Vec::new();
            for &i in idx {
                let t = inputs[i].read(name)?;
                let TensorData::Bytes(b) = &t.data else {
                    return Err(
                        Error::new(ErrorKind::Usage("float tensor without bytes".into()))
                            .with_key(*name),
                    );
                };
                let v = to_f64(dtype, b);
                if acc.is_empty() {
                    acc = v;
                } else {
                    for (a, x) in acc.iter_mut().zip(v) {
                        *a += x;
                    }
                }
            }
            let n = idx.len() as f64;
            for a in &mut acc {
                *a /= n;
            }
            let bytes = from_f64(dtype, &acc);
            p.bytes_done += bytes.len() as u64;
            w.add_bytes(name, dtype, &shape, &bytes)?;
            report.averaged.push(name.to_string());
        } else {
            let last = idx[idx.len() - 1];
            let t = inputs[last].read(name)?;
            w.add(name, dtype, &shape, &t.data)?;
            report.copied_from_last.push(name.to_string());
        }
        p.done += 1;
        progress(&p);
    }
    w.finish()?;
    Ok(report)
}
