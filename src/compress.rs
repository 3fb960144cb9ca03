//! Compression: recognised by magic bytes, undone by the one bounded decoder.
//!
//! The format is decided from the first bytes of a stream, never from a file name or a media
//! type: every loader does the same, and real archives carry misleading names (gzip data in
//! `layer.tar`, a gzip archive named `.tar`).
//!
//! [`decoder`] is the only way the crate builds a decoder. Its output is bounded by
//! [`Limits::max_decompressed_bytes`](crate::Limits) and
//! [`Limits::max_decompression_ratio`](crate::Limits) (an error carrying a [`LimitHit`]), it
//! counts the compressed bytes consumed, and its failures are typed ([`DecodeError`]): the
//! compressed input ended early (truncated) or is corrupt. An error of the source itself
//! passes through unchanged.

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use serde::Serialize;

use crate::Limits;

/// A compression format recognised from magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Compression {
    /// Not compressed.
    None,
    /// gzip (`1f 8b 08`), possibly several members (eStargz, concatenated streams).
    Gzip,
    /// zstd (`28 b5 2f fd`, or a skippable frame `5? 2a 4d 18`).
    Zstd,
    /// xz (`fd 37 7a 58 5a 00`).
    Xz,
    /// bzip2 (`BZh`).
    Bzip2,
}

impl Compression {
    /// The name as shown in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Xz => "xz",
            Compression::Bzip2 => "bzip2",
        }
    }

    /// Recognises the format from the first bytes of a stream (6 tell every format apart).
    pub fn sniff(head: &[u8]) -> Compression {
        match head {
            [0x1f, 0x8b, 0x08, ..] => Compression::Gzip,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
            [0x50..=0x5f, 0x2a, 0x4d, 0x18, ..] => Compression::Zstd,
            [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => Compression::Xz,
            [b'B', b'Z', b'h', ..] => Compression::Bzip2,
            _ => Compression::None,
        }
    }

    /// Whether the stream is compressed at all.
    pub fn is_compressed(self) -> bool {
        self != Compression::None
    }
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// A decompression limit that was passed (carried inside an `io::Error` from [`decoder`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{limit} is {value}, the limit is {max}")]
pub(crate) struct LimitHit {
    /// Name of the [`Limits`] field.
    pub limit: &'static str,
    /// The value met.
    pub value: u64,
    /// The configured maximum.
    pub max: u64,
}

impl LimitHit {
    /// The limit carried by an I/O error, if that is why it failed.
    pub(crate) fn of(e: &io::Error) -> Option<LimitHit> {
        crate::error::find_in::<LimitHit>(e).copied()
    }
}

/// How a compressed stream failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum DecodeFailure {
    /// The compressed input ended before the stream did.
    Truncated,
    /// The compressed input is not valid for its format.
    Corrupt,
}

/// A decoder failure, carried inside an `io::Error` from [`decoder`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} {}: {message} (after {consumed} compressed and {produced} decompressed bytes)", compression.as_str(), match failure { DecodeFailure::Truncated => "stream ends early", DecodeFailure::Corrupt => "data is corrupt" })]
pub(crate) struct DecodeError {
    /// The format.
    pub compression: Compression,
    /// What went wrong.
    pub failure: DecodeFailure,
    /// Compressed bytes consumed when it failed (the decoder reads ahead, so the damage is
    /// at most one read before this).
    pub consumed: u64,
    /// Decompressed bytes produced before it failed.
    pub produced: u64,
    /// The decoder's own words.
    pub message: String,
}

impl DecodeError {
    /// The decoder failure carried by an I/O error, if that is why it failed.
    pub(crate) fn of(e: &io::Error) -> Option<&DecodeError> {
        crate::error::find_in::<DecodeError>(e)
    }
}

/// What the decoder's source reports to its wrapper.
#[derive(Default)]
pub(crate) struct Tally {
    /// Compressed bytes consumed.
    pub consumed: AtomicU64,
    /// The source reached its end.
    pub eof: AtomicBool,
    /// The source itself failed (its error passes through as is).
    pub failed: AtomicBool,
}

/// The decoder's view of its source: counts, notes the end and the source's own failures,
/// and fills every read completely unless the stream ends, so that a decoder sees the same
/// read boundaries however the input arrives (a pipe's short reads included). A decoder that
/// meets corrupt data fails the read in which it meets it; with fixed boundaries, what is
/// decoded before the failure, and so every finding, does not depend on how the input was
/// chunked.
struct Tap<R> {
    inner: R,
    tally: Arc<Tally>,
}

