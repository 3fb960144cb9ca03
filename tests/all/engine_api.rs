//! The Engine API types and builders: the API reference's own examples round-trip through
//! serde, the image list filters behave as the daemon's one by one and combined, history
//! follows Parent links, and the CLI prints what the library builds (the exact tables are
//! unit tests of the binary's `render` module).

use std::path::Path;
use std::process::Command;

use crate::engine_support::{build, Img, Kind};
use imgtar::engine::{
    self, EngineError, Filters, HistoryItem, ImageInspect, ImageSummary, ListOptions,
};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

fn example(name: &str) -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/engine-api")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn round_trip<T: Serialize + DeserializeOwned>(v: &Value) -> T {
    let typed: T = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(
        &serde_json::to_value(&typed).unwrap(),
        v,
        "written back unchanged"
    );
    typed
}

#[test]
fn api_examples_round_trip_through_the_types() {
    let inspect: ImageInspect = round_trip(&example("ImageInspect.json"));
    assert!(
        inspect.extra.is_empty(),
        "every documented field is modelled: {:?}",
        inspect.extra
    );
    let config = inspect.config.as_ref().unwrap();
    assert!(config.extra.is_empty(), "{:?}", config.extra);
    assert_eq!(config.user.as_deref(), Some("web:web"));
    assert_eq!(config.cmd, Some(Some(vec!["/bin/sh".to_string()])));
    assert_eq!(config.healthcheck.as_ref().unwrap().retries, Some(0));
    assert_eq!(inspect.root_fs.layers.as_ref().unwrap().len(), 2);
    assert_eq!(
        inspect.manifests.as_ref().unwrap()[0].kind,
        engine::ManifestKind::Image
    );
    assert_eq!(inspect.descriptor.as_ref().unwrap().size, 424);
    assert_eq!(inspect.created_at().unwrap().unix, 1_644_009_612);

    let summary: ImageSummary = round_trip(&example("ImageSummary.json"));
    assert!(summary.extra.is_empty(), "{:?}", summary.extra);
    assert_eq!(
        (summary.created, summary.containers, summary.virtual_size),
        (1_644_009_612, 2, Some(172_064_416))
    );

    let history: Vec<HistoryItem> = round_trip(&example("ImageHistory.json"));
    assert_eq!(history.len(), 3);
    assert_eq!(history[2].comment, "Imported from -");

    // null and absent stay apart.
    let v: Value = serde_json::json!({"Cmd": null, "Env": ["A=1"]});
    let c: engine::ImageConfig = round_trip(&v);
    assert_eq!((c.cmd, c.entrypoint), (Some(None), None));
}

/// base ← mid (untagged) ← app, an unrelated tool, and an untagged orphan.
fn archive() -> imgtar::Archive {
    imgtar::read(std::io::Cursor::new(archive_bytes()))
        .unwrap()
        .archive
}

/// The bytes of [`archive`].
fn archive_bytes() -> Vec<u8> {
    let l0: &[(&str, &str)] = &[("etc/os", "base-os")];
    let l1: &[(&str, &str)] = &[("lib/x", "0123456789")];
    let l2: &[(&str, &str)] = &[("app/bin", "app")];
    let imgs = vec![
        Img::new(&["base:1"], "2020-01-01T00:00:00Z", &[l0]),
        Img::new(&[], "2020-06-01T00:00:00Z", &[l0, l1]).parent(0),
        Img::new(
            &["app:1", "app:2", "example.com/app:1"],
            "2021-01-01T00:00:00Z",
            &[l0, l1, l2],
        )
        .labels(&[("tier", "web")])
        .parent(1),
        Img::new(
            &["tool:latest"],
            "2022-01-01T00:00:00Z",
            &[&[("tool", "t")]],
        )
        .labels(&[("tier", "cli"), ("team", "x")]),
        Img::new(&[], "2019-01-01T00:00:00Z", &[&[("orphan", "o")]]),
    ];
    let built = build(Kind::DockerArchive, &imgs);
    let report = imgtar::read(&built.bytes[..]).unwrap();
    assert!(report.is_valid(), "{:?}", report.findings);
    built.bytes
}

