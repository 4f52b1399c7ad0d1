//! Hostile inputs through the `migverify` binary: huge and deep files, odd paths,
//! files that cannot be read, broken revision graphs, abusive config and `--output`
//! targets. Every input is generated here, in a temp dir (nothing large is committed).
//!
//! Each test puts a normal migration with a known finding (MV003 on
//! `n1_neighbour.py`) next to the hostile one and checks that it is still reported,
//! that the exit code is the one the spec gives (0 clean, 1 findings at or above
//! `--fail-on`, 2 the run failed), and that nothing panicked.
//!
//! Slow (seconds in a debug build, see docs/security.md): the 20 MB file, the
//! 100,000-line function and the 50,000-revision chain and cycle.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use tempfile::TempDir;

fn migverify() -> Command {
    let mut cmd = Command::cargo_bin("migverify").expect("migverify binary");
    cmd.env("NO_COLOR", "1")
        .env_remove("MIGVERIFY_DATABASE_URL");
    cmd
}

fn generic(rev: &str, down: &str, upgrade: &str, downgrade: &str) -> String {
    format!(
        "\"\"\"{rev}\"\"\"\nfrom alembic import op\nimport sqlalchemy as sa\n\n\
         revision = '{rev}'\ndown_revision = {down}\n\n\n\
         def upgrade():\n    {upgrade}\n\n\ndef downgrade():\n    {downgrade}\n"
    )
}

/// The neighbour's MV003 finding, as `concise` prints its location.
const NEIGHBOUR_FINDING: &str = "n1_neighbour.py:13:5: MV003";

/// A version directory with the base `a1` and the neighbour `n1` (its downgrade is
/// `pass`: MV003). `down` is the neighbour's down_revision.
fn project(neighbour_down: &str) -> (TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let versions = tmp.path().join("versions");
    std::fs::create_dir(&versions).unwrap();
    std::fs::write(
        versions.join("a1_base.py"),
        generic(
            "a1",
            "None",
            "op.create_table('t', sa.Column('id', sa.Integer()))",
            "op.drop_table('t')",
        ),
    )
    .unwrap();
    std::fs::write(
        versions.join("n1_neighbour.py"),
        generic(
            "n1",
            neighbour_down,
            "op.add_column('t', sa.Column('x', sa.Integer()))",
            "pass",
        ),
    )
    .unwrap();
    (tmp, versions)
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs the binary and checks what must hold for any input: no panic, no overflow,
/// no signal.
fn run(mut cmd: Command) -> Run {
    let out: Output = cmd.output().unwrap();
    let run = Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        run.code.is_some(),
        "killed by a signal: {:?}\n{}",
        out.status,
        run.stderr
    );
    for bad in ["panicked", "overflow", "RUST_BACKTRACE"] {
        assert!(!run.stderr.contains(bad), "{bad}: {}", run.stderr);
    }
    run
}

/// `check --format concise --fail-on warning` on `dir`.
fn check(dir: &Path, extra: &[&str]) -> Run {
    check_as(dir, "concise", extra)
}

fn check_as(dir: &Path, format: &str, extra: &[&str]) -> Run {
    let mut cmd = migverify();
    cmd.args(["check", "--format", format, "--fail-on", "warning"])
        .args(extra)
        .arg(dir);
    run(cmd)
}

fn assert_neighbour_reported(r: &Run) {
    assert!(
        r.stdout.contains(NEIGHBOUR_FINDING),
        "the neighbour's finding is missing:\n{}\n{}",
        r.stdout,
        r.stderr
    );
}

// ------------------------------------------------------------------ big and deep

