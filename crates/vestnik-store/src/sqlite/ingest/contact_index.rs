//! The contact → events index on SQLite (migration 0008): a batch adds its entries to
//! `event_contacts_recent`; once that holds more than `RECENT_TARGET` entries, each batch
//! also moves the entries of a run of contacts (about `SLICE_ENTRIES` entries) into
//! `event_contacts`, in the same transaction, sweeping the contacts in id order round after
//! round.
//!
//! Why two tables: an index of every event by contact takes its new entries all over the
//! tree, since events of many contacts arrive interleaved, so each one dirtied a page of its
//! own (4 KiB to the WAL and again to the file per event). The recent table is much smaller,
//! and a move writes a contact's entries of a whole sweep together, a page or two per
//! contact whatever their number. Moving a slice per batch, not everything at once, keeps
//! every batch's share of the work small: one large move held up the batch that made it
//! (and every request waiting on it) for half a second.

use rusqlite::{OptionalExtension, Transaction};
use std::sync::LazyLock;
use vestnik_domain::{ContactId, StoreResult};

use super::{CHUNK, insert_rows, placeholder_rows};
use crate::error::internal;
use crate::sqlite::bulk::sqlite_err;

/// Entries `event_contacts_recent` may hold before batches start moving them. Larger makes
/// each contact's entries per move more (fewer pages written per entry); the recent table's
/// pages that a batch touches grow with it. 256 Ki entries is about 1 000 pages.
pub(crate) const RECENT_TARGET: i64 = if cfg!(test) { 40 } else { 262_144 };

/// Entries a move takes, about: whole contacts, up to the one holding entry number
/// `SLICE_ENTRIES` (that contact waits for the next move, unless it is the first). More than
/// a batch usually adds, so the recent table shrinks back under target.
pub(crate) const SLICE_ENTRIES: i64 = if cfg!(test) { 16 } else { 2_048 };

/// The first contact past the slice of `SLICE_ENTRIES` entries that starts at `?1`.
static SLICE_END_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT contact_id FROM event_contacts_recent WHERE contact_id >= ?1 \
         ORDER BY contact_id, event_id LIMIT 1 OFFSET {SLICE_ENTRIES}"
    )
});

/// Where the sweep stands: the recent table's size (when known) and the contact the next
/// move starts at.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RecentEntries {
    pub(crate) count: Option<i64>,
    pub(crate) next_contact: i64,
}

static RECENT_CHUNK_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT OR FAIL INTO event_contacts_recent (contact_id, event_id) VALUES {}",
        placeholder_rows(CHUNK, 2)
    )
});

/// Adds the stored events' entries, and moves a slice when the recent table is over
/// target. Returns where the sweep stands after the batch.
pub(super) fn add(
    tx: &Transaction<'_>,
    to_store: &[(usize, Option<ContactId>)],
    event_ids: &[i64],
    recent: RecentEntries,
) -> StoreResult<RecentEntries> {
    if to_store.len() != event_ids.len() {
        return Err(internal("an ingested event lost its id"));
    }
    let entries: Vec<(i64, i64)> = to_store
        .iter()
        .zip(event_ids)
        .filter_map(|(&(_, contact), &event)| contact.map(|c| (c.0, event)))
        .collect();
    if entries.is_empty() && recent.count.is_some() {
        return Ok(recent);
    }
    insert_rows(
        tx,
        &entries,
        2,
        (
            RECENT_CHUNK_SQL.as_str(),
            "INSERT OR FAIL INTO event_contacts_recent (contact_id, event_id) VALUES (?1, ?2)",
        ),
        |insert, p, &(contact, event)| {
            insert.raw_bind_parameter(p, contact).map_err(sqlite_err)?;
            insert.raw_bind_parameter(p + 1, event).map_err(sqlite_err)
        },
    )?;
    let count = if let Some(count) = recent.count {
        count + entries.len() as i64
    } else {
        tx.query_row("SELECT count(*) FROM event_contacts_recent", [], |r| {
            r.get::<_, i64>(0)
        })
        .map_err(sqlite_err)?
    };
    if count <= RECENT_TARGET {
        return Ok(RecentEntries {
            count: Some(count),
            next_contact: recent.next_contact,
        });
    }
    let start = recent.next_contact;
    let end: Option<i64> = tx
        .prepare_cached(SLICE_END_SQL.as_str())
        .and_then(|mut s| s.query_row([start], |r| r.get(0)).optional())
        .map_err(sqlite_err)?;
    // A contact with more entries than a slice is moved whole; past the last contact, the
    // sweep starts over.
    let end = end.map(|end| end.max(start + 1)).unwrap_or(i64::MAX);
    tx.prepare_cached(
        "INSERT OR FAIL INTO event_contacts (contact_id, event_id) \
         SELECT contact_id, event_id FROM event_contacts_recent \
         WHERE contact_id >= ?1 AND contact_id < ?2",
    )
    .and_then(|mut s| s.execute([start, end]))
    .map_err(sqlite_err)?;
    let moved = tx
        .prepare_cached(
            "DELETE FROM event_contacts_recent WHERE contact_id >= ?1 AND contact_id < ?2",
        )
        .and_then(|mut s| s.execute([start, end]))
        .map_err(sqlite_err)?;
    Ok(RecentEntries {
        count: Some(count - moved as i64),
        next_contact: if end == i64::MAX { 0 } else { end },
    })
}
