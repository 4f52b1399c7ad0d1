//! Alembic as the oracle: real projects made by the real `alembic` CLI (`init`,
//! `revision`, `merge`), then `migverify graph --format json` compared with what
//! Alembic's own `ScriptDirectory` reports, and `migverify check` cross-checked on
//! the same trees.
//!
//! The Python interpreter comes from `MIGVERIFY_TEST_PYTHON`, else the project's
//! `.venv/bin/python` (made by `scripts/python-env`). Without one that imports
//! `alembic`, every test here prints why and passes without checking anything,
//! unless `MIGVERIFY_REQUIRE_ORACLE=1` (set by `.ci/run`), which turns the skip into
//! a failure.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use assert_cmd::Command;
use serde_json::Value;
use tempfile::TempDir;

/// The interpreter that imports `alembic`, found once per test binary.
fn python() -> Option<&'static Path> {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let found = PYTHON.get_or_init(|| {
        let (candidate, origin) = match std::env::var_os("MIGVERIFY_TEST_PYTHON") {
            Some(p) if !p.is_empty() => (PathBuf::from(p), "MIGVERIFY_TEST_PYTHON"),
            _ => (
                Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"),
                "the project venv",
            ),
        };
        if !candidate.exists() {
            return Err(format!(
                "no Python with alembic: MIGVERIFY_TEST_PYTHON is unset and {} does not \
                 exist (run scripts/python-env, or use scripts/test)",
                candidate.display()
            ));
        }
        let probe = std::process::Command::new(&candidate)
            .args(["-c", "import alembic, sqlalchemy"])
            .output();
        match probe {
            Ok(out) if out.status.success() => Ok(candidate),
            Ok(out) => Err(format!(
                "{} ({origin}) cannot import alembic/sqlalchemy: {}",
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
    });
    match found {
        Ok(p) => Some(p),
        Err(reason) => {
            let required =
                std::env::var("MIGVERIFY_REQUIRE_ORACLE").is_ok_and(|v| !v.is_empty() && v != "0");
            if required {
                panic!("MIGVERIFY_REQUIRE_ORACLE is set but the oracle cannot run: {reason}");
            }
            eprintln!("SKIPPED (Alembic oracle not available): {reason}");
            None
        }
    }
}

/// Prints, as JSON, what Alembic's `ScriptDirectory` makes of the project in the
/// working directory (read through `alembic.ini`, and `pyproject.toml` when there).
const ALEMBIC_VIEW: &str = r#"
import json, os, sys
from alembic.config import Config
from alembic.script import ScriptDirectory

toml = "pyproject.toml" if os.path.exists("pyproject.toml") else None
script = ScriptDirectory.from_config(Config("alembic.ini", toml_file=toml))
versions = sys.argv[1]

def as_list(x):
    if x is None:
        return []
    if isinstance(x, str):
        return [x]
    return list(x)

revisions = []
for s in script.walk_revisions():
    revisions.append({
        "revision": s.revision,
        "down_revision": as_list(s.down_revision),
        "dependencies": as_list(s.dependencies),
        # as declared in the file; `branch_labels` is the effective set, which
        # Alembic extends to the labeled revision's descendants
        "branch_labels": list(s._orig_branch_labels),
        "effective_labels": sorted(s.branch_labels),
        "doc": s.doc,
        "path": os.path.relpath(s.path, versions).replace(os.sep, "/"),
    })
print(json.dumps({
    "revisions": revisions,
    "heads": script.get_heads(),
    "bases": script.get_bases(),
}))
"#;

/// One revision as both sides must agree on it.
#[derive(Debug, PartialEq, Eq)]
struct Rev {
    down_revisions: Vec<String>,
    depends_on: Vec<String>,
    /// As declared in the file, in file order.
    branch_labels: Vec<String>,
    message: String,
    path: String,
}

/// A graph normalised for comparison: revisions by id, heads and bases as sets.
#[derive(Debug, PartialEq, Eq)]
struct Graph {
    revisions: BTreeMap<String, Rev>,
    heads: BTreeSet<String>,
    bases: BTreeSet<String>,
    /// `Script.branch_labels`, the labels in force at each revision (declared ones
    /// plus those Alembic extends to it from a labeled revision); migverify's
    /// `effective_labels`.
    effective_labels: BTreeMap<String, BTreeSet<String>>,
}

impl Graph {
    fn rev(&self, id: &str) -> &Rev {
        self.revisions
            .get(id)
            .unwrap_or_else(|| panic!("revision {id} missing from {self:#?}"))
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("expected an array, got {v}"))
        .iter()
        .map(|s| s.as_str().expect("string").to_string())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// A scratch Alembic project made with `alembic init`.
struct Project {
    dir: TempDir,
    python: PathBuf,
}

impl Project {
    /// `alembic init -t TEMPLATE alembic` in a new temp dir; `None` when the oracle is
    /// unavailable (the test then returns early, having said why).
    fn init(template: &str) -> Option<Project> {
        Project::init_with(&["-t", template])
    }

    /// `alembic init ARGS... alembic`.
    fn init_with(args: &[&str]) -> Option<Project> {
        let python = python()?.to_path_buf();
        let p = Project {
            dir: tempfile::tempdir().expect("tempdir"),
            python,
        };
        let mut init = vec!["init"];
        init.extend_from_slice(args);
        init.push("alembic");
        p.alembic(&init);
        assert!(p.versions().is_dir(), "alembic init made no versions dir");
        Some(p)
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn versions(&self) -> PathBuf {
        self.root().join("alembic").join("versions")
    }

    /// Runs the real Alembic command line (`python -I -m alembic ARGS`) in the project.
    fn alembic(&self, args: &[&str]) -> String {
        let out = std::process::Command::new(&self.python)
            // -I: isolated, so the project's own `alembic/` directory (a package with
            // `init --package`) cannot shadow the installed alembic.
            .args(["-I", "-m", "alembic"])
            .args(args)
            .current_dir(self.root())
            .output()
            .expect("run python -m alembic");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "alembic {args:?} failed:\n{text}");
        text
    }

    /// `alembic revision -m MESSAGE EXTRA...` (or `alembic merge ...` via `command`);
    /// returns the new revision id, read from the file name Alembic reports
    /// (`Generating .../<rev>_<slug>.py`) or taken from `--rev-id`.
    fn generate(&self, command: &str, message: &str, extra: &[&str]) -> String {
        let mut args = vec![command, "-m", message];
        args.extend_from_slice(extra);
        let out = self.alembic(&args);
        if let Some(i) = extra.iter().position(|a| *a == "--rev-id") {
            return extra[i + 1].to_string();
        }
        let generated = out
            .lines()
            .find_map(|l| l.trim().strip_prefix("Generating "))
            .unwrap_or_else(|| panic!("no `Generating` line in:\n{out}"));
        let file = generated
            .split(" ...")
            .next()
            .map(Path::new)
            .and_then(Path::file_name)
            .expect("generated file name")
            .to_string_lossy()
            .to_string();
        file.split('_').next().expect("rev id").to_string()
    }

    fn revision(&self, message: &str, extra: &[&str]) -> String {
        self.generate("revision", message, extra)
    }

