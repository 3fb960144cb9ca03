//! Applying layers in order: the flattened filesystem of an image and what each layer changed.
//!
//! The model is a map from cleaned path to [`Node`]. Applying a layer follows the OCI image spec
//! by default ([`Semantics::Oci`]); [`Semantics::DockerLoad`] follows moby's naive applier
//! (`UnpackLayer`). Both agree on everything but the cases below.
//!
//! | case | [`Semantics::Oci`] (default) | [`Semantics::DockerLoad`] |
//! |---|---|---|
//! | whiteout after an entry it deletes, same layer | whiteouts apply to lower layers only: the entry stays | stream order: the entry is deleted |
//! | whiteout or opaque marker in a directory absent below (placed before, or without, its directory entry) | nothing happens | the directory is created (0755, root-owned) as an implied parent |
//! | `.wh.`, `.wh..` | invalid, ignored (and noted) | removes the directory it sits in |
//! | `.wh...` | invalid, ignored (and noted) | removes that directory's parent |
//! | opaque marker | hides everything below the directory in lower layers, applied before the layer's entries | removes every child not written earlier in this layer; the result is the same except that implied (not written) parents are removed too |
//!
//! Shared rules (moby, containerd and umoci agree): a directory over a directory keeps the
//! children and takes the new metadata; anything else over an existing path replaces it and
//! its subtree; missing parent directories are created (0755, uid/gid 0, mtime 0); directory
//! components that are symlinks are followed inside the root; a hardlink is another name for
//! its target's file as it is when the hardlink is applied (a later rewrite of the target does
//! not change it); top-level aufs metadata (`.wh..wh.*`) is skipped, and hardlinks to
//! `.wh..wh.plnk/<n>` become copies of the regular file of that basename stored earlier in the
//! layer.

use std::collections::{btree_map, BTreeMap, HashMap};

use serde::Serialize;

use crate::layer::changes::{Change, ChangeKind, ChangeSet, Issue, IssueKind};
pub use crate::layer::flatfs::{FlatFs, ResolveError};
use crate::path::EntryPath;
use crate::scan::entry::{Entry, EntryKind, LayerRecords, Record};
use crate::whiteout::PLNK_DIR;

/// Whose whiteout rules to apply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Semantics {
    /// The OCI image spec (`layer.md`): whiteouts and opaque markers apply to lower layers
    /// only, before the layer's own entries, whatever their order in the tar.
    #[default]
    Oci,
    /// moby's `UnpackLayer` (what `docker load` runs with the naive applier, and what
    /// containerd's `applyNaive` does): everything in stream order. See the module docs.
    DockerLoad,
}

/// Options for applying layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FlattenOptions {
    /// Whiteout rules.
    pub semantics: Semantics,
    /// Most symlinks followed while resolving one path. Default: 255, as moby.
    pub max_link_depth: u32,
    /// Refuse (skip, with an [`IssueKind::LinkEscape`] note) every entry, hardlink,
    /// whiteout and opaque marker whose path goes through a symlink that leaves the root
    /// when read outside a chroot, instead of landing it inside the root as a chrooted
    /// extractor (moby) does. Default: `false`; [`unpack`](crate::layer::unpack()) sets it.
    pub refuse_escapes: bool,
}

impl Default for FlattenOptions {
    fn default() -> Self {
        FlattenOptions {
            semantics: Semantics::Oci,
            max_link_depth: crate::Limits::DEFAULT_MAX_LINK_DEPTH,
            refuse_escapes: false,
        }
    }
}

impl FlattenOptions {
    /// Default options with these whiteout rules.
    pub fn with_semantics(semantics: Semantics) -> Self {
        FlattenOptions {
            semantics,
            ..FlattenOptions::default()
        }
    }
}

/// Where a regular file's bytes are: an entry of one layer of the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[non_exhaustive]
pub struct ContentRef {
    /// Index of the layer in the image.
    pub layer: usize,
    /// Header offset of the entry in that layer's decompressed stream.
    pub offset: u64,
}

