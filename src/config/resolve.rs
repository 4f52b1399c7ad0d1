//! Presets + config file + command line → [`Settings`] (ruff's selection
//! semantics), and the `[migrations]`, `[database]` and `[models]` sections.
//!
//! Selection: start from the registry defaults (what `recommended` means), then
//! apply each layer in order, base preset first, the user's file, then the command
//! line. In a layer, `select` replaces the selection, `extend-select` adds, `ignore`
//! removes, then `[rules.severity]` sets levels (`off` removes the rule, a level
//! never adds one). A rule keeps the last severity a layer gave it, so a rule that
//! is turned off and selected again comes back at that severity.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use globset::GlobBuilder;
use toml::Spanned;

use super::load::{ConfigFile, closest};
use super::{
    DatabaseConfig, MigrationsConfig, ModelsConfig, PathPattern, PerFileIgnore, RuleSelection,
    Settings, presets,
};
use crate::Error;
use crate::diagnostic::{Level, Severity};
use crate::rules::Registry;

/// Where an `extends` was written: the chain index (`usize::MAX` for the user's
/// file) and the span of the value.
type PresetOrigin = (usize, Range<usize>);

/// The configuration in force: the preset chain and the user's file.
#[derive(Debug)]
pub struct Config {
    /// Base preset first; the user's file (if any) last.
    pub chain: Vec<ConfigFile>,
}

impl Config {
    /// Loads the presets `user` extends (default `recommended`).
    pub fn load(user: Option<ConfigFile>) -> Result<Config, Error> {
        let mut chain = Vec::new();
        let mut next: Option<(String, Option<PresetOrigin>)> = match &user {
            Some(file) => Some(match &file.options.extends {
                Some(e) => (e.get_ref().clone(), Some((usize::MAX, e.span()))),
                None => (presets::DEFAULT.to_string(), None),
            }),
            None => Some((presets::DEFAULT.to_string(), None)),
        };
        // The chain is collected user-side first and reversed at the end.
        let mut visited: Vec<String> = Vec::new();
        while let Some((name, origin)) = next.take() {
            let Some(text) = presets::get(&name) else {
                let help = format!(
                    "{}valid presets: {}",
                    closest(&name, presets::names().into_iter())
                        .map(|b| format!("did you mean `{b}`? "))
                        .unwrap_or_default(),
                    presets::names().join(", ")
                );
                let message = format!("unknown preset `{name}` in `extends`");
                return Err(match origin {
                    Some((usize::MAX, span)) => user
                        .as_ref()
                        .expect("origin in the user's file")
                        .error(span, message, "unknown preset", Some(help)),
                    Some((i, span)) => {
                        chain_ref(&chain, i).error(span, message, "unknown preset", Some(help))
                    }
                    None => Error::Project {
                        message,
                        help: Some(help),
                    },
                });
            };
            if visited.contains(&name) {
                return Err(Error::Project {
                    message: format!(
                        "presets extend each other in a cycle: {}",
                        visited.join(" → ")
                    ),
                    help: None,
                });
            }
            visited.push(name.clone());
            let file = ConfigFile::parse(None, format!("config/{name}.toml"), text.to_string())?;
            next = file
                .options
                .extends
                .as_ref()
                .map(|e| (e.get_ref().clone(), Some((chain.len(), e.span()))));
            chain.push(file);
        }
        chain.reverse();
        chain.extend(user);
        Ok(Config { chain })
    }

    /// The user's config file, if there is one.
    pub fn file(&self) -> Option<&ConfigFile> {
        self.chain.last().filter(|f| f.path.is_some())
    }

    /// The rules to run and their severities, with the command line on top.
    pub fn settings(&self, cli: &RuleSelection, registry: &Registry) -> Result<Settings, Error> {
        let mut state = State::new(registry);
        let mut per_file_ignores = Vec::new();
        for file in &self.chain {
            state.apply(&layer_of(file), registry)?;
            per_file_ignores.extend(per_file_ignores_of(file, registry)?);
        }
        state.apply(&cli_layer(cli)?, registry)?;
        let safety_scope = self
            .chain
            .iter()
            .rev()
            .find_map(|f| f.options.rules.as_ref()?.safety_scope)
            .unwrap_or_default();
        Ok(Settings {
            enabled: state.enabled(),
            per_file_ignores,
            safety_scope,
        })
    }

