//! The nesting CPython's tokenizer refuses, found before the file reaches
//! tree-sitter: more than 99 indentation levels (`IndentationError: too many levels
//! of indentation`, `MAXINDENT`) and more than 200 open brackets (`SyntaxError: too
//! many nested parentheses`, `MAXLEVEL`).
//!
//! Checked first because such files are not only invalid Python, they are hostile
//! to the parser: tree-sitter-python's external scanner asserts (aborting the whole
//! process) when it serializes an indentation stack of several hundred levels, and
//! tens of thousands of nested calls make query rules crawl.
//!
//! The scan follows the tokenizer's view of a file: logical lines (a newline inside
//! brackets or after `\` continues the line), blank and comment-only lines that
//! carry no indentation, strings (which may span lines) and comments that hold no
//! brackets. It only ever *under*-counts on inputs it reads differently from CPython
//! (f-strings nesting quotes), so it never refuses a file CPython accepts.

/// CPython's `MAXINDENT`: the 100th level is refused.
const MAX_INDENT_LEVELS: usize = 99;

/// CPython's `MAXLEVEL`: the 201st open bracket is refused.
const MAX_BRACKET_DEPTH: usize = 200;

/// What the scan refuses: the byte range to point at and CPython's message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct TooDeep {
    pub start: usize,
    pub end: usize,
    pub message: &'static str,
}

/// Runs of more comment-only lines than this are hidden from the parser (see
/// [`Scan::comment_runs`]).
const LONG_COMMENT_RUN: usize = 64;

/// What one pass over a file finds before it is parsed.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Scan {
    /// The first place the file nests deeper than CPython allows.
    pub too_deep: Option<TooDeep>,
    /// The comments (`#` to the end of the line) of comment-only lines that stand
    /// in runs of more than [`LONG_COMMENT_RUN`] (blank lines between them do not
    /// break a run). tree-sitter-python's scanner reads every following comment
    /// line again at each line break of such a run (quadratic: 60,000 lines take
    /// minutes); handed to the parser as spaces, they cost nothing, and the
    /// extractor reads them itself.
    pub comment_runs: Vec<(usize, usize)>,
}

/// The first place `text` nests deeper than CPython allows, if any.
#[cfg(test)]
pub(crate) fn too_deep(text: &str) -> Option<TooDeep> {
    scan(text).too_deep
}

/// One pass over `text`: see [`Scan`].
pub(crate) fn scan(text: &str) -> Scan {
    let mut out = Scan::default();
    let mut run: Vec<(usize, usize)> = Vec::new();
    let mut runs: Vec<(usize, usize)> = Vec::new();
    let flush = |run: &mut Vec<(usize, usize)>, runs: &mut Vec<(usize, usize)>| {
        if run.len() > LONG_COMMENT_RUN {
            runs.append(run);
        }
        run.clear();
    };
    out.too_deep = walk(text, |comment| match comment {
        Some(range) => run.push(range),
        None => flush(&mut run, &mut runs),
    });
    flush(&mut run, &mut runs);
    out.comment_runs = runs;
    out
}

/// The scan proper; `comment` hears of each comment-only line (`Some`) and of each
/// line that holds code (`None`).
fn walk(text: &str, mut comment: impl FnMut(Option<(usize, usize)>)) -> Option<TooDeep> {
    let b = text.as_bytes();
    let mut i = 0;
    // Indentation columns of the open blocks (a tab advances to the next multiple
    // of 8, a form feed resets the column, as in CPython).
    let mut levels: Vec<usize> = vec![0];
    let mut depth = 0usize;
    // At the start of a physical line that begins a logical line.
    let mut line_start = true;
    while i < b.len() {
        if line_start {
            line_start = false;
            let start = i;
            let mut col = 0usize;
            while i < b.len() {
                match b[i] {
                    b' ' => col += 1,
                    b'\t' => col = (col / 8 + 1) * 8,
                    b'\x0c' => col = 0,
                    _ => break,
                }
                i += 1;
            }
            // Blank and comment-only lines carry no indentation.
            if i >= b.len() || matches!(b[i], b'\n' | b'\r') {
                continue;
            }
            if b[i] == b'#' {
                comment(Some((i, memchr_newline(b, i))));
                continue;
            }
            comment(None);
            let top = *levels.last().unwrap_or(&0);
            if col > top {
                if levels.len() > MAX_INDENT_LEVELS {
                    return Some(TooDeep {
                        start,
                        end: i,
                        message: "too many levels of indentation (IndentationError)",
                    });
                }
                levels.push(col);
            } else {
                while levels.last().is_some_and(|&l| l > col) {
                    levels.pop();
                }
                if levels.last() != Some(&col) {
                    // A dedent to no open level: CPython stops here with another
                    // error (reported by `indent.rs`), never reaching deeper lines.
                    return None;
                }
            }
        }
        match b[i] {
            b'#' => {
                i = memchr_newline(b, i);
            }
            b'\\' => {
                // A continuation (or an escaped character outside a string, an
                // error of its own): the next line continues this logical line.
                i += 1;
                if b.get(i) == Some(&b'\r') {
                    i += 1;
                }
                if b.get(i) == Some(&b'\n') {
                    i += 1;
                }
            }
            q @ (b'"' | b'\'') => i = skip_string(b, i, q),
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > MAX_BRACKET_DEPTH {
                    return Some(TooDeep {
                        start: i,
                        end: i + 1,
                        message: "too many nested parentheses",
                    });
                }
                i += 1;
            }
            b')' | b']' | b'}' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'\n' | b'\r' => {
                // `\r\n`, `\n` and a lone `\r` (CPython reads universal newlines).
                if b[i] == b'\r' && b.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                i += 1;
                line_start = depth == 0;
            }
            _ => i += 1,
        }
    }
    None
}

