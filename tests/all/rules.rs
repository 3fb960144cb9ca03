//! One synthetic archive per defect for every finding [`Code`], plus valid baselines of each
//! layout that must produce no warning or error.
//!
//! Every case starts from a valid archive built by `support` and injects one defect. The
//! test asserts that the expected code fires with the expected severity, rule, member path
//! and header offset (and, inside layers, entry name and entry offset), and that no other
//! warning or error appears except those the case lists in `also` (the unavoidable
//! consequences of the defect).

use std::collections::BTreeSet;

use crate::support::*;
use imgtar::{Code, Finding, Layout, Limits, Reader, Report, Severity};
use serde_json::{json, Value};

const I: Severity = Severity::Info;
const W: Severity = Severity::Warning;
const E: Severity = Severity::Error;

// ---------------------------------------------------------------------------------------------
// The case machinery
// ---------------------------------------------------------------------------------------------

/// Where the finding must point.
#[derive(Debug, Clone, Copy)]
enum At {
    /// No path, no offset (archive-wide findings).
    Nowhere,
    /// The member of this exact raw name (path = its cleaned name, offset = its header).
    Member(&'static str),
    /// A location the builder remembered with [`Built::mark`].
    Mark(&'static str),
    /// No path; the offset is not checked (a separate, ignored case pins it).
    NoPathAnyOffset,
}

#[derive(Clone, Copy)]
pub(crate) struct Case {
    pub(crate) name: &'static str,
    ignored: Option<&'static str>,
    pub(crate) build: fn() -> Built,
    expect: Code,
    severity: Severity,
    at: At,
    /// Other warning/error codes the defect necessarily causes (exactly these, no more).
    also: &'static [Code],
    limits: Option<fn() -> Limits>,
}

fn no_build() -> Built {
    unreachable!("every case sets `build`")
}

const D: Case = Case {
    name: "",
    ignored: None,
    build: no_build,
    expect: Code::Layout,
    severity: I,
    at: At::Nowhere,
    also: &[],
    limits: None,
};

/// Reads the archive as a stream and, written to a file, through the indexed (seekable)
/// walk; both must give the same findings. As `validate` does, entries are recorded and the
/// link findings of each image added.
fn read(bytes: &[u8], limits: Option<Limits>) -> Report {
    let mut reader = Reader::new().record_entries(true);
    if let Some(l) = limits {
        reader = reader.limits(l);
    }
    let mut streamed = reader
        .read(bytes)
        .unwrap_or_else(|e| panic!("read failed: {e}"));
    imgtar::layer::check_links(&reader, &mut streamed);
    let dir = std::env::temp_dir().join(format!("imgtar-rules-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{:?}.tar", std::thread::current().id()));
    std::fs::write(&path, bytes).unwrap();
    let indexed = reader.open(&path);
    std::fs::remove_file(&path).unwrap();
    let mut indexed = indexed.unwrap_or_else(|e| panic!("open failed: {e}"));
    imgtar::layer::check_links(&reader, &mut indexed);
    assert_eq!(
        streamed.findings, indexed.findings,
        "the streaming and the indexed walk disagree"
    );
    streamed
}

fn dump(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|f| format!("  {f}  (path {:?}, offset {:?})\n", f.path, f.offset))
        .collect()
}

fn run(case: &Case) {
    let built = (case.build)();
    let report = read(&built.bytes, case.limits.map(|l| l()));
    let all = dump(&report.findings);
    let check_offset = !matches!(case.at, At::NoPathAnyOffset);
    let (path, offset) = match case.at {
        At::Nowhere | At::NoPathAnyOffset => (None, None),
        At::Member(name) => (Some(clean(name)), Some(built.offset(name))),
        At::Mark(key) => {
            let m = built.get_mark(key);
            (m.path.clone(), m.offset)
        }
    };
    let hits: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.code == case.expect)
        .collect();
    assert!(
        !hits.is_empty(),
        "{}: expected a {} finding, got:\n{all}",
        case.name,
        case.expect
    );
    let entry_ok = |f: &Finding| match &built.entry {
        None => true,
        Some((name, off)) => {
            f.entry.as_deref() == Some(name.as_str()) && f.entry_offset == Some(*off)
        }
    };
    let found = hits.iter().find(|f| {
        f.severity == case.severity
            && f.path == path
            && (!check_offset || f.offset == offset)
            && entry_ok(f)
    });
    let Some(f) = found else {
        panic!(
            "{}: no {} finding with severity {}, path {path:?}, offset {offset:?}, entry {:?}; got:\n{all}",
            case.name, case.expect, case.severity, built.entry
        );
    };
    assert_eq!(f.rule, case.expect.rule(), "{}: rule of {f}", case.name);
    assert!(!f.message.is_empty(), "{}: empty message", case.name);
    let others: BTreeSet<Code> = report
        .findings
        .iter()
        .filter(|f| f.severity > I && f.code != case.expect)
        .map(|f| f.code)
        .collect();
    let also: BTreeSet<Code> = case.also.iter().copied().collect();
    assert_eq!(
        others, also,
        "{}: other warnings/errors differ from `also`; all findings:\n{all}",
        case.name
    );
    assert_eq!(
        report.is_valid(),
        !report.findings.iter().any(|f| f.severity == E),
        "{}: is_valid disagrees with the findings",
        case.name
    );
}

fn run_named(name: &str) {
    let case = all_cases()
        .into_iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no case {name}"));
    run(&case);
}

