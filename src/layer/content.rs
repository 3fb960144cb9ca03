//! Reading file contents of a flattened image: a second pass over the archive.
//!
//! The first pass (the [`Reader`](crate::Reader) with recorded entries) keeps only metadata.
//! Content is read again from the archive, so the input must be readable twice: a file or an
//! extracted directory, not a pipe. Each layer blob read in the second pass is hashed again
//! and checked against the digest of the first pass, so what is written is what was validated;
//! every wanted entry must be found at its recorded offset.
//!
//! [`squash`] writes the flattened filesystem as one tar; [`cat`] writes one file's content.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::compress::{self, Compression};
use crate::digest::HashingReader;
use crate::layer::entry::{Entry, EntryKind, EntryPath};
use crate::layer::flatten::{ContentRef, FlatFs, Node, ResolveError};
use crate::model::{Archive, Image};

/// Where the second pass reads the archive from.
pub enum Source<'a> {
    /// The archive's bytes again from the first (a file opened anew), compressed or not.
    Stream(Box<dyn Read + 'a>),
    /// An extracted archive directory.
    Dir(&'a Path),
}

/// Why content could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContentError {
    /// Reading the archive failed.
    #[error("reading {what}: {source}")]
    Read {
        /// What was being read (member, entry and offset).
        what: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Writing the output failed.
    #[error("writing the output: {0}")]
    Write(#[source] io::Error),
    /// The archive differs from what the first pass read.
    #[error("the archive changed since it was read: {0}")]
    Changed(String),
    /// A layer the content comes from is not in the archive.
    #[error("layer {layer} has no blob in the archive")]
    MissingLayer {
        /// Index of the layer.
        layer: usize,
    },
    /// The path does not name a file.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// The path names something without content.
    #[error("{path} is a {what}, not a regular file")]
    NotAFile {
        /// The path (after following symlinks).
        path: EntryPath,
        /// Its type.
        what: &'static str,
    },
}

fn kind_name(kind: &EntryKind) -> &'static str {
    match kind {
        EntryKind::File => "regular file",
        EntryKind::Dir => "directory",
        EntryKind::Symlink { .. } => "symbolic link",
        EntryKind::Hardlink { .. } => "hard link",
        EntryKind::Char { .. } => "character device",
        EntryKind::Block { .. } => "block device",
        EntryKind::Fifo => "FIFO",
        EntryKind::Other { .. } => "special file",
    }
}

/// A layer blob to read, and the entries wanted from it by header offset.
struct Wanted {
    /// Cleaned member path, offset of its header (None in a directory), name as stored.
    path: String,
    offset: Option<u64>,
    name: String,
    digest: Option<crate::Digest>,
    /// Entry offset → the content references (one per layer backed by this blob).
    entries: BTreeMap<u64, Vec<ContentRef>>,
}

/// What receives each wanted entry's content, with the references it serves.
type Visitor<'f> = dyn FnMut(&[ContentRef], &mut dyn Read) -> Result<(), ContentError> + 'f;

/// Groups content references by the member that holds them.
fn plan(
    archive: &Archive,
    image: &Image,
    refs: impl Iterator<Item = ContentRef>,
) -> Result<Vec<Wanted>, ContentError> {
    let mut by_member: BTreeMap<(String, Option<u64>), Wanted> = BTreeMap::new();
    for r in refs {
        let member = image
            .layers
            .get(r.layer)
            .and_then(|l| l.member.as_deref())
            .and_then(|m| archive.member(m))
            .ok_or(ContentError::MissingLayer { layer: r.layer })?;
        let w = by_member
            .entry((member.path.clone(), member.offset))
            .or_insert_with(|| Wanted {
                path: member.path.clone(),
                offset: member.offset,
                name: member.name.clone(),
                digest: member.digest.clone(),
                entries: BTreeMap::new(),
            });
        let v = w.entries.entry(r.offset).or_default();
        if !v.contains(&r) {
            v.push(r);
        }
    }
    Ok(by_member.into_values().collect())
}

/// Calls `f` with the content of every wanted entry (and the references it serves), member by
/// member in archive order, entries in layer order.
fn visit(source: Source<'_>, wanted: Vec<Wanted>, f: &mut Visitor<'_>) -> Result<(), ContentError> {
    match source {
        Source::Dir(root) => {
            for w in &wanted {
                let file_path: PathBuf = root.join(&w.name);
                let file = std::fs::File::open(&file_path).map_err(|e| ContentError::Read {
                    what: file_path.display().to_string(),
                    source: e,
                })?;
                read_member(io::BufReader::new(file), w, f)?;
            }
            Ok(())
        }
        Source::Stream(input) => {
            let mut input = input;
            let read_err = |what: &str| {
                let what = what.to_string();
                move |source| ContentError::Read { what, source }
            };
            let head = compress::read_head(&mut input, compress::SNIFF_LEN)
                .map_err(read_err("the archive"))?;
            let compression = Compression::sniff(&head);
            let outer = io::Cursor::new(head).chain(input);
            let decoded = compress::decoder(compression, outer);
            let decoded = match decoded {
                Ok(d) => d,
                Err(e) => return Err(read_err("the archive")(e)),
            };
            visit_tar(decoded, wanted, f)
        }
    }
}

fn visit_tar(
    decoded: Box<dyn Read + '_>,
    wanted: Vec<Wanted>,
    f: &mut Visitor<'_>,
) -> Result<(), ContentError> {
    let mut left: HashMap<(String, Option<u64>), Wanted> = wanted
        .into_iter()
        .map(|w| ((w.path.clone(), w.offset), w))
        .collect();
    let mut archive = tar::Archive::new(decoded);
    let entries = archive.entries().map_err(|e| ContentError::Read {
        what: "the archive".into(),
        source: e,
    })?;
    let mut next = 0u64;
    for entry in entries {
        if left.is_empty() {
            break;
        }
        let entry = entry.map_err(|e| ContentError::Read {
            what: format!("the archive header at byte {next}"),
            source: e,
        })?;
        let offset = entry.raw_header_position();
        next = entry
            .raw_file_position()
            .saturating_add(entry.size().div_ceil(512).saturating_mul(512));
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let key = (crate::path::clean(&name).path, Some(offset));
        if let Some(w) = left.remove(&key) {
            read_member(entry, &w, f)?;
        }
    }
    if let Some(w) = left.values().next() {
        return Err(ContentError::Changed(format!(
            "member {:?} is no longer at byte {}",
            w.name,
            w.offset.unwrap_or(0)
        )));
    }
    Ok(())
}

/// Decompresses one layer blob, hands the wanted entries to `f`, and checks the blob digest.
fn read_member<R: Read>(blob: R, w: &Wanted, f: &mut Visitor<'_>) -> Result<(), ContentError> {
    let at = |offset: u64| format!("layer {:?} at byte {offset} of its tar", w.name);
    let read_err = |what: String| move |source| ContentError::Read { what, source };
    let mut blob = HashingReader::new(blob);
    let head = compress::read_head(&mut blob, compress::SNIFF_LEN)
        .map_err(read_err(format!("layer {:?}", w.name)))?;
    let mut found = 0usize;
    {
        let compression = Compression::sniff(&head);
        let raw = io::Cursor::new(head).chain(&mut blob);
        let decoded = compress::decoder(compression, raw);
        let decoded = match decoded {
            Ok(d) => d,
            Err(e) => return Err(read_err(format!("layer {:?}", w.name))(e)),
        };
        let mut tar = tar::Archive::new(decoded);
        let entries = tar.entries().map_err(read_err(at(0)))?;
        let mut next = 0u64;
        for entry in entries {
            if found == w.entries.len() {
                break;
            }
            let mut entry = entry.map_err(read_err(at(next)))?;
            let offset = entry.raw_header_position();
            next = entry
                .raw_file_position()
                .saturating_add(entry.size().div_ceil(512).saturating_mul(512));
            if let Some(refs) = w.entries.get(&offset) {
                found = found.saturating_add(1);
                f(refs, &mut entry)?;
            }
        }
    }
    blob.drain()
        .map_err(read_err(format!("layer {:?}", w.name)))?;
    if found != w.entries.len() {
        return Err(ContentError::Changed(format!(
            "layer {:?} lacks entries recorded in the first pass",
            w.name
        )));
    }
    let (digest, _) = blob.finish();
    if w.digest.as_ref().is_some_and(|d| *d != digest) {
        return Err(ContentError::Changed(format!(
            "layer {:?} now has digest {digest}",
            w.name
        )));
    }
    Ok(())
}

/// Copies exactly `size` bytes of `r` to `out`; fewer is an error (a truncated entry).
fn copy_exact(r: &mut dyn Read, size: u64, out: &mut dyn Write) -> Result<(), ContentError> {
    let mut body = ExactBody::new(r, size);
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(ContentError::Read {
                    what: "an entry's content".into(),
                    source: e,
                })
            }
        };
        out.write_all(buf.get(..n).unwrap_or_default())
            .map_err(ContentError::Write)?;
    }
}

