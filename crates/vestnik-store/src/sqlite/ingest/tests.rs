//! The batch writer's bookkeeping on batches long enough for its multi-row statements: every
//! answer, event row, outbox row and contact state matches the event it came from.

use serde_json::{Value, json};
use vestnik_domain::ingest::{self, RawEvent};
use vestnik_domain::store::{EventStore, SiteStore};
use vestnik_domain::{EventToStore, Ingested, SiteId, Timestamp};

use crate::sqlite::{SqliteDurability, SqliteStore};

fn event(site: &SiteId, body: Value, at: i64) -> EventToStore {
    let raw: RawEvent = serde_json::from_value(body).expect("a raw event");
    EventToStore::new(
        site.clone(),
        ingest::validate(raw, None).expect("a valid event"),
        Timestamp(at),
    )
}

/// A database file as a Vestnik without migration `version` and later left it.
fn migrated_before(path: &std::path::Path, version: i64) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).expect("the database opens");
    conn.execute_batch(
        "PRAGMA foreign_keys = ON; PRAGMA journal_mode = WAL; \
         CREATE TABLE vestnik_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL);",
    )
    .expect("the ledger");
    for m in crate::migrate::SQLITE
        .iter()
        .filter(|m| m.version < version)
    {
        conn.execute_batch(m.sql).expect("an earlier migration");
        conn.execute(
            "INSERT INTO vestnik_migrations VALUES (?1, ?2, 0)",
            rusqlite::params![m.version, m.name],
        )
        .expect("recorded");
    }
    conn
}

async fn open(path: &std::path::Path) -> SqliteStore {
    SqliteStore::open(path, SqliteDurability::Normal)
        .await
        .expect("the store opens")
}