    /// Alembic's error when it refuses the history (`alembic heads` must fail).
    fn alembic_refuses(&self) -> String {
        let out = std::process::Command::new(&self.python)
            .args(["-I", "-m", "alembic", "heads"])
            .current_dir(self.root())
            .output()
            .expect("run python -m alembic");
        assert!(!out.status.success(), "alembic accepted the history");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Replaces the line of `rev`'s file that starts with `key` by `line`.
    fn edit(&self, rev: &str, key: &str, line: &str) {
        let file = std::fs::read_dir(self.versions())
            .expect("versions")
            .map(|e| e.expect("entry").path())
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(rev))
            })
            .expect("the revision's file");
        let text = std::fs::read_to_string(&file).expect("read");
        let edited: Vec<&str> = text
            .lines()
            .map(|l| if l.starts_with(key) { line } else { l })
            .collect();
        assert_ne!(edited.join("\n"), text.trim_end(), "no `{key}` line");
        std::fs::write(&file, edited.join("\n") + "\n").expect("write");
        // Python would trust its bytecode for an edit of the same size in the same
        // second.
        let _ = std::fs::remove_dir_all(self.versions().join("__pycache__"));
    }

    /// What Alembic's `ScriptDirectory` reports, paths relative to `base`.
    fn alembic_graph(&self, base: &Path) -> Graph {
        let out = std::process::Command::new(&self.python)
            .args(["-I", "-c", ALEMBIC_VIEW])
            .arg(base)
            .current_dir(self.root())
            .output()
            .expect("run the ScriptDirectory snippet");
        assert!(
            out.status.success(),
            "ScriptDirectory snippet failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).expect("snippet JSON");
        let list = v["revisions"].as_array().expect("revisions");
        let effective_labels = list
            .iter()
            .map(|r| {
                (
                    r["revision"].as_str().expect("revision").to_string(),
                    strings(&r["effective_labels"]).into_iter().collect(),
                )
            })
            .collect();
        let revisions = list
            .iter()
            .map(|r| {
                (
                    r["revision"].as_str().expect("revision").to_string(),
                    Rev {
                        down_revisions: strings(&r["down_revision"]),
                        depends_on: strings(&r["dependencies"]),
                        branch_labels: strings(&r["branch_labels"]),
                        message: r["doc"].as_str().expect("doc").to_string(),
                        path: r["path"].as_str().expect("path").to_string(),
                    },
                )
            })
            .collect();
        Graph {
            revisions,
            heads: strings(&v["heads"]).into_iter().collect(),
            bases: strings(&v["bases"]).into_iter().collect(),
            effective_labels,
        }
    }

    /// What `migverify graph --format json <target>` reports.
    fn migverify_graph(&self, target: &Path) -> Graph {
        let out = Command::cargo_bin("migverify")
            .expect("migverify binary")
            .args(["graph", "--format", "json"])
            .arg(target)
            .current_dir(self.root())
            .output()
            .expect("run migverify graph");
        assert!(
            out.status.success(),
            "migverify graph failed ({:?}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).expect("graph JSON");
        let mut revisions = BTreeMap::new();
        let mut effective_labels = BTreeMap::new();
        for r in v["revisions"].as_array().expect("revisions") {
            effective_labels.insert(
                r["revision"].as_str().expect("revision").to_string(),
                strings(&r["effective_labels"]).into_iter().collect(),
            );
            let id = r["revision"].as_str().expect("revision").to_string();
            let rev = Rev {
                down_revisions: strings(&r["down_revisions"]),
                depends_on: strings(&r["depends_on"]),
                branch_labels: strings(&r["branch_labels"]),
                message: r["message"].as_str().unwrap_or("").to_string(),
                path: r["path"].as_str().expect("path").to_string(),
            };
            assert!(
                revisions.insert(id.clone(), rev).is_none(),
                "migverify lists {id} twice"
            );
        }
        Graph {
            revisions,
            heads: strings(&v["heads"]).into_iter().collect(),
            bases: strings(&v["bases"]).into_iter().collect(),
            effective_labels,
        }
    }

    /// Asserts that `migverify graph <versions>` and Alembic see the same graph;
    /// returns Alembic's.
    fn assert_same_graph(&self) -> Graph {
        self.assert_same_graph_at(&self.versions())
    }

    /// The same, with migverify given `target`. migverify finds the project root
    /// (the directory of `alembic.ini`) from any target, and reports paths relative
    /// to it; so are Alembic's.
    fn assert_same_graph_at(&self, target: &Path) -> Graph {
        let alembic = self.alembic_graph(self.root());
        let ours = self.migverify_graph(target);
        assert_eq!(
            ours.revisions.keys().collect::<Vec<_>>(),
            alembic.revisions.keys().collect::<Vec<_>>(),
            "the sets of revisions differ"
        );
        for (id, theirs) in &alembic.revisions {
            assert_eq!(&ours.revisions[id], theirs, "revision {id} differs");
        }
        assert_eq!(ours.heads, alembic.heads, "heads differ");
        assert_eq!(ours.bases, alembic.bases, "bases differ");
        assert_eq!(
            ours.effective_labels, alembic.effective_labels,
            "effective branch labels differ"
        );
        alembic
    }

    /// `migverify check --format concise <versions> EXTRA...`: (exit code, stdout).
    fn check(&self, extra: &[&str]) -> (i32, String) {
        let out = Command::cargo_bin("migverify")
            .expect("migverify binary")
            .args(["check", "--format", "concise"])
            .args(extra)
            .arg(self.versions())
            .current_dir(self.root())
            .output()
            .expect("run migverify check");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let code = out.status.code().expect("exit code");
        assert!(
            code == 0 || code == 1,
            "migverify check failed to run ({code}):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (code, stdout)
    }
}

/// The concise lines that carry `code`.
fn lines_with<'a>(report: &'a str, code: &str) -> Vec<&'a str> {
    let tag = format!(" {code} [");
    report.lines().filter(|l| l.contains(&tag)).collect()
}

/// The file name Alembic gave a revision.
fn file_of(g: &Graph, rev: &str) -> String {
    g.rev(rev).path.clone()
}

/// base -> r2 -> r3, and r4 spliced onto r2: two heads that share a base.
fn fork(p: &Project) -> [String; 4] {
    let r1 = p.revision("create users", &[]);
    let r2 = p.revision("add email", &[]);
    let r3 = p.revision("add index", &[]);
    let r4 = p.revision("feature branch", &["--head", &r2, "--splice"]);
    [r1, r2, r3, r4]
}

#[test]
fn linear_chain_generic_template() {
    let Some(p) = Project::init("generic") else {
        return;
    };
    let r1 = p.revision("create users", &[]);
    let r2 = p.revision("add email", &[]);
    let r3 = p.revision("add index", &[]);

    let g = p.assert_same_graph();
    assert_eq!(g.revisions.len(), 3);
    assert_eq!(g.heads, set(&[&r3]));
    assert_eq!(g.bases, set(&[&r1]));
    assert_eq!(g.rev(&r2).down_revisions, [r1.as_str()]);
    assert_eq!(g.rev(&r3).down_revisions, [r2.as_str()]);
    assert_eq!(g.rev(&r2).message, "add email");

    let (code, report) = p.check(&[]);
    assert_eq!(code, 0, "a linear chain has no error:\n{report}");
    assert!(lines_with(&report, "MV006").is_empty(), "{report}");
    assert!(lines_with(&report, "MV007").is_empty(), "{report}");
    assert!(lines_with(&report, "MV009").is_empty(), "{report}");
    // Alembic generates `pass` bodies: every file has an empty upgrade (a warning).
    assert_eq!(lines_with(&report, "MV005").len(), 3, "{report}");
    let (code, _) = p.check(&["--fail-on", "warning"]);
    assert_eq!(code, 1);
}

#[test]
fn custom_rev_ids() {
    let Some(p) = Project::init("generic") else {
        return;
    };
    p.revision("initial", &["--rev-id", "0001_initial"]);
    p.revision("add users", &["--rev-id", "0002_add_users"]);
    p.revision("three", &["--rev-id", "003"]);
    p.revision("dotted", &["--rev-id", "v1.4"]);

    let g = p.assert_same_graph();
    assert_eq!(
        g.revisions.keys().collect::<Vec<_>>(),
        ["0001_initial", "0002_add_users", "003", "v1.4"]
    );
    assert_eq!(g.rev("003").down_revisions, ["0002_add_users"]);
    assert_eq!(
        g.rev("0001_initial").path,
        "alembic/versions/0001_initial_initial.py"
    );
    assert_eq!(g.heads, set(&["v1.4"]));
    assert_eq!(g.bases, set(&["0001_initial"]));

    let (code, report) = p.check(&[]);
    assert_eq!(code, 0, "{report}");
    assert!(lines_with(&report, "MV009").is_empty(), "{report}");
}

#[test]
fn fork_with_two_unmerged_heads() {
    assert_unmerged_fork_reported("generic");
}

#[test]
fn pyproject_template_fork_is_an_error() {
    assert_unmerged_fork_reported("pyproject");
}

/// A fork from `fork()`: same graph as Alembic, and one MV006, at one head file,
/// naming both heads and the branch point; exit 1.
fn assert_unmerged_fork_reported(template: &str) {
    let Some(p) = Project::init(template) else {
        return;
    };
    let [r1, r2, r3, r4] = fork(&p);

    let g = p.assert_same_graph();
    assert_eq!(g.heads, set(&[&r3, &r4]));
    assert_eq!(g.bases, set(&[&r1]));
    assert_eq!(g.rev(&r4).down_revisions, [r2.as_str()]);

    let (code, report) = p.check(&[]);
    assert_eq!(code, 1, "two unmerged heads are an error:\n{report}");
    let mv006 = lines_with(&report, "MV006");
    assert_eq!(mv006.len(), 1, "one MV006 per fork:\n{report}");
    assert!(
        [&r3, &r4]
            .iter()
            .any(|head| mv006[0].starts_with(&file_of(&g, head))),
        "MV006 is at a head file:\n{report}"
    );
    for line in &mv006 {
        assert!(line.contains(&r3) && line.contains(&r4), "{line}");
        assert!(line.contains(&r2), "names the branch point {r2}: {line}");
    }
}

