//! The objects `alembic check` compares besides tables and columns: indexes, unique
//! constraints, foreign keys, table and column comments, and (when asked) server
//! defaults. Each [`super::Table`] carries them as [`Objects`]; the three sources fill
//! them (models, replayed migrations, database) and [`diff`] compares two tables'
//! objects with the semantics of Alembic's autogenerate
//! (`alembic/autogenerate/compare/{constraints,comments,server_defaults}.py`):
//!
//! - indexes and unique constraints are matched **by name**; an unnamed unique
//!   constraint on the left (the models) is matched by its set of columns, and a
//!   right-side unique constraint whose columns an unnamed left one has is never
//!   "removed"; an unnamed right-side unique constraint is never reported removed
//!   (Alembic only reports named ones); a matched index differs when its uniqueness
//!   or its (ordered) columns differ, a matched unique constraint when its column set
//!   differs; an index and a unique constraint of the same name are a change of kind;
//! - foreign keys are matched **by signature** (columns, referred table and columns,
//!   `ON DELETE`/`ON UPDATE` with `NO ACTION` as none), never by name;
//! - comments (not on SQLite, which keeps none) are compared with `""` as none;
//! - server defaults only when `[drift] compare-server-default` is on, and only
//!   where the result is certain: one side has a default and the other none, or both
//!   are plain literals (`'x'`, `0`) that differ. Two SQL expressions that differ in
//!   text (`now()`, `CURRENT_TIMESTAMP`) are not reported: PostgreSQL's Alembic
//!   evaluates them on the server to decide.
//!
//! Whatever a source cannot read is *unknown* and never compared: a `None` comment or
//! default here is "not known", `Some(None)` is "known to have none"; a side whose
//! indexes, constraints or foreign keys are only partly known ([`Objects::partial`])
//! never makes the other side's objects of those kinds "missing".

use crate::db::snapshot::Dialect;
use crate::diagnostic::Location;
use crate::migration::Value;

use super::TableName;

/// An index: `Index("ix", ...)`, `index=True`, `op.create_index`.
#[derive(Clone, Debug)]
pub struct Index {
    /// `None` when it cannot be told (an index without a name convention).
    pub name: Option<String>,
    /// Column names in order; an expression as its text.
    pub columns: Vec<String>,
    pub unique: bool,
    /// Holds an expression (`func.lower(...)`, a PostgreSQL expression): its columns
    /// are not compared.
    pub expression: bool,
    pub origin: Option<Location>,
}

/// A unique constraint: `UniqueConstraint(...)`, `unique=True`.
#[derive(Clone, Debug)]
pub struct Unique {
    pub name: Option<String>,
    pub columns: Vec<String>,
    pub origin: Option<Location>,
}

/// A foreign key constraint.
#[derive(Clone, Debug)]
pub struct ForeignKey {
    pub name: Option<String>,
    pub columns: Vec<String>,
    pub referred: TableName,
    pub referred_columns: Vec<String>,
    pub ondelete: Option<String>,
    pub onupdate: Option<String>,
    pub origin: Option<Location>,
}

/// What is known of one column besides its type and nullability.
#[derive(Clone, Debug)]
pub struct ColumnAttrs {
    pub column: String,
    /// `None`: unknown; `Some(None)`: no comment.
    pub comment: Option<Option<String>>,
    /// The server default as SQL text (`'abc'`, `0`, `now()`); `None`: unknown.
    pub server_default: Option<Option<String>>,
    pub primary_key: bool,
    pub origin: Option<Location>,
}

/// A table's indexes, constraints, comments and column attributes.
#[derive(Clone, Debug, Default)]
pub struct Objects {
    pub indexes: Vec<Index>,
    pub uniques: Vec<Unique>,
    pub foreign_keys: Vec<ForeignKey>,
    /// The table comment; `None`: unknown.
    pub comment: Option<Option<String>>,
    /// Per column, by name; a column not listed is unknown.
    pub columns: Vec<ColumnAttrs>,
    /// Some index, unique constraint or foreign key could not be read: the other
    /// side's are not reported as missing here.
    pub partial: bool,
    /// The foreign keys' `ON DELETE`/`ON UPDATE` are not known (an old snapshot).
    pub fk_options_unknown: bool,
}

impl Objects {
    /// Objects of a table whose declaration is fully read (comment: none so far).
    pub fn known() -> Objects {
        Objects {
            comment: Some(None),
            ..Objects::default()
        }
    }

    pub fn column(&self, name: &str) -> Option<&ColumnAttrs> {
        self.columns.iter().find(|c| c.column == name)
    }

    pub fn column_mut(&mut self, name: &str) -> Option<&mut ColumnAttrs> {
        self.columns.iter_mut().find(|c| c.column == name)
    }

    /// Sets (or adds) a column's attributes.
    pub fn set_column(&mut self, attrs: ColumnAttrs) {
        match self.columns.iter_mut().find(|c| c.column == attrs.column) {
            Some(c) => *c = attrs,
            None => self.columns.push(attrs),
        }
    }

    /// A column renamed: its attributes and its place in indexes and constraints.
    pub fn rename_column(&mut self, old: &str, new: &str) {
        let rename = |cols: &mut Vec<String>| {
            for c in cols.iter_mut().filter(|c| *c == old) {
                *c = new.to_string();
            }
        };
        for c in self.columns.iter_mut().filter(|c| c.column == old) {
            c.column = new.to_string();
        }
        for i in &mut self.indexes {
            rename(&mut i.columns);
        }
        for u in &mut self.uniques {
            rename(&mut u.columns);
        }
        for f in &mut self.foreign_keys {
            rename(&mut f.columns);
        }
    }

