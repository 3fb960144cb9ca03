//! R24–R29: legacy layer directories (`<id>/VERSION`, `<id>/json`, `<id>/layer.tar`) and
//! `repositories`.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use crate::doc::legacy::{self, V1Json};
use crate::doc::repositories::{self, Repositories};
use crate::model::{Image, ImageSource, Layout};
use crate::reference::Reference;
use crate::validate::ctx::Ctx;
use crate::validate::{layers, Code, Finding, Severity};

const LEGACY_FILES: [&str; 3] = ["VERSION", "json", "layer.tar"];

/// Top-level directories holding any of VERSION/json/layer.tar.
fn legacy_dirs(cx: &Ctx<'_>) -> BTreeSet<String> {
    cx.members
        .iter()
        .filter_map(|m| {
            let (dir, base) = m.path.split_once('/')?;
            (LEGACY_FILES.contains(&base) && !dir.is_empty()).then(|| dir.to_string())
        })
        .collect()
}

fn read_json(cx: &Ctx<'_>, dir: &str) -> Option<Result<V1Json, String>> {
    let i = cx.file(&format!("{dir}/json"))?;
    Some(match cx.data(i) {
        Some(b) => legacy::parse(b),
        None => Err("is not a JSON document".to_string()),
    })
}

/// Checks every layer directory. In legacy layout the R25–R27 problems are errors (they stop
/// a legacy load); in manifest layouts the directories are informational (R29).
pub(super) fn check_dirs(cx: &mut Ctx<'_>, layout: Layout, images: &[Image]) {
    let dirs = legacy_dirs(cx);
    if dirs.is_empty() {
        return;
    }
    let legacy = layout == Layout::Legacy;
    let mut out: Vec<Finding> = Vec::new();
    let mut parents: BTreeMap<String, Option<String>> = BTreeMap::new();
    for dir in &dirs {
        let dir_member = cx.index.get(dir);
        let locate = |f: Finding, file: &str| -> Finding {
            let p = format!("{dir}/{file}");
            match cx.index.get(&p).or(dir_member).and_then(|i| cx.member(i)) {
                Some(m) => f.at(m.path.clone(), m.offset),
                None => f.at(p, None),
            }
        };
        // R24: VERSION.
        match cx.index.get(&format!("{dir}/VERSION")).and_then(|i| cx.member(i)) {
            None => out.push(locate(
                Finding::new(Code::VersionMissing, format!("layer directory {dir:?} has no VERSION (writers put \"1.0\"; no loader reads it)")),
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
                            format!("{dir}/VERSION is {shown}, not \"1.0\" (docker load never reads it)"),
                        ),
                        "VERSION",
                    ));
                }
            }
        }
        // R25: json and layer.tar.
        let json = read_json(cx, dir);
        match &json {
            None => out.push(locate(
                if legacy {
                    Finding::new(
                        Code::LegacyJsonMissing,
                        format!("layer directory {dir:?} has no json"),
                    )
                } else {
                    Finding::new(
                        Code::LegacyDirIncomplete,
                        format!("layer directory {dir:?} has no json"),
                    )
                },
                "json",
            )),
            Some(Err(e)) => out.push(locate(
                if legacy {
                    Finding::new(Code::LegacyJsonInvalid, format!("{dir}/json {e}"))
                } else {
                    Finding::new(Code::LegacyDirIncomplete, format!("{dir}/json {e}"))
                },
                "json",
            )),
            Some(Ok(_)) => {}
        }
        if cx.file(&format!("{dir}/layer.tar")).is_none() {
            let what = if cx.index.get(&format!("{dir}/layer.tar")).is_some() {
                "has a layer.tar that does not resolve to a file in the archive"
            } else {
                "has no layer.tar"
            };
            out.push(locate(
                if legacy {
                    Finding::new(
                        Code::LegacyLayerMissing,
                        format!("layer directory {dir:?} {what}"),
                    )
                } else {
                    Finding::new(
                        Code::LegacyDirIncomplete,
                        format!("layer directory {dir:?} {what}"),
                    )
                },
                "layer.tar",
            ));
        }
        // R26: id.
        if let Some(Ok(j)) = &json {
            match &j.id {
                Some(id) if !is_hex64(id) => out.push(locate(
                    Finding::new(Code::LegacyIdInvalid, format!("{dir}/json id {id:?} is not 64 lowercase hex digits (docker load before 1.10 rejects it)"))
                        .with_severity(if legacy { Severity::Error } else { Severity::Info }),
                    "json",
                )),
                Some(id) if id != dir => out.push(locate(
                    Finding::new(Code::LegacyIdMismatch, format!("directory {dir:?} holds json with id {id:?}")),
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
    // R27: parent chains (legacy layout only: manifest layouts never follow them).
    if legacy {
        for (dir, parent) in &parents {
            if let Some(p) = parent {
                if !dirs.contains(p) {
                    out.push(
                        Finding::new(
                            Code::LegacyParentMissing,
                            format!("{dir}/json names parent {p:?}, which is not in the archive"),
                        )
                        .at(format!("{dir}/json"), json_offset(cx, dir)),
                    );
                }
            }
            let mut seen = HashSet::new();
            let mut cur = Some(dir.clone());
            while let Some(c) = cur {
                if !seen.insert(c.clone()) {
                    out.push(
                        Finding::new(
                            Code::LegacyParentCycle,
                            format!("the parent chain from {dir:?} loops back to {c:?}"),
                        )
                        .at(format!("{dir}/json"), json_offset(cx, dir)),
                    );
                    break;
                }
                cur = parents.get(&c).cloned().flatten();
            }
        }
    }
    // R29: in 1.10–24 archives each layer directory's parent is the previous layer's.
    if !legacy {
        for img in images {
            let mut prev: Option<&str> = None;
            for l in &img.layers {
                let Some(dir) = l.path.as_deref().and_then(|p| {
                    crate::path::clean(p)
                        .path
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
                                format!("{dir}/json names parent {parent:?}, but the layer below it is {}", prev.map_or("none".to_string(), |p| format!("{p:?}"))),
                            )
                            .at(format!("{dir}/json"), json_offset(cx, &dir)),
                        );
                    }
                } else if let (Some(None), Some(p)) = (parents.get(&dir), prev) {
                    out.push(
                        Finding::new(
                            Code::LegacyParentChain,
                            format!("{dir}/json has no parent, but the layer below it is {p:?}"),
                        )
                        .at(format!("{dir}/json"), json_offset(cx, &dir)),
                    );
                }
                prev = dirs.get(&dir).map(String::as_str);
            }
        }
    }
    cx.findings.extend(out);
}

/// Header offset of `<dir>/json`, where findings about a layer directory's parent point.
fn json_offset(cx: &Ctx<'_>, dir: &str) -> Option<u64> {
    cx.index
        .get(&format!("{dir}/json"))
        .and_then(|i| cx.member(i))
        .and_then(|m| m.offset)
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// R28: decodes and checks `repositories`.
pub(super) fn repositories(
    cx: &mut Ctx<'_>,
    index: usize,
    layout: Layout,
    images: &[Image],
) -> Option<Repositories> {
    // Only legacy loading reads `repositories`; elsewhere a bad one is a warning.
    let severity = if layout == Layout::Legacy {
        Severity::Error
    } else {
        Severity::Warning
    };
    let Some(i) = cx.file("repositories") else {
        let f = cx.at(
            Code::RepositoriesInvalid,
            index,
            "repositories is not a regular file",
        );
        cx.push(f.with_severity(severity));
        return None;
    };
    let parsed = match cx.data(i) {
        Some(b) => repositories::parse(b),
        None => Err("repositories is not a JSON document".to_string()),
    };
    let repos = match parsed {
        Ok(r) => r,
        Err(e) => {
            let f = cx.at(Code::RepositoriesInvalid, i, e);
            cx.push(f.with_severity(severity));
            return None;
        }
    };
    let dirs = legacy_dirs(cx);
    let diff_hexes: HashSet<String> = images
        .iter()
        .flat_map(|img| img.layers.iter())
        .filter_map(|l| l.diff_id.as_deref())
        .filter_map(|d| d.strip_prefix("sha256:"))
        .map(str::to_string)
        .collect();
    let mut out = Vec::new();
    for (name, tags) in &repos {
        for (tag, id) in tags {
            match Reference::parse_normalized(&format!("{name}:{tag}")) {
                Ok(r) if r.tag() == Some(tag.as_str()) && r.digest().is_none() => {}
                Ok(_) => out.push(
                    cx.at(
                        Code::RepositoriesInvalid,
                        i,
                        format!("repositories {name:?} tag {tag:?} is not a valid name:tag"),
                    )
                    .with_severity(severity),
                ),
                Err(e) => out.push(
                    cx.at(
                        Code::RepositoriesInvalid,
                        i,
                        format!("repositories {name:?} tag {tag:?}: {e}"),
                    )
                    .with_severity(severity),
                ),
            }
            if !dirs.contains(id) && !diff_hexes.contains(id) {
                let f = cx.at(
                    Code::RepositoriesUnknownTarget,
                    i,
                    format!(
                        "repositories {name}:{tag} -> {id:?} names no layer directory{}",
                        if layout == Layout::Legacy {
                            " (docker load: \"invalid target ID\")"
                        } else {
                            " or layer DiffID"
                        }
                    ),
                );
                out.push(if layout == Layout::Legacy {
                    f.with_severity(Severity::Error)
                } else {
                    f
                });
            }
        }
    }
    cx.findings.extend(out);
    Some(repos)
}

/// Pre-1.10 images: one per top directory named in `repositories` (or, without it, per
/// directory that is nobody's parent), with its parent chain as layers.
pub(super) fn images(cx: &mut Ctx<'_>, repos: Option<&Repositories>, images: &mut Vec<Image>) {
    let dirs = legacy_dirs(cx);
    let mut parent_of: BTreeMap<String, Option<String>> = BTreeMap::new();
    for d in &dirs {
        let p = match read_json(cx, d) {
            Some(Ok(j)) => j.parent,
            _ => None,
        };
        parent_of.insert(d.clone(), p);
    }
    let mut tops: Vec<(String, Vec<String>)> = Vec::new();
    match repos {
        Some(r) => {
            for (name, tags) in r {
                for (tag, id) in tags {
                    if !dirs.contains(id) {
                        continue;
                    }
                    let t = format!("{name}:{tag}");
                    match tops.iter_mut().find(|(top, _)| top == id) {
                        Some((_, ts)) => ts.push(t),
                        None => tops.push((id.clone(), vec![t])),
                    }
                }
            }
        }
        None => {
            let is_parent: HashSet<&String> = parent_of.values().flatten().collect();
            for d in &dirs {
                if !is_parent.contains(d) {
                    tops.push((d.clone(), Vec::new()));
                }
            }
        }
    }
    for (top, tags) in tops {
        let mut chain = Vec::new();
        let mut seen = HashSet::new();
        let mut cur = Some(top.clone());
        while let Some(c) = cur {
            if !seen.insert(c.clone()) || !dirs.contains(&c) {
                break;
            }
            cur = parent_of.get(&c).cloned().flatten();
            chain.push(c);
        }
        chain.reverse();
        let config_path = format!("{top}/json");
        let config = cx
            .file(&config_path)
            .and_then(|i| cx.data(i))
            .and_then(|b| crate::doc::config::parse(b).ok());
        let mut layers_out = Vec::new();
        for dir in &chain {
            let p = format!("{dir}/layer.tar");
            if let Some(li) = cx.file(&p) {
                layers_out.push(layers::layer_from_member(cx, li, &p, None, None, true));
            }
        }
        images.push(Image {
            id: None,
            config_path: Some(config_path),
            manifest_digest: None,
            manifest_media_type: None,
            repo_tags: tags,
            repo_tags_null: false,
            ref_name: None,
            parent: None,
            platform: config.as_ref().map(|c| c.platform.clone()),
            config,
            layers: layers_out,
            source: ImageSource::Legacy { top },
            missing: false,
            attestation: false,
        });
    }
}
