//! The scan stage: one pass over the bytes, emitting typed observations (never findings).
//!
//! - [`tar`]: the one tar reader and the one loop over tar entries;
//! - [`entry`]: the one entry classifier;
//! - [`layer`]: what one layer blob holds (digests, compression, counts, whiteouts, notes
//!   about its entries), optionally every entry's metadata and a hook that reads content;
//! - [`member`]: what one outer member's bytes give (its digest, a layer scan, a small
//!   document kept in memory);
//! - [`outer`], [`indexed`], [`dir`]: the walks over the outer archive: a stream, a seekable
//!   file (indexed first, then read on all cores), an extracted directory.

pub(crate) mod dir;
pub(crate) mod entry;
#[cfg(unix)]
pub(crate) mod indexed;
pub(crate) mod layer;
pub(crate) mod member;
pub(crate) mod outer;
pub(crate) mod pipeline;
pub(crate) mod readahead;
pub(crate) mod tar;

use std::io::{self, Read};

use crate::compress::{Compression, DecodeFailure};
use crate::path::EntryPath;
use crate::scan::entry::Entry;
pub(crate) use member::{Member, MemberKind};

/// What the scan keeps and does besides hashing.
#[derive(Clone, Copy, Default)]
pub(crate) struct ScanOptions<'h> {
    /// Hash every member and decompress every layer (false: headers and documents only).
    pub verify: bool,
    /// Keep every layer entry's metadata ([`layer::LayerScan::records`]).
    pub record_entries: bool,
    /// Called with each regular file of each layer and its content.
    pub hook: Option<&'h dyn EntryHook>,
    /// Read only the members the hook wants (a content pass over an archive already
    /// validated): the others are skipped, neither hashed nor scanned.
    pub only_wanted: bool,
    /// Told of the bytes read so far.
    pub progress: Option<&'h (dyn Fn(u64) + Sync)>,
    /// Threads the streaming walk may use for members' content (1: all on the walk's own).
    pub threads: usize,
}

impl std::fmt::Debug for ScanOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScanOptions")
            .field("verify", &self.verify)
            .field("record_entries", &self.record_entries)
            .field("hook", &self.hook.is_some())
            .finish()
    }
}

/// Receives layer entries' content as the scan passes them (the content API stands on it).
pub(crate) trait EntryHook: Sync {
    /// Whether the entries of the layer blob held by this member are wanted. A member that is
    /// not wanted by any hook is still scanned (and hashed when verifying) but its entries are
    /// not handed out.
    fn wants(&self, member: &EntryPath) -> bool;
    /// A regular file of a wanted layer, with its content (what is left unread is skipped).
    /// An error stops the whole pass.
    fn file(&self, member: &EntryPath, entry: &Entry, content: &mut dyn Read) -> io::Result<()>;
}

/// An error of an [`EntryHook`] (carried through `io::Error` so that it is not mistaken for the
/// input's).
#[derive(Debug, thiserror::Error)]
#[error("the content visitor failed")]
pub(crate) struct HookFailed(#[source] pub io::Error);

/// How the first bytes of the input look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Head {
    /// A tar stream (possibly after one layer of compression).
    Tar,
    /// No bytes at all (after decompression, when the input was compressed).
    Empty,
    /// Fewer bytes than one tar block.
    Short(u64),
    /// The first block is not a tar header.
    NotTar,
    /// Decompressed, the stream is compressed again.
    DoubleCompressed(Compression),
}

