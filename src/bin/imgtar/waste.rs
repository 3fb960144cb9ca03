use std::io::Write;
use std::process::ExitCode;

use imgtar::layer::waste;

use crate::args::{self, Output, Target};
use crate::{render, Failure};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    output: Output,
}

/// Wasted space as dive reports it, plus the bytes the final filesystem no longer shows.
pub fn run(args: Args) -> crate::Outcome {
    let (_, report, n, _) = args::flatten(&args.target)?;
    let image = report
        .archive
        .images
        .get(n)
        .ok_or_else(|| Failure::NoSuchImage(String::new()))?;
    let w = waste::waste_image(&report.archive, image)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if args.output.json() {
        render::write_json(&mut out, &w)?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(out, "efficiency:   {:.4} %", w.efficiency * 100.0)?;
    writeln!(
        out,
        "wasted:       {} bytes ({:.4} % of the {} bytes above the first layer)",
        w.wasted_bytes,
        w.wasted_user_ratio * 100.0,
        w.user_size_bytes
    )?;
    writeln!(out, "image size:   {} bytes", w.size_bytes)?;
    writeln!(
        out,
        "hidden bytes: {} (deleted or overwritten by a later entry)",
        w.hidden_bytes
    )?;
    if !w.aborted_layers.is_empty() {
        writeln!(
            out,
            "note: dive stops counting layer(s) {:?} at a whiteout of an absent path; so does this report",
            w.aborted_layers
        )?;
    }
    if !w.files.is_empty() {
        writeln!(out, "{:>6} {:>12}  path", "count", "bytes")?;
    }
    for f in &w.files {
        write!(out, "{:>6} {:>12}  ", f.count, f.bytes)?;
        render::write_path(&mut out, &f.path)?;
        writeln!(out)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
