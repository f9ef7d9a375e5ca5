//! The node's clock: the only place below the binary that reads the time.
//! Core gets it as a plain [`Tick`] (microseconds since the node started).
//!
//! It is tokio's clock, so tests can pause it and jump it forward exactly
//! (`#[tokio::test(start_paused = true)]`): idle times, max waits and
//! deadlines then fire at exact virtual instants.

use std::time::Duration;

use tokio::time::Instant;

use goldfish_core::{Span, Tick};

/// Monotonic time since the node started.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    base: Instant,
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

impl Clock {
    /// A clock whose zero is now.
    pub fn new() -> Clock {
        Clock {
            base: Instant::now(),
        }
    }

    /// The current tick.
    pub fn now(&self) -> Tick {
        self.tick(Instant::now())
    }

    /// The tick of an instant.
    pub fn tick(&self, at: Instant) -> Tick {
        Tick(u64::try_from(at.saturating_duration_since(self.base).as_micros()).unwrap_or(u64::MAX))
    }

    /// The instant of a tick (far future ticks are capped at a day from now).
    pub fn instant(&self, t: Tick) -> Instant {
        let cap = Instant::now() + Duration::from_secs(86_400);
        self.base
            .checked_add(Duration::from_micros(t.as_micros()))
            .map_or(cap, |i| i.min(cap))
    }

    /// A duration as a span.
    pub fn span(d: Duration) -> Span {
        Span(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
    }
}