#[test]
fn a_20_mb_migration_is_checked_to_its_last_line() {
    let (_tmp, versions) = project("'b1'");
    let line = format!(
        "    op.execute(\"UPDATE t SET x = '{}'\")\n",
        "x".repeat(80)
    );
    let n = 20 * 1024 * 1024 / line.len() + 1;
    // Over the default size limit (16 MiB): raised for this project.
    std::fs::write(
        versions.join("migverify.toml"),
        "[migrations]\nversion_locations = [\".\"]\nmax_file_size = \"32MiB\"\n",
    )
    .unwrap();
    let mut text = String::from("revision = 'b1'\ndown_revision = 'a1'\n\ndef upgrade():\n");
    for _ in 0..n {
        text.push_str(&line);
    }
    text.push_str("\ndef downgrade():\n    pass\n");
    assert!(text.len() > 20 * 1024 * 1024);
    std::fs::write(versions.join("b1_huge.py"), &text).unwrap();
    let downgrade_line = text.lines().count() - 1;

    let r = check(&versions, &["--no-cache"]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(
        r.stdout
            .contains(&format!("b1_huge.py:{downgrade_line}:5: MV003")),
        "{}",
        r.stdout
    );
    assert_neighbour_reported(&r);
}

#[test]
fn five_thousand_nested_parentheses() {
    let (_tmp, versions) = project("'c2'");
    let depth = 5000;
    // Balanced: CPython's tokenizer refuses the 201st open bracket ("too many nested
    // parentheses"), and so does migverify, before parsing.
    std::fs::write(
        versions.join("c1_deep.py"),
        generic(
            "c1",
            "'a1'",
            &format!("op.execute({}'x'{})", "(".repeat(depth), ")".repeat(depth)),
            "op.execute('y')",
        ),
    )
    .unwrap();
    // Never closed: a syntax error.
    std::fs::write(
        versions.join("c2_unclosed.py"),
        generic(
            "c2",
            "'c1'",
            &format!("x = {}", "(".repeat(depth)),
            "op.execute('y')",
        ),
    )
    .unwrap();
    let r = check(&versions, &[]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    let mv009: Vec<&str> = r.stdout.lines().filter(|l| l.contains("MV009")).collect();
    assert_eq!(mv009.len(), 2, "{}", r.stdout);
    let line = generic("c2", "'c1'", "x = ", "")
        .lines()
        .position(|l| l.contains("x = "))
        .unwrap()
        + 1;
    // Both at the 201st open bracket, with CPython's message, not at 1:1: after
    // `op.execute(` (its own bracket is the first) and after `x = `.
    let at = format!("c1_deep.py:{line}:{}: MV009", 4 + "op.execute(".len() + 200);
    assert!(mv009[0].contains(&at), "{} (expected {at})", mv009[0]);
    let at = format!("c2_unclosed.py:{line}:{}: MV009", 4 + 4 + 201);
    assert!(mv009[1].contains(&at), "{} (expected {at})", mv009[1]);
    for m in mv009 {
        assert!(m.ends_with("too many nested parentheses"), "{m}");
    }
    // 199 open brackets, never closed: CPython's "'(' was never closed", at the
    // innermost one.
    std::fs::write(
        versions.join("c1_deep.py"),
        generic("c1", "'a1'", "op.execute('x')", "op.execute('y')"),
    )
    .unwrap();
    std::fs::write(
        versions.join("c2_unclosed.py"),
        generic(
            "c2",
            "'c1'",
            &format!("x = {}", "(".repeat(199)),
            "op.execute('y')",
        ),
    )
    .unwrap();
    let r = check(&versions, &[]);
    let mv009: Vec<&str> = r.stdout.lines().filter(|l| l.contains("MV009")).collect();
    assert_eq!(mv009.len(), 1, "{}", r.stdout);
    let at = format!("c2_unclosed.py:{line}:{}: MV009", 4 + 4 + 199);
    assert!(mv009[0].contains(&at), "{} (expected {at})", mv009[0]);
    assert!(mv009[0].ends_with("'(' was never closed"), "{}", mv009[0]);
    assert_neighbour_reported(&r);
}

#[test]
fn a_100_000_line_upgrade_function() {
    let (_tmp, versions) = project("'d1'");
    let mut body = String::new();
    for i in 0..100_000 {
        body.push_str(&format!(
            "op.add_column('t', sa.Column('c{i}', sa.Integer()))\n    "
        ));
    }
    let text = generic("d1", "'a1'", &body, "pass");
    std::fs::write(versions.join("d1_long.py"), &text).unwrap();
    let downgrade_line = text.lines().count() - 1;
    assert!(downgrade_line > 100_000);
    let r = check(&versions, &["--no-cache"]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(
        r.stdout
            .contains(&format!("d1_long.py:{downgrade_line}:5: MV003")),
        "{}",
        r.stdout
    );
    assert_neighbour_reported(&r);
}

// ------------------------------------------------------------------ odd files and paths

#[test]
fn a_directory_named_like_a_migration_is_not_a_migration() {
    let (_tmp, versions) = project("'a1'");
    let dir = versions.join("x.py");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("inner.txt"), "not python").unwrap();
    let r = check(&versions, &[]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(!r.stdout.contains("x.py"), "{}", r.stdout);
    assert_neighbour_reported(&r);

    // Given directly, it is a version directory with no migrations: a clear error.
    let r = check(&dir, &[]);
    assert_eq!(r.code, Some(2));
    assert!(r.stderr.contains("no migrations found"), "{}", r.stderr);
    assert!(r.stderr.contains("x.py"), "{}", r.stderr);
}

#[cfg(unix)]
#[test]
fn a_file_without_read_permission_is_mv009_naming_it() {
    use std::os::unix::fs::PermissionsExt;
    let (tmp, versions) = project("'a1'");
    let locked = versions.join("b1_locked.py");
    std::fs::write(&locked, generic("b1", "'a1'", "op.f()", "op.g()")).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    let mut cmd = if std::fs::read(&locked).is_err() {
        migverify()
    } else if std::path::Path::new("/usr/bin/setpriv").exists() {
        // root reads through permissions (CI containers): run as `nobody` instead.
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut cmd = Command::new("/usr/bin/setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(assert_cmd::cargo::cargo_bin("migverify"))
            .env("NO_COLOR", "1")
            .env_remove("MIGVERIFY_DATABASE_URL");
        cmd
    } else {
        println!("skipping: this user reads a mode-000 file (root?) and setpriv is missing");
        return;
    };
    cmd.args([
        "check",
        "--no-cache",
        "--format",
        "concise",
        "--fail-on",
        "warning",
    ])
    .arg(&versions);
    let r = run(cmd);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(
        r.stdout
            .contains("b1_locked.py:1:1: MV009 [error] cannot read the file: Permission denied"),
        "{}",
        r.stdout
    );
    assert_neighbour_reported(&r);
}

/// `/proc/self/mem` fails to read even for root (EIO); as a symlink out of the project
/// it is not even opened: skipped with a warning, the rest checked.
#[cfg(target_os = "linux")]
#[test]
fn a_symlink_to_an_unreadable_file_outside_is_skipped() {
    let (_tmp, versions) = project("'a1'");
    std::os::unix::fs::symlink("/proc/self/mem", versions.join("b1_eio.py")).unwrap();
    let r = check(&versions, &[]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(
        r.stderr.contains("b1_eio.py: symlink to a file outside"),
        "{}",
        r.stderr
    );
    assert!(!r.stdout.contains("b1_eio.py"), "{}", r.stdout);
    assert_neighbour_reported(&r);
}

/// A named pipe is skipped, not read: reading it would block forever.
#[cfg(unix)]
#[test]
fn a_named_pipe_does_not_hang_the_run() {
    let (_tmp, versions) = project("'a1'");
    let fifo = versions.join("b1_fifo.py");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let start = Instant::now();
    let r = check(&versions, &[]);
    assert!(start.elapsed() < Duration::from_secs(30));
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert_neighbour_reported(&r);
}

#[test]
fn non_ascii_paths_in_every_format() {
    let (_tmp, versions) = project("'u1'");
    let name = "ünïcødé_迁移.py";
    std::fs::write(versions.join(name), generic("u1", "'a1'", "op.f()", "pass")).unwrap();
    let r = check(&versions, &[]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(
        r.stdout.contains(&format!("{name}:13:5: MV003")),
        "{}",
        r.stdout
    );
    assert_neighbour_reported(&r);

    let format = |f: &str| {
        let mut cmd = migverify();
        cmd.args(["check", "--format", f]).arg(&versions);
        run(cmd).stdout
    };
    let json: serde_json::Value = serde_json::from_str(&format("json")).unwrap();
    assert!(
        json["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["path"].as_str().unwrap().ends_with(name))
    );
    let sarif = format("sarif");
    assert!(
        sarif.contains("%C3%BCn%C3%AFc%C3%B8d%C3%A9_%E8%BF%81%E7%A7%BB.py"),
        "SARIF URIs are percent-encoded"
    );
    let github = format("github");
    assert!(
        github.contains(&format!("{name},line=13,col=5")),
        "{github}"
    );
    assert!(format("human").contains(name));
}

#[cfg(target_os = "linux")]
#[test]
fn a_file_name_that_is_not_utf8() {
    use std::os::unix::ffi::OsStrExt;
    let (_tmp, versions) = project("'a1'");
    let name = std::ffi::OsStr::from_bytes(b"b1_caf\xe9.py");
    std::fs::write(versions.join(name), generic("b1", "'a1'", "op.f()", "pass")).unwrap();
    for format in ["concise", "human", "json", "sarif", "github"] {
        let mut cmd = migverify();
        cmd.args(["check", "--fail-on", "warning", "--format", format])
            .arg(&versions);
        let r = run(cmd);
        assert_eq!(r.code, Some(1), "{format}: {}", r.stderr);
        assert!(r.stdout.contains("b1_caf"), "{format}: {}", r.stdout);
        assert!(r.stdout.contains("n1_neighbour.py"), "{format}");
    }
}

// ------------------------------------------------------------------ broken graphs

#[test]
fn a_self_referencing_down_revision() {
    let (_tmp, versions) = project("'a1'");
    std::fs::write(
        versions.join("s1_self.py"),
        generic("s1", "'s1'", "op.f()", "op.g()"),
    )
    .unwrap();
    let r = check(&versions, &[]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(
        r.stdout.contains(
            "s1_self.py:6:17: MV008 [error] revision `s1` names itself as its down_revision"
        ),
        "{}",
        r.stdout
    );
    assert_neighbour_reported(&r);
}

fn write_chain(dir: &Path, n: usize) {
    for i in 0..n {
        let down = if i == 0 {
            "None".to_string()
        } else {
            format!("'r{:05}'", i - 1)
        };
        std::fs::write(
            dir.join(format!("r{i:05}.py")),
            format!(
                "revision = 'r{i:05}'\ndown_revision = {down}\n\ndef upgrade():\n    op.f()\n\n\
                 def downgrade():\n    op.g()\n"
            ),
        )
        .unwrap();
    }
}

/// 50,000 revisions through the binary: `check` and `graph`, then the same chain
/// closed into one cycle (which once took 22 GB: every file's MV008 listed all
/// 50,000 revisions and related locations).
#[test]
fn a_50_000_revision_chain_and_cycle() {
    let (_tmp, versions) = project("'r49999'");
    std::fs::remove_file(versions.join("a1_base.py")).unwrap();
    write_chain(&versions, 50_000);

    let r = check(&versions, &["--no-cache"]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert_eq!(r.stdout.lines().count(), 1, "{}", r.stdout);
    assert_neighbour_reported(&r);

    let mut cmd = migverify();
    cmd.args(["graph"]).arg(&versions);
    let g = run(cmd);
    assert_eq!(g.code, Some(0), "{}", g.stderr);
    let graph: serde_json::Value = serde_json::from_str(&g.stdout).unwrap();
    assert_eq!(graph["revisions"].as_array().unwrap().len(), 50_001);

    // Close the chain: r00000 now comes after r49999.
    let first = versions.join("r00000.py");
    let text = std::fs::read_to_string(&first)
        .unwrap()
        .replace("down_revision = None", "down_revision = 'r49999'");
    std::fs::write(&first, text).unwrap();
    let start = Instant::now();
    let r = check(&versions, &["--no-cache"]);
    let elapsed = start.elapsed();
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    let cycle: Vec<&str> = r.stdout.lines().filter(|l| l.contains("MV008")).collect();
    assert_eq!(cycle.len(), 50_000);
    assert!(
        cycle[0].contains("a cycle of 50000 revisions: `r00000` → `r49999` →"),
        "{}",
        cycle[0]
    );
    assert!(
        cycle[0].len() < 1000,
        "the message lists the cycle's ends only"
    );
    assert_neighbour_reported(&r);
    assert!(elapsed < Duration::from_secs(120), "{elapsed:?}");
}

/// `migverify graph | head`: a reader that goes away is not a crash.
#[test]
fn graph_into_a_closed_pipe_is_not_a_panic() {
    let (_tmp, versions) = project("'r01999'");
    write_chain(&versions, 2_000);
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("migverify"))
        .args(["graph"])
        .arg(&versions)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

// ------------------------------------------------------------------ config abuse

fn with_config(config: &str) -> (TempDir, PathBuf) {
    let (tmp, versions) = project("'a1'");
    std::fs::write(
        tmp.path().join("migverify.toml"),
        format!("[migrations]\nversion_locations = [\"versions\"]\n\n{config}"),
    )
    .unwrap();
    (tmp, versions)
}

fn check_root(root: &Path, extra: &[&str]) -> Run {
    let mut cmd = migverify();
    cmd.args(["check", "--format", "concise", "--fail-on", "warning"])
        .args(extra)
        .current_dir(root);
    run(cmd)
}

#[test]
fn a_one_megabyte_rule_name_is_an_unknown_rule() {
    let huge = "A".repeat(1 << 20);
    let (tmp, _) = with_config(&format!("[rules]\nselect = [\"{huge}\"]\n"));
    let r = check_root(tmp.path(), &[]);
    assert_eq!(r.code, Some(2));
    assert!(r.stderr.contains("unknown rule"), "{}", &r.stderr[..200]);
    assert!(r.stdout.is_empty());
    // The name is cut in the message, not echoed in full.
    assert!(r.stderr.contains("AAA…"), "{}", &r.stderr[..200]);
    assert!(r.stderr.len() < 2_000, "{} bytes of stderr", r.stderr.len());

    // The same on the command line.
    let r = check_root(tmp.path(), &["--select", &huge[..100_000]]);
    assert_eq!(r.code, Some(2));
    assert!(r.stderr.contains("AAA…"), "{}", &r.stderr[..200]);
    assert!(r.stderr.len() < 2_000, "{} bytes of stderr", r.stderr.len());
}

#[test]
fn enormous_and_overflowing_timeouts() {
    // Valid, if silly: the run does not need the database to be slow to fail.
    let (tmp, _) = with_config(
        "[database]\nurl = \"postgresql://u@127.0.0.1:1/x\"\nconnect_timeout = \"99999999999h\"\n",
    );
    let r = check_root(tmp.path(), &[]);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("127.0.0.1:1"), "{}", r.stderr);

    // Past u64 seconds once multiplied: an error pointing at the value (was a panic).
    for value in [
        "18446744073709551615h",
        "5000000000000000000m",
        "99999999999999999999",
    ] {
        let (tmp, _) = with_config(&format!("[database]\nconnect_timeout = \"{value}\"\n"));
        let r = check_root(tmp.path(), &[]);
        assert_eq!(r.code, Some(2), "{value}: {}", r.stderr);
        assert!(
            r.stderr
                .contains(&format!("invalid `connect_timeout` `{value}`")),
            "{}",
            r.stderr
        );
    }
}

#[test]
fn deeply_nested_toml_is_a_config_error() {
    for nested in [
        format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)),
        format!("{}1{}", "{a=".repeat(100_000), "}".repeat(100_000)),
    ] {
        let (tmp, _) = with_config(&format!("[rules]\nselect = {nested}\n"));
        let r = check_root(tmp.path(), &[]);
        assert_eq!(r.code, Some(2));
        assert!(r.stderr.contains("invalid TOML"), "{}", &r.stderr[..300]);
        assert!(r.stderr.contains("migverify.toml:"), "names the file");
    }
}

#[test]
fn a_password_in_the_config_never_shows_in_a_config_error() {
    let (tmp, _) = with_config(
        "[database]\nurl = \"postgresql://app:Pl41nT3xtPw@127.0.0.1:1/x?password=Pl41nT3xtPw\"\nconnect_timeout = \"soon\"\n",
    );
    let r = check_root(tmp.path(), &[]);
    assert_eq!(r.code, Some(2));
    assert!(r.stderr.contains("connect_timeout"), "{}", r.stderr);
    assert!(r.stderr.contains("app:***********@"), "{}", r.stderr);
    assert!(!r.stderr.contains("Pl41nT3xtPw"), "{}", r.stderr);
}

// ------------------------------------------------------------------ --output abuse

#[test]
fn output_into_a_missing_directory_exits_2_and_creates_nothing() {
    let (tmp, versions) = project("'a1'");
    let target = tmp.path().join("no").join("such").join("report.json");
    let mut cmd = migverify();
    cmd.args(["check", "--format", "json", "-o"])
        .arg(&target)
        .arg(&versions);
    let r = run(cmd);
    assert_eq!(r.code, Some(2));
    assert!(r.stderr.contains("cannot write"), "{}", r.stderr);
    assert!(r.stderr.contains("report.json"), "{}", r.stderr);
    assert!(r.stdout.is_empty());
    assert!(!tmp.path().join("no").exists());
}

#[test]
fn output_onto_a_read_only_file_exits_2_and_leaves_it() {
    let (tmp, versions) = project("'a1'");
    let target = tmp.path().join("report.json");
    std::fs::write(&target, "previous report").unwrap();
    let mut perms = std::fs::metadata(&target).unwrap().permissions();
    perms.set_readonly(true);
    std::fs::set_permissions(&target, perms).unwrap();
    let mut cmd = migverify();
    cmd.args(["check", "--format", "json", "-o"])
        .arg(&target)
        .arg(&versions);
    let r = run(cmd);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("read-only"), "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "previous report");
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 2, "no temporary file left: {left:?}");
}

#[test]
fn output_onto_a_directory_exits_2() {
    let (tmp, versions) = project("'a1'");
    let mut cmd = migverify();
    cmd.args(["check", "-o"]).arg(tmp.path()).arg(&versions);
    let r = run(cmd);
    assert_eq!(r.code, Some(2));
    assert!(r.stderr.contains("cannot write"), "{}", r.stderr);
}

/// `-o /dev/stdout` and pipes are written to, not replaced by a file (as root, the
/// rename once replaced the device link).
#[cfg(unix)]
#[test]
fn output_into_a_named_pipe_writes_through_it() {
    use std::io::Read;
    use std::os::unix::fs::FileTypeExt;
    let (tmp, versions) = project("'a1'");
    let fifo = tmp.path().join("report.pipe");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut s = String::new();
            std::fs::File::open(&fifo)
                .unwrap()
                .read_to_string(&mut s)
                .unwrap();
            s
        })
    };
    let mut cmd = migverify();
    cmd.args(["check", "--format", "concise", "--fail-on", "warning", "-o"])
        .arg(&fifo)
        .arg(&versions)
        .timeout(Duration::from_secs(60));
    let r = run(cmd);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    let report = reader.join().unwrap();
    assert!(report.contains(NEIGHBOUR_FINDING), "{report}");
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
}

// ------------------------------------------------------------------ untrusted content

/// A pull request can commit a symlink named like a migration that points at a file
/// on the CI runner (a key, a token). Its lines would show in diagnostics and logs:
/// it is skipped with a warning instead, in every format.
#[cfg(unix)]
#[test]
fn a_symlink_out_of_the_project_is_not_read() {
    let (tmp, versions) = project("'a1'");
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("id_ed25519");
    std::fs::write(
        &secret,
        "-----BEGIN OPENSSH PRIVATE KEY-----\nS3CR3TKEYMATERIAL/+AAAA\n-----END OPENSSH PRIVATE KEY-----\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(&secret, versions.join("b1_leak.py")).unwrap();
    // A symlink inside the project is still followed.
    std::fs::create_dir(tmp.path().join("shared")).unwrap();
    std::fs::write(
        tmp.path().join("shared/c1.py"),
        generic("c1", "'n1'", "op.f()", "op.g()"),
    )
    .unwrap();
    std::os::unix::fs::symlink(tmp.path().join("shared/c1.py"), versions.join("c1.py")).unwrap();
    for format in ["concise", "human", "json", "sarif", "github"] {
        let r = check_as(&versions, format, &["--no-cache"]);
        assert_eq!(r.code, Some(1), "{format}: {}", r.stderr);
        for leaked in ["S3CR3TKEYMATERIAL", "OPENSSH"] {
            assert!(!r.stdout.contains(leaked), "{format}: {}", r.stdout);
            assert!(!r.stderr.contains(leaked), "{format}: {}", r.stderr);
        }
        assert!(
            r.stderr
                .contains("b1_leak.py: symlink to a file outside the project"),
            "{}",
            r.stderr
        );
        assert!(r.stdout.contains("n1_neighbour.py"), "{format}");
        if format == "concise" {
            assert_neighbour_reported(&r);
            // c1 (through the inner symlink) is the only head: no MV006.
            assert!(!r.stdout.contains("MV006"), "{}", r.stdout);
        }
    }
}

/// Migration and model files are parsed, never run: code that would leave a mark on
/// import, at upgrade or at class definition leaves none, whatever the command.
#[test]
fn migration_and_model_code_is_never_executed() {
    let (tmp, versions) = project("'a1'");
    let mark = tmp.path().join("EXECUTED");
    let payload = format!(
        "open({mark:?}, 'w').write('x'); __import__('os').system('touch {mark}')",
        mark = mark.display().to_string()
    );
    std::fs::write(
        versions.join("b1_evil.py"),
        format!(
            "{payload}\nrevision = 'b1'\ndown_revision = 'n1'\n\ndef upgrade():\n    {payload}\n    \
             op.create_table('evil')\n\ndef downgrade():\n    {payload}\n    op.drop_table('evil')\n"
        ),
    )
    .unwrap();
    std::fs::create_dir(tmp.path().join("models")).unwrap();
    std::fs::write(
        tmp.path().join("models/evil.py"),
        format!(
            "{payload}\nimport sqlalchemy as sa\nclass Evil(Base):\n    __tablename__ = 'evil'\n    \
             {payload}\n    id = sa.Column(sa.Integer, primary_key=True)\n"
        ),
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("migverify.toml"),
        "[migrations]\nversion_locations = [\"versions\"]\n\n[models]\npaths = [\"models/*.py\"]\n",
    )
    .unwrap();
    for args in [
        &["check", "--full"][..],
        &["check", "--check-schema", "--format", "json"][..],
        &["graph"][..],
    ] {
        let mut cmd = migverify();
        cmd.args(args).current_dir(tmp.path());
        let r = run(cmd);
        assert!(matches!(r.code, Some(0 | 1)), "{args:?}: {}", r.stderr);
    }
    assert!(
        !mark.exists(),
        "migverify ran code from a migration or model"
    );
}

/// Bad URLs and bad URL options: exit 2, the problem named, the password hidden.
#[test]
fn bad_database_urls_are_clear_errors() {
    let (_tmp, versions) = project("'a1'");
    for (url, expected) in [
        (
            "postgresql://u:Pw1Secret@127.0.0.1:1/db?sslmode=bogus",
            "unknown sslmode `bogus`",
        ),
        (
            "mysql://u:Pw1Secret@127.0.0.1:1/db?ssl-mode=bogus",
            "unknown ssl_mode `bogus`",
        ),
        (
            "postgresql://u:Pw1Secret@127.0.0.1:99999/db",
            "port `99999` is not a number",
        ),
        ("postgresql://u:Pw1Secret@[::1:5432/db", "unterminated `[`"),
        (
            "oracle://u:Pw1Secret@host/db",
            "unsupported database URL scheme",
        ),
        (
            "postgresql://u:Pw1Secret@/db?host=/nonexistent",
            "/nonexistent",
        ),
        // SQLAlchemy's reading: the password is `Pw1/Secret`, the port 1.
        (
            "postgresql://u:Pw1/Secret@127.0.0.1:1/db",
            "connection refused",
        ),
        (
            "postgresql://u:Pw1/Secret@127.0.0.1:99999/db",
            "invalid database URL",
        ),
        ("${MV_SURELY_UNSET_VARIABLE}", "MV_SURELY_UNSET_VARIABLE"),
    ] {
        let mut cmd = migverify();
        cmd.args(["check", "--database-url", url]).arg(&versions);
        let r = run(cmd);
        assert_eq!(r.code, Some(2), "{url}: {}", r.stderr);
        let flat: String = r
            .stderr
            .split_whitespace()
            .filter(|w| *w != "│")
            .collect::<Vec<_>>()
            .join(" ");
        assert!(flat.contains(expected), "{url}: {}", r.stderr);
        assert!(!r.stderr.contains("Secret"), "{url}: {}", r.stderr);
        assert!(r.stdout.is_empty());
    }
}

/// A finding far into a 10 MB line: miette (the human format) pads to the label's
/// column and panicked past 65,535. The snippet is left out; the place is named.
#[test]
fn a_finding_at_column_ten_million_in_every_format() {
    let (_tmp, versions) = project("'b1'");
    std::fs::write(
        versions.join("b1_long_line.py"),
        format!(
            "revision = 'b1'\ndown_revision = 'a1'\n\ndef upgrade():\n    op.execute('{}' +)\n\n\
             def downgrade():\n    op.execute('y')\n",
            "x".repeat(10_000_000)
        ),
    )
    .unwrap();
    for format in ["human", "concise", "json", "sarif", "github"] {
        let r = check_as(&versions, format, &["--no-cache"]);
        assert_eq!(r.code, Some(1), "{format}: {}", r.stderr);
        assert!(r.stdout.contains("n1_neighbour.py"), "{format}");
        assert!(
            r.stdout.len() < 100_000,
            "{format}: the 10 MB line is not printed"
        );
    }
    let mut cmd = migverify();
    cmd.args(["check", "--no-cache", "--format", "human"])
        .arg(&versions);
    let r = run(cmd);
    assert!(
        r.stdout.contains("b1_long_line.py:5:10000019")
            && r.stdout.contains("Python syntax error at 5:10000019"),
        "{}",
        r.stdout
    );
}

/// A TOML error past column 65,535 (the same miette limit, on the error path).
#[test]
fn a_config_error_at_column_seventy_thousand() {
    let (tmp, _) = with_config(&format!(
        "[rules]\nselect = [\"{}\" x]\n",
        "A".repeat(70_000)
    ));
    let r = check_root(tmp.path(), &[]);
    assert_eq!(r.code, Some(2));
    let flat: String = r.stderr.split_whitespace().filter(|w| *w != "│").collect();
    assert!(flat.contains("migverify.toml:5:70014"), "{}", r.stderr);
}

// ------------------------------------------------------------------ issue 20: aborts, quadratic paths, limits

/// `check` on the project root of `with_config`, killed after `secs` (a hang is a
/// failure, not a stuck test run).
fn check_root_within(root: &Path, extra: &[&str], secs: u64) -> (Run, Duration) {
    let mut cmd = migverify();
    cmd.args(["check", "--no-cache", "--fail-on", "warning"]);
    if !extra.contains(&"--format") {
        cmd.args(["--format", "concise"]);
    }
    cmd.args(extra)
        .current_dir(root)
        .timeout(Duration::from_secs(secs));
    let start = Instant::now();
    let r = run(cmd);
    (r, start.elapsed())
}

/// The MV009 lines of a concise report about `file`.
fn mv009_of<'a>(r: &'a Run, file: &str) -> Vec<&'a str> {
    r.stdout
        .lines()
        .filter(|l| l.contains(file) && l.contains("MV009"))
        .collect()
}

/// 600 nested `if` blocks (188 KB): tree-sitter-python's scanner asserted
/// (`length <= 1024`) and aborted the process. CPython refuses the 100th level.
#[test]
fn six_hundred_nested_blocks_are_mv009_not_an_abort() {
    let (tmp, versions) = with_config("");
    let mut text = String::from("revision = 'b1'\ndown_revision = 'a1'\n\ndef upgrade():\n");
    for level in 1..=600 {
        text.push_str(&"    ".repeat(level));
        text.push_str("if x == \"t\":\n");
    }
    text.push_str(&"    ".repeat(601));
    text.push_str("pass\n\ndef downgrade():\n    op.execute('x')\n");
    assert!(text.len() > 180_000);
    std::fs::write(versions.join("b1_deep.py"), &text).unwrap();
    // 99 levels are Python: no finding.
    let mut ok = String::from("revision = 'c1'\ndown_revision = 'n1'\n\ndef upgrade():\n");
    for level in 1..99 {
        ok.push_str(&" ".repeat(level));
        ok.push_str("if x:\n");
    }
    ok.push_str(&" ".repeat(99));
    ok.push_str("op.execute('y')\n\ndef downgrade():\n    op.execute('x')\n");
    std::fs::write(versions.join("c1_ok.py"), &ok).unwrap();
    let (r, took) = check_root_within(tmp.path(), &[], 60);
    assert!(took < Duration::from_secs(30), "{took:?}");
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    // The 100th level is line 4 + 100 of the file: CPython's line, column 1.
    assert_eq!(
        mv009_of(&r, "b1_deep.py"),
        [
            "versions/b1_deep.py:104:1: MV009 [error] Python syntax error at 104:1: too many levels of indentation (IndentationError)"
        ],
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("c1_ok.py"), "{}", r.stdout);
    assert_neighbour_reported(&r);
}

/// The same nesting in a model file and through `migverify tree`: refused before
/// the parser, never an abort.
#[test]
fn six_hundred_nested_blocks_in_a_model_file_and_tree() {
    let (tmp, _) = with_config("[models]\npaths = [\"models.py\"]\n");
    let mut text = String::from("import sqlalchemy as sa\n\ndef f():\n");
    for level in 1..=600 {
        text.push_str(&"    ".repeat(level));
        text.push_str("if x:\n");
    }
    text.push_str(&"    ".repeat(601));
    text.push_str("pass\n");
    std::fs::write(tmp.path().join("models.py"), &text).unwrap();
    let (r, _) = check_root_within(tmp.path(), &["--select", "MV203"], 60);
    assert!(r.code.is_some_and(|c| c <= 2), "{}", r.stderr);
    let mut cmd = migverify();
    cmd.arg("tree").arg(tmp.path().join("models.py"));
    let r = run(cmd);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "(not parsed: Python syntax error at line 103: too many levels of indentation (IndentationError))\n"
    );
}

