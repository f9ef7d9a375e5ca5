//! Broken hosts: one per property, to show that the checks bite.
//!
//! Core cannot be broken from outside, so each variant is a host that
//! misbehaves in one precise way ([`Bug`]). The model checker must find a
//! counterexample for the property the bug breaks; [`Variant::violates`] lists
//! every property it breaks (some bugs break a second property as a
//! consequence), and the tests in `tests/broken.rs` assert exactly that set.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use stateright::{Checker, Expectation, Model};

use crate::model::{explain, names, Action, Bound, Clock, SpecModel};
use crate::world::{Bug, Kind, World};

/// A broken host, the bound it is checked in, and what it must break.
#[derive(Clone, Debug)]
pub struct Variant {
    /// The bug.
    pub bug: Bug,
    /// What the host does wrong.
    pub what: &'static str,
    /// The property it is meant to break.
    pub target: &'static str,
    /// Every property it breaks (the target among them).
    pub violates: &'static [&'static str],
    /// A small bound that shows it.
    pub bound: Bound,
}

fn bound(client: &[&[Kind]], clocks: &[Clock]) -> Bound {
    Bound {
        client: client.iter().map(|k| k.to_vec()).collect(),
        clocks: clocks.to_vec(),
        shutdown: false,
        evictions: 0,
    }
}

const A: &[Kind] = &[Kind::Anycast];
const K: &[Kind] = &[Kind::Addressed];
const ANY: &[Kind] = &Kind::ALL;

/// Every broken host.
pub fn variants() -> Vec<Variant> {
    use names::*;
    vec![
        Variant {
            bug: Bug::RunOnBusy,
            what: "runs a message queued for a busy actor on it at once",
            target: S1,
            violates: &[S1, S5, CONTRACT],
            bound: bound(&[K, K], &[Clock::AtTimeout]),
        },
        Variant {
            bug: Bug::DuplicateOutcome,
            what: "hands a Replied outcome to the caller twice",
            target: S3_NO_DUPLICATE,
            violates: &[S3_NO_DUPLICATE],
            bound: bound(&[ANY], &[Clock::AtTimeout]),
        },
        Variant {
            bug: Bug::DropExpiredOutcome,
            what: "drops Expired outcomes",
            target: S3_EVENTUALLY,
            violates: &[S3_NOTHING_LOST, S3_EVENTUALLY, SETTLES],
            bound: bound(&[A], &[Clock::AtTimeout]),
        },
        Variant {
            bug: Bug::UnderreportSize,
            what: "tells the dispatcher addressed payloads are empty",
            target: S4,
            violates: &[S4],
            bound: bound(&[K, K, K], &[Clock::AtTimeout]),
        },
        Variant {
            bug: Bug::StaleRoute,
            what: "runs a new addressed message in the slot its terminated actor had",
            target: S5,
            violates: &[S1, S5, CONTRACT],
            bound: bound(&[K, K], &[Clock::AtTimeout]),
        },
        Variant {
            bug: Bug::StaleFinishTime,
            what: "reports the end of a run with the time the run started",
            target: S7,
            violates: &[S7],
            bound: bound(&[A], &[Clock::AtTimeout]),
        },
        Variant {
            bug: Bug::HungStart,
            what: "never finishes making an addressed actor's instance",
            target: SETTLES,
            violates: &[SETTLES],
            bound: bound(&[K], &[Clock::AtTimeout]),
        },
    ]
}

/// What checking a variant found.
#[derive(Clone, Debug)]
pub struct Found {
    /// Properties with a counterexample, in [`names::ALL`] order.
    pub violated: Vec<&'static str>,
    /// The target's counterexample: the actions, then why it fails.
    pub counterexample: Option<(Vec<String>, String)>,
    /// States explored.
    pub states: usize,
}

/// The shortest path to a state that breaks the property `name`: for an
/// `always` property, a state where it fails; for an `eventually` one, a
/// terminal state where it does not hold (the predicates are stable, so it
/// never held on the way). Stateright's own discovery keeps the last
/// counterexample it meets, not the first, hence this breadth-first search.
pub fn shortest_counterexample(model: &SpecModel, name: &str) -> Option<(Vec<Action>, World)> {
    let property = model.properties().into_iter().find(|p| p.name == name)?;
    let eventually = property.expectation == Expectation::Eventually;
    let holds = property.condition;
    let mut seen = HashSet::new();
    let mut queue = VecDeque::new();
    for w in model.init_states() {
        seen.insert(w.clone());
        queue.push_back((w, Vec::new()));
    }
    while let Some((w, path)) = queue.pop_front() {
        let steps = model.next_steps(&w);
        let broken = if eventually {
            steps.is_empty() && !holds(model, &w)
        } else {
            !holds(model, &w)
        };
        if broken {
            return Some((path, w));
        }
        for (a, next) in steps {
            if seen.insert(next.clone()) {
                let mut p = path.clone();
                p.push(a);
                queue.push_back((next, p));
            }
        }
    }
    None
}

/// Checks `v` to the end of its bound with stateright (which properties
/// break), and finds the target's shortest counterexample.
pub fn check(v: &Variant) -> Found {
    let model = SpecModel::with_bug(v.bound.clone(), v.bug);
    let checker = model
        .clone()
        .checker()
        .threads(1)
        .timeout(Duration::from_secs(300))
        .spawn_bfs()
        .join();
    let violated = names::ALL
        .into_iter()
        .filter(|n| checker.discovery(n).is_some())
        .collect();
    let counterexample = shortest_counterexample(&model, v.target).map(|(actions, last)| {
        let actions = actions.into_iter().map(|a| format!("{a:?}")).collect();
        (actions, explain(&model, v.target, &last))
    });
    Found {
        violated,
        counterexample,
        states: checker.unique_state_count(),
    }
}
