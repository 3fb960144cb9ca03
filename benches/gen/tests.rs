//! Tests of the image generator (`benches/gen/mod.rs`), run by `cargo test` through the
//! `make-image` example (`test = true` in Cargo.toml): small images of every layout and layer
//! compression must validate with no finding above info, be deterministic for a seed, and
//! contain what the benches rely on (PAX headers, links, whiteouts, opaque directories).

use std::io::Read;
use std::path::Path;

use crate::imggen::{generate, Format, LayerCompression, Options, Summary};

fn small(dir: &Path, name: &str, format: Format, compression: LayerCompression) -> Options {
    Options {
        output: dir.join(name),
        size_mib: 3.0,
        layers: 4,
        files_per_layer: 400,
        format,
        compression,
        seed: 5,
        pool_mib: 2,
        ..Options::default()
    }
}

fn check_valid(path: &Path) {
    let report = imgtar::open(path).expect("readable");
    let bad: Vec<String> = report
        .findings
        .iter()
        .filter(|f| f.severity != imgtar::Severity::Info)
        .map(|f| f.to_string())
        .collect();
    assert!(
        report.is_valid() && bad.is_empty(),
        "{}: {bad:#?}",
        path.display()
    );
    assert_eq!(report.archive.images.len(), 1);
    assert_eq!(report.archive.images[0].layers.len(), 4);
}

#[test]
fn every_layout_and_compression_validates() {
    let dir = tempfile::tempdir().expect("tempdir");
    for format in [Format::Legacy, Format::Docker25, Format::Oci] {
        for compression in [
            LayerCompression::None,
            LayerCompression::Gzip(6),
            LayerCompression::Zstd(3),
        ] {
            let name = format!("{}-{compression:?}.tar", format.name());
            let s = generate(&small(dir.path(), &name, format, compression)).expect("generates");
            check_valid(&s.output);
            for l in &s.layers {
                match compression {
                    LayerCompression::None => assert_eq!(l.diff_id, l.blob_digest),
                    _ => assert!(l.blob_size < l.tar_size, "{name}: {l:?}"),
                }
            }
        }
    }
    // nothing left behind: no temporary layer files, no .partial
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("readdir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".tar"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

fn bytes(s: &Summary) -> Vec<u8> {
    let mut v = Vec::new();
    std::fs::File::open(&s.output)
        .and_then(|mut f| f.read_to_end(&mut v))
        .expect("read");
    v
}

#[test]
fn deterministic_for_a_seed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gz = LayerCompression::Gzip(6);
    let a = generate(&small(dir.path(), "a.tar", Format::Docker25, gz)).expect("a");
    let b = generate(&small(dir.path(), "b.tar", Format::Docker25, gz)).expect("b");
    assert!(
        bytes(&a) == bytes(&b),
        "same options and seed, different bytes"
    );
    let c = generate(&Options {
        seed: 6,
        ..small(dir.path(), "c.tar", Format::Docker25, gz)
    })
    .expect("c");
    assert_ne!(a.config_digest, c.config_digest);
}

#[test]
fn layers_have_what_real_layers_have() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = Options {
        size_mib: 8.0,
        files_per_layer: 600,
        ..small(
            dir.path(),
            "x.tar",
            Format::Legacy,
            LayerCompression::Gzip(6),
        )
    };
    let s = generate(&o).expect("generates");
    let sum = |f: fn(&crate::imggen::LayerSummary) -> u64| s.layers.iter().map(f).sum::<u64>();
    assert!(sum(|l| l.pax) > 0, "PAX headers");
    assert!(sum(|l| l.symlinks) > 0 && sum(|l| l.hardlinks) > 0, "links");
    assert!(
        sum(|l| l.whiteouts) > 0 && sum(|l| l.opaques) > 0,
        "whiteouts"
    );
    assert!(sum(|l| l.modified) > 0, "modified files");
    assert_eq!(s.layers[0].whiteouts + s.layers[0].opaques, 0);
    let tar: u64 = sum(|l| l.tar_size);
    let blob: u64 = sum(|l| l.blob_size);
    let ratio = tar as f64 / blob as f64;
    assert!((1.7..3.5).contains(&ratio), "gzip ratio {ratio:.2}");
    // the requested size is the uncompressed layer bytes (headers are estimated, so within a
    // few percent on an image this small)
    let want = (8.0 * (1u64 << 20) as f64) as u64;
    assert!(
        tar.abs_diff(want) < want / 20,
        "{tar} bytes of layers for {want}"
    );
    check_valid(&s.output);
}
