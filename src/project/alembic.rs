//! Alembic's own settings, read as Alembic (≥ 1.16) reads them: the `[alembic]`
//! section of `alembic.ini` (Python `ConfigParser` with `%(here)s` interpolation)
//! and `[tool.alembic]` in `pyproject.toml`. For each option the ini file comes
//! first, as in `alembic.config.Config.get_alembic_option`.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::Error;
use crate::config::load::config_error;

/// What migverify needs from Alembic's configuration.
#[derive(Clone, Debug, Default)]
pub struct AlembicConfig {
    /// The directory Alembic would be run from (where the files were found).
    pub dir: PathBuf,
    pub ini_path: Option<PathBuf>,
    /// `pyproject.toml`, when it has a `[tool.alembic]` table.
    pub pyproject_path: Option<PathBuf>,
    /// `script_location`, interpolated, as written (may be relative).
    pub script_location: Option<String>,
    /// `version_locations`, split and interpolated, as written.
    pub version_locations: Option<Vec<String>>,
    pub recursive_version_locations: bool,
    /// `sqlalchemy.url` from the ini file, raw (after interpolation).
    pub sqlalchemy_url: Option<String>,
    /// `prepend_sys_path`, split and interpolated: where Alembic's Python looks for
    /// the package of a `package:path` location first.
    pub prepend_sys_path: Vec<String>,
    /// The other sections of `alembic.ini` that set `script_location`, in file
    /// order: environments Alembic runs with `--name` (one ini file for several
    /// environments, as Alembic's cookbook shows).
    pub named_sections: Vec<String>,
}

impl AlembicConfig {
    /// Reads `alembic.ini` and `pyproject.toml` `[tool.alembic]` in `dir`; `None`
    /// when neither is there.
    pub fn read(dir: &Path) -> Result<Option<AlembicConfig>, Error> {
        Self::read_section(dir, MAIN_SECTION)
    }

    /// [`AlembicConfig::read`] with `section` of `alembic.ini` in place of
    /// `[alembic]` (Alembic's `--name`); `[tool.alembic]` is read only for the
    /// main section.
    pub fn read_section(dir: &Path, section: &str) -> Result<Option<AlembicConfig>, Error> {
        let ini_path = dir.join("alembic.ini");
        let ini = if ini_path.is_file() {
            let text = read(&ini_path)?;
            Some(Ini::parse(&ini_path, text, section)?)
        } else {
            None
        };
        let toml_path = dir.join("pyproject.toml");
        let toml = if toml_path.is_file() && section == MAIN_SECTION {
            tool_alembic(&toml_path)?
        } else {
            None
        };
        if ini.is_none() && toml.is_none() {
            return Ok(None);
        }
        let here = absolute(dir);
        let mut out = AlembicConfig {
            dir: dir.to_path_buf(),
            ini_path: ini.as_ref().map(|_| ini_path.clone()),
            pyproject_path: toml.as_ref().map(|_| toml_path.clone()),
            named_sections: ini
                .as_ref()
                .map(|i| i.named_sections.clone())
                .unwrap_or_default(),
            ..AlembicConfig::default()
        };
        let ini_get = |key: &str| -> Result<Option<String>, Error> {
            match &ini {
                Some(ini) => ini.get(key, &here),
                None => Ok(None),
            }
        };
        let toml_str = |key: &str| -> Result<Option<String>, Error> {
            let Some(t) = &toml else { return Ok(None) };
            match t.table.get(key) {
                None => Ok(None),
                Some(toml::Value::String(s)) => Ok(Some(t.interpolate(key, s, &here)?)),
                Some(_) => Err(t.error(key, "a string")),
            }
        };

        out.script_location = match ini_get("script_location")? {
            Some(v) => Some(v),
            None => toml_str("script_location")?,
        };
        out.sqlalchemy_url = ini_get("sqlalchemy.url")?;
        out.prepend_sys_path = match ini_get("prepend_sys_path")? {
            // Alembic splits on `path_separator` when set, else on spaces, commas
            // and colons; version_locations' splitter is close enough for the
            // directories migverify looks in.
            Some(v) => {
                let ini = ini.as_ref().expect("value from it");
                split_version_locations(ini, &v, &here)?
                    .into_iter()
                    .flat_map(|s| s.split(':').map(str::to_string).collect::<Vec<_>>())
                    .filter(|s| !s.is_empty())
                    .collect()
            }
            None => match toml.as_ref().and_then(|t| t.table.get("prepend_sys_path")) {
                Some(toml::Value::Array(items)) => items
                    .iter()
                    .filter_map(|i| i.as_str().map(str::to_string))
                    .collect(),
                Some(toml::Value::String(s)) => vec![s.clone()],
                _ => Vec::new(),
            },
        };
        out.recursive_version_locations = match ini_get("recursive_version_locations")? {
            // ConfigParser's value compared as Alembic does: exactly "true".
            Some(v) => v == "true",
            None => match toml
                .as_ref()
                .and_then(|t| t.table.get("recursive_version_locations"))
            {
                None => false,
                Some(toml::Value::Boolean(b)) => *b,
                Some(_) => {
                    return Err(toml
                        .as_ref()
                        .expect("value from it")
                        .error("recursive_version_locations", "a boolean"));
                }
            },
        };
        out.version_locations = match ini_get("version_locations")? {
            Some(v) if !v.is_empty() => {
                let ini = ini.as_ref().expect("value from it");
                Some(split_version_locations(ini, &v, &here)?)
            }
            _ => match toml.as_ref() {
                Some(t) => match t.table.get("version_locations") {
                    None => None,
                    Some(toml::Value::Array(items)) => {
                        let mut list = Vec::new();
                        for item in items {
                            let toml::Value::String(s) = item else {
                                return Err(t.error("version_locations", "a list of strings"));
                            };
                            list.push(t.interpolate("version_locations", s, &here)?);
                        }
                        Some(list)
                    }
                    Some(toml::Value::String(s)) => {
                        Some(vec![t.interpolate("version_locations", s, &here)?])
                    }
                    Some(_) => return Err(t.error("version_locations", "a list of strings")),
                },
                None => None,
            },
        };
        Ok(Some(out))
    }

