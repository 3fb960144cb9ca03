//! The pass over the outer tar: the streaming walk for any reader, and the header handling it
//! shares with the indexed walk of a seekable file.

use std::io::{self, Read};

use crate::archive::content::ContentPolicy;
use crate::archive::member::{Member, MemberKind};
use crate::compress::{self, Compression};
use crate::validate::{Code, Finding};
use crate::{Error, Limits, Result};

/// What the pass over the outer archive collected.
pub(crate) struct Walk {
    pub compression: Compression,
    pub members: Vec<Member>,
    pub tar_bytes: u64,
    pub findings: Vec<Finding>,
    /// Every member was hashed and every layer scanned (false for metadata-only reads).
    pub verified: bool,
}

/// Counts the bytes read and the non-zero ones among them.
pub(crate) struct Position<R> {
    pub inner: R,
    pub pos: u64,
    pub nonzero: u64,
}

impl<R: Read> Read for Position<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let got = buf.get(..n).unwrap_or_default();
        self.nonzero = self
            .nonzero
            .saturating_add(got.iter().filter(|&&b| b != 0).count() as u64);
        self.pos = self.pos.saturating_add(n as u64);
        Ok(n)
    }
}

/// Retries reads that fail with `Interrupted` (signals on a pipe), which the tar parser and
/// some decoders would otherwise pass up as errors.
pub(crate) struct Retry<R>(pub R);

impl<R: Read> Read for Retry<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.0.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    }
}

pub(crate) fn io_err(offset: u64, entry: Option<String>) -> impl FnOnce(io::Error) -> Error {
    move |source| Error::Io {
        offset,
        entry,
        source,
    }
}

/// Checks that a decompressed stream starts like a tar.
pub(crate) fn check_tar_head(tar_head: &[u8]) -> Result<()> {
    if tar_head.is_empty() {
        return Err(Error::NotTar {
            offset: 0,
            reason: "the input is empty".into(),
        });
    }
    if !compress::looks_like_tar(tar_head) {
        let reason = if tar_head.len() < 512 {
            format!("only {} bytes, shorter than one tar block", tar_head.len())
        } else {
            "the first block is not a tar header (bad checksum)".to_string()
        };
        return Err(Error::NotTar { offset: 0, reason });
    }
    Ok(())
}

/// Member records and the findings about headers, shared by both walks.
pub(crate) struct Headers<'l> {
    limits: &'l Limits,
    pub members: Vec<Member>,
    pub findings: Vec<Finding>,
    /// Where the header after the last member starts.
    pub next_header: u64,
    /// Parsing stopped early (corrupt header, truncation).
    pub stopped: bool,
}

impl<'l> Headers<'l> {
    pub(crate) fn new(limits: &'l Limits, compression: Compression) -> Self {
        let mut findings = Vec::new();
        if compression != Compression::None {
            findings.push(Finding::new(
                Code::OuterCompressed,
                format!(
                    "the archive is {}-compressed: docker load and containers/image decompress it, go-containerregistry reads only plain tars",
                    compression.as_str()
                ),
            ));
        }
        Headers {
            limits,
            members: Vec::new(),
            findings,
            next_header: 0,
            stopped: false,
        }
    }

    /// Records a header that failed to parse.
    pub(crate) fn error(&mut self, e: &io::Error) {
        let code =
            if e.kind() == io::ErrorKind::UnexpectedEof || e.to_string().contains("entire block") {
                Code::TruncatedArchive
            } else {
                Code::CorruptHeader
            };
        let at = self.next_header;
        self.findings.push(
            Finding::new(
                code,
                format!("the outer tar stops parsing at byte {at}: {e}"),
            )
            .at_offset(at),
        );
        self.stopped = true;
    }

