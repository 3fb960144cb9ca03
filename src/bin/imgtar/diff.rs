use std::io::Write;
use std::process::ExitCode;

use imgtar::layer::ChangeSet;

use crate::layers::{self, Target};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    target: Target,
    /// Only this layer (0 is the bottom one); without it every layer is listed under a
    /// `# layer N` line.
    #[arg(long)]
    layer: Option<usize>,
    /// Print Engine API `FilesystemChange` objects (`Path`, `Kind` 0/1/2) as JSON, one array
    /// per layer.
    #[arg(long)]
    json: bool,
}

/// `A`/`C`/`D` lines like `docker diff`, per layer.
pub fn run(args: Args) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let report = layers::read(&args.target.input.path)?;
    let (image, flat) = layers::load(&report, args.target.image.as_deref(), &args.target.rules)?;
    let sets: Vec<&ChangeSet> = match args.layer {
        Some(n) => vec![flat.changes.get(n).ok_or_else(|| {
            format!(
                "the image has {} layers (0 to {}); there is no layer {n}",
                flat.changes.len(),
                flat.changes.len().saturating_sub(1)
            )
        })?],
        None => flat.changes.iter().collect(),
    };
    let mut out = std::io::stdout().lock();
    if args.json {
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
        serde_json::to_writer_pretty(&mut out, &v)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    for set in sets {
        if args.layer.is_none() {
            let id = image
                .layers
                .get(set.layer)
                .and_then(|l| l.diff_id.clone().or_else(|| l.path.clone()))
                .unwrap_or_default();
            writeln!(out, "# layer {} {id}", set.layer)?;
        }
        for c in &set.changes {
            write!(out, "{} ", c.kind.letter())?;
            layers::write_path(&mut out, &c.path)?;
            writeln!(out)?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
