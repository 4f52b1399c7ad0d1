//! Database faults through the `migverify` binary, against the real local servers
//! (`MIGVERIFY_TEST_POSTGRES_URL` / `MIGVERIFY_TEST_MYSQL_URL`, from
//! `scripts/test-databases`; tests that need a server skip with a printed reason when
//! its variable is unset). Each test makes and drops its own uniquely named database
//! (`tests/common/server_db.rs`), and its own roles.
//!
//! Already covered elsewhere, not repeated here: refused connection, connect and
//! statement timeouts and a missing database on the capture API
//! (`tests/db_capture.rs`); an unreachable port through the binary and the password
//! in every format on a successful run (`tests/db_rules.rs`).

#![cfg(feature = "db")]

use std::path::Path;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use tempfile::TempDir;

mod common;
use common::server_db::{Server, ServerDb, exec_all, runtime, unique_name, with_database};

/// A project: `a1` then `b1` (head), and a `migverify.toml` with `config` appended.
fn project(config: &str) -> TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let versions = tmp.path().join("versions");
    std::fs::create_dir(&versions).unwrap();
    for (rev, down, table) in [("a1", "None", "t1"), ("b1", "'a1'", "t2")] {
        std::fs::write(
            versions.join(format!("{rev}.py")),
            format!(
                "revision = '{rev}'\ndown_revision = {down}\n\ndef upgrade():\n    \
                 op.create_table('{table}')\n\ndef downgrade():\n    op.drop_table('{table}')\n"
            ),
        )
        .unwrap();
    }
    write_config(tmp.path(), config);
    tmp
}

fn write_config(root: &Path, config: &str) {
    std::fs::write(
        root.join("migverify.toml"),
        format!("[migrations]\nversion_locations = [\"versions\"]\n\n{config}"),
    )
    .unwrap();
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Run {
    /// stderr without miette's wrapping (`│`, line breaks, indentation).
    fn flat_stderr(&self) -> String {
        self.stderr
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '│')
            .collect()
    }
}

fn migverify(root: &Path, args: &[&str]) -> Run {
    let start = Instant::now();
    let out = Command::cargo_bin("migverify")
        .unwrap()
        .args(args)
        .current_dir(root)
        .env("NO_COLOR", "1")
        .env_remove("MIGVERIFY_DATABASE_URL")
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    let run = Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: start.elapsed(),
    };
    assert!(run.code.is_some(), "killed: {}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    run
}

fn concise(root: &Path, url: &str) -> Run {
    migverify(
        root,
        &[
            "check",
            "--no-cache",
            "--format",
            "concise",
            "--database-url",
            url,
        ],
    )
}

/// A role (PostgreSQL) or user (MySQL) for one test, dropped with the guard. Declare
/// it before the `ServerDb` whose objects it is granted on: it is dropped after.
struct Role {
    server: Server,
    admin_url: String,
    db_url: String,
    name: String,
}

impl Role {
    fn create(db: &ServerDb, prefix: &str, password: Option<&str>) -> Role {
        let name = unique_name(prefix);
        let sql = match (db.server, password) {
            (Server::Postgres, None) => format!("CREATE ROLE {name} LOGIN"),
            (Server::Postgres, Some(p)) => format!("CREATE ROLE {name} LOGIN PASSWORD '{p}'"),
            (Server::Mysql, None) => format!("CREATE USER '{name}'@'%'"),
            (Server::Mysql, Some(p)) => format!("CREATE USER '{name}'@'%' IDENTIFIED BY '{p}'"),
        };
        runtime().block_on(exec_all(db.server, db.admin_url(), &sql));
        Role {
            server: db.server,
            admin_url: db.admin_url().to_string(),
            db_url: db.url(),
            name,
        }
    }

