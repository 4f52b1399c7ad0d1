use std::borrow::Cow;

use super::drift::{self, Helps, Named};
use super::{Context, Input, Rule, RuleMeta, RuleSource};
use crate::diagnostic::{Finding, Severity};
use crate::schema::replay::Replay;
use crate::schema::{Fold, Schema};

pub struct ModelDbDrift;

static META: RuleMeta = RuleMeta {
    code: Cow::Borrowed("MV201"),
    name: Cow::Borrowed("model-db-drift"),
    severity: Severity::Warning,
    enabled_by_default: true,
    inputs: &[Input::Models, Input::Database],
    summary: Cow::Borrowed(
        "The SQLAlchemy models and the database disagree on a table, a column, its nullability or its type",
    ),
    doc: Cow::Borrowed(
        r#"## What it does
Compares the SQLAlchemy models (read statically from `[models] paths`, no Python needed)
with the database (live, or a snapshot file), both ways: tables and columns in the models
that the database lacks, and tables and columns in the database that no model maps;
then, for columns both have, nullability and type; then indexes, unique constraints,
foreign keys (with `ON DELETE`/`ON UPDATE`) and comments, and server defaults with
`[drift] compare-server-default = true`, as Alembic's autogenerate compares them
(docs/drift.md lists exactly what is compared). Types compare through a documented
normalisation per dialect (`sa.String(50)` ≡ `character varying(50)` ≡ `varchar(50)`,
`sa.Boolean` ≡ MySQL `tinyint(1)`); a type migverify cannot normalise (a custom type, an
`Enum`) is never reported. Names compare the way the dialect stores them. The version
table and `[models] ignore_tables` are skipped. When the database is behind head, it is
compared as its pending migrations will leave it (they are replayed over it): what a
pending migration will do is not drift (MV101 lists the pending migrations).

## Why is this bad?
The application's idea of the schema is not the schema: queries fail at run time on a
missing column, inserts fail on a NOT NULL column the model leaves empty. This is the
check the hand-written "schema consistency" scripts do, at column level.

## Example
```python
class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(120))   # the database has no `email`
```

## Use instead
Generate the missing migration and apply it:
```console
$ alembic revision --autogenerate -m "add users.email"
$ alembic upgrade head
```
When the database is merely behind (MV101 fires too), `alembic upgrade head` is enough.
"#,
    ),
    source: RuleSource::Builtin,
};

impl Rule for ModelDbDrift {
    fn meta(&self) -> &RuleMeta {
        &META
    }

    fn check(&self, ctx: &Context<'_>, out: &mut Vec<Finding>) {
        let (Some(models), Some(snapshot)) = (ctx.models, ctx.snapshot) else {
            return;
        };
        let mut db = Schema::from_snapshot(snapshot);
        // Behind head: what the pending migrations will do is not drift (MV101 lists
        // them); compare with the database as they will leave it.
        let pending = ctx.pending().unwrap_or_default();
        let label = if pending.is_empty() {
            "the database"
        } else {
            let mut r = Replay::new(db, Fold::for_dialect(Some(snapshot.dialect)));
            for &n in &pending {
                r.apply(&ctx.migrations[ctx.graph.nodes[n].migration]);
            }
            db = r.schema;
            "the database after its pending migrations"
        };
        drift::findings(
            ctx,
            Named {
                schema: &models.schema,
                label: "the models",
            },
            Named { schema: &db, label },
            Some(snapshot.dialect),
            &Helps {
                left_only_table: "create it: `alembic revision --autogenerate -m \"add table\"`, then \
                                  `alembic upgrade head` (if the migration exists, the database is behind)",
                right_only_table: "add a model for it, drop it in a migration if it is obsolete, or \
                                   list it in `[models] ignore_tables`",
                left_only_column: "add it: `alembic revision --autogenerate -m \"add column\"`, then \
                                   `alembic upgrade head`",
                right_only_column: "add the column to the model, or drop it in a migration",
                changed_column: "make the model match the database, or change the database with a \
                                 migration (`alembic revision --autogenerate`)",
            },
            out,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::drift::testing::{run, snapshot_of};

    const MODELS: &str = "from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column\n\
        from sqlalchemy import String\n\
        class Base(DeclarativeBase):\n    pass\n\
        class User(Base):\n    __tablename__ = 'users'\n    id: Mapped[int] = mapped_column(primary_key=True)\n    email: Mapped[str] = mapped_column(String(120))\n";

    #[test]
    fn fires_both_ways() {
        let db = snapshot_of(&[("users", &[("id", "INTEGER", false)]), ("legacy", &[])]);
        let found = run(&ModelDbDrift, &[], Some(MODELS), Some(&db));
        let msgs: Vec<&str> = found.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(
            msgs,
            vec![
                "column `users.email` is in the models but not in the database",
                "table `legacy` is in the database but not in the models",
            ]
        );
        // The model-side finding points at the attribute.
        assert_eq!(found[0].location.path.to_str(), Some("models.py"));
        assert_eq!(found[0].location.span.map(|s| s.start_line), Some(8));
    }

    #[test]
    fn behind_head_leaves_out_what_pending_migrations_do() {
        let a1 = "revision = 'a1'\ndown_revision = None\n\
            def upgrade():\n    op.create_table('users', sa.Column('id', sa.Integer(), nullable=False))\n\
            def downgrade():\n    op.drop_table('users')\n";
        let b1 = "revision = 'b1'\ndown_revision = 'a1'\n\
            def upgrade():\n    op.add_column('users', sa.Column('email', sa.String(length=120), nullable=False))\n\
            def downgrade():\n    op.drop_column('users', 'email')\n";
        let mut db = snapshot_of(&[("users", &[("id", "INTEGER", false)])]);
        db.version_table.revisions = vec!["a1".into()];
        let found = run(
            &ModelDbDrift,
            &[("a1.py", a1), ("b1.py", b1)],
            Some(MODELS),
            Some(&db),
        );
        assert!(found.is_empty(), "{found:#?}");
        // What no pending migration does is still reported, against the database as
        // they will leave it.
        let models = format!("{MODELS}    name: Mapped[str] = mapped_column(String(20))\n");
        let found = run(
            &ModelDbDrift,
            &[("a1.py", a1), ("b1.py", b1)],
            Some(&models),
            Some(&db),
        );
        let msgs: Vec<&str> = found.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(
            msgs,
            vec![
                "column `users.name` is in the models but not in the database after its pending migrations"
            ]
        );
    }

    #[test]
    fn silent_when_equal() {
        let db = snapshot_of(&[(
            "users",
            &[("id", "INTEGER", false), ("email", "VARCHAR(120)", false)],
        )]);
        assert!(run(&ModelDbDrift, &[], Some(MODELS), Some(&db)).is_empty());
    }
}
