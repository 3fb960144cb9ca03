//! imgtar's loader verdicts on hostile link layers against the real loaders: symlink loops,
//! `.` and `/` as symlinks, symlink ancestors that leave the root (`pwn -> /tmp` then
//! `pwn/escaped.txt`, with and without `/tmp` in the image), `etc -> /etc` then `etc/passwd`,
//! `x -> ../../../..` then `x/y`, hardlinks to escaping paths, whiteouts through a symlink
//! ancestor, a 300-link chain, and escaping symlinks nothing goes through. Each archive is
//! loaded by every installed loader (Docker 20.10, containerd 1.6, podman 4.3) and the outcome
//! must be the one imgtar predicts once `validate` has judged the links
//! (`layer::check_links`).

use std::path::PathBuf;

use crate::support::{DockerSave, Image, Plan};

/// One archive: its name and its layers, bottom first.
pub(crate) struct LinkCase {
    pub name: &'static str,
    pub layers: Vec<Plan>,
}

fn case(name: &'static str, layers: Vec<Plan>) -> LinkCase {
    LinkCase { name, layers }
}

/// A chain of `n` symlinks `l0 -> l1 -> ... -> l<n> -> d`, `d` a directory.
fn chain(n: usize) -> Plan {
    let mut p = Plan::new().dir("d/");
    for i in 0..n {
        p = p.symlink(&format!("l{i}"), &format!("l{}", i + 1));
    }
    p.symlink(&format!("l{n}"), "d")
}

