//! Prints every file a later layer deleted or replaced: what a secret scanner looks at, since
//! the bytes stay in the image even though the final filesystem no longer shows them. Reads
//! the archive from a path or standard input (`-`), in one pass, and prints each such file
//! with its size, its sha256, the layer that held it and the layer that hid it.
//!
//! Usage: `deleted PATH|- [IMAGE]`.

use std::io::Read;
use std::process::ExitCode;

use imgtar::layer::{files, FilesOptions, Scope};
use imgtar::{Digest, Input, Reader};

fn sha256(r: &mut dyn Read) -> std::io::Result<Digest> {
    let mut h = Digest::hasher();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match r.read(&mut buf)? {
            0 => return Ok(h.finish()),
            n => h.update(buf.get(..n).unwrap_or_default()),
        }
    }
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: deleted PATH|- [IMAGE]");
        return ExitCode::from(2);
    };
    let image = args.next();
    let input = match Input::of(&path) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("deleted: {e}");
            return ExitCode::from(2);
        }
    };
    let options = FilesOptions::new(Scope::AllLayers).image(image.as_deref());
    let out = match files(&Reader::new(), &input, options, |_, content| {
        sha256(content)
    }) {
        Ok(out) => out,
        Err(e) => {
            eprintln!("deleted: {e}");
            return ExitCode::from(2);
        }
    };
    for f in out.files.iter().filter(|f| f.hidden_by.is_some()) {
        println!(
            "{} {:>10} {} layer {} hidden by layer {}",
            f.value.hex(),
            f.entry.size,
            f.path,
            f.layer,
            f.hidden_by.unwrap_or_default()
        );
    }
    ExitCode::SUCCESS
}
