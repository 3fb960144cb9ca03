//! `docker load`: the classic (graphdriver) image store, and the containerd image store.
//!
//! Classic store, moby v20.10.24 `image/tarexport/load.go` unless said otherwise:
//! the archive is extracted whole (chrooted, so `..` and absolute names land inside;
//! `pkg/chrootarchive/archive_unix.go`), `manifest.json` is read through `safePath`, and for
//! each entry in turn the config, the layer count, each layer (decompressed by magic bytes,
//! its DiffID checked), then the image is created, then its tags are parsed: a bad tag fails
//! the load after the image exists (a partial load). Without `manifest.json` the pre-1.10
//! loader (`legacyLoad`) takes every top-level directory for a layer and needs
//! `repositories`. Later versions: zstd input from v23.0.0 (`pkg/archive/archive.go`
//! `DecompressStream`), a `null` manifest refused from v23.0.0 (`validateManifest`), the
//! pre-1.10 loader removed in docker-v29.0.0 (`daemon/internal/image/tarexport/load.go`).
//!
//! containerd store, moby v25.0.0 `daemon/containerd/image_exporter.go` (`LoadImage`): the
//! input is decompressed (gzip, bzip2, xz, zstd) and imported by containerd's importer with
//! every platform, absent platforms skipped and unnamed entries given a dangling name; the
//! host platform is then unpacked (a failure fails the load in 25–28; docker-v29.0.0 only
//! prints it).

use std::collections::BTreeSet;

use crate::compress::Compression;
use crate::finding::Code;
use crate::rules::loaders::containerd::{importer, Importer};
use crate::rules::loaders::facts::{self, Facts, LayerFact, Outer};
use crate::rules::loaders::Run;

/// A version of the classic store's loader.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Classic {
    V20,
    V23,
    V29,
}

/// The classic store's verdicts: (versions, tested here, run).
pub(super) fn classic(f: &Facts<'_>) -> Vec<(&'static str, bool, Run)> {
    vec![
        ("20.10", true, load(f, Classic::V20)),
        ("23-28", false, load(f, Classic::V23)),
        ("29", false, load(f, Classic::V29)),
    ]
}

/// The containerd store's verdicts.
pub(super) fn containerd_store(f: &Facts<'_>) -> Vec<(&'static str, bool, Run)> {
    let options = |unpack_fails: bool| Importer {
        decompresses: &[
            Compression::Gzip,
            Compression::Bzip2,
            Compression::Xz,
            Compression::Zstd,
        ],
        skip_missing: true,
        dangling_names: true,
        unpack_fails,
    };
    vec![
        ("25-28", false, importer(f, options(true))),
        ("29", false, importer(f, options(false))),
    ]
}

fn load(f: &Facts<'_>, v: Classic) -> Run {
    let run = Run::default();
    let supported: &[Compression] = if v == Classic::V20 {
        &[
            Compression::None,
            Compression::Gzip,
            Compression::Bzip2,
            Compression::Xz,
        ]
    } else {
        &[
            Compression::None,
            Compression::Gzip,
            Compression::Bzip2,
            Compression::Xz,
            Compression::Zstd,
        ]
    };
    if !supported.contains(&f.compression()) {
        return run.fail(
            None,
            "Error processing tar file(exit status 1): archive/tar: invalid tar header",
        );
    }
    match f.outer() {
        Outer::Tar => {}
        Outer::NotTar if f.a.outer.head == Some(crate::scan::Head::Empty) => {}
        Outer::NotTar => {
            return run.fail(
                Some(Code::NotATar),
                "Error processing tar file(exit status 1): archive/tar: invalid tar header",
            )
        }
        Outer::Damaged => {
            return run.fail(
                Some(Code::TruncatedArchive),
                format!("Error processing tar file(exit status 1): {}", f.damage()),
            )
        }
    }
    // The chrooted extraction itself fails on a member type it cannot create, and on a
    // hardlink to a member it has not extracted.
    if f.has_code(Code::UnknownMemberType) {
        return run.fail(Some(Code::UnknownMemberType), "unhandled tar header type");
    }
    if let Some((target, name)) = f.outer_dangling_hardlink() {
        return run.fail(
            Some(Code::LinkEscape),
            format!(
                "Error processing tar file(exit status 1): link /{target} /{name}: no such file or directory"
            ),
        );
    }
    // A dangling `manifest.json` link is no manifest: the pre-1.10 loader runs.
    if !f.manifest_file() {
        if v == Classic::V29 {
            return run.fail(None, "invalid archive: does not contain a manifest.json");
        }
        return legacy(f, v, run);
    }
    match f.manifest_list() {
        Some(true) => {}
        Some(false) if v == Classic::V20 => return run,
        Some(false) => {
            return run.fail(
                Some(Code::ManifestInvalid),
                "invalid manifest, manifest cannot be null (but can be [])",
            )
        }
        None => {
            let e = f.manifest_error().unwrap_or_default();
            return run.fail(
                Some(Code::ManifestInvalid),
                if v == Classic::V29 {
                    format!("invalid archive: failed to decode manifest.json: {e}")
                } else {
                    e
                },
            );
        }
    }
    manifest(f, v, run)
}

