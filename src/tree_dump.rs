//! `migverify tree FILE`: the tree-sitter-python syntax tree of a file, as query
//! rules see it (the same parser and the same decoded text), for people writing
//! rules. Named nodes with their field names, 1-based `line:column` ranges (columns
//! in characters, the end exclusive), and the text of nodes without named children.

use std::fmt::Write as _;

use crate::migration::Preorder;
use crate::source::SourceFile;

/// How much of a leaf's text is shown.
const TEXT_MAX: usize = 40;

/// The tree of `source` in the S-expression form of `tree-sitter parse`; with `all`,
/// anonymous nodes (keywords, punctuation) too. Syntax errors show as `ERROR` and
/// `MISSING` nodes. Iterative: a deeply nested file cannot overflow the stack.
pub fn render(source: &SourceFile, all: bool) -> String {
    let tree = match crate::migration::parse_python_checked(&source.text) {
        Ok(tree) => tree,
        Err(why) => return format!("(not parsed: {why})\n"),
    };
    let mut out = String::new();
    let mut walk = Preorder::new(tree.root_node());
    // Whether the node under the walk is printed (named, or `all`).
    let shown = |node: tree_sitter::Node| all || node.is_named() || node.is_missing();
    // For each level above the node, how many printed nodes enclose it: its indent.
    let mut indents: Vec<usize> = Vec::new();
    loop {
        let node = walk.node();
        indents.truncate(walk.depth());
        let depth = indents.last().copied().unwrap_or(0);
        if shown(node) {
            let (l1, c1) = source.line_col(node.start_byte());
            let (l2, c2) = source.line_col(node.end_byte());
            out.push_str(&"  ".repeat(depth));
            if let Some(field) = walk.field_name() {
                let _ = write!(out, "{field}: ");
            }
            let kind = if node.is_missing() {
                format!("MISSING {}", node.kind())
            } else if node.is_named() {
                node.kind().to_string()
            } else {
                format!("{:?}", node.kind())
            };
            let _ = write!(out, "({kind} {l1}:{c1}-{l2}:{c2}");
            let mut c = node.walk();
            let leaf = node.is_named() && !node.children(&mut c).any(shown);
            if leaf && node.end_byte() > node.start_byte() {
                let text = source.text.get(node.byte_range()).unwrap_or("");
                let _ = write!(out, " {:?}", crate::text::truncate(text, TEXT_MAX));
            }
            out.push_str(")\n");
        }
        indents.push(depth + usize::from(shown(node)));
        if !walk.next(true) {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn tree(src: &str, all: bool) -> String {
        render(
            &SourceFile::from_text(PathBuf::from("m.py"), src.into()),
            all,
        )
    }

    #[test]
    fn named_nodes_with_fields_ranges_and_leaf_text() {
        assert_eq!(
            tree("op.drop_table(\"t\")\n", false),
            "(module 1:1-2:1)\n\
             \x20 (expression_statement 1:1-1:19)\n\
             \x20   (call 1:1-1:19)\n\
             \x20     function: (attribute 1:1-1:14)\n\
             \x20       object: (identifier 1:1-1:3 \"op\")\n\
             \x20       attribute: (identifier 1:4-1:14 \"drop_table\")\n\
             \x20     arguments: (argument_list 1:14-1:19)\n\
             \x20       (string 1:15-1:18)\n\
             \x20         (string_start 1:15-1:16 \"\\\"\")\n\
             \x20         (string_content 1:16-1:17 \"t\")\n\
             \x20         (string_end 1:17-1:18 \"\\\"\")\n"
        );
    }

    #[test]
    fn anonymous_nodes_errors_and_depth() {
        let all = tree("f(x)\n", true);
        assert!(
            all.contains("      \"(\" 1:2-1:3") || all.contains("(\"(\" 1:2-1:3)"),
            "{all}"
        );
        assert!(tree("x = (\n", false).contains("ERROR"));
        // Deep without brackets (5,000 are refused, as CPython refuses 201).
        let deep = format!("x = {}1\n", "-".repeat(5_000));
        assert!(tree(&deep, false).lines().count() > 5_000);
        let parens = format!("x = {}1{}\n", "(".repeat(5_000), ")".repeat(5_000));
        assert_eq!(
            tree(&parens, false),
            "(not parsed: Python syntax error at line 1: too many nested parentheses)\n"
        );
    }
}
