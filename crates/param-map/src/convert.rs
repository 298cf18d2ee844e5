//! The value transforms of RETURNN's automatic conversions, as pure functions on arrays
//! (docs/returnn-mapping.md §6), each with a shape-only twin so the plan can check everything
//! before a byte is read.
//!
//! Dtypes: all transforms except the CuDNN bias only move elements, so they are exact for every
//! fixed-size dtype (float16/bfloat16/float32/float64 alike, as numpy's split/concatenate are).
//! The CuDNN bias adds two biases with numpy semantics for the stored dtype (see
//! [`Array::add`]). Inputs of one transform must share a dtype (numpy would promote; RETURNN
//! checkpoints never mix).

use tf_bundle::DType;

use crate::array::{num_elements, py_shape, Array};
use crate::error::{MapError, MapErrorKind};

/// Which output of the BasicLSTM -> NativeLSTM conversion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NativePart {
    W,
    WRe,
    B,
}

/// Which output of the CuDNN canonical -> LSTM block conversion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockPart {
    Kernel,
    Bias,
}

/// How the value of a variable is computed from its source tensors (in the order of the
/// assignment's `keys`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transform {
    /// One key, value as is.
    Identity,
    /// One key, row-major ravel to 1-D (batch norm -> `param_version` 2,
    /// docs/returnn-mapping.md R-BN-2).
    Flatten,
    /// Keys `[W, W_re]`: stack rows `[W; W_re]`, swap gate blocks 0,1
    /// (docs/returnn-mapping.md R-LSTM-N2B-1).
    NativeToBasicKernel,
    /// Key `[b]`: swap gate blocks 0,1 (docs/returnn-mapping.md R-LSTM-N2B-2).
    NativeToBasicBias,
    /// One output of the BasicLSTM -> NativeLSTM split (docs/returnn-mapping.md R-LSTM-B2N-1/2):
    /// key `[kernel]` for `W` / `W_re` (`n` = columns / 4), key `[bias]` for `b`. RETURNN reads
    /// both tensors and checks them together; the plan does that check on the shapes of both
    /// ([`check_basic_pair`]).
    BasicToNative(NativePart),
    /// Keys `cudnn/CudnnRNNParamsToCanonical:0..15` (docs/returnn-mapping.md R-CUDNN-2).
    CudnnToBlock(BlockPart),
}

