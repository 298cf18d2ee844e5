//! Zero-copy reads: little-endian unsliced numeric tensors are borrowed from in-memory and
//! memory-mapped shards; positioned reads copy. CRCs are checked either way.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use tf_bundle::{Checkpoint, OpenOptions, TensorData};

fn prefix() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/returnn_train_nativelstm/net-model/network.003")
}

#[test]
fn in_memory_shards_are_borrowed() {
    let p = prefix();
    let index = std::fs::read(p.with_extension("003.index")).unwrap();
    let data = std::fs::read(p.with_extension("003.data-00000-of-00001")).unwrap();
    let ck = Checkpoint::from_memory(&index, vec![data]).unwrap();
    for t in ck.tensors() {
        let b = ck.read_bytes(&t.name).unwrap();
        assert!(matches!(b, Cow::Borrowed(_)), "{}", t.name);
        assert_eq!(
            TensorData::Bytes(b.into_owned()),
            ck.read(&t.name).unwrap().data
        );
    }
}

#[test]
fn file_reads_copy() {
    let ck = Checkpoint::open(prefix()).unwrap();
    let b = ck.read_bytes("hid/W").unwrap();
    assert!(matches!(b, Cow::Owned(_)));
    assert_eq!(b.len(), 400);
}

#[cfg(feature = "mmap")]
#[test]
fn mmap_shards_are_borrowed() {
    let opts = OpenOptions {
        mmap: true,
        ..OpenOptions::default()
    };
    let ck = Checkpoint::open_with(prefix(), &opts).unwrap();
    for t in ck.tensors() {
        let b = ck.read_bytes(&t.name).unwrap();
        assert!(matches!(b, Cow::Borrowed(_)), "{}", t.name);
    }
}

#[cfg(not(feature = "mmap"))]
#[test]
fn mmap_without_the_feature_is_a_clear_error() {
    let opts = OpenOptions {
        mmap: true,
        ..OpenOptions::default()
    };
    let e = Checkpoint::open_with(prefix(), &opts).unwrap_err();
    assert!(e.to_string().contains("mmap"), "{e}");
}

#[test]
fn crc_checks_can_be_disabled() {
    let tmp = tempfile::tempdir().unwrap();
    let p = prefix();
    let dst = tmp.path().join("n");
    std::fs::copy(p.with_extension("003.index"), dst.with_extension("index")).unwrap();
    let mut data = std::fs::read(p.with_extension("003.data-00000-of-00001")).unwrap();
    for b in data.iter_mut() {
        *b ^= 1;
    }
    std::fs::write(dst.with_extension("data-00000-of-00001"), data).unwrap();
    assert!(Checkpoint::open(&dst).unwrap().read("hid/W").is_err());
    let opts = OpenOptions {
        verify_crc: false,
        ..OpenOptions::default()
    };
    assert!(Checkpoint::open_with(&dst, &opts)
        .unwrap()
        .read("hid/W")
        .is_ok());
}
