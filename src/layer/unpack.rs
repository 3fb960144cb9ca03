//! Writing an image's final filesystem into a directory, in one pass over the archive (a pipe
//! included), every write confined beneath that directory by the kernel.
//!
//! A saved archive need not list its layers in the image's order (`docker save` writes
//! `manifest.json` last), so the pass cannot know which layer a file belongs to, nor whether a
//! later layer deletes it, until it has read the documents. [`unpack`] therefore stores every
//! regular file's content, as the archive streams by, in a staging directory inside `DEST`
//! (one file per layer entry, named by a counter), then applies the image's layers in order
//! to the recorded metadata ([`Flattener`](crate::layer::Flattener), with
//! [`FlattenOptions::refuse_escapes`]) and builds the final tree from that model: each
//! surviving file is renamed from the staging directory into place (no copy), hardlinks are
//! linked, the rest is created, and the staging directory is removed. The disk space needed
//! is, for a while, that of every regular file of every layer in the archive.
//!
//! Confinement: `DEST` is opened once as a directory; every directory an entry goes in is
//! opened from it with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
//! RESOLVE_NO_MAGICLINKS)` (the model has no symlink among any node's parents, so none is
//! ever needed), or, where the kernel lacks `openat2` (before 5.6, or a seccomp filter that
//! refuses it), by a walk that opens one component at a time with `O_NOFOLLOW |
//! O_DIRECTORY` from `DEST`'s descriptor. Entries are then created by name inside that
//! descriptor (`mkdirat`, `openat(O_CREAT | O_EXCL | O_NOFOLLOW)`, `symlinkat`, `linkat`,
//! `mknodat`, `renameat2(RENAME_NOREPLACE)`), and their metadata is set through a descriptor
//! of the node itself (`fchown`, `fchmod`, `fsetxattr`, `futimens`) or with
//! `AT_SYMLINK_NOFOLLOW` (`fchownat`, `utimensat` on symlinks): nothing is changed through a
//! symlink, and no path is resolved again after it was checked.
//!
//! While it runs, `DEST` holds [`INCOMPLETE_MARKER`]; a failure while writing the tree leaves
//! it there (and removes the staging files), so a half-written tree is never mistaken for a
//! finished one. A failure before anything of the image is written (no such image, a damaged
//! layer) leaves `DEST` as it was: empty, or removed when [`unpack`] created it.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{
    AtFlags, FileType, Gid, Mode, OFlags, RenameFlags, ResolveFlags, Timespec, Timestamps, Uid,
    XattrFlags, CWD,
};

use crate::layer::changes::{Issue, IssueKind};
use crate::layer::content::{copy_exact, output_error};
use crate::layer::files::{pass, FileMeta};
use crate::layer::flatten::{FlattenOptions, Node};
use crate::layer::image::{flatten_image, FlattenError};
use crate::model::select::SelectError;
use crate::path::EntryPath;
use crate::read::{Input, Reader, Report};
use crate::scan::entry::EntryKind;

/// The file [`unpack`] keeps at the top of `DEST` until it has finished: present afterwards,
/// it means the directory is incomplete.
pub const INCOMPLETE_MARKER: &str = ".imgtar-unpack-incomplete";

/// The staging directory inside `DEST` while the archive is read.
const STAGING: &str = ".imgtar-unpack-staging";

/// How directories beneath `DEST` are opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Confine {
    /// `openat2` with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS`; the
    /// component walk where the kernel refuses `openat2`.
    #[default]
    Kernel,
    /// Always the component walk: `openat(O_NOFOLLOW | O_DIRECTORY)` one component at a time
    /// from `DEST`'s descriptor.
    Walk,
}

/// Options of [`unpack`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct UnpackOptions {
    /// The image (a tag or an ID prefix; `None`: the only one).
    pub image: Option<String>,
    /// How layers are applied (`refuse_escapes` is always set).
    pub flatten: FlattenOptions,
    /// How directories beneath `DEST` are opened.
    pub confine: Confine,
}

impl UnpackOptions {
    /// The only image of the archive, default rules.
    pub fn new() -> Self {
        UnpackOptions::default()
    }

