use std::io::{Read, Write};
use std::process::ExitCode;

use imgtar::layer::{self, FilesOptions, Scope};
use imgtar::{Digest, Reader};

use crate::args::{Output, Rules, Source};
use crate::{args, render};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    source: Source,
    /// The image (a tag or an ID prefix); may be left out when the archive holds one image.
    #[arg(value_name = "IMAGE")]
    image: Option<String>,
    /// `squashed`: what the final filesystem holds; `all-layers`: every regular file of every
    /// layer, with the layer that deleted or replaced it.
    #[arg(long, value_enum, default_value_t = ScopeArg::Squashed)]
    scope: ScopeArg,
    /// Compute the sha256 of every file's content.
    #[arg(long)]
    sha256: bool,
    #[command(flatten)]
    rules: Rules,
    /// `--format json` prints JSON Lines: `layer`, `path`, `size`, `mode`, `sha256`, `link`
    /// and, for all layers, `hidden_by`.
    #[command(flatten)]
    output: Output,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ScopeArg {
    Squashed,
    AllLayers,
}

/// One line per regular file: layer, path, size, mode and, with `--sha256`, the digest of
/// its content; from a pipe in one pass.
pub fn run(args: Args) -> crate::Outcome {
    let input = args.source.input()?;
    let scope = match args.scope {
        ScopeArg::Squashed => Scope::Squashed,
        ScopeArg::AllLayers => Scope::AllLayers,
    };
    let options = FilesOptions::new(scope)
        .image(args.image.as_deref())
        .flatten(args.rules.options());
    let hash = args.sha256;
    let files = match layer::files(&Reader::new(), &input, options, |_, r| {
        if !hash {
            return Ok(None);
        }
        Ok(Some(sha256(r)?))
    }) {
        Ok(f) => f,
        Err(layer::FilesError::Flatten(e)) => {
            eprintln!("imgtar: {}", render::clean(&e.to_string()));
            return Err(crate::Failure::Invalid);
        }
        // "No such image" is said the same way by every command.
        Err(layer::FilesError::Select(s)) => return Err(crate::Failure::from(s)),
        Err(e) => return Err(e.into()),
    };
    args::tell(&files.report, true);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    render::quiet(print(&mut out, &files, scope, args.output.json()))?;
    Ok(if files.report.is_valid() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Writes the lines (or JSON lines) of the files.
fn print(
    out: &mut impl Write,
    files: &layer::Files<Option<Digest>>,
    scope: Scope,
    json: bool,
) -> std::io::Result<()> {
    for f in &files.files {
        if json {
            let mut v = serde_json::json!({
                "layer": f.layer,
                "path": f.path,
                "size": f.entry.size,
                "mode": format!("{:04o}", f.entry.mode),
                "sha256": f.value.as_ref().map(ToString::to_string),
                "link": f.link,
            });
            if scope == Scope::AllLayers {
                if let Some(o) = v.as_object_mut() {
                    o.insert("hidden_by".into(), serde_json::json!(f.hidden_by));
                }
            }
            render::write_json_line(out, &v)?;
            continue;
        }
        write!(
            out,
            "{:>3} {} {:>10} ",
            f.layer,
            render::mode_string('-', f.entry.mode),
            f.entry.size
        )?;
        if let Some(d) = &f.value {
            write!(out, "{} ", d.hex())?;
        }
        render::write_path(out, &f.path)?;
        if let Some(l) = &f.link {
            out.write_all(b" link to ")?;
            render::write_path(out, l)?;
        }
        if let Some(h) = f.hidden_by {
            write!(out, " (hidden by layer {h})")?;
        }
        writeln!(out)?;
    }
    out.flush()
}

/// The sha256 of everything `r` yields.
fn sha256(r: &mut dyn Read) -> std::io::Result<Digest> {
    let mut h = Digest::hasher();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match r.read(&mut buf)? {
            0 => return Ok(h.finish()),
            n => h.update(buf.get(..n).unwrap_or_default()),
        }
    }
}
