//! WAL checkpoints on a thread of their own, so no write waits for one.
//!
//! SQLite's automatic checkpoint runs inside whichever commit pushes the WAL past 1000
//! pages: that commit copies every page in the WAL into the database file and fsyncs both
//! before it returns. Under event ingestion that was every few hundred events, on the one
//! thread all writes of this process queue behind, and its fsyncs were the long tail of
//! request latency. Here every connection of the store has the automatic checkpoint off,
//! and this thread runs a PASSIVE checkpoint every `INTERVAL` (or when nudged): it copies
//! beside the writer, without the write lock, and a page written many times between two
//! passes is copied once.
//!
//! A passive checkpoint cannot rewind the WAL while the writer keeps appending to it (SQLite
//! starts the WAL over only when a write begins with every frame copied). So once the WAL
//! passes `RESTART_FRAMES`, the thread takes the store's write lock and runs a RESTART
//! checkpoint: by then the passes have copied nearly everything, so the writer waits only for
//! the tail and two fsyncs, and the WAL file stays bounded.

use rusqlite::Connection;
use sqlx::SqlitePool;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use vestnik_domain::{StoreError, StoreResult};

use super::bulk::{sqlite_err, with_write_lock_blocking};

/// Between two passive passes when nothing nudges the thread.
const INTERVAL: Duration = Duration::from_millis(100);
/// WAL length (frames of one page, 4 KiB each) past which the WAL is started over.
#[cfg(not(test))]
const RESTART_FRAMES: i64 = 8192;
/// Small in tests, so a test's few megabytes of writes go past it.
#[cfg(test)]
const RESTART_FRAMES: i64 = 256;
/// A passive pass this short left next to nothing for the RESTART to copy.
const QUICK_PASS: Duration = Duration::from_millis(2);
const MAX_CATCH_UP_PASSES: usize = 8;
/// Longest a RESTART waits for readers still on the old WAL.
const RESTART_WAIT: Duration = Duration::from_millis(100);

/// Stops the thread when the last clone of the store is dropped.
pub(crate) struct Checkpointer {
    nudge: mpsc::SyncSender<()>,
}

impl Checkpointer {
    /// Opens the thread's own connection and starts it. `writes` is the store's write lock
    /// (its single-connection write pool); `runtime` drives acquiring it.
    pub(crate) fn start(
        path: &Path,
        writes: SqlitePool,
        runtime: tokio::runtime::Handle,
    ) -> StoreResult<Self> {
        let conn = Connection::open(path)
            .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
        // Short: a RESTART that waits on readers does so holding the write lock. Given up,
        // it is tried again after the next pass.
        conn.busy_timeout(RESTART_WAIT).map_err(sqlite_err)?;
        conn.execute_batch("PRAGMA wal_autocheckpoint = 0;")
            .map_err(sqlite_err)?;
        let (nudge, nudged) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("vestnik-checkpoint".into())
            .spawn(move || run(conn, writes, runtime, nudged))
            .map_err(|e| StoreError::Internal(format!("starting the checkpoint thread: {e}")))?;
        Ok(Checkpointer { nudge })
    }

    /// Asks for a pass now (after a large write); a pass already asked for is enough.
    pub(crate) fn nudge(&self) {
        let _ = self.nudge.try_send(());
    }
}

fn run(
    conn: Connection,
    writes: SqlitePool,
    runtime: tokio::runtime::Handle,
    nudged: mpsc::Receiver<()>,
) {
    loop {
        match nudged.recv_timeout(INTERVAL) {
            Ok(()) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            // The store is gone; SQLite checkpoints what is left when its last connection closes.
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        if writes.is_closed() {
            return;
        }
        let frames = match checkpoint(&conn, "PASSIVE") {
            Ok(frames) => frames,
            Err(e) => {
                tracing::warn!(error = %e, "a WAL checkpoint failed; the next pass retries");
                continue;
            }
        };
        if frames < RESTART_FRAMES {
            continue;
        }
        // Catch up until a pass finds little left: the RESTART below copies and syncs the
        // rest while the writer waits, and its cost is the number of pages it still copies.
        for _ in 0..MAX_CATCH_UP_PASSES {
            let started = Instant::now();
            if checkpoint(&conn, "PASSIVE").is_err() || started.elapsed() < QUICK_PASS {
                break;
            }
        }
        let restarted =
            with_write_lock_blocking(&writes, &runtime, || checkpoint(&conn, "RESTART"));
        match restarted {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, frames, "restarting the WAL failed; the next pass retries")
            }
            // The write pool is closed: the store is shutting down.
            Err(_) => return,
        }
    }
}