/// One path of a (partly) applied filesystem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Node {
    /// The metadata. For a path made by a hardlink this is the linked file's metadata (type
    /// [`EntryKind::File`] for a file), as extraction gives it; `meta.offset` is the offset of
    /// the entry that made this path.
    #[serde(flatten)]
    pub meta: Entry,
    /// Index of the layer whose entry provides this path.
    pub layer: usize,
    /// Where a regular file's content is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<ContentRef>,
    /// Regular files: an identity shared by the paths hardlinked together.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inode: Option<u64>,
    /// A directory nobody wrote: created because an entry below it needed it.
    pub implicit: bool,
}

impl ContentRef {
    /// The entry of layer `layer` (bottom is 0) whose header is at `offset` of that layer's
    /// decompressed stream.
    pub fn new(layer: usize, offset: u64) -> ContentRef {
        ContentRef { layer, offset }
    }
}

impl Node {
    /// Same type, metadata and content (where it came from does not count).
    fn same_as(&self, other: &Node) -> bool {
        let (a, b) = (&self.meta, &other.meta);
        a.kind == b.kind
            && a.mode == b.mode
            && a.uid == b.uid
            && a.gid == b.gid
            && a.mtime == b.mtime
            && a.size == b.size
            && a.xattrs == b.xattrs
            && self.content == other.content
    }
}

/// Per-layer bookkeeping while a layer is applied.
#[derive(Default)]
struct LayerState {
    layer: usize,
    /// The state of every touched path before the layer (first touch wins).
    log: BTreeMap<EntryPath, Option<Node>>,
    /// Paths written by the layer's entries, with the offset of the (last) entry.
    written: BTreeMap<EntryPath, u64>,
    /// aufs `.wh..wh.plnk` regular files of this layer, by basename.
    plnk: HashMap<Vec<u8>, Node>,
    opaque: Vec<EntryPath>,
    issues: Vec<Issue>,
}

impl LayerState {
    fn note(&mut self, kind: IssueKind, path: &EntryPath, offset: u64, message: String) {
        self.issues.push(Issue {
            kind,
            layer: self.layer,
            path: path.clone(),
            offset,
            message,
        });
    }
}

/// Applies layers one by one to a filesystem model and reports what each one changed.
///
/// ```
/// use imgtar::layer::{Flattener, FlattenOptions};
/// let mut f = Flattener::new(FlattenOptions::default());
/// assert_eq!(f.layers_applied(), 0);
/// let fs = f.finish();
/// assert!(fs.is_empty());
/// ```
#[derive(Debug, Clone)]
pub struct Flattener {
    options: FlattenOptions,
    fs: FlatFs,
    layers: usize,
    next_inode: u64,
    /// For each file content removed or replaced, the last layer that did it.
    removed: HashMap<ContentRef, usize>,
    /// Keep the state before each change, for the change sets (link judgement needs only the
    /// notes).
    record_changes: bool,
}

impl Flattener {
    /// An empty filesystem.
    pub fn new(options: FlattenOptions) -> Self {
        Flattener {
            options,
            fs: FlatFs::new(options.max_link_depth),
            layers: 0,
            next_inode: 1,
            removed: HashMap::new(),
            record_changes: true,
        }
    }

    /// A flattener whose change sets hold only the notes ([`ChangeSet::issues`]): it keeps no
    /// state from before the changes, which the link judgement does not need.
    pub(crate) fn notes_only(mut self) -> Self {
        self.record_changes = false;
        self
    }

    /// How many layers were applied.
    pub fn layers_applied(&self) -> usize {
        self.layers
    }

    /// The filesystem so far.
    pub fn fs(&self) -> &FlatFs {
        &self.fs
    }

    /// The final filesystem.
    pub fn finish(self) -> FlatFs {
        self.fs
    }

    /// The final filesystem, and for each file content that it no longer shows, the last
    /// layer that deleted or replaced it.
    pub(crate) fn finish_with_removals(self) -> (FlatFs, HashMap<ContentRef, usize>) {
        (self.fs, self.removed)
    }

    fn note_removed(&mut self, layer: usize, old: &Node) {
        if !self.record_changes {
            return;
        }
        if let Some(c) = old.content {
            self.removed.insert(c, layer);
        }
    }

