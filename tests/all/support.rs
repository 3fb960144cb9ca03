//! Shared helpers for imgtar's integration tests: synthetic saved-image tarballs built in
//! memory, byte for byte, with the header offset of every member known.
//!
//! Three levels, each usable on its own:
//!
//! - [`Plan`]: an ordered list of tar members whose names, link targets and typeflags are
//!   written exactly as given (no normalisation, `..` and leading `/` allowed, names longer
//!   than 100 bytes get GNU long-name records). [`Plan::build`] writes it with a
//!   `tar::Builder` over a `Vec<u8>` and returns a [`Built`]: the bytes plus the header offset
//!   of every member. Layer tars are built the same way.
//! - [`Image`]: layer tars plus an image config whose `rootfs.diff_ids` and `history` match
//!   them.
//! - Writers of the archive layouts `docker save` and friends produce, each a struct whose
//!   documents are public fields, so a test can change one thing and build:
//!   [`DockerSave`] (Docker 1.10–24: layer directories + `manifest.json` + `repositories`),
//!   [`OciSave::docker25`] (Docker 25+: OCI layout + `manifest.json` + `repositories`),
//!   [`OciSave::plain`] (OCI layout only, gzip layers) and [`LegacySave`] (pre-1.10: layer
//!   directories + `repositories`, no `manifest.json`).
//!
//! Plus hashing ([`sha256_hex`], [`sha256_digest`]), compression ([`gzip`], [`zstd`],
//! [`xz`], [`bzip2`]) and JSON ([`to_json`], [`descriptor`]) helpers.
//!
//! ```ignore
//! let mut save = DockerSave::new(Image::sample());
//! save.manifest[0]["RepoTags"] = json!(["busybox"]);
//! let built = save.build();
//! let report = imgtar::Reader::new().read(&built.bytes[..])?;
//! let offset = built.offset("manifest.json");
//! ```

#![allow(dead_code)]

use std::io::Write;

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

/// The `created` time used in every synthetic document.
pub const CREATED: &str = "2024-01-02T03:04:05Z";
/// The tag of every synthetic image.
pub const REPO_TAG: &str = "busybox:latest";
/// Media type of an uncompressed OCI layer.
pub const MEDIA_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// Media type of a gzip OCI layer.
pub const MEDIA_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// Media type of an OCI image manifest.
pub const MEDIA_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Media type of an OCI image index.
pub const MEDIA_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Media type of an OCI image config.
pub const MEDIA_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Media type of a Docker foreign (non-distributable) layer.
pub const MEDIA_FOREIGN: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

// ---------------------------------------------------------------------------------------------
// Hashing, compression, JSON
// ---------------------------------------------------------------------------------------------

/// Lowercase hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(bytes))
}

/// A stable, valid-looking 64-hex ID derived from `seed` (for v1 layer IDs, bogus digests).
pub fn fake_hex(seed: &str) -> String {
    sha256_hex(seed.as_bytes())
}

/// gzip-compresses `bytes`.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).expect("gzip write");
    e.finish().expect("gzip finish")
}

/// zstd-compresses `bytes`.
pub fn zstd(bytes: &[u8]) -> Vec<u8> {
    zstd::encode_all(bytes, 3).expect("zstd")
}

/// xz-compresses `bytes`.
pub fn xz(bytes: &[u8]) -> Vec<u8> {
    let mut e = liblzma::write::XzEncoder::new(Vec::new(), 6);
    e.write_all(bytes).expect("xz write");
    e.finish().expect("xz finish")
}

/// bzip2-compresses `bytes`.
pub fn bzip2(bytes: &[u8]) -> Vec<u8> {
    let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
    e.write_all(bytes).expect("bzip2 write");
    e.finish().expect("bzip2 finish")
}

/// Compact JSON bytes of `v` (key order preserved).
pub fn to_json(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("serialize JSON")
}

/// Compact JSON plus a trailing newline, as Go's `json.Encoder` writes `manifest.json`.
pub fn to_json_line(v: &Value) -> Vec<u8> {
    let mut b = to_json(v);
    b.push(b'\n');
    b
}

/// An OCI descriptor for `bytes`.
pub fn descriptor(media_type: &str, bytes: &[u8]) -> Value {
    json!({"mediaType": media_type, "digest": sha256_digest(bytes), "size": bytes.len()})
}

/// `blobs/sha256/<hex>` for a `sha256:<hex>` digest.
pub fn blob_path(digest: &str) -> String {
    format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"))
}

