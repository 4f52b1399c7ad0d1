//! Capture against real servers. PostgreSQL and MySQL/MariaDB tests need
//! `MIGVERIFY_TEST_POSTGRES_URL` / `MIGVERIFY_TEST_MYSQL_URL` (an admin URL, e.g.
//! `postgres://postgres@127.0.0.1:5432/postgres`, `mysql://root@127.0.0.1:3306/mysql`)
//! and skip when unset. SQLite always runs. Each test creates its own database and
//! drops it afterwards, also on failure.

#![cfg(feature = "db")]

use std::path::Path;
use std::time::{Duration, Instant};

use migverify::db::{
    CaptureOptions, DbError, DbUrl, Dialect, Snapshot, capture, capture_blocking,
    execute_in_capture_session_blocking,
};
use sqlx::{AssertSqlSafe, Connection};

mod common;
use common::server_db::{Server as Backend, ServerDb as TempDb, runtime, with_database};

/// The throwaway databases of this file are named `mv_test_<pid>_<n>`.
fn temp_db(backend: Backend) -> Option<TempDb> {
    TempDb::create(backend, "mv_test")
}

fn db_url(db: &TempDb) -> DbUrl {
    DbUrl::parse(&db.url(), Path::new("/")).unwrap()
}

/// The same schema on every backend.
const SCENARIO: &str = "
CREATE TABLE users (
    id INTEGER NOT NULL,
    email VARCHAR(120) NOT NULL,
    name VARCHAR(50) DEFAULT 'anon',
    CONSTRAINT pk_users PRIMARY KEY (id),
    CONSTRAINT uq_users_email UNIQUE (email)
);
CREATE TABLE posts (
    id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    slug VARCHAR(40) NOT NULL,
    title VARCHAR(200),
    CONSTRAINT pk_posts PRIMARY KEY (id),
    CONSTRAINT fk_posts_user FOREIGN KEY (user_id) REFERENCES users (id),
    CONSTRAINT uq_posts_user_slug UNIQUE (user_id, slug)
);
CREATE INDEX ix_posts_title ON posts (title);
CREATE TABLE alembic_version (
    version_num VARCHAR(32) NOT NULL,
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
INSERT INTO alembic_version (version_num) VALUES ('ae1027a6acf');
";

fn opts() -> CaptureOptions {
    CaptureOptions {
        connect_timeout: Duration::from_secs(5),
        statement_timeout: Duration::from_secs(10),
        ..CaptureOptions::default()
    }
}

/// The parts every backend reports the same way.
fn normalized(s: &Snapshot) -> serde_json::Value {
    let tables: Vec<_> = s
        .tables
        .iter()
        .map(|t| {
            serde_json::json!({
                "name": t.name,
                "columns": t.columns.iter().map(|c| (c.name.clone(), c.nullable, c.default.is_some())).collect::<Vec<_>>(),
                "primary_key": t.primary_key,
                "foreign_keys": t.foreign_keys.iter().map(|f| (f.columns.clone(), f.referred_table.clone(), f.referred_columns.clone())).collect::<Vec<_>>(),
                "indexes": t.indexes.iter().map(|i| (i.name.clone(), i.columns.clone(), i.unique)).collect::<Vec<_>>(),
                "unique_constraints": t.unique_constraints.iter().map(|u| u.columns.clone()).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::json!({
        "version_table": { "name": s.version_table.name, "present": s.version_table.present, "revisions": s.version_table.revisions },
        "tables": tables,
        "table_names": s.table_names(),
    })
}

fn sqlite_db(dir: &Path, sql: &str) -> std::path::PathBuf {
    let path = dir.join("app.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    runtime().block_on(async {
        let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
            .execute(&mut c)
            .await
            .unwrap();
        c.close().await.unwrap();
    });
    path
}

fn assert_no_secret(e: &DbError, secret: &str) {
    let mut rendered = String::new();
    miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
        .render_report(&mut rendered, e)
        .unwrap();
    for text in [e.to_string(), format!("{e:?}"), rendered] {
        assert!(!text.contains(secret), "password leaked: {text}");
    }
}

// ---------------------------------------------------------------- PostgreSQL

#[test]
fn postgres_capture_exact() {
    let Some(db) = temp_db(Backend::Postgres) else {
        return;
    };
    db.setup(SCENARIO);
    let snap = capture_blocking(&db_url(&db), &opts()).unwrap();
    assert_eq!(snap.format_version, 2);
    assert_eq!(snap.dialect, Dialect::Postgresql);
    assert!(!snap.server_version.is_empty());
    assert_eq!(snap.schemas, vec!["public"]);
    assert_eq!(snap.version_revisions(), ["ae1027a6acf"]);
    assert!(snap.version_table.present);
    assert_eq!(snap.version_table.schema, "public");
    assert_eq!(snap.table_names(), vec!["posts", "users"]);
    let value = serde_json::to_value(&snap.tables).unwrap();
    assert_eq!(
        value,
        serde_json::json!([
            {"schema": "public", "name": "alembic_version",
             "columns": [{"name": "version_num", "type": "character varying(32)", "nullable": false, "default": null, "comment": null}],
             "primary_key": ["version_num"], "foreign_keys": [], "indexes": [], "unique_constraints": [], "comment": null},
            {"schema": "public", "name": "posts",
             "columns": [
                {"name": "id", "type": "integer", "nullable": false, "default": null, "comment": null},
                {"name": "user_id", "type": "integer", "nullable": false, "default": null, "comment": null},
                {"name": "slug", "type": "character varying(40)", "nullable": false, "default": null, "comment": null},
                {"name": "title", "type": "character varying(200)", "nullable": true, "default": null, "comment": null}],
             "primary_key": ["id"],
             "foreign_keys": [{"name": "fk_posts_user", "columns": ["user_id"], "referred_schema": "public", "referred_table": "users", "referred_columns": ["id"], "on_delete": "NO ACTION", "on_update": "NO ACTION"}],
             "indexes": [{"name": "ix_posts_title", "columns": ["title"], "unique": false}],
             "unique_constraints": [{"name": "uq_posts_user_slug", "columns": ["user_id", "slug"]}], "comment": null},
            {"schema": "public", "name": "users",
             "columns": [
                {"name": "id", "type": "integer", "nullable": false, "default": null, "comment": null},
                {"name": "email", "type": "character varying(120)", "nullable": false, "default": null, "comment": null},
                {"name": "name", "type": "character varying(50)", "nullable": true, "default": "'anon'::character varying", "comment": null}],
             "primary_key": ["id"], "foreign_keys": [],
             "indexes": [],
             "unique_constraints": [{"name": "uq_users_email", "columns": ["email"]}], "comment": null}
        ])
    );
    assert!(!snap.database.is_empty());
    // JSON round trip.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.json");
    snap.save(&path).unwrap();
    assert_eq!(Snapshot::from_path(&path).unwrap(), snap);
}

#[test]
fn postgres_session_is_read_only() {
    let Some(db) = temp_db(Backend::Postgres) else {
        return;
    };
    db.setup(SCENARIO);
    let url = db_url(&db);
    for sql in [
        "CREATE TABLE intruder (id integer)",
        "INSERT INTO alembic_version (version_num) VALUES ('x')",
        "UPDATE alembic_version SET version_num = 'y'",
        "BEGIN; INSERT INTO users (id, email) VALUES (1, 'a'); COMMIT",
    ] {
        let e = execute_in_capture_session_blocking(&url, &opts(), sql).unwrap_err();
        assert!(
            e.to_string().contains("read-only transaction"),
            "{sql}: {e}"
        );
    }
    let snap = capture_blocking(&url, &opts()).unwrap();
    assert_eq!(snap.version_revisions(), ["ae1027a6acf"]);
    assert!(snap.table(None, "intruder").is_none());
}

#[test]
fn postgres_missing_version_table() {
    let Some(db) = temp_db(Backend::Postgres) else {
        return;
    };
    db.setup("CREATE TABLE t (id integer PRIMARY KEY)");
    let snap = capture_blocking(&db_url(&db), &opts()).unwrap();
    assert!(!snap.version_table.present);
    assert!(snap.version_revisions().is_empty());
    assert_eq!(snap.table_names(), vec!["t"]);
}

#[test]
fn postgres_configured_version_table_and_schema() {
    let Some(db) = temp_db(Backend::Postgres) else {
        return;
    };
    db.setup(
        "CREATE SCHEMA meta; CREATE TABLE meta.my_versions (version_num varchar(32) PRIMARY KEY);
         INSERT INTO meta.my_versions VALUES ('b2'), ('a1')",
    );
    let o = CaptureOptions {
        version_table: "my_versions".into(),
        version_table_schema: Some("meta".into()),
        ..opts()
    };
    let snap = capture_blocking(&db_url(&db), &o).unwrap();
    assert!(snap.version_table.present);
    assert_eq!(snap.version_revisions(), ["a1", "b2"]);
    assert!(snap.tables.is_empty(), "only `public` is captured");
}

#[test]
fn postgres_unknown_user_error_hides_password() {
    let Ok(admin) = std::env::var("MIGVERIFY_TEST_POSTGRES_URL") else {
        println!("skipping: MIGVERIFY_TEST_POSTGRES_URL is not set");
        return;
    };
    let admin = DbUrl::parse(&admin, Path::new("/")).unwrap();
    let s = admin.server().unwrap();
    let url = format!(
        "postgresql+psycopg2://mv_nobody:Sup3rSecretPw@{}:{}/postgres",
        s.host, s.port
    );
    let e = capture_blocking(&DbUrl::parse(&url, Path::new("/")).unwrap(), &opts()).unwrap_err();
    assert!(matches!(e, DbError::Auth { .. }), "{e:?}");
    assert!(e.to_string().contains(":***@"), "{e}");
    assert_no_secret(&e, "Sup3rSecretPw");
}

#[test]
fn postgres_missing_database() {
    let Ok(admin) = std::env::var("MIGVERIFY_TEST_POSTGRES_URL") else {
        println!("skipping: MIGVERIFY_TEST_POSTGRES_URL is not set");
        return;
    };
    let url = with_database(&admin, "mv_no_such_database");
    let e = capture_blocking(&DbUrl::parse(&url, Path::new("/")).unwrap(), &opts()).unwrap_err();
    assert!(matches!(e, DbError::MissingDatabase { .. }), "{e:?}");
}

// ---------------------------------------------------------------- MySQL / MariaDB

#[test]
fn mysql_capture_exact() {
    let Some(db) = temp_db(Backend::Mysql) else {
        return;
    };
    db.setup(SCENARIO);
    let snap = capture_blocking(&db_url(&db), &opts()).unwrap();
    assert!(matches!(snap.dialect, Dialect::Mysql | Dialect::Mariadb));
    assert_eq!(snap.schemas, vec![db.name.clone()]);
    assert_eq!(snap.version_table.schema, db.name);
    assert_eq!(snap.version_revisions(), ["ae1027a6acf"]);
    assert_eq!(snap.table_names(), vec!["posts", "users"]);
    let users = snap.table(None, "users").unwrap();
    let int = if snap.dialect == Dialect::Mariadb || snap.server_version.starts_with("5.") {
        "int(11)"
    } else {
        "int"
    };
    let anon = if snap.dialect == Dialect::Mariadb {
        "'anon'"
    } else {
        "anon"
    };
    let schema = db.name.clone();
    assert_eq!(
        serde_json::to_value(users).unwrap(),
        serde_json::json!({"schema": schema, "name": "users",
            "columns": [
                {"name": "id", "type": int, "nullable": false, "default": null, "comment": null},
                {"name": "email", "type": "varchar(120)", "nullable": false, "default": null, "comment": null},
                {"name": "name", "type": "varchar(50)", "nullable": true, "default": anon, "comment": null}],
            "primary_key": ["id"], "foreign_keys": [], "indexes": [],
            "unique_constraints": [{"name": "uq_users_email", "columns": ["email"]}], "comment": null})
    );
    let posts = snap.table(None, "posts").unwrap();
    assert_eq!(posts.primary_key, ["id"]);
    // MySQL reports an FK without actions as `NO ACTION` or `RESTRICT` (MariaDB).
    for f in &posts.foreign_keys {
        for a in [&f.on_delete, &f.on_update] {
            assert!(
                matches!(a.as_deref(), Some("NO ACTION" | "RESTRICT")),
                "{a:?}"
            );
        }
    }
    let mut fks = serde_json::to_value(&posts.foreign_keys).unwrap();
    for f in fks.as_array_mut().unwrap() {
        let f = f.as_object_mut().unwrap();
        f.remove("on_delete");
        f.remove("on_update");
    }
    assert_eq!(
        fks,
        serde_json::json!([{"name": "fk_posts_user", "columns": ["user_id"], "referred_schema": schema, "referred_table": "users", "referred_columns": ["id"]}])
    );
    assert_eq!(
        serde_json::to_value(&posts.indexes).unwrap(),
        serde_json::json!([{"name": "ix_posts_title", "columns": ["title"], "unique": false}])
    );
    assert_eq!(
        serde_json::to_value(&posts.unique_constraints).unwrap(),
        serde_json::json!([{"name": "uq_posts_user_slug", "columns": ["user_id", "slug"]}])
    );
}

#[test]
fn mysql_session_is_read_only() {
    let Some(db) = temp_db(Backend::Mysql) else {
        return;
    };
    db.setup(SCENARIO);
    let url = db_url(&db);
    for sql in [
        "INSERT INTO alembic_version (version_num) VALUES ('x')",
        "UPDATE alembic_version SET version_num = 'y'",
        "DELETE FROM users",
        "CREATE TABLE intruder (id integer)",
    ] {
        let e = execute_in_capture_session_blocking(&url, &opts(), sql).unwrap_err();
        assert!(e.to_string().contains("READ ONLY"), "{sql}: {e}");
    }
    let snap = capture_blocking(&url, &opts()).unwrap();
    assert_eq!(snap.version_revisions(), ["ae1027a6acf"]);
    assert!(snap.table(None, "intruder").is_none());
}

#[test]
fn mysql_missing_version_table() {
    let Some(db) = temp_db(Backend::Mysql) else {
        return;
    };
    db.setup("CREATE TABLE t (id integer PRIMARY KEY)");
    let snap = capture_blocking(&db_url(&db), &opts()).unwrap();
    assert!(!snap.version_table.present);
    assert!(snap.version_revisions().is_empty());
    assert_eq!(snap.table_names(), vec!["t"]);
}

#[test]
fn mysql_wrong_password_error_hides_password() {
    let Ok(admin) = std::env::var("MIGVERIFY_TEST_MYSQL_URL") else {
        println!("skipping: MIGVERIFY_TEST_MYSQL_URL is not set");
        return;
    };
    let admin = DbUrl::parse(&admin, Path::new("/")).unwrap();
    let s = admin.server().unwrap();
    let url = format!(
        "mysql+pymysql://mv_nobody:Sup3r%40SecretPw@{}:{}/mysql",
        s.host, s.port
    );
    let e = capture_blocking(&DbUrl::parse(&url, Path::new("/")).unwrap(), &opts()).unwrap_err();
    assert!(matches!(e, DbError::Auth { .. }), "{e:?}");
    assert_no_secret(&e, "Sup3r@SecretPw");
    assert_no_secret(&e, "Sup3r%40SecretPw");
}

// ---------------------------------------------------------------- SQLite

#[test]
fn sqlite_capture_exact() {
    let dir = tempfile::tempdir().unwrap();
    let path = sqlite_db(dir.path(), SCENARIO);
    // SQLAlchemy's relative form, resolved against the project root.
    let url = DbUrl::parse("sqlite:///app.db", dir.path()).unwrap();
    let snap = capture_blocking(&url, &opts()).unwrap();
    assert_eq!(snap.dialect, Dialect::Sqlite);
    assert_eq!(snap.schemas, vec!["main"]);
    assert_eq!(snap.database, format!("sqlite:///{}", path.display()));
    assert_eq!(snap.version_revisions(), ["ae1027a6acf"]);
    let value = serde_json::to_value(&snap.tables).unwrap();
    assert_eq!(
        value,
        serde_json::json!([
            {"schema": "main", "name": "alembic_version",
             "columns": [{"name": "version_num", "type": "VARCHAR(32)", "nullable": false, "default": null, "comment": null}],
             "primary_key": ["version_num"], "foreign_keys": [], "indexes": [], "unique_constraints": [], "comment": null},
            {"schema": "main", "name": "posts",
             "columns": [
                {"name": "id", "type": "INTEGER", "nullable": false, "default": null, "comment": null},
                {"name": "user_id", "type": "INTEGER", "nullable": false, "default": null, "comment": null},
                {"name": "slug", "type": "VARCHAR(40)", "nullable": false, "default": null, "comment": null},
                {"name": "title", "type": "VARCHAR(200)", "nullable": true, "default": null, "comment": null}],
             "primary_key": ["id"],
             "foreign_keys": [{"name": null, "columns": ["user_id"], "referred_schema": "main", "referred_table": "users", "referred_columns": ["id"], "on_delete": "NO ACTION", "on_update": "NO ACTION"}],
             "indexes": [{"name": "ix_posts_title", "columns": ["title"], "unique": false}],
             // SQLite keeps the names only in the table's SQL, where they are read.
             "unique_constraints": [{"name": "uq_posts_user_slug", "columns": ["user_id", "slug"]}], "comment": null},
            {"schema": "main", "name": "users",
             "columns": [
                {"name": "id", "type": "INTEGER", "nullable": false, "default": null, "comment": null},
                {"name": "email", "type": "VARCHAR(120)", "nullable": false, "default": null, "comment": null},
                {"name": "name", "type": "VARCHAR(50)", "nullable": true, "default": "'anon'", "comment": null}],
             "primary_key": ["id"], "foreign_keys": [], "indexes": [],
             "unique_constraints": [{"name": "uq_users_email", "columns": ["email"]}], "comment": null}
        ])
    );
}

#[test]
fn sqlite_session_is_read_only_and_file_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = sqlite_db(dir.path(), SCENARIO);
    let before = std::fs::read(&path).unwrap();
    // Asking for a writable session in the URL changes nothing.
    let url = DbUrl::parse(
        &format!("sqlite:///{}?mode=rwc", path.display()),
        Path::new("/"),
    )
    .unwrap();
    for sql in [
        "CREATE TABLE intruder (id integer)",
        "INSERT INTO alembic_version (version_num) VALUES ('x')",
        "PRAGMA query_only = OFF; INSERT INTO alembic_version (version_num) VALUES ('x')",
    ] {
        let e = execute_in_capture_session_blocking(&url, &opts(), sql).unwrap_err();
        assert!(e.to_string().contains("readonly"), "{sql}: {e}");
    }
    let snap = capture_blocking(&url, &opts()).unwrap();
    assert_eq!(snap.version_revisions(), ["ae1027a6acf"]);
    assert!(snap.table(None, "intruder").is_none());
    assert_eq!(std::fs::read(&path).unwrap(), before, "the file changed");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, vec!["app.db"], "no journal or WAL files left behind");
}

#[test]
fn sqlite_missing_version_table() {
    let dir = tempfile::tempdir().unwrap();
    sqlite_db(dir.path(), "CREATE TABLE t (id integer PRIMARY KEY)");
    let url = DbUrl::parse("sqlite:///app.db", dir.path()).unwrap();
    let snap = capture_blocking(&url, &opts()).unwrap();
    assert!(!snap.version_table.present);
    assert!(snap.version_revisions().is_empty());
    assert_eq!(snap.table_names(), vec!["t"]);
}

#[test]
fn sqlite_missing_file_is_an_error_and_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let url = DbUrl::parse("sqlite:///nope.db", dir.path()).unwrap();
    let e = capture_blocking(&url, &opts()).unwrap_err();
    assert!(matches!(e, DbError::MissingFile { .. }), "{e:?}");
    assert!(e.to_string().contains("nope.db"), "{e}");
    assert!(!dir.path().join("nope.db").exists());
    let e =
        execute_in_capture_session_blocking(&url, &opts(), "CREATE TABLE t (id int)").unwrap_err();
    assert!(matches!(e, DbError::MissingFile { .. }), "{e:?}");
    assert!(!dir.path().join("nope.db").exists());
}

#[test]
fn sqlite_memory() {
    let url = DbUrl::parse("sqlite:///:memory:", Path::new("/")).unwrap();
    let snap = capture_blocking(&url, &opts()).unwrap();
    assert!(!snap.version_table.present);
    assert!(snap.tables.is_empty());
}

#[tokio::test]
async fn async_capture_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    {
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::raw_sql(SCENARIO).execute(&mut c).await.unwrap();
        c.close().await.unwrap();
    }
    let url = DbUrl::parse(&format!("sqlite:////{}", path.display()), Path::new("/")).unwrap();
    let snap = capture(&url, &opts()).await.unwrap();
    assert_eq!(snap.version_revisions(), ["ae1027a6acf"]);
}

