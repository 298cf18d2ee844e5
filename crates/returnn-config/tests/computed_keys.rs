//! Python configs that read the config while they run (`task = config.value("task",
//! "train")`, RETURNN's test_Config `test_rnn_init_config_py_global_var`) and RETURNN's
//! command-line options (`--task eval`), through [`Config::init`], RETURNN's `init_config`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::path::Path;

use returnn_config::{Config, Value};

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

const GLOBAL_VAR: &str = "#!rnn.py\ntask = config.value(\"task\", \"train\")\n\ntest_value = 42\n\ndef test_func():\n  return task\n";

#[test]
fn computed_task_without_override_is_the_default() {
    let d = tempfile::tempdir().unwrap();
    let f = write(d.path(), "a.config", GLOBAL_VAR);
    let c = Config::init(&[&f], &[]).unwrap();
    assert_eq!(c.get("task"), Some(&Value::Str("train".into())));
    assert_eq!(c.value("task", None).unwrap().as_deref(), Some("train"));
    assert_eq!(c.int("test_value", None).unwrap(), Some(42));
}

#[test]
fn computed_task_with_overrides_keeps_the_string() {
    let d = tempfile::tempdir().unwrap();
    let f = write(d.path(), "a.config", GLOBAL_VAR);
    for cmd in [
        args(&["++task", "eval"]),
        args(&["--task", "eval"]),
        args(&["-x", "eval"]),
        args(&["--task=eval"]),
        args(&["--task", "search", "++task", "eval"]),
    ] {
        let c = Config::init(&[&f], &cmd).unwrap();
        assert_eq!(c.get("task"), Some(&Value::Str("eval".into())), "{cmd:?}");
        assert!(c.is_typed("task"));
    }
    // A list-like override: the first pass stores ["a", "b"], config.value joins it.
    let c = Config::init(&[&f], &args(&["++task", "a,b"])).unwrap();
    assert_eq!(c.get("task"), Some(&Value::Str("a,b".into())));
}

#[test]
fn config_reads_see_earlier_assignments_and_types() {
    let d = tempfile::tempdir().unwrap();
    let f = write(
        d.path(),
        "a.config",
        "#!rnn.py\nnum_epochs = 5\nn = config.int(\"num_epochs\", 1)\nb = config.bool(\"use_x\", False)\ne = config.typed_value(\"missing\", [1])\nh = config.has(\"task\")\nlr = config.float(\"learning_rate\", 0.5)\n",
    );
    let c = Config::init(&[&f], &args(&["++use_x", "1", "--learning_rate", "0.25"])).unwrap();
    assert_eq!(c.get("n"), Some(&Value::Int(5)));
    assert_eq!(c.get("b"), Some(&Value::Bool(true)));
    assert_eq!(c.get("e"), Some(&Value::List(vec![Value::Int(1)])));
    assert_eq!(c.get("h"), Some(&Value::Bool(false)));
    assert_eq!(c.get("lr"), Some(&Value::Float(0.25)));
    // In the second pass `++use_x 1` meets no typed key: it stays an untyped string.
    assert_eq!(c.get_text("use_x"), Some(&["1".to_string()][..]));
}

#[test]
fn a_rebound_config_name_is_not_the_config() {
    let d = tempfile::tempdir().unwrap();
    let f = write(
        d.path(),
        "a.config",
        "#!rnn.py\nfrom returnn.config import get_global_config\nconfig = get_global_config()\ntask = config.value(\"task\", \"train\")\n",
    );
    let c = Config::init(&[&f], &[]).unwrap();
    assert!(matches!(c.get("task"), Some(Value::Unsupported(_))));
    assert_eq!(
        c.value("task", None).unwrap_err().kind().label(),
        "config_unsupported"
    );
}

#[test]
fn what_returnn_raises_stays_unsupported() {
    let d = tempfile::tempdir().unwrap();
    let f = write(
        d.path(),
        "a.config",
        "#!rnn.py\nx = \"a\"\nn = config.int(\"x\", 1)\n",
    );
    let e = Config::init(&[&f], &[]).unwrap_err();
    assert_eq!(e.kind().python_exception(), "AssertionError");
    assert!(e.message().contains("isinstance"), "{}", e.message());
}

#[test]
fn config_option_loads_a_file_in_both_passes() {
    let d = tempfile::tempdir().unwrap();
    let f = write(d.path(), "a.config", GLOBAL_VAR);
    let g = write(
        d.path(),
        "b.config",
        "#!rnn.py\ntask = \"forward\"\nextra = 1\n",
    );
    let c = Config::init(&[&f], &args(&["--config", &g.to_string_lossy()])).unwrap();
    // First pass: b sets task before a runs; a's config.value reads it; second pass: b again.
    assert_eq!(c.get("task"), Some(&Value::Str("forward".into())));
    assert_eq!(c.files().len(), 3);
}

#[test]
fn apply_overrides_takes_options_too() {
    let mut c = Config::from_text("#!rnn.py\ntask = \"train\"\n", "x.config").unwrap();
    c.apply_overrides(&args(&["--task", "eval", "++num_epochs", "3"]))
        .unwrap();
    assert_eq!(c.get("task"), Some(&Value::Str("eval".into())));
    assert_eq!(c.int("num_epochs", None).unwrap(), Some(3));
    let e = c.apply_overrides(&args(&["--nope", "1"])).unwrap_err();
    assert_eq!(e.kind().label(), "config_override");
    assert!(e.message().contains("no such option: --nope"));
}

/// `Config::load(p)` then `apply_overrides(args)` (what the engine and the CLI do) is
/// RETURNN's `init_config`, the same as [`Config::init`].
#[test]
fn load_then_overrides_is_init_config() {
    let d = tempfile::tempdir().unwrap();
    let f = write(d.path(), "a.config", GLOBAL_VAR);
    let mut c = Config::load(&f).unwrap();
    c.apply_overrides(&args(&["++task", "eval"])).unwrap();
    assert_eq!(c.get("task"), Some(&Value::Str("eval".into())));
    assert_eq!(c.files(), &[f.clone()][..]);
    let mut t = Config::from_text(GLOBAL_VAR, "x.config").unwrap();
    t.apply_overrides(&args(&["--task", "search"])).unwrap();
    assert_eq!(t.get("task"), Some(&Value::Str("search".into())));
    // After anything else changed the config, overrides are one pass (nothing is replayed).
    let mut s = Config::load(&f).unwrap();
    s.set("x", Value::Int(1));
    s.apply_overrides(&args(&["++task", "eval"])).unwrap();
    assert_eq!(s.get("task"), Some(&Value::Str("eval".into())));
    assert_eq!(s.get("x"), Some(&Value::Int(1)));
}
