//! A dense tensor value (raw little-endian bytes, C order) and the few array operations the
//! conversions need. Everything but [`Array::add`] and [`Array::cast`] only moves elements, so it
//! is exact for every fixed-size dtype.

use half::{bf16, f16};
use tf_bundle::{elem, DType};

use crate::error::{MapError, MapErrorKind};

/// A numeric tensor: dtype, shape and raw little-endian bytes in C (row-major) order.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    pub dtype: DType,
    pub shape: Vec<u64>,
    pub data: Vec<u8>,
}

/// Python's repr of a shape tuple: `()`, `(3,)`, `(2, 3)`.
pub fn py_shape(shape: &[u64]) -> String {
    match shape {
        [] => "()".to_string(),
        [a] => format!("({a},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn conv_err(msg: impl Into<String>) -> MapError {
    MapError::new(MapErrorKind::ConversionFailed, msg)
}

/// Number of elements of `shape` (checked).
pub fn num_elements(shape: &[u64]) -> Option<u64> {
    shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d))
}

impl Array {
    /// Builds an array, checking that `data` holds exactly `shape` elements of `dtype`.
    pub fn new(dtype: DType, shape: Vec<u64>, data: Vec<u8>) -> Result<Array, MapError> {
        let esize = dtype.element_size().ok_or_else(|| {
            MapError::new(
                MapErrorKind::DtypeMismatch,
                format!("dtype {dtype} has no fixed element size"),
            )
        })?;
        let expected = num_elements(&shape)
            .and_then(|n| n.checked_mul(esize as u64))
            .ok_or_else(|| conv_err(format!("shape {} overflows", py_shape(&shape))))?;
        if expected != data.len() as u64 {
            return Err(conv_err(format!(
                "array of shape {} and dtype {dtype} needs {expected} bytes, found {}",
                py_shape(&shape),
                data.len()
            )));
        }
        Ok(Array { dtype, shape, data })
    }

    /// Builds a float32 array from values (used by tests and examples).
    pub fn from_f32(shape: Vec<u64>, values: &[f32]) -> Result<Array, MapError> {
        let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Array::new(DType::Float32, shape, data)
    }

    /// The values as f64 (float, integer and bool dtypes), for tests and diagnostics.
    pub fn to_f64_vec(&self) -> Result<Vec<f64>, MapError> {
        decode_f64(self.dtype, &self.data)
    }

    fn esize(&self) -> usize {
        self.dtype.element_size().unwrap_or(1)
    }

    /// Row-major reshape; the element count must stay the same.
    pub fn reshape(mut self, shape: Vec<u64>) -> Result<Array, MapError> {
        if num_elements(&shape) != num_elements(&self.shape) {
            return Err(conv_err(format!(
                "cannot reshape array of shape {} into shape {}",
                py_shape(&self.shape),
                py_shape(&shape)
            )));
        }
        self.shape = shape;
        Ok(self)
    }

    /// Swaps the first two of four equal blocks of the last axis (gate order `j,i,f,o` <->
    /// `i,j,f,o`), for a 1-D or 2-D array (`numpy.split(x, 4, axis=-1)` + re-concatenate).
    pub fn swap_gate_blocks_01(&self) -> Result<Array, MapError> {
        let (rows, cols) = match self.shape.as_slice() {
            [c] => (1u64, *c),
            [r, c] => (*r, *c),
            _ => {
                return Err(conv_err(format!(
                    "gate reorder needs a 1-D or 2-D array, found shape {}",
                    py_shape(&self.shape)
                )))
            }
        };
        if cols % 4 != 0 {
            return Err(conv_err(format!(
                "array split does not result in an equal division: axis of size {cols} into 4 gate blocks"
            )));
        }
        let es = self.esize();
        let blk = (cols / 4) as usize * es;
        let row_bytes = cols as usize * es;
        let mut out = Vec::with_capacity(self.data.len());
        for r in 0..rows as usize {
            let row = &self.data[r * row_bytes..(r + 1) * row_bytes];
            out.extend_from_slice(&row[blk..2 * blk]);
            out.extend_from_slice(&row[..blk]);
            out.extend_from_slice(&row[2 * blk..]);
        }
        Array::new(self.dtype, self.shape.clone(), out)
    }

