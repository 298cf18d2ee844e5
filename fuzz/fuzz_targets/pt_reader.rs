//! Fuzz target `pt_reader`: see `returnn_ckpt_fuzz::pt_reader`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| returnn_ckpt_fuzz::pt_reader(data));