/// Runs the binary; standard output on success.
fn cli(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_imgtar"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The table's cells of each line, split at runs of two or more spaces (no cell of these
/// archives holds two spaces), and the offsets where the columns start.
pub(crate) fn cells(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect()
        })
        .collect()
}

/// The listing as `tag-or-<none> ...` per image, newest first.
fn ls(a: &imgtar::Archive, filters: &[&str], all: bool) -> Result<Vec<String>, EngineError> {
    let mut f = Filters::new();
    for x in filters {
        f.add_arg(x).unwrap();
    }
    let opts = ListOptions::default()
        .all(all)
        .filters(f)
        .now(1_700_000_000);
    Ok(engine::list(a, &opts)?
        .iter()
        .map(|s| {
            let tags = s.repo_tags.clone().unwrap_or_default();
            if tags.is_empty() {
                format!("<none>@{}", s.created)
            } else {
                tags.join(",")
            }
        })
        .collect())
}

#[test]
fn list_hides_intermediates_and_sorts_newest_first() {
    let a = archive();
    let mid = "<none>@1590969600";
    let orphan = "<none>@1546300800";
    let app = "app:1,app:2,example.com/app:1";
    assert_eq!(
        ls(&a, &[], false).unwrap(),
        ["tool:latest", app, "base:1", orphan]
    );
    assert_eq!(
        ls(&a, &[], true).unwrap(),
        ["tool:latest", app, mid, "base:1", orphan]
    );
    let list = engine::list(&a, &ListOptions::default()).unwrap();
    assert_eq!(
        list[1].parent_id,
        format!("sha256:{}", mid_id(&a)),
        "app's parent is the hidden mid"
    );
    assert_eq!(list[0].labels.as_ref().map(|l| l.len()), Some(2));
    assert_eq!(list[2].labels, None, "no labels: null");
    // API 1.51+: `Containers` counts the containers using the image (none, offline).
    assert!(list
        .iter()
        .all(|s| s.containers == 0 && s.shared_size == -1 && s.virtual_size.is_none()));
    let old = ListOptions::default().api_version(engine::ApiVersion::v1(43).unwrap());
    let old = engine::list(&a, &old).unwrap();
    assert!(old
        .iter()
        .all(|s| s.containers == -1 && s.virtual_size == Some(s.size)));
}

fn mid_id(a: &imgtar::Archive) -> String {
    a.images
        .iter()
        .find(|i| i.repo_tags.is_empty() && i.parent.is_some())
        .unwrap()
        .id_hex()
        .unwrap()
        .to_string()
}

#[test]
fn filters_one_by_one() {
    let a = archive();
    let app = "app:1,app:2,example.com/app:1";
    let orphan = "<none>@1546300800";
    let mid = "<none>@1590969600";
    let cases: &[(&[&str], bool, &[&str])] = &[
        (&["dangling=true"], false, &[orphan]),
        (&["dangling=1"], true, &[orphan]),
        (&["dangling=false"], false, &["tool:latest", app, "base:1"]),
        (&["dangling=false"], true, &["tool:latest", app, "base:1"]),
        (&["label=tier"], false, &["tool:latest", app]),
        (&["label=tier=web"], false, &[app]),
        (&["label=team"], false, &["tool:latest"]),
        (&["label=tier=db"], false, &[]),
        (&["reference=app"], false, &["app:1,app:2"]),
        (&["reference=app:1"], false, &["app:1"]),
        (&["reference=*/app"], false, &["example.com/app:1"]),
        (&["reference=b*"], false, &["base:1"]),
        (
            &["reference=app:2", "reference=tool"],
            false,
            &["tool:latest", "app:2"],
        ),
        (&["reference=nothing"], true, &[]),
        (&["before=app:1"], false, &["base:1", orphan]),
        (&["before=app:1"], true, &[mid, "base:1", orphan]),
        (&["since=base:1"], false, &["tool:latest", app]),
        (&["since=base:1"], true, &["tool:latest", app, mid]),
        (&["until=2020-12-31T00:00:00Z"], false, &["base:1", orphan]),
        (&["until=1577836801"], false, &["base:1", orphan]),
        (&["until=40000h"], false, &[orphan]),
        (&["until=100000h"], false, &[]),
    ];
    for (filters, all, want) in cases {
        assert_eq!(
            ls(&a, filters, *all).unwrap(),
            *want,
            "{filters:?} all={all}"
        );
    }
}

