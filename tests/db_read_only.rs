//! Read-only proof from the servers' side: migverify is given a role that could
//! write (it owns the tables, and the database on PostgreSQL), runs every command that
//! connects (`check` in every format, `--full`, `snapshot`, and `graph`), and the
//! server's own triggers and statistics show that nothing was written. A positive
//! control then writes through the same role and the triggers see it, so the proof
//! is not vacuous.
//!
//! That a write attempted through the tool's own session is refused is shown on the
//! capture API by `tests/db_capture.rs` (`postgres_session_is_read_only`,
//! `mysql_session_is_read_only`, `sqlite_session_is_read_only_and_file_unchanged`).
//!
//! Needs `MIGVERIFY_TEST_POSTGRES_URL` / `MIGVERIFY_TEST_MYSQL_URL` (skips with a
//! printed reason otherwise); each test makes and drops its own database and role.

#![cfg(feature = "db")]

use std::path::Path;

use assert_cmd::Command;
use sqlx::{AssertSqlSafe, Connection, Row};
use tempfile::TempDir;

mod common;
use common::server_db::{Server, ServerDb, exec_all, runtime, unique_name};

fn project() -> TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let versions = tmp.path().join("versions");
    std::fs::create_dir(&versions).unwrap();
    for (rev, down, up, downgrade) in [
        (
            "a1",
            "None",
            "op.create_table('users', sa.Column('id', sa.Integer(), primary_key=True))",
            "op.drop_table('users')",
        ),
        (
            "b1",
            "'a1'",
            "op.add_column('users', sa.Column('email', sa.String(100)))",
            "op.drop_column('users', 'email')",
        ),
    ] {
        std::fs::write(
            versions.join(format!("{rev}.py")),
            format!(
                "from alembic import op\nimport sqlalchemy as sa\n\nrevision = '{rev}'\n\
                 down_revision = {down}\n\ndef upgrade():\n    {up}\n\n\
                 def downgrade():\n    {downgrade}\n"
            ),
        )
        .unwrap();
    }
    std::fs::write(
        tmp.path().join("migverify.toml"),
        "[migrations]\nversion_locations = [\"versions\"]\n",
    )
    .unwrap();
    // `--check-schema` needs models (it finds this file; none would be exit 2).
    std::fs::write(
        tmp.path().join("models.py"),
        "import sqlalchemy as sa\nfrom sqlalchemy.orm import declarative_base\n\n\
         Base = declarative_base()\n\n\nclass User(Base):\n    __tablename__ = 'users'\n    \
         id = sa.Column(sa.Integer, primary_key=True)\n",
    )
    .unwrap();
    tmp
}

/// Every command that connects, in every output form, as `url`.
fn run_every_command(root: &Path, url: &str) -> usize {
    let mut runs: Vec<Vec<&str>> = Vec::new();
    for format in ["human", "concise", "json", "sarif", "github"] {
        runs.push(vec!["check", "--verbose", "--no-cache", "--format", format]);
    }
    runs.push(vec!["check", "--full", "--no-cache"]);
    runs.push(vec!["check", "--check-schema"]);
    runs.push(vec!["snapshot"]);
    runs.push(vec!["snapshot", "-o", "snap.json"]);
    for args in &runs {
        let out = Command::cargo_bin("migverify")
            .unwrap()
            .args(args)
            .args(["--database-url", url])
            .current_dir(root)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let out = Command::cargo_bin("migverify")
        .unwrap()
        .args(["graph"])
        .current_dir(root)
        .output()
        .unwrap();
    assert!(out.status.success());
    // The snapshot saw the database, so the commands did connect.
    let snap = std::fs::read_to_string(root.join("snap.json")).unwrap();
    assert!(snap.contains("\"b1\""), "{snap}");
    runs.len() + 1
}

async fn pg_query(url: &str, sql: &str) -> Vec<(String, i64)> {
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    let rows = sqlx::query(AssertSqlSafe(sql.to_string()))
        .fetch_all(&mut c)
        .await
        .unwrap();
    c.close().await.unwrap();
    rows.iter()
        .map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1)))
        .collect()
}

async fn pg_script(url: &str, sql: &str) {
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
        .execute(&mut c)
        .await
        .unwrap_or_else(|e| panic!("{e}: {sql}"));
    c.close().await.unwrap();
}

