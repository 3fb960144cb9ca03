//! Link judgement as findings: every entry, hardlink target, whiteout and opaque marker of an
//! image judged against the filesystem its lower layers (and the earlier entries of its own
//! layer) built, the way [`Flattener`](crate::layer::Flattener) applies them.
//!
//! Symlink-ancestor attacks span layers (`etc -> /etc` in one layer, `etc/passwd` in the
//! next), so they cannot be seen one layer at a time: [`check_links`] flattens each image of a
//! report read with recorded entries and adds what it meets to the report's findings.

use std::collections::HashMap;

use crate::finding::{Code, Finding, Severity};
use crate::layer::changes::IssueKind;
use crate::layer::flatten::FlattenOptions;
use crate::layer::image::image_issues;
use crate::read::{Reader, Report};
use crate::scan::entry::Record;

/// The finding code of a flattening note about links, if it is one.
pub(crate) fn code_of(kind: IssueKind) -> Option<Code> {
    Some(match kind {
        IssueKind::LinkEscape => Code::LayerLinkEscape,
        IssueKind::SymlinkLoop => Code::LayerLinkLoop,
        IssueKind::RootNotDirectory => Code::LayerRootNotDirectory,
        IssueKind::WhiteoutThroughSymlink => Code::WhiteoutThroughSymlink,
        _ => return None,
    })
}

/// The entry at header offset `offset` of a layer, named as the layer names it (cleaned):
/// the whiteout or opaque marker itself rather than what it deletes, `.` for the root.
fn entry_name(
    archive: &crate::model::Archive,
    n: usize,
    layer: &crate::model::Layer,
    offset: u64,
) -> Option<String> {
    use crate::whiteout::{OPAQUE, WHITEOUT_PREFIX};
    let records = crate::layer::image::layer_records(archive, n, layer).ok()?;
    let offset_of = |r: &Record| match r {
        Record::Entry(e) | Record::Aufs(e) => e.offset,
        Record::Whiteout { offset, .. }
        | Record::Opaque { offset, .. }
        | Record::InvalidWhiteout { offset, .. } => *offset,
    };
    let i = records
        .records
        .binary_search_by(|r| offset_of(r).cmp(&offset))
        .ok()?;
    let path = match records.records.get(i)? {
        Record::Entry(e) | Record::Aufs(e) => e.path.clone(),
        Record::Whiteout { target, .. } => {
            let wh = [WHITEOUT_PREFIX.as_bytes(), target.file_name()].concat();
            target.parent().unwrap_or_default().join(&wh)
        }
        Record::Opaque { dir, .. } => dir.join(OPAQUE.as_bytes()),
        Record::InvalidWhiteout { dir, name, .. } => {
            dir.join(&[WHITEOUT_PREFIX.as_bytes(), name].concat())
        }
    };
    Some(if path.is_root() {
        ".".to_string()
    } else {
        path.to_string_lossy().into_owned()
    })
}

/// Whether a relative symlink target, read from the directory `dir` of the link, climbs
/// above the root at some point (`..` past it); absolute targets never do (every container
/// runtime resolves them inside the root).
fn climbs_above_root(dir: &crate::path::EntryPath, target: &[u8]) -> bool {
    if target.first() == Some(&b'/') {
        return false;
    }
    let mut depth = dir.components().count();
    for c in target.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return true,
            },
            _ => depth = depth.saturating_add(1),
        }
    }
    false
}

/// The symlinks of an image's layers whose relative target climbs above the root
/// ([`Code::LayerSymlinkAboveRoot`]): (code, layer, entry offset, path, message).
fn climbing_symlinks(
    archive: &crate::model::Archive,
    image: &crate::model::Image,
) -> Vec<(Code, usize, u64, String, String)> {
    let mut out = Vec::new();
    for (n, layer) in image.layers.iter().enumerate() {
        let with_links = archive
            .layer_member(layer)
            .and_then(|m| m.layer.as_ref())
            .is_some_and(|s| s.symlinks > 0);
        if !with_links {
            continue;
        }
        let Ok(records) = crate::layer::image::layer_records(archive, n, layer) else {
            continue;
        };
        for r in &records.records {
            let Record::Entry(e) = r else { continue };
            let crate::scan::entry::EntryKind::Symlink { target } = &e.kind else {
                continue;
            };
            let dir = e.path.parent().unwrap_or_default();
            if e.path.is_root() || !climbs_above_root(&dir, target) {
                continue;
            }
            out.push((
                Code::LayerSymlinkAboveRoot,
                n,
                e.offset,
                e.path.to_string_lossy().into_owned(),
                format!(
                    "the symlink {} -> {:?} climbs above the layer root: a chroot keeps it inside, an extractor or a reader that follows it on the host leaves the root",
                    e.path,
                    String::from_utf8_lossy(target)
                ),
            ));
        }
    }
    out
}

