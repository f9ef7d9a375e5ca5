//! `core_events`: an arbitrary sequence of inputs to a [`FixedDispatcher`],
//! applied the way a host applies them, with the safety properties checked
//! after every step and liveness at the end.
//!
//! The host side ([`Host`]) reports only what core told it about: it starts
//! or fails only actors it was told to spawn, finishes or faults only
//! messages it was told to run, and drains every output after every input.
//! Every such call must succeed. On top of that, [`Event::Illegal`] makes a
//! call the contract forbids (a start for an actor that is not being made, a
//! finish for the wrong message, a duplicate id, another function's
//! message...), which must be refused with an error and change nothing, and
//! [`Event::Eager`] makes an input while outputs may still be pending, which
//! must be refused as `OutputsPending` exactly when they are.
//!
//! Checked after every step: no panic; S1 (one run per actor, only in a
//! Running actor); S3 (no second outcome, no outcome for a message never
//! accepted, and every accepted message without an outcome is in exactly one
//! place); S4 (the waiting count and bytes within the limits, and the
//! accounting right); S5 (no run for, and nothing pinned to, a terminated
//! actor; the live actors are exactly those the host was told of); S6
//! (addressed messages run in acceptance order); S7 (idle terminations only
//! after the idle time, with nothing waiting for the actor); and an arrival's
//! decision is what `accepts` predicted just before. At the end the system is
//! driven to rest (start everything, finish everything, advance the clock to
//! each `poll_timeout`): every accepted message has exactly one outcome, no
//! actor is left, the buffer is empty.

use std::collections::{BTreeMap, BTreeSet};

use arbitrary::{Arbitrary, Unstructured};
use goldfish_core::buffer::EntryState;
use goldfish_core::{
    ActorInfo, ActorKey, Arrival, Decision, DispatchError, Disposition, Elsewhere, FaultKind,
    FixedDispatcher, FunctionId, Key, Limits, MessageId, MessageMeta, NodeId, Output, Phase, Slot,
    Span, Target, Termination, Tick,
};

/// Actor slots of the dispatcher under test (`2 * max_instances`).
pub const ACTORS: usize = 8;
/// Entry slots (`buffer_count + max_instances`).
pub const ENTRIES: usize = 8;
/// Most events taken from one input.
pub const MAX_EVENTS: usize = 256;

/// The dispatcher under test.
pub type D = FixedDispatcher<ACTORS, ENTRIES>;

/// The limits, each field an index into a table of interesting values.
#[derive(Arbitrary, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LimitsIn {
    /// Idle time.
    pub idle: u8,
    /// Waiting count (bounded by the storage).
    pub buffer_count: u8,
    /// Waiting bytes.
    pub buffer_bytes: u8,
    /// Max wait of anycast messages.
    pub max_wait: u8,
    /// Live actors, 1 to 4.
    pub max_instances: u8,
    /// Tries per message.
    pub max_attempts: u8,
    /// Largest payload.
    pub max_payload: u8,
}

impl LimitsIn {
    /// Valid limits that fit the fixed storage.
    pub fn limits(self) -> Limits {
        let pick = |t: &[u64], i: u8| t[usize::from(i) % t.len()];
        let max_instances = 1 + u32::from(self.max_instances) % (ACTORS as u32 / 2);
        let buffer_count = u32::from(self.buffer_count) % (ENTRIES as u32 - max_instances + 1);
        let buffer_bytes = pick(&[1_000, 25, 0, 100, u64::MAX], self.buffer_bytes);
        let mut max_payload = pick(&[20, 100, 0, 5, u64::from(u32::MAX)], self.max_payload) as u32;
        if buffer_count > 0 && u64::from(max_payload) > buffer_bytes {
            max_payload = buffer_bytes as u32;
        }
        let l = Limits {
            idle: Span(pick(&[100, 1_000, 0, 1, 30_000_000, u64::MAX], self.idle)),
            buffer_count,
            buffer_bytes,
            max_wait: Span(pick(&[50, 0, 1, 1_000, u64::MAX], self.max_wait)),
            max_instances,
            max_attempts: pick(&[2, 1, 3, u64::from(u32::MAX)], self.max_attempts) as u32,
            max_payload,
        };
        debug_assert_eq!(l.validate(), Ok(()));
        l
    }
}

