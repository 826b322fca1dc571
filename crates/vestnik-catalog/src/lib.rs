//! Reading shops' product feeds in Yandex Market Language (YML): the shop, its currencies,
//! its category tree and its offers, which templates show (`get_random_offers()`,
//! recommendations) and events refer to by offer id. Pure parsing: no database, no network.
//!
//! # The life of a feed through here
//!
//! 1. `source` looks at the first kilobyte only: a BOM or the `<?xml … encoding="…"?>`
//!    prolog picks the encoding (UTF-8, windows-1251, or any label encoding_rs knows), and
//!    an empty body, an HTML page, JSON or an archive is refused with a message that names it.
//!    Then the bytes are decoded to UTF-8 chunk by chunk as the parser pulls them, and a
//!    counter notes every newline that goes past, so each record knows its line for free.
//! 2. `parser` walks quick-xml's streaming events through
//!    `yml_catalog/shop/{currencies,categories,offers}`. It holds one record at a time: an
//!    offer's pieces are collected, checked (`offer`), handed to the [`FeedSink`] and
//!    dropped. A feed of a million offers therefore parses in the memory of one offer.
//!    Most offers take a shortcut (`plain_offer`): one that lies whole in the read buffer
//!    and whose children hold only text is read from the bytes directly, to the same
//!    result, instead of event by event.
//! 3. The sink decides what to do with each record (an importer writes it to the store;
//!    [`parse_feed_to_vec`] collects them). A sink error stops the parse.
//!
//! # Errors: fatal or per record
//!
//! What makes the whole file unusable is a [`FeedError`]: not XML, not YML, an encoding that
//! cannot be decoded, XML that is not well-formed, an I/O failure, a sink failure. Each says
//! what the file is instead and what to do, with a line number where one applies.
//!
//! A broken record (an offer without an id, price or name, a price like `12,5a`) is skipped
//! and reported in [`FeedSummary::errors`] with its offer id, the line of its start tag and
//! every reason; the rest of the feed imports. Common sloppiness is tolerated rather than
//! reported: a bare `&` in text (`Urban&Co`), unknown entities such as `&nbsp;` (kept as
//! written), an empty `<oldprice/>`, and a decimal comma in prices.
//!
//! Prices are exact ([`Price`]): an integer with the shop's number of fraction digits, never
//! a float. Unknown offer elements are kept in [`Offer::extra`], so nothing the shop sent is
//! lost. [`check_category_tree`] reports unknown parents and cycles in the category tree.

mod category_tree;
mod content;
mod error;
mod model;
mod offer;
mod parser;
mod plain_offer;
mod price;
mod sink;
mod source;
mod tag;

use std::io::Read;

pub use category_tree::{CategoryWarning, check_category_tree};
pub use content::MAX_FIELD_BYTES;
pub use error::{FeedError, FeedSummary, MAX_ERROR_DETAILS, OfferError, SinkError};
pub use model::{Category, Currency, ExtraField, Offer, Param, Shop};
pub use price::{Price, PriceError};
pub use sink::{FeedSink, ParsedFeed};

/// Parses a YML feed from `input`, handing each valid record to `sink` as soon as it is read.
///
/// `input` need not be buffered; it is read in 64 KiB chunks. Returns the counts and the
/// skipped records' details, or the [`FeedError`] that stopped the parse (records before it
/// have already reached the sink).
pub fn parse_feed<R: Read>(input: R, sink: &mut impl FeedSink) -> Result<FeedSummary, FeedError> {
    parser::FeedParser::open(input)?.run(sink)
}

/// Parses a whole feed into memory. For tests, previews and small feeds; an importer should
/// use [`parse_feed`] with a sink that writes as it goes.
pub fn parse_feed_to_vec<R: Read>(input: R) -> Result<ParsedFeed, FeedError> {
    let mut feed = ParsedFeed::default();
    feed.summary = parse_feed(input, &mut feed)?;
    Ok(feed)
}
