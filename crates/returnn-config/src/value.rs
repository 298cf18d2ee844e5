//! Typed config values and their Python `str()` / `repr()` renderings.

use std::fmt::Write as _;

/// A typed config value, as a Python config (or JSON, or an evaluated `++` override) sets it.
///
/// Dicts keep Python's insertion order (a repeated key keeps its first position and takes the
/// last value). Anything a Python config computes (calls, imports, functions, operators, ...)
/// is `Unsupported`, holding a short description (source text or reason).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    /// A Python set literal (`{1, 2}`), in source order with duplicates removed.
    Set(Vec<Value>),
    /// A value that is not a literal (non-literal Python). The string describes it.
    Unsupported(String),
}

impl Value {
    /// Python's `type(v).__name__`, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::None => "NoneType",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::List(_) => "list",
            Value::Tuple(_) => "tuple",
            Value::Dict(_) => "dict",
            Value::Set(_) => "set",
            Value::Unsupported(_) => "<non-literal>",
        }
    }

    /// Looks up `key` in a dict value (Python `==` on keys, with `1 == 1.0 == True`).
    pub fn dict_get(&self, key: &Value) -> Option<&Value> {
        match self {
            Value::Dict(items) => items.iter().find(|(k, _)| py_eq(k, key)).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Looks up a string key in a dict value.
    pub fn get_str_key(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(items) => items
                .iter()
                .find(|(k, _)| matches!(k, Value::Str(s) if s == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string, if this is a `Str`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Python truthiness (`bool(v)`); `None` for `Unsupported`.
    pub fn truthy(&self) -> Option<bool> {
        Some(match self {
            Value::None => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::List(v) | Value::Tuple(v) | Value::Set(v) => !v.is_empty(),
            Value::Dict(v) => !v.is_empty(),
            Value::Unsupported(_) => return None,
        })
    }

    /// Whether this value (or anything inside it) is `Unsupported`.
    pub fn contains_unsupported(&self) -> bool {
        match self {
            Value::Unsupported(_) => true,
            Value::List(v) | Value::Tuple(v) | Value::Set(v) => {
                v.iter().any(Value::contains_unsupported)
            }
            Value::Dict(v) => v
                .iter()
                .any(|(k, x)| k.contains_unsupported() || x.contains_unsupported()),
            _ => false,
        }
    }

    /// Python `str(v)`; `None` if the value contains something non-literal.
    pub fn py_str(&self) -> Option<String> {
        match self {
            Value::Str(s) => Some(s.clone()),
            other => other.py_repr(),
        }
    }

    /// Python `repr(v)`; `None` if the value contains something non-literal.
    pub fn py_repr(&self) -> Option<String> {
        let mut out = String::new();
        if write_repr(self, &mut out) {
            Some(out)
        } else {
            None
        }
    }
}

/// Python equality between two literal values (numbers compare across int/float/bool).
pub fn py_eq(a: &Value, b: &Value) -> bool {
    fn num(v: &Value) -> Option<f64> {
        match v {
            Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Bool(x), Value::Int(y)) | (Value::Int(y), Value::Bool(x)) => i64::from(*x) == *y,
        _ => match (num(a), num(b)) {
            (Some(x), Some(y)) => x == y,
            _ => a == b,
        },
    }
}

fn write_repr(v: &Value, out: &mut String) -> bool {
    match v {
        Value::None => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => out.push_str(&py_float_repr(*f)),
        Value::Str(s) => out.push_str(&py_str_repr(s)),
        Value::List(items) => {
            out.push('[');
            if !write_seq(items, out) {
                return false;
            }
            out.push(']');
        }
        Value::Tuple(items) => {
            out.push('(');
            if !write_seq(items, out) {
                return false;
            }
            if items.len() == 1 {
                out.push(',');
            }
            out.push(')');
        }
        Value::Set(items) => {
            if items.is_empty() {
                out.push_str("set()");
            } else {
                out.push('{');
                if !write_seq(items, out) {
                    return false;
                }
                out.push('}');
            }
        }
        Value::Dict(items) => {
            out.push('{');
            for (i, (k, x)) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                if !write_repr(k, out) {
                    return false;
                }
                out.push_str(": ");
                if !write_repr(x, out) {
                    return false;
                }
            }
            out.push('}');
        }
        Value::Unsupported(_) => return false,
    }
    true
}

fn write_seq(items: &[Value], out: &mut String) -> bool {
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        if !write_repr(x, out) {
            return false;
        }
    }
    true
}

/// Python's `repr(float)`: shortest round-trip digits, fixed notation for exponents in
/// `-4..16`, otherwise scientific with a signed, at-least-two-digit exponent.
pub fn py_float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if x == 0.0 {
        return if x.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    // Rust's `{:e}` gives the shortest round-trip digits, e.g. "-1.2345e-5".
    let sci = format!("{x:e}");
    let (mant, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if (-4..16).contains(&exp) {
        if exp < 0 {
            out.push_str("0.");
            for _ in 0..(-exp - 1) {
                out.push('0');
            }
            out.push_str(&digits);
        } else {
            let point = (exp + 1) as usize;
            if digits.len() <= point {
                out.push_str(&digits);
                for _ in digits.len()..point {
                    out.push('0');
                }
                out.push_str(".0");
            } else {
                out.push_str(&digits[..point]);
                out.push('.');
                out.push_str(&digits[point..]);
            }
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
    out
}

/// Python's `repr(str)`: single quotes unless the text has `'` and no `"`.
pub fn py_str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {
                let n = c as u32;
                let _ = if n < 0x100 {
                    write!(out, "\\x{n:02x}")
                } else if n < 0x10000 {
                    write!(out, "\\u{n:04x}")
                } else {
                    write!(out, "\\U{n:08x}")
                };
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's `int(text)` for a string: surrounding whitespace, an optional sign, decimal digits
/// with single underscores between them. `Err(())` is Python's `ValueError`; values outside
/// `i64` are reported as `Ok(None)`.
#[allow(clippy::result_unit_err)]
pub fn py_int_from_str(text: &str) -> Result<Option<i64>, ()> {
    let t = text.trim();
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if body.is_empty() || body.starts_with('_') || body.ends_with('_') || body.contains("__") {
        return Err(());
    }
    let mut digits = String::with_capacity(body.len() + 1);
    if neg {
        digits.push('-');
    }
    for c in body.chars() {
        if c == '_' {
            continue;
        }
        if !c.is_ascii_digit() {
            return Err(());
        }
        digits.push(c);
    }
    Ok(digits.parse::<i64>().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_repr_matches_python() {
        let rows: &[(f64, &str)] = &[
            (0.01, "0.01"),
            (1e-5, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (0.0001, "0.0001"),
            (1.0, "1.0"),
            (-2.5, "-2.5"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (123456.789, "123456.789"),
            (0.30324918031692505, "0.30324918031692505"),
            (1.2345678901234568e17, "1.2345678901234568e+17"),
            (-0.0, "-0.0"),
            (f64::INFINITY, "inf"),
            (f64::NAN, "nan"),
        ];
        for (x, want) in rows {
            assert_eq!(py_float_repr(*x), *want, "{x}");
        }
    }

    #[test]
    fn str_repr_matches_python() {
        assert_eq!(py_str_repr("a"), "'a'");
        assert_eq!(py_str_repr("it's"), "\"it's\"");
        assert_eq!(py_str_repr("a'b\"c"), "'a\\'b\"c'");
        assert_eq!(py_str_repr("x\ny\\"), "'x\\ny\\\\'");
    }

    #[test]
    fn repr_of_containers() {
        let v = Value::Dict(vec![
            (Value::Str("a".into()), Value::Tuple(vec![Value::Int(1)])),
            (
                Value::Int(2),
                Value::List(vec![Value::None, Value::Bool(true)]),
            ),
        ]);
        assert_eq!(v.py_repr().unwrap(), "{'a': (1,), 2: [None, True]}");
        assert_eq!(Value::Set(vec![]).py_repr().unwrap(), "set()");
        assert_eq!(Value::Str("x".into()).py_str().unwrap(), "x");
        assert!(Value::Unsupported("f()".into()).py_str().is_none());
    }

    #[test]
    fn int_from_str_like_python() {
        assert_eq!(py_int_from_str(" 3 "), Ok(Some(3)));
        assert_eq!(py_int_from_str("-12"), Ok(Some(-12)));
        assert_eq!(py_int_from_str("+1_000"), Ok(Some(1000)));
        assert_eq!(py_int_from_str("007"), Ok(Some(7)));
        assert_eq!(py_int_from_str("3.0"), Err(()));
        assert_eq!(py_int_from_str("auto"), Err(()));
        assert_eq!(py_int_from_str(""), Err(()));
        assert_eq!(py_int_from_str("1__0"), Err(()));
        assert_eq!(py_int_from_str("99999999999999999999"), Ok(None));
    }
}