    /// `db`'s URL as this role, with `password` if given.
    fn url(&self, db: &ServerDb, password: Option<&str>) -> String {
        let url = db.url();
        let (scheme, rest) = url.split_once("://").unwrap();
        let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
        match password {
            Some(p) => format!("{scheme}://{}:{p}@{host}", self.name),
            None => format!("{scheme}://{}@{host}", self.name),
        }
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        let sql = match self.server {
            Server::Postgres => format!("DROP ROLE IF EXISTS {}", self.name),
            Server::Mysql => format!("DROP USER IF EXISTS '{}'@'%'", self.name),
        };
        let (server, admin) = (self.server, self.admin_url.clone());
        // Its privileges in the test database go first (if that still exists).
        let owned = format!("DROP OWNED BY {}", self.name);
        let db_url = self.db_url.clone();
        if server == Server::Postgres {
            let _ =
                std::thread::spawn(move || runtime().block_on(exec_all(server, &db_url, &owned)))
                    .join();
        }
        let _ =
            std::thread::spawn(move || runtime().block_on(exec_all(server, &admin, &sql))).join();
    }
}

// ------------------------------------------------------------------ network

#[test]
fn unknown_host_is_a_clear_error_within_the_timeout() {
    let tmp = project("[database]\nconnect_timeout = \"3s\"\n");
    for scheme in ["postgresql", "mysql"] {
        let url = format!("{scheme}://app:H1dd3nPw@no-such-host.invalid:5432/db");
        for cmd in ["check", "snapshot"] {
            let r = migverify(tmp.path(), &[cmd, "--database-url", &url]);
            assert_eq!(r.code, Some(2), "{scheme} {cmd}: {}", r.stderr);
            assert!(r.elapsed < Duration::from_secs(10), "{:?}", r.elapsed);
            assert!(
                r.flat_stderr().contains("no-such-host.invalid:5432"),
                "{}",
                r.stderr
            );
            assert!(!r.stderr.contains("H1dd3nPw"), "{}", r.stderr);
            assert!(r.stdout.is_empty());
        }
    }
}

/// A listener that accepts TCP and never says a word: the handshake must give up at
/// the configured `connect_timeout`, for `check` and `snapshot`, on both protocols.
#[test]
fn a_server_that_never_answers_times_out_at_connect_timeout() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accept (and hold) every connection, so the client really is connected.
    let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    {
        let listener = listener.try_clone().unwrap();
        let held = held.clone();
        std::thread::spawn(move || {
            for s in listener.incoming().flatten() {
                held.lock().unwrap().push(s);
            }
        });
    }
    let tmp = project("[database]\nconnect_timeout = \"1s\"\n");
    for scheme in ["postgresql", "mysql"] {
        let url = format!("{scheme}://app:H1dd3nPw@127.0.0.1:{port}/db");
        for cmd in [
            &["check", "--format", "json"][..],
            &["snapshot", "-o", "snap.json"][..],
        ] {
            let mut args = cmd.to_vec();
            args.extend(["--database-url", &url]);
            let r = migverify(tmp.path(), &args);
            assert_eq!(r.code, Some(2), "{scheme} {cmd:?}: {}", r.stderr);
            assert!(
                r.elapsed < Duration::from_secs(6),
                "{scheme} {cmd:?}: {:?}",
                r.elapsed
            );
            let err = r.flat_stderr();
            assert!(err.contains("timedoutafter1s"), "{}", r.stderr);
            assert!(err.contains(&format!("127.0.0.1:{port}")), "{}", r.stderr);
            assert!(!r.stderr.contains("H1dd3nPw"));
            assert!(r.stdout.is_empty(), "nothing half-written: {}", r.stdout);
            assert!(!tmp.path().join("snap.json").exists());
        }
    }
    assert!(!held.lock().unwrap().is_empty(), "the tool did connect");
}

// ------------------------------------------------------------------ privileges

