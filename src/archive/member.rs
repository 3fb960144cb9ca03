use serde::Serialize;

use crate::digest::Digest;
use crate::layer::LayerScan;

/// The type of an outer archive member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
#[non_exhaustive]
pub enum MemberKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink {
        /// The link target as written.
        target: String,
    },
    /// A hard link to an earlier member.
    Hardlink {
        /// The target member name as written.
        target: String,
    },
    /// Anything else (devices, FIFOs, unknown typeflags), with its typeflag byte.
    Other {
        /// The tar typeflag.
        typeflag: u8,
    },
}

/// One member of the outer archive, as recorded by the single pass.
#[derive(Debug, Clone, Serialize)]
pub struct Member {
    /// Cleaned path (see [`crate::path::clean`]).
    pub path: String,
    /// The name exactly as stored (lossy UTF-8).
    pub name: String,
    /// Byte offset of the member's header in the decompressed outer tar stream (`None` for a
    /// directory input).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// Member type.
    pub kind: MemberKind,
    /// Size from the header (PAX-adjusted).
    pub size: u64,
    /// Permission bits.
    pub mode: u32,
    /// sha256 of the content, for regular files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// The scan of the content as a layer tar, when it looked like one (tar or compressed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<LayerScan>,
    /// Content kept in memory (small metadata documents only).
    #[serde(skip)]
    pub(crate) data: Option<Vec<u8>>,
    /// Content was not kept because it passed `Limits::max_json_bytes`.
    #[serde(skip)]
    pub(crate) too_large: bool,
}

impl Member {
    pub(crate) fn set_content(&mut self, c: crate::archive::content::Content) {
        self.digest = c.digest;
        self.layer = c.layer;
        self.data = c.data;
        self.too_large = c.too_large;
    }

    /// The kept content of a small metadata member (JSON, `VERSION`, `repositories`).
    pub fn data(&self) -> Option<&[u8]> {
        self.data.as_deref()
    }

    /// Whether this member is a regular file.
    pub fn is_file(&self) -> bool {
        self.kind == MemberKind::File
    }
}
