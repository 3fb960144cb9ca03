//! The OCI index tree (`index.json` and the indexes and manifests below it), walked once with
//! [`Limits::max_index_depth`](crate::Limits), every blob visited once whatever the number of
//! descriptors that name it, so the walk is linear in the number of descriptors.

use std::collections::HashMap;

use crate::digest::Digest;
use crate::doc::oci::{self, Descriptor, Document, ImageManifest, Index};
use crate::doc::DocError;
use crate::model::resolve::Index as Members;

/// What a blob named by a descriptor turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NodeKind {
    /// The blob is not in the archive.
    Missing,
    /// The blob is not a valid index or manifest.
    Invalid(DocError),
    /// An index deeper than the limit (its children were not followed).
    TooDeep,
    /// An image index (or manifest list).
    Index {
        /// Its descriptors, with the node each leads to (`None`: an invalid digest).
        children: Vec<Edge>,
    },
    /// An image manifest.
    Manifest(Box<ImageManifest>),
}

/// A descriptor and the node it leads to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Edge {
    /// The descriptor as written.
    pub desc: Descriptor,
    /// The node (`None` when the digest does not parse).
    pub node: Option<usize>,
}

/// One blob of the tree.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    /// Its digest.
    pub digest: Digest,
    /// The member holding it.
    pub member: Option<usize>,
    /// What it is.
    pub kind: NodeKind,
    /// It is (or is below) a buildkit attestation manifest: not a runnable image.
    pub attestation: bool,
    /// Why the blob reads as both an index and a manifest (media type ambiguity), if it does.
    pub ambiguous: Option<String>,
}

/// The tree under `index.json`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct OciTree {
    /// `index.json`'s descriptors, in order.
    pub tops: Vec<Edge>,
    /// Every blob reached, once.
    pub nodes: Vec<Node>,
}

/// A manifest reached from `index.json`, with the names the descriptors on the way give it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Leaf {
    /// The manifest's node.
    pub node: usize,
    /// The top descriptors (indexes into [`OciTree::tops`]) it is reached from.
    pub tops: Vec<usize>,
    /// The descriptor it was first reached by (its platform, media type, annotations).
    pub desc: Descriptor,
    /// `io.containerd.image.name` of its own descriptor, and `org.opencontainers.image.ref.name`
    /// inherited from the nearest descriptor above it, for each path it is reached by.
    pub names: Vec<(Option<String>, Option<String>)>,
}

/// Whether a descriptor marks a buildkit attestation manifest.
pub(crate) fn is_attestation(d: &Descriptor) -> bool {
    d.annotation(oci::ANN_REFERENCE_TYPE) == Some("attestation-manifest")
        || d.platform
            .as_ref()
            .is_some_and(|p| p.os == "unknown" && p.architecture == "unknown")
}

