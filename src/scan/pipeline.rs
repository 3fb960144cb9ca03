//! Handing a stream's bytes to other threads: a byte budget shared by everything in flight,
//! and a reader fed by a channel that gives its bytes back to the budget as it consumes
//! them. The streaming walk uses it so that member k is hashed (and its layer inflated and
//! walked) on a worker while member k+1 is read from the pipe; a compressed layer's scan uses
//! it to inflate on one thread while another hashes and walks what came out.
//!
//! Memory is bounded by the budget ([`Limits::max_in_flight_bytes`](crate::Limits)), whatever
//! the input: a producer waits while the bytes it sent are not yet consumed.

use std::io::{self, Read};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Condvar, Mutex, PoisonError};

use crate::digest::{Digest, Hasher};

/// Size of the chunks handed over.
pub(crate) const CHUNK: usize = 1 << 20;

/// Bytes in flight between producers and consumers, with a maximum.
pub(crate) struct Budget {
    used: Mutex<u64>,
    freed: Condvar,
    max: u64,
}

impl Budget {
    pub(crate) fn new(max: u64) -> Budget {
        Budget {
            used: Mutex::new(0),
            freed: Condvar::new(),
            // One chunk must always fit, or nothing could move.
            max: max.max(CHUNK as u64),
        }
    }

    /// Waits until `n` more bytes fit, then counts them.
    pub(crate) fn take(&self, n: u64) {
        let mut used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
        while used.saturating_add(n) > self.max && *used > 0 {
            used = self
                .freed
                .wait(used)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *used = used.saturating_add(n);
    }

    /// Gives `n` bytes back.
    pub(crate) fn give(&self, n: u64) {
        if n == 0 {
            return;
        }
        let mut used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
        *used = used.saturating_sub(n);
        self.freed.notify_all();
    }
}

/// A chunk in flight: its bytes count against the budget until it is dropped (read, or
/// dropped unread with the channel), so the budget can never leak.
struct Chunk<'b> {
    data: Vec<u8>,
    budget: &'b Budget,
}

impl Drop for Chunk<'_> {
    fn drop(&mut self) {
        self.budget.give(self.data.len() as u64);
    }
}

/// The sending end of a [`Feed`].
pub(crate) struct Sink<'b> {
    tx: Option<Sender<Chunk<'b>>>,
    budget: &'b Budget,
}

impl Sink<'_> {
    /// Sends a chunk (waiting for room in the budget). False when the reader is gone (it
    /// stopped reading): the chunk is dropped and its bytes given back.
    pub(crate) fn send(&mut self, data: Vec<u8>) -> bool {
        self.budget.take(data.len() as u64);
        let chunk = Chunk {
            data,
            budget: self.budget,
        };
        let sent = self.tx.as_ref().is_some_and(|tx| tx.send(chunk).is_ok());
        if !sent {
            self.tx = None;
        }
        sent
    }

    /// Copies `r` to the feed in chunks until `r` ends; returns the bytes copied, or the error
    /// of `r` with the bytes copied before it. When the reader is gone the rest of `r` is
    /// still read (and dropped), so that `r` ends where it would have.
    pub(crate) fn pump<R: Read>(&mut self, mut r: R) -> (u64, Option<io::Error>) {
        let mut total = 0u64;
        loop {
            let mut buf = vec![0u8; CHUNK];
            let (filled, failure) = fill(&mut r, &mut buf);
            buf.truncate(filled);
            total = total.saturating_add(filled as u64);
            let ended = filled < CHUNK || failure.is_some();
            if filled > 0 {
                self.send(buf);
            }
            if ended {
                return (total, failure);
            }
        }
    }
}

pub(crate) use crate::compress::fill;

/// A reader over the chunks a [`Sink`] sends; it ends when the sink is dropped.
pub(crate) struct Feed<'b> {
    rx: Receiver<Chunk<'b>>,
    current: Option<Chunk<'b>>,
    at: usize,
}

/// A connected sink and feed sharing `budget`.
pub(crate) fn channel(budget: &Budget) -> (Sink<'_>, Feed<'_>) {
    let (tx, rx) = mpsc::channel();
    (
        Sink {
            tx: Some(tx),
            budget,
        },
        Feed {
            rx,
            current: None,
            at: 0,
        },
    )
}

impl Read for Feed<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let len = self.current.as_ref().map_or(0, |c| c.data.len());
            if self.at < len {
                break;
            }
            // Dropping the consumed chunk gives its bytes back.
            self.current = None;
            self.at = 0;
            match self.rx.recv() {
                Ok(chunk) => self.current = Some(chunk),
                Err(_) => return Ok(0),
            }
        }
        let rest = self
            .current
            .as_ref()
            .and_then(|c| c.data.get(self.at..))
            .unwrap_or_default();
        let n = rest.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), rest.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.at = self.at.saturating_add(n);
        Ok(n)
    }
}

