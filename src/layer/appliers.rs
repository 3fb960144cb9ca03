//! How the loaders' layer appliers meet an image's links: each layer's recorded entries are
//! applied in stream order the way moby's chrooted applier and containerd's applier resolve
//! paths, and the first entry each one fails on is kept, for the loader verdicts
//! ([`check_links`](crate::layer::check_links) hands them over).
//!
//! moby v20.10.24 (`pkg/chrootarchive/diff_unix.go` `applyLayer`: `chroot` into the layer
//! directory, then `pkg/archive/diff.go` `UnpackLayer("/")`), which podman 4.3's
//! containers/storage shares (`pkg/chrootarchive`, `pkg/archive/diff.go`): paths are resolved
//! by the kernel inside the chroot, so an absolute symlink target or a `..` above the root lands
//! inside the root. For each entry, `Lstat(parent)`; when that is missing, `MkdirAll(parent)`
//! (which fails on a dangling symlink: `mkdir: file exists`); an existing path is removed unless
//! both are directories; then the entry is created with `open`/`mkdir`/`symlink`/`link`
//! through its parent. So it fails where that parent goes through a symlink whose target does
//! not exist (`open /pwn/escaped.txt: no such file or directory`), through more than 40
//! symlinks (the kernel's `MAXSYMLINKS`: `too many levels of symbolic links`), through a
//! file (`not a directory`), on a hardlink whose target does not resolve, and on a root entry
//! that is not a directory (`os.RemoveAll("/")`: `unlinkat .//: device or resource busy`).
//! All of these are observed with Docker 20.10 and podman 4.3 (`tests/all/loaders_links.rs`).
//!
//! containerd v1.6.20 (`archive/tar.go` `applyNaive`, `fs.RootPath` of
//! `github.com/containerd/continuity` `fs/path.go`): paths are resolved lexically inside the
//! root, a missing path being taken as a plain name, so a dangling symlink ancestor does not
//! fail (the parents are created, `mkparent`); a root entry is skipped (`resolved to root`).
//! It fails once more than 255 symlinks are walked (`walkLink`: `too many links`).

use std::collections::{BTreeMap, HashSet};

use crate::layer::image::layer_records;
use crate::model::{Archive, Image};
use crate::rules::loaders::LayerApplied;
use crate::scan::entry::{EntryKind, Record};

/// Symlinks the Linux kernel follows in one path lookup (`MAXSYMLINKS`,
/// `include/linux/namei.h`), which bounds moby's chrooted applier.
const KERNEL_MAX_LINKS: u32 = 40;
/// Symlinks containerd's `fs.RootPath` walks before `too many links` (continuity
/// `fs/path.go` `walkLink`: `*linksWalked > 255`).
const CONTAINERD_MAX_LINKS: u32 = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Dir,
    File,
    Symlink(Vec<u8>),
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fail {
    NotFound,
    Loop,
    NotDir,
}

impl Fail {
    fn moby_words(self) -> &'static str {
        match self {
            Fail::NotFound => "no such file or directory",
            Fail::Loop => "too many levels of symbolic links",
            Fail::NotDir => "not a directory",
        }
    }
}

/// A path as its components.
type Path = Vec<Vec<u8>>;

fn key(p: &[Vec<u8>]) -> Vec<u8> {
    p.join(&b'/')
}

fn split(raw: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    raw.split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .map(<[u8]>::to_vec)
}

/// The filesystem as an applier sees it, the root being an implicit directory. Ordered, so
/// that what lies below a path is one range (`a/` sorts right after everything `a/`-less that
/// shares its bytes).
#[derive(Default)]
struct Fs {
    nodes: BTreeMap<Vec<u8>, Node>,
}

impl Fs {
    fn get(&self, p: &[Vec<u8>]) -> Option<&Node> {
        if p.is_empty() {
            return Some(&Node::Dir);
        }
        self.nodes.get(&key(p))
    }

