//! SQLAlchemy models, read statically from the `[models] paths` files with
//! tree-sitter: declarative classes and `Table(...)` objects become a [`Schema`]
//! whose tables and columns point at the class and attribute that declare them.
//!
//! Understood: `DeclarativeBase` subclasses, `declarative_base()` /
//! `registry().generate_base()` / `@as_declarative` / `@registry.mapped` bases,
//! Flask-SQLAlchemy's `db.Model` (automatic `camel_to_snake_case` table names, its
//! inheritance rules, `__bind_key__`), SQLModel's `table=True` classes and fields,
//! `__tablename__` (literal, or a `@declared_attr` evaluated by [`names`]),
//! `__table_args__` with a `schema`, `__abstract__`, mixins and base classes resolved
//! by name across all model files, single-table and joined inheritance,
//! `Column(...)`, `mapped_column(...)`, `Mapped[...]` annotations, `deferred(...)`,
//! `@declared_attr` columns on mixins, `Table("name", metadata, Column(...))`; and
//! the types SQLAlchemy infers: `type_annotation_map`, `Annotated` aliases, and an
//! untyped `ForeignKey` column taking the referenced column's type. A table name
//! that cannot be read is recorded as [`Opaque`], and so is a base class that is not
//! among the files (its columns are unknown).

pub mod names;
pub mod objects;
mod read;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;

use crate::diagnostic::{Location, Span};
use crate::project::Project;
use crate::schema::{Column, Fold, Opaque, Schema, SqlType, Table, TableName};
use crate::source::SourceFile;

pub use read::{read_file, read_source};

/// How a class names its table.
#[derive(Clone, Debug, PartialEq)]
pub enum TableNameDecl {
    Absent,
    Literal(String),
    /// `@declared_attr def __tablename__(cls)` read statically: the name for the class
    /// being mapped; `unless_inherited` when it first returns `None` for a class that
    /// inherits a table (`if has_inherited_table(cls): return None`).
    Derived {
        expr: names::NameExpr,
        unless_inherited: bool,
    },
    /// A `__tablename__` that cannot be read statically.
    Computed,
}

/// A `type_annotation_map`: Python type (as written) to SQL type.
pub type TypeMap = Vec<(String, SqlType)>;

/// What finishes a model column's type and nullability once every model file is
/// read: the annotation's Python type (for `type_annotation_map` and `Annotated`
/// aliases) and a `ForeignKey` target (whose column's type an untyped column takes).
#[derive(Clone, Debug, Default)]
pub struct Hint {
    pub column: String,
    /// The Python type of the `Mapped[...]` annotation, when the type comes from it.
    pub pytype: Option<String>,
    /// The annotation admits `None`.
    pub optional: bool,
    pub explicit_nullable: bool,
    pub primary: bool,
    /// `ForeignKey("users.id")` on a column with no type of its own.
    pub fk: Option<String>,
}

/// `str50 = Annotated[str, mapped_column(String(50))]`.
#[derive(Clone, Debug)]
pub struct Alias {
    pub name: String,
    pub pytype: String,
    pub type_: Option<SqlType>,
    pub nullable: Option<bool>,
    pub primary: bool,
    pub fk: Option<String>,
}

/// A class statement in a model file.
#[derive(Clone, Debug)]
pub struct Class {
    pub name: String,
    pub name_span: Span,
    /// The base class expressions, last dotted segment (`Base`, `TimestampMixin`);
    /// Flask-SQLAlchemy's `db.Model` as `db.Model`.
    pub bases: Vec<String>,
    /// Class keywords: `table=True` (SQLModel).
    pub keywords: Vec<(String, String)>,
    pub tablename: TableNameDecl,
    pub schema: Option<String>,
    pub abstract_: bool,
    /// A declarative base itself (`class Base(DeclarativeBase)`, `@as_declarative`).
    pub is_base: bool,
    /// Mapped by a decorator (`@mapper_registry.mapped`).
    pub decorated_mapped: bool,
    pub columns: Vec<Column>,
    /// One per column, same order.
    pub hints: Vec<Hint>,
    /// Annotated attributes that are not `Mapped[...]`: SQLModel fields, columns
    /// only when the class is a SQLModel table.
    pub fields: Vec<(Column, Hint)>,
    /// `__table__ = Table(...)`.
    pub table: Option<Table>,
    /// `(column, ForeignKey target)` of `table`'s untyped foreign-key columns.
    pub table_fks: Vec<(String, String)>,
    /// `__bind_key__` (Flask-SQLAlchemy): `Some(None)` for the default bind.
    pub bind_key: Option<Option<String>>,
    /// `type_annotation_map = {...}` on a declarative base.
    pub type_map: Option<TypeMap>,
    /// `registry = name` on a declarative base.
    pub registry: Option<String>,
    /// First and last line of the class statement (1-based).
    pub lines: (usize, usize),
    /// Indexes, constraints, comments and defaults as declared ([`objects`]).
    pub objects: objects::RawObjects,
}

