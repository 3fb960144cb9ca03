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
//! - `docker/internal/tarfile/reader.go` `NewReaderFromFile` decompresses a compressed file
//!   and passes the stream to `NewReaderFromStream`, which decompresses it again: a stream
//!   compressed twice loads.
//! - Debian 12's podman 4.3.1 refuses every `docker-archive` compressed once with gzip
//!   (`loading tar component manifest.json: archive/tar: invalid tar header`), although
//!   containers/image's source decompresses gzip (gzip twice loads; bzip2, xz and zstd load);
//!   podman 5.x loads them.

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
    // containers/image v5.23.1 `manifest/common.go` `validateUnambiguousManifestFormat`:
    // "rejecting ambiguous manifest, unexpected fields … in supposedly …".
    let ambiguous = |n: Option<usize>| {
        n.and_then(|n| tree.nodes.get(n))
            .is_some_and(|x| x.ambiguous.is_some())
    };
    let refuse_ambiguous = |run: Run| {
        run.fail(
            Some(Code::MediaTypeAmbiguous),
            "rejecting ambiguous manifest, unexpected fields",
        )
    };
    if ambiguous(top.node) {
        return refuse_ambiguous(run);
    }
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
    if ambiguous(Some(*node)) {
        return refuse_ambiguous(run);
    }
    let Some(img) = f.a.images.iter().find(|i| i.oci_node == Some(*node)) else {
        return run.fail(Some(Code::OciIndexInvalid), "invalid manifest");
    };
    if let Some(stop) = copy(f, img, tree.nodes.get(*node).and_then(|n| n.member)) {
        return run.fail(stop.0, stop.1);
    }
    // containers/storage's destination checks each blob's size against its descriptor
    // (containers/image v5.23.1 `storage/storage_dest.go` `putBlobToPendingFile`).
    if let Some(m) = tree.manifest(*node) {
        for d in std::iter::once(&m.config).chain(m.layers.iter()) {
            let Ok(digest) = d.digest.parse::<crate::Digest>() else {
                continue;
            };
            let path = format!("blobs/{}/{}", digest.algorithm().as_str(), digest.hex());
            let Some(i) = f.a.index.file(path.as_bytes()) else {
                continue;
            };
            if d.size >= 0 && f.size_of(Some(i)) != d.size.unsigned_abs() {
                return run.fail(
                    Some(Code::BlobSizeMismatch),
                    "writing blob: blob size mismatch",
                );
            }
        }
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

/// containers/image v5.23.1 `internal/iolimits`: `MaxTarFileManifestSize`.
const MAX_MANIFEST: u64 = 1 << 20;
/// containers/image v5.23.1 `internal/iolimits`: `MaxConfigBodySize`.
const MAX_CONFIG: u64 = 4 << 20;

/// Why copying one `docker-archive` image fails (`docker/internal/tarfile/src.go`
/// `ensureCachedDataIsPresentPrivate`, `prepareLayerData`, `GetBlob`, then containers/storage
/// applying each layer), if it fails: the config, the layer paths, then each layer, in that
/// order.
fn copy_image(f: &Facts<'_>, img: &crate::Image) -> Option<(Option<Code>, String)> {
    copy_config(f, img)
        .or_else(|| copy_layer_paths(img))
        .or_else(|| copy_layers(f, img))
}

/// The config: found, within size, with a rootfs, valid times and the layer count.
fn copy_config(f: &Facts<'_>, img: &crate::Image) -> Option<(Option<Code>, String)> {
    let config_path = img.config_path.clone().unwrap_or_default();
    let Some(ci) = f.podman_file(&config_path) else {
        return Some((
            Some(Code::ConfigMissing),
            format!("loading tar component {config_path}: file does not exist"),
        ));
    };
    if f.size_of(Some(ci)) > MAX_CONFIG {
        return Some((
            Some(Code::ConfigTooLarge),
            format!("exceeded maximum allowed size of {MAX_CONFIG} bytes"),
        ));
    }
    if let Err(e) = facts::config_ok(img) {
        return Some((
            Some(Code::ConfigNoRootfs),
            format!("Invalid image config (rootFS is not set): {e}"),
        ));
    }
    if let Err(e) = Facts::times_ok(img) {
        return Some((
            Some(Code::InvalidCreated),
            format!("decoding tar config {config_path}: {e}"),
        ));
    }
    if let Some((layers, diffs)) = facts::layer_counts(img) {
        return Some((
            Some(Code::LayerCountMismatch),
            format!("Inconsistent layer count: {layers} in manifest, {diffs} in config"),
        ));
    }
    None
}

/// The layer paths: one path per DiffID, and every DiffID a digest.
fn copy_layer_paths(img: &crate::Image) -> Option<(Option<Code>, String)> {
    // A layer file standing for two DiffIDs of this image.
    let diffs: Vec<String> = img
        .config
        .as_ref()
        .map(|c| c.diff_ids.clone())
        .unwrap_or_default();
    let mut path_of: HashMap<Vec<u8>, &str> = HashMap::new();
    let mut known: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for (l, d) in img.layers.iter().zip(&diffs) {
        if !known.insert(d.as_str()) {
            continue;
        }
        let p = l.path.clone().unwrap_or_default();
        let key = facts::go_clean(p.as_bytes());
        if path_of.insert(key, d.as_str()).is_some() {
            return Some((
                Some(Code::LayerPathReused),
                format!("Layer tarfile {p} used for two different DiffID values"),
            ));
        }
    }
    for d in &diffs {
        if d.parse::<crate::Digest>().is_err() {
            return Some((Some(Code::InvalidDigest), format!("invalid digest {d:?}")));
        }
    }
    None
}

/// Each layer: present, matching its DiffID, a readable tar podman can apply.
fn copy_layers(f: &Facts<'_>, img: &crate::Image) -> Option<(Option<Code>, String)> {
    let layers = f.layers(img);
    for (l, fact) in img.layers.iter().zip(layers) {
        let found = l.path.as_deref().and_then(|p| f.podman_file(p));
        let LayerFact::Present {
            tar_ok,
            odd_types,
            diff_mismatch,
            empty,
            apply,
            ..
        } = fact
        else {
            return Some((
                Some(Code::LayerMissing),
                "Some layer tarfiles are missing in the tarball".into(),
            ));
        };
        if found.is_none() {
            return Some((
                Some(Code::LayerMissing),
                "Some layer tarfiles are missing in the tarball".into(),
            ));
        }
        if diff_mismatch {
            return Some((
                Some(Code::DiffIdMismatch),
                format!(
                    "Digest did not match, expected {}",
                    l.diff_id
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default()
                ),
            ));
        }
        if !tar_ok && !empty {
            return Some((
                Some(Code::LayerCorrupt),
                facts::layer_words(f.a.layer_scan(l).map(|s| &s.status)).into(),
            ));
        }
        if odd_types {
            return Some((
                Some(Code::LayerUnknownType),
                "unhandled tar header type".into(),
            ));
        }
        if let Some(words) = apply {
            return Some((Some(Code::LayerCorrupt), words.into()));
        }
    }
    None
}

fn docker_archive(f: &Facts<'_>, gzip: bool) -> Run {
    let mut run = Run::default();
    let c = f.compression();
    // `NewReaderFromFile` decompresses a compressed file and hands the stream to
    // `NewReaderFromStream`, which decompresses it again: a second compression is undone too.
    let twice = f.outer_twice();
    if c == Compression::Gzip && !gzip && twice.is_none() {
        return run.fail(
            None,
            "loading tar component manifest.json: archive/tar: invalid tar header",
        );
    }
    match twice.unwrap_or_else(|| f.outer()) {
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
    if f.manifest_size() > MAX_MANIFEST {
        return run.fail(
            Some(Code::ManifestTooLarge),
            format!("exceeded maximum allowed size of {MAX_MANIFEST} bytes"),
        );
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
    // Then each image is copied in turn: a failure leaves the earlier ones loaded.
    for img in images {
        if let Some(stop) = copy_image(f, img) {
            return run.fail(stop.0, stop.1);
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
