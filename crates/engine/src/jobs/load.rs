//! `load`: computes the plan (exactly what `plan` shows), then writes exactly the loaded
//! variables (converted where a rule converts, in the variable's dtype), streamed one tensor at
//! a time. The output appears atomically, only if every value was computed. This is where a
//! plan meets its sink.
//!
//! Outputs: `OUT.safetensors`; `OUT.pt` for the torch engines (RETURNN's PyTorch-engine layout
//! `{"model": state_dict, "epoch", "step", "effective_learning_rate": None,
//! "returnn_version"}` through torch-pt's writer, tied parameters sharing one storage as
//! `torch.save` stores them; `epoch` is the loaded model's epoch and `step` the main
//! checkpoint's stored step, so the file loads back as the same checkpoint; 1 and 0 without one);
//! anything else is a TF checkpoint prefix (`OUT.index` + `OUT.data-00000-of-00001`), which the
//! PyTorch engine cannot read and so is refused for it. On the torch engines the values are
//! what the module holds after `_load_model`: cast as torch's `copy_` casts them, frozen
//! parameters included; parameters without a loaded value (random init) are not written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};
use crate::jobs::plan::{self, ComputedPlan, EntryPlan, PlanReport, PlanRequest};
use crate::output::{bundle_files, check_output, same_file, OutputForm};
use crate::progress::Progress;
use crate::tf_plan::EnginePlan;
use crate::torch_plan::{to_pt_dtype, LoadEngine, TorchEnginePlan};

/// What to load and where to write it.
#[derive(Clone, Debug)]
pub struct LoadRequest {
    pub plan: PlanRequest,
    /// `FILE.safetensors`, `FILE.pt` (torch engines), or a TF checkpoint prefix. Relative to
    /// the process's directory as the face gives it.
    pub out: PathBuf,
    /// Replace an existing output.
    pub force: bool,
}

/// The plan plus what was written. JSON (stable): the plan's keys plus `"out"` and
/// `"written"`, in key order (`notes`, `out`, `variables`, `written`; the torch engines add
/// the plan's `engine`, `entries`, `epoch`, `main`, `step`, `unexpected`).
#[derive(Clone, Debug, Serialize)]
pub struct LoadReport {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entries: Option<Vec<EntryPlan>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epoch: Option<Option<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub main: Option<Option<String>>,
    pub notes: Vec<String>,
    pub out: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<Option<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unexpected: Option<Vec<String>>,
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
            engine: self.engine,
            entries: self.entries.clone(),
            epoch: self.epoch,
            main: self.main.clone(),
            notes: self.notes.clone(),
            step: self.step,
            unexpected: self.unexpected.clone(),
            variables: self.variables.clone(),
            order: self.order.clone(),
        }
    }
}

fn out_err(e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Output, e.to_string())
}

/// The output's kind, by its name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sink {
    Safetensors,
    Pt,
    Bundle,
}

fn sink_of(out: &Path) -> Sink {
    let s = out.to_string_lossy();
    if s.ends_with(".safetensors") {
        Sink::Safetensors
    } else if s.ends_with(".pt") {
        Sink::Pt
    } else {
        Sink::Bundle
    }
}

/// A writer's error, with its cause (and the hint for a full disk, no permission, ...).
fn write_err<E: std::error::Error + Send + Sync + 'static>(e: E) -> Error {
    Error::new(ErrorKind::Output, e.to_string()).with_output_cause(e)
}

/// Writes the loaded variables of a TF net-dict plan to `out`; returns how many.
pub fn write(ep: &EnginePlan, out: &Path, progress: &dyn Progress) -> Result<usize> {
    let decl: Vec<(String, tf_bundle::DType, Vec<u64>)> = ep
        .plan
        .loaded()
        .map(|a| (a.var.clone(), a.dtype, a.shape.clone()))
        .collect();
    let n = decl.len();
    progress.begin("load", total_bytes(&decl));
    let result = write_to(ep, out, decl, progress);
    progress.end();
    result.map(|()| n)
}

