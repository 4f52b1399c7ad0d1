use std::borrow::Cow;

use super::{Context, Input, Rule, RuleMeta, RuleSource};
use crate::diagnostic::{Finding, Severity};

pub struct UnresolvedValue;

static META: RuleMeta = RuleMeta {
    code: Cow::Borrowed("MV014"),
    name: Cow::Borrowed("unresolved-value"),
    severity: Severity::Warning,
    enabled_by_default: true,
    inputs: &[Input::Migrations],
    summary: Cow::Borrowed(
        "A `revision`, `down_revision`, `branch_labels` or `depends_on` value cannot be resolved without running the file",
    ),
    doc: Cow::Borrowed(
        r#"## What it does
Reports a migration whose `revision`, `down_revision`, `branch_labels` or
`depends_on` is not a literal and could not be resolved statically: once per
file, naming each expression, why it could not be resolved and where the modules
were looked for.

migverify resolves, without importing anything, names bound at module level in
the same file before the assignment (`BRANCH = "expand"` then
`branch_labels = (BRANCH,)`), names imported from the project's own modules
(`from myproject.db.migration import cli` then `cli.EXPAND_BRANCH`,
`from a.b.c import NAME`, `import a.b.c as m` then `m.NAME`, re-exports and
`from x import *`), strings joined with `+`, and tuples or lists of these.
Modules are looked up below `[migrations] python_path`, the project root,
`src/`, Alembic's directory and the directories above the version locations
(see [how values are resolved](../configuration.md#how-identifier-values-are-resolved)).
Calls, f-strings, modules outside those directories (an installed package) and
names assigned inside `if` / `try` blocks are not followed.

The file stays in the revision graph with what is known (a label that resolved
is kept) and every other rule runs on it. Because the graph is then incomplete,
the rules that need all of it hold back where the missing value could change
their answer: MV006 while any `revision`, `down_revision` or `branch_labels`
is unresolved, MV007 for `down_revision` while any `revision` is unresolved and
for `depends_on` while any `revision` or `branch_labels` is unresolved. An
unresolved `down_revision` makes the file neither a base nor anyone's child.

A literal of the wrong type (`revision = 5`, bytes, a dict) is not this rule:
Alembic refuses it, and MV009 reports it.

## Why is this bad?
migverify cannot check what it cannot read: a branch label it does not know, a
parent it cannot link. Alembic itself runs the file and may well load it.

## Example
```python
from myproject.db.migration import cli   # not found below the search roots

revision = "3b1f0c2a9e4d"
down_revision = "kilo"
branch_labels = (cli.EXPAND_BRANCH,)
```

## Use instead
Write the value as a literal, or add the directory holding the module to the
search path:
```toml
# migverify.toml
[migrations]
python_path = ["lib"]   # lib/myproject/db/migration/cli.py
```
"#,
    ),
    source: RuleSource::Builtin,
};

impl Rule for UnresolvedValue {
    fn meta(&self) -> &RuleMeta {
        &META
    }

    fn reads_ops(&self) -> bool {
        false
    }

    fn check(&self, ctx: &Context<'_>, out: &mut Vec<Finding>) {
        for m in ctx.migrations.iter().filter(|m| m.problems.is_empty()) {
            let Some(first) = m.unresolved.first() else {
                continue;
            };
            let message = match m.unresolved.as_slice() {
                [u] => format!(
                    "cannot resolve `{}` in `{}` statically: {}",
                    u.expr,
                    u.field.name(),
                    u.reason
                ),
                all => {
                    let parts: Vec<String> = all
                        .iter()
                        .map(|u| format!("`{}` in `{}`: {}", u.expr, u.field.name(), u.reason))
                        .collect();
                    format!(
                        "cannot resolve {} values statically: {}",
                        parts.len(),
                        parts.join("; ")
                    )
                }
            };
            out.push(Finding::new(&m.path, Some(first.span), message).with_help(
                "write the value as a string literal, or add the directory the module is imported \
                 from (for an installed package, a checkout of it) to `[migrations] python_path` \
                 in migverify.toml",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{lint_fires, lint_ok, mig};

    #[test]
    fn fires_once_per_file() {
        let found = lint_fires(
            &UnresolvedValue,
            &[(
                "a.py",
                "from nowhere import cli\nrevision = 'a'\ndown_revision = get()\nbranch_labels = (cli.A, cli.B)\n",
            )],
            1,
        );
        let msg = &found[0].message;
        assert!(msg.starts_with("cannot resolve 3 values"), "{msg}");
        assert!(msg.contains("`get()` in `down_revision`"), "{msg}");
        assert!(msg.contains("module `nowhere` was not found"), "{msg}");
        assert_eq!(found[0].location.span.unwrap().start_line, 3);
    }

    #[test]
    fn silent_on_literals_and_resolved_names() {
        lint_ok(
            &UnresolvedValue,
            &[
                ("a.py", &mig("a", "None", "pass", "pass")),
                (
                    "b.py",
                    "L = 'expand'\nrevision = 'b'\ndown_revision = 'a'\nbranch_labels = (L,)\n",
                ),
            ],
        );
        // A broken file is MV009's, not this rule's.
        lint_ok(
            &UnresolvedValue,
            &[("c.py", "revision = 'c'\ndown_revision = x(\n")],
        );
    }
}
