//! Wasted space, as dive reports it, and the bytes the final filesystem no longer shows.
//!
//! dive's model (`filetree/efficiency.go`, `image/docker/image_archive.go`), reproduced so the
//! numbers match dive's own:
//!
//! - Each layer is a tree of its entries' paths (`./` dropped, intermediate directories created
//!   without metadata, an entry replacing the metadata of a node met before). A component
//!   starting with `.wh..wh..` ends the entry (opaque markers are not in the tree, and dive
//!   ignores what they hide); `.wh.<name>` is a node named so, standing for `<name>`.
//! - For every leaf of every layer (children before parents, names sorted by bytes): a file
//!   counts its size; a whiteout counts the size of everything under the deleted path in the
//!   layers below if that path was a directory entry there, else 0. A whiteout of a path absent
//!   below ends dive's count for the rest of that layer; this is reproduced and noted in
//!   [`Waste::aborted_layers`].
//! - A path met two or more times is inefficient; its *wasted* bytes are the sum over all its
//!   occurrences, the kept one included. The efficiency score is Σ(smallest occurrence) /
//!   Σ(all occurrences) over every path (1.0 when nothing has a size).
//!
//! [`Waste::hidden_bytes`] is imgtar's own, plainer measure: the bytes of regular-file entries
//! of any layer whose content is not in the final filesystem (deleted or overwritten later, or
//! written twice in one layer).

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

use crate::layer::flatten::{ContentRef, FlatFs};
use crate::path::EntryPath;
use crate::scan::entry::{EntryKind, LayerRecords, Record};

/// One path dive counts as inefficient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct WastedFile {
    /// The path.
    pub path: EntryPath,
    /// How many times it occurs across the layers (whiteouts included).
    pub count: usize,
    /// Sum of its sizes over all occurrences.
    pub bytes: u64,
}

/// The wasted-space report of an image.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Waste {
    /// dive's efficiency score, 0 to 1.
    pub efficiency: f64,
    /// dive's wasted bytes: Σ [`WastedFile::bytes`].
    pub wasted_bytes: u64,
    /// Σ of every entry's size in every layer (dive's image size).
    pub size_bytes: u64,
    /// The same without the first layer (dive's "user" size).
    pub user_size_bytes: u64,
    /// `wasted_bytes / user_size_bytes` (0 when there is no user layer).
    pub wasted_user_ratio: f64,
    /// dive's inefficient paths, largest first (ties by path).
    pub files: Vec<WastedFile>,
    /// Layers where a whiteout of an absent path ended dive's count early.
    pub aborted_layers: Vec<usize>,
    /// Bytes of regular-file entries whose content the final filesystem does not show.
    pub hidden_bytes: u64,
}

/// A node of a dive layer tree.
#[derive(Debug, Clone, Default)]
struct DNode {
    name: Vec<u8>,
    size: u64,
    is_dir: bool,
    parent: usize,
    children: BTreeMap<Vec<u8>, usize>,
}

/// dive's `FileTree`: an arena, node 0 the root.
#[derive(Debug, Clone)]
struct DTree {
    nodes: Vec<DNode>,
}

const WHITEOUT: &[u8] = b".wh.";
const DOUBLE_WHITEOUT: &[u8] = b".wh..wh..";

impl DTree {
    fn new() -> Self {
        DTree {
            nodes: vec![DNode::default()],
        }
    }

    fn child(&self, node: usize, name: &[u8]) -> Option<usize> {
        self.nodes.get(node)?.children.get(name).copied()
    }

    fn get(&self, comps: &[&[u8]]) -> Option<usize> {
        comps.iter().try_fold(0, |n, c| self.child(n, c))
    }

    /// dive's `AddPath`: walks/creates the components, sets the last one's payload.
    fn add(&mut self, comps: &[&[u8]], size: u64, is_dir: bool) {
        let mut node = 0usize;
        for comp in comps {
            node = match self.child(node, comp) {
                Some(c) => c,
                None => {
                    if comp.starts_with(DOUBLE_WHITEOUT) {
                        return;
                    }
                    let id = self.nodes.len();
                    self.nodes.push(DNode {
                        name: comp.to_vec(),
                        parent: node,
                        ..DNode::default()
                    });
                    if let Some(p) = self.nodes.get_mut(node) {
                        p.children.insert(comp.to_vec(), id);
                    }
                    id
                }
            };
        }
        if let Some(n) = self.nodes.get_mut(node).filter(|_| node != 0) {
            n.size = size;
            n.is_dir = is_dir;
        }
    }

