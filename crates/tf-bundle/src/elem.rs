//! The one place where tensor elements are decoded: raw little-endian element bytes (as every
//! reader of this crate returns them) to typed values ([`Value`]) or to `f64`, chunk by chunk,
//! and the streaming statistics of `inspect --stats` as a mergeable accumulator ([`Stats`]).
//!
//! # What every dtype means
//!
//! | dtype | [`Value`] | as `f64` |
//! |---|---|---|
//! | float16, bfloat16, float32, float64 | `Float` | exact |
//! | float8 (e5m2, e4m3fn, e4m3fnuz, e4m3b11fnuz, e5m2fnuz), float4_e2m1fn | `Float` (ml_dtypes' encodings) | exact |
//! | int8/16/32/64, uint8/16/32/64 | `Int` (exact, `i128`) | nearest `f64` |
//! | int4, int2 (stored unpacked, one byte) | `Int`, low 4 / 2 bits sign-extended | exact |
//! | uint4, uint2 (stored unpacked, one byte) | `Int`, low 4 / 2 bits | exact |
//! | qint8, quint8, qint16, quint16, qint32 | `Int` of the raw storage (no scale is stored) | exact |
//! | bool | `Bool` (any non-zero byte is true) | 0 or 1 |
//! | complex64, complex128 | `Complex(re, im)` | none (not real) |
//! | string | none (see [`crate::TensorData::Strings`]) | none |
//!
//! # Statistics
//!
//! [`Stats`] holds min, max, mean, population standard deviation and root mean square with
//! numpy's semantics (`np.min`, `np.max`, `np.mean`, `np.std`, `sqrt(mean(x*x))`): a NaN anywhere
//! makes every statistic NaN; infinities propagate as in numpy (`mean` of `[inf, 1]` is `inf`, its
//! `std` NaN). It is computed in a fixed tree so that any split into chunks and threads gives
//! bit-identical results:
//!
//! * a tensor's little-endian bytes are cut into *chunks* of [`STATS_CHUNK`] bytes at fixed
//!   offsets (`0, STATS_CHUNK, 2·STATS_CHUNK, …`; the last one shorter), and each chunk into
//!   *blocks* of [`STATS_BLOCK`] elements;
//! * a block is summarised in two passes over its decoded values: count, min, max, NaN flag,
//!   sum and sum of squares, then `m2 = Σ (x − block mean)²`; the sums run in 8 interleaved
//!   lanes (element `i` in lane `i mod 8`) added as a fixed pairwise tree (like numpy's
//!   unrolled pairwise summation, and vectorisable);
//! * blocks are merged left to right into their chunk's accumulator, and chunk accumulators left
//!   to right into the tensor's, with Chan et al.'s pairwise update for `m2`;
//! * finally `mean = sum / n`, `std = sqrt(m2 / n)`, `rms = sqrt(sumsq / n)`.
//!
//! float32, float64 and bfloat16 blocks are summarised straight from their bytes (no decoded
//! copy), float32 and float64 on AVX2 where the CPU has it (chosen at run time, through pulp's
//! safe intrinsics): the same IEEE operations on the same lanes in the same order, so the same
//! bits as decoding first (a test compares every path).
//!
//! [`Stats::of_bytes`] does exactly this serially; [`Stats::of_chunk`] summarises one chunk
//! (anywhere, any thread) and [`Stats::merge`] combines, so a caller that merges the chunks in
//! offset order gets the same bits as the serial path.

use half::{bf16, f16};

use crate::DType;

/// Bytes per statistics chunk (a multiple of every element size).
pub const STATS_CHUNK: usize = 1 << 20;
/// Elements per statistics block.
pub const STATS_BLOCK: usize = 1 << 16;

/// One decoded element.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    /// A floating-point value (every float dtype, converted exactly to `f64`).
    Float(f64),
    /// An integer (every integer dtype, quantized dtypes over their raw storage), exact.
    Int(i128),
    /// A bool.
    Bool(bool),
    /// A complex number `(re, im)`.
    Complex(f64, f64),
}

impl Value {
    /// The value as a real number: integers and bool converted (nearest `f64`), `None` for
    /// complex.
    pub fn as_f64(self) -> Option<f64> {
        match self {
            Value::Float(v) => Some(v),
            Value::Int(i) => Some(i as f64),
            Value::Bool(b) => Some(f64::from(u8::from(b))),
            Value::Complex(..) => None,
        }
    }
}

/// What kind of numbers a dtype holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Floating point (16/32/64-bit, float8, float4).
    Float,
    /// Integers (all widths, sub-byte, quantized storage).
    Int,
    /// Bool.
    Bool,
    /// Complex (two floats per element).
    Complex,
    /// Byte strings.
    String,
}

/// The [`Kind`] of a dtype.
pub fn kind(d: DType) -> Kind {
    use DType::*;
    match d {
        Float16 | BFloat16 | Float32 | Float64 | Float8E5M2 | Float8E4M3FN | Float8E4M3FNUZ
        | Float8E4M3B11FNUZ | Float8E5M2FNUZ | Float4E2M1FN => Kind::Float,
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 | Int4 | UInt4 | Int2
        | UInt2 | QInt8 | QUInt8 | QInt16 | QUInt16 | QInt32 => Kind::Int,
        Bool => Kind::Bool,
        Complex64 | Complex128 => Kind::Complex,
        String => Kind::String,
    }
}

