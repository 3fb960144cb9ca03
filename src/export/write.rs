//! Writing a planned export: one more pass over the input, copying the planned members into a
//! temporary tar beside the output, then the generated documents; the result is validated and
//! renamed into place.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read};
use std::path::{Path, PathBuf};

use crate::atomic::{AtomicFile, OutputError};
use crate::digest::HashingReader;
use crate::export::plan::{Out, Plan};
use crate::export::{io_err, ExportError};
use crate::model::Archive;
use crate::scan::tar::{self as tarread, Flow, Stopped, TarReader};
use crate::scan::Member;
use crate::{Limits, Severity};

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Written {
    /// The output file.
    pub path: PathBuf,
    /// The IDs of the images written, with their tags.
    pub images: Vec<(String, Vec<String>)>,
    /// The member paths written, in order.
    pub members: Vec<String>,
}

/// Header fields kept from the input.
#[derive(Clone, Copy)]
struct Meta {
    mode: u32,
    mtime: u64,
    uid: u64,
    gid: u64,
}

impl Meta {
    fn of(member: &Member, h: Option<&tarread::Header>) -> Meta {
        Meta {
            mode: h
                .and_then(|h| u32::try_from(h.mode & 0o7777).ok())
                .unwrap_or(member.mode),
            mtime: h.and_then(|h| u64::try_from(h.mtime).ok()).unwrap_or(0),
            uid: h.and_then(|h| u64::try_from(h.uid).ok()).unwrap_or(0),
            gid: h.and_then(|h| u64::try_from(h.gid).ok()).unwrap_or(0),
        }
    }
}

fn header(kind: tar::EntryType, meta: Meta, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(meta.mode);
    h.set_mtime(meta.mtime);
    h.set_uid(meta.uid);
    h.set_gid(meta.gid);
    h.set_size(size);
    h
}

struct Sink<W: io::Write> {
    tar: tar::Builder<W>,
    written: Vec<String>,
}

impl<W: io::Write> Sink<W> {
    /// Writes the outputs made from one input member; `content` is its body.
    fn emit(
        &mut self,
        member: &Member,
        meta: Meta,
        outs: &[Out],
        content: &mut dyn Read,
    ) -> Result<(), ExportError> {
        let mut body_used = false;
        for o in outs {
            match o {
                Out::Dir(p) => {
                    let mut h = header(tar::EntryType::Directory, meta, 0);
                    self.tar
                        .append_data(&mut h, format!("{p}/"), io::empty())
                        .map_err(io_err(format!("writing {p}/")))?;
                    self.written.push(p.clone());
                }
                Out::File(p) => {
                    if body_used {
                        return Err(ExportError::Incomplete(format!(
                            "{p:?}: one member's content planned twice"
                        )));
                    }
                    body_used = true;
                    // Documents were hashed by the first read; layers were not (see
                    // `export`): their bytes are judged by the validation of the output.
                    let want = member.digest.clone();
                    let mut h = header(tar::EntryType::Regular, meta, member.size);
                    let mut hashed = HashingReader::new(content.take(member.size));
                    self.tar
                        .append_data(&mut h, p, &mut hashed)
                        .map_err(io_err(format!("writing {p}")))?;
                    let (got, n) = hashed.finish();
                    if want.as_ref().is_some_and(|w| *w != got) || n != member.size {
                        let was = want.map_or_else(String::new, |w| format!(" with {w}"));
                        return Err(ExportError::InputChanged(format!(
                            "{} now has {n} bytes with digest {got}, the first read saw {} bytes{was}",
                            member.path.to_string_lossy(),
                            member.size
                        )));
                    }
                    self.written.push(p.clone());
                }
                Out::Symlink(p, target) | Out::Hardlink(p, target) => {
                    let kind = if matches!(o, Out::Symlink(..)) {
                        tar::EntryType::Symlink
                    } else {
                        tar::EntryType::Link
                    };
                    let mut h = header(
                        kind,
                        Meta {
                            mode: 0o777,
                            ..meta
                        },
                        0,
                    );
                    self.tar
                        .append_link(&mut h, p, target)
                        .map_err(io_err(format!("writing {p}")))?;
                    self.written.push(p.clone());
                }
            }
        }
        Ok(())
    }
}

