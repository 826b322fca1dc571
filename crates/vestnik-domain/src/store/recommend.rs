//! Recommendations computed from the site's stored events, orders and catalog. The rules
//! are the domain's (`crate::recommend`); a backend turns them into bounded queries.

use async_trait::async_trait;

use super::StoreResult;
use crate::catalog::CatalogOffer;
use crate::ids::{ContactId, SiteId};
use crate::recommend::RecommendationRequest;

#[async_trait]
pub trait RecommendationStore: Send + Sync {
    /// Up to `request.limit()` available offers of the site, best first, under the request's
    /// algorithm: never an id in `request.exclude` and, for a contact, never an item of their
    /// cart. Deterministic for a given stored state. `contact` may be `None` (a preview, a
    /// message without a recipient): algorithms that need one then return nothing. A contact
    /// of another site is treated as one with no history.
    async fn recommend(
        &self,
        site: &SiteId,
        contact: Option<ContactId>,
        request: &RecommendationRequest,
    ) -> StoreResult<Vec<CatalogOffer>>;
}
