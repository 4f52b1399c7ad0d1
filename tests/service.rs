//! The service team's day (issue 15): runs that never need a database, the database
//! Alembic's own `env.py` would use (real `alembic` is the oracle: it migrates the
//! database through that `env.py`, and migverify must see the same revision), the
//! checklist, one problem = one diagnostic.
//!
//! SQLite always; PostgreSQL (an async `env.py`, `postgresql+asyncpg://`) when
//! `MIGVERIFY_TEST_POSTGRES_URL` is set. The Alembic parts need
//! `MIGVERIFY_TEST_PYTHON` (scripts/python-env) and skip with a printed reason without.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use assert_cmd::Command;
use common::alembic::{alembic_ok, python};
use common::server_db::{Server, ServerDb};

/// A migration as Alembic's template writes it, creating table `t_<revision>`.
fn migration(revision: &str, down: Option<&str>) -> String {
    let down = match down {
        Some(d) => format!("{d:?}"),
        None => "None".into(),
    };
    format!(
        "\"\"\"create t_{revision}\n\nRevision ID: {revision}\n\"\"\"\n\
         from alembic import op\nimport sqlalchemy as sa\n\n\
         revision = {revision:?}\ndown_revision = {down}\n\
         branch_labels = None\ndepends_on = None\n\n\n\
         def upgrade():\n    op.create_table(\"t_{revision}\", sa.Column(\"id\", sa.Integer, primary_key=True))\n\n\n\
         def downgrade():\n    op.drop_table(\"t_{revision}\")\n"
    )
}

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// `migverify ARGS` in `dir` with exactly the given extra environment (the ambient
/// database variables removed).
fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::cargo_bin("migverify").unwrap();
    cmd.args(args)
        .current_dir(dir)
        .env_remove("MIGVERIFY_DATABASE_URL")
        .env_remove("DATABASE_URL")
        .env_remove("APP_DB_URL")
        .env("NO_COLOR", "1")
        .timeout(Duration::from_secs(60));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(out)))
}

/// A project of three migrations `r1 <- r2 <- r3` whose `alembic.ini` names
/// `ini_url`.
fn project(ini_url: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    write(
        p,
        "alembic.ini",
        &format!("[alembic]\nscript_location = %(here)s/alembic\nsqlalchemy.url = {ini_url}\n"),
    );
    write(p, "alembic/versions/r1_first.py", &migration("r1", None));
    write(
        p,
        "alembic/versions/r2_second.py",
        &migration("r2", Some("r1")),
    );
    write(
        p,
        "alembic/versions/r3_third.py",
        &migration("r3", Some("r2")),
    );
    dir
}

/// A PostgreSQL server on a port where nothing listens: a developer's local
/// database that is down.
const DOWN: &str = "postgresql://app:s3cret@127.0.0.1:9/app";

