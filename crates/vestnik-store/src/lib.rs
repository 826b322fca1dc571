//! Vestnik's `Store` on two databases: an embedded SQLite file (the laptop default) and
//! PostgreSQL (several nodes on one database).
//!
//! Both speak the same traits from `vestnik-domain` and pass the same conformance suite
//! (`tests/conformance.rs`). SQL is written per backend on purpose: the dialects differ exactly
//! where it matters (claiming jobs, JSON columns, bulk inserts). Row decoding is shared
//! (`rows`), and so is the mapping of database errors to `StoreError` (`error`).
//!
//! Migrations live in `migrations/<backend>/NNNN_name.sql`, are compiled into the binary and
//! applied at start-up (see `migrate`).

mod common;
mod error;
mod migrate;
pub mod postgres;
mod rows;
pub mod sqlite;

use std::path::PathBuf;
use std::sync::Arc;

pub use postgres::PostgresStore;
pub use sqlite::{SqliteDurability, SqliteStore};
use vestnik_domain::{Store, StoreError};

/// Where the data lives, parsed from `VESTNIK_DATABASE_URL` / `--database`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A file path; created when missing.
    Sqlite(PathBuf),
    /// A `postgres://` (or `postgresql://`) connection URL.
    Postgres(String),
}

impl DatabaseUrl {
    /// Accepts `sqlite:///abs/path.db`, `sqlite://rel/path.db`, `sqlite:path.db`, a bare path,
    /// and `postgres://…` / `postgresql://…`.
    pub fn parse(raw: &str) -> Result<Self, StoreError> {
        let raw = raw.trim();
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(raw.to_string()));
        }
        let path = raw
            .strip_prefix("sqlite://")
            .or_else(|| raw.strip_prefix("sqlite:"))
            .unwrap_or(raw);
        let path = path.split('?').next().unwrap_or_default();
        if path.is_empty() || path == ":memory:" {
            return Err(StoreError::Invalid(vestnik_domain::ValidationError::new(
                "database",
                format!(
                    "`{raw}` names no file; use a path such as sqlite://vestnik.db (in-memory databases are not supported: every pool connection would see its own)"
                ),
            )));
        }
        if raw.contains("://") && !raw.starts_with("sqlite://") {
            return Err(StoreError::Invalid(vestnik_domain::ValidationError::new(
                "database",
                format!("unsupported database URL `{raw}`; use sqlite://PATH or postgres://…"),
            )));
        }
        Ok(DatabaseUrl::Sqlite(PathBuf::from(path)))
    }
}

/// Opens the database, applies pending migrations, and returns it as a `Store`.
pub async fn open(
    url: &DatabaseUrl,
    durability: SqliteDurability,
) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match url {
        DatabaseUrl::Sqlite(path) => Arc::new(SqliteStore::open(path, durability).await?),
        DatabaseUrl::Postgres(url) => Arc::new(PostgresStore::open(url, None).await?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_url_forms() {
        assert_eq!(
            DatabaseUrl::parse("sqlite:///abs/path.db").unwrap(),
            DatabaseUrl::Sqlite("/abs/path.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite://rel.db").unwrap(),
            DatabaseUrl::Sqlite("rel.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("vestnik.db").unwrap(),
            DatabaseUrl::Sqlite("vestnik.db".into())
        );
        assert!(matches!(
            DatabaseUrl::parse("postgres://postgres@127.0.0.1/test").unwrap(),
            DatabaseUrl::Postgres(_)
        ));
        assert!(DatabaseUrl::parse("sqlite::memory:").is_err());
        assert!(DatabaseUrl::parse("mysql://x").is_err());
    }
}
