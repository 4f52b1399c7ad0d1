//! The extraction cache, through the binary: warm runs give what cold runs give,
//! edits are seen, and a damaged or shared cache never changes a result.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use tempfile::TempDir;

fn migverify() -> Command {
    let mut cmd = Command::cargo_bin("migverify").expect("migverify binary");
    cmd.env("NO_COLOR", "1").env_remove("MIGVERIFY_CACHE_DIR");
    cmd
}

/// A project of `n` chained migrations (plus one with findings) in `versions/`.
fn project(n: usize) -> TempDir {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(
        tmp.path().join("migverify.toml"),
        "[migrations]\nversion_locations = [\"versions\"]\n",
    )
    .unwrap();
    let versions = tmp.path().join("versions");
    fs::create_dir(&versions).unwrap();
    for i in 0..n {
        let down = if i == 0 {
            "None".to_string()
        } else {
            format!("'r{:04}'", i - 1)
        };
        fs::write(
            versions.join(format!("r{i:04}_step.py")),
            format!(
                "\"\"\"step {i}\"\"\"\nfrom alembic import op\nimport sqlalchemy as sa\n\n\
                 revision = 'r{i:04}'\ndown_revision = {down}\n\n\
                 def upgrade():\n    op.add_column('t', sa.Column('c{i}', sa.Integer(), nullable=True))\n\n\
                 def downgrade():\n    op.drop_column('t', 'c{i}')\n"
            ),
        )
        .unwrap();
    }
    // Findings: an empty downgrade, a suppression, a second head.
    fs::write(
        versions.join("zz_extra.py"),
        "revision = 'zz01'\ndown_revision = 'r0000'\n\ndef upgrade():  # migverify: ignore[MV999]\n    op.create_table('x')\n\ndef downgrade():\n    pass\n",
    )
    .unwrap();
    tmp
}

fn cache_dir(p: &TempDir) -> PathBuf {
    p.path().join(".migverify_cache")
}

fn check(dir: &Path, extra: &[&str]) -> Output {
    migverify()
        .current_dir(dir)
        .args(["check", "--format", "json", "--select", "ALL"])
        .args(extra)
        .output()
        .unwrap()
}

/// The cache files (`*.bin`) under `dir`.
fn cache_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(cache_files(&p));
        } else if p.extension().is_some_and(|x| x == "bin") {
            out.push(p);
        }
    }
    out
}

fn assert_same(a: &Output, b: &Output) {
    assert_eq!(
        String::from_utf8_lossy(&a.stdout),
        String::from_utf8_lossy(&b.stdout)
    );
    assert_eq!(a.status.code(), b.status.code());
}

#[test]
fn warm_run_reports_what_a_cold_run_reports() {
    let p = project(30);
    let uncached = check(p.path(), &["--no-cache"]);
    assert!(cache_files(&cache_dir(&p)).is_empty());
    let cold = check(p.path(), &[]);
    assert_eq!(cache_files(&cache_dir(&p)).len(), 1);
    assert_eq!(
        fs::read_to_string(cache_dir(&p).join(".gitignore")).unwrap(),
        "# Automatically created by migverify.\n*\n"
    );
    let warm = check(p.path(), &[]);
    assert_same(&uncached, &cold);
    assert_same(&cold, &warm);
    assert_eq!(
        cold.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&cold.stdout)
    );
    let json: serde_json::Value = serde_json::from_slice(&warm.stdout).unwrap();
    assert!(!json["diagnostics"].as_array().unwrap().is_empty());
    // The human format shows source snippets: the text is there on a hit.
    let human = |extra: &[&str]| {
        migverify()
            .current_dir(p.path())
            .args(["check", "--select", "ALL"])
            .args(extra)
            .output()
            .unwrap()
    };
    assert_same(&human(&["--no-cache"]), &human(&[]));
}

#[test]
fn an_edit_keeping_size_and_mtime_is_seen_through_the_hash() {
    let p = project(5);
    let file = p.path().join("versions/zz_extra.py");
    let cold = check(p.path(), &[]);
    let before = fs::metadata(&file).unwrap();
    let text = fs::read_to_string(&file).unwrap();
    // Same length: `pass` becomes `op.x`, so the downgrade is no longer empty.
    let edited = text.replace("    pass\n", "    op.x\n");
    assert_eq!(edited.len(), text.len());
    fs::write(&file, &edited).unwrap();
    fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(before.modified().unwrap())
        .unwrap();
    let after = fs::metadata(&file).unwrap();
    assert_eq!(after.len(), before.len());
    assert_eq!(after.modified().unwrap(), before.modified().unwrap());

    let warm = check(p.path(), &[]);
    let uncached = check(p.path(), &["--no-cache"]);
    assert_same(&uncached, &warm);
    assert_ne!(
        String::from_utf8_lossy(&cold.stdout),
        String::from_utf8_lossy(&warm.stdout),
        "the edit changes the findings"
    );
}