    /// Applies the next layer (its records in stream order) and returns what it changed.
    pub fn apply(&mut self, layer: &LayerRecords) -> ChangeSet {
        let mut st = LayerState {
            layer: self.layers,
            ..LayerState::default()
        };
        match self.options.semantics {
            Semantics::Oci => {
                // Whiteouts and opaque markers first, against the lower layers only.
                for r in &layer.records {
                    match r {
                        Record::Opaque { dir, offset } => self.opaque(&mut st, dir, *offset),
                        Record::Whiteout { target, offset } => {
                            self.whiteout(&mut st, target, *offset)
                        }
                        Record::InvalidWhiteout { dir, name, offset } => {
                            self.invalid_whiteout(&mut st, dir, name, *offset)
                        }
                        Record::Entry(_) | Record::Aufs(_) => {}
                    }
                }
                for r in &layer.records {
                    match r {
                        Record::Entry(e) => self.entry(&mut st, e),
                        Record::Aufs(e) => self.aufs(&mut st, e),
                        _ => {}
                    }
                }
                self.note_same_layer_whiteouts(&mut st, layer);
            }
            Semantics::DockerLoad => {
                for r in &layer.records {
                    match r {
                        Record::Entry(e) => self.entry(&mut st, e),
                        Record::Aufs(e) => self.aufs(&mut st, e),
                        Record::Opaque { dir, offset } => self.opaque(&mut st, dir, *offset),
                        Record::Whiteout { target, offset } => {
                            self.whiteout(&mut st, target, *offset)
                        }
                        Record::InvalidWhiteout { dir, name, offset } => {
                            self.invalid_whiteout(&mut st, dir, name, *offset)
                        }
                    }
                }
            }
        }
        self.layers = self.layers.saturating_add(1);
        self.change_set(st)
    }

    fn docker(&self) -> bool {
        self.options.semantics == Semantics::DockerLoad
    }

    // ---- primitive edits, each logged ----

    fn log(&self, st: &mut LayerState, path: &EntryPath, before: Option<&Node>) {
        if !self.record_changes {
            return;
        }
        st.log
            .entry(path.clone())
            .or_insert_with(|| before.cloned());
    }

    /// Removes `path` (only what is under it for the root) and everything under it; returns
    /// how many paths were removed.
    fn remove_tree(&mut self, st: &mut LayerState, path: &EntryPath) -> usize {
        let removed = self.fs.remove_tree(path);
        self.log_removed(st, removed)
    }

    /// Logs removed nodes; returns how many there were.
    fn log_removed(&mut self, st: &mut LayerState, removed: Vec<Node>) -> usize {
        let n = removed.len();
        for old in removed {
            self.note_removed(st.layer, &old);
            if !self.record_changes {
                continue;
            }
            if let btree_map::Entry::Vacant(v) = st.log.entry(old.meta.path.clone()) {
                v.insert(Some(old));
            }
        }
        n
    }

    /// Creates the missing directories of `dir` (itself included), in one walk down from the
    /// root.
    fn make_dirs(&mut self, st: &mut LayerState, dir: &EntryPath) {
        // moby's `UnpackLayer` creates a missing parent with mode 0600 (v20.10.24
        // `pkg/archive/diff.go`, `system.MkdirAll(parentPath, 0600)`; `docker export`
        // agrees, `tests/all/engine_daemon.rs`).
        let mode = match self.options.semantics {
            Semantics::DockerLoad => 0o600,
            Semantics::Oci => 0o755,
        };
        let layer = st.layer;
        let made = self.fs.make_dirs(dir, |p| Node {
            meta: Entry::new(p, EntryKind::Dir, mode),
            layer,
            content: None,
            inode: None,
            implicit: true,
        });
        for p in made {
            self.log(st, &p, None);
        }
    }

