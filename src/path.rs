//! The one path model of the crate: a cleaned, relative, `/`-separated path kept as the exact
//! bytes of the tar header ([`EntryPath`]), for outer members and layer entries alike, and the
//! one way links are followed ([`walk`]).
//!
//! Names are cleaned the way `docker load` cleans them before extracting (moby
//! `pkg/archive`: the leading `/` stripped, `filepath.Clean`), so `./a`, `/a` and `a//b/../a`
//! name the same path. A name whose `..` components climb above the root is *unsafe*: it is
//! reported, and its cleaned form is clamped at the root the way moby's
//! `FollowSymlinkInScope` clamps paths.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;

use serde::{Serialize, Serializer};

/// A cleaned, relative, `/`-separated path inside an archive, a layer or a flattened
/// filesystem, kept as the exact bytes of the tar header (names need not be UTF-8). The empty
/// path is the root.
///
/// Paths sort as a tree walk: a directory comes right before its children and siblings sort by
/// bytes, because `/` sorts before every other byte.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct EntryPath(Vec<u8>);

/// What cleaning a raw name noticed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Cleaned {
    /// A `..` component climbed above the root (and was clamped there).
    pub escapes: bool,
    /// The name started with `/`.
    pub absolute: bool,
}

impl EntryPath {
    /// Wraps already-cleaned bytes (see [`EntryPath::clean`] for raw names).
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> EntryPath {
        EntryPath(bytes.into())
    }

    /// Cleans a raw name the way `docker load` does (leading `/` and `./` dropped, `//` and `.`
    /// collapsed, `..` resolved and clamped at the root). Returns the path and whether a `..`
    /// climbed above the root.
    pub fn clean(raw: &[u8]) -> (EntryPath, bool) {
        let (p, c) = Self::clean_noting(raw);
        (p, c.escapes)
    }

    /// [`EntryPath::clean`], also noting an absolute name.
    pub(crate) fn clean_noting(raw: &[u8]) -> (EntryPath, Cleaned) {
        let mut out: Vec<u8> = Vec::with_capacity(raw.len());
        let mut escapes = false;
        for comp in raw.split(|&b| b == b'/') {
            match comp {
                b"" | b"." => {}
                b".." => match out.iter().rposition(|&b| b == b'/') {
                    Some(i) => out.truncate(i),
                    None if out.is_empty() => escapes = true,
                    None => out.clear(),
                },
                c => {
                    if !out.is_empty() {
                        out.push(b'/');
                    }
                    out.extend_from_slice(c);
                }
            }
        }
        (
            EntryPath(out),
            Cleaned {
                escapes,
                absolute: raw.first() == Some(&b'/'),
            },
        )
    }

    /// The exact bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether this is the root (the empty path).
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The path as text, invalid UTF-8 replaced by U+FFFD.
    pub fn to_string_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }

    /// The parent directory (the root for a top-level name); `None` for the root itself.
    pub fn parent(&self) -> Option<EntryPath> {
        if self.is_root() {
            return None;
        }
        Some(EntryPath(split(&self.0).0.to_vec()))
    }

    /// The last component.
    pub fn file_name(&self) -> &[u8] {
        split(&self.0).1
    }

    /// `self/name`.
    pub fn join(&self, name: &[u8]) -> EntryPath {
        EntryPath(join(&self.0, name))
    }

    /// Whether `self` is `other` or below it.
    pub fn starts_with(&self, other: &EntryPath) -> bool {
        other.is_root()
            || self.0 == other.0
            || (self.0.starts_with(&other.0) && self.0.get(other.0.len()) == Some(&b'/'))
    }

    /// The components.
    pub fn components(&self) -> impl Iterator<Item = &[u8]> {
        self.0.split(|&b| b == b'/').filter(|c| !c.is_empty())
    }

    /// The path with a leading `/`, control characters and backslashes escaped (`\n`, `\x1b`,
    /// `\\`) so that a hostile name cannot forge output lines or drive a terminal; other bytes
    /// are written as they are.
    pub fn display_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.0.len().saturating_add(1));
        out.push(b'/');
        escape_into(&self.0, &mut out);
        out
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