/// Runs one checkpoint; returns the WAL's length in frames.
fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<i64> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
        r.get::<_, i64>(1)
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use std::path::Path;
    use std::time::{Duration, Instant};
    use vestnik_domain::ingest::{self, RawEvent};
    use vestnik_domain::store::{EventStore, SiteStore};
    use vestnik_domain::{EventToStore, SiteId, Timestamp};

    use crate::sqlite::{SqliteDurability, SqliteStore};

    fn viewed(site: &SiteId, contact: usize, product: usize) -> EventToStore {
        let raw: RawEvent = serde_json::from_value(json!({
            "eventTypeKey": "productViewed",
            "params": [
                {"name": "email", "value": format!("c{contact}@shop.test")},
                {"name": "product", "value": json!({"productId": format!("P{product}"), "price": 5}).to_string()}
            ]
        }))
        .expect("a raw event");
        EventToStore::new(
            site.clone(),
            ingest::validate(raw, None).expect("a valid event"),
            Timestamp::now(),
        )
    }

    fn size(path: &Path) -> u64 {
        std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
    }

    async fn open() -> (tempfile::TempDir, SqliteStore, SiteId) {
        let dir = tempfile::tempdir().expect("a temp directory");
        let store = SqliteStore::open(&dir.path().join("vestnik.db"), SqliteDurability::Normal)
            .await
            .expect("the store opens");
        let site = store.create_site("Shop").await.expect("a site").0.id;
        (dir, store, site)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn committed_pages_reach_the_database_file_without_a_checkpoint_in_the_commit() {
        let (dir, store, site) = open().await;
        let db = dir.path().join("vestnik.db");
        let before = size(&db);
        let batch: Vec<_> = (0..2000).map(|i| viewed(&site, i, i)).collect();
        store.ingest(batch).await.expect("ingested");
        // The commit left its pages in the WAL (no connection checkpoints on its own); the
        // checkpoint thread copies them into the file within a pass or two.
        let deadline = Instant::now() + Duration::from_secs(5);
        while size(&db) <= before {
            assert!(
                Instant::now() < deadline,
                "the database file stayed at {before} bytes: nothing checkpointed the WAL"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_is_started_over_while_writes_keep_coming() {
        let (dir, store, site) = open().await;
        let wal = dir.path().join("vestnik.db-wal");
        let db = dir.path().join("vestnik.db");
        // New contacts in every batch: each one adds pages, all of which pass through the
        // WAL, so without a restart the WAL would end at least as large as the file. The
        // batches follow each other without a pause, as under load.
        const ENOUGH: u64 = 12 << 20;
        let batches: Vec<Vec<EventToStore>> = (0..200)
            .map(|b| (0..500).map(|i| viewed(&site, b * 500 + i, i)).collect())
            .collect();
        let mut ingester = store
            .blocking_ingester()
            .expect("SQLite ingests on a thread");
        let file = db.clone();
        tokio::task::spawn_blocking(move || {
            for batch in batches {
                ingester.ingest(&batch).expect("ingested");
                if size(&file) >= ENOUGH {
                    return;
                }
            }
            panic!("200 batches wrote less than {ENOUGH} bytes");
        })
        .await
        .expect("the writes ran");
        let wal_pages = size(&wal) / 4096;
        assert!(
            wal_pages < 8 * super::RESTART_FRAMES as u64,
            "the WAL grew to {wal_pages} pages while {} bytes were written: it was never started over",
            size(&db)
        );
    }
}