    /// A path from Alembic's config, resolved the way running `alembic` in
    /// [`AlembicConfig::dir`] would: relative to that directory. A package
    /// resource (`myapp.db:migrations`) is looked up as in [`locate`]; when the
    /// package is not found, the path it would have below the directory.
    pub fn resolve(&self, value: &str) -> PathBuf {
        self.locate(value, &[]).unwrap_or_else(|e| e.fallback)
    }

    /// [`locate`] with the directories Alembic's Python would search:
    /// `prepend_sys_path` (relative to the directory), the directory itself and its
    /// `src/`, then `extra` (the project root and its `src/`, say).
    pub fn locate(&self, value: &str, extra: &[PathBuf]) -> Result<PathBuf, NoPackage> {
        let mut roots: Vec<PathBuf> = self
            .prepend_sys_path
            .iter()
            .map(|p| {
                self.dir
                    .join(p)
                    .components()
                    .filter(|c| !matches!(c, std::path::Component::CurDir))
                    .collect()
            })
            .collect();
        roots.push(self.dir.clone());
        roots.push(self.dir.join("src"));
        roots.extend(extra.iter().cloned());
        locate(&self.dir, value, &roots)
    }
}

/// A `package:path` location whose package is in none of the places searched.
#[derive(Clone, Debug)]
pub struct NoPackage {
    pub package: String,
    /// The directories the package was looked for in (each `root/package/as/dirs`).
    pub tried: Vec<PathBuf>,
    /// The path as if the package were below the config's directory.
    pub fallback: PathBuf,
}

impl NoPackage {
    /// A sentence naming what was tried, for an error message.
    pub fn describe(&self, value: &str, key: &str, source: &str) -> String {
        let tried: Vec<String> = self
            .tried
            .iter()
            .map(|p| format!("  {}", p.display()))
            .collect();
        format!(
            "{key} `{value}` (in {source}) names the package `{}`, which was not found; \
             looked for its directory at:\n{}",
            self.package,
            tried.join("\n")
        )
    }
}

/// See [`AlembicConfig::resolve`].
pub fn resolve_location(dir: &Path, value: &str) -> PathBuf {
    locate(dir, value, &[dir.to_path_buf()]).unwrap_or_else(|e| e.fallback)
}

