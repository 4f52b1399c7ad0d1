use std::borrow::Cow;

use super::{Context, Input, Rule, RuleMeta, RuleSource};
use crate::diagnostic::{Finding, Severity};
use crate::schema::replay::Replay;
use crate::schema::{Fold, Schema};

pub struct UpgradeConflict;

static META: RuleMeta = RuleMeta {
    code: Cow::Borrowed("MV204"),
    name: Cow::Borrowed("upgrade-conflict"),
    severity: Severity::Error,
    enabled_by_default: true,
    inputs: &[Input::Migrations, Input::Database],
    summary: Cow::Borrowed(
        "A pending migration would fail on the database: it creates what exists or changes what does not",
    ),
    doc: Cow::Borrowed(
        r#"## What it does
A dry run of `alembic upgrade head` without touching the database: starting from the
database's schema (live, read-only, or a snapshot), it replays the `upgrade()`
operations of every pending migration in the order Alembic would apply them, and
reports each operation that would fail: creating a table, column, index or constraint
that already exists; dropping, renaming or altering a table, column or index that does
not exist; an index or foreign key on a missing table or column. When raw SQL
(`op.execute`) in an earlier pending migration might explain it, the message says so.

## Why is this bad?
The deploy stops half way: on PostgreSQL the failing migration is rolled back but the
release is blocked; on MySQL, whose DDL is not transactional, the database is left
between two revisions.

## Example
```python
# pending migration; someone already added the column by hand
def upgrade():
    op.add_column("users", sa.Column("email", sa.String(120)))
```

## Use instead
Make the database match the revision it claims (see MV202), or make the migration
tolerate the state it will meet, then run `alembic upgrade head`.
"#,
    ),
    source: RuleSource::Builtin,
};

impl Rule for UpgradeConflict {
    fn meta(&self) -> &RuleMeta {
        &META
    }

    fn check(&self, ctx: &Context<'_>, out: &mut Vec<Finding>) {
        let Some(snapshot) = ctx.snapshot else {
            return;
        };
        let Some(pending) = ctx.pending() else {
            return;
        };
        let fold = Fold::for_dialect(Some(snapshot.dialect));
        let mut replay = Replay::new(Schema::from_snapshot(snapshot), fold);
        for n in pending {
            let m = &ctx.migrations[ctx.graph.nodes[n].migration];
            let before = replay.conflicts.len();
            // What the replay could not read before this migration's conflicts.
            let opaque_before = replay.schema.opaque.clone();
            replay.apply(m);
            for c in &replay.conflicts[before..] {
                let mut f = Finding::new(
                    c.location.path.clone(),
                    c.location.span,
                    format!(
                        "pending migration `{}` would fail: {}",
                        c.revision, c.message
                    ),
                )
                .with_help(
                    "the database does not match the revision it claims (see MV202): fix it, or \
                     change the migration, before `alembic upgrade`",
                );
                let bare = c.table.rsplit('.').next().unwrap_or(&c.table);
                super::drift::hedge(
                    &mut f,
                    opaque_before
                        .iter()
                        .filter(|o| o.table.as_deref().is_none_or(|t| fold.name_eq(t, bare))),
                );
                out.push(f);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::drift::testing::{Col, run, snapshot_of};

    const A1: &str = "revision = 'a1'\ndown_revision = None\n\
        def upgrade():\n    op.create_table('users', sa.Column('id', sa.Integer(), nullable=False))\n\
        def downgrade():\n    op.drop_table('users')\n";
    const B1: &str = "revision = 'b1'\ndown_revision = 'a1'\n\
        def upgrade():\n    op.add_column('users', sa.Column('email', sa.String(120)))\n    op.create_table('audit', sa.Column('id', sa.Integer()))\n\
        def downgrade():\n    op.drop_column('users', 'email')\n";

    const ID: Col<'static> = ("id", "INTEGER", false);
    const EMAIL: Col<'static> = ("email", "VARCHAR(120)", true);

    /// MV204 over `A1` and `B1`, the database holding `users` with `columns` and
    /// stamped at `at`.
    fn check(columns: &[Col<'_>], at: &str) -> Vec<Finding> {
        let mut db = snapshot_of(&[("users", columns)]);
        db.version_table.revisions = vec![at.into()];
        run(
            &UpgradeConflict,
            &[("a1.py", A1), ("b1.py", B1)],
            None,
            Some(&db),
        )
    }

    #[test]
    fn fires_on_what_exists_and_only_then() {
        // (the database's `users` columns, the revision it is at, the messages)
        let cases: &[(&[Col<'_>], &str, &[&str])] = &[
            (
                &[ID, EMAIL],
                "a1",
                &["pending migration `b1` would fail: column `users.email` already exists"],
            ),
            // The dry run succeeds.
            (&[ID], "a1", &[]),
            // At head: nothing pending.
            (&[ID], "b1", &[]),
        ];
        for (columns, at, expected) in cases {
            let found = check(columns, at);
            let msgs: Vec<&str> = found.iter().map(|f| f.message.as_str()).collect();
            assert_eq!(msgs, *expected, "users {columns:?}, at {at}");
        }
    }

    #[test]
    fn points_at_the_migration_that_would_fail() {
        let found = check(&[ID, EMAIL], "a1");
        assert_eq!(found[0].location.path.to_str(), Some("b1.py"));
        assert_eq!(found[0].location.span.map(|s| s.start_line), Some(4));
    }
}