#[test]
fn filters_combined() {
    let a = archive();
    let app = "app:1,app:2,example.com/app:1";
    let cases: &[(&[&str], &[&str])] = &[
        (&["before=tool", "since=base:1"], &[app]),
        (
            &["before=tool", "before=app:1"],
            &["base:1", "<none>@1546300800"],
        ),
        (&["since=base:1", "since=app:2"], &["tool:latest"]),
        (&["dangling=false", "label=tier", "before=tool"], &[app]),
        (&["label=tier", "label=team"], &["tool:latest"]),
        (&["label=tier", "reference=app:2"], &["app:2"]),
        (&["dangling=true", "label=tier"], &[]),
        (
            &["reference=*", "since=base:1"],
            &["tool:latest", "app:1,app:2"],
        ),
        (
            &[
                "until=2021-06-01T00:00:00Z",
                "before=tool",
                "label=tier=web",
            ],
            &[app],
        ),
    ];
    for (filters, want) in cases {
        assert_eq!(ls(&a, filters, false).unwrap(), *want, "{filters:?}");
    }
}

#[test]
fn filter_errors_are_the_daemons() {
    let a = archive();
    let err = |f: &[&str]| ls(&a, f, false).unwrap_err().to_string();
    assert_eq!(err(&["color=red"]), "invalid filter 'color'");
    assert_eq!(
        err(&["dangling=maybe"]),
        "invalid filter 'dangling=[maybe]'"
    );
    assert_eq!(
        err(&["dangling=true", "dangling=false"]),
        "invalid filter 'dangling=[false true]'"
    );
    assert_eq!(err(&["before=nope:1"]), "No such image: nope:1");
    assert_eq!(err(&["reference=["]), "syntax error in pattern \"[\"");
    assert!(err(&["until=soon"]).contains("failed to parse value as time or duration"));
}

#[test]
fn shared_size_counts_layers_other_images_use() {
    let a = archive();
    let list = engine::list(&a, &ListOptions::default().all(true).shared_size(true)).unwrap();
    let by_tag = |t: &str| {
        list.iter()
            .find(|s| s.repo_tags.iter().flatten().next().map(String::as_str) == Some(t))
            .unwrap()
    };
    // "base-os" (7 bytes) is in base, mid and app; "0123456789" (10) in mid and app.
    assert_eq!(
        (by_tag("app:1").size, by_tag("app:1").shared_size),
        (20, 17)
    );
    assert_eq!(
        (by_tag("base:1").size, by_tag("base:1").shared_size),
        (7, 7)
    );
    assert_eq!(
        (
            by_tag("tool:latest").size,
            by_tag("tool:latest").shared_size
        ),
        (1, 0)
    );
}

