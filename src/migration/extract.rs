//! Extraction of a [`Migration`] from a tree-sitter-python parse.
//!
//! One parser per thread is reused across files; the whole tree is walked once,
//! iteratively (a 5,000-deep expression cannot overflow the stack), collecting
//! comments, syntax errors and `op.*` calls; module-level statements are read
//! directly from the root's children.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use std::sync::OnceLock;

use tree_sitter::{Language, Node, Parser, Tree};

use super::value::Value;
use super::{
    Arg, Binding, BodyKind, Bound, Computed, Expr, Function, IdField, Migration, ModuleScope,
    OpCall, Phase, Problem, RevisionList, Spanned,
};
use crate::source::SourceFile;
use crate::suppression::{Suppression, Suppressions, parse_directive};

/// Characters Alembic refuses in a revision id (`Revision.verify_rev_id`).
const ILLEGAL_REVISION_CHARS: &[char] = &['@', '-', '+', ':'];

/// Nesting depth past which argument values are kept as source text.
const MAX_VALUE_DEPTH: usize = 24;

/// What the hot paths need from the grammar, looked up once: `Node::kind` measures
/// and UTF-8-checks a C string on every call, and `Node::child_by_field_name`
/// searches the field table by name.
struct Grammar {
    /// Node kind names by kind id.
    kinds: Vec<&'static str>,
    comment: u16,
    call: u16,
    with_statement: u16,
    fields: [(&'static str, u16); 11],
}

static GRAMMAR: OnceLock<Grammar> = OnceLock::new();

fn grammar() -> &'static Grammar {
    GRAMMAR.get_or_init(|| {
        let lang: Language = tree_sitter_python::LANGUAGE.into();
        let kinds = (0..lang.node_kind_count())
            .map(|id| {
                let name = lang.node_kind_for_id(id as u16).unwrap_or("");
                &*Box::leak(name.to_string().into_boxed_str())
            })
            .collect();
        let field = |name: &'static str| {
            let id = lang
                .field_id_for_name(name)
                .expect("tree-sitter-python has the field");
            (name, id.get())
        };
        Grammar {
            kinds,
            comment: lang.id_for_node_kind("comment", true),
            call: lang.id_for_node_kind("call", true),
            with_statement: lang.id_for_node_kind("with_statement", true),
            fields: [
                field("function"),
                field("arguments"),
                field("object"),
                field("attribute"),
                field("name"),
                field("value"),
                field("argument"),
                field("left"),
                field("right"),
                field("body"),
                field("definition"),
            ],
        }
    })
}

/// `node.kind()`, without the per-call C string conversion.
pub(crate) fn kind(node: Node) -> &'static str {
    let id = node.kind_id();
    match grammar().kinds.get(usize::from(id)) {
        Some(name) => name,
        // tree-sitter's built-in error symbols sit outside the kind table.
        None if id == u16::MAX => "ERROR",
        None => "_ERROR",
    }
}

/// `node.child_by_field_name(name)`, with the field id looked up once.
pub(crate) fn field<'t>(node: Node<'t>, name: &'static str) -> Option<Node<'t>> {
    match grammar().fields.iter().find(|(n, _)| *n == name) {
        Some(&(_, id)) => node.child_by_field_id(id),
        None => node.child_by_field_name(name),
    }
}

/// Whether a subtree may hold something [`Extractor::walk`] looks for: a syntax
/// error, a comment (needs a `#`) or a call (needs a `(` after its function, so
/// never at the start of the subtree: `(length=120)` holds no call).
fn worth_descending(node: Node, text: &str) -> bool {
    node.has_error()
        || text.get(node.byte_range()).is_none_or(|t| {
            let t = t.strip_prefix('(').unwrap_or(t);
            t.bytes().any(|b| b == b'(' || b == b'#')
        })
}

/// Makes tree-sitter's C library allocate with mimalloc (the binary's global
/// allocator) instead of the C library's `malloc`: a parse makes many small
/// allocations, and glibc's malloc took about a tenth of a cold run.
///
/// # Safety
///
/// Call before any other tree-sitter call in the process (first thing in
/// `main`), and only once: memory from one allocator must not be freed by another.
pub unsafe fn use_mimalloc_for_parsing() {
    unsafe extern "C" fn malloc(size: usize) -> *mut std::ffi::c_void {
        let p = unsafe { libmimalloc_sys::mi_malloc(size) };
        if p.is_null() && size != 0 {
            std::process::abort();
        }
        p
    }
    unsafe extern "C" fn calloc(n: usize, size: usize) -> *mut std::ffi::c_void {
        let Some(total) = n.checked_mul(size) else {
            std::process::abort();
        };
        let p = unsafe { libmimalloc_sys::mi_zalloc(total) };
        if p.is_null() && total != 0 {
            std::process::abort();
        }
        p
    }
    unsafe extern "C" fn realloc(ptr: *mut std::ffi::c_void, size: usize) -> *mut std::ffi::c_void {
        let p = unsafe { libmimalloc_sys::mi_realloc(ptr, size) };
        if p.is_null() && size != 0 {
            std::process::abort();
        }
        p
    }
    unsafe extern "C" fn free(ptr: *mut std::ffi::c_void) {
        unsafe { libmimalloc_sys::mi_free(ptr) }
    }
    unsafe {
        tree_sitter::set_allocator(Some(tree_sitter::Allocator {
            malloc,
            calloc,
            realloc,
            free,
        }))
    };
}

thread_local! {
    static PARSER: RefCell<Option<Parser>> = const { RefCell::new(None) };
}

fn new_parser() -> Parser {
    let mut p = Parser::new();
    p.set_language(&tree_sitter_python::LANGUAGE.into())
        .expect("tree-sitter-python matches the tree-sitter ABI");
    p
}

/// Parses Python source with this thread's parser (created on first use), within
/// the bounds of [`parse_python_checked`].
pub fn parse_python(text: &str) -> Option<Tree> {
    parse_python_checked(text).ok()
}

/// Parses Python source (model files, `migverify tree`) within bounds: nesting
/// CPython refuses is an error before tree-sitter sees it (its scanner aborts the
/// process on a few hundred indentation levels), the parser reads the text of
/// [`super::tokenize::Scan::parser_text`] (long runs of comment-only lines as
/// spaces, shallow continuation lines deep enough), and the parse is bounded
/// ([`parse_budget`]). The error says why, with the line.
pub fn parse_python_checked(text: &str) -> Result<Tree, String> {
    let scan = super::tokenize::scan(text);
    if let Some(deep) = scan.too_deep {
        let line = text[..deep.start.min(text.len())].matches('\n').count() + 1;
        return Err(format!(
            "Python syntax error at line {line}: {}",
            deep.message
        ));
    }
    parse_bounded(&scan.parser_text(text))
}

/// The text is handed to tree-sitter in chunks of this size, so that what its
/// lexer reads (and reads again) can be counted.
const PARSE_CHUNK: usize = 16 * 1024;

/// How much the lexer may read, in all, before a parse is abandoned: 64 times the
/// file, and at least 1 GiB (about a second). tree-sitter-python's scanner reads
/// every comment line that follows a line break again at each line break, so a
/// block ending in 60,000 comment-only lines takes quadratic time (minutes);
/// real files, even with thousands of trailing comment lines, stay far below.
fn parse_budget(len: usize) -> usize {
    len.saturating_mul(64).max(1 << 30)
}

