//! Fuzz target `string_tensor`: see `returnn_ckpt_fuzz::string_tensor`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| returnn_ckpt_fuzz::string_tensor(data));
