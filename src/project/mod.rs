//! Finding the project: its root, config, version locations and migration files.
//!
//! 1. The config file: `--config FILE`, else the first of `migverify.toml`,
//!    `.migverify.toml`, `pyproject.toml` with `[tool.migverify]`, walking up from
//!    the first PATH (or the working directory).
//! 2. The root: the config file's directory; without one, the directory of the
//!    nearest `alembic.ini` above PATH; else PATH itself.
//! 3. Alembic's settings ([`alembic`]): the nearest directory between PATH and the
//!    root holding `alembic.ini` or `pyproject.toml` `[tool.alembic]`.
//! 4. Version locations: `[migrations]` keys first, then Alembic's; with only a
//!    `script_location`, `<script_location>/versions`.
//! 5. Files ([`files`]): as Alembic lists them, minus `exclude`, each real file once.

pub mod alembic;
pub mod env_py;
pub mod files;

use std::path::{Component, Path, PathBuf};

pub use alembic::AlembicConfig;
pub use files::VersionLocation;

use crate::Error;
use crate::cli::RuleSelection;
use crate::config::{Config, ConfigFile, DatabaseConfig, MigrationsConfig, ModelsConfig, Settings};
use crate::rules::Registry;

/// The config file names searched for, in order, in each directory.
pub const CONFIG_FILES: &[&str] = &["migverify.toml", ".migverify.toml", "pyproject.toml"];

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
    /// The registry with the project's own query rules (`[[rules.custom]]`,
    /// `[rules] dirs`), when it defines any: `settings` index into it.
    pub registry: Option<crate::rules::Registry>,
    /// `[migrations]` as configured (the resolved locations are above).
    pub migrations: MigrationsConfig,
    /// `[database]`, raw, for the database rules.
    pub database: DatabaseConfig,
    /// `[models]`, raw, for the drift rules.
    pub models: ModelsConfig,
    /// Alembic's settings, when an `alembic.ini` or `[tool.alembic]` was found.
    pub alembic: Option<AlembicConfig>,
    /// Things that did not stop the run but should be said on stderr (skipped
    /// symlinks, missing version locations, named files that are not migrations).
    pub warnings: Vec<String>,
}

impl Project {
    /// A project of the given files, with no config (for tests and library users
    /// that construct their own). Like discovery, it keeps one path per real file.
    pub fn for_files(
        root: PathBuf,
        version_locations: Vec<PathBuf>,
        files: Vec<PathBuf>,
        settings: Settings,
    ) -> Project {
        let mut seen = std::collections::HashSet::new();
        let mut files: Vec<PathBuf> = files
            .into_iter()
            .filter(|p| seen.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())))
            .collect();
        files.sort();
        Project {
            root,
            config_path: None,
            version_locations,
            files,
            only: None,
            stdin: None,
            settings,
            registry: None,
            migrations: MigrationsConfig::default(),
            database: DatabaseConfig::default(),
            models: ModelsConfig::default(),
            alembic: None,
            warnings: Vec::new(),
        }
    }

    /// `sqlalchemy.url` from `alembic.ini`, raw (may be Alembic's `driver://`
    /// placeholder).
    pub fn sqlalchemy_url(&self) -> Option<&str> {
        self.alembic.as_ref()?.sqlalchemy_url.as_deref()
    }

    /// Alembic's `env.py`: `<script_location>/env.py`, from `[migrations]
    /// script_location` or Alembic's config; `None` when neither names one or the
    /// file does not exist.
    pub fn env_py_path(&self) -> Option<PathBuf> {
        let dir = if let Some(s) = &self.migrations.script_location {
            self.root.join(s.get_ref())
        } else {
            let a = self.alembic.as_ref()?;
            a.resolve(a.script_location.as_ref()?)
        };
        let path = dir.join("env.py");
        path.is_file().then_some(path)
    }

    /// `config_path` relative to the root, when there is one.
    pub fn config_file_name(&self) -> Option<&Path> {
        self.config_path
            .as_deref()
            .map(|p| p.strip_prefix(&self.root).unwrap_or(p))
    }
}

/// Finds the project for the given paths (or the working directory).
pub fn discover(
    paths: &[PathBuf],
    config: Option<&Path>,
    selection: &RuleSelection,
    registry: &Registry,
) -> Result<Project, Error> {
    let cwd = std::env::current_dir().map_err(|source| Error::Io {
        path: PathBuf::from("."),
        source,
    })?;
    discover_from(&cwd, paths, config, selection, registry)
}

