use std::io::Write;
use std::process::ExitCode;

use imgtar::layer::{content, EntryPath};

use crate::layers::{self, Replay, Rules};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    input: crate::Input,
    /// The image (tag or ID prefix), then the file; with one image in the archive, the file
    /// alone.
    #[arg(value_name = "IMAGE", required = true)]
    image_or_file: String,
    /// The file, as an absolute path in the image's filesystem (symlinks are followed inside it).
    #[arg(value_name = "FILE")]
    file: Option<String>,
    #[command(flatten)]
    rules: Rules,
}

/// Writes one file's final content to standard output.
pub fn run(args: Args) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let (image, file) = match &args.file {
        Some(f) => (Some(args.image_or_file.as_str()), f.as_str()),
        None => (None, args.image_or_file.as_str()),
    };
    let replay = Replay::check(&args.input.path, "cat")?;
    let report = layers::read(&args.input.path)?;
    let (image, flat) = layers::load(&report, image, &args.rules)?;
    let (source, pb) = replay.open("reading")?;
    let mut out = std::io::stdout().lock();
    let path = EntryPath::from(file);
    let result = content::cat(source, &report.archive, image, &flat.fs, &path, &mut out);
    pb.finish_and_clear();
    result?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