/// Parses with this thread's parser, giving up (with the reason) when the lexer
/// has read more than [`parse_budget`] bytes.
fn parse_bounded(text: &str) -> Result<Tree, String> {
    use std::cell::Cell;
    use std::ops::ControlFlow;
    PARSER.with(|cell| {
        let mut slot = cell.borrow_mut();
        let parser = slot.get_or_insert_with(new_parser);
        let budget = parse_budget(text.len());
        let read = Cell::new(0usize);
        let bytes = text.as_bytes();
        let mut input = |offset: usize, _: tree_sitter::Point| -> &[u8] {
            let rest = bytes.get(offset..).unwrap_or_default();
            let chunk = &rest[..rest.len().min(PARSE_CHUNK)];
            read.set(read.get().saturating_add(chunk.len()));
            chunk
        };
        let mut progress = |_: &tree_sitter::ParseState| {
            if read.get() > budget {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        };
        let options = tree_sitter::ParseOptions::new().progress_callback(&mut progress);
        let tree = parser.parse_with_options(&mut input, None, Some(options));
        match tree {
            Some(tree) => Ok(tree),
            None => {
                // A halted parse resumes on the next call unless reset.
                parser.reset();
                if read.get() > budget {
                    Err(format!(
                        "too slow to parse: the parser read more than {} of text for this {} file \
                         (long runs of comment-only lines at the end of a block make it quadratic)",
                        crate::bounded::describe_size(budget as u64),
                        crate::bounded::describe_size(bytes.len() as u64),
                    ))
                } else {
                    Err("the Python parser gave up on this file".into())
                }
            }
        }
    })
}

/// Reads and extracts a migration file (at most
/// [`crate::bounded::DEFAULT_SOURCE_LIMIT`] bytes). A file that cannot be read still
/// yields a `Migration`, with the reason in `problems`.
pub fn parse_file(path: &Path) -> Migration {
    match crate::bounded::read(
        path,
        crate::bounded::DEFAULT_SOURCE_LIMIT,
        "a migration file",
    ) {
        Ok(bytes) => parse_source(path.to_path_buf(), bytes),
        Err(err) => unreadable(path, &err),
    }
}

/// The `Migration` of a file that cannot be read: empty, with the reason in
/// `problems`.
pub fn unreadable(path: &Path, err: &std::io::Error) -> Migration {
    let source = Arc::new(SourceFile::from_text(path.to_path_buf(), String::new()));
    let mut m = empty(path.to_path_buf(), source);
    m.problems.push(Problem {
        message: format!("cannot read the file: {err}"),
        span: None,
    });
    m
}

fn empty(path: PathBuf, source: Arc<SourceFile>) -> Migration {
    Migration {
        path,
        source,
        revision: None,
        down_revision: None,
        branch_labels: None,
        depends_on: None,
        message: None,
        upgrade: None,
        downgrade: None,
        ops: Vec::new(),
        constants: Vec::new(),
        suppressions: Suppressions::default(),
        problems: Vec::new(),
        query_matches: Vec::new(),
        computed: Vec::new(),
        scope: None,
        unresolved: Vec::new(),
    }
}

/// Extracts a migration from a file's bytes.
pub fn parse_source(path: PathBuf, bytes: Vec<u8>) -> Migration {
    extract(path, bytes, true, true, None)
}

/// [`parse_source`] without `ops` (left empty): for runs where no rule reads
/// them, building every call's argument tree is a tenth of the work.
pub fn parse_source_without_ops(path: PathBuf, bytes: Vec<u8>) -> Migration {
    extract(path, bytes, true, false, None)
}

/// [`parse_source`], also running the enabled query rules on the tree (their
/// matches go to [`Migration::query_matches`]).
pub fn parse_source_with(
    path: PathBuf,
    bytes: Vec<u8>,
    queries: Option<&dyn super::TreeQueries>,
) -> Migration {
    extract(path, bytes, true, true, queries)
}

/// The engine's entry: `ops: false` leaves `ops` empty (no rule that runs reads
/// them); `queries` are the enabled query rules.
pub fn parse_source_for(
    path: PathBuf,
    bytes: Vec<u8>,
    ops: bool,
    queries: Option<&dyn super::TreeQueries>,
) -> Migration {
    extract(path, bytes, true, ops, queries)
}

/// `prune: false` walks every node (the reference the pruned walk is tested
/// against); `ops: false` leaves `ops` empty.
fn extract(
    path: PathBuf,
    bytes: Vec<u8>,
    prune: bool,
    ops: bool,
    queries: Option<&dyn super::TreeQueries>,
) -> Migration {
    let source = Arc::new(SourceFile::from_bytes(path.clone(), bytes));
    let mut m = empty(path, source.clone());
    // Looked for in the text, not the bytes: a BOM is stripped from the text, and
    // offsets into the bytes would then point 3 bytes too far (past the end).
    if let Some(pos) = source.text.find('\0') {
        m.problems.push(Problem {
            message: "the file contains NUL bytes, which Python rejects (is it a binary file?)"
                .into(),
            span: Some(source.span(pos, pos + 1)),
        });
        return m;
    }
    // Nesting CPython refuses before parsing, and which would abort or stall the
    // parser: the file is not parsed at all.
    let scan = super::tokenize::scan(&source.text);
    if let Some(deep) = scan.too_deep {
        let (line, col) = source.line_col(deep.start);
        m.problems.push(Problem {
            message: format!("Python syntax error at {line}:{col}: {}", deep.message),
            span: Some(source.span(deep.start, deep.end)),
        });
        return m;
    }
    // Long runs of comment-only lines and shallow continuation lines go to the
    // parser changed (offsets kept).
    let parsed_text = scan.parser_text(&source.text);
    let tree = match parse_bounded(&parsed_text) {
        Ok(tree) => tree,
        Err(why) => {
            m.problems.push(Problem {
                message: why,
                span: None,
            });
            return m;
        }
    };
    let mut ex = Extractor {
        src: &source,
        m: &mut m,
        down_revision_assigned: false,
        prune,
        ops,
        scan: &scan,
    };
    ex.module(tree.root_node());
    ex.walk(tree.root_node());
    if let Some(queries) = queries.filter(|q| !q.is_empty() && m.problems.is_empty()) {
        match queries.run(&tree, &source, &m) {
            Ok(found) => m.query_matches = found,
            Err(why) => m.problems.push(Problem {
                message: why,
                span: None,
            }),
        }
    }
    m
}

struct Extractor<'a> {
    src: &'a SourceFile,
    m: &'a mut Migration,
    /// A top-level `down_revision = ...` was seen (valid or not).
    down_revision_assigned: bool,
    /// Skip subtrees that cannot hold a comment, a call or an error.
    prune: bool,
    /// Extract `op.*` calls.
    ops: bool,
    /// The tokenizer's pass over the file: the comments the parser did not see
    /// ([`super::tokenize::Scan::comment_runs`]) and what CPython refuses that
    /// the parser accepts.
    scan: &'a super::tokenize::Scan,
}

/// An active `with op.batch_alter_table(...) as alias:` block.
struct BatchScope {
    alias: String,
    end: usize,
    args: Arc<Vec<Arg>>,
}

