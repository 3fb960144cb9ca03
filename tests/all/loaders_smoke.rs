//! The real loaders on three archives of `testdata/real`: `docker load` (Docker 20.10),
//! `ctr images import` (containerd 1.6) and `podman load` (podman 4.3), through
//! `tests/all/harness.rs`, plus the harness's Engine API client against the private
//! daemon. A loader that is not installed, or a daemon that does not come up, prints
//! `SKIPPED: <loader>: <reason>`; `IMGTAR_LOADERS=0` skips them all.
//!
//! `testdata/loaders/observed.json` records what these loaders make of every archive there.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::harness::{Loader, Outcome, Verdict};
use serde_json::json;

const DIVE_CONFIG: &str = "sha256:75ae28b8ebf89b203319069ddcbecdf5c3838503bbebc0d0d85e4b8589c5de3a";
const DIVE_OCI_CONFIG: &str =
    "sha256:3eaccc100f866490f00ae82727b459a737af031dcf44c791d8aa714a70f24959";
/// The bundle's first manifest entry (RepoTags `["test_image_2"]`).
const BUNDLE_FIRST_CONFIG: &str =
    "sha256:930705ce23e3b6ed4c08746b6fe880089c864fbaf62482702ae3fdd66b8c7fe9";

fn real(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/real")
        .join(name)
}

/// Loads `file` with `which`, or `None` after printing why that loader is skipped.
fn load(which: Loader, file: &str) -> Option<Outcome> {
    let loader = crate::harness::loader_or_skip(which)?;
    Some(loader.load(&real(file)))
}

#[test]
fn docker_1_10_archive_loads_everywhere() {
    let file = "dive-docker-1.10-whiteouts.tar";
    if let Some(o) = load(Loader::Docker, file) {
        assert_eq!(o.verdict, Verdict::Loads, "{}", o.summary());
        assert_eq!(o.exit_code, Some(0), "{}", o.summary());
        assert_eq!(o.version, "20.10", "{}", o.summary());
        assert_eq!(o.ids(), [DIVE_CONFIG], "{}", o.summary());
        assert_eq!(o.tags(), ["dive-test:latest"], "{}", o.summary());
        assert_eq!(o.message, "", "{}", o.summary());
        assert!(
            o.stdout.contains("Loaded image: dive-test:latest"),
            "{}",
            o.stdout
        );
    }
    if let Some(o) = load(Loader::Containerd, file) {
        assert_eq!(o.verdict, Verdict::Loads, "{}", o.summary());
        assert_eq!(o.version, "1.6", "{}", o.summary());
        // containerd names the image's target: the manifest it made from manifest.json.
        assert_eq!(o.images.len(), 1, "{}", o.summary());
        assert_eq!(
            o.tags(),
            ["docker.io/library/dive-test:latest"],
            "{}",
            o.summary()
        );
    }
    if let Some(o) = load(Loader::Podman, file) {
        assert_eq!(o.verdict, Verdict::Loads, "{}", o.summary());
        assert_eq!(o.version, "4.3", "{}", o.summary());
        assert_eq!(o.ids(), [DIVE_CONFIG], "{}", o.summary());
        assert_eq!(o.tags(), ["localhost/dive-test:latest"], "{}", o.summary());
    }
}

#[test]
fn plain_oci_layout_docker_refuses_podman_loads() {
    let file = "dive-oci-uncompressed.tar";
    if let Some(o) = load(Loader::Docker, file) {
        // No manifest.json, so Docker 20.10 takes the pre-1.10 path and reads each directory
        // as a legacy layer directory: blobs/ has no json.
        assert_eq!(o.verdict, Verdict::Refuses, "{}", o.summary());
        assert_eq!(o.exit_code, Some(1), "{}", o.summary());
        assert!(o.images.is_empty(), "{}", o.summary());
        assert!(
            o.stable_message()
                .ends_with("/blobs/json: no such file or directory"),
            "{}",
            o.summary()
        );
    }
    if let Some(o) = load(Loader::Containerd, file) {
        // Imported, but the index entry has no image name, so ctr creates no image.
        assert_eq!(o.verdict, Verdict::Loads, "{}", o.summary());
        assert!(o.images.is_empty(), "{}", o.summary());
    }
    if let Some(o) = load(Loader::Podman, file) {
        assert_eq!(o.verdict, Verdict::Loads, "{}", o.summary());
        assert_eq!(o.ids(), [DIVE_OCI_CONFIG], "{}", o.summary());
        assert!(o.tags().is_empty(), "{}", o.summary());
    }
}

