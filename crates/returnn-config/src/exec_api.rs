//! RETURNN's `Config` API as a Python config calls it while it is executed
//! (`task = config.value("task", "train")`, `config.int("num_epochs", 10)`, ...): the methods
//! of `returnn/config.py` (1.20261022) on literal arguments, against the config as it is at
//! that statement. An argument error or an exception RETURNN would raise gives
//! `Value::Unsupported` naming it (reading that key later is a clear error).

use crate::python::ExecEnv;
use crate::value::{py_int_from_str, Value};

/// The config state a Python config file is executed in: its typed values before the file
/// ran and its untyped (`++key value`, line-based) string lists.
pub(crate) struct ConfigEnv<'a> {
    pub typed: &'a std::collections::BTreeMap<String, Value>,
    pub text: &'a std::collections::BTreeMap<String, Vec<String>>,
    /// The first call that raises a Python exception in RETURNN (method, message): loading
    /// the config fails there.
    pub raised: std::sync::Mutex<Option<(String, String)>>,
}

impl ExecEnv for ConfigEnv<'_> {
    fn global(&self, name: &str) -> Option<Value> {
        self.typed.get(name).cloned()
    }
    fn config_call(
        &self,
        method: &str,
        args: &[Value],
        kwargs: &[(String, Value)],
        typed: &dyn Fn(&str) -> Option<Value>,
    ) -> Value {
        let text = |k: &str| self.text.get(k).cloned();
        call(method, args, kwargs, typed, &text).unwrap_or_else(|e| {
            let python = ["AssertionError", "ValueError", "IndexError", "TypeError"]
                .iter()
                .any(|p| e.starts_with(p));
            if python {
                if let Ok(mut r) = self.raised.lock() {
                    r.get_or_insert_with(|| (method.to_string(), e.clone()));
                }
            }
            Value::Unsupported(format!("config.{method}(...) raises in RETURNN: {e}"))
        })
    }
}

type Lookup<'a> = &'a dyn Fn(&str) -> Option<Value>;
type TextLookup<'a> = &'a dyn Fn(&str) -> Option<Vec<String>>;

/// Binds positional and keyword arguments to a signature: `(name, default)`, `None` =
/// required. Python's `TypeError` cases are errors.
fn bind(
    method: &str,
    params: &[(&str, Option<Value>)],
    args: &[Value],
    kwargs: &[(String, Value)],
) -> Result<Vec<Value>, String> {
    if args.len() > params.len() {
        return Err(format!(
            "TypeError: {method}() takes {} positional arguments but {} were given",
            params.len() + 1,
            args.len() + 1
        ));
    }
    let mut out: Vec<Option<Value>> = vec![None; params.len()];
    for (i, a) in args.iter().enumerate() {
        out[i] = Some(a.clone());
    }
    for (k, v) in kwargs {
        let Some(i) = params.iter().position(|(n, _)| n == k) else {
            return Err(format!(
                "TypeError: {method}() got an unexpected keyword argument '{k}'"
            ));
        };
        if out[i].is_some() {
            return Err(format!(
                "TypeError: {method}() got multiple values for argument '{k}'"
            ));
        }
        out[i] = Some(v.clone());
    }
    out.into_iter()
        .zip(params)
        .map(|(v, (n, d))| {
            v.or_else(|| d.clone()).ok_or_else(|| {
                format!("TypeError: {method}() missing 1 required positional argument: '{n}'")
            })
        })
        .collect()
}

fn key_of(v: &Value) -> Result<&str, String> {
    v.as_str()
        .ok_or_else(|| format!("the key must be a str, found {}", v.type_name()))
}

fn py_str(v: &Value) -> Result<String, String> {
    v.py_str()
        .ok_or_else(|| "str() of a non-literal value".to_string())
}

/// Python `seq[index]` for a list/tuple/str and an int index.
fn index_into(v: &Value, index: &Value) -> Result<Value, String> {
    let Value::Int(i) = index else {
        return Err(format!("index must be an int, found {}", index.type_name()));
    };
    let pick = |n: usize| -> Result<usize, String> {
        let j = if *i < 0 { n as i64 + i } else { *i };
        if j < 0 || j >= n as i64 {
            Err("IndexError: index out of range".into())
        } else {
            Ok(j as usize)
        }
    };
    match v {
        Value::List(items) | Value::Tuple(items) => Ok(items[pick(items.len())?].clone()),
        Value::Str(s) => {
            let chars: Vec<char> = s.chars().collect();
            Ok(Value::Str(chars[pick(chars.len())?].to_string()))
        }
        Value::Unsupported(_) => Err("indexing a non-literal value".into()),
        other => Err(format!(
            "TypeError: '{}' object is not subscriptable",
            other.type_name()
        )),
    }
}

