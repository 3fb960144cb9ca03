//! The rules stage: pure functions over the model and the scan's observations, returning
//! findings. One module per family: [`outer`] (R1–R5), [`manifest`] (R6–R16), [`config`]
//! (R17–R23), [`legacy`] (R24–R29), [`oci`] (R30–R34) and [`layers`] (R35–R40).

mod config;
mod keys;
mod layers;
mod legacy;
pub(crate) mod loaders;
pub(crate) mod manifest;
mod oci;
mod outer;

use crate::finding::{Code, Finding, Severity};
use crate::model::resolve::{Outcome, Ref};
use crate::model::Archive;

/// Every finding about `archive`, sorted by offset. With `strict`, warnings are errors.
pub(crate) fn check(archive: &Archive, strict: bool) -> Vec<Finding> {
    let mut out = Vec::new();
    outer::check(archive, &mut out);
    manifest::check(archive, &mut out);
    config::check(archive, &mut out);
    keys::check(archive, &mut out);
    legacy::check(archive, &mut out);
    oci::check(archive, &mut out);
    layers::check(archive, &mut out);
    outer::layout(archive, &mut out);
    if archive.layout == crate::model::Layout::Unknown {
        // Not an image: what its members hold is not worth a finding each.
        out.retain(|f| {
            f.rule == Some(1) || matches!(f.code, Code::NotAnImage | Code::LimitExceeded)
        });
    }
    locate_in_images(archive, &mut out);
    if strict {
        for f in &mut out {
            if f.severity == Severity::Warning {
                f.severity = Severity::Error;
            }
        }
    }
    out.sort_by(|a, b| {
        let key = |f: &Finding| {
            (
                f.offset.unwrap_or(u64::MAX),
                f.entry_offset.unwrap_or(0),
                f.code,
                f.path.clone(),
                f.message.clone(),
            )
        };
        key(a).cmp(&key(b))
    });
    out.dedup();
    out
}

/// Tells each finding about a member an image uses which image (and layer) it belongs to:
/// the first image using it, bottom layer first.
fn locate_in_images(archive: &Archive, findings: &mut [Finding]) {
    let mut owner: std::collections::HashMap<(String, Option<u64>), (usize, Option<usize>)> =
        std::collections::HashMap::new();
    for (n, img) in archive.images.iter().enumerate() {
        let mut put = |i: usize, layer: Option<usize>| {
            if let Some(m) = archive.members.get(i) {
                owner
                    .entry((m.path.to_string_lossy().into_owned(), m.offset))
                    .or_insert((n, layer));
            }
        };
        if let Some(c) = img.config_member {
            put(c, None);
        }
        for (k, l) in img.layers.iter().enumerate() {
            if let Some(i) = l.index {
                put(i, Some(k));
            }
        }
    }
    for f in findings {
        let Some(path) = &f.path else { continue };
        if let Some(&(image, layer)) = owner.get(&(path.clone(), f.offset)) {
            f.image = Some(image);
            f.layer = layer;
        }
    }
}

/// A finding located at member `i`.
pub(crate) fn at(archive: &Archive, code: Code, i: usize, message: impl Into<String>) -> Finding {
    let f = Finding::new(code, message);
    match archive.members.get(i) {
        Some(m) => f.at(m.path.to_string_lossy(), m.offset),
        None => f,
    }
}

/// Findings about a path written in a document that does not lead to a regular file
/// (R8 missing / not a file, R9 escapes, R3 loops). `what` names the reference; `missing` is
/// the code for a path that leads nowhere.
pub(crate) fn reference(
    archive: &Archive,
    r: &Ref,
    what: &str,
    missing: Code,
    limit: u32,
    out: &mut Vec<Finding>,
) {
    let here = |f: Finding| f.at(r.from.path.clone(), r.from.offset);
    let written = &r.written;
    match &r.outcome {
        Outcome::Found { via_escape, .. } => {
            if *via_escape {
                out.push(here(Finding::new(
                    Code::ReferenceEscapes,
                    format!(
                        "{what} {written:?} is reached through a link that points above the archive root (docker load clamps it; containers/image and go-containerregistry cannot resolve it)"
                    ),
                )));
            }
        }
        Outcome::Escapes => out.push(here(Finding::new(
            Code::ReferenceEscapes,
            format!("{what} path {written:?} climbs above the archive root"),
        ))),
        Outcome::NotFile { member } => {
            let kind = match archive.members.get(*member).map(|m| &m.kind) {
                Some(crate::scan::MemberKind::Dir) => "a directory".to_string(),
                Some(crate::scan::MemberKind::Other { typeflag }) => {
                    format!("a special file (typeflag {:?})", char::from(*typeflag))
                }
                _ => "a link".to_string(),
            };
            out.push(here(Finding::new(
                Code::NotRegularFile,
                format!("{what} {written:?} resolves to {kind}, not a regular file"),
            )));
        }
        Outcome::Missing { resolved } => {
            let clean = crate::path::EntryPath::clean(written.as_bytes()).0;
            let via = if *resolved != clean {
                format!(" (links lead to {:?})", resolved.to_string_lossy())
            } else {
                String::new()
            };
            out.push(here(Finding::new(
                missing,
                format!("{what} {written:?} is not in the archive{via}"),
            )));
        }
        Outcome::Loop => out.push(here(Finding::new(
            Code::LinkLoop,
            format!("{what} {written:?}: more than {limit} links followed (a link loop)"),
        ))),
    }
}
