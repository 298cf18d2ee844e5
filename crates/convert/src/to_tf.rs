//! Writing TF bundles: `.safetensors` → TF bundle (`returnn-ckpt convert --to tf
//! IN.safetensors OUT_PREFIX`, the way back), and TF checkpoint → TF bundle
//! ([`checkpoint_to_tf`]: V1 or multi-shard to one V2 bundle, with selection and renames).
//!
//! Only the header is held in memory: it is parsed and validated with the `safetensors`
//! crate's own [`safetensors::tensor::Metadata`] (offsets must tile the data exactly, sizes must
//! match shapes), the file length is checked against it, and each tensor is then streamed from
//! the file into [`tf_bundle::write::BundleWriter::add_raw_from`] in bounded chunks.
//! `string:<name>` entries of `__metadata__` written by `convert --strings metadata` become
//! string tensors again. Tensors are added in file order, so the bundle's data file has the
//! same order.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use ckpt_io::ReadAt;
use tf_bundle::crc::extend as crc32c_append;

use safetensors::tensor::Metadata;
use tf_bundle::write::BundleWriter;
use tf_bundle::DType;

use crate::dtypes::tf_dtype;
use crate::safetensors_out::MAX_HEADER_SIZE;
use crate::select::Selection;
use crate::to_safetensors::Skipped;
use crate::transfer::{self, Transfer};
use crate::{Error, ErrorKind, Progress};

/// What a safetensors → TF conversion wrote.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// `(source name, output name, dtype, shape)` written, in file order.
    pub tensors: Vec<(String, String, DType, Vec<u64>)>,
    /// Tensors TF has no dtype for (F4, F6, F8_E8M0).
    pub skipped: Vec<Skipped>,
    /// The file's `__metadata__`.
    pub metadata: std::collections::BTreeMap<String, String>,
}

/// A safetensors file's header, read and validated without reading the data.
pub struct Header {
    /// Tensors in data order: name, dtype, shape, absolute file offset, byte length.
    pub tensors: Vec<(String, safetensors::Dtype, Vec<u64>, u64, u64)>,
    /// `__metadata__`.
    pub metadata: std::collections::BTreeMap<String, String>,
}

/// Reads and validates the header of the safetensors file `path`.
pub fn read_header(file: &mut File, path: &Path) -> Result<Header, Error> {
    let bad = |m: String| Error::new(ErrorKind::Safetensors(m)).with_path(path);
    let file_len = file.metadata().map_err(|e| Error::io(e, path))?.len();
    let mut n8 = [0u8; 8];
    file.read_exact(&mut n8).map_err(|_| {
        bad(format!(
            "file of {file_len} bytes is too short for a header"
        ))
    })?;
    let n = u64::from_le_bytes(n8);
    if n > MAX_HEADER_SIZE as u64 || n.saturating_add(8) > file_len {
        return Err(bad(format!(
            "header length {n} is invalid for a file of {file_len} bytes"
        )));
    }
    let mut header = vec![0u8; n as usize];
    file.read_exact(&mut header)
        .map_err(|e| Error::io(e, path))?;
    parse_header(&header, n, file_len, &bad)
}

/// [`read_header`] over a positioned byte source (`path` names it in errors): the same checks
/// (the 8-byte length against the file and [`MAX_HEADER_SIZE`] before anything is allocated,
/// the header parsed and validated by the `safetensors` crate, the data ending exactly at the
/// end of the source), with no cursor.
pub fn read_header_at(src: &dyn ReadAt, path: &Path) -> Result<Header, Error> {
    let bad = |m: String| Error::new(ErrorKind::Safetensors(m)).with_path(path);
    let file_len = src.size();
    let mut n8 = [0u8; 8];
    if file_len < 8 {
        return Err(bad(format!(
            "file of {file_len} bytes is too short for a header"
        )));
    }
    src.read_exact_at(0, &mut n8)
        .map_err(|e| Error::io(e, path))?;
    let n = u64::from_le_bytes(n8);
    if n > MAX_HEADER_SIZE as u64 || n.saturating_add(8) > file_len {
        return Err(bad(format!(
            "header length {n} is invalid for a file of {file_len} bytes"
        )));
    }
    let header =
        ckpt_io::read_vec(src, 8, n).map_err(|e| bad(format!("reading the header: {e}")))?;
    parse_header(&header, n, file_len, &bad)
}

