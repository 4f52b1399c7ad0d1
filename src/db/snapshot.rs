//! What rules see of a database: a [`Snapshot`] of its version table and schema,
//! captured live or loaded from a JSON file (`docs/snapshot-format.md`).

use std::fmt;
use std::path::{Path, PathBuf};

use miette::Diagnostic;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The snapshot format this build writes.
pub const FORMAT_VERSION: u32 = 2;

/// The oldest snapshot format this build still reads (format 1 lacks comments and
/// foreign key actions, which are then not compared).
pub const OLDEST_FORMAT_VERSION: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    Postgresql,
    Mysql,
    Mariadb,
    Sqlite,
}

impl Dialect {
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Postgresql => "postgresql",
            Dialect::Mysql => "mysql",
            Dialect::Mariadb => "mariadb",
            Dialect::Sqlite => "sqlite",
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A database's version table and schema at one moment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    /// [`FORMAT_VERSION`] when captured by this build; an older file keeps its own.
    pub format_version: u32,
    pub dialect: Dialect,
    /// As the server reports it (`SHOW server_version`, `VERSION()`, `sqlite_version()`).
    pub server_version: String,
    /// The URL it was captured from, password redacted.
    pub database: String,
    /// RFC 3339 UTC, e.g. `2026-11-24T14:43:53Z`.
    pub captured_at: String,
    pub version_table: VersionTable,
    /// The schemas captured (PostgreSQL `public`, MySQL the database, SQLite `main`).
    pub schemas: Vec<String>,
    /// Every table in those schemas (the version table included), sorted by schema, name.
    pub tables: Vec<Table>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionTable {
    pub name: String,
    pub schema: String,
    /// Whether the table exists.
    pub present: bool,
    /// Its `version_num` values, sorted; empty when absent or empty.
    pub revisions: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Table {
    pub schema: String,
    pub name: String,
    /// In ordinal order.
    pub columns: Vec<Column>,
    /// Primary key columns in key order; empty without a primary key.
    pub primary_key: Vec<String>,
    /// Sorted by columns, then name.
    pub foreign_keys: Vec<ForeignKey>,
    /// Indexes other than the primary key's and unique constraints' own, sorted by name.
    pub indexes: Vec<Index>,
    /// Sorted by columns, then name.
    pub unique_constraints: Vec<UniqueConstraint>,
    /// The table comment (format 2; `None` without one, and on SQLite).
    #[serde(default)]
    pub comment: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Column {
    pub name: String,
    /// The type as the server reports it (`character varying(50)`, `varchar(50)`, `VARCHAR(50)`).
    #[serde(rename = "type")]
    pub type_: String,
    pub nullable: bool,
    /// The default expression as the server reports it; `None` without one.
    pub default: Option<String>,
    /// The column comment (format 2; `None` without one, and on SQLite).
    #[serde(default)]
    pub comment: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForeignKey {
    /// The constraint name; `None` where the server keeps none (SQLite).
    pub name: Option<String>,
    pub columns: Vec<String>,
    pub referred_schema: String,
    pub referred_table: String,
    pub referred_columns: Vec<String>,
    /// `ON DELETE` as the server reports it (`CASCADE`, `NO ACTION`, ...); format 2.
    #[serde(default)]
    pub on_delete: Option<String>,
    /// `ON UPDATE`, likewise.
    #[serde(default)]
    pub on_update: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Index {
    pub name: String,
    /// Column names, or expression text for expression indexes.
    pub columns: Vec<String>,
    pub unique: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UniqueConstraint {
    /// `None` where the server keeps none (SQLite).
    pub name: Option<String>,
    pub columns: Vec<String>,
}

/// A snapshot file that cannot be used.
#[derive(Debug, Error, Diagnostic)]
pub enum SnapshotError {
    #[error("cannot read snapshot {}: {source}", path.display())]
    #[diagnostic(code(migverify::snapshot::io))]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{} is not a valid snapshot: {message}", path.display())]
    #[diagnostic(
        code(migverify::snapshot::invalid),
        help("write one with `migverify snapshot`; the format is in docs/snapshot-format.md")
    )]
    Invalid { path: PathBuf, message: String },

    #[error(
        "{} has snapshot format_version {found}; this migverify reads format_version {} to {}",
        path.display(),
        OLDEST_FORMAT_VERSION,
        FORMAT_VERSION
    )]
    #[diagnostic(
        code(migverify::snapshot::version),
        help("capture the snapshot again with this version of migverify")
    )]
    UnsupportedVersion { path: PathBuf, found: String },

