//! CPython's `TabError`: "inconsistent use of tabs and spaces in indentation".
//!
//! tree-sitter-python measures indentation as CPython does for its block structure
//! (a tab advances to the next multiple of 8), so a file that mixes tabs and spaces
//! parses without an error even where CPython refuses it. CPython's tokenizer also
//! measures every logical line with a tab worth one column and raises `TabError`
//! when the two measures disagree about the block structure: equal with one and not
//! with the other, or deeper with one and not with the other. This module applies
//! the same check to the first line of every statement and clause.

use tree_sitter::Node;

use super::extract::kind;

/// Nodes whose named children may be statements or clauses.
fn holds_statements(kind: &str) -> bool {
    matches!(
        kind,
        "module"
            | "block"
            | "if_statement"
            | "elif_clause"
            | "else_clause"
            | "for_statement"
            | "while_statement"
            | "try_statement"
            | "except_clause"
            | "except_group_clause"
            | "finally_clause"
            | "with_statement"
            | "function_definition"
            | "class_definition"
            | "decorated_definition"
            | "match_statement"
            | "case_clause"
    )
}

/// Nodes that begin a logical line of their own when they begin a line:
/// statements, the clauses of compound statements, decorators. (Error recovery can
/// hang a statement on a compound statement instead of its block.)
fn starts_logical_line(node: Node) -> bool {
    let k = kind(node);
    k.ends_with("_statement")
        || k.ends_with("_definition")
        || matches!(
            k,
            "elif_clause"
                | "else_clause"
                | "except_clause"
                | "except_group_clause"
                | "finally_clause"
                | "case_clause"
                | "decorator"
        )
}

/// Where an assignment statement (`a = b = c`, `x: int = 1`, `n += 1`) breaks its
/// line before its right side with nothing to continue it: a newline outside
/// brackets ends a statement for CPython, while tree-sitter reads on.
fn broken_assignment(statement: Node, text: &str) -> Option<usize> {
    if kind(statement) != "expression_statement" {
        return None;
    }
    let mut n = statement.named_child(0)?;
    while matches!(kind(n), "assignment" | "augmented_assignment") {
        let (left, right) = (
            n.child_by_field_name("left")?,
            n.child_by_field_name("right")?,
        );
        let gap = text.get(left.end_byte()..right.start_byte())?;
        let mut from = 0;
        while let Some(i) = gap[from..].find('\n') {
            let line = gap[..from + i].trim_end_matches('\r');
            if !line.ends_with('\\') {
                return Some(left.end_byte() + from + i);
            }
            from += i + 1;
        }
        n = right;
    }
    None
}

/// What CPython's tokenizer refuses in the indentation of a logical line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `TabError`: the block structure depends on the width of a tab.
    Tab,
    /// `IndentationError: unexpected indent`.
    UnexpectedIndent,
    /// `IndentationError: expected an indented block`.
    ExpectedIndent,
    /// `SyntaxError: invalid syntax`: an assignment whose right side is on a later
    /// line, with no bracket or `\` to continue it (the parser joins the lines).
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

