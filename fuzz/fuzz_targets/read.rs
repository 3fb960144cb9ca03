//! The whole reader and validation on arbitrary bytes (see `imgtar::fuzzing::read`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| imgtar::fuzzing::read(data));