    /// Resolves `path` inside the root as a chrooted kernel lookup does (absolute targets
    /// from the root, `..` clamped at it), following the last component only with
    /// `follow_last`. `Ok((resolved, exists))`: a missing last component is not an error.
    /// With `lexical`, a missing intermediate component is taken as a plain name (containerd's
    /// `RootPath`) instead of failing.
    fn resolve(
        &self,
        path: &[u8],
        follow_last: bool,
        max_links: u32,
        lexical: bool,
    ) -> Result<(Path, bool), Fail> {
        // Every node's ancestors are directories (nodes are kept at resolved paths), so a clean
        // path whose parent is a directory node resolves to itself.
        let clean = !path
            .split(|&b| b == b'/')
            .any(|c| c.is_empty() || c == b"." || c == b"..");
        if clean {
            let parent_dir = match path.iter().rposition(|&b| b == b'/') {
                Some(i) => self.nodes.get(path.get(..i).unwrap_or_default()) == Some(&Node::Dir),
                None => true,
            };
            match self.nodes.get(path) {
                Some(Node::Symlink(_)) if follow_last => {}
                Some(_) => return Ok((split(path).collect(), true)),
                None if parent_dir => return Ok((split(path).collect(), false)),
                None => {}
            }
        }
        let mut todo: Vec<Vec<u8>> = split(path).collect();
        todo.reverse();
        let mut cur: Path = Vec::new();
        let mut links = 0u32;
        while let Some(c) = todo.pop() {
            match c.as_slice() {
                b"." => continue,
                b".." => {
                    cur.pop();
                    continue;
                }
                _ => {}
            }
            let last = todo.is_empty();
            cur.push(c);
            match self.get(&cur) {
                None if last => return Ok((cur, false)),
                None if lexical => {}
                None => return Err(Fail::NotFound),
                Some(Node::Dir) => {}
                Some(Node::Symlink(t)) if !last || follow_last => {
                    links = links.saturating_add(1);
                    if links > max_links {
                        return Err(Fail::Loop);
                    }
                    let t = t.clone();
                    cur.pop();
                    if t.first() == Some(&b'/') {
                        cur.clear();
                    }
                    let mut more: Vec<Vec<u8>> = split(&t).collect();
                    more.reverse();
                    todo.extend(more);
                    if todo.is_empty() {
                        // A symlink to the root (or `.`): the root itself.
                        return Ok((cur, true));
                    }
                }
                Some(_) if last => {}
                Some(_) => return Err(Fail::NotDir),
            }
        }
        let exists = self.get(&cur).is_some();
        Ok((cur, exists))
    }