/// One model file, as read.
#[derive(Debug)]
pub struct ModelFile {
    pub path: PathBuf,
    pub source: Arc<SourceFile>,
    pub classes: Vec<Class>,
    /// `Table(...)` objects.
    pub tables: Vec<Table>,
    /// Names bound to a declarative base: `Base = declarative_base()`.
    pub base_names: Vec<String>,
    /// Why parts of the file could not be read (syntax errors), with the place.
    pub problems: Vec<(Option<Span>, String)>,
    /// `Annotated[...]` aliases at module level.
    pub aliases: Vec<Alias>,
    /// `name = registry(type_annotation_map=...)` / `declarative_base(type_annotation_map=...)`.
    pub registries: Vec<(String, TypeMap)>,
    /// Untyped foreign-key columns of module-level `Table(...)`s: `(table, column, target)`.
    pub table_fks: Vec<(TableName, String, String)>,
    /// `# migverify: ignore[...]` comments: `(line, file_level, rules)`.
    pub suppressions: Vec<(usize, bool, Vec<String>)>,
    /// What each `Table(...)` object declares besides columns.
    pub table_objects: Vec<(TableName, objects::RawObjects)>,
    /// Module-level names bound to a `Table(...)`: `users = Table("users", ...)`.
    pub table_vars: Vec<(String, TableName)>,
    /// Module-level `Index(...)` calls.
    pub module_indexes: Vec<objects::ModuleIndex>,
    /// `MetaData(naming_convention=...)` conventions (`None`: not readable).
    pub conventions: Vec<Option<crate::schema::objects::Convention>>,
}

/// The models of a project: the schema they declare and the files it came from.
#[derive(Debug, Default)]
pub struct Models {
    pub schema: Schema,
    pub files: Vec<PathBuf>,
    pub sources: Vec<Arc<SourceFile>>,
    /// Problems worth a warning: unreadable files, syntax errors, no files matched.
    pub warnings: Vec<String>,
    /// Suppression comments of the model files, by path: `(line, file_level,
    /// rules)`; and the line ranges of their classes (a comment on a class line
    /// covers the class).
    pub suppressions: HashMap<PathBuf, ModelSuppressions>,
}

/// The suppression comments of one model file.
#[derive(Debug, Default, Clone)]
pub struct ModelSuppressions {
    pub comments: Vec<(usize, bool, Vec<String>)>,
    pub classes: Vec<(usize, usize)>,
}

impl ModelSuppressions {
    /// The rules (codes or names as written; empty = all) that silence a finding at
    /// `line`: comments on that line, on the class line of the class around it, or
    /// file-level.
    pub fn rules_at(&self, line: Option<usize>) -> Vec<&[String]> {
        let class_line = line.and_then(|l| {
            self.classes
                .iter()
                .filter(|(a, b)| *a <= l && l <= *b)
                .map(|(a, _)| *a)
                .max()
        });
        self.comments
            .iter()
            .filter(|(l, file, _)| *file || Some(*l) == line || Some(*l) == class_line)
            .map(|(_, _, r)| r.as_slice())
            .collect()
    }
}

/// Finds the model files of `patterns` (globs relative to `root`) and reads them.
pub fn load(root: &Path, patterns: &[String]) -> Result<Models, crate::Error> {
    let files = find_files(root, patterns)?;
    let read: Vec<ModelFile> = files.par_iter().map(|p| read_file(p)).collect();
    let mut models = build(&read);
    if files.is_empty() {
        models.warnings.push(format!(
            "no model files match [models] paths {patterns:?} under {}",
            root.display()
        ));
    }
    models.files = files;
    Ok(models)
}

/// The models of a project, or `None` when it configures none.
pub fn load_project(project: &Project) -> Result<Option<Models>, crate::Error> {
    if project.models.paths.is_empty() {
        return Ok(None);
    }
    load(&project.root, &project.models.paths).map(Some)
}

/// Directories never searched for models.
const SKIP_DIRS: &[&str] = &[
    ".git",
    ".hg",
    ".venv",
    "venv",
    "node_modules",
    "__pycache__",
    ".migverify_cache",
    ".tox",
    ".mypy_cache",
    "target",
];

