//! Emitters: one per output format, each in its own file. Rules return data; only
//! these format it.

use std::io::{self, Write};

use clap::ValueEnum;

use crate::report::Report;

mod concise;
mod github;
mod human;
mod json;
mod sarif;

/// Output formats of `check`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Concise,
    Json,
    Sarif,
    Github,
}

/// Options that affect how a report is written.
#[derive(Clone, Copy, Debug, Default)]
pub struct EmitOptions {
    /// Use ANSI colours (only for `human`; decided by the caller from the terminal and NO_COLOR).
    pub color: bool,
    /// Print diagnostics only: no status block or summary (only `human` has those).
    pub quiet: bool,
}

/// Where a rule's documentation lives on the web (SARIF `helpUri`, miette links);
/// owned by the registry, which rules read it from.
pub use crate::rules::help_uri;

pub trait Emitter {
    fn emit(&self, report: &Report, opts: EmitOptions, out: &mut dyn Write) -> io::Result<()>;
}

pub fn emitter(format: Format) -> Box<dyn Emitter> {
    match format {
        Format::Human => Box::new(human::Human),
        Format::Concise => Box::new(concise::Concise),
        Format::Json => Box::new(json::Json),
        Format::Sarif => Box::new(sarif::Sarif),
        Format::Github => Box::new(github::Github),
    }
}
