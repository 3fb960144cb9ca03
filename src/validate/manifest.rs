//! R6–R16: manifest.json and the images it names.

use std::collections::HashMap;

use crate::doc::manifest::{self, ManifestItem};
use crate::model::{Image, ImageSource, Layer};
use crate::reference::Reference;
use crate::validate::ctx::{Ctx, From};
use crate::validate::outer::Docs;
use crate::validate::{config, layers, Code, Finding};

const C_IMAGE_MANIFEST_LIMIT: u64 = 1 << 20;
const CONTAINERD_MANIFEST_LIMIT: u64 = 20 << 20;

/// Builds the images of `manifest.json`. Returns the decoded entries (for the writer guess).
pub(super) fn images(
    cx: &mut Ctx<'_>,
    docs: &Docs,
    images: &mut Vec<Image>,
) -> Option<Vec<ManifestItem>> {
    let raw_index = docs.manifest?;
    let mi = cx.resolve_ref(
        "manifest.json",
        "manifest.json",
        Code::ManifestInvalid,
        From {
            path: "manifest.json",
            offset: cx.member(raw_index).and_then(|m| m.offset),
        },
    )?;
    let m = cx.member(mi)?;
    let from = From {
        path: "manifest.json",
        offset: m.offset,
    };
    if m.size > CONTAINERD_MANIFEST_LIMIT || m.too_large {
        let f = cx.at(
            Code::ManifestTooLarge,
            mi,
            format!(
                "manifest.json is {} bytes: containerd refuses over 20 MiB{}",
                m.size,
                if m.too_large {
                    ", and it passes Limits::max_json_bytes, so it was not parsed"
                } else {
                    ""
                }
            ),
        );
        cx.push(f);
        if m.too_large {
            return None;
        }
    } else if m.size > C_IMAGE_MANIFEST_LIMIT {
        let f = cx.at(
            Code::ManifestOver1Mib,
            mi,
            format!(
                "manifest.json is {} bytes: containers/image refuses over 1 MiB",
                m.size
            ),
        );
        cx.push(f);
    }
    let Some(bytes) = cx.data(mi) else {
        let f = cx.at(
            Code::ManifestInvalid,
            mi,
            "manifest.json is not a JSON document",
        );
        cx.push(f);
        return None;
    };
    let parsed = match manifest::parse(bytes) {
        Ok(p) => p,
        Err(e) => {
            let f = cx.at(Code::ManifestInvalid, mi, e.message);
            cx.push(f);
            return None;
        }
    };
    if parsed.items.is_empty() {
        let f = cx.at(
            Code::ManifestEmpty,
            mi,
            "manifest.json is [] : docker load loads nothing",
        );
        cx.push(f);
    }
    for (n, key) in &parsed.odd_keys {
        let f = cx.at(
            Code::ManifestKeyCase,
            mi,
            format!("entry {n}: key {key:?} is matched case-insensitively by Go's decoder; writers spell it differently"),
        );
        cx.push(f);
    }
    let mut path_diff: HashMap<String, (String, usize)> = HashMap::new();
    for (n, item) in parsed.items.iter().enumerate() {
        let image = image(cx, n, item, from, &mut path_diff);
        images.push(image);
    }
    check_parents(cx, mi, images);
    Some(parsed.items)
}