/// Appends `bytes` to `out` with control characters (C0, DEL) and `\` escaped (see
/// [`EntryPath::display_bytes`]); C1 controls in UTF-8 (U+0080–U+009F) are escaped too.
pub(crate) fn escape_into(bytes: &[u8], out: &mut Vec<u8>) {
    let mut i = 0usize;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1f | 0x7f => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
            // U+0080..U+009F are C2 80..C2 9F in UTF-8.
            0xc2 if bytes
                .get(i.saturating_add(1))
                .is_some_and(|&n| (0x80..=0x9f).contains(&n)) =>
            {
                let n = bytes.get(i.saturating_add(1)).copied().unwrap_or(0);
                out.extend_from_slice(format!("\\u{{{:x}}}", u32::from(n)).as_bytes());
                i = i.saturating_add(1);
            }
            _ => out.push(b),
        }
        i = i.saturating_add(1);
    }
}

/// Escapes control characters (C0 but for none, DEL, C1) in text meant for a terminal, as
/// `\xNN` / `\u{NN}`; everything else (backslashes included) is kept, so text that was
/// already quoted is not quoted twice.
pub(crate) fn escape_controls(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len().saturating_add(8));
    for c in s.chars() {
        if is_control(c) {
            let n = u32::from(c);
            if n < 0x80 {
                out.push_str(&format!("\\x{n:02x}"));
            } else {
                out.push_str(&format!("\\u{{{n:x}}}"));
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn is_control(c: char) -> bool {
    c.is_control()
}

/// Sort key of one byte: `/` below everything else.
fn rank(b: u8) -> u16 {
    if b == b'/' {
        0
    } else {
        u16::from(b).saturating_add(1)
    }
}

impl Ord for EntryPath {
    /// Bytes compared with `/` lowest. Paths in a map share long prefixes, so the common
    /// prefix is skipped by slice comparisons (`memcmp`) before the first differing byte is
    /// ranked.
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (self.0.as_slice(), other.0.as_slice());
        let at = common_prefix(a, b);
        match (a.get(at), b.get(at)) {
            (Some(&x), Some(&y)) => rank(x).cmp(&rank(y)),
            _ => a.len().cmp(&b.len()),
        }
    }
}

/// Length of the longest common prefix of `a` and `b`. Paths in one map share long prefixes
/// (every ancestor of a deep path is a key), so equal 32-byte chunks are skipped with a
/// slice comparison (memcmp) rather than byte by byte.
pub(crate) fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    const CHUNK: usize = 32;
    let mut at = 0usize;
    for (x, y) in a.chunks_exact(CHUNK).zip(b.chunks_exact(CHUNK)) {
        if x != y {
            break;
        }
        at = at.saturating_add(CHUNK);
    }
    let rest = a
        .get(at..)
        .unwrap_or_default()
        .iter()
        .zip(b.get(at..).unwrap_or_default())
        .take_while(|(x, y)| x == y)
        .count();
    at.saturating_add(rest)
}

impl PartialOrd for EntryPath {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for EntryPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&String::from_utf8_lossy(&self.display_bytes()))
    }
}

impl fmt::Debug for EntryPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.to_string_lossy(), f)
    }
}

impl Serialize for EntryPath {
    /// As an absolute path, invalid UTF-8 replaced by U+FFFD.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("/{}", self.to_string_lossy()))
    }
}

impl From<&str> for EntryPath {
    /// Cleans `s` (see [`EntryPath::clean`]).
    fn from(s: &str) -> EntryPath {
        EntryPath::clean(s.as_bytes()).0
    }
}

