//! `podman load`: containers/common v0.50.1 `libimage/load.go` (`Load`) tries the transports
//! `oci`, `oci-archive`, `docker-archive` and `dir` in turn; the first that works wins.
//!
//! - `oci-archive` (containers/image v5.23.1 `oci/archive/oci_transport.go`,
//!   `oci/layout/oci_transport.go`): the archive is extracted (gzip, bzip2, xz and zstd
//!   undone), `index.json` must list exactly one image, which is copied with every blob's
//!   digest checked; its name is `io.containerd.image.name` or
//!   `org.opencontainers.image.ref.name`, normalized (`libimage/normalize.go`): a short name
//!   gets `localhost/`, an invalid one fails.
//! - `docker-archive` (containers/image v5.23.1 `docker/internal/tarfile/reader.go`, `src.go`,
//!   `docker/archive/reader.go` `List`): members found by `path.Clean` of their name, the
//!   first copy wins (absolute names are not found); `manifest.json` is required; every
//!   `RepoTags` item of every entry is parsed before anything is copied (an item without a
//!   tag refuses the whole archive); per image the config needs `rootfs`, the layer count
//!   must match, a layer file may not stand for two DiffIDs, every layer file must be there,
//!   and every DiffID is checked during the copy.
//! - Debian 12's podman 4.3.1 refuses every gzip-compressed `docker-archive` (`loading tar
//!   component manifest.json: archive/tar: invalid tar header`), although containers/image's
//!   source decompresses gzip; podman 5.x loads them.

use std::collections::HashMap;

use crate::compress::Compression;
use crate::doc::oci;
use crate::finding::Code;
use crate::model::oci::NodeKind;
use crate::rules::loaders::facts::{self, Facts, LayerFact, Outer};
use crate::rules::loaders::Run;

/// `podman load` verdicts.
pub(super) fn load(f: &Facts<'_>) -> Vec<(&'static str, bool, Run)> {
    vec![("4.3", true, run(f, false)), ("5", false, run(f, true))]
}

fn run(f: &Facts<'_>, gzip_docker_archive: bool) -> Run {
    let oci = oci_archive(f);
    if oci.failure.is_none() {
        return oci;
    }
    let docker = docker_archive(f, gzip_docker_archive);
    if docker.failure.is_none() || !docker.ids.is_empty() {
        return docker;
    }
    // Both transports failed: podman prints every transport's error; the one that decides
    // is docker-archive's when there is a manifest.json, else oci-archive's.
    let (code, words) = if f.has("manifest.json") || !f.has("index.json") {
        let (c, w) = docker.failure.clone().unwrap_or((None, String::new()));
        (c, format!("docker-archive: {w}"))
    } else {
        let (c, w) = oci.failure.clone().unwrap_or((None, String::new()));
        (c, format!("oci-archive: {w}"))
    };
    Run::default().fail(code, words)
}

/// A short name gets `localhost/`, as podman normalizes names.
fn podman_name(name: &str) -> Option<String> {
    let r = crate::reference::Reference::parse_normalized(name).ok()?;
    let r = r.with_default_tag();
    let full = r.to_string();
    // Names without a registry in what was written are podman's `localhost/`.
    let first = name.split('/').next().unwrap_or("");
    let has_registry = name.contains('/') && (first.contains(['.', ':']) || first == "localhost");
    if has_registry {
        return Some(full);
    }
    let familiar = r.familiar_string();
    Some(format!("localhost/{familiar}"))
}

fn oci_archive(f: &Facts<'_>) -> Run {
    let run = Run::default();
    match f.outer() {
        Outer::Tar => {}
        Outer::NotTar => return run.fail(Some(Code::NotATar), "archive/tar: invalid tar header"),
        Outer::Damaged => return run.fail(Some(Code::TruncatedArchive), f.damage()),
    }
    if !f.has("index.json") {
        return run.fail(
            None,
            "loading index: open index.json: no such file or directory",
        );
    }
    let Some(tree) = f.a.oci.as_ref() else {
        return run.fail(
            Some(Code::OciIndexInvalid),
            "loading index: invalid index.json",
        );
    };
    if tree.tops.len() != 1 {
        return run.fail(
            None,
            if tree.tops.is_empty() {
                "no descriptors found in index"
            } else {
                "more than one image in oci, choose an image"
            },
        );
    }
    let Some(top) = tree.tops.first() else {
        return run;
    };
    // A manifest list: the host's platform is copied.
    let leaves = tree.manifests_under(0);
    let chosen = leaves.iter().find(|(d, node)| {
        let is_manifest = node
            .and_then(|n| tree.nodes.get(n))
            .is_some_and(|n| matches!(n.kind, NodeKind::Manifest(_)));
        is_manifest
            && (leaves.len() == 1
                || d.platform
                    .as_ref()
                    .is_none_or(|p| p.os == "linux" && p.architecture == "amd64"))
    });
    let Some((_, Some(node))) = chosen else {
        return run.fail(
            Some(Code::BlobMissing),
            "no image found in manifest list for architecture amd64, OS linux",
        );
    };
    let Some(img) = f.a.images.iter().find(|i| i.oci_node == Some(*node)) else {
        return run.fail(Some(Code::OciIndexInvalid), "invalid manifest");
    };
    if let Some(stop) = copy(f, img, tree.nodes.get(*node).and_then(|n| n.member)) {
        return run.fail(stop.0, stop.1);
    }
    let name = top
        .desc
        .annotation(oci::ANN_IMAGE_NAME)
        .or_else(|| top.desc.annotation(oci::ANN_REF_NAME));
    let mut run = run;
    if let Some(n) = name {
        match podman_name(n) {
            Some(p) => run.named(p),
            None => {
                return run.fail(
                    Some(Code::InvalidRepoTag),
                    format!("normalizing name {n:?}: repository name must be lowercase"),
                )
            }
        }
    }
    run.loaded(img.api_id());
    run
}

