//! containerd's archive importer: `ctr images import` and Docker's containerd image store.
//!
//! containerd v1.6.20 `images/archive/importer.go` (`ImportIndex`, `resolveLayers`),
//! `images/archive/reference.go` (`refTranslator`), `cmd/ctr/commands/images/import.go`,
//! `import.go` (`Import`), `images/image.go` (`Manifest`), `rootfs/apply.go`:
//!
//! - the tar is read as it comes: `ctr import` 1.6 and 1.7 (without `--local=false`) do not
//!   decompress it; 2.x decompresses gzip and zstd (v2.0.0
//!   `core/transfer/archive/importer.go`);
//! - members are regular files keyed by Go's `path.Clean` of their name (a leading `/` kept,
//!   so absolute names are not found), symlinks followed, the last copy kept;
//! - with `oci-layout` (whose version must be `1.0.0`) `index.json` is the index and
//!   `manifest.json` is ignored; otherwise `manifest.json` is turned into an index, each
//!   entry's config and layers required; neither: `unrecognized image format`;
//! - an entry is named by `io.containerd.image.name`, else `org.opencontainers.image.ref.name`
//!   (kept verbatim when it holds `/`, `:` or `@`, else `import-<date>:<value>`), else by its
//!   `RepoTags` (normalized, `:latest` added); an unnamed entry makes no image (Docker names
//!   it `moby-dangling@<digest>`);
//! - every platform is walked (`--all-platforms`): an absent blob fails the import (Docker
//!   skips absent platforms), an empty walk is `image might be filtered out`;
//! - then the host platform is unpacked: no host manifest, a layer count that differs from
//!   the config's, or a DiffID that differs fail after the images exist (a partial load).

use crate::compress::Compression;
use crate::doc::oci;
use crate::finding::Code;
use crate::model::oci::NodeKind;
use crate::rules::loaders::facts::{self, Facts, LayerFact, Outer};
use crate::rules::loaders::Run;

/// How an importer is run.
pub(crate) struct Importer {
    /// The outer compressions it undoes.
    pub decompresses: &'static [Compression],
    /// Absent blobs of other platforms are skipped.
    pub skip_missing: bool,
    /// Unnamed entries get a dangling name (Docker) instead of no image.
    pub dangling_names: bool,
    /// A failed unpack fails the load (else it is only reported).
    pub unpack_fails: bool,
}

/// `ctr images import --all-platforms` verdicts.
pub(super) fn import(f: &Facts<'_>) -> Vec<(&'static str, bool, Run)> {
    let ctr = |decompresses| Importer {
        decompresses,
        skip_missing: false,
        dangling_names: false,
        unpack_fails: true,
    };
    vec![
        ("1.6", true, importer(f, ctr(&[]))),
        ("1.7", false, importer(f, ctr(&[]))),
        (
            "2",
            false,
            importer(f, ctr(&[Compression::Gzip, Compression::Zstd])),
        ),
    ]
}

/// The host platform the tests and most installs run on.
const HOST_OS: &str = "linux";
const HOST_ARCH: &str = "amd64";

/// Runs the importer on the archive.
pub(crate) fn importer(f: &Facts<'_>, o: Importer) -> Run {
    let run = Run::default();
    match gate(f, &o) {
        Gate::Fail(code, message) => run.fail(code, message),
        Gate::Oci => oci_layout(f, &o, run),
        Gate::Manifest => entries(f, &o, run),
    }
}

/// Where `ImportIndex` goes once it has read the tar: an OCI layout, `manifest.json`, or a
/// failure.
enum Gate {
    Oci,
    Manifest,
    Fail(Option<Code>, String),
}

impl Gate {
    fn fail(code: Option<Code>, message: impl Into<String>) -> Gate {
        Gate::Fail(code, message.into())
    }
}

