//! What each real loader would do with the archive: `docker load` (classic image store and
//! containerd image store), containerd's `ctr images import`, `podman load` and
//! go-containerregistry's `tarball` reader, per version where versions differ.
//!
//! Each loader's rules live in a module of their own ([`docker`], [`containerd`],
//! [`podman`], [`crane`]), each rule with the upstream source file and version it comes from.
//! The versions the test suite runs (Docker 20.10, containerd 1.6, podman 4.3, as Debian 12
//! packages them) are checked there against the loaders themselves; the others are predicted
//! from their source.

mod containerd;
mod crane;
mod docker;
mod facts;
mod podman;

use serde::Serialize;

use crate::finding::{Code, Finding};
use crate::model::Archive;

/// A loader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Loader {
    /// `docker load` into the classic (graphdriver) image store.
    Docker,
    /// `docker load` into the containerd image store (Docker 25+, the default in 29).
    DockerContainerd,
    /// containerd's `ctr images import --all-platforms` (k3s and kind air-gapped installs).
    Containerd,
    /// `podman load` (containers/image `oci-archive:` then `docker-archive:`).
    Podman,
    /// go-containerregistry's `tarball.ImageFromPath` (`crane push`, kaniko).
    Crane,
}

impl Loader {
    /// Every loader.
    pub const ALL: [Loader; 5] = [
        Loader::Docker,
        Loader::DockerContainerd,
        Loader::Containerd,
        Loader::Podman,
        Loader::Crane,
    ];

    /// The name as the CLI and the JSON spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Loader::Docker => "docker",
            Loader::DockerContainerd => "docker-containerd",
            Loader::Containerd => "containerd",
            Loader::Podman => "podman",
            Loader::Crane => "crane",
        }
    }

    /// The loader of a name.
    pub fn from_name(s: &str) -> Option<Loader> {
        Loader::ALL.into_iter().find(|l| l.as_str() == s)
    }
}

impl std::fmt::Display for Loader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// What a loader does with the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Outcome {
    /// It loads the archive (possibly loading no image, as some loaders do for an empty or
    /// unnamed one: see [`Verdict::images`]).
    Loads,
    /// It fails with nothing loaded.
    Refuses,
    /// It fails after loading some images.
    Partial,
}

impl Outcome {
    /// The name as the CLI and the JSON spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Loads => "loads",
            Outcome::Refuses => "refuses",
            Outcome::Partial => "partial",
        }
    }
}

/// What one version of one loader would do with the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Verdict {
    /// The loader.
    pub loader: Loader,
    /// The versions this verdict is for (`20.10`, `23-28`, `29`, ...).
    pub version: &'static str,
    /// Loads, refuses, or loads some images and fails.
    pub verdict: Outcome,
    /// Images it would hold afterwards.
    pub images: usize,
    /// The names it would give them, as it spells them.
    pub names: Vec<String>,
    /// The codes of the findings that decide the verdict.
    pub findings: Vec<Code>,
    /// The loader's own words for why it fails (empty when it loads).
    pub message: String,
    /// The test suite checks this version against the real loader (otherwise the verdict is
    /// read from the loader's source).
    pub tested: bool,
}

/// How far a loader got: images loaded (with their names) and, when it stopped, why.
#[derive(Debug, Default)]
pub(crate) struct Run {
    /// Image IDs loaded (each once), in order.
    pub ids: Vec<String>,
    /// Names given.
    pub names: Vec<String>,
    /// Why it stopped: the finding code that decides it (if one does) and the loader's words.
    pub failure: Option<(Option<Code>, String)>,
    /// `ids` and `names` as sets, so that recording stays linear in the images (a
    /// `manifest.json` of 100 000 entries).
    seen: std::collections::HashSet<(bool, String)>,
}

impl Run {
    /// Records an image (once per ID).
    pub(crate) fn loaded(&mut self, id: String) {
        if self.seen.insert((false, id.clone())) {
            self.ids.push(id);
        }
    }

    /// Whether an image of this ID was recorded.
    pub(crate) fn has_id(&self, id: &str) -> bool {
        self.seen.contains(&(false, id.to_string()))
    }

    /// Records a name (once).
    pub(crate) fn named(&mut self, name: String) {
        if self.seen.insert((true, name.clone())) {
            self.names.push(name);
        }
    }

    /// Stops the run.
    pub(crate) fn fail(mut self, code: Option<Code>, message: impl Into<String>) -> Run {
        self.failure = Some((code, message.into()));
        self
    }

    fn verdict(self, loader: Loader, version: &'static str, tested: bool) -> Verdict {
        let (outcome, findings, message) = match self.failure {
            None => (Outcome::Loads, Vec::new(), String::new()),
            Some((code, m)) => (
                if self.ids.is_empty() {
                    Outcome::Refuses
                } else {
                    Outcome::Partial
                },
                code.into_iter().collect(),
                m,
            ),
        };
        Verdict {
            loader,
            version,
            verdict: outcome,
            images: self.ids.len(),
            names: self.names,
            findings,
            message,
            tested,
        }
    }
}

/// How the layer appliers of the loaders meet one layer of an image once its links are
/// resolved as each resolves them (found by applying the recorded entries in order: see
/// `layer::check_links`): the words of the first entry each fails on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct LayerApplied {
    /// moby's chrooted applier (`docker load`, and podman's containers/storage, which shares
    /// it).
    pub moby: Option<&'static str>,
    /// containerd's applier (`ctr images import`, Docker's containerd store).
    pub containerd: Option<&'static str>,
}

/// [`LayerApplied`] of every layer (in the image's order) of the images that were applied,
/// by image index. An image left out is judged from the layer scans alone.
pub(crate) type Applied = std::collections::HashMap<usize, Vec<LayerApplied>>;

/// Every loader's verdict on `archive` (whose findings are `findings`).
pub(crate) fn verdicts(archive: &Archive, findings: &[Finding]) -> Vec<Verdict> {
    verdicts_applied(archive, findings, &Applied::new())
}

/// [`verdicts`], with what applying the layers' links found for some images.
pub(crate) fn verdicts_applied(
    archive: &Archive,
    findings: &[Finding],
    applied: &Applied,
) -> Vec<Verdict> {
    let f = facts::Facts::of(archive, findings, applied);
    let mut out = Vec::new();
    for (version, tested, run) in docker::classic(&f) {
        out.push(run.verdict(Loader::Docker, version, tested));
    }
    for (version, tested, run) in docker::containerd_store(&f) {
        out.push(run.verdict(Loader::DockerContainerd, version, tested));
    }
    for (version, tested, run) in containerd::import(&f) {
        out.push(run.verdict(Loader::Containerd, version, tested));
    }
    for (version, tested, run) in podman::load(&f) {
        out.push(run.verdict(Loader::Podman, version, tested));
    }
    for (version, tested, run) in crane::load(&f) {
        out.push(run.verdict(Loader::Crane, version, tested));
    }
    out
}