/// One input to the dispatcher. Small integers index tables of values (see
/// [`Host::apply`]), so that mutations stay meaningful.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A message arrives.
    Arrive {
        /// Target: anycast (0-2) or addressed to `a`, `b`, `c`.
        key: u8,
        /// Session: none (0, 1), `s`, `t`.
        session: u8,
        /// Payload size: 0, 5, 10, 21, 100, u32::MAX.
        bytes: u8,
        /// Time to live: 0, 1, 60, 400, 100 000, 2^40, forever.
        ttl: u8,
        /// What the registry says: nowhere (0, 1), an owner, a spare node.
        elsewhere: u8,
        /// Attempt (a forwarded message keeps its count): 1, 1, 1, 2, 0, u32::MAX.
        attempt: u8,
    },
    /// An instance the host was told to spawn is ready (the n-th pending one).
    Started(u8),
    /// An instance could not be made.
    StartFailed(u8, u8),
    /// A running message finished (the n-th running one).
    Finished(u8),
    /// A running message faulted.
    Fault(u8, u8),
    /// A running guest sets its disposition.
    SetDisposition(u8, u8),
    /// The clock advances a little.
    Advance(u16),
    /// The clock jumps (saturating at the far future).
    Jump(u64),
    /// The clock goes to `poll_timeout`.
    ToNextTimeout,
    /// The node shuts down.
    Shutdown,
    /// The node loses its cluster lease.
    Evict,
    /// The node gets it back.
    Restore,
    /// A call the contract forbids: must be an error and change nothing.
    Illegal(u8, u8),
    /// A timeout at `now + dt`, then another input before draining.
    Eager(u16),
}

/// A whole fuzz input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Input {
    /// The limits.
    pub limits: LimitsIn,
    /// The events, in order.
    pub events: Vec<Event>,
}

impl Input {
    /// Reads an input: the limits, then events until the bytes run out.
    pub fn parse(data: &[u8]) -> arbitrary::Result<Input> {
        let mut u = Unstructured::new(data);
        let limits = LimitsIn::arbitrary(&mut u)?;
        let mut events = Vec::new();
        while !u.is_empty() && events.len() < MAX_EVENTS {
            events.push(Event::arbitrary(&mut u)?);
        }
        Ok(Input { limits, events })
    }
}

/// The whole check for one input. Panics on a violated property.
pub fn check(data: &[u8]) {
    let Ok(input) = Input::parse(data) else {
        return;
    };
    run(&input);
}

/// Runs an input to the end and to rest.
pub fn run(input: &Input) -> Host {
    let trace = std::env::var_os("GOLDFISH_FUZZ_TRACE").is_some();
    let mut host = Host::new(input.limits.limits());
    host.trace = trace;
    if trace {
        eprintln!("limits: {:?}", host.d.limits());
    }
    for e in &input.events {
        if trace {
            eprintln!("now {} event {e:?}", host.now.0);
        }
        host.apply(e);
        host.check_invariants();
    }
    if trace {
        eprintln!("to rest");
    }
    host.run_to_quiet();
    host.check_quiet();
    host
}

/// The latest the host's clock reads: [`Tick::NEVER`] is "a deadline that
/// never passes", which no clock reaches.
pub const CLOCK_CAP: Tick = Tick(u64::MAX - 1);

fn advance(now: Tick, dt: u64) -> Tick {
    now.after(Span(dt)).min(CLOCK_CAP)
}

/// The function the dispatcher serves.
pub fn function() -> FunctionId {
    FunctionId::new("f").expect("valid")
}

fn key(s: &str) -> Key {
    Key::new(s).expect("valid")
}

const FAULTS: [FaultKind; 5] = [
    FaultKind::Trap,
    FaultKind::OutOfFuel,
    FaultKind::OutOfMemory,
    FaultKind::StartFailed,
    FaultKind::NodeLost,
];

fn fault(i: u8) -> FaultKind {
    FAULTS[usize::from(i) % FAULTS.len()]
}

fn disposition(i: u8) -> Disposition {
    match i % 5 {
        0 => Disposition::Any,
        1 => Disposition::Session(key("s")),
        2 => Disposition::Session(key("t")),
        3 => Disposition::Refuse,
        _ => Disposition::Stop,
    }
}

