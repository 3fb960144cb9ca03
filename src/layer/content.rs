//! Writing file contents of a flattened image: a second pass over the archive.
//!
//! The first pass (the [`Reader`] with recorded entries) keeps only metadata. Content is read
//! again from the archive, so the input must be readable twice: a file or an extracted
//! directory, not a pipe ([`crate::layer::files`] works from a pipe). The second pass reads only
//! the layer blobs that hold wanted content; each is hashed again and checked against the
//! digest of the first pass, so what is written is what was validated.
//!
//! [`squash`] writes the flattened filesystem as one tar; [`cat`] writes one file's content.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Write};
use std::path::Path;
#[cfg(not(unix))]
use std::path::PathBuf;

use crate::layer::files::{pass, FileMeta, Wanted};
use crate::layer::flatten::{ContentRef, FlatFs, Node, ResolveError};
use crate::model::{Archive, Image};
use crate::path::EntryPath;
use crate::read::{Input, Reader};
use crate::scan::entry::{Entry, EntryKind};

/// Why content could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContentError {
    /// Reading the archive failed.
    #[error(transparent)]
    Read(#[from] crate::Error),
    /// The input cannot be read twice (a pipe).
    #[error("{0} is read twice (metadata, then content), but it is a pipe; save it to a file first (docker save -o image.tar IMAGE)")]
    NotReplayable(String),
    /// Writing the output failed.
    #[error("writing the output")]
    Write(#[source] io::Error),
    /// The output cannot be written there.
    #[error("{0}")]
    Output(String),
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

/// The entries a set of content references needs, by member, with the first pass's digests.
fn plan(
    archive: &Archive,
    image: &Image,
    refs: impl Iterator<Item = ContentRef>,
) -> Result<(Wanted, BTreeMap<EntryPath, Option<crate::Digest>>), ContentError> {
    let mut wanted: Wanted = HashMap::new();
    let mut digests = BTreeMap::new();
    for r in refs {
        let member = image
            .layers
            .get(r.layer)
            .and_then(|l| archive.layer_member(l))
            .ok_or(ContentError::MissingLayer { layer: r.layer })?;
        wanted
            .entry(member.path.clone())
            .or_default()
            .insert(r.offset);
        digests.insert(member.path.clone(), member.digest.clone());
    }
    Ok((wanted, digests))
}

/// Runs the content pass: `f` gets each wanted entry's content, with the member it is in;
/// then checks that every wanted entry was met and that the blobs are those of the first pass.
fn visit<F>(
    reader: &Reader,
    input: &Input,
    archive: &Archive,
    image: &Image,
    refs: impl Iterator<Item = ContentRef>,
    mut f: F,
) -> Result<(), ContentError>
where
    F: FnMut(&EntryPath, &Entry, &mut dyn Read) -> io::Result<()> + Send,
{
    if !input.is_replayable() {
        return Err(ContentError::NotReplayable(if *input == Input::Stdin {
            "standard input".to_string()
        } else {
            input.path().display().to_string()
        }));
    }
    let (wanted, digests) = plan(archive, image, refs)?;
    // One thread: the output is written in the order the pass meets the entries.
    let reader = reader.clone().threads(1).record_entries(false);
    let mut visitor =
        |meta: &FileMeta<'_>, r: &mut dyn Read| -> io::Result<()> { f(meta.member, meta.entry, r) };
    let (second, results) = pass(&reader, input, Some(&wanted), &mut visitor)?;
    let expected: usize = wanted.values().map(|o| o.len()).sum();
    if results.len() != expected {
        return Err(ContentError::Changed(format!(
            "{} of {expected} entries recorded in the first pass were not found",
            expected.saturating_sub(results.len())
        )));
    }
    for (path, before) in &digests {
        let now = second.archive.member(path).and_then(|m| m.digest.as_ref());
        if let (Some(before), Some(now)) = (before, now) {
            if before != now {
                return Err(ContentError::Changed(format!(
                    "layer {:?} now has digest {now}",
                    path.to_string_lossy()
                )));
            }
        }
    }
    Ok(())
}

/// Copies exactly `size` bytes of `r` to `out`; fewer is an error (a truncated entry).
pub(crate) fn copy_exact(r: &mut dyn Read, size: u64, out: &mut dyn Write) -> io::Result<()> {
    let mut body = ExactBody::new(r, size);
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        out.write_all(buf.get(..n).unwrap_or_default())
            .map_err(|e| io::Error::other(WriteFailed(e)))?;
    }
}

/// Marks an output failure inside the content pass's error chain.
#[derive(Debug, thiserror::Error)]
#[error("writing the output failed")]
pub(crate) struct WriteFailed(#[source] pub(crate) io::Error);

/// The output's failure, if that is why the pass stopped.
pub(crate) fn output_error(e: crate::Error) -> ContentError {
    if let crate::Error::Visit { source, .. } = e {
        if source.get_ref().is_some_and(|x| x.is::<WriteFailed>()) {
            let inner = source
                .into_inner()
                .and_then(|b| b.downcast::<WriteFailed>().ok())
                .map_or_else(|| io::Error::other("writing the output failed"), |w| w.0);
            return ContentError::Write(inner);
        }
        return ContentError::Read(crate::Error::Visit {
            member: None,
            source,
        });
    }
    ContentError::Read(e)
}

/// Writes one file's final content: `path` is resolved in the flattened filesystem, following
/// symlinks inside the root. Returns the number of bytes written.
pub fn cat(
    reader: &Reader,
    input: &Input,
    archive: &Archive,
    image: &Image,
    fs: &FlatFs,
    path: &EntryPath,
    out: &mut (dyn Write + Send),
) -> Result<u64, ContentError> {
    let (real, node) = fs.resolve(path)?;
    let Some(content) = node.content.filter(|_| node.meta.kind == EntryKind::File) else {
        return Err(ContentError::NotAFile {
            path: real,
            what: crate::layer::flatten::kind_word(&node.meta.kind),
        });
    };
    let size = node.meta.size;
    visit(
        reader,
        input,
        archive,
        image,
        std::iter::once(content),
        |_, _, r| copy_exact(r, size, out),
    )
    .map_err(|e| match e {
        ContentError::Read(e) => output_error(e),
        other => other,
    })?;
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
/// mtime and xattrs; implicit directories are root-owned with mtime 0 (mode 0755, or 0600 as
/// `docker load` creates them under [`Semantics::DockerLoad`](crate::layer::Semantics)).
pub fn squash<W: Write + Send>(
    reader: &Reader,
    input: &Input,
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
    // The content references each entry of each member serves (one blob may back several
    // layers of the image).
    let mut refs_of: HashMap<(EntryPath, u64), Vec<ContentRef>> = HashMap::new();
    for c in by_content.keys() {
        if let Some(m) = image
            .layers
            .get(c.layer)
            .and_then(|l| archive.layer_member(l))
        {
            refs_of
                .entry((m.path.clone(), c.offset))
                .or_default()
                .push(*c);
        }
    }
    let wio = |e: io::Error| io::Error::other(WriteFailed(e));
    visit(
        reader,
        input,
        archive,
        image,
        by_content.keys().copied(),
        |member, entry, r| {
            let mut first: Option<&EntryPath> = None;
            let refs = refs_of
                .get(&(member.clone(), entry.offset))
                .cloned()
                .unwrap_or_default();
            for content in &refs {
                for &(path, node) in by_content.get(content).into_iter().flatten() {
                    if let Some(first) = first.or_else(|| written.get(content).copied()) {
                        extra_links.push((path, node, first));
                        continue;
                    }
                    let mut h = header_for(&node.meta, tar::EntryType::Regular, node.meta.size)
                        .map_err(wio)?;
                    xattrs(&mut tar, &node.meta).map_err(wio)?;
                    let mut body = ExactBody::new(r, node.meta.size);
                    tar.append_data(&mut h, os_path(path.as_bytes()), &mut body)
                        .map_err(wio)?;
                    body.check()?;
                    sum.files = sum.files.saturating_add(1);
                    sum.entries = sum.entries.saturating_add(1);
                    sum.bytes = sum.bytes.saturating_add(node.meta.size);
                    first = Some(path);
                    written.insert(*content, path);
                }
            }
            Ok(())
        },
    )
    .map_err(|e| match e {
        ContentError::Read(e) => output_error(e),
        other => other,
    })?;
    write_specials(&mut tar, fs, &mut sum).map_err(werr)?;
    let mut links: Vec<(&EntryPath, &Node, &EntryPath)> = fs
        .iter()
        .filter_map(|(path, node)| {
            let first = primary.get(&node.inode?)?;
            (*first != path).then_some((path, node, *first))
        })
        .collect();
    links.extend(extra_links);
    write_links(&mut tar, links, &mut sum).map_err(werr)?;
    tar.into_inner().and_then(|mut w| w.flush()).map_err(werr)?;
    Ok(sum)
}

/// [`squash`] into the file `output`, written atomically: a temporary file beside it,
/// renamed when complete and removed on failure. An existing output that is not a regular
/// file (a device, a FIFO, a directory) and the input itself are refused. The result has
/// ordinary permissions (0644).
pub fn squash_to(
    reader: &Reader,
    input: &Input,
    archive: &Archive,
    image: &Image,
    fs: &FlatFs,
    output: &Path,
) -> Result<SquashSummary, ContentError> {
    use crate::atomic::{AtomicFile, OutputError};
    let mut out = AtomicFile::create(output, Some(input.path())).map_err(|e| match e {
        OutputError::Create(_, source) => ContentError::Write(source),
        other => ContentError::Output(other.to_string()),
    })?;
    let file = out.file().try_clone().map_err(ContentError::Write)?;
    let summary = squash(
        reader,
        input,
        archive,
        image,
        fs,
        io::BufWriter::with_capacity(1 << 20, file),
    )?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        out.file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(ContentError::Write)?;
    }
    out.commit().map_err(ContentError::Write)?;
    Ok(summary)
}

/// Writes the symlinks, devices and FIFOs of `fs`, in tree order.
fn write_specials<W: Write>(
    tar: &mut tar::Builder<W>,
    fs: &FlatFs,
    sum: &mut SquashSummary,
) -> io::Result<()> {
    for (path, node) in fs.iter() {
        let kind = match &node.meta.kind {
            EntryKind::Symlink { .. } => tar::EntryType::Symlink,
            EntryKind::Char { .. } => tar::EntryType::Char,
            EntryKind::Block { .. } => tar::EntryType::Block,
            EntryKind::Fifo => tar::EntryType::Fifo,
            _ => continue,
        };
        let mut h = header_for(&node.meta, kind, 0)?;
        xattrs(tar, &node.meta)?;
        if let EntryKind::Symlink { target } = &node.meta.kind {
            tar.append_link(&mut h, os_path(path.as_bytes()), os_path(target))?;
        } else {
            tar.append_data(&mut h, os_path(path.as_bytes()), io::empty())?;
        }
        sum.entries = sum.entries.saturating_add(1);
    }
    Ok(())
}

/// Writes hardlinks (path, its node, the path it links to), in tree order.
fn write_links<W: Write>(
    tar: &mut tar::Builder<W>,
    mut links: Vec<(&EntryPath, &Node, &EntryPath)>,
    sum: &mut SquashSummary,
) -> io::Result<()> {
    links.sort_by(|a, b| a.0.cmp(b.0));
    for (path, node, first) in links {
        let mut h = header_for(&node.meta, tar::EntryType::Link, 0)?;
        tar.append_link(&mut h, os_path(path.as_bytes()), os_path(first.as_bytes()))?;
        sum.hardlinks = sum.hardlinks.saturating_add(1);
        sum.entries = sum.entries.saturating_add(1);
    }
    Ok(())
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

    fn check(&self) -> io::Result<()> {
        if self.left == 0 {
            return Ok(());
        }
        Err(self.short())
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
