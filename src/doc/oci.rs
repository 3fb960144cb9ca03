//! OCI image layout documents: `oci-layout`, `index.json`, image indexes and manifests, and
//! descriptors (also used by Docker schema2 manifests and manifest lists).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::doc::DocError;

/// OCI image index media type.
pub(crate) const MEDIA_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image manifest media type.
pub(crate) const MEDIA_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Docker manifest list media type.
pub(crate) const MEDIA_DOCKER_LIST: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker schema2 manifest media type.
pub(crate) const MEDIA_DOCKER_MANIFEST: &str =
    "application/vnd.docker.distribution.manifest.v2+json";
/// Annotation with the full image name (containerd).
pub(crate) const ANN_IMAGE_NAME: &str = "io.containerd.image.name";
/// Annotation with the reference name (tag) in `index.json`.
pub(crate) const ANN_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Annotation marking buildkit attestation manifests.
pub(crate) const ANN_REFERENCE_TYPE: &str = "vnd.docker.reference.type";

/// A content descriptor.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Descriptor {
    /// Media type.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub media_type: String,
    /// Digest as written (validated separately so a bad one is a finding, not a parse error).
    #[serde(default)]
    pub digest: String,
    /// Size in bytes (may be missing or negative in bad input).
    #[serde(default)]
    pub size: i64,
    /// URLs of foreign layers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Platform (in indexes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

impl Descriptor {
    /// An annotation's value.
    pub(crate) fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.as_ref()?.get(key).map(String::as_str)
    }
    /// Whether the media type names an index or manifest list.
    pub(crate) fn is_index(&self) -> bool {
        self.media_type == MEDIA_OCI_INDEX || self.media_type == MEDIA_DOCKER_LIST
    }
}

/// A platform.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Platform {
    /// CPU architecture.
    #[serde(default)]
    pub architecture: String,
    /// Operating system.
    #[serde(default)]
    pub os: String,
    /// OS version (Windows).
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    /// CPU variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// `oci-layout`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OciLayout {
    /// Must be `1.0.0`.
    pub image_layout_version: String,
}

/// An image index (`index.json`, nested indexes, Docker manifest lists).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Index {
    /// Schema version (2).
    #[serde(default)]
    pub schema_version: i64,
    /// Media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Child descriptors; `null` in Docker 25 saves by ID.
    #[serde(default)]
    pub manifests: Option<Vec<Descriptor>>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// An image manifest (OCI or Docker schema2).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ImageManifest {
    /// Schema version (2).
    #[serde(default)]
    pub schema_version: i64,
    /// Media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Config descriptor.
    pub config: Descriptor,
    /// Layer descriptors, bottom first.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// What an index or manifest blob turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Document {
    /// An index or manifest list.
    Index(Index),
    /// An image manifest.
    Manifest(Box<ImageManifest>),
}

/// Decodes a blob referenced from an index: by its media type when known, else by shape
/// (`manifests` → index, `config` → manifest). Also says why the document is ambiguous, if
/// it is (see [`ambiguity`]).
pub(crate) fn parse_document(
    bytes: &[u8],
    media_type: &str,
) -> Result<(Document, Option<String>), DocError> {
    let mut v: Value = crate::doc::json(bytes)?;
    crate::doc::keys::fold(&mut v, crate::doc::keys::OCI_FIELDS);
    if !v.is_object() {
        return Err(DocError::shape(format!(
            "must be a JSON object, found {}",
            crate::doc::kind(&v)
        )));
    }
    // The document's own media type decides, then its shape, then what the referrer expected.
    let own = v.get("mediaType").and_then(Value::as_str).unwrap_or("");
    let ambiguous = ambiguity(&v, own, media_type);
    let is_index = match own {
        MEDIA_OCI_INDEX | MEDIA_DOCKER_LIST => true,
        MEDIA_OCI_MANIFEST | MEDIA_DOCKER_MANIFEST => false,
        _ => match (v.get("manifests").is_some(), v.get("config").is_some()) {
            (true, false) => true,
            (false, true) => false,
            _ => media_type == MEDIA_OCI_INDEX || media_type == MEDIA_DOCKER_LIST,
        },
    };
    let doc = if is_index {
        serde_json::from_value(v)
            .map(Document::Index)
            .map_err(|e| DocError::shape(format!("not an image index: {e}")))
    } else {
        serde_json::from_value(v)
            .map(|m| Document::Manifest(Box::new(m)))
            .map_err(|e| DocError::shape(format!("not an image manifest: {e}")))
    }?;
    Ok((doc, ambiguous))
}

