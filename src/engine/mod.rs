//! Engine API answers offline: what `docker image inspect`, `docker image ls` and
//! `docker image history` would report for the images of an archive once loaded, as serde
//! types that carry the Engine API's own field names (moby `api/swagger.yaml`), for the API
//! version and image store of [`InspectOptions`], [`ListOptions`] and [`HistoryOptions`]
//! (1.41 to 1.55, default 1.55; classic or containerd store, default classic: see
//! [`version`]).
//!
//! ```
//! let report = imgtar::Reader::new().open("testdata/real/podman-docker-two-names.tar.xz")?;
//! let archive = &report.archive;
//! let image = archive.find_image(Some("pretty-empty"))?;
//! let inspect = imgtar::engine::inspect(archive, image, &Default::default());
//! assert_eq!(inspect.repo_tags, ["pretty-empty:latest", "example.com/empty:latest"]);
//! let list = imgtar::engine::list(archive, &imgtar::engine::ListOptions::default())?;
//! assert_eq!(list.len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What a tarball can answer
//!
//! By default the answers are those of the graphdriver ("classic") image store after
//! `docker load` (moby `daemon/images/image_list.go` and `image_inspect.go`):
//!
//! - `Id` is `sha256:` + the sha256 of the config bytes. A pre-1.10 archive has no config:
//!   each of its layer directories is an image whose ID is the digest of the config Docker's
//!   legacy loader makes from the directory's `json` (see the model's legacy images), with its
//!   parent chain as `Parent`, the chain's DiffIDs as `RootFS` and one history entry per
//!   directory. Those IDs need the layers hashed: read without verification, a pre-1.10 image
//!   is shown with the v1 ID of its top directory. With [`Store::Containerd`] the ID of an
//!   image reached through `index.json` is the digest of that entry.
//! - `RepoTags` are the archive's names (manifest.json `RepoTags`, `repositories`, or the
//!   `index.json` name annotations) normalized as `distribution/reference` does and shown in
//!   their familiar form, sorted as moby's reference store sorts them; a name without a tag
//!   reads as `:latest`.
//! - `RepoDigests` are empty in the classic store (`docker load` records none); in the
//!   containerd store each name is paired with the digest of the image's target.
//! - `Size` (and a history item's `Size`) is the sum, over the image's layers, of the sizes of
//!   the regular files in each layer tar. That is overlay2's accounting (`directory.Size` of the
//!   applied layer) without symlink target lengths: hardlinks count once (they are size-0
//!   entries in a tar), directories and whiteouts count 0. A layer whose blob is absent counts 0.
//!   It is not the tar length, nor the compressed size.
//! - `Metadata.LastTagTime` is Go's zero time: an image `docker load` created was never tagged
//!   by `docker tag`. `GraphDriver` depends on the daemon and is left out.
//! - `Descriptor` (and `Manifests` on request) are given by the containerd store only, for
//!   images reached through an OCI `index.json`: the `index.json` entry, and one summary per
//!   image manifest under it (absent platforms included, `Available: false`). A manifest's
//!   unpacked size uses the same measure as `Size`.
//! - `Containers` is -1 ("not computed") before API 1.51 and 0 after: nothing runs offline.
//!   `SharedSize` is -1 unless asked for; then it is the sum of the sizes of the layers whose
//!   ChainID another image of the archive also uses.
//!
//! Where API versions differ, each version answers as the first Docker release serving it
//! (the table is in [`version`]); Docker 20.10's answers (API 1.41) are checked against the
//! real daemon by the test suite.

pub(crate) mod facts;
mod filters;
mod history;
mod inspect;
mod summary;
pub mod time;
pub mod version;

pub use filters::{FilterError, Filters};
pub use history::{history, history_with, HistoryItem, HistoryOptions};
pub use inspect::{
    inspect, AttestationProperties, DriverData, HealthConfig, ImageConfig, ImageInspect,
    ImageProperties, InspectOptions, ManifestKind, ManifestSize, ManifestSummary, Metadata,
    OciDescriptor, OciPlatform, RootFs, UnpackedSize,
};
pub use summary::{list, ImageSummary, ListOptions};
pub use version::{ApiVersion, Store, VersionError};

use crate::model::select::SelectError;
use crate::model::{Archive, Image};

/// The ID `store` gives `image` (see [`Store`]).
pub fn image_id(archive: &Archive, image: &Image, store: Store) -> String {
    facts::image_id_in(archive, &facts::IndexTree::read(archive), image, store)
}

/// Why an Engine API answer could not be given. The messages are the daemon's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// An image named in a request (or a filter) is not in the archive.
    #[error("No such image: {0}")]
    NoSuchImage(String),
    /// An image name matched several images.
    #[error(transparent)]
    Select(#[from] SelectError),
    /// A filter is unknown or has a bad value.
    #[error(transparent)]
    Filter(#[from] FilterError),
    /// The config's history has more non-empty entries than the image has layers.
    #[error("too many non-empty layers in History section")]
    TooManyNonEmptyLayers,
}

/// serde support for fields that may be absent, `null`, or a value (`Option<Option<T>>`).
pub(crate) mod nullable {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(crate) fn serialize<S: Serializer, T: Serialize>(
        v: &Option<Option<T>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(inner) => inner.serialize(s),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}