impl<'a> Extractor<'a> {
    fn text(&self, node: Node) -> &'a str {
        self.src.text.get(node.byte_range()).unwrap_or("")
    }

    fn span(&self, node: Node) -> crate::diagnostic::Span {
        self.src.span(node.start_byte(), node.end_byte())
    }

    fn problem(&mut self, node: Node, message: String) {
        let span = Some(self.span(node));
        self.m.problems.push(Problem { message, span });
    }

    /// Module-level statements: docstring, revision identifiers, constants, functions.
    fn module(&mut self, root: Node) {
        let mut cursor = root.walk();
        let mut first_statement = true;
        for child in root.named_children(&mut cursor) {
            if kind(child) == "comment" {
                continue;
            }
            match kind(child) {
                "expression_statement" => {
                    if let Some(inner) = child.named_child(0) {
                        match kind(inner) {
                            "assignment" => self.assignment(child, inner),
                            "string" | "concatenated_string" if first_statement => {
                                if let Some(doc) = string_literal(inner, self.text(inner)) {
                                    self.m.message = Some(doc_message(&doc));
                                }
                            }
                            _ => {}
                        }
                    }
                }
                "function_definition" => self.function(child, child),
                "decorated_definition" => {
                    if let Some(def) = field(child, "definition")
                        && kind(def) == "function_definition"
                    {
                        self.function(def, def);
                    }
                }
                _ => {}
            }
            first_statement = false;
        }
        let computed_revision = self.m.computed.iter().any(|c| c.field == IdField::Revision);
        if !self.m.computed.is_empty() {
            self.m.scope = Some(Box::new(module_scope(root, self.src)));
        }
        if computed_revision {
            // Resolved after loading ([`super::resolve`]).
        } else if self.m.revision.is_none() && self.m.problems.is_empty() {
            self.m.problems.push(Problem {
                message: "no top-level `revision = \"...\"` string literal: Alembic cannot identify this migration"
                    .into(),
                span: None,
            });
        }
        if (self.m.revision.is_some() || computed_revision) && !self.down_revision_assigned {
            let span = self.m.revision.as_ref().map(|r| r.span);
            self.m.problems.push(Problem {
                message:
                    "no top-level `down_revision` assignment: Alembic fails to load this migration"
                        .into(),
                span,
            });
        }
    }

    fn assignment(&mut self, statement: Node, assign: Node) {
        let Some(left) = field(assign, "left") else {
            return;
        };
        if kind(left) != "identifier" {
            return;
        }
        let Some(right) = field(assign, "right") else {
            return; // `revision: str` with no value
        };
        let name = self.text(left);
        let literal = string_literal(right, self.text(right));
        match name {
            "revision" => match literal {
                Some(rev) => {
                    let bad: Vec<char> = rev
                        .chars()
                        .filter(|c| ILLEGAL_REVISION_CHARS.contains(c))
                        .collect();
                    if rev.is_empty() {
                        self.problem(right, "the revision id is an empty string".into());
                    } else if !bad.is_empty() {
                        let list: Vec<String> = bad.iter().map(|c| format!("'{c}'")).collect();
                        self.problem(
                            right,
                            format!(
                                "revision id {rev:?} contains {}, which Alembic does not allow in a revision id",
                                list.join(", ")
                            ),
                        );
                    }
                    self.m.computed.retain(|c| c.field != IdField::Revision);
                    self.m.revision = Some(Spanned {
                        value: rev,
                        span: self.span(right),
                    });
                }
                None if kind(right) == "none" || wrong_literal(right, self.text(right)) => self
                    .problem(
                    right,
                    "`revision` must be a string: Alembic cannot use this value as a revision id"
                        .into(),
                ),
                None => {
                    self.m.revision = None;
                    self.compute(IdField::Revision, statement, right);
                }
            },
            "down_revision" | "branch_labels" | "depends_on" => {
                self.down_revision_assigned |= name == "down_revision";
                let field = match name {
                    "down_revision" => IdField::DownRevision,
                    "branch_labels" => IdField::BranchLabels,
                    _ => IdField::DependsOn,
                };
                self.m.computed.retain(|c| c.field != field);
                match self.revision_list(right) {
                    Some(items) => {
                        let list = RevisionList {
                            statement: self.span(statement),
                            value_span: self.span(right),
                            items,
                        };
                        match name {
                            "down_revision" => self.m.down_revision = Some(list),
                            "branch_labels" => self.m.branch_labels = Some(list),
                            _ => self.m.depends_on = Some(list),
                        }
                    }
                    None if wrong_literal(right, self.text(right)) => self.problem(
                        right,
                        format!("`{name}` must be None, a string, or a tuple or list of strings"),
                    ),
                    None => {
                        match field {
                            IdField::DownRevision => self.m.down_revision = None,
                            IdField::BranchLabels => self.m.branch_labels = None,
                            _ => self.m.depends_on = None,
                        }
                        self.compute(field, statement, right);
                    }
                }
            }
            _ => {
                if let Some(value) = literal {
                    self.m.constants.push((name.to_string(), value));
                }
            }
        }
    }

    /// Keeps a value that is not a literal, to resolve after loading.
    fn compute(&mut self, field: IdField, statement: Node, value: Node) {
        let expr = to_expr(value, self.src, 0);
        self.m.computed.push(Computed {
            field,
            statement: self.span(statement),
            value: Spanned {
                value: expr,
                span: self.span(value),
            },
        });
    }

    /// `None`, a string, or a tuple/list of strings.
    fn revision_list(&self, node: Node) -> Option<Vec<Spanned<String>>> {
        // Iterative, as in `string_literal`: parentheses nest without bound.
        let mut node = node;
        while kind(node) == "parenthesized_expression" {
            node = node.named_child(0)?;
        }
        match kind(node) {
            "none" => Some(Vec::new()),
            "tuple" | "list" => {
                let mut items = Vec::new();
                let mut cursor = node.walk();
                for child in node.named_children(&mut cursor) {
                    if kind(child) == "comment" {
                        continue;
                    }
                    let value = string_literal(child, self.text(child))?;
                    items.push(Spanned {
                        value,
                        span: self.span(child),
                    });
                }
                Some(items)
            }
            _ => {
                let value = string_literal(node, self.text(node))?;
                Some(vec![Spanned {
                    value,
                    span: self.span(node),
                }])
            }
        }
    }

    fn function(&mut self, def: Node, _outer: Node) {
        let Some(name) = field(def, "name") else {
            return;
        };
        let which = match self.text(name) {
            "upgrade" => true,
            "downgrade" => false,
            _ => return,
        };
        let body = field(def, "body").map_or(BodyKind::Empty, |b| self.body_kind(b));
        let unfollowed = field(def, "body").and_then(|b| self.unfollowed(b));
        let f = Function {
            name_span: self.span(name),
            def_line: def.start_position().row + 1,
            end_line: def.end_position().row + 1,
            body,
            unfollowed,
        };
        if which {
            self.m.upgrade = Some(f);
        } else {
            self.m.downgrade = Some(f);
        }
    }

    /// The first statement of a function body that is not an operation call
    /// (`op.<method>(...)`, or on the alias of an enclosing
    /// `with op.batch_alter_table(...) as <alias>:`), such a `with` block, a
    /// docstring, a comment, `pass` or a final bare `return`. Blocks are walked with
    /// an explicit stack.
    fn unfollowed(&self, body: Node) -> Option<Spanned<String>> {
        let mut stack: Vec<(Node, Vec<String>)> = vec![(body, Vec::new())];
        while let Some((block, aliases)) = stack.pop() {
            let mut cursor = block.walk();
            let stmts: Vec<Node> = block
                .named_children(&mut cursor)
                .filter(|c| kind(*c) != "comment")
                .collect();
            for (i, stmt) in stmts.iter().enumerate() {
                let at = |what: String| {
                    Some(Spanned {
                        value: what,
                        span: self.span(*stmt),
                    })
                };
                match kind(*stmt) {
                    "pass_statement" | "import_statement" | "import_from_statement" => {}
                    "return_statement" if stmt.named_child_count() == 0 && i + 1 == stmts.len() => {
                    }
                    "expression_statement" => {
                        let Some(e) = stmt
                            .named_child(0)
                            .filter(|_| stmt.named_child_count() == 1)
                        else {
                            return at("an expression statement".into());
                        };
                        match kind(e) {
                            "string" | "concatenated_string" | "ellipsis" => {}
                            "call" => {
                                let func = field(e, "function");
                                let receiver = func
                                    .filter(|f| kind(*f) == "attribute")
                                    .and_then(|f| field(f, "object"))
                                    .filter(|o| kind(*o) == "identifier")
                                    .map(|o| self.text(o));
                                let known = receiver
                                    .is_some_and(|r| r == "op" || aliases.iter().any(|a| a == r));
                                if !known {
                                    let name = func.map_or("", |f| self.text(f));
                                    return at(format!(
                                        "a call to `{}`",
                                        crate::text::truncate(name, 60)
                                    ));
                                }
                            }
                            "assignment" | "augmented_assignment" => {
                                return at("an assignment".into());
                            }
                            _ => return at("an expression statement".into()),
                        }
                    }
                    "with_statement" => {
                        let mut inner = aliases.clone();
                        let mut wc = stmt.walk();
                        let clause = stmt
                            .named_children(&mut wc)
                            .find(|c| kind(*c) == "with_clause");
                        let mut all_batch = clause.is_some();
                        if let Some(clause) = clause {
                            let mut cc = clause.walk();
                            for item in clause.named_children(&mut cc) {
                                let alias = item
                                    .named_child(0)
                                    .filter(|p| kind(*p) == "as_pattern")
                                    .and_then(|p| {
                                        let call = p.named_child(0)?;
                                        let func = field(call, "function")?;
                                        if kind(call) != "call"
                                            || self.text(func) != "op.batch_alter_table"
                                        {
                                            return None;
                                        }
                                        let mut pc = p.walk();
                                        let target = p
                                            .named_children(&mut pc)
                                            .find(|c| kind(*c) == "as_pattern_target")?;
                                        Some(self.text(target).trim().to_string())
                                    });
                                match alias {
                                    Some(a) => inner.push(a),
                                    None => all_batch = false,
                                }
                            }
                        }
                        match field(*stmt, "body") {
                            Some(b) if all_batch => stack.push((b, inner)),
                            _ => {
                                return at(
                                    "a `with` block other than `op.batch_alter_table`".into()
                                );
                            }
                        }
                    }
                    "if_statement" => return at("an `if` statement".into()),
                    "for_statement" | "while_statement" => return at("a loop".into()),
                    "try_statement" => return at("a `try` block".into()),
                    "raise_statement" => return at("a `raise` statement".into()),
                    "return_statement" => return at("a `return` before the end".into()),
                    other => {
                        return at(format!("a `{}`", other.trim_end_matches("_statement")));
                    }
                }
            }
        }
        None
    }

    fn body_kind(&self, block: Node) -> BodyKind {
        let mut raises = false;
        let mut cursor = block.walk();
        for stmt in block.named_children(&mut cursor) {
            match kind(stmt) {
                "comment" | "pass_statement" => {}
                "return_statement" if stmt.named_child_count() == 0 => {}
                "raise_statement" => raises = true,
                "expression_statement" => {
                    let only_literal = stmt.named_child_count() == 1
                        && stmt.named_child(0).is_some_and(|e| {
                            matches!(kind(e), "string" | "concatenated_string" | "ellipsis")
                        });
                    if !only_literal {
                        return BodyKind::Effectful;
                    }
                }
                _ => return BodyKind::Effectful,
            }
        }
        if raises {
            BodyKind::RaisesOnly
        } else {
            BodyKind::Empty
        }
    }

    /// Where tree-sitter's error `err` is (its first line) and what it is.
    fn parser_error(&self, err: Node) -> (usize, usize, String) {
        let what = if err.is_missing() {
            format!("missing `{}`", kind(err))
        } else {
            let snippet: String = self.text(err).chars().take(30).collect();
            let snippet = snippet.lines().next().unwrap_or("").trim().to_string();
            if snippet.is_empty() {
                "unexpected token".to_string()
            } else {
                format!("unexpected `{snippet}`")
            }
        };
        let end = if err.is_missing() || err.start_byte() == err.end_byte() {
            err.start_byte()
        } else {
            // Point at the first line of the erroneous region only.
            self.src.text[err.start_byte()..err.end_byte()]
                .find('\n')
                .map_or(err.end_byte(), |i| err.start_byte() + i)
        };
        (err.start_byte(), end, what)
    }

    /// One iterative pass over the whole tree: comments (suppressions, where invalid
    /// bytes may stand), the first syntax error, and `op.*` calls.
    fn walk(&mut self, root: Node) {
        let mut comments: Vec<(usize, usize)> = Vec::new();
        let mut first_error: Option<Node> = None;
        let mut scopes: Vec<BatchScope> = Vec::new();
        let upgrade_range = self.m.upgrade.as_ref().map(|f| (f.def_line, f.end_line));
        let downgrade_range = self.m.downgrade.as_ref().map(|f| (f.def_line, f.end_line));

        let g = grammar();
        let mut walk = super::Preorder::new(root);
        loop {
            let node = walk.node();
            let mut descend = true;
            if node.is_error() || node.is_missing() {
                if first_error.is_none() {
                    first_error = Some(node);
                }
            } else {
                match node.kind_id() {
                    id if id == g.comment => {
                        comments.push((node.start_byte(), node.end_byte()));
                        self.comment(node.start_byte(), node.end_byte());
                        descend = false;
                    }
                    id if id == g.with_statement && self.ops => self.batch_scope(node, &mut scopes),
                    id if id == g.call && self.ops => {
                        scopes.retain(|s| s.end > node.start_byte());
                        let line = node.start_position().row + 1;
                        let phase = if upgrade_range.is_some_and(|(a, b)| a <= line && line <= b) {
                            Phase::Upgrade
                        } else if downgrade_range.is_some_and(|(a, b)| a <= line && line <= b) {
                            Phase::Downgrade
                        } else {
                            Phase::Other
                        };
                        self.call(node, phase, &scopes);
                    }
                    _ => {}
                }
            }
            // Skipping subtrees with nothing to find halves the nodes visited.
            if !walk.next(descend && (!self.prune || worth_descending(node, &self.src.text))) {
                break;
            }
        }

        // The comments hidden from the parser, read here, in order with the others.
        if !self.scan.comment_runs.is_empty() {
            for &(s, e) in &self.scan.comment_runs {
                comments.push((s, e));
                self.comment(s, e);
            }
            comments.sort_unstable();
            self.m.suppressions.items.sort_by_key(|s| s.span.start);
        }

        // Indentation CPython refuses and the parser accepts: tabs and spaces mixed
        // so that the width of a tab matters (TabError), an indent no block
        // expects, none where one is expected, a dedent to no open level
        // (IndentationError); a statement that ends after `=`.
        let indent_error = self.scan.refusal;

        // CPython decodes before it parses: bytes that are not UTF-8 outside comments
        // are the error, and the parse error their replacement causes on the same
        // line or after it is not reported on top of it.
        let legacy_encoding = declared_legacy_encoding(&self.src.text);
        let bad_byte = self
            .src
            .invalid_utf8
            .iter()
            .copied()
            .filter(|_| legacy_encoding.is_none())
            .find(|&b| {
                // Comments are in document order and do not overlap: the one that
                // may hold `b` is the last to start at or before it.
                let i = comments.partition_point(|&(s, _)| s <= b);
                !(i > 0 && b < comments[i - 1].1)
            });
        let bad_line_start = bad_byte.map(|b| self.src.text[..b].rfind('\n').map_or(0, |i| i + 1));
        let first_error =
            first_error.filter(|err| bad_line_start.is_none_or(|l| err.start_byte() < l));
        // CPython stops at the first of a syntax error and an indentation error.
        let indent_error = indent_error
            .filter(|&(s, _, _)| bad_line_start.is_none_or(|l| s < l))
            .filter(|&(s, _, _)| first_error.is_none_or(|err| s < err.start_byte()));
        let first_error =
            first_error.filter(|err| indent_error.is_none_or(|(s, _, _)| err.start_byte() < s));

        // Where the parser fails and the file has a bracket mistake, say what
        // CPython says, at the bracket: on a syntax error CPython tokenizes the rest
        // of the file and reports a tokenizer error it finds instead, and
        // tree-sitter's error can start far from the bracket.
        let generic = first_error.is_some()
            || matches!(
                indent_error,
                Some((_, _, super::tokenize::Refusal::LineBreak))
            );
        let bracket = self.scan.bracket.as_ref().filter(|_| generic);
        // At most one of the three stands: the first in CPython's order.
        let syntax = match (bracket, indent_error, first_error) {
            (Some(b), _, _) => Some((b.at, b.at + 1, b.message.clone())),
            (None, Some((start, end, refusal)), _) => Some((start, end, refusal.message().into())),
            (None, None, Some(err)) => Some(self.parser_error(err)),
            (None, None, None) => None,
        };
        if let Some((start, end, what)) = syntax {
            let (line, col) = self.src.line_col(start);
            self.m.problems.insert(
                0,
                Problem {
                    message: format!("Python syntax error at {line}:{col}: {what}"),
                    span: Some(self.src.span(start, end)),
                },
            );
        }

        if let Some(bad) = bad_byte {
            let (line, col) = self.src.line_col(bad);
            self.m.problems.insert(
                0,
                Problem {
                    message: format!(
                        "invalid UTF-8 at {line}:{col}: Python rejects the file (only comments may hold such bytes)"
                    ),
                    span: Some(self.src.span(bad, bad + 1)),
                },
            );
        }
    }

    fn comment(&mut self, start: usize, end: usize) {
        let text = self.src.text.get(start..end).unwrap_or("");
        let Some(d) = parse_directive(text) else {
            return;
        };
        let base = start;
        let rules = d
            .rules
            .iter()
            .map(|(name, s, e)| Spanned {
                value: name.clone(),
                span: self.src.span(base + s, base + e),
            })
            .collect();
        self.m.suppressions.items.push(Suppression {
            span: self.src.span(base + d.start, base + d.end),
            line: self.src.line_col(start).0,
            file_level: d.file_level,
            rules,
        });
    }

    /// Registers `with op.batch_alter_table(...) as alias:` aliases for the body.
    fn batch_scope(&mut self, node: Node, scopes: &mut Vec<BatchScope>) {
        let mut cursor = node.walk();
        let Some(clause) = node
            .named_children(&mut cursor)
            .find(|c| kind(*c) == "with_clause")
        else {
            return;
        };
        let mut cursor = clause.walk();
        for item in clause.named_children(&mut cursor) {
            let Some(pattern) = item.named_child(0) else {
                continue;
            };
            if kind(pattern) != "as_pattern" {
                continue;
            }
            let Some(call) = pattern.named_child(0) else {
                continue;
            };
            let mut pc = pattern.walk();
            let Some(target) = pattern
                .named_children(&mut pc)
                .find(|c| kind(*c) == "as_pattern_target")
            else {
                continue;
            };
            if kind(call) != "call" {
                continue;
            }
            let Some(func) = field(call, "function") else {
                continue;
            };
            if !matches!(self.text(func), "op.batch_alter_table") {
                continue;
            }
            let args = field(call, "arguments")
                .map(|a| self.arguments(a))
                .unwrap_or_default();
            scopes.push(BatchScope {
                alias: self.text(target).trim().to_string(),
                end: node.end_byte(),
                args: Arc::new(args),
            });
        }
    }

    fn call(&mut self, node: Node, phase: Phase, scopes: &[BatchScope]) {
        let Some(func) = field(node, "function") else {
            return;
        };
        if kind(func) != "attribute" {
            return;
        }
        let (Some(object), Some(attr)) = (field(func, "object"), field(func, "attribute")) else {
            return;
        };
        if kind(object) != "identifier" {
            return;
        }
        let receiver = self.text(object);
        let method = self.text(attr);
        let batch = if receiver == "op" {
            None
        } else {
            match scopes.iter().rev().find(|s| s.alias == receiver) {
                Some(scope) => Some(scope.args.clone()),
                None => return,
            }
        };
        if method == "f" {
            return; // `op.f("name")` marks a name as final; it is not an operation
        }
        let args = field(node, "arguments")
            .map(|a| self.arguments(a))
            .unwrap_or_default();
        self.m.ops.push(OpCall {
            phase,
            receiver: receiver.to_string(),
            method: method.to_string(),
            args,
            span: self.span(node),
            batch,
        });
    }

    fn arguments(&self, list: Node) -> Vec<Arg> {
        let mut out = Vec::new();
        let mut cursor = list.walk();
        for child in list.named_children(&mut cursor) {
            match kind(child) {
                "comment" => {}
                "keyword_argument" => {
                    let name = field(child, "name").map(|n| self.text(n).to_string());
                    let value = field(child, "value").map_or(Value::None, |v| self.value(v, 0));
                    out.push(Arg {
                        keyword: name,
                        value,
                        span: self.span(child),
                    });
                }
                _ => out.push(Arg {
                    keyword: None,
                    value: self.value(child, 0),
                    span: self.span(child),
                }),
            }
        }
        out
    }

    fn value(&self, node: Node, depth: usize) -> Value {
        read_value(node, &self.src.text, depth)
    }
}

