//! docs/returnn-engine.md §1: config forms, typed values, `value`/`int`/`bool`/`has` reads,
//! `++key value` overrides; and the RETURNN fixtures' real configs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::path::{Path, PathBuf};

use returnn_config::{Config, ConfigFormat, ErrorKind, Value};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn s(x: &str) -> Value {
    Value::Str(x.into())
}

#[test]
fn format_detection() {
    let rows: &[(&str, &str, ConfigFormat)] = &[
        ("#!rnn.py\nx = 1", "a.config", ConfigFormat::Python),
        (
            "\n\n  #!/usr/bin/env python\nx = 1",
            "a.config",
            ConfigFormat::Python,
        ),
        ("x = 1", "setup.py", ConfigFormat::Python),
        ("{\"x\": 1}", "a.config", ConfigFormat::Json),
        ("  {\"x\": 1}", "a.json", ConfigFormat::Json),
        ("{\"x\": 1}", "a.py", ConfigFormat::Python),
        ("x 1", "a.config", ConfigFormat::Lines),
        ("# comment\nx = 1", "a.config", ConfigFormat::Lines),
    ];
    for (text, name, want) in rows {
        assert_eq!(ConfigFormat::detect(text, name), *want, "{text:?} {name}");
    }
}

#[test]
fn python_literals() {
    let text = r#"#!rnn.py
import os
from returnn.tf.util.data import Dim
a = 1
b = -2.5e-3
c = "x" 'y'
d = ("imp" "licit")
e = [1, (2,), {"k": None}, {3, 3, 4}]
f = True
g = None
h = a
i = -a
j = {"n": a, **{"m": 2}}
k = 0x10
l = 1_000
m = float("inf")
n = os.path.join("a", "b")
def get_network(epoch, **kwargs):
    return {}
if a:
    model = "cond"
o = p = 7
q, r = 1, "two"
s: int = 5
t = +3
u = not 0
"#;
    let c = Config::from_text(text, "t.config").unwrap();
    let rows: &[(&str, Value)] = &[
        ("a", Value::Int(1)),
        ("b", Value::Float(-2.5e-3)),
        ("c", s("xy")),
        ("d", s("implicit")),
        (
            "e",
            Value::List(vec![
                Value::Int(1),
                Value::Tuple(vec![Value::Int(2)]),
                Value::Dict(vec![(s("k"), Value::None)]),
                Value::Set(vec![Value::Int(3), Value::Int(4)]),
            ]),
        ),
        ("f", Value::Bool(true)),
        ("g", Value::None),
        ("h", Value::Int(1)),
        ("i", Value::Int(-1)),
        (
            "j",
            Value::Dict(vec![(s("n"), Value::Int(1)), (s("m"), Value::Int(2))]),
        ),
        ("k", Value::Int(16)),
        ("l", Value::Int(1000)),
        ("o", Value::Int(7)),
        ("p", Value::Int(7)),
        ("q", Value::Int(1)),
        ("r", s("two")),
        ("s", Value::Int(5)),
        ("t", Value::Int(3)),
        ("u", Value::Bool(true)),
    ];
    for (k, want) in rows {
        assert_eq!(c.get(k), Some(want), "{k}");
    }
    for k in ["os", "Dim", "m", "n", "get_network", "model"] {
        assert!(
            matches!(c.get(k), Some(Value::Unsupported(_))),
            "{k}: {:?}",
            c.get(k)
        );
        assert!(c.has(k));
    }
    let skipped: Vec<usize> = c.skipped().iter().map(|(_, s)| s.line).collect();
    assert_eq!(skipped, [2, 3, 16, 17, 18, 20]);
    // Reading a computed value is a clear "not supported" error naming the line.
    let e = c.value("model", None).unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Unsupported);
    assert!(e.to_string().contains(":20:"), "{e}");
}

