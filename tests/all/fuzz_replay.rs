//! Replays the fuzz seed corpora and every crash the fuzzers ever found (`fuzz/seeds/<target>/`
//! and `fuzz/regressions/<target>/`) through the same checks as the fuzz targets, on stable
//! Rust, so a fixed crash stays fixed.

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut n = 0;
    for dir in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let r = std::panic::catch_unwind(|| check(&data));
            assert!(r.is_ok(), "{target}: {} fails again", path.display());
            n += 1;
        }
    }
    n
}

#[test]
fn read_corpus() {
    assert!(
        replay("read", imgtar::fuzzing::read) > 0,
        "no seeds for read"
    );
}

#[test]
fn documents_corpus() {
    assert!(replay("documents", imgtar::fuzzing::documents) > 0);
}

#[test]
fn reference_corpus() {
    assert!(replay("reference", imgtar::fuzzing::reference) > 0);
}

#[test]
fn unpack_corpus() {
    assert!(replay("unpack", imgtar::fuzzing::unpack) > 0);
}
