//! `migverify init`: writes a starter `migverify.toml` for the project in a
//! directory, filled from what is found there:
//!
//! - Alembic's settings (`alembic.ini` `[alembic]`, `pyproject.toml` `[tool.alembic]`).
//!   When they sit in the directory itself, migverify reads them on every run, so
//!   they are written as comments (uncomment to override); when they sit in a
//!   subdirectory (`backend/alembic.ini`), they are written as active keys, relative
//!   to the new file.
//! - Without any Alembic config, `versions/` directories holding migration files.
//! - A guess at the SQLAlchemy model files (`[models] paths`): Python files that
//!   import SQLAlchemy and declare models or tables (outside `tests/`).
//!
//! It never overwrites an existing configuration unless `--force` is given, and the
//! text it writes is parsed by the real loader before it is written.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::Error;
use crate::project::alembic::AlembicConfig;

/// The file `init` writes.
pub const FILE_NAME: &str = "migverify.toml";

/// Directories never searched: hidden ones, virtualenvs, caches, build output.
const SKIP_DIRS: &[&str] = &[
    "node_modules",
    "__pycache__",
    "site-packages",
    "venv",
    "env",
    "build",
    "dist",
    "target",
];

/// How deep the search for `alembic.ini`, `versions/` and models goes.
const MAX_DEPTH: usize = 6;

/// What `init` found in the project directory.
#[derive(Debug, Default)]
pub struct Found {
    /// The Alembic config file(s) read, relative to the directory (`alembic.ini`,
    /// `pyproject.toml [tool.alembic]`, `backend/alembic.ini`).
    pub alembic_source: Option<String>,
    /// Alembic's config is in the directory itself (migverify reads it on every run).
    pub alembic_here: bool,
    pub script_location: Option<String>,
    pub version_locations: Option<Vec<String>>,
    pub recursive_version_locations: bool,
    /// Alembic's `sqlalchemy.url` is set to something other than the placeholder.
    pub sqlalchemy_url: bool,
    /// `versions/` directories with migration files (only searched without an Alembic config).
    pub scanned_versions: Vec<String>,
    /// The `[models] paths` guess, and how many files it stands for.
    pub models: Vec<String>,
    pub model_files: usize,
}

/// What `init` did.
#[derive(Debug)]
pub struct Outcome {
    pub path: PathBuf,
    pub found: Found,
}

/// Writes `<dir>/migverify.toml`. Refuses (exit 2) when the directory already has a
/// migverify configuration, unless `force`.
pub fn run(dir: &Path, force: bool) -> Result<Outcome, Error> {
    if !dir.is_dir() {
        return Err(Error::Project {
            message: format!("{} is not a directory", dir.display()),
            help: Some("run `migverify init` in the project root, or pass it".into()),
        });
    }
    let path = dir.join(FILE_NAME);
    if !force && let Some(existing) = existing_config(dir)? {
        return Err(Error::Project {
            message: format!(
                "{} already exists; migverify init does not overwrite it",
                existing.display()
            ),
            help: Some("edit it, or pass --force to replace it with a new migverify.toml".into()),
        });
    }
    let found = detect(dir)?;
    let text = render(&found);
    // What we write must load: parse it with the real loader first.
    let file =
        crate::config::ConfigFile::parse(Some(path.clone()), FILE_NAME.into(), text.clone())?;
    let config = crate::config::Config::load(Some(file))?;
    config.migrations()?;
    config.models()?;
    crate::fsutil::write_atomic(&path, text.as_bytes())?;
    Ok(Outcome { path, found })
}

/// What to tell the user: the file written and what went into it.
pub fn summary(outcome: &Outcome) -> Vec<String> {
    let f = &outcome.found;
    let mut lines = vec![format!("wrote {}", outcome.path.display())];
    match &f.alembic_source {
        Some(s) if f.alembic_here => lines.push(format!(
            "  migrations: from {s} (read on every run; kept as comments)"
        )),
        Some(s) => lines.push(format!("  migrations: from {s}")),
        None if !f.scanned_versions.is_empty() => {
            lines.push(format!("  migrations: {}", f.scanned_versions.join(", ")))
        }
        None => lines.push(
            "  migrations: no alembic.ini or versions/ found; set [migrations] by hand".into(),
        ),
    }
    if f.models.is_empty() {
        lines.push("  models: none found".into());
    } else {
        lines.push(format!(
            "  models: {} ({} file(s); check the guess)",
            f.models.join(", "),
            f.model_files
        ));
    }
    lines.push("next: migverify check".into());
    lines
}

