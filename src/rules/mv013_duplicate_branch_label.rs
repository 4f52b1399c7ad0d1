use std::borrow::Cow;

use super::{Context, Input, Rule, RuleMeta, RuleSource};
use crate::diagnostic::{Finding, Severity, Span};
use crate::migration::Migration;

pub struct DuplicateBranchLabel;

static META: RuleMeta = RuleMeta {
    code: Cow::Borrowed("MV013"),
    name: Cow::Borrowed("duplicate-branch-label"),
    severity: Severity::Error,
    enabled_by_default: true,
    inputs: &[Input::Migrations],
    summary: Cow::Borrowed("Two or more revisions declare the same branch label"),
    doc: Cow::Borrowed(
        r#"## What it does
Finds a branch label that more than one revision declares in its `branch_labels`. One
diagnostic per revision, at the label, with the other revisions as related locations.
A file reached twice (two version locations, a symlink) is one revision, not two.

(Not in the original rule catalog: a migverify addition, numbered after it.)

## Why is this bad?
A branch label names one branch, so Alembic refuses to load the history ("Branch name
'x' in revision c1 already used by revision d1"): every command fails, `alembic
history` included. It happens when a migration is copied to start a new branch, or
when two branches pick the same name.

## Example
```python
# c1_start_billing.py
revision = "c1"
down_revision = "a1"
branch_labels = ("billing",)
# d1_start_reports.py
revision = "d1"
down_revision = "b1"
branch_labels = ("billing",)
```

## Use instead
Give each branch its own label (`branch_labels = ("reports",)`) and update the
`depends_on` entries and commands (`alembic upgrade billing@head`) that use it.
"#,
    ),
    source: RuleSource::Builtin,
};

/// Where `m` declares `label`.
fn label_span(m: &Migration, label: &str) -> Option<Span> {
    m.branch_labels()
        .find(|l| l.value == label)
        .map(|l| l.span)
        .or(m.anchor())
}

impl Rule for DuplicateBranchLabel {
    fn meta(&self) -> &RuleMeta {
        &META
    }

    fn reads_ops(&self) -> bool {
        false
    }

    fn check(&self, ctx: &Context<'_>, out: &mut Vec<Finding>) {
        let g = ctx.graph;
        for (label, nodes) in &g.duplicate_labels {
            let revisions: Vec<&str> = nodes.iter().map(|&n| g.revision(n)).collect();
            // One problem (a label used twice), one diagnostic: at the first file.
            let Some(&n) = nodes
                .iter()
                .min_by_key(|&&n| &ctx.migrations[g.nodes[n].migration].path)
            else {
                continue;
            };
            let m = &ctx.migrations[g.nodes[n].migration];
            let others: Vec<_> = nodes
                .iter()
                .filter(|&&o| o != n)
                .map(|&o| {
                    let om = &ctx.migrations[g.nodes[o].migration];
                    (
                        om.path.clone(),
                        label_span(om, label),
                        format!("`{}` declares `{label}` too", g.revision(o)),
                    )
                })
                .collect();
            out.push(
                Finding::new(
                    &m.path,
                    label_span(m, label),
                    format!(
                        "branch label `{label}` is declared by {} revisions: {}",
                        nodes.len(),
                        crate::diagnostic::list_bounded(
                            &revisions,
                            crate::diagnostic::MAX_RELATED
                        )
                    ),
                )
                .with_help("give each branch its own label; Alembic refuses to load a history with a label used twice")
                .with_related_all(others),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{lint_fires, lint_ok, mig};

    fn labeled(rev: &str, down: &str, labels: &str) -> String {
        mig(rev, down, "op.f()", "op.g()")
            .replace("branch_labels = None", &format!("branch_labels = {labels}"))
    }

    #[test]
    fn fires_once_per_label_at_the_first_file() {
        let a = mig("a", "None", "op.f()", "op.g()");
        let c = labeled("c", "'a'", "('billing',)");
        let d = labeled("d", "'a'", "['reports', 'billing']");
        let found = lint_fires(
            &DuplicateBranchLabel,
            &[("a.py", &a), ("c.py", &c), ("d.py", &d)],
            1,
        );
        assert_eq!(
            found[0].message,
            "branch label `billing` is declared by 2 revisions: `c`, `d`"
        );
        assert_eq!(found[0].related.len(), 1);
        // The span is the label's string, not the whole tuple.
        let line = d
            .lines()
            .position(|l| l.starts_with("branch_labels"))
            .unwrap()
            + 1;
        let span = found[0].related[0].location.span.unwrap();
        assert_eq!(span.start_line, line);
        assert!(found[0].related[0].location.path.ends_with("d.py"));
        assert!(found[0].location.path.ends_with("c.py"));
    }

    #[test]
    fn silent_for_distinct_labels_and_a_label_repeated_in_one_file() {
        let a = labeled("a", "None", "'core'");
        let c = labeled("c", "'a'", "('billing', 'billing')");
        let d = labeled("d", "'a'", "'reports'");
        lint_ok(
            &DuplicateBranchLabel,
            &[("a.py", &a), ("c.py", &c), ("d.py", &d)],
        );
    }
}
