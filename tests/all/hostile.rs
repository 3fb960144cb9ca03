//! Hostile inputs: each must give a clear finding with the stated code, never a panic or a
//! hang, and the same result whether the input arrives at once, a few bytes at a time, or
//! from a file. Damaged bytes are findings of a report; only a failing reader is an error.

use std::io::{self, Read};

use crate::support::*;
use imgtar::{Code, Limits, Reader, Report, Severity};

/// Returns at most `n` bytes per read.
struct Chunks<'a>(&'a [u8], usize);

impl Read for Chunks<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.1.min(buf.len()).min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

/// Reads `bytes` whole, in 3-byte chunks and from a file; all three must agree.
fn read_all_ways(bytes: &[u8], limits: Limits) -> imgtar::Result<Report> {
    let reader = Reader::new().limits(limits);
    let whole = reader.read(bytes);
    let chunked = reader.read(Chunks(bytes, 3));
    let dir = std::env::temp_dir().join(format!("imgtar-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{:?}.tar", std::thread::current().id()));
    std::fs::write(&path, bytes).unwrap();
    let from_file = reader.open(&path);
    std::fs::remove_file(&path).unwrap();
    match (&whole, &chunked, &from_file) {
        (Ok(a), Ok(b), Ok(c)) => {
            assert_eq!(a.findings, b.findings, "chunked read differs");
            assert_eq!(a.findings, c.findings, "file read differs");
        }
        (Err(a), Err(b), Err(c)) => {
            assert_eq!(a.to_string(), b.to_string());
            assert_eq!(a.to_string(), c.to_string());
        }
        _ => panic!("outcomes differ: {whole:?} / {chunked:?} / {from_file:?}"),
    }
    whole
}

fn findings(bytes: &[u8]) -> Report {
    read_all_ways(bytes, Limits::default()).expect("readable")
}

fn has(r: &Report, code: Code, severity: Severity) -> bool {
    r.findings
        .iter()
        .any(|f| f.code == code && f.severity == severity)
}

fn assert_has(r: &Report, code: Code, severity: Severity) {
    assert!(
        has(r, code, severity),
        "expected {code} ({severity}), got {:#?}",
        r.findings
    );
}

/// A PAX extended header whose `path` record overrides the next member's name.
fn pax_path(plan: Plan, path: &str, real_name: &str, data: &[u8]) -> Plan {
    let rec = format!("path={path}\n");
    let mut len = rec.len() + 3;
    if format!("{len} {rec}").len() != len {
        len += 1;
    }
    let record = format!("{len} {rec}");
    plan.raw("PaxHeaders/x", b'x', record.as_bytes(), "")
        .file(real_name, data)
}

/// The sample Docker archive plus extra members appended before manifest.json.
fn sample_with(extra: impl FnOnce(Plan) -> Plan) -> Vec<u8> {
    let s = DockerSave::sample();
    let mut p = s.plan();
    let manifest = p.remove("manifest.json");
    let mut p = extra(p);
    p.add("manifest.json", manifest.kind);
    p.build().bytes
}

fn sample_with_top_layer(layer: Vec<u8>) -> Vec<u8> {
    let mut img = Image::sample();
    img.set_layer(1, layer);
    DockerSave::new(img).build().bytes
}

#[test]
fn pax_path_climbing_out_of_the_archive() {
    let bytes = sample_with(|p| pax_path(p, "../../etc/cron.d/evil", "harmless", b"x"));
    let r = findings(&bytes);
    let f = r
        .findings
        .iter()
        .find(|f| f.code == Code::UnsafePath)
        .expect("unsafe-path");
    assert_eq!(f.path.as_deref(), Some("etc/cron.d/evil"));
    assert_eq!(f.severity, Severity::Error);
}

#[test]
fn gnu_long_name_climbing_out_of_the_archive() {
    let long = format!(
        "{}/../../../../../../../../../../../../../../root/.ssh/x",
        "a".repeat(40)
    );
    let bytes = sample_with(|p| p.file(&long, b"key"));
    assert_has(&findings(&bytes), Code::UnsafePath, Severity::Error);
}

#[test]
fn absolute_names_are_reported_and_cleaned() {
    let bytes = sample_with(|p| p.file("/etc/passwd", b"root"));
    let r = findings(&bytes);
    assert_has(&r, Code::AbsolutePath, Severity::Warning);
    assert!(r.archive.member(&"etc/passwd".into()).is_some());
}

