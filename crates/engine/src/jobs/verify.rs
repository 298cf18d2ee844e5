//! `verify`: reads every tensor and checks every CRC and structural rule of a checkpoint.

use std::path::PathBuf;

use serde::Serialize;

use crate::error::Result;
use crate::jobs::inspect::open;
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
    pub num_shards: u32,
    pub tensors: usize,
    pub ok: bool,
    pub problems: Vec<Problem>,
}

/// Verifies the checkpoint.
pub fn run(req: &VerifyRequest, progress: &dyn Progress) -> Result<VerifyReport> {
    let ck = open(&req.path, req.mmap)?;
    progress.begin("verify", tf_bundle::scan::total_bytes(&ck));
    let advance = |n: u64| progress.advance(n);
    let errors = tf_bundle::verify::verify_all(&ck, tf_bundle::par::Jobs::default(), &advance);
    progress.end();
    let problems: Vec<Problem> = errors
        .into_iter()
        .map(|e| Problem {
            kind: e.kind().label(),
            path: e.path().map(|p| p.display().to_string()),
            key: e.key().map(str::to_string),
            message: e.to_string(),
        })
        .collect();
    Ok(VerifyReport {
        path: ck.prefix().display().to_string(),
        format: ck.format().to_string(),
        num_shards: ck.num_shards(),
        tensors: ck.tensors().len(),
        ok: problems.is_empty(),
        problems,
    })
}