#[test]
fn untagged_repo_tags_item_docker_partial_podman_refuses_containerd_loads() {
    let file = "ggcr-bundle-layersources.tar";
    if let Some(o) = load(Loader::Docker, file) {
        // The first image is created, then its RepoTags item "test_image_2" (no tag) fails.
        assert_eq!(o.verdict, Verdict::Partial, "{}", o.summary());
        assert_eq!(o.exit_code, Some(1), "{}", o.summary());
        assert_eq!(
            o.message,
            r#"invalid tag "test_image_2""#,
            "{}",
            o.summary()
        );
        assert_eq!(o.ids(), [BUNDLE_FIRST_CONFIG], "{}", o.summary());
        assert!(o.tags().is_empty(), "{}", o.summary());
    }
    if let Some(o) = load(Loader::Containerd, file) {
        assert_eq!(o.verdict, Verdict::Loads, "{}", o.summary());
        assert_eq!(o.images.len(), 2, "{}", o.summary());
        let mut tags = o.tags();
        tags.sort();
        assert_eq!(
            tags,
            [
                "docker.io/library/test_image_1:latest",
                "docker.io/library/test_image_2:latest"
            ],
            "{}",
            o.summary()
        );
    }
    if let Some(o) = load(Loader::Podman, file) {
        assert_eq!(o.verdict, Verdict::Refuses, "{}", o.summary());
        assert_eq!(o.exit_code, Some(125), "{}", o.summary());
        assert!(o.images.is_empty(), "{}", o.summary());
        assert!(
            o.message.contains(
                "docker-archive: Invalid tag test_image_2 (docker.io/library/test_image_2): does not contain a tag"
            ),
            "{}",
            o.summary()
        );
    }
}

#[test]
fn nothing_loaded_is_visible() {
    // manifest.json is `null`: docker and podman succeed without loading anything.
    let file = "ggcr-null-manifest.tar";
    for which in [Loader::Docker, Loader::Podman] {
        if let Some(o) = load(which, file) {
            assert_eq!(o.verdict, Verdict::Loads, "{}", o.summary());
            assert!(o.images.is_empty(), "{}", o.summary());
        }
    }
    if let Some(o) = load(Loader::Containerd, file) {
        assert_eq!(o.verdict, Verdict::Refuses, "{}", o.summary());
        assert_eq!(
            o.message,
            "ctr: unrecognized image format",
            "{}",
            o.summary()
        );
    }
}

#[test]
fn loads_start_from_an_empty_store() {
    // Two loads in a row see only their own images, whichever order the tests run in.
    for which in Loader::ALL {
        let Some(loader) = crate::harness::loader_or_skip(which) else {
            continue;
        };
        let a = loader.load(&real("dive-docker-1.10-whiteouts.tar"));
        let b = loader.load(&real("dive-oci-uncompressed.tar"));
        let c = loader.load(&real("dive-docker-1.10-whiteouts.tar"));
        assert_eq!(a.images, c.images, "{} / {}", a.summary(), c.summary());
        assert!(
            b.images.iter().all(|i| !a.images.contains(i)),
            "{} / {}",
            a.summary(),
            b.summary()
        );
    }
}

