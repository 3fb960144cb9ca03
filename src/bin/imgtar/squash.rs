use std::path::PathBuf;
use std::process::ExitCode;

use imgtar::layer::content;
use imgtar::Reader;

use crate::args::{self, Target};
use crate::{progress, Failure};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    target: Target,
    /// Where to write the flattened filesystem as a tar: a temporary file beside it, renamed
    /// when complete. An existing output that is not a regular file is refused.
    #[arg(short, long, value_name = "ROOTFS.TAR")]
    output: PathBuf,
}

/// Writes the flattened filesystem of an image as one tar.
pub fn run(args: Args) -> crate::Outcome {
    // Said before anything is read: the content is read in a second pass.
    args.target.source.replayable()?;
    let (input, report, n, flat) = args::flatten(&args.target)?;
    let image = report
        .archive
        .images
        .get(n)
        .ok_or_else(|| Failure::NoSuchImage(String::new()))?;
    let pb = progress::bar(None, "squashing");
    let summary = content::squash_to(
        &Reader::new(),
        &input,
        &report.archive,
        image,
        &flat.fs,
        &args.output,
    );
    pb.finish_and_clear();
    let summary = summary?;
    eprintln!(
        "imgtar: wrote {}: {} entries, {} files ({} bytes), {} hardlinks",
        args.output.display(),
        summary.entries,
        summary.files,
        summary.bytes,
        summary.hardlinks
    );
    Ok(ExitCode::SUCCESS)
}
