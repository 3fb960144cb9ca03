//! The walk of a seekable, uncompressed tarball: index the members first (skipping their data
//! by seeking), then read the members on all cores, each worker with positioned reads of its
//! own, largest first so that the cores finish together.
//!
//! The result is the same as the streaming walk's (the tests compare the two on every input
//! of the suite): the same members, digests, scans and observations.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::compress::{self, Compression};
use crate::scan::layer;
use crate::scan::member::{Content, ContentPolicy};
use crate::scan::outer::{classify_head, trailing, Recorder};
use crate::scan::tar::{self, Flow, TarReader};
use crate::scan::{Head, ScanOptions, Walk};
use crate::{Error, Limits, Result};

/// A `Read` over `[pos, end)` of a file, by positioned reads (no shared cursor), seekable
/// within `[start, end)`.
pub(crate) struct Range<'f> {
    file: &'f File,
    start: u64,
    pos: u64,
    end: u64,
}

impl<'f> Range<'f> {
    pub(crate) fn new(file: &'f File, start: u64, end: u64) -> Self {
        Range {
            file,
            start,
            pos: start,
            end,
        }
    }
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
        let n = loop {
            match self.file.read_at(buf, self.pos) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => break other?,
            }
        };
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

/// Reads until `buf` is full or the file ends; returns the bytes read.
fn read_full_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut r = Range::new(file, offset, offset.saturating_add(buf.len() as u64));
    let mut got = 0usize;
    while let Some(rest) = buf.get_mut(got..) {
        if rest.is_empty() {
            break;
        }
        match r.read(rest)? {
            0 => break,
            n => got = got.saturating_add(n),
        }
    }
    Ok(got)
}

/// What reading one member's content gave: the member, its content, the error that stopped it.
type Res = (usize, Content, Option<io::Error>);

/// Pass 2 of [`walk_file`]: the contents of `items`, in parallel, largest first (on one
/// thread in archive order, so that a hook meets the members as a stream gives them: squash
/// writes in that order). The results come back in member order.
fn read_contents(
    file: &File,
    file_len: u64,
    rec: &Recorder<'_>,
    mut items: Vec<Item>,
    limits: &Limits,
    options: ScanOptions<'_>,
    threads: usize,
) -> Vec<Res> {
    if threads > 1 {
        items.sort_by(|a, b| b.size.cmp(&a.size).then(a.member.cmp(&b.member)));
    }
    let kept = AtomicU64::new(0);
    let workers = threads.clamp(1, 64).min(items.len().max(1));
    let policy = ContentPolicy {
        limits,
        kept_total: &kept,
        options: ScanOptions {
            progress: None,
            // The threads each member may use besides its worker's (a compressed layer's
            // hashes): none when the workers already take every core, where two more
            // threads per layer only add copies (zstd layers of the generated 2 GiB image on
            // two cores: 1.10 × the time without them).
            threads: threads.checked_div(workers).unwrap_or(1).max(1),
            ..options
        },
    };
    let done_bytes = AtomicU64::new(0);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Res>> = Mutex::new(Vec::with_capacity(items.len()));
    let work = || {
        let mut mine: Vec<Res> = Vec::new();
        loop {
            let k = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(k) else { break };
            let path = rec
                .members
                .get(item.member)
                .map(|m| m.path.clone())
                .unwrap_or_default();
            let range = Range::new(file, item.data, item.data.saturating_add(item.size));
            let (content, err) = if !options.verify && !policy.may_be_metadata(item.size) {
                // A layer: walk an uncompressed one's headers by seeking over its data.
                skim(file, range, &policy, &path, item.size, file_len)
            } else {
                // No read buffer: the parsers read in large blocks, and a buffer would only
                // add a copy.
                policy.process(range, &path, item.size)
            };
            mine.push((item.member, content, err));
            if let Some(p) = options.progress {
                p(done_bytes
                    .fetch_add(item.size, Ordering::Relaxed)
                    .saturating_add(item.size));
            }
        }
        if let Ok(mut all) = results.lock() {
            all.extend(mine);
        }
    };
    std::thread::scope(|s| {
        for _ in 1..workers {
            s.spawn(work);
        }
        work();
    });
    let mut results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    results.sort_by_key(|(i, _, _)| *i);
    results
}