/// Everything the dispatcher has said, as a host sees it.
#[derive(Debug, Default)]
pub struct Record {
    /// Accepted messages: their key (addressed) and acceptance order.
    pub accepted: BTreeMap<MessageId, (Option<Key>, u64)>,
    /// Outcomes per message.
    pub outcomes: BTreeMap<MessageId, u32>,
    /// Actors the host was told to spawn and has not reported on yet.
    pub pending: BTreeSet<Slot>,
    /// Messages announced for a run and not yet finished, per slot.
    pub running: BTreeMap<Slot, MessageId>,
    /// Actors announced (Spawn) and not yet Terminated, per slot.
    pub alive: BTreeMap<Slot, ActorKey>,
    /// For each addressed key, the acceptance order of the last message run.
    pub last_run: BTreeMap<Key, u64>,
    /// Idle terminations in the last step: slot, key, and since when the
    /// actor had been Suspended (from the state before the step).
    pub idle_terminations: Vec<(Slot, ActorKey, Option<Tick>)>,
    /// Keys spawned in the last step.
    pub spawned_keys: BTreeSet<ActorKey>,
    /// Every output, for the statistics of a seed.
    pub outputs: u64,
}

/// A host driving one dispatcher.
#[derive(Debug)]
pub struct Host {
    /// The dispatcher.
    pub d: D,
    /// The host's clock.
    pub now: Tick,
    next_id: u128,
    accepted_count: u64,
    /// What the dispatcher said.
    pub record: Record,
    /// Which event kinds did something (for the every-kind seed test).
    pub exercised: BTreeSet<&'static str>,
    /// Print every output (`GOLDFISH_FUZZ_TRACE=1`).
    pub trace: bool,
}

impl Host {
    /// A host with a fresh dispatcher.
    pub fn new(limits: Limits) -> Host {
        Host {
            d: D::new(function(), limits, [None; ACTORS], [None; ENTRIES])
                .expect("LimitsIn gives valid limits that fit the storage"),
            now: Tick::ZERO,
            next_id: 0,
            accepted_count: 0,
            record: Record::default(),
            exercised: BTreeSet::new(),
            trace: false,
        }
    }

    fn nth<T: Copy>(it: impl IntoIterator<Item = T>, i: u8) -> Option<T> {
        let v: Vec<T> = it.into_iter().collect();
        (!v.is_empty()).then(|| v[usize::from(i) % v.len()])
    }

    fn arrival(&mut self, e: &Event) -> Arrival {
        let Event::Arrive {
            key: k,
            session,
            bytes,
            ttl,
            elsewhere,
            attempt,
        } = *e
        else {
            unreachable!("only for arrivals")
        };
        self.next_id += 1;
        let target = match k % 6 {
            0..=2 => Target::Function(function()),
            3 => Target::Actor(function(), key("a")),
            4 => Target::Actor(function(), key("b")),
            _ => Target::Actor(function(), key("c")),
        };
        let session = match session % 4 {
            0 | 1 => None,
            2 => Some(key("s")),
            _ => Some(key("t")),
        };
        let bytes = [0, 5, 10, 21, 100, u32::MAX][usize::from(bytes) % 6];
        let ttl = [0, 1, 60, 400, 100_000, 1 << 40, u64::MAX][usize::from(ttl) % 7];
        let peer = NodeId::new("peer").expect("valid");
        let elsewhere = match elsewhere % 4 {
            0 | 1 => Elsewhere::Nowhere,
            2 => Elsewhere::Owner(peer),
            _ => Elsewhere::Spare(peer),
        };
        let attempt = [1, 1, 1, 2, 0, u32::MAX][usize::from(attempt) % 6];
        Arrival {
            message: MessageMeta {
                id: MessageId(self.next_id),
                target,
                session,
                bytes,
                deadline: self.now.after(Span(ttl)),
                attempt,
            },
            elsewhere,
        }
    }

    /// Makes an arrival and records it; `Ok` is required of a legal one.
    fn arrive(&mut self, a: &Arrival) -> Result<Decision, DispatchError> {
        let predicted = self.d.accepts(self.now, a);
        let d = self.d.handle_arrival(self.now, a)?;
        assert_eq!(
            d, predicted,
            "the decision differs from what `accepts` predicted for {a:?}"
        );
        if d.is_accepted() {
            self.record
                .accepted
                .insert(a.message.id, (a.message.target.key(), self.accepted_count));
            self.accepted_count += 1;
        }
        Ok(d)
    }

