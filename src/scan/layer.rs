//! One layer blob, as it streams: blob bytes → (the member's sha256, computed by the caller) →
//! the decoder chosen from magic bytes → sha256 (the DiffID, over the *whole* decompressed
//! stream including anything after the tar's end, as moby computes it) → the tar reader.
//! Entry bodies are never buffered; a hook may read them as they pass.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::{self, Read};

use serde::Serialize;

use crate::compress::{self, Compression, DecodeError, DecodeFailure, LimitHit};
use crate::digest::{Digest, HashingReader};
use crate::path::EntryPath;
use crate::scan::entry::{self, EntryKind, LayerRecords, Record};
use crate::scan::tar::{self, Flow, Note, Stopped, TarError, TarReader};
use crate::scan::{path_key, pipeline, EntryHook, HookFailed, Trailing};
use crate::Limits;

/// How reading a layer's tar ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum LayerStatus {
    /// Read to the end-of-archive marker, or to a clean end of the stream.
    Complete {
        /// The tar ended without its two zero blocks (umoci 0.4.7 writes such layers: Go's
        /// reader takes the end of the stream as the end; GNU tar refuses them).
        no_end_marker: bool,
    },
    /// The (decompressed) blob does not start with a tar header.
    NotTar,
    /// The tar inside the blob ends early: inside a header, an extension record, an entry's
    /// data or its padding.
    Truncated {
        /// Offset in the decompressed layer stream where it ends.
        at: u64,
        /// Header offset of the entry it ends in, if any.
        entry: Option<u64>,
        /// Bytes the entry (or block) declares.
        declared: u64,
        /// Bytes of it present.
        present: u64,
    },
    /// A header does not parse.
    Corrupt {
        /// Offset of the failing header in the decompressed layer stream.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// Decompression failed.
    Decompress {
        /// The compressed data ends early (`true`) or is corrupt.
        truncated: bool,
        /// Compressed bytes consumed when it failed.
        consumed: u64,
        /// Decompressed bytes produced before it failed.
        produced: u64,
        /// The decoder's words.
        message: String,
    },
    /// Decompression stopped at a [`Limits`] bound (a decompression bomb?).
    Limit {
        /// Name of the [`Limits`] field.
        limit: &'static str,
        /// The value met.
        value: u64,
        /// The configured maximum.
        max: u64,
    },
}

impl LayerStatus {
    /// Whether every entry of the tar was read.
    pub fn is_complete(&self) -> bool {
        matches!(self, LayerStatus::Complete { .. })
    }
}

/// What the scan noticed about one entry (turned into findings by the rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Noted {
    /// The name climbs above the layer root.
    Escapes,
    /// A hardlink's target climbs above the layer root.
    HardlinkEscapes {
        /// The target as written.
        target: Vec<u8>,
    },
    /// A typeflag that `docker load` does not apply.
    UnknownType {
        /// The typeflag.
        typeflag: u8,
    },
    /// A whiteout or opaque marker that is not an empty regular file.
    WhiteoutNotEmpty {
        /// It is an opaque marker.
        opaque: bool,
    },
    /// `.wh.`, `.wh..`, `.wh...`.
    InvalidWhiteout,
    /// The path was written before in this layer.
    Duplicate,
    /// A whiteout of a path this layer also writes.
    SameLayerWhiteout {
        /// The path it deletes.
        target: EntryPath,
        /// The path was written before the whiteout (an applier that turns whiteouts into
        /// overlay character devices fails on it: the path exists).
        written_before: bool,
    },
    /// A hardlink into `.wh..wh.plnk` with no such file before it.
    AufsHardlinkMissing {
        /// The target as written.
        target: Vec<u8>,
    },
    /// A PAX global header and the keys it sets.
    GlobalHeader {
        /// The keys.
        keys: Vec<String>,
    },
    /// An entry whose path (or link target) passes a `Limits` bound: it is left out of the
    /// layer's filesystem (the note keeps only the path's start).
    PathLimit {
        /// The `Limits` field.
        limit: &'static str,
        /// The value met.
        value: u64,
        /// The bound.
        max: u64,
    },
    /// What the tar reader noticed.
    Tar(Note),
}

