//! An in-memory [`TensorSource`], for tests and for callers that already hold the tensors.

use std::collections::BTreeMap;

use crate::array::Array;
use crate::error::{MapError, MapErrorKind};
use crate::loader::{TensorMeta, TensorSource};

/// Tensors held in memory, listed sorted by name.
#[derive(Clone, Debug, Default)]
pub struct MemSource {
    file: String,
    metas: Vec<TensorMeta>,
    values: BTreeMap<String, Array>,
}

impl MemSource {
    /// An empty source shown as `file`.
    pub fn new(file: impl Into<String>) -> MemSource {
        MemSource {
            file: file.into(),
            ..MemSource::default()
        }
    }

    /// Adds (or replaces) a tensor.
    pub fn insert(&mut self, name: impl Into<String>, value: Array) {
        let name = name.into();
        self.values.insert(name, value);
        self.metas = self
            .values
            .iter()
            .map(|(n, a)| TensorMeta {
                name: n.clone(),
                dtype: a.dtype,
                shape: a.shape.clone(),
            })
            .collect();
    }

    /// Builder form of [`MemSource::insert`].
    pub fn with(mut self, name: impl Into<String>, value: Array) -> MemSource {
        self.insert(name, value);
        self
    }
}

impl TensorSource for MemSource {
    fn file(&self) -> &str {
        &self.file
    }

    fn tensors(&self) -> &[TensorMeta] {
        &self.metas
    }

    fn read(&self, key: &str) -> Result<Array, MapError> {
        self.values.get(key).cloned().ok_or_else(|| {
            MapError::new(
                MapErrorKind::KeyNotFound,
                format!("Key {key} not found in checkpoint"),
            )
            .with_var(key)
            .with_file(self.file.clone())
        })
    }
}
