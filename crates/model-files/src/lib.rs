//! # model-files
//!
//! Owns RETURNN's rules for model files: checkpoint path normalisation, epoch from a file name,
//! epoch file names, existing-model discovery, model selection (`load`, `load_epoch`,
//! `import_model_train_epoch1`, `task`, `start_epoch`), the learning-rate-control file, and
//! `cleanup_old_models`. It touches the filesystem only through a small trait ([`Fs`], so the
//! rules are testable on a fake directory: [`MemFs`]); the one exception is
//! [`cleanup::apply_plan`], which deletes exactly the files of a cleanup plan. It never reads
//! tensors, never prints and never exits.
//!
//! The behaviour is RETURNN 1.20261022 (the pip release, see docs/returnn-engine.md §5.6).
//!
//! Entry points: [`get_epoch_model`] is RETURNN's `EngineBase.get_epoch_model` (+
//! `get_train_start_epoch`); [`resolve`] first applies `__main__`'s task rules
//! ([`main_task_config`]: `epoch` -> `load_epoch` for `eval`/`forward`) and is what
//! `returnn-ckpt resolve` shows. Errors are [`SelectError`]s whose kinds have stable labels
//! ([`SelectError::kind_label`]) and whose messages start with the Python exception RETURNN
//! raises (`AssertionError: ...`, `KeyError: 5 ...`).
//!
//! Deviation from the cross-crate contract: epochs are [`Epoch`] = `u64` (not `u32`), because
//! RETURNN's epochs are unbounded Python ints and real file names such as
//! `network.4294967296` must round-trip.

pub mod cleanup;
pub mod error;
pub mod fs;
pub mod lr_file;
pub mod paths;
pub mod select;

/// An epoch number (RETURNN's are unbounded Python ints; 64 bits here).
pub type Epoch = u64;

pub use error::{SelectError, SelectErrorKind};
pub use fs::{Fs, MemFs, RealFs};
pub use lr_file::{EpochData, LrFile, LrFileError};
pub use paths::{
    epoch_from_basename, epoch_model_filename, get_checkpoint_filepattern,
    model_epoch_from_filename,
};
pub use select::{
    config_get_final_epoch, get_epoch_model, get_epoch_model_with, get_existing_models,
    main_task_config, resolve, Backend, Engine, Selection,
};