/// Cleans a member name the way `docker load` does (leading `/` and `./` dropped, `..` at the
/// root clamped, trailing `/` dropped). Written here independently of imgtar's own cleaning.
pub fn clean(name: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

/// PAX extended-header records (`"%d %s=%s\n"`) for the content of an `x` or `g` member.
pub fn pax_records(records: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in records {
        let body = format!(" {k}={v}\n");
        let mut len = body.len() + 1;
        while format!("{len}{body}").len() != len {
            len += 1;
        }
        out.extend_from_slice(format!("{len}{body}").as_bytes());
    }
    out
}

/// One 512-byte GNU header block for an entry of `size` bytes (for smuggling a header where
/// data should be).
pub fn header_block(name: &str, typeflag: u8, size: u64) -> Vec<u8> {
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(size);
    {
        let old = h.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        old.linkflag[0] = typeflag;
    }
    h.set_cksum();
    h.as_bytes().to_vec()
}

/// Overwrites bytes `start..start + value.len()` of the header block at `header` and fixes
/// its checksum.
pub fn patch_header(bytes: &mut [u8], header: u64, start: usize, value: &[u8]) {
    let h = &mut bytes[header as usize..header as usize + 512];
    h[start..start + value.len()].copy_from_slice(value);
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
}

// ---------------------------------------------------------------------------------------------
// Plan / Built: exact tar members
// ---------------------------------------------------------------------------------------------

/// What a [`Plan`] member is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Regular file (typeflag `0`) with its content.
    File(Vec<u8>),
    /// Directory (typeflag `5`).
    Dir,
    /// Symbolic link (typeflag `2`) to the target, written verbatim.
    Symlink(String),
    /// Hard link (typeflag `1`) to the target, written verbatim.
    Hardlink(String),
    /// Any typeflag byte with content and link name (devices, unknown types, `\0`).
    Raw {
        /// The typeflag byte, written as is.
        typeflag: u8,
        /// Content.
        data: Vec<u8>,
        /// Link name field.
        link: String,
    },
}

impl Kind {
    /// An empty member of any typeflag (devices, FIFOs, unknown types).
    pub fn special(typeflag: u8) -> Kind {
        Kind::Raw {
            typeflag,
            data: Vec::new(),
            link: String::new(),
        }
    }
}

/// One tar member of a [`Plan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Name, written verbatim.
    pub name: String,
    /// Type and content.
    pub kind: Kind,
    /// Permission bits.
    pub mode: u32,
}

/// An ordered list of tar members, editable before it is written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// The members, in archive order.
    pub entries: Vec<Entry>,
}

impl Plan {
    /// An empty plan.
    pub fn new() -> Plan {
        Plan::default()
    }

    /// Appends an entry.
    pub fn push(mut self, name: &str, kind: Kind) -> Plan {
        self.add(name, kind);
        self
    }

    /// Appends an entry (by reference).
    pub fn add(&mut self, name: &str, kind: Kind) -> &mut Plan {
        let mode = match kind {
            Kind::Dir => 0o755,
            Kind::Symlink(_) => 0o777,
            _ => 0o644,
        };
        self.entries.push(Entry {
            name: name.to_string(),
            kind,
            mode,
        });
        self
    }

    /// Appends a regular file.
    pub fn file(self, name: &str, data: &[u8]) -> Plan {
        self.push(name, Kind::File(data.to_vec()))
    }

    /// Appends a directory (give the name with its trailing `/` if you want one).
    pub fn dir(self, name: &str) -> Plan {
        self.push(name, Kind::Dir)
    }

    /// Appends a symlink.
    pub fn symlink(self, name: &str, target: &str) -> Plan {
        self.push(name, Kind::Symlink(target.to_string()))
    }

    /// Appends a hardlink.
    pub fn hardlink(self, name: &str, target: &str) -> Plan {
        self.push(name, Kind::Hardlink(target.to_string()))
    }

    /// Appends a member with any typeflag.
    pub fn raw(self, name: &str, typeflag: u8, data: &[u8], link: &str) -> Plan {
        self.push(
            name,
            Kind::Raw {
                typeflag,
                data: data.to_vec(),
                link: link.to_string(),
            },
        )
    }

    /// Index of the last member named exactly `name`.
    pub fn find(&self, name: &str) -> Option<usize> {
        self.entries.iter().rposition(|e| e.name == name)
    }

    fn index(&self, name: &str) -> usize {
        self.find(name)
            .unwrap_or_else(|| panic!("plan has no member {name:?}: {:?}", self.names()))
    }

    /// Member names in order.
    pub fn names(&self) -> Vec<&str> {
        self.entries.iter().map(|e| e.name.as_str()).collect()
    }

    /// The member named `name` (panics if absent).
    pub fn get_mut(&mut self, name: &str) -> &mut Entry {
        let i = self.index(name);
        &mut self.entries[i]
    }

    /// Replaces the content of the file `name` (panics if absent).
    pub fn set(&mut self, name: &str, data: &[u8]) -> &mut Plan {
        self.get_mut(name).kind = Kind::File(data.to_vec());
        self
    }

    /// Replaces the kind of member `name` (panics if absent).
    pub fn set_kind(&mut self, name: &str, kind: Kind) -> &mut Plan {
        self.get_mut(name).kind = kind;
        self
    }

