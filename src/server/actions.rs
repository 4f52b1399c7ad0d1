//! Code actions (the fix `--fix` applies, suppress on this line, suppress in this
//! file) and hover (the rule's documentation).

use std::collections::HashMap;
use std::path::Path;

use lsp_types::{
    CodeAction, CodeActionKind, Hover, HoverContents, MarkupContent, MarkupKind, NumberOrString,
    Position, Range, TextEdit, Uri, WorkspaceEdit,
};

use crate::rules::Registry;

use super::convert::{self, Columns};

/// The rule code of one of our diagnostics (`None` for other tools').
fn code_of(d: &lsp_types::Diagnostic) -> Option<&str> {
    if d.source.as_deref() != Some(convert::SOURCE) {
        return None;
    }
    match &d.code {
        Some(NumberOrString::String(c)) => Some(c),
        _ => None,
    }
}

/// Whether the diagnostic has a place in the file (else a line suppression cannot
/// reach it): `data.spanned` as published, else a range other than the file start.
fn spanned(d: &lsp_types::Diagnostic) -> bool {
    d.data
        .as_ref()
        .and_then(|v| v.get("spanned"))
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(d.range != Range::default())
}

/// The code actions for the diagnostics the client sent (those in the requested
/// range): for each of ours, its quick fixes, then "suppress on this line" and
/// "suppress in this file" when the edit makes a directive the engine reads.
pub fn code_actions(
    uri: &Uri,
    path: &Path,
    text: &str,
    diagnostics: &[lsp_types::Diagnostic],
    columns: Columns,
) -> Vec<CodeAction> {
    let mut out = Vec::new();
    for d in diagnostics {
        let Some(code) = code_of(d) else { continue };
        out.extend(quick_fixes(uri, text, d, columns));
        // An unused suppression is fixed by deleting it, not by another one.
        if code == "MV012" {
            continue;
        }
        let mut edits = Vec::new();
        if spanned(d) {
            let line = d.range.start.line as usize;
            if let Some(edit) = suppress_line(path, text, line, code, columns) {
                edits.push((format!("Suppress {code} on this line"), edit));
            }
        }
        if let Some(edit) = suppress_file(path, text, code, columns) {
            edits.push((format!("Suppress {code} in this file"), edit));
        }
        for (title, edit) in edits {
            out.push(CodeAction {
                title,
                kind: Some(CodeActionKind::QUICKFIX),
                diagnostics: Some(vec![d.clone()]),
                edit: Some(WorkspaceEdit {
                    changes: Some(HashMap::from([(uri.clone(), vec![edit])])),
                    ..WorkspaceEdit::default()
                }),
                ..CodeAction::default()
            });
        }
    }
    out
}

/// The fix `migverify check --fix` would apply (a generated downgrade), as a
/// preferred quick fix: offered only while the document is the text the check
/// read (`data.fix.text_hash`), its edits turned into protocol ranges.
fn quick_fixes(
    uri: &Uri,
    text: &str,
    d: &lsp_types::Diagnostic,
    columns: Columns,
) -> Vec<CodeAction> {
    let Some(fix) = d.data.as_ref().and_then(|v| v.get("fix")) else {
        return Vec::new();
    };
    if fix.get("text_hash").and_then(serde_json::Value::as_str)
        != Some(convert::text_hash(text).as_str())
    {
        return Vec::new();
    }
    let mut edits = Vec::new();
    for e in fix
        .get("edits")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(start), Some(end), Some(content)) = (
            e.get(0).and_then(serde_json::Value::as_u64),
            e.get(1).and_then(serde_json::Value::as_u64),
            e.get(2).and_then(serde_json::Value::as_str),
        ) else {
            return Vec::new();
        };
        let (start, end) = (start as usize, end as usize);
        if start > end
            || end > text.len()
            || !text.is_char_boundary(start)
            || !text.is_char_boundary(end)
        {
            return Vec::new();
        }
        edits.push(TextEdit::new(
            Range::new(
                position_of(text, start, columns),
                position_of(text, end, columns),
            ),
            content.to_string(),
        ));
    }
    if edits.is_empty() {
        return Vec::new();
    }
    let title = fix
        .get("title")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("Fix");
    let title = title.replace('`', "");
    let mut chars = title.chars();
    let title = match chars.next() {
        Some(first) => first.to_uppercase().collect::<String>() + chars.as_str(),
        None => "Fix".to_string(),
    };
    vec![CodeAction {
        title,
        kind: Some(CodeActionKind::QUICKFIX),
        diagnostics: Some(vec![d.clone()]),
        edit: Some(WorkspaceEdit {
            changes: Some(HashMap::from([(uri.clone(), edits)])),
            ..WorkspaceEdit::default()
        }),
        is_preferred: Some(true),
        ..CodeAction::default()
    }]
}