/// Writes one file's final content: `path` is resolved in the flattened filesystem, following
/// symlinks inside the root. Returns the number of bytes written.
pub fn cat(
    source: Source<'_>,
    archive: &Archive,
    image: &Image,
    fs: &FlatFs,
    path: &EntryPath,
    out: &mut dyn Write,
) -> Result<u64, ContentError> {
    let (real, node) = fs.resolve(path)?;
    let Some(content) = node.content.filter(|_| node.meta.kind == EntryKind::File) else {
        return Err(ContentError::NotAFile {
            path: real,
            what: kind_name(&node.meta.kind),
        });
    };
    let size = node.meta.size;
    let wanted = plan(archive, image, std::iter::once(content))?;
    visit(source, wanted, &mut |_, r| copy_exact(r, size, out))?;
    Ok(size)
}

/// What [`squash`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SquashSummary {
    /// Entries written (hardlinks included).
    pub entries: u64,
    /// Regular files written with content.
    pub files: u64,
    /// Hardlinks written.
    pub hardlinks: u64,
    /// Content bytes written.
    pub bytes: u64,
}

#[cfg(unix)]
fn os_path(bytes: &[u8]) -> std::borrow::Cow<'_, Path> {
    use std::os::unix::ffi::OsStrExt;
    std::borrow::Cow::Borrowed(Path::new(std::ffi::OsStr::from_bytes(bytes)))
}