/// The first logical line whose indentation CPython refuses: the byte range of its
/// indentation and why. Visits statements only, never expressions.
pub(crate) fn refused_indentation(root: Node, text: &str) -> Option<(usize, usize, Refusal)> {
    // (tab = 8 columns, tab = 1 column) of each open block: CPython's `indstack`
    // and `altindstack`.
    let mut levels: Vec<(usize, usize)> = vec![(0, 0)];
    let mut last_line_start = usize::MAX;
    // An empty block was seen: the next logical line fails.
    let mut expected_indent: Option<usize> = None;
    // Depth-first, in source order, without recursion: each node with whether it
    // is the first statement of a block (where an indent is expected).
    let mut pending: Vec<(Node, bool)> = vec![(root, false)];
    let mut children: Vec<Node> = Vec::new();
    let mut cursor = root.walk();
    while let Some((node, opens_block)) = pending.pop() {
        let is_block = kind(node) == "block";
        children.clear();
        children.extend(
            node.named_children(&mut cursor)
                .filter(|c| kind(*c) != "comment"),
        );
        if is_block && children.is_empty() {
            // The parser closes a block with nothing in it rather than fail; CPython
            // fails at the next line, unless its indentation is refused first.
            expected_indent.get_or_insert(node.start_byte());
        }
        for (i, &child) in children.iter().enumerate().rev() {
            if holds_statements(kind(child)) || starts_logical_line(child) {
                pending.push((child, is_block && i == 0));
            }
        }
        if !starts_logical_line(node) {
            continue;
        }
        let start = node.start_byte();
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let indent = &text[line_start..start];
        if line_start == last_line_start
            || !indent.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\x0c'))
        {
            continue;
        }
        last_line_start = line_start;
        let (mut col, mut alt) = (0usize, 0usize);
        for b in indent.bytes() {
            match b {
                b' ' => (col, alt) = (col + 1, alt + 1),
                b'\t' => (col, alt) = ((col / 8 + 1) * 8, alt + 1),
                _ => (col, alt) = (0, 0),
            }
        }
        // An indent is expected only by the first statement of a block that
        // starts on its own line (after a compound statement's header): `opens_block`
        // and this node begins its line.
        let &(top, top_alt) = levels.last().expect("the base level stays");
        // The tokenizer's checks (TabError, a dedent to no open level) come before
        // the parser's (an indent where none is expected, none where one is).
        let refusal = if col == top {
            if alt != top_alt {
                Some(Refusal::Tab)
            } else {
                opens_block.then_some(Refusal::ExpectedIndent)
            }
        } else if col > top {
            levels.push((col, alt));
            if alt <= top_alt {
                Some(Refusal::Tab)
            } else {
                (!opens_block).then_some(Refusal::UnexpectedIndent)
            }
        } else {
            while levels.len() > 1 && col < levels.last().map_or(0, |l| l.0) {
                levels.pop();
            }
            match levels.last() {
                Some(&(c, _)) if c != col => Some(Refusal::Unindent),
                Some(&(_, a)) if a != alt => Some(Refusal::Tab),
                _ => opens_block.then_some(Refusal::ExpectedIndent),
            }
        };
        if let Some(refusal) = refusal {
            return Some((line_start, start, refusal));
        }
        if let Some(at) = expected_indent {
            return Some((at, at, Refusal::ExpectedIndent));
        }
        if let Some(at) = broken_assignment(node, text) {
            return Some((at, at, Refusal::LineBreak));
        }
    }
    expected_indent.map(|at| (at, at, Refusal::ExpectedIndent))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migration::extract::parse_python;

    fn check(src: &str) -> Option<usize> {
        let tree = parse_python(src).unwrap();
        refused_indentation(tree.root_node(), src).map(|(s, _, _)| src[..s].lines().count() + 1)
    }

    #[test]
    fn consistent_tabs_or_spaces_pass() {
        assert_eq!(check("def f():\n\tif x:\n\t\treturn 1\n\treturn 2\n"), None);
        assert_eq!(
            check("def f():\n    if x:\n        return 1\n    return 2\n"),
            None
        );
        // A tab then spaces, the same on every line: CPython accepts it.
        assert_eq!(check("def f():\n\t  a = 1\n\t  b = 2\n"), None);
        // Tabs inside a line or a string, and continuation lines, are not indentation.
        assert_eq!(
            check("def f():\n    a = (1,\n\t2)\n    b = '''\n\tx'''\n    c =\t3\n"),
            None
        );
    }

    #[test]
    fn refused_indentation_is_found() {
        // a tab (8 columns) then 8 spaces: equal with tab = 8, not with tab = 1
        assert_eq!(check("def f():\n\ta = 1\n        b = 2\n"), Some(3));
        // 4 spaces, then a tab: deeper with tab = 8, not deeper with tab = 1... equal
        // levels differ, so the block structure depends on the tab size
        assert_eq!(check("if x:\n    if y:\n\ta = 1\n"), Some(3));
        // a dedent back to a level that matches only with tab = 8
        assert_eq!(check("if x:\n\tif y:\n\t\ta = 1\n        b = 2\n"), Some(4));
        // spaces only: an indent no block expects, a dedent to no open level, an
        // empty block
        assert_eq!(check("def f():\n    a = 1\n      b = 2\n"), Some(3));
        assert_eq!(
            check("def f():\n    if x:\n        a = 1\n      b = 2\n"),
            Some(4)
        );
        assert_eq!(check("def f():\n    if x:\n    b = 2\n"), Some(3));
        // clauses are logical lines too
        assert_eq!(
            check("def f():\n\tif x:\n\t\tpass\n        else:\n\t\tpass\n"),
            Some(4)
        );
    }
}
