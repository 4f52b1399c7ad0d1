//! SQLite: `sqlite_schema` and the `pragma_*` table-valued functions.
//!
//! Read-only: the file is opened with `SQLITE_OPEN_READONLY` (`mode=ro`), never
//! created (a missing file is an error), and `PRAGMA query_only = ON` is set too.
//! A file with no `-wal` or `-journal` beside it is opened `immutable=1`, so no
//! `-wal`/`-shm` file is created next to a WAL database.

use sqlx::sqlite::{Sqlite, SqliteConnectOptions, SqliteConnection};
use sqlx::{AssertSqlSafe, Connection};

use super::capture::{Captured, Ctx, DbError, Tables, quote};
use super::snapshot::{Column, Dialect, ForeignKey, Index, UniqueConstraint, VersionTable};
use super::url::SqliteTarget;

fn connect_options(ctx: &Ctx<'_>, target: &SqliteTarget) -> Result<SqliteConnectOptions, DbError> {
    let o = SqliteConnectOptions::new()
        .create_if_missing(false)
        .busy_timeout(ctx.opts.statement_timeout)
        .pragma("query_only", "ON");
    match target {
        SqliteTarget::Memory => Ok(o.in_memory(true)),
        SqliteTarget::File(path) => {
            if !path.is_file() {
                return Err(DbError::MissingFile {
                    url: ctx.redacted(),
                    path: path.display().to_string(),
                });
            }
            // A read-only connection to a WAL database creates `-wal` and `-shm`
            // files and, unable to checkpoint, leaves them. With no `-wal` or
            // `-journal` file beside it, the main file holds the whole database:
            // open it immutable, and SQLite creates nothing. Otherwise (a writer
            // has it open, or crashed) those files exist already and SQLite must
            // read them.
            let beside = |suffix: &str| {
                let mut p = path.as_os_str().to_owned();
                p.push(suffix);
                std::path::PathBuf::from(p).exists()
            };
            let immutable = !beside("-wal") && !beside("-journal");
            Ok(o.filename(path).read_only(true).immutable(immutable))
        }
    }
}

async fn connect(ctx: &Ctx<'_>, o: &SqliteConnectOptions) -> Result<SqliteConnection, DbError> {
    ctx.connect(SqliteConnection::connect_with(o)).await
}

pub(super) async fn execute(
    ctx: &Ctx<'_>,
    target: &SqliteTarget,
    sql: &str,
) -> Result<(), DbError> {
    let o = connect_options(ctx, target)?;
    let conn = connect(ctx, &o).await?;
    ctx.execute_and_close(conn, sql).await
}

pub(super) async fn capture(ctx: &Ctx<'_>, target: &SqliteTarget) -> Result<Captured, DbError> {
    let o = connect_options(ctx, target)?;
    let schemas = ctx.schemas_or("main");
    let vt_schema = ctx.version_table_schema(&schemas);
    let (mut c1, mut c2, mut c3) =
        tokio::try_join!(connect(ctx, &o), connect(ctx, &o), connect(ctx, &o))?;
    let result = tokio::try_join!(
        version_and_table(ctx, &mut c1, &vt_schema),
        columns(ctx, &mut c2, &schemas),
        keys_and_indexes(ctx, &mut c3, &schemas),
    );
    for c in [c1, c2, c3] {
        let _ = c.close().await;
    }
    let ((server_version, version_table), mut tables, (fks, indexes, sqls)) = result?;

    for (schema, table, fk) in fks {
        // `REFERENCES t` without columns names t's primary key.
        let referred_pk = if fk.referred_columns.iter().any(|c| c.is_empty()) {
            tables
                .get(&schema, &fk.referred_table)
                .map(|t| t.primary_key.clone())
        } else {
            None
        };
        if let Some(t) = tables.get(&schema, &table) {
            let mut fk = fk;
            if let Some(pk) = referred_pk {
                fk.referred_columns = pk;
            }
            t.foreign_keys.push(fk);
        }
    }
    for (schema, table, origin, index) in indexes {
        let Some(t) = tables.get(&schema, &table) else {
            continue;
        };
        match origin.as_str() {
            "pk" => {}
            // SQLite keeps a unique constraint's name only in the table's SQL.
            "u" => t.unique_constraints.push(UniqueConstraint {
                name: sqls
                    .iter()
                    .find(|(s, n, _)| *s == schema && *n == table)
                    .and_then(|(.., sql)| named_unique(sql, &index.columns)),
                columns: index.columns,
            }),
            _ => t.indexes.push(index),
        }
    }
    Ok(Captured {
        dialect: Dialect::Sqlite,
        server_version,
        version_table,
        schemas,
        tables: tables.into_vec(),
    })
}

