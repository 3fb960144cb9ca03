//! Validation: builds the [`Archive`] model from what the pass collected and
//! checks every rule of FORMAT.md §5, producing [`Finding`]s.
//!
//! Rule families live one per file: `outer` (R1–R5), `manifest` (R6–R16), `config`
//! (R17–R23), `legacy` (R24–R29), `oci` (R30–R34) and `layers` (R35–R40).

mod config;
mod ctx;
mod finding;
mod layers;
mod legacy;
mod manifest;
mod oci;
mod outer;

pub use finding::{Code, Finding, Severity};

use crate::archive::walk::Walk;
use crate::model::{Archive, Layout, Producer};
use crate::Limits;

/// How findings are judged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Policy {
    /// Treat every warning as an error (`--strict`). By default warnings describe things no
    /// reference loader rejects, such as a `VERSION` other than `1.0`.
    pub strict: bool,
}

impl Policy {
    /// The default policy.
    pub fn new() -> Self {
        Policy::default()
    }
    /// Sets [`Policy::strict`].
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }
}

pub(crate) fn run(walk: Walk, limits: &Limits, policy: Policy) -> (Archive, Vec<Finding>) {
    let Walk {
        compression,
        members,
        tar_bytes,
        findings: walk_findings,
        verified,
    } = walk;
    let mut cx = ctx::Ctx::new(&members, limits);
    cx.verified = verified;
    cx.findings = walk_findings;
    outer::check(&mut cx);
    let docs = outer::Docs::find(&cx);
    let layout = docs.layout(&cx);
    let mut images = Vec::new();
    let mut oci_images = Vec::new();
    let mut repositories = None;
    let manifest_items = match layout {
        Layout::DockerArchive | Layout::DockerOci => manifest::images(&mut cx, &docs, &mut images),
        _ => None,
    };
    if docs.oci_layout.is_some() || docs.index.is_some() {
        oci::check(&mut cx, &docs, &mut oci_images);
        if layout == Layout::Oci {
            images = oci_images
                .iter()
                .filter(|i| !i.missing && !i.attestation)
                .cloned()
                .collect();
        } else {
            oci::cross_check(&mut cx, &mut images, &oci_images);
        }
    }
    legacy::check_dirs(&mut cx, layout, &images);
    if let Some(r) = docs.repositories {
        repositories = legacy::repositories(&mut cx, r, layout, &images);
    } else if layout == Layout::Legacy {
        cx.push(Finding::new(
            Code::RepositoriesMissing,
            "a legacy archive without `repositories`: docker load 1.13–28 fails after loading the layers",
        ));
    }
    if layout == Layout::Legacy {
        legacy::images(&mut cx, repositories.as_ref(), &mut images);
    }
    for image in &images {
        layers::check_image(&mut cx, image);
    }
    let producer = outer::producer(&cx, &docs, layout, manifest_items.as_deref(), &images);
    match layout {
        Layout::Unknown => cx.push(Finding::new(
            Code::NotAnImage,
            "no image layout: the archive has no manifest.json, no index.json and no legacy layer directories",
        )),
        l => cx.push(Finding::new(
            Code::Layout,
            format!(
                "{} layout, {} image(s){}",
                l.as_str(),
                images.len(),
                match producer {
                    Producer::Unknown => String::new(),
                    p => format!(", written by {}", producer_name(p)),
                }
            ),
        )),
    }
    let mut findings = cx.findings;
    if policy.strict {
        for f in &mut findings {
            if f.severity == Severity::Warning {
                f.severity = Severity::Error;
            }
        }
    }
    findings.sort_by(|a, b| {
        let key = |f: &Finding| {
            (
                f.offset.unwrap_or(u64::MAX),
                f.entry_offset.unwrap_or(0),
                f.code,
                f.path.clone(),
                f.message.clone(),
            )
        };
        key(a).cmp(&key(b))
    });
    findings.dedup();
    let archive = Archive {
        compression,
        layout,
        producer,
        tar_size: tar_bytes,
        images,
        oci_images,
        repositories,
        members,
    };
    (archive, findings)
}

fn producer_name(p: Producer) -> &'static str {
    match p {
        Producer::DockerPre110 => "docker save (before 1.10)",
        Producer::Docker => "docker save (Docker 1.10–24)",
        Producer::Docker25 => "docker save (Docker 25+)",
        Producer::Containerd => "containerd export",
        Producer::ContainersImage => "containers/image (skopeo, podman)",
        Producer::GoContainerRegistry => "go-containerregistry (crane, kaniko)",
        Producer::OciLayout => "an OCI layout writer",
        Producer::Unknown => "an unknown writer",
    }
}
