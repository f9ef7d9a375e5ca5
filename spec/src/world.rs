//! The world the checks run in: goldfish-core's real dispatcher, and a host
//! that drives it as `goldfish-host` does (make instances, run messages,
//! report back, hand outcomes to callers, keep the clock), recording what it
//! was told.
//!
//! Every change to the dispatcher goes through its public `handle_*` inputs,
//! [`Dispatcher::set_disposition`](goldfish_core::Dispatcher::set_disposition)
//! and a full [`poll_output`](goldfish_core::Dispatcher::poll_output) drain;
//! nothing here re-implements a transition. Both the stateright model
//! ([`crate::model`]) and the Quint trace replay ([`crate::replay`]) drive a
//! [`World`].
//!
//! A [`Bug`] makes the host misbehave in one precise way, to show that each
//! property of [`crate::properties`] catches what it should (core itself
//! cannot be broken from outside).

use goldfish_core::buffer::EntryState;
use goldfish_core::{
    ActorKey, Arrival, Decision, DispatchError, Disposition, FaultKind, FixedDispatcher, MessageId,
    MessageMeta, Output, Phase, Queue, Slot, Target, Termination, Tick, Verdict,
};

use crate::constants::Constants;

/// Actor slots of the dispatcher under check (at least `2 * MAX_INSTANCES`).
pub const ACTOR_SLOTS: usize = 4;
/// Entry slots of the dispatcher under check (at least `BUFFER_COUNT + MAX_INSTANCES`).
pub const ENTRY_SLOTS: usize = 4;

/// The dispatcher under check: core's, over arrays.
pub type SpecDispatcher = FixedDispatcher<ACTOR_SLOTS, ENTRY_SLOTS>;

/// What kind of message the client sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Anycast, to any instance of the function.
    Anycast,
    /// Anycast with the session key.
    Session,
    /// Addressed to the one actor with the key.
    Addressed,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 3] = [Kind::Anycast, Kind::Session, Kind::Addressed];

    /// The message's real payload size.
    pub fn bytes(self, c: &Constants) -> u32 {
        match self {
            Kind::Anycast | Kind::Session => c.anycast_bytes,
            Kind::Addressed => c.addressed_bytes,
        }
    }
}

/// One way the host misbehaves (see [`crate::broken`] for what each breaks).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Bug {
    /// A correct host.
    None,
    /// When a message is queued for a busy actor, the host also runs it on
    /// that actor at once (it bypasses the queue).
    RunOnBusy,
    /// The host hands a `Replied` outcome to the caller twice.
    DuplicateOutcome,
    /// The host drops `Expired` outcomes (the caller never hears back).
    DropExpiredOutcome,
    /// The host tells the dispatcher that addressed payloads are empty, so it
    /// never checks their bytes against the buffer's limit.
    UnderreportSize,
    /// The host remembers which slot the addressed actor lived in, and runs a
    /// new message for the key there at once, even after the actor was
    /// terminated (a stale route).
    StaleRoute,
    /// The host reports the end of a run with the time the run started.
    StaleFinishTime,
    /// The host never finishes making an addressed actor's instance.
    HungStart,
}

/// A message the client sent, as the host knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Sent {
    /// Its kind.
    pub kind: Kind,
    /// Its real payload size.
    pub bytes: u32,
    /// Whether the dispatcher accepted it (Deliver, Enqueue or Spawn).
    pub accepted: bool,
    /// How many outcomes the caller received.
    pub outcomes: u8,
}

/// An instance the host keeps: announced by `Spawn`, dropped on `Terminated`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Instance {
    /// Its slot.
    pub slot: Slot,
    /// Its key.
    pub key: ActorKey,
    /// Spawned and not yet reported started (or failed) by the host.
    pub creating: bool,
    /// The host's clock when it saw the actor become Suspended.
    pub suspended_at: Option<Tick>,
}

/// A message the host is running.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Run {
    /// The actor's slot.
    pub slot: Slot,
    /// The message.
    pub message: MessageId,
    /// Which try.
    pub attempt: u32,
    /// When the run began.
    pub started_at: Tick,
    /// The guest already set a disposition in this run.
    pub disposed: bool,
}

/// An actor terminated for idleness in the last step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IdleEnd {
    /// Its slot.
    pub slot: Slot,
    /// Its key.
    pub key: ActorKey,
    /// When the host saw it become Suspended.
    pub suspended_at: Option<Tick>,
}

