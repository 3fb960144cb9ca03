//! The read stage: the [`Reader`] and its [`Report`], and the kinds of input (a file, a pipe,
//! a directory) with whether each can be read twice.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::finding::{Finding, Severity};
use crate::model::Archive;
use crate::scan::readahead::ReadAhead;
use crate::scan::{self, EntryHook, ScanOptions};
use crate::{Error, Limits, Result};

/// What reading an archive gives: the model and the findings.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Report {
    /// Whether no finding is an error.
    pub valid: bool,
    /// Every member was hashed and every layer decompressed and scanned. `false` after a
    /// [`Reader::metadata_only`] read, whose findings say nothing about digests and layers.
    pub verified: bool,
    /// The archive model.
    #[serde(flatten)]
    pub archive: Archive,
    /// Every finding, sorted by offset.
    pub findings: Vec<Finding>,
    /// What each loader (and version) would do with the archive.
    pub loaders: Vec<crate::rules::loaders::Verdict>,
}

impl Report {
    /// Whether no finding is an error.
    pub fn is_valid(&self) -> bool {
        !self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    /// Findings of at least this severity.
    pub fn findings_at_least(&self, severity: Severity) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| f.severity >= severity)
    }

    /// Whether the input was read to the end of the archive (no cut, no corruption, no limit
    /// that stopped reading).
    pub fn is_complete(&self) -> bool {
        self.archive.outer.stop.is_none()
            && matches!(self.archive.outer.head, Some(scan::Head::Tar) | None)
    }
}

/// Where an archive is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Input {
    /// A regular file: read at positions, on all cores (when uncompressed).
    File(PathBuf),
    /// Standard input, a FIFO or a device: one streaming pass.
    Stream(PathBuf),
    /// Standard input (`-`).
    Stdin,
    /// An extracted archive directory.
    Dir(PathBuf),
}

impl Input {
    /// What `path` is: `-` is standard input; otherwise what the filesystem says.
    pub fn of(path: impl AsRef<Path>) -> Result<Input> {
        let path = path.as_ref();
        if path == Path::new("-") {
            return Ok(Input::Stdin);
        }
        let meta = std::fs::metadata(path).map_err(|source| Error::Open {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(if meta.is_dir() {
            Input::Dir(path.to_path_buf())
        } else if meta.is_file() {
            Input::File(path.to_path_buf())
        } else {
            Input::Stream(path.to_path_buf())
        })
    }

    /// Whether the input can be read a second time (a file or a directory, not a pipe).
    pub fn is_replayable(&self) -> bool {
        matches!(self, Input::File(_) | Input::Dir(_))
    }

    /// The path given, for messages (`-` for standard input).
    pub fn path(&self) -> &Path {
        match self {
            Input::File(p) | Input::Stream(p) | Input::Dir(p) => p,
            Input::Stdin => Path::new("-"),
        }
    }
}

/// A callback told of the input bytes read so far.
pub type Progress = Arc<dyn Fn(u64) + Send + Sync>;

/// Reads and validates saved-image archives.
///
/// ```no_run
/// let report = imgtar::Reader::new().strict(true).open("image.tar")?;
/// for image in &report.archive.images {
///     println!("{:?} {:?}", image.id, image.repo_tags);
/// }
/// # Ok::<(), imgtar::Error>(())
/// ```
#[derive(Clone)]
pub struct Reader {
    limits: Limits,
    strict: bool,
    verify: bool,
    record: bool,
    hash_legacy: bool,
    threads: usize,
    progress: Option<Progress>,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("limits", &self.limits)
            .field("strict", &self.strict)
            .field("verify", &self.verify)
            .field("record", &self.record)
            .field("hash_legacy", &self.hash_legacy)
            .field("threads", &self.threads)
            .finish()
    }
}

impl Default for Reader {
    fn default() -> Self {
        Reader {
            limits: Limits::default(),
            strict: false,
            verify: true,
            record: false,
            hash_legacy: false,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            progress: None,
        }
    }
}

impl Reader {
    /// A reader with default [`Limits`], verifying everything, using every core for seekable
    /// files.
    pub fn new() -> Self {
        Reader::default()
    }

    /// Verifies everything (the default: every member hashed, every layer decompressed and
    /// scanned) or, with `false`, reads only headers and metadata documents: nothing is
    /// hashed, a compressed layer is decompressed (its file sizes are known no other way) and
    /// on a seekable file an uncompressed one is not even read, so the cost grows with the
    /// number of members rather than with bytes. Without verification the report's
    /// [`Report::verified`] is `false` and digest and layer rules are not checked.
    pub fn verify(mut self, verify: bool) -> Self {
        self.verify = verify;
        self
    }

    /// Reads only headers and metadata documents (`verify(false)`).
    pub fn metadata_only(self) -> Self {
        self.verify(false)
    }

    /// With [`Reader::metadata_only`], still hashes the layers of a pre-1.10 (legacy) archive
    /// read from a file or a directory: its image IDs are digests of configs made from the
    /// layers' DiffIDs (Docker's legacy loader, moby v20.10.24
    /// `image/tarexport/load.go` `legacyLoadImage`), so naming or selecting its images needs
    /// them. Such an archive is read twice, metadata first, then verified; every other archive,
    /// and any stream, is read once. Default: `false`.
    ///
    /// ```
    /// let reader = imgtar::Reader::new().metadata_only().hash_legacy_layers(true);
    /// let report = reader.open("testdata/real/ggcr-legacy-repositories-only.tar")?;
    /// assert!(report.verified);
    /// let report = reader.open("testdata/real/ggcr-whiteout-dir-gzip.tar")?;
    /// assert!(!report.verified);
    /// # Ok::<(), imgtar::Error>(())
    /// ```
    pub fn hash_legacy_layers(mut self, hash: bool) -> Self {
        self.hash_legacy = hash;
        self
    }

