//! Reading a file whole, with bounds: every file migverify reads into memory
//! (migrations, models, `migverify.toml`, `pyproject.toml`, `alembic.ini`, rule
//! files, snapshots) comes from the repository, so a pull request can make it a
//! named pipe (reading blocks forever), a symlink to `/dev/zero` (reading never
//! ends) or simply enormous. [`read`] reads only regular files, and at most a
//! limit; beyond it the error says how large the file is and what the limit is.

use std::io::{self, Read};
use std::path::Path;

const MIB: u64 = 1024 * 1024;

/// Configuration files: `migverify.toml`, `pyproject.toml`, `alembic.ini`, query
/// rule files (`.toml`, `.scm`). Real ones are a few kilobytes.
pub const CONFIG_LIMIT: u64 = 8 * MIB;

/// Database snapshot files (`migverify snapshot -o`): a JSON description of the
/// schema, tens of kilobytes for hundreds of tables.
pub const SNAPSHOT_LIMIT: u64 = 256 * MIB;

/// The default per-file limit for Python files (migrations, models, `migverify
/// tree`): `[migrations] max_file_size` changes it for migrations.
pub const DEFAULT_SOURCE_LIMIT: u64 = 16 * MIB;

/// `1.5 MiB`, `16 MiB`, `812 bytes`: a size for messages.
pub fn describe_size(bytes: u64) -> String {
    if bytes >= 1024 * MIB && bytes.is_multiple_of(1024 * MIB) {
        format!("{} GiB", bytes / (1024 * MIB))
    } else if bytes >= MIB {
        let tenths = bytes * 10 / MIB;
        if tenths.is_multiple_of(10) {
            format!("{} MiB", tenths / 10)
        } else {
            format!("{}.{} MiB", tenths / 10, tenths % 10)
        }
    } else if bytes >= 1024 {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

/// The error for a file of `size` bytes (`None`: unknown, more than `limit`).
pub fn too_large(size: Option<u64>, limit: u64, what: &str) -> io::Error {
    let size = match size {
        Some(s) => format!("it is {}", describe_size(s)),
        None => "it is larger".to_string(),
    };
    io::Error::new(
        io::ErrorKind::FileTooLarge,
        format!(
            "too large: {size}, over the limit of {} for {what}",
            describe_size(limit)
        ),
    )
}

fn kind_of(t: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a named pipe";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

/// Opens `path` for reading without blocking on a named pipe (the pipe is then
/// refused as not a regular file, never read).
fn open(path: &Path) -> io::Result<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NONBLOCK);
    }
    opts.open(path)
}

/// The bytes of `path` (symlinks followed), when it is a regular file of at most
/// `limit` bytes; `what` names the limit in the error ("a migration file").
pub fn read(path: &Path, limit: u64, what: &str) -> io::Result<Vec<u8>> {
    let file = open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: only regular files are read", kind_of(meta.file_type())),
        ));
    }
    if meta.len() > limit {
        return Err(too_large(Some(meta.len()), limit, what));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // The size may change between the stat and the read: read one byte past the
    // limit at most.
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(None, limit, what));
    }
    Ok(bytes)
}

/// [`read`], as UTF-8 text.
pub fn read_to_string(path: &Path, limit: u64, what: &str) -> io::Result<String> {
    String::from_utf8(read(path, limit, what)?).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_within_the_limit_are_read() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("a.toml");
        std::fs::write(&f, "x = 1\n").unwrap();
        assert_eq!(read(&f, 6, "a test").unwrap(), b"x = 1\n");
        let err = read(&f, 5, "a test").unwrap_err();
        assert_eq!(
            err.to_string(),
            "too large: it is 6 bytes, over the limit of 5 bytes for a test"
        );
        assert_eq!(read_to_string(&f, 100, "t").unwrap(), "x = 1\n");
    }

    #[cfg(unix)]
    #[test]
    fn devices_pipes_and_directories_are_refused_without_reading() {
        let tmp = tempfile::tempdir().unwrap();
        let err = read(Path::new("/dev/zero"), u64::MAX, "t").unwrap_err();
        assert!(err.to_string().starts_with("a character device"), "{err}");
        let link = tmp.path().join("zero.toml");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        let err = read(&link, u64::MAX, "t").unwrap_err();
        assert!(err.to_string().starts_with("a character device"), "{err}");
        let fifo = tmp.path().join("fifo.toml");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        let err = read(&fifo, u64::MAX, "t").unwrap_err();
        assert!(err.to_string().starts_with("a named pipe"), "{err}");
        let err = read(tmp.path(), u64::MAX, "t").unwrap_err();
        assert!(err.to_string().contains("directory"), "{err}");
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(describe_size(812), "812 bytes");
        assert_eq!(describe_size(16 * MIB), "16 MiB");
        assert_eq!(describe_size(MIB * 3 / 2), "1.5 MiB");
        assert_eq!(describe_size(2048), "2 KiB");
        assert_eq!(describe_size(1 << 30), "1 GiB");
    }
}
