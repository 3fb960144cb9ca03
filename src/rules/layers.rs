//! R11 and R35–R40: the layer blobs images use: how their tars read, what their entries are,
//! and their DiffIDs.

use std::collections::HashSet;

use crate::finding::{Code, Finding, Severity};
use crate::model::{Archive, ImageSource};
use crate::rules::at;
use crate::rules::outer::tar_note;
use crate::scan::layer::{LayerScan, LayerStatus, Noted};
use crate::scan::path_key;

pub(super) fn check(a: &Archive, out: &mut Vec<Finding>) {
    for img in &a.images {
        for (k, l) in img.layers.iter().enumerate() {
            let Some(li) = l.index else { continue };
            scan(a, li, out);
            if !matches!(img.source, ImageSource::Legacy { .. }) {
                let path = l.path.clone().unwrap_or_default();
                diff_id(a, li, k, &path, l.diff_id.as_ref(), out);
            }
        }
        hardlinks(a, img, out);
    }
}

/// What the scan of the layer held by member `i` found (the rules dedupe repeats).
pub(crate) fn scan(a: &Archive, i: usize, out: &mut Vec<Finding>) {
    if !a.verified {
        return;
    }
    let Some(m) = a.members.get(i) else { return };
    let name = m.name_lossy();
    let Some(scan) = m.layer.as_ref() else {
        if m.size > 0 && m.presence == crate::scan::member::Presence::Complete {
            out.push(at(
                a,
                Code::LayerNotTar,
                i,
                format!("{name:?} is used as a layer but is neither a tar nor a compressed stream"),
            ));
        }
        return;
    };
    let cut = m.presence != crate::scan::member::Presence::Complete;
    status(a, i, scan, cut, out);
    trailing(a, i, scan, out);
    for note in &scan.notes {
        let raw = String::from_utf8_lossy(&note.entry).into_owned();
        let (code, message) = note_words(&note.what, &raw);
        let mut f = at(a, code, i, message).in_entry(raw, note.offset);
        f.count = note.more.saturating_add(1);
        out.push(f);
    }
}

/// How the layer's walk ended, unless the member itself was cut (the outer finding says it).
fn status(a: &Archive, i: usize, scan: &LayerScan, cut: bool, out: &mut Vec<Finding>) {
    let Some(m) = a.members.get(i) else { return };
    let name = m.name_lossy();
    let c = scan.compression;
    match &scan.status {
        LayerStatus::NotTar => out.push(at(
            a,
            Code::LayerNotTar,
            i,
            format!(
                "{name:?} is used as a layer but its {}content is not a tar",
                if c.is_compressed() { "decompressed " } else { "" }
            ),
        )),
        LayerStatus::Corrupt { offset, reason } => out.push(at(
            a,
            Code::LayerCorrupt,
            i,
            format!("the layer tar stops parsing at byte {offset} of the decompressed stream: {reason}"),
        )),
        LayerStatus::Truncated {
            at: end,
            declared,
            present,
            entry,
        } => {
            if !cut {
                let inside = match entry {
                    Some(e) => format!(" inside the entry at byte {e} ({present} of its {declared} bytes)"),
                    None => String::new(),
                };
                out.push(at(
                    a,
                    Code::LayerTruncated,
                    i,
                    format!("the layer tar ends early at byte {end} of the decompressed stream{inside}"),
                ));
            }
        }
        LayerStatus::Limit { limit, value, max } => out.push(at(
            a,
            Code::LimitExceeded,
            i,
            format!(
                "{} decompression stopped: {limit} is {value}, the limit is {max} (a decompression bomb?); raise Limits::{limit} to read it",
                c.as_str()
            ),
        )),
        LayerStatus::Decompress {
            truncated,
            consumed,
            produced,
            message,
        } => {
            if !cut {
                let mut f = at(
                    a,
                    Code::LayerDecompressError,
                    i,
                    format!(
                        "{} decompression fails after {produced} decompressed bytes ({consumed} compressed): {}{message}",
                        c.as_str(),
                        if *truncated { "the compressed data ends early: " } else { "" }
                    ),
                );
                f.entry_offset = None;
                out.push(f);
            }
        }
        LayerStatus::Complete { no_end_marker } => {
            if *no_end_marker && scan.entries > 0 {
                out.push(at(
                    a,
                    Code::LayerNoEndOfArchive,
                    i,
                    "the layer tar has no end-of-archive blocks: every entry is complete and Go's archive/tar (docker load) reads it to the end of the stream; GNU tar refuses it",
                ));
            }
        }
    }
}

/// Bytes after the layer tar's end that the DiffID covers (an eStargz TOC excepted).
fn trailing(a: &Archive, i: usize, scan: &LayerScan, out: &mut Vec<Finding>) {
    if let Some(t) = scan.trailing.as_ref().filter(|t| !t.is_estargz_toc()) {
        let f = at(
            a,
            Code::LayerTrailingData,
            i,
            format!(
                "{} bytes ({} of them non-zero) follow the layer tar's end at byte {}: the DiffID covers them but no tar reader shows them{}",
                t.total,
                t.nonzero,
                t.at,
                if t.tar_header { "; they hold a second archive" } else { "" }
            ),
        );
        out.push(if t.tar_header {
            f.with_severity(Severity::Error)
        } else {
            f
        });
    }
}

