//! Which database Alembic's `env.py` connects to, read statically.
//!
//! Services rarely keep the URL in `alembic.ini`: `env.py` takes it from the
//! environment (`os.environ["DATABASE_URL"]`, `os.getenv("DATABASE_URL")`,
//! `os.environ.get("DATABASE_URL", default)`), sets it with
//! `config.set_main_option("sqlalchemy.url", ...)`, passes it to
//! `create_engine`/`create_async_engine` or `context.configure(url=...)`, often
//! after `load_dotenv()`. This module finds those places ("sinks") and follows the
//! value back through local names and helper functions (`def get_url(): return ...`)
//! to the environment variables it is read from. Nothing is executed.
//!
//! The answer is one of: the URL comes from these variables (with a literal or
//! `alembic.ini` fallback), `env.py` does not touch the URL (Alembic uses
//! `alembic.ini`), or `env.py` builds it in a way that cannot be read statically
//! (then migverify says so instead of checking `alembic.ini`'s database).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use tree_sitter::Node;

use crate::migration::{field, kind, parse_python, string_literal};

/// What `env.py` does with the database URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UrlSource {
    /// Read from the first of `vars` that is set, else `fallback`.
    Env {
        vars: Vec<String>,
        fallback: Fallback,
        /// Byte range of the expression reading the first variable.
        span: (usize, usize),
    },
    /// A literal URL written in `env.py`.
    Literal { url: String, span: (usize, usize) },
    /// Built in a way migverify cannot follow; `line` is 1-based, `text` the code.
    Unreadable { line: usize, text: String },
}

/// What an environment read falls back to when no variable is set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fallback {
    /// Nothing (Alembic would fail, or connect to `None`).
    None,
    /// A literal default (`os.getenv("X", "sqlite:///app.db")`).
    Literal(String),
    /// `config.get_main_option("sqlalchemy.url")`: `alembic.ini`'s value.
    Ini,
}

/// `env.py` read statically.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvPy {
    pub path: PathBuf,
    /// `None`: `env.py` leaves the URL to `alembic.ini`.
    pub url: Option<UrlSource>,
    /// `env.py` calls `load_dotenv(...)`.
    pub loads_dotenv: bool,
}

/// Expressions are followed through at most this many names and calls.
const MAX_DEPTH: usize = 8;

/// Reads `<script_location>/env.py`; `None` when there is no such file or it
/// cannot be read (Alembic would fail on it anyway).
pub fn read(path: &Path) -> Option<EnvPy> {
    let bytes = std::fs::read(path).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    Some(read_source(path.to_path_buf(), &text))
}

/// Reads `env.py`'s text.
pub fn read_source(path: PathBuf, text: &str) -> EnvPy {
    let Some(tree) = parse_python(text) else {
        return EnvPy {
            path,
            url: None,
            loads_dotenv: false,
        };
    };
    let mut r = Reader {
        text,
        assigned: HashMap::new(),
        functions: HashMap::new(),
        sinks: Vec::new(),
        loads_dotenv: false,
    };
    r.collect(tree.root_node());
    let url = r.url();
    EnvPy {
        path,
        url,
        loads_dotenv: r.loads_dotenv,
    }
}

struct Reader<'t> {
    text: &'t str,
    /// Each name's assigned values, in source order.
    assigned: HashMap<&'t str, Vec<Node<'t>>>,
    /// Module-level and nested `def`s: name -> body.
    functions: HashMap<&'t str, Node<'t>>,
    /// Expressions the URL is taken from, with whether it overrides Alembic's
    /// config (`set_main_option`) or is used directly.
    sinks: Vec<Node<'t>>,
    loads_dotenv: bool,
}

/// The outcome of following one expression.
enum Value {
    Source(UrlSource),
    /// `alembic.ini`'s URL.
    Ini,
}

