//! Hostile inputs, round two (issue 20): leaks, writes through symlinks, planted
//! caches, silent write errors, control characters, odd paths and URLs. Each test
//! failed before its fix. Like `tests/hostile.rs`, every input is generated here in
//! a temp dir, next to a normal migration with a known finding (MV003 on
//! `n1_neighbour.py`).

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use tempfile::TempDir;

mod common;

fn migverify() -> Command {
    let mut cmd = Command::cargo_bin("migverify").expect("migverify binary");
    cmd.env("NO_COLOR", "1")
        .env_remove("MIGVERIFY_DATABASE_URL")
        .timeout(Duration::from_secs(120));
    cmd
}

fn generic(rev: &str, down: &str, upgrade: &str, downgrade: &str) -> String {
    format!(
        "\"\"\"{rev}\"\"\"\nfrom alembic import op\nimport sqlalchemy as sa\n\n\
         revision = '{rev}'\ndown_revision = {down}\n\n\n\
         def upgrade():\n    {upgrade}\n\n\ndef downgrade():\n    {downgrade}\n"
    )
}

const NEIGHBOUR_FINDING: &str = "n1_neighbour.py:13:5: MV003";

/// A project root with `migverify.toml` (`config` appended), `versions/` holding
/// the base `a1` and the neighbour `n1` (MV003).
fn project(config: &str) -> (TempDir, PathBuf) {
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
            "'a1'",
            "op.add_column('t', sa.Column('x', sa.Integer()))",
            "pass",
        ),
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("migverify.toml"),
        format!("[migrations]\nversion_locations = [\"versions\"]\n\n{config}"),
    )
    .unwrap();
    (tmp, versions)
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn finish(out: Output) -> Run {
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

fn run(mut cmd: Command) -> Run {
    finish(cmd.output().unwrap())
}

/// `check --format <format> --fail-on warning` in `root`.
fn check_in(root: &Path, format: &str, extra: &[&str]) -> Run {
    let mut cmd = migverify();
    cmd.args(["check", "--format", format, "--fail-on", "warning"])
        .args(extra)
        .current_dir(root);
    run(cmd)
}

fn all_files(dir: &Path) -> Vec<PathBuf> {
    walk(dir, &mut Vec::new())
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Vec<PathBuf> {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            out.push(p.clone());
            if e.file_type().unwrap().is_dir() {
                walk(&p, out);
            }
        }
    }
    out.clone()
}

// ------------------------------------------------------------------ leaks

/// Item 1: `[rules] dirs` naming a file outside the project (the runner's
/// environment, a key next to the checkout, a symlink committed in the project)
/// is refused, and the error never shows the file's content.
#[cfg(unix)]
#[test]
fn rule_files_outside_the_project_are_refused_without_their_content() {
    let outside = tempfile::tempdir().unwrap();
    let secret_dir = outside.path().join("keys");
    std::fs::create_dir(&secret_dir).unwrap();
    // Not TOML: the parse error would quote it.
    std::fs::write(
        secret_dir.join("id.toml"),
        "-----BEGIN PRIVATE KEY-----\nS3CR3TKEYMATERIAL\n",
    )
    .unwrap();
    let secret_file = secret_dir.join("id.toml");
    let (tmp, _) = project("");
    let root = tmp.path();
    std::fs::create_dir(root.join("team_rules")).unwrap();
    std::os::unix::fs::symlink(&secret_file, root.join("team_rules/MV900-leak.toml")).unwrap();
    std::os::unix::fs::symlink(&secret_dir, root.join("linked_rules")).unwrap();
    let relative_up = pathdiff(&secret_dir, root);
    for dirs in [
        "/proc/self/environ".to_string(),
        secret_file.display().to_string(),
        secret_dir.display().to_string(),
        relative_up,
        "team_rules".to_string(),
        "team_*".to_string(),
        "linked_rules".to_string(),
        "/".to_string(),
    ] {
        std::fs::write(
            root.join("migverify.toml"),
            format!(
                "[migrations]\nversion_locations = [\"versions\"]\n\n[rules]\ndirs = [\"{dirs}\"]\n"
            ),
        )
        .unwrap();
        for args in [&["check"][..], &["rules"][..]] {
            let mut cmd = migverify();
            cmd.args(args)
                .current_dir(root)
                .env("MV_RUNNER_TOKEN", "T0KENVALUEFROMENV");
            let r = run(cmd);
            assert_eq!(
                r.code,
                Some(2),
                "{dirs} {args:?}: {}\n{}",
                r.stdout,
                r.stderr
            );
            for leaked in ["S3CR3TKEYMATERIAL", "PRIVATE KEY", "T0KENVALUEFROMENV"] {
                assert!(!r.stderr.contains(leaked), "{dirs}: {}", r.stderr);
                assert!(!r.stdout.contains(leaked), "{dirs}: {}", r.stdout);
            }
            assert!(
                r.stderr.contains("outside the project"),
                "{dirs}: {}",
                r.stderr
            );
        }
    }
}

