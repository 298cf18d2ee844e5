//! The one Python exception of the package, `returnn_ckpt.Error`, and how library errors become
//! it: the message is the library error's `Display` (file, tensor key, what was expected versus
//! found), `.kind` its stable label (the same string as the JSON `kind`), `.path` and `.key` the
//! file and tensor it concerns (or `None`).

use pyo3::exceptions::PyException;
use pyo3::prelude::*;

pyo3::create_exception!(
    returnn_ckpt,
    Error,
    PyException,
    "An error of returnn_ckpt: a checkpoint that cannot be opened or read, a missing key, a \
     missing optional dependency, ... `.kind` is a stable label (as the JSON `kind` of the \
     command line tool), `.path` the file concerned and `.key` the tensor key (each None when \
     not known)."
);

/// Builds a `returnn_ckpt.Error` with its attributes set.
pub fn new_error(
    py: Python<'_>,
    message: String,
    kind: &str,
    path: Option<String>,
    key: Option<String>,
) -> PyErr {
    let err = Error::new_err(message);
    let value = err.value(py);
    // Setting attributes on a fresh exception instance cannot fail short of memory exhaustion;
    // if it does, that Python error is returned instead (never a panic).
    let set = value
        .setattr("kind", kind)
        .and_then(|()| value.setattr("path", path))
        .and_then(|()| value.setattr("key", key));
    match set {
        Ok(()) => err,
        Err(e) => e,
    }
}

/// A tf-bundle error as `returnn_ckpt.Error`.
pub fn from_bundle(py: Python<'_>, e: &tf_bundle::Error) -> PyErr {
    crate::jobs::to_py_err(py, e)
}

/// Class-level defaults, so that an `Error` raised from Python code has the attributes too.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let ty = py.get_type::<Error>();
    ty.setattr("kind", "error")?;
    ty.setattr("path", py.None())?;
    ty.setattr("key", py.None())?;
    m.add("Error", ty)
}
