//! The reference model: the LCM and SIM written as plainly as possible, over
//! `Vec`s, with no concern for allocation or speed. It predicts every decision
//! and every output of the dispatcher, step by step.
//!
//! It follows the rules of `core/README.md` directly: a free instance first,
//! then the buffer, then a new instance; addressed actors never get a second
//! activation; Refuse and Stop end with the run; retries go to a fresh actor.

use goldfish_core::{
    ActorId, ActorKey, Decision, Disposition, FaultKind, FunctionId, Key, Limits, MessageId,
    NodeId, Output, Phase, Queue, RejectReason, Slot, Termination, Tick, Verdict,
};
use proptest::prelude::*;
use proptest_state_machine::ReferenceStateMachine;

use crate::strategies;

/// One message as the model keeps it.
#[derive(Clone, Debug, PartialEq)]
pub struct Msg {
    pub id: u128,
    pub key: Option<Key>,
    pub session: Option<Key>,
    pub bytes: u32,
    pub deadline: Tick,
    pub attempt: u32,
    pub seq: u64,
    /// Waiting only: when it started waiting, what it waits for, overdue.
    pub since: Tick,
    pub pin: Option<usize>,
    pub overdue: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Actor {
    pub key: ActorKey,
    pub phase: Phase,
    pub since: Tick,
    pub disposition: Disposition,
    pub job: Option<Msg>,
    /// The job already has its outcome (it expired while held).
    pub job_done: bool,
    pub messages: u64,
    /// Evicted while Created or Running.
    pub evicted: bool,
}

/// What the environment does next.
#[derive(Clone, Debug)]
pub enum Step {
    Arrive {
        key: Option<Key>,
        session: Option<Key>,
        bytes: u32,
        ttl: u64,
        /// The registry knows a peer: the owner of an addressed actor, or a
        /// node with spare capacity for anycast.
        peer: bool,
    },
    Started(Slot),
    StartFailed(Slot),
    SetDisposition(Slot, Disposition),
    Finished(Slot),
    Fault(Slot, FaultKind),
    Advance(u64),
    ToNextTimeout,
    Shutdown,
    /// The node lost its lease: addressed actors go.
    Evict,
    /// It got a lease again.
    Restore,
}

#[derive(Clone, Debug)]
pub struct Model {
    pub limits: Limits,
    pub now: Tick,
    pub slots: Vec<Option<Actor>>,
    /// Waiting messages, oldest first.
    pub waiting: Vec<Msg>,
    pub next_seq: u64,
    pub next_id: u128,
    pub next_instance: u32,
    pub shutting_down: bool,
    pub evicting: bool,
    /// What the last step must have produced.
    pub decision: Option<Decision>,
    pub outputs: Vec<Output>,
}

pub fn function() -> FunctionId {
    FunctionId::new("f").unwrap()
}

impl Model {
    pub fn new(limits: Limits) -> Model {
        Model {
            limits,
            now: Tick(0),
            slots: vec![None; 2 * limits.max_instances as usize],
            waiting: vec![],
            next_seq: 0,
            next_id: 0,
            next_instance: 0,
            shutting_down: false,
            evicting: false,
            decision: None,
            outputs: vec![],
        }
    }

    fn actor_id(&self, key: ActorKey) -> ActorId {
        ActorId {
            function: function(),
            key,
        }
    }

    pub fn live(&self) -> u32 {
        self.slots
            .iter()
            .flatten()
            .filter(|a| a.phase != Phase::Terminated)
            .count() as u32
    }

    pub fn actors_in(&self, phase: Phase) -> Vec<Slot> {
        (0..self.slots.len())
            .filter(|&i| matches!(&self.slots[i], Some(a) if a.phase == phase))
            .map(|i| Slot(i as u32))
            .collect()
    }

    fn waiting_bytes(&self) -> u64 {
        self.waiting.iter().map(|m| u64::from(m.bytes)).sum()
    }

