//! Property tests of the LSTM conversions: NativeLSTM -> LSTMCell -> NativeLSTM is the
//! identity for every shape and every 2-, 4- and 8-byte dtype (the conversions only move
//! elements, so raw bit patterns, NaN payloads included, survive).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use param_map::convert::{basic_to_native, native_to_basic_bias, native_to_basic_kernel};
use param_map::Array;
use proptest::prelude::*;
use tf_bundle::DType;

fn arr(dtype: DType, shape: Vec<u64>, seed: &[u8]) -> Array {
    let es = dtype.element_size().unwrap();
    let n: u64 = shape.iter().product();
    let data: Vec<u8> = (0..n as usize * es)
        .map(|i| seed[i % seed.len()].wrapping_add(i as u8))
        .collect();
    Array::new(dtype, shape, data).unwrap()
}

proptest! {
    #[test]
    fn native_basic_round_trip(
        n_in in 1u64..6,
        n in 1u64..6,
        d in prop::sample::select(vec![DType::Float16, DType::BFloat16, DType::Float32, DType::Float64]),
        seed in prop::collection::vec(any::<u8>(), 1..64),
    ) {
        let w = arr(d, vec![n_in, 4 * n], &seed);
        let w_re = arr(d, vec![n, 4 * n], &seed[1.min(seed.len() - 1)..]);
        let b = arr(d, vec![4 * n], &seed);
        let k = native_to_basic_kernel(&w, &w_re).unwrap();
        prop_assert_eq!(&k.shape, &vec![n_in + n, 4 * n]);
        let kb = native_to_basic_bias(&b).unwrap();
        let (w2, w_re2, b2) = basic_to_native(&k, &kb).unwrap();
        prop_assert_eq!(w2, w);
        prop_assert_eq!(w_re2, w_re);
        prop_assert_eq!(b2, b);
    }

    #[test]
    fn gate_swap_is_an_involution(rows in 1u64..5, n in 1u64..5, seed in prop::collection::vec(any::<u8>(), 1..32)) {
        let a = arr(DType::Float32, vec![rows, 4 * n], &seed);
        prop_assert_eq!(a.swap_gate_blocks_01().unwrap().swap_gate_blocks_01().unwrap(), a);
    }
}

#[test]
fn conversions_reject_bad_shapes() {
    let w = arr(DType::Float32, vec![2, 12], &[1]);
    let bad_re = arr(DType::Float32, vec![4, 12], &[1]);
    assert!(native_to_basic_kernel(&w, &bad_re).is_err());
    let b = arr(DType::Float32, vec![10], &[1]);
    assert!(native_to_basic_bias(&b).is_err());
    let k = arr(DType::Float32, vec![3, 12], &[1]);
    let b12 = arr(DType::Float32, vec![12], &[1]);
    assert!(basic_to_native(&k, &b12).is_err(), "rows must exceed n");
}
