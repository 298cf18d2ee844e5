//! Fuzz target `bundle_entry`: see `returnn_ckpt_fuzz::bundle_entry`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| returnn_ckpt_fuzz::bundle_entry(data));
