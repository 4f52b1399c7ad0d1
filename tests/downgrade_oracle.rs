//! MV205 (downgrade-mismatch) against the real round trip: for pairs of
//! `upgrade()` / `downgrade()`, some with deliberate mistakes, the real `alembic
//! upgrade` then `alembic downgrade -1` on PostgreSQL (`MIGVERIFY_TEST_POSTGRES_URL`,
//! with `MIGVERIFY_TEST_PYTHON`), the SQLAlchemy inspector's schema compared before
//! and after (tables, columns with type and nullability, indexes, unique
//! constraints, foreign keys). MV205 must fire exactly where the real round trip
//! does not give the schema back (a downgrade that fails included).

#![cfg(feature = "db")]

use std::path::{Path, PathBuf};

use serde_json::Value;

mod common;
use common::alembic::{self, python, sqlalchemy_url};
use common::server_db::{Server, ServerDb};

/// The base revision every case starts from.
const BASE: &str = r#""""base"""
from alembic import op
import sqlalchemy as sa

revision = "a1"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "teams",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("email", sa.String(length=120), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
    )
    op.create_index("ix_users_name", "users", ["name"], unique=False)


def downgrade():
    op.drop_index("ix_users_name", table_name="users")
    op.drop_table("users")
    op.drop_table("teams")
"#;

