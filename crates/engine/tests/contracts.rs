//! The JSON contracts, in process: each job's report, serialised with `serde_json`, is exactly
//! what the CLI printed for the same request (the CLI's recorded snapshots in
//! `crates/cli/tests/snapshots/`), so a library caller (the Python package) gets the documented
//! documents without spawning the binary. Also: requests with different base directories run
//! at the same time in one process and do not see each other.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use engine::config::ConfigRequest;
use engine::NoProgress;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .canonicalize()
        .unwrap()
}

/// The stdout recorded for a CLI snapshot case.
fn snapshot_stdout(case: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../cli/tests/snapshots")
        .join(format!("{case}.out"));
    let text = std::fs::read_to_string(&p).unwrap();
    let start = text.find("--- stdout\n").unwrap() + "--- stdout\n".len();
    let end = text.find("--- stderr\n").unwrap();
    text[start..end].to_string()
}

/// A report as the CLI prints it (pretty or one line), with the fixtures directory written
/// relative, as the CLI cases ran from there.
fn render(v: &impl serde::Serialize, pretty: bool) -> String {
    let s = if pretty {
        serde_json::to_string_pretty(v).unwrap()
    } else {
        serde_json::to_string(v).unwrap()
    };
    let root = format!("{}/", fixtures().display());
    s.replace(&root, "") + "\n"
}

fn fx(p: &str) -> PathBuf {
    fixtures().join(p)
}

fn config(case: &str, overrides: &[&str]) -> ConfigRequest {
    ConfigRequest::file(
        fx(case).join("returnn.config"),
        overrides.iter().map(|s| s.to_string()).collect(),
        fx(case),
    )
}

#[test]
fn inspect_reports_are_the_cli_json() {
    for (case, path, stats, digest, objects) in [
        (
            "inspect-native-json",
            "returnn_train_nativelstm/net-model/network.003",
            false,
            false,
            false,
        ),
        (
            "inspect-native-digest-json",
            "returnn_train_nativelstm/net-model/network.003.index",
            true,
            true,
            false,
        ),
        (
            "inspect-dtypes-json",
            "tf1_saver_dtypes/model.ckpt",
            true,
            false,
            false,
        ),
        (
            "inspect-keras-objects-json",
            "tf2_object_keras/ckpt-2",
            false,
            false,
            true,
        ),
        (
            "inspect-sharded-json",
            "tf1_sharded_3dev/sharded.ckpt",
            false,
            true,
            false,
        ),
    ] {
        let r = engine::inspect::run(
            &engine::inspect::InspectRequest {
                path: fx(path),
                stats,
                digest,
                object_names: objects,
                mmap: false,
            },
            &NoProgress,
        )
        .unwrap();
        assert_eq!(render(&r, true), snapshot_stdout(case), "{case}");
    }
    let v = engine::inspect::values(&engine::inspect::ValuesRequest {
        path: fx("tf1_saver_dtypes/model.ckpt"),
        tensors: vec![
            "dtypes/complex64/scalar".into(),
            "dtypes/bfloat16/special".into(),
        ],
        digest: true,
        mmap: false,
        all: false,
    })
    .unwrap();
    assert_eq!(render(&v, true), snapshot_stdout("inspect-tensor-json"));
}

#[test]
fn selection_reports_are_the_cli_json() {
    let r = engine::resolve::run(&engine::resolve::ResolveRequest {
        config: config("returnn_train_nativelstm", &[]),
    })
    .unwrap();
    assert_eq!(render(&r, true), snapshot_stdout("resolve-native-json"));
    let r = engine::resolve::run(&engine::resolve::ResolveRequest {
        config: config("returnn_import_epoch1", &[]),
    })
    .unwrap();
    assert_eq!(render(&r, true), snapshot_stdout("resolve-import"));

    let r = engine::epochs::run(&engine::epochs::EpochsRequest {
        config: config("returnn_train_nativelstm", &[]),
        best: None,
    })
    .unwrap();
    assert_eq!(render(&r, true), snapshot_stdout("epochs-native-json"));
    let r = engine::epochs::run(&engine::epochs::EpochsRequest {
        config: config("returnn_train_nativelstm", &[]),
        best: Some("dev_error".into()),
    })
    .unwrap();
    assert_eq!(render(&r, true), snapshot_stdout("epochs-native-bestkey"));

    let r = engine::cleanup::run(&engine::cleanup::CleanupRequest {
        config: config("returnn_train_nativelstm", &[]),
        apply: false,
    })
    .unwrap();
    assert_eq!(render(&r, true), snapshot_stdout("cleanup-native-json"));

    let r = engine::path::run(&engine::path::PathRequest {
        paths: vec![
            "net-model/network.003.meta".into(),
            "net-model/network.pretrain.001.index".into(),
        ],
        base_dir: fx("returnn_pretrain"),
    });
    assert_eq!(render(&r, true), snapshot_stdout("path-real"));
}

