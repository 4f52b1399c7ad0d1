use std::borrow::Cow;
use std::collections::BTreeMap;

use super::{Context, Input, Rule, RuleMeta, RuleSource};
use crate::db::snapshot::Dialect;
use crate::diagnostic::{Finding, Location, Severity};
use crate::migration::{BodyKind, Migration, OpCall, Phase, Value};
use crate::schema::replay::{self, Replay};
use crate::schema::{Fold, Schema, SqlType, TableName};

pub struct DowngradeMismatch;

static META: RuleMeta = RuleMeta {
    code: Cow::Borrowed("MV205"),
    name: Cow::Borrowed("downgrade-mismatch"),
    severity: Severity::Warning,
    enabled_by_default: false,
    inputs: &[Input::Migrations],
    summary: Cow::Borrowed("`downgrade()` does not give back the schema `upgrade()` started from"),
    doc: Cow::Borrowed(
        r#"## What it does
A static round trip, without a database: over the schema replayed from the base up
to the migration's parent, it replays `upgrade()` then `downgrade()` and compares the
result with the parent's schema: tables, columns (type and nullability), indexes,
unique constraints and foreign keys. Each difference is reported at the `upgrade()`
operation that is not undone (or, when `upgrade()` did not touch it, at the
`downgrade()` operation that changed it), with the `downgrade()` operation or
function as related location. A `downgrade()` operation that would fail (dropping or
altering a column that is not there, adding one that is) is reported at that
operation, alone.

The replay does what the databases do: dropping a column drops the indexes and
constraints on it, dropping a table drops its indexes. Order does not matter (a
downgrade may restore things in any order, columns come back at the end), nor the
spelling of a type (`sa.String(50)` and `sa.VARCHAR(length=50)` are one type), nor
whether a unique constraint or foreign key is named when the database would give it
that name (PostgreSQL's `<table>_<columns>_key` and `_fkey`; without a known dialect
any name matches an unnamed one).

Not checked (`--verbose` lists the files and why):
- files with an operation migverify cannot replay exactly: `op.execute`,
  `op.bulk_insert`, `op.get_bind()`, operations it does not model, names, columns
  or column lists that are not literals (or module-level constants);
- files whose `upgrade()` or `downgrade()` holds anything but operation calls and
  `batch_alter_table` blocks: conditions, loops, assignments, calls to helpers;
- merge migrations, and migrations whose parent's schema is not known (a dangling
  `down_revision`, or an ancestor outside the replay);
- migrations whose `upgrade()` does not apply cleanly to the replayed schema (an
  earlier change the replay could not see, such as raw SQL).

A missing or empty `downgrade()` is MV002's and MV003's business, one that only
raises is MV011's, a missing or empty `upgrade()` MV004's and MV005's: MV205 says
nothing there.

Off by default; turn it on with `extend-select = ["MV205"]` (or `--extend-select
MV205`), or with the `strict` preset, which also raises it to an error. It reads the
migration files only and holds back wherever the replay is not exact, so what it
reports is a downgrade that does not undo its upgrade on any database. It is off by
default because it replays the whole history (every migration's `op` calls), which
the default rules never read: on long histories that costs more than the rest of
the check together (a 4,000-migration history takes seconds, not milliseconds; see
docs/performance.md), so a team turns it on knowingly, typically in CI.

## Why is this bad?
`alembic downgrade -1` is what a failed deploy falls back on. A downgrade that
forgets an index, restores a NOT NULL column as nullable or with another type, or
leaves a foreign key behind runs without an error and leaves a schema that no
revision describes: the next `upgrade` fails (the index already exists) or the
application runs on a schema it was not tested with.

## Example
```python
def upgrade():
    op.add_column("users", sa.Column("email", sa.String(120), nullable=False))
    op.create_index("ix_users_email", "users", ["email"])


def downgrade():
    op.drop_column("users", "name")  # the wrong column
```

## Use instead
```python
def downgrade():
    op.drop_index("ix_users_email", table_name="users")
    op.drop_column("users", "email")
```
Undo each operation of `upgrade()` in reverse order, as `alembic revision
--autogenerate` writes it.
"#,
    ),
    source: RuleSource::Builtin,
};

impl Rule for DowngradeMismatch {
    fn meta(&self) -> &RuleMeta {
        &META
    }

    fn check(&self, ctx: &Context<'_>, out: &mut Vec<Finding>) {
        out.extend(round_trips(ctx).findings);
    }

    fn check_with_notes(
        &self,
        ctx: &Context<'_>,
        out: &mut Vec<Finding>,
        notes: &mut Vec<Finding>,
    ) {
        let outcome = round_trips(ctx);
        out.extend(outcome.findings);
        notes.extend(outcome.notes);
    }
}

struct Outcome {
    findings: Vec<Finding>,
    /// Files not checked, each at its migration with the reason.
    notes: Vec<Finding>,
}

