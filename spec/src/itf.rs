//! Reading ITF traces (the Informal Trace Format `quint run --out-itf`
//! writes): JSON whose integers are `{"#bigint": "n"}`, sets
//! `{"#set": [...]}`, maps `{"#map": [[k, v], ...]}`, tuples
//! `{"#tup": [...]}`, sum types `{"tag": "T", "value": v}`; lists are
//! arrays and records are objects.

use std::collections::BTreeMap;

/// A Quint value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i128),
    /// A string.
    Str(String),
    /// A list.
    List(Vec<Value>),
    /// A set (in the trace's order).
    Set(Vec<Value>),
    /// A tuple.
    Tuple(Vec<Value>),
    /// A map, as its pairs.
    Map(Vec<(Value, Value)>),
    /// A record.
    Record(BTreeMap<String, Value>),
    /// A variant of a sum type: its tag and value (`()` for none).
    Variant(String, Box<Value>),
}

/// A trace: its variables' values in each state.
#[derive(Clone, Debug)]
pub struct Trace {
    /// The variable names.
    pub vars: Vec<String>,
    /// Each state: variable -> value.
    pub states: Vec<BTreeMap<String, Value>>,
}

fn decode(j: &serde_json::Value) -> Result<Value, String> {
    use serde_json::Value as J;
    Ok(match j {
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => Value::Int(
            n.as_i64()
                .map(i128::from)
                .ok_or_else(|| format!("not an integer: {n}"))?,
        ),
        J::String(s) => Value::Str(s.clone()),
        J::Array(a) => Value::List(a.iter().map(decode).collect::<Result<_, _>>()?),
        J::Null => return Err("null in a trace".into()),
        J::Object(o) => {
            if let Some(J::String(n)) = o.get("#bigint") {
                Value::Int(n.parse().map_err(|_| format!("bad #bigint {n}"))?)
            } else if let Some(J::Array(a)) = o.get("#set") {
                Value::Set(a.iter().map(decode).collect::<Result<_, _>>()?)
            } else if let Some(J::Array(a)) = o.get("#tup") {
                Value::Tuple(a.iter().map(decode).collect::<Result<_, _>>()?)
            } else if let Some(J::Array(a)) = o.get("#map") {
                let mut pairs = Vec::new();
                for p in a {
                    match p.as_array().map(Vec::as_slice) {
                        Some([k, v]) => pairs.push((decode(k)?, decode(v)?)),
                        _ => return Err(format!("bad #map entry {p}")),
                    }
                }
                Value::Map(pairs)
            } else if let (Some(J::String(tag)), Some(v), 2) =
                (o.get("tag"), o.get("value"), o.len())
            {
                Value::Variant(tag.clone(), Box::new(decode(v)?))
            } else if let Some(k) = o.keys().find(|k| k.starts_with('#')) {
                return Err(format!("unknown ITF form {k}"));
            } else {
                Value::Record(
                    o.iter()
                        .map(|(k, v)| Ok((k.clone(), decode(v)?)))
                        .collect::<Result<_, String>>()?,
                )
            }
        }
    })
}

/// Parses an ITF trace.
pub fn parse_trace(text: &str) -> Result<Trace, String> {
    let j: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let vars = j["vars"]
        .as_array()
        .ok_or("no `vars`")?
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_string)
                .ok_or("a var is not a string")
        })
        .collect::<Result<Vec<_>, _>>()?;
    let states = j["states"]
        .as_array()
        .ok_or("no `states`")?
        .iter()
        .map(|s| {
            let o = s.as_object().ok_or("a state is not an object")?;
            o.iter()
                .filter(|(k, _)| k.as_str() != "#meta")
                .map(|(k, v)| Ok((k.clone(), decode(v)?)))
                .collect::<Result<BTreeMap<_, _>, String>>()
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Trace { vars, states })
}

impl Value {
    /// The record field `name`.
    pub fn field(&self, name: &str) -> Result<&Value, String> {
        match self {
            Value::Record(r) => r.get(name).ok_or_else(|| format!("no field `{name}`")),
            other => Err(format!("field `{name}` of a non-record {other:?}")),
        }
    }

    /// The integer.
    pub fn int(&self) -> Result<i128, String> {
        match self {
            Value::Int(i) => Ok(*i),
            other => Err(format!("not an integer: {other:?}")),
        }
    }

    /// The integer, as an unsigned 64-bit one.
    pub fn u64(&self) -> Result<u64, String> {
        let i = self.int()?;
        u64::try_from(i).map_err(|_| format!("{i} is out of range"))
    }

    /// The boolean.
    pub fn bool(&self) -> Result<bool, String> {
        match self {
            Value::Bool(b) => Ok(*b),
            other => Err(format!("not a boolean: {other:?}")),
        }
    }

    /// The string.
    pub fn str(&self) -> Result<&str, String> {
        match self {
            Value::Str(s) => Ok(s),
            other => Err(format!("not a string: {other:?}")),
        }
    }

    /// A variant's tag and value.
    pub fn variant(&self) -> Result<(&str, &Value), String> {
        match self {
            Value::Variant(t, v) => Ok((t, v)),
            other => Err(format!("not a variant: {other:?}")),
        }
    }

    /// A list's items.
    pub fn list(&self) -> Result<&[Value], String> {
        match self {
            Value::List(l) => Ok(l),
            other => Err(format!("not a list: {other:?}")),
        }
    }

    /// A set's items.
    pub fn set(&self) -> Result<&[Value], String> {
        match self {
            Value::Set(l) => Ok(l),
            other => Err(format!("not a set: {other:?}")),
        }
    }

    /// A map's pairs.
    pub fn map(&self) -> Result<&[(Value, Value)], String> {
        match self {
            Value::Map(m) => Ok(m),
            other => Err(format!("not a map: {other:?}")),
        }
    }

    /// An `Option` of the model: `Some(v)` or `None`.
    pub fn option(&self) -> Result<Option<&Value>, String> {
        match self.variant()? {
            ("Some", v) => Ok(Some(v)),
            ("None", _) => Ok(None),
            (t, _) => Err(format!("not an Option: {t}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_itf_form_decodes() {
        let t = parse_trace(
            r##"{"#meta":{},"vars":["x"],"states":[{"#meta":{"index":0},"x":
            {"a":{"#bigint":"-3"},"b":{"#set":[true]},"c":{"#map":[[{"#bigint":"1"},"s"]]},
             "d":{"tag":"Some","value":{"#tup":[]}},"e":[1,2]}}]}"##,
        )
        .unwrap();
        let x = &t.states[0]["x"];
        assert_eq!(x.field("a").unwrap().int(), Ok(-3));
        assert_eq!(x.field("b").unwrap().set().unwrap(), &[Value::Bool(true)]);
        assert_eq!(
            x.field("c").unwrap().map().unwrap(),
            &[(Value::Int(1), Value::Str("s".into()))]
        );
        assert!(x.field("d").unwrap().option().unwrap().is_some());
        assert_eq!(x.field("e").unwrap().list().unwrap().len(), 2);
        assert!(x.field("zz").is_err());
        assert!(parse_trace(r##"{"vars":["x"],"states":[{"x":{"#weird":1}}]}"##).is_err());
    }
}
