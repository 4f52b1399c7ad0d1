//! Resolving identifier values that are not literals, statically, without
//! importing anything: `branch_labels = (cli.EXPAND_BRANCH,)` after
//! `from myproject.db.migration import cli`, `BRANCH = "expand"` then
//! `branch_labels = (BRANCH,)`, `down_revision = base.REVISION + "_2"`.
//!
//! Extraction keeps such a value as an [`Expr`] ([`Computed`]) with the file's
//! module-level names ([`ModuleScope`]); this module evaluates it after loading,
//! at every run: the resolved values are never cached, so editing a helper module
//! changes the next run's graph even when no migration file changed. Within a run
//! each helper module is read and parsed once.
//!
//! What is followed:
//! - module-level names of the same file bound before the assignment (plain and
//!   annotated assignments, chains of them);
//! - `import a.b.c` (then `a.b.c.NAME`), `import a.b.c as m` (then `m.NAME`),
//!   `from a.b import c` (then `c.NAME`, whether `c` is a module or a name),
//!   `from a.b.c import NAME [as N]`, `from a.b import *`, and relative imports
//!   inside helper modules, through any chain of re-exports;
//! - strings, `None`, tuples and lists of them, `+` of strings.
//!
//! Modules are looked up below the search roots ([`crate::project::Project::python_path`]):
//! `a/b/c.py`, else `a/b/c/__init__.py`, else a directory `a/b/c` (a namespace
//! package), in the roots' order. At most [`MAX_DEPTH`] names are followed for
//! one value and [`MAX_MODULES`] modules read in one run; a module larger than
//! [`MAX_MODULE_BYTES`] is not read.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::extract::{module_scope, parse_python};
use super::{
    Bound, Computed, Expr, IdField, Migration, ModuleScope, Problem, RevisionList, Spanned,
    Unresolved,
};
use crate::source::SourceFile;

/// How many names one value may go through (assignments, imports, re-exports).
pub const MAX_DEPTH: usize = 8;
/// How many helper modules one run reads at most.
pub const MAX_MODULES: usize = 256;
/// Helper modules larger than this are not read.
pub const MAX_MODULE_BYTES: u64 = 1 << 20;

/// Characters Alembic refuses in a revision id (`Revision.verify_rev_id`).
const ILLEGAL_REVISION_CHARS: &[char] = &['@', '-', '+', ':'];

/// Resolves the computed values of every migration that has some, looking
/// modules up below `roots` (in order); `root` is the project root, for messages.
pub fn resolve_all(migrations: &mut [Migration], roots: &[PathBuf], root: &Path) {
    resolve_with(migrations, || roots.to_vec(), root);
}

/// [`resolve_all`], asking for the search roots only when a migration needs them.
pub fn resolve_with(
    migrations: &mut [Migration],
    roots: impl FnOnce() -> Vec<PathBuf>,
    root: &Path,
) {
    if migrations.iter().all(|m| m.computed.is_empty()) {
        return;
    }
    let mut resolver = Resolver::new(roots(), root.to_path_buf());
    for m in migrations.iter_mut().filter(|m| !m.computed.is_empty()) {
        resolver.resolve(m);
    }
}

/// A value, evaluated.
#[derive(Clone, Debug, PartialEq)]
enum Val {
    Str(String),
    None,
    Seq(Vec<String>),
    Module(String),
}

/// Why a value could not be resolved.
#[derive(Clone, Debug)]
enum Fail {
    NotStatic(String),
    Undefined { name: String, place: String },
    NoModule(String),
    Unreadable { module: String, why: String },
    TooDeep,
    TooMany,
    NotString(String),
    Relative,
}

/// A helper module, read and parsed.
struct Module {
    name: String,
    path: PathBuf,
    /// An `__init__.py` or a namespace package.
    package: bool,
    scope: ModuleScope,
}

/// Where names are looked up: a module's scope, up to a byte offset.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    scope: &'a ModuleScope,
    /// `None`: the migration file itself.
    module: Option<&'a Module>,
}

struct Resolver {
    roots: Vec<PathBuf>,
    root: PathBuf,
    /// Modules by dotted name, as found (`None`: not found); read once per run.
    modules: HashMap<String, Result<Arc<Module>, Fail>>,
    read: usize,
}