/// 8,000 parentheses around a `revision` value overflowed the stack in
/// `string_literal`. CPython refuses the 201st open bracket.
#[test]
fn eight_thousand_parentheses_around_a_revision() {
    let (tmp, versions) = with_config("");
    let depth = 8000;
    let text = format!(
        "revision = {}'b1'{}\ndown_revision = 'a1'\n\ndef upgrade():\n    op.execute('x')\n\ndef downgrade():\n    op.execute('y')\n",
        "(".repeat(depth),
        ")".repeat(depth)
    );
    std::fs::write(versions.join("b1_parens.py"), &text).unwrap();
    let (r, _) = check_root_within(tmp.path(), &[], 60);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert_eq!(
        mv009_of(&r, "b1_parens.py"),
        [
            "versions/b1_parens.py:1:212: MV009 [error] Python syntax error at 1:212: too many nested parentheses"
        ],
        "{}",
        r.stdout
    );
    assert_neighbour_reported(&r);
}

/// A glob of 90,000 `*` panicked in globset (exit 101): a config error naming the key.
#[test]
fn a_glob_of_ninety_thousand_stars_is_a_config_error() {
    let stars = "*".repeat(90_000);
    for (config, key) in [
        (format!("exclude = [\"{stars}\"]\n"), "`exclude`"),
        (
            format!("\n[per-file-ignores]\n\"{stars}\" = [\"MV003\"]\n"),
            "`per-file-ignores`",
        ),
        (format!("\n[models]\npaths = [\"{stars}\"]\n"), "`paths`"),
        (format!("\n[rules]\ndirs = [\"{stars}\"]\n"), "`rules.dirs`"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("versions")).unwrap();
        std::fs::write(
            tmp.path().join("migverify.toml"),
            format!("[migrations]\nversion_locations = [\"versions\"]\n{config}"),
        )
        .unwrap();
        let (r, _) = check_root_within(tmp.path(), &[], 60);
        assert_eq!(r.code, Some(2), "{key}: {}", r.stderr);
        // miette wraps the message: compare its words.
        let words: Vec<&str> = r.stderr.split_whitespace().filter(|w| *w != "│").collect();
        let words = words.join(" ");
        assert!(
            words.contains(&format!(
                "invalid glob in {key}: the pattern is 90000 bytes long, over the limit of 1024"
            )),
            "{key}: {}",
            &words[..words.len().min(2000)]
        );
    }
}

