//! One pass of CPython's tokenizer over a file, as far as MV009 needs it: logical
//! lines (a line break inside brackets or after `\` continues the line; blank and
//! comment-only lines carry no indentation), their indentation measured both ways
//! CPython measures it, bracket nesting, strings and comments.
//!
//! tree-sitter-python accepts some invalid Python: it measures a tab as 8 columns
//! only, reads past a line break where its grammar cannot end a statement, and
//! recovers from bracket mistakes wherever its error recovery gives up (which can
//! be the start of the file). Everything MV009 says that the parser cannot comes
//! from this pass, in one [`Scan`]:
//!
//! - **nesting** CPython refuses: more than 99 indentation levels (`MAXINDENT`)
//!   and more than 200 open brackets (`MAXLEVEL`). Checked before the file reaches
//!   tree-sitter, whose external scanner asserts (aborting the process) when it
//!   serializes an indentation stack of several hundred levels, and tens of
//!   thousands of nested calls make query rules crawl;
//! - **indentation**: `TabError` (CPython also measures every logical line with a
//!   tab worth one column and refuses a block structure that depends on the
//!   width of a tab), an indent no block expects, none where a block header
//!   (a logical line ending in `:`) expects one, a dedent to no open level;
//! - **a statement broken after `=`** with nothing to continue it;
//! - **bracket mistakes**, with CPython's messages at CPython's places;
//! - **long runs of comment-only lines**, which the extractor hides from the parser
//!   ([`Scan::comment_runs`]);
//! - **continuation lines indented less than their statement**, which the parser
//!   would read as the end of a block ([`Scan::shallow_continuations`]).
//!
//! [`Scan::parser_text`] is the text handed to tree-sitter: the same bytes at the
//! same offsets and lines, with those two changes.
//!
//! f-strings (and t-strings) are read as Python 3.12 reads them (PEP 701): their
//! replacement fields are expressions, which may hold strings in the same quotes,
//! brackets, `#` and line breaks. On valid code of older Pythons this reads the
//! same as before, since those could not nest the quotes.

/// CPython's `MAXINDENT`: the 100th level is refused.
const MAX_INDENT_LEVELS: usize = 99;

/// CPython's `MAXLEVEL`: the 201st open bracket is refused.
const MAX_BRACKET_DEPTH: usize = 200;

/// Runs of more comment-only lines than this are hidden from the parser (see
/// [`Scan::comment_runs`]).
const LONG_COMMENT_RUN: usize = 64;

/// Nesting CPython refuses: the byte range to point at and CPython's message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct TooDeep {
    pub start: usize,
    pub end: usize,
    pub message: &'static str,
}

/// A bracket mistake: the byte offset it is reported at, and CPython's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BracketError {
    pub at: usize,
    pub message: String,
}

/// What CPython refuses in the indentation or the end of a logical line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `TabError`: the block structure depends on the width of a tab.
    Tab,
    /// `IndentationError: unexpected indent`.
    UnexpectedIndent,
    /// `IndentationError: expected an indented block`.
    ExpectedIndent,
    /// `SyntaxError: invalid syntax`: a logical line that ends after `=` (an
    /// assignment whose right side is on a later line, with no bracket or `\` to
    /// continue it; tree-sitter joins the lines).
    LineBreak,
    /// `IndentationError: unindent does not match any outer indentation level`.
    Unindent,
}

impl Refusal {
    pub(crate) fn message(self) -> &'static str {
        match self {
            Refusal::Tab => "inconsistent use of tabs and spaces in indentation (TabError)",
            Refusal::UnexpectedIndent => "unexpected indent (IndentationError)",
            Refusal::ExpectedIndent => "expected an indented block (IndentationError)",
            Refusal::LineBreak => {
                "invalid syntax: the statement ends at this line break (continue it inside brackets or with `\\`)"
            }
            Refusal::Unindent => {
                "unindent does not match any outer indentation level (IndentationError)"
            }
        }
    }
}