    /// A column dropped: its attributes, and the indexes and constraints on it go
    /// (as the database drops them).
    pub fn drop_column(&mut self, name: &str) {
        self.columns.retain(|c| c.column != name);
        self.indexes
            .retain(|i| !i.columns.iter().any(|c| c == name));
        self.uniques
            .retain(|u| !u.columns.iter().any(|c| c == name));
        self.foreign_keys
            .retain(|f| !f.columns.iter().any(|c| c == name));
    }

    /// Drops an unnamed unique constraint or foreign key by the name PostgreSQL
    /// gives it (`<table>_<columns>_key`, `<table>_<columns>_fkey`), as an
    /// autogenerated `drop_constraint` names it; whether one was found.
    pub fn drop_unnamed_by_server_name(
        &mut self,
        table: &str,
        name: &str,
        kind: Option<&str>,
    ) -> bool {
        let is = |k: &str| kind.is_none_or(|x| x == k);
        if is("unique")
            && let Some(i) = self.uniques.iter().position(|u| {
                u.name.is_none() && format!("{table}_{}_key", u.columns.join("_")) == name
            })
        {
            self.uniques.remove(i);
            return true;
        }
        if is("foreignkey")
            && let Some(i) = self.foreign_keys.iter().position(|f| {
                f.name.is_none() && format!("{table}_{}_fkey", f.columns.join("_")) == name
            })
        {
            self.foreign_keys.remove(i);
            return true;
        }
        false
    }

    /// Drops a named index or constraint; whether one was found.
    pub fn drop_named(&mut self, name: &str, kind: Option<&str>) -> bool {
        let before = self.indexes.len() + self.uniques.len() + self.foreign_keys.len();
        let is = |k: &str| kind.is_none_or(|x| x == k);
        if is("index") {
            self.indexes.retain(|i| i.name.as_deref() != Some(name));
        }
        if is("unique") {
            self.uniques.retain(|u| u.name.as_deref() != Some(name));
        }
        if is("foreignkey") {
            self.foreign_keys
                .retain(|f| f.name.as_deref() != Some(name));
        }
        before != self.indexes.len() + self.uniques.len() + self.foreign_keys.len()
    }
}

/// A comment argument: a string (`""` is none), or `None`.
pub fn comment_of(v: &Value) -> Option<Option<String>> {
    match v {
        Value::Str(s) => Some((!s.is_empty()).then(|| s.clone())),
        Value::None => Some(None),
        _ => None,
    }
}

/// A `server_default=` argument as SQL text: `"abc"` → `'abc'`, `sa.text("0")` →
/// `0`, `func.now()` → `now()`, `sa.false()` → `false`, `None` → none; anything else
/// is unknown.
pub fn server_default_of(v: &Value) -> Option<Option<String>> {
    match v {
        Value::None => Some(None),
        Value::Str(s) => Some(Some(format!("'{}'", s.replace('\'', "''")))),
        Value::Call { func, args } => {
            let last = func.rsplit('.').next().unwrap_or(func);
            if matches!(last, "text" | "literal_column" | "DefaultClause") {
                return match args.first() {
                    Some((None, Value::Str(s))) if last != "DefaultClause" => Some(Some(s.clone())),
                    Some((None, inner)) if last == "DefaultClause" => server_default_of(inner),
                    _ => None,
                };
            }
            if matches!(last, "true" | "false" | "null") && args.is_empty() {
                return Some(Some(last.to_string()));
            }
            // `func.now()`, `sa.func.current_timestamp()`
            let parts: Vec<&str> = func.split('.').collect();
            if parts.len() >= 2 && parts[parts.len() - 2] == "func" && args.is_empty() {
                return Some(Some(format!("{last}()")));
            }
            None
        }
        _ => None,
    }
}

/// `"users.id"` / `"shop.users.id"` → the table and column.
pub fn fk_target(s: &str) -> Option<(TableName, String)> {
    let mut parts: Vec<&str> = s.split('.').collect();
    if parts.len() < 2 || parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    let col = parts.pop()?.to_string();
    let table = parts.pop()?.to_string();
    let schema = (!parts.is_empty()).then(|| parts.join("."));
    Some((TableName::new(schema, table), col))
}

/// `MetaData(naming_convention=...)`: the templates for the kinds compared.
#[derive(Clone, Debug, PartialEq)]
pub struct Convention {
    pub ix: Option<String>,
    pub uq: Option<String>,
    pub fk: Option<String>,
}

impl Default for Convention {
    /// SQLAlchemy's default: `{"ix": "ix_%(column_0_label)s"}`.
    fn default() -> Convention {
        Convention {
            ix: Some("ix_%(column_0_label)s".into()),
            uq: None,
            fk: None,
        }
    }
}

