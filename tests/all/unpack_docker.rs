//! `imgtar unpack` against the real daemon: for every archive of `testdata/real` that
//! `docker load` (20.10, vfs) loads, each loaded image unpacked by imgtar equals `docker
//! create` + `docker export` of it (paths, types, permission bits, uid/gid, symlink targets,
//! file sha256), minus what the container's init layer adds. Then the rootless path: the CLI
//! run as an unprivileged user gives the same tree without ownership and device nodes.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use imgtar::layer::{self, UnpackOptions};
use imgtar::{Input, Reader};

/// What is compared of one path.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    /// `f` file, `d` directory, `l` symlink, `c`/`b` device, `p` FIFO.
    kind: char,
    mode: u32,
    owner: Option<(u64, u64)>,
    /// File sha256 or symlink target.
    what: String,
}

fn real_archives() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/real");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.ends_with(".tar") || n.ends_with(".tar.gz") || n.ends_with(".tar.xz")
        })
        .collect();
    v.sort();
    v
}

/// Paths the container's init layer adds or replaces (moby `daemon/initlayer`, the
/// `.dockerenv` of `daemon/create.go`), and with `image_has_etc` false the `etc` directory
/// it creates for them.
fn init_path(p: &str, image_has_etc: bool) -> bool {
    let top = p.split('/').next().unwrap_or("");
    matches!(top, ".dockerenv" | "dev" | "proc" | "sys")
        || matches!(
            p,
            "etc/hosts" | "etc/hostname" | "etc/resolv.conf" | "etc/mtab"
        )
        || (p == "etc" && !image_has_etc)
}

/// The tree `docker export` wrote (hardlinks take their target's content).
fn exported(tar_bytes: &[u8]) -> BTreeMap<String, Seen> {
    let mut out: BTreeMap<String, Seen> = BTreeMap::new();
    let mut a = tar::Archive::new(tar_bytes);
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e
            .path()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches('/')
            .to_string();
        if path.is_empty() || path == "." {
            continue;
        }
        let h = e.header().clone();
        let mode = h.mode().unwrap() & 0o7777;
        let owner = Some((h.uid().unwrap(), h.gid().unwrap()));
        let (kind, what) = match h.entry_type() {
            tar::EntryType::Directory => ('d', String::new()),
            tar::EntryType::Symlink => (
                'l',
                e.link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default(),
            ),
            tar::EntryType::Link => {
                let target = e
                    .link_name()
                    .unwrap()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                let t = out[target.trim_end_matches('/')].clone();
                out.insert(path, Seen { mode, owner, ..t });
                continue;
            }
            tar::EntryType::Char => ('c', String::new()),
            tar::EntryType::Block => ('b', String::new()),
            tar::EntryType::Fifo => ('p', String::new()),
            _ => {
                let mut body = Vec::new();
                e.read_to_end(&mut body).unwrap();
                ('f', hex::encode(Sha256::digest(&body)))
            }
        };
        out.insert(
            path,
            Seen {
                kind,
                mode,
                owner,
                what,
            },
        );
    }
    out
}

/// The tree under `dest`, no link followed.
fn unpacked(dest: &Path, owners: bool) -> BTreeMap<String, Seen> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(dest).min_depth(1).follow_links(false) {
        let e = e.unwrap();
        let rel = e
            .path()
            .strip_prefix(dest)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let m = e.path().symlink_metadata().unwrap();
        let ft = m.file_type();
        let (kind, what) = if ft.is_dir() {
            ('d', String::new())
        } else if ft.is_symlink() {
            (
                'l',
                std::fs::read_link(e.path())
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            )
        } else if ft.is_char_device() {
            ('c', String::new())
        } else if ft.is_block_device() {
            ('b', String::new())
        } else if ft.is_fifo() {
            ('p', String::new())
        } else {
            (
                'f',
                hex::encode(Sha256::digest(std::fs::read(e.path()).unwrap())),
            )
        };
        out.insert(
            rel,
            Seen {
                kind,
                mode: if kind == 'l' {
                    0o777
                } else {
                    m.permissions().mode() & 0o7777
                },
                owner: owners.then(|| (u64::from(m.uid()), u64::from(m.gid()))),
                what,
            },
        );
    }
    out
}

/// Differences between the daemon's tree and imgtar's, init-layer paths left out.
fn differences(
    docker: &BTreeMap<String, Seen>,
    ours: &BTreeMap<String, Seen>,
    compare_owner: bool,
    devices: bool,
) -> Vec<String> {
    let has_etc = ours.contains_key("etc");
    let keep =
        |p: &String, s: &Seen| !init_path(p, has_etc) && (devices || !matches!(s.kind, 'c' | 'b'));
    let mut diffs = Vec::new();
    for (p, d) in docker.iter().filter(|(p, s)| keep(p, s)) {
        match ours.get(p) {
            None => diffs.push(format!("missing {p} ({d:?})")),
            Some(o) => {
                let mut o = o.clone();
                let mut d = d.clone();
                if d.kind == 'l' {
                    // Symlink permission bits mean nothing on Linux.
                    (o.mode, d.mode) = (0, 0);
                }
                if !compare_owner {
                    (o.owner, d.owner) = (None, None);
                }
                if o != d {
                    diffs.push(format!("{p}: docker {d:?}, imgtar {o:?}"));
                }
            }
        }
    }
    for (p, _) in ours.iter().filter(|(p, s)| keep(p, s)) {
        if !docker.contains_key(p) {
            diffs.push(format!("extra {p}"));
        }
    }
    diffs
}

