//! Generated downgrades (the fix of MV002 and MV003): the inverse of `upgrade()`'s
//! operations, in reverse order, written as `alembic revision --autogenerate`
//! writes them.
//!
//! What an upgrade does not carry (the definition of a table it drops, of a
//! column, an index or a constraint; a column's type before an `alter_column`) is
//! read from the schema its ancestors build: their `upgrade()` operations replayed
//! in graph order, keeping each definition as its migration wrote it
//! ([`Store`]: the replay of [`crate::schema::replay`], with argument values in
//! place of normalised types, so a definition can be written back). Anything that
//! cannot be reversed statically (`op.execute`, `bulk_insert`, a table name that
//! is not a literal, an unknown call, a definition the history does not show)
//! means no fix, and the reason names the operation.
//!
//! Values are nested at most 24 levels (deeper ones are kept as text by the
//! extractor), so the recursive rendering is bounded.

use std::sync::Arc;

use super::{Fix, Line, Piece, Plan, Target};
use crate::diagnostic::Finding;
use crate::migration::{Arg, Migration, OpCall, Phase, Value};
use crate::rules::Context;

/// The fix's title (`migverify rules`, `explain`, the editor's quick fix).
pub const TITLE: &str = "generate `downgrade()` from `upgrade()`";

/// Ancestor operations replayed for all the fixes of one run at most; past it, no
/// fix (a pathological history must not make a check quadratic).
const REPLAY_BUDGET: usize = 5_000_000;

/// Attaches a generated downgrade to each finding about a migration whose
/// downgrade is missing or empty, or says in its help why there is none.
pub fn attach(ctx: &Context<'_>, findings: &mut [Finding], missing: bool) {
    let mut node_of = vec![usize::MAX; ctx.migrations.len()];
    for (n, node) in ctx.graph.nodes.iter().enumerate() {
        if node.migration < node_of.len() {
            node_of[node.migration] = n;
        }
    }
    let mut order_pos = vec![usize::MAX; ctx.graph.nodes.len()];
    for (i, n) in ctx.graph.topological_order().into_iter().enumerate() {
        order_pos[n] = i;
    }
    let mut budget = REPLAY_BUDGET;
    for f in findings.iter_mut() {
        let Some(mi) = ctx
            .migrations
            .iter()
            .position(|m| m.path == f.location.path)
        else {
            continue;
        };
        match plan(ctx, mi, &node_of, &order_pos, missing, &mut budget) {
            Ok(plan) => {
                f.fix = Some(Fix {
                    title: TITLE.to_string(),
                    plan,
                    edits: Vec::new(),
                });
            }
            Err(reason) => no_fix(f, &reason),
        }
    }
}

/// Says in the finding's help why it has no fix.
pub fn no_fix(f: &mut Finding, reason: &str) {
    let note = format!("no automatic fix: {reason}");
    f.help = Some(match f.help.take() {
        Some(h) => format!("{h}; {note}"),
        None => note,
    });
}

fn plan(
    ctx: &Context<'_>,
    mi: usize,
    node_of: &[usize],
    order_pos: &[usize],
    missing: bool,
    budget: &mut usize,
) -> Result<Plan, String> {
    let m = &ctx.migrations[mi];
    let up = m
        .upgrade
        .as_ref()
        .ok_or("the migration has no `upgrade()`")?;
    let target = if missing {
        Target::After {
            def_line: up.def_line,
            end_line: up.end_line,
        }
    } else {
        let down = m
            .downgrade
            .as_ref()
            .ok_or("the migration has no `downgrade()`")?;
        Target::Body {
            def_line: down.def_line,
            end_line: down.end_line,
        }
    };
    use crate::migration::IdField;
    if m.is_unresolved(IdField::DownRevision) || m.is_unresolved(IdField::DependsOn) {
        return Err("its `down_revision` is not known statically (MV014)".into());
    }
    let n = node_of[mi];
    if n == usize::MAX || order_pos[n] == usize::MAX {
        return Err(
            "its place in the revision graph is not known (a duplicate id or a cycle)".into(),
        );
    }
    if ctx.graph.dangling.iter().any(|d| d.migration == mi) {
        return Err("it names a revision no file declares (MV007)".into());
    }
    // The schema before it: its ancestors' upgrades, in graph order.
    let ancestors = ctx.graph.ancestors_with_dependencies(n);
    let mut chain: Vec<usize> = (0..ancestors.len())
        .filter(|&a| ancestors[a] && a != n)
        .collect();
    if chain.iter().any(|&a| order_pos[a] == usize::MAX) {
        return Err("its ancestors hold a cycle".into());
    }
    chain.sort_by_key(|&a| order_pos[a]);
    let mut store = Store::default();
    for a in chain {
        let am = &ctx.migrations[ctx.graph.nodes[a].migration];
        let cost = am.ops.len().max(1);
        if *budget < cost {
            return Err("the history is too long to replay for every fix of this run".into());
        }
        *budget -= cost;
        for op in am.ops.iter().filter(|o| o.phase == Phase::Upgrade) {
            store.apply(am, op);
        }
    }
    // This migration's operations, grouped by batch block; each inverted against
    // the schema just before it.
    let ops: Vec<&OpCall> = m
        .ops
        .iter()
        .filter(|o| o.phase == Phase::Upgrade && !IGNORED.contains(&o.method.as_str()))
        .collect();
    if ops.is_empty() {
        return Err("`upgrade()` has no `op` operation to reverse".into());
    }
    let mut blocks: Vec<Block> = Vec::new();
    for op in ops {
        let inv = store.inverse(m, op).map_err(|why| {
            format!(
                "`{}.{}` at line {}: {why}",
                op.receiver, op.method, op.span.start_line
            )
        })?;
        store.apply(m, op);
        match (&op.batch, blocks.last_mut()) {
            (Some(b), Some(Block::Batch { args, inverses, .. })) if Arc::ptr_eq(b, args) => {
                inverses.push(inv);
            }
            (Some(b), _) => blocks.push(Block::Batch {
                args: Arc::clone(b),
                alias: op.receiver.clone(),
                inverses: vec![inv],
            }),
            (None, Some(Block::Op { inverses })) => inverses.push(inv),
            (None, _) => blocks.push(Block::Op {
                inverses: vec![inv],
            }),
        }
    }
    let mut lines = Vec::new();
    let mut aliases: Vec<String> = Vec::new();
    for block in blocks.into_iter().rev() {
        match block {
            Block::Op { inverses } => {
                for inv in inverses.into_iter().rev() {
                    lines.extend(inv);
                }
            }
            Block::Batch {
                args,
                alias,
                inverses,
            } => {
                let mut code = vec![Piece::Text("with op.batch_alter_table(".into())];
                render_args(
                    args.iter().map(|a| (a.keyword.as_deref(), &a.value)),
                    &mut code,
                )?;
                code.push(Piece::Text(format!(") as {alias}:")));
                if !aliases.contains(&alias) {
                    aliases.push(alias.clone());
                }
                lines.push(Line {
                    depth: 0,
                    continuation: false,
                    code,
                });
                for inv in inverses.into_iter().rev() {
                    lines.extend(inv.into_iter().map(|mut l| {
                        l.depth += 1;
                        l
                    }));
                }
                // Autogenerate leaves a blank line after each batch block.
                lines.push(Line {
                    depth: 0,
                    continuation: false,
                    code: Vec::new(),
                });
            }
        }
    }
    Ok(Plan {
        target,
        lines: merge_text(lines),
        locals: aliases,
    })
}