    /// Chooses the image by tag or ID prefix.
    pub fn image(mut self, image: Option<&str>) -> Self {
        self.image = image.map(str::to_string);
        self
    }

    /// Sets how directories beneath `DEST` are opened.
    pub fn confine(mut self, confine: Confine) -> Self {
        self.confine = confine;
        self
    }

    /// Sets how layers are applied.
    pub fn flatten(mut self, options: FlattenOptions) -> Self {
        self.flatten = options;
        self
    }
}

/// What [`unpack`] wrote.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Unpacked {
    /// The report of the pass.
    pub report: Report,
    /// The image, as an index in [`Archive::images`](crate::Archive::images).
    pub image: usize,
    /// Directories created.
    pub dirs: u64,
    /// Regular files created (hardlinks not counted).
    pub files: u64,
    /// Extra names of regular files (hardlinks).
    pub hardlinks: u64,
    /// Symbolic links created.
    pub symlinks: u64,
    /// Device nodes and FIFOs created.
    pub specials: u64,
    /// Content bytes of the regular files created.
    pub bytes: u64,
    /// Entries not written, and why: links out of the root, link loops, a root that is not a
    /// directory (see [`IssueKind`]).
    pub refused: Vec<Issue>,
    /// What could not be applied as the archive says (ownership without root, device nodes
    /// without root, extended attributes the filesystem refuses), one sentence per kind.
    pub warnings: Vec<String>,
    /// Whether directories were opened with `openat2` (else by the component walk).
    pub openat2: bool,
}

/// Why [`unpack`] did not finish.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UnpackError {
    /// `DEST` cannot be used (not empty, not a directory, a symlink, cannot be created).
    #[error("{}: {reason}", path.display())]
    Dest {
        /// The destination.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Reading the archive failed.
    #[error(transparent)]
    Read(#[from] crate::Error),
    /// No single image matched.
    #[error(transparent)]
    Select(#[from] SelectError),
    /// The image's layers cannot be applied.
    #[error(transparent)]
    Flatten(#[from] FlattenError),
    /// The image is damaged where its filesystem is needed.
    #[error("the image cannot be unpacked: {0}")]
    Damaged(String),
    /// Writing beneath `DEST` failed; `DEST` keeps [`INCOMPLETE_MARKER`].
    #[error("writing {path} (the directory keeps {INCOMPLETE_MARKER})")]
    Write {
        /// The path beneath `DEST`.
        path: String,
        /// The failure.
        #[source]
        source: io::Error,
    },
}

/// Maps an I/O failure at `path` beneath `DEST`.
fn werr(path: &str) -> impl Fn(io::Error) -> UnpackError {
    let path = path.to_string();
    move |source: io::Error| UnpackError::Write {
        path: path.clone(),
        source,
    }
}

fn io_err(e: rustix::io::Errno) -> io::Error {
    io::Error::from(e)
}

/// Directories beneath the root, opened by the kernel or by the walk; the last one is kept.
struct Beneath {
    root: OwnedFd,
    kernel: bool,
    cache: Option<(EntryPath, OwnedFd)>,
}

/// A single path component that can be created by name in a directory.
fn component(name: &[u8]) -> io::Result<&[u8]> {
    if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{:?} is not a file name", String::from_utf8_lossy(name)),
        ));
    }
    Ok(name)
}

