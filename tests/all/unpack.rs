//! `layer::unpack` and the link judgement: a table of hostile layers (one case per advisory of
//! the unpack history), each judged by `validate` (code, layer, entry, offset) and unpacked
//! next to canary files that must stay untouched; `squash`, `cat` and `files` must never give
//! a host file's bytes or a path outside the root.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use imgtar::layer::{self, content, Confine, FilesOptions, FlattenOptions, Scope, UnpackOptions};
use imgtar::{Code, Input, Reader};

use crate::support::{DockerSave, Image, Plan};

const SECRET: &[u8] = b"HOST-SECRET-BYTES\n";

/// One hostile case: the layers, and the finding `validate` must give.
struct Case {
    name: &'static str,
    layers: Vec<Plan>,
    /// (code, layer, entry as the finding names it, the entry's member name in that layer).
    finding: Option<(Code, usize, &'static str, &'static str)>,
    /// `unpack` refuses that entry (else it unpacks everything, warnings aside).
    refused: bool,
    /// Paths that must not exist under DEST afterwards.
    absent: &'static [&'static str],
}

/// The canary directory: a file outside DEST whose bytes the layers try to reach, and the
/// absolute path hostile links name. `<tmp>/a/b/dest` is DEST, so `../../..` from DEST is
/// `<tmp>`.
struct Scene {
    tmp: tempfile::TempDir,
}

impl Scene {
    fn new() -> Scene {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("a/b")).unwrap();
        std::fs::write(tmp.path().join("canary"), SECRET).unwrap();
        std::fs::write(tmp.path().join("a/canary"), SECRET).unwrap();
        Scene { tmp }
    }

    fn dest(&self) -> PathBuf {
        self.tmp.path().join("a/b/dest")
    }

    /// Every path under the scene outside DEST, with its bytes (files) or target (links).
    fn outside(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        let dest = self.dest();
        let mut out = BTreeMap::new();
        for e in walkdir::WalkDir::new(self.tmp.path())
            .follow_links(false)
            .into_iter()
            .filter_entry(|e| e.path() != dest)
        {
            let e = e.unwrap();
            let bytes = if e.file_type().is_file() {
                std::fs::read(e.path()).unwrap()
            } else if e.file_type().is_symlink() {
                std::fs::read_link(e.path())
                    .unwrap()
                    .into_os_string()
                    .into_encoded_bytes()
            } else {
                Vec::new()
            };
            out.insert(e.path().to_path_buf(), bytes);
        }
        out
    }
}

fn archive(layers: &[Plan], dir: &Path) -> (PathBuf, Vec<crate::support::Built>) {
    let built: Vec<_> = layers.iter().map(Plan::build).collect();
    let img = Image::new(built.iter().map(|b| b.bytes.clone()).collect());
    let path = dir.join("image.tar");
    std::fs::write(&path, DockerSave::new(img).build().bytes).unwrap();
    (path, built)
}

