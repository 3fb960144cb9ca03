//! What the layer commands (`diff`, `tree`, `squash`, `cat`, `waste`) share: reading the
//! archive with recorded entries and a progress bar, choosing the image, flattening it, and
//! reopening the input for a second pass.

use std::error::Error;
use std::fs::File;
use std::io::{BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use imgtar::layer::{self, content::Source, EntryPath, FlattenOptions, Flattened, Semantics};
use imgtar::{Image, Reader, Report};
use indicatif::{ProgressBar, ProgressStyle};

/// The arguments every layer command takes.
#[derive(clap::Args)]
pub struct Target {
    #[command(flatten)]
    pub input: crate::Input,
    /// The image: a tag (`busybox`, `busybox:1.36`, `docker.io/library/busybox:1.36`) or an
    /// image ID prefix. May be left out when the archive holds one image.
    pub image: Option<String>,
    #[command(flatten)]
    pub rules: Rules,
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

fn bar(len: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template(
        "{msg:>10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
    )
    .map(|s| s.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    let pb = ProgressBar::new(len).with_style(style);
    pb.set_message(what.to_string());
    pb
}

/// Reads the archive at `path` (file, `-`, or directory) with every layer entry recorded,
/// showing a progress bar for a file on a terminal.
pub fn read(path: &Path) -> Result<Report, Box<dyn Error>> {
    let reader = Reader::new().record_entries(true);
    let meta = (path != Path::new("-")).then(|| std::fs::metadata(path));
    match meta {
        Some(Ok(m)) if m.is_file() => {
            let file =
                File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
            let pb = bar(m.len(), "reading");
            let report = reader.read(BufReader::with_capacity(1 << 20, pb.wrap_read(file)));
            pb.finish_and_clear();
            Ok(report?)
        }
        _ => Ok(reader.open(path)?),
    }
}

/// An input that can be read a second time.
pub enum Replay {
    File(PathBuf, u64),
    Dir(PathBuf),
}

impl Replay {
    /// Checks, before anything is read, that `path` can be read twice.
    pub fn check(path: &Path, command: &str) -> Result<Replay, Box<dyn Error>> {
        let real = if path == Path::new("-") {
            Path::new("/dev/stdin")
        } else {
            path
        };
        let meta =
            std::fs::metadata(real).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        if meta.is_dir() {
            return Ok(Replay::Dir(real.to_path_buf()));
        }
        if meta.is_file() {
            return Ok(Replay::File(real.to_path_buf(), meta.len()));
        }
        Err(format!(
            "{command} reads the archive twice (metadata, then content), but {} is a pipe; save it to a file first (docker save -o image.tar IMAGE)",
            if path == Path::new("-") { "standard input".to_string() } else { path.display().to_string() }
        )
        .into())
    }

    /// Opens the input again from its start.
    pub fn open(&self, what: &str) -> Result<(Source<'_>, ProgressBar), Box<dyn Error>> {
        match self {
            Replay::Dir(d) => Ok((Source::Dir(d), ProgressBar::hidden())),
            Replay::File(p, len) => {
                let file =
                    File::open(p).map_err(|e| format!("cannot open {}: {e}", p.display()))?;
                let pb = bar(*len, what);
                let r: Box<dyn Read> =
                    Box::new(BufReader::with_capacity(1 << 20, pb.wrap_read(file)));
                Ok((Source::Stream(r), pb))
            }
        }
    }
}

/// Reads the archive, selects the image and applies its layers; warns on stderr about an
/// invalid archive and prints the notes made while applying.
pub fn load<'r>(
    report: &'r Report,
    image: Option<&str>,
    rules: &Rules,
) -> Result<(&'r Image, Flattened), Box<dyn Error>> {
    let errors = report.findings_at_least(imgtar::Severity::Error).count();
    if errors > 0 {
        eprintln!("imgtar: warning: the archive has {errors} error finding(s); `imgtar validate` lists them");
    }
    let image = report.archive.find_image(image)?;
    let flat = layer::flatten_image(&report.archive, image, rules.options())?;
    for issue in flat.issues() {
        eprintln!("imgtar: note: {issue}");
    }
    Ok((image, flat))
}

/// Writes a path as `display_bytes` gives it.
pub fn write_path(out: &mut impl Write, path: &EntryPath) -> std::io::Result<()> {
    out.write_all(&path.display_bytes())
}
