//! `diff`: tensors only in A or only in B, dtype and shape changes, and value differences
//! (count, max abs, max rel; elements differ when |a - b| > atol + rtol * |b|; see
//! `convert::diff`).
//!
//! A and B may each be a TF checkpoint, a `.pt` or a `.safetensors` file ([`crate::inputs`]).
//! `rename` (`REGEX=REPLACEMENT` rules, applied in order as `convert --rename` applies them) maps
//! **A's** names before they are matched with B's, so `diff SRC OUT --rename R` checks the output
//! of `convert SRC OUT --rename R` (docs/pt-faces.md §4). The lists name A's tensors by A's own
//! names (`only_in_a`, the change lists) and B's by B's (`only_in_b`). Two TF checkpoints without
//! renames are compared chunk by chunk on all cores (`convert::diff`); any other pair tensor by
//! tensor, B's tensor read whole and A's streamed against it in chunks (memory: one tensor), with
//! the same element rule, so the results are identical.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::PathBuf;

use convert::diff::{compare_data, compare_elements, ElementDiff};
use convert::select::Selection;
use tf_bundle::DType;

use crate::error::{Error, ErrorKind, Result};
use crate::inputs::{Input, InputOptions};
use crate::progress::{ConvertProgress, Progress};

pub use convert::diff::{Diff as DiffReport, DtypeChange, ShapeChange, ValueChange};

/// What to compare.
#[derive(Clone, Debug)]
pub struct DiffRequest {
    pub a: PathBuf,
    pub b: PathBuf,
    pub atol: f64,
    pub rtol: f64,
    /// `REGEX=REPLACEMENT` renames applied to A's names before matching (see the module docs).
    pub rename: Vec<String>,
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
    let selection = Selection::new(&[], &[], &req.rename, false)?;
    let a = Input::open(&req.a, &InputOptions::default())?;
    let b = Input::open(&req.b, &InputOptions::default())?;
    if let (Some(ca), Some(cb), true) = (a.checkpoint(), b.checkpoint(), req.rename.is_empty()) {
        let mut bar = ConvertProgress::new(progress, "diff");
        return Ok(convert::diff::diff(ca, cb, req.atol, req.rtol, &mut |p| {
            bar.update(p)
        })?);
    }
    diff_inputs(&a, &b, &selection, req.atol, req.rtol, progress)
}

/// Compares `a`'s elements, streamed, with `b`'s bytes in memory.
struct CompareSink<'a> {
    dtype: DType,
    es: usize,
    b: &'a [u8],
    pos: usize,
    pending: Vec<u8>,
    atol: f64,
    rtol: f64,
    acc: ElementDiff,
}

impl CompareSink<'_> {
    fn compare(&mut self, x: &[u8]) {
        let end = (self.pos + x.len()).min(self.b.len());
        let y = &self.b[self.pos..end];
        if y.len() == x.len() {
            let d = compare_elements(self.dtype, x, y, self.atol, self.rtol);
            self.acc.merge(&d);
        }
        self.pos = end;
    }
}

