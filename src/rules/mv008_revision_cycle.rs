use std::borrow::Cow;

use super::{Context, Input, Rule, RuleMeta, RuleSource};
use crate::diagnostic::{Finding, Severity};

pub struct RevisionCycle;

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
migration that names itself. The message lists the cycle in order; every file in it
gets a diagnostic.

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
            let mut names: Vec<String> = cycle
                .iter()
                .map(|&n| format!("`{}`", g.revision(n)))
                .collect();
            names.push(format!("`{}`", g.revision(cycle[0])));
            let message = if cycle.len() == 1 {
                format!(
                    "revision `{}` names itself as its down_revision",
                    g.revision(cycle[0])
                )
            } else {
                format!("down_revision links form a cycle: {}", names.join(" → "))
            };
            for &n in cycle {
                let m = &ctx.migrations[g.nodes[n].migration];
                let span = m
                    .down_revision
                    .as_ref()
                    .map(|d| d.value_span)
                    .or(m.anchor());
                let mut f = Finding::new(&m.path, span, message.clone())
                    .with_help("set the `down_revision` of the earliest of these migrations to the revision before it");
                for &o in cycle.iter().filter(|&&o| o != n) {
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
