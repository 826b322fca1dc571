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

/// The seven standard e-commerce events of the seed ("Generate event v2").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum StandardEvent {
    PageViewed,
    ProductViewed,
    ProductCategoryViewed,
    CartUpdated,
    ProductImpressions,
    ProductAddedToWishlist,
    SearchRequest,
}

impl StandardEvent {
    pub const ALL: [StandardEvent; 7] = [
        StandardEvent::PageViewed,
        StandardEvent::ProductViewed,
        StandardEvent::ProductCategoryViewed,
        StandardEvent::CartUpdated,
        StandardEvent::ProductImpressions,
        StandardEvent::ProductAddedToWishlist,
        StandardEvent::SearchRequest,
    ];

    pub fn key(self) -> &'static str {
        match self {
            StandardEvent::PageViewed => "pageViewed",
            StandardEvent::ProductViewed => "productViewed",
            StandardEvent::ProductCategoryViewed => "productCategoryViewed",
            StandardEvent::CartUpdated => "cartUpdated",
            StandardEvent::ProductImpressions => "productImpressions",
            StandardEvent::ProductAddedToWishlist => "productAddedToWishlist",
            StandardEvent::SearchRequest => "searchRequest",
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        StandardEvent::ALL.into_iter().find(|e| e.key() == key)
    }

    /// Params whose value the seed documents as JSON inside a string.
    pub fn json_params(self) -> &'static [&'static str] {
        match self {
            StandardEvent::PageViewed => &["page"],
            StandardEvent::ProductViewed | StandardEvent::ProductAddedToWishlist => &["product"],
            StandardEvent::ProductCategoryViewed => &["category"],
            StandardEvent::CartUpdated | StandardEvent::ProductImpressions => &["products"],
            StandardEvent::SearchRequest => &[],
        }
    }
}

/// One validated event on its way into the store.
#[derive(Debug, Clone, PartialEq)]
pub struct EventToStore {
    pub site_id: crate::ids::SiteId,
    pub event: crate::ingest::ValidEvent,
    pub received_at: Timestamp,
    /// What the event adds to the contact's viewed or wishlist list, made by `new` from the
    /// change and `received_at` (private, so that every event has it).
    list_entry: Option<crate::ingest::ListEntry>,
}

impl EventToStore {
    /// The entry the event adds to the contact's viewed or wishlist list, if any.
    pub fn list_entry(&self) -> Option<&crate::ingest::ListEntry> {
        self.list_entry.as_ref()
    }

    pub fn new(
        site_id: crate::ids::SiteId,
        event: crate::ingest::ValidEvent,
        received_at: Timestamp,
    ) -> Self {
        let list_entry = crate::ingest::ListEntry::of_change(&event.change, received_at);
        EventToStore {
            site_id,
            event,
            received_at,
            list_entry,
        }
    }
}

/// What the store did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Ingested {
    Stored {
        event_id: i64,
        contact_id: Option<ContactId>,
    },
    /// The idempotency key was seen before: nothing was written again.
    Duplicate { event_id: i64 },
}

/// An event type as the site has used it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventTypeInfo {
    pub key: String,
    pub is_standard: bool,
    /// Every param name seen with this type, sorted.
    pub params: Vec<String>,
    pub event_count: i64,
    pub first_seen_at: Timestamp,
    pub last_seen_at: Timestamp,
}
