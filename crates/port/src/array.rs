//! Typed dense arrays (dtype, shape, little-endian C-order bytes) and the element moves and
//! arithmetic the transforms need. Moves (transpose, split, concat, block reorder, reshape)
//! are exact for every fixed-size dtype; arithmetic (add, scale, sum, cast) is defined for
//! float16, bfloat16, float32, float64 and the integer dtypes, with numpy's rounding (float16
//! and bfloat16 are computed in float32 and rounded back once).

use half::{bf16, f16};
use serde::{Deserialize, Serialize};
use tf_bundle::DType;

/// The shape-only twin of an [`Array`]: what a plan knows before any value is read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    #[serde(with = "dtype_name")]
    pub dtype: DType,
    pub shape: Vec<u64>,
}

/// A dense numeric tensor: dtype, shape and raw little-endian bytes in C (row-major) order.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    pub dtype: DType,
    pub shape: Vec<u64>,
    pub data: Vec<u8>,
}

/// serde of a [`DType`] as its numpy name (`"float32"`, `"bfloat16"`, ...).
pub mod dtype_name {
    use serde::{Deserialize, Deserializer, Serializer};
    use tf_bundle::DType;

    pub fn serialize<S: Serializer>(d: &DType, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(d.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DType, D::Error> {
        let name = String::deserialize(d)?;
        DType::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown dtype {name:?}")))
    }
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

/// Number of elements of `shape`, `None` on overflow.
pub fn num_elements(shape: &[u64]) -> Option<u64> {
    shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d))
}

/// Byte length of a tensor of `meta`, `None` for variable-size dtypes or on overflow.
pub fn byte_len(meta: &Meta) -> Option<u64> {
    num_elements(&meta.shape)?.checked_mul(meta.dtype.element_size()? as u64)
}

/// Whether `d` supports the arithmetic transforms (add, scale, sum, cast, const).
pub fn arithmetic_dtype(d: DType) -> bool {
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

impl Array {
    /// Builds an array, checking that `data` holds exactly `shape` elements of `dtype`.
    pub fn new(dtype: DType, shape: Vec<u64>, data: Vec<u8>) -> Result<Array, String> {
        let meta = Meta { dtype, shape };
        let want = byte_len(&meta).ok_or_else(|| {
            format!(
                "dtype {dtype} with shape {} has no fixed byte size",
                py_shape(&meta.shape)
            )
        })?;
        if want != data.len() as u64 {
            return Err(format!(
                "a {dtype} array of shape {} needs {want} bytes, found {}",
                py_shape(&meta.shape),
                data.len()
            ));
        }
        Ok(Array {
            dtype,
            shape: meta.shape,
            data,
        })
    }

    /// A float32 array from values (tests and examples).
    pub fn from_f32(shape: Vec<u64>, values: &[f32]) -> Result<Array, String> {
        Array::new(
            DType::Float32,
            shape,
            values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        )
    }

    /// A float64 array from values (tests and examples).
    pub fn from_f64(shape: Vec<u64>, values: &[f64]) -> Result<Array, String> {
        Array::new(
            DType::Float64,
            shape,
            values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        )
    }

    /// Dtype and shape.
    pub fn meta(&self) -> Meta {
        Meta {
            dtype: self.dtype,
            shape: self.shape.clone(),
        }
    }

    fn esize(&self) -> usize {
        self.dtype.element_size().unwrap_or(1)
    }

    /// The values as f64 (exact for every float dtype up to float64 and for integers up to
    /// 2^53), for tests and diagnostics.
    pub fn to_f64_vec(&self) -> Result<Vec<f64>, String> {
        decode(self.dtype, &self.data)
    }

    /// Row-major reshape; the element count must stay the same.
    pub fn reshape(mut self, shape: Vec<u64>) -> Result<Array, String> {
        if num_elements(&shape) != num_elements(&self.shape) {
            return Err(format!(
                "cannot reshape an array of shape {} into shape {}",
                py_shape(&self.shape),
                py_shape(&shape)
            ));
        }
        self.shape = shape;
        Ok(self)
    }

    /// `numpy.transpose(x, axes)`: output axis `k` is input axis `axes[k]`.
    pub fn transpose(&self, axes: &[usize]) -> Result<Array, String> {
        let out_shape = transpose_shape(&self.shape, axes)?;
        let nd = self.shape.len();
        let es = self.esize();
        if nd <= 1 || axes.iter().enumerate().all(|(i, &a)| i == a) {
            return Array::new(self.dtype, out_shape, self.data.clone());
        }
        // input strides (in elements)
        let mut in_strides = vec![1usize; nd];
        for k in (0..nd.saturating_sub(1)).rev() {
            in_strides[k] = in_strides[k + 1] * self.shape[k + 1] as usize;
        }
        let strides: Vec<usize> = axes.iter().map(|&a| in_strides[a]).collect();
        let dims: Vec<usize> = out_shape.iter().map(|&d| d as usize).collect();
        let n: usize = dims.iter().product();
        let mut out = Vec::with_capacity(self.data.len());
        let mut idx = vec![0usize; nd];
        let mut src = 0usize;
        for _ in 0..n {
            out.extend_from_slice(&self.data[src * es..(src + 1) * es]);
            // odometer increment over the output index, tracking the source offset
            let mut k = nd;
            while k > 0 {
                k -= 1;
                idx[k] += 1;
                src += strides[k];
                if idx[k] < dims[k] {
                    break;
                }
                src -= strides[k] * dims[k];
                idx[k] = 0;
            }
        }
        Array::new(self.dtype, out_shape, out)
    }

    /// `numpy.split(x, cumsum(sizes)[:-1], axis)`: the pieces along `axis`.
    pub fn split(&self, axis: usize, sizes: &[u64]) -> Result<Vec<Array>, String> {
        let metas = split_shapes(&self.shape, axis, sizes)?;
        let (outer, _, inner) = outer_inner(&self.shape, axis);
        let es = self.esize();
        let row = self.shape[axis] as usize * inner * es;
        let mut pieces = Vec::with_capacity(sizes.len());
        let mut start = 0usize;
        for (s, shape) in sizes.iter().zip(metas) {
            let len = *s as usize * inner * es;
            let mut data = Vec::with_capacity(len * outer);
            for o in 0..outer {
                let base = o * row + start;
                data.extend_from_slice(&self.data[base..base + len]);
            }
            pieces.push(Array::new(self.dtype, shape, data)?);
            start += len;
        }
        Ok(pieces)
    }

    /// `numpy.concatenate(arrays, axis)`.
    pub fn concat(arrays: &[Array], axis: usize) -> Result<Array, String> {
        let metas: Vec<Meta> = arrays.iter().map(Array::meta).collect();
        let out = concat_meta(&metas, axis)?;
        let (outer, _, inner) = outer_inner(&out.shape, axis);
        let es = out.dtype.element_size().unwrap_or(1);
        let mut data = Vec::with_capacity(arrays.iter().map(|a| a.data.len()).sum());
        for o in 0..outer {
            for a in arrays {
                let len = a.shape[axis] as usize * inner * es;
                data.extend_from_slice(&a.data[o * len..(o + 1) * len]);
            }
        }
        Array::new(out.dtype, out.shape, data)
    }

    /// Reorders `from.len()` equal blocks of `axis` from the order named by `from` to the order
    /// named by `to` (both strings of the same distinct letters, e.g. `jifo` -> `ifjo`).
    pub fn reorder_blocks(&self, axis: usize, from: &str, to: &str) -> Result<Array, String> {
        let perm = block_perm(from, to)?;
        let k = perm.len() as u64;
        let dim = *self
            .shape
            .get(axis)
            .ok_or_else(|| axis_err(axis, &self.shape))?;
        if dim % k != 0 {
            return Err(format!(
                "axis {axis} of size {dim} does not split into {k} equal blocks"
            ));
        }
        let pieces = self.split(axis, &vec![dim / k; k as usize])?;
        let ordered: Vec<Array> = perm.iter().map(|&p| pieces[p].clone()).collect();
        Array::concat(&ordered, axis)
    }

    /// Adds `value` to every element, or (with `block = Some((axis, blocks, b))`) only to block
    /// `b` of `blocks` equal blocks along `axis`.
    pub fn add_scalar(
        &self,
        value: f64,
        block: Option<(usize, u64, u64)>,
    ) -> Result<Array, String> {
        let range = element_mask(&self.shape, block)?;
        map_elements(self, range, |x, dt| {
            binary_scalar(x, value, dt, |a, b| a + b)
        })
    }

    /// Multiplies every element by `factor`.
    pub fn scale(&self, factor: f64) -> Result<Array, String> {
        map_elements(self, None, |x, dt| {
            binary_scalar(x, factor, dt, |a, b| a * b)
        })
    }

    /// Elementwise sum of arrays of one dtype and shape, left to right, each step rounded to
    /// the dtype (float16/bfloat16 through float32).
    pub fn sum(arrays: &[Array]) -> Result<Array, String> {
        let first = arrays.first().ok_or("sum of no arrays")?;
        if arrays.iter().any(|a| a.meta() != first.meta()) {
            return Err("sum needs arrays of one dtype and shape".into());
        }
        check_arith(first.dtype)?;
        let mut acc = decode(first.dtype, &first.data)?;
        for a in &arrays[1..] {
            let v = decode(a.dtype, &a.data)?;
            for (x, y) in acc.iter_mut().zip(v) {
                *x = round_to(first.dtype, compute(first.dtype, *x, y, |p, q| p + q));
            }
        }
        Array::new(first.dtype, first.shape.clone(), encode(first.dtype, &acc)?)
    }

    /// Converts to `to` with numpy's `astype` rounding for float targets (round to nearest
    /// even; float64 -> bfloat16 through float32, as ml_dtypes does) and truncation for
    /// float -> integer (values outside the range are an error).
    pub fn cast(&self, to: DType) -> Result<Array, String> {
        if self.dtype == to {
            return Ok(self.clone());
        }
        check_arith(self.dtype)?;
        check_arith(to)?;
        let v = decode(self.dtype, &self.data)?;
        let out: Vec<f64> = if is_int(to) {
            v.into_iter()
                .map(|x| {
                    let t = x.trunc();
                    if !t.is_finite() || t < int_min(to) || t > int_max(to) {
                        Err(format!("value {x} does not fit {to}"))
                    } else {
                        Ok(t)
                    }
                })
                .collect::<Result<_, _>>()?
        } else {
            v.into_iter().map(|x| round_to(to, x)).collect()
        };
        Array::new(to, self.shape.clone(), encode(to, &out)?)
    }

    /// An array of `shape` filled with `value` (rounded to `dtype`).
    pub fn filled(dtype: DType, shape: Vec<u64>, value: f64) -> Result<Array, String> {
        check_arith(dtype)?;
        let n = num_elements(&shape).ok_or("shape overflows")?;
        let one = encode(dtype, &[round_to(dtype, value)])?;
        if is_int(dtype)
            && (value.trunc() != value || value < int_min(dtype) || value > int_max(dtype))
        {
            return Err(format!("value {value} is not a {dtype}"));
        }
        let total = usize::try_from(n)
            .ok()
            .and_then(|n| n.checked_mul(one.len()))
            .filter(|&t| t <= isize::MAX as usize)
            .ok_or_else(|| format!("a {dtype} array of shape {} is too large", py_shape(&shape)))?;
        let mut data = Vec::with_capacity(total);
        for _ in 0..n {
            data.extend_from_slice(&one);
        }
        Array::new(dtype, shape, data)
    }
}

fn axis_err(axis: usize, shape: &[u64]) -> String {
    format!(
        "axis {axis} is out of range for an array of shape {}",
        py_shape(shape)
    )
}

/// (product of dims before `axis`, dim, product of dims after `axis`).
fn outer_inner(shape: &[u64], axis: usize) -> (usize, usize, usize) {
    let outer: u64 = shape[..axis].iter().product();
    let inner: u64 = shape[axis + 1..].iter().product();
    (outer as usize, shape[axis] as usize, inner as usize)
}

/// Output shape of a transpose, checking that `axes` is a permutation of the axes.
pub fn transpose_shape(shape: &[u64], axes: &[usize]) -> Result<Vec<u64>, String> {
    let nd = shape.len();
    let mut seen = vec![false; nd];
    if axes.len() != nd
        || axes
            .iter()
            .any(|&a| a >= nd || std::mem::replace(&mut seen[a], true))
    {
        return Err(format!(
            "axes {axes:?} are not a permutation of the {nd} axes of shape {}",
            py_shape(shape)
        ));
    }
    Ok(axes.iter().map(|&a| shape[a]).collect())
}

/// Shapes of the pieces of a split.
pub fn split_shapes(shape: &[u64], axis: usize, sizes: &[u64]) -> Result<Vec<Vec<u64>>, String> {
    let dim = *shape.get(axis).ok_or_else(|| axis_err(axis, shape))?;
    let total = sizes.iter().try_fold(0u64, |a, &s| a.checked_add(s));
    if sizes.is_empty() || total != Some(dim) {
        return Err(format!(
            "split sizes {sizes:?} do not add up to axis {axis} of shape {}",
            py_shape(shape)
        ));
    }
    Ok(sizes
        .iter()
        .map(|&s| {
            let mut out = shape.to_vec();
            out[axis] = s;
            out
        })
        .collect())
}

/// Dtype and shape of a concatenation.
pub fn concat_meta(metas: &[Meta], axis: usize) -> Result<Meta, String> {
    let first = metas.first().ok_or("concat of no arrays")?;
    if first.shape.len() <= axis {
        return Err(axis_err(axis, &first.shape));
    }
    let mut total = 0u64;
    for m in metas {
        let same_rest = m.shape.len() == first.shape.len()
            && m.shape
                .iter()
                .zip(&first.shape)
                .enumerate()
                .all(|(i, (a, b))| i == axis || a == b);
        if m.dtype != first.dtype || !same_rest {
            return Err(format!(
                "cannot concatenate {} {} and {} {} along axis {axis}",
                first.dtype,
                py_shape(&first.shape),
                m.dtype,
                py_shape(&m.shape)
            ));
        }
        total = total.checked_add(m.shape[axis]).ok_or("shape overflows")?;
    }
    let mut shape = first.shape.clone();
    shape[axis] = total;
    Ok(Meta {
        dtype: first.dtype,
        shape,
    })
}

/// `perm[k]` = index in `from` of the k-th letter of `to`.
pub fn block_perm(from: &str, to: &str) -> Result<Vec<usize>, String> {
    let f: Vec<char> = from.chars().collect();
    let t: Vec<char> = to.chars().collect();
    let distinct = |v: &[char]| {
        let mut s = v.to_vec();
        s.sort_unstable();
        s.dedup();
        s.len() == v.len()
    };
    let mut fs = f.clone();
    let mut ts = t.clone();
    fs.sort_unstable();
    ts.sort_unstable();
    if f.is_empty() || !distinct(&f) || fs != ts {
        return Err(format!(
            "gate orders {from:?} and {to:?} must be the same distinct letters"
        ));
    }
    Ok(t.iter()
        .map(|c| f.iter().position(|x| x == c).unwrap_or(0))
        .collect())
}

/// For a block-restricted add: per element whether it is in the block.
fn element_mask(
    shape: &[u64],
    block: Option<(usize, u64, u64)>,
) -> Result<Option<Vec<bool>>, String> {
    let Some((axis, blocks, b)) = block else {
        return Ok(None);
    };
    let dim = *shape.get(axis).ok_or_else(|| axis_err(axis, shape))?;
    if blocks == 0 || dim % blocks != 0 || b >= blocks {
        return Err(format!(
            "block {b} of {blocks} equal blocks does not exist on axis {axis} of shape {}",
            py_shape(shape)
        ));
    }
    let (outer, dim, inner) = outer_inner(shape, axis);
    let bs = dim / blocks as usize;
    let (lo, hi) = (b as usize * bs, (b as usize + 1) * bs);
    let mut mask = Vec::with_capacity(outer * dim * inner);
    for _ in 0..outer {
        for i in 0..dim {
            mask.extend(std::iter::repeat_n(i >= lo && i < hi, inner));
        }
    }
    Ok(Some(mask))
}

fn map_elements(
    a: &Array,
    mask: Option<Vec<bool>>,
    f: impl Fn(f64, DType) -> f64,
) -> Result<Array, String> {
    check_arith(a.dtype)?;
    let mut v = decode(a.dtype, &a.data)?;
    for (i, x) in v.iter_mut().enumerate() {
        if mask.as_ref().is_none_or(|m| m[i]) {
            *x = f(*x, a.dtype);
        }
    }
    if is_int(a.dtype)
        && v.iter()
            .any(|&x| x < int_min(a.dtype) || x > int_max(a.dtype) || x.trunc() != x)
    {
        return Err(format!("integer result does not fit {}", a.dtype));
    }
    Array::new(a.dtype, a.shape.clone(), encode(a.dtype, &v)?)
}

/// `x op scalar` as numpy does for an array of `dt` and a Python float scalar (NEP 50: the
/// scalar is first converted to the array's dtype; float16/bfloat16 then compute in float32).
fn binary_scalar(x: f64, s: f64, dt: DType, op: impl Fn(f64, f64) -> f64) -> f64 {
    if is_int(dt) {
        return op(x, s);
    }
    let s = round_to(dt, s);
    round_to(dt, compute(dt, x, s, op))
}

/// One arithmetic step in the dtype's compute precision (float32 for float32/float16/bfloat16,
/// float64 for float64 and integers).
fn compute(dt: DType, x: f64, y: f64, op: impl Fn(f64, f64) -> f64) -> f64 {
    match dt {
        DType::Float32 | DType::Float16 | DType::BFloat16 => {
            let r = op(x, y) as f32;
            // op in f64 of two f32 values then rounded to f32 equals the f32 op for + and *
            // (both exact in f64 for f32 inputs: 24+24 bits fit 53)
            r as f64
        }
        _ => op(x, y),
    }
}

fn round_to(dt: DType, x: f64) -> f64 {
    match dt {
        DType::Float32 => x as f32 as f64,
        DType::Float16 => f16::from_f64(x).to_f64(),
        DType::BFloat16 => bf16::from_f32(x as f32).to_f64(),
        _ => x,
    }
}

fn is_int(d: DType) -> bool {
    matches!(
        d,
        DType::Int8
            | DType::Int16
            | DType::Int32
            | DType::Int64
            | DType::UInt8
            | DType::UInt16
            | DType::UInt32
            | DType::UInt64
    )
}

fn int_min(d: DType) -> f64 {
    match d {
        DType::Int8 => i8::MIN as f64,
        DType::Int16 => i16::MIN as f64,
        DType::Int32 => i32::MIN as f64,
        DType::Int64 => i64::MIN as f64,
        _ => 0.0,
    }
}

fn int_max(d: DType) -> f64 {
    match d {
        DType::Int8 => i8::MAX as f64,
        DType::Int16 => i16::MAX as f64,
        DType::Int32 => i32::MAX as f64,
        // the largest f64 below 2^63 / 2^64 (exact integers only up to 2^53 anyway)
        DType::Int64 => 9_223_372_036_854_774_784.0,
        DType::UInt8 => u8::MAX as f64,
        DType::UInt16 => u16::MAX as f64,
        DType::UInt32 => u32::MAX as f64,
        DType::UInt64 => 18_446_744_073_709_549_568.0,
        _ => f64::MAX,
    }
}

fn check_arith(d: DType) -> Result<(), String> {
    if arithmetic_dtype(d) {
        Ok(())
    } else {
        Err(format!(
            "arithmetic on {d} values is not supported (float16, bfloat16, float32, float64 and integers are)"
        ))
    }
}

fn decode(d: DType, data: &[u8]) -> Result<Vec<f64>, String> {
    fn chunks<const N: usize>(data: &[u8], f: impl Fn([u8; N]) -> f64) -> Vec<f64> {
        data.chunks_exact(N)
            .map(|c| {
                let mut b = [0u8; N];
                b.copy_from_slice(c);
                f(b)
            })
            .collect()
    }
    Ok(match d {
        DType::Float32 => chunks::<4>(data, |b| f32::from_le_bytes(b) as f64),
        DType::Float64 => chunks::<8>(data, f64::from_le_bytes),
        DType::Float16 => chunks::<2>(data, |b| f16::from_le_bytes(b).to_f64()),
        DType::BFloat16 => chunks::<2>(data, |b| bf16::from_le_bytes(b).to_f64()),
        DType::Int8 => chunks::<1>(data, |b| i8::from_le_bytes(b) as f64),
        DType::Int16 => chunks::<2>(data, |b| i16::from_le_bytes(b) as f64),
        DType::Int32 => chunks::<4>(data, |b| i32::from_le_bytes(b) as f64),
        DType::Int64 => chunks::<8>(data, |b| i64::from_le_bytes(b) as f64),
        DType::UInt8 => chunks::<1>(data, |b| b[0] as f64),
        DType::UInt16 => chunks::<2>(data, |b| u16::from_le_bytes(b) as f64),
        DType::UInt32 => chunks::<4>(data, |b| u32::from_le_bytes(b) as f64),
        DType::UInt64 => chunks::<8>(data, |b| u64::from_le_bytes(b) as f64),
        other => return Err(format!("values of dtype {other} cannot be decoded")),
    })
}

fn encode(d: DType, v: &[f64]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(v.len() * d.element_size().unwrap_or(1));
    for &x in v {
        match d {
            DType::Float32 => out.extend_from_slice(&(x as f32).to_le_bytes()),
            DType::Float64 => out.extend_from_slice(&x.to_le_bytes()),
            DType::Float16 => out.extend_from_slice(&f16::from_f64(x).to_le_bytes()),
            DType::BFloat16 => out.extend_from_slice(&bf16::from_f32(x as f32).to_le_bytes()),
            DType::Int8 => out.extend_from_slice(&(x as i8).to_le_bytes()),
            DType::Int16 => out.extend_from_slice(&(x as i16).to_le_bytes()),
            DType::Int32 => out.extend_from_slice(&(x as i32).to_le_bytes()),
            DType::Int64 => out.extend_from_slice(&(x as i64).to_le_bytes()),
            DType::UInt8 => out.extend_from_slice(&(x as u8).to_le_bytes()),
            DType::UInt16 => out.extend_from_slice(&(x as u16).to_le_bytes()),
            DType::UInt32 => out.extend_from_slice(&(x as u32).to_le_bytes()),
            DType::UInt64 => out.extend_from_slice(&(x as u64).to_le_bytes()),
            other => return Err(format!("values of dtype {other} cannot be encoded")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(shape: &[u64], v: &[f32]) -> Array {
        Array::from_f32(shape.to_vec(), v).unwrap()
    }

    #[test]
    fn transpose_3d_matches_numpy() {
        // numpy.arange(24).reshape(2,3,4).transpose(2,0,1)[1,1,2] == x[1,2,1] == 1*12+2*4+1 = 21
        let x = f(&[2, 3, 4], &(0..24).map(|i| i as f32).collect::<Vec<_>>());
        let t = x.transpose(&[2, 0, 1]).unwrap();
        assert_eq!(t.shape, vec![4, 2, 3]);
        let v = t.to_f64_vec().unwrap();
        assert_eq!(v[6 + 3 + 2], 21.0);
        assert_eq!(v[..6], [0.0, 4.0, 8.0, 12.0, 16.0, 20.0]);
    }

    #[test]
    fn split_concat_reorder() {
        let x = f(&[2, 4], &[0., 1., 2., 3., 4., 5., 6., 7.]);
        let p = x.split(1, &[1, 3]).unwrap();
        assert_eq!(p[0].to_f64_vec().unwrap(), vec![0., 4.]);
        assert_eq!(p[1].to_f64_vec().unwrap(), vec![1., 2., 3., 5., 6., 7.]);
        assert_eq!(Array::concat(&p, 1).unwrap(), x);
        let r = x.reorder_blocks(1, "jifo", "ifjo").unwrap();
        assert_eq!(
            r.to_f64_vec().unwrap(),
            vec![1., 2., 0., 3., 5., 6., 4., 7.]
        );
        assert!(x.reorder_blocks(1, "abc", "abc").is_err());
    }

    #[test]
    fn add_block_and_rounding() {
        let x = f(&[8], &[0.; 8]);
        let y = x.add_scalar(1.5, Some((0, 4, 2))).unwrap();
        assert_eq!(
            y.to_f64_vec().unwrap(),
            vec![0., 0., 0., 0., 1.5, 1.5, 0., 0.]
        );
        // float16: 2048 + 1 rounds back to 2048 (ties to even)
        let h = Array::new(
            DType::Float16,
            vec![1],
            f16::from_f32(2048.0).to_le_bytes().to_vec(),
        )
        .unwrap();
        assert_eq!(
            h.add_scalar(1.0, None).unwrap().to_f64_vec().unwrap(),
            vec![2048.0]
        );
        assert!(Array::new(DType::String, vec![1], vec![0]).is_err());
    }
}
