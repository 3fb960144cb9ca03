//! A generator of realistic synthetic `docker save` tarballs of a chosen size, for the benches
//! (`benches/read.rs`, `benches/compare.sh`) and the `make-image` example. Self-contained:
//! std, `tar`-free header writing, `flate2`, `zstd`, `sha2`, `hex` and `serde_json`.
//!
//! Formats ([`Format`]):
//! - `legacy`: Docker 1.10–24: `<v1id>/VERSION`, `<v1id>/json`, `<v1id>/layer.tar`,
//!   `<configdigest>.json`, `manifest.json`, `repositories`.
//! - `docker25`: Docker 25+: `oci-layout`, `index.json`, `blobs/sha256/<hex>` (layers, image
//!   config, OCI manifest, each layer's legacy v1 json), plus `manifest.json` and
//!   `repositories` (with compressed layers this is the shape of containerd/nerdctl exports).
//! - `oci`: a plain OCI image layout archive: `oci-layout`, `index.json`, `blobs/`.
//!
//! Every digest is correct: blob names and manifest/index descriptors are the sha256 of the
//! stored bytes, the config's `rootfs.diff_ids` the sha256 of the uncompressed layer tars, chain
//! IDs and v1 IDs are derived as Docker derives them.
//!
//! Layer contents: many files of mixed sizes (mostly small, a few large), directories,
//! symlinks, hardlinks, PAX headers (long paths, long link targets, non-ASCII names, xattrs)
//! and, in layers after the first, `.wh.<name>` whiteouts (of files and directories) and
//! `.wh..wh..opq` opaque markers of real paths of earlier layers. File data is drawn from a
//! seeded pool of text-like, code-like and random bytes, so gzip ratios are in the range real
//! layers have (about 2–3×).
//!
//! The output is deterministic for a given set of options and seed: the random numbers come
//! from a xoshiro256** generator defined here (not `rand`, whose small generators may change
//! between versions and differ between 32- and 64-bit targets). It streams: layers are written
//! one at a time to temporary files beside the output (peak disk use is about twice the layer
//! bytes), then the outer tar is assembled in the lexical walk order that Docker's archiver
//! produces, with `manifest.json` and `repositories` near the end, written to `OUT.partial` and
//! renamed. Memory is bounded by metadata plus the content pool, not by the image size.
//!
//! This is a Rust port of the project's earlier Python generator (same layouts, same shape of
//! content); it does not reproduce that tool's bytes.

// A development tool, not the library: plain arithmetic and indexing on sizes it chose itself.
#![allow(
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};

/// Bumped whenever the bytes written for the same options change, so that cached images
/// (`target/bench-images`, `target/compare`) are regenerated.
pub const VERSION: u32 = 1;

const BLOCK: usize = 512;

// ------------------------------------------------------------------------------------------
// options and summary
// ------------------------------------------------------------------------------------------

/// The archive layout to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Docker 1.10–24 layer directories, `manifest.json`, `repositories`.
    Legacy,
    /// Docker 25+: OCI layout plus `manifest.json` and `repositories`.
    Docker25,
    /// A plain OCI image layout.
    Oci,
}

impl Format {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Legacy => "legacy",
            Format::Docker25 => "docker25",
            Format::Oci => "oci",
        }
    }

    /// Parses a command-line name.
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "legacy" => Some(Format::Legacy),
            "docker25" => Some(Format::Docker25),
            "oci" => Some(Format::Oci),
            _ => None,
        }
    }
}

/// How layer blobs are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerCompression {
    /// Plain tar (blob digest = DiffID).
    None,
    /// gzip at the given level (0–9).
    Gzip(u32),
    /// zstd at the given level (1–22).
    Zstd(i32),
}

/// What to generate.
#[derive(Clone, Debug)]
pub struct Options {
    /// The output tarball.
    pub output: PathBuf,
    /// Total size of the *uncompressed* layer tars, MiB.
    pub size_mib: f64,
    /// Number of layers (at least 1).
    pub layers: usize,
    /// Average number of entries per layer (actual counts vary 0.5–1.5×; the first layer has
    /// 1.6×, the last of more than two 1/20).
    pub files_per_layer: usize,
    /// The archive layout.
    pub format: Format,
    /// How layer blobs are stored.
    pub compression: LayerCompression,
    /// The seed: same options and seed, same bytes.
    pub seed: u64,
    /// The image's `name:tag`.
    pub tag: String,
    /// Size of the seeded content pool, MiB.
    pub pool_mib: usize,
    /// Where layer temporary files go (default: beside the output).
    pub tmpdir: Option<PathBuf>,
    /// Print a line per layer and one for the archive on standard error.
    pub progress: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            output: PathBuf::from("image.tar"),
            size_mib: 200.0,
            layers: 6,
            files_per_layer: 3000,
            format: Format::Legacy,
            compression: LayerCompression::None,
            seed: 1,
            tag: "synthetic/app:latest".to_string(),
            pool_mib: 32,
            tmpdir: None,
            progress: false,
        }
    }
}

/// What one layer came out as.
#[derive(Clone, Debug, Default)]
pub struct LayerSummary {
    /// `sha256:` of the uncompressed tar.
    pub diff_id: String,
    /// Bytes of the uncompressed tar.
    pub tar_size: u64,
    /// `sha256:` of the stored blob.
    pub blob_digest: String,
    /// Bytes of the stored blob.
    pub blob_size: u64,
    /// Tar entries (not counting PAX headers).
    pub entries: u64,
    /// Directories.
    pub dirs: u64,
    /// Regular files (whiteouts and opaque markers not counted).
    pub files: u64,
    /// Symlinks.
    pub symlinks: u64,
    /// Hardlinks.
    pub hardlinks: u64,
    /// Entries preceded by a PAX extended header.
    pub pax: u64,
    /// Bytes of regular file data.
    pub file_bytes: u64,
    /// The largest regular file.
    pub largest_file: u64,
    /// `.wh.<name>` whiteouts.
    pub whiteouts: u64,
    /// `.wh..wh..opq` opaque markers.
    pub opaques: u64,
    /// Files of earlier layers rewritten.
    pub modified: u64,
}

/// What was written.
#[derive(Clone, Debug)]
pub struct Summary {
    /// The output path.
    pub output: PathBuf,
    /// The layout.
    pub format: Format,
    /// The layer compression.
    pub compression: LayerCompression,
    /// The seed.
    pub seed: u64,
    /// Bytes of the output file.
    pub size_bytes: u64,
    /// `sha256:` of the image config.
    pub config_digest: String,
    /// One per layer, bottom first.
    pub layers: Vec<LayerSummary>,
}

impl Summary {
    /// Tar entries over all layers.
    pub fn total_entries(&self) -> u64 {
        self.layers.iter().map(|l| l.entries).sum()
    }

