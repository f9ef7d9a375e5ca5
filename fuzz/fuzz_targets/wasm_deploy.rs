//! See `goldfish_fuzz::deploy`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| goldfish_fuzz::deploy::check(data));