impl<'t> Reader<'t> {
    fn text(&self, n: Node) -> &'t str {
        &self.text[n.byte_range()]
    }

    /// One iterative walk over the tree collecting assignments, functions, sinks.
    fn collect(&mut self, root: Node<'t>) {
        let mut stack = vec![root];
        while let Some(n) = stack.pop() {
            match kind(n) {
                "assignment" => {
                    if let (Some(l), Some(r)) = (field(n, "left"), field(n, "right"))
                        && kind(l) == "identifier"
                    {
                        self.assigned.entry(self.text(l)).or_default().push(r);
                    }
                }
                "function_definition" => {
                    if let (Some(name), Some(body)) = (field(n, "name"), field(n, "body")) {
                        self.functions.insert(self.text(name), body);
                    }
                }
                "call" => self.call(n),
                _ => {}
            }
            let mut cursor = n.walk();
            let children: Vec<Node<'t>> = n.named_children(&mut cursor).collect();
            stack.extend(children.into_iter().rev());
        }
    }

    fn call(&mut self, n: Node<'t>) {
        let Some(func) = field(n, "function") else {
            return;
        };
        let name = last_name(self.text(func));
        let args = field(n, "arguments");
        let positional = |i: usize| -> Option<Node<'t>> {
            let a = args?;
            let mut c = a.walk();
            a.named_children(&mut c)
                .filter(|x| !matches!(kind(*x), "keyword_argument" | "comment"))
                .nth(i)
        };
        let keyword = |k: &str| -> Option<Node<'t>> {
            let a = args?;
            let mut c = a.walk();
            a.named_children(&mut c).find_map(|x| {
                (kind(x) == "keyword_argument"
                    && field(x, "name").is_some_and(|nm| self.text(nm) == k))
                .then(|| field(x, "value"))
                .flatten()
            })
        };
        match name {
            "load_dotenv" => self.loads_dotenv = true,
            "set_main_option" | "set_section_option" => {
                // set_main_option("sqlalchemy.url", value);
                // set_section_option(section, "sqlalchemy.url", value).
                let (key_at, value_at) = if name == "set_main_option" {
                    (0, 1)
                } else {
                    (1, 2)
                };
                let is_url = positional(key_at).is_some_and(|k| {
                    string_literal(k, self.text(k)).as_deref() == Some("sqlalchemy.url")
                });
                if is_url && let Some(v) = positional(value_at) {
                    self.sinks.push(v);
                }
            }
            "create_engine" | "create_async_engine" => {
                if let Some(v) = positional(0).or_else(|| keyword("url")) {
                    self.sinks.push(v);
                }
            }
            "configure" | "engine_from_config" | "async_engine_from_config" => {
                if let Some(v) = keyword("url") {
                    self.sinks.push(v);
                }
            }
            _ => {}
        }
    }

    /// What the sinks say, preferring an environment read, then a literal, then
    /// an unreadable expression; `None` when every sink is `alembic.ini`'s URL.
    fn url(&self) -> Option<UrlSource> {
        let values: Vec<Value> = self.sinks.iter().map(|&s| self.value(s, 0)).collect();
        let rank = |v: &Value| match v {
            Value::Source(UrlSource::Env { .. }) => 0,
            Value::Source(UrlSource::Literal { .. }) => 1,
            Value::Source(UrlSource::Unreadable { .. }) => 2,
            Value::Ini => 3,
        };
        let best = values.into_iter().min_by_key(rank)?;
        match best {
            Value::Source(s) => Some(s),
            Value::Ini => None,
        }
    }

    fn unreadable(&self, n: Node) -> Value {
        let text = crate::text::truncate(self.text(n).lines().next().unwrap_or_default(), 80);
        Value::Source(UrlSource::Unreadable {
            line: n.start_position().row + 1,
            text,
        })
    }

    /// Follows an expression to where its value comes from.
    fn value(&self, n: Node<'t>, depth: usize) -> Value {
        if depth > MAX_DEPTH {
            return self.unreadable(n);
        }
        match kind(n) {
            "parenthesized_expression" => match n.named_child(0) {
                Some(inner) => self.value(inner, depth + 1),
                None => self.unreadable(n),
            },
            "string" | "concatenated_string" => match string_literal(n, self.text(n)) {
                Some(url) => Value::Source(UrlSource::Literal {
                    url,
                    span: (n.start_byte(), n.end_byte()),
                }),
                None => self.unreadable(n),
            },
            "identifier" => {
                let name = self.text(n);
                // The last assignment before the use, else the last one at all.
                let Some(values) = self.assigned.get(name) else {
                    return self.unreadable(n);
                };
                let before = values
                    .iter()
                    .rev()
                    .find(|v| v.start_byte() < n.start_byte())
                    .or(values.last());
                match before {
                    Some(&v) => self.value(v, depth + 1),
                    None => self.unreadable(n),
                }
            }
            "subscript" => {
                // os.environ["X"] / environ["X"]
                let value = field(n, "value").map(|v| self.text(v));
                let key = field(n, "subscript").and_then(|k| string_literal(k, self.text(k)));
                match (value, key) {
                    (Some(v), Some(k)) if is_environ(v) => Value::Source(UrlSource::Env {
                        vars: vec![k],
                        fallback: Fallback::None,
                        span: (n.start_byte(), n.end_byte()),
                    }),
                    _ => self.unreadable(n),
                }
            }
            "boolean_operator" => {
                // `os.getenv("A") or os.getenv("B") or "default"`
                let is_or = n
                    .child_by_field_name("operator")
                    .is_some_and(|o| self.text(o) == "or");
                let (Some(l), Some(r)) = (field(n, "left"), field(n, "right")) else {
                    return self.unreadable(n);
                };
                if !is_or {
                    return self.unreadable(n);
                }
                match (self.value(l, depth + 1), self.value(r, depth + 1)) {
                    (
                        Value::Source(UrlSource::Env { mut vars, span, .. }),
                        Value::Source(UrlSource::Env {
                            vars: more,
                            fallback,
                            ..
                        }),
                    ) => {
                        vars.extend(more);
                        Value::Source(UrlSource::Env {
                            vars,
                            fallback,
                            span,
                        })
                    }
                    (
                        Value::Source(UrlSource::Env { vars, span, .. }),
                        Value::Source(UrlSource::Literal { url, .. }),
                    ) => Value::Source(UrlSource::Env {
                        vars,
                        fallback: Fallback::Literal(url),
                        span,
                    }),
                    (Value::Source(UrlSource::Env { vars, span, .. }), Value::Ini) => {
                        Value::Source(UrlSource::Env {
                            vars,
                            fallback: Fallback::Ini,
                            span,
                        })
                    }
                    _ => self.unreadable(n),
                }
            }
            "call" => self.call_value(n, depth),
            _ => self.unreadable(n),
        }
    }

    fn call_value(&self, n: Node<'t>, depth: usize) -> Value {
        let Some(func) = field(n, "function") else {
            return self.unreadable(n);
        };
        let ftext = self.text(func);
        let args: Vec<Node<'t>> = field(n, "arguments")
            .map(|a| {
                let mut c = a.walk();
                a.named_children(&mut c)
                    .filter(|x| kind(*x) != "comment")
                    .collect()
            })
            .unwrap_or_default();
        let literal = |i: usize| {
            args.get(i)
                .filter(|a| kind(**a) != "keyword_argument")
                .and_then(|&a| string_literal(a, self.text(a)))
        };
        let compact: String = ftext.chars().filter(|c| !c.is_whitespace()).collect();
        let env_get = matches!(
            compact.as_str(),
            "os.getenv" | "getenv" | "os.environ.get" | "environ.get"
        );
        if env_get {
            let Some(var) = literal(0) else {
                return self.unreadable(n);
            };
            let fallback = match args.get(1) {
                None => Fallback::None,
                Some(&d) if kind(d) == "none" => Fallback::None,
                Some(&d) => match self.value(d, depth + 1) {
                    Value::Source(UrlSource::Literal { url, .. }) => Fallback::Literal(url),
                    Value::Ini => Fallback::Ini,
                    _ => return self.unreadable(n),
                },
            };
            return Value::Source(UrlSource::Env {
                vars: vec![var],
                fallback,
                span: (n.start_byte(), n.end_byte()),
            });
        }
        if last_name(ftext) == "get_main_option" && literal(0).as_deref() == Some("sqlalchemy.url")
        {
            return Value::Ini;
        }
        // `str(x)`: the same value.
        if compact == "str" && args.len() == 1 {
            return self.value(args[0], depth + 1);
        }
        // `x.replace("postgres://", "postgresql://")` (Heroku-style URLs).
        if kind(func) == "attribute"
            && field(func, "attribute").is_some_and(|a| self.text(a) == "replace")
            && let (Some(obj), Some(from), Some(to)) =
                (field(func, "object"), literal(0), literal(1))
        {
            return match self.value(obj, depth + 1) {
                Value::Source(UrlSource::Literal { url, span }) => {
                    Value::Source(UrlSource::Literal {
                        url: url.replacen(&from, &to, 1),
                        span,
                    })
                }
                // The variable's value is used as set: the replacement matters only
                // for a scheme migverify translates anyway (postgres:// is accepted).
                v @ Value::Source(UrlSource::Env { .. }) => v,
                _ => self.unreadable(n),
            };
        }
        // A local helper: `def get_url(): return os.getenv(...)`.
        if kind(func) == "identifier"
            && args.is_empty()
            && let Some(&body) = self.functions.get(ftext)
            && let Some(ret) = first_return(body)
        {
            return self.value(ret, depth + 1);
        }
        self.unreadable(n)
    }
}

