//! TF checkpoint → `.safetensors` (`returnn-ckpt convert PATH OUT.safetensors`).
//!
//! The whole plan (selection, renames, dtype mapping, skips, metadata) is computed before the
//! output is created, so `--strict` fails without writing anything. Then each tensor is
//! streamed with `Checkpoint::read_raw_to` into a [`SafetensorsWriter`]: unsliced tensors are
//! copied from the data file in bounded chunks, sliced ones are assembled by the reader; the
//! CRC is checked by the reader, and any error drops the writer, which removes its temp file.
//!
//! `__metadata__` keys written:
//! * `source`: the checkpoint prefix as resolved;
//! * `epoch`: the RETURNN epoch, when the prefix's file name ends in `.NNN` (`network.003`,
//!   `network.pretrain.002`);
//! * `global_step`: the value of an integer scalar tensor `global_step`, when present;
//! * with `--strings metadata`: `string:<output name>` for every selected string tensor of at
//!   most [`MAX_STRING_METADATA_BYTES`] bytes, a JSON object `{"shape": [...], "utf8": [...]}`
//!   (all elements valid UTF-8) or `{"shape": [...], "hex": [...]}` (otherwise), elements in C
//!   order.

use std::collections::BTreeMap;
use std::path::Path;

use tf_bundle::{Checkpoint, DType, TensorData};

use crate::dtypes::{safetensors_dtype, safetensors_dtype_with_float8};
use crate::select::Selection;
use crate::transfer::{self, Transfer};
use crate::{Error, ErrorKind, Progress, SafetensorsWriter};

/// The largest string tensor (sum of element lengths) stored in `__metadata__`.
pub const MAX_STRING_METADATA_BYTES: u64 = 65_536;

/// What to do with string tensors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StringPolicy {
    /// Skip them (one line each; an error with `strict`).
    #[default]
    Skip,
    /// Store small ones in `__metadata__` (see the module docs); skip larger ones.
    Metadata,
}

/// Options of [`to_safetensors`].
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Which tensors, under which names.
    pub selection: Selection,
    /// Any skip is an error.
    pub strict: bool,
    /// Skip tensors that cannot be read (entries that cannot be described, partitioned tensors
    /// whose slices do not cover them) instead of failing: TF cannot read them either, but
    /// leaving them out silently loses data, so it must be asked for.
    pub skip_unreadable: bool,
    /// String tensors.
    pub strings: StringPolicy,
    /// Map float8 dtypes to safetensors' F8_* instead of skipping them.
    pub float8: bool,
}

/// A tensor left out of the output, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// Source name.
    pub name: String,
    /// Its dtype (`None` when the entry itself cannot be described).
    pub dtype: Option<DType>,
    /// Why it was skipped (one line).
    pub reason: String,
}

/// What a conversion did (or, from [`plan`], will do).
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// `(source name, output name, dtype, shape)` of every tensor written, in source order.
    pub tensors: Vec<(String, String, DType, Vec<u64>)>,
    /// Tensors skipped.
    pub skipped: Vec<Skipped>,
    /// Tensors not selected by include/exclude/no-optimizer.
    pub not_selected: Vec<String>,
    /// The `__metadata__` written.
    pub metadata: BTreeMap<String, String>,
    /// Payload bytes of the written tensors.
    pub bytes: u64,
}

