//! `human`: every diagnostic rendered by miette (code, severity, message, a labelled
//! source snippet, help, related locations), then a status block like the Python
//! verification script's and a one-line summary. `--quiet` keeps the diagnostics only.

use std::fmt::{self, Display};
use std::io::{self, Write};
use std::sync::Arc;

use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError, MietteSpanContents,
    NamedSource, SourceCode, SourceSpan, SpanContents,
};

use super::{EmitOptions, Emitter};
use crate::diagnostic::{Diagnostic, Location, Severity};
use crate::report::{Report, Summary};
use crate::source::SourceFile;
use crate::text::escape_controls;

/// Width used when not writing to a terminal, so that output (and snapshots) is stable.
const FIXED_WIDTH: usize = 100;

pub struct Human;

impl Emitter for Human {
    fn emit(&self, report: &Report, opts: EmitOptions, out: &mut dyn Write) -> io::Result<()> {
        let handler = handler(opts);
        let mut shown = Shown::default();
        for d in &report.diagnostics {
            let rendered = render(&handler, &MietteDiagnostic::new(report, d, &mut shown));
            out.write_all(rendered.as_bytes())?;
            writeln!(out)?;
        }
        if opts.quiet {
            return Ok(());
        }
        write_status(report, out)?;
        write_checks(report, out)?;
        write_scope(report, out)?;
        writeln!(out)?;
        writeln!(out, "{}", summary_line(&report.summary, opts.color))?;
        if let Some(line) = fix_line(report) {
            writeln!(out, "{line}")?;
        }
        Ok(())
    }
}

/// What `--fix` did or could do, as ruff says it: `Fixed 2 problems`, `[*] 1
/// fixable with `migverify check --fix``.
pub(crate) fn fix_line(report: &Report) -> Option<String> {
    let fixable = report
        .diagnostics
        .iter()
        .filter(|d| d.fix.is_some())
        .count();
    let problems = |n: usize| if n == 1 { "problem" } else { "problems" };
    match (report.summary.fixed, fixable) {
        (0, 0) => None,
        (0, n) => Some(format!("[*] {n} fixable with `migverify check --fix`")),
        (f, 0) => Some(format!("Fixed {f} {}", problems(f))),
        (f, n) => Some(format!(
            "Fixed {f} {}; [*] {n} fixable with `migverify check --fix`",
            problems(f)
        )),
    }
}

fn handler(opts: EmitOptions) -> GraphicalReportHandler {
    if opts.color {
        // Colour implies a terminal (the caller decides): miette's default width.
        GraphicalReportHandler::new_themed(GraphicalTheme::unicode())
    } else {
        GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
            .with_urls(false)
            .with_width(FIXED_WIDTH)
    }
}

fn render(handler: &GraphicalReportHandler, diagnostic: &MietteDiagnostic) -> String {
    let mut s = String::new();
    // Writing into a String cannot fail.
    let _ = handler.render_report(&mut s, diagnostic);
    s
}

/// A file's text as miette reads it, shared without copying; for a file holding
/// control characters, a copy with them neutralized (byte for byte, see
/// [`crate::text::neutralize_controls`]): a snippet never drives the terminal.
#[derive(Debug)]
enum Text {
    Plain(Arc<SourceFile>),
    Neutralized(Arc<SourceFile>, Arc<String>),
}

impl SourceCode for Text {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let (src, text) = match self {
            Text::Plain(src) => (src, src.text.as_str()),
            Text::Neutralized(src, text) => (src, text.as_str()),
        };
        // miette reads a `str` from its start to find the lines around the span:
        // 60,000 findings in one large file made the format quadratic. Start at the
        // first context line instead (the line index finds it) and shift back.
        let first = src
            .line_index(span.offset())
            .saturating_sub(context_lines_before);
        let base = src.line_start(first).min(span.offset());
        let shifted = SourceSpan::new((span.offset() - base).into(), span.len());
        let text: &'a str = &text[base..];
        let c = text.read_span(&shifted, context_lines_before, context_lines_after)?;
        Ok(Box::new(MietteSpanContents::new(
            c.data(),
            SourceSpan::new((c.span().offset() + base).into(), c.span().len()),
            c.line() + first,
            c.column(),
            c.line_count() + first,
        )))
    }
}

