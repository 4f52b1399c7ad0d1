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

use std::collections::HashSet;
use std::sync::Arc;

use tree_sitter::{Query, QueryCursor, StreamingIterator, Tree};
use xxhash_rust::xxh3::xxh3_64;

use super::{Context, Registry, Rule, RuleMeta};
use crate::diagnostic::{Finding, Severity};
use crate::migration::{Migration, QueryMatch};
use crate::source::SourceFile;

pub use load::{builtin, load};
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
    /// The query's source text (compiled and checked when a user's rule loaded;
    /// migverify's own are checked by tests and compiled when first run).
    source: String,
    scope: Scope,
    /// The capture the finding points at; `None`: the largest captured node.
    location: Option<String>,
    message: Template,
    help: Option<Template>,
    /// Captures the templates use (their text is kept with each match).
    wanted: Vec<String>,
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
///
/// The rules of one scope are compiled into one query (their sources
/// concatenated), so a file's tree is walked once per scope, not once per rule,
/// and only over the function the scope names.
#[derive(Default)]
pub struct QuerySet {
    rules: Vec<QueryRule>,
    /// Compiled on the first file that needs them: a warm run compiles nothing.
    groups: std::sync::OnceLock<Vec<Group>>,
    fingerprint: u64,
}

/// Where, in a group's query, a rule's captures are.
struct View {
    /// The location capture.
    location: Option<u32>,
    /// The captures the templates use: name and index.
    wanted: Vec<(String, u32)>,
}

/// The rules of one scope, as one query.
struct Group {
    scope: Scope,
    query: Query,
    /// Per pattern of `query`: the rule (index into `QuerySet::rules`) and its
    /// migverify predicates.
    patterns: Vec<(usize, Vec<Predicate>)>,
    /// Per rule of the set: its captures in `query` (`None`: not in this group).
    views: Vec<Option<View>>,
}

impl Group {
    /// One query for the rules `members` (all of scope `scope`); `None` if their
    /// queries do not compile together.
    fn build(scope: Scope, members: &[usize], rules: &[QueryRule]) -> Option<Group> {
        // Each member's query, one after the other; (where it starts, the rule).
        let mut source = String::new();
        let mut starts: Vec<(usize, usize)> = Vec::with_capacity(members.len());
        for &i in members {
            starts.push((source.len(), i));
            source.push_str(&rules[i].0.source);
            source.push('\n');
        }
        let language: tree_sitter::Language = tree_sitter_python::LANGUAGE.into();
        let query = Query::new(&language, &source).ok()?;
        let mut patterns = Vec::with_capacity(query.pattern_count());
        for pattern in 0..query.pattern_count() {
            let at = query.start_byte_for_pattern(pattern);
            let rule = starts.iter().rev().find(|&&(start, _)| start <= at)?.1;
            let predicates = query
                .general_predicates(pattern)
                .iter()
                .map(|p| Predicate::parse(p).ok())
                .collect::<Option<Vec<_>>>()?;
            patterns.push((rule, predicates));
        }
        let index = |name: &str| query.capture_index_for_name(name);
        let views = (0..rules.len())
            .map(|i| {
                members.contains(&i).then(|| {
                    let r = &rules[i].0;
                    View {
                        location: r.location.as_deref().and_then(index),
                        wanted: r
                            .wanted
                            .iter()
                            .filter_map(|w| Some((w.clone(), index(w)?)))
                            .collect(),
                    }
                })
            })
            .collect();
        Some(Group {
            scope,
            query,
            patterns,
            views,
        })
    }
}

impl crate::migration::TreeQueries for QuerySet {
    fn is_empty(&self) -> bool {
        QuerySet::is_empty(self)
    }

    fn run(&self, tree: &Tree, src: &SourceFile, m: &Migration) -> Result<Vec<QueryMatch>, String> {
        QuerySet::run(self, tree, src, m)
    }
}

impl QuerySet {
    /// The enabled query rules among `enabled` (the settings' registry indices
    /// and severities).
    pub fn enabled(registry: &Registry, enabled: &[(usize, Severity)]) -> QuerySet {
        let rules: Vec<QueryRule> = enabled
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
        QuerySet {
            rules,
            groups: std::sync::OnceLock::new(),
            fingerprint,
        }
    }

