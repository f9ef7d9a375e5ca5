//! The dispatcher: LCM and SIM together for one function on one node.
//!
//! It owns every actor's [`Lifecycle`] and the [`Buffer`], decides each
//! arrival with [`sim::decide`], and tells its caller what to do through
//! [`Output`]s. It does no I/O, reads no clock and never allocates: a host
//! (or any other scheduler) instantiates actors, runs messages and delivers
//! outcomes, and reports back.
//!
//! # Calling it (str0m's contract)
//!
//! - Inputs: [`Dispatcher::handle_arrival`], [`Dispatcher::handle_started`],
//!   [`Dispatcher::handle_start_failed`], [`Dispatcher::handle_finished`],
//!   [`Dispatcher::handle_fault`], [`Dispatcher::handle_timeout`],
//!   [`Dispatcher::handle_shutdown`]. Each mutates once.
//! - Outputs: after every input, call [`Dispatcher::poll_output`] until it
//!   returns `None`. An input made while outputs are pending is refused with
//!   [`DispatchError::OutputsPending`], which is what keeps the output queues
//!   bounded without a heap.
//! - Time: [`Dispatcher::poll_timeout`] is the next instant that matters; call
//!   [`Dispatcher::handle_timeout`] at (or after) it.
//! - Commands and getters: [`Dispatcher::set_disposition`] (from a running
//!   guest), [`Dispatcher::accepts`] (the decision an arrival would get, with
//!   no change), [`Dispatcher::actors`], [`Dispatcher::buffer`].
//!
//! # What it guarantees
//!
//! After every input (checked by the proptest state machine in `tests/`):
//! S1 one message at a time per actor; S3 every accepted message gets exactly
//! one outcome; S4 the waiting queue is within its limits; S5 a terminated
//! actor holds no message; S6 messages to one addressed actor run in
//! acceptance order; S7 an actor is terminated for idleness only after its
//! idle time with nothing queued for it.

use core::fmt;

use crate::buffer::{Buffer, Entry, EntryRef, EntryState};
use crate::ids::{ActorId, ActorKey, FunctionId, MessageId, Slot};
use crate::limits::{Limits, LimitsError};
use crate::message::{Disposition, FaultKind, Target, Verdict};
use crate::phase::{Lifecycle, LifecycleError, LifecycleEvent, Phase};
use crate::retry::{after_fault, Retry};
use crate::sim::{self, ActorView, Arrival, Context, Decision, Queue};
use crate::slab::{Slab, Storage};
use crate::time::Tick;

/// Why an actor was terminated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Termination {
    /// Suspended for its idle time with nothing queued (scale to zero).
    Idle,
    /// The actor asked to stop (the Stop disposition).
    Stopped,
    /// It failed to start or failed a message.
    Fault(FaultKind),
    /// The node shut down.
    Shutdown,
    /// The node may no longer host addressed actors (it lost its cluster lease).
    Evicted,
}

impl Termination {
    /// A short stable name, for metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            Termination::Idle => "idle",
            Termination::Stopped => "stopped",
            Termination::Fault(_) => "fault",
            Termination::Shutdown => "shutdown",
            Termination::Evicted => "evicted",
        }
    }
}

/// Something the caller must do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Create an instance for this actor, then call `handle_started` or
    /// `handle_start_failed` with the slot.
    Spawn {
        /// Its slot.
        slot: Slot,
        /// Who it is.
        actor: ActorId,
    },
    /// Run this message in the actor, then call `handle_finished` or `handle_fault`.
    Run {
        /// The actor's slot.
        slot: Slot,
        /// Who it is.
        actor: ActorId,
        /// The message.
        message: MessageId,
        /// Which try this is, from 1.
        attempt: u32,
    },
    /// Tell the caller of this message how it ended (exactly once, S3).
    Outcome {
        /// The message.
        message: MessageId,
        /// How it ended.
        verdict: Verdict,
    },
    /// Drop this actor's instance; its slot is free again.
    Terminated {
        /// Its slot.
        slot: Slot,
        /// Who it was.
        actor: ActorId,
        /// Why.
        cause: Termination,
    },
}