impl Noted {
    /// A small number naming the kind of note (for collapsing repeats).
    fn kind(&self) -> u8 {
        match self {
            Noted::Escapes => 0,
            Noted::HardlinkEscapes { .. } => 1,
            Noted::UnknownType { .. } => 2,
            Noted::WhiteoutNotEmpty { .. } => 3,
            Noted::InvalidWhiteout => 4,
            Noted::Duplicate => 5,
            Noted::SameLayerWhiteout { .. } => 6,
            Noted::AufsHardlinkMissing { .. } => 7,
            Noted::GlobalHeader { .. } => 8,
            Noted::PathLimit { .. } => 15,
            Noted::Tar(n) => match n {
                Note::PaxSizeDiffers { .. } => 9,
                Note::Orphaned { .. } => 10,
                Note::PaxAndGnuName => 11,
                Note::SizeOnHeaderOnly { .. } => 12,
                Note::OutOfRange { .. } => 13,
                Note::SparseMismatch { .. } => 14,
            },
        }
    }
}

/// One note about an entry of a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LayerNote {
    /// The entry's raw name.
    pub entry: Vec<u8>,
    /// The entry's header offset in the decompressed layer stream.
    pub offset: u64,
    /// What was noticed.
    pub what: Noted,
    /// More notes of the same kind that were counted but not kept (on the last one kept).
    pub more: u64,
}

/// Notes of one kind kept before the rest are only counted.
const NOTES_KEPT_PER_KIND: usize = 4;

/// What one pass over a layer blob found.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct LayerScan {
    /// Compression of the blob, from its magic bytes.
    pub compression: Compression,
    /// sha256 of the decompressed stream of a compressed blob, when it decompressed to its
    /// end (for an uncompressed blob the DiffID is the member's own digest).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff_id: Option<Digest>,
    /// Decompressed size in bytes (what was decompressed, when decompression failed).
    pub uncompressed_size: u64,
    /// How reading the tar ended.
    pub status: LayerStatus,
    /// Number of tar entries (extension headers not counted).
    pub entries: u64,
    /// Regular files.
    pub files: u64,
    /// Directories.
    pub dirs: u64,
    /// Symbolic links.
    pub symlinks: u64,
    /// Hard links.
    pub hardlinks: u64,
    /// Sum of regular file sizes.
    pub file_bytes: u64,
    /// Paths deleted by `.wh.<name>` entries.
    pub whiteouts: Vec<EntryPath>,
    /// Directories made opaque by `.wh..wh..opq` (the root is the empty path).
    pub opaque_dirs: Vec<EntryPath>,
    /// Bytes after the tar's end (they still count in the DiffID).
    #[serde(skip)]
    pub(crate) trailing: Option<Trailing>,
    /// Notes about entries.
    #[serde(skip)]
    pub(crate) notes: Vec<LayerNote>,
    /// Keys of every path the layer writes (not whiteouts), for checks across layers.
    #[serde(skip)]
    pub(crate) paths: HashSet<u64>,
    /// Hardlinks whose target is not written earlier in this layer: (path, target, offset).
    #[serde(skip)]
    pub(crate) outside_links: Vec<(EntryPath, EntryPath, u64)>,
    /// Every entry in stream order, when recording was asked for.
    #[serde(skip)]
    pub(crate) records: Option<LayerRecords>,
}

impl LayerScan {
    fn new(compression: Compression, record: bool) -> LayerScan {
        LayerScan {
            compression,
            diff_id: None,
            uncompressed_size: 0,
            status: LayerStatus::Complete {
                no_end_marker: false,
            },
            entries: 0,
            files: 0,
            dirs: 0,
            symlinks: 0,
            hardlinks: 0,
            file_bytes: 0,
            whiteouts: Vec::new(),
            opaque_dirs: Vec::new(),
            trailing: None,
            notes: Vec::new(),
            paths: HashSet::new(),
            outside_links: Vec::new(),
            records: record.then(LayerRecords::default),
        }
    }

    /// The layer's entries in stream order (metadata only), when the reader was asked to
    /// record them ([`Reader::record_entries`](crate::Reader::record_entries)).
    pub fn records(&self) -> Option<&LayerRecords> {
        self.records.as_ref()
    }

    fn note(&mut self, kinds: &mut HashMap<u8, usize>, entry: &[u8], offset: u64, what: Noted) {
        let kind = what.kind();
        let kept = kinds.entry(kind).or_insert(0);
        if *kept < NOTES_KEPT_PER_KIND {
            *kept = kept.saturating_add(1);
            self.notes.push(LayerNote {
                entry: entry.to_vec(),
                offset,
                what,
                more: 0,
            });
        } else if let Some(last) = self.notes.iter_mut().rev().find(|n| n.what.kind() == kind) {
            last.more = last.more.saturating_add(1);
        }
    }
}

