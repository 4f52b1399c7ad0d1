//! Reading a configuration file into [`Options`], with every TOML, unknown-key and
//! type error turned into a miette diagnostic that points into the file.

use std::ops::Range;
use std::path::{Path, PathBuf};

use super::schema::{KEYS, Options, PyProject};
use crate::Error;
/// Builds an [`Error::Config`] (kept here under its old path).
pub use crate::error::config_error;

/// A parsed configuration source: a user's file or an embedded preset.
#[derive(Debug)]
pub struct ConfigFile {
    /// The file on disk; `None` for a preset.
    pub path: Option<PathBuf>,
    /// How errors name it: the path as given, or `config/<preset>.toml`.
    pub name: String,
    pub text: String,
    pub options: Options,
}

impl ConfigFile {
    /// A configuration error pointing at `span` in this file.
    pub fn error(
        &self,
        span: Range<usize>,
        message: impl Into<String>,
        label: impl Into<String>,
        help: Option<String>,
    ) -> Error {
        config_error(&self.name, &self.text, Some(span), message, label, help)
    }

    /// Parses `text` as a whole migverify config (`migverify.toml`, a preset).
    pub fn parse(path: Option<PathBuf>, name: String, text: String) -> Result<ConfigFile, Error> {
        let options =
            toml::from_str::<Options>(&text).map_err(|e| toml_error(&name, &text, &e, ""))?;
        Ok(ConfigFile {
            path,
            name,
            text,
            options,
        })
    }

    /// Parses `text` as a `pyproject.toml`; `Ok(None)` when it has no
    /// `[tool.migverify]` table.
    pub fn parse_pyproject(
        path: Option<PathBuf>,
        name: String,
        text: String,
    ) -> Result<Option<ConfigFile>, Error> {
        let pyproject = toml::from_str::<PyProject>(&text)
            .map_err(|e| toml_error(&name, &text, &e, "tool.migverify."))?;
        Ok(pyproject
            .tool
            .and_then(|t| t.migverify)
            .map(|options| ConfigFile {
                path,
                name,
                text,
                options,
            }))
    }

    /// Reads and parses a config file from disk: `pyproject.toml` by its
    /// `[tool.migverify]` table, anything else as a whole. `Ok(None)` for a
    /// `pyproject.toml` without `[tool.migverify]`.
    pub fn read(path: &Path) -> Result<Option<ConfigFile>, Error> {
        let text = crate::bounded::read_to_string(
            path,
            crate::bounded::CONFIG_LIMIT,
            "a configuration file",
        )
        .map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let name = path.display().to_string();
        if is_pyproject(path) {
            ConfigFile::parse_pyproject(Some(path.to_path_buf()), name, text)
        } else {
            ConfigFile::parse(Some(path.to_path_buf()), name, text).map(Some)
        }
    }
}

pub(crate) fn is_pyproject(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n == "pyproject.toml")
}

/// Turns a `toml` deserialization error into a config error: unknown keys list
/// the valid ones (with a "did you mean"), type errors name the key.
fn toml_error(name: &str, text: &str, err: &toml::de::Error, prefix: &str) -> Error {
    let raw = err.message().trim().to_string();
    let span = err.span();
    if let Some(rest) = raw.strip_prefix("unknown field `") {
        let key = rest.split('`').next().unwrap_or_default().to_string();
        let expected: Vec<String> = rest
            .split_once("expected")
            .map(|(_, e)| {
                e.split('`')
                    .skip(1)
                    .step_by(2)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let table = table_of(&expected);
        let mut help = String::new();
        if let Some(best) = closest(&key, expected.iter().map(String::as_str)) {
            help.push_str(&format!("did you mean `{best}`? "));
        }
        if expected.is_empty() {
            help.push_str("this table takes no keys");
        } else {
            help.push_str(&format!(
                "valid keys{}: {}",
                table
                    .map(|t| format!(" in [{prefix}{t}]"))
                    .unwrap_or_default(),
                expected.join(", ")
            ));
        }
        let where_ = table
            .map(|t| format!(" in [{prefix}{t}]"))
            .unwrap_or_default();
        return config_error(
            name,
            text,
            span,
            format!("unknown key `{key}`{where_}"),
            "unknown key",
            Some(help),
        );
    }
    if raw.starts_with("invalid type") || raw.starts_with("invalid value") {
        let key = span.as_ref().and_then(|s| key_before(text, s.start));
        let message = match &key {
            Some(k) => format!("wrong type for `{k}`: {raw}"),
            None => format!("wrong type: {raw}"),
        };
        return config_error(name, text, span, message, "wrong type", None);
    }
    config_error(
        name,
        text,
        span,
        format!("invalid TOML: {raw}"),
        "here",
        None,
    )
}

/// Which table a set of expected keys belongs to (for messages).
fn table_of(expected: &[String]) -> Option<&'static str> {
    let first = expected.first()?;
    KEYS.iter()
        .find(|(_, keys)| keys.contains(&first.as_str()))
        .map(|(t, _)| *t)
        .filter(|t| !t.is_empty())
}

/// The closest candidate to `word`, for "did you mean".
pub fn closest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let word = word.to_ascii_lowercase().replace('_', "-");
    let mut best: Option<(f64, &str)> = None;
    for c in candidates {
        let score = strsim::jaro_winkler(&word, &c.to_ascii_lowercase().replace('_', "-"));
        if score > 0.8 && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| c)
}

/// The key of the `key = value` whose value starts at byte `at` (best effort).
fn key_before(text: &str, at: usize) -> Option<String> {
    let at = at.min(text.len());
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let before = &text[line_start..at];
    let (key, _) = before.split_once('=')?;
    let key = key.trim().trim_matches('"').trim_matches('\'');
    (!key.is_empty()).then(|| key.to_string())
}