/// A Python expression as a [`Value`], reading literals where it can (also used by
/// the model reader, [`crate::models`]).
pub(crate) fn read_value(node: Node, src: &str, depth: usize) -> Value {
    let text_of = |n: Node| -> &str { src.get(n.byte_range()).unwrap_or("") };
    let text = text_of(node);
    if depth > MAX_VALUE_DEPTH {
        return Value::Other(text.to_string());
    }
    match kind(node) {
        "string" | "concatenated_string" => match string_literal(node, text) {
            Some(s) => Value::Str(s),
            None => Value::Other(text.to_string()),
        },
        "integer" => parse_int(text).map_or_else(|| Value::Other(text.to_string()), Value::Int),
        "float" => text
            .replace('_', "")
            .parse()
            .map_or_else(|_| Value::Other(text.to_string()), Value::Float),
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        "none" => Value::None,
        "identifier" => Value::Name(text.to_string()),
        "attribute" if is_dotted_name(node) => Value::Name(text.to_string()),
        "unary_operator" if text.starts_with('-') => match field(node, "argument") {
            Some(arg) => match read_value(arg, src, depth + 1) {
                Value::Int(i) => Value::Int(-i),
                Value::Float(f) => Value::Float(-f),
                _ => Value::Other(text.to_string()),
            },
            None => Value::Other(text.to_string()),
        },
        "parenthesized_expression" => match node.named_child(0) {
            Some(inner) if node.named_child_count() == 1 => read_value(inner, src, depth + 1),
            _ => Value::Other(text.to_string()),
        },
        "list" | "tuple" => {
            let mut items = Vec::new();
            let mut cursor = node.walk();
            for child in node.named_children(&mut cursor) {
                if kind(child) != "comment" {
                    items.push(read_value(child, src, depth + 1));
                }
            }
            if kind(node) == "list" {
                Value::List(items)
            } else {
                Value::Tuple(items)
            }
        }
        "call" => {
            let func = field(node, "function")
                .map(|f| text_of(f).to_string())
                .unwrap_or_default();
            let mut args = Vec::new();
            if let Some(list) = field(node, "arguments") {
                let mut cursor = list.walk();
                for child in list.named_children(&mut cursor) {
                    match kind(child) {
                        "comment" => {}
                        "keyword_argument" => args.push((
                            field(child, "name").map(|n| text_of(n).to_string()),
                            field(child, "value")
                                .map_or(Value::None, |v| read_value(v, src, depth + 1)),
                        )),
                        _ => args.push((None, read_value(child, src, depth + 1))),
                    }
                }
            }
            Value::Call { func, args }
        }
        _ => Value::Other(text.to_string()),
    }
}

