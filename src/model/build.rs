//! Building the model from what the scan collected: the documents parsed once, every
//! reference resolved once, and the images of the archive's layout.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use crate::digest::Digest;
use crate::doc::manifest::{self, ManifestItem};
use crate::doc::{self, config, oci, repositories, DocError};
use crate::model::legacy;
use crate::model::oci::{NodeKind, OciTree};
use crate::model::resolve::Index;
use crate::model::{
    Archive, Doc, Docs, Image, ImageSource, IndexMatch, Layer, Layout, Loc, Producer,
};
use crate::scan::{Member, Walk};
use crate::Limits;

/// Files of a legacy layer directory.
pub(crate) const LEGACY_FILES: [&str; 3] = ["VERSION", "json", "layer.tar"];

/// Builds the model.
pub(crate) fn build(walk: Walk, limits: &Limits) -> Archive {
    let Walk {
        compression,
        members,
        outer,
        verified,
        directory,
    } = walk;
    let index = Index::new(&members, limits.max_link_depth);
    let mut b = Builder {
        members: &members,
        index: &index,
        verified,
        docs: Docs::default(),
    };
    b.docs.manifest = b.doc("manifest.json", |bytes| {
        manifest::parse(bytes, limits.max_images)
    });
    b.docs.repositories = b.doc("repositories", repositories::parse);
    b.docs.oci_layout = b.doc("oci-layout", |bytes| {
        serde_json::from_slice::<oci::OciLayout>(bytes).map_err(|e| DocError::syntax(&e))
    });
    b.docs.index = b.doc("index.json", oci::parse_index_json);
    let layout = layout(&members, &b.docs);
    let tree = match b.docs.index.as_ref().and_then(|d| d.parsed.as_ref()) {
        Some(Ok(ix)) => Some(OciTree::walk(
            ix,
            &index,
            &|i| members.get(i).and_then(Member::data),
            limits.max_index_depth,
        )),
        _ => None,
    };
    let mut images = match layout {
        Layout::DockerArchive | Layout::DockerOci => b.manifest_images(),
        Layout::Oci => tree.as_ref().map(|t| b.oci_images(t)).unwrap_or_default(),
        Layout::Legacy => b.legacy_images(),
        Layout::Unknown => Vec::new(),
    };
    if layout == Layout::DockerOci {
        if let Some(t) = &tree {
            match_index(&mut images, t, &b);
        }
    }
    let repositories = match b.docs.repositories.as_ref().and_then(|d| d.parsed.as_ref()) {
        Some(Ok(r)) => Some(r.clone()),
        _ => None,
    };
    let producer = producer(&members, &b.docs, layout);
    let docs = b.docs;
    let tar_size = outer.tar_len;
    Archive {
        compression,
        layout,
        producer,
        tar_size,
        images,
        repositories,
        members,
        docs,
        oci: tree,
        outer,
        verified,
        directory,
        index,
    }
}

struct Builder<'a> {
    members: &'a [Member],
    index: &'a Index,
    verified: bool,
    docs: Docs,
}

/// Where a member is, for references written in it.
pub(crate) fn loc(members: &[Member], i: usize) -> Loc {
    match members.get(i) {
        Some(m) => Loc {
            path: m.path.to_string_lossy().into_owned(),
            offset: m.offset,
        },
        None => Loc {
            path: String::new(),
            offset: None,
        },
    }
}