/// `a` relative to `base`, with `..` (both absolute).
fn pathdiff(a: &Path, base: &Path) -> String {
    let a: Vec<_> = a.components().collect();
    let b: Vec<_> = base.components().collect();
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out = PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in &a[common..] {
        out.push(c);
    }
    out.display().to_string()
}

/// Item 2: a value interpolated into `sqlalchemy.url` (`%(db_password)s`) is
/// masked wherever `alembic.ini` is shown: a config error's snippet, and a
/// database finding located on the URL line.
#[test]
fn values_interpolated_into_the_alembic_ini_url_are_masked() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::create_dir_all(root.join("alembic/versions")).unwrap();
    std::fs::write(
        root.join("alembic/versions/a1_base.py"),
        generic("a1", "None", "op.f()", "op.g()"),
    )
    .unwrap();
    // The error is on the line after the secret: the snippet shows it as context.
    let ini = "[alembic]\nscript_location = alembic\ndb_user = app\n\
               sqlalchemy.url = postgresql://%(db_user)s:%(db_password)s@%(secret_host)s:1/app\n\
               secret_host = db.internal\ndb_password = Hunter2Secret\n\
               version_locations = %(nope)s\n";
    std::fs::write(root.join("alembic.ini"), ini).unwrap();
    let mut cmd = migverify();
    cmd.args(["check"]).current_dir(root);
    let r = run(cmd);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("nope"), "{}", r.stderr);
    assert!(!r.stderr.contains("Hunter2Secret"), "{}", r.stderr);
    assert!(r.stderr.contains("db_password ="), "{}", r.stderr);
}

/// Item 2 on the database path: MV103 (no version table) points at the
/// `sqlalchemy.url` line of `alembic.ini`; the lines of the values interpolated
/// into it are masked in every format.
#[test]
fn values_interpolated_into_the_alembic_ini_url_are_masked_in_database_findings() {
    use common::server_db::{Server, ServerDb};
    let Some(db) = ServerDb::create(Server::Postgres, "mv_ini_secret") else {
        return;
    };
    let url = db.url();
    let (_, rest) = url.split_once("://").unwrap();
    let (auth, host_db) = rest.rsplit_once('@').unwrap();
    let user = auth.split(':').next().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::create_dir_all(root.join("alembic/versions")).unwrap();
    std::fs::write(
        root.join("alembic/versions/a1_base.py"),
        generic("a1", "None", "op.f()", "op.g()"),
    )
    .unwrap();
    // trust authentication: the password is not checked, only shown (or not).
    std::fs::write(
        root.join("alembic.ini"),
        format!(
            "[alembic]\nscript_location = alembic\ndb_user = {user}\n\
             db_password = Hunter2Secret\n\
             sqlalchemy.url = postgresql://%(db_user)s:%(db_password)s@{host_db}\n\
             other = shown\n"
        ),
    )
    .unwrap();
    for format in ["human", "concise", "json", "sarif", "github"] {
        let r = check_in(root, format, &["--no-cache"]);
        assert_eq!(r.code, Some(1), "{format}: {}\n{}", r.stdout, r.stderr);
        assert!(r.stdout.contains("MV103"), "{format}: {}", r.stdout);
        assert!(
            !r.stdout.contains("Hunter2Secret"),
            "{format}: {}",
            r.stdout
        );
        assert!(
            !r.stderr.contains("Hunter2Secret"),
            "{format}: {}",
            r.stderr
        );
        if format == "human" {
            assert!(
                r.stdout.contains("db_password = *************"),
                "{}",
                r.stdout
            );
        }
    }
}

// ------------------------------------------------------------------ writes and trust

fn cache_root(root: &Path) -> PathBuf {
    root.join(".migverify_cache")
}