/// What the layer scan is asked to do besides counting.
#[derive(Clone, Copy, Default)]
pub(crate) struct LayerOptions<'h> {
    /// Keep every entry's metadata.
    pub record: bool,
    /// Hand regular files to this hook, for the blob held by this member.
    pub hook: Option<(&'h dyn EntryHook, &'h EntryPath)>,
    /// Whether and where to hash what a compressed blob inflates to (its DiffID).
    pub diff_id: DiffHash,
}

/// How a compressed layer's DiffID is computed.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum DiffHash {
    /// Not at all: a metadata-only read claims no DiffID, and the sha256 would cost as much
    /// again as the inflate.
    #[default]
    Skip,
    /// On the thread that inflates and walks.
    Here,
    /// On a thread of its own (see [`pipeline::Hashing`]), so that this thread only inflates
    /// and walks.
    Away,
}

/// Passes reads through and records whether the inner reader failed, so an outer archive
/// error is not mistaken for a bad layer.
struct Flagged<'f, R> {
    inner: R,
    failed: &'f mut Option<io::Error>,
}

impl<R: Read> Read for Flagged<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Err(e) if e.kind() != io::ErrorKind::Interrupted => {
                let mine = io::Error::new(e.kind(), OuterFailed);
                *self.failed = Some(e);
                Err(mine)
            }
            other => other,
        }
    }
}

/// Marks the outer reader's failure inside the layer's error chain.
#[derive(Debug, thiserror::Error)]
#[error("reading the outer archive failed")]
struct OuterFailed;

/// Scans a layer candidate whose first bytes (`head`) were already read from `blob`.
///
/// Returns `Err` only when `blob` itself (the outer archive) fails, or the hook fails;
/// everything wrong with the layer is in the returned scan. Leaves `blob` drained to its end.
pub(crate) fn scan_blob<B: Read>(
    head: &[u8],
    blob: &mut B,
    limits: &Limits,
    options: LayerOptions<'_>,
) -> io::Result<LayerScan> {
    let compression = Compression::sniff(head);
    let mut scan = LayerScan::new(compression, options.record);
    let mut outer_error: Option<io::Error> = None;
    let hook_error = {
        let source = io::Cursor::new(head).chain(Flagged {
            inner: &mut *blob,
            failed: &mut outer_error,
        });
        if compression == Compression::None {
            // The DiffID is the blob digest: no second hash.
            read_tar_counted(source, limits, options, &mut scan)
        } else if options.diff_id == DiffHash::Skip {
            let decoded = compress::decoder(compression, source, limits);
            read_tar_counted(decoded, limits, options, &mut scan)
        } else {
            let mut diff = pipeline::Hashing::new(
                compress::decoder(compression, source, limits),
                options.diff_id == DiffHash::Away,
                limits.max_in_flight_bytes,
            );
            let r = read_tar(&mut diff, limits, options, &mut scan);
            let (d, n) = diff.finish()?;
            scan.uncompressed_size = n;
            // Unless decompression itself failed, the whole stream was read and hashed (a
            // truncated or corrupt tar inside is drained to its end).
            if !matches!(
                scan.status,
                LayerStatus::Decompress { .. } | LayerStatus::Limit { .. }
            ) {
                scan.diff_id = Some(d);
            }
            r
        }
    };
    if let Some(e) = outer_error {
        return Err(e);
    }
    hook_error?;
    io::copy(blob, &mut io::sink())?;
    Ok(scan)
}

/// [`read_tar`] of a stream that is not hashed here; sets the scan's uncompressed size.
fn read_tar_counted<R: Read>(
    r: R,
    limits: &Limits,
    options: LayerOptions<'_>,
    scan: &mut LayerScan,
) -> io::Result<()> {
    let mut counted = compress::Counting::new(r);
    let r = read_tar(&mut counted, limits, options, scan);
    scan.uncompressed_size = counted.count;
    r
}

