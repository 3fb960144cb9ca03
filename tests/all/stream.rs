//! The same archive read from a file, from a reader that returns short random-length reads (as
//! a pipe does), and from an extracted directory gives the same model and findings.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use imgtar::{Code, Reader, Report};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Returns at most a random 1..=max bytes per read, and sometimes `Interrupted`.
struct ShortReads<R> {
    inner: R,
    rng: SmallRng,
    max: usize,
}

impl<R: Read> Read for ShortReads<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.rng.random_ratio(1, 50) {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "try again"));
        }
        let n = self.rng.random_range(1..=self.max.min(buf.len()));
        self.inner.read(&mut buf[..n])
    }
}

fn real(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/real")
        .join(file)
}

fn files() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(real(""))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tar"))
        .collect();
    v.sort();
    v
}

/// Everything observable, as JSON (the model serializes with serde).
fn fingerprint(r: &Report) -> String {
    let members: Vec<_> = r
        .archive
        .members
        .iter()
        .map(|m| {
            (
                m.path.clone(),
                m.offset,
                m.size,
                m.digest.clone(),
                m.layer.clone().map(|l| (l.diff_id, l.entries, l.whiteouts)),
            )
        })
        .collect();
    serde_json::to_string(&(
        &r.archive,
        &r.findings,
        serde_json::to_value(&members).unwrap(),
    ))
    .unwrap()
}

#[test]
fn short_reads_give_the_same_report_for_every_corpus_file() {
    for (seed, file) in files().iter().enumerate() {
        let whole = Reader::new().open(real(file)).unwrap();
        for max in [1usize, 7, 4096] {
            if max == 1 && std::fs::metadata(real(file)).unwrap().len() > 100_000 {
                continue; // byte-at-a-time on megabytes is slow and adds nothing over 7
            }
            let input = ShortReads {
                inner: std::fs::File::open(real(file)).unwrap(),
                rng: SmallRng::seed_from_u64(seed as u64 * 31 + max as u64),
                max,
            };
            let piped = Reader::new().read(input).unwrap();
            assert!(
                fingerprint(&whole) == fingerprint(&piped),
                "{file} with reads of at most {max}: findings {:#?}",
                piped.findings
            );
        }
    }
}

#[test]
fn stdin_dash_is_accepted_by_the_cli() {
    let exe = env!("CARGO_BIN_EXE_imgtar");
    let file = real("podman-docker-two-images.tar.xz");
    let out = std::process::Command::new(exe)
        .args(["validate", "--json", "-"])
        .stdin(std::fs::File::open(&file).unwrap())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let from_pipe: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let out = std::process::Command::new(exe)
        .args(["validate", "--json"])
        .arg(&file)
        .output()
        .unwrap();
    let from_file: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(from_pipe, from_file);
    assert_eq!(from_file["images"].as_array().unwrap().len(), 2);
}