    /// Removes the member `name` (panics if absent).
    pub fn remove(&mut self, name: &str) -> Entry {
        let i = self.index(name);
        self.entries.remove(i)
    }

    /// Renames the member `old` (panics if absent).
    pub fn rename(&mut self, old: &str, new: &str) -> &mut Plan {
        self.get_mut(old).name = new.to_string();
        self
    }

    /// Inserts a member before the member `before` (panics if absent).
    pub fn insert_before(&mut self, before: &str, name: &str, kind: Kind) -> &mut Plan {
        let i = self.index(before);
        let mut tmp = Plan::new();
        tmp.add(name, kind);
        self.entries.insert(i, tmp.entries.remove(0));
        self
    }

    /// Appends every member of `other` whose name is not already in this plan.
    pub fn merge(&mut self, other: Plan) -> &mut Plan {
        for e in other.entries {
            if self.find(&e.name).is_none() {
                self.entries.push(e);
            }
        }
        self
    }

    /// Writes the plan as a tar (GNU headers, uid/gid 0, mtime 0, end-of-archive blocks).
    pub fn build(&self) -> Built {
        let mut b = tar::Builder::new(Vec::new());
        let mut offsets = Vec::with_capacity(self.entries.len());
        for e in &self.entries {
            let (typeflag, data, link): (u8, &[u8], &str) = match &e.kind {
                Kind::File(d) => (b'0', d, ""),
                Kind::Dir => (b'5', &[], ""),
                Kind::Symlink(t) => (b'2', &[], t),
                Kind::Hardlink(t) => (b'1', &[], t),
                Kind::Raw {
                    typeflag,
                    data,
                    link,
                } => (*typeflag, data, link),
            };
            let off = append_raw(
                &mut b,
                e.name.as_bytes(),
                typeflag,
                data,
                link.as_bytes(),
                e.mode,
            );
            offsets.push((e.name.clone(), off));
        }
        let bytes = b.into_inner().expect("finish tar");
        Built {
            bytes,
            offsets,
            marks: Vec::new(),
            entry: None,
        }
    }
}

fn padded(n: usize) -> usize {
    n.div_ceil(512) * 512
}

fn long_record(b: &mut tar::Builder<Vec<u8>>, typeflag: u8, value: &[u8]) {
    let mut data = value.to_vec();
    data.push(0);
    append_header(b, b"././@LongLink", typeflag, &data, b"", 0o644);
}

fn append_header(
    b: &mut tar::Builder<Vec<u8>>,
    name: &[u8],
    typeflag: u8,
    data: &[u8],
    link: &[u8],
    mode: u32,
) {
    let mut h = tar::Header::new_gnu();
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(data.len() as u64);
    {
        let old = h.as_old_mut();
        let n = name.len().min(old.name.len());
        old.name[..n].copy_from_slice(&name[..n]);
        let l = link.len().min(old.linkname.len());
        old.linkname[..l].copy_from_slice(&link[..l]);
        old.linkflag[0] = typeflag;
    }
    h.set_cksum();
    b.append(&h, data).expect("append to tar");
}

/// Appends one member with an exact name; returns the offset of its (final) header.
fn append_raw(
    b: &mut tar::Builder<Vec<u8>>,
    name: &[u8],
    typeflag: u8,
    data: &[u8],
    link: &[u8],
    mode: u32,
) -> u64 {
    if name.len() > 100 {
        long_record(b, b'L', name);
    }
    if link.len() > 100 {
        long_record(b, b'K', link);
    }
    append_header(b, name, typeflag, data, link, mode);
    (b.get_ref().len() - padded(data.len()) - 512) as u64
}

/// A named location recorded by a test's builder (see [`Built::mark`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// Key the test looks it up by.
    pub key: String,
    /// Expected finding path.
    pub path: Option<String>,
    /// Expected finding offset.
    pub offset: Option<u64>,
}

/// A written tar: bytes, where each member's header is, and what the test wants to remember.
#[derive(Debug, Clone, Default)]
pub struct Built {
    /// The archive bytes (possibly compressed or damaged afterwards).
    pub bytes: Vec<u8>,
    /// (raw name, header offset) of every member, in order, in the uncompressed tar.
    pub offsets: Vec<(String, u64)>,
    /// Locations remembered by the builder for the assertions.
    pub marks: Vec<Mark>,
    /// For findings inside a layer: the expected raw entry name and its header offset in the
    /// (decompressed) layer.
    pub entry: Option<(String, u64)>,
}

