//! The gate: the lock-free "one message at a time" claim on an actor, for a
//! multi-threaded scheduler (the paper's proactive message blocking).
//!
//! A scheduler gives each actor a mailbox (any MPSC queue) and a [`Gate`], a
//! single atomic word:
//!
//! ```text
//!   RUNNING          a scheduler owns the actor and is draining its mailbox
//!   NOTIFIED         a message was pushed while it ran; look again before idling
//!   CLOSE_REQUESTED  terminate once the mailbox is empty
//!   CLOSED           terminated (LCM: Terminated); nothing runs any more
//! ```
//!
//! The protocol, which the loom tests in `tests/loom_gate.rs` check:
//!
//! - **Producer**: push the message into the mailbox, *then* call
//!   [`Gate::notify`]. [`Notified::Claimed`]: you own the actor, run it.
//!   [`Notified::Running`]: its owner will see your message. [`Notified::Closed`]:
//!   the actor is gone; drain the mailbox and route what you find elsewhere
//!   (your message may already have been taken by whoever closed it).
//! - **Runner** (whoever holds the claim): pop and run messages until the
//!   mailbox is empty, then call [`Gate::release`]. [`Released::Again`]: a
//!   message arrived meanwhile, pop again. [`Released::Idle`]: done.
//!   [`Released::Closed`]: a close was requested and you closed it; drain the
//!   mailbox and route leftovers elsewhere.
//! - **Terminator** (idle timeout, shutdown): [`Gate::close`]. It closes an
//!   idle actor at once (then drain the mailbox and route leftovers) or asks
//!   the runner to close it after its last message.
//!
//! Why nothing is stranded: a producer's push happens before its notify, and a
//! runner only goes idle by a compare-and-swap that fails if a notify came in
//! since it last looked; if the runner went idle first, the notify sees an idle
//! gate and claims it. Why nothing runs twice: only one compare-and-swap from
//! idle to RUNNING can win, and a popped message is gone from the mailbox.

use crate::loom::{AtomicUsize, Ordering};

const RUNNING: usize = 0b0001;
const NOTIFIED: usize = 0b0010;
const CLOSE_REQUESTED: usize = 0b0100;
const CLOSED: usize = 0b1000;

/// What a producer must do after pushing a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Notified {
    /// The actor was idle and you now own it: run its mailbox.
    Claimed,
    /// The actor is running; its owner will take your message.
    Running,
    /// The actor is terminated: drain its mailbox and route the messages elsewhere.
    Closed,
}

/// What a runner must do after finding the mailbox empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Released {
    /// The actor is idle; you no longer own it.
    Idle,
    /// A message arrived meanwhile; you still own it: pop again.
    Again,
    /// You closed the actor as requested: drain its mailbox and route the
    /// messages elsewhere.
    Closed,
}

/// What a close request did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Closing {
    /// It was idle and is now closed: drain its mailbox and route leftovers.
    Closed,
    /// It is running; its runner will close it after its last message.
    Deferred,
    /// It was already closed (or a close is already under way).
    AlreadyClosed,
}

/// The claim and mailbox state word of one actor.
#[derive(Debug)]
pub struct Gate {
    state: AtomicUsize,
}

impl Default for Gate {
    fn default() -> Self {
        Gate::new()
    }
}

impl Gate {
    /// An idle gate (the actor is Suspended).
    #[cfg(not(loom))]
    pub const fn new() -> Gate {
        Gate {
            state: AtomicUsize::new(0),
        }
    }

    /// An idle gate (the actor is Suspended).
    #[cfg(loom)]
    pub fn new() -> Gate {
        Gate {
            state: AtomicUsize::new(0),
        }
    }

    /// Producer side: call after pushing a message into the mailbox.
    pub fn notify(&self) -> Notified {
        let mut cur = self.state.load(Ordering::Acquire);
        loop {
            let (next, result) = if cur & CLOSED != 0 {
                return Notified::Closed;
            } else if cur & RUNNING != 0 {
                if cur & NOTIFIED != 0 {
                    return Notified::Running;
                }
                (cur | NOTIFIED, Notified::Running)
            } else {
                (RUNNING, Notified::Claimed)
            };
            match self
                .state
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return result,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Claims an idle actor without a new message (e.g. a scheduler that
    /// found its mailbox non-empty). Returns whether the caller now owns it.
    pub fn try_claim(&self) -> bool {
        self.state
            .compare_exchange(0, RUNNING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Runner side: the mailbox looked empty; give up the claim unless a
    /// message arrived meanwhile.
    pub fn release(&self) -> Released {
        let mut cur = self.state.load(Ordering::Acquire);
        loop {
            debug_assert!(cur & RUNNING != 0, "release without a claim");
            let (next, result) = if cur & NOTIFIED != 0 {
                (cur & !NOTIFIED, Released::Again)
            } else if cur & CLOSE_REQUESTED != 0 {
                (CLOSED, Released::Closed)
            } else {
                (0, Released::Idle)
            };
            match self
                .state
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return result,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Terminator side: close the actor now if idle, or after its current run.
    pub fn close(&self) -> Closing {
        let mut cur = self.state.load(Ordering::Acquire);
        loop {
            let (next, result) = if cur & (CLOSED | CLOSE_REQUESTED) != 0 {
                return Closing::AlreadyClosed;
            } else if cur & RUNNING != 0 {
                (cur | CLOSE_REQUESTED, Closing::Deferred)
            } else {
                (CLOSED, Closing::Closed)
            };
            match self
                .state
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return result,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Closes the actor only if it is idle (an idle timeout must not cut a
    /// run short). Returns whether it closed; then drain the mailbox.
    pub fn close_if_idle(&self) -> bool {
        self.state
            .compare_exchange(0, CLOSED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Whether the actor is terminated.
    pub fn is_closed(&self) -> bool {
        self.state.load(Ordering::Acquire) & CLOSED != 0
    }

    /// Whether some scheduler owns the actor now.
    pub fn is_running(&self) -> bool {
        self.state.load(Ordering::Acquire) & RUNNING != 0
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_producer_claims_an_idle_actor_and_a_second_one_does_not() {
        let g = Gate::new();
        assert_eq!(g.notify(), Notified::Claimed);
        assert!(g.is_running());
        assert_eq!(g.notify(), Notified::Running);
        assert_eq!(g.notify(), Notified::Running);
        assert!(!g.try_claim());
        assert_eq!(g.release(), Released::Again);
        assert_eq!(g.release(), Released::Idle);
        assert!(!g.is_running());
        assert!(g.try_claim());
        assert_eq!(g.release(), Released::Idle);
    }

    #[test]
    fn close_waits_for_the_runner() {
        let g = Gate::new();
        assert_eq!(g.notify(), Notified::Claimed);
        assert_eq!(g.close(), Closing::Deferred);
        assert_eq!(g.close(), Closing::AlreadyClosed);
        assert!(!g.close_if_idle());
        assert_eq!(g.notify(), Notified::Running);
        assert_eq!(g.release(), Released::Again);
        assert_eq!(g.release(), Released::Closed);
        assert!(g.is_closed());
        assert_eq!(g.notify(), Notified::Closed);
        assert!(!g.try_claim());
    }

    #[test]
    fn an_idle_actor_closes_at_once() {
        let g = Gate::new();
        assert!(g.close_if_idle());
        assert_eq!(g.notify(), Notified::Closed);
        let g = Gate::new();
        assert_eq!(g.close(), Closing::Closed);
        assert_eq!(g.close(), Closing::AlreadyClosed);
    }
}
