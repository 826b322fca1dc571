//! Event ingestion on SQLite: one batch, one transaction on the bulk connection (`bulk.rs`),
//! with cached prepared statements. sqlx's SQLite driver runs each statement on a worker
//! thread and sends every result row back over a channel; for a few hundred small statements
//! per batch those hand-offs were most of the CPU (a perf profile of the HTTP benchmark
//! showed the thread wake-ups on top). Here the whole batch costs one hand-off.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use vestnik_domain::{
    ContactId, ContactState, EventToStore, Ingested, SiteId, StoreResult, Timestamp,
};

use super::SqliteStore;
use super::bulk::sqlite_err;
use crate::error::internal;

/// Stores a batch in one transaction; see `EventStore::ingest`.
pub(crate) async fn ingest(
    store: &SqliteStore,
    batch: Vec<EventToStore>,
) -> StoreResult<Vec<Ingested>> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    store.bulk(move |conn| write_batch(conn, &batch)).await
}

/// What becomes of one event of a batch, as far as idempotency goes.
enum Fate {
    Store,
    /// Its key was stored before, as this event.
    Seen(i64),
    /// Its key appeared earlier in this batch, at this index.
    RepeatOf(usize),
}

/// The state columns in the order `load_state` reads them (as `common::events::STATE_COLUMNS`);
/// a literal, so the per-contact lookup of the statement cache needs no formatting.
const LOAD_STATE: &str = "SELECT viewed, cart, recycle_state_id, wishlist, last_search, \
     last_search_found, last_category_id, last_activity_at FROM contact_state WHERE contact_id = ?1";

fn write_batch(conn: &mut Connection, batch: &[EventToStore]) -> StoreResult<Vec<Ingested>> {
    let now = Timestamp::now().millis();
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sqlite_err)?;
    let mut results: Vec<Ingested> = Vec::with_capacity(batch.len());
    let mut first_with_key: HashMap<(&str, &str), usize> = HashMap::new();
    let mut contacts: KnownContacts = HashMap::new();
    let mut states: HashMap<ContactId, (&SiteId, ContactState)> = HashMap::new();
    let mut types: BTreeMap<(&str, &str), (bool, i64, BTreeSet<&str>)> = BTreeMap::new();
    {
        let mut seen_key = tx
            .prepare_cached("SELECT id FROM events WHERE site_id = ?1 AND idempotency_key = ?2")
            .map_err(sqlite_err)?;
        let mut insert_event = tx
            .prepare_cached(
                "INSERT INTO events (site_id, event_type, key_value, contact_id, params, idempotency_key, received_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .map_err(sqlite_err)?;
        let mut insert_outbox = tx
            .prepare_cached(
                "INSERT INTO outbox (site_id, topic, ref_id, payload, created_at) VALUES (?1, 'event', ?2, ?3, ?4)",
            )
            .map_err(sqlite_err)?;
        for (index, item) in batch.iter().enumerate() {
            let e = &item.event;
            let site = item.site_id.as_str();
            let fate = match e.idempotency_key.as_deref() {
                None => Fate::Store,
                Some(key) => match first_with_key.get(&(site, key)) {
                    Some(&first) => Fate::RepeatOf(first),
                    None => match seen_key
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
            match fate {
                Fate::Seen(event_id) => {
                    results.push(Ingested::Duplicate { event_id });
                    continue;
                }
                Fate::RepeatOf(first) => {
                    let (Ingested::Stored { event_id, .. } | Ingested::Duplicate { event_id }) =
                        results[first];
                    results.push(Ingested::Duplicate { event_id });
                    continue;
                }
                Fate::Store => {}
            }
            let contact = resolve_contact(&tx, &mut contacts, item, now)?;
            insert_event
                .execute(params![
                    site,
                    e.event_type,
                    e.key_value,
                    contact.map(|c| c.0),
                    e.params_json,
                    e.idempotency_key,
                    item.received_at.millis()
                ])
                .map_err(sqlite_err)?;
            let event_id = tx.last_insert_rowid();
            let payload =
                serde_json::to_string(&crate::common::event_outbox_payload(item, contact))
                    .map_err(|err| internal(format!("encoding an outbox payload: {err}")))?;
            insert_outbox
                .execute(params![site, event_id, payload, now])
                .map_err(sqlite_err)?;
            if let Some(contact) = contact {
                let state = match states.entry(contact) {
                    std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                    std::collections::hash_map::Entry::Vacant(v) => {
                        v.insert((&item.site_id, load_state(&tx, contact)?))
                    }
                };
                state.1.apply(&e.change, item.received_at);
            }
            let entry = types
                .entry((site, e.event_type.as_str()))
                .or_insert_with(|| (e.standard.is_some(), 0, BTreeSet::new()));
            entry.1 += 1;
            entry.2.extend(e.params.keys().map(String::as_str));
            results.push(Ingested::Stored {
                event_id,
                contact_id: contact,
            });
        }
    }
    save_states(&tx, states)?;
    register_types(&tx, types, now)?;
    tx.commit().map_err(sqlite_err)?;
    Ok(results)
}

/// Contacts resolved so far in this batch, by (site, locator column, value).
type KnownContacts<'a> = HashMap<(&'a str, &'static str, &'a str), ContactId>;

/// The contact the event's locators name (email wins over phone), created when unknown;
/// `None` for an event without a locator. The batch holds the write lock, so a lookup that
/// finds nothing stays true until the insert.
fn resolve_contact<'a>(
    tx: &rusqlite::Transaction<'_>,
    known: &mut KnownContacts<'a>,
    item: &'a EventToStore,
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
        if let Some(id) = known.get(&(site, col, value)) {
            return Ok(Some(*id));
        }
        let sql = if col == "email" {
            "SELECT id FROM contacts WHERE site_id = ?1 AND email = ?2"
        } else {
            "SELECT id FROM contacts WHERE site_id = ?1 AND phone = ?2"
        };
        let found = tx
            .prepare_cached(sql)
            .and_then(|mut s| {
                s.query_row(params![site, value], |r| r.get::<_, i64>(0))
                    .optional()
            })
            .map_err(sqlite_err)?;
        if let Some(id) = found {
            known.insert((site, col, value), ContactId(id));
            return Ok(Some(ContactId(id)));
        }
    }
    let id: i64 = tx
        .prepare_cached(
            "INSERT INTO contacts (site_id, email, phone, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4) RETURNING id",
        )
        .and_then(|mut s| s.query_row(params![site, email, phone, now], |r| r.get(0)))
        .map_err(sqlite_err)?;
    for (col, value) in lookups {
        if let Some(value) = value {
            known.insert((site, col, value), ContactId(id));
        }
    }
    Ok(Some(ContactId(id)))
}

