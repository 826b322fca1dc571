//! Store-side ingestion cost: `EventStore::ingest` in batches, without HTTP, on SQLite and
//! PostgreSQL. Isolates the database work of the group commit from request handling.
//!
//! `cargo bench -p vestnik-engine --bench ingest_store [-- sqlite|postgres]`, `EVENTS` (default
//! 20 000), `BATCH` (default 500) and `FULL_LISTS` (see `events`) in the environment.

use serde_json::json;
use std::time::Instant;
use vestnik_domain::ingest::{self, RawEvent};
use vestnik_domain::{EventToStore, Timestamp};
use vestnik_testkit::{Backend, TestDb};

// The server binary runs on mimalloc; measure the allocator production uses.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// With `FULL_LISTS=1` each contact views a different product every time, so its viewed
/// list fills up to its cap (the HTTP benchmark's single-event phase leaves contacts so);
/// otherwise a contact always views the same product and its list holds one entry.
fn events(site: &vestnik_domain::SiteId, n: usize) -> Vec<EventToStore> {
    let full_lists = std::env::var("FULL_LISTS").is_ok_and(|v| v == "1");
    (0..n)
        .map(|i| {
            let email = format!("u{}@bench.test", i % 10_000);
            let product = if full_lists { (i / 10_000 + i) % 500 } else { i % 500 };
            let raw: RawEvent = serde_json::from_value(json!({
                "eventTypeKey": "productViewed",
                "keyValue": email,
                "params": [
                    {"name": "email", "value": email},
                    {"name": "product", "value": json!({"productId": format!("P{product}"), "price": 10}).to_string()}
                ]
            }))
            .expect("a valid event");
            let event = ingest::validate(raw, None).expect("a valid event");
            EventToStore::new(site.clone(), event, Timestamp::now())
        })
        .collect()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let only = std::env::args()
        .skip(1)
        .find(|a| a == "sqlite" || a == "postgres");
    let total = env_count("EVENTS", 20_000);
    let batch = env_count("BATCH", 500).max(1);
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let name = if backend == Backend::Sqlite {
            "sqlite"
        } else {
            "postgres"
        };
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let Some(db) = TestDb::new(backend).await else {
            println!("{name}: skipped (database unreachable)");
            continue;
        };
        let store = db.store();
        let site = store.create_site("bench").await.expect("a site").0.id;
        let all = events(&site, total);
        // First pass creates the 10 000 contacts; the second is the steady state.
        for (pass, label) in ["first (creates contacts)", "steady state"]
            .iter()
            .enumerate()
        {
            let started = Instant::now();
            for chunk in all.chunks(batch) {
                store.ingest(chunk.to_vec()).await.expect("ingest");
            }
            let secs = started.elapsed().as_secs_f64();
            println!(
                "{name}: {label}: {total} events in batches of {batch}, {secs:.2} s, {:.0} events/s",
                total as f64 / secs
            );
            let _ = pass;
        }
    }
}
