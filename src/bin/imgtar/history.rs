use std::io::Write;
use std::process::ExitCode;

use imgtar::engine;

use crate::args::{Output, Query};
use crate::render;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    query: Query,
    #[command(flatten)]
    daemon: crate::args::Daemon,
    /// The image, by name or ID (may be left out when the archive holds one image).
    image: Option<String>,
    #[command(flatten)]
    output: Output,
    /// Do not truncate IDs and commands.
    #[arg(long)]
    no_trunc: bool,
}

/// Shows the history of an image like `docker history`: a table, or ImageHistory items as JSON.
pub fn run(args: Args) -> crate::Outcome {
    let (report, _) = args
        .query
        .read(args.daemon.store == imgtar::engine::Store::Containerd)?;
    let archive = &report.archive;
    let image = archive.find_image(args.image.as_deref())?;
    if archive.image_intact(image).is_err() {
        return Err(crate::Failure::Invalid);
    }
    let opts = engine::HistoryOptions::default()
        .api_version(args.daemon.api_version)
        .store(args.daemon.store);
    let items = engine::history_with(archive, image, &opts)?;
    let mut out = std::io::stdout().lock();
    if args.output.json() {
        render::write_json(&mut out, &items)?;
    } else {
        out.write_all(
            render::history_table(
                &items,
                args.no_trunc,
                crate::ls::now_unix(),
                args.daemon.api_version.at_least(42),
            )
            .as_bytes(),
        )?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
