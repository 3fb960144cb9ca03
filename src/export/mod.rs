//! Writing a new archive that holds some images of an input archive, with the semantics of the
//! Engine API's `GET /images/{name}/get` and `GET /images/get?names=` (`docker save`):
//!
//! - `name:tag` selects that image, with that tag; a bare `name` selects every image tagged in
//!   that repository, with those tags; `name@digest` selects the image whose manifest (or
//!   `index.json` entry) has that digest, without a tag;
//! - an image ID (full, `sha256:`-prefixed, or a unique prefix) selects the image without a
//!   tag: an archive whose images are all selected that way has no `repositories` file (nor
//!   does the export of a containerd export or an OCI layout, whose writers never write one),
//!   except a pre-1.10 archive, whose loader needs one: it gets `{}`;
//! - only the images named are written, as `docker save` does (the API text says "that image
//!   and its parents", the daemon writes no parent): a `Parent` link is kept when the parent
//!   is written too (named itself), dropped otherwise;
//! - several names give one archive; an image reached through several names is written once
//!   with all its tags;
//! - a platform selects one platform of a multi-platform image (an `index.json` entry that is
//!   an image index); without it the whole multi-platform image is written.
//!
//! The output keeps the input's layout and writer conventions: the same member names, link
//! members kept where their targets are written too (a link whose target is left out is
//! written as a regular file), `manifest.json`, `repositories` and `index.json` rewritten to
//! describe the selection only, and nothing the selected images do not reference (Docker 25's
//! orphan v1 JSON blobs are dropped). It is always a plain (uncompressed) tar, as the API
//! writes it. It is written to a temporary file beside the output, checked with the validator,
//! and renamed into place; the input is never overwritten.

mod plan;
mod write;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

pub use plan::{plan, Plan, Selected};
pub use write::{write, Written};

use crate::doc::oci::Platform;

/// A platform as `--platform` takes it: `os/arch[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PlatformSpec {
    /// Operating system.
    pub os: String,
    /// CPU architecture.
    pub architecture: String,
    /// CPU variant, when one is asked for.
    pub variant: Option<String>,
}

impl FromStr for PlatformSpec {
    type Err = ExportError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            [os, arch] if !os.is_empty() && !arch.is_empty() => Ok(PlatformSpec {
                os: os.to_lowercase(),
                architecture: arch.to_lowercase(),
                variant: None,
            }),
            [os, arch, variant] if !os.is_empty() && !arch.is_empty() && !variant.is_empty() => {
                Ok(PlatformSpec {
                    os: os.to_lowercase(),
                    architecture: arch.to_lowercase(),
                    variant: Some(variant.to_lowercase()),
                })
            }
            _ => Err(ExportError::Platform(s.to_string())),
        }
    }
}

impl fmt::Display for PlatformSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl PlatformSpec {
    /// Whether an image's platform is this one (a variant is compared only when asked for).
    pub fn matches(&self, p: &Platform) -> bool {
        p.os.eq_ignore_ascii_case(&self.os)
            && p.architecture.eq_ignore_ascii_case(&self.architecture)
            && self.variant.as_ref().is_none_or(|v| {
                p.variant
                    .as_deref()
                    .is_some_and(|pv| pv.eq_ignore_ascii_case(v))
            })
    }
}

/// Options of an export.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportOptions {
    /// Keep only this platform of multi-platform images.
    pub platform: Option<PlatformSpec>,
}

impl ExportOptions {
    /// Sets [`ExportOptions::platform`].
    pub fn platform(mut self, p: Option<PlatformSpec>) -> Self {
        self.platform = p;
        self
    }
}

/// Why an export could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// A name is not a valid reference or ID.
    #[error("invalid reference format: {0:?}")]
    InvalidName(String),
    /// Nothing in the archive has this name, or an ID prefix matches several images.
    #[error(transparent)]
    Select(#[from] crate::SelectError),
    /// The name matches images, none of the requested platform.
    #[error("no suitable export target found for platform {platform} ({name})")]
    NoPlatform {
        /// The name.
        name: String,
        /// The platform asked for.
        platform: PlatformSpec,
    },
    /// A platform argument that is not `os/arch[/variant]`.
    #[error("invalid platform {0:?}: expected os/arch[/variant]")]
    Platform(String),
    /// No name was given.
    #[error("no image named: give at least one name or ID")]
    NothingSelected,
    /// A selected image lacks a part it needs.
    #[error("{0}")]
    Incomplete(String),
    /// No longer returned: a pre-1.10 image selected by ID is written with a `repositories`
    /// file that names nothing (`{}`), which Docker's legacy loader loads untagged.
    #[error("{0:?} selects a pre-1.10 image by ID: such an archive needs a `repositories` file to load (docker load 1.13+), and an export by ID has none; name the image by tag")]
    LegacyById(String),
    /// The input cannot be read a second time.
    #[error("export reads its input twice: give a file or a directory, not standard input")]
    Stdin,
    /// The output would replace the input.
    #[error("refusing to overwrite the input {}", .0.display())]
    SameFile(PathBuf),
    /// The output exists and is not a regular file (a device, a FIFO, a directory).
    #[error("{} exists and is not a regular file; refusing to replace it", .0.display())]
    NotRegular(PathBuf),
    /// The input changed between the two reads.
    #[error("the input changed while it was read: {0}")]
    InputChanged(String),
    /// The written archive does not validate (a bug, or an input problem the selection
    /// keeps): its error findings.
    #[error("the exported archive does not validate:{}", findings_text(.0))]
    Invalid(Vec<crate::Finding>),
    /// Reading the input failed.
    #[error(transparent)]
    Read(#[from] crate::Error),
    /// Writing failed.
    #[error("{context}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

fn findings_text(findings: &[crate::Finding]) -> String {
    findings.iter().map(|f| format!("\n  {f}")).collect()
}

pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ExportError {
    let context = context.into();
    move |source| ExportError::Io { context, source }
}

/// Reads `input`, selects `names` and writes them to `output` (see the module docs). Returns
/// what was written.
pub fn export(
    input: &Path,
    names: &[String],
    output: &Path,
    opts: &ExportOptions,
) -> Result<Written, ExportError> {
    if input == Path::new("-") {
        return Err(ExportError::Stdin);
    }
    // One read of the input's layers: the first read takes the headers and documents only
    // (layers are skipped by seeking), the copy hashes what it copies, and the written
    // archive is validated in full before it replaces anything, so a layer whose bytes do not
    // match its DiffID or descriptor is refused there, as the first read would have refused it.
    // A pre-1.10 image's ID is the digest of a config made from its layers' DiffIDs (Docker's
    // legacy loader), so a legacy archive is read hashed (`Reader::hash_legacy_layers`): IDs
    // are what `export` selects by.
    let report = crate::Reader::new()
        .metadata_only()
        .hash_legacy_layers(true)
        .open(input)?;
    let plan = plan(&report.archive, names, opts)?;
    write(input, &report.archive, &plan, output)
}
