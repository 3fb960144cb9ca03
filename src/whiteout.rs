//! Whiteout names (aufs / OCI): what a layer entry's name means.
//!
//! - `<dir>/.wh..wh..opq` makes `<dir>` opaque: everything below it in lower layers is hidden.
//! - `<dir>/.wh.<name>` deletes `<dir>/<name>` (and its subtree) from lower layers.
//! - A *top-level* name starting with `.wh..wh.` (`.wh..wh.aufs`, `.wh..wh.plnk/…`,
//!   `.wh..wh.orph/…`) is aufs metadata that `docker load` skips (moby `UnpackLayer`); the same
//!   names deeper in the tree are ordinary whiteouts (so `d/.wh..wh.plnk` deletes `d/.wh.plnk`).
//! - `.wh.`, `.wh..` and `.wh...` name nothing to delete: invalid.

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

/// Classifies a cleaned (relative, `/`-separated) layer path.
pub fn classify(path: &str) -> Whiteout {
    let base = crate::path::basename(path);
    let dir = crate::path::parent(path);
    if base == OPAQUE {
        return Whiteout::Opaque {
            dir: dir.to_string(),
        };
    }
    if path.starts_with(META_PREFIX) {
        return Whiteout::AufsMeta;
    }
    let Some(name) = base.strip_prefix(WHITEOUT_PREFIX) else {
        return Whiteout::None;
    };
    if name.is_empty() || name == "." || name == ".." {
        return Whiteout::Invalid;
    }
    let target = if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    };
    Whiteout::Delete { target }
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
}
