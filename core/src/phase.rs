//! The LCM (lifecycle model): an actor's phases and every legal move between them.
//!
//! ```text
//!            Started            Deliver(m)
//!  Created ──────────▶ Suspended ──────────▶ Running ──Finish──▶ Completed
//!     │                  ▲  │  │                │                │  │
//!     │ StartFailed      │  │  │ IdleTimeout    │ Fault          │  │ Stop
//!     ▼                  │  │  │ Shutdown       ▼                │  ▼
//!   Error ◀──────────────┼──┼──┼──────────── Error         Resume│ Terminated
//!     │ Reap             └──┼──┼─────────────────────────────────┘
//!     ▼                     ▼  ▼
//!  Terminated           Terminated
//! ```
//!
//! An event that is wrong for the phase is a typed [`LifecycleError`], never a
//! panic (rustls's habit): the caller learns what the phase was and what came.

use core::fmt;

use crate::ids::MessageId;
use crate::time::{Span, Tick};

/// A phase of the LCM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Phase {
    /// Being instantiated; resources reserved, not yet able to take a message.
    Created,
    /// Alive and idle, keeping its memory (short-term state) for the next message.
    Suspended,
    /// Processing exactly one message (proactive message blocking, S1).
    Running,
    /// Finished its message; the outcome is final. Next: Suspended or Terminated.
    Completed,
    /// Failed to start or trapped while running; its message, if any, is released.
    Error,
    /// Gone: holds no message and receives none (S5).
    Terminated,
}

impl Phase {
    /// Whether the actor still exists (not Terminated).
    pub const fn is_live(self) -> bool {
        !matches!(self, Phase::Terminated)
    }

    /// The phase's name in the paper's capitals, for logs and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            Phase::Created => "CREATED",
            Phase::Suspended => "SUSPENDED",
            Phase::Running => "RUNNING",
            Phase::Completed => "COMPLETED",
            Phase::Error => "ERROR",
            Phase::Terminated => "TERMINATED",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something that happens to an actor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LifecycleEvent {
    /// Instantiation finished: Created -> Suspended.
    Started,
    /// Instantiation failed: Created -> Error.
    StartFailed,
    /// A message is handed over: Suspended -> Running.
    Deliver(MessageId),
    /// The guest returned: Running -> Completed.
    Finish,
    /// The guest trapped (or ran out of fuel or memory): Running -> Error.
    Fault,
    /// Ready for the next message: Completed -> Suspended.
    Resume,
    /// Done for good (the Stop disposition, or a drain with nothing left):
    /// Completed -> Terminated.
    Stop,
    /// Clean up after an error: Error -> Terminated.
    Reap,
    /// The idle time has passed: Suspended -> Terminated, only if it has.
    IdleTimeout,
    /// The node is shutting down: Suspended -> Terminated now; Created,
    /// Running and Completed are marked draining and finish their work first.
    Shutdown,
}

impl LifecycleEvent {
    /// The event's name, for errors and logs.
    pub const fn name(self) -> &'static str {
        match self {
            LifecycleEvent::Started => "Started",
            LifecycleEvent::StartFailed => "StartFailed",
            LifecycleEvent::Deliver(_) => "Deliver",
            LifecycleEvent::Finish => "Finish",
            LifecycleEvent::Fault => "Fault",
            LifecycleEvent::Resume => "Resume",
            LifecycleEvent::Stop => "Stop",
            LifecycleEvent::Reap => "Reap",
            LifecycleEvent::IdleTimeout => "IdleTimeout",
            LifecycleEvent::Shutdown => "Shutdown",
        }
    }
}

/// What the caller must do after a transition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Nothing.
    None,
    /// Run this message in the actor.
    Run(MessageId),
    /// This message's outcome is final (the guest's reply).
    Complete(MessageId),
    /// This message is released for reprocessing (retry or failure).
    Release(MessageId),
    /// Release the actor's instance and memory.
    Drop,
}

/// An event that the current phase does not allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LifecycleError {
    /// No transition for this event from this phase.
    Illegal {
        /// The phase the actor was in.
        phase: Phase,
        /// The event's name.
        event: &'static str,
    },
    /// An idle timeout came before the actor had been idle long enough (S7).
    NotIdleLongEnough {
        /// How long it has been Suspended.
        idle_for: Span,
        /// The idle time it must reach.
        needed: Span,
    },
}