impl<R: Read> Read for Tap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let (got, failure) = fill(&mut self.inner, buf);
        match failure {
            None if got < buf.len() => self.tally.eof.store(true, Relaxed),
            None => {}
            // Hand over what was read; the error comes back on the next call.
            Some(_) if got > 0 => {}
            Some(e) => {
                self.tally.failed.store(true, Relaxed);
                return Err(e);
            }
        }
        self.tally.consumed.fetch_add(got as u64, Relaxed);
        Ok(got)
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

/// Ratios are only judged past this much output, so small streams of zeros are not flagged.
const RATIO_FLOOR: u64 = 16 << 20;

/// A bounded decoder (see the module docs).
pub(crate) struct Decoder<'a> {
    inner: Box<dyn Read + 'a>,
    compression: Compression,
    tally: Arc<Tally>,
    produced: u64,
    max_out: u64,
    max_ratio: u64,
    /// Sticky failure: once a decoder failed it is not asked again.
    failed: bool,
}

impl Decoder<'_> {
    /// Decompressed bytes produced so far.
    pub(crate) fn produced(&self) -> u64 {
        self.produced
    }
}

impl Read for Decoder<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.failed {
            return Ok(0);
        }
        let n = match self.inner.read(buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(e),
            Err(e) => {
                self.failed = true;
                if self.tally.failed.load(Relaxed) || self.compression == Compression::None {
                    return Err(e);
                }
                let (failure, message) = classify(&e, self.tally.eof.load(Relaxed));
                let kind = e.kind();
                return Err(io::Error::new(
                    kind,
                    DecodeError {
                        compression: self.compression,
                        failure,
                        consumed: self.tally.consumed.load(Relaxed),
                        produced: self.produced,
                        message,
                    },
                ));
            }
        };
        self.produced = self.produced.saturating_add(n as u64);
        if self.produced > self.max_out {
            self.failed = true;
            return Err(io::Error::other(LimitHit {
                limit: "max_decompressed_bytes",
                value: self.produced,
                max: self.max_out,
            }));
        }
        let ratio = self
            .produced
            .checked_div(self.tally.consumed.load(Relaxed))
            .unwrap_or(self.produced);
        if self.produced > RATIO_FLOOR && ratio > self.max_ratio {
            self.failed = true;
            return Err(io::Error::other(LimitHit {
                limit: "max_decompression_ratio",
                value: ratio,
                max: self.max_ratio,
            }));
        }
        Ok(n)
    }
}

/// Whether a decoder's failure `e` is a truncation or corruption (`eof`: the compressed input
/// had reached its end), and the decoder's words for it.
///
/// zstd, xz and bzip2 say `UnexpectedEof` when their input ends early. ISA-L (gzip) has no
/// such answer: its inflate consumes what it has and asks for more, and `isal-rs` fails with
/// its generic "no progress" error when two calls in a row produce nothing, which is what a
/// cut stream gives once the input is at its end. Invalid data is one of ISA-L's own codes
/// (invalid block, symbol, distance, wrapper, method, checksum), whatever the position.
fn classify(e: &io::Error, eof: bool) -> (DecodeFailure, String) {
    use isal::error::Error as Isal;
    use isal::DecompCode as C;
    match e.get_ref().and_then(|i| i.downcast_ref::<Isal>()) {
        Some(Isal::DecompressionError(code)) => {
            let words = match code {
                C::InvalidBlock => "invalid deflate block",
                C::InvalidSymbol => "invalid deflate symbol",
                C::InvalidLoopBack => "invalid distance: too far back",
                C::InvalidWrapper => "invalid gzip header",
                C::UnsupportedMethod => "unsupported compression method in the gzip header",
                C::IncorrectChecksum => "the gzip trailer's CRC-32 or size does not match",
                C::EndInput if eof => {
                    return (
                        DecodeFailure::Truncated,
                        "the compressed input ends before the gzip stream does".into(),
                    )
                }
                other => {
                    return (
                        DecodeFailure::Corrupt,
                        format!("inflate failed ({other:?})"),
                    )
                }
            };
            (DecodeFailure::Corrupt, words.into())
        }
        // `None`: the no-progress error (`Some` carries a return code ISA-L does not document).
        Some(Isal::Other((None, _))) if eof => (
            DecodeFailure::Truncated,
            "the compressed input ends before the gzip stream does".into(),
        ),
        Some(Isal::Other(_)) => (
            DecodeFailure::Corrupt,
            "the deflate data makes no progress (invalid)".into(),
        ),
        _ if eof && e.kind() == io::ErrorKind::UnexpectedEof => {
            (DecodeFailure::Truncated, e.to_string())
        }
        _ => (DecodeFailure::Corrupt, e.to_string()),
    }
}