    /// `[migrations]` (from the last file that sets each key).
    pub fn migrations(&self) -> Result<MigrationsConfig, Error> {
        let mut out = MigrationsConfig::default();
        for file in &self.chain {
            let Some(m) = &file.options.migrations else {
                continue;
            };
            if let Some(s) = &m.script_location {
                out.script_location = Some(s.clone());
            }
            if let Some(v) = &m.version_locations {
                out.version_locations = Some(v.get_ref().clone());
            }
            if let Some(r) = &m.recursive_version_locations {
                out.recursive_version_locations = Some(*r.get_ref());
            }
            if let Some(p) = &m.python_path {
                out.python_path = p.get_ref().clone();
            }
            if let Some(ex) = &m.exclude {
                out.exclude = ex
                    .get_ref()
                    .iter()
                    .map(|p| compile_glob(file, p, "exclude"))
                    .collect::<Result<_, _>>()?;
            }
            if let Some(s) = &m.max_file_size {
                out.max_file_size = Some(parse_size(s.get_ref()).ok_or_else(|| {
                    file.error(
                        s.span(),
                        format!("invalid `max_file_size` `{}`", s.get_ref()),
                        "not a size",
                        Some(
                            "a number of bytes with an optional unit: `500KB`, `16MiB`, `64MB`, `1GB`"
                                .into(),
                        ),
                    )
                })?);
            }
        }
        Ok(out)
    }

    /// `[database]`; the snapshot path is resolved against `root`.
    /// `[server] database`: whether the language server runs the database rules.
    pub fn server_database(&self) -> bool {
        self.chain
            .iter()
            .rev()
            .find_map(|f| f.options.server.as_ref()?.database.as_ref())
            .is_some_and(|d| *d.get_ref())
    }

    /// `[check] baseline`, resolved against the directory of the file that sets it.
    pub fn check_baseline(&self) -> Option<PathBuf> {
        self.chain.iter().rev().find_map(|f| {
            let baseline = f.options.check.as_ref()?.baseline.as_ref()?;
            let dir = f
                .path
                .as_deref()
                .and_then(Path::parent)
                .unwrap_or(Path::new(""));
            Some(dir.join(baseline.get_ref()))
        })
    }

    pub fn database(&self, root: &Path) -> Result<DatabaseConfig, Error> {
        let mut out = DatabaseConfig::default();
        for file in &self.chain {
            let Some(d) = &file.options.database else {
                continue;
            };
            if let Some(u) = &d.url {
                out.url = Some(u.clone());
            }
            if let Some(s) = &d.snapshot {
                out.snapshot = Some(Spanned::new(s.span(), root.join(s.get_ref())));
            }
            if let Some(t) = &d.version_table {
                out.version_table = Some(t.get_ref().clone());
            }
            if let Some(s) = &d.version_table_schema {
                out.version_table_schema = Some(s.get_ref().clone());
            }
            if let Some(s) = &d.schemas {
                out.schemas = s.get_ref().iter().map(|s| s.get_ref().clone()).collect();
            }
            if let Some(t) = &d.connect_timeout {
                out.connect_timeout = Some(parse_duration(t.get_ref()).ok_or_else(|| {
                    file.error(
                        t.span(),
                        format!("invalid `connect_timeout` `{}`", t.get_ref()),
                        "not a duration",
                        Some(
                            "a number with a unit: `500ms`, `5s`, `1m` (a bare number is seconds)"
                                .into(),
                        ),
                    )
                })?);
            }
        }
        Ok(out)
    }

