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
//!    `script_location`, `<script_location>/versions`; with neither, where Alembic's
//!    config sits in a script directory (`env.py`, `versions/`: Flask-Migrate's
//!    layout), its `versions/`.
//! 5. Files ([`files`]): as Alembic lists them, minus `exclude`, each real file once.

pub mod alembic;
pub mod env_py;
pub mod environments;
pub mod files;
pub mod rules;

use std::path::{Component, Path, PathBuf};

pub use alembic::AlembicConfig;
pub use files::VersionLocation;

use crate::Error;
use crate::config::RuleSelection;
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
    /// `[check] baseline`, resolved against its config file's directory.
    pub baseline: Option<PathBuf>,
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
            baseline: None,
        }
    }

    /// Where the modules that migrations import identifier values from are looked
    /// up ([`crate::migration::resolve`]), in order: `[migrations] python_path`,
    /// the root, `<root>/src`, Alembic's directory (where `alembic` runs, its
    /// `prepend_sys_path = .`), the directory above the topmost package
    /// (`__init__.py`) holding each version location (what must be on
    /// `sys.path` to import it), then each directory from a version location's
    /// parent up to the root.
    pub fn python_path(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = self
            .migrations
            .python_path
            .iter()
            .map(|p| clean(&self.root.join(p.get_ref())))
            .collect();
        out.push(self.root.clone());
        out.push(self.root.join("src"));
        if let Some(a) = &self.alembic {
            out.push(clean(
                &std::path::absolute(&a.dir).unwrap_or_else(|_| a.dir.clone()),
            ));
        }
        for loc in &self.version_locations {
            // The directory a package holding the location is imported from: above
            // the topmost `__init__.py` over it (`neutron/db/migration/
            // alembic_migrations/versions` -> the directory holding `neutron/`).
            let mut ancestors = loc.ancestors().take(32).skip_while(|d| !is_package(d));
            if let Some(mut top) = ancestors.next() {
                for d in ancestors {
                    if !is_package(d) {
                        break;
                    }
                    top = d;
                }
                if let Some(parent) = top.parent() {
                    out.push(parent.to_path_buf());
                }
            }
            let inside = loc.starts_with(&self.root);
            for dir in loc
                .ancestors()
                .skip(1)
                .take(if inside { usize::MAX } else { 3 })
            {
                if inside && !dir.starts_with(&self.root) {
                    break;
                }
                out.push(dir.to_path_buf());
            }
        }
        let mut seen = std::collections::HashSet::new();
        out.retain(|p| seen.insert(p.clone()));
        out
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

/// What a run covers: one project (as [`discover`] finds it, `name` `None`), or
/// several Alembic environments of one repository, each its own project.
pub struct Discovered {
    pub projects: Vec<(Option<String>, Project)>,
}

/// [`discover`], extended to repositories with several Alembic environments: when
/// the run is on one directory (or none) that is not inside an environment and no
/// config sets `[migrations]` locations, every environment below it (or the
/// `[[projects]]` of the config) is a project of its own. `pick` (`--project NAME`
/// or a path) keeps one. Anything else is [`discover`] unchanged.
pub fn discover_environments(
    paths: &[PathBuf],
    config: Option<&Path>,
    selection: &RuleSelection,
    registry: &Registry,
    pick: Option<&str>,
) -> Result<Discovered, Error> {
    let cwd = std::env::current_dir().map_err(|source| Error::Io {
        path: PathBuf::from("."),
        source,
    })?;
    let single = |paths: &[PathBuf]| -> Result<Discovered, Error> {
        Ok(Discovered {
            projects: vec![(
                None,
                discover_from(&cwd, paths, config, selection, registry)?,
            )],
        })
    };
    let start = match paths {
        [] => cwd.clone(),
        [one] if cwd.join(one).is_dir() => clean(&cwd.join(one)),
        _ => {
            if let Some(wanted) = pick {
                return Err(Error::Project {
                    message: format!("--project {wanted} needs a directory (or none), not files"),
                    help: None,
                });
            }
            return single(paths);
        }
    };
    let user = match config {
        Some(path) => ConfigFile::read(&clean(&cwd.join(path)))?,
        None => find_config(&start)?,
    };
    let stop = user
        .as_ref()
        .and_then(|f| f.path.as_deref())
        .and_then(Path::parent);
    // A run inside one environment is that project alone, as always (unless the
    // run is in the directory of an `alembic.ini` whose named sections are the
    // environments).
    let inside_dir = start
        .ancestors()
        .take_while(|d| stop.is_none_or(|s| d.starts_with(s)))
        .find(|d| environments::is_environment(d));
    let inside = inside_dir.is_some();
    let configured = match &user {
        Some(file) if !inside || pick.is_some() => environments::configured(file)?,
        _ => None,
    };
    let envs = match configured {
        Some(list) => list,
        None => {
            let own_locations = user
                .as_ref()
                .and_then(|f| f.options.migrations.as_ref())
                .is_some_and(|m| m.script_location.is_some() || m.version_locations.is_some());
            // Environments below come before reading the directory itself as
            // one of migration files: a repository root with `manage.py` and a
            // Flask-Migrate `migrations/alembic.ini` is that environment.
            match inside_dir {
                _ if own_locations => Vec::new(),
                // The run's own project, unless the ini's named sections are the
                // environments.
                Some(dir) if dir == start => {
                    let envs = environments::in_dir(dir, ".".into());
                    if envs.iter().any(|e| e.section.is_some()) {
                        envs
                    } else {
                        Vec::new()
                    }
                }
                Some(_) => Vec::new(),
                None => environments::find(&start),
            }
        }
    };
    let envs = match pick {
        Some(wanted) if !envs.is_empty() => vec![environments::pick(&envs, wanted, &cwd)?],
        Some(wanted) => {
            // No environments to choose from: `--project PATH` is the path.
            return single(&[PathBuf::from(wanted)]);
        }
        None => envs,
    };
    if envs.is_empty() {
        return single(paths);
    }
    let several = envs.len() > 1;
    let mut projects = Vec::new();
    for env in envs {
        let project = discover_section(
            &cwd,
            std::slice::from_ref(&env.dir),
            config,
            selection,
            registry,
            env.section.as_deref(),
        )?;
        projects.push((several.then_some(env.name), project));
    }
    Ok(Discovered { projects })
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
    discover_section(cwd, paths, config, selection, registry, None)
}

/// [`discover_from`] with Alembic's settings read from `section` of `alembic.ini`
/// (Alembic's `--name`) instead of `[alembic]`.
fn discover_section(
    cwd: &Path,
    paths: &[PathBuf],
    config: Option<&Path>,
    selection: &RuleSelection,
    registry: &Registry,
    section: Option<&str>,
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
    let own_rules = rules::extend(registry, &config, &root)?;
    let settings = config.settings(selection, own_rules.as_ref().unwrap_or(registry))?;
    let migrations = config.migrations()?;
    let database = config.database(&root)?;
    let models = config.models()?;
    let baseline = config.check_baseline();

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
        let read = match section {
            Some(section) => AlembicConfig::read_section(dir, section)?,
            None => AlembicConfig::read(dir)?,
        };
        if let Some(a) = read {
            alembic = Some(a);
            break;
        }
    }

    // Inside the script directory of one of `alembic.ini`'s named sections (a
    // file or folder of it given, or the language server's start), that section.
    if section.is_none()
        && let Some(a) = &alembic
        && a.script_location.is_none()
        && a.version_locations.is_none()
        && !a.named_sections.is_empty()
    {
        let own = a
            .named_sections
            .iter()
            .filter_map(|name| AlembicConfig::read_section(&a.dir, name).ok().flatten())
            .find(|b| {
                b.script_location.as_ref().is_some_and(|loc| {
                    b.locate(loc, &package_roots(&b.dir, &root))
                        .is_ok_and(|dir| start.starts_with(clean(&dir)))
                })
            });
        if own.is_some() {
            alembic = own;
        }
    }

    // 4. Configured version locations.
    let recursive = migrations
        .recursive_version_locations
        .or(alembic.as_ref().map(|a| a.recursive_version_locations))
        .unwrap_or(false);
    let configured = configured_locations(&root, &migrations, alembic.as_ref())?;
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
    if !locations.iter().any(|l| l.path.is_dir()) {
        let tried: Vec<String> = locations
            .iter()
            .map(|l| format!("  {}", l.path.display()))
            .collect();
        return Err(Error::Project {
            message: format!(
                "no version location exists; looked for migrations in:\n{}",
                tried.join("\n")
            ),
            help: Some(
                "check script_location / version_locations (in alembic.ini, \
                 [tool.alembic] or [migrations] in migverify.toml)"
                    .into(),
            ),
        });
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
        baseline,
    })
}

