//! What a `check` run produced, handed to an emitter to format.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::diagnostic::{Diagnostic, Severity};
use crate::rules::RuleMeta;
use crate::source::SourceFile;

/// A rule that ran, with the severity it ran at.
#[derive(Clone, Debug)]
pub struct RuleRun {
    pub meta: RuleMeta,
    pub severity: Severity,
}

/// A rule that was selected but could not run.
#[derive(Clone, Debug, Serialize)]
pub struct SkippedRule {
    pub code: String,
    pub name: String,
    pub reason: String,
}

/// Where the project stands, like the status section of the Python script.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Status {
    /// The database, its URL redacted; `None` when no database is configured.
    pub database: Option<String>,
    /// Where the URL was named (`DATABASE_URL, read by alembic/env.py`); `None`
    /// for snapshots and without a database.
    pub database_source: Option<String>,
    /// Why no database is used although one may be configured (`--no-database`,
    /// an `env.py` URL migverify cannot read); `None` otherwise.
    pub database_note: Option<String>,
    /// Revisions in the version table; `None` without a database.
    pub current_revisions: Option<Vec<String>>,
    pub head_revisions: Vec<String>,
    /// Migrations not yet applied, in apply order; `None` without a database (or
    /// without a version table Alembic could read).
    pub pending: Option<Vec<PendingRevision>>,
    pub version_locations: Vec<PathBuf>,
    pub migration_files: Vec<PathBuf>,
    /// Each migration file's message (docstring's first paragraph), in the order
    /// of `migration_files`.
    pub migration_messages: Vec<Option<String>>,
    /// Tables in the database (for `--verbose`); `None` without a database.
    pub tables: Option<Vec<String>>,
    /// The SQLAlchemy model files read; `None` when no models are configured.
    pub model_files: Option<Vec<PathBuf>>,
    /// How the model files were chosen when no config names them (`--check-schema`
    /// found them): `app/models.py (found; set [models] paths to choose)`.
    pub models_note: Option<String>,
    /// The tables the models map (for `--verbose`); `None` without models.
    pub model_tables: Option<Vec<String>>,
}

/// A migration the database has not applied yet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PendingRevision {
    pub revision: String,
    pub path: PathBuf,
    /// The docstring's first paragraph (Alembic's `Script.doc`).
    pub message: Option<String>,
}

/// The severity at and above which the run fails (`--fail-on`); `None` never fails.
/// The summary line's mark follows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailOn(pub Option<Severity>);

impl Default for FailOn {
    fn default() -> Self {
        FailOn(Some(Severity::Error))
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    pub errors: usize,
    pub warnings: usize,
    pub infos: usize,
    /// Migration files checked.
    pub files: usize,
    pub skipped_rules: Vec<SkippedRule>,
    /// The checklist ([`crate::checklist`]).
    pub checks: Vec<crate::checklist::Check>,
    #[serde(skip)]
    pub fail_on: FailOn,
}

impl Summary {
    /// Whether a diagnostic count reaches `fail_on` (what exit 1 means).
    pub fn fails(&self) -> bool {
        match self.fail_on.0 {
            None => false,
            Some(Severity::Error) => self.errors > 0,
            Some(Severity::Warning) => self.errors + self.warnings > 0,
            Some(Severity::Info) => self.errors + self.warnings + self.infos > 0,
        }
    }
}

/// Everything an emitter may show.
#[derive(Debug)]
pub struct Report {
    /// The project root: SARIF URIs are relative to it.
    pub root: PathBuf,
    /// Where paths for people are shown relative to (the working directory).
    pub cwd: PathBuf,
    /// Sorted by path, line, column, code.
    pub diagnostics: Vec<Diagnostic>,
    /// Every rule that ran, in registry order.
    pub rules: Vec<RuleRun>,
    /// Source text of every file a diagnostic may point into.
    pub sources: HashMap<PathBuf, Arc<SourceFile>>,
    pub status: Status,
    pub summary: Summary,
    pub verbose: bool,
}

impl Report {
    /// A path as people see it: relative to the working directory when under it.
    pub fn display_path(&self, path: &Path) -> String {
        relative(path, &self.cwd).unwrap_or_else(|| path.display().to_string())
    }

    /// A path relative to the project root with `/` separators (SARIF URIs).
    pub fn root_relative(&self, path: &Path) -> String {
        relative(path, &self.root).unwrap_or_else(|| path.display().to_string())
    }
}

fn relative(path: &Path, base: &Path) -> Option<String> {
    let rel = path.strip_prefix(base).ok()?;
    let parts: Vec<_> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect();
    if parts.is_empty() {
        return None;
    }
    Some(parts.join("/"))
}