/// Reads the tar of a layer from its decompressed stream `r` and then the rest of the stream
/// (trailing bytes). Sets `scan.status`. `Err` only for a hook's failure or the outer
/// reader's (the caller tells them apart).
fn read_tar<R: Read>(
    r: &mut R,
    limits: &Limits,
    options: LayerOptions<'_>,
    scan: &mut LayerScan,
) -> io::Result<()> {
    // The first block tells "not a tar" from a corrupt one.
    let first = match compress::read_head(r, 512) {
        Ok(b) => b,
        Err(e) => return stream_failed(e, scan),
    };
    if first.is_empty() {
        // An empty stream: Go's tar reader sees a clean end; an empty layer.
        return Ok(());
    }
    if !tar::looks_like_header(&first) {
        scan.status = LayerStatus::NotTar;
        return drain(r, scan, 0);
    }
    let mut reader = TarReader::new(
        tar::Stream(io::Cursor::new(first).chain(&mut *r)),
        tar_limits(limits),
    );
    let mut state = State::default();
    let stopped = tar::walk(&mut reader, |h, body| {
        entry(h, body, limits, options, scan, &mut state)?;
        Ok(Flow::Next)
    });
    end_orphans(&reader, scan, &mut state);
    let end_at = reader.pos();
    let result = match stopped {
        Stopped::End(end) => {
            scan.status = LayerStatus::Complete {
                no_end_marker: end == tar::End::NoMarker,
            };
            drop(reader);
            drain(r, scan, end_at)
        }
        Stopped::Visitor => Ok(()),
        Stopped::Failed(e) => stream_failed(e, scan),
        Stopped::Error(TarError::Source(e)) => stream_failed(e, scan),
        Stopped::Error(TarError::Truncated {
            at,
            entry,
            declared,
            present,
            ..
        }) => {
            scan.status = LayerStatus::Truncated {
                at,
                entry,
                declared,
                present,
            };
            Ok(())
        }
        Stopped::Error(TarError::Header { at, problem }) => {
            scan.status = LayerStatus::Corrupt {
                offset: at,
                reason: describe(&problem),
            };
            drop(reader);
            drain(r, scan, u64::MAX)
        }
    };
    finish(scan, &state);
    result
}

/// The tar reader's bounds from the crate's limits.
pub(crate) fn tar_limits(limits: &Limits) -> tar::TarLimits {
    tar::TarLimits {
        max_special: limits.max_path_bytes.max(1 << 20),
        max_sparse_regions: limits.max_sparse_regions,
    }
}

/// What a header problem is, in words.
pub(crate) fn describe(p: &tar::HeaderProblem) -> String {
    use tar::HeaderProblem as P;
    match p {
        P::Checksum => "the header checksum does not match (\"archive/tar: invalid tar header\")".into(),
        P::ZeroThenData => "a zero block is followed by a non-zero block (\"archive/tar: invalid tar header\")".into(),
        P::Number(f) => format!("the {} field is not a number", f.name()),
        P::NegativeSize => "the size is negative".into(),
        P::PaxRecord => "a PAX record is malformed".into(),
        P::PaxValue(k) => format!("the PAX {k} record is not a number"),
        P::TooLong { size, max } => format!(
            "an extension record of {size} bytes is longer than the limit of {max} (\"archive/tar: header field too long\")"
        ),
        P::Sparse => "the sparse map is malformed (unsorted, overlapping or past the size)".into(),
        P::SparseRegions { regions, max } => {
            format!("a sparse file with {regions} regions, more than Limits::max_sparse_regions ({max})")
        }
        P::SparseExtensions { blocks, max } => format!(
            "an old GNU sparse map continued over {blocks} extension blocks, more than Limits::max_sparse_regions ({max})"
        ),
    }
}

/// The decompressed stream failed: a decoder failure or a limit is the layer's; anything else
/// is the outer reader's or the hook's (returned).
fn stream_failed(e: io::Error, scan: &mut LayerScan) -> io::Result<()> {
    if let Some(hit) = LimitHit::of(&e) {
        scan.status = LayerStatus::Limit {
            limit: hit.limit,
            value: hit.value,
            max: hit.max,
        };
        return Ok(());
    }
    if let Some(d) = DecodeError::of(&e) {
        scan.status = LayerStatus::Decompress {
            truncated: d.failure == DecodeFailure::Truncated,
            consumed: d.consumed,
            produced: d.produced,
            message: d.message.clone(),
        };
        return Ok(());
    }
    Err(e)
}