    fn remove(&mut self, comps: &[&[u8]]) {
        let Some(node) = self.get(comps).filter(|&n| n != 0) else {
            return;
        };
        let parent = self.nodes.get(node).map_or(0, |n| n.parent);
        let name = self.nodes.get(node).map(|n| n.name.clone());
        if let (Some(p), Some(name)) = (self.nodes.get_mut(parent), name) {
            p.children.remove(&name);
        }
    }

    /// Nodes below `node` (itself included), children before parents, names sorted.
    fn post_order(&self, node: usize, out: &mut Vec<usize>) {
        let mut stack: Vec<(usize, bool)> = vec![(node, false)];
        while let Some((n, expanded)) = stack.pop() {
            if expanded {
                out.push(n);
                continue;
            }
            stack.push((n, true));
            if let Some(d) = self.nodes.get(n) {
                for &c in d.children.values().rev() {
                    stack.push((c, false));
                }
            }
        }
    }

    /// Component names from the root to `node`.
    fn comps(&self, mut node: usize) -> Vec<&[u8]> {
        let mut out = Vec::new();
        while node != 0 {
            let Some(n) = self.nodes.get(node) else { break };
            out.push(n.name.as_slice());
            node = n.parent;
        }
        out.reverse();
        out
    }

    /// dive's `Path()` of a node: the whiteout prefix dropped from its own name.
    fn path_of(&self, node: usize) -> Vec<Vec<u8>> {
        let mut comps: Vec<Vec<u8>> = self.comps(node).into_iter().map(<[u8]>::to_vec).collect();
        if let Some(last) = comps.last_mut() {
            if let Some(rest) = last.strip_prefix(WHITEOUT) {
                *last = rest.to_vec();
            }
        }
        comps
    }

    fn is_whiteout(&self, node: usize) -> bool {
        self.nodes
            .get(node)
            .is_some_and(|n| n.name.starts_with(WHITEOUT))
    }

    /// dive's `Stack`: every node of `upper` (children first) is removed (whiteouts) or added
    /// with its payload.
    fn stack(&mut self, upper: &DTree) {
        let mut order = Vec::new();
        upper.post_order(0, &mut order);
        for n in order.into_iter().filter(|&n| n != 0) {
            let path = upper.path_of(n);
            let comps: Vec<&[u8]> = path.iter().map(Vec::as_slice).collect();
            if upper.is_whiteout(n) {
                self.remove(&comps);
            } else if let Some(d) = upper.nodes.get(n) {
                self.add(&comps, d.size, d.is_dir);
            }
        }
    }
}

/// The entries of a layer as dive lists them: (path components, size, is_dir).
fn dive_entries(layer: &LayerRecords) -> Vec<(Vec<Vec<u8>>, u64, bool)> {
    let split = |p: &[u8]| -> Vec<Vec<u8>> {
        p.split(|&b| b == b'/')
            .filter(|c| !c.is_empty())
            .map(<[u8]>::to_vec)
            .collect()
    };
    let named = |dir: &EntryPath, name: &[u8]| split(dir.join(name).as_bytes());
    layer
        .records
        .iter()
        .map(|r| match r {
            Record::Entry(e) | Record::Aufs(e) => {
                (split(e.path.as_bytes()), e.size, e.kind.is_dir())
            }
            Record::Whiteout { target, .. } => {
                let dir = target.parent().unwrap_or_default();
                let name = [WHITEOUT, target.file_name()].concat();
                (named(&dir, &name), 0, false)
            }
            Record::Opaque { dir, .. } => (named(dir, b".wh..wh..opq"), 0, false),
            Record::InvalidWhiteout { dir, name, .. } => {
                (named(dir, &[WHITEOUT, name].concat()), 0, false)
            }
        })
        .filter(|(comps, _, _)| !comps.is_empty())
        .collect()
}

#[derive(Default)]
struct PathData {
    cumulative: u64,
    min: Option<u64>,
    count: usize,
}