/// `os.environ`, `environ`.
fn is_environ(text: &str) -> bool {
    let t: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    t == "os.environ" || t == "environ"
}

/// `a.b.c` -> `c`.
fn last_name(text: &str) -> &str {
    text.rsplit('.').next().unwrap_or(text).trim()
}

/// The value of the first `return` in a function body (not in nested `def`s).
fn first_return(body: Node) -> Option<Node> {
    let mut stack = vec![body];
    while let Some(n) = stack.pop() {
        if kind(n) == "return_statement" {
            return n.named_child(0);
        }
        if matches!(kind(n), "function_definition" | "class_definition") && n != body {
            continue;
        }
        let mut c = n.walk();
        let children: Vec<Node> = n.named_children(&mut c).collect();
        stack.extend(children.into_iter().rev());
    }
    None
}

/// Reads a `.env` file as python-dotenv does for the simple cases: `KEY=VALUE`,
/// optional `export `, quotes, `#` comments.
pub fn read_dotenv(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim();
        let v = if let Some(q) = v.chars().next().filter(|c| *c == '"' || *c == '\'') {
            match v[1..].find(q) {
                Some(end) => v[1..=end].to_string(),
                None => v[1..].to_string(),
            }
        } else {
            // An unquoted value ends at ` #`.
            match v.find(" #") {
                Some(i) => v[..i].trim_end().to_string(),
                None => v.to_string(),
            }
        };
        out.insert(k.trim().to_string(), v);
    }
    out
}

