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