    /// Records every layer entry's metadata during the pass, which diffing and flattening
    /// layers need (see [`crate::layer::flatten_image`]).
    pub fn record_entries(mut self, record: bool) -> Self {
        self.record = record;
        self
    }

    /// How many threads read members' content (default: the number of cores): several members
    /// of a seekable file at once, and on a stream the layers while the walk reads on.
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = n.max(1);
        self
    }

    /// Sets the limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The limits in force.
    pub fn limits_in_force(&self) -> &Limits {
        &self.limits
    }

    /// Whether warnings count as errors ([`Reader::strict`]).
    pub fn is_strict(&self) -> bool {
        self.strict
    }

    /// Treats every warning as an error (by default warnings describe things no loader
    /// rejects, such as a missing legacy `VERSION`).
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// Calls `progress` with the number of input bytes read so far, from time to time.
    pub fn progress(mut self, progress: impl Fn(u64) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(progress));
        self
    }

    fn options<'h>(
        &'h self,
        hook: Option<&'h dyn EntryHook>,
        only_wanted: bool,
    ) -> ScanOptions<'h> {
        ScanOptions {
            verify: self.verify || hook.is_some(),
            record_entries: self.record,
            hook,
            only_wanted,
            progress: self.progress.as_deref().map(|p| p as &(dyn Fn(u64) + Sync)),
            threads: self.threads,
        }
    }

    /// Reads an archive from any reader, in one pass (a pipe is fine). The outer compression is
    /// recognised from its magic bytes. `Err` only when `input` itself fails; damaged data is a
    /// report.
    pub fn read<R: Read>(&self, mut input: R) -> Result<Report> {
        self.read_dyn(&mut input, None, false)
    }

    pub(crate) fn read_dyn(
        &self,
        input: &mut dyn Read,
        hook: Option<&dyn EntryHook>,
        only_wanted: bool,
    ) -> Result<Report> {
        let walk = scan::outer::walk_stream(input, &self.limits, self.options(hook, only_wanted))?;
        Ok(self.report(walk))
    }

    fn report(&self, walk: scan::Walk) -> Report {
        let verified = walk.verified;
        let archive = crate::model::build::build(walk, &self.limits);
        let findings = crate::rules::check(&archive, self.strict);
        let valid = !findings.iter().any(|f| f.severity == Severity::Error);
        let loaders = crate::rules::loaders::verdicts(&archive, &findings);
        Report {
            valid,
            verified,
            archive,
            findings,
            loaders,
        }
    }

    /// Reads a tarball file, `-` for standard input, or an extracted archive directory.
    ///
    /// An uncompressed file is indexed first and its members are then read on all cores; a
    /// compressed file and standard input are streamed, with reading overlapped with hashing
    /// on a thread of its own.
    pub fn open(&self, path: impl AsRef<Path>) -> Result<Report> {
        self.open_input(&Input::of(path)?, None, false)
    }

    /// Reads an [`Input`] (see [`Reader::open`]).
    pub fn read_input(&self, input: &Input) -> Result<Report> {
        self.open_input(input, None, false)
    }

    /// Reads an [`Input`], with a hook for layer entries' content; with `only_wanted`, only
    /// the members the hook wants are read.
    pub(crate) fn open_input(
        &self,
        input: &Input,
        hook: Option<&dyn EntryHook>,
        only_wanted: bool,
    ) -> Result<Report> {
        let report = self.open_once(input, hook, only_wanted)?;
        let again = self.hash_legacy
            && !self.verify
            && hook.is_none()
            && matches!(input, Input::File(_) | Input::Dir(_))
            && report.archive.layout == crate::Layout::Legacy;
        if again {
            return self
                .clone()
                .verify(true)
                .open_once(input, None, only_wanted);
        }
        Ok(report)
    }

    fn open_once(
        &self,
        input: &Input,
        hook: Option<&dyn EntryHook>,
        only_wanted: bool,
    ) -> Result<Report> {
        let open_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Open { path, source }
        };
        let read_err = |source| Error::Read {
            offset: 0,
            member: None,
            source,
        };
        match input {
            Input::Stdin => {
                let mut ahead = ReadAhead::new(io::stdin()).map_err(read_err)?;
                self.read_dyn(&mut ahead, hook, only_wanted)
            }
            Input::Dir(d) => {
                let walk = scan::dir::walk_dir(d, &self.limits, self.options(hook, only_wanted))?;
                Ok(self.report(walk))
            }
            Input::Stream(p) => {
                let file = File::open(p).map_err(open_err(p))?;
                let mut ahead = ReadAhead::new(file).map_err(read_err)?;
                self.read_dyn(&mut ahead, hook, only_wanted)
            }
            Input::File(p) => {
                let file = File::open(p).map_err(open_err(p))?;
                #[cfg(unix)]
                if let Some(walk) = scan::indexed::walk_file(
                    &file,
                    &self.limits,
                    self.options(hook, only_wanted),
                    self.threads,
                )? {
                    return Ok(self.report(walk));
                }
                let mut ahead = ReadAhead::new(file).map_err(read_err)?;
                self.read_dyn(&mut ahead, hook, only_wanted)
            }
        }
    }
}