/// A custom query with 10,000 nested parentheses compiled, then overflowed a
/// worker's stack: refused when the rule is loaded.
#[test]
fn a_query_nested_ten_thousand_deep_is_refused_at_load() {
    let depth = 10_000;
    let query = format!(
        "{}(identifier) @id{}",
        "(call ".repeat(depth),
        ")".repeat(depth)
    );
    let (tmp, _) = with_config(&format!(
        "[[rules.custom]]\ncode = \"TEAM001\"\nname = \"deep\"\nmessage = \"deep\"\nquery = '{query}'\n"
    ));
    let (r, _) = check_root_within(tmp.path(), &["--extend-select", "TEAM001"], 60);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("the query of rule TEAM001 nests more than 100 levels"),
        "{}",
        &r.stderr[..r.stderr.len().min(2000)]
    );
}

/// Files read whole must be regular files: `/dev/zero` was read until the OOM
/// killer, a named pipe blocked forever.
#[cfg(unix)]
#[test]
fn devices_and_pipes_are_never_read_whole() {
    // `[database] snapshot` naming /dev/zero, and a committed symlink to it.
    for snapshot in ["/dev/zero", "zero.json"] {
        let (tmp, _) = with_config(&format!("[database]\nsnapshot = \"{snapshot}\"\n"));
        std::os::unix::fs::symlink("/dev/zero", tmp.path().join("zero.json")).unwrap();
        let (r, took) = check_root_within(tmp.path(), &[], 60);
        assert!(took < Duration::from_secs(30));
        assert_eq!(r.code, Some(2), "{}", r.stderr);
        assert!(r.stderr.contains("a character device"), "{}", r.stderr);
    }
    // `--config` naming /dev/zero or a named pipe.
    let (tmp, _) = with_config("");
    let fifo = tmp.path().join("fifo.toml");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    for (config, what) in [
        ("/dev/zero", "a character device"),
        ("fifo.toml", "a named pipe"),
    ] {
        let (r, took) = check_root_within(tmp.path(), &["--config", config], 60);
        assert!(took < Duration::from_secs(30));
        assert_eq!(r.code, Some(2), "{}", r.stderr);
        assert!(r.stderr.contains(what), "{config}: {}", r.stderr);
    }
    // alembic.ini as a symlink to /dev/zero is not a config file: not read.
    let (_tmp, versions) = project("'a1'");
    let root = versions.parent().unwrap();
    std::os::unix::fs::symlink("/dev/zero", root.join("alembic.ini")).unwrap();
    let (r, took) = check_root_within(root, &[], 60);
    assert!(took < Duration::from_secs(30));
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("no migrations found"), "{}", r.stderr);
}

