//! The database rules (MV101 behind-head, MV102 unknown-db-revision, MV103
//! missing-version-table, MV104 overlapping-db-revisions) end to end: a small Alembic project with a fork and a merge,
//! migrated by the real `alembic` (`MIGVERIFY_TEST_PYTHON`, a Python with alembic,
//! sqlalchemy, psycopg2 and pymysql), then checked by the `migverify` binary, live
//! and through `migverify snapshot` + `check --snapshot`.
//!
//! SQLite always runs (when `MIGVERIFY_TEST_PYTHON` is set); PostgreSQL and
//! MySQL/MariaDB need `MIGVERIFY_TEST_POSTGRES_URL` / `MIGVERIFY_TEST_MYSQL_URL` (admin
//! URLs, as in `tests/db_capture.rs`). Every skip prints why. Each test creates its own
//! database and drops it afterwards, also on failure.

#![cfg(feature = "db")]

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::Value;

mod common;
use common::alembic::{self, python, sqlalchemy_url};
use common::server_db::{Server, ServerDb};

#[derive(Clone, Copy, PartialEq, Debug)]
enum Backend {
    Sqlite,
    Postgres,
    Mysql,
}

impl Backend {
    /// The server behind it; `None` for SQLite (a file).
    fn server(self) -> Option<Server> {
        match self {
            Backend::Sqlite => None,
            Backend::Postgres => Some(Server::Postgres),
            Backend::Mysql => Some(Server::Mysql),
        }
    }
}

/// `(revision, message, down_revision, table created)`: a fork at a1 (b1, c1), merged
/// by m1, then d1.
const HISTORY: &[(&str, &str, &str, Option<&str>)] = &[
    ("a1", "create users", "None", Some("users")),
    ("b1", "create emails", "'a1'", Some("emails")),
    ("c1", "create posts", "'a1'", Some("posts")),
    ("m1", "merge emails and posts", "('b1', 'c1')", None),
    ("d1", "create tags", "'m1'", Some("tags")),
];

/// A project made by `alembic init`, its `sqlalchemy.url` set, with [`HISTORY`].
struct Project {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    python: String,
    /// SQLAlchemy URL of the database, for running SQL through Python.
    url: String,
    _server: Option<ServerDb>,
}

impl Project {
    fn new(backend: Backend) -> Option<Project> {
        let python = python()?;
        let server = match backend.server() {
            None => None,
            Some(server) => Some(ServerDb::create(server, "mv_rules")?),
        };
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let url = match &server {
            None => "sqlite:///app.db".to_string(),
            Some(s) => sqlalchemy_url(&s.url()),
        };
        let p = Project {
            _tmp: tmp,
            dir,
            python,
            url,
            _server: server,
        };
        alembic::init(&p.python, &p.dir, &p.url);
        for (rev, msg, down, table) in HISTORY {
            let (up, downgrade) = match table {
                Some(t) => (
                    format!(
                        "op.create_table('{t}', sa.Column('id', sa.Integer, primary_key=True))"
                    ),
                    format!("op.drop_table('{t}')"),
                ),
                None => ("pass".to_string(), "pass".to_string()),
            };
            let file = format!(
                "\"\"\"{msg}\n\nRevision ID: {rev}\nRevises: {down}\n\"\"\"\nfrom alembic import op\n\
                 import sqlalchemy as sa\n\nrevision = '{rev}'\ndown_revision = {down}\n\
                 branch_labels = None\ndepends_on = None\n\n\ndef upgrade():\n    {up}\n\n\n\
                 def downgrade():\n    {downgrade}\n"
            );
            std::fs::write(
                p.dir.join(format!(
                    "alembic/versions/{rev}_{}.py",
                    msg.replace(' ', "_")
                )),
                file,
            )
            .unwrap();
        }
        Some(p)
    }

    fn alembic(&self, args: &[&str]) -> String {
        alembic::alembic_ok(&self.python, &self.dir, args)
    }

    fn sql(&self, sql: &str) {
        alembic::sql(&self.python, &self.dir, &self.url, sql)
    }

    fn migverify(&self, args: &[&str]) -> Output {
        alembic::migverify(&self.dir, args)
    }

