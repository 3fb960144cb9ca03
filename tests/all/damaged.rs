//! Damaged copies of every real archive: plain and recompressed with gzip, zstd, xz and
//! bzip2, cut at every kind of boundary (inside a header, at a member's data, in padding,
//! before the end blocks, inside a compressed layer, inside the compressor's trailer) and at
//! 20 random points, and changed at 20 random points. Each copy gives a report (never an
//! error, never a panic) that serializes to JSON; a cut is an error finding that says where;
//! the images whose every member lies before a cut are still reported intact; a pipe with
//! short reads gives the same report as the file; and the CLI exits 1 with a complete JSON
//! report.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use imgtar::{Code, Finding, Report, Severity};

use crate::support::{bzip2, gzip, xz};

/// How many random cuts and changes each copy gets.
const RANDOM: usize = 20;

fn real_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/real")
}

fn archives() -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(real_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().contains(".tar"))
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                plain(bytes),
            )
        })
        .collect();
    v.sort();
    v
}

/// The tar inside a compressed real archive (the archive itself when it is plain).
fn plain(bytes: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::new();
    match bytes.as_slice() {
        [0x1f, 0x8b, ..] => {
            flate2::read::MultiGzDecoder::new(&bytes[..])
                .read_to_end(&mut out)
                .unwrap();
            out
        }
        [0xfd, b'7', b'z', b'X', b'Z', 0, ..] => {
            liblzma::read::XzDecoder::new(&bytes[..])
                .read_to_end(&mut out)
                .unwrap();
            out
        }
        _ => bytes,
    }
}

/// A small deterministic generator (splitmix64), seeded by the archive's name.
struct Rng(u64);

impl Rng {
    fn for_name(name: &str, salt: u64) -> Rng {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ salt;
        for b in name.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        Rng(h)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// A reader that hands out its bytes in short, uneven pieces, as a pipe does.
struct ShortReads<'a> {
    data: &'a [u8],
    rng: Rng,
}

impl Read for ShortReads<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (1 + self.rng.below(4096))
            .min(buf.len())
            .min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// One member of the whole archive and where its parts lie in the tar.
struct Region {
    path: String,
    /// Its first block (an extension header, or its own header).
    start: u64,
    /// Its own header block.
    header: u64,
    data: u64,
    size: u64,
    /// Past its padding.
    end: u64,
    /// Its own header is a plain ustar header (no extension header before it).
    plain_header: bool,
    compressed_layer: bool,
}

fn padded(n: u64) -> u64 {
    n.div_ceil(512) * 512
}

/// The members' regions, from the report of the whole archive.
fn regions(r: &Report) -> Vec<Region> {
    r.archive
        .members
        .iter()
        .filter_map(|m| {
            let (start, header, data) = (m.start?, m.offset?, m.data_offset?);
            Some(Region {
                path: m.path.to_string_lossy().into_owned(),
                start,
                header,
                data,
                size: m.size,
                end: data + padded(m.size),
                plain_header: start == header,
                compressed_layer: m
                    .layer
                    .as_ref()
                    .is_some_and(|l| !matches!(l.compression, imgtar::Compression::None)),
            })
        })
        .collect()
}

/// Where the end-of-archive marker starts in a complete tar: after the last member.
fn marker_of(regions: &[Region]) -> u64 {
    regions.iter().map(|r| r.end).max().unwrap_or(0)
}

fn read(bytes: &[u8]) -> Report {
    imgtar::Reader::new()
        .read(bytes)
        .unwrap_or_else(|e| panic!("damaged bytes gave an error, not a report: {e}"))
}

fn dump(fs: &[Finding]) -> String {
    fs.iter().map(|f| format!("  {f}\n")).collect()
}

/// The report serializes, and the JSON parses back with the verdict in it.
fn json_round_trip(r: &Report, what: &str) {
    let text = serde_json::to_string(r).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["valid"], serde_json::json!(r.is_valid()), "{what}");
    assert!(v["findings"].is_array(), "{what}");
}

