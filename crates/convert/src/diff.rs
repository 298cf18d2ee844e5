//! Tensor-by-tensor comparison of two checkpoints (`returnn-ckpt diff A B`).
//!
//! For tensors present in both with equal dtype and shape, elements are compared as numbers:
//! floating-point dtypes (float16, bfloat16, float32, float64, and both parts of complex) and
//! integer dtypes (all ints, quantized, bool) through float64 — integers exactly through i128
//! first, so large int64/uint64 never compare equal by rounding. An element differs when
//! `|a − b| > atol + rtol·|b|` (numpy's `isclose`); NaN equals NaN, NaN against a number
//! differs, equal infinities are equal. Strings and the remaining 1-byte formats (float8,
//! int4, …) compare element bytes exactly. `max_abs` is the largest `|a − b|` over all
//! elements and `max_rel` the largest `|a − b| / |b|` over elements with `b ≠ 0`; both are
//! `None` when there is no finite value to report.

use serde::Serialize;
use tf_bundle::{Checkpoint, DType, TensorData};

use crate::Error;

/// A tensor whose dtype differs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DtypeChange {
    pub name: String,
    pub a: String,
    pub b: String,
}

/// A tensor whose shape differs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ShapeChange {
    pub name: String,
    pub a: Vec<u64>,
    pub b: Vec<u64>,
}

/// A tensor whose values differ beyond the tolerance.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ValueChange {
    pub name: String,
    pub dtype: String,
    /// Elements that differ beyond the tolerance.
    pub count: u64,
    /// Elements compared.
    pub num_elements: u64,
    pub max_abs: Option<f64>,
    pub max_rel: Option<f64>,
}

/// The result of [`diff`] (also its `--json` form).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Diff {
    pub a: String,
    pub b: String,
    pub atol: f64,
    pub rtol: f64,
    /// True when nothing differs beyond the tolerance.
    pub equal: bool,
    pub only_in_a: Vec<String>,
    pub only_in_b: Vec<String>,
    pub dtype_changed: Vec<DtypeChange>,
    pub shape_changed: Vec<ShapeChange>,
    pub value_changed: Vec<ValueChange>,
    /// Tensors present in both with equal dtype and shape whose values were compared.
    pub compared: u64,
}

#[derive(Default)]
struct Stats {
    count: u64,
    max_abs: Option<f64>,
    max_rel: Option<f64>,
}

impl Stats {
    fn add(&mut self, a: f64, b: f64, atol: f64, rtol: f64) {
        if a.is_nan() && b.is_nan() || a == b {
            return;
        }
        let d = (a - b).abs();
        let within = d <= atol + rtol * b.abs(); // false for NaN
        if !within {
            self.count += 1;
        }
        if d.is_finite() {
            self.max_abs = Some(self.max_abs.map_or(d, |m| m.max(d)));
            if b != 0.0 {
                let r = d / b.abs();
                self.max_rel = Some(self.max_rel.map_or(r, |m| m.max(r)));
            }
        }
    }
}

enum Kind {
    Float,
    Int,
    Bytes,
}

fn kind(d: DType) -> Kind {
    match d {
        DType::Float16
        | DType::BFloat16
        | DType::Float32
        | DType::Float64
        | DType::Complex64
        | DType::Complex128 => Kind::Float,
        DType::Int8
        | DType::Int16
        | DType::Int32
        | DType::Int64
        | DType::UInt8
        | DType::UInt16
        | DType::UInt32
        | DType::UInt64
        | DType::QInt8
        | DType::QUInt8
        | DType::QInt16
        | DType::QUInt16
        | DType::QInt32
        | DType::Bool => Kind::Int,
        _ => Kind::Bytes,
    }
}

fn floats(d: DType, b: &[u8]) -> Box<dyn Iterator<Item = f64> + '_> {
    use half::{bf16, f16};
    match d {
        DType::Float16 => Box::new(
            b.chunks_exact(2)
                .map(|c| f16::from_le_bytes([c[0], c[1]]).to_f64()),
        ),
        DType::BFloat16 => Box::new(
            b.chunks_exact(2)
                .map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f64()),
        ),
        DType::Float32 | DType::Complex64 => Box::new(
            b.chunks_exact(4)
                .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]]))),
        ),
        _ => Box::new(
            b.chunks_exact(8)
                .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])),
        ),
    }
}