#[test]
fn history_walks_the_parent_chain() {
    let a = archive();
    let app = a.find_image(Some("app:2")).unwrap();
    let h = engine::history(&a, app).unwrap();
    let ids: Vec<&str> = h.iter().map(|i| i.id.as_str()).collect();
    let id = |q: &str| engine::inspect(&a, a.find_image(Some(q)).unwrap(), &Default::default()).id;
    assert_eq!(ids, [id("app:1"), id(&mid_id(&a)), id("base:1")]);
    assert_eq!(
        h[0].tags.as_deref(),
        Some(
            [
                "app:1".to_string(),
                "app:2".into(),
                "example.com/app:1".into()
            ]
            .as_slice()
        )
    );
    assert_eq!(h[1].tags, None, "the untagged parent");
    assert_eq!(
        h[2].tags.as_deref(),
        Some(["base:1".to_string()].as_slice())
    );
    assert_eq!(h.iter().map(|i| i.size).collect::<Vec<_>>(), [3, 10, 7]);
    assert_eq!(
        h.iter().map(|i| i.created_by.as_str()).collect::<Vec<_>>(),
        ["layer 2", "layer 1", "layer 0"]
    );
    assert_eq!(h[2].created, 1_546_300_800);
    // The binary prints these items as docker's table (its CREATED column follows the clock).
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.tar");
    std::fs::write(&file, archive_bytes()).unwrap();
    let f = file.to_str().unwrap();
    let table = cli(&["history", f, "app:2"]);
    let rows = cells(&table);
    assert_eq!(
        cells(&table)[0],
        ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]
    );
    assert!(table.starts_with("IMAGE          CREATED   "));
    assert_eq!(rows.len(), 4, "{table}");
    for (row, item) in rows[1..].iter().zip(&h) {
        assert_eq!(row[0], item.id[7..19], "{table}");
        assert!(row[1].ends_with(" years ago"), "{table}");
        assert_eq!(
            row[2..],
            [item.created_by.clone(), format!("{}B", item.size)],
            "{table}"
        );
    }
    let json: Vec<HistoryItem> =
        serde_json::from_str(&cli(&["history", f, "app:2", "--json"])).unwrap();
    assert_eq!(json, h);
}

#[test]
fn inspect_fields() {
    let a = archive();
    let app = a.find_image(Some("docker.io/library/app:1")).unwrap();
    let i = engine::inspect(&a, app, &Default::default());
    assert_eq!(i.repo_tags, ["app:1", "app:2", "example.com/app:1"]);
    assert!(i.repo_digests.is_empty());
    assert_eq!(i.created.as_deref(), Some("2021-01-01T00:00:00Z"));
    assert_eq!(i.size, 20);
    assert_eq!(
        i.parent.as_deref(),
        Some(format!("sha256:{}", mid_id(&a)).as_str())
    );
    assert_eq!(i.root_fs.layers.as_ref().unwrap().len(), 3);
    let c = i.config.unwrap();
    assert_eq!(c.cmd, Some(Some(vec!["sh".to_string()])));
    assert_eq!(c.entrypoint, None, "API 1.52+ omits unset fields");
    assert_eq!(
        c.labels,
        Some(Some([("tier".to_string(), "web".to_string())].into()))
    );
    assert_eq!(i.descriptor, None, "no index.json");
    let v =
        |m: u16| engine::InspectOptions::default().api_version(engine::ApiVersion::v1(m).unwrap());
    let c51 = engine::inspect(&a, app, &v(51)).config.unwrap();
    assert_eq!(c51.entrypoint, Some(None), "API 1.50-1.51 show it as null");
    assert_eq!(c51.hostname, None, "API 1.50 dropped the container fields");
    let i49 = engine::inspect(&a, app, &v(49));
    let c49 = i49.config.unwrap();
    assert_eq!(
        c49.hostname,
        Some(String::new()),
        "API 1.49: container.Config"
    );
    assert_eq!(c49.attach_stdin, Some(false));
    assert_eq!(i49.container, None, "removed in 1.45");
    let i44 = engine::inspect(&a, app, &v(44));
    assert!(i44.container.is_some() && i44.virtual_size.is_none());
    assert_eq!(engine::inspect(&a, app, &v(43)).virtual_size, Some(20));
    // Manifests only on request, for images reached through index.json.
    let real = imgtar::open(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/real/oras-ctr-export-manifest-list.tar"),
    )
    .unwrap();
    let img = &real.archive.images[0];
    let by_digest = real
        .archive
        .find_image(Some(
            "hello-world@sha256:faa03e786c97f07ef34423fccceeec2398ec8a5759259f94d99078f264e9d7af",
        ))
        .unwrap();
    assert_eq!(by_digest, img, "named by its RepoDigest");
    assert!(real
        .archive
        .find_image(Some(
            "other@sha256:faa03e786c97f07ef34423fccceeec2398ec8a5759259f94d99078f264e9d7af"
        ))
        .is_err());
    assert!(engine::inspect(&real.archive, img, &Default::default())
        .manifests
        .is_none());
    assert!(
        engine::inspect(
            &real.archive,
            img,
            &engine::InspectOptions::default().manifests(true),
        )
        .manifests
        .is_none(),
        "the classic store has no manifests"
    );
    let with = engine::inspect(
        &real.archive,
        img,
        &engine::InspectOptions::default()
            .manifests(true)
            .store(engine::Store::Containerd),
    );
    assert_eq!(
        with.id,
        with.descriptor.as_ref().unwrap().digest,
        "containerd: the target's digest"
    );
    let m = with.manifests.unwrap();
    assert_eq!(m.len(), 11);
    assert_eq!(
        m.iter().filter(|m| m.available).count(),
        1,
        "only linux/amd64 was exported"
    );
}

