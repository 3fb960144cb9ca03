//! The error type: what stops the reader from giving a report at all.
//!
//! Only the input the operating system cannot give is an error: it cannot be opened, or
//! reading it fails. Everything wrong with the *bytes*, a cut or corrupt download included, is a
//! [`Finding`](crate::Finding) of a [`Report`](crate::Report).

use std::io;
use std::path::PathBuf;

/// The result type of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// An error that stopped reading.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input path could not be opened.
    #[error("cannot open {}", path.display())]
    Open {
        /// The path given.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Reading the input failed (the reader itself returned an error, not the data).
    #[error("reading the input failed at byte {offset}{}", member_suffix(member.as_deref()))]
    Read {
        /// Offset in the input where reading failed.
        offset: u64,
        /// The member being read, if any.
        member: Option<String>,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A content visitor given to the reader failed; reading stopped.
    #[error("the content visitor failed{}", member_suffix(member.as_deref()))]
    Visit {
        /// The layer member being read.
        member: Option<String>,
        /// The visitor's error.
        #[source]
        source: io::Error,
    },
    /// A configured limit stopped an operation that has no report to put a finding in.
    #[error("limit exceeded{}: {limit} is {value}, the limit is {max}", member_suffix(member.as_deref()))]
    Limit {
        /// Name of the [`Limits`](crate::Limits) field.
        limit: &'static str,
        /// The value met.
        value: u64,
        /// The configured maximum.
        max: u64,
        /// The member concerned, if any.
        member: Option<String>,
        /// Its header offset, if known.
        offset: Option<u64>,
    },
}

fn member_suffix(member: Option<&str>) -> String {
    match member {
        Some(m) => format!(" in {:?}", m),
        None => String::new(),
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = match &e {
            Error::Open { source, .. }
            | Error::Read { source, .. }
            | Error::Visit { source, .. } => source.kind(),
            Error::Limit { .. } => io::ErrorKind::OutOfMemory,
        };
        io::Error::new(kind, e)
    }
}

/// The first error of type `T` in the chain of `e` (through `io::Error` payloads and
/// `source()`s), so typed causes are found however they were wrapped.
pub(crate) fn find_in<T: std::error::Error + 'static>(e: &io::Error) -> Option<&T> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> =
        e.get_ref().map(|x| x as &(dyn std::error::Error + 'static));
    while let Some(err) = cur {
        if let Some(t) = err.downcast_ref::<T>() {
            return Some(t);
        }
        cur = match err.downcast_ref::<io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|x| x as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    None
}
