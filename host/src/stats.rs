//! Counters and latency histograms per function, updated with relaxed atomics
//! on the hot path and read as a [`FunctionStats`] snapshot.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use goldfish_core::{FaultKind, RejectReason, Termination, Verdict};

/// Sub-buckets per power of two: about 9% precision.
const SUB: u64 = 8;
const BUCKETS: usize = 64 * SUB as usize;

/// A log-linear histogram of microseconds.
pub(crate) struct Histogram {
    counts: Box<[AtomicU64]>,
    sum: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
        }
    }
}

fn bucket(us: u64) -> usize {
    if us < SUB {
        return us as usize;
    }
    let exp = 63 - us.leading_zeros() as u64; // >= 3
    let mantissa = (us >> (exp - 3)) & (SUB - 1);
    ((exp - 2) * SUB + mantissa) as usize
}

fn bucket_floor(b: usize) -> u64 {
    let b = b as u64;
    if b < SUB {
        return b;
    }
    let exp = b / SUB + 2;
    let mantissa = b % SUB;
    if exp - 3 >= 60 {
        // Far beyond any duration: keep the floors increasing.
        return u64::MAX;
    }
    (SUB + mantissa) << (exp - 3)
}

impl Histogram {
    pub(crate) fn record(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.counts[bucket(us).min(BUCKETS - 1)].fetch_add(1, Relaxed);
        self.sum.fetch_add(us, Relaxed);
    }

    /// Prometheus buckets at every power of two microseconds from 1 us to
    /// about 8.4 s (exact: those are edges of the log-linear buckets), as
    /// per-bucket counts (the encoder accumulates them), with the sum in
    /// seconds and the count. Durations from the last bound up go to `+Inf`.
    pub(crate) fn buckets(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let counts: Vec<u64> = self.counts.iter().map(|c| c.load(Relaxed)).collect();
        let n: u64 = counts.iter().sum();
        let mut out: Vec<(f64, u64)> = (0..=23u32).map(|p| ((1u64 << p) as f64 / 1e6, 0)).collect();
        for (b, &c) in counts.iter().enumerate() {
            if c == 0 {
                continue;
            }
            // The first bound above the bucket's floor: the bucket lies below it.
            let floor = bucket_floor(b);
            if let Some(slot) = (0..=23u32).position(|p| floor < (1u64 << p)) {
                out[slot].1 += c;
            }
        }
        (self.sum.load(Relaxed) as f64 / 1e6, n, out)
    }

    pub(crate) fn snapshot(&self) -> Latency {
        let counts: Vec<u64> = self.counts.iter().map(|c| c.load(Relaxed)).collect();
        let n: u64 = counts.iter().sum();
        let at = |q: f64| -> Duration {
            if n == 0 {
                return Duration::ZERO;
            }
            let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
            let mut seen = 0;
            for (b, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    return Duration::from_micros(bucket_floor(b));
                }
            }
            Duration::ZERO
        };
        Latency {
            count: n,
            mean: self
                .sum
                .load(Relaxed)
                .checked_div(n)
                .map_or(Duration::ZERO, Duration::from_micros),
            p50: at(0.50),
            p99: at(0.99),
        }
    }
}

/// Percentiles of a latency histogram (bucket floors, within about 9%).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Latency {
    /// Samples.
    pub count: u64,
    /// Mean.
    pub mean: Duration,
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
}

/// Live counters of one function on one node.
#[derive(Default)]
pub(crate) struct Stats {
    pub(crate) spawned: AtomicU64,
    pub(crate) start_failed: AtomicU64,
    pub(crate) runs: AtomicU64,
    pub(crate) replied: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) expired: AtomicU64,
    pub(crate) forwarded: AtomicU64,
    pub(crate) terminated: [AtomicU64; 5],
    pub(crate) faults: [AtomicU64; 5],
    pub(crate) fuel: AtomicU64,
    /// Time in the guest per message, without time waiting on calls.
    pub(crate) run: Histogram,
    /// Acceptance to outcome.
    pub(crate) latency: Histogram,
    /// Acceptance to the start of the run that ended it (time in the buffer).
    pub(crate) wait: Histogram,
}

impl Stats {
    pub(crate) fn outcome(&self, v: Verdict) {
        match v {
            Verdict::Replied => &self.replied,
            Verdict::Failed(_) => &self.failed,
            Verdict::Expired => &self.expired,
        }
        .fetch_add(1, Relaxed);
    }