    /// `[models]`; each path pattern is checked to be a valid glob.
    pub fn models(&self) -> Result<ModelsConfig, Error> {
        let mut out = ModelsConfig::default();
        for file in &self.chain {
            let Some(m) = &file.options.models else {
                continue;
            };
            if let Some(p) = &m.paths {
                for pattern in p.get_ref() {
                    compile_glob(file, pattern, "paths")?;
                }
                out.paths = p.get_ref().iter().map(|s| s.get_ref().clone()).collect();
            }
            if let Some(t) = &m.ignore_tables {
                out.ignore_tables = t.get_ref().iter().map(|s| s.get_ref().clone()).collect();
            }
        }
        for file in &self.chain {
            if let Some(v) = file
                .options
                .drift
                .as_ref()
                .and_then(|d| d.compare_server_default.as_ref())
            {
                out.compare_server_default = *v.get_ref();
            }
        }
        Ok(out)
    }
}

fn chain_ref(chain: &[ConfigFile], i: usize) -> &ConfigFile {
    &chain[i]
}

/// `5s`, `500ms`, `2m`, `1h`, or a bare number of seconds.
fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n: u64 = s[..digits].parse().ok()?;
    match s[digits..].trim() {
        "" | "s" => Some(Duration::from_secs(n)),
        "ms" => Some(Duration::from_millis(n)),
        // Checked: `18446744073709551615h` is not a duration, not an overflow panic.
        "m" => n.checked_mul(60).map(Duration::from_secs),
        "h" => n.checked_mul(3600).map(Duration::from_secs),
        _ => None,
    }
}

/// `16MiB`, `500KB`, `64 MB`, `1GB`, or a bare number of bytes (`K`/`M`/`G` and
/// their `B`/`iB` spellings; decimal units are powers of 1000). At least 1 byte.
fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n: u64 = s[..digits].parse().ok()?;
    let unit: u64 = match s[digits..].trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1 << 10,
        "m" | "mb" => 1000 * 1000,
        "mib" => 1 << 20,
        "g" | "gb" => 1000 * 1000 * 1000,
        "gib" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(unit).filter(|&b| b > 0)
}

/// The longest glob accepted, in bytes: a path pattern is a few dozen; tens of
/// thousands of `*` make globset's regex compilation panic or crawl.
pub const MAX_GLOB_LEN: usize = 1024;

/// The most wildcards (`*`, `?`, `[`, `{`) a glob may hold.
pub const MAX_GLOB_WILDCARDS: usize = 64;

/// A glob as migverify reads paths: relative to the project root, `*` never
/// crosses a `/`, and a pattern without `/` matches at any depth (`**/pattern`).
/// The error is globset's reason, or the bound a pattern exceeds.
pub fn glob_matcher(pattern: &str) -> Result<globset::GlobMatcher, String> {
    if pattern.len() > MAX_GLOB_LEN {
        return Err(format!(
            "the pattern is {} bytes long, over the limit of {MAX_GLOB_LEN}",
            pattern.len()
        ));
    }
    let wildcards = pattern
        .bytes()
        .filter(|b| matches!(b, b'*' | b'?' | b'[' | b'{'))
        .count();
    if wildcards > MAX_GLOB_WILDCARDS {
        return Err(format!(
            "the pattern has {wildcards} wildcards, over the limit of {MAX_GLOB_WILDCARDS}"
        ));
    }
    glob_matcher_unbounded(pattern).map_err(|e| e.kind().to_string())
}

fn glob_matcher_unbounded(pattern: &str) -> Result<globset::GlobMatcher, globset::Error> {
    let full = if pattern.contains('/') {
        pattern.trim_start_matches("./").to_string()
    } else {
        format!("**/{pattern}")
    };
    Ok(GlobBuilder::new(&full)
        .literal_separator(true)
        .build()?
        .compile_matcher())
}

fn compile_glob(
    file: &ConfigFile,
    pattern: &Spanned<String>,
    key: &str,
) -> Result<PathPattern, Error> {
    let matcher = glob_matcher(pattern.get_ref()).map_err(|e| {
        file.error(
            pattern.span(),
            format!("invalid glob in `{key}`: {e}"),
            "invalid glob",
            Some("globs use globset syntax: `*`, `**`, `?`, `[abc]`, `{a,b}`".into()),
        )
    })?;
    Ok(PathPattern {
        pattern: pattern.get_ref().clone(),
        matcher,
    })
}

/// Where a selector was written, for its error.
#[derive(Clone)]
enum Origin<'a> {
    File {
        file: &'a ConfigFile,
        span: Range<usize>,
        key: &'static str,
    },
    Flag(&'static str),
}

