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
    // Created as any new file is (0666 less the umask), not tempfile's 0600; a
    // file that exists keeps its mode.
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder.tempfile_in(dir).map_err(err)?;
    let _guard = remove_on_signal(tmp.path());
    if let Ok(existing) = std::fs::metadata(&target) {
        tmp.as_file()
            .set_permissions(existing.permissions())
            .map_err(err)?;
    }
    tmp.write_all(bytes).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(&target).map_err(|e| err(e.error))?;
    Ok(())
}

/// While the guard lives, `path` (a temporary file being written) is removed if
/// the process is interrupted (SIGINT, SIGTERM, SIGHUP), before the signal
/// takes its default course: an interrupted run leaves no `.tmpXXXXXX` file.
pub fn remove_on_signal(path: &Path) -> TempGuard {
    #[cfg(unix)]
    {
        signals::register(path)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        TempGuard { slot: None }
    }
}

/// See [`remove_on_signal`].
pub struct TempGuard {
    slot: Option<usize>,
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(slot) = self.slot {
            signals::unregister(slot);
        }
        #[cfg(not(unix))]
        let _ = self.slot;
    }
}

#[cfg(unix)]
mod signals {
    //! The paths of temporary files being written, in slots a signal handler can
    //! read without locking or allocating (async-signal-safe: `unlink`,
    //! `signal`, `raise`). A path's C string is leaked on purpose: the handler may
    //! still be reading it when the guard is dropped.
    use std::ffi::CString;
    use std::path::Path;
    use std::sync::Once;
    use std::sync::atomic::{AtomicPtr, Ordering};

    use super::TempGuard;

    const SLOTS: usize = 64;
    static PATHS: [AtomicPtr<libc::c_char>; SLOTS] =
        [const { AtomicPtr::new(std::ptr::null_mut()) }; SLOTS];
    static INSTALL: Once = Once::new();
    const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

    extern "C" fn handler(sig: libc::c_int) {
        for slot in &PATHS {
            let p = slot.swap(std::ptr::null_mut(), Ordering::SeqCst);
            if !p.is_null() {
                // SAFETY: `p` is a leaked, NUL-terminated CString.
                unsafe { libc::unlink(p) };
            }
        }
        // SAFETY: restoring the default action and raising the signal again ends
        // the process as the signal would have.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
            libc::raise(sig);
        }
    }

    pub(super) fn register(path: &Path) -> TempGuard {
        use std::os::unix::ffi::OsStrExt;
        INSTALL.call_once(|| {
            for sig in SIGNALS {
                // SAFETY: installing a handler that only calls async-signal-safe
                // functions; a signal the parent ignores stays ignored.
                unsafe {
                    let old = libc::signal(sig, handler as *const () as libc::sighandler_t);
                    if old == libc::SIG_IGN {
                        libc::signal(sig, libc::SIG_IGN);
                    }
                }
            }
        });
        let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
            return TempGuard { slot: None };
        };
        let ptr = c.into_raw();
        for (i, slot) in PATHS.iter().enumerate() {
            if slot
                .compare_exchange(
                    std::ptr::null_mut(),
                    ptr,
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                )
                .is_ok()
            {
                return TempGuard { slot: Some(i) };
            }
        }
        TempGuard { slot: None }
    }

    pub(super) fn unregister(slot: usize) {
        PATHS[slot].store(std::ptr::null_mut(), Ordering::SeqCst);
    }
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
