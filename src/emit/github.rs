//! `github`: GitHub Actions workflow commands, which the runner turns into annotations:
//!
//! ```text
//! ::error file=alembic/versions/x.py,line=3,col=1,endLine=3,endColumn=9,title=MV003 empty-downgrade::message
//! ```
//!
//! `warning` becomes `::warning`, `info` `::notice`. Paths are relative to the working
//! directory (where the workflow runs, normally the repository root). Messages and
//! properties are escaped as the runner expects.

use std::io::{self, Write};

use super::{EmitOptions, Emitter};
use crate::diagnostic::Severity;
use crate::report::Report;
use crate::text::escape_controls;

pub struct Github;

impl Emitter for Github {
    fn emit(&self, report: &Report, _opts: EmitOptions, out: &mut dyn Write) -> io::Result<()> {
        for d in &report.diagnostics {
            let command = match d.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Info => "notice",
            };
            let mut props = vec![format!(
                "file={}",
                escape_property(&escape_controls(&report.display_path(&d.location.path)))
            )];
            match d.location.span {
                Some(s) => {
                    props.push(format!("line={}", s.start_line));
                    props.push(format!("col={}", s.start_column));
                    props.push(format!("endLine={}", s.end_line));
                    props.push(format!("endColumn={}", s.end_column));
                }
                None => props.push("line=1".to_string()),
            }
            props.push(format!(
                "title={}",
                escape_property(&format!("{} {}", d.code, d.name))
            ));
            // Control characters from the input are escaped; the one line break
            // is ours (before the help).
            let mut message = escape_controls(&d.message).into_owned();
            if let Some(help) = &d.help {
                message.push_str("\nhelp: ");
                message.push_str(&escape_controls(help));
            }
            writeln!(
                out,
                "::{command} {}::{}",
                props.join(","),
                escape_data(&message)
            )?;
        }
        Ok(())
    }
}

/// Escapes a message (the command's data), as `@actions/core` does.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property value: as data, plus `:` and `,`.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(
            escape_data("50% done\r\nnext: a,b"),
            "50%25 done%0D%0Anext: a,b"
        );
        assert_eq!(escape_property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
    }
}
