//! The Actor Dispatcher: one per deployed function, driving goldfish-core's
//! [`HeapDispatcher`] and carrying out what it decides.
//!
//! Core owns every decision (which actor, wait or spawn, retry, expire,
//! terminate); this module owns the things core must not touch: wasmi
//! instances, payloads, the callers waiting for outcomes, and the clock.
//!
//! Threading: the core state, the parked instances and the pending messages
//! sit behind one mutex per function, held only to make a transition and drain
//! its outputs, never while a guest runs. Whoever drains an output carries it
//! out on its own thread (`drive`): the caller of `invoke` runs the guest
//! itself on the warm path, with no hop to another thread. An actor's
//! instance is taken out of its slot for a run and put back after, so core's
//! one-message-at-a-time rule (S1) is also what keeps the instance exclusive.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use goldfish_core::wire::{Envelope, Outcome};
use goldfish_core::{
    ActorId, ActorKey, Arrival, Decision, Disposition, Elsewhere, FunctionId, HeapDispatcher,
    MessageId, NodeId, Output, Phase, RejectReason, Slot, Termination, Verdict,
};
use tokio::sync::oneshot;

use crate::abi::{code, Link, MessageCtx};
use crate::actor::{Actor, Code, Fault, Step, Suspended};
use crate::buffer::Timer;
use crate::config::FunctionConfig;
use crate::node::NodeInner;
use crate::stats::Stats;

/// Where a caller's outcome goes.
pub(crate) type Reply = oneshot::Sender<Outcome>;

/// What to carry out, each with the function it belongs to.
pub(crate) type Work = VecDeque<(Arc<Function>, Job)>;

/// One of core's outputs, with what the host took for it under the same lock
/// (so carrying it out needs no second trip through the mutex).
pub(crate) enum Job {
    /// Create an instance.
    Spawn { slot: Slot, actor: ActorId },
    /// Run a message: the instance and payload are already taken out.
    Run(Box<Ready>),
    /// Hand an outcome to its waiters.
    Deliver(Box<Delivery>),
    /// Drop a terminated actor's instance.
    Reap {
        actor: ActorId,
        cause: Termination,
        instance: Option<Box<Actor>>,
    },
}

/// A run, ready to go.
pub(crate) struct Ready {
    slot: Slot,
    message: MessageId,
    actor: Box<Actor>,
    payload: Vec<u8>,
    ctx: MessageCtx,
}

/// An outcome, ready to hand over.
pub(crate) struct Delivery {
    message: MessageId,
    outcome: Outcome,
    waiters: Vec<Reply>,
    accepted: Instant,
}

/// How deep guest `call`s nest on one thread before the rest goes to a task.
const MAX_INLINE_DEPTH: u32 = 8;

/// Hashes message ids (already unique numbers) without SipHash's cost.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn write_u128(&mut self, v: u128) {
        let mixed = (v as u64) ^ ((v >> 64) as u64).rotate_left(29);
        self.0 = mixed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type IdMap<V> = HashMap<MessageId, V, BuildHasherDefault<IdHasher>>;

/// An accepted message the host holds for core.
struct Pending {
    payload: Vec<u8>,
    waiters: Vec<Reply>,
    reply: Vec<u8>,
    detail: String,
    /// It came from another node: remember its outcome for duplicates.
    remote: bool,
    accepted: Instant,
    env: EnvMeta,
}

/// What a run needs of its envelope.
#[derive(Clone, Copy)]
struct EnvMeta {
    session: Option<goldfish_core::Key>,
    deadline: goldfish_core::Tick,
}

/// An actor slot as the host sees it.
enum SlotState {
    /// No instance (being created, or gone).
    Empty,
    /// A Suspended actor's instance, waiting for its next message.
    Parked(Box<Actor>),
    /// Taken out by the thread running a message in it.
    Out,
}

