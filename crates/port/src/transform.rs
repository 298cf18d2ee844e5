//! Per-parameter transforms: pure functions on [`Array`]s, each with a shape-only twin
//! ([`Op::output_meta`]) so a whole plan is checked before any value is read.
//!
//! A transform chain starts from the list of input arrays (the TF variables, in order).
//! `concat`, `sum` and `cudnn_to_block` consume the whole list and leave one array; `const`
//! needs an empty list and leaves one array; every other op needs exactly one array.

use serde::{Deserialize, Serialize};
use tf_bundle::DType;

use crate::array::{
    arithmetic_dtype, block_perm, concat_meta, num_elements, py_shape, split_shapes,
    transpose_shape, Array, Meta,
};
use crate::error::{err, PortError, PortErrorKind};

/// Which output of the CuDNN canonical -> LSTM-block conversion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockPart {
    /// `(n_in + n, 4n)`, rows `[input; recurrent]`, gate blocks `i, j, f, o`.
    Kernel,
    /// `(4n,)`, gate blocks `i, j, f, o` (input bias + recurrent bias).
    Bias,
}

/// One transform step. Serialized with `"op"` as the tag (the rules file and the plan JSON use
/// the same form).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Op {
    /// `numpy.transpose(x, axes)`.
    Transpose { axes: Vec<usize> },
    /// Row-major reshape; one entry may be `-1` (inferred).
    Reshape { shape: Vec<i64> },
    /// Piece `index` of `numpy.split` along `axis`: either into `parts` equal pieces or into
    /// pieces of the given `sizes`.
    Split {
        axis: usize,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sizes: Option<Vec<u64>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parts: Option<u64>,
        index: usize,
    },
    /// `numpy.concatenate(inputs, axis)` of all arrays in the list.
    Concat { axis: usize },
    /// Elementwise sum of all arrays in the list (one dtype and shape).
    Sum,
    /// Reorders the equal blocks of `axis` from the order `from` to the order `to` (gate
    /// letters, e.g. `jifo` -> `ifjo`).
    GateReorder {
        axis: usize,
        from: String,
        to: String,
    },
    /// Adds `value` to every element, or with `axis`, `blocks`, `block` only to block `block`
    /// (0-based) of `blocks` equal blocks of `axis`.
    Add {
        value: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        axis: Option<usize>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        blocks: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        block: Option<u64>,
    },
    /// Multiplies every element by `factor`.
    Scale { factor: f64 },
    /// Converts to `dtype` (numpy `astype` rounding).
    Cast {
        #[serde(with = "crate::array::dtype_name")]
        dtype: DType,
    },
    /// A new array of `shape` filled with `value` (no inputs).
    Const {
        value: f64,
        #[serde(with = "crate::array::dtype_name")]
        dtype: DType,
        shape: Vec<u64>,
    },
    /// The 16 CuDNN canonical LSTM params (input weights i,f,c,o; recurrent weights i,f,c,o;
    /// input biases i,f,c,o; recurrent biases i,f,c,o) -> the LSTM-block layout (gates
    /// i,j,f,o), as RETURNN's `convert_cudnn_canonical_to_lstm_block`.
    CudnnToBlock { part: BlockPart },
}

fn tf_err(msg: impl Into<String>) -> PortError {
    err(PortErrorKind::TransformFailed, msg)
}

impl Op {
    /// Short human form, e.g. `transpose(1, 0)`.
    pub fn describe(&self) -> String {
        match self {
            Op::Transpose { axes } => format!("transpose{axes:?}"),
            Op::Reshape { shape } => format!("reshape{shape:?}"),
            Op::Split {
                axis,
                sizes,
                parts,
                index,
            } => match (sizes, parts) {
                (Some(s), _) => format!("split(axis {axis}, sizes {s:?})[{index}]"),
                (None, p) => format!("split(axis {axis}, {} parts)[{index}]", p.unwrap_or(0)),
            },
            Op::Concat { axis } => format!("concat(axis {axis})"),
            Op::Sum => "sum".into(),
            Op::GateReorder { axis, from, to } => format!("gates {from}->{to} (axis {axis})"),
            Op::Add {
                value,
                axis: Some(a),
                blocks: Some(n),
                block: Some(b),
            } => format!("add {value} to block {b}/{n} of axis {a}"),
            Op::Add { value, .. } => format!("add {value}"),
            Op::Scale { factor } => format!("scale {factor}"),
            Op::Cast { dtype } => format!("cast {dtype}"),
            Op::Const {
                value,
                dtype,
                shape,
            } => format!("const {value} {dtype} {}", py_shape(shape)),
            Op::CudnnToBlock { part } => format!("cudnn_to_block {part:?}"),
        }
    }