/// Adds the link findings of every image of `report` (read by `reader` with
/// [`Reader::record_entries`]) to its findings: [`Code::LayerLinkEscape`],
/// [`Code::LayerLinkLoop`], [`Code::LayerRootNotDirectory`] and
/// [`Code::WhiteoutThroughSymlink`] and [`Code::LayerSymlinkAboveRoot`], each with the layer member, the entry and its offset,
/// the image and the layer. Repeats of one code in one layer collapse into one finding with a
/// count that keeps the first location. Images whose layers cannot be applied (damaged, not
/// recorded) are left out: their findings already say why. `report.valid` is updated.
///
/// ```
/// let reader = imgtar::Reader::new().record_entries(true);
/// let mut report = reader.open("testdata/real/ggcr-whiteout-dir-gzip.tar")?;
/// imgtar::layer::check_links(&reader, &mut report);
/// assert!(!report.findings.iter().any(|f| f.code == imgtar::Code::LayerLinkEscape));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn check_links(reader: &Reader, report: &mut Report) {
    let options = FlattenOptions {
        max_link_depth: reader.limits_in_force().max_link_depth,
        ..FlattenOptions::default()
    };
    // (code, member index) → index of the finding in `found`.
    let mut by_key: HashMap<(Code, usize), usize> = HashMap::new();
    // (code, member index, entry offset) already counted (layers shared by images).
    let mut seen = std::collections::HashSet::new();
    let mut found: Vec<Finding> = Vec::new();
    // Each flattened image's layers as the loaders' appliers meet their links.
    let mut applied = crate::rules::loaders::Applied::new();
    let archive = &report.archive;
    for (n, image) in archive.images.iter().enumerate() {
        if archive.image_intact(image).is_err() {
            continue;
        }
        // The layers applied once, as the OCI spec applies them (the flattener, one lookup per
        // path component): its notes are the findings, and say whether any path meets a link,
        // a file where a directory is wanted, or a root that is no directory.
        let Ok(issues) = image_issues(archive, image, options) else {
            continue;
        };
        // Only then can a loader's applier fail on the links (hardlink targets included), so
        // only then are they replayed as each loader resolves paths; an image where every
        // path is plain costs one flattening.
        let met_links = issues.iter().any(|i| {
            matches!(
                i.kind,
                IssueKind::ThroughSymlink
                    | IssueKind::WhiteoutThroughSymlink
                    | IssueKind::LinkEscape
                    | IssueKind::SymlinkLoop
                    | IssueKind::RootNotDirectory
                    | IssueKind::ParentNotDirectory
                    | IssueKind::HardlinkTargetMissing
                    | IssueKind::HardlinkToDirectory
                    | IssueKind::HardlinkThroughSymlink
            )
        });
        if met_links {
            if let Some(a) = crate::layer::appliers::apply_image(archive, image) {
                applied.insert(n, a);
            }
        }
        // (code, layer, entry offset, entry path, message) of every case met (the climbing
        // symlinks skip layers without symlinks themselves).
        let mut met: Vec<(Code, usize, u64, String, String)> = climbing_symlinks(archive, image);
        met.extend(issues.iter().filter_map(|issue| {
            Some((
                code_of(issue.kind)?,
                issue.layer,
                issue.offset,
                issue.path.to_string_lossy().into_owned(),
                issue.message.clone(),
            ))
        }));
        for (code, at, offset, path, message) in met {
            let Some(layer) = image.layers.get(at) else {
                continue;
            };
            let Some(i) = layer.index else { continue };
            let Some(member) = archive.members.get(i) else {
                continue;
            };
            if !seen.insert((code, i, offset)) {
                continue;
            }
            if let Some(&k) = by_key.get(&(code, i)) {
                if let Some(f) = found.get_mut(k) {
                    f.count = f.count.saturating_add(1);
                }
                continue;
            }
            let name = entry_name(archive, at, layer, offset).unwrap_or(path);
            let mut f = Finding::new(code, format!("layer {at}: {message}"))
                .at(member.path.to_string_lossy(), member.offset)
                .in_entry(name, offset);
            f.image = Some(n);
            f.layer = Some(at);
            if reader.is_strict() && f.severity == Severity::Warning {
                f.severity = Severity::Error;
            }
            by_key.insert((code, i), found.len());
            found.push(f);
        }
    }
    if found.is_empty() && applied.is_empty() {
        return;
    }
    report.findings.extend(found);
    report.findings.sort_by(|a, b| {
        (a.offset.unwrap_or(u64::MAX), a.entry_offset.unwrap_or(0))
            .cmp(&(b.offset.unwrap_or(u64::MAX), b.entry_offset.unwrap_or(0)))
    });
    report.valid = report.is_valid();
    // The verdicts again, with the new findings and what the appliers meet.
    report.loaders =
        crate::rules::loaders::verdicts_applied(&report.archive, &report.findings, &applied);
}
