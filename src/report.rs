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

/// A file a rule could not check, and why (listed under `--verbose`).
#[derive(Clone, Debug, Serialize)]
pub struct NotChecked {
    pub code: String,
    pub path: PathBuf,
    /// 1-based line it concerns, when known.
    pub line: Option<usize>,
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
    /// A run over several Alembic environments: each one's own status (the fields
    /// above then hold them all together). Empty for a run over one project.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub environments: Vec<EnvironmentStatus>,
}

/// One environment's part of a run over several.
#[derive(Clone, Debug, Default, Serialize)]
pub struct EnvironmentStatus {
    pub name: String,
    /// Its project root.
    pub root: PathBuf,
    pub database: Option<String>,
    pub current_revisions: Option<Vec<String>>,
    pub head_revisions: Vec<String>,
    pub pending: Option<usize>,
    /// How many migration files it has.
    pub migration_files: usize,
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
    /// Files a rule skipped, and why; gathered under `--verbose` only.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_checked: Vec<NotChecked>,
    /// The checklist ([`crate::checklist`]).
    pub checks: Vec<crate::checklist::Check>,
    #[serde(skip)]
    pub fail_on: FailOn,
    /// `--baseline`: the findings the baseline file holds (not in the report's
    /// diagnostics) and its entries that matched nothing. `None` without one.
    #[serde(skip)]
    pub baseline: Option<crate::baseline::Outcome>,
    /// `--changed-since`: the files it covered and the findings it left out.
    /// `None` without it.
    #[serde(skip)]
    pub changed: Option<crate::changed::Scope>,
    /// Fixes `check --fix` wrote before this report was made.
    #[serde(skip)]
    pub fixed: usize,
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

    /// The summary's counts and checklist again, after diagnostics were left out
    /// (a baseline, `--changed-since`).
    pub fn recount(&mut self) {
        let s = &mut self.summary;
        (s.errors, s.warnings, s.infos) = (0, 0, 0);
        for d in &self.diagnostics {
            match d.severity {
                Severity::Error => s.errors += 1,
                Severity::Warning => s.warnings += 1,
                Severity::Info => s.infos += 1,
            }
        }
        crate::checklist::recount(&mut s.checks, &self.diagnostics);
    }

    /// A path relative to the project root with `/` separators (SARIF URIs).
    pub fn root_relative(&self, path: &Path) -> String {
        relative_path(path, &self.root)
    }
}

/// One report for a run over several Alembic environments, each checked as its own
/// history: the diagnostics of all (each message starts with `[name] `, the
/// environment it belongs to), their summaries added up, and a status per
/// environment. Paths for SARIF are relative to the directory all their roots share.
pub fn merge(reports: Vec<(Option<String>, Report)>, cwd: PathBuf) -> Report {
    let mut root: Option<PathBuf> = None;
    let mut diagnostics = Vec::new();
    let mut rules = Vec::new();
    let mut sources = HashMap::new();
    let mut status = Status::default();
    let mut summary = Summary::default();
    let mut verbose = false;
    for (name, report) in reports {
        let name = name.unwrap_or_else(|| report.root.display().to_string());
        root = Some(match root {
            None => report.root.clone(),
            Some(r) => common_ancestor(&r, &report.root),
        });
        for mut d in report.diagnostics {
            d.message = format!("[{name}] {}", d.message);
            diagnostics.push(d);
        }
        if rules.is_empty() {
            rules = report.rules;
        }
        sources.extend(report.sources);
        let s = report.status;
        status.environments.push(EnvironmentStatus {
            name: name.clone(),
            root: report.root.clone(),
            database: s.database.clone(),
            current_revisions: s.current_revisions.clone(),
            head_revisions: s.head_revisions.clone(),
            pending: s.pending.as_ref().map(Vec::len),
            migration_files: s.migration_files.len(),
        });
        status.head_revisions.extend(s.head_revisions);
        status.version_locations.extend(s.version_locations);
        status.migration_files.extend(s.migration_files);
        if let Some(files) = s.model_files {
            status
                .model_files
                .get_or_insert_with(Vec::new)
                .extend(files);
        }
        if let Some(tables) = s.model_tables {
            status
                .model_tables
                .get_or_insert_with(Vec::new)
                .extend(tables);
        }
        summary.errors += report.summary.errors;
        summary.warnings += report.summary.warnings;
        summary.infos += report.summary.infos;
        summary.files += report.summary.files;
        // A check passes only where it passed in every environment: keep the worst.
        for c in report.summary.checks {
            let rank = |o: &crate::checklist::Outcome| {
                use crate::checklist::Outcome::*;
                match o {
                    Skipped => 0,
                    Passed => 1,
                    Warning => 2,
                    Failed => 3,
                }
            };
            match summary.checks.iter_mut().find(|k| k.name == c.name) {
                Some(k) if rank(&c.outcome) > rank(&k.outcome) => *k = c,
                Some(_) => {}
                None => summary.checks.push(c),
            }
        }
        summary.not_checked.extend(report.summary.not_checked);
        for skipped in report.summary.skipped_rules {
            if !summary.skipped_rules.iter().any(|k| k.code == skipped.code) {
                summary.skipped_rules.push(skipped);
            }
        }
        verbose |= report.verbose;
    }
    Report {
        root: root.unwrap_or_else(|| cwd.clone()),
        cwd,
        diagnostics,
        rules,
        sources,
        status,
        summary,
        verbose,
    }
}

/// `path` relative to `base` with `/` separators when under it, else as it is.
pub fn relative_path(path: &Path, base: &Path) -> String {
    relative(path, base).unwrap_or_else(|| path.display().to_string())
}

fn common_ancestor(a: &Path, b: &Path) -> PathBuf {
    a.components()
        .zip(b.components())
        .take_while(|(x, y)| x == y)
        .map(|(x, _)| x)
        .collect()
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
