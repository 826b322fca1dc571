//! `DeliveryStore` on both backends: claiming a campaign's recipients under a lease, writing
//! their outcomes, and counting them (see the trait's docs for the protocol).
//!
//! `$skip` is `FOR UPDATE SKIP LOCKED` on PostgreSQL, so concurrent senders never wait on each
//! other's rows, and empty on SQLite, whose single writer connection serialises claims.

macro_rules! impl_delivery_store {
    ($store:ty, $skip:literal) => {
        use async_trait::async_trait;
        use vestnik_domain::campaign::{
            CampaignId, ClaimedDelivery, DeliveryCounts, DeliveryId, DeliveryResult, DeliveryState,
        };
        use vestnik_domain::store::DeliveryStore;
        use vestnik_domain::{Contact, ContactId, ContactState, SiteId, StoreResult, Timestamp};

        use crate::error::{internal, map_err};
        use crate::rows::Columns;

        #[async_trait]
        impl DeliveryStore for $store {
            async fn claim_deliveries(
                &self,
                campaign: CampaignId,
                max_batch: i64,
                owner: &str,
                lease_until: Timestamp,
                limit: u32,
                now: Timestamp,
            ) -> StoreResult<Vec<ClaimedDelivery>> {
                // Three branches, each walking the (campaign, state, batch, id) index and
                // stopping at LIMIT: crash leftovers first, then due retries, then new rows.
                // `$5` is the branch's bound: now for the first two, the last open batch for the third.
                let branches = [
                    ("state = 'sending' AND lease_until < $5", true, now.millis()),
                    ("state = 'deferred' AND retry_at <= $5", false, now.millis()),
                    ("state = 'pending' AND batch <= $5", false, max_batch),
                ];
                let mut claimed = Vec::new();
                for (filter, in_flight, bound) in branches {
                    let want = i64::from(limit) - claimed.len() as i64;
                    if want <= 0 {
                        break;
                    }
                    let duplicated = if in_flight { "TRUE" } else { "possibly_duplicated" };
                    let sql = format!(
                        "UPDATE deliveries SET state = 'sending', lease_owner = $1, lease_until = $2, \
                             attempts = attempts + 1, possibly_duplicated = {duplicated}, updated_at = $6 \
                         WHERE id IN (SELECT id FROM deliveries WHERE campaign_id = $3 AND {filter} \
                             ORDER BY batch, id LIMIT $4 {}) \
                         RETURNING id, contact_id, email, attempts",
                        $skip
                    );
                    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(owner)
                        .bind(lease_until.millis())
                        .bind(campaign.0)
                        .bind(want)
                        .bind(bound)
                        .bind(now.millis())
                        .fetch_all(self.writes())
                        .await
                        .map_err(map_err("delivery"))?;
                    for r in rows {
                        claimed.push(ClaimedDelivery {
                            id: DeliveryId(r.int("id")?),
                            contact_id: r.opt_int("contact_id")?.map(ContactId),
                            email: r.text("email")?,
                            attempts: r.int("attempts")?,
                            resumed_in_flight: in_flight,
                        });
                    }
                }
                claimed.sort_by_key(|d| d.id);
                Ok(claimed)
            }

            async fn record_deliveries(
                &self,
                site: &SiteId,
                owner: &str,
                results: &[DeliveryResult],
                now: Timestamp,
            ) -> StoreResult<u64> {
                if results.is_empty() {
                    return Ok(0);
                }
                let mut tx = self.writes().begin().await.map_err(map_err("delivery"))?;
                let mut written = 0;
                for chunk in results.chunks(500) {
                    let mut q = sqlx::QueryBuilder::new(
                        "UPDATE deliveries SET state = v.column2, smtp_code = v.column3, \
                             smtp_reply = v.column4, retry_at = v.column5, \
                             sent_at = CASE WHEN v.column2 = 'sent' THEN ",
                    );
                    q.push_bind(now.millis());
                    q.push(" ELSE sent_at END, lease_owner = NULL, lease_until = NULL, updated_at = ");
                    q.push_bind(now.millis());
                    q.push(" FROM (");
                    q.push_values(chunk, |mut b, r| {
                        b.push_bind(r.id.0)
                            .push_bind(r.state.as_str())
                            .push_bind(r.smtp_code.map(i64::from))
                            .push_bind(r.reply.as_deref())
                            .push_bind(r.retry_at.map(Timestamp::millis));
                    });
                    q.push(") AS v WHERE deliveries.id = v.column1 AND deliveries.state = 'sending' AND deliveries.lease_owner = ");
                    q.push_bind(owner);
                    let done = q
                        .build()
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err("delivery"))?;
                    written += done.rows_affected();
                }
                let bounced: Vec<i64> = results
                    .iter()
                    .filter(|r| r.hard_bounce)
                    .map(|r| r.id.0)
                    .collect();
                for chunk in bounced.chunks(500) {
                    let ids = crate::common::in_list(chunk.len(), 3, false);
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "UPDATE contacts SET email_subscription = 'bounced', updated_at = $2 \
                         WHERE site_id = $1 AND email_subscription = 'subscribed' \
                           AND id IN (SELECT contact_id FROM deliveries WHERE id IN ({ids}))"
                    )))
                    .bind(site.as_str())
                    .bind(now.millis());
                    for id in chunk {
                        q = q.bind(*id);
                    }
                    q.execute(&mut *tx).await.map_err(map_err("contact"))?;
                }
                tx.commit().await.map_err(map_err("delivery"))?;
                Ok(written)
            }

            async fn recipients_data(
                &self,
                site: &SiteId,
                contacts: &[ContactId],
            ) -> StoreResult<Vec<(Contact, ContactState)>> {
                self.settle_contacts(contacts).await?;
                let mut out = Vec::with_capacity(contacts.len());
                for chunk in contacts.chunks(500) {
                    let ids = crate::common::in_list(chunk.len(), 2, false);
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {} FROM contacts WHERE site_id = $1 AND id IN ({ids})",
                        crate::common::CONTACT_COLUMNS
                    )))
                    .bind(site.as_str());
                    for id in chunk {
                        q = q.bind(id.0);
                    }
                    let found = q.fetch_all(self.reads()).await.map_err(map_err("contact"))?;
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT contact_id, {} FROM contact_state WHERE site_id = $1 AND contact_id IN ({ids})",
                        crate::common::events::STATE_COLUMNS
                    )))
                    .bind(site.as_str());
                    for id in chunk {
                        q = q.bind(id.0);
                    }
                    let mut states = std::collections::HashMap::new();
                    for r in q.fetch_all(self.reads()).await.map_err(map_err("contact state"))? {
                        let id = ContactId(r.int("contact_id")?);
                        states.insert(id, crate::common::events::state_from_row(&r, id)?);
                    }
                    for r in &found {
                        let contact = crate::rows::contact(r)?;
                        let state = states.remove(&contact.id).unwrap_or_else(|| ContactState {
                            contact_id: Some(contact.id),
                            ..Default::default()
                        });
                        out.push((contact, state));
                    }
                }
                Ok(out)
            }

            async fn release_deliveries(
                &self,
                campaign: CampaignId,
                owner: &str,
            ) -> StoreResult<u64> {
                let done = sqlx::query(
                    "UPDATE deliveries SET state = 'pending', attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, \
                         lease_owner = NULL, lease_until = NULL \
                     WHERE campaign_id = $1 AND state = 'sending' AND lease_owner = $2",
                )
                .bind(campaign.0)
                .bind(owner)
                .execute(self.writes())
                .await
                .map_err(map_err("delivery"))?;
                Ok(done.rows_affected())
            }

            async fn delivery_counts(&self, campaign: CampaignId) -> StoreResult<DeliveryCounts> {
                let rows = sqlx::query(
                    "SELECT state, COUNT(*) AS n, \
                         SUM(CASE WHEN possibly_duplicated THEN 1 ELSE 0 END) AS dup, \
                         SUM(CASE WHEN smtp_code >= 500 THEN 1 ELSE 0 END) AS bounced \
                     FROM deliveries WHERE campaign_id = $1 GROUP BY state",
                )
                .bind(campaign.0)
                .fetch_all(self.writes())
                .await
                .map_err(map_err("delivery"))?;
                let mut counts = DeliveryCounts::default();
                for r in rows {
                    let n = r.int("n")?;
                    counts.possibly_duplicated += r.opt_int("dup")?.unwrap_or(0);
                    let state = r.text("state")?;
                    match DeliveryState::parse(&state) {
                        Some(DeliveryState::Pending) => counts.pending = n,
                        Some(DeliveryState::Sending) => counts.sending = n,
                        Some(DeliveryState::Sent) => counts.sent = n,
                        Some(DeliveryState::Deferred) => counts.deferred = n,
                        Some(DeliveryState::Failed) => {
                            counts.failed = n;
                            counts.bounced = r.opt_int("bounced")?.unwrap_or(0);
                        }
                        Some(DeliveryState::Skipped) => counts.skipped = n,
                        None => return Err(internal(format!("stored delivery state {state:?}"))),
                    }
                }
                Ok(counts)
            }

            async fn next_delivery_work(
                &self,
                campaign: CampaignId,
            ) -> StoreResult<(Option<Timestamp>, Option<i64>)> {
                let retry: Option<i64> = sqlx::query_scalar(
                    "SELECT MIN(retry_at) FROM deliveries WHERE campaign_id = $1 AND state = 'deferred'",
                )
                .bind(campaign.0)
                .fetch_one(self.writes())
                .await
                .map_err(map_err("delivery"))?;
                let batch: Option<i64> = sqlx::query_scalar(
                    "SELECT MIN(batch) FROM deliveries WHERE campaign_id = $1 AND state = 'pending'",
                )
                .bind(campaign.0)
                .fetch_one(self.writes())
                .await
                .map_err(map_err("delivery"))?;
                Ok((retry.map(Timestamp), batch))
            }

        }
    };
}

pub(crate) use impl_delivery_store;
