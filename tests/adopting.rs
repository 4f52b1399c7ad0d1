//! Adopting migverify on a legacy project (docs/adopting.md), driving the real
//! binary on real git repositories made with `git` in a temporary directory: a
//! baseline file (`--write-baseline`, `--baseline`, `[check] baseline`) and
//! changed-only runs (`--changed-since`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

mod common;
use common::git;

/// How many migrations the legacy history has.
const HISTORY: usize = 50;
/// Old revisions without a `downgrade()` (MV002, errors).
const NO_DOWNGRADE: &[usize] = &[5, 17, 33];
/// Old revisions whose `downgrade()` is `pass` (MV003, warnings).
const EMPTY_DOWNGRADE: &[usize] = &[8, 41];

fn rev(n: usize) -> String {
    format!("r{n:03}")
}

/// A migration file; `downgrade` is its body (`None`: no `downgrade()` at all).
fn migration(revision: &str, down: Option<&str>, downgrade: Option<&str>) -> String {
    let down = match down {
        Some(d) => format!("{d:?}"),
        None => "None".into(),
    };
    let mut text = format!(
        "\"\"\"{revision}\n\nRevision ID: {revision}\n\"\"\"\n\
         from alembic import op\nimport sqlalchemy as sa\n\n\
         revision = {revision:?}\ndown_revision = {down}\n\
         branch_labels = None\ndepends_on = None\n\n\n\
         def upgrade():\n    op.create_table(\"t_{revision}\", sa.Column(\"id\", sa.Integer))\n"
    );
    if let Some(body) = downgrade {
        text += &format!("\n\ndef downgrade():\n    {body}\n");
    }
    text
}

fn old_migration(n: usize) -> String {
    let down = (n > 1).then(|| rev(n - 1));
    let downgrade = if NO_DOWNGRADE.contains(&n) {
        None
    } else if EMPTY_DOWNGRADE.contains(&n) {
        Some("pass".to_string())
    } else {
        Some(format!("op.drop_table(\"t_{}\")", rev(n)))
    };
    migration(&rev(n), down.as_deref(), downgrade.as_deref())
}

fn file_name(revision: &str) -> String {
    format!("{revision}_step.py")
}

struct Repo {
    _dir: tempfile::TempDir,
    /// The git repository's top.
    top: PathBuf,
    /// The Alembic project (`backend/` below the top: paths relative to the
    /// repository and to the project differ).
    project: PathBuf,
}

impl Repo {
    fn versions(&self) -> PathBuf {
        self.project.join("migrations/versions")
    }

    fn write_migration(&self, revision: &str, text: &str) -> PathBuf {
        let path = self.versions().join(file_name(revision));
        std::fs::write(&path, text).unwrap();
        path
    }

    /// `migverify check ARGS` in the project directory, without cache or database.
    fn check(&self, args: &[&str]) -> Output {
        self.check_in(&self.project, args)
    }

    fn check_in(&self, dir: &Path, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_migverify"))
            .current_dir(dir)
            .arg("check")
            .args(["--no-cache", "--no-database", "--no-color"])
            .args(args)
            .env_remove("MIGVERIFY_DATABASE_URL")
            .env_remove("MIGVERIFY_CACHE_DIR")
            .env("NO_COLOR", "1")
            .output()
            .expect("run migverify")
    }
}

/// A git repository whose `backend/` is an Alembic project with 50 migrations on
/// `main`, five of them with old findings.
fn legacy_repo() -> Repo {
    let dir = tempfile::tempdir().unwrap();
    let top = dir.path().canonicalize().unwrap();
    let project = top.join("backend");
    std::fs::create_dir_all(project.join("migrations/versions")).unwrap();
    std::fs::write(
        project.join("alembic.ini"),
        "[alembic]\nscript_location = migrations\n",
    )
    .unwrap();
    let repo = Repo {
        _dir: dir,
        top,
        project,
    };
    for n in 1..=HISTORY {
        repo.write_migration(&rev(n), &old_migration(n));
    }
    git(&repo.top, &["init", "-q"]);
    git(&repo.top, &["add", "-A"]);
    git(
        &repo.top,
        &["commit", "-q", "-m", "five years of migrations"],
    );
    repo
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exit code")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn both(out: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", stdout(out), stderr(out))
}

