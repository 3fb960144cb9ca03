//! Change sets, the flattened filesystem and wasted space: exact results on the real images of
//! `testdata/real/` that carry whiteouts and opaque directories, dive's own numbers for its
//! test image, and hand-built layers for every case where the OCI rules and `docker load`
//! disagree (both sides asserted).

use std::io::Write;
use std::path::{Path, PathBuf};

use imgtar::layer::{
    self, flatten_image, ChangeKind, ChangeSet, EntryKind, EntryPath, FlatFs, FlattenOptions,
    Flattener, IssueKind, LayerRecords, Semantics,
};
use imgtar::{Limits, Reader, Report};

fn real(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/real")
        .join(file)
}

fn read(file: &str) -> Report {
    Reader::new()
        .record_entries(true)
        .open(real(file))
        .unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// `docker diff` lines of one change set.
fn lines(set: &ChangeSet) -> Vec<String> {
    set.changes
        .iter()
        .map(|c| format!("{} {}", c.kind.letter(), c.path))
        .collect()
}

fn flat(file: &str, semantics: Semantics) -> layer::Flattened {
    let report = read(file);
    let image = report.archive.find_image(None).unwrap();
    flatten_image(
        &report.archive,
        image,
        FlattenOptions::with_semantics(semantics),
    )
    .unwrap()
}

#[test]
fn dive_image_change_sets_follow_its_build_steps() {
    // The image's history: ADD busybox, ADD somefile.txt, mkdir -p /root/example/really/nested,
    // cp, chmod 444, cp, cp, mv somefile3 → /root/saved.txt, cp, rm -rf /root/example/,
    // ADD .data, cp, cp, chmod +x /root/saved.txt.
    let expected: [&[&str]; 13] = [
        &["A /somefile.txt"],
        &[
            "C /root",
            "A /root/example",
            "A /root/example/really",
            "A /root/example/really/nested",
        ],
        &["C /root/example", "A /root/example/somefile1.txt"],
        &["C /root/example/somefile1.txt"],
        &["C /root/example", "A /root/example/somefile2.txt"],
        &["C /root/example", "A /root/example/somefile3.txt"],
        &[
            "C /root",
            "C /root/example",
            "D /root/example/somefile3.txt",
            "A /root/saved.txt",
        ],
        &["C /root", "A /root/.saved.txt"],
        &["C /root", "D /root/example"],
        &[
            "C /root",
            "A /root/.data",
            "A /root/.data/tag.sh",
            "A /root/.data/test.sh",
        ],
        &["C /tmp", "A /tmp/saved.again1.txt"],
        &["C /root/.data", "A /root/.data/saved.again2.txt"],
        &["C /root/saved.txt"],
    ];
    for semantics in [Semantics::Oci, Semantics::DockerLoad] {
        let f = flat("dive-docker-1.10-whiteouts.tar", semantics);
        assert_eq!(f.changes.len(), 14);
        let base = &f.changes[0];
        assert!(base.changes.iter().all(|c| c.kind == ChangeKind::Added));
        // 415 entries, every path distinct.
        assert_eq!(base.changes.len(), 415);
        for (n, want) in expected.iter().enumerate() {
            assert_eq!(lines(&f.changes[n + 1]), *want, "layer {}", n + 1);
        }
        // The directory deletion counts the two files that were still in it.
        let d = &f.changes[9].changes[1];
        assert_eq!((d.kind, d.size), (ChangeKind::Deleted, 2 * 6405));
        assert_eq!(f.issues().count(), 0);
        let saved = f.fs.get(&EntryPath::from("root/saved.txt")).unwrap();
        assert_eq!(
            (saved.layer, saved.meta.mode, saved.meta.size),
            (13, 0o755, 6405)
        );
        assert!(f.fs.get(&EntryPath::from("root/example")).is_none());
        // The 415 base paths, /somefile.txt, /root/saved.txt, /root/.saved.txt, /root/.data
        // with its three files, /tmp/saved.again1.txt.
        assert_eq!(f.fs.len(), 423);
    }
}

#[test]
fn kaniko_build_of_the_dive_image_has_the_same_whiteouts() {
    let f = flat("dive-kaniko-gzip-layers.tar", Semantics::Oci);
    assert_eq!(
        lines(&f.changes[7]),
        ["D /root/example/somefile3.txt", "A /root/saved.txt"]
    );
    assert_eq!(lines(&f.changes[9]), ["C /root", "D /root/example"]);
    // kaniko writes `./` root entries; they are not paths and not notes.
    assert_eq!(f.issues().count(), 0);
}

#[test]
fn ggcr_directory_whiteout_then_readd() {
    let f = flat("ggcr-whiteout-dir-gzip.tar", Semantics::Oci);
    let all: Vec<Vec<String>> = f.changes.iter().map(lines).collect();
    assert_eq!(
        all,
        [
            vec!["A /a", "A /a/foo"],
            vec!["A /b", "A /b/bar"],
            vec!["D /a"],
            vec!["A /a", "A /a/baz"],
        ]
    );
    let names: Vec<String> = f.fs.iter().map(|(p, _)| p.to_string()).collect();
    assert_eq!(names, ["/a", "/a/baz", "/b", "/b/bar"]);
}

#[test]
fn ggcr_dotslash_whiteout_and_empty_layer() {
    let f = flat("ggcr-whiteout-dotslash-emptylayer.tar", Semantics::Oci);
    let all: Vec<Vec<String>> = f.changes.iter().map(lines).collect();
    assert_eq!(
        all,
        [vec!["A /bar.txt", "A /foo.txt"], vec!["D /foo.txt"], vec![]]
    );
    let names: Vec<String> = f.fs.iter().map(|(p, _)| p.to_string()).collect();
    assert_eq!(names, ["/bar.txt"]);
}

#[test]
fn snyk_oci_root_whiteout_and_opaque_dirs() {
    let f = flat("snyk-oci-whiteout-opaque.tar", Semantics::Oci);
    assert_eq!(lines(&f.changes[1]), ["A /node"]);
    let top = &f.changes[2];
    assert_eq!(lines(top), ["C /etc", "D /node", "A /proc", "A /sys"]);
    let opaque: Vec<String> = top.opaque.iter().map(|p| p.to_string()).collect();
    assert_eq!(opaque, ["/proc", "/sys"]);
    assert!(f.fs.get(&EntryPath::from("node")).is_none());
    assert_eq!(f.changes[0].changes.len(), 422);
}

#[test]
fn skopeo_opaque_dir_new_in_its_layer() {
    let f = flat("snyk-skopeo-opaque-symlinks.tar", Semantics::Oci);
    assert_eq!(
        lines(&f.changes[1]),
        [
            "C /node",
            "C /node-v-4-9-1",
            "C /node-v-4-9-1/node",
            "A /node-v-8-12-9",
            "A /node-v-8-12-9/node"
        ]
    );
    let opaque: Vec<String> = f.changes[1].opaque.iter().map(|p| p.to_string()).collect();
    assert_eq!(opaque, ["/node-v-8-12-9"]);
    // An opaque marker on a directory the layer creates hides nothing and is no note.
    assert_eq!(f.issues().count(), 0);
}

#[test]
fn dive_numbers_match_dive() {
    // wagoodman/dive's own test of this file (image_archive_analysis_test.go and
    // runtime/export/export_test.go) expects exactly these values.
    let report = read("dive-docker-1.10-whiteouts.tar");
    let image = report.archive.find_image(None).unwrap();
    let w = layer::waste::waste_image(&report.archive, image).unwrap();
    assert_eq!(w.efficiency, 0.9844212134184309);
    assert_eq!(w.size_bytes, 1220598);
    assert_eq!(w.user_size_bytes, 66237);
    assert_eq!(w.wasted_bytes, 32025);
    assert_eq!(w.wasted_user_ratio, 0.4834911001404049);
    let files: Vec<(String, usize, u64)> = w
        .files
        .iter()
        .map(|f| (f.path.to_string(), f.count, f.bytes))
        .collect();
    assert_eq!(
        files,
        [
            ("/root/example/somefile1.txt".to_string(), 2, 12810),
            ("/root/saved.txt".to_string(), 2, 12810),
            ("/root/example/somefile3.txt".to_string(), 2, 6405),
        ]
    );
    assert!(w.aborted_layers.is_empty());
    // Own measure: somefile1 twice, somefile2, somefile3 and the first saved.txt.
    assert_eq!(w.hidden_bytes, 5 * 6405);
}

#[test]
fn reading_without_recording_is_a_clear_error() {
    let report = Reader::new()
        .open(real("ggcr-whiteout-dir-gzip.tar"))
        .unwrap();
    let image = report.archive.find_image(None).unwrap();
    let err = flatten_image(&report.archive, image, FlattenOptions::default()).unwrap_err();
    assert!(matches!(
        err,
        layer::FlattenError::NotRecorded { layer: 0, .. }
    ));
}

#[test]
fn a_missing_layer_is_an_error_naming_it() {
    let report = read("isulad-partial-missing-base-layer.tar");
    let image = report.archive.find_image(None).unwrap();
    let err = flatten_image(&report.archive, image, FlattenOptions::default()).unwrap_err();
    assert!(
        matches!(err, layer::FlattenError::MissingLayer { layer: 0, .. }),
        "{err}"
    );
}

// ---- hand-built layers ----

enum E<'a> {
    File(&'a [u8], &'a [u8]),
    FileMode(&'a [u8], &'a [u8], u32),
    Dir(&'a [u8]),
    DirMode(&'a [u8], u32),
    Symlink(&'a [u8], &'a [u8]),
    Hardlink(&'a [u8], &'a [u8]),
}

/// A layer tar with GNU long names where needed.
fn layer_tar(entries: &[E<'_>]) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    let p = |b: &[u8]| std::path::PathBuf::from(std::ffi::OsStr::from_bytes(b));
    let mut t = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1_700_000_000);
        match e {
            E::File(path, data) | E::FileMode(path, data, _) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(data.len() as u64);
                h.set_mode(if let E::FileMode(_, _, m) = e {
                    *m
                } else {
                    0o644
                });
                t.append_data(&mut h, p(path), *data).unwrap();
            }
            E::Dir(path) | E::DirMode(path, _) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                h.set_mode(if let E::DirMode(_, m) = e { *m } else { 0o755 });
                t.append_data(&mut h, p(path), &[][..]).unwrap();
            }
            E::Symlink(path, target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                h.set_mode(0o777);
                t.append_link(&mut h, p(path), p(target)).unwrap();
            }
            E::Hardlink(path, target) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_size(0);
                h.set_mode(0o644);
                t.append_link(&mut h, p(path), p(target)).unwrap();
            }
        }
    }
    t.into_inner().unwrap()
}

