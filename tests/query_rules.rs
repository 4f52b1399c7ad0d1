//! A project's own query rules, end to end: one inline in `migverify.toml`
//! (`[[rules.custom]]`), one from a rule directory (`[rules] dirs`), through
//! `check` in every output format, `rules`, `explain`, the selection flags,
//! suppressions and per-file ignores; and every kind of broken rule as a miette
//! error pointing at the place, exit 2.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use migverify::Error;
use migverify::cli::RuleSelection;
use migverify::project::discover_from;
use migverify::rules::Registry;
use tempfile::TempDir;

fn migverify(cwd: &Path) -> Command {
    let mut cmd = Command::cargo_bin("migverify").expect("migverify binary");
    cmd.env("NO_COLOR", "1")
        .env_remove("MIGVERIFY_CACHE_DIR")
        .current_dir(cwd);
    cmd
}

fn write(root: &Path, rel: &str, text: &str) -> PathBuf {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, text).unwrap();
    p
}

fn migration(revision: &str, down: Option<&str>, upgrade: &str, downgrade: &str) -> String {
    let down = down.map_or("None".to_string(), |d| format!("\"{d}\""));
    format!(
        "\"\"\"{revision}\n\nRevision ID: {revision}\n\"\"\"\nfrom alembic import op\nimport sqlalchemy as sa\n\n\
         revision = \"{revision}\"\ndown_revision = {down}\nbranch_labels = None\ndepends_on = None\n\n\n\
         def upgrade() -> None:\n{upgrade}\n\n\ndef downgrade() -> None:\n{downgrade}\n"
    )
}

const CONFIG: &str = r#"[migrations]
version_locations = ["versions"]

[rules]
dirs = ["lint/migrations"]

[[rules.custom]]
code = "TEAM001"
name = "require-schema"
summary = "Operations that name a table must name its schema"
severity = "error"
scope = "upgrade"
message = "`op.{method}` without `schema=`: every table of this project lives in a named schema"
help = "pass `schema=\"app\"`"
query = '''
((call
   function: (attribute object: (identifier) @_op attribute: (identifier) @method)) @call
 (#eq? @_op "op")
 (#any-of? @method "create_table" "add_column" "drop_column")
 (#is-op? @call)
 (#not-has-kwarg? @call "schema"))
'''

[per-file-ignores]
"versions/c3_*.py" = ["require-schema"]
"#;

const DIR_RULE: &str = r#"code = "TEAM002"
name = "no-recreate-always"
summary = "`batch_alter_table(recreate=\"always\")` copies the whole table"
url = "https://wiki.example.com/migrations#TEAM002"
message = "`batch_alter_table({table}, recreate=\"always\")` copies every row of `{table}`"
docs = '''
## What it does
Reports `op.batch_alter_table(..., recreate="always")`.
'''
"#;

