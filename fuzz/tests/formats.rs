//! The seed encoders agree with the parsers the targets use, and the seeds
//! do what they are for.

use goldfish_fuzz::abi::{self, Expect, Model, Program};
use goldfish_fuzz::deploy::{self, Blocks};
use goldfish_fuzz::events::{self, Input};
use goldfish_fuzz::node::Run;
use goldfish_fuzz::seeds;

#[test]
fn event_inputs_round_trip() {
    for s in seeds::core_events() {
        let input = Input::parse(&s.bytes).expect("parses");
        assert_eq!(events::encode(&input), s.bytes, "{}", s.name);
    }
}

#[test]
fn every_event_kind_is_exercised() {
    let input = seeds::every_kind();
    let again = Input::parse(&events::encode(&input)).expect("parses");
    assert_eq!(again, input);
    let host = events::run(&input);
    let want = [
        "arrive",
        "started",
        "start_failed",
        "finished",
        "fault",
        "set_disposition",
        "advance",
        "jump",
        "to_next_timeout",
        "shutdown",
        "evict",
        "restore",
        "illegal",
    ];
    for w in want {
        assert!(
            host.exercised.contains(w),
            "{w} not exercised: {:?}",
            host.exercised
        );
    }
    assert!(
        host.exercised.contains("eager") || host.exercised.contains("eager_pending"),
        "{:?}",
        host.exercised
    );
}

#[test]
fn abi_programs_round_trip() {
    for s in seeds::abi_calls() {
        let p = Program::parse(&s.bytes).expect("parses");
        assert_eq!(p.encode(), s.bytes, "{}", s.name);
    }
}

#[test]
fn block_modules_round_trip() {
    for s in seeds::wasm_deploy() {
        if s.bytes[0] & 1 == 1 {
            let b = Blocks::parse(&s.bytes[1..]).expect("parses");
            assert_eq!(b.encode(), s.bytes[1..], "{}", s.name);
        }
    }
}

#[test]
fn the_model_knows_the_hostile_guest() {
    let s = seeds::abi_calls()
        .into_iter()
        .find(|s| s.name == "badptr")
        .expect("seed");
    let p = Program::parse(&s.bytes).expect("parses");
    assert!(matches!(Model::new(&p).run(), Expect::Trap(_)));
    let s = seeds::abi_calls()
        .into_iter()
        .find(|s| s.name == "echo")
        .expect("seed");
    let p = Program::parse(&s.bytes).expect("parses");
    assert_eq!(Model::new(&p).run(), Expect::Reply(b"hello".to_vec()));
    abi::check_program(&p);
}

#[test]
fn well_formed_blocks_deploy_and_run() {
    // The generator's WAT must parse: a module of the right shapes deploys.
    for s in seeds::wasm_deploy() {
        if s.bytes[0] & 1 == 0 || s.name.contains("wrong-abi") {
            continue;
        }
        let b = Blocks::parse(&s.bytes[1..]).expect("parses");
        match deploy::run(b.wat().as_bytes()) {
            Run::Ran(_) => {}
            Run::Refused(e) => panic!("{}: refused: {e}\n{}", s.name, b.wat()),
        }
    }
}
