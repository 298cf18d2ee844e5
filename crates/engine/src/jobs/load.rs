//! `load`: computes the plan (exactly what `plan` shows), then writes exactly the loaded
//! variables (converted where a rule converts, in the variable's dtype), streamed one tensor at
//! a time, to a safetensors file (`OUT.safetensors`) or a TF checkpoint prefix (anything else:
//! `OUT.index` + `OUT.data-00000-of-00001`). The output appears atomically, only if every
//! value was computed. This is where a plan meets its sink.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};
use crate::jobs::plan::{self, PlanReport, PlanRequest};
use crate::output::{bundle_files, check_output, OutputForm};
use crate::progress::Progress;
use crate::tf_plan::EnginePlan;

/// What to load and where to write it.
#[derive(Clone, Debug)]
pub struct LoadRequest {
    pub plan: PlanRequest,
    /// `FILE.safetensors`, or a TF checkpoint prefix. Relative to the process's directory as
    /// the face gives it.
    pub out: PathBuf,
    /// Replace an existing output.
    pub force: bool,
}

/// The plan plus what was written. JSON (stable): the plan's keys plus `"out"` and
/// `"written"`, in key order (`notes`, `out`, `variables`, `written`).
#[derive(Clone, Debug, Serialize)]
pub struct LoadReport {
    pub notes: Vec<String>,
    pub out: String,
    pub variables: BTreeMap<String, plan::VariablePlan>,
    pub written: usize,
    /// The variable names in the network's order.
    #[serde(skip)]
    pub order: Vec<String>,
}

impl LoadReport {
    /// The plan part.
    pub fn plan(&self) -> PlanReport {
        PlanReport {
            notes: self.notes.clone(),
            variables: self.variables.clone(),
            order: self.order.clone(),
        }
    }
}

fn out_err(e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Output, e.to_string())
}

/// A writer's error, with its cause (and the hint for a full disk, no permission, ...).
fn write_err<E: std::error::Error + Send + Sync + 'static>(e: E) -> Error {
    Error::new(ErrorKind::Output, e.to_string()).with_output_cause(e)
}

/// Writes the loaded variables of `ep` to `out`; returns how many.
pub fn write(ep: &EnginePlan, out: &Path, progress: &dyn Progress) -> Result<usize> {
    let decl: Vec<(String, tf_bundle::DType, Vec<u64>)> = ep
        .plan
        .loaded()
        .map(|a| (a.var.clone(), a.dtype, a.shape.clone()))
        .collect();
    let n = decl.len();
    let total: u64 = decl
        .iter()
        .map(|(_, d, s)| d.element_size().unwrap_or(0) as u64 * s.iter().product::<u64>())
        .sum();
    progress.begin("load", total);
    let result = write_to(ep, out, decl, progress);
    progress.end();
    result.map(|()| n)
}

fn write_to(
    ep: &EnginePlan,
    out: &Path,
    decl: Vec<(String, tf_bundle::DType, Vec<u64>)>,
    progress: &dyn Progress,
) -> Result<()> {
    if out.to_string_lossy().ends_with(".safetensors") {
        if let Some((name, d, _)) = decl
            .iter()
            .find(|(_, d, _)| convert::safetensors_dtype(*d).is_none())
        {
            return Err(out_err(format!(
                "variable '{name}' has dtype {d}, which safetensors cannot store; write a TF checkpoint instead"
            )));
        }
        let mut meta = BTreeMap::new();
        meta.insert("producer".to_string(), "returnn-ckpt load".to_string());
        let mut w = convert::SafetensorsWriter::create(out, decl, meta).map_err(write_err)?;
        ep.for_each_value(&mut |a, v| {
            w.write_next(&a.var, &v.data).map_err(write_err)?;
            progress.advance(v.data.len() as u64);
            Ok(())
        })?;
        w.finish().map_err(write_err)?;
    } else {
        let mut w = tf_bundle::write::BundleWriter::create(out).map_err(write_err)?;
        ep.for_each_value(&mut |a, v| {
            w.add_bytes(&a.var, v.dtype, &v.shape, &v.data)
                .map_err(write_err)?;
            progress.advance(v.data.len() as u64);
            Ok(())
        })?;
        w.finish().map_err(write_err)?;
    }
    Ok(())
}

/// Plans, writes, and reports.
pub fn run(req: &LoadRequest, progress: &dyn Progress) -> Result<LoadReport> {
    let (form, files) = if req.out.to_string_lossy().ends_with(".safetensors") {
        (OutputForm::File(".safetensors"), vec![req.out.clone()])
    } else {
        (OutputForm::Prefix, bundle_files(&req.out))
    };
    check_output(&req.out, form, &files, req.force)?;
    let ep = plan::compute(&req.plan)?;
    let written = write(&ep, &req.out, progress)?;
    let p = plan::report(&ep);
    Ok(LoadReport {
        notes: p.notes,
        out: req.out.display().to_string(),
        variables: p.variables,
        written,
        order: p.order,
    })
}
