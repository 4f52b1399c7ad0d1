//! A static replay of migrations: the `op.*` calls of each `upgrade()`, applied in
//! graph order to a [`Schema`] (empty, or the database's for a dry run).
//!
//! Modelled: `create_table`, `drop_table`, `rename_table`, `add_column`,
//! `drop_column`, `alter_column` (rename, nullable, type), `create_index`,
//! `drop_index`, `create_unique_constraint`, `create_foreign_key`, the same on a
//! `batch_alter_table` alias, and module-level string constants used as names.
//! `op.execute` and operations whose table name is not a literal are recorded as
//! [`Opaque`]: differences they might explain are reported as such. Operations that
//! fail against the schema (creating what exists, dropping what does not) are
//! [`Conflict`]s, which the dry run (MV204) reports.

use crate::diagnostic::Location;
use crate::migration::{Migration, OpCall, Phase, Value};

use super::objects::{self, Convention, ForeignKey, Unique, column_extras};
use super::{Column, Fold, Opaque, Schema, SqlType, Table, TableName};

/// An operation that would fail against the schema it is replayed over.
#[derive(Clone, Debug)]
pub struct Conflict {
    pub message: String,
    pub location: Location,
    /// The migration's revision.
    pub revision: String,
    pub table: String,
}

pub struct Replay {
    pub schema: Schema,
    pub conflicts: Vec<Conflict>,
    fold: Fold,
    /// Dropping a column also drops the names of the indexes and constraints on it
    /// ([`Replay::cascading`]).
    cascade: bool,
}

impl Replay {
    /// Starts from `schema` (empty for a replay from base).
    pub fn new(schema: Schema, fold: Fold) -> Replay {
        Replay {
            schema,
            conflicts: Vec::new(),
            fold,
            cascade: false,
        }
    }

    /// This replay with the databases' cascade: a dropped column takes the indexes
    /// and unique constraints on it with it, names included, so they can be created
    /// again (what a downgrade restoring a column does).
    pub fn cascading(mut self) -> Replay {
        self.cascade = true;
        self
    }

    /// Applies the `downgrade()` operations of `m`, in source order.
    pub fn apply_downgrade(&mut self, m: &Migration) {
        for op in m.ops.iter().filter(|o| o.phase == Phase::Downgrade) {
            self.op(m, op);
        }
    }

    /// Applies one operation of `m`.
    pub fn apply_op(&mut self, m: &Migration, op: &OpCall) {
        self.op(m, op);
    }

    /// Applies the `upgrade()` operations of `m`, in source order.
    pub fn apply(&mut self, m: &Migration) {
        for op in m.ops.iter().filter(|o| o.phase == Phase::Upgrade) {
            self.op(m, op);
        }
    }

