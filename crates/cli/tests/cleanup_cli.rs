//! `returnn-ckpt cleanup`: dry run lists, `--apply` deletes exactly the listed files (and
//! never `network.1000.*` when deleting epoch 100).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn touch(dir: &Path, rel: &str, bytes: usize) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, vec![0u8; bytes]).unwrap();
}

fn setup(d: &Path) -> Vec<u64> {
    let epochs: Vec<u64> = (95..=101).chain([1000, 1001]).collect();
    let mut lr = String::from("{\n");
    for e in &epochs {
        let p = format!("net-model/network.{e:03}");
        touch(d, &format!("{p}.index"), 10);
        touch(d, &format!("{p}.meta"), 20);
        touch(d, &format!("{p}.data-00000-of-00001"), 30);
        lr.push_str(&format!(
            "{e}: EpochData(learningRate=np.float32(0.01), error={{\n'dev_score': {},\n}}),\n",
            (*e as f64 - 97.0).abs()
        ));
    }
    lr.push_str("}\n");
    // Files that only share a prefix with epoch 100 and must survive.
    touch(d, "net-model/network.100.index.bak", 1);
    touch(d, "net-model/network.1000.extra", 1);
    std::fs::write(d.join("newbob.data"), lr).unwrap();
    std::fs::write(
        d.join("returnn.config"),
        "#!rnn.py\nmodel = 'net-model/network'\nnum_epochs = 1001\nlearning_rate_file = 'newbob.data'\n\
         cleanup_old_models = {'keep_last_n': 1, 'keep_best_n': 2}\n",
    )
    .unwrap();
    epochs
}

fn cleanup(d: &Path, apply: bool) -> Value {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_returnn-ckpt"));
    cmd.current_dir(d)
        .args(["cleanup", "returnn.config", "--json"]);
    if apply {
        cmd.arg("--apply");
    }
    let out = cmd.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn cleanup_dry_run_then_apply_exact_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let epochs = setup(d);
    let v = cleanup(d, false);
    let stored: Vec<u64> = serde_json::from_value(v["stored"].clone()).unwrap();
    assert_eq!(stored, epochs);
    // N = 1001: pattern every 80*next_pow2(1+1001//240=5 -> 8) = 640 -> {640}, doubles of 20
    // {20, 40, ..., 640}; last 1: {1001}; best 2 by |e-97|: {97, 96}.
    let keep: Vec<u64> = serde_json::from_value(v["keep"].clone()).unwrap();
    assert_eq!(keep, [96, 97, 1001]);
    let delete: Vec<u64> = serde_json::from_value(v["delete"].clone()).unwrap();
    assert_eq!(delete, [95, 98, 99, 100, 101, 1000]);
    assert_eq!(v["applied"], false);
    assert_eq!(v["bytes"], 6 * 60);
    let f100: Vec<String> = v["files"]["100"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        f100,
        [
            "net-model/network.100.data-00000-of-00001",
            "net-model/network.100.index",
            "net-model/network.100.meta"
        ]
    );
    // Dry run: nothing deleted.
    assert!(d.join("net-model/network.100.index").exists());

    let v = cleanup(d, true);
    assert_eq!(v["applied"], true);
    let mut left: Vec<String> = std::fs::read_dir(d.join("net-model"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    let mut want = vec![
        "network.100.index.bak".to_string(),
        "network.1000.extra".to_string(),
    ];
    for e in [96u64, 97, 1001] {
        for ext in ["data-00000-of-00001", "index", "meta"] {
            want.push(format!("network.{e:03}.{ext}"));
        }
    }
    want.sort();
    assert_eq!(left, want);
    // A second run keeps everything.
    let v = cleanup(d, false);
    assert_eq!(v["delete"].as_array().unwrap().len(), 0);
}
