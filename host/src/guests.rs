//! The example guests, built from `examples/guests/` by
//! `examples/build-guests.sh` and compiled into the binary so the demo runs
//! on a machine without a wasm toolchain.

/// `ingest`: filters and labels sensor readings, then calls `detect/<field>`.
pub const INGEST: &[u8] = include_bytes!("../../examples/wasm/ingest.wasm");
/// `detect`: keeps a window of readings per field and scores disease risk,
/// then calls `aggregate/<field>`.
pub const DETECT: &[u8] = include_bytes!("../../examples/wasm/detect.wasm");
/// `aggregate`: keeps the recent risk history per field and emits alerts.
pub const AGGREGATE: &[u8] = include_bytes!("../../examples/wasm/aggregate.wasm");
/// `counter`: an addressed actor counting its messages.
pub const COUNTER: &[u8] = include_bytes!("../../examples/wasm/counter.wasm");
/// `echo`: replies with its payload.
pub const ECHO: &[u8] = include_bytes!("../../examples/wasm/echo.wasm");
/// `relay`: calls or sends to other actors on request (for tests).
pub const RELAY: &[u8] = include_bytes!("../../examples/wasm/relay.wasm");

/// Every example guest by name.
pub const ALL: [(&str, &[u8]); 6] = [
    ("ingest", INGEST),
    ("detect", DETECT),
    ("aggregate", AGGREGATE),
    ("counter", COUNTER),
    ("echo", ECHO),
    ("relay", RELAY),
];

/// The example guest called `name`, if there is one.
pub fn by_name(name: &str) -> Option<&'static [u8]> {
    ALL.iter().find(|(n, _)| *n == name).map(|(_, w)| *w)
}
