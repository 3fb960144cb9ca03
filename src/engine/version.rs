//! Which daemon the answers are those of: the Engine API version asked for and the image
//! store behind it.
//!
//! Each API version is answered as the first Docker release that serves it (moby
//! `api/docs/CHANGELOG.md`, formerly `docs/api/version-history.md`, and the release's
//! `api/server/router/image/image_routes.go`): 1.41 Docker 20.10, 1.42 23.0, 1.43 24.0,
//! 1.44 25.0, 1.45 26.0, 1.46 27.0, 1.47 27.3, 1.48 28.0, 1.49 28.1, 1.50 28.2, 1.51 28.3,
//! 1.52 29.0, up to 1.55 (docker-v29.7). What changes between them:
//!
//! | from | field | change |
//! |------|-------|--------|
//! | — | inspect `Config` | ≤ 1.49: the image's container config as Go's `container.Config` decodes and re-encodes it (every legacy field, with the config's values) |
//! | 1.43 | list `RepoTags`/`RepoDigests` | `[]` instead of `["<none>:<none>"]`/`["<none>@<none>"]` for an untagged image, and instead of `null` |
//! | 1.44 | `VirtualSize` | removed (inspect and list); inspect `Created` omitted instead of `0001-01-01T00:00:00Z` |
//! | 1.45 | inspect `Container`, `ContainerConfig` | removed |
//! | 1.47 | list `Manifests` | on request (containerd store) |
//! | 1.48 | `Descriptor`, inspect `Manifests` | added (containerd store) |
//! | 1.50 | inspect `Config` | the OCI image config (`omitempty`), plus `Cmd`, `Entrypoint`, `Env`, `Labels`, `OnBuild`, `Volumes` as `null` and `User`, `WorkingDir` as `""` when unset |
//! | 1.51 | list `Containers` | the number of containers using the image (0 after a load) instead of -1 |
//! | 1.52 | inspect | `Parent`, `Comment`, `DockerVersion`, `Author` omitted when empty; `Config` purely OCI |
//! | 1.53 | inspect `Identity` | signature-based; not derivable offline, so absent (it is `omitempty`) |

use std::fmt;
use std::str::FromStr;

/// An Engine API version `1.MINOR` (1.41 to 1.55).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiVersion {
    minor: u16,
}

impl ApiVersion {
    /// API 1.41 (Docker 20.10), the oldest answered.
    pub const OLDEST: ApiVersion = ApiVersion { minor: 41 };
    /// API 1.55 (Docker 29.7), the newest answered and the default.
    pub const NEWEST: ApiVersion = ApiVersion { minor: 55 };

    /// `1.minor`, if it is answered.
    pub fn v1(minor: u16) -> Option<ApiVersion> {
        let v = ApiVersion { minor };
        (Self::OLDEST..=Self::NEWEST).contains(&v).then_some(v)
    }

    /// The minor number.
    pub fn minor(self) -> u16 {
        self.minor
    }

    /// Whether this is `1.minor` or newer.
    pub fn at_least(self, minor: u16) -> bool {
        self.minor >= minor
    }

    /// The Docker release whose answers this version gives.
    pub fn daemon(self) -> &'static str {
        match self.minor {
            41 => "Docker 20.10",
            42 => "Docker 23.0",
            43 => "Docker 24.0",
            44 => "Docker 25.0",
            45 => "Docker 26.0",
            46 => "Docker 27.0",
            47 => "Docker 27.3",
            48 => "Docker 28.0",
            49 => "Docker 28.1",
            50 => "Docker 28.2",
            51 => "Docker 28.3",
            _ => "Docker 29",
        }
    }
}

impl Default for ApiVersion {
    fn default() -> Self {
        Self::NEWEST
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "1.{}", self.minor)
    }
}

/// Why a version string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("API version {0:?} is not answered: give 1.41 to 1.55 (e.g. 1.41)")]
pub struct VersionError(pub String);

impl FromStr for ApiVersion {
    type Err = VersionError;
    /// `1.41`, or `v1.41` as in a request path.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || VersionError(s.to_string());
        let t = s.strip_prefix('v').unwrap_or(s);
        let (major, minor) = t.split_once('.').ok_or_else(bad)?;
        if major != "1" || minor.is_empty() || !minor.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        minor.parse().ok().and_then(ApiVersion::v1).ok_or_else(bad)
    }
}

/// The image store the daemon keeps loaded images in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Store {
    /// The graphdriver store (Docker's default up to 28): the ID is the config digest,
    /// `docker load` records no digests, no `Descriptor` or `Manifests`.
    #[default]
    Classic,
    /// The containerd image store (Docker 29's default): the ID is the digest of the image's
    /// target (its `index.json` entry, or for a `manifest.json` image the manifest
    /// containerd's importer writes: that needs the blobs hashed), each name paired with it
    /// in `RepoDigests`, `Descriptor` and `Manifests` given for `index.json` images.
    Containerd,
}

impl FromStr for Store {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "classic" | "graphdriver" => Ok(Store::Classic),
            "containerd" => Ok(Store::Containerd),
            _ => Err(format!(
                "unknown image store {s:?}: give classic or containerd"
            )),
        }
    }
}

/// The `api_version` and `store` setters of an options type.
macro_rules! daemon_setters {
    ($t:ty) => {
        impl $t {
            /// Sets the API version answered.
            pub fn api_version(mut self, v: $crate::engine::ApiVersion) -> Self {
                self.api_version = v;
                self
            }
            /// Sets the image store answered from.
            pub fn store(mut self, s: $crate::engine::Store) -> Self {
                self.store = s;
                self
            }
        }
    };
}
pub(crate) use daemon_setters;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_within_the_answered_range() {
        assert_eq!("1.41".parse::<ApiVersion>().unwrap(), ApiVersion::OLDEST);
        assert_eq!("v1.55".parse::<ApiVersion>().unwrap(), ApiVersion::NEWEST);
        assert_eq!("1.44".parse::<ApiVersion>().unwrap().to_string(), "1.44");
        for bad in ["1.40", "1.56", "2.41", "1.", "1.4x", "141", ""] {
            assert!(bad.parse::<ApiVersion>().is_err(), "{bad}");
        }
        assert_eq!(ApiVersion::default(), ApiVersion::NEWEST);
        assert_eq!("containerd".parse::<Store>().unwrap(), Store::Containerd);
        assert!("overlay".parse::<Store>().is_err());
    }
}
