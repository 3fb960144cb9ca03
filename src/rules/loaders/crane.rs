//! go-containerregistry's `tarball.ImageFromPath(path, nil)` (what `crane push` of a tarball
//! and kaniko's `--tar-path` read): go-containerregistry v0.21.9 `pkg/v1/tarball/image.go`
//! (`Image`, `loadTarDescriptorAndConfig`, `findDescriptor`). The file is read with Go's
//! `archive/tar` directly (no decompression), `manifest.json` must hold exactly one image
//! (without a tag to choose one), members are found by `path.Clean` of their name (the first
//! copy wins, links followed), a `LayerSources` descriptor stands in for an absent foreign
//! layer, and the layer count must match the config's. DiffIDs are not checked here.

use crate::finding::Code;
use crate::rules::loaders::facts::{self, Facts, LayerFact, Outer};
use crate::rules::loaders::Run;

/// Verdicts of the tarball reader.
pub(super) fn load(f: &Facts<'_>) -> Vec<(&'static str, bool, Run)> {
    vec![("0.21", false, run(f))]
}

fn run(f: &Facts<'_>) -> Run {
    let mut run = Run::default();
    if f.compression().is_compressed() {
        return run.fail(
            Some(Code::OuterCompressed),
            "archive/tar: invalid tar header",
        );
    }
    match f.outer() {
        Outer::Tar => {}
        Outer::NotTar => return run.fail(Some(Code::NotATar), "archive/tar: invalid tar header"),
        Outer::Damaged => return run.fail(Some(Code::TruncatedArchive), f.damage()),
    }
    if !f.member_named("manifest.json") {
        return run.fail(None, "file manifest.json not found in tar");
    }
    if f.manifest_list() != Some(true) {
        return run.fail(
            Some(Code::ManifestInvalid),
            "no valid manifest.json in tarball",
        );
    }
    let images = f.manifest_images();
    let [img] = images.as_slice() else {
        return run.fail(
            None,
            "tarball must contain only a single image to be used with tarball.Image",
        );
    };
    if img.config_member.is_none() {
        return run.fail(
            Some(Code::ConfigMissing),
            format!(
                "file {} not found in tar",
                img.config_path.clone().unwrap_or_default()
            ),
        );
    }
    if let Some((layers, diffs)) = facts::layer_counts(img) {
        return run.fail(
            Some(Code::LayerCountMismatch),
            format!("tarball manifest references {layers} layer(s) but config has {diffs} rootfs.diff_ids"),
        );
    }
    for (l, fact) in img.layers.iter().zip(f.layers(img)) {
        if fact == LayerFact::Missing && !l.foreign {
            return run.fail(
                Some(Code::LayerMissing),
                format!(
                    "file {} not found in tar",
                    l.path.clone().unwrap_or_default()
                ),
            );
        }
    }
    run.loaded(img.api_id());
    for tag in &img.repo_tags {
        if let Some(r) = crate::model::identity::normalize_tag(tag) {
            run.named(r.to_string());
        }
    }
    run
}
