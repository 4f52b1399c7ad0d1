//! A throwaway database on a real PostgreSQL or MySQL/MariaDB server, for the tests
//! that need one. The server's admin URL comes from `MIGVERIFY_TEST_POSTGRES_URL` /
//! `MIGVERIFY_TEST_MYSQL_URL` (`.ci/run` and `scripts/test` set them through
//! `scripts/test-databases`); unset, `ServerDb::create` prints why the test skips.
//! The database has a unique name and is dropped with the guard, also on failure.

use std::sync::atomic::{AtomicUsize, Ordering};

use sqlx::{AssertSqlSafe, Connection};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Server {
    Postgres,
    Mysql,
}

impl Server {
    /// The environment variable holding the server's admin URL.
    pub fn var(self) -> &'static str {
        match self {
            Server::Postgres => "MIGVERIFY_TEST_POSTGRES_URL",
            Server::Mysql => "MIGVERIFY_TEST_MYSQL_URL",
        }
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// `<prefix>_<pid>_<n>`: unique across the tests of all processes running now.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// `admin_url` with its database replaced by `name`.
pub fn with_database(admin_url: &str, name: &str) -> String {
    let (base, _) = admin_url
        .split('?')
        .next()
        .unwrap()
        .rsplit_once('/')
        .unwrap();
    format!("{base}/{name}")
}

/// Runs `;`-separated statements on `url`, panicking with the statement on failure.
pub async fn exec_all(server: Server, url: &str, sql: &str) {
    let statements = sql.split(';').map(str::trim).filter(|s| !s.is_empty());
    match server {
        Server::Postgres => {
            let mut c = sqlx::PgConnection::connect(url).await.unwrap();
            for s in statements {
                sqlx::raw_sql(AssertSqlSafe(s.to_string()))
                    .execute(&mut c)
                    .await
                    .unwrap_or_else(|e| panic!("{s}: {e}"));
            }
        }
        Server::Mysql => {
            let mut c = sqlx::MySqlConnection::connect(url).await.unwrap();
            for s in statements {
                sqlx::raw_sql(AssertSqlSafe(s.to_string()))
                    .execute(&mut c)
                    .await
                    .unwrap_or_else(|e| panic!("{s}: {e}"));
            }
        }
    }
}

/// A database created for one test and dropped with this guard.
pub struct ServerDb {
    pub server: Server,
    admin_url: String,
    pub name: String,
}

impl ServerDb {
    /// `None` (after printing why) when the server's variable is unset.
    pub fn create(server: Server, prefix: &str) -> Option<ServerDb> {
        let Ok(admin_url) = std::env::var(server.var()) else {
            println!("skipping: {} is not set", server.var());
            return None;
        };
        let db = ServerDb {
            server,
            admin_url,
            name: unique_name(prefix),
        };
        runtime().block_on(exec_all(
            server,
            &db.admin_url,
            &format!("CREATE DATABASE {}", db.name),
        ));
        Some(db)
    }

    /// The URL of this database (the admin URL's credentials and host).
    pub fn url(&self) -> String {
        with_database(&self.admin_url, &self.name)
    }

    pub fn admin_url(&self) -> &str {
        &self.admin_url
    }

    /// Runs `;`-separated statements in this database.
    pub fn setup(&self, sql: &str) {
        runtime().block_on(exec_all(self.server, &self.url(), sql));
    }
}

impl Drop for ServerDb {
    fn drop(&mut self) {
        let sql = match self.server {
            Server::Postgres => format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            Server::Mysql => format!("DROP DATABASE IF EXISTS {}", self.name),
        };
        let server = self.server;
        let admin = self.admin_url.clone();
        // A fresh thread: Drop may run while a runtime is active on this one.
        let _ =
            std::thread::spawn(move || runtime().block_on(exec_all(server, &admin, &sql))).join();
    }
}