fn parse_header(
    header: &[u8],
    n: u64,
    file_len: u64,
    bad: &dyn Fn(String) -> Error,
) -> Result<Header, Error> {
    let meta: Metadata =
        serde_json::from_slice(header).map_err(|e| bad(format!("invalid header: {e}")))?;
    let data_start = 8 + n;
    if data_start.checked_add(meta.data_len() as u64) != Some(file_len) {
        return Err(bad(format!(
            "the header describes {} data bytes but the file has {}",
            meta.data_len(),
            file_len - data_start
        )));
    }
    let infos = meta.tensors();
    let mut tensors = Vec::with_capacity(infos.len());
    for name in meta.offset_keys() {
        let Some(info) = infos.get(&name) else {
            continue;
        };
        let (b, e) = info.data_offsets;
        tensors.push((
            name,
            info.dtype,
            info.shape.iter().map(|&d| d as u64).collect(),
            data_start + b as u64,
            (e - b) as u64,
        ));
    }
    let metadata = meta
        .metadata()
        .as_ref()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    Ok(Header { tensors, metadata })
}

fn strings_from_metadata(value: &str) -> Option<(Vec<u64>, Vec<Vec<u8>>)> {
    let v: serde_json::Value = serde_json::from_str(value).ok()?;
    let shape: Vec<u64> = v
        .get("shape")?
        .as_array()?
        .iter()
        .map(|d| d.as_u64())
        .collect::<Option<_>>()?;
    let strings = if let Some(u) = v.get("utf8") {
        u.as_array()?
            .iter()
            .map(|s| s.as_str().map(|s| s.as_bytes().to_vec()))
            .collect::<Option<Vec<_>>>()?
    } else {
        v.get("hex")?
            .as_array()?
            .iter()
            .map(|s| hex::decode(s.as_str()?).ok())
            .collect::<Option<Vec<_>>>()?
    };
    Some((shape, strings))
}