    fn block(&self) -> Result<Option<(usize, u64, u64)>, PortError> {
        match self {
            Op::Add {
                axis: None,
                blocks: None,
                block: None,
                ..
            } => Ok(None),
            Op::Add {
                axis: Some(a),
                blocks: Some(n),
                block: Some(b),
                ..
            } => Ok(Some((*a, *n, *b))),
            _ => Err(tf_err(
                "add: give all of axis, blocks and block, or none of them",
            )),
        }
    }

    fn split_sizes(&self, shape: &[u64]) -> Result<Vec<u64>, PortError> {
        let Op::Split {
            axis, sizes, parts, ..
        } = self
        else {
            return Err(tf_err("not a split"));
        };
        match (sizes, parts) {
            (Some(s), None) => Ok(s.clone()),
            (None, Some(p)) if *p > 0 => {
                let dim = *shape.get(*axis).ok_or_else(|| {
                    tf_err(format!(
                        "split: axis {axis} out of range for shape {}",
                        py_shape(shape)
                    ))
                })?;
                if dim % p != 0 {
                    return Err(tf_err(format!(
                        "split: axis {axis} of shape {} does not divide into {p} equal parts",
                        py_shape(shape)
                    )));
                }
                Ok(vec![dim / p; *p as usize])
            }
            _ => Err(tf_err("split: give exactly one of sizes or parts (> 0)")),
        }
    }

