//! Storage of SMTP providers, sender domains, campaigns and their deliveries.
//!
//! Deliveries carry the exactly-once promise: a claim moves rows to `sending` under a lease in
//! one statement, outcomes are written only while the lease is held, and rows whose lease
//! expired mid-send are the in-flight window of a crash (claimed again, flagged
//! `possibly_duplicated`).

use async_trait::async_trait;

use super::StoreResult;
use crate::campaign::{
    Campaign, CampaignId, CampaignState, Engagement, NewCampaign, SnapshotPage, SnapshotSource,
};
use crate::contact::Email;
use crate::ids::{ContactId, SiteId};
use crate::time::Timestamp;

#[async_trait]
pub trait CampaignStore: Send + Sync {
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

    /// Contacts of `source` a campaign could reach now (an email, subscribed): checked when a
    /// campaign is created, so an empty list is an error before anything is sent.
    async fn count_reachable(&self, site: &SiteId, source: SnapshotSource) -> StoreResult<i64>;
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

    /// Unique opens, clicks (per link) and unsubscribes of a campaign.
    async fn campaign_engagement(
        &self,
        site: &SiteId,
        campaign: CampaignId,
    ) -> StoreResult<Engagement>;
}
