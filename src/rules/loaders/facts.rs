//! What the loaders' rules ask of an archive, answered once from the model.

use crate::compress::Compression;
use crate::finding::{Code, Finding};
use crate::model::{Archive, Image, ImageSource};
use crate::reference::Reference;
use crate::scan::layer::{LayerStatus, Noted};
use crate::scan::{Head, MemberKind, OuterStop};

/// How the outer tar reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outer {
    /// A complete tar.
    Tar,
    /// Not a tar (or empty, or compressed twice).
    NotTar,
    /// A tar that ends early or stops parsing.
    Damaged,
}

/// The archive, as the loaders' rules see it.
pub(crate) struct Facts<'a> {
    pub a: &'a Archive,
    pub findings: &'a [Finding],
    /// What applying some images' layers with their links resolved found.
    pub applied: &'a super::Applied,
}

/// One layer of an image, as a loader applying it sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LayerFact {
    /// The reference leads to no regular file.
    Missing,
    /// Its compression.
    Present {
        /// Compression of the blob.
        compression: Compression,
        /// The blob decompresses and its tar reads to its end.
        tar_ok: bool,
        /// An entry type docker does not apply (`7`, `S`, unknown).
        odd_types: bool,
        /// The computed DiffID differs from the config's (false when unknown).
        diff_mismatch: bool,
        /// The blob is empty (Go's tar reader sees a clean end).
        empty: bool,
        /// Why moby's applier (`pkg/archive` `UnpackLayer`, which podman's containers/storage
        /// shares) fails on an entry: its words.
        apply: Option<&'static str>,
        /// Why containerd's applier (v1.6.20 `archive/tar.go` `applyNaive` with
        /// `OverlayConvertWhiteout`) fails on an entry: its words.
        containerd_apply: Option<&'static str>,
        /// The layer holds a hardlink to a file of a lower layer (containerd's overlay
        /// applier extracts into the upper directory, where the target is not).
        link_below: bool,
    },
}

