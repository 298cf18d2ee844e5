//! avg and diff on all cores: outputs byte-identical to the whole-tensor reference (what `avg`
//! did before it streamed: sum every input read whole in float64, in input order, divide,
//! round once) and to each other for any thread count; multi-chunk, partitioned, big-endian
//! free and corrupted inputs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::path::{Path, PathBuf};

use convert::avg::average_with;
use convert::diff::diff_with;
use tf_bundle::par::Jobs;
use tf_bundle::write::BundleWriter;
use tf_bundle::{elem, Checkpoint, DType, TensorData};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn rnd(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Floats with a sane exponent (random bytes are often NaN/inf for f16/bf16, which is fine,
/// but keep float32 finite so the means are interesting).
fn f32s(n: usize, seed: u64) -> Vec<u8> {
    rnd(n * 4, seed)
        .chunks(4)
        .flat_map(|c| (f32::from(u16::from_le_bytes([c[0], c[1]])) / 977.0 - 30.0).to_le_bytes())
        .collect()
}

fn write_epoch(dir: &Path, e: u64) -> PathBuf {
    let prefix = dir.join(format!("ep{e}"));
    let mut w = BundleWriter::create(&prefix).unwrap();
    w.add_bytes("a/w", DType::Float32, &[600_001], &f32s(600_001, e))
        .unwrap();
    w.add_bytes(
        "b/bf16",
        DType::BFloat16,
        &[700_001],
        &rnd(1_400_002, e + 10),
    )
    .unwrap();
    w.add_bytes("c/f16", DType::Float16, &[5], &rnd(10, e + 20))
        .unwrap();
    w.add_bytes("d/f64", DType::Float64, &[200_000], &rnd(1_600_000, e + 30))
        .unwrap();
    w.add_bytes("e/int32", DType::Int32, &[300_000], &rnd(1_200_000, e + 40))
        .unwrap();
    w.add_bytes("f/empty", DType::Float32, &[0], &[]).unwrap();
    w.add_bytes(
        "global_step",
        DType::Int64,
        &[],
        &(e as i64 * 100).to_le_bytes(),
    )
    .unwrap();
    w.add_strings("s", &[2], &[format!("e{e}").as_bytes(), b"x"])
        .unwrap();
    w.finish().unwrap();
    prefix
}

/// The reference: whole reads, float64 sums in input order, one rounding, sorted names.
fn reference_avg(inputs: &[Checkpoint], out: &Path) {
    let mut names: Vec<&str> = inputs[0]
        .tensors()
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    names.sort();
    let mut w = BundleWriter::create(out).unwrap();
    for name in names {
        let info = inputs[0].get(name).unwrap();
        if !info.dtype.is_float() {
            let t = inputs.last().unwrap().read(name).unwrap();
            w.add(name, t.dtype, &t.shape, &t.data).unwrap();
            continue;
        }
        let mut acc = vec![0f64; info.num_elements().unwrap() as usize];
        for ck in inputs {
            let TensorData::Bytes(b) = ck.read(name).unwrap().data else {
                panic!()
            };
            let mut v = Vec::new();
            elem::decode_f64_into(info.dtype, &b, &mut v);
            for (a, x) in acc.iter_mut().zip(v) {
                *a += x;
            }
        }
        let mut bytes = Vec::new();
        for a in acc {
            elem::encode_f64(info.dtype, a / inputs.len() as f64, &mut bytes);
        }
        w.add_bytes(name, info.dtype, &info.shape, &bytes).unwrap();
    }
    w.finish().unwrap();
}

fn files(prefix: &Path) -> (Vec<u8>, Vec<u8>) {
    (
        std::fs::read(tf_bundle::write::index_file_name(prefix)).unwrap(),
        std::fs::read(tf_bundle::write::data_file_name(prefix, 0, 1)).unwrap(),
    )
}

fn check_avg(inputs: &[Checkpoint], dir: &Path, ctx: &str) {
    let want = dir.join(format!("{ctx}-ref"));
    reference_avg(inputs, &want);
    let want = files(&want);
    for threads in [1, 2, 3, 4] {
        let out = dir.join(format!("{ctx}-{threads}"));
        let done = std::sync::atomic::AtomicU64::new(0);
        average_with(inputs, &out, false, Jobs { threads }, &|n| {
            done.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        })
        .unwrap();
        assert!(
            files(&out) == want,
            "{ctx}: {threads} threads: output differs"
        );
        let total: u64 = inputs[0]
            .tensors()
            .iter()
            .filter(|t| t.dtype.is_float())
            .map(|t| t.nbytes().unwrap())
            .sum();
        assert_eq!(done.into_inner(), total, "{ctx}: progress bytes");
    }
    let out = dir.join(format!("{ctx}-default"));
    convert::avg::average(inputs, &out, false, &mut |_| {}).unwrap();
    assert!(files(&out) == want, "{ctx}: average() differs");
}

#[test]
fn avg_is_byte_identical_to_the_whole_tensor_reference_for_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let inputs: Vec<Checkpoint> = (1..=3)
        .map(|e| Checkpoint::open(write_epoch(dir.path(), e)).unwrap())
        .collect();
    assert!(inputs[0].layout("a/w").unwrap().unwrap().num_chunks() >= 3);
    check_avg(&inputs, dir.path(), "synthetic");
    let case = fixtures().join("returnn_train_nativelstm/net-model");
    let epochs: Vec<Checkpoint> = (1..=3)
        .map(|e| Checkpoint::open(case.join(format!("network.{e:03}"))).unwrap())
        .collect();
    check_avg(&epochs, dir.path(), "fixture");
    // partitioned and multi-shard inputs (streamed from their slices) and a V1 checkpoint
    for (case, prefix) in [
        ("tf1_partitioned_slices", "partitioned.ckpt"),
        ("tf1_sharded_3dev", "sharded.ckpt"),
    ] {
        let p = fixtures().join(case).join(prefix);
        let two = vec![Checkpoint::open(&p).unwrap(), Checkpoint::open(&p).unwrap()];
        check_avg(&two, dir.path(), case);
    }
}

#[test]
fn avg_with_a_corrupted_input_fails_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let prefixes: Vec<PathBuf> = (1..=2).map(|e| write_epoch(dir.path(), e)).collect();
    let ck = Checkpoint::open(&prefixes[1]).unwrap();
    let e = ck
        .bundle()
        .unwrap()
        .entry(b"a/w")
        .unwrap()
        .entry
        .clone()
        .unwrap();
    let data = tf_bundle::write::data_file_name(&prefixes[1], 0, 1);
    let mut bytes = std::fs::read(&data).unwrap();
    bytes[e.offset as usize + (1 << 20) + 3] ^= 0x10;
    std::fs::write(&data, bytes).unwrap();
    let inputs: Vec<Checkpoint> = prefixes
        .iter()
        .map(|p| Checkpoint::open(p).unwrap())
        .collect();
    let before = std::fs::read_dir(dir.path()).unwrap().count();
    for threads in [1, 2] {
        let out = dir.path().join("out");
        let err = average_with(&inputs, &out, false, Jobs { threads }, &|_| {}).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("a/w") && msg.contains("checksum"), "{msg}");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            before,
            "nothing left"
        );
    }
}

