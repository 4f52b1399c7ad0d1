//! Between migverify's data and the protocol's: paths and URIs, spans and ranges
//! (UTF-16 or UTF-32 columns), diagnostics.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use lsp_types::{
    CodeDescription, DiagnosticRelatedInformation, DiagnosticSeverity, DiagnosticTag, Location,
    NumberOrString, Position, Range, Uri,
};
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

use crate::diagnostic::{Diagnostic, Severity, Span};

/// What `source` says in every diagnostic the server publishes.
pub const SOURCE: &str = "migverify";

/// Characters a path segment of a `file:` URI escapes (RFC 3986 `pchar` plus `/`).
const PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// The `file:` URI of an absolute path.
pub fn path_to_uri(path: &Path) -> Option<Uri> {
    let s = path.to_str()?;
    let s = s.replace('\\', "/");
    let s = if s.starts_with('/') {
        s
    } else {
        format!("/{s}")
    };
    Uri::from_str(&format!("file://{}", utf8_percent_encode(&s, PATH))).ok()
}

/// The path a `file:` URI names (`None` for other schemes).
pub fn uri_to_path(uri: &Uri) -> Option<PathBuf> {
    let rest = uri.as_str().strip_prefix("file://")?;
    // `file:///x` (empty authority) or `file://localhost/x`.
    let at = rest.find('/')?;
    let rest = &rest[at..];
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    let decoded = percent_decode_str(rest).decode_utf8().ok()?;
    // `file:///C:/x` on Windows.
    let bytes = decoded.as_bytes();
    if cfg!(windows) && bytes.len() > 2 && bytes[2] == b':' {
        return Some(PathBuf::from(&decoded[1..]));
    }
    Some(PathBuf::from(decoded.as_ref()))
}

/// How the client counts columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Columns {
    /// The protocol's default: UTF-16 code units.
    Utf16,
    /// Characters (Unicode scalar values), as migverify's spans count them.
    Utf32,
}

/// The 0-based `line` of `text` (without its line ending), if there is one.
fn line_of(text: &str, line: usize) -> Option<&str> {
    let l = text.split('\n').nth(line)?;
    Some(l.strip_suffix('\r').unwrap_or(l))
}

/// The protocol position of 1-based `line` and character `column`, counted in the
/// client's unit when `text` (the file's text) is known.
fn position(text: Option<&str>, line: usize, column: usize, columns: Columns) -> Position {
    let line0 = line.saturating_sub(1);
    let chars = column.saturating_sub(1);
    let character = match (columns, text.and_then(|t| line_of(t, line0))) {
        (Columns::Utf16, Some(l)) if !l.is_ascii() => {
            let utf16: usize = l.chars().take(chars).map(char::len_utf16).sum();
            utf16 + chars.saturating_sub(l.chars().count())
        }
        _ => chars,
    };
    Position::new(line0 as u32, character as u32)
}

/// The range of a span; a file-level finding (no span) sits at the file's start.
pub fn range(text: Option<&str>, span: Option<Span>, columns: Columns) -> Range {
    match span {
        Some(s) => Range::new(
            position(text, s.start_line, s.start_column, columns),
            position(text, s.end_line, s.end_column, columns),
        ),
        None => Range::default(),
    }
}

/// The byte offset in `text` of a protocol position (clamped to the text).
pub fn offset(text: &str, pos: Position, columns: Columns) -> usize {
    let mut start = 0;
    for _ in 0..pos.line {
        match text[start..].find('\n') {
            Some(i) => start += i + 1,
            None => return text.len(),
        }
    }
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let mut units = 0usize;
    for (i, c) in text[start..line_end].char_indices() {
        if units >= pos.character as usize {
            return start + i;
        }
        units += match columns {
            Columns::Utf16 => c.len_utf16(),
            Columns::Utf32 => 1,
        };
    }
    line_end
}

/// Whether `pos` lies in `range` (ends included: hover at a word's end still counts).
pub fn contains(range: &Range, pos: Position) -> bool {
    let key = |p: &Position| (p.line, p.character);
    key(&range.start) <= key(&pos) && key(&pos) <= key(&range.end)
}

