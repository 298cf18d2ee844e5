//! The returnn-ckpt jobs as Python functions: one generic layer. A job is a library function
//! from a typed request to a `serde`-serialisable report; [`run_job`] runs it with the GIL
//! released and returns the report as the Python objects `json.loads` makes of the command
//! line tool's `--json` output (the same serde serialisation, so the same dict), and a
//! library error as `returnn_ckpt.Error` ([`LibraryError`]: label, file, key).
//!
//! Wired so far: `diff` (`convert::diff::diff`). The other jobs (inspect, verify, convert, avg,
//! resolve, path, epochs, cleanup, plan, load) are added here the same way, each as a call of
//! its library function, once the library layer holds them (issue "One library, thin faces").

use std::path::{Path, PathBuf};

use pyo3::prelude::*;
use serde::Serialize;

use crate::error;

/// What a library error must tell Python: its stable label (the JSON `kind`), file and key.
pub trait LibraryError: std::fmt::Display {
    fn label(&self) -> &str;
    fn path(&self) -> Option<&Path>;
    fn key(&self) -> Option<&str>;
}

impl LibraryError for tf_bundle::Error {
    fn label(&self) -> &str {
        self.kind().label()
    }
    fn path(&self) -> Option<&Path> {
        tf_bundle::Error::path(self)
    }
    fn key(&self) -> Option<&str> {
        tf_bundle::Error::key(self)
    }
}

impl LibraryError for convert::Error {
    fn label(&self) -> &str {
        match self.kind() {
            // the reader's own, more precise kind (checksum, truncated, ...)
            convert::ErrorKind::Read(e) => e.kind().label(),
            k => k.label(),
        }
    }
    fn path(&self) -> Option<&Path> {
        convert::Error::path(self)
    }
    fn key(&self) -> Option<&str> {
        convert::Error::key(self)
    }
}

/// A library error as `returnn_ckpt.Error`.
pub fn to_py_err(py: Python<'_>, e: &dyn LibraryError) -> PyErr {
    error::new_error(
        py,
        e.to_string(),
        e.label(),
        e.path().map(|p| p.to_string_lossy().into_owned()),
        e.key().map(str::to_owned),
    )
}

/// Runs `job` without the GIL; its report becomes what `json.loads` gives for its JSON.
pub fn run_job<R, E>(
    py: Python<'_>,
    job: impl FnOnce() -> Result<R, E> + Send,
) -> PyResult<Py<PyAny>>
where
    R: Serialize,
    E: LibraryError + Send,
{
    let json = py
        .detach(|| job().map(|report| serde_json::to_string(&report)))
        .map_err(|e| to_py_err(py, &e))?
        .map_err(|e| {
            pyo3::exceptions::PyRuntimeError::new_err(format!("report serialisation failed: {e}"))
        })?;
    Ok(py.import("json")?.call_method1("loads", (json,))?.unbind())
}

/// `path` made absolute against Python's `os.getcwd()` (the libraries never read the cwd).
pub fn absolute(py: Python<'_>, path: PathBuf) -> PyResult<PathBuf> {
    if path.is_absolute() {
        return Ok(path);
    }
    let cwd: PathBuf = py.import("os")?.call_method0("getcwd")?.extract()?;
    Ok(cwd.join(path))
}

/// Compares two checkpoints tensor by tensor; returns the dict of `returnn-ckpt diff --json`:
/// `{"a", "b", "atol", "rtol", "equal", "only_in_a", "only_in_b", "dtype_changed",
/// "shape_changed", "value_changed", "compared"}` (`a`/`b` are the resolved prefixes).
/// Elements differ when `|a - b| > atol + rtol * |b|`.
#[pyfunction]
#[pyo3(signature = (a, b, atol = 0.0, rtol = 0.0))]
pub fn diff(py: Python<'_>, a: PathBuf, b: PathBuf, atol: f64, rtol: f64) -> PyResult<Py<PyAny>> {
    let (a, b) = (absolute(py, a)?, absolute(py, b)?);
    run_job(py, move || -> Result<_, convert::Error> {
        let ca = tf_bundle::Checkpoint::open(&a)?;
        let cb = tf_bundle::Checkpoint::open(&b)?;
        convert::diff::diff(&ca, &cb, atol, rtol, &mut |_| {})
    })
}