fn viewed(
    site: &SiteId,
    email: &str,
    product: &str,
    event_id: Option<&str>,
    at: i64,
) -> EventToStore {
    let mut body = json!({
        "eventTypeKey": "productViewed",
        "params": [
            {"name": "email", "value": email},
            {"name": "product", "value": json!({"productId": product, "price": 5}).to_string()}
        ]
    });
    if let Some(id) = event_id {
        body["eventId"] = json!(id);
    }
    event(site, body, at)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_batches_answer_store_and_announce_every_event_as_itself() {
    let dir = tempfile::tempdir().expect("a temp directory");
    let path = dir.path().join("vestnik.db");
    let store = open(&path).await;
    let site = store.create_site("Shop").await.expect("a site").0.id;
    let at = 1_700_000_000_000;

    // Before: a cart and a view for buyer@, and a key already used.
    let cart = event(
        &site,
        json!({
            "eventTypeKey": "cartUpdated",
            "params": [
                {"name": "email", "value": "buyer@shop.ru"},
                {"name": "products", "value": json!([{"productId": "C1", "quantity": 2, "price": 9}]).to_string()},
                {"name": "recycleStateId", "value": "r-1"}
            ]
        }),
        at,
    );
    let first = store
        .ingest(vec![
            cart,
            viewed(&site, "buyer@shop.ru", "P0", None, at + 1),
            viewed(&site, "early@shop.ru", "P9", Some("k-old"), at + 2),
        ])
        .await
        .expect("the first batch");
    let Ingested::Stored {
        event_id: old_id, ..
    } = first[2]
    else {
        panic!("the keyed event is stored: {first:?}");
    };

    // 130 events: two chunks and a remainder, with repeats, known and new contacts, an event
    // without a contact, a key stored before and a key repeated within the batch.
    let mut batch = Vec::new();
    for i in 0..130 {
        let at = at + 10 + i as i64;
        batch.push(match i {
            7 => viewed(&site, "early@shop.ru", "P9", Some("k-old"), at),
            20 | 90 => viewed(&site, "twice@shop.ru", "P2", Some("k-new"), at),
            64 => event(
                &site,
                json!({"eventTypeKey": "signup", "keyValue": "anon-1", "params": [{"name": "plan", "value": "pro"}]}),
                at,
            ),
            _ if i % 3 == 0 => viewed(&site, "buyer@shop.ru", &format!("P{}", i % 4), None, at),
            _ => viewed(&site, &format!("u{}@shop.ru", i % 80), &format!("P{i}"), None, at),
        });
    }
    let results = store.ingest(batch.clone()).await.expect("the long batch");
    assert_eq!(results.len(), batch.len());
    assert!(matches!(results[7], Ingested::Duplicate { event_id } if event_id == old_id));
    let Ingested::Stored {
        event_id: keyed, ..
    } = results[20]
    else {
        panic!("the first use of a new key is stored");
    };
    assert!(matches!(results[90], Ingested::Duplicate { event_id } if event_id == keyed));
    assert!(matches!(
        results[64],
        Ingested::Stored {
            contact_id: None,
            ..
        }
    ));

    let conn = rusqlite::Connection::open(&path).expect("the database opens");
    let mut stored = Vec::new();
    for (item, result) in batch.iter().zip(&results) {
        if let Ingested::Stored {
            event_id,
            contact_id,
        } = *result
        {
            let (key_value, received_at, contact): (String, i64, Option<i64>) = conn
                .query_row(
                    "SELECT key_value, received_at, contact_id FROM events WHERE id = ?1",
                    [event_id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .expect("the answered id is the event's row");
            assert_eq!(
                (key_value.as_str(), received_at, contact),
                (
                    item.event.key_value.as_str(),
                    item.received_at.millis(),
                    contact_id.map(|c| c.0)
                ),
                "event {event_id}"
            );
            stored.push((event_id, contact_id));
        }
    }
    assert_eq!(stored.len(), 128);
    assert!(
        stored.windows(2).all(|w| w[0].0 < w[1].0),
        "ids follow the batch order"
    );

    let outbox = store.pending_outbox(&site, 1000).await.expect("the outbox");
    let announced: Vec<(i64, Value)> = outbox
        .iter()
        .filter(|row| row.ref_id > old_id)
        .map(|row| (row.ref_id, row.payload.clone()))
        .collect();
    let expected: Vec<(i64, Value)> = stored
        .iter()
        .zip(
            batch
                .iter()
                .zip(&results)
                .filter(|(_, r)| matches!(r, Ingested::Stored { .. })),
        )
        .map(|(&(id, contact), (item, _))| {
            (
                id,
                json!({"event_type": item.event.event_type, "contact_id": contact.map(|c| c.0)}),
            )
        })
        .collect();
    assert_eq!(
        announced, expected,
        "one outbox row per stored event, in event order"
    );

    // buyer@: the batch's views in front of the earlier one, the untouched cart kept.
    let Ingested::Stored {
        contact_id: Some(buyer),
        ..
    } = results[0]
    else {
        panic!("buyer@ is a contact");
    };
    let state = store.contact_state(&site, buyer).await.expect("a state");
    let ids: Vec<&str> = state
        .viewed
        .iter()
        .filter_map(|v| v["productId"].as_str())
        .collect();
    assert_eq!(ids, ["P1", "P2", "P3", "P0"]);
    assert_eq!(
        state.viewed[0]["viewed_at"],
        json!(Timestamp(at + 10 + 129).to_rfc3339())
    );
    assert_eq!(
        state.cart,
        vec![json!({"productId": "C1", "quantity": 2, "price": 9})]
    );
    assert_eq!(state.recycle_state_id.as_deref(), Some("r-1"));
    assert_eq!(state.last_activity_at, Some(Timestamp(at + 10 + 129)));
}

/// Every stored event with a contact is found through `contact_events`: listed in its
/// contact's state, moved to `event_contacts` past `FLUSH_AT`, and after a restart, when the
/// writer reads the listed ids back from the state rows. The sources the segment and
/// recommendation queries name instead of the view hold the same entries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_contacts_events_are_found_through_the_contact_index() {
    use super::contact_index::FLUSH_AT;
    use crate::common::segments::{ByContact, SegmentDialect};
    use crate::sqlite::segments::SqliteSegments;
    let dir = tempfile::tempdir().expect("a temp directory");
    let path = dir.path().join("vestnik.db");
    let pairs = |sql: &str| int_pairs(&path, sql);
    let count = |table: &str| pairs(&format!("SELECT count(*), 0 FROM {table}"))[0].0;
    let at = 1_700_000_000_000;
    let per_batch = 3 * FLUSH_AT + 1;
    let mut n = 0;
    for opening in 0..2 {
        let store = open(&path).await;
        let site = match store.list_sites().await.expect("sites").first() {
            Some(site) => site.id.clone(),
            None => store.create_site("Shop").await.expect("a site").0.id,
        };
        for batch in 0..12 {
            let events: Vec<EventToStore> = (0..per_batch)
                .map(|i| {
                    n += 1;
                    if i == 5 {
                        // No contact, no entry.
                        return event(
                            &site,
                            json!({"eventTypeKey": "signup", "keyValue": "anon", "params": []}),
                            at + n,
                        );
                    }
                    viewed(
                        &site,
                        &format!("u{}@shop.ru", (i * 7 + batch) % 11),
                        "P1",
                        None,
                        at + n,
                    )
                })
                .collect();
            store.ingest(events).await.expect("a batch");
            store.settle_events().await.expect("states written");
            let stored = pairs(
                "SELECT contact_id, id FROM events WHERE contact_id IS NOT NULL ORDER BY 1, 2",
            );
            assert_eq!(
                pairs("SELECT contact_id, event_id FROM contact_events ORDER BY 1, 2"),
                stored,
                "opening {opening}, batch {batch}"
            );
            // As a segment condition finds a contact's events (`EXISTS` per contact).
            let ByContact::Through { from, contact } = SqliteSegments::EVENTS_BY_CONTACT else {
                panic!("SQLite finds a contact's events through the contact index");
            };
            assert_eq!(
                pairs(&format!(
                    "SELECT x.contact_id, x.id FROM events x WHERE x.contact_id IS NOT NULL \
                     AND EXISTS (SELECT 1 FROM contacts c WHERE c.id = x.contact_id \
                         AND EXISTS (SELECT 1 FROM {from} WHERE {contact} = c.id AND e.id = x.id)) \
                     ORDER BY 1, 2"
                )),
                stored,
                "per contact, opening {opening}, batch {batch}"
            );
            let longest_list = pairs(
                "SELECT coalesce(max(json_array_length(recent_events)), 0), 0 FROM contact_state",
            )[0]
            .0;
            assert!(
                longest_list < FLUSH_AT as i64,
                "batch {batch}: {longest_list}"
            );
        }
        assert!(count("event_contacts") > 0, "listed ids were moved");
        store.close().await;
    }
    assert_eq!(count("events"), 2 * 12 * per_batch as i64);
}

/// Migration 0009 moves the entries of `event_contacts_recent` (0008's table for the newest
/// entries) into `event_contacts`; every event stays findable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrating_the_recent_entries_keeps_every_event_findable() {
    let dir = tempfile::tempdir().expect("a temp directory");
    let path = dir.path().join("vestnik.db");
    {
        let conn = migrated_before(&path, 9);
        conn.execute_batch(
            "INSERT INTO sites (id, name, created_at) VALUES ('0123456789abcdef01234567', 'Shop', 0); \
             INSERT INTO contacts (id, site_id, email, created_at, updated_at) VALUES (1, '0123456789abcdef01234567', 'a@shop.ru', 0, 0), (2, '0123456789abcdef01234567', 'b@shop.ru', 0, 0); \
             INSERT INTO events (id, site_id, event_type, key_value, contact_id, params, received_at) VALUES \
                 (10, '0123456789abcdef01234567', 'pageViewed', 'a@shop.ru', 1, '{}', 1), (11, '0123456789abcdef01234567', 'pageViewed', 'b@shop.ru', 2, '{}', 2), \
                 (12, '0123456789abcdef01234567', 'pageViewed', 'a@shop.ru', 1, '{}', 3); \
             INSERT INTO contact_state (contact_id, site_id) VALUES (1, '0123456789abcdef01234567'), (2, '0123456789abcdef01234567'); \
             INSERT INTO event_contacts (contact_id, event_id) VALUES (1, 10); \
             INSERT INTO event_contacts_recent (contact_id, event_id) VALUES (2, 11), (1, 12);",
        )
        .expect("data before the migration");
    }
    // Opening applies the pending migration, 0009.
    let store = open(&path).await;
    let site = SiteId::parse("0123456789abcdef01234567").expect("a site id");
    store
        .ingest(vec![viewed(&site, "b@shop.ru", "P1", None, 5)])
        .await
        .expect("a batch after the migration");
    let conn = rusqlite::Connection::open(&path).expect("the database opens");
    let entries: Vec<(i64, i64)> = conn
        .prepare("SELECT contact_id, event_id FROM contact_events ORDER BY 1, 2")
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()
        })
        .expect("entries");
    assert_eq!(entries, [(1, 10), (1, 12), (2, 11), (2, 13)]);
    let recent: String = conn
        .query_row(
            "SELECT recent_events FROM contact_state WHERE contact_id = 2",
            [],
            |r| r.get(0),
        )
        .expect("the state row");
    assert_eq!(recent, "[13]");
}

