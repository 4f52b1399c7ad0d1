//! The pre-commit hook (`.pre-commit-hooks.yaml`), for real: `pre-commit try-repo`
//! installs the hook from this checkout (`language: rust`, so `cargo install`) into a
//! temporary git repository holding a small Alembic project, and runs it once on a
//! clean history (exit 0) and once on a forked one (exit 1, the output names MV006).
//! Then, installed from a `.pre-commit-config.yaml` as users do, `pre-commit run`
//! skips the hook for a change outside the version directories and fails it for a
//! change to a migration that has no finding of its own (the whole graph is checked).
//! The project's `alembic.ini` names a PostgreSQL server that is down (nothing
//! listens on its port): the hook runs without a database by default
//! (`args: [--no-database]`), so it passes all the same, while `migverify check`
//! without the flag fails with exit 2 on the same project.
//!
//! The hook repository is a snapshot of this checkout's working tree (tracked and
//! untracked, not ignored, files) committed to a temporary git repository: pre-commit
//! needs a commit, and its own handling of uncommitted changes (a new shadow clone,
//! so a new `cargo install`, for every run) would build the hook once per run.
//!
//! pre-commit comes from the test venv (`scripts/requirements-test.txt`), found like
//! the Alembic oracle: `MIGVERIFY_TEST_PYTHON`, else `.venv/bin/python`. Without it the
//! test prints why and passes, unless `MIGVERIFY_REQUIRE_ORACLE=1` (`.ci/run`).
//!
//! Each `try-repo` clones the hook repository into a new temporary directory and runs
//! `cargo install` there: three builds per test run. They go to
//! `target/pre-commit-hook` (`CARGO_TARGET_DIR`, kept between runs, so dependencies are
//! built once) with a cheap release profile (no LTO, opt-level 0).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::git;

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The interpreter that imports `pre_commit`, or why there is none.
fn python() -> Result<PathBuf, String> {
    let (candidate, origin) = match std::env::var_os("MIGVERIFY_TEST_PYTHON") {
        Some(p) if !p.is_empty() => (PathBuf::from(p), "MIGVERIFY_TEST_PYTHON"),
        _ => (manifest_dir().join(".venv/bin/python"), "the project venv"),
    };
    if !candidate.exists() {
        return Err(format!(
            "no Python with pre-commit: MIGVERIFY_TEST_PYTHON is unset and {} does not \
             exist (run scripts/python-env, or use scripts/test)",
            candidate.display()
        ));
    }
    match Command::new(&candidate)
        .args(["-c", "import pre_commit"])
        .output()
    {
        Ok(out) if out.status.success() => Ok(candidate),
        Ok(out) => Err(format!(
            "{} ({origin}) cannot import pre_commit: {} (re-run scripts/python-env)",
            candidate.display(),
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        )),
        Err(e) => Err(format!(
            "{} ({origin}) does not run: {e}",
            candidate.display()
        )),
    }
}

fn skip_or_fail(reason: &str) {
    if std::env::var("MIGVERIFY_REQUIRE_ORACLE").is_ok_and(|v| !v.is_empty() && v != "0") {
        panic!("MIGVERIFY_REQUIRE_ORACLE is set but the pre-commit test cannot run: {reason}");
    }
    eprintln!("SKIPPED (pre-commit not available): {reason}");
}

fn migration(revision: &str, down: Option<&str>) -> String {
    let down = match down {
        Some(d) => format!("{d:?}"),
        None => "None".into(),
    };
    format!(
        "\"\"\"{revision}\n\nRevision ID: {revision}\n\"\"\"\n\
         from alembic import op\nimport sqlalchemy as sa\n\n\
         revision = {revision:?}\ndown_revision = {down}\n\
         branch_labels = None\ndepends_on = None\n\n\n\
         def upgrade():\n    op.create_table(\"t_{revision}\", sa.Column(\"id\", sa.Integer))\n\n\n\
         def downgrade():\n    op.drop_table(\"t_{revision}\")\n"
    )
}

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// This checkout's working tree as a one-commit git repository.
fn hook_repo() -> tempfile::TempDir {
    let out = Command::new("git")
        .current_dir(manifest_dir())
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .output()
        .expect("run git ls-files");
    assert!(out.status.success(), "git ls-files failed");
    let repo = tempfile::tempdir().unwrap();
    for rel in out.stdout.split(|&b| b == 0).filter(|r| !r.is_empty()) {
        let rel = std::str::from_utf8(rel).expect("utf-8 path");
        let from = manifest_dir().join(rel);
        if !from.is_file() {
            continue; // deleted in the working tree
        }
        let to = repo.path().join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&from, &to).unwrap();
    }
    git(repo.path(), &["init", "-q"]);
    git(repo.path(), &["add", "-A"]);
    git(repo.path(), &["commit", "-q", "-m", "snapshot"]);
    repo
}

