//! The one preorder walk of a syntax tree: a tree-sitter cursor moved by hand, so
//! no depth of nesting in user input can overflow the stack.

use tree_sitter::{Node, TreeCursor};

/// A preorder walk of the subtree under a node. Read the node under the walk with
/// [`Preorder::node`], then move on with [`Preorder::next`], saying whether to visit
/// the node's children.
pub struct Preorder<'t> {
    cursor: TreeCursor<'t>,
    depth: usize,
}

impl<'t> Preorder<'t> {
    /// A walk starting at `node` (the first node visited).
    pub fn new(node: Node<'t>) -> Preorder<'t> {
        Preorder {
            cursor: node.walk(),
            depth: 0,
        }
    }

    /// The node under the walk.
    pub fn node(&self) -> Node<'t> {
        self.cursor.node()
    }

    /// The field of its parent the node is in (`function`, `arguments`, …).
    pub fn field_name(&self) -> Option<&'t str> {
        self.cursor.field_name()
    }

    /// How many levels below the start node the node is.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// Moves to the next node in preorder, into the node's children when
    /// `descend`, else past them. `false` when the walk is over.
    pub fn next(&mut self, descend: bool) -> bool {
        if descend && self.cursor.goto_first_child() {
            self.depth += 1;
            return true;
        }
        while self.depth > 0 {
            if self.cursor.goto_next_sibling() {
                return true;
            }
            if !self.cursor.goto_parent() {
                break;
            }
            self.depth -= 1;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str, descend: impl Fn(Node<'_>) -> bool) -> Vec<(usize, String)> {
        let tree = crate::migration::parse_python(src).unwrap();
        let mut walk = Preorder::new(tree.root_node());
        let mut out = Vec::new();
        loop {
            let node = walk.node();
            if node.is_named() {
                out.push((walk.depth(), node.kind().to_string()));
            }
            if !walk.next(descend(node)) {
                return out;
            }
        }
    }

    #[test]
    fn visits_in_preorder_with_depths_and_skips_what_it_is_told_to() {
        let all = kinds("f(x)\ny = 1\n", |_| true);
        let names: Vec<&str> = all.iter().map(|(_, k)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "module",
                "expression_statement",
                "call",
                "identifier",
                "argument_list",
                "identifier",
                "expression_statement",
                "assignment",
                "identifier",
                "integer"
            ]
        );
        assert_eq!(all[0].0, 0);
        assert_eq!(all[2], (2, "call".to_string()));
        let pruned = kinds("f(x)\ny = 1\n", |n| n.kind() != "call");
        assert!(!pruned.iter().any(|(_, k)| k == "argument_list"));
        assert!(pruned.iter().any(|(_, k)| k == "integer"));
    }

    #[test]
    fn a_walk_from_a_node_stays_inside_it() {
        let tree = crate::migration::parse_python("f(x)\ny = 1\n").unwrap();
        let call = tree.root_node().child(0).unwrap().child(0).unwrap();
        let mut walk = Preorder::new(call);
        let mut n = 1;
        while walk.next(true) {
            n += 1;
        }
        assert_eq!(n, call.descendant_count());
    }

    #[test]
    fn a_deep_tree_does_not_overflow_the_stack() {
        let src = format!("x = {}1\n", "-".repeat(5_000));
        let tree = crate::migration::parse_python(&src).unwrap();
        let mut walk = Preorder::new(tree.root_node());
        let mut deepest = 0;
        while walk.next(true) {
            deepest = deepest.max(walk.depth());
        }
        assert!(deepest > 5_000);
    }
}
