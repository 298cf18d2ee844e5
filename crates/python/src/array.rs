//! Tensors as numpy arrays, the way TensorFlow's `CheckpointReader.get_tensor` returns them.
//!
//! * dtypes: numpy's own where numpy has one; bfloat16, float8_*, int4/uint4/int2/uint2 and
//!   float4_e2m1fn through `ml_dtypes` (imported on first use; without it a clear
//!   `returnn_ckpt.Error`); the quantized dtypes as TF returns them, i.e. as the plain integer
//!   of the same width (`qint8` -> `int8`, ..., `qint32` -> `int32`); strings as an object array
//!   of `bytes`.
//! * A scalar (shape `[]`) is returned as TF returns it: a numpy scalar (`numpy.float32(...)`),
//!   `bytes` for a string.
//! * Bytes: the library's checked, little-endian bytes become the array's buffer without another
//!   copy (`numpy` takes over the `Vec`), or, from a memory map, a read-only view into the map
//!   whose base object keeps the checkpoint (and so the map) alive.

use std::borrow::Cow;
use std::sync::Arc;

use numpy::ndarray::ArrayView1;
use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::{IntoPyDict, PyBytes, PyTuple};
use tf_bundle::{Checkpoint, DType, TensorData, TensorInfo};

use crate::error;

#[cfg(target_endian = "big")]
compile_error!(
    "returnn_ckpt hands the library's little-endian tensor bytes to numpy as native-endian \
     arrays: big-endian hosts are not supported"
);

/// Where a dtype's numpy type comes from.
enum NumpyKind {
    /// `numpy.dtype(name)`.
    Numpy(&'static str),
    /// `ml_dtypes.<name>`.
    MlDtypes(&'static str),
    /// Object array of `bytes`.
    Object,
}

fn numpy_kind(d: DType) -> NumpyKind {
    use DType::*;
    match d {
        Float16 | Float32 | Float64 | Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32
        | UInt64 | Bool | Complex64 | Complex128 => NumpyKind::Numpy(d.name()),
        // TF returns quantized tensors as the plain integers of the same width.
        QInt8 => NumpyKind::Numpy("int8"),
        QUInt8 => NumpyKind::Numpy("uint8"),
        QInt16 => NumpyKind::Numpy("int16"),
        QUInt16 => NumpyKind::Numpy("uint16"),
        QInt32 => NumpyKind::Numpy("int32"),
        String => NumpyKind::Object,
        // bfloat16, float8_*, int4, uint4, int2, uint2, float4_e2m1fn (ml_dtypes' names);
        // DType is non-exhaustive: a dtype added later is looked up in ml_dtypes by its name.
        other => NumpyKind::MlDtypes(other.name()),
    }
}

/// The entry of `get_variable_to_dtype_map`: `numpy.dtype` where numpy itself has the dtype,
/// else the dtype's name (`bfloat16`, `qint8`, `string`, ...).
pub fn map_dtype<'py>(py: Python<'py>, d: DType) -> PyResult<Bound<'py, PyAny>> {
    let quantized = matches!(
        d,
        DType::QInt8 | DType::QUInt8 | DType::QInt16 | DType::QUInt16 | DType::QInt32
    );
    match numpy_kind(d) {
        NumpyKind::Numpy(name) if !quantized => numpy_dtype(py, name),
        _ => Ok(d.name().into_pyobject(py)?.into_any()),
    }
}

fn numpy_dtype<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    py.import("numpy")?.getattr("dtype")?.call1((name,))
}

/// The numpy dtype `get_tensor` returns for `info` (None for strings); an `Error` naming
/// ml_dtypes if the dtype needs it and it cannot be imported.
fn array_dtype<'py>(
    py: Python<'py>,
    ck: &Checkpoint,
    info: &TensorInfo,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    match numpy_kind(info.dtype) {
        NumpyKind::Numpy(name) => numpy_dtype(py, name).map(Some),
        NumpyKind::Object => Ok(None),
        NumpyKind::MlDtypes(name) => {
            let unsupported = |why: String| {
                let e = tf_bundle::Error::new(tf_bundle::ErrorKind::Unsupported(format!(
                    "{} tensors need the Python package ml_dtypes ({why}); install it with \
                     `pip install ml_dtypes`",
                    info.dtype.name()
                )))
                .with_key(&info.name)
                .with_path(ck.prefix());
                error::from_bundle(py, &e)
            };
            let m = py
                .import("ml_dtypes")
                .map_err(|e| unsupported(format!("import failed: {e}")))?;
            let t = m
                .getattr(name)
                .map_err(|_| unsupported(format!("this ml_dtypes has no {name}")))?;
            py.import("numpy")?.getattr("dtype")?.call1((t,)).map(Some)
        }
    }
}

