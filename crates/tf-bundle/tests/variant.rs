//! `DT_VARIANT` tensors (TF's tensor_bundle_test.cc `VariantTensors`; issue 15 point 4) on a
//! bundle written by real TensorFlow (`tests/data/gen_tf_variant.py`): TF lists and restores
//! them; we list them as opaque (intact, not decodable), check every checksum, and reading a
//! value is a clear `unsupported` error, not corruption.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::path::{Path, PathBuf};

use tf_bundle::{Checkpoint, DType};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tf_variant")
}

fn expected() -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(data().join("expected.json")).unwrap()).unwrap()
}

#[test]
fn variant_tensors_are_listed_as_tf_lists_them() {
    let ck = Checkpoint::open(data().join("variant")).unwrap();
    let exp = expected();
    let exp = exp["tensors"].as_object().unwrap();
    let mut seen = 0;
    for (name, want) in exp {
        let shape: Vec<u64> = want["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap())
            .collect();
        if want["dtype"] == "variant" {
            let o = ck.opaque().iter().find(|o| &o.name == name).unwrap();
            assert_eq!(o.dtype, "variant");
            assert_eq!(o.shape, shape, "{name}");
            assert!(ck.get(name).is_none());
        } else {
            let t = ck.get(name).unwrap();
            assert_eq!(t.dtype, DType::Float32);
            assert_eq!(t.shape, shape);
        }
        seen += 1;
    }
    assert_eq!(seen, ck.tensors().len() + ck.opaque().len());
    assert!(ck.problems().is_empty(), "{:?}", ck.problems());
}

#[test]
fn variant_tensors_verify_and_name_their_type() {
    let ck = Checkpoint::open(data().join("variant")).unwrap();
    assert!(ck.verify_all().is_empty(), "{:?}", ck.verify_all());
    assert_eq!(
        ck.check_opaque("list").unwrap(),
        vec!["tensorflow::TensorList"]
    );
    assert_eq!(ck.check_opaque("vec_of_lists").unwrap().len(), 2);
    let e = ck.read("list").unwrap_err();
    assert_eq!(e.kind().label(), "unsupported");
    assert!(e.to_string().contains("variant"), "{e}");
    assert_eq!(e.key(), Some("list"));
    assert_eq!(
        ck.read_bytes("list").unwrap_err().kind().label(),
        "unsupported"
    );
}

/// Every single-byte change of the data file is caught: as corruption of a variant element
/// (checksum, length or proto) or of the float tensor, never silently accepted.
#[test]
fn variant_bit_flips_are_caught() {
    let index = std::fs::read(data().join("variant.index")).unwrap();
    let shard = std::fs::read(data().join("variant.data-00000-of-00001")).unwrap();
    let ok = Checkpoint::from_memory(&index, vec![shard.clone()]).unwrap();
    assert!(ok.verify_all().is_empty());
    for i in 0..shard.len() {
        let mut bad = shard.clone();
        bad[i] ^= 0x10;
        let ck = Checkpoint::from_memory(&index, vec![bad]).unwrap();
        let errs = ck.verify_all();
        assert!(!errs.is_empty(), "flip at byte {i} not detected");
        for e in &errs {
            assert!(
                matches!(e.kind().label(), "checksum" | "corrupt" | "truncated"),
                "byte {i}: {e}"
            );
        }
    }
}
