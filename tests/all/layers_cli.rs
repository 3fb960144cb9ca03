//! The layer commands as a user runs them: output lines, exit codes and refusals.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn real(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/real")
        .join(file)
}

fn imgtar(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_imgtar"))
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(data) = stdin {
        // The command may refuse before reading everything.
        let _ = child.stdin.take().unwrap().write_all(data);
    }
    child.wait_with_output().unwrap()
}

#[test]
fn diff_of_one_layer_prints_docker_diff_lines() {
    let f = real("dive-docker-1.10-whiteouts.tar");
    let out = imgtar(&["diff", f.to_str().unwrap(), "--layer", "7"], None);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "C /root\nC /root/example\nD /root/example/somefile3.txt\nA /root/saved.txt\n"
    );
    // From a pipe too: diff needs one pass only.
    let bytes = std::fs::read(&f).unwrap();
    let out = imgtar(&["diff", "-", "--layer", "9"], Some(&bytes));
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "C /root\nD /root/example\n"
    );
    let out = imgtar(&["diff", f.to_str().unwrap(), "--layer", "14"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no layer 14"));
}

#[test]
fn cat_follows_the_final_layers_and_names_the_image() {
    let f = real("ggcr-symlink-layer-two-images.tar");
    let report = imgtar::Reader::new().open(&f).unwrap();
    let tag = report.archive.images[1].repo_tags[0].clone();
    let out = imgtar(&["cat", f.to_str().unwrap(), "/etc/passwd"], None);
    assert_eq!(out.status.code(), Some(2), "two images: IMAGE is needed");
    assert!(String::from_utf8_lossy(&out.stderr).contains("name one by tag or ID"));
    let out = imgtar(&["tree", f.to_str().unwrap(), &tag], None);
    assert!(out.status.success());
    let listing = String::from_utf8(out.stdout).unwrap();
    let file = listing
        .lines()
        .find(|l| l.starts_with('-'))
        .and_then(|l| l.split_whitespace().nth(4))
        .expect("a regular file in the image")
        .to_string();
    let out = imgtar(&["cat", f.to_str().unwrap(), &tag, &file], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let size: usize = listing
        .lines()
        .find(|l| l.split_whitespace().nth(4) == Some(file.as_str()))
        .and_then(|l| l.split_whitespace().nth(2))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(out.stdout.len(), size);
}

#[test]
fn cat_prints_the_rewritten_content() {
    let f = real("dive-docker-1.10-whiteouts.tar");
    let out = imgtar(&["cat", f.to_str().unwrap(), "/etc/passwd"], None);
    assert!(out.status.success());
    assert!(out.stdout.starts_with(b"root:x:0:0:root:/root:/bin/sh\n"));
    assert_eq!(out.stdout.len(), 340);
    let out = imgtar(
        &["cat", f.to_str().unwrap(), "/root/example/somefile1.txt"],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("/root/example/somefile1.txt does not exist")
    );
    let out = imgtar(&["cat", f.to_str().unwrap(), "/etc"], None);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("/etc is a directory, not a regular file")
    );
}

#[test]
fn squash_and_cat_refuse_a_pipe_before_reading_it() {
    let bytes = std::fs::read(real("ggcr-whiteout-dir-gzip.tar")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("rootfs.tar");
    let out = imgtar(
        &["squash", "-", "-o", out_path.to_str().unwrap()],
        Some(&bytes),
    );
    assert_eq!(out.status.code(), Some(2));
    let refused = |stderr: &[u8]| {
        let e = String::from_utf8_lossy(stderr);
        assert!(
            e.contains("standard input is read twice")
                && e.contains("it is a pipe; save it to a file first"),
            "{e}"
        );
    };
    refused(&out.stderr);
    assert!(!out_path.exists());
    let out = imgtar(&["cat", "-", "/a/baz"], Some(&bytes));
    assert_eq!(out.status.code(), Some(2));
    refused(&out.stderr);
    // Nothing but the rootfs is left in the directory.
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty());
}

#[test]
fn squash_writes_the_final_tree_and_never_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.tar");
    std::fs::copy(real("ggcr-whiteout-dir-gzip.tar"), &input).unwrap();
    let out = imgtar(
        &[
            "squash",
            input.to_str().unwrap(),
            "-o",
            input.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        std::fs::read(&input).unwrap(),
        std::fs::read(real("ggcr-whiteout-dir-gzip.tar")).unwrap()
    );
    let rootfs = dir.path().join("rootfs.tar");
    let out = imgtar(
        &[
            "squash",
            input.to_str().unwrap(),
            "-o",
            rootfs.to_str().unwrap(),
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut names = Vec::new();
    let mut tar = tar::Archive::new(std::fs::File::open(&rootfs).unwrap());
    for e in tar.entries().unwrap() {
        let e = e.unwrap();
        names.push(String::from_utf8(e.path_bytes().into_owned()).unwrap());
    }
    // Directories first, then files in the order the archive holds their layers.
    assert_eq!(names, ["a", "b", "b/bar", "a/baz"]);
    let mut files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["in.tar", "rootfs.tar"]);
}

#[test]
fn a_reader_that_stops_early_is_not_an_error() {
    // `imgtar tree … | head -1`: the pipe closes after one line.
    let mut child = Command::new(env!("CARGO_BIN_EXE_imgtar"))
        .args(["tree"])
        .arg(real("dive-docker-1.10-whiteouts.tar"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---- imgtar files: every file's content in one pass ----

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(b))
}

/// The regular files and the hardlinks of a tar: path → (sha256, size, mode), path → target.
type TarFiles = (
    std::collections::BTreeMap<String, (String, u64, u32)>,
    std::collections::BTreeMap<String, String>,
);

fn tar_files(path: &Path) -> TarFiles {
    let mut files = std::collections::BTreeMap::new();
    let mut links = std::collections::BTreeMap::new();
    let mut tar = tar::Archive::new(std::fs::File::open(path).unwrap());
    for e in tar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = format!("/{}", String::from_utf8_lossy(&e.path_bytes()));
        match e.header().entry_type() {
            tar::EntryType::Regular => {
                let mode = e.header().mode().unwrap() & 0o7777;
                let mut data = Vec::new();
                std::io::Read::read_to_end(&mut e, &mut data).unwrap();
                files.insert(name, (sha256_hex(&data), data.len() as u64, mode));
            }
            tar::EntryType::Link => {
                let target = format!(
                    "/{}",
                    String::from_utf8_lossy(&e.link_name_bytes().unwrap())
                );
                links.insert(name, target);
            }
            _ => {}
        }
    }
    (files, links)
}

/// `imgtar files --json` lines as the same two maps.
fn listed_files(json_lines: &[u8]) -> TarFiles {
    let mut files = std::collections::BTreeMap::new();
    let mut links = std::collections::BTreeMap::new();
    for line in String::from_utf8(json_lines.to_vec()).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let path = v["path"].as_str().unwrap().to_string();
        if let Some(target) = v["link"].as_str() {
            links.insert(path, target.to_string());
            continue;
        }
        let sha = v["sha256"]
            .as_str()
            .unwrap()
            .strip_prefix("sha256:")
            .unwrap();
        let mode = u32::from_str_radix(v["mode"].as_str().unwrap(), 8).unwrap();
        files.insert(path, (sha.to_string(), v["size"].as_u64().unwrap(), mode));
    }
    (files, links)
}

#[test]
fn files_sha256_equals_the_squashed_content_of_every_real_image() {
    let dir = tempfile::tempdir().unwrap();
    let mut compared = 0;
    let mut names: Vec<PathBuf> = std::fs::read_dir(real(""))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(".tar"))
        .collect();
    names.sort();
    for f in &names {
        let report = imgtar::Reader::new().record_entries(true).open(f).unwrap();
        let fs = f.to_str().unwrap();
        for image in &report.archive.images {
            let flattens =
                imgtar::layer::flatten_image(&report.archive, image, Default::default()).is_ok();
            let Some(id) = image.id_hex().map(str::to_string) else {
                continue;
            };
            let rootfs = dir.path().join("rootfs.tar");
            let squash = imgtar(&["squash", fs, &id, "-o", rootfs.to_str().unwrap()], None);
            if !flattens {
                assert!(
                    !squash.status.success(),
                    "{fs} {id}: squash of an image that does not flatten"
                );
                continue;
            }
            assert!(
                squash.status.success(),
                "{fs} {id}: {}",
                String::from_utf8_lossy(&squash.stderr)
            );
            let listed = imgtar(&["files", fs, &id, "--sha256", "--json"], None);
            assert!(
                listed.status.code() == Some(u8::from(!report.is_valid()).into()),
                "{fs} {id}: {}",
                String::from_utf8_lossy(&listed.stderr)
            );
            let (files, links) = listed_files(&listed.stdout);
            let (want_files, want_links) = tar_files(&rootfs);
            assert_eq!(files, want_files, "{fs} {id}: regular files");
            // A hardlink names the first path of its file in both; squash also links files
            // of one blob that backs two layers, which `files` lists as files.
            for (path, target) in &links {
                assert_eq!(want_links.get(path), Some(target), "{fs} {id}: link {path}");
            }
            for (path, target) in &want_links {
                if !links.contains_key(path) {
                    assert_eq!(
                        files.get(path).map(|f| &f.0),
                        want_files.get(target).map(|f| &f.0),
                        "{fs} {id}: {path} links to {target}"
                    );
                }
            }
            // From a pipe, in one pass: the same lines, as text and as JSON.
            let bytes = std::fs::read(f).unwrap();
            for json in [false, true] {
                let mut args = vec!["files", fs, &id, "--sha256"];
                if json {
                    args.push("--json");
                }
                let from_file = imgtar(&args, None);
                args[1] = "-";
                let piped = imgtar(&args, Some(&bytes));
                assert_eq!(piped.status.code(), from_file.status.code(), "{fs} {id}");
                assert!(
                    piped.stdout == from_file.stdout,
                    "{fs} {id}: a pipe lists other files:\n{}",
                    String::from_utf8_lossy(&piped.stdout)
                );
            }
            compared += 1;
        }
    }
    assert!(compared >= 45, "only {compared} images compared");
}