#[test]
fn diff_is_the_same_for_any_thread_count_and_names_the_first_bad_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let a = Checkpoint::open(write_epoch(dir.path(), 1)).unwrap();
    let pb = write_epoch(dir.path(), 2);
    let b = Checkpoint::open(&pb).unwrap();
    let serial =
        serde_json::to_string(&diff_with(&a, &b, 0.0, 0.0, Jobs::serial(), &|_| {}).unwrap())
            .unwrap();
    for threads in [2, 3, 4] {
        let d = diff_with(&a, &b, 1e-3, 1e-3, Jobs { threads }, &|_| {}).unwrap();
        let s = diff_with(&a, &b, 1e-3, 1e-3, Jobs::serial(), &|_| {}).unwrap();
        assert_eq!(d, s);
        let d = diff_with(&a, &b, 0.0, 0.0, Jobs { threads }, &|_| {}).unwrap();
        assert_eq!(serde_json::to_string(&d).unwrap(), serial);
    }
    let d: serde_json::Value = serde_json::from_str(&serial).unwrap();
    assert_eq!(d["compared"], 8);
    let changed: Vec<&str> = d["value_changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert!(
        changed.contains(&"a/w") && changed.contains(&"e/int32"),
        "{changed:?}"
    );
    // a whole-tensor comparison of a/w agrees with the chunked one
    let (TensorData::Bytes(x), TensorData::Bytes(y)) =
        (a.read("a/w").unwrap().data, b.read("a/w").unwrap().data)
    else {
        panic!()
    };
    let differ = x
        .chunks(4)
        .zip(y.chunks(4))
        .filter(|(p, q)| {
            f32::from_le_bytes((*p).try_into().unwrap())
                != f32::from_le_bytes((*q).try_into().unwrap())
        })
        .count() as u64;
    let aw = d["value_changed"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "a/w")
        .unwrap();
    assert_eq!(aw["count"], differ);
    // corrupt b's d/f64 in its last chunk: the error is the reader's, for that tensor
    drop(b);
    let e = Checkpoint::open(&pb)
        .unwrap()
        .bundle()
        .unwrap()
        .entry(b"d/f64")
        .unwrap()
        .entry
        .clone()
        .unwrap();
    let data = tf_bundle::write::data_file_name(&pb, 0, 1);
    let mut bytes = std::fs::read(&data).unwrap();
    bytes[e.offset as usize + e.size as usize - 1] ^= 1;
    std::fs::write(&data, bytes).unwrap();
    let b = Checkpoint::open(&pb).unwrap();
    let want = b.read("d/f64").unwrap_err().to_string();
    for threads in [1, 2, 3] {
        let err = diff_with(&a, &b, 0.0, 0.0, Jobs { threads }, &|_| {}).unwrap_err();
        assert!(err.to_string().contains(&want), "{err} vs {want}");
    }
}
