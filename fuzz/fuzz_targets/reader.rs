//! Fuzz target `reader`: see `returnn_ckpt_fuzz::reader`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| returnn_ckpt_fuzz::reader(data));