#[test]
fn files_of_all_layers_name_the_layer_that_hid_each_one() {
    use crate::support::{DockerSave, Image, Plan};
    let lower = Plan::new()
        .dir("etc/")
        .file("etc/secret", b"s3cret")
        .file("etc/keep", b"v1")
        .file("etc/same", b"same")
        .build()
        .bytes;
    let upper = Plan::new()
        .file("etc/.wh.secret", b"")
        .file("etc/keep", b"v2, longer")
        .file("etc/new", b"new")
        .build()
        .bytes;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("two.tar");
    let bytes = DockerSave::new(Image::new(vec![lower, upper]))
        .build()
        .bytes;
    std::fs::write(&file, &bytes).unwrap();
    let f = file.to_str().unwrap();
    let out = imgtar(
        &["files", f, "--scope", "all-layers", "--sha256", "--json"],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<serde_json::Value> = String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got: Vec<(u64, &str, Option<u64>, &str)> = rows
        .iter()
        .map(|v| {
            (
                v["layer"].as_u64().unwrap(),
                v["path"].as_str().unwrap(),
                v["hidden_by"].as_u64(),
                v["sha256"].as_str().unwrap(),
            )
        })
        .collect();
    let sha = |b: &[u8]| format!("sha256:{}", sha256_hex(b));
    let (s3, v1, same, v2, new) = (
        sha(b"s3cret"),
        sha(b"v1"),
        sha(b"same"),
        sha(b"v2, longer"),
        sha(b"new"),
    );
    assert_eq!(
        got,
        [
            (0, "/etc/secret", Some(1), s3.as_str()),
            (0, "/etc/keep", Some(1), v1.as_str()),
            (0, "/etc/same", None, same.as_str()),
            (1, "/etc/keep", None, v2.as_str()),
            (1, "/etc/new", None, new.as_str()),
        ]
    );
    assert!(rows
        .iter()
        .all(|v| v.as_object().unwrap().contains_key("hidden_by")));
    // From a pipe, the same; the squashed scope shows no hidden_by and no deleted file.
    let piped = imgtar(
        &["files", "-", "--scope", "all-layers", "--sha256", "--json"],
        Some(&bytes),
    );
    assert_eq!(piped.stdout, out.stdout);
    let squashed = imgtar(&["files", f, "--json"], None);
    let text = String::from_utf8(squashed.stdout).unwrap();
    assert!(
        !text.contains("hidden_by") && !text.contains("/etc/secret"),
        "{text}"
    );
    let table =
        String::from_utf8(imgtar(&["files", f, "--scope", "all-layers"], None).stdout).unwrap();
    assert!(
        table
            .lines()
            .any(|l| l.ends_with("/etc/secret (hidden by layer 1)")),
        "{table}"
    );
}

// ---- conventions every command keeps ----

#[test]
fn every_command_takes_json_and_format_json_alike_indented_by_four() {
    let f = real("ggcr-whiteout-dir-gzip.tar");
    let f = f.to_str().unwrap();
    // Documents (indented) and listings (JSON Lines).
    for (cmd, lines) in [
        ("validate", false),
        ("inspect", false),
        ("ls", false),
        ("history", false),
        ("diff", false),
        ("waste", false),
        ("tree", true),
        ("files", true),
    ] {
        let json = imgtar(&[cmd, f, "--json"], None);
        let format = imgtar(&[cmd, f, "--format", "json"], None);
        assert!(
            json.status.success(),
            "{cmd}: {}",
            String::from_utf8_lossy(&json.stderr)
        );
        assert_eq!(
            json.stdout, format.stdout,
            "{cmd}: --json and --format json"
        );
        let text = String::from_utf8(json.stdout).unwrap();
        if lines {
            for l in text.lines() {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                assert!(v.is_object(), "{cmd}: {l}");
            }
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(text.ends_with('\n'), "{cmd}");
        let mut ser = serde_json::Serializer::with_formatter(
            Vec::new(),
            serde_json::ser::PrettyFormatter::with_indent(b"    "),
        );
        serde::Serialize::serialize(&v, &mut ser).unwrap();
        assert_eq!(
            text.trim_end().as_bytes(),
            ser.into_inner().as_slice(),
            "{cmd}: JSON indented by four spaces"
        );
        if cmd != "inspect" {
            let table = imgtar(&[cmd, f, "--format", "table"], None);
            assert!(table.status.success(), "{cmd}");
            assert!(
                serde_json::from_slice::<serde_json::Value>(&table.stdout).is_err(),
                "{cmd}: table"
            );
        }
    }
}

#[test]
fn validate_json_is_the_librarys_report() {
    let f = real("podman-docker-two-images.tar.xz");
    let out = imgtar(&["validate", f.to_str().unwrap(), "--json"], None);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "valid",
            "verified",
            "compression",
            "layout",
            "producer",
            "tar_size",
            "images",
            "repositories",
            "findings",
            "loaders"
        ]
    );
    let report = imgtar::Reader::new().open(&f).unwrap();
    assert_eq!(v, serde_json::to_value(&report).unwrap());
    assert_eq!(v["images"].as_array().unwrap().len(), 2);
    // Without a repositories file there is no such key.
    let ggcr = real("ggcr-whiteout-dir-gzip.tar");
    let out = imgtar(&["validate", ggcr.to_str().unwrap(), "--json"], None);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.get("repositories"), None, "{v}");
    assert_eq!(v["valid"], true);
    // Damaged input is a report too: exit 1 with the finding, not a usage error.
    let mut cut = std::fs::read(real("dive-docker-1.10-whiteouts.tar")).unwrap();
    cut.truncate(100_000);
    let out = imgtar(&["validate", "-", "--json"], Some(&cut));
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], false);
    assert!(v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["code"] == "truncated-archive"));
    let out = imgtar(&["validate", "-", "--json"], Some(b""));
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["findings"][0]["code"], "empty-input");
    // Only what cannot be read at all is exit 2.
    let out = imgtar(&["validate", "/nonexistent/x.tar"], None);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn no_such_image_is_said_the_same_way_by_every_command() {
    let f = real("dive-docker-1.10-whiteouts.tar");
    let f = f.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let o = dir.path().join("out.tar");
    let o = o.to_str().unwrap();
    for args in [
        vec!["inspect", f, "nope"],
        vec!["history", f, "nope"],
        vec!["diff", f, "nope"],
        vec!["tree", f, "nope"],
        vec!["waste", f, "nope"],
        vec!["files", f, "nope"],
        vec!["cat", f, "nope", "/etc/passwd"],
        vec!["squash", f, "nope", "-o", o],
        vec!["export", f, "nope", "-o", o],
    ] {
        let out = imgtar(&args, None);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "Error: No such image: nope\n",
            "{args:?}"
        );
    }
    assert!(!Path::new(o).exists());
}

