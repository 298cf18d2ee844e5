//! `returnn-ckpt convert` end to end: every fixture converts with one stderr line per skipped
//! tensor, `--strict`, `--to tf` and back, `--force`, inputs untouched, and atomicity (an
//! error mid-way leaves nothing at the destination, not even a temp file).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn run(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_returnn-ckpt"))
        .args(args)
        .output()
        .unwrap()
}

macro_rules! os {
    ($($a:expr),* $(,)?) => { &[$(std::ffi::OsStr::new($a)),*] };
}

/// Tensor names in a safetensors file's header (parsed by hand: the header is JSON).
fn safetensors_names(path: &Path) -> Vec<String> {
    let b = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(b[..8].try_into().unwrap()) as usize;
    let h: Value = serde_json::from_slice(&b[8..8 + n]).unwrap();
    let mut names: Vec<String> = h
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| *k != "__metadata__")
        .cloned()
        .collect();
    names.sort();
    names
}

fn dir_entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn every_fixture_converts_with_one_line_per_skip() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cases = 0;
    for e in std::fs::read_dir(fixtures()).unwrap() {
        let dir = e.unwrap().path();
        let Ok(bytes) = std::fs::read(dir.join("manifest.json")) else {
            continue;
        };
        let m: Value = serde_json::from_slice(&bytes).unwrap();
        for c in m["checkpoints"].as_array().unwrap() {
            if c["format"] == "pt" {
                continue;
            }
            let prefix = dir.join(c["prefix"].as_str().unwrap());
            let out = tmp.path().join(format!("{cases}.safetensors"));
            let o = run(os!("convert", &prefix, &out, "--skip-unreadable"));
            assert!(
                o.status.success(),
                "{}: {}",
                prefix.display(),
                String::from_utf8_lossy(&o.stderr)
            );
            let tensors = c["tensors"].as_array().unwrap();
            let mut expected: Vec<String> = tensors
                .iter()
                .filter(|t| !t["safetensors_dtype"].is_null())
                .map(|t| t["name"].as_str().unwrap().to_string())
                .collect();
            expected.sort();
            assert_eq!(safetensors_names(&out), expected, "{}", prefix.display());
            let stderr = String::from_utf8(o.stderr).unwrap();
            let skipped = tensors.len() - expected.len();
            // one line per reason: "skipped N tensor(s): REASON: names"
            let listed: usize = stderr
                .lines()
                .map(|l| {
                    let n = l
                        .strip_prefix("skipped ")
                        .and_then(|r| r.split(' ').next())
                        .and_then(|n| n.parse::<usize>().ok());
                    n.unwrap_or_else(|| {
                        panic!("not a skip line (no progress bar off a terminal): {l}")
                    })
                })
                .sum();
            assert_eq!(listed, skipped, "{stderr}");
            cases += 1;
        }
    }
    assert!(cases >= 15);
}

#[test]
fn strict_fails_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("o.safetensors");
    let o = run(os!(
        "convert",
        &fixtures().join("tf1_saver_dtypes/model.ckpt"),
        &out,
        "--strict"
    ));
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--strict") && err.contains("tensor '"),
        "{err}"
    );
    assert!(dir_entries(tmp.path()).is_empty());
}

#[test]
fn to_tf_and_back_and_inputs_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let prefix = fixtures().join("tf1_partitioned_slices/partitioned.ckpt");
    let index = std::fs::read(prefix.with_extension("ckpt.index")).unwrap();
    let st = tmp.path().join("p.safetensors");
    assert!(run(os!("convert", &prefix, &st)).status.success());
    let back = tmp.path().join("back");
    let o = run(os!("convert", &st, &back, "--to", "tf"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        dir_entries(tmp.path()),
        ["back.data-00000-of-00001", "back.index", "p.safetensors"]
    );
    // the bundle equals the source checkpoint tensor by tensor
    let o = run(os!("diff", &back, &prefix));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    // and converts to the same safetensors again
    let st2 = tmp.path().join("p2.safetensors");
    assert!(run(os!("convert", &back, &st2)).status.success());
    assert_eq!(safetensors_names(&st), safetensors_names(&st2));
    assert_eq!(
        std::fs::read(prefix.with_extension("ckpt.index")).unwrap(),
        index
    );
}

#[test]
fn checkpoint_to_tf_merges_shards() {
    let tmp = tempfile::tempdir().unwrap();
    let src = fixtures().join("tf1_sharded_3dev/sharded.ckpt");
    let out = tmp.path().join("merged");
    let o = run(os!("convert", &src, &out, "--to", "tf"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        dir_entries(tmp.path()),
        ["merged.data-00000-of-00001", "merged.index"]
    );
    let o = run(os!("diff", &out, &src));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
}

#[test]
fn existing_output_needs_force() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("o.safetensors");
    std::fs::write(&out, b"keep me").unwrap();
    let src = fixtures().join("returnn_train_nativelstm/net-model/network.001");
    let o = run(os!("convert", &src, &out));
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--force"));
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");
    assert!(run(os!("convert", &src, &out, "--force")).status.success());
    assert_eq!(safetensors_names(&out).len(), 8);
    assert_eq!(dir_entries(tmp.path()), ["o.safetensors"]);

    // never over a file of the input checkpoint, even with --force (on a copy)
    let copy = tmp.path().join("copy");
    std::fs::create_dir(&copy).unwrap();
    for f in ["network.001.index", "network.001.data-00000-of-00001"] {
        std::fs::copy(src.with_file_name(f), copy.join(f)).unwrap();
    }
    let index = std::fs::read(copy.join("network.001.index")).unwrap();
    let o = run(os!(
        "convert",
        &copy.join("network.001"),
        &copy.join("network.001.index"),
        "--force"
    ));
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("file of the input checkpoint"));
    assert_eq!(
        std::fs::read(copy.join("network.001.index")).unwrap(),
        index
    );
}

#[test]
fn corrupt_tensor_mid_way_leaves_nothing_at_the_destination() {
    let tmp = tempfile::tempdir().unwrap();
    let case = fixtures().join("returnn_train_nativelstm");
    let src_dir = tmp.path().join("src");
    std::fs::create_dir(&src_dir).unwrap();
    for f in ["network.003.index", "network.003.data-00000-of-00001"] {
        std::fs::copy(case.join("net-model").join(f), src_dir.join(f)).unwrap();
    }
    // flip one byte inside the tensor stored last in the data file
    let entries: Value = serde_json::from_slice(
        &std::fs::read(case.join("expected/network.003.index_entries.json")).unwrap(),
    )
    .unwrap();
    let last = entries["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["size"].as_u64().unwrap() > 0)
        .max_by_key(|e| e["offset"].as_u64().unwrap())
        .unwrap();
    let data_path = src_dir.join("network.003.data-00000-of-00001");
    let mut data = std::fs::read(&data_path).unwrap();
    data[last["offset"].as_u64().unwrap() as usize] ^= 0x01;
    std::fs::write(&data_path, data).unwrap();

    let out_dir = tmp.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let o = run(os!(
        "convert",
        &src_dir.join("network.003"),
        &out_dir.join("n.safetensors")
    ));
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("checksum") && err.contains(last["key"].as_str().unwrap()),
        "{err}"
    );
    assert!(
        dir_entries(&out_dir).is_empty(),
        "{:?}",
        dir_entries(&out_dir)
    );

    // the same for a bundle output (avg writes one)
    let o = run(os!(
        "avg",
        &src_dir.join("network.003"),
        "--out",
        &out_dir.join("avg")
    ));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        dir_entries(&out_dir).is_empty(),
        "{:?}",
        dir_entries(&out_dir)
    );
}
