//! MySQL and MariaDB: `information_schema` read over read-only sessions.
//!
//! Read-only: every session runs `SET SESSION TRANSACTION READ ONLY` right after
//! connecting, plus a server-side statement timeout (MySQL `max_execution_time`,
//! MariaDB `max_statement_time`).

use sqlx::mysql::{MySql, MySqlConnectOptions, MySqlConnection, MySqlSslMode};
use sqlx::{AssertSqlSafe, Connection, Row};

use super::capture::{Captured, Ctx, DbError, Tables};
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
    let mut i = 0;
    while i < constraints.len() {
        let first = &constraints[i];
        let mut j = i;
        while j < constraints.len()
            && constraints[j].schema == first.schema
            && constraints[j].table == first.table
            && constraints[j].name == first.name
        {
            j += 1;
        }
        let group = &constraints[i..j];
        if let Some(t) = tables.get(&first.schema, &first.table) {
            let columns: Vec<String> = group.iter().map(|r| r.column.clone()).collect();
            match first.kind.as_str() {
                "PRIMARY KEY" => t.primary_key = columns,
                "UNIQUE" => t.unique_constraints.push(UniqueConstraint {
                    name: Some(first.name.clone()),
                    columns,
                }),
                "FOREIGN KEY" => t.foreign_keys.push(ForeignKey {
                    name: Some(first.name.clone()),
                    columns,
                    referred_schema: first.ref_schema.clone().unwrap_or_default(),
                    referred_table: first.ref_table.clone().unwrap_or_default(),
                    referred_columns: group
                        .iter()
                        .map(|r| r.ref_column.clone().unwrap_or_default())
                        .collect(),
                }),
                _ => {}
            }
        }
        i = j;
    }
    let mut i = 0;
    while i < indexes.len() {
        let (schema, table, name, _) = &indexes[i];
        let mut j = i;
        while j < indexes.len()
            && (&indexes[j].0, &indexes[j].1, &indexes[j].2) == (schema, table, name)
        {
            j += 1;
        }
        if let Some(t) = tables.get(schema, table) {
            t.indexes.push(Index {
                name: name.clone(),
                columns: indexes[i..j].iter().map(|r| r.3.clone()).collect(),
                unique: false,
            });
        }
        i = j;
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
    let what = "reading tables and columns";
    let sql = format!(
        "SELECT CAST(t.TABLE_SCHEMA AS CHAR), CAST(t.TABLE_NAME AS CHAR), CAST(c.COLUMN_NAME AS CHAR), \
                CAST(c.COLUMN_TYPE AS CHAR), CAST(c.IS_NULLABLE AS CHAR), CAST(c.COLUMN_DEFAULT AS CHAR) \
         FROM information_schema.TABLES t \
         LEFT JOIN information_schema.COLUMNS c \
                ON c.TABLE_SCHEMA = t.TABLE_SCHEMA AND c.TABLE_NAME = t.TABLE_NAME \
         WHERE t.TABLE_TYPE = 'BASE TABLE' AND t.TABLE_SCHEMA IN ({}) \
         ORDER BY t.TABLE_SCHEMA, t.TABLE_NAME, c.ORDINAL_POSITION",
        placeholders(schemas.len())
    );
    let mut q = sqlx::query(AssertSqlSafe(sql));
    for s in schemas {
        q = q.bind(s);
    }
    let rows = ctx.run(what, q.fetch_all(&mut *conn)).await?;
    let mut tables = Tables::default();
    let get = |e: sqlx::Error| ctx.classify(e, what);
    for row in rows {
        let schema: String = row.try_get(0).map_err(get)?;
        let table: String = row.try_get(1).map_err(get)?;
        let t = tables.add(&schema, &table);
        let Some(name) = row.try_get::<Option<String>, _>(2).map_err(get)? else {
            continue;
        };
        let nullable: String = row.try_get(4).map_err(get)?;
        let default: Option<String> = row.try_get(5).map_err(get)?;
        t.columns.push(Column {
            name,
            type_: row.try_get(3).map_err(get)?,
            nullable: nullable == "YES",
            // MariaDB reports "no default" on a nullable column as the text NULL.
            default: default.filter(|d| d != "NULL"),
        });
    }
    Ok(tables)
}

