//! R6–R16: manifest.json and the images it names.

use std::collections::HashMap;

use crate::doc::DocError;
use crate::finding::{Code, Finding};
use crate::model::{Archive, Image, ImageSource, Layout};
use crate::reference::Reference;
use crate::rules::{at, reference};

const C_IMAGE_MANIFEST_LIMIT: u64 = 1 << 20;
const CONTAINERD_MANIFEST_LIMIT: u64 = 20 << 20;

pub(super) fn check(a: &Archive, out: &mut Vec<Finding>) {
    if !matches!(a.layout, Layout::DockerArchive | Layout::DockerOci) {
        return;
    }
    let Some(doc) = &a.docs.manifest else {
        return;
    };
    let limit = a.index.max_hops();
    reference(
        a,
        &doc.reference,
        "manifest.json",
        Code::ManifestInvalid,
        limit,
        out,
    );
    let Some(mi) = doc.reference.member() else {
        return;
    };
    let Some(m) = a.members.get(mi) else { return };
    if m.size > CONTAINERD_MANIFEST_LIMIT || m.too_large() {
        out.push(at(
            a,
            Code::ManifestTooLarge,
            mi,
            format!(
                "manifest.json is {} bytes: containerd refuses over 20 MiB{}",
                m.size,
                if m.too_large() {
                    ", and it passes Limits::max_json_bytes, so it was not parsed"
                } else {
                    ""
                }
            ),
        ));
        if m.too_large() {
            return;
        }
    } else if m.size > C_IMAGE_MANIFEST_LIMIT {
        out.push(at(
            a,
            Code::ManifestOver1Mib,
            mi,
            format!(
                "manifest.json is {} bytes: containers/image refuses over 1 MiB",
                m.size
            ),
        ));
    }
    let parsed = match &doc.parsed {
        Some(Ok(p)) => p,
        Some(Err(DocError::NotADocument)) | None => {
            out.push(at(
                a,
                Code::ManifestInvalid,
                mi,
                "manifest.json is not a JSON document",
            ));
            return;
        }
        Some(Err(DocError::Syntax(e))) => {
            out.push(at(
                a,
                Code::ManifestInvalid,
                mi,
                format!("manifest.json is not JSON: {e}"),
            ));
            return;
        }
        Some(Err(e)) => {
            out.push(at(a, Code::ManifestInvalid, mi, e.to_string()));
            return;
        }
    };
    if parsed.items.is_empty() {
        out.push(at(
            a,
            Code::ManifestEmpty,
            mi,
            "manifest.json is [] : docker load loads nothing",
        ));
    }
    if parsed.skipped > 0 {
        out.push(at(
            a,
            Code::LimitExceeded,
            mi,
            format!(
                "manifest.json lists {} images, more than Limits::max_images ({}): the {} after the first {} are not checked",
                (parsed.items.len() as u64).saturating_add(parsed.skipped),
                parsed.max_images,
                parsed.skipped,
                parsed.items.len()
            ),
        ));
    }
    for (n, key) in &parsed.odd_keys {
        out.push(at(
            a,
            Code::ManifestKeyCase,
            mi,
            format!("entry {n}: key {key:?} is matched case-insensitively by Go's decoder; writers spell it differently"),
        ));
    }
    let here = |f: Finding| f.at(m.path.to_string_lossy(), m.offset);
    // Layer path → (DiffID, entry) of its first use.
    let mut path_diff: HashMap<Vec<u8>, (String, usize)> = HashMap::new();
    for img in &a.images {
        let ImageSource::Manifest { entry: n, .. } = img.source else {
            continue;
        };
        let Some(item) = parsed.items.get(n) else {
            continue;
        };
        if let Some(r) = &img.config_ref {
            reference(
                a,
                r,
                &format!("entry {n}: Config"),
                Code::ConfigMissing,
                limit,
                out,
            );
        }
        config_name(a, img, out);
        for tag in item.repo_tags.iter().flatten() {
            match Reference::parse_normalized(tag) {
                Ok(r) if r.tag().is_some() => {}
                Ok(r) if r.digest().is_some() => out.push(here(Finding::new(
                    Code::InvalidRepoTag,
                    format!("entry {n}: RepoTags item {tag:?} is a digest reference, not a tag (docker load: \"invalid tag\")"),
                ))),
                Ok(_) => out.push(here(Finding::new(
                    Code::RepoTagUntagged,
                    format!("entry {n}: RepoTags item {tag:?} has no tag: docker load rejects it (\"invalid tag\"); go-containerregistry reads it as {tag}:latest"),
                ))),
                Err(e) => out.push(here(Finding::new(
                    Code::InvalidRepoTag,
                    format!("entry {n}: RepoTags item {tag:?}: {e}"),
                ))),
            }
        }
        let diff_ids: &[String] = img.config.as_ref().map_or(&[], |c| c.diff_ids.as_slice());
        if img.config.as_ref().is_some_and(|c| c.has_rootfs) && diff_ids.len() != item.layers.len()
        {
            out.push(here(Finding::new(
                Code::LayerCountMismatch,
                format!(
                    "entry {n}: {} Layers but the config has {} diff_ids (docker load: \"invalid manifest, layers length mismatch: expected {}, got {}\")",
                    item.layers.len(),
                    diff_ids.len(),
                    item.layers.len(),
                    diff_ids.len()
                ),
            )));
        }
        let sources = item.layer_sources.clone().unwrap_or_default();
        for (key, desc) in &sources {
            if key.parse::<crate::Digest>().is_err() || !diff_ids.iter().any(|d| d == key) {
                out.push(here(Finding::new(
                    Code::LayerSourcesUnknown,
                    format!(
                        "entry {n}: LayerSources key {key:?} is not one of the config's diff_ids"
                    ),
                )));
            }
            if crate::doc::oci::is_foreign_media_type(&desc.media_type) {
                out.push(here(Finding::new(
                    Code::ForeignLayer,
                    format!(
                        "entry {n}: layer {key} is foreign ({}){}",
                        desc.media_type,
                        desc.urls
                            .as_ref()
                            .and_then(|u| u.first())
                            .map(|u| format!(", fetched from {u}"))
                            .unwrap_or_default()
                    ),
                )));
            }
        }
        for (k, layer) in img.layers.iter().enumerate() {
            let Some(r) = &layer.reference else { continue };
            let what = format!(
                "entry {n}: layer {k}{}",
                if layer.foreign {
                    " (a foreign layer)"
                } else {
                    ""
                }
            );
            reference(a, r, &what, Code::LayerMissing, limit, out);
            let (Some(li), Some(d)) = (r.member(), diff_ids.get(k)) else {
                continue;
            };
            let key = crate::path::EntryPath::clean(r.written.as_bytes())
                .0
                .as_bytes()
                .to_vec();
            match path_diff.get(&key) {
                Some((other, on)) if other != d => out.push(at(
                    a,
                    Code::LayerPathReused,
                    li,
                    format!("{:?} is layer {k} of entry {n} with DiffID {d}, and also stands for {other} in entry {on} (containers/image rejects this)", r.written),
                )),
                Some(_) => {}
                None => {
                    path_diff.insert(key, (d.clone(), n));
                }
            }
        }
    }
    parents(a, mi, out);
}