struct FunctionState {
    core: HeapDispatcher,
    slots: Vec<SlotState>,
    messages: IdMap<Pending>,
}

/// What became of a message offered to a function.
pub(crate) enum Offer {
    /// Accepted here; the work starts it.
    Accepted(Work),
    /// Core says another node should take it.
    Forward(NodeId, Box<Envelope>, Option<Reply>),
    /// Not accepted.
    Refused(RejectReason, Option<Reply>),
}

/// The status of one actor, as `Node::actors` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActorStatus {
    /// Who it is.
    pub id: ActorId,
    /// Its LCM phase.
    pub phase: Phase,
    /// How long it has been Suspended, if it is.
    pub idle_for: Option<Duration>,
    /// Messages it has been given.
    pub messages: u64,
    /// What it asked for next.
    pub disposition: Disposition,
    /// Bytes of linear memory it holds (when parked).
    pub memory_bytes: Option<usize>,
}

/// One deployed function on this node.
pub(crate) struct Function {
    pub(crate) name: FunctionId,
    pub(crate) config: FunctionConfig,
    code: Code,
    state: Mutex<FunctionState>,
    pub(crate) timer: Timer,
    pub(crate) stats: Stats,
    node: Weak<NodeInner>,
    me: Weak<Function>,
    pub(crate) drained: tokio::sync::Notify,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Function {
    /// The module cache key of this function's code.
    pub(crate) fn code_hash(&self) -> &[u8; 32] {
        &self.code.hash
    }

    pub(crate) fn new(
        node: Weak<NodeInner>,
        name: FunctionId,
        config: FunctionConfig,
        code: Code,
    ) -> Result<Arc<Function>, goldfish_core::LimitsError> {
        let core = HeapDispatcher::with_limits(name, config.limits())?;
        let slots = (0..goldfish_core::dispatcher::actor_slots(&config.limits()))
            .map(|_| SlotState::Empty)
            .collect();
        Ok(Arc::new_cyclic(|me| Function {
            name,
            config,
            code,
            state: Mutex::new(FunctionState {
                core,
                slots,
                messages: IdMap::default(),
            }),
            timer: Timer::default(),
            stats: Stats::default(),
            node,
            me: me.clone(),
            drained: tokio::sync::Notify::new(),
        }))
    }

    fn now(&self) -> goldfish_core::Tick {
        self.node
            .upgrade()
            .map_or(goldfish_core::Tick::ZERO, |n| n.clock.now())
    }

    fn arc(&self) -> Arc<Function> {
        self.me.upgrade().expect("a function is alive while in use")
    }

    /// Drains core's outputs into `work`, taking what each needs while the
    /// lock is held, and re-arms the timer.
    fn collect(&self, st: &mut FunctionState, work: &mut Work) {
        let me = self.arc();
        while let Some(o) = st.core.poll_output() {
            let job = match o {
                Output::Spawn { slot, actor } => Job::Spawn { slot, actor },
                Output::Run { slot, message, .. } => match self.take_run(st, slot, message) {
                    Some(ready) => Job::Run(Box::new(ready)),
                    None => continue,
                },
                Output::Outcome { message, verdict } => {
                    match self.take_outcome(st, message, verdict) {
                        Some(d) => Job::Deliver(Box::new(d)),
                        None => continue,
                    }
                }
                Output::Terminated { slot, actor, cause } => Job::Reap {
                    actor,
                    cause,
                    instance: match std::mem::replace(&mut st.slots[slot.index()], SlotState::Empty)
                    {
                        SlotState::Parked(a) => Some(a),
                        _ => None,
                    },
                },
            };
            work.push_back((me.clone(), job));
        }
        if let Some(t) = st.core.poll_timeout() {
            self.timer.arm(t);
        }
        if st.core.is_drained() {
            self.drained.notify_waiters();
        }
    }

    /// The decision core would make for `env` now, changing nothing.
    pub(crate) fn peek(&self, env: &Envelope, elsewhere: Elsewhere) -> Decision {
        let now = self.now();
        let st = lock(&self.state);
        st.core.accepts(
            now,
            &Arrival {
                message: env.meta(),
                elsewhere,
            },
        )
    }

    /// Offers a message to core. Accepted messages are held here until their
    /// outcome; a message already here (a duplicate) gets the waiter attached.
    pub(crate) fn offer(
        &self,
        env: Envelope,
        waiter: Option<Reply>,
        elsewhere: Elsewhere,
        remote: bool,
    ) -> Offer {
        let now = self.now();
        let mut st = lock(&self.state);
        // A duplicate of a message here, or of one that ended a moment ago
        // (both checked under this lock, which `deliver` holds while it moves
        // a message from one to the other).
        if let Some(p) = st.messages.get_mut(&env.id) {
            p.waiters.extend(waiter);
            return Offer::Accepted(Work::new());
        }
        if remote {
            if let Some(outcome) = self.node.upgrade().and_then(|n| n.recalled(env.id)) {
                if let Some(w) = waiter {
                    let _ = w.send(outcome);
                }
                return Offer::Accepted(Work::new());
            }
        }
        let arrival = Arrival {
            message: env.meta(),
            elsewhere,
        };
        let decision = match st.core.handle_arrival(now, &arrival) {
            Ok(d) => d,
            Err(e) => {
                // Outputs are always drained under this lock, and duplicates
                // are caught above: this is a bug, reported as overload.
                tracing::error!(function = %self.name, error = %e, "dispatcher refused an arrival");
                Decision::Reject(RejectReason::Overloaded)
            }
        };
        match decision {
            Decision::Forward(n) => return Offer::Forward(n, Box::new(env), waiter),
            Decision::Reject(r) => {
                self.stats.rejected(r);
                return Offer::Refused(r, waiter);
            }
            Decision::Deliver(_) | Decision::Enqueue(_) | Decision::Spawn => {}
        }
        st.messages.insert(
            env.id,
            Pending {
                payload: env.payload.0,
                waiters: waiter.into_iter().collect(),
                reply: Vec::new(),
                detail: String::new(),
                remote,
                accepted: Instant::now(),
                env: EnvMeta {
                    session: env.session,
                    deadline: env.deadline,
                },
            },
        );
        let mut work = Work::new();
        self.collect(&mut st, &mut work);
        Offer::Accepted(work)
    }

    /// The guest in `slot` set its disposition.
    pub(crate) fn set_disposition(&self, slot: Slot, d: Disposition) {
        let mut st = lock(&self.state);
        if let Err(e) = st.core.set_disposition(slot, d) {
            tracing::warn!(function = %self.name, error = %e, "disposition ignored");
        }
    }

    /// The clock reached the timer: deadlines, waits, idle times.
    pub(crate) fn on_timeout(&self) -> Work {
        let now = self.now();
        let mut st = lock(&self.state);
        let mut work = Work::new();
        if let Err(e) = st.core.handle_timeout(now) {
            tracing::error!(function = %self.name, error = %e, "timeout refused");
        }
        self.collect(&mut st, &mut work);
        work
    }

    /// The next instant the timer must fire.
    pub(crate) fn next_timeout(&self) -> Option<goldfish_core::Tick> {
        lock(&self.state).core.poll_timeout()
    }

    /// Stop taking messages; finish the accepted ones.
    pub(crate) fn shutdown(&self) -> Work {
        let now = self.now();
        let mut st = lock(&self.state);
        let mut work = Work::new();
        if let Err(e) = st.core.handle_shutdown(now) {
            tracing::error!(function = %self.name, error = %e, "shutdown refused");
        }
        self.collect(&mut st, &mut work);
        if st.core.is_drained() {
            self.drained.notify_waiters();
        }
        work
    }

    /// How many more messages could start here without waiting: Suspended
    /// actors plus the actors still allowed (the capacity peers are told).
    pub(crate) fn free(&self) -> u32 {
        let st = lock(&self.state);
        let idle = st
            .core
            .actors()
            .filter(|a| a.phase == Phase::Suspended)
            .count() as u32;
        idle + self.config.max_instances.saturating_sub(st.core.live())
    }

    /// Messages waiting in the buffer, and live actors (for metrics).
    pub(crate) fn depth(&self) -> (u32, u32) {
        let st = lock(&self.state);
        (st.core.buffer().waiting_len(), st.core.live())
    }

    /// Addressed actors may no longer live here (the lease was lost).
    pub(crate) fn evict(&self) -> Work {
        let now = self.now();
        let mut st = lock(&self.state);
        let mut work = Work::new();
        if let Err(e) = st.core.handle_evict(now) {
            tracing::error!(function = %self.name, error = %e, "eviction refused");
        }
        self.collect(&mut st, &mut work);
        work
    }

    /// Addressed actors may live here again.
    pub(crate) fn restore(&self) -> Work {
        let now = self.now();
        let mut st = lock(&self.state);
        let mut work = Work::new();
        if let Err(e) = st.core.handle_restore(now) {
            tracing::error!(function = %self.name, error = %e, "restore refused");
        }
        self.collect(&mut st, &mut work);
        work
    }

    /// Whether a shutdown has finished.
    pub(crate) fn is_drained(&self) -> bool {
        lock(&self.state).core.is_drained()
    }

    /// Messages held (waiting, running or about to report).
    pub(crate) fn held(&self) -> usize {
        lock(&self.state).messages.len()
    }

    /// Every live actor.
    pub(crate) fn actors(&self, clock: &crate::clock::Clock) -> Vec<ActorStatus> {
        let now = clock.now();
        let st = lock(&self.state);
        st.core
            .actors()
            .filter(|a| a.phase.is_live())
            .map(|a| ActorStatus {
                id: a.id,
                phase: a.phase,
                idle_for: (a.phase == Phase::Suspended)
                    .then(|| Duration::from_micros(now.since(a.since).as_micros())),
                messages: a.messages,
                disposition: a.disposition,
                memory_bytes: match st.slots.get(a.slot.index()) {
                    Some(SlotState::Parked(actor)) => Some(actor.memory_bytes()),
                    _ => None,
                },
            })
            .collect()
    }

    // ----- carrying out outputs -----

    /// Creates the instance for a Spawn.
    fn spawn(&self, node: &Arc<NodeInner>, slot: Slot, actor: ActorId, work: &mut Work) {
        let link = Link {
            node: Arc::downgrade(node),
            function: self.me.clone(),
            actor,
            slot,
            max_payload: self.config.max_payload,
        };
        let made = Actor::instantiate(&self.code, &self.config, link);
        let now = node.clock.now();
        let mut st = lock(&self.state);
        let result = match made {
            Ok(a) => {
                self.stats
                    .spawned
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                st.slots[slot.index()] = SlotState::Parked(Box::new(a));
                st.core.handle_started(now, slot)
            }
            Err(fault) => {
                tracing::warn!(%actor, detail = %fault.detail, "actor failed to start");
                self.stats
                    .start_failed
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.stats.fault(fault.kind);
                if let Some(m) = st.core.actor(slot).and_then(|a| a.job) {
                    if let Some(p) = st.messages.get_mut(&m) {
                        p.detail = format!("{actor} failed to start: {}", fault.detail);
                    }
                }
                st.core.handle_start_failed(now, slot, fault.kind)
            }
        };
        if let Err(e) = result {
            tracing::error!(%actor, error = %e, "start report refused");
        }
        self.collect(&mut st, work);
    }

    /// Takes the instance and payload out for a run.
    fn take_run(&self, st: &mut FunctionState, slot: Slot, message: MessageId) -> Option<Ready> {
        let actor = match std::mem::replace(&mut st.slots[slot.index()], SlotState::Out) {
            SlotState::Parked(a) => a,
            other => {
                st.slots[slot.index()] = other;
                tracing::error!(function = %self.name, slot = slot.0, "run for an actor that is not parked");
                return None;
            }
        };
        let Some(p) = st.messages.get_mut(&message) else {
            st.slots[slot.index()] = SlotState::Parked(actor);
            tracing::error!(function = %self.name, %message, "run for an unknown message");
            return None;
        };
        self.stats.wait.record(p.accepted.elapsed());
        let payload = std::mem::take(&mut p.payload);
        let ctx = MessageCtx {
            session: p.env.session,
            deadline: p.env.deadline,
            ..MessageCtx::default()
        };
        Some(Ready {
            slot,
            message,
            actor,
            payload,
            ctx,
        })
    }

    /// Takes a finished message out; a message from another node leaves its
    /// outcome behind for duplicates (under this lock, see `offer`).
    fn take_outcome(
        &self,
        st: &mut FunctionState,
        message: MessageId,
        verdict: Verdict,
    ) -> Option<Delivery> {
        self.stats.outcome(verdict);
        let Some(p) = st.messages.remove(&message) else {
            tracing::error!(function = %self.name, %message, "outcome for an unknown message");
            return None;
        };
        let outcome = Outcome::from_verdict(verdict, p.reply, p.detail);
        if p.remote {
            if let Some(node) = self.node.upgrade() {
                node.remember(message, outcome.clone());
            }
        }
        Some(Delivery {
            message,
            outcome,
            waiters: p.waiters,
            accepted: p.accepted,
        })
    }

    /// A `stateless` function on a node with a state store: the actor's
    /// state, read from the store into the fresh instance before its message.
    fn load_state(&self, node: &NodeInner, actor: &mut Actor) -> Result<(), Fault> {
        let Some(store) = self.state_store(node, actor) else {
            return Ok(());
        };
        let key = crate::state::state_key(&actor.id());
        match store.get(&key) {
            Ok(Some(bytes)) => actor.load_state(&bytes),
            Ok(None) => Ok(()),
            Err(e) => Err(Fault {
                kind: goldfish_core::FaultKind::Trap,
                detail: e.to_string(),
            }),
        }
    }

    /// ... and written back after a successful message.
    fn save_state(&self, node: &NodeInner, actor: &mut Actor) -> Result<(), Fault> {
        let Some(store) = self.state_store(node, actor) else {
            return Ok(());
        };
        let Some(bytes) = actor.save_state()? else {
            return Ok(());
        };
        let key = crate::state::state_key(&actor.id());
        store.put(&key, &bytes).map_err(|e| Fault {
            kind: goldfish_core::FaultKind::Trap,
            detail: e.to_string(),
        })
    }

    fn state_store<'a>(
        &self,
        node: &'a NodeInner,
        actor: &Actor,
    ) -> Option<&'a Arc<dyn crate::state::StateStore>> {
        if !self.config.stateless || !actor.keeps_state() {
            return None;
        }
        node.state_store.as_ref()
    }

    /// Reports a finished run to core.
    #[allow(clippy::too_many_arguments)]
    fn finish(
        &self,
        node: &Arc<NodeInner>,
        slot: Slot,
        message: MessageId,
        mut actor: Box<Actor>,
        payload: Vec<u8>,
        result: Result<(), Fault>,
        busy: Duration,
        work: &mut Work,
    ) {
        let result = result.and_then(|()| self.save_state(node, &mut actor));
        self.stats.run.record(busy);
        self.stats
            .runs
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.stats
            .fuel
            .fetch_add(actor.fuel_used(), std::sync::atomic::Ordering::Relaxed);
        let mut ctx = actor.take_ctx();
        let now = node.clock.now();
        let mut st = lock(&self.state);
        let mut dead = None;
        let reported = match result {
            Ok(()) => {
                if self.config.stateless {
                    let _ = st.core.set_disposition(slot, Disposition::Stop);
                }
                if let Some(p) = st.messages.get_mut(&message) {
                    p.reply = std::mem::take(&mut ctx.reply);
                }
                st.slots[slot.index()] = SlotState::Parked(actor);
                st.core.handle_finished(now, slot, message)
            }
            Err(fault) => {
                tracing::debug!(function = %self.name, %message, kind = %fault.kind, detail = %fault.detail, "run failed");
                self.stats.fault(fault.kind);
                if let Some(p) = st.messages.get_mut(&message) {
                    p.payload = payload;
                    p.detail = fault.detail;
                }
                st.slots[slot.index()] = SlotState::Empty;
                dead = Some(actor);
                ctx.outbox.clear();
                st.core.handle_fault(now, slot, message, fault.kind)
            }
        };
        if let Err(e) = reported {
            tracing::error!(function = %self.name, %message, error = %e, "run report refused");
        }
        self.collect(&mut st, work);
        drop(st);
        drop(dead);
        for env in ctx.outbox {
            node.submit_into(env, None, false, work);
        }
    }

    /// Hands an outcome to whoever waits for it.
    fn deliver(&self, d: Delivery) {
        self.stats.latency.record(d.accepted.elapsed());
        let mut waiters = d.waiters;
        if let Some(last) = waiters.pop() {
            for w in waiters {
                let _ = w.send(d.outcome.clone());
            }
            let _ = last.send(d.outcome);
        }
    }

    /// A terminated actor is gone: its instance is dropped here, outside the lock.
    fn reap(
        &self,
        node: &Arc<NodeInner>,
        actor: ActorId,
        cause: Termination,
        instance: Option<Box<Actor>>,
    ) {
        drop(instance);
        self.stats.terminated(cause);
        tracing::debug!(%actor, cause = cause.as_str(), "actor terminated");
        if let ActorKey::Keyed(_) = actor.key {
            node.released(actor);
        }
    }
}