fn find_files(root: &Path, patterns: &[String]) -> Result<Vec<PathBuf>, crate::Error> {
    let mut builder = globset::GlobSetBuilder::new();
    for p in patterns {
        let m = crate::config::resolve::glob_matcher(p).map_err(|e| crate::Error::Project {
            message: format!("bad [models] paths pattern `{p}`: {e}"),
            help: None,
        })?;
        builder.add(m.glob().clone());
    }
    let set = builder.build().map_err(|e| crate::Error::Project {
        message: format!("bad [models] paths: {e}"),
        help: None,
    })?;
    let mut out = Vec::new();
    let walker = walkdir::WalkDir::new(root).follow_links(false).into_iter();
    for entry in walker.filter_entry(|e| {
        e.depth() == 0
            || !(e.file_type().is_dir()
                && e.file_name()
                    .to_str()
                    .is_some_and(|n| SKIP_DIRS.contains(&n)))
    }) {
        let Ok(entry) = entry else { continue };
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry.path().strip_prefix(root).unwrap_or(entry.path());
        if set.is_match(rel) {
            out.push(entry.path().to_path_buf());
        }
    }
    out.sort();
    Ok(out)
}

/// Resolves classes across files into the schema they map.
pub fn build(files: &[ModelFile]) -> Models {
    let mut by_name: HashMap<&str, (&ModelFile, &Class)> = HashMap::new();
    let mut base_names: HashSet<&str> = HashSet::new();
    let mut aliases: HashMap<&str, &Alias> = HashMap::new();
    let mut registries: HashMap<&str, &TypeMap> = HashMap::new();
    for f in files {
        base_names.extend(f.base_names.iter().map(String::as_str));
        for a in &f.aliases {
            aliases.entry(a.name.as_str()).or_insert(a);
        }
        for (name, map) in &f.registries {
            registries.entry(name.as_str()).or_insert(map);
        }
        for c in &f.classes {
            by_name.entry(c.name.as_str()).or_insert((f, c));
            if c.is_base {
                base_names.insert(c.name.as_str());
            }
        }
    }
    let resolver = Resolver {
        by_name: &by_name,
        base_names: &base_names,
        aliases: &aliases,
        registries: &registries,
        depth: std::cell::Cell::new(0),
        memo: std::cell::RefCell::new(HashMap::new()),
        cut: std::cell::Cell::new(false),
        steps: std::cell::Cell::new(0),
    };
    let mut schema = Schema::default();
    let mut warnings = Vec::new();
    let fold = Fold::exact();
    // Untyped foreign-key columns: `(table, column, target)`.
    let mut fks: Vec<(TableName, String, String)> = Vec::new();
    for f in files {
        for (span, msg) in &f.problems {
            let at = span
                .map(|s| format!(":{}:{}", s.start_line, s.start_column))
                .unwrap_or_default();
            warnings.push(format!("models: {}{at}: {msg}", f.path.display()));
        }
        for t in &f.tables {
            add_table(&mut schema, t.clone(), fold);
        }
        fks.extend(f.table_fks.iter().cloned());
    }
    let mut unknown_bases: Vec<&str> = Vec::new();
    // Objects are placed once every table is known (a foreign key may name a class
    // declared later).
    let mut pending: Vec<(TableName, objects::RawObjects)> = Vec::new();
    let mut tables_by_name: HashMap<String, TableName> = HashMap::new();
    for f in files {
        for (var, t) in &f.table_vars {
            tables_by_name.insert(var.clone(), t.clone());
        }
        pending.extend(f.table_objects.iter().cloned());
    }
    // Classes in file order; a single-table subclass joins its parent's table, so
    // parents (which come first in their files, or in an earlier file) are placed first
    // by walking up explicitly.
    for f in files {
        for c in &f.classes {
            let Some(target) = resolver.table_of(f, c, &mut schema) else {
                continue;
            };
            tables_by_name.insert(c.name.clone(), target.name.clone());
            pending.push((target.name.clone(), resolver.objects_of(c)));
            let mut columns = resolver.columns_of(c);
            if let Some(t) = &c.table {
                columns.extend(t.columns.iter().map(|col| {
                    let fk = c
                        .table_fks
                        .iter()
                        .find(|(n, _)| *n == col.name)
                        .map(|(_, t)| t.clone());
                    (
                        col.clone(),
                        Hint {
                            column: col.name.clone(),
                            fk,
                            ..Hint::default()
                        },
                    )
                }));
            }
            let ti = match schema.table_index(&target.name, fold) {
                Some(i) => i,
                None => {
                    schema.tables.push(target);
                    schema.tables.len() - 1
                }
            };
            let table_name = schema.tables[ti].name.clone();
            // A base class or mixin that is not among the files: its columns are
            // unknown. A lone unknown base is taken for the declarative base itself.
            let ancestry = resolver.ancestry(c);
            if !(c.bases.len() == 1 && ancestry.unresolved_names.len() == 1) {
                for name in &ancestry.unresolved_names {
                    if !unknown_bases.contains(name) {
                        unknown_bases.push(name);
                    }
                    schema.opaque.push(Opaque {
                        table: Some(table_name.name.clone()),
                        what: format!(
                            "base class `{name}` ({UNKNOWN_BASE}: its columns are unknown)"
                        ),
                        location: Location {
                            path: f.path.clone(),
                            span: Some(c.name_span),
                        },
                    });
                }
            }
            let table = &mut schema.tables[ti];
            for (col, hint) in columns {
                if table.column(&col.name, fold).is_none() {
                    if let Some(target) = &hint.fk {
                        fks.push((table_name.clone(), col.name.clone(), target.clone()));
                    }
                    table.columns.push(col);
                }
            }
        }
    }
    for name in unknown_bases {
        warnings.push(format!(
            "models: `{name}` is {UNKNOWN_BASE}: its columns are unknown (add its file to \
             [models] paths)"
        ));
    }
    infer_foreign_key_types(&mut schema, &fks);
    let suppressions = files
        .iter()
        .filter(|f| !f.suppressions.is_empty())
        .map(|f| {
            (
                f.path.clone(),
                ModelSuppressions {
                    comments: f.suppressions.clone(),
                    classes: f.classes.iter().map(|c| c.lines).collect(),
                },
            )
        })
        .collect();
    let conventions: Vec<&Option<crate::schema::objects::Convention>> =
        files.iter().flat_map(|f| &f.conventions).collect();
    let default_conv = crate::schema::objects::Convention::default();
    let conv = match conventions.first() {
        None => Some(&default_conv),
        Some(_) if conventions.iter().any(|c| c.is_none()) => None,
        Some(first) => first.as_ref(),
    };
    for (name, raw) in &pending {
        if let Some(i) = schema.table_index(name, fold) {
            objects::apply(
                &mut schema.tables[i].objects,
                name,
                raw,
                conv,
                &tables_by_name,
            );
        }
    }
    for f in files {
        for ix in &f.module_indexes {
            match objects::module_index(ix, &tables_by_name) {
                Some((name, call)) => {
                    if let Some(i) = schema.table_index(&name, fold) {
                        let raw = objects::RawObjects {
                            items: vec![(call, ix.location.clone())],
                            ..objects::RawObjects::known()
                        };
                        objects::apply(
                            &mut schema.tables[i].objects,
                            &name,
                            &raw,
                            conv,
                            &tables_by_name,
                        );
                    }
                }
                // An index whose table cannot be told: any table's may be missing.
                None => {
                    for t in &mut schema.tables {
                        t.objects.partial = true;
                    }
                }
            }
        }
    }
    Models {
        schema,
        files: Vec::new(),
        sources: files.iter().map(|f| Arc::clone(&f.source)).collect(),
        warnings,
        suppressions,
    }
}

