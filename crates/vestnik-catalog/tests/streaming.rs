//! The parser streams: a feed far larger than anything kept in memory goes through a sink that
//! only counts, input arriving in any chunk sizes gives the same records, and a sink error
//! stops the parse where it happened.

mod common;

use std::io::{self, Read};
use std::time::Instant;

use common::generated::{GENERATED_CATEGORIES, GeneratedFeed};
use vestnik_catalog::{FeedError, FeedSink, Offer, SinkError, parse_feed, parse_feed_to_vec};

/// Keeps nothing: proves that the parser, not the sink, would have to hold the feed.
#[derive(Default)]
struct CountingSink {
    offers: usize,
    available: usize,
    kopecks: u64,
    last_line: u64,
}

impl FeedSink for CountingSink {
    fn offer(&mut self, offer: Offer) -> Result<(), SinkError> {
        self.offers += 1;
        self.available += usize::from(offer.available);
        self.kopecks += offer.price.to_minor_units(2).unwrap_or(0);
        self.last_line = offer.line;
        Ok(())
    }
}

#[test]
fn a_generated_feed_of_20_000_offers_streams_through_a_counting_sink() {
    // 20 000 keeps the unoptimised test build near a second; `cargo bench --bench feed_parse`
    // runs a million through the optimised build.
    const OFFERS: usize = 20_000;
    let started = Instant::now();
    let mut sink = CountingSink::default();
    let summary =
        parse_feed(GeneratedFeed::new(OFFERS), &mut sink).unwrap_or_else(|e| panic!("{e}"));
    let elapsed = started.elapsed();

    assert_eq!(summary.offers, OFFERS);
    assert_eq!(summary.categories, GENERATED_CATEGORIES);
    assert_eq!(summary.skipped, 0);
    assert_eq!(sink.offers, OFFERS);
    assert_eq!(sink.available, OFFERS - OFFERS.div_ceil(7));
    let expected_kopecks: u64 = (0..OFFERS as u64)
        .map(|i| (500 + i % 20_000) * 100 + i % 100)
        .sum();
    assert_eq!(sink.kopecks, expected_kopecks);
    // The first offer starts on line 12, and each takes 14 lines.
    assert_eq!(sink.last_line, 12 + 14 * (OFFERS as u64 - 1));
    eprintln!(
        "{OFFERS} offers in {elapsed:?} ({:.0} offers/s, unoptimised build)",
        OFFERS as f64 / elapsed.as_secs_f64()
    );
}

/// Hands out at most `n` bytes per read, to cut events, UTF-8 characters and windows-1251
/// text at every possible place.
struct Trickle<R> {
    inner: R,
    n: usize,
}

impl<R: Read> Read for Trickle<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = out.len().min(self.n);
        self.inner.read(&mut out[..n])
    }
}

#[test]
fn input_in_tiny_chunks_parses_the_same_as_in_one_piece() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/feeds");
    for name in ["shop-utf8.xml", "shop-cp1251.xml"] {
        let bytes = std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let whole = parse_feed_to_vec(&bytes[..]).unwrap_or_else(|e| panic!("{e}"));
        for n in [1, 3, 7] {
            let trickled = parse_feed_to_vec(Trickle {
                inner: &bytes[..],
                n,
            })
            .unwrap_or_else(|e| panic!("{name} in {n}-byte reads: {e}"));
            assert_eq!(trickled, whole, "{name} in {n}-byte reads");
        }
    }
}

struct FailingSink {
    accepted: usize,
    fail_at: usize,
}

impl FeedSink for FailingSink {
    fn offer(&mut self, offer: Offer) -> Result<(), SinkError> {
        if self.accepted == self.fail_at {
            return Err(format!("database is read-only (offer {})", offer.id).into());
        }
        self.accepted += 1;
        Ok(())
    }
}

#[test]
fn a_sink_error_stops_the_parse_at_that_offer() {
    let mut sink = FailingSink {
        accepted: 0,
        fail_at: 3,
    };
    let result = parse_feed(GeneratedFeed::new(1000), &mut sink);
    match result {
        Err(e @ FeedError::Sink { line, .. }) => {
            assert_eq!(line, 12 + 14 * 3);
            assert_eq!(
                e.to_string(),
                "the import stopped at line 54 of the feed: database is read-only (offer 3)"
            );
        }
        other => panic!("expected a sink error, got {other:?}"),
    }
    assert_eq!(sink.accepted, 3);
}

#[test]
fn an_io_error_while_reading_is_reported_as_such() {
    struct Broken;
    impl Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "connection reset",
            ))
        }
    }
    let feed = Read::chain(GeneratedFeed::new(2).take(300), Broken);
    match parse_feed_to_vec(feed) {
        Err(e @ FeedError::Io(_)) => assert!(e.to_string().contains("connection reset"), "{e}"),
        other => panic!("expected an I/O error, got {other:?}"),
    }
}

/// Writes down what arrives, in order.
#[derive(Default)]
struct Journal(Vec<String>);

impl FeedSink for Journal {
    fn shop(&mut self, shop: vestnik_catalog::Shop) -> Result<(), SinkError> {
        let extra: Vec<String> = shop
            .extra
            .iter()
            .map(|f| format!("{}={}", f.name, f.value))
            .collect();
        let name = shop.name.unwrap_or_default();
        self.0.push(format!("shop {name} {}", extra.join(",")));
        Ok(())
    }

    fn currency(&mut self, currency: vestnik_catalog::Currency) -> Result<(), SinkError> {
        self.0.push(format!("currency {}", currency.id));
        Ok(())
    }

    fn category(&mut self, category: vestnik_catalog::Category) -> Result<(), SinkError> {
        self.0.push(format!("category {}", category.id));
        Ok(())
    }

    fn offer(&mut self, offer: Offer) -> Result<(), SinkError> {
        self.0.push(format!("offer {}", offer.id));
        Ok(())
    }
}

#[test]
fn records_reach_the_sink_in_feed_order_with_the_shop_first() {
    let xml = "<yml_catalog><shop><name>S</name><platform>CMS</platform>\
               <delivery-options><option cost=\"1\" days=\"1\"/></delivery-options>\
               <categories><category id=\"1\">A</category></categories>\
               <currencies><currency id=\"RUR\" rate=\"1\"/></currencies>\
               <offers><offer id=\"7\"><price>1</price><name>N</name></offer></offers>\
               <promos><promo id=\"p\"/></promos></shop></yml_catalog>";
    let mut journal = Journal::default();
    let summary = parse_feed(xml.as_bytes(), &mut journal).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        journal.0,
        [
            "shop S platform=CMS",
            "category 1",
            "currency RUR",
            "offer 7"
        ]
    );
    assert_eq!((summary.offers, summary.categories), (1, 1));
}