fn cases(canary: &str) -> Vec<Case> {
    let chain = {
        let mut p = Plan::new().dir("d/");
        for i in 0..300 {
            p = p.symlink(&format!("l{i}"), &format!("l{}", i + 1));
        }
        p.symlink("l300", "d")
    };
    vec![
        Case {
            name: "absolute symlink ancestor in a lower layer (crazy-max/undock#460)",
            layers: vec![
                Plan::new().symlink("pwn", "/tmp"),
                Plan::new().file("pwn/escaped.txt", b"x"),
            ],
            finding: Some((
                Code::LayerLinkEscape,
                1,
                "pwn/escaped.txt",
                "pwn/escaped.txt",
            )),
            refused: true,
            absent: &["tmp/escaped.txt", "pwn/escaped.txt"],
        },
        Case {
            name: "absolute symlink ancestor in the same layer",
            layers: vec![Plan::new()
                .symlink("pwn", canary)
                .file("pwn/escaped.txt", b"x")],
            finding: Some((
                Code::LayerLinkEscape,
                0,
                "pwn/escaped.txt",
                "pwn/escaped.txt",
            )),
            refused: true,
            absent: &["pwn/escaped.txt"],
        },
        Case {
            name: "etc -> /etc then etc/passwd (a loop inside a chroot)",
            layers: vec![
                Plan::new().symlink("etc", "/etc"),
                Plan::new().file("etc/passwd", b"root::0:0::/:/bin/sh\n"),
            ],
            finding: Some((Code::LayerLinkLoop, 1, "etc/passwd", "etc/passwd")),
            refused: true,
            absent: &["etc/passwd"],
        },
        Case {
            name: "x -> ../../../.. then x/y",
            layers: vec![
                Plan::new().symlink("x", "../../../.."),
                Plan::new().file("x/y", b"y"),
            ],
            finding: Some((Code::LayerLinkEscape, 1, "x/y", "x/y")),
            refused: true,
            absent: &["y", "x/y"],
        },
        Case {
            name: "relative escape chained through earlier entries (GHSA-hfg8-hc9c-6c3h)",
            layers: vec![
                Plan::new().dir("d/").symlink("d/s1", "s2"),
                Plan::new().symlink("d/s2", "../../canary-dir"),
                Plan::new().file("d/s1/f", b"f"),
            ],
            finding: Some((Code::LayerLinkEscape, 2, "d/s1/f", "d/s1/f")),
            refused: true,
            absent: &["canary-dir/f", "d/s1/f"],
        },
        Case {
            name: "`.` as a symlink (umoci CVE-2021-29136)",
            layers: vec![Plan::new().symlink(".", canary).file("evil", b"e")],
            finding: Some((Code::LayerRootNotDirectory, 0, ".", ".")),
            refused: true,
            absent: &[],
        },
        Case {
            name: "`/` as a symlink",
            layers: vec![Plan::new().symlink("/", "/tmp").file("evil", b"e")],
            finding: Some((Code::LayerRootNotDirectory, 0, ".", "/")),
            refused: true,
            absent: &[],
        },
        Case {
            name: "symlink loop",
            layers: vec![
                Plan::new().symlink("a", "b").symlink("b", "a"),
                Plan::new().file("a/f", b"f"),
            ],
            finding: Some((Code::LayerLinkLoop, 1, "a/f", "a/f")),
            refused: true,
            absent: &["a/f", "b/f"],
        },
        Case {
            name: "300-link chain",
            layers: vec![chain, Plan::new().file("l0/f", b"f")],
            finding: Some((Code::LayerLinkLoop, 1, "l0/f", "l0/f")),
            refused: true,
            absent: &["d/f"],
        },
        Case {
            name: "whiteout through an in-root symlink ancestor",
            layers: vec![
                Plan::new().file("real/victim", b"v").symlink("lnk", "real"),
                Plan::new().file("lnk/.wh.victim", b""),
            ],
            finding: Some((
                Code::WhiteoutThroughSymlink,
                1,
                "lnk/.wh.victim",
                "lnk/.wh.victim",
            )),
            refused: false,
            absent: &["real/victim"],
        },
        Case {
            name: "opaque marker through an in-root symlink ancestor",
            layers: vec![
                Plan::new().file("real/a", b"a").symlink("lnk", "real"),
                Plan::new().file("lnk/.wh..wh..opq", b""),
            ],
            finding: Some((
                Code::WhiteoutThroughSymlink,
                1,
                "lnk/.wh..wh..opq",
                "lnk/.wh..wh..opq",
            )),
            refused: false,
            absent: &["real/a"],
        },
        Case {
            name: "whiteout through an escaping symlink ancestor",
            layers: vec![
                Plan::new().file("etc/passwd", b"p").symlink("esc", "/etc"),
                Plan::new().file("esc/.wh.passwd", b""),
            ],
            finding: Some((Code::LayerLinkEscape, 1, "esc/.wh.passwd", "esc/.wh.passwd")),
            refused: true,
            absent: &[],
        },
        Case {
            name: "hardlink through an escaping symlink",
            layers: vec![
                Plan::new().symlink("h", canary.rsplit_once('/').unwrap().0),
                Plan::new().hardlink(
                    "stolen",
                    &format!("h/{}", canary.rsplit_once('/').unwrap().1),
                ),
            ],
            finding: Some((Code::LayerLinkEscape, 1, "stolen", "stolen")),
            refused: true,
            absent: &["stolen"],
        },
        Case {
            name: "legitimate in-root links (glibc, usrmerge, alternatives)",
            layers: crate::support::legitimate_links(),
            finding: None,
            refused: false,
            absent: &[],
        },
    ]
}

