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
use crate::output::{bundle_files, check_output, is_checkpoint_file, OutputForm};
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
    /// Leave out tensors that cannot be read (TF cannot read them either) instead of failing.
    pub skip_unreadable: bool,
    /// Write an output even when the filters leave no tensor.
    pub allow_empty: bool,
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
            skip_unreadable: false,
            allow_empty: false,
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
    /// What reading the input noticed (e.g. the checkpoint read instead of a `.meta` file).
    pub notes: Vec<String>,
}

fn is_safetensors(p: &std::path::Path) -> bool {
    p.extension().is_some_and(|e| e == "safetensors")
}

/// Converts.
pub fn run(req: &ConvertRequest, progress: &dyn Progress) -> Result<ConvertReport> {
    let selection = Selection::new(&req.include, &req.exclude, &req.rename, req.no_optimizer)?;
    // An output named `.safetensors` means safetensors; otherwise a `.safetensors` input goes
    // back to a TF bundle and a checkpoint to safetensors.
    let to = req
        .to
        .unwrap_or(if is_safetensors(&req.out) || !is_safetensors(&req.path) {
            ConvertTo::Safetensors
        } else {
            ConvertTo::Tf
        });
    if to == ConvertTo::Safetensors && is_safetensors(&req.path) {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "{} is already a safetensors file: convert turns it into a TF bundle, not into another safetensors file",
                req.path.display()
            ),
        )
        .with_path(&req.path)
        .with_hint(format!(
            "to write a TF bundle, pass a prefix without extension as the output (e.g. {}){}",
            req.out.with_extension("").display(),
            if req.to.is_some() {
                " and no --to safetensors"
            } else {
                ""
            }
        )));
    }
    let (form, files) = match to {
        ConvertTo::Tf => (OutputForm::Prefix, bundle_files(&req.out)),
        ConvertTo::Safetensors => (OutputForm::File(".safetensors"), vec![req.out.clone()]),
    };
    check_output(&req.out, form, &files, req.force)?;
    let mut bar = ConvertProgress::new(progress, "convert");
    let mut notes = Vec::new();
    let report = if to == ConvertTo::Tf && is_safetensors(&req.path) {
        let names = safetensors_names(&req.path)?;
        check_not_empty(req, &selection, names.iter().map(String::as_str))?;
        let r = convert::to_tf::safetensors_to_tf(
            &req.path,
            &req.out,
            &selection,
            req.strict,
            &mut |p| bar.update(p),
        )?;
        (r.tensors.len(), None, skipped(r.skipped))
    } else {
        let ckpt = open_plain(req)?;
        notes.extend(ckpt.notes().iter().cloned());
        if files.iter().any(|f| is_checkpoint_file(ckpt.prefix(), f)) {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "{} is {}",
                    req.out.display(),
                    if to == ConvertTo::Tf {
                        "the input checkpoint"
                    } else {
                        "a file of the input checkpoint"
                    }
                ),
            )
            .with_path(&req.out)
            .with_hint("choose another output"));
        }
        check_not_empty(
            req,
            &selection,
            ckpt.tensors()
                .iter()
                .map(|t| t.name.as_str())
                .chain(ckpt.problems().iter().map(|p| p.name.as_str())),
        )?;
        if to == ConvertTo::Tf {
            // From a checkpoint, the only skips are tensors that cannot be read.
            let r = convert::to_tf::checkpoint_to_tf(
                &ckpt,
                &req.out,
                &selection,
                !req.skip_unreadable,
                &mut |p| bar.update(p),
            )
            .map_err(unreadable_hint)?;
            (r.tensors.len(), None, skipped(r.skipped))
        } else {
            let opts = Options {
                selection,
                strict: req.strict,
                skip_unreadable: req.skip_unreadable,
                strings: match req.strings {
                    Strings::Skip => StringPolicy::Skip,
                    Strings::Metadata => StringPolicy::Metadata,
                },
                float8: req.float8,
            };
            let r = convert::to_safetensors::to_safetensors(&ckpt, &req.out, &opts, &mut |p| {
                bar.update(p)
            })
            .map_err(unreadable_hint)?;
            (r.tensors.len(), Some(r.bytes), skipped(r.skipped))
        }
    };
    Ok(ConvertReport {
        out: req.out.display().to_string(),
        format: match to {
            ConvertTo::Tf => "tf",
            ConvertTo::Safetensors => "safetensors",
        },
        tensors: report.0,
        bytes: report.1,
        skipped: report.2,
        notes,
    })
}

fn skipped(v: Vec<convert::to_safetensors::Skipped>) -> Vec<SkippedTensor> {
    v.into_iter()
        .map(|s| SkippedTensor {
            name: s.name,
            dtype: s.dtype.map(|d| d.to_string()),
            reason: s.reason,
        })
        .collect()
}

/// A read error of a tensor that could be left out gets the hint how.
fn unreadable_hint(e: convert::Error) -> Error {
    let read = matches!(e.kind(), convert::ErrorKind::Read(_));
    let e = Error::from(e);
    if read {
        e.with_hint("TensorFlow cannot read this tensor either; pass --skip-unreadable to convert the others")
    } else {
        e
    }
}

/// The filters must leave something, unless an empty output is asked for.
fn check_not_empty<'a>(
    req: &ConvertRequest,
    selection: &Selection,
    names: impl Iterator<Item = &'a str>,
) -> Result<()> {
    let mut any = false;
    let mut total = 0usize;
    for n in names {
        total += 1;
        any |= selection.selects(n);
    }
    if any || req.allow_empty {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::InvalidArgument,
        format!(
            "the filters leave none of the {total} tensors of {}",
            req.path.display()
        ),
    )
    .with_path(&req.path)
    .with_hint(
        "check --include/--exclude/--no-optimizer, or pass --allow-empty to write an empty output",
    ))
}

fn safetensors_names(path: &std::path::Path) -> Result<Vec<String>> {
    let mut f = std::fs::File::open(path).map_err(|e| {
        Error::new(
            ErrorKind::Read(tf_bundle::ErrorCode::Io),
            format!("{}: {e}", path.display()),
        )
        .with_path(path)
        .with_source(e)
    })?;
    let h = convert::to_tf::read_header(&mut f, path)?;
    Ok(h.tensors.into_iter().map(|t| t.0).collect())
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