/// 60,000 comment-only lines at the end of a block: tree-sitter-python's scanner
/// is quadratic there (minutes). Suppressions among them still count.
#[test]
fn sixty_thousand_comment_lines_at_the_end_of_a_block() {
    let (tmp, versions) = with_config("");
    let mut text = String::from(
        "revision = 'b1'\ndown_revision = 'n1'\n\ndef upgrade():\n    op.execute('x')\n",
    );
    for i in 0..60_000 {
        if i == 30_000 {
            text.push_str("    # migverify: ignore-file[MV003]\n");
        } else {
            text.push_str("    # a comment\n");
        }
    }
    text.push_str("\ndef downgrade():\n    pass\n");
    std::fs::write(versions.join("b1_comments.py"), &text).unwrap();
    let (r, took) = check_root_within(tmp.path(), &[], 120);
    assert!(took < Duration::from_secs(30), "{took:?}");
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    // No MV009, and the ignore-file in the middle of the run silences MV003.
    assert!(!r.stdout.contains("b1_comments.py"), "{}", r.stdout);
    assert_neighbour_reported(&r);
}

/// MV007's "did you mean" compared two 1 MB ids for over a minute.
#[test]
fn a_dangling_one_megabyte_id_gets_a_fast_answer() {
    let (tmp, versions) = with_config("");
    let long = "a".repeat(1 << 20);
    let near = format!("{}b", &long[..long.len() - 1]);
    std::fs::write(
        versions.join("b1_long.py"),
        generic(&long, "'a1'", "op.execute('x')", "op.execute('y')"),
    )
    .unwrap();
    std::fs::write(
        versions.join("c1_near.py"),
        generic(
            "c1",
            &format!("'{near}'"),
            "op.execute('x')",
            "op.execute('y')",
        ),
    )
    .unwrap();
    let (r, took) = check_root_within(tmp.path(), &[], 120);
    assert!(took < Duration::from_secs(30), "{took:?}");
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(
        r.stdout.contains("c1_near.py:6:17: MV007"),
        "{}",
        &r.stdout[..2000.min(r.stdout.len())]
    );
}