fn is_dotted_name(node: Node) -> bool {
    let mut cur = node;
    loop {
        match kind(cur) {
            "identifier" => return true,
            "attribute" => match field(cur, "object") {
                Some(obj) => cur = obj,
                None => return false,
            },
            _ => return false,
        }
    }
}

fn parse_int(text: &str) -> Option<i64> {
    let t = text.replace('_', "");
    let lower = t.to_ascii_lowercase();
    if let Some(h) = lower.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()
    } else if let Some(o) = lower.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()
    } else if let Some(b) = lower.strip_prefix("0b") {
        i64::from_str_radix(b, 2).ok()
    } else {
        lower.parse().ok()
    }
}

/// Whether `node` is a literal no identifier can be: a number, a boolean, bytes,
/// a dict or set, or a tuple/list holding one. Alembic fails on those (MV009);
/// anything else that is not a string literal is resolved statically or reported
/// as unresolved (MV014).
fn wrong_literal(node: Node, text: &str) -> bool {
    let sub = |n: Node| {
        let start = n.start_byte() - node.start_byte();
        let end = n.end_byte() - node.start_byte();
        text.get(start..end).unwrap_or("")
    };
    match kind(node) {
        "integer" | "float" | "true" | "false" | "dictionary" | "set" | "ellipsis" => true,
        "string" | "concatenated_string" => {
            // Bytes; an f-string is left to the resolver (reported as unresolved).
            let mut cursor = node.walk();
            let interpolated = node
                .named_children(&mut cursor)
                .any(|c| kind(c) == "interpolation");
            !interpolated && string_literal(node, text).is_none()
        }
        "parenthesized_expression" | "tuple" | "list" => {
            let mut cursor = node.walk();
            node.named_children(&mut cursor)
                .filter(|c| kind(*c) != "comment")
                .any(|c| !matches!(kind(c), "tuple" | "list") && wrong_literal(c, sub(c)))
        }
        _ => false,
    }
}

/// Past this depth an expression is kept as [`Expr::Other`].
const MAX_EXPR_DEPTH: usize = 16;

/// The longest source text kept in an [`Expr::Other`].
const MAX_OTHER_TEXT: usize = 80;