/// The archive as a whole: its compression, its tar, `oci-layout` and `manifest.json`.
fn gate(f: &Facts<'_>, o: &Importer) -> Gate {
    let c = f.compression();
    if c.is_compressed() && !o.decompresses.contains(&c) {
        return Gate::fail(None, "archive/tar: invalid tar header");
    }
    // `ImportIndex` reads the tar to its end-of-archive marker and no further.
    match f.outer_to_end_marker() {
        Outer::Tar => {}
        Outer::NotTar if f.a.outer.head == Some(crate::scan::Head::Empty) => {
            return Gate::fail(Some(Code::EmptyInput), "unrecognized image format")
        }
        Outer::NotTar => return Gate::fail(Some(Code::NotATar), "archive/tar: invalid tar header"),
        Outer::Damaged => return Gate::fail(Some(Code::TruncatedArchive), f.damage()),
    }
    // `oci-layout` decides when it names a version; `{}` falls through to `manifest.json`.
    if f.regular_named("oci-layout") {
        match f.a.docs.oci_layout.as_ref().and_then(|d| d.parsed.as_ref()) {
            Some(Ok(l)) if l.image_layout_version.is_empty() => {}
            Some(Ok(_)) => return Gate::Oci,
            _ => {
                return Gate::fail(
                    Some(Code::OciLayoutInvalid),
                    "untar oci layout: invalid JSON",
                )
            }
        }
    }
    if !f.regular_named("manifest.json") {
        return Gate::fail(Some(Code::NotAnImage), "unrecognized image format");
    }
    match f.manifest_list() {
        Some(true) => {}
        Some(false) => return Gate::fail(Some(Code::ManifestInvalid), "unrecognized image format"),
        None => {
            return Gate::fail(
                Some(Code::ManifestInvalid),
                format!("untar manifest: {}", f.manifest_error().unwrap_or_default()),
            )
        }
    }
    if let Some((name, target)) = f.containerd_symlink_without_target() {
        return Gate::fail(
            Some(Code::LayerMissing),
            format!("no target for symlink layer from {name:?} to {target:?}"),
        );
    }
    Gate::Manifest
}

/// Each `manifest.json` entry in turn (config, layers, platform, names), then the unpack of
/// the images made.
fn entries(f: &Facts<'_>, o: &Importer, mut run: Run) -> Run {
    // Each entry in turn: config, layers, platform (the config decoded), names.
    let mut created = Vec::new();
    let mut entries = 0usize;
    for img in f.manifest_images() {
        if img.config_member.is_none() {
            return run.fail(
                Some(Code::ConfigMissing),
                format!(
                    "image config {:?} not found",
                    img.config_path.clone().unwrap_or_default()
                ),
            );
        }
        for (l, fact) in img.layers.iter().zip(f.layers(img)) {
            if fact == LayerFact::Missing {
                return run.fail(
                    Some(Code::LayerMissing),
                    format!(
                        "failed to resolve layers: layer {:?} not found",
                        l.path.clone().unwrap_or_default()
                    ),
                );
            }
        }
        if img.config.is_none() {
            return run.fail(
                Some(Code::ConfigInvalid),
                "unable to resolve platform: invalid image config",
            );
        }
        if let Err(e) = Facts::times_ok(img) {
            return run.fail(
                Some(Code::InvalidCreated),
                format!("unable to resolve platform: {e}"),
            );
        }
        let mut named = false;
        for tag in &img.repo_tags {
            match crate::model::identity::normalize_tag(tag) {
                Some(r) => {
                    named = true;
                    run.named(r.to_string());
                    // One image per entry (its names all point at the manifest made of it).
                    run.loaded(img.api_id());
                }
                None => {
                    return run.fail(
                        Some(Code::InvalidRepoTag),
                        format!("normalize image ref {tag:?}"),
                    )
                }
            }
        }
        entries = entries.saturating_add(img.repo_tags.len().max(1));
        if !named && o.dangling_names {
            run.loaded(format!("moby-dangling@{}", img.api_id()));
            named = true;
        }
        if named {
            created.push(img);
        }
    }
    if entries == 0 {
        return run.fail(Some(Code::ManifestEmpty), "image might be filtered out");
    }
    for img in created {
        let order: Vec<&crate::Layer> = img.layers.iter().collect();
        if let Some(stop) = unpack(f, img, &order) {
            if o.unpack_fails {
                return run.fail(stop.0, stop.1);
            }
        }
    }
    run
}