/// Where a location from Alembic's config is: an absolute path as is; a value with
/// a `:` is a package resource, `package.sub:path/in/it` (Alembic's
/// `coerce_resource_to_filename`: `importlib.resources.files("package.sub")`, then
/// each further `:`-separated part), looked up as Python would import the package:
/// in each of `roots` in turn, the first where `package/sub` is a directory (or
/// `package/sub.py` a module, whose directory it is); anything else is relative to
/// `dir`.
pub fn locate(dir: &Path, value: &str, roots: &[PathBuf]) -> Result<PathBuf, NoPackage> {
    let p = Path::new(value);
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    if !value.contains(':') {
        return Ok(dir.join(p));
    }
    let mut tokens = value.split(':');
    let package = tokens.next().unwrap_or_default();
    let rest: Vec<&str> = tokens.collect();
    let as_dirs: PathBuf = package.split('.').collect();
    let with_rest = |mut base: PathBuf| {
        for t in &rest {
            base.push(t);
        }
        base
    };
    let mut tried: Vec<PathBuf> = Vec::new();
    for root in roots {
        let candidate = root.join(&as_dirs);
        if tried.contains(&candidate) {
            continue;
        }
        if candidate.is_dir() {
            return Ok(with_rest(candidate));
        }
        if candidate.with_extension("py").is_file()
            && let Some(parent) = candidate.parent()
        {
            return Ok(with_rest(parent.to_path_buf()));
        }
        tried.push(candidate);
    }
    Err(NoPackage {
        package: package.to_string(),
        tried,
        fallback: with_rest(dir.join(&as_dirs)),
    })
}

