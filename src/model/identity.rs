//! Image IDs and names as the daemon shows them.

use crate::model::{Image, ImageSource};
use crate::reference::Reference;

/// The normalized form of a tag as written in an archive (`None` if it does not parse).
pub(crate) fn normalize_tag(tag: &str) -> Option<Reference> {
    Reference::parse_normalized(tag)
        .ok()
        .map(Reference::with_default_tag)
}

impl Image {
    /// Whether this image carries the reference `r` (compared after normalization).
    pub fn has_reference(&self, r: &Reference) -> bool {
        self.repo_tags
            .iter()
            .filter_map(|t| normalize_tag(t))
            .any(|t| t == *r)
    }

    /// The hex of the image's ID: its config digest, or for a pre-1.10 image (which has no
    /// config) the v1 ID of its top layer directory.
    pub fn id_hex(&self) -> Option<&str> {
        match (&self.id, &self.source) {
            (Some(d), _) => Some(d.hex()),
            (None, ImageSource::Legacy { top }) => Some(top),
            _ => None,
        }
    }

    /// The image ID as the API shows it: `sha256:` + the config digest (for a pre-1.10 image,
    /// of the config the legacy loader makes); for a pre-1.10 image whose ID is not known
    /// (read without verification) the v1 ID of its top layer directory.
    pub fn api_id(&self) -> String {
        match (&self.id, &self.source) {
            (Some(d), _) => d.to_string(),
            (None, ImageSource::Legacy { top }) => top.clone(),
            _ => String::new(),
        }
    }

    /// The image's tags, normalized: a tag-less name gets `latest` (as go-containerregistry
    /// and `docker load` read it), digest-only and invalid names are dropped; sorted as moby's
    /// reference store sorts them (by the full normalized string), without duplicates.
    pub(crate) fn tag_refs(&self) -> Vec<Reference> {
        let mut refs: Vec<Reference> = self
            .repo_tags
            .iter()
            .filter_map(|t| Reference::parse_normalized(t).ok())
            .map(Reference::with_default_tag)
            .filter(|r| r.tag().is_some() && r.digest().is_none())
            .collect();
        refs.sort_by_key(ToString::to_string);
        refs.dedup();
        refs
    }
}

impl Image {
    /// The DiffIDs the image is made of: the config's `rootfs.diff_ids`, or for a pre-1.10
    /// image the computed DiffIDs of its layer chain (what `docker load` records for it).
    pub(crate) fn diff_ids(&self) -> Vec<String> {
        match (&self.source, &self.config) {
            (ImageSource::Legacy { .. }, _) => self
                .layers
                .iter()
                .filter_map(|l| l.computed_diff_id.as_ref().map(ToString::to_string))
                .collect(),
            (_, Some(c)) => c.diff_ids.clone(),
            (_, None) => Vec::new(),
        }
    }
}

/// The hex an ID query names: `sha256:`-prefixed or bare lowercase hex, at most 64 digits.
pub(crate) fn id_prefix(q: &str) -> Option<&str> {
    let hex = q.strip_prefix("sha256:").unwrap_or(q);
    (!hex.is_empty()
        && hex.len() <= 64
        && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
    .then_some(hex)
}