    /// The summary as JSON (the Python tool's `--summary` fields, plus the compression).
    pub fn to_json(&self) -> Value {
        let (gzip, zstd) = match self.compression {
            LayerCompression::None => (false, false),
            LayerCompression::Gzip(_) => (true, false),
            LayerCompression::Zstd(_) => (false, true),
        };
        let layers: Vec<Value> = self
            .layers
            .iter()
            .map(|l| {
                json!({
                    "diff_id": l.diff_id, "tar_size": l.tar_size,
                    "blob_digest": l.blob_digest, "blob_size": l.blob_size,
                    "entries": l.entries, "dirs": l.dirs, "files": l.files,
                    "symlinks": l.symlinks, "hardlinks": l.hardlinks, "pax": l.pax,
                    "file_bytes": l.file_bytes, "largest_file": l.largest_file,
                    "whiteouts": l.whiteouts, "opaques": l.opaques, "modified": l.modified,
                })
            })
            .collect();
        json!({
            "output": self.output.display().to_string(),
            "format": self.format.name(),
            "gzip_layers": gzip,
            "zstd_layers": zstd,
            "seed": self.seed,
            "size_bytes": self.size_bytes,
            "config_digest": self.config_digest,
            "total_entries": self.total_entries(),
            "total_tar_bytes": self.layers.iter().map(|l| l.tar_size).sum::<u64>(),
            "total_blob_bytes": self.layers.iter().map(|l| l.blob_size).sum::<u64>(),
            "layers": layers,
        })
    }
}

// ------------------------------------------------------------------------------------------
// random numbers: xoshiro256** seeded through splitmix64
// ------------------------------------------------------------------------------------------

struct Rng {
    s: [u64; 4],
}

impl Rng {
    fn new(seed: u64) -> Rng {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        Rng {
            s: [next(), next(), next(), next()],
        }
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1).
    fn random(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [0, n); n > 0.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    /// Uniform in [a, b], both included.
    fn randint(&mut self, a: u64, b: u64) -> u64 {
        a + self.below(b - a + 1)
    }

    fn uniform(&mut self, a: f64, b: f64) -> f64 {
        a + (b - a) * self.random()
    }

    fn choice<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.index(v.len())]
    }

    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.random(); // (0, 1]
        let u2 = self.random();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    fn lognorm(&mut self, mu: f64, sigma: f64) -> f64 {
        (mu + sigma * self.normal()).exp()
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let x = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&x[..chunk.len()]);
        }
    }

    /// An index drawn with the weights whose running sums are `cum`.
    fn weighted(&mut self, cum: &[f64]) -> usize {
        let total = cum.last().copied().unwrap_or(0.0);
        let x = self.random() * total;
        cum.partition_point(|&c| c <= x).min(cum.len() - 1)
    }
}

// ------------------------------------------------------------------------------------------
// tar headers, Go archive/tar style: USTAR when it fits, else a PAX header first
// ------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum TypeFlag {
    Reg = b'0' as isize,
    Link = b'1' as isize,
    Symlink = b'2' as isize,
    Dir = b'5' as isize,
    Pax = b'x' as isize,
}

/// What one header describes (mode, owner and time beside the name).
struct Hdr<'a> {
    name: &'a str,
    size: u64,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: u64,
    typeflag: TypeFlag,
    linkname: &'a str,
    xattrs: &'a [(String, Vec<u8>)],
}

impl<'a> Hdr<'a> {
    fn new(name: &'a str, typeflag: TypeFlag) -> Hdr<'a> {
        Hdr {
            name,
            size: 0,
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 0,
            typeflag,
            linkname: "",
            xattrs: &[],
        }
    }
}

/// `width - 1` octal digits and a NUL, as Go's formatOctal writes them.
fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let s = format!("{value:0digits$o}");
    debug_assert!(
        s.len() == digits,
        "{value} does not fit in {digits} octal digits"
    );
    field[..digits].copy_from_slice(&s.as_bytes()[s.len() - digits..]);
    field[digits] = 0;
}

/// `(prefix, name)` if `name` fits USTAR's prefix/name split.
fn split_ustar(name: &[u8]) -> Option<(&[u8], &[u8])> {
    if name.len() <= 100 {
        return Some((&[], name));
    }
    let limit = (name.len() - 1).min(155);
    let mut end = limit + 1;
    while let Some(i) = name[..end].iter().rposition(|&c| c == b'/') {
        if i == 0 {
            break;
        }
        if name.len() - i - 1 <= 100 {
            return Some((&name[..i], &name[i + 1..]));
        }
        end = i;
    }
    None
}