/// The IDs of images whose members (config, layers, and the document naming them) all lie
/// before `cut` in the whole archive.
fn intact_before(whole: &Report, regions: &[Region], cut: u64) -> Vec<String> {
    let end_of = |path: &str| regions.iter().rev().find(|r| r.path == path).map(|r| r.end);
    let mut out = Vec::new();
    for img in &whole.archive.images {
        if whole.archive.image_intact(img).is_err() {
            continue;
        }
        let Some(id) = img.id.as_ref().map(ToString::to_string) else {
            continue;
        };
        let mut needed: Vec<String> = Vec::new();
        match &img.source {
            imgtar::ImageSource::Manifest { .. } => needed.push("manifest.json".into()),
            imgtar::ImageSource::OciIndex { manifest } => {
                needed.push("index.json".into());
                needed.push("oci-layout".into());
                needed.push(format!("blobs/sha256/{}", manifest.hex()));
            }
            _ => continue,
        }
        needed.extend(img.config_path.clone());
        for l in &img.layers {
            needed.extend(l.member.as_ref().map(|m| m.to_string_lossy().into_owned()));
        }
        // Every member the archive could also name an image from must be before the cut
        // too, or the cut copy may read the images differently.
        for doc in ["manifest.json", "index.json", "repositories"] {
            if end_of(doc).is_some() {
                needed.push(doc.into());
            }
        }
        if needed.iter().all(|p| end_of(p).is_some_and(|e| e <= cut)) {
            out.push(id);
        }
    }
    out
}

/// The cut points of each kind for a plain tar.
fn boundary_cuts(regions: &[Region], marker: u64) -> Vec<(String, u64)> {
    let mut cuts = Vec::new();
    let mid = regions.get(regions.len() / 2);
    for r in [regions.first(), mid].into_iter().flatten() {
        cuts.push((format!("inside the header of {}", r.path), r.header + 100));
        if r.start != r.header {
            cuts.push((
                format!("inside the extension header of {}", r.path),
                r.start + 600,
            ));
        }
        if r.size > 0 {
            cuts.push((format!("at the data of {}", r.path), r.data));
            cuts.push((
                format!("inside the data of {}", r.path),
                r.data + r.size / 2,
            ));
        }
    }
    if let Some(r) = regions.iter().find(|r| r.size % 512 != 0 && r.size > 0) {
        cuts.push((
            format!("in the padding after {}", r.path),
            r.data + r.size + 1,
        ));
    }
    if let Some(r) = regions.iter().find(|r| r.compressed_layer && r.size > 2) {
        cuts.push((
            format!("inside the compressed layer {}", r.path),
            r.data + r.size / 2,
        ));
    }
    cuts.push(("before the end blocks".into(), marker));
    cuts.push(("after one end block".into(), marker + 512));
    cuts.push(("inside the second end block".into(), marker + 700));
    cuts
}

/// A cut of a plain tar is an error that says where.
fn check_plain_cut(
    whole: &Report,
    regions: &[Region],
    name: &str,
    what: &str,
    cut: u64,
    r: &Report,
) -> usize {
    let mut checked = 0;
    let ctx = || format!("{name} cut {what} at {cut}:\n{}", dump(&r.findings));
    assert!(!r.is_valid(), "{}", ctx());
    let said = r.findings.iter().any(|f| {
        f.severity == Severity::Error
            && match f.code {
                Code::EmptyInput => cut == 0,
                Code::NotATar => cut < 512,
                Code::NoEndOfArchive => f.offset == Some(cut),
                Code::TruncatedArchive => {
                    // In a member's data or padding: that member; elsewhere an offset at or
                    // before the cut. The message says the byte.
                    let inside = regions.iter().find(|x| x.data < cut && cut < x.end);
                    let placed = match inside {
                        Some(x) => f.path.as_deref() == Some(x.path.as_str()),
                        None => f.offset.is_some_and(|o| o <= cut),
                    };
                    placed && f.message.contains(&format!("byte {cut}"))
                }
                _ => false,
            }
    });
    assert!(said, "no finding that places the cut: {}", ctx());
    for id in intact_before(whole, regions, cut) {
        let img = r
            .archive
            .images
            .iter()
            .find(|i| i.id.as_ref().map(ToString::to_string).as_deref() == Some(&id))
            .unwrap_or_else(|| panic!("image {id} before the cut is gone: {}", ctx()));
        assert!(
            r.archive.image_intact(img).is_ok(),
            "image {id} before the cut is not intact: {}",
            ctx()
        );
        checked += 1;
    }
    checked
}

