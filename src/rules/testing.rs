//! Helpers for rule unit tests: run one rule over in-memory migration files.

use std::path::PathBuf;

use super::{Context, Rule};
use crate::db::Snapshot;
use crate::diagnostic::{Finding, Location};
use crate::graph::RevisionGraph;
use crate::migration::{Migration, parse_source};

pub fn migrations(files: &[(&str, &str)]) -> Vec<Migration> {
    let mut ms: Vec<Migration> = files
        .iter()
        .map(|(name, src)| parse_source(PathBuf::from(name), src.as_bytes().to_vec()))
        .collect();
    ms.sort_by(|a, b| a.path.cmp(&b.path));
    crate::migration::resolve::resolve_all(&mut ms, &[], std::path::Path::new("."));
    ms
}

pub fn check(rule: &dyn Rule, files: &[(&str, &str)]) -> Vec<Finding> {
    check_with_db(rule, files, None, None)
}

/// Runs the rule with a database snapshot (and where the database is named).
pub fn check_with_db(
    rule: &dyn Rule,
    files: &[(&str, &str)],
    snapshot: Option<&Snapshot>,
    origin: Option<&Location>,
) -> Vec<Finding> {
    let ms = migrations(files);
    let graph = RevisionGraph::build(&ms);
    let mut out = Vec::new();
    rule.check(
        &Context {
            migrations: &ms,
            graph: &graph,
            snapshot,
            database_origin: origin,
            models: None,
            ignore_tables: &[],
            drift: Default::default(),
        },
        &mut out,
    );
    out
}

/// A SQLite snapshot whose version table holds `revisions` (`None`: no version table).
pub fn snapshot(revisions: Option<&[&str]>) -> Snapshot {
    Snapshot {
        format_version: crate::db::snapshot::FORMAT_VERSION,
        dialect: crate::db::Dialect::Sqlite,
        server_version: "3".into(),
        database: "sqlite:///app.db".into(),
        captured_at: "2026-01-01T00:00:00Z".into(),
        version_table: crate::db::VersionTable {
            name: "alembic_version".into(),
            schema: "main".into(),
            present: revisions.is_some(),
            revisions: revisions
                .unwrap_or_default()
                .iter()
                .map(|r| r.to_string())
                .collect(),
        },
        schemas: vec!["main".into()],
        tables: Vec::new(),
    }
}

/// Asserts the rule is silent on these files.
#[track_caller]
pub fn lint_ok(rule: &dyn Rule, files: &[(&str, &str)]) {
    let found = check(rule, files);
    assert!(
        found.is_empty(),
        "lint_ok: expected no {} findings, got: {:#?}",
        rule.meta().code,
        found.iter().map(|f| &f.message).collect::<Vec<_>>()
    );
}

/// Asserts the rule fires `n` times and returns the findings.
#[track_caller]
pub fn lint_fires(rule: &dyn Rule, files: &[(&str, &str)], n: usize) -> Vec<Finding> {
    let found = check(rule, files);
    assert_eq!(
        found.len(),
        n,
        "lint_fires: expected {n} {} findings, got: {:#?}",
        rule.meta().code,
        found.iter().map(|f| &f.message).collect::<Vec<_>>()
    );
    found
}

/// A minimal migration file.
pub fn mig(rev: &str, down: &str, upgrade: &str, downgrade: &str) -> String {
    format!(
        "\"\"\"{rev}\"\"\"\nfrom alembic import op\n\nrevision = '{rev}'\ndown_revision = {down}\nbranch_labels = None\n\n\ndef upgrade():\n    {upgrade}\n\n\ndef downgrade():\n    {downgrade}\n"
    )
}
