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
    },
}

impl<'a> Facts<'a> {
    pub(crate) fn of(a: &'a Archive, findings: &'a [Finding]) -> Facts<'a> {
        Facts { a, findings }
    }

    /// How the outer tar reads.
    pub(crate) fn outer(&self) -> Outer {
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

    /// Why the outer tar stops early, for messages.
    pub(crate) fn damage(&self) -> &'static str {
        match &self.a.outer.stop {
            Some(OuterStop::Header { .. }) => "archive/tar: invalid tar header",
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
        img.layers
            .iter()
            .map(|l| {
                let Some(m) = l.index.and_then(|i| self.a.members.get(i)) else {
                    return LayerFact::Missing;
                };
                let (compression, tar_ok, odd_types, empty) = match &m.layer {
                    Some(s) => (
                        s.compression,
                        s.status.is_complete(),
                        s.notes
                            .iter()
                            .any(|n| matches!(n.what, Noted::UnknownType { .. })),
                        false,
                    ),
                    None => (Compression::None, m.size == 0, false, m.size == 0),
                };
                let diff_mismatch = match (&l.diff_id, &l.computed_diff_id) {
                    (Some(want), Some(got)) => want != got,
                    _ => false,
                };
                LayerFact::Present {
                    compression,
                    tar_ok,
                    odd_types,
                    diff_mismatch,
                    empty,
                }
            })
            .collect()
    }

    /// Whether a finding with this code is reported about the member of a path.
    pub(crate) fn has_code(&self, code: Code) -> bool {
        self.findings.iter().any(|f| f.code == code)
    }
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
