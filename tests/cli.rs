//! The command line as a user meets it: exit codes, `rules`, `explain`, `tree`.
//! Every tree is written into a temp dir by the test itself.

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;
use tempfile::TempDir;

fn migverify() -> Command {
    let mut cmd = Command::cargo_bin("migverify").expect("migverify binary");
    cmd.env("NO_COLOR", "1");
    cmd
}

/// A migration file as Alembic's generic template writes it.
fn migration(revision: &str, down: Option<&str>, upgrade: &str, downgrade: &str) -> String {
    let down = match down {
        Some(d) => format!("'{d}'"),
        None => "None".to_string(),
    };
    format!(
        r#""""migration {revision}

Revision ID: {revision}
Create Date: 2024-01-01 00:00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

revision: str = '{revision}'
down_revision: Union[str, Sequence[str], None] = {down}
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    {upgrade}


def downgrade() -> None:
    {downgrade}
"#
    )
}

const CREATE: &str = "op.create_table('users', sa.Column('id', sa.Integer(), primary_key=True))";
const DROP: &str = "op.drop_table('users')";
const ADD: &str = "op.add_column('users', sa.Column('email', sa.String()))";
const DROP_COL: &str = "op.drop_column('users', 'email')";

fn tree(files: &[(&str, String)]) -> TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("write fixture");
    }
    dir
}

/// Two migrations, each reversible: nothing to report.
fn clean_tree() -> TempDir {
    tree(&[
        ("a1_create.py", migration("a1", None, CREATE, DROP)),
        ("b2_email.py", migration("b2", Some("a1"), ADD, DROP_COL)),
    ])
}

/// The second migration's downgrade is `pass`: MV003 (a warning) and nothing else.
fn warning_tree() -> TempDir {
    tree(&[
        ("a1_create.py", migration("a1", None, CREATE, DROP)),
        ("b2_email.py", migration("b2", Some("a1"), ADD, "pass")),
    ])
}

/// `down_revision` names a revision no file declares: MV007 (an error).
fn error_tree() -> TempDir {
    tree(&[
        ("a1_create.py", migration("a1", None, CREATE, DROP)),
        ("b2_email.py", migration("b2", Some("zz"), ADD, DROP_COL)),
    ])
}

fn check(dir: &Path) -> Command {
    let mut cmd = migverify();
    cmd.args(["check", "--format", "concise"]).arg(dir);
    cmd
}

#[test]
fn clean_tree_exits_0_with_no_diagnostics() {
    let dir = clean_tree();
    check(dir.path())
        .assert()
        .code(0)
        .stdout(predicate::str::contains("MV0").not());
}

#[test]
fn error_exits_1() {
    let dir = error_tree();
    check(dir.path()).assert().code(1).stdout(
        predicate::str::contains("b2_email.py").and(predicate::str::contains(" MV007 [error]")),
    );
}

#[test]
fn fail_on_never_exits_0_but_still_reports() {
    let dir = error_tree();
    check(dir.path())
        .args(["--fail-on", "never"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(" MV007 [error]"));
}

#[test]
fn warning_only_tree_passes_by_default_and_fails_on_warning() {
    let dir = warning_tree();
    check(dir.path()).assert().code(0).stdout(
        predicate::str::contains(" MV003 [warning]").and(predicate::str::contains("[error]").not()),
    );
    check(dir.path())
        .args(["--fail-on", "warning"])
        .assert()
        .code(1);
    check(dir.path())
        .args(["--fail-on", "error"])
        .assert()
        .code(0);
}

#[test]
fn missing_path_exits_2_with_a_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no-such-dir");
    check(&missing)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no-such-dir"));
}

#[test]
fn output_file_gets_the_report() {
    let dir = error_tree();
    let out = dir.path().join("report.txt");
    migverify()
        .args(["check", "--format", "concise", "-o"])
        .arg(&out)
        .arg(dir.path())
        .assert()
        .code(1)
        .stdout(predicate::str::is_empty());
    let report = std::fs::read_to_string(&out).expect("report written");
    let codes: Vec<&str> = report
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    assert_eq!(codes, ["MV007"], "{report}");
}

