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
    summary: Cow::Borrowed("`down_revision` (or `depends_on`) links form a cycle"),
    doc: Cow::Borrowed(
        r#"## What it does
Finds revisions whose `down_revision` links lead back to themselves, including a
migration that names itself. The message lists the cycle in order (a cycle of more
than 20 revisions by its first and last ten); every file in it gets a diagnostic.

It also finds cycles that a `depends_on` link closes (a migration that depends on a
later one, or on itself), which Alembic refuses as well ("Dependency cycle is
detected in revisions"); the diagnostic then points at the `depends_on` value. This
goes beyond the rule catalog, which names `down_revision` cycles only.

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

A `depends_on` cycle:
```python
# a.py
revision = "a"
down_revision = None
depends_on = "b"     # b comes after a
# b.py
revision = "b"
down_revision = "a"
```

## Use instead
Remove a `depends_on` that names a later migration. For a `down_revision` cycle, decide which migration comes first and set its `down_revision` to the revision before
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
        for cycle in &ctx.graph.cycles {
            report(ctx, cycle, false, out);
        }
        for cycle in &ctx.graph.dependency_cycles {
            report(ctx, cycle, true, out);
        }
    }
}

/// One diagnostic per file of `cycle`; `dependency`: a cycle that a `depends_on`
/// link closes.
fn report(ctx: &Context<'_>, cycle: &[usize], dependency: bool, out: &mut Vec<Finding>) {
    let g = ctx.graph;
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
    let links = if dependency {
        "down_revision and depends_on links"
    } else {
        "down_revision links"
    };
    let message = match cycle.len() {
        1 if dependency => format!("revision `{}` depends on itself", g.revision(cycle[0])),
        1 => format!(
            "revision `{}` names itself as its down_revision",
            g.revision(cycle[0])
        ),
        n if n <= MAX_LISTED => format!("{links} form a cycle: {listed}"),
        n => format!("{links} form a cycle of {n} revisions: {listed}"),
    };
    let help = if dependency {
        "remove the `depends_on` entry that points forward: a migration can only depend on \
         revisions that come before it"
    } else {
        "set the `down_revision` of the earliest of these migrations to the revision before it"
    };
    // The assignment that links a member to the next one in the cycle.
    let mut member = vec![false; g.nodes.len()];
    for &n in cycle {
        member[n] = true;
    }
    let span_of = |n: usize| {
        let m = &ctx.migrations[g.nodes[n].migration];
        let by_dependency = dependency
            && g.nodes[n].dependencies.iter().any(|&d| member[d])
            && !g.nodes[n].parents.iter().any(|&p| member[p]);
        let link = if by_dependency {
            &m.depends_on
        } else {
            &m.down_revision
        };
        link.as_ref().map(|d| d.value_span).or(m.anchor())
    };
    for (i, &n) in cycle.iter().enumerate() {
        let m = &ctx.migrations[g.nodes[n].migration];
        let mut f = Finding::new(&m.path, span_of(n), message.clone()).with_help(help);
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
            f = f.with_related(
                &om.path,
                span_of(o),
                format!("`{}` is in the cycle", g.revision(o)),
            );
        }
        out.push(f);
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
    fn fires_on_cycles_a_depends_on_closes() {
        let a = mig("a", "None", "op.f()", "op.g()")
            .replace("branch_labels = None", "depends_on = 'c'");
        let b = mig("b", "'a'", "op.f()", "op.g()");
        let c = mig("c", "'b'", "op.f()", "op.g()");
        let found = lint_fires(
            &RevisionCycle,
            &[("a.py", &a), ("b.py", &b), ("c.py", &c)],
            3,
        );
        let m = &found[0].message;
        assert!(
            m.contains("depends_on links form a cycle: `a` → `c` → `b` → `a`"),
            "{m}"
        );
        // a's finding points at its depends_on value, the others at their down_revision.
        let at = |f: &Finding| f.location.span.map(|s| s.start_line);
        assert_eq!(
            at(&found[0]),
            Some(a.lines().position(|l| l.starts_with("depends_on")).unwrap() + 1)
        );
        assert_eq!(
            at(&found[1]),
            Some(
                b.lines()
                    .position(|l| l.starts_with("down_revision"))
                    .unwrap()
                    + 1
            )
        );

        let s = mig("s", "None", "op.f()", "op.g()")
            .replace("branch_labels = None", "depends_on = 's'");
        let found = lint_fires(&RevisionCycle, &[("s.py", &s)], 1);
        assert!(
            found[0].message.contains("depends on itself"),
            "{}",
            found[0].message
        );

        // A down_revision cycle is reported once, not again as a dependency cycle.
        let x =
            mig("x", "'y'", "op.f()", "op.g()").replace("branch_labels = None", "depends_on = 'y'");
        let y = mig("y", "'x'", "op.f()", "op.g()");
        let found = lint_fires(&RevisionCycle, &[("x.py", &x), ("y.py", &y)], 2);
        assert!(
            found[0].message.starts_with("down_revision links form"),
            "{}",
            found[0].message
        );
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
        // depends_on an earlier revision on another branch: no cycle.
        let c =
            mig("c", "'a'", "op.f()", "op.g()").replace("branch_labels = None", "depends_on = 'b'");
        lint_ok(&RevisionCycle, &[("a.py", &a), ("b.py", &b), ("c.py", &c)]);
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
