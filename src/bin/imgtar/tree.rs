use std::collections::HashMap;
use std::io::Write;
use std::process::ExitCode;

use imgtar::layer::{EntryKind, EntryPath};

use crate::args::{self, Output, Target};
use crate::render;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    target: Target,
    /// `--format json` prints one JSON object per line instead of `ls -l`-like lines.
    #[command(flatten)]
    output: Output,
}

/// Lists the flattened filesystem: type and mode, owner, size, the layer that provides the
/// path, the path, and a symlink's target or the first path a hardlinked file shares content
/// with.
pub fn run(args: Args) -> crate::Outcome {
    let (_, _, _, flat) = args::flatten(&args.target)?;
    let mut first: HashMap<u64, &EntryPath> = HashMap::new();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for (path, node) in flat.fs.iter() {
        let link = node.inode.and_then(|i| {
            let f = *first.entry(i).or_insert(path);
            (f != path).then_some(f)
        });
        if args.output.json() {
            let mut v = serde_json::to_value(node)?;
            if let (Some(f), Some(o)) = (link, v.as_object_mut()) {
                o.insert("hardlink_to".into(), f.to_string().into());
            }
            render::write_json_line(&mut out, &v)?;
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
            render::mode_string(node.meta.kind.letter(), node.meta.mode),
            node.meta.uid,
            node.meta.gid,
            node.layer
        )?;
        render::write_path(&mut out, path)?;
        if let EntryKind::Symlink { target } = &node.meta.kind {
            let t = EntryPath::from_bytes(target.clone()).display_bytes();
            out.write_all(b" -> ")?;
            out.write_all(t.get(1..).unwrap_or_default())?;
        }
        if let Some(f) = link {
            out.write_all(b" link to ")?;
            render::write_path(&mut out, f)?;
        }
        writeln!(out)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
