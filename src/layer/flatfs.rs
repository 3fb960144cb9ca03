//! The flattened filesystem as a tree of directories: each directory keeps its children in a
//! hash map by name, so finding a path costs one lookup per component (linear in the path's
//! length, whatever the directory's size), a subtree is removed without scanning its
//! siblings, and iteration in tree order is a depth-first walk that sorts each directory's
//! names when it reaches it. The maps use the standard library's keyed hash, so names chosen
//! to collide cost no more than others.
//!
//! A map from whole paths to nodes (the earlier model) compares whole paths at every step of
//! every search, once per component of every path walked: quadratic in a path's depth, and the
//! larger part of `validate`'s link judgement on ordinary images.

use std::collections::HashMap;

use crate::layer::flatten::Node;
use crate::path::{self as paths, EntryPath, Kind, Tree, WalkError, WalkOptions};
use crate::scan::entry::EntryKind;

/// Index of a slot; the root is slot 0.
type Id = usize;

const ROOT: Id = 0;

#[derive(Debug, Clone, Default)]
struct Slot {
    /// The path's node; `None` for the root and for free slots.
    node: Option<Node>,
    /// Children by name.
    children: HashMap<Box<[u8]>, Id>,
}

/// The filesystem after applying layers: every final path with the layer that provides it.
#[derive(Debug, Clone)]
pub struct FlatFs {
    slots: Vec<Slot>,
    /// Slots to reuse.
    free: Vec<Id>,
    /// Paths held (the root is not one).
    len: usize,
    pub(crate) max_link_depth: u32,
}

impl Default for FlatFs {
    fn default() -> Self {
        FlatFs::new(crate::Limits::DEFAULT_MAX_LINK_DEPTH)
    }
}

/// Why a path does not resolve to a node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// Nothing at the path (after following symlinks).
    #[error("{0} does not exist")]
    NotFound(EntryPath),
    /// A component is not a directory.
    #[error("{0} is not a directory")]
    NotDirectory(EntryPath),
    /// Symlinks loop or chain past the limit.
    #[error("too many levels of symbolic links at {0}")]
    Loop(EntryPath),
}

/// The outcome of walking a directory path through the view.
pub(crate) struct Walked {
    /// The real path, symlinks replaced by their targets (clamped at the root).
    pub path: EntryPath,
    /// The slot there, if any (the root's slot holds no node).
    pub node: Option<Id>,
    /// A symlink was followed.
    pub via_symlink: bool,
    /// The first symlink followed that leaves the root outside a chroot: path, target.
    pub left_root: Option<(EntryPath, Vec<u8>)>,
}

impl FlatFs {
    /// An empty filesystem (the root only).
    pub(crate) fn new(max_link_depth: u32) -> FlatFs {
        FlatFs {
            slots: vec![Slot::default()],
            free: Vec::new(),
            len: 0,
            max_link_depth,
        }
    }

    fn slot(&self, id: Id) -> Option<&Slot> {
        self.slots.get(id)
    }

    /// The slot of `path`, no symlink followed.
    fn find(&self, path: &EntryPath) -> Option<Id> {
        let mut id = ROOT;
        for c in path.components() {
            id = *self.slot(id)?.children.get(c)?;
        }
        Some(id)
    }