/// Everything observable of a report, for comparing two reads.
fn fingerprint(r: &Report) -> String {
    serde_json::to_string(&(&r.archive, &r.findings)).unwrap()
}

/// The compressions each test covers.
fn compress(kind: &str, tar: &[u8]) -> Vec<u8> {
    match kind {
        "plain" => tar.to_vec(),
        "gzip" => gzip(tar),
        "zstd" => {
            let mut e = zstd::stream::Encoder::new(Vec::new(), 3).unwrap();
            e.include_checksum(true).unwrap();
            io::copy(&mut &tar[..], &mut e).unwrap();
            e.finish().unwrap()
        }
        "xz" => xz(tar),
        "bzip2" => bzip2(tar),
        _ => unreachable!(),
    }
}

/// What the reference decoder makes of a compressed stream (`None`: it fails).
fn reference_decode(kind: &str, bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let ok = match kind {
        "gzip" => flate2::read::MultiGzDecoder::new(bytes)
            .read_to_end(&mut out)
            .is_ok(),
        "zstd" => zstd::stream::read::Decoder::new(bytes)
            .and_then(|mut d| d.read_to_end(&mut out))
            .is_ok(),
        "xz" => liblzma::read::XzDecoder::new(bytes)
            .read_to_end(&mut out)
            .is_ok(),
        "bzip2" => bzip2::read::MultiBzDecoder::new(bytes)
            .read_to_end(&mut out)
            .is_ok(),
        _ => false,
    };
    ok.then_some(out)
}