#[test]
fn postgres_role_without_rights_on_some_tables() {
    let Some(db) = ServerDb::create(Server::Postgres, "mv_faults") else {
        return;
    };
    let role = Role::create(&db, "mv_limited", None);
    db.setup(&format!(
        "CREATE TABLE t1 (id integer PRIMARY KEY);
         CREATE TABLE t2 (id integer PRIMARY KEY, secret text);
         CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);
         INSERT INTO alembic_version VALUES ('a1');
         REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;
         GRANT SELECT ON alembic_version, t1 TO {r}",
        r = role.name
    ));
    let tmp = project("");
    let url = role.url(&db, None);

    // No rights on t2: the catalogs still describe it (capture reads pg_catalog, not
    // the rows), so the run completes and sees the database one revision behind.
    let r = concise(tmp.path(), &url);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(r.stdout.contains("MV101"), "{}", r.stdout);
    let snap = migverify(tmp.path(), &["snapshot", "--database-url", &url]);
    assert_eq!(snap.code, Some(0), "{}", snap.stderr);
    let snap: serde_json::Value = serde_json::from_str(&snap.stdout).unwrap();
    let tables: Vec<&str> = snap["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(tables.contains(&"t2"), "{tables:?}");
    assert_eq!(
        snap["version_table"]["revisions"],
        serde_json::json!(["a1"])
    );

    // No rights on the version table: the run cannot complete, and says why.
    db.setup(&format!(
        "REVOKE SELECT ON alembic_version FROM {}",
        role.name
    ));
    let r = concise(tmp.path(), &url);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    let err = r.flat_stderr();
    assert!(err.contains("readingtheversiontablefailed"), "{}", r.stderr);
    assert!(
        err.contains("permissiondeniedfortablealembic_version"),
        "{}",
        r.stderr
    );
    drop(db);
    drop(role);
}

#[test]
fn mysql_user_without_rights_on_some_tables() {
    let Some(db) = ServerDb::create(Server::Mysql, "mv_faults") else {
        return;
    };
    let role = Role::create(&db, "mv_limited", None);
    db.setup(&format!(
        "CREATE TABLE t1 (id integer PRIMARY KEY);
         CREATE TABLE t2 (id integer PRIMARY KEY);
         CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);
         INSERT INTO alembic_version VALUES ('b1');
         GRANT SELECT ON {d}.alembic_version TO '{r}'@'%';
         GRANT SELECT ON {d}.t1 TO '{r}'@'%'",
        d = db.name,
        r = role.name
    ));
    let tmp = project("");
    let url = role.url(&db, None);
    // MySQL hides what a user may not see: t2 is not in the snapshot.
    let snap = migverify(tmp.path(), &["snapshot", "--database-url", &url]);
    assert_eq!(snap.code, Some(0), "{}", snap.stderr);
    let snap: serde_json::Value = serde_json::from_str(&snap.stdout).unwrap();
    let tables: Vec<&str> = snap["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(!tables.contains(&"t2"), "{tables:?}");
    assert_eq!(concise(tmp.path(), &url).code, Some(0));

    db.setup(&format!(
        "REVOKE SELECT ON {d}.alembic_version FROM '{r}'@'%'",
        d = db.name,
        r = role.name
    ));
    let r = concise(tmp.path(), &url);
    // Invisible, so missing: a finding, not a crash.
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(r.stdout.contains("MV103"), "{}", r.stdout);
    drop(db);
    drop(role);
}

// ------------------------------------------------------------------ odd version tables

#[test]
fn postgres_version_table_oddities() {
    let Some(db) = ServerDb::create(Server::Postgres, "mv_faults") else {
        return;
    };
    let tmp = project("");
    let url = db.url();
    let case = |setup: &str, config: &str| {
        db.setup(&format!(
            "DROP SCHEMA IF EXISTS meta CASCADE; DROP TABLE IF EXISTS alembic_version; {setup}"
        ));
        write_config(tmp.path(), config);
        concise(tmp.path(), &url)
    };

    // Several rows: each is checked; the unknown one is MV102.
    let r = case(
        "CREATE TABLE alembic_version (version_num varchar(32));
         INSERT INTO alembic_version VALUES ('b1'), ('zz9')",
        "",
    );
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(
        r.stdout.contains("MV102") && r.stdout.contains("`zz9`"),
        "{}",
        r.stdout
    );

    // In another schema: found when configured, MV103 naming the schema when not.
    let setup = "CREATE SCHEMA meta; CREATE TABLE meta.alembic_version (version_num varchar(32));
                 INSERT INTO meta.alembic_version VALUES ('b1')";
    let r = case(setup, "[database]\nversion_table_schema = \"meta\"\n");
    assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);
    let r = case(setup, "");
    assert_eq!(r.code, Some(1));
    assert!(
        r.stdout.contains("MV103") && r.stdout.contains("schema `public`"),
        "{}",
        r.stdout
    );

    // An INTEGER version_num (and a NULL row): read as text, an unknown revision.
    let r = case(
        "CREATE TABLE alembic_version (version_num integer);
         INSERT INTO alembic_version VALUES (1), (NULL)",
        "",
    );
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(
        r.stdout.contains("the database is at revision `1`"),
        "{}",
        r.stdout
    );

    // No version_num column at all: the run cannot complete, and says why.
    let r = case("CREATE TABLE alembic_version (revision text)", "");
    assert_eq!(r.code, Some(2));
    assert!(
        r.flat_stderr()
            .contains("column\"version_num\"doesnotexist"),
        "{}",
        r.stderr
    );
}

