//! PostgreSQL: catalogs (`pg_catalog`) read over read-only sessions.
//!
//! Read-only: every session starts with `default_transaction_read_only=on` and
//! `statement_timeout` in its startup options, and then runs
//! `SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY`.

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode, Postgres};

use super::capture::{self, Captured, Ctx, DbError, Tables};
use super::snapshot::{Column, Dialect, ForeignKey, Index, UniqueConstraint, VersionTable};
use super::url::ServerUrl;

fn connect_options(ctx: &Ctx<'_>, server: &ServerUrl) -> Result<PgConnectOptions, DbError> {
    let mut o = PgConnectOptions::new()
        .host(&server.host)
        .port(server.port)
        .application_name("migverify");
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
    // libpq `sslmode`, or asyncpg's `ssl` (`true`/`require`/...).
    let ssl = server.param("sslmode").or_else(|| server.param("ssl"));
    if let Some(mode) = ssl {
        let mode = match mode.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => "require".to_string(),
            "false" | "0" | "no" | "off" => "disable".to_string(),
            m => m.to_string(),
        };
        let parsed: PgSslMode = mode.parse().map_err(|_| DbError::Connect {
            url: ctx.redacted(),
            message: format!(
                "unknown sslmode `{mode}` (expected disable, allow, prefer, require, verify-ca or verify-full)"
            ),
        })?;
        o = o.ssl_mode(parsed);
    }
    if let Some(cert) = server.param("sslrootcert") {
        o = o.ssl_root_cert(cert);
    }
    if let Some(cert) = server.param("sslcert") {
        o = o.ssl_client_cert(cert);
    }
    if let Some(key) = server.param("sslkey") {
        o = o.ssl_client_key(key);
    }
    let ms = ctx.opts.statement_timeout.as_millis().max(1);
    Ok(o.options([
        ("default_transaction_read_only", "on".to_string()),
        ("statement_timeout", ms.to_string()),
        ("lock_timeout", ms.to_string()),
        ("idle_in_transaction_session_timeout", (ms * 2).to_string()),
    ]))
}

async fn connect(ctx: &Ctx<'_>, o: &PgConnectOptions) -> Result<PgConnection, DbError> {
    let mut conn = ctx.connect(PgConnection::connect_with(o)).await?;
    ctx.run(
        "setting the session read-only",
        sqlx::query("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY").execute(&mut conn),
    )
    .await?;
    Ok(conn)
}

pub(super) async fn execute(ctx: &Ctx<'_>, server: &ServerUrl, sql: &str) -> Result<(), DbError> {
    let o = connect_options(ctx, server)?;
    let conn = connect(ctx, &o).await?;
    ctx.execute_and_close(conn, sql).await
}

pub(super) async fn capture(ctx: &Ctx<'_>, server: &ServerUrl) -> Result<Captured, DbError> {
    let o = connect_options(ctx, server)?;
    let schemas = ctx.schemas_or("public");
    let vt_schema = ctx.version_table_schema(&schemas);

    let (mut c1, mut c2, mut c3, mut c4) = tokio::try_join!(
        connect(ctx, &o),
        connect(ctx, &o),
        connect(ctx, &o),
        connect(ctx, &o)
    )?;
    let result = tokio::try_join!(
        version_and_table(ctx, &mut c1, &vt_schema),
        columns(ctx, &mut c2, &schemas),
        constraints(ctx, &mut c3, &schemas),
        indexes(ctx, &mut c4, &schemas),
    );
    for c in [c1, c2, c3, c4] {
        let _ = c.close().await;
    }
    let ((server_version, version_table), mut tables, constraints, indexes) = result?;

    for (
        schema,
        table,
        name,
        kind,
        columns,
        ref_schema,
        ref_table,
        ref_columns,
        on_delete,
        on_update,
    ) in constraints
    {
        let Some(t) = tables.get(&schema, &table) else {
            continue;
        };
        match kind.as_str() {
            "p" => t.primary_key = columns,
            "u" => t.unique_constraints.push(UniqueConstraint {
                name: Some(name),
                columns,
            }),
            "f" => t.foreign_keys.push(ForeignKey {
                name: Some(name),
                columns,
                referred_schema: ref_schema.unwrap_or_default(),
                referred_table: ref_table.unwrap_or_default(),
                referred_columns: ref_columns,
                on_delete,
                on_update,
            }),
            _ => {}
        }
    }
    for (schema, table, name, unique, columns) in indexes {
        if let Some(t) = tables.get(&schema, &table) {
            t.indexes.push(Index {
                name,
                unique,
                columns,
            });
        }
    }
    Ok(Captured {
        dialect: Dialect::Postgresql,
        server_version,
        version_table,
        schemas,
        tables: tables.into_vec(),
    })
}

async fn version_and_table(
    ctx: &Ctx<'_>,
    conn: &mut PgConnection,
    schema: &str,
) -> Result<(String, VersionTable), DbError> {
    let version: String = ctx
        .run(
            "reading the server version",
            sqlx::query_scalar("SELECT current_setting('server_version')").fetch_one(&mut *conn),
        )
        .await?;
    let present: bool = ctx
        .run(
            "looking for the version table",
            sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p', 'v', 'f'))",
            )
            .bind(schema)
            .bind(&ctx.opts.version_table)
            .fetch_one(&mut *conn),
        )
        .await?;
    let table = ctx
        .version_table::<Postgres>(conn, schema, present, "version_num::text", '"')
        .await?;
    Ok((version, table))
}