/// `(name, upgrade body, downgrade body)`.
const CASES: &[(&str, &str, &str)] = &[
    (
        "add and drop a column",
        "op.add_column('users', sa.Column('age', sa.Integer(), nullable=True))",
        "op.drop_column('users', 'age')",
    ),
    (
        "a column and its index, undone in order",
        "op.add_column('users', sa.Column('age', sa.Integer()))\n    op.create_index('ix_users_age', 'users', ['age'])",
        "op.drop_index('ix_users_age', table_name='users')\n    op.drop_column('users', 'age')",
    ),
    (
        "dropping the column drops its index",
        "op.add_column('users', sa.Column('age', sa.Integer()))\n    op.create_index('ix_users_age', 'users', ['age'])",
        "op.drop_column('users', 'age')",
    ),
    (
        "a forgotten index",
        "op.add_column('users', sa.Column('age', sa.Integer()))\n    op.create_index('ix_users_team', 'users', ['team_id'])",
        "op.drop_column('users', 'age')",
    ),
    (
        "the wrong column dropped",
        "op.add_column('users', sa.Column('age', sa.Integer()))",
        "op.drop_column('users', 'team_id')",
    ),
    (
        "a column that does not exist dropped",
        "op.add_column('users', sa.Column('age', sa.Integer()))",
        "op.drop_column('users', 'agee')",
    ),
    (
        "a NOT NULL column restored as nullable",
        "op.drop_column('users', 'email')",
        "op.add_column('users', sa.Column('email', sa.VARCHAR(length=120), nullable=True))\n    op.create_unique_constraint('users_email_key', 'users', ['email'])",
    ),
    (
        "a column restored with its index and unique constraint",
        "op.drop_index('ix_users_name', table_name='users')\n    op.drop_column('users', 'name')\n    op.drop_column('users', 'email')",
        "op.add_column('users', sa.Column('email', sa.VARCHAR(length=120), autoincrement=False, nullable=False))\n    op.create_unique_constraint(None, 'users', ['email'])\n    op.add_column('users', sa.Column('name', sa.String(50), nullable=False))\n    op.create_index('ix_users_name', 'users', ['name'], unique=False)",
    ),
    (
        "a column restored without the index dropped with it",
        "op.drop_column('users', 'name')",
        "op.add_column('users', sa.Column('name', sa.String(50), nullable=False))",
    ),
    (
        "a column restored with the wrong type",
        "op.drop_index('ix_users_name', table_name='users')\n    op.drop_column('users', 'name')",
        "op.add_column('users', sa.Column('name', sa.String(80), nullable=False))\n    op.create_index('ix_users_name', 'users', ['name'])",
    ),
    (
        "a type changed and changed back, spelled otherwise",
        "op.alter_column('users', 'name', existing_type=sa.String(50), type_=sa.String(100))",
        "op.alter_column('users', 'name', existing_type=sa.String(100), type_=sa.VARCHAR(length=50))",
    ),
    (
        "a type changed back to the wrong one",
        "op.alter_column('users', 'name', existing_type=sa.String(50), type_=sa.String(100))",
        "op.alter_column('users', 'name', existing_type=sa.String(100), type_=sa.Text())",
    ),
    (
        "nullability changed and changed back",
        "op.alter_column('users', 'team_id', existing_type=sa.Integer(), nullable=False)",
        "op.alter_column('users', 'team_id', existing_type=sa.Integer(), nullable=True)",
    ),
    (
        "a foreign key dropped by the name PostgreSQL gives it",
        "op.create_foreign_key(None, 'users', 'teams', ['team_id'], ['id'])",
        "op.drop_constraint('users_team_id_fkey', 'users', type_='foreignkey')",
    ),
    (
        "a forgotten foreign key",
        "op.create_foreign_key('fk_users_team', 'users', 'teams', ['team_id'], ['id'])\n    op.add_column('teams', sa.Column('size', sa.Integer()))",
        "op.drop_column('teams', 'size')",
    ),
    (
        "a forgotten unique constraint",
        "op.create_unique_constraint('uq_users_name', 'users', ['name'])\n    op.add_column('teams', sa.Column('size', sa.Integer()))",
        "op.drop_column('teams', 'size')",
    ),
    (
        "a table with an index and a foreign key, dropped",
        "op.create_table('posts', sa.Column('id', sa.Integer(), nullable=False), sa.Column('author_id', sa.Integer(), nullable=False), sa.ForeignKeyConstraint(['author_id'], ['users.id']), sa.PrimaryKeyConstraint('id'))\n    op.create_index('ix_posts_author_id', 'posts', ['author_id'])",
        "op.drop_table('posts')",
    ),
    (
        "a dropped table restored without its index",
        "op.drop_index('ix_users_name', table_name='users')\n    op.drop_table('users')",
        "op.create_table('users', sa.Column('id', sa.Integer(), nullable=False), sa.Column('name', sa.String(length=50), nullable=False), sa.Column('email', sa.String(length=120), nullable=False), sa.Column('team_id', sa.Integer(), nullable=True), sa.PrimaryKeyConstraint('id'), sa.UniqueConstraint('email'))",
    ),
    (
        "renames undone",
        "op.alter_column('users', 'name', new_column_name='full_name')\n    op.rename_table('teams', 'groups')",
        "op.rename_table('groups', 'teams')\n    op.alter_column('users', 'full_name', new_column_name='name')",
    ),
    (
        "a rename not undone",
        "op.alter_column('users', 'name', new_column_name='full_name')\n    op.add_column('teams', sa.Column('size', sa.Integer()))",
        "op.drop_column('teams', 'size')",
    ),
    (
        "batch blocks",
        "with op.batch_alter_table('users', schema=None) as batch_op:\n        batch_op.add_column(sa.Column('age', sa.Integer(), nullable=True))\n        batch_op.create_index(batch_op.f('ix_users_age'), ['age'], unique=False)",
        "with op.batch_alter_table('users', schema=None) as batch_op:\n        batch_op.drop_index(batch_op.f('ix_users_age'))\n        batch_op.drop_column('age')",
    ),
    (
        "a batch block forgetting an index",
        "with op.batch_alter_table('users', schema=None) as batch_op:\n        batch_op.create_index('ix_users_team', ['team_id'], unique=False)\n        batch_op.add_column(sa.Column('age', sa.Integer()))",
        "with op.batch_alter_table('users', schema=None) as batch_op:\n        batch_op.drop_column('age')",
    ),
    (
        "data only",
        "op.execute(\"UPDATE users SET name = 'x'\")",
        "op.execute(\"UPDATE users SET name = 'y'\")",
    ),
];

