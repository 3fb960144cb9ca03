//! Checks shared by the fuzz targets (`fuzz/`) and the test that replays their corpora on
//! stable Rust (`tests/all/fuzz_replay.rs`), so a crash found once stays fixed. Not a stable API.
//! These checks panic on purpose: a panic is how a fuzz target reports a failed property.
#![allow(clippy::panic)]

use std::io::Read;

use crate::reference::Reference;
use crate::{Limits, Reader};

/// Small limits, so that the fuzzer reaches them.
pub fn small_limits() -> Limits {
    Limits {
        max_json_bytes: 1 << 16,
        max_metadata_total: 1 << 20,
        max_members: 1 << 12,
        max_layer_entries: 1 << 12,
        max_link_depth: 64,
        ..Limits::default()
    }
}

/// Hands the input out a few bytes at a time.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.step.min(buf.len()).min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        if let Some(dst) = buf.get_mut(..n) {
            dst.copy_from_slice(head);
        }
        self.data = rest;
        Ok(n)
    }
}

/// The whole reader on arbitrary bytes: must not panic, and must give the same outcome
/// whether the bytes arrive at once or a few at a time. Panics (for the fuzzer) otherwise.
pub fn read(data: &[u8]) {
    let reader = Reader::new().limits(small_limits());
    let whole = reader.read(data);
    let step = usize::from(data.first().copied().unwrap_or(0) % 13).saturating_add(1);
    let trickled = reader.read(Trickle { data, step });
    // Bytes in memory never fail to read: whatever they are, the answer is a report.
    let (Ok(a), Ok(b)) = (&whole, &trickled) else {
        panic!("readable bytes gave an error: {whole:?} / {trickled:?}");
    };
    assert_eq!(a.findings, b.findings, "findings depend on read sizes");
    assert_eq!(
        a.is_valid(),
        !a.findings
            .iter()
            .any(|f| f.severity == crate::Severity::Error)
    );
    let _ = serde_json::to_string(&a);
}

/// Every JSON document parser on arbitrary bytes.
pub fn documents(data: &[u8]) {
    let _ = crate::doc::manifest::parse(data, crate::Limits::DEFAULT_MAX_IMAGES);
    let _ = crate::doc::repositories::parse(data);
    let _ = crate::doc::legacy::parse(data);
    let _ = crate::doc::config::parse(data);
    for media in [
        crate::doc::oci::MEDIA_OCI_INDEX,
        crate::doc::oci::MEDIA_OCI_MANIFEST,
        "",
    ] {
        let _ = crate::doc::oci::parse_document(data, media);
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = crate::doc::config::is_rfc3339(s);
        let _ = s.parse::<crate::Digest>();
    }
}

/// The reference parser: a parsed reference must survive printing and parsing again, in
/// both its full and its familiar form.
pub fn reference(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(r) = Reference::parse_normalized(s) else {
        return;
    };
    let full = r.to_string();
    let again = Reference::parse_normalized(&full);
    assert_eq!(
        again.as_ref(),
        Ok(&r),
        "{s:?} -> {full:?} does not parse back"
    );
    let familiar = r.familiar_string();
    // As in distribution/reference, two familiar forms do not read back: a Docker Hub
    // repository whose first path component looks like a domain (`docker.io/lex.docker.io/x`
    // reads back as registry lex.docker.io), and an official image named by 64 hex digits
    // (`library/<64 hex>` reads back as an image ID). Only the full form must round-trip then.
    let first = familiar.split('/').next().unwrap_or("");
    let hub = r.domain() == crate::reference::DEFAULT_DOMAIN;
    let ambiguous = hub
        && ((familiar.contains('/') && (first.contains(['.', ':']) || first == "localhost"))
            || (familiar.len() == 64 && familiar.bytes().all(|b| b.is_ascii_hexdigit())));
    if !ambiguous {
        let back = Reference::parse_normalized(&familiar);
        assert_eq!(
            back.as_ref(),
            Ok(&r),
            "{s:?} -> familiar {familiar:?} does not parse back"
        );
    }
}

/// Bytes the scene's canary files hold: an unpack that reads through a link to them would
/// copy them into `DEST`.
const CANARY: &[u8] = b"imgtar-fuzz-canary: host bytes that must never be read or changed\n";

