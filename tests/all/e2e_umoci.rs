//! End to end against independent tools: umoci builds an OCI image whose layers add, modify
//! and delete files, delete whole directories and make a directory opaque; skopeo converts it
//! to a `docker-archive`; `imgtar squash` of that archive must give the same tree (names,
//! types, modes, owners, link targets, content hashes) as `umoci unpack` of the same image.
//!
//! Needs `umoci` and `skopeo` (`.ci/install-deps` installs them).

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use sha2::{Digest, Sha256};

/// What is compared per path: type letter, mode, uid, gid, link target, content sha256.
type Tree = BTreeMap<Vec<u8>, (char, u32, u64, u64, Vec<u8>, String)>;

fn run(cmd: &str, args: &[&str], dir: &Path) {
    let out = Command::new(cmd)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd} ({e}); run .ci/install-deps first"));
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The tree of an unpacked rootfs.
fn dir_tree(root: &Path) -> Tree {
    let mut out = Tree::new();
    for entry in walkdir::WalkDir::new(root).min_depth(1) {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(root).unwrap();
        let meta = entry.path().symlink_metadata().unwrap();
        let ft = meta.file_type();
        let (kind, link, content) = if ft.is_symlink() {
            let t = fs::read_link(entry.path()).unwrap();
            ('l', t.as_os_str().as_bytes().to_vec(), String::new())
        } else if ft.is_dir() {
            ('d', Vec::new(), String::new())
        } else {
            ('-', Vec::new(), sha(&fs::read(entry.path()).unwrap()))
        };
        let mode = if ft.is_symlink() {
            0
        } else {
            meta.permissions().mode() & 0o7777
        };
        out.insert(
            rel.as_os_str().as_bytes().to_vec(),
            (
                kind,
                mode,
                u64::from(meta.uid()),
                u64::from(meta.gid()),
                link,
                content,
            ),
        );
    }
    out
}

/// The tree a tar describes, hardlinks read as the files they name.
fn tar_tree(bytes: &[u8]) -> Tree {
    let mut out = Tree::new();
    let mut archive = tar::Archive::new(bytes);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path_bytes().into_owned();
        let path = path.strip_suffix(b"/").unwrap_or(&path).to_vec();
        let h = entry.header().clone();
        let mode = h.mode().unwrap() & 0o7777;
        let (uid, gid) = (h.uid().unwrap(), h.gid().unwrap());
        let value = match h.entry_type() {
            tar::EntryType::Directory => ('d', mode, uid, gid, Vec::new(), String::new()),
            tar::EntryType::Symlink => {
                let t = entry.link_name_bytes().unwrap().into_owned();
                ('l', 0, uid, gid, t, String::new())
            }
            tar::EntryType::Regular => {
                let mut data = Vec::new();
                entry.read_to_end(&mut data).unwrap();
                ('-', mode, uid, gid, Vec::new(), sha(&data))
            }
            tar::EntryType::Link => {
                let t = entry.link_name_bytes().unwrap().into_owned();
                let target = out.get(&t).cloned().expect("hardlink to an earlier file");
                target
            }
            other => panic!("unexpected {other:?} in the squashed tar"),
        };
        assert!(
            out.insert(path.clone(), value).is_none(),
            "{} twice in the squashed tar",
            String::from_utf8_lossy(&path)
        );
    }
    out
}

fn write(root: &Path, rel: &str, data: &[u8], mode: u32) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, data).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
}

