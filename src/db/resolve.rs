//! Which database a run looks at, and where it was named.
//!
//! Precedence, first that is set wins:
//! 1. `--snapshot FILE`, 2. `--database-url URL`, 3. `MIGVERIFY_DATABASE_URL`,
//! 4. `[database] snapshot`, 5. `[database] url` (`${VAR}` interpolated),
//! 6. `sqlalchemy.url` of `alembic.ini` (ignored when it is Alembic's `driver://`
//!    placeholder). Relative SQLite paths resolve against the project root.
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
    let root = &project.root;
    let parse = |raw: &str, origin: Origin| -> Result<Option<Choice>, Error> {
        let url = DbUrl::parse_with_env(raw, root, &env).map_err(|e| Error::Database {
            message: format!("invalid database URL: {e}"),
            help: Some(describe(&origin)),
        })?;
        Ok(Some(Choice::Url { url, origin }))
    };
    if !flags.live_only
        && let Some(p) = &flags.snapshot
    {
        // A snapshot of the project's own database: findings go where the project
        // names it, so `check --snapshot` reports exactly what the live check does.
        return Ok(Some(Choice::Snapshot {
            path: p.clone(),
            origin: configured_origin(project).unwrap_or(Origin::Flag),
        }));
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
        return Ok(Some(Choice::Snapshot {
            path: s.get_ref().clone(),
            origin: config_origin(s.span()),
        }));
    }
    if let Some(u) = &project.database.url {
        return parse(u.get_ref(), config_origin(u.span()));
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
    Ok(None)
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
    }
}

/// The place a database finding about no particular migration points at, with the
/// file's text for snippets; `None` for flags and the environment.
pub fn origin_location(origin: &Origin) -> Option<(Location, Arc<SourceFile>)> {
    let (path, span) = match origin {
        Origin::Flag | Origin::Env => return None,
        Origin::Config { path, span } => (path, *span),
        Origin::AlembicIni { path } => (path, None),
    };
    let bytes =
        crate::bounded::read(path, crate::bounded::CONFIG_LIMIT, "a configuration file").ok()?;
    let mut src = SourceFile::from_bytes(path.clone(), bytes);
    // Snippets of the file must not show a password written in a URL there (the
    // masking keeps every byte offset and line).
    src.text = super::url::mask_passwords(&src.text);
    let src = Arc::new(src);
    let span = match (origin, span) {
        (Origin::Config { .. }, Some((s, e))) if e <= src.text.len() => Some(src.span(s, e)),
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
                origin: origin_location(&origin),
            })
        }
        Choice::Url { url, origin } => {
            let snapshot = capture(project, &url)?;
            Ok(Loaded {
                snapshot,
                label: url.redacted().to_string(),
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
