//! The one entry classifier: what a tar header is as a filesystem entry (its [`EntryKind`]
//! and metadata), and what it does in a layer (a [`Record`]: an entry, a whiteout, an opaque
//! marker, aufs metadata). Every pass uses it, so validation, change sets, flattening and the
//! content API agree on what each entry is.

use serde::{Serialize, Serializer};

use crate::path::EntryPath;
use crate::scan::tar::Header;
use crate::whiteout::{self, Whiteout};

/// The type of an entry, with what the type carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
#[non_exhaustive]
pub enum EntryKind {
    /// A regular file (typeflags `0`, `\0` without a trailing `/`, contiguous `7`, and sparse
    /// files, expanded).
    File,
    /// A directory (typeflag `5`, or `\0` with a name that ends with `/`).
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
    /// A typeflag no loader extracts (tar's `g` global headers are not entries at all).
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
#[non_exhaustive]
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
#[non_exhaustive]
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
#[non_exhaustive]
pub struct LayerRecords {
    /// The records.
    pub records: Vec<Record>,
    /// `false` when recording stopped early: the tar is corrupt or truncated, or
    /// [`Limits::max_layer_entries`](crate::Limits) was reached.
    pub complete: bool,
}

/// What [`classify`] makes of one header.
pub(crate) struct Classified {
    /// The record.
    pub record: Record,
    /// A `..` in the name climbed above the root.
    pub escapes: bool,
    /// The hardlink target's `..` climbed above the root.
    pub link_escapes: bool,
}

/// Classifies one header (after its extension records were applied). `None` for a PAX global
/// header, which is not an entry (Go returns it and loaders skip it; see the layer notes).
pub(crate) fn classify(h: &Header) -> Option<Classified> {
    if h.typeflag == b'g' {
        return None;
    }
    let (path, cleaned) = EntryPath::clean_noting(&h.name);
    let mut link_escapes = false;
    let kind = match h.typeflag {
        b'0' | b'7' | b'S' => EntryKind::File,
        b'5' => EntryKind::Dir,
        b'2' => EntryKind::Symlink {
            target: h.link.clone(),
        },
        b'1' => {
            let (target, c) = EntryPath::clean_noting(&h.link);
            link_escapes = c.escapes;
            EntryKind::Hardlink { target }
        }
        b'3' => EntryKind::Char {
            major: u32::try_from(h.devmajor).unwrap_or(0),
            minor: u32::try_from(h.devminor).unwrap_or(0),
        },
        b'4' => EntryKind::Block {
            major: u32::try_from(h.devmajor).unwrap_or(0),
            minor: u32::try_from(h.devminor).unwrap_or(0),
        },
        b'6' => EntryKind::Fifo,
        other => EntryKind::Other { typeflag: other },
    };
    let mut meta = Entry {
        path,
        size: if kind == EntryKind::File { h.size } else { 0 },
        kind,
        mode: u32::try_from(h.mode & 0o7777).unwrap_or(0),
        uid: u64::try_from(h.uid).unwrap_or(0),
        gid: u64::try_from(h.gid).unwrap_or(0),
        mtime: u64::try_from(h.mtime).unwrap_or(0),
        xattrs: Vec::new(),
        offset: h.offset,
    };
    for (name, value) in &h.xattrs {
        if value.len() <= MAX_XATTR_VALUE {
            meta.xattrs.push(Xattr {
                name: name.clone(),
                value: value.clone(),
            });
        }
    }
    let offset = h.offset;
    let record = match whiteout::classify(meta.path.as_bytes()) {
        Whiteout::None => Record::Entry(meta),
        Whiteout::AufsMeta => Record::Aufs(meta),
        Whiteout::Opaque { dir } => Record::Opaque {
            dir: EntryPath::from_bytes(dir),
            offset,
        },
        w @ Whiteout::Delete { .. } => Record::Whiteout {
            target: EntryPath::from_bytes(w.target().unwrap_or_default()),
            offset,
        },
        Whiteout::Invalid { dir, name } => Record::InvalidWhiteout {
            dir: EntryPath::from_bytes(dir),
            name: name.to_vec(),
            offset,
        },
    };
    Some(Classified {
        record,
        escapes: cleaned.escapes,
        link_escapes,
    })
}

/// Whether a whiteout or opaque marker header is what the specs ask: an empty regular file.
pub(crate) fn is_empty_file(h: &Header) -> bool {
    h.typeflag == b'0' && h.size == 0
}
