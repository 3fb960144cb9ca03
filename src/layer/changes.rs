//! Per-layer change sets and the notes made while applying layers.

use serde::Serialize;

use crate::path::EntryPath;

/// What a layer did to one path, judged against the filesystem of the layers below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ChangeKind {
    /// The path is not present below and the layer creates it (`docker diff` `A`, Engine API
    /// kind 1).
    Added,
    /// The path is present below and the layer writes it again: new content, a new type, or
    /// new metadata (`C`, kind 0). A directory entry repeated with the same mode, owner,
    /// mtime and xattrs is not a change (moby's `changes.go` does the same).
    Modified,
    /// The path is present below and the layer removes it, with everything under it (`D`,
    /// kind 2). Only the top of a removed subtree is listed.
    Deleted,
}

impl ChangeKind {
    /// The letter `docker diff` prints.
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Added => 'A',
            ChangeKind::Modified => 'C',
            ChangeKind::Deleted => 'D',
        }
    }

    /// The Engine API `FilesystemChange.Kind` number.
    pub fn api_kind(self) -> u8 {
        match self {
            ChangeKind::Modified => 0,
            ChangeKind::Added => 1,
            ChangeKind::Deleted => 2,
        }
    }
}

/// One changed path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Change {
    /// The path.
    pub path: EntryPath,
    /// What happened to it.
    pub kind: ChangeKind,
    /// Added or modified: the new size of a regular file (0 otherwise). Deleted: the bytes of
    /// every regular file removed at or under the path.
    pub size: u64,
}

/// Everything one layer changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ChangeSet {
    /// Index of the layer in the image, bottom first.
    pub layer: usize,
    /// Added, modified and deleted paths in tree order.
    pub changes: Vec<Change>,
    /// Directories made opaque (`.wh..wh..opq`), in stream order; the root is the empty path.
    /// What they hid below is in `changes` as deletions.
    pub opaque: Vec<EntryPath>,
    /// Notes about this layer (whiteouts of absent paths, entries that cannot be applied, …).
    pub issues: Vec<Issue>,
}

impl ChangeSet {
    /// The changes of one kind.
    pub fn of_kind(&self, kind: ChangeKind) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(move |c| c.kind == kind)
    }
}

/// A note about applying a layer entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Issue {
    /// What kind of note.
    pub kind: IssueKind,
    /// Index of the layer in the image.
    pub layer: usize,
    /// The entry's path (for a whiteout: the path it deletes).
    pub path: EntryPath,
    /// Header offset of the entry in the decompressed layer stream.
    pub offset: u64,
    /// A sentence for people.
    pub message: String,
}

impl std::fmt::Display for Issue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "layer {} entry {} @{}: {}",
            self.layer, self.path, self.offset, self.message
        )
    }
}

/// Kinds of [`Issue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum IssueKind {
    /// A whiteout names a path that is not present below: nothing happens (with
    /// [`Semantics::DockerLoad`](crate::layer::Semantics) its directory is created when
    /// missing).
    NothingToDelete,
    /// `.wh.`, `.wh..` or `.wh...`: the OCI spec says it is invalid and it is ignored;
    /// moby's naive applier removes the whiteout's own directory (or its parent).
    InvalidWhiteout,
    /// A whiteout comes after an entry it deletes in the same layer. The OCI spec keeps the
    /// entry; `docker load` deletes it.
    SameLayerWhiteout,
    /// The entry's directory path goes through a symlink; it was followed inside the root, as
    /// extraction does.
    ThroughSymlink,
    /// A component of the entry's directory is not a directory: extraction fails there, the
    /// entry is skipped.
    ParentNotDirectory,
    /// Symlinks in the entry's directory path loop or chain past the link limit.
    SymlinkLoop,
    /// The entry's directory path (or a hardlink's target, or a whiteout's or opaque
    /// marker's directory) goes through a symlink that leaves the root when resolved outside
    /// a chroot: an absolute target, or `..` climbing above the root (`pwn -> /tmp` then
    /// `pwn/escaped.txt`). A chrooted extractor lands it inside the root; an extractor that
    /// resolves it on the host writes outside. Kept inside the root, or refused with
    /// [`FlattenOptions::refuse_escapes`](crate::layer::FlattenOptions).
    LinkEscape,
    /// A whiteout or opaque marker whose directory goes through a symlink (inside the root).
    WhiteoutThroughSymlink,
    /// The root entry (`.`, `/`) is not a directory (umoci CVE-2021-29136); refused.
    RootNotDirectory,
    /// A hardlink's target is not present when the hardlink is applied; skipped.
    HardlinkTargetMissing,
    /// A hardlink names a directory (extraction fails); skipped.
    HardlinkToDirectory,
    /// A hardlink's target path goes through a symlink (inside the root); the link is made to
    /// the file it resolves to, as a chrooted extractor makes it.
    HardlinkThroughSymlink,
    /// A hardlink into `.wh..wh.plnk` with no such file earlier in the layer ("invalid aufs
    /// hardlink"); skipped.
    AufsHardlinkMissing,
    /// An entry whose typeflag no loader extracts; skipped.
    UnsupportedType,
}