macro_rules! cases {
    ($( $(#[ignore = $why:literal])? $name:ident: $case:expr; )*) => {
        pub(crate) fn all_cases() -> Vec<Case> {
            vec![$( Case { name: stringify!($name), ignored: None $(.or(Some($why)))?, ..$case }, )*]
        }
        $(
            #[test]
            $(#[ignore = $why])?
            fn $name() {
                run_named(stringify!($name));
            }
        )*
    };
}

// ---------------------------------------------------------------------------------------------
// Builders shared by the cases
// ---------------------------------------------------------------------------------------------

fn has(b: &Built, name: &str) -> bool {
    b.offsets.iter().any(|(n, _)| n == name)
}

fn mark_if(b: &mut Built, key: &str, name: &str) {
    if has(b, name) {
        b.mark_member(key, name);
    }
}

/// Builds a Docker 1.10–24 archive and marks config, layer directories and their files.
fn docker_plan(s: &DockerSave, plan: &Plan) -> Built {
    let mut b = plan.build();
    mark_if(&mut b, "config", &s.config_name);
    for i in 0..s.layer_ids.len() {
        let id = &s.layer_ids[i];
        mark_if(&mut b, &format!("dir{i}"), &format!("{id}/"));
        mark_if(&mut b, &format!("version{i}"), &format!("{id}/VERSION"));
        mark_if(&mut b, &format!("json{i}"), &format!("{id}/json"));
        mark_if(&mut b, &format!("layer{i}"), &format!("{id}/layer.tar"));
    }
    b
}

fn docker_built(s: &DockerSave) -> Built {
    docker_plan(s, &s.plan())
}

/// The sample Docker 1.10–24 archive after `edit`.
fn docker(edit: impl FnOnce(&mut DockerSave)) -> Built {
    let mut s = DockerSave::sample();
    edit(&mut s);
    docker_built(&s)
}

/// The sample Docker 1.10–24 archive with its member list edited.
fn docker_members(edit: impl FnOnce(&DockerSave, &mut Plan)) -> Built {
    let s = DockerSave::sample();
    let mut p = s.plan();
    edit(&s, &mut p);
    docker_plan(&s, &p)
}

/// The sample image with its config edited, saved by Docker 1.10–24.
fn docker_config(edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Built {
    let mut img = Image::sample();
    edit(img.config.as_object_mut().expect("config object"));
    docker_built(&DockerSave::new(img))
}

fn legacy_plan(s: &LegacySave, plan: &Plan) -> Built {
    let mut b = plan.build();
    for i in 0..s.layer_ids.len() {
        let id = &s.layer_ids[i];
        mark_if(&mut b, &format!("dir{i}"), &format!("{id}/"));
        mark_if(&mut b, &format!("version{i}"), &format!("{id}/VERSION"));
        mark_if(&mut b, &format!("json{i}"), &format!("{id}/json"));
        mark_if(&mut b, &format!("layer{i}"), &format!("{id}/layer.tar"));
    }
    b
}

/// The sample pre-1.10 archive after `edit`.
fn legacy(edit: impl FnOnce(&mut LegacySave)) -> Built {
    let mut s = LegacySave::sample();
    edit(&mut s);
    legacy_plan(&s, &s.plan())
}

/// The sample pre-1.10 archive with its member list edited.
fn legacy_members(edit: impl FnOnce(&LegacySave, &mut Plan)) -> Built {
    let s = LegacySave::sample();
    let mut p = s.plan();
    edit(&s, &mut p);
    legacy_plan(&s, &p)
}

fn oci_plan(s: &OciSave, plan: &Plan) -> Built {
    let mut b = plan.build();
    mark_if(&mut b, "config", &s.config_path());
    mark_if(&mut b, "manifest", &s.manifest_path());
    for i in 0..s.image.stored.len() {
        mark_if(&mut b, &format!("layer{i}"), &s.layer_path(i));
    }
    b
}

/// The sample plain OCI layout after `edit`.
fn oci(edit: impl FnOnce(&mut OciSave)) -> Built {
    let mut s = OciSave::plain(Image::sample());
    edit(&mut s);
    oci_plan(&s, &s.plan())
}

/// The sample plain OCI layout with its member list edited.
fn oci_members(edit: impl FnOnce(&OciSave, &mut Plan)) -> Built {
    let s = OciSave::plain(Image::sample());
    let mut p = s.plan();
    edit(&s, &mut p);
    oci_plan(&s, &p)
}

/// The sample Docker 25 archive after `edit`.
fn docker25(edit: impl FnOnce(&mut OciSave)) -> Built {
    let mut s = OciSave::docker25(Image::sample());
    edit(&mut s);
    oci_plan(&s, &s.plan())
}

/// The sample Docker 1.10–24 archive whose top layer is `layer`; marks the layer member as
/// `layer` and, if `entry` is given, expects findings about that layer entry.
fn top_layer(layer: Plan, entry: Option<&str>) -> Built {
    let inner = layer.build();
    let mut b = top_layer_bytes(inner.bytes.clone());
    if let Some(e) = entry {
        b.entry = Some((e.to_string(), inner.offset(e)));
    }
    b
}

/// The sample Docker 1.10–24 archive whose top layer blob is `bytes` (its DiffID in the
/// config is sha256 of `bytes`).
fn top_layer_bytes(bytes: Vec<u8>) -> Built {
    let mut img = Image::sample();
    img.set_layer(1, bytes);
    let s = DockerSave::new(img);
    let mut b = docker_built(&s);
    b.mark_member("layer", &s.layer_path(1));
    b
}

/// Like [`top_layer_bytes`], with the blob stored as `stored` (compressed) and the DiffID
/// computed over `uncompressed`.
fn top_layer_stored(uncompressed: Vec<u8>, stored: Vec<u8>) -> Built {
    let mut img = Image::sample();
    img.set_layer(1, uncompressed);
    img.stored[1] = stored;
    let s = DockerSave::new(img);
    let mut b = docker_built(&s);
    b.mark_member("layer", &s.layer_path(1));
    b
}

/// The sample Docker archive with its `manifest.json` text edited (first occurrence of each
/// pattern replaced), for what a JSON value cannot hold (repeated keys).
fn manifest_text(edits: &[(&str, &str)]) -> Built {
    docker_members(|s, p| {
        let mut txt = String::from_utf8(to_json_line(&s.manifest)).unwrap();
        for (from, to) in edits {
            assert!(txt.contains(from), "{from} not in {txt}");
            txt = txt.replacen(from, to, 1);
        }
        p.set("manifest.json", txt.as_bytes());
    })
}

fn padded_json(v: &Value, total: usize) -> Vec<u8> {
    let mut b = to_json(v);
    assert!(b.len() < total);
    b.resize(total, b' ');
    b
}

fn rename_key(v: &mut Value, old: &str, new: &str) {
    let obj = v.as_object_mut().expect("object");
    let x = obj.remove(old).expect("key");
    obj.insert(new.to_string(), x);
}

fn fake_digest(seed: &str) -> String {
    format!("sha256:{}", fake_hex(seed))
}

/// The blob path of sha256("hello").
const HELLO_BLOB: &str =
    "blobs/sha256/2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

fn small_decompression_limit() -> Limits {
    let mut l = Limits::default();
    l.max_decompressed_bytes = 100_000;
    l
}

fn small_json_limit() -> Limits {
    let mut l = Limits::default();
    l.max_json_bytes = 4096;
    l
}

/// Two images in one Docker 1.10–24 archive: `base` (layer 0 of the sample, tagged
/// `busybox:base`) and the sample image whose `Parent` is `base`, with histories that pass
/// moby's `checkValidParent` (the child's is the parent's plus one entry). `edit` changes the
/// child image before saving.
fn parent_and_child(edit: impl FnOnce(&mut Image)) -> Built {
    let mut child_img = Image::sample();
    let h = child_img.config["history"].clone();
    child_img.config["history"] = json!([h[0], h[2], h[1]]);
    let mut base_img = Image::new(vec![sample_layer_0()]);
    base_img.config["history"] = json!([h[0], h[2]]);
    base_img.repo_tags = vec!["busybox:base".into()];
    let base = DockerSave::new(base_img);
    edit(&mut child_img);
    let child = DockerSave::new(child_img);
    let mut p = child.plan();
    p.merge(base.plan());
    let mut child_entry = child.manifest[0].clone();
    child_entry["Parent"] = json!(sha256_digest(&base.config));
    p.set(
        "manifest.json",
        &to_json_line(&json!([base.manifest[0].clone(), child_entry])),
    );
    let mut repos = child.repositories.clone().expect("tagged");
    repos["busybox"]["base"] = json!(base.layer_ids[0]);
    p.set("repositories", &to_json_line(&repos));
    docker_plan(&child, &p)
}

// ---------------------------------------------------------------------------------------------
// The cases: one per defect, grouped by rule family
// ---------------------------------------------------------------------------------------------

cases! {
    // ---- R1: outer stream -----------------------------------------------------------------
    outer_gzip: Case {
        build: || docker(|_| {}).gzipped(),
        expect: Code::OuterCompressed, severity: I, at: At::Nowhere, ..D
    };
    outer_zstd: Case {
        build: || { let mut b = docker(|_| {}); b.bytes = zstd(&b.bytes); b },
        expect: Code::OuterCompressed, severity: I, at: At::Nowhere, ..D
    };
    outer_xz: Case {
        build: || { let mut b = docker(|_| {}); b.bytes = xz(&b.bytes); b },
        expect: Code::OuterCompressed, severity: I, at: At::Nowhere, ..D
    };
    outer_bzip2: Case {
        build: || { let mut b = docker(|_| {}); b.bytes = bzip2(&b.bytes); b },
        expect: Code::OuterCompressed, severity: I, at: At::Nowhere, ..D
    };
    trailing_data: Case {
        build: || {
            let mut b = docker(|_| {});
            b.bytes.extend_from_slice(b"some trailing garbage");
            b
        },
        expect: Code::TrailingData, severity: I, at: At::NoPathAnyOffset, ..D
    };
    trailing_data_offset: Case {
        build: || {
            let mut b = docker(|_| {});
            let end = b.end();
            b.bytes.extend_from_slice(b"some trailing garbage");
            b.mark("trailing", None, Some(end + 1024));
            b
        },
        expect: Code::TrailingData, severity: I, at: At::Mark("trailing"), ..D
    };
    garbage_after_one_zero_block: Case {
        build: || {
            let mut b = docker(|_| {});
            let end = b.end();
            b.bytes.truncate(end as usize + 512);
            b.bytes.extend_from_slice(&[b'x'; 512]);
            b.mark("second", None, Some(end + 512));
            b
        },
        expect: Code::CorruptHeader, severity: E, at: At::Mark("second"), ..D
    };
    no_end_of_archive: Case {
        build: || {
            let mut b = docker(|_| {});
            let end = b.end();
            b.bytes.truncate(end as usize);
            b.mark("end", None, Some(end));
            b
        },
        expect: Code::NoEndOfArchive, severity: E, at: At::Mark("end"), ..D
    };
    truncated_inside_member: Case {
        build: || {
            let mut b = docker(|_| {});
            let cut = b.offset("repositories") as usize + 512 + 10;
            b.bytes.truncate(cut);
            b
        },
        expect: Code::TruncatedArchive, severity: E, at: At::Member("repositories"),
        also: &[Code::RepositoriesInvalid], ..D
    };
    truncated_inside_header: Case {
        build: || {
            let mut b = docker(|_| {});
            let at = b.offset("repositories");
            b.bytes.truncate(at as usize + 100);
            b.mark("cut", None, Some(at));
            b
        },
        expect: Code::TruncatedArchive, severity: E, at: At::Mark("cut"), ..D
    };
    corrupt_header: Case {
        build: || {
            let mut b = docker(|_| {});
            let at = b.offset("repositories");
            b.bytes[at as usize] ^= 0x20; // 'r' -> 'R' without fixing the checksum
            b.mark("bad", None, Some(at));
            b
        },
        expect: Code::CorruptHeader, severity: E, at: At::Mark("bad"), ..D
    };
    empty_input: Case {
        build: || Built::default(),
        expect: Code::EmptyInput, severity: E, at: At::Nowhere, ..D
    };
    empty_input_compressed: Case {
        build: || Built { bytes: gzip(b""), ..Built::default() },
        expect: Code::EmptyInput, severity: E, at: At::Nowhere, ..D
    };
    not_a_tar: Case {
        build: || {
            let mut b = Built { bytes: b"GIF89a not a tar at all".repeat(100), ..Built::default() };
            b.mark("start", None, Some(0));
            b
        },
        expect: Code::NotATar, severity: E, at: At::Mark("start"), ..D
    };
    not_a_tar_shorter_than_a_block: Case {
        build: || {
            let mut b = docker(|_| {});
            b.bytes.truncate(300);
            b.mark("start", None, Some(0));
            b
        },
        expect: Code::NotATar, severity: E, at: At::Mark("start"), ..D
    };
    double_compression: Case {
        build: || {
            let mut b = docker(|_| {});
            b.bytes = gzip(&gzip(&b.bytes));
            b.mark("start", None, Some(0));
            b
        },
        expect: Code::DoubleCompression, severity: E, at: At::Mark("start"), ..D
    };
    outer_corrupt: Case {
        // A deflate block type 3 does not exist: the stream is corrupt from its first block.
        build: || {
            let mut b = docker(|_| {});
            let mut z = gzip(&b.bytes);
            z[10] = 0xff;
            b.bytes = z;
            b.mark("start", None, Some(0));
            b
        },
        expect: Code::OuterCorrupt, severity: E, at: At::Mark("start"), ..D
    };
    outer_pax_global_header: Case {
        build: || {
            let mut b = docker_members(|_, p| {
                p.insert_before("manifest.json", "pax_global_header", Kind::Raw {
                    typeflag: b'g',
                    data: pax_records(&[("comment", "hello")]),
                    link: String::new(),
                });
            });
            let at = b.offset("pax_global_header");
            b.mark("g", None, Some(at));
            b
        },
        expect: Code::PaxGlobalHeader, severity: W, at: At::Mark("g"), ..D
    };
    outer_pax_size_mismatch: Case {
        // The PAX size (512) swallows the next member's header: Go never sees "hidden".
        build: || docker_members(|_, p| {
            p.insert_before("manifest.json", "PaxHeaders/extra", Kind::Raw {
                typeflag: b'x',
                data: pax_records(&[("size", "512")]),
                link: String::new(),
            });
            p.insert_before("manifest.json", "extra", Kind::File(Vec::new()));
            p.insert_before("manifest.json", "hidden", Kind::File(Vec::new()));
        }),
        expect: Code::PaxSizeMismatch, severity: E, at: At::Member("extra"), ..D
    };
    // ---- R35 (outer), R2, R3, R4 ----------------------------------------------------------
    unknown_member_type: Case {
        build: || docker_members(|_, p| { p.add("weird", Kind::special(b'Z')); }),
        expect: Code::UnknownMemberType, severity: E, at: At::Member("weird"), ..D
    };
    unsafe_path: Case {
        build: || docker_members(|_, p| { p.add("../evil.txt", Kind::File(b"x".to_vec())); }),
        expect: Code::UnsafePath, severity: E, at: At::Member("../evil.txt"), ..D
    };
    absolute_path: Case {
        build: || docker_members(|_, p| { p.rename("manifest.json", "/manifest.json"); }),
        expect: Code::AbsolutePath, severity: W, at: At::Member("/manifest.json"), ..D
    };
    link_escape_symlink: Case {
        build: || docker_members(|_, p| { p.add("escape", Kind::Symlink("../../etc/passwd".into())); }),
        expect: Code::LinkEscape, severity: E, at: At::Member("escape"), ..D
    };
    link_escape_hardlink: Case {
        build: || docker_members(|_, p| { p.add("escape", Kind::Hardlink("../etc/passwd".into())); }),
        expect: Code::LinkEscape, severity: E, at: At::Member("escape"), ..D
    };
    link_escape_dangling_hardlink: Case {
        build: || docker_members(|_, p| { p.add("dangling", Kind::Hardlink("no/such/member".into())); }),
        expect: Code::LinkEscape, severity: E, at: At::Member("dangling"), ..D
    };
    hardlink_to_later_member: Case {
        build: || docker_members(|_, p| {
            p.insert_before("manifest.json", "early-link", Kind::Hardlink("repositories".into()));
        }),
        expect: Code::LinkEscape, severity: E, at: At::Member("early-link"), ..D
    };
    link_escape_through_other_link: Case {
        // d/t -> .. is the root; d/x -> t/.. therefore climbs above it, though it looks tame.
        build: || docker_members(|_, p| {
            p.add("d/t", Kind::Symlink("..".into()));
            p.add("d/x", Kind::Symlink("t/..".into()));
        }),
        expect: Code::LinkEscape, severity: E, at: At::Member("d/x"), ..D
    };
    link_loop: Case {
        build: || docker_members(|_, p| {
            p.add("loop-a", Kind::Symlink("loop-b".into()));
            p.add("loop-b", Kind::Symlink("loop-a".into()));
        }),
        expect: Code::LinkLoop, severity: E, at: At::Member("loop-a"), ..D
    };
    link_loop_in_layer_reference: Case {
        build: || docker_members(|s, p| { p.set_kind(&s.layer_path(1), Kind::Symlink("layer.tar".into())); }),
        expect: Code::LinkLoop, severity: E, at: At::Member("manifest.json"),
        also: &[Code::LegacyDirIncomplete], ..D
    };
    duplicate_member: Case {
        build: || docker_members(|s, p| {
            p.add("repositories", Kind::File(to_json_line(s.repositories.as_ref().unwrap())));
        }),
        expect: Code::DuplicateMember, severity: W, at: At::Member("repositories"), ..D
    };
    duplicate_member_different_content: Case {
        // A second manifest.json that tags the image differently (docker load reads this one,
        // containers/image and go-containerregistry the first): the loaders disagree.
        build: || docker_members(|s, p| {
            let mut m = s.manifest.clone();
            m[0]["RepoTags"] = json!(["busybox:second"]);
            p.add("manifest.json", Kind::File(to_json_line(&m)));
        }),
        expect: Code::DuplicateMember, severity: E, at: At::Member("manifest.json"), ..D
    };
    duplicate_member_long_name: Case {
        // Offsets point at the member's own header, after its GNU long-name record.
        build: || {
            let long = format!("{}.txt", "n".repeat(150));
            let mut b = docker_members(|_, p| {
                p.add(&long, Kind::File(b"extra".to_vec()));
                p.add(&long, Kind::File(b"extra".to_vec()));
            });
            b.mark_member("second", &long);
            b
        },
        expect: Code::DuplicateMember, severity: W, at: At::Mark("second"), ..D
    };
    duplicate_member_offset_in_gzip: Case {
        build: || docker_members(|s, p| {
            p.add("repositories", Kind::File(to_json_line(s.repositories.as_ref().unwrap())));
        }).gzipped(),
        expect: Code::DuplicateMember, severity: W, at: At::Member("repositories"), ..D
    };
    // ---- R5 --------------------------------------------------------------------------------
    layout: Case {
        build: || docker(|_| {}),
        expect: Code::Layout, severity: I, at: At::Nowhere, ..D
    };
    not_an_image: Case {
        build: || Plan::new().file("hello.txt", b"hello").dir("etc/").build(),
        expect: Code::NotAnImage, severity: E, at: At::Nowhere, ..D
    };
    // ---- R6, R7: manifest.json -------------------------------------------------------------
    manifest_null: Case {
        build: || docker(|s| s.manifest = Value::Null),
        expect: Code::ManifestInvalid, severity: E, at: At::Member("manifest.json"), ..D
    };
    manifest_object: Case {
        build: || docker(|s| s.manifest = s.manifest[0].clone()),
        expect: Code::ManifestInvalid, severity: E, at: At::Member("manifest.json"), ..D
    };
    manifest_entry_not_object: Case {
        build: || docker(|s| s.manifest = json!([1])),
        expect: Code::ManifestInvalid, severity: E, at: At::Member("manifest.json"), ..D
    };
    manifest_not_json: Case {
        build: || docker_members(|_, p| { p.set("manifest.json", b"this is not JSON"); }),
        expect: Code::ManifestInvalid, severity: E, at: At::Member("manifest.json"), ..D
    };
    manifest_dangling_symlink: Case {
        build: || docker_members(|_, p| { p.set_kind("manifest.json", Kind::Symlink("nowhere.json".into())); }),
        expect: Code::ManifestInvalid, severity: E, at: At::Member("manifest.json"), ..D
    };
    manifest_empty: Case {
        build: || docker(|s| s.manifest = json!([])),
        expect: Code::ManifestEmpty, severity: W, at: At::Member("manifest.json"), ..D
    };
    manifest_key_case: Case {
        build: || docker(|s| rename_key(&mut s.manifest[0], "Config", "config")),
        expect: Code::ManifestKeyCase, severity: W, at: At::Member("manifest.json"), ..D
    };
    manifest_over_1mib: Case {
        build: || docker_members(|s, p| { p.set("manifest.json", &padded_json(&s.manifest, (1 << 20) + 1)); }),
        expect: Code::ManifestOver1Mib, severity: W, at: At::Member("manifest.json"), ..D
    };
    manifest_over_20mib: Case {
        build: || docker_members(|s, p| { p.set("manifest.json", &padded_json(&s.manifest, (20 << 20) + 1)); }),
        expect: Code::ManifestTooLarge, severity: E, at: At::Member("manifest.json"), ..D
    };
    manifest_over_json_limit: Case {
        build: || docker_members(|s, p| { p.set("manifest.json", &padded_json(&s.manifest, 8192)); }),
        expect: Code::ManifestTooLarge, severity: E, at: At::Member("manifest.json"),
        limits: Some(small_json_limit), ..D
    };
    // ---- R8, R9 ----------------------------------------------------------------------------
    config_missing: Case {
        build: || docker(|s| s.manifest[0]["Config"] = json!("missing.json")),
        expect: Code::ConfigMissing, severity: E, at: At::Member("manifest.json"), ..D
    };
    layer_missing: Case {
        build: || docker(|s| s.manifest[0]["Layers"][1] = json!("missing/layer.tar")),
        expect: Code::LayerMissing, severity: E, at: At::Member("manifest.json"), ..D
    };
    layer_missing_via_dangling_symlink: Case {
        build: || docker_members(|s, p| {
            p.set_kind(&s.layer_path(1), Kind::Symlink("../missing/layer.tar".into()));
        }),
        // The layer directory has no layer.tar file either: the spec rule for it is an error.
        expect: Code::LayerMissing, severity: E, at: At::Member("manifest.json"),
        also: &[Code::LegacyDirIncomplete], ..D
    };
    config_is_directory: Case {
        build: || docker(|s| s.manifest[0]["Config"] = json!(s.layer_dir(0))),
        expect: Code::NotRegularFile, severity: E, at: At::Member("manifest.json"), ..D
    };
    layer_is_device: Case {
        build: || docker_members(|s, p| { p.set_kind(&s.layer_path(1), Kind::special(b'6')); }),
        expect: Code::NotRegularFile, severity: E, at: At::Member("manifest.json"),
        also: &[Code::LegacyDirIncomplete], ..D
    };
    reference_escapes: Case {
        build: || docker(|s| s.manifest[0]["Layers"][0] = json!(format!("../{}", s.layer_path(0)))),
        expect: Code::ReferenceEscapes, severity: E, at: At::Member("manifest.json"),
        also: &[Code::HardlinkTargetMissing], ..D
    };
    reference_escapes_through_link: Case {
        build: || {
            let mut s = DockerSave::sample();
            s.manifest[0]["Layers"][1] = json!("up/layer.tar");
            let mut p = s.plan();
            p.insert_before("manifest.json", "up", Kind::Symlink(format!("../{}", s.layer_ids[1])));
            docker_plan(&s, &p)
        },
        expect: Code::ReferenceEscapes, severity: E, at: At::Member("manifest.json"),
        also: &[Code::LinkEscape], ..D
    };
    // ---- R10, R11, R12 ---------------------------------------------------------------------
    layer_count_mismatch: Case {
        build: || docker_config(|c| {
            c["rootfs"]["diff_ids"].as_array_mut().unwrap().push(json!(fake_digest("extra")));
        }),
        expect: Code::LayerCountMismatch, severity: E, at: At::Member("manifest.json"), ..D
    };
    layer_count_mismatch_oci: Case {
        build: || {
            let mut img = Image::sample();
            img.config["rootfs"]["diff_ids"].as_array_mut().unwrap().push(json!(fake_digest("extra")));
            let s = OciSave::plain(img);
            oci_plan(&s, &s.plan())
        },
        expect: Code::LayerCountMismatch, severity: E, at: At::Mark("manifest"), ..D
    };
    diff_id_mismatch: Case {
        build: || {
            let mut img = Image::sample();
            img.stored[1] = other_layer("not the layer the config names");
            docker_built(&DockerSave::new(img))
        },
        expect: Code::DiffIdMismatch, severity: E, at: At::Mark("layer1"), ..D
    };
    diff_id_mismatch_gzip_oci: Case {
        build: || {
            let mut img = Image::sample().gzip_layers();
            img.stored[1] = gzip(&other_layer("not the layer the config names"));
            let s = OciSave::plain_as_stored(img);
            oci_plan(&s, &s.plan())
        },
        expect: Code::DiffIdMismatch, severity: E, at: At::Mark("layer1"), ..D
    };
    config_name_mismatch: Case {
        build: || docker(|s| {
            s.config_name = format!("{}.json", fake_hex("wrong"));
            s.manifest[0]["Config"] = json!(s.config_name);
        }),
        expect: Code::ConfigNameMismatch, severity: W, at: At::Mark("config"), ..D
    };
    config_name_mismatch_ggcr_style: Case {
        build: || docker(|s| {
            s.config_name = fake_digest("wrong");
            s.manifest[0]["Config"] = json!(s.config_name);
        }),
        expect: Code::ConfigNameMismatch, severity: W, at: At::Mark("config"), ..D
    };
    // ---- R13, R14 --------------------------------------------------------------------------
    invalid_repo_tag: Case {
        build: || docker(|s| s.manifest[0]["RepoTags"] = json!(["Busybox:latest"])),
        expect: Code::InvalidRepoTag, severity: E, at: At::Member("manifest.json"), ..D
    };
    invalid_repo_tag_digest_reference: Case {
        build: || docker(|s| s.manifest[0]["RepoTags"] = json!([format!("busybox@{}", fake_digest("d"))])),
        expect: Code::InvalidRepoTag, severity: E, at: At::Member("manifest.json"), ..D
    };
    invalid_ref_name_annotation: Case {
        build: || oci(|s| {
            s.index["manifests"][0]["annotations"] = json!({"org.opencontainers.image.ref.name": "not a name!"});
        }),
        expect: Code::InvalidRepoTag, severity: W, at: At::Member("index.json"), ..D
    };
    repo_tag_untagged: Case {
        build: || docker(|s| s.manifest[0]["RepoTags"] = json!(["busybox"])),
        expect: Code::RepoTagUntagged, severity: W, at: At::Member("manifest.json"), ..D
    };
    parent_not_in_archive: Case {
        build: || docker(|s| s.manifest[0]["Parent"] = json!(fake_digest("elsewhere"))),
        expect: Code::ParentNotInArchive, severity: I, at: At::Member("manifest.json"), ..D
    };
    parent_is_self: Case {
        build: || docker(|s| s.manifest[0]["Parent"] = json!(sha256_digest(&s.config))),
        expect: Code::ParentNotInArchive, severity: I, at: At::Member("manifest.json"), ..D
    };
    invalid_parent_two_more_entries: Case {
        build: || parent_and_child(|img| {
            let extra = json!({"created": CREATED, "created_by": "/bin/sh -c #(nop)  ENV A=b", "empty_layer": true});
            img.config["history"].as_array_mut().unwrap().insert(2, extra);
        }),
        expect: Code::InvalidParent, severity: E, at: At::Member("manifest.json"), ..D
    };
    invalid_parent_history: Case {
        build: || parent_and_child(|img| img.config["history"][0]["created_by"] = json!("/bin/sh -c something else")),
        expect: Code::InvalidParent, severity: E, at: At::Member("manifest.json"), ..D
    };
    // ---- R15, R16 --------------------------------------------------------------------------
    layer_path_reused: Case {
        build: || {
            let a = DockerSave::sample();
            let mut b_img = Image::new(vec![sample_layer_0(), other_layer("b")]);
            b_img.repo_tags = vec!["busybox:other".into()];
            let b = DockerSave::new(b_img);
            let mut p = a.plan();
            p.insert_before("manifest.json", &b.config_name, Kind::File(b.config.clone()));
            let mut b_entry = b.manifest[0].clone();
            b_entry["Layers"] = a.manifest[0]["Layers"].clone();
            p.set("manifest.json", &to_json_line(&json!([a.manifest[0].clone(), b_entry])));
            docker_plan(&a, &p)
        },
        expect: Code::LayerPathReused, severity: W, at: At::Mark("layer1"),
        also: &[Code::DiffIdMismatch], ..D
    };
    layer_sources_unknown: Case {
        build: || docker(|s| {
            s.manifest[0]["LayerSources"] = json!({ fake_digest("unknown"): descriptor(MEDIA_LAYER_TAR, b"x") });
        }),
        expect: Code::LayerSourcesUnknown, severity: W, at: At::Member("manifest.json"), ..D
    };
    layer_sources_key_not_digest: Case {
        build: || docker(|s| {
            s.manifest[0]["LayerSources"] = json!({ "not-a-digest": descriptor(MEDIA_LAYER_TAR, b"x") });
        }),
        expect: Code::LayerSourcesUnknown, severity: W, at: At::Member("manifest.json"), ..D
    };
    foreign_layer: Case {
        build: || docker(|s| {
            let d0 = s.image.diff_ids()[0].clone();
            let mut desc = descriptor(MEDIA_FOREIGN, &s.image.stored[0]);
            desc["urls"] = json!(["https://example.com/base-layer.tar.gz"]);
            s.manifest[0]["LayerSources"] = json!({ d0: desc });
        }),
        expect: Code::ForeignLayer, severity: I, at: At::Member("manifest.json"), ..D
    };
    // ---- R17–R23: config -------------------------------------------------------------------
    config_not_object: Case {
        build: || docker(|s| s.set_config_bytes(b"[]".to_vec())),
        expect: Code::ConfigInvalid, severity: E, at: At::Mark("config"), ..D
    };
    config_not_json: Case {
        build: || docker(|s| s.set_config_bytes(b"this is not JSON".to_vec())),
        expect: Code::ConfigInvalid, severity: E, at: At::Mark("config"), ..D
    };
    config_is_a_tar: Case {
        build: || docker(|s| s.set_config_bytes(sample_layer_0())),
        expect: Code::ConfigInvalid, severity: E, at: At::Mark("config"), ..D
    };
    config_no_rootfs: Case {
        build: || docker_config(|c| { c.remove("rootfs"); c.remove("history"); }),
        expect: Code::ConfigNoRootfs, severity: E, at: At::Mark("config"), ..D
    };
    config_rootfs_null: Case {
        build: || docker_config(|c| { c["rootfs"] = Value::Null; c.remove("history"); }),
        expect: Code::ConfigNoRootfs, severity: E, at: At::Mark("config"), ..D
    };
    rootfs_type: Case {
        build: || docker_config(|c| c["rootfs"]["type"] = json!("layer")),
        expect: Code::RootfsType, severity: W, at: At::Mark("config"), ..D
    };
    history_too_many_layers: Case {
        build: || docker_config(|c| c["history"][2]["empty_layer"] = json!(false)),
        expect: Code::HistoryTooManyLayers, severity: E, at: At::Mark("config"), ..D
    };
    platform: Case {
        build: || docker(|_| {}),
        expect: Code::Platform, severity: I, at: At::Mark("config"), ..D
    };
    os_missing: Case {
        build: || docker_config(|c| { c.remove("os"); }),
        expect: Code::OsMissing, severity: W, at: At::Mark("config"), ..D
    };
    invalid_created: Case {
        build: || docker_config(|c| c["created"] = json!("2024-01-02 03:04:05")),
        expect: Code::InvalidCreated, severity: W, at: At::Mark("config"), ..D
    };
    invalid_created_in_history: Case {
        build: || docker_config(|c| c["history"][0]["created"] = json!("yesterday")),
        expect: Code::InvalidCreated, severity: W, at: At::Mark("config"), ..D
    };
    invalid_diff_id: Case {
        build: || docker_config(|c| {
            let upper = c["rootfs"]["diff_ids"][0].as_str().unwrap().replace("sha256:", "").to_uppercase();
            c["rootfs"]["diff_ids"][0] = json!(format!("sha256:{upper}"));
        }),
        expect: Code::InvalidDigest, severity: E, at: At::Mark("config"), ..D
    };
    invalid_diff_id_traversal: Case {
        // Never used as a path: docker load refuses it ("invalid diffID").
        build: || docker_config(|c| c["rootfs"]["diff_ids"][0] = json!("sha256:../../x")),
        expect: Code::InvalidDigest, severity: E, at: At::Mark("config"), ..D
    };
    invalid_blob_name: Case {
        build: || oci_members(|_, p| {
            p.insert_before("index.json", "blobs/sha256/NOT-HEX", Kind::File(b"x".to_vec()));
        }),
        expect: Code::InvalidDigest, severity: W, at: At::Member("blobs/sha256/NOT-HEX"), ..D
    };
    invalid_descriptor_digest: Case {
        build: || oci(|s| {
            s.index["manifests"].as_array_mut().unwrap()
                .push(json!({"mediaType": MEDIA_MANIFEST, "digest": "sha256:xyz", "size": 3}));
        }),
        expect: Code::InvalidDigest, severity: E, at: At::Member("index.json"), ..D
    };
    invalid_descriptor_digest_traversal: Case {
        // containers/image CVE-2024-3727: a digest used as a blob path must be checked first.
        build: || oci(|s| { s.index["manifests"][0]["digest"] = json!("sha256:../../../etc/passwd"); }),
        expect: Code::InvalidDigest, severity: E, at: At::Member("index.json"), ..D
    };
    invalid_layer_digest_length: Case {
        build: || oci(|s| {
            s.oci_manifest["layers"][0]["digest"] = json!("sha256:abcd");
            s.sync_index();
        }),
        expect: Code::InvalidDigest, severity: E, at: At::Mark("manifest"),
        also: &[Code::HardlinkTargetMissing], ..D
    };
    invalid_layer_digest_algorithm: Case {
        build: || oci(|s| {
            s.oci_manifest["layers"][0]["digest"] = json!("md5:d41d8cd98f00b204e9800998ecf8427e");
            s.sync_index();
        }),
        expect: Code::InvalidDigest, severity: E, at: At::Mark("manifest"),
        also: &[Code::HardlinkTargetMissing], ..D
    };
    repositories_value_not_an_id: Case {
        build: || legacy(|s| {
            let r = s.repositories.as_mut().unwrap();
            r["busybox"]["latest"] = json!("../../../etc");
        }),
        expect: Code::RepositoriesInvalid, severity: E, at: At::Member("repositories"), ..D
    };
    duplicate_key: Case {
        // `"Config": A, "Config": B`: every loader reads B.
        build: || manifest_text(&[("\"Config\":", "\"Config\":\"missing.json\",\"Config\":")]),
        expect: Code::DuplicateKey, severity: E, at: At::Member("manifest.json"), ..D
    };
    duplicate_key_same_value: Case {
        build: || manifest_text(&[
            ("\"RepoTags\":", "\"RepoTags\":null,\"RepoTags\":"),
            ("[\"busybox:latest\"]", "null"),
        ]),
        expect: Code::DuplicateKey, severity: W, at: At::Member("manifest.json"), ..D
    };
    duplicate_key_case_variant: Case {
        // Go matches `config` to the `Config` field and keeps the last: docker reads the
        // real config, a case-sensitive reader `missing.json`.
        build: || manifest_text(&[("\"Config\":", "\"config\":\"missing.json\",\"Config\":")]),
        expect: Code::DuplicateKey, severity: E, at: At::Member("manifest.json"),
        also: &[Code::ManifestKeyCase], ..D
    };
    duplicate_key_in_config: Case {
        build: || {
            let mut s = DockerSave::sample();
            let txt = String::from_utf8(s.config.clone()).unwrap()
                .replacen("\"os\":", "\"os\":\"plan9\",\"os\":", 1);
            s.set_config_bytes(txt.into_bytes());
            docker_built(&s)
        },
        expect: Code::DuplicateKey, severity: E, at: At::Mark("config"), ..D
    };
    duplicate_key_in_index: Case {
        build: || oci_members(|s, p| {
            let txt = String::from_utf8(to_json(&s.index)).unwrap()
                .replacen("\"schemaVersion\":", "\"SchemaVersion\":1,\"schemaVersion\":", 1);
            p.set("index.json", txt.as_bytes());
        }),
        expect: Code::DuplicateKey, severity: E, at: At::Member("index.json"), ..D
    };
    media_type_ambiguous: Case {
        // umoci CVE-2021-41190: a manifest that is also an index.
        build: || oci(|s| {
            s.oci_manifest["manifests"] = json!([]);
            s.sync_index();
        }),
        expect: Code::MediaTypeAmbiguous, severity: E, at: At::Mark("manifest"), ..D
    };
    media_type_descriptor_disagrees: Case {
        build: || oci(|s| { s.index["manifests"][0]["mediaType"] = json!(MEDIA_INDEX); }),
        expect: Code::MediaTypeAmbiguous, severity: E, at: At::Mark("manifest"), ..D
    };
    media_type_ambiguous_index_json_layers: Case {
        // index.json itself carrying an image manifest's `layers` (umoci CVE-2021-41190).
        build: || oci(|s| { s.index["layers"] = json!([]); }),
        expect: Code::MediaTypeAmbiguous, severity: E, at: At::Member("index.json"), ..D
    };
    media_type_ambiguous_index_json_config: Case {
        build: || oci(|s| { s.index["config"] = s.index["manifests"][0].clone(); }),
        expect: Code::MediaTypeAmbiguous, severity: E, at: At::Member("index.json"), ..D
    };
    media_type_ambiguous_index_json_media_type: Case {
        // The loaders read it as an index all the same (podman 4.3 loads it).
        build: || oci(|s| { s.index["mediaType"] = json!(MEDIA_MANIFEST); }),
        expect: Code::MediaTypeAmbiguous, severity: E, at: At::Member("index.json"), ..D
    };
    media_type_ambiguous_index_json_docker25: Case {
        // Docker 25's layout: `docker load` reads manifest.json and never index.json.
        build: || {
            let mut s = OciSave::docker25(Image::sample());
            s.index["layers"] = json!([]);
            oci_plan(&s, &s.plan())
        },
        expect: Code::MediaTypeAmbiguous, severity: E, at: At::Member("index.json"), ..D
    };
    config_too_large: Case {
        build: || docker(|s| {
            let big = padded_json(&s.image.config, (4 << 20) + 1);
            s.set_config_bytes(big);
        }),
        expect: Code::ConfigTooLarge, severity: E, at: At::Mark("config"), ..D
    };
    metadata_too_large: Case {
        build: || docker(|s| {
            let big = padded_json(&s.image.config, 8192);
            s.set_config_bytes(big);
        }),
        expect: Code::MetadataTooLarge, severity: E, at: At::Mark("config"),
        limits: Some(small_json_limit), ..D
    };
    // ---- R24–R29: layer directories and repositories ---------------------------------------
    version_mismatch: Case {
        build: || docker(|s| s.version = b"2.0".to_vec()),
        expect: Code::VersionMismatch, severity: E, at: At::Mark("version0"), ..D
    };
    version_with_newline: Case {
        build: || docker(|s| s.version = b"1.0\n".to_vec()),
        expect: Code::VersionMismatch, severity: E, at: At::Mark("version0"), ..D
    };
    version_mismatch_legacy: Case {
        build: || legacy(|s| s.version = b"2.0".to_vec()),
        expect: Code::VersionMismatch, severity: E, at: At::Mark("version0"), ..D
    };
    version_missing: Case {
        build: || docker_members(|s, p| { p.remove(&format!("{}/VERSION", s.layer_ids[0])); }),
        expect: Code::VersionMissing, severity: E, at: At::Mark("dir0"), ..D
    };
    version_missing_without_dir_entries: Case {
        build: || {
            let mut s = DockerSave::sample();
            s.dir_entries = false;
            let mut p = s.plan();
            let version = format!("{}/VERSION", s.layer_ids[0]);
            p.remove(&version);
            let mut b = docker_plan(&s, &p);
            b.mark("missing", Some(&version), None);
            b
        },
        expect: Code::VersionMissing, severity: E, at: At::Mark("missing"), ..D
    };
    legacy_json_missing: Case {
        build: || legacy_members(|s, p| { p.remove(&s.path(0, "json")); }),
        expect: Code::LegacyJsonMissing, severity: E, at: At::Mark("dir0"), ..D
    };
    legacy_json_not_object: Case {
        build: || legacy_members(|s, p| { p.set(&s.path(0, "json"), b"[]"); }),
        expect: Code::LegacyJsonInvalid, severity: E, at: At::Mark("json0"), ..D
    };
    legacy_json_not_json: Case {
        build: || legacy_members(|s, p| { p.set(&s.path(0, "json"), b"this is not JSON"); }),
        expect: Code::LegacyJsonInvalid, severity: E, at: At::Mark("json0"), ..D
    };
    legacy_layer_missing: Case {
        build: || legacy_members(|s, p| { p.remove(&s.path(0, "layer.tar")); }),
        expect: Code::LegacyLayerMissing, severity: E, at: At::Mark("dir0"),
        also: &[Code::HardlinkTargetMissing], ..D
    };
    legacy_layer_dangling_symlink: Case {
        build: || legacy_members(|s, p| {
            p.set_kind(&s.path(0, "layer.tar"), Kind::Symlink("../missing/layer.tar".into()));
        }),
        expect: Code::LegacyLayerMissing, severity: E, at: At::Mark("layer0"),
        also: &[Code::HardlinkTargetMissing], ..D
    };
    legacy_id_invalid: Case {
        build: || legacy(|s| s.layer_jsons[0]["id"] = json!("not-hex")),
        expect: Code::LegacyIdInvalid, severity: E, at: At::Mark("json0"), ..D
    };
    legacy_id_absent: Case {
        build: || legacy(|s| { s.layer_jsons[0].as_object_mut().unwrap().remove("id"); }),
        expect: Code::LegacyIdInvalid, severity: E, at: At::Mark("json0"), ..D
    };
    legacy_id_invalid_in_docker_save: Case {
        build: || docker(|s| s.layer_jsons[0]["id"] = json!("NOT-HEX")),
        expect: Code::LegacyIdInvalid, severity: I, at: At::Mark("json0"), ..D
    };
    legacy_id_mismatch: Case {
        build: || legacy(|s| s.layer_jsons[0]["id"] = json!(fake_hex("another id"))),
        expect: Code::LegacyIdMismatch, severity: W, at: At::Mark("json0"), ..D
    };
    legacy_parent_missing: Case {
        build: || legacy(|s| s.layer_jsons[1]["parent"] = json!(fake_hex("gone"))),
        expect: Code::LegacyParentMissing, severity: E, at: At::Mark("json1"),
        also: &[Code::HardlinkTargetMissing], ..D
    };
    legacy_parent_cycle: Case {
        build: || legacy(|s| s.layer_jsons[0]["parent"] = json!(s.layer_ids[1].clone())),
        expect: Code::LegacyParentCycle, severity: E, at: At::Mark("json0"), ..D
    };
    repositories_missing: Case {
        build: || legacy(|s| s.repositories = None),
        expect: Code::RepositoriesMissing, severity: E, at: At::Nowhere, ..D
    };
    repositories_invalid: Case {
        build: || legacy(|s| s.repositories = Some(json!({"busybox": "latest"}))),
        expect: Code::RepositoriesInvalid, severity: E, at: At::Member("repositories"), ..D
    };
    repositories_invalid_name: Case {
        build: || legacy(|s| s.repositories = Some(json!({"Busybox": {"latest": s.layer_ids[1].clone()}}))),
        expect: Code::RepositoriesInvalid, severity: E, at: At::Member("repositories"), ..D
    };
    repositories_invalid_in_docker_save: Case {
        build: || docker(|s| s.repositories = Some(json!({"busybox": "latest"}))),
        expect: Code::RepositoriesInvalid, severity: W, at: At::Member("repositories"), ..D
    };
    repositories_unknown_target: Case {
        build: || docker(|s| s.repositories = Some(json!({"busybox": {"latest": fake_hex("nothing")}}))),
        expect: Code::RepositoriesUnknownTarget, severity: W, at: At::Member("repositories"), ..D
    };
    repositories_unknown_target_legacy: Case {
        build: || legacy(|s| s.repositories = Some(json!({"busybox": {"latest": fake_hex("nothing")}}))),
        expect: Code::RepositoriesUnknownTarget, severity: E, at: At::Member("repositories"), ..D
    };
    legacy_dir_incomplete: Case {
        build: || docker_members(|s, p| { p.remove(&format!("{}/json", s.layer_ids[0])); }),
        expect: Code::LegacyDirIncomplete, severity: E, at: At::Mark("dir0"), ..D
    };
    legacy_parent_chain: Case {
        build: || docker(|s| s.layer_jsons[1]["parent"] = json!(fake_hex("not the layer below"))),
        expect: Code::LegacyParentChain, severity: I, at: At::Mark("json1"), ..D
    };
    // ---- R30–R34: OCI layout ---------------------------------------------------------------
    oci_layout_no_version: Case {
        build: || oci(|s| s.oci_layout = b"{}".to_vec()),
        expect: Code::OciLayoutInvalid, severity: E, at: At::Member("oci-layout"), ..D
    };
    oci_layout_not_json: Case {
        build: || oci(|s| s.oci_layout = b"not JSON".to_vec()),
        expect: Code::OciLayoutInvalid, severity: E, at: At::Member("oci-layout"), ..D
    };
    oci_index_without_layout: Case {
        build: || oci_members(|_, p| { p.remove("oci-layout"); }),
        expect: Code::OciLayoutInvalid, severity: E, at: At::Member("index.json"), ..D
    };
    oci_layout_version: Case {
        build: || oci(|s| s.oci_layout = br#"{"imageLayoutVersion":"2.0.0"}"#.to_vec()),
        expect: Code::OciLayoutVersion, severity: E, at: At::Member("oci-layout"), ..D
    };
    oci_index_missing: Case {
        build: || oci_members(|_, p| { p.remove("index.json"); }),
        expect: Code::OciIndexMissing, severity: E, at: At::Nowhere, ..D
    };
    oci_index_not_object: Case {
        build: || oci(|s| s.index = json!([])),
        expect: Code::OciIndexInvalid, severity: E, at: At::Member("index.json"), ..D
    };
    oci_index_is_a_manifest: Case {
        build: || oci(|s| s.index = s.oci_manifest.clone()),
        expect: Code::OciIndexInvalid, severity: E, at: At::Member("index.json"), ..D
    };
    oci_manifest_blob_invalid: Case {
        build: || {
            let bad = b"[1, 2, 3]".to_vec();
            let mut s = OciSave::plain(Image::sample());
            s.index["manifests"] = json!([descriptor(MEDIA_MANIFEST, &bad)]);
            s.extra_blobs.push(bad.clone());
            let mut b = oci_plan(&s, &s.plan());
            b.mark_member("bad", &blob_path(&sha256_digest(&bad)));
            b
        },
        expect: Code::OciIndexInvalid, severity: E, at: At::Mark("bad"), ..D
    };
    blob_digest_mismatch: Case {
        build: || oci_members(|_, p| {
            p.insert_before("index.json", HELLO_BLOB, Kind::File(b"not hello".to_vec()));
        }),
        expect: Code::BlobDigestMismatch, severity: E, at: At::Member(HELLO_BLOB), ..D
    };
    blob_size_mismatch: Case {
        build: || oci(|s| {
            let n = s.oci_manifest["config"]["size"].as_u64().unwrap();
            s.oci_manifest["config"]["size"] = json!(n + 1);
            s.sync_index();
        }),
        expect: Code::BlobSizeMismatch, severity: E, at: At::Mark("config"), ..D
    };
    blob_missing_manifest: Case {
        build: || oci(|s| {
            s.index["manifests"].as_array_mut().unwrap()
                .push(json!({"mediaType": MEDIA_MANIFEST, "digest": fake_digest("absent"), "size": 123}));
        }),
        expect: Code::BlobMissing, severity: W, at: At::Member("index.json"), ..D
    };
    blob_missing_layer: Case {
        build: || oci_members(|s, p| { p.remove(&s.layer_path(1)); }),
        expect: Code::BlobMissing, severity: W, at: At::Mark("manifest"), ..D
    };
    index_manifest_missing: Case {
        // Docker 25.0.0–25.0.2 left untagged images out of index.json.
        build: || {
            let mut img = Image::sample();
            img.repo_tags.clear();
            let mut s = OciSave::docker25(img);
            s.index["manifests"] = json!([]);
            oci_plan(&s, &s.plan())
        },
        expect: Code::IndexManifestMismatch, severity: W, at: At::Member("manifest.json"), ..D
    };
    index_manifest_layer_order: Case {
        // Docker 25.0.0 wrote the OCI manifest's layers in random order.
        build: || docker25(|s| {
            s.oci_manifest["layers"].as_array_mut().unwrap().reverse();
            s.sync_index();
        }),
        expect: Code::IndexManifestMismatch, severity: W, at: At::Member("manifest.json"),
        also: &[Code::DiffIdMismatch], ..D
    };
    // ---- R35–R40: layer tars ---------------------------------------------------------------
    layer_not_tar: Case {
        build: || top_layer_bytes(b"this is not a tar archive".to_vec()),
        expect: Code::LayerNotTar, severity: E, at: At::Mark("layer"), ..D
    };
    layer_not_tar_gzip: Case {
        build: || top_layer_stored(b"this is not a tar archive".to_vec(), gzip(b"this is not a tar archive")),
        expect: Code::LayerNotTar, severity: E, at: At::Mark("layer"), ..D
    };
    layer_corrupt: Case {
        build: || {
            let mut inner = Plan::new().file("opt/a", b"a").file("opt/b", b"b").build();
            let at = inner.offset("opt/b") as usize;
            inner.bytes[at] ^= 0x20; // 'o' -> 'O' without fixing the checksum
            top_layer_bytes(inner.bytes)
        },
        expect: Code::LayerCorrupt, severity: E, at: At::Mark("layer"), ..D
    };
    layer_decompress_error: Case {
        build: || {
            let mut bytes = vec![0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0xff];
            bytes.extend_from_slice(&[0xff; 64]);
            top_layer_bytes(bytes)
        },
        expect: Code::LayerDecompressError, severity: E, at: At::Mark("layer"), ..D
    };
    limit_exceeded_zstd_bomb: Case {
        // 32 MiB of zeros in a layer that zstd stores in a few hundred bytes: past the default
        // decompression ratio (10 000) once 16 MiB have come out.
        build: || {
            let bomb = Plan::new().file("zeros", &vec![0u8; 32 << 20]).build().bytes;
            top_layer_bytes(zstd(&bomb))
        },
        expect: Code::LimitExceeded, severity: E, at: At::Mark("layer"), ..D
    };
    limit_exceeded_decompressed_bytes: Case {
        build: || {
            let big = Plan::new().file("opt/data", &[7u8; 200_000]).build().bytes;
            top_layer_bytes(gzip(&big))
        },
        expect: Code::LimitExceeded, severity: E, at: At::Mark("layer"),
        limits: Some(small_decompression_limit), ..D
    };
    layer_gzip_truncated: Case {
        build: || {
            let big = Plan::new().file("opt/data", &[7u8; 4000]).build().bytes;
            let mut z = gzip(&big);
            z.truncate(z.len() / 2);
            top_layer_bytes(z)
        },
        expect: Code::LayerDecompressError, severity: E, at: At::Mark("layer"), ..D
    };
    layer_unknown_type: Case {
        build: || top_layer(Plan::new().dir("opt/").raw("opt/weird", b'Z', b"", ""), Some("opt/weird")),
        expect: Code::LayerUnknownType, severity: E, at: At::Mark("layer"), ..D
    };
    layer_contiguous_file: Case {
        build: || top_layer(Plan::new().raw("opt/contiguous", b'7', b"data", ""), Some("opt/contiguous")),
        expect: Code::LayerUnknownType, severity: E, at: At::Mark("layer"), ..D
    };
    layer_unsafe_path: Case {
        build: || top_layer(Plan::new().file("opt/a", b"a").file("../escape", b"x"), Some("../escape")),
        expect: Code::LayerUnsafePath, severity: E, at: At::Mark("layer"), ..D
    };
    layer_hardlink_escape: Case {
        build: || top_layer(Plan::new().file("opt/a", b"a").hardlink("opt/b", "../../opt/a"), Some("opt/b")),
        expect: Code::LayerUnsafePath, severity: E, at: At::Mark("layer"), ..D
    };
    whiteout_invalid_name: Case {
        build: || top_layer(Plan::new().file("etc/.wh.", b""), Some("etc/.wh.")),
        expect: Code::WhiteoutInvalidName, severity: W, at: At::Mark("layer"), ..D
    };
    whiteout_invalid_dotdot: Case {
        build: || top_layer(Plan::new().file(".wh..", b""), Some(".wh..")),
        expect: Code::WhiteoutInvalidName, severity: W, at: At::Mark("layer"), ..D
    };
    whiteout_same_layer: Case {
        build: || top_layer(Plan::new().file("opt/x", b"x").file("opt/.wh.x", b""), Some("opt/.wh.x")),
        expect: Code::WhiteoutSameLayer, severity: W, at: At::Mark("layer"), ..D
    };
    layer_duplicate_entry: Case {
        build: || top_layer(Plan::new().file("opt/x", b"1").file("opt/x", b"2"), Some("opt/x")),
        expect: Code::LayerDuplicateEntry, severity: W, at: At::Mark("layer"), ..D
    };
    layer_duplicate_entry_long_name: Case {
        build: || {
            let long = format!("opt/{}/x", "d".repeat(120));
            top_layer(Plan::new().file(&long, b"1").file(&long, b"2"), Some(&long))
        },
        expect: Code::LayerDuplicateEntry, severity: W, at: At::Mark("layer"), ..D
    };
    whiteout_not_empty: Case {
        build: || top_layer(Plan::new().file("etc/.wh.gone", b"not empty"), Some("etc/.wh.gone")),
        expect: Code::WhiteoutNotEmptyFile, severity: W, at: At::Mark("layer"), ..D
    };
    opaque_marker_is_directory: Case {
        build: || top_layer(Plan::new().dir("etc/.wh..wh..opq/"), Some("etc/.wh..wh..opq/")),
        expect: Code::WhiteoutNotEmptyFile, severity: W, at: At::Mark("layer"), ..D
    };
    aufs_hardlink_missing: Case {
        build: || top_layer(Plan::new().hardlink("opt/x", ".wh..wh.plnk/1234.5678"), Some("opt/x")),
        expect: Code::AufsHardlinkMissing, severity: E, at: At::Mark("layer"), ..D
    };
    layer_truncated: Case {
        build: || {
            let inner = Plan::new().file("opt/a", b"a").file("opt/data", &[7u8; 4000]).build();
            let cut = inner.offset("opt/data") as usize + 512 + 1000;
            top_layer_bytes(inner.bytes[..cut].to_vec())
        },
        expect: Code::LayerTruncated, severity: E, at: At::Mark("layer"), ..D
    };
    layer_truncated_inside_a_header: Case {
        build: || {
            let inner = Plan::new().file("opt/a", b"a").file("opt/b", b"b").build();
            let cut = inner.offset("opt/b") as usize + 100;
            top_layer_bytes(inner.bytes[..cut].to_vec())
        },
        expect: Code::LayerTruncated, severity: E, at: At::Mark("layer"), ..D
    };
    layer_truncated_in_gzip: Case {
        // The gzip stream is whole; the tar inside it is cut.
        build: || {
            let inner = Plan::new().file("opt/data", &[7u8; 4000]).build();
            let cut = inner.bytes[..512 + 1000].to_vec();
            top_layer_stored(cut.clone(), gzip(&cut))
        },
        expect: Code::LayerTruncated, severity: E, at: At::Mark("layer"), ..D
    };
    layer_no_end_of_archive: Case {
        build: || {
            let inner = Plan::new().file("opt/a", b"a").file("opt/b", b"b").build();
            let end = inner.end() as usize;
            top_layer_bytes(inner.bytes[..end].to_vec())
        },
        expect: Code::LayerNoEndOfArchive, severity: W, at: At::Mark("layer"), ..D
    };
    layer_trailing_data: Case {
        build: || {
            let mut bytes = Plan::new().file("opt/a", b"a").build().bytes;
            bytes.extend_from_slice(b"trailing garbage");
            top_layer_bytes(bytes)
        },
        expect: Code::LayerTrailingData, severity: W, at: At::Mark("layer"), ..D
    };
    layer_trailing_second_archive: Case {
        build: || {
            let mut bytes = Plan::new().file("opt/a", b"a").build().bytes;
            bytes.extend(Plan::new().file("opt/hidden", b"no reader shows this").build().bytes);
            top_layer_bytes(bytes)
        },
        expect: Code::LayerTrailingData, severity: E, at: At::Mark("layer"), ..D
    };
    pax_size_mismatch: Case {
        // The PAX size (512) swallows the next header: Go reads opt/a with 512 bytes of data
        // and never sees opt/hidden; a reader trusting the header sees three files.
        build: || top_layer(
            Plan::new()
                .raw("PaxHeaders/opt/a", b'x', &pax_records(&[("size", "512")]), "")
                .file("opt/a", b"")
                .file("opt/hidden", b"")
                .file("opt/c", b"c"),
            Some("opt/a"),
        ),
        expect: Code::PaxSizeMismatch, severity: E, at: At::Mark("layer"), ..D
    };
    pax_desync_orphaned_header: Case {
        // Two PAX headers in a row: Go keeps the second, other readers may apply the first.
        build: || top_layer(
            Plan::new()
                .file("opt/a", b"a")
                .raw("PaxHeaders/1", b'x', &pax_records(&[("path", "opt/first")]), "")
                .raw("PaxHeaders/2", b'x', &pax_records(&[("mtime", "1")]), "")
                .file("opt/b", b"b"),
            Some("opt/b"),
        ),
        expect: Code::PaxDesync, severity: E, at: At::Mark("layer"), ..D
    };
    pax_desync_gnu_and_pax_name: Case {
        // A GNU long name and a PAX path for one entry: Go uses the GNU name.
        build: || {
            let long = format!("opt/{}", "g".repeat(120));
            let inner = Plan::new()
                .raw("PaxHeaders/x", b'x', &pax_records(&[("path", "opt/pax-name")]), "")
                .file(&long, b"x")
                .build();
            let mut b = top_layer_bytes(inner.bytes.clone());
            b.entry = Some((long.clone(), inner.offset(&long)));
            b
        },
        expect: Code::PaxDesync, severity: E, at: At::Mark("layer"), ..D
    };
    pax_global_header: Case {
        build: || top_layer(
            Plan::new()
                .raw("pax_global_header", b'g', &pax_records(&[("uid", "1000")]), "")
                .file("opt/a", b"a"),
            Some("pax_global_header"),
        ),
        expect: Code::PaxGlobalHeader, severity: W, at: At::Mark("layer"), ..D
    };
    header_only_size: Case {
        // A directory whose size field covers a smuggled header: Go reads no data for a
        // directory and so sees opt/smuggled; readers trusting the size skip it.
        build: || top_layer(
            Plan::new()
                .raw("opt/", b'5', &header_block("opt/smuggled", b'0', 0), "")
                .file("opt/a", b"a"),
            Some("opt/"),
        ),
        expect: Code::HeaderOnlySize, severity: E, at: At::Mark("layer"), ..D
    };
    value_out_of_range: Case {
        // mtime -1 in base-256.
        build: || {
            let mut inner = Plan::new().file("opt/a", b"a").file("opt/b", b"b").build();
            let at = inner.offset("opt/b");
            patch_header(&mut inner.bytes, at, 136, &[0xff; 12]);
            let mut b = top_layer_bytes(inner.bytes.clone());
            b.entry = Some(("opt/b".into(), at));
            b
        },
        expect: Code::ValueOutOfRange, severity: W, at: At::Mark("layer"), ..D
    };
    sparse_mismatch: Case {
        // A PAX 0.1 sparse file whose map holds 4 bytes while 8 are stored.
        build: || {
            let inner = Plan::new()
                .raw("PaxHeaders/sparse", b'x', &pax_records(&[
                    ("GNU.sparse.size", "10"),
                    ("GNU.sparse.numblocks", "1"),
                    ("GNU.sparse.map", "0,4"),
                    ("GNU.sparse.name", "opt/sparse"),
                ]), "")
                .file("opt/GNUSparseFile.0/sparse", b"abcdefgh")
                .build();
            let mut b = top_layer_bytes(inner.bytes.clone());
            b.entry = Some(("opt/sparse".into(), inner.offset("opt/GNUSparseFile.0/sparse")));
            b
        },
        expect: Code::SparseMismatch, severity: E, at: At::Mark("layer"), ..D
    };
    hardlink_target_missing: Case {
        build: || top_layer(Plan::new().file("opt/a", b"a").hardlink("opt/b", "opt/nowhere"), Some("opt/b")),
        expect: Code::HardlinkTargetMissing, severity: W, at: At::Mark("layer"), ..D
    };
    layer_link_escape_relative: Case {
        build: || top_layer(Plan::new().symlink("x", "../../../..").file("x/y", b"y"), Some("x/y")),
        expect: Code::LayerLinkEscape, severity: E, at: At::Mark("layer"),
        also: &[Code::LayerSymlinkAboveRoot], ..D
    };
    layer_symlink_above_root: Case {
        // Nothing goes through it: the link itself climbs above the root (the loaders load it:
        // tests/all/loaders_links.rs).
        build: || top_layer(Plan::new().dir("a/").symlink("a/b", "../../../etc"), Some("a/b")),
        expect: Code::LayerSymlinkAboveRoot, severity: W, at: At::Mark("layer"), ..D
    };
    whiteout_through_symlink: Case {
        build: || {
            // The symlink below, the whiteout through it above (whiteouts apply to lower
            // layers).
            let lower = Plan::new().file("real/victim", b"v").symlink("lnk", "real").build().bytes;
            let upper = Plan::new().file("lnk/.wh.victim", b"").build();
            let s = DockerSave::new(Image::new(vec![lower, upper.bytes.clone()]));
            let mut b = docker_built(&s);
            b.mark_member("layer", &s.layer_path(1));
            b.entry = Some(("lnk/.wh.victim".into(), upper.offset("lnk/.wh.victim")));
            b
        },
        expect: Code::WhiteoutThroughSymlink, severity: W, at: At::Mark("layer"), ..D
    };
}

// ---------------------------------------------------------------------------------------------
// Coverage
// ---------------------------------------------------------------------------------------------

#[test]
fn every_code_has_a_case() {
    let cases = all_cases();
    let mut names = BTreeSet::new();
    for c in &cases {
        assert!(names.insert(c.name), "duplicate case name {}", c.name);
    }
    let covered: BTreeSet<Code> = cases
        .iter()
        .filter(|c| c.ignored.is_none())
        .map(|c| c.expect)
        .collect();
    // Judged by `validate` (recorded entries, `layer::check_links`) and covered, with their
    // places, by the hostile table of tests/all/unpack.rs. Not in this table, whose cases
    // the loader comparison also loads and checks against `Reader::open`'s verdicts too: the
    // real loaders refuse these archives (docker 20.10 and podman 4.3 "too many levels of
    // symbolic links", "unlinkat .//: device or resource busy"; containerd 1.6 "too many
    // links"), which only `validate`'s verdicts predict (they apply the recorded entries);
    // they are compared in tests/all/loaders_links.rs.
    let elsewhere = [Code::LayerLinkLoop, Code::LayerRootNotDirectory];
    let missing: Vec<Code> = Code::ALL
        .iter()
        .copied()
        .filter(|c| !covered.contains(c) && !elsewhere.contains(c))
        .collect();
    assert!(
        missing.is_empty(),
        "codes no (non-ignored) case produces: {missing:?}"
    );
    let known: BTreeSet<Code> = Code::ALL.iter().copied().collect();
    for c in &cases {
        assert!(
            known.contains(&c.expect),
            "{}: {} not in Code::ALL",
            c.name,
            c.expect
        );
        for a in c.also {
            assert!(known.contains(a), "{}: {a} not in Code::ALL", c.name);
        }
    }
}

#[test]
fn hello_blob_is_named_by_its_digest() {
    assert_eq!(HELLO_BLOB, blob_path(&sha256_digest(b"hello")));
}

#[test]
fn codes_name_their_rules() {
    for &code in Code::ALL {
        assert_eq!(Code::from_str_opt(code.as_str()), Some(code));
        if let Some(r) = code.rule() {
            assert!((1..=40).contains(&r), "{code}: rule R{r}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Valid baselines: no warning, no error
// ---------------------------------------------------------------------------------------------

fn assert_clean(what: &str, built: &Built, layout: Layout, images: usize) -> Report {
    // Strict first (a warning would be an error there), then the default policy.
    for strict in [true, false] {
        let report = Reader::new()
            .strict(strict)
            .read(&built.bytes[..])
            .unwrap_or_else(|e| panic!("{what}: read failed: {e}"));
        let bad: Vec<Finding> = report.findings_at_least(W).cloned().collect();
        assert!(
            bad.is_empty(),
            "{what} (strict {strict}): expected no warnings or errors, got:\n{}",
            dump(&bad)
        );
        // Only the informational facts every valid archive gets.
        let odd: Vec<Finding> = report
            .findings
            .iter()
            .filter(|f| !matches!(f.code, Code::Layout | Code::Platform))
            .cloned()
            .collect();
        assert!(
            odd.is_empty(),
            "{what}: unexpected info findings:\n{}",
            dump(&odd)
        );
        assert!(report.is_valid(), "{what}: not valid");
        assert_eq!(report.archive.layout, layout, "{what}: layout");
        assert_eq!(report.archive.images.len(), images, "{what}: image count");
        assert!(
            report.findings.iter().any(|f| f.code == Code::Layout),
            "{what}: no layout finding"
        );
        if !strict {
            return report;
        }
    }
    unreachable!()
}

#[test]
fn valid_docker_save() {
    let s = DockerSave::sample();
    let report = assert_clean("docker save 1.10–24", &s.build(), Layout::DockerArchive, 1);
    let image = &report.archive.images[0];
    assert_eq!(image.repo_tags, [REPO_TAG]);
    assert_eq!(image.layers.len(), 2);
    assert_eq!(
        image.id.as_ref().map(ToString::to_string),
        Some(sha256_digest(&s.config))
    );
}

#[test]
fn valid_docker25() {
    let s = OciSave::docker25(Image::sample());
    let report = assert_clean("docker save 25+", &s.build(), Layout::DockerOci, 1);
    assert_eq!(report.archive.images[0].layers.len(), 2);
    assert_eq!(
        report.archive.images[0]
            .manifest_digest
            .as_ref()
            .map(ToString::to_string),
        Some(s.manifest_digest())
    );
}

#[test]
fn valid_plain_oci() {
    let s = OciSave::plain(Image::sample());
    let report = assert_clean("plain OCI layout", &s.build(), Layout::Oci, 1);
    assert_eq!(report.archive.images[0].layers.len(), 2);
}

#[test]
fn valid_legacy() {
    let s = LegacySave::sample();
    // Each layer directory is an image, as Docker's legacy loader stores it: the named top
    // first, then its parent.
    let report = assert_clean("pre-1.10 legacy", &s.build(), Layout::Legacy, 2);
    let [top, parent] = &report.archive.images[..] else {
        unreachable!()
    };
    assert_eq!(top.layers.len(), 2);
    assert_eq!(top.repo_tags, [REPO_TAG]);
    assert_eq!(parent.layers.len(), 1);
    assert!(parent.repo_tags.is_empty());
    assert_eq!(top.parent, parent.id.as_ref().map(ToString::to_string));
}

#[test]
fn valid_variants() {
    // Docker writes a repeated DiffID as a relative symlink to the first copy.
    let img = Image::new(vec![sample_layer_0(), sample_layer_1(), sample_layer_0()]);
    let s = DockerSave::new(img);
    let mut p = s.plan();
    p.set_kind(
        &s.layer_path(2),
        Kind::Symlink(format!("../{}", s.layer_path(0))),
    );
    assert_clean(
        "symlinked duplicate layer",
        &p.build(),
        Layout::DockerArchive,
        1,
    );

    // Compressed layer.tar files load (DiffIDs are over the decompressed bytes).
    let s = DockerSave::new(Image::sample().gzip_layers());
    assert_clean("gzip layer.tar", &s.build(), Layout::DockerArchive, 1);

    // No directory entries (containers/image does not write them).
    let mut s = DockerSave::sample();
    s.dir_entries = false;
    assert_clean("no directory entries", &s.build(), Layout::DockerArchive, 1);
    let mut s = OciSave::plain(Image::sample());
    s.dir_entries = false;
    assert_clean("OCI without directory entries", &s.build(), Layout::Oci, 1);
    let mut s = LegacySave::sample();
    s.dir_entries = false;
    assert_clean(
        "legacy without directory entries",
        &s.build(),
        Layout::Legacy,
        2,
    );

    // A valid Parent link between two images of one archive.
    assert_clean(
        "parent and child",
        &parent_and_child(|_| {}),
        Layout::DockerArchive,
        2,
    );

    // Untagged Docker 25 save: RepoTags null, no repositories, unnamed index descriptor.
    let mut img = Image::sample();
    img.repo_tags.clear();
    let s = OciSave::docker25(img);
    assert_clean("untagged docker 25", &s.build(), Layout::DockerOci, 1);

    // Legal layer content: aufs hard link pseudo-links, opaque directory, long names,
    // a hard link to a file of the layer below, ./-prefixed names.
    let long = format!("opt/{}/file", "d".repeat(120));
    let layer = Plan::new()
        .file(".wh..wh.plnk/1234.5678", b"shared")
        .hardlink("opt/linked", ".wh..wh.plnk/1234.5678")
        .file("etc/.wh..wh..opq", b"")
        .file("etc/new", b"new")
        .file(&long, b"long")
        .symlink("opt/long-link", &format!("/{long}"))
        .hardlink("opt/hello", "etc/hello")
        .file("./opt/dot", b"dot")
        .raw("opt/old-style", 0, b"typeflag NUL is a regular file", "")
        .build();
    let mut img = Image::sample();
    img.set_layer(1, layer.bytes);
    assert_clean(
        "aufs, opaque, long names",
        &DockerSave::new(img).build(),
        Layout::DockerArchive,
        1,
    );

    // A GNU long member name and a V7 typeflag-NUL file in the outer archive.
    let s = DockerSave::sample();
    let mut p = s.plan();
    let long = format!("{}.txt", "n".repeat(150));
    p.add(&long, Kind::File(b"extra".to_vec()));
    p.add(
        "old-style",
        Kind::Raw {
            typeflag: 0,
            data: b"typeflag NUL".to_vec(),
            link: String::new(),
        },
    );
    assert_clean(
        "long and NUL-typeflag outer members",
        &p.build(),
        Layout::DockerArchive,
        1,
    );
}

// ---------------------------------------------------------------------------------------------
// --strict
// ---------------------------------------------------------------------------------------------

#[test]
fn strict_turns_warnings_into_errors() {
    // A config whose name is not its digest: a warning (docker load does not check it).
    let mut s = DockerSave::sample();
    s.config_name = format!("{}.json", fake_hex("wrong"));
    s.manifest[0]["Config"] = json!(s.config_name);
    let built = s.build();

    let lenient = Reader::new().read(&built.bytes[..]).expect("read");
    assert!(lenient.is_valid(), "warnings alone keep an archive valid");
    let v: Vec<&Finding> = lenient
        .findings
        .iter()
        .filter(|f| f.code == Code::ConfigNameMismatch)
        .collect();
    assert_eq!(v.len(), 1, "{}", dump(&lenient.findings));
    assert!(v.iter().all(|f| f.severity == W));
    assert!(lenient.findings.iter().all(|f| f.severity != E));

    let strict = Reader::new()
        .strict(true)
        .read(&built.bytes[..])
        .expect("read");
    assert!(!strict.is_valid(), "strict: warnings are errors");
    assert!(strict
        .findings
        .iter()
        .filter(|f| f.code == Code::ConfigNameMismatch)
        .all(|f| f.severity == E));
    // Info findings stay info; nothing else changes.
    let info = |r: &Report| -> Vec<(Code, Option<String>, Option<u64>)> {
        r.findings
            .iter()
            .filter(|f| f.severity == I)
            .map(|f| (f.code, f.path.clone(), f.offset))
            .collect()
    };
    assert_eq!(info(&lenient), info(&strict));
    assert_eq!(lenient.findings.len(), strict.findings.len());

    // A clean archive is valid under strict too.
    let clean = Reader::new()
        .strict(true)
        .read(&DockerSave::sample().build().bytes[..])
        .expect("read");
    assert!(clean.is_valid());
}
