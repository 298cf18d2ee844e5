//! Regression tests for disagreements with real RETURNN found by `cargo xtask mapping-oracle`
//! (tools/returnn-oracle/mapping). Each case is a `preload_from_files` load whose result RETURNN
//! (TF 2.21, numpy 2.4, x86-64) produced; the expected bytes are what it wrote into the variables.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};
use tf_bundle::write::BundleWriter;
use tf_bundle::{DType, TensorData};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_returnn-ckpt"))
}

fn f64_bytes(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Writes the source checkpoint, the target list and a JSON config with one preload entry;
/// runs `load --out out.safetensors`; returns the written tensors' bytes by name.
fn load(
    dir: &Path,
    src: &[(&str, DType, Vec<u64>, Vec<u8>)],
    targets: Value,
) -> std::collections::BTreeMap<String, Vec<u8>> {
    let prefix = dir.join("src");
    let mut w = BundleWriter::create(&prefix).unwrap();
    for (name, dt, shape, bytes) in src {
        w.add(name, *dt, shape, &TensorData::Bytes(bytes.clone()))
            .unwrap();
    }
    w.finish().unwrap();
    let config = json!({
        "task": "train",
        "model": dir.join("out/model").to_str().unwrap(),
        "num_epochs": 1,
        "preload_from_files": {"p": {"filename": prefix.to_str().unwrap(), "init_for_train": true}},
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    std::fs::write(
        dir.join("target.json"),
        json!({ "variables": targets }).to_string(),
    )
    .unwrap();
    let out = bin()
        .current_dir(dir)
        .args([
            "load",
            "config.json",
            "--target",
            "target.json",
            "--out",
            "out.safetensors",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(dir.join("out.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(n, v)| (n, v.data().to_vec()))
        .collect()
}

fn u16s(b: &[u8]) -> Vec<u16> {
    b.chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect()
}

/// float64 checkpoint values into float16 / bfloat16 variables: numpy rounds float64 ->
/// float16 once (we used to round via float32: 1 + 2^-11 + 2^-40 became 1.0), while ml_dtypes
/// rounds float64 -> bfloat16 via float32.
#[test]
fn float64_into_float16_and_bfloat16_variables_round_like_returnn() {
    let tmp = tempfile::tempdir().unwrap();
    let vals = [
        1.0 + 2f64.powi(-11) + 2f64.powi(-40),
        1.0 + 2f64.powi(-8) + 2f64.powi(-30),
        f64::NAN,
        65520.0,
        -(1.0 + 2f64.powi(-11)),
        1.0 + 3.0 * 2f64.powi(-8),
    ];
    let got = load(
        tmp.path(),
        &[
            ("h/W", DType::Float64, vec![2, 3], f64_bytes(&vals)),
            ("b/W", DType::Float64, vec![2, 3], f64_bytes(&vals)),
        ],
        json!([
            {"name": "h/W", "shape": [2, 3], "dtype": "float16"},
            {"name": "b/W", "shape": [2, 3], "dtype": "bfloat16"},
        ]),
    );
    assert_eq!(
        u16s(&got["h/W"]),
        [0x3c01, 0x3c04, 0x7e00, 0x7c00, 0xbc00, 0x3c0c]
    );
    assert_eq!(
        u16s(&got["b/W"]),
        [0x3f80, 0x3f80, 0x7fc0, 0x4780, 0xbf80, 0x3f82]
    );
}

/// float32 checkpoint values into an int32 variable: truncation toward zero, and x86's
/// "integer indefinite" for NaN, ±inf and out-of-range values (we used to write 0 for -inf).
#[test]
fn float32_into_int32_variable_truncates_like_returnn() {
    let tmp = tempfile::tempdir().unwrap();
    let vals = [f32::NEG_INFINITY, f32::INFINITY, f32::NAN, -2.7, 3e9, 2.9];
    let got = load(
        tmp.path(),
        &[("i/W", DType::Float32, vec![6], f32_bytes(&vals))],
        json!([{"name": "i/W", "shape": [6], "dtype": "int32"}]),
    );
    let ints: Vec<i32> = got["i/W"]
        .chunks_exact(4)
        .map(|c| i32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(ints, [i32::MIN, i32::MIN, i32::MIN, -2, i32::MIN, 2]);
}

/// Runs `plan --json` in `dir` on `config.json` / `target.json`.
fn plan(dir: &Path) -> Value {
    let out = bin()
        .current_dir(dir)
        .args(["plan", "config.json", "--target", "target.json", "--json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(out.status.success(), "{v}");
    v
}

fn write_ckpt(prefix: &Path, tensors: &[(&str, DType, Vec<u64>, Vec<u8>)]) {
    let mut w = BundleWriter::create(prefix).unwrap();
    for (name, dt, shape, bytes) in tensors {
        w.add(name, *dt, shape, &TensorData::Bytes(bytes.clone()))
            .unwrap();
    }
    w.finish().unwrap();
}

/// A preload entry without ignore_missing whose checkpoint lacks a non-critical variable
/// (fast path): RETURNN registers the variable without a value. The engine's preloads run
/// after `initialize_params`, so the hook never runs: no KeyError (we used to raise one), the
/// variable keeps its initial value, and the imported main checkpoint skips it too.
#[test]
fn preload_registers_missing_non_critical_var_without_error() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write_ckpt(
        &d.join("pre"),
        &[("a/W", DType::Float32, vec![2], f32_bytes(&[1.0, 2.0]))],
    );
    write_ckpt(
        &d.join("main"),
        &[
            ("a/W", DType::Float32, vec![2], f32_bytes(&[3.0, 4.0])),
            ("a/nc", DType::Float32, vec![2], f32_bytes(&[5.0, 6.0])),
            (
                "global_step",
                DType::Int64,
                vec![],
                9i64.to_le_bytes().to_vec(),
            ),
        ],
    );
    std::fs::write(d.join("main.meta"), b"").unwrap(); // RETURNN requires it to exist
    let config = json!({
        "task": "train",
        "model": d.join("out/model").to_str().unwrap(),
        "num_epochs": 1,
        "import_model_train_epoch1": d.join("main").to_str().unwrap(),
        "preload_from_files": {"p": {"filename": d.join("pre").to_str().unwrap(), "init_for_train": true}},
    });
    std::fs::write(d.join("config.json"), config.to_string()).unwrap();
    let targets = json!({"variables": [
        {"name": "a/W", "shape": [2], "dtype": "float32"},
        {"name": "a/nc", "shape": [2], "dtype": "float32", "non_critical": true},
        {"name": "global_step", "shape": [], "dtype": "int64"},
    ]});
    std::fs::write(d.join("target.json"), targets.to_string()).unwrap();
    let v = plan(d);
    let vars = &v["variables"];
    assert_eq!(vars["a/W"]["status"], "loaded");
    assert_eq!(vars["a/W"]["entry"], "p");
    assert_ne!(vars["a/nc"]["status"], "loaded", "{v}");
    assert_eq!(vars["global_step"]["status"], "loaded");
    assert_eq!(vars["global_step"]["entry"], "load");
}

/// Two graph variables with the same checkpoint-side name (prefix removal), the first
/// non-critical, the later critical: RETURNN keeps the later one in its name table, so the
/// name counts as missing, the rename table resolves it, and both variables get the value
/// (we used to raise the non-critical KeyError).
#[test]
fn shared_ckpt_name_uses_the_later_params_criticality() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write_ckpt(
        &d.join("src"),
        &[(
            "x/rec/lstm_cell/biases",
            DType::Float32,
            vec![4],
            f32_bytes(&[1.0, 2.0, 3.0, 4.0]),
        )],
    );
    let config = json!({
        "task": "train",
        "model": d.join("out/model").to_str().unwrap(),
        "num_epochs": 1,
        "preload_from_files": {"p": {"filename": d.join("src").to_str().unwrap(), "init_for_train": true, "prefix": "pre_"}},
    });
    std::fs::write(d.join("config.json"), config.to_string()).unwrap();
    let targets = json!({"variables": [
        {"name": "pre_x/rec/lstm_cell/bias", "shape": [4], "dtype": "float32", "non_critical": true},
        {"name": "x/pre_rec/lstm_cell/bias", "shape": [4], "dtype": "float32"},
    ]});
    std::fs::write(d.join("target.json"), targets.to_string()).unwrap();
    let v = plan(d);
    for name in ["pre_x/rec/lstm_cell/bias", "x/pre_rec/lstm_cell/bias"] {
        let p = &v["variables"][name];
        assert_eq!(p["status"], "loaded", "{name}: {v}");
        assert_eq!(p["keys"], json!(["x/rec/lstm_cell/biases"]), "{name}");
    }
}
