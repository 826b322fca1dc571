//! Storage of campaign deliveries: the unit of exactly-once sending.
//!
//! A claim moves rows to `sending` under a lease in one statement, outcomes are written only
//! while the lease is held, and rows whose lease expired mid-send are the in-flight window of
//! a crash (claimed again, flagged `possibly_duplicated`).

use async_trait::async_trait;

use super::StoreResult;
use crate::campaign::{CampaignId, ClaimedDelivery, DeliveryCounts, DeliveryResult};
use crate::contact::Contact;
use crate::event::ContactState;
use crate::ids::{ContactId, SiteId};
use crate::time::Timestamp;

#[async_trait]
pub trait DeliveryStore: Send + Sync {
    /// Claims up to `limit` deliveries that may be sent at `now`: pending rows of batches up
    /// to `max_batch`, deferred rows due for a retry, and `sending` rows whose lease expired
    /// (the in-flight window of a crash; flagged possibly duplicated). Marks them `sending`
    /// under `owner` until `lease_until`. Two concurrent callers never get the same row.
    async fn claim_deliveries(
        &self,
        campaign: CampaignId,
        max_batch: i64,
        owner: &str,
        lease_until: Timestamp,
        limit: u32,
        now: Timestamp,
    ) -> StoreResult<Vec<ClaimedDelivery>>;
    /// Writes outcomes of rows still leased by `owner` in one transaction; rows whose lease
    /// passed to someone else are left alone. Hard bounces mark the contact's email bounced.
    /// Returns how many rows were written.
    async fn record_deliveries(
        &self,
        site: &SiteId,
        owner: &str,
        results: &[DeliveryResult],
        now: Timestamp,
    ) -> StoreResult<u64>;
    /// The contacts of a claimed chunk with their behavioural state, in two queries instead
    /// of two per message. Contacts erased since the snapshot are simply absent.
    async fn recipients_data(
        &self,
        site: &SiteId,
        contacts: &[ContactId],
    ) -> StoreResult<Vec<(Contact, ContactState)>>;
    /// Gives claimed rows back as pending without counting an attempt (pause, shutdown).
    async fn release_deliveries(&self, campaign: CampaignId, owner: &str) -> StoreResult<u64>;
    async fn delivery_counts(&self, campaign: CampaignId) -> StoreResult<DeliveryCounts>;
    /// The earliest `retry_at` of deferred rows and the highest batch still pending, to plan
    /// the next send job.
    async fn next_delivery_work(
        &self,
        campaign: CampaignId,
    ) -> StoreResult<(Option<Timestamp>, Option<i64>)>;
}
