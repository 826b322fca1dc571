//! Storage of orders and their status history.

use async_trait::async_trait;

use super::StoreResult;
use crate::ids::SiteId;
use crate::order::{NewOrder, Order, OrderStatus, StatusUpdate};

#[async_trait]
pub trait OrderStore: Send + Sync {
    /// Creates the order with status `submitted`, in one transaction: links it to the site's
    /// contact with its email (else its phone), creating that contact when there is none,
    /// records the first history entry, and writes an outbox row (old status `None`).
    /// `Conflict` when the site already has an order with this `order_id`; then nothing,
    /// not even the new contact, is left behind.
    async fn add_order(&self, site: &SiteId, order: &NewOrder) -> StoreResult<Order>;

    /// Changes the status, appends it to the history and writes an outbox row, all in one
    /// transaction. `NotFound` when the site has no such order; `AlreadySet` (nothing
    /// written) when it already has this status.
    async fn set_order_status(
        &self,
        site: &SiteId,
        order_id: &str,
        status: OrderStatus,
    ) -> StoreResult<StatusUpdate>;

    /// The order with its history, oldest entry first. `NotFound` for another site's order.
    async fn get_order(&self, site: &SiteId, order_id: &str) -> StoreResult<Order>;
}
