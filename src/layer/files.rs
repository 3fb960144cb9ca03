//! The files of an image with their content, in one pass over the archive (a pipe included).
//!
//! [`files`] hands each regular file's content to a visitor as the archive streams by, and
//! returns what the visitor made of each, with the layer it belongs to and, for files a later
//! layer deleted or replaced, which layer did:
//!
//! - [`Scope::AllLayers`]: every regular file of every layer of the image, the deleted and
//!   overwritten ones included (what secret scanners look for);
//! - [`Scope::Squashed`]: only what the final filesystem holds. On a file or a directory the
//!   archive is read twice, headers and documents first and then only the layers holding
//!   survivors; from a pipe it is read once and the visitor's results for files that do not
//!   survive are dropped at the end.
//!
//! Reading N files costs one pass, not N. Memory is the metadata of the entries plus what the
//! visitor returns, so keep results small (a digest, a parsed package list). A hardlink is not
//! visited again: it is listed with the path of the file it links to and the same result.
//!
//! ```
//! use std::io::Read;
//! use imgtar::layer::{files, FilesOptions, Scope};
//! let input = imgtar::Input::of("testdata/real/ggcr-whiteout-dir-gzip.tar")?;
//! let out = files(&imgtar::Reader::new(), &input, FilesOptions::new(Scope::AllLayers), |_, r| {
//!     let mut n = 0u64;
//!     let mut buf = [0u8; 4096];
//!     loop {
//!         match r.read(&mut buf)? {
//!             0 => return Ok(n),
//!             k => n += k as u64,
//!         }
//!     }
//! })?;
//! let deleted: Vec<String> = out
//!     .files
//!     .iter()
//!     .filter(|f| f.hidden_by.is_some())
//!     .map(|f| f.path.to_string())
//!     .collect();
//! assert!(deleted.iter().any(|p| p == "/a/foo"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, Read};
use std::sync::Mutex;

use crate::digest::Digest;
use crate::layer::flatten::{ContentRef, FlattenOptions};
use crate::layer::image::{flatten_image, FlattenError, Flattened};
use crate::model::select::SelectError;
use crate::path::EntryPath;
use crate::read::{Input, Reader, Report};
use crate::scan::entry::{Entry, EntryKind, Record};
use crate::scan::EntryHook;

/// Which files [`files`] visits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Scope {
    /// What the final filesystem holds.
    #[default]
    Squashed,
    /// Every regular file of every layer.
    AllLayers,
}

/// Options of [`files`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct FilesOptions {
    /// Which files.
    pub scope: Scope,
    /// The image (a tag or an ID prefix; `None`: the only one).
    pub image: Option<String>,
    /// How layers are applied.
    pub flatten: FlattenOptions,
}

impl FilesOptions {
    /// The only image of the archive, in this scope.
    pub fn new(scope: Scope) -> Self {
        FilesOptions {
            scope,
            ..FilesOptions::default()
        }
    }

    /// Chooses the image by tag or ID prefix.
    pub fn image(mut self, image: Option<&str>) -> Self {
        self.image = image.map(str::to_string);
        self
    }

    /// Sets how layers are applied.
    pub fn flatten(mut self, options: FlattenOptions) -> Self {
        self.flatten = options;
        self
    }
}

/// What a visitor is told about the file whose content it reads.
#[derive(Debug)]
#[non_exhaustive]
pub struct FileMeta<'a> {
    /// The archive member holding the layer blob.
    pub member: &'a EntryPath,
    /// The entry's metadata (its path in the layer, size, mode, owner, offset).
    pub entry: &'a Entry,
}

/// One file of the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct File<T> {
    /// The layer it is in (bottom is 0).
    pub layer: usize,
    /// Its path (in the final filesystem for [`Scope::Squashed`], as the layer writes it
    /// otherwise).
    pub path: EntryPath,
    /// Its metadata.
    pub entry: Entry,
    /// For a hardlink, the path of the file it links to (the first in tree order); its content
    /// was visited there.
    pub link: Option<EntryPath>,
    /// [`Scope::AllLayers`]: the layer that deleted or replaced it (the same layer when the
    /// layer writes the path twice); `None` when the final filesystem shows it.
    pub hidden_by: Option<usize>,
    /// What the visitor returned for its content.
    pub value: T,
}

/// What [`files`] gives.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Files<T> {
    /// The report of the pass (of the first pass, for a two-pass read).
    pub report: Report,
    /// The image, as an index in [`Archive::images`](crate::Archive::images).
    pub image: usize,
    /// The files, layer by layer (for [`Scope::Squashed`]: in tree order).
    pub files: Vec<File<T>>,
}