impl Beneath {
    /// Opens `rel` (a directory beneath the root) as a new descriptor.
    fn open(&mut self, rel: &EntryPath) -> io::Result<OwnedFd> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        // Below the directory kept open, only the rest of the path is resolved (entries come
        // in tree order): a deep tree costs one component per directory, not its depth.
        let (base, rest): (BorrowedFd<'_>, &[u8]) = match &self.cache {
            Some((p, fd)) if !p.is_root() && rel.starts_with(p) && rel != p => (
                fd.as_fd(),
                rel.as_bytes()
                    .get(p.as_bytes().len().saturating_add(1)..)
                    .unwrap_or_default(),
            ),
            _ => (self.root.as_fd(), rel.as_bytes()),
        };
        if rest.is_empty() {
            return rustix::fs::openat(base, c".", flags, Mode::empty()).map_err(io_err);
        }
        if self.kernel {
            let resolve =
                ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
            let mut tries = 0u8;
            loop {
                match rustix::fs::openat2(base, rest, flags, Mode::empty(), resolve) {
                    Ok(fd) => return Ok(fd),
                    // A rename elsewhere on the system raced the lookup: try again.
                    Err(rustix::io::Errno::AGAIN) if tries < 8 => tries = tries.saturating_add(1),
                    // No openat2 (before Linux 5.6) or a seccomp filter refusing it.
                    Err(rustix::io::Errno::NOSYS | rustix::io::Errno::PERM) => {
                        self.kernel = false;
                        break;
                    }
                    // Longer than PATH_MAX: one component at a time has no such limit.
                    Err(rustix::io::Errno::NAMETOOLONG) => break,
                    Err(e) => return Err(io_err(e)),
                }
            }
        }
        let mut cur: Option<OwnedFd> = None;
        for comp in rest.split(|&b| b == b'/') {
            let comp = component(comp)?;
            let dir = match &cur {
                Some(fd) => fd.as_fd(),
                None => base,
            };
            let next = rustix::fs::openat(dir, comp, flags, Mode::empty()).map_err(io_err)?;
            cur = Some(next);
        }
        match cur {
            Some(fd) => Ok(fd),
            None => rustix::fs::openat(base, c".", flags, Mode::empty()).map_err(io_err),
        }
    }

    /// The directory `rel`, kept open for the entries that follow in it.
    fn dir(&mut self, rel: &EntryPath) -> io::Result<BorrowedFd<'_>> {
        if rel.is_root() {
            return Ok(self.root.as_fd());
        }
        if self.cache.as_ref().is_none_or(|(p, _)| p != rel) {
            let fd = self.open(rel)?;
            self.cache = Some((rel.clone(), fd));
        }
        match &self.cache {
            Some((_, fd)) => Ok(fd.as_fd()),
            None => Err(io::Error::other("no directory")),
        }
    }
}

