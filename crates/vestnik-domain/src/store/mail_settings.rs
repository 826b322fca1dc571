//! Storage of a site's mail settings: SMTP providers and DKIM sender domains.

use async_trait::async_trait;

use super::StoreResult;
use crate::campaign::{DkimAlgorithm, NewProvider, ProviderId, SenderDomain, SmtpProvider};
use crate::ids::SiteId;

#[async_trait]
pub trait MailSettingsStore: Send + Sync {
    /// `Conflict` when the site has a provider of that name.
    async fn create_provider(&self, site: &SiteId, p: &NewProvider) -> StoreResult<SmtpProvider>;
    async fn providers(&self, site: &SiteId) -> StoreResult<Vec<SmtpProvider>>;
    async fn get_provider(&self, site: &SiteId, id: ProviderId) -> StoreResult<SmtpProvider>;
    async fn find_provider(&self, site: &SiteId, name: &str) -> StoreResult<Option<SmtpProvider>>;
    /// `Conflict` while a campaign that is not finished uses it.
    async fn delete_provider(&self, site: &SiteId, id: ProviderId) -> StoreResult<()>;

    /// `Conflict` when the domain is already configured for the site.
    async fn create_sender_domain(
        &self,
        site: &SiteId,
        domain: &str,
        selector: &str,
        algorithm: DkimAlgorithm,
        private_key: &str,
    ) -> StoreResult<SenderDomain>;
    async fn sender_domains(&self, site: &SiteId) -> StoreResult<Vec<SenderDomain>>;
    async fn find_sender_domain(
        &self,
        site: &SiteId,
        domain: &str,
    ) -> StoreResult<Option<SenderDomain>>;
}