/// `"%d key=value\n"` where `%d` counts the whole record.
fn pax_record(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    let n = 3 + key.len() + value.len(); // ' ', '=', '\n'
    let mut digits = n.to_string().len();
    while (n + digits).to_string().len() != digits {
        digits = (n + digits).to_string().len();
    }
    out.extend_from_slice((n + digits).to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key.as_bytes());
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

#[allow(clippy::too_many_arguments)]
fn raw_header(
    out: &mut Vec<u8>,
    name: &[u8],
    prefix: &[u8],
    h: &Hdr<'_>,
    size: u64,
    typeflag: TypeFlag,
    linkname: &[u8],
) {
    let start = out.len();
    out.resize(start + BLOCK, 0);
    let b = &mut out[start..];
    b[..name.len()].copy_from_slice(name);
    octal(&mut b[100..108], u64::from(h.mode));
    octal(&mut b[108..116], u64::from(h.uid));
    octal(&mut b[116..124], u64::from(h.gid));
    octal(&mut b[124..136], size);
    octal(&mut b[136..148], h.mtime);
    b[148..156].fill(b' ');
    b[156] = typeflag as u8;
    b[157..157 + linkname.len()].copy_from_slice(linkname);
    b[257..263].copy_from_slice(b"ustar\0");
    b[263..265].copy_from_slice(b"00");
    octal(&mut b[329..337], 0);
    octal(&mut b[337..345], 0);
    b[345..345 + prefix.len()].copy_from_slice(prefix);
    let sum: u32 = b.iter().map(|&c| u32::from(c)).sum();
    b[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
}

/// The largest size USTAR's 11 octal digits hold; beyond it the size goes in a PAX record.
const USTAR_MAX_SIZE: u64 = 0o777_7777_7777;

/// Appends the header block(s) for `h`: a PAX extended header first when the name, the link
/// target or the size does not fit USTAR, or when there are xattrs.
fn tar_header(out: &mut Vec<u8>, h: &Hdr<'_>) {
    let mut records = Vec::new();
    let nb = h.name.as_bytes();
    let split = if h.name.is_ascii() {
        split_ustar(nb)
    } else {
        None
    };
    let (prefix_f, name_f) = match split {
        Some(s) => s,
        None => {
            pax_record(&mut records, "path", nb);
            (&[][..], &nb[..nb.len().min(100)])
        }
    };
    let lb = h.linkname.as_bytes();
    let link_f = if lb.len() > 100 || !h.linkname.is_ascii() {
        pax_record(&mut records, "linkpath", lb);
        &lb[..100.min(lb.len())]
    } else {
        lb
    };
    let mut size_f = h.size;
    if h.size > USTAR_MAX_SIZE {
        pax_record(&mut records, "size", h.size.to_string().as_bytes());
        size_f = 0;
    }
    let mut xattrs: Vec<&(String, Vec<u8>)> = h.xattrs.iter().collect();
    xattrs.sort_by(|a, b| a.0.cmp(&b.0));
    for (k, v) in xattrs {
        pax_record(&mut records, &format!("SCHILY.xattr.{k}"), v);
    }
    if !records.is_empty() {
        let trimmed = h.name.trim_end_matches('/');
        let pax_name = match trimmed.rsplit_once('/') {
            Some((dir, base)) => format!("{dir}/PaxHeaders.0/{base}"),
            None => format!("PaxHeaders.0/{trimmed}"),
        };
        let pb = pax_name.as_bytes();
        let pax = Hdr {
            mode: 0,
            mtime: h.mtime,
            ..Hdr::new(&pax_name, TypeFlag::Pax)
        };
        raw_header(
            out,
            &pb[..pb.len().min(100)],
            &[],
            &pax,
            records.len() as u64,
            TypeFlag::Pax,
            &[],
        );
        out.extend_from_slice(&records);
        out.resize(out.len() + pad(records.len() as u64), 0);
    }
    raw_header(out, name_f, prefix_f, h, size_f, h.typeflag, link_f);
}

fn pad(n: u64) -> usize {
    ((BLOCK as u64 - n % BLOCK as u64) % BLOCK as u64) as usize
}

// ------------------------------------------------------------------------------------------
// content pool
// ------------------------------------------------------------------------------------------

const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyz";

fn zipf_cum(n: usize, s: f64) -> Vec<f64> {
    let mut acc = 0.0;
    (1..=n)
        .map(|k| {
            acc += 1.0 / (k as f64).powf(s);
            acc
        })
        .collect()
}

fn letters(rng: &mut Rng, lo: u64, hi: u64) -> String {
    let n = rng.randint(lo, hi);
    (0..n).map(|_| *rng.choice(LETTERS) as char).collect()
}

/// `size` bytes: interleaved segments of text-like, code-like and incompressible data (about
/// 50/35/15 by segments).
fn make_pool(rng: &mut Rng, size: usize) -> Vec<u8> {
    let mut vocab: Vec<Vec<u8>> = (0..4000)
        .map(|_| letters(rng, 2, 11).into_bytes())
        .collect();
    #[rustfmt::skip]
    const PUNCT: &[&str] = &[
        "\n", "\n", "  ", "\t", "{", "}", "(", ")", "=", ";", ":", ",", ".", "/", "_", "0", "1",
        "2", "#", "\"", "'", "<", ">", "-",
    ];
    for w in PUNCT {
        vocab.push(w.as_bytes().to_vec());
    }
    let text_cum = zipf_cum(vocab.len(), 1.05);
    // code-like: short byte sequences drawn from a skewed byte distribution (lots of
    // 0x00/0xff/REX prefixes), combined with zipf weights
    let mut table = Vec::with_capacity(256);
    #[rustfmt::skip]
    const SKEW: &[(u8, usize)] = &[
        (0x00, 40), (0xff, 10), (0x48, 8), (0x89, 6), (0x8b, 6), (0xe8, 4), (0x0f, 4), (0x24, 3),
        (0x44, 3), (0x4c, 3), (0x85, 2), (0xc3, 2), (0x74, 2), (0x75, 2),
    ];
    for &(b, w) in SKEW {
        table.extend(std::iter::repeat_n(b, w));
    }
    while table.len() < 256 {
        table.push(rng.below(256) as u8);
    }
    let code_tokens: Vec<Vec<u8>> = (0..6000)
        .map(|_| {
            let n = rng.randint(2, 12) as usize;
            let mut t = vec![0u8; n];
            rng.fill(&mut t);
            t.iter().map(|&c| table[usize::from(c)]).collect()
        })
        .collect();
    let code_cum = zipf_cum(code_tokens.len(), 0.9);
    let mut out = Vec::with_capacity(size + 65536);
    while out.len() < size {
        let seg = rng.randint(4096, 65536) as usize;
        let r = rng.random();
        let start = out.len();
        if r < 0.50 {
            for i in 0..seg / 5 {
                if i > 0 {
                    out.push(b' ');
                }
                out.extend_from_slice(&vocab[rng.weighted(&text_cum)]);
                if out.len() - start >= seg {
                    break;
                }
            }
        } else if r < 0.85 {
            for _ in 0..seg / 6 {
                out.extend_from_slice(&code_tokens[rng.weighted(&code_cum)]);
                if out.len() - start >= seg {
                    break;
                }
            }
        } else {
            out.resize(start + seg, 0);
            rng.fill(&mut out[start..]);
        }
        out.truncate(start + seg.min(out.len() - start));
    }
    out.truncate(size);
    out
}

// ------------------------------------------------------------------------------------------
// layer sink: a layer tar to a temporary file, hashed (and compressed) as it goes
// ------------------------------------------------------------------------------------------

/// Counts and hashes what goes through to the file.
struct HashWriter<W> {
    inner: W,
    hash: Sha256,
    n: u64,
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

type BlobWriter = HashWriter<BufWriter<File>>;

enum Encoder {
    Plain(BlobWriter),
    Gzip(flate2::write::GzEncoder<BlobWriter>),
    Zstd(zstd::stream::write::Encoder<'static, BlobWriter>),
}

struct LayerSink {
    buf: Vec<u8>,
    diff: Sha256,
    n: u64,
    enc: Encoder,
}

const FLUSH: usize = 1 << 20;

impl LayerSink {
    fn create(path: &Path, compression: LayerCompression) -> io::Result<LayerSink> {
        let file = HashWriter {
            inner: BufWriter::with_capacity(FLUSH, File::create(path)?),
            hash: Sha256::new(),
            n: 0,
        };
        let enc = match compression {
            LayerCompression::None => Encoder::Plain(file),
            LayerCompression::Gzip(level) => Encoder::Gzip(flate2::write::GzEncoder::new(
                file,
                flate2::Compression::new(level),
            )),
            LayerCompression::Zstd(level) => {
                Encoder::Zstd(zstd::stream::write::Encoder::new(file, level)?)
            }
        };
        Ok(LayerSink {
            buf: Vec::with_capacity(FLUSH + 65536),
            diff: Sha256::new(),
            n: 0,
            enc,
        })
    }

    fn write(&mut self, b: &[u8]) -> io::Result<()> {
        if b.len() >= 65536 {
            self.flush_buf()?;
            self.emit(b)
        } else {
            self.buf.extend_from_slice(b);
            if self.buf.len() >= FLUSH {
                self.flush_buf()?;
            }
            Ok(())
        }
    }

    fn zeros(&mut self, n: usize) -> io::Result<()> {
        self.write(&[0u8; BLOCK * 2][..n])
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            let buf = std::mem::take(&mut self.buf);
            self.emit(&buf)?;
            self.buf = buf;
            self.buf.clear();
        }
        Ok(())
    }

    fn emit(&mut self, b: &[u8]) -> io::Result<()> {
        self.diff.update(b);
        self.n += b.len() as u64;
        match &mut self.enc {
            Encoder::Plain(w) => w.write_all(b),
            Encoder::Gzip(w) => w.write_all(b),
            Encoder::Zstd(w) => w.write_all(b),
        }
    }

    /// `(diff_id, tar_size, blob_digest, blob_size)`.
    fn close(mut self) -> io::Result<(String, u64, String, u64)> {
        self.flush_buf()?;
        let mut file = match self.enc {
            Encoder::Plain(w) => w,
            Encoder::Gzip(w) => w.finish()?,
            Encoder::Zstd(w) => w.finish()?,
        };
        file.flush()?;
        Ok((sha_hex(self.diff), self.n, sha_hex(file.hash), file.n))
    }
}

fn sha_hex(h: Sha256) -> String {
    format!("sha256:{}", hex::encode(h.finalize()))
}

fn sha(b: &[u8]) -> String {
    sha_hex(Sha256::new_with_prefix(b))
}

// ------------------------------------------------------------------------------------------
// filesystem model
// ------------------------------------------------------------------------------------------

#[rustfmt::skip]
const BASE_DIRS: &[&str] = &[
    "bin", "sbin", "etc", "etc/apt", "etc/ssl", "etc/ssl/certs", "lib", "lib/x86_64-linux-gnu",
    "usr", "usr/bin", "usr/sbin", "usr/lib", "usr/lib/x86_64-linux-gnu", "usr/lib/python3",
    "usr/lib/python3/dist-packages", "usr/share", "usr/share/doc", "usr/share/man",
    "usr/share/man/man1", "usr/share/locale", "usr/share/zoneinfo", "usr/include", "usr/local",
    "usr/local/bin", "usr/local/lib", "usr/local/lib/node_modules", "var", "var/lib",
    "var/lib/dpkg", "var/lib/dpkg/info", "var/cache", "var/log", "opt", "root", "tmp", "home",
    "app", "app/src",
];
#[rustfmt::skip]
const DEEP_BASES: &[&str] = &[
    "usr/lib/python3/dist-packages", "usr/local/lib/node_modules", "usr/share/doc",
    "usr/lib/x86_64-linux-gnu", "usr/share/locale", "usr/include", "app/src", "usr/share/zoneinfo",
    "etc", "var/lib/dpkg/info", "opt", "usr/share/man",
];
#[rustfmt::skip]
const EXTS: &[&str] = &[
    "", "", "", ".so", ".so.1", ".so.6", ".py", ".pyc", ".js", ".json", ".h", ".txt", ".gz",
    ".conf", ".md", ".html", ".mo", ".css", ".list", ".md5sums", ".rb", ".go", ".ts", ".map",
];
const EXEC_DIRS: &[&str] = &["bin", "sbin", "usr/bin", "usr/sbin", "usr/local/bin"];
#[rustfmt::skip]
const UNICODE_NAMES: &[&str] = &[
    "résumé", "naïve-café", "日本語", "данные", "über-straße", "emoji-✓", "ελληνικά",
];
#[rustfmt::skip]
const CAP_NET_RAW: [u8; 20] = [
    0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Dir,
    File,
    Symlink,
    Hardlink,
    Whiteout,
    Opaque,
}

#[derive(Clone, Debug)]
struct Entry {
    path: String,
    kind: Kind,
    size: u64,
    mode: u32,
    uid: u32,
    mtime: u64,
    link: String,
    xattrs: Vec<(String, Vec<u8>)>,
}

impl Entry {
    fn new(path: String, kind: Kind, mode: u32, mtime: u64) -> Entry {
        Entry {
            path,
            kind,
            size: 0,
            mode,
            uid: 0,
            mtime,
            link: String::new(),
            xattrs: Vec::new(),
        }
    }
}

fn starts_with_any(p: &str, dirs: &[&str]) -> bool {
    dirs.iter().any(|d| p.starts_with(d))
}

fn word(rng: &mut Rng) -> String {
    letters(rng, 3, 12)
}

fn sample_size(rng: &mut Rng) -> u64 {
    let r = rng.random();
    if r < 0.03 {
        0
    } else if r < 0.82 {
        (rng.lognorm(1500f64.ln(), 1.2) as u64).min(200_000)
    } else if r < 0.985 {
        rng.lognorm(40_000f64.ln(), 1.0) as u64
    } else {
        rng.lognorm(2_000_000f64.ln(), 0.9) as u64
    }
}

/// What earlier layers created, so that later layers can modify, whiteout and opaque-mark
/// real earlier paths. The lists may hold removed paths; the sets say what is alive.
#[derive(Default)]
struct FsModel {
    dirs: Vec<String>,
    dir_alive: BTreeSet<String>,
    files: Vec<String>,
    file_alive: BTreeSet<String>,
}

fn pick_alive(
    rng: &mut Rng,
    list: &[String],
    alive: &BTreeSet<String>,
    pred: impl Fn(&str) -> bool,
) -> Option<String> {
    if alive.is_empty() {
        return None;
    }
    for _ in 0..50 {
        let p = rng.choice(list);
        if alive.contains(p) && pred(p) {
            return Some(p.clone());
        }
    }
    None
}

fn remove_under(set: &mut BTreeSet<String>, prefix: &str) {
    let doomed: Vec<String> = set
        .range(prefix.to_string()..)
        .take_while(|p| p.starts_with(prefix))
        .cloned()
        .collect();
    for p in doomed {
        set.remove(&p);
    }
}

impl FsModel {
    fn remove_subtree(&mut self, d: &str) {
        let prefix = format!("{d}/");
        self.dir_alive.remove(d);
        remove_under(&mut self.dir_alive, &prefix);
        remove_under(&mut self.file_alive, &prefix);
    }
}

/// One layer's entries in insertion order, by path.
#[derive(Default)]
struct LayerEntries {
    list: Vec<Entry>,
    index: HashMap<String, usize>,
}

impl LayerEntries {
    fn add(&mut self, e: Entry) -> bool {
        if self.index.contains_key(&e.path) {
            return false;
        }
        self.index.insert(e.path.clone(), self.list.len());
        self.list.push(e);
        true
    }
    fn contains(&self, p: &str) -> bool {
        self.index.contains_key(p)
    }
    /// True if this layer already has `t` or something below it.
    fn touches(&self, t: &str) -> bool {
        self.list.iter().any(|e| {
            e.path == t || (e.path.starts_with(t) && e.path.as_bytes().get(t.len()) == Some(&b'/'))
        })
    }
}

#[derive(Default)]
struct Counts {
    whiteouts: u64,
    opaques: u64,
    modified: u64,
}

fn depth_at_least_2(p: &str) -> bool {
    p.matches('/').count() >= 2
}

/// The entries of layer `idx`, in the order they are written.
fn build_layer(
    rng: &mut Rng,
    fs: &mut FsModel,
    idx: usize,
    n_target: usize,
    budget: u64,
    epoch: u64,
) -> (Vec<Entry>, Counts) {
    let mut entries = LayerEntries::default();
    let layer_mtime = epoch + idx as u64 * 86400;
    let mt = |rng: &mut Rng| layer_mtime - rng.randint(0, 3 * 365 * 86400);
    let mut counts = Counts::default();
    let mut wh_targets: HashSet<String> = HashSet::new();
    // true if p or one of its ancestors is whited out in this layer
    let blocked = |wh: &HashSet<String>, p: &str| {
        p.match_indices('/').any(|(i, _)| wh.contains(&p[..i])) || wh.contains(p)
    };

    if idx > 0 {
        // opaque directories (a RUN that removed and recreated a directory)
        for _ in 0..rng.randint(1, 3) {
            let d = pick_alive(rng, &fs.dirs, &fs.dir_alive, depth_at_least_2);
            if let Some(d) = d {
                if !entries.contains(&d) {
                    let m1 = mt(rng);
                    entries.add(Entry::new(d.clone(), Kind::Dir, 0o755, m1));
                    let m2 = mt(rng);
                    entries.add(Entry::new(
                        format!("{d}/.wh..wh..opq"),
                        Kind::Opaque,
                        0o644,
                        m2,
                    ));
                    fs.remove_subtree(&d);
                    fs.dir_alive.insert(d);
                    counts.opaques += 1;
                }
            }
        }
        // whiteouts of files and directories of earlier layers
        for _ in 0..((n_target as f64 * 0.02) as usize).max(1) {
            let (t, is_dir) = if rng.random() < 0.2 {
                (
                    pick_alive(rng, &fs.dirs, &fs.dir_alive, depth_at_least_2),
                    true,
                )
            } else {
                (pick_alive(rng, &fs.files, &fs.file_alive, |_| true), false)
            };
            let Some(t) = t else { continue };
            if entries.touches(&t) {
                continue;
            }
            let wh = match t.rsplit_once('/') {
                Some((parent, base)) => format!("{parent}/.wh.{base}"),
                None => format!(".wh.{t}"),
            };
            let m = mt(rng);
            if entries.add(Entry::new(wh, Kind::Whiteout, 0o644, m)) {
                counts.whiteouts += 1;
                if is_dir {
                    fs.remove_subtree(&t);
                } else {
                    fs.file_alive.remove(&t);
                }
                wh_targets.insert(t);
            }
        }
        // modifications of earlier regular files (new content, same path)
        for _ in 0..(n_target as f64 * 0.05) as usize {
            if let Some(t) = pick_alive(rng, &fs.files, &fs.file_alive, |_| true) {
                if !entries.contains(&t) {
                    let mode = if starts_with_any(&t, EXEC_DIRS) {
                        0o755
                    } else {
                        0o644
                    };
                    let m = mt(rng);
                    if entries.add(Entry::new(t, Kind::File, mode, m)) {
                        counts.modified += 1;
                    }
                }
            }
        }
    }

    let mut new_dirs: Vec<String> = Vec::new();
    if idx == 0 {
        for d in BASE_DIRS {
            let m = mt(rng);
            entries.add(Entry::new(d.to_string(), Kind::Dir, 0o755, m));
            new_dirs.push(d.to_string());
        }
    }
    new_dirs.extend(
        entries
            .list
            .iter()
            .filter(|e| e.kind == Kind::Dir)
            .map(|e| e.path.clone()),
    ); // opaque dirs
    let n_new_dirs = ((n_target as f64 * 0.07) as usize).max(1);
    for _ in 0..n_new_dirs {
        let r = rng.random();
        let parent = if r < 0.15 && (!new_dirs.is_empty() || !fs.dir_alive.is_empty()) {
            if !new_dirs.is_empty() && rng.random() < 0.7 {
                rng.choice(&new_dirs).clone()
            } else {
                match pick_alive(rng, &fs.dirs, &fs.dir_alive, |_| true) {
                    Some(p) => p,
                    None => rng.choice(DEEP_BASES).to_string(),
                }
            }
        } else if r < 0.55 && !new_dirs.is_empty() {
            rng.choice(&new_dirs).clone()
        } else {
            rng.choice(DEEP_BASES).to_string()
        };
        let d = if parent.starts_with("usr/local/lib/node_modules") && rng.random() < 0.5 {
            let a = word(rng);
            let b = word(rng);
            format!("{parent}/{a}/node_modules/{b}")
        } else {
            format!("{parent}/{}", word(rng))
        };
        if blocked(&wh_targets, &d) || fs.file_alive.contains(&d) {
            continue;
        }
        let m = mt(rng);
        if entries.add(Entry::new(d.clone(), Kind::Dir, 0o755, m)) {
            new_dirs.push(d);
        }
    }

    let mut active = new_dirs.clone();
    for _ in 0..fs.dir_alive.len().min(30) {
        if let Some(p) = pick_alive(rng, &fs.dirs, &fs.dir_alive, |_| true) {
            if !blocked(&wh_targets, &p) {
                active.push(p);
            }
        }
    }
    if active.is_empty() {
        active = BASE_DIRS
            .iter()
            .filter(|d| !blocked(&wh_targets, d))
            .map(|d| d.to_string())
            .collect();
        if active.is_empty() {
            active.push("srv".to_string());
        }
    }

    let remaining = n_target.saturating_sub(entries.list.len());
    for _ in 0..remaining {
        let d = rng.choice(&active).clone();
        let r = rng.random();
        let mut name = if r < 0.002 {
            format!("{}{}", rng.choice(UNICODE_NAMES), rng.choice(EXTS))
        } else {
            format!("{}{}", word(rng), rng.choice(EXTS))
        };
        if r < 0.0005 {
            // a very long name that USTAR's prefix/name split cannot hold
            let words: Vec<String> = (0..12).map(|_| word(rng)).collect();
            name = format!("{}.txt", words.join("-"));
        }
        let path = format!("{d}/{name}");
        if fs.dir_alive.contains(&path) || entries.contains(&path) {
            continue;
        }
        let r2 = rng.random();
        if r2 < 0.04 {
            let mut link = if rng.random() < 0.5 {
                let up = "../".repeat(rng.randint(0, 2) as usize);
                format!("{up}{}{}", word(rng), rng.choice(EXTS))
            } else {
                format!("/{}/{}", rng.choice(BASE_DIRS), word(rng))
            };
            if rng.random() < 0.02 {
                // longer than 100 bytes: a PAX linkpath
                let words: Vec<String> = (0..14).map(|_| word(rng)).collect();
                link = format!("/{}", words.join("/"));
            }
            let m = mt(rng);
            let mut e = Entry::new(path, Kind::Symlink, 0o777, m);
            e.link = link;
            entries.add(e);
        } else if r2 < 0.05 {
            let m = mt(rng);
            entries.add(Entry::new(path, Kind::Hardlink, 0o755, m));
        } else {
            let exec = starts_with_any(&d, EXEC_DIRS) || rng.random() < 0.05;
            let mode = if exec { 0o755 } else { 0o644 };
            let uid = if d.starts_with("app") { 1000 } else { 0 };
            let m = mt(rng);
            let mut e = Entry::new(path, Kind::File, mode, m);
            e.uid = uid;
            if idx == 0 && (d == "bin" || d == "usr/bin") && rng.random() < 0.05 {
                e.xattrs = vec![("security.capability".to_string(), CAP_NET_RAW.to_vec())];
            }
            entries.add(e);
        }
    }

    // sizes for regular files (new and modified), scaled to the layer budget
    for e in entries.list.iter_mut().filter(|e| e.kind == Kind::File) {
        e.size = sample_size(rng);
    }
    let overhead = 1024 + (BLOCK as u64 + 256) * entries.list.len() as u64; // headers, padding
    let target = budget.saturating_sub(overhead);
    let total: u64 = entries
        .list
        .iter()
        .filter(|e| e.kind == Kind::File)
        .map(|e| e.size)
        .sum();
    if total > target {
        let f = target as f64 / total as f64;
        for e in entries.list.iter_mut().filter(|e| e.kind == Kind::File) {
            e.size = (e.size as f64 * f) as u64;
        }
    } else if total > 0 && total < target {
        let mut regs: Vec<usize> = (0..entries.list.len())
            .filter(|&i| entries.list[i].kind == Kind::File)
            .collect();
        regs.sort_by(|&a, &b| entries.list[b].size.cmp(&entries.list[a].size));
        regs.truncate((regs.len() / 100).max(1));
        let bigsum = regs
            .iter()
            .map(|&i| entries.list[i].size)
            .sum::<u64>()
            .max(1);
        let extra = target - total;
        for i in regs {
            let s = entries.list[i].size;
            entries.list[i].size += (extra as f64 * s as f64 / bigsum as f64) as u64;
        }
    }

    // the ancestors of every entry are directories in the layer
    let paths: Vec<String> = entries.list.iter().map(|e| e.path.clone()).collect();
    for p in paths {
        for (i, _) in p.match_indices('/') {
            let a = &p[..i];
            if !entries.contains(a) {
                let m = mt(rng);
                entries.add(Entry::new(a.to_string(), Kind::Dir, 0o755, m));
            }
        }
    }

    let mut ordered = entries.list;
    ordered.sort_by(|a, b| a.path.split('/').cmp(b.path.split('/')));
    // hardlinks point at a regular file earlier in the stream
    let mut seen_regular: Vec<String> = Vec::new();
    for e in ordered.iter_mut() {
        if e.kind == Kind::Hardlink {
            if seen_regular.is_empty() {
                e.kind = Kind::File;
                e.size = rng.randint(0, 4096);
                e.mode = 0o644;
            } else {
                let recent = &seen_regular[seen_regular.len().saturating_sub(200)..];
                e.link = rng.choice(recent).clone();
            }
        }
        if e.kind == Kind::File {
            seen_regular.push(e.path.clone());
        }
    }

    // the model for later layers
    for e in &ordered {
        match e.kind {
            Kind::Dir => {
                if fs.dir_alive.insert(e.path.clone()) {
                    fs.dirs.push(e.path.clone());
                }
            }
            Kind::File | Kind::Hardlink | Kind::Symlink => {
                if fs.file_alive.insert(e.path.clone()) {
                    fs.files.push(e.path.clone());
                }
            }
            Kind::Whiteout | Kind::Opaque => {}
        }
    }
    (ordered, counts)
}

fn write_layer(
    rng: &mut Rng,
    ordered: &[Entry],
    sink: &mut LayerSink,
    pool: &[u8],
    st: &mut LayerSummary,
) -> io::Result<()> {
    let mut hdr = Vec::with_capacity(4 * BLOCK);
    let mut name = String::new();
    for e in ordered {
        st.entries += 1;
        hdr.clear();
        match e.kind {
            Kind::Dir => {
                name.clear();
                name.push_str(&e.path);
                name.push('/');
                let h = Hdr {
                    mode: e.mode,
                    uid: e.uid,
                    gid: e.uid,
                    mtime: e.mtime,
                    ..Hdr::new(&name, TypeFlag::Dir)
                };
                tar_header(&mut hdr, &h);
                st.dirs += 1;
            }
            Kind::Symlink | Kind::Hardlink => {
                let t = if e.kind == Kind::Symlink {
                    st.symlinks += 1;
                    TypeFlag::Symlink
                } else {
                    st.hardlinks += 1;
                    TypeFlag::Link
                };
                let h = Hdr {
                    mode: e.mode,
                    mtime: e.mtime,
                    linkname: &e.link,
                    ..Hdr::new(&e.path, t)
                };
                tar_header(&mut hdr, &h);
            }
            Kind::Whiteout | Kind::Opaque => {
                let h = Hdr {
                    mtime: e.mtime,
                    ..Hdr::new(&e.path, TypeFlag::Reg)
                };
                tar_header(&mut hdr, &h);
            }
            Kind::File => {
                let h = Hdr {
                    size: e.size,
                    mode: e.mode,
                    uid: e.uid,
                    gid: e.uid,
                    mtime: e.mtime,
                    xattrs: &e.xattrs,
                    ..Hdr::new(&e.path, TypeFlag::Reg)
                };
                tar_header(&mut hdr, &h);
                st.files += 1;
            }
        }
        if hdr[156] == TypeFlag::Pax as u8 {
            st.pax += 1;
        }
        sink.write(&hdr)?;
        if e.kind == Kind::File && e.size > 0 {
            let mut left = e.size;
            while left > 0 {
                let n = left.min(262_144).min(pool.len() as u64) as usize;
                let off = rng.below((pool.len() - n + 1) as u64) as usize;
                sink.write(&pool[off..off + n])?;
                left -= n as u64;
            }
            sink.zeros(pad(e.size))?;
            st.file_bytes += e.size;
            st.largest_file = st.largest_file.max(e.size);
        }
    }
    sink.zeros(2 * BLOCK)
}

// ------------------------------------------------------------------------------------------
// image metadata
// ------------------------------------------------------------------------------------------

fn jdump(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// Days since 1970-01-01 to (year, month, day) (Howard Hinnant's civil_from_days).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// RFC 3339 with nanoseconds as Go's `time.RFC3339Nano` writes them (trailing zeros trimmed);
/// the fraction is derived from `t` so that times look real but stay deterministic.
fn rfc3339(t: u64) -> String {
    let (y, mo, d) = civil((t / 86400) as i64);
    let s = t % 86400;
    let nanos = (t.wrapping_mul(7919)) % 1_000_000_000;
    let mut frac = format!(".{nanos:09}");
    while frac.ends_with('0') {
        frac.pop();
    }
    if frac == "." {
        frac.clear();
    }
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}{frac}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

fn empty_container_config() -> Value {
    json!({
        "Hostname": "", "Domainname": "", "User": "", "AttachStdin": false,
        "AttachStdout": false, "AttachStderr": false, "Tty": false, "OpenStdin": false,
        "StdinOnce": false, "Env": null, "Cmd": null, "Image": "", "Volumes": null,
        "WorkingDir": "", "Entrypoint": null, "OnBuild": null, "Labels": null,
    })
}

fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => sha(format!("{prev} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

/// The image config (bytes) and its `created`.
fn image_config(diff_ids: &[String], epoch: u64) -> (Vec<u8>, Value) {
    let mut history = Vec::new();
    for (i, d) in diff_ids.iter().enumerate() {
        let t = epoch + i as u64 * 86400;
        if i == 0 {
            history.push(json!({
                "created": rfc3339(t),
                "created_by": format!("/bin/sh -c #(nop) ADD file:{} in / ", &d[7..]),
            }));
            history.push(json!({
                "created": rfc3339(t + 1),
                "created_by": "/bin/sh -c #(nop)  CMD [\"bash\"]",
                "empty_layer": true,
            }));
        } else {
            history.push(json!({
                "created": rfc3339(t),
                "created_by": format!("RUN /bin/sh -c step-{i} # buildkit"),
                "comment": "buildkit.dockerfile.v0",
            }));
        }
    }
    history.push(json!({
        "created": rfc3339(epoch + diff_ids.len() as u64 * 86400),
        "created_by": "WORKDIR /app",
        "comment": "buildkit.dockerfile.v0",
        "empty_layer": true,
    }));
    let created = rfc3339(epoch + diff_ids.len() as u64 * 86400 + 60);
    let cfg = json!({
        "architecture": "amd64",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"],
            "Cmd": ["/usr/local/bin/app", "--serve"],
            "WorkingDir": "/app",
            "Labels": {"org.opencontainers.image.source": "synthetic", "maintainer": "nobody"},
            "ArgsEscaped": true,
            "OnBuild": null,
        },
        "created": created,
        "history": history,
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    (jdump(&cfg), cfg)
}

/// A layer's legacy v1 `json`, as Docker's save writes it (`id` empty: left out).
fn v1_layer_json(i: usize, n: usize, v1id: &str, parent: &str, cfg: &Value) -> Value {
    let mut j = Map::new();
    if !v1id.is_empty() {
        j.insert("id".into(), json!(v1id));
    }
    if !parent.is_empty() {
        j.insert("parent".into(), json!(parent));
    }
    if i + 1 == n {
        j.insert("created".into(), cfg["created"].clone());
        j.insert("container_config".into(), empty_container_config());
        j.insert("config".into(), cfg["config"].clone());
        j.insert("architecture".into(), cfg["architecture"].clone());
        j.insert("os".into(), cfg["os"].clone());
    } else {
        j.insert("created".into(), json!("1970-01-01T00:00:00Z"));
        j.insert("container_config".into(), empty_container_config());
        j.insert("os".into(), json!("linux"));
    }
    Value::Object(j)
}

/// Go's `json.Marshal` escapes of `<`, `>` and `&` (only in strings in compact JSON).
fn go_escape(s: String) -> String {
    s.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// v1 IDs as moby's `v1.CreateID` derives them: the v1 json without `id`, with `layer_id` (the
/// chain ID) and `parent` (the parent's v1 ID as a digest), top-level keys sorted as Go sorts a
/// `map[string]*json.RawMessage`, nested values as marshalled.
fn v1_ids(n: usize, cfg: &Value, chains: &[String]) -> Vec<String> {
    let mut ids: Vec<String> = Vec::with_capacity(n);
    for (i, chain) in chains.iter().enumerate().take(n) {
        let Value::Object(base) = v1_layer_json(i, n, "", "", cfg) else {
            unreachable!()
        };
        let mut keys: Vec<(String, Value)> = base.into_iter().collect();
        keys.push(("layer_id".into(), json!(chain)));
        if let Some(parent) = ids.last() {
            keys.push(("parent".into(), json!(format!("sha256:{parent}"))));
        }
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        let mut body = String::from("{");
        for (k, (key, v)) in keys.iter().enumerate() {
            if k > 0 {
                body.push(',');
            }
            body.push_str(&serde_json::to_string(key).unwrap_or_default());
            body.push(':');
            body.push_str(&serde_json::to_string(v).unwrap_or_default());
        }
        body.push('}');
        let id = sha(go_escape(body).as_bytes());
        ids.push(id[7..].to_string());
    }
    ids
}

// ------------------------------------------------------------------------------------------
// outer tar assembly
// ------------------------------------------------------------------------------------------

enum ItemKind {
    Dir,
    Data(Vec<u8>),
    /// A layer blob in a temporary file, moved into the archive and removed.
    File(PathBuf, u64),
}

struct OuterItem {
    name: String,
    kind: ItemKind,
    mtime: u64,
}

impl OuterItem {
    fn data(name: impl Into<String>, data: Vec<u8>, mtime: u64) -> OuterItem {
        OuterItem {
            name: name.into(),
            kind: ItemKind::Data(data),
            mtime,
        }
    }
    fn dir(name: impl Into<String>, mtime: u64) -> OuterItem {
        OuterItem {
            name: name.into(),
            kind: ItemKind::Dir,
            mtime,
        }
    }
}

fn write_outer(out_path: &Path, mut items: Vec<OuterItem>) -> io::Result<()> {
    items.sort_by(|a, b| {
        let ka = a.name.trim_end_matches('/').split('/');
        let kb = b.name.trim_end_matches('/').split('/');
        ka.cmp(kb)
    });
    let mut tmp = out_path.as_os_str().to_owned();
    tmp.push(".partial");
    let tmp = PathBuf::from(tmp);
    let mut f = BufWriter::with_capacity(FLUSH, File::create(&tmp)?);
    let mut hdr = Vec::with_capacity(4 * BLOCK);
    for it in &items {
        hdr.clear();
        match &it.kind {
            ItemKind::Dir => {
                let h = Hdr {
                    mode: 0o755,
                    mtime: it.mtime,
                    ..Hdr::new(&it.name, TypeFlag::Dir)
                };
                tar_header(&mut hdr, &h);
                f.write_all(&hdr)?;
            }
            ItemKind::Data(data) => {
                let h = Hdr {
                    size: data.len() as u64,
                    mtime: it.mtime,
                    ..Hdr::new(&it.name, TypeFlag::Reg)
                };
                tar_header(&mut hdr, &h);
                f.write_all(&hdr)?;
                f.write_all(data)?;
                f.write_all(&[0u8; BLOCK][..pad(data.len() as u64)])?;
            }
            ItemKind::File(path, size) => {
                let h = Hdr {
                    size: *size,
                    mtime: it.mtime,
                    ..Hdr::new(&it.name, TypeFlag::Reg)
                };
                tar_header(&mut hdr, &h);
                f.write_all(&hdr)?;
                f.flush()?;
                // File to File: the kernel copies (copy_file_range) where it can
                let copied = io::copy(&mut File::open(path)?, f.get_mut())?;
                if copied != *size {
                    return Err(io::Error::other(format!(
                        "{}: {copied} bytes, expected {size}",
                        path.display()
                    )));
                }
                f.write_all(&[0u8; BLOCK][..pad(*size)])?;
                std::fs::remove_file(path)?;
            }
        }
    }
    f.write_all(&[0u8; 2 * BLOCK])?;
    f.flush()?;
    drop(f);
    std::fs::rename(&tmp, out_path)
}

/// Removes the layer temporary files that are still there (on error or panic).
struct TempFiles(Vec<PathBuf>);

impl Drop for TempFiles {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

// ------------------------------------------------------------------------------------------
// the whole image
// ------------------------------------------------------------------------------------------

/// Writes the image `o` describes and says what came out.
pub fn generate(o: &Options) -> io::Result<Summary> {
    if o.layers < 1 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "at least one layer",
        ));
    }
    if o.size_mib.is_nan() || o.size_mib < 0.0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "size must be >= 0",
        ));
    }
    let pool_size = o.pool_mib.max(1) << 20;
    let mut rng = Rng::new(o.seed);
    let pool = make_pool(
        &mut Rng::new(o.seed.wrapping_mul(1_000_003).wrapping_add(17)),
        pool_size,
    );
    let tmpdir = match &o.tmpdir {
        Some(d) => d.clone(),
        None => std::path::absolute(&o.output)?
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(".")),
    };
    let total = (o.size_mib * (1u64 << 20) as f64) as u64;
    let epoch = 1_700_000_000 + (o.seed % 1000) * 3600;
    let n = o.layers;

    let mut weights = Vec::with_capacity(n);
    for i in 0..n {
        weights.push(if i == 0 {
            rng.uniform(2.0, 3.5)
        } else if i == n - 1 && n > 2 {
            0.03
        } else {
            rng.lognorm(0.0, 0.8)
        });
    }
    let wsum: f64 = weights.iter().sum();
    let mut counts: Vec<usize> = (0..n)
        .map(|i| {
            let f = if i == 0 { 1.6 } else { rng.uniform(0.5, 1.5) };
            ((o.files_per_layer as f64 * f) as usize).max(8)
        })
        .collect();
    if n > 2 {
        counts[n - 1] = (o.files_per_layer / 20).max(8);
    }

    let mut fs = FsModel::default();
    let mut layers: Vec<LayerSummary> = Vec::with_capacity(n);
    let mut temps = TempFiles(Vec::with_capacity(n));
    for i in 0..n {
        let budget = (total as f64 * weights[i] / wsum) as u64;
        let (ordered, c) = build_layer(&mut rng, &mut fs, i, counts[i], budget, epoch);
        let tmp = tmpdir.join(format!(".mkimg-{}-{}-{i}.tmp", std::process::id(), o.seed));
        temps.0.push(tmp.clone());
        let mut sink = LayerSink::create(&tmp, o.compression)?;
        let mut st = LayerSummary::default();
        write_layer(&mut rng, &ordered, &mut sink, &pool, &mut st)?;
        drop(ordered);
        let (diff_id, tar_size, blob_digest, blob_size) = sink.close()?;
        st.diff_id = diff_id;
        st.tar_size = tar_size;
        st.blob_digest = blob_digest;
        st.blob_size = blob_size;
        st.whiteouts = c.whiteouts;
        st.opaques = c.opaques;
        st.modified = c.modified;
        if o.progress {
            eprintln!(
                "layer {}/{n}: {} entries, {:.1} MiB tar, {:.1} MiB blob",
                i + 1,
                st.entries,
                st.tar_size as f64 / (1u64 << 20) as f64,
                st.blob_size as f64 / (1u64 << 20) as f64
            );
        }
        layers.push(st);
    }

    let diff_ids: Vec<String> = layers.iter().map(|l| l.diff_id.clone()).collect();
    let (cfg_bytes, cfg) = image_config(&diff_ids, epoch);
    let cfg_digest = sha(&cfg_bytes);
    let chains = chain_ids(&diff_ids);
    let (name, tag) = match o.tag.rsplit_once(':') {
        Some((nm, t)) if !t.contains('/') => (nm.to_string(), t.to_string()),
        _ => (o.tag.clone(), "latest".to_string()),
    };
    let first = name.split('/').next().unwrap_or("");
    let full_name = if name.contains('/') && (first.contains('.') || first.contains(':')) {
        name.clone()
    } else if name.contains('/') {
        format!("docker.io/{name}")
    } else {
        format!("docker.io/library/{name}")
    };
    let mtime_img = epoch + n as u64 * 86400 + 60;
    let mut items: Vec<OuterItem> = Vec::new();
    let layer_mt = match o.compression {
        LayerCompression::None => "application/vnd.oci.image.layer.v1.tar",
        LayerCompression::Gzip(_) => "application/vnd.oci.image.layer.v1.tar+gzip",
        LayerCompression::Zstd(_) => "application/vnd.oci.image.layer.v1.tar+zstd",
    };
    let ref_tag = format!("{name}:{tag}");

    match o.format {
        Format::Legacy => {
            let ids = v1_ids(n, &cfg, &chains);
            items.push(OuterItem::data(
                format!("{}.json", &cfg_digest[7..]),
                cfg_bytes.clone(),
                mtime_img,
            ));
            for (i, l) in layers.iter().enumerate() {
                let parent = if i > 0 { ids[i - 1].as_str() } else { "" };
                items.push(OuterItem::dir(format!("{}/", ids[i]), mtime_img));
                items.push(OuterItem::data(
                    format!("{}/VERSION", ids[i]),
                    b"1.0".to_vec(),
                    mtime_img,
                ));
                items.push(OuterItem::data(
                    format!("{}/json", ids[i]),
                    jdump(&v1_layer_json(i, n, &ids[i], parent, &cfg)),
                    mtime_img,
                ));
                items.push(OuterItem {
                    name: format!("{}/layer.tar", ids[i]),
                    kind: ItemKind::File(temps.0[i].clone(), l.blob_size),
                    mtime: mtime_img,
                });
            }
            let layer_paths: Vec<String> = ids.iter().map(|id| format!("{id}/layer.tar")).collect();
            let manifest = json!([{
                "Config": format!("{}.json", &cfg_digest[7..]),
                "RepoTags": [ref_tag],
                "Layers": layer_paths,
            }]);
            let mut m = jdump(&manifest);
            m.push(b'\n');
            items.push(OuterItem::data("manifest.json", m, 0));
            let mut r = jdump(&json!({ name.clone(): { tag.clone(): ids[n - 1] } }));
            r.push(b'\n');
            items.push(OuterItem::data("repositories", r, 0));
        }
        Format::Docker25 | Format::Oci => {
            // by digest, in the order first added (identical blobs are stored once)
            let mut blobs: Vec<OuterItem> = Vec::new();
            let mut seen: HashSet<String> = HashSet::new();
            for (i, l) in layers.iter().enumerate() {
                let hex = &l.blob_digest[7..];
                if seen.insert(hex.to_string()) {
                    blobs.push(OuterItem {
                        name: format!("blobs/sha256/{hex}"),
                        kind: ItemKind::File(temps.0[i].clone(), l.blob_size),
                        mtime: mtime_img,
                    });
                } else {
                    let _ = std::fs::remove_file(&temps.0[i]);
                }
            }
            let mut add_blob = |digest: &str, data: Vec<u8>, mtime: u64| {
                if seen.insert(digest[7..].to_string()) {
                    blobs.push(OuterItem::data(
                        format!("blobs/sha256/{}", &digest[7..]),
                        data,
                        mtime,
                    ));
                }
            };
            add_blob(&cfg_digest, cfg_bytes.clone(), mtime_img);
            let platform = json!({"architecture": cfg["architecture"], "os": cfg["os"]});
            let mut config_desc = json!({
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": cfg_digest,
                "size": cfg_bytes.len(),
            });
            if o.format == Format::Docker25 {
                config_desc["platform"] = platform.clone();
            }
            let layer_descs: Vec<Value> = layers
                .iter()
                .map(|l| json!({"mediaType": layer_mt, "digest": l.blob_digest, "size": l.blob_size}))
                .collect();
            let man = json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": config_desc,
                "layers": layer_descs,
            });
            let man_bytes = jdump(&man);
            let man_digest = sha(&man_bytes);
            add_blob(&man_digest, man_bytes.clone(), 0);
            let mut idx_desc = json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": man_digest,
                "size": man_bytes.len(),
            });
            if o.format == Format::Docker25 {
                idx_desc["annotations"] = json!({
                    "io.containerd.image.name": format!("{full_name}:{tag}"),
                    "org.opencontainers.image.ref.name": tag,
                });
                idx_desc["platform"] = platform;
                // Docker 25 also stores each layer's legacy v1 json as a blob
                let ids = v1_ids(n, &cfg, &chains);
                for i in 0..n {
                    let parent = if i > 0 { ids[i - 1].as_str() } else { "" };
                    let vj = jdump(&v1_layer_json(i, n, &ids[i], parent, &cfg));
                    add_blob(&sha(&vj), vj, mtime_img);
                }
            } else {
                idx_desc["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
            }
            let index = json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": [idx_desc],
            });
            items.push(OuterItem::dir("blobs/", mtime_img));
            items.push(OuterItem::dir("blobs/sha256/", mtime_img));
            items.extend(blobs);
            items.push(OuterItem::data("index.json", jdump(&index), 0));
            items.push(OuterItem::data(
                "oci-layout",
                b"{\"imageLayoutVersion\": \"1.0.0\"}".to_vec(),
                0,
            ));
            if o.format == Format::Docker25 {
                let layer_paths: Vec<String> = layers
                    .iter()
                    .map(|l| format!("blobs/sha256/{}", &l.blob_digest[7..]))
                    .collect();
                let manifest = json!([{
                    "Config": format!("blobs/sha256/{}", &cfg_digest[7..]),
                    "RepoTags": [ref_tag],
                    "Layers": layer_paths,
                }]);
                let mut m = jdump(&manifest);
                m.push(b'\n');
                items.push(OuterItem::data("manifest.json", m, 0));
                let top = &layers[n - 1].diff_id[7..];
                let mut r = jdump(&json!({ name.clone(): { tag.clone(): top } }));
                r.push(b'\n');
                items.push(OuterItem::data("repositories", r, 0));
            }
        }
    }

    if let Err(e) = write_outer(&o.output, items) {
        let mut partial = o.output.as_os_str().to_owned();
        partial.push(".partial");
        let _ = std::fs::remove_file(partial);
        return Err(e);
    }
    temps.0.clear(); // moved into the archive and removed
    let size_bytes = std::fs::metadata(&o.output)?.len();
    let summary = Summary {
        output: o.output.clone(),
        format: o.format,
        compression: o.compression,
        seed: o.seed,
        size_bytes,
        config_digest: cfg_digest,
        layers,
    };
    if o.progress {
        eprintln!(
            "wrote {}: {:.1} MiB, {n} layers, {} inner entries",
            o.output.display(),
            size_bytes as f64 / (1u64 << 20) as f64,
            summary.total_entries()
        );
    }
    Ok(summary)
}
