//! imgtar's Engine API answers against the real daemon: every archive of `testdata/real`
//! that the private Docker 20.10 (API 1.41, classic store) loads, and a few built here, is
//! loaded once, and on it
//!
//! - `inspect` and `history` of every image the daemon holds (`GET /images/json?all=1`) must
//!   equal the daemon's JSON, `Metadata.LastTagTime` and `GraphDriver` aside;
//! - `ls` (plain and `all`) must equal the daemon's list, and each filter (`dangling`,
//!   `before`/`since` of every image, `reference` of every name, `label` of every label) the
//!   daemon's IDs in the daemon's order (images created at the same second in any order);
//! - `squash` of every image must equal `docker export` of a container created from it, the
//!   paths the container's init layer adds aside;
//! - `export` by every name and by ID must write the images `docker save` of that name
//!   writes (IDs, tags and parents, read back).
//!
//! The counts are printed on standard error (`engine vs docker 20.10: …`), and every
//! difference is listed when the test fails. The daemon is the harness's
//! (`tests/all/harness.rs`); without it the test prints `SKIPPED:`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use imgtar::engine::{self, ApiVersion, Filters, InspectOptions, ListOptions, Store};
use imgtar::layer::{content, flatten_image, FlattenOptions, Semantics};
use imgtar::{Archive, Input, Reader};
use serde_json::Value;

use crate::harness::{self, Docker, Engine, API};

/// How many comparisons of one kind agreed, and the first differences.
#[derive(Default)]
struct Tally {
    same: usize,
    total: usize,
    diffs: Vec<String>,
}

impl Tally {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        self.total += 1;
        if ok {
            self.same += 1;
        } else {
            self.diffs.push(what());
        }
    }
}

#[derive(Default)]
struct Tallies {
    by_kind: BTreeMap<&'static str, Tally>,
}

impl Tallies {
    fn kind(&mut self, k: &'static str) -> &mut Tally {
        self.by_kind.entry(k).or_default()
    }
    fn line(&self) -> String {
        self.by_kind
            .iter()
            .map(|(k, t)| format!("{k} {}/{}", t.same, t.total))
            .collect::<Vec<_>>()
            .join(", ")
    }
    fn diffs(&self) -> Vec<String> {
        self.by_kind
            .iter()
            .flat_map(|(k, t)| t.diffs.iter().map(move |d| format!("[{k}] {d}")))
            .collect()
    }
}

fn real_archives() -> Vec<(String, PathBuf)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/real");
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().contains(".tar"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    out.sort();
    out
}

/// A query string value, percent-encoded.
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn get(engine: &Engine, path: &str) -> Value {
    let (status, v) = engine
        .get_json(&format!("{API}{path}"))
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    assert_eq!(status, 200, "GET {path}: {v}");
    v
}

/// The daemon-local fields the comparison leaves out.
fn strip_local(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("GraphDriver");
        if let Some(m) = o.get_mut("Metadata").and_then(Value::as_object_mut) {
            m.remove("LastTagTime");
        }
    }
    v
}

/// The first difference between two JSON values, as a path and both sides.
fn first_difference(path: &str, a: &Value, b: &Value) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| match (x.get(k), y.get(k)) {
                (Some(p), Some(q)) => first_difference(&format!("{path}.{k}"), p, q),
                (p, q) => Some(format!(
                    "{path}.{k}: imgtar {} / docker {}",
                    p.map_or("absent".into(), Value::to_string),
                    q.map_or("absent".into(), Value::to_string)
                )),
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| first_difference(&format!("{path}[{i}]"), p, q)),
        _ if a == b => None,
        _ => Some(format!("{path}: imgtar {a} / docker {b}")),
    }
}

/// The options that answer as the harness's daemon: API 1.41, classic store.
fn daemon_inspect() -> InspectOptions {
    InspectOptions::default()
        .api_version(ApiVersion::OLDEST)
        .store(Store::Classic)
}

/// imgtar's answers for one archive.
struct Ours<'a> {
    archive: &'a Archive,
}

