//! The exhaustive model check of goldfish-core's dispatcher (stateright).
//!
//! Release builds (`cargo test -p goldfish-spec --release`) check
//! [`Bound::ci`]; debug builds (`cargo test --workspace`) check the smaller
//! [`Bound::quick`]; `GOLDFISH_SPEC_BOUND=large` (or the finer variables of
//! [`Bound::from_env`]) checks more. Each bound prints the states it explored.

use std::time::Instant;

use goldfish_spec::model::{names, Bound, SpecModel};
use stateright::{Checker, Model};

fn threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

#[test]
fn every_property_holds_in_every_reachable_state() {
    let suite = Bound::from_env().unwrap_or_else(|| {
        if cfg!(debug_assertions) {
            Bound::quick()
        } else {
            Bound::ci()
        }
    });
    let (mut total, mut unique) = (0, 0);
    let all = Instant::now();
    for (name, bound) in suite {
        let model = SpecModel::new(bound.clone());
        assert_eq!(model.properties().len(), names::ALL.len());
        let t = Instant::now();
        // Depth first: the same states as breadth first, in far less memory.
        let checker = model.checker().threads(threads()).spawn_dfs().join();
        println!(
            "{name}: {} states, {} distinct, depth {}, {:.1?} ({bound:?})",
            checker.state_count(),
            checker.unique_state_count(),
            checker.max_depth(),
            t.elapsed()
        );
        total += checker.state_count();
        unique += checker.unique_state_count();
        checker.assert_properties();
        assert!(
            checker.unique_state_count() > 1_000,
            "{name}: the bound explores too little to mean anything"
        );
    }
    println!(
        "in all: {total} states, {unique} distinct, {:.1?}",
        all.elapsed()
    );
}
