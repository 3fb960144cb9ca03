//! `ImageInspect` (`GET /images/{name}/json`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::doc::oci::{self, Descriptor};
use crate::engine::facts::{self, get_ci, IndexTree, Leaf, Top};
use crate::engine::nullable;
use crate::engine::time::Timestamp;
use crate::engine::version::{ApiVersion, Store};
use crate::model::{Archive, Image};

/// Go's zero `time.Time` as encoding/json writes it.
pub(crate) const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// `ImageInspect`: low-level information about one image (fields in the order Docker 28
/// writes them). Fields some API versions leave out are `Option`s; `extra` keeps any field
/// this type does not know, so the JSON of other versions passes through unchanged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ImageInspect {
    /// `Id`: the content-addressable ID (`sha256:` + sha256 of the config).
    #[serde(rename = "Id")]
    pub id: String,
    /// `RepoTags`: familiar `name:tag` references.
    #[serde(rename = "RepoTags", default)]
    pub repo_tags: Vec<String>,
    /// `RepoDigests`: familiar `name@digest` references.
    #[serde(rename = "RepoDigests", default)]
    pub repo_digests: Vec<String>,
    /// `Parent`: the parent image ID, `""` if none (omitted when empty from API 1.52).
    #[serde(rename = "Parent", default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// `Comment`: the config's `comment`, else the last history entry's.
    #[serde(rename = "Comment", default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// `Created`: RFC 3339 with nanoseconds; omitted when the config has none (API < 1.44:
    /// Go's zero time).
    #[serde(rename = "Created", default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// `Container`: the config's `container` (API < 1.45 only).
    #[serde(rename = "Container", default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// `ContainerConfig`: the config's `container_config` (API < 1.45 only).
    #[serde(
        rename = "ContainerConfig",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub container_config: Option<ImageConfig>,
    /// `DockerVersion`: the config's `docker_version`.
    #[serde(
        rename = "DockerVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub docker_version: Option<String>,
    /// `Author`: the config's `author`.
    #[serde(rename = "Author", default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// `Architecture`.
    #[serde(rename = "Architecture", default)]
    pub architecture: String,
    /// `Variant` (omitted when empty).
    #[serde(rename = "Variant", default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// `Os`.
    #[serde(rename = "Os", default)]
    pub os: String,
    /// `OsVersion` (omitted when empty).
    #[serde(rename = "OsVersion", default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    /// `Size`: see the [module docs](crate::engine) for what it measures offline.
    #[serde(rename = "Size", default)]
    pub size: i64,
    /// `VirtualSize`: API < 1.44 only.
    #[serde(
        rename = "VirtualSize",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub virtual_size: Option<i64>,
    /// `GraphDriver`: daemon storage, not derivable offline.
    #[serde(
        rename = "GraphDriver",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub graph_driver: Option<DriverData>,
    /// `RootFS`.
    #[serde(rename = "RootFS", default)]
    pub root_fs: RootFs,
    /// `Metadata`.
    #[serde(rename = "Metadata", default)]
    pub metadata: Metadata,
    /// `Descriptor`: the OCI descriptor of the image target (multi-platform stores only).
    #[serde(
        rename = "Descriptor",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub descriptor: Option<OciDescriptor>,
    /// `Manifests`: the image manifests under the target (on request).
    #[serde(rename = "Manifests", default, skip_serializing_if = "Option::is_none")]
    pub manifests: Option<Vec<ManifestSummary>>,
    /// `Config`: the container config defaults of the image.
    #[serde(rename = "Config", default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ImageConfig>,
    /// Fields not modelled here, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `RootFS`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RootFs {
    /// `Type` (`layers`).
    #[serde(rename = "Type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `Layers`: DiffIDs, bottom first.
    #[serde(rename = "Layers", default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<Vec<String>>,
}

/// `Metadata`: daemon-local data.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Metadata {
    /// `LastTagTime`.
    #[serde(
        rename = "LastTagTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub last_tag_time: Option<String>,
}

/// `GraphDriver` (`DriverData`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DriverData {
    /// `Name`.
    #[serde(rename = "Name", default)]
    pub name: String,
    /// `Data`.
    #[serde(rename = "Data", default)]
    pub data: Option<BTreeMap<String, String>>,
}

