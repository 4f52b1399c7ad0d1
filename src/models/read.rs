//! Reading one model file's classes and `Table(...)` objects from its tree-sitter tree.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tree_sitter::Node;

use super::objects::{ModuleIndex, RawObjects, convention_from_entries};
use super::{Class, ModelFile, TableNameDecl};
use crate::diagnostic::Location;
use crate::migration::{Value, field, kind, read_value, string_literal};
use crate::schema::objects::{Convention, column_extras};
use crate::schema::replay::{column_from_call, is_type_expr};
use crate::schema::{Column, Kind, SqlType, Table, TableName};
use crate::source::SourceFile;

/// Reads a model file. Never fails: problems are recorded in the result.
pub fn read_file(path: &Path) -> ModelFile {
    match crate::bounded::read(path, crate::bounded::DEFAULT_SOURCE_LIMIT, "a model file") {
        Ok(bytes) => read_source(path.to_path_buf(), bytes),
        Err(e) => {
            let mut out = empty(path.to_path_buf());
            out.problems.push((None, format!("cannot read: {e}")));
            out
        }
    }
}

fn empty(path: PathBuf) -> ModelFile {
    ModelFile {
        path,
        source: SourceFile::empty(),
        classes: Vec::new(),
        tables: Vec::new(),
        base_names: Vec::new(),
        problems: Vec::new(),
        table_objects: Vec::new(),
        table_vars: Vec::new(),
        module_indexes: Vec::new(),
        conventions: Vec::new(),
    }
}

/// Reads model source text as the file `path`.
pub fn read_source(path: PathBuf, bytes: Vec<u8>) -> ModelFile {
    let mut out = empty(path.clone());
    let source = Arc::new(SourceFile::from_bytes(path, bytes));
    out.source = Arc::clone(&source);
    let tree = match crate::migration::parse_python_checked(&source.text) {
        Ok(tree) => tree,
        Err(why) => {
            out.problems.push((None, why));
            return out;
        }
    };
    let r = Reader { src: &source };
    let root = tree.root_node();
    if root.has_error()
        && let Some(e) = first_error(root)
    {
        out.problems.push((
            Some(r.span_of(e)),
            "syntax error; the models read from this file may be incomplete".into(),
        ));
    }
    let mut cursor = root.walk();
    for stmt in root.named_children(&mut cursor) {
        r.module_statement(stmt, &mut out);
    }
    out.conventions = r.conventions(root);
    out
}

fn first_error(root: Node) -> Option<Node> {
    let mut stack = vec![root];
    while let Some(n) = stack.pop() {
        if n.is_error() || n.is_missing() {
            return Some(n);
        }
        if n.has_error() {
            let mut c = n.walk();
            let children: Vec<Node> = n.children(&mut c).collect();
            stack.extend(children.into_iter().rev());
        }
    }
    None
}

struct Reader<'a> {
    src: &'a SourceFile,
}