/// The neutralized copies made so far, one per file (`None`: the file has no
/// control character), so each file is scanned once per report.
#[derive(Default)]
struct Shown(std::collections::HashMap<std::path::PathBuf, Option<Arc<String>>>);

impl Shown {
    fn text(&mut self, path: &std::path::Path, src: &Arc<SourceFile>) -> Text {
        let copy = self
            .0
            .entry(path.to_path_buf())
            .or_insert_with(|| crate::text::neutralize_controls(&src.text).map(Arc::new));
        match copy {
            Some(text) => Text::Neutralized(Arc::clone(src), Arc::clone(text)),
            None => Text::Plain(Arc::clone(src)),
        }
    }
}

/// One of our diagnostics (or one of its related locations) in miette's shape.
#[derive(Debug)]
struct MietteDiagnostic {
    /// `MV003 empty-downgrade [warning]`; `None` for related locations.
    code: Option<String>,
    severity: miette::Severity,
    /// The message, followed by `at <path>` when there is no snippet to show the path.
    message: String,
    source: Option<NamedSource<Text>>,
    label: Option<LabeledSpan>,
    help: Option<String>,
    url: Option<String>,
    related: Vec<MietteDiagnostic>,
}

impl MietteDiagnostic {
    fn new(report: &Report, d: &Diagnostic, shown: &mut Shown) -> Self {
        let (source, label) = snippet(report, &d.location, shown);
        let message = with_path(report, &d.message, &d.location, source.is_some());
        MietteDiagnostic {
            code: Some(format!("{} {} [{}]", d.code, d.name, d.severity)),
            severity: severity(d.severity),
            message,
            source,
            label,
            help: d.help.as_deref().map(|h| escape_controls(h).into_owned()),
            url: report
                .rules
                .iter()
                .find(|r| r.meta.code == d.code)
                .map_or_else(|| Some(super::help_uri(&d.code)), |r| r.meta.help_uri()),
            related: d
                .related
                .iter()
                .map(|r| {
                    // The message heads the related block; the snippet only underlines.
                    let (source, label) = snippet(report, &r.location, shown);
                    MietteDiagnostic {
                        code: None,
                        severity: miette::Severity::Advice,
                        message: with_path(report, &r.message, &r.location, source.is_some()),
                        source,
                        label,
                        help: None,
                        url: None,
                        related: Vec::new(),
                    }
                })
                .collect(),
        }
    }
}

/// Lines longer than this (in bytes) are not shown as a snippet: miette pads to the
/// label's column and panics past 65,535, and a megabyte-long line helps nobody.
pub(crate) const MAX_SNIPPET_LINE: usize = 4096;

/// The loaded source and a label for a location with a span; `(None, None)` otherwise,
/// and when a line the snippet would show is longer than [`MAX_SNIPPET_LINE`].
fn snippet(
    report: &Report,
    loc: &Location,
    shown: &mut Shown,
) -> (Option<NamedSource<Text>>, Option<LabeledSpan>) {
    let (Some(span), Some(src)) = (loc.span, report.sources.get(&loc.path)) else {
        return (None, None);
    };
    let len = src.text.len();
    let start = span.start.min(len);
    let end = span.end.clamp(start, len);
    let lines = [
        span.start_line.saturating_sub(1),
        span.start_line,
        span.end_line,
        span.end_line + 1,
    ];
    if lines.into_iter().any(|line| {
        src.line_span(line)
            .is_some_and(|l| l.end - l.start > MAX_SNIPPET_LINE)
    }) {
        return (None, None);
    }
    let source = NamedSource::new(
        escape_controls(&report.display_path(&loc.path)),
        shown.text(&loc.path, src),
    );
    let label = LabeledSpan::new_primary_with_span(None, start..end);
    (Some(source), Some(label))
}

