//! Regenerates `testdata/loaders/observed.json`: every archive of `testdata/real`, and variants
//! built from some of them, through `docker load`, `ctr images import --all-platforms` and
//! `podman load` (`tests/all/harness.rs`). A development aid, not a check: run it by hand
//! with
//!
//! ```text
//! cargo test --test all loaders_observed -- --ignored --nocapture
//! ```
//!
//! `IMGTAR_OBSERVED_OUT=PATH` writes elsewhere (`-` prints the JSON). Variants are built in a
//! temporary directory and removed afterwards (`IMGTAR_OBSERVED_VARIANTS=DIR` keeps them in
//! DIR instead); none is committed. The time each loader took
//! is printed, not recorded.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::harness::{Load, Loader};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

pub(crate) fn real_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/real")
}

#[test]
#[ignore = "regenerates testdata/loaders/observed.json; needs dockerd, ctr and podman (.ci/install-deps)"]
fn record_observed() {
    let all = crate::harness::available().unwrap_or_else(|e| panic!("loaders unavailable: {e}"));
    let chosen: Vec<&dyn Load> = Loader::ALL
        .iter()
        .map(|&w| {
            all.get(w).unwrap_or_else(|e| {
                panic!("observed.json needs all three loaders; {}: {e}", w.name())
            })
        })
        .collect();

    let mut files: Vec<(String, PathBuf)> = std::fs::read_dir(real_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.ends_with(".tar") || n.ends_with(".tar.gz") || n.ends_with(".tar.xz")
        })
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    files.sort();

    // Every archive is loaded from a copy in a directory whose path is lowercase: podman's
    // error text for its `oci:` attempt depends on whether the path parses as a reference.
    let scratch = Scratch::new();
    let keep = std::env::var_os("IMGTAR_OBSERVED_VARIANTS").map(PathBuf::from);
    if let Some(k) = &keep {
        std::fs::create_dir_all(k).unwrap();
    }
    let variants = build_variants(keep.as_deref().unwrap_or(&scratch.0), &files);
    let files: Vec<(String, PathBuf)> = files
        .into_iter()
        .map(|(name, path)| {
            let copy = scratch.0.join(&name);
            std::fs::copy(&path, &copy).unwrap();
            (name, copy)
        })
        .collect();

    let mut time: BTreeMap<&str, (Duration, usize)> = BTreeMap::new();
    let mut run = |path: &Path| -> Map<String, Value> {
        let mut per = Map::new();
        for l in &chosen {
            let o = l.load(path);
            let t = time.entry(l.name()).or_default();
            t.0 += o.elapsed;
            t.1 += 1;
            per.insert(l.name().to_string(), o.to_json());
        }
        per
    };

    let mut out_files = Map::new();
    for (name, path) in &files {
        eprintln!("loading {name}");
        out_files.insert(name.clone(), Value::Object(run(path)));
    }
    let mut out_variants = Map::new();
    for v in &variants {
        eprintln!("loading variant {}", v.name);
        let mut entry = Map::new();
        entry.insert("from".into(), json!(v.from));
        entry.insert("variant".into(), json!(v.description));
        entry.extend(run(&v.path));
        out_variants.insert(v.name.clone(), Value::Object(entry));
    }

    let mut versions = Map::new();
    for l in &chosen {
        versions.insert(l.name().to_string(), json!(l.full_version()));
    }
    let doc = json!({
        "about": "What the real loaders did with each archive of testdata/real and with variants built from some of them (see README.md here). Per loader: verdict (loads: exit 0, possibly loading nothing; refuses: failed, nothing loaded; partial: failed after loading some images), exit_code, image_count, images (id: docker and podman the image ID, containerd the target digest; tags as the loader lists them) and error (the loader's standard error, trimmed; <input> is the archive's path, <tmp> the harness's temporary directory, N a random number).",
        "loaders": versions,
        "commands": {
            "docker": "docker load -i <input>",
            "containerd": "ctr -n test images import --all-platforms <input>",
            "podman": "podman --storage-driver vfs load -q -i <input>"
        },
        "files": out_files,
        "variants": out_variants,
    });
    let text = serde_json::to_string_pretty(&doc).unwrap() + "\n";

    for (loader, (total, n)) in &time {
        eprintln!(
            "{loader}: {n} loads in {:.1} s ({:.0} ms each on average)",
            total.as_secs_f64(),
            total.as_secs_f64() * 1000.0 / *n as f64
        );
    }
    match std::env::var("IMGTAR_OBSERVED_OUT") {
        Ok(p) if p == "-" => print!("{text}"),
        Ok(p) => std::fs::write(&p, text).unwrap(),
        Err(_) => {
            let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/loaders/observed.json");
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, text).unwrap();
            eprintln!("wrote {}", p.display());
        }
    }
}

