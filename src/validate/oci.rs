//! R30–R34: OCI image layout parts (`oci-layout`, `index.json`, blobs) and their agreement
//! with `manifest.json`.

use crate::doc::oci::{self, Descriptor, Document, ImageManifest, Platform};
use crate::model::{Image, ImageSource, Layer};
use crate::reference::Reference;
use crate::validate::ctx::Ctx;
use crate::validate::outer::Docs;
use crate::validate::{config, layers, Code, Finding, Severity};

pub(super) fn check(cx: &mut Ctx<'_>, docs: &Docs, out: &mut Vec<Image>) {
    // R30: oci-layout.
    match docs.oci_layout.and_then(|_| cx.file("oci-layout")) {
        Some(i) => {
            let parsed = cx
                .data(i)
                .ok_or_else(|| "is not a JSON document".to_string())
                .and_then(|b| {
                    serde_json::from_slice::<oci::OciLayout>(b).map_err(|e| e.to_string())
                });
            match parsed {
                Err(e) => {
                    let f = cx.at(Code::OciLayoutInvalid, i, format!("oci-layout: {e}"));
                    cx.push(f);
                }
                Ok(l) if l.image_layout_version != "1.0.0" => {
                    let f = cx.at(
                        Code::OciLayoutVersion,
                        i,
                        format!("imageLayoutVersion is {:?}; containerd accepts only \"1.0.0\" (\"unsupported OCI version\")", l.image_layout_version),
                    );
                    cx.push(f);
                }
                Ok(_) => {}
            }
        }
        None => {
            let f = Finding::new(
                Code::OciLayoutInvalid,
                "index.json without oci-layout: the OCI image layout requires both",
            );
            let f = match docs.index.and_then(|i| cx.member(i)) {
                Some(m) => f.at(m.path.clone(), m.offset),
                None => f,
            };
            cx.push(f);
        }
    }
    check_blob_names(cx);
    // R31: index.json.
    let Some(ii) = docs.index.and_then(|_| cx.file("index.json")) else {
        cx.push(Finding::new(
            Code::OciIndexMissing,
            "oci-layout without index.json: the OCI image layout requires it",
        ));
        return;
    };
    let index = match cx
        .data(ii)
        .ok_or_else(|| "is not a JSON document".to_string())
        .and_then(|b| oci::parse_document(b, oci::MEDIA_OCI_INDEX))
    {
        Ok(Document::Index(ix)) => ix,
        Ok(Document::Manifest(_)) => {
            let f = cx.at(
                Code::OciIndexInvalid,
                ii,
                "index.json is an image manifest, not an image index",
            );
            cx.push(f);
            return;
        }
        Err(e) => {
            let f = cx.at(Code::OciIndexInvalid, ii, format!("index.json {e}"));
            cx.push(f);
            return;
        }
    };
    let from = Loc {
        path: "index.json".to_string(),
        offset: cx.member(ii).and_then(|m| m.offset),
    };
    for d in index.manifests.iter().flatten() {
        walk(cx, d, &from, 0, None, out);
    }
}

#[derive(Clone)]
struct Loc {
    path: String,
    offset: Option<u64>,
}

impl Loc {
    fn put(&self, f: Finding) -> Finding {
        f.at(self.path.clone(), self.offset)
    }
}

/// R32: every `blobs/<alg>/<encoded>` file must hash to its name.
fn check_blob_names(cx: &mut Ctx<'_>) {
    let mut out = Vec::new();
    for (i, m) in cx.members.iter().enumerate() {
        let Some(rest) = m.path.strip_prefix("blobs/") else {
            continue;
        };
        if !m.is_file() {
            continue;
        }
        let Some((alg, enc)) = rest.split_once('/') else {
            continue;
        };
        let claimed = match format!("{alg}:{enc}").parse::<crate::Digest>() {
            Ok(d) => d,
            Err(e) => {
                out.push(cx.at(Code::InvalidDigest, i, format!("blob name: {e}")));
                continue;
            }
        };
        if claimed.algorithm() != crate::digest::Algorithm::Sha256 {
            continue; // only sha256 is computed while streaming
        }
        if let Some(d) = &m.digest {
            if *d != claimed {
                out.push(cx.at(
                    Code::BlobDigestMismatch,
                    i,
                    format!("the blob's content is {d}, not the {claimed} its name claims"),
                ));
            }
        }
    }
    cx.findings.extend(out);
}

