//! Time as plain integers, passed in by the caller (smoltcp's habit).
//!
//! Core never reads a clock: every transition takes the current [`Tick`] from
//! its caller, so a test can drive it with a fake clock and a model checker can
//! jump time to the next deadline.

use core::fmt;
use core::ops::{Add, Sub};

/// A point on the caller's monotonic clock, in microseconds since an epoch of
/// the caller's choosing (a node's start, a test's zero).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Tick(pub u64);

/// A length of time in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Span(pub u64);

impl Tick {
    /// The epoch.
    pub const ZERO: Tick = Tick(0);
    /// The far future: a deadline that never passes.
    pub const NEVER: Tick = Tick(u64::MAX);

    /// A tick `ms` milliseconds after the epoch.
    pub const fn from_millis(ms: u64) -> Tick {
        Tick(ms.saturating_mul(1_000))
    }

    /// Microseconds since the epoch.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// The time from `earlier` to `self`, or zero if `earlier` is later.
    pub const fn since(self, earlier: Tick) -> Span {
        Span(self.0.saturating_sub(earlier.0))
    }

    /// `self + span`, saturating at [`Tick::NEVER`].
    pub const fn after(self, span: Span) -> Tick {
        Tick(self.0.saturating_add(span.0))
    }
}

impl Span {
    /// No time at all.
    pub const ZERO: Span = Span(0);
    /// Longer than anything will wait.
    pub const FOREVER: Span = Span(u64::MAX);

    /// A span of `us` microseconds.
    pub const fn from_micros(us: u64) -> Span {
        Span(us)
    }

    /// A span of `ms` milliseconds.
    pub const fn from_millis(ms: u64) -> Span {
        Span(ms.saturating_mul(1_000))
    }

    /// A span of `s` seconds.
    pub const fn from_secs(s: u64) -> Span {
        Span(s.saturating_mul(1_000_000))
    }

    /// The span in microseconds.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// The span in whole milliseconds, rounded down.
    pub const fn as_millis(self) -> u64 {
        self.0 / 1_000
    }
}

impl Add<Span> for Tick {
    type Output = Tick;
    fn add(self, rhs: Span) -> Tick {
        self.after(rhs)
    }
}

impl Sub<Tick> for Tick {
    type Output = Span;
    fn sub(self, rhs: Tick) -> Span {
        self.since(rhs)
    }
}

impl fmt::Display for Tick {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t+{}us", self.0)
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 >= 1_000_000 && self.0.is_multiple_of(1_000) {
            write!(f, "{}ms", self.0 / 1_000)
        } else {
            write!(f, "{}us", self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        assert_eq!(Tick::NEVER + Span::from_secs(1), Tick::NEVER);
        assert_eq!(Tick(5) - Tick(9), Span::ZERO);
        assert_eq!(Tick::from_millis(3) - Tick(1_000), Span(2_000));
        assert_eq!(Span::from_millis(2).as_millis(), 2);
    }
}
