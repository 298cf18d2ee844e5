//! `returnn-ckpt resolve` on the RETURNN fixtures and on configs in all three forms.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_returnn-ckpt"))
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// Runs `returnn-ckpt <args>` in `dir`; returns (exit code, parsed JSON stdout).
fn run_json(dir: &Path, args: &[&str]) -> (i32, Value) {
    let out = bin().current_dir(dir).args(args).output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let v: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?}: not JSON ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let v = flatten_error(v);
    (out.status.code().unwrap(), v)
}

#[test]
fn resolve_on_fixtures() {
    let rows: &[(&str, Value)] = &[
        (
            "returnn_train_nativelstm",
            json!({"epoch": 3, "model": "net-model/network.003", "start_epoch": 4,
                   "existing": {"1": "net-model/network.001", "2": "net-model/network.002", "3": "net-model/network.003"},
                   "notes": []}),
        ),
        (
            "returnn_pretrain",
            json!({"epoch": 3, "model": "net-model/network.003", "start_epoch": 4,
                   "existing": {"1": "net-model/network.pretrain.001", "2": "net-model/network.pretrain.002", "3": "net-model/network.003"},
                   "notes": []}),
        ),
        (
            "returnn_preload",
            json!({"epoch": 1, "model": "net-model/network.001", "start_epoch": 2,
                   "existing": {"1": "net-model/network.001"}, "notes": []}),
        ),
        (
            // After the run, the existing epoch 1 beats import_model_train_epoch1.
            "returnn_import_epoch1",
            json!({"epoch": 1, "model": "net-model/network.001", "start_epoch": 2,
                   "existing": {"1": "net-model/network.001"}, "notes": []}),
        ),
    ];
    for (case, want) in rows {
        let (code, got) = run_json(
            &fixtures().join(case),
            &["resolve", "returnn.config", "--json"],
        );
        assert_eq!(code, 0, "{case}");
        assert_eq!(&got, want, "{case}");
    }
}

#[test]
fn resolve_import_before_the_run_matches_log() {
    // Before RETURNN ran, no net-model existed: it imported epoch 0 and started at epoch 1
    // ("loading weights from ../returnn_train_nativelstm/net-model/network.003",
    // "start training at epoch 1" in log/returnn.log). Point `model` elsewhere to see that.
    let dir = fixtures().join("returnn_import_epoch1");
    let (code, got) = run_json(
        &dir,
        &[
            "resolve",
            "returnn.config",
            "++model",
            "no-such-dir/network",
            "--json",
        ],
    );
    assert_eq!(code, 0);
    assert_eq!(
        got,
        json!({"epoch": 0, "model": "../returnn_train_nativelstm/net-model/network.003",
               "start_epoch": 1, "existing": {}, "notes": []})
    );
    let log = std::fs::read_to_string(dir.join("log/returnn.log")).unwrap();
    assert!(log.contains("loading weights from ../returnn_train_nativelstm/net-model/network.003"));
    assert!(log.contains("start training at epoch 1"));
}

#[test]
fn resolve_overrides_and_cwd() {
    let (code, got) = run_json(
        Path::new(env!("CARGO_MANIFEST_DIR")),
        &[
            "resolve",
            fixtures()
                .join("returnn_train_nativelstm/returnn.config")
                .to_str()
                .unwrap(),
            "-C",
            fixtures()
                .join("returnn_train_nativelstm")
                .to_str()
                .unwrap(),
            "++task",
            "search",
            "++load",
            "net-model/network.002.index",
            "--json",
        ],
    );
    assert_eq!(code, 0);
    assert_eq!(got["epoch"], 2);
    assert_eq!(got["model"], "net-model/network.002");
    assert_eq!(got["start_epoch"], Value::Null);
}