/// Runs every damage on every archive compressed as `kind`; returns how many images were
/// checked intact before a cut.
fn run(kind: &str) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let mut cli_runs = 0;
    let mut intact_checked = 0;
    for (name, tar) in archives() {
        let whole_plain = read(&tar);
        if whole_plain.archive.members.len() < 2 {
            continue; // an empty or one-member archive has no inside to damage
        }
        let regions = regions(&whole_plain);
        let marker = marker_of(&regions);
        let data = compress(kind, &tar);
        let whole = read(&data);
        let mut rng = Rng::for_name(&name, kind.len() as u64);

        // Cuts.
        let mut cuts: Vec<(String, u64)> = Vec::new();
        if kind == "plain" {
            cuts.extend(boundary_cuts(&regions, marker));
            for _ in 0..RANDOM {
                // Past the end marker only trailing zeros are lost: no damage.
                cuts.push(("at random".into(), rng.below(marker as usize + 1024) as u64));
            }
        } else {
            let len = data.len() as u64;
            cuts.push(("inside the compressor's trailer".into(), len - 4));
            cuts.push(("in the middle".into(), len / 2));
            for _ in 0..RANDOM {
                cuts.push(("at random".into(), rng.below(data.len() - 1) as u64));
            }
        }
        cuts.retain(|(_, c)| *c < data.len() as u64);
        for (k, (what, cut)) in cuts.iter().enumerate() {
            let cut = *cut;
            let bytes = &data[..cut as usize];
            let r = read(bytes);
            json_round_trip(&r, &format!("{name} {kind} cut at {cut}"));
            if kind == "plain" {
                intact_checked += check_plain_cut(&whole_plain, &regions, &name, what, cut, &r);
            } else {
                let ctx = format!("{name} {kind} cut {what} at {cut}:\n{}", dump(&r.findings));
                assert!(!r.is_valid(), "{ctx}");
                assert!(
                    r.findings.iter().any(|f| {
                        f.severity == Severity::Error
                            && matches!(
                                f.code,
                                Code::TruncatedArchive | Code::EmptyInput | Code::NotATar
                            )
                            && f.compressed_offset.is_none_or(|c| c <= cut)
                    }),
                    "no truncated-archive finding: {ctx}"
                );
            }
            // A pipe with short reads and the file give the same report.
            if k % 4 == 0 {
                let path = dir.path().join("cut");
                std::fs::write(&path, bytes).unwrap();
                let from_file = imgtar::Reader::new().open(&path).unwrap();
                let piped = imgtar::Reader::new()
                    .read(ShortReads {
                        data: bytes,
                        rng: Rng::for_name(&name, cut),
                    })
                    .unwrap();
                assert_eq!(
                    fingerprint(&from_file),
                    fingerprint(&piped),
                    "{name} {kind} cut at {cut}: file and pipe differ"
                );
            }
        }

        // Changed bytes.
        for _ in 0..RANDOM {
            let at = rng.below(data.len());
            let mut bytes = data.clone();
            bytes[at] ^= 0xff;
            let r = read(&bytes);
            json_round_trip(&r, &format!("{name} {kind} changed at {at}"));
            let ctx = || format!("{name} {kind} changed at {at}:\n{}", dump(&r.findings));
            if !whole.is_valid() {
                continue;
            }
            let protected = match kind {
                // Only what a digest or a checksum covers: a ustar header block, a layer
                // whose DiffID is known, an OCI blob named by its digest.
                "plain" => regions.iter().any(|x| {
                    let in_header =
                        x.plain_header && (x.header..x.header + 512).contains(&(at as u64));
                    let in_data = (x.data..x.data + x.size).contains(&(at as u64));
                    let layer_with_diff_id = whole.archive.images.iter().any(|i| {
                        i.layers.iter().any(|l| {
                            l.diff_id.is_some()
                                && l.member
                                    .as_ref()
                                    .is_some_and(|m| m.to_string_lossy() == x.path)
                        })
                    });
                    let blob = x.path.starts_with("blobs/sha256/");
                    in_header || (in_data && (layer_with_diff_id || blob))
                }),
                // Every format here checksums what it decompresses to (zstd with its
                // checksum flag): a change is caught unless the stream still decompresses
                // to the same tar (the gzip header's time and OS bytes, an unused code
                // length in a bzip2 table).
                _ => reference_decode(kind, &bytes).as_deref() != Some(&tar[..]),
            };
            if protected {
                assert!(
                    !r.is_valid(),
                    "a change that a checksum covers passed: {}",
                    ctx()
                );
            }
        }

        // The CLI: exit 1 and a complete JSON report, for one cut and one change.
        if cli_runs < 12 {
            cli_runs += 1;
            let path = dir.path().join(format!("damaged-{kind}"));
            std::fs::write(&path, &data[..data.len() * 2 / 3]).unwrap();
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_imgtar"))
                .args(["validate", "--json"])
                .arg(&path)
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(1), "{name} {kind}: {out:?}");
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(v["valid"], serde_json::json!(false));
            assert!(v["loaders"].is_array());
        }
    }
    intact_checked
}

#[test]
fn damaged_plain_archives() {
    let intact = run("plain");
    // Archives whose images come before their damage exist in the corpus (legacy and OCI
    // layouts write the image's documents first): the check above must have run.
    assert!(
        intact > 20,
        "only {intact} images checked intact before a cut"
    );
}

#[test]
fn damaged_gzip_archives() {
    run("gzip");
}

#[test]
fn damaged_zstd_archives() {
    run("zstd");
}

#[test]
fn damaged_xz_archives() {
    run("xz");
}

#[test]
fn damaged_bzip2_archives() {
    run("bzip2");
}
