//! `imgtar`: read, check and explain saved container image tarballs offline.

mod cat;
mod diff;
mod export;
mod history;
mod inspect;
mod layers;
mod ls;
mod squash;
mod tree;
mod validate;
mod waste;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Read, check and explain saved container image tarballs (docker save, docker-archive,
/// oci-archive) offline.
#[derive(Parser)]
#[command(name = "imgtar", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate an archive; exit 0 when valid, 1 when an error finding exists, 2 when it
    /// cannot be read.
    Validate(validate::Args),
    /// Print ImageInspect JSON for images of an archive, like `docker image inspect`.
    Inspect(inspect::Args),
    /// List what each layer adds, changes and deletes, like `docker diff`.
    Diff(diff::Args),
    /// List the flattened filesystem of an image.
    Tree(tree::Args),
    /// Write the flattened filesystem of an image as one tar (needs a file, not a pipe).
    Squash(squash::Args),
    /// Write one file's final content to standard output (needs a file, not a pipe).
    Cat(cat::Args),
    /// Report wasted space as dive does (bytes deleted or overwritten by later layers).
    Waste(waste::Args),
    /// List the images of an archive, like `docker image ls`.
    Ls(ls::Args),
    /// Show the history of an image, like `docker history`.
    History(history::Args),
    /// Write some images of an archive to a new one, like `docker save`.
    Export(export::Args),
}

/// Where to read from: a tarball, `-` for standard input, or an extracted directory.
#[derive(clap::Args)]
struct Input {
    /// Tarball (plain, gzip, zstd, xz or bzip2), `-` for standard input, or a directory.
    path: PathBuf,
}

/// The archive of a query command (`ls`, `inspect`, `history`).
#[derive(clap::Args)]
struct Query {
    #[command(flatten)]
    input: Input,
    /// Hash every blob before answering. By default only headers and JSON documents are
    /// read (on a file, uncompressed layers' data is skipped by seeking).
    #[arg(long)]
    verify: bool,
}

impl Query {
    /// Reads the archive: metadata only unless `--verify` was given.
    fn open(&self) -> imgtar::Result<imgtar::Report> {
        imgtar::Reader::new()
            .metadata_only(!self.verify)
            .open(&self.input.path)
    }
}

/// Output format of listing commands.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    /// An aligned table, as the docker CLI prints it.
    Table,
    /// The Engine API's JSON.
    Json,
}

/// Writes JSON indented by four spaces (as the docker CLI does) and a newline.
fn write_json<T: serde::Serialize>(
    out: &mut impl std::io::Write,
    value: &T,
) -> Result<(), Box<dyn std::error::Error>> {
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut *out, fmt);
    value.serialize(&mut ser)?;
    writeln!(out)?;
    Ok(())
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let result = match cli.command {
        Command::Validate(a) => validate::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Diff(a) => diff::run(a),
        Command::Tree(a) => tree::run(a),
        Command::Squash(a) => squash::run(a),
        Command::Cat(a) => cat::run(a),
        Command::Waste(a) => waste::run(a),
        Command::Ls(a) => ls::run(a),
        Command::History(a) => history::run(a),
        Command::Export(a) => export::run(a),
    };
    match result {
        Ok(code) => code,
        // The reader of our output went away (`imgtar cat … | head`): nothing to report.
        Err(e) if is_broken_pipe(e.as_ref()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("imgtar: {e}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        {
            return true;
        }
        cur = err.source();
    }
    false
}
