//! The crate's one tar reader, used by every pass over every tar: the outer archive, each
//! layer, the content passes and the export's copy.
//!
//! It reads tar the way Go's `archive/tar` does (go1.22 `src/archive/tar/reader.go`), because
//! that is what `docker load`, containerd, podman and go-containerregistry read with:
//!
//! - a header is accepted when its checksum matches (signed or unsigned sum) and its numeric
//!   fields parse (octal, or base-256 when the first byte has its high bit set);
//! - the USTAR `prefix` field is joined to the name for USTAR/PAX headers, not for GNU ones;
//! - PAX `x` records are length-prefixed (a value may hold a newline) and apply to the next
//!   file; a second `x` before that file *replaces* the first; a GNU long name (`L`) or long
//!   link (`K`) overrides the PAX `path`/`linkpath`; a PAX record with an empty value keeps
//!   the header's value; `g` headers are returned as entries of their own;
//! - extension records (PAX, GNU long names, the sparse maps) are at most
//!   [`TarLimits::max_special`] bytes (Go: 1 MiB, `maxSpecialFileSize`);
//! - links, directories, devices and FIFOs carry no data, whatever their size field says;
//! - typeflag `\0` with a name ending in `/` is a directory;
//! - old GNU sparse files (`S`) and PAX sparse files (formats 0.0, 0.1 and 1.0) are expanded
//!   to their logical content, named by `GNU.sparse.name` and sized by the real size;
//! - two zero blocks end the archive; the end of the input at a header boundary, or after one
//!   zero block, ends it too; a zero block followed by a non-zero block is a header error.
//!
//! Where other readers (GNU tar, libarchive, tar-rs, Python) would see something else, the
//! header carries a [`Note`], so that a parser differential is reported rather than silently
//! resolved one way.
//!
//! Errors are typed ([`TarError`]): the source failed, the input ended inside a part of the
//! archive, or a header does not parse. Nothing here matches error message text.

use std::io::{self, Read};

/// Size of a tar block.
pub(crate) const BLOCK: u64 = 512;
const BLOCK_USIZE: usize = 512;

/// Bounds the reader enforces.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TarLimits {
    /// Largest extension record (PAX header, GNU long name or link, PAX 1.0 sparse map).
    pub max_special: u64,
    /// Most regions of one sparse file.
    pub max_sparse_regions: u64,
}

impl Default for TarLimits {
    fn default() -> Self {
        TarLimits {
            max_special: 1 << 20,
            max_sparse_regions: 1 << 16,
        }
    }
}

/// Something the reader reads from: any stream, or one that can skip data cheaply.
pub(crate) trait Source: Read {
    /// Skips `n` bytes; returns how many were skipped (fewer only at the end of the input).
    fn skip(&mut self, n: u64) -> io::Result<u64> {
        io::copy(&mut self.take(n), &mut io::sink())
    }
}

/// A plain stream: skipping reads.
pub(crate) struct Stream<R>(pub R);

impl<R: Read> Read for Stream<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl<R: Read> Source for Stream<R> {}

/// A seekable source of known length: skipping seeks.
pub(crate) struct Seeking<R> {
    inner: R,
    pos: u64,
    len: u64,
}

impl<R: io::Seek> Seeking<R> {
    /// Wraps `inner`, positioned at its start, holding `len` bytes.
    pub(crate) fn new(inner: R, len: u64) -> Self {
        Seeking { inner, pos: 0, len }
    }
}

impl<R: Read> Read for Seeking<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pos = self.pos.saturating_add(n as u64);
        Ok(n)
    }
}

impl<R: Read + io::Seek> Source for Seeking<R> {
    fn skip(&mut self, n: u64) -> io::Result<u64> {
        let n = n.min(self.len.saturating_sub(self.pos));
        let to = self.pos.saturating_add(n);
        self.inner.seek(io::SeekFrom::Start(to))?;
        self.pos = to;
        Ok(n)
    }
}

impl<S: Source + ?Sized> Source for &mut S {
    fn skip(&mut self, n: u64) -> io::Result<u64> {
        (**self).skip(n)
    }
}

/// The header format, as Go's `getFormat` guesses it from the magic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// No magic: the original Unix V7 header.
    V7,
    /// `ustar\0` (USTAR, or PAX when extension records are used).
    Ustar,
    /// `ustar ` + ` \0`: GNU.
    Gnu,
    /// `ustar\0` with the `tar\0` trailer of Schily's star.
    Star,
}

/// A header field, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    Mode,
    Uid,
    Gid,
    Size,
    Mtime,
    DevMajor,
    DevMinor,
    RealSize,
    SparseMap,
}

impl Field {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Field::Mode => "mode",
            Field::Uid => "uid",
            Field::Gid => "gid",
            Field::Size => "size",
            Field::Mtime => "mtime",
            Field::DevMajor => "devmajor",
            Field::DevMinor => "devminor",
            Field::RealSize => "realsize",
            Field::SparseMap => "sparse map",
        }
    }
}

/// Something about an entry where readers disagree or loaders would fail later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Note {
    /// A PAX `size` record and the header's size field disagree: Go, GNU tar and libarchive
    /// use the PAX size; readers that use the header's size lose their place in the stream.
    PaxSizeDiffers {
        /// The header's size field.
        ustar: u64,
        /// The PAX `size` record.
        pax: u64,
    },
    /// Extension headers whose records applied to nothing: followed by another extension
    /// header of the same kind (Go keeps only the last), a `g` header, or the end.
    Orphaned {
        /// Typeflag of the orphaned extension header (`x` or `L`/`K`).
        typeflag: u8,
        /// Its header offset.
        at: u64,
    },
    /// Both a GNU long name (or link) and a PAX `path` (or `linkpath`): Go uses the GNU one.
    PaxAndGnuName,
    /// A link, directory, device or FIFO whose size field is not 0: Go reads no data for it;
    /// readers that trust the size read the next headers as data.
    SizeOnHeaderOnly {
        /// The size field.
        size: u64,
    },
    /// A numeric field outside what Linux and the loaders can represent.
    OutOfRange {
        /// The field.
        field: Field,
        /// The value read.
        value: i64,
    },
    /// A sparse file whose map does not add up to the data stored (Go fails when reading
    /// it: "missing data" or "unreferenced data").
    SparseMismatch {
        /// Bytes of data the map refers to.
        mapped: u64,
        /// Bytes stored.
        stored: u64,
    },
}

/// One entry's header, after its extension headers were applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    /// Offset of the first block of the entry (its first extension header, if any).
    pub start: u64,
    /// Offset of the entry's own header block.
    pub offset: u64,
    /// Offset of the entry's data.
    pub data: u64,
    /// The name, exactly as stored (PAX `path`, GNU long name, or prefix + name).
    pub name: Vec<u8>,
    /// The link target, exactly as stored.
    pub link: Vec<u8>,
    /// The typeflag (`\0` with a trailing `/` already turned into `5`).
    pub typeflag: u8,
    /// The mode field.
    pub mode: i64,
    /// Owner (PAX `uid` when present).
    pub uid: i64,
    /// Group (PAX `gid` when present).
    pub gid: i64,
    /// Modification time in whole seconds (PAX `mtime` when present).
    pub mtime: i64,
    /// Logical size of the content (0 for header-only types; the real size of a sparse
    /// file).
    pub size: u64,
    /// Bytes stored after the header (what the stream holds; 0 for header-only types).
    pub stored: u64,
    /// Device numbers.
    pub devmajor: i64,
    /// Device numbers.
    pub devminor: i64,
    /// The header format.
    pub format: Format,
    /// `SCHILY.xattr.*` records: (name, value).
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    /// Keys of the PAX records that applied (for `g` headers: of the global records).
    pub pax_keys: Vec<Vec<u8>>,
    /// The data regions of a sparse file: (logical offset, length), in order.
    pub sparse: Option<Vec<(u64, u64)>>,
    /// Disagreements between readers about this entry.
    pub notes: Vec<Note>,
}