impl Reader<'_> {
    fn text(&self, n: Node) -> &str {
        self.src.text.get(n.byte_range()).unwrap_or("")
    }

    fn span_of(&self, n: Node) -> crate::diagnostic::Span {
        self.src.span(n.start_byte(), n.end_byte())
    }

    fn loc(&self, n: Node) -> Location {
        Location {
            path: self.src.path.clone(),
            span: Some(self.span_of(n)),
        }
    }

    fn value(&self, n: Node) -> Value {
        read_value(n, &self.src.text, 0)
    }

    fn module_statement(&self, stmt: Node, out: &mut ModelFile) {
        match kind(stmt) {
            "class_definition" => {
                if let Some(c) = self.class(stmt, &[]) {
                    out.classes.push(c);
                }
            }
            "decorated_definition" => {
                let decorators = self.decorators(stmt);
                if let Some(def) = field(stmt, "definition")
                    && kind(def) == "class_definition"
                    && let Some(c) = self.class(def, &decorators)
                {
                    out.classes.push(c);
                }
            }
            "expression_statement" => {
                // `Index("ix", User.email)` at module level.
                if let Some(call) = stmt.named_child(0).filter(|n| kind(*n) == "call") {
                    self.module_index(call, out);
                    return;
                }
                let Some(a) = stmt.named_child(0).filter(|a| kind(*a) == "assignment") else {
                    return;
                };
                let (Some(left), Some(right)) = (field(a, "left"), field(a, "right")) else {
                    return;
                };
                if kind(right) != "call" {
                    return;
                }
                self.module_index(right, out);
                let func = field(right, "function").map(|f| self.text(f)).unwrap_or("");
                let last = func.rsplit('.').next().unwrap_or(func);
                if matches!(last, "declarative_base" | "generate_base")
                    && kind(left) == "identifier"
                {
                    out.base_names.push(self.text(left).to_string());
                } else if last == "Table"
                    && let Some(t) = self.table_call(right)
                {
                    if kind(left) == "identifier" {
                        out.table_vars
                            .push((self.text(left).to_string(), t.name.clone()));
                    }
                    out.table_objects
                        .push((t.name.clone(), self.table_raw(right)));
                    out.tables.push(t);
                }
            }
            _ => {}
        }
    }

    /// Decorator expressions' texts, without arguments: `as_declarative`,
    /// `mapper_registry.mapped`.
    fn decorators(&self, decorated: Node) -> Vec<String> {
        let mut c = decorated.walk();
        decorated
            .named_children(&mut c)
            .filter(|d| kind(*d) == "decorator")
            .filter_map(|d| d.named_child(0))
            .map(|e| {
                let e = if kind(e) == "call" {
                    field(e, "function").unwrap_or(e)
                } else {
                    e
                };
                self.text(e).to_string()
            })
            .collect()
    }

    fn class(&self, def: Node, decorators: &[String]) -> Option<Class> {
        let name_node = field(def, "name")?;
        let last_seg = |s: &str| s.rsplit('.').next().unwrap_or(s).to_string();
        let mut bases = Vec::new();
        if let Some(list) = field(def, "superclasses") {
            let mut c = list.walk();
            for b in list.named_children(&mut c) {
                match kind(b) {
                    "identifier" | "attribute" => bases.push(last_seg(self.text(b))),
                    // `Generic[T]`, `Base[int]`
                    "subscript" => {
                        if let Some(v) = field(b, "value") {
                            bases.push(last_seg(self.text(v)));
                        }
                    }
                    _ => {}
                }
            }
        }
        let decorated_last: Vec<String> = decorators.iter().map(|d| last_seg(d)).collect();
        let mut class = Class {
            name: self.text(name_node).to_string(),
            name_span: self.span_of(name_node),
            is_base: bases
                .iter()
                .any(|b| matches!(b.as_str(), "DeclarativeBase" | "DeclarativeBaseNoMeta"))
                || decorated_last.iter().any(|d| d == "as_declarative"),
            decorated_mapped: decorated_last
                .iter()
                .any(|d| d == "mapped" || d == "mapped_as_dataclass"),
            bases,
            tablename: TableNameDecl::Absent,
            schema: None,
            abstract_: false,
            columns: Vec::new(),
            table: None,
            objects: RawObjects::known(),
        };
        let body = field(def, "body")?;
        let mut c = body.walk();
        for stmt in body.named_children(&mut c) {
            match kind(stmt) {
                "expression_statement" => {
                    if let Some(a) = stmt.named_child(0).filter(|a| kind(*a) == "assignment") {
                        self.class_assignment(stmt, a, &mut class);
                    }
                }
                "decorated_definition" => self.declared_attr(stmt, &mut class),
                _ => {}
            }
        }
        Some(class)
    }

    fn class_assignment(&self, stmt: Node, a: Node, class: &mut Class) {
        let Some(left) = field(a, "left").filter(|l| kind(*l) == "identifier") else {
            return;
        };
        let name = self.text(left);
        let right = field(a, "right");
        let annotation = field(a, "type").map(|t| self.text(t).to_string());
        match name {
            "__tablename__" => {
                class.tablename = match right.map(|r| (r, string_literal(r, self.text(r)))) {
                    Some((_, Some(s))) => TableNameDecl::Literal(s),
                    Some((r, None)) if kind(r) == "none" => TableNameDecl::Absent,
                    _ => TableNameDecl::Computed,
                };
                return;
            }
            "__abstract__" => {
                class.abstract_ = right.is_some_and(|r| kind(r) == "true");
                return;
            }
            "__table_args__" => {
                class.schema = right.and_then(|r| self.schema_of_table_args(r));
                class.objects.has_table_args = true;
                match right {
                    Some(r) => self.table_args_objects(r, &mut class.objects),
                    None => class.objects.unknown = true,
                }
                return;
            }
            "__table__" => {
                if let Some(r) = right.filter(|r| kind(*r) == "call") {
                    class.table = self.table_call(r);
                    class.objects = self.table_raw(r);
                }
                return;
            }
            n if n.starts_with("__") => return,
            _ => {}
        }
        let loc = self.loc(stmt);
        let mut extras = None;
        let column = match right {
            Some(r) if kind(r) == "call" => {
                let v = self.value(r);
                extras = column_call_args(&v).map(column_extras);
                model_column(name, &v, annotation.as_deref(), loc.clone())
            }
            Some(_) => None,
            // `x: Mapped[int]` alone is a column in SQLAlchemy 2.0.
            None => annotation
                .as_deref()
                .and_then(|a| annotation_column(name, a, loc.clone())),
        };
        if let Some(col) = column {
            let mut extras = extras.unwrap_or_else(|| column_extras(&[]));
            // `Mapped[intpk]`: an `Annotated` alias may carry `index=True` and more.
            if annotation
                .as_deref()
                .and_then(parse_mapped)
                .is_some_and(|a| a.type_.kind == Kind::Unknown && !a.relationship)
            {
                extras.unknown = true;
                extras.comment = None;
                extras.server_default = None;
            }
            class.objects.columns.push((col.name.clone(), extras, loc));
            class.columns.push(col);
        }
    }

    /// `@declared_attr def user_id(cls): return mapped_column(...)` on a mixin: a
    /// column whose name is known but whose type is not read.
    fn declared_attr(&self, decorated: Node, class: &mut Class) {
        let decorators = self.decorators(decorated);
        if !decorators
            .iter()
            .any(|d| d.rsplit('.').next() == Some("declared_attr") || d.contains("declared_attr"))
        {
            return;
        }
        let Some(def) =
            field(decorated, "definition").filter(|d| kind(*d) == "function_definition")
        else {
            return;
        };
        let Some(name) = field(def, "name").map(|n| self.text(n).to_string()) else {
            return;
        };
        let body = self.text(def);
        if name == "__tablename__" {
            class.tablename = TableNameDecl::Computed;
        } else if name == "__table_args__" {
            class.objects.has_table_args = true;
            class.objects.unknown = true;
            class.objects.comment = None;
        } else if name.starts_with("__") {
        } else if (body.contains("Column(") || body.contains("mapped_column("))
            && !body.contains("relationship(")
        {
            class.columns.push(Column {
                name,
                type_: SqlType::unknown(),
                nullable: None,
                origin: Some(self.loc(def)),
            });
            // Its index, unique flag and foreign key are not read.
            class.objects.unknown = true;
        }
    }

    /// `__table_args__`: its `Index`/`UniqueConstraint`/`ForeignKeyConstraint` items
    /// and its `comment`.
    fn table_args_objects(&self, n: Node, raw: &mut RawObjects) {
        let items: Vec<Node> = match kind(n) {
            "dictionary" => vec![n],
            "tuple" | "list" | "parenthesized_expression" => {
                let mut c = n.walk();
                n.named_children(&mut c)
                    .filter(|x| kind(*x) != "comment")
                    .collect()
            }
            _ => {
                raw.unknown = true;
                raw.comment = None;
                return;
            }
        };
        for item in items {
            match kind(item) {
                "dictionary" => raw.comment = self.dict_comment(item),
                "call" => raw.items.push((self.value(item), self.loc(item))),
                _ => raw.unknown = true,
            }
        }
    }

    /// The `"comment"` of a `__table_args__` dict (unknown when not a literal).
    fn dict_comment(&self, dict: Node) -> Option<Option<String>> {
        let mut c = dict.walk();
        for pair in dict.named_children(&mut c) {
            if kind(pair) != "pair" {
                // `**other`: anything may be in it.
                return None;
            }
            let key = field(pair, "key").and_then(|k| string_literal(k, self.text(k)));
            if key.as_deref() == Some("comment") {
                let v = field(pair, "value")?;
                return crate::schema::objects::comment_of(&self.value(v));
            }
        }
        Some(None)
    }

    /// What a `Table(...)` call declares besides its columns' types.
    fn table_raw(&self, call: Node) -> RawObjects {
        let mut raw = RawObjects::known();
        let Some(args) = field(call, "arguments") else {
            return raw;
        };
        let mut c = args.walk();
        for a in args.named_children(&mut c) {
            match kind(a) {
                "keyword_argument" if field(a, "name").map(|k| self.text(k)) == Some("comment") => {
                    raw.comment = field(a, "value")
                        .and_then(|v| crate::schema::objects::comment_of(&self.value(v)));
                }
                "call" => {
                    let v = self.value(a);
                    if let Value::Call { func, args } = &v
                        && func.rsplit('.').next() == Some("Column")
                    {
                        let name = args
                            .iter()
                            .find(|(k, _)| k.is_none())
                            .and_then(|(_, v)| v.as_str());
                        if let Some(name) = name {
                            raw.columns
                                .push((name.to_string(), column_extras(args), self.loc(a)));
                        }
                    } else {
                        raw.items.push((v, self.loc(a)));
                    }
                }
                "list_splat" | "dictionary_splat" => raw.unknown = true,
                _ => {}
            }
        }
        raw
    }

    /// A module-level `Index(...)` call.
    fn module_index(&self, call: Node, out: &mut ModelFile) {
        let func = field(call, "function").map(|f| self.text(f)).unwrap_or("");
        if func.rsplit('.').next() == Some("Index") {
            out.module_indexes.push(ModuleIndex {
                call: self.value(call),
                location: self.loc(call),
            });
        }
    }

    /// Every `MetaData(naming_convention=...)` in the file: a dict literal or a
    /// module-level name bound to one.
    fn conventions(&self, root: Node) -> Vec<Option<Convention>> {
        let mut out = Vec::new();
        let mut stack = vec![root];
        while let Some(n) = stack.pop() {
            if kind(n) == "call"
                && let Some(f) = field(n, "function")
                && self.text(f).rsplit('.').next() == Some("MetaData")
                && let Some(args) = field(n, "arguments")
            {
                let mut c = args.walk();
                for a in args.named_children(&mut c) {
                    if kind(a) == "keyword_argument"
                        && field(a, "name").map(|k| self.text(k)) == Some("naming_convention")
                    {
                        out.push(field(a, "value").and_then(|v| self.convention(root, v)));
                    }
                }
            }
            let mut c = n.walk();
            stack.extend(n.named_children(&mut c));
        }
        out
    }

    fn convention(&self, root: Node, v: Node) -> Option<Convention> {
        let dict = match kind(v) {
            "dictionary" => v,
            "identifier" => {
                let name = self.text(v);
                let mut c = root.walk();
                root.named_children(&mut c)
                    .filter(|s| kind(*s) == "expression_statement")
                    .filter_map(|s| s.named_child(0))
                    .filter(|a| kind(*a) == "assignment")
                    .filter(|a| field(*a, "left").map(|l| self.text(l)) == Some(name))
                    .filter_map(|a| field(a, "right"))
                    .filter(|r| kind(*r) == "dictionary")
                    .last()?
            }
            _ => return None,
        };
        let mut entries = Vec::new();
        let mut c = dict.walk();
        for pair in dict.named_children(&mut c) {
            if kind(pair) != "pair" {
                return None;
            }
            let k = field(pair, "key")?;
            let key = string_literal(k, self.text(k)).unwrap_or_else(|| self.text(k).to_string());
            let value = field(pair, "value").and_then(|x| string_literal(x, self.text(x)));
            entries.push((key, value));
        }
        convention_from_entries(&entries)
    }

    /// `{"schema": "x"}` or `(..., {"schema": "x"})`.
    fn schema_of_table_args(&self, n: Node) -> Option<String> {
        let dict = match kind(n) {
            "dictionary" => Some(n),
            "tuple" | "parenthesized_expression" => {
                let mut c = n.walk();
                n.named_children(&mut c)
                    .filter(|x| kind(*x) == "dictionary")
                    .last()
            }
            _ => None,
        }?;
        let mut c = dict.walk();
        for pair in dict.named_children(&mut c).filter(|p| kind(*p) == "pair") {
            let key = field(pair, "key").and_then(|k| string_literal(k, self.text(k)));
            if key.as_deref() == Some("schema") {
                let v = field(pair, "value")?;
                return string_literal(v, self.text(v));
            }
        }
        None
    }

    /// `Table("name", metadata, Column(...), ..., schema="s")`.
    fn table_call(&self, call: Node) -> Option<Table> {
        let args = field(call, "arguments")?;
        let mut c = args.walk();
        let mut name = None;
        let mut schema = None;
        let mut columns = Vec::new();
        for a in args.named_children(&mut c) {
            match kind(a) {
                "keyword_argument" => {
                    let k = field(a, "name").map(|k| self.text(k));
                    if k == Some("schema") {
                        schema = field(a, "value").and_then(|v| string_literal(v, self.text(v)));
                    }
                }
                "comment" => {}
                _ if name.is_none() => name = Some(string_literal(a, self.text(a))?),
                _ => {
                    let v = self.value(a);
                    if let Some(col) =
                        column_from_call(&v, self.loc(a), |v| v.as_str().map(str::to_string))
                    {
                        columns.push(col);
                    }
                }
            }
        }
        let mut t = Table::new(TableName::new(schema, name?), Some(self.loc(call)));
        t.columns = columns;
        Some(t)
    }
}