fn read(path: &Path) -> Result<String, Error> {
    let bytes = crate::bounded::read(path, crate::bounded::CONFIG_LIMIT, "a configuration file")
        .map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn absolute(dir: &Path) -> String {
    let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    abs.to_string_lossy().replace('\\', "/")
}

/// `version_locations` from the ini file, split as Alembic splits it: on
/// `path_separator` (or the deprecated `version_path_separator`) when set, else
/// the legacy way, on commas and spaces.
fn split_version_locations(ini: &Ini, value: &str, here: &str) -> Result<Vec<String>, Error> {
    let mut sep = None;
    for name in ["path_separator", "version_path_separator"] {
        if let Some(v) = ini.get(name, here)? {
            let ch = match v.as_str() {
                "space" => " ",
                "newline" => "\n",
                "os" => {
                    if cfg!(windows) {
                        ";"
                    } else {
                        ":"
                    }
                }
                ":" => ":",
                ";" => ";",
                _ => {
                    return Err(ini.error(
                        name,
                        format!("`{v}` is not a valid value for {name}"),
                        "invalid separator",
                        Some("expected `space`, `newline`, `os`, `:` or `;`".into()),
                    ));
                }
            };
            sep = Some(ch);
            break;
        }
    }
    Ok(match sep {
        // Alembic: [x.strip() for x in s.split(sep) if x]; blank entries dropped.
        Some(sep) => value
            .split(sep)
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect(),
        // Legacy: re.split(r", *|(?: +)", s).
        None => value
            .split(',')
            .flat_map(|part| part.trim_start_matches(' ').split(' '))
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

/// `[tool.alembic]` of a `pyproject.toml`.
struct ToolAlembic {
    name: String,
    text: String,
    table: toml::Table,
}

fn tool_alembic(path: &Path) -> Result<Option<ToolAlembic>, Error> {
    let text = read(path)?;
    let name = path.display().to_string();
    let doc: toml::Table = match toml::from_str(&text) {
        Ok(t) => t,
        Err(e) => {
            if !text.contains("alembic") {
                // Not ours to report: Alembic would only read it for [tool.alembic].
                return Ok(None);
            }
            return Err(config_error(
                &name,
                &text,
                e.span(),
                format!("invalid TOML: {}", e.message().trim()),
                "here",
                None,
            ));
        }
    };
    let table = match doc.get("tool").and_then(|t| t.get("alembic")) {
        None => return Ok(None),
        Some(toml::Value::Table(t)) => t.clone(),
        Some(_) => {
            return Err(config_error(
                &name,
                &text,
                None,
                "`tool.alembic` in pyproject.toml is not a table",
                "",
                None,
            ));
        }
    };
    Ok(Some(ToolAlembic { name, text, table }))
}

impl ToolAlembic {
    fn span_of(&self, key: &str) -> Option<Range<usize>> {
        // Best effort: the first `key =` after `[tool.alembic]`.
        let start = self.text.find("[tool.alembic]").unwrap_or(0);
        let at = self.text[start..].find(key)? + start;
        Some(at..at + key.len())
    }

    fn error(&self, key: &str, expected: &str) -> Error {
        config_error(
            &self.name,
            &self.text,
            self.span_of(key),
            format!("[tool.alembic] `{key}` must be {expected}"),
            "wrong type",
            None,
        )
    }

    /// Python's `value % {"here": ...}`: `%(here)s` and `%%`.
    fn interpolate(&self, key: &str, value: &str, here: &str) -> Result<String, Error> {
        let vars = HashMap::from([("here".to_string(), here.to_string())]);
        percent_format(value, &mut |name| vars.get(name).cloned()).map_err(|m| {
            config_error(
                &self.name,
                &self.text,
                self.span_of(key),
                format!("[tool.alembic] `{key}`: {m}"),
                "here",
                Some("only `%(here)s` and `%%` are substituted".into()),
            )
        })
    }
}

/// Expands `%(name)s` with `lookup` and `%%` to `%`; any other `%` is an error.
fn percent_format(
    value: &str,
    lookup: &mut dyn FnMut(&str) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = value;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        if let Some(r) = rest.strip_prefix("%%") {
            out.push('%');
            rest = r;
        } else if let Some(r) = rest.strip_prefix("%(") {
            let Some(end) = r.find(")s") else {
                return Err(format!("bad interpolation syntax in `{value}`"));
            };
            let name = &r[..end];
            let Some(v) = lookup(name) else {
                return Err(format!("unknown interpolation `%({name})s`"));
            };
            out.push_str(&v);
            rest = &r[end + 2..];
        } else {
            return Err(format!(
                "'%' must be followed by '%' or '(' in `{value}` (write `%%` for a literal %)"
            ));
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The parts of an ini file migverify reads, parsed like Python's `ConfigParser`
/// (comment lines `#`/`;`, `key = value` or `key: value`, keys lower-cased,
/// indented continuation lines, `[DEFAULT]` visible from every section).
struct Ini {
    name: String,
    text: String,
    /// The read section's options (`[alembic]`, or `--name`'s): key → (raw value,
    /// span of the value).
    alembic: HashMap<String, (String, Range<usize>)>,
    defaults: HashMap<String, (String, Range<usize>)>,
    /// Sections other than `[alembic]` that set `script_location`.
    named_sections: Vec<String>,
}

const MAIN_SECTION: &str = "alembic";

impl Ini {
    fn parse(path: &Path, text: String, section: &str) -> Result<Ini, Error> {
        let name = path.display().to_string();
        let mut alembic: HashMap<String, (String, Range<usize>)> = HashMap::new();
        let mut defaults: HashMap<String, (String, Range<usize>)> = HashMap::new();
        // Which map the current section feeds (None: a section we don't read).
        let mut current: Option<&str> = None;
        let mut header_name = String::new();
        let mut named_sections: Vec<String> = Vec::new();
        let mut seen_section = false;
        let mut option: Option<String> = None;
        let mut indent_level = 0usize;
        let mut offset = 0usize;
        for raw_line in text.split_inclusive('\n') {
            let line_start = offset;
            offset += raw_line.len();
            let line = raw_line.trim_end_matches(['\n', '\r']);
            let stripped = line.trim();
            if stripped.is_empty() || stripped.starts_with('#') || stripped.starts_with(';') {
                if stripped.is_empty()
                    && let (Some(sec), Some(opt)) = (current, &option)
                {
                    let map = if sec == section {
                        &mut alembic
                    } else {
                        &mut defaults
                    };
                    if let Some((v, _)) = map.get_mut(opt) {
                        v.push('\n');
                    }
                }
                continue;
            }
            let indent = line.len() - line.trim_start().len();
            if option.is_some() && indent > indent_level {
                if let (Some(sec), Some(opt)) = (current, &option) {
                    let map = if sec == section {
                        &mut alembic
                    } else {
                        &mut defaults
                    };
                    if let Some((v, span)) = map.get_mut(opt) {
                        v.push('\n');
                        v.push_str(stripped);
                        span.end = line_start + line.trim_end().len();
                    }
                }
                continue;
            }
            indent_level = indent;
            if stripped.starts_with('[') && stripped.ends_with(']') && stripped.len() > 2 {
                let header = &stripped[1..stripped.len() - 1];
                seen_section = true;
                option = None;
                current = if header == section {
                    Some(section)
                } else if header == "DEFAULT" {
                    Some("DEFAULT")
                } else {
                    None
                };
                header_name = header.to_string();
                continue;
            }
            if !seen_section {
                return Err(config_error(
                    &name,
                    &text,
                    Some(line_start + indent..line_start + line.len()),
                    "alembic.ini: a line before the first [section] header",
                    "no section",
                    None,
                ));
            }
            let Some(sep) = stripped.find(['=', ':']) else {
                return Err(config_error(
                    &name,
                    &text,
                    Some(line_start + indent..line_start + line.len()),
                    "alembic.ini: a line that is neither `key = value` nor a [section]",
                    "cannot parse",
                    None,
                ));
            };
            let key = stripped[..sep].trim_end().to_lowercase();
            let value = stripped[sep + 1..].trim();
            let value_start = line_start
                + line
                    .find(value)
                    .filter(|_| !value.is_empty())
                    .unwrap_or(line.len());
            let span = value_start..value_start + value.len();
            if key == "script_location"
                && !matches!(header_name.as_str(), MAIN_SECTION | "DEFAULT")
                && !named_sections.contains(&header_name)
            {
                named_sections.push(header_name.clone());
            }
            if let Some(sec) = current {
                let map = if sec == section {
                    &mut alembic
                } else {
                    &mut defaults
                };
                map.insert(key.clone(), (value.to_string(), span));
            }
            option = Some(key);
        }
        // ConfigParser drops trailing blank lines of multi-line values.
        for map in [&mut alembic, &mut defaults] {
            for (v, _) in map.values_mut() {
                let trimmed = v.trim_end_matches('\n').len();
                v.truncate(trimmed);
            }
        }
        Ok(Ini {
            name,
            text,
            alembic,
            defaults,
            named_sections,
        })
    }

    fn raw(&self, key: &str) -> Option<&(String, Range<usize>)> {
        self.alembic.get(key).or_else(|| self.defaults.get(key))
    }

    fn error(&self, key: &str, message: String, label: &str, help: Option<String>) -> Error {
        config_error(
            &self.name,
            &self.text,
            self.raw(key).map(|(_, s)| s.clone()),
            message,
            label,
            help,
        )
    }

    /// An `[alembic]` option after `ConfigParser`'s basic interpolation.
    fn get(&self, key: &str, here: &str) -> Result<Option<String>, Error> {
        let Some((value, _)) = self.raw(key) else {
            return Ok(None);
        };
        self.interpolate(key, value, here, 0).map(Some)
    }

    fn interpolate(
        &self,
        key: &str,
        value: &str,
        here: &str,
        depth: usize,
    ) -> Result<String, Error> {
        if depth > 10 {
            return Err(self.error(
                key,
                format!("alembic.ini: interpolation of `{key}` is too deep (a cycle?)"),
                "here",
                None,
            ));
        }
        let lookup = |name: &str| -> Option<String> {
            let name = name.to_lowercase();
            if name == "here"
                && !self.alembic.contains_key("here")
                && !self.defaults.contains_key("here")
            {
                return Some(here.to_string());
            }
            self.raw(&name).map(|(v, _)| v.clone())
        };
        // Expand one level, then recurse into what references expanded to.
        let mut err = None;
        let expanded = percent_format(value, &mut |name| {
            let v = lookup(name)?;
            if v.contains('%') {
                match self.interpolate(name, &v, here, depth + 1) {
                    Ok(v) => Some(v),
                    Err(e) => {
                        err.get_or_insert(e.to_string());
                        Some(String::new())
                    }
                }
            } else {
                Some(v)
            }
        });
        match (expanded, err) {
            (Ok(v), None) => Ok(v),
            (Ok(_), Some(m)) | (Err(m), _) => Err(self.error(
                key,
                format!("alembic.ini: `{key}`: {m}"),
                "here",
                Some("ConfigParser interpolation: `%(here)s` is the ini file's directory; write `%%` for a literal %".into()),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ini(text: &str) -> Ini {
        Ini::parse(Path::new("alembic.ini"), text.to_string(), MAIN_SECTION).unwrap()
    }

    #[test]
    fn configparser_semantics() {
        let i = ini(
            "# comment\n[DEFAULT]\nbase = /srv\n[alembic]\nScript_Location = %(here)s/alembic\n\
             version_locations =\n    %(base)s/a\n    %(here)s/b\n\nurl: x%%y\n[other]\nscript_location = no\n",
        );
        assert_eq!(
            i.get("script_location", "/p").unwrap().as_deref(),
            Some("/p/alembic")
        );
        assert_eq!(
            i.get("version_locations", "/p").unwrap().as_deref(),
            Some("\n/srv/a\n/p/b")
        );
        assert_eq!(i.get("url", "/p").unwrap().as_deref(), Some("x%y"));
        assert_eq!(i.get("base", "/p").unwrap().as_deref(), Some("/srv"));
    }

    #[test]
    fn legacy_split() {
        let i = ini("[alembic]\n");
        assert_eq!(
            split_version_locations(&i, "a, b  c,d", "/").unwrap(),
            vec!["a", "b", "c", "d"]
        );
        let i = ini("[alembic]\npath_separator = newline\n");
        assert_eq!(
            split_version_locations(&i, "\na b\n c", "/").unwrap(),
            vec!["a b", "c"]
        );
        let i = ini("[alembic]\nversion_path_separator = ;\n");
        assert_eq!(
            split_version_locations(&i, "a;b c", "/").unwrap(),
            vec!["a", "b c"]
        );
        // As Alembic 1.20 splits `a, b  c,d` with `path_separator = space`.
        let i = ini("[alembic]\npath_separator = space\n");
        assert_eq!(
            split_version_locations(&i, "a, b  c,d", "/").unwrap(),
            vec!["a,", "b", "c,d"]
        );
        let i = ini("[alembic]\npath_separator = comma\n");
        let err = split_version_locations(&i, "a", "/").unwrap_err();
        assert!(
            err.to_string()
                .contains("not a valid value for path_separator")
        );
    }

    #[test]
    fn package_found_in_src_or_an_ancestor() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("src/myapp/db/migrations")).unwrap();
        std::fs::create_dir_all(root.join("deploy")).unwrap();
        let roots = [
            root.join("deploy"),
            root.join("deploy/src"),
            root.to_path_buf(),
            root.join("src"),
        ];
        assert_eq!(
            locate(&root.join("deploy"), "myapp.db:migrations", &roots).unwrap(),
            root.join("src/myapp/db/migrations")
        );
        let err = locate(&root.join("deploy"), "other.pkg:migrations", &roots).unwrap_err();
        assert_eq!(err.package, "other.pkg");
        assert_eq!(err.tried.len(), 4);
        assert_eq!(err.tried[3], root.join("src/other/pkg"));
        let msg = err.describe("other.pkg:migrations", "script_location", "alembic.ini");
        assert!(msg.contains("package `other.pkg`"), "{msg}");
        assert!(
            msg.contains(&root.join("src/other/pkg").display().to_string()),
            "{msg}"
        );
    }

    #[test]
    fn resource_locations() {
        assert_eq!(
            resolve_location(Path::new("/p"), "myapp.db:migrations"),
            PathBuf::from("/p/myapp/db/migrations")
        );
        assert_eq!(
            resolve_location(Path::new("/p"), "/abs"),
            PathBuf::from("/abs")
        );
        assert_eq!(
            resolve_location(Path::new("/p"), "rel/x"),
            PathBuf::from("/p/rel/x")
        );
    }
}
