//! R30–R34: OCI image layout parts (`oci-layout`, `index.json`, blobs) and their agreement
//! with `manifest.json`.

use crate::doc::oci::{self, Descriptor};
use crate::doc::DocError;
use crate::finding::{Code, Finding, Severity};
use crate::model::oci::{Edge, NodeKind, OciTree};
use crate::model::{Archive, IndexMatch, Layout};
use crate::reference::Reference;
use crate::rules::{at, layers};

pub(super) fn check(a: &Archive, out: &mut Vec<Finding>) {
    if a.docs.oci_layout.is_none() && a.docs.index.is_none() {
        return;
    }
    layout_file(a, out);
    blob_names(a, out);
    let Some(doc) = &a.docs.index else {
        out.push(Finding::new(
            Code::OciIndexMissing,
            "oci-layout without index.json: the OCI image layout requires it",
        ));
        return;
    };
    let Some(ii) = doc.reference.member() else {
        out.push(Finding::new(
            Code::OciIndexMissing,
            "oci-layout without index.json: the OCI image layout requires it",
        ));
        return;
    };
    // index.json itself, which the blob checks do not see (umoci CVE-2021-41190).
    if let Some(why) = a
        .members
        .get(ii)
        .and_then(|m| m.data())
        .and_then(oci::index_json_ambiguity)
    {
        out.push(at(a, Code::MediaTypeAmbiguous, ii, why));
    }
    match &doc.parsed {
        Some(Ok(_)) => {}
        Some(Err(e)) => {
            let msg = match e {
                DocError::Shape { message, .. } if message.starts_with("index.json") => {
                    message.clone()
                }
                e => format!("index.json {e}"),
            };
            out.push(at(a, Code::OciIndexInvalid, ii, msg));
            return;
        }
        None => return,
    }
    let Some(tree) = &a.oci else { return };
    let from = Here::member(a, ii);
    for top in &tree.tops {
        edge(a, tree, top, &from, out);
    }
    for (n, node) in tree.nodes.iter().enumerate() {
        let Some(bi) = node.member else { continue };
        let here = Here::member(a, bi);
        if let Some(why) = &node.ambiguous {
            out.push(at(
                a,
                Code::MediaTypeAmbiguous,
                bi,
                format!("the blob of {}: {why}", node.digest),
            ));
        }
        match &node.kind {
            NodeKind::Invalid(e) => out.push(at(
                a,
                Code::OciIndexInvalid,
                bi,
                format!("the blob of {} {e}", node.digest),
            )),
            NodeKind::TooDeep => out.push(at(
                a,
                Code::OciIndexInvalid,
                bi,
                "indexes nest deeper than Limits::max_index_depth".to_string(),
            )),
            NodeKind::Index { children } => {
                for c in children {
                    edge(a, tree, c, &here, out);
                }
            }
            NodeKind::Manifest(m) => manifest(a, tree, n, m, &here, out),
            NodeKind::Missing => {}
        }
    }
    if a.layout == Layout::DockerOci {
        cross_check(a, out);
    }
}

/// Where a descriptor was written.
struct Here {
    path: String,
    offset: Option<u64>,
}

impl Here {
    fn member(a: &Archive, i: usize) -> Here {
        let l = crate::model::build::loc(&a.members, i);
        Here {
            path: l.path,
            offset: l.offset,
        }
    }

    fn put(&self, f: Finding) -> Finding {
        f.at(self.path.clone(), self.offset)
    }
}