#[test]
fn mysql_version_table_oddities() {
    let Some(db) = ServerDb::create(Server::Mysql, "mv_faults") else {
        return;
    };
    let Some(meta) = ServerDb::create(Server::Mysql, "mv_faults_meta") else {
        return;
    };
    let tmp = project("");
    let url = db.url();
    let case = |setup: &str, config: &str| {
        db.setup(&format!("DROP TABLE IF EXISTS alembic_version; {setup}"));
        write_config(tmp.path(), config);
        concise(tmp.path(), &url)
    };
    let r = case(
        "CREATE TABLE alembic_version (version_num varchar(32));
         INSERT INTO alembic_version VALUES ('b1'), ('zz9')",
        "",
    );
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(r.stdout.contains("`zz9`"), "{}", r.stdout);

    meta.setup(
        "CREATE TABLE alembic_version (version_num varchar(32));
         INSERT INTO alembic_version VALUES ('b1')",
    );
    let r = case(
        "",
        &format!("[database]\nversion_table_schema = \"{}\"\n", meta.name),
    );
    assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);
    let r = case("", "");
    assert!(r.stdout.contains("MV103"), "{}", r.stdout);

    let r = case(
        "CREATE TABLE alembic_version (version_num integer);
         INSERT INTO alembic_version VALUES (1)",
        "",
    );
    assert!(
        r.stdout.contains("the database is at revision `1`"),
        "{}",
        r.stdout
    );
    let r = case("CREATE TABLE alembic_version (revision text)", "");
    assert_eq!(r.code, Some(2));
    assert!(r.flat_stderr().contains("version_num"), "{}", r.stderr);
}

// ------------------------------------------------------------------ secrets

/// Everything a run can print or write, for a grep.
fn every_output(root: &Path, url_args: &[&str]) -> Vec<(String, Run)> {
    let mut runs = Vec::new();
    for format in ["human", "concise", "json", "sarif", "github"] {
        let mut args = vec!["check", "--verbose", "--no-cache", "--format", format];
        args.extend(url_args);
        runs.push((format!("check --format {format}"), migverify(root, &args)));
        let mut args = vec!["check", "--no-cache", "--format", format, "-o", "out.txt"];
        args.extend(url_args);
        let r = migverify(root, &args);
        let written = std::fs::read_to_string(root.join("out.txt")).unwrap_or_default();
        runs.push((
            format!("check --format {format} -o (file)"),
            Run {
                stdout: written,
                ..r
            },
        ));
    }
    let mut args = vec!["snapshot"];
    args.extend(url_args);
    runs.push(("snapshot".into(), migverify(root, &args)));
    let mut args = vec!["snapshot", "-o", "snap.json"];
    args.extend(url_args);
    let r = migverify(root, &args);
    let written = std::fs::read_to_string(root.join("snap.json")).unwrap_or_default();
    runs.push((
        "snapshot -o (file)".into(),
        Run {
            stdout: written,
            ..r
        },
    ));
    runs.push(("graph".into(), migverify(root, &["graph"])));
    runs
}

fn assert_never_shows(runs: &[(String, Run)], secret: &str) {
    for (what, r) in runs {
        assert!(
            !r.stdout.contains(secret) && !r.stderr.contains(secret),
            "{what} shows the password:\n{}\n{}",
            r.stdout,
            r.stderr
        );
    }
}

