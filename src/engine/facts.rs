//! What the Engine API builders need to know about an image of an archive, derived once from
//! the model: its ID, names, creation time, sizes, labels, and where it sits in `index.json`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::doc::oci::{self, Descriptor, Document, ImageManifest};
use crate::engine::time::Timestamp;
use crate::model::{Archive, Image, ImageSource, Layer, Layout, Producer};
use crate::reference::Reference;

/// Deepest nesting of indexes followed (the validator's default limit).
const MAX_INDEX_DEPTH: u32 = 8;

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

/// The image ID as the API shows it: `sha256:` + the config digest; for a pre-1.10 image
/// (which has no config) the v1 ID of its top layer directory.
pub(crate) fn image_id(image: &Image) -> String {
    match (&image.id, &image.source) {
        (Some(d), _) => d.to_string(),
        (None, ImageSource::Legacy { top }) => top.clone(),
        _ => String::new(),
    }
}

/// The image's tags, normalized: a tag-less name gets `latest` (as go-containerregistry and
/// `docker load` read it), digest-only and invalid names are dropped; sorted as moby's
/// reference store sorts them (by the full normalized string), without duplicates.
pub(crate) fn tag_refs(image: &Image) -> Vec<Reference> {
    let mut refs: Vec<Reference> = image
        .repo_tags
        .iter()
        .filter_map(|t| Reference::parse_normalized(t).ok())
        .map(Reference::with_default_tag)
        .filter(|r| r.tag().is_some() && r.digest().is_none())
        .collect();
    refs.sort_by_key(ToString::to_string);
    refs.dedup();
    refs
}

/// Whether two model images are one image of the store: an OCI layout lists an image once
/// per `index.json` entry naming it, each entry with its own name.
pub(crate) fn same_image(a: &Image, b: &Image) -> bool {
    let oci = |i: &Image| matches!(i.source, ImageSource::OciIndex { .. });
    oci(a) && oci(b) && a.id.is_some() && a.id == b.id && a.manifest_digest == b.manifest_digest
}

/// Whether an earlier image of the archive is the same image as image `n`.
pub(crate) fn is_repeat(archive: &Archive, n: usize) -> bool {
    let Some(img) = archive.images.get(n) else {
        return false;
    };
    archive.images.iter().take(n).any(|o| same_image(o, img))
}

/// [`tag_refs`] of an image and of every listing of the same image.
pub(crate) fn tag_refs_in(archive: &Archive, image: &Image) -> Vec<Reference> {
    let mut refs: Vec<Reference> = archive
        .images
        .iter()
        .filter(|o| same_image(o, image))
        .flat_map(tag_refs)
        .chain(tag_refs(image))
        .collect();
    refs.sort_by_key(ToString::to_string);
    refs.dedup();
    refs
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

/// The DiffIDs the image is made of: the config's `rootfs.diff_ids`, or for a pre-1.10 image
/// the computed DiffIDs of its layer chain (what `docker load` records for it).
pub(crate) fn diff_ids(image: &Image) -> Vec<String> {
    match (&image.source, &image.config) {
        (ImageSource::Legacy { .. }, _) => image
            .layers
            .iter()
            .filter_map(|l| l.computed_diff_id.as_ref().map(ToString::to_string))
            .collect(),
        (_, Some(c)) => c.diff_ids.clone(),
        (_, None) => Vec::new(),
    }
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
    let m = archive.member(&format!("blobs/{}/{}", d.algorithm().as_str(), d.hex()))?;
    m.is_file().then_some(m)
}

impl IndexTree {
    pub(crate) fn read(archive: &Archive) -> IndexTree {
        let Some(bytes) = archive.member("index.json").and_then(|m| m.data()) else {
            return IndexTree::default();
        };
        let Ok(Document::Index(index)) = oci::parse_document(bytes, oci::MEDIA_OCI_INDEX) else {
            return IndexTree::default();
        };
        let tops = index
            .manifests
            .iter()
            .flatten()
            .map(|d| {
                let mut leaves = Vec::new();
                collect(archive, d, 0, &mut leaves);
                Top {
                    desc: d.clone(),
                    leaves,
                }
            })
            .collect();
        IndexTree { tops }
    }

    /// The `index.json` entry an image was reached through: among the entries whose tree
    /// holds the image's manifest, the first one named like the image, else the first.
    pub(crate) fn top_for(&self, image: &Image) -> Option<&Top> {
        let digest = image.manifest_digest.as_deref()?;
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
    let full = top.desc.annotation(oci::ANN_IMAGE_NAME).or_else(|| {
        top.desc
            .annotation(oci::ANN_REF_NAME)
            .filter(|r| r.contains(':') || r.contains('/'))
    });
    full.and_then(|n| Reference::parse_normalized(n).ok())
        .map(Reference::with_default_tag)
        .into_iter()
        .collect()
}

fn collect(archive: &Archive, desc: &Descriptor, depth: u32, out: &mut Vec<Leaf>) {
    let doc = blob(archive, desc)
        .and_then(|m| m.data())
        .and_then(|b| oci::parse_document(b, &desc.media_type).ok());
    match doc {
        Some(Document::Index(ix)) if depth < MAX_INDEX_DEPTH => {
            for child in ix.manifests.iter().flatten() {
                collect(archive, child, depth.saturating_add(1), out);
            }
        }
        Some(Document::Index(_)) => {}
        Some(Document::Manifest(m)) => out.push(Leaf {
            desc: desc.clone(),
            manifest: Some(*m),
        }),
        None if desc.is_index() => {}
        None => out.push(Leaf {
            desc: desc.clone(),
            manifest: None,
        }),
    }
}

/// Whether the image's index.json manifest is the writer's own (registry) manifest, so that
/// `name@digest` names it: OCI layouts and containerd exports, not Docker 25's graphdriver
/// saves, which generate the manifest at save time.
pub(crate) fn has_repo_digests(archive: &Archive) -> bool {
    match archive.layout {
        Layout::Oci => true,
        Layout::DockerOci => archive.producer != Producer::Docker25,
        _ => false,
    }
}