const DIR_QUERY: &str = r#"; op.batch_alter_table(<table>, recreate="always")
((call
   function: (attribute object: (identifier) @_op attribute: (identifier) @_method)
   arguments: (argument_list . (_) @table)) @call
 (#eq? @_op "op")
 (#eq? @_method "batch_alter_table")
 (#kwarg-eq? @call "recreate" "always"))
"#;

/// A project whose config defines TEAM001 inline and whose `lint/migrations`
/// holds TEAM002 (`.toml` + `.scm`).
fn project() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "migverify.toml", CONFIG);
    write(
        root,
        "lint/migrations/TEAM002-no-recreate-always.toml",
        DIR_RULE,
    );
    write(
        root,
        "lint/migrations/TEAM002-no-recreate-always.scm",
        DIR_QUERY,
    );
    write(
        root,
        "versions/a1_users.py",
        &migration(
            "a1",
            None,
            "    op.create_table(\"users\", sa.Column(\"id\", sa.Integer(), primary_key=True))\n    op.create_table(\"roles\", sa.Column(\"id\", sa.Integer(), primary_key=True), schema=\"app\")",
            "    op.drop_table(\"roles\", schema=\"app\")\n    op.drop_table(\"users\")",
        ),
    );
    write(
        root,
        "versions/b2_email.py",
        &migration(
            "b2",
            Some("a1"),
            "    with op.batch_alter_table(\"users\", recreate=\"always\") as batch_op:\n        batch_op.add_column(sa.Column(\"email\", sa.String()))\n    op.add_column(\"users\", sa.Column(\"age\", sa.Integer()))  # migverify: ignore[TEAM001]\n    op.create_index(\"ix_users_age\", \"users\", [\"age\"])",
            "    op.drop_column(\"users\", \"age\")\n    op.drop_column(\"users\", \"email\")",
        ),
    );
    write(
        root,
        "versions/c3_phone.py",
        &migration(
            "c3",
            Some("b2"),
            "    op.add_column(\"users\", sa.Column(\"phone\", sa.String()))",
            "    op.drop_column(\"users\", \"phone\")",
        ),
    );
    dir
}

fn stdout(cmd: &mut Command, code: i32) -> String {
    let out = cmd.assert().code(code);
    String::from_utf8(out.get_output().stdout.clone()).unwrap()
}

#[test]
fn both_rules_fire_in_every_format() {
    let dir = project();
    let run = |format: &str| {
        stdout(
            migverify(dir.path()).args(["check", "--no-cache", "--format", format]),
            1,
        )
    };

    let concise = run("concise");
    let lines: Vec<&str> = concise.lines().collect();
    assert_eq!(
        lines,
        [
            "versions/a1_users.py:15:5: TEAM001 [error] `op.create_table` without `schema=`: every table of this project lives in a named schema",
            "versions/b2_email.py:15:10: TEAM002 [warning] `batch_alter_table(users, recreate=\"always\")` copies every row of `users`",
        ],
        "{concise}"
    );

    let human = run("human");
    for needle in [
        "TEAM001 require-schema [error]",
        "TEAM002 no-recreate-always [warning]",
        "pass `schema=\"app\"`",
    ] {
        assert!(human.contains(needle), "human lacks {needle}:\n{human}");
    }

    let json: serde_json::Value = serde_json::from_str(&run("json")).unwrap();
    let codes: Vec<&str> = json["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["TEAM001", "TEAM002"], "{json}");

    let sarif: serde_json::Value = serde_json::from_str(&run("sarif")).unwrap();
    let run0 = &sarif["runs"][0];
    let rules = run0["tool"]["driver"]["rules"].as_array().unwrap();
    let team = |id: &str| {
        rules
            .iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("no {id} in rules[]: {rules:?}"))
    };
    assert_eq!(team("TEAM001")["name"], "require-schema");
    assert!(team("TEAM001").get("helpUri").is_none());
    assert_eq!(
        team("TEAM002")["helpUri"],
        "https://wiki.example.com/migrations#TEAM002"
    );
    assert!(
        team("TEAM002")["help"]["markdown"]
            .as_str()
            .unwrap()
            .contains("## What it does"),
    );
    let results: Vec<&str> = run0["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["ruleId"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["TEAM001", "TEAM002"]);

    let github = run("github");
    assert!(
        github.contains("::error file=versions/a1_users.py,line=15")
            && github.contains("TEAM001")
            && github.contains("::warning file=versions/b2_email.py,line=15")
            && github.contains("TEAM002"),
        "{github}"
    );
}

#[test]
fn selection_severity_and_the_cache_apply_to_them() {
    let dir = project();
    let concise = |args: &[&str], code: i32| {
        stdout(
            migverify(dir.path())
                .args(["check", "--format", "concise"])
                .args(args),
            code,
        )
    };
    assert!(!concise(&["--ignore", "TEAM001"], 0).contains("TEAM001"));
    let team = concise(&["--select", "TEAM"], 1);
    assert_eq!(team.lines().count(), 2, "{team}");
    let info = concise(&["--severity", "no-recreate-always=info"], 1);
    assert!(info.contains("TEAM002 [info]"), "{info}");
    // A warm run (nothing parsed) reports the same.
    let cold = concise(&["--select", "ALL"], 1);
    let warm = concise(&["--select", "ALL"], 1);
    assert_eq!(cold, warm);
    assert!(warm.contains("TEAM001") && warm.contains("MV304"), "{warm}");
    // Editing a rule invalidates the cached matches.
    let config = std::fs::read_to_string(dir.path().join("migverify.toml")).unwrap();
    std::fs::write(
        dir.path().join("migverify.toml"),
        config.replace("\"create_table\" ", ""),
    )
    .unwrap();
    let edited = concise(&["--select", "TEAM001"], 0);
    assert!(!edited.contains("TEAM001"), "{edited}");
}

#[test]
fn rules_and_explain_show_them() {
    let dir = project();
    let list = stdout(migverify(dir.path()).arg("rules"), 0);
    let line = |code: &str| {
        list.lines()
            .find(|l| l.starts_with(code))
            .unwrap_or_else(|| panic!("no {code}:\n{list}"))
            .split_whitespace()
            .take(4)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        line("TEAM001"),
        ["TEAM001", "require-schema", "error", "migverify.toml"]
    );
    assert_eq!(
        line("TEAM002"),
        [
            "TEAM002",
            "no-recreate-always",
            "warning",
            "lint/migrations/TEAM002-no-recreate-always.toml"
        ]
    );
    let doc = stdout(
        migverify(dir.path()).args(["explain", "no-recreate-always"]),
        0,
    );
    assert!(doc.starts_with("# TEAM002 no-recreate-always\n"), "{doc}");
    assert!(
        doc.contains("- Source: lint/migrations/TEAM002-no-recreate-always.toml"),
        "{doc}"
    );
    assert!(
        doc.contains("#kwarg-eq? @call \"recreate\" \"always\""),
        "{doc}"
    );
}

// ---------------------------------------------------------------- errors

/// The message, label, help and the text the span points at, of a config error,
/// for a project whose `migverify.toml` is `config` (plus `files`).
fn error_of(config: &str, files: &[(&str, &str)]) -> (String, String, String, String, String) {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "migverify.toml", config);
    write(
        dir.path(),
        "versions/a1.py",
        &migration("a1", None, "    pass", "    pass"),
    );
    for (rel, text) in files {
        write(dir.path(), rel, text);
    }
    let err = discover_from(
        dir.path(),
        &[],
        None,
        &RuleSelection::default(),
        &Registry::builtin(),
    )
    .unwrap_err();
    match err {
        Error::Config {
            message,
            src,
            span,
            label,
            help,
        } => {
            let span = span.expect("a span");
            let text = src.inner()[span.offset()..span.offset() + span.len()].to_string();
            (
                message,
                label,
                help.unwrap_or_default(),
                text,
                src.name().to_string(),
            )
        }
        other => panic!("not a config error: {other:?}"),
    }
}

fn inline(rule: &str) -> String {
    format!("[migrations]\nversion_locations = [\"versions\"]\n\n[[rules.custom]]\n{rule}")
}

const OK_QUERY: &str =
    "query = '((call function: (attribute attribute: (identifier) @method)) @call)'\n";

#[test]
fn query_syntax_and_node_errors_point_into_the_toml_string() {
    let (msg, _, _, text, _) = error_of(
        &inline(
            "code = \"T1\"\nname = \"x\"\nmessage = \"m\"\nquery = '''\n((call\n   function: (attribute attribute: (identifer) @m)) @call)\n'''\n",
        ),
        &[],
    );
    assert!(msg.contains("rule T1 does not compile"), "{msg}");
    assert!(msg.contains("unknown node type `identifer`"), "{msg}");
    assert_eq!(text, "identifer");

    let (msg, _, _, text, _) = error_of(
        &inline(
            "code = \"T1\"\nname = \"x\"\nmessage = \"m\"\nquery = \"(call functon: (identifier))\"\n",
        ),
        &[],
    );
    assert!(msg.contains("unknown field `functon`"), "{msg}");
    assert_eq!(text, "functon");

    // Escapes in a basic string do not shift the span.
    let (msg, _, _, text, _) = error_of(
        &inline(
            "code = \"T1\"\nname = \"x\"\nmessage = \"m\"\nquery = \"((string) @s (#eq? @s \\\"\\\\u\\\") (nope))\"\n",
        ),
        &[],
    );
    assert!(msg.contains("unknown node type `nope`"), "{msg}");
    assert_eq!(text, "nope");

    let (msg, _, _, text, _) = error_of(
        &inline("code = \"T1\"\nname = \"x\"\nmessage = \"m\"\nquery = '((call) @c'\n"),
        &[],
    );
    assert!(msg.contains("invalid query syntax"), "{msg}");
    assert_eq!(text.len(), 1, "one character at the error: {text:?}");
}

#[test]
fn template_location_and_predicate_errors_point_at_them() {
    let (msg, label, _, text, _) = error_of(
        &inline(&format!(
            "code = \"T1\"\nname = \"x\"\nmessage = \"calls {{methd}} here\"\n{OK_QUERY}"
        )),
        &[],
    );
    assert!(
        msg.contains("`{methd}`, which the query does not capture"),
        "{msg}"
    );
    assert!(
        label.contains("{method}") && label.contains("{call}"),
        "{label}"
    );
    assert_eq!(text, "{methd}");

    let (msg, _, _, text, _) = error_of(
        &inline(&format!(
            "code = \"T1\"\nname = \"x\"\nmessage = \"m\"\nlocation = \"callee\"\n{OK_QUERY}"
        )),
        &[],
    );
    assert!(msg.contains("`location` names `@callee`"), "{msg}");
    assert_eq!(text, "\"callee\"");

    let (msg, label, _, text, _) = error_of(
        &inline(
            "code = \"T1\"\nname = \"x\"\nmessage = \"m\"\nquery = '((call) @c (#has-kwargs? @c \"schema\"))'\n",
        ),
        &[],
    );
    assert!(msg.contains("unknown predicate `#has-kwargs?`"), "{msg}");
    assert!(label.contains("#has-kwarg?"), "{label}");
    assert_eq!(text, "#has-kwargs?");

    let (msg, label, _, text, _) = error_of(
        &inline(
            "code = \"T1\"\nname = \"x\"\nmessage = \"m\"\nquery = '((call) @c (#kwarg-eq? @c \"schema\"))'\n",
        ),
        &[],
    );
    assert!(msg.contains("wrong arguments for `#kwarg-eq?`"), "{msg}");
    assert!(
        label.contains("#kwarg-eq? @capture \"name\" \"value\""),
        "{label}"
    );
    assert_eq!(text, "#kwarg-eq?");
}

#[test]
fn codes_and_names_must_be_new_and_well_formed() {
    let rule = |code: &str, name: &str| {
        format!("code = \"{code}\"\nname = \"{name}\"\nmessage = \"m\"\n{OK_QUERY}")
    };
    let (msg, _, _, text, _) = error_of(&inline(&rule("MV301", "x")), &[]);
    assert!(msg.contains("uses migverify's prefix"), "{msg}");
    assert_eq!(text, "\"MV301\"");
    let (msg, _, _, text, _) = error_of(&inline(&rule("team1", "x")), &[]);
    assert!(msg.contains("invalid rule code `team1`"), "{msg}");
    assert_eq!(text, "\"team1\"");
    let (msg, _, _, text, _) = error_of(&inline(&rule("T1", "drop-table")), &[]);
    assert!(
        msg.contains("rule name `drop-table` is already taken by builtin rule MV301"),
        "{msg}"
    );
    assert_eq!(text, "\"drop-table\"");
    let (msg, _, _, text, _) = error_of(&inline(&rule("T1", "No_Caps")), &[]);
    assert!(msg.contains("invalid rule name"), "{msg}");
    assert_eq!(text, "\"No_Caps\"");

    // The same code inline and in a rule directory: the second is pointed at.
    let config = format!(
        "[rules]\ndirs = [\"lint\"]\n\n{}",
        inline(&rule("T1", "first"))
    );
    let (msg, _, help, text, file) =
        error_of(&config, &[("lint/T1-second.toml", &rule("T1", "second"))]);
    assert!(msg.contains("duplicate rule code `T1`"), "{msg}");
    assert!(help.contains("migverify.toml:"), "{help}");
    assert_eq!(text, "\"T1\"");
    assert!(file.ends_with("T1-second.toml"), "{file}");

    // Two inline rules with one name.
    let config = format!(
        "{}\n[[rules.custom]]\n{}",
        inline(&rule("T1", "same")),
        rule("T2", "same")
    );
    let (msg, _, help, text, _) = error_of(&config, &[]);
    assert!(msg.contains("duplicate rule name `same`"), "{msg}");
    assert!(
        help.contains("as T1") && help.contains("migverify.toml:5"),
        "{help}"
    );
    assert_eq!(text, "\"same\"");
    assert_eq!(config.matches("\"same\"").count(), 2);
}

#[test]
fn rules_in_pyproject_work() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "pyproject.toml",
        "[project]\nname = \"app\"\n\n[tool.migverify.migrations]\nversion_locations = [\"versions\"]\n\n[[tool.migverify.rules.custom]]\ncode = \"T1\"\nname = \"no-execute\"\nmessage = \"raw SQL\"\nscope = \"upgrade\"\nquery = '((call function: (attribute attribute: (identifier) @m)) @call (#eq? @m \"execute\") (#is-op? @call))'\n",
    );
    write(
        dir.path(),
        "versions/a1.py",
        &migration("a1", None, "    op.execute(\"SELECT 1\")", "    pass"),
    );
    let out = stdout(
        migverify(dir.path()).args(["check", "--no-cache", "--format", "concise"]),
        0,
    );
    assert!(
        out.contains("versions/a1.py:15:5: T1 [warning] raw SQL"),
        "{out}"
    );
    let list = stdout(migverify(dir.path()).arg("rules"), 0);
    assert!(
        list.lines()
            .any(|l| l.starts_with("T1 ") && l.contains("pyproject.toml")),
        "{list}"
    );
}

