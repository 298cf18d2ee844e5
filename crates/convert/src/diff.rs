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
use tf_bundle::par::{self, Jobs};
use tf_bundle::stream::{CrcCheck, Layout, Piece};
use tf_bundle::{elem, Checkpoint, DType, TensorData};

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
    /// One element pair: the rule as written in the module docs (the reference that
    /// [`float_block`] is tested against).
    #[cfg(test)]
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

impl Stats {
    fn merge(&mut self, o: &Stats) {
        self.count += o.count;
        let max = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(x), Some(y)) => Some(x.max(y)),
            (x, None) => x,
            (None, y) => y,
        };
        self.max_abs = max(self.max_abs, o.max_abs);
        self.max_rel = max(self.max_rel, o.max_rel);
    }

    fn add_int(&mut self, p: i128, q: i128, atol: f64, rtol: f64) {
        if p != q {
            // exact difference, then to float for the tolerance test
            let d = (p - q).unsigned_abs() as f64;
            let bq = q.unsigned_abs() as f64;
            if d > atol + rtol * bq {
                self.count += 1;
            }
            self.max_abs = Some(self.max_abs.map_or(d, |m| m.max(d)));
            if q != 0 {
                let r = d / bq;
                self.max_rel = Some(self.max_rel.map_or(r, |m| m.max(r)));
            }
        }
    }
}

/// [`Stats::add`] over a block, branch-free (the same result as adding element by element:
/// counts are integers and the maxima of the same set of values).
fn float_block(x: &[f64], y: &[f64], atol: f64, rtol: f64) -> Stats {
    let mut count = 0u64;
    let (mut max_abs, mut any_abs) = (0f64, false);
    let (mut max_rel, mut any_rel) = (0f64, false);
    for (&a, &b) in x.iter().zip(y) {
        let same = a == b || (a.is_nan() && b.is_nan());
        let d = (a - b).abs();
        let within = d <= atol + rtol * b.abs(); // false for NaN
        count += u64::from(!same && !within);
        let fin = !same && d.is_finite();
        any_abs |= fin;
        max_abs = if fin && d > max_abs { d } else { max_abs };
        let rel = fin && b != 0.0;
        let r = d / b.abs();
        any_rel |= rel;
        max_rel = if rel && r > max_rel { r } else { max_rel };
    }
    Stats {
        count,
        max_abs: any_abs.then_some(max_abs),
        max_rel: any_rel.then_some(max_rel),
    }
}

/// [`float_block`] of float32 or float64 bytes on AVX2 where the CPU has it (chosen at run
/// time through pulp's safe intrinsic wrappers): 4 pairs per step, the same IEEE operations
/// per element (no fused multiply-add), the counts added and the maxima taken over the same
/// set of values, so the same result in any order (tested against [`float_block`]).
#[cfg(target_arch = "x86_64")]
mod vector {
    use core::arch::x86_64::{
        __m128, __m256d, _CMP_EQ_OQ, _CMP_LE_OQ, _CMP_LT_OQ, _CMP_NEQ_UQ, _CMP_UNORD_Q,
    };

    use pulp::x86::V3;
    use pulp::Simd;
    use tf_bundle::elem::le_slice;
    use tf_bundle::DType;

    use super::{float_block, Stats};

    /// `None` for other dtypes, misaligned or big-endian data, or without AVX2.
    pub(super) fn compare(d: DType, x: &[u8], y: &[u8], atol: f64, rtol: f64) -> Option<Stats> {
        if x.len() != y.len() {
            return None;
        }
        let simd = V3::try_new()?;
        match d {
            DType::Float32 => {
                let (p, q) = (le_slice::<f32>(x)?, le_slice::<f32>(y)?);
                Some(Simd::vectorize(
                    simd,
                    Pairs {
                        simd,
                        x: p,
                        y: q,
                        atol,
                        rtol,
                        load: |s: V3, v: &[f32; 4]| {
                            let m: __m128 = pulp::cast(*v);
                            s.avx._mm256_cvtps_pd(m)
                        },
                        dec: f64::from,
                    },
                ))
            }
            DType::Float64 => {
                let (p, q) = (le_slice::<f64>(x)?, le_slice::<f64>(y)?);
                Some(Simd::vectorize(
                    simd,
                    Pairs {
                        simd,
                        x: p,
                        y: q,
                        atol,
                        rtol,
                        load: |_: V3, v: &[f64; 4]| -> __m256d { pulp::cast(*v) },
                        dec: |v| v,
                    },
                ))
            }
            _ => None,
        }
    }

