//! The schema model the drift rules compare: tables and columns with their types
//! and nullability, and where each was declared. Three sources produce one:
//! SQLAlchemy models ([`crate::models`]), the migrations replayed statically
//! ([`replay`]), and the database ([`Schema::from_snapshot`]). [`compare`] diffs two.

pub mod compare;
pub mod objects;
pub mod replay;
pub mod types;

use crate::db::snapshot::{Dialect, Snapshot};
use crate::diagnostic::Location;

pub use types::{Kind, SqlType};

/// A table's identity: its schema (`None` = the default one) and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableName {
    pub schema: Option<String>,
    pub name: String,
}

impl TableName {
    pub fn new(schema: Option<String>, name: impl Into<String>) -> TableName {
        TableName {
            schema,
            name: name.into(),
        }
    }
}

impl std::fmt::Display for TableName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.schema {
            Some(s) => write!(f, "{s}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Column {
    pub name: String,
    pub type_: SqlType,
    /// `None` when it cannot be told statically.
    pub nullable: Option<bool>,
    /// Where the column was declared (model attribute, migration operation).
    pub origin: Option<Location>,
}

#[derive(Clone, Debug)]
pub struct Table {
    pub name: TableName,
    pub columns: Vec<Column>,
    pub indexes: Vec<String>,
    /// Indexes, constraints, comments and column attributes ([`objects`]).
    pub objects: objects::Objects,
    /// Where the table was declared (model class, `op.create_table`).
    pub origin: Option<Location>,
    /// The model class name, for messages (`User`).
    pub class: Option<String>,
}

impl Table {
    pub fn new(name: TableName, origin: Option<Location>) -> Table {
        Table {
            name,
            columns: Vec::new(),
            indexes: Vec::new(),
            objects: objects::Objects::known(),
            origin,
            class: None,
        }
    }

    pub fn column(&self, name: &str, fold: Fold) -> Option<&Column> {
        self.columns.iter().find(|c| fold.column_eq(&c.name, name))
    }

    pub fn column_mut(&mut self, name: &str, fold: Fold) -> Option<&mut Column> {
        self.columns
            .iter_mut()
            .find(|c| fold.column_eq(&c.name, name))
    }
}

/// Something a source holds that migverify cannot read statically (raw SQL, a
/// computed table name): a difference it might explain is reported as such.
#[derive(Clone, Debug)]
pub struct Opaque {
    /// The table it concerns, when known (`None`: possibly any table).
    pub table: Option<String>,
    /// What it is: "raw SQL (`op.execute`)".
    pub what: String,
    pub location: Location,
}

#[derive(Clone, Debug, Default)]
pub struct Schema {
    pub tables: Vec<Table>,
    pub opaque: Vec<Opaque>,
}

impl Schema {
    pub fn table(&self, name: &TableName, fold: Fold) -> Option<&Table> {
        self.tables.iter().find(|t| fold.table_eq(&t.name, name))
    }

    pub fn table_index(&self, name: &TableName, fold: Fold) -> Option<usize> {
        self.tables
            .iter()
            .position(|t| fold.table_eq(&t.name, name))
    }

    /// The database's tables other than the version table. Tables in the default
    /// schema (the first captured one) get `schema: None`, as unqualified names in
    /// models and migrations mean them.
    pub fn from_snapshot(snapshot: &Snapshot) -> Schema {
        let default = snapshot.schemas.first().map(String::as_str);
        let tables = snapshot
            .user_tables()
            .map(|t| Table {
                name: TableName::new(
                    (Some(t.schema.as_str()) != default).then(|| t.schema.clone()),
                    t.name.clone(),
                ),
                columns: t
                    .columns
                    .iter()
                    .map(|c| Column {
                        name: c.name.clone(),
                        type_: SqlType::from_database(&c.type_, snapshot.dialect),
                        nullable: Some(c.nullable),
                        origin: None,
                    })
                    .collect(),
                indexes: t
                    .indexes
                    .iter()
                    .map(|i| i.name.clone())
                    .chain(t.unique_constraints.iter().filter_map(|u| u.name.clone()))
                    .collect(),
                objects: snapshot_objects(t, default, snapshot.format_version),
                origin: None,
                class: None,
            })
            .collect();
        Schema {
            tables,
            opaque: Vec::new(),
        }
    }

