use std::cell::Cell;
use std::collections::{BTreeSet, HashSet};
use std::io::{self, Read};

use serde::Serialize;

use crate::compress::{self, Compression};
use crate::digest::{Digest, HashingReader};
use crate::layer::entry::{self, LayerRecords};
use crate::validate::Code;
use crate::whiteout::{self, Whiteout};
use crate::Limits;

/// How the tar inside a layer blob ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum TarStatus {
    /// Parsed to the end-of-archive marker (or a clean end of stream).
    Complete,
    /// The (decompressed) blob does not start with a tar header.
    NotTar,
    /// A header failed to parse.
    Corrupt {
        /// Offset of the failing header in the decompressed layer stream.
        offset: u64,
        /// The parser's message.
        message: String,
    },
    /// Decompression stopped at a [`Limits`] bound (a decompression bomb?).
    LimitExceeded {
        /// Name of the [`Limits`] field.
        limit: String,
        /// The value met.
        value: u64,
        /// The configured maximum.
        max: u64,
    },
    /// The decompressor failed.
    DecompressError {
        /// Decompressed bytes produced before the failure.
        offset: u64,
        /// The decoder's message.
        message: String,
    },
}

/// A problem found inside one layer tar; turned into a [`Finding`](crate::Finding) when the blob
/// is used as a layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LayerIssue {
    /// The finding code.
    pub code: Code,
    /// The layer entry's path.
    pub entry: String,
    /// The entry's header offset in the decompressed layer stream.
    pub offset: u64,
    /// What is wrong.
    pub message: String,
}

/// What one pass over a layer blob found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LayerScan {
    /// Compression of the blob, from its magic bytes.
    pub compression: Option<Compression>,
    /// sha256 of the decompressed stream of a compressed blob, when it could be fully
    /// decompressed (for an uncompressed blob the DiffID is the member's own digest).
    pub diff_id: Option<Digest>,
    /// Decompressed size in bytes.
    pub uncompressed_size: u64,
    /// How parsing ended.
    pub status: Option<TarStatus>,
    /// Number of tar entries (PAX and GNU long-name records not counted).
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
    pub whiteouts: Vec<String>,
    /// Directories made opaque by `.wh..wh..opq` (empty string = the root).
    pub opaque_dirs: Vec<String>,
    /// Non-zero bytes after the tar end-of-archive blocks (they still count in the DiffID).
    pub trailing_bytes: u64,
    /// Problems found inside the layer.
    pub issues: Vec<LayerIssue>,
    /// Every path the layer writes (not whiteouts), for cross-layer hardlink checks.
    #[serde(skip)]
    pub(crate) paths: HashSet<String>,
    /// Hardlinks whose target is not written earlier in this layer: (path, target, offset).
    #[serde(skip)]
    pub(crate) outside_links: Vec<(String, String, u64)>,
    /// Every entry in stream order, when [`ScanOptions::record_entries`] was set.
    #[serde(skip)]
    pub(crate) records: Option<LayerRecords>,
}

impl LayerScan {
    /// The layer's entries in stream order (metadata only), when the reader was asked to
    /// record them ([`Reader::record_entries`](crate::Reader::record_entries)).
    pub fn records(&self) -> Option<&LayerRecords> {
        self.records.as_ref()
    }
}

/// What a layer scan keeps besides its counts and findings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScanOptions {
    /// Record every entry's metadata ([`LayerScan::records`]) so that layers can be diffed
    /// and flattened without reading the archive again. Costs memory in proportion to the
    /// number of entries (bounded by [`Limits::max_layer_entries`]), never to their size.
    pub record_entries: bool,
}

impl ScanOptions {
    /// Counts and findings only.
    pub fn new() -> Self {
        ScanOptions::default()
    }

    /// Sets [`ScanOptions::record_entries`].
    pub fn record_entries(mut self, record: bool) -> Self {
        self.record_entries = record;
        self
    }
}

/// Counts non-zero bytes while draining.
struct NonZeroSink(u64);
impl io::Write for NonZeroSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 = self
            .0
            .saturating_add(buf.iter().filter(|&&b| b != 0).count() as u64);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Scans a layer candidate whose first bytes (`head`) were already read from `blob`.
