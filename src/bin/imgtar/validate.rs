use std::io::Write;
use std::process::ExitCode;

use imgtar::{Reader, Report, Severity};

use crate::args::{self, Output, Source};
use crate::render;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    source: Source,
    #[command(flatten)]
    output: Output,
    /// Treat warnings as errors.
    #[arg(long)]
    strict: bool,
}

pub fn run(args: Args) -> crate::Outcome {
    let input = args.source.input()?;
    let report = args::read(&input, Reader::new().strict(args.strict), "validating")?;
    let mut out = std::io::stdout().lock();
    if args.output.json() {
        render::write_json(&mut out, &report)?;
    } else {
        human(&mut out, &args.source.path.display().to_string(), &report)?;
    }
    out.flush()?;
    Ok(if report.is_valid() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
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
        "{}: {} ({} layout, {} outer compression)",
        render::clean(name),
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
            "  image {n}: {}  id {id}{}  {} layer(s)",
            render::clean(&tags),
            render::clean(&platform),
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
