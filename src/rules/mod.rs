//! The rule registry: every rule migverify knows, in one table.
//!
//! A native rule is one file in this folder: a unit struct implementing [`Rule`],
//! its [`RuleMeta`] (code, name, default severity, inputs, documentation) and its
//! unit tests. `migverify rules`, `migverify explain`, `docs/rules/` and SARIF's
//! `rules[]` all read this registry.

use std::borrow::Cow;
use std::sync::Arc;

use crate::db::Snapshot;
use crate::diagnostic::{Finding, Location, Severity};
use crate::graph::RevisionGraph;
use crate::migration::Migration;

/// The "## Fix" section MV002 and MV003 share (both are fixed by generating the
/// downgrade), for `concat!` in their docs.
macro_rules! generated_downgrade_doc {
    () => {
        r#"## Fix
`migverify check --fix` writes the downgrade: the inverse of `upgrade()`'s operations
in reverse order, as `alembic revision --autogenerate` writes them, with what the
upgrade does not carry (a dropped table's columns, a column's previous type) read
from the history. When an operation cannot be reversed statically (`op.execute`, a
name that is not a literal), there is no fix and the help says which one. See
[fixes](../fixes.md).
"#
    };
}

mod mv001_duplicate_revision;
mod mv002_missing_downgrade;
mod mv003_empty_downgrade;
mod mv004_missing_upgrade;
mod mv005_empty_upgrade;
mod mv006_multiple_heads;
mod mv007_unknown_down_revision;
mod mv008_revision_cycle;
mod mv009_invalid_migration;
mod mv010_multiple_bases;
mod mv011_irreversible_downgrade;
pub mod mv012_unused_suppression;
mod mv013_duplicate_branch_label;
mod mv014_unresolved_value;
mod mv101_behind_head;
mod mv102_unknown_db_revision;
mod mv103_missing_version_table;
mod mv104_overlapping_db_revisions;
mod mv201_model_db_drift;
mod mv202_migration_db_drift;
mod mv203_model_migration_drift;
mod mv204_upgrade_conflict;
mod mv205_downgrade_mismatch;

mod drift;

pub mod query;

#[cfg(test)]
pub(crate) mod testing;

/// What a rule needs to run. A rule whose inputs are absent is skipped (and
/// `--verbose` says so).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Input {
    /// Migration files and the revision graph (always present).
    Migrations,
    /// A database connection or snapshot.
    Database,
    /// SQLAlchemy model files.
    Models,
}

impl Input {
    pub fn describe(self) -> &'static str {
        match self {
            Input::Migrations => "migrations",
            Input::Database => "no database",
            Input::Models => "no models configured",
        }
    }
}

/// Where a rule comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleSource {
    Builtin,
    /// A project's own query rule: the file defining it (relative to the project
    /// root) and the documentation link it gave.
    User {
        file: String,
        url: Option<String>,
    },
}

impl RuleSource {
    pub fn describe(&self) -> String {
        match self {
            RuleSource::Builtin => "builtin".to_string(),
            RuleSource::User { file, .. } => file.clone(),
        }
    }
}

/// A rule's identity and documentation.
#[derive(Clone, Debug)]
pub struct RuleMeta {
    /// Stable code, `MV001`.
    pub code: Cow<'static, str>,
    /// kebab-case name, `duplicate-revision`.
    pub name: Cow<'static, str>,
    /// The severity it reports with unless configured otherwise.
    pub severity: Severity,
    /// Whether the `recommended` preset (the default) enables it.
    pub enabled_by_default: bool,
    pub inputs: &'static [Input],
    /// One sentence: what it finds.
    pub summary: Cow<'static, str>,
    /// Markdown documentation: What it does / Why is this bad? / Example / Use instead.
    pub doc: Cow<'static, str>,
    pub source: RuleSource,
}

/// Where a migverify rule's documentation lives on the web (SARIF `helpUri`,
/// miette links, the language server's code descriptions).
pub fn help_uri(code: &str) -> String {
    format!("https://github.com/migverify/migverify/blob/main/docs/rules/{code}.md")
}

