//! Errors that stop a run (exit code 2). Each names the file and, where it can,
//! points at the place with a miette label.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use miette::{Diagnostic, NamedSource, SourceSpan};
use thiserror::Error;

#[derive(Debug, Error, Diagnostic)]
pub enum Error {
    #[error("cannot read {}", path.display())]
    #[diagnostic(code(migverify::io))]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot write {}", path.display())]
    #[diagnostic(code(migverify::output))]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("unknown rule `{rule}`")]
    #[diagnostic(code(migverify::unknown_rule))]
    UnknownRule {
        rule: String,
        #[help]
        suggestion: Option<String>,
    },

    #[error("bad argument: {message}")]
    #[diagnostic(code(migverify::argument))]
    Argument {
        message: String,
        #[help]
        help: Option<String>,
    },

    #[error("{message}")]
    #[diagnostic(code(migverify::project))]
    Project {
        message: String,
        #[help]
        help: Option<String>,
    },

    /// A problem in a config file (TOML or INI), pointing at the key or value.
    /// (`src` is behind an `Arc` to keep `Error` small.)
    #[error("{message}")]
    #[diagnostic(code(migverify::config))]
    Config {
        message: String,
        #[source_code]
        src: Arc<NamedSource<String>>,
        #[label("{label}")]
        span: Option<SourceSpan>,
        label: String,
        #[help]
        help: Option<String>,
    },

    /// A baseline file (`--baseline`, `[check] baseline`) that cannot be used.
    #[error("cannot use the baseline file {}: {message}", path.display())]
    #[diagnostic(code(migverify::baseline))]
    Baseline {
        path: PathBuf,
        message: String,
        #[help]
        help: Option<String>,
    },

    /// `--changed-since`: git could not say which files changed.
    #[error("--changed-since: {message}")]
    #[diagnostic(code(migverify::git))]
    Git {
        message: String,
        #[help]
        help: Option<String>,
    },

    /// The database could not be chosen (a bad URL, nothing configured).
    #[error("{message}")]
    #[diagnostic(code(migverify::database))]
    Database {
        message: String,
        #[help]
        help: Option<String>,
    },

    /// The database could not be captured (the URL shown redacted).
    #[cfg(feature = "db")]
    #[error(transparent)]
    #[diagnostic(transparent)]
    Db(Box<crate::db::DbError>),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Snapshot(Box<crate::db::SnapshotError>),
}

#[cfg(feature = "db")]
impl From<crate::db::DbError> for Error {
    fn from(e: crate::db::DbError) -> Error {
        Error::Db(Box::new(e))
    }
}

impl From<crate::db::SnapshotError> for Error {
    fn from(e: crate::db::SnapshotError) -> Error {
        Error::Snapshot(Box::new(e))
    }
}

/// Builds an [`Error::Config`].
pub fn config_error(
    name: &str,
    text: &str,
    span: Option<Range<usize>>,
    message: impl Into<String>,
    label: impl Into<String>,
    help: Option<String>,
) -> Error {
    // miette pads to a label's column and panics past 65,535 (a huge one-line value):
    // past a long line, the error names the line and column instead of a snippet.
    let mut message = message.into();
    let span = match span {
        Some(r) if line_length_at(text, r.start) > 4096 => {
            let before = &text.as_bytes()[..r.start.min(text.len())];
            let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
            let col = before.len()
                - before
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |i| i + 1)
                + 1;
            message = format!("{message} (at {name}:{line}:{col})");
            None
        }
        other => other,
    };
    Error::Config {
        message,
        // A URL in the file may hold a password; snippets never show it.
        // Nor a control character that would drive the terminal.
        src: Arc::new(NamedSource::new(name, {
            let masked = crate::db::url::mask_passwords(text);
            crate::text::neutralize_controls(&masked).unwrap_or(masked)
        })),
        span: span.map(|r| (r.start, r.end - r.start).into()),
        label: label.into(),
        help,
    }
}

/// The length in bytes of the line holding byte `at`.
fn line_length_at(text: &str, at: usize) -> usize {
    let at = at.min(text.len());
    let start = text.as_bytes()[..at]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let end = text.as_bytes()[at..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(text.len(), |i| at + i);
    end - start
}