/// Every migration's round trip, in graph order.
fn round_trips(ctx: &Context<'_>) -> Outcome {
    let graph = ctx.graph;
    let dialect = ctx.drift.dialect;
    let fold = Fold::for_dialect(dialect);
    let order = graph.topological_order();
    let mut position = vec![usize::MAX; graph.nodes.len()];
    for (i, &n) in order.iter().enumerate() {
        position[n] = i;
    }
    // The schema after each node, kept while a child still needs it; `None`: not known.
    let mut after: Vec<Option<Option<Schema>>> = vec![None; graph.nodes.len()];
    let mut waiting: Vec<usize> = graph.nodes.iter().map(|n| n.children.len()).collect();
    let mut out = Outcome {
        findings: Vec::new(),
        notes: Vec::new(),
    };
    for &n in &order {
        let node = &graph.nodes[n];
        let m = &ctx.migrations[node.migration];
        let before = parent_schema(ctx, n, &position, &mut after, &mut waiting, fold);
        let Some(mut before) = before else {
            note(
                &mut out,
                m,
                "the schema before it is not known (a parent outside the replay)",
            );
            after[n] = Some(None);
            continue;
        };
        match check_one(m, &before, fold, dialect) {
            Verdict::Fine => {}
            Verdict::Skip(why) => note(&mut out, m, &why),
            Verdict::Found(f) => out.findings.extend(f),
        }
        if !node.children.is_empty() {
            let mut r = Replay::new(std::mem::take(&mut before), fold);
            r.apply(m);
            after[n] = Some(Some(r.schema));
        }
    }
    out
}

fn note(out: &mut Outcome, m: &Migration, why: &str) {
    out.notes
        .push(Finding::new(m.path.clone(), m.anchor(), why.to_string()));
}

/// The schema replayed from the base up to node `n`'s parents (and `depends_on`
/// dependencies); `None` when it is not known.
fn parent_schema(
    ctx: &Context<'_>,
    n: usize,
    position: &[usize],
    after: &mut [Option<Option<Schema>>],
    waiting: &mut [usize],
    fold: Fold,
) -> Option<Schema> {
    let graph = ctx.graph;
    let node = &graph.nodes[n];
    let m = &ctx.migrations[node.migration];
    if node.parents.is_empty() {
        return (m.is_base() && node.dependencies.is_empty()).then(Schema::default);
    }
    let first = node.parents[0];
    let mut schema = {
        waiting[first] = waiting[first].saturating_sub(1);
        let slot = &mut after[first];
        let known = slot.as_ref()?.as_ref()?;
        if waiting[first] == 0 && node.parents.len() == 1 {
            slot.take().flatten()?
        } else {
            known.clone()
        }
    };
    for &p in &node.parents[1..] {
        waiting[p] = waiting[p].saturating_sub(1);
        after[p].as_ref()?.as_ref()?;
        if waiting[p] == 0 {
            after[p] = None;
        }
    }
    if node.parents.len() == 1 && node.dependencies.is_empty() {
        return Some(schema);
    }
    // A merge or a `depends_on`: the first parent's schema, then the other
    // ancestors it lacks, in graph order.
    let mut seen = vec![false; graph.nodes.len()];
    let mut stack = vec![first];
    seen[first] = true;
    while let Some(x) = stack.pop() {
        for &p in graph.nodes[x]
            .parents
            .iter()
            .chain(&graph.nodes[x].dependencies)
        {
            if !seen[p] {
                seen[p] = true;
                stack.push(p);
            }
        }
    }
    let mut extra = Vec::new();
    let mut stack: Vec<usize> = node.parents[1..]
        .iter()
        .chain(&node.dependencies)
        .copied()
        .collect();
    while let Some(x) = stack.pop() {
        if seen[x] {
            continue;
        }
        seen[x] = true;
        if position[x] == usize::MAX || position[x] > position[n] {
            return None;
        }
        extra.push(x);
        stack.extend(
            graph.nodes[x]
                .parents
                .iter()
                .chain(&graph.nodes[x].dependencies),
        );
    }
    extra.sort_by_key(|&x| position[x]);
    let mut r = Replay::new(std::mem::take(&mut schema), fold);
    for x in extra {
        let xm = &ctx.migrations[graph.nodes[x].migration];
        if graph.nodes[x].parents.is_empty() && !xm.is_base() {
            return None;
        }
        r.apply(xm);
    }
    Some(r.schema)
}

enum Verdict {
    Fine,
    Skip(String),
    Found(Vec<Finding>),
}

