//! Replays the committed Quint traces (`spec/traces/*.itf.json`) through
//! goldfish-core, comparing the whole state after every step, and shows that
//! the replay bites: a trace whose state was altered, or that names an action
//! the replay does not know, fails.
//!
//! `GOLDFISH_SPEC_TRACES=<dir>` replays the traces of another directory too
//! (CI replays the ones its seeded `quint run` just wrote).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use goldfish_spec::constants::Constants;
use goldfish_spec::itf::parse_trace;
use goldfish_spec::replay::{replay, Replayed, ACTIONS};

const GOLDFISH_QNT: &str = include_str!("../goldfish.qnt");

fn traces_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".itf.json"))
        .collect();
    files.sort();
    files
}

fn replay_file(c: &Constants, f: &Path) -> Replayed {
    let text = std::fs::read_to_string(f).unwrap();
    let trace = parse_trace(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
    let r = replay(c, &trace).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
    println!("{}: {} states, {:?}", f.display(), r.steps, r.actions);
    r
}

fn committed() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("traces")
}

/// The actions of the model's `step` relation, read from goldfish.qnt.
fn step_actions() -> Vec<String> {
    let line = GOLDFISH_QNT
        .lines()
        .find(|l| l.trim_start().starts_with("action step = any {"))
        .expect("goldfish.qnt has `action step = any { ... }` on one line");
    let inner = line
        .split_once('{')
        .and_then(|(_, r)| r.split_once('}'))
        .map(|(i, _)| i)
        .unwrap();
    inner.split(',').map(|a| a.trim().to_string()).collect()
}

#[test]
fn the_replay_knows_every_action_of_the_model() {
    let mut model = step_actions();
    let mut known: Vec<String> = ACTIONS.iter().map(|a| a.to_string()).collect();
    model.sort();
    known.sort();
    assert_eq!(model, known);
}

#[test]
fn every_committed_trace_replays_through_core_and_covers_every_action() {
    let c = Constants::load().unwrap();
    let files = traces_in(&committed());
    assert!(files.len() >= 3, "a handful of traces are committed");
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut steps = 0;
    for f in &files {
        let r = replay_file(&c, f);
        steps += r.steps;
        for (a, n) in r.actions {
            *seen.entry(a).or_default() += n;
        }
    }
    println!("{} traces, {steps} states, actions {seen:?}", files.len());
    for a in ACTIONS {
        assert!(
            seen.get(a).is_some_and(|n| *n > 0),
            "no committed trace takes the action `{a}`"
        );
    }
    // More traces, e.g. those CI's seeded `quint run` just wrote.
    if let Ok(dir) = std::env::var("GOLDFISH_SPEC_TRACES") {
        let files = traces_in(Path::new(&dir));
        assert!(!files.is_empty(), "no *.itf.json in {dir}");
        for f in &files {
            replay_file(&c, f);
        }
        println!("{} traces of {dir} replayed", files.len());
    }
}

/// Changes one thing in a state, if the state has it.
type Alter = fn(&mut serde_json::Value) -> bool;

/// The first committed trace, as JSON.
fn a_trace() -> serde_json::Value {
    let f = &traces_in(&committed())[0];
    serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap()
}

fn replay_json(j: &serde_json::Value) -> Result<Replayed, String> {
    let c = Constants::load().unwrap();
    replay(&c, &parse_trace(&j.to_string()).unwrap())
}

#[test]
fn an_altered_state_fails_the_replay() {
    let original = a_trace();
    assert!(replay_json(&original).is_ok());
    let states = original["states"].as_array().unwrap().len();
    let mut failures = 0;
    // Change one thing at a time, in the last state that has it.
    let alterations: [(&str, Alter); 4] = [
        ("the clock", |s| {
            s["now"] = serde_json::json!({"#bigint": "999999"});
            true
        }),
        ("an actor's phase", |s| {
            let Some(actors) = s["node"]["actors"]["#map"].as_array_mut() else {
                return false;
            };
            let Some(pair) = actors.first_mut() else {
                return false;
            };
            let phase = &mut pair[1]["phase"]["tag"];
            *phase = if phase == "Running" {
                "Suspended".into()
            } else {
                "Running".into()
            };
            true
        }),
        ("a caller's outcome", |s| {
            let Some(outcomes) = s["outcomes"]["#map"].as_array_mut() else {
                return false;
            };
            let Some(pair) = outcomes.first_mut() else {
                return false;
            };
            pair[1] = serde_json::json!([]);
            true
        }),
        ("the outputs", |s| {
            let Some(outputs) = s["outputs"].as_array_mut() else {
                return false;
            };
            if outputs.is_empty() {
                return false;
            }
            outputs.reverse();
            outputs.push(outputs[0].clone());
            true
        }),
    ];
    for (what, alter) in alterations {
        let mut altered = false;
        for i in (1..states).rev() {
            let mut j = original.clone();
            if alter(&mut j["states"][i]) {
                let e = replay_json(&j).expect_err(what);
                assert!(e.contains("differs"), "{what}: {e}");
                println!("{what} altered in state {i}: {}", e.lines().next().unwrap());
                altered = true;
                failures += 1;
                break;
            }
        }
        assert!(altered, "the trace never has {what} to alter");
    }
    assert_eq!(failures, 4);
}

#[test]
fn an_unknown_action_fails_the_replay() {
    let mut j = a_trace();
    j["states"][1]["mbt::actionTaken"] = "teleport".into();
    let e = replay_json(&j).unwrap_err();
    assert!(e.contains("unknown action `teleport`"), "{e}");
    let mut j = a_trace();
    j["states"][0]["mbt::actionTaken"] = "arrive".into();
    assert!(replay_json(&j).unwrap_err().contains("not `init`"));
}
