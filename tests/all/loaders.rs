//! imgtar's loader verdicts against the real loaders: for every archive of `testdata/real`,
//! variants built from some of them (recompressed, renamed, VERSION rewritten, layers cut or
//! recompressed), and the archive of every case of the rules table, each installed loader
//! (Docker 20.10, containerd 1.6, podman 4.3) is run and its outcome (loads, refuses, or
//! loads some images and fails; how many images) must be the one imgtar predicts for it. A
//! mismatch prints the loader's own error and imgtar's prediction. Loaders that are not
//! installed are skipped with a visible `SKIPPED:` line.
//!
//! The verdicts of versions not installable here are checked in `loader_facts` against what
//! their source says (the error text and the source line, cited there).

use std::path::PathBuf;

use imgtar::{Loader, Outcome, Reader};

use crate::harness::{self, Load, Verdict as Observed};

/// The version of each loader the suite runs, and the harness's name for it.
const TESTED: [(harness::Loader, Loader, &str); 3] = [
    (harness::Loader::Docker, Loader::Docker, "20.10"),
    (harness::Loader::Containerd, Loader::Containerd, "1.6"),
    (harness::Loader::Podman, Loader::Podman, "4.3"),
];

fn observed_as(v: Observed) -> Outcome {
    match v {
        Observed::Loads => Outcome::Loads,
        Observed::Refuses => Outcome::Refuses,
        Observed::Partial => Outcome::Partial,
    }
}

/// Compares every installed loader with imgtar's predictions on each archive, both as
/// `Reader::open` makes them and as `validate` makes them once it has judged the links
/// (`layer::check_links` on a report read with recorded entries); returns the mismatches,
/// described.
fn compare(archives: &[(String, PathBuf)]) -> Vec<String> {
    compare_with(archives, &[false, true])
}

/// [`compare`] with only `validate`'s predictions: archives whose layers fail an applier on
/// their links, which only the link judgement sees.
pub(crate) fn compare_judged(archives: &[(String, PathBuf)]) -> Vec<String> {
    compare_with(archives, &[true])
}

fn compare_with(archives: &[(String, PathBuf)], ways: &[bool]) -> Vec<String> {
    let mut bad = Vec::new();
    let loaders: Vec<(&'static dyn Load, Loader, &str)> = TESTED
        .iter()
        .filter_map(|(h, l, v)| harness::loader_or_skip(*h).map(|x| (x, *l, *v)))
        .collect();
    if loaders.is_empty() {
        return bad;
    }
    for (name, path) in archives {
        if std::env::var_os("IMGTAR_LOADERS_TRACE").is_some() {
            eprintln!("loaders: {name}");
        }
        let reports: Vec<(bool, imgtar::Report)> = ways
            .iter()
            .map(|&judged| {
                let reader = Reader::new().record_entries(judged);
                let mut report = reader.open(path).unwrap();
                if judged {
                    imgtar::layer::check_links(&reader, &mut report);
                }
                (judged, report)
            })
            .collect();
        for (loader, which, version) in &loaders {
            assert_eq!(
                loader.version(),
                *version,
                "the installed {which} is another version"
            );
            let (real, count, message) = observe(*loader, *which, version, path);
            for (judged, report) in &reports {
                let predicted = report
                    .loaders
                    .iter()
                    .find(|v| v.loader == *which && v.version == *version)
                    .unwrap_or_else(|| panic!("no verdict for {which} {version}"));
                let way = if *judged { "validate" } else { "Reader::open" };
                if std::env::var_os("IMGTAR_LOADERS_TABLE").is_some() {
                    eprintln!(
                        "observed: {name} | {which} {version} | {} {count} | {message:?} | {way} predicts {} {}",
                        real.as_str(),
                        predicted.verdict.as_str(),
                        predicted.images
                    );
                }
                if real != predicted.verdict || count != predicted.images {
                    bad.push(format!(
                        "{name}: {which} {version} {} {} image(s): {:?}\n    imgtar ({way}) predicts {} {} image(s): {:?}",
                        real.as_str(),
                        count,
                        message,
                        predicted.verdict.as_str(),
                        predicted.images,
                        predicted.message
                    ));
                }
            }
        }
    }
    bad
}

/// One real load: its verdict, image count and message. With `IMGTAR_LOADERS_CACHE=<dir>`
/// outcomes are kept there by archive digest and loader, so that rerunning the comparison
/// after a change to the predictions does not run the loaders again (the cache is only
/// ever read when that variable is set; CI does not set it).
fn observe(
    loader: &dyn Load,
    which: Loader,
    version: &str,
    path: &std::path::Path,
) -> (Outcome, usize, String) {
    let cache = std::env::var_os("IMGTAR_LOADERS_CACHE").map(PathBuf::from);
    let key = cache.as_ref().map(|dir| {
        let bytes = std::fs::read(path).unwrap();
        dir.join(format!(
            "{}-{which}-{version}.json",
            imgtar::Digest::sha256_of(&bytes).hex()
        ))
    });
    if let Some(k) = &key {
        if let Ok(text) = std::fs::read_to_string(k) {
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            let verdict = match v["verdict"].as_str().unwrap() {
                "loads" => Outcome::Loads,
                "partial" => Outcome::Partial,
                _ => Outcome::Refuses,
            };
            return (
                verdict,
                v["images"].as_u64().unwrap() as usize,
                v["message"].as_str().unwrap().to_string(),
            );
        }
    }
    let o = loader.load(path);
    let out = (observed_as(o.verdict), o.images.len(), o.stable_message());
    if let Some(k) = &key {
        std::fs::create_dir_all(k.parent().unwrap()).unwrap();
        let v = serde_json::json!({"verdict": out.0.as_str(), "images": out.1, "message": out.2});
        std::fs::write(k, v.to_string()).unwrap();
    }
    out
}

fn real_archives() -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(crate::loaders_observed::real_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.contains(".tar")
        })
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    out.sort();
    out
}

#[test]
fn every_real_archive_as_the_loaders_load_it() {
    let bad = compare(&real_archives());
    assert!(
        bad.is_empty(),
        "{} mismatch(es):\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn every_variant_as_the_loaders_load_it() {
    if harness::available().is_err() {
        harness::skipped("loaders", "IMGTAR_LOADERS=0");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let variants = crate::loaders_observed::build_variants(dir.path(), &real_archives());
    let archives: Vec<(String, PathBuf)> = variants
        .iter()
        .map(|v| (format!("{} ({})", v.name, v.description), v.path.clone()))
        .collect();
    let bad = compare(&archives);
    assert!(
        bad.is_empty(),
        "{} mismatch(es):\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn every_rule_case_as_the_loaders_load_it() {
    if harness::available().is_err() {
        harness::skipped("loaders", "IMGTAR_LOADERS=0");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut archives = Vec::new();
    for case in crate::rules::all_cases() {
        let built = (case.build)();
        let path: PathBuf = dir.path().join(format!("{}.tar", case.name));
        std::fs::write(&path, &built.bytes).unwrap();
        archives.push((format!("rules case {}", case.name), path));
    }
    let bad = compare(&archives);
    assert!(
        bad.is_empty(),
        "{} mismatch(es):\n{}",
        bad.len(),
        bad.join("\n")
    );
}
