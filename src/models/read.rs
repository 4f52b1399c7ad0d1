//! Reading one model file's classes and `Table(...)` objects from its tree-sitter tree.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tree_sitter::Node;

use super::names::{self, Module};
use super::objects::{ModuleIndex, RawObjects, convention_from_entries};
use super::{Alias, Class, Hint, ModelFile, TableNameDecl, TypeMap};
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
        aliases: Vec::new(),
        registries: Vec::new(),
        table_fks: Vec::new(),
        suppressions: Vec::new(),
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
    let root = tree.root_node();
    let module = Module::of(root, &source.text);
    let r = Reader {
        src: &source,
        module: &module,
    };
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
    out.suppressions = suppressions(root, &source.text);
    out
}

/// `# migverify: ignore[...]` comments: `(line, file_level, rules)`.
fn suppressions(root: Node, text: &str) -> Vec<(usize, bool, Vec<String>)> {
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(n) = stack.pop() {
        if kind(n) == "comment" {
            let t = text.get(n.byte_range()).unwrap_or("");
            if let Some(d) = crate::suppression::parse_directive(t) {
                let rules = d.rules.into_iter().map(|(r, _, _)| r).collect();
                out.push((n.start_position().row + 1, d.file_level, rules));
            }
            continue;
        }
        let mut c = n.walk();
        stack.extend(n.children(&mut c));
    }
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
    module: &'a Module<'a>,
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
                if kind(right) == "subscript" && kind(left) == "identifier" {
                    if let Some(alias) = self.annotated_alias(self.text(left), right) {
                        out.aliases.push(alias);
                    }
                    return;
                }
                if kind(right) != "call" {
                    return;
                }
                self.module_index(right, out);
                let func = field(right, "function").map(|f| self.text(f)).unwrap_or("");
                let last = func.rsplit('.').next().unwrap_or(func);
                if matches!(last, "declarative_base" | "generate_base" | "registry")
                    && kind(left) == "identifier"
                {
                    let name = self.text(left).to_string();
                    if let Some(map) = self.type_map_kwarg(right) {
                        out.registries.push((name.clone(), map));
                    }
                    if last != "registry" {
                        out.base_names.push(name);
                    }
                } else if last == "Table"
                    && let Some((t, fks)) = self.table_call(right)
                {
                    out.table_fks.extend(
                        fks.into_iter()
                            .map(|(c, target)| (t.name.clone(), c, target)),
                    );
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
        let mut keywords = Vec::new();
        if let Some(list) = field(def, "superclasses") {
            let mut c = list.walk();
            for b in list.named_children(&mut c) {
                match kind(b) {
                    // Flask-SQLAlchemy's `db.Model`: kept whole, a declarative base.
                    "attribute" if is_flask_model(self.text(b)) => {
                        bases.push(FLASK_MODEL.to_string())
                    }
                    "identifier" | "attribute" => bases.push(last_seg(self.text(b))),
                    // `Generic[T]`, `Base[int]`
                    "subscript" => {
                        if let Some(v) = field(b, "value") {
                            bases.push(last_seg(self.text(v)));
                        }
                    }
                    // `class Hero(SQLModel, table=True)`
                    "keyword_argument" => {
                        if let (Some(k), Some(v)) = (field(b, "name"), field(b, "value")) {
                            keywords.push((self.text(k).to_string(), self.text(v).to_string()));
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
            keywords,
            tablename: TableNameDecl::Absent,
            schema: None,
            abstract_: false,
            columns: Vec::new(),
            hints: Vec::new(),
            fields: Vec::new(),
            table: None,
            table_fks: Vec::new(),
            bind_key: None,
            type_map: None,
            registry: None,
            lines: (def.start_position().row + 1, def.end_position().row + 1),
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
                    if let Some((t, fks)) = self.table_call(r) {
                        class.table = Some(t);
                        class.table_fks = fks;
                    }
                    class.objects = self.table_raw(r);
                }
                return;
            }
            "__bind_key__" => {
                class.bind_key = right.map(|r| string_literal(r, self.text(r)));
                return;
            }
            // `type_annotation_map = {int: BigInteger}` on a declarative base.
            "type_annotation_map" => {
                class.type_map = right.map(|r| self.type_map(r));
                return;
            }
            // `registry = mapper_registry` on a declarative base.
            "registry" => {
                class.registry = right
                    .filter(|r| kind(*r) == "identifier")
                    .map(|r| self.text(r).to_string());
                return;
            }
            n if n.starts_with("__") => return,
            _ => {}
        }
        let loc = self.loc(stmt);
        let mapped = annotation.as_deref().and_then(parse_mapped);
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
            if mapped
                .as_ref()
                .is_some_and(|a| a.type_.kind == Kind::Unknown && !a.relationship)
            {
                extras.unknown = true;
                extras.comment = None;
                extras.server_default = None;
            }
            class
                .objects
                .columns
                .push((col.0.name.clone(), extras, loc));
            class.columns.push(col.0);
            class.hints.push(col.1);
        } else if mapped.is_none()
            && let Some(a) = annotation.as_deref()
            && let Some(field) = {
                let value = right.map(|r| self.value(r));
                let extras = field_extras(value.as_ref());
                sqlmodel_field(name, a, value, loc.clone()).map(|f| (f, extras))
            }
        {
            // A pydantic-style field: a column only if the class is a SQLModel table.
            let (field, extras) = field;
            class
                .objects
                .columns
                .push((field.0.name.clone(), extras, loc));
            class.fields.push(field);
        }
    }

    /// `{int: BigInteger, str: String(255), datetime.datetime: DateTime(timezone=True)}`.
    fn type_map(&self, n: Node) -> TypeMap {
        let mut out = Vec::new();
        if kind(n) != "dictionary" {
            return out;
        }
        let mut c = n.walk();
        for pair in n.named_children(&mut c).filter(|p| kind(*p) == "pair") {
            let (Some(k), Some(v)) = (field(pair, "key"), field(pair, "value")) else {
                continue;
            };
            let key: String = self.text(k).split_whitespace().collect();
            out.push((key, SqlType::from_sqlalchemy(&self.value(v))));
        }
        out
    }

    /// `registry(type_annotation_map={...})`, `declarative_base(type_annotation_map=...)`.
    fn type_map_kwarg(&self, call: Node) -> Option<TypeMap> {
        let args = field(call, "arguments")?;
        let mut c = args.walk();
        let kw = args.named_children(&mut c).find(|a| {
            kind(*a) == "keyword_argument"
                && field(*a, "name").map(|k| self.text(k)) == Some("type_annotation_map")
        })?;
        Some(self.type_map(field(kw, "value")?))
    }

    /// `str50 = Annotated[str, mapped_column(String(50))]`.
    fn annotated_alias(&self, name: &str, sub: Node) -> Option<Alias> {
        let head = field(sub, "value").map(|v| self.text(v))?;
        if head.rsplit('.').next() != Some("Annotated") {
            return None;
        }
        let mut c = sub.walk();
        let items: Vec<Node> = sub.children_by_field_name("subscript", &mut c).collect();
        let pytype: String = self.text(*items.first()?).split_whitespace().collect();
        let mut alias = Alias {
            name: name.to_string(),
            pytype,
            type_: None,
            nullable: None,
            primary: false,
            fk: None,
        };
        for item in &items[1..] {
            let v = self.value(*item);
            let Value::Call { func, args } = &v else {
                continue;
            };
            if func.rsplit('.').next() != Some("mapped_column") {
                continue;
            }
            let kw = |k: &str| {
                args.iter()
                    .find(|(n, _)| n.as_deref() == Some(k))
                    .map(|(_, v)| v)
            };
            alias.type_ = kw("type_")
                .or_else(|| {
                    args.iter()
                        .filter(|(k, _)| k.is_none())
                        .map(|(_, v)| v)
                        .find(|v| !matches!(v, Value::Str(_)) && is_type_expr(v))
                })
                .map(SqlType::from_sqlalchemy);
            alias.nullable = kw("nullable").and_then(Value::as_bool);
            alias.primary = kw("primary_key").and_then(Value::as_bool) == Some(true);
            alias.fk = foreign_key(args);
        }
        Some(alias)
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
        if name == "__tablename__" {
            class.tablename = match names::tablename_function(def, &self.src.text, self.module) {
                Some((expr, unless_inherited)) => TableNameDecl::Derived {
                    expr,
                    unless_inherited,
                },
                None => TableNameDecl::Computed,
            };
            return;
        }
        if name == "__table_args__" {
            class.objects.has_table_args = true;
            class.objects.unknown = true;
            class.objects.comment = None;
            return;
        }
        if name.starts_with("__") {
            return;
        }
        let body_text = self.text(def);
        if !(body_text.contains("Column(") || body_text.contains("mapped_column("))
            || body_text.contains("relationship(")
        {
            return;
        }
        let annotation = field(def, "return_type").map(|t| self.text(t).to_string());
        // `return mapped_column(...)` as the body's one statement: read like an attribute.
        let body = field(def, "body");
        let returned = body.and_then(|b| {
            let mut c = b.walk();
            let stmts: Vec<Node> = b
                .named_children(&mut c)
                .filter(|s| kind(*s) != "comment")
                .filter(|s| {
                    !(kind(*s) == "expression_statement"
                        && s.named_child(0).is_some_and(|x| kind(x) == "string"))
                })
                .collect();
            match stmts.as_slice() {
                [r] if kind(*r) == "return_statement" => r.named_child(0),
                _ => None,
            }
        });
        let read = returned.filter(|r| kind(*r) == "call").and_then(|r| {
            let v = self.value(r);
            let extras = column_call_args(&v).map(column_extras);
            model_column(&name, &v, annotation.as_deref(), self.loc(def)).map(|c| (c, extras))
        });
        match read {
            Some(((col, hint), extras)) => {
                let mut extras = extras.unwrap_or_else(|| column_extras(&[]));
                if annotation
                    .as_deref()
                    .and_then(parse_mapped)
                    .is_some_and(|a| a.type_.kind == Kind::Unknown && !a.relationship)
                {
                    extras.unknown = true;
                    extras.comment = None;
                    extras.server_default = None;
                }
                class
                    .objects
                    .columns
                    .push((col.name.clone(), extras, self.loc(def)));
                class.columns.push(col);
                class.hints.push(hint);
            }
            None => {
                class.columns.push(Column {
                    name: name.clone(),
                    type_: SqlType::unknown(),
                    nullable: None,
                    origin: Some(self.loc(def)),
                });
                class.hints.push(Hint {
                    column: name,
                    ..Hint::default()
                });
                // Its index, unique flag and foreign key are not read.
                class.objects.unknown = true;
            }
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

    /// `Table("name", metadata, Column(...), ..., schema="s")` (Flask-SQLAlchemy's
    /// `db.Table` may leave out the metadata), with the `(column, target)` of its
    /// columns that take their type from a `ForeignKey`. `None` for a table of
    /// another Flask-SQLAlchemy bind (`bind_key="other"`).
    #[allow(clippy::type_complexity)]
    fn table_call(&self, call: Node) -> Option<(Table, Vec<(String, String)>)> {
        let args = field(call, "arguments")?;
        let mut c = args.walk();
        let mut name = None;
        let mut schema = None;
        let mut columns = Vec::new();
        let mut fks = Vec::new();
        for a in args.named_children(&mut c) {
            match kind(a) {
                "keyword_argument" => {
                    let k = field(a, "name").map(|k| self.text(k));
                    let v = field(a, "value");
                    match k {
                        Some("schema") => {
                            schema = v.and_then(|v| string_literal(v, self.text(v)));
                        }
                        // Another bind's table is not the project's.
                        Some("bind_key") if v.is_some_and(|v| kind(v) != "none") => return None,
                        _ => {}
                    }
                }
                "comment" => {}
                _ if name.is_none() => name = Some(string_literal(a, self.text(a))?),
                _ => {
                    let v = self.value(a);
                    if let Some(col) =
                        column_from_call(&v, self.loc(a), |v| v.as_str().map(str::to_string))
                    {
                        if let Value::Call { args, .. } = &v
                            && col.type_.kind == Kind::Unknown
                            && !args.iter().skip(1).any(|(k, v)| {
                                k.as_deref() == Some("type_") || (k.is_none() && is_type_expr(v))
                            })
                            && let Some(target) = foreign_key(args)
                        {
                            fks.push((col.name.clone(), target));
                        }
                        columns.push(col);
                    }
                }
            }
        }
        let mut t = Table::new(TableName::new(schema, name?), Some(self.loc(call)));
        t.columns = columns;
        Some((t, fks))
    }
}

/// Flask-SQLAlchemy's model base as kept in [`Class::bases`].
pub(super) const FLASK_MODEL: &str = "db.Model";

/// `db.Model` (any name bound to `SQLAlchemy()`), not `sa.orm.Model`-like paths.
fn is_flask_model(base: &str) -> bool {
    let mut parts = base.rsplitn(2, '.');
    parts.next() == Some("Model")
        && parts
            .next()
            // Django's `models.Model` is not a SQLAlchemy model.
            .is_some_and(|p| {
                !matches!(p, "sa" | "sqlalchemy" | "orm" | "sqlalchemy.orm" | "models")
            })
}

/// The target of a `ForeignKey("users.id")` among a column's arguments.
fn foreign_key(args: &[(Option<String>, Value)]) -> Option<String> {
    args.iter().find_map(|(k, v)| match (k, v) {
        (None, Value::Call { func, args }) if func.rsplit('.').next() == Some("ForeignKey") => args
            .iter()
            .find(|(k, _)| k.is_none() || k.as_deref() == Some("column"))
            .and_then(|(_, v)| v.as_str())
            .map(str::to_string),
        _ => None,
    })
}

/// `Column(...)`, `mapped_column(...)` or `deferred(Column(...))` assigned to
/// attribute `attr`, with its `Mapped[...]` annotation if any; and what is needed to
/// finish its type and nullability once every model file is read.
fn model_column(
    attr: &str,
    v: &Value,
    annotation: Option<&str>,
    origin: Location,
) -> Option<(Column, Hint)> {
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
    let explicit = kw("type_")
        .or_else(|| positional.find(|v| is_type_expr(v)))
        .map(SqlType::from_sqlalchemy);
    let primary = kw("primary_key").and_then(Value::as_bool) == Some(true);
    let explicit_nullable = kw("nullable").is_some();
    let fk = if explicit.is_none() {
        foreign_key(args)
    } else {
        None
    };
    let type_ = explicit
        .clone()
        .or_else(|| ann.as_ref().map(|a| a.type_.clone()))
        .unwrap_or_else(SqlType::unknown);
    let nullable = match kw("nullable") {
        Some(v) => v.as_bool(),
        None if primary => Some(false),
        None => match &ann {
            Some(a) => Some(a.optional),
            None => Some(true),
        },
    };
    let hint = Hint {
        column: name.clone(),
        pytype: match (&explicit, &ann) {
            (None, Some(a)) => Some(a.type_.text.clone()),
            _ => None,
        },
        optional: ann.as_ref().is_some_and(|a| a.optional),
        explicit_nullable,
        primary,
        fk,
    };
    Some((
        Column {
            name,
            type_,
            nullable,
            origin: Some(origin),
        },
        hint,
    ))
}

/// The extras of a SQLModel field: `Field(index=True, unique=True,
/// foreign_key="t.c", ondelete=...)`, or those of its `sa_column=Column(...)`.
fn field_extras(value: Option<&Value>) -> crate::schema::objects::ColumnExtras {
    let args: &[(Option<String>, Value)] = match value {
        Some(Value::Call { func, args }) if func.rsplit('.').next() == Some("Field") => args,
        _ => return column_extras(&[]),
    };
    let kw = |k: &str| {
        args.iter()
            .find(|(n, _)| n.as_deref() == Some(k))
            .map(|(_, v)| v)
    };
    if let Some(col) = kw("sa_column") {
        return match column_call_args(col) {
            Some(a) => column_extras(a),
            None => {
                let mut e = column_extras(&[]);
                e.unknown = true;
                e.comment = None;
                e.server_default = None;
                e
            }
        };
    }
    let mut synth: Vec<(Option<String>, Value)> = Vec::new();
    for k in ["index", "unique", "primary_key"] {
        if let Some(v) = kw(k) {
            synth.push((Some(k.to_string()), v.clone()));
        }
    }
    if let Some(target) = kw("foreign_key") {
        let mut fk_args = vec![(None, target.clone())];
        if let Some(od) = kw("ondelete") {
            fk_args.push((Some("ondelete".to_string()), od.clone()));
        }
        synth.push((
            None,
            Value::Call {
                func: "ForeignKey".to_string(),
                args: fk_args,
            },
        ));
    }
    let mut e = column_extras(&synth);
    if kw("sa_column_kwargs").is_some() || kw("sa_column_args").is_some() {
        e.unknown = true;
        e.comment = None;
        e.server_default = None;
    }
    e
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
fn annotation_column(attr: &str, annotation: &str, origin: Location) -> Option<(Column, Hint)> {
    let a = parse_mapped(annotation)?;
    if a.relationship {
        return None;
    }
    let hint = Hint {
        column: attr.to_string(),
        pytype: Some(a.type_.text.clone()),
        optional: a.optional,
        ..Hint::default()
    };
    Some((
        Column {
            name: attr.to_string(),
            type_: a.type_,
            nullable: Some(a.optional),
            origin: Some(origin),
        },
        hint,
    ))
}

/// A SQLModel field: `name: str`, `age: int | None = None`,
/// `id: int | None = Field(default=None, primary_key=True)`,
/// `x: dict = Field(sa_column=Column(JSON))`. Types as SQLModel's
/// `get_sqlalchemy_type` gives them; nullability from `Optional` unless a primary key
/// or `nullable=`.
fn sqlmodel_field(
    attr: &str,
    annotation: &str,
    value: Option<Value>,
    origin: Location,
) -> Option<(Column, Hint)> {
    if attr.starts_with('_') || attr == "model_config" {
        return None;
    }
    let compact: String = annotation.split_whitespace().collect();
    if compact.starts_with("ClassVar") || compact.starts_with("typing.ClassVar") {
        return None;
    }
    let a = parse_mapped(&format!("Mapped[{compact}]"))?;
    if a.relationship {
        return None;
    }
    let args: Vec<(Option<String>, Value)> = match value {
        Some(Value::Call { func, args }) => match func.rsplit('.').next() {
            Some("Field") => args,
            Some("Relationship") => return None,
            // `= Column(...)` on a SQLModel is not how fields are declared.
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    let kw = |k: &str| {
        args.iter()
            .find(|(n, _)| n.as_deref() == Some(k))
            .map(|(_, v)| v)
    };
    if let Some(col) = kw("sa_column") {
        // The column as given (its name, else the attribute's).
        return model_column(attr, col, None, origin);
    }
    let primary = kw("primary_key").and_then(Value::as_bool) == Some(true);
    let int_kw = |k: &str| match kw(k) {
        Some(Value::Int(i)) => u32::try_from(*i).ok(),
        _ => None,
    };
    let base = a.type_.text.rsplit('.').next().unwrap_or(&a.type_.text);
    let type_ = if let Some(t) = kw("sa_type") {
        SqlType::from_sqlalchemy(t)
    } else {
        let kind = match base {
            "str" | "EmailStr" | "Path" | "IPv4Address" | "IPv6Address" | "IPv4Network"
            | "IPv6Network" => Kind::String(int_kw("max_length")),
            "Decimal" => Kind::Numeric(int_kw("max_digits").map(|p| (p, int_kw("decimal_places")))),
            // `datetime` is SQLModel's own time-zone-aware decorator: not compared.
            "datetime" => Kind::Unknown,
            _ => a.type_.kind.clone(),
        };
        SqlType {
            kind,
            text: a.type_.text.clone(),
        }
    };
    let nullable = match kw("nullable").and_then(Value::as_bool) {
        Some(n) => n,
        None => !primary && a.optional,
    };
    let hint = Hint {
        column: attr.to_string(),
        pytype: None,
        optional: a.optional,
        explicit_nullable: true,
        primary,
        fk: None,
    };
    Some((
        Column {
            name: attr.to_string(),
            type_,
            nullable: Some(nullable),
            origin: Some(origin),
        },
        hint,
    ))
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
    let kind = python_type_kind(base);
    Some(MappedAnnotation {
        type_: SqlType {
            kind,
            text: inner.to_string(),
        },
        optional,
        relationship,
    })
}

/// SQLAlchemy's default type for a Python type in `Mapped[...]`.
pub(super) fn python_type_kind(base: &str) -> Kind {
    match base {
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
    }
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