impl Builder<'_> {
    /// A top-level document: the member of that name, the file it leads to, and its parse.
    fn doc<T>(&self, name: &str, parse: impl Fn(&[u8]) -> Result<T, DocError>) -> Option<Doc<T>> {
        let named = self.index.get(name.as_bytes())?;
        let reference = self.index.reference(name, loc(self.members, named));
        let parsed = reference
            .member()
            .and_then(|i| self.members.get(i))
            .map(|m| match m.data() {
                Some(bytes) => parse(bytes),
                None if m.too_large() => Err(DocError::TooLarge),
                None => Err(DocError::NotADocument),
            });
        Some(Doc {
            named,
            reference,
            parsed,
        })
    }

    /// Parses the config held by member `i` (once).
    fn config(&mut self, i: usize) -> Option<std::sync::Arc<config::Config>> {
        let parsed = self
            .docs
            .configs
            .entry(i)
            .or_insert_with(|| match self.members.get(i) {
                Some(m) => match m.data() {
                    Some(b) => config::parse(b).map(std::sync::Arc::new),
                    None if m.too_large() => Err(DocError::TooLarge),
                    None => Err(DocError::NotADocument),
                },
                None => Err(DocError::NotADocument),
            });
        parsed.as_ref().ok().cloned()
    }

    /// Describes the layer held by member `i`.
    fn layer(
        &self,
        i: usize,
        path: &str,
        diff_id: Option<&str>,
        media_type: Option<&str>,
    ) -> Layer {
        let Some(m) = self.members.get(i) else {
            return Layer::default();
        };
        let scan = m.layer.as_ref();
        // An uncompressed blob's DiffID is its own digest; nothing is claimed without hashing.
        let computed = match scan {
            _ if !self.verified => None,
            Some(s) if s.compression.is_compressed() => s.diff_id.clone(),
            _ => m.digest.clone(),
        };
        Layer {
            path: Some(path.to_string()),
            member: Some(m.path.clone()),
            diff_id: diff_id.and_then(|d| d.parse().ok()),
            digest: m.digest.clone(),
            computed_diff_id: computed,
            compression: scan.map(|s| s.compression),
            size: Some(m.size),
            uncompressed_size: Some(scan.map_or(m.size, |s| s.uncompressed_size)),
            media_type: media_type.map(str::to_string),
            foreign: media_type.is_some_and(oci::is_foreign_media_type),
            index: Some(i),
            reference: None,
        }
    }

    fn manifest_images(&mut self) -> Vec<Image> {
        let Some(doc) = &self.docs.manifest else {
            return Vec::new();
        };
        let Some(Ok(parsed)) = &doc.parsed else {
            return Vec::new();
        };
        let Some(mi) = doc.reference.member() else {
            return Vec::new();
        };
        let from = loc(self.members, mi);
        let items = parsed.items.clone();
        items
            .iter()
            .enumerate()
            .map(|(n, item)| self.manifest_image(n, item, &from))
            .collect()
    }

    fn manifest_image(&mut self, n: usize, item: &ManifestItem, from: &Loc) -> Image {
        let mut img = Image::new(ImageSource::Manifest {
            entry: n,
            repo_tags_null: item.repo_tags.is_none(),
        });
        let config_ref = self.index.reference(&item.config, from.clone());
        if let Some(ci) = config_ref.member() {
            img.id = self.members.get(ci).and_then(|m| m.digest.clone());
            img.config = self.config(ci);
            img.config_member = Some(ci);
        }
        img.config_ref = Some(config_ref);
        img.config_path = Some(item.config.clone());
        img.repo_tags = item.repo_tags.clone().unwrap_or_default();
        img.parent = item.parent.clone();
        img.platform = img.config.as_ref().map(|c| c.platform.clone());
        let diff_ids: Vec<String> = img
            .config
            .as_ref()
            .map(|c| c.diff_ids.clone())
            .unwrap_or_default();
        let sources = item.layer_sources.clone().unwrap_or_default();
        for (k, path) in item.layers.iter().enumerate() {
            let diff_id = diff_ids.get(k).map(String::as_str);
            let media = diff_id
                .and_then(|d| sources.get(d))
                .map(|s| s.media_type.as_str())
                .filter(|m| !m.is_empty());
            let r = self.index.reference(path, from.clone());
            let mut layer = match r.member() {
                Some(li) => self.layer(li, path, diff_id, media),
                None => Layer {
                    path: Some(path.clone()),
                    diff_id: diff_id.and_then(|d| d.parse().ok()),
                    media_type: media.map(str::to_string),
                    foreign: media.is_some_and(oci::is_foreign_media_type),
                    ..Layer::default()
                },
            };
            layer.reference = Some(r);
            img.layers.push(layer);
        }
        img
    }

    /// The image of an OCI manifest node.
    fn oci_image(&mut self, tree: &OciTree, node: usize, desc: &oci::Descriptor) -> Option<Image> {
        let n = tree.nodes.get(node)?;
        let NodeKind::Manifest(m) = &n.kind else {
            return None;
        };
        let mut img = Image::new(ImageSource::OciIndex {
            manifest: n.digest.clone(),
        });
        img.manifest_digest = Some(n.digest.clone());
        img.manifest_media_type = Some(desc.media_type.clone()).filter(|m| !m.is_empty());
        img.platform = desc.platform.clone();
        img.oci_node = Some(node);
        if let Ok(d) = m.config.digest.parse::<Digest>() {
            let path = format!("blobs/{}/{}", d.algorithm().as_str(), d.hex());
            if let Some(ci) = self.index.file(path.as_bytes()) {
                img.id = self.members.get(ci).and_then(|x| x.digest.clone());
                img.config_path = Some(path);
                img.config_member = Some(ci);
                img.config = self.config(ci);
            }
        }
        if let Some(c) = &img.config {
            if !c.platform.os.is_empty() {
                img.platform = Some(c.platform.clone());
            }
        }
        let diff_ids: Vec<String> = img
            .config
            .as_ref()
            .map(|c| c.diff_ids.clone())
            .unwrap_or_default();
        for (k, ld) in m.layers.iter().enumerate() {
            let foreign = oci::is_foreign_media_type(&ld.media_type);
            let diff_id = diff_ids.get(k).map(String::as_str);
            let digest = ld.digest.parse::<Digest>().ok();
            let path = digest
                .as_ref()
                .map(|d| format!("blobs/{}/{}", d.algorithm().as_str(), d.hex()));
            let li = path.as_deref().and_then(|p| self.index.file(p.as_bytes()));
            img.layers.push(match (li, &path) {
                (Some(li), Some(p)) => self.layer(li, p, diff_id, Some(&ld.media_type)),
                _ => Layer {
                    path,
                    diff_id: diff_id.and_then(|d| d.parse().ok()),
                    media_type: Some(ld.media_type.clone()),
                    foreign,
                    ..Layer::default()
                },
            });
        }
        Some(img)
    }

    /// The images of a plain OCI layout: every manifest reachable from `index.json` that is
    /// present and not an attestation, each once, with every name it is given.
    fn oci_images(&mut self, tree: &OciTree) -> Vec<Image> {
        let mut out = Vec::new();
        for leaf in tree.leaves() {
            let Some(node) = tree.nodes.get(leaf.node) else {
                continue;
            };
            if node.attestation || !matches!(node.kind, NodeKind::Manifest(_)) {
                continue;
            }
            let Some(mut img) = self.oci_image(tree, leaf.node, &leaf.desc) else {
                continue;
            };
            img.oci_tops = leaf.tops.clone();
            for (image_name, ref_name) in &leaf.names {
                if let Some(r) = ref_name {
                    if !img.ref_names.contains(r) {
                        img.ref_names.push(r.clone());
                    }
                }
                for name in descriptor_names(image_name.as_deref(), ref_name.as_deref()) {
                    if !img.repo_tags.contains(&name) {
                        img.repo_tags.push(name);
                    }
                }
            }
            out.push(img);
        }
        out
    }

    /// Pre-1.10 images: one per top directory named in `repositories` (or, without it, per
    /// directory that is nobody's parent), then one per other directory the legacy loader
    /// loads, each with its parent chain as layers and the ID and config the loader computes
    /// (see [`legacy`]).
    fn legacy_images(&mut self) -> Vec<Image> {
        let dirs = legacy_dirs(self.members);
        let mut parent_of: BTreeMap<String, Option<String>> = BTreeMap::new();
        for d in &dirs {
            let p = self
                .index
                .file(format!("{d}/json").as_bytes())
                .and_then(|i| self.members.get(i))
                .and_then(Member::data)
                .and_then(|b| doc::legacy::parse(b).ok())
                .and_then(|j| j.parent);
            parent_of.insert(d.clone(), p);
        }
        let mut tops: Vec<(String, Vec<String>)> = Vec::new();
        match self
            .docs
            .repositories
            .as_ref()
            .and_then(|d| d.parsed.as_ref())
        {
            Some(Ok(r)) => {
                for (name, tags) in r {
                    for (tag, id) in tags {
                        if !dirs.contains(id) {
                            continue;
                        }
                        let t = format!("{name}:{tag}");
                        match tops.iter_mut().find(|(top, _)| top == id) {
                            Some((_, ts)) => ts.push(t),
                            None => tops.push((id.clone(), vec![t])),
                        }
                    }
                }
            }
            _ => {
                let is_parent: HashSet<&String> = parent_of.values().flatten().collect();
                for d in &dirs {
                    if !is_parent.contains(d) {
                        tops.push((d.clone(), Vec::new()));
                    }
                }
            }
        }
        // Every layer directory is an image of the store, with the ID the loader computes;
        // the named tops come first, then the directories below them.
        let mut memo: BTreeMap<String, Option<LegacyRecord>> = BTreeMap::new();
        for d in &dirs {
            self.legacy_record(d, &parent_of, &mut memo, 0);
        }
        let mut order: Vec<(String, Vec<String>)> = tops;
        for d in &dirs {
            let resolved = memo.get(d).is_some_and(Option::is_some);
            if resolved && !order.iter().any(|(t, _)| t == d) {
                order.push((d.clone(), Vec::new()));
            }
        }
        let mut out = Vec::new();
        for (top, tags) in order {
            let mut chain = Vec::new();
            let mut seen = HashSet::new();
            let mut cur = Some(top.clone());
            while let Some(c) = cur {
                if !seen.insert(c.clone()) || !dirs.contains(&c) {
                    break;
                }
                cur = parent_of.get(&c).cloned().flatten();
                chain.push(c);
            }
            chain.reverse();
            let mut img = Image::new(ImageSource::Legacy { top: top.clone() });
            let config_path = format!("{top}/json");
            match memo.get(&top).cloned().flatten() {
                Some(rec) => {
                    img.config = config::parse(&rec.config).ok().map(std::sync::Arc::new);
                    img.id = Some(Digest::sha256_of(&rec.config));
                    img.parent = parent_of
                        .get(&top)
                        .cloned()
                        .flatten()
                        .and_then(|p| memo.get(&p).cloned().flatten())
                        .map(|p| Digest::sha256_of(&p.config).to_string());
                }
                None => {
                    if let Some(ci) = self.index.file(config_path.as_bytes()) {
                        img.config = self
                            .members
                            .get(ci)
                            .and_then(Member::data)
                            .and_then(|b| config::parse(b).ok())
                            .map(std::sync::Arc::new);
                    }
                }
            }
            img.config_path = Some(config_path);
            img.repo_tags = tags;
            img.platform = img.config.as_ref().map(|c| c.platform.clone());
            for dir in &chain {
                let p = format!("{dir}/layer.tar");
                if let Some(li) = self.index.file(p.as_bytes()) {
                    img.layers.push(self.layer(li, &p, None, None));
                }
            }
            out.push(img);
        }
        out
    }

    /// The image `legacyLoadImage` makes of one layer directory, its parent first: `None`
    /// when the loader would fail on it (no `json` or `layer.tar`, a `json` Go cannot read,
    /// a parent that is missing or loops, a layer whose DiffID is unknown).
    fn legacy_record(
        &self,
        dir: &str,
        parent_of: &BTreeMap<String, Option<String>>,
        memo: &mut BTreeMap<String, Option<LegacyRecord>>,
        depth: usize,
    ) -> Option<LegacyRecord> {
        if let Some(r) = memo.get(dir) {
            return r.clone();
        }
        if depth > parent_of.len() {
            return None;
        }
        let parent = match parent_of.get(dir)? {
            Some(p) => Some(self.legacy_record(p, parent_of, memo, depth.saturating_add(1))?),
            None => None,
        };
        let record = self.legacy_record_of(dir, parent);
        memo.insert(dir.to_string(), record.clone());
        record
    }

    fn legacy_record_of(&self, dir: &str, parent: Option<LegacyRecord>) -> Option<LegacyRecord> {
        let json = self
            .index
            .file(format!("{dir}/json").as_bytes())
            .and_then(|i| self.members.get(i))
            .and_then(Member::data)?;
        let v1: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(json).ok()?;
        let layer = format!("{dir}/layer.tar");
        let li = self.index.file(layer.as_bytes())?;
        let diff_id = self.layer(li, &layer, None, None).computed_diff_id?;
        let (mut diff_ids, mut history) =
            parent.map(|p| (p.diff_ids, p.history)).unwrap_or_default();
        diff_ids.push(diff_id.to_string());
        history.push(legacy::history_entry(&v1)?);
        let config = legacy::config_bytes(&v1, &diff_ids, &history)?;
        Some(LegacyRecord {
            config,
            diff_ids,
            history,
        })
    }
}