/// The migverify configuration already in `dir`, if any.
fn existing_config(dir: &Path) -> Result<Option<PathBuf>, Error> {
    for name in [FILE_NAME, ".migverify.toml"] {
        let p = dir.join(name);
        if p.exists() {
            return Ok(Some(p));
        }
    }
    let pyproject = dir.join("pyproject.toml");
    if pyproject.is_file() && crate::config::ConfigFile::read(&pyproject)?.is_some() {
        return Ok(Some(PathBuf::from(format!(
            "{} [tool.migverify]",
            pyproject.display()
        ))));
    }
    Ok(None)
}

/// `/`-separated `path` relative to `dir` (`path` as is when it lies elsewhere).
fn relative(dir: &Path, path: &Path) -> String {
    let abs_dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let rel = abs
        .strip_prefix(&abs_dir)
        .or_else(|_| path.strip_prefix(dir))
        .unwrap_or(path);
    let s = rel
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/");
    if s.is_empty() { ".".into() } else { s }
}

fn walk(dir: &Path) -> impl Iterator<Item = walkdir::DirEntry> {
    walkdir::WalkDir::new(dir)
        .max_depth(MAX_DEPTH)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            if e.depth() == 0 || !e.file_type().is_dir() {
                return true;
            }
            let name = e.file_name().to_string_lossy();
            !(name.starts_with('.')
                || SKIP_DIRS.contains(&name.as_ref())
                || e.path().join("pyvenv.cfg").exists())
        })
        .filter_map(Result::ok)
}

/// Looks at `dir` (and below it) for Alembic's config, migrations and models.
pub fn detect(dir: &Path) -> Result<Found, Error> {
    let mut found = Found::default();
    // Alembic's config: here, else the shallowest `alembic.ini` below.
    let mut alembic = AlembicConfig::read(dir)?;
    found.alembic_here = alembic.is_some();
    if alembic.is_none()
        && let Some(ini) = walk(dir)
            .filter(|e| e.depth() <= 3 && e.file_name() == "alembic.ini" && e.file_type().is_file())
            .min_by_key(walkdir::DirEntry::depth)
    {
        alembic = AlembicConfig::read(ini.path().parent().unwrap_or(dir))?;
    }
    if let Some(a) = &alembic {
        let mut sources = Vec::new();
        if let Some(p) = &a.ini_path {
            sources.push(relative(dir, p));
        }
        if let Some(p) = &a.pyproject_path {
            sources.push(format!("{} [tool.alembic]", relative(dir, p)));
        }
        found.alembic_source = Some(sources.join(" and "));
        found.script_location = a
            .script_location
            .as_deref()
            .map(|s| relative(dir, &a.resolve(s)));
        found.version_locations = a
            .version_locations
            .as_ref()
            .map(|v| v.iter().map(|s| relative(dir, &a.resolve(s))).collect());
        found.recursive_version_locations = a.recursive_version_locations;
        found.sqlalchemy_url = a.sqlalchemy_url.as_deref().is_some_and(|u| {
            let u = u.trim();
            !u.is_empty() && u != crate::db::resolve::ALEMBIC_PLACEHOLDER
        });
    }

    // Migration directories, and the model files outside them.
    let mut version_dirs: Vec<String> = Vec::new();
    let mut model_files: Vec<String> = Vec::new();
    for entry in walk(dir) {
        if !entry.file_type().is_file() || entry.path().extension().is_none_or(|e| e != "py") {
            continue;
        }
        let Ok(text) = crate::bounded::read_to_string(
            entry.path(),
            crate::bounded::DEFAULT_SOURCE_LIMIT,
            "a Python file",
        ) else {
            continue;
        };
        let rel = relative(dir, entry.path());
        let in_versions = rel.split('/').any(|c| c == "versions");
        if in_versions {
            if looks_like_migration(&text) {
                let parent = relative(dir, entry.path().parent().unwrap_or(dir));
                if !version_dirs.contains(&parent) {
                    version_dirs.push(parent);
                }
            }
            continue;
        }
        // Test fixtures declare tables too; they are not the application's models.
        let in_tests = rel.split('/').any(|c| c == "tests" || c == "test");
        if !in_tests && looks_like_models(&text) {
            model_files.push(rel);
        }
    }
    if alembic.is_none() {
        found.scanned_versions = version_dirs;
    }
    found.model_files = model_files.len();
    found.models = model_globs(&model_files);
    Ok(found)
}