/// `Config` of an inspected image: Docker's `DockerOCIImageConfig` plus the legacy
/// container-config fields API v1.49 still shows, in the alphabetical order Docker 28 writes
/// them. `Option<Option<_>>` fields tell an absent field (`None`) from `null` (`Some(None)`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)]
#[non_exhaustive]
pub struct ImageConfig {
    #[serde(
        rename = "ArgsEscaped",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub args_escaped: Option<bool>,
    #[serde(
        rename = "AttachStderr",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub attach_stderr: Option<bool>,
    #[serde(
        rename = "AttachStdin",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub attach_stdin: Option<bool>,
    #[serde(
        rename = "AttachStdout",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub attach_stdout: Option<bool>,
    #[serde(
        rename = "Cmd",
        default,
        with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub cmd: Option<Option<Vec<String>>>,
    #[serde(
        rename = "Domainname",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub domainname: Option<String>,
    #[serde(
        rename = "Entrypoint",
        default,
        with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub entrypoint: Option<Option<Vec<String>>>,
    #[serde(
        rename = "Env",
        default,
        with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub env: Option<Option<Vec<String>>>,
    #[serde(
        rename = "ExposedPorts",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub exposed_ports: Option<BTreeMap<String, Value>>,
    #[serde(
        rename = "Healthcheck",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub healthcheck: Option<HealthConfig>,
    #[serde(rename = "Hostname", default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(rename = "Image", default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(
        rename = "Labels",
        default,
        with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub labels: Option<Option<BTreeMap<String, String>>>,
    #[serde(
        rename = "MacAddress",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub mac_address: Option<String>,
    #[serde(
        rename = "NetworkDisabled",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub network_disabled: Option<bool>,
    #[serde(
        rename = "OnBuild",
        default,
        with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub on_build: Option<Option<Vec<String>>>,
    #[serde(rename = "OpenStdin", default, skip_serializing_if = "Option::is_none")]
    pub open_stdin: Option<bool>,
    #[serde(rename = "Shell", default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
    #[serde(rename = "StdinOnce", default, skip_serializing_if = "Option::is_none")]
    pub stdin_once: Option<bool>,
    #[serde(
        rename = "StopSignal",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub stop_signal: Option<String>,
    #[serde(
        rename = "StopTimeout",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub stop_timeout: Option<i64>,
    #[serde(rename = "Tty", default, skip_serializing_if = "Option::is_none")]
    pub tty: Option<bool>,
    #[serde(rename = "User", default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(
        rename = "Volumes",
        default,
        with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub volumes: Option<Option<BTreeMap<String, Value>>>,
    #[serde(
        rename = "WorkingDir",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub working_dir: Option<String>,
    /// Fields not modelled here, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `Healthcheck`; durations are integer nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
#[non_exhaustive]
pub struct HealthConfig {
    #[serde(rename = "Test", default, skip_serializing_if = "Option::is_none")]
    pub test: Option<Vec<String>>,
    #[serde(rename = "Interval", default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<i64>,
    #[serde(rename = "Timeout", default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    #[serde(
        rename = "StartPeriod",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub start_period: Option<i64>,
    #[serde(
        rename = "StartInterval",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub start_interval: Option<i64>,
    #[serde(rename = "Retries", default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
}

/// An OCI content descriptor as the Engine API writes it (`OCIDescriptor`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
#[non_exhaustive]
pub struct OciDescriptor {
    #[serde(default)]
    pub media_type: String,
    #[serde(default)]
    pub digest: String,
    #[serde(default)]
    pub size: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Embedded content, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<OciPlatform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

/// An OCI platform (`OCIPlatform`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
#[non_exhaustive]
pub struct OciPlatform {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    #[serde(
        rename = "os.features",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_features: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// `ImageManifestSummary`: one manifest under an image's target.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ManifestSummary {
    /// `ID`: the manifest digest.
    #[serde(rename = "ID")]
    pub id: String,
    /// `Descriptor`: the manifest's descriptor, as its index lists it.
    #[serde(rename = "Descriptor")]
    pub descriptor: OciDescriptor,
    /// `Available`: the manifest, its config and every layer are in the archive.
    #[serde(rename = "Available")]
    pub available: bool,
    /// `Size`.
    #[serde(rename = "Size")]
    pub size: ManifestSize,
    /// `Kind`.
    #[serde(rename = "Kind")]
    pub kind: ManifestKind,
    /// `ImageData` (kind `image`).
    #[serde(rename = "ImageData", default, skip_serializing_if = "Option::is_none")]
    pub image_data: Option<ImageProperties>,
    /// `AttestationData` (kind `attestation`).
    #[serde(
        rename = "AttestationData",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub attestation_data: Option<AttestationProperties>,
}

/// `ImageManifestSummary.Size`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ManifestSize {
    /// `Total`: `Content` plus the unpacked size.
    #[serde(rename = "Total")]
    pub total: i64,
    /// `Content`: the sizes of the manifest's blobs present in the archive.
    #[serde(rename = "Content")]
    pub content: i64,
}

/// `ImageManifestSummary.Kind`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ManifestKind {
    /// A runnable image.
    Image,
    /// A buildkit attestation manifest.
    Attestation,
    /// Anything else.
    #[default]
    Unknown,
}