/// What the legacy loader records for one layer directory.
#[derive(Debug, Clone)]
struct LegacyRecord {
    /// The config bytes (the image ID is their sha256).
    config: Vec<u8>,
    /// `rootfs.diff_ids`: the chain's, bottom first.
    diff_ids: Vec<String>,
    /// `history`, each entry encoded.
    history: Vec<String>,
}

/// Names of an index.json descriptor: the containerd image name, else a ref.name that is a
/// whole reference (`name:tag`); a ref.name that is only a tag names no repository. Names that
/// do not parse are left out (the rules report them).
pub(crate) fn descriptor_names(image_name: Option<&str>, ref_name: Option<&str>) -> Vec<String> {
    use crate::reference::Reference;
    if let Some(n) = image_name {
        return match Reference::parse_normalized(n) {
            Ok(_) => vec![n.to_string()],
            Err(_) => Vec::new(),
        };
    }
    let Some(r) = ref_name else {
        return Vec::new();
    };
    let looks_full = r.contains(':') || r.contains('/');
    match Reference::parse_normalized(r) {
        Ok(p) if looks_full && p.tag().is_some() => vec![r.to_string()],
        _ => Vec::new(),
    }
}

/// Each `manifest.json` image of a Docker 25+ / containerd archive against `index.json`: the
/// manifest with the same config and layers gives it its manifest digest.
fn match_index(images: &mut [Image], tree: &OciTree, b: &Builder<'_>) {
    let leaves = tree.leaves();
    for img in images.iter_mut() {
        let Some(id) = img.id.clone() else { continue };
        let mine: Vec<Option<Digest>> = img.layers.iter().map(|l| l.digest.clone()).collect();
        let mut same_config = false;
        let mut found = None;
        for leaf in &leaves {
            let Some(node) = tree.nodes.get(leaf.node) else {
                continue;
            };
            let NodeKind::Manifest(m) = &node.kind else {
                continue;
            };
            let config = m
                .config
                .digest
                .parse::<Digest>()
                .ok()
                .map(|d| format!("blobs/{}/{}", d.algorithm().as_str(), d.hex()))
                .and_then(|p| b.index.file(p.as_bytes()))
                .and_then(|ci| b.members.get(ci))
                .and_then(|x| x.digest.clone());
            if config.as_ref() != Some(&id) {
                continue;
            }
            same_config = true;
            let layers: Vec<Option<Digest>> = m
                .layers
                .iter()
                .map(|l| {
                    let d = l.digest.parse::<Digest>().ok()?;
                    let p = format!("blobs/{}/{}", d.algorithm().as_str(), d.hex());
                    b.index
                        .file(p.as_bytes())
                        .and_then(|li| b.members.get(li))
                        .and_then(|x| x.digest.clone())
                })
                .collect();
            if layers == mine {
                found = Some(leaf);
                break;
            }
        }
        img.index_match = Some(match found {
            Some(leaf) => {
                img.manifest_digest = tree.nodes.get(leaf.node).map(|n| n.digest.clone());
                img.manifest_media_type =
                    Some(leaf.desc.media_type.clone()).filter(|m| !m.is_empty());
                img.oci_node = Some(leaf.node);
                img.oci_tops = leaf.tops.clone();
                img.ref_names = leaf.names.iter().filter_map(|(_, r)| r.clone()).collect();
                IndexMatch::Matched
            }
            None if same_config => IndexMatch::OtherLayers,
            None => IndexMatch::NoManifest,
        });
    }
}