#[test]
fn pax_path_climbing_out_of_a_layer() {
    let layer = pax_path(
        Plan::new().dir("etc/"),
        "../../../etc/shadow",
        "etc/harmless",
        b"x",
    )
    .build()
    .bytes;
    let r = findings(&sample_with_top_layer(layer));
    let f = r
        .findings
        .iter()
        .find(|f| f.code == Code::LayerUnsafePath)
        .expect("layer-unsafe-path");
    assert_eq!(f.entry.as_deref(), Some("../../../etc/shadow"));
}

#[test]
fn hardlink_out_of_a_layer() {
    let layer = Plan::new()
        .hardlink("etc/x", "../../../../etc/shadow")
        .build()
        .bytes;
    assert_has(
        &findings(&sample_with_top_layer(layer)),
        Code::LayerUnsafePath,
        Severity::Error,
    );
}

#[test]
fn symlink_loops_and_escapes_in_the_outer_archive_end() {
    let bytes = sample_with(|p| {
        p.symlink("loop-a", "loop-b")
            .symlink("loop-b", "loop-a")
            .symlink("t", ".")
            .symlink("escape", "t/t/t/../../../../../tmp")
    });
    let r = findings(&bytes);
    assert_has(&r, Code::LinkLoop, Severity::Error);
    assert_has(&r, Code::LinkEscape, Severity::Error);
}

#[test]
fn symlink_loops_and_escapes_inside_layers_stay_inside_the_image() {
    let layer = Plan::new()
        .dir("etc/")
        .symlink("etc/a", "b")
        .symlink("etc/b", "a")
        .symlink("etc/out", "../../../../../../etc/hostname")
        .file("etc/hostname", b"inside")
        .build()
        .bytes;
    let bytes = sample_with_top_layer(layer);
    let report = Reader::new().record_entries(true).read(&bytes[..]).unwrap();
    let img = &report.archive.images[0];
    let flat = imgtar::layer::flatten_image(&report.archive, img, Default::default()).unwrap();
    // The loop is an error, not a hang.
    assert!(flat.fs.resolve(&"etc/a".into()).is_err());
    // `..` stops at the image root: the escape resolves to the image's own file.
    let (path, _) = flat.fs.resolve(&"etc/out".into()).unwrap();
    assert_eq!(path, "etc/hostname".into());
}

#[test]
fn duplicate_members_last_wins_and_a_differing_copy_is_an_error() {
    // A corrupt manifest.json followed by a good one: docker load reads the last copy,
    // containers/image and go-containerregistry the first, so the two disagree.
    let s = DockerSave::sample();
    let mut p = s.plan();
    p.insert_before(
        "manifest.json",
        "manifest.json",
        Kind::File(b"{corrupt".to_vec()),
    );
    let r = findings(&p.build().bytes);
    assert_has(&r, Code::DuplicateMember, Severity::Error);
    assert_eq!(r.archive.images.len(), 1, "the last copy is the one used");
    assert!(!r.is_valid());
    // An identical copy is only a warning.
    let mut p = s.plan();
    let same = match &p.names().iter().position(|n| *n == "manifest.json") {
        Some(_) => p.remove("manifest.json"),
        None => unreachable!(),
    };
    p.add("manifest.json", same.kind.clone());
    p.add("manifest.json", same.kind);
    let r = findings(&p.build().bytes);
    assert_has(&r, Code::DuplicateMember, Severity::Warning);
    assert!(r.is_valid(), "{:#?}", r.findings);
}

#[test]
fn truncated_archives_at_every_kind_of_boundary() {
    let bytes = DockerSave::sample().build().bytes;
    // Shorter than one block: not a tar (a report that says so, not an error).
    for cut in [100, 511] {
        let r = findings(&bytes[..cut]);
        assert_has(&r, Code::NotATar, Severity::Error);
        assert!(!r.is_valid() && !r.is_complete());
        assert!(r.archive.members.is_empty());
    }
    for cut in [512, 700, 1024, bytes.len() / 2, bytes.len() - 1500] {
        let r = findings(&bytes[..cut]);
        assert!(
            has(&r, Code::TruncatedArchive, Severity::Error)
                || has(&r, Code::NoEndOfArchive, Severity::Error),
            "cut at {cut}: {:#?}",
            r.findings
        );
    }
}

/// Rewrites the size field of the header at `off` and fixes its checksum.
fn set_size_field(bytes: &mut [u8], off: usize, field: [u8; 12]) {
    let h = &mut bytes[off..off + 512];
    h[124..136].copy_from_slice(&field);
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
}