// ---------------------------------------------------------------- connection failures

#[test]
fn connection_refused_names_host_and_port() {
    for url in [
        "postgresql://app:Sup3rSecretPw@127.0.0.1:1/db",
        "mysql://app:Sup3rSecretPw@127.0.0.1:1/db",
    ] {
        let o = CaptureOptions {
            connect_timeout: Duration::from_secs(2),
            ..opts()
        };
        let start = Instant::now();
        let e = capture_blocking(&DbUrl::parse(url, Path::new("/")).unwrap(), &o).unwrap_err();
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "{:?}",
            start.elapsed()
        );
        assert!(matches!(e, DbError::Refused { .. }), "{e:?}");
        assert!(e.to_string().contains("127.0.0.1:1"), "{e}");
        assert_no_secret(&e, "Sup3rSecretPw");
    }
}

#[test]
fn connect_timeout_is_honoured() {
    // A listener that accepts the TCP connection and never answers: the handshake hangs.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let o = CaptureOptions {
        connect_timeout: Duration::from_millis(300),
        ..opts()
    };
    for scheme in ["postgresql", "mysql"] {
        let url = DbUrl::parse(
            &format!("{scheme}://app:Sup3rSecretPw@127.0.0.1:{port}/db"),
            Path::new("/"),
        )
        .unwrap();
        let start = Instant::now();
        let e = capture_blocking(&url, &o).unwrap_err();
        let elapsed = start.elapsed();
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
        assert!(matches!(e, DbError::ConnectTimeout { .. }), "{e:?}");
        assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
        assert!(e.to_string().contains("0.3 s"), "{e}");
        assert_no_secret(&e, "Sup3rSecretPw");
    }
    drop(listener);
}

