//! The checks bite: each broken host (one [`Bug`] per property) is caught
//! with a counterexample for exactly the properties it breaks, and the same
//! bound with a correct host breaks nothing.

use goldfish_spec::broken::{check, variants, Variant};
use goldfish_spec::model::names;
use goldfish_spec::world::Bug;

fn run(v: &Variant) {
    let found = check(v);
    let (actions, why) = found
        .counterexample
        .unwrap_or_else(|| panic!("{:?}: no counterexample for {}", v.bug, v.target));
    println!(
        "{:?} ({}): {} states\n  {}: {}\n  -> {why}\n  breaks: {:?}",
        v.bug,
        v.what,
        found.states,
        v.target,
        actions.join(", "),
        found.violated
    );
    assert!(v.violates.contains(&v.target));
    assert_eq!(
        found.violated, v.violates,
        "{:?} breaks other properties",
        v.bug
    );
    let correct = check(&Variant {
        bug: Bug::None,
        ..v.clone()
    });
    assert_eq!(
        correct.violated,
        Vec::<&str>::new(),
        "a correct host breaks nothing in {:?}'s bound",
        v.bug
    );
}

fn variant(bug: Bug) -> Variant {
    variants()
        .into_iter()
        .find(|v| v.bug == bug)
        .unwrap_or_else(|| panic!("no variant for {bug:?}"))
}

#[test]
fn s1_a_host_running_a_second_message_on_a_busy_actor() {
    run(&variant(Bug::RunOnBusy));
}

#[test]
fn s3_a_host_delivering_an_outcome_twice() {
    run(&variant(Bug::DuplicateOutcome));
}

#[test]
fn s3_a_host_dropping_an_outcome() {
    run(&variant(Bug::DropExpiredOutcome));
}

#[test]
fn s4_a_host_enqueueing_without_checking_the_bytes() {
    run(&variant(Bug::UnderreportSize));
}

#[test]
fn s5_a_host_running_a_message_on_a_terminated_slot() {
    run(&variant(Bug::StaleRoute));
}

#[test]
fn s7_a_host_terminating_an_actor_early() {
    run(&variant(Bug::StaleFinishTime));
}

#[test]
fn liveness_a_host_that_never_finishes_making_an_actor() {
    run(&variant(Bug::HungStart));
}

#[test]
fn every_property_has_a_broken_host() {
    let targets: Vec<_> = variants().iter().map(|v| v.target).collect();
    for p in [
        names::S1,
        names::S3_NO_DUPLICATE,
        names::S3_EVENTUALLY,
        names::S4,
        names::S5,
        names::S7,
        names::SETTLES,
    ] {
        assert!(targets.contains(&p), "no broken host for {p}");
    }
}
