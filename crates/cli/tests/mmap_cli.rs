//! `--mmap` (inspect, verify, convert): memory-mapped shards give the same output as positioned
//! reads, including on a multi-shard checkpoint, and a corrupt shard is still an error.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(rel)
}

fn run(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_returnn-ckpt"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(args: &[&std::ffi::OsStr]) -> Vec<u8> {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

const SHARDED: &str = "tf1_sharded_3dev/sharded.ckpt";

#[test]
fn inspect_digest_and_verify_same_with_mmap() {
    let p = fixture(SHARDED);
    let p = p.as_os_str();
    let plain = ok(&[
        "inspect".as_ref(),
        p,
        "--json".as_ref(),
        "--digest".as_ref(),
    ]);
    let mapped = ok(&[
        "inspect".as_ref(),
        p,
        "--json".as_ref(),
        "--digest".as_ref(),
        "--mmap".as_ref(),
    ]);
    assert_eq!(plain, mapped);
    assert!(!plain.is_empty());
    assert_eq!(
        ok(&["verify".as_ref(), p]),
        ok(&["verify".as_ref(), p, "--mmap".as_ref()])
    );
}

#[test]
fn convert_same_bytes_with_mmap() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (
        dir.path().join("a.safetensors"),
        dir.path().join("b.safetensors"),
    );
    let p = fixture(SHARDED);
    ok(&["convert".as_ref(), p.as_os_str(), a.as_os_str()]);
    ok(&[
        "convert".as_ref(),
        p.as_os_str(),
        b.as_os_str(),
        "--mmap".as_ref(),
    ]);
    let bytes = std::fs::read(&a).unwrap();
    assert!(bytes.len() > 8);
    assert_eq!(bytes, std::fs::read(&b).unwrap());
}

#[test]
fn verify_mmap_reports_a_corrupt_shard() {
    let dir = tempfile::tempdir().unwrap();
    let src = fixture("tf1_sharded_3dev");
    for e in std::fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        if name.to_string_lossy().starts_with("sharded.ckpt.") {
            std::fs::copy(e.path(), dir.path().join(name)).unwrap();
        }
    }
    let shard = dir.path().join("sharded.ckpt.data-00000-of-00003");
    let mut bytes = std::fs::read(&shard).unwrap();
    assert!(!bytes.is_empty());
    bytes[0] ^= 0x01;
    std::fs::write(&shard, bytes).unwrap();
    let prefix = dir.path().join("sharded.ckpt");
    let out = run(&["verify".as_ref(), prefix.as_os_str(), "--mmap".as_ref()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sharded.ckpt"), "{err}");
}
