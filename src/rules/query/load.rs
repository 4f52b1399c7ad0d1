//! Loading query rules: the one function both migverify's rules (`rules/`,
//! embedded) and a team's (`[[rules.custom]]`, `[rules] dirs`) go through.

use std::ops::Range;
use std::sync::{Arc, OnceLock};

use tree_sitter::Query;

use super::predicate::Predicate;
use super::spec::{RuleSpec, value_offsets};
use super::template::Template;
use super::{Inner, QueryRule, Scope};
use crate::Error;
use crate::diagnostic::Severity;
use crate::error::config_error;
use crate::rules::{Input, RuleMeta, RuleSource};

/// A file rule text comes from: how errors name it, and its text.
#[derive(Debug)]
pub struct SourceText {
    pub name: String,
    pub text: String,
}

impl SourceText {
    fn error(
        &self,
        span: Range<usize>,
        message: impl Into<String>,
        label: impl Into<String>,
        help: Option<String>,
    ) -> Error {
        let end = span.end.min(self.text.len());
        let start = span.start.min(end);
        config_error(
            &self.name,
            &self.text,
            Some(start..end),
            message,
            label,
            help,
        )
    }
}

/// A rule as written, before compiling.
#[derive(Debug)]
pub struct RuleDef {
    /// The TOML holding the metadata (a config file or a rule file).
    pub file: Arc<SourceText>,
    pub spec: RuleSpec,
    /// The query from a `.scm` file next to the rule file (else `spec.query`).
    pub scm: Option<SourceText>,
    pub source: RuleSource,
}

// ---------------------------------------------------------------- built-in

macro_rules! builtin {
    ($stem:literal) => {
        (
            $stem,
            include_str!(concat!("../../../rules/", $stem, ".toml")),
            include_str!(concat!("../../../rules/", $stem, ".scm")),
        )
    };
}

/// `(file stem, TOML, query)` of every rule in `rules/`.
pub const BUILTIN: &[(&str, &str, &str)] = &[
    builtin!("MV301-drop-table"),
    builtin!("MV302-drop-column"),
    builtin!("MV303-add-not-null-column"),
    builtin!("MV304-create-index-not-concurrently"),
    builtin!("MV305-concurrent-index-in-transaction"),
    builtin!("MV306-rename-table"),
    builtin!("MV307-rename-column"),
    builtin!("MV308-change-column-type"),
    builtin!("MV309-raw-sql"),
];

/// migverify's query rules, loaded once per process. Their queries are compiled
/// only when a run needs them (a file to parse with the rule enabled): compiling
/// the pack costs more than a whole warm check. The test
/// `builtin_rules_pass_every_check` loads them with every check.
pub fn builtin() -> &'static [QueryRule] {
    static RULES: OnceLock<Vec<QueryRule>> = OnceLock::new();
    RULES.get_or_init(|| {
        load_checked(builtin_defs(), &[], Check::Trusted)
            .unwrap_or_else(|e| panic!("a built-in query rule does not load: {e:?}"))
    })
}

fn builtin_defs() -> Vec<RuleDef> {
    BUILTIN
        .iter()
        .map(|(stem, toml_text, scm)| {
            let name = format!("rules/{stem}.toml");
            let spec: RuleSpec =
                toml::from_str(toml_text).unwrap_or_else(|e| panic!("{name} does not parse: {e}"));
            RuleDef {
                file: Arc::new(SourceText {
                    name,
                    text: toml_text.to_string(),
                }),
                spec,
                scm: Some(SourceText {
                    name: format!("rules/{stem}.scm"),
                    text: scm.to_string(),
                }),
                source: RuleSource::Builtin,
            }
        })
        .collect()
}

// ---------------------------------------------------------------- compiling

/// The byte range in the file of `range` within a spanned string's value (the
/// whole string when its escapes are not understood).
fn inner(file: &SourceText, s: &toml::Spanned<String>, range: Range<usize>) -> Range<usize> {
    let span = s.span();
    let raw = file.text.get(span.clone()).unwrap_or("");
    match value_offsets(raw, s.get_ref()) {
        Some(map) => {
            let at = |i: usize| span.start + map[i.min(map.len() - 1)];
            let start = at(range.start);
            let end = at(range.end).max(start + 1);
            start..end
        }
        None => span,
    }
}