impl Convention {
    /// The name SQLAlchemy gives an index (`"ix"`) or unique constraint (`"uq"`) on
    /// `columns` of `table`: the explicit one, unless the template uses
    /// `%(constraint_name)s`; else the template's; `None` when unnamed or when the
    /// template uses a token migverify does not know.
    pub fn name(
        &self,
        kind: &str,
        explicit: Option<&str>,
        table: &str,
        columns: &[String],
    ) -> Option<String> {
        let template = match kind {
            "ix" => self.ix.as_deref(),
            "uq" => self.uq.as_deref(),
            _ => self.fk.as_deref(),
        };
        let Some(template) = template else {
            return explicit.map(str::to_string);
        };
        let uses_name = template.contains("%(constraint_name)s");
        if explicit.is_some() && !uses_name {
            return explicit.map(str::to_string);
        }
        if explicit.is_none() && uses_name {
            return None;
        }
        let first = columns.first()?;
        let label = |c: &str| format!("{table}_{c}");
        let mut out = String::new();
        let mut rest = template;
        while let Some(i) = rest.find("%(") {
            out.push_str(&rest[..i]);
            let after = &rest[i + 2..];
            let end = after.find(")s")?;
            let token = &after[..end];
            let value = match token {
                "table_name" => table.to_string(),
                "constraint_name" => explicit?.to_string(),
                "column_0_name" => first.clone(),
                "column_0_label" => label(first),
                "column_0N_name" => columns.concat(),
                "column_0_N_name" => columns.join("_"),
                "column_0N_label" => columns.iter().map(|c| label(c)).collect::<String>(),
                "column_0_N_label" => columns
                    .iter()
                    .map(|c| label(c))
                    .collect::<Vec<_>>()
                    .join("_"),
                _ => return None,
            };
            out.push_str(&value);
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        Some(out)
    }
}

/// A foreign key declared on a column (`ForeignKey("users.id")`).
#[derive(Clone, Debug)]
pub struct ColumnForeignKey {
    /// `"users.id"`; a dotted Python name (`User.id`) starts with `@`.
    pub target: String,
    pub ondelete: Option<String>,
    pub onupdate: Option<String>,
}

/// What a `Column(...)` / `mapped_column(...)` call declares besides its type and
/// nullability.
#[derive(Clone, Debug, Default)]
pub struct ColumnExtras {
    pub comment: Option<Option<String>>,
    pub server_default: Option<Option<String>>,
    pub primary_key: bool,
    pub index: bool,
    pub unique: bool,
    pub foreign_keys: Vec<ColumnForeignKey>,
    /// Something about its index, uniqueness or foreign keys could not be read.
    pub unknown: bool,
}

/// Reads the extras of a column call's arguments.
pub fn column_extras(args: &[(Option<String>, Value)]) -> ColumnExtras {
    let kw = |k: &str| {
        args.iter()
            .find(|(n, _)| n.as_deref() == Some(k))
            .map(|(_, v)| v)
    };
    let flag = |k: &str, unknown: &mut bool| match kw(k) {
        None | Some(Value::None) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            *unknown = true;
            false
        }
    };
    let mut out = ColumnExtras {
        comment: kw("comment").map_or(Some(None), comment_of),
        server_default: kw("server_default").map_or(Some(None), server_default_of),
        primary_key: kw("primary_key").and_then(Value::as_bool) == Some(true),
        ..ColumnExtras::default()
    };
    let mut unknown = false;
    out.index = flag("index", &mut unknown);
    out.unique = flag("unique", &mut unknown);
    for (k, v) in args {
        if k.is_some() {
            continue;
        }
        let Value::Call { func, args: fargs } = v else {
            continue;
        };
        if func.rsplit('.').next() != Some("ForeignKey") {
            continue;
        }
        let fkw = |k: &str| {
            fargs
                .iter()
                .find(|(n, _)| n.as_deref() == Some(k))
                .map(|(_, v)| v)
        };
        let action = |k: &str, unknown: &mut bool| match fkw(k) {
            None | Some(Value::None) => None,
            Some(Value::Str(s)) => Some(s.clone()),
            Some(_) => {
                *unknown = true;
                None
            }
        };
        let target = match fargs.iter().find(|(n, _)| n.is_none()).map(|(_, v)| v) {
            Some(Value::Str(s)) => Some(s.clone()),
            Some(Value::Name(n)) => Some(format!("@{n}")),
            _ => None,
        };
        let Some(target) = target else {
            unknown = true;
            continue;
        };
        let ondelete = action("ondelete", &mut unknown);
        let onupdate = action("onupdate", &mut unknown);
        out.foreign_keys.push(ColumnForeignKey {
            target,
            ondelete,
            onupdate,
        });
    }
    out.unknown = unknown;
    out
}

impl Objects {
    /// Adds what a column declares on `table` (named by `conv`); a foreign key to a
    /// Python attribute (`User.id`) is resolved by `resolve` (`None`: unknown).
    pub fn add_column_extras(
        &mut self,
        table: &str,
        column: &str,
        extras: &ColumnExtras,
        conv: &Convention,
        origin: Option<Location>,
        resolve: &dyn Fn(&str) -> Option<String>,
    ) {
        self.set_column(ColumnAttrs {
            column: column.to_string(),
            comment: extras.comment.clone(),
            server_default: extras.server_default.clone(),
            primary_key: extras.primary_key,
            origin: origin.clone(),
        });
        self.partial |= extras.unknown;
        let cols = vec![column.to_string()];
        if extras.index {
            match conv.name("ix", None, table, &cols) {
                Some(name) => self.indexes.push(Index {
                    name: Some(name),
                    columns: cols.clone(),
                    unique: extras.unique,
                    expression: false,
                    origin: origin.clone(),
                }),
                None => self.partial = true,
            }
        } else if extras.unique {
            self.uniques.push(Unique {
                name: conv.name("uq", None, table, &cols),
                columns: cols.clone(),
                origin: origin.clone(),
            });
        }
        for fk in &extras.foreign_keys {
            let target = match fk.target.strip_prefix('@') {
                Some(r) => resolve(r),
                None => Some(fk.target.clone()),
            };
            match target.as_deref().and_then(fk_target) {
                Some((referred, rc)) => self.foreign_keys.push(ForeignKey {
                    name: None,
                    columns: cols.clone(),
                    referred,
                    referred_columns: vec![rc],
                    ondelete: fk.ondelete.clone(),
                    onupdate: fk.onupdate.clone(),
                    origin: origin.clone(),
                }),
                None => self.partial = true,
            }
        }
    }

