//! Table names computed from the class name, read statically: Flask-SQLAlchemy's
//! automatic `__tablename__` ([`camel_to_snake_case`]), SQLModel's
//! (`cls.__name__.lower()`), and `@declared_attr def __tablename__(cls)` bodies in
//! the common forms — string methods on `cls.__name__`, f-strings, `+`, `re.sub`
//! (and a module-level `re.compile(...)` pattern's `.sub`), and one-parameter helper
//! functions written in the same file. Anything else stays unread
//! ([`super::TableNameDecl::Computed`]).

use std::collections::HashMap;

use tree_sitter::Node;

use crate::migration::{field, kind, string_literal};

/// An expression over the mapped class's name.
#[derive(Clone, Debug, PartialEq)]
pub enum NameExpr {
    /// `cls.__name__`
    ClassName,
    Lit(String),
    Concat(Vec<NameExpr>),
    /// `x.lower()`, `x.lstrip("_")`, `x.replace("a", "b")`.
    Method {
        recv: Box<NameExpr>,
        method: String,
        args: Vec<String>,
    },
    /// `re.sub(pattern, repl, input)`.
    Sub {
        pattern: String,
        repl: String,
        input: Box<NameExpr>,
    },
}

impl NameExpr {
    /// The value for a class named `class`, or `None` when it cannot be computed
    /// (an unsupported method, a pattern Rust's regex engine refuses).
    pub fn eval(&self, class: &str) -> Option<String> {
        Some(match self {
            NameExpr::ClassName => class.to_string(),
            NameExpr::Lit(s) => s.clone(),
            NameExpr::Concat(parts) => {
                let mut out = String::new();
                for p in parts {
                    out.push_str(&p.eval(class)?);
                }
                out
            }
            NameExpr::Method { recv, method, args } => {
                let s = recv.eval(class)?;
                let chars = |i: usize| args.get(i).map(String::as_str);
                match (method.as_str(), args.len()) {
                    ("lower" | "casefold", 0) => s.to_lowercase(),
                    ("upper", 0) => s.to_uppercase(),
                    ("strip", 0) => s.trim().to_string(),
                    ("lstrip", 0) => s.trim_start().to_string(),
                    ("rstrip", 0) => s.trim_end().to_string(),
                    ("strip", 1) => {
                        let set = chars(0)?;
                        s.trim_matches(|c| set.contains(c)).to_string()
                    }
                    ("lstrip", 1) => {
                        let set = chars(0)?;
                        s.trim_start_matches(|c| set.contains(c)).to_string()
                    }
                    ("rstrip", 1) => {
                        let set = chars(0)?;
                        s.trim_end_matches(|c| set.contains(c)).to_string()
                    }
                    ("replace", 2) => s.replace(chars(0)?, chars(1)?),
                    ("removeprefix", 1) => s.strip_prefix(chars(0)?).unwrap_or(&s).to_string(),
                    ("removesuffix", 1) => s.strip_suffix(chars(0)?).unwrap_or(&s).to_string(),
                    _ => return None,
                }
            }
            NameExpr::Sub {
                pattern,
                repl,
                input,
            } => {
                let s = input.eval(class)?;
                let re = fancy_regex::Regex::new(pattern).ok()?;
                let repl = python_repl(repl)?;
                re.try_replacen(&s, 0, repl.as_str()).ok()?.into_owned()
            }
        })
    }
}

/// Flask-SQLAlchemy's `camel_to_snake_case` (3.x):
/// `re.sub(r"((?<=[a-z0-9])[A-Z]|(?!^)[A-Z](?=[a-z]))", r"_\1", name).lower().lstrip("_")`.
pub fn camel_to_snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let after_lower_or_digit =
                i > 0 && (chars[i - 1].is_ascii_lowercase() || chars[i - 1].is_ascii_digit());
            let before_lower = i > 0 && chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if after_lower_or_digit || before_lower {
                out.push('_');
            }
        }
        out.extend(c.to_lowercase());
    }
    out.trim_start_matches('_').to_string()
}

/// A Python replacement string (`r"\1_\2"`, `r"_\g<1>"`) in `fancy_regex`'s syntax.
fn python_repl(repl: &str) -> Option<String> {
    let mut out = String::new();
    let mut it = repl.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match it.next()? {
                d if d.is_ascii_digit() => {
                    let mut n = d.to_string();
                    if let Some(&d2) = it.peek()
                        && d2.is_ascii_digit()
                    {
                        n.push(d2);
                        it.next();
                    }
                    out.push_str(&format!("${{{n}}}"));
                }
                'g' => {
                    if it.next()? != '<' {
                        return None;
                    }
                    let name: String = it.by_ref().take_while(|&c| c != '>').collect();
                    out.push_str(&format!("${{{name}}}"));
                }
                '\\' => out.push('\\'),
                'n' => out.push('\n'),
                _ => return None,
            },
            c => out.push(c),
        }
    }
    Some(out)
}

