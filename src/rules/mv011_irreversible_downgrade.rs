use std::borrow::Cow;

use super::{Context, Input, Rule, RuleMeta, RuleSource};
use crate::diagnostic::{Finding, Severity};
use crate::migration::BodyKind;

pub struct IrreversibleDowngrade;

static META: RuleMeta = RuleMeta {
    code: Cow::Borrowed("MV011"),
    name: Cow::Borrowed("irreversible-downgrade"),
    severity: Severity::Info,
    enabled_by_default: true,
    inputs: &[Input::Migrations],
    summary: Cow::Borrowed(
        "`downgrade()` does nothing but raise: the migration cannot be reversed",
    ),
    doc: Cow::Borrowed(
        r#"## What it does
Reports migrations whose `downgrade()` only raises, such as
`raise NotImplementedError("cannot restore dropped data")`.

## Why is this bad?
It is not wrong: it is an explicit marker that the migration cannot be reversed. But a
release manager planning a rollback needs to know which migrations are one-way, so
migverify lists them as information.

## Example
```python
def downgrade() -> None:
    raise NotImplementedError("the legacy_orders data is gone")
```

## Use instead
Nothing, if the migration truly is one-way. Otherwise write the reverse operations.
Silence it per file with `# migverify: ignore[MV011]` on the `def downgrade` line.
"#,
    ),
    source: RuleSource::Builtin,
};

impl Rule for IrreversibleDowngrade {
    fn meta(&self) -> &RuleMeta {
        &META
    }

    fn reads_ops(&self) -> bool {
        false
    }

    fn check(&self, ctx: &Context<'_>, out: &mut Vec<Finding>) {
        for m in ctx.migrations.iter().filter(|m| m.problems.is_empty()) {
            if let Some(down) = m
                .downgrade
                .as_ref()
                .filter(|d| d.body == BodyKind::RaisesOnly)
            {
                out.push(Finding::new(
                    &m.path,
                    Some(down.name_span),
                    "`downgrade()` only raises: this migration cannot be reversed",
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{lint_fires, lint_ok, mig};

    #[test]
    fn fires_on_raise_only() {
        lint_fires(
            &IrreversibleDowngrade,
            &[(
                "a.py",
                &mig(
                    "a",
                    "None",
                    "op.f()",
                    "\"\"\"No.\"\"\"\n    raise NotImplementedError('x')",
                ),
            )],
            1,
        );
    }

    #[test]
    fn silent_when_it_does_something() {
        lint_ok(
            &IrreversibleDowngrade,
            &[(
                "a.py",
                &mig(
                    "a",
                    "None",
                    "op.f()",
                    "if x:\n        raise ValueError()\n    op.g()",
                ),
            )],
        );
        lint_ok(
            &IrreversibleDowngrade,
            &[("a.py", &mig("a", "None", "op.f()", "pass"))],
        );
    }
}
