//! See `goldfish_fuzz::frame`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| goldfish_fuzz::frame::check(data));
