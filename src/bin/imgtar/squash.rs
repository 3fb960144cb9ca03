use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use imgtar::layer::content;

use crate::layers::{self, Replay, Target};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    target: Target,
    /// Where to write the flattened filesystem as a tar. Written to a temporary file in the
    /// same directory, then renamed.
    #[arg(short, long, value_name = "ROOTFS.TAR")]
    output: PathBuf,
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Writes the flattened filesystem of an image as one tar.
pub fn run(args: Args) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let input = &args.target.input.path;
    if same_file(input, &args.output) || args.output.is_dir() {
        return Err(format!(
            "refusing to write to {}: it is the input or a directory",
            args.output.display()
        )
        .into());
    }
    let replay = Replay::check(input, "squash")?;
    let report = layers::read(input)?;
    let (image, flat) = layers::load(&report, args.target.image.as_deref(), &args.target.rules)?;
    let dir = match args.output.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".imgtar-squash-")
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(|e| format!("cannot create a temporary file in {}: {e}", dir.display()))?;
    let (source, pb) = replay.open("squashing")?;
    let result = content::squash(
        source,
        &report.archive,
        image,
        &flat.fs,
        BufWriter::with_capacity(1 << 20, tmp.as_file()),
    );
    pb.finish_and_clear();
    let summary = result?;
    // The temporary file is private (0600); the result is an ordinary file.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(&args.output)
        .map_err(|e| format!("cannot rename to {}: {}", args.output.display(), e.error))?;
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
