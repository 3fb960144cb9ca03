//! One layer entry as recorded while the layer streams by: its cleaned path (exact bytes), type,
//! metadata and where its header sits. Only metadata: the content stays in the archive and is
//! read again when it is asked for (see [`crate::layer::content`]).

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;
use std::io::Read;

use serde::{Serialize, Serializer};

use crate::whiteout::{self, WhiteoutRef};

/// A cleaned, relative, `/`-separated path inside a layer or a flattened filesystem, kept as the
/// exact bytes of the tar header (names need not be UTF-8). The empty path is the root.
///
/// Paths sort as a tree walk: a directory comes right before its children and siblings sort by
/// bytes, because `/` sorts before every other byte.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct EntryPath(Vec<u8>);

impl EntryPath {
    /// Wraps already-cleaned bytes (see [`EntryPath::clean`] for raw names).
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> EntryPath {
        EntryPath(bytes.into())
    }

    /// Cleans a raw name the way `docker load` does (leading `/` and `./` dropped, `//` and `.`
    /// collapsed, `..` resolved and clamped at the root). Returns the path and whether a `..`
    /// climbed above the root.
    pub fn clean(raw: &[u8]) -> (EntryPath, bool) {
        let mut parts: Vec<&[u8]> = Vec::new();
        let mut escapes = false;
        for comp in raw.split(|&b| b == b'/') {
            match comp {
                b"" | b"." => {}
                b".." => escapes |= parts.pop().is_none(),
                c => parts.push(c),
            }
        }
        (EntryPath(parts.join(&b'/')), escapes)
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
        Some(EntryPath(whiteout::split(&self.0).0.to_vec()))
    }

    /// The last component.
    pub fn file_name(&self) -> &[u8] {
        whiteout::split(&self.0).1
    }

    /// `self/name`.
    pub fn join(&self, name: &[u8]) -> EntryPath {
        EntryPath(whiteout::join(&self.0, name))
    }

    /// Whether `self` is `other` or below it.
    pub fn starts_with(&self, other: &EntryPath) -> bool {
        other.is_root()
            || self.0 == other.0
            || (self.0.starts_with(&other.0) && self.0.get(other.0.len()) == Some(&b'/'))
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

/// Appends `bytes` to `out` with control characters and `\` escaped (see
/// [`EntryPath::display_bytes`]).
pub fn escape_into(bytes: &[u8], out: &mut Vec<u8>) {
    for &b in bytes {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1f | 0x7f => {
                out.extend_from_slice(format!("\\x{b:02x}").as_bytes());
            }
            _ => out.push(b),
        }
    }
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
    fn cmp(&self, other: &Self) -> Ordering {
        self.0
            .iter()
            .map(|&b| rank(b))
            .cmp(other.0.iter().map(|&b| rank(b)))
    }
}

impl PartialOrd for EntryPath {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for EntryPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.display_bytes()))
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

/// The type of an entry, with what the type carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
#[non_exhaustive]
pub enum EntryKind {
    /// A regular file (typeflags `0`, `\0`, `7` and GNU sparse `S`).
    File,
    /// A directory (typeflag `5`, or a V7 regular file whose name ends with `/`).
    Dir,
    /// A symbolic link.
    Symlink {
        /// The target exactly as written.
        #[serde(serialize_with = "lossy")]
        target: Vec<u8>,
    },
    /// A hard link to another path of the layer root (cleaned).
    Hardlink {
        /// The target path.
        target: EntryPath,
    },
    /// A character device.
    Char {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A block device.
    Block {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A FIFO.
    Fifo,
    /// A typeflag no loader extracts.
    Other {
        /// The typeflag byte.
        typeflag: u8,
    },
}

fn lossy<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(b))
}