/// A temporary directory named with lowercase letters and digits only, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("imgtar-observed-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------------------------
// Variants
// ---------------------------------------------------------------------------------------------

pub(crate) struct Variant {
    pub(crate) name: String,
    pub(crate) from: String,
    pub(crate) description: String,
    pub(crate) path: PathBuf,
}

const DIVE: &str = "dive-docker-1.10-whiteouts.tar";
const LEGACY: &str = "ggcr-legacy-repositories-only.tar";

pub(crate) fn build_variants(dir: &Path, files: &[(String, PathBuf)]) -> Vec<Variant> {
    let mut out = Vec::new();
    let mut add = |name: &str, from: &str, description: &str, bytes: Vec<u8>| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        out.push(Variant {
            name: name.to_string(),
            from: from.to_string(),
            description: description.to_string(),
            path,
        });
    };
    let read = |name: &str| std::fs::read(real_dir().join(name)).unwrap();

    // Every compressed archive, decompressed.
    for (name, path) in files {
        let bytes = std::fs::read(path).unwrap();
        if let Some((kind, plain)) = decompress(&bytes) {
            let stem = name
                .strip_suffix(".tar.gz")
                .or_else(|| name.strip_suffix(".tar.xz"))
                .or_else(|| name.strip_suffix(".tar"))
                .unwrap_or(name);
            add(
                &format!("{stem}+decompressed.tar"),
                name,
                &format!("the {kind} outer stream decompressed: the plain tar inside"),
                plain,
            );
        }
    }

    // The Docker 1.10-24 archive, recompressed.
    let dive = read(DIVE);
    add(
        "dive-docker-1.10-whiteouts+outer-gzip.tar.gz",
        DIVE,
        "the whole archive gzip-compressed",
        gzip(&dive),
    );
    add(
        "dive-docker-1.10-whiteouts+outer-bzip2.tar.bz2",
        DIVE,
        "the whole archive bzip2-compressed",
        bzip2(&dive),
    );
    add(
        "dive-docker-1.10-whiteouts+outer-xz.tar.xz",
        DIVE,
        "the whole archive xz-compressed",
        xz(&dive),
    );
    add(
        "dive-docker-1.10-whiteouts+outer-zstd.tar.zst",
        DIVE,
        "the whole archive zstd-compressed",
        zstd::encode_all(&dive[..], 3).unwrap(),
    );

    // Cut downloads the tar reader cannot see: the compressed stream cut inside its
    // trailer (the tar inside complete), and a plain tar cut before its end blocks.
    let gz = gzip(&dive);
    add(
        "dive-docker-1.10-whiteouts+outer-gzip-trailer-cut.tar.gz",
        DIVE,
        "the whole archive gzip-compressed, then its last 4 bytes (of the 8-byte trailer) cut",
        gz[..gz.len() - 4].to_vec(),
    );
    add(
        "dive-docker-1.10-whiteouts+no-end-blocks.tar",
        DIVE,
        "cut after the last member, before the zero blocks that end a tar",
        {
            let mut b = dive.clone();
            while b.len() >= 512 && b[b.len() - 512..].iter().all(|&x| x == 0) {
                b.truncate(b.len() - 512);
            }
            b
        },
    );

    // Legacy VERSION files saying 2.0.
    add(
        "dive-docker-1.10-whiteouts+version-2.0.tar",
        DIVE,
        "every <id>/VERSION says 2.0 (manifest.json present)",
        with_version(&dive, b"2.0"),
    );
    add(
        "ggcr-legacy-repositories-only+version-2.0.tar",
        LEGACY,
        "every <id>/VERSION says 2.0 (no manifest.json: the pre-1.10 path reads VERSION)",
        with_version(&read(LEGACY), b"2.0"),
    );

    // Member names that leave the archive's root.
    add(
        "dive-docker-1.10-whiteouts+absolute-names.tar",
        DIVE,
        "every member name has a leading / (/manifest.json, /<id>/layer.tar, ...)",
        rename_all(&dive, |n| format!("/{n}")),
    );
    add(
        "dive-docker-1.10-whiteouts+dotdot-member.tar",
        DIVE,
        "an extra first member ../imgtar-escape.txt (a regular file outside the archive's root)",
        with_first_member(&dive, "../imgtar-escape.txt", b"outside\n"),
    );
    add(
        "dive-docker-1.10-whiteouts+dotdot-inside-names.tar",
        DIVE,
        "every member name written as x/../<name> (a .. that stays inside the root)",
        rename_all(&dive, |n| format!("x/../{n}")),
    );

    // Layers stored compressed (the config's diff_ids stay those of the plain tars).
    add(
        "dive-docker-1.10-whiteouts+layers-gzip.tar",
        DIVE,
        "every layer.tar stored gzip-compressed under its old name (diff_ids unchanged)",
        with_layers(&dive, gzip),
    );
    add(
        "dive-docker-1.10-whiteouts+layers-zstd.tar",
        DIVE,
        "every layer.tar stored zstd-compressed under its old name (diff_ids unchanged)",
        with_layers(&dive, |b| zstd::encode_all(b, 3).unwrap()),
    );

    // Layer tars that end right after their last entry.
    add(
        "dive-docker-1.10-whiteouts+layers-without-eof-blocks.tar",
        DIVE,
        "every layer.tar cut after its last entry (no end-of-archive zero blocks); the config's diff_ids, its name and manifest.json updated to match",
        layers_without_eof(&dive, true),
    );
    add(
        "dive-docker-1.10-whiteouts+layers-without-eof-blocks-stale-diff-ids.tar",
        DIVE,
        "every layer.tar cut after its last entry; the config still names the diff_ids of the complete tars",
        layers_without_eof(&dive, false),
    );
    out
}

