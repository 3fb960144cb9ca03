//! Every real tarball in `testdata/real/` (copied from `../shared/corpus`, provenance in
//! `testdata/real/SOURCES.md`) gets the verdict SOURCES.md gives and the facts an independent
//! reader recorded in `testdata/real/FACTS.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use imgtar::{Code, Image, ImageSource, Reader, Report, Severity};
use serde_json::Value;

fn real_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/real")
}

fn facts() -> BTreeMap<String, Value> {
    let text = std::fs::read_to_string(real_dir().join("FACTS.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v["files"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The "expected" column of SOURCES.md: file → true when it starts with "valid".
fn expected_verdicts() -> BTreeMap<String, bool> {
    let text = std::fs::read_to_string(real_dir().join("SOURCES.md")).unwrap();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 12 || !cells[1].starts_with('`') {
            continue;
        }
        let file = cells[1].trim_matches('`').to_string();
        let expected = cells[cells.len() - 2];
        out.insert(file, expected.starts_with("valid"));
    }
    out
}

fn read(file: &str) -> Report {
    Reader::new()
        .open(real_dir().join(file))
        .unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

#[test]
fn sources_and_facts_cover_the_same_files() {
    let facts = facts();
    let verdicts = expected_verdicts();
    assert_eq!(verdicts.len(), 52, "SOURCES.md lists 52 files");
    assert_eq!(
        facts.keys().collect::<Vec<_>>(),
        verdicts.keys().collect::<Vec<_>>()
    );
    for f in facts.keys() {
        assert!(
            real_dir().join(f).is_file(),
            "{f} is missing from testdata/real"
        );
    }
}

#[test]
fn every_file_gets_its_expected_verdict() {
    let mut wrong = Vec::new();
    for (file, valid) in expected_verdicts() {
        let report = read(&file);
        if report.is_valid() != valid {
            let errors: Vec<String> = report
                .findings_at_least(Severity::Error)
                .map(|f| f.to_string())
                .collect();
            wrong.push(format!(
                "{file}: expected valid={valid}, errors: {errors:#?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

fn check_layers(file: &str, report: &Report, img: &Image, fact: &Value, by_digest: bool) {
    let fl = fact["layers"].as_array().unwrap();
    assert_eq!(img.layers.len(), fl.len(), "{file}: layer count");
    for (k, (l, f)) in img.layers.iter().zip(fl).enumerate() {
        let at = format!("{file} layer {k}");
        if by_digest {
            if let Some(d) = f["digest"].as_str() {
                let want = format!("blobs/{}", d.replacen(':', "/", 1));
                assert_eq!(l.path.as_deref(), Some(want.as_str()), "{at}: blob");
            }
        } else if let Some(p) = f["path"].as_str() {
            assert_eq!(l.path.as_deref(), Some(p), "{at}: path");
        }
        if f.get("error").is_some()
            || !f["compression"].is_string()
            || f["compression"] == "unknown"
        {
            continue;
        }
        if f["diff_id"].is_string() {
            assert_eq!(
                l.computed_diff_id.as_ref().map(|d| d.to_string()),
                f["diff_id"].as_str().map(str::to_string),
                "{at}: computed diff_id"
            );
        }
        let scan = report.archive.layer_scan(l);
        let comp = match f["compression"].as_str().unwrap() {
            "tar-zero-block" => "none",
            c => c,
        };
        assert_eq!(
            l.compression.map(|c| c.as_str()).unwrap_or("none"),
            comp,
            "{at}: compression"
        );
        let Some(scan) = scan else {
            assert_eq!(
                f["entries"].as_u64().unwrap_or(0),
                0,
                "{at}: no scan but entries"
            );
            continue;
        };
        for (key, got) in [
            ("entries", scan.entries),
            ("hardlinks", scan.hardlinks),
            ("symlinks", scan.symlinks),
        ] {
            assert_eq!(Some(got), f[key].as_u64(), "{at}: {key}");
        }
        let mut wh: Vec<String> = scan
            .whiteouts
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        wh.sort();
        let mut fwh = strs(&f["whiteouts"]);
        fwh.sort();
        assert_eq!(wh, fwh, "{at}: whiteouts");
        let mut op: Vec<String> = scan
            .opaque_dirs
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        op.sort();
        let mut fop = strs(&f["opaque_dirs"]);
        fop.sort();
        assert_eq!(op, fop, "{at}: opaque dirs");
        assert_eq!(
            scan.status.is_complete(),
            f["tar_complete"].as_bool().unwrap(),
            "{at}: tar complete"
        );
    }
}

fn check_image(file: &str, report: &Report, img: &Image, f: &Value, by_digest: bool) {
    if let Some(cd) = f["config_digest"].as_str() {
        assert_eq!(
            img.id.as_ref().map(|d| d.to_string()).as_deref(),
            Some(cd),
            "{file}: config digest"
        );
    }
    if f.get("config_diff_ids").is_some() {
        assert_eq!(
            img.config
                .as_ref()
                .map(|c| c.diff_ids.clone())
                .unwrap_or_default(),
            strs(&f["config_diff_ids"]),
            "{file}: config diff_ids"
        );
    }
    if let Some(oa) = f["os_arch"].as_str() {
        let p = img
            .config
            .as_ref()
            .map(|c| format!("{}/{}", c.platform.os, c.platform.architecture));
        assert_eq!(p.as_deref(), Some(oa), "{file}: os/arch");
    }
    if let Some(m) = f.get("diff_ids_match_config").and_then(Value::as_bool) {
        let ours = img.layers.len() == img.config.as_ref().map_or(0, |c| c.diff_ids.len())
            && img
                .layers
                .iter()
                .all(|l| l.computed_diff_id.is_some() && l.computed_diff_id == l.diff_id);
        assert_eq!(ours, m, "{file}: diff_ids match config");
    }
    check_layers(file, report, img, f, by_digest);
}

#[test]
fn docker_images_match_the_facts() {
    for (file, f) in facts() {
        let report = read(&file);
        let Some(di) = f["docker_images"].as_array() else {
            continue;
        };
        let images = &report.archive.images;
        assert_eq!(images.len(), di.len(), "{file}: image count");
        for (img, fact) in images.iter().zip(di) {
            let tags = strs(&fact["repo_tags"]);
            assert_eq!(img.repo_tags, tags, "{file}: repo tags");
            let ImageSource::Manifest { repo_tags_null, .. } = img.source else {
                panic!("{file}: not from manifest.json: {:?}", img.source);
            };
            assert_eq!(
                repo_tags_null,
                fact.get("repo_tags").is_none(),
                "{file}: RepoTags null"
            );
            check_image(&file, &report, img, fact, false);
            // The layers whose descriptor imgtar took from LayerSources are exactly the
            // DiffIDs the fixture's LayerSources lists.
            let mut described: Vec<String> = img
                .layers
                .iter()
                .filter(|l| l.media_type.is_some())
                .filter_map(|l| l.diff_id.as_ref().map(ToString::to_string))
                .collect();
            described.sort();
            let mut sources = strs(fact.get("layer_sources").unwrap_or(&Value::Null));
            sources.sort();
            assert_eq!(described, sources, "{file}: LayerSources");
            if !sources.is_empty() {
                let foreign: Vec<bool> = img.layers.iter().map(|l| l.foreign).collect();
                let media: Vec<Option<&str>> =
                    img.layers.iter().map(|l| l.media_type.as_deref()).collect();
                assert_eq!(
                    foreign,
                    media
                        .iter()
                        .map(|m| m.is_some_and(|m| m.contains(".foreign.")))
                        .collect::<Vec<_>>(),
                    "{file}: foreign layers"
                );
            }
        }
    }
}

/// The OCI facts of one descriptor that the archive holds (the independent reader lists
/// absent platforms too, marked `missing`; attestations have platform unknown/unknown).
fn present_oci_facts(f: &Value) -> Vec<Value> {
    f["oci_images"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|o| !o["missing"].as_bool().unwrap_or(false))
                .filter(|o| o["platform"]["architecture"] != "unknown")
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

fn check_platform(file: &str, img: &Image, p: &Value) {
    let ours = img.platform.as_ref().expect("platform");
    assert_eq!(
        Some(ours.os.as_str()),
        p["os"].as_str(),
        "{file}: platform os"
    );
    assert_eq!(
        Some(ours.architecture.as_str()),
        p["architecture"].as_str(),
        "{file}: platform arch"
    );
    assert_eq!(
        ours.variant.as_deref(),
        p["variant"].as_str(),
        "{file}: variant"
    );
}

/// One image per manifest (absent platforms and attestations left out), with the media type,
/// platform and every ref name of the index.json descriptors naming it. In archives with
/// manifest.json the images are its entries, matched to their OCI manifests.
#[test]
fn oci_images_match_the_facts() {
    for (file, f) in facts() {
        let report = read(&file);
        let images = &report.archive.images;
        let present = present_oci_facts(&f);
        if f["oci_images"].is_null() {
            assert!(
                images.iter().all(|i| i.manifest_digest.is_none()),
                "{file}: a manifest digest without index.json"
            );
            continue;
        }
        let from_manifest_json = f["docker_images"].is_array();
        if !from_manifest_json {
            assert_eq!(images.len(), present.len(), "{file}: OCI image count");
        }
        for img in images {
            let id = img.id.as_ref().map(ToString::to_string);
            let blobs: Vec<Option<String>> = img.layers.iter().map(|l| l.path.clone()).collect();
            let same_layers = |o: &Value| {
                let theirs: Vec<Option<String>> = o["layers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| {
                        l["digest"]
                            .as_str()
                            .map(|d| format!("blobs/{}", d.replacen(':', "/", 1)))
                    })
                    .collect();
                !from_manifest_json || theirs == blobs
            };
            let facts_of: Vec<&Value> = present
                .iter()
                .filter(|o| o["config_digest"].as_str() == id.as_deref() && same_layers(o))
                .collect();
            if from_manifest_json && facts_of.is_empty() {
                // Not in index.json (Docker 25.0.0–25.0.2 left untagged images out), or its
                // OCI manifest lists other layers: no manifest digest, and a warning.
                assert_eq!(img.manifest_digest, None, "{file}: manifest digest");
                assert!(
                    report
                        .findings
                        .iter()
                        .any(|f| f.code == Code::IndexManifestMismatch),
                    "{file}: no index-manifest-mismatch"
                );
                continue;
            }
            let fact = facts_of
                .first()
                .unwrap_or_else(|| panic!("{file}: image {id:?} is not in the facts"));
            assert!(
                matches!(img.source, ImageSource::OciIndex { .. }) != from_manifest_json,
                "{file}: source {:?}",
                img.source
            );
            assert!(img.manifest_digest.is_some(), "{file}: manifest digest");
            if let Some(mt) = fact["media_type"].as_str() {
                assert_eq!(
                    img.manifest_media_type.as_deref(),
                    Some(mt),
                    "{file}: media type"
                );
            }
            let mut want: Vec<String> = facts_of
                .iter()
                .filter_map(|o| o["ref_name"].as_str().map(str::to_string))
                .collect();
            want.dedup();
            assert_eq!(img.ref_names, want, "{file}: ref names");
            if !from_manifest_json {
                if let Some(p) = fact.get("platform") {
                    check_platform(&file, img, p);
                }
                check_image(&file, &report, img, fact, true);
            }
        }
    }
}

#[test]
fn archive_level_facts() {
    for (file, f) in facts() {
        let report = read(&file);
        let a = &report.archive;
        let comp = match f["outer_compression"].as_str().unwrap() {
            "tar" | "tar-zero-block" => "none",
            c => c,
        };
        assert_eq!(a.compression.as_str(), comp, "{file}: outer compression");
        if let Some(r) = f.get("repositories") {
            let ours =
                serde_json::to_value(a.repositories.as_ref().expect("repositories")).unwrap();
            assert_eq!(&ours, r, "{file}: repositories");
        }
        let n = f["entries"].as_u64().unwrap();
        assert_eq!(a.members.len() as u64, n, "{file}: member count");
    }
}

#[test]
fn invalid_files_fail_for_the_documented_reason() {
    let cases: &[(&str, &[Code])] = &[
        ("ggcr-null-manifest.tar", &[Code::ManifestInvalid]),
        ("ggcr-foreign-layer-absent.tar", &[Code::LayerMissing]),
        (
            "isulad-partial-missing-base-layer.tar",
            &[Code::LayerMissing],
        ),
        ("scalibr-empty-archive.tar", &[Code::NotAnImage]),
        // No image: that is the reason it fails, whatever its members do.
        (
            "scalibr-hostile-absolute-symlink-escape.tar",
            &[Code::NotAnImage],
        ),
        ("snyk-not-an-image.tar", &[Code::NotAnImage]),
        (
            "snyk-skopeo-gzip-outer-named-tar.tar",
            &[Code::DiffIdMismatch],
        ),
        (
            "snyk-skopeo-repacked-no-layer-tar.tar",
            &[Code::LayerCountMismatch],
        ),
        (
            "snyk-gzip-outer-pax.tar",
            &[Code::DiffIdMismatch, Code::VersionMismatch],
        ),
        ("snyk-oci-gzip-outer-pax.tar", &[Code::BlobDigestMismatch]),
        (
            "snyk-oci-with-manifest-json.tar",
            &[Code::BlobDigestMismatch, Code::BlobMissing],
        ),
    ];
    for (file, codes) in cases {
        let report = read(file);
        for code in *codes {
            assert!(
                report.findings.iter().any(|f| f.code == *code),
                "{file}: expected {code}, got {:#?}",
                report.findings
            );
        }
    }
}

#[test]
fn images_are_found_by_any_spelling_of_their_tag_or_by_id() {
    let r = read("podman-docker-two-names.tar.xz");
    let a = &r.archive;
    let img = a.find_image(None).unwrap();
    for q in [
        "pretty-empty",
        "pretty-empty:latest",
        "docker.io/library/pretty-empty:latest",
        "index.docker.io/library/pretty-empty",
        "example.com/empty",
    ] {
        assert_eq!(a.find_image(Some(q)).unwrap(), img, "{q}");
    }
    let id = img.id.as_ref().unwrap();
    assert_eq!(a.find_image(Some(&id.hex()[..6])).unwrap(), img);
    assert_eq!(a.find_image(Some(&id.to_string())).unwrap(), img);
    assert!(matches!(
        a.find_image(Some("other")),
        Err(imgtar::SelectError::NotFound(_))
    ));
    assert!(matches!(
        a.find_image(Some("pretty-empty:v2")),
        Err(imgtar::SelectError::NotFound(_))
    ));

    // c/image writes fully qualified names; docker-style short names still find them.
    let r = read("podman-docker-two-images.tar.xz");
    assert_eq!(r.archive.images.len(), 2);
    assert!(matches!(
        r.archive.find_image(None),
        Err(imgtar::SelectError::NoneNamed(2))
    ));
    for img in &r.archive.images {
        let tag = img.repo_tags.first().unwrap();
        let short = imgtar::reference::Reference::parse_normalized(tag)
            .unwrap()
            .familiar_string();
        assert_eq!(r.archive.find_image(Some(&short)).unwrap(), img, "{short}");
    }
}