/// Wraps `r` in the bounded decoder for `c` (for [`Compression::None`], a pass-through that
/// counts). Building a zstd decoder can fail (allocation of its context), which is a
/// [`DecodeFailure::Corrupt`] of the stream.
pub(crate) fn decoder<'a, R: Read + 'a>(c: Compression, r: R, limits: &Limits) -> Decoder<'a> {
    let tally = Arc::new(Tally::default());
    let tap = Tap {
        inner: r,
        tally: Arc::clone(&tally),
    };
    let inner: Box<dyn Read + 'a> = match c {
        Compression::None => Box::new(tap),
        // Every gzip member in turn (eStargz, concatenated streams), as Go's `gzip.Reader`
        // (multistream) reads them for `docker load`: the reader starts the next member
        // whenever input follows one.
        Compression::Gzip => Box::new(Gzip::Start(Some(tap))),
        Compression::Zstd => match zstd::stream::read::Decoder::new(tap) {
            Ok(d) => Box::new(d),
            Err(e) => Box::new(Failing(Some(e))),
        },
        Compression::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(tap)),
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(tap)),
    };
    let bounded = c != Compression::None;
    Decoder {
        inner,
        compression: c,
        tally,
        produced: 0,
        max_out: if bounded {
            limits.max_decompressed_bytes
        } else {
            u64::MAX
        },
        max_ratio: if bounded {
            limits.max_decompression_ratio
        } else {
            u64::MAX
        },
        failed: false,
    }
}

/// gzip's inflater, chosen from the first member's header flags when the first read comes.
///
/// ISA-L, except when the first header carries an extra field, a name or a comment: `isal-rs`
/// gives up on a stream when two of its 16 KiB input steps in a row produce no output (its
/// guard against looping on bad headers), which a valid header longer than that also does
/// (Go's reader and zlib accept any length). Such a stream goes through flate2 (zlib-rs), as
/// every gzip stream did before. Layers written by Go (`docker save`, containerd, buildkit)
/// carry none of the three. The limit remains for a later member's header (eStargz writes its
/// extra field in the last, small member only) and for a member with more than 16 KiB of
/// compressed data that inflates to nothing.
enum Gzip<R: Read> {
    Start(Option<R>),
    Isal(Box<isal::read::GzipDecoder<Filled<Peeked<R>>>>),
    Zlib(Box<flate2::read::MultiGzDecoder<Peeked<R>>>),
}

/// The stream with its first header bytes, read to choose the inflater, put back in front.
type Peeked<R> = io::Chain<io::Cursor<Vec<u8>>, R>;

/// gzip header flags: FEXTRA, FNAME, FCOMMENT (RFC 1952 section 2.3.1).
const GZIP_LONG_FIELDS: u8 = 0x04 | 0x08 | 0x10;

impl<R: Read> Read for Gzip<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Gzip::Start(r) = self {
            let Some(mut r) = r.take() else {
                return Ok(0);
            };
            let head = read_head(&mut r, 10)?;
            let flags = head.get(3).copied().unwrap_or(0);
            let source = io::Cursor::new(head).chain(r);
            *self = if flags & GZIP_LONG_FIELDS == 0 {
                Gzip::Isal(Box::new(isal::read::GzipDecoder::new(Filled(source))))
            } else {
                Gzip::Zlib(Box::new(flate2::read::MultiGzDecoder::new(source)))
            };
        }
        match self {
            Gzip::Start(_) => Ok(0),
            Gzip::Isal(d) => d.read(buf),
            Gzip::Zlib(d) => d.read(buf),
        }
    }
}

/// Fills every read unless the stream ends (as [`Tap`] does, over the peeked header chained
/// to the rest): ISA-L's no-progress guard counts input steps, so a short read (the 10 header
/// bytes alone) would make an empty member look like two steps without output.
struct Filled<R>(R);

impl<R: Read> Read for Filled<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match fill(&mut self.0, buf) {
            // Hand over what was read; the error comes back on the next call.
            (0, Some(e)) => Err(e),
            (got, _) => Ok(got),
        }
    }
}

/// A reader that fails once with the error it holds.
struct Failing(Option<io::Error>);

impl Read for Failing {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        match self.0.take() {
            Some(e) => Err(e),
            None => Ok(0),
        }
    }
}

/// Counts the bytes read through it.
pub(crate) struct Counting<R> {
    pub inner: R,
    pub count: u64,
}

impl<R> Counting<R> {
    pub(crate) fn new(inner: R) -> Self {
        Counting { inner, count: 0 }
    }
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count = self.count.saturating_add(n as u64);
        Ok(n)
    }
}

/// Number of bytes [`Compression::sniff`] and the tar sniffing need.
pub(crate) const SNIFF_LEN: usize = 512;

