//! Criterion benches of the one-pass reader.
//!
//! `validate/*` reads a generated `docker save` tarball (written once per run by
//! `../shared/tools/make-big-image.py` into the target directory, never committed) from memory,
//! so the number is the reader's own throughput (hashing, layer decompression, header walk),
//! not the disk's. Size: `IMGTAR_BENCH_MIB` (default 64) MiB of layer data in 4 layers.
//!
//! Run: `cargo bench --bench read`

use std::path::{Path, PathBuf};
use std::process::Command;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn generated(format: &str, gzip: bool, mib: u64) -> Option<Vec<u8>> {
    let tool = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/tools/make-big-image.py");
    if !tool.is_file() {
        eprintln!("skipping {format}: {} not found", tool.display());
        return None;
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-images");
    std::fs::create_dir_all(&dir).ok()?;
    let out = dir.join(format!(
        "{format}-{mib}{}.tar",
        if gzip { "-gz" } else { "" }
    ));
    if !out.is_file() {
        let mut cmd = Command::new("python3");
        cmd.arg(&tool).arg("-o").arg(&out).args([
            "--size-mib",
            &mib.to_string(),
            "--layers",
            "4",
            "--format",
            format,
            "--seed",
            "1",
        ]);
        if gzip {
            cmd.arg("--gzip-layers");
        }
        let status = cmd.status().ok()?;
        if !status.success() {
            return None;
        }
    }
    std::fs::read(out).ok()
}

fn bench(c: &mut Criterion) {
    let mib: u64 = std::env::var("IMGTAR_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let mut g = c.benchmark_group("validate");
    g.sample_size(10);
    for (name, format, gzip) in [
        ("legacy", "legacy", false),
        ("docker25", "docker25", false),
        ("docker25-gzip-layers", "docker25", true),
    ] {
        let Some(bytes) = generated(format, gzip, mib) else {
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
}

criterion_group!(benches, bench);
criterion_main!(benches);
