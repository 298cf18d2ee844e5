//! Property tests: float repr round trip, no panic on arbitrary config text.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use proptest::prelude::*;
use returnn_config::{py_float_repr, Config, Value};

proptest! {
    #[test]
    fn float_repr_round_trips(x in any::<f64>().prop_filter("finite", |x| x.is_finite())) {
        let s = py_float_repr(x);
        let back: f64 = s.parse().unwrap();
        prop_assert_eq!(back.to_bits(), x.to_bits(), "{}", s);
        // Python floats always show a '.', an exponent, or are special.
        prop_assert!(s.contains('.') || s.contains('e'), "{}", s);
    }

    #[test]
    fn python_literal_round_trips_through_repr(items in proptest::collection::vec((any::<i32>(), "[a-z '\"\\\\]{0,8}", any::<bool>()), 0..6)) {
        let v = Value::List(items.iter().map(|(i, s, b)| Value::Tuple(vec![
            Value::Int(i64::from(*i)), Value::Str(s.clone()), Value::Bool(*b), Value::None,
        ])).collect());
        let text = format!("#!x\nv = {}\n", v.py_repr().unwrap());
        let c = Config::from_text(&text, "p.config").unwrap();
        prop_assert_eq!(c.get("v"), Some(&v));
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}", name in "(a\\.py|a\\.config)") {
        let _ = Config::from_text(&text, &name);
        let _ = Config::from_text(&format!("#!x\n{text}"), &name);
        let mut c = Config::from_text("#!x\na = 1\nb = 'x'\n", "c").unwrap();
        let _ = c.apply_overrides(&["++a".to_string(), text.clone()]);
        let _ = c.apply_overrides(&["++b".to_string(), text.clone()]);
        let _ = c.value("a", None);
        let _ = c.int("a", None);
        let _ = c.bool("a", false);
    }
}
