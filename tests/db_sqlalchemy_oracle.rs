//! Oracle test: real Alembic migrations applied by real Alembic, then our snapshot compared
//! with what SQLAlchemy's inspector reports for the same database.
//!
//! Needs `MIGVERIFY_TEST_PYTHON` (a Python with alembic, sqlalchemy, psycopg2 and pymysql);
//! the PostgreSQL and MySQL variants also need `MIGVERIFY_TEST_POSTGRES_URL` /
//! `MIGVERIFY_TEST_MYSQL_URL`. Skips (printing why) when unset.

#![cfg(feature = "db")]

use std::path::Path;
use std::process::Command;

use migverify::db::{CaptureOptions, DbUrl, Snapshot, capture_blocking};
use sqlx::{AssertSqlSafe, Connection};

const ENV_PY: &str = r#"
from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config
engine = engine_from_config(
    config.get_section(config.config_ini_section), prefix="sqlalchemy.", poolclass=pool.NullPool
)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
"#;

const REV1: &str = r#"
import sqlalchemy as sa
from alembic import op

revision = "a1b2c3d4e5f6"
down_revision = None

def upgrade():
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(120), nullable=False),
        sa.Column("name", sa.String(50), server_default="anon"),
        sa.UniqueConstraint("email", name="uq_users_email"),
    )

def downgrade():
    op.drop_table("users")
"#;

const REV2: &str = r#"
import sqlalchemy as sa
from alembic import op

revision = "b2c3d4e5f6a7"
down_revision = "a1b2c3d4e5f6"

def upgrade():
    op.create_table(
        "posts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", name="fk_posts_user"), nullable=False),
        sa.Column("title", sa.String(200)),
        sa.Column("slug", sa.String(40), nullable=False),
        sa.Column("created_at", sa.DateTime, server_default=sa.func.now(), nullable=False),
        sa.UniqueConstraint("user_id", "slug", name="uq_posts_user_slug"),
    )
    op.create_index("ix_posts_title", "posts", ["title"])
    op.create_index("ix_posts_created", "posts", ["created_at", "id"], unique=True)

def downgrade():
    op.drop_table("posts")
"#;

const INSPECT_PY: &str = r#"
import json, sys
import sqlalchemy as sa

engine = sa.create_engine(sys.argv[1])
insp = sa.inspect(engine)
mysql = engine.dialect.name in ("mysql", "mariadb")
with engine.connect() as c:
    revisions = sorted(r[0] for r in c.execute(sa.text("SELECT version_num FROM alembic_version")))
tables = {}
for t in insp.get_table_names():
    tables[t] = {
        "columns": [[c["name"], c["nullable"], c.get("default") is not None] for c in insp.get_columns(t)],
        "primary_key": insp.get_pk_constraint(t)["constrained_columns"],
        "foreign_keys": sorted(
            [f["constrained_columns"], f["referred_table"], f["referred_columns"]]
            for f in insp.get_foreign_keys(t)
        ),
        "unique_constraints": sorted(u["column_names"] for u in insp.get_unique_constraints(t)),
        "indexes": sorted(
            [i["name"], i["column_names"], bool(i["unique"])]
            for i in insp.get_indexes(t)
            if "duplicates_constraint" not in i and not (mysql and i["unique"])
        ),
    }
print(json.dumps({"revisions": revisions, "tables": tables}, sort_keys=True))
"#;

fn ours(s: &Snapshot) -> serde_json::Value {
    let mut tables = serde_json::Map::new();
    for t in &s.tables {
        let mut fks: Vec<_> = t
            .foreign_keys
            .iter()
            .map(|f| {
                (
                    f.columns.clone(),
                    f.referred_table.clone(),
                    f.referred_columns.clone(),
                )
            })
            .collect();
        fks.sort();
        let mut uqs: Vec<_> = t
            .unique_constraints
            .iter()
            .map(|u| u.columns.clone())
            .collect();
        uqs.sort();
        let mut idx: Vec<_> = t
            .indexes
            .iter()
            .map(|i| (i.name.clone(), i.columns.clone(), i.unique))
            .collect();
        idx.sort();
        tables.insert(
            t.name.clone(),
            serde_json::json!({
                "columns": t.columns.iter().map(|c| (c.name.clone(), c.nullable, c.default.is_some())).collect::<Vec<_>>(),
                "primary_key": t.primary_key,
                "foreign_keys": fks,
                "unique_constraints": uqs,
                "indexes": idx,
            }),
        );
    }
    serde_json::json!({"revisions": s.version_revisions(), "tables": tables})
}

