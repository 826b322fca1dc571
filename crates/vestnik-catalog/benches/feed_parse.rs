//! Parse throughput on a generated feed, with a sink that only counts:
//! `cargo bench -p vestnik-catalog --bench feed_parse [-- OFFERS]` (default 1 000 000).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use common::generated::{GENERATED_CATEGORIES, GeneratedFeed};
use vestnik_catalog::{FeedSink, Offer, SinkError, parse_feed};

#[derive(Default)]
struct Count(usize);

impl FeedSink for Count {
    fn offer(&mut self, offer: Offer) -> Result<(), SinkError> {
        self.0 += usize::from(!offer.id.is_empty());
        Ok(())
    }
}

/// Bytes the generator produces, for MB/s (generation is timed separately and subtracted).
struct Measured<R> {
    inner: R,
    bytes: u64,
}

impl<R: std::io::Read> std::io::Read for Measured<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(out)?;
        self.bytes += n as u64;
        Ok(n)
    }
}

fn main() {
    let offers: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);

    let started = Instant::now();
    let mut sink_bytes = std::io::sink();
    let generated = std::io::copy(&mut GeneratedFeed::new(offers), &mut sink_bytes).unwrap_or(0);
    let generation = started.elapsed();

    let started = Instant::now();
    let mut input = Measured {
        inner: GeneratedFeed::new(offers),
        bytes: 0,
    };
    let mut count = Count::default();
    let summary = match parse_feed(&mut input, &mut count) {
        Ok(summary) => summary,
        Err(e) => {
            eprintln!("parse failed: {e}");
            std::process::exit(1);
        }
    };
    let total = started.elapsed();
    let parse = total.saturating_sub(generation).as_secs_f64().max(1e-9);
    assert_eq!(summary.offers, offers);
    assert_eq!(summary.categories, GENERATED_CATEGORIES);
    assert_eq!(input.bytes, generated);
    println!(
        "feed_parse: {offers} offers, {:.1} MB in {:.2} s ({:.2} s of it generating the feed): \
         {:.0} offers/s, {:.1} MB/s parsing",
        generated as f64 / 1e6,
        total.as_secs_f64(),
        generation.as_secs_f64(),
        offers as f64 / parse,
        generated as f64 / 1e6 / parse,
    );
}
