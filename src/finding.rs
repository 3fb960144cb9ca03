//! Findings: what validation says about an archive, each with a stable [`Code`], a
//! [`Severity`] and where it is (the member, its header offset, and inside a layer the entry and
//! its offset).
//!
//! Every code documents the rule it implements and where the rule comes from; rule numbers
//! (R1–R40) group them by family as `docs/rules.md` lists them: the outer archive (R1–R5),
//! `manifest.json` (R6–R16), the image config (R17–R23), legacy layer directories and
//! `repositories` (R24–R29), the OCI layout (R30–R34) and layer tars (R35–R40).

use std::fmt;

use serde::{Serialize, Serializer};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Severity {
    /// A fact worth knowing (layout, platform, compression).
    Info,
    /// Writers never produce it or a spec says SHOULD; reference loaders accept it.
    Warning,
    /// A reference loader (docker load, containers/image, go-containerregistry, containerd)
    /// rejects the archive, or its content cannot be trusted (digest mismatch).
    Error,
}

impl Severity {
    /// The name as shown in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

macro_rules! codes {
    ($( $(#[doc = $doc:literal])* $name:ident = $s:literal, $sev:ident, $rule:expr; )*) => {
        /// A stable finding code. Its kebab-case string ([`Code::as_str`]) never changes meaning.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[non_exhaustive]
        pub enum Code {
            $( $(#[doc = $doc])* $name, )*
        }

        impl Code {
            /// Every code, in declaration order.
            pub const ALL: &'static [Code] = &[$(Code::$name,)*];

            /// The stable kebab-case identifier.
            pub fn as_str(self) -> &'static str {
                match self { $( Code::$name => $s, )* }
            }

            /// The default severity (see [`Reader::strict`](crate::Reader::strict)).
            pub fn severity(self) -> Severity {
                match self { $( Code::$name => Severity::$sev, )* }
            }

            /// The number of the rule this code implements (R1–R40, see the module docs), if any.
            pub fn rule(self) -> Option<u8> {
                match self { $( Code::$name => $rule, )* }
            }

            /// Looks a code up by its string.
            pub fn from_str_opt(s: &str) -> Option<Code> {
                match s { $( $s => Some(Code::$name), )* _ => None }
            }

            /// What the code means and where its rule comes from (its documentation).
            pub fn description(self) -> &'static str {
                match self { $( Code::$name => concat!($($doc, "\n",)* ""), )* }
            }
        }
    };
}

codes! {
    /// R1: the outer archive is compressed (go-containerregistry reads only plain tars).
    OuterCompressed = "outer-compressed", Info, Some(1);
    /// R1: non-zero bytes after the end-of-archive blocks (tolerated by Go's tar reader).
    TrailingData = "trailing-data", Info, Some(1);
    /// R1: the archive ends without its two end-of-archive blocks: cut at a member boundary
    /// (Go's reader, and so docker load, takes it as complete; POSIX tar requires them).
    NoEndOfArchive = "no-end-of-archive", Error, Some(1);
    /// R1: the archive ends early: inside a member, a header, or the compressed stream (a cut
    /// download or copy).
    TruncatedArchive = "truncated-archive", Error, Some(1);
    /// R1: the input is empty.
    EmptyInput = "empty-input", Error, Some(1);
    /// R1: the input (after removing one layer of compression) is not a tar archive.
    NotATar = "not-a-tar", Error, Some(1);
    /// R1: the input is compressed twice; loaders decompress once.
    DoubleCompression = "double-compression", Error, Some(1);
    /// R1: the outer compressed stream is corrupt.
    OuterCorrupt = "outer-corrupt", Error, Some(1);
    /// R1: a header that does not parse (bad checksum, bad number).
    CorruptHeader = "corrupt-header", Error, Some(1);
    /// R35 (outer): a member type `docker load` cannot extract.
    UnknownMemberType = "unknown-member-type", Error, Some(35);
    /// R2: a member name climbs above the archive root with `..`.
    UnsafePath = "unsafe-path", Error, Some(2);
    /// R2: an absolute member name (the leading `/` is stripped on load).
    AbsolutePath = "absolute-path", Warning, Some(2);
    /// R3: a symlink or hardlink member whose target leaves the archive root, or a hardlink
    /// that names no earlier member (extraction cannot create it).
    LinkEscape = "link-escape", Error, Some(3);
    /// R3: a link chain that loops or is longer than `Limits::max_link_depth`.
    LinkLoop = "link-loop", Error, Some(3);
    /// R4: the same member name appears more than once (docker load keeps the last copy,
    /// containers/image and go-containerregistry the first): a warning when the copies are
    /// identical, an error when they differ (the loaders would disagree).
    DuplicateMember = "duplicate-member", Warning, Some(4);
    /// R5: the layout that was recognised.
    Layout = "layout", Info, Some(5);
    /// R5: no image layout at all (no manifest.json, index.json or legacy layer directories).
    NotAnImage = "not-an-image", Error, Some(5);
    /// R6: manifest.json is not a JSON array of image entries (`null` included).
    ManifestInvalid = "manifest-invalid", Error, Some(6);
    /// R6: manifest.json is `[]`: valid, but loads nothing.
    ManifestEmpty = "manifest-empty", Warning, Some(6);
    /// R6: a manifest.json key in another case than the Go field name (Go matches it anyway).
    ManifestKeyCase = "manifest-key-case", Warning, Some(6);
    /// R7: manifest.json over 1 MiB (containers/image refuses it).
    ManifestOver1Mib = "manifest-over-1mib", Warning, Some(7);
    /// R7: manifest.json over 20 MiB (containerd refuses it), or over `Limits::max_json_bytes`.
    ManifestTooLarge = "manifest-too-large", Error, Some(7);
    /// R8: the `Config` file is not in the archive.
    ConfigMissing = "config-missing", Error, Some(8);
    /// R8: a `Layers` file is not in the archive.
    LayerMissing = "layer-missing", Error, Some(8);
    /// R8: a referenced path resolves to something that is not a regular file.
    NotRegularFile = "not-regular-file", Error, Some(8);
    /// R9: a referenced path climbs above the archive root.
    ReferenceEscapes = "reference-escapes", Error, Some(9);
    /// R10: `Layers` and `rootfs.diff_ids` differ in length.
    LayerCountMismatch = "layer-count-mismatch", Error, Some(10);
    /// R11: a layer's sha256 over its decompressed bytes is not its `diff_ids` entry.
    DiffIdMismatch = "diff-id-mismatch", Error, Some(11);
    /// R12: a config or blob name encodes a digest that its content does not have.
    ConfigNameMismatch = "config-name-mismatch", Warning, Some(12);
    /// R13: a `RepoTags` item is not a valid tagged reference.
    InvalidRepoTag = "invalid-repo-tag", Error, Some(13);
    /// R13: a `RepoTags` item without a tag: docker load rejects it ("invalid tag"),
    /// go-containerregistry and containers/image read it as `:latest`.
    RepoTagUntagged = "repo-tag-untagged", Warning, Some(13);
    /// R14: `Parent` names an image that is not in the archive (docker load drops it).
    ParentNotInArchive = "parent-not-in-archive", Info, Some(14);
    /// R14: `Parent` is in the archive but its history is not a prefix of the child's.
    InvalidParent = "invalid-parent", Error, Some(14);
    /// R15: one layer path is used for two different DiffIDs.
    LayerPathReused = "layer-path-reused", Warning, Some(15);
    /// R16: a `LayerSources` key is not one of the config's DiffIDs, or is not a digest.
    LayerSourcesUnknown = "layer-sources-unknown", Warning, Some(16);
    /// R16: a layer named in `LayerSources` as a foreign (non-distributable) layer.
    ForeignLayer = "foreign-layer", Info, Some(16);
    /// R17: the config is not a JSON object.
    ConfigInvalid = "config-invalid", Error, Some(17);
    /// R17: the config has no `rootfs`.
    ConfigNoRootfs = "config-no-rootfs", Error, Some(17);
    /// R18: `rootfs.type` is not `layers`.
    RootfsType = "rootfs-type", Warning, Some(18);
    /// R19: more non-empty history entries than layers.
    HistoryTooManyLayers = "history-too-many-layers", Error, Some(19);
    /// R20: the image platform.
    Platform = "platform", Info, Some(20);
    /// R20: the config has no `os` (docker load substitutes the host's).
    OsMissing = "os-missing", Warning, Some(20);
    /// R21: a `created` time that is not RFC 3339.
    InvalidCreated = "invalid-created", Warning, Some(21);
    /// R22: a digest string that does not follow the OCI digest grammar (`algorithm:encoded`,
    /// lowercase hex of 64 digits for sha256, 128 for sha512) in a descriptor, a `diff_ids`
    /// entry or a `LayerSources` key; it is never used as a path (containers/image
    /// CVE-2024-3727: `sha256:../../x` as a blob path). A warning for a blob file whose name is
    /// not a digest (no loader reads it).
    InvalidDigest = "invalid-digest", Error, Some(22);
    /// R23: the config is over 4 MiB (containers/image refuses it).
    ConfigTooLarge = "config-too-large", Error, Some(23);
    /// R24: a legacy layer directory's `VERSION` is not exactly `1.0`, as the Docker image
    /// specification v1.2 requires (no loader reads it: `docker load` ignores it, which the
    /// loader verdicts say).
    VersionMismatch = "version-mismatch", Error, Some(24);
    /// R24: a legacy layer directory without `VERSION` (the Docker image specification v1.2
    /// requires it; no loader reads it).
    VersionMissing = "version-missing", Error, Some(24);
    /// R25: a legacy layer directory without `json`.
    LegacyJsonMissing = "legacy-json-missing", Error, Some(25);
    /// R25: a legacy `json` that is not a JSON object.
    LegacyJsonInvalid = "legacy-json-invalid", Error, Some(25);
    /// R25: a legacy layer directory without `layer.tar`.
    LegacyLayerMissing = "legacy-layer-missing", Error, Some(25);
    /// R26: a legacy `json.id` that is not 64 lowercase hex digits.
    LegacyIdInvalid = "legacy-id-invalid", Error, Some(26);
    /// R26: a legacy directory name differs from its `json.id`.
    LegacyIdMismatch = "legacy-id-mismatch", Warning, Some(26);
    /// R27: a legacy `parent` that is not in the archive.
    LegacyParentMissing = "legacy-parent-missing", Error, Some(27);
    /// R27: a legacy parent chain that loops.
    LegacyParentCycle = "legacy-parent-cycle", Error, Some(27);
    /// R28: a legacy archive without `repositories` (docker load 1.13–28 fails).
    RepositoriesMissing = "repositories-missing", Error, Some(28);
    /// R28: `repositories` is not `{name: {tag: id}}`, or a name or tag does not parse (an
    /// error for legacy archives, which are loaded through it; a warning otherwise).
    RepositoriesInvalid = "repositories-invalid", Error, Some(28);
    /// R28: a `repositories` value that names no layer directory (or, in Docker 25+ archives,
    /// no layer DiffID).
    RepositoriesUnknownTarget = "repositories-unknown-target", Warning, Some(28);
    /// R29: a 1.10–24 layer directory without its `VERSION`, `json` or `layer.tar` (every
    /// layer directory must hold all three; loaders that read `manifest.json` do not need
    /// them).
    LegacyDirIncomplete = "legacy-dir-incomplete", Error, Some(29);
    /// R29: a layer directory's `json.parent` is not the previous layer's directory.
    LegacyParentChain = "legacy-parent-chain", Info, Some(29);
    /// R30: `oci-layout` is not a JSON object with `imageLayoutVersion`.
    OciLayoutInvalid = "oci-layout-invalid", Error, Some(30);
    /// R30: `imageLayoutVersion` is not `1.0.0`.
    OciLayoutVersion = "oci-layout-version", Error, Some(30);
    /// R31: `oci-layout` without `index.json`.
    OciIndexMissing = "oci-index-missing", Error, Some(31);
    /// R31: `index.json` or a referenced index/manifest blob is not a valid document.
    OciIndexInvalid = "oci-index-invalid", Error, Some(31);
    /// R32: a blob whose content does not hash to its name.
    BlobDigestMismatch = "blob-digest-mismatch", Error, Some(32);
    /// R32: a blob whose size is not its descriptor's size.
    BlobSizeMismatch = "blob-size-mismatch", Error, Some(32);
    /// R33: a blob referenced by a descriptor is absent (allowed for skipped platforms and
    /// non-distributable layers).
    BlobMissing = "blob-missing", Warning, Some(33);
    /// R34: a manifest.json entry with no matching OCI manifest in index.json (or different
    /// config/layers).
    IndexManifestMismatch = "index-manifest-mismatch", Warning, Some(34);
    /// R35: a layer blob that is not a tar.
    LayerNotTar = "layer-not-tar", Error, Some(35);
    /// R35: a layer tar with a header that does not parse.
    LayerCorrupt = "layer-corrupt", Error, Some(35);
    /// R35: a layer blob that fails to decompress (its compressed data is cut short or
    /// corrupt).
    LayerDecompressError = "layer-decompress-error", Error, Some(35);
    /// R35: a layer tar that ends early, inside a header or an entry's data.
    LayerTruncated = "layer-truncated", Error, Some(35);
    /// R35: a layer tar without its end-of-archive blocks (umoci 0.4.7 writes them): Go's
    /// reader takes the end of the stream for the end of the archive; GNU tar refuses it.
    LayerNoEndOfArchive = "layer-no-end-of-archive", Warning, Some(35);
    /// R35: bytes after a layer tar's end-of-archive blocks: the DiffID covers them but no tar
    /// reader shows them (an error when they hold a second archive).
    LayerTrailingData = "layer-trailing-data", Warning, Some(35);
    /// R1/R35: a PAX `size` record and the header's size field disagree; readers that trust
    /// the header lose their place in the stream (tar-rs CVE-2026-33055).
    PaxSizeMismatch = "pax-size-mismatch", Error, Some(35);
    /// R1/R35: extension headers (PAX, GNU long names) that apply to no entry, or a GNU long
    /// name beside a PAX path: readers attach them differently.
    PaxDesync = "pax-desync", Error, Some(35);
    /// R1/R35: a PAX global header: Go and docker ignore it, GNU tar and libarchive apply it to
    /// every later entry.
    PaxGlobalHeader = "pax-global-header", Warning, Some(35);
    /// R1/R35: a link, directory, device or FIFO with a non-zero size field: Go reads no data,
    /// readers that trust the size read the next headers as data.
    HeaderOnlySize = "header-only-size", Error, Some(35);
    /// R1/R35: a header value loaders cannot represent (a negative or huge uid, gid, mode or
    /// time).
    ValueOutOfRange = "value-out-of-range", Warning, Some(35);
    /// R35: a sparse file whose map does not match its stored data (Go fails reading it).
    SparseMismatch = "sparse-mismatch", Error, Some(35);
    /// R35: a layer entry type docker load cannot apply.
    LayerUnknownType = "layer-unknown-type", Error, Some(35);
    /// R2 (layers): a layer entry or hardlink climbing above the layer root.
    LayerUnsafePath = "layer-unsafe-path", Error, Some(2);
    /// R36: `.wh.`, `.wh..` or `.wh...`.
    WhiteoutInvalidName = "whiteout-invalid-name", Warning, Some(36);
    /// R37: a path and its whiteout in the same layer.
    WhiteoutSameLayer = "whiteout-same-layer", Warning, Some(37);
    /// R37: a path written twice in one layer.
    LayerDuplicateEntry = "layer-duplicate-entry", Warning, Some(37);
    /// R38: a whiteout or opaque marker that is not an empty regular file.
    WhiteoutNotEmptyFile = "whiteout-not-empty-file", Warning, Some(38);
    /// R39: a hardlink to `.wh..wh.plnk/<n>` with no such file before it.
    AufsHardlinkMissing = "aufs-hardlink-missing", Error, Some(39);
    /// R40: a hardlink whose target is neither in its layer nor in a lower one.
    HardlinkTargetMissing = "hardlink-target-missing", Warning, Some(40);
    /// R6/R17/R31: a JSON object holds one key twice, or two keys Go's `encoding/json` takes
    /// for one struct field (it matches field names case-insensitively, `ſ` and the Kelvin
    /// sign included): every loader uses the last, a case-sensitive or first-wins reader (a
    /// scanner) sees another document. An error when the values differ, a warning when they
    /// are the same.
    DuplicateKey = "duplicate-key", Error, None;
    /// R31: a blob that is both an image manifest and an index (`layers` or `config` beside
    /// `manifests`), or whose descriptor's media type says one and the document the other:
    /// readers disagree on what it is (OCI image-spec GHSA-77vh-xpmg-72qh, umoci
    /// CVE-2021-41190; containerd 1.6 `images.validateMediaType` refuses it).
    MediaTypeAmbiguous = "media-type-ambiguous", Error, Some(31);
    /// R3 (layers): an entry's directory, a hardlink's target or a whiteout's directory goes
    /// through a symlink (of its layer or a lower one) that leaves the root when resolved on
    /// the host: an absolute target or `..` above the root (`pwn -> /tmp` then
    /// `pwn/escaped.txt`, crazy-max/undock#460; moby/go-archive GHSA-hfg8-hc9c-6c3h). A
    /// chrooted extractor keeps it inside the root; `imgtar unpack` refuses it.
    LayerLinkEscape = "layer-link-escape", Error, Some(3);
    /// R3 (layers): the symlinks on an entry's directory path loop or chain past
    /// `Limits::max_link_depth` (`etc -> /etc` then `etc/passwd`); extraction fails there.
    LayerLinkLoop = "layer-link-loop", Error, Some(3);
    /// R3 (layers): the root entry (`.` or `/`) is a symlink or anything but a directory
    /// (umoci CVE-2021-29136); refused.
    LayerRootNotDirectory = "layer-root-not-directory", Error, Some(3);
    /// R3 (layers): a whiteout or opaque marker whose directory goes through a symlink inside
    /// the root: it deletes what the link points at, and extractors that resolve it on the
    /// host delete there.
    WhiteoutThroughSymlink = "whiteout-through-symlink", Warning, Some(3);
    /// R3 (layers): a symlink whose relative target climbs above the layer root
    /// (`x -> ../../../..`, `a/b -> ../../../etc`), whether or not an entry goes through it.
    /// Every container runtime keeps it inside the root (a chroot clamps `..` there; Docker,
    /// podman and containerd load it), but an extractor that writes the layer on the host, or
    /// a tool that follows the link in an extracted tree, leaves the root. Absolute targets
    /// (`usr/bin/x -> /bin/busybox`) and relative ones that stay inside (glibc's
    /// `lib64/ld-linux-x86-64.so.2 -> ../lib/...`) are not reported.
    LayerSymlinkAboveRoot = "layer-symlink-above-root", Warning, Some(3);
    /// Reading stopped at a `Limits` bound (`max_decompressed_bytes`, or
    /// `max_decompression_ratio`: a decompression bomb; `max_members`, `max_path_bytes`);
    /// what lies beyond it is not checked.
    LimitExceeded = "limit-exceeded", Error, None;
    /// A member whose size passes `Limits::max_json_bytes` was not parsed.
    MetadataTooLarge = "metadata-too-large", Error, None;
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One validation result: what, how bad, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Finding {
    /// Stable code.
    pub code: Code,
    /// Severity (after [`Reader::strict`](crate::Reader::strict) was applied).
    pub severity: Severity,
    /// Rule number (R1–R40).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<u8>,
    /// The outer archive member concerned (cleaned path), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Byte offset of that member's header in the (decompressed) outer tar, if known; for
    /// findings about the archive as a whole, the offset they concern.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// Where in the compressed input the problem is, when the outer archive is compressed
    /// (for a decoder failure: the compressed bytes consumed when it failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compressed_offset: Option<u64>,
    /// For problems inside a layer: the layer entry's path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry: Option<String>,
    /// For problems inside a layer: the entry's header offset in the decompressed layer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_offset: Option<u64>,
    /// The image concerned (index in [`Archive::images`](crate::Archive::images)).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<usize>,
    /// The layer concerned (index in that image, bottom first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<usize>,
    /// How many times the same problem occurred (repeats collapse into one finding that
    /// keeps the first location); 1 when it occurred once.
    #[serde(skip_serializing_if = "is_one")]
    pub count: u64,
    /// What is wrong, in words.
    pub message: String,
}

fn is_one(n: &u64) -> bool {
    *n == 1
}

impl Finding {
    /// A finding with the code's default severity and no location.
    pub fn new(code: Code, message: impl Into<String>) -> Finding {
        Finding {
            code,
            severity: code.severity(),
            rule: code.rule(),
            path: None,
            offset: None,
            compressed_offset: None,
            entry: None,
            entry_offset: None,
            image: None,
            layer: None,
            count: 1,
            message: message.into(),
        }
    }

    /// Sets the member path and header offset.
    pub fn at(mut self, path: impl Into<String>, offset: Option<u64>) -> Finding {
        self.path = Some(path.into());
        self.offset = offset;
        self
    }

    /// Sets the offset only (for findings about the archive as a whole).
    pub fn at_offset(mut self, offset: u64) -> Finding {
        self.offset = Some(offset);
        self
    }

    /// Sets the layer entry and its offset.
    pub fn in_entry(mut self, entry: impl Into<String>, offset: u64) -> Finding {
        self.entry = Some(entry.into());
        self.entry_offset = Some(offset);
        self
    }

    /// Overrides the severity.
    pub fn with_severity(mut self, severity: Severity) -> Finding {
        self.severity = severity;
        self
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}]", self.severity, self.code)?;
        if let Some(p) = &self.path {
            write!(f, " {}", crate::path::escape_controls(p))?;
        }
        if let Some(o) = self.offset {
            write!(f, " @{o}")?;
        }
        if let Some(c) = self.compressed_offset {
            write!(f, " (compressed @{c})")?;
        }
        if let Some(e) = &self.entry {
            write!(f, " entry {}", crate::path::escape_controls(e))?;
            if let Some(o) = self.entry_offset {
                write!(f, " @{o}")?;
            }
        }
        if self.count > 1 {
            write!(f, " ({} times)", self.count)?;
        }
        write!(f, ": {}", crate::path::escape_controls(&self.message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `docs/rules.md`: every code with its rule, severity and meaning.
    fn rules_md() -> String {
        let mut out = String::from(
            "# Finding codes\n\nEvery finding imgtar reports has one of these stable codes. Rules are numbered by\nfamily: the outer archive (R1–R5), `manifest.json` (R6–R16), the image config\n(R17–R23), legacy layer directories and `repositories` (R24–R29), the OCI layout\n(R30–R34) and layer tars (R35–R40). The severity is the default one (`--strict` makes\nwarnings errors). This file is generated from `imgtar::Code::ALL`\n(`IMGTAR_BLESS=1 cargo test --lib rules_md` rewrites it).\n\n| code | rule | severity | meaning |\n|---|---|---|---|\n",
        );
        for c in Code::ALL {
            let text: Vec<&str> = c.description().lines().map(str::trim).collect();
            let rule = c
                .rule()
                .map_or_else(|| "–".to_string(), |r| format!("R{r}"));
            out.push_str(&format!(
                "| `{}` | {rule} | {} | {} |\n",
                c.as_str(),
                c.severity(),
                text.join(" ").replace('|', "\\|")
            ));
        }
        out
    }

    #[test]
    fn rules_md_lists_every_code() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/rules.md");
        let want = rules_md();
        if std::env::var_os("IMGTAR_BLESS").is_some() {
            std::fs::write(&path, &want).unwrap();
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            have, want,
            "docs/rules.md is stale: IMGTAR_BLESS=1 cargo test --lib rules_md"
        );
    }

    #[test]
    fn codes_are_unique_and_documented() {
        let mut seen = std::collections::HashSet::new();
        for c in Code::ALL {
            assert!(seen.insert(c.as_str()), "{c} twice");
            assert_eq!(Code::from_str_opt(c.as_str()), Some(*c));
            assert!(!c.description().trim().is_empty(), "{c} has no description");
        }
        assert_eq!(format!("{:<8}|", Severity::Info), "info    |");
        assert_eq!(format!("{:>12}|", Code::Layout), "      layout|");
    }
}