    #[error("cannot write snapshot {}: {source}", path.display())]
    #[diagnostic(code(migverify::snapshot::write))]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Snapshot {
    /// Loads a snapshot file, checking `format_version` before anything else.
    pub fn from_path(path: &Path) -> Result<Snapshot, SnapshotError> {
        let text =
            crate::bounded::read_to_string(path, crate::bounded::SNAPSHOT_LIMIT, "a snapshot file")
                .map_err(|source| SnapshotError::Io {
                    path: path.to_path_buf(),
                    source,
                })?;
        Snapshot::from_json(&text, path)
    }

    /// Parses snapshot JSON; `path` is only used in messages.
    pub fn from_json(text: &str, path: &Path) -> Result<Snapshot, SnapshotError> {
        let invalid = |message: String| SnapshotError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
        match value.get("format_version") {
            None => return Err(invalid("no `format_version` field".to_string())),
            Some(v)
                if !v.as_u64().is_some_and(|v| {
                    (u64::from(OLDEST_FORMAT_VERSION)..=u64::from(FORMAT_VERSION)).contains(&v)
                }) =>
            {
                return Err(SnapshotError::UnsupportedVersion {
                    path: path.to_path_buf(),
                    found: v.to_string(),
                });
            }
            Some(_) => {}
        }
        serde_json::from_value(value).map_err(|e| invalid(e.to_string()))
    }