    /// Adds a table-level `Index(...)`, `UniqueConstraint(...)` or
    /// `ForeignKeyConstraint(...)` call (in `Table(...)`, `__table_args__`,
    /// `op.create_table`); `column` reads a column argument. Whether it was one.
    pub fn add_table_item(
        &mut self,
        table: &str,
        v: &Value,
        conv: &Convention,
        origin: Option<Location>,
        column: &dyn Fn(&Value) -> Option<String>,
    ) -> bool {
        let Value::Call { func, args } = v else {
            return false;
        };
        let kind = func.rsplit('.').next().unwrap_or(func);
        if !matches!(kind, "Index" | "UniqueConstraint" | "ForeignKeyConstraint") {
            return false;
        }
        let kw = |k: &str| {
            args.iter()
                .find(|(n, _)| n.as_deref() == Some(k))
                .map(|(_, v)| v)
        };
        let mut positional = args.iter().filter(|(k, _)| k.is_none()).map(|(_, v)| v);
        let explicit = |v: Option<&Value>| -> Result<Option<String>, ()> {
            match v {
                None | Some(Value::None) => Ok(None),
                Some(Value::Str(s)) => Ok(Some(s.clone())),
                Some(Value::Call { func, args }) if func.rsplit('.').next() == Some("f") => {
                    match args.first() {
                        Some((None, Value::Str(s))) => Ok(Some(s.clone())),
                        _ => Err(()),
                    }
                }
                Some(_) => Err(()),
            }
        };
        match kind {
            "Index" => {
                let Ok(name) = explicit(positional.next()) else {
                    self.partial = true;
                    return true;
                };
                let mut cols = Vec::new();
                let mut expression = false;
                for c in positional {
                    match column(c) {
                        Some(n) => cols.push(n),
                        None => expression = true,
                    }
                }
                let unique = kw("unique").and_then(Value::as_bool) == Some(true);
                match conv.name("ix", name.as_deref(), table, &cols) {
                    Some(name) => self.indexes.push(Index {
                        name: Some(name),
                        columns: cols,
                        unique,
                        expression,
                        origin,
                    }),
                    None => self.partial = true,
                }
            }
            "UniqueConstraint" => {
                let Ok(name) = explicit(kw("name")) else {
                    self.partial = true;
                    return true;
                };
                let cols: Option<Vec<String>> = positional.map(column).collect();
                let Some(cols) = cols else {
                    self.partial = true;
                    return true;
                };
                self.uniques.push(Unique {
                    name: conv.name("uq", name.as_deref(), table, &cols),
                    columns: cols,
                    origin,
                });
            }
            _ => {
                let list = |v: Option<&Value>| -> Option<Vec<String>> {
                    match v? {
                        Value::List(items) | Value::Tuple(items) => {
                            items.iter().map(column).collect()
                        }
                        _ => None,
                    }
                };
                let locals = list(kw("columns").or_else(|| positional.next()));
                let remotes = list(kw("refcolumns").or_else(|| positional.next()));
                let action = |k: &str| match kw(k) {
                    None | Some(Value::None) => Ok(None),
                    Some(Value::Str(s)) => Ok(Some(s.clone())),
                    Some(_) => Err(()),
                };
                let (Some(locals), Some(remotes), Ok(ondelete), Ok(onupdate)) =
                    (locals, remotes, action("ondelete"), action("onupdate"))
                else {
                    self.partial = true;
                    return true;
                };
                let targets: Option<Vec<(TableName, String)>> =
                    remotes.iter().map(|r| fk_target(r)).collect();
                let Some(targets) = targets.filter(|t| !t.is_empty()) else {
                    self.partial = true;
                    return true;
                };
                self.foreign_keys.push(ForeignKey {
                    name: explicit(kw("name")).ok().flatten(),
                    columns: locals,
                    referred: targets[0].0.clone(),
                    referred_columns: targets.into_iter().map(|(_, c)| c).collect(),
                    ondelete,
                    onupdate,
                    origin,
                });
            }
        }
        true
    }
}

/// How a server default compares: a literal value or an expression.
#[derive(Debug, PartialEq)]
enum Norm {
    Literal(String),
    Expr(String),
}

/// Normalises a server default as Alembic's dialect comparisons do: outer
/// parentheses and PostgreSQL `::type` casts off, quotes off a string literal.
fn normalize_default(s: &str) -> Norm {
    let mut t = s.trim().to_string();
    loop {
        let before = t.clone();
        if let Some(inner) = t.strip_prefix('(').and_then(|x| x.strip_suffix(')'))
            && balanced(inner)
        {
            t = inner.trim().to_string();
        }
        if let Some(i) = cast_start(&t) {
            t = t[..i].trim().to_string();
        }
        if t == before {
            break;
        }
    }
    if t.len() >= 2 && t.starts_with('\'') && t.ends_with('\'') {
        let inner = &t[1..t.len() - 1];
        if !inner.replace("''", "").contains('\'') {
            return Norm::Literal(inner.replace("''", "'"));
        }
    }
    if t.parse::<f64>().is_ok() {
        return Norm::Literal(t);
    }
    Norm::Expr(t.to_ascii_lowercase().split_whitespace().collect())
}