/// [`discover`] with an explicit working directory (relative paths are resolved
/// against it).
pub fn discover_from(
    cwd: &Path,
    paths: &[PathBuf],
    config: Option<&Path>,
    selection: &RuleSelection,
    registry: &Registry,
) -> Result<Project, Error> {
    let cwd = clean(&std::path::absolute(cwd).unwrap_or_else(|_| cwd.to_path_buf()));
    let paths: Vec<PathBuf> = paths.iter().map(|p| clean(&cwd.join(p))).collect();
    for p in &paths {
        if let Err(source) = std::fs::metadata(p) {
            return Err(Error::Io {
                path: p.clone(),
                source,
            });
        }
    }
    let start = match paths.first() {
        Some(p) if p.is_dir() => p.clone(),
        Some(p) => p.parent().map_or_else(|| cwd.clone(), Path::to_path_buf),
        None => cwd.clone(),
    };

    // 1. The config file.
    let user = match config {
        Some(path) => {
            let path = clean(&cwd.join(path));
            let file = ConfigFile::read(&path)?.ok_or_else(|| Error::Project {
                message: format!("{} has no [tool.migverify] table", path.display()),
                help: Some("add a [tool.migverify] table, or name a migverify.toml".into()),
            })?;
            Some(file)
        }
        None => find_config(&start)?,
    };
    let config_path = user.as_ref().and_then(|f| f.path.clone());

    // 2. The root.
    let root = match &config_path {
        Some(p) => p.parent().map_or_else(|| cwd.clone(), Path::to_path_buf),
        None => start
            .ancestors()
            .find(|d| d.join("alembic.ini").is_file())
            .map_or_else(|| start.clone(), Path::to_path_buf),
    };

    let config = Config::load(user)?;
    let own_rules = crate::rules::query::extend(registry, &config, &root)?;
    let settings = config.settings(selection, own_rules.as_ref().unwrap_or(registry))?;
    let migrations = config.migrations()?;
    let database = config.database(&root)?;
    let models = config.models()?;

    // 3. Alembic's settings.
    let mut alembic = None;
    let candidates: Vec<&Path> = if start.starts_with(&root) {
        start
            .ancestors()
            .take_while(|d| d.starts_with(&root))
            .collect()
    } else {
        vec![root.as_path()]
    };
    for dir in candidates {
        if let Some(a) = AlembicConfig::read(dir)? {
            alembic = Some(a);
            break;
        }
    }

    // 4. Configured version locations.
    let recursive = migrations
        .recursive_version_locations
        .or(alembic.as_ref().map(|a| a.recursive_version_locations))
        .unwrap_or(false);
    let configured: Vec<PathBuf> = if let Some(v) = &migrations.version_locations {
        v.iter().map(|s| clean(&root.join(s.get_ref()))).collect()
    } else if let Some(v) = alembic.as_ref().and_then(|a| a.version_locations.as_ref()) {
        let a = alembic.as_ref().expect("alembic config");
        v.iter().map(|s| clean(&a.resolve(s))).collect()
    } else if let Some(s) = &migrations.script_location {
        vec![clean(&root.join(s.get_ref()).join("versions"))]
    } else if let Some(s) = alembic.as_ref().and_then(|a| a.script_location.as_ref()) {
        let a = alembic.as_ref().expect("alembic config");
        vec![clean(&a.resolve(s).join("versions"))]
    } else {
        Vec::new()
    };
    let mut locations: Vec<VersionLocation> = Vec::new();
    let push_location = |locations: &mut Vec<VersionLocation>, loc: VersionLocation| {
        let real = std::fs::canonicalize(&loc.path).ok();
        let dup = locations.iter().any(|l| {
            l.path == loc.path || (real.is_some() && std::fs::canonicalize(&l.path).ok() == real)
        });
        if !dup {
            locations.push(loc);
        }
    };

    // 5. What the paths name.
    let mut warnings = Vec::new();
    let mut project_wide = paths.is_empty();
    let mut only_dirs: Vec<PathBuf> = Vec::new();
    let mut only_files: Vec<PathBuf> = Vec::new();
    let is_project_dir = |d: &Path| {
        d == root
            || alembic.as_ref().is_some_and(|a| a.dir == d)
            || CONFIG_FILES[..2].iter().any(|n| d.join(n).is_file())
            || d.join("alembic.ini").is_file()
    };
    for p in &paths {
        if p.is_dir() {
            if is_project_dir(p) {
                project_wide = true;
                continue;
            }
            let related = configured
                .iter()
                .any(|loc| p.starts_with(loc) || loc.starts_with(p));
            if !related {
                push_location(
                    &mut locations,
                    VersionLocation {
                        path: p.clone(),
                        recursive: false,
                    },
                );
            }
            only_dirs.push(p.clone());
        } else {
            let parent = p.parent().map_or_else(|| cwd.clone(), Path::to_path_buf);
            let inside = configured
                .iter()
                .any(|loc| parent == *loc || (recursive && parent.starts_with(loc)));
            if !inside {
                push_location(
                    &mut locations,
                    VersionLocation {
                        path: parent,
                        recursive: false,
                    },
                );
            }
            only_files.push(p.clone());
        }
    }
    let needs_configured = project_wide || !only_files.is_empty() || !only_dirs.is_empty();
    if needs_configured {
        for loc in &configured {
            push_location(
                &mut locations,
                VersionLocation {
                    path: loc.clone(),
                    recursive,
                },
            );
        }
    }
    // Put the configured locations first, in their order.
    locations.sort_by_key(|l| {
        configured
            .iter()
            .position(|c| *c == l.path)
            .unwrap_or(usize::MAX)
    });
    if locations.is_empty() {
        if project_wide && has_migration_files(&start) {
            // A directory of migration files given (or standing) on its own.
            locations.push(VersionLocation {
                path: start.clone(),
                recursive: false,
            });
        } else {
            return Err(Error::Project {
                message: format!("no migrations found for {}", start.display()),
                help: Some(
                    "run migverify in an Alembic project (with alembic.ini or [tool.alembic]), \
                     set [migrations] script_location or version_locations in migverify.toml, \
                     or pass a directory of migration files"
                        .into(),
                ),
            });
        }
    }
    for loc in &locations {
        if !loc.path.is_dir() {
            warnings.push(format!(
                "version location {} does not exist",
                loc.path.display()
            ));
        }
    }

    let files = files::collect(&locations, &root, &migrations.exclude, &mut warnings);

    let only = if project_wide {
        None
    } else {
        let mut only: Vec<PathBuf> = files
            .iter()
            .filter(|f| only_dirs.iter().any(|d| f.starts_with(d)))
            .cloned()
            .collect();
        for named in &only_files {
            match find_same_file(&files, named) {
                Some(f) => only.push(f.clone()),
                None => warnings.push(format!(
                    "{} is not linted: not a migration file of this project \
                     (not *.py, an __init__ or .# file, or excluded)",
                    named.display()
                )),
            }
        }
        only.sort();
        only.dedup();
        Some(only)
    };

    Ok(Project {
        root,
        config_path,
        version_locations: locations.into_iter().map(|l| l.path).collect(),
        files,
        only,
        stdin: None,
        settings,
        registry: own_rules,
        migrations,
        database,
        models,
        alembic,
        warnings,
    })
}

