use std::io::Write;
use std::process::ExitCode;

use imgtar::engine::{self, InspectOptions};

use crate::args::Query;
use crate::render;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    query: Query,
    #[command(flatten)]
    daemon: crate::args::Daemon,
    /// Images to inspect, by name (`busybox`, `busybox:1.36`, `docker.io/library/busybox`)
    /// or ID (full or a unique prefix); every image of the archive when none is given.
    images: Vec<String>,
    /// Include `Manifests` for images reached through an OCI index (the API's `manifests=1`).
    #[arg(long)]
    manifests: bool,
    /// Accepted for symmetry with the other commands: inspect always prints JSON.
    #[arg(long, hide = true)]
    json: bool,
    /// Accepted for symmetry with the other commands (`--format json`, as docker's inspect
    /// takes it): inspect always prints JSON.
    #[arg(long, value_enum, hide = true)]
    format: Option<crate::args::Format>,
}

/// Prints a JSON array of ImageInspect objects, like `docker image inspect`. Exits 1 when a
/// named image is not in the archive (after printing the ones that are).
pub fn run(args: Args) -> crate::Outcome {
    let (report, _) = args
        .query
        .read(args.daemon.store == imgtar::engine::Store::Containerd)?;
    let archive = &report.archive;
    let opts = InspectOptions::default()
        .manifests(args.manifests)
        .api_version(args.daemon.api_version)
        .store(args.daemon.store);
    let mut found = Vec::new();
    let mut missing = Vec::new();
    if args.images.is_empty() {
        for img in &archive.images {
            match archive.image_intact(img) {
                Ok(()) => found.push(img),
                Err(_) => missing.push(format!(
                    "image {} is incomplete",
                    crate::args::describe(img)
                )),
            }
        }
    }
    for name in &args.images {
        match archive.find_image(Some(name)) {
            Ok(img) if archive.image_intact(img).is_err() => {
                missing.push(format!("image {name} is incomplete"));
            }
            Ok(img) => found.push(img),
            Err(imgtar::SelectError::NotFound(_)) => {
                missing.push(format!("No such image: {name}"));
            }
            Err(e) => missing.push(e.to_string()),
        }
    }
    let out: Vec<_> = found
        .iter()
        .map(|img| engine::inspect(archive, img, &opts))
        .collect();
    let mut stdout = std::io::stdout().lock();
    render::write_json(&mut stdout, &out)?;
    stdout.flush()?;
    for m in &missing {
        eprintln!("Error: {}", render::clean(m));
    }
    Ok(if missing.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