/// Size of the chunks handed to a hashing thread: small enough to stay in the caches of both
/// cores, large enough that the hand-over costs nothing next to the hashing.
const HASH_CHUNK: usize = 256 << 10;

/// Chunks of one stream that may be in flight to its hashing thread (the thread gives each
/// back when it has hashed it, and the reader waits for one when all are out).
const HASH_CHUNKS: usize = 8;

/// A sha256 over the bytes read through it, computed on this thread or on a thread of its own.
///
/// On its own thread the bytes are copied into owned chunks (recycled) and handed over, so the
/// reading thread only copies: a compressed layer's scan reads, inflates and walks the tar's
/// headers while two other threads hash the blob and what it inflates to. At most
/// `HASH_CHUNKS` chunks of `HASH_CHUNK` bytes are in flight per stream (fewer when
/// [`Limits::max_in_flight_bytes`](crate::Limits) is smaller, and at least one): the hashing
/// thread waits for nothing but its chunks, so the reader's wait always ends. The digest is
/// the same either way.
pub(crate) struct Hashing<R> {
    inner: R,
    hash: Hash,
}

enum Hash {
    Here(Hasher, u64),
    Away(Away),
}

struct Away {
    tx: Option<Sender<Vec<u8>>>,
    spare: Receiver<Vec<u8>>,
    pending: Vec<u8>,
    /// Chunks that may still be allocated before the reader waits for a spare one.
    unallocated: usize,
    thread: Option<std::thread::JoinHandle<(Digest, u64)>>,
    /// Bytes handed over (the thread's count must agree).
    count: u64,
}

impl Away {
    /// Starts the hashing thread; `None` when no thread can be started.
    fn start(chunks: usize) -> Option<Away> {
        let (tx, rx) = mpsc::channel::<Vec<u8>>();
        let (spare_tx, spare) = mpsc::channel::<Vec<u8>>();
        let thread = std::thread::Builder::new()
            .name("imgtar-sha256".into())
            .spawn(move || {
                let mut hasher = Hasher::new();
                let mut count = 0u64;
                for mut chunk in rx.iter() {
                    hasher.update(&chunk);
                    count = count.saturating_add(chunk.len() as u64);
                    chunk.clear();
                    // The reader may be gone (it dropped an unfinished stream).
                    let _ = spare_tx.send(chunk);
                }
                (hasher.finish(), count)
            })
            .ok()?;
        Some(Away {
            tx: Some(tx),
            spare,
            pending: Vec::with_capacity(HASH_CHUNK),
            unallocated: chunks.saturating_sub(1),
            thread: Some(thread),
            count: 0,
        })
    }

    fn update(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let room = HASH_CHUNK.saturating_sub(self.pending.len());
            let (now, rest) = bytes.split_at(room.min(bytes.len()));
            self.pending.extend_from_slice(now);
            bytes = rest;
            if self.pending.len() >= HASH_CHUNK {
                self.hand_over();
            }
        }
    }

    /// Sends the pending chunk and takes an empty one (a new one while the pool allows, else
    /// the next the thread gives back).
    fn hand_over(&mut self) {
        let next = if self.unallocated > 0 {
            self.unallocated = self.unallocated.saturating_sub(1);
            Some(Vec::with_capacity(HASH_CHUNK))
        } else {
            None
        };
        let full = std::mem::take(&mut self.pending);
        self.count = self.count.saturating_add(full.len() as u64);
        let sent = self.tx.as_ref().is_some_and(|tx| tx.send(full).is_ok());
        if !sent {
            // The thread is gone: `finish` reports it.
            self.tx = None;
        }
        self.pending = match next {
            Some(v) => v,
            None if sent => self
                .spare
                .recv()
                .unwrap_or_else(|_| Vec::with_capacity(HASH_CHUNK)),
            None => Vec::with_capacity(HASH_CHUNK),
        };
    }

    fn finish(mut self) -> io::Result<(Digest, u64)> {
        if !self.pending.is_empty() {
            self.hand_over();
        }
        let count = self.count;
        self.tx = None;
        let done = self.thread.take().and_then(|t| t.join().ok());
        match done {
            Some((digest, n)) if n == count => Ok((digest, n)),
            _ => Err(io::Error::other("the sha256 thread stopped")),
        }
    }
}

impl<R: Read> Hashing<R> {
    /// Hashes what is read from `inner`, on a thread of its own when `away` (and a thread can
    /// be started), with at most `max_in_flight` bytes handed over at a time.
    pub(crate) fn new(inner: R, away: bool, max_in_flight: u64) -> Self {
        let chunks = usize::try_from(max_in_flight.checked_div(HASH_CHUNK as u64).unwrap_or(0))
            .unwrap_or(usize::MAX)
            .clamp(1, HASH_CHUNKS);
        let hash = match away.then(|| Away::start(chunks)).flatten() {
            Some(a) => Hash::Away(a),
            None => Hash::Here(Hasher::new(), 0),
        };
        Hashing { inner, hash }
    }

