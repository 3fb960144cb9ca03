//! Which images an export selects, which input members it writes (and how), and the
//! documents it generates. Pure: nothing is read or written here.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::doc::oci;
use crate::export::{ExportError, ExportOptions};
use crate::model::identity::id_prefix as id_query;
use crate::model::oci::{NodeKind, OciTree};
use crate::model::resolve::Index;
use crate::model::{Archive, Image, ImageSource, Layout, Producer};
use crate::path::EntryPath;
use crate::reference::Reference;
use crate::scan::MemberKind;

/// A path cleaned, as text.
fn clean(p: &str) -> String {
    EntryPath::clean(p.as_bytes())
        .0
        .to_string_lossy()
        .into_owned()
}

/// The directory part of a cleaned path (`""` for a top-level name).
fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(i) => path.get(..i).unwrap_or(""),
        None => "",
    }
}

/// A link target written in `from`, as a cleaned archive path.
fn link_target(from: &str, target: &str) -> String {
    if target.starts_with('/') {
        return clean(target);
    }
    let dir = parent(from);
    if dir.is_empty() {
        clean(target)
    } else {
        clean(&format!("{dir}/{target}"))
    }
}

/// One image an export writes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Selected {
    /// Index in [`Archive::images`].
    pub image: usize,
    /// The tags it keeps, spelled as the input spells them.
    pub tags: Vec<String>,
    /// Named by a reference (not only by ID, nor only as a parent): a multi-platform image
    /// named this way is written whole unless a platform is asked for.
    pub by_name: bool,
}

/// How one output entry is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Out {
    /// The content of the source member, as a regular file at `path`.
    File(String),
    /// A directory.
    Dir(String),
    /// A symbolic link at `.0` to `.1`.
    Symlink(String, String),
    /// A hard link at `.0` to the earlier entry `.1`.
    Hardlink(String, String),
}

/// What an export writes.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Plan {
    /// The images, in the input's order.
    pub images: Vec<Selected>,
    /// Output entries by the index of the input member they are made from, in input order.
    pub(crate) outputs: BTreeMap<usize, Vec<Out>>,
    /// Generated documents (`manifest.json`, `repositories`, `index.json`), written last.
    pub(crate) docs: Vec<(String, Vec<u8>)>,
}

impl Plan {
    /// The paths the output will hold, in order.
    pub fn paths(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .outputs
            .values()
            .flatten()
            .map(|o| match o {
                Out::File(p) | Out::Dir(p) | Out::Symlink(p, _) | Out::Hardlink(p, _) => p.clone(),
            })
            .collect();
        out.extend(self.docs.iter().map(|(p, _)| p.clone()));
        out
    }
}

/// Plans an export of `names` from `archive` (see the [module docs](crate::export)).
pub fn plan(
    archive: &Archive,
    names: &[String],
    opts: &ExportOptions,
) -> Result<Plan, ExportError> {
    let images = select(archive, names, opts)?;
    let mut b = Builder {
        archive,
        index: &archive.index,
        paths: BTreeSet::new(),
        docs: Vec::new(),
    };
    let mut top_dirs: BTreeMap<usize, String> = BTreeMap::new();
    match archive.layout {
        Layout::Legacy => {
            for s in &images {
                let img = image(archive, s.image)?;
                for l in &img.layers {
                    let dir = l.path.as_deref().and_then(|p| p.strip_suffix("/layer.tar"));
                    if let Some(dir) = dir {
                        b.legacy_dir(dir);
                    }
                }
                if let ImageSource::Legacy { top } = &img.source {
                    top_dirs.insert(s.image, top.clone());
                }
            }
        }
        Layout::DockerArchive | Layout::DockerOci => {
            for s in &images {
                let img = image(archive, s.image)?;
                b.manifest_image(img)?;
                if let Some(top) = b.legacy_chain(img, &s.tags) {
                    top_dirs.insert(s.image, top);
                }
            }
        }
        Layout::Oci | Layout::Unknown => {}
    }
    if matches!(archive.layout, Layout::DockerOci | Layout::Oci) {
        let index = index_json(archive, &images, opts, &mut b)?;
        b.docs.push(("index.json".to_string(), index));
        b.need_file("oci-layout")?;
    }
    if matches!(archive.layout, Layout::DockerArchive | Layout::DockerOci) {
        let m = manifest_json(archive, &images)?;
        b.docs.push(("manifest.json".to_string(), m));
    }
    // containerd's exporter (what the API runs with the containerd image store) never writes
    // `repositories`; nor does an OCI layout have one.
    let writes_repositories =
        archive.layout != Layout::Oci && archive.producer != Producer::Containerd;
    // Docker's legacy loader needs `repositories` even when it names nothing: a pre-1.10
    // archive of images selected by ID gets `{}`, which loads them untagged (moby v20.10.24
    // `image/tarexport/load.go` `legacyLoad`; checked against the daemon by
    // `tests/all/engine_daemon.rs`).
    let legacy = archive.layout == Layout::Legacy;
    if writes_repositories && (legacy || images.iter().any(|s| !s.tags.is_empty())) {
        let r = repositories(archive, &images, &top_dirs);
        b.docs.push(("repositories".to_string(), r));
    }
    b.docs.sort();
    let outputs = b.outputs()?;
    Ok(Plan {
        images,
        outputs,
        docs: b.docs,
    })
}