/// Runs `f` on each planned input member with its tar header and content, in input order.
fn each_member(
    input: &Path,
    archive: &Archive,
    plan: &Plan,
    mut f: impl FnMut(
        &Member,
        Option<&tarread::Header>,
        &[Out],
        &mut dyn Read,
    ) -> Result<(), ExportError>,
) -> Result<(), ExportError> {
    if std::fs::metadata(input)
        .map_err(io_err(format!("reading {}", input.display())))?
        .is_dir()
    {
        for (&i, outs) in &plan.outputs {
            let Some(m) = archive.members.get(i) else {
                continue;
            };
            let path = input.join(crate::scan::dir::os_path(&m.name));
            let mut content: Box<dyn Read> = if m.is_file() {
                Box::new(BufReader::new(
                    File::open(&path).map_err(io_err(format!("reading {}", path.display())))?,
                ))
            } else {
                Box::new(io::empty())
            };
            f(m, None, outs, &mut content)?;
        }
        return Ok(());
    }
    let by_offset: BTreeMap<u64, usize> = plan
        .outputs
        .keys()
        .filter_map(|&i| Some((archive.members.get(i)?.offset?, i)))
        .collect();
    let file = File::open(input).map_err(io_err(format!("reading {}", input.display())))?;
    let mut raw = BufReader::with_capacity(1 << 20, file);
    let head = crate::compress::read_head(&mut raw, crate::compress::SNIFF_LEN)
        .map_err(io_err("reading the input"))?;
    let stream = io::Cursor::new(head.clone()).chain(raw);
    let limits = Limits::default();
    let decoded = crate::compress::decoder(crate::Compression::sniff(&head), stream, &limits);
    let mut reader = TarReader::new(
        tarread::Stream(decoded),
        crate::scan::layer::tar_limits(&limits),
    );
    let mut done = 0usize;
    let mut failed: Option<ExportError> = None;
    let stopped = tarread::walk(&mut reader, |h, body| {
        let Some(&i) = by_offset.get(&h.offset) else {
            return Ok(Flow::Next);
        };
        let (Some(m), Some(outs)) = (archive.members.get(i), plan.outputs.get(&i)) else {
            return Ok(Flow::Next);
        };
        if let Err(e) = f(m, Some(h), outs, body) {
            failed = Some(e);
            return Ok(Flow::Stop);
        }
        done = done.saturating_add(1);
        Ok(if done == by_offset.len() {
            Flow::Stop
        } else {
            Flow::Next
        })
    });
    if let Some(e) = failed {
        return Err(e);
    }
    match stopped {
        Stopped::End(_) | Stopped::Visitor => {}
        Stopped::Failed(e) | Stopped::Error(tarread::TarError::Source(e)) => {
            return Err(io_err("reading the input")(e))
        }
        Stopped::Error(e) => {
            return Err(ExportError::InputChanged(format!(
                "the input no longer reads to its end: {e:?}"
            )))
        }
    }
    if done != by_offset.len() {
        return Err(ExportError::InputChanged(format!(
            "{} planned member(s) were not found on the second read",
            by_offset.len().saturating_sub(done)
        )));
    }
    Ok(())
}

/// Writes `plan` (made from `archive`, read from `input`) to `output`: a temporary file in
/// the output's directory, validated, then renamed over `output`. Refuses to replace `input`,
/// and an output that exists and is not a regular file.
pub fn write(
    input: &Path,
    archive: &Archive,
    plan: &Plan,
    output: &Path,
) -> Result<Written, ExportError> {
    if input == Path::new("-") {
        return Err(ExportError::Stdin);
    }
    let mut out = AtomicFile::create(output, Some(input)).map_err(|e| match e {
        OutputError::SameAsInput(p) => ExportError::SameFile(p),
        OutputError::NotRegular(p) => ExportError::NotRegular(p),
        OutputError::Create(p, source) => ExportError::Io {
            context: format!("creating a temporary file beside {}", p.display()),
            source,
        },
    })?;
    let file = out
        .file()
        .try_clone()
        .map_err(io_err("opening the temporary output"))?;
    let mut sink = Sink {
        tar: tar::Builder::new(BufWriter::with_capacity(1 << 20, file)),
        written: Vec::new(),
    };
    sink.tar.mode(tar::HeaderMode::Complete);
    each_member(input, archive, plan, |m, h, outs, content| {
        sink.emit(m, Meta::of(m, h), outs, content)
    })?;
    for (p, bytes) in &plan.docs {
        let meta = Meta {
            mode: 0o644,
            mtime: 0,
            uid: 0,
            gid: 0,
        };
        let mut h = header(tar::EntryType::Regular, meta, bytes.len() as u64);
        sink.tar
            .append_data(&mut h, p, bytes.as_slice())
            .map_err(io_err(format!("writing {p}")))?;
        sink.written.push(p.clone());
    }
    let buffered = sink.tar.into_inner().map_err(io_err("finishing the tar"))?;
    let file = buffered.into_inner().map_err(|e| ExportError::Io {
        context: "flushing the output".to_string(),
        source: e.into_error(),
    })?;
    drop(file);
    let report = crate::Reader::new().open(out.path())?;
    let errors: Vec<crate::Finding> = report.findings_at_least(Severity::Error).cloned().collect();
    if !errors.is_empty() {
        return Err(ExportError::Invalid(errors));
    }
    out.commit()
        .map_err(io_err(format!("writing {}", output.display())))?;
    let images = plan
        .images
        .iter()
        .filter_map(|s| {
            let img = archive.images.get(s.image)?;
            Some((img.api_id(), s.tags.clone()))
        })
        .collect();
    Ok(Written {
        path: output.to_path_buf(),
        images,
        members: sink.written,
    })
}