#[test]
fn merge_joins_the_fork() {
    let Some(p) = Project::init("generic") else {
        return;
    };
    let [r1, _r2, r3, r4] = fork(&p);
    let m = p.generate("merge", "merge feature", &["heads"]);

    let g = p.assert_same_graph();
    assert_eq!(g.heads, set(&[&m]));
    assert_eq!(g.bases, set(&[&r1]));
    let parents: BTreeSet<String> = g.rev(&m).down_revisions.iter().cloned().collect();
    assert_eq!(parents, set(&[&r3, &r4]));
    assert_eq!(g.rev(&m).message, "merge feature");

    let (code, report) = p.check(&[]);
    assert_eq!(code, 0, "the merge resolves the fork:\n{report}");
    assert!(lines_with(&report, "MV006").is_empty(), "{report}");
    // A merge migration is empty by design: MV005 must not fire on it.
    let merge_file = file_of(&g, &m);
    assert!(
        !lines_with(&report, "MV005")
            .iter()
            .any(|l| l.contains(&merge_file)),
        "{report}"
    );
    assert_eq!(lines_with(&report, "MV005").len(), 4, "{report}");
}

#[test]
fn second_labeled_base() {
    let Some(p) = Project::init("generic") else {
        return;
    };
    let r1 = p.revision("create users", &[]);
    let r2 = p.revision("add email", &[]);
    let b1 = p.revision("billing base", &["--head=base", "--branch-label=billing"]);
    let b2 = p.revision("invoices", &["--head=billing@head"]);

    let g = p.assert_same_graph();
    assert_eq!(g.heads, set(&[&r2, &b2]));
    assert_eq!(g.bases, set(&[&r1, &b1]));
    assert_eq!(g.rev(&b1).branch_labels, ["billing"]);
    assert!(g.rev(&b1).down_revisions.is_empty());
    assert_eq!(g.rev(&b2).down_revisions, [b1.as_str()]);
    // Only b1 declares the label; Alembic applies it to b2 too (graph JSON:
    // `branch_labels` as declared, `effective_labels` as Alembic extends them).
    assert!(g.rev(&b2).branch_labels.is_empty());
    assert_eq!(g.effective_labels[&b2], set(&["billing"]));

    let (code, report) = p.check(&[]);
    // Two heads from two bases: not a fork (no MV006), but the main base carries
    // no label, so MV010 (a warning) fires once per unlabeled base.
    assert_eq!(code, 0, "{report}");
    assert!(lines_with(&report, "MV006").is_empty(), "{report}");
    let mv010 = lines_with(&report, "MV010");
    assert!(!mv010.is_empty(), "{report}");
    let (code, _) = p.check(&["--fail-on", "warning"]);
    assert_eq!(code, 1);
}

#[test]
fn every_base_labeled() {
    let Some(p) = Project::init("generic") else {
        return;
    };
    let r1 = p.revision("create users", &["--branch-label=main"]);
    let r2 = p.revision("add email", &["--head=main@head"]);
    let b1 = p.revision("billing base", &["--head=base", "--branch-label=billing"]);
    let b2 = p.revision("invoices", &["--head=billing@head"]);

    let g = p.assert_same_graph();
    assert_eq!(g.heads, set(&[&r2, &b2]));
    assert_eq!(g.bases, set(&[&r1, &b1]));
    assert_eq!(g.rev(&r1).branch_labels, ["main"]);

    let (code, report) = p.check(&[]);
    assert_eq!(code, 0, "{report}");
    assert!(lines_with(&report, "MV006").is_empty(), "{report}");
    assert!(lines_with(&report, "MV010").is_empty(), "{report}");
}

#[test]
fn depends_on_revision_and_label() {
    let Some(p) = Project::init("generic") else {
        return;
    };
    let r1 = p.revision("create users", &[]);
    let r2 = p.revision("add email", &[]);
    let b1 = p.revision("billing base", &["--head=base", "--branch-label=billing"]);
    let b2 = p.revision("invoices", &["--head=billing@head"]);
    // A partial id: Alembic resolves it and writes the full one.
    let r3 = p.revision("needs billing", &["--head", &r2, "--depends-on", &b1[..6]]);
    // A branch label: Alembic keeps the label as written.
    let r4 = p.revision(
        "needs billing head",
        &["--head", &r3, "--depends-on", "billing"],
    );
    // Several, repeated `--depends-on`: kept in the order given.
    let r5 = p.revision(
        "two dependencies",
        &["--head", &r4, "--depends-on", &b2, "--depends-on", &r1],
    );

    let g = p.assert_same_graph();
    assert_eq!(g.rev(&r3).depends_on, [b1.as_str()]);
    assert_eq!(g.rev(&r3).down_revisions, [r2.as_str()]);
    assert_eq!(g.rev(&r4).depends_on, ["billing"]);
    assert_eq!(g.rev(&r5).depends_on, [b2.as_str(), r1.as_str()]);
    // depends_on does not make its target a non-head: b2 stays one.
    assert_eq!(g.heads, set(&[&r5, &b2]));

    let (code, report) = p.check(&[]);
    assert_eq!(code, 0, "{report}");
    assert!(
        lines_with(&report, "MV007").is_empty(),
        "a label in depends_on resolves:\n{report}"
    );
    assert!(lines_with(&report, "MV006").is_empty(), "{report}");
}

#[test]
fn messages_as_alembic_reads_them() {
    let Some(p) = Project::init("generic") else {
        return;
    };
    let messages = [
        "add \"quoted\" column",
        "café ☕ naïve",
        "first paragraph\n\nsecond paragraph",
        "two\nlines",
        // Written raw into a docstring, so Python reads `\t` and `\n` as escapes.
        r"path C:\temp\new",
        "  padded  ",
    ];
    let revs: Vec<String> = messages.iter().map(|m| p.revision(m, &[])).collect();

    let g = p.assert_same_graph();
    assert_eq!(g.rev(&revs[0]).message, "add \"quoted\" column");
    assert_eq!(g.rev(&revs[2]).message, "first paragraph");
    assert_eq!(g.rev(&revs[4]).message, "path C:\temp\new");
    assert_eq!(g.rev(&revs[5]).message, "padded  ");
}

#[test]
fn pyproject_template_with_branches_merge_and_labels() {
    let Some(p) = Project::init("pyproject") else {
        return;
    };
    assert!(p.root().join("pyproject.toml").is_file());
    let [r1, r2, r3, r4] = fork(&p);
    let m = p.generate("merge", "merge feature", &["heads"]);
    let b1 = p.revision(
        "audit base",
        &[
            "--head=base",
            "--branch-label=audit",
            "--rev-id",
            "0001_audit",
        ],
    );
    let last = p.revision("after merge", &["--head", &m, "--depends-on", "audit"]);

    let g = p.assert_same_graph();
    assert_eq!(g.revisions.len(), 7);
    assert_eq!(g.heads, set(&[&last, &b1]));
    assert_eq!(g.bases, set(&[&r1, &b1]));
    assert_eq!(g.rev(&r4).down_revisions, [r2.as_str()]);
    assert_eq!(g.rev(&last).depends_on, ["audit"]);
    let parents: BTreeSet<String> = g.rev(&m).down_revisions.iter().cloned().collect();
    assert_eq!(parents, set(&[&r3, &r4]));

    let (code, report) = p.check(&[]);
    assert_eq!(code, 0, "{report}");
    assert!(lines_with(&report, "MV006").is_empty(), "{report}");
    assert!(lines_with(&report, "MV007").is_empty(), "{report}");
    assert!(lines_with(&report, "MV009").is_empty(), "{report}");
}

#[test]
fn package_init_files_are_not_migrations() {
    let Some(p) = Project::init_with(&["--package"]) else {
        return;
    };
    assert!(p.versions().join("__init__.py").is_file());
    let r1 = p.revision("create users", &[]);
    let r2 = p.revision("add email", &[]);

    let g = p.assert_same_graph();
    assert_eq!(g.revisions.len(), 2);
    assert_eq!(g.heads, set(&[&r2]));
    assert_eq!(g.bases, set(&[&r1]));
    let (code, report) = p.check(&[]);
    assert_eq!(code, 0, "{report}");
    assert!(!report.contains("__init__"), "{report}");
}

