//! A [`TensorSource`] over a TF checkpoint opened with tf-bundle (index only; tensors are read
//! when a value is computed).

use std::path::Path;

use param_map::{Array, MapError, MapErrorKind, TensorMeta, TensorSource};
use tf_bundle::{Checkpoint, TensorData};

/// An opened source checkpoint.
pub struct CheckpointSource {
    file: String,
    ckpt: Checkpoint,
    metas: Vec<TensorMeta>,
}

/// Whether anything exists that TF's reader could open for `pattern`.
fn anything_exists(pattern: &Path) -> bool {
    let p = pattern;
    let mut index = pattern.as_os_str().to_os_string();
    index.push(".index");
    if p.exists() || Path::new(&index).exists() {
        return true;
    }
    // PREFIX.data-* or V1 glob parts.
    let (dir, base) = match (p.parent(), p.file_name()) {
        (Some(d), Some(b)) => (d, b.to_string_lossy().into_owned()),
        _ => return false,
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok()).any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(&format!("{base}.data-"))
            })
        })
        .unwrap_or(false)
}

impl CheckpointSource {
    /// Opens the checkpoint `pattern` (the file with `.meta`/`.index` stripped), shown as
    /// `file` (the string the config gives). A path with no matching files gives TF's
    /// `NotFoundError` wording.
    pub fn open(file: &str, pattern: &str) -> Result<CheckpointSource, MapError> {
        CheckpointSource::open_in(Path::new(""), file, pattern)
    }

    /// [`CheckpointSource::open`] for RETURNN started in `base` (relative patterns are read
    /// from there and shown as given).
    pub fn open_in(base: &Path, file: &str, pattern: &str) -> Result<CheckpointSource, MapError> {
        let fs_pattern = crate::paths::resolve(base, pattern);
        let ckpt = Checkpoint::open(&fs_pattern).map_err(|e| {
            if anything_exists(&fs_pattern) {
                MapError::new(MapErrorKind::Read, e.to_string()).with_file(file)
            } else {
                MapError::new(
                    MapErrorKind::CheckpointNotFound,
                    format!(
                        "Unsuccessful TensorSliceReader constructor: Failed to find any matching files for {pattern}"
                    ),
                )
            }
        })?;
        let metas = ckpt
            .tensors()
            .iter()
            .map(|t| TensorMeta {
                name: t.name.clone(),
                dtype: t.dtype,
                shape: t.shape.clone(),
            })
            .collect();
        Ok(CheckpointSource {
            file: file.to_string(),
            ckpt,
            metas,
        })
    }

    /// The underlying checkpoint.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.ckpt
    }
}

impl TensorSource for CheckpointSource {
    fn file(&self) -> &str {
        &self.file
    }

    fn tensors(&self) -> &[TensorMeta] {
        &self.metas
    }

    fn read(&self, key: &str) -> Result<Array, MapError> {
        let t = self.ckpt.read(key).map_err(|e| {
            MapError::new(MapErrorKind::Read, e.to_string())
                .with_var(key)
                .with_file(self.file.clone())
        })?;
        match t.data {
            TensorData::Bytes(b) => Array::new(t.dtype, t.shape, b)
                .map_err(|e| e.with_var(key).with_file(self.file.clone())),
            TensorData::Strings(_) => Err(MapError::new(
                MapErrorKind::DtypeMismatch,
                format!("string tensor '{key}' cannot be loaded into a numeric variable"),
            )
            .with_var(key)
            .with_file(self.file.clone())),
        }
    }
}
