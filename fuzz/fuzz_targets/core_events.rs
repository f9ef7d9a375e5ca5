//! See `goldfish_fuzz::events`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| goldfish_fuzz::events::check(data));