/// Calls that change nothing (`op.f`, the batch block itself).
const IGNORED: &[&str] = &["f", "batch_alter_table", "inline_literal"];

enum Block {
    Op {
        inverses: Vec<Vec<Line>>,
    },
    Batch {
        args: Arc<Vec<Arg>>,
        alias: String,
        inverses: Vec<Vec<Line>>,
    },
}

/// A name as written: a literal (or a module constant) and whether it was wrapped
/// in `op.f()` (a name taken as given, not run through the naming convention).
#[derive(Clone, Debug, PartialEq)]
struct Name {
    name: String,
    f: bool,
}

impl Name {
    fn value(&self, receiver: &str) -> Value {
        if self.f {
            Value::Call {
                func: format!("{receiver}.f"),
                args: vec![(None, Value::Str(self.name.clone()))],
            }
        } else {
            Value::Str(self.name.clone())
        }
    }
}

/// A constraint's name as a value to keep in a definition: `op.f(...)` whatever
/// receiver wrote it (a batch alias means nothing in another file).
fn canonical_name(m: &Migration, v: Option<&Value>) -> Value {
    match v {
        None => Value::None,
        Some(v) => name_of(m, v).map_or_else(|| v.clone(), |n| n.value("op")),
    }
}

fn name_of(m: &Migration, v: &Value) -> Option<Name> {
    match v {
        Value::Str(s) => Some(Name {
            name: s.clone(),
            f: false,
        }),
        Value::Name(n) => m
            .constants
            .iter()
            .rev()
            .find(|(k, _)| k == n)
            .map(|(_, v)| Name {
                name: v.clone(),
                f: false,
            }),
        Value::Call { func, args }
            if func.rsplit('.').next() == Some("f") && args.len() == 1 && args[0].0.is_none() =>
        {
            name_of(m, &args[0].1).map(|n| Name { f: true, ..n })
        }
        _ => None,
    }
}

/// A table as the history built it, each part as its migration wrote it.
#[derive(Clone, Debug)]
struct TableDef {
    name: String,
    schema: Option<String>,
    /// `create_table`'s positional arguments after the name: columns and
    /// constraints (later operations edit and extend them).
    items: Vec<Value>,
    /// Its keywords other than `schema` (`comment=`, dialect options).
    kwargs: Vec<(String, Value)>,
    indexes: Vec<IndexDef>,
    /// Why its definition is not known (raw SQL on it, an operation the store does
    /// not model, a conflict).
    unknown: Option<String>,
}

#[derive(Clone, Debug)]
struct IndexDef {
    name: Name,
    columns: Vec<Value>,
    unique: Option<Value>,
    kwargs: Vec<(String, Value)>,
}

#[derive(Default)]
struct Store {
    tables: Vec<TableDef>,
    /// Why no table's definition is known (raw SQL naming no table, an operation
    /// on a table whose name is not a literal).
    unknown: Option<String>,
}

/// Where `op`'s arguments are: positions as in the plain `op.<method>` signature;
/// on a batch alias the table argument is absent.
struct Args<'a> {
    m: &'a Migration,
    op: &'a OpCall,
    table_pos: usize,
}

impl<'a> Args<'a> {
    fn new(m: &'a Migration, op: &'a OpCall) -> Args<'a> {
        let table_pos = match op.method.as_str() {
            "create_index"
            | "create_unique_constraint"
            | "create_foreign_key"
            | "create_check_constraint"
            | "drop_constraint"
            | "create_primary_key"
            | "drop_index" => 1,
            _ => 0,
        };
        Args { m, op, table_pos }
    }

    fn batch(&self) -> bool {
        self.op.batch.is_some()
    }

    /// The argument at position `i` of the plain signature, or keyword `kw`.
    fn get(&self, i: usize, kw: &str) -> Option<&'a Value> {
        if let Some(a) = self.op.kwarg(kw) {
            return Some(&a.value);
        }
        let i = if self.batch() {
            if i == self.table_pos {
                return None;
            }
            if i > self.table_pos { i - 1 } else { i }
        } else {
            i
        };
        if self.op.method == "drop_index" && !self.batch() && i == 1 {
            // `drop_index(name, table_name=...)`: the table is keyword or second.
            return self.op.positional(1).map(|a| &a.value);
        }
        self.op.positional(i).map(|a| &a.value)
    }

    fn kw(&self, kw: &str) -> Option<&'a Value> {
        self.op.kwarg(kw).map(|a| &a.value)
    }

    fn name(&self, i: usize, kw: &str) -> Option<Name> {
        name_of(self.m, self.get(i, kw)?)
    }

    /// The table the operation works on: `(name, schema)`.
    fn table(&self) -> Result<(String, Option<String>), String> {
        let (t, s) = match &self.op.batch {
            Some(batch) => (
                batch
                    .iter()
                    .find(|a| a.keyword.as_deref() == Some("table_name"))
                    .or_else(|| batch.iter().find(|a| a.keyword.is_none()))
                    .map(|a| &a.value),
                batch
                    .iter()
                    .find(|a| a.keyword.as_deref() == Some("schema"))
                    .map(|a| &a.value),
            ),
            None => {
                let kw = match self.op.method.as_str() {
                    "create_foreign_key" => "source_table",
                    "rename_table" => "old_table_name",
                    _ => "table_name",
                };
                let schema = if self.op.method == "create_foreign_key" {
                    self.kw("source_schema")
                } else {
                    self.kw("schema")
                };
                (self.get(self.table_pos, kw), schema)
            }
        };
        let t = t
            .and_then(|v| name_of(self.m, v))
            .ok_or("the table name is not a literal")?;
        let s = match s {
            None | Some(Value::None) => None,
            Some(v) => Some(
                name_of(self.m, v)
                    .ok_or("the schema name is not a literal")?
                    .name,
            ),
        };
        Ok((t.name, s))
    }
}

fn last(dotted: &str) -> &str {
    dotted.rsplit('.').next().unwrap_or(dotted)
}

/// A `sa.Column(...)`'s name.
fn column_name(v: &Value) -> Option<&str> {
    match v {
        Value::Call { func, args } if last(func) == "Column" => {
            args.iter().find(|(k, _)| k.is_none())?.1.as_str()
        }
        _ => None,
    }
}

fn kwarg<'v>(args: &'v [(Option<String>, Value)], k: &str) -> Option<&'v Value> {
    args.iter()
        .find(|(kw, _)| kw.as_deref() == Some(k))
        .map(|(_, v)| v)
}

fn set_kwarg(args: &mut Vec<(Option<String>, Value)>, k: &str, v: Value) {
    match args.iter_mut().find(|(kw, _)| kw.as_deref() == Some(k)) {
        Some(slot) => slot.1 = v,
        None => args.push((Some(k.to_string()), v)),
    }
}

/// A table-level constraint: its kind (`unique`, `foreignkey`, `check`,
/// `primary`), its name, and its arguments.
type Constraint<'v> = (&'static str, Option<Name>, &'v [(Option<String>, Value)]);

