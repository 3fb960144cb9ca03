//! Members by path, and following links between them inside the archive only.
//!
//! Built once per archive: a tree of the members' cleaned paths (the last copy of a path wins,
//! as `docker load` keeps it), through which [`crate::path::walk`] follows symlinks and
//! hardlinks chroot-style.

use std::collections::HashMap;

use crate::path::{self, EntryPath, Kind, Tree, WalkError, WalkOptions};
use crate::scan::{Member, MemberKind};

/// Where a reference written in a document was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Loc {
    /// The member holding the document (cleaned path, as text).
    pub path: String,
    /// Its header offset.
    pub offset: Option<u64>,
}

/// What a path written in a document (a `Config`, a `Layers` item, a blob path) leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A regular file member.
    Found {
        /// Its index.
        member: usize,
        /// It is reached through a link that climbs above the root (clamped there).
        via_escape: bool,
    },
    /// The path as written climbs above the root.
    Escapes,
    /// Nothing there; `resolved` is where the links led.
    Missing {
        /// The path after following links.
        resolved: EntryPath,
    },
    /// Something that is not a regular file.
    NotFile {
        /// The member there.
        member: usize,
    },
    /// Links loop or chain past the limit.
    Loop,
}

/// A path written in a document and what it leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ref {
    /// The path as written.
    pub written: String,
    /// Where it was written.
    pub from: Loc,
    /// What it leads to.
    pub outcome: Outcome,
}

impl Ref {
    /// The regular-file member it leads to.
    pub(crate) fn member(&self) -> Option<usize> {
        match self.outcome {
            Outcome::Found { member, .. } => Some(member),
            _ => None,
        }
    }
}

/// What a member is, as far as following paths goes.
#[derive(Debug, Clone)]
enum What {
    File,
    Dir,
    Symlink(Vec<u8>),
    Hardlink(Vec<u8>),
    Other,
}

/// One node of the path tree: a member (the last copy of its path), or a directory only
/// implied by deeper members.
#[derive(Debug, Clone)]
struct Node {
    member: Option<(usize, What)>,
    children: HashMap<Vec<u8>, usize>,
}

/// Members by cleaned path, as a tree.
#[derive(Debug, Clone)]
pub(crate) struct Index {
    nodes: Vec<Node>,
    max_hops: u32,
}

impl Index {
    pub(crate) fn new(members: &[Member], max_hops: u32) -> Self {
        let mut nodes = vec![Node {
            member: None,
            children: HashMap::new(),
        }];
        for (i, m) in members.iter().enumerate() {
            let mut cur = 0usize;
            for comp in m.path.components() {
                let next = nodes.len();
                let child = match nodes.get_mut(cur) {
                    Some(n) => *n.children.entry(comp.to_vec()).or_insert(next),
                    None => break,
                };
                if child == next {
                    nodes.push(Node {
                        member: None,
                        children: HashMap::new(),
                    });
                }
                cur = child;
            }
            if cur != 0 {
                if let Some(n) = nodes.get_mut(cur) {
                    let what = match &m.kind {
                        MemberKind::File => What::File,
                        MemberKind::Dir => What::Dir,
                        MemberKind::Symlink { target } => What::Symlink(target.clone()),
                        MemberKind::Hardlink { target } => What::Hardlink(target.clone()),
                        MemberKind::Other { .. } => What::Other,
                    };
                    n.member = Some((i, what));
                }
            }
        }
        Index { nodes, max_hops }
    }

    /// The member of a node and whether it is a regular file.
    fn node_member(&self, node: usize) -> Option<(usize, bool)> {
        self.nodes
            .get(node)?
            .member
            .as_ref()
            .map(|(i, w)| (*i, matches!(w, What::File)))
    }

    /// Most links followed.
    pub(crate) fn max_hops(&self) -> u32 {
        self.max_hops
    }

