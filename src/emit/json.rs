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

/// The JSON format's version.
pub const VERSION: u32 = 1;

pub struct Json;

#[derive(Serialize)]
struct Document<'a> {
    version: u32,
    diagnostics: Vec<JsonDiagnostic<'a>>,
    status: JsonStatus<'a>,
    summary: JsonSummary<'a>,
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
    current_revisions: Option<&'a [String]>,
    head_revisions: &'a [String],
    pending: Option<usize>,
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
}

#[derive(Serialize)]
struct JsonSummary<'a> {
    errors: usize,
    warnings: usize,
    infos: usize,
    files: usize,
    skipped_rules: &'a [SkippedRule],
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
                })
                .collect(),
            status: JsonStatus {
                database: status.database.as_deref(),
                current_revisions: status.current_revisions.as_deref(),
                head_revisions: &status.head_revisions,
                pending: status.pending,
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
            },
            summary: JsonSummary {
                errors: report.summary.errors,
                warnings: report.summary.warnings,
                infos: report.summary.infos,
                files: report.summary.files,
                skipped_rules: &report.summary.skipped_rules,
            },
        };
        let json = serde_json::to_vec_pretty(&doc)?;
        out.write_all(&crate::text::escape_json_controls(json))?;
        writeln!(out)
    }
}
