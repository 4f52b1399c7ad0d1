//! Capturing a [`Snapshot`] from a live database: read-only sessions, timeouts,
//! errors. The per-dialect queries are in `postgres.rs`, `mysql.rs` and `sqlite.rs`.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use miette::Diagnostic;
use thiserror::Error;

use super::snapshot::{Dialect, FORMAT_VERSION, Snapshot, Table, VersionTable, now_rfc3339};
use super::url::{DbUrl, SqliteTarget, Target, UrlError};
use super::{mysql, postgres, sqlite};

/// What to capture and how long to wait.
#[derive(Clone, Debug)]
pub struct CaptureOptions {
    /// How long establishing a connection may take (default 5 s).
    pub connect_timeout: Duration,
    /// How long one query may take (default 30 s), enforced by the server where it can
    /// and by the client always.
    pub statement_timeout: Duration,
    /// The version table (default `alembic_version`).
    pub version_table: String,
    /// Its schema; `None`: PostgreSQL `public`, MySQL the connected database, SQLite `main`.
    pub version_table_schema: Option<String>,
    /// Schemas to capture; empty: PostgreSQL `public`, MySQL the connected database,
    /// SQLite `main`.
    pub schemas: Vec<String>,
}

impl Default for CaptureOptions {
    fn default() -> Self {
        CaptureOptions {
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
            version_table: "alembic_version".to_string(),
            version_table_schema: None,
            schemas: Vec::new(),
        }
    }
}

/// A database that could not be captured. Every message shows the URL redacted.
#[derive(Debug, Error, Diagnostic)]
pub enum DbError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Url(#[from] UrlError),

    #[error("cannot connect to {address}: connection refused ({url})")]
    #[diagnostic(
        code(migverify::db::refused),
        help("is the database server running and listening on {address}?")
    )]
    Refused { url: String, address: String },

    #[error("cannot reach {address} ({url}): {message}")]
    #[diagnostic(code(migverify::db::unreachable))]
    Unreachable {
        url: String,
        address: String,
        message: String,
    },

    #[error("timed out after {seconds} s connecting to {address} ({url})")]
    #[diagnostic(
        code(migverify::db::timeout),
        help("check the host, port and firewall, or raise `connect_timeout`")
    )]
    ConnectTimeout {
        url: String,
        address: String,
        seconds: f64,
    },

    #[error("{what} timed out after {seconds} s ({url})")]
    #[diagnostic(code(migverify::db::timeout))]
    QueryTimeout {
        url: String,
        what: String,
        seconds: f64,
    },

    #[error("authentication failed ({url}): {message}")]
    #[diagnostic(
        code(migverify::db::auth),
        help("check the user name and password in the database URL")
    )]
    Auth { url: String, message: String },

    #[error("database does not exist ({url}): {message}")]
    #[diagnostic(code(migverify::db::missing_database))]
    MissingDatabase { url: String, message: String },

    #[error("SQLite database file {path} does not exist ({url})")]
    #[diagnostic(
        code(migverify::db::missing_file),
        help(
            "migverify never creates a database; check the path (a relative `sqlite:///` path is relative to the project root)"
        )
    )]
    MissingFile { url: String, path: String },

    #[error("{what} failed ({url}): {message}")]
    #[diagnostic(code(migverify::db::query))]
    Query {
        url: String,
        what: String,
        message: String,
    },

    #[error("cannot connect ({url}): {message}")]
    #[diagnostic(code(migverify::db::connect))]
    Connect { url: String, message: String },
}

/// What every query helper needs: the URL (for messages) and the options.
pub(super) struct Ctx<'a> {
    pub url: &'a DbUrl,
    pub opts: &'a CaptureOptions,
}