/// Looks a descriptor's blob up, reporting R22 (bad digest), R33 (missing) and R32 (size).
fn blob(
    cx: &mut Ctx<'_>,
    d: &Descriptor,
    what: &str,
    from: &Loc,
    foreign: bool,
) -> Result<usize, bool> {
    let digest = match d.digest.parse::<crate::Digest>() {
        Ok(x) => x,
        Err(e) => {
            cx.push(from.put(Finding::new(Code::InvalidDigest, format!("{what}: {e}"))));
            return Err(false);
        }
    };
    let path = format!("blobs/{}/{}", digest.algorithm().as_str(), digest.hex());
    let Some(i) = cx.file(&path) else {
        cx.push(from.put(Finding::new(
            Code::BlobMissing,
            format!(
                "{what} {digest} is not in the archive{}",
                if foreign {
                    " (a non-distributable layer: writers may leave it out)"
                } else {
                    ""
                }
            ),
        )));
        return Err(true);
    };
    if let Some(m) = cx.member(i) {
        if d.size < 0 || m.size != d.size.unsigned_abs() {
            let f = cx.at(
                Code::BlobSizeMismatch,
                i,
                format!(
                    "{what}: the descriptor says {} bytes, the blob has {}",
                    d.size, m.size
                ),
            );
            cx.push(f);
        }
    }
    Ok(i)
}

fn walk(
    cx: &mut Ctx<'_>,
    d: &Descriptor,
    from: &Loc,
    depth: u32,
    parent_ref: Option<&str>,
    out: &mut Vec<Image>,
) {
    let ref_name = d
        .annotation(oci::ANN_REF_NAME)
        .or(parent_ref)
        .map(str::to_string);
    let image_name = d.annotation(oci::ANN_IMAGE_NAME).map(str::to_string);
    let attestation = d.annotation(oci::ANN_REFERENCE_TYPE) == Some("attestation-manifest")
        || d.platform
            .as_ref()
            .is_some_and(|p| p.os == "unknown" && p.architecture == "unknown");
    let mut image = Image {
        id: None,
        config_path: None,
        manifest_digest: Some(d.digest.clone()),
        manifest_media_type: Some(d.media_type.clone()).filter(|m| !m.is_empty()),
        repo_tags: Vec::new(),
        repo_tags_null: false,
        ref_name: ref_name.clone(),
        parent: None,
        platform: d.platform.clone(),
        config: None,
        layers: Vec::new(),
        source: ImageSource::OciIndex {
            manifest: d.digest.clone(),
        },
        missing: false,
        attestation,
    };
    image.repo_tags = names(cx, from, image_name.as_deref(), ref_name.as_deref());
    let bi = match blob(cx, d, "manifest", from, false) {
        Ok(i) => i,
        Err(true) => {
            image.missing = true;
            out.push(image);
            return;
        }
        Err(false) => return,
    };
    let here = Loc {
        path: cx.member(bi).map(|m| m.path.clone()).unwrap_or_default(),
        offset: cx.member(bi).and_then(|m| m.offset),
    };
    let doc = match cx
        .data(bi)
        .ok_or_else(|| "is not a JSON document".to_string())
        .and_then(|b| oci::parse_document(b, &d.media_type))
    {
        Ok(doc) => doc,
        Err(e) => {
            let f = cx.at(
                Code::OciIndexInvalid,
                bi,
                format!("the blob of {} {e}", d.digest),
            );
            cx.push(f);
            return;
        }
    };
    match doc {
        Document::Index(ix) => {
            if depth >= cx.limits.max_index_depth {
                let f = cx.at(
                    Code::OciIndexInvalid,
                    bi,
                    format!(
                        "indexes nest deeper than Limits::max_index_depth ({})",
                        cx.limits.max_index_depth
                    ),
                );
                cx.push(f);
                return;
            }
            for child in ix.manifests.iter().flatten() {
                walk(
                    cx,
                    child,
                    &here,
                    depth.saturating_add(1),
                    ref_name.as_deref(),
                    out,
                );
            }
        }
        Document::Manifest(m) => {
            manifest_image(cx, &m, &here, &mut image);
            out.push(image);
        }
    }
}

/// Names of an index.json descriptor: the containerd image name, else a ref.name that is a
/// whole reference (`name:tag`); a ref.name that is only a tag names no repository.
fn names(
    cx: &mut Ctx<'_>,
    from: &Loc,
    image_name: Option<&str>,
    ref_name: Option<&str>,
) -> Vec<String> {
    if let Some(n) = image_name {
        return match Reference::parse_normalized(n) {
            Ok(_) => vec![n.to_string()],
            Err(e) => {
                cx.push(
                    from.put(
                        Finding::new(
                            Code::InvalidRepoTag,
                            format!("{} {n:?}: {e}", oci::ANN_IMAGE_NAME),
                        )
                        .with_severity(Severity::Warning),
                    ),
                );
                Vec::new()
            }
        };
    }
    let Some(r) = ref_name else {
        return Vec::new();
    };
    let looks_full = r.contains(':') || r.contains('/');
    match Reference::parse_normalized(r) {
        Ok(p) if looks_full && p.tag().is_some() => vec![r.to_string()],
        Ok(_) => Vec::new(),
        Err(e) => {
            cx.push(from.put(
                Finding::new(
                    Code::InvalidRepoTag,
                    format!("{} {r:?} is not a valid docker reference ({e}); docker load would leave the image unnamed", oci::ANN_REF_NAME),
                )
                .with_severity(Severity::Warning),
            ));
            Vec::new()
        }
    }
}