/// Copies one image: its config and every layer present, every digest checked.
fn copy(
    f: &Facts<'_>,
    img: &crate::Image,
    manifest_member: Option<usize>,
) -> Option<(Option<Code>, String)> {
    let blob_bad = |i: usize| {
        let m = f.a.members.get(i)?;
        let claimed = crate::rules::manifest::name_digest(&m.path.to_string_lossy())?.to_string();
        let d = m.digest.as_ref()?;
        (d.hex() != claimed)
            .then(|| format!("Digest did not match, expected sha256:{claimed}, got {d}"))
    };
    if let Some(e) = manifest_member.and_then(blob_bad) {
        return Some((Some(Code::BlobDigestMismatch), e));
    }
    let Some(ci) = img.config_member else {
        return Some((Some(Code::BlobMissing), "config not found".into()));
    };
    if let Some(e) = blob_bad(ci) {
        return Some((Some(Code::BlobDigestMismatch), e));
    }
    for l in &img.layers {
        match l.index {
            None if l.foreign => {}
            None => return Some((Some(Code::BlobMissing), "layer not found".into())),
            Some(i) => {
                if let Some(e) = blob_bad(i) {
                    return Some((Some(Code::BlobDigestMismatch), e));
                }
            }
        }
    }
    None
}

fn docker_archive(f: &Facts<'_>, gzip: bool) -> Run {
    let mut run = Run::default();
    let c = f.compression();
    if c == Compression::Gzip && !gzip {
        return run.fail(
            None,
            "loading tar component manifest.json: archive/tar: invalid tar header",
        );
    }
    match f.outer() {
        Outer::Tar => {}
        Outer::NotTar => {
            return run.fail(
                Some(Code::NotATar),
                "loading tar component manifest.json: archive/tar: invalid tar header",
            )
        }
        Outer::Damaged => {
            return run.fail(
                Some(Code::TruncatedArchive),
                format!("loading tar component manifest.json: {}", f.damage()),
            )
        }
    }
    if !f.member_named("manifest.json") {
        return run.fail(
            None,
            "loading tar component manifest.json: file does not exist",
        );
    }
    match f.manifest_list() {
        Some(true) => {}
        Some(false) => return run,
        None => {
            return run.fail(
                Some(Code::ManifestInvalid),
                f.manifest_error().unwrap_or_default(),
            )
        }
    }
    let images = f.manifest_images();
    // Every tag first (docker/archive/reader.go `List`).
    for (n, img) in images.iter().enumerate() {
        for tag in &img.repo_tags {
            match facts::tag_kind(tag) {
                Ok(true) => {}
                Ok(false) => {
                    return run.fail(
                        Some(Code::RepoTagUntagged),
                        format!("Invalid tag {tag} ({}): does not contain a tag", {
                            crate::reference::Reference::parse_normalized(tag)
                                .map(|r| r.to_string())
                                .unwrap_or_default()
                        }),
                    )
                }
                Err(e) => {
                    return run.fail(
                        Some(Code::InvalidRepoTag),
                        format!("Invalid tag {tag:?} in manifest item @{n}: {e}"),
                    )
                }
            }
        }
    }
    // A layer file standing for two DiffIDs.
    let mut diff_of: HashMap<Vec<u8>, crate::Digest> = HashMap::new();
    for img in &images {
        let diffs = img
            .config
            .as_ref()
            .map(|c| c.diff_ids.clone())
            .unwrap_or_default();
        for (l, d) in img.layers.iter().zip(diffs) {
            let (Some(p), Ok(d)) = (&l.path, d.parse::<crate::Digest>()) else {
                continue;
            };
            let key = crate::path::EntryPath::clean(p.as_bytes())
                .0
                .as_bytes()
                .to_vec();
            if let Some(prev) = diff_of.insert(key, d.clone()) {
                if prev != d {
                    return run.fail(
                        Some(Code::LayerPathReused),
                        format!("Layer tarfile {p} used for two different DiffID values"),
                    );
                }
            }
        }
    }
    for img in images {
        if img.config_member.is_none() {
            return run.fail(
                Some(Code::ConfigMissing),
                format!(
                    "loading tar component {}: file does not exist",
                    img.config_path.clone().unwrap_or_default()
                ),
            );
        }
        if let Err(e) = facts::config_ok(img) {
            return run.fail(
                Some(Code::ConfigNoRootfs),
                format!("Invalid image config (rootFS is not set): {e}"),
            );
        }
        if let Some((layers, diffs)) = facts::layer_counts(img) {
            return run.fail(
                Some(Code::LayerCountMismatch),
                format!("Inconsistent layer count: {layers} in manifest, {diffs} in config"),
            );
        }
        let layers = f.layers(img);
        if layers.contains(&LayerFact::Missing) {
            return run.fail(
                Some(Code::LayerMissing),
                "Some layer tarfiles are missing in the tarball",
            );
        }
        for (l, fact) in img.layers.iter().zip(layers) {
            if let LayerFact::Present {
                diff_mismatch: true,
                ..
            } = fact
            {
                return run.fail(
                    Some(Code::DiffIdMismatch),
                    format!(
                        "Digest did not match, expected {}",
                        l.diff_id
                            .as_ref()
                            .map(ToString::to_string)
                            .unwrap_or_default()
                    ),
                );
            }
        }
        run.loaded(img.api_id());
        for tag in &img.repo_tags {
            if let Some(n) = podman_name(tag) {
                run.named(n);
            }
        }
    }
    run
}
