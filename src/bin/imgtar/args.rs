//! What the commands take, and how they read the archive.

use std::path::PathBuf;

use imgtar::layer::{FlattenOptions, Semantics};
use imgtar::{Input, Reader, Report, Severity};

use crate::{progress, render, Failure};

/// Where to read from: a tarball, `-` for standard input, or an extracted directory.
#[derive(clap::Args)]
pub struct Source {
    /// Tarball (plain, gzip, zstd, xz or bzip2), `-` for standard input, or a directory.
    #[arg(value_name = "PATH")]
    pub path: PathBuf,
}

impl Source {
    /// What the path is.
    pub fn input(&self) -> Result<Input, Failure> {
        Ok(Input::of(&self.path)?)
    }

    /// What the path is, refused before anything is read when it cannot be read twice (the
    /// content commands read the metadata, then the content).
    pub fn replayable(&self) -> Result<Input, Failure> {
        let input = self.input()?;
        if input.is_replayable() {
            return Ok(input);
        }
        let what = if input == Input::Stdin {
            "standard input".to_string()
        } else {
            self.path.display().to_string()
        };
        Err(Failure::msg(
            imgtar::layer::content::ContentError::NotReplayable(what).to_string(),
        ))
    }
}

/// Which daemon the Engine API answers are those of (`inspect`, `ls`, `history`).
#[derive(clap::Args)]
pub struct Daemon {
    /// Engine API version to answer as, 1.41 (Docker 20.10) to 1.55 (Docker 29): each
    /// version's fields, `null`/empty shapes and values.
    #[arg(long, value_name = "X.Y", default_value_t = imgtar::engine::ApiVersion::NEWEST)]
    pub api_version: imgtar::engine::ApiVersion,
    /// Image store to answer from: `classic` (graphdriver: IDs are config digests) or
    /// `containerd` (IDs are manifest or index digests, RepoDigests, Descriptor, Manifests).
    #[arg(long, value_name = "STORE", default_value = "classic")]
    pub store: imgtar::engine::Store,
}

/// Output format, on every command.
#[derive(clap::Args)]
pub struct Output {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// The same as `--format json`.
    #[arg(long)]
    json: bool,
}

/// How results are printed.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// For people: aligned tables and lines, as the docker CLI prints them.
    Table,
    /// JSON (the Engine API's for `inspect`, `ls`, `history`).
    Json,
}

impl Output {
    /// Whether JSON was asked for.
    pub fn json(&self) -> bool {
        self.json || self.format == Format::Json
    }
}

/// The archive of a query command (`ls`, `inspect`, `history`).
#[derive(clap::Args)]
pub struct Query {
    #[command(flatten)]
    pub source: Source,
    /// Hash every blob before answering; error findings then go to standard error and the
    /// exit status is 1. By default only headers and JSON documents are read (on a file,
    /// uncompressed layers' data is skipped by seeking).
    #[arg(long)]
    pub verify: bool,
}

impl Query {
    /// Reads the archive: metadata only unless `--verify` was given. Returns the report and
    /// whether every image is intact (an answer that leaves images out is no success).
    /// With `hash`, every blob is hashed (as `--verify` does, without its strictness): the
    /// containerd store names a `manifest.json` image by the digest of a manifest made of its
    /// blobs' digests.
    pub fn read(&self, hash: bool) -> Result<(Report, bool), Failure> {
        // A pre-1.10 image's ID is the digest of a config made from its layers' DiffIDs
        // (Docker's legacy loader): those layers are hashed even without `--verify`.
        let reader = Reader::new()
            .verify(self.verify || hash)
            .hash_legacy_layers(true);
        let input = self.source.input()?;
        let report = read(&input, reader, "reading")?;
        if tell(&report, self.verify) {
            return Err(Failure::Invalid);
        }
        let mut all = true;
        for img in &report.archive.images {
            if let Err(why) = report.archive.image_intact(img) {
                all = false;
                eprintln!(
                    "imgtar: warning: image {} is left out: {}",
                    render::clean(&describe(img)),
                    render::clean(&why)
                );
            }
        }
        Ok((report, all))
    }
}