fn records(tar: &[u8]) -> LayerRecords {
    let scan = layer::scan_layer(tar, &Limits::default(), true).unwrap();
    scan.records().unwrap().clone()
}

fn apply(semantics: Semantics, layers: &[&[E<'_>]]) -> (FlatFs, Vec<ChangeSet>) {
    let mut f = Flattener::new(FlattenOptions::with_semantics(semantics));
    let sets = layers
        .iter()
        .map(|l| f.apply(&records(&layer_tar(l))))
        .collect();
    (f.finish(), sets)
}

fn names(fs: &FlatFs) -> Vec<String> {
    fs.iter().map(|(p, _)| p.to_string()).collect()
}

fn issue_kinds(sets: &[ChangeSet]) -> Vec<IssueKind> {
    sets.iter()
        .flat_map(|s| s.issues.iter().map(|i| i.kind))
        .collect()
}

#[test]
fn whiteout_after_its_entry_in_the_same_layer() {
    let layers: &[&[E<'_>]] = &[
        &[E::File(b"x", b"lower"), E::File(b"keep", b"k")],
        &[E::File(b"x", b"upper"), E::File(b".wh.x", b"")],
    ];
    let (fs, sets) = apply(Semantics::Oci, layers);
    assert_eq!(names(&fs), ["/keep", "/x"]);
    assert_eq!(fs.get(&EntryPath::from("x")).unwrap().layer, 1);
    assert_eq!(lines(&sets[1]), ["C /x"]);
    assert_eq!(issue_kinds(&sets), [IssueKind::SameLayerWhiteout]);

    let (fs, sets) = apply(Semantics::DockerLoad, layers);
    assert_eq!(names(&fs), ["/keep"]);
    assert_eq!(lines(&sets[1]), ["D /x"]);
    assert!(issue_kinds(&sets).is_empty());
}

#[test]
fn whiteout_before_its_entry_in_the_same_layer() {
    let layers: &[&[E<'_>]] = &[
        &[E::Dir(b"d"), E::File(b"d/old", b"o")],
        &[
            E::File(b".wh.d", b""),
            E::Dir(b"d"),
            E::File(b"d/new", b"n"),
        ],
    ];
    for semantics in [Semantics::Oci, Semantics::DockerLoad] {
        let (fs, sets) = apply(semantics, layers);
        assert_eq!(names(&fs), ["/d", "/d/new"], "{semantics:?}");
        // The new /d has the old one's metadata, so only its children changed.
        assert_eq!(lines(&sets[1]), ["A /d/new", "D /d/old"]);
        assert!(issue_kinds(&sets).is_empty());
    }
}

#[test]
fn whiteout_in_a_directory_absent_below() {
    let layers: &[&[E<'_>]] = &[&[E::File(b"a", b"a")], &[E::File(b"gone/.wh.x", b"")]];
    let (fs, sets) = apply(Semantics::Oci, layers);
    assert_eq!(names(&fs), ["/a"]);
    assert!(sets[1].changes.is_empty());
    assert_eq!(issue_kinds(&sets), [IssueKind::NothingToDelete]);

    // moby creates the whiteout's directory as an implied parent, mode 0600
    // (`pkg/archive/diff.go`; `docker export` shows it so, see `engine_daemon`).
    let (fs, sets) = apply(Semantics::DockerLoad, layers);
    assert_eq!(names(&fs), ["/a", "/gone"]);
    let gone = fs.get(&EntryPath::from("gone")).unwrap();
    assert!(gone.implicit);
    assert_eq!(
        (gone.meta.kind.clone(), gone.meta.mode),
        (EntryKind::Dir, 0o600)
    );
    assert_eq!(lines(&sets[1]), ["A /gone"]);
}

#[test]
fn opaque_marker_before_its_directory_entry() {
    let layers: &[&[E<'_>]] = &[
        &[
            E::Dir(b"d"),
            E::File(b"d/lower", b"l"),
            E::Dir(b"d/sub"),
            E::File(b"d/sub/x", b"x"),
        ],
        &[
            E::File(b"d/.wh..wh..opq", b""),
            E::DirMode(b"d", 0o700),
            E::File(b"d/upper", b"u"),
        ],
    ];
    for semantics in [Semantics::Oci, Semantics::DockerLoad] {
        let (fs, sets) = apply(semantics, layers);
        assert_eq!(names(&fs), ["/d", "/d/upper"], "{semantics:?}");
        assert_eq!(fs.get(&EntryPath::from("d")).unwrap().meta.mode, 0o700);
        assert_eq!(
            lines(&sets[1]),
            ["C /d", "D /d/lower", "D /d/sub", "A /d/upper"]
        );
        assert_eq!(sets[1].opaque, [EntryPath::from("d")]);
    }
}

#[test]
fn opaque_marker_after_new_children_keeps_them() {
    let layers: &[&[E<'_>]] = &[
        &[E::Dir(b"d"), E::File(b"d/lower", b"l")],
        &[
            E::Dir(b"d"),
            E::File(b"d/new", b"n"),
            E::File(b"d/.wh..wh..opq", b""),
        ],
    ];
    for semantics in [Semantics::Oci, Semantics::DockerLoad] {
        let (fs, _) = apply(semantics, layers);
        assert_eq!(names(&fs), ["/d", "/d/new"], "{semantics:?}");
    }
}

#[test]
fn docker_opaque_removes_implied_parents_written_before_it() {
    // moby keeps only paths the layer wrote; d/p was never written, only implied by d/p/f.
    let layers: &[&[E<'_>]] = &[
        &[E::Dir(b"d"), E::File(b"d/lower", b"l")],
        &[E::File(b"d/p/f", b"f"), E::File(b"d/.wh..wh..opq", b"")],
    ];
    let (fs, _) = apply(Semantics::Oci, layers);
    assert_eq!(names(&fs), ["/d", "/d/p", "/d/p/f"]);
    let (fs, _) = apply(Semantics::DockerLoad, layers);
    assert_eq!(names(&fs), ["/d"]);
}

#[test]
fn bare_whiteouts() {
    let layers: &[&[E<'_>]] = &[
        &[
            E::Dir(b"d"),
            E::Dir(b"d/e"),
            E::File(b"d/e/f", b"f"),
            E::File(b"top", b"t"),
        ],
        &[E::File(b"d/e/.wh.", b"")],
    ];
    let (fs, sets) = apply(Semantics::Oci, layers);
    assert_eq!(names(&fs), ["/d", "/d/e", "/d/e/f", "/top"]);
    assert_eq!(issue_kinds(&sets), [IssueKind::InvalidWhiteout]);
    let (fs, sets) = apply(Semantics::DockerLoad, layers);
    assert_eq!(names(&fs), ["/d", "/top"]);
    assert_eq!(lines(&sets[1]), ["D /d/e"]);

    // `.wh...` is filepath.Join(dir, "..") for moby: the parent goes.
    let layers: &[&[E<'_>]] = &[layers[0], &[E::File(b"d/e/.wh...", b"")]];
    let (fs, _) = apply(Semantics::Oci, layers);
    assert_eq!(fs.len(), 4);
    let (fs, sets) = apply(Semantics::DockerLoad, layers);
    assert_eq!(names(&fs), ["/top"]);
    assert_eq!(lines(&sets[1]), ["D /d"]);
}

#[test]
fn aufs_metadata_and_plnk_hardlinks() {
    let layers: &[&[E<'_>]] = &[
        &[E::Dir(b"d"), E::File(b"d/keep", b"k")],
        &[
            E::File(b".wh..wh.aufs", b""),
            E::Dir(b".wh..wh.orph"),
            E::Dir(b".wh..wh.plnk"),
            E::FileMode(b".wh..wh.plnk/1234.56", b"shared bytes", 0o751),
            E::Hardlink(b"bin/a", b".wh..wh.plnk/1234.56"),
            E::Hardlink(b"bin/b", b"/.wh..wh.plnk/1234.56"),
            E::Hardlink(b"bin/c", b".wh..wh.plnk/404"),
            E::File(b"d/.wh..wh.plnk", b""),
        ],
    ];
    for semantics in [Semantics::Oci, Semantics::DockerLoad] {
        let (fs, sets) = apply(semantics, layers);
        // aufs names vanish; the nested `.wh..wh.plnk` is a whiteout of `d/.wh.plnk`, a
        // name no layer can hold (it would be a whiteout itself).
        assert_eq!(
            names(&fs),
            ["/bin", "/bin/a", "/bin/b", "/d", "/d/keep"],
            "{semantics:?}"
        );
        let a = fs.get(&EntryPath::from("bin/a")).unwrap();
        let b = fs.get(&EntryPath::from("bin/b")).unwrap();
        assert_eq!(
            (a.meta.kind.clone(), a.meta.mode, a.meta.size),
            (EntryKind::File, 0o751, 12)
        );
        // Same stored bytes, but each link is a copy of its own (moby copies the file).
        assert_eq!(a.content, b.content);
        assert_ne!(a.inode, b.inode);
        let mut kinds = issue_kinds(&sets);
        kinds.sort_by_key(|k| format!("{k:?}"));
        assert_eq!(
            kinds,
            [IssueKind::AufsHardlinkMissing, IssueKind::NothingToDelete]
        );
        assert_eq!(lines(&sets[1]), ["A /bin", "A /bin/a", "A /bin/b"]);
    }
}

#[test]
fn type_changes_replace_subtrees() {
    let layers: &[&[E<'_>]] = &[
        &[
            E::Dir(b"a"),
            E::File(b"a/x", b"x"),
            E::File(b"f", b"f"),
            E::Symlink(b"s", b"a"),
        ],
        &[
            E::File(b"a", b"now a file"),
            E::Dir(b"f"),
            E::File(b"f/y", b"y"),
            E::Dir(b"s"),
        ],
    ];
    let (fs, sets) = apply(Semantics::Oci, layers);
    assert_eq!(names(&fs), ["/a", "/f", "/f/y", "/s"]);
    assert_eq!(
        lines(&sets[1]),
        ["C /a", "D /a/x", "C /f", "A /f/y", "C /s"]
    );
    assert!(fs.get(&EntryPath::from("s")).unwrap().meta.kind.is_dir());
}

#[test]
fn hardlinks_keep_the_content_they_were_made_with() {
    let layers: &[&[E<'_>]] = &[
        &[E::File(b"orig", b"v1"), E::Hardlink(b"link", b"orig")],
        &[E::File(b"orig", b"v2, longer")],
        &[
            E::Hardlink(b"late", b"/orig"),
            E::Hardlink(b"dangling", b"nowhere"),
        ],
    ];
    let (fs, sets) = apply(Semantics::Oci, layers);
    let get = |p: &str| fs.get(&EntryPath::from(p)).unwrap();
    assert_eq!(get("link").content.unwrap().layer, 0);
    assert_eq!(get("link").meta.size, 2);
    assert_eq!(get("orig").content.unwrap().layer, 1);
    assert_eq!(get("late").content, get("orig").content);
    assert_eq!(get("late").inode, get("orig").inode);
    assert_ne!(get("link").inode, get("orig").inode);
    assert_eq!(get("late").layer, 2);
    assert_eq!(issue_kinds(&sets), [IssueKind::HardlinkTargetMissing]);
}

#[test]
fn non_utf8_names_survive_exactly() {
    let layers: &[&[E<'_>]] = &[
        &[E::Dir(b"caf\xe9"), E::File(b"caf\xe9/men\xfc", b"x")],
        &[
            E::File(b"caf\xe9/.wh.men\xfc", b""),
            E::File(b"caf\xe9/\xff\n", b"y"),
        ],
    ];
    let (fs, sets) = apply(Semantics::Oci, layers);
    let paths: Vec<Vec<u8>> = fs.iter().map(|(p, _)| p.as_bytes().to_vec()).collect();
    assert_eq!(paths, [b"caf\xe9".to_vec(), b"caf\xe9/\xff\n".to_vec()]);
    let changed: Vec<Vec<u8>> = sets[1]
        .changes
        .iter()
        .map(|c| c.path.display_bytes())
        .collect();
    assert_eq!(
        changed,
        [b"/caf\xe9/men\xfc".to_vec(), b"/caf\xe9/\xff\\n".to_vec()]
    );
    assert_eq!(
        sets[1].changes.iter().map(|c| c.kind).collect::<Vec<_>>(),
        [ChangeKind::Deleted, ChangeKind::Added]
    );
}

#[test]
fn directories_through_symlinks_land_inside_the_root() {
    let layers: &[&[E<'_>]] = &[
        &[
            E::Dir(b"real"),
            E::Symlink(b"link", b"../../real"),
            E::Symlink(b"loop", b"loop"),
        ],
        &[
            E::File(b"link/x", b"x"),
            E::File(b"loop/y", b"y"),
            E::File(b"real/.wh.nothing", b""),
        ],
    ];
    let (fs, sets) = apply(Semantics::Oci, layers);
    assert_eq!(names(&fs), ["/link", "/loop", "/real", "/real/x"]);
    // `../../real` climbs above the root: clamped inside it here, but an extractor that
    // resolves it on the host leaves the root, so it is a link escape, not a plain
    // through-symlink note.
    assert_eq!(
        issue_kinds(&sets),
        [
            IssueKind::NothingToDelete,
            IssueKind::LinkEscape,
            IssueKind::SymlinkLoop
        ]
    );
    let (real_path, node) = fs.resolve(&EntryPath::from("link/x")).unwrap();
    assert_eq!(real_path, EntryPath::from("real/x"));
    assert_eq!(node.layer, 1);
    assert!(fs.resolve(&EntryPath::from("loop")).is_err());
}

#[test]
fn long_names_and_xattrs_are_recorded() {
    let long = format!("{}/file", "d".repeat(150));
    let mut t = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_size(3);
    h.set_mode(0o4755);
    h.set_uid(3_000_000);
    t.append_pax_extensions([
        ("SCHILY.xattr.security.capability", &b"\x01\x00\x00\x02"[..]),
        ("uid", &b"3000000"[..]),
    ])
    .unwrap();
    t.append_data(&mut h, &long, &b"abc"[..]).unwrap();
    let bytes = t.into_inner().unwrap();
    for compressed in [
        gzip(&bytes),
        zstd::encode_all(&bytes[..], 3).unwrap(),
        bytes.clone(),
    ] {
        let r = records(&compressed);
        assert!(r.complete);
        let [layer::Record::Entry(e)] = r.records.as_slice() else {
            panic!("{:?}", r.records)
        };
        assert_eq!(e.path.as_bytes(), long.as_bytes());
        assert_eq!((e.mode, e.uid, e.size), (0o4755, 3_000_000, 3));
        assert_eq!(e.xattrs.len(), 1);
        assert_eq!(e.xattrs[0].name, b"security.capability");
        assert_eq!(e.xattrs[0].value, b"\x01\x00\x00\x02");
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    // Two members, as eStargz and concatenated gzip streams have.
    let (a, b) = bytes.split_at(bytes.len() / 2);
    let mut out = Vec::new();
    for part in [a, b] {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(part).unwrap();
        out.extend(e.finish().unwrap());
    }
    out
}

#[test]
fn an_entry_under_a_file_is_skipped() {
    // Found by the property test: a file is no directory to write into.
    let layers: &[&[E<'_>]] = &[&[E::File(b"b", b"file"), E::File(b"b/a", b"x")]];
    for semantics in [Semantics::Oci, Semantics::DockerLoad] {
        let (fs, sets) = apply(semantics, layers);
        assert_eq!(names(&fs), ["/b"]);
        assert_eq!(issue_kinds(&sets), [IssueKind::ParentNotDirectory]);
    }
}

// ---- one path model, one classifier ----

/// The sample two-layer image of `support` with these layer tars, saved by Docker 1.10–24 and
/// read with every entry recorded.
fn saved(layers: Vec<Vec<u8>>) -> Report {
    let img = crate::support::Image::new(layers);
    let bytes = crate::support::DockerSave::new(img).build().bytes;
    Reader::new().record_entries(true).read(&bytes[..]).unwrap()
}

#[test]
fn names_that_differ_only_in_invalid_utf8_are_different_paths() {
    // Lossy text would make all three "a\u{fffd}": a duplicate entry, a whiteout of a path the
    // same layer writes, and one file where there are two.
    let layers: &[&[E<'_>]] = &[
        &[E::File(b"a\xfd", b"lower"), E::File(b"a\xff", b"old")],
        &[
            E::File(b"a\xff", b"ff"),
            E::File(b"a\xfe", b"fe"),
            E::File(b".wh.a\xfd", b""),
        ],
    ];
    let report = saved(layers.iter().map(|l| layer_tar(l)).collect());
    let codes: Vec<imgtar::Code> = report.findings.iter().map(|f| f.code).collect();
    assert!(
        !codes.contains(&imgtar::Code::LayerDuplicateEntry)
            && !codes.contains(&imgtar::Code::WhiteoutSameLayer),
        "{:#?}",
        report.findings
    );
    assert!(
        report.findings_at_least(imgtar::Severity::Warning).count() == 0,
        "{:#?}",
        report.findings
    );
    let image = report.archive.find_image(None).unwrap();
    let top = report.archive.layer_scan(&image.layers[1]).unwrap();
    assert_eq!(top.whiteouts, [EntryPath::from_bytes(&b"a\xfd"[..])]);
    for semantics in [Semantics::Oci, Semantics::DockerLoad] {
        let f = flatten_image(
            &report.archive,
            image,
            FlattenOptions::with_semantics(semantics),
        )
        .unwrap();
        let paths: Vec<Vec<u8>> = f.fs.iter().map(|(p, _)| p.as_bytes().to_vec()).collect();
        assert_eq!(
            paths,
            [b"a\xfe".to_vec(), b"a\xff".to_vec()],
            "{semantics:?}"
        );
        let ff = f.fs.get(&EntryPath::from_bytes(&b"a\xff"[..])).unwrap();
        assert_eq!((ff.layer, ff.meta.size), (1, 2));
        assert_eq!(f.issues().count(), 0, "{semantics:?}");
        assert_eq!(
            lines(&f.changes[1]),
            ["D /a\u{fffd}", "A /a\u{fffd}", "C /a\u{fffd}"],
            "{semantics:?}: the lines show them lossily, in byte order"
        );
    }
}

#[test]
fn typeflag_7_is_rejected_by_validation_and_recorded_as_a_regular_file() {
    // Contiguous files: Go reads them as regular files (and so do the content passes); docker
    // load's applier rejects the type. The one classifier gives both answers.
    let layer = crate::support::Plan::new()
        .dir("opt/")
        .raw("opt/contiguous", b'7', b"data", "")
        .build();
    let entry_offset = layer.offset("opt/contiguous");
    let report = saved(vec![crate::support::sample_layer_0(), layer.bytes.clone()]);
    let f = report
        .findings
        .iter()
        .find(|f| f.code == imgtar::Code::LayerUnknownType)
        .unwrap_or_else(|| panic!("{:#?}", report.findings));
    assert_eq!(f.entry.as_deref(), Some("opt/contiguous"));
    assert_eq!(f.entry_offset, Some(entry_offset));
    assert!(!report.is_valid());

    let image = report.archive.find_image(None).unwrap();
    let scan = report.archive.layer_scan(&image.layers[1]).unwrap();
    assert_eq!((scan.files, scan.file_bytes), (1, 4));
    let recorded = scan.records().unwrap();
    let entry = recorded
        .records
        .iter()
        .find_map(|r| match r {
            layer::Record::Entry(e) if e.path == EntryPath::from("opt/contiguous") => Some(e),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        (entry.kind.clone(), entry.size, entry.offset),
        (EntryKind::File, 4, entry_offset)
    );
    // The layer scanned on its own says the same.
    let alone = records(&layer.bytes);
    assert!(alone.records.iter().any(|r| matches!(r,
        layer::Record::Entry(e) if e.path == EntryPath::from("opt/contiguous") && e.kind == EntryKind::File)));
    let flat = flatten_image(&report.archive, image, FlattenOptions::default()).unwrap();
    let node = flat.fs.get(&EntryPath::from("opt/contiguous")).unwrap();
    assert_eq!(
        (node.meta.kind.clone(), node.meta.size, node.layer),
        (EntryKind::File, 4, 1)
    );
}
