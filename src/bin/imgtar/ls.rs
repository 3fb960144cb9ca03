use std::io::Write;
use std::process::ExitCode;

use imgtar::engine::{self, Filters, ListOptions};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    query: crate::Query,
    /// Only images whose name matches this `REPOSITORY[:TAG]` glob (a `reference` filter).
    reference: Option<String>,
    /// Show all images (by default untagged images other images are built on are hidden).
    #[arg(short, long)]
    all: bool,
    /// Show digests.
    #[arg(long)]
    digests: bool,
    /// Filter: `dangling=true|false`, `label=KEY[=VALUE]`, `reference=PATTERN`,
    /// `before=IMAGE`, `since=IMAGE`, `until=TIMESTAMP|DURATION` (repeatable).
    #[arg(short, long = "filter", value_name = "NAME=VALUE")]
    filters: Vec<String>,
    /// Compute `SharedSize`.
    #[arg(long)]
    shared_size: bool,
    /// Include `Manifests` in the JSON output.
    #[arg(long)]
    manifests: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = crate::Format::Table)]
    format: crate::Format,
    /// Do not truncate IDs.
    #[arg(long)]
    no_trunc: bool,
}

/// Lists the images like `docker image ls`: a table, or the ImageSummary items as JSON.
pub fn run(args: Args) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let mut filters = Filters::new();
    for f in &args.filters {
        filters.add_arg(f)?;
    }
    if let Some(r) = &args.reference {
        filters.add("reference", r.as_str());
    }
    let report = args.query.open()?;
    let now = crate::now_unix();
    let opts = ListOptions::default()
        .all(args.all)
        .filters(filters)
        .shared_size(args.shared_size)
        .manifests(args.manifests)
        .now(now);
    let images = engine::list(&report.archive, &opts)?;
    let mut out = std::io::stdout().lock();
    match args.format {
        crate::Format::Json => crate::write_json(&mut out, &images)?,
        crate::Format::Table => out.write_all(
            engine::human::images_table(&images, args.digests, args.no_trunc, now).as_bytes(),
        )?,
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
