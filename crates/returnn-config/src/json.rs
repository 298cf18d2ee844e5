//! JSON configs into [`Value`], keeping object key order (Python's `json.loads` keeps it).

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

use crate::value::Value;

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(match i64::try_from(v) {
            Ok(i) => Value::Int(i),
            Err(_) => Value::Unsupported(format!("integer {v} out of the 64-bit range")),
        })
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(Seed)? {
            items.push(v);
        }
        Ok(Value::List(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut items: Vec<(Value, Value)> = Vec::new();
        while let Some(k) = map.next_key::<String>()? {
            let v = map.next_value_seed(Seed)?;
            if let Some(slot) = items
                .iter_mut()
                .find(|(x, _)| matches!(x, Value::Str(s) if *s == k))
            {
                slot.1 = v;
            } else {
                items.push((Value::Str(k), v));
            }
        }
        Ok(Value::Dict(items))
    }
}

struct Seed;

impl<'de> de::DeserializeSeed<'de> for Seed {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

/// RETURNN's `json_remove_comments`: drops `// ...` (to the end of the line) and `/* ... */`
/// outside of double-quoted strings before parsing.
pub fn remove_comments(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let (mut in_string, mut in_single, mut in_multi) = (false, false, false);
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if in_string {
            out.push(c);
            if c == b'\\' {
                if let Some(n) = next {
                    out.push(n);
                    i += 1;
                }
            } else if c == b'"' {
                in_string = false;
            }
        } else if in_single {
            if c == b'\n' || c == b'\r' {
                in_single = false;
                out.push(c);
            }
        } else if in_multi {
            if c == b'*' && next == Some(b'/') {
                in_multi = false;
                i += 1;
            }
        } else if c == b'/' && next == Some(b'/') {
            in_single = true;
            i += 1;
        } else if c == b'/' && next == Some(b'*') {
            in_multi = true;
            i += 1;
        } else {
            if c == b'"' {
                in_string = true;
            }
            out.push(c);
        }
        i += 1;
    }
    // Only ASCII bytes were removed, so the rest is still valid UTF-8.
    String::from_utf8(out).unwrap_or_default()
}

/// Parses JSON text (after [`remove_comments`]) into a [`Value`].
pub fn parse(text: &str) -> Result<Value, serde_json::Error> {
    let text = remove_comments(text);
    let mut de = serde_json::Deserializer::from_str(&text);
    let v = de::DeserializeSeed::deserialize(Seed, &mut de)?;
    de.end()?;
    Ok(v)
}
