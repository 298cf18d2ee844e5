//! The acceptance criterion: `returnn-ckpt inspect --json --digest` matches every
//! manifest in `fixtures/` (tensor list and order, dtype, shape, sha256; tensors TF cannot
//! read carry an "error" and make the command exit 1). Also `verify` on every fixture, and
//! on corrupted copies.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_returnn-ckpt"))
}

fn checkpoints() -> Vec<(PathBuf, Value)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(fixtures()).unwrap() {
        let dir = e.unwrap().path();
        let Ok(bytes) = std::fs::read(dir.join("manifest.json")) else {
            continue;
        };
        let m: Value = serde_json::from_slice(&bytes).unwrap();
        for c in m["checkpoints"].as_array().unwrap() {
            // PyTorch `.pt` checkpoints: crates/torch-pt/tests/golden.rs.
            if c["format"] == "pt" {
                continue;
            }
            out.push((dir.join(c["prefix"].as_str().unwrap()), c.clone()));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(out.len() >= 15, "{}", out.len());
    out
}

#[test]
fn inspect_json_digest_matches_every_manifest() {
    let mut tensors = 0;
    let mut formats = std::collections::BTreeSet::new();
    for (prefix, c) in checkpoints() {
        let out = bin()
            .args(["inspect", "--json", "--digest"])
            .arg(&prefix)
            .output()
            .unwrap();
        let ctx = prefix.display().to_string();
        let j: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{ctx}: {e}: {}", String::from_utf8_lossy(&out.stderr)));
        assert_eq!(j["path"].as_str().unwrap(), ctx);
        // V2 manifests have no "format" field; V1 ones (no index) say "v1".
        let format = c.get("format").and_then(Value::as_str).unwrap_or("v2");
        assert_eq!(j["format"], format, "{ctx}");
        formats.insert(format.to_string());
        assert_eq!(j["endianness"], "little");
        assert_eq!(j["num_shards"], c["num_shards"]);
        let got = j["tensors"].as_array().unwrap();
        let want = c["tensors"].as_array().unwrap();
        assert_eq!(got.len(), want.len(), "{ctx}");
        let mut any_error = false;
        for (g, w) in got.iter().zip(want) {
            let tctx = format!("{ctx}: {}", w["name"]);
            assert_eq!(g["name"], w["name"], "{tctx}: order");
            assert_eq!(g["dtype"], w["dtype"], "{tctx}");
            assert_eq!(g["shape"], w["shape"], "{tctx}");
            if w.get("read_error").is_some() {
                assert!(g.get("sha256").is_none(), "{tctx}");
                assert!(g["error"]
                    .as_str()
                    .unwrap()
                    .contains(w["name"].as_str().unwrap()));
                any_error = true;
            } else {
                assert_eq!(g["sha256"], w["sha256"], "{tctx}");
                assert!(g.get("error").is_none(), "{tctx}");
            }
            tensors += 1;
        }
        assert_eq!(
            out.status.code(),
            Some(if any_error { 1 } else { 0 }),
            "{ctx}"
        );
    }
    assert!(tensors >= 3000);
    assert!(
        formats.contains("v1") && formats.contains("v2"),
        "{formats:?}"
    );
}

#[test]
fn verify_passes_on_every_fixture_except_the_uncovered_slice() {
    for (prefix, c) in checkpoints() {
        let out = bin().arg("verify").arg(&prefix).output().unwrap();
        let bad = c["tensors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t.get("read_error").is_some());
        let err = String::from_utf8_lossy(&out.stderr);
        if bad {
            assert_eq!(out.status.code(), Some(1), "{}", prefix.display());
            assert!(err.contains("raw/float32_slice_of_4x3"), "{err}");
        } else {
            assert!(out.status.success(), "{}: {err}", prefix.display());
        }
    }
}

fn copy_checkpoint(src_dir: &Path, prefix: &str, dst: &Path) {
    for e in std::fs::read_dir(src_dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap().to_string();
        if name.starts_with(prefix) && !name.ends_with(".json") {
            std::fs::copy(&p, dst.join(&name)).unwrap();
        }
    }
}

#[test]
fn verify_and_inspect_name_a_corrupted_tensor() {
    let tmp = tempfile::tempdir().unwrap();
    let src = fixtures().join("returnn_train_nativelstm/net-model");
    copy_checkpoint(&src, "network.003", tmp.path());
    // Flip one byte inside the data of one tensor (found through the reader).
    let prefix = tmp.path().join("network.003");
    let ck = tf_bundle::Checkpoint::open(&prefix).unwrap();
    let b = ck.bundle().unwrap();
    let e = b.entry(b"hid/W").unwrap().entry.clone().unwrap();
    let data = tmp.path().join("network.003.data-00000-of-00001");
    let mut bytes = std::fs::read(&data).unwrap();
    bytes[e.offset as usize + 3] ^= 0x40;
    std::fs::write(&data, bytes).unwrap();

    let out = bin().arg("verify").arg(&prefix).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("hid/W") && err.contains("checksum"), "{err}");
    assert!(err.contains("network.003.data-00000-of-00001"), "{err}");

    let out = bin()
        .args(["inspect", "--json", "--digest"])
        .arg(&prefix)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = j["tensors"].as_array().unwrap();
    assert_eq!(rows.len(), 8, "everything is still printed");
    for r in rows {
        if r["name"] == "hid/W" {
            assert!(r["error"].as_str().unwrap().contains("checksum"));
        } else {
            assert!(r["sha256"].is_string(), "{r}");
        }
    }
}

#[test]
fn human_listing_stats_and_values() {
    let p = fixtures().join("returnn_train_nativelstm/net-model/network.003");
    let out = bin().args(["inspect", "--stats"]).arg(&p).output().unwrap();
    assert!(out.status.success());
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(
        s.lines()
            .any(|l| l.starts_with("fw0/rec/W (float32) [9,40] min=")),
        "{s}"
    );
    assert_eq!(s.lines().count(), 8);
    let out = bin()
        .args(["inspect", "--tensor", "output/b"])
        .arg(&p)
        .output()
        .unwrap();
    assert!(out.status.success());
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(s.starts_with("tensor_name:  output/b\n"), "{s}");
    assert!(s.contains("rms: "), "{s}");
    let out = bin()
        .args(["inspect", "--tensor", "no/such"])
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn missing_checkpoint_is_an_error() {
    let out = bin().args(["inspect", "does/not/exist"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does/not/exist"));
}

fn as_f64(v: &Value) -> f64 {
    match v {
        Value::String(s) => match s.as_str() {
            "nan" => f64::NAN,
            "inf" => f64::INFINITY,
            "-inf" => f64::NEG_INFINITY,
            s => s.parse().unwrap(),
        },
        Value::Number(n) => n.as_f64().unwrap(),
        other => panic!("{other}"),
    }
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Value::Bool(_), _) | (Value::Number(_), Value::Number(_)) if a == b => true,
        (Value::String(x), Value::String(y)) if x == y => true,
        _ => {
            let (x, y) = (as_f64(a), as_f64(b));
            (x.is_nan() && y.is_nan()) || (x == y && x.is_sign_negative() == y.is_sign_negative())
        }
    }
}

#[test]
fn tensor_values_json_matches_manifest_values() {
    let mut n = 0;
    for (prefix, c) in checkpoints() {
        let with_values: Vec<&Value> = c["tensors"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t.get("values").is_some() && t.get("read_error").is_none())
            .collect();
        if with_values.is_empty() {
            continue;
        }
        let mut cmd = bin();
        cmd.args(["inspect", "--json"]).arg(&prefix);
        for t in &with_values {
            cmd.arg("--tensor").arg(t["name"].as_str().unwrap());
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let j: Value = serde_json::from_slice(&out.stdout).unwrap();
        for (got, want) in j["tensors"].as_array().unwrap().iter().zip(&with_values) {
            assert_eq!(got["name"], want["name"]);
            assert!(
                same(&got["values"], &want["values"]),
                "{}: {} vs {}",
                want["name"],
                got["values"],
                want["values"]
            );
            n += 1;
        }
    }
    assert!(n >= 50, "{n}");
}
