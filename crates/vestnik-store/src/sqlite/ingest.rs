//! Event ingestion on SQLite: one batch, one transaction on the bulk connection (`bulk.rs`),
//! with cached prepared statements. sqlx's SQLite driver runs each statement on a worker
//! thread and sends every result row back over a channel; for a few hundred small statements
//! per batch those hand-offs were most of the CPU (a perf profile of the HTTP benchmark
//! showed the thread wake-ups on top). Here the whole batch costs one hand-off.
//!
//! Within the batch, per-statement work is what is left to save: a first pass settles
//! idempotency, contacts (found together with their state) and state changes; then events,
//! outbox rows and states go in with multi-row statements (`CHUNK` rows each).

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Instant;
use vestnik_domain::store::BlockingIngester;
use vestnik_domain::{ContactId, EventToStore, Ingested, StoreResult, Timestamp};

use super::SqliteStore;
use super::bulk::{sqlite_err, with_write_lock_blocking};
use crate::error::internal;
use state::PendingState;

mod contact_index;
mod memory;
mod replay;
mod state;

pub(crate) use memory::WriterMemory;

/// Stores a batch in one transaction; see `EventStore::ingest`.
pub(crate) async fn ingest(
    store: &SqliteStore,
    batch: Vec<EventToStore>,
) -> StoreResult<Vec<Ingested>> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let memory = store.writer_memory().clone();
    store
        .blocking_write(store.ingest_connection().clone(), move |conn| {
            write_batch_remembering(conn, &memory, &batch)
        })
        .await
}

/// The group-commit writer's handle when it runs on a thread of its own (see
/// `EventStore::blocking_ingester`); `None` outside a tokio runtime, which the write lock
/// (sqlx's single writer connection) needs.
pub(crate) fn blocking_ingester(store: &SqliteStore) -> Option<Box<dyn BlockingIngester>> {
    let runtime = tokio::runtime::Handle::try_current().ok()?;
    Some(Box::new(ThreadIngester {
        store: store.clone(),
        runtime,
    }))
}

struct ThreadIngester {
    store: SqliteStore,
    runtime: tokio::runtime::Handle,
}

impl BlockingIngester for ThreadIngester {
    fn ingest(&mut self, batch: &[EventToStore]) -> StoreResult<Vec<Ingested>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        // The same write lock `SqliteStore::bulk` takes, so this process's writes still go
        // one at a time instead of meeting in SQLite's busy-wait.
        let conn = self.store.ingest_connection();
        let memory = self.store.writer_memory();
        with_write_lock_blocking(self.store.writes(), &self.runtime, || {
            conn.with(|conn| write_batch_remembering(conn, memory, batch))
        })?
    }
}

/// What becomes of one event of a batch, as far as idempotency goes.
enum Fate {
    Store,
    /// Its key was stored before, as this event.
    Seen(i64),
    /// Its key appeared earlier in this batch, at this index.
    RepeatOf(usize),
}

/// Finds a contact by a locator together with its stored state, so a contact new to the
/// batch costs one statement. The state columns come in the order `PendingState::read` expects (as
/// `common::events::STATE_COLUMNS`, then `recent_events` and `last_event_id`); all NULL when the contact has no
/// state row yet.
macro_rules! find_contact_sql {
    ($locator:literal) => {
        concat!(
            "SELECT c.id, s.viewed, s.cart, s.recycle_state_id, s.wishlist, s.last_search, \
             s.last_search_found, s.last_category_id, s.last_activity_at, s.recent_events, \
             s.last_event_id \
             FROM contacts c LEFT JOIN contact_state s ON s.contact_id = c.id \
             WHERE c.site_id = ?1 AND c.",
            $locator,
            " = ?2"
        )
    };
}

/// A contact by id with its stored state, as `find_contact_sql!` (`replay.rs`).
const FIND_CONTACT_BY_ID_SQL: &str = find_contact_sql!("id");

/// The batch's statements, prepared (or taken from the connection's cache) once per batch:
/// a cache lookup hashes the SQL text, which per event was a measurable share of the work.
struct Statements<'c> {
    seen_key: rusqlite::CachedStatement<'c>,
    find_by_email: rusqlite::CachedStatement<'c>,
    find_by_phone: rusqlite::CachedStatement<'c>,
    insert_contact: rusqlite::CachedStatement<'c>,
}

