//! R17–R23: image configs.

use crate::doc::config::{self, Config};
use crate::doc::DocError;
use crate::finding::{Code, Finding};
use crate::model::Archive;
use crate::rules::at;

/// containers/image's limit on a config (`iolimits.MaxConfigBodySize`).
const C_IMAGE_CONFIG_LIMIT: u64 = 4 << 20;

pub(super) fn check(a: &Archive, out: &mut Vec<Finding>) {
    for (&i, parsed) in &a.docs.configs {
        let Some(m) = a.members.get(i) else { continue };
        if m.size > C_IMAGE_CONFIG_LIMIT {
            out.push(at(
                a,
                Code::ConfigTooLarge,
                i,
                format!(
                    "the config is {} bytes; containers/image refuses configs over 4 MiB",
                    m.size
                ),
            ));
        }
        match parsed {
            Ok(c) => config(a, i, c, out),
            Err(DocError::TooLarge) => out.push(at(
                a,
                Code::MetadataTooLarge,
                i,
                format!(
                    "the config is {} bytes, over Limits::max_json_bytes: not parsed",
                    m.size
                ),
            )),
            Err(DocError::NotADocument) => out.push(at(
                a,
                Code::ConfigInvalid,
                i,
                "the config is not a JSON document (it looks like a tar or binary data)",
            )),
            Err(e) => out.push(at(a, Code::ConfigInvalid, i, format!("the config {e}"))),
        }
    }
}

fn config(a: &Archive, i: usize, c: &Config, out: &mut Vec<Finding>) {
    if !c.has_rootfs {
        out.push(at(
            a,
            Code::ConfigNoRootfs,
            i,
            "the config has no rootfs (docker load: \"invalid image JSON, no RootFS key\")",
        ));
    } else if c.rootfs_type.as_deref() != Some("layers") {
        out.push(at(
            a,
            Code::RootfsType,
            i,
            format!(
                "rootfs.type is {:?}; the OCI spec requires \"layers\" (moby does not check)",
                c.rootfs_type.as_deref().unwrap_or("")
            ),
        ));
    }
    let non_empty = c.history.iter().filter(|h| !h.empty_layer).count();
    if non_empty > c.diff_ids.len() {
        out.push(at(
            a,
            Code::HistoryTooManyLayers,
            i,
            format!(
                "{non_empty} non-empty history entries but {} layers (docker load: \"too many non-empty layers in History section\")",
                c.diff_ids.len()
            ),
        ));
    }
    if c.platform.os.is_empty() {
        out.push(at(
            a,
            Code::OsMissing,
            i,
            "the config has no os: docker load assumes the host's",
        ));
    }
    out.push(at(
        a,
        Code::Platform,
        i,
        format!(
            "platform {}{}",
            c.platform,
            c.platform
                .os_version
                .as_deref()
                .map(|v| format!(" (os.version {v})"))
                .unwrap_or_default()
        ),
    ));
    if let Some(created) = &c.created {
        if !config::is_rfc3339(created) {
            out.push(at(
                a,
                Code::InvalidCreated,
                i,
                format!("created {created:?} is not an RFC 3339 time"),
            ));
        }
    }
    for (n, h) in c.history.iter().enumerate() {
        if let Some(created) = &h.created {
            if !config::is_rfc3339(created) {
                out.push(at(
                    a,
                    Code::InvalidCreated,
                    i,
                    format!("history[{n}].created {created:?} is not an RFC 3339 time"),
                ));
            }
        }
    }
    for (n, d) in c.diff_ids.iter().enumerate() {
        if let Err(e) = d.parse::<crate::Digest>() {
            out.push(at(
                a,
                Code::InvalidDigest,
                i,
                format!("rootfs.diff_ids[{n}]: {e}"),
            ));
        }
    }
}