    /// `numpy.concatenate([a, b], axis=0)` for 2-D arrays of the same dtype and column count.
    pub fn concat_rows(a: &Array, b: &Array) -> Result<Array, MapError> {
        match (a.shape.as_slice(), b.shape.as_slice()) {
            ([ra, ca], [rb, cb]) if ca == cb && a.dtype == b.dtype => {
                let mut data = Vec::with_capacity(a.data.len() + b.data.len());
                data.extend_from_slice(&a.data);
                data.extend_from_slice(&b.data);
                Array::new(a.dtype, vec![ra + rb, *ca], data)
            }
            _ => Err(conv_err(format!(
                "cannot stack rows of {} {} and {} {}",
                a.dtype,
                py_shape(&a.shape),
                b.dtype,
                py_shape(&b.shape)
            ))),
        }
    }

    /// `numpy.split(x, [at], axis=0)` for a 2-D array.
    pub fn split_rows(&self, at: u64) -> Result<(Array, Array), MapError> {
        match self.shape.as_slice() {
            [r, c] if at <= *r => {
                let cut = (at * c) as usize * self.esize();
                Ok((
                    Array::new(self.dtype, vec![at, *c], self.data[..cut].to_vec())?,
                    Array::new(self.dtype, vec![r - at, *c], self.data[cut..].to_vec())?,
                ))
            }
            _ => Err(conv_err(format!(
                "cannot split rows of {} at {at}",
                py_shape(&self.shape)
            ))),
        }
    }

    /// Transpose of a 2-D array.
    pub fn transpose2d(&self) -> Result<Array, MapError> {
        let [r, c] = self.shape.as_slice() else {
            return Err(conv_err(format!(
                "transpose needs a 2-D array, found {}",
                py_shape(&self.shape)
            )));
        };
        let (r, c) = (*r as usize, *c as usize);
        let es = self.esize();
        let mut out = vec![0u8; self.data.len()];
        for i in 0..r {
            for j in 0..c {
                let src = (i * c + j) * es;
                let dst = (j * r + i) * es;
                out[dst..dst + es].copy_from_slice(&self.data[src..src + es]);
            }
        }
        Array::new(self.dtype, vec![c as u64, r as u64], out)
    }

    /// Elementwise `a + b` with numpy semantics for equal dtypes and shapes: float16 and
    /// bfloat16 are added in float32 and rounded back (what numpy / ml_dtypes do), float32 in
    /// float32, float64 in float64, integers wrap.
    pub fn add(a: &Array, b: &Array) -> Result<Array, MapError> {
        if a.dtype != b.dtype || a.shape != b.shape {
            return Err(conv_err(format!(
                "cannot add {} {} and {} {}",
                a.dtype,
                py_shape(&a.shape),
                b.dtype,
                py_shape(&b.shape)
            )));
        }
        let x = &a.data;
        let y = &b.data;
        let data: Vec<u8> = match a.dtype {
            DType::Float32 => zip_map::<4>(x, y, |p, q| {
                (f32::from_le_bytes(p) + f32::from_le_bytes(q)).to_le_bytes()
            }),
            DType::Float64 => zip_map::<8>(x, y, |p, q| {
                (f64::from_le_bytes(p) + f64::from_le_bytes(q)).to_le_bytes()
            }),
            DType::Float16 => zip_map::<2>(x, y, |p, q| {
                f16::from_f32(f16::from_le_bytes(p).to_f32() + f16::from_le_bytes(q).to_f32())
                    .to_le_bytes()
            }),
            DType::BFloat16 => zip_map::<2>(x, y, |p, q| {
                bf16::from_f32(bf16::from_le_bytes(p).to_f32() + bf16::from_le_bytes(q).to_f32())
                    .to_le_bytes()
            }),
            DType::Int32 => zip_map::<4>(x, y, |p, q| {
                i32::from_le_bytes(p)
                    .wrapping_add(i32::from_le_bytes(q))
                    .to_le_bytes()
            }),
            DType::Int64 => zip_map::<8>(x, y, |p, q| {
                i64::from_le_bytes(p)
                    .wrapping_add(i64::from_le_bytes(q))
                    .to_le_bytes()
            }),
            other => {
                return Err(MapError::new(
                    MapErrorKind::DtypeMismatch,
                    format!("addition of {other} values is not supported"),
                ))
            }
        };
        Array::new(a.dtype, a.shape.clone(), data)
    }

