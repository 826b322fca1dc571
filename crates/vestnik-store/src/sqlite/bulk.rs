//! The bulk connection: a rusqlite connection of the store's own, for work that runs many
//! small statements in one transaction (event batches, catalog staging). One blocking call
//! runs the whole transaction with cached prepared statements, instead of one async
//! round trip to sqlx's worker thread per statement and per row.
//!
//! It is a second writer on the file. To keep SQLite's busy-wait out of the picture, a bulk
//! call first takes the sqlx writer connection (the store's single writer), so writes inside
//! this process still go one at a time; another process waits on the file lock for up to
//! the busy timeout, as before.

use rusqlite::Connection;
use std::path::Path;
use std::sync::{Arc, Mutex};
use vestnik_domain::{StoreError, StoreResult};

use super::{BUSY_TIMEOUT, SqliteDurability, SqliteStore};
use crate::error::internal;

/// The bulk connection's page cache, in KiB. SQLite's default (2 MiB) holds a small part of
/// the pages event batches touch (contact states, the events' contact index) and a large
/// transaction (a catalog import) spills and rewrites the same index pages again and again.
/// 32 MiB keeps the hot part in memory within the catalog importer's memory budget.
pub(crate) const BULK_CACHE_KIB: i64 = 32 * 1024;

/// Shared by the store's clones.
#[derive(Clone)]
pub(crate) struct BulkConnection(Arc<Mutex<Connection>>);

impl BulkConnection {
    /// `foreign_keys`: whether SQLite checks them on this connection (see
    /// `SqliteStore::ingest_connection` for the one that does not).
    pub(crate) fn open(
        path: &Path,
        durability: SqliteDurability,
        foreign_keys: bool,
    ) -> StoreResult<Self> {
        let conn = Connection::open(path)
            .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(sqlite_err)?;
        let synchronous = match durability {
            SqliteDurability::Normal => "NORMAL",
            SqliteDurability::Full => "FULL",
        };
        let foreign_keys = if foreign_keys { "ON" } else { "OFF" };
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous}; PRAGMA foreign_keys = {foreign_keys}; PRAGMA cache_size = -{BULK_CACHE_KIB}; PRAGMA wal_autocheckpoint = 0;"
        ))
        .map_err(sqlite_err)?;
        conn.set_prepared_statement_cache_capacity(32);
        Ok(BulkConnection(Arc::new(Mutex::new(conn))))
    }

    /// Runs `work` on the connection, blocking the calling thread. The caller holds the
    /// store's write lock.
    pub(crate) fn with<T>(
        &self,
        work: impl FnOnce(&mut Connection) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let mut conn = self
            .0
            .lock()
            .map_err(|_| internal("the bulk connection was poisoned by a panic"))?;
        work(&mut conn)
    }
}

impl SqliteStore {
    /// Runs `work` on the bulk connection on the blocking pool, holding the store's write
    /// lock throughout. `work` opens and commits its own transaction.
    pub(crate) async fn bulk<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        self.blocking_write(self.bulk_connection().clone(), work)
            .await
    }

    /// As `bulk`, on the given connection.
    pub(crate) async fn blocking_write<T, F>(&self, conn: BulkConnection, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        let writer = self
            .writes()
            .acquire()
            .await
            .map_err(crate::error::map_err("write lock"))?;
        let result = tokio::task::spawn_blocking(move || conn.with(work))
            .await
            .map_err(|e| internal(format!("a bulk write failed: {e}")))?;
        drop(writer);
        result
    }
}

/// Runs `work` holding the store's write lock (`writes`, its single-connection write pool)
/// from a thread of its own, outside the async runtime: the ingest and checkpoint threads.
pub(crate) fn with_write_lock_blocking<T>(
    writes: &sqlx::SqlitePool,
    runtime: &tokio::runtime::Handle,
    work: impl FnOnce() -> T,
) -> StoreResult<T> {
    // Inside the runtime's context: sqlx hands a pool connection back by spawning a task.
    let _context = runtime.enter();
    let mut lock = runtime
        .block_on(writes.acquire())
        .map_err(crate::error::map_err("write lock"))?;
    let result = work();
    // Handed back on this thread: dropped, the connection goes back to the pool through a
    // task on the runtime, and the next batch waited for a worker busy with requests to run
    // it (the ingest thread sat idle a quarter of the time under load).
    runtime.block_on(lock.return_to_pool());
    drop(lock);
    Ok(result)
}

pub(crate) fn sqlite_err(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(
                f.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) =>
        {
            StoreError::Unavailable(format!("the database stayed locked: {e}"))
        }
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            StoreError::Conflict(format!("a write broke a database rule: {e}"))
        }
        _ => StoreError::Internal(format!("database write: {e}")),
    }
}
