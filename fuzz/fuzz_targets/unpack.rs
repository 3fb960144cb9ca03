//! `layer::unpack` of fuzzed layers into a temporary directory next to canary files: nothing
//! outside the directory may change and no host bytes may be read into it (see
//! `imgtar::fuzzing::unpack` for the input format: one entry a line).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    imgtar::fuzzing::unpack(data);
});
