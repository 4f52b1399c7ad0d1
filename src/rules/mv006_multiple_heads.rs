use std::borrow::Cow;
use std::collections::BTreeMap;

use super::{Context, Input, Rule, RuleMeta, RuleSource};
use crate::diagnostic::{Finding, Severity};

pub struct MultipleHeads;

static META: RuleMeta = RuleMeta {
    code: Cow::Borrowed("MV006"),
    name: Cow::Borrowed("multiple-heads"),
    severity: Severity::Error,
    enabled_by_default: true,
    inputs: &[Input::Migrations],
    summary: Cow::Borrowed("Two or more heads share a base: a fork that no merge migration joins"),
    doc: Cow::Borrowed(
        r#"## What it does
Finds heads (revisions no other migration builds on) that descend from a common base:
a fork in the history that no merge migration joins. One diagnostic per head file; the
message lists every head and the revision where they fork.

Heads that come from different bases each carrying `branch_labels` (Alembic's
"multiple bases" layout for independent histories) are not reported.

## Why is this bad?
`alembic upgrade head` refuses to run with "Multiple head revisions are present", so
the deploy stops. It happens when two branches each add a migration on the same parent
and both are merged into the main branch.

## Example
```python
# versions/b_add_email.py
revision = "b1"
down_revision = "a0"

# versions/c_add_phone.py
revision = "c1"
down_revision = "a0"        # also builds on a0: two heads, b1 and c1
```

## Use instead
Join them with a merge migration: `alembic merge heads -m "merge b1 and c1"`, or rebase
one migration onto the other by changing its `down_revision`.
"#,
    ),
    source: RuleSource::Builtin,
};

impl Rule for MultipleHeads {
    fn meta(&self) -> &RuleMeta {
        &META
    }

    fn reads_ops(&self) -> bool {
        false
    }

    fn check(&self, ctx: &Context<'_>, out: &mut Vec<Finding>) {
        let g = ctx.graph;
        if g.heads.len() < 2 {
            return;
        }
        // A revision, parent or label migverify could not resolve (MV014) may be
        // the link that joins these heads: no guess.
        use crate::migration::IdField;
        if ctx.migrations.iter().any(|m| {
            [
                IdField::Revision,
                IdField::DownRevision,
                IdField::BranchLabels,
            ]
            .into_iter()
            .any(|f| m.is_unresolved(f))
        }) {
            return;
        }
        let comp = g.components();
        let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for &h in &g.heads {
            groups.entry(comp[h]).or_default().push(h);
        }
        for heads in groups.values().filter(|h| h.len() >= 2) {
            let forks = g.fork_points(heads);
            let head_list: Vec<String> = heads
                .iter()
                .map(|&h| format!("`{}`", g.revision(h)))
                .collect();
            let fork_list: Vec<String> = forks
                .iter()
                .map(|&f| format!("`{}`", g.revision(f)))
                .collect();
            let message = if fork_list.is_empty() {
                format!(
                    "{} heads that no merge joins: {}",
                    heads.len(),
                    head_list.join(", ")
                )
            } else {
                format!(
                    "{} heads that no merge joins: {} (they fork at {})",
                    heads.len(),
                    head_list.join(", "),
                    fork_list.join(", ")
                )
            };
            for &h in heads {
                let m = &ctx.migrations[g.nodes[h].migration];
                let mut f = Finding::new(&m.path, m.anchor(), message.clone()).with_help(format!(
                    "join them with `alembic merge {} -m \"merge heads\"`",
                    heads
                        .iter()
                        .map(|&h| g.revision(h))
                        .collect::<Vec<_>>()
                        .join(" ")
                ));
                for &other in heads.iter().filter(|&&o| o != h) {
                    let om = &ctx.migrations[g.nodes[other].migration];
                    f = f.with_related(
                        &om.path,
                        om.anchor(),
                        format!("head `{}`", g.revision(other)),
                    );
                }
                for &fork in &forks {
                    let fm = &ctx.migrations[g.nodes[fork].migration];
                    f = f.with_related(
                        &fm.path,
                        fm.anchor(),
                        format!("the history forks at `{}`", g.revision(fork)),
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
    fn fires_for_each_head_of_a_fork() {
        let a = mig("a", "None", "op.f()", "op.g()");
        let b = mig("b", "'a'", "op.f()", "op.g()");
        let c = mig("c", "'a'", "op.f()", "op.g()");
        let found = lint_fires(
            &MultipleHeads,
            &[("a.py", &a), ("b.py", &b), ("c.py", &c)],
            2,
        );
        assert!(
            found[0].message.contains("`b`, `c`"),
            "{}",
            found[0].message
        );
        assert!(
            found[0].message.contains("fork at `a`"),
            "{}",
            found[0].message
        );
        assert_eq!(found[0].related.len(), 2);
    }

    #[test]
    fn silent_after_merge_and_for_labeled_bases() {
        let a = mig("a", "None", "op.f()", "op.g()");
        let b = mig("b", "'a'", "op.f()", "op.g()");
        let c = mig("c", "'a'", "op.f()", "op.g()");
        let m = mig("m", "('b', 'c')", "pass", "pass");
        lint_ok(
            &MultipleHeads,
            &[("a.py", &a), ("b.py", &b), ("c.py", &c), ("m.py", &m)],
        );

        let x = mig("x", "None", "op.f()", "op.g()")
            .replace("branch_labels = None", "branch_labels = ('x',)");
        let y = mig("y", "None", "op.f()", "op.g()")
            .replace("branch_labels = None", "branch_labels = ('y',)");
        let y2 = mig("y2", "'y'", "op.f()", "op.g()");
        lint_ok(
            &MultipleHeads,
            &[("x.py", &x), ("y.py", &y), ("y2.py", &y2)],
        );
    }
}
