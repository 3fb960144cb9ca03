//! The model of a saved-image archive: what images it holds and where their parts are.

use serde::Serialize;

use crate::archive::member::Member;
use crate::compress::Compression;
use crate::digest::Digest;
use crate::doc::config::ImageConfig;
use crate::doc::oci::Platform;
use crate::doc::repositories::Repositories;
use crate::layer::LayerScan;

/// The layout family of an archive (FORMAT.md §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Layout {
    /// Pre-1.10 `docker save`: `<id>/{VERSION,json,layer.tar}` and `repositories`, no manifest.json.
    Legacy,
    /// `manifest.json` without an OCI layout: Docker 1.10–24, containers/image, go-containerregistry.
    DockerArchive,
    /// `manifest.json` plus an OCI layout: Docker 25+, containerd export.
    DockerOci,
    /// An OCI image layout without `manifest.json` (`oci-archive`).
    Oci,
    /// Nothing recognisable as an image.
    Unknown,
}

impl Layout {
    /// Name as shown in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Layout::Legacy => "legacy",
            Layout::DockerArchive => "docker-archive",
            Layout::DockerOci => "docker-oci",
            Layout::Oci => "oci",
            Layout::Unknown => "unknown",
        }
    }
}

/// The writer an archive most likely came from, guessed from its shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Producer {
    /// `docker save` before 1.10.
    DockerPre110,
    /// `docker save`, Docker 1.10–24 (layer directories + manifest.json).
    Docker,
    /// `docker save`, Docker 25+ with the graphdriver store (OCI layout + manifest.json +
    /// repositories).
    Docker25,
    /// containerd's exporter (`ctr export`, Docker's containerd image store).
    Containerd,
    /// containers/image `docker-archive:` (skopeo, podman save).
    ContainersImage,
    /// go-containerregistry `tarball.Write` (crane, kaniko).
    GoContainerRegistry,
    /// An OCI image layout from any writer.
    OciLayout,
    /// Unknown.
    Unknown,
}

/// Where an image's description came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ImageSource {
    /// An entry of `manifest.json`.
    Manifest {
        /// Index in the array.
        entry: usize,
    },
    /// A manifest reached from `index.json`.
    OciIndex {
        /// Digest of the manifest blob.
        manifest: String,
    },
    /// A legacy layer directory chain, named by its top directory.
    Legacy {
        /// Top layer directory (v1 ID).
        top: String,
    },
}

/// One layer of an image.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Layer {
    /// The path the image refers to (manifest.json `Layers[i]`, `blobs/<alg>/<hex>`, or
    /// `<id>/layer.tar`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The member that holds the bytes, after following links.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    /// The DiffID the config declares for this layer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff_id: Option<String>,
    /// sha256 of the stored blob.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// sha256 of the decompressed blob, as computed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub computed_diff_id: Option<Digest>,
    /// Compression of the stored blob.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compression: Option<Compression>,
    /// Stored size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Decompressed size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uncompressed_size: Option<u64>,
    /// Media type from a descriptor (OCI manifest or `LayerSources`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// A non-distributable layer (foreign media type).
    pub foreign: bool,
}

/// One image.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Image {
    /// Image ID: `sha256` of the config bytes (`None` when the config is absent, and for
    /// legacy images, which have no config).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Digest>,
    /// Path of the config (or, for legacy images, of the top `json`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_path: Option<String>,
    /// Digest of the OCI/Docker manifest describing the image, when the archive has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest_digest: Option<String>,
    /// Media type of that manifest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest_media_type: Option<String>,
    /// Tags as the writer spelled them (`RepoTags`, `repositories`, or the OCI name annotations).
    pub repo_tags: Vec<String>,
    /// `RepoTags` was `null` (Docker, containerd, ggcr untagged) rather than `[]`.
    pub repo_tags_null: bool,
    /// `org.opencontainers.image.ref.name` of the index.json descriptor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ref_name: Option<String>,
    /// `Parent` from manifest.json.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Platform from the config, else from the index descriptor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// The decoded config.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<ImageConfig>,
    /// Layers, bottom first.
    pub layers: Vec<Layer>,
    /// Where this image was described.
    pub source: ImageSource,
    /// The manifest blob is absent (e.g. a platform not exported by containerd).
    pub missing: bool,
    /// A buildkit attestation manifest, not a runnable image.
    pub attestation: bool,
}

/// A whole archive.
#[derive(Debug, Clone, Serialize)]
pub struct Archive {
    /// Compression of the outer stream.
    pub compression: Compression,
    /// Layout family.
    pub layout: Layout,
    /// Most likely writer.
    pub producer: Producer,
    /// Bytes of the (decompressed) outer tar up to its end-of-archive marker (the whole
    /// stream's length when parsing stopped early).
    pub tar_size: u64,
    /// The images `docker load` would load (manifest.json entries; else the OCI index's image
    /// manifests; else the legacy chains named by `repositories`).
    pub images: Vec<Image>,
    /// Every manifest reachable from `index.json`, nested indexes flattened, absent ones
    /// included (`missing`).
    pub oci_images: Vec<Image>,
    /// The `repositories` file, when present and valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repositories: Option<Repositories>,
    /// Every member of the outer archive, in order.
    #[serde(skip)]
    pub members: Vec<Member>,
}

impl Archive {
    /// The member with this cleaned path (the last copy, as `docker load` keeps).
    pub fn member(&self, path: &str) -> Option<&Member> {
        self.members.iter().rev().find(|m| m.path == path)
    }

    /// The scan of a layer's blob.
    pub fn layer_scan(&self, layer: &Layer) -> Option<&LayerScan> {
        self.member(layer.member.as_deref()?)?.layer.as_ref()
    }
}
