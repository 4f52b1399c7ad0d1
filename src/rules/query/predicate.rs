//! The predicates migverify evaluates itself, beyond tree-sitter's text predicates
//! (`#eq?`, `#not-eq?`, `#any-eq?`, `#match?`, `#not-match?`, `#any-of?`,
//! `#not-any-of?`, which the query cursor applies).
//!
//! Each takes a capture first; `#not-X?` is the negation of `#X?`. A capture
//! holding several nodes (a quantified one) must satisfy it with every node; a
//! capture absent from a match satisfies it.
//!
//! | predicate | holds when |
//! |---|---|
//! | `#has-kwarg? @call "name"` | the call passes the keyword argument `name=` |
//! | `#kwarg-eq? @call "name" "value"` | it passes `name=value`: the value's source text is `value`, or it is a string literal whose content is `value` |
//! | `#is-op? @call` | the call is an Alembic operation: `op.<method>(…)`, or a call on the alias of `with op.batch_alter_table(…) as alias:` |
//! | `#inside-with? @node "regex"` | the node is in the body of a `with` statement whose items match the regex (`"autocommit_block"`) |
//! | `#new-table? @table` | the node is a string literal (or a `table_name="…"` keyword argument) naming a table that this migration's `upgrade()` creates with `op.create_table` |

use std::collections::HashSet;

use regex::Regex;
use tree_sitter::{Node, QueryMatch, QueryPredicate, QueryPredicateArg};

use crate::migration::{Migration, Phase};

/// The predicates migverify evaluates, with their arguments after the capture.
pub const PREDICATES: &[(&str, &[&str])] = &[
    ("has-kwarg?", &["name"]),
    ("kwarg-eq?", &["name", "value"]),
    ("is-op?", &[]),
    ("inside-with?", &["regex"]),
    ("new-table?", &[]),
];

#[derive(Debug)]
enum Check {
    HasKwarg(String),
    KwargEq(String, String),
    IsOp,
    InsideWith(Regex),
    NewTable,
}

/// A predicate of one pattern, ready to evaluate.
#[derive(Debug)]
pub struct Predicate {
    capture: u32,
    check: Check,
    negated: bool,
}

impl Predicate {
    /// Validates a general predicate of a compiled query. `Err` holds the message
    /// and a label.
    pub fn parse(p: &QueryPredicate) -> Result<Predicate, (String, String)> {
        let op = p.operator.as_ref();
        let (negated, base) = match op.strip_prefix("not-") {
            Some(base) => (true, base),
            None => (false, op),
        };
        let Some(&(_, params)) = PREDICATES.iter().find(|(n, _)| *n == base) else {
            let known: Vec<String> = PREDICATES.iter().map(|(n, _)| format!("#{n}")).collect();
            return Err((
                format!("unknown predicate `#{op}`"),
                format!(
                    "not a predicate; migverify's are {} (and their `#not-` forms), tree-sitter's #eq?, #match?, #any-of? and their `#not-` forms",
                    known.join(", ")
                ),
            ));
        };
        let usage = format!(
            "`#{op} @capture{}`",
            params
                .iter()
                .map(|p| format!(" \"{p}\""))
                .collect::<String>()
        );
        let wrong = || {
            Err((
                format!("wrong arguments for `#{op}`"),
                format!("write it {usage}"),
            ))
        };
        let [QueryPredicateArg::Capture(capture), rest @ ..] = p.args.as_ref() else {
            return wrong();
        };
        let mut strings = Vec::new();
        for a in rest {
            match a {
                QueryPredicateArg::String(s) => strings.push(s.to_string()),
                QueryPredicateArg::Capture(_) => return wrong(),
            }
        }
        if strings.len() != params.len() {
            return wrong();
        }
        let mut strings = strings.into_iter();
        let mut next = || strings.next().expect("counted");
        let check = match base {
            "has-kwarg?" => Check::HasKwarg(next()),
            "kwarg-eq?" => Check::KwargEq(next(), next()),
            "is-op?" => Check::IsOp,
            "inside-with?" => {
                let re = next();
                Check::InsideWith(Regex::new(&re).map_err(|e| {
                    (
                        format!("invalid regex in `#{op}`"),
                        e.to_string()
                            .lines()
                            .last()
                            .unwrap_or("invalid")
                            .to_string(),
                    )
                })?)
            }
            "new-table?" => Check::NewTable,
            _ => unreachable!("listed in PREDICATES"),
        };
        Ok(Predicate {
            capture: *capture,
            check,
            negated,
        })
    }

