//! The walk of a seekable, uncompressed tarball: index the members first (skipping their data
//! by seeking), then read the members on all cores, each worker with positioned reads of its
//! own, largest first so that the cores finish together.
//!
//! The result is the same as the streaming walk's (the tests compare the two on every corpus
//! file): the same members, digests, scans and findings.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::archive::content::{Content, ContentPolicy};
use crate::archive::walk::{check_tar_head, io_err, Headers, Walk};
use crate::compress::{self, Compression};
use crate::{Limits, Result};

/// A `Read` over `[pos, end)` of a file, by positioned reads (no shared cursor), seekable
/// within `[start, end)`.
struct Range<'f> {
    file: &'f File,
    start: u64,
    pos: u64,
    end: u64,
}

impl io::Seek for Range<'_> {
    fn seek(&mut self, to: io::SeekFrom) -> io::Result<u64> {
        let target = match to {
            io::SeekFrom::Start(n) => self.start.checked_add(n),
            io::SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            io::SeekFrom::End(d) => self.end.checked_add_signed(d),
        };
        match target {
            Some(t) if t >= self.start => {
                self.pos = t;
                Ok(t.saturating_sub(self.start))
            }
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek outside the member",
            )),
        }
    }
}

impl Read for Range<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.end.saturating_sub(self.pos);
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let Some(buf) = buf.get_mut(..want) else {
            return Ok(0);
        };
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.file.read_at(buf, self.pos)?;
        self.pos = self.pos.saturating_add(n as u64);
        Ok(n)
    }
}

/// Where a regular member's data is.
struct Item {
    member: usize,
    data: u64,
    size: u64,
}

/// Walks `file` if it is an uncompressed tar; `Ok(None)` when it is compressed (the caller
/// streams it instead).
pub(crate) fn walk_file(
    file: &File,
    limits: &Limits,
    verify: bool,
    scan: crate::layer::ScanOptions,
    threads: usize,
) -> Result<Option<Walk>> {
    let file_len = file.metadata().map_err(io_err(0, None))?.len();
    let mut head = vec![0u8; compress::SNIFF_LEN];
    let got = read_full_at(file, &mut head, 0).map_err(io_err(0, None))?;
    head.truncate(got);
    if Compression::sniff(&head) != Compression::None {
        return Ok(None);
    }
    check_tar_head(&head)?;

    // Pass 1: headers only.
    let mut h = Headers::new(limits, Compression::None);
    let mut items = Vec::new();
    {
        let mut archive = tar::Archive::new(BufReader::with_capacity(64 << 10, file));
        let entries = archive.entries_with_seek().map_err(io_err(0, None))?;
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                // tar-rs's seeking walk reports the end of the file right after a member as
                // an error; the streaming walk sees a clean end there.
                Err(_) if h.next_header >= file_len => break,
                Err(e) => {
                    h.error(&e);
                    break;
                }
            };
            if let Some(i) = h.add(&entry)? {
                let data = entry.raw_file_position();
                let size = entry.size();
                let present = file_len.saturating_sub(data);
                items.push(Item {
                    member: i,
                    data,
                    size,
                });
                if present < size {
                    h.truncated(i, present);
                    break;
                }
                if file_len < h.next_header {
                    h.cut_short();
                    break;
                }
            }
        }
    }

    // Pass 2: member contents, in parallel.
    items.sort_by(|a, b| b.size.cmp(&a.size).then(a.member.cmp(&b.member)));
    let kept = AtomicU64::new(0);
    let policy = ContentPolicy {
        limits,
        kept_total: &kept,
        verify,
        scan,
    };
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, io::Result<Content>)>> =
        Mutex::new(Vec::with_capacity(items.len()));
    let work = || {
        let mut mine = Vec::new();
        loop {
            let k = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(k) else { break };
            let name = h
                .members
                .get(item.member)
                .map(|m| m.path.as_str())
                .unwrap_or("");
            let range = Range {
                file,
                start: item.data,
                pos: item.data,
                end: item.data.saturating_add(item.size),
            };
            if !verify && !policy.may_be_metadata(item.size) {
                // A layer: walk an uncompressed one's headers by seeking over its data.
                mine.push((item.member, skim(file, range, limits, scan)));
                continue;
            }
            // No read buffer: the parsers read in large blocks, and a buffer would only add a copy.
            let r = policy.process(range, name, item.size);
            mine.push((item.member, r));
        }
        if let Ok(mut all) = results.lock() {
            all.extend(mine);
        }
    };
    let threads = threads.clamp(1, 64).min(items.len().max(1));
    std::thread::scope(|s| {
        for _ in 1..threads {
            s.spawn(work);
        }
        work();
    });
    let mut results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    results.sort_by_key(|(i, _)| *i);
    for (i, r) in results {
        let offset = h.members.get(i).and_then(|m| m.offset).unwrap_or(0);
        let name = h.members.get(i).map(|m| m.name.clone());
        let content = r.map_err(io_err(offset, name))?;
        if let Some(m) = h.members.get_mut(i) {
            m.set_content(content);
        }
    }

    // What follows the last member: where the tar parser stopped is just after a zero block
    // at `next_header`, or the end of the file.
    let mut block = [0u8; 512];
    let got = read_full_at(file, &mut block, h.next_header).map_err(io_err(h.next_header, None))?;
    let saw_zero = !h.stopped && got == 512 && block.iter().all(|&b| b == 0);
    let at = if saw_zero {
        h.next_header.saturating_add(512)
    } else if h.stopped {
        file_len
    } else {
        h.next_header
    };
    let mut rest = Range {
        file,
        start: at,
        pos: at,
        end: file_len,
    };
    let tar_bytes = h
        .tail_from(&mut rest, at, saw_zero)
        .map_err(io_err(at, None))?;
    Ok(Some(Walk {
        compression: Compression::None,
        members: h.members,
        tar_bytes,
        findings: h.findings,
        verified: verify,
    }))
}

/// A big member of a metadata-only read: an uncompressed layer's headers are walked by
/// seeking; anything else is left unread, except a compressed layer, which must be inflated
/// for its file sizes.
fn skim(
    file: &File,
    range: Range<'_>,
    limits: &Limits,
    scan: crate::layer::ScanOptions,
) -> io::Result<Content> {
    let mut head = [0u8; 512];
    let got = read_full_at(file, &mut head, range.start)?;
    let head = head.get(..got).unwrap_or_default();
    let size = range.end.saturating_sub(range.start);
    if Compression::sniff(head) != Compression::None {
        let kept = AtomicU64::new(0);
        let policy = ContentPolicy {
            limits,
            kept_total: &kept,
            verify: false,
            scan,
        };
        return policy.process(BufReader::with_capacity(256 << 10, range), "", size);
    }
    if got == 512 && compress::looks_like_tar(head) {
        // No read buffer: a buffer is dropped at every seek, and headers are read in exact
        // 512-byte blocks anyway.
        let layer = crate::layer::scan_headers_seek(range, size, limits, scan);
        return Ok(Content {
            count: size,
            layer: Some(layer),
            ..Content::default()
        });
    }
    Ok(Content {
        count: size,
        ..Content::default()
    })
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
fn read_full_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut got = 0usize;
    while let Some(rest) = buf.get_mut(got..) {
        if rest.is_empty() {
            break;
        }
        match file.read_at(rest, offset.saturating_add(got as u64)) {
            Ok(0) => break,
            Ok(n) => got = got.saturating_add(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}