/// The message (control characters escaped), followed by `at <path>` when there
/// is no snippet to show the path.
fn with_path(report: &Report, message: &str, loc: &Location, has_snippet: bool) -> String {
    let message = escape_controls(message);
    let path = || escape_controls(&report.display_path(&loc.path)).into_owned();
    match loc.span {
        _ if has_snippet => message.into_owned(),
        Some(s) => format!(
            "{message}\nat {}:{}:{}",
            path(),
            s.start_line,
            s.start_column
        ),
        None => format!("{message}\nat {}", path()),
    }
}

fn severity(s: Severity) -> miette::Severity {
    match s {
        Severity::Error => miette::Severity::Error,
        Severity::Warning => miette::Severity::Warning,
        Severity::Info => miette::Severity::Advice,
    }
}

impl Display for MietteDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for MietteDiagnostic {}

impl miette::Diagnostic for MietteDiagnostic {
    fn code<'a>(&'a self) -> Option<Box<dyn Display + 'a>> {
        self.code
            .as_ref()
            .map(|c| Box::new(c.as_str()) as Box<dyn Display>)
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(self.severity)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h.as_str()) as Box<dyn Display>)
    }

    fn url<'a>(&'a self) -> Option<Box<dyn Display + 'a>> {
        self.url
            .as_ref()
            .map(|u| Box::new(u.as_str()) as Box<dyn Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source.as_ref().map(|s| s as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.label
            .clone()
            .map(|l| Box::new(std::iter::once(l)) as Box<dyn Iterator<Item = LabeledSpan>>)
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        if self.related.is_empty() {
            return None;
        }
        Some(Box::new(
            self.related.iter().map(|r| r as &dyn miette::Diagnostic),
        ))
    }
}

/// The status block of a run over several Alembic environments: one block each.
fn write_environments(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    for env in &report.status.environments {
        writeln!(
            out,
            "Project {} ({}):",
            env.name,
            report.display_path(&env.root)
        )?;
        writeln!(
            out,
            "  Database: {}",
            env.database.as_deref().unwrap_or("not configured")
        )?;
        if let Some(current) = &env.current_revisions {
            writeln!(
                out,
                "  Current revision(s): {}",
                list_or_none(current.iter().map(String::as_str))
            )?;
        }
        writeln!(
            out,
            "  Head revision(s): {}",
            list_or_none(env.head_revisions.iter().map(String::as_str))
        )?;
        if let Some(pending) = env.pending {
            writeln!(out, "  Pending: {pending}")?;
        }
        writeln!(out, "  Migration files: {}", env.migration_files)?;
    }
    Ok(())
}