/// What one pass over a file finds before it is parsed.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Scan {
    /// The first place the file nests deeper than CPython allows. When set, the
    /// scan stopped there and the other fields are incomplete: such a file is not
    /// parsed.
    pub too_deep: Option<TooDeep>,
    /// The comments (`#` to the end of the line) of comment-only lines that stand
    /// in runs of more than [`LONG_COMMENT_RUN`] (blank lines between them do not
    /// break a run). tree-sitter-python's scanner reads every following comment
    /// line again at each line break of such a run (quadratic: 60,000 lines take
    /// minutes); handed to the parser as spaces, they cost nothing, and the
    /// extractor reads them itself.
    pub comment_runs: Vec<(usize, usize)>,
    /// The leading spaces of continuation lines (inside brackets or after `\`)
    /// that tree-sitter-python measures as shallower than the logical line they
    /// continue. Python ignores a continuation line's indentation, but after a
    /// token that no closing bracket may follow (`f(a=`, `{1:`, `x +`), the
    /// parser's scanner reads such a line as a dedent and the file as broken.
    /// Handed to the parser as tabs (which its scanner counts as 8 columns each),
    /// they are deep enough; a continuation line with no indentation at all
    /// cannot be helped this way.
    pub shallow_continuations: Vec<(usize, usize)>,
    /// The first logical line CPython refuses for its indentation or its end: the
    /// byte range to point at (a line's indentation, or the line break) and why.
    pub refusal: Option<(usize, usize, Refusal)>,
    /// The first bracket mistake in CPython's order: a closer that matches
    /// nothing, at the closer; otherwise the innermost bracket still open at the
    /// end.
    pub bracket: Option<BracketError>,
}

/// One pass over `text`: see [`Scan`].
pub(crate) fn scan(text: &str) -> Scan {
    let mut t = Tokenizer {
        b: text.as_bytes(),
        out: Scan::default(),
        run: Vec::new(),
        levels: vec![(0, 0)],
        nesting_checked: true,
        open: Vec::new(),
        last: 0,
        opener_at: None,
        line_indent: 0,
    };
    t.run();
    t.flush_run();
    t.out
}

struct Tokenizer<'a> {
    b: &'a [u8],
    out: Scan,
    /// The comment-only lines of the current run.
    run: Vec<(usize, usize)>,
    /// (tab = 8 columns, tab = 1 column) of each open block: CPython's `indstack`
    /// and `altindstack`.
    levels: Vec<(usize, usize)>,
    /// Nesting is still checked: CPython stops at a dedent to no open level (a
    /// refusal of its own) and never reaches deeper lines.
    nesting_checked: bool,
    /// Byte offsets of the open brackets, innermost last.
    open: Vec<usize>,
    /// The last byte of the current logical line that is not blank, in a comment
    /// or a continuation (a string counts as its quote); 0 before its first.
    last: u8,
    /// The previous logical line ended in `:` (a block header) at this line
    /// break: the next must be indented.
    opener_at: Option<usize>,
    /// The indentation of the current logical line as tree-sitter-python's
    /// scanner measures it (a tab is 8 columns wherever it stands).
    line_indent: usize,
}