impl Built {
    /// Header offset of the last member named exactly `name` (panics if absent).
    pub fn offset(&self, name: &str) -> u64 {
        self.offsets
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, o)| *o)
            .unwrap_or_else(|| panic!("no member {name:?} in {:?}", self.offsets))
    }

    /// Offset of the end-of-archive blocks (the length of the tar without them), as long as
    /// the bytes are the untouched output of [`Plan::build`].
    pub fn end(&self) -> u64 {
        match self.offsets.last() {
            None => 0,
            Some((name, off)) => {
                let size = self.member_size(name);
                off + 512 + padded(size) as u64
            }
        }
    }

    fn member_size(&self, name: &str) -> usize {
        let off = self.offset(name) as usize;
        let h = tar::Header::from_byte_slice(&self.bytes[off..off + 512]);
        h.size().expect("size") as usize
    }

    /// Remembers a location under `key`.
    pub fn mark(&mut self, key: &str, path: Option<&str>, offset: Option<u64>) -> &mut Built {
        self.marks.push(Mark {
            key: key.to_string(),
            path: path.map(str::to_string),
            offset,
        });
        self
    }

    /// Remembers the member `name` (its cleaned path and header offset) under `key`.
    pub fn mark_member(&mut self, key: &str, name: &str) -> &mut Built {
        let off = self.offset(name);
        self.mark(key, Some(&clean(name)), Some(off))
    }

    /// The location remembered under `key` (panics if absent).
    pub fn get_mark(&self, key: &str) -> &Mark {
        self.marks
            .iter()
            .find(|m| m.key == key)
            .unwrap_or_else(|| panic!("no mark {key:?}: {:?}", self.marks))
    }

    /// Replaces the bytes by their gzip compression (offsets still refer to the tar).
    pub fn gzipped(mut self) -> Built {
        self.bytes = gzip(&self.bytes);
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Images
// ---------------------------------------------------------------------------------------------

/// The bottom sample layer: `etc/`, `etc/hello`, `etc/gone`.
pub fn sample_layer_0() -> Vec<u8> {
    Plan::new()
        .dir("etc/")
        .file("etc/hello", b"hello\n")
        .file("etc/gone", b"bye\n")
        .build()
        .bytes
}

/// The top sample layer: a file, a hardlink to it, a symlink, a hardlink to a file of the
/// layer below, and a whiteout of a lower file. Valid under every rule.
pub fn sample_layer_1() -> Vec<u8> {
    Plan::new()
        .dir("bin/")
        .file("bin/tool", b"#!/bin/sh\necho tool\n")
        .hardlink("bin/tool-link", "bin/tool")
        .symlink("bin/sh", "tool")
        .hardlink("etc/hello-link", "etc/hello")
        .file("etc/.wh.gone", b"")
        .build()
        .bytes
}

/// Another valid single-file layer, different from the samples (content chosen by `seed`).
pub fn other_layer(seed: &str) -> Vec<u8> {
    Plan::new()
        .file(&format!("opt/{seed}"), seed.as_bytes())
        .build()
        .bytes
}

/// An image config for layers with these DiffIDs: linux/amd64, RFC 3339 times, one non-empty
/// history entry per layer plus one empty-layer entry.
pub fn config_for(diff_ids: &[String]) -> Value {
    let mut history: Vec<Value> = diff_ids
        .iter()
        .enumerate()
        .map(|(i, _)| json!({"created": CREATED, "created_by": format!("/bin/sh -c #(nop) ADD layer{i} /")}))
        .collect();
    history.push(json!({"created": CREATED, "created_by": "/bin/sh -c #(nop)  CMD [\"sh\"]", "empty_layer": true}));
    json!({
        "architecture": "amd64",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["sh"]},
        "created": CREATED,
        "history": history,
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    })
}

/// An image: layer tars and a config that matches them.
#[derive(Debug, Clone)]
pub struct Image {
    /// Uncompressed layer tars, bottom first (their sha256 are the DiffIDs).
    pub layers: Vec<Vec<u8>>,
    /// The layer blobs as written to the archive (by default the same bytes; see
    /// [`Image::gzip_layers`]). Changing one without `layers` makes its DiffID wrong.
    pub stored: Vec<Vec<u8>>,
    /// The image config (serialized with [`to_json`] by the writers).
    pub config: Value,
    /// Tags (`RepoTags`, `repositories`, index annotations).
    pub repo_tags: Vec<String>,
}

impl Image {
    /// An image of these layers with [`config_for`] their DiffIDs, tagged [`REPO_TAG`].
    pub fn new(layers: Vec<Vec<u8>>) -> Image {
        let diff_ids: Vec<String> = layers.iter().map(|l| sha256_digest(l)).collect();
        Image {
            stored: layers.clone(),
            layers,
            config: config_for(&diff_ids),
            repo_tags: vec![REPO_TAG.to_string()],
        }
    }

    /// The two-layer sample image ([`sample_layer_0`], [`sample_layer_1`]).
    pub fn sample() -> Image {
        Image::new(vec![sample_layer_0(), sample_layer_1()])
    }

    /// The DiffIDs of `layers`.
    pub fn diff_ids(&self) -> Vec<String> {
        self.layers.iter().map(|l| sha256_digest(l)).collect()
    }

