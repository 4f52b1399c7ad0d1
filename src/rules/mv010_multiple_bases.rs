use std::borrow::Cow;

use super::{Context, Input, Rule, RuleMeta, RuleSource};
use crate::diagnostic::{Finding, Severity};

pub struct MultipleBases;

static META: RuleMeta = RuleMeta {
    code: Cow::Borrowed("MV010"),
    name: Cow::Borrowed("multiple-bases"),
    severity: Severity::Warning,
    enabled_by_default: true,
    inputs: &[Input::Migrations],
    summary: Cow::Borrowed("More than one base, and at least one of them has no `branch_labels`"),
    doc: Cow::Borrowed(
        r#"## What it does
Finds histories with more than one base (`down_revision = None`) where at least one base
carries no `branch_labels`. One diagnostic per history: at the first unlabeled base,
with the other bases as related locations (the first 20; the message counts the rest).

## Why is this bad?
Several bases are legitimate only as Alembic's "multiple bases" layout: independent
histories, each labeled so that `alembic upgrade mybranch@head` can address it. An
unlabeled second base is almost always a migration whose `down_revision` was lost
(a copied template, a bad merge): it and its successors float free of the history.

## Example
```python
# versions/0001_initial.py
revision = "0001"
down_revision = None

# versions/0007_add_index.py
revision = "0007"
down_revision = None        # should be "0006"
```

## Use instead
Point `down_revision` at the revision the migration builds on, or, for a real
independent history, label each base: `branch_labels = ("billing",)`.
"#,
    ),
    source: RuleSource::Builtin,
};

impl Rule for MultipleBases {
    fn meta(&self) -> &RuleMeta {
        &META
    }

    fn reads_ops(&self) -> bool {
        false
    }

    fn check(&self, ctx: &Context<'_>, out: &mut Vec<Finding>) {
        let g = ctx.graph;
        if g.bases.len() < 2 {
            return;
        }
        let unlabeled: Vec<usize> = g
            .bases
            .iter()
            .copied()
            .filter(|&b| {
                ctx.migrations[g.nodes[b].migration]
                    .branch_labels()
                    .next()
                    .is_none()
            })
            .collect();
        // One problem (a history with unlabeled extra bases), one diagnostic.
        let Some(&b) = unlabeled
            .iter()
            .min_by_key(|&&b| &ctx.migrations[g.nodes[b].migration].path)
        else {
            return;
        };
        let names: Vec<&str> = g.bases.iter().map(|&o| g.revision(o)).collect();
        let m = &ctx.migrations[g.nodes[b].migration];
        let span = m.down_revision.as_ref().map(|d| d.statement).or(m.anchor());
        let without = if unlabeled.len() == 1 {
            format!("`{}` has no branch_labels", g.revision(b))
        } else {
            let ids: Vec<&str> = unlabeled.iter().map(|&u| g.revision(u)).collect();
            format!(
                "{} have no branch_labels",
                crate::diagnostic::list_bounded(&ids, crate::diagnostic::MAX_RELATED)
            )
        };
        let others: Vec<_> = g
            .bases
            .iter()
            .filter(|&&o| o != b)
            .map(|&o| {
                let om = &ctx.migrations[g.nodes[o].migration];
                (
                    om.path.clone(),
                    om.anchor(),
                    format!("base `{}`", g.revision(o)),
                )
            })
            .collect();
        out.push(
            Finding::new(
                &m.path,
                span,
                format!(
                    "{} bases ({}); {without}",
                    g.bases.len(),
                    crate::diagnostic::list_bounded(&names, crate::diagnostic::MAX_RELATED),
                ),
            )
            .with_help("point `down_revision` at the revision this builds on, or give each independent base `branch_labels`")
            .with_related_all(others),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{lint_fires, lint_ok, mig};

    #[test]
    fn fires_for_unlabeled_bases() {
        let a = mig("a", "None", "op.f()", "op.g()");
        let b = mig("b", "None", "op.f()", "op.g()");
        let found = lint_fires(&MultipleBases, &[("a.py", &a), ("b.py", &b)], 1);
        assert_eq!(
            found[0].message,
            "2 bases (`a`, `b`); `a`, `b` have no branch_labels"
        );
        assert_eq!(found[0].related.len(), 1);
        let c = mig("c", "None", "op.f()", "op.g()")
            .replace("branch_labels = None", "branch_labels = 'c'");
        lint_fires(&MultipleBases, &[("a.py", &a), ("c.py", &c)], 1);
    }

    #[test]
    fn silent_when_every_base_is_labeled_or_single() {
        let a = mig("a", "None", "op.f()", "op.g()")
            .replace("branch_labels = None", "branch_labels = ['a']");
        let c = mig("c", "None", "op.f()", "op.g()")
            .replace("branch_labels = None", "branch_labels = 'c'");
        lint_ok(&MultipleBases, &[("a.py", &a), ("c.py", &c)]);
        lint_ok(
            &MultipleBases,
            &[("x.py", &mig("x", "None", "op.f()", "op.g()"))],
        );
    }
}