/// A query rule over 60,000 nested calls took minutes; CPython refuses the file
/// (more than 200 nested brackets), and so does migverify, before parsing.
#[test]
fn query_rules_over_sixty_thousand_nested_calls() {
    let (tmp, versions) = with_config(
        "[[rules.custom]]\ncode = \"TEAM001\"\nname = \"calls\"\nmessage = \"a call\"\nquery = '(call) @c'\n",
    );
    let depth = 60_000;
    std::fs::write(
        versions.join("b1_calls.py"),
        generic(
            "b1",
            "'a1'",
            &format!("op.execute({}1{})", "f(".repeat(depth), ")".repeat(depth)),
            "op.execute('y')",
        ),
    )
    .unwrap();
    // 60,000 chained calls nest as deep with no bracket open: the query cursor's
    // work grows with the square of the depth.
    std::fs::write(
        versions.join("c1_chain.py"),
        generic(
            "c1",
            "'b1'",
            &format!("op.execute(x{})", ".f()".repeat(depth)),
            "op.execute('y')",
        ),
    )
    .unwrap();
    let (r, took) = check_root_within(tmp.path(), &["--extend-select", "TEAM001"], 120);
    assert!(took < Duration::from_secs(30), "{took:?}");
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert_eq!(
        mv009_of(&r, "c1_chain.py"),
        [
            "versions/c1_chain.py:1:1: MV009 [error] nested more than 10000 levels deep (at line 10): too deep for the query rules, and deeper than CPython compiles (\"maximum recursion depth exceeded during compilation\")"
        ],
        "{}",
        r.stdout
    );
    assert_eq!(mv009_of(&r, "b1_calls.py").len(), 1, "{}", r.stdout);
    assert!(
        mv009_of(&r, "b1_calls.py")[0].ends_with("too many nested parentheses"),
        "{}",
        r.stdout
    );
    // The query rule still runs on the other files.
    assert!(
        r.stdout.contains("n1_neighbour.py:10:5: TEAM001"),
        "{}",
        r.stdout
    );
}

