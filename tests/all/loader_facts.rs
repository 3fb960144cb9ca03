//! The verdicts of loader versions that cannot be installed here, checked against what their
//! source says: each fact names an archive, a loader version, the outcome its source leads
//! to, the words of its error, and the source line the fact comes from. A change to a
//! prediction that contradicts one of these fails here, not silently.

use std::path::PathBuf;

use imgtar::{Loader, Outcome, Reader};

/// Where a fact's archive comes from.
enum Archive {
    /// A file of `testdata/real`.
    Real(&'static str),
    /// A file of `testdata/real`, zstd-compressed as a whole.
    RealZstd(&'static str),
}

/// What the source of one loader version does with one archive.
struct Fact {
    archive: Archive,
    loader: Loader,
    version: &'static str,
    outcome: Outcome,
    /// Images loaded.
    images: usize,
    /// Words of the loader's error (empty when it loads).
    message: &'static str,
    /// The source the fact is read from.
    #[allow(dead_code)]
    source: &'static str,
}

const FACTS: &[Fact] = &[
    Fact {
        archive: Archive::Real("ggcr-legacy-repositories-only.tar"),
        loader: Loader::Docker,
        version: "29",
        outcome: Outcome::Refuses,
        images: 0,
        message: "invalid archive: does not contain a manifest.json",
        source: "moby docker-v29.0.0 daemon/internal/image/tarexport/load.go:63 (the pre-1.10 loader is gone)",
    },
    Fact {
        archive: Archive::Real("ggcr-legacy-repositories-only.tar"),
        loader: Loader::Docker,
        version: "23-28",
        outcome: Outcome::Loads,
        images: 1,
        message: "",
        source: "moby v28.0.0 image/tarexport/load.go:64 (no manifest.json: legacyLoad)",
    },
    Fact {
        archive: Archive::Real("ggcr-null-manifest.tar"),
        loader: Loader::Docker,
        version: "23-28",
        outcome: Outcome::Refuses,
        images: 0,
        message: "invalid manifest, manifest cannot be null (but can be [])",
        source: "moby v23.0.0 image/tarexport/load.go:411 (validateManifest)",
    },
    Fact {
        archive: Archive::RealZstd("dive-docker-1.10-whiteouts.tar"),
        loader: Loader::Docker,
        version: "23-28",
        outcome: Outcome::Loads,
        images: 1,
        message: "",
        source: "moby v23.0.0 pkg/archive/archive.go:190,281 (DecompressStream knows zstd)",
    },
    Fact {
        archive: Archive::RealZstd("dive-docker-1.10-whiteouts.tar"),
        loader: Loader::Docker,
        version: "20.10",
        outcome: Outcome::Refuses,
        images: 0,
        message: "archive/tar: invalid tar header",
        source: "moby v20.10.24 pkg/archive/archive.go (DecompressStream: bzip2, gzip, xz only)",
    },
    Fact {
        archive: Archive::Real("trivy-alpine-310-gzip-outer.tar.gz"),
        loader: Loader::Containerd,
        version: "1.7",
        outcome: Outcome::Refuses,
        images: 0,
        message: "archive/tar: invalid tar header",
        source: "containerd v1.7.0 cmd/ctr/commands/images/import.go:116 (--local defaults to true: images/archive ImportIndex reads the tar as is)",
    },
    Fact {
        archive: Archive::Real("trivy-alpine-310-gzip-outer.tar.gz"),
        loader: Loader::Containerd,
        version: "2",
        outcome: Outcome::Loads,
        images: 1,
        message: "",
        source: "containerd v2.0.0 core/transfer/archive/importer.go:71 (DecompressStream)",
    },
    Fact {
        archive: Archive::Real("trivy-alpine-310-gzip-outer.tar.gz"),
        loader: Loader::Podman,
        version: "5",
        outcome: Outcome::Loads,
        images: 1,
        message: "",
        source: "containers/image docker/internal/tarfile/reader.go NewReaderFromFile (AutoDecompress)",
    },
    Fact {
        archive: Archive::Real("dive-oci-gzip.tar"),
        loader: Loader::DockerContainerd,
        version: "25-28",
        outcome: Outcome::Loads,
        images: 1,
        message: "",
        source: "moby v25.0.0 daemon/containerd/image_exporter.go:230-255 (LoadImage imports through index.json; unnamed entries get a dangling name)",
    },
    Fact {
        archive: Archive::Real("oras-ctr-export-manifest-list.tar"),
        loader: Loader::DockerContainerd,
        version: "25-28",
        outcome: Outcome::Loads,
        images: 1,
        message: "",
        source: "moby v25.0.0 daemon/containerd/image_exporter.go:241 (WithSkipMissing: absent platforms are skipped)",
    },
    Fact {
        archive: Archive::Real("oras-ctr-export-manifest-list.tar"),
        loader: Loader::Containerd,
        version: "2",
        outcome: Outcome::Refuses,
        images: 0,
        message: "not found",
        source: "containerd v2.0.0 core/images/handlers.go (Children reads every platform's manifest with --all-platforms)",
    },
    Fact {
        archive: Archive::Real("ggcr-bundle-layersources.tar"),
        loader: Loader::Crane,
        version: "0.21",
        outcome: Outcome::Refuses,
        images: 0,
        message: "tarball must contain only a single image to be used with tarball.Image",
        source: "go-containerregistry v0.21.9 pkg/v1/tarball/image.go:139",
    },
    Fact {
        archive: Archive::Real("ggcr-bundle-layersources.tar"),
        loader: Loader::Podman,
        version: "5",
        outcome: Outcome::Refuses,
        images: 0,
        message: "does not contain a tag",
        source: "containers/image docker/archive/reader.go List (every RepoTags item parsed as a tagged reference first)",
    },
    Fact {
        archive: Archive::Real("dive-oci-gzip.tar"),
        loader: Loader::Crane,
        version: "0.21",
        outcome: Outcome::Refuses,
        images: 0,
        message: "file manifest.json not found in tar",
        source: "go-containerregistry v0.21.9 pkg/v1/tarball/image.go (loadTarDescriptorAndConfig reads manifest.json)",
    },
];

fn real(name: &str) -> PathBuf {
    crate::loaders_observed::real_dir().join(name)
}

#[test]
fn untested_versions_follow_their_source() {
    let dir = tempfile::tempdir().unwrap();
    let mut wrong = Vec::new();
    for fact in FACTS {
        let (path, label) = match fact.archive {
            Archive::Real(n) => (real(n), n.to_string()),
            Archive::RealZstd(n) => {
                let bytes = std::fs::read(real(n)).unwrap();
                let p = dir.path().join(format!("{n}.zst"));
                std::fs::write(&p, zstd::encode_all(&bytes[..], 3).unwrap()).unwrap();
                (p, format!("{n} (zstd)"))
            }
        };
        let report = Reader::new().open(&path).unwrap();
        let v = report
            .loaders
            .iter()
            .find(|v| v.loader == fact.loader && v.version == fact.version)
            .unwrap_or_else(|| panic!("no verdict for {} {}", fact.loader, fact.version));
        let message_ok = if fact.message.is_empty() {
            v.message.is_empty()
        } else {
            v.message.contains(fact.message)
        };
        if v.verdict != fact.outcome || v.images != fact.images || !message_ok {
            wrong.push(format!(
                "{label}: {} {} says {} {} image(s) {:?}; its source says {} {} image(s) {:?}",
                fact.loader,
                fact.version,
                v.verdict.as_str(),
                v.images,
                v.message,
                fact.outcome.as_str(),
                fact.images,
                fact.message
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_verdict_names_its_version_and_whether_it_was_tested() {
    let report = Reader::new()
        .open(real("dive-docker-1.10-whiteouts.tar"))
        .unwrap();
    let tested: Vec<(Loader, &str)> = report
        .loaders
        .iter()
        .filter(|v| v.tested)
        .map(|v| (v.loader, v.version))
        .collect();
    assert_eq!(
        tested,
        vec![
            (Loader::Docker, "20.10"),
            (Loader::Containerd, "1.6"),
            (Loader::Podman, "4.3")
        ]
    );
    for l in &Loader::ALL {
        assert!(
            report.loaders.iter().any(|v| v.loader == *l),
            "no verdict for {l}"
        );
    }
    // A refusal always says why.
    let refused = Reader::new().open(real("ggcr-null-manifest.tar")).unwrap();
    for v in refused
        .loaders
        .iter()
        .filter(|v| v.verdict != Outcome::Loads)
    {
        assert!(
            !v.message.is_empty(),
            "{} {} refuses silently",
            v.loader,
            v.version
        );
    }
}
