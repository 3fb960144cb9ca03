//! Repeated JSON keys in every document a loader decodes (`manifest.json`, `repositories`,
//! `index.json`, `oci-layout`, image configs, OCI indexes and manifests, legacy layer
//! `json`): Go keeps the last of them, other readers may keep another.

use crate::doc::keys::{self, Repeat};
use crate::finding::{Code, Finding, Severity};
use crate::model::Archive;
use crate::rules::at;

pub(super) fn check(a: &Archive, out: &mut Vec<Finding>) {
    let mut docs: Vec<(usize, &'static [&'static str])> = Vec::new();
    let d = &a.docs;
    let member = |r: &crate::model::resolve::Ref| r.member();
    if let Some(m) = d.manifest.as_ref().and_then(|x| member(&x.reference)) {
        docs.push((m, keys::MANIFEST_FIELDS));
    }
    if let Some(m) = d.repositories.as_ref().and_then(|x| member(&x.reference)) {
        docs.push((m, &[]));
    }
    if let Some(m) = d.index.as_ref().and_then(|x| member(&x.reference)) {
        docs.push((m, keys::OCI_FIELDS));
    }
    if let Some(m) = d.oci_layout.as_ref().and_then(|x| member(&x.reference)) {
        docs.push((m, keys::OCI_FIELDS));
    }
    for &m in d.configs.keys() {
        docs.push((m, keys::CONFIG_FIELDS));
    }
    if let Some(t) = &a.oci {
        docs.extend(
            t.nodes
                .iter()
                .filter_map(|n| n.member)
                .map(|m| (m, keys::OCI_FIELDS)),
        );
    }
    // Legacy layer directories' `json`.
    for (i, m) in a.members.iter().enumerate() {
        let p = m.path.as_bytes();
        let mut parts = p.split(|&b| b == b'/');
        if let (Some(_), Some(b"json"), None) = (parts.next(), parts.next(), parts.next()) {
            docs.push((i, keys::CONFIG_FIELDS));
        }
    }
    docs.sort_unstable();
    docs.dedup_by_key(|x| x.0);
    for (i, fields) in docs {
        let Some(bytes) = a.members.get(i).and_then(|m| m.data()) else {
            continue;
        };
        let (repeats, dropped) = keys::scan(bytes, fields);
        for r in &repeats {
            out.push(finding(a, i, r));
        }
        if dropped > 0 {
            out.push(
                at(
                    a,
                    Code::DuplicateKey,
                    i,
                    format!("{dropped} more repeated keys not shown"),
                )
                .with_severity(if repeats.iter().any(|r| r.differ) {
                    Severity::Error
                } else {
                    Severity::Warning
                }),
            );
        }
    }
}

fn finding(a: &Archive, i: usize, r: &Repeat) -> Finding {
    let mut f = at(a, Code::DuplicateKey, i, r.to_string());
    if !r.differ {
        f = f.with_severity(Severity::Warning);
    }
    f.count = r.count;
    f
}