fn is_code(s: &str) -> bool {
    let digits = s.trim_start_matches(|c: char| c.is_ascii_uppercase());
    digits.len() < s.len() && !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
}

fn is_kebab(s: &str) -> bool {
    !s.is_empty()
        && s.split('-').all(|w| {
            !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

/// Compiles rule definitions into rules, checking each: a well-formed code and name
/// taken by no rule of `taken` nor an earlier definition, a known severity and
/// scope, a query that compiles against tree-sitter-python with known
/// predicates, and templates naming only its captures.
pub fn load(defs: Vec<RuleDef>, taken: &[&RuleMeta]) -> Result<Vec<QueryRule>, Error> {
    load_checked(defs, taken, Check::All)
}

/// How much of a rule [`load_checked`] checks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Check {
    /// Everything, the query compiled: users' rules.
    All,
    /// Everything but compiling the query (templates are checked against the
    /// captures its text names): migverify's own rules, which tests check in full.
    Trusted,
}

/// How deep a query's parentheses and brackets may nest.
const MAX_QUERY_DEPTH: usize = 100;

/// The offset of the bracket that opens level [`MAX_QUERY_DEPTH`] + 1 of a query
/// (outside strings and `;` comments), if any.
fn too_deep_query(query: &str) -> Option<usize> {
    let bytes = query.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b';' => i = query[i..].find('\n').map_or(bytes.len(), |n| i + n),
            b'(' | b'[' => {
                depth += 1;
                if depth > MAX_QUERY_DEPTH {
                    return Some(i);
                }
                i += 1;
            }
            b')' | b']' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            _ => i += 1,
        }
    }
    None
}

/// The captures a query's text names (`@name` outside strings and comments).
fn captures_in(query: &str) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    let bytes = query.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b';' => i = query[i..].find('\n').map_or(bytes.len(), |n| i + n),
            b'@' => {
                let start = i + 1;
                let end = query[start..]
                    .find(|c: char| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '.')))
                    .map_or(query.len(), |n| start + n);
                if end > start && !out.contains(&&query[start..end]) {
                    out.push(&query[start..end]);
                }
                i = end;
            }
            _ => i += 1,
        }
    }
    out
}