/// `Column(...)`, `mapped_column(...)` or `deferred(Column(...))` assigned to
/// attribute `attr`, with its `Mapped[...]` annotation if any.
fn model_column(
    attr: &str,
    v: &Value,
    annotation: Option<&str>,
    origin: Location,
) -> Option<Column> {
    let Value::Call { func, args } = v else {
        return None;
    };
    let last = func.rsplit('.').next().unwrap_or(func);
    match last {
        "Column" | "mapped_column" => {}
        "deferred" | "column_property" => {
            // `deferred(Column(...))`
            let inner = args.iter().find(|(k, _)| k.is_none()).map(|(_, v)| v)?;
            return model_column(attr, inner, annotation, origin);
        }
        _ => return None,
    }
    let kw = |k: &str| {
        args.iter()
            .find(|(n, _)| n.as_deref() == Some(k))
            .map(|(_, v)| v)
    };
    let mut positional = args
        .iter()
        .filter(|(k, _)| k.is_none())
        .map(|(_, v)| v)
        .peekable();
    let name = match positional.peek() {
        Some(Value::Str(s)) => {
            let s = s.clone();
            positional.next();
            s
        }
        _ => kw("name")
            .and_then(|v| v.as_str())
            .unwrap_or(attr)
            .to_string(),
    };
    let ann = annotation.and_then(parse_mapped);
    let type_ = kw("type_")
        .or_else(|| positional.find(|v| is_type_expr(v)))
        .map(SqlType::from_sqlalchemy)
        .or_else(|| ann.as_ref().map(|a| a.type_.clone()))
        .unwrap_or_else(SqlType::unknown);
    let primary = kw("primary_key").and_then(Value::as_bool) == Some(true);
    let nullable = match kw("nullable") {
        Some(v) => v.as_bool(),
        None if primary => Some(false),
        None => match &ann {
            Some(a) => Some(a.optional),
            None => Some(true),
        },
    };
    Some(Column {
        name,
        type_,
        nullable,
        origin: Some(origin),
    })
}