/// The status block, as the Python verification script printed it.
fn write_status(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let status = &report.status;
    if !status.environments.is_empty() {
        return write_environments(report, out);
    }
    // Revision ids, paths and table names come from files and the database.
    let e = |s: &str| escape_controls(s).into_owned();
    match (
        &status.database,
        &status.database_source,
        &status.database_note,
    ) {
        (Some(db), Some(source), _) => writeln!(out, "Database: {} ({})", e(db), e(source))?,
        (Some(db), None, _) => writeln!(out, "Database: {}", e(db))?,
        (None, _, Some(note)) => writeln!(out, "Database: {}", e(note))?,
        (None, _, None) => writeln!(out, "Database: not configured")?,
    }
    if let Some(current) = &status.current_revisions {
        writeln!(
            out,
            "Current revision(s): {}",
            e(&list_or_none(current.iter().map(String::as_str)))
        )?;
    }
    writeln!(
        out,
        "Head revision(s): {}",
        e(&list_or_none(
            status.head_revisions.iter().map(String::as_str)
        ))
    )?;
    if let Some(pending) = &status.pending {
        writeln!(out, "Pending: {}", pending.len())?;
        if report.verbose {
            for p in pending {
                writeln!(
                    out,
                    "  {} {}{}",
                    p.revision,
                    report.display_path(&p.path),
                    p.message
                        .as_deref()
                        .map(|m| format!(": {}", first_line(m)))
                        .unwrap_or_default()
                )?;
            }
        }
    }
    if !report.verbose {
        writeln!(out, "Migration files: {}", status.migration_files.len())?;
    }
    if let Some(note) = &status.models_note {
        writeln!(out, "Models: {note}")?;
    }
    if let (Some(files), Some(tables)) = (&status.model_files, &status.model_tables) {
        writeln!(
            out,
            "Model files: {} ({} table{})",
            files.len(),
            tables.len(),
            if tables.len() == 1 { "" } else { "s" }
        )?;
    }
    if !report.verbose {
        return Ok(());
    }
    writeln!(out, "Version locations:")?;
    for loc in &status.version_locations {
        writeln!(out, "  {}", e(&report.display_path(loc)))?;
    }
    writeln!(out, "Migration files: {}", status.migration_files.len())?;
    for (i, file) in status.migration_files.iter().enumerate() {
        let message = status
            .migration_messages
            .get(i)
            .and_then(Option::as_deref)
            .map(|m| format!(": {}", first_line(m)))
            .unwrap_or_default();
        writeln!(out, "  {}{}", e(&report.display_path(file)), e(&message))?;
    }
    if let Some(tables) = &status.model_tables {
        writeln!(out, "Model tables:")?;
        for table in tables {
            writeln!(out, "  {}", e(&table.to_string()))?;
        }
    }
    if let Some(tables) = &status.tables {
        writeln!(out, "Tables:")?;
        for table in tables {
            writeln!(out, "  {}", e(&table.to_string()))?;
        }
    }
    if !report.summary.skipped_rules.is_empty() {
        writeln!(out, "Skipped rules:")?;
        for rule in &report.summary.skipped_rules {
            writeln!(
                out,
                "  {} {}: skipped ({})",
                rule.code, rule.name, rule.reason
            )?;
        }
    }
    if !report.summary.not_checked.is_empty() {
        writeln!(out, "Not checked:")?;
        for n in &report.summary.not_checked {
            let line = n.line.map(|l| format!(":{l}")).unwrap_or_default();
            writeln!(
                out,
                "  {} {}{line}: {}",
                n.code,
                e(&report.display_path(&n.path)),
                e(&n.reason)
            )?;
        }
    }
    Ok(())
}

/// A message's first line, cut to 100 characters.
fn first_line(message: &str) -> String {
    crate::text::truncate(message.lines().next().unwrap_or_default().trim(), 100)
}

/// The checklist, as the Python script ended: one line per check, then the tally.
fn write_checks(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    use crate::checklist::Outcome;
    let checks = &report.summary.checks;
    if checks.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    for c in checks {
        let detail = c.detail.as_deref();
        match c.outcome {
            Outcome::Skipped => writeln!(
                out,
                "  - {}: skipped ({})",
                c.name,
                detail.unwrap_or("not run")
            )?,
            outcome => {
                let mark = match outcome {
                    Outcome::Passed => "✓",
                    Outcome::Warning => "⚠",
                    _ => "✗",
                };
                match detail {
                    Some(d) => writeln!(out, "  {mark} {} ({d})", c.name)?,
                    None => writeln!(out, "  {mark} {}", c.name)?,
                }
            }
        }
    }
    let (passed, run) = crate::checklist::tally(checks);
    let skipped = checks.len() - run;
    if skipped > 0 {
        writeln!(out, "Checks: {passed}/{run} passed ({skipped} skipped)")
    } else {
        writeln!(out, "Checks: {passed}/{run} passed")
    }
}

