//! Member path policy.
//!
//! Names are cleaned the way `docker load` cleans them before extracting (go-archive: leading
//! `/` stripped, `path.Clean`), so `./a`, `/a` and `a//b/../a` all name the same member. The raw
//! name is kept for reports. A name whose `..` components climb above the root is *unsafe*: it is
//! reported, and its cleaned form is clamped at the root the way moby's `safePath` resolves paths.

/// The result of cleaning a member name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanPath {
    /// Cleaned, relative, `/`-separated; empty for the root itself.
    pub path: String,
    /// The name started with `/`.
    pub absolute: bool,
    /// A `..` component climbed above the root.
    pub escapes: bool,
    /// The name ended with `/`.
    pub trailing_slash: bool,
}

/// Cleans a member name (see the module docs).
pub fn clean(raw: &str) -> CleanPath {
    let mut parts: Vec<&str> = Vec::new();
    let mut escapes = false;
    for comp in raw.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    escapes = true;
                }
            }
            c => parts.push(c),
        }
    }
    CleanPath {
        path: parts.join("/"),
        absolute: raw.starts_with('/'),
        escapes,
        trailing_slash: raw.len() > 1 && raw.ends_with('/'),
    }
}

/// Resolves a link target written in the member `from` into a cleaned archive path: absolute
/// targets are taken from the archive root, relative ones from the link's directory. Returns the
/// path and whether resolution climbed above the root (and was clamped there).
pub fn resolve_link(from: &str, target: &str) -> (String, bool) {
    if target.starts_with('/') {
        let c = clean(target);
        return (c.path, c.escapes);
    }
    let dir = parent(from);
    let joined = if dir.is_empty() {
        target.to_string()
    } else {
        format!("{dir}/{target}")
    };
    let c = clean(&joined);
    (c.path, c.escapes)
}

/// The directory part of a cleaned path (`""` for a top-level name).
pub fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(i) => path.get(..i).unwrap_or(""),
        None => "",
    }
}

/// The last component of a cleaned path.
pub fn basename(path: &str) -> &str {
    match path.rfind('/') {
        Some(i) => path.get(i.saturating_add(1)..).unwrap_or(""),
        None => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_like_go() {
        assert_eq!(clean("./a/b").path, "a/b");
        assert_eq!(clean("/a//b/").path, "a/b");
        assert!(clean("/a").absolute);
        assert!(clean("a/").trailing_slash);
        assert_eq!(clean("a/../b").path, "b");
        assert!(!clean("a/../b").escapes);
        let e = clean("../../etc/passwd");
        assert!(e.escapes);
        assert_eq!(e.path, "etc/passwd");
        assert_eq!(clean("./").path, "");
    }

    #[test]
    fn resolves_links_in_scope() {
        assert_eq!(
            resolve_link("b/layer.tar", "../a/layer.tar"),
            ("a/layer.tar".to_string(), false)
        );
        assert_eq!(resolve_link("x", "/y/z"), ("y/z".to_string(), false));
        assert_eq!(resolve_link("b/c", "../../../x"), ("x".to_string(), true));
        assert_eq!(parent("a/b/c"), "a/b");
        assert_eq!(basename("a/b/c"), "c");
        assert_eq!(parent("c"), "");
    }
}