    /// Replaces layer `i` (stored uncompressed) and updates the config's DiffIDs.
    pub fn set_layer(&mut self, i: usize, tar: Vec<u8>) {
        self.layers[i] = tar.clone();
        self.stored[i] = tar;
        self.config["rootfs"]["diff_ids"] = json!(self.diff_ids());
    }

    /// Stores every layer gzip-compressed (DiffIDs unchanged).
    pub fn gzip_layers(mut self) -> Image {
        self.stored = self.layers.iter().map(|l| gzip(l)).collect();
        self
    }

    /// Stores every layer zstd-compressed (DiffIDs unchanged).
    pub fn zstd_layers(mut self) -> Image {
        self.stored = self.layers.iter().map(|l| zstd(l)).collect();
        self
    }

    /// The config bytes.
    pub fn config_bytes(&self) -> Vec<u8> {
        to_json(&self.config)
    }

    /// `(repository, tag)` of each tag.
    pub fn split_tags(&self) -> Vec<(String, String)> {
        self.repo_tags
            .iter()
            .map(|t| {
                let (r, tag) = t.rsplit_once(':').expect("name:tag");
                (r.to_string(), tag.to_string())
            })
            .collect()
    }
}

fn repositories_for(image: &Image, top: &str) -> Option<Value> {
    if image.repo_tags.is_empty() {
        return None;
    }
    let mut m = serde_json::Map::new();
    for (repo, tag) in image.split_tags() {
        let e = m.entry(repo).or_insert_with(|| json!({}));
        e[tag] = json!(top);
    }
    Some(Value::Object(m))
}

/// The v1 layer `json` docker writes for layer `i` of `image`: intermediate layers get the
/// zero image (epoch created), the top layer the image's own fields.
fn v1_json(image: &Image, ids: &[String], i: usize) -> Value {
    let mut j = serde_json::Map::new();
    j.insert("id".into(), json!(ids[i]));
    if i > 0 {
        j.insert("parent".into(), json!(ids[i - 1]));
    }
    if i + 1 == ids.len() {
        j.insert("created".into(), image.config["created"].clone());
        j.insert("container_config".into(), json!({"Cmd": null}));
        j.insert("docker_version".into(), json!("24.0.7"));
        j.insert("config".into(), image.config["config"].clone());
        j.insert("architecture".into(), image.config["architecture"].clone());
    } else {
        j.insert("created".into(), json!("1970-01-01T00:00:00Z"));
        j.insert("container_config".into(), json!({"Cmd": null}));
    }
    j.insert("os".into(), json!("linux"));
    Value::Object(j)
}

// ---------------------------------------------------------------------------------------------
// Docker 1.10–24
// ---------------------------------------------------------------------------------------------

/// `docker save` of Docker 1.10–24: `<C>.json`, `<id>/{VERSION,json,layer.tar}` per layer,
/// `manifest.json`, `repositories`. Every field is public: change it, then [`DockerSave::build`].
#[derive(Debug, Clone)]
pub struct DockerSave {
    /// The image.
    pub image: Image,
    /// Config bytes, as written.
    pub config: Vec<u8>,
    /// Config member name (`<sha256 of config>.json`).
    pub config_name: String,
    /// v1 layer directory IDs, bottom first.
    pub layer_ids: Vec<String>,
    /// Each layer directory's `json`.
    pub layer_jsons: Vec<Value>,
    /// `VERSION` content of every layer directory.
    pub version: Vec<u8>,
    /// `manifest.json` (one entry).
    pub manifest: Value,
    /// `repositories` (`None`: not written).
    pub repositories: Option<Value>,
    /// Write directory entries (`<id>/`), as moby does.
    pub dir_entries: bool,
}

impl DockerSave {
    /// The archive `docker save` (1.10–24) would write for `image`.
    pub fn new(image: Image) -> DockerSave {
        let diff_ids = image.diff_ids();
        let layer_ids: Vec<String> = diff_ids
            .iter()
            .enumerate()
            .map(|(i, d)| fake_hex(&format!("v1 layer {i} {d}")))
            .collect();
        let layer_jsons = (0..layer_ids.len())
            .map(|i| v1_json(&image, &layer_ids, i))
            .collect();
        let config = image.config_bytes();
        let config_name = format!("{}.json", sha256_hex(&config));
        let tags: Value = if image.repo_tags.is_empty() {
            Value::Null
        } else {
            json!(image.repo_tags)
        };
        let manifest = json!([{
            "Config": config_name,
            "RepoTags": tags,
            "Layers": layer_ids.iter().map(|id| format!("{id}/layer.tar")).collect::<Vec<_>>(),
        }]);
        let repositories = repositories_for(&image, layer_ids.last().map_or("", String::as_str));
        DockerSave {
            image,
            config,
            config_name,
            layer_ids,
            layer_jsons,
            version: b"1.0".to_vec(),
            manifest,
            repositories,
            dir_entries: true,
        }
    }