impl<'a> Facts<'a> {
    pub(crate) fn of(
        a: &'a Archive,
        findings: &'a [Finding],
        applied: &'a super::Applied,
    ) -> Facts<'a> {
        Facts {
            a,
            findings,
            applied,
        }
    }

    /// How the outer stream reads when it is read to its end (a decompressor that fails
    /// after the tar's end, in a cut or changed trailer, fails the read).
    pub(crate) fn outer(&self) -> Outer {
        match self.outer_to_end_marker() {
            Outer::Tar if self.trailer_damaged() => Outer::Damaged,
            o => o,
        }
    }

    /// The compressed stream fails after the tar's end (its trailer cut or changed).
    pub(crate) fn trailer_damaged(&self) -> bool {
        self.a
            .outer
            .trailing
            .as_ref()
            .is_some_and(|t| t.decode.is_some())
    }

    /// How the outer tar reads up to its end-of-archive marker (what a reader that stops
    /// there sees: Go's `archive/tar` returns `io.EOF` at the marker without reading on).
    pub(crate) fn outer_to_end_marker(&self) -> Outer {
        match self.a.outer.head {
            Some(Head::Tar) | None if self.a.directory => Outer::Tar,
            Some(Head::Tar) => match &self.a.outer.stop {
                None => Outer::Tar,
                Some(_) => Outer::Damaged,
            },
            None => Outer::Damaged,
            Some(_) => Outer::NotTar,
        }
    }

    /// How the outer tar reads for a reader that undoes a second compression too (the
    /// tar inside a doubly compressed stream); `None` when the stream is not compressed twice
    /// over a tar.
    pub(crate) fn outer_twice(&self) -> Option<Outer> {
        if !matches!(self.a.outer.head, Some(Head::DoubleCompressed(_)))
            || self.a.members.is_empty()
        {
            return None;
        }
        Some(match &self.a.outer.stop {
            None => Outer::Tar,
            Some(_) => Outer::Damaged,
        })
    }

    /// Why the outer tar stops early, for messages.
    pub(crate) fn damage(&self) -> &'static str {
        match &self.a.outer.stop {
            Some(OuterStop::Header { .. }) => "archive/tar: invalid tar header",
            None if self.trailer_damaged() => match self.a.compression {
                Compression::Gzip => "gzip: invalid checksum or unexpected EOF",
                _ => "unexpected EOF",
            },
            _ => "unexpected EOF",
        }
    }

    /// The compression of the outer stream.
    pub(crate) fn compression(&self) -> Compression {
        self.a.compression
    }

    /// A member of a top-level name, the last copy (as an extraction keeps it).
    pub(crate) fn has(&self, name: &str) -> bool {
        self.a.index.get(name.as_bytes()).is_some()
    }

    /// Whether a member whose name, cleaned as Go's `path.Clean` cleans it (a leading `/`
    /// kept), is `name`, and it is a regular file (or a symlink).
    pub(crate) fn member_named(&self, name: &str) -> bool {
        self.a
            .members
            .iter()
            .any(|m| go_clean(&m.name) == name.as_bytes() && !matches!(m.kind, MemberKind::Dir))
    }

    /// Whether a regular file member (no link) is named `name` once cleaned as
    /// [`member_named`](Self::member_named) cleans it.
    pub(crate) fn regular_named(&self, name: &str) -> bool {
        self.a
            .members
            .iter()
            .any(|m| go_clean(&m.name) == name.as_bytes() && matches!(m.kind, MemberKind::File))
    }

    /// The `manifest.json` images, in order.
    pub(crate) fn manifest_images(&self) -> Vec<&'a Image> {
        self.a
            .images
            .iter()
            .filter(|i| matches!(i.source, ImageSource::Manifest { .. }))
            .collect()
    }

    /// Whether manifest.json parses as a list (`Some(false)`: it is `null`; `None`: absent or
    /// not a list of entries).
    pub(crate) fn manifest_list(&self) -> Option<bool> {
        let doc = self.a.docs.manifest.as_ref()?;
        match doc.parsed.as_ref()? {
            Ok(_) => Some(true),
            Err(_) => {
                let m = self.a.members.get(doc.reference.member()?)?;
                let text = std::str::from_utf8(m.data()?).ok()?;
                (text.trim() == "null").then_some(false)
            }
        }
    }

    /// The words of the manifest.json decoding failure, if it does not decode.
    pub(crate) fn manifest_error(&self) -> Option<String> {
        let doc = self.a.docs.manifest.as_ref()?;
        match doc.parsed.as_ref() {
            Some(Err(e)) => Some(e.to_string()),
            None => Some("manifest.json is not a regular file".into()),
            Some(Ok(_)) => None,
        }
    }

    /// The layers of an image, as an applier sees them.
    pub(crate) fn layers(&self, img: &Image) -> Vec<LayerFact> {
        self.layers_in(img, &img.layers.iter().collect::<Vec<_>>())
    }

    /// The layers of an image in the order an applier takes them (an OCI manifest may list
    /// them in another order than `manifest.json`), each against the config's DiffID of
    /// its position.
    pub(crate) fn layers_in(&self, img: &Image, order: &[&crate::Layer]) -> Vec<LayerFact> {
        let written: Vec<String> = img
            .config
            .as_ref()
            .map(|c| c.diff_ids.clone())
            .unwrap_or_default();
        // What applying the image's layers with their links resolved found, when it was.
        let applied = self
            .a
            .images
            .iter()
            .position(|i| std::ptr::eq(i, img))
            .and_then(|n| self.applied.get(&n));
        // Paths of the layers below, for hardlinks across layers.
        let mut below: std::collections::HashSet<u64> = std::collections::HashSet::new();
        order
            .iter()
            .enumerate()
            .map(|(k, l)| {
                let Some(m) = l.index.and_then(|i| self.a.members.get(i)) else {
                    return LayerFact::Missing;
                };
                let (compression, tar_ok, odd_types, empty, apply, containerd_apply, link_below) =
                    match &m.layer {
                        Some(s) => {
                            let odd = s
                                .notes
                                .iter()
                                .any(|n| matches!(n.what, Noted::UnknownType { .. }));
                            let link_below = s.outside_links.iter().any(|(_, t, _)| {
                                below.contains(&crate::scan::path_key(t.as_bytes()))
                            });
                            let dangling = s.outside_links.iter().any(|(_, t, _)| {
                                !below.contains(&crate::scan::path_key(t.as_bytes()))
                            });
                            let linked = applied.and_then(|a| {
                                img.layers
                                    .iter()
                                    .position(|x| std::ptr::eq(x, *l))
                                    .and_then(|p| a.get(p))
                            });
                            // With the links resolved, moby's hardlinks are judged there
                            // (a target through a symlink of a lower layer is found);
                            // containerd's overlay applier still needs the target in the layer.
                            let apply = match linked {
                                Some(x) => applier_failure(s, false).or(x.moby),
                                None => applier_failure(s, dangling),
                            };
                            let containerd = containerd_failure(s, dangling || link_below)
                                .or(linked.and_then(|x| x.containerd));
                            below.extend(s.paths.iter().copied());
                            (
                                s.compression,
                                s.status.is_complete(),
                                odd,
                                false,
                                apply,
                                containerd,
                                link_below,
                            )
                        }
                        None => (
                            Compression::None,
                            m.size == 0,
                            false,
                            m.size == 0,
                            None,
                            None,
                            false,
                        ),
                    };
                // DiffIDs compare as written: one in another case or form is no match.
                let diff_mismatch = match (written.get(k), &l.computed_diff_id) {
                    (Some(want), Some(got)) => *want != got.to_string(),
                    _ => false,
                };
                LayerFact::Present {
                    compression,
                    tar_ok,
                    odd_types,
                    diff_mismatch,
                    empty,
                    apply,
                    containerd_apply,
                    link_below,
                }
            })
            .collect()
    }

    /// The first hardlink member whose target (cleaned, clamped at the root) is not an
    /// earlier member: an extraction cannot create it.
    pub(crate) fn outer_dangling_hardlink(&self) -> Option<(String, String)> {
        let mut seen: std::collections::HashSet<&[u8]> = std::collections::HashSet::new();
        for m in &self.a.members {
            if let MemberKind::Hardlink { target } = &m.kind {
                let t = crate::path::EntryPath::clean(target).0;
                if !seen.contains(t.as_bytes()) {
                    return Some((
                        t.to_string_lossy().into_owned(),
                        m.path.to_string_lossy().into_owned(),
                    ));
                }
            }
            seen.insert(m.path.as_bytes());
        }
        None
    }

    /// The symlink members whose target, joined to the link's directory as Go's
    /// `path.Join` joins it (an absolute target is not taken from the root), is no regular
    /// file member: containerd's importer refuses them (`no target for symlink layer`).
    pub(crate) fn containerd_symlink_without_target(&self) -> Option<(String, String)> {
        let files: std::collections::HashSet<Vec<u8>> = self
            .a
            .members
            .iter()
            .filter(|m| m.is_file())
            .map(|m| go_clean(&m.name))
            .collect();
        for m in &self.a.members {
            let MemberKind::Symlink { target } = &m.kind else {
                continue;
            };
            let name = go_clean(&m.name);
            let dir = crate::path::split(&name).0;
            let mut joined = dir.to_vec();
            if !joined.is_empty() {
                joined.push(b'/');
            }
            joined.extend_from_slice(target);
            let linked = go_clean(&joined);
            if !files.contains(&linked) {
                return Some((
                    String::from_utf8_lossy(&name).into_owned(),
                    String::from_utf8_lossy(target).into_owned(),
                ));
            }
        }
        None
    }

    /// A member as containers/image's `docker-archive` reader finds it: by `path.Clean` of its
    /// name (the first copy), one symlink followed to a regular file. `None`: not found.
    pub(crate) fn podman_file(&self, path: &str) -> Option<usize> {
        let want = go_clean(path.as_bytes());
        let first = |name: &[u8]| {
            self.a
                .members
                .iter()
                .position(|m| go_clean(&m.name) == name)
        };
        let i = first(&want)?;
        let m = self.a.members.get(i)?;
        match &m.kind {
            MemberKind::File => Some(i),
            MemberKind::Symlink { target } => {
                let dir = crate::path::split(&want).0;
                let joined = if target.first() == Some(&b'/') {
                    target.clone()
                } else {
                    crate::path::join(dir, target)
                };
                let j = first(&go_clean(&joined))?;
                self.a.members.get(j).filter(|t| t.is_file()).map(|_| j)
            }
            _ => None,
        }
    }

    /// The size of a member (0 when absent).
    pub(crate) fn size_of(&self, i: Option<usize>) -> u64 {
        i.and_then(|i| self.a.members.get(i)).map_or(0, |m| m.size)
    }

    /// Whether a config's `created` times parse as Go's `time.Time` (RFC 3339).
    pub(crate) fn times_ok(img: &Image) -> Result<(), String> {
        let Some(c) = &img.config else { return Ok(()) };
        let bad = c
            .created
            .iter()
            .chain(c.history.iter().filter_map(|h| h.created.as_ref()))
            .find(|t| !crate::doc::config::is_rfc3339(t));
        match bad {
            Some(t) => Err(format!(
                "parsing time {:?} as \"2006-01-02T15:04:05Z07:00\"",
                format!("\"{t}\"")
            )),
            None => Ok(()),
        }
    }

    /// The `manifest.json` member's size (what size caps judge).
    pub(crate) fn manifest_size(&self) -> u64 {
        self.size_of(
            self.a
                .docs
                .manifest
                .as_ref()
                .and_then(|d| d.reference.member()),
        )
    }

    /// Whether `manifest.json` leads to a regular file (a dangling link is no manifest).
    pub(crate) fn manifest_file(&self) -> bool {
        self.a
            .docs
            .manifest
            .as_ref()
            .is_some_and(|d| d.reference.member().is_some())
    }

    /// Whether a finding with this code is reported about the member of a path.
    pub(crate) fn has_code(&self, code: Code) -> bool {
        self.findings.iter().any(|f| f.code == code)
    }
}

