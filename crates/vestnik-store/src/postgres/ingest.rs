//! Event ingestion on PostgreSQL: each batch in one transaction of a handful of multi-row
//! statements (round trips, not SQL work, bound ingestion here). Several nodes may ingest at
//! once, so contact states are read `FOR UPDATE` and contact inserts tolerate a racing node.

use sqlx::types::Json;
use sqlx::{PgConnection, Row};
use std::collections::{BTreeMap, BTreeSet};
use vestnik_domain::{
    ContactId, ContactState, EventToStore, Ingested, SiteId, StoreResult, Timestamp,
};

use super::PostgresStore;
use super::dialect;
use crate::common::events::{STATE_COLUMNS, state_from_row};
use crate::error::{internal, map_err};
use crate::rows::Columns;

/// Rows per multi-row statement: under SQLite's 32 766 and PostgreSQL's 65 535 parameters.
const ROWS_PER_STATEMENT: usize = 500;

/// What becomes of one event of a batch, as far as idempotency goes.
enum Fate {
    Store,
    /// Its key was stored before, as this event.
    Seen(i64),
    /// Its key appeared earlier in this batch, at this index.
    RepeatOf(usize),
}

/// Looks up the idempotency keys of a batch; events without a key are always stored.
async fn idempotency_fates(
    conn: &mut PgConnection,
    batch: &[EventToStore],
) -> StoreResult<Vec<Fate>> {
    let mut fates = Vec::with_capacity(batch.len());
    let mut first_with_key: std::collections::HashMap<(&str, &str), usize> = Default::default();
    for (i, item) in batch.iter().enumerate() {
        let Some(key) = item.event.idempotency_key.as_deref() else {
            fates.push(Fate::Store);
            continue;
        };
        if let Some(&first) = first_with_key.get(&(item.site_id.as_str(), key)) {
            fates.push(Fate::RepeatOf(first));
            continue;
        }
        let existing =
            sqlx::query("SELECT id FROM events WHERE site_id = $1 AND idempotency_key = $2")
                .bind(item.site_id.as_str())
                .bind(key)
                .fetch_optional(&mut *conn)
                .await
                .map_err(map_err("event"))?;
        match existing {
            Some(row) => fates.push(Fate::Seen(row.get(0))),
            None => {
                first_with_key.insert((item.site_id.as_str(), key), i);
                fates.push(Fate::Store);
            }
        }
    }
    Ok(fates)
}

/// Contact ids by one locator column for many values of one site.
async fn lookup(
    conn: &mut PgConnection,
    site: &SiteId,
    col: &str,
    values: &[&str],
    found: &mut std::collections::HashMap<(SiteId, String, String), ContactId>,
) -> StoreResult<()> {
    for chunk in values.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "SELECT id, {col} FROM contacts WHERE site_id = {} AND {col} IN ({})",
            crate::common::placeholder(1, false),
            crate::common::in_list(chunk.len(), 2, false)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(site.as_str());
        for v in chunk {
            q = q.bind(*v);
        }
        for row in q.fetch_all(&mut *conn).await.map_err(map_err("contact"))? {
            let value: String = row.get(1);
            found.insert(
                (site.clone(), col.to_string(), value),
                ContactId(row.get(0)),
            );
        }
    }
    Ok(())
}

/// The contact each event's locators name (email wins over phone), creating unknown
/// ones; `None` for events without a locator.
async fn resolve_contacts(
    conn: &mut PgConnection,
    items: &[&EventToStore],
    now: i64,
) -> StoreResult<Vec<Option<ContactId>>> {
    use std::collections::{HashMap, HashSet};
    let mut found: HashMap<(SiteId, String, String), ContactId> = HashMap::new();
    let find = |found: &HashMap<(SiteId, String, String), ContactId>, item: &EventToStore| {
        let e = &item.event;
        e.email
            .as_ref()
            .and_then(|v| found.get(&(item.site_id.clone(), "email".to_string(), v.to_string())))
            .or_else(|| {
                e.phone.as_ref().and_then(|v| {
                    found.get(&(item.site_id.clone(), "phone".to_string(), v.to_string()))
                })
            })
            .copied()
    };
    let sites: HashSet<&SiteId> = items.iter().map(|i| &i.site_id).collect();
    for site in sites {
        let of_site = || items.iter().filter(|i| &i.site_id == site);
        let emails: HashSet<&str> = of_site()
            .filter_map(|i| i.event.email.as_ref().map(|e| e.as_str()))
            .collect();
        let phones: HashSet<&str> = of_site()
            .filter_map(|i| i.event.phone.as_ref().map(|p| p.as_str()))
            .collect();
        lookup(
            conn,
            site,
            "email",
            &emails.into_iter().collect::<Vec<_>>(),
            &mut found,
        )
        .await?;
        lookup(
            conn,
            site,
            "phone",
            &phones.into_iter().collect::<Vec<_>>(),
            &mut found,
        )
        .await?;
    }
    // Create the unknown ones, one row per person (keyed by email, else phone).
    let mut new_people: Vec<&EventToStore> = Vec::new();
    let mut planned: HashSet<(SiteId, String)> = HashSet::new();
    for item in items {
        let e = &item.event;
        if (e.email.is_some() || e.phone.is_some()) && find(&found, item).is_none() {
            let identity = e
                .email
                .as_ref()
                .map(|v| v.to_string())
                .or_else(|| e.phone.as_ref().map(|v| v.to_string()));
            if let Some(identity) = identity
                && planned.insert((item.site_id.clone(), identity))
            {
                new_people.push(item);
            }
        }
    }
    for chunk in new_people.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO contacts (site_id, email, phone, created_at, updated_at) VALUES {} \
             ON CONFLICT DO NOTHING RETURNING id, site_id, email, phone",
            crate::common::values_list(chunk.len(), 5, 1, false)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for item in chunk {
            q = q
                .bind(item.site_id.as_str())
                .bind(item.event.email.as_ref().map(|e| e.as_str()))
                .bind(item.event.phone.as_ref().map(|p| p.as_str()))
                .bind(now)
                .bind(now);
        }
        for row in q.fetch_all(&mut *conn).await.map_err(map_err("contact"))? {
            let id = ContactId(row.get(0));
            let site = SiteId::from_trusted(row.get(1));
            for col in ["email", "phone"] {
                if let Some(v) = row.get::<Option<String>, _>(col) {
                    found
                        .entry((site.clone(), col.to_string(), v))
                        .or_insert(id);
                }
            }
        }
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let e = &item.event;
        if e.email.is_none() && e.phone.is_none() {
            out.push(None);
            continue;
        }
        match find(&found, item) {
            Some(id) => out.push(Some(id)),
            // Its insert hit another contact's phone or email (or another node's
            // concurrent insert): look once more, one by one.
            None => {
                let id = resolve_one(conn, item, now).await?;
                out.push(Some(id));
            }
        }
    }
    Ok(out)
}

