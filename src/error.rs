//! The fatal error type.
//!
//! Only problems that stop the reader from going on are errors: the input cannot be opened or
//! read, it is not a tar stream at all, or a [`Limits`](crate::Limits) bound was passed. Everything
//! that is wrong *inside* a readable archive is a [`Finding`](crate::Finding) instead.

use std::io;
use std::path::PathBuf;

/// The result type of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// An error that stopped reading.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input path could not be opened.
    #[error("cannot open {}: {source}", path.display())]
    Open {
        /// The path given.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Reading the input failed.
    #[error("read error at byte {offset}{}: {source}", entry_suffix(entry.as_deref()))]
    Io {
        /// Offset in the (decompressed) outer tar stream where reading failed.
        offset: u64,
        /// The member being read, if any.
        entry: Option<String>,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The input is not a tar archive (after removing any outer compression).
    #[error("not a tar archive: {reason} (at byte {offset})")]
    NotTar {
        /// Offset of the block that failed to parse.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A configured limit was passed.
    #[error("limit exceeded: {limit} is {value}, the limit is {max}")]
    Limit {
        /// Name of the [`Limits`](crate::Limits) field.
        limit: &'static str,
        /// The value met.
        value: u64,
        /// The configured maximum.
        max: u64,
    },
}

fn entry_suffix(entry: Option<&str>) -> String {
    match entry {
        Some(e) => format!(" in {e:?}"),
        None => String::new(),
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = match &e {
            Error::Open { source, .. } | Error::Io { source, .. } => source.kind(),
            Error::NotTar { .. } => io::ErrorKind::InvalidData,
            Error::Limit { .. } => io::ErrorKind::OutOfMemory,
        };
        io::Error::new(kind, e)
    }
}
