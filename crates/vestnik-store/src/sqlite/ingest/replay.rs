//! Applying stored events to contact states again: the events after
//! `ingest_progress.states_through` whose state changes may not have been written (the writer
//! writes states a while after their events, `memory.rs`) when the process stopped or a
//! transaction failed. Each event is rebuilt from its row as the request handler built it
//! (`ingest::validate` over its stored params) and applied unless its contact's stored state
//! already includes it (`last_event_id`).

use rusqlite::{OptionalExtension, params};
use std::time::Instant;
use vestnik_domain::ingest::{self, RawEvent, RawParam, StateChange, ValidEvent};
use vestnik_domain::{ContactId, EventToStore, SiteId, StoreResult, Timestamp};

use super::memory::WriterMemory;
use super::state::PendingState;
use crate::error::internal;
use crate::sqlite::bulk::sqlite_err;

/// Applies the events after `states_through` to the states in `memory` (loading those it
/// lacks) and returns the `states_through` it started from.
pub(super) fn run(tx: &rusqlite::Transaction<'_>, memory: &mut WriterMemory) -> StoreResult<i64> {
    let through: i64 = tx
        .query_row(
            "SELECT states_through FROM ingest_progress WHERE id = 1",
            [],
            |r| r.get(0),
        )
        .map_err(sqlite_err)?;
    memory.note_stored(through);
    let mut events = tx
        .prepare(
            "SELECT id, site_id, event_type, key_value, contact_id, params, received_at \
             FROM events WHERE id > ?1 AND contact_id IS NOT NULL ORDER BY id",
        )
        .map_err(sqlite_err)?;
    let mut load = tx
        .prepare(super::FIND_CONTACT_BY_ID_SQL)
        .map_err(sqlite_err)?;
    let mut rows = events.query([through]).map_err(sqlite_err)?;
    let now = Instant::now();
    while let Some(row) = rows.next().map_err(sqlite_err)? {
        let id: i64 = row.get(0).map_err(sqlite_err)?;
        let site = SiteId::from_trusted(row.get(1).map_err(sqlite_err)?);
        let contact = ContactId(row.get(4).map_err(sqlite_err)?);
        if memory.state_to_change(contact).is_none() {
            let stored = load
                .query_row(params![site.as_str(), contact.0], |r| {
                    PendingState::read(r, &site)
                })
                .optional()
                .map_err(sqlite_err)?;
            // An event of a contact erased since keeps no state.
            let Some(stored) = stored else { continue };
            memory.remember_state(contact, || stored);
        }
        let Some(state) = memory.state_to_change(contact) else {
            return Err(internal("a replayed event's contact has no state"));
        };
        if state.includes(id) {
            continue;
        }
        let item = rebuild(
            site,
            row.get(2).map_err(sqlite_err)?,
            row.get(3).map_err(sqlite_err)?,
            &row.get::<_, String>(5).map_err(sqlite_err)?,
            Timestamp(row.get(6).map_err(sqlite_err)?),
        );
        state.apply(&item)?;
        memory.note_event(contact, id, now);
    }
    Ok(through)
}

/// The event as its request handler made it, from its stored row. An event that no longer
/// validates (rules change between versions) still counts as activity and changes nothing
/// else.
fn rebuild(
    site: SiteId,
    event_type: String,
    key_value: String,
    params_json: &str,
    received_at: Timestamp,
) -> EventToStore {
    let params: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(params_json).unwrap_or_default();
    let raw = RawEvent {
        event_type_key: event_type.clone(),
        key_value: Some(serde_json::Value::String(key_value.clone())),
        params: params
            .into_iter()
            .map(|(name, value)| RawParam { name, value })
            .collect(),
        event_id: None,
    };
    let event = ingest::validate(raw, None).unwrap_or_else(|_| ValidEvent {
        event_type,
        standard: None,
        key_value,
        email: None,
        phone: None,
        param_names: Vec::new(),
        params_json: params_json.to_string(),
        idempotency_key: None,
        change: StateChange::None,
    });
    EventToStore::new(site, event, received_at)
}
