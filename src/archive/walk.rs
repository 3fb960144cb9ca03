//! The single pass over the outer tar.

use std::io::{self, Read};

use crate::archive::member::{Member, MemberKind};
use crate::compress::{self, Compression};
use crate::digest::HashingReader;
use crate::validate::{Code, Finding};
use crate::{layer, Error, Limits, Result};

/// What the pass over the outer archive collected.
pub(crate) struct Walk {
    pub compression: Compression,
    pub members: Vec<Member>,
    pub tar_bytes: u64,
    pub findings: Vec<Finding>,
}

/// Counts the bytes read and the non-zero ones among them.
struct Position<R> {
    inner: R,
    pos: u64,
    nonzero: u64,
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

/// Decides what to keep of a regular member and hashes it; shared by tar and directory input.
pub(crate) struct ContentPolicy<'a> {
    pub limits: &'a Limits,
    pub kept_total: u64,
    pub scan: layer::ScanOptions,
}

impl ContentPolicy<'_> {
    /// Reads `r` to its end. Returns (digest, bytes read, layer scan, kept data, too large).
    /// `Err` only when `r` fails.
    pub(crate) fn process<R: Read>(&mut self, r: R, name: &str, size: u64) -> io::Result<Content> {
        let mut blob = HashingReader::new(r);
        let head = compress::read_head(&mut blob, compress::SNIFF_LEN)?;
        let mut out = Content::default();
        let compressed = Compression::sniff(&head) != Compression::None;
        if compressed || (head.len() == 512 && compress::looks_like_tar(&head)) {
            out.layer = Some(layer::scan_blob(&head, &mut blob, self.limits, self.scan)?);
        } else if self.is_metadata_like(name, &head) {
            let budget_ok = self.kept_total.saturating_add(size) <= self.limits.max_metadata_total;
            if size <= self.limits.max_json_bytes && budget_ok {
                let mut data = head;
                (&mut blob)
                    .take(self.limits.max_json_bytes.saturating_add(1))
                    .read_to_end(&mut data)?;
                self.kept_total = self.kept_total.saturating_add(data.len() as u64);
                out.data = Some(data);
            } else {
                out.too_large = true;
            }
            blob.drain()?;
        } else {
            blob.drain()?;
        }
        let (digest, count) = blob.finish();
        out.digest = Some(digest);
        out.count = count;
        Ok(out)
    }

    fn is_metadata_like(&self, name: &str, head: &[u8]) -> bool {
        let first = head.iter().copied().find(|b| !b.is_ascii_whitespace());
        matches!(first, Some(b'{') | Some(b'[') | Some(b'n') | Some(b'"'))
            || crate::path::basename(name) == "VERSION"
            || name.ends_with(".json")
            || crate::path::basename(name) == "repositories"
            || crate::path::basename(name) == "oci-layout"
    }
}

#[derive(Default)]
pub(crate) struct Content {
    pub digest: Option<crate::Digest>,
    pub count: u64,
    pub layer: Option<layer::LayerScan>,
    pub data: Option<Vec<u8>>,
    pub too_large: bool,
}

/// Retries reads that fail with `Interrupted` (signals on a pipe), which the tar parser and
/// some decoders would otherwise pass up as errors.
struct Retry<R>(R);

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

