use std::io::Write;
use std::process::ExitCode;

use imgtar::{Loader, Outcome, Reader, Report, Severity, Verdict};

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
    /// Make the exit status follow what this loader would do instead of the specification:
    /// 1 when it refuses the archive or loads only part of it. `NAME` is `docker`,
    /// `docker-containerd`, `containerd`, `podman` or `crane` (every version imgtar knows of
    /// it), or `NAME@VERSION` for one (`docker@20.10`, `containerd@1.6`). Repeatable.
    #[arg(long = "loader", value_name = "NAME[@VERSION]")]
    loaders: Vec<String>,
}

/// The verdicts a `--loader` value names.
fn named<'r>(report: &'r Report, spec: &str) -> Result<Vec<&'r Verdict>, crate::Failure> {
    let (name, version) = match spec.split_once('@') {
        Some((n, v)) => (n, Some(v)),
        None => (spec, None),
    };
    let loader = Loader::from_name(name).ok_or_else(|| {
        crate::Failure::msg(format!(
            "unknown loader {name:?}: one of {}",
            Loader::ALL.map(Loader::as_str).join(", ")
        ))
    })?;
    let found: Vec<&Verdict> = report
        .loaders
        .iter()
        .filter(|v| v.loader == loader && version.is_none_or(|want| v.version == want))
        .collect();
    if found.is_empty() {
        let known: Vec<&str> = report
            .loaders
            .iter()
            .filter(|v| v.loader == loader)
            .map(|v| v.version)
            .collect();
        return Err(crate::Failure::msg(format!(
            "no verdict for {spec}: the versions of {name} are {}",
            known.join(", ")
        )));
    }
    Ok(found)
}

pub fn run(args: Args) -> crate::Outcome {
    let input = args.source.input()?;
    // Entries are recorded so that links are judged against each image's filesystem as its
    // layers build it (symlink-ancestor attacks span layers).
    let reader = Reader::new().strict(args.strict).record_entries(true);
    let mut report = args::read(&input, reader.clone(), "validating")?;
    imgtar::layer::check_links(&reader, &mut report);
    let mut chosen: Vec<&Verdict> = Vec::new();
    for spec in &args.loaders {
        chosen.extend(named(&report, spec)?);
    }
    let mut out = std::io::stdout().lock();
    let written = if args.output.json() {
        render::write_json(&mut out, &report)
    } else {
        human(&mut out, &args.source.path.display().to_string(), &report)
    };
    render::quiet(written.and_then(|()| out.flush()))?;
    let ok = if chosen.is_empty() {
        report.is_valid()
    } else {
        chosen.iter().all(|v| v.verdict == Outcome::Loads)
    };
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `docker 20.10: loads · podman 4.3: refuses (…)`.
fn loader_line(verdicts: &[&Verdict]) -> String {
    verdicts
        .iter()
        .map(|v| {
            let what = match v.verdict {
                Outcome::Loads if v.images == 0 => "loads, but no image".to_string(),
                Outcome::Loads => match v.names.as_slice() {
                    [] => format!("loads {} image(s) without a name", v.images),
                    [one] => format!("loads as {one}"),
                    [one, rest @ ..] => format!("loads as {one} and {} more", rest.len()),
                },
                o => format!("{} ({})", o.as_str(), shorten(&v.message, 70)),
            };
            format!("{} {}: {what}", v.loader, v.version)
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let cut: String = s.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}…")
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
    writeln!(out, "{errors} error(s), {warnings} warning(s)")?;
    let (tested, predicted): (Vec<&Verdict>, Vec<&Verdict>) =
        report.loaders.iter().partition(|v| v.tested);
    if !tested.is_empty() {
        writeln!(out, "loaders: {}", render::clean(&loader_line(&tested)))?;
    }
    if !predicted.is_empty() {
        writeln!(
            out,
            "predicted from source: {}",
            render::clean(&loader_line(&predicted))
        )?;
    }
    Ok(())
}
