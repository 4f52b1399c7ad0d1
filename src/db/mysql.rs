//! MySQL and MariaDB: `information_schema` read over read-only sessions.
//!
//! Read-only: every session runs `SET SESSION TRANSACTION READ ONLY` right after
//! connecting, plus a server-side statement timeout (MySQL `max_execution_time`,
//! MariaDB `max_statement_time`).

use sqlx::mysql::{MySql, MySqlConnectOptions, MySqlConnection, MySqlRow, MySqlSslMode};
use sqlx::{AssertSqlSafe, Connection, FromRow};

use super::capture::{self, Captured, Ctx, DbError, Tables};
use super::snapshot::{Column, Dialect, ForeignKey, Index, UniqueConstraint, VersionTable};
use super::url::ServerUrl;

fn connect_options(ctx: &Ctx<'_>, server: &ServerUrl) -> Result<MySqlConnectOptions, DbError> {
    let mut o = MySqlConnectOptions::new()
        .host(&server.host)
        .port(server.port);
    if let Some(socket) = &server.socket {
        o = o.socket(socket);
    }
    if let Some(user) = &server.username {
        o = o.username(user);
    }
    if let Some(password) = &server.password {
        o = o.password(password.expose());
    }
    if let Some(db) = &server.database {
        o = o.database(db);
    }
    let ssl = server
        .param("ssl-mode")
        .or_else(|| server.param("ssl_mode"))
        .or_else(|| server.param("sslmode"));
    if let Some(mode) = ssl {
        let mode = mode.to_ascii_lowercase().replace('-', "_");
        let parsed: MySqlSslMode = mode.parse().map_err(|_| DbError::Connect {
            url: ctx.redacted(),
            message: format!(
                "unknown ssl_mode `{mode}` (expected disabled, preferred, required, verify_ca or verify_identity)"
            ),
        })?;
        o = o.ssl_mode(parsed);
    }
    if let Some(ca) = server.param("ssl_ca").or_else(|| server.param("ssl-ca")) {
        o = o.ssl_ca(ca);
    }
    if let Some(charset) = server.param("charset") {
        o = o.charset(charset);
    }
    Ok(o)
}

/// A read-only session, and whether the server is MariaDB.
async fn connect(
    ctx: &Ctx<'_>,
    o: &MySqlConnectOptions,
) -> Result<(MySqlConnection, String), DbError> {
    let mut conn = ctx.connect(MySqlConnection::connect_with(o)).await?;
    let version: String = ctx
        .run(
            "reading the server version",
            sqlx::query_scalar("SELECT CAST(VERSION() AS CHAR)").fetch_one(&mut conn),
        )
        .await?;
    let timeout = if version.contains("MariaDB") {
        format!(
            "SET SESSION max_statement_time = {:.3}",
            ctx.opts.statement_timeout.as_secs_f64()
        )
    } else {
        format!(
            "SET SESSION max_execution_time = {}",
            ctx.opts.statement_timeout.as_millis().max(1)
        )
    };
    ctx.run(
        "setting the statement timeout",
        sqlx::raw_sql(AssertSqlSafe(timeout)).execute(&mut conn),
    )
    .await?;
    ctx.run(
        "setting the session read-only",
        sqlx::raw_sql("SET SESSION TRANSACTION READ ONLY").execute(&mut conn),
    )
    .await?;
    Ok((conn, version))
}

pub(super) async fn execute(ctx: &Ctx<'_>, server: &ServerUrl, sql: &str) -> Result<(), DbError> {
    let o = connect_options(ctx, server)?;
    let (conn, _) = connect(ctx, &o).await?;
    ctx.execute_and_close(conn, sql).await
}

