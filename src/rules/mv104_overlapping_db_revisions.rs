use std::borrow::Cow;

use super::{Context, Input, Rule, RuleMeta, RuleSource};
use crate::diagnostic::{Finding, Severity};

pub struct OverlappingDbRevisions;

static META: RuleMeta = RuleMeta {
    code: Cow::Borrowed("MV104"),
    name: Cow::Borrowed("overlapping-db-revisions"),
    severity: Severity::Error,
    enabled_by_default: true,
    inputs: &[Input::Migrations, Input::Database],
    summary: Cow::Borrowed(
        "The database's version table holds a revision together with one of its ancestors",
    ),
    doc: Cow::Borrowed(
        r#"## What it does
Finds two rows of the database's version table (`alembic_version`) where one revision
is an ancestor of the other, through `down_revision` or `depends_on` links. One
diagnostic per such pair, located like MV102 at the config that names the database.

(Not in the original rule catalog: a migverify addition, numbered after the catalog's
database rules.)

## Why is this bad?
The version table holds one row per applied head. A revision and its own ancestor
cannot both be heads, so the table is corrupt, and Alembic refuses every upgrade from
it: `alembic upgrade head` stops with "Requested revision b1 overlaps with other
requested revisions a1". It happens after a hand-edited table, a `stamp` of the wrong
revision next to an existing row, or a restore that merged two tables.

## Example
```text
$ psql -c 'select version_num from alembic_version'
 version_num
-------------
 a1
 b1              -- b1's down_revision is a1
```

## Use instead
Delete the ancestor's row: once `b1` is applied, so is `a1`
(`DELETE FROM alembic_version WHERE version_num = 'a1'`), after checking that the
schema really is at `b1`; or `alembic stamp --purge b1` to rewrite the table.
"#,
    ),
    source: RuleSource::Builtin,
};

impl Rule for OverlappingDbRevisions {
    fn meta(&self) -> &RuleMeta {
        &META
    }

    fn reads_ops(&self) -> bool {
        false
    }

    fn check(&self, ctx: &Context<'_>, out: &mut Vec<Finding>) {
        let Some(snapshot) = ctx.snapshot else {
            return;
        };
        // Known revisions only (unknown ones are MV102), each once, in table order.
        let mut current: Vec<(&str, usize)> = Vec::new();
        for rev in snapshot.version_revisions() {
            if let Some(n) = ctx.graph.node(rev)
                && !current.iter().any(|&(_, m)| m == n)
            {
                current.push((rev, n));
            }
        }
        if current.len() < 2 {
            return;
        }
        let loc = ctx.database_location();
        for &(rev, n) in &current {
            let ancestors = ctx.graph.ancestors_with_dependencies(n);
            for &(older, m) in &current {
                if m == n || !ancestors[m] {
                    continue;
                }
                out.push(
                    Finding::new(
                        loc.path.clone(),
                        loc.span,
                        format!(
                            "the version table holds `{rev}` and its ancestor `{older}`: Alembic \
                             refuses to upgrade (\"Requested revision {rev} overlaps with other \
                             requested revisions {older}\")"
                        ),
                    )
                    .with_help(format!(
                        "`{older}` is applied before `{rev}`: delete its row (`DELETE FROM \
                         alembic_version WHERE version_num = '{older}'`) once the schema is \
                         checked to be at `{rev}`, or `alembic stamp --purge {rev}`"
                    )),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{check_with_db, mig, snapshot};

    fn files() -> Vec<(&'static str, String)> {
        vec![
            ("a.py", mig("a", "None", "op.f()", "op.g()")),
            ("b.py", mig("b", "'a'", "op.f()", "op.g()")),
            ("c.py", mig("c", "'a'", "op.f()", "op.g()")),
            ("d.py", mig("d", "'b'", "op.f()", "op.g()")),
            (
                "e.py",
                mig("e", "'a'", "op.f()", "op.g()")
                    .replace("branch_labels = None", "depends_on = 'c'"),
            ),
        ]
    }

    fn run(revs: &[&str]) -> Vec<Finding> {
        let files = files();
        let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
        check_with_db(
            &OverlappingDbRevisions,
            &files,
            Some(&snapshot(Some(revs))),
            None,
        )
    }

    #[test]
    fn fires_per_revision_and_ancestor() {
        let found = run(&["d", "a"]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].message.contains("`d` and its ancestor `a`"),
            "{}",
            found[0].message
        );
        // Three rows on one line: d over b, d over a, b over a.
        assert_eq!(run(&["a", "b", "d"]).len(), 3);
        // `depends_on` counts, as in Alembic's upgrade: e depends on c.
        let found = run(&["c", "e"]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].message.contains("`e` and its ancestor `c`"));
    }

    #[test]
    fn silent_for_branch_heads_one_row_and_unknown_revisions() {
        for revs in [
            &["b", "c"][..],
            &["d", "c"],
            &["d", "e"],
            &["d"],
            &[],
            &["d", "zz"],
            &["d", "d"],
        ] {
            assert!(run(revs).is_empty(), "{revs:?}");
        }
    }
}