/// Alembic's date-based layout: `file_template` with subdirectories, read back because
/// `recursive_version_locations = true`; migverify is given the project root and must
/// find the versions through `alembic.ini`.
#[test]
fn recursive_version_locations_from_project_root() {
    let Some(p) = Project::init("generic") else {
        return;
    };
    let ini = p.root().join("alembic.ini");
    let text = std::fs::read_to_string(&ini).expect("alembic.ini");
    let text = text.replacen(
        "[alembic]\n",
        "[alembic]\nfile_template = %%(year)d/%%(month).2d/%%(rev)s_%%(slug)s\n\
         recursive_version_locations = true\n",
        1,
    );
    std::fs::write(&ini, text).expect("write alembic.ini");
    p.revision("create users", &["--rev-id", "r1"]);
    p.revision("add email", &["--rev-id", "r2"]);
    p.revision("feature", &["--rev-id", "r3", "--head", "r1", "--splice"]);

    let g = p.alembic_graph(&p.versions());
    assert!(
        g.revisions
            .values()
            .all(|r| r.path.matches('/').count() == 2),
        "Alembic wrote year/month subdirectories: {g:#?}"
    );
    let g = p.assert_same_graph_at(p.root());
    assert_eq!(g.heads, set(&["r2", "r3"]));
}

/// Histories Alembic refuses to load, which only a migverify addition to the rule
/// catalog reports: a branch label used twice (MV013) and a cycle a `depends_on`
/// closes (MV008).
#[test]
fn histories_alembic_refuses_are_errors() {
    let Some(p) = Project::init("generic") else {
        return;
    };
    p.revision(
        "billing",
        &["--rev-id", "b1", "--head=base", "--branch-label=billing"],
    );
    p.revision(
        "reports",
        &["--rev-id", "r1", "--head=base", "--branch-label=reports"],
    );
    p.assert_same_graph();
    let (code, report) = p.check(&[]);
    assert_eq!(code, 0, "{report}");
    assert!(lines_with(&report, "MV013").is_empty() && lines_with(&report, "MV008").is_empty());

    p.edit("r1", "branch_labels", "branch_labels = ('billing',)");
    let refused = p.alembic_refuses();
    assert!(
        refused.contains("Branch name 'billing' in revision"),
        "{refused}"
    );
    let (code, report) = p.check(&[]);
    assert_eq!(code, 1, "{report}");
    // One problem, one diagnostic (the other revision is a related location).
    assert_eq!(lines_with(&report, "MV013").len(), 1, "{report}");
    assert!(
        report.contains("branch label `billing` is declared by 2 revisions"),
        "{report}"
    );

    p.edit("r1", "branch_labels", "branch_labels = ('reports',)");
    p.revision("invoices", &["--rev-id", "b2", "--head=billing@head"]);
    p.edit("b1", "depends_on", "depends_on = 'b2'");
    let refused = p.alembic_refuses();
    assert!(
        refused.contains("Dependency cycle is detected in revisions"),
        "{refused}"
    );
    let (code, report) = p.check(&[]);
    assert_eq!(code, 1, "{report}");
    let cycle = lines_with(&report, "MV008");
    assert_eq!(cycle.len(), 2, "{report}");
    assert!(
        cycle[0].contains("down_revision and depends_on links form a cycle"),
        "{report}"
    );
}

// ---------------------------------------------------------------------------
// Identifier values that are not literals (issue 13 item 1), laid out the way
// OpenStack projects lay them out: a helper package with `cli.py` holding the
// branch names, expand/contract branches, names imported, re-exported, joined
// with `+` and assigned to module-level constants. Alembic loads each with the
// helper package on `sys.path` (`prepend_sys_path = .`); migverify must read the
// same graph without importing anything.
// ---------------------------------------------------------------------------

impl Project {
    /// Writes `rel` (relative to the project root), creating its directories.
    fn write(&self, rel: &str, text: &str) {
        let path = self.root().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, text).expect("write");
    }

    /// A migration file in `alembic/versions/NAME.py`: `head` (imports, constants)
    /// then the identifier assignments `ids`, and an upgrade/downgrade that do
    /// something.
    fn migration(&self, name: &str, head: &str, ids: &str) {
        self.write(
            &format!("alembic/versions/{name}.py"),
            &format!(
                "\"\"\"{name}\"\"\"\nfrom alembic import op\nimport sqlalchemy as sa\n{head}\n\n\
                 # revision identifiers, used by Alembic.\n{ids}\n\n\n\
                 def upgrade():\n    op.add_column('t', sa.Column('{name}', sa.Integer()))\n\n\n\
                 def downgrade():\n    op.drop_column('t', '{name}')\n"
            ),
        );
    }

    /// The helper package: `<base>myproj/db/migration/{__init__,cli,names}.py`.
    fn helper_package(&self, base: &str) {
        self.write(&format!("{base}myproj/__init__.py"), "");
        self.write(&format!("{base}myproj/db/__init__.py"), "");
        self.write(
            &format!("{base}myproj/db/migration/__init__.py"),
            "\"\"\"Migration helpers.\"\"\"\nKILO = 'kilo'\nLIBERTY = 'liberty'\n",
        );
        self.write(
            &format!("{base}myproj/db/migration/cli.py"),
            "EXPAND_BRANCH = 'expand'\nCONTRACT_BRANCH = 'contract'\nMIGRATION_BRANCHES = (EXPAND_BRANCH, CONTRACT_BRANCH)\n",
        );
        self.write(
            &format!("{base}myproj/db/migration/names.py"),
            "from .cli import EXPAND_BRANCH as EXPAND\nfrom . import cli\nfrom myproj.db.migration import *\n\nCONTRACT = cli.CONTRACT_BRANCH\n",
        );
    }

    /// kilo -> e1_expand -> e2_expand, kilo -> c1_contract; `merged`: m1 joins them.
    fn expand_contract(&self, merged: bool) {
        self.migration(
            "kilo_initial",
            "",
            "revision = 'kilo'\ndown_revision = None\nbranch_labels = None\ndepends_on = None",
        );
        self.migration(
            "e1_expand",
            "from myproj.db.migration import cli",
            "revision = 'e1_expand'\ndown_revision = 'kilo'\nbranch_labels = (cli.EXPAND_BRANCH,)\ndepends_on = None",
        );
        self.migration(
            "e2_expand",
            "from myproj.db.migration.cli import *\n\nREV = 'e2_' + EXPAND_BRANCH",
            "revision = REV\ndown_revision = 'e1_expand'\nbranch_labels = None\ndepends_on = None",
        );
        self.migration(
            "c1_contract",
            "import myproj.db.migration.names as names\nfrom myproj.db import migration\n\nPREVIOUS = migration.KILO",
            "revision: str = 'c1_' + names.CONTRACT\ndown_revision = PREVIOUS\nbranch_labels = (names.CONTRACT, names.LIBERTY)\ndepends_on = (names.EXPAND,)",
        );
        if merged {
            self.migration(
                "m1_merge",
                "import myproj.db.migration.cli\nfrom myproj.db.migration import names as n",
                "revision = 'm1'\ndown_revision = ('e2_expand', 'c1_' + n.CONTRACT)\nbranch_labels = None\ndepends_on = None",
            );
        }
    }
}

#[test]
fn identifiers_from_a_helper_package_and_constants() {
    let Some(p) = Project::init("generic") else {
        return;
    };
    p.helper_package("");
    p.expand_contract(true);
    let g = p.assert_same_graph();
    assert_eq!(g.rev("e1_expand").branch_labels, ["expand"]);
    assert_eq!(g.rev("c1_contract").branch_labels, ["contract", "liberty"]);
    assert_eq!(g.rev("c1_contract").depends_on, ["expand"]);
    assert_eq!(g.rev("c1_contract").down_revisions, ["kilo"]);
    assert_eq!(g.rev("m1").down_revisions, ["e2_expand", "c1_contract"]);
    assert_eq!(g.heads, set(&["m1"]));

    let (code, report) = p.check(&[]);
    assert_eq!(code, 0, "{report}");
    for rule in ["MV006", "MV007", "MV009", "MV014"] {
        assert!(lines_with(&report, rule).is_empty(), "{rule}:\n{report}");
    }
}

