//! Fuzz target `config`: see `returnn_ckpt_fuzz::config`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| returnn_ckpt_fuzz::config(data));
