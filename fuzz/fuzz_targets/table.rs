//! Fuzz target `table`: see `returnn_ckpt_fuzz::table`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| returnn_ckpt_fuzz::table(data));