#[test]
fn stamps_prove_a_file_unchanged_only_outside_the_racy_window() {
    let p = project(5);
    let file = p.path().join("versions/zz_extra.py");
    // Old enough stamps: the cold run's entries are trusted on stamps alone.
    std::thread::sleep(std::time::Duration::from_millis(3300));
    let cold = check(p.path(), &[]);
    let stored = fs::read(&cache_files(&cache_dir(&p))[0]).unwrap();
    let warm = check(p.path(), &[]);
    assert_same(&cold, &warm);
    assert_eq!(
        fs::read(&cache_files(&cache_dir(&p))[0]).unwrap(),
        stored,
        "a warm run over unchanged files does not rewrite the cache"
    );
    // An edit that keeps size and mtime still changes the ctime.
    let before = fs::metadata(&file).unwrap();
    let text = fs::read_to_string(&file).unwrap();
    let edited = text.replace("    pass\n", "    op.x\n");
    assert_eq!(edited.len(), text.len());
    fs::write(&file, &edited).unwrap();
    fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(before.modified().unwrap())
        .unwrap();
    let after = check(p.path(), &[]);
    assert_same(&check(p.path(), &["--no-cache"]), &after);
    assert_ne!(
        String::from_utf8_lossy(&cold.stdout),
        String::from_utf8_lossy(&after.stdout),
        "the edit changes the findings"
    );
}

#[test]
fn a_deleted_file_is_dropped() {
    let p = project(5);
    check(p.path(), &[]);
    fs::remove_file(p.path().join("versions/zz_extra.py")).unwrap();
    let warm = check(p.path(), &[]);
    assert_same(&check(p.path(), &["--no-cache"]), &warm);
    assert_eq!(warm.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&warm.stdout).unwrap();
    assert_eq!(json["summary"]["files"], 5);
}

#[test]
fn a_corrupt_or_truncated_cache_file_is_ignored() {
    let p = project(10);
    let cold = check(p.path(), &[]);
    let files = cache_files(&cache_dir(&p));
    assert_eq!(files.len(), 1);
    let file = &files[0];
    let good = fs::read(file).unwrap();

    let mut damaged: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"garbage".to_vec(),
        good[..good.len() / 2].to_vec(),
        good[..20].to_vec(),
    ];
    let mut flipped = good.clone();
    let last = flipped.len() - 10;
    flipped[last] ^= 0xff;
    damaged.push(flipped);
    let mut noise: Vec<u8> = (0..good.len()).map(|i| (i * 7919 % 251) as u8).collect();
    noise[..8].copy_from_slice(&good[..8]);
    damaged.push(noise);

    for bytes in damaged {
        fs::write(file, &bytes).unwrap();
        let out = check(p.path(), &["--verbose"]);
        assert_same(&cold, &out);
        // It was rewritten and works again.
        assert_same(&cold, &check(p.path(), &[]));
        assert_ne!(fs::read(file).unwrap(), bytes);
    }
}

#[test]
fn no_cache_writes_nothing_and_an_unwritable_cache_dir_is_no_error() {
    let p = project(3);
    let out = check(p.path(), &["--no-cache"]);
    assert!(!cache_dir(&p).exists());
    // A cache "directory" that is a file: runs without a cache.
    let blocker = p.path().join("not-a-dir");
    fs::write(&blocker, "x").unwrap();
    let blocked = check(p.path(), &["--cache-dir", "not-a-dir"]);
    assert_same(&out, &blocked);
    assert!(
        blocked.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&blocked.stderr)
    );
}

