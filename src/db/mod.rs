//! The database side: URLs, read-only capture, and the [`Snapshot`] rules see.
//!
//! Rules never see a connection: the engine captures a [`Snapshot`] here (or loads one
//! from a file) and hands it to them. URLs and snapshots need nothing else; capturing
//! from a live database needs the `db` cargo feature (on by default: sqlx + tokio).
//!
//! ```no_run
//! use std::path::Path;
//! use migverify::db::{CaptureOptions, DbUrl, capture_blocking};
//!
//! let url = DbUrl::parse_with_env("${DATABASE_URL}", Path::new("."), |k| std::env::var(k).ok())?;
//! let snapshot = capture_blocking(&url, &CaptureOptions::default())?;
//! println!("{} at {:?}", url.redacted(), snapshot.version_revisions());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#[cfg(feature = "db")]
mod capture;
#[cfg(feature = "db")]
mod mysql;
#[cfg(feature = "db")]
mod postgres;
pub mod resolve;
pub mod snapshot;
#[cfg(feature = "db")]
mod sqlite;
pub mod url;

#[cfg(feature = "db")]
pub use capture::{
    CaptureOptions, DbError, capture, capture_blocking, execute_in_capture_session,
    execute_in_capture_session_blocking,
};
pub use snapshot::{
    Column, Dialect, ForeignKey, Index, Snapshot, SnapshotError, Table, UniqueConstraint,
    VersionTable,
};
pub use url::{DbUrl, Redacted, Secret, UrlError};