/// One migration's round trip over `before`, its parent's schema.
fn check_one(m: &Migration, before: &Schema, fold: Fold, dialect: Option<Dialect>) -> Verdict {
    let (Some(up), Some(down)) = (&m.upgrade, &m.downgrade) else {
        return Verdict::Fine; // MV002, MV004
    };
    if down.body != BodyKind::Effectful || up.body != BodyKind::Effectful {
        return Verdict::Fine; // MV003, MV005, MV011
    }
    if m.is_merge() {
        return Verdict::Skip("a merge migration".into());
    }
    for (f, name) in [(up, "upgrade"), (down, "downgrade")] {
        if let Some(u) = &f.unfollowed {
            return Verdict::Skip(format!(
                "`{name}()` has {} (line {}), which a static replay cannot follow",
                u.value, u.span.start_line
            ));
        }
    }
    let ups: Vec<&OpCall> = m.ops.iter().filter(|o| o.phase == Phase::Upgrade).collect();
    let downs: Vec<&OpCall> = m
        .ops
        .iter()
        .filter(|o| o.phase == Phase::Downgrade)
        .collect();
    for op in ups.iter().chain(&downs) {
        if let Some(why) = replay::unreadable(m, op) {
            return Verdict::Skip(format!("{why} (line {})", op.span.start_line));
        }
    }
    if ups.is_empty() && downs.is_empty() {
        return Verdict::Fine;
    }
    // Only the tables the operations name take part.
    let mut names: Vec<String> = Vec::new();
    for op in ups.iter().chain(&downs) {
        for a in op.args.iter().chain(op.batch.iter().flat_map(|b| b.iter())) {
            match &a.value {
                Value::Str(s) => names.push(s.clone()),
                // `op.f("ix_users_email")`
                Value::Call { func, args } if func.rsplit('.').next() == Some("f") => {
                    if let Some((None, Value::Str(s))) = args.first() {
                        names.push(s.clone());
                    }
                }
                _ => {}
            }
        }
    }
    names.extend(m.constants.iter().map(|(_, v)| v.clone()));
    let subset = Schema {
        tables: before
            .tables
            .iter()
            .filter(|t| {
                names.iter().any(|n| fold.name_eq(n, &t.name.name))
                    || t.indexes.iter().any(|i| names.contains(i))
            })
            .cloned()
            .collect(),
        opaque: Vec::new(),
    };
    let mut r = Replay::new(subset.clone(), fold).cascading();
    for t in &mut r.schema.tables {
        t.objects.partial = false;
    }
    for op in &ups {
        r.apply_op(m, op);
    }
    if let Some(c) = r.conflicts.first() {
        return Verdict::Skip(format!(
            "its `upgrade()` does not apply to the schema replayed before it: {} (line {})",
            c.message,
            c.location.span.map_or(0, |s| s.start_line)
        ));
    }
    let facts_before = facts(&subset, fold);
    for op in &downs {
        let before_conflicts = r.conflicts.len();
        r.apply_op(m, op);
        if let Some(c) = r.conflicts.get(before_conflicts) {
            // A column missing or already there, on a table the replay knows: a
            // table missing may have been made outside the migrations.
            let trusted = c.message.contains("column `");
            if !trusted || !before.opaque_for(&c.table, fold).is_empty() {
                return Verdict::Skip(format!(
                    "its `downgrade()` does not apply cleanly to the replayed schema: {} (line {})",
                    c.message, op.span.start_line
                ));
            }
            let f = Finding::new(
                m.path.clone(),
                Some(op.span),
                format!("`downgrade()` would fail here: {}", c.message),
            )
            .with_related(
                m.path.clone(),
                Some(up.name_span),
                "the `upgrade()` it should undo",
            )
            .with_help(HELP);
            return Verdict::Found(vec![f]);
        }
    }
    if r.schema.tables.iter().any(|t| t.objects.partial) {
        return Verdict::Skip(
            "an index, constraint or foreign key of the round trip could not be read".into(),
        );
    }
    let facts_after = facts(&r.schema, fold);
    let diffs = differences(&facts_before, &facts_after, dialect);
    if diffs.is_empty() {
        return Verdict::Fine;
    }
    // Which operations changed each differing fact last: the round trip again, a
    // step at a time.
    let mut last_up: BTreeMap<Key, usize> = BTreeMap::new();
    let mut last_down: BTreeMap<Key, usize> = BTreeMap::new();
    let mut r = Replay::new(subset, fold).cascading();
    let mut prev = facts_before.clone();
    for (phase, ops) in [(0, &ups), (1, &downs)] {
        for (i, op) in ops.iter().enumerate() {
            r.apply_op(m, op);
            let now = facts(&r.schema, fold);
            for d in &diffs {
                let k = &d.key;
                let changed = match (prev.get(k), now.get(k)) {
                    (None, None) => false,
                    (Some(a), Some(b)) => a.state() != b.state(),
                    _ => true,
                };
                if changed {
                    if phase == 0 {
                        last_up.insert(k.clone(), i);
                    } else {
                        last_down.insert(k.clone(), i);
                    }
                }
            }
            prev = now;
        }
    }
    let down_loc = Location {
        path: m.path.clone(),
        span: Some(down.name_span),
    };
    let mut found = Vec::new();
    for d in diffs {
        let up_op = last_up.get(&d.key).map(|&i| ups[i]);
        let down_op = last_down.get(&d.key).map(|&i| downs[i]);
        let what = d.what();
        let (at, message, related) = match (&d.change, up_op, down_op) {
            (Change::Missing, Some(u), _) => (
                u.span,
                format!(
                    "`downgrade()` does not restore {what}, which this `{}` removes",
                    u.method
                ),
                down_op.map_or((down_loc.clone(), "the `downgrade()`".to_string()), |o| {
                    (op_loc(m, o), format!("`{}` in `downgrade()`", o.method))
                }),
            ),
            (Change::Missing, None, Some(o)) => (
                o.span,
                format!("`downgrade()` removes {what}, which existed before `upgrade()`"),
                (
                    Location {
                        path: m.path.clone(),
                        span: Some(up.name_span),
                    },
                    "the `upgrade()` it should undo".to_string(),
                ),
            ),
            (Change::Extra, Some(u), _) => (
                u.span,
                format!(
                    "`downgrade()` does not remove {what}, which this `{}` creates",
                    u.method
                ),
                down_op.map_or((down_loc.clone(), "the `downgrade()`".to_string()), |o| {
                    (op_loc(m, o), format!("`{}` in `downgrade()`", o.method))
                }),
            ),
            (Change::Extra, None, Some(o)) => (
                o.span,
                format!("`downgrade()` creates {what}, which did not exist before `upgrade()`"),
                (
                    Location {
                        path: m.path.clone(),
                        span: Some(up.name_span),
                    },
                    "the `upgrade()` it should undo".to_string(),
                ),
            ),
            (Change::Changed { before, after }, u, o) => {
                let at = u.or(o).map_or(down.name_span, |x| x.span);
                let related = match (u, o) {
                    (Some(_), Some(o)) => (op_loc(m, o), "restored here".to_string()),
                    (None, Some(_)) | (None, None) => (
                        Location {
                            path: m.path.clone(),
                            span: Some(up.name_span),
                        },
                        "the `upgrade()` it should undo".to_string(),
                    ),
                    (Some(_), None) => (down_loc.clone(), "the `downgrade()`".to_string()),
                };
                (
                    at,
                    format!(
                        "after `downgrade()`, {what} is {after}; before `upgrade()` it was {before}"
                    ),
                    related,
                )
            }
            _ => continue,
        };
        found.push(
            Finding::new(m.path.clone(), Some(at), message)
                .with_related(related.0.path, related.0.span, related.1)
                .with_help(HELP),
        );
    }
    if found.is_empty() {
        Verdict::Fine
    } else {
        Verdict::Found(found)
    }
}

