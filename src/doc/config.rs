//! The image config (Docker image spec v1.2 / OCI image config).

use serde::Serialize;
use serde_json::{Map, Value};

use crate::doc::oci::Platform;
use crate::doc::DocError;

/// One `history` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct History {
    /// `created`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// `created_by`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// `comment`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// `empty_layer`.
    pub empty_layer: bool,
}

/// The image config document (Docker image spec v1.2 / OCI image config): the fields imgtar
/// checks, typed, and the whole document.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Config {
    /// `architecture`, `os`, `variant`, `os.version`.
    pub platform: Platform,
    /// `created`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Whether a `rootfs` key exists.
    pub has_rootfs: bool,
    /// `rootfs.type`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rootfs_type: Option<String>,
    /// `rootfs.diff_ids` as written.
    pub diff_ids: Vec<String>,
    /// `history`.
    pub history: Vec<History>,
    /// The whole document.
    #[serde(skip)]
    pub raw: Map<String, Value>,
}

/// Decodes a config: it must be a JSON object. Keys are matched as Go matches them (see
/// [`keys::fold`](crate::doc::keys::fold)). Fields of unexpected types are ignored here and
/// reported by the rules that need them.
pub(crate) fn parse(bytes: &[u8]) -> Result<Config, DocError> {
    let mut v: Value = crate::doc::json(bytes)?;
    // What Docker reads: `{"os":"linux","OS":"windows"}` is windows to Go.
    crate::doc::keys::fold(&mut v, crate::doc::keys::CONFIG_FIELDS);
    let Value::Object(raw) = v else {
        return Err(DocError::shape(format!(
            "must be a JSON object, found {}",
            crate::doc::kind(&v)
        )));
    };
    let s = |o: &Map<String, Value>, k: &str| o.get(k).and_then(Value::as_str).map(str::to_string);
    let rootfs = raw.get("rootfs");
    let rootfs_obj = rootfs.and_then(Value::as_object);
    let diff_ids = rootfs_obj
        .and_then(|r| r.get("diff_ids"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|d| d.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default();
    let history = raw
        .get("history")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_object)
                .map(|h| History {
                    created: s(h, "created"),
                    created_by: s(h, "created_by"),
                    comment: s(h, "comment"),
                    empty_layer: h
                        .get("empty_layer")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Config {
        platform: Platform {
            architecture: s(&raw, "architecture").unwrap_or_default(),
            os: s(&raw, "os").unwrap_or_default(),
            os_version: s(&raw, "os.version"),
            variant: s(&raw, "variant"),
        },
        created: s(&raw, "created"),
        has_rootfs: rootfs.is_some_and(|r| !r.is_null()),
        rootfs_type: rootfs_obj.and_then(|r| s(r, "type")),
        diff_ids,
        history,
        raw,
    })
}

/// Whether `s` is an RFC 3339 timestamp as Go's `time.Time` accepts it
/// (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`).
// Indexes stay below the string's length plus a few bytes, so they cannot overflow.
#[allow(clippy::arithmetic_side_effects)]
pub(crate) fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b.get(r)
            .is_some_and(|x| !x.is_empty() && x.iter().all(u8::is_ascii_digit))
    };
    if b.len() < 20
        || !digits(0..4)
        || b.get(4) != Some(&b'-')
        || !digits(5..7)
        || b.get(7) != Some(&b'-')
        || !digits(8..10)
        || !matches!(b.get(10), Some(b'T') | Some(b't'))
        || !digits(11..13)
        || b.get(13) != Some(&b':')
        || !digits(14..16)
        || b.get(16) != Some(&b':')
        || !digits(17..19)
    {
        return false;
    }
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match b.get(i) {
        Some(b'Z') | Some(b'z') => i + 1 == b.len(),
        Some(b'+') | Some(b'-') => {
            i + 6 == b.len()
                && digits(i + 1..i + 3)
                && b.get(i + 3) == Some(&b':')
                && digits(i + 4..i + 6)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert!(is_rfc3339("2018-02-23T19:10:48.522474467Z"));
        assert!(is_rfc3339("1970-01-01T00:00:00Z"));
        assert!(is_rfc3339("2020-01-01T10:00:00+02:00"));
        assert!(!is_rfc3339("2020-01-01 10:00:00Z"));
        assert!(!is_rfc3339("yesterday"));
        assert!(!is_rfc3339("2020-01-01T10:00:00"));
        assert!(!is_rfc3339("2020-01-01T10:00:00.Z"));
    }

    #[test]
    fn parses_config() {
        let c = parse(br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:aa"]},"history":[{"created_by":"x","empty_layer":true},{}]}"#).unwrap();
        assert_eq!(c.platform.os, "linux");
        assert!(c.has_rootfs);
        assert_eq!(c.diff_ids, vec!["sha256:aa"]);
        assert_eq!(c.history.len(), 2);
        assert!(c.history[0].empty_layer);
        assert!(parse(b"[]").is_err());
        assert!(!parse(b"{}").unwrap().has_rootfs);
    }
}