/// Keeps a checkpoint (and with it its memory maps) alive as the base object of the arrays
/// that view into it.
#[pyclass(frozen, module = "returnn_ckpt", name = "_MappedCheckpoint")]
pub struct MappedCheckpoint {
    _checkpoint: Arc<Checkpoint>,
}

/// Reads tensor `info` of `ck` into the numpy object TF's `get_tensor` returns. The GIL is
/// released while the file is read and checked.
pub fn get_tensor(py: Python<'_>, ck: &Arc<Checkpoint>, info: &TensorInfo) -> PyResult<Py<PyAny>> {
    let dtype = array_dtype(py, ck, info)?;
    let shape = shape_tuple(py, info)?;
    let name = info.name.as_str();
    let Some(dtype) = dtype else {
        return strings(py, ck, info, &shape);
    };
    let c: &Checkpoint = ck;
    let bytes = py
        .detach(|| c.read_bytes(name))
        .map_err(|e| error::from_bundle(py, &e))?;
    let mapped = matches!(bytes, Cow::Borrowed(_));
    let flat = match bytes {
        Cow::Borrowed(slice) => {
            let owner = Bound::new(
                py,
                MappedCheckpoint {
                    _checkpoint: Arc::clone(ck),
                },
            )?;
            // SAFETY: `slice` lies inside a read-only memory map (or the in-memory data) owned
            // by the checkpoint, which lives at a fixed address until the checkpoint is
            // dropped; `owner` holds an `Arc` of the checkpoint and becomes the array's base
            // object, so the memory outlives the array. Nothing writes to it: the array is
            // made read-only below before anyone else sees it. (Another process changing the
            // mapped file is the documented risk of the `mmap=True` opt-in.)
            #[allow(unsafe_code)]
            let a = unsafe {
                PyArray1::<u8>::borrow_from_array(&ArrayView1::from(slice), owner.into_any())
            };
            a.call_method("setflags", (), Some(&[("write", false)].into_py_dict(py)?))?;
            a.into_any()
        }
        Cow::Owned(v) => PyArray1::<u8>::from_vec(py, v).into_any(),
    };
    let mut typed = flat.call_method1("view", (dtype,))?;
    // A copied buffer comes from Rust's allocator (16-byte aligned in practice; copied again
    // if not). A mapped tensor at an odd file offset stays an unaligned read-only view, which
    // numpy handles.
    if !mapped
        && !typed
            .getattr("flags")?
            .getattr("aligned")?
            .extract::<bool>()?
    {
        typed = typed.call_method0("copy")?;
    }
    finish(typed.call_method1("reshape", (shape,))?, info)
}

fn strings(
    py: Python<'_>,
    ck: &Checkpoint,
    info: &TensorInfo,
    shape: &Bound<'_, PyTuple>,
) -> PyResult<Py<PyAny>> {
    let name = info.name.as_str();
    let t = py
        .detach(|| ck.read(name))
        .map_err(|e| error::from_bundle(py, &e))?;
    let TensorData::Strings(v) = t.data else {
        let e = tf_bundle::Error::corrupt(
            tf_bundle::Part::StringTensor,
            "a string tensor returned numeric data",
        )
        .with_key(name)
        .with_path(ck.prefix());
        return Err(error::from_bundle(py, &e));
    };
    let objs: Vec<Py<PyAny>> = v
        .iter()
        .map(|s| PyBytes::new(py, s).into_any().unbind())
        .collect();
    let a = PyArray1::<Py<PyAny>>::from_vec(py, objs);
    finish(a.call_method1("reshape", (shape,))?, info)
}

/// A scalar becomes its element (a numpy scalar, or `bytes`), as TF returns it.
fn finish(a: Bound<'_, PyAny>, info: &TensorInfo) -> PyResult<Py<PyAny>> {
    if info.shape.is_empty() {
        return Ok(a.get_item(PyTuple::empty(a.py()))?.unbind());
    }
    Ok(a.unbind())
}

fn shape_tuple<'py>(py: Python<'py>, info: &TensorInfo) -> PyResult<Bound<'py, PyTuple>> {
    PyTuple::new(py, info.shape.iter().copied())
}