    /// `check --select MV1 --format json` (plus `extra`): (exit code, report).
    fn check_json(&self, extra: &[&str]) -> (i32, Value) {
        let mut args = vec!["check", "--select", "MV1", "--format", "json"];
        args.extend_from_slice(extra);
        let out = self.migverify(&args);
        let code = out.status.code().unwrap();
        assert!(
            code == 0 || code == 1,
            "exit {code}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        (code, serde_json::from_slice(&out.stdout).unwrap())
    }

    /// The same check through `migverify snapshot -o` and `check --snapshot`: the
    /// diagnostics must be identical.
    fn assert_round_trip(&self, live: &Value) {
        let out = self.migverify(&["snapshot", "-o", "snap.json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (_, offline) = self.check_json(&["--snapshot", "snap.json"]);
        assert_eq!(
            live["diagnostics"], offline["diagnostics"],
            "live and snapshot diagnostics differ"
        );
        assert_eq!(
            live["status"]["current_revisions"],
            offline["status"]["current_revisions"]
        );
        assert_eq!(live["status"]["pending"], offline["status"]["pending"]);
    }
}

fn codes(report: &Value) -> Vec<String> {
    report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap().to_string())
        .collect()
}

fn message(report: &Value, code: &str) -> String {
    report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == code)
        .unwrap_or_else(|| panic!("no {code} in {report:#}"))["message"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `alembic current` / `alembic heads` revisions, as Alembic prints them.
fn revisions_of(output: &str) -> Vec<String> {
    let mut revs: Vec<String> = output
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|r| HISTORY.iter().any(|(h, ..)| h == r))
        .map(String::from)
        .collect();
    revs.sort();
    revs
}

fn scenario(backend: Backend) {
    let Some(p) = Project::new(backend) else {
        return;
    };

    // A middle revision: one branch of the fork applied.
    p.alembic(&["upgrade", "b1"]);
    let (code, r) = p.check_json(&[]);
    assert_eq!(code, 0, "a warning does not fail the run");
    assert_eq!(codes(&r), ["MV101"]);
    let msg = message(&r, "MV101");
    assert!(
        msg.ends_with(
            "3 pending migrations: c1 (create posts), m1 (merge emails and posts), d1 (create tags)"
        ),
        "{msg}"
    );
    let current = revisions_of(&p.alembic(&["current"]));
    let heads = revisions_of(&p.alembic(&["heads"]));
    let mut ours: Vec<String> =
        serde_json::from_value(r["status"]["current_revisions"].clone()).unwrap();
    ours.sort();
    assert_eq!(ours, current, "alembic current");
    assert_eq!(current, ["b1"]);
    let mut our_heads: Vec<String> =
        serde_json::from_value(r["status"]["head_revisions"].clone()).unwrap();
    our_heads.sort();
    assert_eq!(our_heads, heads, "alembic heads");
    // The pending revisions in apply order, as MV101 names them.
    let pending: Vec<(String, String, String)> = r["status"]["pending"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["revision"].as_str().unwrap().to_string(),
                p["path"].as_str().unwrap().to_string(),
                p["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        pending
            .iter()
            .map(|(r, _, m)| format!("{r} ({m})"))
            .collect::<Vec<_>>(),
        [
            "c1 (create posts)",
            "m1 (merge emails and posts)",
            "d1 (create tags)"
        ]
    );
    assert_eq!(pending[0].1, "alembic/versions/c1_create_posts.py");
    let d = &r["diagnostics"][0];
    assert_eq!(d["path"], "alembic/versions/c1_create_posts.py");
    assert_eq!(d["related"].as_array().unwrap().len(), 2);
    p.assert_round_trip(&r);

    // Both branches applied: two rows in alembic_version.
    p.alembic(&["upgrade", "c1"]);
    let (_, r) = p.check_json(&[]);
    assert_eq!(revisions_of(&p.alembic(&["current"])), ["b1", "c1"]);
    let msg = message(&r, "MV101");
    assert!(
        msg.ends_with("2 pending migrations: m1 (merge emails and posts), d1 (create tags)"),
        "{msg}"
    );

    // At head: nothing to say.
    p.alembic(&["upgrade", "head"]);
    let (code, r) = p.check_json(&[]);
    assert_eq!((code, codes(&r)), (0, Vec::<String>::new()), "{r:#}");
    assert_eq!(r["status"]["pending"], serde_json::json!([]));
    let tables: Vec<String> = serde_json::from_value(r["status"]["tables"].clone()).unwrap();
    for t in ["emails", "posts", "tags", "users"] {
        assert!(tables.iter().any(|x| x == t), "{tables:?}");
    }
    assert!(!tables.iter().any(|x| x == "alembic_version"));

    // Back to base: the table is there, empty.
    p.alembic(&["downgrade", "base"]);
    let (_, r) = p.check_json(&[]);
    assert_eq!(codes(&r), ["MV101"]);
    assert!(
        message(&r, "MV101").starts_with("no migrations have been applied: 5 pending migrations"),
        "{r:#}"
    );
    p.assert_round_trip(&r);

    // A revision no file declares, located at alembic.ini's sqlalchemy.url line.
    p.alembic(&["upgrade", "head"]);
    p.sql("UPDATE alembic_version SET version_num = 'deadbeef'");
    let (code, r) = p.check_json(&[]);
    assert_eq!(code, 1);
    assert_eq!(codes(&r), ["MV102"], "{r:#}");
    assert!(message(&r, "MV102").contains("`deadbeef`"));
    assert_eq!(r["diagnostics"][0]["path"], "alembic.ini");
    let ini = std::fs::read_to_string(p.dir.join("alembic.ini")).unwrap();
    let line = ini
        .lines()
        .position(|l| l.starts_with("sqlalchemy.url"))
        .unwrap()
        + 1;
    assert_eq!(r["diagnostics"][0]["span"]["start_line"], line);
    p.assert_round_trip(&r);

    // Two rows, one the other's ancestor: Alembic refuses to upgrade, MV104 says why.
    p.sql("UPDATE alembic_version SET version_num = 'd1'");
    p.sql("INSERT INTO alembic_version (version_num) VALUES ('b1')");
    let refused = alembic::alembic(&p.python, &p.dir, &["upgrade", "heads"]);
    assert!(!refused.status.success());
    let refused = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert!(
        refused.contains("overlaps with other requested revisions b1"),
        "{refused}"
    );
    let (code, r) = p.check_json(&[]);
    assert_eq!(code, 1);
    assert!(codes(&r).contains(&"MV104".to_string()), "{r:#}");
    assert!(
        message(&r, "MV104").contains("`d1` and its ancestor `b1`"),
        "{r:#}"
    );
    p.assert_round_trip(&r);
    p.sql("DELETE FROM alembic_version WHERE version_num = 'b1'");
    let (code, r) = p.check_json(&[]);
    assert_eq!((code, codes(&r)), (0, Vec::<String>::new()), "{r:#}");

    // No version table at all.
    p.sql("DROP TABLE alembic_version");
    let (code, r) = p.check_json(&[]);
    assert_eq!(code, 1);
    assert_eq!(codes(&r), ["MV103"], "{r:#}");
    assert!(message(&r, "MV103").contains("`alembic_version`"));
    p.assert_round_trip(&r);

    // Human output shows the status block.
    let out = p.migverify(&["check", "--select", "MV1", "--verbose"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Database: "), "{text}");
    assert!(text.contains("tags"), "{text}");
}

#[test]
fn sqlite_against_real_alembic() {
    scenario(Backend::Sqlite);
}

#[test]
fn postgres_against_real_alembic() {
    scenario(Backend::Postgres);
}

#[test]
fn mysql_against_real_alembic() {
    scenario(Backend::Mysql);
}

#[test]
fn config_url_is_the_location_and_flags_win() {
    let Some(p) = Project::new(Backend::Sqlite) else {
        return;
    };
    p.alembic(&["upgrade", "head"]);
    p.sql("UPDATE alembic_version SET version_num = 'deadbeef'");
    std::fs::write(
        p.dir.join("migverify.toml"),
        "[migrations]\nscript_location = \"alembic\"\n\n[database]\nurl = \"sqlite:///${MV_TEST_DB}\"\n",
    )
    .unwrap();
    let out = Command::cargo_bin("migverify")
        .unwrap()
        .args(["check", "--select", "MV1", "--format", "json"])
        .current_dir(&p.dir)
        .env("MV_TEST_DB", "app.db")
        .env_remove("MIGVERIFY_DATABASE_URL")
        .output()
        .unwrap();
    let r: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(codes(&r), ["MV102"]);
    let d = &r["diagnostics"][0];
    assert_eq!(d["path"], "migverify.toml");
    assert_eq!(d["span"]["start_line"], 5);

    // The flag wins over the config: a database without a version table.
    std::fs::write(p.dir.join("empty.db"), b"").unwrap();
    let out = Command::cargo_bin("migverify")
        .unwrap()
        .args([
            "check",
            "--select",
            "MV1",
            "--format",
            "json",
            "--database-url",
            "sqlite:///empty.db",
        ])
        .current_dir(&p.dir)
        .env("MV_TEST_DB", "app.db")
        .output()
        .unwrap();
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(codes(&r), ["MV103"]);
    // Named by a flag: located at the head migration.
    assert_eq!(
        r["diagnostics"][0]["path"],
        "alembic/versions/d1_create_tags.py"
    );
}

#[test]
fn password_never_shows() {
    let Some(p) = Project::new(Backend::Postgres) else {
        return;
    };
    p.alembic(&["upgrade", "b1"]);
    let server = p._server.as_ref().unwrap();
    let url = server.url();
    let (scheme, rest) = url.split_once("://").unwrap();
    let (user, host) = rest.split_once('@').unwrap();
    let user = user.split(':').next().unwrap();
    let secret_url = format!("{scheme}://{user}:s3cr3t@{host}");
    for format in ["human", "concise", "json", "sarif", "github"] {
        let out = p.migverify(&[
            "check",
            "--verbose",
            "--format",
            format,
            "--database-url",
            &secret_url,
        ]);
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!all.contains("s3cr3t"), "{format}: {all}");
        assert!(all.contains("MV101"), "{format}: {all}");
    }
    let out = p.migverify(&["snapshot", "--database-url", &secret_url, "-o", "s.json"]);
    assert!(out.status.success());
    let snap = std::fs::read_to_string(p.dir.join("s.json")).unwrap();
    assert!(!snap.contains("s3cr3t"), "{snap}");
    assert!(snap.contains(":***@"), "{snap}");
    let out = p.migverify(&["snapshot", "--database-url", &secret_url]);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("s3cr3t"));
}

#[test]
fn unreachable_server_exits_2_naming_host_and_port() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let tmp = tempfile::tempdir().unwrap();
    let versions = tmp.path().join("versions");
    std::fs::create_dir(&versions).unwrap();
    std::fs::write(
        versions.join("a1.py"),
        "revision = 'a1'\ndown_revision = None\ndef upgrade():\n    op.f()\ndef downgrade():\n    op.g()\n",
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("migverify.toml"),
        "[migrations]\nversion_locations = [\"versions\"]\n\n[database]\nconnect_timeout = \"3s\"\n",
    )
    .unwrap();
    for cmd in [&["check"][..], &["snapshot"][..]] {
        let start = Instant::now();
        let out = Command::cargo_bin("migverify")
            .unwrap()
            .args(cmd)
            .args([
                "--database-url",
                &format!("postgresql://u:s3cr3t@127.0.0.1:{port}/x"),
            ])
            .current_dir(tmp.path())
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert!(start.elapsed() < Duration::from_secs(10));
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
        assert!(!err.contains("s3cr3t"), "{err}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn snapshot_without_a_database_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("a1.py"),
        "revision = 'a1'\ndown_revision = None\ndef upgrade():\n    op.f()\ndef downgrade():\n    op.g()\n",
    )
    .unwrap();
    let out = Command::cargo_bin("migverify")
        .unwrap()
        .args(["snapshot"])
        .current_dir(tmp.path())
        .env_remove("MIGVERIFY_DATABASE_URL")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no database"));
    let _ = Path::new(".");
}