/// How an unknown base class is described (the drift rules hedge only the
/// differences such a class could explain: columns the models lack).
pub const UNKNOWN_BASE: &str = "not in [models] paths";

/// A column with a `ForeignKey` and no type of its own takes the type of the column
/// it references, as SQLAlchemy does; when that column is not in the models, the
/// type is unknown (and never reported).
fn infer_foreign_key_types(schema: &mut Schema, fks: &[(TableName, String, String)]) {
    let fold = Fold::exact();
    // A few rounds: a foreign key may point at another untyped foreign key.
    let mut pending: Vec<&(TableName, String, String)> = fks.iter().collect();
    for round in 0..4 {
        let mut next = Vec::new();
        for fk in pending {
            let (table, column, target) = fk;
            let mut parts: Vec<&str> = target.split('.').collect();
            let Some(tcol) = parts.pop() else { continue };
            let tname = parts.pop().unwrap_or("");
            let tschema = (!parts.is_empty()).then(|| parts.join("."));
            let target_name = TableName::new(tschema.or_else(|| table.schema.clone()), tname);
            let found = schema
                .table(&target_name, fold)
                .or_else(|| schema.table(&TableName::new(None, tname), fold))
                .and_then(|t| t.column(tcol, fold))
                .map(|c| c.type_.clone());
            let still_pending = fks
                .iter()
                .any(|(t, c, _)| fold.table_eq(t, &target_name) && c == tcol);
            if still_pending && round < 3 && found.is_none() {
                next.push(fk);
                continue;
            }
            if let Some(t) = schema.table_index(table, fold)
                && let Some(c) = schema.tables[t].column_mut(column, fold)
            {
                c.type_ = found.unwrap_or_else(SqlType::unknown);
            }
        }
        pending = next;
        if pending.is_empty() {
            break;
        }
    }
}

