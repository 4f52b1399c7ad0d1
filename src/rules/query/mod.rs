//! Declarative rules: a tree-sitter query over a migration's Python syntax tree,
//! plus metadata (code, name, severity, scope, message template, docs).
//!
//! migverify's own (the MV3xx operation-safety pack) are files in the top-level
//! `rules/` directory, embedded at build time; a team's are `[[rules.custom]]`
//! tables of its config or files in the directories `[rules] dirs` names. Both go
//! through [`load::load`], which compiles each query once against
//! tree-sitter-python and reports mistakes as miette errors pointing into the TOML
//! or `.scm` file. `docs/writing-rules.md` is the user's guide.
//!
//! Running: the engine collects the enabled query rules into a [`QuerySet`] and
//! hands it to the extractor, which runs each query on the file's tree while it
//! has it and keeps the matches ([`QueryMatch`]) in the [`Migration`]. The cache
//! stores them with the rest of the extraction, keyed by the set's
//! [`QuerySet::fingerprint`], so a warm run parses nothing; with no query rule
//! enabled the fingerprint is 0 and nothing changes. A [`QueryRule`]'s `check`
//! then turns its matches into findings like any other rule.

pub mod load;
mod predicate;
pub mod spec;
mod template;

use std::sync::Arc;

use tree_sitter::{Query, QueryCursor, StreamingIterator, Tree};
use xxhash_rust::xxh3::xxh3_64;

use super::{Context, Registry, Rule, RuleMeta};
use crate::config::Settings;
use crate::diagnostic::Finding;
use crate::migration::{Migration, QueryMatch};
use crate::source::SourceFile;

pub use load::{builtin, extend, for_directory, load};
pub use predicate::PREDICATES;
use predicate::{Facts, Predicate};
use template::Template;

/// Where in a migration a query rule looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Inside `def upgrade()`.
    Upgrade,
    /// Inside `def downgrade()`.
    Downgrade,
    /// Outside both: module-level statements and helper functions.
    Module,
    /// Anywhere in the file.
    Any,
}

impl Scope {
    pub const CHOICES: &'static [&'static str] = &["upgrade", "downgrade", "module", "any"];

    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "upgrade" => Some(Scope::Upgrade),
            "downgrade" => Some(Scope::Downgrade),
            "module" => Some(Scope::Module),
            "any" => Some(Scope::Any),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Upgrade => "upgrade",
            Scope::Downgrade => "downgrade",
            Scope::Module => "module",
            Scope::Any => "any",
        }
    }

    /// Whether a node starting on 1-based `line` is in scope.
    fn contains(self, m: &Migration, line: usize) -> bool {
        let within = |f: &Option<crate::migration::Function>| {
            f.as_ref()
                .is_some_and(|f| f.def_line <= line && line <= f.end_line)
        };
        match self {
            Scope::Upgrade => within(&m.upgrade),
            Scope::Downgrade => within(&m.downgrade),
            Scope::Module => !within(&m.upgrade) && !within(&m.downgrade),
            Scope::Any => true,
        }
    }
}

/// A compiled query rule. Cheap to clone.
#[derive(Clone)]
pub struct QueryRule(Arc<Inner>);

struct Inner {
    meta: RuleMeta,
    query: Query,
    /// The query's source text.
    source: String,
    scope: Scope,
    /// migverify's predicates, per pattern.
    predicates: Vec<Vec<Predicate>>,
    /// The capture the finding points at; `None`: the largest captured node.
    location: Option<u32>,
    message: Template,
    help: Option<Template>,
    /// Capture indices the templates use (their text is kept with each match).
    wanted: Vec<u32>,
}

impl std::fmt::Debug for QueryRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryRule")
            .field("code", &self.0.meta.code)
            .field("scope", &self.0.scope)
            .finish_non_exhaustive()
    }
}

impl QueryRule {
    pub fn scope(&self) -> Scope {
        self.0.scope
    }

    /// The query as written.
    pub fn query_source(&self) -> &str {
        &self.0.source
    }

    /// What identifies the rule's matches: a change here invalidates cached ones.
    fn fingerprint(&self, h: &mut Vec<u8>) {
        let i = &self.0;
        for part in [
            i.meta.code.as_ref(),
            i.source.as_str(),
            i.scope.as_str(),
            &format!("{:?}|{:?}", i.location, i.wanted),
        ] {
            h.extend_from_slice(part.as_bytes());
            h.push(0);
        }
    }

