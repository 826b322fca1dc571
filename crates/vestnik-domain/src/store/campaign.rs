//! Storage of SMTP providers, sender domains, campaigns and their deliveries.
//!
//! Deliveries carry the exactly-once promise: a claim moves rows to `sending` under a lease in
//! one statement, outcomes are written only while the lease is held, and rows whose lease
//! expired mid-send are the in-flight window of a crash (claimed again, flagged
//! `possibly_duplicated`).

use async_trait::async_trait;

use super::StoreResult;
use crate::campaign::{
    Campaign, CampaignId, CampaignState, ClaimedDelivery, DeliveryCounts, DeliveryResult,
    DkimAlgorithm, Engagement, NewCampaign, NewProvider, ProviderId, SenderDomain, SmtpProvider,
    SnapshotPage, SnapshotSource,
};
use crate::contact::Email;
use crate::ids::{ContactId, SiteId};
use crate::time::Timestamp;

#[async_trait]
pub trait CampaignStore: Send + Sync {
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

    async fn create_campaign(&self, site: &SiteId, c: &NewCampaign) -> StoreResult<Campaign>;
    async fn get_campaign(&self, site: &SiteId, id: CampaignId) -> StoreResult<Campaign>;
    /// Newest first.
    async fn campaigns(&self, site: &SiteId, limit: u32) -> StoreResult<Vec<Campaign>>;
    /// Moves the campaign to `to` only when it is in one of `from` (a compare-and-set, so two
    /// nodes or a user and a sender never both win); returns whether it moved. Entering
    /// `Sending` the first time sets `started_at`; entering a final state sets `finished_at`.
    async fn transition_campaign(
        &self,
        site: &SiteId,
        id: CampaignId,
        from: &[CampaignState],
        to: CampaignState,
        reason: Option<&str>,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// The throttle's current rate and reason, shown in the report.
    async fn set_throttle_note(
        &self,
        site: &SiteId,
        id: CampaignId,
        note: Option<&str>,
    ) -> StoreResult<()>;

    /// Snapshots the single address of a test send (tied to the site's contact with that
    /// email when there is one; sent whatever its subscription, as a test); idempotent.
    async fn snapshot_address(
        &self,
        site: &SiteId,
        campaign: CampaignId,
        email: &Email,
    ) -> StoreResult<SnapshotPage>;
    /// Snapshots the next page (at most `limit` contacts, id order) of `source` into
    /// deliveries, in one transaction that also advances the cursor and totals stored on the
    /// campaign, so a snapshot cut off by a crash resumes where it stopped and writes nobody
    /// twice. Batches of the campaign's segment size are numbered in recipient order.
    /// Contacts without an email are passed over; unsubscribed, bounced and blocked ones are
    /// counted, not written. A page shorter than `limit` completes the snapshot.
    async fn snapshot_next(
        &self,
        site: &SiteId,
        campaign: CampaignId,
        source: SnapshotSource,
        limit: u32,
    ) -> StoreResult<SnapshotPage>;
    /// The same for an explicit page of contact ids in ascending order (a segment's
    /// members); ids at or below the stored cursor are ignored. `complete` ends the snapshot.
    async fn snapshot_contacts(
        &self,
        site: &SiteId,
        campaign: CampaignId,
        contacts: &[ContactId],
        complete: bool,
    ) -> StoreResult<SnapshotPage>;
    /// Where the snapshot stands: the last contact examined and whether it is complete.
    async fn snapshot_cursor(&self, campaign: CampaignId)
    -> StoreResult<(Option<ContactId>, bool)>;

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
    /// Gives claimed rows back as pending without counting an attempt (pause, shutdown).
    async fn release_deliveries(&self, campaign: CampaignId, owner: &str) -> StoreResult<u64>;
    async fn delivery_counts(&self, campaign: CampaignId) -> StoreResult<DeliveryCounts>;
    /// The earliest `retry_at` of deferred rows and the highest batch still pending, to plan
    /// the next send job.
    async fn next_delivery_work(
        &self,
        campaign: CampaignId,
    ) -> StoreResult<(Option<Timestamp>, Option<i64>)>;
    /// Unique opens, clicks (per link) and unsubscribes of a campaign.
    async fn campaign_engagement(
        &self,
        site: &SiteId,
        campaign: CampaignId,
    ) -> StoreResult<Engagement>;
}
