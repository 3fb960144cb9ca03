//! Layer tars: what one pass over a layer blob learns (digests, compression, entry counts,
//! whiteouts) and the per-layer rules (FORMAT.md R35–R40).
//!
//! A layer is read as it streams: blob bytes → sha256 (the blob digest) → decompressor chosen from
//! magic bytes → sha256 (the DiffID, over the *whole* decompressed stream including anything after
//! the tar end blocks, as moby computes it) → tar headers. Entry bodies are never buffered.

mod scan;

pub(crate) use scan::scan_blob;
pub use scan::{LayerIssue, LayerScan, TarStatus};
