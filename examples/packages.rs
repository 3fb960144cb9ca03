//! A small scanner: reads an image archive from standard input (`docker save img | cargo run
//! --example packages`) and prints the OS package databases its final filesystem holds, with
//! their package counts. One pass over the pipe; only the databases' content is kept.
//!
//! Usage: `packages [IMAGE] < image.tar` (IMAGE: a tag or ID prefix, needed when the archive
//! holds several images).

use std::io::Read;
use std::process::ExitCode;

use imgtar::layer::{files, FilesOptions, Scope};
use imgtar::{Input, Reader};

/// The package databases this scanner knows, by path in the image.
const DATABASES: [(&str, &str); 5] = [
    ("var/lib/dpkg/status", "dpkg"),
    ("lib/apk/db/installed", "apk"),
    ("var/lib/rpm/rpmdb.sqlite", "rpm (sqlite)"),
    ("var/lib/rpm/Packages.db", "rpm (ndb)"),
    ("var/lib/rpm/Packages", "rpm (bdb)"),
];

/// What the scanner keeps of one file: nothing for files it does not read.
#[derive(Clone)]
enum Found {
    Skipped,
    Database {
        kind: &'static str,
        /// Packages counted (`None` for binary databases).
        packages: Option<usize>,
        bytes: u64,
    },
}

/// Packages in a dpkg `status` file (stanzas with a `Package:` field) or an apk `installed`
/// file (stanzas with a `P:` field).
fn count(kind: &str, text: &str) -> Option<usize> {
    let key = match kind {
        "dpkg" => "Package:",
        "apk" => "P:",
        _ => return None,
    };
    Some(text.lines().filter(|l| l.starts_with(key)).count())
}

fn main() -> ExitCode {
    let image = std::env::args().nth(1);
    let options = FilesOptions::new(Scope::Squashed).image(image.as_deref());
    let result = files(&Reader::new(), &Input::Stdin, options, |meta, content| {
        let path = meta.entry.path.as_bytes();
        let Some((_, kind)) = DATABASES.iter().find(|(p, _)| p.as_bytes() == path) else {
            return Ok(Found::Skipped);
        };
        let mut bytes = Vec::new();
        // A package database of more than 256 MiB is not one this scanner reads.
        content.take(256 << 20).read_to_end(&mut bytes)?;
        Ok(Found::Database {
            kind,
            packages: count(kind, &String::from_utf8_lossy(&bytes)),
            bytes: bytes.len() as u64,
        })
    });
    let out = match result {
        Ok(out) => out,
        Err(e) => {
            eprintln!("packages: {e}");
            return ExitCode::from(2);
        }
    };
    if !out.report.is_valid() {
        eprintln!("packages: warning: the archive does not validate (`imgtar validate` says why)");
    }
    let mut any = false;
    for f in &out.files {
        if let Found::Database {
            kind,
            packages,
            bytes,
        } = &f.value
        {
            any = true;
            match packages {
                Some(n) => println!("{} {kind}: {n} packages (layer {})", f.path, f.layer),
                None => println!(
                    "{} {kind}: {bytes} bytes (layer {}; counting needs rpm)",
                    f.path, f.layer
                ),
            }
        }
    }
    if !any {
        println!("no package database found");
    }
    ExitCode::SUCCESS
}