/// Deletes a site through a connection of its own (cascading as the foreign keys say), as an
/// admin request would, and returns that connection.
fn delete_site_elsewhere(path: &std::path::Path, site: &SiteId) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).expect("the database opens");
    conn.execute_batch("PRAGMA foreign_keys = ON")
        .expect("foreign keys");
    conn.execute("DELETE FROM sites WHERE id = ?1", [site.as_str()])
        .expect("the site is deleted");
    conn
}

/// The ingest connection checks no foreign keys; a batch for a site that is gone fails as a
/// whole, as the foreign key made it, and stores nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_for_a_deleted_site_stores_nothing() {
    let dir = tempfile::tempdir().expect("a temp directory");
    let path = dir.path().join("vestnik.db");
    let store = open(&path).await;
    let kept = store.create_site("Kept").await.expect("a site").0.id;
    let gone = store.create_site("Gone").await.expect("a site").0.id;
    let conn = delete_site_elsewhere(&path, &gone);
    let result = store
        .ingest(vec![
            viewed(&kept, "a@shop.ru", "P1", None, 1),
            viewed(&gone, "b@shop.ru", "P1", None, 2),
        ])
        .await;
    assert!(
        matches!(result, Err(vestnik_domain::StoreError::Conflict(ref m)) if m.contains(gone.as_str())),
        "{result:?}"
    );
    let events: i64 = conn
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .expect("a count");
    let contacts: i64 = conn
        .query_row("SELECT count(*) FROM contacts", [], |r| r.get(0))
        .expect("a count");
    assert_eq!((events, contacts), (0, 0));
}