    fn op(&mut self, m: &Migration, op: &OpCall) {
        let c = Call { m, op };
        let loc = Location {
            path: m.path.clone(),
            span: Some(op.span),
        };
        let method = op.method.as_str();
        if method == "execute" {
            let table = c.pos(0).and_then(|v| v.as_str()).and_then(sql_table);
            self.schema.opaque.push(Opaque {
                table,
                what: "raw SQL (`op.execute`)".into(),
                location: loc,
            });
            return;
        }
        if !MODELLED.contains(&method) {
            return;
        }
        // The table an operation works on: the batch's, or its first argument (the
        // second for `create_index`).
        let (table, rest) = match &op.batch {
            Some(batch) => {
                let t = batch
                    .iter()
                    .find(|a| a.keyword.as_deref() == Some("table_name"))
                    .or_else(|| batch.iter().find(|a| a.keyword.is_none()))
                    .and_then(|a| c.name(&a.value));
                let schema = batch
                    .iter()
                    .find(|a| a.keyword.as_deref() == Some("schema"))
                    .and_then(|a| c.name(&a.value));
                (t.map(|t| TableName::new(schema, t)), 0)
            }
            None => {
                let (pos, kw) = match method {
                    "create_index" | "create_unique_constraint" => (1, "table_name"),
                    "create_foreign_key" => (1, "source_table"),
                    "drop_index" => (usize::MAX, "table_name"),
                    "rename_table" => (0, "old_table_name"),
                    _ => (0, "table_name"),
                };
                let schema = c
                    .kw("schema")
                    .or_else(|| c.kw("source_schema"))
                    .and_then(|v| c.name(v));
                let t = c.kw(kw).or_else(|| c.pos(pos)).and_then(|v| c.name(v));
                (t.map(|t| TableName::new(schema, t)), 1)
            }
        };
        let Some(table) = table else {
            if method == "drop_index" {
                // `op.drop_index("ix")` without `table_name`: any table's index.
                if let Some(ix) = c.pos(0).and_then(|v| c.name(v)) {
                    let found = self.schema.tables.iter_mut().find_map(|t| {
                        let i = t.indexes.iter().position(|n| *n == ix)?;
                        Some(t.indexes.remove(i))
                    });
                    if found.is_none() {
                        self.conflict(m, &loc, "", format!("index `{ix}` does not exist"));
                    }
                }
                return;
            }
            self.schema.opaque.push(Opaque {
                table: None,
                what: format!("`{}` on a table whose name is not a literal", op.method),
                location: loc,
            });
            return;
        };
        let fold = self.fold;
        let tname = table.to_string();
        let ti = self.schema.table_index(&table, fold);
        match method {
            "create_table" => {
                if ti.is_some() {
                    self.conflict(m, &loc, &tname, format!("table `{tname}` already exists"));
                    return;
                }
                let mut t = Table::new(table, Some(loc.clone()));
                if let Some(v) = c.kw("comment") {
                    t.objects.comment = objects::comment_of(v);
                }
                let conv = Convention::default();
                let resolve = |_: &str| None;
                let tn = t.name.name.clone();
                for a in op.args.iter().filter(|a| a.keyword.is_none()).skip(1) {
                    let aloc = Location {
                        path: m.path.clone(),
                        span: Some(a.span),
                    };
                    if let Some(col) = c.column(&a.value, aloc.clone()) {
                        if let Value::Call { args, .. } = &a.value {
                            let extras = column_extras(args);
                            t.objects.add_column_extras(
                                &tn,
                                &col.name,
                                &extras,
                                &conv,
                                Some(aloc),
                                &resolve,
                            );
                        }
                        t.columns.push(col);
                    } else if t
                        .objects
                        .add_table_item(&tn, &a.value, &conv, Some(aloc), &|v| c.name(v))
                    {
                    } else if let Value::Call { func, args } = &a.value
                        && last(func) == "PrimaryKeyConstraint"
                    {
                        for (k, v) in args {
                            if k.is_none()
                                && let Some(name) = c.name(v)
                                && let Some(col) = t.column_mut(&name, fold)
                            {
                                col.nullable = Some(false);
                            }
                        }
                    }
                }
                self.schema.tables.push(t);
            }
            _ if ti.is_none() => {
                let what = if method == "create_foreign_key" {
                    "the foreign key's table"
                } else {
                    "table"
                };
                self.conflict(
                    m,
                    &loc,
                    &tname,
                    format!("`{method}`: {what} `{tname}` does not exist"),
                );
            }
            "drop_table" => {
                self.schema.tables.remove(ti.unwrap_or_default());
            }
            "rename_table" => {
                let Some(new) = c
                    .kw("new_table_name")
                    .or_else(|| c.pos(1))
                    .and_then(|v| c.name(v))
                else {
                    return;
                };
                let target = TableName::new(table.schema.clone(), new.clone());
                if self.schema.table_index(&target, fold).is_some() {
                    self.conflict(m, &loc, &tname, format!("table `{target}` already exists"));
                    return;
                }
                let t = &mut self.schema.tables[ti.unwrap_or_default()];
                t.name = target;
                t.origin = Some(loc);
            }
            _ => {
                let t = ti.unwrap_or_default();
                self.table_op(m, &c, &loc, t, rest);
            }
        }
    }

