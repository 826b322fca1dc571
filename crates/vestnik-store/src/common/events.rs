//! `EventStore` on both backends.

macro_rules! impl_event_store {
    ($store:ty) => {
        use async_trait::async_trait;
        use vestnik_domain::store::EventStore;
        use vestnik_domain::{ContactId, ContactState, SiteId, StoreResult, Timestamp};

        use crate::error::map_err;
        use crate::rows::Columns;

        #[async_trait]
        impl EventStore for $store {
            async fn contact_state(&self, site: &SiteId, contact: ContactId) -> StoreResult<ContactState> {
                let row = sqlx::query(
                    "SELECT viewed, cart, recycle_state_id, wishlist, last_search, last_search_found, \
                         last_category_id, last_activity_at \
                     FROM contact_state WHERE site_id = $1 AND contact_id = $2",
                )
                .bind(site.as_str())
                .bind(contact.0)
                .fetch_optional(self.reads())
                .await
                .map_err(map_err("contact state"))?;
                let Some(r) = row else {
                    return Ok(ContactState { contact_id: Some(contact), ..Default::default() });
                };
                let list = |col: &str| -> StoreResult<Vec<serde_json::Value>> {
                    Ok(match r.json(col)? {
                        serde_json::Value::Array(items) => items,
                        _ => Vec::new(),
                    })
                };
                use sqlx::Row;
                Ok(ContactState {
                    contact_id: Some(contact),
                    viewed: list("viewed")?,
                    cart: list("cart")?,
                    recycle_state_id: r.opt_text("recycle_state_id")?,
                    wishlist: list("wishlist")?,
                    last_search: r.opt_text("last_search")?,
                    last_search_found: r
                        .try_get::<Option<bool>, _>("last_search_found")
                        .map_err(|e| crate::error::internal(format!("column last_search_found: {e}")))?,
                    last_category_id: r.opt_text("last_category_id")?,
                    last_activity_at: r.opt_int("last_activity_at")?.map(Timestamp),
                })
            }
        }
    };
}
pub(crate) use impl_event_store;
