//! Golden files: for every real tarball in `testdata/real/`, the Engine API JSON imgtar
//! derives (inspect with `Manifests` and the history of each image of `Archive::images`, and
//! the default image list)
//! is checked in under `testdata/golden/{inspect,ls,history}/<file>.json` and compared here.
//!
//! `IMGTAR_BLESS=1 cargo test --test all engine_golden` rewrites them; review the diff.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use imgtar::engine::{self, InspectOptions, ListOptions};
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

/// The three documents of one corpus file.
fn render(file: &str) -> [Value; 3] {
    let report = imgtar::Reader::new()
        .open(root().join("testdata/real").join(file))
        .unwrap_or_else(|e| panic!("{file}: {e}"));
    let a = &report.archive;
    let inspect: Vec<_> = a
        .images
        .iter()
        .map(|i| engine::inspect(a, i, &InspectOptions::default().manifests(true)))
        .collect();
    let ls = engine::list(a, &ListOptions::default()).unwrap();
    let history: Vec<Value> = a
        .images
        .iter()
        .map(|i| match engine::history(a, i) {
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
    for file in &files {
        for (kind, value) in KINDS.iter().zip(render(file)) {
            let path = root()
                .join("testdata/golden")
                .join(kind)
                .join(format!("{file}.json"));
            let text = serde_json::to_string_pretty(&value).unwrap() + "\n";
            if bless {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, &text).unwrap();
                continue;
            }
            match std::fs::read_to_string(&path) {
                Ok(want) if want == text => {}
                Ok(_) => problems.push(format!("{} differs", path.display())),
                Err(e) => problems.push(format!("{}: {e}", path.display())),
            }
        }
    }
    // No golden may outlive its corpus file.
    for kind in KINDS {
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