/// Item 14: a committed `.migverify_cache` symlink, or symlinks inside a real cache
/// directory, are never written through: nothing appears at their targets.
#[cfg(unix)]
#[test]
fn the_cache_never_writes_through_a_symlink() {
    let version = env!("CARGO_PKG_VERSION");
    // The cache directory itself is a symlink.
    let (tmp, _) = project("");
    let elsewhere = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), cache_root(tmp.path())).unwrap();
    let r = check_in(tmp.path(), "concise", &[]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(r.stdout.contains(NEIGHBOUR_FINDING), "{}", r.stdout);
    assert!(
        all_files(elsewhere.path()).is_empty(),
        "written through the symlink: {:?}",
        all_files(elsewhere.path())
    );

    // A real cache directory whose `.gitignore` and version directory are
    // (dangling) symlinks.
    let (tmp, _) = project("");
    let cache = cache_root(tmp.path());
    std::fs::create_dir(&cache).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(elsewhere.path().join("created"), cache.join(".gitignore")).unwrap();
    std::os::unix::fs::symlink(elsewhere.path().join("vdir"), cache.join(version)).unwrap();
    std::fs::create_dir(elsewhere.path().join("vdir")).unwrap();
    let r = check_in(tmp.path(), "concise", &[]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(r.stdout.contains(NEIGHBOUR_FINDING));
    assert!(
        all_files(elsewhere.path()) == vec![elsewhere.path().join("vdir")],
        "written through a symlink: {:?}",
        all_files(elsewhere.path())
    );

    // A cache file that is a dangling symlink: replaced by a rename, never followed.
    let (tmp, _) = project("");
    let r = check_in(tmp.path(), "concise", &[]);
    assert_eq!(r.code, Some(1));
    let file = cache_files(tmp.path()).pop().expect("a cache file");
    std::fs::remove_file(&file).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(elsewhere.path().join("target.bin"), &file).unwrap();
    let r = check_in(tmp.path(), "concise", &[]);
    assert_eq!(r.code, Some(1));
    assert!(all_files(elsewhere.path()).is_empty());
}

fn cache_files(root: &Path) -> Vec<PathBuf> {
    all_files(&cache_root(root))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
        .collect()
}

/// Item 15: a cache file crafted on another machine (an entry with the content
/// hash of the file in the repository and the extraction of another file) is
/// ignored: the verdict is the one without a cache. The same forgery made with
/// the machine's own key (the positive control) would be trusted, which shows the
/// forgery itself is well formed.
#[test]
fn a_planted_cache_cannot_change_a_verdict() {
    use migverify::cache::{self, Cache, OpsBlob, Stored};
    let (tmp, versions) = project("");
    let root = tmp.path();
    let victim_home = tempfile::tempdir().unwrap();
    let attacker_home = tempfile::tempdir().unwrap();
    let target = versions.join("n1_neighbour.py");
    let malicious = generic("n1", "'a1'", "op.drop_table('accounts')", "pass")
        .replace("def downgrade():\n    pass\n", "");
    // What the attacker wants the cache to say: the file has a fine downgrade.
    let benign = generic("n1", "'a1'", "op.f()", "op.drop_table('x')");
    std::fs::write(&target, &malicious).unwrap();

    let as_home = |home: &Path| {
        let mut cmd = migverify();
        cmd.args(["check", "--format", "concise", "--select", "MV002"])
            .current_dir(root)
            .env("HOME", home)
            .env("XDG_CACHE_HOME", home.join(".cache"));
        run(cmd)
    };
    // The attacker's run makes the cache file and the attacker's key.
    let r = as_home(attacker_home.path());
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(r.stdout.contains("MV002"), "{}", r.stdout);

    let forge = |secret_home: &Path| {
        let key = cache::load_secret(&secret_home.join(".cache"));
        let project = migverify::project::discover(
            &[],
            Some(&root.join("migverify.toml")),
            &Default::default(),
            &migverify::rules::Registry::builtin(),
        )
        .unwrap();
        let dir = cache_root(root);
        let c = Cache::open_keyed(
            &dir,
            &project.root,
            &project.version_locations,
            0,
            key,
            false,
        );
        assert!(
            !c.is_empty(),
            "the attacker's cache is read with the attacker's key"
        );
        let forged =
            migverify::migration::parse_source(target.clone(), benign.clone().into_bytes());
        let mut entries = Vec::new();
        for (i, path) in project.files.iter().enumerate() {
            let at = c.lookup(path, i).unwrap();
            let mut s = c.stored(at, None);
            if *path == std::fs::canonicalize(&target).unwrap() || path.ends_with("n1_neighbour.py")
            {
                s.hash = xxhash_rust::xxh3::xxh3_128(malicious.as_bytes());
                s.stat = Default::default();
                s.core = cache::encode_core(&forged).into();
                s.ops = OpsBlob::Missing;
            }
            entries.push(Stored { ..s });
        }
        c.store(&entries, true);
    };
    forge(attacker_home.path());
    // On the attacker's machine the forgery is trusted (the positive control)...
    let r = as_home(attacker_home.path());
    assert_eq!(r.code, Some(0), "the forgery is well formed: {}", r.stdout);
    // ...on the victim's, whose key differs, the planted file is ignored.
    let r = as_home(victim_home.path());
    assert_eq!(r.code, Some(1), "a planted cache hid MV002: {}", r.stdout);
    assert!(r.stdout.contains("MV002"), "{}", r.stdout);
    // And rewritten: the victim's next run trusts its own cache.
    let r = as_home(victim_home.path());
    assert_eq!(r.code, Some(1), "{}", r.stdout);
}

/// Item 16: a failed write on standard output (`> /dev/full`) is exit 2 with a
/// message, for every command that prints.
#[cfg(target_os = "linux")]
#[test]
fn a_failed_write_to_stdout_is_exit_2() {
    let (tmp, _) = project("");
    for args in [
        &["check", "--format", "sarif"][..],
        &["check", "--format", "human"][..],
        &["check", "--format", "concise"][..],
        &["graph"][..],
        &["graph", "--format", "json"][..],
        &["rules"][..],
        &["rules", "--json"][..],
        &["explain", "MV001"][..],
        &["tree", "versions/a1_base.py"][..],
        &["completions", "bash"][..],
    ] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("migverify"))
            .args(args)
            .current_dir(tmp.path())
            .env("NO_COLOR", "1")
            .stdout(full)
            .output()
            .unwrap();
        let r = finish(out);
        assert_eq!(r.code, Some(2), "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("standard output"),
            "{args:?}: {}",
            r.stderr
        );
    }
}

