//! Writes a realistic synthetic `docker save` tarball of a chosen size (the generator of
//! `benches/gen/mod.rs`, which the benches use too).
//!
//! ```sh
//! cargo run --release --example make-image -- -o big.tar --size-mib 2048 --layers 8 \
//!     --files-per-layer 3000 --format legacy --seed 1
//! ```
//!
//! Options:
//!
//! ```text
//! -o, --output PATH        output tarball (required)
//! --size-mib N             total uncompressed layer bytes, MiB (default 200; may be fractional)
//! --layers N               number of layers (default 6)
//! --files-per-layer N      average entries per layer (default 3000; counts vary 0.5-1.5x)
//! --format F               legacy | docker25 | oci (default legacy)
//! --gzip-layers            store layers gzip-compressed (--gzip-level, default 6)
//! --zstd-layers            store layers zstd-compressed (--zstd-level, default 3)
//! --seed N                 same options and seed, same bytes (default 1)
//! --tag NAME[:TAG]         image name (default synthetic/app:latest)
//! --pool-mib N             size of the seeded content pool (default 32)
//! --tmpdir DIR             where layer temporary files go (default: beside the output)
//! --summary PATH|-         write a JSON summary (digests, counts per layer)
//! -q, --quiet              no progress lines on standard error
//! ```
//!
//! `--size-mib` is the total size of the uncompressed layer tars: without compressed layers
//! the output is that size plus a few KiB of metadata. Peak disk use is about twice that
//! (layers go to temporary files beside the output first); memory is bounded by metadata and
//! the content pool.

// A development tool, not the library: plain arithmetic and indexing on sizes it chose itself.
#![allow(
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

// Shared with the benches, which use other parts of it.
#[allow(dead_code)]
#[path = "../benches/gen/mod.rs"]
mod imggen;

#[cfg(test)]
#[path = "../benches/gen/tests.rs"]
mod tests;

use std::path::PathBuf;
use std::process::ExitCode;

use imggen::{Format, LayerCompression, Options};

const USAGE: &str = "usage: make-image -o OUT.tar [--size-mib N] [--layers N] \
[--files-per-layer N] [--format legacy|docker25|oci] [--gzip-layers [--gzip-level N] | \
--zstd-layers [--zstd-level N]] [--seed N] [--tag NAME[:TAG]] [--pool-mib N] [--tmpdir DIR] \
[--summary PATH|-] [-q]";

fn parse(args: Vec<String>) -> Result<(Options, Option<String>), String> {
    let mut o = Options {
        progress: true,
        ..Options::default()
    };
    let mut output = None;
    let mut summary = None;
    let (mut gzip, mut zstd) = (false, false);
    let (mut gzip_level, mut zstd_level) = (6u32, 3i32);
    let mut it = args.into_iter();
    fn num<T: std::str::FromStr>(flag: &str, v: Option<String>) -> Result<T, String> {
        let v = v.ok_or_else(|| format!("{flag} needs a value"))?;
        v.parse()
            .map_err(|_| format!("{flag}: not a number: {v:?}"))
    }
    while let Some(a) = it.next() {
        // --flag=value as well as --flag value
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        let mut value = || inline.clone().or_else(|| it.next());
        match flag.as_str() {
            "-o" | "--output" => output = Some(PathBuf::from(value().ok_or("-o needs a path")?)),
            "--size-mib" => o.size_mib = num(&flag, value())?,
            "--layers" => o.layers = num(&flag, value())?,
            "--files-per-layer" => o.files_per_layer = num(&flag, value())?,
            "--format" => {
                let v = value().ok_or("--format needs a value")?;
                o.format = Format::parse(&v).ok_or_else(|| format!("unknown format {v:?}"))?;
            }
            "--gzip-layers" => gzip = true,
            "--zstd-layers" => zstd = true,
            "--gzip-level" => gzip_level = num(&flag, value())?,
            "--zstd-level" => zstd_level = num(&flag, value())?,
            "--seed" => o.seed = num(&flag, value())?,
            "--tag" => o.tag = value().ok_or("--tag needs a value")?,
            "--pool-mib" => o.pool_mib = num(&flag, value())?,
            "--tmpdir" => o.tmpdir = Some(PathBuf::from(value().ok_or("--tmpdir needs a dir")?)),
            "--summary" => summary = Some(value().ok_or("--summary needs a path or -")?),
            "-q" | "--quiet" => o.progress = false,
            "-h" | "--help" => return Err(String::new()),
            _ => return Err(format!("unknown argument {a:?}")),
        }
    }
    o.output = output.ok_or("-o OUT.tar is required")?;
    if o.layers < 1 {
        return Err("--layers must be >= 1".into());
    }
    if gzip_level > 9 {
        return Err("--gzip-level is 0-9".into());
    }
    o.compression = match (gzip, zstd) {
        (true, true) => return Err("--gzip-layers or --zstd-layers, not both".into()),
        (true, false) => LayerCompression::Gzip(gzip_level),
        (false, true) => LayerCompression::Zstd(zstd_level),
        (false, false) => LayerCompression::None,
    };
    Ok((o, summary))
}

fn main() -> ExitCode {
    let (o, summary) = match parse(std::env::args().skip(1).collect()) {
        Ok(v) => v,
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("make-image: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let s = match imggen::generate(&o) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("make-image: {}: {e}", o.output.display());
            return ExitCode::FAILURE;
        }
    };
    if let Some(path) = summary {
        let text = serde_json::to_string_pretty(&s.to_json()).unwrap_or_default();
        if path == "-" {
            println!("{text}");
        } else if let Err(e) = std::fs::write(&path, text + "\n") {
            eprintln!("make-image: {path}: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