#[cfg(not(unix))]
fn os_path(bytes: &[u8]) -> std::borrow::Cow<'_, Path> {
    std::borrow::Cow::Owned(PathBuf::from(String::from_utf8_lossy(bytes).into_owned()))
}

/// A header carrying an entry's metadata (path and link are set when appending).
fn header_for(meta: &Entry, kind: tar::EntryType, size: u64) -> io::Result<tar::Header> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(meta.mode);
    h.set_uid(meta.uid);
    h.set_gid(meta.gid);
    h.set_mtime(meta.mtime);
    h.set_size(size);
    if let EntryKind::Char { major, minor } | EntryKind::Block { major, minor } = meta.kind {
        h.set_device_major(major)?;
        h.set_device_minor(minor)?;
    }
    Ok(h)
}

fn xattrs<W: Write>(tar: &mut tar::Builder<W>, meta: &Entry) -> io::Result<()> {
    if meta.xattrs.is_empty() {
        return Ok(());
    }
    let keys: Vec<String> = meta
        .xattrs
        .iter()
        .map(|x| format!("SCHILY.xattr.{}", String::from_utf8_lossy(&x.name)))
        .collect();
    tar.append_pax_extensions(
        keys.iter()
            .map(String::as_str)
            .zip(meta.xattrs.iter().map(|x| x.value.as_slice())),
    )
}

