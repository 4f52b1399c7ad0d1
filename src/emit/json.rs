//! `json`: the whole report as one JSON document, for scripts.
//!
//! ```json
//! {"version": 1, "diagnostics": [...], "status": {...}, "summary": {...}}
//! ```
//!
//! Paths are shown as people see them (relative to the working directory when under
//! it); spans are 1-based lines and character columns, `null` for file-level findings.
//! `version` changes only when a field is removed or changes meaning.

use std::io::{self, Write};

use serde::Serialize;

use super::{EmitOptions, Emitter};
use crate::diagnostic::{Location, Severity, Span};
use crate::report::{Report, SkippedRule};

/// The JSON format's version. 2: `status.pending` is the list of pending
/// revisions (it was a count).
pub const VERSION: u32 = 2;

pub struct Json;

#[derive(Serialize)]
struct Document<'a> {
    version: u32,
    diagnostics: Vec<JsonDiagnostic<'a>>,
    status: JsonStatus<'a>,
    /// The checklist: one entry per check, as the human format's.
    checks: &'a [crate::checklist::Check],
    summary: JsonSummary<'a>,
}

#[derive(Serialize)]
struct JsonPending<'a> {
    revision: &'a str,
    path: String,
    message: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonDiagnostic<'a> {
    code: &'a str,
    name: &'a str,
    severity: Severity,
    message: &'a str,
    path: String,
    span: Option<JsonSpan>,
    related: Vec<JsonRelated<'a>>,
    help: Option<&'a str>,
    /// The fix `check --fix` applies, when there is one (as ruff's `fix`).
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<JsonFix<'a>>,
}

#[derive(Serialize)]
struct JsonFix<'a> {
    message: &'a str,
    /// Each replacement: the span it replaces (empty for an insertion) and its text.
    edits: Vec<JsonEdit<'a>>,
}

#[derive(Serialize)]
struct JsonEdit<'a> {
    span: JsonSpan,
    content: &'a str,
}

/// A diagnostic's fix with its edits located in the file's text.
fn json_fix<'a>(report: &Report, d: &'a crate::diagnostic::Diagnostic) -> Option<JsonFix<'a>> {
    let fix = d.fix.as_ref()?;
    let src = report.sources.get(&d.location.path)?;
    Some(JsonFix {
        message: &fix.title,
        edits: fix
            .edits
            .iter()
            .map(|e| JsonEdit {
                span: JsonSpan::from(src.span(e.start, e.end)),
                content: &e.content,
            })
            .collect(),
    })
}

/// A span as the JSON format shows it: lines and columns, no byte offsets.
#[derive(Serialize)]
struct JsonSpan {
    start_line: usize,
    start_column: usize,
    end_line: usize,
    end_column: usize,
}

impl From<Span> for JsonSpan {
    fn from(s: Span) -> JsonSpan {
        JsonSpan {
            start_line: s.start_line,
            start_column: s.start_column,
            end_line: s.end_line,
            end_column: s.end_column,
        }
    }
}

#[derive(Serialize)]
struct JsonRelated<'a> {
    path: String,
    span: Option<JsonSpan>,
    message: &'a str,
}

#[derive(Serialize)]
struct JsonStatus<'a> {
    /// Redacted URL; `null` when no database is configured.
    database: Option<&'a str>,
    /// Where the URL was named; `null` for snapshots and without a database.
    database_source: Option<&'a str>,
    /// Why no database is used (`--no-database`, an unreadable `env.py` URL).
    database_note: Option<&'a str>,
    current_revisions: Option<&'a [String]>,
    head_revisions: &'a [String],
    /// Pending revisions in apply order; `null` without a database.
    pending: Option<Vec<JsonPending<'a>>>,
    version_locations: Vec<String>,
    migration_files: Vec<String>,
    tables: Option<&'a [String]>,
    /// Present only when models are configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    model_files: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model_tables: Option<&'a [String]>,
    /// Present only for a run over several Alembic environments: each one's status.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    environments: &'a [crate::report::EnvironmentStatus],
    /// Present only when `--check-schema` found the model files itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    models_note: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonSummary<'a> {
    errors: usize,
    warnings: usize,
    infos: usize,
    files: usize,
    skipped_rules: &'a [SkippedRule],
    /// Checks that passed, and checks that ran (not skipped).
    checks_passed: usize,
    checks_run: usize,
    /// Present only with a baseline (`--baseline`, `[check] baseline`).
    #[serde(skip_serializing_if = "Option::is_none")]
    baseline: Option<JsonBaseline>,
    /// Present only with `--changed-since`.
    #[serde(skip_serializing_if = "Option::is_none")]
    changed_since: Option<JsonChanged<'a>>,
}

