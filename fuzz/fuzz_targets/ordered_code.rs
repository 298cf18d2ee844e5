//! Fuzz target `ordered_code`: see `returnn_ckpt_fuzz::ordered_code`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| returnn_ckpt_fuzz::ordered_code(data));