/// What the host knows and did.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Host {
    /// The host's clock.
    pub now: Tick,
    /// Every message sent, in order: message `i + 1` is `messages[i]`.
    pub messages: Vec<Sent>,
    /// Instances, by slot.
    pub instances: Vec<Instance>,
    /// Runs in flight, by slot.
    pub runs: Vec<Run>,
    /// Idle terminations of the last step.
    pub idle_ends: Vec<IdleEnd>,
    /// Evictions so far.
    pub evictions: u8,
    /// [`Bug::StaleRoute`]: where the addressed actor last lived.
    pub stale: Option<Slot>,
    /// The first broken call contract: an input the dispatcher refused, or an output the host could not place.
    pub contract: Option<&'static str>,
}

/// The dispatcher and its host: the state of the model check.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct World {
    /// Core's dispatcher.
    pub d: SpecDispatcher,
    /// The host's record.
    pub host: Host,
}

/// The id of the `n`-th message sent (from 1).
pub fn message_id(n: usize) -> MessageId {
    MessageId(n as u128)
}

impl World {
    /// A fresh node at time zero.
    pub fn new(c: &Constants) -> World {
        let d = SpecDispatcher::new(
            c.function,
            c.limits,
            [None; ACTOR_SLOTS],
            [None; ENTRY_SLOTS],
        )
        .unwrap_or_else(|e| panic!("the dispatcher under check refuses the constants: {e}"));
        World {
            d,
            host: Host {
                now: Tick::ZERO,
                messages: Vec::new(),
                instances: Vec::new(),
                runs: Vec::new(),
                idle_ends: Vec::new(),
                evictions: 0,
                stale: None,
                contract: None,
            },
        }
    }

