//! `returnn_ckpt.load_checkpoint` and `CheckpointReader`: TensorFlow's checkpoint reader API
//! (`tf.train.load_checkpoint`) over `tf_bundle::Checkpoint`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use tf_bundle::{Checkpoint, ErrorKind, OpenOptions, TensorInfo};

use crate::{array, error};

/// Opens a checkpoint for reading, like `tf.train.load_checkpoint(path)`.
///
/// `path` (str or os.PathLike): a checkpoint prefix (`dir/model.ckpt-100`), its `.index`,
/// `.meta` or `.data-*` file, a directory holding a TF `checkpoint` state file (its latest
/// checkpoint is opened), or a V1 checkpoint file or pattern. A relative path is taken relative
/// to `os.getcwd()`. Opening reads only the index; tensors are read (and CRC-checked) by
/// `get_tensor`.
///
/// `mmap=True` memory-maps the data files: little-endian tensors that are not partitioned are
/// then returned as read-only views into the map, without a copy (the array keeps the map
/// alive). Do not use it on files another process may truncate or rewrite while you read them.
///
/// Raises `returnn_ckpt.Error` (`.kind`, `.path`, `.key`) if the checkpoint cannot be opened.
#[pyfunction]
#[pyo3(signature = (path, mmap = false))]
pub fn load_checkpoint(py: Python<'_>, path: PathBuf, mmap: bool) -> PyResult<CheckpointReader> {
    let path = if path.is_absolute() {
        path
    } else {
        // The library never reads the process's working directory: Python's is passed in.
        let cwd: PathBuf = py.import("os")?.call_method0("getcwd")?.extract()?;
        cwd.join(path)
    };
    let opts = OpenOptions {
        mmap,
        ..OpenOptions::default()
    };
    let ck = py
        .detach(|| Checkpoint::open_with(&path, &opts))
        .map_err(|e| error::from_bundle(py, &e))?;
    Ok(CheckpointReader {
        prefix: ck.prefix().to_string_lossy().into_owned(),
        format: ck.format().to_string(),
        mmap,
        checkpoint: Mutex::new(Some(Arc::new(ck))),
    })
}

/// An open checkpoint, as returned by `load_checkpoint`. The methods of TensorFlow's
/// `CheckpointReader` (`get_variable_to_shape_map`, `get_variable_to_dtype_map`, `has_tensor`,
/// `get_tensor`) plus `keys()`, iteration over the tensor names, `in`, `len()`, `close()` and
/// `with` support. Safe to use from several threads at once; reads release the GIL.
#[pyclass(frozen, module = "returnn_ckpt")]
pub struct CheckpointReader {
    prefix: String,
    format: String,
    mmap: bool,
    checkpoint: Mutex<Option<Arc<Checkpoint>>>,
}

impl CheckpointReader {
    fn lock(&self) -> MutexGuard<'_, Option<Arc<Checkpoint>>> {
        // The guarded value is a plain Option that no code can leave half-updated.
        self.checkpoint
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The open checkpoint, or an `Error` if the reader was closed.
    fn open(&self, py: Python<'_>) -> PyResult<Arc<Checkpoint>> {
        self.lock().clone().ok_or_else(|| {
            let e = tf_bundle::Error::new(ErrorKind::InvalidArgument(
                "the checkpoint reader is closed".into(),
            ))
            .with_path(&self.prefix);
            error::from_bundle(py, &e)
        })
    }

    fn with_tensors<T>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&[TensorInfo]) -> PyResult<T>,
    ) -> PyResult<T> {
        let ck = self.open(py)?;
        f(ck.tensors())
    }
}

