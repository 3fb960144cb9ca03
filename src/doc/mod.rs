//! The JSON documents of saved-image archives, as typed structs, and their typed parse
//! errors.
//!
//! Each document keeps the fields imgtar checks typed, and the whole document as
//! `serde_json::Value` where later consumers (inspect, history) need fields verbatim.

pub(crate) mod config;
pub(crate) mod keys;
pub(crate) mod legacy;
pub(crate) mod manifest;
pub(crate) mod oci;
pub(crate) mod repositories;

use serde_json::Value;

/// Why a document could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DocError {
    /// The bytes are not JSON.
    Syntax(String),
    /// JSON of the wrong shape (a type, a missing field, `null`), in entry `entry` if it is
    /// in one.
    Shape {
        /// Index of the entry (of `manifest.json`), if the problem is in one.
        entry: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// The member is not a JSON document at all (binary, or a tar).
    NotADocument,
    /// The member was too large to keep in memory, and was not parsed.
    TooLarge,
}

impl DocError {
    pub(crate) fn shape(message: impl Into<String>) -> DocError {
        DocError::Shape {
            entry: None,
            message: message.into(),
        }
    }

    pub(crate) fn syntax(e: &serde_json::Error) -> DocError {
        DocError::Syntax(e.to_string())
    }
}

impl std::fmt::Display for DocError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DocError::Syntax(m) => write!(f, "is not JSON: {m}"),
            DocError::Shape { message, .. } => f.write_str(message),
            DocError::NotADocument => f.write_str("is not a JSON document"),
            DocError::TooLarge => {
                f.write_str("is larger than Limits::max_json_bytes and was not read")
            }
        }
    }
}

/// A short name of a JSON value's type, for messages.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parses JSON bytes.
pub(crate) fn json(bytes: &[u8]) -> Result<Value, DocError> {
    serde_json::from_slice(bytes).map_err(|e| DocError::syntax(&e))
}
