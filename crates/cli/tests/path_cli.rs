//! `returnn-ckpt path`: normalised pattern and epoch per input, as RETURNN reads them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::process::Command;

use serde_json::{json, Value};

#[test]
fn path_json_contract() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("x")).unwrap();
    std::fs::write(d.join("x/network.042.meta"), "").unwrap();
    std::os::unix::fs::symlink("network.042.meta", d.join("x/network.best.meta")).unwrap();
    std::os::unix::fs::symlink("network.042.index", d.join("x/bad.meta")).unwrap();
    std::fs::write(d.join("x/network.042.index"), "").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_returnn-ckpt"))
        .current_dir(d)
        .args([
            "path",
            "x/network.003.meta",
            "x/network.003.data-00000-of-00001",
            "x/network.003.meta.index",
            "x/network.best.meta",
            "x/network.best",
            "x/network.000",
            "x/bad",
            "run.42/model",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "an input fails -> exit 1");
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    let want = json!([
        {"input": "x/network.003.meta", "pattern": "x/network.003", "epoch": 3},
        {"input": "x/network.003.data-00000-of-00001", "pattern": "x/network.003.data-00000-of-00001", "epoch": 3},
        {"input": "x/network.003.meta.index", "pattern": "x/network.003.meta", "epoch": 3},
        {"input": "x/network.best.meta", "pattern": "x/network.best", "epoch": 42},
        {"input": "x/network.best", "pattern": "x/network.best", "epoch": 42},
        {"input": "x/network.000", "pattern": "x/network.000", "epoch": null, "error": "<any>"},
        {"input": "x/bad", "pattern": "x/bad", "epoch": null, "error": "<any>"},
        {"input": "run.42/model", "pattern": "run.42/model", "epoch": null},
    ]);
    let got_rows = got.as_array().unwrap();
    let want_rows = want.as_array().unwrap();
    assert_eq!(got_rows.len(), want_rows.len());
    for (g, w) in got_rows.iter().zip(want_rows) {
        let mut g = g.clone();
        if w.get("error").is_some() {
            assert!(g["error"].as_str().is_some_and(|s| !s.is_empty()), "{g}");
            g["error"] = json!("<any>");
        }
        assert_eq!(&g, w);
    }
    assert!(got_rows[6]["error"].as_str().unwrap().contains("strange?"));
}

#[test]
fn path_all_ok_exits_0() {
    let out = Command::new(env!("CARGO_BIN_EXE_returnn-ckpt"))
        .args(["path", "a/network.1000.index", "b/net.pretrain.012"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        s.contains("a/network.1000.index\ta/network.1000\tepoch 1000"),
        "{s}"
    );
    assert!(s.contains("epoch 12"), "{s}");
}