/// The version locations the configuration names: `[migrations]` keys first, then
/// Alembic's; with only a `script_location`, `<script_location>/versions`. A
/// `package:path` value is looked up as Alembic's Python would find the package
/// ([`alembic::locate`]); one that names no package found, or a `script_location`
/// that does not exist, stops the run (Alembic would fail there too).
fn configured_locations(
    root: &Path,
    migrations: &MigrationsConfig,
    alembic: Option<&AlembicConfig>,
) -> Result<Vec<PathBuf>, Error> {
    let own_roots = [root.to_path_buf(), root.join("src")];
    let own = |value: &str, key: &str| -> Result<PathBuf, Error> {
        alembic::locate(root, value, &own_roots)
            .map(|p| clean(&p))
            .map_err(|e| Error::Project {
                message: e.describe(value, &format!("[migrations] {key}"), "migverify's config"),
                help: Some(PACKAGE_HELP.into()),
            })
    };
    let theirs = |a: &AlembicConfig, value: &str, key: &str| -> Result<PathBuf, Error> {
        a.locate(value, &package_roots(&a.dir, root))
            .map(|p| clean(&p))
            .map_err(|e| Error::Project {
                message: e.describe(value, key, &alembic_source(a)),
                help: Some(PACKAGE_HELP.into()),
            })
    };
    let script_dir_must_exist = |dir: &Path, value: &str, source: String| {
        if dir.is_dir() {
            Ok(())
        } else {
            Err(Error::Project {
                message: format!(
                    "script_location `{value}` (in {source}) resolves to {}, which does not exist",
                    dir.display()
                ),
                help: Some(
                    "point script_location at the folder that holds env.py and versions/ \
                     (Alembic stops with \"Path doesn't exist\" here too)"
                        .into(),
                ),
            })
        }
    };
    if let Some(v) = &migrations.version_locations {
        return v
            .iter()
            .map(|s| own(s.get_ref(), "version_locations"))
            .collect();
    }
    if let Some(a) = alembic
        && let Some(v) = &a.version_locations
    {
        return v
            .iter()
            .map(|s| theirs(a, s, "version_locations"))
            .collect();
    }
    if let Some(s) = &migrations.script_location {
        let dir = own(s.get_ref(), "script_location")?;
        script_dir_must_exist(&dir, s.get_ref(), "migverify's config".into())?;
        return Ok(vec![dir.join("versions")]);
    }
    if let Some(a) = alembic
        && let Some(s) = &a.script_location
    {
        let dir = theirs(a, s, "script_location")?;
        script_dir_must_exist(&dir, s, alembic_source(a))?;
        return Ok(vec![dir.join("versions")]);
    }
    if let Some(a) = alembic
        && is_script_directory(&a.dir)
    {
        // Flask-Migrate's layout (`flask db init`): `alembic.ini` inside the script
        // directory, with no `script_location`; Flask-Migrate sets it in code to
        // that directory (`Migrate(app, db, directory="migrations")`).
        return Ok(vec![a.dir.join("versions")]);
    }
    Ok(Vec::new())
}