    /// Operations on an existing table (index `t`); `rest` is where the arguments
    /// after the table name start (0 on a batch alias).
    fn table_op(&mut self, m: &Migration, c: &Call, loc: &Location, t: usize, rest: usize) {
        let fold = self.fold;
        let cascade = self.cascade;
        let method = c.op.method.as_str();
        let tname = self.schema.tables[t].name.to_string();
        let column_arg = |k: &str| c.kw(k).or_else(|| c.pos(rest)).and_then(|v| c.name(v));
        match method {
            "add_column" => {
                let arg = c.op.args.iter().filter(|a| a.keyword.is_none()).nth(rest);
                let Some(col) = arg.and_then(|a| {
                    c.column(
                        &a.value,
                        Location {
                            path: m.path.clone(),
                            span: Some(a.span),
                        },
                    )
                }) else {
                    return;
                };
                if self.schema.tables[t].column(&col.name, fold).is_some() {
                    let msg = format!("column `{tname}.{}` already exists", col.name);
                    self.conflict(m, loc, &tname, msg);
                    return;
                }
                if let Some(Value::Call { args, .. }) = arg.map(|a| &a.value) {
                    let extras = column_extras(args);
                    let table = &mut self.schema.tables[t];
                    let tn = table.name.name.clone();
                    table.objects.add_column_extras(
                        &tn,
                        &col.name,
                        &extras,
                        &Convention::default(),
                        col.origin.clone(),
                        &|_| None,
                    );
                }
                self.schema.tables[t].columns.push(col);
            }
            "drop_column" | "alter_column" => {
                let Some(name) = column_arg("column_name") else {
                    return;
                };
                let table = &mut self.schema.tables[t];
                let Some(ci) = table
                    .columns
                    .iter()
                    .position(|x| fold.column_eq(&x.name, &name))
                else {
                    let msg = format!("`{method}`: column `{tname}.{name}` does not exist");
                    self.conflict(m, loc, &tname, msg);
                    return;
                };
                if method == "drop_column" {
                    let old = table.columns.remove(ci).name;
                    if cascade {
                        drop_dependent_names(table, &old);
                    }
                    table.objects.drop_column(&old);
                    return;
                }
                if let Some(new) = c.kw("new_column_name").and_then(|v| c.name(v)) {
                    if table.column(&new, fold).is_some() {
                        let msg = format!("column `{tname}.{new}` already exists");
                        self.conflict(m, loc, &tname, msg);
                        return;
                    }
                    let old = std::mem::replace(&mut table.columns[ci].name, new.clone());
                    table.objects.rename_column(&old, &new);
                }
                let cname = table.columns[ci].name.clone();
                if let Some(attrs) = table.objects.column_mut(&cname) {
                    if let Some(v) = c.kw("comment") {
                        attrs.comment = objects::comment_of(v);
                    }
                    if let Some(v) = c.kw("server_default") {
                        attrs.server_default = objects::server_default_of(v);
                    }
                }
                let col = &mut table.columns[ci];
                if let Some(v) = c.kw("nullable") {
                    col.nullable = v.as_bool();
                }
                if let Some(v) = c.kw("type_") {
                    col.type_ = SqlType::from_sqlalchemy(v);
                }
                col.origin = Some(loc.clone());
            }
            "create_index" | "create_unique_constraint" => {
                let name = c
                    .pos(0)
                    .or_else(|| c.kw("index_name"))
                    .and_then(|v| c.name(v));
                let cols = c.kw("columns").or_else(|| c.pos(rest + 1));
                let cols = match cols {
                    Some(Value::List(v) | Value::Tuple(v)) => v.clone(),
                    _ => Vec::new(),
                };
                let table = &self.schema.tables[t];
                let missing: Vec<String> = cols
                    .iter()
                    .filter_map(|v| c.name(v))
                    .filter(|n| table.column(n, fold).is_none())
                    .collect();
                if !missing.is_empty() {
                    let msg = format!(
                        "`{method}` on `{tname}`: no column {}",
                        missing
                            .iter()
                            .map(|n| format!("`{n}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                    self.conflict(m, loc, &tname, msg);
                    return;
                }
                if let Some(name) = &name {
                    if self.schema.tables[t].indexes.contains(name) {
                        let msg = format!("index or constraint `{name}` already exists");
                        self.conflict(m, loc, &tname, msg);
                        return;
                    }
                    self.schema.tables[t].indexes.push(name.clone());
                }
                let names: Vec<Option<String>> = cols.iter().map(|v| c.name(v)).collect();
                let objects = &mut self.schema.tables[t].objects;
                if method == "create_unique_constraint" && name.is_none() {
                    // `create_unique_constraint(None, ...)`: unnamed, as autogenerate
                    // writes it without a naming convention.
                    if names.iter().all(Option::is_some) {
                        objects.uniques.push(Unique {
                            name: None,
                            columns: names.into_iter().flatten().collect(),
                            origin: Some(loc.clone()),
                        });
                    } else {
                        objects.partial = true;
                    }
                    return;
                }
                let Some(name) = name else {
                    objects.partial = true;
                    return;
                };
                if method == "create_index" {
                    objects.indexes.push(objects::Index {
                        name: Some(name),
                        expression: names.iter().any(Option::is_none),
                        columns: names.into_iter().flatten().collect(),
                        unique: c.kw("unique").and_then(Value::as_bool) == Some(true),
                        origin: Some(loc.clone()),
                    });
                } else if names.iter().all(Option::is_some) {
                    objects.uniques.push(Unique {
                        name: Some(name),
                        columns: names.into_iter().flatten().collect(),
                        origin: Some(loc.clone()),
                    });
                } else {
                    objects.partial = true;
                }
            }
            "drop_index" => {
                let Some(name) = c
                    .pos(0)
                    .or_else(|| c.kw("index_name"))
                    .and_then(|v| c.name(v))
                else {
                    return;
                };
                let table = &mut self.schema.tables[t];
                table.objects.drop_named(&name, Some("index"));
                match table.indexes.iter().position(|n| *n == name) {
                    Some(i) => {
                        table.indexes.remove(i);
                    }
                    None => {
                        let msg = format!("index `{name}` does not exist on `{tname}`");
                        self.conflict(m, loc, &tname, msg);
                    }
                }
            }
            "create_foreign_key" => {
                let referent = c
                    .kw("referent_table")
                    .or_else(|| c.pos(rest + 1))
                    .and_then(|v| c.name(v));
                let schema = c.kw("referent_schema").and_then(|v| c.name(v));
                let list = |v: Option<&Value>| -> Option<Vec<String>> {
                    match v? {
                        Value::List(items) | Value::Tuple(items) => {
                            items.iter().map(|v| c.name(v)).collect()
                        }
                        _ => None,
                    }
                };
                let locals = list(c.kw("local_cols").or_else(|| c.pos(rest + 2)));
                let remotes = list(c.kw("remote_cols").or_else(|| c.pos(rest + 3)));
                let action = |k: &str| match c.kw(k) {
                    None | Some(Value::None) => Ok(None),
                    Some(Value::Str(s)) => Ok(Some(s.clone())),
                    Some(_) => Err(()),
                };
                let name = c
                    .pos(0)
                    .or_else(|| c.kw("constraint_name"))
                    .and_then(|v| c.name(v));
                match (
                    &referent,
                    locals,
                    remotes,
                    action("ondelete"),
                    action("onupdate"),
                ) {
                    (Some(r), Some(locals), Some(remotes), Ok(ondelete), Ok(onupdate)) => {
                        self.schema.tables[t].objects.foreign_keys.push(ForeignKey {
                            name,
                            columns: locals,
                            referred: TableName::new(schema.clone(), r.clone()),
                            referred_columns: remotes,
                            ondelete,
                            onupdate,
                            origin: Some(loc.clone()),
                        });
                    }
                    _ => self.schema.tables[t].objects.partial = true,
                }
                if let Some(r) = referent {
                    let rt = TableName::new(schema, r);
                    if self.schema.table_index(&rt, fold).is_none() {
                        let msg =
                            format!("`create_foreign_key`: referenced table `{rt}` does not exist");
                        self.conflict(m, loc, &tname, msg);
                    }
                }
            }
            "drop_constraint" => {
                let name = c
                    .pos(0)
                    .or_else(|| c.kw("constraint_name"))
                    .and_then(|v| c.name(v));
                let kind = c
                    .kw("type_")
                    .or_else(|| c.pos(rest + 1))
                    .and_then(|v| c.name(v));
                let table_name = self.schema.tables[t].name.name.clone();
                let objects = &mut self.schema.tables[t].objects;
                match name {
                    Some(name) => {
                        let kind = match kind.as_deref() {
                            Some("foreignkey") => Some("foreignkey"),
                            Some("unique") => Some("unique"),
                            Some(_) => return,
                            None => None,
                        };
                        if !objects.drop_named(&name, kind)
                            && !objects.drop_unnamed_by_server_name(&table_name, &name, kind)
                        {
                            // An unnamed constraint known by the name the database gave
                            // it: which one it was is not known.
                            objects.partial = true;
                        }
                        self.schema.tables[t].indexes.retain(|n| *n != name);
                    }
                    None => objects.partial = true,
                }
            }
            "create_table_comment" | "drop_table_comment" => {
                let objects = &mut self.schema.tables[t].objects;
                objects.comment = if method == "drop_table_comment" {
                    Some(None)
                } else {
                    c.kw("comment")
                        .or_else(|| c.pos(rest))
                        .and_then(objects::comment_of)
                };
            }
            _ => {}
        }
    }

    fn conflict(&mut self, m: &Migration, loc: &Location, table: &str, message: String) {
        self.conflicts.push(Conflict {
            message,
            location: loc.clone(),
            revision: m.revision_id().unwrap_or_default().to_string(),
            table: table.to_string(),
        });
    }
}

/// The names (in [`Table::indexes`]) of the indexes and unique constraints on
/// column `col`, which the database drops with it.
fn drop_dependent_names(table: &mut Table, col: &str) {
    let o = &table.objects;
    let on = |cols: &[String]| cols.iter().any(|c| c == col);
    let gone: Vec<String> = o
        .indexes
        .iter()
        .filter(|i| on(&i.columns))
        .filter_map(|i| i.name.clone())
        .chain(
            o.uniques
                .iter()
                .filter(|u| on(&u.columns))
                .filter_map(|u| u.name.clone()),
        )
        .collect();
    table.indexes.retain(|n| !gone.contains(n));
}

/// Why the effect of `op` cannot be replayed exactly, if it cannot: an operation
/// the replay does not model, or a name, column or list it cannot read. Operations
/// that change nothing the schema model holds (`create_check_constraint`, table
/// comments) are followed.
pub fn unreadable(m: &Migration, op: &OpCall) -> Option<String> {
    let c = Call { m, op };
    let method = op.method.as_str();
    let call = format!("`{}.{method}`", op.receiver);
    if method == "batch_alter_table" || method == "create_check_constraint" {
        return None;
    }
    if !MODELLED.contains(&method) {
        return Some(match method {
            "execute" => format!("raw SQL ({call}) cannot be replayed"),
            _ => format!("{call} cannot be replayed statically"),
        });
    }
    let name_at = |pos: usize, kw: &str| c.kw(kw).or_else(|| c.pos(pos)).and_then(|v| c.name(v));
    let rest = if op.batch.is_some() {
        let table = op.batch.as_ref().and_then(|b| {
            b.iter()
                .find(|a| a.keyword.as_deref() == Some("table_name"))
                .or_else(|| b.iter().find(|a| a.keyword.is_none()))
                .and_then(|a| c.name(&a.value))
        });
        if table.is_none() {
            return Some("a `batch_alter_table` whose table name is not a literal".into());
        }
        0
    } else {
        let (pos, kw) = match method {
            "create_index" | "create_unique_constraint" => (1, "table_name"),
            "create_foreign_key" => (1, "source_table"),
            "drop_index" => (usize::MAX, "table_name"),
            "rename_table" => (0, "old_table_name"),
            _ => (0, "table_name"),
        };
        if method != "drop_index" && name_at(pos, kw).is_none() {
            return Some(format!("{call} on a table whose name is not a literal"));
        }
        1
    };
    let not_literal = |what: &str| Some(format!("{call} with a {what} that is not a literal"));
    let nowhere = Location {
        path: std::path::PathBuf::new(),
        span: None,
    };
    let column_ok = |v: &Value| c.column(v, nowhere.clone()).is_some();
    match method {
        "create_table" => {
            for a in op.args.iter().filter(|a| a.keyword.is_none()).skip(1) {
                let ok = match &a.value {
                    Value::Call { func, .. } if last(func) == "Column" => column_ok(&a.value),
                    Value::Call { func, .. } => matches!(
                        last(func),
                        "PrimaryKeyConstraint"
                            | "UniqueConstraint"
                            | "ForeignKeyConstraint"
                            | "CheckConstraint"
                            | "Index"
                    ),
                    _ => false,
                };
                if !ok {
                    return not_literal("column or constraint");
                }
            }
        }
        "add_column"
            if !op
                .args
                .iter()
                .filter(|a| a.keyword.is_none())
                .nth(rest)
                .is_some_and(|a| column_ok(&a.value)) =>
        {
            return not_literal("column");
        }
        "drop_column" | "alter_column"
            if name_at(rest, "column_name").is_none()
                || c.kw("new_column_name").is_some_and(|v| c.name(v).is_none()) =>
        {
            return not_literal("column name");
        }
        "create_index" | "create_unique_constraint" => {
            let name = c.pos(0).or_else(|| c.kw("index_name"));
            if method == "create_index" && name.and_then(|v| c.name(v)).is_none()
                || name.is_some_and(|v| *v != Value::None && c.name(v).is_none())
            {
                return not_literal("name");
            }
            if !matches!(
                c.kw("columns").or_else(|| c.pos(rest + 1)),
                Some(Value::List(_) | Value::Tuple(_))
            ) {
                return not_literal("column list");
            }
        }
        "drop_index" | "drop_constraint" => {
            let name = c
                .pos(0)
                .or_else(|| c.kw("index_name"))
                .or_else(|| c.kw("constraint_name"));
            if name.and_then(|v| c.name(v)).is_none() {
                return not_literal("name");
            }
        }
        "rename_table" if name_at(1, "new_table_name").is_none() => {
            return not_literal("new table name");
        }
        _ => {}
    }
    None
}

/// The operations the replay models (others do not change tables or columns).
const MODELLED: &[&str] = &[
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
    "drop_constraint",
    "create_table_comment",
    "drop_table_comment",
];

fn last(dotted: &str) -> &str {
    dotted.rsplit('.').next().unwrap_or(dotted)
}

/// An operation call with its migration's constants at hand.
struct Call<'a> {
    m: &'a Migration,
    op: &'a OpCall,
}

impl Call<'_> {
    fn pos(&self, n: usize) -> Option<&Value> {
        self.op.positional(n).map(|a| &a.value)
    }

    fn kw(&self, k: &str) -> Option<&Value> {
        self.op.kwarg(k).map(|a| &a.value)
    }

    /// A name: a string literal or a module-level string constant.
    fn name(&self, v: &Value) -> Option<String> {
        match v {
            Value::Str(s) => Some(s.clone()),
            // `op.f("ix_users_email")`, `batch_op.f(...)`: a name taken as given.
            Value::Call { func, args }
                if func.rsplit('.').next() == Some("f")
                    && args.len() == 1
                    && args[0].0.is_none() =>
            {
                self.name(&args[0].1)
            }
            Value::Name(n) => self
                .m
                .constants
                .iter()
                .rev()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.clone()),
            _ => None,
        }
    }

