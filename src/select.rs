//! Choosing an image of an archive the way a user names it to docker: by reference
//! (`busybox`, `busybox:1.36`, `docker.io/library/busybox:1.36`, however the writer spelled
//! the tag), by `name@digest` (the digest of its manifest or `index.json` entry), or by image
//! ID (full, `sha256:`-prefixed, or a unique prefix; a pre-1.10 image by the v1 ID of its top
//! layer directory).

use crate::model::{Archive, Image};
use crate::reference::Reference;

/// Why no single image matched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SelectError {
    /// Nothing matched.
    #[error("no image matches {0:?}")]
    NotFound(String),
    /// An ID prefix matched several images.
    #[error("{query:?} matches {count} images; use a longer ID or a tag")]
    Ambiguous {
        /// The query.
        query: String,
        /// How many matched.
        count: usize,
    },
    /// The archive has several images and none was named.
    #[error("the archive has {0} images; name one by tag or ID")]
    NoneNamed(usize),
}

/// The hex an ID query names: `sha256:`-prefixed or bare lowercase hex, at most 64 digits.
pub(crate) fn id_prefix(q: &str) -> Option<&str> {
    let hex = q.strip_prefix("sha256:").unwrap_or(q);
    (!hex.is_empty()
        && hex.len() <= 64
        && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
    .then_some(hex)
}

/// The normalized form of a tag as written in an archive (`None` if it does not parse).
pub fn normalize_tag(tag: &str) -> Option<Reference> {
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
}

impl Image {
    /// The hex of the image's ID: its config digest, or for a pre-1.10 image (which has no
    /// config) the v1 ID of its top layer directory.
    pub fn id_hex(&self) -> Option<&str> {
        match (&self.id, &self.source) {
            (Some(d), _) => Some(d.hex()),
            (None, crate::model::ImageSource::Legacy { top }) => Some(top),
            _ => None,
        }
    }
}

impl Archive {
    /// Finds the image named by `query` (see the module docs); with `None`, the only image.
    pub fn find_image(&self, query: Option<&str>) -> Result<&Image, SelectError> {
        let Some(q) = query else {
            return match self.images.as_slice() {
                [one] => Ok(one),
                [] => Err(SelectError::NotFound(String::new())),
                many => Err(SelectError::NoneNamed(many.len())),
            };
        };
        // A full reference match wins (docker resolves names before ID prefixes).
        if let Ok(r) = Reference::parse_normalized(q) {
            if let Some(d) = r.digest() {
                // `name@digest`: the image of that name whose manifest, or index.json entry,
                // has that digest.
                let tree = crate::engine::facts::IndexTree::read(self);
                return self
                    .images
                    .iter()
                    .find(|i| {
                        let named = crate::engine::facts::tag_refs(i)
                            .iter()
                            .any(|t| t.name() == r.name());
                        let top = tree.top_for(i).map(|t| t.desc.digest.as_str());
                        named && (i.manifest_digest.as_deref() == Some(d) || top == Some(d))
                    })
                    .ok_or_else(|| SelectError::NotFound(q.to_string()));
            }
            let r = r.with_default_tag();
            if let Some(img) = self.images.iter().find(|i| i.has_reference(&r)) {
                return Ok(img);
            }
        }
        if let Some(hex) = id_prefix(q) {
            let hits: Vec<&Image> = self
                .images
                .iter()
                .filter(|i| i.id_hex().is_some_and(|h| h.starts_with(hex)))
                .collect();
            return match hits.as_slice() {
                [one] => Ok(one),
                [] => Err(SelectError::NotFound(q.to_string())),
                many => Err(SelectError::Ambiguous {
                    query: q.to_string(),
                    count: many.len(),
                }),
            };
        }
        Err(SelectError::NotFound(q.to_string()))
    }
}