#[test]
fn resolve_errors_are_json_with_kind_and_exit_1() {
    let dir = fixtures().join("returnn_train_nativelstm");
    let rows: &[(&[&str], &str)] = &[
        (&["++load_epoch", "7"], "load_epoch_missing"),
        (&["++start_epoch", "0"], "start_epoch_lt_1"),
        (&["++start_epoch", "six"], "start_epoch_not_int"),
        (&["++start_epoch", "6"], "start_epoch_model_missing"),
        (&["++load", "nowhere/model.003"], "load_not_found"),
        (&["++num_epochs", "3.0"], "num_epochs_not_int"),
        (&["++num_epochs", "None"], "num_epochs_none"),
    ];
    for (ov, kind) in rows {
        let mut args = vec!["resolve", "returnn.config", "--json"];
        args.extend_from_slice(ov);
        let (code, got) = run_json(&dir, &args);
        assert_eq!(code, 1, "{ov:?}");
        assert_eq!(got["kind"], *kind, "{ov:?}: {got}");
        assert!(got["error"].as_str().unwrap().len() > 10);
        assert_eq!(got.as_object().unwrap().len(), 4, "kind, error, path, key");
    }
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

#[test]
fn resolve_three_config_forms_agree() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for e in ["001", "002"] {
        for ext in ["index", "meta", "data-00000-of-00001"] {
            write(d, &format!("models/net.{e}.{ext}"), "");
        }
    }
    write(d, "py.config", "#!rnn.py\nimport os\nmodel = 'models/net'\nnum_epochs = 10\ntask = 'search'\nload_epoch = 1\n");
    write(d, "json.config", "{\"model\": \"models/net\", \"num_epochs\": 10, \"task\": \"search\", \"load_epoch\": 1}\n");
    write(
        d,
        "lines.config",
        "# old style\nmodel models/net\nnum_epochs 10\ntask search\nload_epoch 1\n",
    );
    for cfg in ["py.config", "json.config", "lines.config"] {
        let (code, got) = run_json(d, &["resolve", cfg, "--json"]);
        assert_eq!(code, 0, "{cfg}");
        assert_eq!(got["epoch"], 1, "{cfg}");
        assert_eq!(got["model"], "models/net.001", "{cfg}");
        assert_eq!(
            got["existing"],
            json!({"1": "models/net.001", "2": "models/net.002"})
        );
        // ++ overrides work on all three forms
        let (_, got) = run_json(d, &["resolve", cfg, "++load_epoch", "2", "--json"]);
        assert_eq!(got["epoch"], 2, "{cfg}");
    }
    // Python syntax error: clear error with the line number.
    write(d, "bad.config", "#!rnn.py\nmodel = 'x'\nnum_epochs = (\n");
    let (code, got) = run_json(d, &["resolve", "bad.config", "--json"]);
    assert_eq!(code, 1);
    assert_eq!(got["kind"], "config_syntax");
    assert!(
        got["error"].as_str().unwrap().contains("bad.config:"),
        "{got}"
    );
}

#[test]
fn resolve_human_output_and_verbose() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "c.config",
        "#!rnn.py\nimport os\nmodel = os.path.join('a', 'b')\n",
    );
    let out = bin()
        .current_dir(d)
        .args(["resolve", "c.config", "--verbose"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("skipped c.config:2: import os"), "{stderr}");
    assert!(stderr.contains("skipped c.config:3:"), "{stderr}");
    // `model` is computed: reading it is "not supported": the tool cannot answer, exit 2.
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("not supported"), "{stderr}");
    let out = bin()
        .current_dir(fixtures().join("returnn_train_nativelstm"))
        .args(["resolve", "returnn.config"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("loads: net-model/network.003 (epoch 3)"),
        "{stdout}"
    );
    assert!(stdout.contains("training starts at epoch 4"), "{stdout}");
}

#[test]
fn resolve_on_real_symlinks() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for ext in ["index", "meta", "data-00000-of-00001"] {
        write(d, &format!("m/network.042.{ext}"), "");
    }
    symlink("network.042.meta", d.join("m/network.best.meta")).unwrap();
    symlink("gone.index", d.join("m/network.001.index")).unwrap(); // dangling: not a model
    write(d, "c.config", "#!rnn.py\nmodel = 'm/network'\nnum_epochs = 50\ntask = 'search'\nload = 'm/network.best.meta'\n");
    let (code, got) = run_json(d, &["resolve", "c.config", "--json"]);
    assert_eq!(code, 0);
    // `load` keeps the link's name; its epoch comes from the link target.
    assert_eq!(got["epoch"], 42);
    assert_eq!(got["model"], "m/network.best");
    assert_eq!(got["existing"], json!({"42": "m/network.042"}));
    // load_epoch with a .meta link to another epoch: RETURNN's assertion.
    write(d, "m/network.043.index", "");
    symlink("network.042.meta", d.join("m/network.043.meta")).unwrap();
    write(
        d,
        "c2.config",
        "#!rnn.py\nmodel = 'm/network'\nnum_epochs = 50\nload_epoch = 43\ntask = 'search'\n",
    );
    let (code, got) = run_json(d, &["resolve", "c2.config", "--json"]);
    assert_eq!(code, 1);
    assert_eq!(got["kind"], "load_epoch_symlink_mismatch");
}

/// The error document `{"error": {"kind", "message", "path", "key", "hint"}}` read as the
/// flat `{"kind", "error": message}` these tests were written against.
fn flatten_error(v: Value) -> Value {
    match v.get("error") {
        Some(Value::Object(e)) => serde_json::json!({
            "kind": e["kind"], "error": e["message"], "path": e["path"], "key": e["key"]
        }),
        _ => v,
    }
}