impl Tokenizer<'_> {
    fn run(&mut self) {
        let b = self.b;
        let mut i = 0;
        // At the start of a physical line that begins a logical line.
        let mut line_start = true;
        while i < b.len() {
            if line_start {
                line_start = false;
                let start = i;
                let (mut col, mut alt) = (0usize, 0usize);
                while i < b.len() {
                    match b[i] {
                        b' ' => (col, alt) = (col + 1, alt + 1),
                        b'\t' => (col, alt) = ((col / 8 + 1) * 8, alt + 1),
                        b'\x0c' => (col, alt) = (0, 0),
                        _ => break,
                    }
                    i += 1;
                }
                // Blank and comment-only lines carry no indentation.
                if i >= b.len() || matches!(b[i], b'\n' | b'\r') {
                    continue;
                }
                if b[i] == b'#' {
                    self.run.push((i, line_end(b, i)));
                    continue;
                }
                self.flush_run();
                self.line_indent = scanner_indent(&b[start..i]);
                if !self.logical_line(start, i, col, alt) {
                    return;
                }
            }
            match b[i] {
                b'#' => i = line_end(b, i),
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
                    self.continuation(i);
                }
                q @ (b'"' | b'\'') => {
                    i = skip_string_at(b, i, q, 0);
                    self.last = q;
                }
                c @ (b'(' | b'[' | b'{') => {
                    if self.nesting_checked && self.open.len() >= MAX_BRACKET_DEPTH {
                        self.out.too_deep = Some(TooDeep {
                            start: i,
                            end: i + 1,
                            message: "too many nested parentheses",
                        });
                        return;
                    }
                    self.open.push(i);
                    self.last = c;
                    i += 1;
                }
                c @ (b')' | b']' | b'}') => {
                    self.close(i, c);
                    self.last = c;
                    i += 1;
                }
                b'\n' | b'\r' => {
                    let at = i;
                    // `\r\n`, `\n` and a lone `\r` (CPython reads universal newlines).
                    if b[i] == b'\r' && b.get(i + 1) == Some(&b'\n') {
                        i += 1;
                    }
                    i += 1;
                    if self.open.is_empty() {
                        self.end_logical_line(at);
                        line_start = true;
                    } else {
                        self.continuation(i);
                    }
                }
                b' ' | b'\t' | b'\x0c' => i += 1,
                c => {
                    self.last = c;
                    i += 1;
                }
            }
        }
        if self.open.is_empty() {
            if self.last != 0 {
                self.end_logical_line(b.len());
            }
            if let Some(at) = self.opener_at {
                self.refuse(at, at, Refusal::ExpectedIndent);
            }
        } else if self.out.bracket.is_none() {
            let o = *self.open.last().expect("not empty");
            self.out.bracket = Some(BracketError {
                at: o,
                message: format!("'{}' was never closed", b[o] as char),
            });
        }
    }

    /// The first line of a logical line: its indentation is `start..token`,
    /// measured `col` (tab = 8) and `alt` (tab = 1). False when the file nests too
    /// deep (the scan stops).
    fn logical_line(&mut self, start: usize, token: usize, col: usize, alt: usize) -> bool {
        let opens_block = self.opener_at.take().is_some();
        if !self.nesting_checked {
            return true;
        }
        let &(top, top_alt) = self.levels.last().expect("the base level stays");
        // The tokenizer's checks (TabError, a dedent to no open level) come before
        // the parser's (an indent where none is expected, none where one is).
        let refusal = if col == top {
            if alt != top_alt {
                Some(Refusal::Tab)
            } else {
                opens_block.then_some(Refusal::ExpectedIndent)
            }
        } else if col > top {
            if self.levels.len() > MAX_INDENT_LEVELS {
                self.out.too_deep = Some(TooDeep {
                    start,
                    end: token,
                    message: "too many levels of indentation (IndentationError)",
                });
                return false;
            }
            self.levels.push((col, alt));
            if alt <= top_alt {
                Some(Refusal::Tab)
            } else {
                (!opens_block).then_some(Refusal::UnexpectedIndent)
            }
        } else {
            while self.levels.len() > 1 && col < self.levels.last().map_or(0, |l| l.0) {
                self.levels.pop();
            }
            match self.levels.last() {
                Some(&(c, _)) if c != col => {
                    self.nesting_checked = false;
                    Some(Refusal::Unindent)
                }
                Some(&(_, a)) if a != alt => Some(Refusal::Tab),
                _ => opens_block.then_some(Refusal::ExpectedIndent),
            }
        };
        if let Some(refusal) = refusal {
            self.refuse(start, token, refusal);
        }
        true
    }

    /// A physical line that continues the logical line starts at `i`: notes its
    /// leading spaces if tree-sitter would read them as a dedent.
    fn continuation(&mut self, i: usize) {
        let b = self.b;
        let end = i + b[i..]
            .iter()
            .position(|&c| !matches!(c, b' ' | b'\t'))
            .unwrap_or(b.len() - i);
        if scanner_indent(&b[i..end]) < self.line_indent && b[i..end].contains(&b' ') {
            self.out.shallow_continuations.push((i, end));
        }
    }

    /// The end of a logical line, at the line break `at` (or the end of the file).
    fn end_logical_line(&mut self, at: usize) {
        match std::mem::take(&mut self.last) {
            b':' => self.opener_at = Some(at),
            b'=' => self.refuse(at, at, Refusal::LineBreak),
            _ => {}
        }
    }

    fn refuse(&mut self, start: usize, end: usize, refusal: Refusal) {
        self.out.refusal.get_or_insert((start, end, refusal));
    }

    /// A closing bracket `c` at `i`: pairs it, or records CPython's message.
    fn close(&mut self, i: usize, c: u8) {
        let b = self.b;
        let Some(o) = self.open.pop() else {
            if self.out.bracket.is_none() {
                self.out.bracket = Some(BracketError {
                    at: i,
                    message: format!("unmatched '{}'", c as char),
                });
            }
            return;
        };
        let expected = match b[o] {
            b'(' => b')',
            b'[' => b']',
            _ => b'}',
        };
        if c != expected && self.out.bracket.is_none() {
            let (oline, line) = (line_of(b, o), line_of(b, i));
            let on_line = if oline == line {
                String::new()
            } else {
                format!(" on line {oline}")
            };
            self.out.bracket = Some(BracketError {
                at: i,
                message: format!(
                    "closing parenthesis '{}' does not match opening parenthesis '{}'{on_line}",
                    c as char, b[o] as char
                ),
            });
        }
    }

    /// Ends a run of comment-only lines: a long one is hidden from the parser.
    fn flush_run(&mut self) {
        if self.run.len() > LONG_COMMENT_RUN {
            self.out.comment_runs.append(&mut self.run);
        }
        self.run.clear();
    }
}