/// The two heads of expand/contract: the same graph (labels, heads, bases) as
/// Alembic, and nothing unresolved or invalid. (Whether the two labeled heads are
/// a fork is MV006's business, not this test's.)
#[test]
fn expand_contract_heads_from_a_helper_package() {
    let Some(p) = Project::init("generic") else {
        return;
    };
    p.helper_package("");
    p.expand_contract(false);
    let g = p.assert_same_graph();
    assert_eq!(g.heads, set(&["e2_expand", "c1_contract"]));
    assert_eq!(g.effective_labels["e2_expand"], set(&["expand"]));
    let (_, report) = p.check(&[]);
    for rule in ["MV007", "MV009", "MV014"] {
        assert!(lines_with(&report, rule).is_empty(), "{rule}:\n{report}");
    }
}

/// Helpers outside the default search roots (`lib/`, on Alembic's `sys.path`
/// through `prepend_sys_path`): unresolved (a warning, MV014, and no error) until
/// `[migrations] python_path` names the directory; then the same graph as Alembic.
#[test]
fn python_path_finds_helpers_elsewhere() {
    let Some(p) = Project::init("generic") else {
        return;
    };
    p.helper_package("lib/");
    p.expand_contract(true);
    let ini = p.root().join("alembic.ini");
    let text = std::fs::read_to_string(&ini).expect("alembic.ini");
    let sep = if text.contains("\npath_separator = os") {
        ":"
    } else {
        " "
    };
    let text = text.replace(
        "\nprepend_sys_path = .\n",
        &format!("\nprepend_sys_path = .{sep}lib\n"),
    );
    std::fs::write(&ini, text).expect("write alembic.ini");

    let (code, report) = p.check(&[]);
    assert_eq!(code, 0, "unresolved values are warnings:\n{report}");
    assert!(!lines_with(&report, "MV014").is_empty(), "{report}");
    for rule in ["MV006", "MV007", "MV009"] {
        assert!(lines_with(&report, rule).is_empty(), "{rule}:\n{report}");
    }

    p.write("migverify.toml", "[migrations]\npython_path = [\"lib\"]\n");
    let g = p.assert_same_graph();
    assert_eq!(g.rev("c1_contract").branch_labels, ["contract", "liberty"]);
    let (code, report) = p.check(&[]);
    assert_eq!(code, 0, "{report}");
    assert!(lines_with(&report, "MV014").is_empty(), "{report}");
}

/// Runs in the project: for every declared branch label, whether
/// `alembic upgrade <label>@head` succeeds on a fresh SQLite database; whether a bare
/// `alembic upgrade head` does; and each revision's `Script.branch_labels`, its
/// `down_revision`s and the heads.
const ALEMBIC_UPGRADES: &str = r#"
import json, os, sys, tempfile
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

def cfg(db):
    c = Config("alembic.ini")
    c.set_main_option("sqlalchemy.url", "sqlite:///" + db)
    return c

script = ScriptDirectory.from_config(Config("alembic.ini"))
tmp = tempfile.mkdtemp()

def upgrade(target, name):
    try:
        command.upgrade(cfg(os.path.join(tmp, name + ".db")), target)
        return None
    except Exception as e:
        return "%s: %s" % (type(e).__name__, e)

def as_list(x):
    if x is None:
        return []
    if isinstance(x, str):
        return [x]
    return list(x)

revisions = {}
labels = []
for s in script.walk_revisions():
    revisions[s.revision] = {
        "down": as_list(s.down_revision),
        "effective": sorted(s.branch_labels),
    }
    labels.extend(s._orig_branch_labels)
print(json.dumps({
    "revisions": revisions,
    "heads": list(script.get_heads()),
    "head": upgrade("head", "head"),
    "labels": {l: upgrade(l + "@head", "label_" + l) for l in labels},
}))
"#;

/// One generated revision: id, `down_revision`s, declared labels, `depends_on`.
#[derive(Clone, Debug)]
struct GenRev {
    rev: String,
    down: Vec<String>,
    labels: Vec<String>,
    depends_on: Vec<String>,
}

fn rv(rev: &str, down: &[&str], labels: &[&str]) -> GenRev {
    GenRev {
        rev: rev.into(),
        down: down.iter().map(|s| s.to_string()).collect(),
        labels: labels.iter().map(|s| s.to_string()).collect(),
        depends_on: Vec::new(),
    }
}

fn py_tuple(items: &[String]) -> String {
    if items.is_empty() {
        return "None".into();
    }
    let quoted: Vec<String> = items.iter().map(|s| format!("'{s}'")).collect();
    format!("({},)", quoted.join(", "))
}