    /// The sample image ([`Image::sample`]).
    pub fn sample() -> DockerSave {
        DockerSave::new(Image::sample())
    }

    /// Replaces the config bytes, renaming the config member and `manifest.json`'s `Config`
    /// to match.
    pub fn set_config_bytes(&mut self, bytes: Vec<u8>) {
        self.config_name = format!("{}.json", sha256_hex(&bytes));
        self.config = bytes;
        self.manifest[0]["Config"] = json!(self.config_name);
    }

    /// `<id>/layer.tar` of layer `i`.
    pub fn layer_path(&self, i: usize) -> String {
        format!("{}/layer.tar", self.layer_ids[i])
    }

    /// `<id>/` of layer `i` (the directory entry's name).
    pub fn layer_dir(&self, i: usize) -> String {
        format!("{}/", self.layer_ids[i])
    }

    /// The members, in moby's order (config, layer directories, manifest.json, repositories).
    pub fn plan(&self) -> Plan {
        let mut p = Plan::new().file(&self.config_name, &self.config);
        for (i, id) in self.layer_ids.iter().enumerate() {
            if self.dir_entries {
                p = p.dir(&format!("{id}/"));
            }
            p = p
                .file(&format!("{id}/VERSION"), &self.version)
                .file(&format!("{id}/json"), &to_json(&self.layer_jsons[i]))
                .file(&format!("{id}/layer.tar"), &self.image.stored[i]);
        }
        p = p.file("manifest.json", &to_json_line(&self.manifest));
        if let Some(r) = &self.repositories {
            p = p.file("repositories", &to_json_line(r));
        }
        p
    }

    /// Writes the archive.
    pub fn build(&self) -> Built {
        self.plan().build()
    }
}

/// Layers whose links are all legitimate and stay in the root: glibc's relative loader link
/// (`lib64/ld-linux-x86-64.so.2 -> ../lib/...`), a usrmerge `bin -> usr/bin`, and absolute
/// alternatives links (`/usr/bin/python -> /etc/alternatives/python`), then a file through
/// `bin`.
pub fn legitimate_links() -> Vec<Plan> {
    vec![
        Plan::new()
            .file("lib/x86_64-linux-gnu/ld-2.31.so", b"ld")
            .dir("lib64/")
            .symlink(
                "lib64/ld-linux-x86-64.so.2",
                "../lib/x86_64-linux-gnu/ld-2.31.so",
            )
            .file("usr/bin/python3", b"py")
            .symlink("bin", "usr/bin")
            .symlink("etc/alternatives/python", "/usr/bin/python3")
            .symlink("usr/bin/python", "/etc/alternatives/python"),
        Plan::new().file("bin/sh", b"sh"),
    ]
}

/// The unprivileged user the rootless tests run the CLI as (`nobody`).
pub const NOBODY: u32 = 65534;

/// A place where [`NOBODY`] can run the `imgtar` binary: a temporary directory it can enter,
/// a copy of the binary it can execute (the build directory may be closed to it), and a
/// `work` directory it owns to write into.
pub struct Rootless {
    /// The temporary directory (mode 0755).
    pub tmp: tempfile::TempDir,
    /// The binary's copy.
    pub bin: std::path::PathBuf,
    /// A directory owned by [`NOBODY`].
    pub work: std::path::PathBuf,
}

impl Rootless {
    /// Sets the directory up (the caller must be root).
    pub fn new() -> Rootless {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let bin = tmp.path().join("imgtar");
        std::fs::copy(env!("CARGO_BIN_EXE_imgtar"), &bin).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        let work = tmp.path().join("work");
        std::fs::create_dir(&work).unwrap();
        std::os::unix::fs::chown(&work, Some(NOBODY), Some(NOBODY)).unwrap();
        Rootless { tmp, bin, work }
    }

    /// Makes `path` readable by everyone (an archive the user must read).
    pub fn readable(&self, path: &std::path::Path) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }

    /// `imgtar` run as [`NOBODY`] through `setpriv`, arguments to be added.
    pub fn command(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new("setpriv");
        cmd.arg(format!("--reuid={NOBODY}"))
            .arg(format!("--regid={NOBODY}"))
            .args(["--clear-groups", "--"])
            .arg(&self.bin);
        cmd
    }
}

// ---------------------------------------------------------------------------------------------
// Pre-1.10 legacy
// ---------------------------------------------------------------------------------------------

/// `docker save` before 1.10: `<id>/{VERSION,json,layer.tar}` per layer and `repositories`,
/// no `manifest.json`, no image config.
#[derive(Debug, Clone)]
pub struct LegacySave {
    /// The image (its config fills the top layer's `json`).
    pub image: Image,
    /// Layer directory IDs, bottom first.
    pub layer_ids: Vec<String>,
    /// Each directory's `json`.
    pub layer_jsons: Vec<Value>,
    /// `VERSION` content.
    pub version: Vec<u8>,
    /// `repositories` (`None`: not written).
    pub repositories: Option<Value>,
    /// Write directory entries.
    pub dir_entries: bool,
}

