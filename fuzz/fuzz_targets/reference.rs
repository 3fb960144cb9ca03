//! The image reference parser, with the round-trip property of `imgtar::fuzzing::reference`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| imgtar::fuzzing::reference(data));