/// What the module around a `__tablename__` function offers: helper functions
/// (`def snake(name): ...`), compiled patterns and string constants.
#[derive(Default)]
pub struct Module<'t> {
    pub functions: HashMap<String, Node<'t>>,
    pub patterns: HashMap<String, String>,
    pub strings: HashMap<String, String>,
}

impl<'t> Module<'t> {
    /// Collects the module-level definitions of `root`.
    pub fn of(root: Node<'t>, src: &str) -> Module<'t> {
        let mut m = Module::default();
        let mut c = root.walk();
        for stmt in root.named_children(&mut c) {
            match kind(stmt) {
                "function_definition" => {
                    if let Some(n) = field(stmt, "name") {
                        m.functions.insert(text(n, src).to_string(), stmt);
                    }
                }
                "expression_statement" => {
                    let Some(a) = stmt.named_child(0).filter(|a| kind(*a) == "assignment") else {
                        continue;
                    };
                    let (Some(l), Some(r)) = (field(a, "left"), field(a, "right")) else {
                        continue;
                    };
                    if kind(l) != "identifier" {
                        continue;
                    }
                    let name = text(l, src).to_string();
                    if let Some(s) = string_literal(r, text(r, src)) {
                        m.strings.insert(name, s);
                    } else if kind(r) == "call"
                        && field(r, "function").map(|f| text(f, src)) == Some("re.compile")
                        && let Some(p) = first_arg_string(r, src)
                    {
                        m.patterns.insert(name, p);
                    }
                }
                _ => {}
            }
        }
        m
    }
}

/// The table name a `@declared_attr def __tablename__(cls)` computes, and whether it
/// first returns `None` for a class that inherits a table (`has_inherited_table`).
pub fn tablename_function(def: Node, src: &str, module: &Module) -> Option<(NameExpr, bool)> {
    let params = params(def, src);
    let cls = params.first()?.clone();
    let mut env: HashMap<String, NameExpr> = HashMap::new();
    let mut unless_inherited = false;
    let mut ev = Eval {
        src,
        module,
        cls: &cls,
        depth: 0,
        steps: 0,
    };
    let body = field(def, "body")?;
    let mut c = body.walk();
    for stmt in body.named_children(&mut c) {
        match kind(stmt) {
            "if_statement" => {
                let cond = field(stmt, "condition").map(|n| text(n, src))?;
                let returns_none = field(stmt, "consequence").is_some_and(|b| {
                    let t = text(b, src).trim();
                    t == "return None" || t == "return"
                });
                if cond.contains("has_inherited_table") && returns_none {
                    unless_inherited = true;
                } else {
                    return None;
                }
            }
            _ => {
                if let Some(v) = ev.statement(stmt, &mut env)? {
                    return Some((v, unless_inherited));
                }
            }
        }
    }
    None
}

struct Eval<'a, 't> {
    src: &'a str,
    module: &'a Module<'t>,
    cls: &'a str,
    depth: usize,
    /// Expressions read so far: helpers that call each other twice per call would
    /// otherwise take exponential time.
    steps: usize,
}

impl Eval<'_, '_> {
    /// One statement of a function body: `Some(Some(value))` on `return`,
    /// `Some(None)` to go on, `None` when it cannot be read.
    fn statement(
        &mut self,
        stmt: Node,
        env: &mut HashMap<String, NameExpr>,
    ) -> Option<Option<NameExpr>> {
        match kind(stmt) {
            "return_statement" => {
                let v = stmt.named_child(0)?;
                Some(Some(self.expr(v, env)?))
            }
            "expression_statement" => {
                let inner = stmt.named_child(0)?;
                match kind(inner) {
                    // A docstring.
                    "string" => Some(None),
                    "assignment" => {
                        let l = field(inner, "left").filter(|l| kind(*l) == "identifier")?;
                        let r = field(inner, "right")?;
                        let v = self.expr(r, env)?;
                        env.insert(text(l, self.src).to_string(), v);
                        Some(None)
                    }
                    _ => None,
                }
            }
            "comment" | "pass_statement" => Some(None),
            _ => None,
        }
    }