fn image(archive: &Archive, i: usize) -> Result<&Image, ExportError> {
    archive
        .images
        .get(i)
        .ok_or_else(|| ExportError::Incomplete(format!("image {i} is not in the archive")))
}

fn by_id(
    archive: &Archive,
    name: &str,
    hex: &str,
) -> Result<Vec<(usize, Option<String>)>, ExportError> {
    let hits: Vec<usize> = archive
        .images
        .iter()
        .enumerate()
        .filter(|(_, i)| i.id_hex().is_some_and(|h| h.starts_with(hex)))
        .map(|(n, _)| n)
        .collect();
    match hits.as_slice() {
        [] => Err(crate::SelectError::NotFound(name.to_string()).into()),
        [one] => Ok(vec![(*one, None)]),
        many => Err(crate::SelectError::Ambiguous {
            query: name.to_string(),
            count: many.len(),
        }
        .into()),
    }
}

/// The tags of `img` (as written) whose normalized form satisfies `pred`.
fn written_tags(img: &Image, pred: impl Fn(&Reference) -> bool) -> Vec<String> {
    img.repo_tags
        .iter()
        .filter(|t| {
            Reference::parse_normalized(t)
                .ok()
                .map(Reference::with_default_tag)
                .is_some_and(|r| r.tag().is_some() && r.digest().is_none() && pred(&r))
        })
        .cloned()
        .collect()
}

/// The images one name selects, each with the tag it names (`None`: selected untagged).
fn resolve(archive: &Archive, name: &str) -> Result<Vec<(usize, Option<String>)>, ExportError> {
    let full_id = name.strip_prefix("sha256:").unwrap_or(name);
    if full_id.len() == 64 && id_query(full_id).is_some() {
        return by_id(archive, name, full_id);
    }
    let r = match Reference::parse_normalized(name) {
        Ok(r) => r,
        Err(_) => {
            return match id_query(name) {
                Some(hex) => by_id(archive, name, hex),
                None => Err(ExportError::InvalidName(name.to_string())),
            }
        }
    };
    if r.familiar_name() == "sha256" {
        return match id_query(name) {
            Some(hex) => by_id(archive, name, hex),
            None => Err(ExportError::InvalidName(name.to_string())),
        };
    }
    let mut hits: Vec<(usize, Option<String>)> = Vec::new();
    for (n, img) in archive.images.iter().enumerate() {
        if let Some(d) = r.digest() {
            let named = img.tag_refs().iter().any(|t| t.name() == r.name());
            if named && archive.digests_of(img).iter().any(|x| x == d) {
                hits.push((n, None));
            }
        } else if r.tag().is_none() {
            for t in written_tags(img, |t| t.name() == r.name()) {
                hits.push((n, Some(t)));
            }
        } else {
            let want = r.clone().with_default_tag();
            for t in written_tags(img, |t| *t == want) {
                hits.push((n, Some(t)));
            }
        }
    }
    if hits.is_empty() && r.tag().is_none() && r.digest().is_none() {
        if let Some(hex) = id_query(name) {
            return by_id(archive, name, hex);
        }
    }
    if hits.is_empty() {
        return Err(crate::SelectError::NotFound(name.to_string()).into());
    }
    Ok(hits)
}