/// Where a trailing PostgreSQL cast (`::character varying`, `::text[]`) starts.
fn cast_start(t: &str) -> Option<usize> {
    let i = t.rfind("::")?;
    let ty = &t[i + 2..];
    let ok = !ty.is_empty()
        && ty.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, ' ' | '_' | '"' | '.' | '[' | ']' | '(' | ')' | ',')
        })
        && balanced(ty);
    // Only outside a quoted literal.
    let quotes = t[..i].matches('\'').count();
    (ok && quotes.is_multiple_of(2)).then_some(i)
}

fn balanced(s: &str) -> bool {
    let mut depth = 0i32;
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => {}
        }
    }
    depth == 0 && !quoted
}

/// Whether two server defaults certainly differ (see the module docs).
pub fn defaults_differ(left: Option<&str>, right: Option<&str>) -> bool {
    let right = right.filter(|r| !r.eq_ignore_ascii_case("null"));
    let left = left.filter(|l| !l.eq_ignore_ascii_case("null"));
    match (left, right) {
        (None, None) => false,
        (Some(_), None) | (None, Some(_)) => true,
        (Some(a), Some(b)) => match (normalize_default(a), normalize_default(b)) {
            (Norm::Literal(x), Norm::Literal(y)) => match (x.parse::<f64>(), y.parse::<f64>()) {
                (Ok(p), Ok(q)) => p != q,
                _ => x != y,
            },
            _ => false,
        },
    }
}

/// One difference in a table's objects.
#[derive(Debug)]
pub struct ObjectDifference {
    /// The column it concerns, when one (comments, defaults).
    pub column: Option<String>,
    /// What differs, with `{left}` / `{right}` where the sides' labels go.
    pub message: String,
    pub left: Option<Location>,
    pub right: Option<Location>,
}

/// The drift rules' object settings: `[drift] compare-server-default`, and the
/// dialect of the database (read, or named by the project's URL).
#[derive(Clone, Copy, Debug, Default)]
pub struct DriftOptions {
    pub compare_server_default: bool,
    pub dialect: Option<Dialect>,
}

/// What the comparison needs to know about where the right side comes from.
#[derive(Clone, Copy, Debug, Default)]
pub struct ObjectOptions {
    /// The dialect of the right side (the database), or the project's when known.
    pub dialect: Option<Dialect>,
    /// Compare server defaults (`[drift] compare-server-default`).
    pub server_defaults: bool,
    /// Column names compare without case.
    pub columns_ci: bool,
}