    /// The dtypes and shapes this op leaves, from those it gets (no values read).
    pub fn output_meta(&self, inputs: &[Meta]) -> Result<Vec<Meta>, PortError> {
        let one = || -> Result<&Meta, PortError> {
            match inputs {
                [m] => Ok(m),
                _ => Err(tf_err(format!(
                    "{} needs exactly one array, the chain has {} here (use concat or sum first)",
                    self.describe(),
                    inputs.len()
                ))),
            }
        };
        let arith = |m: &Meta| {
            if arithmetic_dtype(m.dtype) {
                Ok(())
            } else {
                Err(tf_err(format!(
                    "{}: arithmetic on {} values is not supported",
                    self.describe(),
                    m.dtype
                )))
            }
        };
        let out = match self {
            Op::Transpose { axes } => {
                let m = one()?;
                Meta {
                    dtype: m.dtype,
                    shape: transpose_shape(&m.shape, axes).map_err(tf_err)?,
                }
            }
            Op::Reshape { shape } => {
                let m = one()?;
                Meta {
                    dtype: m.dtype,
                    shape: reshape_target(&m.shape, shape)?,
                }
            }
            Op::Split { axis, index, .. } => {
                let m = one()?;
                let sizes = self.split_sizes(&m.shape)?;
                let shapes = split_shapes(&m.shape, *axis, &sizes).map_err(tf_err)?;
                let shape = shapes.get(*index).cloned().ok_or_else(|| {
                    tf_err(format!(
                        "split: piece {index} does not exist ({} pieces)",
                        shapes.len()
                    ))
                })?;
                Meta {
                    dtype: m.dtype,
                    shape,
                }
            }
            Op::Concat { axis } => concat_meta(inputs, *axis).map_err(tf_err)?,
            Op::Sum => {
                let first = inputs.first().ok_or_else(|| tf_err("sum of no arrays"))?;
                if inputs.iter().any(|m| m != first) {
                    return Err(tf_err(format!(
                        "sum needs arrays of one dtype and shape, found {}",
                        inputs
                            .iter()
                            .map(|m| format!("{} {}", m.dtype, py_shape(&m.shape)))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
                arith(first)?;
                first.clone()
            }
            Op::GateReorder { axis, from, to } => {
                let m = one()?;
                let k = block_perm(from, to).map_err(tf_err)?.len() as u64;
                match m.shape.get(*axis) {
                    Some(d) if d % k == 0 => m.clone(),
                    _ => {
                        return Err(tf_err(format!(
                            "gate reorder {from}->{to}: axis {axis} of shape {} does not split into {k} equal blocks",
                            py_shape(&m.shape)
                        )))
                    }
                }
            }
            Op::Add { value, .. } => {
                let m = one()?;
                arith(m)?;
                int_scalar(m.dtype, *value, self)?;
                if let Some((a, n, b)) = self.block()? {
                    match m.shape.get(a) {
                        Some(d) if n > 0 && d % n == 0 && b < n => {}
                        _ => {
                            return Err(tf_err(format!(
                                "add: block {b} of {n} equal blocks does not exist on axis {a} of shape {}",
                                py_shape(&m.shape)
                            )))
                        }
                    }
                }
                m.clone()
            }
            Op::Scale { factor } => {
                let m = one()?;
                arith(m)?;
                int_scalar(m.dtype, *factor, self)?;
                m.clone()
            }
            Op::Cast { dtype } => {
                let m = one()?;
                arith(m)?;
                arith(&Meta {
                    dtype: *dtype,
                    shape: vec![],
                })?;
                Meta {
                    dtype: *dtype,
                    shape: m.shape.clone(),
                }
            }
            Op::Const {
                dtype,
                shape,
                value,
            } => {
                if !inputs.is_empty() {
                    return Err(tf_err("const takes no inputs"));
                }
                let m = Meta {
                    dtype: *dtype,
                    shape: shape.clone(),
                };
                arith(&m)?;
                // validates the value against the dtype without allocating
                Array::filled(*dtype, vec![], *value).map_err(tf_err)?;
                crate::array::byte_len(&m)
                    .filter(|&b| b <= isize::MAX as u64)
                    .ok_or_else(|| {
                        tf_err(format!("const: shape {} is too large", py_shape(shape)))
                    })?;
                m
            }
            Op::CudnnToBlock { part } => {
                let (n_in, n) = cudnn_dims(inputs)?;
                Meta {
                    dtype: inputs[0].dtype,
                    shape: match part {
                        BlockPart::Kernel => vec![n_in + n, 4 * n],
                        BlockPart::Bias => vec![4 * n],
                    },
                }
            }
        };
        Ok(vec![out])
    }

    /// Applies the op (its [`Op::output_meta`] is checked first).
    pub fn apply(&self, inputs: Vec<Array>) -> Result<Vec<Array>, PortError> {
        let metas: Vec<Meta> = inputs.iter().map(Array::meta).collect();
        let out_meta = self.output_meta(&metas)?.remove(0);
        let mut inputs = inputs;
        let out = match self {
            Op::Transpose { axes } => inputs[0].transpose(axes),
            Op::Reshape { .. } => inputs.swap_remove(0).reshape(out_meta.shape),
            Op::Split { axis, index, .. } => {
                let sizes = self.split_sizes(&inputs[0].shape)?;
                inputs[0]
                    .split(*axis, &sizes)
                    .map(|mut p| p.swap_remove(*index))
            }
            Op::Concat { axis } => Array::concat(&inputs, *axis),
            Op::Sum => Array::sum(&inputs),
            Op::GateReorder { axis, from, to } => inputs[0].reorder_blocks(*axis, from, to),
            Op::Add { value, .. } => inputs[0].add_scalar(*value, self.block()?),
            Op::Scale { factor } => inputs[0].scale(*factor),
            Op::Cast { dtype } => inputs[0].cast(*dtype),
            Op::Const {
                value,
                dtype,
                shape,
            } => Array::filled(*dtype, shape.clone(), *value),
            Op::CudnnToBlock { part } => cudnn_to_block(&inputs, *part),
        }
        .map_err(|m| tf_err(format!("{}: {m}", self.describe())))?;
        Ok(vec![out])
    }
}

/// An integer array only takes integer constants (add, scale).
fn int_scalar(dtype: DType, x: f64, op: &Op) -> Result<(), PortError> {
    if !dtype.is_float() && x.fract() != 0.0 {
        return Err(tf_err(format!(
            "{}: a {dtype} array needs an integer constant",
            op.describe()
        )));
    }
    Ok(())
}

/// The shape `reshape` produces (one `-1` inferred).
fn reshape_target(from: &[u64], to: &[i64]) -> Result<Vec<u64>, PortError> {
    let n = num_elements(from).ok_or_else(|| tf_err("shape overflows"))?;
    let unknown = to.iter().filter(|&&d| d == -1).count();
    if unknown > 1 || to.iter().any(|&d| d < -1) {
        return Err(tf_err(format!(
            "reshape {to:?}: at most one -1, no other negative dims"
        )));
    }
    let known = to
        .iter()
        .filter(|&&d| d >= 0)
        .try_fold(1u64, |a, &d| a.checked_mul(d as u64))
        .ok_or_else(|| tf_err("shape overflows"))?;
    let out: Vec<u64> = to
        .iter()
        .map(|&d| {
            if d == -1 {
                n.checked_div(known).unwrap_or(0)
            } else {
                d as u64
            }
        })
        .collect();
    if num_elements(&out) != Some(n) {
        return Err(tf_err(format!(
            "cannot reshape an array of shape {} into {to:?}",
            py_shape(from)
        )));
    }
    Ok(out)
}

/// `(n_in, n)` of 16 CuDNN canonical LSTM params, with RETURNN's checks: tensor 15 is 1-D,
/// `n_in = size(t0) / n`; tensors 0-3 hold `n * n_in`, 4-7 `n * n`, 8-15 `n` elements.
fn cudnn_dims(inputs: &[Meta]) -> Result<(u64, u64), PortError> {
    if inputs.len() != 16 {
        return Err(tf_err(format!(
            "cudnn_to_block needs the 16 canonical params, got {}",
            inputs.len()
        )));
    }
    let dtype = inputs[0].dtype;
    if inputs.iter().any(|m| m.dtype != dtype) {
        return Err(tf_err(
            "cudnn_to_block: the 16 params have different dtypes",
        ));
    }
    if !arithmetic_dtype(dtype) {
        return Err(tf_err(format!(
            "cudnn_to_block: {dtype} is not a numeric dtype"
        )));
    }
    let n = match inputs[15].shape.as_slice() {
        [n] if *n > 0 => *n,
        other => {
            return Err(tf_err(format!(
                "CuDNN canonical param 15 (recurrent bias o) must be 1-D and non-empty, found {}",
                py_shape(other)
            )))
        }
    };
    let size0 = num_elements(&inputs[0].shape).ok_or_else(|| tf_err("shape overflows"))?;
    if size0 % n != 0 || size0 == 0 {
        return Err(tf_err(format!(
            "CuDNN canonical param 0 has {size0} elements, not a positive multiple of n = {n}"
        )));
    }
    let n_in = size0 / n;
    for (t, m) in inputs.iter().enumerate() {
        let want = match t {
            0..=3 => n * n_in,
            4..=7 => n * n,
            _ => n,
        };
        if num_elements(&m.shape) != Some(want) {
            return Err(tf_err(format!(
                "CuDNN canonical param {t}: expected {want} elements (n_in = {n_in}, n = {n}), found shape {}",
                py_shape(&m.shape)
            )));
        }
    }
    Ok((n_in, n))
}

fn cudnn_to_block(t: &[Array], part: BlockPart) -> Result<Array, String> {
    let metas: Vec<Meta> = t.iter().map(Array::meta).collect();
    let (n_in, n) = cudnn_dims(&metas).map_err(|e| e.message().to_string())?;
    // canonical gate g in i,f,c,o order; block order i,c(j),f,o = canonical 0,2,1,3
    let order = [0usize, 2, 1, 3];
    match part {
        BlockPart::Kernel => {
            // per gate: [Win (n, n_in) | Wrec (n, n)] -> (n, n_in+n); stacked (4n, n_in+n); .T
            let mut rows = Vec::with_capacity(4);
            for &g in &order {
                let win = t[g].clone().reshape(vec![n, n_in])?;
                let wrec = t[4 + g].clone().reshape(vec![n, n])?;
                rows.push(Array::concat(&[win, wrec], 1)?);
            }
            Array::concat(&rows, 0)?.transpose(&[1, 0])
        }
        BlockPart::Bias => {
            let mut parts = Vec::with_capacity(4);
            for &g in &order {
                let bin = t[8 + g].clone().reshape(vec![n])?;
                let brec = t[12 + g].clone().reshape(vec![n])?;
                parts.push(Array::sum(&[bin, brec])?);
            }
            Array::concat(&parts, 0)
        }
    }
}

/// The dtype and shape a chain leaves, from its inputs' (no values read).
pub fn chain_meta(inputs: &[Meta], ops: &[Op]) -> Result<Meta, PortError> {
    let mut cur = inputs.to_vec();
    for op in ops {
        cur = op.output_meta(&cur)?;
    }
    match cur.len() {
        1 => Ok(cur.remove(0)),
        n => Err(tf_err(format!(
            "the transforms leave {n} arrays, not one (use concat or sum)"
        ))),
    }
}

/// Applies a chain to its input arrays.
pub fn chain_apply(inputs: Vec<Array>, ops: &[Op]) -> Result<Array, PortError> {
    let mut cur = inputs;
    for op in ops {
        cur = op.apply(cur)?;
    }
    match cur.len() {
        1 => Ok(cur.remove(0)),
        n => Err(tf_err(format!(
            "the transforms leave {n} arrays, not one (use concat or sum)"
        ))),
    }
}
