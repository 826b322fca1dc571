//! SQLite backend: one file, WAL mode, foreign keys on.
//!
//! Writes go through a pool of exactly one connection: SQLite admits one writer at a time
//! anyway, and queueing in-process is far cheaper than spinning on `SQLITE_BUSY`. Reads use
//! their own pool and run beside the writer (WAL). Another process on the same file (the CLI
//! while a server runs) waits up to the busy timeout for the write lock.

mod bulk;
mod catalog_import;
mod checkpoint;
mod dialect;
mod ingest;
mod segments;

mod tenants {
    crate::common::impl_tenant_stores!(super::SqliteStore, sqlx::SqliteConnection);
}
mod contacts {
    crate::common::impl_contact_stores!(super::SqliteStore, sqlx::SqliteConnection, super::dialect);
}
mod orders {
    crate::common::impl_order_store!(super::SqliteStore);
}
mod events {
    crate::common::impl_event_store!(super::SqliteStore);
}
mod catalog {
    crate::common::impl_catalog_store!(super::SqliteStore, sqlx::SqliteConnection, super::dialect);
}
mod promo {
    crate::common::impl_promo_store!(super::SqliteStore, super::dialect, "");
}
mod recommend {
    crate::common::impl_recommendation_store!(super::SqliteStore, super::dialect);
}
mod templates {
    crate::common::impl_template_store!(super::SqliteStore, sqlx::SqliteConnection);
}
mod mail_settings {
    crate::common::impl_mail_settings_store!(super::SqliteStore, sqlx::Sqlite);
}
mod deliveries {
    crate::common::impl_delivery_store!(super::SqliteStore, "");
}
mod campaigns {
    crate::common::impl_campaign_store!(super::SqliteStore, sqlx::Sqlite, "");
}
mod tracking {
    crate::common::impl_tracking_store!(super::SqliteStore);
}
mod audit {
    crate::common::impl_audit_store!(super::SqliteStore);
}
mod jobs {
    crate::common::impl_job_store!(super::SqliteStore, super::dialect);
}

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::path::Path;
use std::time::Duration;
use vestnik_domain::{Store, StoreError, StoreResult};

use crate::error::map_err;
use crate::migrate;

/// How hard commits hit the disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SqliteDurability {
    /// `synchronous=NORMAL`: a committed write survives a crash of the process (kill -9);
    /// the last commits may be lost if the machine loses power. The default.
    #[default]
    Normal,
    /// `synchronous=FULL`: survives power loss too, at the cost of an fsync per commit.
    Full,
}

#[derive(Clone)]
pub struct SqliteStore {
    read: SqlitePool,
    write: SqlitePool,
    /// The bulk connection (see `bulk.rs`).
    bulk: bulk::BulkConnection,
    /// The event writer's (see `ingest_connection`).
    ingest: bulk::BulkConnection,
    /// WAL checkpoints; stops with the last clone.
    checkpointer: std::sync::Arc<checkpoint::Checkpointer>,
    /// What the event writer remembers between batches (`ingest/memory.rs`).
    writer_memory: std::sync::Arc<std::sync::Mutex<ingest::WriterMemory>>,
}

/// How long a write waits for another process holding the file's write lock.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The page size of a database this store creates; a database keeps the page size it was
/// created with. 8 KiB instead of SQLite's 4 KiB: a commit writes each page it changed to
/// the WAL with two system calls, and event ingestion changes runs of neighbouring rows
/// (event rows, index entries, outbox rows), so larger pages mean fewer writes for the same
/// bytes and shallower trees. Measured (BENCHMARKS.md): event batches +10 %, a catalog import
/// +50 %, segment counts 5–12 % faster; single events unchanged. 16 KiB made batches faster
/// still but single events 8 % slower (each small commit rewrites a few whole pages).
pub(crate) const PAGE_SIZE: u32 = 8192;