/// What a guest `call` returns: at once, or later.
pub(crate) enum CallHandle {
    Ready(Outcome),
    Waiting(oneshot::Receiver<Outcome>),
}

/// The ABI return value for a call's outcome; the reply goes to the actor.
fn call_code(actor: &mut Actor, outcome: Outcome) -> i32 {
    match outcome {
        Outcome::Reply(p) => {
            let n = i32::try_from(p.0.len()).unwrap_or(i32::MAX);
            actor.set_call_reply(p.0);
            n
        }
        Outcome::Failed(_) => code::FAILED,
        Outcome::Rejected(RejectReason::UnknownFunction) => code::UNKNOWN_FUNCTION,
        Outcome::Rejected(RejectReason::TooLarge) => code::TOO_LARGE,
        Outcome::Rejected(_) => code::REJECTED,
        Outcome::Expired => code::EXPIRED,
    }
}

/// Carries out `work` on this thread. Returns early, handing the rest to a
/// task, once the outcome of `until` has been delivered (so a caller is not
/// kept to run other callers' messages).
pub(crate) fn drive(node: &Arc<NodeInner>, mut work: Work, until: Option<MessageId>, depth: u32) {
    while let Some((f, job)) = work.pop_front() {
        match job {
            Job::Spawn { slot, actor } => f.spawn(node, slot, actor, &mut work),
            Job::Run(ready) => run(node, &f, *ready, &mut work, depth),
            Job::Deliver(d) => {
                let mine = until == Some(d.message);
                f.deliver(*d);
                if mine && !work.is_empty() {
                    let n = node.clone();
                    node.runtime.spawn(async move { drive(&n, work, None, 0) });
                    return;
                }
            }
            Job::Reap {
                actor,
                cause,
                instance,
            } => f.reap(node, actor, cause, instance),
        }
    }
}

