//! The streaming walk over the outer archive (any reader, a pipe included), and what it
//! shares with the indexed walk of a seekable file: recording members from headers, and
//! turning why reading stopped into observations.

use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Mutex};

use crate::compress::{self, Compression, DecodeError, LimitHit};
use crate::path::EntryPath;
use crate::scan::member::{kind_of, Content, ContentPolicy, Member, MemberKind};
use crate::scan::pipeline;
use crate::scan::tar::{self, Flow, Stopped, TarError, TarReader};
use crate::scan::{Head, HookFailed, OuterObs, OuterStop, Retry, ScanOptions, Trailing, Walk};
use crate::{Error, Limits, Result};

/// Counts the raw input consumed and tells the progress callback.
pub(crate) struct RawCount<'a, R> {
    pub inner: R,
    pub count: &'a AtomicU64,
    pub progress: Option<&'a (dyn Fn(u64) + Sync)>,
    pub reported: u64,
}

impl<R: Read> Read for RawCount<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let total = self
            .count
            .fetch_add(n as u64, Ordering::Relaxed)
            .saturating_add(n as u64);
        if let Some(p) = self.progress {
            if total.saturating_sub(self.reported) >= 1 << 20 || n == 0 {
                self.reported = total;
                p(total);
            }
        }
        Ok(n)
    }
}

/// Ends a member's content where the input ends inside it, instead of failing: the member
/// is then read as far as it goes (its layer scan, if any, says where it stops), exactly as a
/// short member of a seekable file is; the walk then meets the end and reports the cut.
pub(crate) struct EofOnCut<R>(pub R);

impl<R: Read> Read for EofOnCut<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.0.read(buf) {
            Err(e) if tar::Cut::of(&e).is_some() => Ok(0),
            other => other,
        }
    }
}

/// How the first block of the decompressed stream looks.
pub(crate) fn classify_head(tar_head: &[u8]) -> Head {
    if tar_head.is_empty() {
        return Head::Empty;
    }
    let inner = Compression::sniff(tar_head);
    if tar_head.len() < 512 {
        if inner.is_compressed() {
            return Head::DoubleCompressed(inner);
        }
        return Head::Short(tar_head.len() as u64);
    }
    if tar::looks_like_header(tar_head) {
        return Head::Tar;
    }
    if inner.is_compressed() {
        return Head::DoubleCompressed(inner);
    }
    Head::NotTar
}

/// What bytes that are not a tar look like, from their first bytes.
pub(crate) fn looks_like(head: &[u8]) -> Option<&'static str> {
    let trimmed: &[u8] = {
        let start = head
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(head.len());
        head.get(start..).unwrap_or_default()
    };
    Some(match head {
        [b'P', b'K', 3, 4, ..] => "a zip archive",
        [0x7f, b'E', b'L', b'F', ..] => "an ELF executable",
        [0x89, b'P', b'N', b'G', ..] => "a PNG image",
        [b'%', b'P', b'D', b'F', ..] => "a PDF document",
        [b'!', b'<', b'a', b'r', b'c', b'h', b'>', ..] => "an ar archive (a .deb package?)",
        [0xed, 0xab, 0xee, 0xdb, ..] => "an RPM package",
        [b'S', b'Q', b'L', b'i', b't', b'e', ..] => "an SQLite database",
        [b'Q', b'F', b'I', 0xfb, ..] => "a qcow2 disk image",
        _ if matches!(trimmed.first(), Some(b'{') | Some(b'[')) => {
            "a JSON document (give the whole archive, not one of its documents)"
        }
        _ if !head.is_empty() && std::str::from_utf8(head).is_ok() => "text",
        _ => return None,
    })
}

/// Records members from headers, with the limits on their number and names.
pub(crate) struct Recorder<'l> {
    pub limits: &'l Limits,
    pub members: Vec<Member>,
    pub obs: OuterObs,
}

impl<'l> Recorder<'l> {
    pub(crate) fn new(limits: &'l Limits) -> Self {
        Recorder {
            limits,
            members: Vec::new(),
            obs: OuterObs::default(),
        }
    }

    /// Records the extension headers the end of the archive left pending (they apply to no
    /// member: Go drops them, a reader going on past the end blocks applies them to what
    /// follows).
    pub(crate) fn end_orphans(&mut self, orphans: &[tar::Note]) {
        for n in orphans {
            if let tar::Note::Orphaned { at, .. } = *n {
                self.obs.notes.push((at, n.clone()));
            }
        }
    }

