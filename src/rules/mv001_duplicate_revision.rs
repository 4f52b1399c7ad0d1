use std::borrow::Cow;

use super::{Context, Input, Rule, RuleMeta, RuleSource};
use crate::diagnostic::{Finding, Severity};

pub struct DuplicateRevision;

static META: RuleMeta = RuleMeta {
    code: Cow::Borrowed("MV001"),
    name: Cow::Borrowed("duplicate-revision"),
    severity: Severity::Error,
    enabled_by_default: true,
    inputs: &[Input::Migrations],
    summary: Cow::Borrowed("Two or more migration files declare the same revision id"),
    doc: Cow::Borrowed(
        r#"## What it does
Finds migration files that declare the same `revision` identifier. Each file gets a
diagnostic, with the other files as related locations.

## Why is this bad?
Alembic keys its revision map by id: it warns "Revision X is present more than once"
and silently keeps only one of the files. The other migration never runs, and any
`down_revision` pointing at the id may follow the wrong file. This usually comes from
copying a migration file or from two branches that generated migrations by hand.

## Example
```python
# versions/a_add_users.py
revision = "1a2b3c4d5e6f"
down_revision = "0f9e8d7c6b5a"

# versions/b_add_orders.py
revision = "1a2b3c4d5e6f"   # same id
down_revision = "0f9e8d7c6b5a"
```

## Use instead
Give one of the files a fresh id (`python -c "import uuid; print(uuid.uuid4().hex[:12])"`,
or regenerate it with `alembic revision`) and point its successors at the new id.
"#,
    ),
    source: RuleSource::Builtin,
};

impl Rule for DuplicateRevision {
    fn meta(&self) -> &RuleMeta {
        &META
    }

    fn reads_ops(&self) -> bool {
        false
    }

    fn check(&self, ctx: &Context<'_>, out: &mut Vec<Finding>) {
        for group in &ctx.graph.duplicates {
            for &i in group {
                let m = &ctx.migrations[i];
                let rev = m.revision_id().unwrap_or_default();
                let mut f = Finding::new(
                    &m.path,
                    m.anchor(),
                    format!("revision `{rev}` is declared by {} files", group.len()),
                )
                .with_help(
                    "give one of the files a new revision id and point its successors at it",
                );
                for &j in group.iter().filter(|&&j| j != i) {
                    let other = &ctx.migrations[j];
                    f = f.with_related(
                        &other.path,
                        other.anchor(),
                        format!("`{rev}` is also declared here"),
                    );
                }
                out.push(f);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{lint_fires, lint_ok, mig};

    #[test]
    fn fires_once_per_file_with_related() {
        let a = mig("abc", "None", "op.f()", "pass");
        let b = mig("abc", "None", "op.g()", "pass");
        let found = lint_fires(&DuplicateRevision, &[("a.py", &a), ("b.py", &b)], 2);
        assert_eq!(found[0].related.len(), 1);
        assert!(found[0].message.contains("`abc`"));
    }

    #[test]
    fn distinct_revisions_are_fine() {
        let a = mig("abc", "None", "op.f()", "pass");
        let b = mig("def", "'abc'", "op.g()", "pass");
        lint_ok(&DuplicateRevision, &[("a.py", &a), ("b.py", &b)]);
    }
}