#[test]
fn python_syntax_error_reports_line() {
    let text = "\n\n#!rnn.py\nx = 1\ny = [1, 2\nz = 3\n";
    let e = Config::from_text(text, "bad.config").unwrap_err();
    match e.kind() {
        ErrorKind::Syntax { line } => assert!((5..=7).contains(line), "line {line}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(e.kind().label(), "config_syntax");
    let e = Config::from_text("#!x\na = 1\nb = = 2\n", "bad.config").unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Syntax { line: 3 });
    assert!(e.to_string().contains("bad.config:3"), "{e}");
}

#[test]
fn value_int_bool_reads() {
    let c = Config::from_text(
        "#!x\nm = ['a', 'b']\nn = None\ni = 3\nf = 3.0\nst = '2'\nb = True\nt = (4, 5)\nel = []\nd = {'a': 1}\nfl = 0.01\n",
        "c",
    )
    .unwrap();
    // value
    assert_eq!(c.value("m", None).unwrap().as_deref(), Some("a,b"));
    assert_eq!(c.value("n", Some("dflt")).unwrap().as_deref(), Some("dflt"));
    assert_eq!(c.value("i", None).unwrap().as_deref(), Some("3"));
    assert_eq!(c.value("f", None).unwrap().as_deref(), Some("3.0"));
    assert_eq!(c.value("b", None).unwrap().as_deref(), Some("True"));
    assert_eq!(c.value("d", None).unwrap().as_deref(), Some("{'a': 1}"));
    assert_eq!(c.value("fl", None).unwrap().as_deref(), Some("0.01"));
    assert_eq!(c.value("missing", Some("x")).unwrap().as_deref(), Some("x"));
    // int
    assert_eq!(c.int("i", None).unwrap(), Some(3));
    assert_eq!(c.int("b", None).unwrap(), Some(1));
    assert_eq!(c.int("t", None).unwrap(), Some(4));
    assert_eq!(c.int("n", Some(5)).unwrap(), None);
    assert_eq!(c.int("missing", Some(5)).unwrap(), Some(5));
    assert_eq!(c.int("f", None).unwrap_err().kind(), &ErrorKind::NotInt);
    assert_eq!(c.int("st", None).unwrap_err().kind(), &ErrorKind::NotInt);
    assert_eq!(c.int("el", None).unwrap_err().kind(), &ErrorKind::Index);
    // bool
    assert!(c.bool("b", false).unwrap());
    assert!(c.bool("i", false).unwrap());
    assert!(!c.bool("n", true).unwrap());
    assert!(c.bool("missing", true).unwrap());
    assert_eq!(c.bool("st", false).unwrap_err().kind(), &ErrorKind::NotBool);
    // has
    assert!(c.has("n") && !c.has("missing"));
}

#[test]
fn line_based_config() {
    let text = "# comment\nmodel net-model/network # trailing\nnum_epochs   7\nlist a,b,c\nneg -1\nflag true\n\nlead ,x\n";
    let c = Config::from_text(text, "old.config").unwrap();
    assert_eq!(c.get("model"), None, "line-based values are untyped");
    assert_eq!(c.get_text("model").unwrap(), ["net-model/network"]);
    assert_eq!(
        c.value("model", None).unwrap().as_deref(),
        Some("net-model/network")
    );
    assert_eq!(c.int("num_epochs", None).unwrap(), Some(7));
    assert_eq!(c.get_text("list").unwrap(), ["a", "b", "c"]);
    assert_eq!(c.value("list", None).unwrap().as_deref(), Some("a,b,c"));
    assert_eq!(
        c.get_text("lead").unwrap(),
        [",x"],
        "a comma at position 0 does not split"
    );
    assert_eq!(c.int("neg", None).unwrap(), Some(-1));
    assert!(c.bool("flag", false).unwrap());
    assert_eq!(
        c.int("model", None).unwrap_err().kind(),
        &ErrorKind::InvalidInt
    );
    let e = Config::from_text("model\n", "old.config").unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::LineFormat);
    assert!(e.to_string().contains("unable to parse config line"));
}