    struct Pairs<'a, T, L, D> {
        simd: V3,
        x: &'a [T],
        y: &'a [T],
        atol: f64,
        rtol: f64,
        load: L,
        dec: D,
    }

    impl<T, L, D> pulp::WithSimd for Pairs<'_, T, L, D>
    where
        T: bytemuck::Pod,
        L: Fn(V3, &[T; 4]) -> __m256d + Copy,
        D: Fn(T) -> f64 + Copy,
    {
        type Output = Stats;

        #[inline(always)]
        fn with_simd<S: Simd>(self, _: S) -> Stats {
            let Pairs {
                simd,
                x,
                y,
                atol,
                rtol,
                load,
                dec,
            } = self;
            let a = simd.avx;
            let whole = x.len() / 4 * 4;
            let (Ok(xs), Ok(ys)) = (
                bytemuck::try_cast_slice::<T, [T; 4]>(&x[..whole]),
                bytemuck::try_cast_slice::<T, [T; 4]>(&y[..whole]),
            ) else {
                let xs: Vec<f64> = x.iter().map(|&v| dec(v)).collect();
                let ys: Vec<f64> = y.iter().map(|&v| dec(v)).collect();
                return float_block(&xs, &ys, atol, rtol);
            };
            let sign = a._mm256_set1_pd(-0.0);
            let zero = a._mm256_setzero_pd();
            let inf = a._mm256_set1_pd(f64::INFINITY);
            let (atol_v, rtol_v) = (a._mm256_set1_pd(atol), a._mm256_set1_pd(rtol));
            let (mut count, mut max_abs, mut max_rel) = (0u64, zero, zero);
            let (mut any_abs, mut any_rel) = (zero, zero);
            for (p, q) in xs.iter().zip(ys) {
                let (va, vb) = (load(simd, p), load(simd, q));
                let same = a._mm256_or_pd(
                    a._mm256_cmp_pd::<_CMP_EQ_OQ>(va, vb),
                    a._mm256_and_pd(
                        a._mm256_cmp_pd::<_CMP_UNORD_Q>(va, va),
                        a._mm256_cmp_pd::<_CMP_UNORD_Q>(vb, vb),
                    ),
                );
                let d = a._mm256_andnot_pd(sign, a._mm256_sub_pd(va, vb));
                let babs = a._mm256_andnot_pd(sign, vb);
                let within = a._mm256_cmp_pd::<_CMP_LE_OQ>(
                    d,
                    a._mm256_add_pd(atol_v, a._mm256_mul_pd(rtol_v, babs)),
                );
                let bad = a._mm256_movemask_pd(a._mm256_or_pd(same, within)) ^ 0xf;
                count += u64::from(bad.count_ones());
                let fin = a._mm256_andnot_pd(same, a._mm256_cmp_pd::<_CMP_LT_OQ>(d, inf));
                any_abs = a._mm256_or_pd(any_abs, fin);
                max_abs = a._mm256_max_pd(max_abs, a._mm256_and_pd(fin, d));
                let rel = a._mm256_and_pd(fin, a._mm256_cmp_pd::<_CMP_NEQ_UQ>(vb, zero));
                any_rel = a._mm256_or_pd(any_rel, rel);
                let r = a._mm256_div_pd(d, babs);
                max_rel = a._mm256_max_pd(max_rel, a._mm256_and_pd(rel, r));
            }
            let top = |v: __m256d| {
                let l: [f64; 4] = pulp::cast(v);
                l.iter().fold(0f64, |m, &x| if x > m { x } else { m })
            };
            let mut st = Stats {
                count,
                max_abs: (a._mm256_movemask_pd(any_abs) != 0).then(|| top(max_abs)),
                max_rel: (a._mm256_movemask_pd(any_rel) != 0).then(|| top(max_rel)),
            };
            let tail = |v: &[T]| v.iter().map(|&e| dec(e)).collect::<Vec<f64>>();
            st.merge(&float_block(
                &tail(&x[whole..]),
                &tail(&y[whole..]),
                atol,
                rtol,
            ));
            st
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod vector {
    pub(super) fn compare(
        _: tf_bundle::DType,
        _: &[u8],
        _: &[u8],
        _: f64,
        _: f64,
    ) -> Option<super::Stats> {
        None
    }
}

enum Kind {
    Float,
    Int,
    Bytes,
}

fn kind(d: DType) -> Kind {
    match elem::kind(d) {
        // float8 and float4 compare their bytes exactly (see the module docs)
        elem::Kind::Float if d.is_float() => Kind::Float,
        elem::Kind::Complex => Kind::Float,
        elem::Kind::Int | elem::Kind::Bool
            if !matches!(d, DType::Int4 | DType::UInt4 | DType::Int2 | DType::UInt2) =>
        {
            Kind::Int
        }
        _ => Kind::Bytes,
    }
}

/// Elements compared per decoded block (bounds the scratch buffers).
const BLOCK: usize = 1 << 16;

#[derive(Default)]
struct Scratch {
    a: Vec<u8>,
    b: Vec<u8>,
    fa: Vec<f64>,
    fb: Vec<f64>,
    ia: Vec<i128>,
    ib: Vec<i128>,
}

/// Compares the little-endian bytes `x` and `y` (whole elements of `dtype`, same length).
fn compare_bytes(dtype: DType, x: &[u8], y: &[u8], atol: f64, rtol: f64, s: &mut Scratch) -> Stats {
    let mut st = Stats::default();
    let es = dtype.element_size().unwrap_or(1).max(1);
    match kind(dtype) {
        Kind::Float => {
            if let Some(v) = vector::compare(dtype, x, y, atol, rtol) {
                return v;
            }
            for (p, q) in x.chunks(BLOCK * es).zip(y.chunks(BLOCK * es)) {
                s.fa.clear();
                s.fb.clear();
                elem::decode_f64_into(dtype, p, &mut s.fa);
                elem::decode_f64_into(dtype, q, &mut s.fb);
                st.merge(&float_block(&s.fa, &s.fb, atol, rtol));
            }
        }
        Kind::Int => {
            for (p, q) in x.chunks(BLOCK * es).zip(y.chunks(BLOCK * es)) {
                s.ia.clear();
                s.ib.clear();
                elem::decode_int_into(dtype, p, &mut s.ia);
                elem::decode_int_into(dtype, q, &mut s.ib);
                for (&a, &b) in s.ia.iter().zip(&s.ib) {
                    st.add_int(a, b, atol, rtol);
                }
            }
        }
        Kind::Bytes => {
            st.count = x
                .chunks(es)
                .zip(y.chunks(es))
                .filter(|(p, q)| p != q)
                .count() as u64;
        }
    }
    st
}

/// The comparison of some elements of one tensor (see [`compare_elements`]); results of parts
/// of a tensor merge into the tensor's result in any order.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ElementDiff {
    /// Elements that differ beyond the tolerance.
    pub count: u64,
    /// The largest `|a − b|`, if any finite difference was seen.
    pub max_abs: Option<f64>,
    /// The largest `|a − b| / |b|` over `b ≠ 0`, if any.
    pub max_rel: Option<f64>,
}

impl ElementDiff {
    /// Adds the result of other elements of the same tensor.
    pub fn merge(&mut self, o: &ElementDiff) {
        let mut s = Stats {
            count: self.count,
            max_abs: self.max_abs,
            max_rel: self.max_rel,
        };
        s.merge(&Stats {
            count: o.count,
            max_abs: o.max_abs,
            max_rel: o.max_rel,
        });
        *self = ElementDiff {
            count: s.count,
            max_abs: s.max_abs,
            max_rel: s.max_rel,
        };
    }
}

/// Compares the little-endian bytes `x` and `y` of the same elements of a tensor of `dtype`
/// (equal lengths, whole elements) by the rule of the module docs: the comparison [`diff`] makes,
/// for callers that pair tensors of other formats (`.pt`, safetensors) themselves.
pub fn compare_elements(dtype: DType, x: &[u8], y: &[u8], atol: f64, rtol: f64) -> ElementDiff {
    let s = compare_bytes(dtype, x, y, atol, rtol, &mut Scratch::default());
    ElementDiff {
        count: s.count,
        max_abs: s.max_abs,
        max_rel: s.max_rel,
    }
}

/// [`compare_elements`] for whole tensors as tf-bundle reads them (string tensors compare
/// element bytes exactly; a string against a numeric tensor differs in one element).
pub fn compare_data(
    dtype: DType,
    a: &TensorData,
    b: &TensorData,
    atol: f64,
    rtol: f64,
) -> ElementDiff {
    let s = compare(dtype, a, b, atol, rtol);
    ElementDiff {
        count: s.count,
        max_abs: s.max_abs,
        max_rel: s.max_rel,
    }
}

fn compare(dtype: DType, a: &TensorData, b: &TensorData, atol: f64, rtol: f64) -> Stats {
    match (a, b) {
        (TensorData::Bytes(x), TensorData::Bytes(y)) => {
            compare_bytes(dtype, x, y, atol, rtol, &mut Scratch::default())
        }
        (TensorData::Strings(x), TensorData::Strings(y)) => Stats {
            count: x.iter().zip(y).filter(|(p, q)| p != q).count() as u64,
            ..Stats::default()
        },
        _ => Stats {
            count: 1,
            ..Stats::default()
        },
    }
}

/// How one compared tensor is read.
enum Unit {
    /// Bytes `start..start + len` of both streamable tensors.
    Chunk { t: usize, start: u64, len: usize },
    /// Both tensors whole (strings, V1, interleaved slices, or a layout error).
    Whole { t: usize },
}

type ChunkOut = (
    Result<Vec<Piece>, tf_bundle::Error>,
    Result<Vec<Piece>, tf_bundle::Error>,
    Stats,
);

enum Done {
    Chunk(ChunkOut),
    Whole(Result<Stats, Error>),
}

/// Compares `a` with `b` (see the module docs) on all cores, calling `progress` after each
/// compared tensor. Same as [`diff_with`] with [`Jobs::default`].
pub fn diff(
    a: &Checkpoint,
    b: &Checkpoint,
    atol: f64,
    rtol: f64,
    progress: &mut dyn FnMut(&crate::Progress),
) -> Result<Diff, Error> {
    run(a, b, atol, rtol, Jobs::default(), &mut |_| {}, progress)
}

/// Compares `a` with `b` (see the module docs) with `jobs.threads` workers: tensors are read in
/// fixed-size chunks from both checkpoints (reused buffers; partitioned tensors in order where
/// their slices allow), compared chunk by chunk in parallel and merged in order, so the result
/// is the same for any thread count. Every CRC is checked; the first unreadable tensor (in
/// `a`'s order) is the error. `progress` gets the bytes of `a` compared (increments; the total
/// is [`compared_bytes`]).
pub fn diff_with(
    a: &Checkpoint,
    b: &Checkpoint,
    atol: f64,
    rtol: f64,
    jobs: Jobs,
    progress: tf_bundle::par::Progress,
) -> Result<Diff, Error> {
    run(a, b, atol, rtol, jobs, &mut |n| progress(n), &mut |_| {})
}

/// The tensors of `a` that are in `b` with the same dtype and shape (those whose values are
/// compared).
fn comparable<'c>(a: &'c Checkpoint, b: &'c Checkpoint) -> Vec<&'c tf_bundle::TensorInfo> {
    a.tensors()
        .iter()
        .filter(|t| {
            b.get(&t.name)
                .is_some_and(|u| u.dtype == t.dtype && u.shape == t.shape)
        })
        .collect()
}

/// Payload bytes [`diff_with`] compares (its progress total).
pub fn compared_bytes(a: &Checkpoint, b: &Checkpoint) -> u64 {
    comparable(a, b)
        .iter()
        .map(|t| t.nbytes().unwrap_or(0))
        .fold(0, u64::saturating_add)
}

fn layout_of<'c>(
    ck: &'c Checkpoint,
    t: &tf_bundle::TensorInfo,
) -> Option<Result<Layout<'c>, tf_bundle::Error>> {
    if t.dtype == DType::String {
        return None;
    }
    ck.layout(&t.name).transpose()
}