impl SqliteStore {
    pub async fn open(path: &Path, durability: SqliteDurability) -> StoreResult<Self> {
        if let Some(dir) = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty() && !d.exists())
        {
            return Err(StoreError::Unavailable(format!(
                "directory {} does not exist; create it or choose another database path",
                dir.display()
            )));
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .page_size(PAGE_SIZE)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match durability {
                SqliteDurability::Normal => SqliteSynchronous::Normal,
                SqliteDurability::Full => SqliteSynchronous::Full,
            })
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true)
            // The checkpoint thread (`checkpoint.rs`) does this off every write's path.
            .pragma("wal_autocheckpoint", "0");
        // No ping before handing a connection out: an SQLite connection lives in this process
        // and cannot drop like a socket, and the ping is a round trip to sqlx's worker thread
        // on every acquire (measured: about half of a small ingestion batch's time).
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
        let read = SqlitePoolOptions::new()
            .max_connections(8)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
        migrate_pool(&write).await?;
        // Opened after the migrations, so it never sees a half-made schema.
        let file = path.to_path_buf();
        let (bulk, ingest) = tokio::task::spawn_blocking(move || {
            Ok::<_, StoreError>((
                bulk::BulkConnection::open(&file, durability, true)?,
                bulk::BulkConnection::open(&file, durability, false)?,
            ))
        })
        .await
        .map_err(|e| StoreError::Internal(format!("opening the bulk connection: {e}")))??;
        let checkpointer = checkpoint::Checkpointer::start(
            path,
            write.clone(),
            tokio::runtime::Handle::current(),
        )?;
        let store = SqliteStore {
            read,
            write,
            bulk,
            ingest,
            checkpointer: std::sync::Arc::new(checkpointer),
            writer_memory: Default::default(),
        };
        Ok(store)
    }

    /// Applies pending migrations; safe to call from several processes at once.
    pub async fn migrate(&self) -> StoreResult<()> {
        migrate_pool(&self.write).await
    }

    /// Where reads go: a pool beside the writer.
    pub(crate) fn reads(&self) -> &SqlitePool {
        &self.read
    }

    /// Where writes go: the single writer connection.
    pub(crate) fn writes(&self) -> &SqlitePool {
        &self.write
    }

    pub(crate) fn bulk_connection(&self) -> &bulk::BulkConnection {
        &self.bulk
    }

    /// The event writer's connection: a bulk connection of its own, without SQLite's
    /// foreign-key checks. Every row an event batch writes refers to a contact the same
    /// transaction found or created and to a site it checked once, so the per-row checks
    /// only cost: they made every multi-row statement keep a statement journal (a copy of each
    /// page it changed, to undo that statement alone), a tenth of the batch's time.
    pub(crate) fn ingest_connection(&self) -> &bulk::BulkConnection {
        &self.ingest
    }

    pub(crate) fn writer_memory(&self) -> &std::sync::Arc<std::sync::Mutex<ingest::WriterMemory>> {
        &self.writer_memory
    }

    /// Before a read of contact states or of the contact index: writes the states the event
    /// writer has not written yet (`ingest/memory.rs`), so the read sees every stored event.
    pub(crate) async fn settle_events(&self) -> StoreResult<()> {
        ingest::settle(self, None, false).await
    }

    /// As `settle_events`, for a caller that holds the write lock (`writes`) already.
    pub(crate) async fn settle_events_holding_write_lock(&self) -> StoreResult<()> {
        ingest::settle(self, None, true).await
    }

    /// As `settle_events`, for a read of these contacts' states only.
    pub(crate) async fn settle_contacts(
        &self,
        contacts: &[vestnik_domain::ContactId],
    ) -> StoreResult<()> {
        ingest::settle(self, Some(contacts), false).await
    }

    pub(crate) fn checkpointer(&self) -> &checkpoint::Checkpointer {
        &self.checkpointer
    }

    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

async fn migrate_pool(write: &SqlitePool) -> StoreResult<()> {
    let mut tx = write
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(map_err("migration"))?;
    migrate::apply_pending!(tx, migrate::SQLITE, "SQLite");
    tx.commit().await.map_err(map_err("migration"))
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.read)
            .await
            .map(|_| ())
            .map_err(map_err("health check"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page_size(path: &Path) -> i64 {
        rusqlite::Connection::open(path)
            .and_then(|c| c.query_row("PRAGMA page_size", [], |r| r.get(0)))
            .expect("the page size reads")
    }

    /// A new database gets `PAGE_SIZE`; one made before keeps its pages and still works.
    #[tokio::test]
    async fn new_databases_get_the_page_size_and_old_ones_keep_theirs() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let new = dir.path().join("new.db");
        let store = SqliteStore::open(&new, SqliteDurability::Normal)
            .await
            .expect("a new database opens");
        store.close().await;
        assert_eq!(page_size(&new), i64::from(PAGE_SIZE));

        let old = dir.path().join("old.db");
        rusqlite::Connection::open(&old)
            .and_then(|c| {
                c.execute_batch(
                    "PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; CREATE TABLE kept (x);",
                )
            })
            .expect("an old database is made");
        let store = SqliteStore::open(&old, SqliteDurability::Normal)
            .await
            .expect("an old database opens");
        let (site, _key) = vestnik_domain::store::SiteStore::create_site(&store, "Shop")
            .await
            .expect("a site is created");
        assert_eq!(site.name, "Shop");
        store.close().await;
        assert_eq!(page_size(&old), 4096);
    }
}