/// Why the walk over the outer archive stopped before its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OuterStop {
    /// The input ended inside a part of the archive.
    Truncated {
        /// Offset (decompressed tar) where the input ended.
        at: u64,
        /// What it ended in.
        part: tar::Part,
        /// Index of the member it ended in (for data and padding).
        member: Option<usize>,
        /// Bytes that part declares.
        declared: u64,
        /// Bytes of it present.
        present: u64,
    },
    /// A header that does not parse.
    Header {
        /// Its offset.
        at: u64,
        /// What is wrong.
        problem: tar::HeaderProblem,
    },
    /// The outer decompression failed.
    Decode {
        /// Truncated or corrupt.
        failure: DecodeFailure,
        /// Compressed bytes consumed when it failed.
        consumed: u64,
        /// Decompressed bytes produced (the tar offset).
        produced: u64,
        /// Index of the member being read, if any.
        member: Option<usize>,
        /// The decoder's words.
        message: String,
    },
    /// A [`Limits`](crate::Limits) bound stopped reading.
    Limit {
        /// The bound.
        limit: &'static str,
        /// The value met.
        value: u64,
        /// The maximum.
        max: u64,
        /// Offset (decompressed tar) where it stopped.
        at: u64,
        /// Index of the member being read, if any.
        member: Option<usize>,
    },
}

/// Bytes after the end of a tar (outer or layer).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Trailing {
    /// Offset where they start.
    pub at: u64,
    /// How many.
    pub total: u64,
    /// How many are not zero.
    pub nonzero: u64,
    /// The first non-zero block is a tar header (a second archive no tar reader shows).
    pub tar_header: bool,
    /// That header's name field.
    pub first_name: Option<Vec<u8>>,
    /// The decompressor failed after the end of the tar (a cut or corrupt trailer: the
    /// tar inside is complete).
    pub decode: Option<crate::compress::DecodeError>,
}

impl Trailing {
    /// The trailing archive is an eStargz table of contents (`stargz.index.json`), which
    /// eStargz writers put after the tar's end on purpose.
    pub(crate) fn is_estargz_toc(&self) -> bool {
        self.first_name.as_deref() == Some(b"stargz.index.json")
    }

    /// Notes the first non-zero block.
    pub(crate) fn set_first_block(&mut self, block: &[u8]) {
        self.tar_header = block.len() == 512 && tar::looks_like_header(block);
        if self.tar_header {
            let name = block.get(..100).unwrap_or_default();
            let end = name.iter().position(|&c| c == 0).unwrap_or(name.len());
            self.first_name = Some(name.get(..end).unwrap_or_default().to_vec());
        }
    }
}

/// What the walk over the outer archive observed, besides its members.
#[derive(Debug, Clone, Default)]
pub(crate) struct OuterObs {
    /// Compressed bytes read (equal to `tar_len` for a plain tar).
    pub input_len: u64,
    /// Bytes of the (decompressed) tar up to its end-of-archive marker, or to where reading
    /// stopped.
    pub tar_len: u64,
    /// How the first bytes look.
    pub head: Option<Head>,
    /// For input that is not a tar: what its first bytes look like instead.
    pub looks_like: Option<&'static str>,
    /// How the tar ended.
    pub end: tar::End,
    /// Why reading stopped early, if it did.
    pub stop: Option<OuterStop>,
    /// Bytes after the end-of-archive marker.
    pub trailing: Option<Trailing>,
    /// Notes of the tar reader about outer headers: (header offset, note).
    pub notes: Vec<(u64, tar::Note)>,
    /// PAX global headers: (offset, keys).
    pub global_headers: Vec<(u64, Vec<String>)>,
}

/// What the pass over the outer archive collected.
#[derive(Debug, Clone)]
pub(crate) struct Walk {
    /// Compression of the outer stream.
    pub compression: Compression,
    /// Every member in archive order.
    pub members: Vec<Member>,
    /// How the outer archive read.
    pub outer: OuterObs,
    /// Every member was hashed and every layer decompressed (false for metadata-only reads).
    pub verified: bool,
    /// The input is a directory (no tar offsets).
    pub directory: bool,
}

/// Retries reads that fail with `Interrupted` (signals on a pipe).
pub(crate) struct Retry<R>(pub R);

impl<R: Read> Read for Retry<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.0.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    }
}

/// A key for a path that costs 8 bytes to keep (paths of a layer kept for checks across
/// layers). SipHash with fixed keys: stable across runs.
pub(crate) fn path_key(p: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    #[allow(deprecated)]
    let mut h = std::hash::SipHasher::new();
    p.hash(&mut h);
    h.finish()
}
