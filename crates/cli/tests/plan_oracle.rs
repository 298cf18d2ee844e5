//! `returnn-ckpt plan` against the load oracles of the RETURNN fixtures
//! (`manifest.returnn.load_oracle`), plus the JSON error contract.
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

fn manifest(case: &str) -> Value {
    let text = std::fs::read_to_string(fixtures().join(case).join("manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Runs `plan --json` in the case directory (RETURNN's working directory). The target being
/// the run's own output checkpoint, the plan is made as at the start of the run by default.
fn plan_json(case: &str, target: &str, extra: &[&str]) -> (i32, Value) {
    let out = bin()
        .current_dir(fixtures().join(case))
        .args(["plan", "returnn.config", "--target", target, "--json"])
        .args(extra)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let v: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "bad JSON ({e}): {stdout} / {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let v = flatten_error(v);
    (out.status.code().unwrap(), v)
}

/// Checks a plan against the oracle: same variables loaded, from the same sources/keys, with
/// the named transform; not-loaded variables are not loaded.
fn check_against_oracle(case: &str, plan: &Value) {
    let m = manifest(case);
    let oracle = &m["returnn"]["load_oracle"];
    let vars = oracle["variables"].as_array().unwrap();
    let planned = plan["variables"].as_object().unwrap();
    assert_eq!(
        planned.len(),
        vars.len(),
        "{case}: number of target variables"
    );
    let mut loaded = 0;
    for v in vars {
        let name = v["name"].as_str().unwrap();
        let p = &planned[name];
        match v["loaded_from_checkpoint"].as_bool() {
            Some(true) => {
                loaded += 1;
                assert_eq!(p["status"], "loaded", "{case}: {name}: {p}");
                assert_eq!(p["file"], v["source_checkpoint"], "{case}: {name}");
                let keys: Vec<Value> = match v["source_variables"].as_array() {
                    Some(list) => list.clone(),
                    None => vec![v["source_variable"].clone()],
                };
                assert_eq!(p["keys"].as_array().unwrap(), &keys, "{case}: {name}");
                match v["transform"].as_str() {
                    Some(t) => assert_eq!(p["rule"], format!("convert:{t}"), "{case}: {name}"),
                    None => assert!(
                        !p["rule"].as_str().unwrap().starts_with("convert:"),
                        "{case}: {name}"
                    ),
                }
                let how = v["how"].as_str().unwrap();
                if let Some(rest) = how.strip_prefix("preload_from_files['") {
                    let entry = rest.split('\'').next().unwrap();
                    assert_eq!(p["entry"], entry, "{case}: {name}");
                    if how.ends_with("var_name_mapping") {
                        assert_eq!(p["rule"], "var_name_mapping", "{case}: {name}");
                    }
                    if how.contains("(prefix '") {
                        assert_eq!(p["rule"], "prefix", "{case}: {name}");
                    }
                } else {
                    assert_eq!(p["entry"], "load", "{case}: {name}");
                }
            }
            Some(false) => {
                assert_ne!(p["status"], "loaded", "{case}: {name}: {p}");
                assert_eq!(p["keys"], Value::Array(vec![]), "{case}: {name}");
                assert_eq!(p["rule"], Value::Null, "{case}: {name}");
            }
            None => {} // not a layer parameter (global_step): written by training itself
        }
    }
    assert!(loaded > 0);
}

#[test]
fn preload_oracle_from_checkpoint_target() {
    let (code, plan) = plan_json("returnn_preload", "net-model/network.001", &[]);
    assert_eq!(code, 0);
    check_against_oracle("returnn_preload", &plan);
    // What the oracle's "how" says in words.
    let v = &plan["variables"];
    assert_eq!(v["extra/W"]["status"], "missing_ignored");
    assert_eq!(v["extra/W"]["entry"], "02_rest");
    assert_eq!(v["output/W"]["status"], "random_init");
    assert_eq!(v["global_step"]["status"], "random_init");
    assert_eq!(
        v.as_object().unwrap().len(),
        10,
        "every tensor of the target checkpoint is a target variable"
    );
}

#[test]
fn import_oracle_from_meta_target() {
    let (code, plan) = plan_json("returnn_import_epoch1", "net-model/network.001.meta", &[]);
    assert_eq!(code, 0);
    check_against_oracle("returnn_import_epoch1", &plan);
    assert_eq!(plan["variables"]["global_step"]["entry"], "load");
    assert!(plan["notes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n.as_str().unwrap().contains("forget_bias")));
}

#[test]
fn import_oracle_from_checkpoint_target_equals_meta_target() {
    let (_, a) = plan_json("returnn_import_epoch1", "net-model/network.001", &[]);
    let (_, b) = plan_json("returnn_import_epoch1", "net-model/network.001.meta", &[]);
    assert_eq!(a["variables"], b["variables"]);
}

#[test]
fn with_resume_the_existing_model_is_resumed() {
    // The fixture directories hold the run's own output (network.001): RETURNN re-run there
    // resumes from it, so no preload entry applies.
    let out = bin()
        .current_dir(fixtures().join("returnn_preload"))
        .args([
            "plan",
            "returnn.config",
            "--target",
            "net-model/network.001",
            "--json",
            "--resume",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["variables"]["ff/W"]["file"], "net-model/network.001");
    assert_eq!(v["variables"]["ff/W"]["rule"], "direct");
}

#[test]
fn json_target_and_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target.json");
    std::fs::write(
        &target,
        r#"{"variables": [{"name": "pre_fw0/rec/W", "shape": [9, 40], "dtype": "float32"},
                          {"name": "zzz/W", "shape": [2, 2], "dtype": "float32"}]}"#,
    )
    .unwrap();
    // Task search: init_for_train entries do not apply, and there is no model: RETURNN raises.
    let (code, v) = plan_json(
        "returnn_preload",
        target.to_str().unwrap(),
        &["++task", "search", "--fresh"],
    );
    assert_eq!(code, 1);
    assert_eq!(v["kind"], "no_model");
    assert!(v["error"].as_str().unwrap().contains("Set one via 'load'"));
    // With allow_random_model_init, nothing is loaded.
    let (code, v) = plan_json(
        "returnn_preload",
        target.to_str().unwrap(),
        &[
            "++task",
            "search",
            "++allow_random_model_init",
            "1",
            "--fresh",
        ],
    );
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["variables"]["pre_fw0/rec/W"]["status"], "random_init");
}

#[test]
fn errors_have_stable_kinds() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target.json");
    // A variable entry 01_encoder (prefix pre_) cannot find: RETURNN raises NotFoundError.
    std::fs::write(
        &target,
        r#"{"variables": [{"name": "pre_fw0/rec/W", "shape": [9, 40], "dtype": "float32"},
                          {"name": "pre_nope/W", "shape": [2], "dtype": "float32"}]}"#,
    )
    .unwrap();
    let (code, v) = plan_json("returnn_preload", target.to_str().unwrap(), &["--fresh"]);
    assert_eq!(code, 1);
    assert_eq!(v["kind"], "missing_vars");
    assert!(v["error"]
        .as_str()
        .unwrap()
        .contains("CustomCheckpointLoader. could_not_find_map_list: ['nope/W']"));
    // A shape mismatch fails in the plan.
    std::fs::write(
        &target,
        r#"{"variables": [{"name": "pre_fw0/rec/W", "shape": [8, 40], "dtype": "float32"}]}"#,
    )
    .unwrap();
    let (code, v) = plan_json("returnn_preload", target.to_str().unwrap(), &["--fresh"]);
    assert_eq!(code, 1);
    assert_eq!(v["kind"], "shape_mismatch");
    assert!(v["error"].as_str().unwrap().contains("(9, 40)"));
    // No variable matches entry 01_encoder's prefix: no saveable vars.
    std::fs::write(
        &target,
        r#"{"variables": [{"name": "ff/W", "shape": [10, 10], "dtype": "float32"}]}"#,
    )
    .unwrap();
    let (code, v) = plan_json("returnn_preload", target.to_str().unwrap(), &["--fresh"]);
    assert_eq!(code, 1);
    assert_eq!(v["kind"], "no_saveable_vars");
    // A preload file that does not exist.
    let (code, v) = plan_json(
        "returnn_import_epoch1",
        "net-model/network.001",
        &["++import_model_train_epoch1", "does/not/exist"],
    );
    assert_eq!(code, 1, "{v}");
    assert!(v["kind"].is_string());
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