impl Ours<'_> {
    fn inspect(&self, id: &str) -> Option<Value> {
        let img = self.archive.find_image(Some(id)).ok()?;
        Some(serde_json::to_value(engine::inspect(self.archive, img, &daemon_inspect())).unwrap())
    }
    fn history(&self, id: &str) -> Option<Value> {
        let img = self.archive.find_image(Some(id)).ok()?;
        engine::history(self.archive, img)
            .ok()
            .map(|h| serde_json::to_value(h).unwrap())
    }
    fn list(&self, all: bool, filters: &[(&str, String)]) -> Result<Value, String> {
        let mut f = Filters::new();
        for (k, v) in filters {
            f.add(*k, v.clone());
        }
        let opts = ListOptions::default()
            .all(all)
            .filters(f)
            .api_version(ApiVersion::OLDEST)
            .store(Store::Classic);
        engine::list(self.archive, &opts)
            .map(|l| serde_json::to_value(l).unwrap())
            .map_err(|e| e.to_string())
    }
}

/// The daemon's list for these filters, or its error message.
fn daemon_list(engine: &Engine, all: bool, filters: &[(&str, String)]) -> Result<Value, String> {
    let mut q = format!("/images/json?all={}", u8::from(all));
    if !filters.is_empty() {
        let mut m: BTreeMap<&str, BTreeMap<String, bool>> = BTreeMap::new();
        for (k, v) in filters {
            m.entry(k).or_default().insert(v.clone(), true);
        }
        q.push_str(&format!(
            "&filters={}",
            encode(&serde_json::to_string(&m).unwrap())
        ));
    }
    let (status, v) = engine
        .get_json(&format!("{API}{q}"))
        .unwrap_or_else(|e| panic!("GET {q}: {e}"));
    match status {
        200 => Ok(v),
        _ => Err(v["message"].as_str().unwrap_or_default().to_string()),
    }
}

/// The IDs of a list, grouped by `Created` runs (images created at the same second may come
/// in any order).
fn id_runs(list: &Value) -> Vec<(i64, BTreeSet<String>)> {
    let mut out: Vec<(i64, BTreeSet<String>)> = Vec::new();
    for s in list.as_array().into_iter().flatten() {
        let c = s["Created"].as_i64().unwrap_or(0);
        let id = s["Id"].as_str().unwrap_or("").to_string();
        match out.last_mut() {
            Some((lc, ids)) if *lc == c => {
                ids.insert(id);
            }
            _ => out.push((c, BTreeSet::from([id]))),
        }
    }
    out
}

/// A list, its items sorted within runs of equal `Created`.
fn list_canonical(list: &Value) -> Vec<Value> {
    let mut items: Vec<Value> = list.as_array().cloned().unwrap_or_default();
    // Stable: order by Created descending, then by Id within a run.
    items.sort_by(|a, b| {
        b["Created"]
            .as_i64()
            .cmp(&a["Created"].as_i64())
            .then_with(|| a["Id"].as_str().cmp(&b["Id"].as_str()))
    });
    items
}

/// One entry of a root filesystem tar, as compared.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct FsEntry {
    kind: char,
    mode: u32,
    uid: u64,
    gid: u64,
    size: u64,
    link: String,
    content: String,
}

/// The entries of a root filesystem tar by path; hardlinks are resolved to the content of
/// the file they link to (which path of a group carries the content depends on walk order).
fn rootfs(bytes: &[u8]) -> BTreeMap<String, FsEntry> {
    let mut out: BTreeMap<String, FsEntry> = BTreeMap::new();
    let mut links: Vec<(String, String)> = Vec::new();
    let mut a = tar::Archive::new(bytes);
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().to_string_lossy().into_owned();
        let path = path
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_string();
        if path.is_empty() || path == "." {
            continue;
        }
        let h = e.header().clone();
        let kind = match h.entry_type() {
            tar::EntryType::Directory => 'd',
            tar::EntryType::Symlink => 'l',
            tar::EntryType::Link => 'h',
            tar::EntryType::Char => 'c',
            tar::EntryType::Block => 'b',
            tar::EntryType::Fifo => 'p',
            _ => 'f',
        };
        let link = e
            .link_name()
            .unwrap()
            .map(|l| l.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        let content = if kind == 'f' {
            crate::engine_support::sha(&data)
        } else {
            String::new()
        };
        if kind == 'h' {
            links.push((path.clone(), link.trim_start_matches("./").to_string()));
        }
        out.insert(
            path,
            FsEntry {
                kind: if kind == 'h' { 'f' } else { kind },
                mode: h.mode().unwrap() & 0o7777,
                uid: h.uid().unwrap(),
                gid: h.gid().unwrap(),
                size: if kind == 'f' { h.size().unwrap() } else { 0 },
                link: if kind == 'l' { link } else { String::new() },
                content,
            },
        );
    }
    for (path, target) in links {
        if let Some(t) = out.get(&target).cloned() {
            let e = out.get_mut(&path).unwrap();
            e.content = t.content;
            e.size = t.size;
            e.mode = t.mode;
        }
    }
    out
}

