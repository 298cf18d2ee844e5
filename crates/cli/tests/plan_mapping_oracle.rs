//! Regression tests for disagreements with real RETURNN found by `cargo xtask mapping-oracle`
//! (tools/returnn-oracle/mapping). Each case is a `preload_from_files` load whose result RETURNN
//! (TF 2.21, numpy 2.4, x86-64) produced; the expected bytes are what it wrote into the variables.

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