#[test]
fn cache_dir_flag_and_env() {
    let p = project(3);
    let elsewhere = tempfile::tempdir().unwrap();
    let dir = elsewhere.path().join("c");
    check(p.path(), &["--cache-dir", dir.to_str().unwrap()]);
    assert_eq!(cache_files(&dir).len(), 1);
    assert!(!cache_dir(&p).exists());

    let env_dir = elsewhere.path().join("env");
    migverify()
        .current_dir(p.path())
        .env("MIGVERIFY_CACHE_DIR", &env_dir)
        .args(["check", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(cache_files(&env_dir).len(), 1);
    assert!(!cache_dir(&p).exists());
}

#[test]
fn stdin_content_is_never_cached() {
    let p = project(3);
    check(p.path(), &[]);
    let file = cache_files(&cache_dir(&p)).remove(0);
    let stored = fs::read(&file).unwrap();
    let target = p.path().join("versions/zz_extra.py");
    let buffer = fs::read_to_string(&target)
        .unwrap()
        .replace("    pass\n", "    op.drop_table('x')\n");
    let out = migverify()
        .current_dir(p.path())
        .args([
            "check",
            "--format",
            "json",
            "--select",
            "ALL",
            "--stdin-filename",
        ])
        .arg(&target)
        .write_stdin(buffer)
        .output()
        .unwrap();
    assert!(out.status.code().is_some());
    assert_eq!(
        fs::read(&file).unwrap(),
        stored,
        "the cache file is untouched"
    );
    // The file on disk is still linted from the disk.
    let uncached = check(p.path(), &["--no-cache"]);
    assert_same(&uncached, &check(p.path(), &[]));
}

#[test]
fn clean_removes_the_cache_dir() {
    let p = project(3);
    check(p.path(), &[]);
    assert!(cache_dir(&p).exists());
    let out = migverify()
        .current_dir(p.path())
        .arg("clean")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(!cache_dir(&p).exists());
    // Nothing to clean is fine.
    migverify()
        .current_dir(p.path())
        .arg("clean")
        .assert()
        .success();
    // A directory migverify did not create is left alone.
    let other = p.path().join("precious");
    fs::create_dir(&other).unwrap();
    fs::write(other.join("data"), "keep").unwrap();
    migverify()
        .current_dir(p.path())
        .args(["clean", "--cache-dir", "precious"])
        .assert()
        .code(2);
    assert!(other.join("data").exists());
}

#[test]
fn concurrent_runs_do_not_corrupt_the_cache() {
    let p = project(200);
    let expected = check(p.path(), &["--no-cache"]);
    let spawn = || {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("migverify"))
            .current_dir(p.path())
            .env("NO_COLOR", "1")
            .env_remove("MIGVERIFY_CACHE_DIR")
            .args(["check", "--format", "json", "--select", "ALL"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let runs: Vec<_> = (0..4).map(|_| spawn()).collect();
    for run in runs {
        let out = run.wait_with_output().unwrap();
        assert_same(&expected, &out);
    }
    assert_same(&expected, &check(p.path(), &[]));
    assert_same(&expected, &check(p.path(), &[]));
    let entries: Vec<_> = fs::read_dir(cache_files(&cache_dir(&p))[0].parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(entries.len(), 1, "no temporary files left: {entries:?}");
}

/// Values a migration takes from a helper module are resolved at every run, never
/// cached: editing only the helper (the migration files unchanged and loaded from
/// the cache) changes the next warm run's result.
#[test]
fn a_changed_helper_module_is_seen_by_a_warm_run() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    fs::write(
        root.join("migverify.toml"),
        "[migrations]\nversion_locations = [\"versions\"]\n",
    )
    .unwrap();
    fs::create_dir_all(root.join("myproj")).unwrap();
    fs::write(root.join("myproj/__init__.py"), "").unwrap();
    let helper = root.join("myproj/cli.py");
    fs::write(&helper, "EXPAND_BRANCH = 'expand'\n").unwrap();
    fs::create_dir(root.join("versions")).unwrap();
    for (rev, down, labels, deps) in [
        ("a1", "None", "None", "None"),
        ("e1", "'a1'", "(cli.EXPAND_BRANCH,)", "None"),
        ("c1", "'e1'", "None", "'expand'"),
    ] {
        fs::write(
            root.join(format!("versions/{rev}.py")),
            format!(
                "from myproj import cli\n\nrevision = '{rev}'\ndown_revision = {down}\n\
                 branch_labels = {labels}\ndepends_on = {deps}\n\n\
                 def upgrade():\n    op.f()\n\ndef downgrade():\n    op.g()\n"
            ),
        )
        .unwrap();
    }
    let codes = |out: &Output| -> Vec<String> {
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        report["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["code"].as_str().unwrap().to_string())
            .collect()
    };
    let cold = check(root, &[]);
    assert!(
        codes(&cold).is_empty(),
        "{}",
        String::from_utf8_lossy(&cold.stdout)
    );
    assert_eq!(cache_files(&root.join(".migverify_cache")).len(), 1);
    assert_same(&cold, &check(root, &[]));
    // The label changes: `depends_on = 'expand'` now names nothing.
    fs::write(&helper, "EXPAND_BRANCH = 'expand_v2'\n").unwrap();
    let warm = check(root, &[]);
    assert_eq!(
        codes(&warm),
        ["MV007"],
        "{}",
        String::from_utf8_lossy(&warm.stdout)
    );
    assert_same(&warm, &check(root, &["--no-cache"]));
    // The helper gone: a warning (MV014) on e1, and MV007 holds back (the
    // unresolved label may be the one `depends_on` names); exit 0.
    fs::remove_file(&helper).unwrap();
    let gone = check(root, &[]);
    assert_eq!(
        codes(&gone),
        ["MV014"],
        "{}",
        String::from_utf8_lossy(&gone.stdout)
    );
    assert_eq!(gone.status.code(), Some(0));
    // Back as it was: clean again.
    fs::write(&helper, "EXPAND_BRANCH = 'expand'\n").unwrap();
    assert!(codes(&check(root, &[])).is_empty());
}
