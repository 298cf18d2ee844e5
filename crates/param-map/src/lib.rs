//! # param-map
//!
//! Owns the equivalent of RETURNN's `CustomCheckpointLoader` / `preload_from_files`: which
//! checkpoint tensor fills which network variable (prefix, ignore lists, `var_name_mapping`,
//! automatic renames, batch-norm versions, LSTM layout conversions), computed as a plan before
//! anything is read or written. It works on names, shapes and a source-checkpoint trait; it never
//! opens files itself, never prints and never exits.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
