//! File-system helpers.

use std::io::Write;
use std::path::Path;

use crate::Error;

/// Writes `bytes` to `path` through a temporary file in the same directory and a
/// rename, so a failed run never leaves a half-written file.
///
/// - A file whose permissions say read-only is refused (also for root, whom the
///   rename would otherwise let replace it).
/// - A symbolic link is written through: its target is replaced, not the link.
/// - Something that is not a regular file (`/dev/stdout`, a named pipe) is written
///   to directly: renaming over it would replace a device or a pipe by a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let err = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    let target = match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => {
            return Err(err(std::io::Error::new(
                std::io::ErrorKind::IsADirectory,
                "it is a directory",
            )));
        }
        Ok(meta) if !meta.is_file() => {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(err)?;
            return f.write_all(bytes).and_then(|_| f.flush()).map_err(err);
        }
        Ok(meta) if meta.permissions().readonly() => {
            return Err(err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "the file is read-only",
            )));
        }
        Ok(_) => std::fs::canonicalize(path).map_err(err)?,
        Err(_) => path.to_path_buf(),
    };
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(err)?;
    tmp.write_all(bytes).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(&target).map_err(|e| err(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn replaces_a_file_and_writes_through_a_symlink() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("real.json");
        std::fs::write(&real, "old").unwrap();
        write_atomic(&real, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "new");

        let link = tmp.path().join("link.json");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write_atomic(&link, b"via link").unwrap();
        assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "via link");
    }

    #[test]
    fn refuses_a_read_only_file_and_a_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let ro = tmp.path().join("ro.json");
        std::fs::write(&ro, "keep").unwrap();
        let mut perms = std::fs::metadata(&ro).unwrap().permissions();
        perms.set_readonly(true);
        std::fs::set_permissions(&ro, perms).unwrap();
        let e = write_atomic(&ro, b"new").unwrap_err();
        assert!(format!("{e:?}").contains("read-only"), "{e:?}");
        assert_eq!(std::fs::read_to_string(&ro).unwrap(), "keep");

        assert!(write_atomic(tmp.path(), b"x").is_err());
        let names: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file is left behind");
    }
}