/// Converts the safetensors file `input` into a TF bundle at `out_prefix`. Same as
/// [`safetensors_to_tf_with`] with the default [`Transfer`].
pub fn safetensors_to_tf(
    input: &Path,
    out_prefix: &Path,
    selection: &Selection,
    strict: bool,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Report, Error> {
    safetensors_to_tf_with(
        input,
        out_prefix,
        selection,
        strict,
        &Transfer::default(),
        progress,
    )
}

/// [`safetensors_to_tf`] with the transfer settings: each tensor's bytes are copied file to
/// file (`copy_file_range` where the kernel allows it) while another thread computes their
/// CRC32C for the index (reading the same bytes through the page cache); the bundle is written
/// only after both finished. Byte-identical to a buffered copy.
pub fn safetensors_to_tf_with(
    input: &Path,
    out_prefix: &Path,
    selection: &Selection,
    strict: bool,
    transfer: &Transfer,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Report, Error> {
    let mut file = File::open(input).map_err(|e| Error::io(e, input))?;
    let header = read_header(&mut file, input)?;
    let mut report = Report {
        metadata: header.metadata.clone(),
        ..Report::default()
    };
    let string_entries: Vec<(String, &str)> = header
        .metadata
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("string:")
                .map(|n| (n.to_string(), v.as_str()))
        })
        .collect();
    let all_names = header
        .tensors
        .iter()
        .map(|t| t.0.as_str())
        .chain(string_entries.iter().map(|s| s.0.as_str()));
    let selected: std::collections::HashMap<String, String> =
        selection.apply(all_names)?.into_iter().collect();
    for (name, st, ..) in &header.tensors {
        if selected.contains_key(name) && tf_dtype(*st).is_none() {
            let s = Skipped {
                name: name.clone(),
                dtype: None,
                reason: format!("TensorFlow has no dtype for safetensors {st:?}"),
            };
            if strict {
                return Err(Error::new(ErrorKind::Unsupported(s.reason))
                    .with_path(input)
                    .with_key(name));
            }
            report.skipped.push(s);
        }
    }
    let mut w = BundleWriter::create(out_prefix)?;
    let bytes_total = header.tensors.iter().map(|t| t.4).sum();
    let mut p = Progress {
        done: 0,
        total: header.tensors.len() as u64,
        bytes_done: 0,
        bytes_total,
    };
    // the tensors copied: (output name, offset, length)
    let copies: Vec<(&String, u64, u64)> = header
        .tensors
        .iter()
        .filter_map(|(name, st, _, offset, len)| {
            tf_dtype(*st)?;
            selected.get(name).map(|o| (o, *offset, *len))
        })
        .collect();
    let src = ckpt_io::FileSource::open(input).map_err(|e| Error::io(e, input))?;
    let stop = AtomicBool::new(false);
    let crcs = std::thread::scope(|scope| -> Result<Vec<u32>, Error> {
        // the CRCs of the same bytes, on another core, through the page cache
        let crc_thread = scope.spawn(|| -> std::io::Result<Vec<u32>> {
            let mut buf = vec![0u8; 1 << 20];
            let mut out = Vec::with_capacity(copies.len());
            for &(_, offset, len) in &copies {
                let mut crc = 0u32;
                let mut at = 0u64;
                while at < len {
                    if stop.load(Ordering::Relaxed) {
                        return Err(std::io::Error::other("stopped"));
                    }
                    let n = (len - at).min(buf.len() as u64) as usize;
                    src.read_exact_at(offset + at, &mut buf[..n])?;
                    crc = crc32c_append(crc, &buf[..n]);
                    at += n as u64;
                }
                out.push(crc);
            }
            Ok(out)
        });
        let copied = (|| -> Result<(), Error> {
            for (name, st, shape, offset, len) in &header.tensors {
                p.done += 1;
                p.bytes_done += len;
                let (Some(out), Some(dtype)) = (selected.get(name), tf_dtype(*st)) else {
                    continue;
                };
                w.copy_raw(
                    out,
                    dtype,
                    shape,
                    &[(&file, *offset, *len)],
                    None,
                    transfer.copy,
                )?;
                report
                    .tensors
                    .push((name.clone(), out.clone(), dtype, shape.clone()));
                progress(&p);
            }
            Ok(())
        })();
        if copied.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        let crcs = crc_thread
            .join()
            .map_err(|_| Error::new(ErrorKind::Usage("the CRC thread panicked".into())))?;
        copied?;
        crcs.map_err(|e| Error::io(e, input))
    })?;
    for ((out, ..), crc) in copies.iter().zip(crcs) {
        w.set_crc(out, crc)?;
    }
    for (name, value) in string_entries {
        let Some(out) = selected.get(&name) else {
            continue;
        };
        let Some((shape, strings)) = strings_from_metadata(value) else {
            let reason = format!(
                "__metadata__ entry 'string:{name}' is not a string tensor written by convert"
            );
            if strict {
                return Err(Error::new(ErrorKind::Unsupported(reason))
                    .with_path(input)
                    .with_key(&name));
            }
            report.skipped.push(Skipped {
                name: name.clone(),
                dtype: None,
                reason,
            });
            continue;
        };
        w.add_strings(out, &shape, &strings)?;
        report
            .tensors
            .push((name.clone(), out.clone(), DType::String, shape));
    }
    w.finish()?;
    Ok(report)
}