    /// Converts to `to` the way numpy's `asarray(value, dtype=to)` does when RETURNN feeds a value
    /// into a variable of another dtype (docs/returnn-mapping.md R-DTYPE-1): between float16,
    /// bfloat16, float32, float64 and the integer types. Float to float rounds to nearest even,
    /// once (float64 -> bfloat16 goes through float32, like ml_dtypes); float to int truncates
    /// toward zero, with x86-64's result for NaN, ±inf and out-of-range values (as numpy there;
    /// checked by `cargo xtask mapping-oracle`). The same dtype is returned unchanged (any dtype).
    pub fn cast(self, to: DType) -> Result<Array, MapError> {
        if self.dtype == to {
            return Ok(self);
        }
        let unsupported = || {
            MapError::new(
                MapErrorKind::DtypeMismatch,
                format!(
                    "cannot convert a {} value to a {to} variable (only float and integer dtypes convert)",
                    self.dtype
                ),
            )
        };
        if !castable(self.dtype) || !castable(to) {
            return Err(unsupported());
        }
        let vals = decode_f64_exact(self.dtype, &self.data)?;
        let mut out = Vec::with_capacity(vals.len() * to.element_size().unwrap_or(1));
        for v in vals {
            match (to, v) {
                (DType::Float64, v) => out.extend_from_slice(&v.as_f64().to_le_bytes()),
                (DType::Float32, v) => out.extend_from_slice(&v.as_f32().to_le_bytes()),
                (DType::Float16, v) => {
                    out.extend_from_slice(&f64_to_f16_bits(v.as_f64()).to_le_bytes())
                }
                (DType::BFloat16, v) => {
                    out.extend_from_slice(&bf16::from_f32(v.as_f32()).to_le_bytes())
                }
                // integer -> integer wraps (C casts); float -> integer as numpy on x86-64
                (DType::Int8, v) => out.extend_from_slice(&(v.to_i32_x86() as i8).to_le_bytes()),
                (DType::Int16, v) => out.extend_from_slice(&(v.to_i32_x86() as i16).to_le_bytes()),
                (DType::Int32, v) => out.extend_from_slice(&v.to_i32_x86().to_le_bytes()),
                (DType::Int64, v) => out.extend_from_slice(&v.to_i64_x86().to_le_bytes()),
                (DType::UInt8, v) => out.extend_from_slice(&(v.to_i32_x86() as u8).to_le_bytes()),
                (DType::UInt16, v) => out.extend_from_slice(&(v.to_i32_x86() as u16).to_le_bytes()),
                (DType::UInt32, v) => out.extend_from_slice(&v.to_u32_x86().to_le_bytes()),
                (DType::UInt64, v) => out.extend_from_slice(&v.to_u64_x86().to_le_bytes()),
                _ => return Err(unsupported()),
            }
        }
        Array::new(to, self.shape, out)
    }
}

/// Whether [`Array::cast`] converts from / to this dtype.
pub fn castable(d: DType) -> bool {
    matches!(
        d,
        DType::Float16
            | DType::BFloat16
            | DType::Float32
            | DType::Float64
            | DType::Int8
            | DType::Int16
            | DType::Int32
            | DType::Int64
            | DType::UInt8
            | DType::UInt16
            | DType::UInt32
            | DType::UInt64
    )
}

#[derive(Clone, Copy)]
enum Num {
    F(f64),
    I(i128),
}

