//! See `goldfish_fuzz::abi`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| goldfish_fuzz::abi::check(data));