/// `node` as an [`Expr`].
pub(crate) fn to_expr(node: Node, src: &SourceFile, depth: usize) -> Expr {
    let text = src.text.get(node.byte_range()).unwrap_or("");
    if let Some(s) = string_literal(node, text) {
        return Expr::Str(s);
    }
    let other = || {
        Expr::Other(crate::text::truncate(
            &text.split_whitespace().collect::<Vec<_>>().join(" "),
            MAX_OTHER_TEXT,
        ))
    };
    if depth > MAX_EXPR_DEPTH {
        return other();
    }
    match kind(node) {
        "none" => Expr::None,
        "identifier" => Expr::Name(text.to_string()),
        "attribute" => match dotted_name(node, &src.text) {
            Some(name) => Expr::Name(name),
            None => other(),
        },
        "parenthesized_expression" => match node.named_child(0) {
            Some(inner) if node.named_child_count() == 1 => to_expr(inner, src, depth + 1),
            _ => other(),
        },
        "tuple" | "list" => {
            let mut cursor = node.walk();
            let items = node
                .named_children(&mut cursor)
                .filter(|c| kind(*c) != "comment")
                .map(|c| Spanned {
                    value: to_expr(c, src, depth + 1),
                    span: src.span(c.start_byte(), c.end_byte()),
                })
                .collect();
            Expr::Seq(items)
        }
        "binary_operator" => {
            let op = field(node, "operator").map(|o| src.text.get(o.byte_range()).unwrap_or(""));
            match (op, field(node, "left"), field(node, "right")) {
                (Some("+"), Some(l), Some(r)) => {
                    let mut parts = Vec::new();
                    for side in [l, r] {
                        match to_expr(side, src, depth + 1) {
                            Expr::Concat(inner) => parts.extend(inner),
                            e => parts.push(e),
                        }
                    }
                    Expr::Concat(parts)
                }
                _ => other(),
            }
        }
        _ => other(),
    }
}

/// `a.b.c` for an attribute chain of plain names.
fn dotted_name(node: Node, text: &str) -> Option<String> {
    let mut parts = Vec::new();
    let mut n = node;
    loop {
        match kind(n) {
            "identifier" => {
                parts.push(text.get(n.byte_range())?);
                break;
            }
            "attribute" => {
                parts.push(text.get(field(n, "attribute")?.byte_range())?);
                n = field(n, "object")?;
            }
            _ => return None,
        }
        if parts.len() > MAX_EXPR_DEPTH {
            return None;
        }
    }
    parts.reverse();
    Some(parts.join("."))
}

/// The module-level names of a parsed Python file: plain and annotated
/// assignments to a name, `import` and `from ... import` statements, in order.
/// Statements nested in `if` / `try` blocks are not read.
pub(crate) fn module_scope(root: Node, src: &SourceFile) -> ModuleScope {
    let mut scope = ModuleScope::default();
    let text = src.text.as_str();
    let t = |n: Node| text.get(n.byte_range()).unwrap_or("");
    let mut cursor = root.walk();
    for stmt in root.named_children(&mut cursor) {
        let at = stmt.start_byte();
        match kind(stmt) {
            "expression_statement" => {
                let Some(assign) = stmt.named_child(0).filter(|a| kind(*a) == "assignment") else {
                    continue;
                };
                // `A = B = "x"`: the right side is another assignment.
                let mut names = Vec::new();
                let mut a = assign;
                let value = loop {
                    if let Some(left) = field(a, "left")
                        && kind(left) == "identifier"
                    {
                        names.push(t(left).to_string());
                    }
                    match field(a, "right") {
                        Some(r) if kind(r) == "assignment" => a = r,
                        other => break other,
                    }
                };
                let Some(value) = value else { continue };
                let expr = to_expr(value, src, 0);
                for name in names {
                    scope.bindings.push(Binding {
                        name,
                        at,
                        bound: Bound::Value(expr.clone()),
                    });
                }
            }
            "import_statement" => {
                let mut c = stmt.walk();
                for item in stmt.children_by_field_name("name", &mut c) {
                    match kind(item) {
                        "dotted_name" => {
                            let module = t(item).split_whitespace().collect::<String>();
                            let first = module.split('.').next().unwrap_or("").to_string();
                            scope.bindings.push(Binding {
                                name: first.clone(),
                                at,
                                bound: Bound::Module(first),
                            });
                        }
                        "aliased_import" => {
                            if let (Some(n), Some(alias)) =
                                (field(item, "name"), field(item, "alias"))
                            {
                                scope.bindings.push(Binding {
                                    name: t(alias).to_string(),
                                    at,
                                    bound: Bound::Module(t(n).split_whitespace().collect()),
                                });
                            }
                        }
                        _ => {}
                    }
                }
            }
            "import_from_statement" => {
                let Some(module_node) = field(stmt, "module_name") else {
                    continue;
                };
                let raw: String = t(module_node).split_whitespace().collect();
                let level = raw.chars().take_while(|&c| c == '.').count();
                let module = raw[level..].to_string();
                let mut c = stmt.walk();
                let mut any = false;
                for item in stmt.children_by_field_name("name", &mut c) {
                    any = true;
                    let (name, bound) = match kind(item) {
                        "dotted_name" => (t(item).to_string(), t(item).to_string()),
                        "aliased_import" => match (field(item, "name"), field(item, "alias")) {
                            (Some(n), Some(a)) => (t(n).to_string(), t(a).to_string()),
                            _ => continue,
                        },
                        _ => continue,
                    };
                    scope.bindings.push(Binding {
                        name: bound,
                        at,
                        bound: Bound::From {
                            level,
                            module: module.clone(),
                            name,
                        },
                    });
                }
                let mut c = stmt.walk();
                if !any
                    && stmt
                        .named_children(&mut c)
                        .any(|n| kind(n) == "wildcard_import")
                {
                    scope.stars.push((level, module, at));
                }
            }
            _ => {}
        }
    }
    scope
}

/// The value of a `str` literal (plain, raw, or implicitly concatenated); `None`
/// for bytes, f-strings with interpolations, and anything that is not a string.
pub fn string_literal(node: Node, text: &str) -> Option<String> {
    // Parentheses around the literal, unwrapped in a loop: 8,000 of them around a
    // `revision` value must not overflow the stack.
    let (mut node, mut text) = (node, text);
    while kind(node) == "parenthesized_expression" && node.named_child_count() == 1 {
        let inner = node.named_child(0)?;
        let start = inner.start_byte() - node.start_byte();
        let end = inner.end_byte() - node.start_byte();
        text = text.get(start..end)?;
        node = inner;
    }
    match kind(node) {
        "string" => single_string(node, text),
        "concatenated_string" => {
            let mut out = String::new();
            let mut cursor = node.walk();
            for child in node.named_children(&mut cursor) {
                if kind(child) == "comment" {
                    continue;
                }
                let start = child.start_byte() - node.start_byte();
                let end = child.end_byte() - node.start_byte();
                out.push_str(&single_string(child, text.get(start..end)?)?);
            }
            Some(out)
        }
        _ => None,
    }
}

fn single_string(node: Node, text: &str) -> Option<String> {
    if kind(node) != "string" {
        return None;
    }
    let mut cursor = node.walk();
    if node
        .named_children(&mut cursor)
        .any(|c| kind(c) == "interpolation")
    {
        return None;
    }
    let quote_at = text.find(['"', '\''])?;
    let prefix = text[..quote_at].to_ascii_lowercase();
    if prefix.contains('b') {
        return None;
    }
    let rest = &text[quote_at..];
    let q = if rest.starts_with("\"\"\"") || rest.starts_with("'''") {
        &rest[..3]
    } else {
        &rest[..1]
    };
    let body = rest.strip_prefix(q)?.strip_suffix(q)?;
    if prefix.contains('r') {
        Some(body.replace(MARK, "\u{FFFF}\u{FFFF}"))
    } else {
        Some(unescape(body))
    }
}

/// Stands for what a Rust `String` cannot hold in a decoded literal: a lone
/// surrogate (`"\ud800"`, a code point of its own in Python) is `MARK` and four hex
/// digits, a named escape (`"\N{...}"`, not decoded here) `MARK` and the escape's
/// text, and a real U+FFFF is `MARK` twice. The encoding is injective, so two
/// literals Python reads as different strings never compare equal (a false MV001):
/// `"s\ud800x"` is not `"s\\ud800x"`.
const MARK: char = '\u{FFFF}';