/// `ImageData` of a manifest summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ImageProperties {
    /// `Platform`.
    #[serde(rename = "Platform")]
    pub platform: OciPlatform,
    /// `Containers`: IDs of containers using it (`null`: none offline).
    #[serde(rename = "Containers")]
    pub containers: Option<Vec<String>>,
    /// `Size`.
    #[serde(rename = "Size")]
    pub size: UnpackedSize,
}

/// `ImageData.Size`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UnpackedSize {
    /// `Unpacked`.
    #[serde(rename = "Unpacked")]
    pub unpacked: i64,
}

/// `AttestationData` of a manifest summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AttestationProperties {
    /// `For`: the image manifest the attestation is for.
    #[serde(rename = "For")]
    pub for_digest: String,
}

/// Options of [`inspect`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct InspectOptions {
    /// Include `Manifests` (the API's `manifests=1`; API 1.48+, containerd store).
    pub manifests: bool,
    /// The API version answered (see [`crate::engine::version`]).
    pub api_version: ApiVersion,
    /// The image store answered from.
    pub store: Store,
}

impl InspectOptions {
    /// Sets [`InspectOptions::manifests`].
    pub fn manifests(mut self, on: bool) -> Self {
        self.manifests = on;
        self
    }
}

/// The ImageInspect of one image of `archive` (see the [module docs](crate::engine)).
pub fn inspect(archive: &Archive, image: &Image, opts: &InspectOptions) -> ImageInspect {
    let tree = IndexTree::read(archive);
    inspect_with(archive, &tree, image, opts)
}