/// The hostile link archives, one per case.
pub(crate) fn link_cases() -> Vec<LinkCase> {
    vec![
        case(
            "symlink loop, then a file through it",
            vec![
                Plan::new().symlink("a", "b").symlink("b", "a"),
                Plan::new().file("a/f", b"f"),
            ],
        ),
        case(
            "symlink loop that nothing goes through",
            vec![Plan::new()
                .symlink("a", "b")
                .symlink("b", "a")
                .file("f", b"f")],
        ),
        case(
            "`.` as a symlink",
            vec![Plan::new().symlink(".", "/tmp").file("evil", b"e")],
        ),
        case(
            "`/` as a symlink",
            vec![Plan::new().symlink("/", "/tmp").file("evil", b"e")],
        ),
        case(
            "`./` as a symlink to a relative target",
            vec![Plan::new()
                .symlink("./", "sub")
                .dir("sub/")
                .file("evil", b"e")],
        ),
        case(
            "pwn -> /tmp then pwn/escaped.txt, no /tmp in the image",
            vec![
                Plan::new().symlink("pwn", "/tmp"),
                Plan::new().file("pwn/escaped.txt", b"x"),
            ],
        ),
        case(
            "pwn -> /tmp then pwn/escaped.txt, /tmp in the image",
            vec![
                Plan::new().dir("tmp/").symlink("pwn", "/tmp"),
                Plan::new().file("pwn/escaped.txt", b"x"),
            ],
        ),
        case(
            "pwn -> /tmp and pwn/escaped.txt in one layer, no /tmp",
            vec![Plan::new()
                .symlink("pwn", "/tmp")
                .file("pwn/escaped.txt", b"x")],
        ),
        case(
            "etc -> /etc then etc/passwd",
            vec![
                Plan::new().symlink("etc", "/etc"),
                Plan::new().file("etc/passwd", b"root::0:0::/:/bin/sh\n"),
            ],
        ),
        case(
            "x -> ../../../.. then x/y",
            vec![
                Plan::new().symlink("x", "../../../.."),
                Plan::new().file("x/y", b"y"),
            ],
        ),
        case(
            "x -> ../../../.. that nothing goes through",
            vec![Plan::new().symlink("x", "../../../..").file("f", b"f")],
        ),
        case(
            "a/b -> ../../../etc that nothing goes through",
            vec![Plan::new().dir("a/").symlink("a/b", "../../../etc")],
        ),
        case(
            "d/s1 -> s2, d/s2 -> ../../canary-dir, then d/s1/f",
            vec![
                Plan::new().dir("d/").symlink("d/s1", "s2"),
                Plan::new().symlink("d/s2", "../../canary-dir"),
                Plan::new().file("d/s1/f", b"f"),
            ],
        ),
        case(
            "hardlink to ../../etc/passwd, no such file in the image",
            vec![Plan::new().hardlink("stolen", "../../etc/passwd")],
        ),
        case(
            "hardlink to ../../etc/passwd, etc/passwd in a lower layer",
            vec![
                Plan::new().file("etc/passwd", b"p"),
                Plan::new().hardlink("stolen", "../../etc/passwd"),
            ],
        ),
        case(
            "hardlink to ../../etc/passwd, etc/passwd earlier in the layer",
            vec![Plan::new()
                .file("etc/passwd", b"p")
                .hardlink("stolen", "../../etc/passwd")],
        ),
        case(
            "hardlink to /etc/passwd, etc/passwd earlier in the layer",
            vec![Plan::new()
                .file("etc/passwd", b"p")
                .hardlink("stolen", "/etc/passwd")],
        ),
        case(
            "hardlink through an escaping symlink, no target in the image",
            vec![
                Plan::new().symlink("h", "/srv"),
                Plan::new().hardlink("stolen", "h/canary"),
            ],
        ),
        case(
            "hardlink through an escaping symlink, the target in the image",
            vec![
                Plan::new().file("srv/canary", b"c").symlink("h", "/srv"),
                Plan::new().hardlink("stolen", "h/canary"),
            ],
        ),
        case(
            "whiteout through an in-root symlink ancestor",
            vec![
                Plan::new().file("real/victim", b"v").symlink("lnk", "real"),
                Plan::new().file("lnk/.wh.victim", b""),
            ],
        ),
        case(
            "opaque marker through an in-root symlink ancestor",
            vec![
                Plan::new().file("real/a", b"a").symlink("lnk", "real"),
                Plan::new().file("lnk/.wh..wh..opq", b""),
            ],
        ),
        case(
            "whiteout through an escaping symlink ancestor",
            vec![
                Plan::new().file("etc/passwd", b"p").symlink("esc", "/etc"),
                Plan::new().file("esc/.wh.passwd", b""),
            ],
        ),
        case(
            "whiteout through a symlink to a missing directory",
            vec![
                Plan::new().symlink("esc", "/nowhere"),
                Plan::new().file("esc/.wh.passwd", b""),
            ],
        ),
        case(
            "300-link chain, then a file through it",
            vec![chain(300), Plan::new().file("l0/f", b"f")],
        ),
        case("300-link chain that nothing goes through", vec![chain(300)]),
        case(
            "30-link chain, then a file through it",
            vec![chain(30), Plan::new().file("l0/f", b"f")],
        ),
        case(
            "45-link chain, then a file through it",
            vec![chain(45), Plan::new().file("l0/f", b"f")],
        ),
        case(
            "40-link chain, then a file through it",
            vec![chain(39), Plan::new().file("l0/f", b"f")],
        ),
        case(
            "41-link chain, then a file through it",
            vec![chain(40), Plan::new().file("l0/f", b"f")],
        ),
        case(
            "dangling in-root symlink, then a file through it",
            vec![
                Plan::new().symlink("lnk", "missing"),
                Plan::new().file("lnk/f", b"f"),
            ],
        ),
        case(
            "pwn -> /tmp, then a file two levels through it",
            vec![
                Plan::new().symlink("pwn", "/tmp"),
                Plan::new().file("pwn/a/b", b"x"),
            ],
        ),
        case(
            "a file, then a file below it",
            vec![Plan::new().file("f", b"f"), Plan::new().file("f/x", b"x")],
        ),
        case(
            "a file and a file below it in one layer",
            vec![Plan::new().file("f", b"f").file("f/x", b"x")],
        ),
        case(
            "a file, then a file two levels below it",
            vec![Plan::new().file("f", b"f"), Plan::new().file("f/x/y", b"y")],
        ),
        case(
            "whiteout through a symlink loop",
            vec![
                Plan::new().symlink("a", "b").symlink("b", "a"),
                Plan::new().file("a/.wh.x", b""),
            ],
        ),
        case(
            "opaque marker through a symlink to a missing directory",
            vec![
                Plan::new().symlink("esc", "/nowhere"),
                Plan::new().file("esc/.wh..wh..opq", b""),
            ],
        ),
        case(
            "opaque marker below a symlink to a missing directory",
            vec![
                Plan::new().symlink("esc", "/nowhere"),
                Plan::new().file("esc/sub/.wh..wh..opq", b""),
            ],
        ),
        case(
            "symlink loop in one layer, used from the next but one",
            vec![
                Plan::new().symlink("a", "b"),
                Plan::new().symlink("b", "a"),
                Plan::new().file("a/f", b"f"),
            ],
        ),
        case(
            "legitimate in-root links (glibc, usrmerge, alternatives)",
            crate::support::legitimate_links(),
        ),
    ]
}

/// Writes every case's `docker save` archive into `dir`.
pub(crate) fn write_link_cases(dir: &std::path::Path) -> Vec<(String, PathBuf)> {
    link_cases()
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let img = Image::new(c.layers.iter().map(|p| p.build().bytes).collect());
            let path = dir.join(format!("links-{i}.tar"));
            std::fs::write(&path, DockerSave::new(img).build().bytes).unwrap();
            (format!("link case {:?}", c.name), path)
        })
        .collect()
}

#[test]
fn every_hostile_link_archive_as_the_loaders_load_it() {
    if crate::harness::available().is_err() {
        crate::harness::skipped("loaders", "IMGTAR_LOADERS=0");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let archives = write_link_cases(dir.path());
    let bad = crate::loaders::compare_judged(&archives);
    assert!(
        bad.is_empty(),
        "{} mismatch(es):\n{}",
        bad.len(),
        bad.join("\n")
    );
}
