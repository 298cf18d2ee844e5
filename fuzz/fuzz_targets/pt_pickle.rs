//! Fuzz target `pt_pickle`: see `returnn_ckpt_fuzz::pt_pickle`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| returnn_ckpt_fuzz::pt_pickle(data));