    /// Pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("a snapshot always serializes");
        s.push('\n');
        s
    }

    /// Writes the snapshot atomically (a temporary file renamed into place).
    pub fn save(&self, path: &Path) -> Result<(), SnapshotError> {
        let write = |source| SnapshotError::Write {
            path: path.to_path_buf(),
            source,
        };
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(write)?;
        std::io::Write::write_all(&mut tmp, self.to_json().as_bytes()).map_err(write)?;
        tmp.persist(path).map_err(|e| write(e.error))?;
        Ok(())
    }

    /// The revisions in the version table (empty when absent or empty).
    pub fn version_revisions(&self) -> &[String] {
        &self.version_table.revisions
    }

    /// Whether the version table exists.
    pub fn has_version_table(&self) -> bool {
        self.version_table.present
    }

    /// Whether `table` is the version table.
    pub fn is_version_table(&self, table: &Table) -> bool {
        table.name == self.version_table.name && table.schema == self.version_table.schema
    }

    /// Tables other than the version table.
    pub fn user_tables(&self) -> impl Iterator<Item = &Table> {
        self.tables.iter().filter(|t| !self.is_version_table(t))
    }

    /// Names of the tables other than the version table, `schema.name` when the snapshot
    /// covers several schemas, sorted (for the status block).
    pub fn table_names(&self) -> Vec<String> {
        let qualify = self.schemas.len() > 1;
        let mut names: Vec<String> = self
            .user_tables()
            .map(|t| {
                if qualify {
                    format!("{}.{}", t.schema, t.name)
                } else {
                    t.name.clone()
                }
            })
            .collect();
        names.sort();
        names
    }

    /// The table `name` in `schema` (any captured schema when `None`).
    pub fn table(&self, schema: Option<&str>, name: &str) -> Option<&Table> {
        self.tables
            .iter()
            .find(|t| t.name == name && schema.is_none_or(|s| s == t.schema))
    }

    /// Sorts tables and their parts into the documented order.
    pub fn normalize(&mut self) {
        self.version_table.revisions.sort();
        self.tables
            .sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
        for t in &mut self.tables {
            t.foreign_keys
                .sort_by(|a, b| (&a.columns, &a.name).cmp(&(&b.columns, &b.name)));
            t.indexes.sort_by(|a, b| a.name.cmp(&b.name));
            t.unique_constraints
                .sort_by(|a, b| (&a.columns, &a.name).cmp(&(&b.columns, &b.name)));
        }
    }
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// The current time as RFC 3339 UTC (`2026-11-24T14:43:53Z`).
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Snapshot {
        Snapshot {
            format_version: FORMAT_VERSION,
            dialect: Dialect::Postgresql,
            server_version: "16.4".into(),
            database: "postgresql://app:***@localhost:5432/app".into(),
            captured_at: "2026-11-24T14:43:53Z".into(),
            version_table: VersionTable {
                name: "alembic_version".into(),
                schema: "public".into(),
                present: true,
                revisions: vec!["abc123".into()],
            },
            schemas: vec!["public".into()],
            tables: vec![
                Table {
                    schema: "public".into(),
                    name: "alembic_version".into(),
                    columns: vec![Column {
                        name: "version_num".into(),
                        type_: "character varying(32)".into(),
                        nullable: false,
                        default: None,
                        comment: None,
                    }],
                    primary_key: vec!["version_num".into()],
                    foreign_keys: vec![],
                    indexes: vec![],
                    unique_constraints: vec![],
                    comment: None,
                },
                Table {
                    schema: "public".into(),
                    name: "users".into(),
                    columns: vec![],
                    primary_key: vec![],
                    foreign_keys: vec![],
                    indexes: vec![],
                    unique_constraints: vec![],
                    comment: Some("people".into()),
                },
            ],
        }
    }

    #[test]
    fn round_trip_and_helpers() {
        let s = sample();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("schema.json");
        s.save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"format_version\": 2"));
        assert!(text.contains("\"type\": \"character varying(32)\""));
        assert_eq!(Snapshot::from_path(&path).unwrap(), s);
        assert_eq!(s.version_revisions(), ["abc123".to_string()]);
        assert_eq!(s.table_names(), vec!["users".to_string()]);
        assert!(s.table(None, "users").is_some());
    }

    #[test]
    fn bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.json");
        std::fs::write(&path, "{not json").unwrap();
        let e = Snapshot::from_path(&path).unwrap_err().to_string();
        assert!(
            e.contains("bad.json") && e.contains("not a valid snapshot"),
            "{e}"
        );

        let mut v = serde_json::to_value(sample()).unwrap();
        v["format_version"] = 3.into();
        std::fs::write(&path, v.to_string()).unwrap();
        let e = Snapshot::from_path(&path).unwrap_err().to_string();
        assert!(
            e.contains("bad.json") && e.contains("format_version 3"),
            "{e}"
        );

        std::fs::write(&path, "{}").unwrap();
        let e = Snapshot::from_path(&path).unwrap_err().to_string();
        assert!(e.contains("no `format_version`"), "{e}");

        let e = Snapshot::from_path(&dir.path().join("missing.json"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.json"), "{e}");
    }

    #[test]
    fn format_1_still_loads() {
        // A format-1 file: no comments, no foreign key actions.
        let mut v = serde_json::to_value(sample()).unwrap();
        v["format_version"] = 1.into();
        for t in v["tables"].as_array_mut().unwrap() {
            t.as_object_mut().unwrap().remove("comment");
            for c in t["columns"].as_array_mut().unwrap() {
                c.as_object_mut().unwrap().remove("comment");
            }
        }
        let s = Snapshot::from_json(&v.to_string(), Path::new("old.json")).unwrap();
        assert_eq!(s.format_version, 1);
        assert_eq!(s.tables[1].comment, None);
    }

    #[test]
    fn capture_time_is_rfc3339_utc() {
        let t = now_rfc3339();
        assert_eq!(t.len(), "2026-11-24T14:43:53Z".len(), "{t}");
        assert!(t.ends_with('Z') && t.as_bytes()[10] == b'T', "{t}");
    }
}
