//! Request-side ingestion cost: what a request handler does to one event of a batch before
//! the writer sees it — decode the item's JSON into `RawEvent`, validate it, make the
//! `EventToStore` (its list entry encoded) — and freeing it afterwards, as the submitter does.
//! On two cores the handlers and the writer share the CPU, so this cost counts against the
//! writer's throughput too.
//!
//! `cargo bench -p vestnik-engine --bench event_prepare`; `EVENTS` (default 200 000) in the
//! environment. Prints the best of five rounds, in nanoseconds per event.

use std::time::Instant;
use vestnik_domain::ingest::{self, RawEvent};
use vestnik_domain::{EventToStore, SiteId, Timestamp};

// The server binary runs on mimalloc; measure the allocator production uses.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// One item of `scripts/bench/batch.lua`'s bodies, as the batch endpoint receives it.
fn item(n: usize) -> String {
    let email = format!("u{}@bench.test", n % 10_000);
    format!(
        r#"{{"eventTypeKey":"productViewed","keyValue":"{email}","params":[{{"name":"email","value":"{email}"}},{{"name":"product","value":"{{\"productId\":\"P{}\",\"price\":10}}"}}]}}"#,
        n % 500
    )
}

fn main() {
    let events: usize = std::env::var("EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let items: Vec<String> = (0..events).map(item).collect();
    let site = SiteId::from_trusted("bench-site-0000000000000".to_string());
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let started = Instant::now();
        for chunk in items.chunks(100) {
            let prepared: Vec<EventToStore> = chunk
                .iter()
                .map(|text| {
                    let raw: RawEvent = serde_json::from_str(text).expect("a valid item");
                    let event = ingest::validate(raw, None).expect("a valid event");
                    EventToStore::new(site.clone(), event, Timestamp::now())
                })
                .collect();
            std::hint::black_box(&prepared);
        }
        best = best.min(started.elapsed().as_nanos() as f64 / events as f64);
    }
    println!("event_prepare: {events} productViewed events, best of 5: {best:.0} ns/event");
}