fn python() -> Option<String> {
    match std::env::var("MIGVERIFY_TEST_PYTHON") {
        Ok(p) => Some(p),
        Err(_) => {
            println!("skipping: MIGVERIFY_TEST_PYTHON is not set");
            None
        }
    }
}

/// Writes an Alembic project, runs `alembic upgrade head` against `url`, then compares
/// our capture of `url` with SQLAlchemy's inspector.
fn check(python: &str, url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("alembic/versions")).unwrap();
    std::fs::write(
        root.join("alembic.ini"),
        format!("[alembic]\nscript_location = %(here)s/alembic\nsqlalchemy.url = {url}\n"),
    )
    .unwrap();
    std::fs::write(root.join("alembic/env.py"), ENV_PY).unwrap();
    std::fs::write(root.join("alembic/versions/0001_users.py"), REV1).unwrap();
    std::fs::write(root.join("alembic/versions/0002_posts.py"), REV2).unwrap();
    std::fs::write(root.join("inspect_db.py"), INSPECT_PY).unwrap();
    let out = Command::new(python)
        .args(["-m", "alembic", "-c", "alembic.ini", "upgrade", "head"])
        .current_dir(root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "alembic failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(python)
        .args(["inspect_db.py", url])
        .current_dir(root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "inspector failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();

    let snap = capture_blocking(
        &DbUrl::parse(url, root).unwrap(),
        &CaptureOptions::default(),
    )
    .unwrap();
    assert_eq!(snap.version_revisions(), ["b2c3d4e5f6a7"]);
    assert_eq!(snap.table_names(), vec!["posts", "users"]);
    assert_eq!(ours(&snap), theirs, "{url}");
}

fn server_db(var: &str, scheme: &str, postgres: bool) -> Option<(String, String, String)> {
    let Ok(admin) = std::env::var(var) else {
        println!("skipping: {var} is not set");
        return None;
    };
    let name = format!("mv_oracle_{}_{}", std::process::id(), u8::from(postgres));
    let parsed = DbUrl::parse(&admin, Path::new("/")).unwrap();
    let s = parsed.server().unwrap();
    let user = s.username.clone().unwrap_or_default();
    let url = format!("{scheme}://{user}@{}:{}/{name}", s.host, s.port);
    Some((admin, name, url))
}

fn admin_exec(admin: &str, sql: String, postgres: bool) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            if postgres {
                let mut c = sqlx::PgConnection::connect(admin).await.unwrap();
                sqlx::raw_sql(AssertSqlSafe(sql))
                    .execute(&mut c)
                    .await
                    .unwrap();
            } else {
                let mut c = sqlx::MySqlConnection::connect(admin).await.unwrap();
                sqlx::raw_sql(AssertSqlSafe(sql))
                    .execute(&mut c)
                    .await
                    .unwrap();
            }
        });
}

struct DropDb {
    admin: String,
    name: String,
    postgres: bool,
}

impl Drop for DropDb {
    fn drop(&mut self) {
        let sql = if self.postgres {
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)
        } else {
            format!("DROP DATABASE IF EXISTS {}", self.name)
        };
        let (admin, postgres) = (self.admin.clone(), self.postgres);
        let _ = std::thread::spawn(move || admin_exec(&admin, sql, postgres)).join();
    }
}

#[test]
fn sqlite_matches_sqlalchemy() {
    let Some(py) = python() else { return };
    check(&py, "sqlite:///app.db");
}

#[test]
fn postgres_matches_sqlalchemy() {
    let Some(py) = python() else { return };
    let Some((admin, name, url)) =
        server_db("MIGVERIFY_TEST_POSTGRES_URL", "postgresql+psycopg2", true)
    else {
        return;
    };
    admin_exec(&admin, format!("CREATE DATABASE {name}"), true);
    let _guard = DropDb {
        admin,
        name,
        postgres: true,
    };
    check(&py, &url);
}

#[test]
fn mysql_matches_sqlalchemy() {
    let Some(py) = python() else { return };
    let Some((admin, name, url)) = server_db("MIGVERIFY_TEST_MYSQL_URL", "mysql+pymysql", false)
    else {
        return;
    };
    admin_exec(&admin, format!("CREATE DATABASE {name}"), false);
    let _guard = DropDb {
        admin,
        name,
        postgres: false,
    };
    check(&py, &url);
}