/// What a tree holds at a path, for [`walk`].
pub(crate) enum Kind<'t> {
    /// A directory.
    Dir,
    /// A symbolic link with its target as written.
    Symlink(&'t [u8]),
    /// A hard link naming another path from the root (outer archive members only: in a
    /// filesystem a hardlink is just another name of a file).
    Hardlink(&'t [u8]),
    /// Anything else (a file, a device).
    Other,
}

/// A tree of named nodes that [`walk`] can follow links through.
pub(crate) trait Tree {
    /// A node.
    type Id: Clone;
    /// The root directory.
    fn root(&self) -> Self::Id;
    /// The child `name` of directory `dir`, if any.
    fn child(&self, dir: &Self::Id, name: &[u8]) -> Option<Self::Id>;
    /// What a node is.
    fn kind(&self, id: &Self::Id) -> Kind<'_>;
}

/// How [`walk`] follows links.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WalkOptions {
    /// Follow a link in the last component too (else only directories on the way).
    pub follow_last: bool,
    /// Most links followed.
    pub max_hops: u32,
}

/// Where a [`walk`] ended.
#[derive(Debug)]
pub(crate) struct Walked<Id> {
    /// The real path: links replaced by their targets, `..` clamped at the root.
    pub path: EntryPath,
    /// The node there (`None`: nothing is there).
    pub node: Option<Id>,
    /// A symlink was followed on the way.
    pub via_symlink: bool,
    /// A `..` (of the path or of a link target) climbed above the root and was clamped.
    pub escaped: bool,
    /// Links followed.
    pub hops: u32,
    /// The first symlink followed whose target leaves the root when read outside a chroot
    /// (an absolute target, or `..` climbing above the root): its path and target. A
    /// chrooted walk (this one, moby's `FollowSymlinkInScope`) stays inside; an extractor
    /// that resolves it on the host does not.
    pub left_root: Option<(EntryPath, Vec<u8>)>,
}

/// Why a [`walk`] stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WalkError {
    /// More links than allowed: a loop, or an absurd chain.
    Loop(EntryPath),
    /// A component on the way is neither a directory nor a link to one.
    NotDirectory(EntryPath),
}

