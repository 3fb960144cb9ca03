//! Property: for random layer stacks (files, directories, symlinks, hardlinks, whiteouts and
//! opaque markers over a small set of names, so that they collide), the flattened view and
//! every layer's added/changed/deleted paths equal what a naive model filesystem gives when
//! the layers are applied with the OCI rules.
//!
//! Symlinks are always named `s` and no other operation names `s`, so nothing is written,
//! deleted or linked through or to a symlink and the model needs no symlink resolution
//! (the `layers` module covers directories reached through symlinks).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;

use imgtar::layer::{self, ChangeKind, EntryKind, FlattenOptions, Flattener};
use imgtar::Limits;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    File(String, u32),
    Dir(String, u32),
    Symlink(String),
    Hardlink(String, String),
    Whiteout(String),
    Opaque(String),
}

fn path() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(vec!["a", "b", "c"]), 1..=3)
        .prop_map(|v| v.join("/"))
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (path(), prop::sample::select(vec![0o644u32, 0o600, 0o755, 0o4755])).prop_map(|(p, m)| Op::File(p, m)),
        3 => (path(), prop::sample::select(vec![0o755u32, 0o700])).prop_map(|(p, m)| Op::Dir(p, m)),
        1 => prop::collection::vec(prop::sample::select(vec!["a", "b", "c"]), 0..=2)
            .prop_map(|mut v| { v.push("s"); Op::Symlink(v.join("/")) }),
        1 => (path(), path()).prop_map(|(p, t)| Op::Hardlink(p, t)),
        2 => path().prop_map(Op::Whiteout),
        1 => prop_oneof![Just(String::new()), path()].prop_map(Op::Opaque),
    ]
}

/// A value of the model: type, mode and content id (files) or target (symlinks).
#[derive(Debug, Clone, PartialEq, Eq)]
enum M {
    File {
        mode: u32,
        content: String,
        ino: u64,
    },
    Dir {
        mode: u32,
    },
    Symlink {
        target: String,
    },
}

impl M {
    /// What a change is judged on (the inode is not part of it).
    fn value(&self) -> String {
        match self {
            M::File { mode, content, .. } => format!("f {mode:o} {content}"),
            M::Dir { mode } => format!("d {mode:o}"),
            M::Symlink { target } => format!("l {target}"),
        }
    }
}

#[derive(Default, Clone)]
struct Model {
    fs: BTreeMap<String, M>,
    next_ino: u64,
}

fn ancestors(p: &str) -> Vec<String> {
    let parts: Vec<&str> = p.split('/').collect();
    (1..parts.len()).map(|i| parts[..i].join("/")).collect()
}

fn below(p: &str, q: &str) -> bool {
    p.is_empty() || q == p || q.starts_with(&format!("{p}/"))
}

impl Model {
    fn remove_tree(&mut self, p: &str) {
        self.fs
            .retain(|q, _| !below(p, q) || p.is_empty() && q.is_empty());
    }

    /// Every existing ancestor is a directory.
    fn reachable(&self, p: &str) -> bool {
        ancestors(p)
            .iter()
            .all(|a| matches!(self.fs.get(a), None | Some(M::Dir { .. })))
    }

    /// OCI: whiteouts and opaque markers first, against the lower layers; then the entries.
    fn apply(&mut self, layer: &[(Op, String)]) {
        for (op, _) in layer {
            match op {
                Op::Whiteout(p) if self.reachable(p) => self.remove_tree(p),
                Op::Opaque(d) if d.is_empty() => self.fs.clear(),
                Op::Opaque(d) if matches!(self.fs.get(d), Some(M::Dir { .. })) => {
                    let d = d.clone();
                    self.fs.retain(|q, _| q == &d || !below(&d, q));
                }
                _ => {}
            }
        }
        for (op, content) in layer {
            let (p, new) = match op {
                Op::File(p, mode) => {
                    self.next_ino += 1;
                    let m = M::File {
                        mode: *mode,
                        content: content.clone(),
                        ino: self.next_ino,
                    };
                    (p, Some(m))
                }
                Op::Dir(p, mode) => (p, Some(M::Dir { mode: *mode })),
                Op::Symlink(p) => (p, Some(M::Symlink { target: "t".into() })),
                Op::Hardlink(p, _) => (p, None),
                Op::Whiteout(_) | Op::Opaque(_) => continue,
            };
            if !self.reachable(p) {
                continue;
            }
            for a in ancestors(p) {
                self.fs.entry(a).or_insert(M::Dir { mode: 0o755 });
            }
            let dir_over_dir = matches!(
                (self.fs.get(p), &new),
                (Some(M::Dir { .. }), Some(M::Dir { .. }))
            );
            if !dir_over_dir {
                self.remove_tree(p);
            }
            let new = match (op, new) {
                (Op::Hardlink(_, t), _) => match self.fs.get(t).filter(|_| self.reachable(t)) {
                    Some(m) if !matches!(m, M::Dir { .. }) => m.clone(),
                    _ => continue,
                },
                (_, Some(m)) => m,
                (_, None) => continue,
            };
            self.fs.insert(p.clone(), new);
        }
    }
}

