//! Criterion benches of the reader, on `docker save` tarballs generated at bench time by the
//! project's own generator (`benches/gen/`, also `cargo run --example make-image`) into
//! `target/bench-images` (cached there, never committed).
//! Size: `IMGTAR_BENCH_MIB` (default 64) MiB of layer data in 4 layers.
//!
//! - `validate/*`: full validation of the tarball held in memory, one streaming pass
//!   (hashing, layer decompression, header walk): the reader's own throughput, not the disk's.
//! - `validate-file/*`: full validation from the file: indexed walk, members on all cores.
//! - `walk/*`: metadata-only read from the file (headers and JSON; layers skipped by seeking),
//!   reported per byte of the file so the contrast with full validation shows.
//! - `layer-changes/*`: reading with every layer entry recorded, then applying the layers into
//!   change sets and the flattened filesystem (per byte of the tarball).
//! - `gzip-layer/*`: one gzip layer blob of the generated image: inflate, DiffID, header walk
//!   (per decompressed byte).
//!
//! - `sha256/*`: each sha256 backend over 16 MiB in memory (`Sha256Backend`; the default build
//!   picks `sha2` where the CPU has SHA extensions, ring elsewhere), with the CPU's answer in
//!   the bench's name.
//!
//! Run: `cargo bench --bench read`

// A development tool, not the library: plain arithmetic and indexing on sizes it chose itself.
#![allow(
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

// The generator is shared with the `make-image` example, which uses other parts of it.
#[allow(dead_code)]
#[path = "gen/mod.rs"]
mod imggen;

fn generated(format: &str, gzip: bool, mib: u64) -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-images");
    std::fs::create_dir_all(&dir).ok()?;
    // The generator's version is in the name, so a changed generator regenerates.
    let out = dir.join(format!(
        "{format}-{mib}{}-g{}.tar",
        if gzip { "-gz" } else { "" },
        imggen::VERSION
    ));
    if !out.is_file() {
        let options = imggen::Options {
            output: out.clone(),
            size_mib: mib as f64,
            layers: 4,
            format: imggen::Format::parse(format)?,
            compression: if gzip {
                imggen::LayerCompression::Gzip(6)
            } else {
                imggen::LayerCompression::None
            },
            seed: 1,
            progress: true,
            ..imggen::Options::default()
        };
        if let Err(e) = imggen::generate(&options) {
            eprintln!("skipping {format}: generating {}: {e}", out.display());
            return None;
        }
    }
    Some(out)
}

const IMAGES: [(&str, &str, bool); 3] = [
    ("legacy", "legacy", false),
    ("docker25", "docker25", false),
    ("docker25-gzip-layers", "docker25", true),
];

fn mib() -> u64 {
    std::env::var("IMGTAR_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

fn bench(c: &mut Criterion) {
    let mib = mib();
    let mut g = c.benchmark_group("validate");
    g.sample_size(10);
    for (name, format, gzip) in IMAGES {
        let Some(bytes) = generated(format, gzip, mib).and_then(|p| std::fs::read(p).ok()) else {
            continue;
        };
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                let r = imgtar::read(&bytes[..]).expect("readable");
                assert!(r.is_valid());
                r.archive.images.len()
            })
        });
    }
    g.finish();
    for (group, metadata_only) in [("validate-file", false), ("walk", true)] {
        let mut g = c.benchmark_group(group);
        g.sample_size(10);
        for (name, format, gzip) in IMAGES {
            let Some(path) = generated(format, gzip, mib) else {
                continue;
            };
            let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            g.throughput(Throughput::Bytes(len));
            let reader = imgtar::Reader::new().verify(!metadata_only);
            g.bench_function(name, |b| {
                b.iter(|| {
                    let r = reader.open(&path).expect("readable");
                    assert!(r.is_valid());
                    r.archive.images.len()
                })
            });
        }
        g.finish();
    }
}

fn layers(c: &mut Criterion) {
    let mib = mib();
    let Some(bytes) = generated("docker25", false, mib).and_then(|p| std::fs::read(p).ok()) else {
        return;
    };
    let mut g = c.benchmark_group("layer-changes");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("docker25", |b| {
        b.iter(|| {
            let r = imgtar::Reader::new()
                .record_entries(true)
                .read(&bytes[..])
                .expect("readable");
            let img = &r.archive.images[0];
            let flat = imgtar::layer::flatten_image(&r.archive, img, Default::default())
                .expect("flattens");
            flat.changes.len()
        })
    });
    g.finish();

    let Some(gz) = generated("docker25", true, mib).and_then(|p| std::fs::read(p).ok()) else {
        return;
    };
    // The largest gzip blob of the image.
    let mut ar = tar::Archive::new(&gz[..]);
    let mut blob = Vec::new();
    for e in ar.entries().expect("tar") {
        let mut e = e.expect("entry");
        if e.size() > blob.len() as u64 && e.header().entry_type().is_file() {
            blob.clear();
            std::io::Read::read_to_end(&mut e, &mut blob).expect("read");
        }
    }
    let limits = imgtar::Limits::default();
    let out = imgtar::layer::scan_layer(&blob[..], &limits, Default::default())
        .expect("scan")
        .uncompressed_size;
    let mut g = c.benchmark_group("gzip-layer");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(out));
    g.bench_function("scan", |b| {
        b.iter(|| {
            imgtar::layer::scan_layer(&blob[..], &limits, Default::default())
                .expect("scan")
                .entries
        })
    });
    g.finish();
}

fn sha256(c: &mut Criterion) {
    use imgtar::{Hasher, Sha256Backend};
    let data: Vec<u8> = (0..16u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let cpu = if Sha256Backend::cpu_has_sha_extensions() {
        "cpu-sha-ext"
    } else {
        "cpu-no-sha-ext"
    };
    let mut g = c.benchmark_group("sha256");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(20);
    for backend in [Sha256Backend::Sha2, Sha256Backend::Ring] {
        let chosen = if backend == Sha256Backend::chosen() {
            "-chosen"
        } else {
            ""
        };
        g.bench_function(format!("{backend:?}{chosen}/{cpu}"), |b| {
            b.iter(|| {
                let mut h = Hasher::with_backend(backend);
                for chunk in data.chunks(1 << 20) {
                    h.update(chunk);
                }
                h.finish()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench, layers, sha256);
criterion_main!(benches);