impl Header {
    /// Whether the entry is a kind that carries no data (Go's `isHeaderOnlyType`).
    pub(crate) fn header_only(typeflag: u8) -> bool {
        matches!(typeflag, b'1' | b'2' | b'3' | b'4' | b'5' | b'6')
    }
}

/// The part of the archive the input ended in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    /// A header block.
    Header,
    /// An extension record (PAX, GNU long name, sparse map).
    Extension,
    /// An entry's data.
    Data,
    /// The padding after an entry's data.
    Padding,
    /// The second block of the end-of-archive marker.
    EndMarker,
}

/// Why a header is not a header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HeaderProblem {
    /// The checksum does not match.
    Checksum,
    /// A zero block followed by a non-zero block.
    ZeroThenData,
    /// A numeric field does not parse.
    Number(Field),
    /// The size is negative.
    NegativeSize,
    /// A PAX record is malformed.
    PaxRecord,
    /// A PAX value does not parse (`size`, `uid`, `gid`, `mtime`, sparse records).
    PaxValue(&'static str),
    /// An extension record is longer than the limit.
    TooLong {
        /// Its declared size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// A sparse map is malformed (unsorted, overlapping, past the size).
    Sparse,
    /// A sparse file has more regions than the limit.
    SparseRegions {
        /// The regions met.
        regions: u64,
        /// The limit.
        max: u64,
    },
    /// An old GNU sparse map continues over more extension blocks than the limit (blocks may
    /// hold no region at all, so they are bounded apart from the regions).
    SparseExtensions {
        /// The extension blocks met.
        blocks: u64,
        /// The limit (`Limits::max_sparse_regions`).
        max: u64,
    },
}

/// Why reading stopped before the end of the archive.
#[derive(Debug)]
pub(crate) enum TarError {
    /// The source failed (a decoder error or a limit travels this way too).
    Source(io::Error),
    /// The input ended inside a part of the archive.
    Truncated {
        /// Offset where the input ended.
        at: u64,
        /// What it ended in.
        part: Part,
        /// Header offset of the entry it ended in (for data and padding).
        entry: Option<u64>,
        /// Bytes that part declares (data: the stored size; a block: 512).
        declared: u64,
        /// Bytes of it present.
        present: u64,
    },
    /// A header that does not parse.
    Header {
        /// Offset of the header block.
        at: u64,
        /// What is wrong.
        problem: HeaderProblem,
    },
}

/// How the archive ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum End {
    /// Still reading.
    #[default]
    Open,
    /// Two zero blocks.
    Marker,
    /// The input ended after one zero block.
    OneZeroBlock,
    /// The input ended at a header boundary, with no zero block.
    NoMarker,
    /// Reading stopped with an error.
    Failed,
}

/// An error carried through `io::Error` from [`Body::read`], so callers reading an entry's
/// content see the input ending inside it as a typed cut, not a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the input ends inside an entry's data: {present} of {declared} bytes at byte {at}")]
pub(crate) struct Cut {
    /// Offset where the input ended.
    pub at: u64,
    /// Header offset of the entry.
    pub entry: u64,
    /// Stored bytes declared.
    pub declared: u64,
    /// Stored bytes present.
    pub present: u64,
}

impl Cut {
    /// The cut carried by an I/O error, if that is why it failed.
    pub(crate) fn of(e: &io::Error) -> Option<Cut> {
        crate::error::find_in::<Cut>(e).copied()
    }
}

/// The current entry's unread content.
#[derive(Debug, Default)]
struct Current {
    /// Header offset.
    entry: u64,
    /// Stored bytes declared.
    stored: u64,
    /// Stored bytes not yet read.
    left: u64,
    /// Padding bytes after the data.
    pad: u64,
    /// Logical reading of a sparse file.
    sparse: Option<SparseCursor>,
}

#[derive(Debug)]
struct SparseCursor {
    regions: std::vec::IntoIter<(u64, u64)>,
    /// Logical position.
    pos: u64,
    /// The region being read: (offset, end).
    region: Option<(u64, u64)>,
    /// Logical size.
    size: u64,
}

/// Reads tar headers and data from a [`Source`].
pub(crate) struct TarReader<S> {
    src: S,
    pos: u64,
    limits: TarLimits,
    cur: Current,
    end: End,
    /// Extension headers left pending when the archive ended: they apply to nothing.
    end_orphans: Vec<Note>,
}

/// A raw 512-byte block.
type Block = [u8; BLOCK_USIZE];

/// PAX records: (key, value), in order, each key once.
type Records = Vec<(Vec<u8>, Vec<u8>)>;

fn field(b: &Block, start: usize, len: usize) -> &[u8] {
    b.get(start..start.saturating_add(len)).unwrap_or_default()
}

/// Up to the first NUL (Go's `parseString`).
fn cstr(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(i) => b.get(..i).unwrap_or_default(),
        None => b,
    }
}

/// Go's `parseNumeric`: base-256 when the high bit is set, else octal with NULs and spaces
/// trimmed (empty is 0).
fn numeric(b: &[u8]) -> Option<i64> {
    if b.first().is_some_and(|&c| c & 0x80 != 0) {
        let inv: u8 = if b.first().is_some_and(|&c| c & 0x40 != 0) {
            0xff
        } else {
            0
        };
        let mut x: u64 = 0;
        for (i, &c) in b.iter().enumerate() {
            let mut c = c ^ inv;
            if i == 0 {
                c &= 0x7f;
            }
            if x >> 56 > 0 {
                return None;
            }
            x = (x << 8) | u64::from(c);
        }
        if x >> 63 > 0 {
            return None;
        }
        let v = i64::try_from(x).ok()?;
        return Some(if inv == 0xff { !v } else { v });
    }
    octal(b)
}

fn octal(b: &[u8]) -> Option<i64> {
    let start = b.iter().position(|&c| c != b' ' && c != 0);
    let Some(start) = start else {
        return Some(0);
    };
    let end = b
        .iter()
        .rposition(|&c| c != b' ' && c != 0)
        .unwrap_or(start);
    let text = cstr(b.get(start..=end).unwrap_or_default());
    if text.is_empty() {
        return Some(0);
    }
    let mut x: u64 = 0;
    for &c in text {
        if !(b'0'..=b'7').contains(&c) {
            return None;
        }
        x = x
            .checked_mul(8)?
            .checked_add(u64::from(c.wrapping_sub(b'0')))?;
    }
    // Go parses as uint64 and converts: a value past i64 wraps negative.
    Some(x as i64)
}