    /// `sa.Column("name", sa.Type(), ..., nullable=False)`.
    fn column(&self, v: &Value, origin: Location) -> Option<Column> {
        column_from_call(v, origin, |v| self.name(v))
    }
}

/// A `Column(...)` call as a [`Column`]; `name` reads a name argument. Shared with
/// the model reader for `Table(...)` declarations.
pub(crate) fn column_from_call(
    v: &Value,
    origin: Location,
    name: impl Fn(&Value) -> Option<String>,
) -> Option<Column> {
    let Value::Call { func, args } = v else {
        return None;
    };
    if last(func) != "Column" {
        return None;
    }
    let mut positional = args.iter().filter(|(k, _)| k.is_none()).map(|(_, v)| v);
    let col_name = name(positional.next()?)?;
    let kw = |k: &str| {
        args.iter()
            .find(|(n, _)| n.as_deref() == Some(k))
            .map(|(_, v)| v)
    };
    let type_ = kw("type_")
        .or_else(|| positional.find(|v| is_type_expr(v)))
        .map(SqlType::from_sqlalchemy)
        .unwrap_or_else(SqlType::unknown);
    let primary = kw("primary_key").and_then(Value::as_bool) == Some(true);
    let nullable = match kw("nullable") {
        Some(v) => v.as_bool(),
        None => Some(!primary),
    };
    Some(Column {
        name: col_name,
        type_,
        nullable,
        origin: Some(origin),
    })
}

