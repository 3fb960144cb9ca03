//! What the Engine API builders need to know about an image of an archive, derived once from
//! the model: its ID, names, creation time, sizes, labels, and where it sits in `index.json`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::doc::oci::{Descriptor, ImageManifest};
use crate::engine::time::Timestamp;
use crate::engine::version::Store;
use crate::model::oci::OciTree;
use crate::model::{Archive, Image, Layer};
use crate::reference::Reference;

/// A value of a JSON object by key, exactly or else case-insensitively (Go's decoder).
pub(crate) fn get_ci<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// A string field of the image config (`""` when absent or not a string).
pub(crate) fn config_str(image: &Image, key: &str) -> Option<String> {
    let raw = &image.config.as_ref()?.raw;
    get_ci(raw, key).and_then(Value::as_str).map(str::to_string)
}

/// The container config object (`config`) of the image config.
pub(crate) fn container_config(image: &Image) -> Option<&Map<String, Value>> {
    let raw = &image.config.as_ref()?.raw;
    get_ci(raw, "config").and_then(Value::as_object)
}

/// The image ID as the API shows it (see [`Image::api_id`]).
pub(crate) fn image_id(image: &Image) -> String {
    image.api_id()
}

/// The image's tags, normalized and sorted as moby's reference store sorts them.
pub(crate) fn tag_refs(image: &Image) -> Vec<Reference> {
    image.tag_refs()
}

/// [`tag_refs`] of an image (each image of the model is one image of the store).
pub(crate) fn tag_refs_in(_archive: &Archive, image: &Image) -> Vec<Reference> {
    image.tag_refs()
}

/// `RepoTags`: the familiar form of [`tag_refs_in`].
pub(crate) fn repo_tags(archive: &Archive, image: &Image) -> Vec<String> {
    tag_refs_in(archive, image)
        .iter()
        .map(Reference::familiar_string)
        .collect()
}

/// The parsed `created` of the config.
pub(crate) fn created(image: &Image) -> Option<Timestamp> {
    Timestamp::parse(image.config.as_ref()?.created.as_deref()?)
}

/// The size one layer adds: the sum of its regular files' sizes (see the module docs of
/// [`crate::engine`]); 0 when the blob is not in the archive.
pub(crate) fn layer_size(archive: &Archive, layer: &Layer) -> i64 {
    archive
        .layer_scan(layer)
        .map_or(0, |s| i64::try_from(s.file_bytes).unwrap_or(i64::MAX))
}

/// `Size`: the sum of [`layer_size`] over the image's layers.
pub(crate) fn image_size(archive: &Archive, image: &Image) -> i64 {
    image
        .layers
        .iter()
        .fold(0i64, |acc, l| acc.saturating_add(layer_size(archive, l)))
}

/// `config.Labels` (`None` when the config has no container config or no labels object).
pub(crate) fn labels(image: &Image) -> Option<BTreeMap<String, String>> {
    let labels = get_ci(container_config(image)?, "Labels")?.as_object()?;
    Some(
        labels
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
            .collect(),
    )
}

/// The DiffIDs the image is made of (see [`Image::diff_ids`]).
pub(crate) fn diff_ids(image: &Image) -> Vec<String> {
    image.diff_ids()
}

/// ChainIDs of a DiffID list (OCI `config.md`).
pub(crate) fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => crate::Digest::sha256_of(format!("{prev} {d}").as_bytes()).to_string(),
        };
        out.push(next);
    }
    out
}

/// One image manifest reachable from an `index.json` entry.
#[derive(Debug, Clone)]
pub(crate) struct Leaf {
    /// The descriptor as its parent lists it (with its platform).
    pub desc: Descriptor,
    /// The decoded manifest, when its blob is in the archive.
    pub manifest: Option<ImageManifest>,
}

/// One `index.json` entry and the image manifests under it (nested indexes flattened).
#[derive(Debug, Clone)]
pub(crate) struct Top {
    pub desc: Descriptor,
    pub leaves: Vec<Leaf>,
}

/// The decoded `index.json` of an archive, with every reachable manifest.
#[derive(Debug, Clone, Default)]
pub(crate) struct IndexTree {
    pub tops: Vec<Top>,
}

/// The blob a descriptor names, if the archive holds it as a regular file.
pub(crate) fn blob<'a>(archive: &'a Archive, desc: &Descriptor) -> Option<&'a crate::Member> {
    let d: crate::Digest = desc.digest.parse().ok()?;
    let path = format!("blobs/{}/{}", d.algorithm().as_str(), d.hex());
    let m = archive.members.get(archive.index.get(path.as_bytes())?)?;
    m.is_file().then_some(m)
}

