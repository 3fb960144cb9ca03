//! `imgtar export`: the semantics of `GET /images/{name}/get` on every layout. Each test
//! builds an archive, exports by tag, by ID and by several names, and checks that the result
//! validates, has (or lacks) `repositories` as the API says, holds exactly the selected
//! images' members, and that skopeo reads it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::engine_support::{build, Built, Img, Kind, KINDS};
use imgtar::export::{self, ExportError, ExportOptions, PlatformSpec};
use serde_json::Value;

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("imgtar-export-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
    fn path(&self, f: &str) -> PathBuf {
        self.0.join(f)
    }
    fn files(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// base:1 ← app:1,app:2 (its Parent in manifest layouts), and an unrelated tool.
fn images() -> Vec<Img> {
    vec![
        Img::new(
            &["base:1"],
            "2020-01-01T00:00:00Z",
            &[&[("etc/os", "base")]],
        ),
        Img::new(
            &["app:1", "app:2"],
            "2021-01-01T00:00:00Z",
            &[&[("etc/os", "base")], &[("app/bin", "app")]],
        )
        .labels(&[("tier", "web")])
        .parent(0),
        Img::new(
            &["example.com/tool:latest"],
            "2022-01-01T00:00:00Z",
            &[&[("tool", "t")], &[("tool.conf", "x")]],
        ),
    ]
}

fn manifest_layout(kind: Kind) -> bool {
    matches!(kind, Kind::DockerArchive | Kind::DockerOci)
}

/// The files and links of an archive, without directories and the documents an export
/// generates or copies whole.
fn members(path: &Path) -> BTreeSet<String> {
    let mut a = tar::Archive::new(std::fs::File::open(path).unwrap());
    a.entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .filter(|p| !p.ends_with('/'))
        .filter(|p| {
            !["manifest.json", "repositories", "index.json", "oci-layout"].contains(&p.as_str())
        })
        .collect()
}

fn member_json(path: &Path, name: &str) -> Option<Value> {
    let mut a = tar::Archive::new(std::fs::File::open(path).unwrap());
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_string_lossy() == name {
            return Some(serde_json::from_reader(&mut e).unwrap());
        }
    }
    None
}

fn expected(built: &Built, images: &[usize]) -> BTreeSet<String> {
    images
        .iter()
        .flat_map(|&i| built.needs[i].iter().cloned())
        .collect()
}

fn skopeo_available() -> bool {
    match Command::new("skopeo").arg("--version").output() {
        Ok(o) if o.status.success() => true,
        _ => {
            assert!(
                std::env::var_os("IMGTAR_SKIP_SKOPEO").is_some_and(|v| v == "1"),
                "skopeo is not installed: run .ci/install-deps (or set IMGTAR_SKIP_SKOPEO=1 to skip its checks)"
            );
            false
        }
    }
}

/// `skopeo inspect` of one image of an archive: its layer digests and architecture.
fn skopeo(transport_ref: &str) -> (Vec<String>, String) {
    let out = Command::new("skopeo")
        .args(["inspect", transport_ref])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo inspect {transport_ref}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let layers = v["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect();
    (layers, v["Architecture"].as_str().unwrap().to_string())
}

/// Checks an export's output: what the validator reads back, and skopeo's view.
fn check_output(kind: Kind, built: &Built, out: &Path, written: &[usize]) {
    let report = imgtar::open(out).unwrap();
    assert!(report.is_valid(), "{kind:?}: {:?}", report.findings);
    let ids: BTreeSet<String> = report
        .archive
        .images
        .iter()
        .map(|i| i.id_hex().unwrap().to_string())
        .collect();
    if kind != Kind::Legacy {
        let want: BTreeSet<String> = written
            .iter()
            .map(|&i| built.ids[i][7..].to_string())
            .collect();
        assert_eq!(ids, want, "{kind:?}: images read back");
    } else {
        // Every layer directory written reads back as an image (the legacy loader's view).
        let dirs = members(out)
            .iter()
            .filter(|m| m.ends_with("/layer.tar"))
            .count();
        assert_eq!(ids.len(), dirs);
        assert!(ids.len() >= written.len());
    }
    if !skopeo_available() {
        return;
    }
    let p = out.display().to_string();
    match kind {
        Kind::DockerArchive | Kind::DockerOci => {
            for (n, img) in report.archive.images.iter().enumerate() {
                let (layers, arch) = skopeo(&format!("docker-archive:{p}:@{n}"));
                let i = built
                    .ids
                    .iter()
                    .position(|id| Some(id[7..].to_string()) == img.id_hex().map(str::to_string))
                    .unwrap();
                assert_eq!(
                    layers, built.diff_ids[i],
                    "{kind:?}: skopeo's layers of image {n}"
                );
                assert_eq!(arch, "amd64");
            }
        }
        Kind::Oci if report.archive.images.len() == 1 => {
            let (layers, arch) = skopeo(&format!("oci-archive:{p}"));
            assert_eq!(layers.len(), report.archive.images[0].layers.len());
            assert_eq!(
                arch,
                report.archive.images[0]
                    .platform
                    .as_ref()
                    .unwrap()
                    .architecture
            );
        }
        _ => {}
    }
}

fn run(input: &Path, names: &[&str], out: &Path) -> Result<export::Written, ExportError> {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    export::export(input, &names, out, &ExportOptions::default())
}

#[test]
fn export_by_tag_keeps_that_tag_without_the_parent_and_a_repositories_file() {
    for kind in KINDS {
        let dir = TempDir::new(&format!("tag-{kind:?}"));
        let built = build(kind, &images());
        let input = dir.path("in.tar");
        std::fs::write(&input, &built.bytes).unwrap();
        let out = dir.path("out.tar");
        let w = run(&input, &["app:1"], &out).unwrap();
        // `docker save app:1` writes that image only, even when manifest.json names a
        // `Parent` (checked against the daemon by `engine_daemon`).
        let written: Vec<usize> = vec![1];
        assert_eq!(members(&out), expected(&built, &written), "{kind:?}");
        let tags: Vec<Vec<String>> = w.images.iter().map(|(_, t)| t.clone()).collect();
        assert_eq!(tags, [vec!["app:1".to_string()]], "{kind:?}");
        let repos = member_json(&out, "repositories");
        if kind == Kind::Oci {
            assert_eq!(repos, None, "an OCI layout has no repositories file");
            let index = member_json(&out, "index.json").unwrap();
            let m = index["manifests"].as_array().unwrap();
            assert_eq!(m.len(), 1);
            assert_eq!(
                m[0]["annotations"]["org.opencontainers.image.ref.name"],
                "app:1"
            );
        } else {
            let repos = repos.expect("a tag selection writes repositories");
            assert_eq!(
                repos.as_object().unwrap().keys().collect::<Vec<_>>(),
                ["app"]
            );
            assert_eq!(
                repos["app"].as_object().unwrap().keys().collect::<Vec<_>>(),
                ["1"]
            );
        }
        if manifest_layout(kind) {
            let m = member_json(&out, "manifest.json").unwrap();
            let m = m.as_array().unwrap();
            assert_eq!(m.len(), 1);
            assert_eq!(m[0]["RepoTags"], serde_json::json!(["app:1"]));
            assert_eq!(
                m[0].get("Parent"),
                None,
                "no link to a parent that is not written"
            );
        }
        if kind == Kind::DockerOci {
            for o in &built.orphans {
                assert!(
                    !members(&out).contains(o),
                    "Docker 25's orphan v1 JSON {o} is dropped"
                );
            }
            let index = member_json(&out, "index.json").unwrap();
            let names: Vec<&str> = index["manifests"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|d| d["annotations"]["org.opencontainers.image.ref.name"].as_str())
                .collect();
            assert_eq!(names, ["1"], "only the selected tag's index.json entry");
        }
        check_output(kind, &built, &out, &written);
        assert_eq!(
            dir.files(),
            ["in.tar", "out.tar"],
            "no temporary file is left"
        );
    }
}

#[test]
fn export_by_id_writes_no_names() {
    for kind in KINDS {
        let dir = TempDir::new(&format!("id-{kind:?}"));
        let built = build(kind, &images());
        let input = dir.path("in.tar");
        std::fs::write(&input, &built.bytes).unwrap();
        let out = dir.path("out.tar");
        // The ID as the archive knows it (a pre-1.10 image: its top layer directory).
        let report = imgtar::open(&input).unwrap();
        let tool = report
            .archive
            .images
            .iter()
            .find(|i| i.repo_tags == ["example.com/tool:latest"])
            .unwrap();
        let short = &tool.id_hex().unwrap()[..12];
        let result = run(&input, &[short], &out);
        if kind == Kind::Legacy {
            // The legacy loader needs `repositories`: one that names nothing loads the chain
            // untagged (`engine_daemon` loads such an export into the real daemon).
            let w = result.unwrap();
            assert_eq!(w.images.len(), 1, "{:?}", w.images);
            assert!(w.images[0].1.is_empty());
            assert_eq!(
                member_json(&out, "repositories"),
                Some(serde_json::json!({}))
            );
            let back = imgtar::open(&out).unwrap();
            assert!(back.is_valid(), "{:?}", back.findings);
            let again = back.archive.find_image(Some(short)).unwrap();
            assert_eq!(again.id, tool.id);
            assert!(again.repo_tags.is_empty());
            continue;
        }
        let w = result.unwrap();
        assert_eq!(w.images, [(built.ids[2].clone(), vec![])]);
        assert_eq!(members(&out), expected(&built, &[2]), "{kind:?}");
        assert_eq!(
            member_json(&out, "repositories"),
            None,
            "{kind:?}: no repositories by ID"
        );
        if manifest_layout(kind) {
            let m = member_json(&out, "manifest.json").unwrap();
            assert_eq!(m[0]["RepoTags"], Value::Null);
        }
        if kind != Kind::DockerArchive {
            let index = member_json(&out, "index.json").unwrap();
            let m = index["manifests"].as_array().unwrap();
            assert_eq!(m.len(), 1);
            assert_eq!(m[0].get("annotations"), None, "{kind:?}: names stripped");
        }
        check_output(kind, &built, &out, &[2]);
    }
}

#[test]
fn export_of_several_names_gives_one_archive() {
    for kind in KINDS {
        let dir = TempDir::new(&format!("several-{kind:?}"));
        let built = build(kind, &images());
        let input = dir.path("in.tar");
        std::fs::write(&input, &built.bytes).unwrap();
        let out = dir.path("out.tar");
        let app = if kind == Kind::Legacy {
            "app:2".to_string()
        } else {
            built.ids[1][..19].to_string()
        };
        let w = run(&input, &["base:1", "example.com/tool", &app, "base"], &out).unwrap();
        assert_eq!(members(&out), expected(&built, &[0, 1, 2]), "{kind:?}");
        let mut tags: Vec<Vec<String>> = w.images.iter().map(|(_, t)| t.clone()).collect();
        tags.sort();
        let app_tags: Vec<String> = if kind == Kind::Legacy {
            vec!["app:2".into()]
        } else {
            vec![]
        };
        let mut want = vec![
            vec!["base:1".to_string()],
            app_tags,
            vec!["example.com/tool:latest".to_string()],
        ];
        want.sort();
        assert_eq!(tags, want, "{kind:?}");
        if kind != Kind::Oci {
            let repos = member_json(&out, "repositories").unwrap();
            let mut keys: Vec<&String> = repos.as_object().unwrap().keys().collect();
            keys.sort();
            let want: Vec<&str> = if kind == Kind::Legacy {
                vec!["app", "base", "example.com/tool"]
            } else {
                vec!["base", "example.com/tool"]
            };
            assert_eq!(keys, want, "{kind:?}");
        }
        check_output(kind, &built, &out, &[0, 1, 2]);
    }
}

#[test]
fn platform_selects_one_manifest_of_a_multi_platform_image() {
    let dir = TempDir::new("platform");
    let imgs = vec![
        Img::new(&["multi:1"], "2023-01-01T00:00:00Z", &[&[("a", "amd64")]]).group(1),
        Img::new(&["multi:1"], "2023-01-01T00:00:00Z", &[&[("a", "arm64")]])
            .platform("linux", "arm64", Some("v8"))
            .group(1),
    ];
    let built = build(Kind::Oci, &imgs);
    let input = dir.path("in.tar");
    std::fs::write(&input, &built.bytes).unwrap();
    let whole = dir.path("whole.tar");
    run(&input, &["multi:1"], &whole).unwrap();
    let mut want = expected(&built, &[0, 1]);
    want.insert(built.group_blob[0].clone().unwrap());
    assert_eq!(members(&whole), want, "without a platform the whole image");
    let index = member_json(&whole, "index.json").unwrap();
    assert_eq!(
        index["manifests"][0]["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );

    let arm = dir.path("arm.tar");
    let p: PlatformSpec = "linux/arm64".parse().unwrap();
    let names = vec!["multi:1".to_string()];
    export::export(
        &input,
        &names,
        &arm,
        &ExportOptions::default().platform(Some(p)),
    )
    .unwrap();
    assert_eq!(
        members(&arm),
        expected(&built, &[1]),
        "only the arm64 manifest"
    );
    let index = member_json(&arm, "index.json").unwrap();
    let m = &index["manifests"][0];
    assert_eq!(m["platform"]["architecture"], "arm64");
    assert_eq!(
        m["annotations"]["org.opencontainers.image.ref.name"],
        "multi:1"
    );
    check_output(Kind::Oci, &built, &arm, &[1]);

    let none: PlatformSpec = "linux/s390x".parse().unwrap();
    let err = export::export(
        &input,
        &names,
        &dir.path("x.tar"),
        &ExportOptions::default().platform(Some(none)),
    )
    .unwrap_err();
    assert!(matches!(err, ExportError::NoPlatform { .. }), "{err}");
    assert!("linux".parse::<PlatformSpec>().is_err());
}

#[test]
fn export_refuses_to_overwrite_its_input_and_cleans_up_failures() {
    let dir = TempDir::new("safety");
    let built = build(Kind::DockerArchive, &images());
    let input = dir.path("in.tar");
    std::fs::write(&input, &built.bytes).unwrap();
    let err = run(&input, &["app:1"], &input).unwrap_err();
    assert!(matches!(err, ExportError::SameFile(_)), "{err}");
    let alias = dir.0.join(".").join("in.tar");
    assert!(matches!(
        run(&input, &["app:1"], &alias),
        Err(ExportError::SameFile(_))
    ));
    assert_eq!(
        std::fs::read(&input).unwrap(),
        built.bytes,
        "the input is untouched"
    );
    assert!(matches!(
        run(Path::new("-"), &["app:1"], &dir.path("o.tar")),
        Err(ExportError::Stdin)
    ));
    // The daemon's words, whichever error variant carries them.
    assert_eq!(
        run(&input, &["nope:1"], &dir.path("o.tar"))
            .unwrap_err()
            .to_string(),
        "No such image: nope:1"
    );
    assert!(matches!(
        run(&input, &["Bad Name"], &dir.path("o.tar")),
        Err(ExportError::InvalidName(_))
    ));
    assert!(matches!(
        run(&input, &[], &dir.path("o.tar")),
        Err(ExportError::NothingSelected)
    ));
    // A real fixture whose layer was trimmed: the output would not validate, so nothing is
    // written.
    let bad = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/real/snyk-skopeo-gzip-outer-named-tar.tar");
    let err = run(&bad, &["d0957ffdf8a2"], &dir.path("o.tar")).unwrap_err();
    assert!(matches!(err, ExportError::Invalid(_)), "{err}");
    assert!(err.to_string().contains("diff-id-mismatch"), "{err}");
    assert_eq!(dir.files(), ["in.tar"], "no output and no temporary file");
}

/// Every image of every valid real tarball exports by ID and by tag, validates, and reads back
/// as the same image; skopeo reads the docker-archive results.
#[test]
fn every_real_image_exports() {
    let dir = TempDir::new("real");
    let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/real");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&real)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            !p.to_string_lossy().ends_with(".md") && !p.to_string_lossy().ends_with(".json")
        })
        .collect();
    files.sort();
    let mut exported = 0;
    for f in &files {
        let report = imgtar::open(f).unwrap();
        if !report.is_valid() {
            continue;
        }
        let a = &report.archive;
        for img in &a.images {
            let id = img.id_hex().unwrap().to_string();
            let mut names: Vec<Vec<String>> = Vec::new();
            if a.layout != imgtar::Layout::Legacy {
                names.push(vec![id.clone()]);
            }
            if let Some(tag) = img.repo_tags.first() {
                names.push(vec![tag.clone()]);
            }
            for n in names {
                let out = dir.path("out.tar");
                let w = export::export(f, &n, &out, &ExportOptions::default())
                    .unwrap_or_else(|e| panic!("{} {n:?}: {e}", f.display()));
                let back = imgtar::open(&out).unwrap();
                assert!(back.is_valid(), "{}: {:?}", f.display(), back.findings);
                assert!(
                    back.archive
                        .images
                        .iter()
                        .any(|i| i.id_hex() == Some(id.as_str())),
                    "{} {n:?}: the image is in the output",
                    f.display()
                );
                assert_eq!(
                    back.archive.layout,
                    a.layout,
                    "{}: layout kept",
                    f.display()
                );
                assert_eq!(
                    w.images
                        .iter()
                        .find(|(i, _)| i.ends_with(&id))
                        .map(|(_, t)| t.is_empty()),
                    Some(n[0] == id),
                    "{}: tagged iff named by tag",
                    f.display()
                );
                // An image named by its only tag reads back with the same Engine API answer.
                if n[0] != id && img.repo_tags.len() == 1 {
                    let opts = imgtar::engine::InspectOptions::default().manifests(true);
                    let mut before = imgtar::engine::inspect(a, img, &opts);
                    let again = back.archive.find_image(Some(&n[0])).unwrap();
                    let after = imgtar::engine::inspect(&back.archive, again, &opts);
                    // The parent is not written, so the link to it is not either.
                    before.parent = after.parent.clone();
                    assert_eq!(after, before, "{}: inspect after export", f.display());
                }
                if matches!(
                    a.layout,
                    imgtar::Layout::DockerArchive | imgtar::Layout::DockerOci
                ) && back.archive.images.len() == 1
                    && skopeo_available()
                {
                    let (layers, _) = skopeo(&format!("docker-archive:{}", out.display()));
                    assert_eq!(layers.len(), img.layers.len(), "{}", f.display());
                }
                exported += 1;
            }
        }
    }
    assert!(exported >= 50, "only {exported} exports ran");
    // A containerd export keeps its conventions: no repositories file, the whole index
    // (image and attestation manifests) when named by tag.
    let f = real.join("snyk-ctr-export-attestation.tar");
    let out = dir.path("ctr.tar");
    run(&f, &["foo/bar:v3"], &out).unwrap();
    assert_eq!(member_json(&out, "repositories"), None);
    let index = member_json(&out, "index.json").unwrap();
    assert_eq!(
        index["manifests"][0]["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    assert_eq!(
        members(&out).len(),
        7,
        "index, 2 manifests, 2 configs, 2 layers"
    );
}

#[test]
fn cli_exports() {
    let dir = TempDir::new("cli");
    let built = build(Kind::DockerOci, &images());
    let input = dir.path("in.tar");
    std::fs::write(&input, &built.bytes).unwrap();
    let out = dir.path("out.tar");
    let run = Command::new(env!("CARGO_BIN_EXE_imgtar"))
        .args([
            "export",
            input.to_str().unwrap(),
            "example.com/tool:latest",
            "-o",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(members(&out), expected(&built, &[2]));
    let again = Command::new(env!("CARGO_BIN_EXE_imgtar"))
        .args([
            "export",
            input.to_str().unwrap(),
            "app:1",
            "-o",
            input.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("refusing to overwrite the input"));
}

#[test]
fn export_reads_an_extracted_directory() {
    let dir = TempDir::new("dir");
    let built = build(Kind::DockerArchive, &images());
    let input = dir.path("in");
    tar::Archive::new(built.bytes.as_slice())
        .unpack(&input)
        .unwrap();
    let out = dir.path("out.tar");
    run(&input, &["app:1"], &out).unwrap();
    assert_eq!(members(&out), expected(&built, &[1]));
    check_output(Kind::DockerArchive, &built, &out, &[1]);
}