impl Num {
    fn as_f64(self) -> f64 {
        match self {
            Num::F(x) => x,
            Num::I(i) => i as f64,
        }
    }
    fn as_f32(self) -> f32 {
        match self {
            Num::F(x) => x as f32,
            Num::I(i) => i as f32,
        }
    }
    /// To int32 (and, keeping the low bits, int8/int16/uint8/uint16): integers wrap; floats
    /// truncate toward zero, and NaN, ±inf or a value outside the int32 range gives
    /// `i32::MIN` (x86-64 `cvttsd2si`, what numpy's C cast does there).
    fn to_i32_x86(self) -> i32 {
        match self {
            Num::F(x) => {
                let t = x.trunc();
                if (-2_147_483_648.0..2_147_483_648.0).contains(&t) {
                    t as i32
                } else {
                    i32::MIN
                }
            }
            Num::I(i) => i as i32,
        }
    }
    /// To int64: like [`Num::to_i32_x86`] with the int64 range and `i64::MIN`.
    fn to_i64_x86(self) -> i64 {
        match self {
            Num::F(x) => {
                let t = x.trunc();
                if (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&t) {
                    t as i64
                } else {
                    i64::MIN
                }
            }
            Num::I(i) => i as i64,
        }
    }
    /// To uint32 as numpy 2 on x86-64: non-negative floats through int64, negative ones (and
    /// NaN) through int32, low 32 bits kept.
    fn to_u32_x86(self) -> u32 {
        match self {
            Num::F(x) if x >= 0.0 => Num::F(x).to_i64_x86() as u32,
            Num::F(x) => Num::F(x).to_i32_x86() as u32,
            Num::I(i) => i as u32,
        }
    }
    /// To uint64 as numpy 2 on x86-64: `[0, 2^64)` exact, negative values down to `-2^63`
    /// wrap, NaN and anything below `-2^63` give `2^63`, `2^64` and above (and +inf) give 0.
    fn to_u64_x86(self) -> u64 {
        match self {
            Num::F(x) => {
                let t = x.trunc();
                if (0.0..18_446_744_073_709_551_616.0).contains(&t) {
                    t as u64
                } else if (-9_223_372_036_854_775_808.0..0.0).contains(&t) {
                    t as i64 as u64
                } else if t >= 18_446_744_073_709_551_616.0 {
                    0
                } else {
                    1 << 63
                }
            }
            Num::I(i) => i as u64,
        }
    }
}

/// float64 -> float16 bits, rounded once to nearest even (numpy's `npy_double_to_half`; NaN
/// keeps the top 10 payload bits). `half::f16::from_f64` goes through float32 on x86 with F16C,
/// which rounds twice (1 + 2^-11 + 2^-40 would become 1.0 instead of 1 + 2^-10).
fn f64_to_f16_bits(x: f64) -> u16 {
    let bits = x.to_bits();
    let sign = ((bits >> 48) & 0x8000) as u16;
    if x.is_nan() {
        let mut h = 0x7c00u16 + ((bits & 0x000f_ffff_ffff_ffff) >> 42) as u16;
        if h == 0x7c00 {
            h += 1;
        }
        return sign | h;
    }
    let a = x.abs();
    if a >= 65520.0 {
        return sign | 0x7c00; // rounds to infinity (65520 is the tie between 65504 and 2^16)
    }
    // the spacing of float16 values around `a`: 2^-24 for subnormals, else 2^(e-10)
    let e = ((a.to_bits() >> 52) as i32 - 1023).max(-14);
    let q = 2f64.powi(e - 10);
    // a / q and the product are exact (powers of two); the result is a float16 value, so
    // the final conversion is exact whatever path `half` takes
    let v = (a / q).round_ties_even() * q;
    sign | f16::from_f64(v).to_bits()
}

fn zip_map<const N: usize>(x: &[u8], y: &[u8], f: impl Fn([u8; N], [u8; N]) -> [u8; N]) -> Vec<u8> {
    let mut out = Vec::with_capacity(x.len());
    for (p, q) in x.chunks_exact(N).zip(y.chunks_exact(N)) {
        let mut a = [0u8; N];
        let mut b = [0u8; N];
        a.copy_from_slice(p);
        b.copy_from_slice(q);
        out.extend_from_slice(&f(a, b));
    }
    out
}

