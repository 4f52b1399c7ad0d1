use std::borrow::Cow;

use super::{Context, Input, Rule, RuleMeta, RuleSource};
use crate::diagnostic::{Finding, Severity};
use crate::graph::LinkKind;

pub struct UnknownDownRevision;

static META: RuleMeta = RuleMeta {
    code: Cow::Borrowed("MV007"),
    name: Cow::Borrowed("unknown-down-revision"),
    severity: Severity::Error,
    enabled_by_default: true,
    inputs: &[Input::Migrations],
    summary: Cow::Borrowed(
        "A `down_revision` or `depends_on` entry names a revision no file declares",
    ),
    doc: Cow::Borrowed(
        r#"## What it does
Finds `down_revision` entries that name a revision no migration file declares, and
`depends_on` entries that name neither a revision nor a branch label.

## Why is this bad?
Alembic cannot place the migration in the history: it warns "Revision X referenced from
Y is not present" and then fails with a `KeyError` on every command. Typical causes are a
deleted or renamed migration, a typo, or a migration cherry-picked from another branch
without its parent.

## Example
```python
revision = "b1"
down_revision = "a0_typo"   # no file declares a0_typo
```

## Use instead
Point `down_revision` at the revision the migration really builds on (`alembic heads`
shows the current heads), or restore the missing file.
"#,
    ),
    source: RuleSource::Builtin,
};

impl Rule for UnknownDownRevision {
    fn meta(&self) -> &RuleMeta {
        &META
    }

    fn reads_ops(&self) -> bool {
        false
    }

    fn check(&self, ctx: &Context<'_>, out: &mut Vec<Finding>) {
        let g = ctx.graph;
        let mut budget = COMPARISON_BUDGET;
        // A name may be a revision id or label migverify could not resolve (MV014).
        use crate::migration::IdField;
        let unresolved = |f| ctx.migrations.iter().any(|m| m.is_unresolved(f));
        let unknown_revisions = unresolved(IdField::Revision);
        let unknown_labels = unresolved(IdField::BranchLabels);
        for d in &g.dangling {
            let held_back = match d.kind {
                LinkKind::DownRevision => unknown_revisions,
                LinkKind::DependsOn => unknown_revisions || unknown_labels,
            };
            if held_back {
                continue;
            }
            let m = &ctx.migrations[d.migration];
            let (list, what) = match d.kind {
                LinkKind::DownRevision => (&m.down_revision, "down_revision"),
                LinkKind::DependsOn => (&m.depends_on, "depends_on"),
            };
            let Some(item) = list.as_ref().and_then(|l| l.items.get(d.item)) else {
                continue;
            };
            let name = &item.value;
            let message = match d.kind {
                LinkKind::DownRevision => {
                    format!("`{what}` names `{name}`, which no migration file declares")
                }
                LinkKind::DependsOn => {
                    format!(
                        "`{what}` names `{name}`, which is neither a revision nor a branch label"
                    )
                }
            };
            let mut f = Finding::new(&m.path, Some(item.span), message);
            f = match suggest(g.nodes.iter().map(|n| n.revision.as_str()), name, &mut budget) {
                Some(s) => f.with_help(format!("did you mean `{s}`?")),
                None => f.with_help("point it at an existing revision (`alembic heads` lists the heads), or restore the missing file"),
            };
            out.push(f);
        }
    }
}

/// Ids longer than this (in bytes) are only compared by prefix: Jaro-Winkler is
/// quadratic in the length, and two 1 MB ids took over a minute.
const MAX_COMPARED_LEN: usize = 256;

/// How much similarity comparing one run may do, in compared byte pairs (the sum of
/// `len(a) * len(b)`, about a tenth of a second): thousands of dangling names
/// against thousands of revisions must not take minutes. Past it, names are only
/// compared by prefix.
const COMPARISON_BUDGET: usize = 50_000_000;

/// A declared revision that the dangling name is probably a typo or a prefix of;
/// `budget` is what is left of [`COMPARISON_BUDGET`].
fn suggest<'a>(
    revisions: impl Iterator<Item = &'a str>,
    name: &str,
    budget: &mut usize,
) -> Option<&'a str> {
    let mut best: Option<(f64, &str)> = None;
    for rev in revisions {
        let cost = rev.len().saturating_mul(name.len());
        let score = if rev.starts_with(name) || name.starts_with(rev) {
            0.95
        } else if rev.len() <= MAX_COMPARED_LEN && name.len() <= MAX_COMPARED_LEN && cost <= *budget
        {
            *budget -= cost;
            strsim::jaro_winkler(rev, name)
        } else {
            0.0
        };
        if score >= 0.9 && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, rev));
        }
    }
    best.map(|(_, r)| r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{lint_fires, lint_ok, mig};

    #[test]
    fn fires_on_dangling_links() {
        let a = mig("abcdef12", "None", "op.f()", "op.g()");
        let b = mig("b", "'abcdef13'", "op.f()", "op.g()");
        let found = lint_fires(&UnknownDownRevision, &[("a.py", &a), ("b.py", &b)], 1);
        assert_eq!(found[0].help.as_deref(), Some("did you mean `abcdef12`?"));

        let c = mig("c", "'abcdef12'", "op.f()", "op.g()")
            .replace("branch_labels = None", "depends_on = 'nolabel'");
        lint_fires(&UnknownDownRevision, &[("a.py", &a), ("c.py", &c)], 1);
    }

    #[test]
    fn long_ids_are_compared_by_prefix_only() {
        let long = "a".repeat(1 << 20);
        let other = format!("{}b", "a".repeat((1 << 20) - 1));
        let start = std::time::Instant::now();
        let mut budget = COMPARISON_BUDGET;
        assert_eq!(
            suggest([long.as_str()].into_iter(), &other, &mut budget),
            None
        );
        assert_eq!(
            suggest([long.as_str()].into_iter(), &long[..1000], &mut budget),
            Some(long.as_str())
        );
        // Short ids are compared until the budget is spent.
        let mut budget = 6 * 6;
        assert_eq!(
            suggest(["abcdef"].into_iter(), "abcdeg", &mut budget),
            Some("abcdef")
        );
        assert_eq!(suggest(["abcdef"].into_iter(), "abcdeg", &mut budget), None);
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn depends_on_may_name_a_label() {
        let a = mig("a", "None", "op.f()", "op.g()")
            .replace("branch_labels = None", "branch_labels = ('core',)");
        let b = mig("b", "None", "op.f()", "op.g()")
            .replace("branch_labels = None", "depends_on = 'core'");
        let c = mig("c", "'a'", "op.f()", "op.g()")
            .replace("branch_labels = None", "depends_on = ['b']");
        lint_ok(
            &UnknownDownRevision,
            &[("a.py", &a), ("b.py", &b), ("c.py", &c)],
        );
    }
}