/// True for dtypes whose elements are real numbers (float, int, bool): those with [`Stats`]
/// and an `f64` decoding.
pub fn is_real(d: DType) -> bool {
    matches!(kind(d), Kind::Float | Kind::Int | Kind::Bool)
}

/// A small float format: `exp` exponent bits, `man` mantissa bits, `bias`; `ieee`: all-ones
/// exponent is inf/NaN (e5m2); `fn_nan`: only all-ones exponent and mantissa is NaN (e4m3fn);
/// `uz`: `0x80` (negative zero) is the only NaN, no infinities (the *fnuz formats).
struct MiniFloat {
    exp: u32,
    man: u32,
    bias: i32,
    ieee: bool,
    fn_nan: bool,
    uz: bool,
}

impl MiniFloat {
    fn decode(&self, b: u8) -> f64 {
        let bits = self.exp + self.man + 1;
        let b = b & ((1u16 << bits) - 1) as u8;
        if self.uz && b == 1 << (bits - 1) {
            return f64::NAN;
        }
        let neg = b >> (bits - 1) & 1 == 1;
        let e = i32::from((b >> self.man) & ((1 << self.exp) - 1) as u8);
        let m = f64::from(b & ((1 << self.man) - 1) as u8);
        let e_max = (1 << self.exp) - 1;
        let scale = f64::from(1u32 << self.man);
        let mag = if self.ieee && e == e_max {
            if m == 0.0 {
                f64::INFINITY
            } else {
                return f64::NAN;
            }
        } else if self.fn_nan && e == e_max && m == scale - 1.0 {
            return f64::NAN;
        } else if e == 0 {
            m / scale * 2f64.powi(1 - self.bias)
        } else {
            (1.0 + m / scale) * 2f64.powi(e - self.bias)
        };
        if neg {
            -mag
        } else {
            mag
        }
    }
}

const E5M2: MiniFloat = MiniFloat {
    exp: 5,
    man: 2,
    bias: 15,
    ieee: true,
    fn_nan: false,
    uz: false,
};
const E4M3FN: MiniFloat = MiniFloat {
    exp: 4,
    man: 3,
    bias: 7,
    ieee: false,
    fn_nan: true,
    uz: false,
};
const E4M3FNUZ: MiniFloat = MiniFloat {
    exp: 4,
    man: 3,
    bias: 8,
    ieee: false,
    fn_nan: false,
    uz: true,
};
const E4M3B11FNUZ: MiniFloat = MiniFloat {
    exp: 4,
    man: 3,
    bias: 11,
    ieee: false,
    fn_nan: false,
    uz: true,
};
const E5M2FNUZ: MiniFloat = MiniFloat {
    exp: 5,
    man: 2,
    bias: 16,
    ieee: false,
    fn_nan: false,
    uz: true,
};
const E2M1FN: MiniFloat = MiniFloat {
    exp: 2,
    man: 1,
    bias: 1,
    ieee: false,
    fn_nan: false,
    uz: false,
};

/// A 256-entry table of a one-byte float format.
fn table(f: &MiniFloat) -> [f64; 256] {
    let mut t = [0f64; 256];
    for (i, v) in t.iter_mut().enumerate() {
        *v = f.decode(i as u8);
    }
    t
}

fn le<const N: usize>(c: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&c[..N]);
    a
}

/// Decodes one element from its `element_size` little-endian bytes; `None` for strings or a
/// wrong byte count.
pub fn value(d: DType, c: &[u8]) -> Option<Value> {
    use DType::*;
    if Some(c.len()) != d.element_size() {
        return None;
    }
    Some(match d {
        Float32 => Value::Float(f64::from(f32::from_le_bytes(le(c)))),
        Float64 => Value::Float(f64::from_le_bytes(le(c))),
        Float16 => Value::Float(f16::from_le_bytes(le(c)).to_f64()),
        BFloat16 => Value::Float(bf16::from_le_bytes(le(c)).to_f64()),
        Float8E5M2 => Value::Float(E5M2.decode(c[0])),
        Float8E4M3FN => Value::Float(E4M3FN.decode(c[0])),
        Float8E4M3FNUZ => Value::Float(E4M3FNUZ.decode(c[0])),
        Float8E4M3B11FNUZ => Value::Float(E4M3B11FNUZ.decode(c[0])),
        Float8E5M2FNUZ => Value::Float(E5M2FNUZ.decode(c[0])),
        Float4E2M1FN => Value::Float(E2M1FN.decode(c[0])),
        Bool => Value::Bool(c[0] != 0),
        Complex64 => Value::Complex(
            f64::from(f32::from_le_bytes(le(c))),
            f64::from(f32::from_le_bytes(le(&c[4..]))),
        ),
        Complex128 => Value::Complex(f64::from_le_bytes(le(c)), f64::from_le_bytes(le(&c[8..]))),
        String => return None,
        _ => Value::Int(int(d, c)?),
    })
}

