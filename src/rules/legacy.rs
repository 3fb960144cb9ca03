//! R24–R29: legacy layer directories (`<id>/VERSION`, `<id>/json`, `<id>/layer.tar`) and
//! `repositories`.

use std::collections::{BTreeMap, HashSet};

use crate::doc::legacy::{self, V1Json};
use crate::doc::DocError;
use crate::finding::{Code, Finding, Severity};
use crate::model::build::legacy_dirs;
use crate::model::{Archive, Layout};
use crate::reference::Reference;
use crate::rules::at;

pub(super) fn check(a: &Archive, out: &mut Vec<Finding>) {
    dirs(a, out);
    repositories(a, out);
    if a.layout == Layout::Legacy && a.docs.repositories.is_none() {
        out.push(Finding::new(
            Code::RepositoriesMissing,
            "a legacy archive without `repositories`: docker load 1.13–28 fails after loading the layers",
        ));
    }
}

fn read_json(a: &Archive, dir: &str) -> Option<Result<V1Json, DocError>> {
    let i = a.index.file(format!("{dir}/json").as_bytes())?;
    let m = a.members.get(i)?;
    Some(match m.data() {
        Some(b) => legacy::parse(b),
        None => Err(DocError::NotADocument),
    })
}

/// Header offset of `<dir>/json`, where findings about a layer directory's parent point.
fn json_offset(a: &Archive, dir: &str) -> Option<u64> {
    a.index
        .get(format!("{dir}/json").as_bytes())
        .and_then(|i| a.members.get(i))
        .and_then(|m| m.offset)
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Checks every layer directory. In legacy layout the R25–R27 problems are errors (they stop
/// a legacy load); in manifest layouts the directories are informational (R29).
fn dirs(a: &Archive, out: &mut Vec<Finding>) {
    let dirs = legacy_dirs(&a.members);
    if dirs.is_empty() {
        return;
    }
    let legacy = a.layout == Layout::Legacy;
    let mut parents: BTreeMap<String, Option<String>> = BTreeMap::new();
    for dir in &dirs {
        let dir_member = a.index.get(dir.as_bytes());
        let locate = |f: Finding, file: &str| -> Finding {
            let p = format!("{dir}/{file}");
            match a
                .index
                .get(p.as_bytes())
                .or(dir_member)
                .and_then(|i| a.members.get(i))
            {
                Some(m) => f.at(m.path.to_string_lossy(), m.offset),
                None => f.at(p, None),
            }
        };
        // R24: VERSION.
        match a
            .index
            .get(format!("{dir}/VERSION").as_bytes())
            .and_then(|i| a.members.get(i))
        {
            None => out.push(locate(
                Finding::new(
                    Code::VersionMissing,
                    format!("layer directory {dir:?} has no VERSION: the image specification requires \"1.0\" (no loader reads it)"),
                ),
                "VERSION",
            )),
            Some(m) => {
                let ok = m.size == 3 && m.data() == Some(b"1.0".as_slice());
                if !ok {
                    let shown = match m.data() {
                        Some(d) if d.len() <= 16 => format!("{:?}", String::from_utf8_lossy(d)),
                        _ => format!("{} bytes", m.size),
                    };
                    out.push(locate(
                        Finding::new(
                            Code::VersionMismatch,
                            format!("{dir}/VERSION is {shown}, not \"1.0\" as the image specification requires (docker load never reads it)"),
                        ),
                        "VERSION",
                    ));
                }
            }
        }
        // R25: json and layer.tar.
        let json = read_json(a, dir);
        let incomplete = |code: Code, message: String| {
            if legacy {
                Finding::new(code, message)
            } else {
                Finding::new(Code::LegacyDirIncomplete, message)
            }
        };
        match &json {
            None => out.push(locate(
                incomplete(
                    Code::LegacyJsonMissing,
                    format!("layer directory {dir:?} has no json"),
                ),
                "json",
            )),
            Some(Err(e)) => out.push(locate(
                incomplete(Code::LegacyJsonInvalid, format!("{dir}/json {e}")),
                "json",
            )),
            Some(Ok(_)) => {}
        }
        if a.index
            .file(format!("{dir}/layer.tar").as_bytes())
            .is_none()
        {
            let what = if a.index.get(format!("{dir}/layer.tar").as_bytes()).is_some() {
                "has a layer.tar that does not resolve to a file in the archive"
            } else {
                "has no layer.tar"
            };
            out.push(locate(
                incomplete(
                    Code::LegacyLayerMissing,
                    format!("layer directory {dir:?} {what}"),
                ),
                "layer.tar",
            ));
        }
        // R26: id.
        if let Some(Ok(j)) = &json {
            match &j.id {
                Some(id) if !is_hex64(id) => out.push(locate(
                    Finding::new(
                        Code::LegacyIdInvalid,
                        format!("{dir}/json id {id:?} is not 64 lowercase hex digits (docker load before 1.10 rejects it)"),
                    )
                    .with_severity(if legacy { Severity::Error } else { Severity::Info }),
                    "json",
                )),
                Some(id) if id != dir => out.push(locate(
                    Finding::new(
                        Code::LegacyIdMismatch,
                        format!("directory {dir:?} holds json with id {id:?}"),
                    ),
                    "json",
                )),
                None if legacy => out.push(locate(
                    Finding::new(Code::LegacyIdInvalid, format!("{dir}/json has no id")),
                    "json",
                )),
                _ => {}
            }
            parents.insert(dir.clone(), j.parent.clone());
        }
    }
    if legacy {
        chains(a, &dirs, &parents, out);
    } else {
        manifest_chains(a, &dirs, &parents, out);
    }
}

/// R27: parent chains of a legacy archive: every parent present, no cycle. Each directory is
/// followed once (linear in the number of directories).
fn chains(
    a: &Archive,
    dirs: &std::collections::BTreeSet<String>,
    parents: &BTreeMap<String, Option<String>>,
    out: &mut Vec<Finding>,
) {
    for (dir, parent) in parents {
        if let Some(p) = parent {
            if !dirs.contains(p) {
                out.push(
                    Finding::new(
                        Code::LegacyParentMissing,
                        format!("{dir}/json names parent {p:?}, which is not in the archive"),
                    )
                    .at(format!("{dir}/json"), json_offset(a, dir)),
                );
            }
        }
    }
    // Colour the parent graph: 0 unseen, 1 on the current path, 2 done.
    let mut state: BTreeMap<&str, u8> = BTreeMap::new();
    for start in parents.keys() {
        if state.get(start.as_str()).copied().unwrap_or(0) != 0 {
            continue;
        }
        let mut path: Vec<&str> = Vec::new();
        let mut cur: Option<&str> = Some(start);
        while let Some(c) = cur {
            match state.get(c).copied().unwrap_or(0) {
                2 => break,
                1 => {
                    // At the directory whose `parent` closes the loop: it is in the cycle
                    // (the start of the walk may only lead into it).
                    let closes = path.last().copied().unwrap_or(start.as_str());
                    out.push(
                        Finding::new(
                            Code::LegacyParentCycle,
                            format!(
                                "the parent chain from {start:?} loops back to {c:?} ({closes}/json names it as its parent)"
                            ),
                        )
                        .at(format!("{closes}/json"), json_offset(a, closes)),
                    );
                    break;
                }
                _ => {}
            }
            state.insert(c, 1);
            path.push(c);
            cur = parents.get(c).and_then(|p| p.as_deref());
        }
        for p in path {
            state.insert(p, 2);
        }
    }
}

/// R29: in 1.10–24 archives each layer directory's parent is the previous layer's.
fn manifest_chains(
    a: &Archive,
    dirs: &std::collections::BTreeSet<String>,
    parents: &BTreeMap<String, Option<String>>,
    out: &mut Vec<Finding>,
) {
    for img in &a.images {
        let mut prev: Option<&str> = None;
        for l in &img.layers {
            let Some(dir) = l.path.as_deref().and_then(|p| {
                crate::path::EntryPath::clean(p.as_bytes())
                    .0
                    .to_string_lossy()
                    .strip_suffix("/layer.tar")
                    .map(str::to_string)
            }) else {
                prev = None;
                continue;
            };
            if let (Some(Some(parent)), true) = (parents.get(&dir), dirs.contains(&dir)) {
                if prev.is_some_and(|p| p != parent) || prev.is_none() {
                    out.push(
                        Finding::new(
                            Code::LegacyParentChain,
                            format!(
                                "{dir}/json names parent {parent:?}, but the layer below it is {}",
                                prev.map_or("none".to_string(), |p| format!("{p:?}"))
                            ),
                        )
                        .at(format!("{dir}/json"), json_offset(a, &dir)),
                    );
                }
            } else if let (Some(None), Some(p)) = (parents.get(&dir), prev) {
                out.push(
                    Finding::new(
                        Code::LegacyParentChain,
                        format!("{dir}/json has no parent, but the layer below it is {p:?}"),
                    )
                    .at(format!("{dir}/json"), json_offset(a, &dir)),
                );
            }
            prev = dirs.get(&dir).map(String::as_str);
        }
    }
}

/// R28: `repositories`.
fn repositories(a: &Archive, out: &mut Vec<Finding>) {
    let Some(doc) = &a.docs.repositories else {
        return;
    };
    // Only legacy loading reads `repositories`; elsewhere a bad one is a warning.
    let severity = if a.layout == Layout::Legacy {
        Severity::Error
    } else {
        Severity::Warning
    };
    let Some(i) = doc.reference.member() else {
        out.push(
            at(
                a,
                Code::RepositoriesInvalid,
                doc.named,
                "repositories is not a regular file",
            )
            .with_severity(severity),
        );
        return;
    };
    let repos = match &doc.parsed {
        Some(Ok(r)) => r,
        Some(Err(DocError::NotADocument)) | None => {
            out.push(
                at(
                    a,
                    Code::RepositoriesInvalid,
                    i,
                    "repositories is not a JSON document",
                )
                .with_severity(severity),
            );
            return;
        }
        Some(Err(DocError::Syntax(e))) => {
            out.push(
                at(
                    a,
                    Code::RepositoriesInvalid,
                    i,
                    format!("repositories is not JSON: {e}"),
                )
                .with_severity(severity),
            );
            return;
        }
        Some(Err(e)) => {
            out.push(at(a, Code::RepositoriesInvalid, i, e.to_string()).with_severity(severity));
            return;
        }
    };
    let dirs = legacy_dirs(&a.members);
    let diff_hexes: HashSet<String> = a
        .images
        .iter()
        .flat_map(|img| img.layers.iter())
        .filter_map(|l| l.diff_id.as_ref())
        .map(|d| d.hex().to_string())
        .collect();
    for (name, tags) in repos {
        for (tag, id) in tags {
            match Reference::parse_normalized(&format!("{name}:{tag}")) {
                Ok(r) if r.tag() == Some(tag.as_str()) && r.digest().is_none() => {}
                Ok(_) => out.push(
                    at(
                        a,
                        Code::RepositoriesInvalid,
                        i,
                        format!("repositories {name:?} tag {tag:?} is not a valid name:tag"),
                    )
                    .with_severity(severity),
                ),
                Err(e) => out.push(
                    at(
                        a,
                        Code::RepositoriesInvalid,
                        i,
                        format!("repositories {name:?} tag {tag:?}: {e}"),
                    )
                    .with_severity(severity),
                ),
            }
            // An image ID is 64 lowercase hex digits (moby `v1.ValidateID`); anything else
            // (`../../etc`) can name no layer directory and must never be used as a path.
            if !is_hex64(id) {
                out.push(
                    at(
                        a,
                        Code::RepositoriesInvalid,
                        i,
                        format!(
                            "repositories {name:?} tag {tag:?} -> {id:?} is not an image ID (64 lowercase hex digits)"
                        ),
                    )
                    .with_severity(severity),
                );
                continue;
            }
            if !dirs.contains(id) && !diff_hexes.contains(id) {
                let f = at(
                    a,
                    Code::RepositoriesUnknownTarget,
                    i,
                    format!(
                        "repositories {name}:{tag} -> {id:?} names no layer directory{}",
                        if a.layout == Layout::Legacy {
                            " (docker load: \"invalid target ID\")"
                        } else {
                            " or layer DiffID"
                        }
                    ),
                );
                out.push(if a.layout == Layout::Legacy {
                    f.with_severity(Severity::Error)
                } else {
                    f
                });
            }
        }
    }
}
