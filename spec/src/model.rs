//! The exhaustive model check: a [`stateright::Model`] whose state is a
//! [`World`] (core's real `FixedDispatcher` and the host's record) and whose
//! actions are everything the environment may do next.
//!
//! Actions (all of them, in every interleaving, breadth first):
//!
//! - the client sends its next message, of each [`Kind`] its script allows
//!   (anycast, anycast with the session key, addressed to the one key),
//!   until it has sent them all ([`Bound::client`]);
//! - an instance the host is making starts, or fails to start;
//! - a running guest finishes, traps, or first sets its disposition
//!   (Refuse, Session, Stop; once per run);
//! - the clock moves to the dispatcher's `poll_timeout()`, just before it,
//!   or past it by the idle time ([`Clock`]);
//! - the node shuts down (once), loses its cluster lease (up to
//!   [`Bound::evictions`] times) and gets it back.
//!
//! Every action is one of core's `handle_*` inputs (or `set_disposition`)
//! followed by a full `poll_output` drain ([`World`]). The properties are
//! those of [`crate::properties`]; see [`SpecModel::properties`].

use goldfish_core::{Disposition, Slot, Tick};
use stateright::{Model, Property};

use crate::constants::Constants;
use crate::properties as p;
use crate::world::{Bug, Kind, World};

/// How the clock may move.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Clock {
    /// To the dispatcher's next timeout.
    AtTimeout,
    /// To just before it (nothing may fire yet).
    JustBefore,
    /// Past it by the idle time: several timers fire in one call.
    PastLimits,
}

/// What the environment does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// The client sends its next message.
    Send(Kind),
    /// The instance in the slot is ready.
    Started(Slot),
    /// The instance in the slot could not be made.
    StartFailed(Slot),
    /// The guest in the slot sets its disposition.
    SetDisposition(Slot, Disposition),
    /// The guest in the slot returns.
    Finish(Slot),
    /// The guest in the slot traps.
    Fault(Slot),
    /// The clock moves.
    Tick(Clock),
    /// The node shuts down.
    Shutdown,
    /// The node loses its lease.
    Evict,
    /// The node gets its lease back.
    Restore,
}

/// The size of the state space to explore.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bound {
    /// The client's messages, in the order it sends them: for each, the
    /// kinds it may be (one kind for a script, several for a choice).
    pub client: Vec<Vec<Kind>>,
    /// How the clock may move.
    pub clocks: Vec<Clock>,
    /// Whether the node may shut down.
    pub shutdown: bool,
    /// How many times the node may lose its lease.
    pub evictions: u8,
}

impl Bound {
    /// A client script (the kinds each message may be), clock moves, whether
    /// the node may shut down, how often it may lose its lease.
    pub fn new(client: &[&[Kind]], clocks: &[Clock], shutdown: bool, evictions: u8) -> Bound {
        Bound {
            client: client.iter().map(|k| k.to_vec()).collect(),
            clocks: clocks.to_vec(),
            shutdown,
            evictions,
        }
    }

    /// The bounds CI checks (`cargo test -p goldfish-spec --release`), about
    /// 5.6 million distinct states in all:
    ///
    /// - two messages of any kind, every clock move, shutdown, an eviction;
    /// - two anycast messages then an addressed one (two instances and the
    ///   addressed actor), with shutdown and an eviction;
    /// - an addressed message, an anycast one with the session key, a plain
    ///   anycast one, with shutdown and an eviction.
    pub fn ci() -> Vec<(&'static str, Bound)> {
        use Clock::*;
        use Kind::*;
        vec![
            (
                "two messages of any kind, every clock move",
                Bound::new(
                    &[&Kind::ALL, &Kind::ALL],
                    &[AtTimeout, JustBefore, PastLimits],
                    true,
                    1,
                ),
            ),
            (
                "two instances and the addressed actor",
                Bound::new(
                    &[&[Anycast], &[Anycast], &[Addressed]],
                    &[AtTimeout],
                    true,
                    1,
                ),
            ),
            (
                "the addressed actor beside a session",
                Bound::new(
                    &[&[Addressed], &[Session], &[Anycast]],
                    &[AtTimeout],
                    true,
                    1,
                ),
            ),
        ]
    }