const HELP: &str = "make `downgrade()` undo each operation of `upgrade()`, in reverse order \
    (as `alembic revision --autogenerate` writes it)";

fn op_loc(m: &Migration, op: &OpCall) -> Location {
    Location {
        path: m.path.clone(),
        span: Some(op.span),
    }
}

/// What a fact is about; names folded as the database compares them.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Table(TableName),
    Column(TableName, String),
    Index(TableName, String),
    /// A named unique constraint, or an unnamed one by its (sorted) columns.
    Unique(TableName, Option<String>, Vec<String>),
    /// A foreign key by its signature, and its name when it has one.
    Foreign(
        TableName,
        Vec<String>,
        TableName,
        Vec<String>,
        String,
        Option<String>,
    ),
}

impl Key {
    fn table(&self) -> &TableName {
        match self {
            Key::Table(t)
            | Key::Column(t, _)
            | Key::Index(t, _)
            | Key::Unique(t, ..)
            | Key::Foreign(t, ..) => t,
        }
    }

    /// The columns of the table it depends on.
    fn columns(&self) -> &[String] {
        match self {
            Key::Unique(_, _, c) | Key::Foreign(_, c, ..) => c,
            _ => &[],
        }
    }
}

#[derive(Clone, Debug)]
enum Fact {
    Table,
    Column {
        name: String,
        type_: SqlType,
        nullable: Option<bool>,
    },
    Index {
        name: String,
        columns: Vec<String>,
        unique: bool,
        expression: bool,
    },
    Unique {
        name: Option<String>,
        columns: Vec<String>,
    },
    ForeignKey {
        name: Option<String>,
        columns: Vec<String>,
        referred: TableName,
        referred_columns: Vec<String>,
    },
}

impl Fact {
    /// Its state, to tell which operation changed it.
    fn state(&self) -> String {
        format!("{self:?}")
    }

    /// The columns it stands on.
    fn columns(&self) -> &[String] {
        match self {
            Fact::Index { columns, .. }
            | Fact::Unique { columns, .. }
            | Fact::ForeignKey { columns, .. } => columns,
            _ => &[],
        }
    }
}