/// Top-level directories holding any of VERSION/json/layer.tar.
pub(crate) fn legacy_dirs(members: &[Member]) -> BTreeSet<String> {
    members
        .iter()
        .filter_map(|m| {
            let p = m.path.to_string_lossy();
            let (dir, base) = p.split_once('/')?;
            (LEGACY_FILES.contains(&base) && !dir.is_empty()).then(|| dir.to_string())
        })
        .collect()
}

/// Whether the archive has legacy layer directories: a top-level directory holding a
/// `json`, and either `repositories` or a directory holding `json` with `layer.tar` or
/// `VERSION` (a directory of other files that happens to hold a `json` is no image).
fn json_dirs(members: &[Member], docs: &Docs) -> bool {
    let mut files: BTreeMap<&[u8], [bool; 3]> = BTreeMap::new();
    for m in members {
        let (dir, base) = crate::path::split(m.path.as_bytes());
        if dir.is_empty() || dir.contains(&b'/') {
            continue;
        }
        let slot = files.entry(dir).or_default();
        match base {
            b"json" => slot[0] = true,
            b"layer.tar" => slot[1] = true,
            b"VERSION" => slot[2] = true,
            _ => {}
        }
    }
    let any_json = files.values().any(|f| f[0]);
    any_json && (docs.repositories.is_some() || files.values().any(|f| f[0] && (f[1] || f[2])))
}

