//! Errors that stop a run (exit code 2). Each names the file and, where it can,
//! points at the place with a miette label.

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