/// What `--changed-since` and a baseline left out; nothing without them.
fn write_scope(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    if let Some(c) = &report.summary.changed {
        writeln!(
            out,
            "Changed since {} (merge base {}): {} changed; {} elsewhere not shown",
            escape_controls(&c.reference),
            c.merge_base.get(..12).unwrap_or(&c.merge_base),
            plural(c.migration_files, "migration file", "migration files"),
            plural(c.left_out, "finding", "findings"),
        )?;
    }
    if let Some(b) = &report.summary.baseline {
        writeln!(
            out,
            "Baseline {}: {} not shown",
            escape_controls(&report.display_path(&report.cwd.join(&b.file))),
            plural(b.unchanged.len(), "known finding", "known findings"),
        )?;
    }
    Ok(())
}

fn list_or_none<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let items: Vec<&str> = items.collect();
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

/// `✓ All checks passed` or `✗ 2 errors, 1 warning in 14 files (3 rules skipped: no database)`.
pub(crate) fn summary_line(summary: &Summary, color: bool) -> String {
    let counts: Vec<String> = [
        (summary.errors, "error", "errors"),
        (summary.warnings, "warning", "warnings"),
        (summary.infos, "info", "infos"),
    ]
    .into_iter()
    .filter(|(n, _, _)| *n > 0)
    .map(|(n, one, many)| plural(n, one, many))
    .collect();
    let skipped = skipped_note(summary);
    if counts.is_empty() {
        let line = format!("✓ All checks passed{skipped}");
        return paint(&line, "32", color);
    }
    // The mark follows --fail-on: a run that exits 0 does not print a red ✗.
    let (mark, code) = if summary.fails() {
        ("✗", if summary.errors > 0 { "31" } else { "33" })
    } else if summary.errors + summary.warnings > 0 {
        ("⚠", "33")
    } else {
        ("✓", "32")
    };
    let line = format!(
        "{mark} {} in {}{skipped}",
        counts.join(", "),
        plural(summary.files, "file", "files")
    );
    paint(&line, code, color)
}