#[test]
fn bad_checksum_negative_and_huge_sizes() {
    let built = DockerSave::sample().build();
    let off = built.offset("manifest.json") as usize;
    // A bad checksum.
    let mut bad = built.bytes.clone();
    bad[off] ^= 0x20;
    assert_has(&findings(&bad), Code::CorruptHeader, Severity::Error);
    // A negative base-256 size.
    let mut neg = built.bytes.clone();
    set_size_field(&mut neg, off, [0xff; 12]);
    let r = findings(&neg);
    assert!(!r.is_valid(), "{:#?}", r.findings);
    // A base-256 size of 2^62 bytes in a small file.
    let mut huge = built.bytes.clone();
    let mut field = [0u8; 12];
    field[0] = 0x80;
    field[4] = 0x40;
    set_size_field(&mut huge, off, field);
    assert_has(&findings(&huge), Code::TruncatedArchive, Severity::Error);
}

#[test]
fn double_compression_is_named() {
    let bytes = gzip(&gzip(&DockerSave::sample().build().bytes));
    let r = findings(&bytes);
    let f = r
        .findings
        .iter()
        .find(|f| f.code == Code::DoubleCompression)
        .unwrap_or_else(|| panic!("double-compression: {:#?}", r.findings));
    assert_eq!(f.severity, Severity::Error);
    assert!(f.message.contains("gzip-compressed again"), "{}", f.message);
    assert!(
        !r.is_valid(),
        "docker load decompresses once: the archive is refused"
    );
    // What is inside is still read, so the report can explain it.
    assert!(
        r.archive
            .members
            .iter()
            .any(|m| m.path.as_bytes() == b"manifest.json"),
        "{:?}",
        r.archive.members
    );
    assert_eq!(r.archive.images.len(), 1);
}

#[test]
fn decompression_bombs_stop_at_the_limits() {
    // An outer zstd bomb: 64 MiB of zeros after a valid archive start.
    // The archive itself is complete; the bomb is trailing zeros no one needs, but reading
    // stops at the limit and says so.
    let mut tar = DockerSave::sample().build().bytes;
    tar.extend(std::iter::repeat_n(0u8, 64 << 20));
    let limit_finding = |r: &Report| -> imgtar::Finding {
        r.findings
            .iter()
            .find(|f| f.code == Code::LimitExceeded)
            .cloned()
            .unwrap_or_else(|| panic!("limit-exceeded: {:#?}", r.findings))
    };
    let r = read_all_ways(&zstd(&tar), Limits::default()).expect("a report");
    let f = limit_finding(&r);
    assert!(
        f.message.contains("max_decompression_ratio"),
        "{}",
        f.message
    );
    assert!(!r.is_valid() && !r.is_complete());
    // The same under a byte limit, with gzip (whose ratio cannot pass about 1032:1).
    let mut l = Limits::default();
    l.max_decompressed_bytes = 1 << 20;
    let r = read_all_ways(&gzip(&tar), l).expect("a report");
    let f = limit_finding(&r);
    assert!(
        f.message.contains("max_decompressed_bytes is ")
            && f.message.contains(&format!("the limit is {}", 1 << 20)),
        "{}",
        f.message
    );
    assert!(!r.is_valid());
    // A layer bomb is a finding: the rest of the archive is still checked.
    let bomb = Plan::new()
        .file("zeros", &vec![0u8; 48 << 20])
        .build()
        .bytes;
    let r = findings(&sample_with_top_layer(zstd(&bomb)));
    let f = r
        .findings
        .iter()
        .find(|f| f.code == Code::LimitExceeded)
        .expect("limit-exceeded");
    assert!(
        f.message.contains("max_decompression_ratio"),
        "{}",
        f.message
    );
}

#[test]
fn non_tar_input_and_a_layer_that_is_not_a_tar() {
    for junk in [
        &b"GIF89a not a tar at all"[..],
        &[0xffu8; 4096][..],
        b"{\"a\":1}",
    ] {
        let r = findings(junk);
        assert_has(&r, Code::NotATar, Severity::Error);
        assert!(!r.is_valid() && r.archive.members.is_empty());
    }
    let r = findings(&sample_with_top_layer(
        b"this is not a tar, just text".repeat(40),
    ));
    assert_has(&r, Code::LayerNotTar, Severity::Error);
}