/// The RETURNN epoch of a checkpoint prefix (`.../network.003` → 3), if its file name ends in
/// `.` followed by digits.
pub fn epoch_from_prefix(prefix: &Path) -> Option<u64> {
    let name = prefix.file_name()?.to_str()?;
    let (_, digits) = name.rsplit_once('.')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The value of an integer scalar `global_step` tensor, if the checkpoint has one.
pub fn global_step(ckpt: &Checkpoint) -> Result<Option<i64>, Error> {
    let Some(info) = ckpt.get("global_step") else {
        return Ok(None);
    };
    if !info.shape.is_empty() {
        return Ok(None);
    }
    let t = ckpt.read("global_step")?;
    let TensorData::Bytes(b) = &t.data else {
        return Ok(None);
    };
    Ok(match t.dtype {
        DType::Int64 => b
            .get(..8)
            .and_then(|s| s.try_into().ok())
            .map(i64::from_le_bytes),
        DType::Int32 => b
            .get(..4)
            .and_then(|s| s.try_into().ok())
            .map(|a| i64::from(i32::from_le_bytes(a))),
        _ => None,
    })
}

fn strings_metadata(shape: &[u64], strings: &[Vec<u8>]) -> Result<String, Error> {
    let utf8: Option<Vec<&str>> = strings
        .iter()
        .map(|s| std::str::from_utf8(s).ok())
        .collect();
    let v = match utf8 {
        Some(u) => serde_json::json!({ "shape": shape, "utf8": u }),
        None => {
            serde_json::json!({ "shape": shape, "hex": strings.iter().map(hex::encode).collect::<Vec<_>>() })
        }
    };
    serde_json::to_string(&v).map_err(|e| Error::new(ErrorKind::Safetensors(e.to_string())))
}

/// Computes what [`to_safetensors`] would write, without creating any file. With
/// `opts.strict`, any skip is an [`ErrorKind::Unsupported`] error naming the tensor.
pub fn plan(ckpt: &Checkpoint, opts: &Options) -> Result<Report, Error> {
    let mut report = Report::default();
    let names: Vec<&str> = ckpt.tensors().iter().map(|t| t.name.as_str()).collect();
    let selected = opts.selection.apply(names.iter().copied())?;
    let sel: std::collections::HashSet<&str> = selected.iter().map(|(s, _)| s.as_str()).collect();
    report.not_selected = names
        .iter()
        .filter(|n| !sel.contains(*n))
        .map(|n| n.to_string())
        .collect();
    for p in ckpt.problems() {
        if opts.selection.selects(&p.name) {
            if !opts.skip_unreadable {
                return Err(Error::from(p.error.clone())
                    .with_key(&p.name)
                    .with_path(ckpt.prefix()));
            }
            report.skipped.push(Skipped {
                name: p.name.clone(),
                dtype: None,
                reason: format!("cannot be read: {}", p.error),
            });
        }
    }
    report
        .metadata
        .insert("source".into(), ckpt.prefix().display().to_string());
    if let Some(e) = epoch_from_prefix(ckpt.prefix()) {
        report.metadata.insert("epoch".into(), e.to_string());
    }
    if let Some(g) = global_step(ckpt)? {
        report.metadata.insert("global_step".into(), g.to_string());
    }
    for (src, out) in selected {
        let Some(info) = ckpt.get(&src) else { continue };
        let mapped = if opts.float8 {
            safetensors_dtype_with_float8(info.dtype)
        } else {
            safetensors_dtype(info.dtype)
        };
        let skip = |reason: String| Skipped {
            name: src.clone(),
            dtype: Some(info.dtype),
            reason,
        };
        if info.dtype == DType::String {
            if opts.strings == StringPolicy::Metadata {
                let t = ckpt.read(&src)?;
                if let TensorData::Strings(s) = &t.data {
                    let total: u64 = s.iter().map(|x| x.len() as u64).sum();
                    if total <= MAX_STRING_METADATA_BYTES {
                        report
                            .metadata
                            .insert(format!("string:{out}"), strings_metadata(&t.shape, s)?);
                        continue;
                    }
                    report.skipped.push(skip(format!(
                        "string tensor of {total} bytes is too large for __metadata__ (limit {MAX_STRING_METADATA_BYTES})"
                    )));
                    continue;
                }
            }
            report.skipped.push(skip(
                "string tensor: safetensors has no string dtype (see --strings metadata)".into(),
            ));
            continue;
        }
        let Some(_) = mapped else {
            let hint = if safetensors_dtype_with_float8(info.dtype).is_some() {
                " (use --float8 to map it)"
            } else {
                ""
            };
            report.skipped.push(skip(format!(
                "dtype {} has no safetensors equivalent{hint}",
                info.dtype
            )));
            continue;
        };
        if info.sliced {
            // a partitioned tensor whose slices do not cover it cannot be assembled (TF cannot
            // either): find out now, before the header is written
            match ckpt.read_raw_to(&src, &mut std::io::sink()) {
                Ok(_) => {}
                Err(e) if e.kind().label() == "slices" && opts.skip_unreadable => {
                    report
                        .skipped
                        .push(skip(format!("cannot be assembled: {e}")));
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
        }
        let nbytes = info.nbytes().ok_or_else(|| {
            Error::new(ErrorKind::Unsupported(format!(
                "shape {:?} too large",
                info.shape
            )))
            .with_key(&src)
        })?;
        report.bytes = report.bytes.saturating_add(nbytes);
        report
            .tensors
            .push((src, out, info.dtype, info.shape.clone()));
    }
    if opts.strict {
        if let Some(s) = report.skipped.first() {
            return Err(Error::new(ErrorKind::Unsupported(format!(
                "--strict: {} tensor(s) would be skipped; first: {}",
                report.skipped.len(),
                s.reason
            )))
            .with_path(ckpt.prefix())
            .with_key(&s.name));
        }
    }
    Ok(report)
}

/// Converts `ckpt` to the safetensors file `out` (atomically; see the module docs). Returns
/// the report; the caller prints the skips. Same as [`to_safetensors_with`] with the default
/// [`Transfer`] (zero-copy where the kernel allows it).
pub fn to_safetensors(
    ckpt: &Checkpoint,
    out: &Path,
    opts: &Options,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Report, Error> {
    to_safetensors_with(ckpt, out, opts, &Transfer::default(), progress)
}

/// [`to_safetensors`] with the transfer settings: tensors whose bytes pass through unchanged
/// are copied file to file (`copy_file_range`) while another thread checks their CRCs
/// ([`crate::transfer`]); the file is committed only after every CRC passed. The output is
/// byte-identical either way.
pub fn to_safetensors_with(
    ckpt: &Checkpoint,
    out: &Path,
    opts: &Options,
    transfer: &Transfer,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Report, Error> {
    let report = plan(ckpt, opts)?;
    let decl = report
        .tensors
        .iter()
        .map(|(_, o, d, s)| (o.clone(), *d, s.clone()))
        .collect();
    let mut w = SafetensorsWriter::create(out, decl, report.metadata.clone())?;
    let by_out: BTreeMap<&str, &str> = report
        .tensors
        .iter()
        .map(|(s, o, ..)| (o.as_str(), s.as_str()))
        .collect();
    let order: Vec<String> = w.order().map(str::to_owned).collect();
    // (output name, source name, layout if its bytes can be copied unchanged)
    let mut jobs = Vec::with_capacity(order.len());
    for o in &order {
        let src = by_out.get(o.as_str()).copied().unwrap_or(o.as_str());
        let l = ckpt
            .layout(src)
            .ok()
            .flatten()
            .filter(|l| transfer::pieces(l).is_some());
        jobs.push((o.as_str(), src, l));
    }
    let copied: Vec<&tf_bundle::stream::Layout<'_>> =
        jobs.iter().filter_map(|j| j.2.as_ref()).collect();
    let mut p = Progress {
        done: 0,
        total: order.len() as u64,
        bytes_done: 0,
        bytes_total: report.bytes,
    };
    transfer::with_verifier(&copied, |stop| {
        for (o, src, l) in &jobs {
            transfer::stopped(stop)?;
            let n = match l.as_ref().and_then(transfer::pieces) {
                Some(pieces) => {
                    w.copy_tensor(o, &pieces, transfer.copy)?;
                    pieces.iter().map(|p| p.2).sum()
                }
                None => {
                    let mut s = w.stream(o)?;
                    let n = ckpt.read_raw_to(src, &mut s)?;
                    s.finish()?;
                    n
                }
            };
            p.done += 1;
            p.bytes_done += n;
            progress(&p);
        }
        Ok(())
    })?;
    w.finish()?;
    Ok(report)
}