/// One integer element (integer, sub-byte, quantized and bool dtypes); `None` otherwise.
fn int(d: DType, c: &[u8]) -> Option<i128> {
    use DType::*;
    Some(match d {
        Int8 | QInt8 => i128::from(c[0] as i8),
        UInt8 | QUInt8 | Bool => i128::from(c[0]),
        Int16 | QInt16 => i128::from(i16::from_le_bytes(le(c))),
        UInt16 | QUInt16 => i128::from(u16::from_le_bytes(le(c))),
        Int32 | QInt32 => i128::from(i32::from_le_bytes(le(c))),
        UInt32 => i128::from(u32::from_le_bytes(le(c))),
        Int64 => i128::from(i64::from_le_bytes(le(c))),
        UInt64 => i128::from(u64::from_le_bytes(le(c))),
        // stored unpacked in the low bits of one byte
        Int4 => i128::from(((c[0] << 4) as i8) >> 4),
        Int2 => i128::from(((c[0] << 6) as i8) >> 6),
        UInt4 => i128::from(c[0] & 0x0f),
        UInt2 => i128::from(c[0] & 0x03),
        _ => return None,
    })
}

/// Appends the elements of `bytes` (whole elements of `d`) to `out` as exact integers.
/// Returns false (appending nothing) for dtypes that are not integers or bool.
pub fn decode_int_into(d: DType, bytes: &[u8], out: &mut Vec<i128>) -> bool {
    if !matches!(kind(d), Kind::Int | Kind::Bool) {
        return false;
    }
    let es = d.element_size().unwrap_or(1);
    out.extend(bytes.chunks_exact(es).filter_map(|c| int(d, c)));
    true
}

/// Appends the elements of `bytes` (whole elements of `d`) to `out` as `f64` (see the module
/// table; complex dtypes give their real and imaginary parts as two values each). Returns false
/// (appending nothing) for strings.
pub fn decode_f64_into(d: DType, bytes: &[u8], out: &mut Vec<f64>) -> bool {
    use DType::*;
    match d {
        Float32 | Complex64 => out.extend(
            bytes
                .chunks_exact(4)
                .map(|c| f64::from(f32::from_le_bytes(le(c)))),
        ),
        Float64 | Complex128 => {
            out.extend(bytes.chunks_exact(8).map(|c| f64::from_le_bytes(le(c))))
        }
        Float16 => out.extend(
            bytes
                .chunks_exact(2)
                .map(|c| f16::from_le_bytes(le(c)).to_f64()),
        ),
        BFloat16 => out.extend(
            bytes
                .chunks_exact(2)
                .map(|c| f64::from(f32::from_bits(u32::from(u16::from_le_bytes(le(c))) << 16))),
        ),
        Float8E5M2 | Float8E4M3FN | Float8E4M3FNUZ | Float8E4M3B11FNUZ | Float8E5M2FNUZ
        | Float4E2M1FN => {
            let t = table(match d {
                Float8E5M2 => &E5M2,
                Float8E4M3FN => &E4M3FN,
                Float8E4M3FNUZ => &E4M3FNUZ,
                Float8E4M3B11FNUZ => &E4M3B11FNUZ,
                Float8E5M2FNUZ => &E5M2FNUZ,
                _ => &E2M1FN,
            });
            out.extend(bytes.iter().map(|&b| t[usize::from(b)]));
        }
        Bool => out.extend(bytes.iter().map(|&b| f64::from(u8::from(b != 0)))),
        String => return false,
        _ => {
            let es = d.element_size().unwrap_or(1);
            out.extend(
                bytes
                    .chunks_exact(es)
                    .filter_map(|c| int(d, c))
                    .map(|i| i as f64),
            );
        }
    }
    true
}

/// Encodes `v` as one element of the float dtype `d` (float16, bfloat16, float32, float64),
/// rounded once to nearest even as the `half` crate and Rust's `as f32` do; `false` (appending
/// nothing) for other dtypes.
pub fn encode_f64(d: DType, v: f64, out: &mut Vec<u8>) -> bool {
    match d {
        DType::Float16 => out.extend_from_slice(&f16::from_f64(v).to_le_bytes()),
        DType::BFloat16 => out.extend_from_slice(&bf16::from_f64(v).to_le_bytes()),
        DType::Float32 => out.extend_from_slice(&(v as f32).to_le_bytes()),
        DType::Float64 => out.extend_from_slice(&v.to_le_bytes()),
        _ => return false,
    }
    true
}

/// `bytes` as a slice of `T` where that is the same as decoding them little-endian (a
/// little-endian host, and `bytes` aligned for `T`); `None` otherwise (the caller decodes).
#[inline(always)]
pub fn le_slice<T: bytemuck::Pod>(bytes: &[u8]) -> Option<&[T]> {
    if cfg!(target_endian = "little") {
        bytemuck::try_cast_slice(bytes).ok()
    } else {
        None
    }
}

/// Independent accumulators per block pass (see [`Stats`]).
const LANES: usize = 8;

/// Per lane, over the whole groups of a block: min, max, sum, sum of squares.
type Pass1 = [[f64; LANES]; 4];

/// The first pass over whole groups, one element at a time (the reference; see [`vector`]).
#[inline(always)]
fn pass1_scalar<T: Copy>(groups: &[[T; LANES]], dec: impl Fn(T) -> f64) -> Pass1 {
    let mut mn = [f64::INFINITY; LANES];
    let mut mx = [f64::NEG_INFINITY; LANES];
    let mut sum = [0f64; LANES];
    let mut sq = [0f64; LANES];
    for g in groups {
        for j in 0..LANES {
            let x = dec(g[j]);
            mn[j] = if x < mn[j] { x } else { mn[j] };
            mx[j] = if x > mx[j] { x } else { mx[j] };
            sum[j] += x;
            sq[j] += x * x;
        }
    }
    [mn, mx, sum, sq]
}