///
/// Returns `Err` only when `blob` itself (the outer archive) fails; everything wrong with the
/// layer is recorded in the returned scan. Leaves `blob` drained to its end.
pub(crate) fn scan_blob<B: Read>(
    head: &[u8],
    blob: &mut B,
    limits: &Limits,
    options: ScanOptions,
) -> io::Result<LayerScan> {
    let compression = Compression::sniff(head);
    let mut scan = LayerScan {
        compression: Some(compression),
        records: options.record_entries.then(LayerRecords::default),
        ..LayerScan::default()
    };
    let failed = Cell::new(false);
    let consumed = Cell::new(0u64);
    {
        let source = io::Cursor::new(head).chain(Flagged {
            inner: &mut *blob,
            flag: &failed,
        });
        if compression == Compression::None {
            // The DiffID is the blob digest: no second hash.
            let mut counted = compress::Counting::new(source);
            scan_tar(&mut counted, limits, &mut scan);
            let mut sink = NonZeroSink(0);
            let drained = io::copy(&mut counted, &mut sink);
            scan.uncompressed_size = counted.count;
            scan.trailing_bytes = sink.0;
            if let Err(e) = drained {
                if failed.get() {
                    return Err(e);
                }
            }
        } else {
            let source = compress::CountInto {
                inner: source,
                count: &consumed,
            };
            match compress::decoder(compression, source) {
                Ok(d) => {
                    let mut diff = HashingReader::new(compress::Bounded {
                        inner: d,
                        out: 0,
                        consumed: &consumed,
                        max_out: limits.max_decompressed_bytes,
                        max_ratio: limits.max_decompression_ratio,
                    });
                    scan_tar(&mut diff, limits, &mut scan);
                    let mut sink = NonZeroSink(0);
                    match io::copy(&mut diff, &mut sink) {
                        Ok(_) => {
                            scan.trailing_bytes = sink.0;
                            let (d, n) = diff.finish();
                            scan.uncompressed_size = n;
                            if !matches!(
                                scan.status,
                                Some(
                                    TarStatus::DecompressError { .. }
                                        | TarStatus::LimitExceeded { .. }
                                )
                            ) {
                                scan.diff_id = Some(d);
                            }
                        }
                        Err(e) => {
                            if failed.get() {
                                return Err(e);
                            }
                            scan.uncompressed_size = diff.count();
                            scan.status = Some(decode_failure(diff.count(), &e));
                        }
                    }
                }
                Err(e) => {
                    scan.status = Some(TarStatus::DecompressError {
                        offset: 0,
                        message: e.to_string(),
                    });
                }
            }
        }
    }
    if failed.get() {
        return Err(outer_failed());
    }
    io::copy(blob, &mut io::sink())?;
    Ok(scan)
}

/// Passes reads through and records whether the inner reader failed, so an outer archive
/// error is not mistaken for a bad layer.
struct Flagged<'f, R> {
    inner: R,
    flag: &'f Cell<bool>,
}

impl<R: Read> Read for Flagged<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            if e.kind() != io::ErrorKind::Interrupted {
                self.flag.set(true);
            }
        })
    }
}

fn outer_failed() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "outer archive read failed")
}

/// Walks tar headers. Sets `scan.status` (unless a decompression error is already recorded).
fn scan_tar<R: Read>(r: &mut R, limits: &Limits, scan: &mut LayerScan) {
    // Peek at the first block through a small buffer so "not a tar" can be told apart from a
    // corrupt one.
    let mut first = [0u8; 512];
    let mut got = 0usize;
    while got < first.len() {
        let Some(rest) = first.get_mut(got..) else {
            break;
        };
        match r.read(rest) {
            Ok(0) => break,
            Ok(n) => got = got.saturating_add(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                scan.status = Some(TarStatus::DecompressError {
                    offset: got as u64,
                    message: e.to_string(),
                });
                return;
            }
        }
    }
    let head = first.get(..got).unwrap_or_default();
    if got == 0 {
        // An empty stream: Go's tar reader sees a clean EOF; treat as an empty layer.
        scan.status = Some(TarStatus::Complete);
        return;
    }
    if !compress::looks_like_tar(head) {
        scan.status = Some(TarStatus::NotTar);
        return;
    }
    let mut stream = io::Cursor::new(head).chain(r);
    let mut archive = tar::Archive::new(&mut stream);
    match archive.entries() {
        Ok(entries) => walk_entries(entries, limits, scan),
        Err(e) => scan.status = Some(classify_tar_error(0, e)),
    }
}