    /// Applies one event like a host, then drains the outputs.
    pub fn apply(&mut self, e: &Event) {
        let before: Vec<ActorInfo> = self.d.actors().collect();
        let now = self.now;
        let name = match *e {
            Event::Arrive { .. } => {
                let a = self.arrival(e);
                self.arrive(&a).expect("a legal arrival");
                "arrive"
            }
            Event::Started(i) => {
                let Some(s) = Self::nth(self.record.pending.iter().copied(), i) else {
                    return;
                };
                self.record.pending.remove(&s);
                self.d
                    .handle_started(now, s)
                    .expect("start of a pending actor");
                "started"
            }
            Event::StartFailed(i, f) => {
                let Some(s) = Self::nth(self.record.pending.iter().copied(), i) else {
                    return;
                };
                self.record.pending.remove(&s);
                self.d
                    .handle_start_failed(now, s, fault(f))
                    .expect("start failure of a pending actor");
                "start_failed"
            }
            Event::Finished(i) => {
                let Some((s, m)) = Self::nth(self.record.running.iter().map(|(s, m)| (*s, *m)), i)
                else {
                    return;
                };
                self.record.running.remove(&s);
                self.d
                    .handle_finished(now, s, m)
                    .expect("finish of a running message");
                "finished"
            }
            Event::Fault(i, f) => {
                let Some((s, m)) = Self::nth(self.record.running.iter().map(|(s, m)| (*s, *m)), i)
                else {
                    return;
                };
                self.record.running.remove(&s);
                self.d
                    .handle_fault(now, s, m, fault(f))
                    .expect("fault of a running message");
                "fault"
            }
            Event::SetDisposition(i, d) => {
                let Some(s) = Self::nth(self.record.running.keys().copied(), i) else {
                    return;
                };
                self.d
                    .set_disposition(s, disposition(d))
                    .expect("disposition of a running actor");
                "set_disposition"
            }
            Event::Advance(dt) => {
                self.now = advance(now, u64::from(dt));
                self.d.handle_timeout(self.now).expect("timeout");
                "advance"
            }
            Event::Jump(dt) => {
                self.now = advance(now, dt);
                self.d.handle_timeout(self.now).expect("timeout");
                "jump"
            }
            Event::ToNextTimeout => {
                if let Some(t) = self.d.poll_timeout().filter(|&t| t < Tick::NEVER) {
                    self.now = now.max(t);
                }
                self.d.handle_timeout(self.now).expect("timeout");
                "to_next_timeout"
            }
            Event::Shutdown => {
                self.d.handle_shutdown(now).expect("shutdown");
                "shutdown"
            }
            Event::Evict => {
                self.d.handle_evict(now).expect("evict");
                "evict"
            }
            Event::Restore => {
                self.d.handle_restore(now).expect("restore");
                "restore"
            }
            Event::Illegal(kind, x) => {
                if !self.illegal(kind, x) {
                    return;
                }
                "illegal"
            }
            Event::Eager(dt) => {
                self.now = advance(now, u64::from(dt));
                self.d.handle_timeout(self.now).expect("timeout");
                let pending = self.d.clone().poll_output().is_some();
                let snapshot = self.d.clone();
                let r = self.d.handle_timeout(self.now);
                if pending {
                    assert_eq!(
                        r,
                        Err(DispatchError::OutputsPending),
                        "an input with outputs pending"
                    );
                    assert_eq!(self.d, snapshot, "a refused input changed the state");
                } else {
                    r.expect("an input with nothing pending");
                }
                if pending {
                    "eager_pending"
                } else {
                    "eager"
                }
            }
        };
        self.exercised.insert(name);
        self.drain(&before);
    }