/// A table-level constraint's kind and name.
fn constraint_of<'v>(m: Option<&Migration>, v: &'v Value) -> Option<Constraint<'v>> {
    let Value::Call { func, args } = v else {
        return None;
    };
    let kind = match last(func) {
        "UniqueConstraint" => "unique",
        "ForeignKeyConstraint" => "foreignkey",
        "CheckConstraint" => "check",
        "PrimaryKeyConstraint" => "primary",
        _ => return None,
    };
    let name = kwarg(args, "name").and_then(|n| match m {
        Some(m) => name_of(m, n),
        None => match n {
            Value::Str(s) => Some(Name {
                name: s.clone(),
                f: false,
            }),
            Value::Call { func, args } if last(func) == "f" => args.first().and_then(|(_, v)| {
                v.as_str().map(|s| Name {
                    name: s.to_string(),
                    f: true,
                })
            }),
            _ => None,
        },
    });
    Some((kind, name, args.as_slice()))
}

/// The column names a constraint covers (its local columns for a foreign key).
fn constraint_columns(kind: &str, args: &[(Option<String>, Value)]) -> Vec<String> {
    let positional = args.iter().filter(|(k, _)| k.is_none()).map(|(_, v)| v);
    match kind {
        "foreignkey" => match positional.clone().next() {
            Some(Value::List(v) | Value::Tuple(v)) => v
                .iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        },
        "check" => Vec::new(),
        _ => positional
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
    }
}

fn list_names(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::List(items) | Value::Tuple(items)) => items
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

impl Store {
    fn find(&self, name: &str, schema: &Option<String>) -> Option<usize> {
        self.tables
            .iter()
            .position(|t| t.name == name && t.schema == *schema)
    }

    /// The definition of a table, or why it is not known.
    fn known(&self, name: &str, schema: &Option<String>) -> Result<usize, String> {
        let qualified = match schema {
            Some(s) => format!("{s}.{name}"),
            None => name.to_string(),
        };
        let Some(t) = self.find(name, schema) else {
            return Err(match &self.unknown {
                Some(why) => format!("the definition of `{qualified}` is not known ({why})"),
                None => format!("no earlier migration creates `{qualified}`"),
            });
        };
        if let Some(why) = self.tables[t].unknown.as_ref().or(self.unknown.as_ref()) {
            return Err(format!(
                "the definition of `{qualified}` is not known ({why})"
            ));
        }
        Ok(t)
    }

    /// `table` (else every table) is no longer known as defined. A named table the
    /// store does not hold has no definition to lose.
    fn mark(&mut self, table: Option<(String, Option<String>)>, why: String) {
        match table {
            Some((t, s)) => {
                if let Some(i) = self.find(&t, &s) {
                    self.tables[i].unknown.get_or_insert(why);
                }
            }
            None => {
                self.unknown.get_or_insert(why);
            }
        }
    }

    /// Replays one `upgrade()` operation (of an ancestor, or of the migration once
    /// its inverse is known). Never fails: what it cannot follow marks the table
    /// (or everything) unknown.
    fn apply(&mut self, m: &Migration, op: &OpCall) {
        let a = Args::new(m, op);
        let method = op.method.as_str();
        let place = || format!("`{}.{}` in {}", op.receiver, method, m.path.display());
        if IGNORED.contains(&method) || method == "bulk_insert" {
            return;
        }
        if method == "execute" {
            let sql = match a.get(0, "sqltext") {
                Some(Value::Str(s)) => Some(s.clone()),
                Some(Value::Call { func, args }) if last(func) == "text" => args
                    .first()
                    .and_then(|(_, v)| v.as_str().map(str::to_string)),
                _ => None,
            };
            let first = sql
                .as_deref()
                .and_then(|s| s.split_whitespace().next())
                .map(str::to_ascii_uppercase);
            if matches!(
                first.as_deref(),
                Some(
                    "INSERT"
                        | "UPDATE"
                        | "DELETE"
                        | "SELECT"
                        | "WITH"
                        | "SET"
                        | "GRANT"
                        | "REVOKE"
                        | "ANALYZE"
                        | "VACUUM"
                )
            ) {
                return;
            }
            let table = sql
                .as_deref()
                .and_then(crate::schema::replay::sql_table)
                .map(|t| (t, None));
            self.mark(table, format!("raw SQL, {}", place()));
            return;
        }
        let Ok((tname, schema)) = a.table() else {
            self.mark(
                None,
                format!("a table name that is not a literal, {}", place()),
            );
            return;
        };
        let ti = self.find(&tname, &schema);
        match (method, ti) {
            ("create_table", None) => {
                let mut items = Vec::new();
                let mut kwargs = Vec::new();
                for arg in &op.args {
                    match &arg.keyword {
                        None => items.push(arg.value.clone()),
                        Some(k) if k == "schema" => {}
                        Some(k) => kwargs.push((k.clone(), arg.value.clone())),
                    }
                }
                items.remove(0);
                self.tables.push(TableDef {
                    name: tname,
                    schema,
                    items,
                    kwargs,
                    indexes: Vec::new(),
                    unknown: None,
                });
            }
            ("create_table", Some(_)) | (_, None) => {
                let why = format!("{} conflicts with the history before it", place());
                self.mark(Some((tname, schema)), why);
            }
            ("drop_table", Some(t)) => {
                self.tables.remove(t);
            }
            ("rename_table", Some(t)) => {
                let Some(new) = a.name(1, "new_table_name") else {
                    self.mark(Some((tname, schema)), place());
                    return;
                };
                let old = std::mem::replace(&mut self.tables[t].name, new.name.clone());
                // Foreign keys that point at it follow it.
                for table in &mut self.tables {
                    for item in &mut table.items {
                        retarget(item, &old, &new.name);
                    }
                }
            }
            (_, Some(t)) => {
                if let Err(why) = self.table_op(&a, t) {
                    self.tables[t]
                        .unknown
                        .get_or_insert(format!("{}: {why}", place()));
                }
            }
        }
    }