#[test]
fn images_table_like_docker() {
    let a = archive();
    let list = engine::list(&a, &ListOptions::default()).unwrap();
    let id = |q: &str| {
        engine::inspect(&a, a.find_image(Some(q)).unwrap(), &Default::default()).id[7..19]
            .to_string()
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.tar");
    std::fs::write(&file, archive_bytes()).unwrap();
    let f = file.to_str().unwrap();
    let table = cli(&["ls", f]);
    assert_eq!(
        cells(&table)[0],
        ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]
    );
    assert!(table.starts_with("REPOSITORY        TAG       IMAGE ID       CREATED   "));
    // One row per name, newest image first; CREATED follows the clock.
    let rows: Vec<Vec<String>> = cells(&table)
        .into_iter()
        .skip(1)
        .map(|mut r| {
            assert!(r[3].ends_with(" ago"), "{table}");
            r.remove(3);
            r
        })
        .collect();
    let row = |repo: &str, tag: &str, id: String, size: &str| -> Vec<String> {
        vec![repo.into(), tag.into(), id, size.into()]
    };
    assert_eq!(
        rows,
        [
            row("tool", "latest", id("tool"), "1B"),
            row("app", "1", id("app:1"), "20B"),
            row("app", "2", id("app:1"), "20B"),
            row("example.com/app", "1", id("app:1"), "20B"),
            row("base", "1", id("base:1"), "7B"),
            row("<none>", "<none>", list[3].id[7..19].to_string(), "1B"),
        ],
        "{table}"
    );
    let d = cli(&["ls", f, "tool", "--digests", "--no-trunc"]);
    assert!(
        d.starts_with("REPOSITORY   TAG       DIGEST    IMAGE ID"),
        "{d}"
    );
    assert!(
        d.contains(&format!("tool         latest    <none>    {}", list[0].id)),
        "{d}"
    );
    let json: Vec<ImageSummary> =
        serde_json::from_str(&cli(&["ls", f, "--format", "json"])).unwrap();
    assert_eq!(json.len(), list.len());
    assert_eq!(
        json.iter()
            .map(|s| (&s.id, &s.repo_tags, s.size))
            .collect::<Vec<_>>(),
        list.iter()
            .map(|s| (&s.id, &s.repo_tags, s.size))
            .collect::<Vec<_>>()
    );
}