/// ` (3 rules skipped: no database)`, grouping the reasons; empty when none skipped.
fn skipped_note(summary: &Summary) -> String {
    if summary.skipped_rules.is_empty() {
        return String::new();
    }
    let mut reasons: Vec<&str> = Vec::new();
    for r in &summary.skipped_rules {
        if !reasons.contains(&r.reason.as_str()) {
            reasons.push(&r.reason);
        }
    }
    format!(
        " ({} skipped: {})",
        plural(summary.skipped_rules.len(), "rule", "rules"),
        reasons.join(", ")
    )
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn paint(text: &str, code: &str, color: bool) -> String {
    if color {
        format!("\x1b[1;{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::{Location, Related};
    use crate::report::{SkippedRule, Status};
    use std::collections::HashMap;
    use std::path::PathBuf;

    fn report_with(diagnostic: Diagnostic, sources: Vec<SourceFile>) -> Report {
        Report {
            root: PathBuf::from("/p"),
            cwd: PathBuf::from("/p"),
            diagnostics: vec![diagnostic],
            rules: Vec::new(),
            sources: sources
                .into_iter()
                .map(|s| (s.path.clone(), Arc::new(s)))
                .collect::<HashMap<_, _>>(),
            status: Status::default(),
            summary: Summary {
                errors: 1,
                files: 1,
                ..Summary::default()
            },
            verbose: false,
        }
    }

    fn emit(report: &Report, quiet: bool) -> String {
        let mut out = Vec::new();
        Human
            .emit(
                report,
                EmitOptions {
                    color: false,
                    quiet,
                },
                &mut out,
            )
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn file_level_and_unloaded_related_locations_show_their_path() {
        let src = SourceFile::from_text("/p/a.py".into(), "x = 1\n".into());
        let span = src.span(0, 1);
        let d = Diagnostic {
            code: "MV001".into(),
            name: "duplicate-revision".into(),
            severity: Severity::Error,
            message: "no place to point at".into(),
            location: Location {
                path: "/p/b.py".into(),
                span: None,
            },
            related: vec![
                Related {
                    location: Location {
                        path: "/p/a.py".into(),
                        span: Some(span),
                    },
                    message: "loaded".into(),
                },
                Related {
                    location: Location {
                        path: "/p/sub/c.py".into(),
                        span: Some(span),
                    },
                    message: "not loaded".into(),
                },
            ],
            help: Some("do something".into()),
            fix: None,
        };
        let out = emit(&report_with(d, vec![src]), true);
        assert!(out.starts_with("MV001 duplicate-revision [error]"), "{out}");
        assert!(out.contains("× no place to point at\n  │ at b.py"), "{out}");
        assert!(out.contains("╭─[a.py:1:1]"), "{out}");
        assert!(out.contains("1 │ x = 1"), "{out}");
        assert!(out.contains("☞ not loaded\n  │ at sub/c.py"), "{out}");
        assert!(out.contains("help: do something"), "{out}");
        assert!(!out.contains("Database:"), "quiet: {out}");
    }

    #[test]
    fn zero_width_spans_render() {
        let src = SourceFile::from_text("/p/a.py".into(), "def f():\n    pass\n".into());
        let span = src.span(4, 4);
        let d = Diagnostic {
            code: "MV003".into(),
            name: "empty-downgrade".into(),
            severity: Severity::Warning,
            message: "here".into(),
            location: Location {
                path: "/p/a.py".into(),
                span: Some(span),
            },
            related: Vec::new(),
            help: None,
            fix: None,
        };
        let out = emit(&report_with(d, vec![src]), false);
        assert!(out.contains("╭─[a.py:1:5]"), "{out}");
        assert!(out.contains("Database: not configured"), "{out}");
        assert!(out.ends_with("✗ 1 error in 1 file\n"), "{out}");
    }

    fn skipped(code: &str, reason: &str) -> SkippedRule {
        SkippedRule {
            code: code.into(),
            name: "x".into(),
            reason: reason.into(),
        }
    }

    #[test]
    fn summary_all_passed() {
        let s = Summary {
            files: 3,
            ..Summary::default()
        };
        assert_eq!(summary_line(&s, false), "✓ All checks passed");
    }

    #[test]
    fn summary_pluralises_and_mentions_skipped_rules() {
        let s = Summary {
            errors: 2,
            warnings: 1,
            infos: 1,
            files: 14,
            skipped_rules: vec![
                skipped("MV101", "no database"),
                skipped("MV102", "no database"),
                skipped("MV103", "no database"),
            ],
            ..Summary::default()
        };
        assert_eq!(
            summary_line(&s, false),
            "✗ 2 errors, 1 warning, 1 info in 14 files (3 rules skipped: no database)"
        );
        let s = Summary {
            errors: 1,
            files: 1,
            skipped_rules: vec![skipped("MV101", "no database")],
            ..Summary::default()
        };
        assert_eq!(
            summary_line(&s, false),
            "✗ 1 error in 1 file (1 rule skipped: no database)"
        );
        let s = Summary {
            warnings: 2,
            infos: 3,
            files: 2,
            ..Summary::default()
        };
        // Warnings do not fail the default --fail-on error: no ✗.
        assert_eq!(summary_line(&s, false), "⚠ 2 warnings, 3 infos in 2 files");
        let failing = Summary {
            fail_on: crate::report::FailOn(Some(Severity::Warning)),
            ..s.clone()
        };
        assert_eq!(
            summary_line(&failing, false),
            "✗ 2 warnings, 3 infos in 2 files"
        );
        let never = Summary {
            errors: 1,
            fail_on: crate::report::FailOn(None),
            ..Summary::default()
        };
        assert_eq!(summary_line(&never, false), "⚠ 1 error in 0 files");
        let infos = Summary {
            infos: 1,
            files: 1,
            ..Summary::default()
        };
        assert_eq!(summary_line(&infos, false), "✓ 1 info in 1 file");
    }
}