/// Writes `history` into a fresh `alembic init` project (one file per revision,
/// empty `upgrade`/`downgrade`), then checks migverify against Alembic:
/// - `graph --format json` equals `ScriptDirectory`, effective labels included;
/// - for every label, `branches[label].heads` has one head exactly when
///   `alembic upgrade <label>@head` succeeds;
/// - MV006 fires once per group of two or more heads that share an ancestor and
///   carry the same effective labels (Alembic's), and only when a bare
///   `alembic upgrade head` refuses; it is silent when every head has its own
///   labels.
///
/// Returns the number of MV006 diagnostics.
fn check_labeled_history(name: &str, history: &[GenRev]) -> Option<usize> {
    let p = Project::init("generic")?;
    for r in history {
        let text = format!(
            "\"\"\"{rev}\n\nRevision ID: {rev}\n\"\"\"\nfrom alembic import op\n\n\
             revision = '{rev}'\ndown_revision = {down}\nbranch_labels = {labels}\n\
             depends_on = {deps}\n\n\ndef upgrade():\n    pass\n\n\ndef downgrade():\n    pass\n",
            rev = r.rev,
            down = match r.down.len() {
                0 => "None".to_string(),
                1 => format!("'{}'", r.down[0]),
                _ => py_tuple(&r.down),
            },
            labels = py_tuple(&r.labels),
            deps = py_tuple(&r.depends_on),
        );
        std::fs::write(p.versions().join(format!("{}_gen.py", r.rev)), text).expect("write");
    }
    p.assert_same_graph();

    let out = std::process::Command::new(&p.python)
        .args(["-I", "-c", ALEMBIC_UPGRADES])
        .current_dir(p.root())
        .output()
        .expect("run the upgrade snippet");
    assert!(
        out.status.success(),
        "{name}: upgrade snippet failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let alembic: Value = serde_json::from_slice(&out.stdout).expect("snippet JSON");

    let graph = Command::cargo_bin("migverify")
        .expect("migverify binary")
        .args(["graph", "--format", "json"])
        .arg(p.versions())
        .current_dir(p.root())
        .output()
        .expect("run migverify graph");
    let graph: Value = serde_json::from_slice(&graph.stdout).expect("graph JSON");
    for b in graph["branches"].as_array().expect("branches") {
        let label = b["label"].as_str().expect("label");
        let one_head = b["heads"].as_array().expect("heads").len() == 1;
        let upgraded = alembic["labels"][label].is_null();
        assert_eq!(
            one_head, upgraded,
            "{name}: migverify says `{label}` has heads {}; alembic upgrade {label}@head: {}",
            b["heads"], alembic["labels"][label]
        );
    }
    assert_eq!(
        graph["branches"].as_array().expect("branches").len(),
        alembic["labels"].as_object().expect("labels").len(),
        "{name}: the same labels"
    );

    // Alembic's side of MV006: heads grouped by connected history and effective
    // labels.
    let revs = alembic["revisions"].as_object().expect("revisions");
    let mut parent: BTreeMap<String, String> =
        revs.keys().map(|k| (k.clone(), k.clone())).collect();
    fn find(parent: &mut BTreeMap<String, String>, x: &str) -> String {
        let mut root = x.to_string();
        while parent[&root] != root {
            root = parent[&root].clone();
        }
        parent.insert(x.to_string(), root.clone());
        root
    }
    for (id, r) in revs {
        for d in strings(&r["down"]) {
            let (a, b) = (find(&mut parent, id), find(&mut parent, &d));
            parent.insert(a, b);
        }
    }
    let mut groups: BTreeMap<(String, Vec<String>), usize> = BTreeMap::new();
    for h in strings(&alembic["heads"]) {
        let key = (find(&mut parent, &h), strings(&revs[&h]["effective"]));
        *groups.entry(key).or_default() += 1;
    }
    let forks = groups.values().filter(|&&n| n >= 2).count();

    let (_, report) = p.check(&["--select", "MV006"]);
    let mv006 = lines_with(&report, "MV006").len();
    assert_eq!(
        mv006, forks,
        "{name}: MV006 once per fork:\n{report}\n{alembic}"
    );
    if mv006 > 0 {
        assert!(
            !alembic["head"].is_null(),
            "{name}: MV006 fired but alembic upgrade head succeeds:\n{report}"
        );
    }
    if !alembic["head"].is_null() && mv006 == 0 {
        // upgrade head refused: only because the heads are on separately labeled
        // branches (or unconnected histories, MV010's).
        assert!(
            strings(&alembic["heads"]).len() >= 2,
            "{name}: {}",
            alembic["head"]
        );
    }
    Some(mv006)
}

/// The layouts issue 13 names, checked against Alembic upgrading a SQLite database.
#[test]
fn labeled_branches_as_alembic_upgrades_them() {
    let cases: Vec<(&str, Vec<GenRev>, usize)> = vec![
        (
            "unlabeled fork",
            vec![
                rv("a0", &[], &[]),
                rv("b1", &["a0"], &[]),
                rv("c1", &["a0"], &[]),
            ],
            1,
        ),
        (
            "expand/contract from one revision",
            vec![
                rv("a0", &[], &[]),
                rv("e1", &["a0"], &["expand"]),
                rv("e2", &["e1"], &[]),
                rv("k1", &["a0"], &["contract"]),
                rv("k2", &["k1"], &[]),
            ],
            0,
        ),
        (
            "a label on one side only",
            vec![
                rv("a0", &[], &[]),
                rv("b1", &["a0"], &["feature"]),
                rv("c1", &["a0"], &[]),
            ],
            0,
        ),
        (
            "a label on one side, deeper in the branch",
            vec![
                rv("a0", &[], &[]),
                rv("b1", &["a0"], &[]),
                rv("b2", &["b1"], &["feature"]),
                rv("c1", &["a0"], &[]),
                rv("c2", &["a0"], &[]),
            ],
            1,
        ),
        (
            "a labeled base that forks",
            vec![
                rv("a0", &[], &["main"]),
                rv("b1", &["a0"], &[]),
                rv("c1", &["a0"], &[]),
            ],
            1,
        ),
        (
            "a label added after the fork",
            vec![
                rv("a0", &[], &["main"]),
                rv("b1", &["a0"], &[]),
                rv("c1", &["a0"], &[]),
                rv("c2", &["c1"], &["feature"]),
            ],
            0,
        ),
        (
            "a merge of labeled branches, then a fork",
            vec![
                rv("a0", &[], &[]),
                rv("e1", &["a0"], &["expand"]),
                rv("k1", &["a0"], &["contract"]),
                rv("m1", &["e1", "k1"], &[]),
                rv("x1", &["m1"], &[]),
                rv("y1", &["m1"], &[]),
            ],
            1,
        ),
        (
            "a merge of labeled branches",
            vec![
                rv("a0", &[], &[]),
                rv("e1", &["a0"], &["expand"]),
                rv("k1", &["a0"], &["contract"]),
                rv("m1", &["e1", "k1"], &[]),
                rv("n1", &["m1"], &["next"]),
            ],
            0,
        ),
        (
            "labeled bases",
            vec![
                rv("a0", &[], &["core"]),
                rv("a1", &["a0"], &[]),
                rv("b0", &[], &["billing"]),
                rv("b1", &["b0"], &[]),
                rv("b2", &["b0"], &[]),
            ],
            1,
        ),
        (
            "a depends_on makes a branch point",
            vec![
                rv("a0", &[], &[]),
                rv("a1", &["a0"], &[]),
                rv("a2", &["a1"], &["tail"]),
                GenRev {
                    depends_on: vec!["a1".into()],
                    ..rv("b0", &[], &["other"])
                },
            ],
            0,
        ),
    ];
    for (name, history, expected) in cases {
        let Some(found) = check_labeled_history(name, &history) else {
            return;
        };
        assert_eq!(found, expected, "{name}");
    }
}

/// Random histories (forks, merges of two heads, labels, `depends_on`), each checked
/// as in `labeled_branches_as_alembic_upgrades_them`.
#[test]
fn generated_labeled_histories_match_alembic() {
    let mut state: u64 = 0x5eed_1313;
    let mut next = |n: u64| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) % n
    };
    for case in 0..24 {
        let size = 3 + next(7) as usize;
        let mut history: Vec<GenRev> = Vec::new();
        let mut heads: Vec<usize> = Vec::new();
        for i in 0..size {
            let rev = format!("r{case}x{i}");
            let roll = next(10);
            let down: Vec<String> = if history.is_empty() || (roll == 0 && i > 1) {
                Vec::new()
            } else if roll <= 2 && heads.len() >= 2 {
                // a merge of two heads
                let a = heads.remove(next(heads.len() as u64) as usize);
                let b = heads.remove(next(heads.len() as u64) as usize);
                vec![history[a].rev.clone(), history[b].rev.clone()]
            } else {
                // on a random earlier revision (a fork when it is not a head)
                let p = next(i as u64) as usize;
                heads.retain(|&h| h != p);
                vec![history[p].rev.clone()]
            };
            let labels = if next(10) < 3 {
                vec![format!("l{case}x{i}")]
            } else {
                Vec::new()
            };
            let depends_on = if i > 1 && next(10) == 0 {
                vec![history[next(i as u64) as usize].rev.clone()]
            } else {
                Vec::new()
            };
            heads.push(i);
            history.push(GenRev {
                rev,
                down,
                labels,
                depends_on,
            });
        }
        if check_labeled_history(&format!("generated history {case}"), &history).is_none() {
            return;
        }
    }
}

/// Prints the revisions (id -> down_revisions) and heads Alembic loads through the
/// ini file named by argv[1] (run from the repository root, as `alembic -c` would).
const ALEMBIC_LOAD: &str = r#"
import json, sys
from alembic.config import Config
from alembic.script import ScriptDirectory
script = ScriptDirectory.from_config(Config(sys.argv[1]))
def as_list(x):
    return [] if x is None else [x] if isinstance(x, str) else list(x)
print(json.dumps({
    "dir": script.dir,
    "revisions": {s.revision: as_list(s.down_revision) for s in script.walk_revisions()},
    "heads": sorted(script.get_heads()),
}))
"#;

/// A repository laid out by hand (no `alembic init`): `files` written below a temp
/// dir, each `(path, content)`.
fn write_tree(files: &[(&str, String)]) -> TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (path, text) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }
    dir
}

fn env_py() -> String {
    "from alembic import context\n".into()
}

fn migration(rev: &str, down: &str) -> String {
    format!(
        "\"\"\"{rev}\"\"\"\nfrom alembic import op\n\nrevision = '{rev}'\ndown_revision = {down}\n\
         branch_labels = None\ndepends_on = None\n\n\ndef upgrade():\n    op.execute('select 1')\n\n\n\
         def downgrade():\n    op.execute('select 1')\n"
    )
}

fn ini(script_location: &str, extra: &str) -> String {
    format!("[alembic]\nscript_location = {script_location}\n{extra}")
}

