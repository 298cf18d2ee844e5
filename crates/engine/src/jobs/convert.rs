//! `convert`: a TF checkpoint to `.safetensors` (streaming; see the `convert` crate), a TF
//! checkpoint (V1, multi-shard) to one V2 bundle, or a `.safetensors` file back to a TF
//! bundle; with name selection, renames and `--no-optimizer`. Tensors the output cannot hold
//! are skipped and listed (or, with `strict`, an error before anything is written). The output
//! appears atomically; an existing output is replaced only with `force`.

use std::path::PathBuf;

use convert::select::Selection;
use convert::to_safetensors::{Options, StringPolicy};
use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};
use crate::output::{bundle_files, check_new, is_checkpoint_file};
use crate::progress::{ConvertProgress, Progress};

/// The output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvertTo {
    /// A `.safetensors` file.
    Safetensors,
    /// A TF bundle prefix (`OUT.index`, `OUT.data-00000-of-00001`).
    Tf,
}

/// What `strings` does with string tensors (safetensors output).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Strings {
    /// Skip them (listed in the report).
    #[default]
    Skip,
    /// Store small ones (≤ 64 KiB) in `__metadata__` as `string:<name>`.
    Metadata,
}

/// What to convert.
#[derive(Clone, Debug)]
pub struct ConvertRequest {
    /// A checkpoint, or a `.safetensors` file.
    pub path: PathBuf,
    pub out: PathBuf,
    /// Default: TF if `path` ends in `.safetensors`, else safetensors.
    pub to: Option<ConvertTo>,
    /// Fail instead of skipping tensors the output cannot hold.
    pub strict: bool,
    pub strings: Strings,
    /// Keep only tensors whose name matches any of these regexes.
    pub include: Vec<String>,
    /// Drop tensors whose name matches any of these regexes.
    pub exclude: Vec<String>,
    /// `REGEX=REPLACEMENT` renames, applied in order.
    pub rename: Vec<String>,
    /// Drop optimizer state.
    pub no_optimizer: bool,
    /// Map float8 to safetensors F8_* instead of skipping.
    pub float8: bool,
    /// Replace an existing output.
    pub force: bool,
    /// Memory-map the input's data shards (explicit opt-in).
    pub mmap: bool,
}

impl ConvertRequest {
    /// A conversion of `path` to `out` with the defaults.
    pub fn new(path: impl Into<PathBuf>, out: impl Into<PathBuf>) -> ConvertRequest {
        ConvertRequest {
            path: path.into(),
            out: out.into(),
            to: None,
            strict: false,
            strings: Strings::Skip,
            include: Vec::new(),
            exclude: Vec::new(),
            rename: Vec::new(),
            no_optimizer: false,
            float8: false,
            force: false,
            mmap: false,
        }
    }
}

/// A tensor left out, and why.
#[derive(Clone, Debug, Serialize)]
pub struct SkippedTensor {
    pub name: String,
    pub dtype: Option<String>,
    pub reason: String,
}

/// What was written.
#[derive(Clone, Debug, Serialize)]
pub struct ConvertReport {
    pub out: String,
    /// `safetensors` or `tf`.
    pub format: &'static str,
    /// Tensors written.
    pub tensors: usize,
    /// Bytes of the safetensors file (`None` for a TF bundle).
    pub bytes: Option<u64>,
    pub skipped: Vec<SkippedTensor>,
}

fn is_safetensors(p: &std::path::Path) -> bool {
    p.extension().is_some_and(|e| e == "safetensors")
}

/// Converts.
pub fn run(req: &ConvertRequest, progress: &dyn Progress) -> Result<ConvertReport> {
    let selection = Selection::new(&req.include, &req.exclude, &req.rename, req.no_optimizer)?;
    let to = req.to.unwrap_or(if is_safetensors(&req.path) {
        ConvertTo::Tf
    } else {
        ConvertTo::Safetensors
    });
    let mut bar = ConvertProgress::new(progress, "convert");
    let opening = |e: Error| {
        let path = req.path.display().to_string();
        e.map_message(|m| format!("opening {path}: {m}"))
    };
    match to {
        ConvertTo::Tf => {
            check_new(&bundle_files(&req.out), req.force)?;
            let report = if is_safetensors(&req.path) {
                convert::to_tf::safetensors_to_tf(
                    &req.path,
                    &req.out,
                    &selection,
                    req.strict,
                    &mut |p| bar.update(p),
                )?
            } else {
                let ckpt = open_plain(req).map_err(opening)?;
                if bundle_files(&req.out)
                    .iter()
                    .any(|f| is_checkpoint_file(ckpt.prefix(), f))
                {
                    return Err(Error::new(
                        ErrorKind::InvalidArgument,
                        format!(
                            "{} is the input checkpoint; choose another output prefix",
                            req.out.display()
                        ),
                    ));
                }
                convert::to_tf::checkpoint_to_tf(
                    &ckpt,
                    &req.out,
                    &selection,
                    req.strict,
                    &mut |p| bar.update(p),
                )?
            };
            Ok(ConvertReport {
                out: req.out.display().to_string(),
                format: "tf",
                tensors: report.tensors.len(),
                bytes: None,
                skipped: report
                    .skipped
                    .into_iter()
                    .map(|s| SkippedTensor {
                        name: s.name,
                        dtype: None,
                        reason: s.reason,
                    })
                    .collect(),
            })
        }
        ConvertTo::Safetensors => {
            check_new(std::slice::from_ref(&req.out), req.force)?;
            let ckpt = open_plain(req).map_err(opening)?;
            if is_checkpoint_file(ckpt.prefix(), &req.out) {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!(
                        "{} is a file of the input checkpoint; choose another output",
                        req.out.display()
                    ),
                ));
            }
            let opts = Options {
                selection,
                strict: req.strict,
                strings: match req.strings {
                    Strings::Skip => StringPolicy::Skip,
                    Strings::Metadata => StringPolicy::Metadata,
                },
                float8: req.float8,
            };
            let report =
                convert::to_safetensors::to_safetensors(&ckpt, &req.out, &opts, &mut |p| {
                    bar.update(p)
                })?;
            Ok(ConvertReport {
                out: req.out.display().to_string(),
                format: "safetensors",
                tensors: report.tensors.len(),
                bytes: Some(report.bytes),
                skipped: report
                    .skipped
                    .into_iter()
                    .map(|s| SkippedTensor {
                        name: s.name,
                        dtype: s.dtype.map(|d| d.to_string()),
                        reason: s.reason,
                    })
                    .collect(),
            })
        }
    }
}

fn open_plain(req: &ConvertRequest) -> Result<tf_bundle::Checkpoint> {
    tf_bundle::Checkpoint::open_with(
        &req.path,
        &tf_bundle::OpenOptions {
            mmap: req.mmap,
            ..tf_bundle::OpenOptions::default()
        },
    )
    .map_err(Error::from)
}