/// The values as exact numbers (float dtypes as `f64`, integers as `i128`), decoded by
/// `tf_bundle::elem` (the one element decoder).
fn decode_f64_exact(dtype: DType, data: &[u8]) -> Result<Vec<Num>, MapError> {
    let unsupported = || {
        MapError::new(
            MapErrorKind::DtypeMismatch,
            format!("cannot read {dtype} values as numbers"),
        )
    };
    let es = dtype.element_size().ok_or_else(unsupported)?;
    data.chunks_exact(es)
        .map(|c| match elem::value(dtype, c) {
            Some(elem::Value::Float(x)) => Ok(Num::F(x)),
            Some(elem::Value::Int(i)) => Ok(Num::I(i)),
            _ => Err(unsupported()),
        })
        .collect()
}

/// The values as `f64` (every real dtype: floats, integers, bool).
fn decode_f64(dtype: DType, data: &[u8]) -> Result<Vec<f64>, MapError> {
    let mut out = Vec::with_capacity(data.len() / dtype.element_size().unwrap_or(1).max(1));
    if !elem::is_real(dtype) || !elem::decode_f64_into(dtype, data, &mut out) {
        return Err(MapError::new(
            MapErrorKind::DtypeMismatch,
            format!("cannot read {dtype} values as numbers"),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn py_shape_repr() {
        assert_eq!(py_shape(&[]), "()");
        assert_eq!(py_shape(&[3]), "(3,)");
        assert_eq!(py_shape(&[2, 3]), "(2, 3)");
    }

    #[test]
    fn cast_f64_to_f32_rounds_like_numpy() {
        // docs/returnn-mapping.md R-DTYPE-1: float64 300.1 -> float32 300.1000061
        let a = Array::new(DType::Float64, vec![1], 300.1f64.to_le_bytes().to_vec()).unwrap();
        let b = a.cast(DType::Float32).unwrap();
        let v = f32::from_le_bytes(b.data[..4].try_into().unwrap());
        assert_eq!(v, 300.1f32);
        assert_eq!(format!("{:.7}", v), "300.1000061");
    }

    #[test]
    fn f16_add_rounds_in_f32() {
        let one = f16::from_f32(1.0).to_le_bytes();
        let tiny = f16::from_f32(0.0004).to_le_bytes();
        let a = Array::new(DType::Float16, vec![1], one.to_vec()).unwrap();
        let b = Array::new(DType::Float16, vec![1], tiny.to_vec()).unwrap();
        let c = Array::add(&a, &b).unwrap();
        let got = f16::from_le_bytes([c.data[0], c.data[1]]);
        let want = f16::from_f32(1.0 + f16::from_f32(0.0004).to_f32());
        assert_eq!(got, want);
    }

    fn f64s(v: &[f64]) -> Array {
        let data = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        Array::new(DType::Float64, vec![v.len() as u64], data).unwrap()
    }

    /// Found by `cargo xtask mapping-oracle`: RETURNN (numpy) rounds float64 -> float16 once;
    /// `half::f16::from_f64` rounded via float32. Expected bits from numpy 2.4.
    #[test]
    fn cast_f64_to_f16_rounds_once_like_numpy() {
        let table: &[(f64, u16)] = &[
            (1.0 + 2f64.powi(-11) + 2f64.powi(-40), 0x3c01),
            (1.0 + 2f64.powi(-8) + 2f64.powi(-30), 0x3c04),
            (f64::NAN, 0x7e00),
            (-f64::NAN, 0xfe00),
            (65519.0, 0x7bff),
            (65520.0, 0x7c00),
            (70000.5, 0x7c00),
            (2f64.powi(-25), 0x0000),
            (2f64.powi(-25) + 2f64.powi(-40), 0x0001),
            (-0.0, 0x8000),
            (1e-30, 0x0000),
            (-(1.0 + 2f64.powi(-11)), 0xbc00),
            (2f64.powi(-14) - 2f64.powi(-26), 0x0400),
            (3.0 * 2f64.powi(-25), 0x0002),
        ];
        let a = f64s(&table.iter().map(|t| t.0).collect::<Vec<_>>());
        let b = a.cast(DType::Float16).unwrap();
        for (i, (x, want)) in table.iter().enumerate() {
            let got = u16::from_le_bytes([b.data[2 * i], b.data[2 * i + 1]]);
            assert_eq!(got, *want, "{x:e}: got {got:#06x}, want {want:#06x}");
        }
    }

    /// Found by `cargo xtask mapping-oracle` (-inf into an int32 variable): float -> integer
    /// as numpy 2.4 on x86-64 (expected values from numpy's astype).
    #[test]
    fn cast_float_to_int_like_numpy_on_x86() {
        let x = [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            3e9,
            -3e9,
            1e19,
            2e19,
            -1.5,
            300.7,
            -300.7,
            70000.2,
            -2.5,
            4294967301.0,
            9223372036854775808.0,
            18446744073709555712.0,
        ];
        const I32: i128 = i32::MIN as i128;
        const I64: i128 = i64::MIN as i128;
        let table: &[(DType, [i128; 15])] = &[
            (
                DType::Int8,
                [0, 0, 0, 0, 0, 0, 0, -1, 44, -44, 112, -2, 0, 0, 0],
            ),
            (
                DType::Int16,
                [0, 0, 0, 0, 0, 0, 0, -1, 300, -300, 4464, -2, 0, 0, 0],
            ),
            (
                DType::Int32,
                [
                    I32, I32, I32, I32, I32, I32, I32, -1, 300, -300, 70000, -2, I32, I32, I32,
                ],
            ),
            (
                DType::Int64,
                [
                    I64,
                    I64,
                    I64,
                    3000000000,
                    -3000000000,
                    I64,
                    I64,
                    -1,
                    300,
                    -300,
                    70000,
                    -2,
                    4294967301,
                    I64,
                    I64,
                ],
            ),
            (
                DType::UInt8,
                [0, 0, 0, 0, 0, 0, 0, 255, 44, 212, 112, 254, 0, 0, 0],
            ),
            (
                DType::UInt16,
                [0, 0, 0, 0, 0, 0, 0, 65535, 300, 65236, 4464, 65534, 0, 0, 0],
            ),
            (
                DType::UInt32,
                [
                    2147483648, 0, 2147483648, 3000000000, 2147483648, 0, 0, 4294967295, 300,
                    4294966996, 70000, 4294967294, 5, 0, 0,
                ],
            ),
            (
                DType::UInt64,
                [
                    9223372036854775808,
                    0,
                    9223372036854775808,
                    3000000000,
                    18446744070709551616,
                    10000000000000000000,
                    0,
                    18446744073709551615,
                    300,
                    18446744073709551316,
                    70000,
                    18446744073709551614,
                    4294967301,
                    9223372036854775808,
                    0,
                ],
            ),
        ];
        for (dt, want) in table {
            let b = f64s(&x).cast(*dt).unwrap();
            let size = dt.element_size().unwrap();
            for (i, w) in want.iter().enumerate() {
                let c = &b.data[i * size..(i + 1) * size];
                let got: i128 = match dt {
                    DType::Int8 => i8::from_le_bytes(c.try_into().unwrap()) as i128,
                    DType::Int16 => i16::from_le_bytes(c.try_into().unwrap()) as i128,
                    DType::Int32 => i32::from_le_bytes(c.try_into().unwrap()) as i128,
                    DType::Int64 => i64::from_le_bytes(c.try_into().unwrap()) as i128,
                    DType::UInt8 => u8::from_le_bytes(c.try_into().unwrap()) as i128,
                    DType::UInt16 => u16::from_le_bytes(c.try_into().unwrap()) as i128,
                    DType::UInt32 => u32::from_le_bytes(c.try_into().unwrap()) as i128,
                    _ => u64::from_le_bytes(c.try_into().unwrap()) as i128,
                };
                assert_eq!(got, *w, "{} -> {dt}", x[i]);
            }
        }
    }

    #[test]
    fn new_rejects_wrong_size() {
        assert!(Array::new(DType::Float32, vec![2], vec![0; 7]).is_err());
    }
}