impl EntryKind {
    /// The one-letter type `ls -l` shows (`-`, `d`, `l`, `h`, `c`, `b`, `p`, `?`).
    pub fn letter(&self) -> char {
        match self {
            EntryKind::File => '-',
            EntryKind::Dir => 'd',
            EntryKind::Symlink { .. } => 'l',
            EntryKind::Hardlink { .. } => 'h',
            EntryKind::Char { .. } => 'c',
            EntryKind::Block { .. } => 'b',
            EntryKind::Fifo => 'p',
            EntryKind::Other { .. } => '?',
        }
    }

    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        matches!(self, EntryKind::Dir)
    }
}

/// One extended attribute (from a PAX `SCHILY.xattr.<name>` record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Xattr {
    /// The attribute name (`security.capability`, `user.foo`, …).
    #[serde(serialize_with = "lossy")]
    pub name: Vec<u8>,
    /// The raw value.
    #[serde(serialize_with = "lossy")]
    pub value: Vec<u8>,
}

/// Longest xattr value kept (Linux's own limit); longer ones are dropped.
pub const MAX_XATTR_VALUE: usize = 64 << 10;

/// An entry's metadata, as the tar header (and its PAX records) give it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Cleaned path.
    pub path: EntryPath,
    /// Type.
    #[serde(flatten)]
    pub kind: EntryKind,
    /// Permission bits with setuid/setgid/sticky (`mode & 0o7777`).
    pub mode: u32,
    /// Owner (PAX `uid` when present).
    pub uid: u64,
    /// Group (PAX `gid` when present).
    pub gid: u64,
    /// Modification time, whole seconds since the epoch (PAX `mtime` when present; 0 before
    /// the epoch).
    pub mtime: u64,
    /// Content size in bytes (PAX `size` when present); 0 for non-files.
    pub size: u64,
    /// Extended attributes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub xattrs: Vec<Xattr>,
    /// Offset of the entry's header in the decompressed layer stream (identifies the entry).
    pub offset: u64,
}

impl Entry {
    /// An entry owned by root with mtime 0, size 0, no xattrs, at offset 0.
    pub fn new(path: EntryPath, kind: EntryKind, mode: u32) -> Entry {
        Entry {
            path,
            kind,
            mode,
            uid: 0,
            gid: 0,
            mtime: 0,
            size: 0,
            xattrs: Vec::new(),
            offset: 0,
        }
    }
}

/// One recorded item of a layer, in stream order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "record", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Record {
    /// An ordinary entry.
    Entry(Entry),
    /// `<dir>/.wh.<name>`: deletes `target` from lower layers.
    Whiteout {
        /// The deleted path.
        target: EntryPath,
        /// Header offset of the whiteout entry.
        offset: u64,
    },
    /// `<dir>/.wh..wh..opq`: hides what lower layers have below `dir`.
    Opaque {
        /// The opaque directory (the root when empty).
        dir: EntryPath,
        /// Header offset of the marker.
        offset: u64,
    },
    /// `<dir>/.wh.`, `.wh..` or `.wh...`: a whiteout that names nothing.
    InvalidWhiteout {
        /// The directory the whiteout sits in.
        dir: EntryPath,
        /// What follows `.wh.` (empty, `.` or `..`).
        #[serde(serialize_with = "lossy")]
        name: Vec<u8>,
        /// Header offset.
        offset: u64,
    },
    /// Top-level aufs metadata (`.wh..wh.aufs`, `.wh..wh.orph/…`, `.wh..wh.plnk/…`), skipped
    /// by loaders; regular files under `.wh..wh.plnk` are kept as hardlink sources.
    Aufs(Entry),
}

impl Record {
    /// Header offset of the record's entry.
    pub fn offset(&self) -> u64 {
        match self {
            Record::Entry(e) | Record::Aufs(e) => e.offset,
            Record::Whiteout { offset, .. }
            | Record::Opaque { offset, .. }
            | Record::InvalidWhiteout { offset, .. } => *offset,
        }
    }
}

/// Every record of one layer, in stream order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LayerRecords {
    /// The records.
    pub records: Vec<Record>,
    /// `false` when recording stopped early: the tar is corrupt or truncated, or
    /// [`Limits::max_layer_entries`](crate::Limits) was reached.
    pub complete: bool,
}