impl Write for CompareSink<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut data = buf;
        if !self.pending.is_empty() {
            let need = self.es - self.pending.len();
            let take = need.min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.pending.len() == self.es {
                let p = std::mem::take(&mut self.pending);
                self.compare(&p);
            }
        }
        let whole = data.len() / self.es * self.es;
        if whole > 0 {
            self.compare(&data[..whole]);
        }
        self.pending.extend_from_slice(&data[whole..]);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn compare_tensor(
    a: &Input,
    an: &str,
    b: &Input,
    bn: &str,
    dtype: DType,
    atol: f64,
    rtol: f64,
) -> Result<ElementDiff> {
    let Some(es) = dtype.element_size() else {
        // strings (TF only): both whole
        let x = a.read(an)?;
        let y = b.read(bn)?;
        return Ok(compare_data(dtype, &x.data, &y.data, atol, rtol));
    };
    let y = b.read(bn)?;
    let tf_bundle::TensorData::Bytes(yb) = &y.data else {
        return Ok(ElementDiff {
            count: 1,
            ..ElementDiff::default()
        });
    };
    let mut sink = CompareSink {
        dtype,
        es: es.max(1),
        b: yb,
        pos: 0,
        pending: Vec::new(),
        atol,
        rtol,
        acc: ElementDiff::default(),
    };
    let n = a.read_to(an, &mut sink)?;
    if n != yb.len() as u64 || !sink.pending.is_empty() {
        return Err(Error::new(
            ErrorKind::Convert(convert::ErrorCode::Mismatch),
            format!(
                "tensor '{an}' of {} gave {n} bytes, tensor '{bn}' of {} has {}",
                a.shown(),
                b.shown(),
                yb.len()
            ),
        )
        .with_key(an));
    }
    Ok(sink.acc)
}

/// The tensor-by-tensor comparison of any two inputs (see the module docs).
pub fn diff_inputs(
    a: &Input,
    b: &Input,
    selection: &Selection,
    atol: f64,
    rtol: f64,
    progress: &dyn Progress,
) -> Result<DiffReport> {
    let pairs = selection.apply(a.tensors().iter().map(|t| t.name.as_str()))?;
    let mut d = DiffReport {
        a: a.shown(),
        b: b.shown(),
        atol,
        rtol,
        equal: true,
        only_in_a: Vec::new(),
        only_in_b: Vec::new(),
        dtype_changed: Vec::new(),
        shape_changed: Vec::new(),
        value_changed: Vec::new(),
        compared: 0,
    };
    let renamed: HashMap<&str, &str> = pairs
        .iter()
        .map(|(s, r)| (s.as_str(), r.as_str()))
        .collect();
    let hit: HashSet<&str> = renamed.values().copied().collect();
    let mut common = Vec::new();
    for ta in a.tensors() {
        let bn = renamed.get(ta.name.as_str()).copied().unwrap_or(&ta.name);
        match b.get(bn) {
            None => d.only_in_a.push(ta.name.clone()),
            Some(tb) if tb.dtype != ta.dtype => d.dtype_changed.push(DtypeChange {
                name: ta.name.clone(),
                a: ta.dtype.to_string(),
                b: tb.dtype.to_string(),
            }),
            Some(tb) if tb.shape != ta.shape => d.shape_changed.push(ShapeChange {
                name: ta.name.clone(),
                a: ta.shape.clone(),
                b: tb.shape.clone(),
            }),
            Some(tb) => common.push((ta, tb)),
        }
    }
    d.only_in_b = b
        .tensors()
        .iter()
        .filter(|t| !hit.contains(t.name.as_str()))
        .map(|t| t.name.clone())
        .collect();
    let total = common
        .iter()
        .map(|(t, _)| t.nbytes().unwrap_or(0))
        .fold(0, u64::saturating_add);
    progress.begin("diff", total);
    let r = (|| -> Result<()> {
        for (ta, tb) in &common {
            let s = compare_tensor(a, &ta.name, b, &tb.name, ta.dtype, atol, rtol)?;
            d.compared += 1;
            if s.count > 0 {
                d.value_changed.push(ValueChange {
                    name: ta.name.clone(),
                    dtype: ta.dtype.to_string(),
                    count: s.count,
                    num_elements: ta.num_elements().unwrap_or(0),
                    max_abs: s.max_abs,
                    max_rel: s.max_rel,
                });
            }
            progress.advance(ta.nbytes().unwrap_or(0));
        }
        Ok(())
    })();
    progress.end();
    r?;
    d.equal = d.only_in_a.is_empty()
        && d.only_in_b.is_empty()
        && d.dtype_changed.is_empty()
        && d.shape_changed.is_empty()
        && d.value_changed.is_empty();
    Ok(d)
}
