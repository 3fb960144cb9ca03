//! Checks shared by the fuzz targets (`fuzz/`) and the test that replays their corpora on
//! stable Rust (`tests/all/fuzz_replay.rs`), so a crash found once stays fixed. Not a stable API.
//! These checks panic on purpose: a panic is how a fuzz target reports a failed property.
#![allow(clippy::panic)]

use std::io::Read;

use crate::reference::Reference;
use crate::{Limits, Reader};

/// Small limits, so that the fuzzer reaches them.
pub fn small_limits() -> Limits {
    Limits {
        max_json_bytes: 1 << 16,
        max_metadata_total: 1 << 20,
        max_members: 1 << 12,
        max_layer_entries: 1 << 12,
        max_link_depth: 64,
        ..Limits::default()
    }
}

/// Hands the input out a few bytes at a time.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.step.min(buf.len()).min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        if let Some(dst) = buf.get_mut(..n) {
            dst.copy_from_slice(head);
        }
        self.data = rest;
        Ok(n)
    }
}

/// The whole reader on arbitrary bytes: must not panic, and must give the same outcome
/// whether the bytes arrive at once or a few at a time. Panics (for the fuzzer) otherwise.
pub fn read(data: &[u8]) {
    let reader = Reader::new().limits(small_limits());
    let whole = reader.read(data);
    let step = usize::from(data.first().copied().unwrap_or(0) % 13).saturating_add(1);
    let trickled = reader.read(Trickle { data, step });
    // Bytes in memory never fail to read: whatever they are, the answer is a report.
    let (Ok(a), Ok(b)) = (&whole, &trickled) else {
        panic!("readable bytes gave an error: {whole:?} / {trickled:?}");
    };
    assert_eq!(a.findings, b.findings, "findings depend on read sizes");
    assert_eq!(
        a.is_valid(),
        !a.findings
            .iter()
            .any(|f| f.severity == crate::Severity::Error)
    );
    let _ = serde_json::to_string(&a);
}

/// Every JSON document parser on arbitrary bytes.
pub fn documents(data: &[u8]) {
    let _ = crate::doc::manifest::parse(data, crate::Limits::DEFAULT_MAX_IMAGES);
    let _ = crate::doc::repositories::parse(data);
    let _ = crate::doc::legacy::parse(data);
    let _ = crate::doc::config::parse(data);
    for media in [
        crate::doc::oci::MEDIA_OCI_INDEX,
        crate::doc::oci::MEDIA_OCI_MANIFEST,
        "",
    ] {
        let _ = crate::doc::oci::parse_document(data, media);
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = crate::doc::config::is_rfc3339(s);
        let _ = s.parse::<crate::Digest>();
    }
}

/// The reference parser: a parsed reference must survive printing and parsing again, in
/// both its full and its familiar form.
pub fn reference(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(r) = Reference::parse_normalized(s) else {
        return;
    };
    let full = r.to_string();
    let again = Reference::parse_normalized(&full);
    assert_eq!(
        again.as_ref(),
        Ok(&r),
        "{s:?} -> {full:?} does not parse back"
    );
    let familiar = r.familiar_string();
    // As in distribution/reference, two familiar forms do not read back: a Docker Hub
    // repository whose first path component looks like a domain (`docker.io/lex.docker.io/x`
    // reads back as registry lex.docker.io), and an official image named by 64 hex digits
    // (`library/<64 hex>` reads back as an image ID). Only the full form must round-trip then.
    let first = familiar.split('/').next().unwrap_or("");
    let hub = r.domain() == crate::reference::DEFAULT_DOMAIN;
    let ambiguous = hub
        && ((familiar.contains('/') && (first.contains(['.', ':']) || first == "localhost"))
            || (familiar.len() == 64 && familiar.bytes().all(|b| b.is_ascii_hexdigit())));
    if !ambiguous {
        let back = Reference::parse_normalized(&familiar);
        assert_eq!(
            back.as_ref(),
            Ok(&r),
            "{s:?} -> familiar {familiar:?} does not parse back"
        );
    }
}