impl Resolver {
    fn new(roots: Vec<PathBuf>, root: PathBuf) -> Resolver {
        Resolver {
            roots,
            root,
            modules: HashMap::new(),
            read: 0,
        }
    }

    /// Evaluates `m.computed` into `m.revision`, `m.down_revision`, ... and
    /// `m.unresolved`.
    fn resolve(&mut self, m: &mut Migration) {
        let scope = m.scope.take().unwrap_or_default();
        let computed = std::mem::take(&mut m.computed);
        for c in &computed {
            self.apply(m, &scope, c);
        }
        m.computed = computed;
        m.scope = Some(scope);
    }

    fn apply(&mut self, m: &mut Migration, scope: &ModuleScope, c: &Computed) {
        let ctx = Ctx {
            scope,
            module: None,
        };
        let at = c.statement.start;
        let mut items: Vec<Spanned<String>> = Vec::new();
        let mut failed: Vec<(Spanned<String>, Fail)> = Vec::new();
        let text = |e: &Expr, fallback: &str| match e {
            Expr::Name(n) => n.clone(),
            Expr::Other(t) => t.clone(),
            _ => fallback.to_string(),
        };
        match &c.value.value {
            Expr::Seq(elements) => {
                for el in elements {
                    match self.eval(ctx, &el.value, at, 0) {
                        Ok(Val::Str(s)) => items.push(Spanned {
                            value: s,
                            span: el.span,
                        }),
                        Ok(other) => failed.push((
                            Spanned {
                                value: text(&el.value, "item"),
                                span: el.span,
                            },
                            Fail::NotString(describe(&other)),
                        )),
                        Err(f) => failed.push((
                            Spanned {
                                value: text(&el.value, "item"),
                                span: el.span,
                            },
                            f,
                        )),
                    }
                }
            }
            e => match self.eval(ctx, e, at, 0) {
                Ok(Val::Str(s)) => items.push(Spanned {
                    value: s,
                    span: c.value.span,
                }),
                Ok(Val::None) => {}
                Ok(Val::Seq(list)) if c.field != IdField::Revision => {
                    items.extend(list.into_iter().map(|value| Spanned {
                        value,
                        span: c.value.span,
                    }));
                }
                Ok(other) => failed.push((
                    Spanned {
                        value: text(e, "value"),
                        span: c.value.span,
                    },
                    Fail::NotString(describe(&other)),
                )),
                Err(f) => failed.push((
                    Spanned {
                        value: text(e, "value"),
                        span: c.value.span,
                    },
                    f,
                )),
            },
        }
        for (what, fail) in failed.iter() {
            m.unresolved.push(Unresolved {
                field: c.field,
                span: what.span,
                expr: what.value.clone(),
                reason: self.explain(fail),
            });
        }
        let complete = failed.is_empty();
        match c.field {
            IdField::Revision => {
                if let (true, [rev]) = (complete, items.as_slice()) {
                    if let Some(problem) = revision_problem(&rev.value) {
                        m.problems.push(Problem {
                            message: problem,
                            span: Some(rev.span),
                        });
                    }
                    m.revision = Some(rev.clone());
                } else if complete {
                    m.unresolved.push(Unresolved {
                        field: c.field,
                        span: c.value.span,
                        expr: text(&c.value.value, "value"),
                        reason: "it is not one string".into(),
                    });
                }
            }
            field => {
                // An unresolved `down_revision` with nothing known stays unset: the
                // file is then neither a base nor linked to a parent.
                if field == IdField::DownRevision && !complete && items.is_empty() {
                    return;
                }
                let list = RevisionList {
                    statement: c.statement,
                    value_span: c.value.span,
                    items,
                };
                match field {
                    IdField::DownRevision => m.down_revision = Some(list),
                    IdField::BranchLabels => m.branch_labels = Some(list),
                    _ => m.depends_on = Some(list),
                }
            }
        }
    }