#[allow(clippy::too_many_arguments)]
fn run(
    a: &Checkpoint,
    b: &Checkpoint,
    atol: f64,
    rtol: f64,
    jobs: Jobs,
    bytes: &mut dyn FnMut(u64),
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
    for (ta, tb) in &common {
        if ta.dtype != tb.dtype {
            d.dtype_changed.push(DtypeChange {
                name: ta.name.clone(),
                a: ta.dtype.to_string(),
                b: tb.dtype.to_string(),
            });
        } else if ta.shape != tb.shape {
            d.shape_changed.push(ShapeChange {
                name: ta.name.clone(),
                a: ta.shape.clone(),
                b: tb.shape.clone(),
            });
        }
    }
    let cmp = comparable(a, b);
    let mut layouts = Vec::with_capacity(cmp.len());
    let mut units = Vec::new();
    for (t, info) in cmp.iter().enumerate() {
        let la = layout_of(a, info);
        let lb = b.get(&info.name).and_then(|i| layout_of(b, i));
        match (&la, &lb) {
            (Some(Ok(x)), Some(Ok(y))) if x.len() == y.len() => {
                if x.is_empty() {
                    units.push(Unit::Chunk {
                        t,
                        start: 0,
                        len: 0,
                    });
                }
                units.extend(x.chunks().map(|(start, len)| Unit::Chunk { t, start, len }));
            }
            _ => units.push(Unit::Whole { t }),
        }
        layouts.push((la, lb));
    }
    let work = |s: &mut Scratch, i: usize| -> Done {
        match units[i] {
            Unit::Chunk { t, start, len } => {
                let (Some(Ok(la)), Some(Ok(lb))) = &layouts[t] else {
                    return Done::Whole(Err(Error::new(crate::ErrorKind::Usage(
                        "layout vanished".into(),
                    ))));
                };
                let mut bufs = (std::mem::take(&mut s.a), std::mem::take(&mut s.b));
                bufs.0.resize(len, 0);
                bufs.1.resize(len, 0);
                let pa = la.read_chunk(start, &mut bufs.0);
                let pb = lb.read_chunk(start, &mut bufs.1);
                let st = if pa.is_ok() && pb.is_ok() {
                    compare_bytes(cmp[t].dtype, &bufs.0, &bufs.1, atol, rtol, s)
                } else {
                    Stats::default()
                };
                (s.a, s.b) = bufs;
                Done::Chunk((pa, pb, st))
            }
            Unit::Whole { t } => {
                let name = &cmp[t].name;
                Done::Whole(
                    a.read(name)
                        .and_then(|va| b.read(name).map(|vb| (va, vb)))
                        .map(|(va, vb)| compare(cmp[t].dtype, &va.data, &vb.data, atol, rtol))
                        .map_err(Error::from),
                )
            }
        }
    };
    let mut p = crate::Progress {
        done: 0,
        total: cmp.len() as u64,
        bytes_done: 0,
        bytes_total: compared_bytes(a, b),
    };
    // the tensor being merged: CRC checks of a and b, first errors of a and b, stats
    type Cur = (
        CrcCheck,
        CrcCheck,
        Option<tf_bundle::Error>,
        Option<tf_bundle::Error>,
        Stats,
    );
    let mut cur: Option<Cur> = None;
    let mut finish_tensor =
        |t: usize, r: Result<Stats, Error>, d: &mut Diff| -> Result<(), Error> {
            let s = r?;
            let info = cmp[t];
            d.compared += 1;
            if s.count > 0 {
                d.value_changed.push(ValueChange {
                    name: info.name.clone(),
                    dtype: info.dtype.to_string(),
                    count: s.count,
                    num_elements: info.num_elements().unwrap_or(0),
                    max_abs: s.max_abs,
                    max_rel: s.max_rel,
                });
            }
            p.done += 1;
            p.bytes_done += info.nbytes().unwrap_or(0);
            progress(&p);
            Ok(())
        };
    par::ordered(
        units.len(),
        jobs,
        Scratch::default,
        work,
        |i, done| -> Result<(), Error> {
            match (&units[i], done) {
                (&Unit::Whole { t }, Done::Whole(r)) => {
                    bytes(cmp[t].nbytes().unwrap_or(0));
                    finish_tensor(t, r, &mut d)
                }
                (&Unit::Chunk { t, len, .. }, Done::Chunk((pa, pb, st))) => {
                    let (Some(Ok(la)), Some(Ok(lb))) = &layouts[t] else {
                        return Ok(());
                    };
                    let c = cur.get_or_insert_with(|| {
                        (la.crc_check(), lb.crc_check(), None, None, Stats::default())
                    });
                    match pa {
                        Ok(pieces) if c.2.is_none() => {
                            if let Err(e) = c.0.add(la, &pieces) {
                                c.2 = Some(e);
                            }
                        }
                        Ok(_) => {}
                        Err(e) => {
                            c.2.get_or_insert(e);
                        }
                    }
                    match pb {
                        Ok(pieces) if c.3.is_none() => {
                            if let Err(e) = c.1.add(lb, &pieces) {
                                c.3 = Some(e);
                            }
                        }
                        Ok(_) => {}
                        Err(e) => {
                            c.3.get_or_insert(e);
                        }
                    }
                    c.4.merge(&st);
                    bytes(len as u64);
                    let more =
                        matches!(units.get(i + 1), Some(Unit::Chunk { t: n, .. }) if *n == t);
                    if more {
                        return Ok(());
                    }
                    let Some((ca, cb, ea, eb, st)) = cur.take() else {
                        return Ok(());
                    };
                    let r = match (ea, eb) {
                        (Some(e), _) | (None, Some(e)) => Err(e),
                        (None, None) => ca.finish(la).and_then(|()| cb.finish(lb)),
                    };
                    finish_tensor(t, r.map(|()| st).map_err(Error::from), &mut d)
                }
                _ => Ok(()),
            }
        },
    )?;
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
    fn the_block_comparison_equals_element_by_element() {
        let vals = [
            0.0,
            -0.0,
            1.0,
            1.5,
            -2.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e300,
            -1e-300,
            3.25,
        ];
        let mut x = Vec::new();
        let mut y = Vec::new();
        for &a in &vals {
            for &b in &vals {
                x.push(a);
                y.push(b);
            }
        }
        for (atol, rtol) in [(0.0, 0.0), (0.5, 0.1), (1e9, 0.0)] {
            let mut want = Stats::default();
            for (&a, &b) in x.iter().zip(&y) {
                want.add(a, b, atol, rtol);
            }
            let got = float_block(&x, &y, atol, rtol);
            assert_eq!(
                (got.count, got.max_abs, got.max_rel),
                (want.count, want.max_abs, want.max_rel)
            );
        }
        let same = float_block(&[1.0, f64::NAN], &[1.0, f64::NAN], 0.0, 0.0);
        assert_eq!((same.count, same.max_abs, same.max_rel), (0, None, None));
    }

    /// The vector path (float32 and float64, aligned and not, every remainder length) gives
    /// what element-by-element [`Stats::add`] gives.
    #[test]
    fn the_vector_comparison_equals_element_by_element() {
        let vals = [
            0.0,
            -0.0,
            1.0,
            1.5,
            -2.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e30,
            -1e-40,
            3.25,
            1e-45,
            3.0e38,
        ];
        let mut pairs = Vec::new();
        for &a in &vals {
            for &b in &vals {
                pairs.push((a, b));
            }
        }
        for (d, es) in [(DType::Float32, 4), (DType::Float64, 8)] {
            for n in [0, 1, 3, 4, 5, 7, 8, pairs.len()] {
                for (atol, rtol) in [(0.0, 0.0), (0.5, 0.1), (1e9, 0.0), (1e-8, 1e-5)] {
                    let mut want = Stats::default();
                    // a leading byte: [1..] is misaligned
                    let (mut x, mut y) = (vec![0u8], vec![0u8]);
                    for &(a, b) in pairs.iter().cycle().skip(n / 3).take(n) {
                        let (mut p, mut q) = (Vec::new(), Vec::new());
                        elem::encode_f64(d, a, &mut p);
                        elem::encode_f64(d, b, &mut q);
                        let dec = |v: &[u8]| {
                            let mut o = Vec::new();
                            elem::decode_f64_into(d, v, &mut o);
                            o[0]
                        };
                        want.add(dec(&p), dec(&q), atol, rtol);
                        x.extend(p);
                        y.extend(q);
                    }
                    assert_eq!(x.len(), 1 + n * es);
                    let (xa, ya) = (x[1..].to_vec(), y[1..].to_vec());
                    for (p, q) in [(&xa[..], &ya[..]), (&x[1..], &y[1..])] {
                        let got = compare_bytes(d, p, q, atol, rtol, &mut Scratch::default());
                        assert_eq!(
                            (got.count, got.max_abs, got.max_rel),
                            (want.count, want.max_abs, want.max_rel),
                            "{d} n={n} atol={atol} rtol={rtol}"
                        );
                    }
                }
            }
        }
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