#[test]
fn a_cut_compressed_archive_says_where_in_the_compressed_input() {
    let tar = DockerSave::sample().build().bytes;
    let z = gzip(&tar);
    let cut = &z[..z.len() / 2];
    let r = findings(cut);
    let f = r
        .findings
        .iter()
        .find(|f| f.code == Code::TruncatedArchive)
        .unwrap_or_else(|| panic!("truncated-archive: {:#?}", r.findings));
    assert_eq!(f.severity, Severity::Error);
    let c = f.compressed_offset.expect("a compressed offset");
    assert!(c <= cut.len() as u64, "{c} > {}", cut.len());
    assert!(f.offset.is_some_and(|o| o < tar.len() as u64), "{f}");
    assert!(!r.is_valid() && !r.is_complete());
}

/// The sample Docker archive with its config text edited (first occurrence replaced).
fn sample_with_config_text(from: &str, to: &str) -> Vec<u8> {
    let mut s = DockerSave::sample();
    let txt = String::from_utf8(s.config.clone()).unwrap();
    assert!(txt.contains(from));
    s.set_config_bytes(txt.replacen(from, to, 1).into_bytes());
    s.build().bytes
}

#[test]
fn case_variant_keys_are_read_as_docker_reads_them() {
    // Go's encoding/json matches `Architecture` to the `architecture` field and keeps the
    // last: docker load registers an arm64 image, and so must the model.
    let bytes = sample_with_config_text(
        "\"architecture\":\"amd64\"",
        "\"architecture\":\"amd64\",\"Architecture\":\"arm64\"",
    );
    let r = findings(&bytes);
    let platform = r
        .findings
        .iter()
        .find(|f| f.code == Code::Platform)
        .expect("platform");
    assert!(
        platform.message.ends_with("linux/arm64"),
        "{}",
        platform.message
    );
    let dup = r
        .findings
        .iter()
        .find(|f| f.code == Code::DuplicateKey)
        .unwrap_or_else(|| panic!("duplicate-key: {:#?}", r.findings));
    assert!(
        dup.message.contains("uses the last, \"arm64\""),
        "{}",
        dup.message
    );
    assert_eq!(dup.severity, Severity::Error);
    // `ſ` folds to `s` in Go: `Layerſ` is `Layers`.
    let s = DockerSave::sample();
    let mut p = s.plan();
    let txt = String::from_utf8(to_json_line(&s.manifest)).unwrap();
    p.set(
        "manifest.json",
        txt.replacen("\"Layers\":", "\"Layers\":[],\"Layer\u{17f}\":", 1)
            .as_bytes(),
    );
    let r = findings(&p.build().bytes);
    assert_has(&r, Code::DuplicateKey, Severity::Error);
    assert!(
        r.archive.images[0].layers.len() == 2,
        "Docker reads the last (two layers)"
    );
}

#[test]
fn a_million_repeated_keys_are_one_finding_with_a_count() {
    let s = DockerSave::sample();
    let mut p = s.plan();
    let entry = String::from_utf8(to_json(&s.manifest[0])).unwrap();
    let entry =
        entry
            .replacen("{", "{\"RepoTags\":null,", 1)
            .replacen("[\"busybox:latest\"]", "null", 1);
    let many = format!("[{}]", vec![entry.as_str(); 2000].join(","));
    p.set("manifest.json", many.as_bytes());
    let r = findings(&p.build().bytes);
    let dups: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.code == Code::DuplicateKey)
        .collect();
    assert_eq!(dups.len(), 1, "{dups:#?}");
    assert_eq!(dups[0].count, 2000);
    assert_eq!(
        dups[0].severity,
        Severity::Warning,
        "the values are the same"
    );
}

/// A 512-byte old-GNU sparse header (`S`) for `name` with one region in the header and
/// `blocks` extension blocks that each add one 1-byte region (or none, `empty`).
fn old_gnu_sparse(name: &str, blocks: usize, empty: bool) -> Vec<u8> {
    let octal = |n: u64| format!("{n:011o}\0").into_bytes();
    let regions = if empty { 1 } else { 1 + blocks as u64 };
    let mut h = header_block(name, b'S', regions);
    h[257..263].copy_from_slice(b"ustar ");
    h[263..265].copy_from_slice(b" \0");
    h[386..398].copy_from_slice(&octal(0));
    h[398..410].copy_from_slice(&octal(1));
    h[482] = u8::from(blocks > 0);
    h[483..495].copy_from_slice(&octal(regions * 2));
    let mut out = h;
    patch_header(&mut out, 0, 0, b"");
    for b in 0..blocks {
        let mut ext = vec![0u8; 512];
        if !empty {
            ext[..12].copy_from_slice(&octal((b as u64 + 1) * 2));
            ext[12..24].copy_from_slice(&octal(1));
        }
        ext[504] = u8::from(b + 1 < blocks);
        out.extend(ext);
    }
    let mut data = vec![b'x'; regions as usize];
    data.resize(data.len().div_ceil(512) * 512, 0);
    out.extend(data);
    out.extend([0u8; 1024]);
    out
}

