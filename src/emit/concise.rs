//! `concise`: one line per diagnostic, `path:line:col: CODE [severity] message`,
//! the format generic editor integrations parse.

use std::io::{self, Write};

use super::{EmitOptions, Emitter};
use crate::report::Report;
use crate::text::escape_controls;

pub struct Concise;

impl Emitter for Concise {
    fn emit(&self, report: &Report, _opts: EmitOptions, out: &mut dyn Write) -> io::Result<()> {
        for d in &report.diagnostics {
            let (line, col) = d
                .location
                .span
                .map_or((1, 1), |s| (s.start_line, s.start_column));
            let path = report.display_path(&d.location.path);
            let path = escape_controls(&path);
            // A line starting `::` would be a GitHub workflow command.
            let dot = if path.starts_with("::") { "./" } else { "" };
            writeln!(
                out,
                "{dot}{path}:{}:{}: {} [{}] {}",
                line,
                col,
                d.code,
                d.severity,
                escape_controls(&d.message)
            )?;
        }
        Ok(())
    }
}