/// Reads what follows the tar's end (the DiffID covers it), counting the non-zero bytes and
/// noticing a second tar. `at` is the decompressed offset where it starts (`u64::MAX`: after
/// a corrupt header, only drained).
fn drain<R: Read>(r: &mut R, scan: &mut LayerScan, at: u64) -> io::Result<()> {
    let mut t = Trailing {
        at,
        ..Trailing::default()
    };
    let mut buf = vec![0u8; 64 << 10];
    let mut first_nonzero: Option<Vec<u8>> = None;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return stream_failed(e, scan),
        };
        let chunk = buf.get(..n).unwrap_or_default();
        t.total = t.total.saturating_add(n as u64);
        let nz = chunk.iter().filter(|&&b| b != 0).count() as u64;
        if nz > 0 && first_nonzero.is_none() {
            // The block the first non-zero byte is in (relative to the trailing start).
            let pos = chunk.iter().position(|&b| b != 0).unwrap_or(0);
            let block_start = pos.saturating_sub(pos % 512);
            first_nonzero = Some(
                chunk
                    .get(block_start..)
                    .unwrap_or_default()
                    .iter()
                    .take(512)
                    .copied()
                    .collect(),
            );
        }
        t.nonzero = t.nonzero.saturating_add(nz);
    }
    if at != u64::MAX && t.nonzero > 0 {
        if let Some(b) = first_nonzero {
            t.set_first_block(&b);
        }
        scan.trailing = Some(t);
    }
    Ok(())
}

/// Bookkeeping during one layer's scan.
#[derive(Default)]
struct State {
    /// Whiteout targets with the whiteout's own name and offset, and whether the target was
    /// written before the whiteout.
    whiteout_targets: Vec<(EntryPath, Vec<u8>, u64, bool)>,
    /// Keys of the paths seen, and whether each was a directory.
    seen: HashMap<u64, bool>,
    /// Regular files under `.wh..wh.plnk/` by basename.
    plnk: BTreeSet<Vec<u8>>,
    /// Notes kept per kind.
    kinds: HashMap<u8, usize>,
    /// Paths recorded so far (bounded by `Limits::max_layer_entries`).
    recorded: u64,
    /// Records stopped at `Limits::max_layer_entries`.
    records_full: bool,
}

/// Notes the extension headers the end of the layer tar left pending (at their own offset,
/// with no entry name: they belong to no entry).
fn end_orphans<S: tar::Source>(reader: &TarReader<S>, scan: &mut LayerScan, st: &mut State) {
    for n in reader.end_orphans() {
        let at = match *n {
            tar::Note::Orphaned { at, .. } => at,
            _ => continue,
        };
        scan.note(&mut st.kinds, b"", at, Noted::Tar(n.clone()));
    }
}

/// The bound an entry's path or link target passes, if any: `Limits::max_path_bytes` (as for
/// the outer archive) or `Limits::max_path_depth`.
fn path_limit(h: &tar::Header, limits: &Limits) -> Option<Noted> {
    let longest = h.name.len().max(h.link.len()) as u64;
    if longest > limits.max_path_bytes {
        return Some(Noted::PathLimit {
            limit: "max_path_bytes",
            value: longest,
            max: limits.max_path_bytes,
        });
    }
    let depth = |p: &[u8]| p.split(|&b| b == b'/').filter(|c| !c.is_empty()).count() as u64;
    let deepest = depth(&h.name).max(depth(&h.link));
    (deepest > limits.max_path_depth).then_some(Noted::PathLimit {
        limit: "max_path_depth",
        value: deepest,
        max: limits.max_path_depth,
    })
}