/// A broken call contract. Rejections, full buffers and expiries are not
/// errors; they are [`Decision`]s and [`Verdict`]s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DispatchError {
    /// Outputs from the last input have not all been polled.
    OutputsPending,
    /// The message is for another function.
    WrongFunction {
        /// This dispatcher's function.
        expected: FunctionId,
        /// The message's function.
        got: FunctionId,
    },
    /// A message with this id is already here.
    DuplicateMessage(MessageId),
    /// No actor in that slot.
    NoSuchActor(Slot),
    /// The actor is not running that message.
    WrongMessage {
        /// The actor's slot.
        slot: Slot,
        /// What it runs, if anything.
        running: Option<MessageId>,
        /// What the caller named.
        got: MessageId,
    },
    /// The actor's phase does not allow the event.
    Lifecycle(LifecycleError),
}

impl From<LifecycleError> for DispatchError {
    fn from(e: LifecycleError) -> Self {
        DispatchError::Lifecycle(e)
    }
}

impl fmt::Display for DispatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DispatchError::OutputsPending => {
                f.write_str("outputs are pending; poll_output until None before the next input")
            }
            DispatchError::WrongFunction { expected, got } => write!(
                f,
                "message for function `{got}` given to the dispatcher of `{expected}`"
            ),
            DispatchError::DuplicateMessage(m) => write!(f, "message {m} is already accepted"),
            DispatchError::NoSuchActor(s) => write!(f, "no actor in slot {}", s.0),
            DispatchError::WrongMessage { slot, running, got } => match running {
                Some(r) => write!(f, "actor in slot {} runs message {r}, not {got}", slot.0),
                None => write!(f, "actor in slot {} runs no message, not {got}", slot.0),
            },
            DispatchError::Lifecycle(e) => e.fmt(f),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for DispatchError {}

/// One actor as the dispatcher keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Actor {
    id: ActorId,
    life: Lifecycle,
    disposition: Disposition,
    job: Option<EntryRef>,
    job_id: Option<MessageId>,
    reported: bool,
    cause: Option<Termination>,
    messages: u64,
    /// Evicted while Created or Running: terminate instead of going on.
    evicted: bool,
}

/// A read-only view of one actor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActorInfo {
    /// Its slot.
    pub slot: Slot,
    /// Who it is.
    pub id: ActorId,
    /// Its LCM phase.
    pub phase: Phase,
    /// When it entered the phase (the start of its idle time when Suspended).
    pub since: Tick,
    /// What it asked for next.
    pub disposition: Disposition,
    /// The message it holds (assigned while Created, running while Running).
    pub job: Option<MessageId>,
    /// Messages it has been given.
    pub messages: u64,
}

/// [`Dispatcher`] over arrays: no heap at all.
pub type FixedDispatcher<const ACTORS: usize, const ENTRIES: usize> =
    Dispatcher<[Option<Actor>; ACTORS], [Option<Entry>; ENTRIES]>;

/// [`Dispatcher`] over boxed slices sized once from the limits.
#[cfg(feature = "alloc")]
pub type HeapDispatcher =
    Dispatcher<alloc::boxed::Box<[Option<Actor>]>, alloc::boxed::Box<[Option<Entry>]>>;

/// The LCM and SIM for one function on one node. See the module docs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Dispatcher<A, E> {
    function: FunctionId,
    limits: Limits,
    actors: Slab<Actor, A>,
    buffer: Buffer<E>,
    live: u32,
    unreported: u32,
    next_instance: u32,
    shutting_down: bool,
    /// Addressed actors may not be hosted here (see `handle_evict`).
    evicting: bool,
}

/// Slots a dispatcher needs for actors: every live one plus as many
/// terminated ones waiting to be reported.
pub const fn actor_slots(limits: &Limits) -> usize {
    2 * limits.max_instances as usize
}

/// Slots a dispatcher needs for messages: every waiting one plus one held by
/// each actor.
pub const fn entry_slots(limits: &Limits) -> usize {
    limits.buffer_count as usize + limits.max_instances as usize
}

#[cfg(feature = "alloc")]
impl HeapDispatcher {
    /// A dispatcher whose storage is allocated here, once, from the limits.
    pub fn with_limits(function: FunctionId, limits: Limits) -> Result<Self, LimitsError> {
        use alloc::vec;
        Dispatcher::new(
            function,
            limits,
            vec![None; actor_slots(&limits)].into_boxed_slice(),
            vec![None; entry_slots(&limits)].into_boxed_slice(),
        )
    }
}

