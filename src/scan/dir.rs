//! An extracted archive directory as input: the same members, without tar offsets.

use std::fs::File;
use std::path::Path;

use crate::compress::Compression;
use crate::scan::member::{ContentPolicy, Member, MemberKind, Presence};
use crate::scan::{OuterObs, ScanOptions, Walk};
use crate::{Error, Limits, Result};

#[cfg(unix)]
fn name_bytes(p: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    p.as_os_str().as_bytes().to_vec()
}

#[cfg(not(unix))]
fn name_bytes(p: &Path) -> Vec<u8> {
    p.to_string_lossy().replace('\\', "/").into_bytes()
}

/// A member name as a path of this system.
#[cfg(unix)]
pub(crate) fn os_path(name: &[u8]) -> std::borrow::Cow<'_, Path> {
    use std::os::unix::ffi::OsStrExt;
    std::borrow::Cow::Borrowed(Path::new(std::ffi::OsStr::from_bytes(name)))
}

/// A member name as a path of this system.
#[cfg(not(unix))]
pub(crate) fn os_path(name: &[u8]) -> std::borrow::Cow<'_, Path> {
    std::borrow::Cow::Owned(std::path::PathBuf::from(
        String::from_utf8_lossy(name).into_owned(),
    ))
}

pub(crate) fn walk_dir(root: &Path, limits: &Limits, options: ScanOptions<'_>) -> Result<Walk> {
    let mut members = Vec::new();
    let kept = std::sync::atomic::AtomicU64::new(0);
    let policy = ContentPolicy {
        limits,
        kept_total: &kept,
        options,
    };
    let walker = walkdir::WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
        .min_depth(1);
    let mut obs = OuterObs::default();
    for entry in walker {
        let entry = entry.map_err(|e| {
            let path = e
                .path()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| root.to_path_buf());
            Error::Open {
                path,
                source: e.into(),
            }
        })?;
        if members.len() as u64 >= limits.max_members {
            obs.stop = Some(crate::scan::OuterStop::Limit {
                limit: "max_members",
                value: (members.len() as u64).saturating_add(1),
                max: limits.max_members,
                at: 0,
                member: None,
            });
            break;
        }
        let rel = entry.path().strip_prefix(root).unwrap_or(entry.path());
        let open_err = |source| Error::Open {
            path: entry.path().to_path_buf(),
            source,
        };
        let meta = entry.path().symlink_metadata().map_err(open_err)?;
        let ft = meta.file_type();
        #[cfg(unix)]
        let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o7777;
        #[cfg(not(unix))]
        let mode = 0o644;
        let kind = if ft.is_dir() {
            MemberKind::Dir
        } else if ft.is_symlink() {
            let target = std::fs::read_link(entry.path()).map_err(open_err)?;
            MemberKind::Symlink {
                target: name_bytes(&target),
            }
        } else if ft.is_file() {
            MemberKind::File
        } else {
            MemberKind::Other { typeflag: b'6' }
        };
        let size = if ft.is_file() { meta.len() } else { 0 };
        let mut member = Member::new(name_bytes(rel), None, kind, size, mode);
        member.presence = Presence::Complete;
        if ft.is_file() {
            let file = File::open(entry.path()).map_err(open_err)?;
            let (content, err) = policy.process(std::io::BufReader::new(file), &member.path, size);
            if let Some(source) = err {
                return Err(Error::Read {
                    offset: content.count,
                    member: Some(member.name_lossy()),
                    source,
                });
            }
            member.set_content(content);
        }
        members.push(member);
    }
    Ok(Walk {
        compression: Compression::None,
        members,
        outer: obs,
        verified: options.verify,
        directory: true,
    })
}