    /// A bound small enough for a debug build (`cargo test --workspace`).
    pub fn quick() -> Vec<(&'static str, Bound)> {
        vec![(
            "two messages of any kind (debug build)",
            Bound::new(&[&Kind::ALL, &Kind::ALL], &[Clock::AtTimeout], true, 1),
        )]
    }

    /// The larger bound: three messages of any kind, with shutdown and an
    /// eviction (about 41 million distinct states, 5 minutes on 2 cores).
    pub fn large() -> Bound {
        Bound::new(
            &[&Kind::ALL, &Kind::ALL, &Kind::ALL],
            &[Clock::AtTimeout],
            true,
            1,
        )
    }

    /// The bounds chosen by the environment, if any:
    ///
    /// - `GOLDFISH_SPEC_BOUND=quick|ci|large`: one of the presets;
    /// - `GOLDFISH_SPEC_MESSAGES=n`: `n` messages of any kind;
    /// - `GOLDFISH_SPEC_CLIENT=a,k,s,ask`: a client script, one message per
    ///   comma, each the kinds it may be (`a` anycast, `s` anycast with the
    ///   session key, `k` addressed);
    /// - `GOLDFISH_SPEC_CLOCKS=at,before,past`: how the clock may move;
    /// - `GOLDFISH_SPEC_SHUTDOWN=0|1`, `GOLDFISH_SPEC_EVICTIONS=n`.
    ///
    /// The last four change [`Bound::large`] (or the chosen preset's first
    /// bound).
    pub fn from_env() -> Option<Vec<(&'static str, Bound)>> {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let num = |name: &str, v: &str| -> usize {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}={v} is not a number"))
        };
        let preset = var("GOLDFISH_SPEC_BOUND").map(|p| match p.as_str() {
            "quick" => Bound::quick(),
            "ci" => Bound::ci(),
            "large" => vec![("large", Bound::large())],
            other => panic!("GOLDFISH_SPEC_BOUND={other}: use quick, ci or large"),
        });
        let mut b = preset
            .as_ref()
            .map_or_else(Bound::large, |p| p[0].1.clone());
        let mut custom = false;
        if let Some(v) = var("GOLDFISH_SPEC_MESSAGES") {
            b.client = vec![Kind::ALL.to_vec(); num("GOLDFISH_SPEC_MESSAGES", &v)];
            custom = true;
        }
        if let Some(v) = var("GOLDFISH_SPEC_CLIENT") {
            b.client = v
                .split(',')
                .map(|m| {
                    let mut kinds: Vec<Kind> = m
                        .trim()
                        .chars()
                        .map(|c| match c {
                            'a' => Kind::Anycast,
                            's' => Kind::Session,
                            'k' => Kind::Addressed,
                            other => panic!("GOLDFISH_SPEC_CLIENT: unknown kind `{other}`"),
                        })
                        .collect();
                    kinds.sort();
                    kinds.dedup();
                    assert!(!kinds.is_empty(), "GOLDFISH_SPEC_CLIENT: an empty message");
                    kinds
                })
                .collect();
            custom = true;
        }
        if let Some(v) = var("GOLDFISH_SPEC_CLOCKS") {
            b.clocks = v
                .split(',')
                .map(|s| match s.trim() {
                    "at" => Clock::AtTimeout,
                    "before" => Clock::JustBefore,
                    "past" => Clock::PastLimits,
                    other => panic!("GOLDFISH_SPEC_CLOCKS: unknown clock move `{other}`"),
                })
                .collect();
            custom = true;
        }
        if let Some(v) = var("GOLDFISH_SPEC_SHUTDOWN") {
            b.shutdown = num("GOLDFISH_SPEC_SHUTDOWN", &v) != 0;
            custom = true;
        }
        if let Some(v) = var("GOLDFISH_SPEC_EVICTIONS") {
            b.evictions = u8::try_from(num("GOLDFISH_SPEC_EVICTIONS", &v)).unwrap_or(u8::MAX);
            custom = true;
        }
        if custom {
            Some(vec![("from the environment", b)])
        } else {
            preset
        }
    }
}