type Facts = BTreeMap<Key, Fact>;

fn facts(schema: &Schema, fold: Fold) -> Facts {
    let tn = |t: &TableName| {
        if fold.tables_ci {
            TableName::new(
                t.schema.as_ref().map(|s| s.to_ascii_lowercase()),
                t.name.to_ascii_lowercase(),
            )
        } else {
            t.clone()
        }
    };
    let col = |c: &str| {
        if fold.columns_ci {
            c.to_ascii_lowercase()
        } else {
            c.to_string()
        }
    };
    let mut out = Facts::new();
    for t in &schema.tables {
        let name = tn(&t.name);
        out.insert(Key::Table(name.clone()), Fact::Table);
        for c in &t.columns {
            out.insert(
                Key::Column(name.clone(), col(&c.name)),
                Fact::Column {
                    name: c.name.clone(),
                    type_: c.type_.clone(),
                    nullable: c.nullable,
                },
            );
        }
        let o = &t.objects;
        for i in &o.indexes {
            let key = i
                .name
                .clone()
                .unwrap_or_else(|| format!("({})", i.columns.join(", ")));
            out.insert(
                Key::Index(name.clone(), key.clone()),
                Fact::Index {
                    name: key,
                    columns: i.columns.iter().map(|c| col(c)).collect(),
                    unique: i.unique,
                    expression: i.expression,
                },
            );
        }
        for u in &o.uniques {
            let mut cols: Vec<String> = u.columns.iter().map(|c| col(c)).collect();
            cols.sort();
            out.insert(
                Key::Unique(name.clone(), u.name.clone(), cols.clone()),
                Fact::Unique {
                    name: u.name.clone(),
                    columns: u.columns.clone(),
                },
            );
        }
        for f in &o.foreign_keys {
            let action = |a: &Option<String>| {
                a.as_deref()
                    .map(str::to_ascii_uppercase)
                    .filter(|a| a != "NO ACTION")
                    .unwrap_or_default()
            };
            out.insert(
                Key::Foreign(
                    name.clone(),
                    f.columns.iter().map(|c| col(c)).collect(),
                    tn(&f.referred),
                    f.referred_columns.iter().map(|c| col(c)).collect(),
                    format!("{}/{}", action(&f.ondelete), action(&f.onupdate)),
                    f.name.clone(),
                ),
                Fact::ForeignKey {
                    name: f.name.clone(),
                    columns: f.columns.clone(),
                    referred: f.referred.clone(),
                    referred_columns: f.referred_columns.clone(),
                },
            );
        }
    }
    out
}

enum Change {
    /// Before `upgrade()`, not after `downgrade()`.
    Missing,
    /// After `downgrade()`, not before `upgrade()`.
    Extra,
    Changed {
        before: String,
        after: String,
    },
}

struct Difference {
    key: Key,
    fact: Fact,
    change: Change,
}