    fn eval(&mut self, ctx: Ctx, e: &Expr, at: usize, depth: usize) -> Result<Val, Fail> {
        match e {
            Expr::Str(s) => Ok(Val::Str(s.clone())),
            Expr::None => Ok(Val::None),
            Expr::Other(t) => Err(Fail::NotStatic(t.clone())),
            Expr::Seq(items) => {
                let mut out = Vec::new();
                for item in items {
                    match self.eval(ctx, &item.value, at, depth)? {
                        Val::Str(s) => out.push(s),
                        other => return Err(Fail::NotString(describe(&other))),
                    }
                }
                Ok(Val::Seq(out))
            }
            Expr::Concat(parts) => {
                let mut out = String::new();
                for part in parts {
                    match self.eval(ctx, part, at, depth)? {
                        Val::Str(s) => out.push_str(&s),
                        other => return Err(Fail::NotString(describe(&other))),
                    }
                }
                Ok(Val::Str(out))
            }
            Expr::Name(dotted) => {
                let mut segments = dotted.split('.');
                let first = segments.next().unwrap_or("");
                let mut v = self.lookup(ctx, first, at, depth)?;
                for seg in segments {
                    match v {
                        Val::Module(module) => v = self.attr(&module, seg, depth + 1)?,
                        other => return Err(Fail::NotString(describe(&other))),
                    }
                }
                Ok(v)
            }
        }
    }

    /// The value of `name` in `ctx`'s scope, as bound before byte `at`.
    fn lookup(&mut self, ctx: Ctx, name: &str, at: usize, depth: usize) -> Result<Val, Fail> {
        if depth > MAX_DEPTH {
            return Err(Fail::TooDeep);
        }
        let binding = ctx
            .scope
            .bindings
            .iter()
            .rfind(|b| b.name == name && b.at < at);
        if let Some(b) = binding {
            return match &b.bound {
                Bound::Value(e) => self.eval(ctx, e, b.at, depth + 1),
                Bound::Module(module) => Ok(Val::Module(module.clone())),
                Bound::From {
                    level,
                    module,
                    name,
                } => {
                    let abs = absolute(ctx, *level, module)?;
                    self.attr(&abs, name, depth + 1)
                }
            };
        }
        let stars: Vec<(usize, String)> = ctx
            .scope
            .stars
            .iter()
            .filter(|s| s.2 < at)
            .rev()
            .map(|s| (s.0, s.1.clone()))
            .collect();
        for (level, module) in stars {
            let abs = absolute(ctx, level, &module)?;
            if let Ok(found) = self.module(&abs)
                && (found.scope.bindings.iter().any(|b| b.name == name)
                    || !found.scope.stars.is_empty())
                && let Ok(v) = self.attr(&abs, name, depth + 1)
            {
                return Ok(v);
            }
        }
        Err(Fail::Undefined {
            name: name.to_string(),
            place: match ctx.module {
                Some(m) => format!("module `{}` ({})", m.name, self.show(&m.path)),
                None => "this file".into(),
            },
        })
    }

    /// `module.name`: a name the module binds, else its submodule.
    fn attr(&mut self, module: &str, name: &str, depth: usize) -> Result<Val, Fail> {
        if depth > MAX_DEPTH {
            return Err(Fail::TooDeep);
        }
        let m = self.module(module)?;
        let ctx = Ctx {
            scope: &m.scope,
            module: Some(&m),
        };
        match self.lookup(ctx, name, usize::MAX, depth) {
            Err(Fail::Undefined { .. }) if self.module(&format!("{module}.{name}")).is_ok() => {
                Ok(Val::Module(format!("{module}.{name}")))
            }
            other => other,
        }
    }

    /// The module `name`, found below the roots and read once per run.
    fn module(&mut self, name: &str) -> Result<Arc<Module>, Fail> {
        if let Some(found) = self.modules.get(name) {
            return found.clone();
        }
        let found = self.find(name);
        self.modules.insert(name.to_string(), found.clone());
        found
    }

