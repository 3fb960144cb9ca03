//! Layers: what each layer changes, the filesystem an image's layers add up to, the files'
//! content, and wasted space.
//!
//! A layer is read as it streams: blob bytes → sha256 (the blob digest) → decompressor chosen
//! from magic bytes → sha256 (the DiffID, over the *whole* decompressed stream including
//! anything after the tar end blocks, as moby computes it) → tar headers. Entry bodies are never
//! buffered.
//!
//! With [`Reader::record_entries`](crate::Reader::record_entries) the pass also keeps each
//! entry's metadata ([`Record`]s), from which [`flatten_image`] builds the per-layer
//! [`ChangeSet`]s and the flattened filesystem ([`FlatFs`]) without reading the archive again,
//! so a pipe is enough. [`files`] gives every file's content in the same single pass (a pipe
//! included); [`content`] writes a squashed filesystem or one file from a second pass over a
//! file; [`waste`] reports wasted space as dive does.

mod appliers;
mod changes;
pub mod content;
mod files;
mod flatfs;
mod flatten;
mod image;
mod links;
#[cfg(target_os = "linux")]
pub mod unpack;
pub mod waste;

pub use crate::path::EntryPath;
pub use crate::scan::entry::{Entry, EntryKind, LayerRecords, Record, Xattr, MAX_XATTR_VALUE};
pub use crate::scan::layer::{LayerScan, LayerStatus};
pub use changes::{Change, ChangeKind, ChangeSet, Issue, IssueKind};
pub use files::{files, File, FileMeta, Files, FilesError, FilesOptions, Scope};
pub use flatten::{ContentRef, FlatFs, FlattenOptions, Flattener, Node, ResolveError, Semantics};
pub use image::{flatten_image, FlattenError, Flattened};
pub use links::check_links;
#[cfg(target_os = "linux")]
pub use unpack::{unpack, Confine, UnpackError, UnpackOptions, Unpacked};

use std::io::Read;

/// Scans one layer blob on its own (plain, gzip or zstd tar, recognised from its magic bytes),
/// as the archive reader scans each layer: digests, counts, and with `record_entries` every
/// entry's metadata.
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
/// let scan = imgtar::layer::scan_layer(&bytes[..], &imgtar::Limits::default(), true)?;
/// assert_eq!(scan.whiteouts, [imgtar::layer::EntryPath::from("etc/passwd")]);
/// assert!(scan.records().is_some_and(|r| r.complete && r.records.len() == 1));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn scan_layer<R: Read>(
    blob: R,
    limits: &crate::Limits,
    record_entries: bool,
) -> std::io::Result<LayerScan> {
    crate::scan::layer::scan_layer(blob, limits, record_entries).map(|(s, _)| s)
}