/// Go's `strconv.ParseInt(s, 10, 64)`.
fn decimal(v: &[u8]) -> Option<i64> {
    std::str::from_utf8(v).ok()?.parse::<i64>().ok()
}

/// Go's `parsePAXTime`: whole seconds, sign and fraction allowed.
fn pax_time(v: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(v).ok()?;
    let (whole, frac) = match s.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (s, None),
    };
    if frac.is_some_and(|f| !f.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    if whole.is_empty() || whole == "-" || whole == "+" {
        return Some(0);
    }
    whole.parse::<i64>().ok()
}

fn checksum_ok(b: &Block) -> bool {
    let Some(expected) = octal(field(b, 148, 8)) else {
        return false;
    };
    let mut unsigned: i64 = 0;
    let mut signed: i64 = 0;
    for (i, &c) in b.iter().enumerate() {
        let c = if (148..156).contains(&i) { b' ' } else { c };
        unsigned = unsigned.saturating_add(i64::from(c));
        signed = signed.saturating_add(i64::from(c as i8));
    }
    expected == unsigned || expected == signed
}

fn format_of(b: &Block) -> Format {
    let magic = field(b, 257, 6);
    let version = field(b, 263, 2);
    let trailer = field(b, 508, 4);
    if magic == b"ustar\0" && trailer == b"tar\0" {
        Format::Star
    } else if magic == b"ustar\0" {
        Format::Ustar
    } else if magic == b"ustar " && version == b" \0" {
        Format::Gnu
    } else {
        Format::V7
    }
}

/// Whether a block is a tar header with a valid checksum, or all zeros (how an empty tar
/// starts).
pub(crate) fn looks_like_header(head: &[u8]) -> bool {
    let Some(b) = head.get(..BLOCK_USIZE) else {
        return false;
    };
    let mut block = [0u8; BLOCK_USIZE];
    block.copy_from_slice(b);
    block.iter().all(|&c| c == 0) || checksum_ok(&block)
}

/// The fields of one header block, before extension records are applied.
struct Raw {
    typeflag: u8,
    name: Vec<u8>,
    link: Vec<u8>,
    size: i64,
    mode: i64,
    uid: i64,
    gid: i64,
    mtime: i64,
    devmajor: i64,
    devminor: i64,
    format: Format,
}

fn parse_block(b: &Block, at: u64) -> Result<Raw, TarError> {
    let bad = |problem| TarError::Header { at, problem };
    if !checksum_ok(b) {
        return Err(bad(HeaderProblem::Checksum));
    }
    let format = format_of(b);
    let num =
        |start, len, f: Field| numeric(field(b, start, len)).ok_or(bad(HeaderProblem::Number(f)));
    let mut raw = Raw {
        typeflag: field(b, 156, 1).first().copied().unwrap_or(0),
        name: cstr(field(b, 0, 100)).to_vec(),
        link: cstr(field(b, 157, 100)).to_vec(),
        size: num(124, 12, Field::Size)?,
        mode: num(100, 8, Field::Mode)?,
        uid: num(108, 8, Field::Uid)?,
        gid: num(116, 8, Field::Gid)?,
        mtime: num(136, 12, Field::Mtime)?,
        devmajor: 0,
        devminor: 0,
        format,
    };
    if format != Format::V7 {
        raw.devmajor = num(329, 8, Field::DevMajor)?;
        raw.devminor = num(337, 8, Field::DevMinor)?;
        let prefix = match format {
            Format::Ustar => cstr(field(b, 345, 155)).to_vec(),
            Format::Star => cstr(field(b, 345, 131)).to_vec(),
            // GNU has atime/ctime where USTAR has the prefix. Go falls back to reading a
            // prefix when they do not parse (files of pre-1.8 Go writers).
            _ => {
                let times_ok = [field(b, 345, 12), field(b, 357, 12)]
                    .iter()
                    .all(|t| t.first() == Some(&0) || numeric(t).is_some());
                let p = cstr(field(b, 345, 155));
                if !times_ok && p.is_ascii() {
                    p.to_vec()
                } else {
                    Vec::new()
                }
            }
        };
        if !prefix.is_empty() {
            let mut name = prefix;
            name.push(b'/');
            name.extend_from_slice(&raw.name);
            raw.name = name;
        }
    }
    Ok(raw)
}

/// Extension records gathered before a file's header.
#[derive(Default)]
struct Pending {
    /// Local PAX records and the offset of their header.
    pax: Option<(Records, u64)>,
    long_name: Option<(Vec<u8>, u64)>,
    long_link: Option<(Vec<u8>, u64)>,
    /// Where the entry's first extension header starts.
    start: Option<u64>,
    notes: Vec<Note>,
}

/// Parses PAX records (`"%d %s=%s\n"`), as Go's `parsePAX`: GNU sparse 0.0 `offset` and
/// `numbytes` pairs are gathered into one `GNU.sparse.map` record.
fn parse_pax(data: &[u8], at: u64) -> Result<Records, TarError> {
    let bad = || TarError::Header {
        at,
        problem: HeaderProblem::PaxRecord,
    };
    let mut out: Records = Vec::new();
    let mut sparse: Vec<Vec<u8>> = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let sp = rest.iter().position(|&c| c == b' ').ok_or_else(bad)?;
        let len = decimal(rest.get(..sp).unwrap_or_default()).ok_or_else(bad)?;
        let len = usize::try_from(len).map_err(|_| bad())?;
        if len < 5 || len > rest.len() || len <= sp.saturating_add(1) {
            return Err(bad());
        }
        let rec = rest.get(sp.saturating_add(1)..len).ok_or_else(bad)?;
        let (body, nl) = rec.split_at(rec.len().saturating_sub(1));
        if nl != b"\n" {
            return Err(bad());
        }
        let eq = body.iter().position(|&c| c == b'=').ok_or_else(bad)?;
        let key = body.get(..eq).unwrap_or_default();
        let value = body.get(eq.saturating_add(1)..).unwrap_or_default();
        let value_nul_ok = !matches!(key, b"path" | b"linkpath" | b"uname" | b"gname");
        if key.is_empty() || key.contains(&0) || (!value_nul_ok && value.contains(&0)) {
            return Err(bad());
        }
        match key {
            b"GNU.sparse.offset" | b"GNU.sparse.numbytes" => {
                let want_offset = sparse.len() % 2 == 0;
                if want_offset != (key == b"GNU.sparse.offset") || value.contains(&b',') {
                    return Err(bad());
                }
                sparse.push(value.to_vec());
            }
            _ => {
                // Go keeps the last value of a repeated key.
                out.retain(|(k, _)| k != key);
                out.push((key.to_vec(), value.to_vec()));
            }
        }
        rest = rest.get(len..).unwrap_or_default();
    }
    if !sparse.is_empty() {
        out.retain(|(k, _)| k != b"GNU.sparse.map");
        out.push((b"GNU.sparse.map".to_vec(), sparse.join(&b',')));
    }
    Ok(out)
}

fn pax_get<'a>(records: &'a [(Vec<u8>, Vec<u8>)], key: &[u8]) -> Option<&'a [u8]> {
    records
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_slice())
}

