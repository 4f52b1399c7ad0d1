//! `sarif` output (placeholder until the emitter lands).

use std::io::{self, Write};

use super::{EmitOptions, Emitter};
use crate::report::Report;

pub struct Sarif;

impl Emitter for Sarif {
    fn emit(&self, report: &Report, opts: EmitOptions, out: &mut dyn Write) -> io::Result<()> {
        super::concise::Concise.emit(report, opts, out)
    }
}
