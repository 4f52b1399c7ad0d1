//! The bundled example (`examples/shop`), as the README's first command runs it.
//!
//! The example carries a database state that needs no server: `production.snapshot.json`,
//! what `migverify snapshot` captured from a SQLite database that real Alembic upgraded to
//! `4d5e6f7a8b9c` and that someone then changed by hand (`orders.coupon_code`). So the
//! first command shows the whole job: the history (a fork, an empty downgrade), the
//! database (behind head, with the pending migrations), drift, and the status block.
//!
//! `committed_snapshot_is_what_alembic_produces` rebuilds that database with real Alembic
//! and compares a fresh capture with the committed file (the oracle: the snapshot is not
//! written by hand). `MIGVERIFY_UPDATE_EXAMPLE=1` rewrites the committed file from it.

mod common;

use std::path::{Path, PathBuf};

use common::alembic::{alembic_ok, migverify, python, sql};
use serde_json::Value;

const SNAPSHOT: &str = "production.snapshot.json";

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/shop")
}

fn json_check(dir: &Path, args: &[&str]) -> (i32, Value) {
    let mut all = vec!["check", "--no-cache", "--format", "json"];
    all.extend_from_slice(args);
    let out = migverify(dir, &all);
    let code = out.status.code().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (code, report)
}

fn messages(report: &Value, code: &str) -> Vec<String> {
    report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["code"] == code)
        .map(|d| d["message"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn first_command_shows_history_database_and_drift() {
    let (code, report) = json_check(&example(), &["."]);
    assert_eq!(code, 1, "{report:#}");

    // The history: the fork and the empty downgrade.
    assert!(!messages(&report, "MV006").is_empty(), "{report:#}");
    assert_eq!(messages(&report, "MV003").len(), 1, "{report:#}");

    // The database: behind head, with each pending migration named, and no finding about
    // the version table (it is there and known).
    let behind = messages(&report, "MV101");
    assert_eq!(behind.len(), 1, "{report:#}");
    assert!(
        behind[0].contains("4d5e6f7a8b9c")
            && behind[0].contains("3c4d5e6f7a8b (add customer phone)")
            && behind[0].contains("5e6f7a8b9c0d (drop legacy notes)"),
        "{}",
        behind[0]
    );
    for absent in ["MV102", "MV103", "MV104"] {
        assert!(messages(&report, absent).is_empty(), "{absent}: {report:#}");
    }

    // Drift: the column added by hand, and the model column no migration adds.
    let by_hand = messages(&report, "MV202");
    assert!(
        by_hand.iter().any(|m| m.contains("orders.coupon_code")),
        "{by_hand:?}"
    );
    let unmigrated = messages(&report, "MV203");
    assert!(
        unmigrated
            .iter()
            .any(|m| m.contains("customers.loyalty_points")),
        "{unmigrated:?}"
    );

    // The status block says where the database state comes from.
    let status = report["status"].to_string();
    assert!(status.contains(SNAPSHOT), "{status}");
    assert!(status.contains("4d5e6f7a8b9c"), "{status}");
}

#[test]
fn human_output_has_the_status_block() {
    let out = migverify(&example(), &["check", "--no-cache", "."]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Current revision(s): 4d5e6f7a8b9c"), "{text}");
    assert!(text.contains(SNAPSHOT), "{text}");
    assert!(!text.contains("no database"), "{text}");
}

/// The tables and version table of a snapshot: what the rules read of it.
fn essence(snapshot: &Value) -> Value {
    let mut v = snapshot.clone();
    let obj = v.as_object_mut().unwrap();
    for volatile in ["database", "captured_at", "server_version"] {
        obj.remove(volatile);
    }
    v
}

#[test]
fn committed_snapshot_is_what_alembic_produces() {
    let Some(py) = python() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("shop");
    copy_tree(&example(), &dir);
    let db = dir.join("production.db");
    let url = format!("sqlite:///{}", db.display());
    let ini = dir.join("alembic.ini");
    let text = std::fs::read_to_string(&ini).unwrap();
    let text: String = text
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

    // Production was deployed up to 4d5e6f7a8b9c, then changed by hand.
    alembic_ok(&py, &dir, &["upgrade", "4d5e6f7a8b9c"]);
    sql(
        &py,
        &dir,
        &url,
        "ALTER TABLE orders ADD COLUMN coupon_code VARCHAR(20)",
    );
    let current = alembic_ok(&py, &dir, &["current"]);
    assert!(current.contains("4d5e6f7a8b9c"), "{current}");

    let fresh = dir.join("fresh.json");
    let out = migverify(
        &dir,
        &[
            "snapshot",
            "--database-url",
            &url,
            "-o",
            fresh.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fresh_text = std::fs::read_to_string(&fresh).unwrap();
    let committed_path = example().join(SNAPSHOT);
    if std::env::var("MIGVERIFY_UPDATE_EXAMPLE").is_ok_and(|v| v == "1") {
        std::fs::write(&committed_path, &fresh_text).unwrap();
    }
    let fresh: Value = serde_json::from_str(&fresh_text).unwrap();
    let committed: Value =
        serde_json::from_str(&std::fs::read_to_string(&committed_path).unwrap()).unwrap();
    assert_eq!(
        essence(&committed),
        essence(&fresh),
        "examples/shop/{SNAPSHOT} differs from a fresh capture: \
         rerun with MIGVERIFY_UPDATE_EXAMPLE=1"
    );

    // And the live database gives the same findings as the committed snapshot.
    let (_, live) = json_check(&dir, &[".", "--database-url", &url]);
    let (_, offline) = json_check(&example(), &["."]);
    let codes = |r: &Value| -> Vec<(String, String)> {
        let mut v: Vec<_> = r["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["code"].as_str().unwrap().to_owned(),
                    d["message"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(codes(&live), codes(&offline));
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == ".migverify_cache" || name == "__pycache__" {
            continue;
        }
        let path = entry.path();
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&path, &to.join(&name));
        } else {
            std::fs::copy(&path, to.join(&name)).unwrap();
        }
    }
}
