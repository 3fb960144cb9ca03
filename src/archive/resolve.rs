//! Following symlinks and hardlinks between members, inside the archive only.
//!
//! Resolution is chroot-style, like moby's `FollowSymlinkInScope`: every path component is
//! looked up, a symlink component is replaced by its target (absolute targets from the archive
//! root, relative ones from the link's directory), and `..` at the root stays at the root but
//! is reported as an escape. A hardlink member names another member by its archive path.

use std::collections::HashMap;

use crate::archive::member::{Member, MemberKind};

/// Why a path did not resolve to a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unresolved {
    /// Nothing at this (resolved) path.
    Missing(String),
    /// More hops than the limit: a loop or an absurd chain.
    Loop,
}

/// The outcome of resolving a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolved {
    /// Index of the final member.
    pub index: usize,
    /// Some link on the way pointed above the root (clamped there).
    pub escaped: bool,
    /// Links followed.
    pub hops: u32,
}

/// Members by cleaned path (last copy wins).
pub(crate) struct Index<'a> {
    members: &'a [Member],
    by_path: HashMap<&'a str, usize>,
    max_hops: u32,
}

impl<'a> Index<'a> {
    pub(crate) fn new(members: &'a [Member], max_hops: u32) -> Self {
        let mut by_path = HashMap::with_capacity(members.len());
        for (i, m) in members.iter().enumerate() {
            by_path.insert(m.path.as_str(), i);
        }
        Index {
            members,
            by_path,
            max_hops,
        }
    }

    pub(crate) fn get(&self, path: &str) -> Option<usize> {
        self.by_path.get(path).copied()
    }

    /// Resolves a cleaned path to the member that holds its content.
    pub(crate) fn resolve(&self, path: &str) -> Result<Resolved, Unresolved> {
        let (fin, escaped, hops) = self.follow(path)?;
        match self.by_path.get(fin.as_str()) {
            Some(&index) => Ok(Resolved {
                index,
                escaped,
                hops,
            }),
            None => Err(Unresolved::Missing(fin)),
        }
    }

    /// Whether following `path` through the archive's links climbs above the root at some
    /// point (whether or not the final path exists).
    pub(crate) fn escapes(&self, path: &str) -> bool {
        self.follow(path).is_ok_and(|(_, escaped, _)| escaped)
    }

    /// Follows links component by component: (final path, escaped, hops).
    fn follow(&self, path: &str) -> Result<(String, bool, u32), Unresolved> {
        let mut hops = 0u32;
        let mut escaped = false;
        let mut pending: Vec<String> = path
            .split('/')
            .filter(|c| !c.is_empty())
            .rev()
            .map(str::to_string)
            .collect();
        let mut done: Vec<String> = Vec::new();
        while let Some(comp) = pending.pop() {
            if comp == "." {
                continue;
            }
            if comp == ".." {
                if done.pop().is_none() {
                    escaped = true;
                }
                continue;
            }
            done.push(comp);
            let cur = done.join("/");
            let Some(m) = self
                .by_path
                .get(cur.as_str())
                .and_then(|&i| self.members.get(i))
            else {
                // Might still be a directory implied by deeper members.
                continue;
            };
            let target = match &m.kind {
                MemberKind::Symlink { target } => {
                    done.pop();
                    if target.starts_with('/') {
                        done.clear();
                    }
                    target.clone()
                }
                MemberKind::Hardlink { target } => {
                    done.clear();
                    target.clone()
                }
                _ => continue,
            };
            hops = hops.saturating_add(1);
            if hops > self.max_hops {
                return Err(Unresolved::Loop);
            }
            for c in target.split('/').filter(|c| !c.is_empty()).rev() {
                pending.push(c.to_string());
            }
        }
        Ok((done.join("/"), escaped, hops))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(path: &str, kind: MemberKind) -> Member {
        Member {
            path: path.into(),
            name: path.into(),
            offset: Some(0),
            kind,
            size: 0,
            mode: 0o644,
            digest: None,
            layer: None,
            data: None,
            too_large: false,
        }
    }

    #[test]
    fn follows_links_in_scope() {
        let members = vec![
            m("a/layer.tar", MemberKind::File),
            m(
                "b/layer.tar",
                MemberKind::Symlink {
                    target: "../a/layer.tar".into(),
                },
            ),
            m(
                "c",
                MemberKind::Symlink {
                    target: "/b".into(),
                },
            ),
            m(
                "h",
                MemberKind::Hardlink {
                    target: "a/layer.tar".into(),
                },
            ),
            m(
                "e/x",
                MemberKind::Symlink {
                    target: "../../../a/layer.tar".into(),
                },
            ),
            m(
                "l1",
                MemberKind::Symlink {
                    target: "l2".into(),
                },
            ),
            m(
                "l2",
                MemberKind::Symlink {
                    target: "l1".into(),
                },
            ),
        ];
        let idx = Index::new(&members, 255);
        assert_eq!(idx.resolve("b/layer.tar").unwrap().index, 0);
        assert_eq!(idx.resolve("c/layer.tar").unwrap().index, 0);
        assert_eq!(idx.resolve("h").unwrap().index, 0);
        let e = idx.resolve("e/x").unwrap();
        assert_eq!(e.index, 0);
        assert!(e.escaped);
        assert_eq!(idx.resolve("l1"), Err(Unresolved::Loop));
        assert_eq!(idx.resolve("zz"), Err(Unresolved::Missing("zz".into())));
        assert!(idx.escapes("e/x"));
        assert!(!idx.escapes("b/layer.tar"));
    }
}
