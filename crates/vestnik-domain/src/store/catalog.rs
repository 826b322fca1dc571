//! Storage of the product catalog and its imports.
//!
//! An import is recorded (`begin_import`), then streamed into the store in one transaction
//! (`import_catalog`), so a broken feed never leaves a half-switched catalog and each offer's
//! bytes are written once. On SQLite that transaction holds the file's write lock for the
//! import's length (about ten seconds per million offers): other writes queue meanwhile. The
//! engine reads a downloaded feed from a local copy, so a slow server cannot stretch it.

use async_trait::async_trait;

use super::StoreResult;
use crate::catalog::{
    CatalogCategory, CatalogImport, CatalogOffer, FeedPart, FeedSettings, ImportId, ImportOutcome,
};
use crate::ids::SiteId;
use crate::time::Timestamp;

/// The feed of a running import, part by part (the engine's parser on another thread).
#[async_trait]
pub trait FeedParts: Send {
    /// The next part, ending with [`FeedPart::End`]; `Err(reason)` when the feed turned out
    /// broken, which abandons the import.
    async fn next_part(&mut self) -> Result<FeedPart, String>;
}

#[async_trait]
pub trait CatalogStore: Send + Sync {
    /// Records a running import of `source` (a path or URL, for the report). A site imports
    /// one feed at a time: an earlier import still running (cut off by a crash, or overtaken)
    /// is marked failed and its staged rows are dropped.
    async fn begin_import(&self, site: &SiteId, source: &str) -> StoreResult<ImportId>;

    /// Reads the feed's parts from `parts` and makes them the site's catalog, all in one
    /// transaction: offers are inserted, or updated where their content changed (an unchanged
    /// offer is not rewritten), offers the feed no longer lists become unavailable (kept, so
    /// links in sent emails still resolve), categories are replaced, and the import is
    /// recorded as done. When `parts` reports the feed broken, nothing is kept and the import
    /// is recorded as failed. An id listed twice keeps its last entry. `NotFound` unless
    /// `import` is a running import of `site`; `Conflict` if a newer import overtook it.
    async fn import_catalog(
        &self,
        site: &SiteId,
        import: ImportId,
        parts: Box<dyn FeedParts>,
    ) -> StoreResult<ImportOutcome>;

    /// Records why an import failed; the catalog stays as it was.
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