    /// One query per scope, or one per rule where a scope's rules do not compile
    /// together.
    fn groups(&self) -> &[Group] {
        self.groups.get_or_init(|| {
            let rules = &self.rules;
            let mut scopes: Vec<Scope> = Vec::new();
            for r in rules {
                if !scopes.contains(&r.0.scope) {
                    scopes.push(r.0.scope);
                }
            }
            let mut groups = Vec::new();
            for scope in scopes {
                let members: Vec<usize> = (0..rules.len())
                    .filter(|&i| rules[i].0.scope == scope)
                    .collect();
                match Group::build(scope, &members, rules) {
                    Some(g) => groups.push(g),
                    None => groups.extend(
                        members
                            .iter()
                            .filter_map(|&i| Group::build(scope, &[i], rules)),
                    ),
                }
            }
            groups
        })
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Identifies the set (0 when empty): cached matches are valid for one set.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// Every match of every rule in `tree` (the parse of `src`, extracted as `m`);
    /// an error (the reason) when the queries did more than
    /// [`query_budget`] work on it.
    pub fn run(
        &self,
        tree: &Tree,
        src: &SourceFile,
        m: &Migration,
    ) -> Result<Vec<QueryMatch>, String> {
        // tree-sitter's query cursor keeps a state per open level of the tree: its
        // work grows with the square of the depth (60,000 nested calls: minutes).
        if let Some(depth) = deeper_than(tree, MAX_QUERY_TREE_DEPTH) {
            return Err(format!(
                "nested more than {MAX_QUERY_TREE_DEPTH} levels deep (at line {}): too deep for \
                 the query rules, and deeper than CPython compiles (\"maximum recursion depth \
                 exceeded during compilation\")",
                depth.start_position().row + 1
            ));
        }
        // tree-sitter calls the progress callback after each 1,000 units of work
        // (a step, plus one per pattern state in flight).
        let budget = query_budget(src.text.len()) / 1000;
        let calls = std::cell::Cell::new(0usize);
        let mut progress = |_: &tree_sitter::QueryCursorState| {
            calls.set(calls.get() + 1);
            if calls.get() > budget {
                std::ops::ControlFlow::Break(())
            } else {
                std::ops::ControlFlow::Continue(())
            }
        };
        let mut out = Vec::new();
        let mut seen: HashSet<(usize, usize, usize)> = HashSet::new();
        let mut cursor = QueryCursor::new();
        let mut facts = Facts::new(&src.text, m);
        let range_of = |f: &Option<crate::migration::Function>| {
            let f = f.as_ref()?;
            Some(src.line_span(f.def_line)?.start..src.line_span(f.end_line)?.end)
        };
        for g in self.groups() {
            let range = match g.scope {
                Scope::Upgrade => range_of(&m.upgrade),
                Scope::Downgrade => range_of(&m.downgrade),
                Scope::Module | Scope::Any => Some(0..src.text.len()),
            };
            let Some(range) = range else { continue };
            cursor.set_byte_range(range);
            let options = tree_sitter::QueryCursorOptions::new().progress_callback(&mut progress);
            let mut matches = cursor.matches_with_options(
                &g.query,
                tree.root_node(),
                src.text.as_bytes(),
                options,
            );
            while let Some(qm) = matches.next() {
                let (ri, predicates) = &g.patterns[qm.pattern_index];
                if !predicates.iter().all(|p| p.holds(qm, &mut facts)) {
                    continue;
                }
                let Some(view) = &g.views[*ri] else { continue };
                let at = view
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
                if !g.scope.contains(m, at.start_position().row + 1)
                    || !seen.insert((*ri, at.start_byte(), at.end_byte()))
                {
                    continue;
                }
                let captures = view
                    .wanted
                    .iter()
                    .map(|(name, c)| {
                        let text = qm
                            .nodes_for_capture_index(*c)
                            .next()
                            .map(|n| capture_text(n, &src.text))
                            .unwrap_or_default();
                        (name.clone(), text)
                    })
                    .collect();
                out.push(QueryMatch {
                    rule: self.rules[*ri].0.meta.code.to_string(),
                    span: src.span(at.start_byte(), at.end_byte()),
                    captures,
                });
            }
            if calls.get() > budget {
                return Err(format!(
                    "too complex for the query rules: they stopped after {} million steps \
                     on this {} file (expressions nested thousands deep, which CPython \
                     also refuses to compile)",
                    budget / 1000,
                    crate::bounded::describe_size(src.text.len() as u64)
                ));
            }
        }
        Ok(out)
    }
}

/// The deepest syntax tree the query rules run on. CPython 3.11 to 3.13 refuse to
/// compile expressions nested about 3,000 levels deep (each level is one to three
/// tree-sitter nodes), so no module Alembic can import comes near it.
const MAX_QUERY_TREE_DEPTH: usize = 10_000;

/// The first node deeper than `max` levels, if any (an iterative walk).
fn deeper_than(tree: &Tree, max: usize) -> Option<tree_sitter::Node<'_>> {
    let mut walk = crate::migration::Preorder::new(tree.root_node());
    while walk.next(true) {
        if walk.depth() > max {
            return Some(walk.node());
        }
    }
    None
}

/// The work the query rules may do on one file, in tree-sitter's units: 1,000 per
/// byte and 10 million more. Real files need a few per byte; 60,000 nested calls
/// need tens of thousands per byte (the cursor tracks a state per open level).
fn query_budget(len: usize) -> usize {
    len.saturating_mul(1000).saturating_add(10_000_000)
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
                models: None,
                ignore_tables: &[],
                drift: Default::default(),
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