    fn table_op(&mut self, a: &Args, t: usize) -> Result<(), String> {
        let table = &mut self.tables[t];
        match a.op.method.as_str() {
            "add_column" => {
                let col = a.get(1, "column").ok_or("no column")?;
                column_name(col).ok_or("a column that is not `sa.Column(...)`")?;
                table.items.push(col.clone());
            }
            "drop_column" => {
                let name = a.name(1, "column_name").ok_or("no column name")?.name;
                table.drop_column(&name).ok_or("no such column")?;
            }
            "alter_column" => {
                let name = a.name(1, "column_name").ok_or("no column name")?.name;
                let ci = table.column(&name).ok_or("no such column")?;
                let Value::Call { args, .. } = &mut table.items[ci] else {
                    return Err("no such column".into());
                };
                if let Some(v) = a.kw("nullable") {
                    set_kwarg(args, "nullable", v.clone());
                }
                if let Some(v) = a.kw("type_") {
                    set_type(args, v.clone());
                }
                if let Some(v) = a.kw("server_default") {
                    if *v == Value::None {
                        args.retain(|(k, _)| k.as_deref() != Some("server_default"));
                    } else {
                        set_kwarg(args, "server_default", v.clone());
                    }
                }
                if let Some(v) = a.kw("comment") {
                    set_kwarg(args, "comment", v.clone());
                }
                if let Some(new) = a.kw("new_column_name").and_then(|v| name_of(a.m, v)) {
                    if let Some(slot) = args.iter_mut().find(|(k, _)| k.is_none()) {
                        slot.1 = Value::Str(new.name.clone());
                    }
                    table.rename_column(&name, &new.name);
                }
            }
            "create_index" => {
                let name = a
                    .name(0, "index_name")
                    .ok_or("an index name that is not a literal")?;
                let columns = match a.get(2, "columns") {
                    Some(Value::List(v) | Value::Tuple(v)) => v.clone(),
                    Some(Value::Str(s)) => vec![Value::Str(s.clone())],
                    _ => return Err("index columns that are not a literal list".into()),
                };
                let mut kwargs = Vec::new();
                for arg in &a.op.args {
                    if let Some(k) = &arg.keyword
                        && !matches!(
                            k.as_str(),
                            "index_name" | "table_name" | "columns" | "schema" | "unique"
                        )
                    {
                        kwargs.push((k.clone(), arg.value.clone()));
                    }
                }
                table.indexes.push(IndexDef {
                    name,
                    columns,
                    unique: a.kw("unique").cloned(),
                    kwargs,
                });
            }
            "drop_index" => {
                let name = a
                    .name(0, "index_name")
                    .ok_or("an index name that is not a literal")?;
                let i = table
                    .indexes
                    .iter()
                    .position(|i| i.name.name == name.name)
                    .ok_or("no such index")?;
                table.indexes.remove(i);
            }
            "create_unique_constraint" | "create_primary_key" => {
                let name = canonical_name(a.m, a.get(0, "constraint_name"));
                let cols = a.get(2, "columns").ok_or("no columns")?;
                let mut args: Vec<(Option<String>, Value)> = match cols {
                    Value::List(v) | Value::Tuple(v) => {
                        v.iter().map(|c| (None, c.clone())).collect()
                    }
                    _ => return Err("columns that are not a literal list".into()),
                };
                args.push((Some("name".into()), name));
                let func = if a.op.method == "create_primary_key" {
                    "sa.PrimaryKeyConstraint"
                } else {
                    "sa.UniqueConstraint"
                };
                table.items.push(Value::Call {
                    func: func.into(),
                    args,
                });
            }
            "create_foreign_key" => {
                let name = canonical_name(a.m, a.get(0, "constraint_name"));
                let referent = a
                    .name(2, "referent_table")
                    .ok_or("a referred table that is not a literal")?;
                let ref_schema = a.kw("referent_schema").and_then(|v| v.as_str());
                let local = a.get(3, "local_cols").ok_or("no local columns")?.clone();
                let remote = list_names(a.get(4, "remote_cols"));
                let prefix = match ref_schema {
                    Some(s) => format!("{s}.{}", referent.name),
                    None => referent.name.clone(),
                };
                let mut args = vec![
                    (None, local),
                    (
                        None,
                        Value::List(
                            remote
                                .iter()
                                .map(|c| Value::Str(format!("{prefix}.{c}")))
                                .collect(),
                        ),
                    ),
                    (Some("name".into()), name),
                ];
                for arg in &a.op.args {
                    if let Some(k) = &arg.keyword
                        && matches!(
                            k.as_str(),
                            "onupdate" | "ondelete" | "deferrable" | "initially" | "match"
                        )
                    {
                        args.push((Some(k.clone()), arg.value.clone()));
                    }
                }
                table.items.push(Value::Call {
                    func: "sa.ForeignKeyConstraint".into(),
                    args,
                });
            }
            "create_check_constraint" => {
                let name = canonical_name(a.m, a.get(0, "constraint_name"));
                let cond = a.get(2, "condition").ok_or("no condition")?.clone();
                table.items.push(Value::Call {
                    func: "sa.CheckConstraint".into(),
                    args: vec![(None, cond), (Some("name".into()), name)],
                });
            }
            "drop_constraint" => {
                let name = a
                    .name(0, "constraint_name")
                    .ok_or("a constraint name that is not a literal")?;
                let i = table
                    .items
                    .iter()
                    .position(|v| {
                        constraint_of(Some(a.m), v)
                            .is_some_and(|(_, n, _)| n.is_some_and(|n| n.name == name.name))
                    })
                    .ok_or("a constraint the history does not name")?;
                table.items.remove(i);
            }
            other => return Err(format!("`{other}` is not followed")),
        }
        Ok(())
    }