/// Walks the headers of an uncompressed layer tar whose entry data can be skipped by
/// seeking (a member of a seekable file): the cost follows the number of entries, not their
/// size. Nothing is hashed, so the scan has no DiffID and no trailing-byte count.
pub(crate) fn scan_headers_seek<R: Read + io::Seek>(
    mut r: R,
    size: u64,
    limits: &Limits,
    options: ScanOptions,
) -> LayerScan {
    let mut scan = LayerScan {
        compression: Some(Compression::None),
        records: options.record_entries.then(LayerRecords::default),
        uncompressed_size: size,
        ..LayerScan::default()
    };
    let mut head = Vec::with_capacity(512);
    if let Err(e) = (&mut r).take(512).read_to_end(&mut head) {
        scan.status = Some(decode_failure(0, &e));
        return scan;
    }
    if head.is_empty() {
        scan.status = Some(TarStatus::Complete);
        return scan;
    }
    if !compress::looks_like_tar(&head) {
        scan.status = Some(TarStatus::NotTar);
        return scan;
    }
    if let Err(e) = r.seek(io::SeekFrom::Start(0)) {
        scan.status = Some(decode_failure(0, &e));
        return scan;
    }
    let mut archive = tar::Archive::new(r);
    match archive.entries_with_seek() {
        Ok(entries) => walk_entries(entries, limits, &mut scan),
        Err(e) => scan.status = Some(classify_tar_error(0, e)),
    }
    scan
}

fn walk_entries<R: Read>(entries: tar::Entries<'_, R>, limits: &Limits, scan: &mut LayerScan) {
    let mut state = ScanState::default();
    let mut last_end = 0u64;
    for entry in entries {
        let mut entry = match entry {
            Ok(e) => e,
            Err(e) => {
                scan.status = Some(classify_tar_error(last_end, e));
                return;
            }
        };
        let offset = entry.raw_header_position();
        last_end = entry
            .raw_file_position()
            .saturating_add(entry.size().div_ceil(512).saturating_mul(512));
        if let Some(records) = scan.records.as_mut() {
            if (records.records.len() as u64) < limits.max_layer_entries {
                records.records.extend(entry::record(&mut entry, offset));
            } else {
                // Stays marked incomplete so that nobody flattens half a layer.
                state.records_full = true;
            }
        }
        record_entry(&entry, offset, limits, scan, &mut state);
    }
    if let Some(records) = scan.records.as_mut() {
        records.complete = !state.records_full;
    }
    finish(scan, &state);
    if scan.status.is_none() {
        scan.status = Some(TarStatus::Complete);
    }
}

/// What a failed read of the decompressed stream means.
fn decode_failure(offset: u64, e: &io::Error) -> TarStatus {
    match compress::LimitHit::of(e) {
        Some(hit) => TarStatus::LimitExceeded {
            limit: hit.limit.to_string(),
            value: hit.value,
            max: hit.max,
        },
        None => TarStatus::DecompressError {
            offset,
            message: e.to_string(),
        },
    }
}

fn classify_tar_error(offset: u64, e: io::Error) -> TarStatus {
    if compress::LimitHit::of(&e).is_some() {
        return decode_failure(offset, &e);
    }
    // Errors that come from the decompressor are reported as such; tar-rs reports its own
    // format problems as `Other` with a description.
    let msg = e.to_string();
    if e.kind() == io::ErrorKind::InvalidInput
        || e.kind() == io::ErrorKind::InvalidData && !msg.contains("archive")
        || msg.contains("corrupt deflate")
        || msg.contains("invalid gzip")
    {
        return TarStatus::DecompressError {
            offset,
            message: msg,
        };
    }
    TarStatus::Corrupt {
        offset,
        message: msg,
    }
}

#[derive(Default)]
struct ScanState {
    /// Whiteout targets with the whiteout's own path and offset.
    whiteout_targets: Vec<(String, String, u64)>,
    /// Paths written more than once (non-directories, or a directory rewritten as another type).
    seen_types: std::collections::HashMap<String, tar::EntryType>,
    /// Regular files under `.wh..wh.plnk/` by basename.
    plnk: BTreeSet<String>,
    recorded_paths: u64,
    /// [`Limits::max_layer_entries`] records were kept; the rest were not.
    records_full: bool,
}