#[test]
fn cat_takes_the_image_before_the_file() {
    let out = imgtar(&["cat", "--help"], None);
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains("Usage: imgtar cat [OPTIONS] <PATH> [IMAGE] <FILE>"));
    let f = real("dive-docker-1.10-whiteouts.tar");
    let f = f.to_str().unwrap();
    let with = imgtar(&["cat", f, "dive-test", "/etc/passwd"], None);
    let without = imgtar(&["cat", f, "/etc/passwd"], None);
    assert!(with.status.success() && without.status.success());
    assert_eq!(with.stdout, without.stdout);
    let out = imgtar(&["cat", f], None);
    assert_eq!(out.status.code(), Some(2), "FILE is required");
}

#[test]
fn tree_json_names_the_hardlink_target() {
    let f = real("dive-docker-1.10-whiteouts.tar");
    let out = imgtar(&["tree", f.to_str().unwrap(), "--json"], None);
    assert!(out.status.success());
    let rows: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let get = |p: &str| rows.iter().find(|r| r["path"] == p).unwrap();
    assert_eq!(
        get("/bin/[").get("hardlink_to"),
        None,
        "the first path holds the content"
    );
    assert_eq!(get("/bin/[[")["hardlink_to"], "/bin/[");
    assert_eq!(get("/bin/[[")["inode"], get("/bin/[")["inode"]);
    let linked = rows
        .iter()
        .filter(|r| r.get("hardlink_to").is_some())
        .count();
    assert!(linked > 300, "{linked}");
}