    /// Records a header. Returns the member's index when it is a regular file whose content
    /// must be read; a limit passed is an error carrying a [`LimitHit`].
    pub(crate) fn add(&mut self, h: &tar::Header) -> io::Result<Option<usize>> {
        for n in &h.notes {
            self.obs.notes.push((h.offset, n.clone()));
        }
        let Some(kind) = kind_of(h) else {
            let keys = h
                .pax_keys
                .iter()
                .map(|k| String::from_utf8_lossy(k).into_owned())
                .collect();
            self.obs.global_headers.push((h.offset, keys));
            return Ok(None);
        };
        if self.members.len() as u64 >= self.limits.max_members {
            return Err(io::Error::other(LimitHit {
                limit: "max_members",
                value: (self.members.len() as u64).saturating_add(1),
                max: self.limits.max_members,
            }));
        }
        if h.name.len() as u64 > self.limits.max_path_bytes {
            return Err(io::Error::other(LimitHit {
                limit: "max_path_bytes",
                value: h.name.len() as u64,
                max: self.limits.max_path_bytes,
            }));
        }
        let is_file = kind == MemberKind::File;
        let mut m = Member::new(
            h.name.clone(),
            Some(h.offset),
            kind,
            h.size,
            u32::try_from(h.mode & 0o7777).unwrap_or(0),
        );
        m.start = Some(h.start);
        m.data_offset = Some(h.data);
        if !is_file {
            m.presence = crate::scan::member::Presence::Complete;
        }
        m.notes = h.notes.clone();
        self.members.push(m);
        Ok(is_file.then(|| self.members.len().saturating_sub(1)))
    }

    /// The member whose header is at `offset`.
    pub(crate) fn by_offset(&self, offset: u64) -> Option<usize> {
        self.members.iter().rposition(|m| m.offset == Some(offset))
    }

    /// Turns why the walk stopped into observations. `Err` for what is not the data's fault:
    /// the underlying reader failed, or the hook did. `current` is the member whose content
    /// was being read, `raw` the raw input offset.
    pub(crate) fn stopped(
        &mut self,
        stopped: Stopped,
        at: u64,
        current: Option<usize>,
        raw: u64,
    ) -> Result<Option<tar::End>> {
        let err = match stopped {
            Stopped::End(e) => return Ok(Some(e)),
            Stopped::Visitor => return Ok(None),
            Stopped::Error(TarError::Truncated {
                at,
                part,
                entry,
                declared,
                present,
            }) => {
                let member = entry.and_then(|o| self.by_offset(o));
                self.obs.stop = Some(OuterStop::Truncated {
                    at,
                    part,
                    member,
                    declared,
                    present,
                });
                return Ok(None);
            }
            Stopped::Error(TarError::Header { at, problem }) => {
                self.obs.stop = Some(OuterStop::Header { at, problem });
                return Ok(None);
            }
            Stopped::Error(TarError::Source(e)) | Stopped::Failed(e) => e,
        };
        if let Some(hit) = LimitHit::of(&err) {
            self.obs.stop = Some(OuterStop::Limit {
                limit: hit.limit,
                value: hit.value,
                max: hit.max,
                at,
                member: current,
            });
            return Ok(None);
        }
        if let Some(d) = DecodeError::of(&err) {
            self.obs.stop = Some(OuterStop::Decode {
                failure: d.failure,
                consumed: d.consumed,
                produced: d.produced,
                member: current,
                message: d.message.clone(),
            });
            return Ok(None);
        }
        if let Some(cut) = tar::Cut::of(&err) {
            self.obs.stop = Some(OuterStop::Truncated {
                at: cut.at,
                part: tar::Part::Data,
                member: self.by_offset(cut.entry),
                declared: cut.declared,
                present: cut.present,
            });
            return Ok(None);
        }
        let member = current
            .and_then(|i| self.members.get(i))
            .map(|m| m.name_lossy());
        if crate::error::find_in::<HookFailed>(&err).is_some() {
            let source = match err.into_inner().map(|b| b.downcast::<HookFailed>()) {
                Some(Ok(h)) => h.0,
                Some(Err(other)) => io::Error::other(other),
                None => io::Error::other("the content visitor failed"),
            };
            return Err(Error::Visit { member, source });
        }
        Err(Error::Read {
            offset: raw,
            member,
            source: err,
        })
    }
}