/// The slow path of `resolve_contacts` for a single event.
async fn resolve_one(
    conn: &mut PgConnection,
    item: &EventToStore,
    now: i64,
) -> StoreResult<ContactId> {
    let e = &item.event;
    for _ in 0..2 {
        for (col, value) in [
            ("email", e.email.as_ref().map(|v| v.as_str())),
            ("phone", e.phone.as_ref().map(|v| v.as_str())),
        ] {
            let Some(value) = value else { continue };
            let sql = format!("SELECT id FROM contacts WHERE site_id = $1 AND {col} = $2");
            if let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(item.site_id.as_str())
                .bind(value)
                .fetch_optional(&mut *conn)
                .await
                .map_err(map_err("contact"))?
            {
                return Ok(ContactId(row.get(0)));
            }
        }
        // Still unknown: another node's insert may race ours; then the insert does
        // nothing and the next round finds theirs.
        let created = sqlx::query(
            "INSERT INTO contacts (site_id, email, phone, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4) ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(item.site_id.as_str())
        .bind(e.email.as_ref().map(|v| v.as_str()))
        .bind(e.phone.as_ref().map(|v| v.as_str()))
        .bind(now)
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_err("contact"))?;
        if let Some(row) = created {
            return Ok(ContactId(row.get(0)));
        }
    }
    Err(internal("a contact could neither be found nor created"))
}

/// Applies every event's state change, in order, with one read and one write per batch.
async fn update_states(
    conn: &mut PgConnection,
    items: &[&EventToStore],
    contacts: &[Option<ContactId>],
) -> StoreResult<()> {
    use std::collections::HashMap;
    let mut ids: Vec<ContactId> = contacts.iter().flatten().copied().collect();
    ids.sort_unstable();
    ids.dedup();
    let mut stored: HashMap<ContactId, ContactState> = HashMap::new();
    for chunk in ids.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "SELECT contact_id, {STATE_COLUMNS} FROM contact_state WHERE contact_id IN ({}){}",
            crate::common::in_list(chunk.len(), 1, false),
            " FOR UPDATE"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            q = q.bind(id.0);
        }
        for row in q
            .fetch_all(&mut *conn)
            .await
            .map_err(map_err("contact state"))?
        {
            let id = ContactId(row.get(0));
            stored.insert(id, state_from_row(&row, id)?);
        }
    }
    // A contact's site is the site of the events naming it.
    let mut states: HashMap<ContactId, (SiteId, ContactState)> = HashMap::new();
    for (item, contact) in items.iter().zip(contacts) {
        let Some(contact) = contact else { continue };
        let entry = states.entry(*contact).or_insert_with(|| {
            (
                item.site_id.clone(),
                stored.remove(contact).unwrap_or_default(),
            )
        });
        entry.1.apply(&item.event.change, item.received_at);
    }
    let all: Vec<(ContactId, (SiteId, ContactState))> = states.into_iter().collect();
    for chunk in all.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO contact_state (contact_id, site_id, viewed, cart, recycle_state_id, wishlist, \
                 last_search, last_search_found, last_category_id, last_activity_at) VALUES {} \
             ON CONFLICT (contact_id) DO UPDATE SET viewed = excluded.viewed, cart = excluded.cart, \
                 recycle_state_id = excluded.recycle_state_id, wishlist = excluded.wishlist, \
                 last_search = excluded.last_search, last_search_found = excluded.last_search_found, \
                 last_category_id = excluded.last_category_id, last_activity_at = excluded.last_activity_at",
            crate::common::values_list(chunk.len(), 10, 1, false)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (id, (site, state)) in chunk {
            q = q
                .bind(id.0)
                .bind(site.as_str())
                .bind(Json(&state.viewed))
                .bind(Json(&state.cart))
                .bind(state.recycle_state_id.as_deref())
                .bind(Json(&state.wishlist))
                .bind(state.last_search.as_deref())
                .bind(state.last_search_found)
                .bind(state.last_category_id.as_deref())
                .bind(state.last_activity_at.map(Timestamp::millis));
        }
        q.execute(&mut *conn)
            .await
            .map_err(map_err("contact state"))?;
    }
    Ok(())
}