    /// The paths below `dir` (the root: every path).
    fn below(&self, dir: &[u8]) -> Vec<Vec<u8>> {
        let mut prefix = dir.to_vec();
        if !prefix.is_empty() {
            prefix.push(b'/');
        }
        self.nodes
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Removes `p` and everything below it.
    fn remove_all(&mut self, p: &[Vec<u8>]) {
        let k = key(p);
        if k.is_empty() {
            return;
        }
        if self.nodes.remove(&k) != Some(Node::Dir) {
            return;
        }
        for below in self.below(&k) {
            self.nodes.remove(&below);
        }
    }

    /// moby's `system.MkdirAll` (Go's `os.MkdirAll`) of `dir` through the chroot: creates
    /// what is missing; a dangling symlink on the way fails (`mkdir: file exists`).
    fn mkdir_all(&mut self, dir: &[u8]) -> Result<(), Fail> {
        let mut comps: Vec<Vec<u8>> = Vec::new();
        for c in split(dir) {
            comps.push(c);
            let joined = key(&comps);
            match self.resolve(&joined, true, KERNEL_MAX_LINKS, false)? {
                (_, true) => {}
                (resolved, false) => {
                    // A dangling symlink exists under its own name: `mkdir` says it exists,
                    // and it is no directory.
                    if matches!(self.get(&comps), Some(Node::Symlink(_))) {
                        return Err(Fail::NotFound);
                    }
                    self.nodes.insert(key(&resolved), Node::Dir);
                }
            }
            match self.resolve(&joined, true, KERNEL_MAX_LINKS, false)? {
                (r, true) if self.get(&r) == Some(&Node::Dir) => {}
                _ => return Err(Fail::NotDir),
            }
        }
        Ok(())
    }
}

fn node_of(kind: &EntryKind) -> Node {
    match kind {
        EntryKind::Dir => Node::Dir,
        EntryKind::File => Node::File,
        EntryKind::Symlink { target } => Node::Symlink(target.clone()),
        _ => Node::Other,
    }
}

/// The moby applier (chrooted) on one record; `Err` with its words where it fails.
fn moby_record(fs: &mut Fs, written: &mut HashSet<Vec<u8>>, r: &Record) -> Result<(), Fail> {
    let (parent, name, what): (Vec<u8>, Vec<u8>, Option<&EntryKind>) = match r {
        Record::Entry(e) => {
            if e.path.is_root() {
                // `os.RemoveAll("/")` of a root entry that is not a directory fails.
                return if e.kind.is_dir() {
                    Ok(())
                } else {
                    Err(Fail::NotDir)
                };
            }
            let parent = e.path.parent().unwrap_or_default();
            (
                parent.as_bytes().to_vec(),
                e.path.file_name().to_vec(),
                Some(&e.kind),
            )
        }
        Record::Whiteout { target, .. } => (
            target.parent().unwrap_or_default().as_bytes().to_vec(),
            target.file_name().to_vec(),
            None,
        ),
        Record::Opaque { dir, .. } => (dir.as_bytes().to_vec(), Vec::new(), None),
        Record::InvalidWhiteout { .. } | Record::Aufs(_) => return Ok(()),
    };
    // `Lstat(parent)`; `MkdirAll(parent)` when it is missing.
    match fs.resolve(&parent, false, KERNEL_MAX_LINKS, false) {
        Ok((_, true)) => {}
        Ok((_, false)) | Err(Fail::NotFound) => fs.mkdir_all(&parent)?,
        Err(_) => {}
    }
    let mut full = parent.clone();
    if !full.is_empty() {
        full.push(b'/');
    }
    full.extend_from_slice(&name);
    match (r, what) {
        (Record::Whiteout { .. }, _) => {
            // `os.RemoveAll(dir/name)`: nothing there is no error; an unresolvable dir is.
            match fs.resolve(&full, false, KERNEL_MAX_LINKS, false) {
                Ok((p, true)) => fs.remove_all(&p),
                Ok((_, false)) | Err(Fail::NotFound) => {}
                Err(e) => return Err(e),
            }
            Ok(())
        }
        (Record::Opaque { .. }, _) => {
            // `os.Lstat(dir)`, then `filepath.Walk(dir)` (which does not enter a symlink).
            let (p, exists) = fs.resolve(&parent, false, KERNEL_MAX_LINKS, false)?;
            if !exists {
                return Err(Fail::NotFound);
            }
            if fs.get(&p) == Some(&Node::Dir) {
                // What this layer did not write goes, with everything below it (moby's
                // `os.RemoveAll` of each path not unpacked).
                for below in fs.below(&key(&p)) {
                    if !written.contains(&below) && fs.nodes.contains_key(&below) {
                        let comps: Path = split(&below).collect();
                        fs.remove_all(&comps);
                    }
                }
            }
            Ok(())
        }
        (_, Some(kind)) => {
            // An existing path is removed unless both are directories.
            if let Ok((p, true)) = fs.resolve(&full, false, KERNEL_MAX_LINKS, false) {
                if !(fs.get(&p) == Some(&Node::Dir) && kind.is_dir()) {
                    fs.remove_all(&p);
                }
            }
            // Created through the parent, which must resolve to a directory.
            let (mut p, exists) = fs.resolve(&parent, true, KERNEL_MAX_LINKS, false)?;
            if !exists {
                return Err(Fail::NotFound);
            }
            if fs.get(&p) != Some(&Node::Dir) {
                return Err(Fail::NotDir);
            }
            p.push(name);
            let node = match kind {
                EntryKind::Hardlink { target } => {
                    // `link(2)` does not follow the target's last component.
                    let (t, exists) =
                        fs.resolve(target.as_bytes(), false, KERNEL_MAX_LINKS, false)?;
                    match fs.get(&t) {
                        Some(Node::Dir) | None => return Err(Fail::NotFound),
                        Some(n) if exists => n.clone(),
                        Some(_) => return Err(Fail::NotFound),
                    }
                }
                k => node_of(k),
            };
            if !(node == Node::Dir && fs.get(&p) == Some(&Node::Dir)) {
                fs.nodes.insert(key(&p), node);
            }
            written.insert(key(&p));
            Ok(())
        }
        _ => Ok(()),
    }
}

/// containerd's overlay applier on one record of a layer: the layer is extracted into its
/// own upper directory `upper` (the first layer into an empty mount, the same thing), the
/// record's parent resolved there (`fs.RootPath`), each missing parent made (`mkparent`) after
/// resolving it in each lower layer's own directory, nearest first (`fs.RootPath(p, ...)`, v1.6.20
/// `archive/tar.go`, with `WithParents` from `diff/apply/apply_linux.go`). A resolution past the
/// link limit, or through a file, fails it. Observed with containerd 1.6.20: a loop inside one
/// lower layer fails a later layer that goes through it; a loop made of two lower layers does not.
fn containerd_record(upper: &mut Fs, lowers: &[Fs], r: &Record) -> Result<(), Fail> {
    let (parent, node) = match r {
        Record::Entry(e) if e.path.is_root() => return Ok(()),
        Record::Entry(e) => (e.path.parent().unwrap_or_default(), Some(e)),
        Record::Whiteout { target, .. } => (target.parent().unwrap_or_default(), None),
        Record::Opaque { dir, .. } => (dir.clone(), None),
        Record::InvalidWhiteout { .. } | Record::Aufs(_) => return Ok(()),
    };
    let (p, _) = upper.resolve(parent.as_bytes(), true, CONTAINERD_MAX_LINKS, true)?;
    for i in 1..=p.len() {
        let prefix = p.get(..i).unwrap_or_default();
        match upper.get(prefix) {
            Some(Node::Dir) => continue,
            Some(_) => return Err(Fail::NotDir),
            None => {}
        }
        upper.nodes.insert(key(prefix), Node::Dir);
        for lower in lowers.iter().rev() {
            let (_, found) = lower.resolve(&key(prefix), true, CONTAINERD_MAX_LINKS, true)?;
            if found {
                break;
            }
        }
    }
    if let Some(e) = node {
        let mut path = p;
        path.push(e.path.file_name().to_vec());
        let n = match &e.kind {
            EntryKind::Hardlink { .. } => Node::File,
            k => node_of(k),
        };
        if !(n == Node::Dir && upper.get(&path) == Some(&Node::Dir)) {
            upper.remove_all(&path);
            upper.nodes.insert(key(&path), n);
        }
    }
    Ok(())
}

/// The first failure of each applier on each layer of image `image` (the image's order), or
/// `None` when a layer's entries are not recorded.
pub(crate) fn apply_image(archive: &Archive, image: &Image) -> Option<Vec<LayerApplied>> {
    let mut moby = Fs::default();
    // containerd: each layer's own directory.
    let mut lowers: Vec<Fs> = Vec::new();
    let mut out = Vec::with_capacity(image.layers.len());
    for (n, layer) in image.layers.iter().enumerate() {
        let records = layer_records(archive, n, layer).ok()?;
        let mut written = HashSet::new();
        let mut applied = LayerApplied::default();
        let mut upper = Fs::default();
        for r in &records.records {
            if applied.moby.is_none() {
                if let Err(e) = moby_record(&mut moby, &mut written, r) {
                    applied.moby = Some(match r {
                        Record::Entry(e) if e.path.is_root() => {
                            "unlinkat .//: device or resource busy"
                        }
                        _ => e.moby_words(),
                    });
                }
            }
            if applied.containerd.is_none() {
                match containerd_record(&mut upper, &lowers, r) {
                    Ok(()) => {}
                    Err(Fail::Loop) => {
                        applied.containerd = Some("failed to get root path: too many links")
                    }
                    Err(_) => applied.containerd = Some("failed to get root path: not a directory"),
                }
            }
        }
        lowers.push(upper);
        out.push(applied);
    }
    Some(out)
}
