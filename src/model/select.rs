//! Choosing an image of an archive the way a user names it to docker: by reference
//! (`busybox`, `busybox:1.36`, `docker.io/library/busybox:1.36`, however the writer spelled
//! the tag), by `name@digest` (the digest of its manifest or `index.json` entry), or by image
//! ID (full, `sha256:`-prefixed, or a unique prefix; a pre-1.10 image by the ID Docker's legacy
//! loader gives it, or, read without verification, by the v1 ID of its top layer directory). Every command and the library use this one selector.

use crate::model::identity::id_prefix;
use crate::model::{Archive, Image};
use crate::reference::Reference;

/// Why no single image matched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SelectError {
    /// Nothing matched (the query; empty when the archive has no image at all).
    #[error("No such image: {0}")]
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

impl Archive {
    /// Finds the image named by `query` (see the module docs); with `None`, the only image.
    pub fn find_image(&self, query: Option<&str>) -> Result<&Image, SelectError> {
        let i = self.find_index(query)?;
        self.images
            .get(i)
            .ok_or_else(|| SelectError::NotFound(query.unwrap_or_default().to_string()))
    }

    /// [`Archive::find_image`], giving the index in [`Archive::images`].
    pub fn find_index(&self, query: Option<&str>) -> Result<usize, SelectError> {
        let Some(q) = query else {
            return match self.images.len() {
                1 => Ok(0),
                0 => Err(SelectError::NotFound(String::new())),
                n => Err(SelectError::NoneNamed(n)),
            };
        };
        // A full reference match wins (docker resolves names before ID prefixes).
        if let Ok(r) = Reference::parse_normalized(q) {
            if let Some(d) = r.digest() {
                // `name@digest`: the image of that name whose manifest, or index.json entry,
                // has that digest.
                return self
                    .images
                    .iter()
                    .position(|i| {
                        let named = i.tag_refs().iter().any(|t| t.name() == r.name());
                        named && self.digests_of(i).iter().any(|x| x == d)
                    })
                    .ok_or_else(|| SelectError::NotFound(q.to_string()));
            }
            let r = r.with_default_tag();
            if let Some(i) = self.images.iter().position(|i| i.has_reference(&r)) {
                return Ok(i);
            }
        }
        if let Some(hex) = id_prefix(q) {
            let hits: Vec<usize> = self
                .images
                .iter()
                .enumerate()
                .filter(|(_, i)| i.id_hex().is_some_and(|h| h.starts_with(hex)))
                .map(|(n, _)| n)
                .collect();
            return match hits.as_slice() {
                [one] => Ok(*one),
                [] => Err(SelectError::NotFound(q.to_string())),
                many => Err(SelectError::Ambiguous {
                    query: q.to_string(),
                    count: many.len(),
                }),
            };
        }
        Err(SelectError::NotFound(q.to_string()))
    }

    /// The digests `name@digest` may name an image by: its manifest's, and those of the
    /// `index.json` entries it is reached from.
    pub(crate) fn digests_of(&self, image: &Image) -> Vec<String> {
        let mut out: Vec<String> = image
            .manifest_digest
            .iter()
            .map(ToString::to_string)
            .collect();
        if let Some(tree) = &self.oci {
            for t in &image.oci_tops {
                if let Some(top) = tree.tops.get(*t) {
                    out.push(top.desc.digest.clone());
                }
            }
        }
        out
    }
}
