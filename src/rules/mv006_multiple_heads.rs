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
    summary: Cow::Borrowed(
        "Two or more heads on the same branch: a fork that no merge migration joins",
    ),
    doc: Cow::Borrowed(
        r#"## What it does
Finds heads (revisions no other migration names in `down_revision`) that are on the
same branch: a fork in the history that no merge migration joins. One diagnostic per
fork, at its first head; the other heads and the revision(s) where they fork are
related locations.

A branch is what Alembic means by one: two heads are on the same branch when they
belong to one connected history (they share an ancestor through `down_revision`
links) and carry the same *effective* branch labels, or none. The effective labels
of a revision are the ones Alembic's `Script.branch_labels` reports:

- the labels it declares in `branch_labels`;
- the effective labels of every revision it descends from through `down_revision`
  (not `depends_on`): a label applies to all descendants of the revision that
  declares it;
- when a labeled revision and everything after it form a plain chain up to a head
  (each revision with one `down_revision` and one successor), Alembic also applies
  the labels *down* that chain to the revision just above the branch point, merge
  point or base below it: labeling any revision of a branch labels the whole branch.
  (A revision named by two or more `down_revision` or `depends_on` entries is a
  branch point here.)

Heads whose effective labels differ are separate branches and are not reported:
separately labeled bases (Alembic's "multiple bases" layout) or labeled branches that
start from one revision (the expand/contract layout). Alembic upgrades those with
`alembic upgrade heads` or `alembic upgrade <label>@head`; a label names one head
exactly when one head carries it. Unlabeled heads of two unconnected histories are not
reported here either: that is MV010 (multiple-bases).

## Why is this bad?
`alembic upgrade head` refuses to run with "Multiple head revisions are present", so
the deploy stops, and no branch label tells the two heads apart (`<label>@head` names
both). It happens when two branches each add a migration on the same parent and both
are merged into the main branch.

## Example
```python
# versions/b_add_email.py
revision = "b1"
down_revision = "a0"

# versions/c_add_phone.py
revision = "c1"
down_revision = "a0"        # also builds on a0: two heads, b1 and c1
```

Not a fork (two labeled branches from one revision, the expand/contract layout):
```python
# versions/e1_expand.py
revision = "e1"
down_revision = "a0"
branch_labels = ("expand",)

# versions/k1_contract.py
revision = "k1"
down_revision = "a0"
branch_labels = ("contract",)
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
        // A branch, as Alembic sees it: the heads of one connected history that
        // carry the same effective branch labels (or none).
        let comp = g.components();
        let mut groups: BTreeMap<(usize, usize), Vec<usize>> = BTreeMap::new();
        for &h in &g.heads {
            groups
                .entry((comp[h], g.effective_label_set(h)))
                .or_default()
                .push(h);
        }
        let mut forks: Vec<&Vec<usize>> = groups.values().filter(|h| h.len() >= 2).collect();
        forks.sort_by_key(|heads| heads[0]);
        for heads in forks {
            let points = g.fork_points(heads);
            let head_list: Vec<String> = heads
                .iter()
                .map(|&h| format!("`{}`", g.revision(h)))
                .collect();
            let fork_list: Vec<String> = points
                .iter()
                .map(|&f| format!("`{}`", g.revision(f)))
                .collect();
            let labels = g.effective_labels(heads[0]);
            let mut message = format!(
                "{} heads that no merge joins: {}",
                heads.len(),
                head_list.join(", ")
            );
            if !fork_list.is_empty() {
                message.push_str(&format!(" (they fork at {})", fork_list.join(", ")));
            }
            if !labels.is_empty() {
                let names: Vec<String> = labels.iter().map(|l| format!("`{l}`")).collect();
                message.push_str(&format!("; all on the branch labeled {}", names.join(", ")));
            }
            let first = &ctx.migrations[g.nodes[heads[0]].migration];
            let mut f = Finding::new(&first.path, first.anchor(), message).with_help(format!(
                "join them with `alembic merge {} -m \"merge heads\"`",
                heads
                    .iter()
                    .map(|&h| g.revision(h))
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
            for &other in &heads[1..] {
                let om = &ctx.migrations[g.nodes[other].migration];
                f = f.with_related(
                    &om.path,
                    om.anchor(),
                    format!("head `{}`", g.revision(other)),
                );
            }
            for &fork in &points {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{lint_fires, lint_ok, mig};

    /// A migration `rev` on `down` (a Python literal) declaring `labels` (a Python
    /// literal).
    fn labeled(rev: &str, down: &str, labels: &str) -> String {
        mig(rev, down, "op.f()", "op.g()")
            .replace("branch_labels = None", &format!("branch_labels = {labels}"))
    }

    #[test]
    fn one_finding_per_fork_at_one_head() {
        let a = mig("a", "None", "op.f()", "op.g()");
        let b = mig("b", "'a'", "op.f()", "op.g()");
        let c = mig("c", "'a'", "op.f()", "op.g()");
        let found = lint_fires(
            &MultipleHeads,
            &[("a.py", &a), ("b.py", &b), ("c.py", &c)],
            1,
        );
        assert_eq!(found[0].location.path, std::path::PathBuf::from("b.py"));
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
        let related: Vec<&str> = found[0]
            .related
            .iter()
            .map(|r| r.message.as_str())
            .collect();
        assert_eq!(related, ["head `c`", "the history forks at `a`"]);
    }

    #[test]
    fn labeled_branches_from_one_revision_are_not_a_fork() {
        // expand/contract: two labeled branches start at `a`, each with one head.
        let a = mig("a", "None", "op.f()", "op.g()");
        let e1 = labeled("e1", "'a'", "('expand',)");
        let e2 = mig("e2", "'e1'", "op.f()", "op.g()");
        let k1 = labeled("k1", "'a'", "('contract',)");
        let k2 = mig("k2", "'k1'", "op.f()", "op.g()");
        let files = [
            ("a.py", a.as_str()),
            ("e1.py", &e1),
            ("e2.py", &e2),
            ("k1.py", &k1),
            ("k2.py", &k2),
        ];
        lint_ok(&MultipleHeads, &files);
        // A label on one side only still tells the heads apart.
        lint_ok(
            &MultipleHeads,
            &files[..3]
                .iter()
                .chain(&files[4..])
                .copied()
                .collect::<Vec<_>>(),
        );
    }

    #[test]
    fn a_fork_inside_one_labeled_branch_fires() {
        // `x` labels the base, so both heads inherit it: the same branch.
        let a = labeled("a", "None", "'x'");
        let b = mig("b", "'a'", "op.f()", "op.g()");
        let c = mig("c", "'a'", "op.f()", "op.g()");
        let found = lint_fires(
            &MultipleHeads,
            &[("a.py", &a), ("b.py", &b), ("c.py", &c)],
            1,
        );
        assert!(
            found[0].message.contains("labeled `x`"),
            "{}",
            found[0].message
        );
        // A label added after the fork, on one side: the heads' sets differ.
        let d = labeled("d", "'c'", "'y'");
        lint_ok(
            &MultipleHeads,
            &[("a.py", &a), ("b.py", &b), ("c.py", &c), ("d.py", &d)],
        );
        // After a merge of two labeled branches, a fork carries both labels.
        let p = labeled("p", "'a'", "'p'");
        let q = labeled("q", "'a'", "'q'");
        let m = mig("m", "('p', 'q')", "pass", "pass");
        let m1 = mig("m1", "'m'", "op.f()", "op.g()");
        let m2 = mig("m2", "'m'", "op.f()", "op.g()");
        let found = lint_fires(
            &MultipleHeads,
            &[
                ("a.py", &a),
                ("p.py", &p),
                ("q.py", &q),
                ("m.py", &m),
                ("m1.py", &m1),
                ("m2.py", &m2),
            ],
            1,
        );
        assert!(
            found[0].message.contains("`m1`, `m2`"),
            "{}",
            found[0].message
        );
        assert!(
            found[0].message.contains("fork at `m`"),
            "{}",
            found[0].message
        );
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