impl Difference {
    fn what(&self) -> String {
        let t = self.key.table();
        let cols = |c: &[String]| {
            c.iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match &self.fact {
            Fact::Table => format!("table `{t}`"),
            Fact::Column { name, .. } => format!("column `{t}.{name}`"),
            Fact::Index { name, columns, .. } => {
                format!("index `{name}` on `{t}` ({})", cols(columns))
            }
            Fact::Unique { name, columns } => match name {
                Some(n) => format!("unique constraint `{n}` on `{t}` ({})", cols(columns)),
                None => format!("the unique constraint on `{t}` ({})", cols(columns)),
            },
            Fact::ForeignKey {
                name,
                columns,
                referred,
                referred_columns,
            } => format!(
                "foreign key {}from `{t}` ({}) to `{referred}` ({})",
                name.as_ref().map(|n| format!("`{n}` ")).unwrap_or_default(),
                cols(columns),
                cols(referred_columns)
            ),
        }
    }
}

/// What differs between the parent's schema and the round trip's, leaving out
/// what follows from a difference already listed (a missing table's columns, a
/// missing column's indexes).
fn differences(before: &Facts, after: &Facts, dialect: Option<Dialect>) -> Vec<Difference> {
    let mut out: Vec<Difference> = Vec::new();
    for (k, b) in before {
        match after.get(k) {
            None => out.push(Difference {
                key: k.clone(),
                fact: b.clone(),
                change: Change::Missing,
            }),
            Some(a) => {
                if let Some((bd, ad)) = changed(b, a) {
                    out.push(Difference {
                        key: k.clone(),
                        fact: a.clone(),
                        change: Change::Changed {
                            before: bd,
                            after: ad,
                        },
                    });
                }
            }
        }
    }
    for (k, a) in after {
        if !before.contains_key(k) {
            out.push(Difference {
                key: k.clone(),
                fact: a.clone(),
                change: Change::Extra,
            });
        }
    }
    // A named constraint on one side and an unnamed one on the other, with the same
    // columns and target, that the database names alike: one constraint.
    let mut gone = vec![false; out.len()];
    for i in 0..out.len() {
        for j in 0..out.len() {
            if gone[i] || gone[j] || i == j {
                continue;
            }
            if let (Change::Missing, Change::Extra) = (&out[i].change, &out[j].change)
                && same_but_name(&out[i].key, &out[j].key, dialect)
            {
                gone[i] = true;
                gone[j] = true;
            }
        }
    }
    let mut i = 0;
    out.retain(|_| {
        i += 1;
        !gone[i - 1]
    });
    // What follows from a missing or extra table or column.
    let tables: Vec<TableName> = out
        .iter()
        .filter(|d| matches!(d.fact, Fact::Table) && !matches!(d.change, Change::Changed { .. }))
        .map(|d| d.key.table().clone())
        .collect();
    let columns: Vec<(TableName, String)> = out
        .iter()
        .filter_map(|d| match (&d.key, &d.change) {
            (Key::Column(t, c), Change::Missing | Change::Extra) => Some((t.clone(), c.clone())),
            _ => None,
        })
        .collect();
    out.retain(|d| {
        let t = d.key.table();
        if !matches!(d.key, Key::Table(_)) && tables.contains(t) {
            return false;
        }
        let on = d.key.columns().iter().chain(d.fact.columns());
        !on.into_iter()
            .any(|c| columns.iter().any(|(ct, cc)| ct == t && cc == c))
    });
    out
}

/// Whether two constraint keys differ only in that one is named and the other not,
/// the name being the one the database gives the unnamed one.
fn same_but_name(a: &Key, b: &Key, dialect: Option<Dialect>) -> bool {
    let named_alike = |table: &TableName,
                       cols: &[String],
                       x: &Option<String>,
                       y: &Option<String>,
                       suffix: &str| {
        let name = match (x, y) {
            (Some(n), None) | (None, Some(n)) => n,
            _ => return false,
        };
        match dialect {
            Some(Dialect::Postgresql) => {
                let server = format!("{}_{}_{suffix}", table.name, cols.join("_"));
                server.len() > 63 || *name == server
            }
            Some(Dialect::Mysql | Dialect::Mariadb) => {
                if suffix == "key" {
                    cols.first().is_some_and(|c| name == c)
                } else {
                    name.starts_with(&format!("{}_ibfk_", table.name))
                }
            }
            _ => true,
        }
    };
    match (a, b) {
        (Key::Unique(t1, n1, c1), Key::Unique(t2, n2, c2)) => {
            t1 == t2 && c1 == c2 && named_alike(t1, c1, n1, n2, "key")
        }
        (Key::Foreign(t1, c1, r1, rc1, a1, n1), Key::Foreign(t2, c2, r2, rc2, a2, n2)) => {
            t1 == t2
                && c1 == c2
                && r1 == r2
                && rc1 == rc2
                && a1 == a2
                && named_alike(t1, c1, n1, n2, "fkey")
        }
        _ => false,
    }
}

/// How a fact present on both sides differs, as (before, after) descriptions.
fn changed(before: &Fact, after: &Fact) -> Option<(String, String)> {
    match (before, after) {
        (
            Fact::Column {
                type_: t1,
                nullable: n1,
                ..
            },
            Fact::Column {
                type_: t2,
                nullable: n2,
                ..
            },
        ) => {
            let null = |n: bool| if n { "nullable" } else { "NOT NULL" };
            if t1.differs(t2, None) {
                return Some((format!("`{}`", t1.text), format!("`{}`", t2.text)));
            }
            match (n1, n2) {
                (Some(a), Some(b)) if a != b => Some((null(*a).into(), null(*b).into())),
                _ => None,
            }
        }
        (
            Fact::Index {
                columns: c1,
                unique: u1,
                expression: e1,
                ..
            },
            Fact::Index {
                columns: c2,
                unique: u2,
                expression: e2,
                ..
            },
        ) => {
            let desc = |c: &[String], u: bool| {
                format!(
                    "{} on ({})",
                    if u { "unique" } else { "not unique" },
                    c.join(", ")
                )
            };
            if u1 != u2 || (!e1 && !e2 && c1 != c2) {
                Some((desc(c1, *u1), desc(c2, *u2)))
            } else {
                None
            }
        }
        (Fact::Unique { columns: c1, .. }, Fact::Unique { columns: c2, .. }) => {
            let mut a = c1.clone();
            let mut b = c2.clone();
            a.sort();
            b.sort();
            (a != b).then(|| {
                (
                    format!("on ({})", c1.join(", ")),
                    format!("on ({})", c2.join(", ")),
                )
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{check, lint_fires, lint_ok};

    fn file(rev: &str, down: &str, upgrade: &str, downgrade: &str) -> String {
        format!(
            "\"\"\"{rev}\"\"\"\nfrom alembic import op\nimport sqlalchemy as sa\n\nrevision = '{rev}'\ndown_revision = {down}\nbranch_labels = None\n\n\ndef upgrade():\n{upgrade}\n\n\ndef downgrade():\n{downgrade}\n"
        )
    }

    const BASE_UP: &str = "    op.create_table('users',\n        sa.Column('id', sa.Integer(), nullable=False),\n        sa.Column('name', sa.String(50), nullable=False),\n        sa.Column('email', sa.String(120), nullable=False),\n        sa.PrimaryKeyConstraint('id'))\n    op.create_index('ix_users_email', 'users', ['email'], unique=False)";
    const BASE_DOWN: &str =
        "    op.drop_index('ix_users_email', table_name='users')\n    op.drop_table('users')";

    fn with_base(up: &str, down: &str) -> Vec<Finding> {
        let a = file("a1", "None", BASE_UP, BASE_DOWN);
        let b = file("b1", "'a1'", up, down);
        check(&DowngradeMismatch, &[("a1.py", &a), ("b1.py", &b)])
    }

    fn messages(f: &[Finding]) -> Vec<String> {
        f.iter().map(|f| f.message.clone()).collect()
    }

    #[test]
    fn the_base_round_trip_is_clean() {
        let a = file("a1", "None", BASE_UP, BASE_DOWN);
        lint_ok(&DowngradeMismatch, &[("a1.py", &a)]);
    }

    #[test]
    fn forgotten_index() {
        let f = with_base(
            "    op.add_column('users', sa.Column('age', sa.Integer()))\n    op.create_index('ix_users_age', 'users', ['age'])",
            "    op.drop_column('users', 'age')",
        );
        // Dropping the column drops its index: nothing is left behind.
        assert!(f.is_empty(), "{:?}", messages(&f));
        let f = with_base(
            "    op.create_index('ix_users_name', 'users', ['name'])",
            "    op.drop_index('ix_users_email', table_name='users')",
        );
        assert_eq!(
            messages(&f),
            vec![
                "`downgrade()` removes index `ix_users_email` on `users` (`email`), which existed before `upgrade()`",
                "`downgrade()` does not remove index `ix_users_name` on `users` (`name`), which this `create_index` creates",
            ]
        );
        assert_eq!(f[1].location.span.unwrap().start_line, 11);
        assert_eq!(f[1].related[0].location.span.unwrap().start_line, 14);
    }

    #[test]
    fn restored_nullable_and_wrong_type() {
        let f = with_base(
            "    op.drop_column('users', 'name')",
            "    op.add_column('users', sa.Column('name', sa.String(80), nullable=True))",
        );
        assert_eq!(
            messages(&f),
            vec![
                "after `downgrade()`, column `users.name` is `sa.String(80)`; before `upgrade()` it was `sa.String(50)`"
            ]
        );
        let f = with_base(
            "    op.drop_column('users', 'name')",
            "    op.add_column('users', sa.Column('name', sa.VARCHAR(length=50), nullable=True))",
        );
        assert_eq!(
            messages(&f),
            vec![
                "after `downgrade()`, column `users.name` is nullable; before `upgrade()` it was NOT NULL"
            ]
        );
        // Equivalent spellings, restored in another order.
        let f = with_base(
            "    op.drop_index('ix_users_email', table_name='users')\n    op.drop_column('users', 'email')\n    op.drop_column('users', 'name')",
            "    op.add_column('users', sa.Column('name', sa.VARCHAR(length=50), autoincrement=False, nullable=False))\n    op.add_column('users', sa.Column('email', sa.String(length=120), nullable=False))\n    op.create_index('ix_users_email', 'users', ['email'], unique=False)",
        );
        assert!(f.is_empty(), "{:?}", messages(&f));
    }

    #[test]
    fn column_cascade_and_wrong_column() {
        // Dropping `email` drops its index; restoring the column without it is a mismatch.
        let f = with_base(
            "    op.drop_column('users', 'email')",
            "    op.add_column('users', sa.Column('email', sa.String(120), nullable=False))",
        );
        assert_eq!(
            messages(&f),
            vec![
                "`downgrade()` does not restore index `ix_users_email` on `users` (`email`), which this `drop_column` removes"
            ]
        );
        // The wrong column: the right one stays, the other goes.
        let f = with_base(
            "    op.add_column('users', sa.Column('age', sa.Integer()))",
            "    op.drop_column('users', 'name')",
        );
        assert_eq!(f.len(), 2, "{:?}", messages(&f));
        // A column that does not exist: the downgrade fails.
        let f = with_base(
            "    op.add_column('users', sa.Column('age', sa.Integer()))",
            "    op.drop_column('users', 'agee')",
        );
        assert_eq!(
            messages(&f),
            vec![
                "`downgrade()` would fail here: `drop_column`: column `users.agee` does not exist"
            ]
        );
    }

    #[test]
    fn foreign_keys_and_uniques() {
        let up = "    op.create_table('posts', sa.Column('id', sa.Integer(), nullable=False), sa.Column('author_id', sa.Integer()), sa.PrimaryKeyConstraint('id'))\n    op.create_foreign_key('fk_posts_author', 'posts', 'users', ['author_id'], ['id'])\n    op.create_unique_constraint('uq_users_name', 'users', ['name'])";
        let f = with_base(
            up,
            "    op.drop_constraint('uq_users_name', 'users', type_='unique')\n    op.drop_table('posts')",
        );
        assert!(f.is_empty(), "{:?}", messages(&f));
        // Forgetting the unique constraint.
        let f = with_base(up, "    op.drop_table('posts')");
        assert_eq!(f.len(), 1, "{:?}", messages(&f));
        assert!(f[0].message.contains("`uq_users_name`"));
        // A foreign key on an existing table, forgotten.
        let f = with_base(
            "    op.create_table('t', sa.Column('id', sa.Integer(), nullable=False), sa.PrimaryKeyConstraint('id'))\n    op.add_column('users', sa.Column('t_id', sa.Integer()))\n    op.create_foreign_key(None, 'users', 't', ['t_id'], ['id'])",
            "    op.drop_column('users', 't_id')\n    op.drop_table('t')",
        );
        assert!(f.is_empty(), "{:?}", messages(&f));
    }

    #[test]
    fn unnamed_and_named_alike() {
        let a = file(
            "a1",
            "None",
            "    op.create_table('users', sa.Column('id', sa.Integer(), nullable=False), sa.Column('email', sa.String(120)), sa.UniqueConstraint('email'))",
            "    op.drop_table('users')",
        );
        let b = file(
            "b1",
            "'a1'",
            "    op.drop_constraint('users_email_key', 'users', type_='unique')",
            "    op.create_unique_constraint('users_email_key', 'users', ['email'])",
        );
        lint_ok(&DowngradeMismatch, &[("a1.py", &a), ("b1.py", &b)]);
    }

    #[test]
    fn skipped_and_silent() {
        let a = file("a1", "None", BASE_UP, BASE_DOWN);
        let cases = [
            // MV003's
            (
                "    op.add_column('users', sa.Column('x', sa.Integer()))",
                "    pass",
            ),
            // raw SQL
            (
                "    op.add_column('users', sa.Column('x', sa.Integer()))\n    op.execute('UPDATE users SET x = 1')",
                "    pass\n    op.execute('SELECT 1')",
            ),
            // data only
            (
                "    op.bulk_insert(t, [])",
                "    op.execute('DELETE FROM users')",
            ),
            // a condition
            (
                "    if True:\n        op.add_column('users', sa.Column('x', sa.Integer()))",
                "    op.drop_column('users', 'y')",
            ),
            // a helper
            ("    helper()", "    op.drop_column('users', 'y')"),
            // a name that is not a literal
            (
                "    op.add_column('users', sa.Column(name, sa.Integer()))",
                "    op.drop_column('users', 'y')",
            ),
            // batch blocks
            (
                "    with op.batch_alter_table('users', schema=None) as batch_op:\n        batch_op.add_column(sa.Column('x', sa.Integer()))\n        batch_op.create_index(batch_op.f('ix_users_x'), ['x'], unique=False)",
                "    with op.batch_alter_table('users', schema=None) as batch_op:\n        batch_op.drop_index(batch_op.f('ix_users_x'))\n        batch_op.drop_column('x')",
            ),
        ];
        for (up, down) in cases {
            let b = file("b1", "'a1'", up, down);
            lint_ok(&DowngradeMismatch, &[("a1.py", &a), ("b1.py", &b)]);
        }
    }

    #[test]
    fn merges_and_branches() {
        let a = file("a1", "None", BASE_UP, BASE_DOWN);
        let b = file(
            "b1",
            "'a1'",
            "    op.create_table('left', sa.Column('id', sa.Integer()))",
            "    op.drop_table('left')",
        );
        let c = file(
            "c1",
            "'a1'",
            "    op.create_table('right', sa.Column('id', sa.Integer()))",
            "    op.drop_table('right')",
        );
        let merge = file("m1", "('b1', 'c1')", "    pass", "    pass");
        let d = file(
            "d1",
            "'m1'",
            "    op.drop_table('left')\n    op.drop_table('right')",
            "    op.create_table('left', sa.Column('id', sa.Integer()))",
        );
        let f = lint_fires(
            &DowngradeMismatch,
            &[
                ("a1.py", &a),
                ("b1.py", &b),
                ("c1.py", &c),
                ("m1.py", &merge),
                ("d1.py", &d),
            ],
            1,
        );
        assert_eq!(
            f[0].message,
            "`downgrade()` does not restore table `right`, which this `drop_table` removes"
        );
    }
}