struct ConstraintRow {
    schema: String,
    table: String,
    name: String,
    kind: String,
    column: String,
    ref_schema: Option<String>,
    ref_table: Option<String>,
    ref_column: Option<String>,
}

async fn constraints(
    ctx: &Ctx<'_>,
    conn: &mut MySqlConnection,
    schemas: &[String],
) -> Result<Vec<ConstraintRow>, DbError> {
    let what = "reading constraints";
    let sql = format!(
        "SELECT CAST(k.TABLE_SCHEMA AS CHAR), CAST(k.TABLE_NAME AS CHAR), CAST(k.CONSTRAINT_NAME AS CHAR), \
                CAST(tc.CONSTRAINT_TYPE AS CHAR), CAST(k.COLUMN_NAME AS CHAR), \
                CAST(k.REFERENCED_TABLE_SCHEMA AS CHAR), CAST(k.REFERENCED_TABLE_NAME AS CHAR), \
                CAST(k.REFERENCED_COLUMN_NAME AS CHAR) \
         FROM information_schema.KEY_COLUMN_USAGE k \
         JOIN information_schema.TABLE_CONSTRAINTS tc \
           ON tc.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND tc.CONSTRAINT_NAME = k.CONSTRAINT_NAME \
          AND tc.TABLE_SCHEMA = k.TABLE_SCHEMA AND tc.TABLE_NAME = k.TABLE_NAME \
         WHERE k.TABLE_SCHEMA IN ({}) \
           AND tc.CONSTRAINT_TYPE IN ('PRIMARY KEY', 'UNIQUE', 'FOREIGN KEY') \
         ORDER BY k.TABLE_SCHEMA, k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION",
        placeholders(schemas.len())
    );
    let mut q = sqlx::query(AssertSqlSafe(sql));
    for s in schemas {
        q = q.bind(s);
    }
    let rows = ctx.run(what, q.fetch_all(&mut *conn)).await?;
    let get = |e: sqlx::Error| ctx.classify(e, what);
    rows.into_iter()
        .map(|row| {
            Ok(ConstraintRow {
                schema: row.try_get(0).map_err(get)?,
                table: row.try_get(1).map_err(get)?,
                name: row.try_get(2).map_err(get)?,
                kind: row.try_get(3).map_err(get)?,
                column: row.try_get(4).map_err(get)?,
                ref_schema: row.try_get(5).map_err(get)?,
                ref_table: row.try_get(6).map_err(get)?,
                ref_column: row.try_get(7).map_err(get)?,
            })
        })
        .collect()
}

/// Non-unique indexes (MySQL keeps no difference between a unique index and a unique
/// constraint: both are reported as unique constraints), one row per column.
async fn indexes(
    ctx: &Ctx<'_>,
    conn: &mut MySqlConnection,
    schemas: &[String],
) -> Result<Vec<(String, String, String, String)>, DbError> {
    let what = "reading indexes";
    let sql = format!(
        "SELECT CAST(TABLE_SCHEMA AS CHAR), CAST(TABLE_NAME AS CHAR), CAST(INDEX_NAME AS CHAR), \
                CAST(COLUMN_NAME AS CHAR) \
         FROM information_schema.STATISTICS \
         WHERE TABLE_SCHEMA IN ({}) AND NON_UNIQUE = 1 \
         ORDER BY TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
        placeholders(schemas.len())
    );
    let mut q = sqlx::query(AssertSqlSafe(sql));
    for s in schemas {
        q = q.bind(s);
    }
    let rows = ctx.run(what, q.fetch_all(&mut *conn)).await?;
    let get = |e: sqlx::Error| ctx.classify(e, what);
    rows.into_iter()
        .map(|row| {
            let column: Option<String> = row.try_get(3).map_err(get)?;
            Ok((
                row.try_get(0).map_err(get)?,
                row.try_get(1).map_err(get)?,
                row.try_get(2).map_err(get)?,
                column.unwrap_or_else(|| "<expression>".to_string()),
            ))
        })
        .collect()
}
