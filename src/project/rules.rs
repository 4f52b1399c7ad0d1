//! A project's own query rules: the `[[rules.custom]]` tables and `[rules] dirs`
//! files of its config, read (inside the project root only) into rule definitions
//! that [`crate::rules::query::load`] compiles, added to the registry.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::Error;
use crate::config::load::config_error;
use crate::config::resolve::glob_matcher;
use crate::config::{Config, ConfigFile};
use crate::rules::query::load::{RuleDef, SourceText, load};
use crate::rules::query::spec::RuleSpec;
use crate::rules::{Registry, Rule, RuleMeta, RuleSource};

/// The registry with the project's own rules added (`None` when it has none).
pub fn extend(
    registry: &Registry,
    config: &Config,
    root: &Path,
) -> Result<Option<Registry>, Error> {
    let defs = user_defs(config, root)?;
    if defs.is_empty() {
        return Ok(None);
    }
    let taken: Vec<&RuleMeta> = registry.rules().iter().map(|r| r.meta()).collect();
    let rules = load(defs, &taken)?;
    Ok(Some(
        registry.with(
            rules
                .into_iter()
                .map(|r| Arc::new(r) as Arc<dyn Rule>)
                .collect(),
        ),
    ))
}

/// The registry with the rules of the config found from `cwd` (for `rules` and
/// `explain`, which have no project to discover).
pub fn for_directory(registry: &Registry, cwd: &Path) -> Result<Registry, Error> {
    let Some(file) = super::find_config(cwd)? else {
        return Ok(registry.clone());
    };
    let root = file
        .path
        .as_deref()
        .and_then(Path::parent)
        .unwrap_or(cwd)
        .to_path_buf();
    let config = Config::load(Some(file))?;
    Ok(extend(registry, &config, &root)?.unwrap_or_else(|| registry.clone()))
}

/// Every user rule the config defines: its `[[rules.custom]]` tables, then the
/// files of its `[rules] dirs`, in order.
fn user_defs(config: &Config, root: &Path) -> Result<Vec<RuleDef>, Error> {
    let mut defs = Vec::new();
    for file in &config.chain {
        let Some(rules) = &file.options.rules else {
            continue;
        };
        let source_text = Arc::new(SourceText {
            name: file.name.clone(),
            text: file.text.clone(),
        });
        let shown = shown_name(file, root);
        for spec in rules.custom.iter().flatten() {
            defs.push(RuleDef {
                file: Arc::clone(&source_text),
                spec: spec.clone(),
                scm: None,
                source: RuleSource::User {
                    file: shown.clone(),
                    url: spec.url.as_ref().map(|u| u.get_ref().clone()),
                },
            });
        }
        let mut seen = std::collections::HashSet::new();
        for pattern in rules.dirs.iter().flat_map(|d| d.get_ref()) {
            let inside = Inside::new(file, root, pattern);
            for path in expand(file, root, pattern, &inside)? {
                let real = inside.check(&path)?;
                let scm = path.with_extension("scm");
                if scm.exists() {
                    inside.check(&scm)?;
                }
                if seen.insert(real) {
                    defs.push(read_rule_file(&path, root)?);
                }
            }
        }
    }
    Ok(defs)
}

/// Rule files are read only inside the project root (after resolving symlinks):
/// a file outside it (`/proc/self/environ`, a key next to the checkout, a symlink
/// committed in the project) would be quoted in a parse error, in public CI logs.
/// The error names the path and never shows the file.
struct Inside<'a> {
    file: &'a ConfigFile,
    pattern: &'a toml::Spanned<String>,
    root: &'a Path,
    real_root: PathBuf,
}

impl<'a> Inside<'a> {
    fn new(file: &'a ConfigFile, root: &'a Path, pattern: &'a toml::Spanned<String>) -> Self {
        Inside {
            file,
            pattern,
            root,
            real_root: std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf()),
        }
    }

    /// `path`'s real path when it is inside the project root, else the error.
    fn check(&self, path: &Path) -> Result<PathBuf, Error> {
        let real = std::fs::canonicalize(path).ok();
        match real {
            Some(real) if real.starts_with(&self.real_root) => Ok(real),
            _ => Err(self.file.error(
                self.pattern.span(),
                format!(
                    "`rules.dirs` entry `{}`: {} is outside the project root {}",
                    crate::text::truncate(self.pattern.get_ref(), 200),
                    path.display(),
                    self.root.display()
                ),
                "outside the project",
                Some(
                    "rule files are read only inside the project (symlinks resolved), so a \
                     change to the config cannot show other files of the machine: copy the rules \
                     into the project"
                        .into(),
                ),
            )),
        }
    }
}

fn shown_name(file: &ConfigFile, root: &Path) -> String {
    match &file.path {
        Some(p) => relative(p, root),
        None => file.name.clone(),
    }
}

fn relative(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '[', '{'])
}