    /// [`FlatFs::get`] for paths asked in tree order: the ancestors found for the previous
    /// path are reused, so a run of paths costs their differences rather than their lengths
    /// (the filesystem must not change between the calls that share a cursor).
    pub(crate) fn get_near(&self, cursor: &mut Cursor, path: &EntryPath) -> Option<&Node> {
        let bytes = path.as_bytes();
        // Keep the ancestors of the previous path that are ancestors of this one: those
        // within the common prefix that end at a component boundary of this path.
        let common = paths::common_prefix(bytes, &cursor.last);
        while let Some(&(end, _)) = cursor.stack.last() {
            if end <= common && matches!(bytes.get(end), None | Some(b'/')) {
                break;
            }
            cursor.stack.pop();
        }
        let (mut end, mut id) = cursor.stack.last().copied().unwrap_or((0, ROOT));
        cursor.last.clear();
        cursor.last.extend_from_slice(bytes);
        let rest = bytes.get(end..).unwrap_or_default();
        for (i, c) in rest.split(|&b| b == b'/').enumerate() {
            if i > 0 {
                end = end.saturating_add(1); // the separator before this piece
            }
            if c.is_empty() {
                continue; // before the first component after a kept ancestor
            }
            end = end.saturating_add(c.len());
            id = *self.slot(id)?.children.get(c)?;
            cursor.stack.push((end, id));
        }
        if bytes.is_empty() {
            return None;
        }
        self.node(id)
    }

    /// The slot of directory `path` when every component of it is a directory (no symlink
    /// on the way, nothing missing): the usual case, found without [`FlatFs::walk`].
    pub(crate) fn plain_dir(&self, path: &EntryPath) -> Option<Id> {
        let mut id = ROOT;
        for c in path.components() {
            id = *self.slot(id)?.children.get(c)?;
            if !self.node(id)?.meta.kind.is_dir() {
                return None;
            }
        }
        Some(id)
    }

    /// The node named `name` in directory slot `dir`.
    pub(crate) fn child_node(&self, dir: Id, name: &[u8]) -> Option<&Node> {
        self.node(*self.slot(dir)?.children.get(name)?)
    }

    /// The node at `path` (no symlink is followed).
    pub fn get(&self, path: &EntryPath) -> Option<&Node> {
        self.slot(self.find(path)?)?.node.as_ref()
    }

    pub(crate) fn node(&self, id: Id) -> Option<&Node> {
        self.slot(id)?.node.as_ref()
    }

    /// Every path in tree order (a directory before its children).
    pub fn iter(&self) -> impl Iterator<Item = (&EntryPath, &Node)> {
        Iter::below(self, ROOT)
    }

