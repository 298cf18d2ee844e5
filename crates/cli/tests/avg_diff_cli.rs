//! `returnn-ckpt avg` and `returnn-ckpt diff` end to end on the RETURNN training fixture.
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

fn case() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/returnn_train_nativelstm/net-model")
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

#[test]
fn avg_of_three_epochs_then_diff() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("avg");
    let (e1, e2, e3) = (
        case().join("network.001"),
        case().join("network.002"),
        case().join("network.003"),
    );
    let o = run(os!("avg", &e1, &e2, &e3, "--out", &out));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("7 tensors averaged over 3 checkpoints, 1 taken from the last input"),
        "{stdout}"
    );
    // the mean differs from the last epoch in the float tensors only
    let o = run(os!("diff", &out, &e3, "--json"));
    assert_eq!(o.status.code(), Some(1));
    let d: Value = serde_json::from_slice(&o.stdout).unwrap();
    let changed: Vec<&str> = d["value_changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(changed.len(), 7);
    assert!(!changed.contains(&"global_step"));
    // averaging one checkpoint gives it back
    let one = tmp.path().join("one");
    assert!(run(os!("avg", &e2, "--out", &one)).status.success());
    assert!(run(os!("diff", &one, &e2)).status.success());
    // a mismatch (other names) is a clear error; nothing is written
    let other = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/returnn_preload/net-model/network.001");
    let bad = tmp.path().join("bad");
    let o = run(os!("avg", &e1, &other, "--out", &bad));
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("inputs do not match") && err.contains("tensor '"),
        "{err}"
    );
    assert!(!tf_bundle::write::index_file_name(&bad).exists());
    // --out over an input is refused
    let o = run(os!("avg", &e1, &one, "--out", &one, "--force"));
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("overwrite the input"));
}

#[test]
fn diff_exit_codes_json_and_tolerance() {
    let (e1, e2) = (case().join("network.001"), case().join("network.002"));
    let o = run(os!("diff", &e1, &e1));
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("8 tensors compared: equal"));

    let o = run(os!("diff", &e1, &e2, "--json"));
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stderr.is_empty(), "no progress bar off a terminal");
    let d: Value = serde_json::from_slice(&o.stdout).unwrap();
    for key in [
        "a",
        "b",
        "atol",
        "rtol",
        "equal",
        "only_in_a",
        "only_in_b",
        "dtype_changed",
        "shape_changed",
        "value_changed",
        "compared",
    ] {
        assert!(d.get(key).is_some(), "{key}");
    }
    assert_eq!(d["equal"], false);
    assert_eq!(d["compared"], 8);
    let gs = d["value_changed"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "global_step")
        .unwrap();
    assert_eq!(gs["count"], 1);
    assert!(gs["max_abs"].as_f64().unwrap() > 0.0);

    // within a huge tolerance everything is equal
    let o = run(os!("diff", &e1, &e2, "--atol", "1e9"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));

    // names only in one side
    let other = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/returnn_preload/net-model/network.001");
    let o = run(os!("diff", &e1, &other, "--json"));
    assert_eq!(o.status.code(), Some(1));
    let d: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        !d["only_in_a"].as_array().unwrap().is_empty()
            || !d["only_in_b"].as_array().unwrap().is_empty()
    );
}
