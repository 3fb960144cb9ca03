//! Reading ahead on a thread of its own, so that waiting for a pipe or a disk overlaps with
//! hashing and parsing. Memory is bounded: at most `DEPTH` chunks are in flight. When the
//! reader is dropped early the thread ends at its next chunk (its send fails); it is not
//! joined, since a pipe may never deliver that chunk.

use std::io::{self, Read};
use std::sync::mpsc::{sync_channel, Receiver};
use std::thread::JoinHandle;

const CHUNK: usize = 1 << 20;
const DEPTH: usize = 4;

/// A reader fed by a background thread.
pub(crate) struct ReadAhead {
    rx: Receiver<io::Result<Vec<u8>>>,
    current: Vec<u8>,
    at: usize,
    done: bool,
    _thread: JoinHandle<()>,
}

impl ReadAhead {
    pub(crate) fn new<R: Read + Send + 'static>(mut inner: R) -> io::Result<ReadAhead> {
        let (tx, rx) = sync_channel(DEPTH);
        let thread = std::thread::Builder::new()
            .name("imgtar-read".into())
            .spawn(move || loop {
                let mut buf = vec![0u8; CHUNK];
                let mut filled = 0usize;
                let result = loop {
                    let Some(rest) = buf.get_mut(filled..) else {
                        break Ok(());
                    };
                    if rest.is_empty() {
                        break Ok(());
                    }
                    match inner.read(rest) {
                        Ok(0) => break Ok(()),
                        Ok(n) => filled = filled.saturating_add(n),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => break Err(e),
                    }
                };
                buf.truncate(filled);
                let last = filled == 0;
                let msg = match result {
                    Ok(()) => Ok(buf),
                    Err(e) => Err(e),
                };
                let failed = msg.is_err();
                if tx.send(msg).is_err() || last || failed {
                    return;
                }
            })?;
        Ok(ReadAhead {
            rx,
            current: Vec::new(),
            at: 0,
            done: false,
            _thread: thread,
        })
    }
}

impl Read for ReadAhead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at >= self.current.len() {
            if self.done {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    if chunk.is_empty() {
                        self.done = true;
                    }
                    self.current = chunk;
                    self.at = 0;
                }
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                Err(_) => {
                    self.done = true;
                }
            }
        }
        let avail = self.current.get(self.at..).unwrap_or_default();
        let n = avail.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), avail.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.at = self.at.saturating_add(n);
        Ok(n)
    }
}