    /// Makes a call the contract forbids; returns false if the chosen call
    /// would be legal (then nothing is done).
    fn illegal(&mut self, kind: u8, x: u8) -> bool {
        let now = self.now;
        // Any slot, including ones past the storage.
        let slot = Slot(u32::from(x) % (ACTORS as u32 + 2));
        let snapshot = self.d.clone();
        let r: Result<(), DispatchError> = match kind % 8 {
            0 => {
                if self.record.pending.contains(&slot) {
                    return false;
                }
                self.d.handle_started(now, slot)
            }
            1 => {
                if self.record.pending.contains(&slot) {
                    return false;
                }
                self.d.handle_start_failed(now, slot, fault(x))
            }
            2 | 3 => {
                // The wrong message for a running slot, or any for another slot.
                let m = match self.record.running.get(&slot) {
                    Some(m) => MessageId(m.0 ^ (1 << 100)),
                    None => Self::nth(self.record.accepted.keys().copied(), x)
                        .unwrap_or(MessageId(u128::MAX)),
                };
                if kind % 8 == 2 {
                    self.d.handle_finished(now, slot, m)
                } else {
                    self.d.handle_fault(now, slot, m, fault(x))
                }
            }
            4 => {
                if self.record.running.contains_key(&slot) {
                    return false;
                }
                self.d.set_disposition(slot, disposition(x))
            }
            5 => {
                // Another function's message.
                let mut a = self.arrival(&Event::Arrive {
                    key: x,
                    session: x,
                    bytes: x,
                    ttl: 4,
                    elsewhere: 0,
                    attempt: 0,
                });
                a.message.target = match a.message.target {
                    Target::Function(_) => Target::Function(FunctionId::new("g").expect("valid")),
                    Target::Actor(_, k) => Target::Actor(FunctionId::new("g").expect("valid"), k),
                };
                self.arrive(&a).map(|_| ())
            }
            6 => {
                // An id that is in the buffer already.
                let Some(id) = Self::nth(self.d.buffer().iter().map(|(_, e)| e.meta.id), x) else {
                    return false;
                };
                let mut a = self.arrival(&Event::Arrive {
                    key: x,
                    session: 0,
                    bytes: 0,
                    ttl: 4,
                    elsewhere: 0,
                    attempt: 0,
                });
                a.message.id = id;
                self.arrive(&a).map(|_| ())
            }
            _ => {
                // A Started for an actor that is running or suspended.
                let Some(s) = Self::nth(
                    self.d
                        .actors()
                        .filter(|a| !self.record.pending.contains(&a.slot))
                        .map(|a| a.slot),
                    x,
                ) else {
                    return false;
                };
                self.d.handle_started(now, s)
            }
        };
        assert!(
            r.is_err(),
            "an illegal call (kind {kind}, slot {slot:?}) was accepted"
        );
        assert_eq!(self.d, snapshot, "a refused call changed the dispatcher");
        true
    }

    /// Polls every output and records it, checking S1, S3 (no duplicate),
    /// S5 and S6 output by output.
    pub fn drain(&mut self, before: &[ActorInfo]) {
        self.record.idle_terminations.clear();
        self.record.spawned_keys.clear();
        let mut n = 0u32;
        while let Some(o) = self.d.poll_output() {
            n += 1;
            assert!(
                n <= 4 * (ACTORS + ENTRIES) as u32,
                "poll_output does not run dry"
            );
            self.record.outputs += 1;
            if self.trace {
                eprintln!("    -> {o:?}");
            }
            let r = &mut self.record;
            match o {
                Output::Spawn { slot, actor } => {
                    assert_eq!(actor.function, function());
                    assert!(
                        r.alive.insert(slot, actor.key).is_none(),
                        "spawn into slot {slot:?} which holds a live actor"
                    );
                    r.pending.insert(slot);
                    r.spawned_keys.insert(actor.key);
                }
                Output::Run { slot, message, .. } => {
                    assert!(
                        r.alive.contains_key(&slot),
                        "S5: run in a dead slot {slot:?}"
                    );
                    assert!(
                        !r.pending.contains(&slot),
                        "run in slot {slot:?} before its instance was started"
                    );
                    assert!(
                        r.running.insert(slot, message).is_none(),
                        "S1: second message in slot {slot:?}"
                    );
                    let (key, order) = *r
                        .accepted
                        .get(&message)
                        .unwrap_or_else(|| panic!("run of message {message} never accepted"));
                    if let Some(k) = key {
                        let last = r.last_run.insert(k, order);
                        assert!(
                            last.is_none_or(|l| l <= order),
                            "S6: message {order} for {k} ran after {last:?}"
                        );
                    }
                }
                Output::Outcome { message, .. } => {
                    assert!(
                        r.accepted.contains_key(&message),
                        "S3: outcome for a message never accepted"
                    );
                    let n = r.outcomes.entry(message).or_default();
                    *n += 1;
                    assert_eq!(*n, 1, "S3: second outcome for {message}");
                }
                Output::Terminated { slot, actor, cause } => {
                    assert!(r.alive.remove(&slot).is_some(), "terminated twice");
                    assert!(
                        !r.running.contains_key(&slot),
                        "S5: actor in slot {slot:?} terminated while running"
                    );
                    r.pending.remove(&slot);
                    if cause == Termination::Idle {
                        let since = before
                            .iter()
                            .find(|a| a.slot == slot && a.phase == Phase::Suspended)
                            .map(|a| a.since);
                        r.idle_terminations.push((slot, actor.key, since));
                    }
                }
            }
        }
    }

