//! The contact → events index on SQLite (migration 0008): a batch adds its entries to the
//! small `event_contacts_recent`, and once that holds `FOLD_AT` entries, moves them all into
//! `event_contacts` in the same transaction.
//!
//! Why two tables: an index of every event by contact takes its new entries all over the
//! tree, since events of many contacts arrive interleaved, so each one dirtied a page of its
//! own (4 KiB to the WAL and again to the file per event). The recent table has few pages,
//! which a batch's entries share; the move writes one page per contact that had events since
//! the last move, whatever their number.

use rusqlite::Transaction;
use std::sync::LazyLock;
use vestnik_domain::{ContactId, StoreResult};

use super::{CHUNK, placeholder_rows};
use crate::error::internal;
use crate::sqlite::bulk::sqlite_err;

/// Entries in `event_contacts_recent` at which a batch moves them into `event_contacts`.
/// Smaller keeps the recent table's pages (which every batch rewrites) fewer; larger moves
/// more entries per contact page. 64 Ki entries is about 250 pages.
pub(crate) const FOLD_AT: i64 = if cfg!(test) { 40 } else { 65_536 };

static RECENT_CHUNK_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT OR FAIL INTO event_contacts_recent (contact_id, event_id) VALUES {}",
        placeholder_rows(CHUNK, 2)
    )
});

/// Adds the stored events' entries. `recent` is the recent table's size before the batch,
/// when known; returns it after.
pub(super) fn add(
    tx: &Transaction<'_>,
    to_store: &[(usize, Option<ContactId>)],
    event_ids: &[i64],
    recent: Option<i64>,
) -> StoreResult<i64> {
    if to_store.len() != event_ids.len() {
        return Err(internal("an ingested event lost its id"));
    }
    let entries: Vec<(i64, i64)> = to_store
        .iter()
        .zip(event_ids)
        .filter_map(|(&(_, contact), &event)| contact.map(|c| (c.0, event)))
        .collect();
    if let (true, Some(recent)) = (entries.is_empty(), recent) {
        return Ok(recent);
    }
    let mut chunks = entries.chunks_exact(CHUNK);
    if entries.len() >= CHUNK {
        let mut insert = tx
            .prepare_cached(RECENT_CHUNK_SQL.as_str())
            .map_err(sqlite_err)?;
        for chunk in &mut chunks {
            for (i, &(contact, event)) in chunk.iter().enumerate() {
                insert
                    .raw_bind_parameter(1 + 2 * i, contact)
                    .map_err(sqlite_err)?;
                insert
                    .raw_bind_parameter(2 + 2 * i, event)
                    .map_err(sqlite_err)?;
            }
            insert.raw_execute().map_err(sqlite_err)?;
        }
    }
    let mut single = tx
        .prepare_cached(
            "INSERT OR FAIL INTO event_contacts_recent (contact_id, event_id) VALUES (?1, ?2)",
        )
        .map_err(sqlite_err)?;
    for &(contact, event) in chunks.remainder() {
        single
            .execute(rusqlite::params![contact, event])
            .map_err(sqlite_err)?;
    }
    let size = if let Some(recent) = recent {
        recent + entries.len() as i64
    } else {
        tx.query_row("SELECT count(*) FROM event_contacts_recent", [], |r| {
            r.get::<_, i64>(0)
        })
        .map_err(sqlite_err)?
    };
    if size < FOLD_AT {
        return Ok(size);
    }
    tx.execute(
        "INSERT OR FAIL INTO event_contacts (contact_id, event_id) \
         SELECT contact_id, event_id FROM event_contacts_recent",
        [],
    )
    .map_err(sqlite_err)?;
    tx.execute("DELETE FROM event_contacts_recent", [])
        .map_err(sqlite_err)?;
    Ok(0)
}