impl Transform {
    /// The `<kind>` of the plan's `convert:<kind>` rule label (`None` for plain reads/renames).
    /// The LSTM kinds are the transform names of the fixtures' load oracles.
    pub fn kind(&self) -> Option<&'static str> {
        Some(match self {
            Transform::Identity => return None,
            Transform::Flatten => "batch_norm_to_v2",
            Transform::NativeToBasicKernel => "native_lstm_to_basic_kernel",
            Transform::NativeToBasicBias => "native_lstm_to_basic_bias",
            Transform::BasicToNative(NativePart::W) => "basic_lstm_to_native_lstm_W",
            Transform::BasicToNative(NativePart::WRe) => "basic_lstm_to_native_lstm_W_re",
            Transform::BasicToNative(NativePart::B) => "basic_lstm_to_native_lstm_b",
            Transform::CudnnToBlock(BlockPart::Kernel) => "cudnn_to_lstm_block_kernel",
            Transform::CudnnToBlock(BlockPart::Bias) => "cudnn_to_lstm_block_bias",
        })
    }

    /// The number of source tensors this transform takes.
    pub fn arity(&self) -> usize {
        match self {
            Transform::Identity
            | Transform::Flatten
            | Transform::NativeToBasicBias
            | Transform::BasicToNative(_) => 1,
            Transform::NativeToBasicKernel => 2,
            Transform::CudnnToBlock(_) => 16,
        }
    }

    /// Dtype and shape of the result, from the inputs' dtypes and shapes only; fails exactly
    /// where [`Transform::apply`] would.
    pub fn output_meta(&self, inputs: &[(DType, Vec<u64>)]) -> Result<(DType, Vec<u64>), MapError> {
        if inputs.len() != self.arity() {
            return Err(err(format!(
                "transform {:?} takes {} inputs, got {}",
                self,
                self.arity(),
                inputs.len()
            )));
        }
        let dtype = inputs[0].0;
        if inputs.iter().any(|(d, _)| *d != dtype) {
            return Err(MapError::new(
                MapErrorKind::DtypeMismatch,
                "inputs of one conversion have different dtypes (not supported)",
            ));
        }
        let s = |i: usize| inputs[i].1.as_slice();
        match self {
            Transform::Identity => Ok((dtype, s(0).to_vec())),
            Transform::Flatten => {
                let n = num_elements(s(0)).ok_or_else(|| err("shape overflows"))?;
                Ok((dtype, vec![n]))
            }
            Transform::NativeToBasicKernel => {
                let (w, w_re) = (s(0), s(1));
                native_kernel_check(w, w_re)?;
                Ok((dtype, vec![w[0] + w_re[0], w[1]]))
            }
            Transform::NativeToBasicBias => match s(0) {
                [c] if c % 4 == 0 => Ok((dtype, vec![*c])),
                [c] => Err(err(format!(
                    "NativeLSTM bias of length {c} does not split into 4 gate blocks"
                ))),
                other => Err(err(format!(
                    "NativeLSTM bias must be 1-D (assert b.ndim == 1), found shape {}",
                    py_shape(other)
                ))),
            },
            Transform::BasicToNative(NativePart::B) => match s(0) {
                [c] if c % 4 == 0 => Ok((dtype, vec![*c])),
                other => Err(err(format!(
                    "LSTMCell bias must be 1-D with a length divisible by 4, found shape {}",
                    py_shape(other)
                ))),
            },
            Transform::BasicToNative(part) => match s(0) {
                [rows, cols] if cols % 4 == 0 && *rows > cols / 4 => {
                    let n = cols / 4;
                    Ok((
                        dtype,
                        if *part == NativePart::W {
                            vec![rows - n, *cols]
                        } else {
                            vec![n, *cols]
                        },
                    ))
                }
                other => Err(err(format!(
                    "LSTMCell kernel must be (n_in+n, 4n) with n_in > 0, found shape {}",
                    py_shape(other)
                ))),
            },
            Transform::CudnnToBlock(part) => {
                let shapes: Vec<&[u64]> = (0..16).map(s).collect();
                let (n_in, n) = cudnn_check(&shapes)?;
                Ok((
                    dtype,
                    match part {
                        BlockPart::Kernel => vec![n_in + n, 4 * n],
                        BlockPart::Bias => vec![4 * n],
                    },
                ))
            }
        }
    }

    /// Computes the value from the source arrays (in `keys` order).
    pub fn apply(&self, inputs: Vec<Array>) -> Result<Array, MapError> {
        let metas: Vec<(DType, Vec<u64>)> =
            inputs.iter().map(|a| (a.dtype, a.shape.clone())).collect();
        let (_, out_shape) = self.output_meta(&metas)?;
        let mut inputs = inputs;
        match self {
            Transform::Identity => Ok(inputs.swap_remove(0)),
            Transform::Flatten => inputs.swap_remove(0).reshape(out_shape),
            Transform::NativeToBasicKernel => native_to_basic_kernel(&inputs[0], &inputs[1]),
            Transform::NativeToBasicBias => inputs[0].swap_gate_blocks_01(),
            Transform::BasicToNative(NativePart::B) => inputs[0].swap_gate_blocks_01(),
            Transform::BasicToNative(part) => {
                let k = inputs[0].swap_gate_blocks_01()?;
                let n = out_shape[1] / 4;
                let n_in = k.shape[0] - n;
                let (w, w_re) = k.split_rows(n_in)?;
                Ok(if *part == NativePart::W { w } else { w_re })
            }
            Transform::CudnnToBlock(part) => {
                let (k, b) = cudnn_to_lstm_block(&inputs)?;
                Ok(match part {
                    BlockPart::Kernel => k,
                    BlockPart::Bias => b,
                })
            }
        }
    }
}

fn err(msg: impl Into<String>) -> MapError {
    MapError::new(MapErrorKind::ConversionFailed, msg)
}

fn native_kernel_check(w: &[u64], w_re: &[u64]) -> Result<(), MapError> {
    let ok = matches!((w, w_re), ([_, cw], [rr, cr]) if cw == cr && cr / 4 == *rr && cr % 4 == 0);
    if ok {
        Ok(())
    } else {
        Err(err(format!(
            "NativeLSTM -> LSTMCell kernel: expected W (n_in, 4n) and W_re (n, 4n), found W {} and W_re {}",
            py_shape(w),
            py_shape(w_re)
        )))
    }
}

/// RETURNN's joint check of a LSTMCell kernel and bias before the BasicLSTM -> NativeLSTM
/// split (`K` 2-D, `B` 1-D, `len(B) == K.cols`, `len(B) % 4 == 0`, `K.rows > n`); returns
/// `(n_in, n)`.
pub fn check_basic_pair(kernel: &[u64], bias: &[u64]) -> Result<(u64, u64), MapError> {
    basic_check(kernel, bias)
}

fn basic_check(kernel: &[u64], bias: &[u64]) -> Result<(u64, u64), MapError> {
    match (kernel, bias) {
        ([rows, cols], [len]) if len == cols && len % 4 == 0 && *rows > len / 4 => {
            Ok((rows - len / 4, len / 4))
        }
        _ => Err(err(format!(
            "LSTMCell -> NativeLSTM: expected kernel (n_in+n, 4n) and bias (4n,) with n_in > 0, found kernel {} and bias {}",
            py_shape(kernel),
            py_shape(bias)
        ))),
    }
}