    /// The operations that undo `op`, against the schema just before it.
    fn inverse(&self, m: &Migration, op: &OpCall) -> Result<Vec<Line>, String> {
        let a = Args::new(m, op);
        let method = op.method.as_str();
        let recv = op.receiver.as_str();
        let batch = a.batch();
        if !INVERTIBLE.contains(&method) {
            return Err("it cannot be reversed statically".into());
        }
        let (tname, schema) = a.table()?;
        // The table (and schema) arguments as the upgrade wrote them.
        let schema_kw = |k: &'static str| -> Vec<(Option<String>, Value)> {
            match (&schema, batch) {
                (Some(s), false) => vec![(Some(k.into()), Value::Str(s.clone()))],
                _ => Vec::new(),
            }
        };
        let table_pos = |args: &mut Vec<(Option<String>, Value)>| {
            if !batch {
                args.insert(0, (None, Value::Str(tname.clone())));
            }
        };
        let one = |method: &str, args: Vec<(Option<String>, Value)>| -> Result<Vec<Line>, String> {
            Ok(vec![call_line(recv, method, &args)?])
        };
        match method {
            "create_table" => {
                let mut args = vec![(None, Value::Str(tname.clone()))];
                args.extend(schema_kw("schema"));
                one("drop_table", args)
            }
            "drop_table" => {
                let t = &self.tables[self.known(&tname, &schema)?];
                let mut lines = create_table_lines(recv, t)?;
                for ix in &t.indexes {
                    lines.push(create_index_line(recv, false, t, ix)?);
                }
                Ok(lines)
            }
            "rename_table" => {
                let new = a
                    .name(1, "new_table_name")
                    .ok_or("the new name is not a literal")?;
                let mut args = vec![
                    (None, Value::Str(new.name)),
                    (None, Value::Str(tname.clone())),
                ];
                args.extend(schema_kw("schema"));
                one("rename_table", args)
            }
            "add_column" => {
                let col = a.get(1, "column").ok_or("no column")?;
                let name =
                    column_name(col).ok_or("the column is not a literal `sa.Column(...)`")?;
                let mut args = vec![(None, Value::Str(name.to_string()))];
                table_pos(&mut args);
                args.extend(schema_kw("schema"));
                one("drop_column", args)
            }
            "drop_column" => {
                let name = a
                    .name(1, "column_name")
                    .ok_or("the column name is not a literal")?
                    .name;
                let t = &self.tables[self.known(&tname, &schema)?];
                let ci = t
                    .column(&name)
                    .ok_or_else(|| format!("no earlier migration creates `{tname}.{name}`"))?;
                let mut args = vec![(None, t.items[ci].clone())];
                table_pos(&mut args);
                args.extend(schema_kw("schema"));
                let mut lines = vec![call_line(recv, "add_column", &args)?];
                // What dropping the column drops with it: its indexes and constraints.
                for ix in t
                    .indexes
                    .iter()
                    .filter(|ix| ix.columns.iter().any(|c| c.as_str() == Some(name.as_str())))
                {
                    lines.push(create_index_line(recv, batch, t, ix)?);
                }
                for item in &t.items {
                    if let Some((kind, cname, args)) = constraint_of(None, item)
                        && kind != "check"
                        && kind != "primary"
                        && constraint_columns(kind, args).contains(&name)
                    {
                        let cname =
                            cname.ok_or("an unnamed constraint on the column would be lost")?;
                        lines.push(create_constraint_line(recv, batch, t, kind, &cname, args)?);
                    }
                }
                Ok(lines)
            }
            "alter_column" => self.invert_alter(&a, &tname, &schema),
            "create_index" => {
                let name = a
                    .name(0, "index_name")
                    .ok_or("the index name is not a literal")?;
                let mut args = vec![(None, name.value(recv))];
                if !batch {
                    args.push((Some("table_name".into()), Value::Str(tname.clone())));
                }
                args.extend(schema_kw("schema"));
                one("drop_index", args)
            }
            "drop_index" => {
                let name = a
                    .name(0, "index_name")
                    .ok_or("the index name is not a literal")?;
                let t = &self.tables[self.known(&tname, &schema)?];
                let ix = t
                    .indexes
                    .iter()
                    .find(|i| i.name.name == name.name)
                    .ok_or_else(|| format!("no earlier migration creates index `{}`", name.name))?;
                Ok(vec![create_index_line(recv, batch, t, ix)?])
            }
            "create_unique_constraint"
            | "create_foreign_key"
            | "create_check_constraint"
            | "create_primary_key" => {
                let name = a
                    .name(0, "constraint_name")
                    .ok_or("the constraint has no name (the database names it, differently on each dialect)")?;
                let kind = match method {
                    "create_unique_constraint" => "unique",
                    "create_foreign_key" => "foreignkey",
                    "create_check_constraint" => "check",
                    _ => "primary",
                };
                let mut args = vec![(None, name.value(recv))];
                if !batch {
                    args.push((None, Value::Str(tname.clone())));
                }
                args.push((Some("type_".into()), Value::Str(kind.into())));
                args.extend(schema_kw("schema"));
                one("drop_constraint", args)
            }
            "drop_constraint" => {
                let name = a
                    .name(0, "constraint_name")
                    .ok_or("the constraint name is not a literal")?;
                let t = &self.tables[self.known(&tname, &schema)?];
                let found = t.items.iter().find_map(|v| {
                    constraint_of(None, v)
                        .filter(|(_, n, _)| n.as_ref().is_some_and(|n| n.name == name.name))
                });
                let (kind, _, args) = found.ok_or_else(|| {
                    format!("no earlier migration names constraint `{}`", name.name)
                })?;
                Ok(vec![create_constraint_line(
                    recv, batch, t, kind, &name, args,
                )?])
            }
            _ => Err("it cannot be reversed statically".into()),
        }
    }

    fn invert_alter(
        &self,
        a: &Args,
        tname: &str,
        schema: &Option<String>,
    ) -> Result<Vec<Line>, String> {
        const KNOWN: &[&str] = &[
            "table_name",
            "column_name",
            "nullable",
            "type_",
            "server_default",
            "comment",
            "new_column_name",
            "existing_type",
            "existing_nullable",
            "existing_server_default",
            "existing_comment",
            "schema",
            "existing_autoincrement",
            "autoincrement",
        ];
        if let Some(k) =
            a.op.args
                .iter()
                .filter_map(|x| x.keyword.as_deref())
                .find(|k| !KNOWN.contains(k))
        {
            return Err(format!("its `{k}=` cannot be reversed statically"));
        }
        let recv = a.op.receiver.as_str();
        let name = a
            .name(1, "column_name")
            .ok_or("the column name is not a literal")?
            .name;
        // The column as the history left it, when it is known.
        let before = self.known(tname, schema).ok().and_then(|t| {
            let t = &self.tables[t];
            t.column(&name).map(|ci| (t, &t.items[ci]))
        });
        let col_args = |k: &str| -> Option<Value> {
            let (_, Value::Call { args, .. }) = before? else {
                return None;
            };
            kwarg(args, k).cloned()
        };
        let old = |attr: &str| -> Result<Value, String> {
            if let Some(v) = a.kw(&format!("existing_{attr}")) {
                return Ok(v.clone());
            }
            let Some((t, col)) = before else {
                return Err(match self.known(tname, schema) {
                    Err(why) => why,
                    Ok(_) => format!("no earlier migration creates `{tname}.{name}`"),
                });
            };
            Ok(match attr {
                "type" => column_type(col).ok_or("the column's type before it is not known")?,
                "nullable" => Value::Bool(t.nullable(col)),
                "server_default" => col_args("server_default").unwrap_or(Value::None),
                "comment" => col_args("comment").unwrap_or(Value::None),
                _ => Value::None,
            })
        };
        let new_name = a
            .kw("new_column_name")
            .map(|v| name_of(a.m, v).ok_or("the new column name is not a literal"))
            .transpose()?;
        let mut args: Vec<(Option<String>, Value)> = Vec::new();
        if a.batch() {
            args.push((
                None,
                Value::Str(new_name.as_ref().map_or(name.clone(), |n| n.name.clone())),
            ));
        } else {
            args.push((None, Value::Str(tname.to_string())));
            args.push((
                None,
                Value::Str(new_name.as_ref().map_or(name.clone(), |n| n.name.clone())),
            ));
        }
        let mut kws: Vec<(Option<String>, Value)> = Vec::new();
        // existing_type: the type after the upgrade.
        match a.kw("type_") {
            Some(new) => {
                kws.push((Some("existing_type".into()), new.clone()));
                kws.push((Some("type_".into()), old("type")?));
            }
            None => {
                if let Ok(t) = old("type") {
                    kws.push((Some("existing_type".into()), t));
                }
            }
        }
        match a.kw("nullable") {
            Some(_) => kws.push((Some("nullable".into()), old("nullable")?)),
            None => {
                if let Ok(n) = old("nullable") {
                    kws.push((Some("existing_nullable".into()), n));
                }
            }
        }
        match a.kw("server_default") {
            Some(new) => {
                kws.push((Some("server_default".into()), old("server_default")?));
                kws.push((Some("existing_server_default".into()), new.clone()));
            }
            None => {
                if let Some(v) = a.kw("existing_server_default") {
                    kws.push((Some("existing_server_default".into()), v.clone()));
                }
            }
        }
        match a.kw("comment") {
            Some(new) => {
                kws.push((Some("comment".into()), old("comment")?));
                kws.push((Some("existing_comment".into()), new.clone()));
            }
            None => {
                if let Some(v) = a.kw("existing_comment") {
                    kws.push((Some("existing_comment".into()), v.clone()));
                }
            }
        }
        if new_name.is_some() {
            kws.push((Some("new_column_name".into()), Value::Str(name.clone())));
        }
        if let Some(v) = a
            .kw("existing_autoincrement")
            .or_else(|| a.kw("autoincrement"))
        {
            kws.push((Some("existing_autoincrement".into()), v.clone()));
        }
        if !a.batch()
            && let Some(s) = schema
        {
            kws.push((Some("schema".into()), Value::Str(s.clone())));
        }
        if kws.iter().all(|(k, _)| {
            k.as_deref()
                .is_some_and(|k| k.starts_with("existing_") || k == "schema")
        }) {
            return Err("it changes nothing migverify can reverse".into());
        }
        // Autogenerate's layout: the column on the first line, each keyword on its own.
        let mut first = vec![Piece::Text(format!("{recv}.alter_column("))];
        render_args(args.iter().map(|(k, v)| (k.as_deref(), v)), &mut first)?;
        first.push(Piece::Text(",".into()));
        let mut lines = vec![Line {
            depth: 0,
            continuation: false,
            code: first,
        }];
        let n = kws.len();
        for (i, (k, v)) in kws.iter().enumerate() {
            let mut code = Vec::new();
            render_args(std::iter::once((k.as_deref(), v)), &mut code)?;
            code.push(Piece::Text(if i + 1 == n { ")" } else { "," }.into()));
            lines.push(Line {
                depth: 0,
                continuation: true,
                code,
            });
        }
        Ok(lines)
    }
}

