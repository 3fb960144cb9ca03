//! R1–R5: the outer archive (compression, paths, links, duplicates, layout).

use std::collections::HashMap;

use crate::archive::member::MemberKind;
use crate::archive::resolve::Unresolved;
use crate::doc::manifest::ManifestItem;
use crate::model::{Image, Layout, Producer};
use crate::validate::ctx::Ctx;
use crate::validate::Code;

/// R3, R4: links that escape or loop, and duplicate member names.
pub(super) fn check(cx: &mut Ctx<'_>) {
    // Members before the current one, by path (a hardlink can only name an earlier member).
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut out = Vec::new();
    for (i, m) in cx.members.iter().enumerate() {
        if m.path.is_empty() {
            continue;
        }
        if let Some(&first) = seen.get(m.path.as_str()) {
            let both_dirs = m.kind == MemberKind::Dir
                && cx
                    .members
                    .get(first)
                    .is_some_and(|f| f.kind == MemberKind::Dir);
            if !both_dirs {
                let same = cx.members.get(first).is_some_and(|f| {
                    f.digest.is_some() && f.digest == m.digest && f.kind == m.kind
                });
                let first_off = cx.members.get(first).and_then(|f| f.offset);
                let f = cx.at(
                    Code::DuplicateMember,
                    i,
                    format!(
                        "{:?} appears again (first at byte {}){}: docker load keeps this last copy, containers/image and go-containerregistry the first",
                        m.name,
                        first_off.map_or_else(|| "?".to_string(), |o| o.to_string()),
                        if same { ", with the same content" } else { ", with different content, so loaders disagree on what the archive holds" }
                    ),
                );
                // Copies that differ are a parser differential: not trusted silently.
                out.push(if same {
                    f
                } else {
                    f.with_severity(crate::Severity::Error)
                });
            }
        }
        seen.insert(m.path.as_str(), i);
        let (target, hard) = match &m.kind {
            MemberKind::Symlink { target } => (target, false),
            MemberKind::Hardlink { target } => (target, true),
            _ => continue,
        };
        let (resolved, escapes) = if hard {
            let c = crate::path::clean(target);
            (c.path, c.escapes)
        } else {
            let (p, lexical) = crate::path::resolve_link(&m.path, target);
            // Through other links (`t -> .`, `x -> t/t/../../..`) a lexically tame target
            // can still climb out.
            let escapes = lexical || cx.index.escapes(&m.path);
            (p, escapes)
        };
        if escapes {
            out.push(cx.at(
                Code::LinkEscape,
                i,
                format!(
                    "{} {:?} -> {target:?} points above the archive root",
                    if hard { "hardlink" } else { "symlink" },
                    m.name
                ),
            ));
            continue;
        }
        if hard && !seen.contains_key(resolved.as_str()) {
            out.push(cx.at(
                Code::LinkEscape,
                i,
                format!(
                    "hardlink {:?} -> {target:?} names no earlier member",
                    m.name
                ),
            ));
            continue;
        }
        if let Err(Unresolved::Loop) = cx.index.resolve(&m.path) {
            out.push(cx.at(
                Code::LinkLoop,
                i,
                format!(
                    "link {:?} -> {target:?} does not resolve within {} hops (a loop)",
                    m.name, cx.limits.max_link_depth
                ),
            ));
        }
    }
    cx.findings.extend(out);
}

/// The top-level documents of an archive, as member indexes.
pub(super) struct Docs {
    pub manifest: Option<usize>,
    pub repositories: Option<usize>,
    pub oci_layout: Option<usize>,
    pub index: Option<usize>,
    /// Top-level directories that hold a `json` (legacy layer directories).
    pub legacy_dirs: Vec<String>,
}

impl Docs {
    pub fn find(cx: &Ctx<'_>) -> Docs {
        let mut legacy_dirs: Vec<String> = cx
            .members
            .iter()
            .filter_map(|m| {
                let (dir, base) = m.path.split_once('/')?;
                (base == "json" && !dir.is_empty()).then(|| dir.to_string())
            })
            .collect();
        legacy_dirs.sort();
        legacy_dirs.dedup();
        Docs {
            manifest: cx.index.get("manifest.json"),
            repositories: cx.index.get("repositories"),
            oci_layout: cx.index.get("oci-layout"),
            index: cx.index.get("index.json"),
            legacy_dirs,
        }
    }

    /// R5: manifest.json → manifest mode (moby prefers it); else an OCI layout; else legacy.
    pub fn layout(&self, _cx: &Ctx<'_>) -> Layout {
        match (self.manifest, self.oci_layout.or(self.index)) {
            (Some(_), Some(_)) => Layout::DockerOci,
            (Some(_), None) => Layout::DockerArchive,
            (None, Some(_)) => Layout::Oci,
            (None, None) if !self.legacy_dirs.is_empty() => Layout::Legacy,
            _ => Layout::Unknown,
        }
    }
}

/// Guesses the writer from the archive's shape (FORMAT.md §1).
pub(super) fn producer(
    cx: &Ctx<'_>,
    docs: &Docs,
    layout: Layout,
    items: Option<&[ManifestItem]>,
    _images: &[Image],
) -> Producer {
    let is_hex = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
    match layout {
        Layout::Legacy => Producer::DockerPre110,
        Layout::Oci => Producer::OciLayout,
        Layout::Unknown => Producer::Unknown,
        Layout::DockerOci => {
            let all_sources = items.is_some_and(|items| {
                items.iter().any(|i| {
                    i.layer_sources
                        .as_ref()
                        .is_some_and(|s| !s.is_empty() && s.len() >= i.layers.len())
                })
            });
            if docs.repositories.is_some() || all_sources {
                Producer::Docker25
            } else if cx
                .members
                .iter()
                .any(|m| m.path.starts_with("blobs/") && m.kind == MemberKind::Dir)
                || cx.members.iter().any(|m| m.path.starts_with("blobs/"))
            {
                Producer::Containerd
            } else {
                Producer::Unknown
            }
        }
        Layout::DockerArchive => {
            let Some(items) = items.filter(|i| !i.is_empty()) else {
                return Producer::Unknown;
            };
            let config = items.first().map(|i| i.config.as_str()).unwrap_or("");
            let first_layer = items
                .first()
                .and_then(|i| i.layers.first())
                .map(String::as_str)
                .unwrap_or("");
            if config.starts_with("sha256:") {
                Producer::GoContainerRegistry
            } else if first_layer
                .strip_suffix(".tar")
                .is_some_and(|s| is_hex(s) && !s.contains('/'))
            {
                Producer::ContainersImage
            } else if first_layer.ends_with("/layer.tar") {
                Producer::Docker
            } else {
                Producer::Unknown
            }
        }
    }
}