    fn expr(&mut self, n: Node, env: &HashMap<String, NameExpr>) -> Option<NameExpr> {
        self.depth += 1;
        self.steps += 1;
        if self.depth > 64 || self.steps > 10_000 {
            self.depth -= 1;
            return None;
        }
        let out = self.expr_inner(n, env);
        self.depth -= 1;
        out
    }

    fn expr_inner(&mut self, n: Node, env: &HashMap<String, NameExpr>) -> Option<NameExpr> {
        let src = self.src;
        match kind(n) {
            "parenthesized_expression" => self.expr(n.named_child(0)?, env),
            "identifier" => {
                let name = text(n, src);
                env.get(name)
                    .cloned()
                    .or_else(|| self.module.strings.get(name).cloned().map(NameExpr::Lit))
            }
            "attribute" => {
                let obj = field(n, "object")?;
                let attr = field(n, "attribute").map(|a| text(a, src))?;
                (kind(obj) == "identifier"
                    && text(obj, src) == self.cls
                    && matches!(attr, "__name__" | "__qualname__"))
                .then_some(NameExpr::ClassName)
            }
            "string" | "concatenated_string" => {
                if let Some(s) = string_literal(n, text(n, src)) {
                    return Some(NameExpr::Lit(s));
                }
                self.fstring(n, env)
            }
            "binary_operator" => {
                let op = field(n, "operator").map(|o| text(o, src))?;
                if op != "+" {
                    return None;
                }
                let l = self.expr(field(n, "left")?, env)?;
                let r = self.expr(field(n, "right")?, env)?;
                Some(NameExpr::Concat(vec![l, r]))
            }
            "call" => self.call(n, env),
            _ => None,
        }
    }

    /// `f"{cls.__name__.lower()}s"`.
    fn fstring(&mut self, n: Node, env: &HashMap<String, NameExpr>) -> Option<NameExpr> {
        if kind(n) != "string" {
            return None;
        }
        let mut parts = Vec::new();
        let mut c = n.walk();
        for ch in n.named_children(&mut c) {
            match kind(ch) {
                "string_start" | "string_end" => {}
                "string_content" => {
                    let t = text(ch, self.src);
                    if t.contains('\\') {
                        return None;
                    }
                    parts.push(NameExpr::Lit(t.to_string()));
                }
                "interpolation" => {
                    if field(ch, "type_conversion").is_some()
                        || field(ch, "format_specifier").is_some()
                    {
                        return None;
                    }
                    parts.push(self.expr(field(ch, "expression")?, env)?);
                }
                _ => return None,
            }
        }
        Some(NameExpr::Concat(parts))
    }

    fn call(&mut self, n: Node, env: &HashMap<String, NameExpr>) -> Option<NameExpr> {
        let src = self.src;
        let func = field(n, "function")?;
        let args = field(n, "arguments")?;
        let mut c = args.walk();
        let positional: Vec<Node> = args
            .named_children(&mut c)
            .filter(|a| kind(*a) != "comment")
            .collect();
        if positional.iter().any(|a| kind(*a) == "keyword_argument") {
            // `re.sub(..., flags=...)`, `count=`: not read.
            return None;
        }
        let lit = |a: &Node| string_literal(*a, text(*a, src));
        match kind(func) {
            "attribute" => {
                let obj = field(func, "object")?;
                let method = field(func, "attribute").map(|a| text(a, src))?;
                if text(obj, src) == "re" && method == "sub" && positional.len() == 3 {
                    return Some(NameExpr::Sub {
                        pattern: self.string_arg(positional[0], env)?,
                        repl: self.string_arg(positional[1], env)?,
                        input: Box::new(self.expr(positional[2], env)?),
                    });
                }
                if kind(obj) == "identifier"
                    && method == "sub"
                    && positional.len() == 2
                    && let Some(p) = self.module.patterns.get(text(obj, src))
                {
                    return Some(NameExpr::Sub {
                        pattern: p.clone(),
                        repl: self.string_arg(positional[0], env)?,
                        input: Box::new(self.expr(positional[1], env)?),
                    });
                }
                let recv = self.expr(obj, env)?;
                let args: Option<Vec<String>> = positional.iter().map(lit).collect();
                Some(NameExpr::Method {
                    recv: Box::new(recv),
                    method: method.to_string(),
                    args: args?,
                })
            }
            "identifier" => {
                let def = *self.module.functions.get(text(func, src))?;
                let params = params(def, src);
                if params.len() != positional.len() {
                    return None;
                }
                let mut inner: HashMap<String, NameExpr> = HashMap::new();
                for (p, a) in params.iter().zip(&positional) {
                    inner.insert(p.clone(), self.expr(*a, env)?);
                }
                let body = field(def, "body")?;
                let mut c = body.walk();
                for stmt in body.named_children(&mut c) {
                    if let Some(v) = self.statement(stmt, &mut inner)? {
                        return Some(v);
                    }
                }
                None
            }
            _ => None,
        }
    }