/// Follows `path` through `tree` component by component, the way a process chrooted into
/// the tree would (moby `FollowSymlinkInScope`): a symlink component is replaced by its target
/// (absolute targets from the root, relative ones from the link's directory), `..` at the root
/// stays at the root (and is noted as an escape), a missing component and everything below it
/// is taken lexically. Linear in the length of the path and of the targets followed.
pub(crate) fn walk<T: Tree>(
    tree: &T,
    path: &[u8],
    options: WalkOptions,
) -> Result<Walked<T::Id>, WalkError> {
    // Components still to walk, last first, as byte ranges of owned buffers.
    let mut pending: Vec<Vec<u8>> = path
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .rev()
        .map(<[u8]>::to_vec)
        .collect();
    // The walked path: its bytes, and per component its start in `done` and its node.
    let mut done: Vec<u8> = Vec::with_capacity(path.len());
    let mut stack: Vec<(usize, Option<T::Id>)> = Vec::new();
    let root = tree.root();
    let mut out = Walked {
        path: EntryPath::default(),
        node: Some(root.clone()),
        via_symlink: false,
        escaped: false,
        hops: 0,
        left_root: None,
    };
    // The last symlink followed, to blame for a `..` that climbs above the root.
    let mut last_link: Option<(EntryPath, Vec<u8>)> = None;
    let current = |stack: &[(usize, Option<T::Id>)]| -> Option<T::Id> {
        match stack.last() {
            Some((_, id)) => id.clone(),
            None => Some(root.clone()),
        }
    };
    while let Some(comp) = pending.pop() {
        match comp.as_slice() {
            b"." => continue,
            b".." => {
                match stack.pop() {
                    Some((start, _)) => done.truncate(start.saturating_sub(usize::from(start > 0))),
                    None => {
                        out.escaped = true;
                        if out.left_root.is_none() {
                            out.left_root = last_link.clone();
                        }
                    }
                }
                continue;
            }
            _ => {}
        }
        let dir = current(&stack);
        let node = dir.as_ref().and_then(|d| tree.child(d, &comp));
        let start = if done.is_empty() {
            0
        } else {
            done.push(b'/');
            done.len()
        };
        done.extend_from_slice(&comp);
        let last = pending.is_empty();
        let (target, hard) = match node.as_ref().map(|n| tree.kind(n)) {
            None | Some(Kind::Dir) => {
                stack.push((start, node));
                continue;
            }
            Some(Kind::Other) => {
                if !last {
                    return Err(WalkError::NotDirectory(EntryPath(done)));
                }
                stack.push((start, node));
                continue;
            }
            Some(Kind::Symlink(_)) if last && !options.follow_last => {
                stack.push((start, node));
                continue;
            }
            Some(Kind::Symlink(t)) => (t.to_vec(), false),
            Some(Kind::Hardlink(t)) => (t.to_vec(), true),
        };
        out.hops = out.hops.saturating_add(1);
        if out.hops > options.max_hops {
            return Err(WalkError::Loop(EntryPath(done)));
        }
        if !hard {
            out.via_symlink = true;
            let link = (EntryPath(done.clone()), target.clone());
            if target.first() == Some(&b'/') && out.left_root.is_none() {
                out.left_root = Some(link.clone());
            }
            last_link = Some(link);
        }
        // Drop the link's own component; an absolute target or a hardlink starts at the root.
        done.truncate(start.saturating_sub(usize::from(start > 0)));
        if hard || target.first() == Some(&b'/') {
            stack.clear();
            done.clear();
        }
        pending.extend(
            target
                .split(|&b| b == b'/')
                .filter(|c| !c.is_empty())
                .rev()
                .map(<[u8]>::to_vec),
        );
    }
    out.node = current(&stack);
    out.path = EntryPath(done);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn order_is_bytes_with_slash_lowest_at_any_length() {
        let reference =
            |a: &[u8], b: &[u8]| a.iter().map(|&x| rank(x)).cmp(b.iter().map(|&x| rank(x)));
        let long = "d/".repeat(40);
        let mut samples: Vec<Vec<u8>> = Vec::new();
        for stem in ["", "a", long.as_str()] {
            for tail in [
                "", "a", "a/b", "a-b", "a.b", "a/", "b", "\u{0}", "\u{7f}", "ab",
            ] {
                samples.push(format!("{stem}{tail}").into_bytes());
            }
        }
        samples.push(vec![0xff; 70]);
        samples.push([vec![0xff; 64], b"/x".to_vec()].concat());
        for a in &samples {
            for b in &samples {
                assert_eq!(
                    EntryPath(a.clone()).cmp(&EntryPath(b.clone())),
                    reference(a, b),
                    "{a:?} vs {b:?}"
                );
            }
        }
    }

    #[test]
    fn cleans_bytes_like_docker() {
        assert_eq!(
            EntryPath::clean(b"./a//b/../c/"),
            (EntryPath::from_bytes("a/c"), false)
        );
        assert_eq!(
            EntryPath::clean(b"/../../etc/\xffx"),
            (EntryPath::from_bytes(&b"etc/\xffx"[..]), true)
        );
        assert!(EntryPath::clean(b"./").0.is_root());
        assert_eq!(EntryPath::clean(b"a/../../b"), (EntryPath::from("b"), true));
        assert!(EntryPath::clean_noting(b"/a").1.absolute);
    }

    #[test]
    fn sorts_as_a_tree_walk() {
        let mut v: Vec<EntryPath> = ["a.b", "a/c", "a", "a-", "a/b/c", "b"]
            .iter()
            .map(|s| EntryPath::from(*s))
            .collect();
        v.sort();
        let got: Vec<String> = v.iter().map(|p| p.to_string()).collect();
        assert_eq!(got, ["/a", "/a/b/c", "/a/c", "/a-", "/a.b", "/b"]);
    }

    #[test]
    fn relations_and_display() {
        let p = EntryPath::from("a/b\n\x1b[31m\\c");
        assert_eq!(p.display_bytes(), b"/a/b\\n\\x1b[31m\\\\c".to_vec());
        assert_eq!(p.parent(), Some(EntryPath::from("a")));
        assert_eq!(EntryPath::from("a").parent(), Some(EntryPath::default()));
        assert!(EntryPath::from("a/b").starts_with(&EntryPath::from("a")));
        assert!(!EntryPath::from("ab").starts_with(&EntryPath::from("a")));
        assert!(EntryPath::from("ab").starts_with(&EntryPath::default()));
        assert_eq!(EntryPath::from("a/b").file_name(), b"b");
        assert_eq!(
            EntryPath::from("x\u{9b}y").display_bytes(),
            b"/x\\u{9b}y".to_vec()
        );
        assert_eq!(escape_controls("a\u{1b}b\u{9b}"), "a\\x1bb\\u{9b}");
        assert_eq!(format!("{:>4}|", EntryPath::from("a")), "  /a|");
    }

    /// A tree of full paths, for testing.
    struct Map(HashMap<Vec<u8>, (bool, Option<Vec<u8>>)>);

    impl Tree for Map {
        type Id = Vec<u8>;
        fn root(&self) -> Vec<u8> {
            Vec::new()
        }
        fn child(&self, dir: &Vec<u8>, name: &[u8]) -> Option<Vec<u8>> {
            let p = join(dir, name);
            self.0.contains_key(&p).then_some(p)
        }
        fn kind(&self, id: &Vec<u8>) -> Kind<'_> {
            match self.0.get(id) {
                Some((true, _)) => Kind::Dir,
                Some((false, Some(t))) => Kind::Symlink(t),
                _ => Kind::Other,
            }
        }
    }

    #[test]
    fn order_is_bytes_with_slash_lowest() {
        let old = |a: &EntryPath, b: &EntryPath| {
            a.0.iter()
                .map(|&x| rank(x))
                .cmp(b.0.iter().map(|&x| rank(x)))
        };
        let long = "d/".repeat(100);
        let names: Vec<EntryPath> = [
            "",
            "a",
            "a/b",
            "a-b",
            "a/b/c",
            "ab",
            "a0",
            "b",
            "\u{ff}",
            "a/\x00",
            "a/\x2e",
            &format!("{long}x"),
            &format!("{long}x/y"),
            &format!("{long}x-y"),
            &long.clone(),
            &format!("{long}w"),
        ]
        .iter()
        .map(|s| EntryPath(s.as_bytes().to_vec()))
        .collect();
        for a in &names {
            for b in &names {
                assert_eq!(a.cmp(b), old(a, b), "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn walks_links_in_scope() {
        let mut m = HashMap::new();
        m.insert(b"usr".to_vec(), (true, None));
        m.insert(b"usr/lib".to_vec(), (true, None));
        m.insert(b"usr/lib/x".to_vec(), (false, None));
        m.insert(b"lib".to_vec(), (false, Some(b"usr/lib".to_vec())));
        m.insert(b"up".to_vec(), (false, Some(b"../../..".to_vec())));
        m.insert(b"loop".to_vec(), (false, Some(b"loop".to_vec())));
        m.insert(b"abs".to_vec(), (false, Some(b"/usr".to_vec())));
        let t = Map(m);
        let o = WalkOptions {
            follow_last: true,
            max_hops: 10,
        };
        let w = walk(&t, b"lib/x", o).unwrap();
        assert_eq!(w.path, EntryPath::from("usr/lib/x"));
        assert!(w.via_symlink && !w.escaped && w.node.is_some());
        let w = walk(&t, b"up/usr/lib", o).unwrap();
        assert!(w.escaped);
        assert_eq!(w.path, EntryPath::from("usr/lib"));
        assert!(matches!(walk(&t, b"loop", o), Err(WalkError::Loop(_))));
        assert!(matches!(
            walk(&t, b"usr/lib/x/y", o),
            Err(WalkError::NotDirectory(_))
        ));
        let w = walk(&t, b"abs/lib/../lib/x", o).unwrap();
        assert_eq!(w.path, EntryPath::from("usr/lib/x"));
        let w = walk(&t, b"nope/../usr", o).unwrap();
        assert_eq!(w.path, EntryPath::from("usr"));
        assert!(w.node.is_some());
        let no_last = WalkOptions {
            follow_last: false,
            ..o
        };
        assert_eq!(
            walk(&t, b"lib", no_last).unwrap().path,
            EntryPath::from("lib")
        );
    }
}