/// The operations a generated downgrade can reverse.
const INVERTIBLE: &[&str] = &[
    "create_table",
    "drop_table",
    "rename_table",
    "add_column",
    "drop_column",
    "alter_column",
    "create_index",
    "drop_index",
    "create_unique_constraint",
    "create_foreign_key",
    "create_check_constraint",
    "create_primary_key",
    "drop_constraint",
];

impl TableDef {
    fn column(&self, name: &str) -> Option<usize> {
        self.items.iter().position(|v| column_name(v) == Some(name))
    }

    /// A column's nullability as its definition says (a primary key is NOT NULL).
    fn nullable(&self, col: &Value) -> bool {
        let Value::Call { args, .. } = col else {
            return true;
        };
        if let Some(b) = kwarg(args, "nullable").and_then(Value::as_bool) {
            return b;
        }
        if kwarg(args, "primary_key").and_then(Value::as_bool) == Some(true) {
            return false;
        }
        let name = column_name(col).unwrap_or_default();
        !self.items.iter().any(|v| {
            constraint_of(None, v).is_some_and(|(k, _, a)| {
                k == "primary" && constraint_columns(k, a).iter().any(|c| c == name)
            })
        })
    }

    /// Drops a column with the indexes and constraints on it, as the databases do.
    fn drop_column(&mut self, name: &str) -> Option<()> {
        let ci = self.column(name)?;
        self.items.remove(ci);
        self.indexes
            .retain(|ix| !ix.columns.iter().any(|c| c.as_str() == Some(name)));
        self.items.retain(|v| {
            constraint_of(None, v)
                .is_none_or(|(k, _, a)| !constraint_columns(k, a).iter().any(|c| c == name))
        });
        Some(())
    }

    fn rename_column(&mut self, old: &str, new: &str) {
        let rename = |v: &mut Value| {
            if v.as_str() == Some(old) {
                *v = Value::Str(new.to_string());
            }
        };
        for ix in &mut self.indexes {
            ix.columns.iter_mut().for_each(rename);
        }
        for item in &mut self.items {
            let Value::Call { func, args } = item else {
                continue;
            };
            match last(func) {
                "UniqueConstraint" | "PrimaryKeyConstraint" => {
                    for (k, v) in args.iter_mut() {
                        if k.is_none() {
                            rename(v);
                        }
                    }
                }
                "ForeignKeyConstraint" => {
                    if let Some((_, Value::List(v) | Value::Tuple(v))) = args.first_mut() {
                        v.iter_mut().for_each(rename);
                    }
                }
                _ => {}
            }
        }
    }
}

/// Foreign keys (table-level and on columns) pointing at `old` point at `new`.
fn retarget(item: &mut Value, old: &str, new: &str) {
    let Value::Call { func, args } = item else {
        return;
    };
    let fix = |v: &mut Value| {
        if let Value::Str(s) = v
            && let Some(rest) = s.strip_prefix(old).and_then(|r| r.strip_prefix('.'))
        {
            *s = format!("{new}.{rest}");
        }
    };
    match last(func) {
        "ForeignKeyConstraint" => {
            if let Some((_, Value::List(v) | Value::Tuple(v))) =
                args.iter_mut().filter(|(k, _)| k.is_none()).nth(1)
            {
                v.iter_mut().for_each(fix);
            }
        }
        "Column" => {
            for (_, v) in args.iter_mut() {
                if let Value::Call { func, args } = v
                    && last(func) == "ForeignKey"
                    && let Some((_, target)) = args.first_mut()
                {
                    fix(target);
                }
            }
        }
        _ => {}
    }
}

/// A column definition's type: its second positional argument, unless that is a
/// `ForeignKey` (the type then comes from the referred column).
fn column_type(col: &Value) -> Option<Value> {
    let Value::Call { args, .. } = col else {
        return None;
    };
    let t = args.iter().filter(|(k, _)| k.is_none()).nth(1)?;
    match &t.1 {
        Value::Call { func, .. }
            if matches!(
                last(func),
                "ForeignKey" | "Sequence" | "Computed" | "Identity"
            ) =>
        {
            None
        }
        v => Some(v.clone()),
    }
}

fn set_type(args: &mut Vec<(Option<String>, Value)>, t: Value) {
    let positions: Vec<usize> = args
        .iter()
        .enumerate()
        .filter(|(_, (k, _))| k.is_none())
        .map(|(i, _)| i)
        .collect();
    match positions.get(1) {
        Some(&i) if !matches!(&args[i].1, Value::Call { func, .. } if matches!(last(func), "ForeignKey" | "Sequence" | "Computed" | "Identity")) =>
        {
            args[i].1 = t;
        }
        _ => {
            let at = positions.first().map_or(0, |p| p + 1);
            args.insert(at, (None, t));
        }
    }
}

/// `op.create_table(...)` as autogenerate lays it out: one item per line.
fn create_table_lines(recv: &str, t: &TableDef) -> Result<Vec<Line>, String> {
    let line = |code: Vec<Piece>| Line {
        depth: 0,
        continuation: false,
        code,
    };
    let mut lines = vec![line(vec![
        Piece::Text(format!("{recv}.create_table(")),
        Piece::Str(t.name.clone()),
        Piece::Text(",".into()),
    ])];
    let mut rest: Vec<Vec<Piece>> = Vec::new();
    for item in &t.items {
        let mut code = Vec::new();
        render(item, &mut code)?;
        rest.push(code);
    }
    for (k, v) in &t.kwargs {
        let mut code = Vec::new();
        render_args(std::iter::once((Some(k.as_str()), v)), &mut code)?;
        rest.push(code);
    }
    if let Some(s) = &t.schema {
        rest.push(vec![Piece::Text("schema=".into()), Piece::Str(s.clone())]);
    }
    let n = rest.len();
    for (i, mut code) in rest.into_iter().enumerate() {
        if i + 1 < n {
            code.push(Piece::Text(",".into()));
        }
        lines.push(line(code));
    }
    lines.push(line(vec![Piece::Text(")".into())]));
    Ok(lines)
}

fn create_index_line(recv: &str, batch: bool, t: &TableDef, ix: &IndexDef) -> Result<Line, String> {
    let mut args = vec![(None, ix.name.value(recv))];
    if !batch {
        args.push((None, Value::Str(t.name.clone())));
    }
    args.push((None, Value::List(ix.columns.clone())));
    args.push((
        Some("unique".into()),
        ix.unique.clone().unwrap_or(Value::Bool(false)),
    ));
    if let (Some(s), false) = (&t.schema, batch) {
        args.push((Some("schema".into()), Value::Str(s.clone())));
    }
    args.extend(ix.kwargs.iter().map(|(k, v)| (Some(k.clone()), v.clone())));
    call_line(recv, "create_index", &args)
}

