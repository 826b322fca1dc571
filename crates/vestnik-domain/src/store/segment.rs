//! Storage of segments, and counting and listing the contacts a condition selects.

use async_trait::async_trait;

use super::StoreResult;
use crate::ids::{ContactId, SiteId};
use crate::segment::{Condition, Segment, SegmentId};
use crate::time::Timestamp;

#[async_trait]
pub trait SegmentStore: Send + Sync {
    /// Saves a segment under a (trimmed, checked) name. `Conflict` when the site has a
    /// segment of that name.
    async fn create_segment(
        &self,
        site: &SiteId,
        name: &str,
        condition: &Condition,
    ) -> StoreResult<Segment>;

    /// Replaces the name and condition. `NotFound` for another site's segment, `Conflict`
    /// when the new name is another segment's.
    async fn update_segment(
        &self,
        site: &SiteId,
        id: SegmentId,
        name: &str,
        condition: &Condition,
    ) -> StoreResult<Segment>;

    /// `NotFound` for another site's segment.
    async fn get_segment(&self, site: &SiteId, id: SegmentId) -> StoreResult<Segment>;

    /// Every segment of the site, by name.
    async fn list_segments(&self, site: &SiteId) -> StoreResult<Vec<Segment>>;

    /// `NotFound` for another site's segment.
    async fn delete_segment(&self, site: &SiteId, id: SegmentId) -> StoreResult<()>;

    /// How many of the site's contacts satisfy `condition` at `now` (windows such as
    /// "in the last 30 days" end at `now`).
    async fn count_segment(
        &self,
        site: &SiteId,
        condition: &Condition,
        now: Timestamp,
    ) -> StoreResult<i64>;

    /// The next `limit` contacts satisfying `condition` after `after`, in id order: a caller
    /// pages through a segment of a million without holding it in memory. Each page is
    /// evaluated at the `now` given, so a paging caller passes the same `now` every time.
    async fn segment_members(
        &self,
        site: &SiteId,
        condition: &Condition,
        now: Timestamp,
        after: Option<ContactId>,
        limit: u32,
    ) -> StoreResult<Vec<ContactId>>;
}
