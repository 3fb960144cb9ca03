//! Flattening an image of an archive read with recorded entries.

use std::collections::{HashMap, HashSet};

use crate::layer::changes::{ChangeSet, Issue};
use crate::layer::flatten::{ContentRef, FlatFs, FlattenOptions, Flattener};
use crate::model::{Archive, Image, Layer};
use crate::scan::entry::LayerRecords;
use crate::scan::layer::LayerStatus;

/// An image's layers applied in order.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Flattened {
    /// The final filesystem.
    pub fs: FlatFs,
    /// What each layer changed, bottom first.
    pub changes: Vec<ChangeSet>,
    /// For each file content the final filesystem no longer shows, the last layer that
    /// deleted or replaced it.
    pub(crate) removed: HashMap<ContentRef, usize>,
    /// Every file content the final filesystem shows.
    pub(crate) shown: HashSet<ContentRef>,
}

impl Flattened {
    /// The layer that deleted or replaced a file's content (an entry of layer `layer` at
    /// header offset `offset`), or `None` when the final filesystem still shows it.
    pub fn hidden_by(&self, content: ContentRef) -> Option<usize> {
        if self.shown(content) {
            return None;
        }
        self.removed.get(&content).copied()
    }

    fn shown(&self, content: ContentRef) -> bool {
        self.shown.contains(&content)
    }

    /// Every note made while applying the layers, bottom layer first.
    pub fn issues(&self) -> impl Iterator<Item = &Issue> {
        self.changes.iter().flat_map(|c| c.issues.iter())
    }
}

/// Why an image cannot be flattened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlattenError {
    /// The archive was read without [`Reader::record_entries`](crate::Reader::record_entries).
    #[error("layer {layer} ({path}): entries were not recorded while reading; read with Reader::record_entries(true)")]
    NotRecorded {
        /// Index of the layer.
        layer: usize,
        /// The layer's path in the archive.
        path: String,
    },
    /// The layer's blob is not in the archive.
    #[error("layer {layer} ({path}) is not in the archive")]
    MissingLayer {
        /// Index of the layer.
        layer: usize,
        /// The layer's path in the archive.
        path: String,
    },
    /// The layer's blob is not a complete tar.
    #[error("layer {layer} ({path}) cannot be applied: {reason}")]
    Unreadable {
        /// Index of the layer.
        layer: usize,
        /// The layer's path in the archive.
        path: String,
        /// What is wrong, with the offset where it went wrong.
        reason: String,
    },
}

/// The recorded entries of layer `n` of an image.
pub(crate) fn layer_records<'a>(
    archive: &'a Archive,
    n: usize,
    layer: &Layer,
) -> Result<std::borrow::Cow<'a, LayerRecords>, FlattenError> {
    let path = layer
        .path
        .clone()
        .or_else(|| {
            layer
                .member
                .as_ref()
                .map(|m| m.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    let member = archive.layer_member(layer);
    let Some(member) = member else {
        return Err(FlattenError::MissingLayer { layer: n, path });
    };
    let Some(scan) = member.layer.as_ref() else {
        if member.is_file() && member.size == 0 {
            // An empty blob reads as an empty tar (Go's tar reader sees a clean EOF).
            return Ok(std::borrow::Cow::Owned(LayerRecords {
                records: Vec::new(),
                complete: true,
            }));
        }
        return Err(FlattenError::Unreadable {
            layer: n,
            path,
            reason: "it is neither a tar nor a compressed stream".into(),
        });
    };
    let reason = match &scan.status {
        LayerStatus::NotTar => Some("its content is not a tar".to_string()),
        LayerStatus::Corrupt { offset, reason } => Some(format!(
            "the tar stops parsing at byte {offset} of the decompressed stream: {reason}"
        )),
        LayerStatus::Truncated { at, .. } => Some(format!(
            "the tar ends early at byte {at} of the decompressed stream"
        )),
        LayerStatus::Decompress {
            produced, message, ..
        } => Some(format!(
            "decompression fails after {produced} bytes: {message}"
        )),
        LayerStatus::Limit { limit, value, max } => Some(format!(
            "decompression stopped at a limit: {limit} is {value}, the limit is {max}"
        )),
        LayerStatus::Complete { .. } => None,
    };
    if let Some(reason) = reason {
        return Err(FlattenError::Unreadable {
            layer: n,
            path,
            reason,
        });
    }
    match scan.records() {
        None => Err(FlattenError::NotRecorded { layer: n, path }),
        Some(r) if !r.complete => Err(FlattenError::Unreadable {
            layer: n,
            path,
            reason: format!(
                "it has more entries than the limit of {} recorded per layer",
                r.records.len()
            ),
        }),
        Some(r) => Ok(std::borrow::Cow::Borrowed(r)),
    }
}

/// The notes of applying an image's layers in order (the [`Issue`]s of [`flatten_image`]),
/// without keeping the change sets.
pub(crate) fn image_issues(
    archive: &Archive,
    image: &Image,
    options: FlattenOptions,
) -> Result<Vec<Issue>, FlattenError> {
    let mut flattener = Flattener::new(options).notes_only();
    let mut issues = Vec::new();
    for (n, layer) in image.layers.iter().enumerate() {
        let records = layer_records(archive, n, layer)?;
        issues.extend(flattener.apply(&records).issues);
    }
    Ok(issues)
}

/// Applies an image's layers in order (see [`crate::layer::Flattener`] for the rules).
///
/// ```
/// use imgtar::layer::{flatten_image, ChangeKind, EntryPath, FlattenOptions};
/// let report = imgtar::Reader::new()
///     .record_entries(true)
///     .open("testdata/real/ggcr-whiteout-dir-gzip.tar")?;
/// let image = report.archive.find_image(None)?;
/// let flat = flatten_image(&report.archive, image, FlattenOptions::default())?;
/// assert!(flat.fs.get(&EntryPath::from("a/foo")).is_none());
/// assert_eq!(flat.fs.get(&EntryPath::from("a/baz")).map(|n| n.layer), Some(3));
/// let deleted: Vec<String> = flat.changes[2]
///     .of_kind(ChangeKind::Deleted)
///     .map(|c| c.path.to_string())
///     .collect();
/// assert_eq!(deleted, ["/a"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn flatten_image(
    archive: &Archive,
    image: &Image,
    options: FlattenOptions,
) -> Result<Flattened, FlattenError> {
    let mut flattener = Flattener::new(options);
    let mut changes = Vec::with_capacity(image.layers.len());
    for (n, layer) in image.layers.iter().enumerate() {
        let records = layer_records(archive, n, layer)?;
        changes.push(flattener.apply(&records));
    }
    let (fs, removed) = flattener.finish_with_removals();
    let shown = fs.iter().filter_map(|(_, n)| n.content).collect();
    Ok(Flattened {
        fs,
        changes,
        removed,
        shown,
    })
}