/// R5: manifest.json → manifest mode (moby prefers it); else an OCI layout; else legacy.
fn layout(members: &[Member], docs: &Docs) -> Layout {
    match (
        docs.manifest.is_some(),
        docs.oci_layout.is_some() || docs.index.is_some(),
    ) {
        (true, true) => Layout::DockerOci,
        (true, false) => Layout::DockerArchive,
        (false, true) => Layout::Oci,
        (false, false) if json_dirs(members, docs) => Layout::Legacy,
        _ => Layout::Unknown,
    }
}

/// Guesses the writer from the archive's shape.
fn producer(members: &[Member], docs: &Docs, layout: Layout) -> Producer {
    let is_hex = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
    let items = match docs.manifest.as_ref().and_then(|d| d.parsed.as_ref()) {
        Some(Ok(m)) => Some(&m.items),
        _ => None,
    };
    match layout {
        Layout::Legacy => Producer::DockerPre110,
        Layout::Oci => Producer::OciLayout,
        Layout::Unknown => Producer::Unknown,
        Layout::DockerOci => {
            let all_sources = items.is_some_and(|items| {
                items.iter().any(|i| {
                    i.layer_sources
                        .as_ref()
                        .is_some_and(|s| !s.is_empty() && s.len() >= i.layers.len())
                })
            });
            if docs.repositories.is_some() || all_sources {
                Producer::Docker25
            } else if members
                .iter()
                .any(|m| m.path.as_bytes().starts_with(b"blobs/"))
            {
                Producer::Containerd
            } else {
                Producer::Unknown
            }
        }
        Layout::DockerArchive => {
            let Some(items) = items.filter(|i| !i.is_empty()) else {
                return Producer::Unknown;
            };
            let config = items.first().map(|i| i.config.as_str()).unwrap_or("");
            let first_layer = items
                .first()
                .and_then(|i| i.layers.first())
                .map(String::as_str)
                .unwrap_or("");
            if config.starts_with("sha256:") {
                Producer::GoContainerRegistry
            } else if first_layer
                .strip_suffix(".tar")
                .is_some_and(|s| is_hex(s) && !s.contains('/'))
            {
                Producer::ContainersImage
            } else if first_layer.ends_with("/layer.tar") {
                Producer::Docker
            } else {
                Producer::Unknown
            }
        }
    }
}
