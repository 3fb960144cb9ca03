//! `imgtar`: read, check and explain saved container image tarballs offline.
//!
//! The binary only parses arguments, calls the library and renders what it returns:
//! [`args`] (what every command takes), [`render`] (tables and human text), [`progress`].

mod args;
mod cat;
mod diff;
mod export;
mod files;
mod history;
mod inspect;
mod ls;
mod progress;
mod render;
mod squash;
mod tree;
mod unpack;
mod validate;
mod waste;

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
    /// Validate an archive; exit 0 when valid, 1 when an error finding exists, 2 when the
    /// input cannot be read at all (a usage error, a missing file, an I/O error).
    Validate(validate::Args),
    /// Print ImageInspect JSON for images of an archive, like `docker image inspect`.
    Inspect(inspect::Args),
    /// List the images of an archive, like `docker image ls`.
    Ls(ls::Args),
    /// Show the history of an image, like `docker history`.
    History(history::Args),
    /// Write some images of an archive to a new one, like `docker save`.
    Export(export::Args),
    /// List what each layer adds, changes and deletes, like `docker diff`.
    Diff(diff::Args),
    /// List the flattened filesystem of an image.
    Tree(tree::Args),
    /// List the regular files of an image with their sizes (and sha256), in one pass.
    Files(files::Args),
    /// Report wasted space as dive does (bytes deleted or overwritten by later layers).
    Waste(waste::Args),
    /// Write the flattened filesystem of an image as one tar (reads a file twice).
    Squash(squash::Args),
    /// Write one file's final content to standard output (reads a file twice).
    Cat(cat::Args),
    /// Write the final filesystem of an image into a new directory, in one pass (a pipe too),
    /// every write confined beneath it; links out of the root are refused.
    Unpack(unpack::Args),
}

/// What a command ended with, besides success.
#[derive(Debug)]
pub enum Failure {
    /// The archive has no such image (exit 1, as docker).
    NoSuchImage(String),
    /// The archive is invalid or incomplete for what was asked (exit 1); already reported.
    Invalid,
    /// Anything else that stopped the command (exit 2).
    Other(Box<dyn std::error::Error>),
}

impl<E: std::error::Error + 'static> From<E> for Failure {
    fn from(e: E) -> Failure {
        let e: Box<dyn std::error::Error> = Box::new(e);
        match e.downcast::<imgtar::SelectError>() {
            Ok(s) => match *s {
                imgtar::SelectError::NotFound(q) => Failure::NoSuchImage(q),
                other => Failure::Other(Box::new(other)),
            },
            Err(e) => Failure::Other(e),
        }
    }
}

impl Failure {
    /// A failure with a message.
    pub fn msg(m: impl Into<String>) -> Failure {
        Failure::Other(m.into().into())
    }
}

/// What every command returns.
pub type Outcome = Result<ExitCode, Failure>;

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
        Command::Ls(a) => ls::run(a),
        Command::History(a) => history::run(a),
        Command::Export(a) => export::run(a),
        Command::Diff(a) => diff::run(a),
        Command::Tree(a) => tree::run(a),
        Command::Files(a) => files::run(a),
        Command::Waste(a) => waste::run(a),
        Command::Squash(a) => squash::run(a),
        Command::Cat(a) => cat::run(a),
        Command::Unpack(a) => unpack::run(a),
    };
    match result {
        Ok(code) => code,
        Err(Failure::NoSuchImage(q)) => {
            if q.is_empty() {
                eprintln!("Error: the archive holds no image");
            } else {
                eprintln!("Error: No such image: {}", render::clean(&q));
            }
            ExitCode::from(1)
        }
        Err(Failure::Invalid) => ExitCode::from(1),
        // The reader of our output went away (`imgtar cat … | head`): nothing to report.
        Err(Failure::Other(e)) if is_broken_pipe(e.as_ref()) => ExitCode::SUCCESS,
        Err(Failure::Other(e)) => {
            eprintln!("imgtar: {}", render::clean(&chain(e.as_ref())));
            ExitCode::from(2)
        }
    }
}

/// An error and its causes, `: `-separated.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
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