impl Ctx<'_> {
    /// The configured schemas, or the dialect's default one.
    pub fn schemas_or(&self, default: &str) -> Vec<String> {
        if self.opts.schemas.is_empty() {
            vec![default.to_string()]
        } else {
            self.opts.schemas.clone()
        }
    }

    /// The version table's schema: as configured, else the first schema captured.
    pub fn version_table_schema(&self, schemas: &[String]) -> String {
        self.opts
            .version_table_schema
            .clone()
            .unwrap_or_else(|| schemas[0].clone())
    }

    pub fn redacted(&self) -> String {
        self.url.redacted().to_string()
    }

    fn address(&self) -> String {
        match &self.url.target {
            Target::Server(s) => s.address(),
            Target::Sqlite(SqliteTarget::File(p)) => p.display().to_string(),
            Target::Sqlite(SqliteTarget::Memory) => ":memory:".to_string(),
        }
    }

    /// Turns a driver error into a [`DbError`], scrubbing the password from its text.
    pub fn classify(&self, err: sqlx::Error, what: &str) -> DbError {
        let url = self.redacted();
        let message = self.url.scrub(&err.to_string());
        match &err {
            sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
                DbError::Refused {
                    url,
                    address: self.address(),
                }
            }
            sqlx::Error::Io(_) => DbError::Unreachable {
                url,
                address: self.address(),
                message,
            },
            sqlx::Error::PoolTimedOut => DbError::ConnectTimeout {
                url,
                address: self.address(),
                seconds: self.opts.connect_timeout.as_secs_f64(),
            },
            sqlx::Error::Tls(_) => DbError::Connect { url, message },
            sqlx::Error::Database(db) => {
                let code = db.code().map(|c| c.to_string()).unwrap_or_default();
                let number = db
                    .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                    .map(|e| e.number());
                match (code.as_str(), number) {
                    (_, Some(1045 | 1044 | 1698)) | ("28P01" | "28000", None) => {
                        DbError::Auth { url, message }
                    }
                    (_, Some(1049)) | ("3D000", None) => DbError::MissingDatabase { url, message },
                    (_, Some(3024 | 1969)) | ("57014", None) => DbError::QueryTimeout {
                        url,
                        what: what.to_string(),
                        seconds: self.opts.statement_timeout.as_secs_f64(),
                    },
                    _ => DbError::Query {
                        url,
                        what: what.to_string(),
                        message,
                    },
                }
            }
            _ => DbError::Query {
                url,
                what: what.to_string(),
                message,
            },
        }
    }

    /// Runs one query under the client-side statement timeout.
    pub async fn run<T, F>(&self, what: &str, fut: F) -> Result<T, DbError>
    where
        F: Future<Output = Result<T, sqlx::Error>>,
    {
        match tokio::time::timeout(self.opts.statement_timeout, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.classify(e, what)),
            Err(_) => Err(DbError::QueryTimeout {
                url: self.redacted(),
                what: what.to_string(),
                seconds: self.opts.statement_timeout.as_secs_f64(),
            }),
        }
    }

    /// Establishes one connection under the connect timeout.
    pub async fn connect<T, F>(&self, fut: F) -> Result<T, DbError>
    where
        F: Future<Output = Result<T, sqlx::Error>>,
    {
        match tokio::time::timeout(self.opts.connect_timeout, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(match self.classify(e, "connecting") {
                DbError::Query { url, message, .. } => DbError::Connect { url, message },
                other => other,
            }),
            Err(_) => Err(DbError::ConnectTimeout {
                url: self.redacted(),
                address: self.address(),
                seconds: self.opts.connect_timeout.as_secs_f64(),
            }),
        }
    }

    /// Runs `sql` (any statement) on `conn` under the statement timeout, then closes it.
    pub async fn execute_and_close<C>(&self, mut conn: C, sql: &str) -> Result<(), DbError>
    where
        C: sqlx::Connection,
        for<'c> &'c mut C: sqlx::Executor<'c, Database = C::Database>,
    {
        let r = self
            .run(
                "statement",
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string())).execute(&mut conn),
            )
            .await;
        let _ = conn.close().await;
        r.map(|_| ())
    }

    /// The version table `schema`.`opts.version_table`, `present` as the dialect's
    /// catalog query found it, with its revisions read by
    /// `SELECT {version_num} FROM schema.name ORDER BY 1` (identifiers quoted with `q`).
    pub async fn version_table<DB>(
        &self,
        conn: &mut DB::Connection,
        schema: &str,
        present: bool,
        version_num: &str,
        q: char,
    ) -> Result<VersionTable, DbError>
    where
        DB: sqlx::Database,
        for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
        DB::Arguments: sqlx::IntoArguments<DB>,
        (Option<String>,): for<'r> sqlx::FromRow<'r, DB::Row>,
    {
        let name = &self.opts.version_table;
        let revisions = if present {
            let sql = format!(
                "SELECT {version_num} FROM {}.{} ORDER BY 1",
                quote(schema, q),
                quote(name, q)
            );
            self.run(
                "reading the version table",
                sqlx::query_scalar::<DB, Option<String>>(sqlx::AssertSqlSafe(sql)).fetch_all(conn),
            )
            .await?
            .into_iter()
            .flatten()
            .collect()
        } else {
            Vec::new()
        };
        Ok(VersionTable {
            name: name.clone(),
            schema: schema.to_string(),
            present,
            revisions,
        })
    }
}

