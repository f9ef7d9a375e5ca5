//! Replays one input file through one target's check:
//! `GOLDFISH_REPLAY=core_events:path/to/crash cargo test --test replay_one -- --nocapture`
//! (with `GOLDFISH_FUZZ_TRACE=1` the core_events target prints every step).

#[test]
fn replay_one() {
    let Some(spec) = std::env::var_os("GOLDFISH_REPLAY") else {
        return;
    };
    let spec = spec.to_string_lossy().into_owned();
    let (target, path) = spec.split_once(':').expect("TARGET:PATH");
    let bytes = std::fs::read(path).expect("readable");
    match target {
        "frame_decode" => goldfish_fuzz::frame::check(&bytes),
        "core_events" => goldfish_fuzz::events::check(&bytes),
        "wasm_deploy" => goldfish_fuzz::deploy::check(&bytes),
        "abi_calls" => goldfish_fuzz::abi::check(&bytes),
        other => panic!("unknown target {other}"),
    }
}