    /// Whether the match satisfies the predicate.
    pub fn holds(&self, m: &QueryMatch<'_, '_>, cx: &mut Facts<'_>) -> bool {
        m.nodes_for_capture_index(self.capture)
            .all(|node| self.check(node, cx) != self.negated)
    }

    fn check(&self, node: Node, cx: &mut Facts<'_>) -> bool {
        match &self.check {
            Check::HasKwarg(name) => kwarg(node, name, cx.text).is_some(),
            Check::KwargEq(name, want) => kwarg(node, name, cx.text).is_some_and(|v| {
                let text = cx.text(v);
                text == want || unquote(v, cx.text).as_deref() == Some(want)
            }),
            Check::IsOp => cx.ops().contains(&(node.start_byte(), node.end_byte())),
            Check::InsideWith(re) => {
                let mut at = node.parent();
                while let Some(n) = at {
                    if n.kind() == "with_statement" {
                        let mut c = n.walk();
                        let clause = n
                            .named_children(&mut c)
                            .find(|ch| ch.kind() == "with_clause");
                        if clause.is_some_and(|cl| re.is_match(cx.text(cl))) {
                            return true;
                        }
                    }
                    at = n.parent();
                }
                false
            }
            Check::NewTable => {
                let value = if node.kind() == "keyword_argument" {
                    node.child_by_field_name("value")
                } else {
                    Some(node)
                };
                value
                    .and_then(|v| unquote(v, cx.text))
                    .is_some_and(|t| cx.new_tables().contains(&t))
            }
        }
    }
}

/// What predicates need to know about the file, computed on first use.
pub struct Facts<'a> {
    pub text: &'a str,
    migration: &'a Migration,
    ops: Option<HashSet<(usize, usize)>>,
    new_tables: Option<HashSet<String>>,
}

impl<'a> Facts<'a> {
    pub fn new(text: &'a str, migration: &'a Migration) -> Facts<'a> {
        Facts {
            text,
            migration,
            ops: None,
            new_tables: None,
        }
    }

    fn text(&self, node: Node) -> &'a str {
        self.text.get(node.byte_range()).unwrap_or("")
    }

    fn ops(&mut self) -> &HashSet<(usize, usize)> {
        let m = self.migration;
        self.ops
            .get_or_insert_with(|| m.ops.iter().map(|o| (o.span.start, o.span.end)).collect())
    }

    fn new_tables(&mut self) -> &HashSet<String> {
        let m = self.migration;
        self.new_tables.get_or_insert_with(|| {
            m.ops
                .iter()
                .filter(|o| o.phase == Phase::Upgrade && o.method == "create_table")
                .filter_map(|o| o.kwarg("table_name").or_else(|| o.positional(0)))
                .filter_map(|a| a.value.as_str().map(str::to_string))
                .collect()
        })
    }
}

/// The value of keyword argument `name` of a call (or of an argument list).
fn kwarg<'t>(node: Node<'t>, name: &str, text: &str) -> Option<Node<'t>> {
    let args = match node.kind() {
        "call" => node.child_by_field_name("arguments")?,
        "argument_list" => node,
        _ => return None,
    };
    let mut c = args.walk();
    args.named_children(&mut c)
        .filter(|a| a.kind() == "keyword_argument")
        .find(|a| {
            a.child_by_field_name("name")
                .is_some_and(|n| text.get(n.byte_range()) == Some(name))
        })
        .and_then(|a| a.child_by_field_name("value"))
}

/// The content of a plain string literal (no interpolation), else `None`.
pub fn unquote(node: Node, text: &str) -> Option<String> {
    if node.kind() != "string" {
        return None;
    }
    let mut c = node.walk();
    if node
        .named_children(&mut c)
        .any(|ch| ch.kind() == "interpolation")
    {
        return None;
    }
    let raw = text.get(node.byte_range())?;
    let body = raw.trim_start_matches(|c: char| c.is_ascii_alphabetic());
    for q in ["\"\"\"", "'''", "\"", "'"] {
        if let Some(inner) = body.strip_prefix(q).and_then(|b| b.strip_suffix(q)) {
            return Some(inner.to_string());
        }
    }
    None
}