#[derive(Clone)]
struct Item<'a> {
    value: String,
    origin: Origin<'a>,
}

impl Item<'_> {
    fn error(&self, message: String, label: &str, help: Option<String>) -> Error {
        match &self.origin {
            Origin::File { file, span, .. } => file.error(span.clone(), message, label, help),
            Origin::Flag(_) => Error::Argument { message, help },
        }
    }

    fn key(&self) -> &'static str {
        match &self.origin {
            Origin::File { key, .. } => key,
            Origin::Flag(flag) => flag,
        }
    }

    /// The rules this selector names; an error when it names none (except a rule
    /// family of the catalog, `MV0`/`MV1`/`MV2`, whose rules may not exist yet).
    fn rules(&self, registry: &Registry) -> Result<Vec<usize>, Error> {
        let found = registry.select(&self.value);
        if !found.is_empty() || is_catalog_family(&self.value) {
            return Ok(found);
        }
        Err(self.error(
            format!(
                "unknown rule `{}` in `{}`",
                crate::text::truncate(&self.value, 60),
                self.key()
            ),
            "unknown rule",
            Some(unknown_rule_help(registry, &self.value)),
        ))
    }
}

/// `MV0`, `MV1`, `MV2`: the rule families of the catalog.
fn is_catalog_family(selector: &str) -> bool {
    let s = selector.to_ascii_uppercase();
    matches!(s.as_str(), "MV0" | "MV1" | "MV2")
}

fn unknown_rule_help(registry: &Registry, selector: &str) -> String {
    let mut help = String::new();
    if let Some(s) = registry.suggest(selector) {
        help.push_str(&format!("did you mean `{s}`? "));
    }
    help.push_str(
        "name a rule by its code (`MV003`), a code prefix (`MV0`), its name \
         (`empty-downgrade`) or `ALL`; `migverify rules` lists them",
    );
    help
}

/// One layer of selection: a preset, the user's file, or the command line.
#[derive(Default)]
struct Layer<'a> {
    select: Option<Vec<Item<'a>>>,
    extend_select: Vec<Item<'a>>,
    ignore: Vec<Item<'a>>,
    /// (rule selector, level)
    severity: Vec<(Item<'a>, Item<'a>)>,
}

fn items<'a>(
    file: &'a ConfigFile,
    list: &Option<super::schema::SpannedList>,
    key: &'static str,
) -> Option<Vec<Item<'a>>> {
    list.as_ref().map(|l| {
        l.get_ref()
            .iter()
            .map(|s| Item {
                value: s.get_ref().clone(),
                origin: Origin::File {
                    file,
                    span: s.span(),
                    key,
                },
            })
            .collect()
    })
}

fn layer_of(file: &ConfigFile) -> Layer<'_> {
    let Some(rules) = &file.options.rules else {
        return Layer::default();
    };
    let item = |s: &Spanned<String>, key| Item {
        value: s.get_ref().clone(),
        origin: Origin::File {
            file,
            span: s.span(),
            key,
        },
    };
    Layer {
        select: items(file, &rules.select, "select"),
        extend_select: items(file, &rules.extend_select, "extend-select").unwrap_or_default(),
        ignore: items(file, &rules.ignore, "ignore").unwrap_or_default(),
        severity: rules
            .severity
            .iter()
            .flatten()
            .map(|(k, v)| (item(k, "rules.severity"), item(v, "rules.severity")))
            .collect(),
    }
}

fn cli_layer(cli: &RuleSelection) -> Result<Layer<'static>, Error> {
    let flag = |v: &Vec<String>, flag: &'static str| -> Vec<Item<'static>> {
        v.iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .map(|s| Item {
                value: s.to_string(),
                origin: Origin::Flag(flag),
            })
            .collect()
    };
    let mut severity = Vec::new();
    for spec in &cli.severity {
        let Some((rule, level)) = spec.split_once('=') else {
            return Err(Error::Argument {
                message: format!("--severity: `{spec}` is not RULE=LEVEL"),
                help: Some(format!(
                    "e.g. `--severity empty-downgrade=error`; levels: {}",
                    Level::CHOICES.join(", ")
                )),
            });
        };
        let item = |v: &str| Item {
            value: v.trim().to_string(),
            origin: Origin::Flag("--severity"),
        };
        severity.push((item(rule), item(level)));
    }
    Ok(Layer {
        select: (!cli.select.is_empty()).then(|| flag(&cli.select, "--select")),
        extend_select: flag(&cli.extend_select, "--extend-select"),
        ignore: flag(&cli.ignore, "--ignore"),
        severity,
    })
}