impl<'c> Statements<'c> {
    fn prepare(tx: &'c rusqlite::Transaction<'_>) -> rusqlite::Result<Self> {
        Ok(Statements {
            seen_key: tx.prepare_cached(
                "SELECT id FROM events WHERE site_id = ?1 AND idempotency_key = ?2",
            )?,
            find_by_email: tx.prepare_cached(find_contact_sql!("email"))?,
            find_by_phone: tx.prepare_cached(find_contact_sql!("phone"))?,
            // Not `RETURNING id`: SQLite collects returned rows in a temporary b-tree, which
            // cost more than the insert itself here.
            insert_contact: tx.prepare_cached(
                "INSERT INTO contacts (site_id, email, phone, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
            )?,
        })
    }
}

/// How many more due states than its own events a batch writes, at most: enough to catch
/// up, not so many that one batch writes much more than its share (`WriterMemory::write_due`).
const STATE_WRITES_BEYOND_BATCH: usize = 64;

/// `write_batch` with the writer's memory, which a failed batch leaves to start over.
fn write_batch_remembering(
    conn: &mut Connection,
    memory: &Mutex<WriterMemory>,
    batch: &[EventToStore],
) -> StoreResult<Vec<Ingested>> {
    let mut memory = memory
        .lock()
        .map_err(|_| internal("the event writer's memory was poisoned by a panic"))?;
    let written = write_batch(conn, &mut memory, batch);
    if written.is_err() {
        memory.failed();
    }
    written
}

/// Writes the states the event writer has not written yet (and, after a start, applies the
/// events the stored states lack), so that a read that follows sees every event stored so
/// far: only `contacts`' states when given (a recommendation or a send reading a few
/// contacts does not make the writer write everything), else all of them and every contact
/// index entry. Cheap when there is nothing to write. `holding_write_lock`: the caller holds
/// the store's write lock already (and keeps it for the work that needs everything written,
/// so no batch comes between).
pub(crate) async fn settle(
    store: &SqliteStore,
    contacts: Option<&[ContactId]>,
    holding_write_lock: bool,
) -> StoreResult<()> {
    let memory = store.writer_memory().clone();
    // While the writer holds its memory, a batch is running and will leave some unwritten.
    if let Ok(memory) = memory.try_lock() {
        let needed = match contacts {
            None => memory.needs_settling(),
            Some(contacts) => memory.needs_writing(contacts),
        };
        if !needed {
            return Ok(());
        }
    }
    let contacts = contacts.map(<[ContactId]>::to_vec);
    let work = move |conn: &mut Connection| {
        let mut memory = memory
            .lock()
            .map_err(|_| internal("the event writer's memory was poisoned by a panic"))?;
        let settled = write_states(conn, &mut memory, contacts.as_deref());
        if settled.is_err() {
            memory.failed();
        }
        settled
    };
    let conn = store.ingest_connection().clone();
    if holding_write_lock {
        tokio::task::spawn_blocking(move || conn.with(work))
            .await
            .map_err(|e| internal(format!("writing contact states failed: {e}")))?
    } else {
        store.blocking_write(conn, work).await
    }
}

fn write_states(
    conn: &mut Connection,
    memory: &mut WriterMemory,
    contacts: Option<&[ContactId]>,
) -> StoreResult<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sqlite_err)?;
    let replayed = memory.prepare(&tx)?;
    match contacts {
        Some(contacts) if !replayed => memory.write_contacts(&tx, contacts)?,
        _ => memory.write_due(&tx, Instant::now(), None)?,
    }
    tx.commit().map_err(sqlite_err)?;
    memory.committed();
    Ok(())
}

