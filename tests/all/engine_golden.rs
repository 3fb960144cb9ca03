//! Golden files: for every real tarball in `testdata/real/`, the Engine API JSON imgtar
//! derives (inspect with `Manifests` and the history of each image of `Archive::images`, and
//! the default image list)
//! is checked in under `testdata/golden/{inspect,ls,history}/<file>.json` and compared here.
//!
//! Those answer the default: API 1.55 (Docker 29), classic store. The same three documents
//! for other daemons are under `testdata/golden/<variant>/<file>.json` (one file with
//! `inspect`, `ls`, `history`): `v1.41` (Docker 20.10, classic store: checked against the
//! real daemon by `engine_daemon`), and, following moby's API version history
//! (`api/docs/CHANGELOG.md`) and each release's `image_routes.go` rather than a daemon:
//! `v1.43`, `v1.44`, `v1.49`, `v1.51` (classic store) and `containerd` (API 1.55, containerd
//! store).
//!
//! `IMGTAR_BLESS=1 cargo test --test all engine_golden` rewrites them; review the diff.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use imgtar::engine::{self, ApiVersion, HistoryOptions, InspectOptions, ListOptions, Store};
use serde_json::{json, Value};

const KINDS: [&str; 3] = ["inspect", "ls", "history"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn corpus() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(root().join("testdata/real"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "SOURCES.md" && n != "FACTS.json")
        .collect();
    files.sort();
    files
}

/// The variants besides the default: directory, API version, store.
const VARIANTS: [(&str, u16, Store); 6] = [
    ("v1.41", 41, Store::Classic),
    ("v1.43", 43, Store::Classic),
    ("v1.44", 44, Store::Classic),
    ("v1.49", 49, Store::Classic),
    ("v1.51", 51, Store::Classic),
    ("containerd", 55, Store::Containerd),
];

/// The three documents of one corpus file.
fn render(file: &str) -> [Value; 3] {
    render_as(file, ApiVersion::NEWEST, Store::Classic)
}

fn render_as(file: &str, v: ApiVersion, store: Store) -> [Value; 3] {
    let report = imgtar::Reader::new()
        .open(root().join("testdata/real").join(file))
        .unwrap_or_else(|e| panic!("{file}: {e}"));
    let a = &report.archive;
    let inspect: Vec<_> = a
        .images
        .iter()
        .map(|i| {
            let o = InspectOptions::default()
                .manifests(true)
                .api_version(v)
                .store(store);
            engine::inspect(a, i, &o)
        })
        .collect();
    let ls = engine::list(
        a,
        &ListOptions::default()
            .manifests(true)
            .api_version(v)
            .store(store),
    )
    .unwrap();
    let ho = HistoryOptions::default().api_version(v).store(store);
    let history: Vec<Value> = a
        .images
        .iter()
        .map(|i| match engine::history_with(a, i, &ho) {
            Ok(items) => json!({ "Image": i.id_hex(), "History": items }),
            Err(e) => json!({ "Image": i.id_hex(), "Error": e.to_string() }),
        })
        .collect();
    [json!(inspect), json!(ls), json!(history)]
}

#[test]
fn engine_json_matches_the_goldens() {
    let bless = std::env::var_os("IMGTAR_BLESS").is_some_and(|v| v == "1");
    let mut problems = Vec::new();
    let files = corpus();
    assert_eq!(files.len(), 52);
    let mut check = |path: PathBuf, value: &Value| {
        let text = serde_json::to_string_pretty(value).unwrap() + "\n";
        if bless {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &text).unwrap();
            return;
        }
        match std::fs::read_to_string(&path) {
            Ok(want) if want == text => {}
            Ok(_) => problems.push(format!("{} differs", path.display())),
            Err(e) => problems.push(format!("{}: {e}", path.display())),
        }
    };
    for file in &files {
        for (dir, minor, store) in VARIANTS {
            let [inspect, ls, history] = render_as(file, ApiVersion::v1(minor).unwrap(), store);
            check(
                root()
                    .join("testdata/golden")
                    .join(dir)
                    .join(format!("{file}.json")),
                &json!({ "inspect": inspect, "ls": ls, "history": history }),
            );
        }
        for (kind, value) in KINDS.iter().zip(render(file)) {
            check(
                root()
                    .join("testdata/golden")
                    .join(kind)
                    .join(format!("{file}.json")),
                &value,
            );
        }
    }
    // No golden may outlive its corpus file.
    for kind in KINDS.into_iter().chain(VARIANTS.map(|v| v.0)) {
        let names: BTreeSet<String> = std::fs::read_dir(root().join("testdata/golden").join(kind))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        for n in names {
            if !files.iter().any(|f| format!("{f}.json") == n) {
                problems.push(format!("testdata/golden/{kind}/{n} has no corpus file"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} golden file(s) out of date (rerun with IMGTAR_BLESS=1 and review the diff):\n{}",
        problems.len(),
        problems.join("\n")
    );
}