    /// Number of paths (the root is not one).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the filesystem is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The paths at or under `dir`, in tree order.
    pub fn subtree<'a>(
        &'a self,
        dir: &'a EntryPath,
    ) -> impl Iterator<Item = (&'a EntryPath, &'a Node)> + 'a {
        let found = self.find(dir);
        let own = found
            .and_then(|id| self.node(id))
            .map(|n| (&n.meta.path, n));
        own.into_iter()
            .chain(found.into_iter().flat_map(move |id| Iter::below(self, id)))
    }

    /// The paths directly under `dir` (none when it is not there).
    pub(crate) fn children(&self, dir: &EntryPath) -> Vec<EntryPath> {
        let Some(slot) = self.find(dir).and_then(|id| self.slot(id)) else {
            return Vec::new();
        };
        slot.children
            .values()
            .filter_map(|&c| self.node(c))
            .map(|n| n.meta.path.clone())
            .collect()
    }

    /// Follows symlinks (every component, the last one too) inside the root, the way a
    /// process chrooted into the filesystem would, and returns the final path and node.
    pub fn resolve(&self, path: &EntryPath) -> Result<(EntryPath, &Node), ResolveError> {
        let walked = self.walk(path, true)?;
        match walked.node.and_then(|id| self.node(id)) {
            Some(n) => Ok((walked.path, n)),
            None => Err(ResolveError::NotFound(walked.path)),
        }
    }

    /// Walks `path` component by component, replacing symlinks by their targets (the one
    /// walk of the crate, [`crate::path::walk`]). The last component is followed only when
    /// `follow_last`. Missing components are kept as they are (the rest of the path cannot
    /// exist).
    pub(crate) fn walk(&self, path: &EntryPath, follow_last: bool) -> Result<Walked, ResolveError> {
        let w = paths::walk(
            self,
            path.as_bytes(),
            WalkOptions {
                follow_last,
                max_hops: self.max_link_depth,
            },
        )
        .map_err(|e| match e {
            WalkError::Loop(p) => ResolveError::Loop(p),
            WalkError::NotDirectory(p) => ResolveError::NotDirectory(p),
        })?;
        Ok(Walked {
            path: w.path,
            node: w.node,
            via_symlink: w.via_symlink,
            left_root: w.left_root,
        })
    }

    /// Puts `node` at its path (`node.meta.path`), keeping the children there, and returns
    /// the node it replaces. Missing parents are created as implicit directories (callers
    /// create them first, so that they are logged).
    #[cfg(test)]
    fn insert(&mut self, node: Node) -> Option<Node> {
        if node.meta.path.is_root() {
            return None; // the root holds no node
        }
        let parent_path = node.meta.path.parent().unwrap_or_default();
        let layer = node.layer;
        let parent = match self.find(&parent_path) {
            Some(id) => id,
            None => {
                self.make_dirs(&parent_path, |p| Node {
                    meta: crate::scan::entry::Entry::new(p, EntryKind::Dir, 0o755),
                    layer,
                    content: None,
                    inode: None,
                    implicit: true,
                });
                self.find(&parent_path)?
            }
        };
        self.insert_child(parent, node)
    }

    /// [`FlatFs::insert`] into directory slot `dir`, which must be the node's parent.
    pub(crate) fn insert_child(&mut self, dir: Id, node: Node) -> Option<Node> {
        let name = node.meta.path.file_name();
        match self.slot(dir).and_then(|s| s.children.get(name)).copied() {
            Some(child) => self.slots.get_mut(child).and_then(|s| s.node.replace(node)),
            None => {
                let name = name.to_vec();
                self.add_child(dir, &name, node);
                None
            }
        }
    }

    /// Creates the missing directories of `dir` (itself included) with the nodes `make`
    /// gives for their paths, in one walk down from the root, and returns their paths,
    /// parents first.
    pub(crate) fn make_dirs(
        &mut self,
        dir: &EntryPath,
        mut make: impl FnMut(EntryPath) -> Node,
    ) -> Vec<EntryPath> {
        let mut made = Vec::new();
        let bytes = dir.as_bytes();
        let mut id = ROOT;
        let mut end = 0usize;
        for c in dir.components() {
            end = if end == 0 {
                c.len()
            } else {
                end.saturating_add(1).saturating_add(c.len())
            };
            id = match self.slot(id).and_then(|s| s.children.get(c)).copied() {
                Some(child) => child,
                None => {
                    let p = EntryPath::from_bytes(bytes.get(..end).unwrap_or(bytes));
                    made.push(p.clone());
                    self.add_child(id, c, make(p))
                }
            };
        }
        made
    }

    fn add_child(&mut self, parent: Id, name: &[u8], node: Node) -> Id {
        let slot = Slot {
            node: Some(node),
            children: HashMap::new(),
        };
        let id = match self.free.pop() {
            Some(id) => {
                if let Some(s) = self.slots.get_mut(id) {
                    *s = slot;
                }
                id
            }
            None => {
                self.slots.push(slot);
                self.slots.len().saturating_sub(1)
            }
        };
        if let Some(p) = self.slots.get_mut(parent) {
            p.children.insert(name.into(), id);
        }
        self.len = self.len.saturating_add(1);
        id
    }

    /// Removes `path` and everything under it (only what is under it for the root) and
    /// returns the removed nodes (in no particular order).
    pub(crate) fn remove_tree(&mut self, path: &EntryPath) -> Vec<Node> {
        let mut out = Vec::new();
        let top: Vec<Id> = if path.is_root() {
            let Some(root) = self.slots.get_mut(ROOT) else {
                return out;
            };
            std::mem::take(&mut root.children).into_values().collect()
        } else {
            let Some(parent) = path.parent().and_then(|p| self.find(&p)) else {
                return out;
            };
            return self.remove_child(parent, path.file_name());
        };
        self.free_subtrees(top, &mut out);
        out
    }

    /// Removes the child `name` of directory slot `dir` and everything under it, and returns
    /// the removed nodes (in no particular order).
    pub(crate) fn remove_child(&mut self, dir: Id, name: &[u8]) -> Vec<Node> {
        let mut out = Vec::new();
        if let Some(id) = self
            .slots
            .get_mut(dir)
            .and_then(|s| s.children.remove(name))
        {
            self.free_subtrees(vec![id], &mut out);
        }
        out
    }

    /// Frees the slots of these detached subtrees, moving their nodes to `out`.
    fn free_subtrees(&mut self, top: Vec<Id>, out: &mut Vec<Node>) {
        let mut stack: Vec<Id> = top;
        while let Some(id) = stack.pop() {
            let Some(slot) = self.slots.get_mut(id) else {
                continue;
            };
            let children = std::mem::take(&mut slot.children);
            if let Some(n) = slot.node.take() {
                out.push(n);
                self.len = self.len.saturating_sub(1);
            }
            self.free.push(id);
            stack.extend(children.into_values());
        }
    }
}

