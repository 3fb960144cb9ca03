//! The model stage: what images an archive holds and where their parts are, built once from
//! the scan's observations. Building the model judges nothing; it records what each reference
//! leads to and what each document parsed to, and the rules judge that.
//!
//! - [`resolve`]: members by path, and links followed inside the archive only;
//! - [`oci`]: the OCI index tree, walked once;
//! - [`build`]: the images of each layout;
//! - [`select`]: the one way an image is chosen by name or ID;
//! - [`identity`]: image IDs and names as the daemon shows them.

pub(crate) mod build;
pub(crate) mod identity;
pub(crate) mod legacy;
pub(crate) mod oci;
pub(crate) mod resolve;
pub(crate) mod select;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::compress::Compression;
use crate::digest::Digest;
use crate::doc::config::Config;
use crate::doc::manifest::Manifest;
use crate::doc::oci::{Index, OciLayout, Platform};
use crate::doc::repositories::Repositories;
use crate::doc::DocError;
use crate::path::EntryPath;
use crate::scan::layer::LayerScan;
use crate::scan::{Member, OuterObs};
pub(crate) use resolve::{Loc, Ref};

/// The layout family of an archive.
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

impl Producer {
    /// Name as shown in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Producer::DockerPre110 => "docker save (before 1.10)",
            Producer::Docker => "docker save (Docker 1.10–24)",
            Producer::Docker25 => "docker save (Docker 25+)",
            Producer::Containerd => "containerd export",
            Producer::ContainersImage => "containers/image (skopeo, podman)",
            Producer::GoContainerRegistry => "go-containerregistry (crane, kaniko)",
            Producer::OciLayout => "an OCI layout writer",
            Producer::Unknown => "an unknown writer",
        }
    }
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
        /// Its `RepoTags` was `null` (Docker, containerd, ggcr untagged) rather than a list.
        repo_tags_null: bool,
    },
    /// A manifest reached from `index.json`.
    OciIndex {
        /// Digest of the manifest blob.
        manifest: Digest,
    },
    /// A legacy layer directory chain, named by its top directory.
    Legacy {
        /// Top layer directory (v1 ID).
        top: String,
    },
}

/// One layer of an image.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Layer {
    /// The path the image refers to (manifest.json `Layers[i]`, `blobs/<alg>/<hex>`, or
    /// `<id>/layer.tar`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The member that holds the bytes, after following links.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member: Option<EntryPath>,
    /// The DiffID the config declares for this layer (when it is a valid digest).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff_id: Option<Digest>,
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
    /// Index of the member.
    #[serde(skip)]
    pub(crate) index: Option<usize>,
    /// The reference as resolved (manifest.json `Layers` items).
    #[serde(skip)]
    pub(crate) reference: Option<Ref>,
}

/// How a `manifest.json` image matches `index.json` (Docker 25+, containerd).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IndexMatch {
    /// A manifest with the same config and layers.
    Matched,
    /// No manifest with this config.
    NoManifest,
    /// Manifests with this config, but other layers.
    OtherLayers,
}

/// One image.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Image {
    /// Image ID: `sha256` of the config bytes (`None` when the config is absent). A legacy
    /// image's config is the one Docker's legacy loader makes from its layer directory's
    /// `json` and the chain's DiffIDs; `None` when those are not known (read without
    /// verification, or a chain the loader cannot load).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Digest>,
    /// Path of the config (or, for legacy images, of the top `json`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_path: Option<String>,
    /// Digest of the OCI/Docker manifest describing the image, when the archive has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest_digest: Option<Digest>,
    /// Media type of that manifest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest_media_type: Option<String>,
    /// Tags as the writer spelled them (`RepoTags`, `repositories`, or the OCI name
    /// annotations), without repeats.
    pub repo_tags: Vec<String>,
    /// `org.opencontainers.image.ref.name` of the `index.json` descriptors naming it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ref_names: Vec<String>,
    /// `Parent` from manifest.json; for a legacy image, the ID of its parent directory's image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Platform from the config, else from the index descriptor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// The decoded config (shared by the images that name the same config member, so that
    /// many `manifest.json` entries naming one large config cost one copy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<std::sync::Arc<Config>>,
    /// Layers, bottom first.
    pub layers: Vec<Layer>,
    /// Where this image was described.
    pub source: ImageSource,
    /// The config reference as resolved (manifest.json `Config`).
    #[serde(skip)]
    pub(crate) config_ref: Option<Ref>,
    /// The member holding the config.
    #[serde(skip)]
    pub(crate) config_member: Option<usize>,
    /// The OCI manifest node describing the image, when there is one.
    #[serde(skip)]
    pub(crate) oci_node: Option<usize>,
    /// The `index.json` descriptors (indexes into [`OciTree::tops`](oci::OciTree)) it is
    /// reached from.
    #[serde(skip)]
    pub(crate) oci_tops: Vec<usize>,
    /// How a `manifest.json` image matches `index.json`.
    #[serde(skip)]
    pub(crate) index_match: Option<IndexMatch>,
}

