//! Times `capture` on a 500-table / 5,000-column PostgreSQL schema.
//!
//! ```sh
//! MIGVERIFY_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!     cargo run --release --example bench_snapshot
//! ```

use std::path::Path;
use std::time::{Duration, Instant};

use migverify::db::{CaptureOptions, DbUrl, capture};
use sqlx::{AssertSqlSafe, Connection, PgConnection};

const TABLES: usize = 500;
const COLUMNS: usize = 10;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let admin = std::env::var("MIGVERIFY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string());
    let name = format!("mv_bench_{}", std::process::id());
    let (base, _) = admin.split('?').next().unwrap().rsplit_once('/').unwrap();
    let url = format!("{base}/{name}");

    let mut a = PgConnection::connect(&admin)
        .await
        .expect("admin connection");
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut a)
        .await
        .unwrap();

    let result = run(&url).await;

    sqlx::raw_sql(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut a)
    .await
    .unwrap();
    result.unwrap();
}

async fn run(url: &str) -> Result<(), Box<dyn std::error::Error>> {
    let mut sql = String::new();
    for t in 0..TABLES {
        sql.push_str(&format!("CREATE TABLE t{t} (id serial PRIMARY KEY"));
        for c in 1..COLUMNS {
            match c {
                1 if t > 0 => {
                    sql.push_str(&format!(", parent_id integer REFERENCES t{} (id)", t - 1))
                }
                2 => sql.push_str(", code varchar(40) NOT NULL UNIQUE"),
                3 => sql.push_str(", created_at timestamp NOT NULL DEFAULT now()"),
                _ => sql.push_str(&format!(", c{c} text")),
            }
        }
        sql.push_str(&format!(");\nCREATE INDEX ix_t{t}_c4 ON t{t} (c4);\n"));
    }
    sql.push_str("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);\n");
    sql.push_str("INSERT INTO alembic_version VALUES ('abc123');\n");
    let mut c = PgConnection::connect(url).await?;
    let start = Instant::now();
    sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut c).await?;
    c.close().await?;
    println!("created {TABLES} tables in {:.2?}", start.elapsed());

    let db = DbUrl::parse(url, Path::new("."))?;
    let opts = CaptureOptions::default();
    let mut times: Vec<Duration> = Vec::new();
    let mut snapshot = None;
    for _ in 0..5 {
        let start = Instant::now();
        let s = capture(&db, &opts).await?;
        times.push(start.elapsed());
        snapshot = Some(s);
    }
    let s = snapshot.unwrap();
    let columns: usize = s.tables.iter().map(|t| t.columns.len()).sum();
    times.sort();
    println!(
        "captured {} tables / {} columns: min {:.1?}, median {:.1?}, max {:.1?}; JSON {} KiB",
        s.tables.len(),
        columns,
        times[0],
        times[times.len() / 2],
        times[times.len() - 1],
        s.to_json().len() / 1024
    );
    Ok(())
}