/// R30: oci-layout.
fn layout_file(a: &Archive, out: &mut Vec<Finding>) {
    match &a.docs.oci_layout {
        Some(doc) => {
            let Some(i) = doc.reference.member() else {
                out.push(at(
                    a,
                    Code::OciLayoutInvalid,
                    doc.named,
                    "oci-layout: is not a regular file",
                ));
                return;
            };
            match &doc.parsed {
                Some(Err(e)) => {
                    let msg = match e {
                        DocError::Syntax(m) => m.clone(),
                        e => e.to_string(),
                    };
                    out.push(at(a, Code::OciLayoutInvalid, i, format!("oci-layout: {msg}")));
                }
                Some(Ok(l)) if l.image_layout_version != "1.0.0" => out.push(at(
                    a,
                    Code::OciLayoutVersion,
                    i,
                    format!("imageLayoutVersion is {:?}; containerd accepts only \"1.0.0\" (\"unsupported OCI version\")", l.image_layout_version),
                )),
                _ => {}
            }
        }
        None => {
            let f = Finding::new(
                Code::OciLayoutInvalid,
                "index.json without oci-layout: the OCI image layout requires both",
            );
            out.push(match a.docs.index.as_ref() {
                Some(d) => match a.members.get(d.named) {
                    Some(m) => f.at(m.path.to_string_lossy(), m.offset),
                    None => f,
                },
                None => f,
            });
        }
    }
}

/// R32: every `blobs/<alg>/<encoded>` file must hash to its name.
fn blob_names(a: &Archive, out: &mut Vec<Finding>) {
    for (i, m) in a.members.iter().enumerate() {
        let p = m.path.to_string_lossy();
        let Some(rest) = p.strip_prefix("blobs/") else {
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
                out.push(
                    at(a, Code::InvalidDigest, i, format!("blob name: {e}"))
                        .with_severity(Severity::Warning),
                );
                continue;
            }
        };
        if claimed.algorithm() != crate::digest::Algorithm::Sha256 {
            continue; // only sha256 is computed while streaming
        }
        if let Some(d) = &m.digest {
            if *d != claimed {
                out.push(at(
                    a,
                    Code::BlobDigestMismatch,
                    i,
                    format!("the blob's content is {d}, not the {claimed} its name claims"),
                ));
            }
        }
    }
}

/// A descriptor: R22 (bad digest), R33 (missing), R32 (size), and its names.
fn edge(a: &Archive, tree: &OciTree, e: &Edge, from: &Here, out: &mut Vec<Finding>) {
    let d = &e.desc;
    let what = if d.is_index() { "index" } else { "manifest" };
    descriptor(a, tree, e, what, false, from, out);
    names(d, from, out);
}

/// Checks that a descriptor names a blob of its size. `what` names the blob's role.
fn descriptor(
    a: &Archive,
    tree: &OciTree,
    e: &Edge,
    what: &str,
    foreign: bool,
    from: &Here,
    out: &mut Vec<Finding>,
) {
    let d = &e.desc;
    let Some(n) = e.node.and_then(|n| tree.nodes.get(n)) else {
        if let Err(err) = d.digest.parse::<crate::Digest>() {
            out.push(from.put(Finding::new(Code::InvalidDigest, format!("{what}: {err}"))));
        }
        return;
    };
    blob(a, d, n.member, &n.digest, what, foreign, from, out);
}

