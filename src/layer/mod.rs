//! Layer tars: what one pass over a layer blob learns (digests, compression, entry counts,
//! whiteouts) and the per-layer rules (FORMAT.md R35–R40); what each layer changes and the
//! filesystem an image's layers add up to.
//!
//! A layer is read as it streams: blob bytes → sha256 (the blob digest) → decompressor chosen from
//! magic bytes → sha256 (the DiffID, over the *whole* decompressed stream including anything after
//! the tar end blocks, as moby computes it) → tar headers. Entry bodies are never buffered.
//!
//! With [`Reader::record_entries`](crate::Reader::record_entries) the pass also keeps each
//! entry's metadata ([`Record`]s), from which [`flatten_image`] builds the per-layer
//! [`ChangeSet`]s and the flattened filesystem ([`FlatFs`]) without reading the archive again,
//! so a pipe is enough. [`waste`] reports wasted space as dive does. Content is read only when
//! asked for, in a second pass over a file or directory ([`content`]: `squash`, `cat`).

mod changes;
pub mod content;
mod entry;
mod flatten;
mod image;
mod scan;
pub mod waste;

pub use changes::{Change, ChangeKind, ChangeSet, Issue, IssueKind};
pub use entry::{
    escape_into, Entry, EntryKind, EntryPath, LayerRecords, Record, Xattr, MAX_XATTR_VALUE,
};
pub use flatten::{ContentRef, FlatFs, FlattenOptions, Flattener, Node, ResolveError, Semantics};
pub use image::{flatten_image, FlattenError, Flattened};
pub(crate) use scan::{scan_blob, scan_headers_seek};
pub use scan::{LayerIssue, LayerScan, ScanOptions, TarStatus};

use std::io::{self, Read};

use crate::digest::HashingReader;

/// Scans one layer blob on its own (plain, gzip or zstd tar, recognised from its magic bytes),
/// as the archive reader scans each layer: digests, counts, issues, and with
/// `options.record_entries` every entry's metadata.
///
/// Returns `Err` only when `blob` fails to read; a bad layer is described in the scan.
///
/// ```
/// let mut tar = tar::Builder::new(Vec::new());
/// let mut h = tar::Header::new_gnu();
/// h.set_size(0);
/// h.set_cksum();
/// tar.append_data(&mut h, "etc/.wh.passwd", &[][..])?;
/// let bytes = tar.into_inner()?;
/// let options = imgtar::layer::ScanOptions::new().record_entries(true);
/// let scan = imgtar::layer::scan_layer(&bytes[..], &imgtar::Limits::default(), options)?;
/// assert_eq!(scan.whiteouts, ["etc/passwd"]);
/// assert!(scan.records().is_some_and(|r| r.complete && r.records.len() == 1));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn scan_layer<R: Read>(
    blob: R,
    limits: &crate::Limits,
    options: ScanOptions,
) -> io::Result<LayerScan> {
    let mut blob = HashingReader::new(blob);
    let head = crate::compress::read_head(&mut blob, crate::compress::SNIFF_LEN)?;
    let mut scan = scan_blob(&head, &mut blob, limits, options)?;
    if scan.compression == Some(crate::Compression::None) && scan.diff_id.is_none() {
        scan.diff_id = Some(blob.finish().0);
    }
    Ok(scan)
}