/// Reads what follows the end-of-archive marker: counts the bytes and the non-zero ones, and
/// notices a second archive. A decoder failure there is kept in the result (the archive
/// itself is complete, but its compressed stream was cut or changed after it); a
/// decompression limit is kept in `stop`, since what lies beyond it was not read (a bomb
/// appended after the archive).
pub(crate) fn trailing<R: Read + ?Sized>(
    r: &mut R,
    at: u64,
    stop: &mut Option<OuterStop>,
) -> Option<Trailing> {
    let mut t = Trailing {
        at,
        ..Trailing::default()
    };
    let mut buf = vec![0u8; 64 << 10];
    let mut first_block: Option<Vec<u8>> = None;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                if let Some(d) = DecodeError::of(&e) {
                    t.decode = Some(d.clone());
                }
                if let Some(hit) = LimitHit::of(&e) {
                    *stop = Some(OuterStop::Limit {
                        limit: hit.limit,
                        value: hit.value,
                        max: hit.max,
                        at: at.saturating_add(t.total),
                        member: None,
                    });
                }
                break;
            }
            Ok(n) => n,
        };
        let chunk = buf.get(..n).unwrap_or_default();
        t.total = t.total.saturating_add(n as u64);
        let nz = chunk.iter().filter(|&&b| b != 0).count() as u64;
        if nz > 0 && first_block.is_none() {
            let pos = chunk.iter().position(|&b| b != 0).unwrap_or(0);
            let start = pos.saturating_sub(pos % 512);
            first_block = Some(
                chunk
                    .get(start..)
                    .unwrap_or_default()
                    .iter()
                    .take(512)
                    .copied()
                    .collect(),
            );
        }
        t.nonzero = t.nonzero.saturating_add(nz);
    }
    if t.total == 0 && t.decode.is_none() {
        return None;
    }
    if let Some(b) = first_block {
        t.set_first_block(&b);
    }
    Some(t)
}

/// Walks a tar stream (possibly compressed) once.
pub(crate) fn walk_stream(
    input: &mut dyn Read,
    limits: &Limits,
    options: ScanOptions<'_>,
) -> Result<Walk> {
    let raw_count = AtomicU64::new(0);
    let mut raw = RawCount {
        inner: Retry(input),
        count: &raw_count,
        progress: options.progress,
        reported: 0,
    };
    let read_err = |offset: u64| {
        move |source| Error::Read {
            offset,
            member: None,
            source,
        }
    };
    let head = compress::read_head(&mut raw, compress::SNIFF_LEN).map_err(read_err(0))?;
    let compression = Compression::sniff(&head);
    let mut decoded = compress::decoder(compression, io::Cursor::new(head).chain(raw), limits);
    let mut rec = Recorder::new(limits);
    let mut walk = Walk {
        compression,
        members: Vec::new(),
        outer: OuterObs::default(),
        verified: options.verify,
        directory: false,
    };
    let tar_head = match compress::read_head(&mut decoded, 512) {
        Ok(h) => h,
        Err(e) => {
            rec.stopped(
                Stopped::Failed(e),
                0,
                None,
                raw_count.load(Ordering::Relaxed),
            )?;
            rec.obs.input_len = raw_count.load(Ordering::Relaxed);
            walk.outer = rec.obs;
            return Ok(walk);
        }
    };
    let head = classify_head(&tar_head);
    rec.obs.head = Some(head);
    if let Head::DoubleCompressed(inner) = head {
        // Compressed twice: the loaders that decompress once refuse it (the finding says so),
        // but what is inside is still read, so the archive can be explained.
        let mut twice = compress::decoder(
            inner,
            io::Cursor::new(tar_head.clone()).chain(&mut decoded),
            limits,
        );
        if let Ok(h) = compress::read_head(&mut twice, 512) {
            if classify_head(&h) == Head::Tar {
                walk_members(&mut rec, h, &mut twice, &raw_count, limits, options)?;
                rec.obs.input_len = raw_count.load(Ordering::Relaxed);
                walk.members = rec.members;
                walk.outer = rec.obs;
                return Ok(walk);
            }
        }
        // Not a tar inside either: count the rest, as for any input that is no tar.
        let _ = io::copy(&mut twice, &mut io::sink());
    }
    if head != Head::Tar {
        rec.obs.looks_like = looks_like(&tar_head);
        // Count the rest, so the report can say how much input there was.
        let _ = io::copy(&mut decoded, &mut io::sink());
        rec.obs.input_len = raw_count.load(Ordering::Relaxed);
        rec.obs.tar_len = decoded.produced();
        walk.outer = rec.obs;
        return Ok(walk);
    }
    walk_members(
        &mut rec,
        tar_head,
        &mut decoded,
        &raw_count,
        limits,
        options,
    )?;
    rec.obs.input_len = raw_count.load(Ordering::Relaxed);
    walk.members = rec.members;
    walk.outer = rec.obs;
    Ok(walk)
}