pub(crate) fn inspect_with(
    archive: &Archive,
    tree: &IndexTree,
    image: &Image,
    opts: &InspectOptions,
) -> ImageInspect {
    let v = opts.api_version;
    let cfg = image.config.as_ref();
    let history_comment = cfg
        .and_then(|c| c.history.last())
        .and_then(|h| h.comment.clone());
    let comment = facts::config_str(image, "comment")
        .filter(|c| !c.is_empty())
        .or(history_comment)
        .unwrap_or_default();
    let platform = cfg.map(|c| &c.platform);
    let diff_ids = facts::diff_ids(image);
    let top = facts::top_in_store(tree, image, opts.store);
    // API 1.52 omits these when empty (moby docker-v29.7.2
    // `daemon/server/router/image/image_routes.go`, `getImagesByName`).
    let always = |s: String| (!v.at_least(52) || !s.is_empty()).then_some(s);
    let raw_config = facts::container_config(image);
    let mut extra = Map::new();
    let config = if v.at_least(50) {
        Some(oci_config(raw_config, v))
    } else {
        match raw_config {
            Some(c) => Some(go_container_config(Some(c))),
            None => {
                // `Config *container.Config`: `null` when the image config has none.
                extra.insert("Config".to_string(), Value::Null);
                None
            }
        }
    };
    ImageInspect {
        id: facts::image_id_in(archive, tree, image, opts.store),
        repo_tags: facts::repo_tags(archive, image),
        repo_digests: repo_digests(archive, tree, image, opts.store),
        parent: always(facts::parent_id(archive, image)),
        comment: always(comment),
        created: facts::created(image)
            .map(|t| t.to_rfc3339_nano())
            .or_else(|| (!v.at_least(44)).then(|| ZERO_TIME.to_string())),
        container: (!v.at_least(45))
            .then(|| facts::config_str(image, "container").unwrap_or_default()),
        container_config: (!v.at_least(45)).then(|| {
            go_container_config(
                cfg.and_then(|c| get_ci(&c.raw, "container_config"))
                    .and_then(Value::as_object),
            )
        }),
        docker_version: always(facts::config_str(image, "docker_version").unwrap_or_default()),
        author: always(facts::config_str(image, "author").unwrap_or_default()),
        architecture: platform.map(|p| p.architecture.clone()).unwrap_or_default(),
        variant: platform
            .and_then(|p| p.variant.clone())
            .filter(|v| !v.is_empty()),
        os: facts::os(image),
        os_version: platform
            .and_then(|p| p.os_version.clone())
            .filter(|v| !v.is_empty()),
        size: facts::image_size(archive, image),
        virtual_size: (!v.at_least(44)).then(|| facts::image_size(archive, image)),
        graph_driver: None,
        root_fs: RootFs {
            kind: match &image.source {
                crate::ImageSource::Legacy { .. } => Some("layers".to_string()),
                _ => cfg.and_then(|c| c.rootfs_type.clone()),
            }
            .filter(|t| !t.is_empty()),
            layers: (!diff_ids.is_empty()).then_some(diff_ids),
        },
        metadata: Metadata {
            last_tag_time: Some(ZERO_TIME.to_string()),
        },
        descriptor: top.filter(|_| v.at_least(48)).map(|t| descriptor(&t.desc)),
        manifests: top
            .filter(|_| opts.manifests && v.at_least(48))
            .map(|t| manifest_summaries(archive, t)),
        config,
        extra,
    }
}

/// `RepoDigests`: none in the classic store (`docker load` records no digest); in the
/// containerd store each familiar name paired with the digest of the image's target (moby
/// docker-v29.7.2 `daemon/containerd/image_inspect.go` `collectRepoTagsAndDigests`,
/// `image_list.go` `singlePlatformImage`), when that target is known.
pub(crate) fn repo_digests(
    archive: &Archive,
    tree: &IndexTree,
    image: &Image,
    store: Store,
) -> Vec<String> {
    let target = match (store, facts::top_in_store(tree, image, store)) {
        (Store::Classic, _) => return Vec::new(),
        (_, Some(top)) => top.desc.digest.clone(),
        (_, None) if tree.tops.is_empty() => match facts::imported_manifest(archive, image) {
            Some(m) => crate::Digest::sha256_of(&m).to_string(),
            None => return Vec::new(),
        },
        (_, None) => return Vec::new(),
    };
    let mut out: Vec<String> = Vec::new();
    for r in facts::tag_refs_in(archive, image) {
        let d = format!("{}@{target}", r.familiar_name());
        if !out.contains(&d) {
            out.push(d);
        }
    }
    out
}

pub(crate) fn descriptor(d: &Descriptor) -> OciDescriptor {
    OciDescriptor {
        media_type: d.media_type.clone(),
        digest: d.digest.clone(),
        size: d.size,
        urls: d.urls.clone(),
        annotations: d.annotations.clone(),
        data: None,
        platform: d.platform.as_ref().map(platform),
        artifact_type: None,
    }
}

fn platform(p: &oci::Platform) -> OciPlatform {
    OciPlatform {
        architecture: p.architecture.clone(),
        os: p.os.clone(),
        os_version: p.os_version.clone(),
        os_features: None,
        variant: p.variant.clone(),
    }
}

/// One summary per image manifest under an `index.json` entry (containerd's
/// `multiPlatformSummary`).
pub(crate) fn manifest_summaries(archive: &Archive, top: &Top) -> Vec<ManifestSummary> {
    top.leaves
        .iter()
        .map(|l| manifest_summary(archive, l))
        .collect()
}

