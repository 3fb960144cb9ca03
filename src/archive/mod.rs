//! Reading an archive: the entry points and the one-pass walk.

pub(crate) mod content;
pub(crate) mod member;
pub(crate) mod resolve;
pub(crate) mod walk;

mod dir;
#[cfg(unix)]
mod indexed;
mod readahead;

use std::fs::File;
use std::io::{self, Read};

use crate::layer::ScanOptions;
use readahead::ReadAhead;
use std::path::Path;

use crate::model::Archive;
use crate::validate::{self, Finding, Policy, Severity};
use crate::{Error, Limits, Result};

/// What reading an archive gives: the model and the findings.
#[derive(Debug, Clone)]
pub struct Report {
    /// The archive model.
    pub archive: Archive,
    /// Every finding, sorted by offset.
    pub findings: Vec<Finding>,
    /// Every member was hashed and every layer decompressed and scanned. `false` after a
    /// [`Reader::metadata_only`] read, whose findings say nothing about digests and layers.
    pub verified: bool,
}

impl Report {
    /// Whether no finding is an error (after the policy was applied).
    pub fn is_valid(&self) -> bool {
        !self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    /// Findings of at least this severity.
    pub fn findings_at_least(&self, severity: Severity) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| f.severity >= severity)
    }
}

/// Reads and validates saved-image archives.
///
/// ```no_run
/// let report = imgtar::Reader::new().strict(true).open("image.tar")?;
/// for image in &report.archive.images {
///     println!("{:?} {:?}", image.id, image.repo_tags);
/// }
/// # Ok::<(), imgtar::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Reader {
    limits: Limits,
    policy: Policy,
    verify: bool,
    threads: usize,
    scan: ScanOptions,
}

impl Default for Reader {
    fn default() -> Self {
        Reader {
            limits: Limits::default(),
            policy: Policy::default(),
            verify: true,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            scan: ScanOptions::default(),
        }
    }
}

impl Reader {
    /// A reader with default [`Limits`] and [`Policy`], verifying everything, using every
    /// core for seekable files.
    pub fn new() -> Self {
        Reader::default()
    }

    /// Reads only headers and metadata documents: layer blobs are neither hashed nor
    /// decompressed, and on a seekable file they are not even read, so the cost grows with the
    /// number of members rather than with bytes. For `ls`/`inspect`-style queries; the report's
    /// [`Report::verified`] is `false` and digest/layer rules are not checked.
    pub fn metadata_only(mut self, yes: bool) -> Self {
        self.verify = !yes;
        self
    }

    /// Records every layer entry's metadata during the pass
    /// ([`LayerScan::records`](crate::layer::LayerScan::records)), which diffing and
    /// flattening layers need (see [`crate::layer::flatten_image`]).
    pub fn record_entries(mut self, record: bool) -> Self {
        self.scan.record_entries = record;
        self
    }

    /// How many threads read members of a seekable file (default: the number of cores).
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = n.max(1);
        self
    }

    /// Sets the limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the policy.
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Treats warnings as errors (see [`Policy::strict`]).
    pub fn strict(mut self, strict: bool) -> Self {
        self.policy.strict = strict;
        self
    }

    /// Reads an archive from any reader, in one pass (a pipe is fine). The outer compression is
    /// recognised from its magic bytes.
    pub fn read<R: Read>(&self, mut input: R) -> Result<Report> {
        self.read_dyn(&mut input)
    }

    fn read_dyn(&self, input: &mut dyn Read) -> Result<Report> {
        let walk = walk::walk_stream(input, &self.limits, self.verify, self.scan)?;
        Ok(self.report(walk))
    }

    fn report(&self, walk: walk::Walk) -> Report {
        let verified = walk.verified;
        let (archive, findings) = validate::run(walk, &self.limits, self.policy);
        Report {
            archive,
            findings,
            verified,
        }
    }

    /// Reads a tarball file, `-` for standard input, or an extracted archive directory.
    ///
    /// An uncompressed file is indexed first and its members are then read on all cores; a
    /// compressed file and standard input are streamed, with reading overlapped with hashing
    /// on a thread of its own.
    pub fn open(&self, path: impl AsRef<Path>) -> Result<Report> {
        let path = path.as_ref();
        if path == Path::new("-") {
            let ahead = ReadAhead::new(io::stdin()).map_err(walk::io_err(0, None))?;
            return self.read(ahead);
        }
        let open_err = |source| Error::Open {
            path: path.to_path_buf(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(open_err)?;
        if meta.is_dir() {
            let walk = dir::walk_dir(path, &self.limits, self.verify, self.scan)?;
            return Ok(self.report(walk));
        }
        let file = File::open(path).map_err(open_err)?;
        // Only a regular file can be read at positions; a FIFO (`<(docker save …)`) or a
        // device is streamed.
        #[cfg(unix)]
        if meta.is_file() {
            if let Some(walk) =
                indexed::walk_file(&file, &self.limits, self.verify, self.scan, self.threads)?
            {
                return Ok(self.report(walk));
            }
        }
        let ahead = ReadAhead::new(file).map_err(walk::io_err(0, None))?;
        self.read(ahead)
    }
}