fn link_codes() -> [Code; 5] {
    [
        Code::LayerLinkEscape,
        Code::LayerLinkLoop,
        Code::LayerRootNotDirectory,
        Code::WhiteoutThroughSymlink,
        Code::LayerSymlinkAboveRoot,
    ]
}

#[test]
fn a_symlink_that_climbs_above_the_root_is_a_warning_at_its_entry_with_a_count() {
    let tmp = tempfile::tempdir().unwrap();
    let layers = [
        Plan::new()
            .dir("a/")
            .symlink("a/b", "../../../etc")
            .symlink("x", "../../../..")
            // Stays inside: glibc's loader link, a sibling, an absolute target.
            .dir("lib64/")
            .symlink(
                "lib64/ld-linux-x86-64.so.2",
                "../lib/x86_64-linux-gnu/ld-2.31.so",
            )
            .symlink("a/c", "../etc")
            .symlink("usr/bin/x", "/bin/busybox"),
        Plan::new()
            .symlink("y", "a/../../z")
            .symlink("a/d/e", "../../etc/../.."),
    ];
    let (tar, built) = archive(&layers, tmp.path());
    for strict in [false, true] {
        let reader = Reader::new().record_entries(true).strict(strict);
        let mut report = reader.open(&tar).unwrap();
        imgtar::layer::check_links(&reader, &mut report);
        let found: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.code == Code::LayerSymlinkAboveRoot)
            .collect();
        assert_eq!(found.len(), 2, "{found:#?}");
        let want = if strict {
            imgtar::Severity::Error
        } else {
            imgtar::Severity::Warning
        };
        for (f, (layer, entry, count)) in found.iter().zip([(0, "a/b", 2), (1, "y", 2)]) {
            assert_eq!(f.layer, Some(layer));
            assert_eq!(f.image, Some(0));
            assert_eq!(f.entry.as_deref(), Some(entry));
            assert_eq!(f.entry_offset, Some(built[layer].offset(entry)));
            assert_eq!(f.count, count, "{f:?}");
            assert_eq!(f.severity, want);
            assert!(f.path.as_deref().unwrap().ends_with("layer.tar"));
        }
        assert!(
            found[0].message.contains("../../../etc"),
            "{}",
            found[0].message
        );
        // A warning: the archive stays valid unless strict.
        assert_eq!(report.valid, !strict, "{:#?}", report.findings);
    }
    // The legitimate links of the hostile table give none.
    let (tar, _) = archive(&crate::support::legitimate_links(), tmp.path());
    let reader = Reader::new().record_entries(true);
    let mut report = reader.open(&tar).unwrap();
    imgtar::layer::check_links(&reader, &mut report);
    assert!(report
        .findings
        .iter()
        .all(|f| f.code != Code::LayerSymlinkAboveRoot));
}