/// An image as messages name it: its first tag, else its short ID.
pub fn describe(img: &imgtar::Image) -> String {
    img.repo_tags
        .first()
        .cloned()
        .or_else(|| img.id_hex().map(|h| h.chars().take(12).collect()))
        .unwrap_or_else(|| "<none>".to_string())
}

/// Whose whiteout rules to apply.
#[derive(clap::Args)]
pub struct Rules {
    /// Apply whiteouts as docker load's naive applier does (stream order) instead of as the
    /// OCI image spec says (whiteouts hit lower layers only).
    #[arg(long)]
    pub docker: bool,
}

impl Rules {
    pub fn options(&self) -> FlattenOptions {
        FlattenOptions::with_semantics(if self.docker {
            Semantics::DockerLoad
        } else {
            Semantics::Oci
        })
    }
}

/// The arguments every layer command takes.
#[derive(clap::Args)]
pub struct Target {
    #[command(flatten)]
    pub source: Source,
    /// The image: a tag (`busybox`, `busybox:1.36`, `docker.io/library/busybox:1.36`) or an
    /// image ID prefix. May be left out when the archive holds one image.
    #[arg(value_name = "IMAGE")]
    pub image: Option<String>,
    #[command(flatten)]
    pub rules: Rules,
}

/// Reads an input with a progress bar.
pub fn read(input: &Input, reader: Reader, what: &str) -> Result<Report, Failure> {
    let len = match input {
        Input::File(p) => std::fs::metadata(p).ok().map(|m| m.len()),
        _ => None,
    };
    let pb = progress::bar(len, what);
    let bar = pb.clone();
    let reader = reader.progress(move |n| bar.set_position(n));
    let report = reader.read_input(input);
    pb.finish_and_clear();
    Ok(report?)
}

/// Tells on standard error what the answer may miss: with `verified`, every error finding
/// (and the result is `true` when there is one); otherwise a warning that the archive is cut,
/// damaged or lacks parts, with the findings that say so.
pub fn tell(report: &Report, verified: bool) -> bool {
    let errors: Vec<_> = report.findings_at_least(Severity::Error).collect();
    if errors.is_empty() {
        return false;
    }
    if verified {
        for f in &errors {
            eprintln!("imgtar: {}", render::clean(&f.to_string()));
        }
        return true;
    }
    eprintln!(
        "imgtar: warning: the archive has {} error finding(s); the answer covers what is intact (`imgtar validate` lists them):",
        errors.len()
    );
    for f in errors.iter().take(5) {
        eprintln!("imgtar:   {}", render::clean(&f.to_string()));
    }
    if errors.len() > 5 {
        eprintln!("imgtar:   … and {} more", errors.len().saturating_sub(5));
    }
    false
}

/// Reads the archive for a layer command (every entry recorded), selects the image and
/// applies its layers; warns about an invalid archive and prints the notes made while
/// applying.
pub fn flatten(
    target: &Target,
) -> Result<(Input, Report, usize, imgtar::layer::Flattened), Failure> {
    let input = target.source.input()?;
    let report = read(&input, Reader::new().record_entries(true), "reading")?;
    tell(&report, false);
    let n = report.archive.find_index(target.image.as_deref())?;
    let image = report
        .archive
        .images
        .get(n)
        .ok_or_else(|| Failure::NoSuchImage(String::new()))?;
    if let Err(why) = report.archive.image_intact(image) {
        eprintln!(
            "imgtar: image {} cannot be answered: {}",
            render::clean(&describe(image)),
            render::clean(&why)
        );
        return Err(Failure::Invalid);
    }
    let flat = match imgtar::layer::flatten_image(&report.archive, image, target.rules.options()) {
        Ok(f) => f,
        Err(e) => {
            // The archive is damaged where this image needs it; the warning above says why.
            eprintln!("imgtar: {}", render::clean(&e.to_string()));
            return Err(Failure::Invalid);
        }
    };
    for issue in flat.issues() {
        eprintln!("imgtar: note: {}", render::clean(&issue.to_string()));
    }
    Ok((input, report, n, flat))
}