#[test]
fn json_config() {
    let c = Config::from_text(
        r#"{"model": "net-model/network", "num_epochs": 3, "load": null, "x": {"b": 1, "a": [1.5, true]}}"#,
        "c.json",
    )
    .unwrap();
    assert_eq!(c.get("model"), Some(&s("net-model/network")));
    assert_eq!(c.int("num_epochs", None).unwrap(), Some(3));
    assert_eq!(c.value("load", Some("")).unwrap().as_deref(), Some(""));
    assert_eq!(
        c.get("x"),
        Some(&Value::Dict(vec![
            (s("b"), Value::Int(1)),
            (
                s("a"),
                Value::List(vec![Value::Float(1.5), Value::Bool(true)])
            )
        ]))
    );
    // RETURNN strips `//` and `/* */` comments outside strings.
    let c = Config::from_text(
        "{\"a\": 1, // one\n /* block */ \"b\": \"x//y/*z*/\"}",
        "c.json",
    )
    .unwrap();
    assert_eq!(c.get("a"), Some(&Value::Int(1)));
    assert_eq!(c.get("b"), Some(&s("x//y/*z*/")));
    let e = Config::from_text("{\"a\": }", "c.json").unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Json);
}

#[test]
fn overrides_typed_like_returnn() {
    let mut c = Config::from_text(
        "#!x\nnum_epochs = 5\ntask = 'train'\nload = None\nlr = 0.1\nd = {'a': 1}\n",
        "c",
    )
    .unwrap();
    c.apply_overrides(
        &[
            "++num_epochs",
            "10", // typed int -> eval -> int
            "++task",
            "search", // typed str -> stays str
            "++load",
            "net-model/network.003", // typed None -> eval fails (syntax) -> str + warning
            "++lr",
            "+-0.5", // "+-" -> "-0.5"
            "++d",
            "{'b': [2, None]}", // typed dict -> eval
            "++new",
            "a,b", // untyped -> list of strings
            "++start_epoch",
            "3", // untyped
        ]
        .map(String::from),
    )
    .unwrap();
    assert_eq!(c.get("num_epochs"), Some(&Value::Int(10)));
    assert_eq!(c.get("task"), Some(&s("search")));
    assert_eq!(c.get("load"), Some(&s("net-model/network.003")));
    assert_eq!(c.warnings().len(), 1, "{:?}", c.warnings());
    assert_eq!(c.get("lr"), Some(&Value::Float(-0.5)));
    assert_eq!(
        c.get("d"),
        Some(&Value::Dict(vec![(
            s("b"),
            Value::List(vec![Value::Int(2), Value::None])
        )]))
    );
    assert_eq!(c.get_text("new").unwrap(), ["a", "b"]);
    assert_eq!(c.int("start_epoch", None).unwrap(), Some(3));
    // A bare name for a typed non-str key is a NameError in RETURNN.
    let e = c
        .apply_overrides(&["++num_epochs".to_string(), "abc".to_string()])
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::NameError);
    // A computed (non-literal) value takes the override as a literal or as the raw string.
    let mut c2 = Config::from_text(
        "#!x\nimport os\nmodel = os.path.join('a', 'b')\nn = len('ab')\n",
        "c",
    )
    .unwrap();
    c2.apply_overrides(&["++model", "out/net", "++n", "3"].map(String::from))
        .unwrap();
    assert_eq!(c2.get("model"), Some(&s("out/net")));
    assert_eq!(c2.get("n"), Some(&Value::Int(3)));
    // Malformed argument lists.
    assert_eq!(
        c.apply_overrides(&["++x".to_string()]).unwrap_err().kind(),
        &ErrorKind::Override
    );
    assert_eq!(
        c.apply_overrides(&["x".to_string(), "1".to_string()])
            .unwrap_err()
            .kind(),
        &ErrorKind::Override
    );
}

#[test]
fn include_in_line_based_config() {
    let dir = tempfile::tempdir().unwrap();
    let inc = dir.path().join("inc.config");
    std::fs::write(&inc, "#!x\nnum_epochs = 9\n").unwrap();
    let main = dir.path().join("main.config");
    std::fs::write(&main, format!("model m/net\ninclude {}\n", inc.display())).unwrap();
    let c = Config::load(&main).unwrap();
    assert_eq!(c.get("num_epochs"), Some(&Value::Int(9)));
    assert_eq!(c.files().len(), 2);
    // A self-include is bounded.
    let selfinc = dir.path().join("self.config");
    std::fs::write(&selfinc, format!("include {}\n", selfinc.display())).unwrap();
    assert_eq!(
        Config::load(&selfinc).unwrap_err().kind(),
        &ErrorKind::IncludeDepth
    );
}

