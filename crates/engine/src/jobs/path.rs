//! `path`: for each checkpoint path, the pattern RETURNN's `get_checkpoint_filepattern` makes
//! of it and the epoch `model_epoch_from_filename` reads from that pattern (following
//! `.meta`/`.pt` symlinks as RETURNN does, from the base directory; `docs/returnn-engine.md` §2).

use std::path::PathBuf;

use model_files::{get_checkpoint_filepattern, model_epoch_from_filename, RealFs};
use serde::Serialize;

/// The paths to read, as RETURNN would see them when started in `base_dir`.
#[derive(Clone, Debug)]
pub struct PathRequest {
    pub paths: Vec<String>,
    pub base_dir: PathBuf,
}

/// One input's answer. JSON (stable): `{"input", "pattern", "epoch"}`, plus `"error"` where
/// RETURNN fails (then `"epoch": null`).
#[derive(Clone, Debug, Serialize)]
pub struct PathInfo {
    pub input: String,
    pub pattern: String,
    pub epoch: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The answers, in input order (JSON: a list of [`PathInfo`]).
#[derive(Clone, Debug, Serialize)]
#[serde(transparent)]
pub struct PathReport {
    pub paths: Vec<PathInfo>,
}

impl PathReport {
    /// Whether RETURNN fails on any input.
    pub fn failed(&self) -> bool {
        self.paths.iter().any(|p| p.error.is_some())
    }
}

/// Reads every path (never fails as a whole: a failing input carries its error).
pub fn run(req: &PathRequest) -> PathReport {
    let fs = RealFs::in_dir(&req.base_dir);
    let paths = req
        .paths
        .iter()
        .map(|input| {
            let pattern = get_checkpoint_filepattern(input);
            let (epoch, error) = match model_epoch_from_filename(&fs, pattern) {
                Ok(e) => (e, None),
                Err(e) => (None, Some(e.to_string())),
            };
            PathInfo {
                input: input.clone(),
                pattern: pattern.to_string(),
                epoch,
                error,
            }
        })
        .collect();
    PathReport { paths }
}