/// 60,000 findings in one file: the human format was quadratic (miette searched
/// the file from its start for each snippet), and so was matching them against
/// 30,000 suppressions.
#[test]
fn sixty_thousand_findings_in_one_file_in_human_format() {
    let (tmp, versions) = with_config(
        "[[rules.custom]]\ncode = \"TEAM001\"\nname = \"calls\"\nmessage = \"a call\"\nquery = '(call) @c'\n",
    );
    let mut body = String::new();
    for i in 0..90_000 {
        if i % 3 == 0 {
            body.push_str("op.execute('x')  # migverify: ignore[TEAM001]\n    ");
        } else {
            body.push_str("op.execute('x')\n    ");
        }
    }
    std::fs::write(
        versions.join("b1_many.py"),
        generic("b1", "'a1'", &body, "op.execute('y')"),
    )
    .unwrap();
    let (r, took) = check_root_within(
        tmp.path(),
        &["--extend-select", "TEAM001", "--format", "human"],
        240,
    );
    assert!(took < Duration::from_secs(60), "{took:?}");
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    let findings = r.stdout.matches("TEAM001 calls [warning]").count();
    // The file's 60,000 unsuppressed calls and its downgrade's, the base's four
    // calls and the neighbour's three.
    assert_eq!(
        findings,
        60_000 + 1 + 4 + 3,
        "{}",
        &r.stdout[r.stdout.len() - 500..]
    );
}