/// Walks `file` if it is an uncompressed tar; `Ok(None)` when it is compressed or not a tar
/// (the caller streams it instead, which reports what it is).
pub(crate) fn walk_file(
    file: &File,
    limits: &Limits,
    options: ScanOptions<'_>,
    threads: usize,
) -> Result<Option<Walk>> {
    let read_err = |offset: u64| {
        move |source| Error::Read {
            offset,
            member: None,
            source,
        }
    };
    let file_len = file.metadata().map_err(read_err(0))?.len();
    let mut head = vec![0u8; compress::SNIFF_LEN];
    let got = read_full_at(file, &mut head, 0).map_err(read_err(0))?;
    head.truncate(got);
    if Compression::sniff(&head).is_compressed() || classify_head(&head) != Head::Tar {
        return Ok(None);
    }

    // Pass 1: headers only.
    let mut rec = Recorder::new(limits);
    rec.obs.head = Some(Head::Tar);
    let mut items = Vec::new();
    let src = tar::Seeking::new(BufReader::with_capacity(64 << 10, file), file_len);
    let mut reader = TarReader::new(src, layer::tar_limits(limits));
    let stopped = tar::walk(&mut reader, |h, _body| {
        if let Some(i) = rec.add(h)? {
            items.push(Item {
                member: i,
                data: h.data,
                size: h.size,
            });
        }
        Ok(Flow::Next)
    });
    let at = reader.pos();
    let end = rec.stopped(stopped, at, None, at)?;
    rec.obs.end = reader.end();
    rec.end_orphans(reader.end_orphans());
    rec.obs.tar_len = at;
    drop(reader);

    // Pass 2: member contents.
    let results = read_contents(file, file_len, &rec, items, limits, options, threads);
    for (i, content, err) in results {
        if let Some(m) = rec.members.get_mut(i) {
            m.set_content(content);
        }
        if let Some(e) = err {
            // A short member is seen in pass 1 (the truncation) and in the content as a count;
            // anything else is the file's or the hook's failure.
            let offset = rec.members.get(i).and_then(|m| m.offset).unwrap_or(0);
            rec.stopped(tar::Stopped::Failed(e), offset, Some(i), offset)?;
        }
    }

    if end == Some(tar::End::Marker) {
        let mut rest = Range::new(file, at, file_len);
        rec.obs.trailing = trailing(&mut rest, at, &mut rec.obs.stop);
    }
    rec.obs.input_len = file_len;
    Ok(Some(Walk {
        compression: Compression::None,
        members: rec.members,
        outer: rec.obs,
        verified: options.verify,
        directory: false,
    }))
}

/// A big member of a metadata-only read: an uncompressed layer's headers are walked by
/// seeking; anything else is left unread, except a compressed layer, which must be inflated
/// for its file sizes.
fn skim(
    file: &File,
    range: Range<'_>,
    policy: &ContentPolicy<'_>,
    path: &crate::path::EntryPath,
    size: u64,
    file_len: u64,
) -> (Content, Option<io::Error>) {
    let present = file_len.saturating_sub(range.start).min(size);
    let mut head = [0u8; 512];
    let got = match read_full_at(file, &mut head, range.start) {
        Ok(n) => n,
        Err(e) => return (Content::default(), Some(e)),
    };
    let head = head.get(..got).unwrap_or_default();
    if Compression::sniff(head).is_compressed() {
        return policy.process(BufReader::with_capacity(256 << 10, range), path, size);
    }
    if got == 512 && tar::looks_like_header(head) {
        let scan =
            layer::scan_headers_seek(range, present, policy.limits, policy.options.record_entries);
        return (
            Content {
                count: present,
                layer: Some(scan),
                ..Content::default()
            },
            None,
        );
    }
    (
        Content {
            count: present,
            ..Content::default()
        },
        None,
    )
}