fn manifest_summary(archive: &Archive, leaf: &Leaf) -> ManifestSummary {
    let present = |d: &Descriptor| facts::blob(archive, d).is_some();
    let mut summary = ManifestSummary {
        id: leaf.desc.digest.clone(),
        descriptor: descriptor(&leaf.desc),
        ..ManifestSummary::default()
    };
    let Some(m) = &leaf.manifest else {
        // An absent platform: the store knows its descriptor only.
        summary.kind = ManifestKind::Image;
        summary.image_data = Some(ImageProperties {
            platform: leaf
                .desc
                .platform
                .as_ref()
                .map(platform)
                .unwrap_or_default(),
            ..ImageProperties::default()
        });
        return summary;
    };
    let children = std::iter::once(&m.config).chain(m.layers.iter());
    summary.available = children.clone().all(present);
    let content = std::iter::once(&leaf.desc)
        .chain(children)
        .filter(|d| present(d))
        .fold(0i64, |acc, d| acc.saturating_add(d.size.max(0)));
    summary.size.content = content;
    summary.size.total = content;
    let attestation = leaf.desc.annotation(oci::ANN_REFERENCE_TYPE) == Some("attestation-manifest");
    if attestation {
        if let Some(for_digest) = leaf.desc.annotation("vnd.docker.reference.digest") {
            summary.kind = ManifestKind::Attestation;
            summary.attestation_data = Some(AttestationProperties {
                for_digest: for_digest.to_string(),
            });
        }
        return summary;
    }
    summary.kind = ManifestKind::Image;
    let mut data = ImageProperties {
        platform: leaf
            .desc
            .platform
            .as_ref()
            .map(platform)
            .unwrap_or_default(),
        ..ImageProperties::default()
    };
    if summary.available {
        let config = facts::blob(archive, &m.config)
            .and_then(|c| c.data())
            .and_then(|b| crate::doc::config::parse(b).ok());
        if leaf.desc.platform.is_none() {
            if let Some(c) = &config {
                data.platform = platform(&c.platform);
            }
        }
        let unpacked = m.layers.iter().fold(0i64, |acc, d| {
            let size = facts::blob(archive, d)
                .and_then(|b| b.layer.as_ref())
                .map_or(0, |s| i64::try_from(s.file_bytes).unwrap_or(i64::MAX));
            acc.saturating_add(size)
        });
        data.size.unpacked = unpacked;
        summary.size.total = summary.size.total.saturating_add(unpacked);
    }
    summary.image_data = Some(data);
    summary
}

fn strings(v: &Value) -> Option<Vec<String>> {
    match v {
        // strslice: a single string is a one-element list.
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(a) => a.iter().map(|x| x.as_str().map(str::to_string)).collect(),
        _ => None,
    }
}

fn nonempty<T, C: IntoIterator<Item = T> + Clone>(c: Option<C>) -> Option<C> {
    c.filter(|x| x.clone().into_iter().next().is_some())
}

fn int(v: &Value) -> Option<i64> {
    v.as_i64().filter(|n| *n != 0)
}

/// The `Config` of API 1.50 and later: the image's container config converted as moby's
/// `containerConfigToDockerOCIImageConfig` does (Go's `omitempty` drops empty values); API
/// 1.50 and 1.51 add `Cmd`, `Entrypoint`, `Env`, `Labels`, `OnBuild`, `Volumes` (`null`) and
/// `User`, `WorkingDir` (`""`) when unset (moby docker-v29.7.2
/// `daemon/server/router/image/inspect_response.go`, `legacyConfigFields["v1.50-v1.51"]`).
fn oci_config(c: Option<&Map<String, Value>>, v: ApiVersion) -> ImageConfig {
    let get = |k: &str| c.and_then(|c| get_ci(c, k));
    let string = |k: &str| get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    let list = |k: &str| nonempty(get(k).and_then(strings));
    let set = |k: &str| {
        nonempty(get(k).and_then(Value::as_object).map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<BTreeMap<_, _>>()
        }))
    };
    let labels = nonempty(get("Labels").and_then(Value::as_object).map(|o| {
        o.iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
            .collect::<BTreeMap<_, _>>()
    }));
    let legacy = !v.at_least(52);
    let nullable = |x: Option<Vec<String>>| match x {
        Some(l) => Some(Some(l)),
        None => legacy.then_some(None),
    };
    let text = |k: &str| match string(k) {
        Some(s) => Some(s.to_string()),
        None => legacy.then(String::new),
    };
    ImageConfig {
        args_escaped: get("ArgsEscaped").and_then(Value::as_bool).filter(|b| *b),
        cmd: nullable(list("Cmd")),
        entrypoint: nullable(list("Entrypoint")),
        env: nullable(list("Env")),
        exposed_ports: set("ExposedPorts"),
        healthcheck: healthcheck(get("Healthcheck"), true),
        labels: match labels {
            Some(l) => Some(Some(l)),
            None => legacy.then_some(None),
        },
        on_build: nullable(list("OnBuild")),
        shell: list("Shell"),
        stop_signal: string("StopSignal").map(str::to_string),
        user: text("User"),
        volumes: match set("Volumes") {
            Some(s) => Some(Some(s)),
            None => legacy.then_some(None),
        },
        working_dir: text("WorkingDir"),
        ..ImageConfig::default()
    }
}

