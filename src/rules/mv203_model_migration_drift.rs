use std::borrow::Cow;

use super::drift::{self, Helps, Named};
use super::{Context, Input, Rule, RuleMeta, RuleSource};
use crate::diagnostic::{Finding, Severity};
use crate::schema::Fold;

pub struct ModelMigrationDrift;

static META: RuleMeta = RuleMeta {
    code: Cow::Borrowed("MV203"),
    name: Cow::Borrowed("model-migration-drift"),
    severity: Severity::Warning,
    enabled_by_default: true,
    inputs: &[Input::Migrations, Input::Models],
    summary: Cow::Borrowed(
        "The SQLAlchemy models differ from the schema the migrations produce at head: a model change with no migration",
    ),
    doc: Cow::Borrowed(
        r#"## What it does
Replays every migration's `upgrade()` statically (`op.create_table`, `add_column`,
`alter_column`, `drop_*`, `rename_table`, batch blocks, module-level name constants) in
graph order up to the head(s), and compares the resulting schema with the SQLAlchemy
models: tables and columns both ways, nullability, and types (SQLAlchemy type to
SQLAlchemy type, e.g. `sa.String(50)` ≢ `String(80)`; types it cannot normalise are not
compared); then indexes, unique constraints, foreign keys and comments, and server
defaults with `[drift] compare-server-default = true`, with the semantics of Alembic's
autogenerate. No database and no Python needed: for these kinds of objects this is
what `alembic check` reports, found in milliseconds; docs/drift.md lists exactly what
is compared and what is not (check constraints, primary key changes, index options,
...). Where a migration runs raw SQL (`op.execute`) that could explain a difference,
the message says so instead of asserting. A finding in a model file is silenced by
`# migverify: ignore[MV203]` on its line, or on the line of its `class`.

## Why is this bad?
A model change without a migration ships code that expects a column that production
will never get; a migration without the model change leaves a table the application
does not know about.

## Example
```python
# app/models.py — `nickname` was added to the model...
class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    nickname: Mapped[str | None] = mapped_column(String(40))
# ...but no migration adds it.
```

## Use instead
```console
$ alembic revision --autogenerate -m "add users.nickname"
```
and review the generated migration.
"#,
    ),
    source: RuleSource::Builtin,
};

impl Rule for ModelMigrationDrift {
    fn meta(&self) -> &RuleMeta {
        &META
    }

