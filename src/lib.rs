//! migverify: verifies Alembic migrations statically, against a database, and for drift.

pub mod baseline;
pub mod bounded;
pub mod cache;
pub mod changed;
pub mod checklist;
pub mod cli;
pub mod config;
pub mod db;
pub mod diagnostic;
pub mod edits;
pub mod emit;
pub mod engine;
mod error;
pub mod fingerprint;
pub mod fix;
pub mod fsutil;
pub mod graph;
pub mod graph_output;
pub mod init;
pub mod migration;
pub mod models;
pub mod project;
pub mod report;
pub mod rules;
pub mod schema;
pub mod server;
pub mod source;
pub mod suppression;
pub mod text;
pub mod tree_dump;

pub use error::Error;