fn add_table(schema: &mut Schema, t: Table, fold: Fold) {
    if schema.table(&t.name, fold).is_none() {
        schema.tables.push(t);
    }
}

struct Resolver<'a> {
    by_name: &'a HashMap<&'a str, (&'a ModelFile, &'a Class)>,
    base_names: &'a HashSet<&'a str>,
    aliases: &'a HashMap<&'a str, &'a Alias>,
    registries: &'a HashMap<&'a str, &'a TypeMap>,
    /// Recursion guard for class hierarchies with cycles.
    depth: std::cell::Cell<usize>,
    /// Each class's ancestry, computed once (a long inheritance chain would otherwise
    /// be walked again from every class below it).
    memo: std::cell::RefCell<HashMap<*const Class, Ancestry<'a>>>,
    /// Set when a walk was cut short (by the depth guard or the step budget): its
    /// result is not remembered.
    cut: std::cell::Cell<bool>,
    /// Walks so far: a hostile hierarchy (cycles through mapped classes) gives up
    /// instead of taking exponential time.
    steps: std::cell::Cell<usize>,
}

/// What walking a class's ancestors found.
#[derive(Default, Clone)]
struct Ancestry<'a> {
    reaches_base: bool,
    unresolved: bool,
    /// Unresolved base names other than plain Python ones, in order.
    unresolved_names: Vec<&'a str>,
    /// Under Flask-SQLAlchemy's `db.Model` (automatic table names).
    flask: bool,
    /// Under SQLModel (a table only with `table=True`).
    sqlmodel: bool,
    /// The nearest mapped ancestor (for inheritance).
    mapped_parent: Option<(&'a ModelFile, &'a Class)>,
    /// Non-mapped ancestors (mixins, abstract classes) in MRO-like order.
    mixins: Vec<&'a Class>,
}