impl fmt::Display for LifecycleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LifecycleError::Illegal { phase, event } => {
                write!(f, "event {event} is not allowed in phase {phase}")
            }
            LifecycleError::NotIdleLongEnough { idle_for, needed } => write!(
                f,
                "actor has been idle for {idle_for}, it may only be terminated after {needed}"
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for LifecycleError {}

/// One actor's lifecycle: its phase, when it entered it, and its message in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Lifecycle {
    phase: Phase,
    since: Tick,
    in_flight: Option<MessageId>,
    draining: bool,
}

impl Lifecycle {
    /// A new actor, Created at `now`.
    pub const fn new(now: Tick) -> Self {
        Lifecycle {
            phase: Phase::Created,
            since: now,
            in_flight: None,
            draining: false,
        }
    }

    /// The current phase.
    pub const fn phase(&self) -> Phase {
        self.phase
    }

    /// When the current phase began.
    pub const fn since(&self) -> Tick {
        self.since
    }

    /// The message being run (Running and Completed), or released (Error).
    pub const fn in_flight(&self) -> Option<MessageId> {
        self.in_flight
    }

    /// Whether a shutdown has asked this actor to finish up.
    pub const fn is_draining(&self) -> bool {
        self.draining
    }

    /// When a Suspended actor becomes eligible for an idle timeout (`None`
    /// when it is not Suspended, or its idle time never ends).
    pub fn idle_deadline(&self, idle: Span) -> Option<Tick> {
        (self.phase == Phase::Suspended)
            .then(|| self.since.after(idle))
            .filter(|&t| t != Tick::NEVER)
    }