fn select(
    archive: &Archive,
    names: &[String],
    opts: &ExportOptions,
) -> Result<Vec<Selected>, ExportError> {
    if names.is_empty() {
        return Err(ExportError::NothingSelected);
    }
    let mut sel: BTreeMap<usize, Selected> = BTreeMap::new();
    for name in names {
        let mut hits = resolve(archive, name)?;
        if let Some(p) = &opts.platform {
            hits.retain(|(i, _)| {
                archive
                    .images
                    .get(*i)
                    .and_then(|img| img.platform.as_ref())
                    .is_some_and(|pl| p.matches(pl))
            });
            if hits.is_empty() {
                return Err(ExportError::NoPlatform {
                    name: name.clone(),
                    platform: p.clone(),
                });
            }
        }
        for (i, tag) in hits {
            let s = sel.entry(i).or_insert_with(|| Selected {
                image: i,
                tags: Vec::new(),
                by_name: false,
            });
            if let Some(t) = tag {
                s.by_name = true;
                if !s.tags.contains(&t) {
                    s.tags.push(t);
                }
            }
        }
    }
    // Only the images named: `docker save` adds no parent image, and keeps a `Parent` link
    // only when the parent is saved too (moby v20.10.24 `image/tarexport/save.go`,
    // `validatedParentLinks`; checked against the daemon by `tests/all/engine_daemon.rs`).
    Ok(sel.into_values().collect())
}

struct Builder<'a> {
    archive: &'a Archive,
    index: &'a Index,
    /// Cleaned paths the output must hold as files (or links to files it holds).
    paths: BTreeSet<String>,
    docs: Vec<(String, Vec<u8>)>,
}

