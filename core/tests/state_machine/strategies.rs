//! What proptest generates: small limits, so that buffers fill, instances run
//! out and timers fire within a few dozen steps; and steps drawn from what the
//! current state allows.

use goldfish_core::{Disposition, FaultKind, Key, Limits, Phase, Span};
use proptest::prelude::*;

use crate::reference::{Model, Step};

fn key(s: &str) -> Key {
    Key::new(s).unwrap()
}

pub fn limits() -> impl Strategy<Value = Limits> {
    (
        prop_oneof![Just(100u64), Just(1_000)],
        0u32..=3,
        prop_oneof![Just(25u64), Just(1_000)],
        prop_oneof![Just(0u64), Just(50)],
        1u32..=3,
        1u32..=3,
    )
        .prop_map(
            |(idle, buffer_count, buffer_bytes, max_wait, max_instances, max_attempts)| Limits {
                idle: Span(idle),
                buffer_count,
                buffer_bytes,
                max_wait: Span(max_wait),
                max_instances,
                max_attempts,
                max_payload: 20,
            },
        )
        .prop_filter("valid limits", |l| l.validate().is_ok())
}

fn target() -> impl Strategy<Value = Option<Key>> {
    prop_oneof![
        3 => Just(None),
        1 => Just(Some(key("a"))),
        1 => Just(Some(key("b"))),
        1 => Just(Some(key("c"))),
    ]
}

fn session() -> impl Strategy<Value = Option<Key>> {
    prop_oneof![
        2 => Just(None),
        1 => Just(Some(key("s"))),
        1 => Just(Some(key("t"))),
    ]
}

fn disposition() -> impl Strategy<Value = Disposition> {
    prop_oneof![
        Just(Disposition::Any),
        Just(Disposition::Session(key("s"))),
        Just(Disposition::Session(key("t"))),
        Just(Disposition::Refuse),
        Just(Disposition::Stop),
    ]
}

fn fault() -> impl Strategy<Value = FaultKind> {
    prop_oneof![
        Just(FaultKind::Trap),
        Just(FaultKind::OutOfFuel),
        Just(FaultKind::OutOfMemory),
    ]
}

fn arrive() -> impl Strategy<Value = Step> {
    (
        target(),
        session(),
        prop_oneof![2 => Just(0u32), 3 => Just(5), 3 => Just(10), 1 => Just(21)],
        prop_oneof![1 => Just(0u64), 2 => Just(1), 3 => Just(60), 3 => Just(400), 3 => Just(100_000)],
        proptest::bool::weighted(0.1),
    )
        .prop_map(|(key, session, bytes, ttl, peer)| Step::Arrive {
            key,
            session,
            bytes,
            ttl,
            peer,
        })
}

/// A step the model allows now: arrivals and the clock always; host reports
/// only for actors in the phase that allows them.
pub fn step(m: &Model) -> BoxedStrategy<Step> {
    let created = m.actors_in(Phase::Created);
    let running = m.actors_in(Phase::Running);
    // After a shutdown, arrivals only show that they are refused.
    let arrivals = if m.shutting_down { 4 } else { 24 };
    let mut options: Vec<(u32, BoxedStrategy<Step>)> = vec![
        (arrivals, arrive().boxed()),
        (
            6,
            prop_oneof![Just(1u64), Just(25), Just(60), Just(1_000)]
                .prop_map(Step::Advance)
                .boxed(),
        ),
        (6, Just(Step::ToNextTimeout).boxed()),
    ];
    if !m.shutting_down {
        // Rare, so that most cases run a long while before it.
        options.push((1, Just(Step::Shutdown).boxed()));
    }
    // Losing and regaining the cluster lease.
    options.push((
        1,
        if m.evicting {
            Just(Step::Restore).boxed()
        } else {
            Just(Step::Evict).boxed()
        },
    ));
    if !created.is_empty() {
        let c = created.clone();
        options.push((
            18,
            proptest::sample::select(c).prop_map(Step::Started).boxed(),
        ));
        options.push((
            4,
            proptest::sample::select(created)
                .prop_map(Step::StartFailed)
                .boxed(),
        ));
    }
    if !running.is_empty() {
        options.push((
            24,
            proptest::sample::select(running.clone())
                .prop_map(Step::Finished)
                .boxed(),
        ));
        options.push((
            12,
            (proptest::sample::select(running.clone()), disposition())
                .prop_map(|(s, d)| Step::SetDisposition(s, d))
                .boxed(),
        ));
        options.push((
            6,
            (proptest::sample::select(running), fault())
                .prop_map(|(s, k)| Step::Fault(s, k))
                .boxed(),
        ));
    }
    proptest::strategy::Union::new_weighted(options).boxed()
}
