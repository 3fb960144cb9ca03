use std::io::Write;
use std::process::ExitCode;

use imgtar::engine::{self, Filters, ListOptions};

use crate::args::{Output, Query};
use crate::render;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    query: Query,
    #[command(flatten)]
    daemon: crate::args::Daemon,
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
    #[command(flatten)]
    output: Output,
    /// Do not truncate IDs.
    #[arg(long)]
    no_trunc: bool,
}

/// Lists the images like `docker image ls`: a table, or the ImageSummary items as JSON.
pub fn run(args: Args) -> crate::Outcome {
    let mut filters = Filters::new();
    for f in &args.filters {
        filters.add_arg(f)?;
    }
    if let Some(r) = &args.reference {
        filters.add("reference", r.as_str());
    }
    let (report, all_intact) = args
        .query
        .read(args.daemon.store == imgtar::engine::Store::Containerd)?;
    let now = now_unix();
    let opts = ListOptions::default()
        .all(args.all)
        .filters(filters)
        .shared_size(args.shared_size)
        .manifests(args.manifests)
        .api_version(args.daemon.api_version)
        .store(args.daemon.store)
        .now(now);
    let left_out: Vec<String> = report
        .archive
        .images
        .iter()
        .filter(|i| report.archive.image_intact(i).is_err())
        .map(|i| engine::image_id(&report.archive, i, args.daemon.store))
        .collect();
    let mut images = engine::list(&report.archive, &opts)?;
    images.retain(|s| !left_out.contains(&s.id));
    let mut out = std::io::stdout().lock();
    if args.output.json() {
        render::write_json(&mut out, &images)?;
    } else {
        out.write_all(render::images_table(&images, args.digests, args.no_trunc, now).as_bytes())?;
    }
    out.flush()?;
    Ok(if all_intact {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The current Unix time.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
