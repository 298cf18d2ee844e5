//! Regression rows from the differential oracle against real RETURNN
//! (`cargo xtask returnn-oracle`) that concern the CLI layer: config reading and override
//! errors carry the Python exception RETURNN raises as the message prefix, and the notes say
//! when `__main__`'s task rules changed the config.
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

fn run(dir: &Path, config: &str, overrides: &[&str]) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_returnn-ckpt"))
        .args(["resolve", "--json", "-C"])
        .arg(dir)
        .arg(dir.join(config))
        .args(overrides)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap(), flatten_error(v))
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

#[test]
fn resolve_error_prefixes_match_returnn_exceptions() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    for e in ["001", "002"] {
        for ext in ["index", "meta", "data-00000-of-00001"] {
            write(d, &format!("m/net.{e}.{ext}"), "x");
        }
    }
    write(
        d,
        "c.py",
        "#!rnn.py\nmodel = 'm/net'\nnum_epochs = 1234\nuse_tensorflow = True\n",
    );
    write(d, "c.json", "{\"model\": \"m/net\"}\n");
    write(
        d,
        "t.py",
        "#!rnn.py\nmodel = ('m/net',)\nuse_tensorflow = True\n",
    );
    // (config, overrides, kind, exception RETURNN raises)
    write(
        d,
        "f.py",
        "#!rnn.py\nmodel = 'm/net'\nuse_tensorflow = True\ndef forward_callback():\n    return None\n",
    );
    let rows: &[(&str, &[&str], &str, &str)] = &[
        // `forward_callback` is a function defined in the config, so `++forward_callback cb`
        // is eval'd (NameError), before the missing import is noticed.
        (
            "f.py",
            &[
                "++forward_callback",
                "cb",
                "++import_model_train_epoch1",
                "missing/x",
            ],
            "config_name_error",
            "NameError",
        ),
        // `model` is typed (a tuple), so `++model m/net` is eval'd: `m - net` names `m`,
        // and RETURNN fails while reading the config, before the missing `load` is noticed.
        (
            "t.py",
            &["++model", "m/net"],
            "config_name_error",
            "NameError",
        ),
        (
            "t.py",
            &["++model", "m/net", "++load", "missing/x.003"],
            "config_name_error",
            "NameError",
        ),
        // A `++` value for a typed key is eval'd: NameError.
        (
            "c.py",
            &["++num_epochs", "abc"],
            "config_name_error",
            "NameError",
        ),
        // to_bool("None") is a ValueError in RETURNN (only true/yes/on/1, false/no/off/0, ints).
        (
            "c.json",
            &["++use_tensorflow", "None"],
            "config_value",
            "ValueError",
        ),
        (
            "c.json",
            &["++backend", "TF"],
            "backend_unknown",
            "KeyError",
        ),
    ];
    for (config, overrides, kind, exc) in rows {
        let (code, v) = run(d, config, overrides);
        assert_eq!(code, 1, "{overrides:?}: {v}");
        assert_eq!(v["kind"], *kind, "{overrides:?}: {v}");
        let msg = v["error"].as_str().unwrap();
        assert!(msg.starts_with(&format!("{exc}: ")), "{overrides:?}: {msg}");
    }
}

#[test]
fn resolve_notes_name_the_main_task_rule() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    for e in ["001", "002", "003"] {
        for ext in ["index", "meta", "data-00000-of-00001"] {
            write(d, &format!("m/net.{e}.{ext}"), "x");
        }
    }
    write(
        d,
        "fwd.py",
        "#!rnn.py\nmodel = 'm/net'\ntask = 'forward'\nepoch = 2\nbackend = 'tensorflow-net-dict'\n",
    );
    let (code, v) = run(d, "fwd.py", &[]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["epoch"], 2);
    let notes = v["notes"].as_array().unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n.as_str().unwrap().starts_with("resolve: ")
                && n.as_str().unwrap().contains("load_epoch = 2")),
        "{v}"
    );
    // The RF engine leaves epoch alone: latest existing model, no note.
    let (code, v) = run(d, "fwd.py", &["++backend", "tensorflow"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["epoch"], 3);
    assert_eq!(v["notes"], Value::Array(vec![]));
}

#[test]
fn resolve_override_naming_a_builtin_is_not_a_name_error() {
    // `task` is typed (a tuple), so `++task eval` is eval'd to the builtin function `eval`;
    // RETURNN's task is then "<built-in function eval>": neither train nor eval rules apply.
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    for ext in ["index", "meta", "data-00000-of-00001"] {
        write(d, &format!("m/net.003.{ext}"), "x");
    }
    write(
        d,
        "t.py",
        "#!rnn.py\nmodel = 'm/net'\ntask = ('search',)\nuse_tensorflow = True\n",
    );
    let (code, v) = run(d, "t.py", &["++task", "eval"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        (v["epoch"].clone(), v["start_epoch"].clone()),
        (Value::from(3), Value::Null),
        "{v}"
    );
    // An int option set to a builtin is not an int (RETURNN asserts).
    write(
        d,
        "n.py",
        "#!rnn.py\nmodel = 'm/net'\nnum_epochs = 5\nuse_tensorflow = True\n",
    );
    let (code, v) = run(d, "n.py", &["++num_epochs", "len"]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["kind"], "num_epochs_not_int", "{v}");
}

#[test]
fn resolve_include_is_relative_to_the_working_directory() {
    // RETURNN loads `include FILE` relative to its working directory, i.e. `-C DIR`.
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    for e in ["001", "002"] {
        for ext in ["index", "meta", "data-00000-of-00001"] {
            write(d, &format!("m/net.{e}.{ext}"), "x");
        }
    }
    write(
        d,
        "cfg/main.txt",
        "include cfg/inc.txt\nbackend tensorflow-net-dict\n",
    );
    write(d, "cfg/inc.txt", "model m/net\n");
    let (code, v) = run(d, "cfg/main.txt", &[]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["model"], "m/net.002", "{v}");
    // A missing include is RETURNN's `AssertionError: config file not found: ...`.
    write(d, "cfg/bad.txt", "include cfg/nope.txt\nmodel m/net\n");
    let (code, v) = run(d, "cfg/bad.txt", &[]);
    assert_eq!(code, 2, "a file that cannot be read: {v}");
    assert_eq!(v["kind"], "config_not_found", "{v}");
    let msg = v["error"].as_str().unwrap();
    assert!(
        msg.starts_with("AssertionError: config file not found: 'cfg/nope.txt'"),
        "{msg}"
    );
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