/// The layer tar, and the content of every file entry by header offset.
fn build(layer: &[(Op, String)]) -> (Vec<u8>, HashMap<u64, String>) {
    let mut t = tar::Builder::new(Vec::new());
    for (op, content) in layer {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(0);
        h.set_size(0);
        match op {
            Op::File(p, mode) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*mode);
                h.set_size(content.len() as u64);
                t.append_data(&mut h, p, content.as_bytes()).unwrap();
            }
            Op::Dir(p, mode) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(*mode);
                t.append_data(&mut h, p, &[][..]).unwrap();
            }
            Op::Symlink(p) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                t.append_link(&mut h, p, "t").unwrap();
            }
            Op::Hardlink(p, target) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_mode(0o644);
                t.append_link(&mut h, p, target).unwrap();
            }
            Op::Whiteout(p) => {
                let (dir, name) = p.rsplit_once('/').map_or(("", p.as_str()), |(d, n)| (d, n));
                let wh = if dir.is_empty() {
                    format!(".wh.{name}")
                } else {
                    format!("{dir}/.wh.{name}")
                };
                h.set_mode(0o644);
                t.append_data(&mut h, wh, &[][..]).unwrap();
            }
            Op::Opaque(d) => {
                let marker = if d.is_empty() {
                    ".wh..wh..opq".to_string()
                } else {
                    format!("{d}/.wh..wh..opq")
                };
                h.set_mode(0o644);
                t.append_data(&mut h, marker, &[][..]).unwrap();
            }
        }
    }
    let bytes = t.into_inner().unwrap();
    let mut contents = HashMap::new();
    let mut a = tar::Archive::new(&bytes[..]);
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let mut s = String::new();
        e.read_to_string(&mut s).unwrap();
        contents.insert(e.raw_header_position(), s);
    }
    (bytes, contents)
}

/// Model-side value of a real node, and its hardlink group key.
fn real_value(node: &layer::Node, contents: &[HashMap<u64, String>]) -> String {
    match &node.meta.kind {
        EntryKind::File => {
            let c = node.content.unwrap();
            format!("f {:o} {}", node.meta.mode, contents[c.layer][&c.offset])
        }
        EntryKind::Dir => format!("d {:o}", node.meta.mode),
        EntryKind::Symlink { target } => format!("l {}", String::from_utf8_lossy(target)),
        other => panic!("unexpected {other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn flattening_equals_the_model(stack in prop::collection::vec(prop::collection::vec(op(), 0..8), 1..5)) {
        let mut model = Model::default();
        let mut flattener = Flattener::new(FlattenOptions::default());
        let mut contents = Vec::new();
        for (l, ops) in stack.iter().enumerate() {
            let layer: Vec<(Op, String)> = ops
                .iter()
                .enumerate()
                .map(|(i, op)| (op.clone(), format!("L{l}E{i}")))
                .collect();
            let before = model.fs.clone();
            model.apply(&layer);
            let (bytes, c) = build(&layer);
            contents.push(c);
            let scan = layer::scan_layer(&bytes[..], &Limits::default(), true).unwrap();
            let set = flattener.apply(scan.records().unwrap());

            // This layer's changes, against the model's before and after.
            let after = &model.fs;
            let mut want: BTreeSet<(String, ChangeKind)> = BTreeSet::new();
            for (p, m) in after {
                match before.get(p) {
                    None => { want.insert((p.clone(), ChangeKind::Added)); }
                    Some(b) if b.value() != m.value() => { want.insert((p.clone(), ChangeKind::Modified)); }
                    _ => {}
                }
            }
            for p in before.keys() {
                let parent_kept = ancestors(p).last().is_none_or(|a| after.contains_key(a));
                if !after.contains_key(p) && parent_kept {
                    want.insert((p.clone(), ChangeKind::Deleted));
                }
            }
            let got: BTreeSet<(String, ChangeKind)> = set
                .changes
                .iter()
                .map(|c| (c.path.to_string_lossy().into_owned(), c.kind))
                .collect();
            prop_assert_eq!(got, want, "layer {}: {:?}", l, layer);
        }
        let fs = flattener.finish();
        let got: BTreeMap<String, String> = fs
            .iter()
            .map(|(p, n)| (p.to_string_lossy().into_owned(), real_value(n, &contents)))
            .collect();
        let want: BTreeMap<String, String> =
            model.fs.iter().map(|(p, m)| (p.clone(), m.value())).collect();
        prop_assert_eq!(&got, &want);

        // Hardlink groups: same model inode ⇔ same real inode.
        let mut model_groups: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
        for (p, m) in &model.fs {
            if let M::File { ino, .. } = m {
                model_groups.entry(*ino).or_default().insert(p.clone());
            }
        }
        let mut real_groups: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
        for (p, n) in fs.iter() {
            if let Some(ino) = n.inode {
                real_groups.entry(ino).or_default().insert(p.to_string_lossy().into_owned());
            }
        }
        let m: BTreeSet<BTreeSet<String>> = model_groups.into_values().collect();
        let r: BTreeSet<BTreeSet<String>> = real_groups.into_values().collect();
        prop_assert_eq!(r, m);
    }
}
