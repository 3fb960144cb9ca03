//! Builds small archives of each layout from a description of their images, the way each
//! writer lays them out (moby ≤24 and 25+ `docker save`, pre-1.10 `docker save`, an OCI image
//! layout), so tests can know every member an export must write.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;

use imgtar::reference::Reference;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

pub fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Legacy,
    DockerArchive,
    DockerOci,
    Oci,
}

pub const KINDS: [Kind; 4] = [
    Kind::Legacy,
    Kind::DockerArchive,
    Kind::DockerOci,
    Kind::Oci,
];

#[derive(Clone, Debug, Default)]
pub struct Img {
    pub tags: Vec<String>,
    pub created: Option<String>,
    pub labels: Vec<(String, String)>,
    /// Files of each layer, bottom first.
    pub layers: Vec<Vec<(String, Vec<u8>)>>,
    /// Index of the parent image (its layers must be this one's minus the top).
    pub parent: Option<usize>,
    /// os, architecture, variant.
    pub platform: (String, String, Option<String>),
    /// OCI layout: images of one group share one image index (a multi-platform image).
    pub group: Option<u32>,
}

impl Img {
    pub fn new(tags: &[&str], created: &str, layers: &[&[(&str, &str)]]) -> Img {
        Img {
            tags: tags.iter().map(|s| s.to_string()).collect(),
            created: Some(created.to_string()),
            labels: Vec::new(),
            layers: layers
                .iter()
                .map(|l| {
                    l.iter()
                        .map(|(p, c)| (p.to_string(), c.as_bytes().to_vec()))
                        .collect()
                })
                .collect(),
            parent: None,
            platform: ("linux".into(), "amd64".into(), None),
            group: None,
        }
    }
    pub fn labels(mut self, l: &[(&str, &str)]) -> Img {
        self.labels = l
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self
    }
    pub fn parent(mut self, p: usize) -> Img {
        self.parent = Some(p);
        self
    }
    pub fn platform(mut self, os: &str, arch: &str, variant: Option<&str>) -> Img {
        self.platform = (os.into(), arch.into(), variant.map(str::to_string));
        self
    }
    pub fn group(mut self, g: u32) -> Img {
        self.group = Some(g);
        self
    }
}

enum Entry {
    Dir,
    File(Vec<u8>),
    Symlink(String),
}

/// What was built, with the member paths each image needs.
pub struct Built {
    pub bytes: Vec<u8>,
    /// `sha256:<hex>` of each image's config.
    pub ids: Vec<String>,
    pub diff_ids: Vec<Vec<String>>,
    /// The member paths (files and links) each image needs, generated documents aside.
    pub needs: Vec<Vec<String>>,
    /// Members written but needed by no image.
    pub orphans: Vec<String>,
    /// OCI layout: the image index blob of an image's multi-platform group.
    pub group_blob: Vec<Option<String>>,
}

pub fn layer_tar(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (p, c) in files {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_size(c.len() as u64);
        b.append_data(&mut h, p, c.as_slice()).unwrap();
    }
    b.into_inner().unwrap()
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn tar_of(entries: &BTreeMap<String, Entry>, tail: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut put = |name: &str, e: &Entry| {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(0);
        match e {
            Entry::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, format!("{name}/"), std::io::empty())
                    .unwrap();
            }
            Entry::File(c) => {
                h.set_mode(0o644);
                h.set_size(c.len() as u64);
                b.append_data(&mut h, name, c.as_slice()).unwrap();
            }
            Entry::Symlink(t) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, name, t).unwrap();
            }
        }
    };
    for (name, e) in entries {
        put(name, e);
    }
    for (name, c) in tail {
        put(name, &Entry::File(c.clone()));
    }
    b.into_inner().unwrap()
}

fn full_name(tag: &str) -> String {
    Reference::parse_normalized(tag)
        .unwrap()
        .with_default_tag()
        .to_string()
}

fn repo_and_tag(written: &str) -> (String, String) {
    let tag = Reference::parse_normalized(written)
        .unwrap()
        .with_default_tag()
        .tag()
        .unwrap()
        .to_string();
    let repo = written
        .strip_suffix(&format!(":{tag}"))
        .unwrap_or(written)
        .to_string();
    (repo, tag)
}

pub fn config(img: &Img, diff_ids: &[String]) -> Vec<u8> {
    let mut c = json!({
        "architecture": img.platform.1,
        "os": img.platform.0,
        "config": { "Cmd": ["sh"], "Env": ["PATH=/bin"] },
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
        "history": (0..diff_ids.len()).map(|i| json!({
            "created": format!("2019-01-0{}T00:00:00Z", i + 1),
            "created_by": format!("layer {i}"),
        })).collect::<Vec<_>>(),
    });
    if let Some(v) = &img.platform.2 {
        c["variant"] = json!(v);
    }
    if let Some(t) = &img.created {
        c["created"] = json!(t);
    }
    if !img.labels.is_empty() {
        c["config"]["Labels"] = json!(img.labels.iter().cloned().collect::<BTreeMap<_, _>>());
    }
    serde_json::to_vec(&c).unwrap()
}

fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(p) => format!("sha256:{}", sha(format!("{p} {d}").as_bytes())),
        };
        out.push(next);
    }
    out
}

pub fn build(kind: Kind, imgs: &[Img]) -> Built {
    let tars: Vec<Vec<Vec<u8>>> = imgs
        .iter()
        .map(|i| i.layers.iter().map(|l| layer_tar(l)).collect())
        .collect();
    let diff_ids: Vec<Vec<String>> = tars
        .iter()
        .map(|ls| ls.iter().map(|t| format!("sha256:{}", sha(t))).collect())
        .collect();
    let configs: Vec<Vec<u8>> = imgs
        .iter()
        .zip(&diff_ids)
        .map(|(i, d)| config(i, d))
        .collect();
    let ids: Vec<String> = configs
        .iter()
        .map(|c| format!("sha256:{}", sha(c)))
        .collect();
    let mut entries: BTreeMap<String, Entry> = BTreeMap::new();
    let mut needs: Vec<Vec<String>> = vec![Vec::new(); imgs.len()];
    let mut orphans = Vec::new();
    let mut group_blob: Vec<Option<String>> = vec![None; imgs.len()];
    let mut tail: Vec<(&str, Vec<u8>)> = Vec::new();
    match kind {
        Kind::Legacy | Kind::DockerArchive => {
            let mut manifest = Vec::new();
            let mut repos: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
            let mut first_dir: BTreeMap<String, String> = BTreeMap::new();
            for (n, img) in imgs.iter().enumerate() {
                let chains = chain_ids(&diff_ids[n]);
                let mut layer_paths = Vec::new();
                let mut parent: Option<String> = None;
                for (i, chain) in chains.iter().enumerate() {
                    let top = i + 1 == chains.len();
                    let v1 = if top {
                        sha(format!("v1 {chain} {}", ids[n]).as_bytes())
                    } else {
                        sha(format!("v1 {chain}").as_bytes())
                    };
                    let mut j = json!({"id": v1, "os": img.platform.0});
                    if let Some(p) = &parent {
                        j["parent"] = json!(p);
                    }
                    if top {
                        j["created"] = json!(img.created.clone().unwrap_or_default());
                        j["architecture"] = json!(img.platform.1);
                        j["config"] =
                            serde_json::from_slice::<Value>(&configs[n]).unwrap()["config"].clone();
                        j["container_config"] =
                            json!({"Cmd": ["/bin/sh", "-c", format!("layer {i}")]});
                    } else {
                        j["created"] = json!("1970-01-01T00:00:00Z");
                        j["container_config"] =
                            json!({"Cmd": ["/bin/sh", "-c", format!("layer {i}")]});
                    }
                    entries.insert(v1.clone(), Entry::Dir);
                    entries.insert(format!("{v1}/VERSION"), Entry::File(b"1.0".to_vec()));
                    entries.insert(
                        format!("{v1}/json"),
                        Entry::File(serde_json::to_vec(&j).unwrap()),
                    );
                    let d = &diff_ids[n][i];
                    let lp = format!("{v1}/layer.tar");
                    match first_dir.get(d) {
                        Some(other) if *other != v1 => {
                            entries.insert(
                                lp.clone(),
                                Entry::Symlink(format!("../{other}/layer.tar")),
                            );
                        }
                        _ => {
                            first_dir.insert(d.clone(), v1.clone());
                            entries.insert(lp.clone(), Entry::File(tars[n][i].clone()));
                        }
                    }
                    needs[n].extend([format!("{v1}/VERSION"), format!("{v1}/json"), lp.clone()]);
                    layer_paths.push(lp);
                    parent = Some(v1);
                }
                for t in &img.tags {
                    let (r, tag) = repo_and_tag(t);
                    repos
                        .entry(r)
                        .or_default()
                        .insert(tag, parent.clone().unwrap());
                }
                if kind == Kind::DockerArchive {
                    let cfg = format!("{}.json", &ids[n][7..]);
                    entries.insert(cfg.clone(), Entry::File(configs[n].clone()));
                    needs[n].push(cfg.clone());
                    let mut item = json!({
                        "Config": cfg,
                        "RepoTags": if img.tags.is_empty() { Value::Null } else { json!(img.tags) },
                        "Layers": layer_paths,
                    });
                    if let Some(p) = img.parent {
                        item["Parent"] = json!(ids[p]);
                    }
                    manifest.push(item);
                }
            }
            if kind == Kind::DockerArchive {
                tail.push((
                    "manifest.json",
                    [serde_json::to_vec(&manifest).unwrap(), b"\n".to_vec()].concat(),
                ));
            }
            if !repos.is_empty() {
                tail.push((
                    "repositories",
                    [serde_json::to_vec(&repos).unwrap(), b"\n".to_vec()].concat(),
                ));
            }
        }
        Kind::DockerOci | Kind::Oci => {
            entries.insert("blobs".into(), Entry::Dir);
            entries.insert("blobs/sha256".into(), Entry::Dir);
            let blob = |entries: &mut BTreeMap<String, Entry>, bytes: Vec<u8>| {
                let h = sha(&bytes);
                let p = format!("blobs/sha256/{h}");
                entries.insert(p.clone(), Entry::File(bytes));
                (format!("sha256:{h}"), p)
            };
            let mut manifest = Vec::new();
            let mut repos: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
            let mut index: Vec<Value> = Vec::new();
            let mut groups: BTreeMap<u32, Vec<(usize, Value)>> = BTreeMap::new();
            for (n, img) in imgs.iter().enumerate() {
                let (cd, cp) = blob(&mut entries, configs[n].clone());
                needs[n].push(cp);
                let mut layer_descs = Vec::new();
                let mut layer_paths = Vec::new();
                for (i, t) in tars[n].iter().enumerate() {
                    let (bytes, media) = if kind == Kind::Oci {
                        (gzip(t), "application/vnd.oci.image.layer.v1.tar+gzip")
                    } else {
                        (t.clone(), "application/vnd.oci.image.layer.v1.tar")
                    };
                    let size = bytes.len();
                    let (d, p) = blob(&mut entries, bytes);
                    if kind == Kind::DockerOci {
                        assert_eq!(d, diff_ids[n][i]);
                    }
                    needs[n].push(p.clone());
                    layer_paths.push(p);
                    layer_descs.push(json!({"mediaType": media, "digest": d, "size": size}));
                }
                let m = json!({
                    "schemaVersion": 2,
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": configs[n].len()},
                    "layers": layer_descs,
                });
                let mb = serde_json::to_vec(&m).unwrap();
                let msize = mb.len();
                let (md, mp) = blob(&mut entries, mb);
                needs[n].push(mp);
                let desc = json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": msize});
                if let (Kind::Oci, Some(g)) = (kind, img.group) {
                    let mut d = desc.clone();
                    d["platform"] = json!({"os": img.platform.0, "architecture": img.platform.1});
                    if let Some(v) = &img.platform.2 {
                        d["platform"]["variant"] = json!(v);
                    }
                    groups.entry(g).or_default().push((n, d));
                    continue;
                }
                if img.tags.is_empty() {
                    index.push(desc.clone());
                }
                for t in &img.tags {
                    let mut d = desc.clone();
                    d["annotations"] = if kind == Kind::Oci {
                        json!({"org.opencontainers.image.ref.name": t})
                    } else {
                        let (_, tag) = repo_and_tag(t);
                        json!({"io.containerd.image.name": full_name(t), "org.opencontainers.image.ref.name": tag})
                    };
                    index.push(d);
                }
                if kind == Kind::DockerOci {
                    // Docker 25 also writes each layer's v1 JSON, referenced by nothing.
                    let (_, orphan) =
                        blob(&mut entries, format!("{{\"id\":\"{n}\"}}").into_bytes());
                    orphans.push(orphan);
                    let sources: BTreeMap<String, Value> = diff_ids[n]
                        .iter()
                        .zip(&layer_descs)
                        .map(|(d, desc)| (d.clone(), desc.clone()))
                        .collect();
                    let mut item = json!({
                        "Config": needs[n][0],
                        "RepoTags": if img.tags.is_empty() { Value::Null } else { json!(img.tags) },
                        "Layers": layer_paths,
                        "LayerSources": sources,
                    });
                    if let Some(p) = img.parent {
                        item["Parent"] = json!(ids[p]);
                    }
                    manifest.push(item);
                    for t in &img.tags {
                        let (r, tag) = repo_and_tag(t);
                        repos
                            .entry(r)
                            .or_default()
                            .insert(tag, diff_ids[n].last().unwrap()[7..].to_string());
                    }
                }
            }
            for (_, members) in groups {
                let ix = json!({
                    "schemaVersion": 2,
                    "mediaType": "application/vnd.oci.image.index.v1+json",
                    "manifests": members.iter().map(|(_, d)| d.clone()).collect::<Vec<_>>(),
                });
                let b = serde_json::to_vec(&ix).unwrap();
                let size = b.len();
                let (d, p) = blob(&mut entries, b);
                let first = members[0].0;
                for (n, _) in &members {
                    group_blob[*n] = Some(p.clone());
                }
                let mut desc = json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": d, "size": size});
                if let Some(t) = imgs[first].tags.first() {
                    desc["annotations"] = json!({"org.opencontainers.image.ref.name": t});
                }
                index.push(desc);
            }
            tail.push((
                "index.json",
                serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": index})).unwrap(),
            ));
            if kind == Kind::DockerOci {
                tail.push((
                    "manifest.json",
                    [serde_json::to_vec(&manifest).unwrap(), b"\n".to_vec()].concat(),
                ));
            }
            tail.push(("oci-layout", br#"{"imageLayoutVersion": "1.0.0"}"#.to_vec()));
            if !repos.is_empty() {
                tail.push((
                    "repositories",
                    [serde_json::to_vec(&repos).unwrap(), b"\n".to_vec()].concat(),
                ));
            }
        }
    }
    for n in &mut needs {
        n.sort();
        n.dedup();
    }
    Built {
        bytes: tar_of(&entries, &tail),
        ids,
        diff_ids,
        needs,
        orphans,
        group_blob,
    }
}