async fn version_and_table(
    ctx: &Ctx<'_>,
    conn: &mut SqliteConnection,
    schema: &str,
) -> Result<(String, VersionTable), DbError> {
    let version: String = ctx
        .run(
            "reading the SQLite version",
            sqlx::query_scalar("SELECT sqlite_version()").fetch_one(&mut *conn),
        )
        .await?;
    let sql = format!(
        "SELECT count(*) FROM {}.sqlite_schema WHERE type IN ('table', 'view') AND name = ?",
        quote(schema, '"')
    );
    let count: i64 = ctx
        .run(
            "looking for the version table",
            sqlx::query_scalar(AssertSqlSafe(sql))
                .bind(&ctx.opts.version_table)
                .fetch_one(&mut *conn),
        )
        .await?;
    let table = ctx
        .version_table::<Sqlite>(conn, schema, count > 0, "CAST(version_num AS TEXT)", '"')
        .await?;
    Ok((version, table))
}

fn sql_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

const USER_TABLES: &str = "m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'";

async fn columns(
    ctx: &Ctx<'_>,
    conn: &mut SqliteConnection,
    schemas: &[String],
) -> Result<Tables, DbError> {
    let what = "reading tables and columns";
    let mut tables = Tables::default();
    for schema in schemas {
        let sql = format!(
            "SELECT m.name, p.name, p.type, p.\"notnull\", p.dflt_value, p.pk \
             FROM {s}.sqlite_schema m LEFT JOIN pragma_table_info(m.name, {lit}) p \
             WHERE {USER_TABLES} ORDER BY m.name, p.cid",
            s = quote(schema, '"'),
            lit = sql_str(schema),
        );
        // A table `pragma_table_info` lists no column for comes as one row of NULLs
        // after its name (the LEFT JOIN).
        let rows: Vec<ColumnRow> = ctx
            .run(
                what,
                sqlx::query_as(AssertSqlSafe(sql)).fetch_all(&mut *conn),
            )
            .await?;
        let mut pks: Vec<(String, i64, String)> = Vec::new();
        for (table, name, type_, notnull, default, pk) in rows {
            let t = tables.add(schema, &table);
            let Some(name) = name else {
                continue;
            };
            let pk = pk.unwrap_or_default();
            if pk > 0 {
                pks.push((table.clone(), pk, name.clone()));
            }
            t.columns.push(Column {
                name,
                type_: type_.unwrap_or_default(),
                nullable: notnull.unwrap_or_default() == 0,
                default,
                comment: None,
            });
        }
        pks.sort();
        for (table, _, column) in pks {
            if let Some(t) = tables.get(schema, &table) {
                t.primary_key.push(column);
            }
        }
    }
    Ok(tables)
}

/// Table, column, declared type, `notnull`, default, position in the primary key.
type ColumnRow = (
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<i64>,
);

type Fks = Vec<(String, String, ForeignKey)>;
/// Schema, table, `CREATE TABLE` text.
type Sqls = Vec<(String, String, String)>;
/// Table, id, referred table, column, referred column, `ON DELETE`, `ON UPDATE`.
type FkRow = (
    String,
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);
type Indexes = Vec<(String, String, String, Index)>;

