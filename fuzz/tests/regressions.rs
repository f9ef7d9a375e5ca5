//! Every crash the fuzz targets found, as a test. The raw inputs are under
//! `regressions/<target>/` (libFuzzer runs them first in every `run.sh`,
//! and `tests/corpus.rs` replays them too); here each is spelled out.

use goldfish_core::wire::Outcome;
use goldfish_core::FaultKind;
use goldfish_fuzz::deploy::{self, Blocks, Stmt};
use goldfish_fuzz::events::{self, Event, Input, LimitsIn};
use goldfish_fuzz::node::Run;

/// `core_events`, `regressions/core_events/idle-zero-ends-on-finish`: with an
/// idle time of zero, an actor that finishes its message is Suspended and
/// terminated for idleness in the same step. The harness's S7 check wanted
/// the actor Suspended *before* the step; it now takes "not Suspended
/// before" as "Suspended since now", which an idle time of zero allows.
/// (A harness bug, not core's.)
#[test]
fn an_idle_time_of_zero_ends_an_actor_as_it_finishes() {
    let limits = LimitsIn {
        idle: 2, // 0
        max_instances: 1,
        ..LimitsIn::default()
    };
    assert_eq!(limits.limits().idle.as_micros(), 0);
    let arrive = |key| Event::Arrive {
        key,
        session: 0,
        bytes: 0,
        ttl: 4,
        elsewhere: 0,
        attempt: 0,
    };
    let host = events::run(&Input {
        limits,
        events: vec![
            arrive(0),
            Event::Started(0),
            arrive(0),
            Event::Finished(0),
            Event::Finished(0),
        ],
    });
    assert!(host.exercised.contains("finished"));
    // The same input as the fuzzer found it.
    let raw = std::fs::read(
        goldfish_fuzz::seeds::fuzz_dir().join("regressions/core_events/idle-zero-ends-on-finish"),
    )
    .expect("the regression input");
    events::check(&raw);
}

/// `wasm_deploy`, `regressions/wasm_deploy/long-loop-stack-overflow-without-sibling-calls`:
/// a guest that spins until its fuel runs out overflowed the fuzz build's
/// stack inside wasmi. wasmi's default dispatch is a chain of tail calls that
/// relies on LLVM's sibling-call optimization, which the fuzz build's debug
/// assertions and instrumentation defeat. Fixed in `fuzz/Cargo.toml` by
/// building wasmi with `portable-dispatch` (a build issue, not the host's:
/// the workspace's own profiles keep wasmi optimized and unchecked for the
/// same reason).
#[test]
fn a_guest_spinning_through_its_fuel_fails_cleanly() {
    let spin = Blocks {
        handle: vec![Stmt::Loop(100), Stmt::Forever],
        ..Blocks::default()
    };
    match deploy::run(spin.wat().as_bytes()) {
        Run::Ran(Outcome::Failed(f)) => assert_eq!(f.kind, FaultKind::OutOfFuel, "{f:?}"),
        other => panic!("{other:?}"),
    }
    let raw = std::fs::read(
        goldfish_fuzz::seeds::fuzz_dir()
            .join("regressions/wasm_deploy/long-loop-stack-overflow-without-sibling-calls"),
    )
    .expect("the regression input");
    deploy::check(&raw);
}
