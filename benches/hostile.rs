//! Criterion benches of hostile layer shapes, each as a series of sizes so that the growth
//! (linear, n log n, or worse) shows: reading with every entry recorded, then flattening the
//! image (whiteouts and opaque directories applied).
//!
//! - `opaque-nesting/N`: a lower layer of N nested directories (chains of 1 000), an upper
//!   layer that marks every one of them opaque (`.wh..wh..opq`) (GHSA-rp3h-jf77-q9p4). The
//!   input grows as N × 1 000 path bytes, so linear time here is linear in the input.
//! - `whiteout-subtree/N`: a lower layer of one directory holding N files, an upper layer
//!   that whites the directory out.
//! - `deep-path/N`: one file N directories deep (below `Limits::max_path_depth`). Each of
//!   the N implicit directories is a path of its own, listed in the change set with its
//!   whole name, so the output (and the time) grows as N²: per path, linear in its length.
//!
//! Run: `cargo bench --bench hostile` (results: `benches/RESULTS.md`).

// A development tool, not the library: plain arithmetic and indexing on sizes it chose itself.
#![allow(
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sha2::{Digest as _, Sha256};

fn hex(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// A layer tar of these (path, is directory) entries.
fn layer(entries: &[(String, bool)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, dir) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(if *dir { 0o755 } else { 0o644 });
        h.set_size(0);
        h.set_entry_type(if *dir {
            tar::EntryType::Directory
        } else {
            tar::EntryType::Regular
        });
        b.append_data(&mut h, path, &[][..]).unwrap();
    }
    b.into_inner().unwrap()
}

/// A Docker 1.10–24 archive of these layers.
fn archive(layers: &[Vec<u8>]) -> Vec<u8> {
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|l| format!("sha256:{}", hex(l)))
        .collect();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap();
    let config_name = format!("{}.json", hex(&config));
    let names: Vec<String> = (0..layers.len())
        .map(|i| format!("l{i}/layer.tar"))
        .collect();
    let manifest = serde_json::to_vec(&serde_json::json!([
        {"Config": config_name, "RepoTags": ["bench:latest"], "Layers": names}
    ]))
    .unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, name, data).unwrap();
    };
    add(&config_name, &config);
    for (n, l) in names.iter().zip(layers) {
        add(n, l);
    }
    add("manifest.json", &manifest);
    b.into_inner().unwrap()
}

/// `n` directories as chains of 1 000 nested ones (deeper would pass
/// `Limits::max_path_depth`).
fn nested(n: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(n);
    let mut p = String::new();
    for i in 0..n {
        if i % 1_000 == 0 {
            p = format!("c{}/", i / 1_000);
        } else {
            p.push_str("d/");
        }
        out.push(p.clone());
    }
    out
}

fn opaque_nesting(n: usize) -> Vec<u8> {
    let dirs = nested(n);
    let lower: Vec<(String, bool)> = dirs.iter().map(|d| (d.clone(), true)).collect();
    let mut upper = Vec::new();
    for d in &dirs {
        upper.push((d.clone(), true));
        upper.push((format!("{d}.wh..wh..opq"), false));
    }
    archive(&[layer(&lower), layer(&upper)])
}

fn whiteout_subtree(n: usize) -> Vec<u8> {
    let mut lower = vec![("big/".to_string(), true)];
    lower.extend((0..n).map(|i| (format!("big/f{i}"), false)));
    archive(&[layer(&lower), layer(&[(".wh.big".to_string(), false)])])
}

fn deep_path(n: usize) -> Vec<u8> {
    let file = format!("{}f", "d/".repeat(n));
    archive(&[layer(&[(file, false)])])
}

fn read_and_flatten(bytes: &[u8]) -> usize {
    let report = imgtar::Reader::new()
        .record_entries(true)
        .read(bytes)
        .unwrap();
    let img = &report.archive.images[0];
    let flat = imgtar::layer::flatten_image(&report.archive, img, Default::default()).unwrap();
    flat.changes.len()
}

fn series(c: &mut Criterion, name: &str, sizes: &[usize], make: fn(usize) -> Vec<u8>) {
    let mut g = c.benchmark_group(name);
    g.sample_size(10);
    for &n in sizes {
        let bytes = make(n);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &bytes, |b, bytes| {
            b.iter(|| read_and_flatten(bytes))
        });
    }
    g.finish();
}

fn benches(c: &mut Criterion) {
    series(c, "opaque-nesting", &[1_000, 4_000, 10_000], opaque_nesting);
    series(
        c,
        "whiteout-subtree",
        &[10_000, 40_000, 160_000],
        whiteout_subtree,
    );
    series(c, "deep-path", &[256, 512, 1_024, 2_000], deep_path);
}

criterion_group!(hostile, benches);
criterion_main!(hostile);