/// The manifest.json loader.
fn manifest(f: &Facts<'_>, v: Classic, mut run: Run) -> Run {
    for img in f.manifest_images() {
        let config = img.config_path.clone().unwrap_or_default();
        if img.config_member.is_none() {
            return run.fail(
                Some(Code::ConfigMissing),
                format!("open {config}: no such file or directory"),
            );
        }
        if let Err(e) = facts::config_ok(img) {
            return run.fail(Some(Code::ConfigNoRootfs), e);
        }
        if img
            .config
            .as_ref()
            .is_some_and(|c| c.platform.os == "windows")
        {
            return run.fail(None, "cannot load windows image on linux");
        }
        if let Err(e) = Facts::times_ok(img) {
            return run.fail(Some(Code::InvalidCreated), e);
        }
        if let Some((expected, got)) = facts::layer_counts(img) {
            return run.fail(
                Some(Code::LayerCountMismatch),
                format!("invalid manifest, layers length mismatch: expected {expected}, got {got}"),
            );
        }
        if f.has_code(Code::HistoryTooManyLayers) {
            return run.fail(
                Some(Code::HistoryTooManyLayers),
                "too many non-empty layers in History section",
            );
        }
        if let Some(stop) = apply_layers(f, img, v) {
            return run.fail(stop.0, stop.1);
        }
        run.loaded(img.api_id());
        for tag in &img.repo_tags {
            match facts::tag_kind(tag) {
                Ok(true) => {
                    if let Some(r) = crate::model::identity::normalize_tag(tag) {
                        run.named(r.familiar_string());
                    }
                }
                Ok(false) => {
                    return run.fail(Some(Code::RepoTagUntagged), format!("invalid tag {tag:?}"))
                }
                Err(e) => return run.fail(Some(Code::InvalidRepoTag), e),
            }
        }
    }
    if f.has_code(Code::InvalidParent) {
        return run.fail(Some(Code::InvalidParent), "image is not a valid parent");
    }
    run
}

/// Applies an image's layers; the failure, if one stops it.
fn apply_layers(f: &Facts<'_>, img: &crate::Image, v: Classic) -> Option<(Option<Code>, String)> {
    for (k, layer) in f.layers(img).into_iter().enumerate() {
        let path = img
            .layers
            .get(k)
            .and_then(|l| l.path.clone())
            .unwrap_or_default();
        match layer {
            LayerFact::Missing => {
                return Some((
                    Some(Code::LayerMissing),
                    format!("open {path}: no such file or directory"),
                ))
            }
            LayerFact::Present {
                compression,
                tar_ok,
                odd_types,
                diff_mismatch,
                empty,
                apply,
                ..
            } => {
                let status = img
                    .layers
                    .get(k)
                    .and_then(|l| f.a.layer_scan(l))
                    .map(|s| &s.status);
                if compression == Compression::Zstd && v == Classic::V20 {
                    return Some((
                        None,
                        "ApplyLayer exit status 1 stdout:  stderr: archive/tar: invalid tar header"
                            .into(),
                    ));
                }
                if !tar_ok && !empty {
                    return Some((
                        Some(Code::LayerCorrupt),
                        format!(
                            "ApplyLayer exit status 1 stdout:  stderr: {}",
                            facts::layer_words(status)
                        ),
                    ));
                }
                if odd_types {
                    return Some((
                        Some(Code::LayerUnknownType),
                        "ApplyLayer exit status 1 stdout:  stderr: unhandled tar header type"
                            .into(),
                    ));
                }
                if let Some(words) = apply {
                    return Some((
                        None,
                        format!("ApplyLayer exit status 1 stdout:  stderr: {words}"),
                    ));
                }
                if diff_mismatch {
                    return Some((
                        Some(Code::DiffIdMismatch),
                        format!("invalid diffID for layer {k}"),
                    ));
                }
            }
        }
    }
    None
}