#[test]
fn an_extracted_directory_gives_the_same_images() {
    for file in [
        "dive-docker-1.10-whiteouts.tar",
        "snyk-docker25-hello-world.tar",
        "snyk-skopeo-opaque-symlinks.tar",
        "dive-oci-zstd.tar",
    ] {
        let tar_report = Reader::new().open(real(file)).unwrap();
        let dir = std::env::temp_dir().join(format!("imgtar-test-{}-{file}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut ar = tar::Archive::new(std::fs::File::open(real(file)).unwrap());
        ar.set_preserve_permissions(false);
        ar.unpack(&dir).unwrap();
        let dir_report = Reader::new().open(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let ids = |r: &Report| {
            r.archive
                .images
                .iter()
                .map(|i| {
                    (
                        i.id.clone(),
                        i.repo_tags.clone(),
                        i.layers
                            .iter()
                            .map(|l| l.computed_diff_id.clone())
                            .collect::<Vec<_>>(),
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&tar_report), ids(&dir_report), "{file}");
        assert_eq!(tar_report.is_valid(), dir_report.is_valid(), "{file}");
        assert!(dir_report
            .archive
            .members
            .iter()
            .all(|m| m.offset.is_none()));
    }
}

#[test]
fn unreadable_input_is_a_report_and_a_failing_reader_an_error() {
    for (what, bytes, code) in [
        ("empty", Vec::new(), Code::EmptyInput),
        (
            "text",
            b"hello, this is not a tar archive at all".repeat(40),
            Code::NotATar,
        ),
        ("short", vec![0u8; 100], Code::NotATar),
        (
            "truncated gzip",
            vec![0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0xff, 1, 2, 3],
            Code::TruncatedArchive,
        ),
    ] {
        let r = Reader::new()
            .read(&bytes[..])
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(!r.is_valid() && !r.valid, "{what}: {:#?}", r.findings);
        assert!(
            r.findings
                .iter()
                .any(|f| f.code == code && f.severity == imgtar::Severity::Error),
            "{what}: no {code}: {:#?}",
            r.findings
        );
        assert!(r.archive.images.is_empty(), "{what}");
    }
    // Only the reader's own failure is an error, with the offset it failed at.
    struct Failing(usize);
    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0 == 0 {
                return Err(io::Error::other("the disk is on fire"));
            }
            let n = self.0.min(buf.len());
            buf[..n].fill(0);
            self.0 -= n;
            Ok(n)
        }
    }
    match Reader::new().read(Failing(0)) {
        Err(imgtar::Error::Read { offset: 0, .. }) => {}
        other => panic!("{other:?}"),
    }
    let bytes = std::fs::read(real("snyk-docker25-hello-world.tar")).unwrap();
    let reader = io::Read::chain(&bytes[..4096], Failing(0));
    match Reader::new().read(reader) {
        Err(imgtar::Error::Read { offset, .. }) => assert_eq!(offset, 4096),
        other => panic!("{other:?}"),
    }
}

/// Cut and padded variants of a real archive, written to files so that `open` takes the
/// indexed path, must give exactly what the streaming path gives.
#[test]
fn indexed_and_streaming_walks_agree_on_damaged_files() {
    let dir = std::env::temp_dir().join(format!("imgtar-damaged-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for file in [
        "dive-docker-1.10-whiteouts.tar",
        "snyk-docker25-hello-world.tar",
        "ggcr-symlink-layer-two-images.tar",
    ] {
        let bytes = std::fs::read(real(file)).unwrap();
        let len = bytes.len();
        let mut variants: Vec<(String, Vec<u8>)> = vec![
            ("whole".into(), bytes.clone()),
            ("no end blocks".into(), {
                let mut b = bytes.clone();
                while b.len() >= 512 && b[b.len() - 512..].iter().all(|&x| x == 0) {
                    b.truncate(b.len() - 512);
                }
                b
            }),
            ("garbage after".into(), {
                let mut b = bytes.clone();
                b.extend_from_slice(b"trailing garbage");
                b
            }),
            ("zeros after".into(), {
                let mut b = bytes.clone();
                b.extend(std::iter::repeat_n(0u8, 4096));
                b
            }),
        ];
        for cut in [len / 3, len / 2 + 100, len - 3000, 1000, 512] {
            variants.push((format!("cut at {cut}"), bytes[..cut].to_vec()));
        }
        for (what, data) in variants {
            let path = dir.join("x.tar");
            std::fs::write(&path, &data).unwrap();
            let indexed = Reader::new().open(&path);
            let streamed = Reader::new().read(&data[..]);
            match (indexed, streamed) {
                (Ok(a), Ok(b)) => assert!(
                    fingerprint(&a) == fingerprint(&b),
                    "{file}, {what}: indexed {:#?}\nstreamed {:#?}",
                    a.findings,
                    b.findings
                ),
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{file}, {what}"),
                (a, b) => panic!("{file}, {what}: {a:?} vs {b:?}"),
            }
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn one_thread_and_many_give_the_same_report() {
    for file in files() {
        let one = Reader::new().threads(1).open(real(&file)).unwrap();
        let four = Reader::new().threads(4).open(real(&file)).unwrap();
        assert!(fingerprint(&one) == fingerprint(&four), "{file}");
    }
}

#[test]
fn metadata_only_reads_find_the_same_images_without_verifying() {
    let mut compressed = 0;
    for file in files() {
        let full = Reader::new().open(real(&file)).unwrap();
        let meta = Reader::new().metadata_only().open(real(&file)).unwrap();
        assert!(full.verified && !meta.verified);
        // A pre-1.10 image's ID and config are made from its layers' DiffIDs, which only a
        // verifying read computes: without it they are left out.
        let summary = |r: &Report| {
            let legacy = r.archive.layout == imgtar::Layout::Legacy;
            r.archive
                .images
                .iter()
                .map(|i| {
                    (
                        i.id.clone().filter(|_| !legacy),
                        i.repo_tags.clone(),
                        i.config.clone().filter(|_| !legacy),
                        i.layers.len(),
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(summary(&full), summary(&meta), "{file}");
        // Layer headers are walked (file sizes, entry counts) but nothing is hashed.
        for (fi, mi) in full.archive.images.iter().zip(&meta.archive.images) {
            for (fl, ml) in fi.layers.iter().zip(&mi.layers) {
                assert_eq!(
                    ml.computed_diff_id, None,
                    "{file}: a DiffID without hashing"
                );
                let (Some(fs), Some(ms)) =
                    (full.archive.layer_scan(fl), meta.archive.layer_scan(ml))
                else {
                    continue;
                };
                assert_eq!(
                    (fs.file_bytes, fs.entries, &fs.whiteouts),
                    (ms.file_bytes, ms.entries, &ms.whiteouts),
                    "{file}: layer headers"
                );
                // A compressed layer is inflated for its sizes, but what it inflates to is
                // not hashed: no DiffID, the same uncompressed size.
                assert_eq!(
                    (fl.uncompressed_size, fs.compression),
                    (ml.uncompressed_size, ms.compression),
                    "{file}: uncompressed size"
                );
                if ms.compression.is_compressed() {
                    compressed += 1;
                    assert!(fs.diff_id.is_some(), "{file}: verified without a DiffID");
                    assert_eq!(ms.diff_id, None, "{file}: hashed a metadata-only read");
                }
            }
        }
        // Read from a pipe, the same.
        let piped = Reader::new()
            .metadata_only()
            .read(std::fs::File::open(real(&file)).unwrap())
            .unwrap();
        assert_eq!(summary(&piped), summary(&meta), "{file}: piped");
        assert!(!meta
            .findings
            .iter()
            .any(|f| f.code == imgtar::Code::DiffIdMismatch));
    }
    assert!(compressed >= 10, "compressed layers met: {compressed}");
}

#[test]
fn a_named_pipe_is_streamed() {
    // `imgtar validate <(docker save …)` hands over a FIFO path, which cannot be read at
    // positions.
    let dir = std::env::temp_dir().join(format!("imgtar-fifo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("in.tar");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let src = real("ggcr-symlink-layer-two-images.tar");
    let writer = {
        let (fifo, src) = (fifo.clone(), src.clone());
        std::thread::spawn(move || {
            let mut out = std::fs::OpenOptions::new().write(true).open(fifo).unwrap();
            std::io::copy(&mut std::fs::File::open(src).unwrap(), &mut out).unwrap();
        })
    };
    let piped = Reader::new().open(&fifo).unwrap();
    writer.join().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let from_file = Reader::new().open(&src).unwrap();
    assert!(fingerprint(&piped) == fingerprint(&from_file));
}

/// A layer of `files` files of `size` bytes each, of bytes that do not compress (so that a
/// gzip layer stays past the size that is handed to a worker).
fn noisy_layer(seed: u64, files: usize, size: usize) -> Vec<u8> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut plan = crate::support::Plan::new();
    for i in 0..files {
        let data: Vec<u8> = (0..size).map(|_| rng.random()).collect();
        plan = plan.file(&format!("data/{seed}/{i}"), &data);
    }
    plan.build().bytes
}

/// Streamed with several threads, layers are hashed and walked on workers while the walk reads
/// on, with a small in-flight budget so that the walk waits for them: the report is the one a
/// single thread gives, on intact archives and on archives cut or changed inside a layer.
#[test]
fn layers_streamed_to_workers_give_the_single_thread_report() {
    use crate::support::{gzip, DockerSave, Image};
    let layers = vec![
        noisy_layer(1, 3, 700_000),
        noisy_layer(2, 1, 1_500_000),
        noisy_layer(3, 2, 900_000),
        crate::support::sample_layer_1(),
    ];
    let plain = DockerSave::new(Image::new(layers.clone())).build().bytes;
    let gz = DockerSave::new(Image::new(layers.clone()).gzip_layers())
        .build()
        .bytes;
    let zst = DockerSave::new(Image::new(layers.clone()).zstd_layers())
        .build()
        .bytes;
    // A changed byte inside a compressed layer: its blob digest (and here its inflate) fails.
    let mut gz_changed = Image::new(layers.clone()).gzip_layers();
    let mid = gz_changed.stored[1].len() / 2;
    gz_changed.stored[1][mid] ^= 0x40;
    let gz_changed = DockerSave::new(gz_changed).build().bytes;
    let mut wrong = Image::new(layers);
    wrong.stored[1][600_000] ^= 1; // a DiffID that does not match
    let wrong = DockerSave::new(wrong).build().bytes;
    let mut inputs: Vec<(String, Vec<u8>)> = vec![
        ("plain".into(), plain.clone()),
        ("gzip layers".into(), gz.clone()),
        ("wrong diff_id".into(), wrong),
        ("gzip outer".into(), gzip(&plain)),
        ("zstd layers".into(), zst.clone()),
        ("gzip layer changed".into(), gz_changed),
    ];
    for cut in [plain.len() / 3, plain.len() / 2, plain.len() - 3000] {
        inputs.push((format!("plain cut at {cut}"), plain[..cut].to_vec()));
    }
    inputs.push(("gzip layers cut".into(), gz[..gz.len() * 2 / 3].to_vec()));
    inputs.push(("zstd layers cut".into(), zst[..zst.len() / 2].to_vec()));
    let mut small = imgtar::Limits::default();
    small.max_in_flight_bytes = 1;
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in &inputs {
        let one = Reader::new()
            .threads(1)
            .read(io::Cursor::new(bytes))
            .unwrap();
        // Two threads: no member workers, but a compressed layer's two sha256s on threads
        // of their own (one chunk in flight with the 1-byte budget).
        for (threads, limits) in [
            (2, imgtar::Limits::default()),
            (2, small),
            (3, imgtar::Limits::default()),
            (4, small),
        ] {
            let input = ShortReads {
                inner: io::Cursor::new(bytes),
                rng: SmallRng::seed_from_u64(threads as u64),
                max: 100_000,
            };
            let many = Reader::new()
                .threads(threads)
                .limits(limits)
                .read(input)
                .unwrap();
            assert!(
                fingerprint(&one) == fingerprint(&many),
                "{name}, {threads} threads"
            );
        }
        // From a file (the indexed walk, the layers on both threads).
        let path = dir.path().join("input.tar");
        std::fs::write(&path, bytes).unwrap();
        for (threads, limits) in [(2, imgtar::Limits::default()), (2, small)] {
            let file = Reader::new()
                .threads(threads)
                .limits(limits)
                .open(&path)
                .unwrap();
            assert!(
                fingerprint(&one) == fingerprint(&file),
                "{name}, from a file, {threads} threads"
            );
        }
        if name == "wrong diff_id" {
            assert!(one.findings.iter().any(|f| f.code == Code::DiffIdMismatch));
        }
    }
}