/// `Config.value(key, default, index=None, list_join_str=",")`.
fn value(
    typed: Lookup<'_>,
    text: TextLookup<'_>,
    key: &str,
    default: Value,
    index: &Value,
    join: &Value,
) -> Result<Value, String> {
    let join = join
        .as_str()
        .ok_or_else(|| "list_join_str must be a str".to_string())?;
    if let Some(ls) = typed(key) {
        if *index == Value::None {
            return Ok(match &ls {
                Value::List(items) | Value::Tuple(items) => Value::Str(
                    items
                        .iter()
                        .map(py_str)
                        .collect::<Result<Vec<_>, _>>()?
                        .join(join),
                ),
                Value::None => default,
                other => Value::Str(py_str(other)?),
            });
        }
        return Ok(Value::Str(py_str(&index_into(&ls, index)?)?));
    }
    if let Some(ls) = text(key) {
        if *index == Value::None {
            return Ok(Value::Str(ls.join(join)));
        }
        let items = Value::List(ls.into_iter().map(Value::Str).collect());
        return index_into(&items, index);
    }
    Ok(default)
}

/// `Config.typed_value(key, default=None, index=None)`.
fn typed_value(
    typed: Lookup<'_>,
    key: &str,
    default: Value,
    index: &Value,
) -> Result<Value, String> {
    let v = typed(key).unwrap_or(default);
    if *index == Value::None {
        return Ok(v);
    }
    let Value::Int(i) = index else {
        return Err("AssertionError: index is not an int".into());
    };
    match &v {
        Value::List(_) | Value::Tuple(_) => index_into(&v, index),
        _ if *i == 0 => Ok(v),
        _ => Err("AssertionError: index == 0".into()),
    }
}

fn py_float(s: &str) -> Result<f64, String> {
    let t = s.trim();
    t.replace('_', "")
        .parse::<f64>()
        .map_err(|_| format!("ValueError: could not convert string to float: {s:?}"))
}

fn to_bool(s: &str) -> Result<bool, String> {
    crate::to_bool(s).ok_or_else(|| format!("ValueError: to_bool cannot handle {s:?}"))
}

