//! `returnn-ckpt epochs` on the RETURNN fixtures (files + newbob.data scores, --best).
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

fn epochs(case: &str, extra: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_returnn-ckpt"))
        .current_dir(fixtures().join(case))
        .args(["epochs", "returnn.config", "--json"])
        .args(extra)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn epochs_on_fixtures() {
    let v = epochs("returnn_train_nativelstm", &[]);
    assert_eq!(v["model"], "net-model/network");
    assert_eq!(v["final_epoch"], 3);
    assert_eq!(v["learning_rate_file"], "newbob.data");
    let eps = v["epochs"].as_array().unwrap();
    assert_eq!(eps.len(), 3);
    assert_eq!(eps[1]["epoch"], 2);
    assert_eq!(eps[1]["path"], "net-model/network.002");
    assert_eq!(eps[1]["files"].as_array().unwrap().len(), 3);
    assert_eq!(eps[1]["learning_rate"], 0.01);
    assert_eq!(eps[1]["scores"]["dev_score"], 0.30974021553993225);
    assert!(eps[1]["scores"].get(":meta:global_train_step").is_none());
    assert!(v.get("best").is_none());
    assert_eq!(v["tf_checkpoint_state"]["latest"], "net-model/network.003");
    assert_eq!(v["tf_checkpoint_state"]["all"].as_array().unwrap().len(), 3);

    let v = epochs("returnn_pretrain", &["--best"]);
    let eps = v["epochs"].as_array().unwrap();
    assert_eq!(eps[0]["pretrain"], true);
    assert_eq!(eps[0]["path"], "net-model/network.pretrain.001");
    assert_eq!(eps[2]["pretrain"], false);
    assert_eq!(v["best"]["key"], "dev_score");
    assert_eq!(v["best"]["epoch"], 3);

    // dev_error is equal in epochs 2 and 3 of returnn_pretrain: ties go to the lower epoch.
    let v = epochs("returnn_pretrain", &["--best", "dev_error"]);
    assert_eq!(v["best"]["epoch"], 2);
    assert_eq!(v["best"]["path"], "net-model/network.pretrain.002");
}
