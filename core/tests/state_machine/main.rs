//! The dispatcher against a naive reference model, over random interleavings
//! of arrivals (anycast and addressed, with and without sessions), instance
//! start-ups and failures, completions under every disposition, guest faults,
//! clock advances and shutdown (proptest-state-machine).
//!
//! After every step: the dispatcher's decision, outputs and state equal the
//! model's, and S1, S3, S4, S5, S6 and S7 hold. At the end of every case the
//! system is run to rest and every accepted message must have exactly one
//! outcome and every actor must be gone (liveness).
//!
//! `PROPTEST_CASES` sets the number of cases (CI runs 10,000).

#![allow(unreachable_pub)] // test modules share items with `pub`

mod invariants;
mod reference;
mod strategies;
mod sut;

use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};

use reference::{Model, Reference, Step};
use sut::Sut;

struct DispatcherTest;

impl StateMachineTest for DispatcherTest {
    type SystemUnderTest = Sut;
    type Reference = Reference;

    fn init_test(model: &Model) -> Sut {
        Sut::new(model)
    }

    fn apply(mut sut: Sut, model: &Model, step: Step) -> Sut {
        sut.step(&step);
        invariants::all(&sut, model);
        sut
    }

    fn teardown(mut sut: Sut, _model: Model) {
        sut.run_to_quiet();
        for &m in sut.record.accepted.keys() {
            assert_eq!(
                sut.record.outcomes.get(&m).copied(),
                Some(1),
                "S3/liveness: message {m} ended without exactly one outcome"
            );
        }
        assert_eq!(
            sut.d.live(),
            0,
            "liveness: idle actors are eventually terminated"
        );
        assert!(sut.d.buffer().is_empty(), "liveness: the buffer empties");
        assert!(sut.record.running.is_empty());
    }
}

prop_state_machine! {
    #[test]
    fn dispatcher_matches_the_reference_and_keeps_s1_to_s7(sequential 1..80 => DispatcherTest);
}

/// A regression seed for the model itself: a transition list that exercises
/// every step kind once, so a broken generator cannot silently skip one.
#[test]
fn every_step_kind_runs() {
    use goldfish_core::{Disposition, FaultKind, Key, Limits, Slot, Span};
    let limits = Limits {
        idle: Span(100),
        buffer_count: 2,
        buffer_bytes: 1_000,
        max_wait: Span(50),
        max_instances: 2,
        max_attempts: 2,
        max_payload: 20,
    };
    let mut model = Model::new(limits);
    let mut sut = Sut::new(&model);
    let k = |s: &str| Some(Key::new(s).unwrap());
    let steps = [
        Step::Arrive {
            key: None,
            session: k("s"),
            bytes: 5,
            ttl: 1_000,
            peer: false,
        },
        Step::Started(Slot(0)),
        Step::SetDisposition(Slot(0), Disposition::Session(Key::new("s").unwrap())),
        Step::Arrive {
            key: None,
            session: k("s"),
            bytes: 5,
            ttl: 1_000,
            peer: false,
        },
        Step::Arrive {
            key: k("a"),
            session: None,
            bytes: 5,
            ttl: 1_000,
            peer: false,
        },
        Step::Arrive {
            key: k("b"),
            session: None,
            bytes: 5,
            ttl: 1_000,
            peer: true,
        },
        Step::StartFailed(Slot(1)),
        Step::Started(Slot(2)),
        Step::Fault(Slot(2), FaultKind::Trap),
        Step::Finished(Slot(0)),
        Step::Advance(25),
        Step::ToNextTimeout,
        Step::Shutdown,
    ];
    for step in &steps {
        assert!(
            Reference::preconditions(&model, step),
            "{step:?} not allowed"
        );
        model = Reference::apply(model, step);
        sut = DispatcherTest::apply(sut, &model, step.clone());
    }
    DispatcherTest::teardown(sut, model);
}
