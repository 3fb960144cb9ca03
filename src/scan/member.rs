//! One member of the outer archive, and what is learned from its bytes: its digest, a layer
//! scan when it looks like a layer, or its content when it is a small metadata document.
//! Shared by the streaming walk, the parallel indexed walk and directory input.

use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::compress::{self, Compression};
use crate::digest::Digest;
use crate::path::EntryPath;
use crate::scan::layer::{self, DiffHash, LayerOptions, LayerScan};
use crate::scan::{pipeline, tar, ScanOptions};
use crate::Limits;

/// The type of an outer archive member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
#[non_exhaustive]
pub enum MemberKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink {
        /// The link target as written.
        #[serde(serialize_with = "lossy")]
        target: Vec<u8>,
    },
    /// A hard link to an earlier member.
    Hardlink {
        /// The target member name as written.
        #[serde(serialize_with = "lossy")]
        target: Vec<u8>,
    },
    /// Anything else (devices, FIFOs, unknown typeflags), with its typeflag byte.
    Other {
        /// The tar typeflag.
        typeflag: u8,
    },
}

fn lossy<S: serde::Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(b))
}

/// What the pass kept of a member's content.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum MemberData {
    /// Nothing (not a document, or not read).
    #[default]
    None,
    /// The bytes of a small document.
    Kept(Vec<u8>),
    /// A document larger than [`Limits::max_json_bytes`] (or than the metadata budget left),
    /// hashed but not kept.
    TooLarge,
}

/// How much of a member the input holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Presence {
    /// Every byte the header declares.
    #[default]
    Complete,
    /// The input ends (or stops decompressing) inside the member.
    Cut {
        /// Bytes present.
        present: u64,
    },
    /// Not read: reading stopped before the member's data.
    Unread,
}

/// One member of the outer archive, as recorded by the single pass.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Member {
    /// Cleaned path (see [`EntryPath::clean`]).
    pub path: EntryPath,
    /// The name exactly as stored.
    #[serde(serialize_with = "lossy")]
    pub name: Vec<u8>,
    /// Byte offset of the member's header in the decompressed outer tar stream (`None` for a
    /// directory input).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// Byte offset of the member's first block in the decompressed outer tar stream: its
    /// first extension header (PAX, GNU long name) when it has any, else [`offset`](Self::offset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<u64>,
    /// Byte offset of the member's data in the decompressed outer tar stream (its content
    /// occupies `data_offset..data_offset + size`, then zero padding to a 512-byte block).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_offset: Option<u64>,
    /// Member type.
    #[serde(flatten)]
    pub kind: MemberKind,
    /// Size from the header (PAX-adjusted).
    pub size: u64,
    /// Permission bits.
    pub mode: u32,
    /// How much of it the input holds.
    pub presence: Presence,
    /// sha256 of the content, for complete regular files that were hashed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// The scan of the content as a layer tar, when it looked like one (tar or compressed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<LayerScan>,
    /// Content kept in memory (small metadata documents only).
    #[serde(skip)]
    pub(crate) data: MemberData,
    /// Notes of the tar reader about this member's header.
    #[serde(skip)]
    pub(crate) notes: Vec<tar::Note>,
}

impl Member {
    /// A member of a path, before its content is read.
    pub(crate) fn new(
        name: Vec<u8>,
        offset: Option<u64>,
        kind: MemberKind,
        size: u64,
        mode: u32,
    ) -> Member {
        Member {
            path: EntryPath::clean(&name).0,
            name,
            offset,
            start: offset,
            data_offset: None,
            kind,
            size,
            mode,
            presence: Presence::Unread,
            digest: None,
            layer: None,
            data: MemberData::None,
            notes: Vec::new(),
        }
    }

    /// The kept content of a small metadata member (JSON, `VERSION`, `repositories`).
    pub fn data(&self) -> Option<&[u8]> {
        match &self.data {
            MemberData::Kept(d) => Some(d),
            _ => None,
        }
    }

    /// Whether the content was not kept because it is too large.
    pub(crate) fn too_large(&self) -> bool {
        self.data == MemberData::TooLarge
    }

    /// Whether this member is a regular file.
    pub fn is_file(&self) -> bool {
        self.kind == MemberKind::File
    }

    /// The name as text (lossy), for messages.
    pub(crate) fn name_lossy(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }

    /// Applies what reading the content gave.
    pub(crate) fn set_content(&mut self, c: Content) {
        self.presence = if c.count < self.size {
            Presence::Cut { present: c.count }
        } else {
            Presence::Complete
        };
        let complete = self.presence == Presence::Complete;
        self.digest = c.digest.filter(|_| complete);
        self.layer = c.layer;
        self.data = if complete { c.data } else { MemberData::None };
    }
}

/// Decides what to keep of a regular member and hashes it.
pub(crate) struct ContentPolicy<'a> {
    pub limits: &'a Limits,
    /// Bytes of metadata kept so far (shared by parallel workers).
    pub kept_total: &'a AtomicU64,
    pub options: ScanOptions<'a>,
}

/// What reading one member's bytes gave.
#[derive(Default)]
pub(crate) struct Content {
    pub digest: Option<Digest>,
    /// Bytes read.
    pub count: u64,
    pub layer: Option<LayerScan>,
    pub data: MemberData,
    /// Processed elsewhere: the result is set on the member when it arrives.
    pub deferred: bool,
}

impl Content {
    /// A content whose result a worker will give later.
    pub(crate) fn deferred() -> Content {
        Content {
            deferred: true,
            ..Content::default()
        }
    }