#[derive(Serialize)]
struct JsonBaseline {
    file: String,
    /// Findings the baseline holds, not listed in `diagnostics`.
    unchanged: usize,
    /// Its entries that matched nothing (problems fixed since it was written).
    fixed: usize,
}

#[derive(Serialize)]
struct JsonChanged<'a> {
    reference: &'a str,
    merge_base: &'a str,
    /// Changed files among the migration files.
    migration_files: usize,
    /// Findings left out, in no changed file.
    left_out: usize,
}

impl Emitter for Json {
    fn emit(&self, report: &Report, _opts: EmitOptions, out: &mut dyn Write) -> io::Result<()> {
        let path = |loc: &Location| report.display_path(&loc.path);
        let status = &report.status;
        let doc = Document {
            version: VERSION,
            diagnostics: report
                .diagnostics
                .iter()
                .map(|d| JsonDiagnostic {
                    code: &d.code,
                    name: &d.name,
                    severity: d.severity,
                    message: &d.message,
                    path: path(&d.location),
                    span: d.location.span.map(JsonSpan::from),
                    related: d
                        .related
                        .iter()
                        .map(|r| JsonRelated {
                            path: path(&r.location),
                            span: r.location.span.map(JsonSpan::from),
                            message: &r.message,
                        })
                        .collect(),
                    help: d.help.as_deref(),
                    fix: json_fix(report, d),
                })
                .collect(),
            status: JsonStatus {
                database: status.database.as_deref(),
                database_source: status.database_source.as_deref(),
                database_note: status.database_note.as_deref(),
                current_revisions: status.current_revisions.as_deref(),
                head_revisions: &status.head_revisions,
                pending: status.pending.as_ref().map(|p| {
                    p.iter()
                        .map(|p| JsonPending {
                            revision: &p.revision,
                            path: report.display_path(&p.path),
                            message: p.message.as_deref(),
                        })
                        .collect()
                }),
                version_locations: status
                    .version_locations
                    .iter()
                    .map(|p| report.display_path(p))
                    .collect(),
                migration_files: status
                    .migration_files
                    .iter()
                    .map(|p| report.display_path(p))
                    .collect(),
                tables: status.tables.as_deref(),
                model_files: status
                    .model_files
                    .as_ref()
                    .map(|f| f.iter().map(|p| report.display_path(p)).collect()),
                model_tables: status.model_tables.as_deref(),
                environments: &status.environments,
                models_note: status.models_note.as_deref(),
            },
            checks: &report.summary.checks,
            summary: JsonSummary {
                checks_passed: crate::checklist::tally(&report.summary.checks).0,
                checks_run: crate::checklist::tally(&report.summary.checks).1,
                errors: report.summary.errors,
                warnings: report.summary.warnings,
                infos: report.summary.infos,
                files: report.summary.files,
                skipped_rules: &report.summary.skipped_rules,
                baseline: report.summary.baseline.as_ref().map(|b| JsonBaseline {
                    file: report.display_path(&report.cwd.join(&b.file)),
                    unchanged: b.unchanged.len(),
                    fixed: b.fixed,
                }),
                changed_since: report.summary.changed.as_ref().map(|c| JsonChanged {
                    reference: &c.reference,
                    merge_base: &c.merge_base,
                    migration_files: c.migration_files,
                    left_out: c.left_out,
                }),
            },
        };
        let json = serde_json::to_vec_pretty(&doc)?;
        out.write_all(&crate::text::escape_json_controls(json))?;
        writeln!(out)
    }
}