/// Migration 0008 on a database with events: every contact's events are in the new index,
/// events keep their ids, ids stay unused after the rebuild (AUTOINCREMENT), and
/// `events.contact_id` no longer has a foreign key to cascade through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrating_a_database_with_events_keeps_every_event_findable() {
    let dir = tempfile::tempdir().expect("a temp directory");
    let path = dir.path().join("vestnik.db");
    {
        let conn = migrated_before(&path, 8);
        conn.execute_batch(
            "INSERT INTO sites (id, name, created_at) VALUES ('0123456789abcdef01234567', 'Shop', 0); \
             INSERT INTO contacts (id, site_id, email, created_at, updated_at) VALUES (1, '0123456789abcdef01234567', 'a@shop.ru', 0, 0), (2, '0123456789abcdef01234567', 'b@shop.ru', 0, 0); \
             INSERT INTO events (id, site_id, event_type, key_value, contact_id, params, received_at) VALUES \
                 (10, '0123456789abcdef01234567', 'pageViewed', 'a@shop.ru', 1, '{}', 1), (11, '0123456789abcdef01234567', 'pageViewed', 'anon', NULL, '{}', 2), \
                 (12, '0123456789abcdef01234567', 'pageViewed', 'b@shop.ru', 2, '{}', 3), (13, '0123456789abcdef01234567', 'pageViewed', 'a@shop.ru', 1, '{}', 4); \
             DELETE FROM events WHERE id = 13;",
        )
        .expect("data before the migration");
    }
    // Opening applies the pending migration, 0008.
    let store = open(&path).await;
    let site = SiteId::parse("0123456789abcdef01234567").expect("a site id");
    let stored = store
        .ingest(vec![viewed(&site, "a@shop.ru", "P1", None, 5)])
        .await
        .expect("a batch after the migration");
    assert!(
        matches!(stored[0], Ingested::Stored { event_id: 14, contact_id: Some(c) } if c.0 == 1),
        "{stored:?}"
    );
    let conn = rusqlite::Connection::open(&path).expect("the database opens");
    let entries: Vec<(i64, i64)> = conn
        .prepare("SELECT contact_id, event_id FROM contact_events ORDER BY 1, 2")
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()
        })
        .expect("entries");
    assert_eq!(entries, [(1, 10), (1, 14), (2, 12)]);
    let parents: Vec<String> = conn
        .prepare("SELECT \"table\" FROM pragma_foreign_key_list('events')")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect::<Result<_, _>>())
        .expect("foreign keys");
    assert_eq!(parents, ["sites"]);
}