/// Stores the batch in one transaction.
fn write_batch(
    conn: &mut Connection,
    memory: &mut WriterMemory,
    batch: &[EventToStore],
) -> StoreResult<Vec<Ingested>> {
    let now = Timestamp::now().millis();
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sqlite_err)?;
    let replayed = memory.prepare(&tx)?;
    check_sites(&tx, batch)?;
    let mut fates: Vec<Fate> = Vec::with_capacity(batch.len());
    let mut first_with_key: HashMap<(&str, &str), usize> = HashMap::new();
    let mut types: BTreeMap<(&str, &str), (bool, i64, BTreeSet<&str>)> = BTreeMap::new();
    // The events to store, by batch index, with their contacts.
    let mut to_store: Vec<(usize, Option<ContactId>)> = Vec::with_capacity(batch.len());
    {
        let mut st = Statements::prepare(&tx).map_err(sqlite_err)?;
        for (index, item) in batch.iter().enumerate() {
            let e = &item.event;
            let site = item.site_id.as_str();
            let fate = match e.idempotency_key.as_deref() {
                None => Fate::Store,
                Some(key) => match first_with_key.get(&(site, key)) {
                    Some(&first) => Fate::RepeatOf(first),
                    None => match st
                        .seen_key
                        .query_row(params![site, key], |r| r.get::<_, i64>(0))
                        .optional()
                        .map_err(sqlite_err)?
                    {
                        Some(id) => Fate::Seen(id),
                        None => {
                            first_with_key.insert((site, key), index);
                            Fate::Store
                        }
                    },
                },
            };
            let is_stored = matches!(fate, Fate::Store);
            fates.push(fate);
            if !is_stored {
                continue;
            }
            let contact = resolve_contact(&tx, &mut st, memory, item, now)?;
            if let Some(contact) = contact {
                // `resolve_contact` left the state of every contact it returns in the memory.
                if let Some(pending) = memory.state_to_change(contact) {
                    pending.apply(item)?;
                }
            }
            let entry = types
                .entry((site, e.event_type.as_str()))
                .or_insert_with(|| (e.standard.is_some(), 0, BTreeSet::new()));
            entry.1 += 1;
            entry.2.extend(e.param_names.iter().map(String::as_str));
            to_store.push((index, contact));
        }
    }
    let event_ids = insert_events(&tx, batch, &to_store)?;
    index_contacts_events(memory, &to_store, &event_ids)?;
    insert_outbox(&tx, batch, &to_store, &event_ids, now)?;
    // The first batch after a start or a failure writes what it applied again at once.
    let limit = (!replayed).then_some(to_store.len() + STATE_WRITES_BEYOND_BATCH);
    memory.write_due(&tx, Instant::now(), limit)?;
    register_types(&tx, types, now)?;
    tx.commit().map_err(sqlite_err)?;
    memory.committed();

    let mut results: Vec<Ingested> = Vec::with_capacity(batch.len());
    let mut stored = to_store.iter().zip(&event_ids);
    for fate in fates {
        let result = match fate {
            Fate::Seen(event_id) => Ingested::Duplicate { event_id },
            Fate::RepeatOf(first) => {
                let (Ingested::Stored { event_id, .. } | Ingested::Duplicate { event_id }) =
                    results[first];
                Ingested::Duplicate { event_id }
            }
            Fate::Store => match stored.next() {
                Some((&(_, contact_id), &event_id)) => Ingested::Stored {
                    event_id,
                    contact_id,
                },
                None => return Err(internal("an ingested event lost its id")),
            },
        };
        results.push(result);
    }
    Ok(results)
}

/// Lists each stored event in its contact's state (`contact_index.rs`), which also notes the
/// state as changed since it was last written.
fn index_contacts_events(
    memory: &mut WriterMemory,
    to_store: &[(usize, Option<ContactId>)],
    event_ids: &[i64],
) -> StoreResult<()> {
    if to_store.len() != event_ids.len() {
        return Err(internal("an ingested event lost its id"));
    }
    let now = Instant::now();
    for (&(_, contact), &event) in to_store.iter().zip(event_ids) {
        let Some(contact) = contact else {
            memory.note_stored(event);
            continue;
        };
        // `resolve_contact` left the state of every contact it returned in the memory.
        if !memory.note_event(contact, event, now) {
            return Err(internal("an ingested event's contact has no state"));
        }
    }
    Ok(())
}