#[test]
fn rule_files_and_dirs_errors_point_into_them() {
    let dirs = "[migrations]\nversion_locations = [\"versions\"]\n\n[rules]\ndirs = [\"lint\"]\n";
    // A query error in the `.scm` points into the `.scm`.
    let (msg, _, _, text, file) = error_of(
        dirs,
        &[
            (
                "lint/T9-x.toml",
                "code = \"T9\"\nname = \"x\"\nmessage = \"m\"\n",
            ),
            (
                "lint/T9-x.scm",
                "; a comment\n((call function: (attribute) @f) @c\n (#eq? @f))\n",
            ),
        ],
    );
    assert!(msg.contains("rule T9 does not compile"), "{msg}");
    assert!(file.ends_with("T9-x.scm"), "{file}");
    assert!(!text.is_empty());

    let (msg, _, _, text, file) = error_of(
        dirs,
        &[(
            "lint/T9-x.toml",
            "code = \"T9\"\nname = \"x\"\nmesage = \"m\"\n",
        )],
    );
    assert!(
        msg.contains("invalid rule file: unknown field `mesage`"),
        "{msg}"
    );
    assert_eq!(text, "mesage");
    assert!(file.ends_with("T9-x.toml"), "{file}");

    let (msg, _, _, text, _) = error_of(
        dirs,
        &[(
            "lint/T9-x.toml",
            "code = \"T9\"\nname = \"x\"\nmessage = \"m\"\n",
        )],
    );
    assert!(msg.contains("rule T9 has no query"), "{msg}");
    assert_eq!(text, "\"T9\"");

    let (msg, _, _, text, _) = error_of(dirs, &[("lint/T9-x.scm", "(call) @c\n")]);
    assert!(msg.contains("T9-x.scm has no metadata file"), "{msg}");
    assert_eq!(text, "\"lint\"");

    let (msg, _, _, text, _) = error_of(
        "[migrations]\nversion_locations = [\"versions\"]\n\n[rules]\ndirs = [\"lint/migratoins\"]\n",
        &[],
    );
    assert!(msg.contains("`lint/migratoins` does not exist"), "{msg}");
    assert_eq!(text, "\"lint/migratoins\"");
}

