//! Legacy V1 checkpoints (`SavedTensorSlices` tables, docs/tf-bundle-format.md §5): one table
//! per file, key `""` → the meta listing each tensor's shape, dtype and slices; every other key
//! is a slice key → the slice's values as `TensorProto` repeated fields. There is no tensor
//! checksum in V1; the table block CRCs are checked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use prost::Message;

use crate::bundle::{check_version, shape_from_proto};
use crate::dtype::DType;
use crate::error::{Error, ErrorKind, Part, Result};
use crate::io::ReadAt;
use crate::proto::{SavedTensorSlices, TensorProto};
use crate::slice::{self, Extents};
use crate::table::Table;
use crate::{ordered_code, Tensor, TensorData, TensorInfo};

struct V1File {
    path: PathBuf,
    src: Box<dyn ReadAt>,
    table: Table,
}

#[derive(Debug)]
struct V1Tensor {
    dtype: DType,
    shape: Vec<u64>,
    /// Stored extents and the index of the file holding them.
    slices: Vec<(Extents, usize)>,
}

/// An opened V1 checkpoint (one or more table files).
pub struct V1Checkpoint {
    files: Vec<V1File>,
    tensors: BTreeMap<String, V1Tensor>,
    infos: Vec<TensorInfo>,
}

impl std::fmt::Debug for V1Checkpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("V1Checkpoint")
            .field(
                "files",
                &self.files.iter().map(|f| &f.path).collect::<Vec<_>>(),
            )
            .field("tensors", &self.tensors.len())
            .finish()
    }
}

impl V1Checkpoint {
    /// Opens the given table files (the shards of one checkpoint).
    pub fn open(paths: &[PathBuf]) -> Result<V1Checkpoint> {
        let mut files = Vec::with_capacity(paths.len());
        for p in paths {
            let src: Box<dyn ReadAt> = Box::new(crate::io::open_file(p)?);
            files.push((p.clone(), src));
        }
        V1Checkpoint::from_sources(files)
    }

    /// V1 table files from memory (named `<memory-N>` in errors).
    pub fn from_memory(files: Vec<Vec<u8>>) -> Result<V1Checkpoint> {
        V1Checkpoint::from_sources(
            files
                .into_iter()
                .enumerate()
                .map(|(i, b)| {
                    (
                        PathBuf::from(format!("<memory-{i}>")),
                        Box::new(b) as Box<dyn ReadAt>,
                    )
                })
                .collect(),
        )
    }