/// The second pass over whole groups: `Σ (x − mean)²` per lane.
#[inline(always)]
fn pass2_scalar<T: Copy>(groups: &[[T; LANES]], mean: f64, dec: impl Fn(T) -> f64) -> [f64; LANES] {
    let mut m2 = [0f64; LANES];
    for g in groups {
        for j in 0..LANES {
            let d = dec(g[j]) - mean;
            m2[j] += d * d;
        }
    }
    m2
}

/// The two passes on AVX2 where the CPU has it (detected at run time; pulp's safe wrappers of
/// the intrinsics, so no `unsafe` here): lanes 0–3 and 4–7 are two 256-bit registers, and
/// every operation is the IEEE operation of the scalar pass on the same operands in the same
/// order (`min_pd(x, m)` is `if x < m { x } else { m }`, NaN and signed zeros included; no
/// fused multiply-add), so the results are bit-identical (tested against the scalar passes).
#[cfg(target_arch = "x86_64")]
mod vector {
    use core::arch::x86_64::{__m128, __m256d};

    use pulp::x86::V3;
    use pulp::Simd;

    use super::{Pass1, Stats, LANES};

    /// [`Stats::of_block_with`] of float32 elements on AVX2; `None` without AVX2.
    pub(super) fn f32_block(xs: &[f32]) -> Option<Stats> {
        let simd = V3::try_new()?;
        Some(Simd::vectorize(
            simd,
            Block {
                simd,
                xs,
                load: |s: V3, g: &[f32; LANES]| {
                    let lo: __m128 = pulp::cast([g[0], g[1], g[2], g[3]]);
                    let hi: __m128 = pulp::cast([g[4], g[5], g[6], g[7]]);
                    [s.avx._mm256_cvtps_pd(lo), s.avx._mm256_cvtps_pd(hi)]
                },
                dec: f64::from,
            },
        ))
    }

    /// [`Stats::of_block_with`] of float64 elements on AVX2; `None` without AVX2.
    pub(super) fn f64_block(xs: &[f64]) -> Option<Stats> {
        let simd = V3::try_new()?;
        Some(Simd::vectorize(
            simd,
            Block {
                simd,
                xs,
                load: |_: V3, g: &[f64; LANES]| -> [__m256d; 2] {
                    [
                        pulp::cast([g[0], g[1], g[2], g[3]]),
                        pulp::cast([g[4], g[5], g[6], g[7]]),
                    ]
                },
                dec: |v| v,
            },
        ))
    }

    struct Block<'a, T, L, D> {
        simd: V3,
        xs: &'a [T],
        load: L,
        dec: D,
    }

    fn lanes(v: [__m256d; 2]) -> [f64; LANES] {
        let lo: [f64; 4] = pulp::cast(v[0]);
        let hi: [f64; 4] = pulp::cast(v[1]);
        [lo[0], lo[1], lo[2], lo[3], hi[0], hi[1], hi[2], hi[3]]
    }

    impl<T, L, D> pulp::WithSimd for Block<'_, T, L, D>
    where
        T: bytemuck::Pod,
        L: Fn(V3, &[T; LANES]) -> [__m256d; 2] + Copy,
        D: Fn(T) -> f64 + Copy,
    {
        type Output = Stats;

        #[inline(always)]
        fn with_simd<S: Simd>(self, _: S) -> Stats {
            let Block {
                simd,
                xs,
                load,
                dec,
            } = self;
            let a = simd.avx;
            let pass1 = |groups: &[[T; LANES]]| -> Pass1 {
                let mut mn = [a._mm256_set1_pd(f64::INFINITY); 2];
                let mut mx = [a._mm256_set1_pd(f64::NEG_INFINITY); 2];
                let mut sum = [a._mm256_setzero_pd(); 2];
                let mut sq = [a._mm256_setzero_pd(); 2];
                for g in groups {
                    let x = load(simd, g);
                    for k in 0..2 {
                        mn[k] = a._mm256_min_pd(x[k], mn[k]);
                        mx[k] = a._mm256_max_pd(x[k], mx[k]);
                        sum[k] = a._mm256_add_pd(sum[k], x[k]);
                        sq[k] = a._mm256_add_pd(sq[k], a._mm256_mul_pd(x[k], x[k]));
                    }
                }
                [lanes(mn), lanes(mx), lanes(sum), lanes(sq)]
            };
            let pass2 = |groups: &[[T; LANES]], mean: f64| -> [f64; LANES] {
                let m = a._mm256_set1_pd(mean);
                let mut m2 = [a._mm256_setzero_pd(); 2];
                for g in groups {
                    let x = load(simd, g);
                    for k in 0..2 {
                        let d = a._mm256_sub_pd(x[k], m);
                        m2[k] = a._mm256_add_pd(m2[k], a._mm256_mul_pd(d, d));
                    }
                }
                lanes(m2)
            };
            Stats::of_block_with(xs, dec, pass1, pass2)
        }
    }
}

