//! Artifacts held in sealed memory files.
//!
//! A scanner that hands an artifact to another process on this machine —
//! clamd, reached over its Unix socket — can pass a file descriptor
//! instead of the bytes. If the artifact sits in a `Vec`, that still costs
//! a copy into a memory file first: every byte copied twice (download,
//! then memory file) before clamd reads it once, and on two cores that is
//! what kept the clamav engine below clamd's own rate (docs/BENCHMARKS.md).
//! So when a scanner asks for it ([`Scanner::wants_memory_file`]), the
//! runtime downloads the artifact straight into an anonymous memory file
//! (`memfd_create`), seals it against every change, and maps it: the
//! artifact's `content` is the mapping and its [`Artifact::file`] the
//! descriptor — one copy, shared by both.
//!
//! The seals (`F_SEAL_WRITE`, `F_SEAL_SHRINK`, `F_SEAL_GROW`,
//! `F_SEAL_SEAL`) are what make the mapping sound: once they are set no
//! process holding the descriptor, clamd included, can change or truncate
//! the file, so the mapped bytes are as immutable as any `Bytes`.
//!
//! [`Scanner::wants_memory_file`]: crate::scanner::Scanner::wants_memory_file
//! [`Artifact::file`]: crate::scanner::Artifact::file

use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;

use bytes::Bytes;
use rustix::fs::{fcntl_add_seals, memfd_create, MemfdFlags, SealFlags};

/// The memory files' name, as `/proc/PID/fd` and clamd's log show it.
const NAME: &str = "swarm-artifact";

/// An artifact's bytes in a sealed memory file: cheap to clone, and the
/// descriptor to pass to another process ([`AsFd`]). The same bytes as the
/// artifact's `content`, which maps this file. Its offset starts at 0 and
/// is shared by every copy of the descriptor: read it with positioned
/// reads (`pread`, a mapping), as clamd does.
#[derive(Clone, Debug)]
pub struct ArtifactFile {
    file: Arc<File>,
    len: u64,
}

impl ArtifactFile {
    /// Its size in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether it holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copies everything `reader` yields into a new sealed memory file:
    /// the bytes, mapped, and the file. From a `File` the copy is the
    /// kernel's (`copy_file_range` or `sendfile`), never through a buffer
    /// of this process.
    pub fn read_from(reader: &mut impl Read) -> io::Result<(Bytes, ArtifactFile)> {
        let mut writer = MemoryFileWriter::create()?;
        io::copy(reader, &mut writer.file)?;
        writer.finish()
    }
}

impl AsFd for ArtifactFile {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

/// A memory file being filled (a download, a piece at a time), then
/// sealed and mapped by [`MemoryFileWriter::finish`].
#[derive(Debug)]
pub(crate) struct MemoryFileWriter {
    file: File,
}

impl MemoryFileWriter {
    /// An empty memory file that may be sealed.
    pub(crate) fn create() -> io::Result<Self> {
        let fd = memfd_create(NAME, MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)?;
        Ok(MemoryFileWriter {
            file: File::from(fd),
        })
    }

    /// Appends `bytes`.
    pub(crate) fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes)
    }

    /// Seals the file against any change and maps it: (its bytes, the
    /// file).
    pub(crate) fn finish(self) -> io::Result<(Bytes, ArtifactFile)> {
        let mut file = self.file;
        // Back to the start for whoever reads the descriptor.
        file.rewind()?;
        fcntl_add_seals(
            &file,
            SealFlags::WRITE | SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL,
        )?;
        let len = file.metadata()?.len();
        let content = if len == 0 {
            // A zero-length mapping is an error; there is nothing to map.
            Bytes::new()
        } else {
            Bytes::from_owner(map_sealed(&file)?)
        };
        Ok((
            content,
            ArtifactFile {
                file: Arc::new(file),
                len,
            },
        ))
    }
}

/// Maps a memory file that [`MemoryFileWriter::finish`] sealed.
#[allow(unsafe_code)]
fn map_sealed(file: &File) -> io::Result<memmap2::Mmap> {
    // SAFETY: a mapping is only unsound if the file changes or shrinks
    // while it is mapped. `file` is a memory file sealed with
    // F_SEAL_WRITE, F_SEAL_SHRINK, F_SEAL_GROW and F_SEAL_SEAL before this
    // call (the caller's `fcntl_add_seals` succeeded): the kernel refuses
    // every write, truncation and new seal-removal to anyone holding it.
    unsafe { memmap2::Mmap::map(file) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_memory_file_holds_what_was_written_and_refuses_any_change() {
        let mut w = MemoryFileWriter::create().unwrap();
        w.write(b"X5O!P%@AP").unwrap();
        w.write(b"[4\\PZX54").unwrap();
        let (content, file) = w.finish().unwrap();
        assert_eq!(&content[..], b"X5O!P%@AP[4\\PZX54");
        assert_eq!(file.len(), 17);
        // Another handle on the same descriptor cannot write or truncate.
        let mut other = File::from(file.as_fd().try_clone_to_owned().unwrap());
        assert!(other.write_all(b"changed").is_err());
        assert!(other.set_len(0).is_err());
        assert_eq!(&content[..], b"X5O!P%@AP[4\\PZX54");
    }

    #[test]
    fn an_empty_artifact_is_an_empty_memory_file() {
        let (content, file) = ArtifactFile::read_from(&mut io::empty()).unwrap();
        assert!(content.is_empty());
        assert!(file.is_empty());
    }

    #[test]
    fn a_file_is_copied_whole_into_a_memory_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sample");
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let (content, file) = ArtifactFile::read_from(&mut File::open(&path).unwrap()).unwrap();
        assert_eq!(file.len(), data.len() as u64);
        assert_eq!(&content[..], &data[..]);
    }
}
