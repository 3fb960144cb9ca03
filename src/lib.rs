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
//! Only unreadable input is an [`Error`].
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
//! The rules are those of `docker load`, containers/image, go-containerregistry, containerd and
//! the OCI image spec; every [`Code`] documents the rule it implements.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

pub mod archive;
pub mod compress;
pub mod digest;
pub mod doc;
pub mod engine;
mod error;
pub mod export;
#[doc(hidden)]
pub mod fuzzing;
pub mod layer;
mod limits;
pub mod model;
pub mod path;
pub mod reference;
mod select;
pub mod validate;
pub mod whiteout;

pub use archive::member::{Member, MemberKind};
pub use archive::{Reader, Report};
pub use compress::Compression;
pub use digest::Digest;
pub use error::{Error, Result};
pub use limits::Limits;
pub use model::{Archive, Image, ImageSource, Layer, Layout, Producer};
pub use select::{normalize_tag, SelectError};
pub use validate::{Code, Finding, Policy, Severity};

/// Reads and validates an archive from a file path, `-` (standard input) or a directory, with
/// default limits and policy.
pub fn open(path: impl AsRef<std::path::Path>) -> Result<Report> {
    Reader::new().open(path)
}

/// Reads and validates an archive from any reader, with default limits and policy.
pub fn read<R: std::io::Read>(input: R) -> Result<Report> {
    Reader::new().read(input)
}
