//! The group-commit writer under concurrency, on both backends: many submitters, shared
//! contacts, repeated idempotency keys — every event answered once, nothing lost or doubled.

use serde_json::json;
use std::collections::HashSet;
use vestnik_domain::ingest::{self, RawEvent};
use vestnik_domain::{EventToStore, Ingested, Timestamp};
use vestnik_engine::{EventWriter, EventWriterConfig};
use vestnik_testkit::TestDb;

fn event(site: &vestnik_domain::SiteId, n: usize) -> EventToStore {
    let email = format!("user{}@shop.ru", (n / 2) % 50);
    let raw: RawEvent = serde_json::from_value(json!({
        "eventTypeKey": "productViewed",
        "keyValue": email,
        // Every event id appears twice: retries racing with the original.
        "eventId": format!("evt-{}", n / 2),
        "params": [
            {"name": "email", "value": email},
            {"name": "product", "value": json!({"productId": format!("P{}", n % 7), "price": 1}).to_string()}
        ]
    }))
    .unwrap();
    EventToStore::new(
        site.clone(),
        ingest::validate(raw, None).unwrap(),
        Timestamp::now(),
    )
}

async fn concurrent_submitters_share_batches_without_loss_or_doubles(db: TestDb) {
    let store = db.store();
    let site = store.create_site("Shop").await.unwrap().0.id;
    let writer = EventWriter::start(
        store.clone(),
        EventWriterConfig {
            max_batch: 64,
            queue: 10_000,
        },
    );
    let mut tasks = Vec::new();
    for t in 0..20 {
        let writer = writer.clone();
        let site = site.clone();
        tasks.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for i in 0..100 {
                let n = t * 100 + i;
                outcomes.push((n, writer.submit(event(&site, n)).await.unwrap()));
            }
            outcomes
        }));
    }
    let mut stored = HashSet::new();
    let mut duplicates = 0;
    for task in tasks {
        for (_, outcome) in task.await.unwrap() {
            match outcome {
                Ingested::Stored {
                    event_id,
                    contact_id,
                } => {
                    assert!(contact_id.is_some());
                    assert!(
                        stored.insert(event_id),
                        "event id {event_id} answered twice"
                    );
                }
                Ingested::Duplicate { .. } => duplicates += 1,
            }
        }
    }
    assert_eq!(stored.len(), 1000, "one stored copy per event id");
    assert_eq!(duplicates, 1000);
    assert_eq!(
        store.count_contacts(&site).await.unwrap(),
        50,
        "one contact per email"
    );
    assert_eq!(store.pending_outbox(&site, 5000).await.unwrap().len(), 1000);
    let types = store.event_types(&site).await.unwrap();
    assert_eq!(
        (types[0].key.as_str(), types[0].event_count),
        ("productViewed", 1000)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_concurrent_submitters_share_batches_without_loss_or_doubles() {
    concurrent_submitters_share_batches_without_loss_or_doubles(TestDb::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_concurrent_submitters_share_batches_without_loss_or_doubles() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    concurrent_submitters_share_batches_without_loss_or_doubles(db).await;
}

/// A full queue refuses at once instead of growing: a submission without room for all of its
/// events is refused whole (nothing of it stored), and every event is either committed or
/// told to retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_refuses_instead_of_growing() {
    let db = TestDb::sqlite().await;
    let store = db.store();
    let site = store.create_site("Shop").await.unwrap().0.id;
    let writer = EventWriter::start(
        store.clone(),
        EventWriterConfig {
            max_batch: 8,
            queue: 4,
        },
    );
    // Distinct ids so that no event is a duplicate of another.
    let too_many: Vec<EventToStore> = (0..5).map(|n| event(&site, n * 2)).collect();
    let outcomes = writer.submit_all(too_many).await;
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Err(vestnik_engine::IngestError::Overloaded))),
        "a 4-event queue cannot take 5 events: {outcomes:?}"
    );
    assert!(store.pending_outbox(&site, 1000).await.unwrap().is_empty());

    // 50 submitters of 2 events each at once: each is stored or refused whole.
    let submissions = (0..50).map(|s| {
        let writer = writer.clone();
        let items: Vec<EventToStore> = (0..2).map(|n| event(&site, 100 + s * 4 + n * 2)).collect();
        tokio::spawn(async move { writer.submit_all(items).await })
    });
    let mut stored = 0;
    let mut refused = 0;
    for submission in submissions {
        let outcomes = submission.await.unwrap();
        assert_eq!(outcomes.len(), 2);
        let ok = outcomes
            .iter()
            .filter(|o| matches!(o, Ok(Ingested::Stored { .. })))
            .count();
        let overloaded = outcomes
            .iter()
            .filter(|o| matches!(o, Err(vestnik_engine::IngestError::Overloaded)))
            .count();
        assert!(
            ok == 2 || overloaded == 2,
            "a submission is stored or refused whole: {outcomes:?}"
        );
        stored += ok;
        refused += overloaded;
    }
    assert_eq!(stored + refused, 100, "every event is answered");
    assert!(stored > 0, "a queue with room takes submissions");
    assert_eq!(
        store.pending_outbox(&site, 1000).await.unwrap().len(),
        stored
    );
}

/// On SQLite the writer runs on a thread of its own beside the store's other writes (sqlx's
/// writer connection): they take turns on the write lock instead of failing on a busy
/// database, and a new writer on the same store works after the first is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_writer_thread_takes_turns_with_other_writes() {
    let db = TestDb::sqlite().await;
    let store = db.store();
    assert!(
        store.blocking_ingester().is_some(),
        "SQLite ingests on the writer's own thread"
    );
    let site = store.create_site("Shop").await.unwrap().0.id;
    let writer = EventWriter::start(store.clone(), EventWriterConfig::default());
    let other_writes = {
        let store = store.clone();
        tokio::spawn(async move {
            for n in 0..50 {
                store.create_site(&format!("Other {n}")).await.unwrap();
            }
        })
    };
    let mut submitters = Vec::new();
    for t in 0..10 {
        let writer = writer.clone();
        let site = site.clone();
        submitters.push(tokio::spawn(async move {
            for i in 0..100 {
                // Even numbers only: each its own event id, so nothing is a duplicate.
                let outcome = writer.submit(event(&site, (t * 100 + i) * 2)).await;
                assert!(
                    matches!(outcome, Ok(Ingested::Stored { .. })),
                    "{outcome:?}"
                );
            }
        }));
    }
    for s in submitters {
        s.await.unwrap();
    }
    other_writes.await.unwrap();
    assert_eq!(store.pending_outbox(&site, 5000).await.unwrap().len(), 1000);

    drop(writer);
    // With every handle of the first writer gone, a second one on the same store works.
    let writer = EventWriter::start(store.clone(), EventWriterConfig::default());
    let outcome = writer.submit(event(&site, 100_001)).await;
    assert!(
        matches!(outcome, Ok(Ingested::Stored { .. })),
        "{outcome:?}"
    );
}