/// The `.env` python-dotenv's `load_dotenv()` would find for `env_py`: the first
/// `.env` in its directory or a parent, up to and including `root`.
pub fn find_dotenv(env_py: &Path, root: &Path) -> Option<PathBuf> {
    let mut dir = env_py.parent();
    while let Some(d) = dir {
        let candidate = d.join(".env");
        if candidate.is_file() {
            return Some(candidate);
        }
        if d == root || !d.starts_with(root) {
            break;
        }
        dir = d.parent();
    }
    let at_root = root.join(".env");
    at_root.is_file().then_some(at_root)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(src: &str) -> Option<UrlSource> {
        read_source("env.py".into(), src).url
    }

    fn vars(src: &str) -> (Vec<String>, Fallback) {
        match url(src) {
            Some(UrlSource::Env { vars, fallback, .. }) => (vars, fallback),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_alembic_templates_leave_the_url_to_alembic_ini() {
        let generic = r#"
from alembic import context
from sqlalchemy import engine_from_config, pool
config = context.config
def run_migrations_offline():
    url = config.get_main_option("sqlalchemy.url")
    context.configure(url=url, target_metadata=None, literal_binds=True)
def run_migrations_online():
    connectable = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=None)
"#;
        assert_eq!(url(generic), None);
    }

    #[test]
    fn environment_reads_in_their_usual_spellings() {
        let cases = [
            "config.set_main_option('sqlalchemy.url', os.environ['DATABASE_URL'])",
            "config.set_main_option(\"sqlalchemy.url\", os.getenv(\"DATABASE_URL\"))",
            "url = os.environ.get('DATABASE_URL')\nconfig.set_main_option('sqlalchemy.url', url)",
            "engine = create_async_engine(os.environ['DATABASE_URL'], poolclass=pool.NullPool)",
            "def get_url():\n    return os.getenv('DATABASE_URL')\n\ndef run():\n    context.configure(url=get_url())",
            "from os import environ\nengine = create_engine(environ['DATABASE_URL'])",
            "u = str(os.environ['DATABASE_URL']).replace('postgres://', 'postgresql://')\nconfig.set_main_option('sqlalchemy.url', u)",
        ];
        for c in cases {
            assert_eq!(
                vars(c),
                (vec!["DATABASE_URL".into()], Fallback::None),
                "{c}"
            );
        }
    }

    #[test]
    fn fallbacks_and_several_variables() {
        assert_eq!(
            vars(
                "config.set_main_option('sqlalchemy.url', os.environ.get('DB', 'sqlite:///x.db'))"
            ),
            (
                vec!["DB".into()],
                Fallback::Literal("sqlite:///x.db".into())
            )
        );
        assert_eq!(
            vars(
                "url = os.getenv('A') or os.getenv('B') or config.get_main_option('sqlalchemy.url')\ncontext.configure(url=url)"
            ),
            (vec!["A".into(), "B".into()], Fallback::Ini)
        );
        assert_eq!(
            vars("context.configure(url=os.getenv('A', config.get_main_option('sqlalchemy.url')))"),
            (vec!["A".into()], Fallback::Ini)
        );
    }

    #[test]
    fn an_environment_read_wins_over_the_ini_in_another_sink() {
        let src = "def off():\n    context.configure(url=config.get_main_option('sqlalchemy.url'))\nconfig.set_main_option('sqlalchemy.url', os.environ['DATABASE_URL'])\n";
        assert_eq!(vars(src).0, ["DATABASE_URL"]);
    }

    #[test]
    fn built_urls_are_unreadable_with_their_line() {
        let src = "import os\nconfig.set_main_option(\n    'sqlalchemy.url', f\"postgresql://{os.environ['U']}@db/app\")\n";
        match url(src) {
            Some(UrlSource::Unreadable { line, text }) => {
                assert_eq!(line, 3);
                assert!(text.contains("postgresql://"), "{text}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            url("engine = create_engine(settings.database_url)"),
            Some(UrlSource::Unreadable { line: 1, .. })
        ));
    }

    #[test]
    fn load_dotenv_is_noticed() {
        let e = read_source(
            "env.py".into(),
            "from dotenv import load_dotenv\nload_dotenv()\nconfig.set_main_option('sqlalchemy.url', os.environ['X'])\n",
        );
        assert!(e.loads_dotenv);
    }

    #[test]
    fn dotenv_lines() {
        let env = read_dotenv(
            "# c\nexport A=1\nB = 'x y'\nC=\"postgresql://u:p@h/d\"\nD=plain # note\nbad line\n",
        );
        assert_eq!(env["A"], "1");
        assert_eq!(env["B"], "x y");
        assert_eq!(env["C"], "postgresql://u:p@h/d");
        assert_eq!(env["D"], "plain");
        assert_eq!(env.len(), 4);
    }

    #[test]
    fn deep_and_self_referencing_names_stop() {
        let src = "a = a\ncontext.configure(url=a)\n";
        assert!(matches!(url(src), Some(UrlSource::Unreadable { .. })));
    }
}