/// The ancestors found by the last [`FlatFs::get_near`]: (end of the prefix, slot).
#[derive(Default)]
pub(crate) struct Cursor {
    stack: Vec<(usize, Id)>,
    last: Vec<u8>,
}

/// Depth-first iteration over the subtree below a slot (the slot itself excluded), each
/// directory's children in name order.
struct Iter<'a> {
    fs: &'a FlatFs,
    stack: Vec<std::vec::IntoIter<Id>>,
}

impl<'a> Iter<'a> {
    fn below(fs: &'a FlatFs, id: Id) -> Iter<'a> {
        let mut it = Iter {
            fs,
            stack: Vec::new(),
        };
        if let Some(s) = fs.slot(id) {
            it.stack.push(sorted(s));
        }
        it
    }
}

/// A directory's children, by name.
fn sorted(slot: &Slot) -> std::vec::IntoIter<Id> {
    let mut v: Vec<(&[u8], Id)> = slot.children.iter().map(|(k, &v)| (&**k, v)).collect();
    v.sort_unstable_by(|a, b| a.0.cmp(b.0));
    v.into_iter()
        .map(|(_, id)| id)
        .collect::<Vec<Id>>()
        .into_iter()
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a EntryPath, &'a Node);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let top = self.stack.last_mut()?;
            let Some(id) = top.next() else {
                self.stack.pop();
                continue;
            };
            let Some(slot) = self.fs.slot(id) else {
                continue;
            };
            if !slot.children.is_empty() {
                self.stack.push(sorted(slot));
            }
            if let Some(n) = slot.node.as_ref() {
                return Some((&n.meta.path, n));
            }
        }
    }
}

impl Tree for FlatFs {
    type Id = Id;

    fn root(&self) -> Id {
        ROOT
    }

    fn child(&self, dir: &Id, name: &[u8]) -> Option<Id> {
        self.slot(*dir)?.children.get(name).copied()
    }

