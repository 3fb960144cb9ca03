use std::collections::HashSet;

use crate::archive::member::{Member, MemberKind};
use crate::archive::resolve::{Index, Unresolved};
use crate::validate::{Code, Finding};
use crate::Limits;

/// Shared state of one validation run.
pub(crate) struct Ctx<'a> {
    pub members: &'a [Member],
    pub index: Index<'a>,
    pub limits: &'a Limits,
    pub findings: Vec<Finding>,
    /// Members whose layer findings were already reported.
    pub reported_layers: HashSet<usize>,
    /// Members whose digest-vs-name check was already reported.
    pub reported_names: HashSet<usize>,
    /// Layers were hashed and scanned (false for metadata-only reads).
    pub verified: bool,
}

/// Where a reference was written (for findings about it).
#[derive(Clone, Copy)]
pub(crate) struct From<'s> {
    pub path: &'s str,
    pub offset: Option<u64>,
}

impl<'a> Ctx<'a> {
    pub fn new(members: &'a [Member], limits: &'a Limits) -> Self {
        Ctx {
            members,
            index: Index::new(members, limits.max_link_depth),
            limits,
            findings: Vec::new(),
            reported_layers: HashSet::new(),
            reported_names: HashSet::new(),
            verified: true,
        }
    }

    pub fn push(&mut self, f: Finding) {
        self.findings.push(f);
    }

    pub fn member(&self, i: usize) -> Option<&'a Member> {
        self.members.get(i)
    }

    /// A finding located at member `i`.
    pub fn at(&self, code: Code, i: usize, message: impl Into<String>) -> Finding {
        let f = Finding::new(code, message);
        match self.members.get(i) {
            Some(m) => f.at(m.path.clone(), m.offset),
            None => f,
        }
    }

    /// The member at a top-level or nested cleaned path, if it is a regular file (after links).
    pub fn file(&self, path: &str) -> Option<usize> {
        let r = self.index.resolve(path).ok()?;
        self.members.get(r.index).filter(|m| m.is_file())?;
        Some(r.index)
    }

    /// Kept bytes of a member.
    pub fn data(&self, i: usize) -> Option<&'a [u8]> {
        self.members.get(i)?.data()
    }

    /// Resolves a path written in a document (manifest.json `Config`/`Layers`, a blob path),
    /// reporting R8 (missing, not a regular file), R9 (escapes) and R3 (loops). Returns the
    /// index of the regular-file member holding the content.
    pub fn resolve_ref(
        &mut self,
        what: &str,
        referenced: &str,
        missing: Code,
        from: From<'_>,
    ) -> Option<usize> {
        let clean = crate::path::clean(referenced);
        let here = |f: Finding| f.at(from.path.to_string(), from.offset);
        if clean.escapes {
            self.push(here(Finding::new(
                Code::ReferenceEscapes,
                format!("{what} path {referenced:?} climbs above the archive root"),
            )));
            return None;
        }
        match self.index.resolve(&clean.path) {
            Ok(r) => {
                if r.escaped {
                    self.push(here(Finding::new(
                        Code::ReferenceEscapes,
                        format!(
                            "{what} {referenced:?} is reached through a link that points above the archive root (docker load clamps it; containers/image and go-containerregistry cannot resolve it)"
                        ),
                    )));
                }
                let m = self.members.get(r.index)?;
                if !m.is_file() {
                    let kind = match &m.kind {
                        MemberKind::Dir => "a directory".to_string(),
                        MemberKind::Other { typeflag } => {
                            format!("a special file (typeflag {:?})", *typeflag as char)
                        }
                        _ => "a link".to_string(),
                    };
                    self.push(here(Finding::new(
                        Code::NotRegularFile,
                        format!("{what} {referenced:?} resolves to {kind}, not a regular file"),
                    )));
                    return None;
                }
                Some(r.index)
            }
            Err(Unresolved::Missing(p)) => {
                let via = if p != clean.path {
                    format!(" (links lead to {p:?})")
                } else {
                    String::new()
                };
                self.push(here(Finding::new(
                    missing,
                    format!("{what} {referenced:?} is not in the archive{via}"),
                )));
                None
            }
            Err(Unresolved::Loop) => {
                self.push(here(Finding::new(
                    Code::LinkLoop,
                    format!(
                        "{what} {referenced:?}: more than {} links followed (a link loop)",
                        self.limits.max_link_depth
                    ),
                )));
                None
            }
        }
    }
}