fn total_bytes(decl: &[(String, tf_bundle::DType, Vec<u64>)]) -> u64 {
    decl.iter()
        .map(|(_, d, s)| d.element_size().unwrap_or(0) as u64 * s.iter().product::<u64>())
        .sum()
}

fn safetensors_writer(
    out: &Path,
    decl: Vec<(String, tf_bundle::DType, Vec<u64>)>,
) -> Result<convert::SafetensorsWriter> {
    if let Some((name, d, _)) = decl
        .iter()
        .find(|(_, d, _)| convert::safetensors_dtype(*d).is_none())
    {
        return Err(out_err(format!(
            "variable '{name}' has dtype {d}, which safetensors cannot store; write a TF checkpoint instead"
        ))
        .with_key(name.clone()));
    }
    let mut meta = BTreeMap::new();
    meta.insert("producer".to_string(), "returnn-ckpt load".to_string());
    convert::SafetensorsWriter::create(out, decl, meta).map_err(write_err)
}

fn write_to(
    ep: &EnginePlan,
    out: &Path,
    decl: Vec<(String, tf_bundle::DType, Vec<u64>)>,
    progress: &dyn Progress,
) -> Result<()> {
    if sink_of(out) == Sink::Safetensors {
        let mut w = safetensors_writer(out, decl)?;
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

/// Writes what the module holds after loading (torch engines) to `out`; returns how many
/// tensors.
pub fn write_torch(tp: &TorchEnginePlan, out: &Path, progress: &dyn Progress) -> Result<usize> {
    let sink = sink_of(out);
    if sink == Sink::Bundle && tp.engine == LoadEngine::Torch {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "output '{}': RETURNN's PyTorch engine reads .pt and .safetensors files, not TF checkpoints",
                out.display()
            ),
        )
        .with_path(out)
        .with_hint("name the output OUT.pt or OUT.safetensors"));
    }
    let decl: Vec<(String, tf_bundle::DType, Vec<u64>)> = tp
        .plan
        .loaded()
        .map(|a| (a.param.clone(), a.dtype, a.shape.clone()))
        .collect();
    let n = decl.len();
    progress.begin("load", total_bytes(&decl));
    let result = write_torch_to(tp, out, decl, sink, progress);
    progress.end();
    result.map(|()| n)
}