    pub(crate) fn rejected(&self, _r: RejectReason) {
        self.rejected.fetch_add(1, Relaxed);
    }

    pub(crate) fn terminated(&self, cause: Termination) {
        let i = match cause {
            Termination::Idle => 0,
            Termination::Stopped => 1,
            Termination::Fault(_) => 2,
            Termination::Shutdown => 3,
            Termination::Evicted => 4,
        };
        self.terminated[i].fetch_add(1, Relaxed);
    }

    pub(crate) fn fault(&self, kind: FaultKind) {
        let i = match kind {
            FaultKind::Trap => 0,
            FaultKind::OutOfFuel => 1,
            FaultKind::OutOfMemory => 2,
            FaultKind::StartFailed => 3,
            _ => 4,
        };
        self.faults[i].fetch_add(1, Relaxed);
    }

    pub(crate) fn snapshot(&self) -> FunctionStats {
        let t = |i: usize| self.terminated[i].load(Relaxed);
        let f = |i: usize| self.faults[i].load(Relaxed);
        FunctionStats {
            spawned: self.spawned.load(Relaxed),
            start_failed: self.start_failed.load(Relaxed),
            runs: self.runs.load(Relaxed),
            replied: self.replied.load(Relaxed),
            failed: self.failed.load(Relaxed),
            rejected: self.rejected.load(Relaxed),
            expired: self.expired.load(Relaxed),
            forwarded: self.forwarded.load(Relaxed),
            terminated_idle: t(0),
            terminated_stopped: t(1),
            terminated_fault: t(2),
            terminated_shutdown: t(3),
            terminated_evicted: t(4),
            traps: f(0),
            out_of_fuel: f(1),
            out_of_memory: f(2),
            fuel: self.fuel.load(Relaxed),
            run: self.run.snapshot(),
            latency: self.latency.snapshot(),
            wait: self.wait.snapshot(),
        }
    }
}

/// A snapshot of one function's counters on one node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FunctionStats {
    /// Actors created.
    pub spawned: u64,
    /// Actors that failed to start.
    pub start_failed: u64,
    /// Messages run (attempts included).
    pub runs: u64,
    /// Messages that ended with a reply.
    pub replied: u64,
    /// Messages that ended as Failed.
    pub failed: u64,
    /// Messages rejected on arrival.
    pub rejected: u64,
    /// Messages that ended as Expired.
    pub expired: u64,
    /// Messages forwarded to another node.
    pub forwarded: u64,
    /// Actors terminated after their idle time.
    pub terminated_idle: u64,
    /// Actors terminated because they asked to stop.
    pub terminated_stopped: u64,
    /// Actors terminated after a fault.
    pub terminated_fault: u64,
    /// Actors terminated by a shutdown.
    pub terminated_shutdown: u64,
    /// Actors terminated because the node lost its lease.
    pub terminated_evicted: u64,
    /// Runs that trapped.
    pub traps: u64,
    /// Runs that used up their fuel.
    pub out_of_fuel: u64,
    /// Runs that hit the memory limit.
    pub out_of_memory: u64,
    /// Fuel used by all runs.
    pub fuel: u64,
    /// Time in the guest per run (calls excluded).
    pub run: Latency,
    /// Acceptance to outcome per message.
    pub latency: Latency,
    /// Time waiting in the buffer per run.
    pub wait: Latency,
}

impl FunctionStats {
    /// Messages given to an actor that was already warm (runs minus actors created).
    pub fn reused(&self) -> u64 {
        self.runs.saturating_sub(self.spawned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_close() {
        let mut last = 0;
        for us in [0u64, 1, 7, 8, 9, 15, 16, 100, 1_000, 12_345, 1 << 40] {
            let b = bucket(us);
            assert!(b >= last, "{us}");
            last = b;
            let floor = bucket_floor(b);
            assert!(floor <= us && us - floor <= us / 8 + 1, "{us} -> {floor}");
        }
    }

    #[test]
    fn percentiles() {
        let h = Histogram::default();
        for us in 1..=100u64 {
            h.record(Duration::from_micros(us));
        }
        let l = h.snapshot();
        assert_eq!(l.count, 100);
        assert!((44..=50).contains(&l.p50.as_micros()), "{:?}", l.p50);
        assert!((88..=99).contains(&l.p99.as_micros()), "{:?}", l.p99);
        assert_eq!(l.mean, Duration::from_micros(50));
    }
}