async fn keys_and_indexes(
    ctx: &Ctx<'_>,
    conn: &mut SqliteConnection,
    schemas: &[String],
) -> Result<(Fks, Indexes, Sqls), DbError> {
    let mut fks: Fks = Vec::new();
    let mut indexes: Indexes = Vec::new();
    let mut sqls: Sqls = Vec::new();
    for schema in schemas {
        let sql = format!(
            "SELECT m.name, m.sql FROM {s}.sqlite_schema m WHERE {USER_TABLES} AND m.sql IS NOT NULL",
            s = quote(schema, '"'),
        );
        let rows: Vec<(String, String)> = ctx
            .run(
                "reading table definitions",
                sqlx::query_as(AssertSqlSafe(sql)).fetch_all(&mut *conn),
            )
            .await?;
        sqls.extend(rows.into_iter().map(|(t, s)| (schema.clone(), t, s)));
        let what = "reading foreign keys";
        let sql = format!(
            "SELECT m.name, f.id, f.\"table\", f.\"from\", f.\"to\", f.on_delete, f.on_update \
             FROM {s}.sqlite_schema m JOIN pragma_foreign_key_list(m.name, {lit}) f \
             WHERE {USER_TABLES} ORDER BY m.name, f.id, f.seq",
            s = quote(schema, '"'),
            lit = sql_str(schema),
        );
        let rows: Vec<FkRow> = ctx
            .run(
                what,
                sqlx::query_as(AssertSqlSafe(sql)).fetch_all(&mut *conn),
            )
            .await?;
        let mut current: Option<(String, i64)> = None;
        for (table, id, referred, from, to, on_delete, on_update) in rows {
            let key = Some((table.clone(), id));
            if current != key {
                current = key;
                fks.push((
                    schema.clone(),
                    table,
                    ForeignKey {
                        name: None,
                        columns: Vec::new(),
                        referred_schema: schema.clone(),
                        referred_table: referred,
                        referred_columns: Vec::new(),
                        on_delete,
                        on_update,
                    },
                ));
            }
            let fk = &mut fks.last_mut().expect("pushed above").2;
            fk.columns.push(from);
            fk.referred_columns.push(to.unwrap_or_default());
        }

        let what = "reading indexes";
        let sql = format!(
            "SELECT m.name, il.name, il.\"unique\", il.origin, ii.name \
             FROM {s}.sqlite_schema m JOIN pragma_index_list(m.name, {lit}) il \
             JOIN pragma_index_xinfo(il.name, {lit}) ii \
             WHERE {USER_TABLES} AND ii.key = 1 ORDER BY m.name, il.name, ii.seqno",
            s = quote(schema, '"'),
            lit = sql_str(schema),
        );
        let rows: Vec<(String, String, i64, String, Option<String>)> = ctx
            .run(
                what,
                sqlx::query_as(AssertSqlSafe(sql)).fetch_all(&mut *conn),
            )
            .await?;
        for (table, name, unique, origin, column) in rows {
            let column = column.unwrap_or_else(|| "<expression>".to_string());
            match indexes.last_mut() {
                Some((s, t, _, ix)) if *s == *schema && *t == table && ix.name == name => {
                    ix.columns.push(column);
                }
                _ => indexes.push((
                    schema.clone(),
                    table,
                    origin,
                    Index {
                        name,
                        columns: vec![column],
                        unique: unique != 0,
                    },
                )),
            }
        }
    }
    Ok((fks, indexes, sqls))
}

/// The name of `CONSTRAINT <name> UNIQUE (<columns>)` in a `CREATE TABLE` text, as
/// SQLAlchemy's reflection reads it.
fn named_unique(sql: &str, columns: &[String]) -> Option<String> {
    // Tokens: identifiers (quotes removed), and single punctuation characters.
    let mut tokens: Vec<String> = Vec::new();
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' | '`' | '[' => {
                let close = if c == '[' { ']' } else { c };
                let mut t = String::new();
                while let Some(d) = chars.next() {
                    if d == close {
                        if close != ']' && chars.peek() == Some(&close) {
                            chars.next();
                            t.push(d);
                            continue;
                        }
                        break;
                    }
                    t.push(d);
                }
                tokens.push(t);
            }
            '\'' => {
                // A string literal: skipped.
                while let Some(d) = chars.next() {
                    if d == '\'' && chars.peek() != Some(&'\'') {
                        break;
                    } else if d == '\'' {
                        chars.next();
                    }
                }
                tokens.push("'".into());
            }
            c if c.is_alphanumeric() || c == '_' => {
                let mut t = c.to_string();
                while let Some(&d) = chars.peek() {
                    if d.is_alphanumeric() || d == '_' || d == '$' {
                        t.push(d);
                        chars.next();
                    } else {
                        break;
                    }
                }
                tokens.push(t);
            }
            c if c.is_whitespace() => {}
            c => tokens.push(c.to_string()),
        }
    }
    let mut i = 0;
    while i + 3 < tokens.len() {
        if tokens[i].eq_ignore_ascii_case("constraint")
            && tokens[i + 2].eq_ignore_ascii_case("unique")
            && tokens[i + 3] == "("
        {
            let mut cols = Vec::new();
            let mut j = i + 4;
            while j < tokens.len() && tokens[j] != ")" {
                if tokens[j] != "," {
                    cols.push(tokens[j].clone());
                }
                j += 1;
            }
            if cols.len() == columns.len() && cols.iter().zip(columns).all(|(a, b)| a == b) {
                return Some(tokens[i + 1].clone());
            }
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod unique_name_tests {
    use super::named_unique;

    #[test]
    fn reads_constraint_names_from_the_table_sql() {
        let sql = "CREATE TABLE accounts (\n\tid INTEGER NOT NULL, \n\temail VARCHAR(120), \
                   note VARCHAR DEFAULT 'x, CONSTRAINT no UNIQUE (email)', \n\t\
                   CONSTRAINT pk_accounts PRIMARY KEY (id), \n\t\
                   CONSTRAINT \"uq accounts\" UNIQUE (email, id), \n\tUNIQUE (note)\n)";
        let cols = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            named_unique(sql, &cols(&["email", "id"])).as_deref(),
            Some("uq accounts")
        );
        assert_eq!(named_unique(sql, &cols(&["email"])), None);
        assert_eq!(named_unique(sql, &cols(&["note"])), None);
    }
}