/// A layer's bytes and the entry (path, header offset) its finding names, if one.
type BuiltLayer = (Vec<u8>, Option<(String, u64)>);

/// One hostile layer: its bytes, the finding expected (code, severity, entry path and the
/// entry's header offset; `None` for a finding about the layer as a whole).
struct LayerCase {
    name: &'static str,
    layer: fn() -> BuiltLayer,
    code: Code,
    severity: Severity,
    /// A word the message must hold (the limit named, the offset given).
    says: &'static str,
}

/// A layer plan and the entry (by its member name in the plan, and the path a finding
/// names) the finding is about.
fn planned(p: Plan, member: &str, entry: &str) -> BuiltLayer {
    let b = p.build();
    let at = b.offset(member);
    (b.bytes, Some((entry.to_string(), at)))
}

/// PAX records for `opt/a` (of `data`), then `opt/b`: the finding is about `opt/a`.
fn pax_file(key: &str, value: &str, data: &[u8]) -> BuiltLayer {
    planned(
        Plan::new()
            .raw("PaxHeaders/a", b'x', &pax_records(&[(key, value)]), "")
            .file("opt/a", data)
            .file("opt/b", b"b"),
        "opt/a",
        "opt/a",
    )
}

const LAYER_CASES: &[LayerCase] = &[
    LayerCase {
        // ustar says 1024 bytes, PAX 512 (tar-rs CVE-2026-33055): Go trusts PAX.
        name: "pax size smaller than ustar",
        layer: || pax_file("size", "512", &[b'a'; 1024]),
        code: Code::PaxSizeMismatch,
        severity: Severity::Error,
        says: "512",
    },
    LayerCase {
        // PAX records after a directory's own: attached to a non-file (tar-rs
        // GHSA-3cv2-h65g-fgmm): Go reads no data for the directory.
        name: "pax size on a directory",
        layer: || {
            planned(
                Plan::new()
                    .raw("PaxHeaders/d", b'x', &pax_records(&[("size", "512")]), "")
                    .dir("opt/")
                    .file("opt/hidden", b"")
                    .file("opt/a", b"a"),
                "opt/",
                "opt/",
            )
        },
        code: Code::HeaderOnlySize,
        severity: Severity::Error,
        says: "512",
    },
    LayerCase {
        name: "pax header at the end of the layer",
        layer: || {
            let b = Plan::new()
                .file("opt/a", b"a")
                .raw(
                    "PaxHeaders/x",
                    b'x',
                    &pax_records(&[("path", "opt/ghost")]),
                    "",
                )
                .build();
            let at = b.offset("PaxHeaders/x");
            // It belongs to no entry: the finding names none, only its offset.
            (b.bytes, Some((String::new(), at)))
        },
        code: Code::PaxDesync,
        severity: Severity::Error,
        says: "",
    },
    LayerCase {
        // libarchive#3141: GNU tar and libarchive apply it to every later entry.
        name: "pax global header",
        layer: || {
            planned(
                Plan::new()
                    .raw(
                        "pax_global_header",
                        b'g',
                        &pax_records(&[("path", "etc/passwd")]),
                        "",
                    )
                    .file("opt/a", b"a"),
                "pax_global_header",
                "pax_global_header",
            )
        },
        code: Code::PaxGlobalHeader,
        severity: Severity::Warning,
        says: "",
    },
    LayerCase {
        name: "uid beyond 2^32",
        layer: || pax_file("uid", "4294967296", b"a"),
        code: Code::ValueOutOfRange,
        severity: Severity::Warning,
        says: "4294967296",
    },
    LayerCase {
        name: "negative gid",
        layer: || pax_file("gid", "-1", b"a"),
        code: Code::ValueOutOfRange,
        severity: Severity::Warning,
        says: "-1",
    },
    LayerCase {
        // A base-256 size of 2^63 - 512: the layer cannot hold it.
        name: "size near 2^63",
        layer: || {
            let mut b = Plan::new().file("opt/a", b"a").file("opt/b", b"b").build();
            let at = b.offset("opt/b");
            let field = [
                0x80, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0x00,
            ];
            patch_header(&mut b.bytes, at, 124, &field);
            (b.bytes, None)
        },
        code: Code::LayerTruncated,
        severity: Severity::Error,
        says: "9223372036854775296 bytes",
    },
    LayerCase {
        // Past 2^63 the field overflows: Go refuses the header.
        name: "size past 2^63",
        layer: || {
            let mut b = Plan::new().file("opt/a", b"a").file("opt/b", b"b").build();
            let at = b.offset("opt/b");
            patch_header(
                &mut b.bytes,
                at,
                124,
                &[
                    0x80, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                ],
            );
            (b.bytes, None)
        },
        code: Code::LayerCorrupt,
        severity: Severity::Error,
        says: "size field is not a number",
    },
    LayerCase {
        // 50 000 extension blocks of one region each: within the default region limit,
        // read in one linear pass.
        name: "old GNU sparse, 50 000 extension blocks",
        layer: || {
            let l = old_gnu_sparse("opt/sparse", 50_000, false);
            (l, Some(("opt/sparse".to_string(), 0)))
        },
        code: Code::LayerUnknownType,
        severity: Severity::Error,
        says: "old GNU sparse",
    },
    LayerCase {
        // 70 000 empty extension blocks: no region, but the blocks are bounded themselves.
        name: "old GNU sparse, 70 000 empty extension blocks",
        layer: || (old_gnu_sparse("opt/sparse", 70_000, true), None),
        code: Code::LayerCorrupt,
        severity: Severity::Error,
        says: "extension blocks, more than Limits::max_sparse_regions (65536)",
    },
    LayerCase {
        // ggcr d807d512: a second gzip member is decompressed, and hashed, but no tar
        // reader shows what it holds.
        name: "second archive after the end blocks",
        layer: || {
            let mut l = Plan::new().file("opt/a", b"a").build().bytes;
            l.extend(Plan::new().file("opt/hidden", b"h").build().bytes);
            (l, None)
        },
        code: Code::LayerTrailingData,
        severity: Severity::Error,
        says: "second archive",
    },
    LayerCase {
        // Each ancestor of a path is a directory of the flattened filesystem: 5 000
        // components would cost 5 000 directories of up to 10 000 bytes each.
        name: "a path 5 000 components deep",
        layer: || {
            let deep = format!("{}f", "d/".repeat(5000));
            let b = Plan::new().file("opt/a", b"a").file(&deep, b"x").build();
            let at = b.offset(&deep);
            (b.bytes, Some((deep[..256].to_string(), at)))
        },
        code: Code::LimitExceeded,
        severity: Severity::Error,
        says: "Limits::max_path_depth (5001, the limit is 2048)",
    },
    LayerCase {
        name: "a symlink target of 100 000 bytes",
        layer: || {
            let target = "t".repeat(100_000);
            planned(Plan::new().symlink("opt/l", &target), "opt/l", "opt/l")
        },
        code: Code::LimitExceeded,
        severity: Severity::Error,
        says: "Limits::max_path_bytes (100000, the limit is 65536)",
    },
];

