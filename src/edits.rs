//! The data of a fix (`check --fix`): the code a rule plans to write and, once the
//! engine has fitted the plan to the file, the edits. Plain data, so a finding can
//! carry it; [`crate::fix`] builds, fits, applies and writes fixes.

/// A replacement of `start..end` (byte offsets into the file's decoded text).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edit {
    pub start: usize,
    pub end: usize,
    pub content: String,
}

/// A piece of generated Python: code as is, or a string literal to quote in the
/// file's style.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Str(String),
}

/// One generated line: its nesting below the function body (1 inside a batch
/// block), whether it continues a call the way Alembic indents `alter_column`'s
/// keywords (11 spaces past the body, whatever the nesting), and its code (empty:
/// a blank line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub depth: usize,
    pub continuation: bool,
    pub code: Vec<Piece>,
}

/// Where the generated body goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// Into `downgrade()` (def on `def_line`, last line `end_line`), in place of its
    /// no-op statements (`pass`, `...`, bare `return`) and autogenerate's markers;
    /// its docstring and other comments stay.
    Body { def_line: usize, end_line: usize },
    /// A new `def downgrade()` after `upgrade()` (def on `def_line`, last line
    /// `end_line`).
    After { def_line: usize, end_line: usize },
}

/// The code a fix writes, independent of the file's formatting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub target: Target,
    /// The statements, without the function body's indentation.
    pub lines: Vec<Line>,
    /// Names the code binds itself (batch aliases): not looked for in the file.
    pub locals: Vec<String>,
}

/// A fix attached to a finding: what it does, the plan, and (once resolved
/// against the file's text by the engine) the edits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fix {
    /// `generate downgrade() from upgrade()`.
    pub title: String,
    pub plan: Plan,
    /// Empty until resolved ([`crate::fix::resolve`]).
    pub edits: Vec<Edit>,
}