impl<A: Storage<Actor>, E: Storage<Entry>> Dispatcher<A, E> {
    /// A dispatcher for `function` with `limits`, over storage of at least
    /// [`actor_slots`] and [`entry_slots`] slots.
    pub fn new(
        function: FunctionId,
        limits: Limits,
        actors: A,
        entries: E,
    ) -> Result<Self, LimitsError> {
        limits.validate()?;
        let need = actor_slots(&limits);
        if actors.as_ref().len() < need {
            return Err(LimitsError::StorageTooSmall {
                what: "actors",
                need: need as u32,
                have: actors.as_ref().len(),
            });
        }
        Ok(Dispatcher {
            function,
            buffer: Buffer::new(entries, &limits)?,
            limits,
            actors: Slab::new(actors),
            live: 0,
            unreported: 0,
            next_instance: 0,
            shutting_down: false,
            evicting: false,
        })
    }

    // ----- getters -----

    /// The function this dispatcher serves.
    pub fn function(&self) -> FunctionId {
        self.function
    }

    /// Its limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Live actors (every phase but Terminated).
    pub fn live(&self) -> u32 {
        self.live
    }

    /// The buffer, for its queue lengths.
    pub fn buffer(&self) -> &Buffer<E> {
        &self.buffer
    }

    /// Whether addressed actors are barred from this node (`handle_evict`).
    pub fn is_evicting(&self) -> bool {
        self.evicting
    }

