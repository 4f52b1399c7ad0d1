//! Which database a run looks at, and where it was named.
//!
//! Precedence, first that is set wins:
//! 1. `--snapshot FILE`, 2. `--database-url URL`, 3. `MIGVERIFY_DATABASE_URL`,
//! 4. `[database] snapshot`, 5. `[database] url` (`${VAR}` interpolated),
//! 6. what Alembic's `env.py` reads (an environment variable, from the process or,
//!    when `env.py` calls `load_dotenv()`, a `.env` file; [`crate::project::env_py`]),
//! 7. `sqlalchemy.url` of `alembic.ini` (ignored when it is Alembic's `driver://`
//!    placeholder). Relative SQLite paths resolve against the project root.
//!
//! When `env.py` builds the URL in a way migverify cannot read, or reads it from a
//! variable that is not set, no database is used and the resolution carries a note
//! saying so (never `alembic.ini`'s URL, which is not the database Alembic uses).
//!
//! `migverify snapshot` ignores the snapshot sources: it always connects.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Snapshot;
use super::url::DbUrl;
use crate::Error;
use crate::diagnostic::Location;
use crate::project::Project;
use crate::source::SourceFile;

/// The environment variable naming the database.
pub const ENV_VAR: &str = "MIGVERIFY_DATABASE_URL";

/// Alembic's `alembic.ini` template value, which names no database.
pub const ALEMBIC_PLACEHOLDER: &str = "driver://user:pass@localhost/dbname";

/// What named the database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// `--database-url`, or `--snapshot` when the project names no database itself.
    Flag,
    /// `MIGVERIFY_DATABASE_URL`.
    Env,
    /// A value in the config file (`url` or `snapshot`), byte range of the value.
    Config {
        path: PathBuf,
        span: Option<(usize, usize)>,
    },
    /// `sqlalchemy.url` in `alembic.ini`.
    AlembicIni { path: PathBuf },
    /// What Alembic's `env.py` reads: `var` (`None` for a URL written in `env.py`),
    /// `span` the byte range of the read in `env.py`, `dotenv` the `.env` file the
    /// value came from (else the process environment).
    EnvPy {
        path: PathBuf,
        span: (usize, usize),
        var: Option<String>,
        dotenv: Option<PathBuf>,
    },
}

impl Origin {
    /// Where the URL came from, for the status block: `DATABASE_URL, read by
    /// alembic/env.py`, `--database-url`, `sqlalchemy.url in alembic.ini`.
    pub fn label(&self, root: &Path) -> String {
        match self {
            Origin::Flag => "--database-url".into(),
            Origin::Env => ENV_VAR.into(),
            Origin::Config { path, .. } => {
                format!("[database] url in {}", display(path, root))
            }
            Origin::AlembicIni { path } => format!("sqlalchemy.url in {}", display(path, root)),
            Origin::EnvPy {
                path, var, dotenv, ..
            } => match (var, dotenv) {
                (Some(v), None) => format!("{v}, read by {}", display(path, root)),
                (Some(v), Some(d)) => format!(
                    "{v} from {}, read by {}",
                    display(d, root),
                    display(path, root)
                ),
                (None, _) => format!("written in {}", display(path, root)),
            },
        }
    }
}

/// The database a run would use, and why there is none when `env.py` names one
/// that cannot be used.
#[derive(Debug, Default)]
pub struct Resolved {
    pub choice: Option<Choice>,
    /// Why no database is used although `env.py` configures one (for the status
    /// block and the skipped rules).
    pub note: Option<String>,
}

/// The database a run uses.
#[derive(Debug)]
pub enum Choice {
    Url { url: DbUrl, origin: Origin },
    Snapshot { path: PathBuf, origin: Origin },
}

/// What the command line says about the database.
#[derive(Clone, Debug, Default)]
pub struct Flags {
    pub database_url: Option<String>,
    pub snapshot: Option<PathBuf>,
    /// `migverify snapshot`: never read a snapshot file.
    pub live_only: bool,
}

