//! Every JSON document parser (manifest.json, repositories, legacy json, config, OCI index and
//! manifest) on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| imgtar::fuzzing::documents(data));