    /// Resolves the directory an entry goes in and creates what is missing of it. `None`
    /// when the entry cannot be applied (noted).
    fn prepare_dir(
        &mut self,
        st: &mut LayerState,
        dir: &EntryPath,
        entry: &EntryPath,
        offset: u64,
        create: bool,
        marker: bool,
    ) -> Option<EntryPath> {
        match self.fs.walk(dir, true) {
            Ok(w) => {
                if let Some((link, target)) = &w.left_root {
                    let refused = self.options.refuse_escapes;
                    st.note(
                        IssueKind::LinkEscape,
                        entry,
                        offset,
                        format!(
                            "its directory {dir} goes through the symlink {link} -> {:?}, which leaves the root outside a chroot; {}",
                            String::from_utf8_lossy(target),
                            if refused {
                                "refused".to_string()
                            } else {
                                format!("kept inside the root at {}", w.path)
                            }
                        ),
                    );
                    if refused {
                        return None;
                    }
                } else if w.via_symlink && marker {
                    st.note(
                        IssueKind::WhiteoutThroughSymlink,
                        entry,
                        offset,
                        format!(
                            "a whiteout or opaque marker whose directory {dir} goes through a symlink: it applies to {} (extractors that resolve it on the host delete there)",
                            w.path
                        ),
                    );
                } else if w.via_symlink {
                    st.note(
                        IssueKind::ThroughSymlink,
                        entry,
                        offset,
                        format!(
                            "its directory {dir} goes through a symlink; it lands in {}",
                            w.path
                        ),
                    );
                }
                if create {
                    // The walk allows the last component to be anything; a directory to
                    // create things in must be one.
                    if let Some(n) = w.node.and_then(|id| self.fs.node(id)) {
                        if !n.meta.kind.is_dir() {
                            st.note(
                                IssueKind::ParentNotDirectory,
                                entry,
                                offset,
                                format!("cannot be applied: {} is not a directory", w.path),
                            );
                            return None;
                        }
                    }
                    self.make_dirs(st, &w.path);
                }
                Some(w.path)
            }
            Err(e) => {
                let kind = match e {
                    ResolveError::Loop(_) => IssueKind::SymlinkLoop,
                    _ => IssueKind::ParentNotDirectory,
                };
                st.note(kind, entry, offset, format!("cannot be applied: {e}"));
                None
            }
        }
    }

    // ---- records ----

    fn entry(&mut self, st: &mut LayerState, e: &Entry) {
        if e.path.is_root() {
            // `./` entries (kaniko, GNU tar) describe the root, which is not a path here. A
            // root that is anything but a directory (`.` or `/` as a symlink: umoci
            // CVE-2021-29136) is refused.
            if !e.kind.is_dir() {
                st.note(
                    IssueKind::RootNotDirectory,
                    &e.path,
                    e.offset,
                    format!(
                        "the root entry is a {}, not a directory; refused",
                        kind_word(&e.kind)
                    ),
                );
            }
            return;
        }
        if let EntryKind::Other { typeflag } = e.kind {
            st.note(
                IssueKind::UnsupportedType,
                &e.path,
                e.offset,
                format!(
                    "typeflag {:?} is not extracted by any loader; skipped",
                    char::from(typeflag)
                ),
            );
            return;
        }
        let parent = e.path.parent().unwrap_or_default();
        // The usual case: every component of the parent is a directory already there.
        let found = match self.fs.plain_dir(&parent) {
            Some(id) => Some((parent, id)),
            None => self
                .prepare_dir(st, &parent, &e.path, e.offset, true, false)
                .and_then(|dir| self.fs.plain_dir(&dir).map(|id| (dir, id))),
        };
        let Some((dir, dir_id)) = found else {
            return;
        };
        let name = e.path.file_name();
        let path = dir.join(name);
        let existing_dir = self
            .fs
            .child_node(dir_id, name)
            .is_some_and(|n| n.meta.kind.is_dir());
        if !(existing_dir && e.kind.is_dir()) {
            let removed = self.fs.remove_child(dir_id, name);
            self.log_removed(st, removed);
        }
        let Some(mut node) = self.node_for(st, e) else {
            return;
        };
        if self.record_changes {
            self.log(st, &path, self.fs.child_node(dir_id, name));
        }
        node.meta.path = path.clone();
        node.meta.offset = e.offset;
        node.layer = st.layer;
        st.written.insert(path, e.offset);
        if let Some(old) = self.fs.insert_child(dir_id, node) {
            self.note_removed(st.layer, &old);
        }
    }

