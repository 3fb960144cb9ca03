use std::path::PathBuf;
use std::process::ExitCode;

use imgtar::layer::{unpack, UnpackOptions};
use imgtar::Reader;

use crate::args::{self, Target};
use crate::{progress, render};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    target: Target,
    /// The directory to write the filesystem into: it must not exist (its parent must) or be
    /// empty. While unpack runs it holds `.imgtar-unpack-incomplete`, left there when writing
    /// fails.
    #[arg(short, long, value_name = "DEST")]
    output: PathBuf,
}

/// Writes the final filesystem of an image into a new directory, in one pass (a pipe too).
pub fn run(args: Args) -> crate::Outcome {
    let input = args.target.source.input()?;
    let options = UnpackOptions::new()
        .image(args.target.image.as_deref())
        .flatten(args.target.rules.options());
    let len = match &input {
        imgtar::Input::File(p) => std::fs::metadata(p).ok().map(|m| m.len()),
        _ => None,
    };
    let pb = progress::bar(len, "unpacking");
    let bar = pb.clone();
    let reader = Reader::new().progress(move |n| bar.set_position(n));
    let done = unpack(&reader, &input, &args.output, &options);
    pb.finish_and_clear();
    let done = match done {
        Ok(d) => d,
        // `No such image` exits 1, as for every command.
        Err(imgtar::layer::UnpackError::Select(e)) => return Err(e.into()),
        Err(e) => return Err(e.into()),
    };
    args::tell(&done.report, false);
    for issue in &done.refused {
        eprintln!("imgtar: refused: {}", render::clean(&issue.to_string()));
    }
    for w in &done.warnings {
        eprintln!("imgtar: warning: {}", render::clean(w));
    }
    eprintln!(
        "imgtar: unpacked into {}: {} directories, {} files ({} bytes), {} hardlinks, {} symlinks, {} devices and FIFOs{}",
        args.output.display(),
        done.dirs,
        done.files,
        done.bytes,
        done.hardlinks,
        done.symlinks,
        done.specials,
        if done.refused.is_empty() {
            String::new()
        } else {
            format!("; {} entries refused", done.refused.len())
        }
    );
    Ok(ExitCode::SUCCESS)
}
