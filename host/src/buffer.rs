//! The clocked driver of the SIM buffer: one task per function that sleeps
//! until core's `poll_timeout()` and then calls `handle_timeout(now)`, so
//! deadlines, max waits and idle times fire on a real clock.
//!
//! Whoever makes a transition re-arms the timer with the new earliest
//! deadline; the task wakes only when that is earlier than what it sleeps for.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use goldfish_core::Tick;
use tokio::sync::Notify;

use crate::dispatcher::{drive, Function};
use crate::node::NodeInner;

/// The earliest instant a function's timer task must wake at.
pub(crate) struct Timer {
    armed: AtomicU64,
    wake: Notify,
    closed: AtomicBool,
}

impl Default for Timer {
    fn default() -> Self {
        Timer {
            armed: AtomicU64::new(u64::MAX),
            wake: Notify::new(),
            closed: AtomicBool::new(false),
        }
    }
}

impl Timer {
    /// Asks for a wake-up at `t` (no-op if one is due earlier).
    pub(crate) fn arm(&self, t: Tick) {
        let before = self.armed.fetch_min(t.as_micros(), Ordering::AcqRel);
        if t.as_micros() < before {
            self.wake.notify_one();
        }
    }

    /// Stops the task.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.wake.notify_one();
    }
}

/// Starts the timer task of `f`.
pub(crate) fn start(node: &Arc<NodeInner>, f: &Arc<Function>) {
    let (node, f) = (Arc::downgrade(node), Arc::downgrade(f));
    let runtime = match node.upgrade() {
        Some(n) => n.runtime.clone(),
        None => return,
    };
    runtime.spawn(run(node, f));
}

async fn run(node: Weak<NodeInner>, f: Weak<Function>) {
    // The task holds its function (closed on undeploy, shutdown or when the
    // node is dropped) but never the node across a sleep.
    let Some(f) = f.upgrade() else {
        return;
    };
    loop {
        if f.timer.closed.load(Ordering::Acquire) {
            return;
        }
        // Listen before reading the deadline, so an earlier arm is not missed.
        let woken = f.timer.wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let next = f.next_timeout();
        f.timer
            .armed
            .store(next.map_or(u64::MAX, Tick::as_micros), Ordering::Release);
        let Some(t) = next else {
            woken.await;
            continue;
        };
        let Some(at) = node.upgrade().map(|n| n.clock.instant(t)) else {
            return;
        };
        tokio::select! {
            _ = tokio::time::sleep_until(at) => {
                let Some(node) = node.upgrade() else {
                    return;
                };
                let work = f.on_timeout();
                drive(&node, work, None, 0);
            }
            _ = &mut woken => {}
        }
    }
}