fn looks_like_migration(text: &str) -> bool {
    text.contains("revision") && text.contains("down_revision")
}

/// Imports SQLAlchemy and declares a model or a table.
fn looks_like_models(text: &str) -> bool {
    let imports = text.contains("import sqlalchemy")
        || text.contains("from sqlalchemy")
        || text.contains("from sqlmodel")
        || text.contains("import sqlmodel");
    let declares = [
        "__tablename__",
        "DeclarativeBase",
        "declarative_base",
        "Table(",
        "table=True",
    ]
    .iter()
    .any(|m| text.contains(m));
    // Flask-SQLAlchemy models import `db`, not SQLAlchemy.
    (imports && declares) || text.contains("(db.Model)")
}

/// Globs covering `files`: `<prefix>/models/**/*.py` for files in a `models/`
/// package, the path itself otherwise; `**/models.py` when that is all there is and
/// there are many.
fn model_globs(files: &[String]) -> Vec<String> {
    let mut globs: Vec<String> = Vec::new();
    for f in files {
        let parts: Vec<&str> = f.split('/').collect();
        let glob = match parts[..parts.len() - 1].iter().position(|c| *c == "models") {
            Some(i) => {
                let mut g = parts[..=i].join("/");
                g.push_str("/**/*.py");
                g
            }
            None => f.clone(),
        };
        if !globs.contains(&glob) {
            globs.push(glob);
        }
    }
    if globs.len() > 4
        && files
            .iter()
            .all(|f| f.rsplit('/').next() == Some("models.py"))
    {
        return vec!["**/models.py".into()];
    }
    globs
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn toml_list(items: &[String]) -> String {
    let inner: Vec<String> = items.iter().map(|s| toml_str(s)).collect();
    format!("[{}]", inner.join(", "))
}

/// The commented `migverify.toml` for what was found.
pub fn render(found: &Found) -> String {
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(
        w,
        "# migverify.toml, written by `migverify init` (migverify {}).",
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(
        w,
        "# Every key is optional; docs/configuration.md describes them all. Editors can\n\
         # complete and check this file with the JSON schema config/migverify.schema.json."
    );
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "# \"recommended\" (every rule at its default) or \"strict\" (every rule; warnings\n\
         # become errors).\nextends = \"recommended\"\n"
    );

    let _ = writeln!(w, "[migrations]");
    match &found.alembic_source {
        Some(source) if found.alembic_here => {
            let _ = writeln!(
                w,
                "# Found {source}: migverify reads Alembic's settings from it on every run, so\n\
                 # these stay commented. Uncomment a key to override it."
            );
            if let Some(s) = &found.script_location {
                let _ = writeln!(w, "# script_location = {}", toml_str(s));
            }
            if let Some(v) = &found.version_locations {
                let _ = writeln!(w, "# version_locations = {}", toml_list(v));
            }
            if found.recursive_version_locations {
                let _ = writeln!(w, "# recursive_version_locations = true");
            }
        }
        Some(source) => {
            let _ = writeln!(
                w,
                "# From {source} (paths relative to this file's directory)."
            );
            if let Some(s) = &found.script_location {
                let _ = writeln!(w, "script_location = {}", toml_str(s));
            }
            if let Some(v) = &found.version_locations {
                let _ = writeln!(w, "version_locations = {}", toml_list(v));
            }
            if found.recursive_version_locations {
                let _ = writeln!(w, "recursive_version_locations = true");
            }
        }
        None if !found.scanned_versions.is_empty() => {
            let _ = writeln!(
                w,
                "# No alembic.ini found; these directories hold migration files."
            );
            let _ = writeln!(
                w,
                "version_locations = {}",
                toml_list(&found.scanned_versions)
            );
        }
        None => {
            let _ = writeln!(
                w,
                "# No alembic.ini and no versions/ directory found: set where the migrations are.\n\
                 # script_location = \"alembic\"\n\
                 # version_locations = [\"alembic/versions\"]"
            );
        }
    }
    let _ = writeln!(
        w,
        "# Files to leave out (globs relative to this file's directory).\n\
         # exclude = [\"**/legacy/**\"]\n"
    );

    let _ = writeln!(w, "[database]");
    let _ = writeln!(
        w,
        "# The database the MV1xx rules check, read-only. Precedence: --snapshot,\n\
         # --database-url, MIGVERIFY_DATABASE_URL, then these keys, then alembic.ini's\n\
         # sqlalchemy.url."
    );
    if found.sqlalchemy_url {
        let _ = writeln!(
            w,
            "# Alembic's sqlalchemy.url is set, so `migverify check` uses that database."
        );
    }
    let _ = writeln!(
        w,
        "# url = \"${{DATABASE_URL}}\"\n\
         # snapshot = \"schema.json\"   # from `migverify snapshot -o schema.json`\n"
    );

    let _ = writeln!(w, "[models]");
    if found.models.is_empty() {
        let _ = writeln!(
            w,
            "# SQLAlchemy model files for the drift rules (MV2xx); none found.\n\
             # paths = [\"app/models/**/*.py\"]"
        );
    } else {
        let _ = writeln!(
            w,
            "# SQLAlchemy model files for the drift rules (MV2xx): a guess from the {} file(s)\n\
             # that import SQLAlchemy and declare models. Check it.",
            found.model_files
        );
        let _ = writeln!(w, "paths = {}", toml_list(&found.models));
    }
    let _ = writeln!(w, "# ignore_tables = [\"spatial_ref_sys\"]\n");

    let _ = writeln!(
        w,
        "[rules]\n\
         # Codes (\"MV003\"), prefixes (\"MV0\"), names (\"empty-downgrade\") or \"ALL\".\n\
         # `migverify rules` lists them.\n\
         # select = [\"ALL\"]\n\
         # extend-select = [\"unused-suppression\"]\n\
         # ignore = [\"MV010\"]\n\n\
         # [rules.severity]\n\
         # empty-downgrade = \"error\"\n\n\
         # [per-file-ignores]\n\
         # \"alembic/versions/0001_*.py\" = [\"MV003\"]"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_globs_use_the_models_package() {
        let files = vec![
            "app/models/user.py".to_string(),
            "app/models/orders/order.py".to_string(),
            "lib/tables.py".to_string(),
        ];
        assert_eq!(
            model_globs(&files),
            vec![
                "app/models/**/*.py".to_string(),
                "lib/tables.py".to_string()
            ]
        );
    }

    #[test]
    fn many_models_modules_become_one_glob() {
        let files: Vec<String> = (0..6).map(|i| format!("app{i}/models.py")).collect();
        assert_eq!(model_globs(&files), vec!["**/models.py".to_string()]);
    }

    #[test]
    fn models_need_sqlalchemy_and_a_declaration() {
        assert!(looks_like_models(
            "from sqlalchemy.orm import DeclarativeBase\nclass Base(DeclarativeBase): pass\n"
        ));
        assert!(!looks_like_models(
            "from sqlalchemy import engine_from_config\ntarget_metadata = None\n"
        ));
        assert!(!looks_like_models("__tablename__ = 'x'\n"));
        assert!(looks_like_models(
            "from app import db\nclass User(db.Model):\n    id = db.Column(db.Integer)\n"
        ));
        assert!(looks_like_models(
            "from sqlmodel import SQLModel\nclass Hero(SQLModel, table=True):\n    id: int\n"
        ));
    }

    #[test]
    fn every_rendering_parses() {
        let cases = [
            Found::default(),
            Found {
                alembic_source: Some("alembic.ini".into()),
                alembic_here: true,
                script_location: Some("alembic".into()),
                version_locations: Some(vec!["alembic/versions".into()]),
                recursive_version_locations: true,
                sqlalchemy_url: true,
                models: vec!["app/models/**/*.py".into()],
                model_files: 2,
                ..Found::default()
            },
            Found {
                alembic_source: Some("backend/alembic.ini".into()),
                script_location: Some("backend/migrations".into()),
                ..Found::default()
            },
            Found {
                scanned_versions: vec!["db/versions".into(), "weird \"name\"/versions".into()],
                ..Found::default()
            },
        ];
        for found in cases {
            let text = render(&found);
            let file =
                crate::config::ConfigFile::parse(None, FILE_NAME.into(), text.clone()).unwrap();
            let config = crate::config::Config::load(Some(file)).unwrap();
            config.migrations().unwrap();
            config.models().unwrap();
        }
    }
}