/// A migverify diagnostic as the protocol's. `text_of` gives a file's text (the
/// open buffer, or what the check read) for column conversion; `uri_of` the URI to
/// name a related file by. `spanned` goes into `data` for the code actions.
pub fn diagnostic<'t>(
    d: &Diagnostic,
    help_uri: Option<String>,
    text_of: &dyn Fn(&Path) -> Option<&'t str>,
    uri_of: &dyn Fn(&Path) -> Option<Uri>,
    columns: Columns,
) -> lsp_types::Diagnostic {
    let text = text_of(&d.location.path);
    let related: Vec<DiagnosticRelatedInformation> = d
        .related
        .iter()
        .filter_map(|r| {
            let uri = uri_of(&r.location.path)?;
            let text = text_of(&r.location.path);
            Some(DiagnosticRelatedInformation {
                location: Location::new(uri, range(text, r.location.span, columns)),
                message: r.message.clone(),
            })
        })
        .collect();
    let mut message = d.message.clone();
    if let Some(help) = &d.help {
        message.push_str("\nhelp: ");
        message.push_str(help);
    }
    lsp_types::Diagnostic {
        range: range(text, d.location.span, columns),
        severity: Some(match d.severity {
            Severity::Error => DiagnosticSeverity::ERROR,
            Severity::Warning => DiagnosticSeverity::WARNING,
            Severity::Info => DiagnosticSeverity::INFORMATION,
        }),
        code: Some(NumberOrString::String(d.code.clone())),
        code_description: help_uri
            .and_then(|u| Uri::from_str(&u).ok())
            .map(|href| CodeDescription { href }),
        source: Some(SOURCE.to_string()),
        message,
        related_information: (!related.is_empty()).then_some(related),
        // An unused suppression is dead text: editors fade it.
        tags: (d.code == "MV012").then(|| vec![DiagnosticTag::UNNECESSARY]),
        data: Some(with_fix(
            serde_json::json!({
                "name": d.name,
                "spanned": d.location.span.is_some(),
            }),
            d,
            text,
        )),
    }
}

/// The diagnostic's fix in `data` (for the quick fix): its title, its edits as
/// byte offsets into the text the check read, and that text's hash, so an edit is
/// offered only on the very text it was made for.
fn with_fix(mut data: serde_json::Value, d: &Diagnostic, text: Option<&str>) -> serde_json::Value {
    if let (Some(fix), Some(text)) = (&d.fix, text)
        && !fix.edits.is_empty()
    {
        data["fix"] = serde_json::json!({
            "title": fix.title,
            "text_hash": text_hash(text),
            "edits": fix
                .edits
                .iter()
                .map(|e| serde_json::json!([e.start, e.end, e.content]))
                .collect::<Vec<_>>(),
        });
    }
    data
}

/// The hash a fix in `data` names its text by (hex, as JSON numbers lose bits).
pub fn text_hash(text: &str) -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_and_paths_round_trip() {
        let p = Path::new("/tmp/a dir/ü#1.py");
        let uri = path_to_uri(p).unwrap();
        assert_eq!(uri.as_str(), "file:///tmp/a%20dir/%C3%BC%231.py");
        assert_eq!(uri_to_path(&uri).unwrap(), p);
        let local = Uri::from_str("file://localhost/x/y.py").unwrap();
        assert_eq!(uri_to_path(&local).unwrap(), Path::new("/x/y.py"));
        assert!(uri_to_path(&Uri::from_str("untitled:Untitled-1").unwrap()).is_none());
    }

    #[test]
    fn columns_count_utf16_units_or_characters() {
        let text = "x = '😀é'  # a\n";
        // The character after the emoji: column 7 (1-based), 6 characters in.
        assert_eq!(position(Some(text), 1, 7, Columns::Utf16).character, 7);
        assert_eq!(position(Some(text), 1, 7, Columns::Utf32).character, 6);
        assert_eq!(
            offset(text, Position::new(0, 7), Columns::Utf16),
            "x = '😀".len()
        );
        assert_eq!(
            offset(text, Position::new(0, 7), Columns::Utf32),
            "x = '😀é".len()
        );
        assert_eq!(
            offset(text, Position::new(5, 0), Columns::Utf16),
            text.len()
        );
        assert_eq!(
            offset(text, Position::new(0, 99), Columns::Utf16),
            text.len() - 1
        );
    }
}
