//! Brackets as CPython's tokenizer pairs them, for the messages it gives: `'(' was
//! never closed` (at the bracket), `closing parenthesis ')' does not match opening
//! parenthesis '['` and `unmatched ')'` (at the closer). tree-sitter reports these
//! files as broken too, but where its error recovery gives up, which can be the
//! start of the file; migverify uses this to say what CPython says.

/// A bracket mistake: the byte offset it is reported at, and CPython's message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct BracketError {
    pub at: usize,
    pub message: String,
}

/// The first bracket mistake of `text` in CPython's order: a closer that matches
/// nothing, at the closer; otherwise the innermost bracket still open at the end.
pub(crate) fn bracket_error(text: &str) -> Option<BracketError> {
    let b = text.as_bytes();
    let mut open: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'#' => i = text[i..].find('\n').map_or(b.len(), |n| i + n),
            b'\\' => i += 2,
            q @ (b'"' | b'\'') => {
                // A string: prefixes (r, b, f, u) are letters before it, which the
                // scan skipped; a raw string still cannot end at an escaped quote.
                let triple = b[i..].starts_with(&[q, q, q]);
                i += if triple { 3 } else { 1 };
                while i < b.len() {
                    if b[i] == b'\\' {
                        i += 2;
                    } else if triple && b[i..].starts_with(&[q, q, q]) {
                        i += 3;
                        break;
                    } else if !triple && (b[i] == q || b[i] == b'\n') {
                        i += 1;
                        break;
                    } else {
                        i += 1;
                    }
                }
            }
            b'(' | b'[' | b'{' => {
                open.push(i);
                i += 1;
            }
            c @ (b')' | b']' | b'}') => {
                let Some(o) = open.pop() else {
                    return Some(BracketError {
                        at: i,
                        message: format!("unmatched '{}'", c as char),
                    });
                };
                let expected = match b[o] {
                    b'(' => b')',
                    b'[' => b']',
                    _ => b'}',
                };
                if c != expected {
                    let (oline, line) = (line_of(text, o), line_of(text, i));
                    let on_line = if oline == line {
                        String::new()
                    } else {
                        format!(" on line {oline}")
                    };
                    return Some(BracketError {
                        at: i,
                        message: format!(
                            "closing parenthesis '{}' does not match opening parenthesis '{}'{on_line}",
                            c as char, b[o] as char
                        ),
                    });
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    open.pop().map(|o| BracketError {
        at: o,
        message: format!("'{}' was never closed", b[o] as char),
    })
}

/// The 1-based line of `offset`.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset].bytes().filter(|&c| c == b'\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(src: &str) -> Option<(usize, String)> {
        bracket_error(src).map(|e| (e.at, e.message))
    }

    #[test]
    fn cpython_messages_at_cpython_places() {
        assert_eq!(err("x = (\n"), Some((4, "'(' was never closed".into())));
        assert_eq!(err("x = f((1,\n"), Some((6, "'(' was never closed".into())));
        assert_eq!(
            err("x = ([1, 2)\n"),
            Some((
                10,
                "closing parenthesis ')' does not match opening parenthesis '['".into()
            ))
        );
        assert_eq!(
            err("x = [\n1)\n"),
            Some((
                7,
                "closing parenthesis ')' does not match opening parenthesis '[' on line 1".into()
            ))
        );
        assert_eq!(err("x = 1)\n"), Some((5, "unmatched ')'".into())));
    }

    #[test]
    fn strings_comments_and_escapes_hold_no_brackets() {
        assert_eq!(err("x = ('a(', \"b]\", r'\\'(', '''\n(\n''')  # )\n"), None);
        assert_eq!(err("x = f'{a}' + b'(' + '''\\'''' \\\n  + 1\n"), None);
        assert_eq!(
            err("x = ('a(', \n"),
            Some((4, "'(' was never closed".into()))
        );
        assert_eq!(
            err(&format!("x = {}", "(".repeat(5000))),
            Some((5003, "'(' was never closed".into()))
        );
    }
}
