use std::borrow::Cow;

use super::{Context, Input, Rule, RuleMeta, RuleSource};
use crate::diagnostic::{Finding, Severity};

pub struct UnknownDbRevision;

static META: RuleMeta = RuleMeta {
    code: Cow::Borrowed("MV102"),
    name: Cow::Borrowed("unknown-db-revision"),
    severity: Severity::Error,
    enabled_by_default: true,
    inputs: &[Input::Migrations, Input::Database],
    summary: Cow::Borrowed(
        "The database's version table holds a revision that no migration file declares",
    ),
    doc: Cow::Borrowed(
        r#"## What it does
Finds revisions in the database's version table (`alembic_version`) that no migration
file declares. One diagnostic per unknown revision, located at the config that names the
database (the `url` or `snapshot` value in `migverify.toml`, or the `sqlalchemy.url` line
of `alembic.ini`), else at the head migration.

## Why is this bad?
Alembic cannot upgrade or downgrade from a revision it does not know: `alembic upgrade
head` stops with "Can't locate revision identified by ...". It happens when a database
was migrated from another branch, or when an applied migration's file was deleted or had
its revision id edited.

## Example
```text
$ psql -c 'select version_num from alembic_version'
 version_num
-------------
 deadbeef        -- no file in versions/ has revision = "deadbeef"
```

## Use instead
Restore the missing migration file (check out the branch the database was migrated
from), or, when the schema matches a known revision, `alembic stamp <revision>`.
"#,
    ),
    source: RuleSource::Builtin,
};

impl Rule for UnknownDbRevision {
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
        if !snapshot.has_version_table() {
            return;
        }
        let loc = ctx.database_location();
        for rev in snapshot.version_revisions() {
            if ctx.graph.node(rev).is_some() {
                continue;
            }
            out.push(
                Finding::new(
                    loc.path.clone(),
                    loc.span,
                    format!(
                        "the database is at revision `{rev}`, which no migration file declares"
                    ),
                )
                .with_help(
                    "restore the missing migration file (was the database migrated from another \
                     branch?), or `alembic stamp` the database to a known revision",
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Location;
    use crate::rules::testing::{check_with_db, mig, snapshot};

    #[test]
    fn fires_per_unknown_revision_at_the_head_or_origin() {
        let a = mig("a", "None", "op.f()", "op.g()");
        let b = mig("b", "'a'", "op.f()", "op.g()");
        let files = [("a.py", a.as_str()), ("b.py", b.as_str())];
        let found = check_with_db(
            &UnknownDbRevision,
            &files,
            Some(&snapshot(Some(&["a", "deadbeef"]))),
            None,
        );
        assert_eq!(found.len(), 1);
        assert!(found[0].message.contains("`deadbeef`"));
        assert_eq!(found[0].location.path, std::path::Path::new("b.py"));

        let origin = Location {
            path: "migverify.toml".into(),
            span: None,
        };
        let found = check_with_db(
            &UnknownDbRevision,
            &files,
            Some(&snapshot(Some(&["x", "y"]))),
            Some(&origin),
        );
        assert_eq!(found.len(), 2);
        assert_eq!(found[1].location, origin);
    }

    #[test]
    fn silent_for_known_revisions_and_without_a_table() {
        let a = mig("a", "None", "op.f()", "op.g()");
        let files = [("a.py", a.as_str())];
        for revs in [Some(&["a"][..]), Some(&[][..]), None] {
            let found = check_with_db(&UnknownDbRevision, &files, Some(&snapshot(revs)), None);
            assert!(found.is_empty(), "{found:?}");
        }
    }
}
