//! Differences between two schemas: tables and columns on one side only,
//! nullability, and types (through [`super::types`]).

use crate::db::snapshot::Dialect;

use super::{Column, Fold, Schema, Table, TableName};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Left,
    Right,
}

#[derive(Debug)]
pub enum Difference<'a> {
    /// A table only one side has.
    Table { side: Side, table: &'a Table },
    /// A column only one side has, in a table both have.
    Column {
        side: Side,
        left: &'a Table,
        right: &'a Table,
        column: &'a Column,
    },
    Nullable {
        table: &'a Table,
        left: &'a Column,
        right: &'a Column,
    },
    Type {
        table: &'a Table,
        left: &'a Column,
        right: &'a Column,
    },
}

/// What to compare and how.
pub struct Options<'a> {
    pub fold: Fold,
    /// The dialect that stored the right side's types (`None`: both are SQLAlchemy).
    pub dialect: Option<Dialect>,
    /// Tables left out on both sides (the version table, `ignore_tables`).
    pub ignore: &'a dyn Fn(&TableName) -> bool,
}

/// Everything that differs, in left-table order then right-only tables.
pub fn diff<'a>(left: &'a Schema, right: &'a Schema, opts: &Options) -> Vec<Difference<'a>> {
    let mut out = Vec::new();
    let fold = opts.fold;
    for lt in left.tables.iter().filter(|t| !(opts.ignore)(&t.name)) {
        let Some(rt) = right.table(&lt.name, fold) else {
            out.push(Difference::Table {
                side: Side::Left,
                table: lt,
            });
            continue;
        };
        for lc in &lt.columns {
            let Some(rc) = rt.column(&lc.name, fold) else {
                out.push(Difference::Column {
                    side: Side::Left,
                    left: lt,
                    right: rt,
                    column: lc,
                });
                continue;
            };
            if let (Some(a), Some(b)) = (lc.nullable, rc.nullable)
                && a != b
            {
                out.push(Difference::Nullable {
                    table: lt,
                    left: lc,
                    right: rc,
                });
            }
            if lc.type_.differs(&rc.type_, opts.dialect) {
                out.push(Difference::Type {
                    table: lt,
                    left: lc,
                    right: rc,
                });
            }
        }
        for rc in &rt.columns {
            if lt.column(&rc.name, fold).is_none() {
                out.push(Difference::Column {
                    side: Side::Right,
                    left: lt,
                    right: rt,
                    column: rc,
                });
            }
        }
    }
    for rt in right.tables.iter().filter(|t| !(opts.ignore)(&t.name)) {
        if left.table(&rt.name, fold).is_none() {
            out.push(Difference::Table {
                side: Side::Right,
                table: rt,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{SqlType, Table};

    fn table(name: &str, cols: &[(&str, bool)]) -> Table {
        let mut t = Table::new(TableName::new(None, name), None);
        for (c, nullable) in cols {
            t.columns.push(Column {
                name: c.to_string(),
                type_: SqlType::unknown(),
                nullable: Some(*nullable),
                origin: None,
            });
        }
        t
    }

    #[test]
    fn both_ways() {
        let left = Schema {
            tables: vec![
                table("users", &[("id", false), ("email", true)]),
                table("only_left", &[]),
            ],
            opaque: vec![],
        };
        let right = Schema {
            tables: vec![
                table("USERS", &[("id", false), ("email", false), ("extra", true)]),
                table("only_right", &[]),
                table("skipped", &[]),
            ],
            opaque: vec![],
        };
        let ignore = |t: &TableName| t.name == "skipped";
        let opts = Options {
            fold: Fold::for_dialect(Some(Dialect::Sqlite)),
            dialect: Some(Dialect::Sqlite),
            ignore: &ignore,
        };
        let d = diff(&left, &right, &opts);
        let summary: Vec<String> = d
            .iter()
            .map(|d| match d {
                Difference::Table { side, table } => format!("table {side:?} {}", table.name),
                Difference::Column { side, column, .. } => {
                    format!("column {side:?} {}", column.name)
                }
                Difference::Nullable { left, .. } => format!("nullable {}", left.name),
                Difference::Type { left, .. } => format!("type {}", left.name),
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                "nullable email",
                "column Right extra",
                "table Left only_left",
                "table Right only_right"
            ]
        );
        // PostgreSQL compares names exactly: `USERS` is another table.
        let opts = Options {
            fold: Fold::for_dialect(Some(Dialect::Postgresql)),
            dialect: Some(Dialect::Postgresql),
            ignore: &ignore,
        };
        assert_eq!(diff(&left, &right, &opts).len(), 4);
    }
}