/// Whether a positional `Column` argument is its type (not a `ForeignKey`,
/// `Sequence`, `Identity`, `Computed`, or a name string).
pub(crate) fn is_type_expr(v: &Value) -> bool {
    let func = match v {
        Value::Name(n) => n,
        Value::Call { func, .. } => func,
        _ => return false,
    };
    !matches!(
        last(func),
        "ForeignKey" | "Sequence" | "Identity" | "Computed" | "CheckConstraint" | "FetchedValue"
    )
}

/// The table a raw SQL statement names, when it is plain: `ALTER TABLE users ...`,
/// `UPDATE users ...`, `INSERT INTO users ...`, `CREATE TABLE x`, `DROP TABLE x`.
pub(crate) fn sql_table(sql: &str) -> Option<String> {
    let words: Vec<&str> = sql.split_whitespace().collect();
    let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
    let after = |i: usize| -> Option<String> {
        let mut j = i + 1;
        // `IF [NOT] EXISTS`, `ONLY`
        while j < words.len() && matches!(upper[j].as_str(), "IF" | "NOT" | "EXISTS" | "ONLY") {
            j += 1;
        }
        let w = words.get(j)?;
        let w = w.trim_end_matches([';', '(', ',']);
        let w = w.rsplit('.').next().unwrap_or(w);
        let w = w.trim_matches(|ch| ch == '"' || ch == '`' || ch == '[' || ch == ']');
        (!w.is_empty()).then(|| w.to_string())
    };
    let first = upper.first()?.as_str();
    match first {
        "UPDATE" => after(0),
        "INSERT" | "DELETE" => upper
            .iter()
            .position(|w| w == "INTO" || w == "FROM")
            .and_then(after),
        "ALTER" | "CREATE" | "DROP" | "TRUNCATE" | "COMMENT" => {
            upper.iter().position(|w| w == "TABLE").and_then(after)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migration::parse_source;

    fn replay(src: &str) -> Replay {
        let m = parse_source("m.py".into(), src.as_bytes().to_vec());
        let mut r = Replay::new(Schema::default(), Fold::exact());
        r.apply(&m);
        r
    }

    const HEAD: &str = "revision = 'a'\ndown_revision = None\n";

    #[test]
    fn create_add_alter_drop() {
        let r = replay(&format!(
            "{HEAD}USERS = 'users'\n\
             def upgrade():\n    op.create_table(USERS, sa.Column('id', sa.Integer(), nullable=False),\n        sa.Column('name', sa.String(50)),\n        sa.PrimaryKeyConstraint('id'))\n\
             \x20   op.add_column('users', sa.Column('email', sa.String(length=120), nullable=False))\n\
             \x20   op.alter_column('users', 'name', nullable=False, new_column_name='full_name', type_=sa.String(80))\n\
             \x20   with op.batch_alter_table('users', schema=None) as batch_op:\n        batch_op.drop_column('email')\n        batch_op.add_column(sa.Column('age', sa.Integer()))\n\
             \x20   op.create_table('tmp', sa.Column('x', sa.Integer()))\n    op.rename_table('tmp', 'tmp2')\n    op.drop_table('tmp2')\n\
             def downgrade():\n    op.drop_table('users')\n"
        ));
        assert!(r.conflicts.is_empty(), "{:?}", r.conflicts);
        assert_eq!(r.schema.tables.len(), 1);
        let t = &r.schema.tables[0];
        assert_eq!(t.name.name, "users");
        let cols: Vec<(&str, Option<bool>, &str)> = t
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.nullable, c.type_.text.as_str()))
            .collect();
        assert_eq!(
            cols,
            vec![
                ("id", Some(false), "sa.Integer()"),
                ("full_name", Some(false), "sa.String(80)"),
                ("age", Some(true), "sa.Integer()"),
            ]
        );
    }

    #[test]
    fn conflicts_and_opaque() {
        let r = replay(&format!(
            "{HEAD}def upgrade():\n    op.add_column('ghost', sa.Column('x', sa.Integer()))\n\
             \x20   op.create_table('t', sa.Column('id', sa.Integer()))\n    op.create_table('t', sa.Column('id', sa.Integer()))\n\
             \x20   op.drop_column('t', 'nope')\n    op.execute('UPDATE t SET id = 1')\n    op.execute(text)\n\
             \x20   op.create_index('ix_t_x', 't', ['x'])\n    op.drop_index('ix_missing', table_name='t')\n"
        ));
        let msgs: Vec<&str> = r.conflicts.iter().map(|c| c.message.as_str()).collect();
        assert_eq!(
            msgs,
            vec![
                "`add_column`: table `ghost` does not exist",
                "table `t` already exists",
                "`drop_column`: column `t.nope` does not exist",
                "`create_index` on `t`: no column `x`",
                "index `ix_missing` does not exist on `t`",
            ]
        );
        let opaque: Vec<Option<&str>> =
            r.schema.opaque.iter().map(|o| o.table.as_deref()).collect();
        assert_eq!(opaque, vec![Some("t"), None]);
    }

    #[test]
    fn indexes_constraints_and_batch_forms() {
        let r = replay(&format!(
            "{HEAD}T = 'orders'\n\
             def upgrade():\n    op.create_table('customers', sa.Column('id', sa.Integer(), primary_key=True))\n\
             \x20   op.create_table(T, sa.Column('id', sa.Integer()), sa.Column('customer_id', sa.Integer()), schema='shop')\n\
             \x20   op.create_index('ix_orders_customer', T, ['customer_id'], schema='shop')\n\
             \x20   op.create_unique_constraint('uq_orders_id', T, ['id'], schema='shop')\n\
             \x20   op.create_foreign_key('fk_orders_customer', T, 'customers', ['customer_id'], ['id'], source_schema='shop')\n\
             \x20   op.create_foreign_key('fk_ghost', T, 'ghosts', ['customer_id'], ['id'], source_schema='shop')\n\
             \x20   op.drop_index('ix_orders_customer', table_name=T, schema='shop')\n\
             \x20   with op.batch_alter_table('customers') as b:\n\
             \x20       b.create_index('ix_customers_id', ['id'])\n\
             \x20       b.alter_column('id', new_column_name='customer_id')\n\
             \x20       b.create_unique_constraint('uq_missing', ['nope'])\n\
             \x20       b.drop_index('ix_customers_id')\n\
             \x20   op.rename_table('customers', 'clients')\n"
        ));
        let msgs: Vec<&str> = r.conflicts.iter().map(|c| c.message.as_str()).collect();
        assert_eq!(
            msgs,
            vec![
                "`create_foreign_key`: referenced table `ghosts` does not exist",
                "`create_unique_constraint` on `customers`: no column `nope`",
            ]
        );
        let names: Vec<String> = r.schema.tables.iter().map(|t| t.name.to_string()).collect();
        assert_eq!(names, vec!["clients", "shop.orders"]);
        assert_eq!(r.schema.tables[0].columns[0].name, "customer_id");
        assert!(r.schema.tables[0].indexes.is_empty());
        assert_eq!(r.schema.tables[1].indexes, vec!["uq_orders_id"]);
    }

    #[test]
    fn objects_as_autogenerate_writes_them() {
        let r = replay(&format!(
            "{HEAD}def upgrade():\n\
             \x20   op.create_table('accounts', sa.Column('id', sa.Integer(), nullable=False),\n\
             \x20       sa.Column('email', sa.String(120), nullable=False, comment='login'),\n\
             \x20       sa.Column('status', sa.String(20), server_default='active', nullable=False),\n\
             \x20       sa.PrimaryKeyConstraint('id'), sa.UniqueConstraint('email'), comment='people')\n\
             \x20   op.create_table('posts', sa.Column('id', sa.Integer(), nullable=False),\n\
             \x20       sa.Column('author_id', sa.Integer(), nullable=False),\n\
             \x20       sa.ForeignKeyConstraint(['author_id'], ['accounts.id'], ondelete='CASCADE'),\n\
             \x20       sa.UniqueConstraint('author_id', name=op.f('uq_posts_author_id')))\n\
             \x20   with op.batch_alter_table('accounts', schema=None) as batch_op:\n\
             \x20       batch_op.create_index(batch_op.f('ix_accounts_status'), ['status'], unique=False)\n\
             \x20       batch_op.drop_constraint(batch_op.f('accounts_email_key'), type_='unique')\n\
             \x20       batch_op.alter_column('status', server_default=None, comment='state')\n\
             \x20       batch_op.alter_column('email', new_column_name='login')\n\
             \x20   op.drop_table_comment('accounts')\n\
             \x20   with op.batch_alter_table('posts', schema=None) as batch_op:\n\
             \x20       batch_op.drop_constraint('posts_author_id_fkey', type_='foreignkey')\n\
             \x20       batch_op.create_foreign_key(None, 'accounts', ['author_id'], ['id'], onupdate='SET NULL')\n\
             \x20       batch_op.drop_constraint(batch_op.f('uq_posts_author_id'), type_='unique')\n"
        ));
        assert!(r.conflicts.is_empty(), "{:?}", r.conflicts);
        let a = &r.schema.tables[0].objects;
        assert!(!a.partial);
        assert_eq!(a.comment, Some(None));
        assert!(a.uniques.is_empty());
        assert_eq!(a.indexes[0].name.as_deref(), Some("ix_accounts_status"));
        let status = a.column("status").unwrap();
        assert_eq!(status.server_default, Some(None));
        assert_eq!(status.comment, Some(Some("state".into())));
        assert_eq!(
            a.column("login").unwrap().comment,
            Some(Some("login".into()))
        );
        let p = &r.schema.tables[1].objects;
        assert!(!p.partial);
        assert!(p.uniques.is_empty());
        assert_eq!(p.foreign_keys.len(), 1);
        assert_eq!(p.foreign_keys[0].onupdate.as_deref(), Some("SET NULL"));
        assert_eq!(p.foreign_keys[0].ondelete, None);
    }

    #[test]
    fn raw_sql_tables() {
        assert_eq!(
            sql_table("ALTER TABLE public.users ADD x int").as_deref(),
            Some("users")
        );
        assert_eq!(
            sql_table("insert into \"t\" values (1)").as_deref(),
            Some("t")
        );
        assert_eq!(
            sql_table("CREATE TABLE IF NOT EXISTS x (a int)").as_deref(),
            Some("x")
        );
        assert_eq!(sql_table("SELECT 1"), None);
    }
}