/// The stateright model of one function on one node.
#[derive(Clone, Debug)]
pub struct SpecModel {
    /// The constants of `spec/constants.qnt`.
    pub constants: Constants,
    /// What to explore.
    pub bound: Bound,
    /// How the host misbehaves ([`Bug::None`] for the real check).
    pub bug: Bug,
}

/// Names of the properties, for [`stateright::Checker::discovery`].
pub mod names {
    /// S1, always.
    pub const S1: &str = "S1 one message at a time per actor";
    /// S3, always: no caller hears twice.
    pub const S3_NO_DUPLICATE: &str = "S3 no duplicate outcome";
    /// S3, always: an accepted message without an outcome is somewhere.
    pub const S3_NOTHING_LOST: &str = "S3 nothing lost";
    /// S3, eventually: every accepted message gets its outcome.
    pub const S3_EVENTUALLY: &str = "S3 every accepted message eventually gets its outcome";
    /// S4, always.
    pub const S4: &str = "S4 buffer within its count and byte limits";
    /// S5, always.
    pub const S5: &str = "S5 a terminated actor holds no message and receives none";
    /// S7, always.
    pub const S7: &str = "S7 idle termination only when idle with nothing queued";
    /// Liveness: every actor ends and the buffer empties.
    pub const SETTLES: &str = "liveness: every actor is eventually terminated, the buffer empties";
    /// The host's calls were all accepted.
    pub const CONTRACT: &str = "the dispatcher accepts every host input";
    /// Every property.
    pub const ALL: [&str; 9] = [
        S1,
        S3_NO_DUPLICATE,
        S3_NOTHING_LOST,
        S3_EVENTUALLY,
        S4,
        S5,
        S7,
        SETTLES,
        CONTRACT,
    ];
}

const DISPOSITIONS: usize = 3;

impl SpecModel {
    /// The real check: a correct host, the shared constants.
    pub fn new(bound: Bound) -> SpecModel {
        SpecModel::with_bug(bound, Bug::None)
    }

    /// A host with `bug`.
    pub fn with_bug(bound: Bound, bug: Bug) -> SpecModel {
        SpecModel {
            constants: Constants::load().unwrap_or_else(|e| panic!("{e}")),
            bound,
            bug,
        }
    }

    fn dispositions(&self) -> [Disposition; DISPOSITIONS] {
        [
            Disposition::Refuse,
            Disposition::Session(self.constants.session),
            Disposition::Stop,
        ]
    }

    fn clock_target(&self, w: &World, clock: Clock) -> Option<Tick> {
        let t = w.d.poll_timeout()?;
        match clock {
            // A timer already due (never, with a correct host) is handled now.
            Clock::AtTimeout => Some(t.max(w.host.now)),
            Clock::JustBefore => Some(Tick(t.0.checked_sub(1)?)).filter(|to| *to > w.host.now),
            Clock::PastLimits => {
                Some(t.after(self.constants.limits.idle)).filter(|to| *to > w.host.now)
            }
        }
    }
}

impl Model for SpecModel {
    type State = World;
    type Action = Action;

    fn init_states(&self) -> Vec<World> {
        vec![World::new(&self.constants)]
    }

    fn actions(&self, w: &World, actions: &mut Vec<Action>) {
        if let Some(kinds) = self.bound.client.get(w.host.messages.len()) {
            actions.extend(kinds.iter().map(|k| Action::Send(*k)));
        }
        for i in w.host.instances.iter().filter(|i| i.creating) {
            let hung =
                self.bug == Bug::HungStart && matches!(i.key, goldfish_core::ActorKey::Keyed(_));
            if !hung {
                actions.push(Action::Started(i.slot));
                actions.push(Action::StartFailed(i.slot));
            }
        }
        let mut last = None;
        for r in &w.host.runs {
            if last == Some(r.slot) {
                continue;
            }
            last = Some(r.slot);
            actions.push(Action::Finish(r.slot));
            actions.push(Action::Fault(r.slot));
            if !r.disposed {
                for d in self.dispositions() {
                    actions.push(Action::SetDisposition(r.slot, d));
                }
            }
        }
        for c in &self.bound.clocks {
            if self.clock_target(w, *c).is_some() {
                actions.push(Action::Tick(*c));
            }
        }
        if self.bound.shutdown && !w.d.is_shutting_down() {
            actions.push(Action::Shutdown);
        }
        if w.d.is_evicting() {
            actions.push(Action::Restore);
        } else if w.host.evictions < self.bound.evictions {
            actions.push(Action::Evict);
        }
    }

