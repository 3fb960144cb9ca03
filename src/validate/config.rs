//! R17–R23: the image config.

use crate::doc::config::{self, ImageConfig};
use crate::validate::ctx::Ctx;
use crate::validate::{Code, Finding};

/// containers/image's limit on a config (`iolimits.MaxConfigBodySize`).
const C_IMAGE_CONFIG_LIMIT: u64 = 4 << 20;

/// Decodes and checks the config held by member `i`.
pub(super) fn load(cx: &mut Ctx<'_>, i: usize) -> Option<ImageConfig> {
    let m = cx.member(i)?;
    let mut out: Vec<Finding> = Vec::new();
    if m.size > C_IMAGE_CONFIG_LIMIT {
        out.push(cx.at(
            Code::ConfigTooLarge,
            i,
            format!(
                "the config is {} bytes; containers/image refuses configs over 4 MiB",
                m.size
            ),
        ));
    }
    let parsed = match m.data() {
        None if m.too_large => {
            out.push(cx.at(
                Code::MetadataTooLarge,
                i,
                format!(
                    "the config is {} bytes, over Limits::max_json_bytes ({}): not parsed",
                    m.size, cx.limits.max_json_bytes
                ),
            ));
            None
        }
        None => {
            out.push(cx.at(
                Code::ConfigInvalid,
                i,
                "the config is not a JSON document (it looks like a tar or binary data)",
            ));
            None
        }
        Some(bytes) => match config::parse(bytes) {
            Ok(c) => Some(c),
            Err(e) => {
                out.push(cx.at(Code::ConfigInvalid, i, format!("the config {e}")));
                None
            }
        },
    };
    if let Some(c) = &parsed {
        check(cx, i, c, &mut out);
    }
    cx.findings.extend(out);
    parsed
}

fn check(cx: &Ctx<'_>, i: usize, c: &ImageConfig, out: &mut Vec<Finding>) {
    if !c.has_rootfs {
        out.push(cx.at(
            Code::ConfigNoRootfs,
            i,
            "the config has no rootfs (docker load: \"invalid image JSON, no RootFS key\")",
        ));
    } else if c.rootfs_type.as_deref() != Some("layers") {
        out.push(cx.at(
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
        out.push(cx.at(
            Code::HistoryTooManyLayers,
            i,
            format!(
                "{non_empty} non-empty history entries but {} layers (docker load: \"too many non-empty layers in History section\")",
                c.diff_ids.len()
            ),
        ));
    }
    if c.platform.os.is_empty() {
        out.push(cx.at(
            Code::OsMissing,
            i,
            "the config has no os: docker load assumes the host's",
        ));
    }
    out.push(cx.at(
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
            out.push(cx.at(
                Code::InvalidCreated,
                i,
                format!("created {created:?} is not an RFC 3339 time"),
            ));
        }
    }
    for (n, h) in c.history.iter().enumerate() {
        if let Some(created) = &h.created {
            if !config::is_rfc3339(created) {
                out.push(cx.at(
                    Code::InvalidCreated,
                    i,
                    format!("history[{n}].created {created:?} is not an RFC 3339 time"),
                ));
            }
        }
    }
    for (n, d) in c.diff_ids.iter().enumerate() {
        if let Err(e) = d.parse::<crate::Digest>() {
            out.push(cx.at(Code::InvalidDigest, i, format!("rootfs.diff_ids[{n}]: {e}")));
        }
    }
}

/// R12: a name that encodes a digest (`<hex>.json`, `sha256:<hex>`, `blobs/sha256/<hex>`)
/// must be the digest of the content. Returns the encoded hex, if the name has one.
pub(super) fn name_digest(path: &str) -> Option<&str> {
    let base = crate::path::basename(path);
    let hex = base
        .strip_suffix(".json")
        .or_else(|| base.strip_prefix("sha256:"))
        .or_else(|| path.strip_prefix("blobs/sha256/"))?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}
