//! R11 and R35–R40: layer blobs used by images.

use std::collections::HashSet;

use crate::layer::TarStatus;
use crate::model::{Image, Layer};
use crate::validate::ctx::Ctx;
use crate::validate::{Code, Finding};

/// Describes the layer held by member `i` and reports what its scan found (once per member).
/// `tar_expected` is false for blobs whose media type says they are not tars (attestations).
pub(super) fn layer_from_member(
    cx: &mut Ctx<'_>,
    i: usize,
    path: &str,
    diff_id: Option<&str>,
    media_type: Option<&str>,
    tar_expected: bool,
) -> Layer {
    let Some(m) = cx.member(i) else {
        return Layer::default();
    };
    let scan = m.layer.as_ref();
    // An uncompressed blob's DiffID is its own digest; nothing is claimed without hashing.
    let computed = match scan {
        _ if !cx.verified => None,
        Some(s) if s.compression.is_some_and(|c| c != crate::Compression::None) => {
            s.diff_id.clone()
        }
        _ => m.digest.clone(),
    };
    let layer = Layer {
        path: Some(path.to_string()),
        member: Some(m.path.clone()),
        diff_id: diff_id.map(str::to_string),
        digest: m.digest.clone(),
        computed_diff_id: computed,
        compression: scan.and_then(|s| s.compression),
        size: Some(m.size),
        uncompressed_size: Some(scan.map_or(m.size, |s| s.uncompressed_size)),
        media_type: media_type.map(str::to_string),
        foreign: media_type.is_some_and(crate::doc::oci::is_foreign_media_type),
    };
    if tar_expected && cx.verified && cx.reported_layers.insert(i) {
        report_scan(cx, i);
    }
    layer
}

fn report_scan(cx: &mut Ctx<'_>, i: usize) {
    let Some(m) = cx.member(i) else {
        return;
    };
    let mut out: Vec<Finding> = Vec::new();
    match m.layer.as_ref() {
        None => {
            if m.size > 0 {
                out.push(cx.at(
                    Code::LayerNotTar,
                    i,
                    format!(
                        "{:?} is used as a layer but is neither a tar nor a compressed stream",
                        m.name
                    ),
                ));
            }
        }
        Some(scan) => {
            match &scan.status {
                Some(TarStatus::NotTar) => out.push(cx.at(
                    Code::LayerNotTar,
                    i,
                    format!(
                        "{:?} is used as a layer but its {}content is not a tar",
                        m.name,
                        match scan.compression {
                            Some(c) if c != crate::Compression::None => "decompressed ",
                            _ => "",
                        }
                    ),
                )),
                Some(TarStatus::Corrupt { offset, message }) => out.push(cx.at(
                    Code::LayerCorrupt,
                    i,
                    format!("the layer tar stops parsing at byte {offset} of the decompressed stream: {message}"),
                )),
                Some(TarStatus::LimitExceeded { limit, value, max }) => out.push(cx.at(
                    Code::LimitExceeded,
                    i,
                    format!(
                        "{} decompression stopped: {limit} is {value}, the limit is {max} (a decompression bomb?); raise Limits::{limit} to read it",
                        scan.compression.map_or("", |c| c.as_str())
                    ),
                )),
                Some(TarStatus::DecompressError { offset, message }) => out.push(cx.at(
                    Code::LayerDecompressError,
                    i,
                    format!(
                        "{} decompression fails after {offset} decompressed bytes: {message}",
                        scan.compression.map_or("", |c| c.as_str())
                    ),
                )),
                _ => {}
            }
            for issue in &scan.issues {
                let mut f = cx.at(issue.code, i, issue.message.clone());
                f.entry = Some(issue.entry.clone());
                f.entry_offset = Some(issue.offset);
                out.push(f);
            }
        }
    }
    cx.findings.extend(out);
}

/// R11: the computed DiffID against the config's.
pub(super) fn check_diff_id(cx: &mut Ctx<'_>, layer: &Layer, n: usize, member: usize) {
    let (Some(expected), Some(computed)) = (&layer.diff_id, &layer.computed_diff_id) else {
        return;
    };
    if expected.parse::<crate::Digest>().is_err() {
        return; // reported as R22
    }
    if computed.to_string() != *expected {
        let f = cx.at(
            Code::DiffIdMismatch,
            member,
            format!(
                "layer {n} ({:?}): sha256 of its {}content is {computed}, the config says {expected} (docker load: \"invalid diffID for layer {n}\")",
                layer.path.as_deref().unwrap_or(""),
                match layer.compression {
                    Some(c) if c != crate::Compression::None => "decompressed ",
                    _ => "",
                }
            ),
        );
        cx.push(f);
    }
}

/// R40: hardlinks whose target is neither earlier in their layer nor in a lower layer.
pub(super) fn check_image(cx: &mut Ctx<'_>, image: &Image) {
    let scans: Vec<_> = image
        .layers
        .iter()
        .map(|l| {
            l.member
                .as_deref()
                .and_then(|p| cx.index.get(p))
                .and_then(|i| cx.member(i).map(|m| (i, m)))
        })
        .collect();
    let any_outside = scans.iter().flatten().any(|(_, m)| {
        m.layer
            .as_ref()
            .is_some_and(|s| !s.outside_links.is_empty())
    });
    if !any_outside {
        return;
    }
    let mut lower: HashSet<&str> = HashSet::new();
    let mut out = Vec::new();
    for (i, m) in scans.iter().flatten() {
        let Some(scan) = m.layer.as_ref() else {
            continue;
        };
        for (path, target, offset) in &scan.outside_links {
            if !lower.contains(target.as_str()) {
                let mut f = cx.at(
                    Code::HardlinkTargetMissing,
                    *i,
                    format!("hardlink {path:?} -> {target:?}: the target is neither earlier in this layer nor in a lower layer"),
                );
                f.entry = Some(path.clone());
                f.entry_offset = Some(*offset);
                out.push(f);
            }
        }
        lower.extend(scan.paths.iter().map(String::as_str));
    }
    cx.findings.extend(out);
}
