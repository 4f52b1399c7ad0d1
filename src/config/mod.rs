//! Configuration: `migverify.toml` / `.migverify.toml` / `[tool.migverify]`, presets
//! from `config/`, and the resolved [`Settings`] the engine runs with.
//!
//! - [`schema`]: the serde mirror of the TOML (every value spanned).
//! - [`json_schema`]: its JSON schema, for editors (`config/migverify.schema.json`).
//! - [`load`]: reading a file into it, TOML errors as miette diagnostics.
//! - [`presets`]: the embedded presets.
//! - [`resolve`]: presets + config + command line → [`Settings`], plus the
//!   `[migrations]`, `[database]` and `[models]` sections.

pub mod json_schema;
pub mod load;
pub mod presets;
pub mod resolve;
pub mod schema;

use std::path::PathBuf;
use std::time::Duration;

use globset::GlobMatcher;
use toml::Spanned;

use crate::diagnostic::Severity;
use crate::rules::Registry;

pub use load::ConfigFile;
pub use resolve::{Config, resolve_selection};

/// The rule selection given on the command line (`--select`, `--ignore`,
/// `--extend-select`, `--severity`): the last layer [`Config::settings`] applies.
/// The command line fills it from its flags; values are as typed.
#[derive(Clone, Debug, Default)]
pub struct RuleSelection {
    /// Rules to enable (codes, prefixes like MV0, names, or ALL), replacing the config's.
    pub select: Vec<String>,
    /// Rules to disable.
    pub ignore: Vec<String>,
    /// Rules to enable on top of the selection.
    pub extend_select: Vec<String>,
    /// Severity overrides, each `RULE=LEVEL`.
    pub severity: Vec<String>,
}

/// `per-file-ignores`: rules silenced in files matching a glob (relative to the root).
#[derive(Clone, Debug)]
pub struct PerFileIgnore {
    pub pattern: String,
    pub matcher: GlobMatcher,
    /// Registry indices.
    pub rules: Vec<usize>,
}

/// What the engine runs with, resolved from presets, config and flags.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Enabled rules (registry index, severity), in registry order.
    pub enabled: Vec<(usize, Severity)>,
    pub per_file_ignores: Vec<PerFileIgnore>,
    /// `[rules] safety-scope`.
    pub safety_scope: schema::SafetyScope,
}

impl Settings {
    /// Every rule at its default: the `recommended` preset.
    pub fn recommended(registry: &Registry) -> Settings {
        Settings {
            enabled: registry
                .rules()
                .iter()
                .enumerate()
                .filter(|(_, r)| r.meta().enabled_by_default)
                .map(|(i, r)| (i, r.meta().severity))
                .collect(),
            per_file_ignores: Vec::new(),
            safety_scope: schema::SafetyScope::default(),
        }
    }

    /// The severity a rule runs with, `None` when it is not enabled.
    pub fn severity_of(&self, rule: usize) -> Option<Severity> {
        self.enabled
            .iter()
            .find(|(i, _)| *i == rule)
            .map(|(_, s)| *s)
    }
}

/// `[migrations]`: where the migration files are, overriding Alembic's config.
/// Paths are as written (relative to the project root); spans point into
/// [`Config::file`].
#[derive(Clone, Debug, Default)]
pub struct MigrationsConfig {
    pub script_location: Option<Spanned<String>>,
    pub version_locations: Option<Vec<Spanned<String>>>,
    pub recursive_version_locations: Option<bool>,
    /// `python_path`: directories (relative to the root) where the modules that
    /// migrations import their identifiers from are looked up first.
    pub python_path: Vec<Spanned<String>>,
    /// `exclude`: globset patterns matched against paths relative to the root.
    pub exclude: Vec<PathPattern>,
    /// `max_file_size` in bytes; `None` for the default
    /// ([`crate::bounded::DEFAULT_SOURCE_LIMIT`]).
    pub max_file_size: Option<u64>,
}

impl MigrationsConfig {
    /// The largest migration file read, in bytes.
    pub fn max_file_size(&self) -> u64 {
        self.max_file_size
            .unwrap_or(crate::bounded::DEFAULT_SOURCE_LIMIT)
    }
}

/// A compiled glob with the pattern as written.
#[derive(Clone, Debug)]
pub struct PathPattern {
    pub pattern: String,
    pub matcher: GlobMatcher,
}

/// `[database]`, parsed and kept for the database rules. Nothing here connects.
#[derive(Clone, Debug, Default)]
pub struct DatabaseConfig {
    /// As written (no `${VAR}` interpolation yet); the span points into the config
    /// file, for diagnostics located at "the config file that names the database".
    pub url: Option<Spanned<String>>,
    /// Snapshot file, resolved against the project root; span of the value.
    pub snapshot: Option<Spanned<PathBuf>>,
    pub version_table: Option<String>,
    pub version_table_schema: Option<String>,
    pub schemas: Vec<String>,
    pub connect_timeout: Option<Duration>,
}

impl DatabaseConfig {
    /// Alembic's default version table name.
    pub const DEFAULT_VERSION_TABLE: &'static str = "alembic_version";

    /// The configured version table, or Alembic's default.
    pub fn version_table(&self) -> &str {
        self.version_table
            .as_deref()
            .unwrap_or(Self::DEFAULT_VERSION_TABLE)
    }
}

/// `[models]`, parsed and kept for the drift rules.
#[derive(Clone, Debug, Default)]
pub struct ModelsConfig {
    /// Glob patterns as written (relative to the project root), each validated.
    pub paths: Vec<String>,
    pub ignore_tables: Vec<String>,
    /// `[drift] compare-server-default`: compare server defaults (Alembic's
    /// `compare_server_default`; default false).
    pub compare_server_default: bool,
}
