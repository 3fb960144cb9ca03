//! `imgtar`: read, check and explain saved container image tarballs offline.

mod cat;
mod diff;
mod inspect;
mod layers;
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
    /// Print a JSON summary of the images in an archive.
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
}

/// Where to read from: a tarball, `-` for standard input, or an extracted directory.
#[derive(clap::Args)]
struct Input {
    /// Tarball (plain, gzip, zstd, xz or bzip2), `-` for standard input, or a directory.
    path: PathBuf,
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
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("imgtar: {e}");
            ExitCode::from(2)
        }
    }
}