/// A distinctive password (the local PostgreSQL trusts 127.0.0.1, so any password
/// is accepted) written literally in `migverify.toml`, in `alembic.ini`, on the
/// command line and in `MIGVERIFY_DATABASE_URL`, with a finding located at the
/// config line that holds it: no output format, no file written, no error shows it.
#[test]
fn postgres_password_is_redacted_in_every_output() {
    let Some(db) = ServerDb::create(Server::Postgres, "mv_faults") else {
        return;
    };
    const SECRET: &str = "Zq7Distinctive-Pw";
    let role = Role::create(&db, "mv_pw", Some(SECRET));
    db.setup(&format!(
        "CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);
         INSERT INTO alembic_version VALUES ('zz9');
         GRANT SELECT ON alembic_version TO {}",
        role.name
    ));
    let url = role.url(&db, Some(SECRET));
    let tmp = project(&format!("[database]\nurl = \"{url}\"\n"));

    // The URL in migverify.toml: MV102 is located at its line.
    let runs = every_output(tmp.path(), &[]);
    let human = &runs[0].1;
    assert_eq!(human.code, Some(1), "{}", human.stderr);
    assert!(
        human.stdout.contains("migverify.toml:5"),
        "{}",
        human.stdout
    );
    assert!(
        human.stdout.contains(":*****************@"),
        "masked snippet"
    );
    assert!(
        runs.iter()
            .any(|(w, r)| w.starts_with("snapshot -o") && r.stdout.contains("\"revisions\""))
    );
    assert_never_shows(&runs, SECRET);

    // The URL in alembic.ini.
    std::fs::write(
        tmp.path().join("alembic.ini"),
        format!("[alembic]\nscript_location = .\nsqlalchemy.url = {url}\n"),
    )
    .unwrap();
    write_config(tmp.path(), "");
    let runs = every_output(tmp.path(), &[]);
    assert_eq!(runs[0].1.code, Some(1), "{}", runs[0].1.stderr);
    assert!(
        runs[0].1.stdout.contains("alembic.ini:3"),
        "{}",
        runs[0].1.stdout
    );
    assert_never_shows(&runs, SECRET);
    std::fs::remove_file(tmp.path().join("alembic.ini")).unwrap();

    // On the command line, percent-encoded too.
    let encoded = url.replace(SECRET, "Zq7Distinctive%2DPw");
    for u in [&url, &encoded] {
        let runs = every_output(tmp.path(), &["--database-url", u]);
        assert_eq!(runs[0].1.code, Some(1), "{}", runs[0].1.stderr);
        assert_never_shows(&runs, SECRET);
        assert_never_shows(&runs, "Zq7Distinctive%2DPw");
    }

    // A failing run: the wrong database, the same password.
    let wrong = with_database(&url, "mv_no_such_database");
    let runs = every_output(tmp.path(), &["--database-url", &wrong]);
    assert_eq!(runs[0].1.code, Some(2));
    assert_never_shows(&runs, SECRET);
    drop(db);
    drop(role);
}

/// A wrong password against MariaDB (which checks it): exit 2 in every format, the
/// error says authentication failed, and neither password shows.
#[test]
fn mysql_wrong_password_is_redacted_in_every_output() {
    let Some(db) = ServerDb::create(Server::Mysql, "mv_faults") else {
        return;
    };
    let role = Role::create(&db, "mv_pw", Some("Right-Pw-4711"));
    const WRONG: &str = "Wr0ng-Distinctive-Pw";
    let tmp = project(&format!(
        "[database]\nurl = \"{}\"\n",
        role.url(&db, Some(WRONG))
    ));
    let runs = every_output(tmp.path(), &[]);
    for (what, r) in &runs[..runs.len() - 1] {
        assert_eq!(r.code, Some(2), "{what}: {}", r.stderr);
    }
    assert!(
        runs[0].1.flat_stderr().contains("authenticationfailed"),
        "{}",
        runs[0].1.stderr
    );
    assert_never_shows(&runs, WRONG);
    assert_never_shows(&runs, "Right-Pw-4711");
    drop(db);
    drop(role);
}
