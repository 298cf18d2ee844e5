//! `diff`: tensors only in A or only in B, dtype and shape changes, and value differences
//! (count, max abs, max rel; elements differ when |a - b| > atol + rtol * |b|; see
//! `convert::diff`).

use std::path::PathBuf;

use crate::error::{Error, ErrorKind, Result};
use crate::progress::{ConvertProgress, Progress};

pub use convert::diff::{Diff as DiffReport, DtypeChange, ShapeChange, ValueChange};

/// What to compare.
#[derive(Clone, Debug)]
pub struct DiffRequest {
    pub a: PathBuf,
    pub b: PathBuf,
    pub atol: f64,
    pub rtol: f64,
}

/// Compares. JSON (stable): `{"a", "b", "atol", "rtol", "equal", "only_in_a", "only_in_b",
/// "dtype_changed", "shape_changed", "value_changed", "compared"}`.
pub fn run(req: &DiffRequest, progress: &dyn Progress) -> Result<DiffReport> {
    if !(req.atol >= 0.0 && req.rtol >= 0.0) {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            "--atol and --rtol must be non-negative numbers",
        ));
    }
    let a = tf_bundle::Checkpoint::open(&req.a)?;
    let b = tf_bundle::Checkpoint::open(&req.b)?;
    let mut bar = ConvertProgress::new(progress, "diff");
    Ok(convert::diff::diff(&a, &b, req.atol, req.rtol, &mut |p| {
        bar.update(p)
    })?)
}
