//! Regression rows from the differential oracle against real RETURNN 1.20261022
//! (`cargo xtask returnn-oracle`): each row is a scenario where `resolve` once disagreed with
//! RETURNN, with RETURNN's answer. Files on disk + a config (any of the three forms) + `++`
//! overrides -> decision (epoch, model, train start epoch) or error kind and the Python exception
//! our message must start with.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use model_files::{resolve, MemFs};
use returnn_config::Config;

enum Expect {
    Sel {
        epoch: Option<u64>,
        model: Option<&'static str>,
        start: Option<u64>,
    },
    /// Error label and the Python exception RETURNN raises.
    Fail(&'static str, &'static str),
}
use Expect::*;

struct Row {
    name: &'static str,
    /// `ckpt:PREFIX` adds PREFIX.index/.meta/.data-00000-of-00001; anything else a file.
    files: &'static [&'static str],
    /// File name (decides the form, like RETURNN: `.py`/`#!` Python, `{` JSON, else lines).
    file: &'static str,
    config: &'static str,
    overrides: &'static [&'static str],
    expect: Expect,
}

const E123: &[&str] = &["ckpt:m/net.001", "ckpt:m/net.002", "ckpt:m/net.003"];

const ROWS: &[Row] = &[
    Row {
        name: "unknown backend is RETURNN's KeyError from select_engine",
        files: E123,
        file: "c.json",
        config: r#"{"model": "m/net", "backend": "TF"}"#,
        overrides: &[],
        expect: Fail("backend_unknown", "KeyError"),
    },
    Row {
        name: "backend is selected before __main__'s eval rules (KeyError, not 'specify epoch')",
        files: E123,
        file: "c.txt",
        config: "model m/net\ntask eval\nbackend tensorflow_net_dict\n",
        overrides: &[],
        expect: Fail("backend_unknown", "KeyError"),
    },
    Row {
        name: "typed use_tensorflow must be a bool/int (config.bool asserts)",
        files: E123,
        file: "c.py",
        config: "model = 'm/net'\nuse_tensorflow = 'True'\n",
        overrides: &[],
        expect: Fail("config_value", "AssertionError"),
    },
    Row {
        name: "use_tensorflow None as text: to_bool rejects 'none'",
        files: E123,
        file: "c.json",
        config: r#"{"model": "m/net"}"#,
        overrides: &["++use_tensorflow", "None"],
        expect: Fail("config_value", "ValueError"),
    },
    Row {
        name: "forward on the RF-TF engine does not copy epoch into load_epoch",
        files: E123,
        file: "c.py",
        config: "model = 'm/net'\ntask = 'forward'\nbackend = 'tensorflow'\nepoch = 2\n",
        overrides: &[],
        expect: Sel {
            epoch: Some(3),
            model: Some("m/net.003"),
            start: None,
        },
    },
    Row {
        name: "forward on the torch engine does not copy epoch into load_epoch",
        files: &["m/net.001.pt", "m/net.002.pt"],
        file: "c.py",
        config: "model = 'm/net'\ntask = 'forward'\nbackend = 'torch'\nepoch = 1\nload_epoch = 2\n",
        overrides: &[],
        expect: Sel {
            epoch: Some(2),
            model: Some("m/net.002"),
            start: None,
        },
    },
    Row {
        name: "forward on the RF-TF engine: epoch without a model for it is no error",
        files: &[],
        file: "c.txt",
        config: "model m/net\ntask forward\nbackend tensorflow\nepoch 1\n",
        overrides: &[],
        expect: Sel {
            epoch: None,
            model: None,
            start: None,
        },
    },
    Row {
        name: "forward on the net-dict engine copies epoch into load_epoch",
        files: E123,
        file: "c.py",
        config: "model = 'm/net'\ntask = 'forward'\nuse_tensorflow = True\nepoch = 2\n",
        overrides: &[],
        expect: Sel {
            epoch: Some(2),
            model: Some("m/net.002"),
            start: None,
        },
    },
    Row {
        name: "an untyped forward_callback (line-based) does not count as a callback",
        files: E123,
        file: "c.txt",
        config: "model m/net\ntask forward\nbackend tensorflow-net-dict\nepoch 2\nforward_callback cb\n",
        overrides: &[],
        expect: Sel {
            epoch: Some(2),
            model: Some("m/net.002"),
            start: None,
        },
    },
    Row {
        name: "load='.meta' (empty pattern) + load_epoch + start_epoch>1: RETURNN tests the raw load, so it is an import",
        files: &["ckpt:m/net.003"],
        file: "c.py",
        config: "model = 'm/net'\ntask = 'train'\nload = '.meta'\nload_epoch = 3\nstart_epoch = 4\nuse_tensorflow = True\n",
        overrides: &[],
        expect: Sel {
            epoch: None,
            model: Some("m/net.003"),
            start: Some(1),
        },
    },
    Row {
        name: "same without load: continuing at start_epoch from load_epoch (pip)",
        files: &["ckpt:m/net.003"],
        file: "c.py",
        config: "model = 'm/net'\ntask = 'train'\nload_epoch = 3\nstart_epoch = 4\nuse_tensorflow = True\n",
        overrides: &[],
        expect: Sel {
            epoch: Some(3),
            model: Some("m/net.003"),
            start: Some(4),
        },
    },
    Row {
        name: "num_epochs None with a bad load_epoch: max(None, int(load_epoch)) reads load_epoch first",
        files: E123,
        file: "c.json",
        config: r#"{"model": "m/net", "task": "search", "num_epochs": null, "load_epoch": "1_0"}"#,
        overrides: &[],
        expect: Fail("load_epoch_not_int", "AssertionError"),
    },
    Row {
        name: "num_epochs None with a text load_epoch int() rejects: ValueError first",
        files: E123,
        file: "c.py",
        config: "model = 'm/net'\ntask = 'search'\nnum_epochs = None\n",
        overrides: &["++load_epoch", "abc"],
        expect: Fail("load_epoch_not_int", "ValueError"),
    },
    Row {
        name: "num_epochs None with a good load_epoch: the TypeError of max",
        files: E123,
        file: "c.py",
        config: "model = 'm/net'\ntask = 'search'\nnum_epochs = None\nload_epoch = 2\n",
        overrides: &[],
        expect: Fail("num_epochs_none", "TypeError"),
    },
];