/// The rule files (`*.toml`) a `dirs` entry names: a directory (every rule file
/// under it), a file, or a glob matching either, relative to the root.
fn expand(
    file: &ConfigFile,
    root: &Path,
    pattern: &toml::Spanned<String>,
    inside: &Inside<'_>,
) -> Result<Vec<PathBuf>, Error> {
    let p = pattern.get_ref();
    let none = |why: &str| {
        file.error(
            pattern.span(),
            format!("`rules.dirs` entry `{p}` {why}"),
            "no rule files here",
            Some(
                "name a directory of rule files (`<code>-<name>.toml`, with an optional `.scm` of the same name), \
                 a rule file, or a glob matching them, relative to the project root"
                    .into(),
            ),
        )
    };
    let mut found: Vec<PathBuf> = Vec::new();
    if !has_glob(p) {
        let path = root.join(p);
        if path.exists() {
            inside.check(&path)?;
        }
        if path.is_dir() {
            found.extend(rule_files(file, pattern, &path)?);
        } else if path.is_file() {
            found.push(path);
        } else {
            return Err(none("does not exist"));
        }
    } else {
        let matcher = glob_matcher(p).map_err(|e| {
            file.error(
                pattern.span(),
                format!("invalid glob in `rules.dirs`: {e}"),
                "invalid glob",
                Some("globs use globset syntax: `*`, `**`, `?`, `[abc]`, `{a,b}`".into()),
            )
        })?;
        // Walk from the pattern's literal prefix only.
        let prefix: PathBuf = Path::new(p.trim_start_matches("./"))
            .components()
            .take_while(|c| !has_glob(&c.as_os_str().to_string_lossy()))
            .collect();
        let base = root.join(&prefix);
        let base = if p.contains('/') {
            base
        } else {
            root.to_path_buf()
        };
        if base.exists() {
            inside.check(&base)?;
        }
        for entry in walkdir::WalkDir::new(&base)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'))
            .flatten()
        {
            let rel = entry.path().strip_prefix(root).unwrap_or(entry.path());
            if !matcher.is_match(rel) {
                continue;
            }
            if entry.file_type().is_dir() {
                found.extend(rule_files(file, pattern, entry.path())?);
            } else if entry.path().extension().is_some_and(|e| e == "toml") {
                found.push(entry.path().to_path_buf());
            }
        }
    }
    if found.is_empty() {
        return Err(none("matches no rule file (`*.toml`)"));
    }
    Ok(found)
}

/// The `*.toml` files under `dir`, sorted; a `.scm` without its `.toml` is an error.
fn rule_files(
    file: &ConfigFile,
    pattern: &toml::Spanned<String>,
    dir: &Path,
) -> Result<Vec<PathBuf>, Error> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .flatten()
    {
        let path = entry.path();
        // A symlink to a file is taken (and checked to stay in the project).
        if !(entry.file_type().is_file() || entry.path_is_symlink() && path.is_file()) {
            continue;
        }
        match path.extension().and_then(|e| e.to_str()) {
            Some("toml") => out.push(path.to_path_buf()),
            Some("scm") if !path.with_extension("toml").is_file() => {
                return Err(file.error(
                    pattern.span(),
                    format!("{} has no metadata file", path.display()),
                    "in this rule directory",
                    Some(format!(
                        "a query rule is a `.toml` file (code, name, message, …) with the query inline or in a `.scm` file of the same name: add {}",
                        path.with_extension("toml").display()
                    )),
                ));
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Reads a rule file, and the `.scm` of the same name when there is one.
fn read_rule_file(path: &Path, root: &Path) -> Result<RuleDef, Error> {
    let read = |p: &Path| {
        crate::bounded::read_to_string(p, crate::bounded::CONFIG_LIMIT, "a rule file").map_err(
            |source| Error::Io {
                path: p.to_path_buf(),
                source,
            },
        )
    };
    let name = path.display().to_string();
    let text = read(path)?;
    let spec: RuleSpec = toml::from_str(&text).map_err(|e| {
        config_error(
            &name,
            &text,
            e.span(),
            format!("invalid rule file: {}", e.message().trim()),
            "here",
            Some(
                "a rule file holds `code`, `name`, `message` and optionally `summary`, `severity`, \
                 `enabled-by-default`, `scope`, `help`, `docs`, `url`, `location`, `query` \
                 (see docs/writing-rules.md)"
                    .into(),
            ),
        )
    })?;
    let scm_path = path.with_extension("scm");
    let scm = if scm_path.is_file() {
        Some(SourceText {
            name: scm_path.display().to_string(),
            text: read(&scm_path)?,
        })
    } else {
        None
    };
    Ok(RuleDef {
        file: Arc::new(SourceText { name, text }),
        scm,
        source: RuleSource::User {
            file: relative(path, root),
            url: spec.url.as_ref().map(|u| u.get_ref().clone()),
        },
        spec,
    })
}
