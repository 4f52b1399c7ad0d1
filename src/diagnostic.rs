//! The data every rule returns and every emitter formats.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// How serious a diagnostic is. Ordered: `Info < Warning < Error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rule's configured level: a severity, or `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Off,
    Info,
    Warning,
    Error,
}

impl Level {
    pub const CHOICES: &'static [&'static str] = &["error", "warning", "info", "off"];

    pub fn severity(self) -> Option<Severity> {
        match self {
            Level::Off => None,
            Level::Info => Some(Severity::Info),
            Level::Warning => Some(Severity::Warning),
            Level::Error => Some(Severity::Error),
        }
    }

    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "off" => Some(Level::Off),
            "info" => Some(Level::Info),
            "warning" => Some(Level::Warning),
            "error" => Some(Level::Error),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Off => "off",
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

/// A region of a source file. Byte offsets index the decoded text of
/// [`crate::source::SourceFile`]; lines and columns are 1-based, columns count
/// Unicode scalar values (characters), as ruff does.
///
/// Serialized with every field (the cache keeps byte offsets); the JSON output
/// shows lines and columns only (`emit::json`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    pub start_line: usize,
    pub start_column: usize,
    pub end_line: usize,
    pub end_column: usize,
}

/// A place in a file; `span` is `None` for file-level findings with no better place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub path: PathBuf,
    pub span: Option<Span>,
}

/// Another place that matters for a diagnostic (the other file of a duplicate, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Related {
    pub location: Location,
    pub message: String,
}

/// What a rule returns: where, what, and how to fix it. The engine turns it into a
/// [`Diagnostic`] by adding the rule's code, name and configured severity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub location: Location,
    pub message: String,
    pub related: Vec<Related>,
    pub help: Option<String>,
    /// Code that fixes it, when the rule can write it ([`crate::fix`]).
    pub fix: Option<crate::edits::Fix>,
}

impl Finding {
    pub fn new(path: impl Into<PathBuf>, span: Option<Span>, message: impl Into<String>) -> Self {
        Finding {
            location: Location {
                path: path.into(),
                span,
            },
            message: message.into(),
            related: Vec::new(),
            help: None,
            fix: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// [`Finding::with_related`] for each `(path, span, message)`.
    pub fn with_related_all(
        mut self,
        items: impl IntoIterator<Item = (PathBuf, Option<Span>, String)>,
    ) -> Self {
        for (path, span, message) in items {
            self = self.with_related(path, span, message);
        }
        self
    }

    pub fn with_related(
        mut self,
        path: impl Into<PathBuf>,
        span: Option<Span>,
        message: impl Into<String>,
    ) -> Self {
        self.related.push(Related {
            location: Location {
                path: path.into(),
                span,
            },
            message: message.into(),
        });
        self
    }
}

/// Related locations one diagnostic lists at most; the others are counted in its
/// message ([`Diagnostic::bound_related`]). 1,000 files declaring one revision id give one small diagnostic, not a
/// quadratic report.
pub const MAX_RELATED: usize = 20;

impl Diagnostic {
    /// Keeps the first [`MAX_RELATED`] related locations; the message says how many
    /// more there are. The engine applies it to every diagnostic.
    pub fn bound_related(&mut self) {
        if self.related.len() > MAX_RELATED {
            let more = self.related.len() - MAX_RELATED;
            self.related.truncate(MAX_RELATED);
            self.message += &format!(" ({more} more related locations not listed)");
        }
    }
}

/// `` `a`, `b`, `c` `` with at most `max` items, then `and N more`.
pub fn list_bounded<S: std::fmt::Display>(items: &[S], max: usize) -> String {
    let mut shown: Vec<String> = items.iter().take(max).map(|i| format!("`{i}`")).collect();
    if items.len() > max {
        shown.push(format!("and {} more", items.len() - max));
    }
    shown.join(", ")
}

/// A finding of a rule, with the rule's identity and the severity it was given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: String,
    pub name: String,
    pub severity: Severity,
    pub message: String,
    pub location: Location,
    pub related: Vec<Related>,
    pub help: Option<String>,
    /// The rule's fix, resolved against the file's text (`check --fix`).
    pub fix: Option<crate::edits::Fix>,
}

impl Diagnostic {
    /// The order of a report: path, line, column, code.
    pub fn order_key(&self) -> (PathBuf, (usize, usize), String) {
        let s = self
            .location
            .span
            .map(|s| (s.start_line, s.start_column))
            .unwrap_or((0, 0));
        (self.location.path.clone(), s, self.code.clone())
    }
}
