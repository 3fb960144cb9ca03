use std::io::Write;
use std::process::ExitCode;

use imgtar::Reader;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    input: crate::Input,
}

/// A first JSON summary: one object per image with its ID, tags, platform, config fields
/// and layers.
pub fn run(args: Args) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let report = Reader::new().metadata_only(true).open(&args.input.path)?;
    let images: Vec<_> = report
        .archive
        .images
        .iter()
        .map(|i| {
            serde_json::json!({
                "Id": i.id,
                "RepoTags": i.repo_tags,
                "Parent": i.parent.clone().unwrap_or_default(),
                "Created": i.config.as_ref().and_then(|c| c.created.clone()),
                "Architecture": i.platform.as_ref().map(|p| p.architecture.clone()),
                "Os": i.platform.as_ref().map(|p| p.os.clone()),
                "Variant": i.platform.as_ref().and_then(|p| p.variant.clone()),
                "Size": i.layers.iter().filter_map(|l| l.uncompressed_size).sum::<u64>(),
                "RootFS": {
                    "Type": i.config.as_ref().and_then(|c| c.rootfs_type.clone()),
                    "Layers": i.config.as_ref().map(|c| c.diff_ids.clone()).unwrap_or_default(),
                },
            })
        })
        .collect();
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &images)?;
    writeln!(out)?;
    Ok(ExitCode::SUCCESS)
}
