//! Replaying Quint traces through goldfish-core.
//!
//! `quint run --mbt` records, in every state of a trace, the action the
//! simulator took (`mbt::actionTaken`) and its nondeterministic choices
//! (`mbt::nondetPicks`). [`replay`] applies the same input to a [`World`]
//! (core's real dispatcher and a correct host), then compares the WHOLE state
//! of the model with the dispatcher's: the clock, every actor (slot, key,
//! phase, since, disposition, message, messages taken), every buffer entry in
//! acceptance order (waiting with its pin and overdue flag, held, done; its
//! attempt, deadline and verdict), what the callers heard, the outputs of the
//! step in core's order, the arrival's decision, shutdown and eviction. An
//! action name it does not know fails the replay. The safety checks of
//! [`crate::properties`] run after every step too.

use std::collections::BTreeMap;

use goldfish_core::buffer::EntryState;
use goldfish_core::{
    ActorKey, Decision, Disposition, FaultKind, Key, MessageId, Output, Phase, Queue, RejectReason,
    Slot, Target, Termination, Tick, Verdict,
};

use crate::constants::Constants;
use crate::itf::{Trace, Value};
use crate::properties;
use crate::world::{Bug, Kind, World};

/// The actions of the Quint model's `step`, each mapped to a core input below.
pub const ACTIONS: [&str; 11] = [
    "arrive",
    "start",
    "startFail",
    "dispose",
    "finish",
    "fault",
    "timeout",
    "advance",
    "shutdown",
    "evict",
    "restore",
];

/// Where a buffer entry is (core's `EntryState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// Waiting: since, pin, overdue.
    Waiting(Tick, Option<Slot>, bool),
    /// Held by the actor in a slot.
    Held(Slot),
    /// Done, kept until reported.
    Released,
}

/// One buffer entry, as both sides show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryView {
    /// Acceptance order.
    pub seq: u64,
    /// The message.
    pub id: MessageId,
    /// Where it goes.
    pub target: Target,
    /// Its session.
    pub session: Option<Key>,
    /// Payload bytes.
    pub bytes: u32,
    /// Deadline.
    pub deadline: Tick,
    /// Which try.
    pub attempt: u32,
    /// Which queue.
    pub place: Place,
    /// Its outcome, once decided.
    pub verdict: Option<Verdict>,
}

/// One actor, as both sides show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActorView {
    /// Its slot.
    pub slot: Slot,
    /// Its key.
    pub key: ActorKey,
    /// Its phase.
    pub phase: Phase,
    /// When it entered the phase.
    pub since: Tick,
    /// Its disposition.
    pub disposition: Disposition,
    /// The message it holds.
    pub job: Option<MessageId>,
    /// Messages it was given.
    pub messages: u64,
}

/// Everything compared after a step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The clock.
    pub now: Tick,
    /// Messages sent.
    pub sent: usize,
    /// Whether the node shuts down.
    pub shutting_down: bool,
    /// Whether addressed actors are barred.
    pub evicting: bool,
    /// Actors by slot.
    pub actors: Vec<ActorView>,
    /// Buffer entries by acceptance order.
    pub buffer: Vec<EntryView>,
    /// Accepted messages.
    pub accepted: Vec<MessageId>,
    /// What each caller heard.
    pub outcomes: BTreeMap<MessageId, Vec<Verdict>>,
    /// The step's outputs, in order.
    pub outputs: Vec<Output>,
    /// The arrival's decision.
    pub decision: Option<Decision>,
}

/// Core's side of a snapshot.
pub fn snapshot_core(
    w: &World,
    heard: &BTreeMap<MessageId, Vec<Verdict>>,
    outputs: &[Output],
    decision: Option<Decision>,
) -> Snapshot {
    let actors =
        w.d.actors()
            .map(|a| ActorView {
                slot: a.slot,
                key: a.id.key,
                phase: a.phase,
                since: a.since,
                disposition: a.disposition,
                job: a.job,
                messages: a.messages,
            })
            .collect();
    let mut buffer: Vec<_> =
        w.d.buffer()
            .iter()
            .map(|(_, e)| EntryView {
                seq: e.seq,
                id: e.meta.id,
                target: e.meta.target,
                session: e.meta.session,
                bytes: e.meta.bytes,
                deadline: e.meta.deadline,
                attempt: e.meta.attempt,
                place: match e.state {
                    EntryState::Waiting {
                        since,
                        pin,
                        overdue,
                    } => Place::Waiting(since, pin, overdue),
                    EntryState::Held(s) => Place::Held(s),
                    EntryState::Released => Place::Released,
                },
                verdict: e.verdict(),
            })
            .collect();
    buffer.sort_by_key(|e| e.seq);
    Snapshot {
        now: w.host.now,
        sent: w.host.messages.len(),
        shutting_down: w.d.is_shutting_down(),
        evicting: w.d.is_evicting(),
        actors,
        buffer,
        accepted: w
            .host
            .messages
            .iter()
            .enumerate()
            .filter(|(_, s)| s.accepted)
            .map(|(i, _)| crate::world::message_id(i + 1))
            .collect(),
        outcomes: heard.clone(),
        outputs: outputs.to_vec(),
        decision,
    }
}