fn is_index_type(m: &str) -> bool {
    m == MEDIA_OCI_INDEX || m == MEDIA_DOCKER_LIST
}

fn is_manifest_type(m: &str) -> bool {
    m == MEDIA_OCI_MANIFEST || m == MEDIA_DOCKER_MANIFEST
}

/// Why a document could be read both as an index and as a manifest, if it can: containerd
/// v1.6.20 `images/image.go` `validateMediaType` (a key present at all counts, as its
/// `json.RawMessage` fields do), and a document holding both `manifests` and `layers` or
/// `config` whatever its descriptor says (umoci CVE-2021-41190).
fn ambiguity(v: &Value, own: &str, referrer: &str) -> Option<String> {
    let has = |k: &str| v.get(k).is_some();
    let index_keys = has("manifests");
    let manifest_keys = has("config") || has("layers");
    if index_keys && manifest_keys {
        return Some(format!(
            "the document holds both `manifests` and `{}`: it is an image index to some readers and an image manifest to others",
            if has("layers") { "layers" } else { "config" }
        ));
    }
    if is_manifest_type(referrer) && (index_keys || is_index_type(own)) {
        return Some(format!(
            "its descriptor says {referrer} but the document is an index (containerd: \"media-type: expected manifest but found index\")"
        ));
    }
    if is_index_type(referrer) && (manifest_keys || is_manifest_type(own)) {
        return Some(format!(
            "its descriptor says {referrer} but the document is an image manifest (containerd: \"media-type: expected index but found manifest\")"
        ));
    }
    None
}

/// Decodes `index.json`: as an image index whenever it has `manifests`, whatever its
/// `mediaType` says, as the loaders read it (containerd v1.6.20 `images/archive/importer.go`
/// and containers/image v5.23 `oci/layout` unmarshal it into an index; observed with
/// `ctr images import` 1.6 and `podman load` 4.3, which load one whose `mediaType` names a
/// manifest); otherwise by shape, as [`parse_document`] reads a blob.
pub(crate) fn parse_index_json(bytes: &[u8]) -> Result<Index, DocError> {
    let mut v: Value = crate::doc::json(bytes)?;
    crate::doc::keys::fold(&mut v, crate::doc::keys::OCI_FIELDS);
    if v.is_object() && v.get("manifests").is_some() {
        return serde_json::from_value(v)
            .map_err(|e| DocError::shape(format!("not an image index: {e}")));
    }
    match parse_document(bytes, MEDIA_OCI_INDEX)?.0 {
        Document::Index(ix) => Ok(ix),
        Document::Manifest(_) => Err(DocError::shape(
            "index.json is an image manifest, not an image index",
        )),
    }
}

/// Why `index.json` itself could be read as something other than an image index, if it can
/// (umoci CVE-2021-41190 for the layout's own index): it holds `config` or `layers`, or its
/// `mediaType` names an image manifest, while it has the `manifests` of an index. `None` when
/// it does not parse or has no `manifests` (then it is no index at all: said elsewhere).
pub(crate) fn index_json_ambiguity(bytes: &[u8]) -> Option<String> {
    let mut v: Value = crate::doc::json(bytes).ok()?;
    crate::doc::keys::fold(&mut v, crate::doc::keys::OCI_FIELDS);
    v.get("manifests")?;
    let own = v.get("mediaType").and_then(Value::as_str).unwrap_or("");
    let keys: Vec<&str> = ["config", "layers"]
        .into_iter()
        .filter(|k| v.get(*k).is_some())
        .collect();
    if !keys.is_empty() {
        return Some(format!(
            "index.json holds both `manifests` and `{}`: it is an image index to some readers and an image manifest to others",
            keys.join("` and `")
        ));
    }
    if is_manifest_type(own) {
        return Some(format!(
            "index.json says its mediaType is {own}: it is an image manifest to readers that go by it"
        ));
    }
    None
}

/// Media types of layers that are tars (plain or compressed).
pub(crate) fn is_layer_media_type(m: &str) -> bool {
    m.starts_with("application/vnd.oci.image.layer.")
        || m.starts_with("application/vnd.docker.image.rootfs.")
        || m.is_empty()
}

/// Media types of non-distributable (foreign) layers.
pub(crate) fn is_foreign_media_type(m: &str) -> bool {
    m.contains(".foreign.") || m.contains(".nondistributable.")
}