/// Layers described one entry a line, `<layer digit><type><name>\t<payload>`: types `f` file
/// (payload: content), `d` directory, `l` symlink and `h` hardlink (payload: target; a leading
/// `@` stands for the absolute path of the scene around `DEST`, so absolute escapes can be
/// seen), `p` FIFO, `w` whiteout of `<name>` (`<dir>/.wh.<base>`), `o` opaque marker in
/// `<name>`. Lines that do not parse are skipped.
#[cfg(target_os = "linux")]
fn layers_of(data: &[u8], scene: &std::path::Path) -> Vec<Vec<u8>> {
    let scene = scene.as_os_str().as_encoded_bytes();
    let mut layers: Vec<tar::Builder<Vec<u8>>> = Vec::new();
    for line in data.split(|&b| b == b'\n') {
        let [layer, kind, rest @ ..] = line else {
            continue;
        };
        let n = usize::from(layer % 4);
        while layers.len() <= n {
            layers.push(tar::Builder::new(Vec::new()));
        }
        let (name, payload) = match rest.iter().position(|&b| b == b'\t') {
            Some(i) => (
                rest.get(..i).unwrap_or_default(),
                rest.get(i.saturating_add(1)..).unwrap_or_default(),
            ),
            None => (rest, &[][..]),
        };
        let payload: Vec<u8> = match payload.strip_prefix(b"@") {
            Some(tail) => [scene, tail].concat(),
            None => payload.to_vec(),
        };
        let (name, typeflag, body, link): (Vec<u8>, u8, &[u8], &[u8]) = match kind {
            b'f' => (name.to_vec(), b'0', &payload, b""),
            b'd' => (name.to_vec(), b'5', b"", b""),
            b'l' => (name.to_vec(), b'2', b"", &payload),
            b'h' => (name.to_vec(), b'1', b"", &payload),
            b'p' => (name.to_vec(), b'6', b"", b""),
            b'w' | b'o' => {
                let (dir, base) = match name.iter().rposition(|&b| b == b'/') {
                    Some(i) => (
                        name.get(..=i).unwrap_or_default(),
                        name.get(i.saturating_add(1)..).unwrap_or_default(),
                    ),
                    None => (&[][..], name),
                };
                let marker: &[u8] = if *kind == b'o' {
                    b".wh..wh..opq"
                } else {
                    b".wh."
                };
                let full = if *kind == b'o' {
                    [name, if name.is_empty() { b"" } else { b"/" }, marker].concat()
                } else {
                    [dir, marker, base].concat()
                };
                (full, b'0', b"", b"")
            }
            _ => continue,
        };
        if name.len() > 100 || link.len() > 100 {
            continue;
        }
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name = [0; 100];
        if let Some(dst) = h.as_old_mut().name.get_mut(..name.len()) {
            dst.copy_from_slice(&name);
        }
        if let Some(dst) = h.as_old_mut().linkname.get_mut(..link.len()) {
            dst.copy_from_slice(link);
        }
        h.set_entry_type(tar::EntryType::new(typeflag));
        h.set_mode(if typeflag == b'5' { 0o755 } else { 0o644 });
        h.set_size(body.len() as u64);
        h.set_cksum();
        if let Some(b) = layers.get_mut(n) {
            let _ = b.append(&h, body);
        }
    }
    layers
        .into_iter()
        .filter_map(|b| b.into_inner().ok())
        .collect()
}

/// A `docker save` archive of these layer tars.
#[cfg(target_os = "linux")]
fn archive_of(layers: &[Vec<u8>]) -> std::io::Result<Vec<u8>> {
    use sha2::Digest as _;
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|l| format!("sha256:{}", hex::encode(sha2::Sha256::digest(l))))
        .collect();
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let config = serde_json::to_vec(&config)?;
    let names: Vec<String> = (0..layers.len())
        .map(|i| format!("{i}/layer.tar"))
        .collect();
    let manifest = serde_json::to_vec(&serde_json::json!([
        {"Config": "config.json", "RepoTags": ["fuzz:latest"], "Layers": names}
    ]))?;
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, name, data)
    };
    for (name, l) in names.iter().zip(layers) {
        add(name, l)?;
    }
    add("config.json", &config)?;
    add("manifest.json", &manifest)?;
    b.into_inner()
}

/// Every path under `root` outside `skip`, with its bytes (files) or target (links).
#[cfg(target_os = "linux")]
fn snapshot(
    root: &std::path::Path,
    skip: &std::path::Path,
) -> std::collections::BTreeMap<std::path::PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    for e in walkdir::WalkDir::new(root)
        .follow_links(false)
        .into_iter()
        .filter_entry(|e| e.path() != skip)
        .flatten()
    {
        let bytes = if e.file_type().is_file() {
            std::fs::read(e.path()).unwrap_or_default()
        } else if e.file_type().is_symlink() {
            std::fs::read_link(e.path())
                .map(|p| p.into_os_string().into_encoded_bytes())
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        out.insert(e.path().to_path_buf(), bytes);
    }
    out
}

/// `layer::unpack` of fuzzed layers (see [`layers_of`] for the format) into
/// `<scene>/a/b/dest`, next to canary files at `<scene>/canary` and `<scene>/a/canary`: nothing
/// outside `DEST` may appear, change or go, no file in `DEST` may hold a canary's bytes (unless
/// the layers wrote them), and a finished unpack leaves no marker.
#[cfg(target_os = "linux")]
pub fn unpack(data: &[u8]) {
    let Ok(scene) = tempfile::tempdir() else {
        return;
    };
    let root = scene.path();
    let dest = root.join("a/b/dest");
    if std::fs::create_dir_all(root.join("a/b")).is_err()
        || std::fs::write(root.join("canary"), CANARY).is_err()
        || std::fs::write(root.join("a/canary"), CANARY).is_err()
    {
        return;
    }
    let layers = layers_of(data, root);
    if layers.is_empty() {
        return;
    }
    let Ok(bytes) = archive_of(&layers) else {
        return;
    };
    let tar = root.join("image.tar");
    if std::fs::write(&tar, &bytes).is_err() {
        return;
    }
    let before = snapshot(root, &dest);
    let Ok(input) = crate::Input::of(&tar) else {
        return;
    };
    let reader = Reader::new().limits(small_limits());
    let done = crate::layer::unpack(&reader, &input, &dest, &crate::layer::UnpackOptions::new());
    let after = snapshot(root, &dest);
    assert_eq!(before, after, "unpack changed something outside DEST");
    let wrote_canary = data.windows(CANARY.len()).any(|w| w == CANARY);
    for e in walkdir::WalkDir::new(&dest)
        .follow_links(false)
        .into_iter()
        .flatten()
    {
        if e.file_type().is_file() && !wrote_canary {
            let body = std::fs::read(e.path()).unwrap_or_default();
            assert_ne!(body, CANARY, "{} holds host bytes", e.path().display());
        }
    }
    if done.is_ok() {
        assert!(
            !dest.join(crate::layer::unpack::INCOMPLETE_MARKER).exists(),
            "a finished unpack left its marker"
        );
    }
}
