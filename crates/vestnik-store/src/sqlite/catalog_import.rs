//! A catalog import on SQLite: the whole feed in one transaction on the bulk connection, one
//! cached prepared statement per row, pulling the feed's parts from the parsing thread as it
//! goes. Each offer is written once, and not at all when its content hash says the stored
//! row already holds it.
//!
//! The transaction holds the store's write lock throughout (see `bulk.rs`), so other writes of
//! this process queue behind it; that is the price of an atomic switch without writing every
//! offer twice, and the engine keeps it short by reading downloads from a local copy.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use vestnik_domain::store::FeedParts;
use vestnik_domain::{FeedPart, ImportId, ImportSummary, SiteId, StoreResult, Timestamp};

use super::SqliteStore;
use super::bulk::sqlite_err;
use crate::common::catalog::check_running;
use crate::error::internal;

const UPSERT_OFFER: &str = "INSERT INTO offers (site_id, offer_id, available, name, search_name, category_id, \
         data, content_hash, import_id, first_seen_at, updated_at) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10) \
     ON CONFLICT (site_id, offer_id) DO UPDATE SET available = excluded.available, \
         name = excluded.name, search_name = excluded.search_name, category_id = excluded.category_id, \
         data = excluded.data, content_hash = excluded.content_hash, import_id = excluded.import_id, \
         updated_at = excluded.updated_at \
     WHERE offers.content_hash IS NOT excluded.content_hash OR offers.available <> excluded.available";

const UPSERT_CATEGORY: &str = "INSERT INTO categories (site_id, category_id, parent_id, name) VALUES (?1, ?2, ?3, ?4) \
     ON CONFLICT (site_id, category_id) DO UPDATE SET parent_id = excluded.parent_id, name = excluded.name";

/// Imports `parts` into `site`'s catalog; `Ok(Err(reason))` when the feed turned out broken
/// and everything was rolled back.
pub(crate) async fn import_catalog(
    store: &SqliteStore,
    site: &SiteId,
    import: ImportId,
    mut parts: Box<dyn FeedParts>,
) -> StoreResult<Result<(), String>> {
    let site = site.as_str().to_string();
    let runtime = tokio::runtime::Handle::current();
    let outcome = store
        .bulk(move |conn| {
            let outcome = write_import(conn, &runtime, &site, import, parts.as_mut());
            // The connection lives on; the seen-ids table and the import's settings must not.
            let reset = conn
                .execute_batch("DROP TABLE IF EXISTS temp.catalog_import_seen;")
                .map_err(sqlite_err);
            let outcome = outcome?;
            reset?;
            Ok(outcome)
        })
        .await?;
    // The import's pages are copied into the database file by the checkpoint thread, off
    // the write lock (about 3 s per million offers, which SQLite's automatic checkpoint used
    // to do inside the commit while every other write waited).
    store.checkpointer().nudge();
    Ok(outcome)
}

fn write_import(
    conn: &mut Connection,
    runtime: &tokio::runtime::Handle,
    site: &str,
    import: ImportId,
    parts: &mut dyn FeedParts,
) -> StoreResult<Result<(), String>> {
    let now = Timestamp::now().millis();
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sqlite_err)?;
    let state: Option<String> = tx
        .query_row(
            "SELECT state FROM catalog_imports WHERE id = ?1 AND site_id = ?2",
            params![import.0, site],
            |r| r.get(0),
        )
        .optional()
        .map_err(sqlite_err)?;
    check_running(import, state.as_deref())?;
    // Offers the feed no longer lists are retired at the end, which needs the ids it did list.
    // A site's first import has nothing to retire and skips that bookkeeping.
    let had_offers: bool = tx
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM offers WHERE site_id = ?1)",
            [site],
            |r| r.get(0),
        )
        .map_err(sqlite_err)?;
    if had_offers {
        tx.execute_batch(
            "CREATE TEMP TABLE IF NOT EXISTS catalog_import_seen (offer_id TEXT PRIMARY KEY) WITHOUT ROWID; \
             DELETE FROM temp.catalog_import_seen;",
        )
        .map_err(sqlite_err)?;
    }
    tx.execute("DELETE FROM categories WHERE site_id = ?1", [site])
        .map_err(sqlite_err)?;
    loop {
        // Dropping `tx` on the way out of an early return rolls everything back.
        let part = match runtime.block_on(parts.next_part()) {
            Ok(part) => part,
            Err(reason) => return Ok(Err(reason)),
        };
        match part {
            FeedPart::Categories(categories) => {
                let mut upsert = tx.prepare_cached(UPSERT_CATEGORY).map_err(sqlite_err)?;
                for c in &categories {
                    upsert
                        .execute(params![site, c.id, c.parent_id, c.name])
                        .map_err(sqlite_err)?;
                }
            }
            FeedPart::Offers(mut offers) => {
                // In key order, the part's inserts land on neighbouring index pages instead
                // of all over the index. Stable, so a later duplicate id still wins.
                offers.sort_by(|a, b| a.id.cmp(&b.id));
                let mut upsert = tx.prepare_cached(UPSERT_OFFER).map_err(sqlite_err)?;
                for o in &offers {
                    upsert
                        .execute(params![
                            site,
                            o.id,
                            o.available,
                            o.name,
                            o.search_name,
                            o.category_id,
                            o.data,
                            o.content_hash,
                            import.0,
                            now
                        ])
                        .map_err(sqlite_err)?;
                }
                if had_offers {
                    let mut seen = tx
                        .prepare_cached(
                            "INSERT INTO temp.catalog_import_seen (offer_id) VALUES (?1) ON CONFLICT DO NOTHING",
                        )
                        .map_err(sqlite_err)?;
                    for o in &offers {
                        seen.execute([&o.id]).map_err(sqlite_err)?;
                    }
                }
            }
            FeedPart::End(summary) => {
                let retired = if had_offers {
                    tx.execute(
                        "UPDATE offers SET available = 0, updated_at = ?2 \
                         WHERE site_id = ?1 AND available = 1 \
                           AND offer_id NOT IN (SELECT offer_id FROM temp.catalog_import_seen)",
                        params![site, now],
                    )
                    .map_err(sqlite_err)?
                } else {
                    0
                };
                finish(&tx, import, &summary, retired)?;
                tx.commit().map_err(sqlite_err)?;
                return Ok(Ok(()));
            }
        }
    }
}

fn finish(
    tx: &rusqlite::Transaction<'_>,
    import: ImportId,
    summary: &ImportSummary,
    retired: usize,
) -> StoreResult<()> {
    let summary = serde_json::to_string(summary)
        .map_err(|e| internal(format!("encoding the import summary: {e}")))?;
    tx.execute(
        "UPDATE catalog_imports SET state = 'done', summary = ?2, retired = ?3, finished_at = ?4 \
         WHERE id = ?1",
        params![import.0, summary, retired as i64, Timestamp::now().millis()],
    )
    .map_err(sqlite_err)?;
    Ok(())
}
