//! Storage behind tracking links: the installation's shared secrets, opens, clicks and
//! unsubscribes from campaign mail.
//!
//! The site and campaign come from a signed token (`crate::tracking`), not from a login, so
//! every write checks that the campaign and the contact belong to that site: a token signed
//! for site A can never write into site B.

use async_trait::async_trait;

use super::StoreResult;
use crate::ids::{ContactId, SiteId};
use crate::time::Timestamp;

#[async_trait]
pub trait TrackingStore: Send + Sync {
    /// The installation's secret of this name, created (32 random bytes, base64url) on first
    /// use. Nodes asking at the same moment all get the one that was stored first.
    async fn install_secret(&self, name: &str) -> StoreResult<String>;

    /// Appends an open. `contact` is `None` for a test send to an address that is no
    /// contact. False (and nothing written) when the campaign is not the site's, or the
    /// contact is not (any more).
    async fn record_open(
        &self,
        site: &SiteId,
        campaign: i64,
        contact: Option<ContactId>,
        at: Timestamp,
    ) -> StoreResult<bool>;

    /// Appends a click on `url` (the destination as signed); same rules as `record_open`.
    async fn record_click(
        &self,
        site: &SiteId,
        campaign: i64,
        contact: Option<ContactId>,
        url: &str,
        at: Timestamp,
    ) -> StoreResult<bool>;

    /// Sets the site's contact's email subscription to unsubscribed and records one
    /// `unsubscribe` event for the campaign, in one transaction. True when this call changed
    /// the contact; a repeated call changes and records nothing. A contact already bounced or
    /// blocked keeps that state (it receives no mail either way). The contact is unsubscribed
    /// even when the campaign is gone (the person asked), only the event is then not recorded.
    async fn unsubscribe(
        &self,
        site: &SiteId,
        campaign: i64,
        contact: ContactId,
        at: Timestamp,
    ) -> StoreResult<bool>;
}