fn mkdir(root: &Path, rel: &str, mode: u32) {
    let p = root.join(rel);
    fs::create_dir_all(&p).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn squash_matches_umoci_unpack() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    run("umoci", &["init", "--layout", "oci"], t);
    run("umoci", &["new", "--image", "oci:img"], t);

    // Layer 1: a base with files, modes, a symlink, a hardlink and directories.
    run("umoci", &["unpack", "--image", "oci:img", "b1"], t);
    let r = t.join("b1/rootfs");
    mkdir(&r, "etc", 0o755);
    write(&r, "etc/passwd", b"root:x:0:0::/root:/bin/sh\n", 0o644);
    write(&r, "etc/shadow", b"root:*:1::::::\n", 0o640);
    write(&r, "bin/tool", b"#!/bin/sh\necho v1\n", 0o755);
    write(&r, "bin/suid", b"setuid", 0o4755);
    std::os::unix::fs::symlink("tool", r.join("bin/alias")).unwrap();
    fs::hard_link(r.join("bin/tool"), r.join("bin/tool-hard")).unwrap();
    write(&r, "doomed/a", b"a", 0o644);
    write(&r, "doomed/deep/b", b"b", 0o600);
    write(&r, "opaque/old1", b"old1", 0o644);
    write(&r, "opaque/sub/old2", b"old2", 0o644);
    mkdir(&r, "tmp", 0o1777);
    write(&r, "var/log/app.log", b"log line\n", 0o644);
    write(
        &r,
        &format!("long/{}/name.txt", "x".repeat(120)),
        b"long",
        0o644,
    );
    write(&r, "caf\u{e9}.txt", b"utf-8 name", 0o644);
    std::os::unix::fs::chown(r.join("etc/shadow"), Some(0), Some(42)).unwrap();
    run("umoci", &["repack", "--image", "oci:img", "b1"], t);

    // Layer 2: modify content and metadata, delete a file and a whole directory, add files.
    run("umoci", &["unpack", "--image", "oci:img", "b2"], t);
    let r = t.join("b2/rootfs");
    // A new inode: the hardlink of layer 1 keeps the old content.
    fs::remove_file(r.join("bin/tool")).unwrap();
    write(&r, "bin/tool", b"#!/bin/sh\necho v2\n", 0o755);
    fs::set_permissions(r.join("etc/passwd"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::remove_file(r.join("var/log/app.log")).unwrap();
    fs::remove_dir_all(r.join("doomed")).unwrap();
    write(&r, "new/file", b"new", 0o644);
    fs::remove_file(r.join("bin/alias")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", r.join("bin/alias")).unwrap();
    run("umoci", &["repack", "--image", "oci:img", "b2"], t);

    // Layer 3: /opaque made opaque with new content; layer 4: a whiteout of a directory.
    write(t, "src/fresh", b"fresh", 0o644);
    mkdir(t, "src/sub", 0o700);
    run(
        "umoci",
        &["insert", "--image", "oci:img", "--opaque", "src", "/opaque"],
        t,
    );
    run(
        "umoci",
        &["insert", "--image", "oci:img", "--whiteout", "/var/log"],
        t,
    );

    run("umoci", &["unpack", "--image", "oci:img", "final"], t);
    run(
        "skopeo",
        &[
            "--insecure-policy",
            "copy",
            "-q",
            "oci:oci:img",
            "docker-archive:img.tar:e2e/img:latest",
        ],
        t,
    );
    let out = Command::new(env!("CARGO_BIN_EXE_imgtar"))
        .args(["squash", "img.tar", "e2e/img", "-o", "rootfs.tar"])
        .current_dir(t)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The archive really has the whiteouts and the opaque directory.
    let report = imgtar::Reader::new()
        .record_entries(true)
        .open(t.join("img.tar"))
        .unwrap();
    assert!(report.is_valid(), "{:?}", report.findings);
    let image = report.archive.find_image(Some("e2e/img")).unwrap();
    let flat = imgtar::layer::flatten_image(&report.archive, image, Default::default()).unwrap();
    let deleted: Vec<Vec<String>> = flat
        .changes
        .iter()
        .map(|c| {
            c.of_kind(imgtar::layer::ChangeKind::Deleted)
                .map(|d| d.path.to_string())
                .collect()
        })
        .collect();
    assert_eq!(
        deleted,
        [
            vec![],
            vec!["/doomed", "/var/log/app.log"],
            // /opaque/sub is written again by the opaque layer: only its old child goes.
            vec!["/opaque/old1", "/opaque/sub/old2"],
            vec!["/var/log"],
        ]
    );
    assert_eq!(
        flat.changes[2].opaque,
        [imgtar::layer::EntryPath::from("opaque")]
    );
    assert_eq!(flat.issues().count(), 0);

    let want = dir_tree(&t.join("final/rootfs"));
    let got = tar_tree(&fs::read(t.join("rootfs.tar")).unwrap());
    let show = |tree: &Tree| -> Vec<String> {
        tree.iter()
            .map(|(p, v)| format!("{} {v:?}", String::from_utf8_lossy(p)))
            .collect()
    };
    assert_eq!(show(&got), show(&want));
    // The tree is what the steps above say, not only what both tools agree on.
    assert!(!want.contains_key(&b"doomed"[..]));
    assert!(!want.contains_key(&b"var/log"[..]));
    assert!(!want.contains_key(&b"opaque/old1"[..]));
    assert!(want.contains_key(&b"opaque/fresh"[..]));
    assert_eq!(want[&b"etc/passwd"[..]].1, 0o600);
    assert_eq!(want[&b"bin/suid"[..]].1, 0o4755);
    assert_eq!(want[&b"etc/shadow"[..]].3, 42);
    assert_eq!(want[&b"bin/alias"[..]].4, b"/etc/passwd");
    assert_eq!(want[&b"bin/tool"[..]].5, sha(b"#!/bin/sh\necho v2\n"));
    assert_eq!(want[&b"bin/tool-hard"[..]].5, sha(b"#!/bin/sh\necho v1\n"));
}