    /// The opaque entries that might explain a difference in `table`.
    pub fn opaque_for(&self, table: &str, fold: Fold) -> Vec<&Opaque> {
        self.opaque
            .iter()
            .filter(|o| o.table.as_deref().is_none_or(|t| fold.name_eq(t, table)))
            .collect()
    }
}

/// A captured table's objects, with referred tables in the default schema unqualified.
fn snapshot_objects(
    t: &crate::db::snapshot::Table,
    default: Option<&str>,
    format_version: u32,
) -> objects::Objects {
    // Format 1 captured neither comments nor foreign key actions.
    let v1 = format_version < 2;
    use objects::{ColumnAttrs, ForeignKey, Index, Objects, Unique};
    let is_expr = |c: &str| c.contains('(') || c.contains(' ') || c == "<expression>";
    Objects {
        indexes: t
            .indexes
            .iter()
            .map(|i| Index {
                name: Some(i.name.clone()),
                columns: i.columns.clone(),
                unique: i.unique,
                expression: i.columns.iter().any(|c| is_expr(c)),
                origin: None,
            })
            .collect(),
        uniques: t
            .unique_constraints
            .iter()
            .map(|u| Unique {
                name: u.name.clone(),
                columns: u.columns.clone(),
                origin: None,
            })
            .collect(),
        foreign_keys: t
            .foreign_keys
            .iter()
            .map(|f| ForeignKey {
                name: f.name.clone(),
                columns: f.columns.clone(),
                referred: TableName::new(
                    (Some(f.referred_schema.as_str()) != default && !f.referred_schema.is_empty())
                        .then(|| f.referred_schema.clone()),
                    f.referred_table.clone(),
                ),
                referred_columns: f.referred_columns.clone(),
                ondelete: f.on_delete.clone(),
                onupdate: f.on_update.clone(),
                origin: None,
            })
            .collect(),
        comment: (!v1).then(|| t.comment.clone().filter(|c| !c.is_empty())),
        columns: t
            .columns
            .iter()
            .map(|c| ColumnAttrs {
                column: c.name.clone(),
                comment: (!v1).then(|| c.comment.clone().filter(|c| !c.is_empty())),
                server_default: Some(c.default.clone()),
                primary_key: t.primary_key.contains(&c.name),
                origin: None,
            })
            .collect(),
        partial: false,
        fk_options_unknown: v1,
    }
}

/// How names compare: as the database folds them.
///
/// PostgreSQL compares exactly (SQLAlchemy quotes any name that is not all lower
/// case, so the stored name is the declared one); MySQL/MariaDB compare table names
/// exactly (as on Linux, `lower_case_table_names=0`) and column names without case;
/// SQLite compares both without case (ASCII). Without a database both sides are
/// SQLAlchemy names and compare exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fold {
    pub tables_ci: bool,
    pub columns_ci: bool,
}

impl Fold {
    pub fn exact() -> Fold {
        Fold {
            tables_ci: false,
            columns_ci: false,
        }
    }

    pub fn for_dialect(dialect: Option<Dialect>) -> Fold {
        match dialect {
            Some(Dialect::Mysql | Dialect::Mariadb) => Fold {
                tables_ci: false,
                columns_ci: true,
            },
            Some(Dialect::Sqlite) => Fold {
                tables_ci: true,
                columns_ci: true,
            },
            _ => Fold::exact(),
        }
    }

    fn eq(ci: bool, a: &str, b: &str) -> bool {
        if ci {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        }
    }

    pub fn name_eq(self, a: &str, b: &str) -> bool {
        Fold::eq(self.tables_ci, a, b)
    }

    pub fn table_eq(self, a: &TableName, b: &TableName) -> bool {
        let schema_eq = match (&a.schema, &b.schema) {
            (None, None) => true,
            (Some(x), Some(y)) => Fold::eq(self.tables_ci, x, y),
            _ => false,
        };
        schema_eq && Fold::eq(self.tables_ci, &a.name, &b.name)
    }

    pub fn column_eq(self, a: &str, b: &str) -> bool {
        Fold::eq(self.columns_ci, a, b)
    }
}
