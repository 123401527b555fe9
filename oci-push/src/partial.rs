//! The partial file a blob is downloaded into, resumable by a later pull.

use std::io::{Read as _, Seek as _, Write as _};

use crate::Error;
use crate::digest::Verifier;
use crate::spec::Descriptor;

/// Bytes buffered before each write of a downloaded blob.
pub(crate) const WRITE_BUFFER: usize = 256 * 1024;

/// The file a blob is downloaded into: `.partial-HEX` beside the blobs, locked while a pull
/// writes it (another process pulling the same blob then uses a private temporary file).
/// Deleted on drop unless `keep`: it is kept when the network failed (a later pull resumes
/// from it) and, renamed, when the blob is complete; content that is refused goes.
pub(crate) struct PartialGuard {
    pub(crate) path: std::path::PathBuf,
    /// Whether a later pull can find it (not a private temporary file).
    pub(crate) resumable: bool,
    pub(crate) keep: bool,
}

impl Drop for PartialGuard {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Opens (or creates) the partial download of `blob` in `dir` and takes up what an earlier
/// pull left there: its bytes are hashed again (a hash state cannot be saved), and the
/// download goes on after them.
pub(crate) fn open_partial(
    dir: &std::path::Path,
    blob: &Descriptor,
    what: String,
) -> Result<(Partial, PartialGuard), Error> {
    let path = dir.join(format!(".partial-{}", blob.digest.hex()));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(Error::io("open", &path))?;
    // Locked, and still the file at `path` (a pull that just finished renames it away).
    let ours = file.try_lock().is_ok() && same_file(&file, &path);
    let (mut file, guard) = match ours {
        true => (
            file,
            PartialGuard {
                path,
                resumable: true,
                keep: false,
            },
        ),
        false => {
            // Another pull is writing this blob's partial file: work apart from it.
            drop(file);
            let (file, temp) = tempfile::Builder::new()
                .prefix(".partial-")
                .tempfile_in(dir)
                .map_err(Error::io("create a temporary file in", dir))?
                .into_parts();
            let path = temp.keep().map_err(|e| Error::io("keep", dir)(e.error))?;
            let guard = PartialGuard {
                path,
                resumable: false,
                keep: false,
            };
            (file, guard)
        }
    };
    let io = |action| Error::io(action, guard.path.clone());
    let mut verifier = Verifier::new(what, &blob.digest, blob.size);
    let mut written = file.metadata().map_err(io("read the metadata of"))?.len();
    if written > blob.size {
        file.set_len(0).map_err(io("truncate"))?;
        written = 0;
    }
    if written > 0 {
        let mut buffer = vec![0u8; WRITE_BUFFER];
        let mut left = written;
        file.seek(std::io::SeekFrom::Start(0)).map_err(io("read"))?;
        while left > 0 {
            let want = (left as usize).min(buffer.len());
            file.read_exact(&mut buffer[..want]).map_err(io("read"))?;
            verifier.update(&buffer[..want])?;
            left -= want as u64;
        }
    }
    file.seek(std::io::SeekFrom::Start(written))
        .map_err(io("seek in"))?;
    let partial = Partial {
        file: std::io::BufWriter::with_capacity(WRITE_BUFFER, file),
        path: guard.path.clone(),
        verifier,
        written,
    };
    Ok((partial, guard))
}

/// Whether `file` is the file `path` names now.
fn same_file(file: &std::fs::File, path: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// A blob being downloaded: its partial file, the running hash, and the bytes written.
pub(crate) struct Partial {
    pub(crate) file: std::io::BufWriter<std::fs::File>,
    pub(crate) path: std::path::PathBuf,
    pub(crate) verifier: Verifier,
    pub(crate) written: u64,
}

impl Partial {
    /// Empties the file and the hash, for a registry that answers a range with the whole blob.
    pub(crate) fn restart(mut self) -> Result<Partial, Error> {
        let emptied = self.file.flush().and_then(|()| {
            let file = self.file.get_mut();
            file.set_len(0)?;
            file.seek(std::io::SeekFrom::Start(0)).map(drop)
        });
        emptied.map_err(Error::io("truncate", self.path.clone()))?;
        self.verifier = self.verifier.restart();
        self.written = 0;
        Ok(self)
    }
}
