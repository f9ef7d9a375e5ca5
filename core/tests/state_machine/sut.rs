//! The system under test: a `FixedDispatcher` driven like a host drives it,
//! with a record of everything it told the host, for the invariants.

use std::collections::{BTreeMap, BTreeSet};

use goldfish_core::buffer::EntryState;
use goldfish_core::{
    ActorInfo, ActorKey, Arrival, Decision, Elsewhere, FixedDispatcher, Key, MessageId,
    MessageMeta, NodeId, Output, Phase, Slot, Span, Target, Termination, Tick,
};

use crate::reference::{function, Model, Step};

/// Everything the dispatcher has said, as a host would see it.
#[derive(Debug, Default)]
pub struct Record {
    /// Accepted messages: their key (addressed) and acceptance order.
    pub accepted: BTreeMap<MessageId, (Option<Key>, u64)>,
    /// Outcomes per message.
    pub outcomes: BTreeMap<MessageId, u32>,
    /// Messages announced for a run and not yet finished, per slot.
    pub running: BTreeMap<Slot, MessageId>,
    /// Actors announced (Spawn) and not yet Terminated, per slot.
    pub alive: BTreeMap<Slot, ActorKey>,
    /// For each addressed key, the acceptance order of the last message run.
    pub last_run: BTreeMap<Key, u64>,
    /// Terminations for idleness in the last step: slot, key, and when the
    /// actor had become Suspended (from the state before the step).
    pub idle_terminations: Vec<(Slot, ActorKey, Option<Tick>)>,
    /// Keys spawned in the last step.
    pub spawned_keys: BTreeSet<ActorKey>,
}

pub struct Sut {
    pub d: FixedDispatcher<8, 8>,
    pub now: Tick,
    next_id: u128,
    accepted_count: u64,
    pub record: Record,
    pub decision: Option<Decision>,
    pub outputs: Vec<Output>,
}

impl Sut {
    pub fn new(model: &Model) -> Sut {
        Sut {
            d: FixedDispatcher::new(function(), model.limits, [None; 8], [None; 8]).unwrap(),
            now: Tick(0),
            next_id: 0,
            accepted_count: 0,
            record: Record::default(),
            decision: None,
            outputs: vec![],
        }
    }

    pub fn step(&mut self, step: &Step) {
        let before: Vec<ActorInfo> = self.d.actors().collect();
        self.decision = None;
        let now = self.now;
        match *step {
            Step::Arrive {
                key,
                session,
                bytes,
                ttl,
                peer: peer_known,
            } => {
                self.next_id += 1;
                let id = MessageId(self.next_id);
                let target = match key {
                    Some(k) => Target::Actor(function(), k),
                    None => Target::Function(function()),
                };
                let meta = MessageMeta {
                    id,
                    target,
                    session,
                    bytes,
                    deadline: now.after(Span(ttl)),
                    attempt: 1,
                };
                let peer = NodeId::new("peer").unwrap();
                let elsewhere = match (peer_known, key) {
                    (false, _) => Elsewhere::Nowhere,
                    (true, Some(_)) => Elsewhere::Owner(peer),
                    (true, None) => Elsewhere::Spare(peer),
                };
                let arrival = Arrival {
                    message: meta,
                    elsewhere,
                };
                let d = self.d.handle_arrival(now, &arrival).unwrap();
                if d.is_accepted() {
                    self.record.accepted.insert(id, (key, self.accepted_count));
                    self.accepted_count += 1;
                }
                self.decision = Some(d);
            }
            Step::Started(s) => self.d.handle_started(now, s).unwrap(),
            Step::StartFailed(s) => self
                .d
                .handle_start_failed(now, s, goldfish_core::FaultKind::StartFailed)
                .unwrap(),
            Step::SetDisposition(s, d) => self.d.set_disposition(s, d).unwrap(),
            Step::Finished(s) => {
                let m = self.record.running.remove(&s).expect("a run was announced");
                self.d.handle_finished(now, s, m).unwrap();
            }
            Step::Fault(s, k) => {
                let m = self.record.running.remove(&s).expect("a run was announced");
                self.d.handle_fault(now, s, m, k).unwrap();
            }
            Step::Advance(dt) => {
                self.now = now.after(Span(dt));
                self.d.handle_timeout(self.now).unwrap();
            }
            Step::ToNextTimeout => {
                if let Some(t) = self.d.poll_timeout() {
                    self.now = self.now.max(t);
                }
                self.d.handle_timeout(self.now).unwrap();
            }
            Step::Shutdown => self.d.handle_shutdown(now).unwrap(),
            Step::Evict => self.d.handle_evict(now).unwrap(),
            Step::Restore => self.d.handle_restore(now).unwrap(),
        }
        self.drain(&before);
    }

    /// Polls every output and records it, checking S1, S3 (no duplicate),
    /// S5 and S6 as each one comes.
    pub fn drain(&mut self, before: &[ActorInfo]) {
        self.outputs.clear();
        self.record.idle_terminations.clear();
        self.record.spawned_keys.clear();
        while let Some(o) = self.d.poll_output() {
            self.outputs.push(o);
            let r = &mut self.record;
            match o {
                Output::Spawn { slot, actor } => {
                    assert!(
                        r.alive.insert(slot, actor.key).is_none(),
                        "spawn into slot {slot:?} which holds a live actor"
                    );
                    r.spawned_keys.insert(actor.key);
                }
                Output::Run { slot, message, .. } => {
                    // S5: only a live actor receives a message.
                    assert!(
                        r.alive.contains_key(&slot),
                        "S5: run in a dead slot {slot:?}"
                    );
                    // S1: one message at a time.
                    assert!(
                        r.running.insert(slot, message).is_none(),
                        "S1: second message in slot {slot:?}"
                    );
                    let (key, order) = r.accepted[&message];
                    if let Some(k) = key {
                        // S6: addressed messages run in acceptance order
                        // (a retry runs the same message again).
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
                    // S5: a terminated actor holds no message.
                    assert!(
                        !r.running.contains_key(&slot),
                        "S5: actor in slot {slot:?} terminated while running"
                    );
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

    /// Brings everything to an end: starts and finishes every actor, runs
    /// the clock to each next timeout, until nothing is left.
    pub fn run_to_quiet(&mut self) {
        for _ in 0..10_000 {
            let before: Vec<ActorInfo> = self.d.actors().collect();
            if let Some(a) = before.iter().find(|a| a.phase == Phase::Created) {
                self.d.handle_started(self.now, a.slot).unwrap();
            } else if let Some((&s, &m)) = self.record.running.iter().next() {
                self.record.running.remove(&s);
                self.d.handle_finished(self.now, s, m).unwrap();
            } else if let Some(t) = self.d.poll_timeout() {
                self.now = self.now.max(t);
                self.d.handle_timeout(self.now).unwrap();
            } else {
                return;
            }
            self.drain(&before);
        }
        panic!("liveness: the dispatcher did not come to rest in 10000 steps");
    }

    /// The waiting queue, oldest first: id, pin, overdue, attempt.
    pub fn waiting(&self) -> Vec<(u128, Option<usize>, bool, u32)> {
        let mut w: Vec<_> = self
            .d
            .buffer()
            .iter()
            .filter_map(|(_, e)| match e.state {
                EntryState::Waiting { pin, overdue, .. } => Some((
                    e.seq,
                    (e.meta.id.0, pin.map(Slot::index), overdue, e.meta.attempt),
                )),
                _ => None,
            })
            .collect();
        w.sort_by_key(|(seq, _)| *seq);
        w.into_iter().map(|(_, x)| x).collect()
    }
}