/// What a user sees: the miette report on stderr, exit 2.
#[test]
fn a_broken_rule_exits_2_with_a_pointed_report() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "migverify.toml",
        &inline(&format!(
            "code = \"TEAM001\"\nname = \"require-schema\"\nmessage = \"`op.{{methd}}` without `schema=`\"\n{OK_QUERY}"
        )),
    );
    write(
        dir.path(),
        "versions/a1.py",
        &migration("a1", None, "    pass", "    pass"),
    );
    let out = migverify(dir.path()).arg("check").assert().code(2);
    let stderr = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    let root = dir.path().display().to_string();
    insta::assert_snapshot!(stderr.replace(&root, "[ROOT]"));
}

// ---------------------------------------------------------------- the guide

const WALK_USERS: &str = r#""""create users

Revision ID: 1a2b3c4d5e6f
Revises:
Create Date: 2024-06-03 10:15:42.118263

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "1a2b3c4d5e6f"
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        schema="app",
    )


def downgrade() -> None:
    op.drop_table("users", schema="app")
"#;

const WALK_ORDERS: &str = r#""""add orders

Revision ID: 2b3c4d5e6f7a
Revises: 1a2b3c4d5e6f
Create Date: 2024-06-10 14:02:11.503120

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "2b3c4d5e6f7a"
down_revision: Union[str, Sequence[str], None] = "1a2b3c4d5e6f"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("app.users.id"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.add_column("users", sa.Column("nickname", sa.String(length=50)), schema="app")


def downgrade() -> None:
    op.drop_column("users", "nickname", schema="app")
    op.drop_table("orders")
"#;

const WALK_OK_FIXTURE: &str = "revision = \"a1\"\ndown_revision = None\n\n\ndef upgrade():\n    op.create_table(\"t\", sa.Column(\"id\", sa.Integer()), schema=\"app\")\n    op.add_column(\"t\", sa.Column(\"x\", sa.Integer()), schema=\"app\")\n\n\ndef downgrade():\n    op.drop_column(\"t\", \"x\", schema=\"app\")\n    op.drop_table(\"t\", schema=\"app\")\n";

/// The text between `open` (a line) and the next line `close`, after `after`.
fn block<'a>(doc: &'a str, after: &str, open: &str, close: &str) -> &'a str {
    let from = doc.find(after).unwrap_or_else(|| panic!("no {after:?}")) + after.len();
    let start = doc[from..].find(&format!("{open}\n")).expect("the block") + from + open.len() + 1;
    let end = doc[start..].find(&format!("\n{close}\n")).expect("its end") + start;
    &doc[start..=end]
}

