//! The SIM (invocation model): where an arriving message goes.
//!
//! [`decide`] is a pure function of what the node knows (its actors of the
//! function, whether the buffer has room, the registry's answer for other
//! nodes), the message and the limits. It returns a [`Decision`] value; a
//! rejection is a value, not an error. The [`crate::dispatcher::Dispatcher`]
//! applies it.
//!
//! | target | situation | decision |
//! |---|---|---|
//! | any | shutting down / payload over `max_payload` / deadline passed | `Reject(ShuttingDown / TooLarge / DeadlinePassed)` |
//! | actor `k` | `k` live here and Suspended | `Deliver(k)` |
//! | actor `k` | `k` busy, disposition Refuse | `Reject(Busy)` |
//! | actor `k` | `k` busy, buffer has room | `Enqueue(Actor(k))` |
//! | actor `k` | `k` busy, buffer full | `Reject(Overloaded)` |
//! | actor `k` | not live here, owned by node `n` | `Forward(n)` |
//! | actor `k` | not live anywhere, below `max_instances` | `Spawn` |
//! | actor `k` | not live anywhere, at `max_instances`, room | `Enqueue(Function)` (waits for a slot) |
//! | function, session `s` | an instance holds session `s` and is Suspended | `Deliver(it)` |
//! | function, session `s` | an instance holds session `s`, busy, room | `Enqueue(Actor(it))` |
//! | function | an instance is Suspended | `Deliver(most recently active)` |
//! | function | all busy, one accepts queueing, `max_wait > 0`, room | `Enqueue(Function)` |
//! | function | otherwise, below `max_instances` | `Spawn` |
//! | function | otherwise, a peer has spare capacity | `Forward(peer)` |
//! | function | otherwise, room | `Enqueue(Function)` |
//! | any | otherwise | `Reject(Overloaded)` |

use crate::ids::{ActorKey, NodeId, Slot};
use crate::limits::Limits;
use crate::message::{Disposition, MessageMeta, RejectReason, Target};
use crate::phase::Phase;
use crate::time::Tick;

/// What the decision sees of one live actor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActorView {
    /// Its slot.
    pub slot: Slot,
    /// Its key (addressed) or instance number (anycast).
    pub key: ActorKey,
    /// Its LCM phase.
    pub phase: Phase,
    /// What it asked for next.
    pub disposition: Disposition,
    /// When it entered its current phase.
    pub since: Tick,
}

/// What the node knows of other nodes for this message (from the registry).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Elsewhere {
    /// Nothing: this node is alone, or no peer can help.
    #[default]
    Nowhere,
    /// The addressed actor is placed on this node.
    Owner(NodeId),
    /// This peer has spare capacity for the function.
    Spare(NodeId),
}

/// A message arriving at a node's dispatcher.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arrival {
    /// The message.
    pub message: MessageMeta,
    /// What the registry says about other nodes.
    pub elsewhere: Elsewhere,
}

impl Arrival {
    /// An arrival with no other node to consider.
    pub const fn local(message: MessageMeta) -> Self {
        Arrival {
            message,
            elsewhere: Elsewhere::Nowhere,
        }
    }
}

/// Where a queued message waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Queue {
    /// For this actor: the addressed actor, or the instance holding the session.
    Actor(Slot),
    /// For any instance of the function, or for a free slot.
    Function,
}

/// Where an arriving message goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Straight to this Suspended actor.
    Deliver(Slot),
    /// Into the buffer to wait.
    Enqueue(Queue),
    /// To a new actor created for it.
    Spawn,
    /// To another node.
    Forward(NodeId),
    /// Not accepted.
    Reject(RejectReason),
}

impl Decision {
    /// Whether the message is accepted here and will get an outcome from this node.
    pub const fn is_accepted(&self) -> bool {
        matches!(
            self,
            Decision::Deliver(_) | Decision::Enqueue(_) | Decision::Spawn
        )
    }
}

/// The node's side of the decision.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// The current time.
    pub now: Tick,
    /// The function's limits.
    pub limits: &'a Limits,
    /// Live actors of the function here (every phase but Terminated).
    pub live: u32,
    /// Whether a message of this size may wait in the buffer now.
    pub room: bool,
    /// Whether the node is shutting down.
    pub shutting_down: bool,
}

