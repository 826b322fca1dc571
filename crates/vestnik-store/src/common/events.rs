//! `EventStore` on both backends: the reads are shared; `ingest` is each backend's own
//! (`sqlite/ingest.rs` runs the batch on a rusqlite connection, `postgres/ingest.rs` in a few
//! multi-row statements).

use vestnik_domain::{ContactId, ContactState, StoreResult, Timestamp};

use crate::rows::Columns;

/// The `contact_state` columns `state_from_row` reads.
pub(crate) const STATE_COLUMNS: &str = "viewed, cart, recycle_state_id, wishlist, last_search, \
     last_search_found, last_category_id, last_activity_at";

pub(crate) fn state_from_row(r: &impl Columns, contact: ContactId) -> StoreResult<ContactState> {
    let list = |col: &str| -> StoreResult<Vec<serde_json::Value>> {
        Ok(match r.json(col)? {
            serde_json::Value::Array(items) => items,
            _ => Vec::new(),
        })
    };
    Ok(ContactState {
        contact_id: Some(contact),
        viewed: list("viewed")?,
        cart: list("cart")?,
        recycle_state_id: r.opt_text("recycle_state_id")?,
        wishlist: list("wishlist")?,
        last_search: r.opt_text("last_search")?,
        last_search_found: r.opt_bool("last_search_found")?,
        last_category_id: r.opt_text("last_category_id")?,
        last_activity_at: r.opt_int("last_activity_at")?.map(Timestamp),
    })
}

macro_rules! impl_event_store {
    ($store:ty) => {
        use async_trait::async_trait;
        use vestnik_domain::store::{EventStore, OutboxRow};
        use vestnik_domain::{
            ContactId, ContactState, EventToStore, EventTypeInfo, Ingested, SiteId, StoreResult,
            Timestamp,
        };

        use crate::common::events::{state_from_row, STATE_COLUMNS};
        use crate::error::map_err;
        use crate::rows::Columns;

        #[async_trait]
        impl EventStore for $store {
            async fn contact_state(&self, site: &SiteId, contact: ContactId) -> StoreResult<ContactState> {
                self.settle_contacts(&[contact]).await?;
                let sql = format!("SELECT {STATE_COLUMNS} FROM contact_state WHERE site_id = $1 AND contact_id = $2");
                match sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(site.as_str())
                    .bind(contact.0)
                    .fetch_optional(self.reads())
                    .await
                    .map_err(map_err("contact state"))?
                {
                    Some(row) => state_from_row(&row, contact),
                    None => Ok(ContactState { contact_id: Some(contact), ..Default::default() }),
                }
            }

            async fn ingest(&self, batch: Vec<EventToStore>) -> StoreResult<Vec<Ingested>> {
                super::ingest::ingest(self, batch).await
            }

            fn blocking_ingester(&self) -> Option<Box<dyn vestnik_domain::store::BlockingIngester>> {
                super::ingest::blocking_ingester(self)
            }

            async fn event_types(&self, site: &SiteId) -> StoreResult<Vec<EventTypeInfo>> {
                let rows = sqlx::query(
                    "SELECT key, is_standard, params, event_count, first_seen_at, last_seen_at \
                     FROM event_types WHERE site_id = $1 ORDER BY key",
                )
                .bind(site.as_str())
                .fetch_all(self.reads())
                .await
                .map_err(map_err("event type"))?;
                rows.iter()
                    .map(|r| {
                        let params = match r.json("params")? {
                            serde_json::Value::Array(names) => {
                                names.into_iter().filter_map(|n| n.as_str().map(str::to_string)).collect()
                            }
                            _ => Vec::new(),
                        };
                        Ok(EventTypeInfo {
                            key: r.text("key")?,
                            is_standard: r.opt_bool("is_standard")?.unwrap_or(false),
                            params,
                            event_count: r.int("event_count")?,
                            first_seen_at: Timestamp(r.int("first_seen_at")?),
                            last_seen_at: Timestamp(r.int("last_seen_at")?),
                        })
                    })
                    .collect()
            }

            async fn pending_outbox(&self, site: &SiteId, limit: u32) -> StoreResult<Vec<OutboxRow>> {
                let rows = sqlx::query(
                    "SELECT id, topic, ref_id, payload FROM outbox WHERE site_id = $1 AND consumed_at IS NULL \
                     ORDER BY id LIMIT $2",
                )
                .bind(site.as_str())
                .bind(i64::from(limit))
                .fetch_all(self.reads())
                .await
                .map_err(map_err("outbox"))?;
                rows.iter()
                    .map(|r| {
                        Ok(OutboxRow {
                            id: r.int("id")?,
                            topic: r.text("topic")?,
                            ref_id: r.int("ref_id")?,
                            payload: r.json("payload")?,
                        })
                    })
                    .collect()
            }
        }
    };
}
pub(crate) use impl_event_store;
