//! Storage of orders and their status history.

use async_trait::async_trait;

#[async_trait]
pub trait OrderStore: Send + Sync {}