/// The writer remembers the contacts and states of its batches; a change made through
/// another connection (a new email, an erasure) is seen by the next batch, not overwritten.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writer_forgets_what_another_connection_changed() {
    use vestnik_domain::store::{AuditEntry, ContactStore};
    let dir = tempfile::tempdir().expect("a temp directory");
    let path = dir.path().join("vestnik.db");
    let store = open(&path).await;
    let site = store.create_site("Shop").await.expect("a site").0.id;
    let contact_of = |answer: &[Ingested]| match answer[0] {
        Ingested::Stored {
            contact_id: Some(c),
            ..
        } => c,
        ref other => panic!("a contact: {other:?}"),
    };
    let viewed_ids = |state: vestnik_domain::ContactState| -> Vec<String> {
        state
            .viewed
            .iter()
            .filter_map(|v| v["productId"].as_str().map(str::to_string))
            .collect()
    };
    let first = store
        .ingest(vec![viewed(&site, "old@shop.ru", "P1", None, 1)])
        .await
        .expect("a batch");
    let ivan = contact_of(&first);
    // A view whose state change is not written when the other connection commits: the
    // writer writes it before forgetting.
    delay_state_writes(&store, 3600);
    store
        .ingest(vec![viewed(&site, "old@shop.ru", "P0", None, 1)])
        .await
        .expect("a batch");

    // The contacts API moves the email to another address: old@ names nobody now.
    let mut moved = store.get_contact(&site, ivan).await.expect("the contact");
    moved.email = Some(vestnik_domain::Email::parse("new@shop.ru").expect("an email"));
    store.update_contact(&site, &moved).await.expect("updated");
    let second = store
        .ingest(vec![
            viewed(&site, "old@shop.ru", "P2", None, 2),
            viewed(&site, "new@shop.ru", "P3", None, 3),
        ])
        .await
        .expect("a batch");
    let somebody = contact_of(&second);
    assert_ne!(somebody, ivan, "old@ is a new contact");
    assert!(matches!(second[1], Ingested::Stored { contact_id: Some(c), .. } if c == ivan));
    let state = store.contact_state(&site, ivan).await.expect("a state");
    assert_eq!(viewed_ids(state), ["P3", "P0", "P1"]);

    // Erased, then seen again: a new contact with only the new view.
    let audit = AuditEntry {
        site_id: site.clone(),
        actor: "test".into(),
        action: "contact.erase".into(),
        subject: format!("contact:{}", ivan.0),
        details: json!({}),
    };
    store
        .erase_contact(&site, ivan, &audit)
        .await
        .expect("erased");
    let third = store
        .ingest(vec![viewed(&site, "new@shop.ru", "P4", None, 4)])
        .await
        .expect("a batch after the erasure");
    let again = contact_of(&third);
    assert_ne!(again, ivan);
    let state = store.contact_state(&site, again).await.expect("a state");
    assert_eq!(viewed_ids(state), ["P4"]);
}

/// Looking up one contact's events through the view searches both of its sources by key: a
/// plan that scanned `event_contacts` or every state row would read the whole index per
/// lookup (a contact's deletion, a GDPR export).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_contacts_events_are_looked_up_by_key() {
    let dir = tempfile::tempdir().expect("a temp directory");
    let path = dir.path().join("vestnik.db");
    open(&path).await.close().await;
    let conn = rusqlite::Connection::open(&path).expect("the database opens");
    let sql = format!(
        "EXPLAIN QUERY PLAN SELECT e.id FROM {}",
        crate::sqlite::dialect::EVENTS_OF_CONTACT
    );
    let plan: Vec<String> = conn
        .prepare(&sql)
        .and_then(|mut s| s.query_map([7], |r| r.get(3))?.collect::<Result<_, _>>())
        .expect("a plan");
    let scans: Vec<&String> = plan
        .iter()
        .filter(|step| {
            step.starts_with("SCAN")
                && !step.contains("VIRTUAL TABLE")
                && step.as_str() != "SCAN ce"
        })
        .collect();
    assert!(scans.is_empty(), "{plan:#?}");
    assert!(
        plan.iter()
            .any(|step| step.contains("event_contacts USING PRIMARY KEY")),
        "{plan:#?}"
    );
}

