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

/// An I/O error at `offset`, or the limit error it carries.
pub(crate) fn io_err(offset: u64, entry: Option<String>) -> impl FnOnce(io::Error) -> Error {
    move |source| match compress::LimitHit::of(&source) {
        Some(hit) => Error::Limit {
            limit: hit.limit,
            value: hit.value,
            max: hit.max,
        },
        None => Error::Io {
            offset,
            entry,
            source,
        },
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
        let inner = Compression::sniff(tar_head);
        let reason = if inner != Compression::None {
            format!(
                "the decompressed stream is {}-compressed again; docker load decompresses only once",
                inner.as_str()
            )
        } else if tar_head.len() < 512 {
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

    /// Records a header that failed to parse (or the input ending before it).
    pub(crate) fn error(&mut self, e: &io::Error) {
        let msg = e.to_string();
        if e.kind() == io::ErrorKind::UnexpectedEof
            || msg.contains("EOF")
            || msg.contains("entire block")
        {
            self.cut_short();
            return;
        }
        let at = self.next_header;
        self.findings.push(
            Finding::new(
                Code::CorruptHeader,
                format!("the outer tar stops parsing at byte {at}: {msg}"),
            )
            .at_offset(at),
        );
        self.stopped = true;
    }

    /// Records that the input ends inside the last member's padding or the next header.
    pub(crate) fn cut_short(&mut self) {
        let at = self.next_header;
        self.findings.push(
            Finding::new(
                Code::TruncatedArchive,
                format!("the archive is cut short before byte {at}, inside the last member's padding or the next header"),
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
                value: (self.members.len() as u64).saturating_add(1),
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

    /// Reads what follows the last member from `r`, positioned at `at`, where the tar parser
    /// stopped: just after a first zero block when `saw_zero`, else at the end of the input.
    /// Applies Go's `archive/tar` end rules (what `docker load` uses): a second zero block
    /// ends the archive, end of input after one zero block is tolerated, a partial block is
    /// an unexpected EOF and a non-zero block a header error. Returns the tar's length: the end
    /// of the end-of-archive marker, or the whole input's length when parsing stopped early.
    /// `Err` only for a decompression limit passed while reading the rest.
    pub(crate) fn tail_from<R: Read>(
        &mut self,
        r: &mut R,
        at: u64,
        saw_zero: bool,
    ) -> io::Result<u64> {
        if self.stopped {
            let rest = drain_keeping_limits(r)?;
            return Ok(at.saturating_add(rest));
        }
        if !saw_zero {
            if !self.members.is_empty() {
                self.findings.push(
                    Finding::new(
                        Code::NoEndOfArchive,
                        "the archive has no end-of-archive blocks: it may have been cut short at a member boundary",
                    )
                    .at_offset(at),
                );
            }
            return Ok(at);
        }
        let second = match compress::read_head(r, 512) {
            Ok(b) => b,
            Err(e) if compress::LimitHit::of(&e).is_some() => return Err(e),
            Err(e) => {
                self.findings.push(
                    Finding::new(
                        Code::TruncatedArchive,
                        format!("reading the end-of-archive marker failed: {e}"),
                    )
                    .at_offset(at),
                );
                return Ok(at);
            }
        };
        let marker_end = match second.len() {
            0 => return Ok(at),
            512 if second.iter().all(|&b| b == 0) => at.saturating_add(512),
            512 => {
                self.findings.push(
                    Finding::new(
                        Code::CorruptHeader,
                        "a zero block is followed by a non-zero block: Go's archive/tar (docker load) fails with \"invalid tar header\"",
                    )
                    .at_offset(at),
                );
                self.stopped = true;
                let rest = drain_keeping_limits(r)?;
                return Ok(at.saturating_add(512).saturating_add(rest));
            }
            n => {
                self.findings.push(
                    Finding::new(
                        Code::TruncatedArchive,
                        format!("the end-of-archive marker is cut short: {n} of 512 bytes after the first zero block"),
                    )
                    .at_offset(at),
                );
                self.stopped = true;
                return Ok(at.saturating_add(n as u64));
            }
        };
        let mut count = NonZero::default();
        if let Err(e) = io::copy(r, &mut count) {
            if compress::LimitHit::of(&e).is_some() {
                return Err(e);
            }
            self.findings.push(
                Finding::new(
                    Code::TruncatedArchive,
                    format!("reading after the end of the archive failed: {e}"),
                )
                .at_offset(marker_end),
            );
        }
        if count.nonzero > 0 {
            self.findings.push(
                Finding::new(
                    Code::TrailingData,
                    format!(
                        "{} bytes ({} of them non-zero) follow the end-of-archive marker; tar readers ignore them",
                        count.total, count.nonzero
                    ),
                )
                .at_offset(marker_end),
            );
        }
        Ok(marker_end)
    }
}

/// Reads `r` to its end; a read error ends it quietly unless it is a decompression limit.
fn drain_keeping_limits<R: Read>(r: &mut R) -> io::Result<u64> {
    let mut n = 0u64;
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok(n),
            Ok(k) => n = n.saturating_add(k as u64),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if compress::LimitHit::of(&e).is_some() => return Err(e),
            Err(_) => return Ok(n),
        }
    }
}

/// Counts bytes written and the non-zero ones among them.
#[derive(Default)]
struct NonZero {
    total: u64,
    nonzero: u64,
}

impl io::Write for NonZero {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.total = self.total.saturating_add(buf.len() as u64);
        self.nonzero = self
            .nonzero
            .saturating_add(buf.iter().filter(|&&b| b != 0).count() as u64);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Walks a tar stream (possibly compressed) once.
pub(crate) fn walk_stream(
    input: &mut dyn Read,
    limits: &Limits,
    verify: bool,
    scan: crate::layer::ScanOptions,
) -> Result<Walk> {
    let mut input = Retry(input);
    let input = &mut input;
    let head = compress::read_head(input, compress::SNIFF_LEN).map_err(io_err(0, None))?;
    let compression = Compression::sniff(&head);
    let consumed = std::cell::Cell::new(0u64);
    let raw = compress::CountInto {
        inner: io::Cursor::new(head).chain(input),
        count: &consumed,
    };
    let decoded = compress::decoder(compression, raw).map_err(io_err(0, None))?;
    let mut decoded = compress::Bounded {
        inner: decoded,
        out: 0,
        consumed: &consumed,
        max_out: if compression == Compression::None {
            u64::MAX
        } else {
            limits.max_decompressed_bytes
        },
        max_ratio: if compression == Compression::None {
            u64::MAX
        } else {
            limits.max_decompression_ratio
        },
    };
    let tar_head = compress::read_head(&mut decoded, 512).map_err(io_err(0, None))?;
    check_tar_head(&tar_head)?;
    let mut pos = compress::Counting::new(io::Cursor::new(tar_head).chain(decoded));
    let kept = std::sync::atomic::AtomicU64::new(0);
    let policy = ContentPolicy {
        limits,
        kept_total: &kept,
        verify,
        scan,
    };
    let mut h = Headers::new(limits, compression);
    {
        let mut archive = tar::Archive::new(&mut pos);
        let entries = archive.entries().map_err(io_err(0, None))?;
        for entry in entries {
            let mut entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    if compress::LimitHit::of(&e).is_some() {
                        return Err(io_err(h.next_header, None)(e));
                    }
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
    // Whatever follows the last member.
    let at = pos.count;
    let saw_zero = !h.stopped && at > h.next_header;
    let tar_bytes = h
        .tail_from(&mut pos, at, saw_zero)
        .map_err(io_err(at, None))?;
    Ok(Walk {
        compression,
        members: h.members,
        tar_bytes,
        findings: h.findings,
        verified: verify,
    })
}