/// Checks sparse regions as Go's `validateSparseEntries` does: in order, not overlapping,
/// within `size`, none negative.
fn valid_regions(regions: &[(i64, i64)], size: i64) -> Option<Vec<(u64, u64)>> {
    let mut out = Vec::with_capacity(regions.len().min(1 << 12));
    let mut pre: u64 = 0;
    let size = u64::try_from(size).ok()?;
    for &(off, len) in regions {
        let off = u64::try_from(off).ok()?;
        let len = u64::try_from(len).ok()?;
        let end = off.checked_add(len)?;
        if off < pre || end > size {
            return None;
        }
        pre = end;
        out.push((off, len));
    }
    Some(out)
}

impl<S: Source> TarReader<S> {
    /// A reader at the start of a tar stream.
    pub(crate) fn new(src: S, limits: TarLimits) -> Self {
        TarReader {
            src,
            pos: 0,
            limits,
            cur: Current::default(),
            end: End::Open,
            end_orphans: Vec::new(),
        }
    }

    /// Extension headers (PAX `x`, GNU `L`/`K`) that the end of the archive left without an
    /// entry to apply to (Go drops them silently; another reader may apply them to whatever
    /// follows, such as a second archive after the end blocks).
    pub(crate) fn end_orphans(&self) -> &[Note] {
        &self.end_orphans
    }

    /// Offset of the next unread byte of the tar stream.
    pub(crate) fn pos(&self) -> u64 {
        self.pos
    }

    /// How the archive ended ([`End::Open`] while reading).
    pub(crate) fn end(&self) -> End {
        self.end
    }

