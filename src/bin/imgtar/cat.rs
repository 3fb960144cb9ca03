use std::io::Write;
use std::process::ExitCode;

use imgtar::layer::{content, EntryPath};
use imgtar::Reader;

use crate::args::{self, Rules, Source, Target};
use crate::Failure;

#[derive(clap::Args)]
#[command(override_usage = "imgtar cat [OPTIONS] <PATH> [IMAGE] <FILE>")]
pub struct Args {
    #[command(flatten)]
    source: Source,
    /// `[IMAGE] FILE`: the image (a tag or an ID prefix; may be left out when the archive
    /// holds one image), then the file as an absolute path in the image's filesystem
    /// (symlinks are followed inside it).
    #[arg(value_name = "IMAGE] [FILE", num_args = 1..=2, required = true)]
    names: Vec<String>,
    #[command(flatten)]
    rules: Rules,
}

/// Writes one file's final content to standard output.
pub fn run(args: Args) -> crate::Outcome {
    let (image, file) = match args.names.as_slice() {
        [file] => (None, file.clone()),
        [image, file] => (Some(image.clone()), file.clone()),
        _ => return Err(Failure::msg("cat takes [IMAGE] FILE")),
    };
    args.source.replayable()?;
    let target = Target {
        source: Source {
            path: args.source.path.clone(),
        },
        image,
        rules: Rules {
            docker: args.rules.docker,
        },
    };
    let (input, report, n, flat) = args::flatten(&target)?;
    let image = report
        .archive
        .images
        .get(n)
        .ok_or_else(|| Failure::NoSuchImage(String::new()))?;
    let mut out = std::io::BufWriter::new(std::io::stdout());
    let path = EntryPath::from(file.as_str());
    content::cat(
        &Reader::new(),
        &input,
        &report.archive,
        image,
        &flat.fs,
        &path,
        &mut out,
    )?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
