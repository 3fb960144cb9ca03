//! Resource bounds for reading untrusted archives.

/// Bounds on what the reader keeps in memory and how far it follows links.
///
/// Every field has a safe default (see [`Limits::default`]). Passing a bound gives a
/// finding or an [`Error::Limit`](crate::Error::Limit) that names the bound and the value met;
/// it never aborts the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest member kept in memory as a metadata document (JSON, `VERSION`, `repositories`).
    /// Larger members are still hashed but not parsed. Default: [`Limits::DEFAULT_MAX_JSON_BYTES`].
    pub max_json_bytes: u64,
    /// Total bytes of metadata documents kept in memory for one archive.
    /// Default: [`Limits::DEFAULT_MAX_METADATA_TOTAL`].
    pub max_metadata_total: u64,
    /// Most members in the outer archive. Default: [`Limits::DEFAULT_MAX_MEMBERS`].
    pub max_members: u64,
    /// Most entries recorded per layer tar. Default: [`Limits::DEFAULT_MAX_LAYER_ENTRIES`].
    pub max_layer_entries: u64,
    /// Longest member path, in bytes; in a layer, the longest entry path or link target (a
    /// longer entry is a finding and left out). Default: [`Limits::DEFAULT_MAX_PATH_BYTES`].
    pub max_path_bytes: u64,
    /// Most components of a layer entry's path or link target (a deeper entry is a finding
    /// and left out: each ancestor of a path is a directory of the flattened filesystem).
    /// Default: [`Limits::DEFAULT_MAX_PATH_DEPTH`].
    pub max_path_depth: u64,
    /// Most symlink/hardlink hops followed when resolving a member. Default: 255, as moby.
    pub max_link_depth: u32,
    /// Most nested OCI indexes followed. Default: [`Limits::DEFAULT_MAX_INDEX_DEPTH`].
    pub max_index_depth: u32,
    /// Most `manifest.json` entries decoded into images; the rest are counted, not checked
    /// (a finding says so). Default: [`Limits::DEFAULT_MAX_IMAGES`].
    pub max_images: u64,
    /// Most bytes one compressed stream (the outer archive or a layer) may decompress to.
    /// Default: [`Limits::DEFAULT_MAX_DECOMPRESSED_BYTES`].
    pub max_decompressed_bytes: u64,
    /// Most regions of one sparse file (old GNU sparse maps and PAX sparse maps); a larger map
    /// stops reading that tar. Default: [`Limits::DEFAULT_MAX_SPARSE_REGIONS`].
    pub max_sparse_regions: u64,
    /// Largest ratio of decompressed to compressed bytes, judged once a stream has produced
    /// 16 MiB (gzip cannot pass about 1032:1; zstd, xz and bzip2 bombs can).
    /// Default: [`Limits::DEFAULT_MAX_DECOMPRESSION_RATIO`].
    pub max_decompression_ratio: u64,
    /// Most bytes of a stream handed to worker threads and not yet consumed (a streaming read
    /// hashes and walks a layer on a worker while it reads the next member). A compressed
    /// layer's two sha256s, computed on threads of their own, also hold at most this much
    /// each (and never more than 2 MiB each; at least one 256 KiB chunk).
    /// Default: [`Limits::DEFAULT_MAX_IN_FLIGHT_BYTES`].
    pub max_in_flight_bytes: u64,
}

impl Limits {
    /// Default for [`Limits::max_json_bytes`]: 32 MiB (containerd reads manifest.json up to 20 MiB).
    pub const DEFAULT_MAX_JSON_BYTES: u64 = 32 << 20;
    /// Default for [`Limits::max_metadata_total`]: 512 MiB.
    pub const DEFAULT_MAX_METADATA_TOTAL: u64 = 512 << 20;
    /// Default for [`Limits::max_members`]: one million.
    pub const DEFAULT_MAX_MEMBERS: u64 = 1_000_000;
    /// Default for [`Limits::max_layer_entries`]: ten million.
    pub const DEFAULT_MAX_LAYER_ENTRIES: u64 = 10_000_000;
    /// Default for [`Limits::max_path_bytes`]: 64 KiB.
    pub const DEFAULT_MAX_PATH_BYTES: u64 = 64 << 10;
    /// Default for [`Limits::max_path_depth`]: 2048 (a Linux path, `PATH_MAX` 4096 bytes,
    /// holds at most 2048 components).
    pub const DEFAULT_MAX_PATH_DEPTH: u64 = 2048;
    /// Default for [`Limits::max_link_depth`]: 255 (moby's `FollowSymlinkInScope`).
    pub const DEFAULT_MAX_LINK_DEPTH: u32 = 255;
    /// Default for [`Limits::max_index_depth`]: 16.
    pub const DEFAULT_MAX_INDEX_DEPTH: u32 = 16;
    /// Default for [`Limits::max_images`]: 10 000 (containers/image reads at most 1 MiB of
    /// `manifest.json`, some 10 000 entries of real length).
    pub const DEFAULT_MAX_IMAGES: u64 = 10_000;

    /// Default for [`Limits::max_sparse_regions`]: 65 536.
    pub const DEFAULT_MAX_SPARSE_REGIONS: u64 = 1 << 16;

    /// Default for [`Limits::max_decompressed_bytes`]: 64 GiB.
    pub const DEFAULT_MAX_DECOMPRESSED_BYTES: u64 = 64 << 30;
    /// Default for [`Limits::max_decompression_ratio`]: 10 000.
    pub const DEFAULT_MAX_DECOMPRESSION_RATIO: u64 = 10_000;
    /// Default for [`Limits::max_in_flight_bytes`]: 32 MiB (peak memory of a streaming read stays
    /// under 64 MiB).
    pub const DEFAULT_MAX_IN_FLIGHT_BYTES: u64 = 32 << 20;

    /// No bound except the link depth (which guards against loops).
    pub const UNLIMITED: Limits = Limits {
        max_json_bytes: u64::MAX,
        max_metadata_total: u64::MAX,
        max_members: u64::MAX,
        max_layer_entries: u64::MAX,
        max_path_bytes: u64::MAX,
        max_path_depth: u64::MAX,
        max_link_depth: 4096,
        max_index_depth: 4096,
        max_images: u64::MAX,
        max_decompressed_bytes: u64::MAX,
        max_sparse_regions: u64::MAX,
        max_decompression_ratio: u64::MAX,
        max_in_flight_bytes: Self::DEFAULT_MAX_IN_FLIGHT_BYTES,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_json_bytes: Self::DEFAULT_MAX_JSON_BYTES,
            max_metadata_total: Self::DEFAULT_MAX_METADATA_TOTAL,
            max_members: Self::DEFAULT_MAX_MEMBERS,
            max_layer_entries: Self::DEFAULT_MAX_LAYER_ENTRIES,
            max_path_bytes: Self::DEFAULT_MAX_PATH_BYTES,
            max_path_depth: Self::DEFAULT_MAX_PATH_DEPTH,
            max_link_depth: Self::DEFAULT_MAX_LINK_DEPTH,
            max_index_depth: Self::DEFAULT_MAX_INDEX_DEPTH,
            max_images: Self::DEFAULT_MAX_IMAGES,
            max_decompressed_bytes: Self::DEFAULT_MAX_DECOMPRESSED_BYTES,
            max_sparse_regions: Self::DEFAULT_MAX_SPARSE_REGIONS,
            max_decompression_ratio: Self::DEFAULT_MAX_DECOMPRESSION_RATIO,
            max_in_flight_bytes: Self::DEFAULT_MAX_IN_FLIGHT_BYTES,
        }
    }
}
