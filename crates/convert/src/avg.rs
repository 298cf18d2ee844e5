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

use half::{bf16, f16};
use tf_bundle::write::BundleWriter;
use tf_bundle::{Checkpoint, DType};

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

fn element_to_f64(dtype: DType, c: &[u8]) -> f64 {
    match (dtype, c.len()) {
        (DType::Float16, 2) => f16::from_le_bytes([c[0], c[1]]).to_f64(),
        (DType::BFloat16, 2) => bf16::from_le_bytes([c[0], c[1]]).to_f64(),
        (DType::Float32, 4) => f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        (_, 8) => f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]),
        _ => f64::NAN,
    }
}

fn push_element(dtype: DType, v: f64, out: &mut Vec<u8>) {
    match dtype {
        DType::Float16 => out.extend_from_slice(&f16::from_f64(v).to_le_bytes()),
        DType::BFloat16 => out.extend_from_slice(&bf16::from_f64(v).to_le_bytes()),
        DType::Float32 => out.extend_from_slice(&(v as f32).to_le_bytes()),
        _ => out.extend_from_slice(&v.to_le_bytes()),
    }
}

/// A `Write` sink that adds little-endian elements into a float64 accumulator as they stream
/// in (so an input tensor is never held in memory).
struct Accumulate<'a> {
    dtype: DType,
    size: usize,
    acc: &'a mut [f64],
    idx: usize,
    carry: Vec<u8>,
}

impl Accumulate<'_> {
    fn add(&mut self, c: &[u8]) -> std::io::Result<()> {
        let slot = self.acc.get_mut(self.idx).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "more elements than the shape",
            )
        })?;
        *slot += element_to_f64(self.dtype, c);
        self.idx += 1;
        Ok(())
    }
}

impl std::io::Write for Accumulate<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut data = buf;
        if !self.carry.is_empty() {
            let need = (self.size - self.carry.len()).min(data.len());
            self.carry.extend_from_slice(&data[..need]);
            data = &data[need..];
            if self.carry.len() == self.size {
                let c = std::mem::take(&mut self.carry);
                self.add(&c)?;
            }
        }
        let mut chunks = data.chunks_exact(self.size);
        for c in &mut chunks {
            self.add(c)?;
        }
        self.carry.extend_from_slice(chunks.remainder());
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A `Read` source producing `acc[i] / n` rounded to `dtype`, in bounded chunks.
struct Emit<'a> {
    dtype: DType,
    acc: &'a [f64],
    n: f64,
    idx: usize,
    buf: Vec<u8>,
    pos: usize,
}

impl std::io::Read for Emit<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
            let end = (self.idx + 65_536).min(self.acc.len());
            for &v in &self.acc[self.idx..end] {
                push_element(self.dtype, v / self.n, &mut self.buf);
            }
            self.idx = end;
        }
        let k = out.len().min(self.buf.len() - self.pos);
        out[..k].copy_from_slice(&self.buf[self.pos..self.pos + k]);
        self.pos += k;
        Ok(k)
    }
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
            let (Some(count), Some(nbytes), Some(size)) =
                (info.num_elements(), info.nbytes(), dtype.element_size())
            else {
                return Err(Error::new(ErrorKind::Usage("tensor too large".into())).with_key(*name));
            };
            let count = usize::try_from(count).map_err(|_| {
                Error::new(ErrorKind::Usage("tensor too large".into())).with_key(*name)
            })?;
            let mut acc = vec![0f64; count];
            for &i in idx {
                let mut sink = Accumulate {
                    dtype,
                    size,
                    acc: &mut acc,
                    idx: 0,
                    carry: Vec::new(),
                };
                inputs[i].read_raw_to(name, &mut sink)?;
                if sink.idx != count || !sink.carry.is_empty() {
                    return Err(Error::new(ErrorKind::Usage(format!(
                        "read {} of {count} elements",
                        sink.idx
                    )))
                    .with_path(inputs[i].prefix())
                    .with_key(*name));
                }
            }
            let mut src = Emit {
                dtype,
                acc: &acc,
                n: idx.len() as f64,
                idx: 0,
                buf: Vec::new(),
                pos: 0,
            };
            w.add_raw_from(name, dtype, &shape, &mut src, nbytes)?;
            p.bytes_done += nbytes;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn accumulate_handles_elements_split_across_writes_and_emit_rounds_once() {
        let vals = [1.5f32, -2.25, 3.0e-8, f32::MAX];
        let bytes: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut acc = vec![0f64; 4];
        for split in [1usize, 3, 5, 16] {
            let mut s = Accumulate {
                dtype: DType::Float32,
                size: 4,
                acc: &mut acc,
                idx: 0,
                carry: Vec::new(),
            };
            for c in bytes.chunks(split) {
                s.write_all(c).unwrap();
            }
            assert_eq!((s.idx, s.carry.len()), (4, 0));
        }
        let expected: Vec<f64> = vals.iter().map(|&v| 4.0 * f64::from(v)).collect();
        assert_eq!(acc, expected);
        let mut out = Vec::new();
        Emit {
            dtype: DType::Float32,
            acc: &acc,
            n: 4.0,
            idx: 0,
            buf: Vec::new(),
            pos: 0,
        }
        .read_to_end(&mut out)
        .unwrap();
        assert_eq!(out, bytes);
        // bfloat16: rounding from f64 happens once, to nearest even (1 + 2^-8 is a tie -> 1.0)
        let mut b = Vec::new();
        push_element(DType::BFloat16, 1.0 + 2f64.powi(-8), &mut b);
        assert_eq!(b, [0x80, 0x3f]);
        let mut s = Accumulate {
            dtype: DType::Float16,
            size: 2,
            acc: &mut [0f64][..],
            idx: 0,
            carry: Vec::new(),
        };
        assert!(
            s.write_all(&[0, 0x3c, 0, 0x3c]).is_err(),
            "more elements than the shape"
        );
    }
}