/// Why moby's applier fails on a layer (the words it fails with), from what the scan noted.
fn applier_failure(s: &crate::scan::layer::LayerScan, dangling_link: bool) -> Option<&'static str> {
    for n in &s.notes {
        match &n.what {
            Noted::Duplicate => return Some("duplicates of file paths not supported"),
            Noted::AufsHardlinkMissing { .. } => return Some("invalid aufs hardlink"),
            Noted::Tar(crate::scan::tar::Note::SparseMismatch { .. }) => {
                return Some("archive/tar: sparse file contains unreferenced data")
            }
            Noted::InvalidWhiteout => {
                // `.wh.`, `.wh..` and `.wh...` remove their directory or its parent; at the top
                // that is the layer's root: `unlinkat .//: device or resource busy`.
                let name = String::from_utf8_lossy(&n.entry);
                let clean = crate::path::EntryPath::clean(&n.entry).0;
                let depth = clean.components().count();
                let dotdot = name.ends_with(".wh..") || name.ends_with(".wh...");
                if depth <= 1 || (depth == 2 && dotdot) {
                    return Some("unlinkat .//: device or resource busy");
                }
            }
            _ => {}
        }
    }
    dangling_link.then_some("link: no such file or directory")
}

/// Why containerd's applier fails on a layer (the words it fails with), from what the scan
/// noted: an entry type it does not create, a whiteout naming its own directory or parent,
/// a whiteout of a path written earlier in the layer (the overlay character device cannot
/// be made where the path is), a hardlink to a file not written earlier in the layer (the
/// overlay applier extracts into an empty upper directory; observed with containerd
/// 1.6.20), sparse data Go's reader refuses.
fn containerd_failure(
    s: &crate::scan::layer::LayerScan,
    outside_link: bool,
) -> Option<&'static str> {
    for n in &s.notes {
        match &n.what {
            Noted::UnknownType { .. } => return Some("unhandled tar header type"),
            // No special meaning to containerd: a hardlink to a file that is not there.
            Noted::AufsHardlinkMissing { .. } => return Some("link: no such file or directory"),
            Noted::InvalidWhiteout => return Some("invalid whiteout name: invalid archive"),
            Noted::SameLayerWhiteout {
                written_before: true,
                ..
            } => return Some("failed to convert whiteout file: file exists"),
            Noted::Tar(crate::scan::tar::Note::SparseMismatch { .. }) => {
                return Some("archive/tar: sparse file contains unreferenced data")
            }
            _ => {}
        }
    }
    outside_link.then_some("link: no such file or directory")
}

