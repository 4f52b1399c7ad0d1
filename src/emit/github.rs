//! `github` output (placeholder until the emitter lands).

use std::io::{self, Write};

use super::{EmitOptions, Emitter};
use crate::report::Report;

pub struct Github;

impl Emitter for Github {
    fn emit(&self, report: &Report, opts: EmitOptions, out: &mut dyn Write) -> io::Result<()> {
        super::concise::Concise.emit(report, opts, out)
    }
}