fn record_entry<R: Read>(
    entry: &tar::Entry<'_, R>,
    offset: u64,
    limits: &Limits,
    scan: &mut LayerScan,
    state: &mut ScanState,
) {
    let raw = entry.path_bytes();
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let clean = crate::path::clean(&raw);
    let path = clean.path;
    let kind = entry.header().entry_type();
    let size = entry.size();
    scan.entries = scan.entries.saturating_add(1);
    let mut issue = |code: Code, message: String| {
        scan.issues.push(LayerIssue {
            code,
            entry: raw.clone(),
            offset,
            message,
        });
    };
    if clean.escapes {
        issue(
            Code::LayerUnsafePath,
            format!("layer entry {raw:?} climbs above the layer root"),
        );
    }
    match kind {
        tar::EntryType::Regular | tar::EntryType::Continuous => {
            if kind == tar::EntryType::Continuous {
                issue(
                    Code::LayerUnknownType,
                    format!("entry {raw:?} has typeflag '7' (contiguous file), which docker load does not handle"),
                );
            }
        }
        tar::EntryType::Directory
        | tar::EntryType::Symlink
        | tar::EntryType::Link
        | tar::EntryType::Char
        | tar::EntryType::Block
        | tar::EntryType::Fifo
        | tar::EntryType::XGlobalHeader
        | tar::EntryType::XHeader
        | tar::EntryType::GNULongName
        | tar::EntryType::GNULongLink => {}
        other => {
            issue(
                Code::LayerUnknownType,
                format!(
                    "entry {raw:?} has typeflag {:?}, which docker load rejects (\"unhandled tar header type\")",
                    other.as_byte() as char
                ),
            );
        }
    }
    if kind == tar::EntryType::XGlobalHeader {
        scan.entries = scan.entries.saturating_sub(1);
        return;
    }
    match kind {
        tar::EntryType::Regular => {
            scan.files = scan.files.saturating_add(1);
            scan.file_bytes = scan.file_bytes.saturating_add(size);
        }
        tar::EntryType::Directory => scan.dirs = scan.dirs.saturating_add(1),
        tar::EntryType::Symlink => scan.symlinks = scan.symlinks.saturating_add(1),
        tar::EntryType::Link => scan.hardlinks = scan.hardlinks.saturating_add(1),
        _ => {}
    }
    let is_regular = kind == tar::EntryType::Regular;
    match whiteout::classify(&path) {
        Whiteout::Opaque { dir } => {
            if !is_regular || size != 0 {
                issue(
                    Code::WhiteoutNotEmptyFile,
                    format!("opaque marker {raw:?} is not an empty regular file"),
                );
            }
            scan.opaque_dirs.push(dir);
            return;
        }
        Whiteout::Delete { target } => {
            if !is_regular || size != 0 {
                issue(
                    Code::WhiteoutNotEmptyFile,
                    format!("whiteout {raw:?} is not an empty regular file"),
                );
            }
            state
                .whiteout_targets
                .push((target.clone(), raw.clone(), offset));
            scan.whiteouts.push(target);
            return;
        }
        Whiteout::Invalid => {
            issue(
                Code::WhiteoutInvalidName,
                format!("whiteout {raw:?} names nothing to delete"),
            );
            return;
        }
        Whiteout::AufsMeta => {
            if is_regular {
                if let Some(rest) = path.strip_prefix(whiteout::PLNK_DIR) {
                    if rest.starts_with('/') {
                        state.plnk.insert(crate::path::basename(&path).to_string());
                    }
                }
            }
            return;
        }
        Whiteout::None => {}
    }
    if kind == tar::EntryType::Link {
        let target = entry
            .link_name_bytes()
            .map(|t| String::from_utf8_lossy(&t).into_owned())
            .unwrap_or_default();
        let tclean = crate::path::clean(&target);
        if tclean.escapes {
            issue(
                Code::LayerUnsafePath,
                format!("hardlink {raw:?} points above the layer root ({target:?})"),
            );
        }
        if tclean.path.starts_with(whiteout::PLNK_DIR) {
            let base = crate::path::basename(&tclean.path).to_string();
            if !state.plnk.contains(&base) {
                issue(
                    Code::AufsHardlinkMissing,
                    format!(
                        "hardlink {raw:?} points to aufs {target:?}, but no such file precedes it (\"invalid aufs hardlink\")"
                    ),
                );
            }
        } else if !scan.paths.contains(&tclean.path) {
            scan.outside_links.push((raw.clone(), tclean.path, offset));
        }
    }
    if path.is_empty() {
        return;
    }
    if let Some(prev) = state.seen_types.get(&path) {
        if !(*prev == tar::EntryType::Directory && kind == tar::EntryType::Directory) {
            issue(
                Code::LayerDuplicateEntry,
                format!("{raw:?} appears more than once in this layer"),
            );
        }
    } else if state.recorded_paths < limits.max_layer_entries {
        state.seen_types.insert(path.clone(), kind);
    }
    if state.recorded_paths < limits.max_layer_entries {
        state.recorded_paths = state.recorded_paths.saturating_add(1);
        scan.paths.insert(path);
    }
}

fn finish(scan: &mut LayerScan, state: &ScanState) {
    for (target, raw, offset) in &state.whiteout_targets {
        if scan.paths.contains(target) {
            scan.issues.push(LayerIssue {
                code: Code::WhiteoutSameLayer,
                entry: raw.clone(),
                offset: *offset,
                message: format!(
                    "whiteout {raw:?} and {target:?} are in the same layer: the OCI spec keeps {target:?}, docker load deletes it when the whiteout comes later"
                ),
            });
        }
    }
}