/// Without a vector path: always the scalar passes.
#[cfg(not(target_arch = "x86_64"))]
mod vector {
    use super::Stats;

    pub(super) fn f32_block(_: &[f32]) -> Option<Stats> {
        None
    }

    pub(super) fn f64_block(_: &[f64]) -> Option<Stats> {
        None
    }
}

/// `((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7))`.
fn tree(l: &[f64; LANES]) -> f64 {
    ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]))
}

/// The summary statistics of a real tensor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    /// Population standard deviation (numpy's `std`, `ddof=0`).
    pub stddev: f64,
    pub rms: f64,
}

/// A mergeable statistics accumulator (see the module docs for the fixed merge tree).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stats {
    n: u64,
    nan: bool,
    min: f64,
    max: f64,
    sum: f64,
    sumsq: f64,
    /// Σ (x − mean)² over the elements so far.
    m2: f64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            n: 0,
            nan: false,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            sum: 0.0,
            sumsq: 0.0,
            m2: 0.0,
        }
    }
}

impl Stats {
    /// Elements seen.
    pub fn count(&self) -> u64 {
        self.n
    }

    fn mean_now(&self) -> f64 {
        self.sum / self.n as f64
    }

    /// The accumulator of one block of decoded values, in two passes, written out as the
    /// module docs say (with the NaN lanes): the tests' independent reference for
    /// [`Stats::of_block_with`], which every path uses. Each pass runs [`LANES`] independent
    /// accumulators (element `i` goes to lane `i % LANES`) that are then added as a fixed
    /// pairwise tree, so the result depends only on the values.
    #[cfg(test)]
    fn of_block(v: &[f64]) -> Stats {
        let mut s = Stats {
            n: v.len() as u64,
            ..Stats::default()
        };
        if v.is_empty() {
            return s;
        }
        let mut mn = [f64::INFINITY; LANES];
        let mut mx = [f64::NEG_INFINITY; LANES];
        let mut sum = [0f64; LANES];
        let mut sq = [0f64; LANES];
        let mut nan = [0u64; LANES];
        let mut it = v.chunks_exact(LANES);
        for c in &mut it {
            let Ok(c) = <&[f64; LANES]>::try_from(c) else {
                continue;
            };
            for j in 0..LANES {
                let x = c[j];
                nan[j] |= u64::from(x.is_nan());
                mn[j] = if x < mn[j] { x } else { mn[j] };
                mx[j] = if x > mx[j] { x } else { mx[j] };
                sum[j] += x;
                sq[j] += x * x;
            }
        }
        for (j, &x) in it.remainder().iter().enumerate() {
            nan[j] |= u64::from(x.is_nan());
            mn[j] = if x < mn[j] { x } else { mn[j] };
            mx[j] = if x > mx[j] { x } else { mx[j] };
            sum[j] += x;
            sq[j] += x * x;
        }
        s.nan = nan.iter().any(|&b| b != 0);
        s.min = mn
            .iter()
            .fold(f64::INFINITY, |a, &b| if b < a { b } else { a });
        s.max = mx
            .iter()
            .fold(f64::NEG_INFINITY, |a, &b| if b > a { b } else { a });
        s.sum = tree(&sum);
        s.sumsq = tree(&sq);
        let mean = s.mean_now();
        let mut m2 = [0f64; LANES];
        let mut it = v.chunks_exact(LANES);
        for c in &mut it {
            let Ok(c) = <&[f64; LANES]>::try_from(c) else {
                continue;
            };
            for j in 0..LANES {
                let d = c[j] - mean;
                m2[j] += d * d;
            }
        }
        for (j, &x) in it.remainder().iter().enumerate() {
            let d = x - mean;
            m2[j] += d * d;
        }
        s.m2 = tree(&m2);
        s
    }

    /// The accumulator of one block: `xs` decoded by `dec`, without storing the decoded values,
    /// in the two passes of the module docs (a test compares every dtype and path this serves
    /// with decoding into `f64`s first and summarising those). `pass1` and `pass2` do the whole groups of
    /// [`LANES`] elements ([`pass1_scalar`], [`pass2_scalar`], or a vector unit's version of
    /// the same operations); the rest continues the lanes here. The first pass leaves out the
    /// NaN lanes: a NaN anywhere makes its lane's sum NaN, so only a block whose sum is NaN (a
    /// NaN, or `inf - inf`) is scanned again for NaNs.
    #[inline(always)]
    fn of_block_with<T: bytemuck::Pod>(
        xs: &[T],
        dec: impl Fn(T) -> f64,
        pass1: impl FnOnce(&[[T; LANES]]) -> Pass1,
        pass2: impl FnOnce(&[[T; LANES]], f64) -> [f64; LANES],
    ) -> Stats {
        let mut s = Stats {
            n: xs.len() as u64,
            ..Stats::default()
        };
        if xs.is_empty() {
            return s;
        }
        // whole groups as arrays (a cast that cannot fail: same alignment, a multiple of the
        // length; were it to, every element goes through the lane loops below, same result)
        let whole = xs.len() / LANES * LANES;
        let (groups, rest) = match bytemuck::try_cast_slice::<T, [T; LANES]>(&xs[..whole]) {
            Ok(g) => (g, &xs[whole..]),
            Err(_) => (&[][..], xs),
        };
        let [mut mn, mut mx, mut sum, mut sq] = pass1(groups);
        for (i, &e) in rest.iter().enumerate() {
            let (j, x) = (i % LANES, dec(e));
            mn[j] = if x < mn[j] { x } else { mn[j] };
            mx[j] = if x > mx[j] { x } else { mx[j] };
            sum[j] += x;
            sq[j] += x * x;
        }
        s.nan = sum.iter().any(|x| x.is_nan()) && xs.iter().any(|&e| dec(e).is_nan());
        s.min = mn
            .iter()
            .fold(f64::INFINITY, |a, &b| if b < a { b } else { a });
        s.max = mx
            .iter()
            .fold(f64::NEG_INFINITY, |a, &b| if b > a { b } else { a });
        s.sum = tree(&sum);
        s.sumsq = tree(&sq);
        let mean = s.mean_now();
        let mut m2 = pass2(groups, mean);
        for (i, &e) in rest.iter().enumerate() {
            let d = dec(e) - mean;
            m2[i % LANES] += d * d;
        }
        s.m2 = tree(&m2);
        s
    }

