//! # returnn-config
//!
//! Owns reading RETURNN configs: Python config files (top-level literal assignments, through a
//! real Python parser), JSON configs, the old line-based `key value` form, and `++key value`
//! command-line overrides, all into typed values read back the way RETURNN's `Config` does
//! (`value`, `int`, `bool`, `has`). No other crate parses config text. It never touches model
//! files, never prints and never exits.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