    /// Reads until `buf` is full or the input ends; returns the bytes read.
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize, TarError> {
        let mut got = 0usize;
        while let Some(rest) = buf.get_mut(got..) {
            if rest.is_empty() {
                break;
            }
            match self.src.read(rest) {
                Ok(0) => break,
                Ok(n) => {
                    got = got.saturating_add(n);
                    self.pos = self.pos.saturating_add(n as u64);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(TarError::Source(e)),
            }
        }
        Ok(got)
    }

    /// Reads one whole block; `Ok(None)` when the input ends exactly here.
    fn block(&mut self, part: Part, entry: Option<u64>) -> Result<Option<Block>, TarError> {
        let at = self.pos;
        let mut b = [0u8; BLOCK_USIZE];
        let got = self.fill(&mut b)?;
        match got {
            0 => Ok(None),
            BLOCK_USIZE => Ok(Some(b)),
            n => Err(TarError::Truncated {
                at: at.saturating_add(n as u64),
                part,
                entry,
                declared: BLOCK,
                present: n as u64,
            }),
        }
    }

    /// Skips what is left of the current entry (its data and padding).
    fn skip_current(&mut self) -> Result<(), TarError> {
        let cur = std::mem::take(&mut self.cur);
        let mut left = cur.left;
        if left > 0 {
            let n = self.src.skip(left).map_err(TarError::Source)?;
            self.pos = self.pos.saturating_add(n);
            left = left.saturating_sub(n);
            if left > 0 {
                return Err(TarError::Truncated {
                    at: self.pos,
                    part: Part::Data,
                    entry: Some(cur.entry),
                    declared: cur.stored,
                    present: cur.stored.saturating_sub(left),
                });
            }
        }
        if cur.pad > 0 {
            let n = self.src.skip(cur.pad).map_err(TarError::Source)?;
            self.pos = self.pos.saturating_add(n);
            if n < cur.pad {
                return Err(TarError::Truncated {
                    at: self.pos,
                    part: Part::Padding,
                    entry: Some(cur.entry),
                    declared: cur.pad,
                    present: n,
                });
            }
        }
        Ok(())
    }

    /// Reads the whole content of an extension entry of `size` bytes (and its padding).
    fn special(&mut self, size: i64, at: u64) -> Result<Vec<u8>, TarError> {
        let size = u64::try_from(size).map_err(|_| TarError::Header {
            at,
            problem: HeaderProblem::NegativeSize,
        })?;
        if size > self.limits.max_special {
            return Err(TarError::Header {
                at,
                problem: HeaderProblem::TooLong {
                    size,
                    max: self.limits.max_special,
                },
            });
        }
        let mut data = vec![0u8; usize::try_from(size).unwrap_or(0)];
        let got = self.fill(&mut data)?;
        if (got as u64) < size {
            return Err(TarError::Truncated {
                at: self.pos,
                part: Part::Extension,
                entry: Some(at),
                declared: size,
                present: got as u64,
            });
        }
        let pad = padding(size);
        if pad > 0 {
            let n = self.src.skip(pad).map_err(TarError::Source)?;
            self.pos = self.pos.saturating_add(n);
            if n < pad {
                return Err(TarError::Truncated {
                    at: self.pos,
                    part: Part::Padding,
                    entry: Some(at),
                    declared: pad,
                    present: n,
                });
            }
        }
        Ok(data)
    }

    /// The next entry, after skipping what is left of the previous one. `Ok(None)` at the end
    /// of the archive ([`TarReader::end`] says how it ended). After an error the reader is
    /// done.
    pub(crate) fn next(&mut self) -> Result<Option<Header>, TarError> {
        if self.end != End::Open {
            return Ok(None);
        }
        let r = self.next_inner();
        match &r {
            Err(_) => self.end = End::Failed,
            Ok(None) if self.end == End::Open => self.end = End::NoMarker,
            _ => {}
        }
        r
    }

    fn next_inner(&mut self) -> Result<Option<Header>, TarError> {
        self.skip_current()?;
        let mut pending = Pending::default();
        loop {
            let at = self.pos;
            let Some(b) = self.block(Part::Header, None)? else {
                orphan_all(&mut pending, &mut self.end_orphans);
                return Ok(None);
            };
            if b.iter().all(|&c| c == 0) {
                orphan_all(&mut pending, &mut self.end_orphans);
                let second_at = self.pos;
                match self.block(Part::EndMarker, None)? {
                    None => {
                        self.end = End::OneZeroBlock;
                        return Ok(None);
                    }
                    Some(b2) if b2.iter().all(|&c| c == 0) => {
                        self.end = End::Marker;
                        return Ok(None);
                    }
                    Some(_) => {
                        return Err(TarError::Header {
                            at: second_at,
                            problem: HeaderProblem::ZeroThenData,
                        })
                    }
                }
            }
            let raw = parse_block(&b, at)?;
            pending.start.get_or_insert(at);
            match raw.typeflag {
                b'x' => {
                    let data = self.special(raw.size, at)?;
                    let records = parse_pax(&data, at)?;
                    if let Some((_, prev)) = pending.pax.replace((records, at)) {
                        pending.notes.push(Note::Orphaned {
                            typeflag: b'x',
                            at: prev,
                        });
                    }
                }
                b'L' | b'K' => {
                    let data = self.special(raw.size, at)?;
                    let value = cstr(&data).to_vec();
                    let slot = if raw.typeflag == b'L' {
                        &mut pending.long_name
                    } else {
                        &mut pending.long_link
                    };
                    if let Some((_, prev)) = slot.replace((value, at)) {
                        pending.notes.push(Note::Orphaned {
                            typeflag: raw.typeflag,
                            at: prev,
                        });
                    }
                }
                b'g' => {
                    let data = self.special(raw.size, at)?;
                    let records = parse_pax(&data, at)?;
                    let mut notes = std::mem::take(&mut pending.notes);
                    orphan_all(&mut pending, &mut notes);
                    let h = Header {
                        start: at,
                        offset: at,
                        data: self.pos,
                        name: raw.name,
                        link: Vec::new(),
                        typeflag: b'g',
                        mode: raw.mode,
                        uid: raw.uid,
                        gid: raw.gid,
                        mtime: raw.mtime,
                        size: 0,
                        stored: 0,
                        devmajor: 0,
                        devminor: 0,
                        format: raw.format,
                        xattrs: Vec::new(),
                        pax_keys: records.into_iter().map(|(k, _)| k).collect(),
                        sparse: None,
                        notes,
                    };
                    return Ok(Some(h));
                }
                _ => return self.file(raw, &b, at, pending).map(Some),
            }
        }
    }

    /// Applies the extension records to a file's header and sets up its data.
    fn file(
        &mut self,
        raw: Raw,
        block: &Block,
        at: u64,
        pending: Pending,
    ) -> Result<Header, TarError> {
        let bad = |problem| TarError::Header { at, problem };
        let Pending {
            pax,
            long_name,
            long_link,
            start,
            mut notes,
        } = pending;
        let records = pax.map(|(r, _)| r).unwrap_or_default();
        let mut h = Header {
            start: start.unwrap_or(at),
            offset: at,
            data: 0,
            name: raw.name,
            link: raw.link,
            typeflag: raw.typeflag,
            mode: raw.mode,
            uid: raw.uid,
            gid: raw.gid,
            mtime: raw.mtime,
            size: 0,
            stored: 0,
            devmajor: raw.devmajor,
            devminor: raw.devminor,
            format: raw.format,
            xattrs: Vec::new(),
            pax_keys: Vec::new(),
            sparse: None,
            notes: Vec::new(),
        };
        let mut size = raw.size;
        let mut pax_path = false;
        let mut pax_link = false;
        for (k, v) in &records {
            h.pax_keys.push(k.clone());
            if v.is_empty() {
                continue; // Go keeps the header's value
            }
            match k.as_slice() {
                b"path" => {
                    h.name = v.clone();
                    pax_path = true;
                }
                b"linkpath" => {
                    h.link = v.clone();
                    pax_link = true;
                }
                b"uid" => h.uid = decimal(v).ok_or(bad(HeaderProblem::PaxValue("uid")))?,
                b"gid" => h.gid = decimal(v).ok_or(bad(HeaderProblem::PaxValue("gid")))?,
                b"mtime" => h.mtime = pax_time(v).ok_or(bad(HeaderProblem::PaxValue("mtime")))?,
                b"atime" | b"ctime" => {
                    pax_time(v).ok_or(bad(HeaderProblem::PaxValue("time")))?;
                }
                b"size" => {
                    let pax = decimal(v).ok_or(bad(HeaderProblem::PaxValue("size")))?;
                    let ustar = u64::try_from(raw.size).unwrap_or(0);
                    if let Ok(p) = u64::try_from(pax) {
                        // A size over the USTAR field's reach (8 GiB - 1) must go in PAX with
                        // the field left 0: that is how writers store big files.
                        let legit_big = ustar == 0 && p > 0o77777777777;
                        if p != ustar && !legit_big {
                            notes.push(Note::PaxSizeDiffers { ustar, pax: p });
                        }
                    }
                    size = pax;
                }
                _ => {
                    if let Some(name) = k.strip_prefix(b"SCHILY.xattr.") {
                        h.xattrs.push((name.to_vec(), v.clone()));
                    }
                }
            }
        }
        if let Some((n, _)) = long_name {
            if pax_path {
                notes.push(Note::PaxAndGnuName);
            }
            if !n.is_empty() {
                h.name = n;
            }
        }
        if let Some((l, _)) = long_link {
            if pax_link {
                notes.push(Note::PaxAndGnuName);
            }
            if !l.is_empty() {
                h.link = l;
            }
        }
        if h.typeflag == 0 {
            h.typeflag = if h.name.ends_with(b"/") { b'5' } else { b'0' };
        }
        if size < 0 {
            return Err(bad(HeaderProblem::NegativeSize));
        }
        let declared = size.unsigned_abs();
        let stored = if Header::header_only(h.typeflag) {
            if declared > 0 {
                notes.push(Note::SizeOnHeaderOnly { size: declared });
            }
            0
        } else {
            declared
        };
        for (field, value) in [(Field::Uid, h.uid), (Field::Gid, h.gid)] {
            if !(0..=i64::from(u32::MAX)).contains(&value) {
                notes.push(Note::OutOfRange { field, value });
            }
        }
        if h.mtime < 0 {
            notes.push(Note::OutOfRange {
                field: Field::Mtime,
                value: h.mtime,
            });
        }
        if !(0..=0o7777_7777).contains(&h.mode) {
            notes.push(Note::OutOfRange {
                field: Field::Mode,
                value: h.mode,
            });
        }
        h.stored = stored;
        h.size = stored;
        // Old GNU sparse: the map is in the header and in extension blocks after it.
        if h.typeflag == b'S' {
            let regions = self.old_sparse(block, at)?;
            let real = numeric(field(block, 483, 12))
                .ok_or(bad(HeaderProblem::Number(Field::RealSize)))?;
            self.set_sparse(&mut h, &regions, real, at, &mut notes)?;
        }
        h.data = self.pos;
        self.cur = Current {
            entry: at,
            stored,
            left: stored,
            pad: padding(stored),
            sparse: None,
        };
        if h.typeflag != b'S' && !Header::header_only(h.typeflag) {
            self.pax_sparse(&mut h, &records, at, &mut notes)?;
        }
        if let Some(regions) = &h.sparse {
            self.cur.sparse = Some(SparseCursor {
                regions: regions.clone().into_iter(),
                pos: 0,
                region: None,
                size: h.size,
            });
        }
        h.notes = notes;
        Ok(h)
    }

    /// Reads the old GNU sparse map: 4 entries in the header, 21 in each extension block.
    fn old_sparse(&mut self, block: &Block, at: u64) -> Result<Vec<(i64, i64)>, TarError> {
        let bad = |problem| TarError::Header { at, problem };
        if format_of(block) != Format::Gnu {
            return Err(bad(HeaderProblem::Sparse));
        }
        let mut regions = Vec::new();
        let mut blk = *block;
        let (mut base, mut count, mut ext_at) = (386usize, 4usize, 482usize);
        let mut blocks = 0u64;
        loop {
            for i in 0..count {
                let e = base.saturating_add(i.saturating_mul(24));
                let off_field = field(&blk, e, 12);
                if off_field.first() == Some(&0) {
                    break;
                }
                let off = numeric(off_field).ok_or(bad(HeaderProblem::Number(Field::SparseMap)))?;
                let len = numeric(field(&blk, e.saturating_add(12), 12))
                    .ok_or(bad(HeaderProblem::Number(Field::SparseMap)))?;
                if regions.len() as u64 >= self.limits.max_sparse_regions {
                    return Err(bad(HeaderProblem::SparseRegions {
                        regions: (regions.len() as u64).saturating_add(1),
                        max: self.limits.max_sparse_regions,
                    }));
                }
                regions.push((off, len));
            }
            if field(&blk, ext_at, 1).first().is_some_and(|&c| c > 0) {
                blocks = blocks.saturating_add(1);
                if blocks > self.limits.max_sparse_regions {
                    return Err(bad(HeaderProblem::SparseExtensions {
                        blocks,
                        max: self.limits.max_sparse_regions,
                    }));
                }
                blk = self
                    .block(Part::Extension, Some(at))?
                    .ok_or(TarError::Truncated {
                        at: self.pos,
                        part: Part::Extension,
                        entry: Some(at),
                        declared: BLOCK,
                        present: 0,
                    })?;
                (base, count, ext_at) = (0, 21, 504);
                continue;
            }
            return Ok(regions);
        }
    }

    /// Applies a PAX sparse format (0.0, 0.1, 1.0) when the records name one.
    fn pax_sparse(
        &mut self,
        h: &mut Header,
        records: &[(Vec<u8>, Vec<u8>)],
        at: u64,
        notes: &mut Vec<Note>,
    ) -> Result<(), TarError> {
        let bad = |problem| TarError::Header { at, problem };
        let major = pax_get(records, b"GNU.sparse.major");
        let minor = pax_get(records, b"GNU.sparse.minor");
        let map = pax_get(records, b"GNU.sparse.map");
        let is1x0 = match (major, minor) {
            (Some(b"0"), Some(b"0" | b"1")) => false,
            (Some(b"1"), Some(b"0")) => true,
            (Some(_), _) | (_, Some(_)) => return Ok(()), // an unknown version: a plain file
            (None, None) if map.is_some_and(|m| !m.is_empty()) => false,
            (None, None) => return Ok(()),
        };
        if let Some(name) = pax_get(records, b"GNU.sparse.name").filter(|n| !n.is_empty()) {
            h.name = name.to_vec();
        }
        let real = pax_get(records, b"GNU.sparse.size")
            .or_else(|| pax_get(records, b"GNU.sparse.realsize"))
            .filter(|v| !v.is_empty());
        let real = match real {
            Some(v) => decimal(v).ok_or(bad(HeaderProblem::PaxValue("GNU.sparse.size")))?,
            None => i64::try_from(h.stored).unwrap_or(i64::MAX),
        };
        let regions = if is1x0 {
            self.sparse_map_1x0(at)?
        } else {
            let text = map.unwrap_or_default();
            let nums: Vec<&[u8]> = if text.is_empty() {
                Vec::new()
            } else {
                text.split(|&c| c == b',').collect()
            };
            if nums.len() % 2 != 0 {
                return Err(bad(HeaderProblem::Sparse));
            }
            if let Some(n) = pax_get(records, b"GNU.sparse.numblocks") {
                let n = decimal(n).ok_or(bad(HeaderProblem::PaxValue("GNU.sparse.numblocks")))?;
                if u64::try_from(n).ok() != Some((nums.len() / 2) as u64) {
                    return Err(bad(HeaderProblem::Sparse));
                }
            }
            if (nums.len() / 2) as u64 > self.limits.max_sparse_regions {
                return Err(bad(HeaderProblem::SparseRegions {
                    regions: (nums.len() / 2) as u64,
                    max: self.limits.max_sparse_regions,
                }));
            }
            let mut v = Vec::with_capacity(nums.len() / 2);
            for pair in nums.chunks(2) {
                let (Some(o), Some(l)) = (pair.first(), pair.get(1)) else {
                    return Err(bad(HeaderProblem::Sparse));
                };
                let o = decimal(o).ok_or(bad(HeaderProblem::Sparse))?;
                let l = decimal(l).ok_or(bad(HeaderProblem::Sparse))?;
                v.push((o, l));
            }
            v
        };
        self.set_sparse(h, &regions, real, at, notes)
    }

    /// Reads a PAX 1.0 sparse map from the start of the entry's data: decimal numbers, one
    /// per line (the count, then offset/length pairs), in whole blocks.
    fn sparse_map_1x0(&mut self, at: u64) -> Result<Vec<(i64, i64)>, TarError> {
        let bad = |problem| TarError::Header { at, problem };
        let mut buf: Vec<u8> = Vec::new();
        let mut newlines = 0u64;
        let mut need = 1u64;
        let mut count: Option<u64> = None;
        loop {
            while newlines < need {
                if self.cur.left < BLOCK {
                    return Err(bad(HeaderProblem::Sparse));
                }
                if buf.len() as u64 >= self.limits.max_special {
                    return Err(bad(HeaderProblem::TooLong {
                        size: (buf.len() as u64).saturating_add(BLOCK),
                        max: self.limits.max_special,
                    }));
                }
                let b = self
                    .block(Part::Data, Some(at))?
                    .ok_or(TarError::Truncated {
                        at: self.pos,
                        part: Part::Data,
                        entry: Some(at),
                        declared: self.cur.stored,
                        present: self.cur.stored.saturating_sub(self.cur.left),
                    })?;
                self.cur.left = self.cur.left.saturating_sub(BLOCK);
                newlines =
                    newlines.saturating_add(b.iter().filter(|&&c| c == b'\n').count() as u64);
                buf.extend_from_slice(&b);
            }
            if count.is_some() {
                break;
            }
            let first = buf.split(|&c| c == b'\n').next().unwrap_or_default();
            let n = decimal(first)
                .and_then(|n| u64::try_from(n).ok())
                .ok_or(bad(HeaderProblem::Sparse))?;
            if n > self.limits.max_sparse_regions {
                return Err(bad(HeaderProblem::SparseRegions {
                    regions: n,
                    max: self.limits.max_sparse_regions,
                }));
            }
            count = Some(n);
            need = n.saturating_mul(2).saturating_add(1);
        }
        let mut tokens = buf.split(|&c| c == b'\n').skip(1);
        let mut v = Vec::new();
        for _ in 0..count.unwrap_or(0) {
            let o = tokens
                .next()
                .and_then(decimal)
                .ok_or(bad(HeaderProblem::Sparse))?;
            let l = tokens
                .next()
                .and_then(decimal)
                .ok_or(bad(HeaderProblem::Sparse))?;
            v.push((o, l));
        }
        Ok(v)
    }

    fn set_sparse(
        &mut self,
        h: &mut Header,
        regions: &[(i64, i64)],
        real: i64,
        at: u64,
        notes: &mut Vec<Note>,
    ) -> Result<(), TarError> {
        let regions = valid_regions(regions, real).ok_or(TarError::Header {
            at,
            problem: HeaderProblem::Sparse,
        })?;
        let mapped = regions
            .iter()
            .fold(0u64, |acc, &(_, len)| acc.saturating_add(len));
        let data_left = if h.typeflag == b'S' {
            h.stored
        } else {
            self.cur.left
        };
        if mapped != data_left {
            notes.push(Note::SparseMismatch {
                mapped,
                stored: data_left,
            });
        }
        h.size = real.unsigned_abs();
        h.sparse = Some(regions);
        Ok(())
    }

    /// Reads the current entry's (logical) content.
    pub(crate) fn read_body(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.cur.sparse.is_none() {
            return self.read_stored(buf);
        }
        self.read_sparse(buf)
    }

    /// Reads stored data of the current entry.
    fn read_stored(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = usize::try_from(self.cur.left)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let Some(buf) = buf.get_mut(..want) else {
            return Ok(0);
        };
        if buf.is_empty() {
            return Ok(0);
        }
        let n = loop {
            match self.src.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => break other?,
            }
        };
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                Cut {
                    at: self.pos,
                    entry: self.cur.entry,
                    declared: self.cur.stored,
                    present: self.cur.stored.saturating_sub(self.cur.left),
                },
            ));
        }
        self.pos = self.pos.saturating_add(n as u64);
        self.cur.left = self.cur.left.saturating_sub(n as u64);
        Ok(n)
    }

    fn read_sparse(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(sp) = self.cur.sparse.as_mut() else {
                return Ok(0);
            };
            if sp.pos >= sp.size {
                return Ok(0);
            }
            let (start, end) = match sp.region {
                Some(r) if sp.pos < r.1 => r,
                _ => match sp.regions.next() {
                    Some((off, len)) => {
                        let r = (off, off.saturating_add(len));
                        sp.region = Some(r);
                        r
                    }
                    None => (sp.size, sp.size),
                },
            };
            if sp.pos < start {
                // A hole.
                let n = usize::try_from(start.saturating_sub(sp.pos))
                    .unwrap_or(usize::MAX)
                    .min(buf.len());
                if let Some(dst) = buf.get_mut(..n) {
                    dst.fill(0);
                }
                sp.pos = sp.pos.saturating_add(n as u64);
                return Ok(n);
            }
            if start == end {
                if end >= sp.size {
                    // The tail hole after the last region was handled above; done.
                    sp.pos = sp.size;
                }
                continue;
            }
            let n = usize::try_from(end.saturating_sub(sp.pos))
                .unwrap_or(usize::MAX)
                .min(buf.len());
            let Some(dst) = buf.get_mut(..n) else {
                return Ok(0);
            };
            let got = self.read_stored(dst)?;
            if let Some(sp) = self.cur.sparse.as_mut() {
                sp.pos = sp.pos.saturating_add(got as u64);
            }
            return Ok(got);
        }
    }

    /// A `Read` over the current entry's content.
    pub(crate) fn body(&mut self) -> Body<'_, S> {
        Body { tar: self }
    }
}

