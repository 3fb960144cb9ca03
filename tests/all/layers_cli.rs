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