/// A migration larger than `[migrations] max_file_size` is MV009 "too large",
/// without being read; the key is checked.
#[test]
fn a_migration_over_the_size_limit_is_mv009_too_large() {
    let (tmp, versions) = with_config("max_file_size = \"1MB\"\n");
    let big = generic(
        "b1",
        "'a1'",
        &format!("op.execute('{}')", "x".repeat(1_000_000)),
        "op.execute('y')",
    );
    std::fs::write(versions.join("b1_big.py"), &big).unwrap();
    let (r, _) = check_root_within(tmp.path(), &[], 60);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    let mv009 = mv009_of(&r, "b1_big.py");
    assert_eq!(mv009.len(), 1, "{}", r.stdout);
    assert!(
        mv009[0].ends_with(
            "cannot read the file: too large: it is 976 KiB, over the limit of 976 KiB for a migration file (`[migrations] max_file_size`)"
        ) || mv009[0].contains("too large: it is"),
        "{}",
        mv009[0]
    );
    assert!(mv009[0].contains("max_file_size"), "{}", mv009[0]);
    assert_neighbour_reported(&r);

    let (tmp, _) = with_config("max_file_size = \"lots\"\n");
    let (r, _) = check_root_within(tmp.path(), &[], 60);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(
        r.stderr.contains("invalid `max_file_size` `lots`"),
        "{}",
        r.stderr
    );
}

/// CR-only line endings (classic Mac): Python reads them as line breaks (universal
/// newlines) and Alembic loads such files; migverify reported MV009 and a false
/// MV007.
#[test]
fn carriage_return_line_endings_are_line_breaks() {
    let (tmp, versions) = with_config("");
    let text = generic("b1", "'n1'", "op.execute('x')", "pass").replace('\n', "\r");
    std::fs::write(versions.join("b1_cr.py"), text).unwrap();
    let (r, _) = check_root_within(tmp.path(), &[], 60);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    let b1: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| l.contains("b1_cr.py"))
        .collect();
    // Its only finding is the empty downgrade, on line 13 as an editor shows it.
    assert_eq!(b1.len(), 1, "{}", r.stdout);
    assert!(b1[0].contains("b1_cr.py:13:5: MV003"), "{}", r.stdout);
    assert_neighbour_reported(&r);
}

/// `"s\ud800x"` (a lone surrogate) and `"s\\ud800x"` (a backslash) are different
/// strings in Python: two revisions, not one duplicated.
#[test]
fn a_surrogate_escape_and_an_escaped_backslash_are_different_ids() {
    let (tmp, versions) = with_config("");
    std::fs::write(
        versions.join("b1_surrogate.py"),
        generic(r"s\ud800x", "'n1'", "op.execute('x')", "op.execute('y')"),
    )
    .unwrap();
    std::fs::write(
        versions.join("c1_backslash.py"),
        generic(
            r"s\\ud800x",
            r"'s\ud800x'",
            "op.execute('x')",
            "op.execute('y')",
        ),
    )
    .unwrap();
    let (r, _) = check_root_within(tmp.path(), &[], 60);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(!r.stdout.contains("MV001"), "{}", r.stdout);
    assert!(!r.stdout.contains("MV007"), "{}", r.stdout);
    assert!(!r.stdout.contains("MV006"), "{}", r.stdout);
    assert_neighbour_reported(&r);
}
