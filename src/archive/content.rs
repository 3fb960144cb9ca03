//! What is learned from one regular member's bytes: its digest, a layer scan when it looks
//! like a layer, or its content when it is a small metadata document. Shared by the streaming
//! walk, the parallel indexed walk and directory input.

use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::compress::{self, Compression};
use crate::digest::HashingReader;
use crate::{layer, Limits};

/// Decides what to keep of a regular member and hashes it.
pub(crate) struct ContentPolicy<'a> {
    pub limits: &'a Limits,
    /// Bytes of metadata kept so far (shared by parallel workers).
    pub kept_total: &'a AtomicU64,
    /// Hash every member (`false` for metadata-only reads: layer blobs are not hashed, and an
    /// uncompressed layer's tar headers are walked without its data being hashed).
    pub verify: bool,
    /// What layer scans keep.
    pub scan: layer::ScanOptions,
}

/// The result of [`ContentPolicy::process`].
#[derive(Default)]
pub(crate) struct Content {
    pub digest: Option<crate::Digest>,
    pub count: u64,
    pub layer: Option<layer::LayerScan>,
    pub data: Option<Vec<u8>>,
    pub too_large: bool,
}

impl ContentPolicy<'_> {
    /// Whether a member of this size can hold a metadata document worth reading when layers are
    /// not verified.
    pub(crate) fn may_be_metadata(&self, size: u64) -> bool {
        size <= self.limits.max_json_bytes
    }

    /// Reads `r` to its end (`size` is the declared size). `Err` only when `r` fails.
    pub(crate) fn process<R: Read>(&self, mut r: R, name: &str, size: u64) -> io::Result<Content> {
        let head = compress::read_head(&mut r, compress::SNIFF_LEN)?;
        let compressed = Compression::sniff(&head) != Compression::None;
        let layer_like = compressed || (head.len() == 512 && compress::looks_like_tar(&head));
        if layer_like && !self.verify {
            // Walk the layer's headers (and decompress it when compressed: its file sizes are
            // known no other way) without hashing the blob.
            let mut counted = compress::Counting::new(r);
            let scan = layer::scan_blob(&head, &mut counted, self.limits, self.scan)?;
            return Ok(Content {
                count: (head.len() as u64).saturating_add(counted.count),
                layer: Some(scan),
                ..Content::default()
            });
        }
        let mut out = Content::default();
        let mut blob = HashingReader::with_prefix(r, &head);
        if layer_like {
            out.layer = Some(layer::scan_blob(&head, &mut blob, self.limits, self.scan)?);
        } else if is_metadata_like(name, &head) {
            if size <= self.limits.max_json_bytes && self.reserve(size) {
                let mut data = head;
                (&mut blob)
                    .take(self.limits.max_json_bytes.saturating_add(1))
                    .read_to_end(&mut data)?;
                out.data = Some(data);
            } else {
                out.too_large = true;
            }
            blob.drain()?;
        } else {
            blob.drain()?;
        }
        let (digest, count) = blob.finish();
        out.digest = Some(digest);
        out.count = count;
        Ok(out)
    }

    /// Charges `size` bytes to the metadata budget; false when it would pass the limit.
    fn reserve(&self, size: u64) -> bool {
        let max = self.limits.max_metadata_total;
        self.kept_total
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |kept| {
                let next = kept.saturating_add(size);
                (next <= max).then_some(next)
            })
            .is_ok()
    }
}

fn is_metadata_like(name: &str, head: &[u8]) -> bool {
    let first = head.iter().copied().find(|b| !b.is_ascii_whitespace());
    let base = crate::path::basename(name);
    matches!(first, Some(b'{') | Some(b'[') | Some(b'n') | Some(b'"'))
        || base == "VERSION"
        || base == "repositories"
        || base == "oci-layout"
        || name.ends_with(".json")
}