fn build_fs(files: &[&str]) -> MemFs {
    let mut fs = MemFs::new();
    for f in files {
        if let Some(p) = f.strip_prefix("ckpt:") {
            fs.file(&format!("{p}.index"), 10)
                .file(&format!("{p}.meta"), 100)
                .file(&format!("{p}.data-00000-of-00001"), 1000);
        } else {
            fs.file(f, 1);
        }
    }
    fs
}

#[test]
fn oracle_regression_rows() {
    for row in ROWS {
        let fs = build_fs(row.files);
        let mut cfg = Config::from_text(row.config, row.file).unwrap();
        let overrides: Vec<String> = row.overrides.iter().map(|s| s.to_string()).collect();
        cfg.apply_overrides(&overrides).unwrap();
        match (&row.expect, resolve(&cfg, &fs)) {
            (
                Sel {
                    epoch,
                    model,
                    start,
                },
                Ok(sel),
            ) => {
                assert_eq!(sel.epoch, *epoch, "{}: epoch", row.name);
                assert_eq!(sel.model.as_deref(), *model, "{}: model", row.name);
                assert_eq!(sel.start_epoch, *start, "{}: start epoch", row.name);
            }
            (Fail(label, exc), Err(e)) => {
                assert_eq!(e.kind_label(), *label, "{}: {e}", row.name);
                assert!(
                    e.message().starts_with(&format!("{exc}:")),
                    "{}: message should start with {exc}: {e}",
                    row.name
                );
            }
            (_, got) => panic!("{}: got {got:?}", row.name),
        }
    }
}