fn cudnn_check(shapes: &[&[u64]]) -> Result<(u64, u64), MapError> {
    let n = match shapes[15] {
        [n] if *n > 0 => *n,
        other => {
            return Err(err(format!(
                "CuDNN canonical param 15 (recurrent bias o) must be 1-D and non-empty, found {}",
                py_shape(other)
            )))
        }
    };
    let size0 = num_elements(shapes[0]).ok_or_else(|| err("shape overflows"))?;
    if size0 % n != 0 {
        return Err(err(format!(
            "CuDNN canonical param 0 has {size0} elements, not divisible by n = {n}"
        )));
    }
    let n_in = size0 / n;
    for (t, shape) in shapes.iter().enumerate() {
        let want = match t {
            0..=3 => n * n_in,
            4..=7 => n * n,
            _ => n,
        };
        if num_elements(shape) != Some(want) {
            return Err(err(format!(
                "CuDNN canonical param {t}: expected {want} elements (n_in = {n_in}, n = {n}), found shape {}",
                py_shape(shape)
            )));
        }
    }
    Ok((n_in, n))
}

/// NativeLSTM `W` `(n_in, 4n)` and `W_re` `(n, 4n)` (gates j,i,f,o) -> LSTMCell kernel
/// `(n_in+n, 4n)` (gates i,j,f,o).
pub fn native_to_basic_kernel(w: &Array, w_re: &Array) -> Result<Array, MapError> {
    native_kernel_check(&w.shape, &w_re.shape)?;
    Array::concat_rows(w, w_re)?.swap_gate_blocks_01()
}

/// NativeLSTM bias `(4n,)` (j,i,f,o) -> LSTMCell bias (i,j,f,o).
pub fn native_to_basic_bias(b: &Array) -> Result<Array, MapError> {
    Transform::NativeToBasicBias.output_meta(&[(b.dtype, b.shape.clone())])?;
    b.swap_gate_blocks_01()
}

/// LSTMCell kernel `(n_in+n, 4n)` and bias `(4n,)` (i,j,f,o) -> NativeLSTM `(W, W_re, b)`
/// (j,i,f,o).
pub fn basic_to_native(kernel: &Array, bias: &Array) -> Result<(Array, Array, Array), MapError> {
    let (n_in, _) = basic_check(&kernel.shape, &bias.shape)?;
    let k = kernel.swap_gate_blocks_01()?;
    let (w, w_re) = k.split_rows(n_in)?;
    Ok((w, w_re, bias.swap_gate_blocks_01()?))
}

/// CuDNN canonical params (16 tensors: input weights i,f,c,o; recurrent weights i,f,c,o; input
/// biases i,f,c,o; recurrent biases i,f,c,o) -> LSTM block `(kernel (n_in+n, 4n), bias (4n,))`
/// with gates i,c,f,o.
pub fn cudnn_to_lstm_block(t: &[Array]) -> Result<(Array, Array), MapError> {
    if t.len() != 16 {
        return Err(err(format!(
            "CuDNN conversion needs 16 tensors, got {}",
            t.len()
        )));
    }
    let shapes: Vec<&[u64]> = t.iter().map(|a| a.shape.as_slice()).collect();
    let (n_in, n) = cudnn_check(&shapes)?;
    let dtype = t[0].dtype;
    if t.iter().any(|a| a.dtype != dtype) {
        return Err(MapError::new(
            MapErrorKind::DtypeMismatch,
            "CuDNN canonical params have different dtypes (not supported)",
        ));
    }
    let es = dtype.element_size().unwrap_or(1);
    // Rows of the stacked (4n, n_in+n) matrix, gate order i, c, f, o = canonical 0, 2, 1, 3.
    let order = [0usize, 2, 1, 3];
    let cols = (n_in + n) as usize;
    let mut stacked = Vec::with_capacity(4 * n as usize * cols * es);
    let mut bias = Vec::with_capacity(4 * n as usize * es);
    for &g in &order {
        let win = &t[g].data;
        let wrec = &t[4 + g].data;
        let row_in = n_in as usize * es;
        let row_rec = n as usize * es;
        for u in 0..n as usize {
            stacked.extend_from_slice(&win[u * row_in..(u + 1) * row_in]);
            stacked.extend_from_slice(&wrec[u * row_rec..(u + 1) * row_rec]);
        }
        let bin = t[8 + g].clone().reshape(vec![n])?;
        let brec = t[12 + g].clone().reshape(vec![n])?;
        bias.extend_from_slice(&Array::add(&bin, &brec)?.data);
    }
    let m = Array::new(dtype, vec![4 * n, cols as u64], stacked)?;
    Ok((m.transpose2d()?, Array::new(dtype, vec![4 * n], bias)?))
}