/// Computes the report from an image's layers (bottom first) and its flattened filesystem.
pub fn waste(layers: &[&LayerRecords], fs: &FlatFs) -> Waste {
    let mut trees: Vec<DTree> = Vec::with_capacity(layers.len());
    let mut sizes: Vec<u64> = Vec::with_capacity(layers.len());
    for layer in layers {
        let mut tree = DTree::new();
        let mut total = 0u64;
        for (comps, size, is_dir) in dive_entries(layer) {
            total = total.saturating_add(size);
            let c: Vec<&[u8]> = comps.iter().map(Vec::as_slice).collect();
            tree.add(&c, size, is_dir);
        }
        trees.push(tree);
        sizes.push(total);
    }
    let mut data: HashMap<Vec<Vec<u8>>, PathData> = HashMap::new();
    let mut inefficient: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut aborted = Vec::new();
    let mut stacked = trees.first().cloned().unwrap_or_else(DTree::new);
    for (k, tree) in trees.iter().enumerate() {
        if let Some(prev) = k.checked_sub(1).and_then(|p| trees.get(p)) {
            stacked.stack(prev);
        }
        let mut order = Vec::new();
        tree.post_order(0, &mut order);
        for n in order.into_iter().filter(|&n| n != 0) {
            let Some(node) = tree.nodes.get(n).filter(|d| d.children.is_empty()) else {
                continue;
            };
            let path = tree.path_of(n);
            let size = if tree.is_whiteout(n) {
                let comps: Vec<&[u8]> = path.iter().map(Vec::as_slice).collect();
                let Some(prev) = stacked.get(&comps) else {
                    aborted.push(k);
                    break;
                };
                if stacked.nodes.get(prev).is_some_and(|d| d.is_dir) {
                    let mut below = Vec::new();
                    stacked.post_order(prev, &mut below);
                    below
                        .iter()
                        .filter_map(|&b| stacked.nodes.get(b))
                        .fold(0u64, |acc, d| acc.saturating_add(d.size))
                } else {
                    0
                }
            } else {
                node.size
            };
            let d = data.entry(path.clone()).or_default();
            d.cumulative = d.cumulative.saturating_add(size);
            d.min = Some(d.min.map_or(size, |m| m.min(size)));
            d.count = d.count.saturating_add(1);
            if d.count == 2 {
                inefficient.push(path);
            }
        }
    }
    let (min_sum, all_sum) = data.values().fold((0u64, 0u64), |(a, b), d| {
        (
            a.saturating_add(d.min.unwrap_or(0)),
            b.saturating_add(d.cumulative),
        )
    });
    let efficiency = if all_sum == 0 {
        1.0
    } else {
        min_sum as f64 / all_sum as f64
    };
    let mut files: Vec<WastedFile> = inefficient
        .into_iter()
        .filter_map(|p| {
            let d = data.get(&p)?;
            Some(WastedFile {
                path: EntryPath::from_bytes(p.join(&b'/')),
                count: d.count,
                bytes: d.cumulative,
            })
        })
        .collect();
    files.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.path.cmp(&b.path)));
    let wasted_bytes = files.iter().fold(0u64, |a, f| a.saturating_add(f.bytes));
    let size_bytes = sizes.iter().fold(0u64, |a, &s| a.saturating_add(s));
    let user_size_bytes = sizes.iter().skip(1).fold(0u64, |a, &s| a.saturating_add(s));
    Waste {
        efficiency,
        wasted_bytes,
        size_bytes,
        user_size_bytes,
        wasted_user_ratio: if user_size_bytes == 0 {
            0.0
        } else {
            wasted_bytes as f64 / user_size_bytes as f64
        },
        files,
        aborted_layers: aborted,
        hidden_bytes: hidden_bytes(layers, fs),
    }
}

/// Bytes of regular-file entries whose content no final path shows.
fn hidden_bytes(layers: &[&LayerRecords], fs: &FlatFs) -> u64 {
    let shown: HashSet<ContentRef> = fs.iter().filter_map(|(_, n)| n.content).collect();
    let mut total = 0u64;
    for (layer, records) in layers.iter().enumerate() {
        for r in &records.records {
            if let Record::Entry(e) = r {
                let here = ContentRef {
                    layer,
                    offset: e.offset,
                };
                if e.kind == EntryKind::File && !shown.contains(&here) {
                    total = total.saturating_add(e.size);
                }
            }
        }
    }
    total
}

/// The report for an image of an archive read with recorded entries (the hidden bytes are
/// judged with the OCI rules).
pub fn waste_image(
    archive: &crate::model::Archive,
    image: &crate::model::Image,
) -> Result<Waste, crate::layer::FlattenError> {
    let records = image
        .layers
        .iter()
        .enumerate()
        .map(|(n, l)| crate::layer::image::layer_records(archive, n, l))
        .collect::<Result<Vec<_>, _>>()?;
    let mut flattener = crate::layer::Flattener::new(crate::layer::FlattenOptions::default());
    for r in &records {
        flattener.apply(r);
    }
    let refs: Vec<&LayerRecords> = records.iter().map(|r| r.as_ref()).collect();
    Ok(waste(&refs, &flattener.finish()))
}