/// docs/writing-rules.md stays true: its rule, on its project, prints what it shows.
#[test]
fn the_writing_rules_walkthrough_prints_what_it_shows() {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/writing-rules.md"),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let shown = |s: String| s.replace(&root.display().to_string(), "/tmp/walk");
    write(
        root,
        "alembic.ini",
        "[alembic]\nscript_location = %(here)s/migrations\nsqlalchemy.url = driver://user:pass@localhost/dbname\n",
    );
    write(
        root,
        "migrations/versions/1a2b3c4d5e6f_create_users.py",
        WALK_USERS,
    );
    write(
        root,
        "migrations/versions/2b3c4d5e6f7a_add_orders.py",
        WALK_ORDERS,
    );
    assert!(doc.contains(
        &WALK_ORDERS[WALK_ORDERS.find("def upgrade").unwrap()
            ..WALK_ORDERS.find("\n\n\ndef downgrade").unwrap()]
    ));
    // Step 1: the tree it shows is `migverify tree`'s.
    let shown_tree = block(&doc, "### 1. Look at the tree", "````console", "````");
    let (command, shown_tree) = shown_tree.split_once('\n').unwrap();
    let snippet = command
        .strip_prefix("$ printf '%s\\n' '")
        .and_then(|c| c.strip_suffix("' | migverify tree -"))
        .unwrap_or_else(|| panic!("{command}"));
    let tree = stdout(
        migverify(root)
            .args(["tree", "-"])
            .write_stdin(format!("{snippet}\n")),
        0,
    );
    assert_eq!(tree, shown_tree, "migverify tree");
    let rule = block(&doc, "### 2. Write the rule", "````toml", "````");
    write(root, "migverify.toml", rule);

    let explain = stdout(migverify(root).args(["explain", "TEAM001"]), 0);
    assert!(
        doc.contains(&format!("$ migverify explain TEAM001\n{explain}````")),
        "explain:\n{explain}"
    );
    let rules = stdout(migverify(root).arg("rules"), 0);
    let team = rules.lines().find(|l| l.starts_with("TEAM001")).unwrap();
    assert!(doc.contains(&format!("...\n{team}\n")), "{team}");
    let check = stdout(migverify(root).arg("check"), 1);
    assert!(
        doc.contains(&format!("$ migverify check\n{check}$ echo $?\n1\n")),
        "check:\n{check}"
    );
    let sarif: serde_json::Value = serde_json::from_str(&stdout(
        migverify(root).args(["check", "--format", "sarif"]),
        1,
    ))
    .unwrap();
    let r = &sarif["runs"][0];
    let d = &r["tool"]["driver"]["rules"][r["results"][0]["ruleIndex"].as_u64().unwrap() as usize];
    for text in [
        &d["shortDescription"]["text"],
        &d["fullDescription"]["text"],
        &r["results"][0]["message"]["text"],
    ] {
        assert!(doc.contains(&format!("\"text\": {text}")), "{text}");
    }

    // The fixtures.
    let fires = block(
        &doc,
        "`lint/fixtures/TEAM001/fires/a1_no_schema.py`:",
        "```python",
        "```",
    );
    write(root, "lint/fixtures/TEAM001/fires/a1_no_schema.py", fires);
    write(
        root,
        "lint/fixtures/TEAM001/ok/a1_schema.py",
        WALK_OK_FIXTURE,
    );
    let args = "check lint/fixtures/TEAM001/fires --select TEAM001 --format concise";
    let out = stdout(migverify(root).args(args.split(' ')), 1);
    assert!(
        doc.contains(&format!("$ migverify {args}\n{out}$ echo $?\n1\n")),
        "{out}"
    );
    let args = "check lint/fixtures/TEAM001/ok --select TEAM001 --format concise";
    let out = stdout(migverify(root).args(args.split(' ')), 0);
    assert!(
        doc.contains(&format!("$ migverify {args}\n{out}$ echo $?\n0\n")),
        "{out}"
    );

    // The mistakes.
    for (from, to) in [
        ("`op.{method}` without", "`op.{methd}` without"),
        ("object: (identifier) @_op", "object: (identifer) @_op"),
    ] {
        write(root, "migverify.toml", &rule.replace(from, to));
        let out = migverify(root).arg("check").assert().code(2);
        let stderr = shown(String::from_utf8(out.get_output().stderr.clone()).unwrap());
        assert!(
            doc.contains(&format!("$ migverify check\n{}\n```", stderr.trim_end())),
            "{stderr}"
        );
    }

    // As files in a rules directory.
    let (meta, query) = rule
        .trim_start_matches("[[rules.custom]]\n")
        .split_once("query = '''\n")
        .unwrap();
    write(root, "lint/rules/TEAM001-require-schema.toml", meta);
    write(
        root,
        "lint/rules/TEAM001-require-schema.scm",
        query.trim_end().trim_end_matches("'''"),
    );
    write(root, "migverify.toml", "[rules]\ndirs = [\"lint/rules\"]\n");
    let rules = stdout(migverify(root).arg("rules"), 0);
    let team = rules.lines().find(|l| l.starts_with("TEAM001")).unwrap();
    assert!(doc.contains(&format!("...\n{team}\n")), "{team}");
    let out = stdout(migverify(root).args(["check", "--format", "concise"]), 1);
    assert!(
        doc.contains(&format!("$ migverify check --format concise\n{out}```")),
        "{out}"
    );
}