#[test]
fn hostile_layer_headers_are_findings_at_their_entry() {
    for case in LAYER_CASES {
        let (layer, entry) = (case.layer)();
        let mut img = Image::sample();
        img.set_layer(1, layer);
        let s = DockerSave::new(img);
        let built = s.build();
        let layer_at = built.offset(&s.layer_path(1));
        let r = Reader::new().read(&built.bytes[..]).unwrap();
        let f = r
            .findings
            .iter()
            .find(|f| f.code == case.code)
            .unwrap_or_else(|| panic!("{}: no {}: {:#?}", case.name, case.code, r.findings));
        assert_eq!(f.severity, case.severity, "{}: {f}", case.name);
        assert_eq!(
            f.path.as_deref(),
            Some(s.layer_path(1).as_str()),
            "{}",
            case.name
        );
        assert_eq!(f.offset, Some(layer_at), "{}: {f}", case.name);
        if let Some((path, at)) = &entry {
            assert_eq!(
                f.entry.as_deref(),
                Some(path.as_str()),
                "{}: {f}",
                case.name
            );
            assert_eq!(f.entry_offset, Some(*at), "{}: {f}", case.name);
        }
        assert!(f.message.contains(case.says), "{}: {f}", case.name);
        assert!(
            !r.is_valid() || case.severity != Severity::Error,
            "{}",
            case.name
        );
    }
}