/// Counts and param names per (site, type) for one batch, merged into the registry.
async fn register_types(
    conn: &mut PgConnection,
    seen: BTreeMap<(SiteId, String), (bool, i64, BTreeSet<String>)>,
    now: i64,
) -> StoreResult<()> {
    for ((site, key), (is_standard, count, params)) in seen {
        let known = sqlx::query("SELECT params FROM event_types WHERE site_id = $1 AND key = $2")
            .bind(site.as_str())
            .bind(&key)
            .fetch_optional(&mut *conn)
            .await
            .map_err(map_err("event type"))?;
        let mut all = params;
        if let Some(row) = known
            && let serde_json::Value::Array(names) = row.json("params")?
        {
            all.extend(
                names
                    .into_iter()
                    .filter_map(|n| n.as_str().map(str::to_string)),
            );
        }
        let names: Vec<String> = all.into_iter().collect();
        sqlx::query(
            "INSERT INTO event_types (site_id, key, is_standard, params, event_count, first_seen_at, last_seen_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) \
             ON CONFLICT (site_id, key) DO UPDATE SET params = excluded.params, \
                 event_count = event_types.event_count + excluded.event_count, last_seen_at = excluded.last_seen_at",
        )
        .bind(site.as_str())
        .bind(&key)
        .bind(is_standard)
        .bind(Json(&names))
        .bind(count)
        .bind(now)
        .execute(&mut *conn)
        .await
        .map_err(map_err("event type"))?;
    }
    Ok(())
}

pub(crate) async fn ingest(
    store: &PostgresStore,
    batch: Vec<EventToStore>,
) -> StoreResult<Vec<Ingested>> {
    let batch = &batch[..];
    // A handful of multi-row statements per batch rather than several per event:
    // statement round trips, not SQL work, bound ingestion on both drivers.
    let now = Timestamp::now().millis();
    let mut tx = store.writes().begin().await.map_err(map_err("event"))?;
    let fates = idempotency_fates(&mut tx, batch).await?;
    let items: Vec<&EventToStore> = batch
        .iter()
        .zip(&fates)
        .filter(|(_, fate)| matches!(fate, Fate::Store))
        .map(|(item, _)| item)
        .collect();
    let contacts = resolve_contacts(&mut tx, &items, now).await?;

    let event_ids = dialect::insert_events(&mut tx, &items, &contacts).await?;

    update_states(&mut tx, &items, &contacts).await?;

    dialect::insert_event_outbox(&mut tx, &items, &event_ids, &contacts, now).await?;

    let mut seen: BTreeMap<(SiteId, String), (bool, i64, BTreeSet<String>)> = BTreeMap::new();
    for item in &items {
        let entry = seen
            .entry((item.site_id.clone(), item.event.event_type.clone()))
            .or_insert_with(|| (item.event.standard.is_some(), 0, BTreeSet::new()));
        entry.1 += 1;
        entry.2.extend(item.event.param_names.iter().cloned());
    }
    register_types(&mut tx, seen, now).await?;
    tx.commit().await.map_err(map_err("event"))?;

    // In batch order: a repeat's first copy always comes before it.
    let mut stored = event_ids.into_iter().zip(contacts);
    let mut resolved: Vec<Ingested> = Vec::with_capacity(batch.len());
    for fate in fates {
        let outcome = match fate {
            Fate::Seen(event_id) => Ingested::Duplicate { event_id },
            Fate::RepeatOf(first) => match resolved[first] {
                Ingested::Stored { event_id, .. } | Ingested::Duplicate { event_id } => {
                    Ingested::Duplicate { event_id }
                }
            },
            Fate::Store => {
                let (event_id, contact_id) = stored
                    .next()
                    .ok_or_else(|| internal("fewer event ids than stored events"))?;
                Ingested::Stored {
                    event_id,
                    contact_id,
                }
            }
        };
        resolved.push(outcome);
    }
    Ok(resolved)
}

/// None: sqlx's PostgreSQL driver is asynchronous, and several writers may run at once on
/// the server, so the group-commit writer stays an async task here.
pub(crate) fn blocking_ingester(
    _: &PostgresStore,
) -> Option<Box<dyn vestnik_domain::store::BlockingIngester>> {
    None
}
