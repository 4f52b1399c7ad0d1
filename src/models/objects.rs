//! Indexes, unique constraints, foreign keys, comments and server defaults as the
//! models declare them: read per class / `Table(...)` as written ([`RawObjects`]),
//! then placed on their table once the table name, the naming convention
//! (`MetaData(naming_convention=...)`) and every class's table are known.

use std::collections::HashMap;

use crate::diagnostic::Location;
use crate::migration::Value;
use crate::schema::TableName;
use crate::schema::objects::{ColumnExtras, Convention, Objects};

/// What one class body or `Table(...)` declares, before names are resolved.
#[derive(Clone, Debug, Default)]
pub struct RawObjects {
    /// `(column name, extras, where)` for each column read.
    pub columns: Vec<(String, ColumnExtras, Location)>,
    /// `Index(...)`, `UniqueConstraint(...)`, `ForeignKeyConstraint(...)` in
    /// `__table_args__` or `Table(...)`.
    pub items: Vec<(Value, Location)>,
    /// The table comment: `None` unknown, `Some(None)` none.
    pub comment: Option<Option<String>>,
    /// `__table_args__` was assigned (a subclass's own replaces its mixin's).
    pub has_table_args: bool,
    /// Something here could not be read (computed `__table_args__`, a
    /// `@declared_attr` column, an `Annotated` alias).
    pub unknown: bool,
}

impl RawObjects {
    pub fn known() -> RawObjects {
        RawObjects {
            comment: Some(None),
            ..RawObjects::default()
        }
    }
}

/// A module-level `Index("ix", User.email)` / `Index("ix", users.c.email)`.
#[derive(Clone, Debug)]
pub struct ModuleIndex {
    pub call: Value,
    pub location: Location,
}

/// Reads a naming convention dict's entries (`(key, value)`; `None` value: not a
/// string). `None` when a key is not understood.
pub fn convention_from_entries(entries: &[(String, Option<String>)]) -> Option<Convention> {
    let mut conv = Convention {
        ix: None,
        uq: None,
        fk: None,
    };
    for (k, v) in entries {
        let slot = match k.rsplit('.').next().unwrap_or(k) {
            "ix" | "Index" => &mut conv.ix,
            "uq" | "UniqueConstraint" => &mut conv.uq,
            "fk" | "ForeignKeyConstraint" => &mut conv.fk,
            "ck" | "pk" | "CheckConstraint" | "PrimaryKeyConstraint" => continue,
            _ => return None,
        };
        *slot = Some(v.clone()?);
    }
    Some(conv)
}

/// Places `raw` on `objects` (the objects of table `table`).
pub fn apply(
    objects: &mut Objects,
    table: &TableName,
    raw: &RawObjects,
    conv: Option<&Convention>,
    tables: &HashMap<String, TableName>,
) {
    let Some(conv) = conv else {
        // The naming convention could not be read: no name is certain.
        objects.partial = true;
        apply(objects, table, raw, Some(&Convention::default()), tables);
        return;
    };
    objects.partial |= raw.unknown;
    if raw.comment != Some(None) {
        objects.comment = raw.comment.clone();
    }
    let resolve = |r: &str| resolve_attr(r, tables);
    for (column, extras, loc) in &raw.columns {
        objects.add_column_extras(
            &table.name,
            column,
            extras,
            conv,
            Some(loc.clone()),
            &resolve,
        );
    }
    for (item, loc) in &raw.items {
        let column = |v: &Value| match v {
            Value::Str(s) => Some(s.clone()),
            // `Column` objects and `User.email` attributes: the last name.
            Value::Name(n) => n.rsplit('.').next().map(str::to_string),
            _ => None,
        };
        if !objects.add_table_item(&table.name, item, conv, Some(loc.clone()), &column) {
            objects.partial = true;
        }
    }
}

/// `User.id` → `users.id` (the class's table), `users.c.id` → `users.id`.
fn resolve_attr(r: &str, tables: &HashMap<String, TableName>) -> Option<String> {
    let parts: Vec<&str> = r.split('.').collect();
    let (owner, column) = match parts.as_slice() {
        [owner, column] => (*owner, *column),
        [owner, "c", column] => (*owner, *column),
        _ => return None,
    };
    let t = tables.get(owner)?;
    Some(format!("{t}.{column}"))
}

/// The table a module-level `Index(...)`'s columns belong to, and the call with
/// column arguments reduced to names.
pub fn module_index(
    ix: &ModuleIndex,
    tables: &HashMap<String, TableName>,
) -> Option<(TableName, Value)> {
    let Value::Call { func, args } = &ix.call else {
        return None;
    };
    let mut table = None;
    let mut out = Vec::new();
    for (k, v) in args {
        if let (None, Value::Name(n)) = (k, v) {
            let parts: Vec<&str> = n.split('.').collect();
            let owner = match parts.as_slice() {
                [owner, _] | [owner, "c", _] => *owner,
                _ => return None,
            };
            let t = tables.get(owner)?;
            if table.as_ref().is_some_and(|x| x != t) {
                return None;
            }
            table = Some(t.clone());
            out.push((None, Value::Str(parts.last()?.to_string())));
        } else {
            // An expression (`func.lower(User.email)`): its table from the attributes
            // it names.
            if k.is_none() {
                for n in names_in(v) {
                    let owner = n.split('.').next().unwrap_or(n);
                    if let Some(t) = tables.get(owner) {
                        if table.as_ref().is_some_and(|x| x != t) {
                            return None;
                        }
                        table = Some(t.clone());
                    }
                }
            }
            out.push((k.clone(), v.clone()));
        }
    }
    Some((
        table?,
        Value::Call {
            func: func.clone(),
            args: out,
        },
    ))
}

/// The dotted names (`User.email`) inside a value, without recursion.
fn names_in(v: &Value) -> Vec<&str> {
    let mut out = Vec::new();
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::Name(n) if n.contains('.') => out.push(n.as_str()),
            Value::Call { args, .. } => stack.extend(args.iter().map(|(_, v)| v)),
            Value::List(items) | Value::Tuple(items) => stack.extend(items.iter()),
            _ => {}
        }
    }
    out
}