/// Handles one header of a layer.
fn entry<S: tar::Source>(
    h: &tar::Header,
    body: &mut tar::Body<'_, S>,
    limits: &Limits,
    options: LayerOptions<'_>,
    scan: &mut LayerScan,
    st: &mut State,
) -> io::Result<()> {
    for n in &h.notes {
        scan.note(&mut st.kinds, &h.name, h.offset, Noted::Tar(n.clone()));
    }
    if let Some(what) = path_limit(h, limits) {
        // Every ancestor of a path becomes a directory of the filesystem built from it, so a
        // path's cost grows with its depth times its length: such entries are left out.
        let start = h.name.get(..256).unwrap_or(&h.name);
        scan.note(&mut st.kinds, start, h.offset, what);
        return Ok(());
    }
    let Some(c) = entry::classify(h) else {
        let keys = h
            .pax_keys
            .iter()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .collect();
        scan.note(
            &mut st.kinds,
            &h.name,
            h.offset,
            Noted::GlobalHeader { keys },
        );
        return Ok(());
    };
    scan.entries = scan.entries.saturating_add(1);
    if c.escapes {
        scan.note(&mut st.kinds, &h.name, h.offset, Noted::Escapes);
    }
    if matches!(h.typeflag, b'7' | b'S') || !matches!(h.typeflag, b'0'..=b'7' | b'S') {
        scan.note(
            &mut st.kinds,
            &h.name,
            h.offset,
            Noted::UnknownType {
                typeflag: h.typeflag,
            },
        );
    }
    let (kind, path) = match &c.record {
        Record::Entry(e) | Record::Aufs(e) => (Some(&e.kind), e.path.clone()),
        _ => (None, EntryPath::default()),
    };
    match kind {
        Some(EntryKind::File) => {
            scan.files = scan.files.saturating_add(1);
            scan.file_bytes = scan.file_bytes.saturating_add(h.size);
        }
        Some(EntryKind::Dir) => scan.dirs = scan.dirs.saturating_add(1),
        Some(EntryKind::Symlink { .. }) => scan.symlinks = scan.symlinks.saturating_add(1),
        Some(EntryKind::Hardlink { .. }) => scan.hardlinks = scan.hardlinks.saturating_add(1),
        _ => {}
    }
    match &c.record {
        Record::Opaque { dir, .. } => {
            if !entry::is_empty_file(h) {
                scan.note(
                    &mut st.kinds,
                    &h.name,
                    h.offset,
                    Noted::WhiteoutNotEmpty { opaque: true },
                );
            }
            scan.opaque_dirs.push(dir.clone());
        }
        Record::Whiteout { target, .. } => {
            if !entry::is_empty_file(h) {
                scan.note(
                    &mut st.kinds,
                    &h.name,
                    h.offset,
                    Noted::WhiteoutNotEmpty { opaque: false },
                );
            }
            let before = scan.paths.contains(&path_key(target.as_bytes()));
            st.whiteout_targets
                .push((target.clone(), h.name.clone(), h.offset, before));
            scan.whiteouts.push(target.clone());
        }
        Record::InvalidWhiteout { .. } => {
            scan.note(&mut st.kinds, &h.name, h.offset, Noted::InvalidWhiteout);
        }
        Record::Aufs(e) => {
            if e.kind == EntryKind::File {
                if let Some(rest) = e
                    .path
                    .as_bytes()
                    .strip_prefix(crate::whiteout::PLNK_DIR.as_bytes())
                {
                    if rest.first() == Some(&b'/') {
                        st.plnk.insert(e.path.file_name().to_vec());
                    }
                }
            }
        }
        Record::Entry(e) => {
            if let EntryKind::Hardlink { target } = &e.kind {
                if c.link_escapes {
                    scan.note(
                        &mut st.kinds,
                        &h.name,
                        h.offset,
                        Noted::HardlinkEscapes {
                            target: h.link.clone(),
                        },
                    );
                }
                if target
                    .as_bytes()
                    .starts_with(crate::whiteout::PLNK_DIR.as_bytes())
                {
                    if !st.plnk.contains(target.file_name()) {
                        scan.note(
                            &mut st.kinds,
                            &h.name,
                            h.offset,
                            Noted::AufsHardlinkMissing {
                                target: h.link.clone(),
                            },
                        );
                    }
                } else if !scan.paths.contains(&path_key(target.as_bytes())) {
                    scan.outside_links
                        .push((e.path.clone(), target.clone(), h.offset));
                }
            }
            if !path.is_root() {
                let key = path_key(path.as_bytes());
                let is_dir = e.kind.is_dir();
                match st.seen.get(&key) {
                    Some(&was_dir) if !(was_dir && is_dir) => {
                        scan.note(&mut st.kinds, &h.name, h.offset, Noted::Duplicate);
                    }
                    Some(_) => {}
                    None if st.recorded < limits.max_layer_entries => {
                        st.seen.insert(key, is_dir);
                    }
                    None => {}
                }
                if st.recorded < limits.max_layer_entries {
                    st.recorded = st.recorded.saturating_add(1);
                    scan.paths.insert(key);
                }
            }
            if e.kind == EntryKind::File {
                if let Some((hook, member)) = options.hook {
                    hook.file(member, e, body)
                        .map_err(|err| io::Error::new(err.kind(), HookFailed(err)))?;
                }
            }
        }
    }
    if let Some(records) = scan.records.as_mut() {
        if (records.records.len() as u64) < limits.max_layer_entries {
            records.records.push(c.record);
        } else {
            st.records_full = true;
        }
    }
    Ok(())
}