/// The codes and files of a concise run's diagnostics, sorted.
fn findings(out: &Output) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = stdout(out)
        .lines()
        .filter_map(|l| {
            let (loc, rest) = l.split_once(": ")?;
            let code = rest.split_whitespace().next()?;
            code.starts_with("MV").then(|| {
                let file = loc.split(':').next().unwrap_or(loc);
                let file = file.rsplit('/').next().unwrap_or(file);
                (code.to_string(), file.to_string())
            })
        })
        .collect();
    v.sort();
    v
}

fn old_findings() -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = NO_DOWNGRADE
        .iter()
        .map(|&n| ("MV002".to_string(), file_name(&rev(n))))
        .chain(
            EMPTY_DOWNGRADE
                .iter()
                .map(|&n| ("MV003".to_string(), file_name(&rev(n)))),
        )
        .collect();
    v.sort();
    v
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn a_baseline_silences_old_findings_and_reports_new_ones() {
    let repo = legacy_repo();
    let before = repo.check(&["--format", "concise"]);
    assert_eq!(code(&before), 1, "{}", both(&before));
    assert_eq!(findings(&before), old_findings(), "{}", both(&before));

    // Written: every finding, exit 0, a line saying so.
    let out = repo.check(&["--write-baseline", "migverify-baseline.json"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(
        stdout(&out),
        "wrote 5 findings to migverify-baseline.json (MV002 ×3, MV003 ×2)\n"
    );
    let file = read_json(&repo.project.join("migverify-baseline.json"));
    assert_eq!(file["version"], 1);
    let entries = file["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 5);
    for e in entries {
        let path = e["path"].as_str().unwrap();
        assert!(path.starts_with("migrations/versions/r0"), "{path}");
        assert!(e["fingerprint"].as_str().unwrap().contains(':'));
        assert!(!e["message"].as_str().unwrap().is_empty());
    }

    // Used: nothing new, exit 0 even at --fail-on info; the summary says what the
    // baseline hides.
    let out = repo.check(&["--baseline", "migverify-baseline.json", "--fail-on", "info"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    let text = stdout(&out);
    assert!(!text.contains("MV002") || text.contains("✓"), "{text}");
    assert!(
        text.contains("Baseline migverify-baseline.json: 5 known findings not shown"),
        "{text}"
    );
    assert!(text.contains("✓ All checks passed"), "{text}");
    assert!(!stderr(&out).contains("fixed"), "{}", both(&out));

    // Lines shifted above and inside the files holding findings: still baselined.
    for &n in NO_DOWNGRADE.iter().chain(EMPTY_DOWNGRADE) {
        let path = repo.versions().join(file_name(&rev(n)));
        let text = std::fs::read_to_string(&path).unwrap();
        let text = format!("# Copyright header added later\n# (two lines)\n\n{text}").replace(
            "def upgrade():\n",
            "def upgrade():\n    # a comment inside\n    op.execute(\"SELECT 1\")\n",
        );
        std::fs::write(&path, text).unwrap();
    }
    let out = repo.check(&[
        "--baseline",
        "migverify-baseline.json",
        "--format",
        "concise",
    ]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert_eq!(findings(&out), Vec::new(), "{}", both(&out));

    // A new finding: reported alone, exit 1.
    let new = repo.write_migration(
        &rev(HISTORY + 1),
        &migration(&rev(HISTORY + 1), Some(&rev(HISTORY)), None),
    );
    let out = repo.check(&[
        "--baseline",
        "migverify-baseline.json",
        "--format",
        "concise",
    ]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert_eq!(
        findings(&out),
        vec![("MV002".to_string(), file_name(&rev(HISTORY + 1)))],
        "{}",
        both(&out)
    );
    // The human summary counts the new one only.
    let out = repo.check(&["--baseline", "migverify-baseline.json"]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert!(
        stdout(&out).contains("✗ 1 error in 51 files"),
        "{}",
        both(&out)
    );

    // The new one fixed, and one baselined problem fixed: exit 0, the stale entry
    // mentioned once.
    std::fs::remove_file(new).unwrap();
    let fixed = rev(NO_DOWNGRADE[0]);
    repo.write_migration(
        &fixed,
        &migration(
            &fixed,
            Some(&rev(NO_DOWNGRADE[0] - 1)),
            Some(&format!("op.drop_table(\"t_{fixed}\")")),
        ),
    );
    let out = repo.check(&["--baseline", "migverify-baseline.json"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    let err = stderr(&out);
    assert_eq!(
        err.matches(
            "1 baseline entry is fixed: run --write-baseline migverify-baseline.json to drop it"
        )
        .count(),
        1,
        "{}",
        both(&out)
    );
    assert!(!stdout(&out).contains("fixed: run"), "{}", both(&out));

    // The JSON summary says the same.
    let out = repo.check(&["--baseline", "migverify-baseline.json", "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["diagnostics"].as_array().unwrap().len(), 0);
    assert_eq!(doc["summary"]["baseline"]["unchanged"], 4);
    assert_eq!(doc["summary"]["baseline"]["fixed"], 1);
    assert_eq!(doc["summary"]["errors"], 0);

    // Written again: the fixed entry is dropped.
    let out = repo.check(&["--write-baseline", "migverify-baseline.json"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    let out = repo.check(&["--baseline", "migverify-baseline.json"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert!(!stderr(&out).contains("fixed"), "{}", both(&out));
}

#[test]
fn the_config_names_the_baseline_relative_to_itself() {
    let repo = legacy_repo();
    std::fs::create_dir_all(repo.project.join("ci")).unwrap();
    let out = repo.check(&["--write-baseline", "ci/baseline.json"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    std::fs::write(
        repo.project.join("migverify.toml"),
        "[check]\nbaseline = \"ci/baseline.json\"\n",
    )
    .unwrap();
    // From the project and from its version directory: the same file.
    for dir in [repo.project.clone(), repo.versions()] {
        let out = repo.check_in(&dir, &[]);
        assert_eq!(code(&out), 0, "{}", both(&out));
        assert!(
            stdout(&out).contains("5 known findings not shown"),
            "{}",
            both(&out)
        );
    }
    // --baseline overrides it: a missing file named on the command line is exit 2.
    let out = repo.check(&["--baseline", "other.json"]);
    assert_eq!(code(&out), 2, "{}", both(&out));
    assert!(stderr(&out).contains("other.json"), "{}", both(&out));
    // A configured file that is missing is exit 2, naming it.
    std::fs::remove_file(repo.project.join("ci/baseline.json")).unwrap();
    let out = repo.check(&[]);
    assert_eq!(code(&out), 2, "{}", both(&out));
    assert!(stderr(&out).contains("baseline.json"), "{}", both(&out));
}

#[test]
fn files_named_on_the_command_line_call_no_other_entry_fixed() {
    let repo = legacy_repo();
    let out = repo.check(&["--write-baseline", "migverify-baseline.json"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    // One file with a baselined finding, and one without any: nothing new, and the
    // entries about the files not named are not "fixed".
    for n in [NO_DOWNGRADE[0], 2] {
        let file = format!("migrations/versions/{}", file_name(&rev(n)));
        let out = repo.check(&["--baseline", "migverify-baseline.json", &file]);
        assert_eq!(code(&out), 0, "{}", both(&out));
        assert!(!stderr(&out).contains("fixed"), "{}", both(&out));
    }
    // Fixed in the file named: that entry, and only it, is fixed.
    let path = repo.versions().join(file_name(&rev(NO_DOWNGRADE[0])));
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        format!("{text}\n\ndef downgrade():\n    op.drop_table(\"t\")\n"),
    )
    .unwrap();
    let file = format!("migrations/versions/{}", file_name(&rev(NO_DOWNGRADE[0])));
    let out = repo.check(&["--baseline", "migverify-baseline.json", &file]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert!(
        stderr(&out).contains("1 baseline entry is fixed"),
        "{}",
        both(&out)
    );
}

#[test]
fn a_missing_or_malformed_baseline_is_a_usage_error_naming_the_file() {
    let repo = legacy_repo();
    let out = repo.check(&["--baseline", "missing-baseline.json"]);
    assert_eq!(code(&out), 2, "{}", both(&out));
    let err = stderr(&out);
    assert!(err.contains("missing-baseline.json"), "{err}");
    assert!(err.contains("does not exist"), "{err}");
    assert!(err.contains("--write-baseline"), "{err}");

    for (name, text) in [
        ("truncated.json", "{\"version\": 1, \"entries\": ["),
        (
            "wrong.json",
            "{\"version\": 1, \"entries\": [{\"code\": 5}]}",
        ),
        ("future.json", "{\"version\": 7, \"entries\": []}"),
        ("empty.json", ""),
    ] {
        std::fs::write(repo.project.join(name), text).unwrap();
        let out = repo.check(&["--baseline", name]);
        assert_eq!(code(&out), 2, "{name}: {}", both(&out));
        assert!(stderr(&out).contains(name), "{name}: {}", both(&out));
        assert!(!stderr(&out).contains("panicked"), "{name}: {}", both(&out));
    }
}

fn sarif_validator() -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemas/sarif-schema-2.1.0.json");
    let mut schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for def in ["run", "toolComponent"] {
        schema["definitions"][def]["properties"]["language"]["pattern"] =
            Value::from("^[a-zA-Z]{2}(-[a-zA-Z]{2})?$");
    }
    jsonschema::validator_for(&schema).unwrap()
}

#[test]
fn sarif_marks_results_new_or_unchanged_with_the_baselines_fingerprints() {
    let repo = legacy_repo();
    // Without a baseline: no baselineState.
    let out = repo.check(&["--format", "sarif"]);
    let plain: Value = serde_json::from_slice(&out.stdout).unwrap();
    let results = plain["runs"][0]["results"].as_array().unwrap().clone();
    assert_eq!(results.len(), 5);
    assert!(results.iter().all(|r| r.get("baselineState").is_none()));

    let out = repo.check(&["--write-baseline", "migverify-baseline.json"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    repo.write_migration(
        &rev(HISTORY + 1),
        &migration(&rev(HISTORY + 1), Some(&rev(HISTORY)), Some("pass")),
    );
    let out = repo.check(&["--baseline", "migverify-baseline.json", "--format", "sarif"]);
    // The new finding is a warning: exit 0 at the default --fail-on error.
    assert_eq!(code(&out), 0, "{}", both(&out));
    let log: Value = serde_json::from_slice(&out.stdout).unwrap();
    let errors: Vec<String> = sarif_validator()
        .iter_errors(&log)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let results = log["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 6);
    let state = |r: &Value| r["baselineState"].as_str().unwrap().to_string();
    let new: Vec<&Value> = results.iter().filter(|r| state(r) == "new").collect();
    assert_eq!(new.len(), 1);
    assert_eq!(new[0]["ruleId"], "MV003");
    assert!(
        new[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            .as_str()
            .unwrap()
            .ends_with(&file_name(&rev(HISTORY + 1)))
    );
    assert_eq!(
        results.iter().filter(|r| state(r) == "unchanged").count(),
        5
    );
    // One fingerprint for both: the baseline (at the project root) records what
    // SARIF's partialFingerprints carry, unchanged by the baseline run.
    let file = read_json(&repo.project.join("migverify-baseline.json"));
    let mut recorded: Vec<String> = file["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["fingerprint"].as_str().unwrap().to_string())
        .collect();
    let print = |r: &Value| {
        r["partialFingerprints"]["primaryLocationLineHash"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let mut sarif: Vec<String> = results
        .iter()
        .filter(|r| state(r) == "unchanged")
        .map(print)
        .collect();
    let mut before: Vec<String> = results_prints(&plain);
    recorded.sort();
    sarif.sort();
    before.sort();
    assert_eq!(recorded, sarif);
    assert_eq!(recorded, before);
}

fn results_prints(log: &Value) -> Vec<String> {
    log["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["partialFingerprints"]["primaryLocationLineHash"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[test]
fn changed_since_reports_only_problems_in_changed_files() {
    let repo = legacy_repo();
    let main_run = repo.check(&["--changed-since", "main", "--format", "concise"]);
    assert_eq!(code(&main_run), 0, "nothing changed: {}", both(&main_run));
    assert_eq!(findings(&main_run), Vec::new());

    // A feature branch adds a migration with a problem (committed), and another
    // one is still untracked.
    git(&repo.top, &["checkout", "-q", "-b", "feature"]);
    let r51 = rev(HISTORY + 1);
    repo.write_migration(&r51, &migration(&r51, Some(&rev(HISTORY)), None));
    git(&repo.top, &["add", "-A"]);
    git(&repo.top, &["commit", "-q", "-m", "r051"]);
    // main moves on meanwhile: the merge base, not main's tip, is compared with.
    git(&repo.top, &["checkout", "-q", "main"]);
    std::fs::write(repo.top.join("README"), "main moved\n").unwrap();
    git(&repo.top, &["add", "-A"]);
    git(&repo.top, &["commit", "-q", "-m", "readme"]);
    git(&repo.top, &["checkout", "-q", "feature"]);

    let out = repo.check(&["--changed-since", "main", "--format", "concise"]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert_eq!(
        findings(&out),
        vec![("MV002".to_string(), file_name(&r51))],
        "{}",
        both(&out)
    );
    // From the repository's top too (paths relative to it, not to the project).
    let out = repo.check_in(
        &repo.top,
        &["backend", "--changed-since", "main", "--format", "concise"],
    );
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert_eq!(findings(&out), vec![("MV002".to_string(), file_name(&r51))]);

    // Untracked and unstaged changes count.
    let r52 = rev(HISTORY + 2);
    repo.write_migration(&r52, &migration(&r52, Some(&r51), Some("pass")));
    let old = repo.versions().join(file_name(&rev(EMPTY_DOWNGRADE[0])));
    let text = std::fs::read_to_string(&old).unwrap();
    std::fs::write(&old, format!("# touched\n{text}")).unwrap();
    let out = repo.check(&["--changed-since", "main", "--format", "concise"]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    let mut want = vec![
        ("MV002".to_string(), file_name(&r51)),
        ("MV003".to_string(), file_name(&r52)),
        ("MV003".to_string(), file_name(&rev(EMPTY_DOWNGRADE[0]))),
    ];
    want.sort();
    assert_eq!(findings(&out), want, "{}", both(&out));

    // The human summary says what was left out.
    let out = repo.check(&["--changed-since", "main"]);
    let text = stdout(&out);
    assert!(text.contains("Changed since main (merge base "), "{text}");
    assert!(
        text.contains("3 migration files changed; 4 findings elsewhere not shown"),
        "{text}"
    );
}

#[test]
fn changed_since_reports_a_second_head_made_by_a_changed_file() {
    let repo = legacy_repo();
    git(&repo.top, &["checkout", "-q", "-b", "second-head"]);
    // r051 branches off r049: r050 and r051 are both heads.
    let r51 = rev(HISTORY + 1);
    repo.write_migration(
        &r51,
        &migration(&r51, Some(&rev(HISTORY - 1)), Some("op.drop_table(\"t\")")),
    );
    git(&repo.top, &["add", "-A"]);
    git(&repo.top, &["commit", "-q", "-m", "second head"]);
    let out = repo.check(&["--changed-since", "main", "--format", "json"]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let codes: Vec<&str> = doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, vec!["MV006"], "{}", both(&out));
    assert_eq!(doc["summary"]["changed_since"]["reference"], "main");
    assert_eq!(doc["summary"]["changed_since"]["migration_files"], 1);
    assert_eq!(doc["summary"]["changed_since"]["left_out"], 5);

    // With a baseline too: the baseline's findings are all in unchanged files, none
    // is "fixed".
    git(&repo.top, &["checkout", "-q", "main"]);
    let out = repo.check(&["--write-baseline", "migverify-baseline.json"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    git(&repo.top, &["checkout", "-q", "second-head"]);
    let out = repo.check(&[
        "--changed-since",
        "main",
        "--baseline",
        "migverify-baseline.json",
        "--format",
        "concise",
    ]);
    assert_eq!(code(&out), 1, "{}", both(&out));
    assert_eq!(findings(&out).len(), 1, "{}", both(&out));
    assert!(!stderr(&out).contains("fixed"), "{}", both(&out));
}

#[test]
fn changed_since_needs_a_known_revision_in_a_git_repository() {
    let repo = legacy_repo();
    let out = repo.check(&["--changed-since", "no-such-branch"]);
    assert_eq!(code(&out), 2, "{}", both(&out));
    let err = stderr(&out);
    assert!(
        err.contains("unknown git revision `no-such-branch`"),
        "{err}"
    );

    let out = repo.check(&["--changed-since", "--oops"]);
    assert_eq!(code(&out), 2, "{}", both(&out));

    // The same project outside any git repository.
    let plain = tempfile::tempdir().unwrap();
    let project = plain.path().join("backend");
    std::fs::create_dir_all(project.join("migrations/versions")).unwrap();
    std::fs::copy(
        repo.project.join("alembic.ini"),
        project.join("alembic.ini"),
    )
    .unwrap();
    std::fs::copy(
        repo.versions().join(file_name(&rev(1))),
        project.join("migrations/versions").join(file_name(&rev(1))),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_migverify"))
        .current_dir(&project)
        .args([
            "check",
            "--no-cache",
            "--no-database",
            "--changed-since",
            "main",
        ])
        .env("GIT_CEILING_DIRECTORIES", plain.path())
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", both(&out));
    assert!(
        stderr(&out).contains("is not in a git repository"),
        "{}",
        both(&out)
    );
}

#[test]
fn check_help_documents_the_adoption_flags() {
    let out = Command::new(env!("CARGO_BIN_EXE_migverify"))
        .args(["check", "--help"])
        .output()
        .unwrap();
    let help = stdout(&out);
    for flag in [
        "--baseline <FILE>",
        "--write-baseline <FILE>",
        "--changed-since <REF>",
    ] {
        assert!(
            help.contains(flag),
            "{flag} missing from check --help:\n{help}"
        );
    }
    // --write-baseline records everything: it refuses the filters.
    let repo = legacy_repo();
    for other in [["--baseline", "x.json"], ["--changed-since", "main"]] {
        let out = repo.check(&["--write-baseline", "b.json", other[0], other[1]]);
        assert_eq!(code(&out), 2, "{}", both(&out));
        assert!(!repo.project.join("b.json").exists());
    }
    // The docs name every flag.
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/adopting.md"))
            .unwrap();
    for flag in [
        "--baseline",
        "--write-baseline",
        "--changed-since",
        "[check]",
        "baselineState",
    ] {
        assert!(
            doc.contains(flag),
            "docs/adopting.md does not mention {flag}"
        );
    }
}

#[test]
fn several_environments_share_one_baseline_and_one_change_set() {
    let dir = tempfile::tempdir().unwrap();
    let top = dir.path().canonicalize().unwrap();
    for env in ["billing", "users"] {
        let versions = top.join(env).join("migrations/versions");
        std::fs::create_dir_all(&versions).unwrap();
        std::fs::write(
            top.join(env).join("alembic.ini"),
            "[alembic]\nscript_location = migrations\n",
        )
        .unwrap();
        for n in 1..=2 {
            let down = (n > 1).then(|| format!("{env}{}", n - 1));
            let revision = format!("{env}{n}");
            std::fs::write(
                versions.join(format!("{revision}.py")),
                migration(&revision, down.as_deref(), None),
            )
            .unwrap();
        }
    }
    git(&top, &["init", "-q"]);
    git(&top, &["add", "-A"]);
    git(&top, &["commit", "-q", "-m", "two environments"]);
    let repo = Repo {
        _dir: dir,
        top: top.clone(),
        project: top.clone(),
    };
    let out = repo.check(&["--write-baseline", "baseline.json"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert!(
        stdout(&out).starts_with("wrote 4 findings"),
        "{}",
        both(&out)
    );
    let out = repo.check(&["--baseline", "baseline.json"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    // One environment picked: the other's entries are not "fixed".
    let out = repo.check(&["--baseline", "baseline.json", "--project", "users"]);
    assert_eq!(code(&out), 0, "{}", both(&out));
    assert!(!stderr(&out).contains("fixed"), "{}", both(&out));

    git(&top, &["checkout", "-q", "-b", "feature"]);
    std::fs::write(
        top.join("users/migrations/versions/users3.py"),
        migration("users3", Some("users2"), None),
    )
    .unwrap();
    for args in [
        &["--changed-since", "main", "--format", "concise"][..],
        &["--baseline", "baseline.json", "--format", "concise"][..],
    ] {
        let out = repo.check(args);
        assert_eq!(code(&out), 1, "{args:?}: {}", both(&out));
        assert_eq!(
            findings(&out),
            vec![("MV002".to_string(), "users3.py".to_string())],
            "{args:?}: {}",
            both(&out)
        );
    }
}