fn json_list(text: Option<String>) -> Vec<serde_json::Value> {
    match text.and_then(|t| serde_json::from_str(&t).ok()) {
        Some(serde_json::Value::Array(items)) => items,
        _ => Vec::new(),
    }
}

fn load_state(tx: &rusqlite::Transaction<'_>, contact: ContactId) -> StoreResult<ContactState> {
    let state = tx
        .prepare_cached(LOAD_STATE)
        .and_then(|mut s| {
            s.query_row([contact.0], |r| {
                Ok(ContactState {
                    contact_id: Some(contact),
                    viewed: json_list(r.get(0)?),
                    cart: json_list(r.get(1)?),
                    recycle_state_id: r.get(2)?,
                    wishlist: json_list(r.get(3)?),
                    last_search: r.get(4)?,
                    last_search_found: r.get(5)?,
                    last_category_id: r.get(6)?,
                    last_activity_at: r.get::<_, Option<i64>>(7)?.map(Timestamp),
                })
            })
            .optional()
        })
        .map_err(sqlite_err)?;
    Ok(state.unwrap_or(ContactState {
        contact_id: Some(contact),
        ..Default::default()
    }))
}

fn save_states(
    tx: &rusqlite::Transaction<'_>,
    states: HashMap<ContactId, (&SiteId, ContactState)>,
) -> StoreResult<()> {
    let mut upsert = tx
        .prepare_cached(
            "INSERT INTO contact_state (contact_id, site_id, viewed, cart, recycle_state_id, wishlist, \
                 last_search, last_search_found, last_category_id, last_activity_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
             ON CONFLICT (contact_id) DO UPDATE SET viewed = excluded.viewed, cart = excluded.cart, \
                 recycle_state_id = excluded.recycle_state_id, wishlist = excluded.wishlist, \
                 last_search = excluded.last_search, last_search_found = excluded.last_search_found, \
                 last_category_id = excluded.last_category_id, last_activity_at = excluded.last_activity_at",
        )
        .map_err(sqlite_err)?;
    let encode = |items: &Vec<serde_json::Value>| {
        serde_json::to_string(items).map_err(|e| internal(format!("encoding contact state: {e}")))
    };
    for (contact, (site, state)) in states {
        upsert
            .execute(params![
                contact.0,
                site.as_str(),
                encode(&state.viewed)?,
                encode(&state.cart)?,
                state.recycle_state_id,
                encode(&state.wishlist)?,
                state.last_search,
                state.last_search_found,
                state.last_category_id,
                state.last_activity_at.map(Timestamp::millis),
            ])
            .map_err(sqlite_err)?;
    }
    Ok(())
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