/// The 0-based line's byte range in `text`, without its line ending.
fn line_bounds(text: &str, line: usize) -> Option<(usize, usize)> {
    let mut start = 0;
    for _ in 0..line {
        start += text[start..].find('\n')? + 1;
    }
    let mut end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    if text[..end].ends_with('\r') {
        end -= 1;
    }
    Some((start, end))
}

/// An insertion of `new` at byte `at` of `text`.
fn insert(text: &str, at: usize, new: String, columns: Columns) -> TextEdit {
    let pos = position_of(text, at, columns);
    TextEdit::new(Range::new(pos, pos), new)
}

/// The protocol position of byte offset `at`.
fn position_of(text: &str, at: usize, columns: Columns) -> Position {
    let before = &text[..at];
    let line = before.matches('\n').count();
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let character = match columns {
        Columns::Utf16 => before[line_start..].encode_utf16().count(),
        Columns::Utf32 => before[line_start..].chars().count(),
    };
    Position::new(line as u32, character as u32)
}

/// `text` with `edit` applied (an insertion made by [`insert`]).
fn apply(text: &str, edit: &TextEdit, columns: Columns) -> String {
    let at = convert::offset(text, edit.range.start, columns);
    let end = convert::offset(text, edit.range.end, columns);
    format!("{}{}{}", &text[..at], edit.new_text, &text[end..])
}

/// The suppressions the extractor finds in `text`.
fn suppressions(path: &Path, text: &str) -> Vec<crate::suppression::Suppression> {
    crate::migration::parse_source_without_ops(path.to_path_buf(), text.as_bytes().to_vec())
        .suppressions
        .items
}

/// Whether `text` has a directive silencing `code` on 1-based `line` (or the whole
/// file with `line` `None`).
fn silences(path: &Path, text: &str, line: Option<usize>, code: &str) -> bool {
    suppressions(path, text).iter().any(|s| {
        let place = match line {
            Some(l) => !s.file_level && s.line == l,
            None => s.file_level,
        };
        place && s.rules.iter().any(|r| r.value.eq_ignore_ascii_case(code))
    })
}

/// `# migverify: ignore[CODE]` at the end of the line, or CODE added to the list of
/// the directive already there. `None` when the result would not be read as a
/// directive on that line (the line ends inside a string, say).
fn suppress_line(
    path: &Path,
    text: &str,
    line: usize,
    code: &str,
    columns: Columns,
) -> Option<TextEdit> {
    let (start, end) = line_bounds(text, line)?;
    let existing = suppressions(path, text)
        .into_iter()
        .find(|s| !s.file_level && s.line == line + 1);
    let edit = match existing {
        // A bare `ignore` already silences every rule on the line.
        Some(s) if s.rules.is_empty() => return None,
        Some(s) => {
            let last = s.rules.last()?.span.end;
            insert(text, last, format!(", {code}"), columns)
        }
        None => {
            let trimmed = start + text[start..end].trim_end().len();
            insert(
                text,
                trimmed,
                format!("  # migverify: ignore[{code}]"),
                columns,
            )
        }
    };
    let after = apply(text, &edit, columns);
    silences(path, &after, Some(line + 1), code).then_some(edit)
}

