//! Target variable lists: JSON, checkpoint tensor list and `.meta` agree on the fixtures.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::path::{Path, PathBuf};

use engine::load_targets;
use engine::targets::from_json;

fn case(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(p)
}

#[test]
fn meta_lists_the_saved_global_variables_like_the_checkpoint() {
    for c in [
        "returnn_preload",
        "returnn_import_epoch1",
        "returnn_train_nativelstm",
    ] {
        let dir = case(c).join("net-model");
        let prefix = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter_map(|n| n.strip_suffix(".meta").map(str::to_string))
            .next()
            .unwrap();
        let from_ckpt = load_targets(&dir.join(&prefix)).unwrap();
        let from_meta = load_targets(&dir.join(format!("{prefix}.meta"))).unwrap();
        assert_eq!(from_ckpt, from_meta, "{c}");
        let gs = from_meta.iter().find(|v| v.name == "global_step").unwrap();
        assert!(!gs.layer_param);
        assert!(from_meta
            .iter()
            .filter(|v| v.name != "global_step")
            .all(|v| v.layer_param));
    }
}

#[test]
fn json_targets() {
    let p = Path::new("t.json");
    let v = from_json(
        br#"{"variables": [{"name": "l0/W:0", "shape": [2, 2], "dtype": "float32"},
                           {"name": "bn/mean", "shape": [2], "dtype": "float16", "non_critical": true}]}"#,
        p,
    )
    .unwrap();
    assert_eq!(v[0].name, "l0/W");
    assert_eq!(v[0].shape, vec![2, 2]);
    assert!(v[1].non_critical);
    assert_eq!(v[1].dtype, tf_bundle::DType::Float16);
    for bad in [
        &br#"{"vars": []}"#[..],
        br#"{"variables": [{"name": "x", "shape": [-1]}]}"#,
        br#"{"variables": [{"name": "x", "shape": [1], "dtype": "float7"}]}"#,
        br#"not json"#,
    ] {
        let e = from_json(bad, p).unwrap_err();
        assert_eq!(e.label(), "target");
    }
}