pub(super) async fn capture(ctx: &Ctx<'_>, server: &ServerUrl) -> Result<Captured, DbError> {
    let o = connect_options(ctx, server)?;
    let (mut c1, version) = connect(ctx, &o).await?;
    let dialect = if version.contains("MariaDB") {
        Dialect::Mariadb
    } else {
        Dialect::Mysql
    };
    let schemas = if !ctx.opts.schemas.is_empty() {
        ctx.opts.schemas.clone()
    } else if let Some(db) = &server.database {
        vec![db.clone()]
    } else {
        let db: Option<String> = ctx
            .run(
                "reading the current database",
                sqlx::query_scalar("SELECT CAST(DATABASE() AS CHAR)").fetch_one(&mut c1),
            )
            .await?;
        match db {
            Some(db) => vec![db],
            None => {
                let _ = c1.close().await;
                return Err(DbError::Connect {
                    url: ctx.redacted(),
                    message: "the URL names no database; add `/<database>` to it".to_string(),
                });
            }
        }
    };
    let vt_schema = ctx.version_table_schema(&schemas);

    let others = tokio::try_join!(connect(ctx, &o), connect(ctx, &o), connect(ctx, &o));
    let ((mut c2, _), (mut c3, _), (mut c4, _)) = match others {
        Ok(c) => c,
        Err(e) => {
            let _ = c1.close().await;
            return Err(e);
        }
    };
    let result = tokio::try_join!(
        version_table(ctx, &mut c1, &vt_schema),
        columns(ctx, &mut c2, &schemas),
        constraints(ctx, &mut c3, &schemas),
        indexes(ctx, &mut c4, &schemas),
    );
    for c in [c1, c2, c3, c4] {
        let _ = c.close().await;
    }
    let (version_table, mut tables, constraints, indexes) = result?;

    // Rows come ordered by schema, table, constraint, position: group them.
    let same_constraint =
        |a: &ConstraintRow, b: &ConstraintRow| (&a.0, &a.1, &a.2) == (&b.0, &b.1, &b.2);
    for group in constraints.chunk_by(same_constraint) {
        let (schema, table, name, kind, _, ref_schema, ref_table, _, on_delete, on_update) =
            &group[0];
        let Some(t) = tables.get(schema, table) else {
            continue;
        };
        let columns: Vec<String> = group
            .iter()
            .map(|(.., column, _, _, _, _, _)| column.clone())
            .collect();
        match kind.as_str() {
            "PRIMARY KEY" => t.primary_key = columns,
            "UNIQUE" => t.unique_constraints.push(UniqueConstraint {
                name: Some(name.clone()),
                columns,
            }),
            "FOREIGN KEY" => t.foreign_keys.push(ForeignKey {
                name: Some(name.clone()),
                columns,
                referred_schema: ref_schema.clone().unwrap_or_default(),
                referred_table: ref_table.clone().unwrap_or_default(),
                referred_columns: group
                    .iter()
                    .map(|(.., ref_column, _, _)| ref_column.clone().unwrap_or_default())
                    .collect(),
                on_delete: on_delete.clone(),
                on_update: on_update.clone(),
            }),
            _ => {}
        }
    }
    let same_index = |a: &IndexRow, b: &IndexRow| (&a.0, &a.1, &a.2) == (&b.0, &b.1, &b.2);
    for group in indexes.chunk_by(same_index) {
        let (schema, table, name, _) = &group[0];
        if let Some(t) = tables.get(schema, table) {
            t.indexes.push(Index {
                name: name.clone(),
                columns: group
                    .iter()
                    .map(|(.., column)| {
                        column.clone().unwrap_or_else(|| "<expression>".to_string())
                    })
                    .collect(),
                unique: false,
            });
        }
    }
    Ok(Captured {
        dialect,
        server_version: version,
        version_table,
        schemas,
        tables: tables.into_vec(),
    })
}

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// Runs `sql`, whose placeholders are the schemas, and decodes its rows as `O`.
async fn fetch_in_schemas<O>(
    ctx: &Ctx<'_>,
    conn: &mut MySqlConnection,
    what: &str,
    sql: String,
    schemas: &[String],
) -> Result<Vec<O>, DbError>
where
    O: for<'r> FromRow<'r, MySqlRow> + Send + Unpin,
{
    let mut q = sqlx::query_as(AssertSqlSafe(sql));
    for s in schemas {
        q = q.bind(s);
    }
    ctx.run(what, q.fetch_all(conn)).await
}

async fn version_table(
    ctx: &Ctx<'_>,
    conn: &mut MySqlConnection,
    schema: &str,
) -> Result<VersionTable, DbError> {
    let count: i64 = ctx
        .run(
            "looking for the version table",
            sqlx::query_scalar(
                "SELECT CAST(COUNT(*) AS SIGNED) FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
            )
            .bind(schema)
            .bind(&ctx.opts.version_table)
            .fetch_one(&mut *conn),
        )
        .await?;
    ctx.version_table::<MySql>(conn, schema, count > 0, "CAST(version_num AS CHAR)", '`')
        .await
}