/// Events of every kind that changes a state, for contacts `u0`..`u4` (and one without a
/// contact), `n` from `first`: the mix the deferred-state tests replay.
fn mixed_events(site: &SiteId, first: i64, n: i64) -> Vec<EventToStore> {
    (first..first + n)
        .map(|i| {
            let email = format!("u{}@shop.ru", i % 5);
            let body = match i % 7 {
                0 => json!({"eventTypeKey": "cartUpdated", "params": [
                    {"name": "email", "value": email},
                    {"name": "recycleStateId", "value": format!("cart-{i}")},
                    {"name": "products", "value": json!([{"productId": format!("P{i}"), "quantity": 1, "price": 10}]).to_string()}
                ]}),
                1 => json!({"eventTypeKey": "searchRequest", "params": [
                    {"name": "email", "value": email},
                    {"name": "search", "value": format!("boots {i}")},
                    {"name": "isFound", "value": 1}
                ]}),
                2 => json!({"eventTypeKey": "productAddedToWishlist", "params": [
                    {"name": "email", "value": email},
                    {"name": "product", "value": json!({"productId": format!("W{}", i % 3), "price": 7}).to_string()}
                ]}),
                3 => json!({"eventTypeKey": "productCategoryViewed", "params": [
                    {"name": "email", "value": email},
                    {"name": "category", "value": json!({"productCategoryId": format!("C{i}")}).to_string()}
                ]}),
                4 => json!({"eventTypeKey": "signup", "keyValue": "anonymous", "params": []}),
                _ => json!({"eventTypeKey": "productViewed", "params": [
                    {"name": "email", "value": email},
                    {"name": "product", "value": json!({"productId": format!("P{}", i % 4), "price": 5}).to_string()}
                ]}),
            };
            event(site, body, 1_700_000_000_000 + i)
        })
        .collect()
}

/// Makes the store's writer wait `secs` before writing a changed state.
fn delay_state_writes(store: &SqliteStore, secs: u64) {
    store
        .writer_memory()
        .lock()
        .expect("the memory")
        .set_state_write_delay(std::time::Duration::from_secs(secs));
}

fn scalar(path: &std::path::Path, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open(path).expect("the database opens");
    conn.query_row(sql, [], |r| r.get(0)).expect("a number")
}

/// The rows of a two-integer query.
fn int_pairs(path: &std::path::Path, sql: &str) -> Vec<(i64, i64)> {
    let conn = rusqlite::Connection::open(path).expect("the database opens");
    let mut stmt = conn.prepare(sql).expect("a query");
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("rows")
}

fn index_pairs(path: &std::path::Path) -> Vec<(i64, i64)> {
    int_pairs(
        path,
        "SELECT contact_id, event_id FROM contact_events ORDER BY 1, 2",
    )
}

/// A changed state waits for its delay: batches inside it write events, not states; the
/// first batch after it writes them all, with the contact index entries they move.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_state_is_written_once_its_delay_has_passed() {
    let dir = tempfile::tempdir().expect("a temp directory");
    let path = dir.path().join("vestnik.db");
    let store = open(&path).await;
    let site = store.create_site("Shop").await.expect("a site").0.id;
    let delay = |secs| delay_state_writes(&store, secs);
    // The first batch after a start writes every state it changed (it applied the events
    // the stored states lack first).
    store
        .ingest(mixed_events(&site, 0, 20))
        .await
        .expect("a batch");
    let written = |what: &str| scalar(&path, &format!("SELECT {what}"));
    assert_eq!(written("count(*) FROM contact_state"), 5);
    delay(3600);
    for batch in 1..3 {
        store
            .ingest(mixed_events(&site, batch * 20, 20))
            .await
            .expect("a batch");
    }
    assert_eq!(written("count(*) FROM events"), 60);
    assert_eq!(written("max(last_event_id) FROM contact_state"), 20);
    assert_eq!(
        written("states_through FROM ingest_progress"),
        20,
        "the events after 20 would be applied again"
    );
    // A read of one contact's state writes that state, and no other.
    let state = store
        .contact_state(&site, vestnik_domain::ContactId(1))
        .await
        .expect("a state");
    assert!(state.last_activity_at.is_some());
    assert_eq!(
        written("count(*) FROM contact_state WHERE last_event_id > 20"),
        1
    );
    assert_eq!(written("states_through FROM ingest_progress"), 20);

    delay(0);
    store
        .ingest(mixed_events(&site, 60, 20))
        .await
        .expect("a batch");
    assert_eq!(scalar(&path, "SELECT count(*) FROM contact_state"), 5);
    assert_eq!(
        scalar(&path, "SELECT states_through FROM ingest_progress"),
        80
    );
    assert_eq!(
        scalar(&path, "SELECT max(last_event_id) FROM contact_state"),
        80
    );
    assert!(
        !store
            .writer_memory()
            .lock()
            .expect("the memory")
            .needs_settling()
    );
    let with_contact = scalar(
        &path,
        "SELECT count(*) FROM events WHERE contact_id IS NOT NULL",
    );
    assert_eq!(index_pairs(&path).len() as i64, with_contact);
}