/// Go's `path.Clean` of a raw member name: a leading `/` is kept.
pub(crate) fn go_clean(raw: &[u8]) -> Vec<u8> {
    let abs = raw.first() == Some(&b'/');
    let clean = crate::path::EntryPath::clean(raw).0;
    let mut out = Vec::with_capacity(clean.as_bytes().len().saturating_add(1));
    if abs {
        out.push(b'/');
    }
    out.extend_from_slice(clean.as_bytes());
    out
}

/// A `RepoTags` item as the reference package reads it: `Ok(true)` a tagged reference,
/// `Ok(false)` a name without a tag, `Err` words of the parse error.
pub(crate) fn tag_kind(tag: &str) -> Result<bool, String> {
    match Reference::parse_normalized(tag) {
        Ok(r) if r.digest().is_some() && r.tag().is_none() => Ok(false),
        Ok(r) => Ok(r.tag().is_some()),
        Err(e) => Err(e.to_string()),
    }
}

/// The config of an image is a JSON object with `rootfs`.
pub(crate) fn config_ok(img: &Image) -> Result<(), &'static str> {
    match &img.config {
        None => Err("invalid image JSON"),
        Some(c) if !c.has_rootfs => Err("invalid image JSON, no RootFS key"),
        Some(_) => Ok(()),
    }
}

/// The config's DiffID count against the image's layers.
pub(crate) fn layer_counts(img: &Image) -> Option<(usize, usize)> {
    let c = img.config.as_ref()?;
    (c.diff_ids.len() != img.layers.len()).then_some((img.layers.len(), c.diff_ids.len()))
}

/// The layer status words for a failed layer, as Go's tar reader gives them.
pub(crate) fn layer_words(status: Option<&LayerStatus>) -> &'static str {
    match status {
        Some(LayerStatus::Truncated { .. })
        | Some(LayerStatus::Decompress {
            truncated: true, ..
        }) => "unexpected EOF",
        _ => "archive/tar: invalid tar header",
    }
}