    fn from_sources(sources: Vec<(PathBuf, Box<dyn ReadAt>)>) -> Result<V1Checkpoint> {
        let mut files = Vec::with_capacity(sources.len());
        let mut tensors: BTreeMap<String, V1Tensor> = BTreeMap::new();
        for (fi, (path, src)) in sources.into_iter().enumerate() {
            let at = |e: Error| e.with_path(&path);
            let table = Table::parse(src.as_ref()).map_err(at)?;
            let missing = || {
                at(Error::corrupt(Part::V1,
                    "failed to find the saved tensor slices at the beginning of the checkpoint file",
                ))
            };
            let meta_bytes = table
                .get(src.as_ref(), b"")
                .map_err(at)?
                .ok_or_else(missing)?;
            let meta = SavedTensorSlices::decode(meta_bytes.as_slice())
                .ok()
                .and_then(|s| s.meta)
                .ok_or_else(missing)?;
            if let Some(v) = &meta.versions {
                check_version(v).map_err(at)?;
            }
            for t in &meta.tensor {
                let key_at = |e: Error| at(e.with_key(t.name.clone()));
                let dtype = DType::from_proto(t.r#type)
                    .map_err(|u| key_at(Error::new(ErrorKind::UnsupportedDtype(u.0))))?;
                let shape = shape_from_proto(t.shape.as_ref()).map_err(key_at)?;
                let entry = tensors.entry(t.name.clone()).or_insert_with(|| V1Tensor {
                    dtype,
                    shape: shape.clone(),
                    slices: Vec::new(),
                });
                if entry.shape != shape {
                    return Err(key_at(Error::corrupt(
                        Part::V1,
                        format!(
                            "incompatible tensor shapes across files: existing {:?}, new {shape:?}",
                            entry.shape
                        ),
                    )));
                }
                if entry.dtype != dtype {
                    return Err(key_at(Error::corrupt(
                        Part::V1,
                        format!(
                            "incompatible tensor types across files: existing {}, new {dtype}",
                            entry.dtype
                        ),
                    )));
                }
                for s in &t.slice {
                    entry.slices.push((slice::from_proto(s), fi));
                }
            }
            files.push(V1File { path, src, table });
        }
        let infos = tensors
            .iter()
            .map(|(name, t)| TensorInfo {
                name: name.clone(),
                dtype: t.dtype,
                shape: t.shape.clone(),
                sliced: !(t.slices.len() == 1 && t.slices[0].0.iter().all(|&e| e == (0, -1))),
            })
            .collect();
        Ok(V1Checkpoint {
            files,
            tensors,
            infos,
        })
    }

    /// Number of table files.
    pub fn num_files(&self) -> usize {
        self.files.len()
    }

    /// The tensors, sorted by name.
    pub fn infos(&self) -> &[TensorInfo] {
        &self.infos
    }

    /// Reads a whole tensor, assembling its slices.
    pub fn read(&self, name: &str) -> Result<Tensor> {
        let t = self
            .tensors
            .get(name)
            .ok_or_else(|| Error::new(ErrorKind::KeyNotFound).with_key(name))?;
        let key_err = |e: Error| e.with_key(name);
        let total = t
            .shape
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .ok_or_else(|| key_err(Error::corrupt(Part::V1, "element count overflows")))?;
        let stored: Vec<Extents> = t.slices.iter().map(|s| s.0.clone()).collect();
        let mut regions = Vec::with_capacity(stored.len());
        for ext in &stored {
            regions.push(slice::resolve(ext, &t.shape).map_err(key_err)?);
        }
        slice::check_cover(&regions, total, &stored).map_err(key_err)?;
        let mut parts = Vec::with_capacity(stored.len());
        for ((ext, fi), region) in t.slices.iter().zip(&regions) {
            let f = &self.files[*fi];
            let at = |e: Error| e.with_key(name).with_path(&f.path);
            let key = ordered_code::encode_slice_key(name.as_bytes(), ext);
            let bytes = f
                .table
                .get(f.src.as_ref(), &key)
                .map_err(at)?
                .ok_or_else(|| {
                    at(Error::new(ErrorKind::Slices(format!(
                        "the record of slice {} is missing",
                        slice::display(ext)
                    ))))
                })?;
            let saved = SavedTensorSlices::decode(bytes.as_slice()).map_err(|e| {
                at(Error::corrupt(
                    Part::V1,
                    format!("slice record not parseable: {e}"),
                ))
            })?;
            let data = saved
                .data
                .ok_or_else(|| at(Error::corrupt(Part::V1, "slice record has no data")))?;
            if data.name != name {
                return Err(at(Error::corrupt(
                    Part::V1,
                    format!("slice record names tensor {:?}", data.name),
                )));
            }
            let proto = data.data.unwrap_or_default();
            let n = slice::region_elements(region).unwrap_or(0);
            parts.push((values_of(&proto, t.dtype, n).map_err(at)?, region));
        }
        let data = match t.dtype.element_size() {
            Some(es) => {
                let nbytes = usize::try_from(total.saturating_mul(es as u64)).map_err(|_| {
                    key_err(Error::corrupt(Part::V1, "tensor too large for memory"))
                })?;
                let mut out = vec![0u8; nbytes];
                for (vals, region) in parts {
                    let TensorData::Bytes(b) = vals else {
                        return Err(key_err(Error::corrupt(Part::V1, "unexpected string data")));
                    };
                    slice::copy_region(&mut out, &t.shape, region, &b, es).map_err(key_err)?;
                }
                TensorData::Bytes(out)
            }
            None => {
                let mut out = vec![Vec::new(); total as usize];
                for (vals, region) in parts {
                    let TensorData::Strings(s) = vals else {
                        return Err(key_err(Error::corrupt(Part::V1, "unexpected numeric data")));
                    };
                    slice::copy_region(&mut out, &t.shape, region, &s, 1).map_err(key_err)?;
                }
                TensorData::Strings(out)
            }
        };
        Ok(Tensor {
            dtype: t.dtype,
            shape: t.shape.clone(),
            data,
        })
    }

    /// The files of this checkpoint.
    pub fn paths(&self) -> Vec<&Path> {
        self.files.iter().map(|f| f.path.as_path()).collect()
    }
}

/// Converts the values of a V1 `TensorProto` (the typed repeated field of `dtype`, or
/// `tensor_content` if set) to little-endian bytes / strings, checking the count is `n`.
pub fn values_of(p: &TensorProto, dtype: DType, n: u64) -> Result<TensorData> {
    use DType::*;
    let count = |have: usize, per: u64| -> Result<()> {
        if have as u64 != n.saturating_mul(per) {
            return Err(Error::corrupt(
                Part::V1,
                format!(
                    "slice holds {have} values, expected {}",
                    n.saturating_mul(per)
                ),
            ));
        }
        Ok(())
    };
    if dtype != String && !p.tensor_content.is_empty() {
        let es = dtype.element_size().unwrap_or(1) as u64;
        count(p.tensor_content.len(), es)?;
        return Ok(TensorData::Bytes(p.tensor_content.clone()));
    }
    let mut out = Vec::new();
    match dtype {
        String => {
            count(p.string_val.len(), 1)?;
            return Ok(TensorData::Strings(p.string_val.clone()));
        }
        Float32 => {
            count(p.float_val.len(), 1)?;
            p.float_val.iter().for_each(|v| out.extend(v.to_le_bytes()));
        }
        Float64 => {
            count(p.double_val.len(), 1)?;
            p.double_val
                .iter()
                .for_each(|v| out.extend(v.to_le_bytes()));
        }
        Complex64 => {
            count(p.scomplex_val.len(), 2)?;
            p.scomplex_val
                .iter()
                .for_each(|v| out.extend(v.to_le_bytes()));
        }
        Complex128 => {
            count(p.dcomplex_val.len(), 2)?;
            p.dcomplex_val
                .iter()
                .for_each(|v| out.extend(v.to_le_bytes()));
        }
        Int64 => {
            count(p.int64_val.len(), 1)?;
            p.int64_val.iter().for_each(|v| out.extend(v.to_le_bytes()));
        }
        UInt32 => {
            count(p.uint32_val.len(), 1)?;
            p.uint32_val
                .iter()
                .for_each(|v| out.extend(v.to_le_bytes()));
        }
        UInt64 => {
            count(p.uint64_val.len(), 1)?;
            p.uint64_val
                .iter()
                .for_each(|v| out.extend(v.to_le_bytes()));
        }
        Bool => {
            count(p.bool_val.len(), 1)?;
            p.bool_val.iter().for_each(|&v| out.push(u8::from(v)));
        }
        Float16 | BFloat16 => {
            count(p.half_val.len(), 1)?;
            p.half_val
                .iter()
                .for_each(|&v| out.extend((v as u16).to_le_bytes()));
        }
        Float8E5M2 | Float8E4M3FN | Float8E4M3FNUZ | Float8E4M3B11FNUZ | Float8E5M2FNUZ
        | Float4E2M1FN
            if !p.float8_val.is_empty() =>
        {
            count(p.float8_val.len(), 1)?;
            out.extend_from_slice(&p.float8_val);
        }
        _ => {
            // int_val holds every other integer-like dtype, widened to int32.
            let es = dtype.element_size().unwrap_or(1);
            count(p.int_val.len(), 1)?;
            for &v in &p.int_val {
                out.extend_from_slice(&v.to_le_bytes()[..es.min(4)]);
            }
        }
    }
    Ok(TensorData::Bytes(out))
}
