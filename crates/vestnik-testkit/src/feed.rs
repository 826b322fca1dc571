//! A catalog import's parts from a list, the way the engine's parsing thread hands them to
//! `CatalogStore::import_catalog`, for store tests that need no XML.

use std::collections::VecDeque;
use vestnik_domain::store::FeedParts;
use vestnik_domain::{CatalogCategory, CatalogOffer, EncodedOffer, FeedPart, ImportSummary};

/// Parts in order; an `Err` is the feed turning out broken at that point.
pub struct ListedParts(VecDeque<Result<FeedPart, String>>);

#[async_trait::async_trait]
impl FeedParts for ListedParts {
    async fn next_part(&mut self) -> Result<FeedPart, String> {
        self.0
            .pop_front()
            .unwrap_or_else(|| Err("the listed parts ran out before their end".to_string()))
    }
}

pub fn feed_parts(parts: impl IntoIterator<Item = Result<FeedPart, String>>) -> Box<dyn FeedParts> {
    Box::new(ListedParts(parts.into_iter().collect()))
}

/// Offers as the engine encodes them.
pub fn offers_part(offers: &[CatalogOffer]) -> Result<FeedPart, String> {
    offers
        .iter()
        .map(|o| EncodedOffer::encode(o.clone()).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()
        .map(FeedPart::Offers)
}

pub fn categories_part(categories: &[CatalogCategory]) -> Result<FeedPart, String> {
    Ok(FeedPart::Categories(categories.to_vec()))
}

/// The end of a feed of `offers` offers and `categories` categories.
pub fn end_part(offers: u64, categories: u64) -> Result<FeedPart, String> {
    Ok(FeedPart::End(ImportSummary {
        offers,
        categories,
        skipped: 0,
        errors: vec![],
    }))
}