fn manifest_image(cx: &mut Ctx<'_>, m: &ImageManifest, here: &Loc, image: &mut Image) {
    if let Ok(ci) = blob(cx, &m.config, "config", here, false) {
        image.id = cx.member(ci).and_then(|x| x.digest.clone());
        image.config_path = cx.member(ci).map(|x| x.path.clone());
        if !image.attestation {
            image.config = config::load(cx, ci);
        } else {
            image.config = cx.data(ci).and_then(|b| crate::doc::config::parse(b).ok());
        }
    }
    if let Some(c) = &image.config {
        if !c.platform.os.is_empty() {
            image.platform = Some(Platform {
                architecture: c.platform.architecture.clone(),
                os: c.platform.os.clone(),
                os_version: c.platform.os_version.clone(),
                variant: c.platform.variant.clone(),
            });
        }
    }
    let diff_ids: Vec<String> = image
        .config
        .as_ref()
        .map(|c| c.diff_ids.clone())
        .unwrap_or_default();
    let tar_layers = m
        .layers
        .iter()
        .all(|l| oci::is_layer_media_type(&l.media_type));
    if !image.attestation
        && tar_layers
        && image.config.as_ref().is_some_and(|c| c.has_rootfs)
        && diff_ids.len() != m.layers.len()
    {
        cx.push(here.put(Finding::new(
            Code::LayerCountMismatch,
            format!(
                "the manifest has {} layers but the config has {} diff_ids",
                m.layers.len(),
                diff_ids.len()
            ),
        )));
    }
    for (k, ld) in m.layers.iter().enumerate() {
        let foreign = oci::is_foreign_media_type(&ld.media_type);
        let diff_id = diff_ids.get(k).map(String::as_str);
        match blob(cx, ld, &format!("layer {k}"), here, foreign) {
            Ok(li) => {
                let path = cx.member(li).map(|x| x.path.clone()).unwrap_or_default();
                let is_tar = oci::is_layer_media_type(&ld.media_type) && !image.attestation;
                let layer =
                    layers::layer_from_member(cx, li, &path, diff_id, Some(&ld.media_type), is_tar);
                if is_tar {
                    layers::check_diff_id(cx, &layer, k, li);
                }
                image.layers.push(layer);
            }
            Err(_) => image.layers.push(Layer {
                path: ld
                    .digest
                    .parse::<crate::Digest>()
                    .ok()
                    .map(|d| format!("blobs/{}/{}", d.algorithm().as_str(), d.hex())),
                diff_id: diff_id.map(str::to_string),
                media_type: Some(ld.media_type.clone()),
                foreign,
                ..Layer::default()
            }),
        }
    }
}

/// R34: each manifest.json image should have an OCI manifest in index.json with the same
/// config and layers (Docker 25+, containerd).
pub(super) fn cross_check(cx: &mut Ctx<'_>, images: &mut [Image], oci_images: &[Image]) {
    let mi = cx.index.get("manifest.json");
    for (n, img) in images.iter_mut().enumerate() {
        let Some(id) = &img.id else { continue };
        let same_config: Vec<&Image> = oci_images
            .iter()
            .filter(|o| !o.missing && o.id.as_ref() == Some(id))
            .collect();
        let digests = |ls: &[Layer]| ls.iter().map(|l| l.digest.clone()).collect::<Vec<_>>();
        let mine = digests(&img.layers);
        match same_config.iter().find(|o| digests(&o.layers) == mine) {
            Some(o) => {
                img.manifest_digest = o.manifest_digest.clone();
                img.manifest_media_type = o.manifest_media_type.clone();
                img.ref_name = o.ref_name.clone();
            }
            None => {
                let msg = if same_config.is_empty() {
                    format!("manifest.json entry {n} (config {id}) has no manifest in index.json (Docker 25.0.0–25.0.2 leave untagged images out)")
                } else {
                    format!("manifest.json entry {n} and its index.json manifest list different layers (Docker 25.0.0 wrote them in random order)")
                };
                let f = match mi {
                    Some(i) => cx.at(Code::IndexManifestMismatch, i, msg),
                    None => Finding::new(Code::IndexManifestMismatch, msg),
                };
                cx.push(f);
            }
        }
    }
}
