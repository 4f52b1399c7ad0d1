//! `migverify graph --format dot|mermaid` (and `json`'s `current`), end to end on
//! `tests/fixtures/graph/`: branch labels, a fork and its merge, a `depends_on`, a
//! missing revision, and a snapshot whose version table is at two revisions.
//! Snapshotted; the DOT is also rendered by Graphviz when `dot` is installed.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/graph")
}

fn graph(args: &[&str]) -> String {
    let out = Command::cargo_bin("migverify")
        .unwrap()
        .current_dir(fixture())
        .env_remove("MIGVERIFY_DATABASE_URL")
        .arg("graph")
        .args(args)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn snapshot(name: &str, text: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_snapshot_path("snapshots");
    settings.bind(|| insta::assert_snapshot!(name, text));
}

#[test]
fn dot() {
    snapshot("graph_dot", &graph(&["versions", "--format", "dot"]));
}

#[test]
fn dot_with_current_revisions() {
    snapshot(
        "graph_dot_current",
        &graph(&["versions", "--format", "dot", "--snapshot", "snapshot.json"]),
    );
}

#[test]
fn mermaid_with_current_revisions() {
    snapshot(
        "graph_mermaid_current",
        &graph(&[
            "versions",
            "--format",
            "mermaid",
            "--snapshot",
            "snapshot.json",
        ]),
    );
}

#[test]
fn json_lists_current_only_with_a_database() {
    let without: serde_json::Value =
        serde_json::from_str(&graph(&["versions", "--format", "json"])).unwrap();
    assert!(without.get("current").is_none(), "{without}");
    let with: serde_json::Value = serde_json::from_str(&graph(&[
        "versions",
        "--format",
        "json",
        "--snapshot",
        "snapshot.json",
    ]))
    .unwrap();
    assert_eq!(
        with["current"],
        serde_json::json!(["d4d4d4d4d4d4", "e5e5e5e5e5e5"])
    );
}

#[test]
fn mermaid_marks_each_kind_of_node() {
    let text = graph(&[
        "versions",
        "--format",
        "mermaid",
        "--snapshot",
        "snapshot.json",
    ]);
    assert!(text.starts_with("flowchart TD\n"), "{text}");
    // Quotes and angle brackets in a message cannot break the label.
    assert!(
        text.contains("orphan: #quot;quoted#quot; #lt;message#gt;"),
        "{text}"
    );
    for class in ["head", "current", "missing"] {
        assert!(
            text.lines()
                .any(|l| l.starts_with("  class ") && l.ends_with(&format!(" {class}"))),
            "no `{class}` nodes: {text}"
        );
    }
    assert!(text.contains("-.->|depends on|"), "{text}");
}

#[test]
fn graphviz_renders_the_dot() {
    let Ok(probe) = std::process::Command::new("dot").arg("-V").output() else {
        eprintln!("SKIPPED: Graphviz `dot` is not installed (apt-get install graphviz)");
        return;
    };
    assert!(probe.status.success());
    let dot = graph(&["versions", "--format", "dot", "--snapshot", "snapshot.json"]);
    let mut child = std::process::Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), dot.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "dot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let svg = String::from_utf8(out.stdout).unwrap();
    assert!(
        svg.contains("<svg") && svg.contains("d4d4d4d4d4d4"),
        "{svg}"
    );
}

#[test]
fn a_missing_snapshot_is_an_error() {
    Command::cargo_bin("migverify")
        .unwrap()
        .current_dir(fixture())
        .args([
            "graph",
            "versions",
            "--format",
            "dot",
            "--snapshot",
            "nope.json",
        ])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("nope.json"));
}

/// A live database (SQLite, made with the `sqlite3` CLI when installed): its version
/// table's revision is marked current.
#[test]
fn live_database_marks_its_revision() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("app.db");
    let made = std::process::Command::new("sqlite3")
        .arg(&db)
        .arg(
            "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY); \
             INSERT INTO alembic_version VALUES ('b2b2b2b2b2b2');",
        )
        .status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("SKIPPED: the sqlite3 CLI is not installed");
        return;
    }
    let url = format!("sqlite:///{}", db.display());
    let text = graph(&["versions", "--format", "mermaid", "--database-url", &url]);
    let line = text
        .lines()
        .find(|l| l.contains("b2b2b2b2b2b2"))
        .expect("the revision's node");
    assert!(line.contains("(current)"), "{line}");
    let node = line.trim().split('[').next().unwrap();
    assert!(
        text.contains(&format!("  class {node} current\n")),
        "{text}"
    );
}

/// `graph --format json` paths: relative to the project root for a version location
/// inside it, absolute (never `//` + an absolute path, never `../`) for one outside.
#[test]
fn json_paths_are_relative_inside_the_root_and_absolute_outside() {
    let tmp = tempfile::tempdir().unwrap();
    let base = std::fs::canonicalize(tmp.path()).unwrap();
    let app = base.join("app");
    let shared = base.join("shared/versions");
    std::fs::create_dir_all(app.join("versions")).unwrap();
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::write(
        app.join("migverify.toml"),
        "[migrations]\nversion_locations = [\"versions\", \"../shared/versions\"]\n",
    )
    .unwrap();
    let mig = |rev: &str, down: &str| {
        format!(
            "revision = '{rev}'\ndown_revision = {down}\n\ndef upgrade():\n    op.f()\n\ndef downgrade():\n    op.g()\n"
        )
    };
    std::fs::write(app.join("versions/a1.py"), mig("a1", "None")).unwrap();
    std::fs::write(shared.join("b1.py"), mig("b1", "'a1'")).unwrap();
    let out = Command::cargo_bin("migverify")
        .unwrap()
        .current_dir(&app)
        .env_remove("MIGVERIFY_DATABASE_URL")
        .args(["graph", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut paths: Vec<&str> = json["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    paths.sort_by_key(|p| p.starts_with('/'));
    let outside = shared.join("b1.py");
    assert_eq!(paths, ["versions/a1.py", outside.to_str().unwrap()]);
    assert!(
        paths
            .iter()
            .all(|p| !p.starts_with("//") && !p.contains(".."))
    );
}
