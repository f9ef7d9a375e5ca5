//! The seed corpora and the regression inputs, replayed through exactly what
//! the fuzz targets run (no libFuzzer needed: `cargo test` on stable).
//!
//! `GOLDFISH_WRITE_SEEDS=1 cargo test --test corpus` rewrites `corpus/` from
//! `goldfish_fuzz::seeds`.

use std::path::Path;

use goldfish_fuzz::seeds::{self, fuzz_dir};
use goldfish_fuzz::{abi, deploy, events, frame};

fn check(target: &str) -> fn(&[u8]) {
    match target {
        "frame_decode" => frame::check,
        "core_events" => events::check,
        "wasm_deploy" => deploy::check,
        "abi_calls" => abi::check,
        other => panic!("unknown target {other}"),
    }
}

const TARGETS: [&str; 4] = ["frame_decode", "core_events", "wasm_deploy", "abi_calls"];

fn replay_dir(target: &str, dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut files: Vec<_> = entries.map(|e| e.expect("entry").path()).collect();
    files.sort();
    for f in &files {
        let bytes = std::fs::read(f).expect("readable");
        eprintln!("{target}: {}", f.display());
        check(target)(&bytes);
    }
    files.len()
}

#[test]
fn seeds_are_current() {
    let write = std::env::var_os("GOLDFISH_WRITE_SEEDS").is_some();
    for s in seeds::all() {
        let dir = fuzz_dir().join("corpus").join(s.target);
        let path = dir.join(&s.name);
        if write {
            std::fs::create_dir_all(&dir).expect("mkdir");
            std::fs::write(&path, &s.bytes).expect("write");
            continue;
        }
        let on_disk = std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (GOLDFISH_WRITE_SEEDS=1 cargo test --test corpus writes it)",
                path.display()
            )
        });
        assert!(
            on_disk == s.bytes,
            "{} is stale (GOLDFISH_WRITE_SEEDS=1 cargo test --test corpus rewrites it)",
            path.display()
        );
    }
}

#[test]
fn corpus_replays_clean() {
    for t in TARGETS {
        let n = replay_dir(t, &fuzz_dir().join("corpus").join(t));
        assert!(n > 0, "no seeds for {t}");
    }
}

#[test]
fn regressions_replay_clean() {
    for t in TARGETS {
        replay_dir(t, &fuzz_dir().join("regressions").join(t));
    }
}