/// R12: a config named for a digest (`<hex>.json`, `sha256:<hex>`) must have that digest.
fn config_name(a: &Archive, img: &Image, out: &mut Vec<Finding>) {
    let (Some(path), Some(ci), Some(id)) = (&img.config_path, img.config_member, &img.id) else {
        return;
    };
    if path.starts_with("blobs/") {
        return;
    }
    let Some(hex) = name_digest(path) else { return };
    if hex == id.hex() {
        return;
    }
    let f = at(
        a,
        Code::ConfigNameMismatch,
        ci,
        format!("the config is named for sha256:{hex} but its content is {id} (no loader checks this; the image ID is {id})"),
    );
    if !out.contains(&f) {
        out.push(f);
    }
}

/// The hex a name encodes (`<hex>.json`, `sha256:<hex>`, `blobs/sha256/<hex>`), if any.
pub(crate) fn name_digest(path: &str) -> Option<&str> {
    let base = path.rsplit('/').next().unwrap_or(path);
    let hex = base
        .strip_suffix(".json")
        .or_else(|| base.strip_prefix("sha256:"))
        .or_else(|| path.strip_prefix("blobs/sha256/"))?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

/// R14: `Parent` is honoured only when it is *another* entry of the same manifest (moby
/// `validatedParentLinks`; a self link or an outside parent is dropped), and then the child's
/// history must be the parent's plus exactly one entry (moby `checkValidParent`).
fn parents(a: &Archive, mi: usize, out: &mut Vec<Finding>) {
    let images: Vec<&Image> = a
        .images
        .iter()
        .filter(|i| matches!(i.source, ImageSource::Manifest { .. }))
        .collect();
    for (n, img) in images.iter().enumerate() {
        let Some(parent) = &img.parent else { continue };
        let Some(p) = images.iter().enumerate().find_map(|(k, o)| {
            (k != n && o.id.as_ref().is_some_and(|id| id.to_string() == *parent) && o.id != img.id)
                .then_some(o)
        }) else {
            let why = if img.id.as_ref().is_some_and(|id| id.to_string() == *parent) {
                "is the image itself"
            } else {
                "is not an image of this archive"
            };
            out.push(at(
                a,
                Code::ParentNotInArchive,
                mi,
                format!("entry {n}: Parent {parent} {why} (docker load drops the link)"),
            ));
            continue;
        };
        let (Some(child), Some(par)) = (&img.config, &p.config) else {
            continue;
        };
        let ok = (child.history.is_empty() && par.history.is_empty())
            || (child.history.len() == par.history.len().saturating_add(1)
                && par.history.iter().zip(&child.history).all(|(x, y)| x == y));
        if !ok {
            out.push(at(
                a,
                Code::InvalidParent,
                mi,
                format!(
                    "entry {n}: image {parent} is not a valid parent: the child's history ({} entries) must be the parent's ({} entries) plus one (docker load: \"image is not a valid parent\")",
                    child.history.len(),
                    par.history.len()
                ),
            ));
        }
    }
}
