//! The Python package's tasks:
//!
//! * `cargo xtask wheel` — builds the abi3 wheel of `returnn_ckpt` (`pyproject.toml`, maturin as
//!   the build backend, fetched by pip's isolated build) into `target/wheels/`, replacing an
//!   older `returnn_ckpt` wheel there.
//! * `cargo xtask pytest [PYTEST ARGS]` — builds the wheel, installs it with `--no-deps` into
//!   `target/pylib` (never into the pinned venv) and runs `python/tests/` with the venv's
//!   Python (real TensorFlow, numpy, ml_dtypes, pytest) and `PYTHONPATH=target/pylib`; the
//!   debug CLI is built first, for the tests that compare job functions with its `--json`.
//! * `cargo xtask bench-py [--size-mb M] [--runs N]` — `python/bench/bench_reader.py`: listing
//!   and reading every tensor of a TF-written checkpoint (about M MiB, default 1024, written
//!   under `target/bench-py/` by the venv's TensorFlow) with `returnn_ckpt` against
//!   `tf.train.load_checkpoint`, each in fresh processes with its import time, median of N runs
//!   (default 5); prints the times and ratios.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::run;

/// Builds the wheel into `target/wheels/` with `python -m pip wheel`; returns its path.
pub fn wheel(root: &Path, python: &Path) -> Result<PathBuf> {
    let dir = root.join("target/wheels");
    std::fs::create_dir_all(&dir)?;
    for w in our_wheels(&dir)? {
        std::fs::remove_file(&w).with_context(|| w.display().to_string())?;
    }
    run(Command::new(python)
        .args([
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--disable-pip-version-check",
            "--quiet",
            "-w",
        ])
        .arg(&dir)
        .arg(root))
    .context("building the returnn_ckpt wheel (pip wheel ., maturin backend)")?;
    let mut built = our_wheels(&dir)?;
    match (built.pop(), built.is_empty()) {
        (Some(w), true) => {
            eprintln!("xtask: wheel: {}", w.display());
            Ok(w)
        }
        _ => bail!(
            "expected exactly one returnn_ckpt wheel in {}",
            dir.display()
        ),
    }
}

fn our_wheels(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
        if name.is_some_and(|n| n.starts_with("returnn_ckpt-") && n.ends_with(".whl")) {
            out.push(p);
        }
    }
    Ok(out)
}

/// Installs the wheel (no dependencies) into a fresh `target/pylib`; returns that directory.
fn install(root: &Path, python: &Path, wheel: &Path) -> Result<PathBuf> {
    let lib = root.join("target/pylib");
    if lib.exists() {
        std::fs::remove_dir_all(&lib).with_context(|| lib.display().to_string())?;
    }
    run(Command::new(python)
        .args([
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--disable-pip-version-check",
            "--quiet",
            "--target",
        ])
        .arg(&lib)
        .arg(wheel))
    .context("installing the wheel into target/pylib")?;
    Ok(lib)
}

fn pythonpath(lib: &Path) -> OsString {
    let mut p = lib.as_os_str().to_os_string();
    if let Some(old) = std::env::var_os("PYTHONPATH").filter(|o| !o.is_empty()) {
        p.push(":");
        p.push(old);
    }
    p
}

/// `cargo xtask pytest`.
pub fn pytest(root: &Path, python: &Path, args: &[String]) -> Result<()> {
    let w = wheel(root, python)?;
    let lib = install(root, python, &w)?;
    // python/tests/test_jobs.py compares the job functions with the CLI's --json output.
    run(
        Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .args(["build", "-q", "-p", "returnn-ckpt"])
            .current_dir(root),
    )?;
    let st = Command::new(python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(root.join("python/tests"))
        .args(args)
        .env("PYTHONPATH", pythonpath(&lib))
        .env("TF_CPP_MIN_LOG_LEVEL", "3")
        .env("RETURNN_CKPT_BIN", root.join("target/debug/returnn-ckpt"))
        .current_dir(root)
        .status()
        .context("running pytest")?;
    match st.code() {
        Some(0) => Ok(()),
        Some(5) => bail!("pytest collected no tests"),
        _ => bail!("pytest failed ({st})"),
    }
}

/// `cargo xtask bench-py`.
pub fn bench_py(root: &Path, python: &Path, args: &[String]) -> Result<()> {
    let w = wheel(root, python)?;
    let lib = install(root, python, &w)?;
    run(Command::new(python)
        .arg(root.join("python/bench/bench_reader.py"))
        .arg("--dir")
        .arg(root.join("target/bench-py"))
        .arg("--pylib")
        .arg(&lib)
        .args(args)
        .env("TF_CPP_MIN_LOG_LEVEL", "3")
        .current_dir(root))
}