    /// The message with this id, as sent.
    pub fn sent(&self, m: MessageId) -> Option<&Sent> {
        usize::try_from(m.0)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| self.host.messages.get(i))
    }

    /// The host's instance in `slot`.
    pub fn instance(&self, slot: Slot) -> Option<&Instance> {
        self.host.instances.iter().find(|i| i.slot == slot)
    }

    /// The first run the host has in `slot`.
    pub fn run_in(&self, slot: Slot) -> Option<&Run> {
        self.host.runs.iter().find(|r| r.slot == slot)
    }

    /// The client sends its next message.
    pub fn send(
        &mut self,
        c: &Constants,
        kind: Kind,
        bug: Bug,
    ) -> Result<(Decision, Vec<Output>), DispatchError> {
        let id = message_id(self.host.messages.len() + 1);
        let now = self.host.now;
        let bytes = kind.bytes(c);
        let meta = MessageMeta {
            id,
            target: match kind {
                Kind::Addressed => Target::Actor(c.function, c.key),
                Kind::Anycast | Kind::Session => Target::Function(c.function),
            },
            session: (kind == Kind::Session).then_some(c.session),
            bytes: if bug == Bug::UnderreportSize && kind == Kind::Addressed {
                0
            } else {
                bytes
            },
            deadline: now.after(c.ttl),
            attempt: 1,
        };
        let decision = self.d.handle_arrival(now, &Arrival::local(meta))?;
        self.host.messages.push(Sent {
            kind,
            bytes,
            accepted: decision.is_accepted(),
            outcomes: 0,
        });
        match (bug, decision) {
            (Bug::RunOnBusy, Decision::Enqueue(Queue::Actor(slot)))
                if self.run_in(slot).is_some() =>
            {
                self.begin_run(slot, id, 1);
            }
            (Bug::StaleRoute, Decision::Spawn) if kind == Kind::Addressed => {
                if let Some(slot) = self.host.stale.filter(|s| self.instance(*s).is_none()) {
                    self.begin_run(slot, id, 1);
                }
            }
            _ => {}
        }
        Ok((decision, self.drain(bug)))
    }

    /// The instance in `slot` is ready.
    pub fn started(&mut self, slot: Slot, bug: Bug) -> Result<Vec<Output>, DispatchError> {
        self.d.handle_started(self.host.now, slot)?;
        if let Some(i) = self.host.instances.iter_mut().find(|i| i.slot == slot) {
            i.creating = false;
        }
        Ok(self.drain(bug))
    }

    /// The instance in `slot` could not be made.
    pub fn start_failed(&mut self, slot: Slot, bug: Bug) -> Result<Vec<Output>, DispatchError> {
        self.d
            .handle_start_failed(self.host.now, slot, FaultKind::StartFailed)?;
        if let Some(i) = self.host.instances.iter_mut().find(|i| i.slot == slot) {
            i.creating = false;
        }
        Ok(self.drain(bug))
    }

    /// The guest running in `slot` asks for `disposition` next.
    pub fn set_disposition(
        &mut self,
        slot: Slot,
        disposition: Disposition,
    ) -> Result<Vec<Output>, DispatchError> {
        self.d.set_disposition(slot, disposition)?;
        if let Some(r) = self.host.runs.iter_mut().find(|r| r.slot == slot) {
            r.disposed = true;
        }
        // A command, not an input: nothing to drain.
        Ok(Vec::new())
    }

    /// The guest running in `slot` returns.
    pub fn finish(&mut self, slot: Slot, bug: Bug) -> Result<Vec<Output>, DispatchError> {
        let run = self.take_run(slot)?;
        let at = if bug == Bug::StaleFinishTime {
            run.started_at
        } else {
            self.host.now
        };
        self.d
            .handle_finished(at, slot, run.message)
            .inspect_err(|_| self.put_back(run))?;
        Ok(self.drain(bug))
    }

    /// The guest running in `slot` traps.
    pub fn fault(&mut self, slot: Slot, bug: Bug) -> Result<Vec<Output>, DispatchError> {
        let run = self.take_run(slot)?;
        self.d
            .handle_fault(self.host.now, slot, run.message, FaultKind::Trap)
            .inspect_err(|_| self.put_back(run))?;
        Ok(self.drain(bug))
    }

    /// The clock reaches `to`.
    pub fn advance(&mut self, to: Tick, bug: Bug) -> Result<Vec<Output>, DispatchError> {
        self.host.now = self.host.now.max(to);
        self.d.handle_timeout(self.host.now)?;
        Ok(self.drain(bug))
    }

    /// The node shuts down.
    pub fn shutdown(&mut self, bug: Bug) -> Result<Vec<Output>, DispatchError> {
        self.d.handle_shutdown(self.host.now)?;
        Ok(self.drain(bug))
    }

    /// The node loses its cluster lease.
    pub fn evict(&mut self, bug: Bug) -> Result<Vec<Output>, DispatchError> {
        self.d.handle_evict(self.host.now)?;
        self.host.evictions += 1;
        Ok(self.drain(bug))
    }

    /// The node holds a lease again.
    pub fn restore(&mut self, bug: Bug) -> Result<Vec<Output>, DispatchError> {
        self.d.handle_restore(self.host.now)?;
        Ok(self.drain(bug))
    }

    fn take_run(&mut self, slot: Slot) -> Result<Run, DispatchError> {
        let i = self
            .host
            .runs
            .iter()
            .position(|r| r.slot == slot)
            .ok_or(DispatchError::NoSuchActor(slot))?;
        Ok(self.host.runs.remove(i))
    }

    fn put_back(&mut self, run: Run) {
        self.host.runs.push(run);
        self.host.runs.sort();
    }

    fn begin_run(&mut self, slot: Slot, message: MessageId, attempt: u32) {
        self.host.runs.push(Run {
            slot,
            message,
            attempt,
            started_at: self.host.now,
            disposed: false,
        });
        self.host.runs.sort();
    }

    /// Polls every output and acts on it as a host does; then notes which
    /// actors are Suspended (for S7).
    fn drain(&mut self, bug: Bug) -> Vec<Output> {
        self.host.idle_ends.clear();
        let mut outputs = Vec::new();
        while let Some(o) = self.d.poll_output() {
            outputs.push(o);
            match o {
                Output::Spawn { slot, actor } => {
                    if self.instance(slot).is_some() {
                        self.host
                            .contract
                            .get_or_insert("spawn into a slot the host still uses");
                    }
                    self.host.instances.push(Instance {
                        slot,
                        key: actor.key,
                        creating: true,
                        suspended_at: None,
                    });
                    self.host.instances.sort_by_key(|i| i.slot);
                }
                Output::Run {
                    slot,
                    message,
                    attempt,
                    ..
                } => self.begin_run(slot, message, attempt),
                Output::Outcome { message, verdict } => {
                    let times = match (bug, verdict) {
                        (Bug::DropExpiredOutcome, Verdict::Expired) => 0,
                        (Bug::DuplicateOutcome, Verdict::Replied) => 2,
                        _ => 1,
                    };
                    let i = (message.0 as usize).wrapping_sub(1);
                    match self.host.messages.get_mut(i) {
                        Some(s) => s.outcomes = s.outcomes.saturating_add(times),
                        None => {
                            self.host
                                .contract
                                .get_or_insert("outcome for a message never sent");
                        }
                    }
                }
                Output::Terminated { slot, actor, cause } => {
                    let i = self.host.instances.iter().position(|i| i.slot == slot);
                    let gone = i.map(|i| self.host.instances.remove(i));
                    if gone.is_none() {
                        self.host
                            .contract
                            .get_or_insert("termination of an unknown instance");
                    }
                    if cause == Termination::Idle {
                        self.host.idle_ends.push(IdleEnd {
                            slot,
                            key: actor.key,
                            suspended_at: gone.and_then(|g| g.suspended_at),
                        });
                    }
                    if bug == Bug::StaleRoute && matches!(actor.key, ActorKey::Keyed(_)) {
                        self.host.stale = Some(slot);
                    }
                }
            }
        }
        let now = self.host.now;
        for i in &mut self.host.instances {
            let suspended = self
                .d
                .actor(i.slot)
                .is_some_and(|a| a.phase == Phase::Suspended);
            i.suspended_at = if suspended {
                Some(i.suspended_at.unwrap_or(now))
            } else {
                None
            };
        }
        outputs
    }

    /// Waiting messages, oldest first: id, pin, overdue, attempt.
    pub fn waiting(&self) -> Vec<(MessageId, Option<Slot>, bool, u32)> {
        let mut w: Vec<_> = self
            .d
            .buffer()
            .iter()
            .filter_map(|(_, e)| match e.state {
                EntryState::Waiting { pin, overdue, .. } => {
                    Some((e.seq, (e.meta.id, pin, overdue, e.meta.attempt)))
                }
                _ => None,
            })
            .collect();
        w.sort_by_key(|(seq, _)| *seq);
        w.into_iter().map(|(_, x)| x).collect()
    }
}