#[test]
fn a_second_gzip_member_in_a_layer_is_trailing_data() {
    let tar = Plan::new().file("opt/a", b"a").build().bytes;
    let mut z = gzip(&tar);
    z.extend(gzip(&Plan::new().file("opt/hidden", b"h").build().bytes));
    let mut img = Image::sample();
    img.set_layer(1, tar);
    img.stored[1] = z;
    let r = findings(&DockerSave::new(img).build().bytes);
    let f = r
        .findings
        .iter()
        .find(|f| f.code == Code::LayerTrailingData)
        .unwrap_or_else(|| panic!("{:#?}", r.findings));
    assert_eq!(f.severity, Severity::Error);
    assert!(f.message.contains("second archive"), "{f}");
}

#[test]
fn pax_values_with_newlines_and_sparse_1_0_name_the_entries_go_extracts() {
    // A `comment` holding a newline must not end the header: `path` after it still applies.
    let layer = Plan::new()
        .raw(
            "PaxHeaders/x",
            b'x',
            &pax_records(&[
                ("comment", "line one\npath=opt/decoy\n"),
                ("path", "opt/real"),
            ]),
            "",
        )
        .file("opt/shown", b"x")
        // PAX sparse 1.0: the map is in the data, the real name and size in the records.
        .raw(
            "PaxHeaders/s",
            b'x',
            &pax_records(&[
                ("GNU.sparse.major", "1"),
                ("GNU.sparse.minor", "0"),
                ("GNU.sparse.name", "opt/sparse"),
                ("GNU.sparse.realsize", "6"),
            ]),
            "",
        )
        .file("opt/GNUSparseFile.0/sparse", &{
            let mut d = b"1\n2\n4\n".to_vec();
            d.resize(512, 0);
            d.extend(b"abcd");
            d
        })
        .build()
        .bytes;
    let bytes = sample_with_top_layer(layer);
    let report = Reader::new().record_entries(true).read(&bytes[..]).unwrap();
    assert!(report.is_valid(), "{:#?}", report.findings);
    let img = &report.archive.images[0];
    let flat = imgtar::layer::flatten_image(&report.archive, img, Default::default()).unwrap();
    assert!(flat.fs.get(&"opt/real".into()).is_some());
    assert!(flat.fs.get(&"opt/shown".into()).is_none());
    assert!(flat.fs.get(&"opt/decoy".into()).is_none());
    let sparse = flat.fs.get(&"opt/sparse".into()).expect("the real name");
    assert_eq!(sparse.meta.size, 6);
    assert!(flat.fs.get(&"opt/GNUSparseFile.0/sparse".into()).is_none());
}

#[test]
fn many_manifest_entries_stop_at_max_images_and_share_one_config() {
    let s = DockerSave::sample();
    let mut p = s.plan();
    let entries: Vec<serde_json::Value> = (0..50)
        .map(|i| {
            let mut e = s.manifest[0].clone();
            e["RepoTags"] = serde_json::json!([format!("busybox:t{i}")]);
            e
        })
        .collect();
    p.set(
        "manifest.json",
        &to_json_line(&serde_json::Value::Array(entries)),
    );
    let bytes = p.build().bytes;
    let mut limits = Limits::default();
    limits.max_images = 20;
    let r = read_all_ways(&bytes, limits).unwrap();
    assert_eq!(r.archive.images.len(), 20);
    let f = r
        .findings
        .iter()
        .find(|f| f.code == Code::LimitExceeded)
        .unwrap_or_else(|| panic!("{:#?}", r.findings));
    assert_eq!(f.path.as_deref(), Some("manifest.json"));
    assert!(
        f.message
            .contains("lists 50 images, more than Limits::max_images (20)"),
        "{f}"
    );
    // Twenty images naming one config hold one decoded copy of it.
    let first = r.archive.images[0].config.as_ref().unwrap();
    assert!(r
        .archive
        .images
        .iter()
        .all(|i| std::sync::Arc::ptr_eq(i.config.as_ref().unwrap(), first)));
    // Under the default limit all fifty are read.
    let r = findings(&bytes);
    assert_eq!(r.archive.images.len(), 50);
    assert!(!has(&r, Code::LimitExceeded, Severity::Error));
}