/// Fails the batch when one of its sites is gone (deleted after its key was checked), as the
/// foreign key from `events.site_id` did: the ingest connection does not check foreign keys.
fn check_sites(tx: &rusqlite::Transaction<'_>, batch: &[EventToStore]) -> StoreResult<()> {
    let sites: BTreeSet<&str> = batch.iter().map(|item| item.site_id.as_str()).collect();
    let mut exists = tx
        .prepare_cached("SELECT 1 FROM sites WHERE id = ?1")
        .map_err(sqlite_err)?;
    for site in sites {
        if !exists.exists([site]).map_err(sqlite_err)? {
            return Err(vestnik_domain::StoreError::Conflict(format!(
                "site {site} no longer exists; its events were not stored"
            )));
        }
    }
    Ok(())
}

/// Rows per multi-row insert into `events`, `outbox` and `contact_state`; the remainder
/// goes one row per statement. A statement per row cost much more than its row: each one
/// sets up and tears down its cursors, and an AUTOINCREMENT table's also reads and writes
/// `sqlite_sequence`.
pub(super) const CHUNK: usize = 25;

/// `INSERT INTO events` of `CHUNK` rows.
static EVENTS_CHUNK_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "INSERT OR FAIL INTO events (site_id, event_type, key_value, contact_id, params, idempotency_key, received_at) \
         VALUES {}",
        placeholder_rows(CHUNK, 7)
    )
});