/// The `op.create_*` call that recreates a table-level constraint.
fn create_constraint_line(
    recv: &str,
    batch: bool,
    t: &TableDef,
    kind: &str,
    name: &Name,
    cargs: &[(Option<String>, Value)],
) -> Result<Line, String> {
    let positional: Vec<&Value> = cargs
        .iter()
        .filter(|(k, _)| k.is_none())
        .map(|(_, v)| v)
        .collect();
    let mut args = vec![(None, name.value(recv))];
    let table = |args: &mut Vec<(Option<String>, Value)>| {
        if !batch {
            args.push((None, Value::Str(t.name.clone())));
        }
    };
    let schema = |args: &mut Vec<(Option<String>, Value)>, k: &str| {
        if let (Some(s), false) = (&t.schema, batch) {
            args.push((Some(k.into()), Value::Str(s.clone())));
        }
    };
    let method = match kind {
        "unique" | "primary" => {
            table(&mut args);
            args.push((None, Value::List(positional.into_iter().cloned().collect())));
            schema(&mut args, "schema");
            if kind == "unique" {
                "create_unique_constraint"
            } else {
                "create_primary_key"
            }
        }
        "check" => {
            table(&mut args);
            args.push((
                None,
                (*positional
                    .first()
                    .ok_or("a check constraint without condition")?)
                .clone(),
            ));
            schema(&mut args, "schema");
            "create_check_constraint"
        }
        _ => {
            table(&mut args);
            let local = (*positional.first().ok_or("a foreign key without columns")?).clone();
            let targets: Vec<String> = match positional.get(1) {
                Some(Value::List(v) | Value::Tuple(v)) => v
                    .iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect(),
                _ => Vec::new(),
            };
            // `schema.table.column` or `table.column`.
            let mut referred: Option<(Option<String>, String)> = None;
            let mut remote = Vec::new();
            for target in &targets {
                let mut parts: Vec<&str> = target.rsplitn(3, '.').collect();
                parts.reverse();
                let (s, tb, c) = match parts.as_slice() {
                    [s, tb, c] => (Some(s.to_string()), tb.to_string(), c.to_string()),
                    [tb, c] => (None, tb.to_string(), c.to_string()),
                    _ => return Err("a foreign key target that is not `table.column`".into()),
                };
                if referred
                    .as_ref()
                    .is_some_and(|r| *r != (s.clone(), tb.clone()))
                {
                    return Err("a foreign key to several tables".into());
                }
                referred = Some((s, tb));
                remote.push(Value::Str(c));
            }
            let (ref_schema, ref_table) = referred.ok_or("a foreign key without targets")?;
            args.push((None, Value::Str(ref_table)));
            args.push((None, local));
            args.push((None, Value::List(remote)));
            if let Some(s) = ref_schema {
                args.push((Some("referent_schema".into()), Value::Str(s)));
            }
            for (k, v) in cargs {
                if let Some(k) = k
                    && matches!(
                        k.as_str(),
                        "onupdate" | "ondelete" | "deferrable" | "initially" | "match"
                    )
                {
                    args.push((Some(k.clone()), v.clone()));
                }
            }
            schema(&mut args, "source_schema");
            "create_foreign_key"
        }
    };
    call_line(recv, method, &args)
}

fn call_line(recv: &str, method: &str, args: &[(Option<String>, Value)]) -> Result<Line, String> {
    let mut code = vec![Piece::Text(format!("{recv}.{method}("))];
    render_args(args.iter().map(|(k, v)| (k.as_deref(), v)), &mut code)?;
    code.push(Piece::Text(")".into()));
    Ok(Line {
        depth: 0,
        continuation: false,
        code,
    })
}

fn render_args<'v>(
    args: impl Iterator<Item = (Option<&'v str>, &'v Value)>,
    out: &mut Vec<Piece>,
) -> Result<(), String> {
    for (i, (k, v)) in args.enumerate() {
        if i > 0 {
            out.push(Piece::Text(", ".into()));
        }
        if let Some(k) = k {
            out.push(Piece::Text(format!("{k}=")));
        }
        render(v, out)?;
    }
    Ok(())
}

/// A value as Python source. Text the extractor kept as is (an expression that is
/// not a literal, a call, a name or a collection) is refused: it may name what only
/// its own file defines.
fn render(v: &Value, out: &mut Vec<Piece>) -> Result<(), String> {
    match v {
        Value::Str(s) => out.push(Piece::Str(s.clone())),
        Value::Int(i) => out.push(Piece::Text(i.to_string())),
        Value::Float(f) => out.push(Piece::Text(format!("{f:?}"))),
        Value::Bool(b) => out.push(Piece::Text(if *b { "True" } else { "False" }.into())),
        Value::None => out.push(Piece::Text("None".into())),
        Value::Name(n) => out.push(Piece::Text(n.clone())),
        Value::Call { func, args } => {
            out.push(Piece::Text(format!("{func}(")));
            render_args(args.iter().map(|(k, v)| (k.as_deref(), v)), out)?;
            out.push(Piece::Text(")".into()));
        }
        Value::List(items) | Value::Tuple(items) => {
            let tuple = matches!(v, Value::Tuple(_));
            out.push(Piece::Text(if tuple { "(" } else { "[" }.into()));
            render_args(items.iter().map(|v| (None, v)), out)?;
            if tuple && items.len() == 1 {
                out.push(Piece::Text(",".into()));
            }
            out.push(Piece::Text(if tuple { ")" } else { "]" }.into()));
        }
        Value::Other(text) => {
            return Err(format!(
                "`{}` is not a value migverify can copy",
                crate::text::truncate(text, 40)
            ));
        }
    }
    Ok(())
}

/// Adjacent text pieces joined (smaller plans, simpler snapshots).
fn merge_text(lines: Vec<Line>) -> Vec<Line> {
    lines
        .into_iter()
        .map(|mut l| {
            let mut code: Vec<Piece> = Vec::with_capacity(l.code.len());
            for p in l.code {
                match (code.last_mut(), p) {
                    (Some(Piece::Text(a)), Piece::Text(b)) => a.push_str(&b),
                    (_, p) => code.push(p),
                }
            }
            l.code = code;
            l
        })
        .collect()
}

