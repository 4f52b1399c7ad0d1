use std::borrow::Cow;

use super::drift::{self, Helps, Named};
use super::{Context, Input, Rule, RuleMeta, RuleSource};
use crate::diagnostic::{Finding, Severity};
use crate::schema::{Fold, Schema};

pub struct MigrationDbDrift;

static META: RuleMeta = RuleMeta {
    code: Cow::Borrowed("MV202"),
    name: Cow::Borrowed("migration-db-drift"),
    severity: Severity::Warning,
    enabled_by_default: true,
    inputs: &[Input::Migrations, Input::Database],
    summary: Cow::Borrowed(
        "The database differs from the schema its applied migrations produce: it was changed by hand",
    ),
    doc: Cow::Borrowed(
        r#"## What it does
Replays, statically, the migrations the database has applied (the revisions in its
version table and their ancestors) and compares the resulting schema with the database:
tables and columns both ways, nullability and types (normalised per dialect; a type
migverify cannot normalise is not compared), then indexes, unique constraints, foreign
keys and comments (server defaults with `[drift] compare-server-default = true`) as
docs/drift.md describes. The version table and `[models]
ignore_tables` are skipped. Where a migration runs raw SQL (`op.execute`) that could
explain a difference, the message says so instead of asserting. It does not run when
the version table is missing (MV103) or names an unknown revision (MV102).

## Why is this bad?
Someone changed the database by hand (a hotfix, a console session, another branch's
migration that was rolled back without its downgrade). The next migration, or the
next environment built from the migrations, will not match what is running.

## Example
```sql
-- in a console, on production
ALTER TABLE users ADD COLUMN legacy_flag boolean;
```

## Use instead
Put the change in a migration (`alembic revision -m "add users.legacy_flag"` and write
the `op.add_column`), or revert it in the database.
"#,
    ),
    source: RuleSource::Builtin,
};

impl Rule for MigrationDbDrift {
    fn meta(&self) -> &RuleMeta {
        &META
    }

    fn check(&self, ctx: &Context<'_>, out: &mut Vec<Finding>) {
        let Some(snapshot) = ctx.snapshot else {
            return;
        };
        let Some(applied) = super::applied(ctx.graph, snapshot) else {
            return;
        };
        let fold = Fold::for_dialect(Some(snapshot.dialect));
        let replayed = drift::replay(ctx, Some(&applied), fold);
        let db = Schema::from_snapshot(snapshot);
        drift::findings(
            ctx,
            Named {
                schema: &replayed,
                label: "the applied migrations",
            },
            Named {
                schema: &db,
                label: "the database",
            },
            Some(snapshot.dialect),
            &Helps {
                left_only_table: "the migrations create it but the database lacks it (dropped by hand?): \
                                  restore it, or drop it in a new migration",
                right_only_table: "created outside the migrations: add a migration that creates it, \
                                   drop it, or list it in `[models] ignore_tables`",
                left_only_column: "the migrations add it but the database lacks it (dropped by hand?): \
                                   restore it, or drop it in a new migration",
                right_only_column: "added outside the migrations: put it in a migration, or drop it",
                changed_column: "changed outside the migrations: put the change in a migration, or \
                                 revert it in the database",
            },
            out,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::drift::testing::{run, snapshot_of};

    const A1: &str = "revision = 'a1'\ndown_revision = None\n\
        def upgrade():\n    op.create_table('users', sa.Column('id', sa.Integer(), nullable=False),\n        sa.Column('name', sa.String(50), nullable=True))\n\
        def downgrade():\n    op.drop_table('users')\n";
    const B1: &str = "revision = 'b1'\ndown_revision = 'a1'\n\
        def upgrade():\n    op.add_column('users', sa.Column('email', sa.String(120)))\n\
        def downgrade():\n    op.drop_column('users', 'email')\n";

    #[test]
    fn compares_at_the_current_revision() {
        // At a1: `email` (added by b1, pending) is not expected.
        let mut db = snapshot_of(&[(
            "users",
            &[("id", "INTEGER", false), ("name", "VARCHAR(50)", true)],
        )]);
        db.version_table.revisions = vec!["a1".into()];
        let files = [("a1.py", A1), ("b1.py", B1)];
        assert!(run(&MigrationDbDrift, &files, None, Some(&db)).is_empty());
        // A hand-made column and a hand-changed nullability.
        db.tables[0].columns[1].nullable = false;
        db.tables[0]
            .columns
            .push(crate::rules::drift::testing::col("hotfix", "BOOLEAN", true));
        let found = run(&MigrationDbDrift, &files, None, Some(&db));
        let msgs: Vec<&str> = found.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(
            msgs,
            vec![
                "column `users.name` is nullable in the applied migrations but NOT NULL in the database",
                "column `users.hotfix` is in the database but not in the applied migrations",
            ]
        );
        // The database-only column points at the migration that created its table.
        assert_eq!(found[1].location.path.to_str(), Some("a1.py"));
    }

    #[test]
    fn skipped_without_a_known_revision() {
        let mut db = snapshot_of(&[]);
        db.version_table.revisions = vec!["zzz".into()];
        assert!(run(&MigrationDbDrift, &[("a1.py", A1)], None, Some(&db)).is_empty());
    }
}