/// Reads the model's values as core's types.
struct Reader<'a> {
    c: &'a Constants,
}

impl Reader<'_> {
    fn key(&self, s: &str) -> Result<Key, String> {
        Key::new(s).map_err(|e| format!("bad key {s:?}: {e}"))
    }

    fn slot(&self, v: &Value) -> Result<Slot, String> {
        let i = v.int()?;
        u32::try_from(i)
            .map(Slot)
            .map_err(|_| format!("bad slot {i}"))
    }

    fn message(&self, v: &Value) -> Result<MessageId, String> {
        Ok(MessageId(v.u64()?.into()))
    }

    fn actor_key(&self, v: &Value) -> Result<ActorKey, String> {
        match v.variant()? {
            ("Keyed", k) => Ok(ActorKey::Keyed(self.key(k.str()?)?)),
            ("Instance", n) => Ok(ActorKey::Instance(
                u32::try_from(n.int()?).map_err(|_| "bad instance")?,
            )),
            (t, _) => Err(format!("unknown ActorKey {t}")),
        }
    }

    fn phase(&self, v: &Value) -> Result<Phase, String> {
        Ok(match v.variant()?.0 {
            "Created" => Phase::Created,
            "Suspended" => Phase::Suspended,
            "Running" => Phase::Running,
            "Completed" => Phase::Completed,
            "Error" => Phase::Error,
            "Terminated" => Phase::Terminated,
            t => return Err(format!("unknown Phase {t}")),
        })
    }

    fn disposition(&self, v: &Value) -> Result<Disposition, String> {
        Ok(match v.variant()? {
            ("Any", _) => Disposition::Any,
            ("Session", s) => Disposition::Session(self.key(s.str()?)?),
            ("Refuse", _) => Disposition::Refuse,
            ("Stop", _) => Disposition::Stop,
            (t, _) => return Err(format!("unknown Disposition {t}")),
        })
    }

    fn fault(&self, v: &Value) -> Result<FaultKind, String> {
        let s = v.str()?;
        [
            FaultKind::Trap,
            FaultKind::OutOfFuel,
            FaultKind::OutOfMemory,
            FaultKind::StartFailed,
            FaultKind::NodeLost,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or_else(|| format!("unknown fault {s:?}"))
    }

    fn verdict(&self, v: &Value) -> Result<Verdict, String> {
        Ok(match v.variant()? {
            ("Replied", _) => Verdict::Replied,
            ("Expired", _) => Verdict::Expired,
            ("Failed", f) => Verdict::Failed(self.fault(f)?),
            (t, _) => return Err(format!("unknown Verdict {t}")),
        })
    }

    fn cause(&self, v: &Value) -> Result<Termination, String> {
        Ok(match v.variant()? {
            ("Idle", _) => Termination::Idle,
            ("Stopped", _) => Termination::Stopped,
            ("Fault", f) => Termination::Fault(self.fault(f)?),
            ("Shutdown", _) => Termination::Shutdown,
            ("Evicted", _) => Termination::Evicted,
            (t, _) => return Err(format!("unknown Cause {t}")),
        })
    }

    fn decision(&self, v: &Value) -> Result<Decision, String> {
        Ok(match v.variant()? {
            ("Deliver", s) => Decision::Deliver(self.slot(s)?),
            ("Spawn", _) => Decision::Spawn,
            ("Enqueue", q) => Decision::Enqueue(match q.variant()? {
                ("ForActor", s) => Queue::Actor(self.slot(s)?),
                ("ForFunction", _) => Queue::Function,
                (t, _) => return Err(format!("unknown Queue {t}")),
            }),
            ("Reject", r) => Decision::Reject(match r.variant()?.0 {
                "ShuttingDown" => RejectReason::ShuttingDown,
                "TooLarge" => RejectReason::TooLarge,
                "DeadlinePassed" => RejectReason::DeadlinePassed,
                "Unavailable" => RejectReason::Unavailable,
                "Busy" => RejectReason::Busy,
                "Overloaded" => RejectReason::Overloaded,
                t => return Err(format!("unknown Reason {t}")),
            }),
            (t, _) => return Err(format!("unknown Decision {t}")),
        })
    }

    fn output(&self, v: &Value) -> Result<Output, String> {
        let (tag, r) = v.variant()?;
        let actor = |r: &Value| -> Result<goldfish_core::ActorId, String> {
            Ok(goldfish_core::ActorId {
                function: self.c.function,
                key: self.actor_key(r.field("key")?)?,
            })
        };
        Ok(match tag {
            "SpawnActor" => Output::Spawn {
                slot: self.slot(r.field("slot")?)?,
                actor: actor(r)?,
            },
            "RunMessage" => Output::Run {
                slot: self.slot(r.field("slot")?)?,
                actor: actor(r)?,
                message: self.message(r.field("message")?)?,
                attempt: u32::try_from(r.field("attempt")?.int()?).map_err(|_| "bad attempt")?,
            },
            "Outcome" => Output::Outcome {
                message: self.message(r.field("message")?)?,
                verdict: self.verdict(r.field("verdict")?)?,
            },
            "TerminateActor" => Output::Terminated {
                slot: self.slot(r.field("slot")?)?,
                actor: actor(r)?,
                cause: self.cause(r.field("cause")?)?,
            },
            t => return Err(format!("unknown Output {t}")),
        })
    }

    fn entry(&self, e: &Value) -> Result<EntryView, String> {
        let place = match e.field("place")?.variant()? {
            ("Waiting", w) => Place::Waiting(
                Tick(w.field("since")?.u64()?),
                w.field("pin")?
                    .option()?
                    .map(|s| self.slot(s))
                    .transpose()?,
                w.field("overdue")?.bool()?,
            ),
            ("Held", s) => Place::Held(self.slot(s)?),
            ("Released", _) => Place::Released,
            (t, _) => return Err(format!("unknown Place {t}")),
        };
        Ok(EntryView {
            seq: e.field("seq")?.u64()?,
            id: self.message(e.field("id")?)?,
            target: match e.field("target")?.variant()? {
                ("Function", _) => Target::Function(self.c.function),
                ("Actor", k) => Target::Actor(self.c.function, self.key(k.str()?)?),
                (t, _) => return Err(format!("unknown Target {t}")),
            },
            session: e
                .field("session")?
                .option()?
                .map(|s| s.str().and_then(|s| self.key(s)))
                .transpose()?,
            bytes: u32::try_from(e.field("bytes")?.int()?).map_err(|_| "bad bytes")?,
            deadline: Tick(e.field("deadline")?.u64()?),
            attempt: u32::try_from(e.field("attempt")?.int()?).map_err(|_| "bad attempt")?,
            place,
            verdict: e
                .field("verdict")?
                .option()?
                .map(|v| self.verdict(v))
                .transpose()?,
        })
    }

    fn snapshot(&self, s: &BTreeMap<String, Value>) -> Result<Snapshot, String> {
        let var = |name: &str| s.get(name).ok_or_else(|| format!("no variable `{name}`"));
        let node = var("node")?;
        let mut actors = node
            .field("actors")?
            .map()?
            .iter()
            .map(|(slot, a)| {
                Ok(ActorView {
                    slot: self.slot(slot)?,
                    key: self.actor_key(a.field("key")?)?,
                    phase: self.phase(a.field("phase")?)?,
                    since: Tick(a.field("since")?.u64()?),
                    disposition: self.disposition(a.field("disposition")?)?,
                    job: a
                        .field("job")?
                        .option()?
                        .map(|m| self.message(m))
                        .transpose()?,
                    messages: a.field("messages")?.u64()?,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        actors.sort_by_key(|a| a.slot);
        let mut buffer = node
            .field("entries")?
            .map()?
            .iter()
            .map(|(_, e)| self.entry(e))
            .collect::<Result<Vec<_>, String>>()?;
        buffer.sort_by_key(|e| e.seq);
        let mut accepted = var("accepted")?
            .set()?
            .iter()
            .map(|m| self.message(m))
            .collect::<Result<Vec<_>, _>>()?;
        accepted.sort();
        let outcomes = var("outcomes")?
            .map()?
            .iter()
            .map(|(m, vs)| {
                Ok((
                    self.message(m)?,
                    vs.list()?
                        .iter()
                        .map(|v| self.verdict(v))
                        .collect::<Result<_, String>>()?,
                ))
            })
            .collect::<Result<_, String>>()?;
        Ok(Snapshot {
            now: Tick(var("now")?.u64()?),
            sent: usize::try_from(var("sent")?.int()?).map_err(|_| "bad sent")?,
            shutting_down: node.field("shuttingDown")?.bool()?,
            evicting: node.field("evicting")?.bool()?,
            actors,
            buffer,
            accepted,
            outcomes,
            outputs: var("outputs")?
                .list()?
                .iter()
                .map(|o| self.output(o))
                .collect::<Result<_, _>>()?,
            decision: var("decision")?
                .option()?
                .map(|d| self.decision(d))
                .transpose()?,
        })
    }

    fn pick<'v>(&self, picks: &'v Value, name: &str) -> Result<&'v Value, String> {
        picks
            .field(name)?
            .option()?
            .ok_or_else(|| format!("no nondeterministic pick `{name}`"))
    }
}

/// What a replay went through.
#[derive(Clone, Debug, Default)]
pub struct Replayed {
    /// How often each action was taken.
    pub actions: BTreeMap<String, usize>,
    /// Steps replayed.
    pub steps: usize,
}

/// Replays `trace` through core, comparing every state. The error names the
/// step, the action and the first difference.
pub fn replay(c: &Constants, trace: &Trace) -> Result<Replayed, String> {
    let r = Reader { c };
    let mut w = World::new(c);
    let mut heard: BTreeMap<MessageId, Vec<Verdict>> = BTreeMap::new();
    let mut done = Replayed::default();
    for (i, state) in trace.states.iter().enumerate() {
        let action = state
            .get("mbt::actionTaken")
            .ok_or("the trace has no mbt::actionTaken (run quint with --mbt)")?
            .str()?
            .to_string();
        let picks = state
            .get("mbt::nondetPicks")
            .ok_or("the trace has no mbt::nondetPicks")?;
        let at = |e: String| format!("state {i} (action `{action}`): {e}");
        let bug = Bug::None;
        let (outputs, decision) = if i == 0 {
            if action != "init" {
                return Err(at("the first state is not `init`".into()));
            }
            (Vec::new(), None)
        } else {
            let slot = || r.pick(picks, "slot").and_then(|s| r.slot(s));
            let step = match action.as_str() {
                "arrive" => {
                    let kind = match r.pick(picks, "kind")?.variant()?.0 {
                        "Anycast" => Kind::Anycast,
                        "WithSession" => Kind::Session,
                        "Addressed" => Kind::Addressed,
                        t => return Err(at(format!("unknown Kind {t}"))),
                    };
                    w.send(c, kind, bug).map(|(d, o)| (o, Some(d)))
                }
                "start" => w.started(slot()?, bug).map(|o| (o, None)),
                "startFail" => w.start_failed(slot()?, bug).map(|o| (o, None)),
                "dispose" => {
                    let d = r.disposition(r.pick(picks, "disposition")?)?;
                    w.set_disposition(slot()?, d).map(|o| (o, None))
                }
                "finish" => w.finish(slot()?, bug).map(|o| (o, None)),
                "fault" => w.fault(slot()?, bug).map(|o| (o, None)),
                "timeout" => {
                    let t =
                        w.d.poll_timeout()
                            .ok_or_else(|| at("core has no timeout".into()))?;
                    w.advance(t, bug).map(|o| (o, None))
                }
                "advance" => {
                    let delay = r.pick(picks, "delay")?.u64()?;
                    let to = w.host.now.after(goldfish_core::Span(delay));
                    w.advance(to, bug).map(|o| (o, None))
                }
                "shutdown" => w.shutdown(bug).map(|o| (o, None)),
                "evict" => w.evict(bug).map(|o| (o, None)),
                "restore" => w.restore(bug).map(|o| (o, None)),
                other => return Err(at(format!("unknown action `{other}`"))),
            };
            step.map_err(|e| at(format!("core refused the input: {e}")))?
        };
        for o in &outputs {
            if let Output::Outcome { message, verdict } = o {
                heard.entry(*message).or_default().push(*verdict);
            }
        }
        let core = snapshot_core(&w, &heard, &outputs, decision);
        let model = r.snapshot(state).map_err(at)?;
        if core != model {
            return Err(at(diff(&model, &core)));
        }
        properties::all_safety(&w, c).map_err(at)?;
        *done.actions.entry(action).or_default() += 1;
        done.steps += 1;
    }
    Ok(done)
}

/// The first field where the model and core differ.
fn diff(model: &Snapshot, core: &Snapshot) -> String {
    macro_rules! field {
        ($f:ident) => {
            if model.$f != core.$f {
                return format!(
                    "`{}` differs\n  model: {:?}\n  core:  {:?}",
                    stringify!($f),
                    model.$f,
                    core.$f
                );
            }
        };
    }
    field!(now);
    field!(sent);
    field!(shutting_down);
    field!(evicting);
    field!(decision);
    field!(outputs);
    field!(actors);
    field!(buffer);
    field!(accepted);
    field!(outcomes);
    "no difference".into()
}