#[test]
fn explain_unknown_rule_exits_2_and_suggests() {
    migverify()
        .args(["explain", "MV03"])
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty())
        .stderr(
            predicate::str::contains("unknown rule")
                .and(predicate::str::contains("did you mean"))
                .and(predicate::str::contains("MV003")),
        );
    migverify()
        .args(["explain", "empty-downgrad"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("did you mean `empty-downgrade`"));
}

#[test]
fn rules_lists_every_code() {
    let out = migverify().arg("rules").assert().code(0);
    let text = String::from_utf8(out.get_output().stdout.clone()).expect("utf-8");
    let codes: Vec<&str> = text
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let expected: Vec<String> = migverify::rules::Registry::builtin()
        .rules()
        .iter()
        .map(|r| r.meta().code.to_string())
        .collect();
    assert_eq!(codes, expected, "{text}");
    // The catalog's rules are all there.
    for n in (1..=12).chain(101..=103).chain(201..=204).chain(301..=309) {
        assert!(
            codes.contains(&format!("MV{n:03}").as_str()),
            "MV{n:03}: {text}"
        );
    }
    for (code, name, default) in [
        ("MV003", "empty-downgrade", "warning"),
        ("MV006", "multiple-heads", "error"),
        ("MV011", "irreversible-downgrade", "info"),
        ("MV012", "unused-suppression", "off"),
        ("MV301", "drop-table", "off"),
    ] {
        let line = text
            .lines()
            .find(|l| l.starts_with(code))
            .expect("rule line");
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(&cols[..3], [code, name, default], "{line}");
    }
}

#[test]
fn rules_json_lists_every_code() {
    let out = migverify().args(["rules", "--json"]).assert().code(0);
    let list: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).expect("JSON");
    let codes: Vec<&str> = list
        .as_array()
        .expect("array")
        .iter()
        .map(|r| r["code"].as_str().expect("code"))
        .collect();
    let registry: Vec<String> = migverify::rules::Registry::builtin()
        .rules()
        .iter()
        .map(|r| r.meta().code.to_string())
        .collect();
    assert_eq!(codes, registry);
    assert_eq!(codes.first(), Some(&"MV001"));
}

#[test]
fn explain_by_code_and_by_name_print_the_same_doc() {
    let by_code = migverify().args(["explain", "MV003"]).assert().code(0);
    let by_code = String::from_utf8(by_code.get_output().stdout.clone()).expect("utf-8");
    assert!(by_code.contains("MV003"), "{by_code}");
    assert!(by_code.contains("empty-downgrade"), "{by_code}");
    assert!(by_code.contains("downgrade()"), "{by_code}");
    assert!(by_code.lines().count() > 5, "a real document:\n{by_code}");

    let by_name = migverify()
        .args(["explain", "empty-downgrade"])
        .assert()
        .code(0);
    let by_name = String::from_utf8(by_name.get_output().stdout.clone()).expect("utf-8");
    assert_eq!(by_code, by_name);
}

#[test]
fn bundled_example_reports_its_fork() {
    let versions = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/shop/alembic/versions");
    check(&versions)
        .arg("--no-cache")
        .assert()
        .code(1)
        .stdout(predicate::str::contains(" MV006 [error]"));
    check(&versions)
        .args(["--fail-on", "never"])
        .assert()
        .code(0);
}

#[test]
fn tree_prints_the_syntax_tree_of_a_file_or_stdin() {
    let dir = error_tree();
    let file = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "py"))
        .unwrap();
    let out = migverify().arg("tree").arg(&file).assert().code(0);
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(text.starts_with("(module 1:1-"), "{text}");
    assert!(
        text.contains("name: (identifier ") && text.contains("\"upgrade\")"),
        "{text}"
    );

    let out = migverify()
        .args(["tree", "-", "--all"])
        .write_stdin("x = (\n")
        .assert()
        .code(0);
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(
        text.contains("(ERROR 1:") || text.contains("MISSING"),
        "{text}"
    );
    assert!(text.contains("(\"=\" 1:3-1:4)"), "{text}");

    let out = migverify().args(["tree", "no/such.py"]).assert().code(2);
    let err = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(err.contains("cannot read no/such.py"), "{err}");
}