#[test]
fn hostile_links_are_found_refused_and_never_leave_the_root() {
    for confine in [Confine::Kernel, Confine::Walk] {
        for i in 0..cases("/").len() {
            let scene = Scene::new();
            // Absolute targets name this scene's canary.
            let canary_here = scene.tmp.path().join("canary").display().to_string();
            let case = cases(&canary_here).swap_remove(i);
            let layers = &case.layers;
            let (tar, built) = archive(layers, scene.tmp.path());
            let name = case.name;
            // validate: the finding with its location.
            let reader = Reader::new().record_entries(true);
            let mut report = reader.open(&tar).unwrap();
            imgtar::layer::check_links(&reader, &mut report);
            let found: Vec<_> = report
                .findings
                .iter()
                .filter(|f| link_codes().contains(&f.code))
                .collect();
            match case.finding {
                None => assert!(found.is_empty(), "{name}: {found:?}"),
                Some((code, layer, entry, member)) => {
                    let f = found
                        .iter()
                        .find(|f| f.code == code)
                        .unwrap_or_else(|| panic!("{name}: no {code}: {:?}", report.findings));
                    assert_eq!(f.layer, Some(layer), "{name}");
                    assert_eq!(f.image, Some(0), "{name}");
                    assert_eq!(f.entry.as_deref(), Some(entry), "{name}");
                    assert_eq!(f.entry_offset, Some(built[layer].offset(member)), "{name}");
                    assert!(f.path.as_deref().unwrap().ends_with("layer.tar"), "{name}");
                    if code.severity() == imgtar::Severity::Error {
                        assert!(!report.valid, "{name}");
                    }
                }
            }
            // unpack: refuses, writes the rest, touches nothing outside DEST.
            let before = scene.outside();
            let done = layer::unpack(
                &Reader::new(),
                &Input::of(&tar).unwrap(),
                &scene.dest(),
                &UnpackOptions::new().confine(confine),
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(before, scene.outside(), "{name}: outside DEST changed");
            assert_eq!(
                !done.refused.is_empty(),
                case.refused,
                "{name}: {:?}",
                done.refused
            );
            assert!(!scene.dest().join(layer::unpack::INCOMPLETE_MARKER).exists());
            for p in case.absent {
                assert!(!exists_beneath(&scene.dest(), p), "{name}: {p} was written");
            }
            assert_no_host_bytes(&scene.dest(), name);
            assert_content_commands_stay_inside(&tar, &canary_here, name);
        }
    }
}

/// Whether `rel` exists under `dest` as a real path (no symlink among its parents).
fn exists_beneath(dest: &Path, rel: &str) -> bool {
    let mut cur = dest.to_path_buf();
    let comps: Vec<&str> = rel.split('/').collect();
    for (i, c) in comps.iter().enumerate() {
        cur.push(c);
        match std::fs::symlink_metadata(&cur) {
            Err(_) => return false,
            Ok(m) if m.file_type().is_symlink() && i + 1 < comps.len() => return false,
            Ok(_) => {}
        }
    }
    true
}

/// No file under `dest` holds the canary's bytes, and every symlink is what the archive said
/// (nothing was followed: a file read through a link would be a regular file here).
fn assert_no_host_bytes(dest: &Path, name: &str) {
    for e in walkdir::WalkDir::new(dest).follow_links(false) {
        let e = e.unwrap();
        if e.file_type().is_file() {
            assert_ne!(
                std::fs::read(e.path()).unwrap(),
                SECRET,
                "{name}: {:?}",
                e.path()
            );
        }
    }
}

/// `squash`, `cat` and `files` give no host bytes and no path outside the root.
fn assert_content_commands_stay_inside(tar: &Path, canary: &str, name: &str) {
    let input = Input::of(tar).unwrap();
    let reader = Reader::new().record_entries(true);
    let report = reader.read_input(&input).unwrap();
    let image = report.archive.find_image(None).unwrap();
    let Ok(flat) = layer::flatten_image(&report.archive, image, FlattenOptions::default()) else {
        return;
    };
    let mut out = Vec::new();
    content::squash(
        &Reader::new(),
        &input,
        &report.archive,
        image,
        &flat.fs,
        &mut out,
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut t = tar::Archive::new(&out[..]);
    for e in t.entries().unwrap() {
        let mut e = e.unwrap();
        let p = e.path().unwrap().into_owned();
        assert!(
            !p.is_absolute() && !p.components().any(|c| c == std::path::Component::ParentDir),
            "{name}: squash wrote {p:?}"
        );
        let mut body = Vec::new();
        e.read_to_end(&mut body).unwrap();
        assert_ne!(body, SECRET, "{name}: squash wrote host bytes at {p:?}");
    }
    for path in [canary, "pwn/escaped.txt", "stolen", "x/y", "etc/passwd"] {
        let mut bytes = Vec::new();
        if content::cat(
            &Reader::new(),
            &input,
            &report.archive,
            image,
            &flat.fs,
            &imgtar::layer::EntryPath::from(path),
            &mut bytes,
        )
        .is_ok()
        {
            assert_ne!(bytes, SECRET, "{name}: cat {path} gave host bytes");
        }
    }
    let files = layer::files(
        &Reader::new(),
        &input,
        FilesOptions::new(Scope::Squashed),
        |_, r| {
            let mut v = Vec::new();
            r.read_to_end(&mut v)?;
            Ok(v)
        },
    )
    .unwrap();
    for f in files.files {
        assert_ne!(f.value, SECRET, "{name}: files gave host bytes");
        assert!(!f.path.as_bytes().starts_with(b"/"), "{name}");
    }
}

#[test]
fn unpack_writes_types_modes_owners_times_and_hardlinks() {
    let tmp = tempfile::tempdir().unwrap();
    let mut p = Plan::new()
        .dir("etc/")
        .file("etc/.wh..wh..opq", b"")
        .file("etc/shadow", b"s")
        .file("bin/tool", b"#!/bin/sh\n")
        .hardlink("bin/tool2", "bin/tool")
        .symlink("bin/sh", "tool")
        .symlink("abs", "/etc/shadow")
        .dir("ro/")
        .file("ro/inside", b"i")
        .raw("dev/null", b'3', b"", "")
        .raw("fifo", b'6', b"", "");
    p.get_mut("etc/shadow").mode = 0o640;
    p.get_mut("bin/tool").mode = 0o4755;
    p.get_mut("ro/").mode = 0o555;
    let lower = Plan::new().file("gone", b"g").file("etc/old", b"o");
    let upper = Plan::new().file(".wh.gone", b"");
    let (tar, _) = archive(&[lower, p, upper], tmp.path());
    let dest = tmp.path().join("dest");
    let done = layer::unpack(
        &Reader::new(),
        &Input::of(&tar).unwrap(),
        &dest,
        &UnpackOptions::new(),
    )
    .unwrap();
    assert!(done.refused.is_empty(), "{:?}", done.refused);
    let meta = |p: &str| std::fs::symlink_metadata(dest.join(p)).unwrap();
    assert!(!dest.join("gone").exists());
    // The opaque marker hides the lower etc/old, keeps its own layer's shadow.
    assert!(!dest.join("etc/old").exists());
    assert_eq!(std::fs::read(dest.join("etc/shadow")).unwrap(), b"s");
    assert_eq!(meta("etc/shadow").permissions().mode() & 0o7777, 0o640);
    assert_eq!(meta("bin/tool").permissions().mode() & 0o7777, 0o4755);
    assert_eq!(meta("ro").permissions().mode() & 0o7777, 0o555);
    assert_eq!(meta("bin/tool").ino(), meta("bin/tool2").ino());
    assert_eq!(meta("bin/tool").nlink(), 2);
    assert_eq!(
        std::fs::read_link(dest.join("abs")).unwrap(),
        Path::new("/etc/shadow")
    );
    assert_eq!(
        std::fs::read_link(dest.join("bin/sh")).unwrap(),
        Path::new("tool")
    );
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(
        &meta("fifo").file_type()
    ));
    if rustix_is_root() {
        assert!(std::os::unix::fs::FileTypeExt::is_char_device(
            &meta("dev/null").file_type()
        ));
    }
    // The builder's mtime (support::Plan writes a fixed one) and owner 0.
    let want_mtime = {
        let r = Reader::new().record_entries(true).open(&tar).unwrap();
        let img = r.archive.find_image(None).unwrap();
        let f = layer::flatten_image(&r.archive, img, FlattenOptions::default()).unwrap();
        f.fs.get(&"etc/shadow".into()).unwrap().meta.mtime
    };
    assert_eq!(meta("etc/shadow").mtime() as u64, want_mtime);
    assert_eq!(meta("ro").mtime() as u64, want_mtime);
    // The chmod of a symlink target never happened: /etc/shadow is the host's.
    assert!(meta("abs").file_type().is_symlink());
}

fn rustix_is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

#[test]
fn unpack_refuses_a_destination_that_is_not_new_or_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let (tar, _) = archive(&[Plan::new().file("a", b"a")], tmp.path());
    let input = Input::of(&tar).unwrap();
    let full = tmp.path().join("full");
    std::fs::create_dir(&full).unwrap();
    std::fs::write(full.join("mine"), b"keep").unwrap();
    let e = layer::unpack(&Reader::new(), &input, &full, &UnpackOptions::new()).unwrap_err();
    assert!(e.to_string().contains("not empty"), "{e}");
    assert_eq!(std::fs::read(full.join("mine")).unwrap(), b"keep");
    let link = tmp.path().join("link");
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    std::os::unix::fs::symlink(&empty, &link).unwrap();
    let e = layer::unpack(&Reader::new(), &input, &link, &UnpackOptions::new()).unwrap_err();
    assert!(e.to_string().contains("symbolic link"), "{e}");
    let e = layer::unpack(&Reader::new(), &input, &tar, &UnpackOptions::new()).unwrap_err();
    assert!(e.to_string().contains("not a directory"), "{e}");
    // An empty directory is fine.
    layer::unpack(&Reader::new(), &input, &empty, &UnpackOptions::new()).unwrap();
    assert_eq!(std::fs::read(empty.join("a")).unwrap(), b"a");
}