#[pymethods]
impl CheckpointReader {
    /// `{name: [dim, ...]}` for every tensor (partitioned tensors once, with their full shape).
    fn get_variable_to_shape_map<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.with_tensors(py, |ts| {
            let d = PyDict::new(py);
            for t in ts {
                d.set_item(&t.name, PyList::new(py, t.shape.iter().copied())?)?;
            }
            Ok(d)
        })
    }

    /// `{name: dtype}`: a `numpy.dtype` where numpy has the dtype (`float32`, `int64`, `bool`,
    /// `complex64`, `float16`, ...), else the dtype's name as a str (`bfloat16`,
    /// `float8_e4m3fn`, `qint8`, `string`, ...). TensorFlow returns `tf.DType` objects; both a
    /// numpy dtype and a str compare equal to the dtype's name (`m[k] == "float32"`).
    fn get_variable_to_dtype_map<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.with_tensors(py, |ts| {
            let d = PyDict::new(py);
            for t in ts {
                d.set_item(&t.name, array::map_dtype(py, t.dtype)?)?;
            }
            Ok(d)
        })
    }

    /// True if the checkpoint has a tensor `name`.
    fn has_tensor(&self, py: Python<'_>, name: &str) -> PyResult<bool> {
        Ok(self.open(py)?.get(name).is_some())
    }

    /// The tensor `name` as TensorFlow returns it: a `numpy.ndarray` of its shape and dtype
    /// (bfloat16 / float8 / int4 through `ml_dtypes`; quantized dtypes as the plain integer of
    /// the same width; strings as an object array of `bytes`), or for a scalar a numpy scalar
    /// (`bytes` for a string). CRC-checked; partitioned tensors are assembled.
    ///
    /// Raises `returnn_ckpt.Error` (kind as in the JSON output, e.g. for a missing key,
    /// a checksum mismatch or a truncated file).
    fn get_tensor(&self, py: Python<'_>, name: &str) -> PyResult<Py<PyAny>> {
        let ck = self.open(py)?;
        match ck.get(name) {
            Some(info) => {
                let info = info.clone();
                array::get_tensor(py, &ck, &info)
            }
            None => {
                // The library's error for this key (not found, or why its entry is unusable).
                let c: &Checkpoint = &ck;
                match py.detach(|| c.read(name)) {
                    Err(e) => Err(error::from_bundle(py, &e)),
                    Ok(_) => Err(error::from_bundle(
                        py,
                        &tf_bundle::Error::new(ErrorKind::KeyNotFound)
                            .with_key(name)
                            .with_path(&self.prefix),
                    )),
                }
            }
        }
    }

    /// The tensor names, sorted.
    fn keys(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        self.with_tensors(py, |ts| Ok(ts.iter().map(|t| t.name.clone()).collect()))
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        PyList::new(py, self.keys(py)?)?
            .try_iter()
            .map(Bound::into_any)
    }

    fn __contains__(&self, py: Python<'_>, name: &Bound<'_, PyAny>) -> PyResult<bool> {
        let ck = self.open(py)?;
        Ok(match name.extract::<String>() {
            Ok(n) => ck.get(&n).is_some(),
            Err(_) => false,
        })
    }

    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        self.with_tensors(py, |ts| Ok(ts.len()))
    }

    /// Releases the files (arrays returned with `mmap=True` keep their map until they are
    /// gone). Idempotent; any later read raises `Error`.
    fn close(&self) {
        let ck = self.lock().take();
        drop(ck);
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.close();
        false
    }

    /// The checkpoint prefix as resolved (V1: the file or pattern).
    #[getter]
    fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `"v2"` (tensor bundle) or `"v1"` (legacy table).
    #[getter]
    fn format(&self) -> &str {
        &self.format
    }

    /// True if the reader is closed.
    #[getter]
    fn closed(&self) -> bool {
        self.lock().is_none()
    }

    fn __repr__(&self) -> String {
        let state = match self.lock().as_ref() {
            Some(ck) => format!("{} tensors", ck.tensors().len()),
            None => "closed".into(),
        };
        let mmap = if self.mmap { ", mmap" } else { "" };
        format!(
            "<returnn_ckpt.CheckpointReader {:?} ({}{mmap}, {state})>",
            self.prefix, self.format
        )
    }
}