impl RuleMeta {
    /// Where the rule's documentation lives on the web: migverify's page for its
    /// own rules, the `url` a project's rule gave (if any).
    pub fn help_uri(&self) -> Option<String> {
        match &self.source {
            RuleSource::Builtin => Some(help_uri(&self.code)),
            RuleSource::User { url, .. } => url.clone(),
        }
    }

    /// The default level as the catalog writes it (`off` for rules not enabled by default).
    pub fn default_level(&self) -> &'static str {
        if self.enabled_by_default {
            self.severity.as_str()
        } else {
            "off"
        }
    }
}

/// What a rule sees: data, never a connection or a file system.
pub struct Context<'a> {
    pub migrations: &'a [Migration],
    pub graph: &'a RevisionGraph,
    /// The database as captured (live or from a snapshot file); `None` without one.
    /// Rules needing [`Input::Database`] only run when it is `Some`.
    pub snapshot: Option<&'a Snapshot>,
    /// Where the database is named (the `url` value in the config file, the
    /// `sqlalchemy.url` line of `alembic.ini`); `None` when a flag or the environment
    /// named it. Database findings about no particular migration are located here.
    pub database_origin: Option<&'a Location>,
    /// The SQLAlchemy models, when `[models] paths` (or `--models`) names some.
    /// Rules needing [`Input::Models`] only run when it is `Some`.
    pub models: Option<&'a crate::models::Models>,
    /// Tables the drift rules leave out (`[models] ignore_tables`).
    pub ignore_tables: &'a [String],
    /// How the drift rules compare objects (`[drift]`, the project's dialect).
    pub drift: crate::schema::objects::DriftOptions,
}

impl Context<'_> {
    /// Where a database finding about no particular migration goes: the place that
    /// names the database, else the (first) head migration, else the first file.
    pub fn database_location(&self) -> Location {
        if let Some(origin) = self.database_origin {
            return origin.clone();
        }
        let m = self
            .graph
            .heads
            .first()
            .map(|&h| &self.migrations[self.graph.nodes[h].migration])
            .or_else(|| self.migrations.first());
        match m {
            Some(m) => Location {
                path: m.path.clone(),
                span: m.anchor(),
            },
            None => Location {
                path: std::path::PathBuf::new(),
                span: None,
            },
        }
    }

    /// The graph nodes of migrations not yet applied to the database, in apply order:
    /// every node that is not an ancestor-or-self (through `down_revision` and
    /// `depends_on`) of a revision in the version table. `None` without a snapshot,
    /// without a version table, or when the table holds a revision no file declares.
    pub fn pending(&self) -> Option<Vec<usize>> {
        pending(self.graph, self.snapshot?)
    }
}

/// See [`Context::pending`].
pub fn pending(graph: &RevisionGraph, snapshot: &Snapshot) -> Option<Vec<usize>> {
    let applied = applied(graph, snapshot)?;
    Some(
        graph
            .topological_order()
            .into_iter()
            .filter(|&n| !applied[n])
            .collect(),
    )
}

/// Per graph node, whether the database has it applied: the revisions in the version
/// table and their ancestors (through `down_revision` and `depends_on`). `None`
/// without a version table, or when it holds a revision no file declares.
pub fn applied(graph: &RevisionGraph, snapshot: &Snapshot) -> Option<Vec<bool>> {
    if !snapshot.has_version_table() {
        return None;
    }
    let mut applied = vec![false; graph.nodes.len()];
    let mut stack = Vec::new();
    for rev in snapshot.version_revisions() {
        let n = graph.node(rev)?;
        if !applied[n] {
            applied[n] = true;
            stack.push(n);
        }
    }
    while let Some(n) = stack.pop() {
        let node = &graph.nodes[n];
        for &p in node.parents.iter().chain(&node.dependencies) {
            if !applied[p] {
                applied[p] = true;
                stack.push(p);
            }
        }
    }
    Some(applied)
}