/// Decodes the escapes of a non-raw `str` literal's body as Python does.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == MARK {
            out.push(MARK);
            out.push(MARK);
            continue;
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('a') => out.push('\x07'),
            Some('b') => out.push('\x08'),
            Some('f') => out.push('\x0c'),
            Some('v') => out.push('\x0b'),
            Some('\\') => out.push('\\'),
            Some('\'') => out.push('\''),
            Some('"') => out.push('"'),
            Some('\n') => {}
            Some('\r') => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
            }
            Some(d @ '0'..='7') => {
                // One to three octal digits.
                let mut n = d.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match chars.peek().and_then(|c| c.to_digit(8)) {
                        Some(v) => {
                            n = n * 8 + v;
                            chars.next();
                        }
                        None => break,
                    }
                }
                out.push(char::from_u32(n).unwrap_or(char::REPLACEMENT_CHARACTER));
            }
            Some('N') if chars.peek() == Some(&'{') => {
                out.push(MARK);
                out.push('N');
                for c in chars.by_ref() {
                    out.push(c);
                    if c == '}' {
                        break;
                    }
                }
            }
            Some(x @ ('x' | 'u' | 'U')) => {
                let n = match x {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let hex: String = chars.by_ref().take(n).collect();
                let code = (hex.len() == n && hex.chars().all(|c| c.is_ascii_hexdigit()))
                    .then(|| u32::from_str_radix(&hex, 16).ok())
                    .flatten();
                match code {
                    Some(code) => match char::from_u32(code) {
                        Some(MARK) => {
                            out.push(MARK);
                            out.push(MARK);
                        }
                        Some(ch) => out.push(ch),
                        // A surrogate: its own code point in Python.
                        None if (0xD800..=0xDFFF).contains(&code) => {
                            out.push(MARK);
                            out.push_str(&format!("{code:04x}"));
                        }
                        None => {
                            out.push('\\');
                            out.push(x);
                            out.push_str(&hex);
                        }
                    },
                    None => {
                        out.push('\\');
                        out.push(x);
                        out.push_str(&hex);
                    }
                }
            }
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// The encoding a PEP 263 declaration (`# -*- coding: latin-1 -*-` on line 1 or 2)
/// names, when it is not UTF-8: CPython then decodes the file with it, and bytes
/// that are not valid UTF-8 are not an error.
fn declared_legacy_encoding(text: &str) -> Option<String> {
    for line in text.split('\n').take(2) {
        let t = line.trim_start_matches([' ', '\t', '\x0c']);
        if !t.starts_with('#') {
            if t.trim().is_empty() {
                continue;
            }
            return None; // a cookie on line 2 counts only below a comment or blank line
        }
        let Some(at) = t.find("coding") else {
            continue;
        };
        let rest = &t[at + "coding".len()..];
        let Some(rest) = rest.strip_prefix([':', '=']) else {
            continue;
        };
        let name: String = rest
            .trim_start_matches([' ', '\t'])
            .chars()
            .take_while(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .collect();
        if name.is_empty() {
            continue;
        }
        let norm = name.to_ascii_lowercase().replace('_', "-");
        return if norm == "utf-8" || norm == "utf8" || norm.starts_with("utf-8-") {
            None
        } else {
            Some(name)
        };
    }
    None
}

/// Alembic's `Script.doc`: the stripped docstring's first paragraph.
fn doc_message(doc: &str) -> String {
    let doc = doc.trim();
    doc.split("\n\n").next().unwrap_or("").to_string()
}

/// The benchmark corpus generator, for the pruned-walk equivalence test.
#[cfg(test)]
#[path = "../../benches/common/corpus.rs"]
mod test_corpus;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_replay_cannot_follow() {
        let unfollowed = |body: &str| {
            let m = parse(&format!(
                "revision = 'a'\ndown_revision = None\n\ndef upgrade():\n{body}\n"
            ));
            m.upgrade
                .unwrap()
                .unfollowed
                .map(|u| (u.value, u.span.start_line))
        };
        assert_eq!(
            unfollowed(
                "    \"\"\"doc\"\"\"\n    import sqlalchemy as sa\n    op.add_column('t', sa.Column('x', sa.Integer()))\n    with op.batch_alter_table('t') as b:\n        b.drop_column('y')\n    pass\n    return"
            ),
            None
        );
        assert_eq!(
            unfollowed("    op.add_column('t', c)\n    if x:\n        op.drop_column('t', 'x')"),
            Some(("an `if` statement".to_string(), 6))
        );
        assert_eq!(
            unfollowed(
                "    with op.batch_alter_table('t') as b:\n        b.drop_column('y')\n        helper(b)"
            ),
            Some(("a call to `helper`".to_string(), 7))
        );
        assert_eq!(
            unfollowed("    conn = op.get_bind()"),
            Some(("an assignment".to_string(), 5))
        );
        assert_eq!(
            unfollowed("    with open('x') as f:\n        pass"),
            Some((
                "a `with` block other than `op.batch_alter_table`".to_string(),
                5
            ))
        );
    }

    fn parse(src: &str) -> Migration {
        parse_source(PathBuf::from("m.py"), src.as_bytes().to_vec())
    }

    const GENERIC: &str = r#""""add users table

Revision ID: 1a2b3c4d5e6f
Revises: 0f9e8d7c6b5a
Create Date: 2024-01-01 00:00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = '1a2b3c4d5e6f'
down_revision: Union[str, Sequence[str], None] = '0f9e8d7c6b5a'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_users_name"), ["name"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("users")
"#;

    #[test]
    fn reads_the_generic_template() {
        let m = parse(GENERIC);
        assert!(m.problems.is_empty(), "{:?}", m.problems);
        assert_eq!(m.revision_id(), Some("1a2b3c4d5e6f"));
        let downs: Vec<_> = m.down_revisions().map(|d| d.value.as_str()).collect();
        assert_eq!(downs, ["0f9e8d7c6b5a"]);
        assert!(m.branch_labels.as_ref().unwrap().items.is_empty());
        assert_eq!(m.message.as_deref(), Some("add users table"));
        assert_eq!(m.upgrade.as_ref().unwrap().body, BodyKind::Effectful);
        assert_eq!(m.downgrade.as_ref().unwrap().def_line, 32);
        let methods: Vec<_> = m
            .ops
            .iter()
            .map(|o| (o.receiver.as_str(), o.method.as_str(), o.phase))
            .collect();
        assert_eq!(
            methods,
            [
                ("op", "create_table", Phase::Upgrade),
                ("op", "batch_alter_table", Phase::Upgrade),
                ("batch_op", "create_index", Phase::Upgrade),
                ("op", "drop_table", Phase::Downgrade),
            ]
        );
        let batch = m.ops[2].batch.as_ref().unwrap();
        assert_eq!(batch[0].value, Value::Str("users".into()));
        assert_eq!(
            m.ops[0].positional(0).unwrap().value,
            Value::Str("users".into())
        );
        match &m.ops[0].positional(1).unwrap().value {
            Value::Call { func, args } => {
                assert_eq!(func, "sa.Column");
                assert_eq!(args[2], (Some("nullable".into()), Value::Bool(false)));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn tuples_lists_quotes_and_bodies() {
        let m = parse(
            "revision = \"m1\"\ndown_revision = ('a', \"b\")\nbranch_labels = ['x']\ndepends_on = 'c'\n\
             def upgrade():\n    pass\n\ndef downgrade():\n    \"\"\"doc\"\"\"\n    raise NotImplementedError()\n",
        );
        assert!(m.problems.is_empty(), "{:?}", m.problems);
        assert!(m.is_merge());
        assert_eq!(m.branch_labels().next().unwrap().value, "x");
        assert_eq!(m.depends_on().next().unwrap().value, "c");
        assert_eq!(m.upgrade.unwrap().body, BodyKind::Empty);
        assert_eq!(m.downgrade.unwrap().body, BodyKind::RaisesOnly);
    }

    #[test]
    fn problems_name_the_place() {
        let m = parse("revision = 'a'\ndown_revision = None\ndef upgrade(:\n    pass\n");
        assert!(
            m.problems[0]
                .message
                .starts_with("Python syntax error at 3:"),
            "{:?}",
            m.problems
        );

        for value in ["5", "None", "b'ab'"] {
            let m = parse(&format!("revision = {value}\ndown_revision = None\n"));
            assert!(
                m.problems[0].message.contains("must be a string"),
                "{value}"
            );
        }
        // Not a literal: resolved after loading (`resolve`), not a problem.
        let m = parse("revision = get_rev()\ndown_revision = None\n");
        assert!(m.problems.is_empty(), "{:?}", m.problems);

        let m = parse("revision = 'a'\ndown_revision = {}\n");
        assert_eq!(m.problems[0].span.unwrap().start_line, 2);

        let m = parse("revision = 'a-b'\ndown_revision = None\n");
        assert!(m.problems[0].message.contains("'-'"));

        let m = parse_source(
            "m.py".into(),
            b"revision = 'a'\ndown_revision = None\n# caf\xe9\n".to_vec(),
        );
        assert!(
            m.problems.is_empty(),
            "invalid bytes in a comment are fine: {:?}",
            m.problems
        );

        let m = parse_source(
            "m.py".into(),
            b"revision = 'a\xe9'\ndown_revision = None\n".to_vec(),
        );
        assert!(
            m.problems[0].message.starts_with("invalid UTF-8 at 1:14"),
            "{:?}",
            m.problems
        );
    }

    /// Found by `cargo fuzz run extract` (fuzz/): a NUL after a BOM was located by its
    /// offset in the bytes, 3 past its offset in the text, and ended past the text.
    #[test]
    fn a_nul_after_a_bom_is_located_in_the_text() {
        let m = parse_source("x.py".into(), b"\xef\xbb\xbfmig\0\xe1\xe1".to_vec());
        let span = m.problems[0].span.unwrap();
        assert_eq!((span.start, span.end), (3, 4));
        assert_eq!((span.start_line, span.start_column), (1, 4));
        assert!(span.end <= m.source.text.len());
    }

    #[test]
    fn invalid_utf8_in_code_is_one_problem_not_two() {
        let m = parse_source(
            "m.py".into(),
            b"revision = 'a'\ndown_revision = None\nx\xff = 1\n".to_vec(),
        );
        assert_eq!(m.problems.len(), 1, "{:?}", m.problems);
        assert!(m.problems[0].message.starts_with("invalid UTF-8 at 3:2"));
        // a syntax error before the bad line is still reported
        let m = parse_source(
            "m.py".into(),
            b"revision = 'a'\ndown_revision = None\ndef f(:\n    pass\ny = '\xff'\n".to_vec(),
        );
        assert_eq!(m.problems.len(), 2, "{:?}", m.problems);
    }

    #[test]
    fn a_coding_declaration_accepts_non_utf8_bytes() {
        let m = parse_source(
            "m.py".into(),
            b"# -*- coding: latin-1 -*-\nrevision = 'a'\ndown_revision = None\nx = 'caf\xe9'\n"
                .to_vec(),
        );
        assert!(m.problems.is_empty(), "{:?}", m.problems);
        let m = parse_source(
            "m.py".into(),
            b"#!/usr/bin/env python\n# vim: set fileencoding=cp1252 :\nrevision = 'a'\ndown_revision = None\nx = '\x80'\n"
                .to_vec(),
        );
        assert!(m.problems.is_empty(), "{:?}", m.problems);
        // utf-8 declared, or the cookie below code: still rejected
        for src in [
            &b"# coding: utf-8\nrevision = 'a\xe9'\ndown_revision = None\n"[..],
            &b"revision = 'a\xe9'\n# coding: latin-1\ndown_revision = None\n"[..],
        ] {
            let m = parse_source("m.py".into(), src.to_vec());
            assert!(
                m.problems[0].message.starts_with("invalid UTF-8"),
                "{:?}",
                m.problems
            );
        }
    }

    #[test]
    fn suppressions_are_collected() {
        let m = parse(
            "revision = 'a'  # migverify: ignore[MV001]\ndown_revision = None\n# migverify: ignore-file\n",
        );
        assert_eq!(m.suppressions.items.len(), 2);
        assert_eq!(m.suppressions.items[0].rules[0].value, "MV001");
        assert!(m.suppressions.items[1].file_level);
    }

    use super::test_corpus as corpus;

    /// Skipping subtrees must not change what is extracted.
    #[test]
    fn pruned_walk_extracts_the_same() {
        let mut sources: Vec<String> = corpus::generate(120, 7)
            .files
            .into_iter()
            .map(|f| f.text)
            .collect();
        sources.extend(
            [
                GENERIC,
                "revision = 'a'\ndown_revision = None\ndef upgrade():\n    op.execute((f(x)))  # migverify: ignore[MV001]\n",
                "revision = 'a'\ndown_revision = None\ndef upgrade():\n    op.add_column('t', [\n        # migverify: ignore[MV002]\n        1,\n    ])\n",
                "revision = 'a'\ndown_revision = None\ndef upgrade():\n    x = f\"{op.execute('y')}\"\n    (op.drop_table)('t')\n",
                "revision = 'a'\ndown_revision = None\ndef upgrade(:\n    op.drop_table('t'\n    op.create_table('u')\n",
                "revision = 'a'\ndown_revision = None\ndef upgrade():\n    with op.batch_alter_table('t') as b:\n        b.drop_column('c')  # migverify: ignore\n        b.add_column(sa.Column('d', sa.Integer()))\n",
                "revision = 'a'\ndown_revision = None\nx = [[[('a', g(b))]]]\ndef downgrade():\n    op.execute(op.inline_literal('x'))\n",
            ]
            .map(String::from),
        );
        for src in sources {
            let mut pruned = extract("m.py".into(), src.as_bytes().to_vec(), true, true, None);
            let full = extract("m.py".into(), src.as_bytes().to_vec(), false, true, None);
            assert_eq!(format!("{pruned:?}"), format!("{full:?}"), "{src}");
            // Without ops: the same model, `ops` empty.
            let lean = extract("m.py".into(), src.as_bytes().to_vec(), true, false, None);
            assert!(lean.ops.is_empty());
            pruned.ops.clear();
            assert_eq!(format!("{lean:?}"), format!("{pruned:?}"), "{src}");
        }
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let deep = |inner: String| {
            parse(&format!(
                "revision = 'a'\ndown_revision = None\ndef upgrade():\n    op.execute({inner})\n"
            ))
        };
        // CPython refuses more than 200 open brackets: such a file is not parsed.
        let m = deep(format!("{}1{}", "(".repeat(5000), ")".repeat(5000)));
        assert_eq!(
            m.problems[0].message,
            "Python syntax error at 4:215: too many nested parentheses"
        );
        assert_eq!(
            deep(format!("{}1{}", "(".repeat(199), ")".repeat(199)))
                .ops
                .len(),
            1
        );
        // 5,000 minus signs nest as deep without a bracket.
        let m = deep(format!("{}1", "-".repeat(5000)));
        assert!(m.problems.is_empty(), "{:?}", m.problems);
        assert_eq!(m.ops.len(), 1);
    }

    /// 8,000 parentheses around a `revision` value, read without recursion (the
    /// bracket limit also keeps such files from the parser; this holds without it).
    #[test]
    fn a_deeply_parenthesized_literal_is_read_iteratively() {
        let depth = 8000;
        let text = format!("x = {}'ab'{}\n", "(".repeat(depth), ")".repeat(depth));
        // Parsed without the bracket limit, which refuses it before the parser.
        let tree = parse_bounded(&text).unwrap();
        let value = tree
            .root_node()
            .named_child(0)
            .unwrap()
            .named_child(0)
            .unwrap();
        let value = field(value, "right").unwrap();
        assert_eq!(
            string_literal(value, &text[value.byte_range()]).as_deref(),
            Some("ab")
        );
    }

    /// Python's escapes; literals Python reads as different strings stay different.
    #[test]
    fn escapes_decode_as_python_reads_them() {
        let lit = |body: &str| unescape(body);
        assert_ne!(lit(r"s\ud800x"), lit(r"s\\ud800x"));
        assert_ne!(lit(r"s\ud800x"), lit("s\u{FFFF}d800x"));
        assert_ne!(lit(r"\N{DIGIT ONE}"), lit(r"\\N{DIGIT ONE}"));
        assert_ne!(lit(r"a\a"), lit(r"a\\a"));
        assert_eq!(lit(r"\101\x41\u0041\U00000041"), "AAAA");
        assert_eq!(lit(r"\0\012\a\b\f\v"), "\0\n\x07\x08\x0c\x0b");
        // Unknown escapes keep their backslash, as in Python: `"\q" == "\\q"`.
        assert_eq!(lit(r"\q"), lit(r"\\q"));
        assert_eq!(lit(r"\ud83d\ude00"), lit(r"\ud83d\ude00"));
        assert_ne!(lit(r"\ud83d\ude00"), "\u{1F600}");
    }
}