    fn find(&mut self, name: &str) -> Result<Arc<Module>, Fail> {
        let parts: Vec<&str> = name.split('.').collect();
        if name.is_empty() || parts.iter().any(|p| !is_identifier(p)) {
            return Err(Fail::NoModule(name.to_string()));
        }
        let rel: PathBuf = parts.iter().collect();
        let mut candidates = Vec::new();
        for root in &self.roots {
            let base = root.join(&rel);
            let file = base.with_extension("py");
            if file.is_file() {
                candidates.push((file, false));
                break;
            }
            let init = base.join("__init__.py");
            if init.is_file() {
                candidates.push((init, true));
                break;
            }
        }
        if let Some((path, package)) = candidates.pop() {
            if self.read >= MAX_MODULES {
                return Err(Fail::TooMany);
            }
            self.read += 1;
            let unreadable = |why: String| Fail::Unreadable {
                module: name.to_string(),
                why,
            };
            let meta = std::fs::metadata(&path).map_err(|e| unreadable(e.to_string()))?;
            if meta.len() > MAX_MODULE_BYTES {
                return Err(unreadable(format!(
                    "{} is larger than {} KiB",
                    self.show(&path),
                    MAX_MODULE_BYTES >> 10
                )));
            }
            let bytes = std::fs::read(&path).map_err(|e| unreadable(e.to_string()))?;
            let src = SourceFile::from_bytes(path.clone(), bytes);
            let tree = parse_python(&src.text)
                .ok_or_else(|| unreadable("the Python parser gave up on it".into()))?;
            let scope = module_scope(tree.root_node(), &src);
            return Ok(Arc::new(Module {
                name: name.to_string(),
                path,
                package,
                scope,
            }));
        }
        // A namespace package (a directory without `__init__.py`).
        for root in &self.roots {
            let dir = root.join(&rel);
            if dir.is_dir() {
                return Ok(Arc::new(Module {
                    name: name.to_string(),
                    path: dir,
                    package: true,
                    scope: ModuleScope::default(),
                }));
            }
        }
        Err(Fail::NoModule(name.to_string()))
    }

    /// A path for messages: relative to the project root when inside it.
    fn show(&self, path: &Path) -> String {
        match path.strip_prefix(&self.root) {
            Ok(rel) if rel.as_os_str().is_empty() => ".".into(),
            Ok(rel) => rel.display().to_string(),
            Err(_) => path.display().to_string(),
        }
    }

    fn explain(&self, fail: &Fail) -> String {
        match fail {
            Fail::NotStatic(text) => format!(
                "`{text}` is computed when the file runs (only strings, `None`, tuples and lists, `+` of strings, and names bound to them are read)"
            ),
            Fail::Undefined { name, place } => {
                format!("`{name}` is not assigned or imported at module level in {place}")
            }
            Fail::NoModule(module) => {
                let roots: Vec<String> = self.roots.iter().map(|r| self.show(r)).collect();
                format!(
                    "module `{module}` was not found below {}",
                    if roots.is_empty() {
                        "any search root".to_string()
                    } else {
                        roots.join(", ")
                    }
                )
            }
            Fail::Unreadable { module, why } => format!("module `{module}` cannot be read: {why}"),
            Fail::TooDeep => format!("it goes through more than {MAX_DEPTH} names"),
            Fail::TooMany => format!("this run already read {MAX_MODULES} helper modules"),
            Fail::NotString(what) => format!("it is {what}, not a string"),
            Fail::Relative => "a relative import in a migration file (Alembic does not load migrations as part of a package)".into(),
        }
    }
}

/// The absolute name of `module` imported with `level` leading dots in `ctx`.
fn absolute(ctx: Ctx, level: usize, module: &str) -> Result<String, Fail> {
    if level == 0 {
        return Ok(module.to_string());
    }
    let Some(m) = ctx.module else {
        return Err(Fail::Relative);
    };
    let mut parts: Vec<&str> = m.name.split('.').collect();
    if !m.package {
        parts.pop();
    }
    for _ in 1..level {
        if parts.pop().is_none() {
            return Err(Fail::NoModule(format!("{}{module}", ".".repeat(level))));
        }
    }
    if !module.is_empty() {
        parts.push(module);
    }
    if parts.is_empty() {
        return Err(Fail::NoModule(format!("{}{module}", ".".repeat(level))));
    }
    Ok(parts.join("."))
}

