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
    #[diagnostic(
        code(migverify::db::timeout),
        help(
            "the server answered but the query did not finish: is the database locked or under load?"
        )
    )]
    QueryTimeout {
        url: String,
        what: String,
        seconds: f64,
    },

    #[error("authentication failed ({url}): {message}")]
    #[diagnostic(code(migverify::db::auth))]
    Auth {
        url: String,
        message: String,
        #[help]
        help: Option<String>,
    },

    #[error("database does not exist ({url}): {message}")]
    #[diagnostic(
        code(migverify::db::missing_database),
        help(
            "check the database name in the URL, or create the database (`alembic upgrade` does not create it; migverify never does)"
        )
    )]
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
    Connect {
        url: String,
        message: String,
        #[help]
        help: Option<String>,
    },
}

/// A driver's message as people should read it: without sqlx's "error returned from
/// database: " prefix, the server's source-line suffix (`... at line 768`) and
/// internal module paths (`sqlx_postgres::connection::tls`).
pub fn tidy_message(message: &str) -> String {
    let mut m = message.trim();
    for prefix in [
        "error returned from database: ",
        "error communicating with database: ",
    ] {
        if let Some(rest) = m.strip_prefix(prefix) {
            m = rest;
        }
    }
    let mut out = m.to_string();
    // ` at line 768` (PostgreSQL's source position) at the end.
    if let Some(i) = out.rfind(" at line ")
        && !out[i + " at line ".len()..].is_empty()
        && out[i + " at line ".len()..]
            .chars()
            .all(|c| c.is_ascii_digit())
    {
        out.truncate(i);
    }
    // Rust module paths (`sqlx_postgres::connection::tls: `).
    let words: Vec<&str> = out.split(' ').collect();
    let kept: Vec<&str> = words
        .into_iter()
        .filter(|w| {
            let w = w.trim_end_matches([':', ',']);
            !(w.contains("::")
                && w.split("::").count() > 1
                && w.split("::").all(|p| {
                    !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                }))
        })
        .collect();
    kept.join(" ").trim().to_string()
}

/// The help for a failed login: a missing role, TLS demanded by the server, or a
/// wrong user name or password.
fn auth_help(message: &str) -> String {
    let lower = message.to_ascii_lowercase();
    if lower.contains("role") && lower.contains("does not exist") {
        "the user (role) named in the URL does not exist on this server: fix the user name, or create the role".into()
    } else if lower.contains("ssl") || lower.contains("tls") || lower.contains("encryption") {
        tls_help()
    } else {
        "check the user name and password in the database URL".into()
    }
}

fn tls_help() -> String {
    "the server and migverify disagree about TLS: add `?sslmode=require` to the URL when the server requires TLS (PostgreSQL; MySQL: `?ssl-mode=REQUIRED`), `?sslmode=disable` when it does not offer it".into()
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
        let message = tidy_message(&self.url.scrub(&err.to_string()));
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
            sqlx::Error::Tls(_) => DbError::Connect {
                url,
                message,
                help: Some(tls_help()),
            },
            sqlx::Error::Database(db) => {
                let code = db.code().map(|c| c.to_string()).unwrap_or_default();
                let number = db
                    .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                    .map(|e| e.number());
                match (code.as_str(), number) {
                    (_, Some(1045 | 1044 | 1698)) | ("28P01" | "28000", None) => DbError::Auth {
                        help: Some(auth_help(&message)),
                        url,
                        message,
                    },
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
                DbError::Query { url, message, .. } => DbError::Connect {
                    help: message.to_ascii_lowercase().contains("ssl").then(tls_help),
                    url,
                    message,
                },
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
            help: None,
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

#[cfg(test)]
mod message_tests {
    use super::*;

    #[test]
    fn driver_messages_lose_prefixes_source_lines_and_module_paths() {
        assert_eq!(
            tidy_message(
                "error returned from database: role \"nobody\" does not exist at line 768"
            ),
            "role \"nobody\" does not exist"
        );
        assert_eq!(
            tidy_message(
                "error communicating with database: sqlx_postgres::connection::tls: server does not support TLS"
            ),
            "server does not support TLS"
        );
        // A line number that is part of the text stays.
        assert_eq!(
            tidy_message("syntax error at line 3 near x"),
            "syntax error at line 3 near x"
        );
        assert!(auth_help("role \"x\" does not exist").contains("does not exist"));
        assert!(auth_help("no pg_hba.conf entry for host, SSL off").contains("sslmode"));
        assert!(auth_help("password authentication failed").contains("password"));
    }
}