    /// The node an entry creates (before its path is set); `None` for a hardlink that
    /// cannot be made (noted).
    fn node_for(&mut self, st: &mut LayerState, e: &Entry) -> Option<Node> {
        let EntryKind::Hardlink { target } = &e.kind else {
            let (content, inode) = if e.kind == EntryKind::File {
                (
                    Some(ContentRef {
                        layer: st.layer,
                        offset: e.offset,
                    }),
                    Some(self.new_inode()),
                )
            } else {
                (None, None)
            };
            return Some(Node {
                meta: e.clone(),
                layer: st.layer,
                content,
                inode,
                implicit: false,
            });
        };
        if target.as_bytes().starts_with(PLNK_DIR.as_bytes()) {
            let Some(src) = st.plnk.get(target.file_name()) else {
                st.note(
                    IssueKind::AufsHardlinkMissing,
                    &e.path,
                    e.offset,
                    format!("hardlink to {target}, but no such aufs file precedes it in the layer (\"invalid aufs hardlink\")"),
                );
                return None;
            };
            // moby copies the stored file: each link is a file of its own.
            let mut node = src.clone();
            node.inode = Some(self.new_inode());
            return Some(node);
        }
        let parent = target.parent().unwrap_or_default();
        let walked = self.fs.walk(&parent, true).ok();
        if let Some((link, to)) = walked.as_ref().and_then(|w| w.left_root.as_ref()) {
            let refused = self.options.refuse_escapes;
            st.note(
                IssueKind::LinkEscape,
                &e.path,
                e.offset,
                format!(
                    "hardlink to {target}, through the symlink {link} -> {:?}, which leaves the root outside a chroot{}",
                    String::from_utf8_lossy(to),
                    if refused { "; refused" } else { "" }
                ),
            );
            if refused {
                return None;
            }
        } else if walked.as_ref().is_some_and(|w| w.via_symlink) {
            st.note(
                IssueKind::HardlinkThroughSymlink,
                &e.path,
                e.offset,
                format!("hardlink to {target}, whose directory goes through a symlink"),
            );
        }
        let found = walked
            .map(|w| w.path.join(target.file_name()))
            .and_then(|p| self.fs.get(&p));
        match found {
            None => {
                st.note(
                    IssueKind::HardlinkTargetMissing,
                    &e.path,
                    e.offset,
                    format!("hardlink to {target}, which is not present at this point; skipped"),
                );
                None
            }
            Some(n) if n.meta.kind.is_dir() => {
                st.note(
                    IssueKind::HardlinkToDirectory,
                    &e.path,
                    e.offset,
                    format!("hardlink to the directory {target}; skipped"),
                );
                None
            }
            Some(n) => Some(n.clone()),
        }
    }

    fn new_inode(&mut self) -> u64 {
        let id = self.next_inode;
        self.next_inode = self.next_inode.saturating_add(1);
        id
    }

    fn aufs(&mut self, st: &mut LayerState, e: &Entry) {
        // moby keeps regular files whose name starts with `.wh..wh.plnk` (by basename) as
        // hardlink sources and skips every other top-level aufs name.
        if e.kind == EntryKind::File && e.path.as_bytes().starts_with(PLNK_DIR.as_bytes()) {
            let node = Node {
                meta: e.clone(),
                layer: st.layer,
                content: Some(ContentRef {
                    layer: st.layer,
                    offset: e.offset,
                }),
                inode: None,
                implicit: false,
            };
            st.plnk.insert(e.path.file_name().to_vec(), node);
        }
    }

    fn whiteout(&mut self, st: &mut LayerState, target: &EntryPath, offset: u64) {
        let dir = target.parent().unwrap_or_default();
        let docker = self.docker();
        let Some(dir) = self.prepare_dir(st, &dir, target, offset, docker, true) else {
            return;
        };
        let path = dir.join(target.file_name());
        if self.remove_tree(st, &path) == 0 {
            st.note(
                IssueKind::NothingToDelete,
                target,
                offset,
                format!("whiteout of {path}, which is not present: nothing to delete"),
            );
        }
    }

    fn opaque(&mut self, st: &mut LayerState, dir: &EntryPath, offset: u64) {
        st.opaque.push(dir.clone());
        let docker = self.docker();
        let Some(real) = self.prepare_dir(st, dir, dir, offset, docker, true) else {
            return;
        };
        // A marker for a directory new in this layer is usual (it hides nothing).
        let is_dir = real.is_root() || self.fs.get(&real).is_some_and(|n| n.meta.kind.is_dir());
        if !is_dir {
            return;
        }
        // Every child goes, with its subtree, but what this layer already wrote stays and is
        // looked into (moby; the OCI pass runs before any entry, so nothing is written yet).
        let mut pending = self.fs.children(&real);
        while let Some(child) = pending.pop() {
            if st.written.contains_key(&child) {
                pending.extend(self.fs.children(&child));
                continue;
            }
            self.remove_tree(st, &child);
        }
    }