/// Writes the flattened filesystem as one tar to `out`.
///
/// Order: every directory (tree order), then regular files in the order the archive holds
/// their content, then symlinks, devices and FIFOs, then hardlinks (each names the first path,
/// in tree order, of the files it shares content with). Every entry carries its mode, owner,
/// mtime and xattrs; implicit directories are 0755 root-owned with mtime 0.
pub fn squash<W: Write>(
    source: Source<'_>,
    archive: &Archive,
    image: &Image,
    fs: &FlatFs,
    out: W,
) -> Result<SquashSummary, ContentError> {
    let mut tar = tar::Builder::new(out);
    let mut sum = SquashSummary::default();
    let werr = ContentError::Write;
    // Files by inode: the first path (tree order) carries the content.
    let mut primary: BTreeMap<u64, &EntryPath> = BTreeMap::new();
    let mut by_content: BTreeMap<ContentRef, Vec<(&EntryPath, &Node)>> = BTreeMap::new();
    for (path, node) in fs.iter() {
        if node.meta.kind.is_dir() {
            let h = header_for(&node.meta, tar::EntryType::Directory, 0).map_err(werr)?;
            xattrs(&mut tar, &node.meta).map_err(werr)?;
            tar.append_data(&mut h.clone(), os_path(path.as_bytes()), io::empty())
                .map_err(werr)?;
            sum.entries = sum.entries.saturating_add(1);
        }
        if let (Some(inode), Some(content)) = (node.inode, node.content) {
            if let std::collections::btree_map::Entry::Vacant(v) = primary.entry(inode) {
                v.insert(path);
                by_content.entry(content).or_default().push((path, node));
            }
        }
    }
    // The first path written for a content reference: more inodes with the same content
    // (layers backed by one blob) become hardlinks to it.
    let mut written: HashMap<ContentRef, &EntryPath> = HashMap::new();
    let mut extra_links: Vec<(&EntryPath, &Node, &EntryPath)> = Vec::new();
    let wanted = plan(archive, image, by_content.keys().copied())?;
    visit(source, wanted, &mut |refs, r| {
        let mut first: Option<&EntryPath> = None;
        for content in refs {
            for &(path, node) in by_content.get(content).into_iter().flatten() {
                if let Some(first) = first.or_else(|| written.get(content).copied()) {
                    extra_links.push((path, node, first));
                    continue;
                }
                let mut h = header_for(&node.meta, tar::EntryType::Regular, node.meta.size)
                    .map_err(werr)?;
                xattrs(&mut tar, &node.meta).map_err(werr)?;
                let mut body = ExactBody::new(r, node.meta.size);
                tar.append_data(&mut h, os_path(path.as_bytes()), &mut body)
                    .map_err(werr)?;
                body.check()?;
                sum.files = sum.files.saturating_add(1);
                sum.entries = sum.entries.saturating_add(1);
                sum.bytes = sum.bytes.saturating_add(node.meta.size);
                first = Some(path);
                written.insert(*content, path);
            }
        }
        Ok(())
    })?;
    for (path, node) in fs.iter() {
        let kind = match &node.meta.kind {
            EntryKind::Symlink { .. } => tar::EntryType::Symlink,
            EntryKind::Char { .. } => tar::EntryType::Char,
            EntryKind::Block { .. } => tar::EntryType::Block,
            EntryKind::Fifo => tar::EntryType::Fifo,
            _ => continue,
        };
        let mut h = header_for(&node.meta, kind, 0).map_err(werr)?;
        xattrs(&mut tar, &node.meta).map_err(werr)?;
        if let EntryKind::Symlink { target } = &node.meta.kind {
            tar.append_link(&mut h, os_path(path.as_bytes()), os_path(target))
                .map_err(werr)?;
        } else {
            tar.append_data(&mut h, os_path(path.as_bytes()), io::empty())
                .map_err(werr)?;
        }
        sum.entries = sum.entries.saturating_add(1);
    }
    let mut links: Vec<(&EntryPath, &Node, &EntryPath)> = fs
        .iter()
        .filter_map(|(path, node)| {
            let first = primary.get(&node.inode?)?;
            (*first != path).then_some((path, node, *first))
        })
        .collect();
    links.extend(extra_links);
    links.sort_by(|a, b| a.0.cmp(b.0));
    for (path, node, first) in links {
        let mut h = header_for(&node.meta, tar::EntryType::Link, 0).map_err(werr)?;
        tar.append_link(&mut h, os_path(path.as_bytes()), os_path(first.as_bytes()))
            .map_err(werr)?;
        sum.hardlinks = sum.hardlinks.saturating_add(1);
        sum.entries = sum.entries.saturating_add(1);
    }
    tar.into_inner().and_then(|mut w| w.flush()).map_err(werr)?;
    Ok(sum)
}

/// Reads exactly `size` bytes from an entry; remembers a short read so that the tar being
/// written is not left with a wrong size unnoticed.
struct ExactBody<'r> {
    inner: io::Take<&'r mut dyn Read>,
    left: u64,
    size: u64,
}

impl<'r> ExactBody<'r> {
    fn new(r: &'r mut dyn Read, size: u64) -> Self {
        ExactBody {
            inner: r.take(size),
            left: size,
            size,
        }
    }

    fn short(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("{} of {} bytes missing", self.left, self.size),
        )
    }

    fn check(&self) -> Result<(), ContentError> {
        if self.left == 0 {
            return Ok(());
        }
        Err(ContentError::Read {
            what: "an entry's content".into(),
            source: self.short(),
        })
    }
}

impl Read for ExactBody<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.left > 0 && !buf.is_empty() {
            return Err(self.short());
        }
        self.left = self.left.saturating_sub(n as u64);
        Ok(n)
    }
}