    /// Runs the query over a parsed file and appends its matches.
    fn run(
        &self,
        cursor: &mut QueryCursor,
        tree: &Tree,
        src: &SourceFile,
        facts: &mut Facts<'_>,
        out: &mut Vec<QueryMatch>,
    ) {
        let i = &self.0;
        let text = src.text.as_bytes();
        let first = out.len();
        let mut matches = cursor.matches(&i.query, tree.root_node(), text);
        while let Some(qm) = matches.next() {
            if !i.predicates[qm.pattern_index]
                .iter()
                .all(|p| p.holds(qm, facts))
            {
                continue;
            }
            let at = i
                .location
                .and_then(|c| qm.nodes_for_capture_index(c).next())
                .or_else(|| {
                    qm.captures().iter().map(|c| c.node).max_by_key(|n| {
                        (
                            n.end_byte() - n.start_byte(),
                            std::cmp::Reverse(n.start_byte()),
                        )
                    })
                });
            let Some(at) = at else { continue };
            if !i
                .scope
                .contains(facts.migration(), at.start_position().row + 1)
            {
                continue;
            }
            let span = src.span(at.start_byte(), at.end_byte());
            if out[first..]
                .iter()
                .any(|m| m.span.start == span.start && m.span.end == span.end)
            {
                continue;
            }
            let captures = i
                .wanted
                .iter()
                .map(|&c| {
                    let text = qm
                        .nodes_for_capture_index(c)
                        .next()
                        .map(|n| capture_text(n, &src.text))
                        .unwrap_or_default();
                    (i.query.capture_names()[c as usize].to_string(), text)
                })
                .collect();
            out.push(QueryMatch {
                rule: i.meta.code.to_string(),
                span,
                captures,
            });
        }
    }
}

/// A captured node as a message shows it: a string literal's content, anything
/// else as written, whitespace runs collapsed, long text cut.
fn capture_text(node: tree_sitter::Node, text: &str) -> String {
    let raw = predicate::unquote(node, text)
        .unwrap_or_else(|| text.get(node.byte_range()).unwrap_or("").to_string());
    let mut out = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if out.chars().count() > 120 {
        out = out.chars().take(119).collect::<String>() + "…";
    }
    out
}

impl Rule for QueryRule {
    fn meta(&self) -> &RuleMeta {
        &self.0.meta
    }

    fn check(&self, ctx: &Context<'_>, out: &mut Vec<Finding>) {
        let code = self.0.meta.code.as_ref();
        for m in ctx.migrations {
            for qm in m.query_matches.iter().filter(|q| q.rule == code) {
                let mut f =
                    Finding::new(&m.path, Some(qm.span), self.0.message.render(&qm.captures));
                if let Some(help) = &self.0.help {
                    f = f.with_help(help.render(&qm.captures));
                }
                out.push(f);
            }
        }
    }

    fn query(&self) -> Option<&QueryRule> {
        Some(self)
    }
}

/// The query rules a run has enabled, run by the extractor on each parsed file.
#[derive(Default)]
pub struct QuerySet {
    rules: Vec<QueryRule>,
    fingerprint: u64,
}

impl QuerySet {
    /// The enabled query rules of `settings`.
    pub fn enabled(registry: &Registry, settings: &Settings) -> QuerySet {
        let rules: Vec<QueryRule> = settings
            .enabled
            .iter()
            .filter_map(|&(i, _)| registry.get(i).query().cloned())
            .collect();
        QuerySet::new(rules)
    }