#[test]
fn fixture_configs() {
    for case in [
        "returnn_train_nativelstm",
        "returnn_pretrain",
        "returnn_preload",
        "returnn_import_epoch1",
    ] {
        let c = Config::load(&fixtures().join(case).join("returnn.config")).unwrap();
        assert_eq!(
            c.value("model", None).unwrap().as_deref(),
            Some("net-model/network"),
            "{case}"
        );
        assert_eq!(c.value("task", None).unwrap().as_deref(), Some("train"));
        assert_eq!(c.get("use_tensorflow"), Some(&Value::Bool(true)));
        assert_eq!(
            c.value("learning_rate_file", None).unwrap().as_deref(),
            Some("newbob.data")
        );
        // `train` references `train_num_seqs`, an earlier literal.
        let train = c.get("train").unwrap();
        assert!(
            matches!(train.get_str_key("num_seqs"), Some(Value::Int(_))),
            "{case}"
        );
        assert!(c.skipped().is_empty(), "{case}: {:?}", c.skipped());
        assert!(matches!(c.get("network"), Some(Value::Dict(_))));
    }
    let c = Config::load(&fixtures().join("returnn_preload/returnn.config")).unwrap();
    let p = c.get("preload_from_files").unwrap();
    let e = p.get_str_key("02_rest").unwrap();
    assert_eq!(e.get_str_key("ignore_missing"), Some(&Value::Bool(true)));
    assert_eq!(
        e.get_str_key("var_name_mapping")
            .unwrap()
            .get_str_key("ff/W"),
        Some(&s("hid/W"))
    );
    let c = Config::load(&fixtures().join("returnn_import_epoch1/returnn.config")).unwrap();
    assert_eq!(
        c.value("import_model_train_epoch1", None)
            .unwrap()
            .as_deref(),
        Some("../returnn_train_nativelstm/net-model/network.003")
    );
    assert_eq!(c.int("num_epochs", None).unwrap(), Some(1));
}

#[test]
fn hostile_nesting_is_an_error_not_a_crash() {
    let deep = format!("#!x\na = {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let e = Config::from_text(&deep, "deep.config").unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Syntax { line: 2 });
    assert!(e.to_string().contains("too many nested parentheses"), "{e}");
    let ok = format!("#!x\na = {}{}\n", "[".repeat(200), "]".repeat(200));
    assert!(Config::from_text(&ok, "ok.config").is_ok());
    let unary = format!("#!x\na = {}1\n", "-".repeat(100_000));
    assert!(matches!(
        Config::from_text(&unary, "u.config").unwrap_err().kind(),
        ErrorKind::Syntax { .. }
    ));
    let unary_ok = format!("#!x\na = {}1\n", "-".repeat(1_999));
    assert_eq!(
        Config::from_text(&unary_ok, "u.config").unwrap().get("a"),
        Some(&Value::Int(-1))
    );
    let chain = format!("#!x\na = {}\n", vec!["1"; 100_000].join("+"));
    assert!(Config::from_text(&chain, "c.config").is_err());
    let mut indent = String::from("#!x\n");
    for i in 0..150 {
        indent.push_str(&format!("{}if a:\n", " ".repeat(i)));
    }
    indent.push_str(&format!("{}b = 1\n", " ".repeat(150)));
    assert!(Config::from_text(&indent, "i.config").is_err());
    let mut c = Config::from_text("#!x\nn = 1\n", "c").unwrap();
    let e = c
        .apply_overrides(&["++n".to_string(), "(".repeat(50_000)])
        .map(|_| c.get("n").cloned());
    // A syntax error keeps the raw string (RETURNN's behaviour), and does not crash.
    assert!(matches!(e, Ok(Some(Value::Str(_)))));
}