/// Prints the schema as the SQLAlchemy inspector reads it, as sorted JSON.
const INSPECT: &str = r#"
import json, sys
import sqlalchemy as sa
e = sa.create_engine(sys.argv[1])
i = sa.inspect(e)
out = {}
for t in sorted(i.get_table_names()):
    if t == "alembic_version":
        continue
    out[t] = {
        "columns": sorted([c["name"], str(c["type"]), c["nullable"]] for c in i.get_columns(t)),
        "indexes": sorted([x["name"], x["column_names"], bool(x["unique"])] for x in i.get_indexes(t)),
        "uniques": sorted([x["name"], sorted(x["column_names"])] for x in i.get_unique_constraints(t)),
        "foreign_keys": sorted([x["name"], x["constrained_columns"], x["referred_table"], x["referred_columns"]] for x in i.get_foreign_keys(t)),
    }
print(json.dumps(out, sort_keys=True))
"#;

fn inspect(python: &str, dir: &Path, url: &str) -> Value {
    let out = std::process::Command::new(python)
        .args(["-c", INSPECT, url])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn case_file(up: &str, down: &str) -> String {
    format!(
        "\"\"\"case\"\"\"\nfrom alembic import op\nimport sqlalchemy as sa\n\nrevision = \"b1\"\ndown_revision = \"a1\"\nbranch_labels = None\ndepends_on = None\n\n\ndef upgrade():\n    {up}\n\n\ndef downgrade():\n    {down}\n"
    )
}

/// MV205's messages on the project.
fn mv205(dir: &Path) -> Vec<String> {
    let out = alembic::migverify(
        dir,
        &[
            "check",
            "--format",
            "json",
            "--no-cache",
            "--no-database",
            "--select",
            "MV205",
        ],
    );
    let code = out.status.code().unwrap();
    assert!(
        code == 0 || code == 1,
        "exit {code}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["message"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn mv205_fires_where_the_real_round_trip_does_not_restore() {
    let Some(python) = python() else { return };
    let Some(db) = ServerDb::create(Server::Postgres, "mv_roundtrip") else {
        return;
    };
    let url = sqlalchemy_url(&db.url());
    let tmp = tempfile::tempdir().unwrap();
    let dir: PathBuf = tmp.path().to_path_buf();
    alembic::init(&python, &dir, &url);
    let versions = dir.join("alembic/versions");
    std::fs::write(versions.join("a1_base.py"), BASE).unwrap();
    let mut failures = Vec::new();
    let mut fired_count = 0;
    for (name, up, down) in CASES {
        db.setup("DROP SCHEMA public CASCADE; CREATE SCHEMA public");
        std::fs::write(versions.join("b1_case.py"), case_file(up, down)).unwrap();
        alembic::alembic_ok(&python, &dir, &["upgrade", "a1"]);
        let before = inspect(&python, &dir, &url);
        alembic::alembic_ok(&python, &dir, &["upgrade", "head"]);
        let downgraded = alembic::alembic(&python, &dir, &["downgrade", "-1"])
            .status
            .success();
        let after = inspect(&python, &dir, &url);
        let restored = downgraded && before == after;
        let found = mv205(&dir);
        println!("{name}: restored={restored} (downgrade ran: {downgraded}); MV205 {found:?}");
        if !restored {
            fired_count += 1;
        }
        if found.is_empty() != restored {
            failures.push(format!(
                "{name}: the real round trip {} the schema, MV205 says {found:?}\n  before {before}\n  after  {after}",
                if restored { "restores" } else { "does not restore" }
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The cases hold mistakes and correct pairs both.
    assert!(
        fired_count > 5 && fired_count < CASES.len() - 5,
        "{fired_count}"
    );
}