/// Inserts `rows` with `chunk_sql` (`CHUNK` rows of `columns` parameters each) a chunk at a
/// time, the remainder with `single_sql` (one row); `bind` binds a row from its first
/// parameter on.
pub(super) fn insert_rows<T>(
    tx: &rusqlite::Transaction<'_>,
    rows: &[T],
    columns: usize,
    (chunk_sql, single_sql): (&str, &str),
    mut bind: impl FnMut(&mut rusqlite::CachedStatement<'_>, usize, &T) -> StoreResult<()>,
) -> StoreResult<()> {
    let mut chunks = rows.chunks_exact(CHUNK);
    if rows.len() >= CHUNK {
        let mut insert = tx.prepare_cached(chunk_sql).map_err(sqlite_err)?;
        for chunk in &mut chunks {
            for (i, row) in chunk.iter().enumerate() {
                bind(&mut insert, 1 + columns * i, row)?;
            }
            insert.raw_execute().map_err(sqlite_err)?;
        }
    }
    let mut insert = tx.prepare_cached(single_sql).map_err(sqlite_err)?;
    for row in chunks.remainder() {
        bind(&mut insert, 1, row)?;
        insert.raw_execute().map_err(sqlite_err)?;
    }
    Ok(())
}

/// `(?1, …, ?columns), (?columns+1, …)`: `rows` rows of numbered placeholders for a VALUES list.
pub(super) fn placeholder_rows(rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|i| {
            let row: Vec<String> = (1 + columns * i..1 + columns * (i + 1))
                .map(|n| format!("?{n}"))
                .collect();
            format!("({})", row.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Inserts the events to store, in batch order, and returns their ids in that order.
fn insert_events(
    tx: &rusqlite::Transaction<'_>,
    batch: &[EventToStore],
    to_store: &[(usize, Option<ContactId>)],
) -> StoreResult<Vec<i64>> {
    let mut ids = Vec::with_capacity(to_store.len());
    let mut chunks = to_store.chunks_exact(CHUNK);
    if to_store.len() >= CHUNK {
        let mut insert = tx
            .prepare_cached(EVENTS_CHUNK_SQL.as_str())
            .map_err(sqlite_err)?;
        for chunk in &mut chunks {
            for (i, &(index, contact)) in chunk.iter().enumerate() {
                let Some(item) = batch.get(index) else {
                    return Err(internal("an ingested event left its batch"));
                };
                let e = &item.event;
                let p = 1 + 7 * i;
                let bound = (|| {
                    insert.raw_bind_parameter(p, item.site_id.as_str())?;
                    insert.raw_bind_parameter(p + 1, &e.event_type)?;
                    insert.raw_bind_parameter(p + 2, &e.key_value)?;
                    insert.raw_bind_parameter(p + 3, contact.map(|c| c.0))?;
                    insert.raw_bind_parameter(p + 4, &e.params_json)?;
                    insert.raw_bind_parameter(p + 5, &e.idempotency_key)?;
                    insert.raw_bind_parameter(p + 6, item.received_at.millis())
                })();
                bound.map_err(sqlite_err)?;
            }
            insert.raw_execute().map_err(sqlite_err)?;
            // AUTOINCREMENT gives each new row the id one above every id the table ever held,
            // and a VALUES list is inserted in its order, while the batch holds the write lock:
            // the chunk's ids are consecutive, ending at the last inserted rowid. (Not
            // `RETURNING id`: SQLite collects returned rows in a temporary b-tree, which cost
            // several times the insert; nor a query for the newest ids, one more statement
            // per chunk.)
            let last = tx.last_insert_rowid();
            let first = last - chunk.len() as i64 + 1;
            ids.extend(first..=last);
        }
    }
    let mut single = tx
        .prepare_cached(
            "INSERT OR FAIL INTO events (site_id, event_type, key_value, contact_id, params, idempotency_key, received_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .map_err(sqlite_err)?;
    for &(index, contact) in chunks.remainder() {
        let Some(item) = batch.get(index) else {
            return Err(internal("an ingested event left its batch"));
        };
        let e = &item.event;
        single
            .execute(params![
                item.site_id.as_str(),
                e.event_type,
                e.key_value,
                contact.map(|c| c.0),
                e.params_json,
                e.idempotency_key,
                item.received_at.millis()
            ])
            .map_err(sqlite_err)?;
        ids.push(tx.last_insert_rowid());
    }
    Ok(ids)
}

/// `INSERT INTO outbox` of `CHUNK` rows; `?1` is the shared `created_at`.
static OUTBOX_CHUNK_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let rows: Vec<String> = (0..CHUNK)
        .map(|i| {
            let p = 2 + 3 * i;
            format!("(?{p}, 'event', ?{}, ?{}, ?1)", p + 1, p + 2)
        })
        .collect();
    format!(
        "INSERT OR FAIL INTO outbox (site_id, topic, ref_id, payload, created_at) VALUES {}",
        rows.join(", ")
    )
});

/// The stored events' outbox rows, in event order, so outbox ids follow event ids.
fn insert_outbox(
    tx: &rusqlite::Transaction<'_>,
    batch: &[EventToStore],
    to_store: &[(usize, Option<ContactId>)],
    event_ids: &[i64],
    now: i64,
) -> StoreResult<()> {
    let mut payload: Vec<u8> = Vec::with_capacity(64);
    let mut bind = |stmt: &mut rusqlite::CachedStatement<'_>,
                    first_param: usize,
                    &(index, contact): &(usize, Option<ContactId>),
                    event_id: i64|
     -> StoreResult<()> {
        let Some(item) = batch.get(index) else {
            return Err(internal("an ingested event left its batch"));
        };
        payload.clear();
        serde_json::to_writer(
            &mut payload,
            &crate::common::event_outbox_payload(item, contact),
        )
        .map_err(|err| internal(format!("encoding an outbox payload: {err}")))?;
        // Bound as text, as the payload always was: a blob would read back differently.
        let text = std::str::from_utf8(&payload)
            .map_err(|err| internal(format!("encoding an outbox payload: {err}")))?;
        stmt.raw_bind_parameter(first_param, item.site_id.as_str())
            .map_err(sqlite_err)?;
        stmt.raw_bind_parameter(first_param + 1, event_id)
            .map_err(sqlite_err)?;
        stmt.raw_bind_parameter(first_param + 2, text)
            .map_err(sqlite_err)?;
        Ok(())
    };
    let mut rows = to_store.iter().zip(event_ids);
    let chunks = to_store.len() / CHUNK;
    if chunks > 0 {
        let mut chunk = tx
            .prepare_cached(OUTBOX_CHUNK_SQL.as_str())
            .map_err(sqlite_err)?;
        for _ in 0..chunks {
            chunk.raw_bind_parameter(1, now).map_err(sqlite_err)?;
            for (i, (row, &event_id)) in rows.by_ref().take(CHUNK).enumerate() {
                bind(&mut chunk, 2 + 3 * i, row, event_id)?;
            }
            chunk.raw_execute().map_err(sqlite_err)?;
        }
    }
    let mut single = tx
        .prepare_cached(
            "INSERT OR FAIL INTO outbox (site_id, topic, ref_id, payload, created_at) VALUES (?1, 'event', ?2, ?3, ?4)",
        )
        .map_err(sqlite_err)?;
    for (row, &event_id) in rows {
        bind(&mut single, 1, row, event_id)?;
        single.raw_bind_parameter(4, now).map_err(sqlite_err)?;
        single.raw_execute().map_err(sqlite_err)?;
    }
    Ok(())
}

/// The contact the event's locators name (email wins over phone), created when unknown;
/// `None` for an event without a locator. The batch holds the write lock, so a lookup that
/// finds nothing stays true until the insert. Leaves the contact and its state in `memory`.
fn resolve_contact(
    tx: &rusqlite::Transaction<'_>,
    st: &mut Statements<'_>,
    memory: &mut WriterMemory,
    item: &EventToStore,
    now: i64,
) -> StoreResult<Option<ContactId>> {
    let e = &item.event;
    let site = item.site_id.as_str();
    let email = e.email.as_ref().map(|v| v.as_str());
    let phone = e.phone.as_ref().map(|v| v.as_str());
    if email.is_none() && phone.is_none() {
        return Ok(None);
    }
    let lookups = [("email", email), ("phone", phone)];
    for (col, value) in lookups {
        let Some(value) = value else { continue };
        if let Some(id) = memory.contact(site, col, value) {
            return Ok(Some(id));
        }
        let find = if col == "email" {
            &mut st.find_by_email
        } else {
            &mut st.find_by_phone
        };
        let found = find
            .query_row(params![site, value], |r| {
                Ok((ContactId(r.get(0)?), PendingState::read(r, &item.site_id)?))
            })
            .optional()
            .map_err(sqlite_err)?;
        if let Some((id, state)) = found {
            memory.learn((site, col, value), id, || state);
            return Ok(Some(id));
        }
    }
    st.insert_contact
        .execute(params![site, email, phone, now])
        .map_err(sqlite_err)?;
    let id = ContactId(tx.last_insert_rowid());
    for (col, value) in lookups {
        if let Some(value) = value {
            // Contact ids are never reused (AUTOINCREMENT), so a new contact has no stored
            // state.
            memory.learn((site, col, value), id, || PendingState::new(&item.site_id));
        }
    }
    Ok(Some(id))
}

/// Merges the batch's counts and param names into the event type registry.
fn register_types(
    tx: &rusqlite::Transaction<'_>,
    types: BTreeMap<(&str, &str), (bool, i64, BTreeSet<&str>)>,
    now: i64,
) -> StoreResult<()> {
    let mut known = tx
        .prepare_cached("SELECT params FROM event_types WHERE site_id = ?1 AND key = ?2")
        .map_err(sqlite_err)?;
    let mut upsert = tx
        .prepare_cached(
            "INSERT INTO event_types (site_id, key, is_standard, params, event_count, first_seen_at, last_seen_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) \
             ON CONFLICT (site_id, key) DO UPDATE SET params = excluded.params, \
                 event_count = event_types.event_count + excluded.event_count, last_seen_at = excluded.last_seen_at",
        )
        .map_err(sqlite_err)?;
    for ((site, key), (is_standard, count, params)) in types {
        let stored: Option<String> = known
            .query_row(params![site, key], |r| r.get(0))
            .optional()
            .map_err(sqlite_err)?;
        let mut names: BTreeSet<String> = params.into_iter().map(str::to_string).collect();
        if let Some(serde_json::Value::Array(old)) =
            stored.and_then(|s| serde_json::from_str(&s).ok())
        {
            names.extend(old.into_iter().filter_map(|n| match n {
                serde_json::Value::String(s) => Some(s),
                _ => None,
            }));
        }
        let names_json = serde_json::to_string(&names)
            .map_err(|e| internal(format!("encoding event type params: {e}")))?;
        upsert
            .execute(params![site, key, is_standard, names_json, count, now])
            .map_err(sqlite_err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