    /// S1, S3, S4, S5, S7 on the state after a step.
    pub fn check_invariants(&self) {
        let d = &self.d;
        // S1: at most one message runs in an actor, and only a Running actor runs one.
        for a in d.actors() {
            let announced = self.record.running.get(&a.slot);
            match a.phase {
                Phase::Running => assert_eq!(announced.copied(), a.job, "S1: {a:?}"),
                _ => assert!(
                    announced.is_none(),
                    "S1: {a:?} is not running but has a run"
                ),
            }
            if a.phase == Phase::Created {
                assert!(
                    self.record.pending.contains(&a.slot),
                    "an actor being made that the host was not told to spawn: {a:?}"
                );
            }
        }
        // S3: every accepted message without an outcome is in exactly one place.
        let mut holders: BTreeMap<MessageId, Vec<Slot>> = BTreeMap::new();
        for a in d.actors() {
            if let Some(m) = a.job {
                holders.entry(m).or_default().push(a.slot);
            }
        }
        let buffer = d.buffer();
        for &m in self.record.accepted.keys() {
            if self.record.outcomes.get(&m).copied().unwrap_or(0) > 0 {
                continue;
            }
            let entry = buffer.find(m).and_then(|r| buffer.get(r));
            let held = holders.get(&m).map_or(0, Vec::len);
            match entry.map(|e| e.state) {
                Some(EntryState::Waiting { .. }) => {
                    assert_eq!(held, 0, "S3: {m} waits and is held")
                }
                Some(EntryState::Held(s)) => {
                    assert_eq!(held, 1, "S3: {m} is held by {held} actors");
                    assert_eq!(holders[&m], [s], "S3: {m} held by the wrong slot");
                }
                other => panic!("S3: accepted message {m} is lost ({other:?})"),
            }
        }
        // S4: the waiting queue within its limits, and its accounting right.
        let l = d.limits();
        assert!(
            buffer.waiting_len() <= l.buffer_count,
            "S4: {} waiting",
            buffer.waiting_len()
        );
        assert!(
            buffer.waiting_bytes() <= l.buffer_bytes,
            "S4: {} bytes waiting",
            buffer.waiting_bytes()
        );
        let (n, bytes) = buffer
            .iter()
            .filter(|(_, e)| matches!(e.state, EntryState::Waiting { .. }))
            .fold((0u32, 0u64), |(n, s), (_, e)| {
                (n + 1, s + u64::from(e.meta.bytes))
            });
        assert_eq!(
            (n, bytes),
            (buffer.waiting_len(), buffer.waiting_bytes()),
            "S4: accounting"
        );
        // S5: terminated actors are gone and held nothing.
        let live: BTreeMap<Slot, ActorKey> = d.actors().map(|a| (a.slot, a.id.key)).collect();
        assert_eq!(
            live, self.record.alive,
            "S5: live actors vs what the host was told"
        );
        assert_eq!(d.live() as usize, live.len(), "live count");
        for a in d.actors() {
            assert_ne!(a.phase, Phase::Terminated, "S5: unreported termination");
        }
        for (_, e) in buffer.iter() {
            if let EntryState::Waiting { pin: Some(s), .. } = e.state {
                assert!(
                    live.contains_key(&s),
                    "S5: a message waits for dead slot {s:?}"
                );
            }
        }
        // S7: idle terminations only when idle.
        let idle = l.idle;
        for &(slot, key, since) in &self.record.idle_terminations {
            // Not Suspended before the step: it became Suspended during it,
            // at `now` (only an idle time of zero lets it go at once).
            let since = since.unwrap_or(self.now);
            assert!(
                self.now.since(since) >= idle,
                "S7: {slot:?} idle for {} < {idle}",
                self.now.since(since)
            );
            assert!(
                !self.record.spawned_keys.contains(&key) || matches!(key, ActorKey::Instance(_)),
                "S7: {key:?} terminated for idleness and re-created at once"
            );
            for (_, e) in buffer.iter() {
                let EntryState::Waiting { pin, .. } = e.state else {
                    continue;
                };
                let eligible = match (key, e.meta.target) {
                    (ActorKey::Keyed(k), Target::Actor(_, mk)) => k == mk,
                    (ActorKey::Instance(_), Target::Function(_)) => pin.is_none(),
                    _ => false,
                };
                assert!(
                    !eligible,
                    "S7: {key:?} idled out while {} waited for it",
                    e.meta.id
                );
            }
        }
        // The next timeout is never in the past after a step.
        if let Some(t) = d.poll_timeout() {
            assert!(
                t > self.now,
                "poll_timeout {t} is not after now {} after a step",
                self.now
            );
        }
    }