    fn kind(&self, id: &Id) -> Kind<'_> {
        match self.node(*id).map(|n| &n.meta.kind) {
            None | Some(EntryKind::Dir) => Kind::Dir,
            Some(EntryKind::Symlink { target }) => Kind::Symlink(target),
            Some(_) => Kind::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(path: &str, kind: EntryKind) -> Node {
        Node {
            meta: crate::scan::entry::Entry::new(EntryPath::from(path), kind, 0o755),
            layer: 0,
            content: None,
            inode: None,
            implicit: false,
        }
    }

    fn paths(fs: &FlatFs) -> Vec<String> {
        fs.iter().map(|(p, _)| p.to_string()).collect()
    }

    #[test]
    fn iterates_in_the_order_paths_sort() {
        let mut fs = FlatFs::default();
        for p in ["b", "a", "a-", "a/c", "a/b", "a/b/c", "a.b"] {
            fs.insert(node(p, EntryKind::Dir));
        }
        let mut sorted: Vec<EntryPath> = fs.iter().map(|(p, _)| p.clone()).collect();
        sorted.sort();
        let got: Vec<EntryPath> = fs.iter().map(|(p, _)| p.clone()).collect();
        assert_eq!(got, sorted);
        assert_eq!(fs.len(), 7);
        let sub: Vec<String> = fs
            .subtree(&EntryPath::from("a"))
            .map(|(p, _)| p.to_string())
            .collect();
        assert_eq!(sub, ["/a", "/a/b", "/a/b/c", "/a/c"]);
    }

    #[test]
    fn removal_takes_the_subtree_and_slots_are_reused() {
        let mut fs = FlatFs::default();
        for p in ["a", "a/x", "a/x/1", "a/y", "b"] {
            fs.insert(node(p, EntryKind::Dir));
        }
        let mut gone: Vec<String> = fs
            .remove_tree(&EntryPath::from("a"))
            .iter()
            .map(|n| n.meta.path.to_string())
            .collect();
        gone.sort();
        assert_eq!(gone, ["/a", "/a/x", "/a/x/1", "/a/y"]);
        assert_eq!(paths(&fs), ["/b"]);
        assert_eq!(fs.len(), 1);
        let slots = fs.slots.len();
        fs.insert(node("c", EntryKind::Dir));
        assert_eq!(fs.slots.len(), slots, "a freed slot is reused");
        assert!(fs.get(&EntryPath::from("a/x")).is_none());
        assert_eq!(fs.remove_tree(&EntryPath::default()).len(), 2);
        assert!(fs.is_empty());
    }

    #[test]
    fn replacing_keeps_children_and_missing_parents_are_implicit() {
        let mut fs = FlatFs::default();
        fs.insert(node("a/b/c", EntryKind::File));
        assert!(fs.get(&EntryPath::from("a")).is_some_and(|n| n.implicit));
        let old = fs.insert(node("a", EntryKind::Dir));
        assert!(old.is_some_and(|n| n.implicit));
        assert!(fs.get(&EntryPath::from("a")).is_some_and(|n| !n.implicit));
        assert_eq!(paths(&fs), ["/a", "/a/b", "/a/b/c"]);
        assert_eq!(fs.children(&EntryPath::from("a")), [EntryPath::from("a/b")]);
    }

    #[test]
    fn lookups_near_the_last_one_agree_with_plain_lookups() {
        let mut fs = FlatFs::default();
        let all = ["a", "a/b", "a/b/c", "a/bc", "a/c", "ab", "b/x/y", "b/x/z"];
        for p in all {
            fs.insert(node(p, EntryKind::Dir));
        }
        // Siblings of one-byte names: the kept prefix must end exactly at a separator.
        for p in ["c/b/a", "c/b/b"] {
            fs.insert(node(p, EntryKind::File));
        }
        let asked = [
            "a", "a/b", "a/b/c", "a/b/c/d", "a/bc", "a/b", "a/c", "ab", "abc", "b", "b/x/y",
            "b/x/z", "", "zz", "a/b/c", "c/b/a", "c/b/b", "c/b", "c/b/b",
        ];
        let mut cursor = Cursor::default();
        for p in asked {
            let p = EntryPath::from(p);
            assert_eq!(
                fs.get_near(&mut cursor, &p).map(|n| &n.meta.path),
                fs.get(&p).map(|n| &n.meta.path),
                "{p}"
            );
        }
    }

    #[test]
    fn resolves_through_symlinks_inside_the_root() {
        let mut fs = FlatFs::default();
        fs.insert(node("real/f", EntryKind::File));
        fs.insert(node(
            "link",
            EntryKind::Symlink {
                target: b"/real".to_vec(),
            },
        ));
        let (p, n) = fs.resolve(&EntryPath::from("link/f")).unwrap();
        assert_eq!(p, EntryPath::from("real/f"));
        assert_eq!(n.meta.kind, EntryKind::File);
        assert!(matches!(
            fs.resolve(&EntryPath::from("link/g")),
            Err(ResolveError::NotFound(_))
        ));
    }
}