impl Image {
    pub(crate) fn new(source: ImageSource) -> Image {
        Image {
            id: None,
            config_path: None,
            manifest_digest: None,
            manifest_media_type: None,
            repo_tags: Vec::new(),
            ref_names: Vec::new(),
            parent: None,
            platform: None,
            config: None,
            layers: Vec::new(),
            source,
            config_ref: None,
            config_member: None,
            oci_node: None,
            oci_tops: Vec::new(),
            index_match: None,
        }
    }
}

/// A top-level document: the member it is in and what it parsed to.
#[derive(Debug, Clone)]
pub(crate) struct Doc<T> {
    /// The member named by the document's path (before links).
    pub named: usize,
    /// The regular file it leads to.
    pub reference: Ref,
    /// What it parsed to (`None`: it does not lead to a regular file).
    pub parsed: Option<Result<T, DocError>>,
}

/// The documents of an archive, as parsed once.
#[derive(Debug, Clone, Default)]
pub(crate) struct Docs {
    pub manifest: Option<Doc<Manifest>>,
    pub repositories: Option<Doc<Repositories>>,
    pub oci_layout: Option<Doc<OciLayout>>,
    pub index: Option<Doc<Index>>,
    /// Image configs by member.
    pub configs: BTreeMap<usize, Result<std::sync::Arc<Config>, DocError>>,
}

/// A whole archive.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Archive {
    /// Compression of the outer stream.
    pub compression: Compression,
    /// Layout family.
    pub layout: Layout,
    /// Most likely writer.
    pub producer: Producer,
    /// Bytes of the (decompressed) outer tar up to its end-of-archive marker (to where reading
    /// stopped, when it stopped early).
    pub tar_size: u64,
    /// The images the archive holds, each once: the entries of `manifest.json`; else the
    /// image manifests reachable from `index.json` (absent platforms and attestations left
    /// out); else one image per legacy layer directory (the chains named by `repositories`
    /// first, then the directories below them), as Docker's legacy loader stores them.
    pub images: Vec<Image>,
    /// The `repositories` file, when present and valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repositories: Option<Repositories>,
    /// Every member of the outer archive, in order.
    #[serde(skip)]
    pub members: Vec<Member>,
    #[serde(skip)]
    pub(crate) docs: Docs,
    #[serde(skip)]
    pub(crate) oci: Option<oci::OciTree>,
    #[serde(skip)]
    pub(crate) outer: OuterObs,
    /// Every member was hashed and every layer decompressed.
    #[serde(skip)]
    pub(crate) verified: bool,
    /// Read from a directory (no tar offsets).
    #[serde(skip)]
    pub(crate) directory: bool,
    /// The members by path, for following links.
    #[serde(skip)]
    pub(crate) index: resolve::Index,
}

impl Archive {
    /// Whether every part an image needs is in the archive, complete: its config and each
    /// layer blob (a foreign layer may be absent), every layer tar reading to its end. `Err`
    /// says what is missing or damaged. Digests are judged by the findings, not here.
    pub fn image_intact(&self, image: &Image) -> Result<(), String> {
        use crate::scan::member::Presence;
        let name = |m: &crate::Member| m.path.to_string_lossy().into_owned();
        if !matches!(image.source, ImageSource::Legacy { .. }) {
            match image.config_member.and_then(|i| self.members.get(i)) {
                None => return Err("its config is not in the archive".into()),
                Some(m) if m.presence != Presence::Complete => {
                    return Err(format!("its config {} is cut short", name(m)))
                }
                Some(_) => {}
            }
        }
        for (k, l) in image.layers.iter().enumerate() {
            let Some(m) = l.index.and_then(|i| self.members.get(i)) else {
                if l.foreign {
                    continue;
                }
                return Err(format!("layer {k} is not in the archive"));
            };
            if m.presence != Presence::Complete {
                return Err(format!("layer {k} ({}) is cut short", name(m)));
            }
            if let Some(s) = &m.layer {
                if !s.status.is_complete() {
                    return Err(format!("layer {k} ({}) does not read to its end", name(m)));
                }
            }
        }
        Ok(())
    }

    /// The member with this cleaned path (the last copy, as `docker load` keeps), no link
    /// followed.
    pub fn member(&self, path: &EntryPath) -> Option<&Member> {
        self.members.iter().rev().find(|m| m.path == *path)
    }

    /// The scan of a layer's blob.
    pub fn layer_scan(&self, layer: &Layer) -> Option<&LayerScan> {
        self.members.get(layer.index?)?.layer.as_ref()
    }

    /// The member holding a layer's blob.
    pub fn layer_member(&self, layer: &Layer) -> Option<&Member> {
        self.members.get(layer.index?)
    }
}
