//! R1–R5: the outer archive: how it reads (compression, damage, the end), its member names,
//! links and duplicates, and its layout.

use std::collections::HashMap;

use crate::compress::DecodeFailure;
use crate::finding::{Code, Finding, Severity};
use crate::model::{Archive, Layout, Producer};
use crate::path::EntryPath;
use crate::rules::at;
use crate::scan::tar::{self, Part};
use crate::scan::{Head, MemberKind, OuterStop};

pub(super) fn check(a: &Archive, out: &mut Vec<Finding>) {
    reading(a, out);
    names(a, out);
    links_and_duplicates(a, out);
}

/// R1: compression, damage, the end of the archive.
fn reading(a: &Archive, out: &mut Vec<Finding>) {
    head(a, out);
    stop_and_end(a, out);
    after_end(a, out);
    tar_notes(a, out);
}

/// The compression and the first block: compressed, empty, not a tar, compressed twice.
fn head(a: &Archive, out: &mut Vec<Finding>) {
    let o = &a.outer;
    if a.compression.is_compressed() {
        out.push(Finding::new(
            Code::OuterCompressed,
            format!(
                "the archive is {}-compressed: docker load and containers/image decompress it, go-containerregistry reads only plain tars",
                a.compression.as_str()
            ),
        ));
    }
    match o.head {
        Some(Head::Empty) => out.push(Finding::new(
            Code::EmptyInput,
            if a.compression.is_compressed() {
                format!("the {}-compressed input holds no bytes", a.compression.as_str())
            } else {
                "the input is empty".to_string()
            },
        )),
        Some(Head::Short(n)) => out.push(Finding::new(
            Code::NotATar,
            format!(
                "the input is {n} bytes long, shorter than one tar block (512 bytes): it is not a tar archive{}, or it was cut short",
                o.looks_like.map(|l| format!(" ({l})")).unwrap_or_default()
            ),
        ).at_offset(0)),
        Some(Head::NotTar) => out.push(Finding::new(
            Code::NotATar,
            format!(
                "the {}first block is not a tar header (its checksum does not match): this is not a tar archive{}",
                if a.compression.is_compressed() { "decompressed stream's " } else { "input's " },
                o.looks_like.map(|l| format!("; it looks like {l}")).unwrap_or_default()
            ),
        ).at_offset(0)),
        Some(Head::DoubleCompressed(inner)) => out.push(Finding::new(
            Code::DoubleCompression,
            format!(
                "the {}-decompressed stream is {}-compressed again; docker load decompresses only once",
                a.compression.as_str(),
                inner.as_str()
            ),
        ).at_offset(0)),
        _ => {}
    }
}

/// Where the walk stopped early, or how the tar ended when it did not.
fn stop_and_end(a: &Archive, out: &mut Vec<Finding>) {
    let o = &a.outer;
    if let Some(stop) = &o.stop {
        let mut f = stopped(a, stop);
        let cut = matches!(
            stop,
            OuterStop::Truncated { .. }
                | OuterStop::Decode {
                    failure: DecodeFailure::Truncated,
                    ..
                }
        );
        let documents = ["manifest.json", "index.json", "repositories"]
            .iter()
            .any(|d| a.index.get(d.as_bytes()).is_some());
        if cut && !documents && !a.members.is_empty() {
            f.message.push_str(
                "; no manifest.json, index.json or repositories was read before it, and docker save writes them last: they are likely in the missing part",
            );
        }
        out.push(f);
    }
    let read_as_tar = matches!(o.head, Some(Head::Tar) | Some(Head::DoubleCompressed(_)));
    if read_as_tar && o.stop.is_none() && !a.members.is_empty() {
        let what = match o.end {
            tar::End::NoMarker => Some("without the two zero blocks that end a tar"),
            tar::End::OneZeroBlock => {
                Some("after one zero block, without the second that ends a tar")
            }
            _ => None,
        };
        if let Some(what) = what {
            out.push(
                Finding::new(
                    Code::NoEndOfArchive,
                    format!(
                        "the archive ends at byte {} {what}: every member before it is complete, but the file looks cut short at a member boundary (Go's archive/tar, and so docker load, reads it as complete)",
                        o.tar_len
                    ),
                )
                .at_offset(o.tar_len),
            );
        }
    }
}