/// `python -m pre_commit <args>` in `project`, timed.
fn pre_commit(python: &Path, project: &Path, home: &Path, args: &[&OsStr]) -> Output {
    let mut cmd = Command::new(python);
    cmd.current_dir(project)
        .args(["-m", "pre_commit"])
        .args(args)
        .env("PRE_COMMIT_HOME", home)
        .env("PRE_COMMIT_COLOR", "never")
        .env(
            "CARGO_TARGET_DIR",
            manifest_dir().join("target/pre-commit-hook"),
        )
        // A cheap release profile: the hook's speed does not matter here, its build
        // time does (each try-repo builds the hook again, in a new temporary clone).
        .env("CARGO_PROFILE_RELEASE_LTO", "false")
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "0")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16")
        .env("NO_COLOR", "1")
        .env_remove("MIGVERIFY_DATABASE_URL")
        // The checkout's own git environment must not leak into the temp repository.
        .env_remove("GIT_DIR")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_WORK_TREE");
    let start = std::time::Instant::now();
    let out = cmd.output().expect("run pre-commit");
    eprintln!(
        "pre-commit {:?}: {:.1?}, exit {:?}",
        args.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>(),
        start.elapsed(),
        out.status.code()
    );
    out
}

/// `pre-commit try-repo <hook repo> migverify <args>`.
fn try_repo(python: &Path, hooks: &Path, project: &Path, home: &Path, args: &[&str]) -> Output {
    let mut all: Vec<&OsStr> = vec![
        OsStr::new("try-repo"),
        hooks.as_os_str(),
        OsStr::new("migverify"),
    ];
    all.extend(args.iter().map(OsStr::new));
    pre_commit(python, project, home, &all)
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn try_repo_passes_on_a_clean_history_and_fails_on_a_fork() {
    let python = match python() {
        Ok(p) => p,
        Err(reason) => return skip_or_fail(&reason),
    };
    let hooks = hook_repo();
    let hooks = hooks.path();
    let project = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let p = project.path();
    // A developer's local database that is down: nothing listens on port 9.
    write(
        p,
        "alembic.ini",
        "[alembic]\nscript_location = %(here)s/alembic\n\
         sqlalchemy.url = postgresql://app:s3cret@127.0.0.1:9/app\n",
    );
    write(p, "alembic/versions/aaa_base.py", &migration("aaa", None));
    write(
        p,
        "alembic/versions/bbb_next.py",
        &migration("bbb", Some("aaa")),
    );
    write(p, "README.md", "an app\n");
    git(p, &["init", "-q"]);
    git(p, &["add", "."]);
    git(p, &["commit", "-q", "-m", "init"]);

    // Clean history: the hook runs and passes, the database server being down.
    let out = try_repo(&python, hooks, p, home.path(), &["--all-files"]);
    let log = text(&out);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert!(log.contains("migverify") && log.contains("Passed"), "{log}");
    // Without --no-database the same project needs the server, and it is down.
    let direct = Command::new(env!("CARGO_BIN_EXE_migverify"))
        .current_dir(p)
        .arg("check")
        .env_remove("MIGVERIFY_DATABASE_URL")
        .output()
        .unwrap();
    assert_eq!(direct.status.code(), Some(2), "{}", text(&direct));
    assert!(!text(&direct).contains("s3cret"), "{}", text(&direct));

    // A second head (a fork no merge joins): the hook fails and names the rule.
    write(
        p,
        "alembic/versions/ccc_fork.py",
        &migration("ccc", Some("aaa")),
    );
    git(p, &["add", "."]);
    let out = try_repo(&python, hooks, p, home.path(), &["--all-files"]);
    let log = text(&out);
    assert_ne!(out.status.code(), Some(0), "{log}");
    assert!(log.contains("Failed"), "{log}");
    assert!(log.contains("MV006"), "the output names the rule: {log}");

    // As users install it: a .pre-commit-config.yaml naming the repository and a
    // revision, `pre-commit run` (the environment is built once, then cached in
    // PRE_COMMIT_HOME, unlike try-repo's).
    let rev = Command::new("git")
        .current_dir(hooks)
        .args(["rev-parse", "HEAD"])
        .output()
        .unwrap();
    let rev = String::from_utf8(rev.stdout).unwrap();
    write(
        p,
        ".pre-commit-config.yaml",
        &format!(
            "repos:\n  - repo: {}\n    rev: {}\n    hooks:\n      - id: migverify\n",
            hooks.display(),
            rev.trim()
        ),
    );
    git(p, &["add", "."]);
    let run = |files: &[&str]| {
        let mut args: Vec<&OsStr> = vec![OsStr::new("run"), OsStr::new("--files")];
        args.extend(files.iter().map(OsStr::new));
        pre_commit(&python, p, home.path(), &args)
    };
    // Only a file outside the version directories: the hook does not run.
    let out = run(&["README.md"]);
    let log = text(&out);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert!(log.contains("(no files to check)Skipped"), "{log}");

    // Only the base migration changed, and no diagnostic is located in it: the hook
    // still checks the whole graph, so the fork fails the commit.
    let out = run(&["alembic/versions/aaa_base.py"]);
    let log = text(&out);
    assert_ne!(out.status.code(), Some(0), "{log}");
    assert!(log.contains("MV006"), "{log}");
    // Had the hook passed the changed file, `check` would have reported only that
    // file's diagnostics, and there are none:
    let alone = Command::new(env!("CARGO_BIN_EXE_migverify"))
        .current_dir(p)
        .args(["check", "--no-database", "alembic/versions/aaa_base.py"])
        .env_remove("MIGVERIFY_DATABASE_URL")
        .output()
        .unwrap();
    assert_eq!(alone.status.code(), Some(0), "{}", text(&alone));
}