/// Runs one message: on this thread while its calls can be answered at once,
/// then in a task that waits for them.
fn run(node: &Arc<NodeInner>, f: &Arc<Function>, ready: Ready, work: &mut Work, depth: u32) {
    let Ready {
        slot,
        message,
        mut actor,
        payload,
        ctx,
    } = ready;
    let deadline = ctx.deadline;
    // One span per message while it runs (see also `Node::invoke_with`).
    let span = tracing::info_span!("run", id = %message, actor = %actor.id());
    let _entered = span.enter();
    let started = Instant::now();
    let mut waited = Duration::ZERO;
    let mut step = match f.load_state(node, &mut actor) {
        Ok(()) => actor.begin(&payload, ctx),
        Err(fault) => Step::Done(Err(fault)),
    };
    loop {
        match step {
            Step::Done(result) => {
                let busy = started.elapsed().saturating_sub(waited);
                f.finish(node, slot, message, actor, payload, result, busy, work);
                return;
            }
            Step::Call(req, suspended) => {
                let t = Instant::now();
                let handle = node.call(req, deadline, &actor.id(), depth + 1);
                match handle {
                    CallHandle::Ready(outcome) => {
                        waited += t.elapsed();
                        let code = call_code(&mut actor, outcome);
                        step = actor.resume(*suspended, code);
                    }
                    CallHandle::Waiting(rx) => {
                        let (n, f) = (node.clone(), f.clone());
                        let run = Parked {
                            slot,
                            message,
                            actor,
                            payload,
                            suspended,
                            started,
                            waited: waited + t.elapsed(),
                            deadline,
                        };
                        node.runtime.spawn(tracing::Instrument::instrument(
                            async move { run.finish_later(n, f, rx).await },
                            span.clone(),
                        ));
                        return;
                    }
                }
            }
        }
    }
}