/// Item 17: control characters from file content or names never reach the output
/// raw: no injected GitHub workflow command (a line starting `::`), no ESC.
#[cfg(unix)]
#[test]
fn control_characters_are_escaped_in_every_format() {
    use std::os::unix::ffi::OsStrExt;
    let (tmp, versions) = project("");
    // A `\n` in a revision id and an ESC sequence in a message.
    std::fs::write(
        versions.join("b1_inject.py"),
        generic(
            "b1",
            "'zz\\n::error file=x.py,line=1::INJECTED\\x1b]0;pwned\\x07\\x1b[2J\\r\\x9b'",
            "op.f()",
            "op.g()",
        ),
    )
    .unwrap();
    // The same in a file name.
    let name = std::ffi::OsStr::from_bytes(b"c1_\n::warning::NAMED\x1b[2J.py");
    std::fs::write(versions.join(name), generic("c1", "'n1'", "op.f()", "pass")).unwrap();
    for format in ["human", "concise", "json", "sarif", "github"] {
        let r = check_in(tmp.path(), format, &["--no-cache"]);
        assert_eq!(r.code, Some(1), "{format}: {}", r.stderr);
        for (i, line) in r.stdout.lines().enumerate() {
            if format == "github" {
                assert!(
                    line.starts_with("::error ") || line.starts_with("::warning "),
                    "{format} line {i}: {line:?}"
                );
            } else {
                assert!(!line.trim_start().starts_with("::"), "{format}: {line:?}");
            }
        }
        for bad in ['\u{1b}', '\u{7}', '\u{9b}', '\r'] {
            assert!(
                !r.stdout.contains(bad),
                "{format}: {bad:?} in {:?}",
                r.stdout
            );
            assert!(
                !r.stderr.contains(bad),
                "{format}: {bad:?} in {:?}",
                r.stderr
            );
        }
        assert!(r.stdout.contains("INJECTED"), "{format}: {}", r.stdout);
        assert!(r.stdout.contains("NAMED"), "{format}: {}", r.stdout);
    }
    // `graph`: a revision id with a line break and ESC in each format.
    std::fs::write(
        versions.join("d1_graph.py"),
        generic(
            "d1\\n::error::GRAPHED\\x1b[2J\\x9b",
            "'n1'",
            "op.f()",
            "op.g()",
        ),
    )
    .unwrap();
    for format in ["json", "dot", "mermaid"] {
        let mut cmd = migverify();
        cmd.args(["graph", "--format", format])
            .current_dir(tmp.path());
        let r = run(cmd);
        assert_eq!(r.code, Some(0), "{format}: {}", r.stderr);
        assert!(r.stdout.contains("GRAPHED"), "{format}: {}", r.stdout);
        for line in r.stdout.lines() {
            assert!(!line.trim_start().starts_with("::"), "{format}: {line:?}");
        }
        for bad in ['\u{1b}', '\u{9b}'] {
            assert!(
                !r.stdout.contains(bad),
                "{format}: {bad:?} in {:?}",
                r.stdout
            );
        }
    }
}