#[test]
fn a_failed_unpack_leaves_its_marker_or_dest_as_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    // A layer cut short: the archive reads, the image cannot be applied; nothing of it was
    // written, so DEST is removed (unpack made it) or left empty (it was there).
    let mut layer = Plan::new().file("a", &[7u8; 4096]).build().bytes;
    layer.truncate(1024);
    let tar = tmp.path().join("cut.tar");
    std::fs::write(&tar, DockerSave::new(Image::new(vec![layer])).build().bytes).unwrap();
    let input = Input::of(&tar).unwrap();
    let dest = tmp.path().join("dest");
    let e = layer::unpack(&Reader::new(), &input, &dest, &UnpackOptions::new()).unwrap_err();
    assert!(matches!(e, layer::UnpackError::Damaged(_)), "{e}");
    assert!(!dest.exists());
    std::fs::create_dir(&dest).unwrap();
    layer::unpack(&Reader::new(), &input, &dest, &UnpackOptions::new()).unwrap_err();
    assert_eq!(std::fs::read_dir(&dest).unwrap().count(), 0);
    // A name the filesystem refuses (a component over NAME_MAX): the tree is half-written
    // and the marker says so; the staging files are gone.
    let long = format!("a/{}", "x".repeat(300));
    let (tar, _) = archive(
        &[Plan::new().file("a/first", b"1").file(&long, b"2")],
        tmp.path(),
    );
    let dest = tmp.path().join("half");
    let e = layer::unpack(
        &Reader::new(),
        &Input::of(&tar).unwrap(),
        &dest,
        &UnpackOptions::new(),
    )
    .unwrap_err();
    assert!(matches!(e, layer::UnpackError::Write { .. }), "{e}");
    let mut left: Vec<_> = std::fs::read_dir(&dest)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, [layer::unpack::INCOMPLETE_MARKER, "a"]);
}

