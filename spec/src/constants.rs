//! The constants both sides read: `spec/constants.qnt`.
//!
//! The Quint model imports the file as a module; this side parses its
//! `pure val NAME = VALUE` lines (an integer or a `"string"`) with a tiny line
//! parser, and builds goldfish-core's [`Limits`] and the client's messages
//! from them. A missing name, a malformed value or limits that core refuses
//! are errors, so the two sides cannot drift apart silently.

use std::collections::BTreeMap;
use std::fmt;

use goldfish_core::{FunctionId, Key, Limits, Span};

/// The text of `spec/constants.qnt`, compiled in.
pub const CONSTANTS_QNT: &str = include_str!("../constants.qnt");

/// The function every message of the specification is for.
pub const FUNCTION: &str = "f";

/// A line of `constants.qnt` that does not parse, or a missing constant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConstantsError(pub String);

impl fmt::Display for ConstantsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "spec/constants.qnt: {}", self.0)
    }
}

impl std::error::Error for ConstantsError {}

/// One constant's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// An integer.
    Int(u64),
    /// A string.
    Str(String),
}

/// Parses every `pure val NAME = VALUE` line; other lines (comments, the
/// module header, blank lines) are skipped.
pub fn parse(text: &str) -> Result<BTreeMap<String, Value>, ConstantsError> {
    let mut out = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix("pure val ") else {
            continue;
        };
        let bad = |why: &str| ConstantsError(format!("line {}: {why}: `{line}`", n + 1));
        let (name, value) = rest.split_once('=').ok_or_else(|| bad("no `=`"))?;
        let name = name.trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(bad("bad name"));
        }
        let value = value.split("//").next().unwrap_or("").trim();
        let value = if let Some(s) = value.strip_prefix('"') {
            Value::Str(
                s.strip_suffix('"')
                    .ok_or_else(|| bad("unterminated string"))?
                    .to_string(),
            )
        } else {
            Value::Int(
                value
                    .replace('_', "")
                    .parse()
                    .map_err(|_| bad("not an integer"))?,
            )
        };
        if out.insert(name.to_string(), value).is_some() {
            return Err(bad("defined twice"));
        }
    }
    Ok(out)
}

/// The constants of the specification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Constants {
    /// The function's limits, as core enforces them.
    pub limits: Limits,
    /// Payload size of an anycast message.
    pub anycast_bytes: u32,
    /// Payload size of an addressed message.
    pub addressed_bytes: u32,
    /// A message's deadline is its arrival plus this.
    pub ttl: Span,
    /// The one addressed actor's key.
    pub key: Key,
    /// The session key.
    pub session: Key,
    /// The function.
    pub function: FunctionId,
}

impl Constants {
    /// The constants of `spec/constants.qnt`.
    pub fn load() -> Result<Constants, ConstantsError> {
        Constants::from_text(CONSTANTS_QNT)
    }

    /// The constants of a `constants.qnt` text.
    pub fn from_text(text: &str) -> Result<Constants, ConstantsError> {
        let map = parse(text)?;
        let int = |name: &str| match map.get(name) {
            Some(Value::Int(v)) => Ok(*v),
            Some(Value::Str(_)) => Err(ConstantsError(format!("{name} must be an integer"))),
            None => Err(ConstantsError(format!("{name} is missing"))),
        };
        let int32 = |name: &str| {
            int(name).and_then(|v| {
                u32::try_from(v).map_err(|_| ConstantsError(format!("{name} is too large")))
            })
        };
        let key = |name: &str| match map.get(name) {
            Some(Value::Str(s)) => {
                Key::new(s).map_err(|e| ConstantsError(format!("{name} is not a key: {e}")))
            }
            Some(Value::Int(_)) => Err(ConstantsError(format!("{name} must be a string"))),
            None => Err(ConstantsError(format!("{name} is missing"))),
        };
        let limits = Limits {
            idle: Span(int("IDLE")?),
            buffer_count: int32("BUFFER_COUNT")?,
            buffer_bytes: int("BUFFER_BYTES")?,
            max_wait: Span(int("MAX_WAIT")?),
            max_instances: int32("MAX_INSTANCES")?,
            max_attempts: int32("MAX_ATTEMPTS")?,
            max_payload: int32("MAX_PAYLOAD")?,
        };
        limits
            .validate()
            .map_err(|e| ConstantsError(format!("core refuses the limits: {e}")))?;
        Ok(Constants {
            limits,
            anycast_bytes: int32("ANYCAST_BYTES")?,
            addressed_bytes: int32("ADDRESSED_BYTES")?,
            ttl: Span(int("TTL")?),
            key: key("KEY")?,
            session: key("SESSION")?,
            function: FunctionId::new(FUNCTION).map_err(|e| ConstantsError(e.to_string()))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_file_parses_into_valid_limits() {
        let c = Constants::load().unwrap();
        assert!(c.limits.max_instances >= 2, "two instances at least");
        assert!(c.limits.buffer_count >= 1);
        assert!(c.limits.max_attempts >= 2, "retries are exercised");
        assert!(
            u64::from(2 * c.addressed_bytes) > c.limits.buffer_bytes,
            "two addressed messages overflow the byte limit"
        );
    }

    #[test]
    fn the_parser_reads_values_and_refuses_nonsense() {
        let m = parse("module c {\n  // x\n  pure val A = 1_000 // ms\n  pure val B = \"k\"\n}\n")
            .unwrap();
        assert_eq!(m["A"], Value::Int(1000));
        assert_eq!(m["B"], Value::Str("k".into()));
        assert!(parse("pure val A = x").is_err());
        assert!(parse("pure val A = \"x").is_err());
        assert!(parse("pure val A = 1\npure val A = 2").is_err());
        let missing = Constants::from_text("pure val IDLE = 1");
        assert_eq!(missing.unwrap_err().0, "BUFFER_COUNT is missing");
        let refused: String = CONSTANTS_QNT
            .lines()
            .map(|l| {
                if l.trim().starts_with("pure val MAX_INSTANCES") {
                    "  pure val MAX_INSTANCES = 0\n".to_string()
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        assert_ne!(refused, CONSTANTS_QNT);
        let e = Constants::from_text(&refused).unwrap_err();
        assert!(e.0.contains("core refuses"), "{e}");
    }
}