impl Scan {
    /// The text tree-sitter parses: `text` with the long comment runs as spaces
    /// and the shallow continuation lines' spaces as tabs. Offsets, lines and
    /// every token are unchanged; what differs is only whitespace and comments
    /// the extractor reads from `text` itself. In a file CPython refuses for its
    /// lines or brackets, where the continuation lines are not what they seem,
    /// their spaces stay.
    pub(crate) fn parser_text<'t>(&self, text: &'t str) -> std::borrow::Cow<'t, str> {
        let shallow = if self.refusal.is_none() && self.bracket.is_none() {
            &self.shallow_continuations[..]
        } else {
            &[]
        };
        if self.comment_runs.is_empty() && shallow.is_empty() {
            return std::borrow::Cow::Borrowed(text);
        }
        let mut bytes = text.as_bytes().to_vec();
        for &(s, e) in &self.comment_runs {
            bytes[s..e].fill(b' ');
        }
        for &(s, e) in shallow {
            bytes[s..e].iter_mut().for_each(|c| *c = b'\t');
        }
        // Only ASCII (whole comments, spaces) was replaced by ASCII: still UTF-8.
        std::borrow::Cow::Owned(String::from_utf8(bytes).unwrap_or_default())
    }
}

/// Indentation as tree-sitter-python's scanner measures it: a space is one column,
/// a tab eight, a form feed starts again.
fn scanner_indent(ws: &[u8]) -> usize {
    ws.iter().fold(0, |n, &c| match c {
        b' ' => n + 1,
        b'\t' => n + 8,
        _ => 0,
    })
}

/// The 1-based line of `offset`, counting `\n` (as CPython's messages do).
fn line_of(b: &[u8], offset: usize) -> usize {
    b[..offset].iter().filter(|&&c| c == b'\n').count() + 1
}

/// The offset of the next line break at or after `i` (or the end).
fn line_end(b: &[u8], i: usize) -> usize {
    b[i..]
        .iter()
        .position(|&c| c == b'\n' || c == b'\r')
        .map_or(b.len(), |n| i + n)
}

/// How deep f-strings may nest in one another's replacement fields before the
/// scan reads the rest as plain strings (CPython 3.12 refuses past 150).
const MAX_FSTRING_LEVEL: usize = 150;

/// The offset just past the string whose quote `q` is at `i`, read by its prefix
/// (the letters just before the quote): an f-string or t-string as PEP 701 reads
/// it, any other as a plain string. `level`: how many f-strings it is inside.
fn skip_string_at(b: &[u8], i: usize, q: u8, level: usize) -> usize {
    let mut j = i;
    while j > 0 && i - j < 3 && b[j - 1].is_ascii_alphabetic() {
        j -= 1;
    }
    let word_start = j == 0 || !(b[j - 1].is_ascii_alphanumeric() || b[j - 1] == b'_');
    let prefix = &b[j..i];
    let formatted = word_start
        && prefix.iter().all(|c| b"rRbBuUfFtT".contains(c))
        && prefix.iter().any(|c| b"fFtT".contains(c));
    let fields = (formatted && level < MAX_FSTRING_LEVEL).then_some(level + 1);
    skip_string(b, i, q, fields)
}

