//! The serde mirror of the configuration file: `migverify.toml`, `.migverify.toml`,
//! `[tool.migverify]` in `pyproject.toml`, and the presets in `config/`.
//!
//! Every value is [`Spanned`] so an error can point at its bytes. Unknown keys are
//! errors. Top-level and `[rules]` keys are kebab-case (`extend-select`,
//! `per-file-ignores`, as in ruff); `[migrations]`, `[database]` and `[models]` keys
//! keep Alembic's snake_case spelling (`script_location`, `version_locations`).
//!
//! The structs also derive [`schemars::JsonSchema`]: `config/migverify.schema.json`
//! is generated from them (`tests/config_schema.rs`), so their `///` docs are what
//! TOML editors show. A [`Spanned`] field needs `#[schemars(with = "...")]` naming
//! the plain type (`String`, `Vec<String>`, ...).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

/// A list of strings, each with its span, and the span of the whole list.
pub type SpannedList = Spanned<Vec<Spanned<String>>>;

/// migverify's configuration: `migverify.toml`, `.migverify.toml`, or
/// `[tool.migverify]` in `pyproject.toml`. See docs/configuration.md.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[schemars(title = "migverify configuration")]
pub struct Options {
    /// A preset from `config/`: `recommended` (the default) or `strict`.
    #[schemars(with = "Option<Preset>")]
    pub extends: Option<Spanned<String>>,
    /// Where the migration files are (default: Alembic's settings).
    pub migrations: Option<MigrationsOptions>,
    /// The database the MV1xx rules check, read-only.
    pub database: Option<DatabaseOptions>,
    /// SQLAlchemy model files, for the drift rules (MV2xx).
    pub models: Option<ModelsOptions>,
    /// What the drift rules (MV201–MV203) compare besides tables and columns.
    pub drift: Option<DriftOptions>,
    /// Which rules run, and at which level.
    pub rules: Option<RulesOptions>,
    /// The language server (`migverify server`).
    pub server: Option<ServerOptions>,
    /// `migverify check` (see docs/adopting.md).
    pub check: Option<CheckOptions>,
    /// Glob (relative to the project root) → rules silenced in matching files.
    #[schemars(with = "Option<BTreeMap<String, Vec<String>>>")]
    pub per_file_ignores: Option<BTreeMap<Spanned<String>, SpannedList>>,
    /// The Alembic environments of a repository that holds several, each checked as
    /// its own history (default: every `alembic.ini` / `[tool.alembic]` found below
    /// the directory `migverify check` runs on, when it is not an environment itself).
    pub projects: Option<Vec<ProjectOptions>>,
}

/// One Alembic environment of the repository (`[[projects]]`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectOptions {
    /// The directory holding its `alembic.ini` or `pyproject.toml` `[tool.alembic]`,
    /// relative to this config file's directory.
    #[schemars(with = "String")]
    pub path: Spanned<String>,
    /// The name diagnostics, the status block and `--project` use (default: `path`).
    #[schemars(with = "Option<String>")]
    pub name: Option<Spanned<String>>,
}

// The presets in `config/`, for the schema only (the loader reads the files).
/// A preset from `config/`.
#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
enum Preset {
    /// Every rule at its registry default.
    Recommended,
    /// Every rule; warnings raised to errors.
    Strict,
}

/// The language server (`migverify server`); see docs/integrations.md.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerOptions {
    /// Run the database rules (MV1xx, MV2xx needing a database) in the editor, against
    /// `[database]` (default false). The database is read in the background, never
    /// while you type.
    #[schemars(with = "Option<bool>")]
    pub database: Option<Spanned<bool>>,
}

/// `migverify check`; see docs/adopting.md.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckOptions {
    /// A baseline file (`migverify check --write-baseline FILE` writes it), relative
    /// to this config file's directory: only findings it does not hold are reported
    /// and decide the exit code. `--baseline FILE` overrides it.
    #[schemars(with = "Option<String>")]
    pub baseline: Option<Spanned<String>>,
}

/// Where the migration files are; each key overrides Alembic's own setting.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MigrationsOptions {
    /// Alembic's script directory; version files are in `<script_location>/versions`
    /// unless `version_locations` is set. Default: from alembic.ini / `[tool.alembic]`.
    #[schemars(with = "Option<String>")]
    pub script_location: Option<Spanned<String>>,
    /// Directories holding migration files, relative to the project root.
    #[schemars(with = "Option<Vec<String>>")]
    pub version_locations: Option<SpannedList>,
    /// Search the version locations recursively. Default: Alembic's setting, else false.
    #[schemars(with = "Option<bool>")]
    pub recursive_version_locations: Option<Spanned<bool>>,
    /// Directories, relative to the project root, where the modules migrations take
    /// their identifiers from (`branch_labels = (cli.EXPAND_BRANCH,)`) are looked up
    /// first; then the project root, `src/`, Alembic's directory and the directories
    /// above the version locations.
    #[schemars(with = "Option<Vec<String>>")]
    pub python_path: Option<SpannedList>,
    /// Files to leave out: globset patterns relative to the project root.
    #[schemars(with = "Option<Vec<String>>")]
    pub exclude: Option<SpannedList>,
    /// The largest migration file read: `16MiB` (the default), `500KB`, `64MB`, or a
    /// number of bytes. A larger file is MV009 "too large".
    #[schemars(with = "Option<String>")]
    pub max_file_size: Option<Spanned<String>>,
}