    fn room(&self, bytes: u32) -> bool {
        (self.waiting.len() as u32) < self.limits.buffer_count
            && self.waiting_bytes() + u64::from(bytes) <= self.limits.buffer_bytes
    }

    /// The next instant anything happens by itself.
    pub fn next_timeout(&self) -> Option<Tick> {
        let mut t: Vec<Tick> = vec![];
        for m in &self.waiting {
            t.push(m.deadline);
            if m.key.is_none() && !m.overdue {
                t.push(m.since.after(self.limits.max_wait));
            }
        }
        for a in self.slots.iter().flatten() {
            if let (Some(j), false) = (&a.job, a.job_done) {
                t.push(j.deadline);
            }
            if a.phase == Phase::Suspended {
                t.push(a.since.after(self.limits.idle));
            }
        }
        // A deadline of `Tick::NEVER` never fires: it is no timeout.
        t.into_iter().filter(|&t| t != Tick::NEVER).min()
    }

    // ----- the SIM decision, from the table -----

    fn decide(&self, m: &Msg, peer: bool) -> Decision {
        let peer = peer.then(|| NodeId::new("peer").unwrap());
        if self.shutting_down {
            return Decision::Reject(RejectReason::ShuttingDown);
        }
        if self.evicting && m.key.is_some() {
            return Decision::Reject(RejectReason::Unavailable);
        }
        if m.bytes > self.limits.max_payload {
            return Decision::Reject(RejectReason::TooLarge);
        }
        if m.deadline <= self.now {
            return Decision::Reject(RejectReason::DeadlinePassed);
        }
        let room = self.room(m.bytes);
        let can_spawn = self.live() < self.limits.max_instances;
        let live: Vec<(usize, &Actor)> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, a)| a.as_ref().map(|a| (i, a)))
            .filter(|(_, a)| a.phase != Phase::Terminated)
            .collect();
        if let Some(k) = m.key {
            if let Some((i, a)) = live.iter().find(|(_, a)| a.key == ActorKey::Keyed(k)) {
                if a.phase == Phase::Suspended {
                    return Decision::Deliver(Slot(*i as u32));
                }
                if a.disposition == Disposition::Refuse {
                    return Decision::Reject(RejectReason::Busy);
                }
                if room {
                    return Decision::Enqueue(Queue::Actor(Slot(*i as u32)));
                }
                return Decision::Reject(RejectReason::Overloaded);
            }
            if let Some(n) = peer {
                return Decision::Forward(n);
            }
            if can_spawn {
                return Decision::Spawn;
            }
            if room {
                return Decision::Enqueue(Queue::Function);
            }
            return Decision::Reject(RejectReason::Overloaded);
        }
        let instances: Vec<(usize, &Actor)> = live
            .into_iter()
            .filter(|(_, a)| matches!(a.key, ActorKey::Instance(_)))
            .collect();
        if let Some(s) = m.session {
            if let Some((i, a)) = instances
                .iter()
                .find(|(_, a)| a.disposition == Disposition::Session(s))
            {
                if a.phase == Phase::Suspended {
                    return Decision::Deliver(Slot(*i as u32));
                }
                if room {
                    return Decision::Enqueue(Queue::Actor(Slot(*i as u32)));
                }
            }
        }
        // Free instances: "take anything" ones first, the most recently active,
        // ties to the highest slot.
        let mut best: Option<(usize, (bool, Tick))> = None;
        for (i, a) in &instances {
            if a.phase != Phase::Suspended {
                continue;
            }
            let rank = (a.disposition == Disposition::Any, a.since);
            if best.is_none_or(|(_, r)| rank >= r) {
                best = Some((*i, rank));
            }
        }
        if let Some((i, _)) = best {
            return Decision::Deliver(Slot(i as u32));
        }
        let will_take = instances
            .iter()
            .any(|(_, a)| matches!(a.disposition, Disposition::Any | Disposition::Session(_)));
        if will_take && room && self.limits.max_wait.0 > 0 {
            return Decision::Enqueue(Queue::Function);
        }
        if can_spawn {
            return Decision::Spawn;
        }
        if let Some(n) = peer {
            return Decision::Forward(n);
        }
        if room {
            return Decision::Enqueue(Queue::Function);
        }
        Decision::Reject(RejectReason::Overloaded)
    }

    // ----- effects -----

    fn outcome(&mut self, id: u128, verdict: Verdict) {
        self.outputs.push(Output::Outcome {
            message: MessageId(id),
            verdict,
        });
    }

    fn start(&mut self, i: usize, m: Msg) {
        let now = self.now;
        let a = self.slots[i].as_mut().unwrap();
        assert_eq!(a.phase, Phase::Suspended);
        a.phase = Phase::Running;
        a.since = now;
        a.messages += 1;
        let (id, attempt, key) = (m.id, m.attempt, a.key);
        a.job = Some(m);
        a.job_done = false;
        self.outputs.push(Output::Run {
            slot: Slot(i as u32),
            actor: self.actor_id(key),
            message: MessageId(id),
            attempt,
        });
    }

    /// A new actor for `m`; gives `m` back if no slot is free.
    #[allow(clippy::result_large_err)]
    fn spawn(&mut self, m: Msg) -> Result<(), Msg> {
        let Some(i) = self.slots.iter().position(Option::is_none) else {
            return Err(m);
        };
        let key = match m.key {
            Some(k) => ActorKey::Keyed(k),
            None => {
                self.next_instance += 1;
                ActorKey::Instance(self.next_instance - 1)
            }
        };
        self.slots[i] = Some(Actor {
            key,
            phase: Phase::Created,
            since: self.now,
            disposition: Disposition::Any,
            job: Some(m),
            job_done: false,
            messages: 0,
            evicted: false,
        });
        self.outputs.push(Output::Spawn {
            slot: Slot(i as u32),
            actor: self.actor_id(key),
        });
        Ok(())
    }

    fn terminate(&mut self, i: usize, cause: Termination) {
        let a = self.slots[i].as_mut().unwrap();
        a.phase = Phase::Terminated;
        a.job = None;
        let key = a.key;
        for m in &mut self.waiting {
            if m.pin == Some(i) {
                m.pin = None;
            }
        }
        self.outputs.push(Output::Terminated {
            slot: Slot(i as u32),
            actor: self.actor_id(key),
            cause,
        });
    }

    fn fail(&mut self, i: usize, kind: FaultKind) {
        let a = self.slots[i].as_mut().unwrap();
        let job = a.job.take();
        let done = a.job_done;
        self.terminate(i, Termination::Fault(kind));
        if let Some(mut m) = job {
            if done {
                return;
            }
            if self.evicting && m.key.is_some() {
                self.outcome(m.id, Verdict::Failed(FaultKind::NodeLost));
            } else if m.attempt < self.limits.max_attempts {
                m.attempt += 1;
                if let Err(m) = self.spawn(m) {
                    self.outcome(m.id, Verdict::Failed(kind));
                }
            } else {
                self.outcome(m.id, Verdict::Failed(kind));
            }
        }
    }

    /// The message the Suspended actor in slot `i` takes next.
    fn next_for(&self, i: usize) -> Option<usize> {
        let a = self.slots[i].as_ref().unwrap();
        let oldest = |f: &dyn Fn(&Msg) -> bool| self.waiting.iter().position(f);
        match a.key {
            ActorKey::Keyed(k) => oldest(&|m| m.key == Some(k)),
            ActorKey::Instance(_) => {
                if let Some(p) = oldest(&|m| m.key.is_none() && m.pin == Some(i)) {
                    return Some(p);
                }
                if let Disposition::Session(s) = a.disposition {
                    if let Some(p) =
                        oldest(&|m| m.key.is_none() && m.pin.is_none() && m.session == Some(s))
                    {
                        return Some(p);
                    }
                }
                oldest(&|m| m.key.is_none() && m.pin.is_none())
            }
        }
    }

    fn settle(&mut self) {
        let now = self.now;
        // The clock: deadlines, then max waits.
        let mut expired = vec![];
        self.waiting.retain(|m| {
            if m.deadline <= now {
                expired.push(m.clone());
                false
            } else {
                true
            }
        });
        for a in self.slots.iter_mut().flatten() {
            if let (Some(j), false) = (&a.job, a.job_done) {
                if j.deadline <= now {
                    a.job_done = true;
                    expired.push(j.clone());
                }
            }
        }
        expired.sort_by_key(|m| m.seq);
        for m in expired {
            self.outcome(m.id, Verdict::Expired);
        }
        let max_wait = self.limits.max_wait;
        for m in &mut self.waiting {
            if m.key.is_none() && m.since.after(max_wait) <= now {
                m.overdue = true;
            }
        }
        // Free actors take their next message.
        for i in 0..self.slots.len() {
            if matches!(&self.slots[i], Some(a) if a.phase == Phase::Suspended) {
                if let Some(p) = self.next_for(i) {
                    let m = self.waiting.remove(p);
                    self.start(i, m);
                }
            }
        }
        // Idle or shutdown terminations.
        for i in 0..self.slots.len() {
            let Some(a) = &self.slots[i] else { continue };
            if a.phase != Phase::Suspended {
                continue;
            }
            if self.shutting_down {
                self.terminate(i, Termination::Shutdown);
            } else if now.since(a.since) >= self.limits.idle {
                self.terminate(i, Termination::Idle);
            }
        }
        // New actors for messages nobody will take.
        while self.live() < self.limits.max_instances {
            let accepting = self.slots.iter().flatten().any(|a| {
                a.phase != Phase::Terminated
                    && matches!(a.key, ActorKey::Instance(_))
                    && matches!(a.disposition, Disposition::Any | Disposition::Session(_))
            });
            let evicting = self.evicting;
            let needs =
                |m: &Msg| match m.key {
                    Some(k) => {
                        !evicting
                            && !self.slots.iter().flatten().any(|a| {
                                a.phase != Phase::Terminated && a.key == ActorKey::Keyed(k)
                            })
                    }
                    None => m.overdue || (m.pin.is_none() && !accepting),
                };
            let Some(p) = self.waiting.iter().position(needs) else {
                break;
            };
            let m = self.waiting.remove(p);
            if let Err(m) = self.spawn(m) {
                self.waiting.insert(p, m);
                break;
            }
        }
    }

    /// Terminated actors are reported and their slots freed.
    fn end_step(&mut self) {
        for s in &mut self.slots {
            if matches!(s, Some(a) if a.phase == Phase::Terminated) {
                *s = None;
            }
        }
    }

    pub fn step(&mut self, step: &Step) {
        self.decision = None;
        self.outputs.clear();
        match *step {
            Step::Arrive {
                key,
                session,
                bytes,
                ttl,
                peer,
            } => {
                self.next_id += 1;
                let mut m = Msg {
                    id: self.next_id,
                    key,
                    session,
                    bytes,
                    deadline: self.now.after(goldfish_core::Span(ttl)),
                    attempt: 1,
                    seq: self.next_seq,
                    since: self.now,
                    pin: None,
                    overdue: false,
                };
                let d = self.decide(&m, peer);
                self.decision = Some(d);
                if d.is_accepted() {
                    self.next_seq += 1;
                }
                match d {
                    Decision::Deliver(s) => self.start(s.index(), m),
                    Decision::Enqueue(q) => {
                        if let Queue::Actor(s) = q {
                            m.pin = Some(s.index());
                        }
                        self.waiting.push(m);
                    }
                    Decision::Spawn => self.spawn(m).expect("storage is sized for max_instances"),
                    Decision::Forward(_) | Decision::Reject(_) => {}
                }
                self.settle();
            }
            Step::Started(s) => {
                let now = self.now;
                let a = self.slots[s.index()].as_mut().unwrap();
                a.phase = Phase::Suspended;
                a.since = now;
                let job = a.job.take();
                let done = a.job_done;
                if a.evicted {
                    self.terminate(s.index(), Termination::Evicted);
                    if let (Some(j), false) = (job, done) {
                        self.outcome(j.id, Verdict::Failed(FaultKind::NodeLost));
                    }
                } else if let Some(j) = job {
                    if !done {
                        self.start(s.index(), j);
                    }
                }
                self.settle();
            }
            Step::StartFailed(s) => {
                self.fail(s.index(), FaultKind::StartFailed);
                self.settle();
            }
            Step::SetDisposition(s, d) => {
                self.slots[s.index()].as_mut().unwrap().disposition = d;
            }
            Step::Finished(s) => {
                let now = self.now;
                let a = self.slots[s.index()].as_mut().unwrap();
                let job = a.job.take().unwrap();
                let done = a.job_done;
                a.since = now;
                let stop = a.disposition == Disposition::Stop || a.evicted;
                let cause = if a.evicted {
                    Termination::Evicted
                } else {
                    Termination::Stopped
                };
                if !stop {
                    if a.disposition == Disposition::Refuse {
                        a.disposition = Disposition::Any;
                    }
                    a.phase = Phase::Suspended;
                }
                if !done {
                    self.outcome(job.id, Verdict::Replied);
                }
                if stop {
                    self.terminate(s.index(), cause);
                }
                self.settle();
            }
            Step::Fault(s, kind) => {
                self.fail(s.index(), kind);
                self.settle();
            }
            Step::Advance(dt) => {
                self.now = self.now.after(goldfish_core::Span(dt));
                self.settle();
            }
            Step::ToNextTimeout => {
                if let Some(t) = self.next_timeout() {
                    self.now = self.now.max(t);
                }
                self.settle();
            }
            Step::Shutdown => {
                self.shutting_down = true;
                self.settle();
            }
            Step::Evict => {
                self.evicting = true;
                for i in 0..self.slots.len() {
                    let Some(a) = self.slots[i].as_mut() else {
                        continue;
                    };
                    if !matches!(a.key, ActorKey::Keyed(_)) || a.phase == Phase::Terminated {
                        continue;
                    }
                    if a.phase == Phase::Suspended {
                        self.terminate(i, Termination::Evicted);
                    } else {
                        a.evicted = true;
                    }
                }
                let (gone, kept): (Vec<Msg>, Vec<Msg>) =
                    self.waiting.drain(..).partition(|m| m.key.is_some());
                self.waiting = kept;
                for m in gone {
                    self.outcome(m.id, Verdict::Failed(FaultKind::NodeLost));
                }
                self.settle();
            }
            Step::Restore => {
                self.evicting = false;
                self.settle();
            }
        }
        self.end_step();
    }
}

/// The reference state machine proptest generates steps from.
pub struct Reference;

impl ReferenceStateMachine for Reference {
    type State = Model;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<Model> {
        strategies::limits().prop_map(Model::new).boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<Step> {
        strategies::step(state)
    }

    fn preconditions(state: &Model, step: &Step) -> bool {
        let phase = |s: Slot| {
            state
                .slots
                .get(s.index())
                .and_then(|a| a.as_ref())
                .map(|a| a.phase)
        };
        match *step {
            Step::Started(s) | Step::StartFailed(s) => phase(s) == Some(Phase::Created),
            Step::SetDisposition(s, _) | Step::Finished(s) | Step::Fault(s, _) => {
                phase(s) == Some(Phase::Running)
            }
            _ => true,
        }
    }

    fn apply(mut state: Model, step: &Step) -> Model {
        state.step(step);
        state
    }
}
