//! The limits a function is deployed with: the user-set idle time of the LCM,
//! the SIM buffer's bounds, and how often a failed message is retried.

use core::fmt;

use crate::time::Span;

/// Per-function limits that core enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct Limits {
    /// How long an actor may stay Suspended with nothing queued for it before
    /// it is Terminated (scale to zero).
    pub idle: Span,
    /// Most messages waiting in the buffer at once.
    pub buffer_count: u32,
    /// Most payload bytes waiting in the buffer at once.
    pub buffer_bytes: u64,
    /// How long an anycast message waits for a busy instance before a new
    /// instance is created for it. Zero creates one as soon as all are busy.
    pub max_wait: Span,
    /// Most live actors of the function on one node, addressed and anycast together.
    pub max_instances: u32,
    /// How many times a message is tried before it fails (1 = no retry).
    pub max_attempts: u32,
    /// Largest accepted payload, in bytes.
    pub max_payload: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            idle: Span::from_secs(30),
            buffer_count: 1024,
            buffer_bytes: 64 << 20,
            max_wait: Span::from_millis(20),
            max_instances: 64,
            max_attempts: 3,
            max_payload: 4 << 20,
        }
    }
}

/// A limit that makes no sense.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LimitsError {
    /// `max_instances` is zero: no message could ever run.
    NoInstances,
    /// `max_attempts` is zero: no message could ever run.
    NoAttempts,
    /// `max_payload` is larger than `buffer_bytes` while messages may wait:
    /// a message could be accepted that can never wait.
    PayloadOverBuffer,
    /// The storage given to a dispatcher holds fewer slots than the limits need.
    StorageTooSmall {
        /// Which storage ("actors" or "waiting").
        what: &'static str,
        /// Slots needed.
        need: u32,
        /// Slots given.
        have: usize,
    },
}

impl fmt::Display for LimitsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitsError::NoInstances => f.write_str("max_instances must be at least 1"),
            LimitsError::NoAttempts => f.write_str("max_attempts must be at least 1"),
            LimitsError::PayloadOverBuffer => {
                f.write_str("max_payload must not exceed buffer_bytes")
            }
            LimitsError::StorageTooSmall { what, need, have } => write!(
                f,
                "the {what} storage has {have} slots but the limits need {need}"
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for LimitsError {}

impl Limits {
    /// Checks that the limits can be honoured.
    pub fn validate(&self) -> Result<(), LimitsError> {
        if self.max_instances == 0 {
            return Err(LimitsError::NoInstances);
        }
        if self.max_attempts == 0 {
            return Err(LimitsError::NoAttempts);
        }
        if self.buffer_count > 0 && u64::from(self.max_payload) > self.buffer_bytes {
            return Err(LimitsError::PayloadOverBuffer);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_nonsense_is_refused() {
        assert_eq!(Limits::default().validate(), Ok(()));
        let l = Limits {
            max_instances: 0,
            ..Limits::default()
        };
        assert_eq!(l.validate(), Err(LimitsError::NoInstances));
        let l = Limits {
            max_attempts: 0,
            ..Limits::default()
        };
        assert_eq!(l.validate(), Err(LimitsError::NoAttempts));
        let l = Limits {
            max_payload: 10,
            buffer_bytes: 5,
            ..Limits::default()
        };
        assert_eq!(l.validate(), Err(LimitsError::PayloadOverBuffer));
        let l = Limits {
            buffer_count: 0,
            ..l
        };
        assert_eq!(l.validate(), Ok(()));
    }
}