    fn next_state(&self, w: &World, action: Action) -> Option<World> {
        let mut next = w.clone();
        let bug = self.bug;
        let c = &self.constants;
        let result = match action {
            Action::Send(kind) => next.send(c, kind, bug).map(|_| ()),
            Action::Started(s) => next.started(s, bug).map(|_| ()),
            Action::StartFailed(s) => next.start_failed(s, bug).map(|_| ()),
            Action::SetDisposition(s, d) => next.set_disposition(s, d).map(|_| ()),
            Action::Finish(s) => next.finish(s, bug).map(|_| ()),
            Action::Fault(s) => next.fault(s, bug).map(|_| ()),
            Action::Tick(clock) => {
                let to = self.clock_target(w, clock)?;
                next.advance(to, bug).map(|_| ())
            }
            Action::Shutdown => next.shutdown(bug).map(|_| ()),
            Action::Evict => next.evict(bug).map(|_| ()),
            Action::Restore => next.restore(bug).map(|_| ()),
        };
        if result.is_err() {
            // A refused input changes nothing in core; the property
            // `CONTRACT` reports it.
            let mut refused = w.clone();
            refused
                .host
                .contract
                .get_or_insert("the dispatcher refused an input");
            return Some(refused);
        }
        Some(next)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        use names::*;
        vec![
            Property::always(S1, |_, w| p::s1_one_message_at_a_time(w).is_ok()),
            Property::always(S3_NO_DUPLICATE, |_, w| {
                p::s3_no_duplicate_outcome(w).is_ok()
            }),
            Property::always(S3_NOTHING_LOST, |_, w| p::s3_nothing_lost(w).is_ok()),
            Property::eventually(S3_EVENTUALLY, |m: &SpecModel, w| {
                p::s3_every_outcome_delivered(w, m.bound.client.len())
            }),
            Property::always(S4, |m: &SpecModel, w| {
                p::s4_buffer_within_limits(w, &m.constants).is_ok()
            }),
            Property::always(S5, |_, w| p::s5_terminated_hold_nothing(w).is_ok()),
            Property::always(S7, |m: &SpecModel, w| {
                p::s7_idle_only_when_idle(w, &m.constants).is_ok()
            }),
            Property::eventually(SETTLES, |m: &SpecModel, w| {
                p::everything_settles(w, m.bound.client.len())
            }),
            Property::always(CONTRACT, |_, w| p::contract_kept(w).is_ok()),
        ]
    }
}

/// Why a property failed in the last state of a counterexample, for reports.
pub fn explain(model: &SpecModel, name: &str, w: &World) -> String {
    use names::*;
    let c = &model.constants;
    let r = match name {
        S1 => p::s1_one_message_at_a_time(w),
        S3_NO_DUPLICATE => p::s3_no_duplicate_outcome(w),
        S3_NOTHING_LOST => p::s3_nothing_lost(w),
        S4 => p::s4_buffer_within_limits(w, c),
        S5 => p::s5_terminated_hold_nothing(w),
        S7 => p::s7_idle_only_when_idle(w, c),
        CONTRACT => p::contract_kept(w),
        S3_EVENTUALLY | SETTLES => Err(format!(
            "the run ended: unanswered {:?}, live actors {}, buffer entries {}, runs {}",
            p::unanswered(w).iter().map(|m| m.0).collect::<Vec<_>>(),
            w.d.live(),
            w.d.buffer().len(),
            w.host.runs.len()
        )),
        _ => Ok(()),
    };
    match r {
        Ok(()) => "holds".to_string(),
        Err(e) => e,
    }
}
