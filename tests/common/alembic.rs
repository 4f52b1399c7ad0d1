//! A project made by the real `alembic init` (`MIGVERIFY_TEST_PYTHON`, a Python with
//! alembic, sqlalchemy, psycopg2 and pymysql), and the `migverify` binary run in it.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use assert_cmd::Command;

/// The test Python, or `None` (printing why the test skips) when it is not set.
pub fn python() -> Option<String> {
    match std::env::var("MIGVERIFY_TEST_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ => {
            println!(
                "skipping: MIGVERIFY_TEST_PYTHON is not set (a Python with alembic, sqlalchemy, \
                 psycopg2 and pymysql)"
            );
            None
        }
    }
}

/// The SQLAlchemy form of a test server URL (`postgres://` → `postgresql+psycopg2://`).
pub fn sqlalchemy_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let scheme = match scheme {
        "postgres" | "postgresql" => "postgresql+psycopg2",
        "mysql" | "mariadb" => "mysql+pymysql",
        other => other,
    };
    format!("{scheme}://{rest}")
}

/// `python -m alembic ARGS` in `dir`.
pub fn alembic(python: &str, dir: &Path, args: &[&str]) -> Output {
    std::process::Command::new(python)
        .args(["-m", "alembic"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// [`alembic`], which must succeed; its standard output.
pub fn alembic_ok(python: &str, dir: &Path, args: &[&str]) -> String {
    let out = alembic(python, dir, args);
    assert!(
        out.status.success(),
        "alembic {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `alembic init alembic` in `dir`, with `sqlalchemy.url` set to `url`.
pub fn init(python: &str, dir: &Path, url: &str) {
    alembic_ok(python, dir, &["init", "alembic"]);
    set_url(dir, url);
}

/// `sqlalchemy.url` of `dir/alembic.ini` set to `url`.
pub fn set_url(dir: &Path, url: &str) {
    let ini = dir.join("alembic.ini");
    let text: String = std::fs::read_to_string(&ini)
        .unwrap()
        .lines()
        .map(|l| {
            if l.starts_with("sqlalchemy.url") {
                format!("sqlalchemy.url = {url}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&ini, text).unwrap();
}

/// Runs one SQL statement on `url` through SQLAlchemy, in a transaction.
pub fn sql(python: &str, dir: &Path, url: &str, sql: &str) {
    let script = "import sys, sqlalchemy as sa\n\
                  e = sa.create_engine(sys.argv[1])\n\
                  with e.begin() as c:\n    c.execute(sa.text(sys.argv[2]))\n";
    let out = std::process::Command::new(python)
        .args(["-c", script, url, sql])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The `migverify` binary in `dir`, without colour or an ambient database URL.
pub fn migverify(dir: &Path, args: &[&str]) -> Output {
    Command::cargo_bin("migverify")
        .unwrap()
        .args(args)
        .current_dir(dir)
        .env_remove("MIGVERIFY_DATABASE_URL")
        .env("NO_COLOR", "1")
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap()
}
