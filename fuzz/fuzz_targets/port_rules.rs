//! Fuzz target `port_rules`: see `returnn_ckpt_fuzz::port_rules`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| returnn_ckpt_fuzz::port_rules(data));
