//! Whiteout names (aufs / OCI): what a layer entry's name means.
//!
//! - `<dir>/.wh..wh..opq` makes `<dir>` opaque: everything below it in lower layers is hidden.
//! - `<dir>/.wh.<name>` deletes `<dir>/<name>` (and its subtree) from lower layers.
//! - A *top-level* name starting with `.wh..wh.` (`.wh..wh.aufs`, `.wh..wh.plnk/…`,
//!   `.wh..wh.orph/…`) is aufs metadata that `docker load` skips (moby `UnpackLayer`); the same
//!   names deeper in the tree are ordinary whiteouts (so `d/.wh..wh.plnk` deletes `d/.wh.plnk`).
//! - `.wh.`, `.wh..` and `.wh...` name nothing to delete: invalid.
//!
//! Names are classified as bytes ([`classify_bytes`]) so that non-UTF-8 names keep their exact
//! bytes; [`classify`] is the same classifier for `&str`.

/// Whiteout prefix.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// Prefix of aufs metadata names.
pub const META_PREFIX: &str = ".wh..wh.";
/// Opaque directory marker.
pub const OPAQUE: &str = ".wh..wh..opq";
/// aufs hardlink directory (top level).
pub const PLNK_DIR: &str = ".wh..wh.plnk";

/// What a cleaned layer entry path means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Whiteout {
    /// An ordinary entry.
    None,
    /// `<dir>/.wh..wh..opq`: the directory (empty string for the root) is opaque.
    Opaque {
        /// The directory made opaque.
        dir: String,
    },
    /// `<dir>/.wh.<name>`: delete `target`.
    Delete {
        /// The path deleted.
        target: String,
    },
    /// Top-level aufs metadata (skipped by `docker load`).
    AufsMeta,
    /// `.wh.`, `.wh..` or `.wh...`: a whiteout that names nothing.
    Invalid,
}

/// What a cleaned layer entry path means, borrowing from the path's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhiteoutRef<'a> {
    /// An ordinary entry.
    None,
    /// `<dir>/.wh..wh..opq`: `dir` (empty for the root) is opaque.
    Opaque {
        /// The directory made opaque.
        dir: &'a [u8],
    },
    /// `<dir>/.wh.<name>`: delete `<dir>/<name>`.
    Delete {
        /// The directory of the whiteout (empty for the root).
        dir: &'a [u8],
        /// The name deleted in `dir`.
        name: &'a [u8],
    },
    /// Top-level aufs metadata (skipped by `docker load`).
    AufsMeta,
    /// `<dir>/.wh.`, `<dir>/.wh..` or `<dir>/.wh...`: a whiteout that names nothing.
    Invalid {
        /// The directory of the whiteout (empty for the root).
        dir: &'a [u8],
        /// What follows `.wh.`: empty, `.` or `..`.
        name: &'a [u8],
    },
}

impl WhiteoutRef<'_> {
    /// The deleted path of a [`WhiteoutRef::Delete`] (`dir/name`, or `name` at the root).
    pub fn target(&self) -> Option<Vec<u8>> {
        match self {
            WhiteoutRef::Delete { dir, name } => Some(join(dir, name)),
            _ => None,
        }
    }
}

/// `dir/name`, or `name` when `dir` is empty (the root).
pub(crate) fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(dir.len().saturating_add(name.len()).saturating_add(1));
    if !dir.is_empty() {
        out.extend_from_slice(dir);
        out.push(b'/');
    }
    out.extend_from_slice(name);
    out
}

/// Splits a cleaned path into (directory, basename); the directory is empty at the top level.
pub(crate) fn split(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => (
            path.get(..i).unwrap_or_default(),
            path.get(i.saturating_add(1)..).unwrap_or_default(),
        ),
        None => (&[], path),
    }
}

/// Classifies a cleaned (relative, `/`-separated) layer path given as bytes.
pub fn classify_bytes(path: &[u8]) -> WhiteoutRef<'_> {
    let (dir, base) = split(path);
    if base == OPAQUE.as_bytes() {
        return WhiteoutRef::Opaque { dir };
    }
    if path.starts_with(META_PREFIX.as_bytes()) {
        return WhiteoutRef::AufsMeta;
    }
    let Some(name) = base.strip_prefix(WHITEOUT_PREFIX.as_bytes()) else {
        return WhiteoutRef::None;
    };
    if name.is_empty() || name == b"." || name == b".." {
        return WhiteoutRef::Invalid { dir, name };
    }
    WhiteoutRef::Delete { dir, name }
}

/// Classifies a cleaned (relative, `/`-separated) layer path.
pub fn classify(path: &str) -> Whiteout {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    match classify_bytes(path.as_bytes()) {
        WhiteoutRef::None => Whiteout::None,
        WhiteoutRef::Opaque { dir } => Whiteout::Opaque { dir: text(dir) },
        WhiteoutRef::Delete { dir, name } => Whiteout::Delete {
            target: text(&join(dir, name)),
        },
        WhiteoutRef::AufsMeta => Whiteout::AufsMeta,
        WhiteoutRef::Invalid { .. } => Whiteout::Invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies() {
        assert_eq!(classify("a/b"), Whiteout::None);
        assert_eq!(
            classify("a/.wh.b"),
            Whiteout::Delete {
                target: "a/b".into()
            }
        );
        assert_eq!(classify(".wh.b"), Whiteout::Delete { target: "b".into() });
        assert_eq!(
            classify("a/.wh..wh..opq"),
            Whiteout::Opaque { dir: "a".into() }
        );
        assert_eq!(
            classify(".wh..wh..opq"),
            Whiteout::Opaque { dir: "".into() }
        );
        assert_eq!(classify(".wh..wh.aufs"), Whiteout::AufsMeta);
        assert_eq!(classify(".wh..wh.plnk/123.4"), Whiteout::AufsMeta);
        assert_eq!(classify(".wh..wh..opq/x"), Whiteout::AufsMeta);
        assert_eq!(
            classify("d/.wh..wh.plnk"),
            Whiteout::Delete {
                target: "d/.wh.plnk".into()
            }
        );
        assert_eq!(classify("a/.wh."), Whiteout::Invalid);
        assert_eq!(classify(".wh.."), Whiteout::Invalid);
        assert_eq!(classify("x/.wh..."), Whiteout::Invalid);
    }

    #[test]
    fn classifies_bytes_exactly() {
        let name = b"d\xff/.wh.\xfe\x80";
        assert_eq!(
            classify_bytes(name),
            WhiteoutRef::Delete {
                dir: b"d\xff",
                name: b"\xfe\x80"
            }
        );
        assert_eq!(
            classify_bytes(name).target(),
            Some(b"d\xff/\xfe\x80".to_vec())
        );
        assert_eq!(
            classify_bytes(b"a/.wh.."),
            WhiteoutRef::Invalid {
                dir: b"a",
                name: b"."
            }
        );
        assert_eq!(split(b"top"), (&b""[..], &b"top"[..]));
    }
}