#[test]
fn engine_api_on_a_loaded_image() {
    let Some(docker) = crate::harness::docker_or_skip() else {
        return;
    };
    let api = crate::harness::API;
    docker.with_loaded(&real("dive-docker-1.10-whiteouts.tar"), |o, engine| {
        assert_eq!(o.verdict, Verdict::Loads, "{}", o.summary());

        let (status, ping) = engine.get("/_ping").map(|r| (r.status, r.text())).unwrap();
        assert_eq!((status, ping.as_str()), (200, "OK"));

        let (status, inspect) = engine
            .get_json(&format!("{api}/images/dive-test:latest/json"))
            .unwrap();
        assert_eq!(status, 200, "{inspect}");
        assert_eq!(inspect["Id"], DIVE_CONFIG);
        assert_eq!(inspect["RepoTags"], json!(["dive-test:latest"]));
        assert_eq!(
            inspect["RootFS"]["Layers"].as_array().map(Vec::len),
            Some(14)
        );

        let (status, history) = engine
            .get_json(&format!("{api}/images/{DIVE_CONFIG}/history"))
            .unwrap();
        assert_eq!(status, 200, "{history}");
        assert!(
            history.as_array().is_some_and(|h| h.len() >= 14),
            "{history}"
        );
        assert_eq!(history[0]["Id"], DIVE_CONFIG);

        let (status, missing) = engine
            .get_json(&format!("{api}/images/no-such-image:latest/json"))
            .unwrap();
        assert_eq!(status, 404, "{missing}");
        assert!(missing["message"]
            .as_str()
            .is_some_and(|m| m.contains("No such image")));

        // A path without the API version is refused by the client itself.
        assert!(engine.get("/images/json").is_err());

        // GET /images/get: a tarball with manifest.json naming the tag.
        let saved = engine
            .get(&format!("{api}/images/get?names=dive-test%3Alatest"))
            .unwrap();
        assert_eq!(saved.status, 200);
        let members = tar_members(&saved.body);
        assert!(members.iter().any(|m| m == "manifest.json"), "{members:?}");
        assert!(members.iter().any(|m| m == "repositories"), "{members:?}");

        // A created container's export is its image's final filesystem, chunked on the wire.
        let id = o.images[0].id.clone();
        let rootfs = docker.export_rootfs(&id).unwrap();
        let members = tar_members(&rootfs);
        assert!(members.iter().any(|m| m == "bin/busybox"), "{members:?}");
        // The directory whiteout `root/.wh.example` of a later layer removed root/example.
        assert!(
            !members.iter().any(|m| m.starts_with("root/example/")),
            "{members:?}"
        );
    });
    // Emptied afterwards, containers included.
    assert!(docker.images().unwrap().is_empty());
    let (_, containers) = docker
        .engine()
        .get_json(&format!("{api}/containers/json?all=1"))
        .unwrap();
    assert_eq!(containers, json!([]));
}

#[test]
fn stable_messages_hide_run_dependent_paths() {
    let root = Path::new("/tmp/imgtar-loaders-AbC123");
    let input = Path::new("/somewhere/x.tar");
    let text = "open /tmp/imgtar-loaders-AbC123/docker-root/tmp/docker-import-4157664440/\
                28cfe03618aa2e914e81fdd90345245c15f4478e35252c06ca52d238fd3cc694/json: x\n\
                * oci: oci:/somewhere/x.tar:: open /var/tmp/oci3749121710/index.json: y";
    assert_eq!(
        crate::harness::stable_text(text, input, root),
        "open <tmp>/docker-root/tmp/docker-import-N/\
         28cfe03618aa2e914e81fdd90345245c15f4478e35252c06ca52d238fd3cc694/json: x\n\
         * oci: oci:<input>:: open /var/tmp/ociN/index.json: y"
    );
    let ctr =
        "time=\"2026-12-01T17:58:30Z\" level=info msg=\"apply failure\" key=\"extract-1 a\"\n\
               ctr: wrong diff id\n\
               blob to file \"/tmp/imgtar-loaders-AbC123/podman/store/tmp/storage409358266/8\"";
    assert_eq!(
        crate::harness::stable_text(ctr, input, root),
        "ctr: wrong diff id\nblob to file \"<tmp>/podman/store/tmp/storageN/N\""
    );
    assert_eq!(
        crate::harness::stable_tag("import-2026-12-01:UPPERCASE"),
        "import-<date>:UPPERCASE"
    );
    assert_eq!(
        crate::harness::stable_tag("import-x:latest"),
        "import-x:latest"
    );
}

/// Member names of a plain tar (ustar/GNU headers; enough for what dockerd writes).
fn tar_members(bytes: &[u8]) -> Vec<String> {
    let mut names = Vec::new();
    let mut at = 0usize;
    let mut long_name: Option<String> = None;
    while at + 512 <= bytes.len() {
        let h = &bytes[at..at + 512];
        if h.iter().all(|&b| b == 0) {
            break;
        }
        let field = |r: std::ops::Range<usize>| {
            let f = &h[r];
            let end = f.iter().position(|&b| b == 0).unwrap_or(f.len());
            String::from_utf8_lossy(&f[..end]).into_owned()
        };
        let size = usize::from_str_radix(field(124..136).trim(), 8).unwrap_or(0);
        let data = &bytes[at + 512..(at + 512 + size).min(bytes.len())];
        match h[156] {
            b'L' => {
                let mut s = String::new();
                let _ = data.take(size as u64).read_to_string(&mut s);
                long_name = Some(s.trim_end_matches('\0').to_string());
            }
            b'x' | b'g' => {}
            _ => {
                let prefix = field(345..500);
                let name = long_name.take().unwrap_or_else(|| {
                    if prefix.is_empty() {
                        field(0..100)
                    } else {
                        format!("{prefix}/{}", field(0..100))
                    }
                });
                names.push(name.trim_start_matches("./").to_string());
            }
        }
        at += 512 + size.div_ceil(512) * 512;
    }
    names
}
