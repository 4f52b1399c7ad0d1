use std::borrow::Cow;

use super::{Context, Input, Rule, RuleMeta, RuleSource};
use crate::diagnostic::{Finding, Severity};

pub struct MissingDowngrade;

static META: RuleMeta = RuleMeta {
    code: Cow::Borrowed("MV002"),
    name: Cow::Borrowed("missing-downgrade"),
    severity: Severity::Error,
    enabled_by_default: true,
    inputs: &[Input::Migrations],
    summary: Cow::Borrowed("The migration has no top-level `def downgrade`"),
    doc: Cow::Borrowed(concat!(
        r#"## What it does
Finds migration modules without a top-level `downgrade()` function.

## Why is this bad?
`alembic downgrade` calls `downgrade()` on every migration it reverses; without one it
fails with an `AttributeError` halfway through a rollback, which is the worst moment to
find out. Even a migration that cannot be reversed should say so explicitly.

## Example
```python
revision = "1a2b3c4d5e6f"
down_revision = "0f9e8d7c6b5a"

def upgrade() -> None:
    op.add_column("users", sa.Column("email", sa.String(255)))
```

## Use instead
```python
def downgrade() -> None:
    op.drop_column("users", "email")
```
or, when the change truly cannot be undone, `raise NotImplementedError("...")`
(reported by MV011 as information).

"#,
        generated_downgrade_doc!()
    )),
    source: RuleSource::Builtin,
};

impl Rule for MissingDowngrade {
    fn meta(&self) -> &RuleMeta {
        &META
    }

    fn reads_ops(&self) -> bool {
        false
    }

    fn fix_title(&self) -> Option<&'static str> {
        Some(crate::fix::downgrade::TITLE)
    }

    fn attach_fixes(&self, ctx: &Context<'_>, findings: &mut [Finding]) {
        crate::fix::downgrade::attach(ctx, findings, true);
    }

    fn check(&self, ctx: &Context<'_>, out: &mut Vec<Finding>) {
        for m in ctx
            .migrations
            .iter()
            .filter(|m| m.problems.is_empty() && m.downgrade.is_none())
        {
            out.push(
                Finding::new(&m.path, m.anchor(), "the migration has no `downgrade()` function")
                    .with_help("add `def downgrade() -> None:` that reverses `upgrade()`, or raise NotImplementedError if it cannot be reversed"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{lint_fires, lint_ok, mig};

    #[test]
    fn fires_without_downgrade() {
        let src = "revision = 'a'\ndown_revision = None\ndef upgrade():\n    op.f()\n";
        lint_fires(&MissingDowngrade, &[("a.py", src)], 1);
    }

    #[test]
    fn silent_with_downgrade_even_empty() {
        lint_ok(
            &MissingDowngrade,
            &[("a.py", &mig("a", "None", "op.f()", "pass"))],
        );
        // a nested or method `downgrade` is not top level
        let src =
            "revision = 'a'\ndown_revision = None\ndef upgrade():\n    def downgrade(): pass\n";
        lint_fires(&MissingDowngrade, &[("a.py", src)], 1);
    }
}