/// The database the database rules (MV1xx) check, read-only.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatabaseOptions {
    /// Connection URL (sqlx or SQLAlchemy form); `${VAR}` is read from the environment.
    #[schemars(with = "Option<String>")]
    pub url: Option<Spanned<String>>,
    /// A snapshot file (`migverify snapshot -o FILE`) to use instead of connecting.
    #[schemars(with = "Option<String>")]
    pub snapshot: Option<Spanned<String>>,
    /// Alembic's version table. Default: `alembic_version`.
    #[schemars(with = "Option<String>")]
    pub version_table: Option<Spanned<String>>,
    /// The schema of the version table. Default: the connection's default schema.
    #[schemars(with = "Option<String>")]
    pub version_table_schema: Option<Spanned<String>>,
    /// Schemas to compare. Default: the connection's default schema.
    #[schemars(with = "Option<Vec<String>>")]
    pub schemas: Option<SpannedList>,
    /// How long to wait for a connection: `500ms`, `5s`, `1m` (a bare number is seconds).
    #[schemars(with = "Option<String>")]
    pub connect_timeout: Option<Spanned<String>>,
}

/// SQLAlchemy models, for the drift rules (MV2xx).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelsOptions {
    /// Model files, parsed statically: globs relative to the project root.
    #[schemars(with = "Option<Vec<String>>")]
    pub paths: Option<SpannedList>,
    /// Tables in the database but not in the models, on purpose.
    #[schemars(with = "Option<Vec<String>>")]
    pub ignore_tables: Option<SpannedList>,
}

/// What the drift rules compare besides tables, columns, indexes, unique constraints,
/// foreign keys and comments (always compared).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DriftOptions {
    /// Compare server defaults, as Alembic's `compare_server_default = True`. Default: false.
    #[schemars(with = "Option<bool>")]
    pub compare_server_default: Option<Spanned<bool>>,
}

/// Which rules run. Rules are named by code (`MV003`), code prefix (`MV0`), name
/// (`empty-downgrade`) or `ALL`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RulesOptions {
    /// Replaces the preset's selection.
    #[schemars(with = "Option<Vec<String>>")]
    pub select: Option<SpannedList>,
    /// Removed from the selection.
    #[schemars(with = "Option<Vec<String>>")]
    pub ignore: Option<SpannedList>,
    /// Added to the selection.
    #[schemars(with = "Option<Vec<String>>")]
    pub extend_select: Option<SpannedList>,
    /// Rule (code, name or selector) → `error`, `warning`, `info` or `off`.
    #[schemars(with = "Option<BTreeMap<String, Level>>")]
    pub severity: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    /// The project's own query rules (`[[rules.custom]]`).
    pub custom: Option<Vec<crate::rules::query::spec::RuleSpec>>,
    /// Directories, files or globs of rule files (relative to the project root).
    #[schemars(with = "Option<Vec<String>>")]
    pub dirs: Option<SpannedList>,
    /// Which migrations the safety rules (MV3xx) report when a database is known:
    /// `pending` (default: only those the database has not applied yet; history that
    /// ran in production cannot change) or `all`.
    pub safety_scope: Option<SafetyScope>,
}

/// See `[rules] safety-scope`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SafetyScope {
    /// Only migrations the database has not applied (every migration without a
    /// database).
    #[default]
    Pending,
    /// Every migration.
    All,
}

// For the schema only: the loader checks the strings itself.
/// A rule's level; `off` disables the rule.
#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
enum Level {
    Error,
    Warning,
    Info,
    Off,
}

/// `pyproject.toml`, as far as migverify reads it.
#[derive(Debug, Default, Deserialize)]
pub struct PyProject {
    pub tool: Option<PyProjectTool>,
}

#[derive(Debug, Default, Deserialize)]
pub struct PyProjectTool {
    pub migverify: Option<Options>,
}

/// Every key the schema accepts, by table (`""` is the top level). Used for error
/// help and by the documentation test; keep in sync with the structs above (a test
/// checks it against the deserializer).
pub const KEYS: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "extends",
            "migrations",
            "database",
            "models",
            "drift",
            "rules",
            "server",
            "check",
            "per-file-ignores",
            "projects",
        ],
    ),
    (
        "migrations",
        &[
            "script_location",
            "version_locations",
            "recursive_version_locations",
            "python_path",
            "exclude",
            "max_file_size",
        ],
    ),
    (
        "database",
        &[
            "url",
            "snapshot",
            "version_table",
            "version_table_schema",
            "schemas",
            "connect_timeout",
        ],
    ),
    ("models", &["paths", "ignore_tables"]),
    ("drift", &["compare-server-default"]),
    (
        "rules",
        &[
            "select",
            "ignore",
            "extend-select",
            "severity",
            "custom",
            "dirs",
            "safety-scope",
        ],
    ),
    ("server", &["database"]),
    ("check", &["baseline"]),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// The keys the deserializer accepts in `table`, read from its unknown-key error.
    fn accepted(table: &str) -> Vec<String> {
        let text = if table.is_empty() {
            "zzz = 1\n".to_string()
        } else {
            format!("[{table}]\nzzz = 1\n")
        };
        let err = toml::from_str::<Options>(&text).unwrap_err();
        let msg = err.message().to_string();
        let (_, expected) = msg.split_once("expected").expect(&msg);
        expected
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn keys_table_matches_the_structs() {
        for (table, keys) in KEYS {
            let mut want: Vec<&str> = keys.to_vec();
            let mut got = accepted(table);
            want.sort_unstable();
            got.sort_unstable();
            assert_eq!(got, want, "table [{table}]");
        }
    }
}