    fn check(&self, ctx: &Context<'_>, out: &mut Vec<Finding>) {
        let Some(models) = ctx.models else {
            return;
        };
        let head = drift::replay(ctx, None, Fold::exact());
        drift::findings(
            ctx,
            Named {
                schema: &models.schema,
                label: "the models",
            },
            Named {
                schema: &head,
                label: "the migrations at head",
            },
            None,
            &Helps {
                left_only_table: "write the migration: `alembic revision --autogenerate -m \"add table\"`",
                right_only_table: "a migration creates it but no model maps it: add the model, drop the \
                                   table in a new migration, or list it in `[models] ignore_tables`",
                left_only_column: "write the migration: `alembic revision --autogenerate -m \"add column\"`",
                right_only_column: "add the column to the model, or drop it in a new migration \
                                    (`alembic revision --autogenerate`)",
                changed_column: "write the migration that alters it: `alembic revision --autogenerate`",
            },
            out,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::drift::testing::run;

    const MODELS: &str = "import sqlalchemy as sa\nfrom sqlalchemy.orm import declarative_base\n\
        Base = declarative_base()\n\
        class User(Base):\n    __tablename__ = 'users'\n    id = sa.Column(sa.Integer, primary_key=True)\n    name = sa.Column(sa.String(50), nullable=False)\n";

    const CREATE: &str = "revision = 'a1'\ndown_revision = None\n\
        def upgrade():\n    op.create_table('users', sa.Column('id', sa.Integer(), nullable=False),\n        sa.Column('name', sa.String(length=50), nullable=False),\n        sa.PrimaryKeyConstraint('id'))\n\
        def downgrade():\n    op.drop_table('users')\n";

    #[test]
    fn silent_when_migrations_match() {
        assert!(
            run(
                &ModelMigrationDrift,
                &[("a1.py", CREATE)],
                Some(MODELS),
                None
            )
            .is_empty()
        );
    }

    #[test]
    fn fires_on_a_model_change_without_migration() {
        let models = MODELS.replace(
            "sa.String(50), nullable=False",
            "sa.String(80), nullable=True",
        );
        let found = run(
            &ModelMigrationDrift,
            &[("a1.py", CREATE)],
            Some(&models),
            None,
        );
        let msgs: Vec<&str> = found.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(
            msgs,
            vec![
                "column `users.name` is nullable in the models but NOT NULL in the migrations at head",
                "column `users.name` is `sa.String(80)` in the models but `sa.String(length=50)` in the migrations at head",
            ]
        );
        // Pointing at the model attribute, with the migration's column as related.
        assert_eq!(found[0].location.path.to_str(), Some("models.py"));
        assert_eq!(found[0].related[0].location.path.to_str(), Some("a1.py"));
    }

    #[test]
    fn objects_are_compared() {
        // An index and a foreign key in the models that no migration creates; the
        // migration's unnamed unique constraint matches the model's `unique=True`.
        let models = "import sqlalchemy as sa\nfrom sqlalchemy.orm import declarative_base\n\
            Base = declarative_base()\n\
            class User(Base):\n    __tablename__ = 'users'\n    id = sa.Column(sa.Integer, primary_key=True)\n    name = sa.Column(sa.String(50), nullable=False, index=True, unique=True)\n    boss_id = sa.Column(sa.Integer, sa.ForeignKey('users.id'), nullable=False)\n";
        let create = CREATE.replace(
            "sa.PrimaryKeyConstraint('id'))",
            "sa.Column('boss_id', sa.Integer(), nullable=False),\n        sa.PrimaryKeyConstraint('id'))",
        );
        let found = run(
            &ModelMigrationDrift,
            &[("a1.py", &create)],
            Some(models),
            None,
        );
        let msgs: Vec<&str> = found.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(
            msgs,
            vec![
                "unique index `ix_users_name` on `users` (`name`) is in the models but not in the migrations at head",
                "foreign key on `users` (`boss_id`) → `users` (`id`) is in the models but not in the migrations at head",
            ]
        );
        assert_eq!(found[0].location.span.map(|s| s.start_line), Some(7));
        let create = create.replace(
            "sa.PrimaryKeyConstraint('id'))",
            "sa.PrimaryKeyConstraint('id'), sa.ForeignKeyConstraint(['boss_id'], ['users.id']))\n    op.create_index(op.f('ix_users_name'), 'users', ['name'], unique=True)",
        );
        let found = run(
            &ModelMigrationDrift,
            &[("a1.py", &create)],
            Some(models),
            None,
        );
        assert!(found.is_empty(), "{found:#?}");
    }

    #[test]
    fn raw_sql_hedges() {
        let add = "revision = 'b1'\ndown_revision = 'a1'\n\
            def upgrade():\n    op.execute('ALTER TABLE users ADD COLUMN email VARCHAR(120)')\n\
            def downgrade():\n    pass\n";
        let models = format!("{MODELS}    email = sa.Column(sa.String(120))\n");
        let found = run(
            &ModelMigrationDrift,
            &[("a1.py", CREATE), ("b1.py", add)],
            Some(&models),
            None,
        );
        assert_eq!(found.len(), 1);
        assert!(
            found[0].message.starts_with(
                "column `users.email` is in the models but not in the migrations at head (this may be explained by raw SQL (`op.execute`)"
            ),
            "{}",
            found[0].message
        );
        assert_eq!(
            found[0].related.last().unwrap().location.path.to_str(),
            Some("b1.py")
        );
    }

    #[test]
    fn an_unknown_mixin_hedges_only_columns_the_models_lack() {
        let create = "revision = 'a1'\ndown_revision = None\n\
            def upgrade():\n    op.create_table('users', sa.Column('id', sa.Integer(), nullable=False),\n        sa.Column('created_at', sa.DateTime(), nullable=False),\n        sa.PrimaryKeyConstraint('id'))\n\
            def downgrade():\n    op.drop_table('users')\n";
        let models = "import sqlalchemy as sa\nfrom sqlalchemy.orm import declarative_base\n\
            from app.mixins import TimestampMixin\n\
            Base = declarative_base()\n\
            class User(TimestampMixin, Base):\n    __tablename__ = 'users'\n    id = sa.Column(sa.Integer, primary_key=True)\n    nick = sa.Column(sa.String(20))\n";
        let found = run(
            &ModelMigrationDrift,
            &[("a1.py", create)],
            Some(models),
            None,
        );
        let msgs: Vec<&str> = found.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(
            msgs,
            vec![
                "column `users.nick` is in the models but not in the migrations at head",
                "column `users.created_at` is in the migrations at head but not in the models \
                 (this may be explained by base class `TimestampMixin` (not in [models] paths: its \
                 columns are unknown) that migverify cannot read)",
            ]
        );
    }
}
