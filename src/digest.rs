//! Content digests: the validated [`Digest`] type and the hashing seam used while streaming.

use std::fmt;
use std::io::{self, Read};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Digest as _;

/// A digest algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Algorithm {
    /// `sha256`, 64 lowercase hex digits.
    Sha256,
    /// `sha512`, 128 lowercase hex digits.
    Sha512,
}

impl Algorithm {
    /// The name used in digest strings and in `blobs/<alg>/`.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }
    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

/// A validated content digest such as `sha256:<64 lowercase hex>`.
///
/// Parsing follows the OCI descriptor grammar for the registered algorithms: the encoded part
/// must be lowercase hex of the algorithm's length ("`[A-F]` MUST NOT be used").
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

/// Why a string is not a [`Digest`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid digest {input:?}: {reason}")]
pub struct DigestError {
    input: String,
    reason: &'static str,
}

impl Digest {
    /// An incremental sha256 hasher.
    pub fn hasher() -> Hasher {
        Hasher::new()
    }

    /// The digest of `bytes` with sha256.
    pub fn sha256_of(bytes: &[u8]) -> Digest {
        let mut h = Hasher::new();
        h.update(bytes);
        h.finish()
    }

    /// Builds a sha256 digest from its hex part (must be 64 lowercase hex digits).
    pub fn from_sha256_hex(hex: &str) -> Result<Digest, DigestError> {
        Self::from_parts(Algorithm::Sha256, hex, hex)
    }

    fn from_parts(algorithm: Algorithm, hex: &str, input: &str) -> Result<Digest, DigestError> {
        let err = |reason| DigestError {
            input: input.to_string(),
            reason,
        };
        if hex.len() != algorithm.hex_len() {
            return Err(err("wrong length for the algorithm"));
        }
        if !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(err("encoded part must be lowercase hex"));
        }
        Ok(Digest {
            algorithm,
            hex: hex.to_string(),
        })
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The encoded (hex) part.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The first 12 hex digits, as Docker shows short IDs.
    pub fn short(&self) -> &str {
        self.hex.get(..12).unwrap_or(&self.hex)
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (alg, hex) = s.split_once(':').ok_or(DigestError {
            input: s.to_string(),
            reason: "missing ':'",
        })?;
        let algorithm = match alg {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            _ => {
                return Err(DigestError {
                    input: s.to_string(),
                    reason: "unsupported algorithm",
                })
            }
        };
        Self::from_parts(algorithm, hex, s)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.as_str(), self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The sha256 implementations a [`Hasher`] chooses between.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Sha256Backend {
    /// The `sha2` crate: the CPU's SHA extensions where it has them (x86 SHA-NI, ARMv8 SHA2),
    /// portable Rust otherwise.
    Sha2,
    /// ring's assembly: about twice the portable `sha2` on CPUs without SHA extensions.
    Ring,
}

impl Sha256Backend {
    /// The backend [`Hasher::new`] uses, decided once per process: `sha2` where the CPU has
    /// SHA extensions (both then run at the hardware's speed), ring otherwise. The environment
    /// variable `IMGTAR_SHA256=sha2|ring` overrides the choice (to compare them), as does the
    /// `ring` cargo feature (ring always).
    pub fn chosen() -> Sha256Backend {
        static CHOSEN: std::sync::OnceLock<Sha256Backend> = std::sync::OnceLock::new();
        *CHOSEN.get_or_init(|| match std::env::var("IMGTAR_SHA256").as_deref() {
            Ok("sha2") => Sha256Backend::Sha2,
            Ok("ring") => Sha256Backend::Ring,
            _ if cfg!(feature = "ring") => Sha256Backend::Ring,
            _ if Self::cpu_has_sha_extensions() => Sha256Backend::Sha2,
            _ => Sha256Backend::Ring,
        })
    }

    /// Whether this CPU has the instructions that make `sha2` run at the hardware's speed.
    pub fn cpu_has_sha_extensions() -> bool {
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        return std::arch::is_x86_feature_detected!("sha")
            && std::arch::is_x86_feature_detected!("sse4.1")
            && std::arch::is_x86_feature_detected!("ssse3");
        #[cfg(target_arch = "aarch64")]
        return std::arch::is_aarch64_feature_detected!("sha2");
        #[allow(unreachable_code)]
        false
    }
}

/// An incremental sha256, the one place where sha256 is computed (the implementation is
/// chosen here: [`Sha256Backend::chosen`]).
#[derive(Clone)]
pub struct Hasher(Inner);

#[derive(Clone)]
enum Inner {
    Sha2(sha2::Sha256),
    Ring(ring::digest::Context),
}

impl Default for Hasher {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Hasher").field(&self.backend()).finish()
    }
}

impl Hasher {
    /// A new hasher, with [`Sha256Backend::chosen`].
    pub fn new() -> Self {
        Self::with_backend(Sha256Backend::chosen())
    }
    /// A new hasher with this backend.
    pub fn with_backend(backend: Sha256Backend) -> Self {
        Hasher(match backend {
            Sha256Backend::Sha2 => Inner::Sha2(sha2::Sha256::new()),
            Sha256Backend::Ring => Inner::Ring(ring::digest::Context::new(&ring::digest::SHA256)),
        })
    }
    /// The backend in use.
    pub fn backend(&self) -> Sha256Backend {
        match self.0 {
            Inner::Sha2(_) => Sha256Backend::Sha2,
            Inner::Ring(_) => Sha256Backend::Ring,
        }
    }
    /// Hashes more bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        match &mut self.0 {
            Inner::Sha2(h) => h.update(bytes),
            Inner::Ring(h) => h.update(bytes),
        }
    }
    /// The digest of every byte given.
    pub fn finish(self) -> Digest {
        let hex = match self.0 {
            Inner::Sha2(h) => hex::encode(h.finalize()),
            Inner::Ring(h) => hex::encode(h.finish().as_ref()),
        };
        Digest {
            algorithm: Algorithm::Sha256,
            hex,
        }
    }
}

/// A reader that hashes and counts exactly the bytes read through it.
pub(crate) struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Hasher::new(),
            count: 0,
        }
    }
    pub(crate) fn finish(self) -> (Digest, u64) {
        (self.hasher.finish(), self.count)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(buf.get(..n).unwrap_or_default());
        self.count = self.count.saturating_add(n as u64);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        let d: Digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            .parse()
            .unwrap();
        assert_eq!(d, Digest::sha256_of(b""));
        assert_eq!(d.short(), "e3b0c44298fc");
        assert!(
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
                .parse::<Digest>()
                .is_err()
        );
        assert!("sha256:abc".parse::<Digest>().is_err());
        assert!("md5:d41d8cd98f00b204e9800998ecf8427e"
            .parse::<Digest>()
            .is_err());
        assert!(
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
                .parse::<Digest>()
                .is_err()
        );
    }

    #[test]
    fn hashing_reader_hashes_what_it_reads() {
        let mut r = HashingReader::new(&b"hello world"[..]);
        let mut buf = [0u8; 5];
        r.read_exact(&mut buf).unwrap();
        io::copy(&mut r, &mut io::sink()).unwrap();
        let (d, n) = r.finish();
        assert_eq!(n, 11);
        assert_eq!(d, Digest::sha256_of(b"hello world"));
        for backend in [Sha256Backend::Sha2, Sha256Backend::Ring] {
            let mut h = Hasher::with_backend(backend);
            h.update(b"hello ");
            h.update(b"world");
            assert_eq!(h.backend(), backend);
            assert_eq!(h.finish(), d, "{backend:?}");
        }
    }
}