fn finish(scan: &mut LayerScan, st: &State) {
    let mut kinds = st.kinds.clone();
    for (target, raw, offset, before) in &st.whiteout_targets {
        if scan.paths.contains(&path_key(target.as_bytes())) {
            scan.note(
                &mut kinds,
                raw,
                *offset,
                Noted::SameLayerWhiteout {
                    target: target.clone(),
                    written_before: *before,
                },
            );
        }
    }
    if let Some(r) = scan.records.as_mut() {
        r.complete = scan.status.is_complete() && !st.records_full;
    }
}

/// Walks the headers of an uncompressed layer tar whose entry data can be skipped by
/// seeking (a member of a seekable file): the cost follows the number of entries, not their
/// size. Nothing is hashed, so the scan has no DiffID and no trailing-byte count.
pub(crate) fn scan_headers_seek<R: Read + io::Seek>(
    mut r: R,
    size: u64,
    limits: &Limits,
    record: bool,
) -> LayerScan {
    let mut scan = LayerScan::new(Compression::None, record);
    scan.uncompressed_size = size;
    let first = match compress::read_head(&mut r, 512) {
        Ok(b) => b,
        Err(e) => {
            scan.status = LayerStatus::Corrupt {
                offset: 0,
                reason: format!("reading the layer failed: {e}"),
            };
            return scan;
        }
    };
    if first.is_empty() {
        return scan;
    }
    if !tar::looks_like_header(&first) {
        scan.status = LayerStatus::NotTar;
        return scan;
    }
    if let Err(e) = r.seek(io::SeekFrom::Start(0)) {
        scan.status = LayerStatus::Corrupt {
            offset: 0,
            reason: format!("reading the layer failed: {e}"),
        };
        return scan;
    }
    let mut reader = TarReader::new(tar::Seeking::new(r, size), tar_limits(limits));
    let mut state = State::default();
    let options = LayerOptions {
        record,
        hook: None,
        diff_id: DiffHash::Skip,
    };
    let stopped = tar::walk(&mut reader, |h, body| {
        entry(h, body, limits, options, &mut scan, &mut state)?;
        Ok(Flow::Next)
    });
    end_orphans(&reader, &mut scan, &mut state);
    scan.status = match stopped {
        Stopped::End(end) => LayerStatus::Complete {
            no_end_marker: end == tar::End::NoMarker,
        },
        Stopped::Error(TarError::Truncated {
            at,
            entry,
            declared,
            present,
            ..
        }) => LayerStatus::Truncated {
            at,
            entry,
            declared,
            present,
        },
        Stopped::Error(TarError::Header { at, problem }) => LayerStatus::Corrupt {
            offset: at,
            reason: describe(&problem),
        },
        Stopped::Error(TarError::Source(e)) | Stopped::Failed(e) => LayerStatus::Corrupt {
            offset: reader.pos(),
            reason: format!("reading the layer failed: {e}"),
        },
        Stopped::Visitor => LayerStatus::Complete {
            no_end_marker: false,
        },
    };
    finish(&mut scan, &state);
    scan
}

/// Scans one layer blob on its own (plain, gzip or zstd tar, recognised from its magic bytes),
/// as the archive reader scans each layer: digests, counts, notes, and with `record` every
/// entry's metadata. `Err` only when `blob` fails to read.
pub(crate) fn scan_layer<R: Read>(
    blob: R,
    limits: &Limits,
    record: bool,
) -> io::Result<(LayerScan, Digest)> {
    let mut blob = HashingReader::new(blob);
    let head = compress::read_head(&mut blob, compress::SNIFF_LEN)?;
    let mut scan = scan_blob(
        &head,
        &mut blob,
        limits,
        LayerOptions {
            record,
            hook: None,
            diff_id: DiffHash::Here,
        },
    )?;
    let (digest, _) = blob.finish();
    if scan.compression == Compression::None && scan.diff_id.is_none() {
        scan.diff_id = Some(digest.clone());
    }
    Ok((scan, digest))
}
