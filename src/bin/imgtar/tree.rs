use std::collections::HashMap;
use std::io::Write;
use std::process::ExitCode;

use imgtar::layer::{escape_into, EntryKind, EntryPath, Node};

use crate::layers::{self, Target};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    target: Target,
    /// Print one JSON object per line instead of `ls -l`-like lines.
    #[arg(long)]
    json: bool,
}

/// `drwxr-xr-x`-style type and permission letters, setuid/setgid/sticky included.
fn mode_string(node: &Node) -> String {
    let m = node.meta.mode;
    let mut s = String::with_capacity(10);
    s.push(node.meta.kind.letter());
    for (i, shift) in [6u32, 3, 0].into_iter().enumerate() {
        let bits = (m >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        let special = match i {
            0 => m & 0o4000 != 0,
            1 => m & 0o2000 != 0,
            _ => m & 0o1000 != 0,
        };
        let exec = bits & 1 != 0;
        let (set, unset) = if i == 2 { ('t', 'T') } else { ('s', 'S') };
        s.push(match (special, exec) {
            (true, true) => set,
            (true, false) => unset,
            (false, true) => 'x',
            (false, false) => '-',
        });
    }
    s
}

/// Lists the flattened filesystem: type and mode, owner, size, the layer that provides the
/// path, the path, and a symlink's target or the first path a hardlinked file shares content
/// with.
pub fn run(args: Args) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let report = layers::read(&args.target.input.path)?;
    let (_, flat) = layers::load(&report, args.target.image.as_deref(), &args.target.rules)?;
    let mut first: HashMap<u64, &EntryPath> = HashMap::new();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for (path, node) in flat.fs.iter() {
        let link = node.inode.and_then(|i| {
            let f = *first.entry(i).or_insert(path);
            (f != path).then_some(f)
        });
        if args.json {
            let mut v = serde_json::to_value(node)?;
            if let (Some(f), Some(o)) = (link, v.as_object_mut()) {
                o.insert("hardlink_of".into(), f.to_string().into());
            }
            serde_json::to_writer(&mut out, &v)?;
            writeln!(out)?;
            continue;
        }
        let size = match node.meta.kind {
            EntryKind::Char { major, minor } | EntryKind::Block { major, minor } => {
                format!("{major},{minor}")
            }
            _ => node.meta.size.to_string(),
        };
        write!(
            out,
            "{} {}:{} {size:>10} L{:<2} ",
            mode_string(node),
            node.meta.uid,
            node.meta.gid,
            node.layer
        )?;
        layers::write_path(&mut out, path)?;
        if let EntryKind::Symlink { target } = &node.meta.kind {
            let mut t = Vec::new();
            escape_into(target, &mut t);
            out.write_all(b" -> ")?;
            out.write_all(&t)?;
        }
        if let Some(f) = link {
            out.write_all(b" link to ")?;
            layers::write_path(&mut out, f)?;
        }
        writeln!(out)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use imgtar::layer::Entry;

    fn node(kind: EntryKind, mode: u32) -> Node {
        Node {
            meta: Entry::new(EntryPath::from("x"), kind, mode),
            layer: 0,
            content: None,
            inode: None,
            implicit: false,
        }
    }

    #[test]
    fn modes_read_like_ls() {
        assert_eq!(mode_string(&node(EntryKind::Dir, 0o755)), "drwxr-xr-x");
        assert_eq!(mode_string(&node(EntryKind::File, 0o4755)), "-rwsr-xr-x");
        assert_eq!(mode_string(&node(EntryKind::File, 0o2644)), "-rw-r-Sr--");
        assert_eq!(mode_string(&node(EntryKind::Dir, 0o1777)), "drwxrwxrwt");
        assert_eq!(mode_string(&node(EntryKind::Fifo, 0o1000)), "p--------T");
    }
}
