use std::borrow::Cow;

use super::{Context, Input, Rule, RuleMeta, RuleSource};
use crate::diagnostic::{Finding, Severity};

pub struct RevisionCycle;

/// Cycles longer than this are listed by their ends, and each file's related
/// locations are its neighbours in the cycle only.
const MAX_LISTED: usize = 20;

static META: RuleMeta = RuleMeta {
    code: Cow::Borrowed("MV008"),
    name: Cow::Borrowed("revision-cycle"),
    severity: Severity::Error,
    enabled_by_default: true,
    inputs: &[Input::Migrations],
    summary: Cow::Borrowed("`down_revision` links form a cycle"),
    doc: Cow::Borrowed(
        r#"## What it does
Finds revisions whose `down_revision` links lead back to themselves, including a
migration that names itself. The message lists the cycle in order (a cycle of more
than 20 revisions by its first and last ten); every file in it gets a diagnostic.

## Why is this bad?
Alembic refuses to load the history ("Cycle is detected in revisions" or "Self-loop is
detected"), so no command works, not even `alembic history`. It happens when a
`down_revision` is edited by hand during a rebase.

## Example
```python
# a.py
revision = "a"
down_revision = "b"
# b.py
revision = "b"
down_revision = "a"
```

## Use instead
Decide which migration comes first and set its `down_revision` to the revision before
it (or `None` for the first migration).
"#,
    ),
    source: RuleSource::Builtin,
};

impl Rule for RevisionCycle {
    fn meta(&self) -> &RuleMeta {
        &META
    }

    fn reads_ops(&self) -> bool {
        false
    }

    fn check(&self, ctx: &Context<'_>, out: &mut Vec<Finding>) {
        let g = ctx.graph;
        for cycle in &g.cycles {
            let name = |i: usize| format!("`{}`", g.revision(cycle[i % cycle.len()]));
            // A long cycle is listed by its ends: every file gets the message, so
            // listing all of a 50,000-revision cycle in each would be quadratic.
            let listed = if cycle.len() <= MAX_LISTED {
                (0..=cycle.len()).map(name).collect::<Vec<_>>().join(" → ")
            } else {
                let head: Vec<String> = (0..MAX_LISTED / 2).map(name).collect();
                let tail: Vec<String> = (cycle.len() - MAX_LISTED / 2..=cycle.len())
                    .map(name)
                    .collect();
                format!(
                    "{} → … ({} more) → {}",
                    head.join(" → "),
                    cycle.len() - MAX_LISTED,
                    tail.join(" → ")
                )
            };
            let message = if cycle.len() == 1 {
                format!(
                    "revision `{}` names itself as its down_revision",
                    g.revision(cycle[0])
                )
            } else if cycle.len() <= MAX_LISTED {
                format!("down_revision links form a cycle: {listed}")
            } else {
                format!(
                    "down_revision links form a cycle of {} revisions: {listed}",
                    cycle.len()
                )
            };
            for (i, &n) in cycle.iter().enumerate() {
                let m = &ctx.migrations[g.nodes[n].migration];
                let span = m
                    .down_revision
                    .as_ref()
                    .map(|d| d.value_span)
                    .or(m.anchor());
                let mut f = Finding::new(&m.path, span, message.clone())
                    .with_help("set the `down_revision` of the earliest of these migrations to the revision before it");
                // Every other member of a short cycle; the neighbours in a long one.
                let others: Vec<usize> = if cycle.len() <= MAX_LISTED {
                    cycle.iter().copied().filter(|&o| o != n).collect()
                } else {
                    let next = cycle[(i + 1) % cycle.len()];
                    let prev = cycle[(i + cycle.len() - 1) % cycle.len()];
                    vec![next, prev]
                };
                for o in others {
                    let om = &ctx.migrations[g.nodes[o].migration];
                    let ospan = om
                        .down_revision
                        .as_ref()
                        .map(|d| d.value_span)
                        .or(om.anchor());
                    f = f.with_related(
                        &om.path,
                        ospan,
                        format!("`{}` is in the cycle", g.revision(o)),
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
    fn fires_on_cycles_and_self_loops() {
        let a = mig("a", "'c'", "op.f()", "op.g()");
        let b = mig("b", "'a'", "op.f()", "op.g()");
        let c = mig("c", "'b'", "op.f()", "op.g()");
        let found = lint_fires(
            &RevisionCycle,
            &[("a.py", &a), ("b.py", &b), ("c.py", &c)],
            3,
        );
        assert!(
            found[0].message.contains("`a` → `c` → `b` → `a`"),
            "{}",
            found[0].message
        );
        let s = mig("s", "'s'", "op.f()", "op.g()");
        let found = lint_fires(&RevisionCycle, &[("s.py", &s)], 1);
        assert!(found[0].message.contains("names itself"));
    }

    #[test]
    fn a_long_cycle_is_listed_by_its_ends() {
        let files: Vec<(String, String)> = (0..30)
            .map(|i| {
                (
                    format!("{i:02}.py"),
                    mig(
                        &format!("r{i}"),
                        &format!("'r{}'", (i + 1) % 30),
                        "op.f()",
                        "op.g()",
                    ),
                )
            })
            .collect();
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let found = lint_fires(&RevisionCycle, &refs, 30);
        let m = &found[0].message;
        assert!(m.contains("a cycle of 30 revisions: `r0` → `r1` →"), "{m}");
        assert!(m.contains("→ … (10 more) → "), "{m}");
        assert!(m.ends_with("→ `r29` → `r0`"), "{m}");
        assert!(found.iter().all(|f| f.related.len() == 2));
    }

    #[test]
    fn silent_on_a_dag_with_merges() {
        let a = mig("a", "None", "op.f()", "op.g()");
        let b = mig("b", "'a'", "op.f()", "op.g()");
        let c = mig("c", "'a'", "op.f()", "op.g()");
        let m = mig("m", "('b', 'c')", "pass", "pass");
        lint_ok(
            &RevisionCycle,
            &[("a.py", &a), ("b.py", &b), ("c.py", &c), ("m.py", &m)],
        );
    }

    #[test]
    fn a_long_chain_does_not_overflow() {
        let files: Vec<(String, String)> = (0..20_000)
            .map(|i| {
                let down = if i == 0 {
                    "None".to_string()
                } else {
                    format!("'r{}'", i - 1)
                };
                (
                    format!("{i:05}.py"),
                    format!("revision = 'r{i}'\ndown_revision = {down}\n"),
                )
            })
            .collect();
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        lint_ok(&RevisionCycle, &refs);
    }
}