async fn columns(
    ctx: &Ctx<'_>,
    conn: &mut MySqlConnection,
    schemas: &[String],
) -> Result<Tables, DbError> {
    let sql = format!(
        "SELECT CAST(t.TABLE_SCHEMA AS CHAR), CAST(t.TABLE_NAME AS CHAR), CAST(c.COLUMN_NAME AS CHAR), \
                CAST(c.COLUMN_TYPE AS CHAR), CAST(c.IS_NULLABLE AS CHAR), CAST(c.COLUMN_DEFAULT AS CHAR), \
                CAST(c.COLUMN_COMMENT AS CHAR), CAST(t.TABLE_COMMENT AS CHAR) \
         FROM information_schema.TABLES t \
         LEFT JOIN information_schema.COLUMNS c \
                ON c.TABLE_SCHEMA = t.TABLE_SCHEMA AND c.TABLE_NAME = t.TABLE_NAME \
         WHERE t.TABLE_TYPE = 'BASE TABLE' AND t.TABLE_SCHEMA IN ({}) \
         ORDER BY t.TABLE_SCHEMA, t.TABLE_NAME, c.ORDINAL_POSITION",
        placeholders(schemas.len())
    );
    // A table without columns comes as one row of NULLs after its name.
    let rows: Vec<ColumnRow> =
        fetch_in_schemas(ctx, conn, "reading tables and columns", sql, schemas).await?;
    let mut tables = Tables::default();
    for (schema, table, name, type_, nullable, default, comment, table_comment) in rows {
        let t = tables.add(&schema, &table);
        t.comment = table_comment.filter(|c| !c.is_empty());
        let Some(name) = name else {
            continue;
        };
        t.columns.push(Column {
            name,
            type_: type_.unwrap_or_default(),
            nullable: nullable.as_deref() == Some("YES"),
            // MariaDB reports "no default" on a nullable column as the text NULL.
            default: default.filter(|d| d != "NULL"),
            comment: comment.filter(|c| !c.is_empty()),
        });
    }
    Ok(tables)
}

/// Schema, table, column, type, `YES`/`NO` nullable, default, column and table comment.
type ColumnRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// Kinds `PRIMARY KEY`, `UNIQUE` and `FOREIGN KEY`, one row per column.
type ConstraintRow = capture::ConstraintRow<String, Option<String>>;

async fn constraints(
    ctx: &Ctx<'_>,
    conn: &mut MySqlConnection,
    schemas: &[String],
) -> Result<Vec<ConstraintRow>, DbError> {
    let sql = format!(
        "SELECT CAST(k.TABLE_SCHEMA AS CHAR), CAST(k.TABLE_NAME AS CHAR), CAST(k.CONSTRAINT_NAME AS CHAR), \
                CAST(tc.CONSTRAINT_TYPE AS CHAR), CAST(k.COLUMN_NAME AS CHAR), \
                CAST(k.REFERENCED_TABLE_SCHEMA AS CHAR), CAST(k.REFERENCED_TABLE_NAME AS CHAR), \
                CAST(k.REFERENCED_COLUMN_NAME AS CHAR), \
                CAST(rc.DELETE_RULE AS CHAR), CAST(rc.UPDATE_RULE AS CHAR) \
         FROM information_schema.KEY_COLUMN_USAGE k \
         JOIN information_schema.TABLE_CONSTRAINTS tc \
           ON tc.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND tc.CONSTRAINT_NAME = k.CONSTRAINT_NAME \
          AND tc.TABLE_SCHEMA = k.TABLE_SCHEMA AND tc.TABLE_NAME = k.TABLE_NAME \
         LEFT JOIN information_schema.REFERENTIAL_CONSTRAINTS rc \
           ON rc.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND rc.CONSTRAINT_NAME = k.CONSTRAINT_NAME \
          AND rc.TABLE_NAME = k.TABLE_NAME \
         WHERE k.TABLE_SCHEMA IN ({}) \
           AND tc.CONSTRAINT_TYPE IN ('PRIMARY KEY', 'UNIQUE', 'FOREIGN KEY') \
         ORDER BY k.TABLE_SCHEMA, k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION",
        placeholders(schemas.len())
    );
    fetch_in_schemas(ctx, conn, "reading constraints", sql, schemas).await
}

/// Non-unique indexes (MySQL keeps no difference between a unique index and a unique
/// constraint: both are reported as unique constraints), one row per column.
async fn indexes(
    ctx: &Ctx<'_>,
    conn: &mut MySqlConnection,
    schemas: &[String],
) -> Result<Vec<IndexRow>, DbError> {
    let sql = format!(
        "SELECT CAST(TABLE_SCHEMA AS CHAR), CAST(TABLE_NAME AS CHAR), CAST(INDEX_NAME AS CHAR), \
                CAST(COLUMN_NAME AS CHAR) \
         FROM information_schema.STATISTICS \
         WHERE TABLE_SCHEMA IN ({}) AND NON_UNIQUE = 1 \
         ORDER BY TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
        placeholders(schemas.len())
    );
    fetch_in_schemas(ctx, conn, "reading indexes", sql, schemas).await
}

/// Schema, table, index, column (`None`: an expression).
type IndexRow = (String, String, String, Option<String>);
