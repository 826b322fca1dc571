//! Storage of ingested events, event types, contact behaviour state and the outbox.

use async_trait::async_trait;

use super::StoreResult;
use crate::event::{ContactState, EventToStore, EventTypeInfo, Ingested};
use crate::ids::{ContactId, SiteId};

#[async_trait]
pub trait EventStore: Send + Sync {
    /// What events taught us about the contact; an empty state when nothing yet.
    async fn contact_state(&self, site: &SiteId, contact: ContactId) -> StoreResult<ContactState>;

    /// Stores a batch of events in ONE transaction (the group commit): for each, resolves or
    /// creates its contact from the locators, skips it when its idempotency key was seen,
    /// inserts it, updates the contact's state and the event type registry, and writes an
    /// outbox row for automation. Either every event of the batch is committed or none is.
    async fn ingest(&self, batch: Vec<EventToStore>) -> StoreResult<Vec<Ingested>>;

    /// For a backend whose writes run in this process one at a time (SQLite): a handle that
    /// stores batches on the calling thread, so the group-commit writer can run on a thread of
    /// its own. Through `ingest` every batch costs a hop onto a blocking thread and back onto
    /// the async runtime, where the writer then queues behind request handlers; under load
    /// that hand-off took longer than writing a small batch. `None`: call `ingest`.
    fn blocking_ingester(&self) -> Option<Box<dyn BlockingIngester>> {
        None
    }

    /// The site's event types, standard and custom, with the params seen.
    async fn event_types(&self, site: &SiteId) -> StoreResult<Vec<EventTypeInfo>>;

    /// Outbox rows not yet consumed, oldest first (for tests and the automation consumer).
    async fn pending_outbox(&self, site: &SiteId, limit: u32) -> StoreResult<Vec<OutboxRow>>;
}

/// Stores event batches synchronously; see `EventStore::blocking_ingester`.
pub trait BlockingIngester: Send {
    /// As `EventStore::ingest`, blocking the calling thread until the batch is committed (or
    /// not at all). Call it from a thread of its own, never from an async task. The batch
    /// stays the caller's, to free where it likes.
    fn ingest(&mut self, batch: &[EventToStore]) -> StoreResult<Vec<Ingested>>;
}

/// A fact waiting for automation.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OutboxRow {
    pub id: i64,
    pub topic: String,
    pub ref_id: i64,
    pub payload: serde_json::Value,
}