/// The offset of the next line break at or after `i` (or the end).
fn memchr_newline(b: &[u8], i: usize) -> usize {
    b[i..]
        .iter()
        .position(|&c| c == b'\n' || c == b'\r')
        .map_or(b.len(), |n| i + n)
}

/// The offset just past the string whose quote `q` is at `i`: a triple-quoted
/// string runs to its closing triple quote, another to its quote or the end of the
/// line (unterminated: CPython's error, not ours); `\` escapes the next byte.
fn skip_string(b: &[u8], mut i: usize, q: u8) -> usize {
    let triple = b[i..].starts_with(&[q, q, q]);
    i += if triple { 3 } else { 1 };
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            c if c == q => {
                if !triple {
                    return i + 1;
                }
                if b[i..].starts_with(&[q, q, q]) {
                    return i + 3;
                }
                i += 1;
            }
            b'\n' | b'\r' if !triple => return i,
            _ => i += 1,
        }
    }
    b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested_ifs(n: usize, indent: &str) -> String {
        let mut s = String::new();
        for level in 0..n {
            s.push_str(&indent.repeat(level));
            s.push_str("if x:\n");
        }
        s.push_str(&indent.repeat(n));
        s.push_str("pass\n");
        s
    }

    /// CPython 3.11–3.13 accept 99 nested blocks and refuse 100, at the line of the
    /// 100th level.
    #[test]
    fn indentation_levels_as_cpython_counts_them() {
        assert_eq!(too_deep(&nested_ifs(99, " ")), None);
        assert_eq!(too_deep(&nested_ifs(99, "\t")), None);
        let text = nested_ifs(100, " ");
        let err = too_deep(&text).unwrap();
        let line_100 = text.match_indices('\n').nth(99).unwrap().0 + 1;
        assert_eq!((err.start, err.end), (line_100, line_100 + 100));
        assert!(err.message.starts_with("too many levels of indentation"));
        assert!(too_deep(&nested_ifs(600, "  ")).is_some());
    }

    #[test]
    fn blank_comment_and_continued_lines_carry_no_indentation() {
        // Deeply indented comments, blank lines, bracketed and `\` continuations,
        // and strings are not indentation levels.
        let deep = " ".repeat(500);
        let text = format!(
            "x = (\n{deep}1)\n{deep}# comment\n{deep}\ny = 1 + \\\n{deep}2\nz = '''\n{deep}a\n'''\nw = 1\r{deep}\r\n"
        );
        assert_eq!(too_deep(&text), None);
        assert_eq!(too_deep(""), None);
    }

    #[test]
    fn long_runs_of_comment_only_lines_are_found() {
        let short = "def f():\n    x = 1\n".to_string() + &"    # c\n".repeat(64) + "y = 2\n";
        assert_eq!(scan(&short).comment_runs, []);
        let long = "def f():\n    x = 1\n".to_string()
            + &"    # c\n\n".repeat(65)
            + "y = \"\"\"\n# not a comment\n\"\"\"\n"
            + &"# d\n".repeat(100);
        let runs = scan(&long).comment_runs;
        assert_eq!(runs.len(), 165);
        assert!(
            runs.iter()
                .all(|&(s, e)| long[s..e] == *"# c" || long[s..e] == *"# d")
        );
    }

    #[test]
    fn brackets_as_cpython_counts_them() {
        let ok = format!("x = {}1{}\n", "(".repeat(200), ")".repeat(200));
        assert_eq!(too_deep(&ok), None);
        let text = format!("x = {}1{}\n", "[".repeat(201), "]".repeat(201));
        let err = too_deep(&text).unwrap();
        assert_eq!(
            (err.start, err.message),
            (4 + 200, "too many nested parentheses")
        );
        // Brackets in strings and comments do not count.
        let text = format!(
            "x = '{}' + \"{}\" # {}\ny = '''\n{}'''\n",
            "(".repeat(300),
            "[".repeat(300),
            "{".repeat(300),
            "(".repeat(300)
        );
        assert_eq!(too_deep(&text), None);
        // 60,000 nested calls.
        let text = format!("x = {}1{}\n", "f(".repeat(60_000), ")".repeat(60_000));
        assert_eq!(too_deep(&text).unwrap().start, 4 + 200 * 2 + 1);
    }
}