/// The failure of unpacking one image's layers for the host, if it fails.
fn unpack(
    f: &Facts<'_>,
    img: &crate::Image,
    order: &[&crate::Layer],
) -> Option<(Option<Code>, String)> {
    if facts::layer_counts(img).is_some() {
        return Some((
            Some(Code::LayerCountMismatch),
            "mismatched image rootfs and manifest layers".into(),
        ));
    }
    for (l, fact) in order.iter().zip(f.layers_in(img, order)) {
        match fact {
            LayerFact::Missing => {
                return Some((Some(Code::LayerMissing), "content not found".into()))
            }
            LayerFact::Present {
                tar_ok,
                diff_mismatch,
                empty,
                containerd_apply,
                ..
            } => {
                if !tar_ok && !empty {
                    return Some((
                        Some(Code::LayerCorrupt),
                        facts::layer_words(f.a.layer_scan(l).map(|s| &s.status)).into(),
                    ));
                }
                if let Some(words) = containerd_apply {
                    return Some((
                        Some(Code::LayerCorrupt),
                        format!("failed to extract layer: {words}"),
                    ));
                }
                if diff_mismatch {
                    return Some((
                        Some(Code::DiffIdMismatch),
                        format!(
                            "wrong diff id calculated on extraction {:?}",
                            l.diff_id
                                .as_ref()
                                .map(ToString::to_string)
                                .unwrap_or_default()
                        ),
                    ));
                }
            }
        }
    }
    None
}

/// The import of an OCI layout through `index.json`.
fn oci_layout(f: &Facts<'_>, o: &Importer, mut run: Run) -> Run {
    if let Some(Ok(l)) = f.a.docs.oci_layout.as_ref().and_then(|d| d.parsed.as_ref()) {
        if l.image_layout_version != "1.0.0" {
            return run.fail(
                Some(Code::OciLayoutVersion),
                format!("unsupported OCI version {}", l.image_layout_version),
            );
        }
    }
    if !f.regular_named("index.json") {
        return run.fail(
            Some(Code::OciIndexMissing),
            "missing index.json in OCI layout 1.0.0",
        );
    }
    let Some(tree) = f.a.oci.as_ref() else {
        return run.fail(Some(Code::OciIndexInvalid), "invalid index.json");
    };
    // `images.WalkNotEmpty` over every entry: indexes and manifests are read (an absent or
    // undecodable one fails; Docker skips absent platforms), configs and layers are not.
    if let Some(stop) = walk(tree, o.skip_missing) {
        return run.fail(stop.0, stop.1);
    }
    if tree.tops.is_empty() {
        return run.fail(Some(Code::OciIndexInvalid), "image might be filtered out");
    }
    let mut created = Vec::new();
    for (t, top) in tree.tops.iter().enumerate() {
        match name_of(&top.desc) {
            Some(n) => {
                run.named(n);
                run.loaded(top.desc.digest.clone());
                created.push(t);
            }
            None if o.dangling_names => {
                run.loaded(format!("moby-dangling@{}", top.desc.digest));
                created.push(t);
            }
            None => {}
        }
    }
    for t in created {
        if let Some(stop) = unpack_top(f, t) {
            if o.unpack_fails {
                return run.fail(stop.0, stop.1);
            }
        }
    }
    run
}

/// The name an entry of `index.json` gets: `io.containerd.image.name`, else
/// `org.opencontainers.image.ref.name` (kept when it is a whole reference, else prefixed).
fn name_of(desc: &oci::Descriptor) -> Option<String> {
    desc.annotation(oci::ANN_IMAGE_NAME)
        .map(str::to_string)
        .or_else(|| {
            desc.annotation(oci::ANN_REF_NAME).map(|r| {
                if r.contains(['/', ':', '@']) {
                    r.to_string()
                } else {
                    format!("import-<date>:{r}")
                }
            })
        })
}