/// What follows the tar: a cut or corrupt compressed trailer, trailing bytes.
fn after_end(a: &Archive, out: &mut Vec<Finding>) {
    let o = &a.outer;
    if let Some(d) = o.trailing.as_ref().and_then(|t| t.decode.as_ref()) {
        let (code, what) = match d.failure {
            DecodeFailure::Truncated => (
                Code::TruncatedArchive,
                format!(
                    "the tar inside is complete, but the {}-compressed input ends after {} compressed bytes, before the end of its compressed stream (its trailer or last frame): the file looks cut short",
                    d.compression.as_str(),
                    d.consumed
                ),
            ),
            DecodeFailure::Corrupt => (
                Code::OuterCorrupt,
                format!(
                    "the tar inside is complete, but the {}-compressed input is corrupt near compressed byte {} after it: {}",
                    d.compression.as_str(),
                    d.consumed,
                    d.message
                ),
            ),
        };
        let mut f = Finding::new(code, what).at_offset(d.produced);
        f.compressed_offset = Some(d.consumed);
        out.push(f);
    }
    if let Some(t) = &o.trailing {
        if t.nonzero > 0 {
            let f = Finding::new(
                Code::TrailingData,
                format!(
                    "{} bytes ({} of them non-zero) follow the end-of-archive marker; tar readers ignore them{}",
                    t.total,
                    t.nonzero,
                    if t.tar_header { ", and they hold a second archive that no loader reads" } else { "" }
                ),
            )
            .at_offset(t.at);
            out.push(if t.tar_header {
                f.with_severity(Severity::Warning)
            } else {
                f
            });
        }
    }
}

/// PAX global headers and the tar reader's notes on members.
fn tar_notes(a: &Archive, out: &mut Vec<Finding>) {
    let o = &a.outer;
    for (offset, keys) in &o.global_headers {
        out.push(
            Finding::new(
                Code::PaxGlobalHeader,
                format!(
                    "a PAX global header setting {}: Go's archive/tar (docker load) ignores it, GNU tar and libarchive apply it to every later member",
                    if keys.is_empty() { "nothing".to_string() } else { keys.join(", ") }
                ),
            )
            .at_offset(*offset),
        );
    }
    for (offset, note) in &o.notes {
        let i = a.members.iter().position(|m| m.offset == Some(*offset));
        let name = i
            .and_then(|i| a.members.get(i))
            .map(|m| m.name_lossy())
            .unwrap_or_default();
        let (code, message) = tar_note(note, &format!("member {name:?}"));
        let f = match i {
            Some(i) => at(a, code, i, message),
            None => Finding::new(code, message).at_offset(*offset),
        };
        out.push(f);
    }
}

/// A finding for a note of the tar reader about one header.
pub(crate) fn tar_note(note: &tar::Note, what: &str) -> (Code, String) {
    match note {
        tar::Note::PaxSizeDiffers { ustar, pax } => (
            Code::PaxSizeMismatch,
            format!("{what}: its PAX size record says {pax} bytes, its header {ustar}: Go, GNU tar and libarchive read {pax}, readers that trust the header lose their place"),
        ),
        tar::Note::Orphaned { typeflag, at } => (
            Code::PaxDesync,
            format!(
                "{what}: an extension header (typeflag {:?}) at byte {at} applies to nothing: Go drops it, other readers attach it to another entry",
                char::from(*typeflag)
            ),
        ),
        tar::Note::PaxAndGnuName => (
            Code::PaxDesync,
            format!("{what}: both a GNU long name and a PAX path: Go uses the GNU name, other readers the PAX path"),
        ),
        tar::Note::SizeOnHeaderOnly { size } => (
            Code::HeaderOnlySize,
            format!("{what}: a link, directory, device or FIFO whose size field says {size} bytes: Go reads no data for it, readers that trust the size read the next headers as data"),
        ),
        tar::Note::OutOfRange { field, value } => (
            Code::ValueOutOfRange,
            format!("{what}: its {} is {value}, which Linux and the loaders cannot represent", field.name()),
        ),
        tar::Note::SparseMismatch { mapped, stored } => (
            Code::SparseMismatch,
            format!("{what}: a sparse file whose map refers to {mapped} bytes while {stored} are stored (Go fails reading it)"),
        ),
    }
}