fn describe(v: &Val) -> String {
    match v {
        Val::Str(_) => "a string".into(),
        Val::None => "None".into(),
        Val::Seq(_) => "a tuple or list".into(),
        Val::Module(m) => format!("the module `{m}`"),
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
}

/// MV009's problem with a revision id: empty, or a character Alembic refuses.
pub(crate) fn revision_problem(rev: &str) -> Option<String> {
    let bad: Vec<char> = rev
        .chars()
        .filter(|c| ILLEGAL_REVISION_CHARS.contains(c))
        .collect();
    if rev.is_empty() {
        Some("the revision id is an empty string".into())
    } else if !bad.is_empty() {
        let list: Vec<String> = bad.iter().map(|c| format!("'{c}'")).collect();
        Some(format!(
            "revision id {rev:?} contains {}, which Alembic does not allow in a revision id",
            list.join(", ")
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migration::parse_source;

    fn parse(src: &str) -> Migration {
        parse_source(PathBuf::from("m.py"), src.as_bytes().to_vec())
    }

    fn labels(m: &Migration) -> Vec<&str> {
        m.branch_labels().map(|l| l.value.as_str()).collect()
    }

    fn resolved(src: &str, roots: &[PathBuf]) -> Migration {
        let mut ms = vec![parse(src)];
        resolve_all(&mut ms, roots, Path::new("/nowhere"));
        ms.pop().unwrap()
    }

    #[test]
    fn constants_of_the_same_file() {
        let m = resolved(
            "BASE = 'ab'\nREV: str = BASE + '12'\nrevision = REV\nPARENT = OTHER = 'a0'\ndown_revision = (PARENT,)\nLABEL = 'expand'\nbranch_labels = (LABEL, 'x')\ndepends_on = None\n",
            &[],
        );
        assert!(m.problems.is_empty(), "{:?}", m.problems);
        assert!(m.unresolved.is_empty(), "{:?}", m.unresolved);
        assert_eq!(m.revision_id(), Some("ab12"));
        assert_eq!(m.down_revisions().next().unwrap().value, "a0");
        assert_eq!(labels(&m), ["expand", "x"]);
        // The item's span is the name's.
        assert_eq!(m.branch_labels().next().unwrap().span.start_line, 7);
    }

    #[test]
    fn a_name_bound_after_the_assignment_is_not_used() {
        let m = resolved(
            "revision = 'a'\ndown_revision = None\nbranch_labels = (LABEL,)\nLABEL = 'late'\n",
            &[],
        );
        assert!(labels(&m).is_empty());
        assert_eq!(m.unresolved.len(), 1);
        assert!(m.unresolved[0].reason.contains("`LABEL` is not assigned"));
        assert!(m.problems.is_empty(), "not MV009: {:?}", m.problems);
    }

    #[test]
    fn calls_and_fstrings_are_unresolved_not_invalid() {
        let m = resolved(
            "P = 'x'\nrevision = f'{P}_1'\ndown_revision = get_previous()\nbranch_labels = tuple(L)\n",
            &[],
        );
        assert!(m.problems.is_empty(), "{:?}", m.problems);
        let fields: Vec<IdField> = m.unresolved.iter().map(|u| u.field).collect();
        assert_eq!(
            fields,
            [
                IdField::Revision,
                IdField::DownRevision,
                IdField::BranchLabels
            ]
        );
        assert!(m.revision.is_none() && m.down_revision.is_none() && !m.is_base());
        // Literals of the wrong type stay MV009.
        let m = resolved("revision = 5\ndown_revision = None\n", &[]);
        assert_eq!(m.problems.len(), 1, "{:?}", m.problems);
        let m = resolved("revision = 'a'\ndown_revision = ('a', 3)\n", &[]);
        assert_eq!(m.problems.len(), 1, "{:?}", m.problems);
        // A resolved revision id is checked as a literal one is.
        let m = resolved("R = 'a-b'\nrevision = R\ndown_revision = None\n", &[]);
        assert!(m.problems[0].message.contains("'-'"), "{:?}", m.problems);
    }

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn imported_modules_and_reexports() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write(root, "proj/__init__.py", "");
        write(root, "proj/db/__init__.py", "from .consts import *\n");
        write(
            root,
            "proj/db/consts.py",
            "EXPAND = 'expand'\nCONTRACT = EXPAND.replace('x', 'y')\n",
        );
        write(
            root,
            "proj/db/cli.py",
            "from proj.db import consts as c\nfrom . import consts\nEXPAND_BRANCH = c.EXPAND\nALSO = consts.EXPAND\nfrom proj.db.consts import EXPAND as E2\n",
        );
        // namespace package: no __init__.py
        write(root, "ns/pkg/names.py", "REV = 'ns1'\n");
        let roots = [root.to_path_buf()];
        let m = resolved(
            "from proj.db import cli\nimport proj.db.consts\nimport ns.pkg.names as n\nfrom proj.db.cli import E2 as X\nfrom proj.db import EXPAND as STAR\nrevision = n.REV\ndown_revision = None\nbranch_labels = (cli.EXPAND_BRANCH, cli.ALSO, proj.db.consts.EXPAND, X, STAR)\n",
            &roots,
        );
        assert!(m.unresolved.is_empty(), "{:?}", m.unresolved);
        assert_eq!(m.revision_id(), Some("ns1"));
        assert_eq!(labels(&m), ["expand"; 5]);

        let m = resolved(
            "from proj.db import cli, consts\nfrom missing import thing\nrevision = 'a'\ndown_revision = None\nbranch_labels = ('kept', consts.CONTRACT, thing.X, cli.NOPE)\n",
            &roots,
        );
        assert_eq!(labels(&m), ["kept"], "what is known is kept");
        let reasons: Vec<&str> = m.unresolved.iter().map(|u| u.reason.as_str()).collect();
        assert!(
            reasons[0].contains("computed when the file runs"),
            "{reasons:?}"
        );
        assert!(
            reasons[1].contains("module `missing` was not found below"),
            "{reasons:?}"
        );
        assert!(
            reasons[2].contains(
                "`NOPE` is not assigned or imported at module level in module `proj.db.cli`"
            ),
            "{reasons:?}"
        );
    }

    #[test]
    fn cycles_and_long_chains_stop() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write(root, "a.py", "from b import X\n");
        write(root, "b.py", "from a import X\n");
        let chain: String = (0..20).map(|i| format!("C{} = C{}\n", i + 1, i)).collect();
        let m = resolved(
            &format!(
                "import a\nC0 = 'x'\n{chain}revision = 'r'\ndown_revision = None\nbranch_labels = (a.X, C20, C3)\n"
            ),
            &[root.to_path_buf()],
        );
        assert_eq!(labels(&m), ["x"]);
        assert!(
            m.unresolved
                .iter()
                .all(|u| u.reason.contains("more than 8 names")),
            "{:?}",
            m.unresolved
        );
        assert_eq!(m.unresolved.len(), 2);
    }

    #[test]
    fn modules_are_read_once_and_at_most_max_modules_per_run() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let n = MAX_MODULES + 4;
        for i in 0..n {
            write(root, &format!("h{i}.py"), &format!("L = 'l{i}'\n"));
        }
        let mut ms: Vec<Migration> = (0..n)
            .map(|i| {
                parse(&format!(
                    "import h{i}\nimport h0\nrevision = 'r{i}'\ndown_revision = None\nbranch_labels = (h{i}.L, h0.L)\n"
                ))
            })
            .collect();
        resolve_all(&mut ms, &[root.to_path_buf()], root);
        for (i, m) in ms.iter().enumerate() {
            if i < MAX_MODULES {
                assert_eq!(labels(m), [format!("l{i}").as_str(), "l0"]);
            } else {
                // h0 is still known (read once); the new module is past the bound.
                assert_eq!(labels(m), ["l0"]);
                assert!(
                    m.unresolved[0].reason.contains("already read 256"),
                    "{:?}",
                    m.unresolved
                );
            }
        }
    }

    #[test]
    fn an_unresolved_merge_is_still_a_merge() {
        let m = resolved("revision = 'm'\ndown_revision = (A, B)\n", &[]);
        assert!(m.is_merge());
        assert!(m.down_revision.is_none());
        assert_eq!(m.unresolved.len(), 2);
    }
}
