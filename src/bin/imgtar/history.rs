use std::io::Write;
use std::process::ExitCode;

use imgtar::engine;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    query: crate::Query,
    /// The image, by name or ID (may be left out when the archive holds one image).
    image: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = crate::Format::Table)]
    format: crate::Format,
    /// Do not truncate IDs and commands.
    #[arg(long)]
    no_trunc: bool,
}

/// Shows the history of an image like `docker history`: a table, or ImageHistory items as JSON.
pub fn run(args: Args) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let report = args.query.open()?;
    let archive = &report.archive;
    let image = archive.find_image(args.image.as_deref())?;
    let items = engine::history(archive, image)?;
    let mut out = std::io::stdout().lock();
    match args.format {
        crate::Format::Json => crate::write_json(&mut out, &items)?,
        crate::Format::Table => out.write_all(
            engine::human::history_table(&items, args.no_trunc, crate::now_unix()).as_bytes(),
        )?,
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