/// `# migverify: ignore-file[CODE]` as a line of its own at the top (after a
/// shebang and an encoding declaration, which must stay first), or CODE added to the
/// file's `ignore-file[...]` list.
fn suppress_file(path: &Path, text: &str, code: &str, columns: Columns) -> Option<TextEdit> {
    let existing = suppressions(path, text)
        .into_iter()
        .find(|s| s.file_level && !s.rules.is_empty());
    let edit = match existing {
        Some(s) => {
            let last = s.rules.last()?.span.end;
            insert(text, last, format!(", {code}"), columns)
        }
        None => {
            let mut at = 0;
            for _ in 0..2 {
                let Some((start, end)) = line_bounds(text, text[..at].matches('\n').count()) else {
                    break;
                };
                let l = &text[start..end];
                let keep_first = (start == 0 && l.starts_with("#!"))
                    || (l.trim_start().starts_with('#') && l.contains("coding"));
                if !keep_first || end >= text.len() {
                    break;
                }
                at = text[end..].find('\n').map_or(text.len(), |i| end + i + 1);
            }
            let newline = if text.contains("\r\n") { "\r\n" } else { "\n" };
            insert(
                text,
                at,
                format!("# migverify: ignore-file[{code}]{newline}"),
                columns,
            )
        }
    };
    let after = apply(text, &edit, columns);
    silences(path, &after, None, code).then_some(edit)
}

/// The documentation of the rules of `diagnostics` whose range holds `pos`.
pub fn hover(
    registries: &[&Registry],
    diagnostics: &[lsp_types::Diagnostic],
    pos: Position,
) -> Option<Hover> {
    let mut codes: Vec<&str> = diagnostics
        .iter()
        .filter(|d| convert::contains(&d.range, pos))
        .filter_map(code_of)
        .collect();
    codes.dedup();
    let mut seen = Vec::new();
    let docs: Vec<String> = codes
        .into_iter()
        .filter(|c| {
            let new = !seen.contains(c);
            seen.push(*c);
            new
        })
        .filter_map(|c| {
            registries
                .iter()
                .find_map(|r| r.find(c).map(|i| crate::rules::render_rule_doc(r.get(i))))
        })
        .collect();
    if docs.is_empty() {
        return None;
    }
    Some(Hover {
        contents: HoverContents::Markup(MarkupContent {
            kind: MarkupKind::Markdown,
            value: docs.join("\n\n---\n\n"),
        }),
        range: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str =
        "revision = 'a1'\ndown_revision = None\n\ndef upgrade():\n    x = '''\n    text'''\n";

    fn edited(edit: &TextEdit) -> String {
        apply(TEXT, edit, Columns::Utf16)
    }

    #[test]
    fn a_line_suppression_goes_at_the_line_end_and_extends_a_list() {
        let p = Path::new("a1.py");
        let e = suppress_line(p, TEXT, 0, "MV001", Columns::Utf16).unwrap();
        let t = edited(&e);
        assert!(
            t.starts_with("revision = 'a1'  # migverify: ignore[MV001]\n"),
            "{t}"
        );
        let e = suppress_line(p, &t, 0, "MV013", Columns::Utf16).unwrap();
        let t = apply(&t, &e, Columns::Utf16);
        assert!(
            t.starts_with("revision = 'a1'  # migverify: ignore[MV001, MV013]\n"),
            "{t}"
        );
        // Inside a triple-quoted string a comment is text: no action.
        assert!(suppress_line(p, TEXT, 4, "MV001", Columns::Utf16).is_none());
        // A bare ignore already silences everything on the line.
        let bare = "revision = 'a1'  # migverify: ignore\n";
        assert!(suppress_line(p, bare, 0, "MV001", Columns::Utf16).is_none());
    }

    #[test]
    fn a_file_suppression_stays_below_shebang_and_coding() {
        let p = Path::new("a1.py");
        let e = suppress_file(p, TEXT, "MV002", Columns::Utf16).unwrap();
        assert!(edited(&e).starts_with("# migverify: ignore-file[MV002]\nrevision"));
        let head = "#!/usr/bin/env python\n# -*- coding: utf-8 -*-\nrevision = 'a1'\n";
        let e = suppress_file(p, head, "MV002", Columns::Utf16).unwrap();
        assert_eq!(e.range.start, Position::new(2, 0));
        let t = apply(head, &e, Columns::Utf16);
        let e = suppress_file(p, &t, "MV003", Columns::Utf16).unwrap();
        assert!(apply(&t, &e, Columns::Utf16).contains("ignore-file[MV002, MV003]\n"));
    }
}