fn parse_u64(v: &[u8]) -> Option<u64> {
    std::str::from_utf8(v).ok()?.trim().parse().ok()
}

/// PAX `mtime` is decimal seconds with an optional fraction and sign.
fn parse_mtime(v: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(v).ok()?.trim();
    let whole = s.split('.').next()?;
    if whole.starts_with('-') {
        return Some(0);
    }
    whole.parse().ok()
}

/// Builds the record of one tar entry. `raw` is the full name (PAX/GNU long names applied).
pub(crate) fn record<R: Read>(entry: &mut tar::Entry<'_, R>, offset: u64) -> Option<Record> {
    let raw = entry.path_bytes().into_owned();
    let header = entry.header();
    let etype = header.entry_type();
    if etype == tar::EntryType::XGlobalHeader {
        return None;
    }
    let (path, _) = EntryPath::clean(&raw);
    let link = || {
        entry
            .link_name_bytes()
            .map(Cow::into_owned)
            .unwrap_or_default()
    };
    let device = |h: &tar::Header| {
        (
            h.device_major().ok().flatten().unwrap_or(0),
            h.device_minor().ok().flatten().unwrap_or(0),
        )
    };
    let kind = match etype {
        tar::EntryType::Regular if raw.ends_with(b"/") => EntryKind::Dir,
        tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
            EntryKind::File
        }
        tar::EntryType::Directory => EntryKind::Dir,
        tar::EntryType::Symlink => EntryKind::Symlink { target: link() },
        tar::EntryType::Link => EntryKind::Hardlink {
            target: EntryPath::clean(&link()).0,
        },
        tar::EntryType::Char => {
            let (major, minor) = device(header);
            EntryKind::Char { major, minor }
        }
        tar::EntryType::Block => {
            let (major, minor) = device(header);
            EntryKind::Block { major, minor }
        }
        tar::EntryType::Fifo => EntryKind::Fifo,
        other => EntryKind::Other {
            typeflag: other.as_byte(),
        },
    };
    let mut meta = Entry {
        path,
        size: if kind == EntryKind::File {
            entry.size()
        } else {
            0
        },
        kind,
        mode: header.mode().unwrap_or(0) & 0o7777,
        uid: header.uid().unwrap_or(0),
        gid: header.gid().unwrap_or(0),
        mtime: header.mtime().unwrap_or(0),
        xattrs: Vec::new(),
        offset,
    };
    if let Ok(Some(pax)) = entry.pax_extensions() {
        for ext in pax.flatten() {
            let (key, value) = (ext.key_bytes(), ext.value_bytes());
            if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                if value.len() <= MAX_XATTR_VALUE {
                    meta.xattrs.push(Xattr {
                        name: name.to_vec(),
                        value: value.to_vec(),
                    });
                }
            } else if key == b"uid" {
                meta.uid = parse_u64(value).unwrap_or(meta.uid);
            } else if key == b"gid" {
                meta.gid = parse_u64(value).unwrap_or(meta.gid);
            } else if key == b"mtime" {
                meta.mtime = parse_mtime(value).unwrap_or(meta.mtime);
            }
        }
    }
    Some(match whiteout::classify_bytes(meta.path.as_bytes()) {
        WhiteoutRef::None => Record::Entry(meta),
        WhiteoutRef::AufsMeta => Record::Aufs(meta),
        WhiteoutRef::Opaque { dir } => Record::Opaque {
            dir: EntryPath::from_bytes(dir),
            offset,
        },
        w @ WhiteoutRef::Delete { .. } => Record::Whiteout {
            target: EntryPath::from_bytes(w.target().unwrap_or_default()),
            offset,
        },
        WhiteoutRef::Invalid { dir, name } => Record::InvalidWhiteout {
            dir: EntryPath::from_bytes(dir),
            name: name.to_vec(),
            offset,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