/// Decides where `arrival` goes, given the live actors of its function.
pub fn decide<I>(ctx: &Context<'_>, actors: I, arrival: &Arrival) -> Decision
where
    I: Iterator<Item = ActorView> + Clone,
{
    let m = &arrival.message;
    if ctx.shutting_down {
        return Decision::Reject(RejectReason::ShuttingDown);
    }
    if m.bytes > ctx.limits.max_payload {
        return Decision::Reject(RejectReason::TooLarge);
    }
    if m.deadline <= ctx.now {
        return Decision::Reject(RejectReason::DeadlinePassed);
    }
    let can_spawn = ctx.live < ctx.limits.max_instances;
    match m.target {
        Target::Actor(_, key) => {
            let mut actors = actors;
            if let Some(a) = actors.find(|a| a.key == ActorKey::Keyed(key)) {
                return if a.phase == Phase::Suspended {
                    Decision::Deliver(a.slot)
                } else if a.disposition == Disposition::Refuse {
                    Decision::Reject(RejectReason::Busy)
                } else if ctx.room {
                    Decision::Enqueue(Queue::Actor(a.slot))
                } else {
                    Decision::Reject(RejectReason::Overloaded)
                };
            }
            if let Elsewhere::Owner(n) = arrival.elsewhere {
                return Decision::Forward(n);
            }
            if can_spawn {
                Decision::Spawn
            } else if ctx.room {
                Decision::Enqueue(Queue::Function)
            } else {
                Decision::Reject(RejectReason::Overloaded)
            }
        }
        Target::Function(_) => {
            let instances = actors.filter(|a| matches!(a.key, ActorKey::Instance(_)));
            if let Some(s) = m.session {
                let holder = instances
                    .clone()
                    .find(|a| a.disposition == Disposition::Session(s));
                if let Some(a) = holder {
                    if a.phase == Phase::Suspended {
                        return Decision::Deliver(a.slot);
                    }
                    if ctx.room {
                        return Decision::Enqueue(Queue::Actor(a.slot));
                    }
                }
            }
            // A free instance: one that takes anything first, then one keeping
            // another session; the most recently active, so the others can idle
            // out (scale to zero).
            let free = instances
                .clone()
                .filter(|a| a.phase == Phase::Suspended)
                .max_by_key(|a| (a.disposition == Disposition::Any, a.since));
            if let Some(a) = free {
                return Decision::Deliver(a.slot);
            }
            let someone_will_take_it = instances
                .clone()
                .any(|a| a.phase != Phase::Suspended && a.disposition.accepts_queueing());
            if someone_will_take_it && ctx.room && ctx.limits.max_wait.as_micros() > 0 {
                return Decision::Enqueue(Queue::Function);
            }
            if can_spawn {
                return Decision::Spawn;
            }
            if let Elsewhere::Spare(n) = arrival.elsewhere {
                return Decision::Forward(n);
            }
            if ctx.room {
                Decision::Enqueue(Queue::Function)
            } else {
                Decision::Reject(RejectReason::Overloaded)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{FunctionId, Key, MessageId};
    use crate::time::Span;

    fn f() -> FunctionId {
        FunctionId::new("f").unwrap()
    }
    fn k(s: &str) -> Key {
        Key::new(s).unwrap()
    }
    fn anycast(session: Option<&str>) -> Arrival {
        Arrival::local(MessageMeta {
            id: MessageId(1),
            target: Target::Function(f()),
            session: session.map(k),
            bytes: 10,
            deadline: Tick(1_000),
            attempt: 1,
        })
    }
    fn addressed(key: &str) -> Arrival {
        let mut a = anycast(None);
        a.message.target = Target::Actor(f(), k(key));
        a
    }
    fn inst(slot: u32, phase: Phase, d: Disposition, since: u64) -> ActorView {
        ActorView {
            slot: Slot(slot),
            key: ActorKey::Instance(slot),
            phase,
            disposition: d,
            since: Tick(since),
        }
    }
    fn keyed(slot: u32, key: &str, phase: Phase, d: Disposition) -> ActorView {
        ActorView {
            key: ActorKey::Keyed(k(key)),
            ..inst(slot, phase, d, 0)
        }
    }
    fn run(limits: &Limits, room: bool, actors: &[ActorView], a: &Arrival) -> Decision {
        let ctx = Context {
            now: Tick(0),
            limits,
            live: actors.len() as u32,
            room,
            shutting_down: false,
        };
        decide(&ctx, actors.iter().copied(), a)
    }

    const L: Limits = Limits {
        idle: Span(100),
        buffer_count: 4,
        buffer_bytes: 100,
        max_wait: Span(10),
        max_instances: 2,
        max_attempts: 3,
        max_payload: 50,
    };

    #[test]
    fn rejections_come_first() {
        let mut a = anycast(None);
        a.message.bytes = 51;
        assert_eq!(
            run(&L, true, &[], &a),
            Decision::Reject(RejectReason::TooLarge)
        );
        let mut a = anycast(None);
        a.message.deadline = Tick(0);
        assert_eq!(
            run(&L, true, &[], &a),
            Decision::Reject(RejectReason::DeadlinePassed)
        );
        let ctx = Context {
            now: Tick(0),
            limits: &L,
            live: 0,
            room: true,
            shutting_down: true,
        };
        assert_eq!(
            decide(&ctx, [].into_iter(), &anycast(None)),
            Decision::Reject(RejectReason::ShuttingDown)
        );
    }

    #[test]
    fn addressed_actor_is_never_given_a_second_activation() {
        let a = addressed("k");
        let busy = keyed(0, "k", Phase::Running, Disposition::Any);
        assert_eq!(
            run(&L, true, &[busy], &a),
            Decision::Enqueue(Queue::Actor(Slot(0)))
        );
        assert_eq!(
            run(&L, false, &[busy], &a),
            Decision::Reject(RejectReason::Overloaded)
        );
        let refusing = keyed(0, "k", Phase::Running, Disposition::Refuse);
        assert_eq!(
            run(&L, true, &[refusing], &a),
            Decision::Reject(RejectReason::Busy)
        );
        let stopping = keyed(0, "k", Phase::Running, Disposition::Stop);
        assert_eq!(
            run(&L, true, &[stopping], &a),
            Decision::Enqueue(Queue::Actor(Slot(0)))
        );
        let idle = keyed(0, "k", Phase::Suspended, Disposition::Any);
        assert_eq!(run(&L, true, &[idle], &a), Decision::Deliver(Slot(0)));
        // Another key's actor does not count; there is room for a new one.
        let other = keyed(0, "j", Phase::Suspended, Disposition::Any);
        assert_eq!(run(&L, true, &[other], &a), Decision::Spawn);
        let full = [other, keyed(1, "i", Phase::Running, Disposition::Any)];
        assert_eq!(run(&L, true, &full, &a), Decision::Enqueue(Queue::Function));
        assert_eq!(
            run(&L, false, &full, &a),
            Decision::Reject(RejectReason::Overloaded)
        );
        let mut remote = a;
        remote.elsewhere = Elsewhere::Owner(NodeId::new("n2").unwrap());
        assert_eq!(
            run(&L, true, &[], &remote),
            Decision::Forward(NodeId::new("n2").unwrap())
        );
        // A local activation wins over a stale registry answer.
        assert_eq!(run(&L, true, &[idle], &remote), Decision::Deliver(Slot(0)));
    }

    #[test]
    fn anycast_prefers_a_free_instance_then_waits_then_spawns() {
        let a = anycast(None);
        assert_eq!(run(&L, true, &[], &a), Decision::Spawn);
        let old = inst(0, Phase::Suspended, Disposition::Any, 5);
        let new = inst(1, Phase::Suspended, Disposition::Any, 9);
        assert_eq!(run(&L, true, &[old, new], &a), Decision::Deliver(Slot(1)));
        let sess = inst(1, Phase::Suspended, Disposition::Session(k("s")), 9);
        assert_eq!(run(&L, true, &[old, sess], &a), Decision::Deliver(Slot(0)));
        assert_eq!(run(&L, true, &[sess], &a), Decision::Deliver(Slot(1)));
        let busy = inst(0, Phase::Running, Disposition::Any, 5);
        assert_eq!(
            run(&L, true, &[busy], &a),
            Decision::Enqueue(Queue::Function)
        );
        assert_eq!(run(&L, false, &[busy], &a), Decision::Spawn);
        let no_wait = Limits {
            max_wait: Span::ZERO,
            ..L
        };
        assert_eq!(run(&no_wait, true, &[busy], &a), Decision::Spawn);
    }

    #[test]
    fn refuse_and_stop_send_new_messages_elsewhere() {
        let a = anycast(None);
        let refusing = inst(0, Phase::Running, Disposition::Refuse, 5);
        assert_eq!(run(&L, true, &[refusing], &a), Decision::Spawn);
        let stopping = inst(1, Phase::Running, Disposition::Stop, 5);
        let both = [refusing, stopping];
        assert_eq!(run(&L, true, &both, &a), Decision::Enqueue(Queue::Function));
        let mut spill = a;
        spill.elsewhere = Elsewhere::Spare(NodeId::new("n2").unwrap());
        assert_eq!(
            run(&L, true, &both, &spill),
            Decision::Forward(NodeId::new("n2").unwrap())
        );
        assert_eq!(
            run(&L, false, &both, &a),
            Decision::Reject(RejectReason::Overloaded)
        );
    }

    #[test]
    fn a_session_sticks_to_its_instance() {
        let a = anycast(Some("s"));
        let holder = inst(0, Phase::Running, Disposition::Session(k("s")), 5);
        let free = inst(1, Phase::Suspended, Disposition::Any, 9);
        assert_eq!(
            run(&L, true, &[holder, free], &a),
            Decision::Enqueue(Queue::Actor(Slot(0)))
        );
        // No room to wait: the session gives way to a free instance.
        assert_eq!(
            run(&L, false, &[holder, free], &a),
            Decision::Deliver(Slot(1))
        );
        let idle_holder = inst(0, Phase::Suspended, Disposition::Session(k("s")), 1);
        assert_eq!(
            run(&L, true, &[idle_holder, free], &a),
            Decision::Deliver(Slot(0))
        );
    }
}