/// Walks a tar stream (possibly compressed) once.
pub(crate) fn walk_stream(
    input: &mut dyn Read,
    limits: &Limits,
    scan: layer::ScanOptions,
) -> Result<Walk> {
    let mut input = Retry(input);
    let input = &mut input;
    let io_err = |offset: u64, entry: Option<String>| {
        move |source: io::Error| Error::Io {
            offset,
            entry,
            source,
        }
    };
    let head = compress::read_head(input, compress::SNIFF_LEN).map_err(io_err(0, None))?;
    let compression = Compression::sniff(&head);
    let raw = io::Cursor::new(head).chain(input);
    let mut decoded = compress::decoder(compression, raw).map_err(io_err(0, None))?;
    let tar_head = compress::read_head(&mut decoded, 512).map_err(io_err(0, None))?;
    if tar_head.is_empty() {
        return Err(Error::NotTar {
            offset: 0,
            reason: "the input is empty".into(),
        });
    }
    if !compress::looks_like_tar(&tar_head) {
        let what = if tar_head.len() < 512 {
            format!("only {} bytes, shorter than one tar block", tar_head.len())
        } else {
            "the first block is not a tar header (bad checksum)".to_string()
        };
        return Err(Error::NotTar {
            offset: 0,
            reason: what,
        });
    }
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
    let mut pos = Position {
        inner: io::Cursor::new(tar_head).chain(decoded),
        pos: 0,
        nonzero: 0,
    };
    let mut members: Vec<Member> = Vec::new();
    let mut policy = ContentPolicy {
        limits,
        kept_total: 0,
        scan,
    };
    let mut stopped = false;
    let mut next_header = 0u64;
    {
        let mut archive = tar::Archive::new(&mut pos);
        let entries = archive.entries().map_err(io_err(0, None))?;
        for entry in entries {
            let mut entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    let code = if e.kind() == io::ErrorKind::UnexpectedEof
                        || e.to_string().contains("entire block")
                    {
                        Code::TruncatedArchive
                    } else {
                        Code::CorruptHeader
                    };
                    findings.push(
                        Finding::new(
                            code,
                            format!("the outer tar stops parsing at byte {next_header}: {e}"),
                        )
                        .at_offset(next_header),
                    );
                    stopped = true;
                    break;
                }
            };
            if members.len() as u64 >= limits.max_members {
                return Err(Error::Limit {
                    limit: "max_members",
                    value: members.len() as u64 + 1,
                    max: limits.max_members,
                });
            }
            let offset = entry.raw_header_position();
            let size = entry.size();
            next_header = entry
                .raw_file_position()
                .saturating_add(size.div_ceil(512).saturating_mul(512));
            let name_bytes = entry.path_bytes();
            if name_bytes.len() as u64 > limits.max_path_bytes {
                return Err(Error::Limit {
                    limit: "max_path_bytes",
                    value: name_bytes.len() as u64,
                    max: limits.max_path_bytes,
                });
            }
            let name = String::from_utf8_lossy(&name_bytes).into_owned();
            let header = entry.header();
            let mode = header.mode().unwrap_or(0);
            let etype = header.entry_type();
            let link = || {
                entry
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default()
            };
            let kind = match etype {
                tar::EntryType::Regular | tar::EntryType::Continuous => MemberKind::File,
                tar::EntryType::Directory => MemberKind::Dir,
                tar::EntryType::Symlink => MemberKind::Symlink { target: link() },
                tar::EntryType::Link => MemberKind::Hardlink { target: link() },
                tar::EntryType::XGlobalHeader => continue,
                other => MemberKind::Other {
                    typeflag: other.as_byte(),
                },
            };
            let clean = crate::path::clean(&name);
            let mut member = Member {
                path: clean.path.clone(),
                name: name.clone(),
                offset: Some(offset),
                kind,
                size,
                mode,
                digest: None,
                layer: None,
                data: None,
                too_large: false,
            };
            if clean.escapes {
                findings.push(
                    Finding::new(
                        Code::UnsafePath,
                        format!("member name {name:?} climbs above the archive root"),
                    )
                    .at(clean.path.clone(), Some(offset)),
                );
            } else if clean.absolute {
                findings.push(
                    Finding::new(
                        Code::AbsolutePath,
                        format!("member name {name:?} is absolute; loaders strip the leading '/'"),
                    )
                    .at(clean.path.clone(), Some(offset)),
                );
            }
            if let MemberKind::Other { typeflag } = member.kind {
                if !matches!(typeflag, b'3' | b'4' | b'6') {
                    findings.push(
                        Finding::new(
                            Code::UnknownMemberType,
                            format!(
                                "member {name:?} has typeflag {:?}, which docker load rejects (\"unhandled tar header type\")",
                                typeflag as char
                            ),
                        )
                        .at(clean.path.clone(), Some(offset)),
                    );
                }
            }
            if member.kind == MemberKind::File {
                let content = policy
                    .process(&mut entry, &clean.path, size)
                    .map_err(io_err(offset, Some(name.clone())))?;
                if content.count < size {
                    findings.push(
                        Finding::new(
                            Code::TruncatedArchive,
                            format!(
                                "the archive ends inside {name:?}: {} of {size} bytes present",
                                content.count
                            ),
                        )
                        .at(clean.path.clone(), Some(offset)),
                    );
                    stopped = true;
                }
                member.digest = content.digest;
                member.layer = content.layer;
                member.data = content.data;
                member.too_large = content.too_large;
            }
            members.push(member);
            if stopped {
                break;
            }
        }
    }
    // Whatever follows the end-of-archive marker.
    let marker_end = pos.pos;
    let nonzero_before = pos.nonzero;
    if let Err(e) = io::copy(&mut pos, &mut io::sink()) {
        if !stopped {
            findings.push(
                Finding::new(
                    Code::TruncatedArchive,
                    format!("reading after the end of the archive failed: {e}"),
                )
                .at_offset(marker_end),
            );
        }
    }
    if !stopped {
        let trailing = pos.nonzero.saturating_sub(nonzero_before);
        if trailing > 0 {
            findings.push(
                Finding::new(
                    Code::TrailingData,
                    format!(
                        "{} bytes ({trailing} of them non-zero) follow the end-of-archive marker; tar readers ignore them",
                        pos.pos.saturating_sub(marker_end)
                    ),
                )
                .at_offset(marker_end),
            );
        }
        if marker_end == next_header && !members.is_empty() {
            findings.push(
                Finding::new(
                    Code::NoEndOfArchive,
                    "the archive has no end-of-archive blocks: it may have been cut short at a member boundary",
                )
                .at_offset(marker_end),
            );
        }
    }
    Ok(Walk {
        compression,
        members,
        tar_bytes: marker_end,
        findings,
    })
}