/// The arguments of a column call: `Column(...)`, `mapped_column(...)`, or the one
/// inside `deferred(...)` / `column_property(...)`.
fn column_call_args(v: &Value) -> Option<&[(Option<String>, Value)]> {
    let Value::Call { func, args } = v else {
        return None;
    };
    match func.rsplit('.').next().unwrap_or(func) {
        "Column" | "mapped_column" => Some(args),
        "deferred" | "column_property" => {
            column_call_args(args.iter().find(|(k, _)| k.is_none()).map(|(_, v)| v)?)
        }
        _ => None,
    }
}

/// `x: Mapped[int]` with no value.
fn annotation_column(attr: &str, annotation: &str, origin: Location) -> Option<Column> {
    let a = parse_mapped(annotation)?;
    if a.relationship {
        return None;
    }
    Some(Column {
        name: attr.to_string(),
        type_: a.type_,
        nullable: Some(a.optional),
        origin: Some(origin),
    })
}

struct MappedAnnotation {
    type_: SqlType,
    optional: bool,
    /// `Mapped[list["Child"]]`, `Mapped["Parent"]`: a relationship, not a column.
    relationship: bool,
}

/// Reads `Mapped[...]` (any module prefix): the Python type, whether it admits
/// `None`, and whether it looks like a relationship.
fn parse_mapped(annotation: &str) -> Option<MappedAnnotation> {
    let a: String = annotation.split_whitespace().collect();
    let a = a.trim_matches(|c| c == '"' || c == '\'');
    let open = a.find('[')?;
    let head = &a[..open];
    if head.rsplit('.').next() != Some("Mapped") || !a.ends_with(']') {
        return None;
    }
    let mut inner = &a[open + 1..a.len() - 1];
    let mut optional = false;
    loop {
        let stripped = inner.trim_matches(|c| c == '"' || c == '\'');
        if let Some(x) = strip_generic(stripped, "Optional") {
            optional = true;
            inner = x;
        } else if let Some(parts) = strip_generic(stripped, "Union").map(split_top).or_else(|| {
            stripped
                .contains('|')
                .then(|| stripped.split('|').collect())
        }) {
            // `Union[X, None]`, `X | None`: one type besides `None`, else unknown.
            let rest: Vec<&str> = parts.iter().copied().filter(|p| *p != "None").collect();
            optional |= rest.len() < parts.len();
            if rest.len() != 1 {
                return Some(MappedAnnotation {
                    type_: SqlType::unknown(),
                    optional,
                    relationship: false,
                });
            }
            inner = rest[0];
        } else {
            inner = stripped;
            break;
        }
    }
    let base = inner.split('[').next().unwrap_or(inner);
    let relationship = matches!(
        base.rsplit('.').next().unwrap_or(base),
        "list"
            | "List"
            | "set"
            | "Set"
            | "Sequence"
            | "Collection"
            | "WriteOnlyMapped"
            | "DynamicMapped"
    ) || annotation.contains("[\"")
        || annotation.contains("['");
    let kind = match base {
        "int" => Kind::Integer,
        "str" => Kind::String(None),
        "bool" => Kind::Boolean,
        "float" => Kind::Float,
        "Decimal" | "decimal.Decimal" => Kind::Numeric(None),
        "datetime" | "datetime.datetime" => Kind::DateTime(Some(false)),
        "date" | "datetime.date" => Kind::Date,
        "time" | "datetime.time" => Kind::Time,
        "bytes" => Kind::Binary,
        "UUID" | "uuid.UUID" => Kind::Uuid,
        _ => Kind::Unknown,
    };
    Some(MappedAnnotation {
        type_: SqlType {
            kind,
            text: inner.to_string(),
        },
        optional,
        relationship,
    })
}

fn strip_generic<'a>(s: &'a str, name: &str) -> Option<&'a str> {
    let rest = s
        .strip_prefix(name)
        .or_else(|| s.strip_prefix(&format!("typing.{name}")[..]))?;
    rest.strip_prefix('[')?.strip_suffix(']')
}

/// Splits on top-level commas.
fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, ch) in s.char_indices() {
        match ch {
            '[' | '(' => depth += 1,
            ']' | ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(s[start..].trim());
    out
}

/// `(kind, optional, relationship)` of an annotation, for unit tests.
#[cfg(test)]
pub(super) fn parse_mapped_for_test(annotation: &str) -> Option<(Kind, bool, bool)> {
    parse_mapped(annotation).map(|a| (a.type_.kind, a.optional, a.relationship))
}
