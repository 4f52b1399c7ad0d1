use std::borrow::Cow;

use super::{Context, Input, Rule, RuleMeta, RuleSource};
use crate::diagnostic::{Finding, Severity};

pub struct MissingUpgrade;

static META: RuleMeta = RuleMeta {
    code: Cow::Borrowed("MV004"),
    name: Cow::Borrowed("missing-upgrade"),
    severity: Severity::Error,
    enabled_by_default: true,
    inputs: &[Input::Migrations],
    summary: Cow::Borrowed("The migration has no top-level `def upgrade`"),
    doc: Cow::Borrowed(
        r#"## What it does
Finds migration modules without a top-level `upgrade()` function.

## Why is this bad?
`alembic upgrade` calls `upgrade()` on every pending migration; a module without one
stops the deploy with an `AttributeError`. It is usually a half-written file or a
function renamed by mistake (`def upgrades()`, `def upgrade_v2()`).

## Example
```python
revision = "1a2b3c4d5e6f"
down_revision = "0f9e8d7c6b5a"

def upgrade_schema() -> None:
    op.create_table("users", sa.Column("id", sa.Integer, primary_key=True))
```

## Use instead
```python
def upgrade() -> None:
    op.create_table("users", sa.Column("id", sa.Integer, primary_key=True))
```
"#,
    ),
    source: RuleSource::Builtin,
};

impl Rule for MissingUpgrade {
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
            .filter(|m| m.problems.is_empty() && m.upgrade.is_none())
        {
            out.push(
                Finding::new(
                    &m.path,
                    m.anchor(),
                    "the migration has no `upgrade()` function",
                )
                .with_help("add `def upgrade() -> None:` with the migration's operations"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{lint_fires, lint_ok, mig};

    #[test]
    fn fires_without_upgrade() {
        let src = "revision = 'a'\ndown_revision = None\ndef upgrade_schema():\n    op.f()\ndef downgrade():\n    pass\n";
        lint_fires(&MissingUpgrade, &[("a.py", src)], 1);
    }

    #[test]
    fn silent_with_upgrade() {
        lint_ok(
            &MissingUpgrade,
            &[("a.py", &mig("a", "None", "pass", "pass"))],
        );
        // decorated functions count
        let src = "revision = 'a'\ndown_revision = None\n@deco\ndef upgrade():\n    op.f()\n";
        lint_ok(&MissingUpgrade, &[("a.py", src)]);
    }
}