/// Marks every pending extension header as orphaned.
fn orphan_all(p: &mut Pending, notes: &mut Vec<Note>) {
    if let Some((_, at)) = p.pax.take() {
        notes.push(Note::Orphaned { typeflag: b'x', at });
    }
    if let Some((_, at)) = p.long_name.take() {
        notes.push(Note::Orphaned { typeflag: b'L', at });
    }
    if let Some((_, at)) = p.long_link.take() {
        notes.push(Note::Orphaned { typeflag: b'K', at });
    }
}

/// Padding after `size` bytes of data.
pub(crate) fn padding(size: u64) -> u64 {
    match size % BLOCK {
        0 => 0,
        r => BLOCK.saturating_sub(r),
    }
}

/// The content of the current entry.
pub(crate) struct Body<'a, S> {
    tar: &'a mut TarReader<S>,
}

impl<S: Source> Read for Body<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.tar.read_body(buf)
    }
}

/// What [`walk`] asks of its visitor after each entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Go on with the next entry.
    Next,
    /// Stop reading (the rest of the archive is not looked at).
    Stop,
}

/// How a [`walk`] ended.
#[derive(Debug)]
pub(crate) enum Stopped {
    /// At the end of the archive ([`End`] says how).
    End(End),
    /// The visitor asked to stop.
    Visitor,
    /// The tar could not be read on.
    Error(TarError),
    /// The visitor failed with an error of its own.
    Failed(io::Error),
}