    /// Applies one event at `now`. `idle` is the function's idle time, used by
    /// [`LifecycleEvent::IdleTimeout`].
    pub fn handle(
        &mut self,
        now: Tick,
        event: LifecycleEvent,
        idle: Span,
    ) -> Result<Effect, LifecycleError> {
        use LifecycleEvent as E;
        use Phase as P;
        let illegal = LifecycleError::Illegal {
            phase: self.phase,
            event: event.name(),
        };
        let (next, effect) = match (self.phase, event) {
            (P::Created, E::Started) => (P::Suspended, Effect::None),
            (P::Created, E::StartFailed) => (P::Error, Effect::None),
            (P::Suspended, E::Deliver(m)) => {
                self.in_flight = Some(m);
                (P::Running, Effect::Run(m))
            }
            (P::Running, E::Finish) => match self.in_flight {
                Some(m) => (P::Completed, Effect::Complete(m)),
                None => return Err(illegal),
            },
            (P::Running, E::Fault) => match self.in_flight {
                Some(m) => (P::Error, Effect::Release(m)),
                None => return Err(illegal),
            },
            (P::Completed, E::Resume) => {
                self.in_flight = None;
                (P::Suspended, Effect::None)
            }
            (P::Completed, E::Stop) => {
                self.in_flight = None;
                (P::Terminated, Effect::Drop)
            }
            (P::Error, E::Reap) => {
                self.in_flight = None;
                (P::Terminated, Effect::Drop)
            }
            (P::Suspended, E::IdleTimeout) => {
                let idle_for = now.since(self.since);
                if idle_for < idle {
                    return Err(LifecycleError::NotIdleLongEnough {
                        idle_for,
                        needed: idle,
                    });
                }
                (P::Terminated, Effect::Drop)
            }
            (P::Suspended, E::Shutdown) => {
                self.draining = true;
                (P::Terminated, Effect::Drop)
            }
            (P::Created | P::Running | P::Completed | P::Error, E::Shutdown) => {
                self.draining = true;
                return Ok(Effect::None);
            }
            _ => return Err(illegal),
        };
        self.phase = next;
        self.since = now;
        Ok(effect)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDLE: Span = Span(100);
    const M: MessageId = MessageId(7);

    fn at(phase: Phase) -> Lifecycle {
        let mut l = Lifecycle::new(Tick(0));
        let path: &[LifecycleEvent] = match phase {
            Phase::Created => &[],
            Phase::Suspended => &[LifecycleEvent::Started],
            Phase::Running => &[LifecycleEvent::Started, LifecycleEvent::Deliver(M)],
            Phase::Completed => &[
                LifecycleEvent::Started,
                LifecycleEvent::Deliver(M),
                LifecycleEvent::Finish,
            ],
            Phase::Error => &[LifecycleEvent::StartFailed],
            Phase::Terminated => &[LifecycleEvent::StartFailed, LifecycleEvent::Reap],
        };
        for &e in path {
            l.handle(Tick(0), e, IDLE).unwrap();
        }
        assert_eq!(l.phase(), phase);
        l
    }

    const PHASES: [Phase; 6] = [
        Phase::Created,
        Phase::Suspended,
        Phase::Running,
        Phase::Completed,
        Phase::Error,
        Phase::Terminated,
    ];
    const EVENTS: [LifecycleEvent; 10] = [
        LifecycleEvent::Started,
        LifecycleEvent::StartFailed,
        LifecycleEvent::Deliver(M),
        LifecycleEvent::Finish,
        LifecycleEvent::Fault,
        LifecycleEvent::Resume,
        LifecycleEvent::Stop,
        LifecycleEvent::Reap,
        LifecycleEvent::IdleTimeout,
        LifecycleEvent::Shutdown,
    ];

    /// The whole table: phase x event -> next phase and effect, or an error.
    fn expected(p: Phase, e: LifecycleEvent) -> Option<(Phase, Effect)> {
        use LifecycleEvent as E;
        use Phase as P;
        Some(match (p, e) {
            (P::Created, E::Started) => (P::Suspended, Effect::None),
            (P::Created, E::StartFailed) => (P::Error, Effect::None),
            (P::Suspended, E::Deliver(m)) => (P::Running, Effect::Run(m)),
            (P::Running, E::Finish) => (P::Completed, Effect::Complete(M)),
            (P::Running, E::Fault) => (P::Error, Effect::Release(M)),
            (P::Completed, E::Resume) => (P::Suspended, Effect::None),
            (P::Completed, E::Stop) => (P::Terminated, Effect::Drop),
            (P::Error, E::Reap) => (P::Terminated, Effect::Drop),
            (P::Suspended, E::IdleTimeout) => (P::Terminated, Effect::Drop),
            (P::Suspended, E::Shutdown) => (P::Terminated, Effect::Drop),
            (P::Created | P::Running | P::Completed | P::Error, E::Shutdown) => (p, Effect::None),
            _ => return None,
        })
    }

    #[test]
    fn every_phase_and_event_follows_the_table() {
        for p in PHASES {
            for e in EVENTS {
                let mut l = at(p);
                // Late enough for the idle timeout to be allowed.
                let got = l.handle(Tick(1_000), e, IDLE);
                match expected(p, e) {
                    Some((next, effect)) => {
                        assert_eq!(got, Ok(effect), "{p:?} x {e:?}");
                        assert_eq!(l.phase(), next, "{p:?} x {e:?}");
                    }
                    None => {
                        assert_eq!(
                            got,
                            Err(LifecycleError::Illegal {
                                phase: p,
                                event: e.name()
                            }),
                            "{p:?} x {e:?}"
                        );
                        assert_eq!(l.phase(), p, "an illegal event changes nothing");
                    }
                }
            }
        }
    }

    #[test]
    fn idle_timeout_waits_for_the_idle_time() {
        let mut l = Lifecycle::new(Tick(0));
        l.handle(Tick(10), LifecycleEvent::Started, IDLE).unwrap();
        assert_eq!(l.idle_deadline(IDLE), Some(Tick(110)));
        assert_eq!(
            l.handle(Tick(109), LifecycleEvent::IdleTimeout, IDLE),
            Err(LifecycleError::NotIdleLongEnough {
                idle_for: Span(99),
                needed: IDLE
            })
        );
        assert_eq!(l.phase(), Phase::Suspended);
        assert_eq!(
            l.handle(Tick(110), LifecycleEvent::IdleTimeout, IDLE),
            Ok(Effect::Drop)
        );
        assert_eq!(l.idle_deadline(IDLE), None);
    }

    #[test]
    fn a_fault_releases_the_message_in_flight() {
        let mut l = at(Phase::Running);
        assert_eq!(l.in_flight(), Some(M));
        assert_eq!(
            l.handle(Tick(1), LifecycleEvent::Fault, IDLE),
            Ok(Effect::Release(M))
        );
        assert_eq!(
            l.handle(Tick(2), LifecycleEvent::Reap, IDLE),
            Ok(Effect::Drop)
        );
        assert_eq!(l.in_flight(), None);
        assert_eq!(l.phase(), Phase::Terminated);
    }

    #[test]
    fn shutdown_drains_a_running_actor() {
        let mut l = at(Phase::Running);
        assert_eq!(
            l.handle(Tick(1), LifecycleEvent::Shutdown, IDLE),
            Ok(Effect::None)
        );
        assert!(l.is_draining());
        assert_eq!(l.phase(), Phase::Running);
        assert_eq!(
            l.handle(Tick(2), LifecycleEvent::Finish, IDLE),
            Ok(Effect::Complete(M))
        );
        assert_eq!(
            l.handle(Tick(3), LifecycleEvent::Stop, IDLE),
            Ok(Effect::Drop)
        );
    }
}