/// Every path under `dest` with its type, mode, owner and content (no link followed).
fn tree_of(dest: &Path) -> BTreeMap<String, (u32, u32, u32, Vec<u8>)> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(dest).min_depth(1).follow_links(false) {
        let e = e.unwrap();
        let m = e.path().symlink_metadata().unwrap();
        let body = if m.is_file() {
            std::fs::read(e.path()).unwrap()
        } else if m.file_type().is_symlink() {
            std::fs::read_link(e.path())
                .unwrap()
                .into_os_string()
                .into_encoded_bytes()
        } else {
            Vec::new()
        };
        let rel = e.path().strip_prefix(dest).unwrap().display().to_string();
        out.insert(rel, (m.mode(), m.uid(), m.gid(), body));
    }
    out
}

#[test]
fn unpack_from_a_pipe_equals_unpack_from_the_file() {
    // docker save writes manifest.json after the layers: the layer order is known only at
    // the end of the pass, and deleted files were staged for nothing.
    let archive =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/real/dive-docker-1.10-whiteouts.tar");
    let tmp = tempfile::tempdir().unwrap();
    let from_file = tmp.path().join("file");
    layer::unpack(
        &Reader::new(),
        &Input::of(&archive).unwrap(),
        &from_file,
        &UnpackOptions::new(),
    )
    .unwrap();
    let from_pipe = tmp.path().join("pipe");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_imgtar"))
        .arg("unpack")
        .arg("-")
        .arg("-o")
        .arg(&from_pipe)
        .stdin(std::fs::File::open(&archive).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unpacked into"), "{stderr}");
    let a = tree_of(&from_file);
    assert!(a.len() > 400, "{}", a.len());
    assert_eq!(a, tree_of(&from_pipe));
    // The whiteout of a later layer removed root/example and what was under it.
    assert!(!from_file.join("root/example").exists());
    assert!(from_file.join("bin/busybox").exists());
}

#[test]
fn cli_unpack_refuses_an_escaping_entry_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let (tar, _) = archive(
        &[
            Plan::new().symlink("pwn", "/tmp"),
            Plan::new().file("pwn/escaped.txt", b"x").file("ok", b"ok"),
        ],
        tmp.path(),
    );
    let dest = tmp.path().join("dest");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_imgtar"))
        .arg("unpack")
        .arg(&tar)
        .arg("-o")
        .arg(&dest)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("refused: layer 1 entry /pwn/escaped.txt"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(dest.join("ok")).unwrap(), b"ok");
    // validate says the same, as an error finding with its place.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_imgtar"))
        .arg("validate")
        .arg(&tar)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("[layer-link-escape]"), "{stdout}");
    assert!(stdout.contains("entry pwn/escaped.txt @"), "{stdout}");
}