    /// [`Stats::of_block_with`] on the scalar passes.
    #[inline(always)]
    fn of_block_scalar<T: bytemuck::Pod>(xs: &[T], dec: impl Fn(T) -> f64 + Copy) -> Stats {
        Stats::of_block_with(
            xs,
            dec,
            |g| pass1_scalar(g, dec),
            |g, mean| pass2_scalar(g, mean, dec),
        )
    }

    /// Merges `other` (the elements right after this one's) into `self`.
    pub fn merge(&mut self, other: &Stats) {
        if other.n == 0 {
            return;
        }
        if self.n == 0 {
            *self = *other;
            return;
        }
        let (na, nb) = (self.n as f64, other.n as f64);
        let n = na + nb;
        let delta = other.mean_now() - self.mean_now();
        self.m2 = self.m2 + other.m2 + delta * delta * (na * nb / n);
        self.n += other.n;
        self.nan |= other.nan;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum += other.sum;
        self.sumsq += other.sumsq;
    }

    /// The accumulator of one chunk: `bytes` are the tensor's bytes at a multiple of
    /// [`STATS_CHUNK`], at most [`STATS_CHUNK`] long, whole elements of `d`. `scratch` is reused
    /// for the decoded values (at most [`STATS_BLOCK`] of them). `None` for dtypes that are not
    /// real.
    pub fn of_chunk(d: DType, bytes: &[u8], scratch: &mut Vec<f64>) -> Option<Stats> {
        if !is_real(d) {
            return None;
        }
        let es = d.element_size()?;
        Stats::of_chunk_here(d, es, bytes, scratch)
    }

    fn of_chunk_here(d: DType, es: usize, bytes: &[u8], scratch: &mut Vec<f64>) -> Option<Stats> {
        let mut acc = Stats::default();
        for block in bytes.chunks(STATS_BLOCK * es) {
            let b = match d {
                DType::Float32 => le_slice::<f32>(block).map(|x| {
                    vector::f32_block(x).unwrap_or_else(|| Stats::of_block_scalar(x, f64::from))
                }),
                DType::Float64 => le_slice::<f64>(block).map(|x| {
                    vector::f64_block(x).unwrap_or_else(|| Stats::of_block_scalar(x, |v| v))
                }),
                DType::BFloat16 => le_slice::<u16>(block).map(|x| {
                    Stats::of_block_scalar(x, |b| f64::from(f32::from_bits(u32::from(b) << 16)))
                }),
                _ => None,
            };
            let b = b.unwrap_or_else(|| {
                scratch.clear();
                decode_f64_into(d, block, scratch);
                Stats::of_block_scalar(scratch.as_slice(), |v| v)
            });
            acc.merge(&b);
        }
        Some(acc)
    }

    /// The statistics of a whole tensor's bytes, serially (the reference for every chunked or
    /// parallel computation). `None` for dtypes that are not real.
    pub fn of_bytes(d: DType, bytes: &[u8]) -> Option<Stats> {
        if !is_real(d) {
            return None;
        }
        let mut scratch = Vec::new();
        let mut acc = Stats::default();
        for chunk in bytes.chunks(STATS_CHUNK) {
            acc.merge(&Stats::of_chunk(d, chunk, &mut scratch)?);
        }
        Some(acc)
    }

