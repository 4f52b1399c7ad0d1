//! The migration model: what migverify knows about one Alembic migration file,
//! extracted statically from a tree-sitter-python parse (see [`extract`]).

mod extract;
pub mod resolve;
mod tokenize;
mod value;
pub mod walk;

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::diagnostic::Span;
use crate::source::SourceFile;
use crate::suppression::Suppressions;

pub(crate) use extract::{field, kind, read_value, string_literal};
pub use extract::{
    parse_file, parse_source, parse_source_for, parse_source_with, parse_source_without_ops,
    unreadable, use_mimalloc_for_parsing,
};
pub use extract::{parse_python, parse_python_checked};
pub use value::Value;
pub use walk::Preorder;

/// A value with the span of the source text it came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

/// A module-level `down_revision`, `branch_labels` or `depends_on` assignment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevisionList {
    /// The span of the whole assignment statement (`down_revision = ...`).
    pub statement: Span,
    /// The span of the assigned value.
    pub value_span: Span,
    /// The strings it names; empty for `None`, `()` and `[]`.
    pub items: Vec<Spanned<String>>,
}

/// Which identifier assignment a value belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IdField {
    Revision,
    DownRevision,
    BranchLabels,
    DependsOn,
}

impl IdField {
    /// The variable's name in a migration file.
    pub fn name(self) -> &'static str {
        match self {
            IdField::Revision => "revision",
            IdField::DownRevision => "down_revision",
            IdField::BranchLabels => "branch_labels",
            IdField::DependsOn => "depends_on",
        }
    }
}

/// A module-level expression, as far as resolving identifiers statically needs
/// it ([`resolve`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Expr {
    Str(String),
    None,
    /// A name or a dotted name: `BRANCH`, `cli.EXPAND_BRANCH`.
    Name(String),
    /// A tuple or list.
    Seq(Vec<Spanned<Expr>>),
    /// `a + b + ...` (strings).
    Concat(Vec<Expr>),
    /// Anything else (a call, an f-string, a subscript): its source text,
    /// shortened.
    Other(String),
}

/// An identifier assignment whose value is not a literal (`branch_labels =
/// (cli.EXPAND_BRANCH,)`): kept as an expression and resolved after loading
/// ([`resolve`]), never in the cache, so a changed helper module is always seen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Computed {
    pub field: IdField,
    /// The span of the whole assignment statement.
    pub statement: Span,
    pub value: Spanned<Expr>,
}

/// What a module-level name is bound to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Bound {
    /// `NAME = <expr>`.
    Value(Expr),
    /// `import a.b.c as m` binds `m` to `a.b.c`; `import a.b.c` binds `a` to `a`.
    Module(String),
    /// `from <level dots><module> import name [as bound]`.
    From {
        level: usize,
        module: String,
        name: String,
    },
}

/// One module-level binding, at the byte offset of its statement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    pub name: String,
    pub at: usize,
    pub bound: Bound,
}

/// The module-level names of a Python file: assignments and imports, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleScope {
    pub bindings: Vec<Binding>,
    /// `from <level dots><module> import *`: `(level, module, at)`.
    pub stars: Vec<(usize, String, usize)>,
}

/// A computed identifier value that could not be resolved (reported by MV014).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unresolved {
    pub field: IdField,
    /// The expression that could not be resolved.
    pub span: Span,
    pub expr: String,
    /// Why, and where it was looked for.
    pub reason: String,
}

/// What a function body does, as far as a static reading can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BodyKind {
    /// Only `pass`, `...`, string literals, comments and bare `return`.
    Empty,
    /// Nothing but `raise` statements (and the no-ops above).
    RaisesOnly,
    /// Anything else.
    Effectful,
}

/// A top-level `def upgrade` / `def downgrade`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Function {
    /// The span of the function's name in its `def` line.
    pub name_span: Span,
    /// 1-based line of the `def` keyword (decorators excluded).
    pub def_line: usize,
    /// 1-based last line of the function.
    pub end_line: usize,
    pub body: BodyKind,
    /// The first statement of the body a static replay cannot follow (a condition,
    /// a loop, an assignment, a call that is not an operation): what it is and where.
    /// `None` when the body is only operation calls, `batch_alter_table` blocks,
    /// docstrings, comments and `pass` (what the round-trip rule, MV205, replays).
    #[serde(default)]
    pub unfollowed: Option<Spanned<String>>,
}

/// Which function an operation call stands in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Phase {
    Upgrade,
    Downgrade,
    /// Another function, or module level.
    Other,
}

/// An argument of a call: positional (`keyword == None`) or keyword.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Arg {
    pub keyword: Option<String>,
    pub value: Value,
    pub span: Span,
}

/// A call `op.<method>(...)`, or `<alias>.<method>(...)` inside
/// `with op.batch_alter_table(...) as <alias>:`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpCall {
    pub phase: Phase,
    /// `op`, or the batch alias (`batch_op`).
    pub receiver: String,
    /// The method called: `create_table`, `add_column`, ...
    pub method: String,
    pub args: Vec<Arg>,
    /// The span of the whole call.
    pub span: Span,
    /// For calls on a batch alias: the arguments of its `op.batch_alter_table(...)`.
    pub batch: Option<Arc<Vec<Arg>>>,
}

impl OpCall {
    /// The keyword argument `name`, if given.
    pub fn kwarg(&self, name: &str) -> Option<&Arg> {
        self.args
            .iter()
            .find(|a| a.keyword.as_deref() == Some(name))
    }

