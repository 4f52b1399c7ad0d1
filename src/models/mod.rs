//! SQLAlchemy models, read statically from the `[models] paths` files with
//! tree-sitter: declarative classes and `Table(...)` objects become a [`Schema`]
//! whose tables and columns point at the class and attribute that declare them.
//!
//! Understood: `DeclarativeBase` subclasses, `declarative_base()` /
//! `registry().generate_base()` / `@as_declarative` / `@registry.mapped` bases,
//! `__tablename__`, `__table_args__` with a `schema`, `__abstract__`, mixins and base
//! classes resolved by name across all model files, single-table inheritance (a
//! mapped subclass without `__tablename__` adds its columns to its parent's table)
//! and joined inheritance (with one, it has its own table), `Column(...)`,
//! `mapped_column(...)`, `Mapped[...]` annotations (nullability from `Optional[...]`,
//! `X | None` and `nullable=`; primary keys; explicit column names; `ForeignKey`),
//! `deferred(Column(...))`, `@declared_attr` columns on mixins (name only), and
//! `Table("name", metadata, Column(...), schema=...)`. A table name computed at run
//! time is recorded as [`Opaque`].

pub mod objects;
mod read;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;

use crate::diagnostic::{Location, Span};
use crate::project::Project;
use crate::schema::{Column, Fold, Opaque, Schema, Table, TableName};
use crate::source::SourceFile;

pub use read::{read_file, read_source};

/// How a class names its table.
#[derive(Clone, Debug, PartialEq)]
pub enum TableNameDecl {
    Absent,
    Literal(String),
    /// `@declared_attr def __tablename__`, or a non-literal value.
    Computed,
}

/// A class statement in a model file.
#[derive(Clone, Debug)]
pub struct Class {
    pub name: String,
    pub name_span: Span,
    /// The base class expressions, last dotted segment (`Base`, `TimestampMixin`).
    pub bases: Vec<String>,
    pub tablename: TableNameDecl,
    pub schema: Option<String>,
    pub abstract_: bool,
    /// A declarative base itself (`class Base(DeclarativeBase)`, `@as_declarative`).
    pub is_base: bool,
    /// Mapped by a decorator (`@mapper_registry.mapped`).
    pub decorated_mapped: bool,
    pub columns: Vec<Column>,
    /// `__table__ = Table(...)`.
    pub table: Option<Table>,
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
    for f in files {
        base_names.extend(f.base_names.iter().map(String::as_str));
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
    };
    let mut schema = Schema::default();
    let mut warnings = Vec::new();
    let fold = Fold::exact();
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
    }
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
                columns.extend(t.columns.iter().cloned());
            }
            let ti = match schema.table_index(&target.name, fold) {
                Some(i) => i,
                None => {
                    schema.tables.push(target);
                    schema.tables.len() - 1
                }
            };
            let table = &mut schema.tables[ti];
            for col in columns {
                if table.column(&col.name, fold).is_none() {
                    table.columns.push(col);
                }
            }
        }
    }
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
}

/// What walking a class's ancestors found.
#[derive(Default)]
struct Ancestry<'a> {
    reaches_base: bool,
    unresolved: bool,
    /// The nearest mapped ancestor (for inheritance).
    mapped_parent: Option<(&'a ModelFile, &'a Class)>,
    /// Non-mapped ancestors (mixins, abstract classes) in MRO-like order.
    mixins: Vec<&'a Class>,
}

impl<'a> Resolver<'a> {
    /// Ancestors of `c`, iteratively (depth-first, left to right, each once).
    fn ancestry(&self, c: &'a Class) -> Ancestry<'a> {
        let mut out = Ancestry::default();
        let mut seen: HashSet<&str> = HashSet::new();
        let mut stack: Vec<&str> = c.bases.iter().rev().map(String::as_str).collect();
        while let Some(name) = stack.pop() {
            if !seen.insert(name) {
                continue;
            }
            if self.base_names.contains(name) || is_sqlalchemy_base(name) {
                out.reaches_base = true;
                if let Some(&(_, b)) = self.by_name.get(name) {
                    // A base class may declare columns for every model (rare).
                    out.mixins.push(b);
                }
                continue;
            }
            let Some(&(f, parent)) = self.by_name.get(name) else {
                if !is_plain_python_base(name) {
                    out.unresolved = true;
                }
                continue;
            };
            if self.is_mapped(parent) {
                out.reaches_base = true;
                if out.mapped_parent.is_none() {
                    out.mapped_parent = Some((f, parent));
                }
                continue;
            }
            out.mixins.push(parent);
            stack.extend(parent.bases.iter().rev().map(String::as_str));
        }
        out
    }

    fn is_mapped(&self, c: &'a Class) -> bool {
        if c.abstract_ || c.is_base || self.base_names.contains(c.name.as_str()) {
            return false;
        }
        if c.decorated_mapped {
            return true;
        }
        let a = self.ancestry(c);
        a.reaches_base
            || (a.unresolved && matches!(c.tablename, TableNameDecl::Literal(_)))
            || (a.unresolved && c.table.is_some())
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
        if let Some(t) = &c.table {
            let mut t = t.clone();
            t.class = Some(c.name.clone());
            return Some(t);
        }
        let ancestry = self.ancestry(c);
        let schema_name = c
            .schema
            .clone()
            .or_else(|| ancestry.mixins.iter().find_map(|m| m.schema.clone()));
        let named = |name: &str| {
            let mut t = Table::new(TableName::new(schema_name.clone(), name), Some(loc.clone()));
            t.class = Some(c.name.clone());
            t
        };
        match &c.tablename {
            TableNameDecl::Literal(name) => return Some(named(name)),
            TableNameDecl::Computed => {
                schema.opaque.push(opaque_name(c, loc));
                return None;
            }
            TableNameDecl::Absent => {}
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
            match &p.tablename {
                TableNameDecl::Literal(name) => {
                    let ps = p.schema.clone();
                    return Some(Table::new(
                        TableName::new(ps, name.clone()),
                        Some(Location {
                            path: pf.path.clone(),
                            span: Some(p.name_span),
                        }),
                    ));
                }
                TableNameDecl::Computed => {
                    schema.opaque.push(opaque_name(c, loc));
                    return None;
                }
                TableNameDecl::Absent => cur = self.ancestry(p).mapped_parent,
            }
        }
        // A name from a mixin.
        for m in &ancestry.mixins {
            match &m.tablename {
                TableNameDecl::Literal(name) => return Some(named(name)),
                TableNameDecl::Computed => {
                    schema.opaque.push(opaque_name(c, loc));
                    return None;
                }
                TableNameDecl::Absent => {}
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

    /// `c`'s own columns, then those of its mixins and abstract bases.
    fn columns_of(&self, c: &'a Class) -> Vec<Column> {
        let mut out: Vec<Column> = c.columns.clone();
        for m in self.ancestry(c).mixins {
            for col in &m.columns {
                if !out.iter().any(|o| o.name == col.name) {
                    out.push(col.clone());
                }
            }
        }
        out
    }
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
    )
}

#[cfg(test)]
mod tests;
