//! Writing an output file atomically: into a temporary file beside it, renamed over it when
//! complete, so that a failed write leaves nothing behind and an existing file is either
//! kept or replaced whole. An output that exists and is not a regular file (a device, a FIFO,
//! a directory) is refused rather than replaced.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// An output being written.
pub(crate) struct AtomicFile {
    tmp: tempfile::NamedTempFile,
    target: PathBuf,
}

/// Why an output cannot be written there.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OutputError {
    /// The output exists and is not a regular file.
    #[error("{} exists and is not a regular file; refusing to replace it", .0.display())]
    NotRegular(PathBuf),
    /// The output is the input.
    #[error("refusing to overwrite the input {}", .0.display())]
    SameAsInput(PathBuf),
    /// Creating or writing the temporary file failed.
    #[error("creating a temporary file beside {}", .0.display())]
    Create(PathBuf, #[source] io::Error),
}

impl AtomicFile {
    /// Starts writing `target` (refusing a non-regular existing target, and `input` itself
    /// when given).
    pub(crate) fn create(target: &Path, input: Option<&Path>) -> Result<AtomicFile, OutputError> {
        if let Ok(meta) = std::fs::metadata(target) {
            if !meta.is_file() {
                return Err(OutputError::NotRegular(target.to_path_buf()));
            }
        }
        if let Some(input) = input {
            if same_file(input, target) {
                return Err(OutputError::SameAsInput(target.to_path_buf()));
            }
        }
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "output".to_string());
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".imgtar.tmp")
            .tempfile_in(&dir)
            .map_err(|e| OutputError::Create(target.to_path_buf(), e))?;
        Ok(AtomicFile {
            tmp,
            target: target.to_path_buf(),
        })
    }

    /// The temporary file.
    pub(crate) fn file(&mut self) -> &mut File {
        self.tmp.as_file_mut()
    }

    /// The temporary file's path (to read back what was written).
    pub(crate) fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// Flushes, syncs and renames over the target. The target is checked again just before,
    /// so a non-regular file that appeared meanwhile is not replaced.
    pub(crate) fn commit(self) -> io::Result<()> {
        self.tmp.as_file().sync_all()?;
        if let Ok(meta) = std::fs::symlink_metadata(&self.target) {
            if !meta.is_file() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    OutputError::NotRegular(self.target.clone()),
                ));
            }
        }
        self.tmp
            .persist(&self.target)
            .map(|_| ())
            .map_err(|e| e.error)
    }
}

/// Whether two paths name the same file.
pub(crate) fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) if x == y => return true,
        _ => {}
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return x.dev() == y.dev() && x.ino() == y.ino();
        }
    }
    false
}
