use std::borrow::Cow;

use super::{Context, Input, Rule, RuleMeta, RuleSource};
use crate::diagnostic::{Finding, Severity};
use crate::migration::BodyKind;

pub struct EmptyUpgrade;

static META: RuleMeta = RuleMeta {
    code: Cow::Borrowed("MV005"),
    name: Cow::Borrowed("empty-upgrade"),
    severity: Severity::Warning,
    enabled_by_default: true,
    inputs: &[Input::Migrations],
    summary: Cow::Borrowed("`upgrade()` has no effect"),
    doc: Cow::Borrowed(
        r#"## What it does
Finds migrations whose `upgrade()` has no effect: only `pass`, `...`, string literals,
comments or a bare `return`. Merge migrations (whose `down_revision` names two or more
revisions) are expected to be empty and are left alone.

## Why is this bad?
An empty migration is usually an `alembic revision --autogenerate` that found nothing
(models not imported in `env.py`, a wrong `target_metadata`) or a file created and
never filled in. It still advances the version table, hiding that the intended schema
change never happened.

## Example
```python
def upgrade() -> None:
    pass

def downgrade() -> None:
    pass
```

## Use instead
Fill in the operations, or delete the file (and fix the `down_revision` of its successor).
"#,
    ),
    source: RuleSource::Builtin,
};

impl Rule for EmptyUpgrade {
    fn meta(&self) -> &RuleMeta {
        &META
    }

    fn reads_ops(&self) -> bool {
        false
    }

    fn check(&self, ctx: &Context<'_>, out: &mut Vec<Finding>) {
        for m in ctx
            .migrations
            .iter()
            .filter(|m| m.problems.is_empty() && !m.is_merge())
        {
            if let Some(up) = m.upgrade.as_ref().filter(|u| u.body == BodyKind::Empty) {
                out.push(
                    Finding::new(&m.path, Some(up.name_span), "`upgrade()` does nothing")
                        .with_help("add the migration's operations, or delete the file and relink its successor"),
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
    fn fires_on_empty_upgrade() {
        lint_fires(
            &EmptyUpgrade,
            &[("a.py", &mig("a", "None", "pass", "pass"))],
            1,
        );
        lint_fires(
            &EmptyUpgrade,
            &[(
                "a.py",
                &mig("a", "None", "\"\"\"Upgrade schema.\"\"\"", "op.f()"),
            )],
            1,
        );
    }

    #[test]
    fn must_not_fire() {
        lint_ok(
            &EmptyUpgrade,
            &[("a.py", &mig("a", "['b', 'c']", "pass", "pass"))],
        );
        lint_ok(
            &EmptyUpgrade,
            &[("a.py", &mig("a", "None", "op.f()", "pass"))],
        );
    }
}