/// Rewrites the TF checkpoint `ckpt` (V1 or V2, any number of shards, partitioned tensors
/// assembled) as one single-shard V2 bundle at `out_prefix`, keeping only the selected tensors
/// under their output names (`convert CKPT OUT --to tf`). Numeric tensors are streamed from the
/// reader into the writer; string tensors are read whole (one tensor at a time). Tensors that
/// cannot be described (see `Checkpoint::problems`) are skipped, or an error with `strict`.
pub fn checkpoint_to_tf(
    ckpt: &tf_bundle::Checkpoint,
    out_prefix: &Path,
    selection: &Selection,
    strict: bool,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Report, Error> {
    checkpoint_to_tf_with(
        ckpt,
        out_prefix,
        selection,
        strict,
        &Transfer::default(),
        progress,
    )
}

/// [`checkpoint_to_tf`] with the transfer settings: tensors whose bytes pass through
/// unchanged (little-endian, unsliced or contiguously sliced, read with positioned reads) are
/// copied file to file while another thread checks their CRCs; their index entries get the
/// CRC combined from the source entries (which that check confirms). The bundle is committed
/// only after every CRC passed; byte-identical to streaming the bytes through a buffer.
pub fn checkpoint_to_tf_with(
    ckpt: &tf_bundle::Checkpoint,
    out_prefix: &Path,
    selection: &Selection,
    strict: bool,
    transfer: &Transfer,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Report, Error> {
    let mut report = Report::default();
    for p in ckpt.problems() {
        if selection.selects(&p.name) {
            let reason = format!("cannot be read: {}", p.error);
            if strict {
                return Err(Error::new(ErrorKind::Unsupported(reason))
                    .with_path(ckpt.prefix())
                    .with_key(&p.name));
            }
            report.skipped.push(Skipped {
                name: p.name.clone(),
                dtype: None,
                reason,
            });
        }
    }
    let selected = selection.apply(ckpt.tensors().iter().map(|t| t.name.as_str()))?;
    let mut w = BundleWriter::create(out_prefix)?;
    let bytes_total = ckpt.tensors().iter().filter_map(|t| t.nbytes()).sum();
    let mut p = Progress {
        done: 0,
        total: selected.len() as u64,
        bytes_done: 0,
        bytes_total,
    };
    let layouts: Vec<Option<tf_bundle::stream::Layout<'_>>> = selected
        .iter()
        .map(|(src, _)| {
            ckpt.get(src)
                .filter(|i| i.dtype != DType::String)
                .and_then(|_| ckpt.layout(src).ok().flatten())
                .filter(|l| transfer::pieces(l).is_some())
        })
        .collect();
    let copied: Vec<&tf_bundle::stream::Layout<'_>> = layouts.iter().flatten().collect();
    transfer::with_verifier(&copied, |stop| {
        for ((src, out), layout) in selected.iter().zip(&layouts) {
            transfer::stopped(stop)?;
            let Some(info) = ckpt.get(src) else { continue };
            if let Some((l, pieces)) = layout
                .as_ref()
                .and_then(|l| Some((l, transfer::pieces(l)?)))
            {
                w.copy_raw(
                    out,
                    info.dtype,
                    &info.shape,
                    &pieces,
                    Some(l.stored_crc()),
                    transfer.copy,
                )?;
                p.bytes_done += l.len();
            } else if info.dtype == DType::String {
                let t = ckpt.read(src)?;
                w.add(out, t.dtype, &t.shape, &t.data)?;
            } else {
                let mut s = w.begin_raw(out, info.dtype, &info.shape)?;
                match ckpt.read_raw_to(src, &mut s) {
                    Ok(n) => {
                        s.finish()?;
                        p.bytes_done += n;
                    }
                    // a partitioned tensor whose slices do not cover it (TF cannot read it
                    // either); the abandoned stream leaves only unreferenced bytes
                    Err(e) if e.kind().label() == "slices" && !strict => {
                        report.skipped.push(Skipped {
                            name: src.clone(),
                            dtype: Some(info.dtype),
                            reason: format!("cannot be assembled: {e}"),
                        });
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            report
                .tensors
                .push((src.clone(), out.clone(), info.dtype, info.shape.clone()));
            p.done += 1;
            progress(&p);
        }
        Ok(())
    })?;
    w.finish()?;
    Ok(report)
}