/// Drops a role after the test database is gone (declare it before the database).
struct Cleanup(Box<dyn FnMut()>);
impl Drop for Cleanup {
    fn drop(&mut self) {
        (self.0)();
    }
}

#[test]
fn postgres_every_command_writes_nothing() {
    let role = unique_name("mv_owner");
    let _cleanup = {
        let role = role.clone();
        Cleanup(Box::new(move || {
            if let Ok(admin) = std::env::var(Server::Postgres.var()) {
                let sql = format!("DROP ROLE IF EXISTS {role}");
                let _ = std::thread::spawn(move || {
                    runtime().block_on(exec_all(Server::Postgres, &admin, &sql))
                })
                .join();
            }
        }))
    };
    let Some(db) = ServerDb::create(Server::Postgres, "mv_readonly") else {
        return;
    };
    let admin_db = db.url();
    let rt = runtime();
    rt.block_on(pg_script(
        db.admin_url(),
        &format!(
            "CREATE ROLE {role} LOGIN; ALTER DATABASE {d} OWNER TO {role}",
            d = db.name
        ),
    ));
    rt.block_on(pg_script(
        &admin_db,
        &format!(
            r#"
        CREATE TABLE audit_log (id serial PRIMARY KEY, what text NOT NULL);
        CREATE FUNCTION audit_row() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
        BEGIN
            INSERT INTO public.audit_log (what) VALUES (TG_OP || ' ' || TG_TABLE_NAME);
            RETURN NULL;
        END $$;
        CREATE FUNCTION audit_ddl() RETURNS event_trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
        BEGIN
            INSERT INTO public.audit_log (what) VALUES ('DDL ' || TG_TAG);
        END $$;
        CREATE EVENT TRIGGER audit_ddl_end ON ddl_command_end EXECUTE FUNCTION audit_ddl();
        CREATE EVENT TRIGGER audit_ddl_drop ON sql_drop EXECUTE FUNCTION audit_ddl();
        SET ROLE {role};
        CREATE TABLE users (id integer PRIMARY KEY, email varchar(100));
        CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);
        INSERT INTO alembic_version VALUES ('b1');
        INSERT INTO users VALUES (1, 'a@example.com');
        RESET ROLE;
        CREATE TRIGGER audit_users AFTER INSERT OR UPDATE OR DELETE ON users
            FOR EACH ROW EXECUTE FUNCTION audit_row();
        CREATE TRIGGER audit_users_truncate AFTER TRUNCATE ON users
            FOR EACH STATEMENT EXECUTE FUNCTION audit_row();
        CREATE TRIGGER audit_version AFTER INSERT OR UPDATE OR DELETE ON alembic_version
            FOR EACH ROW EXECUTE FUNCTION audit_row();
        CREATE TRIGGER audit_version_truncate AFTER TRUNCATE ON alembic_version
            FOR EACH STATEMENT EXECUTE FUNCTION audit_row();
        TRUNCATE audit_log;
        "#
        ),
    ));
    let stats = "SELECT relname::text, (n_tup_ins + n_tup_upd + n_tup_del)::bigint \
                 FROM pg_stat_user_tables WHERE relname IN ('users', 'alembic_version') \
                 ORDER BY 1";
    let audit = "SELECT what, id::bigint FROM audit_log ORDER BY id";
    let before = rt.block_on(pg_query(&admin_db, stats));

    // The role owns the database and the tables: it could write anything.
    let owner_url = {
        let (scheme, rest) = admin_db.split_once("://").unwrap();
        let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
        format!("{scheme}://{role}@{host}")
    };
    let tmp = project();
    let n = run_every_command(tmp.path(), &owner_url);
    assert!(n >= 10);

    assert_eq!(
        rt.block_on(pg_query(&admin_db, audit)),
        Vec::<(String, i64)>::new(),
        "the audit triggers saw a write"
    );
    assert_eq!(rt.block_on(pg_query(&admin_db, stats)), before);

    // Positive control: the same role, writing directly, is seen by the triggers.
    rt.block_on(pg_script(
        &owner_url,
        "INSERT INTO users VALUES (2, 'b@example.com'); CREATE TABLE intruder (id integer)",
    ));
    let seen: Vec<String> = rt
        .block_on(pg_query(&admin_db, audit))
        .into_iter()
        .map(|(w, _)| w)
        .collect();
    assert_eq!(seen, ["INSERT users", "DDL CREATE TABLE"]);
    drop(db);
}

