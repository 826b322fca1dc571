//! Test harness shared by every crate's tests.
//!
//! - [`TestDb`]: a fresh database on either backend — a temp SQLite file, or a new PostgreSQL
//!   schema dropped afterwards — so tests never see each other's rows.
//! - [`TestServer`]: the real HTTP server on 127.0.0.1 port 0 over a `TestDb`, with a fresh site,
//!   its API key and an owner login.
//!
//! PostgreSQL comes from `VESTNIK_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`). When it is unreachable, PostgreSQL tests are
//! skipped with a message — unless `CI=true`, where that is a failure.

mod cases;
mod db;
pub mod feed;
mod server;
pub mod smtp;

pub use db::{Backend, TestDb};
pub use server::TestServer;
