use std::borrow::Cow;

use super::{Context, Input, Rule, RuleMeta, RuleSource};
use crate::diagnostic::{Finding, Severity};
use crate::migration::BodyKind;

pub struct EmptyDowngrade;

static META: RuleMeta = RuleMeta {
    code: Cow::Borrowed("MV003"),
    name: Cow::Borrowed("empty-downgrade"),
    severity: Severity::Warning,
    enabled_by_default: true,
    inputs: &[Input::Migrations],
    summary: Cow::Borrowed("`downgrade()` does nothing while `upgrade()` changes the schema"),
    doc: Cow::Borrowed(concat!(
        r#"## What it does
Finds migrations whose `downgrade()` has no effect (its body is only `pass`, `...`,
string literals, comments or a bare `return`) while `upgrade()` does something.
Merge migrations, migrations whose `upgrade()` is empty too (see MV005) and downgrades
that only raise (see MV011) are left alone.

## Why is this bad?
A no-op downgrade lies: `alembic downgrade -1` reports success and moves the version
table back while the schema keeps the upgrade's changes. The next `upgrade` then fails
on a table or column that already exists, or data silently stays behind.

## Example
```python
def upgrade() -> None:
    op.add_column("users", sa.Column("email", sa.String(255)))

def downgrade() -> None:
    pass
```

## Use instead
```python
def downgrade() -> None:
    op.drop_column("users", "email")
```
or `raise NotImplementedError("dropping email loses data")` when it must not be reversed.

"#,
        generated_downgrade_doc!()
    )),
    source: RuleSource::Builtin,
};

impl Rule for EmptyDowngrade {
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
        crate::fix::downgrade::attach(ctx, findings, false);
    }

    fn check(&self, ctx: &Context<'_>, out: &mut Vec<Finding>) {
        for m in ctx
            .migrations
            .iter()
            .filter(|m| m.problems.is_empty() && !m.is_merge())
        {
            let (Some(up), Some(down)) = (&m.upgrade, &m.downgrade) else {
                continue;
            };
            if up.body == BodyKind::Effectful && down.body == BodyKind::Empty {
                out.push(
                    Finding::new(
                        &m.path,
                        Some(down.name_span),
                        "`downgrade()` does nothing, but `upgrade()` changes the schema",
                    )
                    .with_help("reverse the upgrade's operations here, or raise NotImplementedError if it cannot be undone"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{lint_fires, lint_ok, mig};

    #[test]
    fn fires_on_no_op_bodies() {
        for body in [
            "pass",
            "...",
            "\"\"\"nothing\"\"\"",
            "return",
            "# todo\n    pass",
        ] {
            lint_fires(
                &EmptyDowngrade,
                &[("a.py", &mig("a", "None", "op.f()", body))],
                1,
            );
        }
    }

    #[test]
    fn must_not_fire() {
        // upgrade empty too (MV005's business)
        lint_ok(
            &EmptyDowngrade,
            &[("a.py", &mig("a", "None", "pass", "pass"))],
        );
        // downgrade only raises (MV011)
        lint_ok(
            &EmptyDowngrade,
            &[(
                "a.py",
                &mig("a", "None", "op.f()", "raise NotImplementedError()"),
            )],
        );
        // merge migration
        lint_ok(
            &EmptyDowngrade,
            &[("a.py", &mig("a", "('b', 'c')", "op.f()", "pass"))],
        );
        // a real downgrade
        lint_ok(
            &EmptyDowngrade,
            &[("a.py", &mig("a", "None", "op.f()", "op.g()"))],
        );
    }
}