    fn invalid_whiteout(&mut self, st: &mut LayerState, dir: &EntryPath, name: &[u8], offset: u64) {
        let shown = dir.join(&[b".wh.", name].concat());
        if !self.docker() {
            st.note(
                IssueKind::InvalidWhiteout,
                &shown,
                offset,
                "a whiteout that names nothing is invalid (OCI); ignored".into(),
            );
            return;
        }
        let Some(real) = self.prepare_dir(st, dir, &shown, offset, true, true) else {
            return;
        };
        // filepath.Join(dir, "" | "." | "..") → the directory itself or its parent.
        let victim = if name == b".." {
            real.parent().unwrap_or_default()
        } else {
            real
        };
        st.note(
            IssueKind::InvalidWhiteout,
            &shown,
            offset,
            format!("a whiteout that names nothing; moby's applier removes {victim}"),
        );
        self.remove_tree(st, &victim);
    }

    /// OCI: a whiteout after an entry it hides in the same layer keeps the entry, but
    /// `docker load` (stream order) deletes it.
    fn note_same_layer_whiteouts(&self, st: &mut LayerState, layer: &LayerRecords) {
        let mut found = Vec::new();
        for r in &layer.records {
            let Record::Whiteout { target, offset } = r else {
                continue;
            };
            let earlier = st
                .written
                .range(target.clone()..)
                .take_while(|(p, _)| p.starts_with(target))
                .find(|(_, &o)| o < *offset);
            if let Some((p, _)) = earlier {
                found.push((target.clone(), *offset, p.clone()));
            }
        }
        for (target, offset, p) in found {
            st.note(
                IssueKind::SameLayerWhiteout,
                &target,
                offset,
                format!("the whiteout follows {p} in the same layer: the OCI spec keeps it, docker load deletes it"),
            );
        }
    }

    // ---- the change set ----

    fn change_set(&self, st: LayerState) -> ChangeSet {
        let mut changes: Vec<Change> = Vec::new();
        // The top of the subtree being deleted, and the index of its change.
        let mut deleting: Option<(EntryPath, usize)> = None;
        let mut cursor = crate::layer::flatfs::Cursor::default();
        for (path, before) in &st.log {
            let after = self.fs.get_near(&mut cursor, path);
            if let Some((top, i)) = &deleting {
                // Nothing exists under a deleted path (parents are always present), so the
                // rest of its subtree only adds to its byte count.
                if path.starts_with(top) {
                    let bytes = before.as_ref().map_or(0, file_bytes);
                    if let Some(c) = changes.get_mut(*i) {
                        c.size = c.size.saturating_add(bytes);
                    }
                    continue;
                }
                deleting = None;
            }
            let kind = match (before, after) {
                (None, None) => continue,
                (None, Some(_)) => ChangeKind::Added,
                (Some(_), None) => ChangeKind::Deleted,
                (Some(b), Some(a)) => {
                    if b.same_as(a) {
                        continue;
                    }
                    ChangeKind::Modified
                }
            };
            let size = match (kind, before, after) {
                (ChangeKind::Deleted, Some(b), _) => file_bytes(b),
                (_, _, Some(a)) => file_bytes(a),
                _ => 0,
            };
            if kind == ChangeKind::Deleted {
                deleting = Some((path.clone(), changes.len()));
            }
            changes.push(Change {
                path: path.clone(),
                kind,
                size,
            });
        }
        ChangeSet {
            layer: st.layer,
            changes,
            opaque: st.opaque,
            issues: st.issues,
        }
    }
}

/// What an entry is, in words.
pub(crate) fn kind_word(kind: &EntryKind) -> &'static str {
    match kind {
        EntryKind::File => "regular file",
        EntryKind::Dir => "directory",
        EntryKind::Symlink { .. } => "symbolic link",
        EntryKind::Hardlink { .. } => "hard link",
        EntryKind::Char { .. } => "character device",
        EntryKind::Block { .. } => "block device",
        EntryKind::Fifo => "FIFO",
        EntryKind::Other { .. } => "special file",
    }
}

fn file_bytes(n: &Node) -> u64 {
    if n.meta.kind == EntryKind::File {
        n.meta.size
    } else {
        0
    }
}