    /// The final statistics; `None` for no elements.
    pub fn summary(&self) -> Option<Summary> {
        if self.n == 0 {
            return None;
        }
        if self.nan {
            let nan = f64::NAN;
            return Some(Summary {
                min: nan,
                max: nan,
                mean: nan,
                stddev: nan,
                rms: nan,
            });
        }
        let n = self.n as f64;
        Some(Summary {
            min: self.min,
            max: self.max,
            mean: self.sum / n,
            stddev: (self.m2 / n).sqrt(),
            rms: (self.sumsq / n).sqrt(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::ALL_DTYPES;

    fn f32s(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn stats_match_numpy() {
        // numpy: mean 2.5, std 1.118033988749895, rms 2.7386127875258306
        let s = Stats::of_bytes(DType::Float32, &f32s(&[1.0, 2.0, 3.0, 4.0]))
            .unwrap()
            .summary()
            .unwrap();
        assert_eq!((s.min, s.max, s.mean), (1.0, 4.0, 2.5));
        assert_eq!(s.stddev, 1.118_033_988_749_895);
        assert_eq!(s.rms, 2.738_612_787_525_830_6);
        let s = Stats::of_bytes(DType::Float32, &f32s(&[1.0, f32::NAN]))
            .unwrap()
            .summary()
            .unwrap();
        assert!(s.min.is_nan() && s.max.is_nan() && s.mean.is_nan() && s.rms.is_nan());
        let s = Stats::of_bytes(DType::Float32, &f32s(&[f32::INFINITY, 1.0]))
            .unwrap()
            .summary()
            .unwrap();
        assert_eq!(
            (s.mean, s.max, s.rms),
            (f64::INFINITY, f64::INFINITY, f64::INFINITY)
        );
        assert!(s.stddev.is_nan(), "numpy: std([inf, 1]) is nan");
        assert!(Stats::of_bytes(DType::Float32, &[])
            .unwrap()
            .summary()
            .is_none());
        assert!(Stats::of_bytes(DType::Complex64, &[0; 8]).is_none());
        assert!(Stats::of_bytes(DType::String, &[]).is_none());
        // float16 [1, -2] = 003c 00c0; bfloat16 [1, -2] = 803f 00c0; int8 [1, -2]; bool.
        for (d, bytes, want) in [
            (
                DType::Float16,
                vec![0x00, 0x3c, 0x00, 0xc0],
                (-2.0, 1.0, -0.5),
            ),
            (
                DType::BFloat16,
                vec![0x80, 0x3f, 0x00, 0xc0],
                (-2.0, 1.0, -0.5),
            ),
            (DType::Int8, vec![1, 0xfe], (-2.0, 1.0, -0.5)),
            (DType::Int4, vec![1, 0x0e], (-2.0, 1.0, -0.5)),
            (DType::Bool, vec![0, 7], (0.0, 1.0, 0.5)),
        ] {
            let s = Stats::of_bytes(d, &bytes).unwrap().summary().unwrap();
            assert_eq!((s.min, s.max, s.mean), want, "{d}");
        }
    }

    /// Values from ml_dtypes (`np.arange(256, dtype=np.uint8).view(ml_dtypes.X)`), spot checks.
    #[test]
    fn small_floats_like_ml_dtypes() {
        let cases: &[(DType, u8, f64)] = &[
            (DType::Float8E4M3FN, 0x7e, 448.0),
            (DType::Float8E4M3FN, 0x01, 2f64.powi(-9)),
            (DType::Float8E4M3FN, 0xc0, -2.0),
            (DType::Float8E4M3FN, 0x78, 256.0),
            (DType::Float8E5M2, 0x7b, 57344.0),
            (DType::Float8E5M2, 0x7c, f64::INFINITY),
            (DType::Float8E5M2, 0x01, 2f64.powi(-16)),
            (DType::Float8E4M3FNUZ, 0x7f, 240.0),
            (DType::Float8E4M3FNUZ, 0x01, 2f64.powi(-10)),
            (DType::Float8E4M3FNUZ, 0x40, 1.0),
            (DType::Float8E4M3B11FNUZ, 0x7f, 30.0),
            (DType::Float8E4M3B11FNUZ, 0x58, 1.0),
            (DType::Float8E5M2FNUZ, 0x7f, 57344.0),
            (DType::Float8E5M2FNUZ, 0x40, 1.0),
            (DType::Float8E5M2FNUZ, 0x01, 2f64.powi(-17)),
            (DType::Float4E2M1FN, 0x07, 6.0),
            (DType::Float4E2M1FN, 0x01, 0.5),
            (DType::Float4E2M1FN, 0x0a, -1.0),
            (DType::Float4E2M1FN, 0x08, -0.0),
        ];
        for &(d, b, want) in cases {
            let Some(Value::Float(got)) = value(d, &[b]) else {
                panic!("{d}")
            };
            assert_eq!(got.to_bits(), want.to_bits(), "{d} {b:#04x}: {got}");
        }
        for (d, b) in [
            (DType::Float8E4M3FN, 0x7f),
            (DType::Float8E4M3FN, 0xff),
            (DType::Float8E5M2, 0x7d),
            (DType::Float8E4M3FNUZ, 0x80),
            (DType::Float8E4M3B11FNUZ, 0x80),
            (DType::Float8E5M2FNUZ, 0x80),
        ] {
            assert!(
                value(d, &[b]).unwrap().as_f64().unwrap().is_nan(),
                "{d} {b:#x}"
            );
        }
    }

    #[test]
    fn every_dtype_decodes_consistently() {
        let bytes: Vec<u8> = (0..=255u8).cycle().take(16 * 64).collect();
        for d in ALL_DTYPES {
            let Some(es) = d.element_size() else {
                assert_eq!(kind(d), Kind::String);
                assert!(value(d, &[]).is_none());
                continue;
            };
            let mut f = Vec::new();
            assert!(decode_f64_into(d, &bytes, &mut f));
            let mut ints = Vec::new();
            let is_int = decode_int_into(d, &bytes, &mut ints);
            for (i, c) in bytes.chunks_exact(es).enumerate() {
                let v = value(d, c).unwrap();
                match v {
                    Value::Complex(re, im) => {
                        assert_eq!(f[2 * i].to_bits(), re.to_bits(), "{d}");
                        assert_eq!(f[2 * i + 1].to_bits(), im.to_bits(), "{d}");
                    }
                    v => {
                        let x = v.as_f64().unwrap();
                        assert!(x.to_bits() == f[i].to_bits() || x.is_nan() && f[i].is_nan());
                        if let Value::Int(n) = v {
                            assert!(is_int);
                            assert_eq!(ints[i], n, "{d}");
                        }
                    }
                }
            }
        }
        assert_eq!(value(DType::Int64, &[0xff; 8]), Some(Value::Int(-1)));
        assert_eq!(
            value(DType::UInt64, &[0xff; 8]),
            Some(Value::Int(i128::from(u64::MAX)))
        );
        assert_eq!(value(DType::Int2, &[0x02]), Some(Value::Int(-2)));
        assert_eq!(value(DType::UInt4, &[0xf3]), Some(Value::Int(3)));
        assert_eq!(value(DType::Float32, &[0; 3]), None);
    }

    /// The bits of an accumulator, every NaN as one NaN (Rust leaves a computed NaN's sign
    /// and payload unspecified, and the summary prints any NaN as NaN).
    fn bits(s: &Stats) -> [u64; 7] {
        let b = |v: f64| {
            if v.is_nan() {
                f64::NAN.to_bits()
            } else {
                v.to_bits()
            }
        };
        [
            s.n,
            u64::from(s.nan),
            b(s.min),
            b(s.max),
            b(s.sum),
            b(s.sumsq),
            b(s.m2),
        ]
    }

    /// The reference: every value decoded into `f64`s, then [`Stats::of_block`] per block.
    fn reference(d: DType, bytes: &[u8]) -> Stats {
        let es = d.element_size().unwrap();
        let mut acc = Stats::default();
        for block in bytes.chunks(STATS_BLOCK * es) {
            let mut v = Vec::new();
            decode_f64_into(d, block, &mut v);
            acc.merge(&Stats::of_block(&v));
        }
        acc
    }

    /// The fused and vector paths (float32, float64, bfloat16; aligned and not) and the decoding
    /// path (float16, and misaligned data) give the bits
    /// of decoding into `f64`s first, on values with NaN, infinities, signed zeros, subnormals
    /// and every remainder length.
    #[test]
    fn fused_and_vector_paths_equal_the_reference() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let specials = [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.0,
            0.0,
            1e-310,
            -3.5e38,
            f64::from(f32::MAX),
        ];
        for (d, es) in [
            (DType::Float32, 4),
            (DType::Float64, 8),
            (DType::BFloat16, 2),
        ] {
            for n in (0..40).chain([STATS_BLOCK - 1, STATS_BLOCK + 9, 3 * STATS_BLOCK + 5]) {
                for special_every in [0u64, 7, 1000] {
                    let mut bytes = vec![0u8]; // a leading byte: [1..] is misaligned
                    for _ in 0..n {
                        let r = next();
                        let v = if special_every > 0 && r % special_every == 0 {
                            specials[(r >> 8) as usize % specials.len()]
                        } else {
                            (r >> 11) as f64 / (1u64 << 53) as f64 * 200.0 - 100.0
                        };
                        let mut e = Vec::new();
                        assert!(encode_f64(d, v, &mut e) && e.len() == es);
                        bytes.extend(e);
                    }
                    // aligned copy and the misaligned original
                    let aligned: Vec<u8> = bytes[1..].to_vec();
                    let want = bits(&reference(d, &aligned));
                    let mut scratch = Vec::new();
                    for b in [&aligned[..], &bytes[1..]] {
                        let mut acc = Stats::default();
                        for c in b.chunks(STATS_CHUNK) {
                            acc.merge(&Stats::of_chunk(d, c, &mut scratch).unwrap());
                        }
                        assert_eq!(bits(&acc), want, "{d} n={n} every={special_every}");
                    }
                }
            }
        }
    }

    /// Any chunking merged in offset order gives the serial bits; the block/chunk tree makes
    /// large tensors accurate (a naive running sum drifts).
    #[test]
    fn chunked_merge_is_bit_identical_to_serial() {
        let n = STATS_CHUNK / 4 * 3 + 12345;
        let mut x = 0x1234_5678u32;
        let v: Vec<f32> = (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                1000.0 + (x as f32 / u32::MAX as f32)
            })
            .collect();
        let bytes = f32s(&v);
        let serial = Stats::of_bytes(DType::Float32, &bytes).unwrap();
        let mut scratch = Vec::new();
        let parts: Vec<Stats> = bytes
            .chunks(STATS_CHUNK)
            .rev()
            .map(|c| Stats::of_chunk(DType::Float32, c, &mut scratch).unwrap())
            .collect();
        let mut merged = Stats::default();
        for p in parts.iter().rev() {
            merged.merge(p);
        }
        assert_eq!(merged, serial);
        assert_eq!(serial.count(), n as u64);
        let s = serial.summary().unwrap();
        let mean: f64 = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n as f64;
        let var: f64 = v
            .iter()
            .map(|&x| (f64::from(x) - mean).powi(2))
            .sum::<f64>()
            / n as f64;
        assert!((s.mean - mean).abs() < 1e-9, "{} {mean}", s.mean);
        assert!((s.stddev - var.sqrt()).abs() < 1e-9);
    }
}