    /// The member at a cleaned path (no link followed; the last copy).
    pub(crate) fn get(&self, path: &[u8]) -> Option<usize> {
        let mut cur = 0usize;
        for comp in path.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
            cur = *self.nodes.get(cur)?.children.get(comp)?;
        }
        self.nodes.get(cur)?.member.as_ref().map(|(i, _)| *i)
    }

    /// Follows `path` through the archive's links.
    pub(crate) fn walk(&self, path: &[u8]) -> Result<path::Walked<usize>, WalkError> {
        path::walk(
            self,
            path,
            WalkOptions {
                follow_last: true,
                max_hops: self.max_hops,
            },
        )
    }

    /// The regular-file member a cleaned path leads to, following links.
    pub(crate) fn file(&self, path: &[u8]) -> Option<usize> {
        let w = self.walk(path).ok()?;
        match self.node_member(w.node?)? {
            (i, true) => Some(i),
            _ => None,
        }
    }

    /// The member a cleaned path leads to after following links (of any kind).
    pub(crate) fn resolve(&self, path: &[u8]) -> Option<usize> {
        let w = self.walk(path).ok()?;
        self.node_member(w.node?).map(|(i, _)| i)
    }

    /// Whether following `path` climbs above the root at some point.
    pub(crate) fn escapes(&self, path: &[u8]) -> bool {
        self.walk(path).is_ok_and(|w| w.escaped)
    }

    /// Resolves a path written in a document.
    pub(crate) fn reference(&self, written: &str, from: Loc) -> Ref {
        let (clean, c) = EntryPath::clean_noting(written.as_bytes());
        let outcome = if c.escapes {
            Outcome::Escapes
        } else {
            match self.walk(clean.as_bytes()) {
                Err(WalkError::Loop(_)) => Outcome::Loop,
                Err(WalkError::NotDirectory(p)) => Outcome::Missing { resolved: p },
                Ok(w) => match w.node.and_then(|n| self.node_member(n)) {
                    Some((i, true)) => Outcome::Found {
                        member: i,
                        via_escape: w.escaped,
                    },
                    Some((i, false)) => Outcome::NotFile { member: i },
                    None => Outcome::Missing { resolved: w.path },
                },
            }
        };
        Ref {
            written: written.to_string(),
            from,
            outcome,
        }
    }
}

impl Tree for Index {
    type Id = usize;

    fn root(&self) -> usize {
        0
    }

    fn child(&self, dir: &usize, name: &[u8]) -> Option<usize> {
        self.nodes.get(*dir)?.children.get(name).copied()
    }

    fn kind(&self, id: &usize) -> Kind<'_> {
        let Some(node) = self.nodes.get(*id) else {
            return Kind::Other;
        };
        match node.member.as_ref().map(|(_, w)| w) {
            None | Some(What::Dir) => Kind::Dir,
            Some(What::Symlink(target)) => Kind::Symlink(target),
            Some(What::Hardlink(target)) => Kind::Hardlink(target),
            Some(_) => {
                if node.children.is_empty() {
                    Kind::Other
                } else {
                    // A file with members below it: the members decide (a directory).
                    Kind::Dir
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(path: &str, kind: MemberKind) -> Member {
        Member::new(path.as_bytes().to_vec(), Some(0), kind, 0, 0o644)
    }

    fn link(t: &str) -> MemberKind {
        MemberKind::Symlink {
            target: t.as_bytes().to_vec(),
        }
    }

    #[test]
    fn follows_links_in_scope() {
        let members = vec![
            m("a/layer.tar", MemberKind::File),
            m("b/layer.tar", link("../a/layer.tar")),
            m("c", link("/b")),
            m(
                "h",
                MemberKind::Hardlink {
                    target: b"a/layer.tar".to_vec(),
                },
            ),
            m("e/x", link("../../../a/layer.tar")),
            m("l1", link("l2")),
            m("l2", link("l1")),
        ];
        let idx = Index::new(&members, 255);
        let from = || Loc {
            path: "manifest.json".into(),
            offset: None,
        };
        assert_eq!(idx.file(b"b/layer.tar"), Some(0));
        assert_eq!(idx.file(b"c/layer.tar"), Some(0));
        assert_eq!(idx.file(b"h"), Some(0));
        let e = idx.reference("e/x", from());
        assert_eq!(
            e.outcome,
            Outcome::Found {
                member: 0,
                via_escape: true
            }
        );
        assert_eq!(idx.reference("l1", from()).outcome, Outcome::Loop);
        assert_eq!(
            idx.reference("zz", from()).outcome,
            Outcome::Missing {
                resolved: EntryPath::from("zz")
            }
        );
        assert_eq!(idx.reference("../x", from()).outcome, Outcome::Escapes);
        assert_eq!(
            idx.reference("a", from()).outcome,
            Outcome::Missing {
                resolved: EntryPath::from("a")
            }
        );
        assert!(idx.escapes(b"e/x"));
        assert!(!idx.escapes(b"b/layer.tar"));
        assert_eq!(idx.get(b"a/layer.tar"), Some(0));
    }
}