    /// Records a member and the findings about its header. Returns its index when it is a
    /// regular file whose content must be read.
    pub(crate) fn add<R: Read>(&mut self, entry: &tar::Entry<'_, R>) -> Result<Option<usize>> {
        if self.members.len() as u64 >= self.limits.max_members {
            return Err(Error::Limit {
                limit: "max_members",
                value: self.members.len() as u64 + 1,
                max: self.limits.max_members,
            });
        }
        let offset = entry.raw_header_position();
        let size = entry.size();
        self.next_header = entry
            .raw_file_position()
            .saturating_add(size.div_ceil(512).saturating_mul(512));
        let name_bytes = entry.path_bytes();
        if name_bytes.len() as u64 > self.limits.max_path_bytes {
            return Err(Error::Limit {
                limit: "max_path_bytes",
                value: name_bytes.len() as u64,
                max: self.limits.max_path_bytes,
            });
        }
        let name = String::from_utf8_lossy(&name_bytes).into_owned();
        let header = entry.header();
        let link = || {
            entry
                .link_name_bytes()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        };
        let kind = match header.entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => MemberKind::File,
            tar::EntryType::Directory => MemberKind::Dir,
            tar::EntryType::Symlink => MemberKind::Symlink { target: link() },
            tar::EntryType::Link => MemberKind::Hardlink { target: link() },
            tar::EntryType::XGlobalHeader => return Ok(None),
            other => MemberKind::Other {
                typeflag: other.as_byte(),
            },
        };
        let clean = crate::path::clean(&name);
        let at = |code, message: String| {
            Finding::new(code, message).at(clean.path.clone(), Some(offset))
        };
        if clean.escapes {
            self.findings.push(at(
                Code::UnsafePath,
                format!("member name {name:?} climbs above the archive root"),
            ));
        } else if clean.absolute {
            self.findings.push(at(
                Code::AbsolutePath,
                format!("member name {name:?} is absolute; loaders strip the leading '/'"),
            ));
        }
        if let MemberKind::Other { typeflag } = kind {
            if !matches!(typeflag, b'3' | b'4' | b'6') {
                self.findings.push(at(
                    Code::UnknownMemberType,
                    format!(
                        "member {name:?} has typeflag {:?}, which docker load rejects (\"unhandled tar header type\")",
                        typeflag as char
                    ),
                ));
            }
        }
        let is_file = kind == MemberKind::File;
        self.members.push(Member {
            path: clean.path,
            name,
            offset: Some(offset),
            kind,
            size,
            mode: header.mode().unwrap_or(0),
            digest: None,
            layer: None,
            data: None,
            too_large: false,
        });
        Ok(is_file.then(|| self.members.len().saturating_sub(1)))
    }

    /// Records that member `i` ended early: `present` of its bytes are in the input.
    pub(crate) fn truncated(&mut self, i: usize, present: u64) {
        let Some(m) = self.members.get(i) else {
            return;
        };
        self.findings.push(
            Finding::new(
                Code::TruncatedArchive,
                format!(
                    "the archive ends inside {:?}: {present} of {} bytes present",
                    m.name, m.size
                ),
            )
            .at(m.path.clone(), m.offset),
        );
        self.stopped = true;
    }

    /// Findings about what follows the last member: `marker_end` is where the end-of-archive
    /// block ends (or `next_header` without one); `rest`/`rest_nonzero` count the bytes after it.
    pub(crate) fn tail(
        &mut self,
        marker_end: u64,
        rest: u64,
        rest_nonzero: u64,
        error: Option<io::Error>,
    ) {
        if self.stopped {
            return;
        }
        if let Some(e) = error {
            self.findings.push(
                Finding::new(
                    Code::TruncatedArchive,
                    format!("reading after the end of the archive failed: {e}"),
                )
                .at_offset(marker_end),
            );
        }
        if rest_nonzero > 0 {
            self.findings.push(
                Finding::new(
                    Code::TrailingData,
                    format!(
                        "{rest} bytes ({rest_nonzero} of them non-zero) follow the end-of-archive marker; tar readers ignore them"
                    ),
                )
                .at_offset(marker_end),
            );
        }
        if marker_end == self.next_header && !self.members.is_empty() {
            self.findings.push(
                Finding::new(
                    Code::NoEndOfArchive,
                    "the archive has no end-of-archive blocks: it may have been cut short at a member boundary",
                )
                .at_offset(marker_end),
            );
        }
    }
}

/// Walks a tar stream (possibly compressed) once.
pub(crate) fn walk_stream(input: &mut dyn Read, limits: &Limits, verify: bool) -> Result<Walk> {
    let mut input = Retry(input);
    let input = &mut input;
    let head = compress::read_head(input, compress::SNIFF_LEN).map_err(io_err(0, None))?;
    let compression = Compression::sniff(&head);
    let raw = io::Cursor::new(head).chain(input);
    let mut decoded = compress::decoder(compression, raw).map_err(io_err(0, None))?;
    let tar_head = compress::read_head(&mut decoded, 512).map_err(io_err(0, None))?;
    check_tar_head(&tar_head)?;
    let mut pos = Position {
        inner: io::Cursor::new(tar_head).chain(decoded),
        pos: 0,
        nonzero: 0,
    };
    let kept = std::sync::atomic::AtomicU64::new(0);
    let policy = ContentPolicy {
        limits,
        kept_total: &kept,
        verify,
    };
    let mut h = Headers::new(limits, compression);
    {
        let mut archive = tar::Archive::new(&mut pos);
        let entries = archive.entries().map_err(io_err(0, None))?;
        for entry in entries {
            let mut entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    h.error(&e);
                    break;
                }
            };
            let Some(i) = h.add(&entry)? else {
                continue;
            };
            let (offset, size) = (entry.raw_header_position(), entry.size());
            let name = h.members.get(i).map(|m| m.path.clone()).unwrap_or_default();
            let content = policy
                .process(&mut entry, &name, size)
                .map_err(io_err(offset, Some(name.clone())))?;
            if content.count < size {
                h.truncated(i, content.count);
            }
            if let Some(m) = h.members.get_mut(i) {
                m.set_content(content);
            }
            if h.stopped {
                break;
            }
        }
    }
    // Whatever follows the end-of-archive marker.
    let marker_end = pos.pos;
    let nonzero_before = pos.nonzero;
    let err = io::copy(&mut pos, &mut io::sink()).err();
    h.tail(
        marker_end,
        pos.pos.saturating_sub(marker_end),
        pos.nonzero.saturating_sub(nonzero_before),
        err,
    );
    // After a parse failure the whole stream's length is what is known for sure.
    let tar_bytes = if h.stopped { pos.pos } else { marker_end };
    Ok(Walk {
        compression,
        members: h.members,
        tar_bytes,
        findings: h.findings,
        verified: verify,
    })
}