/// Members at least this large, which look like layers, are processed on a worker thread
/// while the walk reads on (smaller ones are not worth the hand-over).
const PARALLEL_MIN: u64 = 1 << 20;

/// A member handed to a worker.
struct Job<'b> {
    member: usize,
    path: EntryPath,
    size: u64,
    feed: pipeline::Feed<'b>,
}

/// What a worker made of a member.
type Done = (usize, Content, Option<io::Error>);

/// The walk's side of the hand-over to workers.
struct Handover<'p, 'b> {
    workers: usize,
    policy: &'p ContentPolicy<'p>,
    budget: &'b pipeline::Budget,
    jobs: &'p mpsc::Sender<Job<'b>>,
    done: &'p mpsc::Receiver<Done>,
    /// Members handed over whose result has not been applied.
    pending: usize,
}

impl Handover<'_, '_> {
    /// Processes member `member` (its `body` of `size` bytes) when it is for a worker: hands
    /// it over and copies its bytes into the worker's feed, or reads it here when it is a
    /// document. `None` leaves it to the walk (no workers, or a small member).
    fn take(
        &mut self,
        member: usize,
        path: EntryPath,
        size: u64,
        body: &mut dyn Read,
        rec: &mut Recorder<'_>,
    ) -> Option<(Content, Option<io::Error>)> {
        if self.workers == 0 || size < PARALLEL_MIN {
            return None;
        }
        // Only what looks like a layer goes to a worker: metadata documents are kept in
        // archive order (their memory budget is charged in that order).
        let head = match read_head(&mut *body) {
            Ok(h) => h,
            Err((n, e)) => return Some((compress_count(n), Some(e))),
        };
        let layer_like = Compression::sniff(&head).is_compressed()
            || (head.len() == 512 && tar::looks_like_header(&head));
        if !layer_like {
            return Some(
                self.policy
                    .process(io::Cursor::new(head).chain(body), &path, size),
            );
        }
        let (mut sink, feed) = pipeline::channel(self.budget);
        let job = Job {
            member,
            path,
            size,
            feed,
        };
        if let Err(mpsc::SendError(job)) = self.jobs.send(job) {
            // No worker left: read it here.
            drop(sink);
            return Some(
                self.policy
                    .process(io::Cursor::new(head).chain(body), &job.path, size),
            );
        }
        self.pending = self.pending.saturating_add(1);
        let n = head.len() as u64;
        sink.send(head);
        let (copied, failed) = sink.pump(body);
        drop(sink);
        // Apply what is done meanwhile, so results do not pile up.
        while let Ok(d) = self.done.try_recv() {
            self.pending = self.pending.saturating_sub(1);
            apply(rec, d);
        }
        match failed {
            // The walk stops here: wait for the workers, then report this member as the
            // walk's own processing would (what was read counted, nothing learned).
            Some(e) => {
                while self.pending > 0 {
                    let Ok(d) = self.done.recv() else { break };
                    self.pending = self.pending.saturating_sub(1);
                    if d.0 != member {
                        apply(rec, d);
                    }
                }
                Some((compress_count(n.saturating_add(copied)), Some(e)))
            }
            // Deferred: the worker's result is applied when it arrives.
            None => Some((Content::deferred(), None)),
        }
    }
}

/// Walks the members of the tar whose first block is `tar_head` and whose rest `decoded`
/// gives, recording them in `rec`.
///
/// With three threads or more and no content hook, a member that looks like a layer (and is
/// not small) is handed to a worker as it streams by: the walk copies its bytes into the
/// worker's feed and reads on, so member k is hashed, inflated and walked while member k+1 is
/// read. The bytes in flight are bounded by [`Limits::max_in_flight_bytes`]. What a worker
/// reports is applied exactly as the same processing on the walk's thread would be: the
/// result does not depend on the number of threads.
///
/// Two threads are already busy without workers (an input is read ahead on its own thread
/// while this one hashes), so workers start from the third: on two cores the hand-over only
/// added a copy (`cat 1GiB.tar | imgtar validate -`: 1.20 s with one worker, 1.00 s without,
/// on an idle 2-core machine).
fn walk_members(
    rec: &mut Recorder<'_>,
    tar_head: Vec<u8>,
    decoded: &mut dyn Read,
    raw_count: &AtomicU64,
    limits: &Limits,
    options: ScanOptions<'_>,
) -> Result<()> {
    let kept = AtomicU64::new(0);
    let policy = ContentPolicy {
        limits,
        kept_total: &kept,
        options,
    };
    let workers = if options.hook.is_none() {
        options.threads.saturating_sub(2).min(16)
    } else {
        0
    };
    let budget = pipeline::Budget::new(limits.max_in_flight_bytes);
    let (job_tx, job_rx) = mpsc::channel::<Job<'_>>();
    let job_rx = Mutex::new(job_rx);
    let (done_tx, done_rx) = mpsc::channel::<Done>();
    std::thread::scope(|s| {
        for _ in 0..workers {
            let done_tx = done_tx.clone();
            let (job_rx, policy) = (&job_rx, &policy);
            s.spawn(move || loop {
                let job = match job_rx.lock() {
                    Ok(rx) => rx.recv(),
                    Err(_) => return,
                };
                let Ok(job) = job else { return };
                let (content, err) = policy.process(job.feed, &job.path, job.size);
                if done_tx.send((job.member, content, err)).is_err() {
                    return;
                }
            });
        }
        drop(done_tx);
        let mut hand = Handover {
            workers,
            policy: &policy,
            budget: &budget,
            jobs: &job_tx,
            done: &done_rx,
            pending: 0,
        };
        let result = walk_tar(
            rec,
            tar_head,
            decoded,
            raw_count,
            limits,
            &policy,
            |member, path, size, body, rec| hand.take(member, path, size, body, rec),
        );
        drop(job_tx);
        for d in done_rx.iter() {
            apply(rec, d);
        }
        result
    })
}