impl OciTree {
    /// Walks the tree under `index`.
    pub(crate) fn walk<'d>(
        index: &Index,
        members: &Members,
        docs: &dyn Fn(usize) -> Option<&'d [u8]>,
        max_depth: u32,
    ) -> OciTree {
        let mut tree = OciTree::default();
        let mut by_digest: HashMap<Digest, usize> = HashMap::new();
        // Breadth first: (node, depth) to expand.
        let mut queue: std::collections::VecDeque<(usize, u32)> = std::collections::VecDeque::new();
        let mut edge = |tree: &mut OciTree,
                        d: &Descriptor,
                        depth: u32,
                        queue: &mut std::collections::VecDeque<(usize, u32)>|
         -> Option<usize> {
            let digest: Digest = d.digest.parse().ok()?;
            if let Some(&n) = by_digest.get(&digest) {
                if is_attestation(d) {
                    if let Some(node) = tree.nodes.get_mut(n) {
                        node.attestation = true;
                    }
                }
                return Some(n);
            }
            let path = format!("blobs/{}/{}", digest.algorithm().as_str(), digest.hex());
            let member = members.file(path.as_bytes());
            let n = tree.nodes.len();
            tree.nodes.push(Node {
                digest: digest.clone(),
                member,
                kind: NodeKind::Missing,
                attestation: is_attestation(d),
                ambiguous: None,
            });
            by_digest.insert(digest, n);
            if let Some(m) = member {
                let parsed = match docs(m) {
                    Some(bytes) => oci::parse_document(bytes, &d.media_type),
                    None => Err(DocError::NotADocument),
                };
                let mut ambiguous = None;
                let parsed = parsed.map(|(doc, why)| {
                    ambiguous = why;
                    doc
                });
                let kind = match parsed {
                    Err(e) => NodeKind::Invalid(e),
                    Ok(Document::Manifest(m)) => NodeKind::Manifest(m),
                    Ok(Document::Index(_)) if depth >= max_depth => NodeKind::TooDeep,
                    Ok(Document::Index(ix)) => {
                        queue.push_back((n, depth));
                        NodeKind::Index {
                            children: ix
                                .manifests
                                .unwrap_or_default()
                                .into_iter()
                                .map(|desc| Edge { desc, node: None })
                                .collect(),
                        }
                    }
                };
                if let Some(node) = tree.nodes.get_mut(n) {
                    node.kind = kind;
                    node.ambiguous = ambiguous;
                }
            }
            Some(n)
        };
        for d in index.manifests.iter().flatten() {
            let node = edge(&mut tree, d, 0, &mut queue);
            tree.tops.push(Edge {
                desc: d.clone(),
                node,
            });
        }
        while let Some((n, depth)) = queue.pop_front() {
            let children = match tree.nodes.get_mut(n).map(|x| &mut x.kind) {
                Some(NodeKind::Index { children }) => std::mem::take(children),
                _ => continue,
            };
            let parent_attestation = tree.nodes.get(n).is_some_and(|x| x.attestation);
            let mut linked = Vec::with_capacity(children.len());
            for mut c in children {
                c.node = edge(&mut tree, &c.desc, depth.saturating_add(1), &mut queue);
                if parent_attestation {
                    if let Some(node) = c.node.and_then(|i| tree.nodes.get_mut(i)) {
                        node.attestation = true;
                    }
                }
                linked.push(c);
            }
            if let Some(NodeKind::Index { children }) = tree.nodes.get_mut(n).map(|x| &mut x.kind) {
                *children = linked;
            }
        }
        tree
    }

    /// Every manifest reachable from `index.json`, in the order a depth-first walk first
    /// meets them, each once, with every top descriptor and name it is reached by.
    pub(crate) fn leaves(&self) -> Vec<Leaf> {
        let mut out: Vec<Leaf> = Vec::new();
        let mut at: HashMap<usize, usize> = HashMap::new();
        for (t, top) in self.tops.iter().enumerate() {
            // Depth-first, each node once per top (a DAG can reach a node twice).
            let mut seen: std::collections::HashSet<usize> = std::collections::HashSet::new();
            let mut stack: Vec<(&Descriptor, Option<usize>, Option<String>)> =
                vec![(&top.desc, top.node, None)];
            while let Some((desc, node, inherited)) = stack.pop() {
                let Some(n) = node else { continue };
                let ref_name = desc
                    .annotation(oci::ANN_REF_NAME)
                    .map(str::to_string)
                    .or(inherited);
                let image_name = desc.annotation(oci::ANN_IMAGE_NAME).map(str::to_string);
                match self.nodes.get(n).map(|x| &x.kind) {
                    Some(NodeKind::Index { children }) => {
                        if !seen.insert(n) {
                            continue;
                        }
                        for c in children.iter().rev() {
                            stack.push((&c.desc, c.node, ref_name.clone()));
                        }
                    }
                    Some(_) => {
                        let names = (image_name, ref_name);
                        match at.get(&n) {
                            Some(&k) => {
                                if let Some(l) = out.get_mut(k) {
                                    if !l.tops.contains(&t) {
                                        l.tops.push(t);
                                    }
                                    if !l.names.contains(&names) {
                                        l.names.push(names);
                                    }
                                }
                            }
                            None => {
                                at.insert(n, out.len());
                                out.push(Leaf {
                                    node: n,
                                    tops: vec![t],
                                    desc: desc.clone(),
                                    names: vec![names],
                                });
                            }
                        }
                    }
                    None => {}
                }
            }
        }
        out
    }

    /// The manifests under top descriptor `top` (nested indexes flattened, depth first): each
    /// with the descriptor that names it and its node (`None` for a descriptor whose digest
    /// does not parse). A missing blob is a manifest unless its descriptor says index.
    pub(crate) fn manifests_under(&self, top: usize) -> Vec<(&Descriptor, Option<usize>)> {
        let mut out = Vec::new();
        let Some(t) = self.tops.get(top) else {
            return out;
        };
        let mut seen = std::collections::HashSet::new();
        let mut stack: Vec<&Edge> = vec![t];
        while let Some(e) = stack.pop() {
            match e.node.and_then(|n| self.nodes.get(n).map(|x| (n, x))) {
                Some((n, node)) => match &node.kind {
                    NodeKind::Index { children } => {
                        if seen.insert(n) {
                            stack.extend(children.iter().rev());
                        }
                    }
                    NodeKind::Manifest(_) => out.push((&e.desc, Some(n))),
                    NodeKind::TooDeep => {}
                    NodeKind::Missing | NodeKind::Invalid(_) => {
                        if !e.desc.is_index() {
                            out.push((&e.desc, Some(n)));
                        }
                    }
                },
                None => {
                    if !e.desc.is_index() {
                        out.push((&e.desc, None));
                    }
                }
            }
        }
        out
    }

    /// The manifest document of a node.
    pub(crate) fn manifest(&self, node: usize) -> Option<&ImageManifest> {
        match &self.nodes.get(node)?.kind {
            NodeKind::Manifest(m) => Some(m),
            _ => None,
        }
    }

    /// The references a top descriptor names (`io.containerd.image.name`, else a `ref.name`
    /// that is a whole reference), normalized.
    pub(crate) fn top_names(desc: &Descriptor) -> Vec<crate::reference::Reference> {
        use crate::reference::Reference;
        let full = desc.annotation(oci::ANN_IMAGE_NAME).or_else(|| {
            desc.annotation(oci::ANN_REF_NAME)
                .filter(|r| r.contains(':') || r.contains('/'))
        });
        full.and_then(|n| Reference::parse_normalized(n).ok())
            .map(Reference::with_default_tag)
            .into_iter()
            .collect()
    }
}
