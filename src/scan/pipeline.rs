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

/// Reads `r` into `buf` until it is full or `r` ends (retrying interruptions); returns how
/// many bytes came, and the error that stopped it early, if any.
pub(crate) fn fill<R: Read + ?Sized>(r: &mut R, buf: &mut [u8]) -> (usize, Option<io::Error>) {
    let mut filled = 0usize;
    while let Some(rest) = buf.get_mut(filled..) {
        if rest.is_empty() {
            break;
        }
        match r.read(rest) {
            Ok(0) => break,
            Ok(n) => filled = filled.saturating_add(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (filled, Some(e)),
        }
    }
    (filled, None)
}

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