/// Reads up to `n` bytes (fewer only at end of stream), looping over short reads.
pub(crate) fn read_head<R: Read + ?Sized>(r: &mut R, n: usize) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(n);
    Read::take(r, n as u64).read_to_end(&mut head)?;
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn sniffs_magic() {
        assert_eq!(Compression::sniff(&[0x1f, 0x8b, 8, 0]), Compression::Gzip);
        assert_eq!(
            Compression::sniff(&[0x28, 0xb5, 0x2f, 0xfd]),
            Compression::Zstd
        );
        assert_eq!(
            Compression::sniff(&[0x5e, 0x2a, 0x4d, 0x18]),
            Compression::Zstd
        );
        assert_eq!(Compression::sniff(b"\xfd7zXZ\0"), Compression::Xz);
        assert_eq!(Compression::sniff(b"BZh9"), Compression::Bzip2);
        assert_eq!(Compression::sniff(b"{\"a\":1}"), Compression::None);
        assert_eq!(Compression::sniff(b""), Compression::None);
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn decode(c: Compression, bytes: &[u8]) -> io::Result<Vec<u8>> {
        let mut d = decoder(c, bytes, &Limits::default());
        let mut out = Vec::new();
        d.read_to_end(&mut out).map(|_| out)
    }

    #[test]
    fn failures_are_typed_by_what_happened() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let good = gz(&data);
        assert_eq!(decode(Compression::Gzip, &good).unwrap(), data);
        let cut = decode(Compression::Gzip, &good[..good.len() / 2]).unwrap_err();
        let e = DecodeError::of(&cut).unwrap();
        assert_eq!(e.failure, DecodeFailure::Truncated);
        assert_eq!(e.consumed, (good.len() / 2) as u64);
        let mut bad = good.clone();
        let mid = bad.len() / 2;
        bad[mid] ^= 0xff;
        bad[mid + 1] ^= 0x55;
        let corrupt = decode(Compression::Gzip, &bad).unwrap_err();
        assert_eq!(
            DecodeError::of(&corrupt).unwrap().failure,
            DecodeFailure::Corrupt
        );
    }

    #[test]
    fn odd_but_valid_gzip_decodes() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 7) as u8).collect();
        // A 40 000-byte extra field in the header (Go's reader takes up to 64 KiB), and a
        // second member after the first.
        let mut e = flate2::GzBuilder::new()
            .extra(vec![b'x'; 40_000])
            .write(Vec::new(), flate2::Compression::default());
        e.write_all(&data).unwrap();
        let mut bytes = e.finish().unwrap();
        bytes.extend(gz(&data));
        let mut both = data.clone();
        both.extend(&data);
        assert_eq!(decode(Compression::Gzip, &bytes).unwrap(), both);
        // A plain first member (ISA-L's path), then one with a small extra field and a name,
        // as eStargz's last member has.
        let mut bytes = gz(&data);
        let mut e = flate2::GzBuilder::new()
            .extra(b"SG\x10\x00ffffffffffffffff".to_vec())
            .filename("layer.tar")
            .write(Vec::new(), flate2::Compression::default());
        e.write_all(b"tail").unwrap();
        bytes.extend(e.finish().unwrap());
        let mut want = data.clone();
        want.extend(b"tail");
        assert_eq!(decode(Compression::Gzip, &bytes).unwrap(), want);
        // An empty stream, and an empty member after a full one.
        assert_eq!(decode(Compression::Gzip, &gz(b"")).unwrap(), b"");
        let mut bytes = gz(&data);
        bytes.extend(gz(b""));
        assert_eq!(decode(Compression::Gzip, &bytes).unwrap(), data);
        // Many sync-flushed chunks (empty stored blocks between them).
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        for c in data.chunks(100) {
            e.write_all(c).unwrap();
            e.flush().unwrap();
        }
        let bytes = e.finish().unwrap();
        assert_eq!(decode(Compression::Gzip, &bytes).unwrap(), data);
    }

    #[test]
    fn source_errors_pass_through() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::PermissionDenied, "nope"))
            }
        }
        let mut d = decoder(Compression::Gzip, Broken, &Limits::default());
        let e = d.read(&mut [0u8; 10]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        assert!(DecodeError::of(&e).is_none());
    }

    #[test]
    fn output_is_bounded() {
        let zeros = vec![0u8; 1 << 20];
        let limits = Limits {
            max_decompressed_bytes: 1000,
            ..Limits::default()
        };
        let bytes = gz(&zeros);
        let mut d = decoder(Compression::Gzip, &bytes[..], &limits);
        let e = io::copy(&mut d, &mut io::sink()).unwrap_err();
        assert_eq!(LimitHit::of(&e).unwrap().limit, "max_decompressed_bytes");
    }
}