/// Item 18: a cache file that is a named pipe does not block the run.
#[cfg(unix)]
#[test]
fn a_cache_file_that_is_a_fifo_does_not_block() {
    let (tmp, _) = project("");
    let r = check_in(tmp.path(), "concise", &[]);
    assert_eq!(r.code, Some(1));
    let file = cache_files(tmp.path()).pop().expect("a cache file");
    std::fs::remove_file(&file).unwrap();
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&file)
            .status()
            .unwrap()
            .success()
    );
    let start = Instant::now();
    let mut cmd = migverify();
    cmd.args(["check", "--format", "concise", "--fail-on", "warning"])
        .current_dir(tmp.path())
        .timeout(Duration::from_secs(20));
    let r = run(cmd);
    assert!(start.elapsed() < Duration::from_secs(15));
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(r.stdout.contains(NEIGHBOUR_FINDING));
}

/// Item 18: temporary files an interrupted run left in the cache directory are
/// removed by a later run; SIGINT during a run leaves none behind.
#[cfg(unix)]
#[test]
fn interrupted_writes_leave_no_temporary_files() {
    let (tmp, versions) = project("");
    let r = check_in(tmp.path(), "concise", &[]);
    assert_eq!(r.code, Some(1));
    let file = cache_files(tmp.path()).pop().expect("a cache file");
    let leftover = file.with_file_name(".tmpAbC123");
    std::fs::write(&leftover, "half a cache file").unwrap();
    let old = std::process::Command::new("touch")
        .args(["-d", "2 hours ago"])
        .arg(&leftover)
        .status()
        .unwrap();
    assert!(old.success());
    std::fs::write(
        versions.join("b1.py"),
        generic("b1", "'n1'", "op.f()", "op.g()"),
    )
    .unwrap();
    let r = check_in(tmp.path(), "concise", &[]);
    assert_eq!(r.code, Some(1));
    assert!(!leftover.exists(), "a stale temporary file was left");

    // SIGINT at various moments of cold runs over 3,000 files.
    for i in 0..3000 {
        std::fs::write(
            versions.join(format!("z{i:04}.py")),
            generic(&format!("z{i:04}"), "'n1'", "op.f()", "op.g()"),
        )
        .unwrap();
    }
    for delay_ms in [150u64, 300, 450, 600, 800, 1000, 1300, 1700] {
        let _ = std::fs::remove_dir_all(cache_root(tmp.path()));
        let out_file = tmp.path().join("report.json");
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("migverify"))
            .args(["check", "--format", "json", "-o"])
            .arg(&out_file)
            .current_dir(tmp.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status();
        let _ = child.wait();
        let left: Vec<_> = all_files(tmp.path())
            .into_iter()
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(".tmp"))
            })
            .collect();
        assert!(left.is_empty(), "after SIGINT at {delay_ms} ms: {left:?}");
    }
}