/// Why reading stopped before the end.
fn stopped(a: &Archive, stop: &OuterStop) -> Finding {
    let member = |i: &Option<usize>| i.and_then(|i| a.members.get(i));
    let locate = |f: Finding, i: &Option<usize>| match i {
        Some(i) => {
            let mut f = at(a, f.code, *i, f.message);
            f.compressed_offset = None;
            f
        }
        None => f,
    };
    match stop {
        OuterStop::Truncated {
            at: end,
            part,
            member: i,
            declared,
            present,
        } => {
            let msg = match (part, member(i)) {
                (Part::Data, Some(m)) => format!(
                    "the archive ends at byte {end} inside {:?}, which declares {declared} bytes and has {present}: the file looks cut short at {end} bytes",
                    m.name_lossy()
                ),
                (Part::Padding, Some(m)) => format!(
                    "the archive ends at byte {end} in the padding after {:?}: the file looks cut short at {end} bytes",
                    m.name_lossy()
                ),
                (Part::Header, _) => format!("the archive ends at byte {end} inside a header ({present} of 512 bytes): the file looks cut short"),
                (Part::EndMarker, _) => format!("the end-of-archive marker is cut short at byte {end}: {present} of 512 bytes after the first zero block"),
                (Part::Extension, _) => format!("the archive ends at byte {end} inside an extension header ({present} of {declared} bytes): the file looks cut short"),
                (_, None) => format!("the archive ends at byte {end}"),
            };
            let f = Finding::new(Code::TruncatedArchive, msg);
            match (part, i) {
                (Part::Data | Part::Padding, Some(_)) => locate(f, i),
                _ => f.at_offset(end.saturating_sub(*present)),
            }
        }
        OuterStop::Header {
            at: offset,
            problem,
        } => Finding::new(
            Code::CorruptHeader,
            format!(
                "the outer tar stops parsing at byte {offset}: {}",
                crate::scan::layer::describe(problem)
            ),
        )
        .at_offset(*offset),
        OuterStop::Decode {
            failure,
            consumed,
            produced,
            member: i,
            message,
        } => {
            let (code, what) = match failure {
                DecodeFailure::Truncated => (
                    Code::TruncatedArchive,
                    format!("the {}-compressed input ends early, after {consumed} compressed bytes ({produced} bytes of tar): the file looks cut short", a.compression.as_str()),
                ),
                DecodeFailure::Corrupt => (
                    Code::OuterCorrupt,
                    format!("the {}-compressed input is corrupt near compressed byte {consumed} ({produced} bytes of tar decompressed): {message}", a.compression.as_str()),
                ),
            };
            let inside = member(i)
                .map(|m| format!(", inside {:?}", m.name_lossy()))
                .unwrap_or_default();
            let mut f = locate(Finding::new(code, format!("{what}{inside}")), i);
            if i.is_none() {
                f.offset = Some(*produced);
            }
            f.compressed_offset = Some(*consumed);
            f
        }
        OuterStop::Limit {
            limit,
            value,
            max,
            at: offset,
            member: i,
        } => {
            let f = Finding::new(
                Code::LimitExceeded,
                format!("reading stopped: {limit} is {value}, the limit is {max}; raise Limits::{limit} to read the rest"),
            );
            match i {
                Some(_) => locate(f, i),
                None => f.at_offset(*offset),
            }
        }
    }
}

/// R2 and R35 (outer): names that climb above the root or are absolute; member types docker
/// load cannot extract.
fn names(a: &Archive, out: &mut Vec<Finding>) {
    for (i, m) in a.members.iter().enumerate() {
        let (_, c) = EntryPath::clean_noting(&m.name);
        let name = m.name_lossy();
        if c.escapes {
            out.push(at(
                a,
                Code::UnsafePath,
                i,
                format!("member name {name:?} climbs above the archive root"),
            ));
        } else if c.absolute {
            out.push(at(
                a,
                Code::AbsolutePath,
                i,
                format!("member name {name:?} is absolute; loaders strip the leading '/'"),
            ));
        }
        if let MemberKind::Other { typeflag } = m.kind {
            if !matches!(typeflag, b'3' | b'4' | b'6') {
                out.push(at(
                    a,
                    Code::UnknownMemberType,
                    i,
                    format!(
                        "member {name:?} has typeflag {:?}, which docker load rejects (\"unhandled tar header type\")",
                        char::from(typeflag)
                    ),
                ));
            }
        }
    }
}

