//! `concise`: one line per diagnostic, `path:line:col: CODE [severity] message`,
//! the format generic editor integrations parse.

use std::io::{self, Write};

use super::{EmitOptions, Emitter};
use crate::report::Report;

pub struct Concise;

impl Emitter for Concise {
    fn emit(&self, report: &Report, _opts: EmitOptions, out: &mut dyn Write) -> io::Result<()> {
        for d in &report.diagnostics {
            let (line, col) = d
                .location
                .span
                .map_or((1, 1), |s| (s.start_line, s.start_column));
            writeln!(
                out,
                "{}:{}:{}: {} [{}] {}",
                report.display_path(&d.location.path),
                line,
                col,
                d.code,
                d.severity,
                d.message
            )?;
        }
        Ok(())
    }
}
