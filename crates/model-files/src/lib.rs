//! # model-files
//!
//! Owns RETURNN's rules for model files: checkpoint path normalisation, epoch from a file name,
//! epoch file names, existing-model discovery, model selection (`load`, `load_epoch`,
//! `import_model_train_epoch1`, `task`, `start_epoch`), the learning-rate-control file, and
//! `cleanup_old_models`. It touches the filesystem only through a small trait (so the rules are
//! testable on a fake directory); it never reads tensors, never prints and never exits.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