#[test]
fn runs_needing_no_database_never_connect() {
    let dir = project(DOWN);
    let p = dir.path();
    // The default selection needs the database: the server being down fails the run,
    // without the password.
    let out = run(p, &["check"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(!text(&out).contains("s3cret"), "{}", text(&out));

    // --no-database: the database rules are skipped, nothing connects.
    let out = run(p, &["check", "--no-database", "--verbose"], &[]);
    let log = text(&out);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert!(log.contains("Database: not used (--no-database)"), "{log}");
    assert!(
        log.contains("MV101 behind-head: skipped (no database: --no-database)"),
        "{log}"
    );
    assert!(!log.contains("s3cret"), "{log}");
    // Also when the environment names a database.
    let out = run(
        p,
        &["check", "--no-database"],
        &[("MIGVERIFY_DATABASE_URL", DOWN)],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // A missing snapshot file is not read either.
    let out = run(
        p,
        &["check", "--select", "MV0", "--snapshot", "nope.json"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // A selection with no database rule does not connect, whatever URL is configured.
    for args in [
        &["check", "--select", "MV0"][..],
        &["check", "--ignore", "MV1", "--ignore", "MV2"][..],
        &["check", "--select", "MV001,MV006"][..],
    ] {
        let out = run(p, args, &[("MIGVERIFY_DATABASE_URL", DOWN)]);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out));
    }
    // `graph` draws the graph all the same, saying why nothing is marked.
    let out = run(p, &["graph", "--format", "mermaid"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("warning: no current revision marked"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains("s3cret"), "{}", text(&out));
    // --no-database and a database flag contradict each other.
    let out = run(p, &["check", "--no-database", "--database-url", DOWN], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn one_id_in_1000_files_is_one_small_sarif_result() {
    let dir = tempfile::tempdir().unwrap();
    let versions = dir.path().join("versions");
    std::fs::create_dir(&versions).unwrap();
    for i in 0..1000 {
        std::fs::write(
            versions.join(format!("m{i:04}.py")),
            migration("same", None),
        )
        .unwrap();
    }
    let out = run(
        dir.path(),
        &["check", "versions", "--format", "sarif", "--no-cache"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        out.stdout.len() < 200_000,
        "SARIF of {} bytes",
        out.stdout.len()
    );
    let sarif = json(&out);
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let mv001: Vec<_> = results.iter().filter(|r| r["ruleId"] == "MV001").collect();
    assert_eq!(mv001.len(), 1, "{results:#?}");
    assert_eq!(
        mv001[0]["relatedLocations"].as_array().unwrap().len(),
        20,
        "{:#?}",
        mv001[0]
    );
    let message = mv001[0]["message"]["text"].as_str().unwrap();
    assert!(
        message.contains("declared by 1000 files") && message.contains("979 more"),
        "{message}"
    );
    // Linting one of the later files alone still reports its duplicate there.
    let out = run(
        dir.path(),
        &[
            "check",
            "versions/m0500.py",
            "--format",
            "json",
            "--no-cache",
        ],
        &[],
    );
    let doc = json(&out);
    let diags = doc["diagnostics"].as_array().unwrap();
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert_eq!(diags[0]["code"], "MV001");
    assert_eq!(diags[0]["path"], "versions/m0500.py");
}

/// Alembic's generic `env.py` from `alembic init`, with `set_main_option` taking the
/// URL from `var` (after `load_dotenv()` when `dotenv`).
fn env_py_reading(python: &str, p: &Path, template: &str, line: &str) {
    // `alembic init` refuses a non-empty directory: make it beside, then move env.py.
    let scratch = tempfile::tempdir().unwrap();
    alembic_ok(python, scratch.path(), &["init", "-t", template, "alembic"]);
    let env = std::fs::read_to_string(scratch.path().join("alembic/env.py")).unwrap();
    let env = env.replacen(
        "config = context.config\n",
        &format!("config = context.config\n{line}\n"),
        1,
    );
    assert!(env.contains(line), "{env}");
    let env = format!("import os\n{env}");
    write(p, "alembic/env.py", &env);
    std::fs::copy(
        scratch.path().join("alembic/script.py.mako"),
        p.join("alembic/script.py.mako"),
    )
    .unwrap();
    // Alembic's own alembic.ini (env.py configures logging from it), keeping the
    // project's `sqlalchemy.url`.
    let ours = std::fs::read_to_string(p.join("alembic.ini")).unwrap();
    let url = ours
        .lines()
        .find(|l| l.starts_with("sqlalchemy.url"))
        .unwrap()
        .to_string();
    let ini: String = std::fs::read_to_string(scratch.path().join("alembic.ini"))
        .unwrap()
        .lines()
        .map(|l| {
            if l.starts_with("sqlalchemy.url") {
                format!("{url}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    assert!(ini.contains("script_location = %(here)s/alembic"), "{ini}");
    write(p, "alembic.ini", &ini);
}

fn alembic_env(python: &str, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut cmd = std::process::Command::new(python);
    cmd.args(["-m", "alembic"])
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("APP_DB_URL");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "alembic {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn sqlite_the_database_env_py_reads() {
    let Some(py) = python() else { return };
    // alembic.ini names a decoy that does not exist: reading it would fail (exit 2).
    let dir = project("sqlite:///decoy.db");
    let p = dir.path();
    env_py_reading(
        &py,
        p,
        "generic",
        "config.set_main_option(\"sqlalchemy.url\", os.environ[\"APP_DB_URL\"])",
    );
    let app = p.join("app.db");
    let url = format!("sqlite:///{}", app.display());
    let env = [("APP_DB_URL", url.as_str())];
    alembic_env(&py, p, &["upgrade", "r2"], &env);
    let current = alembic_env(&py, p, &["current"], &env);
    assert!(current.contains("r2"), "{current}");

    let out = run(p, &["check", "--format", "json"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let doc = json(&out);
    let status = &doc["status"];
    assert_eq!(status["current_revisions"], serde_json::json!(["r2"]));
    assert_eq!(status["database"], url.as_str());
    assert_eq!(
        status["database_source"],
        "APP_DB_URL, read by alembic/env.py"
    );
    assert!(!p.join("decoy.db").exists());
    // Status data: what is pending, in apply order, with the file and message.
    assert_eq!(
        status["pending"],
        serde_json::json!([{
            "revision": "r3",
            "path": "alembic/versions/r3_third.py",
            "message": "create t_r3"
        }])
    );
    let checks = doc["checks"].as_array().unwrap();
    let at_head = checks.iter().find(|c| c["name"] == "at head").unwrap();
    assert_eq!(at_head["outcome"], "warning");
    assert_eq!(at_head["detail"], "1 pending, 1 warning");
    let reachable = checks
        .iter()
        .find(|c| c["name"] == "database reachable")
        .unwrap();
    assert_eq!(reachable["outcome"], "passed");

    // The checklist; a warning below --fail-on prints no red ✗ while exiting 0.
    let out = run(p, &["check", "--verbose"], &env);
    let log = text(&out);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert!(
        log.contains("\n  ⚠ at head (1 pending, 1 warning)\n"),
        "{log}"
    );
    assert!(log.contains("\n  ✓ no duplicate revisions\n"), "{log}");
    assert!(log.contains("\n  ✓ database reachable ("), "{log}");
    assert!(log.contains("\nChecks: 9/10 passed (2 skipped)\n"), "{log}");
    assert!(
        log.contains("\n  - models match migrations: skipped (no models configured)\n"),
        "{log}"
    );
    assert!(
        log.ends_with("⚠ 1 warning in 3 files (2 rules skipped: no models configured)\n"),
        "{log}"
    );
    assert!(
        log.contains("Pending: 1\n  r3 alembic/versions/r3_third.py: create t_r3\n"),
        "{log}"
    );
    assert_eq!(
        log.matches("r1_first.py").count(),
        1,
        "files listed once: {log}"
    );
    let out = run(p, &["check", "--fail-on", "warning"], &env);
    let log = text(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(
        log.ends_with("✗ 1 warning in 3 files (2 rules skipped: no models configured)\n"),
        "{log}"
    );
    let out = run(p, &["check"], &env);
    assert!(
        text(&out).contains(&format!(
            "Database: {url} (APP_DB_URL, read by alembic/env.py)"
        )),
        "{}",
        text(&out)
    );
    // `graph` marks the current revision of the database env.py names.
    let out = run(p, &["graph"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(json(&out)["current"], serde_json::json!(["r2"]));
    let out = run(p, &["graph", "--no-database"], &env);
    assert!(json(&out)["current"].is_null(), "{}", text(&out));
    // The flag and MIGVERIFY_DATABASE_URL still come first.
    let out = run(
        p,
        &["check", "--format", "json"],
        &[
            ("APP_DB_URL", "sqlite:///nothing-here.db"),
            ("MIGVERIFY_DATABASE_URL", &url),
        ],
    );
    assert_eq!(
        json(&out)["status"]["database_source"],
        "MIGVERIFY_DATABASE_URL"
    );

    // The variable unset: Alembic would fail; migverify says why it checks no
    // database, and never falls back to alembic.ini's decoy.
    let out = run(p, &["check", "--verbose"], &[]);
    let log = text(&out);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert!(
        log.contains(
            "Database: APP_DB_URL is not set (alembic/env.py reads the database URL from it)"
        ),
        "{log}"
    );
    assert!(
        log.contains("skipped (no database: see the status block)"),
        "{log}"
    );
    assert!(!p.join("decoy.db").exists());
}

#[test]
fn sqlite_dotenv_and_unreadable_env_py() {
    let Some(py) = python() else { return };
    let dir = project("sqlite:///decoy.db");
    let p = dir.path();
    env_py_reading(
        &py,
        p,
        "generic",
        "from dotenv import load_dotenv\nload_dotenv()\n\
         config.set_main_option(\"sqlalchemy.url\", os.getenv(\"APP_DB_URL\"))",
    );
    write(p, ".env", "# local settings\nAPP_DB_URL=sqlite:///app.db\n");
    // Alembic (python-dotenv) finds .env itself.
    alembic_env(&py, p, &["upgrade", "r1"], &[]);
    assert!(p.join("app.db").exists());
    let out = run(p, &["check", "--format", "json"], &[]);
    let doc = json(&out);
    assert_eq!(
        doc["status"]["current_revisions"],
        serde_json::json!(["r1"])
    );
    assert_eq!(
        doc["status"]["database_source"],
        "APP_DB_URL from .env, read by alembic/env.py"
    );
    // The process environment wins over .env, as python-dotenv does.
    let other = p.join("other.db");
    let other_url = format!("sqlite:///{}", other.display());
    alembic_env(&py, p, &["upgrade", "head"], &[("APP_DB_URL", &other_url)]);
    let out = run(
        p,
        &["check", "--format", "json"],
        &[("APP_DB_URL", &other_url)],
    );
    let doc = json(&out);
    assert_eq!(
        doc["status"]["current_revisions"],
        serde_json::json!(["r3"])
    );

    // A URL built in a way that cannot be read statically: said, with the line.
    let env = std::fs::read_to_string(p.join("alembic/env.py")).unwrap();
    let built = env.replace(
        "os.getenv(\"APP_DB_URL\")",
        "f\"sqlite:///{os.environ['DB_DIR']}/app.db\"",
    );
    assert_ne!(env, built);
    write(p, "alembic/env.py", &built);
    let out = run(p, &["check"], &[]);
    let log = text(&out);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert!(
        log.contains("alembic/env.py:")
            && log.contains("builds the database URL in a way migverify cannot read"),
        "{log}"
    );
    assert!(!p.join("decoy.db").exists());
}

#[test]
fn postgres_async_env_py_with_asyncpg_url() {
    let Some(py) = python() else { return };
    let Some(db) = ServerDb::create(Server::Postgres, "mv_service") else {
        return;
    };
    let dir = project("driver://user:pass@localhost/dbname");
    let p = dir.path();
    env_py_reading(
        &py,
        p,
        "async",
        "config.set_main_option(\"sqlalchemy.url\", os.environ[\"DATABASE_URL\"])",
    );
    // postgres://postgres@127.0.0.1:5432/<name>, with a password the (trust) server
    // ignores: it must never be printed.
    let admin = db.url();
    let (_, rest) = admin.split_once("://").unwrap();
    let rest = rest.replacen('@', ":s3cret@", 1);
    let url = format!("postgresql+asyncpg://{rest}");
    let env = [("DATABASE_URL", url.as_str())];
    alembic_env(&py, p, &["upgrade", "r1"], &env);
    let current = alembic_env(&py, p, &["current"], &env);
    assert!(current.contains("r1"), "{current}");

    let out = run(p, &["check", "--format", "json"], &env);
    let log = text(&out);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert!(!log.contains("s3cret"), "{log}");
    let doc = json(&out);
    assert_eq!(
        doc["status"]["current_revisions"],
        serde_json::json!(["r1"])
    );
    assert_eq!(
        doc["status"]["database_source"],
        "DATABASE_URL, read by alembic/env.py"
    );
    let out = run(p, &["check"], &env);
    let log = text(&out);
    assert!(log.contains(":***@"), "{log}");
    assert!(
        log.contains("(DATABASE_URL, read by alembic/env.py)"),
        "{log}"
    );
    assert!(!log.contains("s3cret"), "{log}");
}

#[test]
fn check_schema_finds_the_models_or_says_there_are_none() {
    let dir = project("sqlite:///app.db");
    let p = dir.path();
    // No model files anywhere: an error, not "2 rules skipped".
    let out = run(p, &["check", "--check-schema", "--no-database"], &[]);
    let log = text(&out);
    assert_eq!(out.status.code(), Some(2), "{log}");
    assert!(log.contains("no SQLAlchemy model files found"), "{log}");
    assert!(log.contains("[models] paths"), "{log}");

    let models: String = ["r1", "r2", "r3"]
        .iter()
        .map(|r| {
            format!(
                "\n\nclass T{r}(Base):\n    __tablename__ = \"t_{r}\"\n    id = sa.Column(sa.Integer, primary_key=True)\n"
            )
        })
        .collect();
    write(
        p,
        "app/models.py",
        &format!(
            "import sqlalchemy as sa\nfrom sqlalchemy.orm import declarative_base\n\nBase = declarative_base(){models}"
        ),
    );
    let out = run(
        p,
        &["check", "--check-schema", "--no-database", "--verbose"],
        &[],
    );
    let log = text(&out);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert!(
        log.contains("Models: app/models.py (found; set [models] paths to choose)"),
        "{log}"
    );
    // The models were read and compared with the migrations.
    assert!(log.contains("\n  ✓ models match migrations\n"), "{log}");
    // A missing table in the models is found through them.
    let edited = std::fs::read_to_string(p.join("app/models.py"))
        .unwrap()
        .replace("t_r3", "t_other");
    write(p, "app/models.py", &edited);
    let out = run(
        p,
        &[
            "check",
            "--check-schema",
            "--no-database",
            "--format",
            "json",
        ],
        &[],
    );
    let doc = json(&out);
    let codes: Vec<&str> = doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"MV203"), "{doc:#}");
    assert_eq!(
        doc["status"]["models_note"],
        "app/models.py (found; set [models] paths to choose)"
    );
}

#[test]
fn safety_rules_report_only_what_the_database_has_not_applied() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    common::alembic::init(&py, p, "sqlite:///app.db");
    // Each migration creates its table and drops the previous one's: MV301 in r2, r3.
    // Their downgrades put the dropped table back (MV205, on with --full, is quiet).
    let with_drop = |rev: &str, down: &str| {
        migration(rev, Some(down))
            .replace(
                "def upgrade():\n",
                &format!("def upgrade():\n    op.drop_table(\"t_{down}\")\n"),
            )
            .replace(
                &format!("    op.drop_table(\"t_{rev}\")\n"),
                &format!(
                    "    op.drop_table(\"t_{rev}\")\n    op.create_table(\"t_{down}\", \
                     sa.Column(\"id\", sa.Integer, primary_key=True))\n"
                ),
            )
    };
    write(p, "alembic/versions/r1_first.py", &migration("r1", None));
    write(p, "alembic/versions/r2_second.py", &with_drop("r2", "r1"));
    write(p, "alembic/versions/r3_third.py", &with_drop("r3", "r2"));
    alembic_ok(&py, p, &["upgrade", "r2"]);
    let mv301 = |extra: &[&str]| -> Vec<String> {
        let mut args = vec![
            "check",
            "--full",
            "--fail-on",
            "warning",
            "--format",
            "json",
        ];
        args.extend_from_slice(extra);
        let out = run(p, &args, &[]);
        json(&out)["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["code"] == "MV301")
            .map(|d| d["path"].as_str().unwrap().to_string())
            .collect()
    };
    // The database is at r2: only r3's drop is reported.
    assert_eq!(mv301(&[]), ["alembic/versions/r3_third.py"]);
    // Without a database, every migration.
    assert_eq!(
        mv301(&["--no-database"]),
        [
            "alembic/versions/r2_second.py",
            "alembic/versions/r3_third.py"
        ]
    );
    // At head: nothing left to report, and the old script's `--full --fail-on
    // warning` passes.
    alembic_ok(&py, p, &["upgrade", "head"]);
    assert!(mv301(&[]).is_empty());
    let out = run(p, &["check", "--full", "--fail-on", "warning"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // `safety-scope = "all"` reports the whole history again.
    write(p, "migverify.toml", "[rules]\nsafety-scope = \"all\"\n");
    assert_eq!(mv301(&[]).len(), 2);
    write(p, "migverify.toml", "[rules]\nsafety-scope = \"some\"\n");
    let out = run(p, &["check"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn messages_stdin_filename_and_a_missing_snapshot() {
    let dir = project("sqlite:///app.db");
    let p = dir.path();
    // `--stdin-filename FILE` with no path: the project is found from FILE, not from
    // the working directory (here an unrelated directory).
    let elsewhere = tempfile::tempdir().unwrap();
    let file = p.join("alembic/versions/r2_second.py");
    let buffer = migration("r1", None);
    let mut cmd = Command::cargo_bin("migverify").unwrap();
    let out = cmd
        .args([
            "check",
            "--no-database",
            "--format",
            "concise",
            "--stdin-filename",
        ])
        .arg(&file)
        .current_dir(elsewhere.path())
        .env_remove("MIGVERIFY_DATABASE_URL")
        .write_stdin(buffer)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    let log = text(&out);
    // The buffer declares r1 again: a duplicate of the project's r1_first.py.
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(
        log.contains("r2_second.py") && log.contains("MV001"),
        "{log}"
    );

    // A missing snapshot file: said once.
    let out = run(p, &["check", "--snapshot", "missing.json"], &[]);
    let log = text(&out);
    assert_eq!(out.status.code(), Some(2), "{log}");
    assert_eq!(log.matches("No such file or directory").count(), 1, "{log}");
}