#[cfg(test)]
mod tests {
    use goldfish_core::dispatcher::{actor_slots, entry_slots};

    use super::*;

    #[test]
    fn the_storage_fits_the_constants_exactly() {
        let c = Constants::load().unwrap();
        assert_eq!(ACTOR_SLOTS, actor_slots(&c.limits), "update ACTOR_SLOTS");
        assert_eq!(ENTRY_SLOTS, entry_slots(&c.limits), "update ENTRY_SLOTS");
    }

    #[test]
    fn a_host_drives_one_message_through() {
        let c = Constants::load().unwrap();
        let mut w = World::new(&c);
        let (d, out) = w.send(&c, Kind::Anycast, Bug::None).unwrap();
        assert_eq!(d, Decision::Spawn);
        assert!(matches!(out[..], [Output::Spawn { slot: Slot(0), .. }]));
        assert!(w.instance(Slot(0)).is_some_and(|i| i.creating));
        let out = w.started(Slot(0), Bug::None).unwrap();
        assert!(matches!(out[..], [Output::Run { attempt: 1, .. }]));
        assert_eq!(w.run_in(Slot(0)).map(|r| r.message), Some(message_id(1)));
        let out = w.finish(Slot(0), Bug::None).unwrap();
        assert_eq!(
            out,
            [Output::Outcome {
                message: message_id(1),
                verdict: Verdict::Replied
            }]
        );
        assert_eq!(w.host.messages[0].outcomes, 1);
        assert_eq!(
            w.instance(Slot(0)).and_then(|i| i.suspended_at),
            Some(Tick::ZERO)
        );
        let idle = w.d.poll_timeout().unwrap();
        let out = w.advance(idle, Bug::None).unwrap();
        assert!(matches!(
            out[..],
            [Output::Terminated {
                cause: Termination::Idle,
                ..
            }]
        ));
        assert_eq!(w.host.idle_ends.len(), 1);
        assert!(w.host.instances.is_empty() && w.host.runs.is_empty());
        // A host input the dispatcher refuses is an error, not a panic.
        assert!(w.finish(Slot(0), Bug::None).is_err());
    }
}