/// The CLI prints the library's JSON (compared with the checked-in goldens).
#[test]
fn cli_prints_the_golden_json() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for file in [
        "podman-docker-two-names.tar.xz",
        "oras-ctr-export-manifest-list.tar",
        "dive-docker-1.10-whiteouts.tar",
    ] {
        let input = root.join("testdata/real").join(file);
        let golden = |kind: &str| -> Value {
            serde_json::from_str(
                &std::fs::read_to_string(
                    root.join("testdata/golden")
                        .join(kind)
                        .join(format!("{file}.json")),
                )
                .unwrap(),
            )
            .unwrap()
        };
        let run = |args: &[&str]| -> Value {
            let out = Command::new(env!("CARGO_BIN_EXE_imgtar"))
                .args(args)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            serde_json::from_slice(&out.stdout).unwrap()
        };
        let p = input.to_str().unwrap();
        assert_eq!(
            run(&["inspect", p, "--manifests"]),
            golden("inspect"),
            "{file}"
        );
        assert_eq!(run(&["ls", p, "--format", "json"]), golden("ls"), "{file}");
        let h = golden("history");
        assert_eq!(
            run(&[
                "history",
                p,
                h[0]["Image"].as_str().unwrap(),
                "--format",
                "json"
            ]),
            h[0]["History"],
            "{file}"
        );
        // The other daemons, by flag.
        for (dir, flags) in [
            ("v1.41", ["--api-version", "1.41"]),
            ("v1.44", ["--api-version", "v1.44"]),
            ("containerd", ["--store", "containerd"]),
        ] {
            let want: Value = serde_json::from_str(
                &std::fs::read_to_string(
                    root.join("testdata/golden")
                        .join(dir)
                        .join(format!("{file}.json")),
                )
                .unwrap(),
            )
            .unwrap();
            let mut args = vec!["inspect", p, "--manifests"];
            args.extend(flags);
            assert_eq!(run(&args), want["inspect"], "{file} {dir}");
            let mut args = vec!["ls", p, "--json", "--manifests"];
            args.extend(flags);
            assert_eq!(run(&args), want["ls"], "{file} {dir}");
        }
    }
    let bad = Command::new(env!("CARGO_BIN_EXE_imgtar"))
        .args(["ls", "x.tar", "--api-version", "1.40"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("give 1.41 to 1.55"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    let input = root.join("testdata/real/podman-docker-two-names.tar.xz");
    let out = Command::new(env!("CARGO_BIN_EXE_imgtar"))
        .args(["inspect", input.to_str().unwrap(), "pretty-empty", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "Error: No such image: nope\n"
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
}

// ---- one image per manifest ----

/// The sample OCI layout whose index.json holds `descriptors` (each the manifest's
/// descriptor with these annotations), written to a file in `dir`.
fn oci_listing(
    dir: &Path,
    docker25: bool,
    annotations: &[Option<Value>],
) -> (std::path::PathBuf, crate::support::OciSave) {
    use crate::support::{descriptor, Image, OciSave, MEDIA_MANIFEST};
    let mut img = Image::sample();
    img.repo_tags = vec![
        "example.com/busybox:latest".into(),
        "example.com/busybox:1.36".into(),
    ];
    let mut s = if docker25 {
        OciSave::docker25(img)
    } else {
        OciSave::plain(img)
    };
    let d = descriptor(MEDIA_MANIFEST, &s.manifest_bytes());
    let list: Vec<Value> = annotations
        .iter()
        .map(|a| {
            let mut d = d.clone();
            if let Some(a) = a {
                d["annotations"] = a.clone();
            }
            d
        })
        .collect();
    s.index["manifests"] = Value::Array(list);
    let file = dir.join(if docker25 { "docker25.tar" } else { "oci.tar" });
    std::fs::write(&file, s.build().bytes).unwrap();
    (file, s)
}

#[test]
fn one_manifest_under_two_ref_names_is_one_image_with_both_names() {
    let dir = tempfile::tempdir().unwrap();
    let ref_name = |n: &str| Some(serde_json::json!({"org.opencontainers.image.ref.name": n}));
    let (file, s) = oci_listing(
        dir.path(),
        false,
        &[
            ref_name("example.com/busybox:latest"),
            ref_name("example.com/busybox:1.36"),
        ],
    );
    let report = imgtar::open(&file).unwrap();
    assert!(report.is_valid(), "{:#?}", report.findings);
    let images = &report.archive.images;
    assert_eq!(images.len(), 1, "{images:#?}");
    let img = &images[0];
    assert_eq!(
        img.ref_names,
        ["example.com/busybox:latest", "example.com/busybox:1.36"]
    );
    assert_eq!(img.repo_tags, img.ref_names);
    assert_eq!(
        img.manifest_digest.as_ref().map(ToString::to_string),
        Some(s.manifest_digest())
    );
    let id = img.id_hex().unwrap()[..12].to_string();
    for name in [
        id.as_str(),
        "example.com/busybox:1.36",
        "example.com/busybox",
    ] {
        assert_eq!(
            report.archive.find_image(Some(name)).unwrap(),
            img,
            "{name}"
        );
    }
    // The commands that name one image take its ID prefix (they said "matches 2 images").
    let f = file.to_str().unwrap();
    let tree = cli(&["tree", f, &id]);
    assert!(tree.contains("/etc/hello"), "{tree}");
    let inspect: Vec<ImageInspect> = serde_json::from_str(&cli(&["inspect", f, &id])).unwrap();
    assert_eq!(inspect.len(), 1);
    assert_eq!(inspect[0].id, format!("sha256:{}", img.id_hex().unwrap()));
    assert_eq!(inspect[0].repo_tags.len(), 2, "{:?}", inspect[0].repo_tags);
    let history: Vec<HistoryItem> =
        serde_json::from_str(&cli(&["history", f, &id, "--json"])).unwrap();
    assert_eq!(history.len(), 3);
    let ls: Vec<ImageSummary> = serde_json::from_str(&cli(&["ls", f, "--json"])).unwrap();
    assert_eq!(ls.len(), 1);
    // Listed once by inspect without names too.
    let all: Vec<ImageInspect> = serde_json::from_str(&cli(&["inspect", f])).unwrap();
    assert_eq!(all.len(), 1);
}

#[test]
fn a_manifest_listed_twice_in_index_json_is_one_image() {
    let dir = tempfile::tempdir().unwrap();
    let named = Some(
        serde_json::json!({"org.opencontainers.image.ref.name": "example.com/busybox:latest"}),
    );
    for (what, annotations) in [
        ("unnamed twice", vec![None, None]),
        ("same name twice", vec![named.clone(), named.clone()]),
        ("named and unnamed", vec![named.clone(), None]),
    ] {
        let (file, _) = oci_listing(dir.path(), false, &annotations);
        let report = imgtar::open(&file).unwrap();
        assert!(report.is_valid(), "{what}: {:#?}", report.findings);
        assert_eq!(report.archive.images.len(), 1, "{what}");
        let img = &report.archive.images[0];
        let want: Vec<String> = if annotations.iter().any(Option::is_some) {
            vec!["example.com/busybox:latest".into()]
        } else {
            vec![]
        };
        assert_eq!(img.ref_names, want, "{what}");
        assert_eq!(img.repo_tags, want, "{what}");
        let list = engine::list(&report.archive, &ListOptions::default().all(true)).unwrap();
        assert_eq!(list.len(), 1, "{what}");
        let id = img.id_hex().unwrap()[..12].to_string();
        cli(&["tree", file.to_str().unwrap(), &id]);
    }
}

#[test]
fn docker25_names_its_image_once_with_every_index_entry() {
    // Docker 25 lists an image once per tag in index.json, each with its ref name.
    let dir = tempfile::tempdir().unwrap();
    let entry = |tag: &str| {
        Some(serde_json::json!({
            "io.containerd.image.name": format!("example.com/busybox:{tag}"),
            "org.opencontainers.image.ref.name": tag,
        }))
    };
    let (file, s) = oci_listing(dir.path(), true, &[entry("latest"), entry("1.36")]);
    let report = imgtar::open(&file).unwrap();
    assert!(report.is_valid(), "{:#?}", report.findings);
    assert_eq!(report.archive.layout, imgtar::Layout::DockerOci);
    let images = &report.archive.images;
    assert_eq!(images.len(), 1);
    assert_eq!(
        images[0].repo_tags,
        ["example.com/busybox:latest", "example.com/busybox:1.36"]
    );
    assert_eq!(images[0].ref_names, ["latest", "1.36"]);
    assert_eq!(
        images[0].manifest_digest.as_ref().map(ToString::to_string),
        Some(s.manifest_digest())
    );
    let id = images[0].id_hex().unwrap()[..12].to_string();
    let f = file.to_str().unwrap();
    cli(&["tree", f, &id]);
    cli(&["history", f, &id]);
    let inspect: Vec<ImageInspect> = serde_json::from_str(&cli(&["inspect", f, &id])).unwrap();
    assert_eq!(inspect.len(), 1);
}
