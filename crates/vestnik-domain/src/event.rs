//! Events from the shop's site and backend, and what they teach us about a contact.

use serde::Serialize;

use crate::ids::ContactId;
use crate::time::Timestamp;

/// A contact's behaviour as events left it: the sources of `get_viewed_items()`,
/// `get_cart_items()` and friends. Items keep the fields the shop sent (`productId`, `price`, …).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ContactState {
    pub contact_id: Option<ContactId>,
    /// Most recent first, de-duplicated by product, capped.
    pub viewed: Vec<serde_json::Value>,
    /// The whole cart as of the last `cartUpdated`; empty when emptied.
    pub cart: Vec<serde_json::Value>,
    /// Ties the cart to the purchase that empties it.
    pub recycle_state_id: Option<String>,
    pub wishlist: Vec<serde_json::Value>,
    pub last_search: Option<String>,
    pub last_search_found: Option<bool>,
    pub last_category_id: Option<String>,
    pub last_activity_at: Option<Timestamp>,
}