/// Item 18: `-o`, `snapshot -o` and `init` create files as the umask says, and
/// keep an existing file's mode.
#[cfg(unix)]
#[test]
fn written_files_respect_the_umask_and_keep_an_existing_mode() {
    use std::os::unix::fs::PermissionsExt;
    let (tmp, _) = project("");
    let bin = assert_cmd::cargo::cargo_bin("migverify");
    let sh = |script: &str| {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("sh")
            .arg(&bin)
            .current_dir(tmp.path())
            .output()
            .unwrap();
        assert!(
            out.status.code().is_some_and(|c| c <= 1),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let mode = |p: &str| {
        std::fs::metadata(tmp.path().join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    sh("umask 022; \"$1\" check --format json -o new.json");
    assert_eq!(mode("new.json"), 0o644);
    sh("umask 077; \"$1\" check --format json -o private.json");
    assert_eq!(mode("private.json"), 0o600);
    std::fs::set_permissions(
        tmp.path().join("new.json"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    sh("umask 022; \"$1\" check --format json -o new.json");
    assert_eq!(mode("new.json"), 0o640, "the existing mode is kept");

    let db = tmp.path().join("app.db");
    let status = std::process::Command::new("sqlite3")
        .arg(&db)
        .arg("CREATE TABLE t (id INTEGER PRIMARY KEY);")
        .status()
        .unwrap();
    assert!(status.success());
    sh("umask 022; \"$1\" snapshot --database-url sqlite:///app.db -o snap.json");
    assert_eq!(mode("snap.json"), 0o644);

    let init_dir = tmp.path().join("fresh");
    std::fs::create_dir(&init_dir).unwrap();
    std::fs::write(
        init_dir.join("alembic.ini"),
        "[alembic]\nscript_location = alembic\n",
    )
    .unwrap();
    std::fs::create_dir_all(init_dir.join("alembic/versions")).unwrap();
    sh("umask 022; cd fresh && \"$1\" init");
    assert_eq!(mode("fresh/migverify.toml"), 0o644);
}

/// Item 19: reading a WAL-mode SQLite database creates no `-wal` / `-shm` files.
#[cfg(unix)]
#[test]
fn a_wal_sqlite_database_is_read_without_creating_files() {
    let (tmp, _) = project("");
    let db = tmp.path().join("app.db");
    let status = std::process::Command::new("sqlite3")
        .arg(&db)
        .arg(
            "PRAGMA journal_mode=WAL; CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL); \
             INSERT INTO alembic_version VALUES ('n1'); CREATE TABLE t (id INTEGER, x INTEGER);",
        )
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    assert!(!tmp.path().join("app.db-wal").exists());
    let before = std::fs::read(&db).unwrap();
    for args in [
        &["check", "--database-url", "sqlite:///app.db", "--full"][..],
        &["snapshot", "--database-url", "sqlite:///app.db"][..],
    ] {
        let mut cmd = migverify();
        cmd.args(args).current_dir(tmp.path());
        let r = run(cmd);
        assert!(matches!(r.code, Some(0 | 1)), "{args:?}: {}", r.stderr);
        for extra in ["app.db-wal", "app.db-shm", "app.db-journal"] {
            assert!(!tmp.path().join(extra).exists(), "{args:?} left {extra}");
        }
    }
    assert_eq!(std::fs::read(&db).unwrap(), before);
}

// ------------------------------------------------------------------ wrong verdicts

/// Item 21: `?user=` in a PostgreSQL URL is the user to connect as (libpq's and
/// SQLAlchemy's reading).
#[test]
fn a_user_in_the_postgresql_query_is_honoured() {
    use common::server_db::{Server, ServerDb};
    let Some(db) = ServerDb::create(Server::Postgres, "mv_user_q") else {
        eprintln!("skipped: MIGVERIFY_TEST_POSTGRES_URL is not set");
        return;
    };
    let url = db.url();
    // postgresql://user[:pw]@host:port/name -> postgresql://host:port/name?user=user
    let (scheme, rest) = url.split_once("://").unwrap();
    let (auth, host_db) = rest.rsplit_once('@').unwrap();
    let user = auth.split(':').next().unwrap();
    let moved = format!("{scheme}://{host_db}?user={user}");
    let (tmp, _) = project("");
    let mut cmd = migverify();
    cmd.args(["snapshot", "--database-url", &moved])
        .current_dir(tmp.path());
    let r = run(cmd);
    assert_eq!(r.code, Some(0), "{moved}: {}", r.stderr);
}

/// Item 22: SARIF URIs of file names that are not UTF-8 percent-encode the raw
/// bytes, not U+FFFD.
#[cfg(target_os = "linux")]
#[test]
fn sarif_uris_of_non_utf8_names_keep_their_bytes() {
    use std::os::unix::ffi::OsStrExt;
    let (tmp, versions) = project("");
    let name = std::ffi::OsStr::from_bytes(b"b1_caf\xe9.py");
    std::fs::write(versions.join(name), generic("b1", "'n1'", "op.f()", "pass")).unwrap();
    let r = check_in(tmp.path(), "sarif", &[]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(r.stdout.contains("versions/b1_caf%E9.py"), "{}", r.stdout);
    assert!(!r.stdout.contains("%EF%BF%BD"), "{}", r.stdout);
}
