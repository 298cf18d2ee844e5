//! `avg`: the element-wise mean of the floating-point tensors of several checkpoints, written
//! as a TF bundle (integer tensors such as `global_step` come from the last input; names,
//! dtypes and shapes must match unless `ignore_missing`; see `convert::avg`). Never writes over
//! an input; an existing output is replaced only with `force`.

use std::path::PathBuf;

use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};
use crate::output::{bundle_files, check_output, same_file, OutputForm};
use crate::progress::{ConvertProgress, Progress};

/// What to average.
#[derive(Clone, Debug)]
pub struct AvgRequest {
    pub paths: Vec<PathBuf>,
    /// Output bundle prefix.
    pub out: PathBuf,
    /// Average a tensor missing from some inputs over the inputs that have it.
    pub ignore_missing: bool,
    pub force: bool,
}

/// A tensor present in only some inputs.
#[derive(Clone, Debug, Serialize)]
pub struct PartialTensor {
    pub name: String,
    /// In how many inputs it is.
    pub inputs: usize,
}

/// What was written.
#[derive(Clone, Debug, Serialize)]
pub struct AvgReport {
    pub out: String,
    pub inputs: usize,
    pub averaged: Vec<String>,
    pub copied_from_last: Vec<String>,
    pub partial: Vec<PartialTensor>,
    /// What reading the inputs noticed.
    pub notes: Vec<String>,
}

/// Averages.
pub fn run(req: &AvgRequest, progress: &dyn Progress) -> Result<AvgReport> {
    let outputs = bundle_files(&req.out);
    check_output(&req.out, OutputForm::Prefix, &outputs, req.force)?;
    let mut inputs = Vec::with_capacity(req.paths.len());
    let mut notes = Vec::new();
    for p in &req.paths {
        let c = tf_bundle::Checkpoint::open(p)?;
        notes.extend(c.notes().iter().cloned());
        inputs.push(c);
    }
    for c in &inputs {
        let files = bundle_files(c.prefix());
        if files
            .iter()
            .any(|f| outputs.iter().any(|o| same_file(f, o)))
        {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "--out {} would overwrite the input {}",
                    req.out.display(),
                    c.prefix().display()
                ),
            )
            .with_path(&req.out)
            .with_hint("choose another output prefix"));
        }
    }
    let mut bar = ConvertProgress::new(progress, "avg");
    let report = convert::avg::average(&inputs, &req.out, req.ignore_missing, &mut |p| {
        bar.update(p)
    })?;
    Ok(AvgReport {
        out: req.out.display().to_string(),
        inputs: inputs.len(),
        averaged: report.averaged,
        copied_from_last: report.copied_from_last,
        partial: report
            .partial
            .into_iter()
            .map(|(name, inputs)| PartialTensor { name, inputs })
            .collect(),
        notes,
    })
}
