//! Per-function configuration: the limits a function is deployed with.
//!
//! Every key has a default, so `FunctionConfig::default()` (or an empty TOML
//! table) is a sensible deployment; unknown keys are an error, so a typo does
//! not silently fall back to a default.

use goldfish_core::{Limits, Span};
use serde::{Deserialize, Serialize};

/// The size of a WebAssembly page.
pub const PAGE: u64 = 64 * 1024;

/// How a function is run. All times are in milliseconds, sizes in bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FunctionConfig {
    /// Fuel per message (about one unit per wasm instruction). A message that
    /// uses it up fails with `out_of_fuel`: a runaway loop ends, it does not hang.
    pub fuel: u64,
    /// Most 64 KiB pages an actor's memory may grow to.
    pub memory_pages: u32,
    /// Largest payload (and reply) in bytes.
    pub max_payload: u32,
    /// Most live actors of the function on this node.
    pub max_instances: u32,
    /// How long an actor stays Suspended with nothing to do before it is
    /// terminated (scale to zero).
    pub idle_ms: u64,
    /// Most messages waiting in the function's buffer.
    pub buffer_count: u32,
    /// Most payload bytes waiting in the function's buffer.
    pub buffer_bytes: u64,
    /// How long an anycast message waits for a busy instance before a new
    /// instance is created for it (0: create one at once).
    pub max_wait_ms: u64,
    /// Tries per message before it fails (1: no retry).
    pub max_attempts: u32,
    /// Deadline for a message when the caller gives none.
    pub timeout_ms: u64,
    /// Run every message on a fresh instance that is dropped afterwards (the
    /// stateless FaaS pattern, for comparison). Off by default.
    pub stateless: bool,
}

impl Default for FunctionConfig {
    fn default() -> Self {
        let l = Limits::default();
        FunctionConfig {
            fuel: 100_000_000,
            memory_pages: 256,
            max_payload: l.max_payload,
            max_instances: l.max_instances,
            idle_ms: l.idle.as_millis(),
            buffer_count: l.buffer_count,
            buffer_bytes: l.buffer_bytes,
            max_wait_ms: l.max_wait.as_millis(),
            max_attempts: l.max_attempts,
            timeout_ms: 30_000,
            stateless: false,
        }
    }
}

/// A configuration that cannot work.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A limit core refuses.
    #[error("{0}")]
    Limits(#[from] goldfish_core::LimitsError),
    /// Fuel of zero: nothing could run.
    #[error("fuel must be at least 1")]
    NoFuel,
    /// No memory at all.
    #[error("memory_pages must be at least 1")]
    NoMemory,
    /// A payload cannot fit in the memory an actor may have.
    #[error(
        "max_payload ({payload} bytes) does not fit in memory_pages ({pages} pages of 64 KiB)"
    )]
    PayloadOverMemory {
        /// The payload limit.
        payload: u32,
        /// The memory limit.
        pages: u32,
    },
    /// No deadline: callers would wait forever.
    #[error("timeout_ms must be at least 1")]
    NoTimeout,
}

impl FunctionConfig {
    /// The limits core enforces.
    pub fn limits(&self) -> Limits {
        Limits {
            idle: Span::from_millis(self.idle_ms),
            buffer_count: self.buffer_count,
            buffer_bytes: self.buffer_bytes,
            max_wait: Span::from_millis(self.max_wait_ms),
            max_instances: self.max_instances,
            max_attempts: self.max_attempts,
            max_payload: self.max_payload,
        }
    }

    /// Checks that the configuration can work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.limits().validate()?;
        if self.fuel == 0 {
            return Err(ConfigError::NoFuel);
        }
        if self.memory_pages == 0 {
            return Err(ConfigError::NoMemory);
        }
        if u64::from(self.max_payload) > u64::from(self.memory_pages) * PAGE {
            return Err(ConfigError::PayloadOverMemory {
                payload: self.max_payload,
                pages: self.memory_pages,
            });
        }
        if self.timeout_ms == 0 {
            return Err(ConfigError::NoTimeout);
        }
        Ok(())
    }

    /// The most bytes an actor's memory may hold.
    pub fn memory_bytes(&self) -> usize {
        usize::try_from(u64::from(self.memory_pages) * PAGE).unwrap_or(usize::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(FunctionConfig::default().validate(), Ok(()));
    }

    #[test]
    fn missing_keys_take_defaults_and_unknown_keys_are_errors() {
        let c: FunctionConfig =
            serde_json::from_str(r#"{"idle_ms": 5, "max_instances": 2}"#).unwrap();
        assert_eq!(
            c,
            FunctionConfig {
                idle_ms: 5,
                max_instances: 2,
                ..FunctionConfig::default()
            }
        );
        let e = serde_json::from_str::<FunctionConfig>(r#"{"idle": 5}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `idle`"), "{e}");
    }

    #[test]
    fn nonsense_is_refused_with_a_reason() {
        let c = FunctionConfig {
            max_payload: 1 << 20,
            memory_pages: 8,
            ..FunctionConfig::default()
        };
        assert_eq!(
            c.validate(),
            Err(ConfigError::PayloadOverMemory {
                payload: 1 << 20,
                pages: 8
            })
        );
        let c = FunctionConfig {
            fuel: 0,
            ..FunctionConfig::default()
        };
        assert_eq!(c.validate(), Err(ConfigError::NoFuel));
        let c = FunctionConfig {
            max_instances: 0,
            ..FunctionConfig::default()
        };
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("max_instances"));
    }
}
