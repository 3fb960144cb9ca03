use std::path::PathBuf;
use std::process::ExitCode;

use imgtar::export::{self, ExportError, ExportOptions, PlatformSpec};

use crate::render;

#[derive(clap::Args)]
pub struct Args {
    /// The input: a tarball (plain or compressed) or an extracted archive directory.
    path: PathBuf,
    /// Images to write: `name:tag`, a bare `name` (every tag of it), `name@digest`, or an
    /// image ID (full or a unique prefix; written without names).
    #[arg(required = true)]
    names: Vec<String>,
    /// The archive to write (replaced if it is a regular file; never the input).
    #[arg(short, long)]
    output: PathBuf,
    /// Keep only this platform of multi-platform images: `os/arch[/variant]`.
    #[arg(long)]
    platform: Option<PlatformSpec>,
}

/// Writes the named images to a new archive, as `docker save` / `GET /images/get` does.
pub fn run(args: Args) -> crate::Outcome {
    let opts = ExportOptions::default().platform(args.platform);
    let written = match export::export(&args.path, &args.names, &args.output, &opts) {
        Ok(w) => w,
        Err(ExportError::Select(imgtar::SelectError::NotFound(name))) => {
            return Err(crate::Failure::NoSuchImage(name))
        }
        Err(e) => return Err(e.into()),
    };
    for (id, tags) in &written.images {
        let names = if tags.is_empty() {
            "<none>".to_string()
        } else {
            tags.join(", ")
        };
        eprintln!("{id} {}", render::clean(&names));
    }
    eprintln!(
        "wrote {} ({} image(s), {} member(s))",
        written.path.display(),
        written.images.len(),
        written.members.len()
    );
    Ok(ExitCode::SUCCESS)
}