fn cli(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_imgtar"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

/// Whether `bytes` hold a C0 control other than newline and tab, DEL, or a C1 control
/// (U+0080–U+009F, as UTF-8).
fn has_controls(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    text.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
}

#[test]
fn human_output_never_carries_terminal_controls_and_json_stays_exact() {
    let evil = "RUN \u{1b}]0;pwned\u{7} \u{9b}31m \u{7f}";
    let mut img = Image::sample();
    img.config["history"][0]["created_by"] = serde_json::json!(evil);
    img.config["history"][0]["comment"] = serde_json::json!("c\u{1b}[2J");
    img.set_layer(
        1,
        Plan::new()
            .dir("etc/")
            .file("etc/\u{1b}[31mred", b"x")
            .file("etc/csi\u{9b}x", b"y")
            .build()
            .bytes,
    );
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("esc.tar");
    std::fs::write(&f, DockerSave::new(img).build().bytes).unwrap();
    let f = f.to_str().unwrap();
    for args in [
        vec!["history", f],
        vec!["history", "--no-trunc", f],
        vec!["tree", f],
        vec!["diff", f],
        vec!["files", f],
        vec!["ls", f],
        vec!["validate", f],
    ] {
        let out = cli(&args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !has_controls(&out.stdout),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(!has_controls(&out.stderr), "{args:?}");
    }
    let out = cli(&["history", "--no-trunc", f]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("RUN \\x1b]0;pwned\\x07 \\u{9b}31m \\x7f")
    );
    let out = cli(&["tree", f]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("/etc/csi\\u{9b}x"));
    // JSON is exact: the value round-trips (JSON escapes C0 itself).
    let out = cli(&["history", "--format", "json", f]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let items = v.as_array().unwrap();
    assert!(items.iter().any(|h| h["CreatedBy"] == evil), "{v:#}");
    assert!(items.iter().any(|h| h["Comment"] == "c\u{1b}[2J"), "{v:#}");
}

#[test]
fn outputs_are_never_written_over_what_is_not_a_regular_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.tar");
    std::fs::write(&input, DockerSave::sample().build().bytes).unwrap();
    let input = input.to_str().unwrap();
    let fifo = dir.path().join("fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let sub = dir.path().join("a-directory");
    std::fs::create_dir(&sub).unwrap();
    let mut targets = vec![fifo.clone(), sub.clone()];
    // A character device (as root: `-o /dev/null` must not replace /dev/null).
    let dev = dir.path().join("null");
    if std::process::Command::new("mknod")
        .args([dev.to_str().unwrap(), "c", "1", "3"])
        .status()
        .is_ok_and(|s| s.success())
    {
        targets.push(dev.clone());
    }
    for t in &targets {
        let t = t.to_str().unwrap();
        for args in [
            vec!["squash", input, "-o", t],
            vec!["export", input, "busybox:latest", "-o", t],
        ] {
            let out = cli(&args);
            assert_eq!(out.status.code(), Some(2), "{args:?}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains("is not a regular file; refusing to replace it"),
                "{args:?}: {err}"
            );
        }
    }
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());
    assert!(std::fs::symlink_metadata(&sub).unwrap().is_dir());
    if targets.contains(&dev) {
        assert!(std::fs::symlink_metadata(&dev)
            .unwrap()
            .file_type()
            .is_char_device());
    }
    // Nothing was left beside them.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// An extension header the end of the outer archive leaves pending applies to no member: Go
/// (docker load) drops it, a reader going on past the end blocks would apply it to what
/// follows. It is a finding at its own offset, from a stream and from a file alike.
#[test]
fn a_pax_header_left_at_the_end_of_the_outer_archive_is_a_finding() {
    let s = DockerSave::sample();
    let built = s
        .plan()
        .raw(
            "PaxHeaders/end",
            b'x',
            &pax_records(&[("path", "manifest.json")]),
            "",
        )
        .build();
    let at = built.offset("PaxHeaders/end");
    let dir = std::env::temp_dir().join(format!("imgtar-outer-orphan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("a.tar");
    std::fs::write(&file, &built.bytes).unwrap();
    for r in [
        Reader::new().read(&built.bytes[..]).unwrap(),
        Reader::new().open(&file).unwrap(),
    ] {
        let f = r
            .findings
            .iter()
            .find(|f| f.code == Code::PaxDesync)
            .unwrap_or_else(|| panic!("{:#?}", r.findings));
        assert_eq!(f.offset, Some(at), "{f}");
        assert_eq!(f.severity, Severity::Error, "{f}");
        // The image before it is read as ever.
        assert_eq!(r.archive.images.len(), 1);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