fn load_checked(
    defs: Vec<RuleDef>,
    taken: &[&RuleMeta],
    check: Check,
) -> Result<Vec<QueryRule>, Error> {
    let language: tree_sitter::Language = tree_sitter_python::LANGUAGE.into();
    let mut out: Vec<QueryRule> = Vec::new();
    // (code, name, where the code was written)
    let mut defined: Vec<(String, String, String)> = Vec::new();
    for def in defs {
        let RuleDef {
            file,
            spec,
            scm,
            source,
        } = def;
        let builtin = source == RuleSource::Builtin;
        let code = spec.code.get_ref();
        if !is_code(code) {
            return Err(file.error(
                spec.code.span(),
                format!("invalid rule code `{code}`"),
                "not a code",
                Some("a rule code is capital letters then digits: `TEAM001`, `SEC12`".into()),
            ));
        }
        if !builtin && code.starts_with("MV") {
            return Err(file.error(
                spec.code.span(),
                format!("rule code `{code}` uses migverify's prefix"),
                "reserved prefix",
                Some("codes starting with `MV` are migverify's own; pick your team's prefix, such as `TEAM001`".into()),
            ));
        }
        let name = spec.name.get_ref();
        if !is_kebab(name) {
            return Err(file.error(
                spec.name.span(),
                format!("invalid rule name `{name}`"),
                "not kebab-case",
                Some("a rule name is lowercase words joined by `-`: `no-raw-sql`".into()),
            ));
        }
        for m in taken {
            if m.code.eq_ignore_ascii_case(code) {
                return Err(file.error(
                    spec.code.span(),
                    format!(
                        "rule code `{code}` is already taken by {} `{}`",
                        m.source.describe(),
                        m.name
                    ),
                    "taken",
                    Some("pick another code; `migverify rules` lists the codes in use".into()),
                ));
            }
            if m.name == *name {
                return Err(file.error(
                    spec.name.span(),
                    format!(
                        "rule name `{name}` is already taken by {} rule {}",
                        m.source.describe(),
                        m.code
                    ),
                    "taken",
                    Some("pick another name; `migverify rules` lists the names in use".into()),
                ));
            }
        }
        let place = format!(
            "{}:{}",
            file.name,
            line_of(&file.text, spec.code.span().start)
        );
        for (c, n, at) in &defined {
            if c.eq_ignore_ascii_case(code) {
                return Err(file.error(
                    spec.code.span(),
                    format!("duplicate rule code `{code}`"),
                    "defined twice",
                    Some(format!("`{c}` is first defined at {at}")),
                ));
            }
            if n == name {
                return Err(file.error(
                    spec.name.span(),
                    format!("duplicate rule name `{name}`"),
                    "defined twice",
                    Some(format!("`{n}` is first defined (as {c}) at {at}")),
                ));
            }
        }
        defined.push((code.clone(), name.clone(), place));

        let severity = match &spec.severity {
            None => Severity::Warning,
            Some(s) => match s.get_ref().as_str() {
                "error" => Severity::Error,
                "warning" => Severity::Warning,
                "info" => Severity::Info,
                other => {
                    return Err(file.error(
                        s.span(),
                        format!("invalid severity `{other}` for rule {code}"),
                        "invalid severity",
                        Some("valid severities: error, warning, info (leave a rule off with `enabled-by-default = false`)".into()),
                    ));
                }
            },
        };
        let scope = match &spec.scope {
            None => Scope::Any,
            Some(s) => Scope::parse(s.get_ref()).ok_or_else(|| {
                file.error(
                    s.span(),
                    format!("invalid scope `{}` for rule {code}", s.get_ref()),
                    "invalid scope",
                    Some(format!("valid scopes: {}", Scope::CHOICES.join(", "))),
                )
            })?,
        };

        // The query: inline, or the `.scm` file.
        let (qtext, qfile): (String, QueryFile<'_>) = match (&spec.query, &scm) {
            (Some(q), Some(s)) => {
                return Err(file.error(
                    q.span(),
                    format!("rule {code} has both an inline `query` and {}", s.name),
                    "inline query",
                    Some("keep one of them".into()),
                ));
            }
            (Some(q), None) => (q.get_ref().clone(), QueryFile::Inline(&file, q)),
            (None, Some(s)) => (s.text.clone(), QueryFile::Scm(s)),
            (None, None) => {
                return Err(file.error(
                    spec.code.span(),
                    format!("rule {code} has no query"),
                    "no query",
                    Some("add `query = '''…'''`, or put the query in a `.scm` file named like the rule file".into()),
                ));
            }
        };
        // tree-sitter compiles (and later combines) a query recursively: 10,000
        // nested parentheses compile here on the main thread and then overflow a
        // worker thread's stack. No real pattern nests this deep.
        if let Some(at) = too_deep_query(&qtext) {
            return Err(qfile.error(
                at..at + 1,
                format!(
                    "the query of rule {code} nests more than {MAX_QUERY_DEPTH} levels of parentheses or brackets"
                ),
                "too deep".to_string(),
                Some("a pattern follows the syntax tree a few levels down; split it or use fewer levels".into()),
            ));
        }
        let compiled = if check == Check::All {
            let query = Query::new(&language, &qtext).map_err(|e| {
            let at = (line_start(&qtext, e.row) + e.column).min(qtext.len());
            let name = e.message.trim_matches('"');
            let (what, label, len) = match e.kind {
                tree_sitter::QueryErrorKind::NodeType => (
                    format!("unknown node type `{name}`"),
                    "tree-sitter-python has no such node".to_string(),
                    name.len(),
                ),
                tree_sitter::QueryErrorKind::Field => (
                    format!("unknown field `{name}`"),
                    "tree-sitter-python has no such field".to_string(),
                    name.len(),
                ),
                tree_sitter::QueryErrorKind::Capture => (
                    format!("unknown capture `@{name}`"),
                    "not captured in this pattern".to_string(),
                    name.len() + 1,
                ),
                tree_sitter::QueryErrorKind::Structure => (
                    "impossible pattern".to_string(),
                    "tree-sitter-python never builds this structure".to_string(),
                    1,
                ),
                tree_sitter::QueryErrorKind::Predicate => (
                    format!("invalid predicate: {}", e.message),
                    "in this pattern".to_string(),
                    1,
                ),
                _ if at >= qtext.trim_end().len() => (
                    "invalid query syntax".to_string(),
                    "the query ends here: a `)` or `]` missing?".to_string(),
                    1,
                ),
                _ => (
                    "invalid query syntax".to_string(),
                    "cannot be read from here".to_string(),
                    1,
                ),
            };
            let at = at.min(qtext.trim_end().len().saturating_sub(1));
            qfile.error(
                at..at + len.max(1),
                format!("the query of rule {code} does not compile: {what}"),
                label,
                Some("queries use tree-sitter's query syntax over tree-sitter-python's node types; see docs/writing-rules.md".into()),
            )
        })?;
            for pattern in 0..query.pattern_count() {
                for p in query.general_predicates(pattern) {
                    Predicate::parse(p).map_err(|(message, label)| {
                        let from = query.start_byte_for_pattern(pattern);
                        let needle = format!("#{}", p.operator);
                        let at = qtext[from..]
                            .find(&needle)
                            .map(|i| from + i..from + i + needle.len())
                            .unwrap_or(from..from + 1);
                        qfile.error(
                            at,
                            format!("rule {code}: {message}"),
                            label,
                            Some("docs/writing-rules.md lists the predicates".into()),
                        )
                    })?;
                }
            }
            Some(query)
        } else {
            None
        };
        let captures: Vec<&str> = match &compiled {
            Some(query) => query.capture_names().to_vec(),
            None => captures_in(&qtext),
        };
        let location = match &spec.location {
            None => None,
            Some(l) => {
                let name = l.get_ref().trim_start_matches('@');
                captures.contains(&name).then_some(()).ok_or_else(|| {
                    file.error(
                        l.span(),
                        format!("rule {code}: `location` names `@{name}`, which the query does not capture"),
                        "not a capture",
                        Some(format!("the query captures {}", list_captures(&captures))),
                    )
                })?;
                Some(name.to_string())
            }
        };
        let template = |s: &toml::Spanned<String>| {
            Template::parse(s.get_ref(), &captures).map_err(|e| {
                file.error(
                    inner(&file, s, e.range.clone()),
                    format!("rule {code}: {}", e.message),
                    e.label,
                    Some("write `{capture}` for a capture's text, `{{` and `}}` for braces".into()),
                )
            })
        };
        let message = template(&spec.message)?;
        let help = spec.help.as_ref().map(template).transpose()?;
        let mut wanted: Vec<String> = Vec::new();
        for c in message
            .captures()
            .chain(help.iter().flat_map(|h| h.captures()))
        {
            if !wanted.iter().any(|w| w == c) {
                wanted.push(c.to_string());
            }
        }
        let summary = spec
            .summary
            .as_ref()
            .map(|s| s.get_ref().trim_end_matches('.').to_string())
            .unwrap_or_else(|| message.elided());
        let mut doc = spec
            .docs
            .as_ref()
            .map(|d| d.get_ref().trim_end().to_string())
            .unwrap_or_default();
        if !doc.is_empty() {
            doc.push_str("\n\n");
        }
        doc.push_str(&format!(
            "## Query\nScope: `{}`.\n\n```scheme\n{}\n```\n",
            scope.as_str(),
            qtext.trim_end()
        ));
        let meta = RuleMeta {
            code: code.clone().into(),
            name: name.clone().into(),
            severity,
            enabled_by_default: spec
                .enabled_by_default
                .as_ref()
                .is_none_or(|e| *e.get_ref()),
            inputs: &[Input::Migrations],
            summary: summary.into(),
            doc: doc.into(),
            source,
        };
        out.push(QueryRule(Arc::new(Inner {
            meta,
            source: qtext,
            scope,
            location,
            message,
            help,
            wanted,
        })));
    }
    Ok(out)
}

