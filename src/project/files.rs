//! Migration files of version locations, found as Alembic finds them.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use crate::config::PathPattern;

/// Whether Alembic reads a file of this name as a migration: its regex
/// `(?!\.\#|__init__)(.*\.py)$` (with `match`, so anchored at the start).
pub fn is_migration_name(name: &str) -> bool {
    name.ends_with(".py") && !name.starts_with("__init__") && !name.starts_with(".#")
}

/// Whether `path` (absolute) is excluded: it, or one of its directories, relative
/// to `root`, matches an `exclude` pattern.
pub fn is_excluded(path: &Path, root: &Path, exclude: &[PathPattern]) -> bool {
    if exclude.is_empty() {
        return false;
    }
    let Ok(rel) = path.strip_prefix(root) else {
        return false;
    };
    rel.ancestors()
        .filter(|a| !a.as_os_str().is_empty())
        .any(|a| exclude.iter().any(|p| p.matcher.is_match(a)))
}

/// A directory to read migration files from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionLocation {
    pub path: PathBuf,
    /// Search subdirectories too (`recursive_version_locations`).
    pub recursive: bool,
}

/// Collects the migration files of `locations`: `*.py` files (in subdirectories
/// only for recursive locations; never inside `__pycache__`), Alembic's skip rules, minus
/// `exclude`, each real file once (by canonical path; the first path that
/// reaches it is kept). Unreadable entries, dangling symlinks, symlink loops and
/// symlinks to files outside `root` and the locations are skipped with a message
/// pushed to `warnings`. Sorted.
pub fn collect(
    locations: &[VersionLocation],
    root: &Path,
    exclude: &[PathPattern],
    warnings: &mut Vec<String>,
) -> Vec<PathBuf> {
    let mut seen = HashSet::new();
    let mut files = Vec::new();
    let mut real_dirs = HashMap::new();
    // Where a symlinked file may lead: the project and the version locations. A
    // symlink out of them (committed in a pull request, to a key on the CI runner)
    // would put that file's lines in diagnostics and logs.
    let allowed: Vec<PathBuf> = std::iter::once(root)
        .chain(locations.iter().map(|l| l.path.as_path()))
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .collect();
    for loc in locations {
        if !loc.path.exists() && std::fs::symlink_metadata(&loc.path).is_err() {
            // Not there at all: discovery has said so ("does not exist").
            continue;
        }
        let walker = WalkDir::new(&loc.path)
            .follow_links(true)
            .min_depth(1)
            .max_depth(if loc.recursive { usize::MAX } else { 1 })
            .into_iter()
            .filter_entry(|e| {
                !(e.file_type().is_dir()
                    && e.file_name().to_string_lossy().ends_with("__pycache__"))
            });
        // Walked unsorted, then put in the order a walk sorted by name gives
        // (depth first, names in order: the order of the paths' components),
        // which decides which path of a file reached twice is kept. Sorting the
        // walk itself compares paths component by component at every step.
        let mut found: Vec<(Vec<std::ffi::OsString>, Result<walkdir::DirEntry, String>)> =
            Vec::new();
        for entry in walker {
            let entry = match entry {
                Ok(e) => e,
                Err(err) => {
                    found.push((walk_order(err.path(), &loc.path), Err(walk_warning(&err))));
                    continue;
                }
            };
            if !entry.file_type().is_file() {
                continue;
            }
            let name = entry.file_name().to_string_lossy();
            if !is_migration_name(&name) {
                continue;
            }
            if is_excluded(entry.path(), root, exclude) {
                continue;
            }
            found.push((walk_order(Some(entry.path()), &loc.path), Ok(entry)));
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, entry) in found {
            let entry = match entry {
                Ok(entry) => entry,
                Err(warning) => {
                    warnings.push(warning);
                    continue;
                }
            };
            let path = entry.path();
            match real_path(&entry, &mut real_dirs) {
                Ok(real) if !allowed.iter().any(|a| real.starts_with(a)) => {
                    warnings.push(format!(
                        "skipping {}: symlink to a file outside the project and its version locations",
                        path.display()
                    ));
                }
                Ok(real) => {
                    // Real paths are normalised: compare (and hash) their bytes.
                    if seen.insert(real.into_os_string()) {
                        files.push(path.to_path_buf());
                    }
                }
                Err(err) => warnings.push(format!("skipping {}: {err}", path.display())),
            }
        }
    }
    files.sort();
    files
}

/// The sort key of a walked path: its components below the location.
fn walk_order(path: Option<&Path>, location: &Path) -> Vec<std::ffi::OsString> {
    let Some(path) = path else {
        return Vec::new();
    };
    path.strip_prefix(location)
        .unwrap_or(path)
        .components()
        .map(|c| c.as_os_str().to_os_string())
        .collect()
}

/// `canonicalize(entry.path())`, with one `canonicalize` per directory rather
/// than per file: the real path of a file that is not a symlink is its
/// directory's real path joined with its name.
fn real_path(
    entry: &walkdir::DirEntry,
    real_dirs: &mut HashMap<PathBuf, PathBuf>,
) -> std::io::Result<PathBuf> {
    let path = entry.path();
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return std::fs::canonicalize(path);
    };
    if entry.path_is_symlink() || name == ".." || dir.as_os_str().is_empty() {
        return std::fs::canonicalize(path);
    }
    let real_dir = match real_dirs.get(dir) {
        Some(real) => real,
        None => {
            let real = std::fs::canonicalize(dir)?;
            real_dirs.entry(dir.to_path_buf()).or_insert(real)
        }
    };
    Ok(real_dir.join(name))
}

fn walk_warning(err: &walkdir::Error) -> String {
    let path = err
        .path()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "?".into());
    if let Some(ancestor) = err.loop_ancestor() {
        return format!(
            "skipping {path}: symlink loop (points back to {})",
            ancestor.display()
        );
    }
    match err.io_error() {
        Some(io) if io.kind() == std::io::ErrorKind::NotFound => {
            let symlink = err
                .path()
                .and_then(|p| std::fs::symlink_metadata(p).ok())
                .is_some_and(|m| m.file_type().is_symlink());
            if symlink {
                format!("skipping {path}: dangling symlink")
            } else {
                format!("skipping {path}: does not exist")
            }
        }
        Some(io) => format!("skipping {path}: {io}"),
        None => format!("skipping {path}: {err}"),
    }
}