impl<'a> Resolver<'a> {
    /// Ancestors of `c`, iteratively (depth-first, left to right, each once).
    fn ancestry(&self, c: &'a Class) -> Ancestry<'a> {
        if let Some(a) = self.memo.borrow().get(&(c as *const Class)) {
            return a.clone();
        }
        let depth = self.depth.get();
        self.steps.set(self.steps.get() + 1);
        if depth > 32 || self.steps.get() > 50_000 {
            self.cut.set(true);
            return Ancestry::default();
        }
        let outer_cut = self.cut.replace(false);
        let out = self.walk_ancestry(c, depth);
        let was_cut = self.cut.get();
        if !was_cut {
            // Only complete walks are remembered (a cut-off one is not the answer).
            self.memo
                .borrow_mut()
                .insert(c as *const Class, out.clone());
        }
        self.cut.set(outer_cut || was_cut);
        out
    }

    fn walk_ancestry(&self, c: &'a Class, depth: usize) -> Ancestry<'a> {
        let mut out = Ancestry::default();
        self.depth.set(depth + 1);
        let mut seen: HashSet<&str> = HashSet::new();
        seen.insert(c.name.as_str());
        let mut stack: Vec<&str> = c.bases.iter().rev().map(String::as_str).collect();
        while let Some(name) = stack.pop() {
            if !seen.insert(name) {
                continue;
            }
            if name == read::FLASK_MODEL {
                out.flask = true;
                out.reaches_base = true;
                continue;
            }
            if name == "SQLModel" && !self.by_name.contains_key(name) {
                out.sqlmodel = true;
                out.reaches_base = true;
                continue;
            }
            if self.base_names.contains(name) || is_sqlalchemy_base(name) {
                out.reaches_base = true;
                if let Some(&(_, b)) = self.by_name.get(name) {
                    // A base class may declare columns for every model (rare).
                    out.mixins.push(b);
                    // `class Base(db.Model)`-like chains.
                    stack.extend(b.bases.iter().rev().map(String::as_str));
                }
                continue;
            }
            let Some(&(f, parent)) = self.by_name.get(name) else {
                if !is_plain_python_base(name) {
                    out.unresolved = true;
                    out.unresolved_names.push(name);
                }
                continue;
            };
            let pa = self.ancestry(parent);
            if self.is_mapped_with(parent, &pa) {
                out.reaches_base = true;
                if out.mapped_parent.is_none() {
                    out.mapped_parent = Some((f, parent));
                    out.flask |= pa.flask;
                    out.sqlmodel |= pa.sqlmodel;
                }
                continue;
            }
            out.mixins.push(parent);
            stack.extend(parent.bases.iter().rev().map(String::as_str));
        }
        self.depth.set(depth);
        out
    }

    fn is_mapped(&self, c: &'a Class) -> bool {
        if c.abstract_ || c.is_base || self.base_names.contains(c.name.as_str()) {
            return false;
        }
        if c.decorated_mapped {
            return true;
        }
        self.is_mapped_with(c, &self.ancestry(c))
    }

    /// [`Self::is_mapped`] with `c`'s ancestry at hand.
    fn is_mapped_with(&self, c: &'a Class, a: &Ancestry<'a>) -> bool {
        if c.abstract_ || c.is_base || self.base_names.contains(c.name.as_str()) {
            return false;
        }
        if c.decorated_mapped {
            return true;
        }
        if a.sqlmodel {
            return c.keywords.iter().any(|(k, v)| k == "table" && v == "True");
        }
        a.reaches_base
            || (a.unresolved && matches!(c.tablename, TableNameDecl::Literal(_)))
            || (a.unresolved && c.table.is_some())
    }

    /// The Flask-SQLAlchemy bind of `c`: its own `__bind_key__`, else its bases'.
    fn bind_key(&self, c: &'a Class, ancestry: &Ancestry<'a>) -> Option<String> {
        if let Some(k) = &c.bind_key {
            return k.clone();
        }
        for m in &ancestry.mixins {
            if let Some(k) = &m.bind_key {
                return k.clone();
            }
        }
        let (_, p) = ancestry.mapped_parent?;
        if std::ptr::eq(p, c) {
            return None;
        }
        self.bind_key(p, &self.ancestry(p))
    }

    /// The table `c` maps to (a new one, or its single-table parent's), or `None`
    /// when it maps none. A computed name is recorded as opaque.
    fn table_of(&self, f: &ModelFile, c: &'a Class, schema: &mut Schema) -> Option<Table> {
        if !self.is_mapped(c) {
            return None;
        }
        let loc = Location {
            path: f.path.clone(),
            span: Some(c.name_span),
        };
        let ancestry = self.ancestry(c);
        // Only the default bind's tables are the project's (Flask-SQLAlchemy).
        if self.bind_key(c, &ancestry).is_some() {
            return None;
        }
        if let Some(t) = &c.table {
            let mut t = t.clone();
            t.class = Some(c.name.clone());
            return Some(t);
        }
        let schema_name = c
            .schema
            .clone()
            .or_else(|| ancestry.mixins.iter().find_map(|m| m.schema.clone()));
        let named = |name: &str| {
            let mut t = Table::new(TableName::new(schema_name.clone(), name), Some(loc.clone()));
            t.class = Some(c.name.clone());
            t
        };
        let has_parent = ancestry.mapped_parent.is_some();
        match &c.tablename {
            TableNameDecl::Literal(name) => return Some(named(name)),
            TableNameDecl::Computed => {
                schema.opaque.push(opaque_name(c, loc));
                return None;
            }
            TableNameDecl::Derived {
                expr,
                unless_inherited,
            } if !(has_parent && *unless_inherited) => {
                return match expr.eval(&c.name) {
                    Some(n) => Some(named(&n)),
                    None => {
                        schema.opaque.push(opaque_name(c, loc));
                        None
                    }
                };
            }
            _ => {}
        }
        // SQLModel: `cls.__name__.lower()` unless a base names it.
        if ancestry.sqlmodel {
            for m in &ancestry.mixins {
                if let TableNameDecl::Literal(name) = &m.tablename {
                    return Some(named(name));
                }
            }
            return Some(named(&c.name.to_lowercase()));
        }
        // A `@declared_attr` name inherited from a mixin or the base: evaluated for
        // this class, unless it gives way to an inherited table.
        for m in &ancestry.mixins {
            match &m.tablename {
                TableNameDecl::Derived {
                    expr,
                    unless_inherited,
                } if !(has_parent && *unless_inherited) => {
                    return match expr.eval(&c.name) {
                        Some(n) => Some(named(&n)),
                        None => {
                            schema.opaque.push(opaque_name(c, loc));
                            None
                        }
                    };
                }
                TableNameDecl::Computed if !has_parent => {
                    schema.opaque.push(opaque_name(c, loc));
                    return None;
                }
                _ => {}
            }
        }
        // Flask-SQLAlchemy names the table of a class that declares a primary key
        // (joined inheritance, or no mapped parent at all) after the class.
        if ancestry.flask {
            let own_pk = self.columns_of(c).iter().any(|(_, h)| h.primary);
            let mixin_name = ancestry.mixins.iter().find_map(|m| match &m.tablename {
                TableNameDecl::Literal(n) => Some(n.clone()),
                _ => None,
            });
            if !has_parent {
                return Some(named(
                    &mixin_name.unwrap_or_else(|| names::camel_to_snake_case(&c.name)),
                ));
            }
            if own_pk {
                return Some(named(&names::camel_to_snake_case(&c.name)));
            }
        }
        // Single-table inheritance: the nearest mapped parent's table.
        let mut cur = ancestry.mapped_parent;
        let mut hops = 0;
        while let Some((pf, p)) = cur {
            hops += 1;
            if hops > 64 {
                break;
            }
            if let Some(t) = &p.table {
                return Some(t.clone());
            }
            let pa = self.ancestry(p);
            let parent_table = |name: String| {
                Table::new(
                    TableName::new(p.schema.clone(), name),
                    Some(Location {
                        path: pf.path.clone(),
                        span: Some(p.name_span),
                    }),
                )
            };
            match &p.tablename {
                TableNameDecl::Literal(name) => return Some(parent_table(name.clone())),
                TableNameDecl::Derived { expr, .. } if pa.mapped_parent.is_none() => {
                    return match expr.eval(&p.name) {
                        Some(n) => Some(parent_table(n)),
                        None => {
                            schema.opaque.push(opaque_name(c, loc));
                            None
                        }
                    };
                }
                TableNameDecl::Computed => {
                    schema.opaque.push(opaque_name(c, loc));
                    return None;
                }
                _ => {}
            }
            // The parent's own name may come from Flask-SQLAlchemy, a mixin or the base.
            if pa.mapped_parent.is_none() || pa.flask {
                let own_pk = self.columns_of(p).iter().any(|(_, h)| h.primary);
                if pa.mapped_parent.is_none() || own_pk {
                    if let Some(mut t) = self.table_of(pf, p, &mut Schema::default()) {
                        t.class = None;
                        return Some(t);
                    }
                    break;
                }
            }
            cur = pa.mapped_parent;
        }
        // A name from a mixin.
        for m in &ancestry.mixins {
            if let TableNameDecl::Literal(name) = &m.tablename {
                return Some(named(name));
            }
        }
        None
    }

    /// The `type_annotation_map` that applies to `c`: on its declarative base (or
    /// the base's `registry`), the nearest one up its ancestors.
    fn type_map(&self, c: &'a Class) -> Option<&'a TypeMap> {
        let own = |k: &'a Class| -> Option<&'a TypeMap> {
            k.type_map.as_ref().or_else(|| {
                k.registry
                    .as_deref()
                    .and_then(|r| self.registries.get(r).copied())
            })
        };
        if let Some(m) = own(c) {
            return Some(m);
        }
        let mut stack: Vec<&str> = c.bases.iter().map(String::as_str).collect();
        let mut seen: HashSet<&str> = HashSet::new();
        while let Some(name) = stack.pop() {
            if !seen.insert(name) || seen.len() > 256 {
                continue;
            }
            if let Some(m) = self.registries.get(name) {
                // `Base = declarative_base(type_annotation_map=...)`
                return Some(m);
            }
            if let Some(&(_, k)) = self.by_name.get(name) {
                if let Some(m) = own(k) {
                    return Some(m);
                }
                stack.extend(k.bases.iter().map(String::as_str));
            }
        }
        None
    }

    /// What `c` declares besides columns, with its mixins' columns' extras and
    /// (unless it has its own) a mixin's `__table_args__`.
    fn objects_of(&self, c: &'a Class) -> objects::RawObjects {
        let mut out = c.objects.clone();
        let ancestry = self.ancestry(c);
        out.unknown |= ancestry.unresolved;
        for m in &ancestry.mixins {
            for col in &m.objects.columns {
                if !out.columns.iter().any(|o| o.0 == col.0) {
                    out.columns.push(col.clone());
                }
            }
            if !out.has_table_args && m.objects.has_table_args {
                out.has_table_args = true;
                out.items.extend(m.objects.items.iter().cloned());
                out.comment = m.objects.comment.clone();
                out.unknown |= m.objects.unknown;
            } else {
                out.unknown |= m.objects.unknown && !m.objects.has_table_args;
            }
        }
        out
    }

    /// `c`'s own columns, then those of its mixins and abstract bases, with types
    /// and nullability finished (`type_annotation_map`, `Annotated` aliases).
    fn columns_of(&self, c: &'a Class) -> Vec<(Column, Hint)> {
        let ancestry = self.ancestry(c);
        let map = self.type_map(c);
        let mut out: Vec<(Column, Hint)> = Vec::new();
        let push = |col: &Column, hint: Option<&Hint>, out: &mut Vec<(Column, Hint)>| {
            if out.iter().any(|(o, _)| o.name == col.name) {
                return;
            }
            let mut col = col.clone();
            let mut hint = hint.cloned().unwrap_or_default();
            self.finish(&mut col, &mut hint, map);
            out.push((col, hint));
        };
        let hint_of = |k: &'a Class, i: usize| k.hints.get(i);
        for (i, col) in c.columns.iter().enumerate() {
            push(col, hint_of(c, i), &mut out);
        }
        if ancestry.sqlmodel {
            for (col, h) in &c.fields {
                push(col, Some(h), &mut out);
            }
        }
        for m in &ancestry.mixins {
            for (i, col) in m.columns.iter().enumerate() {
                push(col, hint_of(m, i), &mut out);
            }
            if ancestry.sqlmodel {
                for (col, h) in &m.fields {
                    push(col, Some(h), &mut out);
                }
            }
        }
        out
    }

    /// Applies an `Annotated` alias and the `type_annotation_map` to a column whose
    /// type comes from its annotation.
    fn finish(&self, col: &mut Column, hint: &mut Hint, map: Option<&TypeMap>) {
        let Some(py) = hint.pytype.clone() else {
            return;
        };
        let mut py = py;
        let mut typed: Option<SqlType> = None;
        if let Some(a) = self.aliases.get(py.as_str()) {
            typed = map_lookup(map, &a.name).or_else(|| a.type_.clone());
            if !hint.explicit_nullable {
                if let Some(n) = a.nullable {
                    col.nullable = Some(n);
                } else if a.primary {
                    col.nullable = Some(false);
                }
            }
            hint.primary |= a.primary;
            if typed.is_none() && hint.fk.is_none() {
                hint.fk = a.fk.clone();
            }
            py = a.pytype.clone();
        }
        if let Some(t) = typed.or_else(|| map_lookup(map, &py)) {
            col.type_ = t;
        } else {
            col.type_ = SqlType {
                kind: read::python_type_kind(&py),
                text: py,
            };
        }
    }
}

/// The `type_annotation_map` entry for a Python type (`datetime.datetime` and
/// `datetime` are the same key).
fn map_lookup(map: Option<&TypeMap>, py: &str) -> Option<SqlType> {
    let map = map?;
    let last = |s: &str| s.rsplit('.').next().unwrap_or(s).to_string();
    map.iter()
        .find(|(k, _)| k == py)
        .or_else(|| map.iter().find(|(k, _)| last(k) == last(py)))
        .map(|(_, t)| t.clone())
}

fn opaque_name(c: &Class, location: Location) -> Opaque {
    Opaque {
        table: None,
        what: format!("model `{}`, whose table name is computed", c.name),
        location,
    }
}

/// SQLAlchemy's declarative base classes.
fn is_sqlalchemy_base(name: &str) -> bool {
    matches!(name, "DeclarativeBase" | "DeclarativeBaseNoMeta")
}

/// Bases that say nothing about mapping.
fn is_plain_python_base(name: &str) -> bool {
    matches!(
        name,
        "object"
            | "Generic"
            | "Protocol"
            | "ABC"
            | "AsyncAttrs"
            | "MappedAsDataclass"
            | "Enum"
            | "IntEnum"
            | "StrEnum"
            | "str"
            | "int"
            | "dict"
            | "Exception"
            | "TypedDict"
            | "NamedTuple"
            | "BaseModel"
            // Mixins of methods only: Flask-Login, SQLAlchemy-serializer.
            | "UserMixin"
            | "AnonymousUserMixin"
            | "SerializerMixin"
    )
}

#[cfg(test)]
mod tests;