    /// The `n`-th positional argument.
    pub fn positional(&self, n: usize) -> Option<&Arg> {
        self.args.iter().filter(|a| a.keyword.is_none()).nth(n)
    }
}

/// A match of an enabled query rule ([`crate::rules::query`]), found while the
/// file's tree was at hand and cached with the migration, so a warm run needs no
/// parse.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryMatch {
    /// The rule's code.
    pub rule: String,
    /// Where the finding points (the rule's location capture).
    pub span: Span,
    /// The captures its message and help name: `(capture, text)`.
    pub captures: Vec<(String, String)>,
}

/// Work run on a file's syntax tree while extraction holds it: the enabled query
/// rules (`rules::query::QuerySet` implements it). The migration model owns this
/// interface so that it never depends on the rules.
pub trait TreeQueries {
    /// Nothing to run: the tree is not handed over.
    fn is_empty(&self) -> bool;
    /// The matches in `tree` (of `m`, extracted from `src`), or why the file cannot
    /// be queried (kept as a [`Problem`]).
    fn run(
        &self,
        tree: &tree_sitter::Tree,
        src: &SourceFile,
        m: &Migration,
    ) -> Result<Vec<QueryMatch>, String>;
}

/// Why a file cannot be read as a migration (reported by MV009).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub message: String,
    pub span: Option<Span>,
}

/// One migration file, as extracted.
///
/// Serializable for the cache ([`crate::cache`]) without its path (the cache's
/// key), its source text (read again from the file when a diagnostic needs it)
/// and its `ops` (cached apart, decoded only when a rule reads them):
/// deserialize, then set those.
#[derive(Debug, Serialize, Deserialize)]
pub struct Migration {
    #[serde(skip)]
    pub path: PathBuf,
    /// The file's text. Empty ([`SourceFile::empty`]) when the engine did not keep
    /// it: a check reads the text again only for files with diagnostics.
    #[serde(skip, default = "SourceFile::empty")]
    pub source: Arc<SourceFile>,
    /// The last top-level `revision = "..."` string assignment.
    pub revision: Option<Spanned<String>>,
    pub down_revision: Option<RevisionList>,
    pub branch_labels: Option<RevisionList>,
    pub depends_on: Option<RevisionList>,
    /// The first paragraph of the module docstring (Alembic's `Script.doc`).
    pub message: Option<String>,
    pub upgrade: Option<Function>,
    pub downgrade: Option<Function>,
    /// Empty when loaded for rules that do not read it ([`crate::rules::Rule::reads_ops`]).
    #[serde(skip)]
    pub ops: Vec<OpCall>,
    /// Module-level `NAME = "string"` constants (used by the drift replay).
    pub constants: Vec<(String, String)>,
    pub suppressions: Suppressions,
    /// Reasons the file is not a valid migration; empty when it is one.
    pub problems: Vec<Problem>,
    /// Matches of the query rules enabled when the file was parsed.
    pub query_matches: Vec<QueryMatch>,
    /// Identifier assignments whose values are not literals, to resolve
    /// ([`resolve`]); the resolved ones fill `revision`, `down_revision`, ...
    pub computed: Vec<Computed>,
    /// The file's module-level names, kept only when `computed` is not empty.
    pub scope: Option<Box<ModuleScope>>,
    /// The computed values that could not be resolved (set by [`resolve`], never
    /// cached).
    #[serde(skip)]
    pub unresolved: Vec<Unresolved>,
}

impl Migration {
    /// The revisions named by `down_revision` (empty for a base).
    pub fn down_revisions(&self) -> impl Iterator<Item = &Spanned<String>> {
        self.down_revision.iter().flat_map(|l| l.items.iter())
    }

    pub fn depends_on(&self) -> impl Iterator<Item = &Spanned<String>> {
        self.depends_on.iter().flat_map(|l| l.items.iter())
    }

    pub fn branch_labels(&self) -> impl Iterator<Item = &Spanned<String>> {
        self.branch_labels.iter().flat_map(|l| l.items.iter())
    }

    /// A merge migration: `down_revision` names two or more revisions (or is a
    /// computed tuple of two or more items, resolved or not).
    pub fn is_merge(&self) -> bool {
        self.down_revision
            .as_ref()
            .is_some_and(|l| l.items.len() >= 2)
            || self.computed.iter().any(|c| {
                c.field == IdField::DownRevision
                    && matches!(&c.value.value, Expr::Seq(items) if items.len() >= 2)
            })
    }

    /// Whether a value of `field` could not be resolved: what the graph knows of
    /// it is incomplete.
    pub fn is_unresolved(&self, field: IdField) -> bool {
        self.unresolved.iter().any(|u| u.field == field)
    }

    pub fn is_base(&self) -> bool {
        self.down_revision
            .as_ref()
            .is_some_and(|l| l.items.is_empty())
    }

    /// The revision id, if the file declares one.
    pub fn revision_id(&self) -> Option<&str> {
        self.revision.as_ref().map(|r| r.value.as_str())
    }

    /// The best span to point at for a finding about the migration as a whole.
    pub fn anchor(&self) -> Option<Span> {
        self.revision.as_ref().map(|r| r.span)
    }

    /// The top-level function (`upgrade` / `downgrade`) containing a 1-based line.
    pub fn function_at_line(&self, line: usize) -> Option<&Function> {
        [&self.upgrade, &self.downgrade]
            .into_iter()
            .flatten()
            .find(|f| f.def_line <= line && line <= f.end_line)
    }
}
