//! The TOML form of a query rule: a `[[rules.custom]]` table of `migverify.toml`,
//! or the whole of a rule file (`rules/MV301-drop-table.toml`, a file of a
//! `[rules] dirs` directory). Every value is spanned so errors can point at it.

use serde::Deserialize;
use toml::Spanned;

/// One rule's metadata and (optionally inline) query.
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RuleSpec {
    /// `[A-Z]+[0-9]+`: `TEAM001`. `MV…` codes are migverify's own.
    #[schemars(with = "String")]
    pub code: Spanned<String>,
    /// kebab-case: `no-raw-sql`.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// One sentence for `migverify rules`; default: the message, placeholders elided.
    #[schemars(with = "Option<String>")]
    pub summary: Option<Spanned<String>>,
    /// `error`, `warning` (default) or `info`.
    #[schemars(with = "Option<String>")]
    pub severity: Option<Spanned<String>>,
    /// Whether the rule runs without being selected (default `true`).
    #[schemars(with = "Option<bool>")]
    pub enabled_by_default: Option<Spanned<bool>>,
    /// `upgrade`, `downgrade`, `module` or `any` (default).
    #[schemars(with = "Option<String>")]
    pub scope: Option<Spanned<String>>,
    /// The diagnostic's message; `{capture}` inserts a captured node's text.
    #[schemars(with = "String")]
    pub message: Spanned<String>,
    /// A fix hint shown under the diagnostic; `{capture}` placeholders too.
    #[schemars(with = "Option<String>")]
    pub help: Option<Spanned<String>>,
    /// Markdown documentation (`migverify explain`).
    #[schemars(with = "Option<String>")]
    pub docs: Option<Spanned<String>>,
    /// A link to the team's documentation of the rule (SARIF `helpUri`).
    #[schemars(with = "Option<String>")]
    pub url: Option<Spanned<String>>,
    /// The capture the diagnostic points at; default: the largest captured node.
    #[schemars(with = "Option<String>")]
    pub location: Option<Spanned<String>>,
    /// The tree-sitter query; in a rule file it may instead be the `.scm` file of
    /// the same name next to it.
    #[schemars(with = "Option<String>")]
    pub query: Option<Spanned<String>>,
}

/// For each byte of a TOML string's value, the offset of the source byte it came
/// from, plus one entry for the end; `raw` is the string as written, quotes
/// included. `None` when the literal is not understood (callers then point at the
/// whole string).
pub fn value_offsets(raw: &str, value: &str) -> Option<Vec<usize>> {
    let bytes = raw.as_bytes();
    let (open, literal) = if raw.starts_with("'''") {
        (3, true)
    } else if raw.starts_with("\"\"\"") {
        (3, false)
    } else if raw.starts_with('\'') {
        (1, true)
    } else if raw.starts_with('"') {
        (1, false)
    } else {
        return None;
    };
    let close = raw.len().checked_sub(open)?;
    let mut i = open;
    if open == 3 {
        // A newline right after the opening delimiter is trimmed.
        if raw[i..].starts_with("\r\n") {
            i += 2;
        } else if raw[i..].starts_with('\n') {
            i += 1;
        }
    }
    let mut out = Vec::with_capacity(value.len() + 1);
    while i < close {
        if literal || bytes[i] != b'\\' {
            out.push(i);
            i += 1;
            continue;
        }
        let start = i;
        match bytes.get(i + 1) {
            Some(b'u') => {
                let c = u32::from_str_radix(raw.get(i + 2..i + 6)?, 16).ok()?;
                for _ in 0..char::from_u32(c)?.len_utf8() {
                    out.push(start);
                }
                i += 6;
            }
            Some(b'U') => {
                let c = u32::from_str_radix(raw.get(i + 2..i + 10)?, 16).ok()?;
                for _ in 0..char::from_u32(c)?.len_utf8() {
                    out.push(start);
                }
                i += 10;
            }
            Some(b'x') => {
                let c = u32::from_str_radix(raw.get(i + 2..i + 4)?, 16).ok()?;
                for _ in 0..char::from_u32(c)?.len_utf8() {
                    out.push(start);
                }
                i += 4;
            }
            Some(b' ' | b'\t' | b'\r' | b'\n') => {
                // A line-ending backslash: the whitespace up to the next
                // non-whitespace character is dropped.
                i += 1;
                while i < close && matches!(bytes[i], b' ' | b'\t' | b'\r' | b'\n') {
                    i += 1;
                }
            }
            Some(_) => {
                out.push(start);
                i += 2;
            }
            None => return None,
        }
    }
    out.push(close);
    (out.len() == value.len() + 1).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: &str, value: &str) {
        let map = value_offsets(raw, value).unwrap_or_else(|| panic!("{raw}"));
        // Every plain character maps onto itself.
        for (vi, c) in value.char_indices() {
            if c.is_ascii_alphanumeric() {
                assert_eq!(raw.as_bytes()[map[vi]], c as u8, "{raw}: byte {vi}");
            }
        }
    }

    #[test]
    fn offsets_of_every_string_form() {
        check("'a(b)'", "a(b)");
        check("'''\n(call) @c\n'''", "(call) @c\n");
        check("\"x\\\"y\\u00e9z\"", "x\"y\u{e9}z");
        check("\"\"\"\nab \\\n   cd\"\"\"", "ab cd");
        assert_eq!(value_offsets("\"ab\"", "ab"), Some(vec![1, 2, 3]));
        assert_eq!(value_offsets("\"ab\"", "abc"), None);
    }
}