/// One call of the API; `Err` is what RETURNN raises.
fn call(
    method: &str,
    args: &[Value],
    kwargs: &[(String, Value)],
    typed: Lookup<'_>,
    text: TextLookup<'_>,
) -> Result<Value, String> {
    let none = || Some(Value::None);
    match method {
        "value" => {
            let a = bind(
                method,
                &[
                    ("key", None),
                    ("default", None),
                    ("index", none()),
                    ("list_join_str", Some(Value::Str(",".into()))),
                ],
                args,
                kwargs,
            )?;
            value(typed, text, key_of(&a[0])?, a[1].clone(), &a[2], &a[3])
        }
        "typed_value" => {
            let a = bind(
                method,
                &[("key", None), ("default", none()), ("index", none())],
                args,
                kwargs,
            )?;
            typed_value(typed, key_of(&a[0])?, a[1].clone(), &a[2])
        }
        "opt_typed_value" => {
            let a = bind(method, &[("key", None), ("default", none())], args, kwargs)?;
            let key = key_of(&a[0])?;
            match typed(key) {
                Some(v) => Ok(v),
                None => value(
                    typed,
                    text,
                    key,
                    a[1].clone(),
                    &Value::None,
                    &Value::Str(",".into()),
                ),
            }
        }
        "int" | "bool" | "float" => {
            let a = bind(
                method,
                &[
                    ("key", None),
                    ("default", None),
                    ("index", Some(Value::Int(0))),
                ],
                args,
                kwargs,
            )?;
            let key = key_of(&a[0])?;
            let (default, index) = (a[1].clone(), &a[2]);
            if method == "float" {
                let v = if typed(key).is_some() {
                    typed_value(typed, key, default, index)?
                } else {
                    value(typed, text, key, default, index, &Value::Str(",".into()))?
                };
                return match v {
                    Value::Str(s) => Ok(Value::Float(py_float(&s)?)),
                    v @ (Value::None | Value::Int(_) | Value::Bool(_) | Value::Float(_)) => Ok(v),
                    other => Err(format!(
                        "AssertionError: float {key}: found {}",
                        other.type_name()
                    )),
                };
            }
            if typed(key).is_some() {
                let v = typed_value(typed, key, default, index)?;
                return match (method, v) {
                    (_, Value::None) => Ok(Value::None),
                    ("int", v @ (Value::Int(_) | Value::Bool(_))) => Ok(v),
                    ("bool", Value::Int(i)) => Ok(Value::Bool(i != 0)),
                    ("bool", v @ Value::Bool(_)) => Ok(v),
                    (_, Value::Unsupported(w)) => Err(format!("a non-literal value [{w}]")),
                    (m, other) => Err(format!(
                        "AssertionError: {m} {key}: isinstance({}, {m}) is false",
                        other.py_repr().unwrap_or_default()
                    )),
                };
            }
            if text(key).is_none() {
                return Ok(default);
            }
            if method == "int" {
                let v = value(typed, text, key, default, index, &Value::Str(",".into()))?;
                let s = py_str(&v)?;
                return match py_int_from_str(&s) {
                    Ok(Some(i)) => Ok(Value::Int(i)),
                    Ok(None) => Err("an int beyond 64 bits".into()),
                    Err(()) => Err(format!(
                        "ValueError: invalid literal for int() with base 10: {s:?}"
                    )),
                };
            }
            let v = value(
                typed,
                text,
                key,
                Value::None,
                index,
                &Value::Str(",".into()),
            )?;
            let s = py_str(&v)?;
            if s.is_empty() {
                return Ok(default);
            }
            Ok(Value::Bool(to_bool(&s)?))
        }
        "is_true" => {
            let a = bind(
                method,
                &[("key", None), ("default", Some(Value::Bool(false)))],
                args,
                kwargs,
            )?;
            let key = key_of(&a[0])?;
            if let Some(v) = typed(key) {
                return v
                    .truthy()
                    .map(Value::Bool)
                    .ok_or_else(|| "bool() of a non-literal value".into());
            }
            call("bool", &[a[0].clone(), a[1].clone()], &[], typed, text)
        }
        "has" | "is_typed" => {
            let a = bind(method, &[("key", None)], args, kwargs)?;
            let key = key_of(&a[0])?;
            Ok(Value::Bool(
                typed(key).is_some() || (method == "has" && text(key).is_some()),
            ))
        }
        "list" => {
            let a = bind(method, &[("key", None), ("default", none())], args, kwargs)?;
            let key = key_of(&a[0])?;
            let default = match &a[1] {
                Value::None => Value::List(Vec::new()),
                d => d.clone(),
            };
            if typed(key).is_some() {
                return Ok(
                    match typed_value(typed, key, default.clone(), &Value::None)? {
                        Value::None => default,
                        Value::List(v) | Value::Tuple(v) => Value::List(v),
                        other => Value::List(vec![other]),
                    },
                );
            }
            Ok(match text(key) {
                Some(ls) => Value::List(ls.into_iter().map(Value::Str).collect()),
                None => default,
            })
        }
        other => Err(format!(
            "config.{other} is not one of the Config methods returnn-ckpt evaluates"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn run(
        typed: &[(&str, Value)],
        text: &[(&str, &[&str])],
        method: &str,
        args: Vec<Value>,
    ) -> Value {
        let typed: BTreeMap<String, Value> = typed
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let text: BTreeMap<String, Vec<String>> = text
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect();
        let env = ConfigEnv {
            typed: &typed,
            text: &text,
            raised: Default::default(),
        };
        env.config_call(method, &args, &[], &|k| typed.get(k).cloned())
    }

    type Row = (
        Vec<(&'static str, Value)>,
        Vec<(&'static str, &'static [&'static str])>,
        &'static str,
        Vec<Value>,
        Value,
    );

    fn s(x: &str) -> Value {
        Value::Str(x.into())
    }

    /// One row per rule of `returnn/config.py`'s readers, as RETURNN answers them.
    #[test]
    fn config_methods_table() {
        let l = Value::List(vec![Value::Int(1), s("a")]);
        let rows: Vec<Row> = vec![
            (
                vec![],
                vec![],
                "value",
                vec![s("task"), s("train")],
                s("train"),
            ),
            (
                vec![],
                vec![("task", &["eval"])],
                "value",
                vec![s("task"), s("train")],
                s("eval"),
            ),
            (
                vec![],
                vec![("x", &["a", "b"])],
                "value",
                vec![s("x"), Value::None],
                s("a,b"),
            ),
            (
                vec![("x", l.clone())],
                vec![],
                "value",
                vec![s("x"), Value::None],
                s("1,a"),
            ),
            (
                vec![("x", Value::None)],
                vec![],
                "value",
                vec![s("x"), s("d")],
                s("d"),
            ),
            (
                vec![("x", Value::Int(3))],
                vec![],
                "value",
                vec![s("x"), s("d")],
                s("3"),
            ),
            (
                vec![("x", l.clone())],
                vec![],
                "value",
                vec![s("x"), Value::None, Value::Int(1)],
                s("a"),
            ),
            (
                vec![],
                vec![],
                "value",
                vec![s("x"), Value::None],
                Value::None,
            ),
            (
                vec![],
                vec![("n", &["7"])],
                "int",
                vec![s("n"), Value::Int(1)],
                Value::Int(7),
            ),
            (
                vec![("n", Value::Bool(true))],
                vec![],
                "int",
                vec![s("n"), Value::Int(1)],
                Value::Bool(true),
            ),
            (
                vec![],
                vec![],
                "int",
                vec![s("n"), Value::None],
                Value::None,
            ),
            (
                vec![("b", Value::Int(2))],
                vec![],
                "bool",
                vec![s("b"), Value::Bool(false)],
                Value::Bool(true),
            ),
            (
                vec![],
                vec![("b", &["no"])],
                "bool",
                vec![s("b"), Value::Bool(true)],
                Value::Bool(false),
            ),
            (
                vec![],
                vec![("b", &[""])],
                "bool",
                vec![s("b"), Value::Bool(true)],
                Value::Bool(true),
            ),
            (
                vec![("b", Value::None)],
                vec![],
                "bool",
                vec![s("b"), Value::Bool(true)],
                Value::None,
            ),
            (
                vec![],
                vec![("f", &["inf"])],
                "float",
                vec![s("f"), Value::None],
                Value::Float(f64::INFINITY),
            ),
            (
                vec![("f", Value::Int(2))],
                vec![],
                "float",
                vec![s("f"), Value::None],
                Value::Int(2),
            ),
            (
                vec![],
                vec![("k", &["v"])],
                "has",
                vec![s("k")],
                Value::Bool(true),
            ),
            (
                vec![],
                vec![("k", &["v"])],
                "is_typed",
                vec![s("k")],
                Value::Bool(false),
            ),
            (
                vec![("k", s(""))],
                vec![],
                "is_true",
                vec![s("k")],
                Value::Bool(false),
            ),
            (
                vec![("k", l.clone())],
                vec![],
                "typed_value",
                vec![s("k")],
                l.clone(),
            ),
            (
                vec![],
                vec![],
                "typed_value",
                vec![s("k"), Value::Int(5)],
                Value::Int(5),
            ),
            (
                vec![],
                vec![("k", &["v"])],
                "opt_typed_value",
                vec![s("k")],
                s("v"),
            ),
            (
                vec![("k", Value::Int(1))],
                vec![],
                "list",
                vec![s("k")],
                Value::List(vec![Value::Int(1)]),
            ),
            (vec![], vec![], "list", vec![s("k")], Value::List(vec![])),
        ];
        for (typed, text, m, args, want) in rows {
            let got = run(&typed, &text, m, args.clone());
            assert_eq!(got, want, "{m}{args:?} typed={typed:?} text={text:?}");
        }
        // What RETURNN raises is unsupported (never a guess).
        for (typed, text, m, args) in [
            (
                vec![("n", s("x"))],
                vec![],
                "int",
                vec![s("n"), Value::Int(1)],
            ),
            (
                vec![],
                vec![("n", &["x"] as &[&str])],
                "int",
                vec![s("n"), Value::Int(1)],
            ),
            (vec![], vec![], "value", vec![s("task")]),
            (
                vec![],
                vec![("b", &["maybe"] as &[&str])],
                "bool",
                vec![s("b"), Value::Bool(false)],
            ),
            (vec![], vec![], "get_of_type", vec![s("k")]),
        ] {
            let got = run(&typed, &text, m, args.clone());
            assert!(matches!(got, Value::Unsupported(_)), "{m}{args:?}: {got:?}");
        }
    }
}
