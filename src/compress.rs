//! Compression detection by magic bytes, and decoders.
//!
//! The format is decided from the first bytes of a stream, never from a file name or a media
//! type: every reference loader does the same, and real archives carry misleading names
//! (gzip data in `layer.tar`, a gzip archive named `.tar`).

use std::cell::Cell;
use std::io::{self, Read};

use serde::Serialize;

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

    /// Recognises the format from the first bytes of a stream (at least 6 are needed to tell
    /// every format apart; fewer give `None` unless a shorter magic matches).
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
}

/// A decompression limit that was passed (carried inside an `io::Error` from the decoder).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("limit exceeded: {limit} is {value}, the limit is {max}")]
pub struct LimitHit {
    /// Name of the [`Limits`](crate::Limits) field.
    pub limit: &'static str,
    /// The value met.
    pub value: u64,
    /// The configured maximum.
    pub max: u64,
}

impl LimitHit {
    /// The limit carried by an I/O error, if that is why it failed.
    pub fn of(e: &io::Error) -> Option<LimitHit> {
        // Parsers wrap the decoder's error (tar-rs adds a description), so walk the chain.
        let mut cur: Option<&(dyn std::error::Error + 'static)> =
            e.get_ref().map(|x| x as &(dyn std::error::Error + 'static));
        while let Some(err) = cur {
            if let Some(hit) = err.downcast_ref::<LimitHit>() {
                return Some(*hit);
            }
            cur = match err.downcast_ref::<io::Error>().and_then(|io| io.get_ref()) {
                Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
                None => err.source(),
            };
        }
        None
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

/// Counts the compressed bytes a decoder consumes (into a cell the limit check shares).
pub(crate) struct CountInto<'c, R> {
    pub inner: R,
    pub count: &'c Cell<u64>,
}

impl<R: Read> Read for CountInto<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get().saturating_add(n as u64));
        Ok(n)
    }
}

/// Ratios are only judged past this much output, so small streams of zeros are not flagged.
const RATIO_FLOOR: u64 = 16 << 20;

/// Stops a decoder's output at [`Limits::max_decompressed_bytes`](crate::Limits) and at
/// [`Limits::max_decompression_ratio`](crate::Limits) times the compressed bytes consumed
/// (a decompression bomb), with an error carrying a [`LimitHit`].
pub(crate) struct Bounded<'c, R> {
    pub inner: R,
    pub out: u64,
    pub consumed: &'c Cell<u64>,
    pub max_out: u64,
    pub max_ratio: u64,
}

impl<R: Read> Read for Bounded<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out = self.out.saturating_add(n as u64);
        if self.out > self.max_out {
            return Err(io::Error::other(LimitHit {
                limit: "max_decompressed_bytes",
                value: self.out,
                max: self.max_out,
            }));
        }
        let ratio = self
            .out
            .checked_div(self.consumed.get())
            .unwrap_or(self.out);
        if self.out > RATIO_FLOOR && ratio > self.max_ratio {
            return Err(io::Error::other(LimitHit {
                limit: "max_decompression_ratio",
                value: ratio,
                max: self.max_ratio,
            }));
        }
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

/// Fills every read completely unless the stream ends, so that a decoder sees the same read
/// boundaries however the input arrives (a pipe's short reads included). A decoder that
/// meets corrupt data returns an error for the read in which it meets it, dropping what it
/// decoded in that read; with fixed boundaries what is decoded before the error, and so
/// every finding, no longer depends on how the input was chunked.
pub(crate) struct FullReads<R>(pub R);

impl<R: Read> Read for FullReads<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut got = 0usize;
        while let Some(rest) = buf.get_mut(got..) {
            if rest.is_empty() {
                break;
            }
            match self.0.read(rest) {
                Ok(0) => break,
                Ok(n) => got = got.saturating_add(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // Hand over what was read; the error comes back on the next call.
                Err(_) if got > 0 => break,
                Err(e) => return Err(e),
            }
        }
        Ok(got)
    }
}

/// Wraps `r` in the decoder for `c` (fed through [`FullReads`]).
pub(crate) fn decoder<'a, R: Read + 'a>(c: Compression, r: R) -> io::Result<Box<dyn Read + 'a>> {
    let r = FullReads(r);
    Ok(match c {
        Compression::None => Box::new(r),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(r)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(r)?),
        Compression::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(r)),
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(r)),
    })
}

/// Whether a 512-byte block is a tar header with a valid checksum (or an all-zero block,
/// which is how an empty tar starts).
pub(crate) fn looks_like_tar(head: &[u8]) -> bool {
    let Some(block) = head.get(..512) else {
        return false;
    };
    if block.iter().all(|&b| b == 0) {
        return true;
    }
    let Some(field) = block.get(148..156) else {
        return false;
    };
    let text: String = field
        .iter()
        .take_while(|&&b| b != 0 && b != b' ')
        .skip_while(|&&b| b == b' ')
        .map(|&b| b as char)
        .collect();
    let text = text.trim();
    let Ok(expected) = u32::from_str_radix(text, 8) else {
        return false;
    };
    let sum: u32 = block
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(b)
            }
        })
        .sum();
    sum == expected
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn tar_header_detection() {
        let mut h = tar::Header::new_gnu();
        h.set_path("a/b").unwrap();
        h.set_size(0);
        h.set_cksum();
        assert!(looks_like_tar(h.as_bytes()));
        let mut bad = h.as_bytes().to_vec();
        bad[0] = b'x';
        assert!(!looks_like_tar(&bad));
        assert!(looks_like_tar(&[0u8; 512]));
        assert!(!looks_like_tar(&[0u8; 100]));
    }
}
