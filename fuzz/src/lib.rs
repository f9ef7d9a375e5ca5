//! The checks behind GoldFish's fuzz targets (`fuzz_targets/`), kept in a
//! library so `cargo test` replays the corpus and the regression inputs
//! through exactly what the targets run, on stable and without libFuzzer.
//!
//! - [`frame`]: `frame_decode`, wire frames from arbitrary bytes.
//! - [`events`]: `core_events`, the dispatcher driven by arbitrary inputs.
//! - [`deploy`]: `wasm_deploy`, arbitrary modules deployed and run.
//! - [`abi`]: `abi_calls`, host calls with arbitrary pointers against a model.
//! - [`node`]: the runtime and node the wasm targets share.
//! - [`seeds`]: the seed corpora, generated.

pub mod abi;
pub mod deploy;
pub mod events;
pub mod frame;
pub mod node;
pub mod seeds;

/// Writes the bytes with which `#[derive(Arbitrary)]` picks variant `i` of
/// `n` (it takes a `u32` and computes `(u32 * n) >> 32`).
pub(crate) fn variant(i: u64, n: u64, out: &mut Vec<u8>) {
    let v = (i << 32).div_ceil(n);
    out.extend((v as u32).to_le_bytes());
}