#[test]
fn plan_and_diff_reports_are_the_cli_json() {
    let r = engine::plan::run(&engine::plan::PlanRequest {
        config: config("returnn_preload", &[]),
        target: fx("returnn_preload/net-model/network.001"),
        fresh: None,
    })
    .unwrap();
    assert_eq!(render(&r, true), snapshot_stdout("plan-preload-json"));
    let r = engine::plan::run(&engine::plan::PlanRequest {
        config: config("returnn_import_epoch1", &[]),
        target: fx("returnn_import_epoch1/net-model/network.001.meta"),
        fresh: None,
    })
    .unwrap();
    assert_eq!(render(&r, true), snapshot_stdout("plan-import-json"));

    let d = engine::diff::run(
        &engine::diff::DiffRequest {
            a: fx("returnn_train_nativelstm/net-model/network.003"),
            b: fx("returnn_preload/net-model/network.001"),
            atol: 0.0,
            rtol: 0.0,
            rename: Vec::new(),
        },
        &NoProgress,
    )
    .unwrap();
    assert_eq!(render(&d, true), snapshot_stdout("diff-runs-json"));
}

/// A RETURNN error is the same document as the CLI's `{"error", "kind"}`.
#[test]
fn errors_carry_the_cli_kind_and_message() {
    let e = engine::resolve::run(&engine::resolve::ResolveRequest {
        config: config("returnn_train_nativelstm", &["++start_epoch", "6"]),
    })
    .unwrap_err();
    let doc = serde_json::json!({"error": {
        "kind": e.label(),
        "message": e.message(),
        "path": e.path().map(|p| p.display().to_string()),
        "key": e.key(),
        "hint": e.hint(),
    }});
    let want: serde_json::Value =
        serde_json::from_str(&snapshot_stdout("resolve-start6-json")).unwrap();
    assert_eq!(doc, want);
}

/// Two requests with different base directories, many times over, on several threads at
/// once: each sees only its own directory (nothing depends on the process's cwd).
#[test]
fn base_directories_do_not_leak_between_concurrent_requests() {
    let cases = [
        ("returnn_pretrain", Some(3), "net-model/network.003"),
        ("returnn_import_epoch1", Some(1), "net-model/network.001"),
        ("returnn_train_nativelstm", Some(3), "net-model/network.003"),
    ];
    std::thread::scope(|s| {
        for (case, epoch, model) in cases {
            s.spawn(move || {
                for _ in 0..20 {
                    let r = engine::resolve::run(&engine::resolve::ResolveRequest {
                        config: config(case, &[]),
                    })
                    .unwrap();
                    assert_eq!(r.epoch, epoch, "{case}");
                    assert_eq!(r.model.as_deref(), Some(model), "{case}");
                    // The same config read from the repository root sees no models.
                    let mut elsewhere = config(case, &[]);
                    elsewhere.base_dir = fixtures();
                    match engine::resolve::run(&engine::resolve::ResolveRequest {
                        config: elsewhere,
                    }) {
                        Ok(r) => assert!(r.existing.is_empty(), "{case}: {:?}", r.existing),
                        // import_model_train_epoch1 names a file relative to its run directory.
                        Err(e) => assert_eq!(e.label(), "import_not_found", "{case}: {e}"),
                    }
                }
            });
        }
    });
}