#[test]
fn unpack_equals_docker_export_for_every_real_archive() {
    let Some(docker) = crate::harness::docker_or_skip() else {
        return;
    };
    let mut compared = 0;
    let mut failures = Vec::new();
    for archive in real_archives() {
        let name = archive.file_name().unwrap().to_string_lossy().into_owned();
        docker.with_loaded(&archive, |o, _| {
            if o.verdict != crate::harness::Verdict::Loads {
                return;
            }
            for img in &o.images {
                let id = img.id.trim_start_matches("sha256:").to_string();
                let rootfs = docker.export_rootfs(&img.id).unwrap();
                let tmp = tempfile::tempdir().unwrap();
                let dest = tmp.path().join("rootfs");
                // The daemon's ID is the config digest; for a legacy archive it is derived
                // from the v1 `json`, which imgtar does not name images by: the tag then.
                let query = {
                    let r = Reader::new().metadata_only().open(&archive).unwrap();
                    if r.archive.find_index(Some(&id)).is_ok() {
                        Some(id.clone())
                    } else {
                        img.tags.first().cloned()
                    }
                };
                let done = layer::unpack(
                    &Reader::new(),
                    &Input::of(&archive).unwrap(),
                    &dest,
                    &UnpackOptions::new().image(query.as_deref()),
                );
                let done = match done {
                    Ok(d) => d,
                    Err(e) => {
                        failures.push(format!("{name} {id}: unpack failed: {e}"));
                        continue;
                    }
                };
                assert!(done.openat2, "{name}: the kernel has openat2");
                let diffs = differences(&exported(&rootfs), &unpacked(&dest, true), true, true);
                if !diffs.is_empty() {
                    failures.push(format!(
                        "{name} {id}: {} differences: {:?}",
                        diffs.len(),
                        &diffs[..diffs.len().min(8)]
                    ));
                }
                compared += 1;
            }
        });
    }
    assert!(failures.is_empty(), "{failures:#?}");
    eprintln!("unpack vs docker export: {compared} images compared");
    assert!(compared >= 20, "only {compared} images compared");
}

#[test]
fn unpack_as_an_unprivileged_user_skips_ownership_and_devices() {
    let Some(docker) = crate::harness::docker_or_skip() else {
        return;
    };
    if !Path::new("/usr/bin/setpriv").exists() {
        crate::harness::skipped("unpack rootless", "setpriv is not installed");
        return;
    }
    if rustix_euid() != 0 {
        crate::harness::skipped("unpack rootless", "the tests do not run as root");
        return;
    }
    let rootless = crate::support::Rootless::new();
    // Setuid files, several owners, hardlinks, and (in the whiteouts image) deletions.
    for name in ["dive-docker-1.10-whiteouts.tar", "snyk-kaniko-busybox.tar"] {
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/real")
            .join(name);
        let archive = rootless.tmp.path().join(name);
        std::fs::copy(&src, &archive).unwrap();
        rootless.readable(&archive);
        let dest = rootless.work.join(name);
        let out = rootless
            .command()
            .arg("unpack")
            .arg(&archive)
            .arg("-o")
            .arg(&dest)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{name}: {stderr}");
        let ours = unpacked(&dest, true);
        // Everything belongs to the unprivileged user; the archive's owners were skipped
        // with one warning.
        assert!(
            ours.values().all(|s| s.owner == Some((65534, 65534))),
            "{name}"
        );
        if !ours.is_empty() {
            assert_eq!(
                stderr.matches("ownership of").count(),
                usize::from(has_foreign_owners(&src)),
                "{name}: {stderr}"
            );
        }
        docker.with_loaded(&src, |o, _| {
            assert_eq!(o.verdict, crate::harness::Verdict::Loads, "{}", o.summary());
            let rootfs = docker.export_rootfs(&o.images[0].id).unwrap();
            let diffs = differences(&exported(&rootfs), &ours, false, false);
            assert!(diffs.is_empty(), "{name}: {diffs:?}");
        });
    }
}

fn has_foreign_owners(archive: &Path) -> bool {
    let r = Reader::new().record_entries(true).open(archive).unwrap();
    let img = r.archive.find_image(None).unwrap();
    let flat = layer::flatten_image(&r.archive, img, Default::default()).unwrap();
    let foreign = flat
        .fs
        .iter()
        .any(|(_, n)| (n.meta.uid, n.meta.gid) != (65534, 65534));
    foreign
}

fn rustix_euid() -> u32 {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX)
}
