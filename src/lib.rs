//! # imgtar
//!
//! Reads, checks and explains saved container image tarballs offline: what `docker save`
//! writes (every era, from pre-1.10 layer directories to the Docker 25+ OCI layout), what
//! skopeo and podman write as `docker-archive` and `oci-archive`, and what containerd and
//! go-containerregistry export. The tarball is the whole truth: nothing talks to a daemon or a
//! registry.
//!
//! One pass over any [`Read`](std::io::Read) (a pipe from `docker save` included) hashes every
//! member while it streams by, decompresses and walks every layer tar, keeps only small JSON
//! documents in memory, and checks the cross references at the end. The result is a
//! [`Report`]: an [`Archive`] model (images, layers, digests) plus [`Finding`]s, each with a
//! stable [`Code`], a [`Severity`], the member path and the byte offset of its header.
//! Damaged input (a cut download, a corrupt byte) is a report too; only input the operating
//! system cannot give is an [`Error`].
//!
//! ```
//! let report = imgtar::Reader::new().open("testdata/real/podman-docker-two-names.tar.xz")?;
//! assert!(report.is_valid());
//! let image = &report.archive.images[0];
//! assert_eq!(image.repo_tags, ["pretty-empty:latest", "example.com/empty:latest"]);
//! for finding in &report.findings {
//!     println!("{finding}");
//! }
//! # Ok::<(), imgtar::Error>(())
//! ```
//!
//! ## The crate in stages
//!
//! Each stage uses only the stages below it:
//!
//! | stage | module | what it owns |
//! |---|---|---|
//! | answers | [`engine`], [`export`], [`layer`] | Engine API answers; `GET /images/get` export; change sets, the flattened filesystem and the files' content |
//! | read | `read` | [`Reader`], [`Report`], the kinds of [`Input`] |
//! | rules | `rules` | one module per rule family, pure functions from the model to [`Finding`]s |
//! | model | `model` | [`Archive`], [`Image`], [`Layer`]: documents parsed and references resolved once, the OCI index walked once, the one image selector |
//! | scan | `scan` | the one tar reader, the one entry classifier, the bounded decoders, the walks over a stream, a seekable file and a directory |
//! | documents | `doc` | the typed JSON documents and their parse errors |
//! | leaves | `finding`, `error`, `limits`, `digest`, `compress`, `path`, `whiteout`, [`mod@reference`] | codes and findings, errors, limits, digests, decoders, the one path model, whiteout names, docker references |
//!
//! The rules are those of `docker load`, containers/image, go-containerregistry, containerd and
//! the OCI image spec; every [`Code`] documents the rule it implements.

#![forbid(unsafe_code)]

mod atomic;
mod compress;
mod digest;
mod doc;
pub mod engine;
mod error;
pub mod export;
mod finding;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod layer;
mod limits;
mod model;
mod path;
mod read;
pub mod reference;
mod rules;
mod scan;
mod whiteout;

pub use compress::Compression;
pub use digest::{Algorithm, Digest, DigestError, Hasher, Sha256Backend};
pub use doc::config::{Config, History};
pub use doc::oci::Platform;
pub use doc::repositories::Repositories;
pub use error::{Error, Result};
pub use finding::{Code, Finding, Severity};
pub use limits::Limits;
pub use model::select::SelectError;
pub use model::{Archive, Image, ImageSource, Layer, Layout, Producer};
pub use read::{Input, Progress, Reader, Report};
pub use rules::loaders::{Loader, Outcome, Verdict};
pub use scan::member::{Member, MemberKind, Presence};

/// Reads and validates an archive from a file path, `-` (standard input) or a directory, with
/// default limits.
pub fn open(path: impl AsRef<std::path::Path>) -> Result<Report> {
    Reader::new().open(path)
}

/// Reads and validates an archive from any reader, with default limits.
pub fn read<R: std::io::Read>(input: R) -> Result<Report> {
    Reader::new().read(input)
}
