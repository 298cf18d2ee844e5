//! Property tests of the transforms: round trips (transpose and its inverse, gate reorder and
//! its inverse, split then concat, reshape there and back, cast float32 -> float64 -> float32),
//! and the shape-only twin agreeing with the value function on random chains.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use port::transform::{chain_apply, chain_meta, Op};
use port::{Array, Meta};
use proptest::prelude::*;
use tf_bundle::DType;

fn arr(shape: Vec<u64>, dtype: DType, seed: u64) -> Array {
    let n: u64 = shape.iter().product();
    let es = dtype.element_size().unwrap();
    let data: Vec<u8> = (0..n as usize * es)
        .map(|i| (i as u64).wrapping_mul(2654435761).wrapping_add(seed) as u8 & 0x3f)
        .collect();
    Array::new(dtype, shape, data).unwrap()
}

fn shape() -> impl Strategy<Value = Vec<u64>> {
    prop::collection::vec(1u64..5, 1..5)
}

fn dtype() -> impl Strategy<Value = DType> {
    prop::sample::select(vec![
        DType::Float32,
        DType::Float16,
        DType::BFloat16,
        DType::Float64,
        DType::Int64,
    ])
}

fn inverse(p: &[usize]) -> Vec<usize> {
    let mut inv = vec![0; p.len()];
    for (i, &a) in p.iter().enumerate() {
        inv[a] = i;
    }
    inv
}

proptest! {
    #[test]
    fn transpose_then_inverse_is_identity(s in shape(), d in dtype(), seed in any::<u64>(), perm_seed in any::<u64>()) {
        let a = arr(s.clone(), d, seed);
        let mut perm: Vec<usize> = (0..s.len()).collect();
        // a seeded permutation
        let mut x = perm_seed;
        for i in (1..perm.len()).rev() {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            perm.swap(i, (x >> 33) as usize % (i + 1));
        }
        let t = a.transpose(&perm).unwrap();
        prop_assert_eq!(&t.shape, &perm.iter().map(|&p| s[p]).collect::<Vec<_>>());
        prop_assert_eq!(t.transpose(&inverse(&perm)).unwrap(), a);
    }

    #[test]
    fn gate_reorder_then_inverse_is_identity(rows in 1u64..4, n in 1u64..4, d in dtype(), seed in any::<u64>(),
                                             order in prop::sample::select(vec!["jifo", "ijfo", "ifjo", "ifco", "oifj"])) {
        let a = arr(vec![rows, 4 * n], d, seed);
        let to = "ifjo".replace('c', "j");
        let from = order.replace('c', "j");
        let fwd = Op::GateReorder { axis: 1, from: from.clone(), to: to.clone() };
        let back = Op::GateReorder { axis: 1, from: to, to: from };
        let r = chain_apply(vec![a.clone()], &[fwd, back]).unwrap();
        prop_assert_eq!(r, a);
    }

    #[test]
    fn split_then_concat_is_identity(s in shape(), d in dtype(), seed in any::<u64>(), axis_seed in any::<usize>(), cut_seed in any::<u64>()) {
        let a = arr(s.clone(), d, seed);
        let axis = axis_seed % s.len();
        let cut = cut_seed % (s[axis] + 1);
        let sizes = vec![cut, s[axis] - cut];
        let pieces: Vec<Array> = (0..2)
            .map(|i| Op::Split { axis, sizes: Some(sizes.clone()), parts: None, index: i }.apply(vec![a.clone()]).unwrap().remove(0))
            .collect();
        prop_assert_eq!(Array::concat(&pieces, axis).unwrap(), a);
    }

    #[test]
    fn reshape_and_cast_round_trip(s in shape(), seed in any::<u64>()) {
        let a = arr(s.clone(), DType::Float32, seed);
        let n: u64 = s.iter().product();
        let ops = [Op::Reshape { shape: vec![-1] }, Op::Cast { dtype: DType::Float64 }, Op::Cast { dtype: DType::Float32 },
                   Op::Reshape { shape: s.iter().map(|&d| d as i64).collect() }];
        prop_assert_eq!(chain_meta(&[a.meta()], &ops[..1]).unwrap().shape, vec![n]);
        prop_assert_eq!(chain_apply(vec![a.clone()], &ops).unwrap(), a);
    }

    /// The shape-only twin gives exactly the dtype and shape the values get, or both fail.
    #[test]
    fn meta_twin_agrees_with_apply(s in prop::collection::vec(1u64..5, 2..4), d in dtype(), seed in any::<u64>(),
                                   picks in prop::collection::vec(0usize..7, 1..5)) {
        let a = arr(s.clone(), d, seed);
        let ops: Vec<Op> = picks.iter().map(|&p| match p {
            0 => Op::Transpose { axes: (0..s.len()).rev().collect() },
            1 => Op::GateReorder { axis: 0, from: "ab".into(), to: "ba".into() },
            2 => Op::Add { value: 1.5, axis: Some(1), blocks: Some(2), block: Some(1) },
            3 => Op::Scale { factor: 0.5 },
            4 => Op::Split { axis: 0, sizes: None, parts: Some(2), index: 1 },
            5 => Op::Reshape { shape: vec![-1] },
            _ => Op::Cast { dtype: DType::Float64 },
        }).collect();
        let meta = chain_meta(&[Meta { dtype: d, shape: s }], &ops);
        let val = chain_apply(vec![a], &ops);
        match (meta, val) {
            (Ok(m), Ok(v)) => prop_assert_eq!(m, v.meta()),
            (Err(_), Err(_)) => {}
            (m, v) => prop_assert!(false, "meta {:?} vs apply {:?}", m.map(|_| ()), v.map(|_| ())),
        }
    }
}

#[test]
fn add_on_a_gate_block_and_halving_are_exact() {
    let b = Array::from_f32(vec![8], &[1., 2., 3., 4., 5., 6., 7., 8.]).unwrap();
    let ops = [
        Op::Add {
            value: 1.0,
            axis: Some(0),
            blocks: Some(4),
            block: Some(1),
        },
        Op::Scale { factor: 0.5 },
    ];
    let r = chain_apply(vec![b], &ops).unwrap();
    assert_eq!(
        r.to_f64_vec().unwrap(),
        vec![0.5, 1., 2., 2.5, 2.5, 3., 3.5, 4.]
    );
}
