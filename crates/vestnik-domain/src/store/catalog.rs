//! Storage of the product catalog and its imports.
//!
//! An import is staged, then switched: `begin_import`, any number of `stage_*` calls (each
//! its own short transaction, so event ingestion keeps flowing during a long feed), then
//! `finish_import`, which replaces the site's catalog in one transaction, or `fail_import`,
//! which drops what was staged and leaves the catalog as it was.

use async_trait::async_trait;

use super::StoreResult;
use crate::catalog::{
    CatalogCategory, CatalogImport, CatalogOffer, FeedSettings, ImportId, ImportSummary,
};
use crate::ids::SiteId;
use crate::time::Timestamp;

#[async_trait]
pub trait CatalogStore: Send + Sync {
    /// Records a running import of `source` (a path or URL, for the report). A site imports
    /// one feed at a time: an earlier import still running (cut off by a crash, or overtaken)
    /// is marked failed and its staged rows are dropped.
    async fn begin_import(&self, site: &SiteId, source: &str) -> StoreResult<ImportId>;

    /// Adds offers to a running import; an id staged twice keeps the last one (as a feed
    /// listing an offer twice means the later entry). `NotFound` unless `import` is a running
    /// import of `site`.
    async fn stage_offers(
        &self,
        site: &SiteId,
        import: ImportId,
        offers: &[CatalogOffer],
    ) -> StoreResult<()>;

    async fn stage_categories(
        &self,
        site: &SiteId,
        import: ImportId,
        categories: &[CatalogCategory],
    ) -> StoreResult<()>;

    /// Switches the site to the staged catalog in one transaction: staged offers are inserted
    /// or updated, offers the feed no longer lists become unavailable (kept, so links in sent
    /// emails still resolve), categories are replaced. Returns the finished import.
    async fn finish_import(
        &self,
        site: &SiteId,
        import: ImportId,
        summary: &ImportSummary,
    ) -> StoreResult<CatalogImport>;

    /// Drops what was staged and records why; the catalog stays as it was.
    async fn fail_import(&self, site: &SiteId, import: ImportId, error: &str) -> StoreResult<()>;

    /// The most recent imports, newest first.
    async fn imports(&self, site: &SiteId, limit: u32) -> StoreResult<Vec<CatalogImport>>;

    /// The offers with these ids, in the order asked, skipping unknown ids (an old email may
    /// name an offer the shop has since removed from every feed).
    async fn offers_by_id(&self, site: &SiteId, ids: &[String]) -> StoreResult<Vec<CatalogOffer>>;

    /// Offers whose id equals `query` or whose name contains it (case-insensitive), available
    /// ones first, at most `limit`; an empty `query` lists the first offers by id.
    async fn search_offers(
        &self,
        site: &SiteId,
        query: &str,
        limit: u32,
    ) -> StoreResult<Vec<CatalogOffer>>;

    /// Up to `count` available offers picked at random (`get_random_offers()`); a new pick
    /// each call, as the seed describes.
    async fn random_offers(&self, site: &SiteId, count: u32) -> StoreResult<Vec<CatalogOffer>>;

    /// Number of offers, and of available ones.
    async fn offer_counts(&self, site: &SiteId) -> StoreResult<(u64, u64)>;

    async fn categories(&self, site: &SiteId) -> StoreResult<Vec<CatalogCategory>>;

    /// The settings and when they were last saved (scheduled imports use that time to tell
    /// whether they still follow the current settings).
    async fn feed_settings(&self, site: &SiteId) -> StoreResult<Option<(FeedSettings, Timestamp)>>;

    /// Saves the settings; returns the time they were saved with.
    async fn set_feed_settings(
        &self,
        site: &SiteId,
        settings: &FeedSettings,
    ) -> StoreResult<Timestamp>;
}