async fn columns(
    ctx: &Ctx<'_>,
    conn: &mut PgConnection,
    schemas: &[String],
) -> Result<Tables, DbError> {
    // A table without columns comes as one row of NULLs after its name.
    let rows: Vec<ColumnRow> = ctx
        .run(
            "reading tables and columns",
            sqlx::query_as(
                "SELECT n.nspname::text, c.relname::text, a.attname::text, \
                        pg_catalog.format_type(a.atttypid, a.atttypmod), NOT a.attnotnull, \
                        pg_catalog.pg_get_expr(d.adbin, d.adrelid), \
                        pg_catalog.col_description(c.oid, a.attnum), \
                        pg_catalog.obj_description(c.oid, 'pg_class') \
                 FROM pg_catalog.pg_class c \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 LEFT JOIN pg_catalog.pg_attribute a \
                        ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
                 LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum \
                 WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname = ANY($1) \
                 ORDER BY 1, 2, a.attnum",
            )
            .bind(schemas)
            .fetch_all(&mut *conn),
        )
        .await?;
    let mut tables = Tables::default();
    for (schema, table, name, type_, nullable, default, comment, table_comment) in rows {
        let t = tables.add(&schema, &table);
        t.comment = table_comment;
        let Some(name) = name else {
            continue;
        };
        t.columns.push(Column {
            name,
            type_: type_.unwrap_or_default(),
            nullable: nullable.unwrap_or_default(),
            default,
            comment,
        });
    }
    Ok(tables)
}

/// Schema, table, column, type, nullable, default, column comment, table comment.
type ColumnRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<bool>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// Kinds `p`, `u` and `f`, with all the columns of a constraint in one row.
type ConstraintRow = capture::ConstraintRow<Vec<String>, Vec<String>>;

async fn constraints(
    ctx: &Ctx<'_>,
    conn: &mut PgConnection,
    schemas: &[String],
) -> Result<Vec<ConstraintRow>, DbError> {
    ctx.run(
        "reading constraints",
        sqlx::query_as(
            "SELECT n.nspname::text, c.relname::text, con.conname::text, con.contype::text, \
               ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(num, ord) \
                     JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num \
                     ORDER BY k.ord), \
               rn.nspname::text, rc.relname::text, \
               ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(num, ord) \
                     JOIN pg_catalog.pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num \
                     ORDER BY k.ord), \
               CASE WHEN con.contype = 'f' THEN CASE con.confdeltype WHEN 'a' THEN 'NO ACTION' \
                 WHEN 'r' THEN 'RESTRICT' WHEN 'c' THEN 'CASCADE' WHEN 'n' THEN 'SET NULL' \
                 WHEN 'd' THEN 'SET DEFAULT' END END, \
               CASE WHEN con.contype = 'f' THEN CASE con.confupdtype WHEN 'a' THEN 'NO ACTION' \
                 WHEN 'r' THEN 'RESTRICT' WHEN 'c' THEN 'CASCADE' WHEN 'n' THEN 'SET NULL' \
                 WHEN 'd' THEN 'SET DEFAULT' END END \
             FROM pg_catalog.pg_constraint con \
             JOIN pg_catalog.pg_class c ON c.oid = con.conrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             LEFT JOIN pg_catalog.pg_class rc ON rc.oid = con.confrelid \
             LEFT JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace \
             WHERE con.contype IN ('p', 'u', 'f') AND n.nspname = ANY($1) \
             ORDER BY 1, 2, 3",
        )
        .bind(schemas)
        .fetch_all(&mut *conn),
    )
    .await
}

async fn indexes(
    ctx: &Ctx<'_>,
    conn: &mut PgConnection,
    schemas: &[String],
) -> Result<Vec<IndexRow>, DbError> {
    ctx.run(
        "reading indexes",
        sqlx::query_as(
            "SELECT n.nspname::text, c.relname::text, i.relname::text, ix.indisunique, \
               ARRAY(SELECT pg_catalog.pg_get_indexdef(ix.indexrelid, k, true) \
                     FROM generate_series(1, ix.indnkeyatts) AS k ORDER BY k) \
             FROM pg_catalog.pg_index ix \
             JOIN pg_catalog.pg_class i ON i.oid = ix.indexrelid \
             JOIN pg_catalog.pg_class c ON c.oid = ix.indrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p') AND NOT ix.indisprimary \
               AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint con \
                               WHERE con.conindid = ix.indexrelid AND con.conrelid = ix.indrelid \
                                 AND con.contype IN ('p', 'u', 'x')) \
             ORDER BY 1, 2, 3",
        )
        .bind(schemas)
        .fetch_all(&mut *conn),
    )
    .await
}

/// Schema, table, name, unique, key columns (expressions as written).
type IndexRow = (String, String, String, bool, Vec<String>);