    /// Whether this is [`Content::deferred`].
    pub(crate) fn is_deferred(&self) -> bool {
        self.deferred
    }
}

/// Counts what is read through it into a shared cell, so that a failure partway still tells
/// how far it got.
struct Tally<'c, R> {
    inner: R,
    count: &'c mut u64,
}

impl<R: Read> Read for Tally<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        *self.count = self.count.saturating_add(n as u64);
        Ok(n)
    }
}

impl ContentPolicy<'_> {
    /// Whether a member of this size can hold a metadata document worth reading when layers are
    /// not verified.
    pub(crate) fn may_be_metadata(&self, size: u64) -> bool {
        size <= self.limits.max_json_bytes
    }

    /// Reads `r` to its end (`size` is the declared size). Returns what was learned and, when
    /// reading stopped early, why (the error of `r`: the input ended, a decoder failed, a
    /// limit, the hook).
    pub(crate) fn process<R: Read>(
        &self,
        r: R,
        path: &EntryPath,
        size: u64,
    ) -> (Content, Option<io::Error>) {
        let mut count = 0u64;
        let r = Tally {
            inner: r,
            count: &mut count,
        };
        let result = self.process_inner(r, path, size);
        match result {
            Ok(mut c) => {
                // A skipped member is not read here (the walk skips it) and counts whole.
                c.count = c.count.max(count);
                (c, None)
            }
            Err(e) => (
                Content {
                    count,
                    ..Content::default()
                },
                Some(e),
            ),
        }
    }

    fn process_inner<R: Read>(&self, mut r: R, path: &EntryPath, size: u64) -> io::Result<Content> {
        if self.options.only_wanted && !self.options.hook.is_some_and(|h| h.wants(path)) {
            return Ok(Content {
                count: size,
                ..Content::default()
            });
        }
        let head = compress::read_head(&mut r, compress::SNIFF_LEN)?;
        let compressed = Compression::sniff(&head) != Compression::None;
        let layer_like = compressed || (head.len() == 512 && tar::looks_like_header(&head));
        let hook = self
            .options
            .hook
            .filter(|h| layer_like && h.wants(path))
            .map(|h| (h, path));
        // A compressed layer of some size is hashed on threads of their own when there are
        // threads to spare: the blob's sha256 and its DiffID's, while this thread inflates
        // and walks. Not an uncompressed one: its one hash is what this thread would do
        // instead of copying (a copy for another thread made a pipe slower on two cores).
        let hash_away = compressed && size >= HASH_AWAY_MIN && self.options.threads > 1;
        let layer_options = LayerOptions {
            record: self.options.record_entries,
            hook,
            diff_id: match (self.options.verify, hash_away) {
                (false, _) => DiffHash::Skip,
                (true, false) => DiffHash::Here,
                (true, true) => DiffHash::Away,
            },
        };
        if layer_like && !self.options.verify {
            // Walk the layer's headers (and decompress it when compressed: its file sizes are
            // known no other way) without hashing the blob or what it inflates to.
            let scan = layer::scan_blob(&head, &mut r, self.limits, layer_options)?;
            return Ok(Content {
                layer: Some(scan),
                ..Content::default()
            });
        }
        let mut out = Content::default();
        let mut blob =
            pipeline::Hashing::with_prefix(r, &head, hash_away, self.limits.max_in_flight_bytes);
        if layer_like {
            out.layer = Some(layer::scan_blob(
                &head,
                &mut blob,
                self.limits,
                layer_options,
            )?);
        } else if is_metadata_like(path, &head) {
            if size <= self.limits.max_json_bytes && self.reserve(size) {
                let mut data = head;
                (&mut blob)
                    .take(self.limits.max_json_bytes.saturating_add(1))
                    .read_to_end(&mut data)?;
                out.data = MemberData::Kept(data);
            } else {
                out.data = MemberData::TooLarge;
            }
            blob.drain()?;
        } else {
            blob.drain()?;
        }
        let (digest, _) = blob.finish()?;
        out.digest = Some(digest);
        Ok(out)
    }

    /// Charges `size` bytes to the metadata budget; false when it would pass the limit.
    fn reserve(&self, size: u64) -> bool {
        let max = self.limits.max_metadata_total;
        self.kept_total
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |kept| {
                let next = kept.saturating_add(size);
                (next <= max).then_some(next)
            })
            .is_ok()
    }
}

/// Compressed layers at least this large are hashed on threads of their own (smaller ones are
/// not worth two threads).
const HASH_AWAY_MIN: u64 = 1 << 20;

/// Whether a member looks like a metadata document worth keeping.
fn is_metadata_like(path: &EntryPath, head: &[u8]) -> bool {
    let first = head.iter().copied().find(|b| !b.is_ascii_whitespace());
    let base = path.file_name();
    matches!(first, Some(b'{') | Some(b'[') | Some(b'n') | Some(b'"'))
        || base == b"VERSION"
        || base == b"repositories"
        || base == b"oci-layout"
        || path.as_bytes().ends_with(b".json")
}

/// The member kind of a tar header.
pub(crate) fn kind_of(h: &tar::Header) -> Option<MemberKind> {
    Some(match h.typeflag {
        b'0' | b'7' => MemberKind::File,
        b'5' => MemberKind::Dir,
        b'2' => MemberKind::Symlink {
            target: h.link.clone(),
        },
        b'1' => MemberKind::Hardlink {
            target: h.link.clone(),
        },
        b'g' => return None,
        other => MemberKind::Other { typeflag: other },
    })
}