/// The paths a container's init layer adds to `docker export` (moby
/// `daemon/initlayer`, `container.InitializeStdio`): left out of the comparison. An `etc`
/// directory the image does not have is the init layer's too.
fn drop_init_paths(fs: &mut BTreeMap<String, FsEntry>, image_has_etc: bool) {
    const INIT: [&str; 9] = [
        ".dockerenv",
        "dev",
        "proc",
        "sys",
        "etc/hosts",
        "etc/hostname",
        "etc/resolv.conf",
        "etc/mtab",
        "dev/console",
    ];
    fs.retain(|p, _| {
        !INIT
            .iter()
            .any(|i| p == i || p.starts_with(&format!("{i}/")))
    });
    if !image_has_etc && fs.keys().all(|p| p == "etc" || !p.starts_with("etc/")) {
        fs.remove("etc");
    }
}

fn differences(
    ours: &BTreeMap<String, FsEntry>,
    theirs: &BTreeMap<String, FsEntry>,
) -> Vec<String> {
    let paths: BTreeSet<&String> = ours.keys().chain(theirs.keys()).collect();
    paths
        .into_iter()
        .filter_map(|p| match (ours.get(p), theirs.get(p)) {
            (Some(a), Some(b)) if a == b => None,
            (a, b) => Some(format!("{p}: imgtar {a:?} / docker {b:?}")),
        })
        .collect()
}

/// Each image's ID, tags and parent.
type Saved = BTreeSet<(String, Vec<String>, String)>;