/// What a dialect's capture returns; [`capture`] adds the rest.
pub(super) struct Captured {
    pub dialect: Dialect,
    pub server_version: String,
    pub version_table: VersionTable,
    pub schemas: Vec<String>,
    pub tables: Vec<Table>,
}

/// A constraint as a catalog query returns it: schema, table, name, kind, its
/// column(s) `C`, and for a foreign key the referred schema, table and column(s) `R`
/// and its `ON DELETE` and `ON UPDATE` rules.
pub(super) type ConstraintRow<C, R> = (
    String,
    String,
    String,
    String,
    C,
    Option<String>,
    Option<String>,
    R,
    Option<String>,
    Option<String>,
);

/// Tables under construction, keyed by (schema, name).
#[derive(Default)]
pub(super) struct Tables(pub BTreeMap<(String, String), Table>);

impl Tables {
    pub fn add(&mut self, schema: &str, name: &str) -> &mut Table {
        self.0
            .entry((schema.to_string(), name.to_string()))
            .or_insert_with(|| Table {
                schema: schema.to_string(),
                name: name.to_string(),
                columns: Vec::new(),
                primary_key: Vec::new(),
                foreign_keys: Vec::new(),
                indexes: Vec::new(),
                unique_constraints: Vec::new(),
                comment: None,
            })
    }

    pub fn get(&mut self, schema: &str, name: &str) -> Option<&mut Table> {
        self.0.get_mut(&(schema.to_string(), name.to_string()))
    }

    pub fn into_vec(self) -> Vec<Table> {
        self.0.into_values().collect()
    }
}

/// Captures the version table and schema of the database at `url`, read-only.
pub async fn capture(url: &DbUrl, opts: &CaptureOptions) -> Result<Snapshot, DbError> {
    let ctx = Ctx { url, opts };
    let captured = match &url.target {
        Target::Server(server) => match url.dialect {
            Dialect::Postgresql => postgres::capture(&ctx, server).await?,
            _ => mysql::capture(&ctx, server).await?,
        },
        Target::Sqlite(target) => sqlite::capture(&ctx, target).await?,
    };
    let mut snapshot = Snapshot {
        format_version: FORMAT_VERSION,
        dialect: captured.dialect,
        server_version: captured.server_version,
        database: url.redacted().to_string(),
        captured_at: now_rfc3339(),
        version_table: captured.version_table,
        schemas: captured.schemas,
        tables: captured.tables,
    };
    snapshot.normalize();
    Ok(snapshot)
}

/// [`capture`] for synchronous callers: runs it on a private single-threaded runtime.
pub fn capture_blocking(url: &DbUrl, opts: &CaptureOptions) -> Result<Snapshot, DbError> {
    runtime(url)?.block_on(capture(url, opts))
}

fn runtime(url: &DbUrl) -> Result<tokio::runtime::Runtime, DbError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| DbError::Connect {
            url: url.redacted().to_string(),
            message: format!("cannot start the async runtime: {e}"),
        })
}

/// Runs one statement on a session opened exactly as [`capture`] opens them. It
/// exists to prove that sessions are read-only: any write must fail.
#[doc(hidden)]
pub async fn execute_in_capture_session(
    url: &DbUrl,
    opts: &CaptureOptions,
    sql: &str,
) -> Result<(), DbError> {
    let ctx = Ctx { url, opts };
    match &url.target {
        Target::Server(server) => match url.dialect {
            Dialect::Postgresql => postgres::execute(&ctx, server, sql).await,
            _ => mysql::execute(&ctx, server, sql).await,
        },
        Target::Sqlite(target) => sqlite::execute(&ctx, target, sql).await,
    }
}

/// Blocking form of [`execute_in_capture_session`].
#[doc(hidden)]
pub fn execute_in_capture_session_blocking(
    url: &DbUrl,
    opts: &CaptureOptions,
    sql: &str,
) -> Result<(), DbError> {
    runtime(url)?.block_on(execute_in_capture_session(url, opts, sql))
}

/// Quotes an identifier with `q` (`"` or `` ` ``), doubling it inside.
pub(super) fn quote(ident: &str, q: char) -> String {
    let doubled = format!("{q}{q}");
    format!("{q}{}{q}", ident.replace(q, &doubled))
}
