//! # returnn-ckpt-python
//!
//! Owns the Python face of returnn-ckpt: the extension module `returnn_ckpt._native` that the
//! package `returnn_ckpt` (`python/returnn_ckpt/`) re-exports. It holds TensorFlow's checkpoint
//! reader API (`load_checkpoint` -> `CheckpointReader` -> numpy arrays, over
//! `tf_bundle::Checkpoint`) and the one exception type `returnn_ckpt.Error` (`.kind`, `.path`,
//! `.key`, `.hint`, `.outcome`), and every returnn-ckpt job as a function returning the dict of
//! the command's `--json` output (`jobs.rs`: one generic layer over the library layer, `engine`).
//!
//! It never implements a rule of its own: paths, formats, checks and errors are the libraries';
//! this crate converts arguments and results between Python and Rust, and releases the GIL
//! while the libraries work. It never panics across the boundary (library errors become
//! `returnn_ckpt.Error`, Python errors propagate), never prints, and never reads the process's
//! working directory itself: the reader joins a relative path to Python's `os.getcwd()`; the
//! jobs pass argument paths on as the command line tool does (relative to the process's
//! directory, which is `os.getcwd()`), joined to `os.getcwd()` when `cwd=` is given (`-C`).
//!
//! ## Building
//!
//! `pip install .` at the repository root (maturin is the build backend, `pyproject.toml`), or
//! `cargo xtask wheel` (an abi3 wheel for CPython >= 3.9 in `target/wheels/`). maturin sets
//! `PYO3_BUILD_EXTENSION_MODULE`, so the extension does not link libpython (the importing
//! interpreter provides it). A plain `cargo build/clippy --workspace` builds this crate as an
//! ordinary cdylib linked against the build machine's libpython; it has no Rust test target
//! (`test = false`): its tests are the pytest suite in `python/tests/` (`cargo xtask pytest`),
//! which compares every fixture with TensorFlow's own reader.

mod array;
mod error;
mod jobs;
mod reader;

use pyo3::prelude::*;

/// The extension module; `returnn_ckpt/__init__.py` re-exports its names.
#[pymodule]
#[pyo3(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    error::register(m)?;
    m.add_class::<reader::CheckpointReader>()?;
    m.add_function(wrap_pyfunction!(reader::load_checkpoint, m)?)?;
    jobs::register(m)?;
    Ok(())
}
