//! An extracted archive directory as input: the same model, without tar offsets.

use std::fs::File;
use std::path::Path;

use crate::archive::content::ContentPolicy;
use crate::archive::member::{Member, MemberKind};
use crate::archive::walk::Walk;
use crate::compress::Compression;
use crate::{Error, Limits, Result};

pub(crate) fn walk_dir(
    root: &Path,
    limits: &Limits,
    verify: bool,
    scan: crate::layer::ScanOptions,
) -> Result<Walk> {
    let mut members = Vec::new();
    let kept = std::sync::atomic::AtomicU64::new(0);
    let policy = ContentPolicy {
        limits,
        kept_total: &kept,
        verify,
        scan,
    };
    let walker = walkdir::WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
        .min_depth(1);
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
            return Err(Error::Limit {
                limit: "max_members",
                value: (members.len() as u64).saturating_add(1),
                max: limits.max_members,
            });
        }
        let rel = entry
            .path()
            .strip_prefix(root)
            .unwrap_or(entry.path())
            .to_string_lossy()
            .replace('\\', "/");
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
        let mut member = Member {
            path: crate::path::clean(&rel).path,
            name: rel.clone(),
            offset: None,
            kind: MemberKind::File,
            size: 0,
            mode,
            digest: None,
            layer: None,
            data: None,
            too_large: false,
        };
        if ft.is_dir() {
            member.kind = MemberKind::Dir;
        } else if ft.is_symlink() {
            let target = std::fs::read_link(entry.path()).map_err(open_err)?;
            member.kind = MemberKind::Symlink {
                target: target.to_string_lossy().replace('\\', "/"),
            };
        } else if ft.is_file() {
            member.size = meta.len();
            let file = File::open(entry.path()).map_err(open_err)?;
            let content = policy
                .process(std::io::BufReader::new(file), &member.path, member.size)
                .map_err(open_err)?;
            member.set_content(content);
        } else {
            member.kind = MemberKind::Other { typeflag: b'6' };
        }
        members.push(member);
    }
    Ok(Walk {
        compression: Compression::None,
        members,
        tar_bytes: 0,
        findings: Vec::new(),
        verified: verify,
    })
}