/// Alembic's view of `ini` (a path relative to `root`), run from `root`.
fn alembic_load(python: &Path, root: &Path, ini: &str) -> Result<Value, String> {
    let out = std::process::Command::new(python)
        .args(["-I", "-c", ALEMBIC_LOAD, ini])
        .current_dir(root)
        .output()
        .expect("run python");
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).expect("JSON"))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// `migverify ARGS` run in `root`: (exit code, stdout, stderr).
fn migverify_in(root: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::cargo_bin("migverify")
        .expect("migverify binary")
        .args(args)
        .current_dir(root)
        .output()
        .expect("run migverify");
    (
        out.status.code().expect("exit code"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// migverify's graph (revisions -> down_revisions, heads) in Alembic's shape.
fn graph_as_alembic(json: &str) -> Value {
    let v: Value = serde_json::from_str(json).expect("graph JSON");
    let mut revisions = serde_json::Map::new();
    for r in v["revisions"].as_array().expect("revisions") {
        revisions.insert(
            r["revision"].as_str().expect("revision").into(),
            r["down_revisions"].clone(),
        );
    }
    let mut heads = strings(&v["heads"]);
    heads.sort();
    serde_json::json!({"revisions": revisions, "heads": heads})
}

/// `script_location = package:path`, flat and `src/` layouts, `alembic.ini` outside
/// and inside the package: Alembic loads each, and `migverify graph` (run where one
/// would run `alembic`) gives the same revisions and heads; `check` passes.
#[test]
fn package_resource_script_locations() {
    let Some(python) = python() else {
        return;
    };
    let history = |prefix: &str| -> Vec<(String, String)> {
        vec![
            (format!("{prefix}/env.py"), env_py()),
            (
                format!("{prefix}/versions/a1_first.py"),
                migration("a1", "None"),
            ),
            (
                format!("{prefix}/versions/a2_second.py"),
                migration("a2", "'a1'"),
            ),
        ]
    };
    // (name, files, the ini as Alembic is pointed at it, migverify's arguments)
    type Layout<'a> = (&'a str, Vec<(String, String)>, &'a str, Vec<&'a str>);
    let layouts: Vec<Layout> = vec![
        (
            "flat, alembic.ini at the root",
            [
                vec![
                    ("alembic.ini".to_string(), ini("myapp.db:migrations", "prepend_sys_path = .\n")),
                    ("myapp/__init__.py".to_string(), String::new()),
                    ("myapp/db/__init__.py".to_string(), String::new()),
                ],
                history("myapp/db/migrations"),
            ]
            .concat(),
            "alembic.ini",
            vec![],
        ),
        (
            "src layout",
            [
                vec![
                    ("alembic.ini".to_string(), ini("myapp.db:migrations", "prepend_sys_path = src\n")),
                    ("src/myapp/__init__.py".to_string(), String::new()),
                    ("src/myapp/db/__init__.py".to_string(), String::new()),
                ],
                history("src/myapp/db/migrations"),
            ]
            .concat(),
            "alembic.ini",
            vec![],
        ),
        (
            "alembic.ini inside the package",
            [
                vec![
                    ("pyproject.toml".to_string(), "[project]\nname = \"myapp\"\n".to_string()),
                    ("myapp/__init__.py".to_string(), String::new()),
                    ("myapp/db/__init__.py".to_string(), String::new()),
                    ("myapp/db/alembic.ini".to_string(), ini("myapp.db:migrations", "prepend_sys_path = .\n")),
                ],
                history("myapp/db/migrations"),
            ]
            .concat(),
            "myapp/db/alembic.ini",
            vec!["myapp/db"],
        ),
        (
            "version_locations as package resources",
            [
                vec![
                    (
                        "alembic.ini".to_string(),
                        ini(
                            "myapp:migrations",
                            "prepend_sys_path = .\nversion_locations = myapp:migrations/versions myapp.plugins:versions\n",
                        ),
                    ),
                    ("myapp/__init__.py".to_string(), String::new()),
                    ("myapp/plugins/__init__.py".to_string(), String::new()),
                    ("myapp/plugins/versions/b1_plugin.py".to_string(), migration("b1", "'a2'")),
                ],
                history("myapp/migrations"),
            ]
            .concat(),
            "alembic.ini",
            vec![],
        ),
    ];
    for (name, files, ini_path, args) in layouts {
        let files: Vec<(&str, String)> =
            files.iter().map(|(p, t)| (p.as_str(), t.clone())).collect();
        let repo = write_tree(&files);
        let alembic = alembic_load(python, repo.path(), ini_path)
            .unwrap_or_else(|e| panic!("{name}: Alembic does not load it:\n{e}"));
        let mut graph_args = vec!["graph", "--format", "json"];
        graph_args.extend(&args);
        let (code, out, err) = migverify_in(repo.path(), &graph_args);
        assert_eq!(code, 0, "{name}: migverify graph failed:\n{err}");
        let ours = graph_as_alembic(&out);
        assert_eq!(ours["revisions"], alembic["revisions"], "{name}");
        assert_eq!(ours["heads"], alembic["heads"], "{name}");
        let mut check_args = vec!["check", "--format", "concise"];
        check_args.extend(&args);
        let (code, out, err) = migverify_in(repo.path(), &check_args);
        assert_eq!(code, 0, "{name}: check:\n{out}\n{err}");
    }
}

/// A `package:path` whose package is nowhere, and a folder that is not there: Alembic
/// refuses both; migverify stops with exit 2 and says what it looked for.
#[test]
fn unresolvable_script_locations_stop_the_run() {
    let Some(python) = python() else {
        return;
    };
    let repo = write_tree(&[
        (
            "alembic.ini",
            ini("nothere.db:migrations", "prepend_sys_path = .\n"),
        ),
        ("other/alembic.ini", ini("%(here)s/missing", "")),
    ]);
    let err = alembic_load(python, repo.path(), "alembic.ini").expect_err("Alembic loads it");
    assert!(err.contains("ModuleNotFoundError"), "{err}");
    let (code, out, err) = migverify_in(repo.path(), &["check"]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("package `nothere.db`"), "{err}");
    assert!(
        err.contains(&repo.path().join("nothere").join("db").display().to_string()),
        "{err}"
    );

    let err = alembic_load(python, &repo.path().join("other"), "alembic.ini").expect_err("loads");
    assert!(err.contains("doesn't exist"), "{err}");
    let (code, out, err) = migverify_in(&repo.path().join("other"), &["check"]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(
        err.contains("missing") && err.contains("which does not"),
        "{err}"
    );
    assert!(!err.contains("dangling symlink"), "{err}");
}

/// A repository with two Alembic environments that reuse the same revision ids, plus
/// environments where none should be looked for (a virtualenv, `node_modules`, a
/// hidden directory): `check` at the root checks each history on its own (no
/// duplicate revisions), names each environment; `--project` picks one; `graph`
/// of each equals what Alembic loads there.
#[test]
fn several_environments_in_one_repository() {
    let Some(python) = python() else {
        return;
    };
    let mut files: Vec<(String, String)> = Vec::new();
    for env in ["core", "tenant", ".venv/lib/x", "node_modules/y", ".hidden"] {
        files.push((format!("{env}/alembic.ini"), ini("%(here)s/migrations", "")));
        files.push((format!("{env}/migrations/env.py"), env_py()));
        files.push((
            format!("{env}/migrations/versions/a1_first.py"),
            migration("a1", "None"),
        ));
        files.push((
            format!("{env}/migrations/versions/a2_second.py"),
            migration("a2", "'a1'"),
        ));
    }
    // The tenant history forks; the skipped ones would have MV006 too.
    for env in ["tenant", ".venv/lib/x", "node_modules/y", ".hidden"] {
        files.push((
            format!("{env}/migrations/versions/b2_fork.py"),
            migration("b2", "'a1'"),
        ));
    }
    files.push(("myvenv/pyvenv.cfg".into(), "home = /usr\n".into()));
    files.push(("myvenv/alembic.ini".into(), ini("%(here)s/nothing", "")));
    let files: Vec<(&str, String)> = files.iter().map(|(p, t)| (p.as_str(), t.clone())).collect();
    let repo = write_tree(&files);
    let root = repo.path();

    for env in ["core", "tenant"] {
        let alembic = alembic_load(python, &root.join(env), "alembic.ini")
            .unwrap_or_else(|e| panic!("Alembic does not load {env}:\n{e}"));
        let (code, out, err) = migverify_in(root, &["graph", "--project", env]);
        assert_eq!(code, 0, "{env}: {err}");
        let ours = graph_as_alembic(&out);
        assert_eq!(ours["revisions"], alembic["revisions"], "{env}");
        assert_eq!(ours["heads"], alembic["heads"], "{env}");
    }
    let (code, _, err) = migverify_in(root, &["graph"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("`core`, `tenant`"), "{err}");

    let (code, out, err) = migverify_in(root, &["check", "--format", "concise"]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        lines_with(&out, "MV001").is_empty(),
        "ids reused across histories:\n{out}"
    );
    let mv006 = lines_with(&out, "MV006");
    assert_eq!(mv006.len(), 1, "{out}");
    assert!(mv006[0].starts_with("tenant/migrations/versions/"), "{out}");
    assert!(mv006[0].contains("[tenant] 2 heads"), "{out}");

    let (_, out, _) = migverify_in(root, &["check", "--format", "human", "--no-color"]);
    assert!(out.contains("Project core (core):"), "{out}");
    assert!(out.contains("Project tenant (tenant):"), "{out}");
    assert!(out.contains("  Head revision(s): a2, b2"), "{out}");

    let (_, out, _) = migverify_in(root, &["check", "--format", "json"]);
    let v: Value = serde_json::from_str(&out).expect("json");
    let names: Vec<&str> = v["status"]["environments"]
        .as_array()
        .expect("environments")
        .iter()
        .map(|e| e["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["core", "tenant"]);

    let (code, out, err) =
        migverify_in(root, &["check", "--project", "core", "--format", "concise"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let (code, out, err) = migverify_in(
        root,
        &["check", "--project", "tenant/", "--format", "concise"],
    );
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        out.contains("MV006 [error] 2 heads"),
        "one project: no name prefix\n{out}"
    );
    let (code, _, err) = migverify_in(root, &["check", "--project", "nope"]);
    assert_eq!(code, 2, "{err}");

    // Inside one environment: that project alone, as before.
    let (code, out, err) = migverify_in(&root.join("core"), &["check", "--format", "concise"]);
    assert_eq!(code, 0, "{out}\n{err}");

    // `[[projects]]` names them.
    std::fs::write(
        root.join("migverify.toml"),
        "[[projects]]\nname = \"main\"\npath = \"core\"\n\n[[projects]]\nname = \"tenants\"\npath = \"tenant\"\n",
    )
    .expect("write");
    let (code, out, err) = migverify_in(root, &["check", "--format", "concise"]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        lines_with(&out, "MV006")[0].contains("[tenants] 2 heads"),
        "{out}"
    );
    let (code, out, err) = migverify_in(root, &["graph", "--project", "main"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(graph_as_alembic(&out)["heads"], serde_json::json!(["a2"]));
    // Inside one of them, still that one alone.
    let (code, out, err) = migverify_in(&root.join("core"), &["check", "--format", "concise"]);
    assert_eq!(code, 0, "{out}\n{err}");
}

/// Flask-Migrate's layout, written by real `flask db init`: `migrations/alembic.ini`
/// with no `script_location` (Flask-Migrate sets it in code), `env.py` and
/// `versions/` beside it, and the application's own `.py` files at the repository
/// root. Run at the root or inside `migrations/`, migverify reads
/// `migrations/versions` and finds the heads `flask db heads` prints; it used to
/// read the root (or `migrations/`) as a directory of migrations and report
/// `app.py`, `manage.py` and `env.py` as invalid migrations (MV009).
#[test]
fn flask_migrate_layout_as_flask_db_init_writes_it() {
    let Some(python) = python() else {
        return;
    };
    let repo = write_tree(&[
        (
            "app.py",
            "from flask import Flask\nfrom flask_migrate import Migrate\n\
             from flask_sqlalchemy import SQLAlchemy\n\napp = Flask(__name__)\n\
             app.config[\"SQLALCHEMY_DATABASE_URI\"] = \"sqlite:///app.db\"\n\
             db = SQLAlchemy(app)\nmigrate = Migrate(app, db)\n"
                .into(),
        ),
        (
            "manage.py",
            "from app import app\n\nif __name__ == \"__main__\":\n    app.run()\n".into(),
        ),
    ]);
    let root = repo.path();
    let flask = |args: &[&str]| -> String {
        let out = std::process::Command::new(python)
            .args(["-m", "flask", "--app", "app", "db"])
            .args(args)
            .current_dir(root)
            .output()
            .expect("run flask");
        assert!(
            out.status.success(),
            "flask db {args:?} (is Flask-Migrate installed? scripts/python-env installs it):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    flask(&["init"]);
    flask(&["revision", "-m", "first", "--rev-id", "a1"]);
    flask(&["revision", "-m", "second", "--rev-id", "a2"]);
    flask(&[
        "revision", "-m", "fork", "--rev-id", "b2", "--head", "a1", "--splice",
    ]);
    let theirs = printed_heads(&flask(&["heads"]));
    assert_eq!(theirs, ["a2", "b2"]);

    for dir in [root.to_path_buf(), root.join("migrations")] {
        let (code, out, err) = migverify_in(&dir, &["graph", "--format", "json"]);
        assert_eq!(code, 0, "{}: {err}", dir.display());
        assert_eq!(
            graph_as_alembic(&out)["heads"],
            serde_json::json!(theirs),
            "{}",
            dir.display()
        );
        let mv006 = the_fork(&dir);
        assert!(mv006.contains("versions/"), "{mv006}");
    }
}

/// One `alembic.ini` for several environments, as Alembic's cookbook shows ("Run
/// Multiple Alembic Environments from one .ini file"): `[alembic]` names no
/// location, `[core]` and `[tenant]` each set `script_location`, and Alembic runs
/// them with `--name`. From the repository root and from the ini's directory,
/// migverify checks each section as an environment, with the heads `alembic --name
/// NAME heads` prints; it used to read the ini's directory as one of migrations and
/// report its other `.py` files (MV009).
#[test]
fn named_ini_sections_are_environments() {
    let Some(python) = python() else {
        return;
    };
    let mut files: Vec<(String, String)> = vec![
        (
            "app/alembic.ini".into(),
            "[alembic]\nfile_template = %%(rev)s_%%(slug)s\n\n[core]\nscript_location = \
             %(here)s/revisions/core\n\n[tenant]\nscript_location = %(here)s/revisions/tenant\n\n\
             [loggers]\nkeys = root\n"
                .into(),
        ),
        ("app/api.py".into(), "def create_app():\n    pass\n".into()),
        ("app/config.py".into(), "DEBUG = False\n".into()),
        ("manage.py".into(), "print('manage')\n".into()),
    ];
    for env in ["core", "tenant"] {
        files.push((format!("app/revisions/{env}/env.py"), env_py()));
        files.push((
            format!("app/revisions/{env}/versions/a1_first.py"),
            migration("a1", "None"),
        ));
        files.push((
            format!("app/revisions/{env}/versions/a2_second.py"),
            migration("a2", "'a1'"),
        ));
    }
    files.push((
        "app/revisions/tenant/versions/b2_fork.py".into(),
        migration("b2", "'a1'"),
    ));
    let files: Vec<(&str, String)> = files.iter().map(|(p, t)| (p.as_str(), t.clone())).collect();
    let repo = write_tree(&files);
    let root = repo.path();

    let alembic_heads = |name: &str| -> Vec<String> {
        let out = std::process::Command::new(python)
            .args(["-m", "alembic", "--name", name, "heads"])
            .current_dir(root.join("app"))
            .output()
            .expect("run alembic");
        assert!(
            out.status.success(),
            "alembic --name {name} heads:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        printed_heads(&String::from_utf8_lossy(&out.stdout))
    };
    let core = alembic_heads("core");
    let tenant = alembic_heads("tenant");
    assert_eq!(core, ["a2"]);
    assert_eq!(tenant, ["a2", "b2"]);

    for (dir, prefix) in [(root.to_path_buf(), "app:"), (root.join("app"), "")] {
        for (name, heads) in [("core", &core), ("tenant", &tenant)] {
            let project = format!("{prefix}{name}");
            let (code, out, err) =
                migverify_in(&dir, &["graph", "--format", "json", "--project", &project]);
            assert_eq!(code, 0, "{project}: {err}");
            assert_eq!(
                graph_as_alembic(&out)["heads"],
                serde_json::json!(heads),
                "{project}"
            );
        }
        let mv006 = the_fork(&dir);
        assert!(
            mv006.contains(&format!("[{prefix}tenant] 2 heads")),
            "{mv006}"
        );
    }
    // A file of one section's history (as an editor or a hook names it) is checked
    // in that history.
    let (code, out, err) = migverify_in(
        root,
        &[
            "check",
            "--no-database",
            "--format",
            "concise",
            "app/revisions/core/versions/a2_second.py",
        ],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let (code, out, err) = migverify_in(
        root,
        &[
            "check",
            "--no-database",
            "--format",
            "concise",
            "app/revisions/tenant/versions/a2_second.py",
        ],
    );
    assert_eq!(code, 1, "{out}\n{err}");
    assert_eq!(lines_with(&out, "MV006").len(), 1, "{out}");
    assert!(lines_with(&out, "MV009").is_empty(), "{out}");
}

/// The revisions `alembic heads` (or `flask db heads`) prints, sorted.
fn printed_heads(stdout: &str) -> Vec<String> {
    let mut heads: Vec<String> = stdout
        .lines()
        .filter_map(|l| l.strip_suffix(" (head)").map(str::to_string))
        .collect();
    heads.sort();
    heads
}

/// `migverify check` run in `dir` (no database): exit 1, no invalid migration, no
/// duplicated revision, and one MV006 line, returned.
fn the_fork(dir: &Path) -> String {
    let (code, out, err) = migverify_in(
        dir,
        &[
            "check",
            "--no-database",
            "--format",
            "concise",
            "--no-cache",
        ],
    );
    assert_eq!(code, 1, "{}: {out}\n{err}", dir.display());
    assert!(
        lines_with(&out, "MV009").is_empty(),
        "{}: {out}",
        dir.display()
    );
    assert!(
        lines_with(&out, "MV001").is_empty(),
        "{}: {out}",
        dir.display()
    );
    let mv006 = lines_with(&out, "MV006");
    assert_eq!(mv006.len(), 1, "{}: {out}", dir.display());
    mv006[0].to_string()
}
