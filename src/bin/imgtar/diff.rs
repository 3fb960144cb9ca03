use std::io::Write;
use std::process::ExitCode;

use imgtar::layer::ChangeSet;

use crate::args::{self, Output, Target};
use crate::{render, Failure};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    target: Target,
    /// Only this layer (0 is the bottom one); without it every layer is listed under a
    /// `# layer N` line.
    #[arg(long)]
    layer: Option<usize>,
    /// `--format json` prints Engine API `FilesystemChange` objects (`Path`, `Kind` 0/1/2),
    /// one array per layer.
    #[command(flatten)]
    output: Output,
}

/// `A`/`C`/`D` lines like `docker diff`, per layer.
pub fn run(args: Args) -> crate::Outcome {
    let (_, report, n, flat) = args::flatten(&args.target)?;
    let image = report
        .archive
        .images
        .get(n)
        .ok_or_else(|| Failure::NoSuchImage(String::new()))?;
    let sets: Vec<&ChangeSet> = match args.layer {
        Some(k) => vec![flat.changes.get(k).ok_or_else(|| {
            Failure::msg(format!(
                "the image has {} layers (0 to {}); there is no layer {k}",
                flat.changes.len(),
                flat.changes.len().saturating_sub(1)
            ))
        })?],
        None => flat.changes.iter().collect(),
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if args.output.json() {
        let v: Vec<serde_json::Value> = sets
            .iter()
            .map(|s| {
                serde_json::json!({
                    "Layer": s.layer,
                    "Changes": s.changes.iter().map(|c| serde_json::json!({
                        "Path": c.path.to_string(),
                        "Kind": c.kind.api_kind(),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        render::write_json(&mut out, &v)?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    for set in sets {
        if args.layer.is_none() {
            let id = image
                .layers
                .get(set.layer)
                .and_then(|l| {
                    l.diff_id
                        .as_ref()
                        .map(ToString::to_string)
                        .or_else(|| l.path.clone())
                })
                .unwrap_or_default();
            writeln!(out, "# layer {} {}", set.layer, render::clean(&id))?;
        }
        for c in &set.changes {
            write!(out, "{} ", c.kind.letter())?;
            render::write_path(&mut out, &c.path)?;
            writeln!(out)?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