/// R3, R4: links that escape or loop, and duplicate member names.
fn links_and_duplicates(a: &Archive, out: &mut Vec<Finding>) {
    // Members before the current one, by path (a hardlink can only name an earlier member).
    let mut seen: HashMap<&[u8], usize> = HashMap::new();
    for (i, m) in a.members.iter().enumerate() {
        if m.path.is_root() {
            continue;
        }
        if let Some(&first) = seen.get(m.path.as_bytes()) {
            let f0 = a.members.get(first);
            let both_dirs =
                m.kind == MemberKind::Dir && f0.is_some_and(|f| f.kind == MemberKind::Dir);
            if !both_dirs {
                let same = f0.is_some_and(|f| {
                    f.digest.is_some() && f.digest == m.digest && f.kind == m.kind
                });
                let first_off = f0.and_then(|f| f.offset);
                let f = at(
                    a,
                    Code::DuplicateMember,
                    i,
                    format!(
                        "{:?} appears again (first at byte {}){}: docker load keeps this last copy, containers/image and go-containerregistry the first",
                        m.name_lossy(),
                        first_off.map_or_else(|| "?".to_string(), |o| o.to_string()),
                        if same { ", with the same content" } else { ", with different content, so loaders disagree on what the archive holds" }
                    ),
                );
                // Copies that differ are a parser differential: not trusted silently.
                out.push(if same {
                    f
                } else {
                    f.with_severity(Severity::Error)
                });
            }
        }
        seen.insert(m.path.as_bytes(), i);
        let (target, hard) = match &m.kind {
            MemberKind::Symlink { target } => (target, false),
            MemberKind::Hardlink { target } => (target, true),
            _ => continue,
        };
        let shown = String::from_utf8_lossy(target);
        let (resolved, escapes) = if hard {
            EntryPath::clean(target)
        } else {
            let dir = m.path.parent().unwrap_or_default();
            let joined = if target.first() == Some(&b'/') {
                target.clone()
            } else {
                crate::path::join(dir.as_bytes(), target)
            };
            let (p, lexical) = EntryPath::clean(&joined);
            // Through other links (`t -> .`, `x -> t/t/../../..`) a lexically tame target
            // can still climb out.
            (p, lexical || a.index.escapes(m.path.as_bytes()))
        };
        let kind = if hard { "hardlink" } else { "symlink" };
        if escapes {
            out.push(at(
                a,
                Code::LinkEscape,
                i,
                format!(
                    "{kind} {:?} -> {shown:?} points above the archive root",
                    m.name_lossy()
                ),
            ));
            continue;
        }
        if hard && !seen.contains_key(resolved.as_bytes()) {
            out.push(at(
                a,
                Code::LinkEscape,
                i,
                format!(
                    "hardlink {:?} -> {shown:?} names no earlier member",
                    m.name_lossy()
                ),
            ));
            continue;
        }
        if let Err(crate::path::WalkError::Loop(_)) = a.index.walk(m.path.as_bytes()) {
            out.push(at(
                a,
                Code::LinkLoop,
                i,
                format!(
                    "link {:?} -> {shown:?} does not resolve within {} hops (a loop)",
                    m.name_lossy(),
                    a.index.max_hops()
                ),
            ));
        }
    }
}

/// R5: the layout recognised (or none).
pub(super) fn layout(a: &Archive, out: &mut Vec<Finding>) {
    match a.layout {
        Layout::Unknown => {
            if a.outer.head == Some(Head::Tar) && a.outer.stop.is_none() || a.directory {
                out.push(Finding::new(Code::NotAnImage, not_an_image(a)));
            }
        }
        l => out.push(Finding::new(
            Code::Layout,
            format!(
                "{} layout, {} image(s){}",
                l.as_str(),
                a.images.len(),
                match a.producer {
                    Producer::Unknown => String::new(),
                    p => format!(", written by {}", p.as_str()),
                }
            ),
        )),
    }
}

/// What a tar that is no image holds instead.
fn not_an_image(a: &Archive) -> String {
    let files = a.members.iter().filter(|m| m.is_file()).count();
    let dirs = a
        .members
        .iter()
        .filter(|m| m.kind == MemberKind::Dir)
        .count();
    let mut sample: Vec<String> = a
        .members
        .iter()
        .filter(|m| !m.path.is_root())
        .take(3)
        .map(|m| format!("{:?}", m.path.to_string_lossy()))
        .collect();
    if a.members.len() > 3 {
        sample.push("…".into());
    }
    format!(
        "no image layout: no manifest.json, no index.json and no legacy layer directories; the archive holds {} members ({files} files, {dirs} directories){}",
        a.members.len(),
        if sample.is_empty() { String::new() } else { format!(": {}", sample.join(", ")) }
    )
}
