//! # engine
//!
//! The thin layer that joins the other crates: config -> model selection -> plan -> lazy tensor
//! reads -> an output sink. It owns no format and no RETURNN rule of its own, never prints and
//! never exits.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