/// The names a plan's code uses at its start (`sa` of `sa.Column`, `postgresql`
/// of `postgresql.JSONB`): each must be bound in the file the code goes into.
pub fn roots(plan: &Plan) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for l in &plan.lines {
        for p in &l.code {
            let Piece::Text(t) = p else { continue };
            let mut word = String::new();
            let mut prev: Option<char> = None;
            for c in t.chars().chain(std::iter::once(' ')) {
                if c.is_alphanumeric() || c == '_' {
                    word.push(c);
                    continue;
                }
                if !word.is_empty() {
                    let starts_expr = !matches!(prev, Some('.'))
                        && !word.chars().next().is_some_and(|c| c.is_ascii_digit());
                    // A keyword argument's name is not a reference.
                    if starts_expr
                        && c != '='
                        && !matches!(word.as_str(), "True" | "False" | "None" | "with" | "as")
                        && !out.contains(&word)
                    {
                        out.push(word.clone());
                    }
                    word.clear();
                }
                prev = Some(c);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::RevisionGraph;
    use crate::source::SourceFile;

    const HEAD: &str = "from alembic import op\nimport sqlalchemy as sa\n\n";

    fn file(rev: &str, down: Option<&str>, upgrade: &str, downgrade: Option<&str>) -> String {
        let down = down.map_or("None".to_string(), |d| format!("'{d}'"));
        let downgrade = downgrade.map_or(String::new(), |d| {
            format!("\n\ndef downgrade() -> None:\n{d}")
        });
        format!(
            "{HEAD}revision = '{rev}'\ndown_revision = {down}\n\n\ndef upgrade() -> None:\n{upgrade}{downgrade}"
        )
    }

    /// The last file of `files` fixed, or why not.
    fn fixed(files: &[(&str, String)]) -> Result<String, String> {
        let refs: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
        let ms = crate::rules::testing::migrations(&refs);
        let graph = RevisionGraph::build(&ms);
        let ctx = Context {
            migrations: &ms,
            graph: &graph,
            snapshot: None,
            database_origin: None,
            models: None,
            ignore_tables: &[],
            drift: Default::default(),
        };
        let (name, text) = files.last().unwrap();
        let m = ms.iter().find(|m| m.path == Path::new(name)).unwrap();
        let missing = m.downgrade.is_none();
        let mut f = vec![Finding::new(*name, None, "x")];
        attach(&ctx, &mut f, missing);
        let fix = f[0].fix.take().ok_or_else(|| f[0].help.clone().unwrap())?;
        let src = SourceFile::from_text(name.into(), text.clone());
        let edits = super::super::resolve(&fix.plan, &src)?;
        Ok(super::super::apply(&src.text, &edits))
    }

    use std::path::Path;

    fn base() -> (&'static str, String) {
        (
            "a1.py",
            file(
                "a1",
                None,
                "    op.create_table('users',\n    sa.Column('id', sa.Integer(), nullable=False),\n    sa.Column('email', sa.String(length=120), nullable=False, comment='login'),\n    sa.Column('name', sa.String(length=50), server_default='x', nullable=True),\n    sa.Column('team_id', sa.Integer(), nullable=True),\n    sa.PrimaryKeyConstraint('id'),\n    sa.UniqueConstraint('email', name=op.f('uq_users_email')),\n    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name='fk_users_team', ondelete='CASCADE'),\n    sa.CheckConstraint('id > 0', name='ck_users_id')\n    )\n    op.create_index('ix_users_name', 'users', ['name'], unique=False, postgresql_where=sa.text('name IS NOT NULL'))\n",
                Some("    op.drop_table('users')\n"),
            ),
        )
    }

    fn step(upgrade: &str) -> Result<String, String> {
        fixed(&[
            base(),
            (
                "b2.py",
                file(
                    "b2",
                    Some("a1"),
                    upgrade,
                    Some("    \"\"\"Downgrade schema.\"\"\"\n    # todo: check\n    pass\n"),
                ),
            ),
        ])
    }

    #[test]
    fn alter_column_is_reversed_with_existing_values() {
        insta::assert_snapshot!(step(
            "    op.alter_column('users', 'name', type_=sa.Text(), nullable=False, server_default=None, comment='who', new_column_name='full_name')\n"
        )
        .unwrap());
    }

    #[test]
    fn dropped_things_come_back_whole() {
        insta::assert_snapshot!(step(
            "    op.drop_constraint('fk_users_team', 'users', type_='foreignkey')\n    op.drop_constraint(op.f('uq_users_email'), 'users', type_='unique')\n    op.drop_constraint('ck_users_id', 'users', type_='check')\n    op.drop_column('users', 'name')\n    op.drop_table('users')\n"
        )
        .unwrap());
    }

    #[test]
    fn a_missing_downgrade_is_added_after_upgrade() {
        let out = fixed(&[
            base(),
            (
                "b2.py",
                file(
                    "b2",
                    Some("a1"),
                    "    \"\"\"Upgrade schema.\"\"\"\n    op.create_check_constraint('ck_name', 'users', 'length(name) > 1')\n    op.create_foreign_key(op.f('fk_x'), 'users', 'users', ['team_id'], ['id'], ondelete='SET NULL')",
                    None,
                ),
            ),
        ])
        .unwrap();
        insta::assert_snapshot!(out);
    }

    #[test]
    fn what_prevents_a_fix_is_named() {
        for (up, why) in [
            (
                "    op.execute('DROP TABLE users')\n",
                "`op.execute` at line 9: it cannot be reversed statically",
            ),
            (
                "    op.create_unique_constraint(None, 'users', ['name'])\n",
                "the constraint has no name",
            ),
            (
                "    op.drop_column('users', 'ghost')\n",
                "no earlier migration creates `users.ghost`",
            ),
            (
                "    op.drop_constraint('users_name_key', 'users', type_='unique')\n",
                "no earlier migration names constraint `users_name_key`",
            ),
            (
                "    op.alter_column('users', 'name', type_=sa.Text(), postgresql_using='name::text')\n",
                "its `postgresql_using=` cannot be reversed statically",
            ),
            (
                "    op.add_column(T, sa.Column('x', sa.Integer()))\n",
                "the table name is not a literal",
            ),
        ] {
            let err = step(up).unwrap_err();
            assert!(err.contains(why), "{up}: {err}");
        }
    }

    #[test]
    fn definitions_from_other_files_need_their_imports() {
        let a1 = (
            "a1.py",
            file(
                "a1",
                None,
                "    op.create_table('docs', sa.Column('id', sa.Integer()), sa.Column('body', postgresql.JSONB()))\n",
                Some("    op.drop_table('docs')\n"),
            )
            .replace("import sqlalchemy as sa\n", "import sqlalchemy as sa\nfrom sqlalchemy.dialects import postgresql\n"),
        );
        let b2 = (
            "b2.py",
            file(
                "b2",
                Some("a1"),
                "    op.drop_column('docs', 'body')\n",
                Some("    pass\n"),
            ),
        );
        let err = fixed(&[a1.clone(), b2]).unwrap_err();
        assert!(err.contains("needs `postgresql`"), "{err}");
        let b2 = (
            "b2.py",
            file(
                "b2",
                Some("a1"),
                "    op.drop_column('docs', 'body')\n",
                Some("    pass\n"),
            )
            .replace(
                "import sqlalchemy as sa\n",
                "import sqlalchemy as sa\nfrom sqlalchemy.dialects import postgresql\n",
            ),
        );
        assert!(
            fixed(&[a1, b2])
                .unwrap()
                .contains("op.add_column('docs', sa.Column('body', postgresql.JSONB()))")
        );
    }

    #[test]
    fn raw_sql_in_the_history_makes_only_its_table_unknown() {
        let a1 = base();
        let b2 = (
            "b2.py",
            file(
                "b2",
                Some("a1"),
                "    op.execute('ALTER TABLE teams ADD x int')\n    op.execute(\"UPDATE users SET name = 'a'\")\n",
                Some("    raise NotImplementedError()\n"),
            ),
        );
        let c3 = (
            "c3.py",
            file(
                "c3",
                Some("b2"),
                "    op.drop_column('users', 'name')\n",
                Some("    pass\n"),
            ),
        );
        assert!(fixed(&[a1.clone(), b2.clone(), c3]).is_ok());
        let c3 = (
            "c3.py",
            file(
                "c3",
                Some("b2"),
                "    op.execute('ALTER TABLE users ADD x int')\n",
                Some("    pass\n"),
            ),
        );
        assert!(
            fixed(&[a1.clone(), b2.clone(), c3])
                .unwrap_err()
                .contains("`op.execute` at line 9")
        );
        let b2 = (
            "b2.py",
            file(
                "b2",
                Some("a1"),
                "    op.execute('ALTER TABLE users ADD x int')\n",
                Some("    raise NotImplementedError()\n"),
            ),
        );
        let c3 = (
            "c3.py",
            file(
                "c3",
                Some("b2"),
                "    op.drop_column('users', 'name')\n",
                Some("    pass\n"),
            ),
        );
        let err = fixed(&[a1, b2, c3]).unwrap_err();
        assert!(
            err.contains("the definition of `users` is not known (raw SQL"),
            "{err}"
        );
    }
}
