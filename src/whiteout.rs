//! Whiteout names (aufs / OCI): what a layer entry's name means.
//!
//! - `<dir>/.wh..wh..opq` makes `<dir>` opaque: everything below it in lower layers is hidden.
//! - `<dir>/.wh.<name>` deletes `<dir>/<name>` (and its subtree) from lower layers.
//! - A *top-level* name starting with `.wh..wh.` (`.wh..wh.aufs`, `.wh..wh.plnk/…`,
//!   `.wh..wh.orph/…`) is aufs metadata that `docker load` skips (moby `UnpackLayer`); the same
//!   names deeper in the tree are ordinary whiteouts (so `d/.wh..wh.plnk` deletes `d/.wh.plnk`).
//! - `.wh.`, `.wh..` and `.wh...` name nothing to delete: invalid.
//!
//! Names are classified as bytes, so that non-UTF-8 names keep their exact bytes.

/// Whiteout prefix.
pub(crate) const WHITEOUT_PREFIX: &str = ".wh.";
/// Prefix of aufs metadata names.
pub(crate) const META_PREFIX: &str = ".wh..wh.";
/// Opaque directory marker.
pub(crate) const OPAQUE: &str = ".wh..wh..opq";
/// aufs hardlink directory (top level).
pub(crate) const PLNK_DIR: &str = ".wh..wh.plnk";

/// What a cleaned layer entry path means, borrowing from the path's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Whiteout<'a> {
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

impl Whiteout<'_> {
    /// The deleted path of a [`Whiteout::Delete`] (`dir/name`, or `name` at the root).
    pub(crate) fn target(&self) -> Option<Vec<u8>> {
        match self {
            Whiteout::Delete { dir, name } => Some(crate::path::join(dir, name)),
            _ => None,
        }
    }
}

/// Classifies a cleaned (relative, `/`-separated) layer path given as bytes.
pub(crate) fn classify(path: &[u8]) -> Whiteout<'_> {
    let (dir, base) = crate::path::split(path);
    if base == OPAQUE.as_bytes() {
        return Whiteout::Opaque { dir };
    }
    if path.starts_with(META_PREFIX.as_bytes()) {
        return Whiteout::AufsMeta;
    }
    let Some(name) = base.strip_prefix(WHITEOUT_PREFIX.as_bytes()) else {
        return Whiteout::None;
    };
    if name.is_empty() || name == b"." || name == b".." {
        return Whiteout::Invalid { dir, name };
    }
    Whiteout::Delete { dir, name }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies() {
        assert_eq!(classify(b"a/b"), Whiteout::None);
        assert_eq!(
            classify(b"a/.wh.b"),
            Whiteout::Delete {
                dir: b"a",
                name: b"b"
            }
        );
        assert_eq!(classify(b".wh.b").target(), Some(b"b".to_vec()));
        assert_eq!(classify(b"a/.wh..wh..opq"), Whiteout::Opaque { dir: b"a" });
        assert_eq!(classify(b".wh..wh..opq"), Whiteout::Opaque { dir: b"" });
        assert_eq!(classify(b".wh..wh.aufs"), Whiteout::AufsMeta);
        assert_eq!(classify(b".wh..wh.plnk/123.4"), Whiteout::AufsMeta);
        assert_eq!(classify(b".wh..wh..opq/x"), Whiteout::AufsMeta);
        assert_eq!(
            classify(b"d/.wh..wh.plnk").target(),
            Some(b"d/.wh.plnk".to_vec())
        );
        assert!(matches!(classify(b"a/.wh."), Whiteout::Invalid { .. }));
        assert!(matches!(classify(b".wh.."), Whiteout::Invalid { .. }));
        assert!(matches!(classify(b"x/.wh..."), Whiteout::Invalid { .. }));
    }

    #[test]
    fn classifies_bytes_exactly() {
        let name = b"d\xff/.wh.\xfe\x80";
        assert_eq!(
            classify(name),
            Whiteout::Delete {
                dir: b"d\xff",
                name: b"\xfe\x80"
            }
        );
        assert_eq!(classify(name).target(), Some(b"d\xff/\xfe\x80".to_vec()));
        assert_eq!(
            classify(b"a/.wh.."),
            Whiteout::Invalid {
                dir: b"a",
                name: b"."
            }
        );
    }
}
