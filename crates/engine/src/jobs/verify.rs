//! `verify`: reads every tensor and checks every CRC and structural rule of a checkpoint — a TF
//! checkpoint, a `.pt` file (the ZIP and pickle structure at open, every record's CRC-32) or a
//! `.safetensors` file (the header's structure at open; the format has no checksums, so every
//! tensor's bytes are read to find truncation and I/O errors).

use std::path::PathBuf;

use serde::Serialize;

use crate::error::Result;
use crate::jobs::inspect::open_input;
use crate::progress::Progress;

/// What to verify.
#[derive(Clone, Debug, Default)]
pub struct VerifyRequest {
    pub path: PathBuf,
    /// Memory-map the data shards (explicit opt-in; see [`crate::inspect::InspectRequest`]).
    pub mmap: bool,
}

/// One problem found.
#[derive(Clone, Debug, Serialize)]
pub struct Problem {
    /// The reader's error label (`checksum`, `truncated`, ...).
    pub kind: &'static str,
    /// The file concerned.
    pub path: Option<String>,
    /// The tensor concerned.
    pub key: Option<String>,
    /// What is wrong (names the file, the key, expected versus found).
    pub message: String,
}

/// The answer.
#[derive(Clone, Debug, Serialize)]
pub struct VerifyReport {
    pub path: String,
    pub format: String,
    /// Null for `.pt` and safetensors files.
    pub num_shards: Option<u32>,
    pub tensors: usize,
    pub ok: bool,
    pub problems: Vec<Problem>,
    /// What opening noticed.
    pub notes: Vec<String>,
}

/// Verifies the checkpoint.
pub fn run(req: &VerifyRequest, progress: &dyn Progress) -> Result<VerifyReport> {
    let input = open_input(&req.path, req.mmap)?;
    progress.begin("verify", input.total_bytes());
    let advance = |n: u64| progress.advance(n);
    let errors = input.verify(&advance);
    progress.end();
    let problems = group_missing_files(errors);
    Ok(VerifyReport {
        path: input.shown(),
        format: input.format_name(),
        num_shards: input.num_shards(),
        tensors: input.tensors().len(),
        ok: problems.is_empty(),
        problems,
        notes: input.notes().to_vec(),
    })
}

/// One problem per error, except that the tensors of a missing data file are one problem
/// (naming how many and which), not one line each.
fn group_missing_files(errors: Vec<crate::Error>) -> Vec<Problem> {
    let mut out: Vec<Problem> = Vec::new();
    let mut missing: Vec<(String, Vec<String>)> = Vec::new();
    for e in errors {
        if e.kind() == crate::ErrorKind::Read(tf_bundle::ErrorCode::MissingFile) {
            let path = e
                .path()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            let key = e.key().unwrap_or("").to_string();
            match missing.iter_mut().find(|(p, _)| *p == path) {
                Some((_, keys)) => keys.push(key),
                None => {
                    missing.push((path, vec![key]));
                    // keep the place of the first one
                    out.push(Problem {
                        kind: e.label(),
                        path: e.path().map(|p| p.display().to_string()),
                        key: None,
                        message: String::new(),
                    });
                }
            }
            continue;
        }
        out.push(Problem {
            kind: e.label(),
            path: e.path().map(|p| p.display().to_string()),
            key: e.key().map(str::to_string),
            message: e.to_string(),
        });
    }
    for p in out.iter_mut().filter(|p| p.message.is_empty()) {
        let path = p.path.clone().unwrap_or_default();
        if let Some((_, keys)) = missing.iter().find(|(m, _)| *m == path) {
            let keys: Vec<&String> = keys.iter().filter(|k| !k.is_empty()).collect();
            let n = keys.len();
            let shown: Vec<&str> = keys.iter().take(5).map(|k| k.as_str()).collect();
            let more = if n > shown.len() {
                format!(" and {} more", n - shown.len())
            } else {
                String::new()
            };
            p.message = format!(
                "{path}: file not found; it holds {n} tensor{}: {}{more}",
                if n == 1 { "" } else { "s" },
                shown.join(", ")
            );
        }
    }
    out
}
