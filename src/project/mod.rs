//! Finding the project: its root, config, version locations and migration files.

use std::path::PathBuf;

use crate::config::Settings;

/// A project as discovered: where it is, what to lint, how.
#[derive(Debug)]
pub struct Project {
    /// The directory of the config file (or alembic.ini, or the path given).
    pub root: PathBuf,
    /// The config file in force, if any.
    pub config_path: Option<PathBuf>,
    /// Directories holding migration files.
    pub version_locations: Vec<PathBuf>,
    /// Every migration file of the version locations, deduplicated by real path,
    /// with Alembic's skip rules and `exclude` applied, sorted.
    pub files: Vec<PathBuf>,
    /// When single files were given: report only diagnostics located in these.
    pub only: Option<Vec<PathBuf>>,
    /// Buffer content to use instead of a file's content (`--stdin-filename`).
    pub stdin: Option<(PathBuf, String)>,
    pub settings: Settings,
}

use std::path::Path;

use crate::Error;
use crate::cli::RuleSelection;
use crate::rules::Registry;

/// Finds the project for the given paths (or the working directory).
///
/// Minimal form: a directory is a version location; files are linted within
/// their directory's graph and reported alone.
pub fn discover(
    paths: &[PathBuf],
    _config: Option<&Path>,
    _selection: &RuleSelection,
    registry: &Registry,
) -> Result<Project, Error> {
    let cwd = std::env::current_dir().map_err(|source| Error::Io {
        path: PathBuf::from("."),
        source,
    })?;
    let paths: Vec<PathBuf> = if paths.is_empty() {
        vec![cwd.clone()]
    } else {
        paths.iter().map(|p| cwd.join(p)).collect()
    };
    let mut locations = Vec::new();
    let mut only = Vec::new();
    for p in &paths {
        if p.is_dir() {
            locations.push(p.clone());
        } else if p.is_file() {
            locations.push(p.parent().unwrap_or(Path::new("/")).to_path_buf());
            only.push(p.clone());
        } else {
            return Err(Error::Io {
                path: p.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no such file or directory",
                ),
            });
        }
    }
    locations.dedup();
    let mut files = Vec::new();
    for loc in &locations {
        let rd = std::fs::read_dir(loc).map_err(|source| Error::Io {
            path: loc.clone(),
            source,
        })?;
        for e in rd.flatten() {
            let path = e.path();
            let name = e.file_name().to_string_lossy().to_string();
            if name.ends_with(".py")
                && !name.starts_with("__init__")
                && !name.starts_with(".#")
                && path.is_file()
            {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(Project {
        root: locations.first().cloned().unwrap_or(cwd),
        config_path: None,
        version_locations: locations,
        files,
        only: if only.is_empty() { None } else { Some(only) },
        stdin: None,
        settings: crate::config::Settings::recommended(registry),
    })
}

/// Lints `text` as the content of `name` (`--stdin-filename`).
pub fn use_stdin(project: &mut Project, name: &Path, text: String) -> Result<(), Error> {
    let cwd = std::env::current_dir().map_err(|source| Error::Io {
        path: PathBuf::from("."),
        source,
    })?;
    let path = cwd.join(name);
    if !project.files.contains(&path) {
        project.files.push(path.clone());
        project.files.sort();
    }
    project.only = Some(vec![path.clone()]);
    project.stdin = Some((path, text));
    Ok(())
}