impl IndexTree {
    /// The tree of the model, as the Engine API builders walk it.
    pub(crate) fn read(archive: &Archive) -> IndexTree {
        let Some(tree) = &archive.oci else {
            return IndexTree::default();
        };
        let tops = tree
            .tops
            .iter()
            .enumerate()
            .map(|(t, top)| Top {
                desc: top.desc.clone(),
                leaves: tree
                    .manifests_under(t)
                    .into_iter()
                    .map(|(desc, node)| Leaf {
                        desc: desc.clone(),
                        manifest: node.and_then(|n| tree.manifest(n)).cloned(),
                    })
                    .collect(),
            })
            .collect();
        IndexTree { tops }
    }

    /// The `index.json` entry an image was reached through: among the entries whose tree
    /// holds the image's manifest, the first one named like the image, else the first.
    pub(crate) fn top_for(&self, image: &Image) -> Option<&Top> {
        let digest = image.manifest_digest.as_ref()?.to_string();
        let holding: Vec<&Top> = self
            .tops
            .iter()
            .filter(|t| t.desc.digest == digest || t.leaves.iter().any(|l| l.desc.digest == digest))
            .collect();
        let names = tag_refs(image);
        holding
            .iter()
            .find(|t| top_names(t).iter().any(|n| names.iter().any(|r| r == n)))
            .or(holding.first())
            .copied()
    }
}

/// The references an `index.json` entry names (`io.containerd.image.name`, else a
/// `ref.name` that is a whole reference).
pub(crate) fn top_names(top: &Top) -> Vec<Reference> {
    OciTree::top_names(&top.desc)
}

/// The `index.json` entry the store keeps for an image: the containerd store keeps the image
/// by its target; the classic store keeps no descriptor.
pub(crate) fn top_in_store<'a>(
    tree: &'a IndexTree,
    image: &Image,
    store: Store,
) -> Option<&'a Top> {
    match store {
        Store::Classic => None,
        Store::Containerd => tree.top_for(image),
    }
}

/// The image ID in a store: the classic store names an image by `sha256:` + the config
/// digest; the containerd store by the digest of its target: its `index.json` entry, or for a
/// `manifest.json` image the manifest containerd's importer writes for it
/// ([`imported_manifest`]; without it, the config digest).
pub(crate) fn image_id_in(
    archive: &Archive,
    tree: &IndexTree,
    image: &Image,
    store: Store,
) -> String {
    match (top_in_store(tree, image, store), store) {
        (Some(t), _) => t.desc.digest.clone(),
        (None, Store::Containerd) if tree.tops.is_empty() => imported_manifest(archive, image)
            .map_or_else(
                || image_id(image),
                |m| crate::Digest::sha256_of(&m).to_string(),
            ),
        _ => image_id(image),
    }
}

/// The Docker schema 2 manifest containerd's importer writes for a `manifest.json` image
/// (containerd v1.6.20 `images/archive/importer.go` `ImportIndex` and `resolveLayers`, into a
/// store that holds no compressed copy of the layers): the config and each layer blob by
/// digest and size, a layer typed gzip when containerd's `DecompressStream` finds it gzip or
/// zstd, else uncompressed; `json.Marshal`ed. `None` when a digest is not known (the blobs
/// were not hashed) and for images not from `manifest.json`. Checked against the IDs
/// containerd 1.6 recorded for the real archives (`tests/all/engine_daemon.rs`).
pub(crate) fn imported_manifest(archive: &Archive, image: &Image) -> Option<Vec<u8>> {
    use crate::Compression;
    // The importer reads `manifest.json` or `index.json` only: a pre-1.10 archive is refused.
    if !matches!(image.source, crate::ImageSource::Manifest { .. }) {
        return None;
    }
    let desc = |media: &str, digest: &crate::Digest, size: u64| {
        format!("{{\"mediaType\":\"{media}\",\"digest\":\"{digest}\",\"size\":{size}}}")
    };
    let config = desc(
        "application/vnd.docker.container.image.v1+json",
        image.id.as_ref()?,
        archive.members.get(image.config_member?)?.size,
    );
    let mut layers = Vec::with_capacity(image.layers.len());
    for l in &image.layers {
        let media = match l.compression {
            Some(Compression::Gzip | Compression::Zstd) => {
                "application/vnd.docker.image.rootfs.diff.tar.gzip"
            }
            _ => "application/vnd.docker.image.rootfs.diff.tar",
        };
        layers.push(desc(media, l.digest.as_ref()?, l.size?));
    }
    Some(
        format!(
            "{{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\",\"config\":{config},\"layers\":[{}]}}",
            layers.join(",")
        )
        .into_bytes(),
    )
}

/// `Parent`: the parent image ID as the store records it, `""` if none.
pub(crate) fn parent_id(_archive: &Archive, image: &Image) -> String {
    image.parent.clone().unwrap_or_default()
}

/// `Os`: the config's `os`, else the daemon's own (`linux`), as moby's
/// `image.OperatingSystem` answers (v20.10.24 `image/image.go`).
pub(crate) fn os(image: &Image) -> String {
    image
        .config
        .as_ref()
        .map(|c| c.platform.os.clone())
        .filter(|o| !o.is_empty())
        .unwrap_or_else(|| "linux".to_string())
}
