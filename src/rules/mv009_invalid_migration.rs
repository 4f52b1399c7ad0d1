use std::borrow::Cow;

use super::{Context, Input, Rule, RuleMeta, RuleSource};
use crate::diagnostic::{Finding, Severity};

pub struct InvalidMigration;

static META: RuleMeta = RuleMeta {
    code: Cow::Borrowed("MV009"),
    name: Cow::Borrowed("invalid-migration"),
    severity: Severity::Error,
    enabled_by_default: true,
    inputs: &[Input::Migrations],
    summary: Cow::Borrowed("A `.py` file in a version location cannot be read as a migration"),
    doc: Cow::Borrowed(
        r#"## What it does
Reports `.py` files in a version location that cannot be read as a migration:
- a Python syntax error (pointing at it), including the indentation CPython
  refuses: tabs and spaces mixed so that the width of a tab changes the blocks
  (`TabError`), an indent no block expects, a dedent to no open level, a block with
  nothing in it (`IndentationError`), and a statement that ends after `=` (an
  assignment whose value starts on the next line with no bracket or `\` to
  continue it); a bracket never closed, closed twice or closed by the wrong one
  gets CPython's message at the bracket (`'(' was never closed`); nesting
  CPython's tokenizer refuses, checked before the file is parsed: a 100th
  indentation level (`too many levels of indentation`) or a 201st open bracket
  (`too many nested parentheses`). These come from one pass of CPython's
  tokenizer rules over the file (logical lines, their indentation, brackets),
  checked against CPython itself (`tests/indentation_oracle.rs`). A continuation
  line's indentation does not matter to Python, nor to migverify, with one
  exception the parser imposes: a continuation line with no indentation at all,
  inside a block, after a token no closing bracket may follow and not starting
  with a string (`f(a=` or `n +`, then `1)` at column 0), is reported as a
  syntax error;
- bytes Python rejects: invalid UTF-8 in code or in a string literal (CPython accepts
  them inside comments, and so does migverify), or NUL bytes (a binary file);
- no top-level `revision` assignment, or no `down_revision` assignment;
- a `revision`, `down_revision`, `branch_labels` or `depends_on` that is a literal
  of a type Alembic cannot use: a number, a boolean, bytes, a dict or a set (alone
  or in a tuple/list). A value that is not a literal at all (`cli.EXPAND_BRANCH`,
  a constant, a call) is resolved statically, or reported by MV014
  unresolved-value, a warning: Alembic may well load it;
- a revision id, literal or resolved, that is empty;
- a revision id with a character Alembic refuses (`@`, `-`, `+`, `:`);
- a file that cannot be read at all (permissions), that is not a regular file, or
  that is larger than `[migrations] max_file_size` (default 16 MiB: "too large");
- a file the parser cannot finish within its bound ("too slow to parse"), or whose
  syntax tree is more than 10,000 levels deep while query rules are enabled (CPython
  refuses to compile such nesting too).

Files Alembic skips are skipped too: `__init__.py` (any name starting `__init__`),
names starting with `.#` (editor lock files), and anything not ending in `.py`.

## Why is this bad?
Alembic imports every file in its version locations; one broken file stops every
command (`upgrade`, `history`, `current`) for everyone.

## Example
```python
revision = "b1"
down_revision = 20240101   # a number, not a revision id
```

## Use instead
```python
revision = "b1"
down_revision = "a0"
```
"#,
    ),
    source: RuleSource::Builtin,
};

impl Rule for InvalidMigration {
    fn meta(&self) -> &RuleMeta {
        &META
    }

    fn reads_ops(&self) -> bool {
        false
    }

    fn check(&self, ctx: &Context<'_>, out: &mut Vec<Finding>) {
        for m in ctx.migrations {
            for p in &m.problems {
                out.push(Finding::new(&m.path, p.span, p.message.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{lint_fires, lint_ok, mig};

    #[test]
    fn fires_on_broken_files() {
        lint_fires(
            &InvalidMigration,
            &[("a.py", "revision = 'a'\ndown_revision = None\nx = (\n")],
            1,
        );
        lint_fires(&InvalidMigration, &[("a.py", "down_revision = None\n")], 1);
        lint_fires(
            &InvalidMigration,
            &[("a.py", "revision = 'a'\ndown_revision = 3\n")],
            1,
        );
    }

    #[test]
    fn silent_on_valid_files() {
        lint_ok(
            &InvalidMigration,
            &[("a.py", &mig("0001_initial", "None", "pass", "pass"))],
        );
    }
}
