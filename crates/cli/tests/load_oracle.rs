//! `returnn-ckpt load` against the load oracles of the RETURNN fixtures: exactly the loaded
//! variables are written, each with the sha256 RETURNN's loaded value has (including the
//! converted LSTM parameters).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use sha2::{Digest, Sha256};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn manifest(case: &str) -> Value {
    let text = std::fs::read_to_string(fixtures().join(case).join("manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn load(case: &str, target: &str, out: &Path) -> (i32, Value) {
    let o = Command::new(env!("CARGO_BIN_EXE_returnn-ckpt"))
        .current_dir(fixtures().join(case))
        .args([
            "load",
            "returnn.config",
            "--target",
            target,
            "--fresh",
            "--json",
            "--out",
        ])
        .arg(out)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {} / {}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    });
    (o.status.code().unwrap(), v)
}

/// name -> (dtype, shape, sha256) of every tensor in a safetensors file.
fn safetensors_digests(path: &Path) -> BTreeMap<String, (String, Vec<usize>, String)> {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(name, view)| {
            let sha = hex::encode(Sha256::digest(view.data()));
            (
                name,
                (format!("{:?}", view.dtype()), view.shape().to_vec(), sha),
            )
        })
        .collect()
}

fn check_load(case: &str, target: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("loaded.safetensors");
    let (code, plan) = load(case, target, &out);
    assert_eq!(code, 0, "{plan}");
    let written = safetensors_digests(&out);
    assert_eq!(plan["written"], written.len());
    let oracle = &manifest(case)["returnn"]["load_oracle"];
    let mut checked = 0;
    for v in oracle["variables"].as_array().unwrap() {
        let name = v["name"].as_str().unwrap();
        match v["loaded_from_checkpoint"].as_bool() {
            Some(true) => {
                let (dtype, shape, sha) = written
                    .get(name)
                    .unwrap_or_else(|| panic!("{case}: {name} not written"));
                assert_eq!(sha, v["sha256"].as_str().unwrap(), "{case}: {name}");
                assert_eq!(dtype, "F32", "{case}: {name}");
                let want: Vec<usize> = v["shape"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d.as_u64().unwrap() as usize)
                    .collect();
                assert_eq!(shape, &want, "{case}: {name}");
                checked += 1;
            }
            Some(false) => assert!(
                !written.contains_key(name),
                "{case}: {name} must not be written"
            ),
            // global_step: not a layer param; the import loads it from the source, then
            // training increments it, so the oracle's value is not the loaded one.
            None => {}
        }
    }
    assert!(checked >= 5, "{case}: only {checked} checked");
    // Exactly what the plan shows as loaded is written.
    let loaded: Vec<&str> = plan["variables"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, p)| p["status"] == "loaded")
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(
        loaded,
        written.keys().map(|k| k.as_str()).collect::<Vec<_>>()
    );
}

#[test]
fn preload_oracle_sha256() {
    check_load("returnn_preload", "net-model/network.001");
}

#[test]
fn import_oracle_sha256_with_lstm_conversion() {
    check_load("returnn_import_epoch1", "net-model/network.001.meta");
}

#[test]
fn load_to_tf_bundle_reads_back_identically() {
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("a.safetensors");
    let prefix = dir.path().join("b");
    let (code, _) = load("returnn_import_epoch1", "net-model/network.001", &st);
    assert_eq!(code, 0);
    let (code, _) = load("returnn_import_epoch1", "net-model/network.001", &prefix);
    assert_eq!(code, 0);
    let a = safetensors_digests(&st);
    let ckpt = tf_bundle::Checkpoint::open(&prefix).unwrap();
    assert_eq!(ckpt.tensors().len(), a.len());
    for t in ckpt.tensors() {
        let tensor = ckpt.read(&t.name).unwrap();
        let sha = hex::encode(tf_bundle::digest(&tensor));
        assert_eq!(sha, a[&t.name].2, "{}", t.name);
    }
}

