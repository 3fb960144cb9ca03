//! Reading an archive: the entry points and the one-pass walk.

pub(crate) mod member;
pub(crate) mod resolve;
pub(crate) mod walk;

mod dir;

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use crate::layer::ScanOptions;
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
#[derive(Debug, Clone, Default)]
pub struct Reader {
    limits: Limits,
    policy: Policy,
    scan: ScanOptions,
}

impl Reader {
    /// A reader with default [`Limits`] and [`Policy`].
    pub fn new() -> Self {
        Reader::default()
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

    /// Records every layer entry's metadata during the pass
    /// ([`LayerScan::records`](crate::layer::LayerScan::records)), which diffing and
    /// flattening layers need (see [`crate::layer::flatten_image`]).
    pub fn record_entries(mut self, record: bool) -> Self {
        self.scan.record_entries = record;
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
        let walk = walk::walk_stream(input, &self.limits, self.scan)?;
        let (archive, findings) = validate::run(walk, &self.limits, self.policy);
        Ok(Report { archive, findings })
    }

    /// Reads a tarball file, `-` for standard input, or an extracted archive directory.
    pub fn open(&self, path: impl AsRef<Path>) -> Result<Report> {
        let path = path.as_ref();
        if path == Path::new("-") {
            let stdin = io::stdin();
            let lock = stdin.lock();
            return self.read(BufReader::with_capacity(1 << 20, lock));
        }
        let open_err = |source| Error::Open {
            path: path.to_path_buf(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(open_err)?;
        if meta.is_dir() {
            let walk = dir::walk_dir(path, &self.limits, self.scan)?;
            let (archive, findings) = validate::run(walk, &self.limits, self.policy);
            return Ok(Report { archive, findings });
        }
        let file = File::open(path).map_err(open_err)?;
        self.read(BufReader::with_capacity(1 << 20, file))
    }
}