#[allow(clippy::too_many_arguments)]
fn blob(
    a: &Archive,
    d: &Descriptor,
    member: Option<usize>,
    digest: &crate::Digest,
    what: &str,
    foreign: bool,
    from: &Here,
    out: &mut Vec<Finding>,
) {
    let Some(i) = member else {
        out.push(from.put(Finding::new(
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
        return;
    };
    if let Some(m) = a.members.get(i) {
        if d.size < 0 || m.size != d.size.unsigned_abs() {
            out.push(at(
                a,
                Code::BlobSizeMismatch,
                i,
                format!(
                    "{what}: the descriptor says {} bytes, the blob has {}",
                    d.size, m.size
                ),
            ));
        }
    }
}

/// Names of an index descriptor that do not parse (a warning: docker leaves the image
/// unnamed).
fn names(d: &Descriptor, from: &Here, out: &mut Vec<Finding>) {
    if let Some(n) = d.annotation(oci::ANN_IMAGE_NAME) {
        if let Err(e) = Reference::parse_normalized(n) {
            out.push(
                from.put(
                    Finding::new(
                        Code::InvalidRepoTag,
                        format!("{} {n:?}: {e}", oci::ANN_IMAGE_NAME),
                    )
                    .with_severity(Severity::Warning),
                ),
            );
        }
        return;
    }
    let Some(r) = d.annotation(oci::ANN_REF_NAME) else {
        return;
    };
    if let Err(e) = Reference::parse_normalized(r) {
        out.push(from.put(
            Finding::new(
                Code::InvalidRepoTag,
                format!("{} {r:?} is not a valid docker reference ({e}); docker load would leave the image unnamed", oci::ANN_REF_NAME),
            )
            .with_severity(Severity::Warning),
        ));
    }
}

/// An image manifest: its config and layers are present and of their sizes, and the layers
/// are what the config says.
fn manifest(
    a: &Archive,
    tree: &OciTree,
    n: usize,
    m: &oci::ImageManifest,
    here: &Here,
    out: &mut Vec<Finding>,
) {
    let attestation = tree.nodes.get(n).is_some_and(|x| x.attestation);
    let config = config_blob(a, &m.config);
    match &config {
        Ok((i, digest)) => blob(a, &m.config, *i, digest, "config", false, here, out),
        Err(e) => out.push(here.put(Finding::new(Code::InvalidDigest, format!("config: {e}")))),
    }
    let cfg = config
        .ok()
        .and_then(|(i, _)| i)
        .and_then(|i| a.docs.configs.get(&i))
        .and_then(|c| c.as_ref().ok());
    let diff_ids: &[String] = cfg.map_or(&[], |c| c.diff_ids.as_slice());
    let tar_layers = m
        .layers
        .iter()
        .all(|l| oci::is_layer_media_type(&l.media_type));
    if !attestation
        && tar_layers
        && cfg.is_some_and(|c| c.has_rootfs)
        && diff_ids.len() != m.layers.len()
    {
        out.push(here.put(Finding::new(
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
        let what = format!("layer {k}");
        let (li, digest) = match config_blob(a, ld) {
            Ok(x) => x,
            Err(e) => {
                out.push(here.put(Finding::new(Code::InvalidDigest, format!("{what}: {e}"))));
                continue;
            }
        };
        blob(a, ld, li, &digest, &what, foreign, here, out);
        let Some(li) = li else { continue };
        let is_tar = oci::is_layer_media_type(&ld.media_type) && !attestation;
        if is_tar {
            layers::scan(a, li, out);
            let expected = diff_ids
                .get(k)
                .and_then(|d| d.parse::<crate::Digest>().ok());
            layers::diff_id(
                a,
                li,
                k,
                &format!("blobs/{}/{}", digest.algorithm().as_str(), digest.hex()),
                expected.as_ref(),
                out,
            );
        }
    }
}

/// The member a descriptor's digest names, with the parsed digest.
fn config_blob(
    a: &Archive,
    d: &Descriptor,
) -> Result<(Option<usize>, crate::Digest), crate::digest::DigestError> {
    let digest: crate::Digest = d.digest.parse()?;
    let path = format!("blobs/{}/{}", digest.algorithm().as_str(), digest.hex());
    Ok((a.index.file(path.as_bytes()), digest))
}

/// R34: each manifest.json image should have an OCI manifest in index.json with the same
/// config and layers (Docker 25+, containerd).
fn cross_check(a: &Archive, out: &mut Vec<Finding>) {
    let mi = a.docs.manifest.as_ref().map(|d| d.named);
    for (n, img) in a.images.iter().enumerate() {
        let (Some(id), Some(m)) = (&img.id, img.index_match) else {
            continue;
        };
        let msg = match m {
            IndexMatch::Matched => continue,
            IndexMatch::NoManifest => format!("manifest.json entry {n} (config {id}) has no manifest in index.json (Docker 25.0.0–25.0.2 leave untagged images out)"),
            IndexMatch::OtherLayers => format!("manifest.json entry {n} and its index.json manifest list different layers (Docker 25.0.0 wrote them in random order)"),
        };
        out.push(match mi {
            Some(i) => at(a, Code::IndexManifestMismatch, i, msg),
            None => Finding::new(Code::IndexManifestMismatch, msg),
        });
    }
}