fn write_torch_to(
    tp: &TorchEnginePlan,
    out: &Path,
    decl: Vec<(String, tf_bundle::DType, Vec<u64>)>,
    sink: Sink,
    progress: &dyn Progress,
) -> Result<()> {
    match sink {
        Sink::Safetensors => {
            let mut w = safetensors_writer(out, decl)?;
            tp.for_each_value(&mut |a, v| {
                w.write_next(&a.param, &v.data).map_err(write_err)?;
                progress.advance(v.data.len() as u64);
                Ok(())
            })?;
            w.finish().map_err(write_err)?;
        }
        Sink::Pt => {
            if let Some((name, d, _)) = decl.iter().find(|(_, d, _)| to_pt_dtype(*d).is_none()) {
                return Err(out_err(format!(
                    "variable '{name}' has dtype {d}, which a .pt state dict here cannot store"
                ))
                .with_key(name.clone()));
            }
            // As RETURNN saves a model: the model's epoch and the stored step counter (the
            // file loads back as the same checkpoint).
            let meta = torch_pt::ReturnnMeta {
                epoch: tp.plan.epoch.max(1) as i64,
                step: tp.main_step.unwrap_or(0) as i64,
                effective_learning_rate: None,
                returnn_version: format!("returnn-ckpt {}", env!("CARGO_PKG_VERSION")),
            };
            let mut w = torch_pt::StateDictWriter::create(out, torch_pt::Layout::Returnn(meta))
                .map_err(write_err)?;
            let params: BTreeMap<&str, &param_map::torch::TorchParam> = tp
                .plan
                .params
                .iter()
                .map(|p| (p.param.name.as_str(), &p.param))
                .collect();
            // T-TIED-1: a tied parameter is a second name of its group's storage.
            let mut storages: BTreeMap<String, (torch_pt::StorageRef, Vec<u64>)> = BTreeMap::new();
            tp.for_each_value(&mut |a, v| {
                let root = params
                    .get(a.param.as_str())
                    .map(|p| tp.tie_root(p))
                    .unwrap_or_else(|| a.param.clone());
                if let Some((s, shape)) = storages.get(&root) {
                    if *shape == v.shape {
                        w.add_view(&a.param, s, &v.shape, None, 0)
                            .map_err(write_err)?;
                        progress.advance(v.data.len() as u64);
                        return Ok(());
                    }
                }
                let dtype = to_pt_dtype(v.dtype)
                    .ok_or_else(|| out_err(format!("dtype {} of '{}'", v.dtype, a.param)))?;
                let s = w
                    .add(&a.param, dtype, &v.shape, &mut v.data.as_slice())
                    .map_err(write_err)?;
                storages.entry(root).or_insert((s, v.shape.clone()));
                progress.advance(v.data.len() as u64);
                Ok(())
            })?;
            w.commit().map_err(write_err)?;
        }
        Sink::Bundle => {
            let mut w = tf_bundle::write::BundleWriter::create(out).map_err(write_err)?;
            tp.for_each_value(&mut |a, v| {
                w.add_bytes(&a.param, v.dtype, &v.shape, &v.data)
                    .map_err(write_err)?;
                progress.advance(v.data.len() as u64);
                Ok(())
            })?;
            w.finish().map_err(write_err)?;
        }
    }
    Ok(())
}

/// Refuses an output that is one of the plan's input files (inputs are never modified).
fn check_not_input(cp: &ComputedPlan, base: &Path, out: &Path) -> Result<()> {
    let files: Vec<String> = match cp {
        ComputedPlan::NetDict(ep) => ep.sources.keys().cloned().collect(),
        ComputedPlan::Torch(tp) => tp.sources.files().into_iter().map(String::from).collect(),
    };
    for f in files {
        let p = crate::paths::resolve(base, &f);
        if same_file(&p, out) {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "output '{}' is the input checkpoint '{f}' of the plan; write elsewhere",
                    out.display()
                ),
            )
            .with_path(out));
        }
    }
    Ok(())
}

/// Plans, writes, and reports.
pub fn run(req: &LoadRequest, progress: &dyn Progress) -> Result<LoadReport> {
    let (form, files) = match sink_of(&req.out) {
        Sink::Safetensors => (OutputForm::File(".safetensors"), vec![req.out.clone()]),
        Sink::Pt => (OutputForm::File(".pt"), vec![req.out.clone()]),
        Sink::Bundle => (OutputForm::Prefix, bundle_files(&req.out)),
    };
    check_output(&req.out, form, &files, req.force)?;
    let cp = plan::compute(&req.plan)?;
    check_not_input(&cp, &req.plan.config.base_dir, &req.out)?;
    let written = match &cp {
        ComputedPlan::NetDict(ep) => {
            if sink_of(&req.out) == Sink::Pt {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!(
                        "output '{}': a .pt output is for the PyTorch engine's plans; this config uses the TF net-dict engine",
                        req.out.display()
                    ),
                )
                .with_path(&req.out)
                .with_hint("write OUT.safetensors or a TF checkpoint prefix, then `convert` it to .pt"));
            }
            write(ep, &req.out, progress)?
        }
        ComputedPlan::Torch(tp) => write_torch(tp, &req.out, progress)?,
    };
    let p = plan::report(&cp);
    Ok(LoadReport {
        engine: p.engine,
        entries: p.entries,
        epoch: p.epoch,
        main: p.main,
        notes: p.notes,
        out: req.out.display().to_string(),
        step: p.step,
        unexpected: p.unexpected,
        variables: p.variables,
        written,
        order: p.order,
    })
}