/// Where a query's text is, for errors.
enum QueryFile<'a> {
    Inline(&'a SourceText, &'a toml::Spanned<String>),
    Scm(&'a SourceText),
}

impl QueryFile<'_> {
    fn error(
        &self,
        range: Range<usize>,
        message: String,
        label: String,
        help: Option<String>,
    ) -> Error {
        match self {
            QueryFile::Inline(file, s) => file.error(inner(file, s, range), message, label, help),
            QueryFile::Scm(file) => file.error(range, message, label, help),
        }
    }
}

fn list_captures(captures: &[&str]) -> String {
    if captures.is_empty() {
        return "nothing".into();
    }
    captures
        .iter()
        .map(|c| format!("@{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn line_start(text: &str, row: usize) -> usize {
    if row == 0 {
        return 0;
    }
    text.match_indices('\n')
        .nth(row - 1)
        .map_or(text.len(), |(i, _)| i + 1)
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn builtin_rules_pass_every_check() {
        // `builtin()` skips compiling; loading the same files with every check
        // compiles each query and checks its predicates and templates.
        let checked = load(builtin_defs(), &[]).unwrap_or_else(|e| panic!("{e:?}"));
        let trusted = builtin();
        assert_eq!(checked.len(), trusted.len());
        for (c, t) in checked.iter().zip(trusted) {
            assert_eq!(c.0.meta.code, t.0.meta.code);
            assert_eq!(c.0.meta.doc, t.0.meta.doc);
            assert_eq!((&c.0.wanted, &c.0.location), (&t.0.wanted, &t.0.location));
            let language: tree_sitter::Language = tree_sitter_python::LANGUAGE.into();
            let query = Query::new(&language, &t.0.source).unwrap();
            let mut names = query.capture_names().to_vec();
            let mut ours = captures_in(&t.0.source);
            names.sort_unstable();
            ours.sort_unstable();
            assert_eq!(ours, names, "{}", t.0.meta.code);
        }
    }

    #[test]
    fn query_depth_is_bounded_outside_strings_and_comments() {
        let deep = |n: usize| format!("{}(identifier){}", "(call ".repeat(n), ")".repeat(n));
        assert_eq!(too_deep_query(&deep(99)), None);
        assert_eq!(too_deep_query(&deep(100)), Some(6 * 100));
        assert_eq!(
            too_deep_query(&format!(
                "; {}\n((string) @s (#eq? @s \"{}\"))",
                "(".repeat(500),
                "[".repeat(500)
            )),
            None
        );
    }

    #[test]
    fn captures_are_read_outside_strings_and_comments() {
        let q = "; @not\n(call function: (_) @fn.name (#eq? @fn.name \"a@b \\\" @c\")) @call-x";
        assert_eq!(captures_in(q), ["fn.name", "call-x"]);
    }

    #[test]
    fn every_file_in_rules_is_embedded_and_named_after_its_rule() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".toml") || n.ends_with(".scm"))
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = BUILTIN
            .iter()
            .flat_map(|(stem, _, _)| [format!("{stem}.scm"), format!("{stem}.toml")])
            .collect();
        embedded.sort();
        assert_eq!(on_disk, embedded, "rules/ and BUILTIN in load.rs differ");
        let rules = builtin();
        assert_eq!(rules.len(), BUILTIN.len());
        for (rule, (stem, _, _)) in rules.iter().zip(BUILTIN) {
            let m = crate::rules::Rule::meta(rule);
            assert_eq!(*stem, format!("{}-{}", m.code, m.name));
            assert!(m.code.starts_with("MV3"), "{}", m.code);
            assert!(!m.enabled_by_default, "{} is off in `recommended`", m.code);
            assert_eq!(rule.scope(), Scope::Upgrade, "{}", m.code);
            assert_eq!(m.source, RuleSource::Builtin);
        }
    }

    #[test]
    fn string_offsets_survive_escapes_in_messages() {
        let text =
            "code = \"T1\"\nname = \"x\"\nmessage = \"a \\\"q\\\" {nope}\"\nquery = '(call) @c'\n";
        let spec: RuleSpec = toml::from_str(text).unwrap();
        let def = RuleDef {
            file: Arc::new(SourceText {
                name: "t.toml".into(),
                text: text.into(),
            }),
            spec,
            scm: None,
            source: RuleSource::User {
                file: "t.toml".into(),
                url: None,
            },
        };
        let Err(Error::Config { span, .. }) = load(vec![def], &[]) else {
            panic!("an error expected")
        };
        let span = span.unwrap();
        assert_eq!(&text[span.offset()..span.offset() + span.len()], "{nope}");
    }
}