impl Builder<'_> {
    /// Requires `path` to resolve to a regular file.
    fn need_file(&mut self, path: &str) -> Result<(), ExportError> {
        let clean = clean(path);
        let ok = self.index.file(clean.as_bytes()).is_some();
        if !ok {
            return Err(ExportError::Incomplete(format!(
                "{path:?} is not a file of the archive"
            )));
        }
        self.paths.insert(clean);
        Ok(())
    }

    /// Adds `path` when it resolves to a regular file; says whether it did.
    fn want_file(&mut self, path: &str) -> bool {
        self.need_file(path).is_ok()
    }

    fn legacy_dir(&mut self, dir: &str) {
        for f in ["VERSION", "json", "layer.tar"] {
            self.want_file(&format!("{dir}/{f}"));
        }
    }

    /// The config and layers of a manifest.json image.
    fn manifest_image(&mut self, img: &Image) -> Result<(), ExportError> {
        let id = img.api_id();
        let config = img
            .config_path
            .as_deref()
            .ok_or_else(|| ExportError::Incomplete(format!("image {id} has no config")))?;
        self.need_file(config).map_err(|_| {
            ExportError::Incomplete(format!(
                "image {id}: its config {config:?} is not in the archive"
            ))
        })?;
        for (n, l) in img.layers.iter().enumerate() {
            let Some(p) = l.path.as_deref() else { continue };
            if !self.want_file(p) && !l.foreign {
                return Err(ExportError::Incomplete(format!(
                    "image {id}: layer {n} ({p:?}) is not in the archive"
                )));
            }
        }
        Ok(())
    }

    /// The pre-1.10 layer directories of a manifest.json image, when the writer added them:
    /// the chain (by `json` parents) whose layers are the image's. Returns its top directory.
    fn legacy_chain(&mut self, img: &Image, tags: &[String]) -> Option<String> {
        let archive = self.archive;
        let layer_of = |p: &str| self.index.resolve(p.as_bytes());
        let mut dirs: BTreeMap<String, (Option<String>, Option<usize>)> = BTreeMap::new();
        for m in &archive.members {
            let p = m.path.to_string_lossy();
            let Some(dir) = p.strip_suffix("/json") else {
                continue;
            };
            if dir.contains('/') {
                continue;
            }
            let parent = m
                .data()
                .and_then(|b| crate::doc::legacy::parse(b).ok())
                .and_then(|j| j.parent);
            dirs.insert(
                dir.to_string(),
                (parent, layer_of(&format!("{dir}/layer.tar"))),
            );
        }
        if dirs.is_empty() {
            return None;
        }
        let want: Vec<Option<usize>> = img
            .layers
            .iter()
            .map(|l| l.path.as_deref().and_then(|p| layer_of(&clean(p))))
            .collect();
        let chain_of = |top: &str| {
            let mut chain = Vec::new();
            let mut cur = Some(top.to_string());
            while let Some(c) = cur {
                if chain.contains(&c) || chain.len() > want.len() {
                    break;
                }
                cur = dirs.get(&c).and_then(|(p, _)| p.clone());
                chain.push(c);
            }
            chain.reverse();
            chain
        };
        let candidates: Vec<Vec<String>> = dirs
            .keys()
            .map(|d| chain_of(d))
            .filter(|c| {
                c.len() == want.len()
                    && c.iter()
                        .zip(&want)
                        .all(|(d, w)| w.is_some() && dirs.get(d).map(|x| x.1) == Some(*w))
            })
            .collect();
        let named: Vec<&Vec<String>> = candidates
            .iter()
            .filter(|c| {
                let top = c.last().map(String::as_str);
                archive.repositories.as_ref().is_some_and(|r| {
                    tags.iter().any(|t| {
                        let (repo, tag) = split_tag(t);
                        r.get(&repo).and_then(|m| m.get(&tag)).map(String::as_str) == top
                    })
                })
            })
            .collect();
        let chosen: Vec<&Vec<String>> = if named.is_empty() {
            candidates.iter().collect()
        } else {
            named
        };
        for chain in &chosen {
            for d in chain.iter() {
                self.legacy_dir(d);
            }
        }
        chosen.first().and_then(|c| c.last().cloned())
    }

    /// Every present blob under a node (the node's own, nested indexes', and each
    /// manifest's config and layers), each node once.
    fn blobs_under(&mut self, tree: &OciTree, node: Option<usize>) {
        let mut stack: Vec<usize> = node.into_iter().collect();
        let mut seen = BTreeSet::new();
        while let Some(n) = stack.pop() {
            if !seen.insert(n) {
                continue;
            }
            let Some(node) = tree.nodes.get(n) else {
                continue;
            };
            let Some(m) = node.member.and_then(|i| self.archive.members.get(i)) else {
                continue;
            };
            self.paths.insert(m.path.to_string_lossy().into_owned());
            match &node.kind {
                NodeKind::Index { children } => {
                    stack.extend(children.iter().filter_map(|c| c.node))
                }
                NodeKind::Manifest(man) => {
                    for d in std::iter::once(&man.config).chain(man.layers.iter()) {
                        if let Some(b) = blob(self.archive, d) {
                            self.paths.insert(b);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// How each needed path is written: a regular file is copied; a link whose target is
    /// written too stays a link; any other link is written as a regular file with its
    /// target's content (and further copies of the same content as links to the first).
    fn outputs(&self) -> Result<BTreeMap<usize, Vec<Out>>, ExportError> {
        let mut out: BTreeMap<usize, Vec<Out>> = BTreeMap::new();
        let mut materialized: BTreeMap<usize, String> = BTreeMap::new();
        let mut dirs: BTreeSet<String> = BTreeSet::new();
        for p in &self.paths {
            let mut d = parent(p);
            while !d.is_empty() {
                dirs.insert(d.to_string());
                d = parent(d);
            }
            let final_index = self
                .index
                .resolve(p.as_bytes())
                .ok_or_else(|| ExportError::Incomplete(format!("{p:?} does not resolve")))?;
            let own = self.index.get(p.as_bytes());
            let member = own.and_then(|i| self.archive.members.get(i));
            match member.map(|m| &m.kind) {
                Some(MemberKind::File) => {
                    if let Some(i) = own {
                        out.entry(i).or_default().push(Out::File(p.clone()));
                    }
                    continue;
                }
                Some(MemberKind::Symlink { target }) => {
                    let target = String::from_utf8_lossy(target).into_owned();
                    let direct = link_target(p, &target);
                    if self.index.get(direct.as_bytes()) == Some(final_index)
                        && self.paths.contains(&direct)
                    {
                        if let Some(i) = own {
                            out.entry(i)
                                .or_default()
                                .push(Out::Symlink(p.clone(), target.clone()));
                        }
                        continue;
                    }
                }
                Some(MemberKind::Hardlink { target }) => {
                    let direct = clean(&String::from_utf8_lossy(target));
                    if self.index.get(direct.as_bytes()) == Some(final_index)
                        && self.paths.contains(&direct)
                    {
                        if let Some(i) = own {
                            out.entry(i)
                                .or_default()
                                .push(Out::Hardlink(p.clone(), direct));
                        }
                        continue;
                    }
                }
                _ => {}
            }
            match materialized.get(&final_index) {
                Some(first) => {
                    let target = relative(p, first);
                    out.entry(final_index)
                        .or_default()
                        .push(Out::Symlink(p.clone(), target));
                }
                None => {
                    materialized.insert(final_index, p.clone());
                    out.entry(final_index)
                        .or_default()
                        .push(Out::File(p.clone()));
                }
            }
        }
        for d in dirs {
            if let Some(i) = self.index.get(d.as_bytes()) {
                if self
                    .archive
                    .members
                    .get(i)
                    .is_some_and(|m| m.kind == MemberKind::Dir)
                {
                    out.entry(i).or_default().insert(0, Out::Dir(d));
                }
            }
        }
        Ok(out)
    }
}

/// The member path of the blob a descriptor names, if the archive holds it as a regular file.
fn blob(archive: &Archive, d: &oci::Descriptor) -> Option<String> {
    let digest: crate::Digest = d.digest.parse().ok()?;
    let path = format!("blobs/{}/{}", digest.algorithm().as_str(), digest.hex());
    let i = archive.index.get(path.as_bytes())?;
    let m = archive.members.get(i).filter(|m| m.is_file())?;
    Some(m.path.to_string_lossy().into_owned())
}

/// A relative link target from the directory of `from` to `to` (both cleaned paths).
fn relative(from: &str, to: &str) -> String {
    let depth = parent(from).split('/').filter(|c| !c.is_empty()).count();
    format!("{}{to}", "../".repeat(depth))
}

/// Splits a tag as written into the repository key and tag of `repositories`: the name as
/// written, and the tag (`latest` when it has none).
fn split_tag(written: &str) -> (String, String) {
    match Reference::parse_normalized(written)
        .ok()
        .and_then(|r| r.tag().map(str::to_string))
    {
        Some(tag) => {
            let repo = written
                .strip_suffix(&format!(":{tag}"))
                .unwrap_or(written)
                .to_string();
            (repo, tag)
        }
        None => (written.to_string(), "latest".to_string()),
    }
}

fn with_newline_like(bytes: Option<&[u8]>, mut out: Vec<u8>, default: bool) -> Vec<u8> {
    if bytes.map_or(default, |b| b.ends_with(b"\n")) {
        out.push(b'\n');
    }
    out
}

fn to_json(v: &impl serde::Serialize) -> Result<Vec<u8>, ExportError> {
    serde_json::to_vec(v).map_err(|e| ExportError::Incomplete(format!("cannot encode JSON: {e}")))
}

/// `manifest.json`: the input's entries of the selected images, with `RepoTags` set to the
/// selection's tags and `Parent` kept only when the parent is written too.
fn manifest_json(archive: &Archive, images: &[Selected]) -> Result<Vec<u8>, ExportError> {
    let raw = archive
        .member(&EntryPath::from("manifest.json"))
        .and_then(|m| m.data());
    let entries: Vec<Value> = raw
        .and_then(|b| serde_json::from_slice::<Vec<Value>>(b).ok())
        .ok_or_else(|| ExportError::Incomplete("manifest.json cannot be read".to_string()))?;
    let written_ids: BTreeSet<String> = images
        .iter()
        .filter_map(|s| archive.images.get(s.image))
        .filter_map(|i| i.id.as_ref().map(ToString::to_string))
        .collect();
    let untagged = if archive.producer == Producer::ContainersImage {
        Value::Array(Vec::new())
    } else {
        Value::Null
    };
    let mut out = Vec::new();
    for s in images {
        let Some(img) = archive.images.get(s.image) else {
            continue;
        };
        let ImageSource::Manifest { entry, .. } = img.source else {
            continue;
        };
        let Some(Value::Object(obj)) = entries.get(entry) else {
            continue;
        };
        let mut obj: Map<String, Value> = obj.clone();
        let key = |obj: &Map<String, Value>, k: &str| {
            obj.keys().find(|x| x.eq_ignore_ascii_case(k)).cloned()
        };
        let tags = if s.tags.is_empty() {
            untagged.clone()
        } else {
            Value::Array(s.tags.iter().cloned().map(Value::String).collect())
        };
        let tk = key(&obj, "RepoTags").unwrap_or_else(|| "RepoTags".to_string());
        obj.insert(tk, tags);
        if let Some(pk) = key(&obj, "Parent") {
            let keep = obj
                .get(&pk)
                .and_then(Value::as_str)
                .is_some_and(|p| written_ids.contains(p));
            if !keep {
                obj.remove(&pk);
            }
        }
        out.push(Value::Object(obj));
    }
    Ok(with_newline_like(raw, to_json(&out)?, true))
}

/// `repositories`: each selected tag → the input's value for it, else the image's top layer
/// directory, else the hex of its top DiffID (Docker 25's convention).
fn repositories(
    archive: &Archive,
    images: &[Selected],
    top_dirs: &BTreeMap<usize, String>,
) -> Vec<u8> {
    let mut repos: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for s in images {
        let Some(img) = archive.images.get(s.image) else {
            continue;
        };
        for t in &s.tags {
            let (repo, tag) = split_tag(t);
            let value = archive
                .repositories
                .as_ref()
                .and_then(|r| r.get(&repo))
                .and_then(|m| m.get(&tag))
                .cloned()
                .or_else(|| top_dirs.get(&s.image).cloned())
                .or_else(|| {
                    img.diff_ids()
                        .last()
                        .map(|d| d.strip_prefix("sha256:").unwrap_or(d).to_string())
                })
                .unwrap_or_default();
            repos.entry(repo).or_default().insert(tag, value);
        }
    }
    let raw = archive
        .member(&EntryPath::from("repositories"))
        .and_then(|m| m.data());
    with_newline_like(raw, serde_json::to_vec(&repos).unwrap_or_default(), true)
}

/// The name annotations of an index.json descriptor.
const NAME_ANNOTATIONS: [&str; 2] = [oci::ANN_IMAGE_NAME, oci::ANN_REF_NAME];

fn strip_names(v: &mut Value) {
    if let Some(Value::Object(a)) = v.get_mut("annotations") {
        for k in NAME_ANNOTATIONS {
            a.remove(k);
        }
        if a.is_empty() {
            if let Some(o) = v.as_object_mut() {
                o.remove("annotations");
            }
        }
    }
}

/// `index.json`: the entries of the selected images. An entry named by a selected tag is
/// kept; one only reached by ID loses its names. A multi-platform entry is kept whole when
/// its image was named, and replaced by the chosen platforms' manifests (with the entry's
/// names) when a platform was asked for or the image was chosen by ID.
fn index_json(
    archive: &Archive,
    images: &[Selected],
    opts: &ExportOptions,
    b: &mut Builder<'_>,
) -> Result<Vec<u8>, ExportError> {
    let raw = archive
        .member(&EntryPath::from("index.json"))
        .and_then(|m| m.data());
    let mut doc: Map<String, Value> = raw
        .and_then(|b| serde_json::from_slice(b).ok())
        .ok_or_else(|| ExportError::Incomplete("index.json cannot be read".to_string()))?;
    let raw_entries: Vec<Value> = doc
        .get("manifests")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let Some(tree) = archive.oci.as_ref() else {
        return Err(ExportError::Incomplete(
            "index.json cannot be read".to_string(),
        ));
    };
    let leaves: Vec<Vec<(&oci::Descriptor, Option<usize>)>> = (0..tree.tops.len())
        .map(|t| tree.manifests_under(t))
        .collect();
    let holds = |t: usize, img: &Image| {
        let Some(d) = img.manifest_digest.as_ref().map(ToString::to_string) else {
            return false;
        };
        tree.tops.get(t).is_some_and(|top| top.desc.digest == d)
            || leaves
                .get(t)
                .is_some_and(|ls| ls.iter().any(|(desc, _)| desc.digest == d))
    };
    let mut kept: Vec<Value> = Vec::new();
    let mut placed: BTreeSet<usize> = BTreeSet::new();
    // First the entries a selected tag names, then one entry for each image still unplaced.
    for pass in 0..2 {
        for (t, (top, raw_entry)) in tree.tops.iter().zip(&raw_entries).enumerate() {
            let names = OciTree::top_names(&top.desc);
            let under: Vec<&Selected> = images
                .iter()
                .filter(|s| archive.images.get(s.image).is_some_and(|i| holds(t, i)))
                .filter(|s| pass == 0 || !placed.contains(&s.image))
                .collect();
            if under.is_empty() {
                continue;
            }
            let named_here = under.iter().any(|s| {
                s.tags.iter().any(|w| {
                    Reference::parse_normalized(w)
                        .ok()
                        .map(Reference::with_default_tag)
                        .is_some_and(|r| names.contains(&r))
                })
            });
            if pass == 0 && !named_here {
                continue;
            }
            let mut entry = raw_entry.clone();
            if !named_here {
                strip_names(&mut entry);
            }
            let my_leaves = leaves.get(t).map(Vec::as_slice).unwrap_or_default();
            let multi = my_leaves.iter().all(|(d, _)| d.digest != top.desc.digest);
            let whole = !multi || (opts.platform.is_none() && under.iter().all(|s| s.by_name));
            if whole {
                b.blobs_under(tree, top.node);
                kept.push(entry);
            } else {
                for s in &under {
                    let Some(img) = archive.images.get(s.image) else {
                        continue;
                    };
                    let want = img.manifest_digest.as_ref().map(ToString::to_string);
                    let Some((leaf_desc, leaf_node)) = my_leaves
                        .iter()
                        .find(|(d, _)| Some(&d.digest) == want.as_ref())
                    else {
                        continue;
                    };
                    let mut v = serde_json::to_value(leaf_desc).unwrap_or(Value::Null);
                    if let (Some(Value::Object(a)), Some(o)) =
                        (entry.get("annotations"), v.as_object_mut())
                    {
                        let names: Map<String, Value> = a
                            .iter()
                            .filter(|(k, _)| NAME_ANNOTATIONS.contains(&k.as_str()))
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect();
                        if !names.is_empty() {
                            let ann = o
                                .entry("annotations")
                                .or_insert_with(|| Value::Object(Map::new()));
                            if let Some(ann) = ann.as_object_mut() {
                                ann.extend(names);
                            }
                        }
                    }
                    b.blobs_under(tree, *leaf_node);
                    kept.push(v);
                }
            }
            placed.extend(under.iter().map(|s| s.image));
        }
    }
    let was_null = doc.get("manifests").is_some_and(Value::is_null);
    let manifests = if kept.is_empty() && was_null {
        Value::Null
    } else {
        Value::Array(kept)
    };
    doc.insert("manifests".to_string(), manifests);
    Ok(with_newline_like(raw, to_json(&doc)?, false))
}