/// The same events into two databases: one writes its states after every batch, the other
/// never until it "crashes" (is closed with states unwritten, some of them written midway)
/// and is opened again. Its states and contact index then match the first's exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unwritten_states_are_redone_after_a_crash() {
    use vestnik_domain::ContactId;
    let dir = tempfile::tempdir().expect("a temp directory");
    let settled_path = dir.path().join("settled.db");
    let crashed_path = dir.path().join("crashed.db");
    let settled = open(&settled_path).await;
    let crashed = open(&crashed_path).await;
    let site_a = settled.create_site("Shop").await.expect("a site").0.id;
    let site_b = crashed.create_site("Shop").await.expect("a site").0.id;
    delay_state_writes(&crashed, 3600);
    for batch in 0..8 {
        let first = batch * 13;
        settled
            .ingest(mixed_events(&site_a, first, 13))
            .await
            .expect("a batch");
        settled.settle_events().await.expect("written");
        crashed
            .ingest(mixed_events(&site_b, first, 13))
            .await
            .expect("a batch");
        if batch == 3 {
            // Written midway: the events after this are applied again, those before not.
            crashed.settle_events().await.expect("written");
        }
        if batch == 5 {
            // One contact's state written ahead of its turn, by a read.
            crashed
                .contact_state(&site_b, ContactId(2))
                .await
                .expect("a state");
        }
    }
    assert!(
        crashed
            .writer_memory()
            .lock()
            .expect("the memory")
            .needs_settling()
    );
    crashed.close().await;
    let reopened = open(&crashed_path).await;
    for contact in 1..=5 {
        let want = settled
            .contact_state(&site_a, ContactId(contact))
            .await
            .expect("a state");
        let got = reopened
            .contact_state(&site_b, ContactId(contact))
            .await
            .expect("a state");
        assert_eq!(got, want, "contact {contact}");
        assert!(!want.viewed.is_empty() && !want.cart.is_empty() && want.last_search.is_some());
    }
    assert_eq!(index_pairs(&crashed_path), index_pairs(&settled_path));
    assert_eq!(
        scalar(&crashed_path, "SELECT states_through FROM ingest_progress"),
        104
    );
}

/// A batch that fails leaves the memory's unwritten states behind; the events they came
/// from are applied again, so nothing the failed batch did not store is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_batch_leaves_unwritten_states_to_be_redone() {
    let dir = tempfile::tempdir().expect("a temp directory");
    let path = dir.path().join("vestnik.db");
    let store = open(&path).await;
    delay_state_writes(&store, 3600);
    let kept = store.create_site("Kept").await.expect("a site").0.id;
    let gone = store.create_site("Gone").await.expect("a site").0.id;
    store
        .ingest(vec![
            viewed(&kept, "a@shop.ru", "P1", None, 1),
            viewed(&kept, "a@shop.ru", "P2", None, 2),
        ])
        .await
        .expect("a batch");
    delete_site_elsewhere(&path, &gone);
    let failed = store
        .ingest(vec![
            viewed(&kept, "a@shop.ru", "P3", None, 3),
            viewed(&gone, "b@shop.ru", "P1", None, 4),
        ])
        .await;
    assert!(failed.is_err());
    let state = store
        .contact_state(&kept, vestnik_domain::ContactId(1))
        .await
        .expect("a state");
    let ids: Vec<&str> = state
        .viewed
        .iter()
        .filter_map(|v| v["productId"].as_str())
        .collect();
    assert_eq!(ids, ["P2", "P1"]);
}