/// Opens (creating it when missing: the flag says so) an empty destination directory.
fn open_dest(dest: &Path) -> Result<(OwnedFd, bool), UnpackError> {
    let bad = |reason: String| UnpackError::Dest {
        path: dest.to_path_buf(),
        reason,
    };
    let mut created = false;
    match std::fs::symlink_metadata(dest) {
        Ok(m) if m.file_type().is_symlink() => {
            return Err(bad("is a symbolic link; name the directory itself".into()))
        }
        Ok(m) if !m.is_dir() => return Err(bad("exists and is not a directory".into())),
        Ok(_) => {
            let mut entries = std::fs::read_dir(dest).map_err(|e| bad(e.to_string()))?;
            if entries.next().is_some() {
                return Err(bad(
                    "is not empty; unpack writes only into a new or empty directory".into(),
                ));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            std::fs::create_dir(dest).map_err(|e| bad(format!("cannot be created: {e}")))?;
            created = true;
        }
        Err(e) => return Err(bad(e.to_string())),
    }
    rustix::fs::openat(
        CWD,
        dest,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map(|fd| (fd, created))
    .map_err(|e| bad(format!("cannot be opened: {e}")))
}

fn create_file(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<File> {
    let fd = rustix::fs::openat(
        dir,
        component(name)?,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .map_err(io_err)?;
    Ok(File::from(fd))
}

/// Writes the final filesystem of an image of `input` into `dest` (see the module docs).
///
/// `dest` must not exist (its parent must) or be an empty directory. Entries whose path,
/// hardlink target or whiteout goes through a symlink that leaves the root, whose symlinks
/// loop, or that make the root something else than a directory, are not written: they are in
/// [`Unpacked::refused`]. Not running as root, ownership is not applied and device nodes are
/// not created (each said once in [`Unpacked::warnings`]).
pub fn unpack(
    reader: &Reader,
    input: &Input,
    dest: &Path,
    options: &UnpackOptions,
) -> Result<Unpacked, UnpackError> {
    let (root, created) = open_dest(dest)?;
    {
        let mut marker = create_file(root.as_fd(), INCOMPLETE_MARKER.as_bytes())
            .map_err(werr(INCOMPLETE_MARKER))?;
        marker
            .write_all(b"imgtar unpack did not finish: this directory is incomplete\n")
            .map_err(werr(INCOMPLETE_MARKER))?;
    }
    rustix::fs::mkdirat(&root, STAGING, Mode::from_raw_mode(0o700)).map_err(|e| {
        UnpackError::Write {
            path: STAGING.into(),
            source: io_err(e),
        }
    })?;
    let stage = rustix::fs::openat(
        &root,
        STAGING,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| UnpackError::Write {
        path: STAGING.into(),
        source: io_err(e),
    })?;
    let mut staged: u64 = 0;
    let result = read_and_build(reader, input, options, &root, &stage, &mut staged);
    // The staging directory goes in every case: what is left in it is content no final path
    // took (deleted or replaced by a later layer, or of another image).
    for n in 0..staged {
        let _ = rustix::fs::unlinkat(&stage, n.to_string(), AtFlags::empty());
    }
    drop(stage);
    let removed = rustix::fs::unlinkat(&root, STAGING, AtFlags::REMOVEDIR);
    let done = match result {
        Ok(d) => d,
        // Nothing of the image was written yet (the archive did not give it): DEST is left as
        // it was, empty, or removed when this call created it.
        Err(e) if !matches!(e, UnpackError::Write { .. }) && removed.is_ok() => {
            if rustix::fs::unlinkat(&root, INCOMPLETE_MARKER, AtFlags::empty()).is_ok() && created {
                drop(root);
                let _ = std::fs::remove_dir(dest);
            }
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    removed.map_err(|e| UnpackError::Write {
        path: STAGING.into(),
        source: io_err(e),
    })?;
    rustix::fs::unlinkat(&root, INCOMPLETE_MARKER, AtFlags::empty()).map_err(|e| {
        UnpackError::Write {
            path: INCOMPLETE_MARKER.into(),
            source: io_err(e),
        }
    })?;
    Ok(done)
}

fn read_and_build(
    reader: &Reader,
    input: &Input,
    options: &UnpackOptions,
    root: &OwnedFd,
    stage: &OwnedFd,
    staged: &mut u64,
) -> Result<Unpacked, UnpackError> {
    let reader = reader.clone().record_entries(true);
    let mut visit = |meta: &FileMeta<'_>, r: &mut dyn Read| -> io::Result<u64> {
        let n = *staged;
        *staged = staged.saturating_add(1);
        let mut f = create_file(stage.as_fd(), n.to_string().as_bytes())
            .map_err(|e| io::Error::other(crate::layer::content::WriteFailed(e)))?;
        copy_exact(r, meta.entry.size, &mut f)?;
        Ok(n)
    };
    let (report, results) =
        pass(&reader, input, None, &mut visit).map_err(|e| match output_error(e) {
            crate::layer::content::ContentError::Write(source) => UnpackError::Write {
                path: STAGING.into(),
                source,
            },
            crate::layer::content::ContentError::Read(e) => UnpackError::Read(e),
            other => UnpackError::Damaged(other.to_string()),
        })?;
    let image = report.archive.find_index(options.image.as_deref())?;
    let img = report
        .archive
        .images
        .get(image)
        .ok_or_else(|| SelectError::NotFound(String::new()))?;
    report
        .archive
        .image_intact(img)
        .map_err(UnpackError::Damaged)?;
    let flatten = FlattenOptions {
        refuse_escapes: true,
        ..options.flatten
    };
    let flat = flatten_image(&report.archive, img, flatten)?;
    let members: Vec<Option<EntryPath>> = img.layers.iter().map(|l| l.member.clone()).collect();
    let refused: Vec<Issue> = flat
        .issues()
        .filter(|i| {
            matches!(
                i.kind,
                IssueKind::LinkEscape | IssueKind::SymlinkLoop | IssueKind::RootNotDirectory
            )
        })
        .cloned()
        .collect();
    let mut b = Beneath {
        root: root.try_clone().map_err(|e| UnpackError::Write {
            path: ".".into(),
            source: e,
        })?,
        kernel: options.confine == Confine::Kernel,
        cache: None,
    };
    let mut out = Tally::default();
    let staged_of = |node: &Node| -> Option<u64> {
        let c = node.content?;
        let member = members.get(c.layer)?.as_ref()?;
        results.get(&(member.clone(), c.offset)).copied()
    };
    let root_user = rustix::process::geteuid().is_root();
    let mut created: Vec<(&EntryPath, &Node)> = Vec::new();
    let mut devices: Vec<String> = Vec::new();
    let mut reserved: Vec<String> = Vec::new();
    let mut first_of_inode: HashMap<u64, &EntryPath> = HashMap::new();
    let mut placed: HashMap<u64, &EntryPath> = HashMap::new();
    for (path, node) in flat.fs.iter() {
        let parent = path.parent().unwrap_or_default();
        let name = path.file_name();
        if parent.is_root() && (name == STAGING.as_bytes() || name == INCOMPLETE_MARKER.as_bytes())
        {
            reserved.push(path.to_string());
            continue;
        }
        let w = werr(&path.to_string_lossy());
        match &node.meta.kind {
            EntryKind::Dir => {
                let d = b.dir(&parent).map_err(&w)?;
                rustix::fs::mkdirat(d, component(name).map_err(&w)?, Mode::from_raw_mode(0o700))
                    .map_err(|e| w(io_err(e)))?;
                out.dirs = out.dirs.saturating_add(1);
            }
            EntryKind::File => {
                if let Some(first) = node.inode.and_then(|i| first_of_inode.get(&i).copied()) {
                    let from_dir = b.open(&first.parent().unwrap_or_default()).map_err(&w)?;
                    let d = b.dir(&parent).map_err(&w)?;
                    rustix::fs::linkat(
                        &from_dir,
                        component(first.file_name()).map_err(&w)?,
                        d,
                        component(name).map_err(&w)?,
                        AtFlags::empty(),
                    )
                    .map_err(|e| w(io_err(e)))?;
                    out.hardlinks = out.hardlinks.saturating_add(1);
                    created.push((path, node));
                    continue;
                }
                if let Some(i) = node.inode {
                    first_of_inode.insert(i, path);
                }
                let Some(id) = staged_of(node) else {
                    return Err(w(io::Error::other(
                        "its content was not met in the archive",
                    )));
                };
                match placed.get(&id).copied() {
                    // One layer entry backing two files (one blob used by two layers, or an
                    // aufs hardlink copy): a copy of the first.
                    Some(first) => {
                        let from_dir = b.open(&first.parent().unwrap_or_default()).map_err(&w)?;
                        let src = rustix::fs::openat(
                            &from_dir,
                            component(first.file_name()).map_err(&w)?,
                            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                            Mode::empty(),
                        )
                        .map_err(|e| w(io_err(e)))?;
                        let d = b.dir(&parent).map_err(&w)?;
                        let mut dst = create_file(d, name).map_err(&w)?;
                        io::copy(&mut File::from(src), &mut dst).map_err(&w)?;
                    }
                    None => {
                        let d = b.dir(&parent).map_err(&w)?;
                        rustix::fs::renameat_with(
                            stage,
                            id.to_string(),
                            d,
                            component(name).map_err(&w)?,
                            RenameFlags::NOREPLACE,
                        )
                        .map_err(|e| w(io_err(e)))?;
                        placed.insert(id, path);
                    }
                }
                out.files = out.files.saturating_add(1);
                out.bytes = out.bytes.saturating_add(node.meta.size);
            }
            EntryKind::Symlink { target } => {
                let d = b.dir(&parent).map_err(&w)?;
                rustix::fs::symlinkat(target.as_slice(), d, component(name).map_err(&w)?)
                    .map_err(|e| w(io_err(e)))?;
                out.symlinks = out.symlinks.saturating_add(1);
            }
            EntryKind::Char { major, minor } | EntryKind::Block { major, minor } => {
                if !root_user {
                    devices.push(path.to_string());
                    continue;
                }
                let ft = if matches!(node.meta.kind, EntryKind::Char { .. }) {
                    FileType::CharacterDevice
                } else {
                    FileType::BlockDevice
                };
                let d = b.dir(&parent).map_err(&w)?;
                rustix::fs::mknodat(
                    d,
                    component(name).map_err(&w)?,
                    ft,
                    Mode::from_raw_mode(0o600),
                    rustix::fs::makedev(*major, *minor),
                )
                .map_err(|e| w(io_err(e)))?;
                out.specials = out.specials.saturating_add(1);
            }
            EntryKind::Fifo => {
                let d = b.dir(&parent).map_err(&w)?;
                rustix::fs::mknodat(
                    d,
                    component(name).map_err(&w)?,
                    FileType::Fifo,
                    Mode::from_raw_mode(0o600),
                    0,
                )
                .map_err(|e| w(io_err(e)))?;
                out.specials = out.specials.saturating_add(1);
            }
            // The model holds neither (hardlinks are files, other types are skipped).
            EntryKind::Hardlink { .. } | EntryKind::Other { .. } => continue,
        }
        created.push((path, node));
    }
    // Metadata, children before their directory (a directory's mode may forbid writing in
    // it, and creating in it changes its mtime).
    let mut meta = MetaStats::default();
    // One inode's metadata once: its other names would reopen a file whose final mode may
    // no longer let an unprivileged user read it.
    let mut inodes_done: std::collections::HashSet<u64> = std::collections::HashSet::new();
    for (path, node) in created.iter().rev() {
        if let Some(i) = node.inode {
            if !inodes_done.insert(i) {
                continue;
            }
        }
        set_meta(&mut b, path, node, root_user, &mut meta)
            .map_err(werr(&path.to_string_lossy()))?;
    }
    out.openat2 = b.kernel;
    if !root_user && meta.foreign_owner > 0 {
        out.warnings.push(format!(
            "not running as root: the ownership of {} entries (numeric uid/gid of the archive) was not applied; they belong to the user running imgtar",
            meta.foreign_owner
        ));
    }
    if meta.owner_out_of_range > 0 {
        out.warnings.push(format!(
            "{} entries have a uid or gid beyond 2^32 and keep the creator's",
            meta.owner_out_of_range
        ));
    }
    if !devices.is_empty() {
        out.warnings.push(format!(
            "not running as root: {} device nodes were not created: {}",
            devices.len(),
            list(&devices)
        ));
    }
    if let Some(first) = &meta.xattr_failed {
        out.warnings.push(format!(
            "{} extended attributes were not taken by the filesystem (first: {first})",
            meta.xattr_failures
        ));
    }
    if meta.special_mode_failed > 0 {
        out.warnings.push(format!(
            "the permission bits of {} device nodes or FIFOs could not be set (no /proc)",
            meta.special_mode_failed
        ));
    }
    if !reserved.is_empty() {
        out.warnings.push(format!(
            "{} not written: the name is the one unpack uses for its own bookkeeping",
            list(&reserved)
        ));
    }
    drop(created);
    Ok(Unpacked {
        report,
        image,
        dirs: out.dirs,
        files: out.files,
        hardlinks: out.hardlinks,
        symlinks: out.symlinks,
        specials: out.specials,
        bytes: out.bytes,
        refused,
        warnings: out.warnings,
        openat2: out.openat2,
    })
}

/// What the build wrote so far.
#[derive(Default)]
struct Tally {
    dirs: u64,
    files: u64,
    hardlinks: u64,
    symlinks: u64,
    specials: u64,
    bytes: u64,
    warnings: Vec<String>,
    openat2: bool,
}

fn list(paths: &[String]) -> String {
    let mut s: Vec<&str> = paths.iter().take(5).map(String::as_str).collect();
    let more = paths.len().saturating_sub(5);
    let tail = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    s.dedup();
    format!("{}{tail}", s.join(", "))
}

#[derive(Default)]
struct MetaStats {
    foreign_owner: u64,
    owner_out_of_range: u64,
    xattr_failures: u64,
    xattr_failed: Option<String>,
    special_mode_failed: u64,
}

/// Ownership, extended attributes, permission bits and times of one created node, through a
/// descriptor of the node or with `AT_SYMLINK_NOFOLLOW`.
fn set_meta(
    b: &mut Beneath,
    path: &EntryPath,
    node: &Node,
    root_user: bool,
    stats: &mut MetaStats,
) -> io::Result<()> {
    let parent = path.parent().unwrap_or_default();
    let name = component(path.file_name())?;
    let m = &node.meta;
    let owner = match (u32::try_from(m.uid), u32::try_from(m.gid)) {
        (Ok(u), Ok(g)) => Some((Uid::from_raw(u), Gid::from_raw(g))),
        _ => {
            stats.owner_out_of_range = stats.owner_out_of_range.saturating_add(1);
            None
        }
    };
    let owner = if root_user {
        owner
    } else {
        if owner.is_some_and(|(u, g)| {
            u != rustix::process::geteuid() || g != rustix::process::getegid()
        }) {
            stats.foreign_owner = stats.foreign_owner.saturating_add(1);
        }
        None
    };
    let t = Timespec {
        tv_sec: i64::try_from(m.mtime).unwrap_or(i64::MAX),
        tv_nsec: 0,
    };
    let times = Timestamps {
        last_access: t,
        last_modification: t,
    };
    let mode = Mode::from_raw_mode(m.mode & 0o7777);
    let d = b.dir(&parent)?;
    match &m.kind {
        EntryKind::Symlink { .. } => {
            if let Some((u, g)) = owner {
                rustix::fs::chownat(d, name, Some(u), Some(g), AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(io_err)?;
            }
            rustix::fs::utimensat(d, name, &times, AtFlags::SYMLINK_NOFOLLOW).map_err(io_err)?;
        }
        EntryKind::File | EntryKind::Dir => {
            let mut flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
            if m.kind.is_dir() {
                flags |= OFlags::DIRECTORY;
            }
            let fd = rustix::fs::openat(d, name, flags, Mode::empty()).map_err(io_err)?;
            if let Some((u, g)) = owner {
                rustix::fs::fchown(&fd, Some(u), Some(g)).map_err(io_err)?;
            }
            for x in &m.xattrs {
                if let Err(e) =
                    rustix::fs::fsetxattr(&fd, x.name.as_slice(), &x.value, XattrFlags::empty())
                {
                    stats.xattr_failures = stats.xattr_failures.saturating_add(1);
                    if stats.xattr_failed.is_none() {
                        stats.xattr_failed = Some(format!(
                            "{} on {path}: {e}",
                            String::from_utf8_lossy(&x.name)
                        ));
                    }
                }
            }
            rustix::fs::fchmod(&fd, mode).map_err(io_err)?;
            rustix::fs::futimens(&fd, &times).map_err(io_err)?;
        }
        EntryKind::Char { .. } | EntryKind::Block { .. } | EntryKind::Fifo => {
            // An O_PATH descriptor: opening a device or a FIFO for reading would run its
            // driver or block.
            let fd = rustix::fs::openat(
                d,
                name,
                OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(io_err)?;
            if let Some((u, g)) = owner {
                rustix::fs::chownat(&fd, c"", Some(u), Some(g), AtFlags::EMPTY_PATH)
                    .map_err(io_err)?;
            }
            // fchmod refuses O_PATH descriptors; the descriptor's /proc entry names exactly
            // this node.
            let proc = format!("/proc/self/fd/{}", fd.as_raw_fd());
            if rustix::fs::chmodat(CWD, proc.as_str(), mode, AtFlags::empty()).is_err() {
                stats.special_mode_failed = stats.special_mode_failed.saturating_add(1);
            }
            let d = b.dir(&parent)?;
            rustix::fs::utimensat(d, name, &times, AtFlags::SYMLINK_NOFOLLOW).map_err(io_err)?;
        }
        EntryKind::Hardlink { .. } | EntryKind::Other { .. } => {}
    }
    Ok(())
}