#[test]
fn statement_timeout_is_enforced() {
    let slow_pg = "SELECT pg_sleep(5)";
    // No sleep: MySQL's max_execution_time does not interrupt SLEEP() with an error.
    let slow_mysql = "SELECT COUNT(*) FROM information_schema.COLUMNS a, \
                      information_schema.COLUMNS b, information_schema.COLUMNS c";
    let o = CaptureOptions {
        statement_timeout: Duration::from_millis(300),
        ..opts()
    };
    for (backend, sql) in [(Backend::Postgres, slow_pg), (Backend::Mysql, slow_mysql)] {
        let Some(db) = temp_db(backend) else {
            continue;
        };
        let start = Instant::now();
        let e = execute_in_capture_session_blocking(&db_url(&db), &o, sql).unwrap_err();
        let elapsed = start.elapsed();
        assert!(elapsed < Duration::from_secs(3), "{backend:?}: {elapsed:?}");
        assert!(
            matches!(e, DbError::QueryTimeout { .. }),
            "{backend:?}: {e:?}"
        );
        assert!(e.to_string().contains("timed out after 0.3 s"), "{e}");
    }
}

// ---------------------------------------------------------------- all backends agree

#[test]
fn same_scenario_same_snapshot_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    sqlite_db(dir.path(), SCENARIO);
    let sqlite = capture_blocking(
        &DbUrl::parse("sqlite:///app.db", dir.path()).unwrap(),
        &opts(),
    )
    .unwrap();
    let expected = normalized(&sqlite);
    let mut compared = vec!["sqlite"];
    for backend in [Backend::Postgres, Backend::Mysql] {
        let Some(db) = temp_db(backend) else {
            continue;
        };
        db.setup(SCENARIO);
        let snap = capture_blocking(&db_url(&db), &opts()).unwrap();
        assert_eq!(
            normalized(&snap),
            expected,
            "{backend:?} differs from SQLite"
        );
        compared.push(snap.dialect.as_str());
    }
    println!("compared: {compared:?}");
}
