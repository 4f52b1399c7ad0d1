//! Suppression comments: `# migverify: ignore[MV003, empty-upgrade]` on a line (or
//! on the `def` line of the function a diagnostic concerns), `# migverify: ignore`
//! for every rule on a line, and `# migverify: ignore-file[...]` / `# migverify:
//! ignore-file` for a whole file.

use serde::{Deserialize, Serialize};

use crate::diagnostic::Span;
use crate::migration::Spanned;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppression {
    /// The span of the `migverify: ...` directive inside the comment.
    pub span: Span,
    /// 1-based line the comment stands on.
    pub line: usize,
    pub file_level: bool,
    /// The rules named (codes or names, as written); empty means every rule.
    pub rules: Vec<Spanned<String>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppressions {
    pub items: Vec<Suppression>,
}

/// The directive in a comment's text, if any: `(file_level, rules, byte range of
/// the directive within the comment, byte ranges of each rule within the comment)`.
pub struct Directive {
    pub file_level: bool,
    pub start: usize,
    pub end: usize,
    pub rules: Vec<(String, usize, usize)>,
}

const MARKER: &str = "migverify:";

/// Reads a `# ...` comment. Returns `None` when it holds no migverify directive.
pub fn parse_directive(comment: &str) -> Option<Directive> {
    let at = comment.find(MARKER)?;
    let mut pos = at + MARKER.len();
    pos += comment[pos..].len() - comment[pos..].trim_start().len();
    let rest = &comment[pos..];
    let (file_level, word_len) = if rest.starts_with("ignore-file") {
        (true, "ignore-file".len())
    } else if rest.starts_with("ignore") {
        (false, "ignore".len())
    } else {
        return None;
    };
    pos += word_len;
    let after = &comment[pos..];
    // `ignore` must end there or open a list: `ignored` is not a directive.
    if after
        .chars()
        .next()
        .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-')
    {
        return None;
    }
    let mut rules = Vec::new();
    let mut end = pos;
    if let Some(list) = after.strip_prefix('[') {
        let close = list.find(']')?;
        let list_start = pos + 1;
        let mut offset = 0;
        for part in list[..close].split(',') {
            let trimmed = part.trim();
            if !trimmed.is_empty() {
                let lead = part.len() - part.trim_start().len();
                let s = list_start + offset + lead;
                rules.push((trimmed.to_string(), s, s + trimmed.len()));
            }
            offset += part.len() + 1;
        }
        end = list_start + close + 1;
    }
    Some(Directive {
        file_level,
        start: at,
        end,
        rules,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_lists_and_bare_forms() {
        let d = parse_directive("# migverify: ignore[MV003, empty-upgrade]").unwrap();
        assert!(!d.file_level);
        let names: Vec<_> = d.rules.iter().map(|r| r.0.as_str()).collect();
        assert_eq!(names, ["MV003", "empty-upgrade"]);
        let text = "# migverify: ignore[MV003, empty-upgrade]";
        assert_eq!(&text[d.rules[1].1..d.rules[1].2], "empty-upgrade");
        assert_eq!(
            &text[d.start..d.end],
            "migverify: ignore[MV003, empty-upgrade]"
        );

        let d = parse_directive("# type: ignore  # migverify: ignore-file").unwrap();
        assert!(d.file_level && d.rules.is_empty());
        assert!(parse_directive("# migverify: ignored").is_none());
        assert!(parse_directive("# nothing here").is_none());
        assert!(parse_directive("# migverify: ignore[MV003").is_none());
    }
}