const PACKAGE_HELP: &str = "a `package:path` location is found the way Python imports the \
     package: run migverify in the project that holds it, list its parent directory in \
     `prepend_sys_path`, or set `[migrations] script_location` to the folder itself";

/// The file Alembic's settings came from, for messages.
fn alembic_source(a: &AlembicConfig) -> String {
    a.ini_path
        .as_ref()
        .or(a.pyproject_path.as_ref())
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "alembic.ini".into())
}

/// Where else Python could import a `package:path` location's package from, when
/// Alembic runs from a directory above `dir` (an `alembic.ini` kept inside the
/// package itself): the ancestors of `dir` and their `src/`, up to the project root,
/// or beyond it up to the first directory that looks like a repository or
/// distribution root (`.git`, `pyproject.toml`, `setup.py`, `setup.cfg`) when there
/// is one; then the project root and its `src/`.
fn package_roots(dir: &Path, root: &Path) -> Vec<PathBuf> {
    let is_marked = |d: &Path| {
        [".git", "pyproject.toml", "setup.py", "setup.cfg"]
            .iter()
            .any(|m| d.join(m).exists())
    };
    let ancestors: Vec<&Path> = dir.ancestors().skip(1).collect();
    let stop = ancestors
        .iter()
        .position(|d| *d == root || is_marked(d))
        .map(|i| {
            // A marker above the root wins over stopping at the root.
            if ancestors[i] == root && !is_marked(root) {
                ancestors[i..]
                    .iter()
                    .position(|d| is_marked(d))
                    .map_or(i, |j| i + j)
            } else {
                i
            }
        });
    let mut out = Vec::new();
    if let Some(stop) = stop {
        for anc in &ancestors[..=stop] {
            out.push(anc.to_path_buf());
            out.push(anc.join("src"));
        }
    }
    out.push(root.to_path_buf());
    out.push(root.join("src"));
    out
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
                    let text = crate::bounded::read_to_string(
                        &path,
                        crate::bounded::CONFIG_LIMIT,
                        "a configuration file",
                    )
                    .unwrap_or_default();
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

/// An Alembic script directory: `env.py` and `versions/`.
pub(crate) fn is_script_directory(dir: &Path) -> bool {
    dir.join("env.py").is_file() && dir.join("versions").is_dir()
}

/// A directory holding `__init__.py` (a regular Python package).
fn is_package(dir: &Path) -> bool {
    dir.join("__init__.py").is_file()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// neutron's layout: `alembic.ini` (the root) in `neutron/db/migration`, the
    /// versions in the `alembic_migrations` package below it; `neutron.db.migration`
    /// is importable only from the directory holding `neutron/`.
    #[test]
    fn python_path_reaches_the_directory_above_the_topmost_package() {
        let tmp = tempfile::tempdir().unwrap();
        let top = tmp.path().join("checkout");
        let pkg = top.join("neutron/db/migration");
        let versions = pkg.join("alembic_migrations/versions");
        std::fs::create_dir_all(&versions).unwrap();
        for d in [
            "neutron",
            "neutron/db",
            "neutron/db/migration",
            "neutron/db/migration/alembic_migrations",
        ] {
            std::fs::write(top.join(d).join("__init__.py"), "").unwrap();
        }
        let registry = Registry::builtin();
        let mut project = Project::for_files(
            pkg.clone(),
            vec![versions.clone()],
            Vec::new(),
            Settings::recommended(&registry),
        );
        project.migrations.python_path = vec![toml::Spanned::new(0..0, "../lib".to_string())];
        let path = project.python_path();
        assert_eq!(path[0], pkg.join("../lib"), "configured first: {path:?}");
        assert_eq!(path[1], pkg, "then the root: {path:?}");
        assert!(path.contains(&top), "{path:?}");
        assert!(path.contains(&pkg.join("alembic_migrations")), "{path:?}");
        assert!(
            !path.contains(&tmp.path().to_path_buf()),
            "no further up: {path:?}"
        );
        let mut unique = path.clone();
        unique.dedup();
        assert_eq!(unique.len(), path.len());
    }
}
