//! Storage of ingested events, event types, contact behaviour state and the outbox.

use async_trait::async_trait;

#[async_trait]
pub trait EventStore: Send + Sync {}