/// The config file for a run starting in `start`: the first of [`CONFIG_FILES`]
/// walking up (a `pyproject.toml` counts only with a `[tool.migverify]` table).
pub fn find_config(start: &Path) -> Result<Option<ConfigFile>, Error> {
    for dir in start.ancestors() {
        for name in CONFIG_FILES {
            let path = dir.join(name);
            if !path.is_file() {
                continue;
            }
            match ConfigFile::read(&path) {
                Ok(Some(file)) => return Ok(Some(file)),
                Ok(None) => {}
                // A pyproject.toml that does not parse is only our problem if it
                // means to configure migverify.
                Err(e) if *name == "pyproject.toml" => {
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    if text.contains("tool.migverify") {
                        return Err(e);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok(None)
}

fn has_migration_files(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|rd| {
        rd.flatten().any(|e| {
            files::is_migration_name(&e.file_name().to_string_lossy()) && e.path().is_file()
        })
    })
}

/// The entry of `files` that is the same file as `path` (same path, or same
/// real path through symlinks).
fn find_same_file<'a>(files: &'a [PathBuf], path: &Path) -> Option<&'a PathBuf> {
    if let Some(f) = files.iter().find(|f| *f == path) {
        return Some(f);
    }
    let real = std::fs::canonicalize(path).ok()?;
    files
        .iter()
        .find(|f| std::fs::canonicalize(f).ok().as_ref() == Some(&real))
}

/// `path` without `.` components (lexically; `..` is kept).
fn clean(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

/// Lints `text` as the content of `name` (`--stdin-filename`).
pub fn use_stdin(project: &mut Project, name: &Path, text: String) -> Result<(), Error> {
    let cwd = std::env::current_dir().map_err(|source| Error::Io {
        path: PathBuf::from("."),
        source,
    })?;
    let path = clean(&cwd.join(name));
    let path = match find_same_file(&project.files, &path) {
        Some(existing) => existing.clone(),
        None => {
            project.files.push(path.clone());
            project.files.sort();
            path
        }
    };
    project.only = Some(vec![path.clone()]);
    project.stdin = Some((path, text));
    Ok(())
}