#[test]
fn mysql_every_command_writes_nothing() {
    let user = unique_name("mv_owner");
    let _cleanup = {
        let user = user.clone();
        Cleanup(Box::new(move || {
            if let Ok(admin) = std::env::var(Server::Mysql.var()) {
                let sql = format!("DROP USER IF EXISTS '{user}'@'%'");
                let _ = std::thread::spawn(move || {
                    runtime().block_on(exec_all(Server::Mysql, &admin, &sql))
                })
                .join();
            }
        }))
    };
    let Some(db) = ServerDb::create(Server::Mysql, "mv_readonly") else {
        return;
    };
    db.setup(&format!(
        "CREATE USER '{user}'@'%';
         GRANT ALL PRIVILEGES ON {d}.* TO '{user}'@'%';
         CREATE TABLE audit_log (id integer AUTO_INCREMENT PRIMARY KEY, what text NOT NULL);
         CREATE TABLE users (id integer PRIMARY KEY, email varchar(100));
         CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);
         INSERT INTO alembic_version VALUES ('b1');
         INSERT INTO users VALUES (1, 'a@example.com');
         CREATE TRIGGER a_users_i AFTER INSERT ON users FOR EACH ROW INSERT INTO audit_log (what) VALUES ('INSERT users');
         CREATE TRIGGER a_users_u AFTER UPDATE ON users FOR EACH ROW INSERT INTO audit_log (what) VALUES ('UPDATE users');
         CREATE TRIGGER a_users_d AFTER DELETE ON users FOR EACH ROW INSERT INTO audit_log (what) VALUES ('DELETE users');
         CREATE TRIGGER a_version_i AFTER INSERT ON alembic_version FOR EACH ROW INSERT INTO audit_log (what) VALUES ('INSERT alembic_version');
         CREATE TRIGGER a_version_u AFTER UPDATE ON alembic_version FOR EACH ROW INSERT INTO audit_log (what) VALUES ('UPDATE alembic_version');
         CREATE TRIGGER a_version_d AFTER DELETE ON alembic_version FOR EACH ROW INSERT INTO audit_log (what) VALUES ('DELETE alembic_version')",
        d = db.name
    ));
    // DDL has no triggers in MariaDB: the tables, their creation times and their
    // checksums stand in for it.
    let state = |db: &ServerDb| -> Vec<(String, String)> {
        let url = db.url();
        let name = db.name.clone();
        runtime().block_on(async move {
            let mut c = sqlx::MySqlConnection::connect(&url).await.unwrap();
            let mut out: Vec<(String, String)> = sqlx::query(AssertSqlSafe(format!(
                "SELECT CAST(TABLE_NAME AS CHAR), CAST(CONCAT(IFNULL(CREATE_TIME, ''), ' ', TABLE_TYPE) AS CHAR) \
                 FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{name}' ORDER BY 1"
            )))
            .fetch_all(&mut c)
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get::<String, _>(0), r.get::<String, _>(1)))
            .collect();
            for row in sqlx::query("CHECKSUM TABLE users, alembic_version, audit_log")
                .fetch_all(&mut c)
                .await
                .unwrap()
            {
                let table: String = row.get(0);
                let sum: Option<i64> = row.try_get(1).unwrap();
                out.push((table, format!("{sum:?}")));
            }
            c.close().await.unwrap();
            out
        })
    };
    let before = state(&db);

    let owner_url = {
        let url = db.url();
        let (scheme, rest) = url.split_once("://").unwrap();
        let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h).to_string();
        format!("{scheme}://{user}@{host}")
    };
    let tmp = project();
    run_every_command(tmp.path(), &owner_url);
    assert_eq!(state(&db), before, "a table, a row or a checksum changed");

    // Positive control: a write by the same user fires the trigger and moves the checksum.
    runtime().block_on(exec_all(
        Server::Mysql,
        &owner_url,
        "INSERT INTO users VALUES (2, 'b@example.com')",
    ));
    assert_ne!(state(&db), before);
    let count: Vec<String> = runtime().block_on(async {
        let mut c = sqlx::MySqlConnection::connect(&db.url()).await.unwrap();
        let rows = sqlx::query("SELECT CAST(what AS CHAR) FROM audit_log")
            .fetch_all(&mut c)
            .await
            .unwrap();
        rows.iter().map(|r| r.get::<String, _>(0)).collect()
    });
    assert_eq!(count, ["INSERT users"]);
    drop(db);
}