    /// Whether a shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down
    }

    /// Whether a shutdown has finished: no actor, no message, nothing to report.
    pub fn is_drained(&self) -> bool {
        self.shutting_down && self.actors.is_empty() && self.buffer.is_empty()
    }

    /// Every actor, including terminated ones not yet reported.
    pub fn actors(&self) -> impl Iterator<Item = ActorInfo> + '_ {
        self.actors.iter().map(|(i, a)| ActorInfo {
            slot: Slot(i as u32),
            id: a.id,
            phase: a.life.phase(),
            since: a.life.since(),
            disposition: a.disposition,
            job: a.job_id,
            messages: a.messages,
        })
    }

    /// The actor in `slot`.
    pub fn actor(&self, slot: Slot) -> Option<ActorInfo> {
        self.actors().find(|a| a.slot == slot)
    }

    /// The decision `arrival` would get now, changing nothing (str0m's `accepts`).
    pub fn accepts(&self, now: Tick, arrival: &Arrival) -> Decision {
        if self.evicting && !self.shutting_down {
            if let Target::Actor(..) = arrival.message.target {
                return Decision::Reject(crate::message::RejectReason::Unavailable);
            }
        }
        let ctx = Context {
            now,
            limits: &self.limits,
            live: self.live,
            room: self.buffer.has_room(arrival.message.bytes),
            shutting_down: self.shutting_down,
        };
        sim::decide(&ctx, self.views(), arrival)
    }

    /// The next instant at which [`Dispatcher::handle_timeout`] has work;
    /// `None` when nothing is timed (a [`Tick::NEVER`] deadline never fires).
    pub fn poll_timeout(&self) -> Option<Tick> {
        let idle = self
            .actors
            .iter()
            .filter_map(|(_, a)| a.life.idle_deadline(self.limits.idle))
            .min();
        match (idle, self.buffer.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next thing to do, until `None`.
    pub fn poll_output(&mut self) -> Option<Output> {
        if self.unreported > 0 {
            let terminated = self
                .actors
                .iter()
                .find(|(_, a)| a.life.phase() == Phase::Terminated)
                .map(|(i, _)| i);
            if let Some(i) = terminated {
                let a = self.actors.remove(i)?;
                self.unreported -= 1;
                return Some(Output::Terminated {
                    slot: Slot(i as u32),
                    actor: a.id,
                    cause: a.cause.unwrap_or(Termination::Shutdown),
                });
            }
        }
        if let Some((message, verdict)) = self.buffer.poll_verdict() {
            return Some(Output::Outcome { message, verdict });
        }
        if self.unreported == 0 {
            return None;
        }
        let (i, a) = self.actors.iter_mut().find(|(_, a)| {
            !a.reported && matches!(a.life.phase(), Phase::Created | Phase::Running)
        })?;
        a.reported = true;
        self.unreported -= 1;
        let slot = Slot(i as u32);
        let actor = a.id;
        match (a.life.phase(), a.job, a.job_id) {
            (Phase::Running, Some(job), Some(message)) => {
                let attempt = self.buffer.get(job).map_or(1, |e| e.meta.attempt);
                Some(Output::Run {
                    slot,
                    actor,
                    message,
                    attempt,
                })
            }
            _ => Some(Output::Spawn { slot, actor }),
        }
    }

    // ----- inputs -----

    /// A message arrives. Returns the SIM decision; accepted messages
    /// (Deliver, Enqueue, Spawn) will get exactly one [`Output::Outcome`].
    pub fn handle_arrival(
        &mut self,
        now: Tick,
        arrival: &Arrival,
    ) -> Result<Decision, DispatchError> {
        self.ready_for_input()?;
        let meta = arrival.message;
        let got = meta.target.function();
        if got != self.function {
            return Err(DispatchError::WrongFunction {
                expected: self.function,
                got,
            });
        }
        if self.buffer.find(meta.id).is_some() {
            return Err(DispatchError::DuplicateMessage(meta.id));
        }
        let mut decision = self.accepts(now, arrival);
        let stored = match decision {
            Decision::Deliver(slot) => match self.buffer.hold(meta, slot) {
                Ok(e) => self.start(now, slot, e),
                Err(_) => false,
            },
            Decision::Enqueue(Queue::Actor(slot)) => {
                self.buffer.enqueue(now, meta, Some(slot)).is_ok()
            }
            Decision::Enqueue(Queue::Function) => self.buffer.enqueue(now, meta, None).is_ok(),
            Decision::Spawn => match self.buffer.hold(meta, Slot(u32::MAX)) {
                Ok(e) => {
                    let spawned = self.spawn(now, e);
                    if !spawned {
                        self.buffer.discard(e);
                    }
                    spawned
                }
                Err(_) => false,
            },
            Decision::Forward(_) | Decision::Reject(_) => true,
        };
        if !stored {
            // Storage is sized by `new` so this cannot happen; if it did, the
            // caller still gets a value it can act on.
            decision = Decision::Reject(crate::message::RejectReason::Overloaded);
        }
        self.settle(now);
        Ok(decision)
    }

    /// The instance for the actor in `slot` is ready: Created -> Suspended,
    /// and it is given the message it was created for.
    pub fn handle_started(&mut self, now: Tick, slot: Slot) -> Result<(), DispatchError> {
        self.ready_for_input()?;
        let idle = self.limits.idle;
        let a = self.actor_mut(slot)?;
        a.life.handle(now, LifecycleEvent::Started, idle)?;
        let job = a.job.take();
        a.job_id = None;
        if a.evicted {
            // Barred while it was being made: it never runs its message.
            a.life.handle(now, LifecycleEvent::Shutdown, idle)?;
            self.terminated(slot, Termination::Evicted);
            if let Some(e) = job {
                self.buffer.finish(e, Verdict::Failed(FaultKind::NodeLost));
            }
        } else if let Some(e) = job {
            if self.buffer.get(e).is_some_and(Entry::is_done) {
                // Expired while the instance was being made.
                self.buffer.finish(e, Verdict::Expired);
            } else {
                self.start(now, slot, e);
            }
        }
        self.settle(now);
        Ok(())
    }

    /// The instance for the actor in `slot` could not be made: Created ->
    /// Error -> Terminated; its message is retried or fails.
    pub fn handle_start_failed(
        &mut self,
        now: Tick,
        slot: Slot,
        fault: FaultKind,
    ) -> Result<(), DispatchError> {
        self.ready_for_input()?;
        let idle = self.limits.idle;
        let a = self.actor_mut(slot)?;
        a.life.handle(now, LifecycleEvent::StartFailed, idle)?;
        self.fail(now, slot, fault)
    }

    /// The actor in `slot` finished `message`: Running -> Completed, then
    /// Suspended (or Terminated for Stop).
    pub fn handle_finished(
        &mut self,
        now: Tick,
        slot: Slot,
        message: MessageId,
    ) -> Result<(), DispatchError> {
        self.ready_for_input()?;
        let idle = self.limits.idle;
        let a = self.running(slot, message)?;
        a.life.handle(now, LifecycleEvent::Finish, idle)?;
        let job = a.job.take();
        a.job_id = None;
        let stop = a.disposition == Disposition::Stop || a.evicted;
        let cause = if a.evicted {
            Termination::Evicted
        } else {
            Termination::Stopped
        };
        if stop {
            a.life.handle(now, LifecycleEvent::Stop, idle)?;
        } else {
            if a.disposition == Disposition::Refuse {
                a.disposition = Disposition::Any;
            }
            a.life.handle(now, LifecycleEvent::Resume, idle)?;
        }
        if let Some(e) = job {
            self.buffer.finish(e, Verdict::Replied);
        }
        if stop {
            self.terminated(slot, cause);
        }
        self.settle(now);
        Ok(())
    }

    /// The actor in `slot` failed `message` (trap, fuel, memory): Running ->
    /// Error -> Terminated; the message is released and retried on a fresh
    /// actor, or fails after `max_attempts`.
    pub fn handle_fault(
        &mut self,
        now: Tick,
        slot: Slot,
        message: MessageId,
        fault: FaultKind,
    ) -> Result<(), DispatchError> {
        self.ready_for_input()?;
        let idle = self.limits.idle;
        let a = self.running(slot, message)?;
        a.life.handle(now, LifecycleEvent::Fault, idle)?;
        self.fail(now, slot, fault)
    }

    /// The clock reached `now`: deadlines, max waits and idle times.
    pub fn handle_timeout(&mut self, now: Tick) -> Result<(), DispatchError> {
        self.ready_for_input()?;
        self.settle(now);
        Ok(())
    }

    /// Stop taking messages; finish every accepted one, then terminate every
    /// actor. [`Dispatcher::is_drained`] says when it is over.
    pub fn handle_shutdown(&mut self, now: Tick) -> Result<(), DispatchError> {
        self.ready_for_input()?;
        self.shutting_down = true;
        self.settle(now);
        let idle = self.limits.idle;
        for (_, a) in self.actors.iter_mut() {
            if a.life.phase().is_live() && a.life.phase() != Phase::Suspended {
                // Marks it draining; it terminates when it has nothing left.
                a.life.handle(now, LifecycleEvent::Shutdown, idle)?;
            }
        }
        Ok(())
    }

    /// This node may no longer host addressed actors (it lost its lease in
    /// the cluster's registry, so another node may activate them): Suspended
    /// addressed actors are terminated now, Created and Running ones after
    /// their current step without running anything more, messages waiting for
    /// them fail as `NodeLost`, and new addressed arrivals are rejected as
    /// `Unavailable` until [`Dispatcher::handle_restore`]. Anycast is unaffected.
    pub fn handle_evict(&mut self, now: Tick) -> Result<(), DispatchError> {
        self.ready_for_input()?;
        self.evicting = true;
        let idle = self.limits.idle;
        for i in 0..self.actors.high() {
            let slot = Slot(i as u32);
            let Some(a) = self.actors.get_mut(i) else {
                continue;
            };
            if !matches!(a.id.key, ActorKey::Keyed(_)) || !a.life.phase().is_live() {
                continue;
            }
            if a.life.phase() == Phase::Suspended {
                a.life.handle(now, LifecycleEvent::Shutdown, idle)?;
                self.terminated(slot, Termination::Evicted);
            } else {
                a.evicted = true;
            }
        }
        while let Some(e) = self
            .buffer
            .oldest_waiting(|e| matches!(e.meta.target, Target::Actor(..)))
        {
            self.buffer.finish(e, Verdict::Failed(FaultKind::NodeLost));
        }
        self.settle(now);
        Ok(())
    }

    /// This node may host addressed actors again (it holds a lease).
    pub fn handle_restore(&mut self, now: Tick) -> Result<(), DispatchError> {
        self.ready_for_input()?;
        self.evicting = false;
        self.settle(now);
        Ok(())
    }

    /// The guest running in `slot` set its disposition for what comes next.
    pub fn set_disposition(
        &mut self,
        slot: Slot,
        disposition: Disposition,
    ) -> Result<(), DispatchError> {
        let a = self.actor_mut(slot)?;
        if a.life.phase() != Phase::Running {
            return Err(DispatchError::Lifecycle(LifecycleError::Illegal {
                phase: a.life.phase(),
                event: "SetDisposition",
            }));
        }
        a.disposition = disposition;
        Ok(())
    }

    // ----- internals -----

    fn ready_for_input(&self) -> Result<(), DispatchError> {
        if self.unreported > 0 || self.buffer.done_len() > 0 {
            Err(DispatchError::OutputsPending)
        } else {
            Ok(())
        }
    }

    fn views(&self) -> impl Iterator<Item = ActorView> + Clone + '_ {
        self.actors
            .iter()
            .filter(|(_, a)| a.life.phase().is_live())
            .map(|(i, a)| ActorView {
                slot: Slot(i as u32),
                key: a.id.key,
                phase: a.life.phase(),
                disposition: a.disposition,
                since: a.life.since(),
            })
    }

    fn actor_mut(&mut self, slot: Slot) -> Result<&mut Actor, DispatchError> {
        self.actors
            .get_mut(slot.index())
            .ok_or(DispatchError::NoSuchActor(slot))
    }

    fn running(&mut self, slot: Slot, message: MessageId) -> Result<&mut Actor, DispatchError> {
        let a = self.actor_mut(slot)?;
        if a.life.phase() != Phase::Running || a.job_id != Some(message) {
            return Err(DispatchError::WrongMessage {
                slot,
                running: a.job_id.filter(|_| a.life.phase() == Phase::Running),
                got: message,
            });
        }
        Ok(a)
    }

    /// Suspended -> Running with entry `e`. Returns false if the actor is gone.
    fn start(&mut self, now: Tick, slot: Slot, e: EntryRef) -> bool {
        let Some(id) = self.buffer.get(e).map(|e| e.meta.id) else {
            return false;
        };
        let idle = self.limits.idle;
        let Some(a) = self.actors.get_mut(slot.index()) else {
            return false;
        };
        if a.life
            .handle(now, LifecycleEvent::Deliver(id), idle)
            .is_err()
        {
            return false;
        }
        a.job = Some(e);
        a.job_id = Some(id);
        a.reported = false;
        a.messages += 1;
        self.unreported += 1;
        self.buffer.assign(e, slot);
        true
    }

    /// A new actor for entry `e`: the addressed actor it names, or a new
    /// anycast instance. Returns false if there is no storage for it.
    fn spawn(&mut self, now: Tick, e: EntryRef) -> bool {
        let Some(entry) = self.buffer.get(e) else {
            return false;
        };
        let key = match entry.meta.target {
            Target::Actor(_, k) => ActorKey::Keyed(k),
            Target::Function(_) => ActorKey::Instance(self.next_instance),
        };
        let id = entry.meta.id;
        let actor = Actor {
            id: ActorId {
                function: self.function,
                key,
            },
            life: Lifecycle::new(now),
            disposition: Disposition::Any,
            job: Some(e),
            job_id: Some(id),
            reported: false,
            cause: None,
            messages: 0,
            evicted: false,
        };
        let Ok(i) = self.actors.insert(actor) else {
            return false;
        };
        if let ActorKey::Instance(_) = key {
            self.next_instance = self.next_instance.wrapping_add(1);
        }
        self.live += 1;
        self.unreported += 1;
        self.buffer.assign(e, Slot(i as u32));
        true
    }

    /// Marks the actor in `slot` Terminated and frees what waited for it.
    fn terminated(&mut self, slot: Slot, cause: Termination) {
        if let Some(a) = self.actors.get_mut(slot.index()) {
            a.cause = Some(cause);
            a.reported = false;
            a.job = None;
            a.job_id = None;
            self.live -= 1;
            self.unreported += 1;
            self.buffer.unpin_all(slot);
        }
    }

    /// The actor in `slot` is in Error: reap it; retry or fail its message.
    fn fail(&mut self, now: Tick, slot: Slot, fault: FaultKind) -> Result<(), DispatchError> {
        let idle = self.limits.idle;
        let a = self.actor_mut(slot)?;
        a.life.handle(now, LifecycleEvent::Reap, idle)?;
        let job = a.job;
        self.terminated(slot, Termination::Fault(fault));
        if let Some(e) = job {
            match self.buffer.get(e) {
                Some(entry) if entry.is_done() => self.buffer.finish(e, Verdict::Expired),
                Some(entry) if self.evicting && matches!(entry.meta.target, Target::Actor(..)) => {
                    // It may not be re-activated here; another node can take it.
                    self.buffer.finish(e, Verdict::Failed(FaultKind::NodeLost));
                }
                Some(entry) => match after_fault(entry.meta.attempt, &self.limits) {
                    Retry::Again { .. } => {
                        self.buffer.retry(e);
                        if !self.spawn(now, e) {
                            self.buffer.finish(e, Verdict::Failed(fault));
                        }
                    }
                    Retry::GiveUp => self.buffer.finish(e, Verdict::Failed(fault)),
                },
                None => {}
            }
        }
        self.settle(now);
        Ok(())
    }

    /// The oldest waiting message the actor in `slot` should take next.
    fn next_for(&self, slot: Slot, a: &Actor) -> Option<EntryRef> {
        let pinned = self
            .buffer
            .oldest_waiting(|e| match (e.meta.target, a.id.key) {
                (Target::Actor(_, k), ActorKey::Keyed(mine)) => k == mine,
                (Target::Function(_), ActorKey::Instance(_)) => e.waiting_pin() == Some(Some(slot)),
                _ => false,
            });
        if pinned.is_some() || !matches!(a.id.key, ActorKey::Instance(_)) {
            return pinned;
        }
        let free = |e: &Entry| {
            matches!(e.meta.target, Target::Function(_)) && e.waiting_pin() == Some(None)
        };
        if let Disposition::Session(s) = a.disposition {
            let mine = self
                .buffer
                .oldest_waiting(|e| free(e) && e.meta.session == Some(s));
            if mine.is_some() {
                return mine;
            }
        }
        self.buffer.oldest_waiting(free)
    }

    /// Whether waiting entry `e` needs a new actor created for it now.
    fn needs_new_actor(&self, e: &Entry, accepting_instances: bool) -> bool {
        match (e.meta.target, e.state) {
            (Target::Actor(_, k), _) => !self.views().any(|a| a.key == ActorKey::Keyed(k)),
            (Target::Function(_), EntryState::Waiting { overdue, pin, .. }) => {
                overdue || (pin.is_none() && !accepting_instances)
            }
            _ => false,
        }
    }

    /// Brings the state to rest at `now`: expiries, hand-overs to free actors,
    /// idle and shutdown terminations, then new actors for messages that need
    /// them. Every input ends here.
    fn settle(&mut self, now: Tick) {
        self.buffer.handle_timeout(now);

        // Suspended actors take what waits for them (S7 relies on this first).
        let waiting = if self.buffer.waiting_len() > 0 {
            self.actors.high()
        } else {
            0
        };
        for i in 0..waiting {
            let slot = Slot(i as u32);
            let next = match self.actors.get(i) {
                Some(a) if a.life.phase() == Phase::Suspended => self.next_for(slot, a),
                _ => None,
            };
            if let Some(e) = next {
                self.start(now, slot, e);
            }
        }

        // Idle and shutdown terminations: whatever is still Suspended has
        // nothing queued for it.
        let idle = self.limits.idle;
        for i in 0..self.actors.high() {
            let slot = Slot(i as u32);
            let Some(a) = self.actors.get_mut(i) else {
                continue;
            };
            if a.life.phase() != Phase::Suspended {
                continue;
            }
            let cause = if self.shutting_down {
                a.life
                    .handle(now, LifecycleEvent::Shutdown, idle)
                    .map(|_| Termination::Shutdown)
            } else {
                a.life
                    .handle(now, LifecycleEvent::IdleTimeout, idle)
                    .map(|_| Termination::Idle)
            };
            if let Ok(cause) = cause {
                self.terminated(slot, cause);
            }
        }

        // New actors for messages that have nobody to wait for, oldest first.
        while self.buffer.waiting_len() > 0 && self.live < self.limits.max_instances {
            let accepting = self.views().any(|a| {
                matches!(a.key, ActorKey::Instance(_)) && a.disposition.accepts_queueing()
            });
            let Some(e) = self
                .buffer
                .oldest_waiting(|e| self.needs_new_actor(e, accepting))
            else {
                break;
            };
            if !self.spawn(now, e) {
                break;
            }
        }
    }
}