fn healthcheck(h: Option<&Value>, start_interval: bool) -> Option<HealthConfig> {
    h.and_then(Value::as_object).map(|h| {
        let g = |k: &str| get_ci(h, k);
        HealthConfig {
            test: nonempty(g("Test").and_then(strings)),
            interval: g("Interval").and_then(int),
            timeout: g("Timeout").and_then(int),
            start_period: g("StartPeriod").and_then(int),
            start_interval: g("StartInterval").and_then(int).filter(|_| start_interval),
            retries: g("Retries").and_then(int),
        }
    })
}

/// A container config as Go's `container.Config` (moby v20.10.24
/// `api/types/container/config.go`) decodes and re-encodes it, as API 1.49 and older answer
/// `Config` and `ContainerConfig`: every field without `omitempty` present with the config's
/// value or its zero value; `Env`, `OnBuild`, `Volumes`, `Labels` keep `null` apart from
/// `[]`/`{}`, and so do `Cmd` and `Entrypoint` (`strslice.StrSlice`, which reads a string as a
/// one-item list; Docker 20.10 answers a `null` there as `null`).
fn go_container_config(c: Option<&Map<String, Value>>) -> ImageConfig {
    let get = |k: &str| c.and_then(|c| get_ci(c, k)).filter(|v| !v.is_null());
    let string = |k: &str| {
        get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let boolean = |k: &str| get(k).and_then(Value::as_bool).unwrap_or(false);
    let list = |k: &str| get(k).and_then(strings);
    let strslice = |k: &str| get(k).and_then(strings);
    let set = |k: &str| {
        get(k).and_then(Value::as_object).map(|o| {
            o.keys()
                .map(|k| (k.clone(), Value::Object(Map::new())))
                .collect::<BTreeMap<_, _>>()
        })
    };
    ImageConfig {
        args_escaped: Some(boolean("ArgsEscaped")).filter(|b| *b),
        attach_stderr: Some(boolean("AttachStderr")),
        attach_stdin: Some(boolean("AttachStdin")),
        attach_stdout: Some(boolean("AttachStdout")),
        cmd: Some(strslice("Cmd")),
        domainname: Some(string("Domainname")),
        entrypoint: Some(strslice("Entrypoint")),
        env: Some(list("Env")),
        exposed_ports: nonempty(set("ExposedPorts")),
        healthcheck: healthcheck(get("Healthcheck"), false),
        hostname: Some(string("Hostname")),
        image: Some(string("Image")),
        labels: Some(get("Labels").and_then(Value::as_object).map(|o| {
            o.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })),
        mac_address: Some(string("MacAddress")).filter(|s| !s.is_empty()),
        network_disabled: Some(boolean("NetworkDisabled")).filter(|b| *b),
        on_build: Some(list("OnBuild")),
        open_stdin: Some(boolean("OpenStdin")),
        shell: nonempty(strslice("Shell")),
        stdin_once: Some(boolean("StdinOnce")),
        stop_signal: Some(string("StopSignal")).filter(|s| !s.is_empty()),
        stop_timeout: get("StopTimeout").and_then(Value::as_i64),
        tty: Some(boolean("Tty")),
        user: Some(string("User")),
        volumes: Some(set("Volumes")),
        working_dir: Some(string("WorkingDir")),
        extra: Map::new(),
    }
}

impl ImageInspect {
    /// The creation time, parsed.
    pub fn created_at(&self) -> Option<Timestamp> {
        Timestamp::parse(self.created.as_deref()?)
    }
}

crate::engine::version::daemon_setters!(InspectOptions);
