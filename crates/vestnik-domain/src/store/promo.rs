//! Storage of promo code pools.

use async_trait::async_trait;

use super::StoreResult;
use crate::ids::{ContactId, SiteId};
use crate::promo::{PromoImport, PromoPool};

#[async_trait]
pub trait PromoStore: Send + Sync {
    /// Adds codes to a pool (created on first use); codes already there are counted as
    /// duplicates and left alone. Callers validate the pool name and the codes.
    async fn import_promo_codes(
        &self,
        site: &SiteId,
        pool: &str,
        codes: &[String],
    ) -> StoreResult<PromoImport>;

    /// Hands out the pool's oldest unissued code, recording who got it and what for; `None`
    /// when the pool is exhausted (or does not exist). Two callers never get the same code,
    /// on any number of nodes. A contact that already got a code of the pool for the same
    /// purpose (`issued_for`, e.g. "campaign:12") gets that code again: a message rendered
    /// twice (a retry after a deferral or a crash, the web view) shows one code and burns one.
    async fn claim_promo_code(
        &self,
        site: &SiteId,
        pool: &str,
        contact: Option<ContactId>,
        issued_for: &str,
    ) -> StoreResult<Option<String>>;

    /// The code `claim_promo_code` would hand out next, without handing it out (previews).
    async fn peek_promo_code(&self, site: &SiteId, pool: &str) -> StoreResult<Option<String>>;

    /// Every pool of the site with its size and how many codes were issued.
    async fn promo_pools(&self, site: &SiteId) -> StoreResult<Vec<PromoPool>>;
}