/// Deleting a contact whose newest events are listed only in its unwritten state deletes
/// them too, and the state is not written back afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_contact_with_an_unwritten_state_leaves_nothing_behind() {
    use vestnik_domain::store::ContactStore;
    let dir = tempfile::tempdir().expect("a temp directory");
    let path = dir.path().join("vestnik.db");
    let store = open(&path).await;
    delay_state_writes(&store, 3600);
    let site = store.create_site("Shop").await.expect("a site").0.id;
    store
        .ingest(vec![
            viewed(&site, "a@shop.ru", "P1", None, 1),
            viewed(&site, "b@shop.ru", "P2", None, 2),
            viewed(&site, "a@shop.ru", "P3", None, 3),
        ])
        .await
        .expect("a batch");
    assert!(
        store
            .delete_contact(&site, vestnik_domain::ContactId(1))
            .await
            .expect("deleted")
    );
    assert_eq!(scalar(&path, "SELECT count(*) FROM events"), 1);
    store
        .ingest(vec![viewed(&site, "b@shop.ru", "P4", None, 4)])
        .await
        .expect("a batch");
    store.settle_events().await.expect("written");
    assert_eq!(
        scalar(
            &path,
            "SELECT count(*) FROM contact_state WHERE contact_id = 1"
        ),
        0
    );
    assert_eq!(index_pairs(&path), [(2, 2), (2, 4)]);
}

/// A batch writes at most its own number of events + `STATE_WRITES_BEYOND_BATCH` due
/// states, oldest first; the rest wait for the following batches (or a read).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_writes_a_bounded_share_of_the_due_states() {
    let dir = tempfile::tempdir().expect("a temp directory");
    let path = dir.path().join("vestnik.db");
    let store = open(&path).await;
    let site = store.create_site("Shop").await.expect("a site").0.id;
    let delay = |secs| delay_state_writes(&store, secs);
    store
        .ingest(vec![viewed(&site, "u0@shop.ru", "P1", None, 1)])
        .await
        .expect("a batch");
    delay(3600);
    let many: Vec<EventToStore> = (1..=200)
        .map(|i| viewed(&site, &format!("u{i}@shop.ru"), "P1", None, 1 + i))
        .collect();
    store.ingest(many).await.expect("a batch");
    assert_eq!(scalar(&path, "SELECT count(*) FROM contact_state"), 1);
    delay(0);
    store
        .ingest(vec![viewed(&site, "u0@shop.ru", "P2", None, 300)])
        .await
        .expect("a batch");
    let beyond = super::STATE_WRITES_BEYOND_BATCH as i64;
    assert_eq!(
        scalar(&path, "SELECT count(*) FROM contact_state"),
        1 + 1 + beyond
    );
    // The oldest first: contacts 2.. (u1..) in the order of their events.
    assert_eq!(
        scalar(&path, "SELECT max(contact_id) FROM contact_state"),
        1 + 1 + beyond
    );
    assert_eq!(
        scalar(&path, "SELECT states_through FROM ingest_progress"),
        1 + 1 + beyond
    );
    store.settle_events().await.expect("written");
    assert_eq!(scalar(&path, "SELECT count(*) FROM contact_state"), 201);
    assert_eq!(
        scalar(&path, "SELECT states_through FROM ingest_progress"),
        202
    );
}

/// A second process on the same file (a CLI command beside the server) settles states with
/// a memory of its own while the server's writer has them unwritten: afterwards every event
/// is in the contact index once and the states are the server's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_settling_states_leaves_the_index_whole() {
    use vestnik_domain::ContactId;
    let dir = tempfile::tempdir().expect("a temp directory");
    let path = dir.path().join("vestnik.db");
    let server = open(&path).await;
    let site = server.create_site("Shop").await.expect("a site").0.id;
    server
        .ingest(mixed_events(&site, 0, 10))
        .await
        .expect("a batch");
    delay_state_writes(&server, 3600);
    server
        .ingest(mixed_events(&site, 10, 40))
        .await
        .expect("a batch");
    let cli = open(&path).await;
    let seen_by_cli = cli
        .contact_state(&site, ContactId(1))
        .await
        .expect("a state");
    server
        .ingest(mixed_events(&site, 50, 40))
        .await
        .expect("a batch after the other process wrote");
    let state = server
        .contact_state(&site, ContactId(1))
        .await
        .expect("a state");
    assert!(state.last_activity_at > seen_by_cli.last_activity_at);
    let stored = int_pairs(
        &path,
        "SELECT contact_id, id FROM events WHERE contact_id IS NOT NULL ORDER BY 1, 2",
    );
    server.settle_events().await.expect("written");
    assert_eq!(index_pairs(&path), stored);
}