fn cols(c: &[String]) -> String {
    c.iter()
        .map(|c| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn sorted(c: &[String], ci: bool) -> Vec<String> {
    let mut v: Vec<String> = c
        .iter()
        .map(|x| {
            if ci {
                x.to_ascii_lowercase()
            } else {
                x.clone()
            }
        })
        .collect();
    v.sort();
    v
}

fn ordered(c: &[String], ci: bool) -> Vec<String> {
    c.iter()
        .map(|x| {
            if ci {
                x.to_ascii_lowercase()
            } else {
                x.clone()
            }
        })
        .collect()
}

#[derive(Clone, Copy)]
enum Named<'a> {
    Index(&'a Index),
    Unique(&'a Unique),
}

impl<'a> Named<'a> {
    fn origin(self) -> Option<Location> {
        match self {
            Named::Index(i) => i.origin.clone(),
            Named::Unique(u) => u.origin.clone(),
        }
    }

    fn describe(self, name: &str, table: &str) -> String {
        match self {
            Named::Index(i) => format!(
                "{}index `{name}` on `{table}` ({})",
                if i.unique { "unique " } else { "" },
                cols(&i.columns)
            ),
            Named::Unique(u) => {
                format!(
                    "unique constraint `{name}` on `{table}` ({})",
                    cols(&u.columns)
                )
            }
        }
    }
}

/// The differences between the objects of `left` and `right`, one table both sides
/// have (`table` names it in messages). Messages hold `{left}` and `{right}`.
pub fn diff(
    table: &str,
    left: &Objects,
    right: &Objects,
    opts: ObjectOptions,
) -> Vec<ObjectDifference> {
    let mut out = Vec::new();
    let ci = opts.columns_ci;
    let mysql = matches!(opts.dialect, Some(Dialect::Mysql | Dialect::Mariadb));
    let sqlite = opts.dialect == Some(Dialect::Sqlite);
    let name_eq = |a: &str, b: &str| {
        if ci {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        }
    };

    // MySQL creates an index for each foreign key (named after the constraint or the
    // column): Alembic leaves such indexes out on both sides.
    let mysql_implicit = |i: &Index, fks: &[ForeignKey]| {
        mysql
            && !i.unique
            && i.name.as_deref().is_some_and(|n| {
                i.columns.iter().any(|c| name_eq(c, n))
                    || fks
                        .iter()
                        .any(|f| f.name.as_deref().is_some_and(|f| name_eq(f, n)))
            })
    };
    let right_implicit: Vec<&str> = right
        .indexes
        .iter()
        .filter(|i| mysql_implicit(i, &right.foreign_keys))
        .filter_map(|i| i.name.as_deref())
        .collect();

    let mut lnamed: Vec<(&str, Named)> = Vec::new();
    let mut lunnamed: Vec<&Unique> = Vec::new();
    for i in &left.indexes {
        match i.name.as_deref() {
            Some(n) if right_implicit.iter().any(|r| name_eq(r, n)) => {}
            Some(n) => lnamed.push((n, Named::Index(i))),
            None => {}
        }
    }
    for u in &left.uniques {
        match u.name.as_deref() {
            Some(n) => lnamed.push((n, Named::Unique(u))),
            None => lunnamed.push(u),
        }
    }
    let mut rnamed: Vec<(&str, Named)> = Vec::new();
    for i in &right.indexes {
        if let Some(n) = i.name.as_deref()
            && !right_implicit.contains(&n)
        {
            rnamed.push((n, Named::Index(i)));
        }
    }
    // An unnamed unique constraint on the right (replayed migrations) gets the name
    // the database will give it: PostgreSQL `<table>_<columns>_key`, MySQL its first
    // column. SQLite keeps none, and Alembic then never reports it removed.
    let synthesized: Vec<Option<String>> = right
        .uniques
        .iter()
        .map(|u| match (&u.name, opts.dialect) {
            (Some(_), _) => None,
            (None, Some(Dialect::Postgresql)) => Some(format!(
                "{}_{}_key",
                table.rsplit('.').next().unwrap_or(table),
                u.columns.join("_")
            ))
            .filter(|n| n.len() <= 63),
            (None, Some(Dialect::Mysql | Dialect::Mariadb)) => u.columns.first().cloned(),
            _ => None,
        })
        .collect();
    for (u, synth) in right.uniques.iter().zip(&synthesized) {
        if let Some(n) = u.name.as_deref().or(synth.as_deref()) {
            rnamed.push((n, Named::Unique(u)));
        }
    }
    let lunnamed_sigs: Vec<Vec<String>> = lunnamed.iter().map(|u| sorted(&u.columns, ci)).collect();
    fn find<'a>(
        v: &[(&str, Named<'a>)],
        n: &str,
        eq: impl Fn(&str, &str) -> bool,
    ) -> Option<Named<'a>> {
        v.iter().find(|(x, _)| eq(x, n)).map(|(_, o)| *o)
    }

    // Removed: named on the right only.
    if !left.partial {
        for (name, obj) in &rnamed {
            if find(&lnamed, name, name_eq).is_some() {
                continue;
            }
            if let Named::Unique(u) = obj
                && lunnamed_sigs.contains(&sorted(&u.columns, ci))
            {
                continue;
            }
            if matches!(obj, Named::Index(i) if i.expression) {
                continue;
            }
            out.push(ObjectDifference {
                column: None,
                message: format!(
                    "{} is in {{right}} but not in {{left}}",
                    obj.describe(name, table)
                ),
                left: None,
                right: obj.origin(),
            });
        }
    }
    // Both: compare.
    for (name, l) in &lnamed {
        let Some(r) = find(&rnamed, name, name_eq) else {
            continue;
        };
        let changed = match (*l, r) {
            (Named::Index(a), Named::Index(b)) => {
                a.unique != b.unique
                    || (!(a.expression || b.expression)
                        && ordered(&a.columns, ci) != ordered(&b.columns, ci))
            }
            (Named::Unique(a), Named::Unique(b)) => {
                sorted(&a.columns, ci) != sorted(&b.columns, ci)
            }
            // MySQL keeps no difference between a unique index and a unique constraint.
            (Named::Index(a), Named::Unique(b)) | (Named::Unique(b), Named::Index(a)) if mysql => {
                !a.unique || ordered(&a.columns, ci) != ordered(&b.columns, ci)
            }
            _ => true,
        };
        if changed {
            out.push(ObjectDifference {
                column: None,
                message: format!(
                    "{} in {{left}} is {} in {{right}}",
                    l.describe(name, table),
                    r.describe(name, table)
                ),
                left: l.origin(),
                right: r.origin(),
            });
        }
    }
    // Added: named on the left only, then unnamed unique constraints.
    if !right.partial {
        for (name, obj) in &lnamed {
            if find(&rnamed, name, name_eq).is_some() {
                continue;
            }
            // SQLite keeps no constraint names (as migverify captures it): a unique
            // constraint with the same columns is the same one.
            if let Named::Unique(u) = obj
                && (sqlite || mysql)
                && right
                    .uniques
                    .iter()
                    .any(|r| sorted(&r.columns, ci) == sorted(&u.columns, ci))
            {
                continue;
            }
            if matches!(obj, Named::Index(i) if i.expression) {
                continue;
            }
            out.push(ObjectDifference {
                column: None,
                message: format!(
                    "{} is in {{left}} but not in {{right}}",
                    obj.describe(name, table)
                ),
                left: obj.origin(),
                right: None,
            });
        }
        for u in &lunnamed {
            let sig = sorted(&u.columns, ci);
            let matched = right.uniques.iter().any(|r| sorted(&r.columns, ci) == sig)
                || (mysql
                    && right
                        .indexes
                        .iter()
                        .any(|r| r.unique && sorted(&r.columns, ci) == sig));
            if !matched {
                out.push(ObjectDifference {
                    column: None,
                    message: format!(
                        "unique constraint on `{table}` ({}) is in {{left}} but not in {{right}}",
                        cols(&u.columns)
                    ),
                    left: u.origin.clone(),
                    right: None,
                });
            }
        }
    }

    // Foreign keys, by signature.
    let options = !(left.fk_options_unknown || right.fk_options_unknown);
    let action = |a: &Option<String>| -> Option<String> {
        let a = a.as_deref()?.trim().to_ascii_lowercase();
        if a == "no action" || (mysql && a == "restrict") {
            None
        } else {
            Some(a)
        }
    };
    let sig = |f: &ForeignKey| {
        (
            ordered(&f.columns, ci),
            f.referred.schema.clone(),
            f.referred.name.to_ascii_lowercase(),
            ordered(&f.referred_columns, ci),
            if options { action(&f.ondelete) } else { None },
            if options { action(&f.onupdate) } else { None },
        )
    };
    let describe_fk = |f: &ForeignKey| {
        let mut s = format!(
            "foreign key on `{table}` ({}) → `{}` ({})",
            cols(&f.columns),
            f.referred,
            cols(&f.referred_columns)
        );
        if options {
            if let Some(d) = action(&f.ondelete) {
                s.push_str(&format!(" ON DELETE {}", d.to_ascii_uppercase()));
            }
            if let Some(u) = action(&f.onupdate) {
                s.push_str(&format!(" ON UPDATE {}", u.to_ascii_uppercase()));
            }
        }
        s
    };
    let rsigs: Vec<_> = right.foreign_keys.iter().map(sig).collect();
    let lsigs: Vec<_> = left.foreign_keys.iter().map(sig).collect();
    if !left.partial {
        for (f, s) in right.foreign_keys.iter().zip(&rsigs) {
            if !lsigs.contains(s) {
                out.push(ObjectDifference {
                    column: None,
                    message: format!("{} is in {{right}} but not in {{left}}", describe_fk(f)),
                    left: None,
                    right: f.origin.clone(),
                });
            }
        }
    }
    if !right.partial {
        for (f, s) in left.foreign_keys.iter().zip(&lsigs) {
            if !rsigs.contains(s) {
                out.push(ObjectDifference {
                    column: None,
                    message: format!("{} is in {{left}} but not in {{right}}", describe_fk(f)),
                    left: f.origin.clone(),
                    right: None,
                });
            }
        }
    }

    // Comments: SQLite keeps none, and Alembic does not compare them there.
    if !sqlite
        && let (Some(a), Some(b)) = (&left.comment, &right.comment)
        && a != b
    {
        out.push(ObjectDifference {
            column: None,
            message: format!(
                "the comment of table `{table}` is {} in {{left}} but {} in {{right}}",
                quoted(a.as_deref()),
                quoted(b.as_deref())
            ),
            left: None,
            right: None,
        });
    }
    for lc in &left.columns {
        let Some(rc) = right
            .columns
            .iter()
            .find(|r| name_eq(&r.column, &lc.column))
        else {
            continue;
        };
        if !sqlite
            && let (Some(a), Some(b)) = (&lc.comment, &rc.comment)
            && a != b
        {
            out.push(ObjectDifference {
                column: Some(lc.column.clone()),
                message: format!(
                    "the comment of column `{table}.{}` is {} in {{left}} but {} in {{right}}",
                    lc.column,
                    quoted(a.as_deref()),
                    quoted(b.as_deref())
                ),
                left: lc.origin.clone(),
                right: rc.origin.clone(),
            });
        }
        if opts.server_defaults
            && !(lc.primary_key || rc.primary_key)
            && let (Some(a), Some(b)) = (&lc.server_default, &rc.server_default)
            // A PostgreSQL SERIAL column's sequence is not a default Alembic compares.
            && !b.as_deref().is_some_and(|b| b.starts_with("nextval("))
            && defaults_differ(a.as_deref(), b.as_deref())
        {
            out.push(ObjectDifference {
                column: Some(lc.column.clone()),
                message: format!(
                    "the server default of column `{table}.{}` is {} in {{left}} but {} in {{right}}",
                    lc.column,
                    code(a.as_deref()),
                    code(b.as_deref())
                ),
                left: lc.origin.clone(),
                right: rc.origin.clone(),
            });
        }
    }
    out
}

fn quoted(s: Option<&str>) -> String {
    match s {
        Some(s) => format!("{:?}", crate::text::truncate(s, 80)),
        None => "none".into(),
    }
}

fn code(s: Option<&str>) -> String {
    match s {
        Some(s) => format!("`{}`", crate::text::truncate(s, 80)),
        None => "none".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ix(name: &str, cols: &[&str], unique: bool) -> Index {
        Index {
            name: Some(name.into()),
            columns: cols.iter().map(|c| c.to_string()).collect(),
            unique,
            expression: false,
            origin: None,
        }
    }

    fn uq(name: Option<&str>, cols: &[&str]) -> Unique {
        Unique {
            name: name.map(str::to_string),
            columns: cols.iter().map(|c| c.to_string()).collect(),
            origin: None,
        }
    }

    fn fk(cols: &[&str], table: &str, ondelete: Option<&str>) -> ForeignKey {
        ForeignKey {
            name: None,
            columns: cols.iter().map(|c| c.to_string()).collect(),
            referred: TableName::new(None, table),
            referred_columns: vec!["id".into()],
            ondelete: ondelete.map(str::to_string),
            onupdate: None,
            origin: None,
        }
    }

    fn msgs(l: &Objects, r: &Objects, dialect: Option<Dialect>) -> Vec<String> {
        let opts = ObjectOptions {
            dialect,
            server_defaults: true,
            columns_ci: false,
        };
        diff("t", l, r, opts)
            .into_iter()
            .map(|d| d.message.replace("{left}", "L").replace("{right}", "R"))
            .collect()
    }

    #[test]
    fn indexes_by_name() {
        let mut l = Objects::known();
        let mut r = Objects::known();
        assert!(msgs(&l, &r, None).is_empty());
        l.indexes.push(ix("ix_a", &["a"], false));
        r.indexes.push(ix("ix_b", &["b"], false));
        r.indexes.push(ix("ix_c", &["c"], false));
        l.indexes.push(ix("ix_c", &["c"], true));
        assert_eq!(
            msgs(&l, &r, None),
            vec![
                "index `ix_b` on `t` (`b`) is in R but not in L",
                "unique index `ix_c` on `t` (`c`) in L is index `ix_c` on `t` (`c`) in R",
                "index `ix_a` on `t` (`a`) is in L but not in R",
            ]
        );
        // A side only partly read never makes the other's objects missing.
        l.partial = true;
        r.partial = true;
        assert_eq!(msgs(&l, &r, None).len(), 1);
    }

    #[test]
    fn unnamed_uniques_match_by_columns() {
        let mut l = Objects::known();
        let mut r = Objects::known();
        l.uniques.push(uq(None, &["a", "b"]));
        r.uniques.push(uq(Some("t_b_a_key"), &["b", "a"]));
        assert!(msgs(&l, &r, Some(Dialect::Postgresql)).is_empty());
        // An unnamed right-side constraint is never reported removed (SQLite).
        let l2 = Objects::known();
        let mut r2 = Objects::known();
        r2.uniques.push(uq(None, &["a"]));
        assert!(msgs(&l2, &r2, Some(Dialect::Sqlite)).is_empty());
        // A named left one on SQLite matches an unnamed right one by columns.
        let mut l3 = Objects::known();
        l3.uniques.push(uq(Some("uq_a"), &["a"]));
        assert!(msgs(&l3, &r2, Some(Dialect::Sqlite)).is_empty());
        assert_eq!(
            msgs(&l3, &r2, None),
            vec!["unique constraint `uq_a` on `t` (`a`) is in L but not in R"]
        );
        l.uniques.push(uq(None, &["c"]));
        assert_eq!(
            msgs(&l, &r, None),
            vec!["unique constraint on `t` (`c`) is in L but not in R"]
        );
    }

    #[test]
    fn foreign_keys_by_signature() {
        let mut l = Objects::known();
        let mut r = Objects::known();
        l.foreign_keys.push(fk(&["u_id"], "users", Some("CASCADE")));
        let mut named = fk(&["u_id"], "users", Some("cascade"));
        named.name = Some("fk_whatever".into());
        r.foreign_keys.push(named);
        assert!(msgs(&l, &r, None).is_empty());
        r.foreign_keys[0].ondelete = Some("NO ACTION".into());
        assert_eq!(
            msgs(&l, &r, None),
            vec![
                "foreign key on `t` (`u_id`) → `users` (`id`) is in R but not in L",
                "foreign key on `t` (`u_id`) → `users` (`id`) ON DELETE CASCADE is in L but not in R",
            ]
        );
        r.fk_options_unknown = true;
        assert!(msgs(&l, &r, None).is_empty());
    }

    #[test]
    fn comments_and_defaults() {
        let mut l = Objects::known();
        let mut r = Objects::known();
        l.comment = Some(Some("people".into()));
        let attrs = |c: Option<&str>, d: Option<&str>| ColumnAttrs {
            column: "x".into(),
            comment: Some(c.map(str::to_string)),
            server_default: Some(d.map(str::to_string)),
            primary_key: false,
            origin: None,
        };
        l.columns.push(attrs(Some("c"), Some("'abc'")));
        r.columns
            .push(attrs(None, Some("'abc'::character varying")));
        assert_eq!(
            msgs(&l, &r, Some(Dialect::Postgresql)),
            vec![
                "the comment of table `t` is \"people\" in L but none in R",
                "the comment of column `t.x` is \"c\" in L but none in R",
            ]
        );
        // SQLite keeps no comments.
        assert!(msgs(&l, &r, Some(Dialect::Sqlite)).is_empty());
        r.columns[0].comment = Some(Some("c".into()));
        r.comment = Some(Some("people".into()));
        for (a, b, differ) in [
            (Some("'0'"), Some("0"), false),
            (Some("'1'"), Some("(0)"), true),
            (Some("now()"), Some("CURRENT_TIMESTAMP"), false),
            (None, Some("now()"), true),
            (None, Some("NULL"), false),
            (Some("'a'"), Some("'b'::text"), true),
        ] {
            l.columns[0].server_default = Some(a.map(str::to_string));
            r.columns[0].server_default = Some(b.map(str::to_string));
            assert_eq!(msgs(&l, &r, None).len(), usize::from(differ), "{a:?} {b:?}");
        }
    }

    #[test]
    fn reading_arguments() {
        assert_eq!(
            fk_target("shop.users.id").map(|(t, c)| (t.to_string(), c)),
            Some(("shop.users".into(), "id".into()))
        );
        assert_eq!(fk_target("users"), None);
        let text = Value::Call {
            func: "sa.text".into(),
            args: vec![(None, Value::Str("now()".into()))],
        };
        assert_eq!(server_default_of(&text), Some(Some("now()".into())));
        let now = Value::Call {
            func: "sa.func.now".into(),
            args: vec![],
        };
        assert_eq!(server_default_of(&now), Some(Some("now()".into())));
        assert_eq!(
            server_default_of(&Value::Str("a'b".into())),
            Some(Some("'a''b'".into()))
        );
        assert_eq!(server_default_of(&Value::Name("DEFAULT".into())), None);
        assert_eq!(comment_of(&Value::Str(String::new())), Some(None));
    }
}