/// Applies a worker's result to its member.
fn apply(rec: &mut Recorder<'_>, (i, content, _err): Done) {
    // Without a hook a worker's processing fails only with its feed, which never fails: the
    // error of a member is the walk's own, handled where it reads.
    if let Some(m) = rec.members.get_mut(i) {
        m.set_content(content);
    }
}

/// The first bytes of a member, as [`compress::read_head`] reads them; on failure, how many
/// bytes were read before it (the walk's own processing would count them).
fn read_head(r: &mut dyn Read) -> std::result::Result<Vec<u8>, (u64, io::Error)> {
    let mut head = vec![0u8; compress::SNIFF_LEN];
    let (filled, failure) = pipeline::fill(r, &mut head);
    if let Some(e) = failure {
        return Err((filled as u64, e));
    }
    head.truncate(filled);
    Ok(head)
}

/// A content that only counts bytes read.
fn compress_count(count: u64) -> Content {
    Content {
        count,
        ..Content::default()
    }
}

/// The tar walk itself: records each member, processes its content (through `offload` when
/// it takes the member, else on this thread), and records how the walk ended.
#[allow(clippy::too_many_arguments)]
fn walk_tar<F>(
    rec: &mut Recorder<'_>,
    tar_head: Vec<u8>,
    decoded: &mut dyn Read,
    raw_count: &AtomicU64,
    limits: &Limits,
    policy: &ContentPolicy<'_>,
    mut offload: F,
) -> Result<()>
where
    F: FnMut(
        usize,
        EntryPath,
        u64,
        &mut dyn Read,
        &mut Recorder<'_>,
    ) -> Option<(Content, Option<io::Error>)>,
{
    let mut reader = TarReader::new(
        tar::Stream(io::Cursor::new(tar_head).chain(&mut *decoded)),
        crate::scan::layer::tar_limits(limits),
    );
    let mut current: Option<usize> = None;
    let stopped = tar::walk(&mut reader, |h, body| {
        let Some(i) = rec.add(h)? else {
            return Ok(Flow::Next);
        };
        current = Some(i);
        let path: EntryPath = rec
            .members
            .get(i)
            .map(|m| m.path.clone())
            .unwrap_or_default();
        let mut body = EofOnCut(body);
        let (content, err) = match offload(i, path.clone(), h.size, &mut body, rec) {
            Some(r) => r,
            None => policy.process(body, &path, h.size),
        };
        if !content.is_deferred() {
            if let Some(m) = rec.members.get_mut(i) {
                m.set_content(content);
            }
        }
        if let Some(e) = err {
            return Err(e);
        }
        current = None;
        Ok(Flow::Next)
    });
    let at = reader.pos();
    let end = rec.stopped(stopped, at, current, raw_count.load(Ordering::Relaxed))?;
    rec.obs.end = reader.end();
    rec.end_orphans(reader.end_orphans());
    rec.obs.tar_len = at;
    drop(reader);
    if end == Some(tar::End::Marker) {
        rec.obs.trailing = trailing(decoded, at, &mut rec.obs.stop);
    } else if rec.obs.stop.is_some() {
        // Count what is left, so the report can say how much input there was.
        let _ = io::copy(&mut *decoded, &mut io::sink());
    }
    Ok(())
}