#[test]
fn failed_plan_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.safetensors");
    let (code, v) = {
        let o = Command::new(env!("CARGO_BIN_EXE_returnn-ckpt"))
            .current_dir(fixtures().join("returnn_import_epoch1"))
            .args([
                "load",
                "returnn.config",
                "--target",
                "net-model/network.001",
                "--fresh",
                "--json",
            ])
            .args([
                "++import_model_train_epoch1",
                "../returnn_preload/net-model/network.001",
            ])
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        (
            o.status.code().unwrap(),
            flatten_error(serde_json::from_slice::<Value>(&o.stdout).unwrap()),
        )
    };
    assert_eq!(code, 1);
    assert_eq!(v["kind"], "missing_vars");
    assert!(!out.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// The reverse conversion on real data: `returnn_import_epoch1`'s saved LSTMCell params are
/// RETURNN's NativeLSTM -> LSTMCell conversion of `returnn_train_nativelstm`'s epoch 3 (learning
/// rate 0), so importing them back into the NativeLSTM network must give epoch 3's `W`, `W_re`,
/// `b` bit for bit.
#[test]
fn basic_to_native_round_trip_on_real_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("back.safetensors");
    let o = Command::new(env!("CARGO_BIN_EXE_returnn-ckpt"))
        .current_dir(fixtures().join("returnn_train_nativelstm"))
        .args([
            "load",
            "returnn.config",
            "--target",
            "net-model/network.003",
            "--json",
        ])
        .args([
            "++import_model_train_epoch1",
            "../returnn_import_epoch1/net-model/network.001",
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let plan: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(o.status.success(), "{plan}");
    assert_eq!(
        plan["variables"]["fw0/rec/W_re"]["rule"],
        "convert:basic_lstm_to_native_lstm_W_re"
    );
    assert_eq!(
        plan["variables"]["fw0/rec/W"]["keys"],
        serde_json::json!(["fw0/rec/lstm_cell/kernel"])
    );
    let written = safetensors_digests(&out);
    let m = manifest("returnn_train_nativelstm");
    let ck = m["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["prefix"] == "net-model/network.003")
        .unwrap();
    for t in ck["tensors"].as_array().unwrap() {
        let name = t["name"].as_str().unwrap();
        if name.starts_with("fw0/") {
            assert_eq!(written[name].2, t["sha256"].as_str().unwrap(), "{name}");
        }
    }
}

/// A corrupted source tensor (CRC mismatch) fails the load with a read error and leaves no
/// output behind; the plan itself (index only) still works.
#[test]
fn corrupt_source_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let src_dir = fixtures().join("returnn_train_nativelstm/net-model");
    std::fs::create_dir(dir.path().join("src")).unwrap();
    for ext in ["index", "meta", "data-00000-of-00001"] {
        std::fs::copy(
            src_dir.join(format!("network.003.{ext}")),
            dir.path().join(format!("src/network.003.{ext}")),
        )
        .unwrap();
    }
    let data = dir.path().join("src/network.003.data-00000-of-00001");
    let mut bytes = std::fs::read(&data).unwrap();
    for b in bytes.iter_mut() {
        *b ^= 0x5a;
    }
    std::fs::write(&data, bytes).unwrap();
    std::fs::write(
        dir.path().join("returnn.config"),
        "#!rnn.py\nuse_tensorflow = True\ntask = \"train\"\nmodel = \"out/network\"\nimport_model_train_epoch1 = \"src/network.003\"\n",
    )
    .unwrap();
    let target = src_dir.join("network.003");
    let run = |cmd: &str, extra: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_returnn-ckpt"))
            .current_dir(dir.path())
            .args([cmd, "returnn.config", "--json", "--target"])
            .arg(&target)
            .args(extra)
            .output()
            .unwrap();
        (
            o.status.code().unwrap(),
            flatten_error(serde_json::from_slice::<Value>(&o.stdout).unwrap()),
        )
    };
    let (code, plan) = run("plan", &[]);
    assert_eq!(code, 0, "{plan}");
    assert_eq!(plan["variables"]["fw0/rec/W"]["file"], "src/network.003");
    let (code, err) = run("load", &["--out", "x.safetensors"]);
    assert_eq!(code, 2, "an unreadable source: the tool cannot answer");
    assert_eq!(err["kind"], "read_error", "{err}");
    assert!(!dir.path().join("x.safetensors").exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "src" && n != "returnn.config")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
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