/// A lint rule. `check` pushes its findings; the engine adds code, name and
/// severity, applies suppressions and sorts.
pub trait Rule: Send + Sync {
    fn meta(&self) -> &RuleMeta;
    fn check(&self, ctx: &Context<'_>, out: &mut Vec<Finding>);

    /// A declarative rule's query, which the extractor runs on each file's tree.
    fn query(&self) -> Option<&query::QueryRule> {
        None
    }

    /// Whether the rule reads [`Migration::ops`] (the argument trees of every
    /// `op.*` call, most of the cached model). When no rule that runs does, the
    /// engine neither decodes them from the cache nor keeps them in memory, and
    /// `ops` is empty. Override with `false` only for rules that never look at it.
    fn reads_ops(&self) -> bool {
        true
    }

    /// What the rule's fix does, when it has one (`migverify rules`, `explain`,
    /// `check --fix`): its findings may then carry a [`crate::fix::Fix`].
    fn fix_title(&self) -> Option<&'static str> {
        None
    }

    /// Attaches fixes to this rule's findings: sets [`Finding::fix`], or says in
    /// the help why there is none. The engine calls it only for a rule with a
    /// [`Rule::fix_title`] that found something, with [`Migration::ops`] loaded
    /// (so a clean run never pays for them).
    fn attach_fixes(&self, _ctx: &Context<'_>, _findings: &mut [Finding]) {}

    /// [`Rule::check`], also saying in `notes` what the rule could not check and
    /// why (a file it skips), each located at what it concerns. The engine calls
    /// it instead of `check` only under `--verbose`, and lists the notes.
    fn check_with_notes(
        &self,
        ctx: &Context<'_>,
        out: &mut Vec<Finding>,
        _notes: &mut Vec<Finding>,
    ) {
        self.check(ctx, out);
    }
}

/// Every rule, built-in first, in code order, then the project's own.
#[derive(Clone)]
pub struct Registry {
    rules: Vec<Arc<dyn Rule>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.rules.iter().map(|r| r.meta().code.as_ref()))
            .finish()
    }
}

impl Registry {
    pub fn builtin() -> Registry {
        let rules: Vec<Box<dyn Rule>> = vec![
            Box::new(mv001_duplicate_revision::DuplicateRevision),
            Box::new(mv002_missing_downgrade::MissingDowngrade),
            Box::new(mv003_empty_downgrade::EmptyDowngrade),
            Box::new(mv004_missing_upgrade::MissingUpgrade),
            Box::new(mv005_empty_upgrade::EmptyUpgrade),
            Box::new(mv006_multiple_heads::MultipleHeads),
            Box::new(mv007_unknown_down_revision::UnknownDownRevision),
            Box::new(mv008_revision_cycle::RevisionCycle),
            Box::new(mv009_invalid_migration::InvalidMigration),
            Box::new(mv010_multiple_bases::MultipleBases),
            Box::new(mv011_irreversible_downgrade::IrreversibleDowngrade),
            Box::new(mv012_unused_suppression::UnusedSuppression),
            Box::new(mv013_duplicate_branch_label::DuplicateBranchLabel),
            Box::new(mv014_unresolved_value::UnresolvedValue),
            Box::new(mv101_behind_head::BehindHead),
            Box::new(mv102_unknown_db_revision::UnknownDbRevision),
            Box::new(mv103_missing_version_table::MissingVersionTable),
            Box::new(mv104_overlapping_db_revisions::OverlappingDbRevisions),
            Box::new(mv201_model_db_drift::ModelDbDrift),
            Box::new(mv202_migration_db_drift::MigrationDbDrift),
            Box::new(mv203_model_migration_drift::ModelMigrationDrift),
            Box::new(mv204_upgrade_conflict::UpgradeConflict),
            Box::new(mv205_downgrade_mismatch::DowngradeMismatch),
        ];
        let mut rules: Vec<Arc<dyn Rule>> = rules.into_iter().map(Arc::from).collect();
        // The declarative ones (MV3xx), from `rules/`.
        rules.extend(
            query::builtin()
                .iter()
                .map(|r| Arc::new(r.clone()) as Arc<dyn Rule>),
        );
        Registry { rules }
    }

    /// This registry with `extra` rules after its own.
    pub fn with(&self, extra: Vec<Arc<dyn Rule>>) -> Registry {
        let mut rules = self.rules.clone();
        rules.extend(extra);
        Registry { rules }
    }

