//! The serde mirror of the configuration file: `migverify.toml`, `.migverify.toml`,
//! `[tool.migverify]` in `pyproject.toml`, and the presets in `config/`.
//!
//! Every value is [`Spanned`] so an error can point at its bytes. Unknown keys are
//! errors. Top-level and `[rules]` keys are kebab-case (`extend-select`,
//! `per-file-ignores`, as in ruff); `[migrations]`, `[database]` and `[models]` keys
//! keep Alembic's snake_case spelling (`script_location`, `version_locations`).

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// A list of strings, each with its span, and the span of the whole list.
pub type SpannedList = Spanned<Vec<Spanned<String>>>;

/// The whole file (or the `[tool.migverify]` table).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Options {
    /// A preset from `config/`: `recommended` (the default) or `strict`.
    pub extends: Option<Spanned<String>>,
    pub migrations: Option<MigrationsOptions>,
    pub database: Option<DatabaseOptions>,
    pub models: Option<ModelsOptions>,
    pub rules: Option<RulesOptions>,
    /// Glob (relative to the project root) → rules silenced in matching files.
    pub per_file_ignores: Option<BTreeMap<Spanned<String>, SpannedList>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MigrationsOptions {
    pub script_location: Option<Spanned<String>>,
    pub version_locations: Option<SpannedList>,
    pub recursive_version_locations: Option<Spanned<bool>>,
    pub exclude: Option<SpannedList>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseOptions {
    pub url: Option<Spanned<String>>,
    pub snapshot: Option<Spanned<String>>,
    pub version_table: Option<Spanned<String>>,
    pub version_table_schema: Option<Spanned<String>>,
    pub schemas: Option<SpannedList>,
    pub connect_timeout: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelsOptions {
    pub paths: Option<SpannedList>,
    pub ignore_tables: Option<SpannedList>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RulesOptions {
    pub select: Option<SpannedList>,
    pub ignore: Option<SpannedList>,
    pub extend_select: Option<SpannedList>,
    /// Rule (code, name or selector) → `error`, `warning`, `info` or `off`.
    pub severity: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    /// The project's own query rules (`[[rules.custom]]`).
    pub custom: Option<Vec<crate::rules::query::spec::RuleSpec>>,
    /// Directories, files or globs of rule files (relative to the project root).
    pub dirs: Option<SpannedList>,
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
            "rules",
            "per-file-ignores",
        ],
    ),
    (
        "migrations",
        &[
            "script_location",
            "version_locations",
            "recursive_version_locations",
            "exclude",
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
    (
        "rules",
        &[
            "select",
            "ignore",
            "extend-select",
            "severity",
            "custom",
            "dirs",
        ],
    ),
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
