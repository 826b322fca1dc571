//! Storage of ingested events, event types, contact behaviour state and the outbox.

use async_trait::async_trait;

use super::StoreResult;
use crate::event::ContactState;
use crate::ids::{ContactId, SiteId};

#[async_trait]
pub trait EventStore: Send + Sync {
    /// What events taught us about the contact; an empty state when nothing yet.
    async fn contact_state(&self, site: &SiteId, contact: ContactId) -> StoreResult<ContactState>;
}
