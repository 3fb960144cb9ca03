use std::io::Write;
use std::process::ExitCode;

use imgtar::{Reader, Report, Severity};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    input: crate::Input,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Treat warnings as errors.
    #[arg(long)]
    strict: bool,
}

pub fn run(args: Args) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let report = Reader::new().strict(args.strict).open(&args.input.path)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &json(&report))?;
        writeln!(out)?;
    } else {
        human(&mut out, &args.input.path.display().to_string(), &report)?;
    }
    out.flush()?;
    Ok(if report.is_valid() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn json(report: &Report) -> serde_json::Value {
    let a = &report.archive;
    serde_json::json!({
        "valid": report.is_valid(),
        "layout": a.layout,
        "producer": a.producer,
        "compression": a.compression,
        "images": a.images.iter().map(|i| serde_json::json!({
            "id": i.id,
            "repo_tags": i.repo_tags,
            "config": i.config_path,
            "manifest_digest": i.manifest_digest,
            "platform": i.platform.as_ref().map(|p| p.to_string()),
            "layers": i.layers,
        })).collect::<Vec<_>>(),
        "findings": report.findings,
    })
}

fn human(out: &mut impl Write, name: &str, report: &Report) -> std::io::Result<()> {
    let a = &report.archive;
    let errors = report.findings_at_least(Severity::Error).count();
    let warnings = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .count();
    writeln!(
        out,
        "{name}: {} ({} layout, {} outer compression)",
        if report.is_valid() {
            "valid"
        } else {
            "INVALID"
        },
        a.layout.as_str(),
        a.compression.as_str()
    )?;
    for (n, img) in a.images.iter().enumerate() {
        let tags = if img.repo_tags.is_empty() {
            "<none>".to_string()
        } else {
            img.repo_tags.join(", ")
        };
        let id = img
            .id
            .as_ref()
            .map_or_else(|| "-".to_string(), |d| d.short().to_string());
        let platform = img
            .platform
            .as_ref()
            .map_or_else(String::new, |p| format!(" {p}"));
        writeln!(
            out,
            "  image {n}: {tags}  id {id}{platform}  {} layer(s)",
            img.layers.len()
        )?;
    }
    for f in &report.findings {
        if f.severity == Severity::Info {
            continue;
        }
        writeln!(out, "  {f}")?;
    }
    writeln!(out, "{errors} error(s), {warnings} warning(s)")
}