/// The one loop over tar entries: calls `visit` with each entry's header and a reader of its
/// content (what the visitor leaves unread is skipped), until the end, an error, or the
/// visitor's [`Flow::Stop`].
///
/// A visitor's I/O error that is the input ending inside the entry ([`Cut`]) is reported as
/// [`TarError::Truncated`]; one that comes from the source is [`TarError::Source`]; any other is
/// the visitor's own ([`Stopped::Failed`]).
pub(crate) fn walk<S, V>(tar: &mut TarReader<S>, mut visit: V) -> Stopped
where
    S: Source,
    V: FnMut(&Header, &mut Body<'_, S>) -> io::Result<Flow>,
{
    loop {
        let h = match tar.next() {
            Ok(Some(h)) => h,
            Ok(None) => return Stopped::End(tar.end()),
            Err(e) => return Stopped::Error(e),
        };
        let mut body = tar.body();
        match visit(&h, &mut body) {
            Ok(Flow::Next) => {}
            Ok(Flow::Stop) => return Stopped::Visitor,
            Err(e) => {
                tar.end = End::Failed;
                if let Some(cut) = Cut::of(&e) {
                    return Stopped::Error(TarError::Truncated {
                        at: cut.at,
                        part: Part::Data,
                        entry: Some(cut.entry),
                        declared: cut.declared,
                        present: cut.present,
                    });
                }
                return Stopped::Failed(e);
            }
        }
    }
}

#[cfg(test)]
// Test helpers compute sizes freely: an overflow there is a failed test.
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    /// A header block with the given fields (ustar magic), checksum set.
    fn block(name: &[u8], typeflag: u8, size: u64) -> Vec<u8> {
        let mut b = vec![0u8; 512];
        b[..name.len()].copy_from_slice(name);
        b[100..108].copy_from_slice(b"0000644\0");
        b[108..116].copy_from_slice(b"0000000\0");
        b[116..124].copy_from_slice(b"0000000\0");
        b[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
        b[136..148].copy_from_slice(b"00000000000\0");
        b[156] = typeflag;
        b[257..263].copy_from_slice(b"ustar\0");
        b[263..265].copy_from_slice(b"00");
        fix_sum(&mut b);
        b
    }

    fn fix_sum(b: &mut [u8]) {
        b[148..156].fill(b' ');
        let sum: u32 = b.iter().map(|&c| u32::from(c)).sum();
        b[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    }

    fn data(bytes: &[u8]) -> Vec<u8> {
        let mut v = bytes.to_vec();
        v.resize(bytes.len().div_ceil(512) * 512, 0);
        v
    }

    fn pax(records: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (k, v) in records {
            let body_len = k.len() + v.len() + 3;
            let mut len = body_len + 1;
            while len != body_len + len.to_string().len() {
                len = body_len + len.to_string().len();
            }
            out.extend_from_slice(format!("{len} {k}=").as_bytes());
            out.extend_from_slice(v);
            out.push(b'\n');
        }
        out
    }

    fn entries(bytes: &[u8]) -> (Vec<(Header, Vec<u8>)>, Stopped) {
        let mut tar = TarReader::new(Stream(bytes), TarLimits::default());
        let mut out = Vec::new();
        let stopped = walk(&mut tar, |h, body| {
            let mut content = Vec::new();
            body.read_to_end(&mut content)?;
            out.push((h.clone(), content));
            Ok(Flow::Next)
        });
        (out, stopped)
    }

    #[test]
    fn reads_entries_and_the_end_marker() {
        let mut t = block(b"a.txt", b'0', 5);
        t.extend(data(b"hello"));
        t.extend(block(b"d/", 0, 0));
        t.extend([0u8; 1024]);
        let (e, stopped) = entries(&t);
        assert!(matches!(stopped, Stopped::End(End::Marker)));
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].0.name, b"a.txt");
        assert_eq!(e[0].1, b"hello");
        assert_eq!(e[0].0.offset, 0);
        assert_eq!(e[0].0.data, 512);
        assert_eq!(
            e[1].0.typeflag, b'5',
            "\\0 with a trailing slash is a directory"
        );
        assert_eq!(e[1].0.offset, 1024);
    }

    #[test]
    fn pax_values_may_hold_newlines_and_size_wins() {
        let records = pax(&[("comment", b"a\nb"), ("path", b"long/name"), ("size", b"3")]);
        let mut t = block(b"PaxHeaders/x", b'x', records.len() as u64);
        t.extend(data(&records));
        t.extend(block(b"short", b'0', 5));
        t.extend(data(b"abc"));
        t.extend([0u8; 1024]);
        let (e, stopped) = entries(&t);
        assert!(matches!(stopped, Stopped::End(End::Marker)), "{stopped:?}");
        assert_eq!(e[0].0.name, b"long/name");
        assert_eq!(e[0].1, b"abc");
        assert_eq!(e[0].0.start, 0);
        assert_eq!(e[0].0.offset, 1024);
        assert_eq!(e[0].0.notes, [Note::PaxSizeDiffers { ustar: 5, pax: 3 }]);
    }

    #[test]
    fn a_second_pax_header_replaces_the_first() {
        let first = pax(&[("path", b"one")]);
        let second = pax(&[("uid", b"7")]);
        let mut t = block(b"p1", b'x', first.len() as u64);
        t.extend(data(&first));
        t.extend(block(b"p2", b'x', second.len() as u64));
        t.extend(data(&second));
        t.extend(block(b"f", b'0', 0));
        let (e, stopped) = entries(&t);
        assert!(matches!(stopped, Stopped::End(End::NoMarker)));
        assert_eq!(e[0].0.name, b"f");
        assert_eq!(e[0].0.uid, 7);
        assert_eq!(
            e[0].0.notes,
            [Note::Orphaned {
                typeflag: b'x',
                at: 0
            }]
        );
    }

    #[test]
    fn links_carry_no_data_whatever_their_size() {
        let mut t = block(b"l", b'2', 512);
        t.extend(block(b"f", b'0', 0));
        let (e, _) = entries(&t);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].0.notes, [Note::SizeOnHeaderOnly { size: 512 }]);
        assert_eq!(e[1].0.offset, 512);
    }

    #[test]
    fn typed_truncation_and_header_errors() {
        let mut t = block(b"a", b'0', 1000);
        t.extend(b"xyz");
        let (_, stopped) = entries(&t);
        match stopped {
            Stopped::Error(TarError::Truncated {
                part: Part::Data,
                declared: 1000,
                present: 3,
                entry: Some(0),
                ..
            }) => {}
            other => panic!("{other:?}"),
        }
        let (_, stopped) = entries(&block(b"a", b'0', 0)[..300]);
        assert!(matches!(
            stopped,
            Stopped::Error(TarError::Truncated {
                part: Part::Header,
                present: 300,
                ..
            })
        ));
        let mut bad = block(b"a", b'0', 0);
        bad[0] = b'b';
        let (_, stopped) = entries(&bad);
        assert!(matches!(
            stopped,
            Stopped::Error(TarError::Header {
                problem: HeaderProblem::Checksum,
                at: 0
            })
        ));
        let mut z = vec![0u8; 512];
        z.extend(block(b"a", b'0', 0));
        let (_, stopped) = entries(&z);
        assert!(matches!(
            stopped,
            Stopped::Error(TarError::Header {
                problem: HeaderProblem::ZeroThenData,
                at: 512
            })
        ));
        let (_, stopped) = entries(&[0u8; 512]);
        assert!(matches!(stopped, Stopped::End(End::OneZeroBlock)));
    }

    #[test]
    fn pax_sparse_1_0_is_expanded() {
        let map = b"2\n0\n2\n10\n3\n";
        let mut stored = data(map);
        stored.extend(b"abXYZ");
        let records = pax(&[
            ("GNU.sparse.major", b"1"),
            ("GNU.sparse.minor", b"0"),
            ("GNU.sparse.name", b"real/name"),
            ("GNU.sparse.realsize", b"16"),
        ]);
        let mut t = block(b"x", b'x', records.len() as u64);
        t.extend(data(&records));
        t.extend(block(b"GNUSparseFile.0/name", b'0', stored.len() as u64));
        t.extend(data(&stored));
        t.extend([0u8; 1024]);
        let (e, stopped) = entries(&t);
        assert!(matches!(stopped, Stopped::End(End::Marker)), "{stopped:?}");
        assert_eq!(e[0].0.name, b"real/name");
        assert_eq!(e[0].0.size, 16);
        assert_eq!(e[0].1, b"ab\0\0\0\0\0\0\0\0XYZ\0\0\0");
        assert!(e[0].0.notes.is_empty(), "{:?}", e[0].0.notes);
    }

    /// An old GNU sparse header with one region and `blocks` extension blocks, each holding
    /// 21 empty-but-present regions (`regions`) or none, read with a limit of 50.
    fn read_old_sparse(blocks: usize, regions: bool) -> Result<Option<Header>, TarError> {
        let mut h = block(b"s", b'S', 0);
        h[257..263].copy_from_slice(b"ustar ");
        h[263..265].copy_from_slice(b" \0");
        if regions {
            h[386..398].copy_from_slice(b"00000000000\0");
            h[398..410].copy_from_slice(b"00000000001\0");
        }
        h[482] = 1;
        h[483..495].copy_from_slice(b"00000001000\0");
        fix_sum(&mut h);
        let mut t = h.clone();
        for _ in 0..blocks {
            let mut ext = vec![0u8; 512];
            for i in 0..21 {
                let e = i * 24;
                if regions {
                    ext[e..e + 12].copy_from_slice(b"00000000000\0");
                    ext[e + 12..e + 24].copy_from_slice(b"00000000000\0");
                }
            }
            ext[504] = 1;
            t.extend(ext);
        }
        let limits = TarLimits {
            max_special: 1 << 20,
            max_sparse_regions: 50,
        };
        TarReader::new(Stream(&t[..]), limits).next()
    }

    #[test]
    fn old_gnu_sparse_with_extension_blocks_is_bounded() {
        match read_old_sparse(4, true) {
            Err(TarError::Header {
                problem: HeaderProblem::SparseRegions { max: 50, .. },
                ..
            }) => {}
            other => panic!("{other:?}"),
        }
        // Extension blocks that hold no region still end: their count has its own bound.
        match read_old_sparse(60, false) {
            Err(TarError::Header {
                at: 0,
                problem:
                    HeaderProblem::SparseExtensions {
                        blocks: 51,
                        max: 50,
                    },
            }) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn numbers_as_go_reads_them() {
        assert_eq!(numeric(b"0000644\0"), Some(0o644));
        assert_eq!(numeric(b"  644 \0"), Some(0o644));
        assert_eq!(numeric(b"\0\0\0"), Some(0));
        assert_eq!(numeric(b"64x"), None);
        assert_eq!(numeric(&[0x80, 0, 0, 0, 0, 0, 0, 1, 0]), Some(256));
        assert_eq!(numeric(&[0xff; 8]), Some(-1));
    }
}