fn image(
    cx: &mut Ctx<'_>,
    n: usize,
    item: &ManifestItem,
    from: From<'_>,
    path_diff: &mut HashMap<String, (String, usize)>,
) -> Image {
    let here = |f: Finding| f.at(from.path.to_string(), from.offset);
    let ci = cx.resolve_ref(
        &format!("entry {n}: Config"),
        &item.config,
        Code::ConfigMissing,
        from,
    );
    let mut id = None;
    let mut config = None;
    if let Some(ci) = ci {
        id = cx.member(ci).and_then(|m| m.digest.clone());
        config = config::load(cx, ci);
        if let (Some(hex), Some(d)) = (config::name_digest(&item.config), &id) {
            if !item.config.starts_with("blobs/") && hex != d.hex() && cx.reported_names.insert(ci)
            {
                let f = cx.at(
                    Code::ConfigNameMismatch,
                    ci,
                    format!("the config is named for sha256:{hex} but its content is {d} (no loader checks this; the image ID is {d})"),
                );
                cx.push(f);
            }
        }
    }
    for tag in item.repo_tags.iter().flatten() {
        match Reference::parse_normalized(tag) {
            Ok(r) if r.tag().is_some() => {}
            Ok(r) if r.digest().is_some() => cx.push(here(Finding::new(
                Code::InvalidRepoTag,
                format!("entry {n}: RepoTags item {tag:?} is a digest reference, not a tag (docker load: \"invalid tag\")"),
            ))),
            Ok(_) => cx.push(here(Finding::new(
                Code::RepoTagUntagged,
                format!("entry {n}: RepoTags item {tag:?} has no tag: docker load rejects it (\"invalid tag\"); go-containerregistry reads it as {tag}:latest"),
            ))),
            Err(e) => cx.push(here(Finding::new(
                Code::InvalidRepoTag,
                format!("entry {n}: RepoTags item {tag:?}: {e}"),
            ))),
        }
    }
    let diff_ids: Vec<String> = config
        .as_ref()
        .map(|c| c.diff_ids.clone())
        .unwrap_or_default();
    if config.as_ref().is_some_and(|c| c.has_rootfs) && diff_ids.len() != item.layers.len() {
        cx.push(here(Finding::new(
            Code::LayerCountMismatch,
            format!(
                "entry {n}: {} Layers but the config has {} diff_ids (docker load: \"invalid manifest, layers length mismatch: expected {}, got {}\")",
                item.layers.len(),
                diff_ids.len(),
                diff_ids.len(),
                item.layers.len()
            ),
        )));
    }
    let sources = item.layer_sources.clone().unwrap_or_default();
    for (key, desc) in &sources {
        if key.parse::<crate::Digest>().is_err() || !diff_ids.iter().any(|d| d == key) {
            cx.push(here(Finding::new(
                Code::LayerSourcesUnknown,
                format!("entry {n}: LayerSources key {key:?} is not one of the config's diff_ids"),
            )));
        }
        if crate::doc::oci::is_foreign_media_type(&desc.media_type) {
            cx.push(here(Finding::new(
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
    let mut layers_out = Vec::new();
    for (k, path) in item.layers.iter().enumerate() {
        let diff_id = diff_ids.get(k).map(String::as_str);
        let source = diff_id.and_then(|d| sources.get(d));
        let media = source
            .map(|s| s.media_type.as_str())
            .filter(|m| !m.is_empty());
        let what = format!(
            "entry {n}: layer {k}{}",
            if media.is_some_and(crate::doc::oci::is_foreign_media_type) {
                " (a foreign layer)"
            } else {
                ""
            }
        );
        let Some(li) = cx.resolve_ref(&what, path, Code::LayerMissing, from) else {
            layers_out.push(Layer {
                path: Some(path.clone()),
                diff_id: diff_id.map(str::to_string),
                media_type: media.map(str::to_string),
                foreign: media.is_some_and(crate::doc::oci::is_foreign_media_type),
                ..Layer::default()
            });
            continue;
        };
        if let Some(d) = diff_id {
            let key = crate::path::clean(path).path;
            match path_diff.get(&key) {
                Some((other, on)) if other != d => {
                    let f = cx.at(
                        Code::LayerPathReused,
                        li,
                        format!("{path:?} is layer {k} of entry {n} with DiffID {d}, and also stands for {other} in entry {on} (containers/image rejects this)"),
                    );
                    cx.push(f);
                }
                Some(_) => {}
                None => {
                    path_diff.insert(key, (d.to_string(), n));
                }
            }
        }
        let layer = layers::layer_from_member(cx, li, path, diff_id, media, true);
        layers::check_diff_id(cx, &layer, k, li);
        layers_out.push(layer);
    }
    Image {
        id,
        config_path: Some(item.config.clone()),
        manifest_digest: None,
        manifest_media_type: None,
        repo_tags: item.repo_tags.clone().unwrap_or_default(),
        repo_tags_null: item.repo_tags.is_none(),
        ref_name: None,
        parent: item.parent.clone(),
        platform: config.as_ref().map(|c| c.platform.clone()),
        config,
        layers: layers_out,
        source: ImageSource::Manifest { entry: n },
        missing: false,
        attestation: false,
    }
}

/// R14: `Parent` is honoured only when it is *another* entry of the same manifest (moby
/// `validatedParentLinks`; a self link or an outside parent is dropped), and then the child's
/// history must be the parent's plus exactly one entry (moby `checkValidParent`).
fn check_parents(cx: &mut Ctx<'_>, mi: usize, images: &[Image]) {
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
            let f = cx.at(
                Code::ParentNotInArchive,
                mi,
                format!("entry {n}: Parent {parent} {why} (docker load drops the link)"),
            );
            cx.push(f);
            continue;
        };
        let (Some(child), Some(par)) = (&img.config, &p.config) else {
            continue;
        };
        let ok = (child.history.is_empty() && par.history.is_empty())
            || (child.history.len() == par.history.len().saturating_add(1)
                && par.history.iter().zip(&child.history).all(|(a, b)| a == b));
        if !ok {
            let f = cx.at(
                Code::InvalidParent,
                mi,
                format!(
                    "entry {n}: image {parent} is not a valid parent: the child's history ({} entries) must be the parent's ({} entries) plus one (docker load: \"image is not a valid parent\")",
                    child.history.len(),
                    par.history.len()
                ),
            );
            cx.push(f);
        }
    }
}
