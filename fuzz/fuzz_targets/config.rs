//! The config loader on arbitrary text: errors are fine, panics are not.
#![no_main]

use std::path::{Path, PathBuf};

use libfuzzer_sys::fuzz_target;
use migverify::cli::RuleSelection;
use migverify::config::{Config, ConfigFile};
use migverify::rules::Registry;

fuzz_target!(|text: &str| {
    let _ = ConfigFile::parse_pyproject(None, "pyproject.toml".into(), text.to_string());
    let Ok(file) = ConfigFile::parse(
        Some(PathBuf::from("/p/migverify.toml")),
        "migverify.toml".into(),
        text.to_string(),
    ) else {
        return;
    };
    let Ok(config) = Config::load(Some(file)) else {
        return;
    };
    let _ = config.settings(&RuleSelection::default(), &Registry::builtin());
    let _ = config.migrations();
    let _ = config.database(Path::new("/p"));
    let _ = config.models();
});