impl LegacySave {
    /// The archive docker 1.9 would write for `image`.
    pub fn new(image: Image) -> LegacySave {
        let layer_ids: Vec<String> = (0..image.layers.len())
            .map(|i| fake_hex(&format!("legacy layer {i}")))
            .collect();
        let layer_jsons = (0..layer_ids.len())
            .map(|i| {
                let mut j = v1_json(&image, &layer_ids, i);
                j["docker_version"] = json!("1.9.1");
                j["architecture"] = json!("amd64");
                j
            })
            .collect();
        let repositories = repositories_for(&image, layer_ids.last().map_or("", String::as_str));
        LegacySave {
            image,
            layer_ids,
            layer_jsons,
            version: b"1.0".to_vec(),
            repositories,
            dir_entries: true,
        }
    }

    /// The sample image.
    pub fn sample() -> LegacySave {
        LegacySave::new(Image::sample())
    }

    /// `<id>/<file>` of layer `i`.
    pub fn path(&self, i: usize, file: &str) -> String {
        format!("{}/{file}", self.layer_ids[i])
    }

    /// The members: layer directories in ID order, then `repositories`.
    pub fn plan(&self) -> Plan {
        let mut order: Vec<usize> = (0..self.layer_ids.len()).collect();
        order.sort_by(|&a, &b| self.layer_ids[a].cmp(&self.layer_ids[b]));
        let mut p = Plan::new();
        for i in order {
            let id = &self.layer_ids[i];
            if self.dir_entries {
                p = p.dir(&format!("{id}/"));
            }
            p = p
                .file(&format!("{id}/VERSION"), &self.version)
                .file(&format!("{id}/json"), &to_json(&self.layer_jsons[i]))
                .file(&format!("{id}/layer.tar"), &self.image.stored[i]);
        }
        if let Some(r) = &self.repositories {
            p = p.file("repositories", &to_json_line(r));
        }
        p
    }

    /// Writes the archive.
    pub fn build(&self) -> Built {
        self.plan().build()
    }
}

// ---------------------------------------------------------------------------------------------
// OCI layouts (Docker 25+, plain)
// ---------------------------------------------------------------------------------------------

/// An OCI image layout archive: `blobs/sha256/*`, `index.json`, `oci-layout`, plus (Docker
/// 25+) `manifest.json`, `repositories` and orphan v1 JSON blobs.
#[derive(Debug, Clone)]
pub struct OciSave {
    /// The image.
    pub image: Image,
    /// Config bytes.
    pub config: Vec<u8>,
    /// Media type of every layer descriptor.
    pub layer_media_type: String,
    /// The OCI image manifest (its bytes are a blob; see [`OciSave::sync_index`]).
    pub oci_manifest: Value,
    /// `index.json`.
    pub index: Value,
    /// `oci-layout` bytes.
    pub oci_layout: Vec<u8>,
    /// `manifest.json` (`None`: not written).
    pub manifest_json: Option<Value>,
    /// `repositories` (`None`: not written).
    pub repositories: Option<Value>,
    /// More blobs written under `blobs/sha256/<their digest>` (Docker 25's v1 JSONs).
    pub extra_blobs: Vec<Vec<u8>>,
    /// Write `blobs/` and `blobs/sha256/` directory entries.
    pub dir_entries: bool,
}