/// The offset just past the replacement field whose expression starts at `i`
/// (its closing `}`): strings in any quotes, brackets, comments and line breaks,
/// then an optional format spec after `:` or `!` (text with fields of its own).
fn skip_field(b: &[u8], mut i: usize, level: usize) -> usize {
    let mut depth = 0usize;
    while i < b.len() {
        match b[i] {
            q @ (b'"' | b'\'') => i = skip_string_at(b, i, q, level),
            b'#' => i = line_end(b, i),
            b'(' | b'[' | b'{' => {
                depth += 1;
                i += 1;
            }
            b')' | b']' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'}' if depth > 0 => {
                depth -= 1;
                i += 1;
            }
            b'}' => return i + 1,
            b'!' if depth == 0 && b.get(i + 1) != Some(&b'=') => return skip_spec(b, i + 1, level),
            b':' if depth == 0 => return skip_spec(b, i + 1, level),
            _ => i += 1,
        }
    }
    b.len()
}

/// The offset just past a replacement field's conversion and format spec, which
/// start at `i`: text up to the field's `}`, with nested fields.
fn skip_spec(b: &[u8], mut i: usize, level: usize) -> usize {
    while i < b.len() {
        match b[i] {
            // Nested fields count as levels too, so no input nests the scan deeper
            // than MAX_FSTRING_LEVEL calls.
            b'{' if level < MAX_FSTRING_LEVEL => i = skip_field(b, i + 1, level + 1),
            b'}' => return i + 1,
            b'\n' | b'\r' => return i,
            _ => i += 1,
        }
    }
    b.len()
}