/// The code and words of a note the layer scan made on entry `raw`.
fn note_words(what: &Noted, raw: &str) -> (Code, String) {
    match what {
        Noted::Escapes => (
            Code::LayerUnsafePath,
            format!("layer entry {raw:?} climbs above the layer root"),
        ),
        Noted::HardlinkEscapes { target } => (
            Code::LayerUnsafePath,
            format!(
                "hardlink {raw:?} points above the layer root ({:?})",
                String::from_utf8_lossy(target)
            ),
        ),
        Noted::UnknownType { typeflag: b'7' } => (
            Code::LayerUnknownType,
            format!("entry {raw:?} has typeflag '7' (contiguous file), which docker load does not handle"),
        ),
        Noted::UnknownType { typeflag: b'S' } => (
            Code::LayerUnknownType,
            format!("entry {raw:?} is an old GNU sparse file (typeflag 'S'), which docker load does not handle (\"unhandled tar header type\")"),
        ),
        Noted::UnknownType { typeflag } => (
            Code::LayerUnknownType,
            format!(
                "entry {raw:?} has typeflag {:?}, which docker load rejects (\"unhandled tar header type\")",
                char::from(*typeflag)
            ),
        ),
        Noted::WhiteoutNotEmpty { opaque } => (
            Code::WhiteoutNotEmptyFile,
            if *opaque {
                format!("opaque marker {raw:?} is not an empty regular file")
            } else {
                format!("whiteout {raw:?} is not an empty regular file")
            },
        ),
        Noted::InvalidWhiteout => (
            Code::WhiteoutInvalidName,
            format!("whiteout {raw:?} names nothing to delete"),
        ),
        Noted::Duplicate => (
            Code::LayerDuplicateEntry,
            format!("{raw:?} appears more than once in this layer"),
        ),
        Noted::SameLayerWhiteout { target, .. } => {
            let t = target.to_string_lossy();
            (
                Code::WhiteoutSameLayer,
                format!("whiteout {raw:?} and {t:?} are in the same layer: the OCI spec keeps {t:?}, docker load deletes it when the whiteout comes later"),
            )
        }
        Noted::AufsHardlinkMissing { target } => (
            Code::AufsHardlinkMissing,
            format!(
                "hardlink {raw:?} points to aufs {:?}, but no such file precedes it (\"invalid aufs hardlink\")",
                String::from_utf8_lossy(target)
            ),
        ),
        Noted::GlobalHeader { keys } => (
            Code::PaxGlobalHeader,
            format!(
                "a PAX global header setting {}: Go's archive/tar (docker load) ignores it, GNU tar and libarchive apply it to every later entry",
                if keys.is_empty() { "nothing".to_string() } else { keys.join(", ") }
            ),
        ),
        Noted::PathLimit { limit, value, max } => (
            Code::LimitExceeded,
            format!(
                "an entry whose path or link target passes Limits::{limit} ({value}, the limit is {max}) is left out of the layer's filesystem (the entry names only its first 256 bytes)"
            ),
        ),
        Noted::Tar(n) => tar_note(n, &format!("entry {raw:?}")),
    }
}

/// R11: the computed DiffID against the config's.
pub(crate) fn diff_id(
    a: &Archive,
    i: usize,
    n: usize,
    path: &str,
    expected: Option<&crate::Digest>,
    out: &mut Vec<Finding>,
) {
    if !a.verified {
        return;
    }
    let Some(expected) = expected else { return };
    let Some(m) = a.members.get(i) else { return };
    let scan = m.layer.as_ref();
    let compressed = scan.is_some_and(|s| s.compression.is_compressed());
    let computed = if compressed {
        scan.and_then(|s| s.diff_id.clone())
    } else {
        m.digest.clone()
    };
    let Some(computed) = computed else { return };
    if computed != *expected {
        out.push(at(
            a,
            Code::DiffIdMismatch,
            i,
            format!(
                "layer {n} ({path:?}): sha256 of its {}content is {computed}, the config says {expected} (docker load: \"invalid diffID for layer {n}\")",
                if compressed { "decompressed " } else { "" }
            ),
        ));
    }
}

/// R40: hardlinks whose target is neither earlier in their layer nor in a lower layer.
fn hardlinks(a: &Archive, img: &crate::Image, out: &mut Vec<Finding>) {
    let scans: Vec<(usize, &crate::scan::layer::LayerScan)> = img
        .layers
        .iter()
        .filter_map(|l| {
            let i = l.index?;
            Some((i, a.members.get(i)?.layer.as_ref()?))
        })
        .collect();
    if !scans.iter().any(|(_, s)| !s.outside_links.is_empty()) {
        return;
    }
    let mut lower: HashSet<u64> = HashSet::new();
    for (i, scan) in scans {
        for (path, target, offset) in &scan.outside_links {
            if !lower.contains(&path_key(target.as_bytes())) {
                let p = path.to_string_lossy().into_owned();
                out.push(
                    at(
                        a,
                        Code::HardlinkTargetMissing,
                        i,
                        format!(
                            "hardlink {p:?} -> {:?}: the target is neither earlier in this layer nor in a lower layer",
                            target.to_string_lossy()
                        ),
                    )
                    .in_entry(p, *offset),
                );
            }
        }
        lower.extend(scan.paths.iter().copied());
    }
}