    /// A pattern or replacement: a literal, or a name bound to one.
    fn string_arg(&mut self, n: Node, env: &HashMap<String, NameExpr>) -> Option<String> {
        match self.expr(n, env)? {
            NameExpr::Lit(s) => Some(s),
            _ => None,
        }
    }
}

fn text<'s>(n: Node, src: &'s str) -> &'s str {
    src.get(n.byte_range()).unwrap_or("")
}

fn first_arg_string(call: Node, src: &str) -> Option<String> {
    let args = field(call, "arguments")?;
    let a = args.named_child(0)?;
    string_literal(a, text(a, src))
}

/// A function's plain parameter names (`cls`, `name`).
fn params(def: Node, src: &str) -> Vec<String> {
    let Some(ps) = field(def, "parameters") else {
        return Vec::new();
    };
    let mut c = ps.walk();
    ps.named_children(&mut c)
        .filter_map(|p| match kind(p) {
            "identifier" => Some(text(p, src).to_string()),
            "typed_parameter" => p.named_child(0).map(|i| text(i, src).to_string()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flask_sqlalchemy_names() {
        // Checked against flask_sqlalchemy.model.camel_to_snake_case (3.1.1).
        for (class, table) in [
            ("UserAccount", "user_account"),
            ("HTTPRequest", "http_request"),
            ("User2FA", "user2_fa"),
            ("ABCTest", "abc_test"),
            ("User", "user"),
            ("_Private", "private"),
            ("APIKey", "api_key"),
            ("OAuth2Token", "o_auth2_token"),
        ] {
            assert_eq!(camel_to_snake_case(class), table, "{class}");
        }
    }

    fn tablename(src: &str, class: &str) -> Option<String> {
        let tree = crate::migration::parse_python(src).unwrap();
        let root = tree.root_node();
        let module = Module::of(root, src);
        // The last top-level function is the `__tablename__` under test.
        let mut c = root.walk();
        let def = root
            .named_children(&mut c)
            .filter(|n| kind(*n) == "function_definition")
            .last()
            .unwrap();
        let (e, _) = tablename_function(def, src, &module)?;
        e.eval(class)
    }

    #[test]
    fn common_forms() {
        let cases = [
            (
                "def t(cls):\n    return cls.__name__.lower()\n",
                "useraccount",
            ),
            (
                "def t(cls):\n    return f\"{cls.__name__.lower()}s\"\n",
                "useraccounts",
            ),
            (
                "def t(cls):\n    return 'app_' + cls.__name__.lower()\n",
                "app_useraccount",
            ),
            (
                "import re\ndef snake(name):\n    return re.sub(r'(?<!^)(?=[A-Z])', '_', name).lower()\ndef t(cls):\n    return snake(cls.__name__)\n",
                "user_account",
            ),
            (
                "import re\ndef snake(name):\n    s1 = re.sub('(.)([A-Z][a-z]+)', r'\\1_\\2', name)\n    return re.sub('([a-z0-9])([A-Z])', r'\\1_\\2', s1).lower()\ndef t(cls):\n    return snake(cls.__name__)\n",
                "user_account",
            ),
            (
                "import re\n_P = re.compile(r'(?<!^)(?=[A-Z])')\ndef t(cls):\n    \"\"\"Doc.\"\"\"\n    return _P.sub('_', cls.__name__).lower()\n",
                "user_account",
            ),
        ];
        for (src, want) in cases {
            assert_eq!(
                tablename(src, "UserAccount").as_deref(),
                Some(want),
                "{src}"
            );
        }
        // Helpers calling each other give up quickly.
        assert_eq!(
            tablename(
                "def a(n):\n    return b(n) + b(n)\ndef b(n):\n    return a(n) + a(n)\ndef t(cls):\n    return a(cls.__name__)\n",
                "A"
            ),
            None
        );
        // Not read: a call into something else, a loop.
        assert_eq!(
            tablename("def t(cls):\n    return inflect(cls.__name__)\n", "A"),
            None
        );
        assert_eq!(
            tablename(
                "def t(cls):\n    return ''.join(c for c in cls.__name__)\n",
                "A"
            ),
            None
        );
    }
}