/// Resolves the database of `project`; `None` when nothing names one.
pub fn resolve(
    project: &Project,
    flags: &Flags,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<Choice>, Error> {
    Ok(resolve_noted(project, flags, env)?.choice)
}

/// [`resolve`], with a note when `env.py` names a database that cannot be used.
pub fn resolve_noted(
    project: &Project,
    flags: &Flags,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Resolved, Error> {
    let root = &project.root;
    let found = |choice| Resolved { choice, note: None };
    let parse = |raw: &str, origin: Origin| -> Result<Resolved, Error> {
        let url = DbUrl::parse_with_env(raw, root, &env).map_err(|e| Error::Database {
            message: format!("invalid database URL: {e}"),
            help: Some(describe(&origin)),
        })?;
        Ok(found(Some(Choice::Url { url, origin })))
    };
    if !flags.live_only
        && let Some(p) = &flags.snapshot
    {
        // A snapshot of the project's own database: findings go where the project
        // names it, so `check --snapshot` reports exactly what the live check does.
        return Ok(found(Some(Choice::Snapshot {
            path: p.clone(),
            origin: configured_origin(project).unwrap_or(Origin::Flag),
        })));
    }
    if let Some(u) = &flags.database_url {
        return parse(u, Origin::Flag);
    }
    if let Some(u) = env(ENV_VAR).filter(|u| !u.trim().is_empty()) {
        return parse(&u, Origin::Env);
    }
    let config_origin = |span: std::ops::Range<usize>| Origin::Config {
        path: project.config_path.clone().unwrap_or_default(),
        span: Some((span.start, span.end)),
    };
    if !flags.live_only
        && let Some(s) = &project.database.snapshot
    {
        return Ok(found(Some(Choice::Snapshot {
            path: s.get_ref().clone(),
            origin: config_origin(s.span()),
        })));
    }
    if let Some(u) = &project.database.url {
        return parse(u.get_ref(), config_origin(u.span()));
    }
    match from_env_py(project, &env) {
        EnvPyUrl::Url { raw, origin } => return parse(&raw, origin),
        EnvPyUrl::Unusable(note) => {
            return Ok(Resolved {
                choice: None,
                note: Some(note),
            });
        }
        EnvPyUrl::Ini => {}
    }
    if let Some(u) = project.sqlalchemy_url().map(str::trim)
        && !u.is_empty()
        && u != ALEMBIC_PLACEHOLDER
    {
        let path = project
            .alembic
            .as_ref()
            .and_then(|a| a.ini_path.clone().or_else(|| a.pyproject_path.clone()))
            .unwrap_or_default();
        return parse(u, Origin::AlembicIni { path });
    }
    Ok(found(None))
}

/// What `env.py` makes of the URL.
enum EnvPyUrl {
    Url {
        raw: String,
        origin: Origin,
    },
    /// `env.py` names a database that cannot be used: why.
    Unusable(String),
    /// `env.py` uses `alembic.ini`'s URL (or there is no `env.py`).
    Ini,
}

fn from_env_py(project: &Project, env: &impl Fn(&str) -> Option<String>) -> EnvPyUrl {
    use crate::project::env_py::{self, Fallback, UrlSource};
    let Some(path) = project.env_py_path() else {
        return EnvPyUrl::Ini;
    };
    let Some(read) = env_py::read(&path) else {
        return EnvPyUrl::Ini;
    };
    let shown = display(&path, &project.root);
    match read.url {
        None => EnvPyUrl::Ini,
        Some(UrlSource::Unreadable { line, text }) => EnvPyUrl::Unusable(format!(
            "{shown}:{line} builds the database URL in a way migverify cannot read (`{text}`); \
             pass --database-url or set {ENV_VAR}"
        )),
        Some(UrlSource::Literal { url, span }) => EnvPyUrl::Url {
            raw: url,
            origin: Origin::EnvPy {
                path,
                span,
                var: None,
                dotenv: None,
            },
        },
        Some(UrlSource::Env {
            vars,
            fallback,
            span,
        }) => {
            let dotenv = read
                .loads_dotenv
                .then(|| env_py::find_dotenv(&path, &project.root))
                .flatten();
            let dotenv_values = dotenv
                .as_ref()
                .and_then(|p| std::fs::read(p).ok())
                .map(|b| env_py::read_dotenv(&String::from_utf8_lossy(&b)))
                .unwrap_or_default();
            for var in &vars {
                // python-dotenv does not override what the process already has.
                if let Some(v) = env(var).filter(|v| !v.trim().is_empty()) {
                    return EnvPyUrl::Url {
                        raw: v,
                        origin: Origin::EnvPy {
                            path,
                            span,
                            var: Some(var.clone()),
                            dotenv: None,
                        },
                    };
                }
                if let Some(v) = dotenv_values.get(var).filter(|v| !v.trim().is_empty()) {
                    return EnvPyUrl::Url {
                        raw: v.clone(),
                        origin: Origin::EnvPy {
                            path,
                            span,
                            var: Some(var.clone()),
                            dotenv: dotenv.clone(),
                        },
                    };
                }
            }
            match fallback {
                Fallback::Ini => EnvPyUrl::Ini,
                Fallback::Literal(url) => EnvPyUrl::Url {
                    raw: url,
                    origin: Origin::EnvPy {
                        path,
                        span,
                        var: None,
                        dotenv: None,
                    },
                },
                Fallback::None => EnvPyUrl::Unusable(format!(
                    "{} {} not set ({shown} reads the database URL from {})",
                    vars.join(", "),
                    if vars.len() == 1 { "is" } else { "are" },
                    if vars.len() == 1 { "it" } else { "them" },
                )),
            }
        }
    }
}

/// Where the project's config names its database (`[database] url`, else a real
/// `sqlalchemy.url`), regardless of flags and environment.
fn configured_origin(project: &Project) -> Option<Origin> {
    if let Some(u) = &project.database.url {
        return Some(Origin::Config {
            path: project.config_path.clone().unwrap_or_default(),
            span: Some((u.span().start, u.span().end)),
        });
    }
    let a = project.alembic.as_ref()?;
    let u = a.sqlalchemy_url.as_deref()?.trim();
    if u.is_empty() || u == ALEMBIC_PLACEHOLDER {
        return None;
    }
    Some(Origin::AlembicIni {
        path: a.ini_path.clone().or_else(|| a.pyproject_path.clone())?,
    })
}

fn describe(origin: &Origin) -> String {
    match origin {
        Origin::Flag => "given by --database-url".into(),
        Origin::Env => format!("given by {ENV_VAR}"),
        Origin::Config { path, .. } => format!("`[database] url` in {}", path.display()),
        Origin::AlembicIni { path } => format!("`sqlalchemy.url` in {}", path.display()),
        Origin::EnvPy { path, var, .. } => match var {
            Some(v) => format!("`{v}`, read by {}", path.display()),
            None => format!("written in {}", path.display()),
        },
    }
}

/// The place a database finding about no particular migration points at, with the
/// file's text for snippets; `None` for flags and the environment.
pub fn origin_location(origin: &Origin) -> Option<(Location, Arc<SourceFile>)> {
    let (path, span) = match origin {
        Origin::Flag | Origin::Env => return None,
        Origin::Config { path, span } => (path, *span),
        Origin::AlembicIni { path } => (path, None),
        Origin::EnvPy { path, span, .. } => (path, Some(*span)),
    };
    let bytes =
        crate::bounded::read(path, crate::bounded::CONFIG_LIMIT, "a configuration file").ok()?;
    let mut src = SourceFile::from_bytes(path.clone(), bytes);
    // Snippets of the file must not show a password written in a URL there (the
    // masking keeps every byte offset and line).
    src.text = super::url::mask_passwords(&src.text);
    let src = Arc::new(src);
    let span = match (origin, span) {
        (Origin::Config { .. } | Origin::EnvPy { .. }, Some((s, e))) if e <= src.text.len() => {
            Some(src.span(s, e))
        }
        (Origin::AlembicIni { .. }, _) => sqlalchemy_url_line(&src),
        _ => None,
    };
    Some((
        Location {
            path: path.clone(),
            span,
        },
        src,
    ))
}

fn sqlalchemy_url_line(src: &SourceFile) -> Option<crate::diagnostic::Span> {
    let line = src.text.lines().position(|l| {
        let l = l.trim_start();
        l.starts_with("sqlalchemy.url")
            && l["sqlalchemy.url".len()..]
                .trim_start()
                .starts_with(['=', ':'])
    })?;
    src.line_span(line + 1)
}

/// The database a check run sees: a snapshot and how to show where it came from.
#[derive(Debug)]
pub struct Loaded {
    pub snapshot: Snapshot,
    /// For the status block: the redacted URL, or `snapshot <path>`.
    pub label: String,
    /// Where the URL (or snapshot) was named: [`Origin::label`].
    pub source: Option<String>,
    pub origin: Option<(Location, Arc<SourceFile>)>,
}

/// Capture options from `[database]`.
#[cfg(feature = "db")]
pub fn capture_options(project: &Project) -> super::CaptureOptions {
    let d = &project.database;
    let mut opts = super::CaptureOptions::default();
    if let Some(t) = d.connect_timeout {
        opts.connect_timeout = t;
    }
    opts.version_table = d.version_table().to_string();
    opts.version_table_schema = d.version_table_schema.clone();
    opts.schemas = d.schemas.clone();
    opts
}

/// Captures (or reads) the chosen database.
pub fn load(project: &Project, choice: Choice) -> Result<Loaded, Error> {
    match choice {
        Choice::Snapshot { path, origin } => {
            let snapshot = Snapshot::from_path(&path)?;
            Ok(Loaded {
                snapshot,
                label: format!("snapshot {}", display(&path, &project.root)),
                source: None,
                origin: origin_location(&origin),
            })
        }
        Choice::Url { url, origin } => {
            let snapshot = capture(project, &url)?;
            Ok(Loaded {
                snapshot,
                label: url.redacted().to_string(),
                source: Some(origin.label(&project.root)),
                origin: origin_location(&origin),
            })
        }
    }
}

/// Captures a live database with the project's `[database]` options.
#[cfg(feature = "db")]
pub fn capture(project: &Project, url: &DbUrl) -> Result<Snapshot, Error> {
    Ok(super::capture_blocking(url, &capture_options(project))?)
}

#[cfg(not(feature = "db"))]
pub fn capture(_project: &Project, url: &DbUrl) -> Result<Snapshot, Error> {
    Err(Error::Database {
        message: format!(
            "cannot connect to {}: migverify was built without the `db` feature",
            url.redacted()
        ),
        help: Some("capture a snapshot elsewhere and pass it with --snapshot".into()),
    })
}

fn display(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use crate::rules::Registry;

    fn project(root: &Path) -> Project {
        Project::for_files(
            root.to_path_buf(),
            vec![],
            vec![],
            Settings::recommended(&Registry::builtin()),
        )
    }

    #[test]
    fn precedence_flag_env_config_alembic() {
        let tmp = tempfile::tempdir().unwrap();
        let mut p = project(tmp.path());
        p.database.url = Some(toml::Spanned::new(0..10, "sqlite:///${DB}".into()));
        let env_none = |_: &str| None;
        let env_db = |k: &str| (k == "DB").then(|| "c.db".to_string());
        let env_all = |k: &str| match k {
            ENV_VAR => Some("sqlite:///e.db".to_string()),
            "DB" => Some("c.db".to_string()),
            _ => None,
        };
        let flags = Flags {
            database_url: Some("sqlite:///f.db".into()),
            ..Flags::default()
        };
        let url_of = |c: Option<Choice>| match c {
            Some(Choice::Url { url, origin }) => (url.redacted().to_string(), origin),
            other => panic!("{other:?}"),
        };
        let root = tmp.path().display();
        assert_eq!(
            url_of(resolve(&p, &flags, env_all).unwrap()),
            (format!("sqlite:///{root}/f.db"), Origin::Flag)
        );
        assert_eq!(
            url_of(resolve(&p, &Flags::default(), env_all).unwrap()),
            (format!("sqlite:///{root}/e.db"), Origin::Env)
        );
        let (u, o) = url_of(resolve(&p, &Flags::default(), env_db).unwrap());
        assert_eq!(u, format!("sqlite:///{root}/c.db"));
        assert!(matches!(o, Origin::Config { .. }));
        assert!(resolve(&p, &Flags::default(), env_none).is_err());

        p.database.url = None;
        assert!(resolve(&p, &Flags::default(), env_none).unwrap().is_none());
        p.alembic = Some(crate::project::AlembicConfig {
            dir: tmp.path().to_path_buf(),
            ini_path: Some(tmp.path().join("alembic.ini")),
            sqlalchemy_url: Some(ALEMBIC_PLACEHOLDER.into()),
            ..Default::default()
        });
        assert!(resolve(&p, &Flags::default(), env_none).unwrap().is_none());
        p.alembic.as_mut().unwrap().sqlalchemy_url = Some("sqlite:///a.db".into());
        let (u, o) = url_of(resolve(&p, &Flags::default(), env_none).unwrap());
        assert_eq!(u, format!("sqlite:///{root}/a.db"));
        assert!(matches!(o, Origin::AlembicIni { .. }));

        let snap = Flags {
            snapshot: Some("s.json".into()),
            database_url: Some("sqlite:///f.db".into()),
            live_only: false,
        };
        assert!(matches!(
            resolve(&p, &snap, env_none).unwrap(),
            Some(Choice::Snapshot { .. })
        ));
        let live = Flags {
            live_only: true,
            ..snap
        };
        assert!(matches!(
            resolve(&p, &live, env_none).unwrap(),
            Some(Choice::Url { .. })
        ));
    }
}
