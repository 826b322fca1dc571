//! The contact → events index on SQLite (migrations 0008 and 0009): a contact's newest event
//! ids are listed in its state row (`contact_state.recent_events`, which the writer writes
//! after the contact's events anyway); once `FLUSH_AT` are listed, the transaction that
//! writes the row moves them into `event_contacts`. The view `contact_events` shows both.
//!
//! Why not an index on `events(contact_id)`: events of many contacts arrive interleaved, so
//! each new entry landed on a page of its own (a whole page to the WAL, and again to the
//! file, per event). A contact's listed ids cost a few bytes of a row the batch writes
//! anyway, and a move puts `FLUSH_AT` of one contact's entries side by side, on one page.
//! (Before 0009 the newest entries had a table of their own, `event_contacts_recent`: an
//! insert per event, then a read, an insert and a delete per entry when they were moved,
//! about a fifth of the writer's time.)

use rusqlite::Transaction;
use std::sync::LazyLock;
use vestnik_domain::StoreResult;

use super::{CHUNK, insert_rows, placeholder_rows};
use crate::sqlite::bulk::sqlite_err;

/// Event ids a state row lists before they move to `event_contacts`. More makes each
/// contact's move fill more of a page; fewer keeps state rows short (an id is about ten
/// bytes of JSON, and the row is rewritten with every event of the contact).
pub(crate) const FLUSH_AT: usize = if cfg!(test) { 4 } else { 32 };

static ENTRIES_CHUNK_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT OR IGNORE INTO event_contacts (contact_id, event_id) VALUES {}",
        placeholder_rows(CHUNK, 2)
    )
});

/// Inserts `(contact, event)` entries moved out of state rows, in key order so that each
/// contact's land together. An entry already there is skipped: a second process reading
/// states (a CLI command) may have applied and moved the same events while this writer's
/// memory still listed them (`memory.rs`), and a move must not fail every batch after.
pub(super) fn insert(tx: &Transaction<'_>, entries: &mut [(i64, i64)]) -> StoreResult<()> {
    entries.sort_unstable();
    insert_rows(
        tx,
        entries,
        2,
        (
            ENTRIES_CHUNK_SQL.as_str(),
            "INSERT OR IGNORE INTO event_contacts (contact_id, event_id) VALUES (?1, ?2)",
        ),
        |insert, p, &(contact, event)| {
            insert.raw_bind_parameter(p, contact).map_err(sqlite_err)?;
            insert.raw_bind_parameter(p + 1, event).map_err(sqlite_err)
        },
    )
}