/// Why [`files`] gave no answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FilesError {
    /// Reading failed, or the visitor did.
    #[error(transparent)]
    Read(#[from] crate::Error),
    /// No single image matched.
    #[error(transparent)]
    Select(#[from] SelectError),
    /// The image's layers cannot be applied.
    #[error(transparent)]
    Flatten(#[from] FlattenError),
    /// A second read of the archive found other bytes than the first.
    #[error("the archive changed between its two reads: {0}")]
    Changed(String),
}

/// Entries wanted from each layer blob member, by header offset.
pub(crate) type Wanted = HashMap<EntryPath, HashSet<u64>>;

/// A visitor's results by (layer blob member, entry header offset).
pub(crate) type Results<T> = HashMap<(EntryPath, u64), T>;

/// A hook collecting the visitor's results by (member, entry offset).
struct Collect<'f, T, F> {
    visit: Mutex<(&'f mut F, Results<T>)>,
    /// Only these entries (`None`: every regular file of every layer).
    wanted: Option<&'f Wanted>,
}

impl<T, F> EntryHook for Collect<'_, T, F>
where
    T: Send,
    F: FnMut(&FileMeta<'_>, &mut dyn Read) -> io::Result<T> + Send,
{
    fn wants(&self, member: &EntryPath) -> bool {
        self.wanted.is_none_or(|w| w.contains_key(member))
    }

    fn file(&self, member: &EntryPath, entry: &Entry, content: &mut dyn Read) -> io::Result<()> {
        if let Some(w) = self.wanted {
            if !w.get(member).is_some_and(|o| o.contains(&entry.offset)) {
                return Ok(());
            }
        }
        let mut guard = self
            .visit
            .lock()
            .map_err(|_| io::Error::other("a content visitor panicked"))?;
        let (visit, results) = &mut *guard;
        let value = visit(&FileMeta { member, entry }, content)?;
        results.insert((member.clone(), entry.offset), value);
        Ok(())
    }
}

/// Runs one pass over `input` handing the content of the wanted entries to `visit`; returns
/// the report and the results by (member, entry offset).
pub(crate) fn pass<T, F>(
    reader: &Reader,
    input: &Input,
    wanted: Option<&Wanted>,
    visit: &mut F,
) -> Result<(Report, Results<T>), crate::Error>
where
    T: Send,
    F: FnMut(&FileMeta<'_>, &mut dyn Read) -> io::Result<T> + Send,
{
    let hook = Collect {
        visit: Mutex::new((visit, HashMap::new())),
        wanted,
    };
    let report = reader.open_input(input, Some(&hook), wanted.is_some())?;
    let (_, results) = hook
        .visit
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    Ok((report, results))
}

/// The files of an image with what `visit` makes of each one's content (see the module docs).
///
/// `visit` gets each regular file's metadata and a reader of its content (what it leaves
/// unread is skipped); its error stops the pass. It may be called from several threads in
/// turn, never at once, in no particular order.
pub fn files<T, F>(
    reader: &Reader,
    input: &Input,
    options: FilesOptions,
    mut visit: F,
) -> Result<Files<T>, FilesError>
where
    T: Clone + Send,
    F: FnMut(&FileMeta<'_>, &mut dyn Read) -> io::Result<T> + Send,
{
    let reader = reader.clone().record_entries(true);
    let two_pass = options.scope == Scope::Squashed && input.is_replayable();
    if two_pass {
        let first = reader.read_input(input)?;
        let image = first.archive.find_index(options.image.as_deref())?;
        let img = first
            .archive
            .images
            .get(image)
            .ok_or_else(|| SelectError::NotFound(String::new()))?;
        let flat = flatten_image(&first.archive, img, options.flatten)?;
        let (wanted, digests) = survivors(&first, image, &flat);
        let (second, results) = pass(&reader, input, Some(&wanted), &mut visit)?;
        for (path, digest) in &digests {
            let now = second.archive.member(path).and_then(|m| m.digest.as_ref());
            if let (Some(before), Some(now)) = (digest, now) {
                if before != now {
                    return Err(FilesError::Changed(format!(
                        "{} is now {now}, it was {before}",
                        path.to_string_lossy()
                    )));
                }
            }
        }
        let files = squashed(&first, image, &flat, &results)?;
        return Ok(Files {
            report: first,
            image,
            files,
        });
    }
    let (report, results) = pass(&reader, input, None, &mut visit)?;
    let image = report.archive.find_index(options.image.as_deref())?;
    let img = report
        .archive
        .images
        .get(image)
        .ok_or_else(|| SelectError::NotFound(String::new()))?;
    let flat = flatten_image(&report.archive, img, options.flatten)?;
    let files = match options.scope {
        Scope::Squashed => squashed(&report, image, &flat, &results)?,
        Scope::AllLayers => all_layers(&report, image, &flat, &results),
    };
    Ok(Files {
        report,
        image,
        files,
    })
}

/// The member holding each layer of image `image`.
fn layer_members(report: &Report, image: usize) -> Vec<Option<EntryPath>> {
    report
        .archive
        .images
        .get(image)
        .map(|img| img.layers.iter().map(|l| l.member.clone()).collect())
        .unwrap_or_default()
}

/// The entries the final filesystem takes its files from, by member, and each member's
/// digest in the first read.
fn survivors(
    report: &Report,
    image: usize,
    flat: &Flattened,
) -> (Wanted, BTreeMap<EntryPath, Option<Digest>>) {
    let members = layer_members(report, image);
    let mut wanted: Wanted = HashMap::new();
    let mut digests = BTreeMap::new();
    for (_, node) in flat.fs.iter() {
        let Some(c) = node.content else { continue };
        let Some(Some(m)) = members.get(c.layer) else {
            continue;
        };
        wanted.entry(m.clone()).or_default().insert(c.offset);
        digests.insert(
            m.clone(),
            report.archive.member(m).and_then(|x| x.digest.clone()),
        );
    }
    (wanted, digests)
}

/// The final filesystem's regular files with their results, in tree order.
fn squashed<T: Clone>(
    report: &Report,
    image: usize,
    flat: &Flattened,
    results: &Results<T>,
) -> Result<Vec<File<T>>, FilesError> {
    let members = layer_members(report, image);
    let mut first_of_inode: HashMap<u64, EntryPath> = HashMap::new();
    let mut out = Vec::new();
    for (path, node) in flat.fs.iter() {
        let (Some(c), EntryKind::File) = (node.content, &node.meta.kind) else {
            continue;
        };
        let Some(Some(member)) = members.get(c.layer) else {
            continue;
        };
        let Some(value) = results.get(&(member.clone(), c.offset)) else {
            return Err(FilesError::Changed(format!(
                "the entry of {path} (layer {}, byte {}) was not found in the second read",
                c.layer, c.offset
            )));
        };
        let link = match node.inode {
            Some(i) => match first_of_inode.get(&i) {
                Some(p) => Some(p.clone()),
                None => {
                    first_of_inode.insert(i, path.clone());
                    None
                }
            },
            None => None,
        };
        out.push(File {
            layer: c.layer,
            path: path.clone(),
            entry: node.meta.clone(),
            link,
            hidden_by: None,
            value: value.clone(),
        });
    }
    Ok(out)
}

/// Every regular file of every layer of the image, layer by layer in stream order, with the
/// layer that hid it.
fn all_layers<T: Clone>(
    report: &Report,
    image: usize,
    flat: &Flattened,
    results: &Results<T>,
) -> Vec<File<T>> {
    let members = layer_members(report, image);
    let mut out = Vec::new();
    for (k, member) in members.iter().enumerate() {
        let Some(member) = member else { continue };
        let Some(records) = report
            .archive
            .member(member)
            .and_then(|m| m.layer.as_ref())
            .and_then(|s| s.records())
        else {
            continue;
        };
        let mut by_path: HashMap<&EntryPath, &Entry> = HashMap::new();
        for r in &records.records {
            let Record::Entry(e) = r else { continue };
            match &e.kind {
                EntryKind::File => {
                    by_path.insert(&e.path, e);
                    let Some(value) = results.get(&(member.clone(), e.offset)) else {
                        continue;
                    };
                    out.push(File {
                        layer: k,
                        path: e.path.clone(),
                        entry: e.clone(),
                        link: None,
                        hidden_by: flat.hidden_by(ContentRef {
                            layer: k,
                            offset: e.offset,
                        }),
                        value: value.clone(),
                    });
                }
                EntryKind::Hardlink { target } => {
                    let Some(t) = by_path.get(target).copied() else {
                        continue;
                    };
                    let Some(value) = results.get(&(member.clone(), t.offset)) else {
                        continue;
                    };
                    let mut entry = t.clone();
                    entry.path = e.path.clone();
                    entry.offset = e.offset;
                    out.push(File {
                        layer: k,
                        path: e.path.clone(),
                        entry,
                        link: Some(target.clone()),
                        hidden_by: flat.hidden_by(ContentRef {
                            layer: k,
                            offset: t.offset,
                        }),
                        value: value.clone(),
                    });
                }
                _ => {}
            }
        }
    }
    out
}
