//! `TrackingStore` on both backends: installation secrets and the `tracking_events` rows of
//! opens, clicks and unsubscribes.
//!
//! Events are written with `INSERT … SELECT … FROM campaigns WHERE id = ? AND site_id = ?`, so
//! the site check and the write are one statement: a token for another site's campaign, or a
//! contact of another site, inserts nothing (and raises no foreign-key error for a campaign
//! or contact deleted since the mail went out). Unsubscribing writes no outbox row: no
//! automation trigger listens to contact changes (PRODUCT.md: events, order statuses, list
//! joins, schedules, webhooks), and no other contact change writes one either.

macro_rules! impl_tracking_store {
    ($store:ty) => {
        use async_trait::async_trait;
        use vestnik_domain::store::TrackingStore;
        use vestnik_domain::{ContactId, SiteId, StoreError, StoreResult, Timestamp};

        use crate::error::map_err;

        /// The event insert shared by opens, clicks and unsubscribes: $1 site, $2 campaign,
        /// $3 contact (NULL for a test send), $4 kind, $5 url, $6 time.
        const INSERT_EVENT: &str = "INSERT INTO tracking_events (site_id, campaign_id, contact_id, kind, url, created_at) \
             SELECT c.site_id, c.id, $3, $4, $5, $6 FROM campaigns c \
             WHERE c.id = $2 AND c.site_id = $1 \
             AND ($3 IS NULL OR EXISTS (SELECT 1 FROM contacts k WHERE k.id = $3 AND k.site_id = $1))";

        impl $store {
            async fn insert_tracking_event(
                &self,
                site: &SiteId,
                campaign: i64,
                contact: Option<ContactId>,
                kind: &str,
                url: Option<&str>,
                at: Timestamp,
            ) -> StoreResult<bool> {
                let done = sqlx::query(INSERT_EVENT)
                    .bind(site.as_str())
                    .bind(campaign)
                    .bind(contact.map(|c| c.0))
                    .bind(kind)
                    .bind(url)
                    .bind(at.millis())
                    .execute(self.writes())
                    .await
                    .map_err(map_err("tracking event"))?;
                Ok(done.rows_affected() == 1)
            }
        }

        #[async_trait]
        impl TrackingStore for $store {
            async fn install_secret(&self, name: &str) -> StoreResult<String> {
                let candidate = vestnik_domain::site::random_token(32);
                // Get-or-create that holds across nodes: whoever inserts first wins, everyone
                // (the winner included) reads the stored value back.
                sqlx::query(
                    "INSERT INTO install_secrets (name, value, created_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (name) DO NOTHING",
                )
                .bind(name)
                .bind(&candidate)
                .bind(Timestamp::now().millis())
                .execute(self.writes())
                .await
                .map_err(map_err("installation secret"))?;
                let value: Option<String> =
                    sqlx::query_scalar("SELECT value FROM install_secrets WHERE name = $1")
                        .bind(name)
                        .fetch_optional(self.writes())
                        .await
                        .map_err(map_err("installation secret"))?;
                value.ok_or_else(|| StoreError::NotFound(format!("installation secret {name}")))
            }

            async fn record_open(
                &self,
                site: &SiteId,
                campaign: i64,
                contact: Option<ContactId>,
                at: Timestamp,
            ) -> StoreResult<bool> {
                self.insert_tracking_event(site, campaign, contact, "open", None, at)
                    .await
            }

            async fn record_click(
                &self,
                site: &SiteId,
                campaign: i64,
                contact: Option<ContactId>,
                url: &str,
                at: Timestamp,
            ) -> StoreResult<bool> {
                self.insert_tracking_event(site, campaign, contact, "click", Some(url), at)
                    .await
            }

            async fn unsubscribe(
                &self,
                site: &SiteId,
                campaign: i64,
                contact: ContactId,
                at: Timestamp,
            ) -> StoreResult<bool> {
                let mut tx = self.writes().begin().await.map_err(map_err("unsubscribe"))?;
                // The state condition makes a repeated (or concurrent) call a no-op: on
                // PostgreSQL the second UPDATE waits for the first's row lock and then finds
                // the contact unsubscribed.
                let changed = sqlx::query(
                    "UPDATE contacts SET email_subscription = 'unsubscribed', updated_at = $3 \
                     WHERE id = $2 AND site_id = $1 AND email_subscription IN ('subscribed', 'pending')",
                )
                .bind(site.as_str())
                .bind(contact.0)
                .bind(at.millis())
                .execute(&mut *tx)
                .await
                .map_err(map_err("unsubscribe"))?
                .rows_affected()
                    == 1;
                if changed {
                    sqlx::query(INSERT_EVENT)
                        .bind(site.as_str())
                        .bind(campaign)
                        .bind(Some(contact.0))
                        .bind("unsubscribe")
                        .bind(None::<&str>)
                        .bind(at.millis())
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err("tracking event"))?;
                }
                tx.commit().await.map_err(map_err("unsubscribe"))?;
                Ok(changed)
            }
        }
    };
}
pub(crate) use impl_tracking_store;