/// The selection being built: which rules are on, and at what severity.
struct State {
    selected: Vec<bool>,
    severity: Vec<Severity>,
}

impl State {
    fn new(registry: &Registry) -> State {
        State {
            selected: registry
                .rules()
                .iter()
                .map(|r| r.meta().enabled_by_default)
                .collect(),
            severity: registry.rules().iter().map(|r| r.meta().severity).collect(),
        }
    }

    fn apply(&mut self, layer: &Layer<'_>, registry: &Registry) -> Result<(), Error> {
        if let Some(select) = &layer.select {
            let mut selected = vec![false; self.selected.len()];
            for item in select {
                for i in item.rules(registry)? {
                    selected[i] = true;
                }
            }
            self.selected = selected;
        }
        for item in &layer.extend_select {
            for i in item.rules(registry)? {
                self.selected[i] = true;
            }
        }
        for item in &layer.ignore {
            for i in item.rules(registry)? {
                self.selected[i] = false;
            }
        }
        // Less specific first, so `MV003 = "error"` wins over `ALL = "warning"`.
        let mut levels = Vec::new();
        for (rule, level) in &layer.severity {
            let rules = rule.rules(registry)?;
            let Some(parsed) = Level::parse(&level.value) else {
                return Err(level.error(
                    format!(
                        "invalid severity `{}` for `{}` in `{}`",
                        level.value,
                        rule.value,
                        level.key()
                    ),
                    "invalid severity",
                    Some(format!(
                        "{}valid levels: {}",
                        closest(&level.value, Level::CHOICES.iter().copied())
                            .map(|b| format!("did you mean `{b}`? "))
                            .unwrap_or_default(),
                        Level::CHOICES.join(", ")
                    )),
                ));
            };
            levels.push((rules, parsed));
        }
        levels.sort_by_key(|(rules, _)| std::cmp::Reverse(rules.len()));
        for (rules, level) in levels {
            for i in rules {
                match level.severity() {
                    Some(s) => self.severity[i] = s,
                    None => self.selected[i] = false,
                }
            }
        }
        Ok(())
    }

    fn enabled(&self) -> Vec<(usize, Severity)> {
        self.selected
            .iter()
            .enumerate()
            .filter(|(_, on)| **on)
            .map(|(i, _)| (i, self.severity[i]))
            .collect()
    }
}

fn per_file_ignores_of(
    file: &ConfigFile,
    registry: &Registry,
) -> Result<Vec<PerFileIgnore>, Error> {
    let mut out = Vec::new();
    for (pattern, rules) in file.options.per_file_ignores.iter().flatten() {
        let compiled = compile_glob(file, pattern, "per-file-ignores")?;
        let mut indices = Vec::new();
        for item in items(file, &Some(rules.clone()), "per-file-ignores")
            .into_iter()
            .flatten()
        {
            for i in item.rules(registry)? {
                if !indices.contains(&i) {
                    indices.push(i);
                }
            }
        }
        indices.sort_unstable();
        out.push(PerFileIgnore {
            pattern: compiled.pattern,
            matcher: compiled.matcher,
            rules: indices,
        });
    }
    Ok(out)
}

/// Resolves a selection with no config file at all: `recommended` plus the
/// command line (used by tests and by callers without a project).
pub fn resolve_selection(cli: &RuleSelection, registry: &Registry) -> Result<Settings, Error> {
    Config::load(None)?.settings(cli, registry)
}

/// The path a config value names, resolved against `root`.
pub fn resolve_path(root: &Path, value: &str) -> PathBuf {
    root.join(value)
}