/// The offset just past the string whose quote `q` is at `i`: a triple-quoted
/// string runs to its closing triple quote, another to its quote or the end of the
/// line (unterminated: CPython's error, not ours); `\` escapes the next byte (a
/// raw string still cannot end at an escaped quote). With `fields` (an f-string,
/// `fields` levels deep), `{{` is an escaped brace and `{` opens a replacement
/// field ([`skip_field`]).
fn skip_string(b: &[u8], mut i: usize, q: u8, fields: Option<usize>) -> usize {
    let triple = b[i..].starts_with(&[q, q, q]);
    i += if triple { 3 } else { 1 };
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'{' if fields.is_some() && b.get(i + 1) == Some(&b'{') => i += 2,
            b'{' if let Some(level) = fields => i = skip_field(b, i + 1, level),
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

    fn too_deep(text: &str) -> Option<TooDeep> {
        scan(text).too_deep
    }

    /// The 1-based line of the first refusal.
    fn refused_line(src: &str) -> Option<usize> {
        scan(src)
            .refusal
            .map(|(s, _, _)| src[..s].lines().count() + 1)
    }

    fn refusal(src: &str) -> Option<Refusal> {
        scan(src).refusal.map(|(_, _, r)| r)
    }

    fn bracket(src: &str) -> Option<(usize, String)> {
        scan(src).bracket.map(|e| (e.at, e.message))
    }

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
        // CPython stops at a dedent to no open level, before deeper lines.
        let text = format!("if x:\n    a = 1\n  b = 2\n{}", nested_ifs(120, " "));
        assert_eq!(too_deep(&text), None);
        assert_eq!(refusal(&text), Some(Refusal::Unindent));
    }

    #[test]
    fn blank_comment_and_continued_lines_carry_no_indentation() {
        // Deeply indented comments, blank lines, bracketed and `\` continuations,
        // and strings are not indentation levels.
        let deep = " ".repeat(500);
        let text = format!(
            "x = (\n{deep}1)\n{deep}# comment\n{deep}\ny = 1 + \\\n{deep}2\nz = '''\n{deep}a\n'''\nw = 1\r{deep}\r\n"
        );
        assert_eq!(scan(&text), Scan::default());
        assert_eq!(scan(""), Scan::default());
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

    #[test]
    fn bracket_mistakes_get_cpython_messages_at_cpython_places() {
        assert_eq!(bracket("x = (\n"), Some((4, "'(' was never closed".into())));
        assert_eq!(
            bracket("x = f((1,\n"),
            Some((6, "'(' was never closed".into()))
        );
        assert_eq!(
            bracket("x = ([1, 2)\n"),
            Some((
                10,
                "closing parenthesis ')' does not match opening parenthesis '['".into()
            ))
        );
        assert_eq!(
            bracket("x = [\n1)\n"),
            Some((
                7,
                "closing parenthesis ')' does not match opening parenthesis '[' on line 1".into()
            ))
        );
        assert_eq!(bracket("x = 1)\n"), Some((5, "unmatched ')'".into())));
    }

    #[test]
    fn strings_comments_and_escapes_hold_no_brackets() {
        assert_eq!(
            bracket("x = ('a(', \"b]\", r'\\'(', '''\n(\n''')  # )\n"),
            None
        );
        assert_eq!(bracket("x = f'{a}' + b'(' + '''\\'''' \\\n  + 1\n"), None);
        assert_eq!(
            bracket("x = ('a(', \n"),
            Some((4, "'(' was never closed".into()))
        );
        let deep = format!("x = {}", "(".repeat(5000));
        let s = scan(&deep);
        assert_eq!(s.too_deep.map(|d| d.start), Some(204));
    }

    #[test]
    fn consistent_tabs_or_spaces_pass() {
        assert_eq!(
            refused_line("def f():\n\tif x:\n\t\treturn 1\n\treturn 2\n"),
            None
        );
        assert_eq!(
            refused_line("def f():\n    if x:\n        return 1\n    return 2\n"),
            None
        );
        // A tab then spaces, the same on every line: CPython accepts it.
        assert_eq!(refused_line("def f():\n\t  a = 1\n\t  b = 2\n"), None);
        // Tabs inside a line or a string, and continuation lines, are not indentation.
        assert_eq!(
            refused_line("def f():\n    a = (1,\n\t2)\n    b = '''\n\tx'''\n    c =\t3\n"),
            None
        );
        // One-line blocks, headers continued with `\` or brackets, a header's
        // comment, slices and dicts ending a physical line.
        assert_eq!(
            refused_line(
                "if x: y = 1\nclass C: pass\nif (a and\n    b):  # c\n    z = {1:\n 2}[1:\n]\nelse \\\n:\n  pass\nw = ...\n"
            ),
            None
        );
    }

    #[test]
    fn refused_indentation_is_found() {
        // a tab (8 columns) then 8 spaces: equal with tab = 8, not with tab = 1
        assert_eq!(refused_line("def f():\n\ta = 1\n        b = 2\n"), Some(3));
        // 4 spaces, then a tab: deeper with tab = 8, not deeper with tab = 1
        assert_eq!(refused_line("if x:\n    if y:\n\ta = 1\n"), Some(3));
        // a dedent back to a level that matches only with tab = 8
        assert_eq!(
            refused_line("if x:\n\tif y:\n\t\ta = 1\n        b = 2\n"),
            Some(4)
        );
        // spaces only: an indent no block expects, a dedent to no open level, an
        // empty block
        assert_eq!(refused_line("def f():\n    a = 1\n      b = 2\n"), Some(3));
        assert_eq!(
            refused_line("def f():\n    if x:\n        a = 1\n      b = 2\n"),
            Some(4)
        );
        assert_eq!(refused_line("def f():\n    if x:\n    b = 2\n"), Some(3));
        // clauses are logical lines too
        assert_eq!(
            refused_line("def f():\n\tif x:\n\t\tpass\n        else:\n\t\tpass\n"),
            Some(4)
        );
        assert_eq!(
            refusal("class C: pass\n    x = 1\n"),
            Some(Refusal::UnexpectedIndent)
        );
    }

    #[test]
    fn a_block_header_at_the_end_expects_a_block() {
        // CPython points at the header's line break.
        assert_eq!(
            scan("if x:\n").refusal,
            Some((5, 5, Refusal::ExpectedIndent))
        );
        assert_eq!(
            scan("if x:  # c\n\n# d\n").refusal,
            Some((10, 10, Refusal::ExpectedIndent))
        );
        assert_eq!(scan("if x:").refusal, Some((5, 5, Refusal::ExpectedIndent)));
    }

    #[test]
    fn a_statement_ending_after_equals_is_refused_at_its_line_break() {
        assert_eq!(
            scan("def f():\n    x =\n        1\n").refusal,
            Some((16, 16, Refusal::LineBreak))
        );
        assert_eq!(
            scan("x = y = # c\r\n  1\n").refusal,
            Some((11, 11, Refusal::LineBreak))
        );
        assert_eq!(refusal("x +=\n1\n"), Some(Refusal::LineBreak));
        // Continued, bracketed, in a string, or a keyword argument: not broken.
        assert_eq!(
            refusal("x = \\\n  1\ny = (\n 2)\nz = 'a ='\nf(a=\n 1)\n"),
            None
        );
    }

    #[test]
    fn shallow_continuation_lines_reach_the_parser_as_tabs() {
        let src = "def f():\n        g(a=\n    1, b=\n\t2, c=\n3)\n        x = \\\n  4\n";
        let s = scan(src);
        assert_eq!(s.refusal, None);
        // An annotation across lines, then its value: the line break is inside
        // brackets (the statement walk this pass replaced reported it, on real
        // projects' class attributes).
        assert_eq!(
            refusal("class C:\n    RESOURCE: ClassVar[\n        int | None] = None\n"),
            None
        );
        // `    1` and `  4` are shallower than the statement's 8 columns; `\t2`
        // is not (a tab is 8 for the parser), and `3)` has no spaces to turn.
        let lines: Vec<&str> = s
            .shallow_continuations
            .iter()
            .map(|&(a, b)| &src[a..b])
            .collect();
        assert_eq!(lines, ["    ", "  "]);
        let text = s.parser_text(src);
        assert_eq!(text.len(), src.len());
        assert_eq!(
            text,
            src.replacen("\n    1", "\n\t\t\t\t1", 1)
                .replacen("\n  4", "\n\t\t4", 1)
        );
        // A file CPython refuses keeps its spaces.
        let broken = format!("{src}  y = 1\n");
        assert_eq!(scan(&broken).parser_text(&broken), broken);
        // Nothing to change: the text itself.
        assert!(matches!(
            scan("x = (1,\n     2)\n").parser_text("x = (1,\n     2)\n"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    /// Python 3.12 f-strings nest the quote they are in, and their fields may
    /// hold brackets, `#` and line breaks (PEP 701): read as 3.12 reads them,
    /// nothing in them is a bracket mistake, a comment or a line of its own.
    #[test]
    fn nested_fstring_quotes_invent_no_refusal() {
        for src in [
            r#"x = f'{a!r:>{w}} {b != c} {d:{e}}' + f'{g("}")}'
y = (1,
 2)
"#,
            r#"x = f'''{
  a  # (
}''' + rf'{b}\\' + F"{c['(']}"
"#,
            "def f():\n    x = f\"{d[\"(\"]}\"\n    if x:\n        y = 1\n",
            "def f():\n    if a:\n        x = f\"{d[\")\"]}\"\n    y = 1\n",
            "def f():\n    if a:\n        x = f\"{d[\"#\"]}\" + g(a=\n  1)\n    y = 1\n",
        ] {
            let s = scan(src);
            assert_eq!((s.refusal, s.bracket), (None, None), "{src:?}");
        }
    }

    /// f-strings nested in fields, and fields nested in format specs, 100,000
    /// deep: the scan's recursion stops at CPython's limit, not the stack's.
    #[test]
    fn deeply_nested_fstrings_do_not_overflow() {
        let n = 100_000;
        let nested = format!("x = {}1{}\n", "f'{".repeat(n), "}'".repeat(n));
        let _ = scan(&nested);
        let specs = format!("x = f'{{a:{}{}'\n", "{b:".repeat(n), "}".repeat(n + 1));
        let _ = scan(&specs);
    }
}