/// A run suspended in a call that could not be answered at once.
struct Parked {
    slot: Slot,
    message: MessageId,
    actor: Box<Actor>,
    payload: Vec<u8>,
    suspended: Box<Suspended>,
    started: Instant,
    waited: Duration,
    deadline: goldfish_core::Tick,
}

impl Parked {
    async fn finish_later(
        self,
        node: Arc<NodeInner>,
        f: Arc<Function>,
        mut rx: oneshot::Receiver<Outcome>,
    ) {
        let Parked {
            slot,
            message,
            mut actor,
            payload,
            mut suspended,
            started,
            mut waited,
            deadline,
        } = self;
        let me = actor.id();
        loop {
            let t = Instant::now();
            let outcome = rx.await.unwrap_or_else(|_| {
                Outcome::Failed(goldfish_core::wire::Failure {
                    kind: goldfish_core::FaultKind::NodeLost,
                    detail: "the callee's outcome was lost".into(),
                })
            });
            waited += t.elapsed();
            let code = call_code(&mut actor, outcome);
            let mut step = actor.resume(*suspended, code);
            loop {
                match step {
                    Step::Done(result) => {
                        let mut work = Work::new();
                        let busy = started.elapsed().saturating_sub(waited);
                        f.finish(
                            &node, slot, message, actor, payload, result, busy, &mut work,
                        );
                        drive(&node, work, None, 0);
                        return;
                    }
                    Step::Call(req, s) => {
                        let t = Instant::now();
                        match node.call(req, deadline, &me, 1) {
                            CallHandle::Ready(outcome) => {
                                waited += t.elapsed();
                                let code = call_code(&mut actor, outcome);
                                step = actor.resume(*s, code);
                            }
                            CallHandle::Waiting(next) => {
                                waited += t.elapsed();
                                suspended = s;
                                rx = next;
                                break;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Whether inline calls may go deeper.
pub(crate) fn may_inline(depth: u32) -> bool {
    depth < MAX_INLINE_DEPTH
}
