//! Arbitrary members wrapped in a valid outer tar, so the fuzzer spends its time on the
//! archive's contents (names, links, documents, layers) rather than on tar headers.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};

#[derive(Arbitrary, Debug)]
enum Kind {
    File(Vec<u8>),
    Dir,
    Symlink(String),
    Hardlink(String),
    /// A layer tar of the given entries.
    Layer(Vec<(String, Vec<u8>)>),
}

#[derive(Arbitrary, Debug)]
struct Member {
    name: String,
    kind: Kind,
}

const NAMES: [&str; 8] = [
    "manifest.json",
    "repositories",
    "index.json",
    "oci-layout",
    "a/layer.tar",
    "a/json",
    "a/VERSION",
    "blobs/sha256/0000000000000000000000000000000000000000000000000000000000000000",
];

fn tar_of(members: &[Member]) -> std::io::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    for (i, m) in members.iter().enumerate() {
        // Often reuse the names the reader looks for.
        let name = if m.name.len() < 2 { NAMES[i % NAMES.len()].to_string() } else { m.name.clone() };
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        match &m.kind {
            Kind::File(data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, &name, &data[..])?;
            }
            Kind::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                b.append_data(&mut h, &name, &[][..])?;
            }
            Kind::Symlink(t) | Kind::Hardlink(t) => {
                h.set_entry_type(if matches!(m.kind, Kind::Symlink(_)) {
                    tar::EntryType::Symlink
                } else {
                    tar::EntryType::Link
                });
                h.set_size(0);
                b.append_link(&mut h, &name, t)?;
            }
            Kind::Layer(entries) => {
                let mut lb = tar::Builder::new(Vec::new());
                for (p, d) in entries {
                    let mut lh = tar::Header::new_gnu();
                    lh.set_mode(0o644);
                    lh.set_size(d.len() as u64);
                    lb.append_data(&mut lh, p, &d[..])?;
                }
                let data = lb.into_inner()?;
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, &name, &data[..])?;
            }
        }
    }
    b.into_inner()
}

libfuzzer_sys::fuzz_target!(|members: Vec<Member>| {
    if let Ok(bytes) = tar_of(&members) {
        imgtar::fuzzing::read(&bytes);
    }
});
