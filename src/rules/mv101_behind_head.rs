use std::borrow::Cow;

use super::{Context, Input, Rule, RuleMeta, RuleSource};
use crate::diagnostic::{Finding, Severity};

pub struct BehindHead;

static META: RuleMeta = RuleMeta {
    code: Cow::Borrowed("MV101"),
    name: Cow::Borrowed("behind-head"),
    severity: Severity::Warning,
    enabled_by_default: true,
    inputs: &[Input::Migrations, Input::Database],
    summary: Cow::Borrowed(
        "The database's version table is not at the head(s): migrations are pending",
    ),
    doc: Cow::Borrowed(
        r#"## What it does
Compares the revisions in the database's version table (`alembic_version`) with the
migration files. Every migration that is not an ancestor of (or equal to) a revision in
the table, following `down_revision` and `depends_on`, is pending. The message lists each
pending migration in the order `alembic upgrade heads` would apply it, as
`revision (message)`, and says "no migrations have been applied" when the table is empty.
Forks and merge points are followed: a database at one branch of a fork has the other
branch and the merge pending.

The diagnostic is located at the first pending migration, with the others as related
locations. It does not fire when the table holds a revision no file declares (MV102
reports that; what is pending is then unknown) or when there is no version table (MV103).

## Why is this bad?
Code deployed against a database that lacks its migrations fails at run time: missing
columns, missing tables. The Python verification script this replaces printed the same
check as "database is behind".

## Example
```python
# versions/a1_create_users.py  -- applied: alembic_version holds 'a1'
revision = "a1"
down_revision = None

# versions/b2_add_email.py     -- pending
revision = "b2"
down_revision = "a1"
```

## Use instead
Apply the pending migrations (`alembic upgrade head`) before deploying, or point
migverify at the database the code will actually run against.
"#,
    ),
    source: RuleSource::Builtin,
};

impl Rule for BehindHead {
    fn meta(&self) -> &RuleMeta {
        &META
    }

    fn reads_ops(&self) -> bool {
        false
    }

    fn check(&self, ctx: &Context<'_>, out: &mut Vec<Finding>) {
        let (Some(snapshot), Some(pending)) = (ctx.snapshot, ctx.pending()) else {
            return;
        };
        if pending.is_empty() {
            return;
        }
        let g = ctx.graph;
        let describe = |n: usize| {
            let m = &ctx.migrations[g.nodes[n].migration];
            match m
                .message
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
            {
                Some(msg) => format!("{} ({msg})", g.revision(n)),
                None => g.revision(n).to_string(),
            }
        };
        let list: Vec<String> = pending.iter().map(|&n| describe(n)).collect();
        let count = if pending.len() == 1 {
            "1 pending migration".to_string()
        } else {
            format!("{} pending migrations", pending.len())
        };
        let current = snapshot.version_revisions();
        let message = if current.is_empty() {
            format!(
                "no migrations have been applied: {count}: {}",
                list.join(", ")
            )
        } else {
            let heads: Vec<String> = g
                .heads
                .iter()
                .map(|&h| format!("`{}`", g.revision(h)))
                .collect();
            let at: Vec<String> = current.iter().map(|r| format!("`{r}`")).collect();
            format!(
                "the database is at {}, not at the {} {}: {count}: {}",
                at.join(", "),
                if heads.len() == 1 { "head" } else { "heads" },
                heads.join(", "),
                list.join(", ")
            )
        };
        let first = &ctx.migrations[g.nodes[pending[0]].migration];
        let mut f = Finding::new(&first.path, first.anchor(), message)
            .with_help("apply them with `alembic upgrade heads`");
        for &n in &pending[1..] {
            let m = &ctx.migrations[g.nodes[n].migration];
            f = f.with_related(&m.path, m.anchor(), format!("pending: {}", describe(n)));
        }
        out.push(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{check_with_db, mig, snapshot};

    fn history() -> Vec<(&'static str, String)> {
        vec![
            ("a.py", mig("a", "None", "op.f()", "op.g()")),
            ("b.py", mig("b", "'a'", "op.f()", "op.g()")),
            ("c.py", mig("c", "'a'", "op.f()", "op.g()")),
            ("m.py", mig("m", "('b', 'c')", "pass", "pass")),
            ("n.py", mig("n", "'m'", "op.f()", "op.g()")),
        ]
    }

    fn run(revs: Option<&[&str]>) -> Vec<Finding> {
        let h = history();
        let files: Vec<(&str, &str)> = h.iter().map(|(n, s)| (*n, s.as_str())).collect();
        check_with_db(&BehindHead, &files, Some(&snapshot(revs)), None)
    }

    #[test]
    fn lists_pending_in_apply_order_across_a_fork_and_merge() {
        let found = run(Some(&["b"]));
        assert_eq!(found.len(), 1);
        let msg = &found[0].message;
        assert!(
            msg.ends_with("3 pending migrations: c (c), m (m), n (n)"),
            "{msg}"
        );
        assert!(msg.contains("at `b`, not at the head `n`"), "{msg}");
        assert_eq!(found[0].location.path, std::path::Path::new("c.py"));
        assert_eq!(found[0].related.len(), 2);
    }

    #[test]
    fn empty_table_says_nothing_applied() {
        let found = run(Some(&[]));
        assert_eq!(found.len(), 1);
        assert!(
            found[0]
                .message
                .starts_with("no migrations have been applied: 5 pending migrations: a (a), "),
            "{}",
            found[0].message
        );
    }

    #[test]
    fn two_current_revisions_on_both_branches() {
        let found = run(Some(&["b", "c"]));
        assert!(
            found[0]
                .message
                .ends_with("2 pending migrations: m (m), n (n)"),
            "{}",
            found[0].message
        );
    }

    #[test]
    fn depends_on_counts_as_applied() {
        let x = mig("x", "None", "op.f()", "op.g()")
            .replace("branch_labels = None", "branch_labels = ('x',)");
        let y = mig("y", "None", "op.f()", "op.g()").replace(
            "branch_labels = None",
            "branch_labels = ('y',)\ndepends_on = 'x'",
        );
        let found = check_with_db(
            &BehindHead,
            &[("x.py", &x), ("y.py", &y)],
            Some(&snapshot(Some(&["y"]))),
            None,
        );
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn silent_at_head_unknown_revision_or_no_table() {
        assert!(run(Some(&["n"])).is_empty());
        assert!(run(Some(&["deadbeef"])).is_empty());
        assert!(run(None).is_empty());
    }
}