    pub fn rules(&self) -> &[Arc<dyn Rule>] {
        &self.rules
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn get(&self, index: usize) -> &dyn Rule {
        self.rules[index].as_ref()
    }

    /// The rule with this code or name (codes case-insensitively).
    pub fn find(&self, code_or_name: &str) -> Option<usize> {
        self.rules.iter().position(|r| {
            let m = r.meta();
            m.code.eq_ignore_ascii_case(code_or_name) || m.name == code_or_name
        })
    }

    /// The rules a selector names: `ALL`, a code, a code prefix (`MV0`, `MV00`), or a
    /// name. Empty when it names none.
    pub fn select(&self, selector: &str) -> Vec<usize> {
        if selector.eq_ignore_ascii_case("ALL") {
            return (0..self.rules.len()).collect();
        }
        if let Some(i) = self.find(selector) {
            return vec![i];
        }
        let upper = selector.to_ascii_uppercase();
        if upper.len() < 2 {
            return Vec::new();
        }
        self.rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.meta().code.starts_with(upper.as_str()))
            .map(|(i, _)| i)
            .collect()
    }

    /// The closest code or name to a misspelled selector, for "did you mean".
    pub fn suggest(&self, selector: &str) -> Option<String> {
        let mut best: Option<(f64, String)> = None;
        for r in &self.rules {
            for candidate in [r.meta().code.as_ref(), r.meta().name.as_ref()] {
                let score = strsim::jaro_winkler(
                    &selector.to_ascii_lowercase(),
                    &candidate.to_ascii_lowercase(),
                );
                if score > 0.8 && best.as_ref().is_none_or(|(s, _)| score > *s) {
                    best = Some((score, candidate.to_string()));
                }
            }
        }
        best.map(|(_, c)| c)
    }
}

/// A rule's documentation page (`migverify explain`, `docs/rules/<code>.md`).
pub fn render_doc(meta: &RuleMeta) -> String {
    let inputs: Vec<&str> = meta
        .inputs
        .iter()
        .map(|i| match i {
            Input::Migrations => "migration files",
            Input::Database => "a database or snapshot",
            Input::Models => "SQLAlchemy models",
        })
        .collect();
    format!(
        "# {code} {name}\n\n{summary}.\n\n- Default severity: {default}{when}\n- Needs: {inputs}\n- Source: {source}\n\n{doc}",
        code = meta.code,
        name = meta.name,
        summary = meta.summary,
        default = meta.default_level(),
        when = if meta.enabled_by_default {
            String::new()
        } else {
            format!(" (reports as {} when selected)", meta.severity)
        },
        inputs = inputs.join(", "),
        source = meta.source.describe(),
        doc = meta.doc,
    )
}

/// [`render_doc`] with the rule's fix, when it has one, among the facts at the top.
pub fn render_rule_doc(rule: &dyn Rule) -> String {
    let doc = render_doc(rule.meta());
    match rule.fix_title() {
        Some(title) => {
            let at = doc.find("\n- Source: ").map_or(0, |i| i + 1);
            let line =
                format!("- Fix: {title} (`migverify check --fix`; see [fixes](../fixes.md))\n");
            let mut out = doc;
            out.insert_str(at, &line);
            out
        }
        None => doc,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_are_unique_and_well_formed() {
        let reg = Registry::builtin();
        let mut seen = std::collections::HashSet::new();
        for r in reg.rules() {
            let m = r.meta();
            assert!(seen.insert(m.code.to_string()), "duplicate code {}", m.code);
            assert!(seen.insert(m.name.to_string()), "duplicate name {}", m.name);
            assert!(
                m.code.starts_with("MV") && m.code.len() == 5,
                "bad code {}",
                m.code
            );
            assert!(
                m.name.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "name not kebab-case: {}",
                m.name
            );
            for section in ["## What it does", "## Why is this bad?", "## Example"] {
                assert!(m.doc.contains(section), "{} docs lack {section}", m.code);
            }
        }
    }

    #[test]
    fn selectors() {
        let reg = Registry::builtin();
        assert_eq!(reg.select("ALL").len(), reg.len());
        assert_eq!(
            reg.select("MV003"),
            vec![reg.find("empty-downgrade").unwrap()]
        );
        assert_eq!(reg.select("mv00").len(), 9);
        assert!(reg.select("MV9").is_empty());
        assert_eq!(
            reg.suggest("empty-downgrad").as_deref(),
            Some("empty-downgrade")
        );
    }
}