/// The pre-1.10 loader (moby v20.10.24 `image/tarexport/load.go` `legacyLoad`,
/// `legacyLoadImage`): every top-level directory, in name order, is a layer that must hold
/// `json` (its parents loaded first) and `layer.tar`; then `repositories` names the tags.
fn legacy(f: &Facts<'_>, v: Classic, mut run: Run) -> Run {
    // `legacyLoadImage` loads a layer's parent first, recursively, and has no guard against a
    // chain that loops: the daemon's goroutine overflows its stack and dockerd dies (moby
    // v20.10.24 `image/tarexport/load.go` `legacyLoadImage`; seen with Docker 20.10).
    if f.has_code(Code::LegacyParentCycle) {
        return run.fail(
            Some(Code::LegacyParentCycle),
            "the daemon crashes: a legacy parent chain that loops overflows legacyLoadImage's stack",
        );
    }
    let mut dirs: BTreeSet<Vec<u8>> = BTreeSet::new();
    for m in &f.a.members {
        let p = m.path.as_bytes();
        match p.iter().position(|&b| b == b'/') {
            Some(i) => {
                dirs.insert(p.get(..i).unwrap_or_default().to_vec());
            }
            None if m.kind == crate::scan::MemberKind::Dir => {
                dirs.insert(p.to_vec());
            }
            None => {}
        }
    }
    for dir in &dirs {
        if let Err((code, words)) = legacy_image(f, v, dir, &dirs, &mut run, 0) {
            return run.fail(Some(code), words);
        }
    }
    let Some(repos) = f.a.repositories.as_ref() else {
        return run.fail(
            Some(Code::RepositoriesMissing),
            "open repositories: no such file or directory",
        );
    };
    for (name, tags) in repos {
        for (tag, id) in tags {
            if !dirs.contains(id.as_bytes()) {
                return run.fail(
                    Some(Code::RepositoriesUnknownTarget),
                    format!("invalid target ID: {id}"),
                );
            }
            match crate::model::identity::normalize_tag(&format!("{name}:{tag}")) {
                Some(r) => run.named(r.familiar_string()),
                None => {
                    return run.fail(
                        Some(Code::RepositoriesInvalid),
                        format!("invalid reference format: {name}:{tag}"),
                    )
                }
            }
        }
    }
    run
}

/// Loads one legacy layer directory, its parent first (`legacyLoadImage`).
fn legacy_image(
    f: &Facts<'_>,
    v: Classic,
    dir: &[u8],
    dirs: &BTreeSet<Vec<u8>>,
    run: &mut Run,
    depth: usize,
) -> Result<(), (Code, String)> {
    let d = String::from_utf8_lossy(dir).into_owned();
    if run.has_id(&d) || depth > dirs.len() {
        return Ok(());
    }
    let json = format!("{d}/json");
    let Some(ji) = f.a.index.file(json.as_bytes()) else {
        return Err((
            Code::LegacyJsonMissing,
            format!("open {json}: no such file or directory"),
        ));
    };
    let parsed =
        f.a.members
            .get(ji)
            .and_then(|m| m.data())
            .map(crate::doc::legacy::parse);
    let j = match parsed {
        Some(Ok(j)) => j,
        _ => return Err((Code::LegacyJsonInvalid, format!("{json}: invalid JSON"))),
    };
    if let Some(p) = &j.parent {
        legacy_image(f, v, p.as_bytes(), dirs, run, depth.saturating_add(1))?;
    }
    // The `id` of the json is not read: the directory name is the ID
    // (v20.10.24 `image/tarexport/load.go` `legacyLoadImage`).
    let layer = format!("{d}/layer.tar");
    let Some(li) = f.a.index.file(layer.as_bytes()) else {
        return Err((
            Code::LegacyLayerMissing,
            format!("open {layer}: no such file or directory"),
        ));
    };
    if let Some(s) = f.a.members.get(li).and_then(|m| m.layer.as_ref()) {
        if s.compression == Compression::Zstd && v == Classic::V20 || !s.status.is_complete() {
            return Err((
                Code::LayerCorrupt,
                "ApplyLayer exit status 1 stdout:  stderr: archive/tar: invalid tar header".into(),
            ));
        }
    }
    run.loaded(d);
    Ok(())
}