#[test]
fn unpack_as_an_unprivileged_user_keeps_modes_and_lists_what_it_skipped() {
    if !Path::new("/usr/bin/setpriv").exists() || !rustix_is_root() {
        crate::harness::skipped(
            "unpack rootless (crafted)",
            "needs root and setpriv to become an unprivileged user",
        );
        return;
    }
    let rootless = crate::support::Rootless::new();
    let mut p = Plan::new()
        .file("secret", b"s")
        .hardlink("secret-link", "secret")
        .dir("ro/")
        .file("ro/inside", b"i")
        .raw("dev/null", b'3', b"", "")
        .raw("dev/sda", b'4', b"", "");
    p.get_mut("secret").mode = 0o000;
    p.get_mut("ro/").mode = 0o555;
    let (tar, _) = archive(&[p], rootless.tmp.path());
    rootless.readable(&tar);
    let dest = rootless.work.join("dest");
    let out = rootless
        .command()
        .arg("unpack")
        .arg(&tar)
        .arg("-o")
        .arg(&dest)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        stderr
            .matches("warning: not running as root: the ownership")
            .count(),
        1,
        "{stderr}"
    );
    assert!(
        stderr.contains("2 device nodes were not created: /dev/null, /dev/sda"),
        "{stderr}"
    );
    let meta = |p: &str| std::fs::symlink_metadata(dest.join(p)).unwrap();
    assert_eq!(meta("secret").permissions().mode() & 0o7777, 0o000);
    assert_eq!(meta("secret").ino(), meta("secret-link").ino());
    assert_eq!(meta("ro").permissions().mode() & 0o7777, 0o555);
    assert_eq!(meta("ro/inside").uid(), 65534);
    assert!(!dest.join("dev/null").exists());
    assert!(meta("dev").is_dir());
}