fn decompress(bytes: &[u8]) -> Option<(&'static str, Vec<u8>)> {
    let mut out = Vec::new();
    let kind = if bytes.starts_with(&[0x1f, 0x8b]) {
        flate2::read::MultiGzDecoder::new(bytes)
            .read_to_end(&mut out)
            .unwrap();
        "gzip"
    } else if bytes.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        liblzma::read::XzDecoder::new(bytes)
            .read_to_end(&mut out)
            .unwrap();
        "xz"
    } else if bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        out = zstd::decode_all(bytes).unwrap();
        "zstd"
    } else if bytes.starts_with(b"BZh") {
        bzip2::read::BzDecoder::new(bytes)
            .read_to_end(&mut out)
            .unwrap();
        "bzip2"
    } else {
        return None;
    };
    Some((kind, out))
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn xz(bytes: &[u8]) -> Vec<u8> {
    let mut e = liblzma::write::XzEncoder::new(Vec::new(), 6);
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn bzip2(bytes: &[u8]) -> Vec<u8> {
    let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

// ---------------------------------------------------------------------------------------------
// A raw tar, member by member: headers kept byte for byte, so a variant changes only what it
// means to change.
// ---------------------------------------------------------------------------------------------

struct Member {
    /// Extension records before the header (GNU long names, pax), raw.
    ext: Vec<u8>,
    header: [u8; 512],
    data: Vec<u8>,
}

impl Member {
    fn name(&self) -> String {
        assert!(
            self.ext.is_empty(),
            "extension records are not handled here"
        );
        let field = |r: std::ops::Range<usize>| {
            let f = &self.header[r];
            let end = f.iter().position(|&b| b == 0).unwrap_or(f.len());
            String::from_utf8_lossy(&f[..end]).into_owned()
        };
        let prefix = field(345..500);
        if &self.header[257..262] == b"ustar" && !prefix.is_empty() {
            format!("{prefix}/{}", field(0..100))
        } else {
            field(0..100)
        }
    }

    fn typeflag(&self) -> u8 {
        self.header[156]
    }

    fn set_name(&mut self, name: &str) {
        assert!(name.len() < 100, "{name}: too long for the name field");
        self.header[0..100].fill(0);
        self.header[..name.len()].copy_from_slice(name.as_bytes());
        if &self.header[257..262] == b"ustar" {
            self.header[345..500].fill(0);
        }
        self.fix_checksum();
    }

    fn set_data(&mut self, data: Vec<u8>) {
        let size = format!("{:011o}\0", data.len());
        self.header[124..136].copy_from_slice(size.as_bytes());
        self.data = data;
        self.fix_checksum();
    }

    fn fix_checksum(&mut self) {
        self.header[148..156].fill(b' ');
        let sum: u32 = self.header.iter().map(|&b| u32::from(b)).sum();
        let field = format!("{sum:06o}\0 ");
        self.header[148..156].copy_from_slice(field.as_bytes());
    }
}

fn parse_tar(bytes: &[u8]) -> Vec<Member> {
    let mut members = Vec::new();
    let mut at = 0usize;
    let mut ext = Vec::new();
    while at + 512 <= bytes.len() {
        let mut header = [0u8; 512];
        header.copy_from_slice(&bytes[at..at + 512]);
        if header.iter().all(|&b| b == 0) {
            break;
        }
        let size_field = String::from_utf8_lossy(&header[124..136]).into_owned();
        let size =
            usize::from_str_radix(size_field.trim_matches(|c: char| c == '\0' || c == ' '), 8)
                .unwrap_or(0);
        let padded = size.div_ceil(512) * 512;
        let data = bytes[at + 512..at + 512 + size].to_vec();
        match header[156] {
            b'L' | b'K' | b'x' | b'g' => {
                ext.extend_from_slice(&bytes[at..at + 512 + padded]);
            }
            _ => members.push(Member {
                ext: std::mem::take(&mut ext),
                header,
                data,
            }),
        }
        at += 512 + padded;
    }
    members
}

fn write_tar(members: &[Member]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in members {
        out.extend_from_slice(&m.ext);
        out.extend_from_slice(&m.header);
        out.extend_from_slice(&m.data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out.resize(out.len().div_ceil(10240) * 10240, 0);
    out
}

fn with_version(archive: &[u8], version: &[u8]) -> Vec<u8> {
    let mut members = parse_tar(archive);
    let mut changed = 0;
    for m in &mut members {
        if m.name().ends_with("/VERSION") {
            m.set_data(version.to_vec());
            changed += 1;
        }
    }
    assert!(changed > 0, "no VERSION member");
    write_tar(&members)
}

fn rename_all(archive: &[u8], f: impl Fn(&str) -> String) -> Vec<u8> {
    let mut members = parse_tar(archive);
    for m in &mut members {
        let name = f(&m.name());
        m.set_name(&name);
    }
    write_tar(&members)
}

fn with_first_member(archive: &[u8], name: &str, data: &[u8]) -> Vec<u8> {
    let mut members = parse_tar(archive);
    let template = members
        .iter()
        .find(|m| m.typeflag() == b'0')
        .expect("a regular file to copy the header from");
    let mut extra = Member {
        ext: Vec::new(),
        header: template.header,
        data: Vec::new(),
    };
    extra.set_name(name);
    extra.set_data(data.to_vec());
    members.insert(0, extra);
    write_tar(&members)
}

/// Every layer of the first manifest.json entry replaced by `f` of its bytes.
fn with_layers(archive: &[u8], f: impl Fn(&[u8]) -> Vec<u8>) -> Vec<u8> {
    let mut members = parse_tar(archive);
    let mi = members
        .iter()
        .position(|m| m.name() == "manifest.json")
        .expect("manifest.json");
    let manifest: Value = serde_json::from_slice(&members[mi].data).unwrap();
    for layer in manifest[0]["Layers"].as_array().unwrap() {
        let layer = layer.as_str().unwrap();
        let li = members
            .iter()
            .position(|m| m.name() == layer)
            .unwrap_or_else(|| panic!("no member {layer}"));
        assert_eq!(
            members[li].typeflag(),
            b'0',
            "{layer} is not a regular file"
        );
        let data = f(&members[li].data);
        members[li].set_data(data);
    }
    write_tar(&members)
}

/// The end of a layer tar's last entry (its data padded to 512), where the end-of-archive
/// blocks begin.
fn end_of_entries(layer: &[u8]) -> usize {
    let mut at = 0usize;
    while at + 512 <= layer.len() {
        let h = &layer[at..at + 512];
        if h.iter().all(|&b| b == 0) {
            return at;
        }
        let size_field = String::from_utf8_lossy(&h[124..136]).into_owned();
        let size =
            usize::from_str_radix(size_field.trim_matches(|c: char| c == '\0' || c == ' '), 8)
                .unwrap_or(0);
        at += 512 + size.div_ceil(512) * 512;
    }
    at.min(layer.len())
}

fn layers_without_eof(archive: &[u8], update_config: bool) -> Vec<u8> {
    let mut members = parse_tar(archive);
    let index = |members: &[Member], name: &str| {
        members
            .iter()
            .position(|m| m.name() == name)
            .unwrap_or_else(|| panic!("no member {name}"))
    };
    let mi = index(&members, "manifest.json");
    let mut manifest: Value = serde_json::from_slice(&members[mi].data).unwrap();
    let config_name = manifest[0]["Config"].as_str().unwrap().to_string();
    let layers: Vec<String> = manifest[0]["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect();
    let mut diff_ids = Vec::new();
    for layer in &layers {
        let li = index(&members, layer);
        assert_eq!(
            members[li].typeflag(),
            b'0',
            "{layer} is not a regular file"
        );
        let data = members[li].data.clone();
        let cut = data[..end_of_entries(&data)].to_vec();
        diff_ids.push(json!(format!("sha256:{}", sha256_hex(&cut))));
        members[li].set_data(cut);
    }
    if update_config {
        let ci = index(&members, &config_name);
        let mut config: Value = serde_json::from_slice(&members[ci].data).unwrap();
        config["rootfs"]["diff_ids"] = Value::Array(diff_ids);
        let bytes = serde_json::to_vec(&config).unwrap();
        let new_name = format!("{}.json", sha256_hex(&bytes));
        members[ci].set_data(bytes);
        members[ci].set_name(&new_name);
        manifest[0]["Config"] = json!(new_name);
        members[mi].set_data(serde_json::to_vec(&manifest).unwrap());
    }
    write_tar(&members)
}