    pub fn new(rules: Vec<QueryRule>) -> QuerySet {
        let fingerprint = if rules.is_empty() {
            0
        } else {
            let mut h = Vec::new();
            for r in &rules {
                r.fingerprint(&mut h);
            }
            xxh3_64(&h).max(1)
        };
        QuerySet { rules, fingerprint }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Identifies the set (0 when empty): cached matches are valid for one set.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// Every match of every rule in `tree` (the parse of `src`, extracted as `m`).
    pub fn run(&self, tree: &Tree, src: &SourceFile, m: &Migration) -> Vec<QueryMatch> {
        let mut out = Vec::new();
        let mut cursor = QueryCursor::new();
        let mut facts = Facts::new(&src.text, m);
        for r in &self.rules {
            r.run(&mut cursor, tree, src, &mut facts, &mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::Arc;

    use super::load::{RuleDef, SourceText, load};
    use super::*;
    use crate::rules::RuleSource;

    /// A user rule from its TOML.
    fn rule(toml_text: &str) -> QueryRule {
        let def = RuleDef {
            file: Arc::new(SourceText {
                name: "t.toml".into(),
                text: toml_text.into(),
            }),
            spec: toml::from_str(toml_text).unwrap(),
            scm: None,
            source: RuleSource::User {
                file: "t.toml".into(),
                url: None,
            },
        };
        load(vec![def], &[]).unwrap().remove(0)
    }

    /// `(line, message)` of the rule's findings in `src`.
    fn run(r: &QueryRule, src: &str) -> Vec<(usize, String)> {
        let set = QuerySet::new(vec![r.clone()]);
        let m = crate::migration::parse_source_with(
            PathBuf::from("m.py"),
            src.as_bytes().to_vec(),
            Some(&set),
        );
        let ms = vec![m];
        let graph = crate::graph::RevisionGraph::build(&ms);
        let mut out = Vec::new();
        r.check(
            &Context {
                migrations: &ms,
                graph: &graph,
                snapshot: None,
                database_origin: None,
            },
            &mut out,
        );
        out.into_iter()
            .map(|f| (f.location.span.unwrap().start_line, f.message))
            .collect()
    }

    const SRC: &str = "revision = 'a1'\ndown_revision = None\nop.execute('module')\n\ndef helper():\n    op.execute('helper')\n\ndef upgrade():\n    op.execute('up')\n    conn.execute('not an op')\n    with op.batch_alter_table('t', recreate='always') as b:\n        b.execute('batch')\n\ndef downgrade():\n    op.execute('down')\n";

    fn scoped(scope: &str) -> QueryRule {
        rule(&format!(
            "code = \"T1\"\nname = \"x\"\nscope = \"{scope}\"\nmessage = \"runs {{sql}}\"\nquery = '''((call function: (attribute attribute: (identifier) @_m) arguments: (argument_list . (string) @sql)) @call (#eq? @_m \"execute\") (#is-op? @call))'''\n"
        ))
    }

    #[test]
    fn scopes_and_is_op() {
        let lines = |scope| {
            run(&scoped(scope), SRC)
                .into_iter()
                .map(|(l, _)| l)
                .collect::<Vec<_>>()
        };
        assert_eq!(lines("upgrade"), [9, 12]);
        assert_eq!(lines("downgrade"), [15]);
        assert_eq!(lines("module"), [3, 6]);
        assert_eq!(lines("any"), [3, 6, 9, 12, 15]);
        // String captures render as their content.
        assert_eq!(run(&scoped("downgrade"), SRC)[0].1, "runs down");
    }

    #[test]
    fn keyword_predicates() {
        let r = |pred: &str| {
            rule(&format!(
                "code = \"T1\"\nname = \"x\"\nmessage = \"m\"\nquery = '''((call) @call {pred})'''\n"
            ))
        };
        let src = "revision = 'a1'\ndown_revision = None\nf(a, recreate='always', flag=True, n=None)\ng(recreate=\"auto\")\nh()\n";
        let lines = |pred: &str| {
            run(&r(pred), src)
                .into_iter()
                .map(|(l, _)| l)
                .collect::<Vec<_>>()
        };
        assert_eq!(lines("(#has-kwarg? @call \"recreate\")"), [3, 4]);
        assert_eq!(lines("(#not-has-kwarg? @call \"recreate\")"), [5]);
        assert_eq!(lines("(#kwarg-eq? @call \"recreate\" \"always\")"), [3]);
        assert_eq!(lines("(#kwarg-eq? @call \"flag\" \"True\")"), [3]);
        assert_eq!(lines("(#kwarg-eq? @call \"n\" \"None\")"), [3]);
        assert_eq!(
            lines("(#not-kwarg-eq? @call \"recreate\" \"always\")"),
            [4, 5]
        );
    }

    #[test]
    fn with_and_new_table_predicates() {
        let src = "revision = 'a1'\ndown_revision = None\ndef upgrade():\n    op.create_table('users')\n    op.create_index('ix_a', 'users', ['a'])\n    op.create_index('ix_b', 'orders', ['b'])\n    with op.get_context().autocommit_block():\n        if x:\n            op.create_index('ix_c', 'orders', ['c'])\n";
        let r = |pred: &str| {
            rule(&format!(
                "code = \"T1\"\nname = \"x\"\nmessage = \"m\"\nquery = '''((call function: (attribute attribute: (identifier) @_m) arguments: (argument_list . (_) . (_) @table)) @call (#eq? @_m \"create_index\") {pred})'''\n"
            ))
        };
        let lines = |pred: &str| {
            run(&r(pred), src)
                .into_iter()
                .map(|(l, _)| l)
                .collect::<Vec<_>>()
        };
        assert_eq!(lines("(#new-table? @table)"), [5]);
        assert_eq!(lines("(#not-new-table? @table)"), [6, 9]);
        assert_eq!(lines("(#inside-with? @call \"autocommit_block\")"), [9]);
        assert_eq!(lines("(#not-inside-with? @call \"autocommit\")"), [5, 6]);
    }

    #[test]
    fn location_capture_and_dedup() {
        // Two patterns matching the same call report it once; `location` moves the span.
        let r = rule(
            "code = \"T1\"\nname = \"x\"\nmessage = \"m\"\nlocation = \"name\"\nquery = '''\n((call function: (identifier) @name) @call)\n((call function: (identifier) @name) @call (#eq? @name \"f\"))\n'''\n",
        );
        let set = QuerySet::new(vec![r]);
        let m = crate::migration::parse_source_with(
            PathBuf::from("m.py"),
            b"revision = 'a1'\ndown_revision = None\nf(a)\n".to_vec(),
            Some(&set),
        );
        assert_eq!(m.query_matches.len(), 1);
        let span = m.query_matches[0].span;
        assert_eq!(
            (span.start_line, span.start_column, span.end_column),
            (3, 1, 2)
        );
        assert_ne!(set.fingerprint(), 0);
        assert_eq!(QuerySet::default().fingerprint(), 0);
    }
}