/// The failure of walking the indexes and manifests under `index.json`, if it fails.
fn walk(tree: &crate::model::oci::OciTree, skip_missing: bool) -> Option<(Option<Code>, String)> {
    let mut seen = std::collections::HashSet::new();
    let mut stack: Vec<&crate::model::oci::Edge> = tree.tops.iter().rev().collect();
    while let Some(e) = stack.pop() {
        let read = e.desc.is_index() || is_manifest_type(&e.desc.media_type);
        if !read {
            continue;
        }
        let Some(n) = e.node else {
            return Some((
                Some(Code::InvalidDigest),
                format!("{}: failed validation: invalid argument", e.desc.digest),
            ));
        };
        if !seen.insert(n) {
            continue;
        }
        // containerd v1.6.20 `images/image.go` `validateMediaType`, on every index and
        // manifest it reads children of.
        if tree.nodes.get(n).is_some_and(|x| x.ambiguous.is_some()) {
            let (expected, found) = if e.desc.is_index() {
                ("index", "manifest")
            } else {
                ("manifest", "index")
            };
            return Some((
                Some(Code::MediaTypeAmbiguous),
                format!(
                    "children: invalid desc {}: media-type: expected {expected} but found {found} ({})",
                    e.desc.digest, e.desc.media_type
                ),
            ));
        }
        match tree.nodes.get(n).map(|x| &x.kind) {
            Some(NodeKind::Missing) if skip_missing => {}
            Some(NodeKind::Missing) => {
                return Some((
                    Some(Code::BlobMissing),
                    format!("content digest {}: not found", e.desc.digest),
                ))
            }
            Some(NodeKind::Invalid(err)) => {
                return Some((Some(Code::OciIndexInvalid), err.to_string()))
            }
            Some(NodeKind::Index { children }) => stack.extend(children.iter().rev()),
            _ => {}
        }
    }
    None
}

/// The manifest media types containerd reads children of.
fn is_manifest_type(m: &str) -> bool {
    m == oci::MEDIA_OCI_MANIFEST || m == oci::MEDIA_DOCKER_MANIFEST
}

/// The failure of unpacking the host platform of a top entry, if it fails.
fn unpack_top(f: &Facts<'_>, t: usize) -> Option<(Option<Code>, String)> {
    let tree = f.a.oci.as_ref()?;
    let top = tree.tops.get(t)?;
    let candidates = tree.manifests_under(t);
    let host = candidates.iter().find(|(desc, node)| {
        let plat = desc
            .platform
            .as_ref()
            .map(|p| (p.os.as_str(), p.architecture.as_str()));
        let single = candidates.len() == 1 && desc.digest == top.desc.digest;
        let manifest = node
            .and_then(|n| tree.nodes.get(n))
            .is_some_and(|n| matches!(n.kind, NodeKind::Manifest(_)));
        manifest && (single || plat == Some((HOST_OS, HOST_ARCH)) || plat.is_none())
    });
    let Some((_, Some(node))) = host else {
        return Some((
            None,
            format!(
                "no match for platform in manifest {}: not found",
                top.desc.digest
            ),
        ));
    };
    // The image of that manifest; or, when `manifest.json` lists other layers than it (so
    // the image is `manifest.json`'s), the image of the same config.
    let config_member = tree.manifest(*node).and_then(|m| {
        let d = m.config.digest.parse::<crate::Digest>().ok()?;
        f.a.index
            .file(format!("blobs/{}/{}", d.algorithm().as_str(), d.hex()).as_bytes())
    });
    let img =
        f.a.images
            .iter()
            .find(|i| i.oci_node == Some(*node))
            .or_else(|| {
                f.a.images
                    .iter()
                    .find(|i| config_member.is_some() && i.config_member == config_member)
            })?;
    // The layers in the OCI manifest's order (Docker 25.0.0 wrote them in random order).
    let mut order: Vec<&crate::Layer> = Vec::new();
    if let Some(m) = tree.manifest(*node) {
        for d in &m.layers {
            match img
                .layers
                .iter()
                .find(|l| l.digest.as_ref().is_some_and(|g| g.to_string() == d.digest))
            {
                Some(l) => order.push(l),
                None => {
                    order.clear();
                    break;
                }
            }
        }
    }
    if order.len() != img.layers.len() {
        order = img.layers.iter().collect();
    }
    unpack(f, img, &order)
}