    /// Starts and finishes everything and runs the clock to each next
    /// timeout, until nothing is left.
    pub fn run_to_quiet(&mut self) {
        for _ in 0..10_000 {
            let before: Vec<ActorInfo> = self.d.actors().collect();
            if let Some(&s) = self.record.pending.iter().next() {
                self.record.pending.remove(&s);
                self.d.handle_started(self.now, s).expect("start at rest");
            } else if let Some((&s, &m)) = self.record.running.iter().next() {
                self.record.running.remove(&s);
                self.d
                    .handle_finished(self.now, s, m)
                    .expect("finish at rest");
            } else if let Some(t) = self.d.poll_timeout().filter(|&t| t < Tick::NEVER) {
                self.now = self.now.max(t);
                self.d.handle_timeout(self.now).expect("timeout at rest");
            } else if !self.d.is_shutting_down()
                && (self.d.live() > 0 || !self.d.buffer().is_empty())
            {
                // Only the far future is left (an idle time of forever): a
                // shutdown ends what a clock never will.
                self.d.handle_shutdown(self.now).expect("shutdown at rest");
            } else {
                return;
            }
            self.drain(&before);
            self.check_invariants();
        }
        panic!("liveness: the dispatcher did not come to rest in 10000 steps");
    }

    /// Liveness: every accepted message has exactly one outcome and nothing is left.
    pub fn check_quiet(&self) {
        for &m in self.record.accepted.keys() {
            assert_eq!(
                self.record.outcomes.get(&m).copied(),
                Some(1),
                "S3/liveness: message {m} ended without exactly one outcome"
            );
        }
        assert_eq!(self.d.live(), 0, "liveness: idle actors are terminated");
        assert!(self.d.buffer().is_empty(), "liveness: the buffer empties");
        assert!(self.record.running.is_empty());
        assert!(self.record.pending.is_empty());
        assert!(self.record.alive.is_empty());
    }
}

/// Writes `input` as bytes that [`Input::parse`] reads back (for seeds).
pub fn encode(input: &Input) -> Vec<u8> {
    let mut out = Vec::new();
    let l = input.limits;
    out.extend([
        l.idle,
        l.buffer_count,
        l.buffer_bytes,
        l.max_wait,
        l.max_instances,
        l.max_attempts,
        l.max_payload,
    ]);
    for e in &input.events {
        encode_event(e, &mut out);
    }
    out
}

/// The variant count of [`Event`].
const VARIANTS: u64 = 14;

fn variant(i: u64, out: &mut Vec<u8>) {
    crate::variant(i, VARIANTS, out)
}

fn encode_event(e: &Event, out: &mut Vec<u8>) {
    match *e {
        Event::Arrive {
            key,
            session,
            bytes,
            ttl,
            elsewhere,
            attempt,
        } => {
            variant(0, out);
            out.extend([key, session, bytes, ttl, elsewhere, attempt]);
        }
        Event::Started(i) => {
            variant(1, out);
            out.push(i);
        }
        Event::StartFailed(i, f) => {
            variant(2, out);
            out.extend([i, f]);
        }
        Event::Finished(i) => {
            variant(3, out);
            out.push(i);
        }
        Event::Fault(i, f) => {
            variant(4, out);
            out.extend([i, f]);
        }
        Event::SetDisposition(i, d) => {
            variant(5, out);
            out.extend([i, d]);
        }
        Event::Advance(dt) => {
            variant(6, out);
            out.extend(dt.to_le_bytes());
        }
        Event::Jump(dt) => {
            variant(7, out);
            out.extend(dt.to_le_bytes());
        }
        Event::ToNextTimeout => variant(8, out),
        Event::Shutdown => variant(9, out),
        Event::Evict => variant(10, out),
        Event::Restore => variant(11, out),
        Event::Illegal(k, x) => {
            variant(12, out);
            out.extend([k, x]);
        }
        Event::Eager(dt) => {
            variant(13, out);
            out.extend(dt.to_le_bytes());
        }
    }
}