fn ints(d: DType, b: &[u8]) -> Box<dyn Iterator<Item = i128> + '_> {
    match d {
        DType::Int8 | DType::QInt8 => Box::new(b.iter().map(|&x| i128::from(x as i8))),
        DType::UInt8 | DType::QUInt8 | DType::Bool => Box::new(b.iter().map(|&x| i128::from(x))),
        DType::Int16 | DType::QInt16 => Box::new(
            b.chunks_exact(2)
                .map(|c| i128::from(i16::from_le_bytes([c[0], c[1]]))),
        ),
        DType::UInt16 | DType::QUInt16 => Box::new(
            b.chunks_exact(2)
                .map(|c| i128::from(u16::from_le_bytes([c[0], c[1]]))),
        ),
        DType::Int32 | DType::QInt32 => Box::new(
            b.chunks_exact(4)
                .map(|c| i128::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]]))),
        ),
        DType::UInt32 => Box::new(
            b.chunks_exact(4)
                .map(|c| i128::from(u32::from_le_bytes([c[0], c[1], c[2], c[3]]))),
        ),
        DType::Int64 => Box::new(b.chunks_exact(8).map(|c| {
            i128::from(i64::from_le_bytes([
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
            ]))
        })),
        _ => Box::new(b.chunks_exact(8).map(|c| {
            i128::from(u64::from_le_bytes([
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
            ]))
        })),
    }
}

fn compare(dtype: DType, a: &TensorData, b: &TensorData, atol: f64, rtol: f64) -> Stats {
    let mut s = Stats::default();
    match (a, b) {
        (TensorData::Bytes(x), TensorData::Bytes(y)) => match kind(dtype) {
            Kind::Float => {
                for (p, q) in floats(dtype, x).zip(floats(dtype, y)) {
                    s.add(p, q, atol, rtol);
                }
            }
            Kind::Int => {
                for (p, q) in ints(dtype, x).zip(ints(dtype, y)) {
                    if p != q {
                        // exact difference, then to float for the tolerance test
                        let d = (p - q).unsigned_abs() as f64;
                        let bq = q.unsigned_abs() as f64;
                        if d > atol + rtol * bq {
                            s.count += 1;
                        }
                        s.max_abs = Some(s.max_abs.map_or(d, |m| m.max(d)));
                        if q != 0 {
                            let r = d / bq;
                            s.max_rel = Some(s.max_rel.map_or(r, |m| m.max(r)));
                        }
                    }
                }
            }
            Kind::Bytes => {
                let w = dtype.element_size().unwrap_or(1).max(1);
                s.count = x.chunks(w).zip(y.chunks(w)).filter(|(p, q)| p != q).count() as u64;
            }
        },
        (TensorData::Strings(x), TensorData::Strings(y)) => {
            s.count = x.iter().zip(y).filter(|(p, q)| p != q).count() as u64;
        }
        _ => s.count = 1,
    }
    s
}