/// What an archive holds, as compared: each image's ID, tags and parent.
fn saved_images(bytes_or_path: &Path) -> Saved {
    let report = Reader::new().open(bytes_or_path).unwrap();
    report
        .archive
        .images
        .iter()
        .map(|i| {
            let v = serde_json::to_value(engine::inspect(&report.archive, i, &Default::default()))
                .unwrap();
            let mut tags: Vec<String> = v["RepoTags"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect();
            tags.sort();
            (
                v["Id"].as_str().unwrap_or("").to_string(),
                tags,
                v["Parent"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// Loads one archive and runs every comparison on it.
fn compare_archive(docker: &Docker, name: &str, path: &Path, t: &mut Tallies, scratch: &Path) {
    let report = Reader::new().record_entries(true).open(path).unwrap();
    let archive = &report.archive;
    let ours = Ours { archive };
    // Exports of a pre-1.10 archive, loaded into the daemon after the archive itself.
    let mut reload: Vec<(String, PathBuf, Saved)> = Vec::new();
    docker.with_loaded(path, |outcome, engine| {
        if outcome.images.is_empty() {
            return;
        }
        // Exception: a load that failed partway (`ggcr-bundle-layersources.tar`: docker
        // loads the first image, then stops at `invalid tag "test_image_2"` before tagging
        // it). imgtar answers for the archive as a whole (its `validate` verdict says docker
        // refuses it), so only what does not depend on how far the load got is compared:
        // the flattened filesystem of each image the daemon holds.
        let complete = outcome.verdict == harness::Verdict::Loads;
        let all = get(engine, "/images/json?all=1");
        let ids: Vec<String> = all
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["Id"].as_str().unwrap().to_string())
            .collect();
        for id in ids.iter().filter(|_| complete) {
            let theirs = strip_local(get(engine, &format!("/images/{id}/json")));
            let mine = ours.inspect(id).map(strip_local);
            t.kind("inspect").check(mine.as_ref() == Some(&theirs), || {
                format!(
                    "{name} {id}: {}",
                    match &mine {
                        None => "no such image in imgtar".to_string(),
                        Some(m) => first_difference("", m, &theirs).unwrap_or_default(),
                    }
                )
            });
            let theirs = get(engine, &format!("/images/{id}/history"));
            let mine = ours.history(id);
            t.kind("history").check(mine.as_ref() == Some(&theirs), || {
                format!(
                    "{name} {id}: {}",
                    match &mine {
                        None => "no history in imgtar".to_string(),
                        Some(m) => first_difference("", m, &theirs).unwrap_or_default(),
                    }
                )
            });
        }
        // Listings.
        for all_flag in [false, true].into_iter().filter(|_| complete) {
            let theirs = daemon_list(engine, all_flag, &[]).unwrap();
            let mine = ours.list(all_flag, &[]);
            let same = mine
                .as_ref()
                .is_ok_and(|m| list_canonical(m) == list_canonical(&theirs));
            t.kind("ls").check(same, || {
                format!(
                    "{name} all={all_flag}: {}",
                    match &mine {
                        Err(e) => e.clone(),
                        Ok(m) => first_difference(
                            "",
                            &Value::Array(list_canonical(m)),
                            &Value::Array(list_canonical(&theirs)),
                        )
                        .unwrap_or_default(),
                    }
                )
            });
        }
        let mut queries: Vec<Vec<(&str, String)>> = vec![
            vec![("dangling", "true".into())],
            vec![("dangling", "false".into())],
        ];
        let mut labels: BTreeSet<(String, String)> = BTreeSet::new();
        let mut names: BTreeSet<String> = BTreeSet::new();
        for s in all.as_array().unwrap() {
            let id = s["Id"].as_str().unwrap().to_string();
            queries.push(vec![("before", id.clone())]);
            queries.push(vec![("since", id)]);
            for tag in s["RepoTags"].as_array().into_iter().flatten() {
                let tag = tag.as_str().unwrap();
                if tag != "<none>:<none>" {
                    names.insert(tag.to_string());
                    names.insert(tag.rsplit_once(':').unwrap().0.to_string());
                }
            }
            for (k, v) in s["Labels"].as_object().into_iter().flatten() {
                labels.insert((k.clone(), v.as_str().unwrap_or("").to_string()));
            }
        }
        for n in names {
            queries.push(vec![("reference", n.clone())]);
            queries.push(vec![("before", n.clone())]);
            queries.push(vec![("since", n)]);
        }
        for (k, v) in labels {
            queries.push(vec![("label", k.clone())]);
            queries.push(vec![("label", format!("{k}={v}"))]);
        }
        for q in queries.iter().filter(|_| complete) {
            for all_flag in [false, true] {
                let theirs = daemon_list(engine, all_flag, q).map(|l| id_runs(&l));
                let mine = ours.list(all_flag, q).map(|m| id_runs(&m));
                t.kind("ls filters").check(mine == theirs, || {
                    format!("{name} all={all_flag} {q:?}: imgtar {mine:?} / docker {theirs:?}")
                });
            }
        }
        // The tables, as the docker CLI of the daemon's release prints them.
        if complete {
            for (what, mine, theirs) in tables(docker, path, &ids) {
                t.kind("tables").check(same_table(&mine, &theirs), || {
                    format!("{name} {what}:\nimgtar:\n{mine}docker:\n{theirs}")
                });
            }
        }
        // The flattened filesystem.
        for id in &ids {
            let Ok(img) = archive.find_image(Some(id)) else {
                t.kind("squash")
                    .check(false, || format!("{name} {id}: no such image in imgtar"));
                continue;
            };
            let theirs = rootfs(&docker.export_rootfs(id).unwrap());
            let flat = flatten_image(
                archive,
                img,
                FlattenOptions::with_semantics(Semantics::DockerLoad),
            )
            .unwrap();
            let mut bytes = Vec::new();
            content::squash(
                &Reader::new(),
                &Input::File(path.to_path_buf()),
                archive,
                img,
                &flat.fs,
                &mut bytes,
            )
            .unwrap();
            let mut mine = rootfs(&bytes);
            let has_etc = mine.contains_key("etc");
            let mut theirs = theirs;
            drop_init_paths(&mut theirs, has_etc);
            drop_init_paths(&mut mine, true);
            let d = differences(&mine, &theirs);
            t.kind("squash").check(d.is_empty(), || {
                format!(
                    "{name} {id}: {} path(s) differ: {}",
                    d.len(),
                    d.iter().take(3).cloned().collect::<Vec<_>>().join("; ")
                )
            });
        }
        // Export by every name and by ID, against docker save of the same name.
        let mut export_names: Vec<String> = ids.clone();
        for s in all.as_array().unwrap() {
            for tag in s["RepoTags"].as_array().into_iter().flatten() {
                let tag = tag.as_str().unwrap();
                if tag != "<none>:<none>" {
                    export_names.push(tag.to_string());
                }
            }
        }
        for n in export_names.iter().filter(|_| complete) {
            let saved = engine
                .get(&format!("{API}/images/get?names={}", encode(n)))
                .unwrap();
            assert_eq!(saved.status, 200, "docker save {n}");
            let theirs_path = scratch.join("docker-save.tar");
            std::fs::write(&theirs_path, &saved.body).unwrap();
            let theirs = saved_images(&theirs_path);
            let out = scratch.join("imgtar-export.tar");
            let _ = std::fs::remove_file(&out);
            let mine = imgtar::export::export(
                path,
                std::slice::from_ref(n),
                &out,
                &imgtar::export::ExportOptions::default(),
            )
            .map(|_| saved_images(&out))
            .map_err(|e| e.to_string());
            let same = if archive.layout == imgtar::Layout::Legacy {
                // Exception: export keeps the input's layout, and `docker save` writes the
                // 1.10+ one. A pre-1.10 archive stores an image as its chain of layer
                // directories, each of which the legacy loader loads as an image with its
                // `Parent`, so reading imgtar's output back gives the named image plus its
                // parents where `docker save` gives the one image. Compared: the named
                // image's ID and tags; and the export is loaded into the daemon below.
                if mine.is_ok() {
                    let keep = scratch.join(format!("reload-{}.tar", reload.len()));
                    std::fs::copy(&out, &keep).unwrap();
                    reload.push((n.clone(), keep, theirs.clone()));
                }
                match &mine {
                    Err(_) => false,
                    Ok(m) => theirs
                        .iter()
                        .all(|(id, tags, _)| m.iter().any(|(i, ts, _)| i == id && ts == tags)),
                }
            } else {
                mine.as_ref() == Ok(&theirs)
            };
            t.kind("export").check(same, || {
                format!("{name} {n}: imgtar {mine:?} / docker {theirs:?}")
            });
        }
    });
    // `docker load` of imgtar's export holds the image `docker save` wrote, with its tags.
    for (n, file, theirs) in reload {
        docker.with_loaded(&file, |outcome, _| {
            let ok = theirs.iter().all(|(id, tags, _)| {
                outcome
                    .images
                    .iter()
                    .any(|i| &i.id == id && &i.tags == tags)
            });
            t.kind("export reloaded").check(ok, || {
                format!(
                    "{name} {n}: docker load of the export: {}",
                    outcome.summary()
                )
            });
        });
    }
}

/// `imgtar ls -a` and `docker images -a`, and `history` of each image, as tables.
fn tables(docker: &Docker, path: &Path, ids: &[String]) -> Vec<(String, String, String)> {
    let run = |c: &mut std::process::Command| {
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{c:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let imgtar = || {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_imgtar"));
        c.env_remove("COLUMNS");
        c
    };
    let p = path.to_str().unwrap();
    let mut out = vec![(
        "ls -a".to_string(),
        run(imgtar().args(["ls", p, "-a", "--api-version", "1.41"])),
        run(docker.command().args(["images", "-a"])),
    )];
    for id in ids {
        out.push((
            format!("history {id}"),
            run(imgtar().args(["history", p, id, "--api-version", "1.41"])),
            run(docker.command().args(["history", id])),
        ));
    }
    out
}

/// Two tables are the same when their cells are, but for relative times (`3 years ago`),
/// which depend on when each was printed: those need only both be relative. The rows are
/// compared in any order: docker/cli v20.10.24 `cli/command/formatter/image.go` walks an
/// image's repositories through a Go map, so its rows for one image come in random order.
fn same_table(a: &str, b: &str) -> bool {
    let sorted = |t: &str| {
        let mut rows = crate::engine_api::cells(t);
        rows.sort();
        rows
    };
    let (x, y) = (sorted(a), sorted(b));
    x.len() == y.len()
        && x.iter().zip(&y).all(|(r, s)| {
            r.len() == s.len()
                && r.iter()
                    .zip(s)
                    .all(|(c, d)| c == d || (c.ends_with(" ago") && d.ends_with(" ago")))
        })
}

/// Pre-1.10 archives with parent chains, built to exercise what Docker's legacy loader makes
/// of each layer directory's `json` (the IDs are sha256 of Go's encoding of a config made from
/// it): the raw path (`docker_version` 1.8.3 or newer: every key kept, in its order) and the
/// `V1Image` fallback (older or absent: only that struct's fields), HTML-escaped strings, a
/// string `Cmd`, unknown keys, absent `created`, an untagged middle layer.
fn built_legacy() -> Vec<(String, Vec<u8>)> {
    use crate::support::{other_layer, sample_layer_0, sample_layer_1, Image, LegacySave};
    use serde_json::json;
    let mut out = vec![(
        "built-legacy-sample.tar".to_string(),
        LegacySave::sample().build().bytes,
    )];
    let mut s = LegacySave::new(Image::new(vec![
        sample_layer_0(),
        sample_layer_1(),
        other_layer("three"),
    ]));
    let j0 = s.layer_jsons[0].as_object_mut().unwrap();
    j0.remove("docker_version");
    j0.remove("created");
    j0.insert("Size".into(), json!(123));
    j0.insert("author".into(), json!("Someone <a@b.c>"));
    let j1 = s.layer_jsons[1].as_object_mut().unwrap();
    j1.insert("throwaway".into(), json!(true));
    j1.insert("zzz_unknown".into(), json!({"b": 1, "a": [1, "x&y"]}));
    j1.insert("comment".into(), json!("héllo & co"));
    j1.insert(
        "container_config".into(),
        json!({"Cmd": ["/bin/sh", "-c", "echo a && echo <b> > /c"], "Labels": {"z": "1", "a": "2"}}),
    );
    let j2 = s.layer_jsons[2].as_object_mut().unwrap();
    j2.insert("docker_version".into(), json!("1.6.2"));
    j2.insert("created".into(), json!("2015-06-01T10:20:30.1200Z"));
    j2.insert(
        "config".into(),
        json!({"Cmd": "sh", "Env": ["A=1"], "Entrypoint": null, "OnBuild": [], "ExposedPorts": {"80/tcp": {}}, "Volumes": {"/v": {}}, "Labels": {"b": "2", "a": "1"}}),
    );
    j2.insert(
        "container_config".into(),
        json!({"Cmd": ["/bin/sh", "-c", "#(nop) CMD [\"sh\"]"], "Hostname": "abc"}),
    );
    out.push(("built-legacy-chain.tar".to_string(), s.build().bytes));
    out
}

#[test]
fn every_real_archive_answers_as_docker_20_10() {
    let Some(docker) = harness::docker_or_skip() else {
        return;
    };
    let scratch = tempfile::tempdir().unwrap();
    let mut t = Tallies::default();
    for (name, path) in real_archives() {
        compare_archive(docker, &name, &path, &mut t, scratch.path());
    }
    for (name, bytes) in built_legacy() {
        let path = scratch.path().join(&name);
        std::fs::write(&path, bytes).unwrap();
        compare_archive(docker, &name, &path, &mut t, scratch.path());
    }
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "engine vs docker 20.10: {}", t.line());
    let diffs = t.diffs();
    assert!(
        diffs.is_empty(),
        "{} difference(s) ({}):\n{}",
        diffs.len(),
        t.line(),
        diffs.join("\n")
    );
}

/// The containerd image store's IDs against what containerd 1.6 (`ctr images import`, the
/// importer Docker's containerd store runs too) recorded for every real archive it loaded
/// (`testdata/loaders/observed.json`, written by the loader tests): each image it holds has
/// the ID imgtar gives with `Store::Containerd`, for `index.json` archives (the entry's digest)
/// and `manifest.json` ones (the digest of the manifest the importer writes) alike.
#[test]
fn containerd_store_ids_are_the_ones_containerd_recorded() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let observed: Value = serde_json::from_slice(
        &std::fs::read(root.join("testdata/loaders/observed.json")).unwrap(),
    )
    .unwrap();
    let mut checked = 0;
    let mut wrong = Vec::new();
    for (file, outcome) in observed["files"].as_object().unwrap() {
        let c = &outcome["containerd"];
        let want: BTreeSet<&str> = c["images"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|i| i["id"].as_str())
            .collect();
        if c["verdict"] != "loads" || want.is_empty() {
            continue;
        }
        let report = Reader::new()
            .open(root.join("testdata/real").join(file))
            .unwrap();
        let a = &report.archive;
        let ours: BTreeSet<String> = a
            .images
            .iter()
            .map(|i| engine::image_id(a, i, Store::Containerd))
            .collect();
        for id in want {
            checked += 1;
            if !ours.contains(id) {
                wrong.push(format!("{file}: containerd {id}, imgtar {ours:?}"));
            }
        }
    }
    assert!(checked >= 15, "only {checked} recorded IDs");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
