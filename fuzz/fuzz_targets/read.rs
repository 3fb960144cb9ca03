//! The whole reader and validation on arbitrary bytes, with small limits. Reading must return
//! a report or an error and never panic, and the result must not depend on how the input is
//! split into reads.
#![no_main]

use std::io::Read;

use imgtar::{Limits, Reader};
use libfuzzer_sys::fuzz_target;

/// Hands out the input a few bytes at a time.
struct Trickle<'a>(&'a [u8], usize);

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.1.min(buf.len()).min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

fuzz_target!(|data: &[u8]| {
    let mut limits = Limits::default();
    limits.max_json_bytes = 1 << 16;
    limits.max_metadata_total = 1 << 20;
    limits.max_members = 1 << 12;
    limits.max_layer_entries = 1 << 12;
    let reader = Reader::new().limits(limits);
    let whole = reader.read(data);
    let step = 1 + data.first().copied().unwrap_or(0) as usize % 13;
    let trickled = reader.read(Trickle(data, step));
    match (whole, trickled) {
        (Ok(a), Ok(b)) => assert_eq!(a.findings, b.findings),
        (Err(_), Err(_)) => {}
        (a, b) => panic!("chunking changed the outcome: {a:?} vs {b:?}"),
    }
});