/// Compares `a` with `b` (see the module docs).
pub fn diff(
    a: &Checkpoint,
    b: &Checkpoint,
    atol: f64,
    rtol: f64,
    progress: &mut dyn FnMut(&crate::Progress),
) -> Result<Diff, Error> {
    let mut d = Diff {
        a: a.prefix().display().to_string(),
        b: b.prefix().display().to_string(),
        atol,
        rtol,
        equal: true,
        only_in_a: Vec::new(),
        only_in_b: Vec::new(),
        dtype_changed: Vec::new(),
        shape_changed: Vec::new(),
        value_changed: Vec::new(),
        compared: 0,
    };
    d.only_in_a = a
        .tensors()
        .iter()
        .filter(|t| b.get(&t.name).is_none())
        .map(|t| t.name.clone())
        .collect();
    d.only_in_b = b
        .tensors()
        .iter()
        .filter(|t| a.get(&t.name).is_none())
        .map(|t| t.name.clone())
        .collect();
    let common: Vec<_> = a
        .tensors()
        .iter()
        .filter_map(|t| b.get(&t.name).map(|u| (t, u)))
        .collect();
    let mut p = crate::Progress {
        done: 0,
        total: common.len() as u64,
        bytes_done: 0,
        bytes_total: 0,
    };
    for (ta, tb) in common {
        p.done += 1;
        if ta.dtype != tb.dtype {
            d.dtype_changed.push(DtypeChange {
                name: ta.name.clone(),
                a: ta.dtype.to_string(),
                b: tb.dtype.to_string(),
            });
            continue;
        }
        if ta.shape != tb.shape {
            d.shape_changed.push(ShapeChange {
                name: ta.name.clone(),
                a: ta.shape.clone(),
                b: tb.shape.clone(),
            });
            continue;
        }
        let va = a.read(&ta.name)?;
        let vb = b.read(&tb.name)?;
        let s = compare(ta.dtype, &va.data, &vb.data, atol, rtol);
        d.compared += 1;
        if s.count > 0 {
            d.value_changed.push(ValueChange {
                name: ta.name.clone(),
                dtype: ta.dtype.to_string(),
                count: s.count,
                num_elements: ta.num_elements().unwrap_or(0),
                max_abs: s.max_abs,
                max_rel: s.max_rel,
            });
        }
        progress(&p);
    }
    d.equal = d.only_in_a.is_empty()
        && d.only_in_b.is_empty()
        && d.dtype_changed.is_empty()
        && d.shape_changed.is_empty()
        && d.value_changed.is_empty();
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerance_rule_like_numpy_isclose() {
        let cases: [(f64, f64, f64, f64, u64); 8] = [
            (1.0, 1.0, 0.0, 0.0, 0),
            (1.0, 1.5, 0.0, 0.0, 1),
            (1.0, 1.5, 0.5, 0.0, 0),
            (1.0, 1.5, 0.4, 0.1, 0), // 0.5 <= 0.4 + 0.15
            (1.0, 1.5, 0.3, 0.1, 1),
            (f64::NAN, f64::NAN, 0.0, 0.0, 0),
            (f64::NAN, 1.0, 1e9, 1e9, 1),
            (f64::INFINITY, f64::INFINITY, 0.0, 0.0, 0),
        ];
        for (a, b, atol, rtol, count) in cases {
            let mut s = Stats::default();
            s.add(a, b, atol, rtol);
            assert_eq!(s.count, count, "{a} {b} {atol} {rtol}");
        }
        let mut s = Stats::default();
        s.add(3.0, 2.0, 0.0, 0.0);
        s.add(0.0, -1.5, 0.0, 0.0);
        assert_eq!((s.max_abs, s.max_rel), (Some(1.5), Some(1.0)));
    }

    #[test]
    fn large_integers_are_compared_exactly() {
        let a = TensorData::Bytes(u64::MAX.to_le_bytes().to_vec());
        let b = TensorData::Bytes((u64::MAX - 1).to_le_bytes().to_vec());
        let s = compare(DType::UInt64, &a, &b, 0.0, 0.0);
        assert_eq!((s.count, s.max_abs), (1, Some(1.0)));
        let s = compare(DType::UInt64, &a, &a, 0.0, 0.0);
        assert_eq!(s.count, 0);
        let s = compare(
            DType::Int8,
            &TensorData::Bytes(vec![0x80]),
            &TensorData::Bytes(vec![0x7f]),
            0.0,
            0.0,
        );
        assert_eq!(s.max_abs, Some(255.0));
        let s = compare(
            DType::String,
            &TensorData::Strings(vec![b"a".to_vec(), b"b".to_vec()]),
            &TensorData::Strings(vec![b"a".to_vec(), b"c".to_vec()]),
            0.0,
            0.0,
        );
        assert_eq!(s.count, 1);
    }
}
