//! Configuration: `migverify.toml` / `.migverify.toml` / `[tool.migverify]`, presets
//! from `config/`, and the resolved [`Settings`] the engine runs with.

use globset::GlobMatcher;

use crate::diagnostic::Severity;
use crate::rules::Registry;

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
        }
    }
}