#[test]
fn dirs_take_globs_of_directories_and_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "migverify.toml",
        "[migrations]\nversion_locations = [\"versions\"]\n\n[rules]\ndirs = [\"lint/*/rules\", \"lint/b/*.toml\", \"lint/b/T2-y.toml\"]\n",
    );
    write(
        root,
        "versions/a1.py",
        &migration("a1", None, "    pass", "    pass"),
    );
    let rule = |code: &str, name: &str| {
        format!("code = \"{code}\"\nname = \"{name}\"\nmessage = \"m\"\nquery = '(call) @c'\n")
    };
    write(root, "lint/a/rules/T1-x.toml", &rule("T1", "x"));
    write(root, "lint/a/rules/nested/T3-z.toml", &rule("T3", "z"));
    write(root, "lint/b/T2-y.toml", &rule("T2", "y"));
    write(root, "lint/b/notes.md", "not a rule");
    let project = discover_from(
        root,
        &[],
        None,
        &RuleSelection::default(),
        &Registry::builtin(),
    )
    .unwrap();
    let registry = project.registry.expect("the project's registry");
    let own: Vec<(String, String)> = registry
        .rules()
        .iter()
        .map(|r| r.meta())
        .filter(|m| !m.code.starts_with("MV"))
        .map(|m| (m.code.to_string(), m.source.describe()))
        .collect();
    assert_eq!(
        own,
        [
            ("T1".to_string(), "lint/a/rules/T1-x.toml".to_string()),
            (
                "T3".to_string(),
                "lint/a/rules/nested/T3-z.toml".to_string()
            ),
            // Named twice, loaded once.
            ("T2".to_string(), "lint/b/T2-y.toml".to_string()),
        ]
    );
    // Enabled by default, so selected.
    let t1 = registry.find("T1").unwrap();
    assert!(project.settings.enabled.iter().any(|&(i, _)| i == t1));
}