impl OciSave {
    fn base(image: Image, layer_media_type: &str, oci_layout: &[u8]) -> OciSave {
        let config = image.config_bytes();
        let layers: Vec<Value> = image
            .stored
            .iter()
            .map(|l| descriptor(layer_media_type, l))
            .collect();
        let oci_manifest = json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "config": descriptor(MEDIA_CONFIG, &config),
            "layers": layers,
        });
        let mut s = OciSave {
            image,
            config,
            layer_media_type: layer_media_type.to_string(),
            oci_manifest,
            index: json!({"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": []}),
            oci_layout: oci_layout.to_vec(),
            manifest_json: None,
            repositories: None,
            extra_blobs: Vec::new(),
            dir_entries: true,
        };
        s.sync_index();
        s
    }

    /// What Docker 25+ `docker save` (graphdriver store) writes: uncompressed layers named by
    /// DiffID, `LayerSources` for every layer, `repositories` pointing at the top DiffID, and
    /// one orphan v1 JSON blob per layer.
    pub fn docker25(image: Image) -> OciSave {
        let mut s = OciSave::base(
            image,
            MEDIA_LAYER_TAR,
            br#"{"imageLayoutVersion": "1.0.0"}"#,
        );
        let diff_ids = s.image.diff_ids();
        let mut sources = serde_json::Map::new();
        for (d, l) in diff_ids.iter().zip(&s.image.stored) {
            sources.insert(d.clone(), descriptor(MEDIA_LAYER_TAR, l));
        }
        let tags: Value = if s.image.repo_tags.is_empty() {
            Value::Null
        } else {
            json!(s.image.repo_tags)
        };
        s.manifest_json = Some(json!([{
            "Config": blob_path(&sha256_digest(&s.config)),
            "RepoTags": tags,
            "Layers": s.image.stored.iter().map(|l| blob_path(&sha256_digest(l))).collect::<Vec<_>>(),
            "LayerSources": sources,
        }]));
        let top = diff_ids
            .last()
            .map_or("", |d| d.trim_start_matches("sha256:"));
        s.repositories = repositories_for(&s.image, top);
        let ids: Vec<String> = (0..diff_ids.len())
            .map(|i| fake_hex(&format!("v1 layer {i}")))
            .collect();
        s.extra_blobs = (0..ids.len())
            .map(|i| to_json(&v1_json(&s.image, &ids, i)))
            .collect();
        s
    }

    /// A plain OCI layout (no `manifest.json`), gzip-compressed layers.
    pub fn plain(image: Image) -> OciSave {
        OciSave::plain_as_stored(image.gzip_layers())
    }

    /// A plain OCI layout whose layer blobs are `image.stored` as they are, described as
    /// gzip layers (for blobs that do not match their DiffIDs).
    pub fn plain_as_stored(image: Image) -> OciSave {
        OciSave::base(
            image,
            MEDIA_LAYER_GZIP,
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )
    }

    /// The OCI manifest's bytes.
    pub fn manifest_bytes(&self) -> Vec<u8> {
        to_json(&self.oci_manifest)
    }

    /// `sha256:` digest of the OCI manifest.
    pub fn manifest_digest(&self) -> String {
        sha256_digest(&self.manifest_bytes())
    }

    /// `blobs/sha256/<hex>` of the OCI manifest.
    pub fn manifest_path(&self) -> String {
        blob_path(&self.manifest_digest())
    }

    /// `blobs/sha256/<hex>` of the config.
    pub fn config_path(&self) -> String {
        blob_path(&sha256_digest(&self.config))
    }

    /// `blobs/sha256/<hex>` of stored layer `i`.
    pub fn layer_path(&self, i: usize) -> String {
        blob_path(&sha256_digest(&self.image.stored[i]))
    }

    /// Makes `index.json` hold exactly one descriptor, for the current OCI manifest, named
    /// after the image's first tag.
    pub fn sync_index(&mut self) {
        let mut d = descriptor(MEDIA_MANIFEST, &self.manifest_bytes());
        if let Some((repo, tag)) = self.image.split_tags().first() {
            let full = if repo.contains('/') {
                format!("{repo}:{tag}")
            } else {
                format!("docker.io/library/{repo}:{tag}")
            };
            d["annotations"] = json!({
                "io.containerd.image.name": full,
                "org.opencontainers.image.ref.name": tag,
            });
        }
        self.index["manifests"] = json!([d]);
    }

    /// Replaces the config bytes and updates every reference to them (OCI manifest,
    /// `index.json`, `manifest.json`).
    pub fn set_config_bytes(&mut self, bytes: Vec<u8>) {
        self.oci_manifest["config"] = descriptor(MEDIA_CONFIG, &bytes);
        if let Some(m) = &mut self.manifest_json {
            m[0]["Config"] = json!(blob_path(&sha256_digest(&bytes)));
        }
        self.config = bytes;
        self.sync_index();
    }

    /// Every blob, by path, sorted and de-duplicated (as both writers do).
    pub fn blobs(&self) -> Vec<(String, Vec<u8>)> {
        let mut blobs: Vec<(String, Vec<u8>)> = Vec::new();
        let mut add = |b: &[u8]| blobs.push((blob_path(&sha256_digest(b)), b.to_vec()));
        add(&self.config);
        for l in &self.image.stored {
            add(l);
        }
        add(&self.manifest_bytes());
        for b in &self.extra_blobs {
            add(b);
        }
        blobs.sort();
        blobs.dedup_by(|a, b| a.0 == b.0);
        blobs
    }

    /// The members: blobs, then `index.json`, `manifest.json`, `oci-layout`, `repositories`.
    pub fn plan(&self) -> Plan {
        let mut p = Plan::new();
        if self.dir_entries {
            p = p.dir("blobs/").dir("blobs/sha256/");
        }
        for (path, b) in self.blobs() {
            p = p.file(&path, &b);
        }
        p = p.file("index.json", &to_json(&self.index));
        if let Some(m) = &self.manifest_json {
            p = p.file("manifest.json", &to_json_line(m));
        }
        p = p.file("oci-layout", &self.oci_layout);
        if let Some(r) = &self.repositories {
            p = p.file("repositories", &to_json_line(r));
        }
        p
    }

    /// Writes the archive.
    pub fn build(&self) -> Built {
        self.plan().build()
    }
}