    /// As [`Hashing::new`], for a stream whose first bytes `prefix` were read before.
    pub(crate) fn with_prefix(inner: R, prefix: &[u8], away: bool, max_in_flight: u64) -> Self {
        let mut h = Hashing::new(inner, away, max_in_flight);
        h.hash.update(prefix);
        h
    }

    /// Reads and hashes everything that is left; returns the number of bytes drained.
    pub(crate) fn drain(&mut self) -> io::Result<u64> {
        io::copy(self, &mut io::sink())
    }

    /// The digest and the number of bytes hashed (`Err` only when the hashing thread stopped).
    pub(crate) fn finish(self) -> io::Result<(Digest, u64)> {
        match self.hash {
            Hash::Here(h, n) => Ok((h.finish(), n)),
            Hash::Away(a) => a.finish(),
        }
    }
}

impl Hash {
    fn update(&mut self, bytes: &[u8]) {
        match self {
            Hash::Here(h, n) => {
                h.update(bytes);
                *n = n.saturating_add(bytes.len() as u64);
            }
            Hash::Away(a) => a.update(bytes),
        }
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_feed_reads_what_was_pumped_and_the_budget_ends_empty() {
        let budget = Budget::new(3 * CHUNK as u64);
        let data: Vec<u8> = (0..5 * CHUNK + 123).map(|i| (i % 251) as u8).collect();
        let (mut sink, mut feed) = channel(&budget);
        let got = std::thread::scope(|s| {
            let reader = s.spawn(move || {
                let mut out = Vec::new();
                feed.read_to_end(&mut out).map(|_| out)
            });
            let (n, err) = sink.pump(&data[..]);
            assert_eq!(n, data.len() as u64);
            assert!(err.is_none());
            drop(sink);
            reader.join().unwrap().unwrap()
        });
        assert_eq!(got, data);
        assert_eq!(*budget.used.lock().unwrap(), 0);
    }

    #[test]
    fn hashing_away_gives_the_digest_hashing_here_gives() {
        let data: Vec<u8> = (0..3 * HASH_CHUNK + 777).map(|i| (i % 253) as u8).collect();
        let want = Digest::sha256_of(&data);
        // Budgets of one byte (one chunk in flight), of two chunks and the default; reads of
        // odd sizes so chunks fill across reads.
        for (away, budget) in [
            (false, 0),
            (true, 1),
            (true, 2 * HASH_CHUNK as u64),
            (true, 32 << 20),
        ] {
            let mut h = Hashing::with_prefix(&data[5..], &data[..5], away, budget);
            let mut buf = vec![0u8; 70_001];
            while h.read(&mut buf).unwrap() > 0 {}
            assert!(matches!(h.hash, Hash::Away(_)) == away);
            let (d, n) = h.finish().unwrap();
            assert_eq!(
                (d, n),
                (want.clone(), data.len() as u64),
                "away {away}, budget {budget}"
            );
        }
        // Nothing read: the digest of nothing.
        let h = Hashing::new(&b""[..], true, 1);
        assert_eq!(h.finish().unwrap(), (Digest::sha256_of(b""), 0));
    }

    #[test]
    fn a_reader_that_stops_early_does_not_block_the_pump() {
        let budget = Budget::new(CHUNK as u64);
        let data = vec![7u8; 8 * CHUNK];
        let (mut sink, mut feed) = channel(&budget);
        std::thread::scope(|s| {
            s.spawn(move || {
                let mut first = [0u8; 10];
                feed.read_exact(&mut first).unwrap();
                // Dropped here, with chunks unread.
            });
            let (n, err) = sink.pump(&data[..]);
            assert_eq!(n, data.len() as u64, "the input is still read to its end");
            assert!(err.is_none());
        });
        assert_eq!(*budget.used.lock().unwrap(), 0);
    }

    #[test]
    fn the_pump_returns_the_inputs_error_after_the_bytes_before_it() {
        struct Failing(usize);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("gone"));
                }
                let n = self.0.min(buf.len());
                buf[..n].fill(1);
                self.0 -= n;
                Ok(n)
            }
        }
        let budget = Budget::new(4 * CHUNK as u64);
        let (mut sink, mut feed) = channel(&budget);
        let (n, err) = sink.pump(Failing(CHUNK + 5));
        drop(sink);
        assert_eq!(n, CHUNK as u64 + 5);
        assert!(err.is_some());
        let mut out = Vec::new();
        feed.read_to_end(&mut out).unwrap();
        assert_eq!(out.len(), CHUNK + 5);
    }
}
