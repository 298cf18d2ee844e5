//! # convert
//!
//! Owns the checkpoint *sinks* and the whole-checkpoint operations built on them:
//!
//! * Every output goes through [`AtomicFile`] (from `ckpt-io`): a temp file in the destination
//!   directory, fsync'd and renamed into place; removed if dropped before [`AtomicFile::commit`].
//! * [`SafetensorsWriter`]: a streaming safetensors writer (header computed up front, tensors
//!   streamed into the file; memory bounded by one I/O chunk, never by the checkpoint).
//! * [`dtypes`]: the TF ↔ safetensors dtype mapping.
//! * [`select`]: `--include/--exclude/--rename/--no-optimizer` name selection.
//! * [`to_safetensors`]: TF checkpoint → `.safetensors` (skip rules, `--strict`,
//!   `--strings metadata`, `__metadata__`).
//! * [`to_tf`]: `.safetensors` → TF bundle, and any TF checkpoint → one V2 bundle (through
//!   `tf_bundle::write::BundleWriter`).
//! * [`avg`]: element-wise mean of several checkpoints; [`diff`]: tensor-by-tensor comparison
//!   (both streamed in chunks on all cores, results identical to the serial path).
//! * [`transfer`]: bytes that pass through unchanged are copied file to file
//!   (`copy_file_range`) while another thread checks their CRCs; the output is committed after.
//!
//! It never parses TF file formats itself (that is `tf-bundle`), never knows RETURNN's loading
//! rules, never prints and never exits: progress is reported through a callback and problems as
//! typed [`Error`]s naming the file, the tensor and what was expected versus found.

pub mod avg;
pub mod diff;
pub mod dtypes;
pub mod error;
pub mod safetensors_out;
pub mod select;
pub mod to_safetensors;
pub mod to_tf;
pub mod transfer;

pub use ckpt_io::AtomicFile;
pub use dtypes::{safetensors_dtype, tf_dtype};
pub use error::{Error, ErrorCode, ErrorKind};
pub use safetensors_out::SafetensorsWriter;

/// Progress of a long operation, reported after each tensor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Tensors done so far.
    pub done: u64,
    /// Tensors in total.
    pub total: u64,
    /// Payload bytes done so far.
    pub bytes_done: u64,
    /// Payload bytes in total (strings counted as written).
    pub bytes_total: u64,
}
