//! Where parsed records go. The parser calls the sink once per record, in feed order, and
//! keeps nothing itself; an importer writes each record to the store, a test collects them.

use serde::Serialize;

use crate::error::{FeedSummary, SinkError};
use crate::model::{Category, Currency, Offer, Shop};

/// Receives a feed's records as they are read. Returning an error stops the parse at once
/// with [`crate::FeedError::Sink`], e.g. when the database fails mid-import.
///
/// Order: `shop` once (before the first currency, category or offer), then currencies,
/// categories and offers in the order the feed lists its sections. Only valid records arrive;
/// skipped ones are counted in the [`FeedSummary`].
pub trait FeedSink {
    fn shop(&mut self, shop: Shop) -> Result<(), SinkError> {
        let _ = shop;
        Ok(())
    }

    fn currency(&mut self, currency: Currency) -> Result<(), SinkError> {
        let _ = currency;
        Ok(())
    }

    fn category(&mut self, category: Category) -> Result<(), SinkError> {
        let _ = category;
        Ok(())
    }

    fn offer(&mut self, offer: Offer) -> Result<(), SinkError>;
}

impl<S: FeedSink + ?Sized> FeedSink for &mut S {
    fn shop(&mut self, shop: Shop) -> Result<(), SinkError> {
        (**self).shop(shop)
    }

    fn currency(&mut self, currency: Currency) -> Result<(), SinkError> {
        (**self).currency(currency)
    }

    fn category(&mut self, category: Category) -> Result<(), SinkError> {
        (**self).category(category)
    }

    fn offer(&mut self, offer: Offer) -> Result<(), SinkError> {
        (**self).offer(offer)
    }
}

/// A whole feed in memory, from [`crate::parse_feed_to_vec`]: for tests, previews and small
/// feeds only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ParsedFeed {
    pub shop: Option<Shop>,
    pub currencies: Vec<Currency>,
    pub categories: Vec<Category>,
    pub offers: Vec<Offer>,
    pub summary: FeedSummary,
}

impl FeedSink for ParsedFeed {
    fn shop(&mut self, shop: Shop) -> Result<(), SinkError> {
        self.shop = Some(shop);
        Ok(())
    }

    fn currency(&mut self, currency: Currency) -> Result<(), SinkError> {
        self.currencies.push(currency);
        Ok(())
    }

    fn category(&mut self, category: Category) -> Result<(), SinkError> {
        self.categories.push(category);
        Ok(())
    }

    fn offer(&mut self, offer: Offer) -> Result<(), SinkError> {
        self.offers.push(offer);
        Ok(())
    }
}
