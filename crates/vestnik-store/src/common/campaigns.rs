//! `CampaignStore` on both backends: campaigns, their state changes, recipient snapshots and
//! engagement counts.
//!
//! `$lock` is `FOR UPDATE` on PostgreSQL (rows are locked while a transaction reads and then
//! writes them) and empty on SQLite, whose single writer connection already serialises writes.

macro_rules! impl_campaign_store {
    ($store:ty, $db:ty, $lock:literal) => {
        use async_trait::async_trait;
        use sqlx::Row;
        use vestnik_domain::campaign::{
            Campaign, CampaignId, CampaignState, Engagement, Exclusions, LinkClicks, NewCampaign,
            ProviderId, Recipients, SnapshotPage, SnapshotSource, UtmTags,
        };
        use vestnik_domain::store::CampaignStore;
        use vestnik_domain::template::TemplateId;
        use vestnik_domain::{
            ContactId, Email, SiteId, StoreError, StoreResult, Timestamp,
        };

        use crate::error::{internal, map_err};
        use crate::rows::Columns;

        const CAMPAIGN_COLUMNS: &str = "id, site_id, name, template_id, template_version, subject, \
             from_email, from_name, recipient_kind, recipient_ref, provider_id, send_at, segment_size, \
             interval_minutes, disable_banner, utm, state, state_reason, recipients, \
             excluded_unsubscribed, excluded_bounced, excluded_blocked, throttle_note, created_at, \
             started_at, finished_at";
        /// Rows examined per snapshot statement when the caller asks for more.
        const MAX_SNAPSHOT_PAGE: u32 = 5000;

        type DbRow = <$db as sqlx::Database>::Row;

        fn campaign_from_row(r: &DbRow) -> StoreResult<Campaign> {
            let kind = r.text("recipient_kind")?;
            let reference = r.opt_text("recipient_ref")?;
            let state = r.text("state")?;
            let from_email = r.text("from_email")?;
            let utm = match r.opt_text("utm")? {
                Some(text) => Some(
                    serde_json::from_str::<UtmTags>(&text)
                        .map_err(|e| internal(format!("stored utm tags: {e}")))?,
                ),
                None => None,
            };
            Ok(Campaign {
                id: CampaignId(r.int("id")?),
                site_id: SiteId::from_trusted(r.text("site_id")?),
                name: r.text("name")?,
                template_id: TemplateId(r.int("template_id")?),
                template_version: r.int("template_version")?,
                subject: r.text("subject")?,
                from_email: Email::parse(&from_email)
                    .map_err(|_| internal(format!("stored sender {from_email:?} is invalid")))?,
                from_name: r.text("from_name")?,
                recipients: Recipients::from_stored(&kind, reference.as_deref()).ok_or_else(
                    || internal(format!("stored recipients {kind:?} {reference:?} are invalid")),
                )?,
                provider_id: ProviderId(r.int("provider_id")?),
                send_at: Timestamp(r.int("send_at")?),
                segment_size: u32::try_from(r.int("segment_size")?).unwrap_or(1),
                interval_minutes: u32::try_from(r.int("interval_minutes")?).unwrap_or(0),
                disable_banner: r
                    .try_get::<bool, _>("disable_banner")
                    .map_err(|e| internal(format!("column disable_banner: {e}")))?,
                utm,
                state: CampaignState::parse(&state)
                    .ok_or_else(|| internal(format!("stored campaign state {state:?} is unknown")))?,
                state_reason: r.opt_text("state_reason")?,
                recipients_count: r.int("recipients")?,
                excluded: Exclusions {
                    unsubscribed: r.int("excluded_unsubscribed")?,
                    bounced: r.int("excluded_bounced")?,
                    blocked: r.int("excluded_blocked")?,
                },
                throttle_note: r.opt_text("throttle_note")?,
                created_at: Timestamp(r.int("created_at")?),
                started_at: r.opt_int("started_at")?.map(Timestamp),
                finished_at: r.opt_int("finished_at")?.map(Timestamp),
            })
        }

        /// A snapshot candidate: a contact id, its email (if any) and its email subscription.
        type Candidate = (i64, Option<String>, String);

        /// Writes the deliveries of one snapshot page and advances the campaign's cursor and
        /// totals, inside the caller's transaction.
        async fn write_snapshot_page(
            tx: &mut sqlx::Transaction<'static, $db>,
            site: &SiteId,
            campaign: CampaignId,
            candidates: &[Candidate],
            complete: bool,
        ) -> StoreResult<SnapshotPage> {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT recipients, segment_size, snapshot_after FROM campaigns \
                 WHERE id = $1 AND site_id = $2 {}",
                $lock
            )))
            .bind(campaign.0)
            .bind(site.as_str())
            .fetch_optional(&mut **tx)
            .await
            .map_err(map_err("campaign"))?
            .ok_or_else(|| StoreError::NotFound(format!("campaign {campaign}")))?;
            let mut position = row.int("recipients")?;
            let segment_size = row.int("segment_size")?.max(1);
            let cursor = row.opt_int("snapshot_after")?.unwrap_or(0);
            let now = Timestamp::now().millis();
            let mut page = SnapshotPage {
                complete,
                ..Default::default()
            };
            let mut last = None;
            let mut rows: Vec<(i64, &str, i64)> = Vec::with_capacity(candidates.len());
            for (id, email, subscription) in candidates {
                if *id <= cursor {
                    continue;
                }
                last = Some(*id);
                let Some(email) = email else { continue };
                match subscription.as_str() {
                    "subscribed" => {
                        rows.push((*id, email.as_str(), position / segment_size));
                        position += 1;
                    }
                    "unsubscribed" | "pending" => page.excluded.unsubscribed += 1,
                    "bounced" => page.excluded.bounced += 1,
                    _ => page.excluded.blocked += 1,
                }
            }
            for chunk in rows.chunks(1000) {
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO deliveries (campaign_id, contact_id, email, batch, state, updated_at) ",
                );
                q.push_values(chunk, |mut b, (id, email, batch)| {
                    b.push_bind(campaign.0)
                        .push_bind(*id)
                        .push_bind(*email)
                        .push_bind(*batch)
                        .push_bind("pending")
                        .push_bind(now);
                });
                q.push(" ON CONFLICT (campaign_id, contact_id) DO NOTHING");
                let done = q
                    .build()
                    .execute(&mut **tx)
                    .await
                    .map_err(map_err("delivery"))?;
                page.added += done.rows_affected() as i64;
            }
            sqlx::query(
                "UPDATE campaigns SET recipients = recipients + $1, \
                     excluded_unsubscribed = excluded_unsubscribed + $2, \
                     excluded_bounced = excluded_bounced + $3, excluded_blocked = excluded_blocked + $4, \
                     snapshot_after = COALESCE($5, snapshot_after), \
                     snapshot_complete = (snapshot_complete OR $6), updated_at = $7 \
                 WHERE id = $8",
            )
            .bind(page.added)
            .bind(page.excluded.unsubscribed)
            .bind(page.excluded.bounced)
            .bind(page.excluded.blocked)
            .bind(last)
            .bind(complete)
            .bind(now)
            .bind(campaign.0)
            .execute(&mut **tx)
            .await
            .map_err(map_err("campaign"))?;
            Ok(page)
        }

        #[async_trait]
        impl CampaignStore for $store {
            async fn create_campaign(
                &self,
                site: &SiteId,
                c: &NewCampaign,
            ) -> StoreResult<Campaign> {
                c.validate()?;
                let now = Timestamp::now().millis();
                let utm = c
                    .utm
                    .as_ref()
                    .filter(|u| !u.is_empty())
                    .map(|u| serde_json::to_string(u).unwrap_or_default());
                let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO campaigns (site_id, name, template_id, template_version, subject, \
                         from_email, from_name, recipient_kind, recipient_ref, provider_id, send_at, \
                         segment_size, interval_minutes, disable_banner, utm, state, created_at, updated_at) \
                     SELECT $1, $2, t.id, $4, $5, $6, $7, $8, $9, p.id, $11, $12, $13, $14, $15, $16, $17, $17 \
                     FROM templates t, smtp_providers p \
                     WHERE t.id = $3 AND t.site_id = $1 AND p.id = $10 AND p.site_id = $1 \
                     RETURNING {CAMPAIGN_COLUMNS}"
                )))
                .bind(site.as_str())
                .bind(c.name.trim())
                .bind(c.template_id.0)
                .bind(c.template_version)
                .bind(&c.subject)
                .bind(c.from_email.as_str())
                .bind(&c.from_name)
                .bind(c.recipients.kind())
                .bind(c.recipients.reference())
                .bind(c.provider_id.0)
                .bind(c.send_at.millis())
                .bind(i64::from(c.segment_size))
                .bind(i64::from(c.interval_minutes))
                .bind(c.disable_banner)
                .bind(utm)
                .bind(c.state.as_str())
                .bind(now)
                .fetch_optional(self.writes())
                .await
                .map_err(map_err("campaign"))?
                .ok_or_else(|| {
                    StoreError::NotFound(format!(
                        "template {} or provider {}",
                        c.template_id.0, c.provider_id
                    ))
                })?;
                campaign_from_row(&row)
            }

            async fn get_campaign(&self, site: &SiteId, id: CampaignId) -> StoreResult<Campaign> {
                let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE site_id = $1 AND id = $2"
                )))
                .bind(site.as_str())
                .bind(id.0)
                .fetch_optional(self.writes())
                .await
                .map_err(map_err("campaign"))?
                .ok_or_else(|| StoreError::NotFound(format!("campaign {id}")))?;
                campaign_from_row(&row)
            }

            async fn campaigns(&self, site: &SiteId, limit: u32) -> StoreResult<Vec<Campaign>> {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE site_id = $1 ORDER BY id DESC LIMIT $2"
                )))
                .bind(site.as_str())
                .bind(i64::from(limit))
                .fetch_all(self.reads())
                .await
                .map_err(map_err("campaign"))?;
                rows.iter().map(campaign_from_row).collect()
            }

            async fn transition_campaign(
                &self,
                site: &SiteId,
                id: CampaignId,
                from: &[CampaignState],
                to: CampaignState,
                reason: Option<&str>,
                now: Timestamp,
            ) -> StoreResult<bool> {
                if from.is_empty() {
                    return Ok(false);
                }
                let states = crate::common::in_list(from.len(), 6, false);
                let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE campaigns SET state = $1, state_reason = $2, updated_at = $3, \
                         started_at = CASE WHEN $1 = 'sending' THEN COALESCE(started_at, $3) ELSE started_at END, \
                         finished_at = CASE WHEN $1 IN ('done', 'cancelled') THEN $3 ELSE finished_at END \
                     WHERE site_id = $4 AND id = $5 AND state IN ({states})"
                )))
                .bind(to.as_str())
                .bind(reason)
                .bind(now.millis())
                .bind(site.as_str())
                .bind(id.0);
                for s in from {
                    q = q.bind(s.as_str());
                }
                let done = q.execute(self.writes()).await.map_err(map_err("campaign"))?;
                Ok(done.rows_affected() == 1)
            }

            async fn set_throttle_note(
                &self,
                site: &SiteId,
                id: CampaignId,
                note: Option<&str>,
            ) -> StoreResult<()> {
                sqlx::query("UPDATE campaigns SET throttle_note = $1 WHERE site_id = $2 AND id = $3")
                    .bind(note)
                    .bind(site.as_str())
                    .bind(id.0)
                    .execute(self.writes())
                    .await
                    .map_err(map_err("campaign"))?;
                Ok(())
            }

            async fn count_reachable(
                &self,
                site: &SiteId,
                source: SnapshotSource,
            ) -> StoreResult<i64> {
                let reachable = "c.email IS NOT NULL AND c.email_subscription = 'subscribed'";
                let q = match source {
                    SnapshotSource::All => sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                        "SELECT COUNT(*) FROM contacts c WHERE c.site_id = $1 AND {reachable}"
                    )))
                    .bind(site.as_str()),
                    SnapshotSource::List(list) => sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                        "SELECT COUNT(*) FROM list_members m JOIN contacts c ON c.id = m.contact_id \
                         WHERE c.site_id = $1 AND m.list_id = $2 AND {reachable}"
                    )))
                    .bind(site.as_str())
                    .bind(list.0),
                    SnapshotSource::NonOpeners(previous) => sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                        "SELECT COUNT(*) FROM deliveries d JOIN contacts c ON c.id = d.contact_id \
                         WHERE c.site_id = $1 AND d.campaign_id = $2 AND d.state = 'sent' AND {reachable} \
                           AND NOT EXISTS (SELECT 1 FROM tracking_events t WHERE t.campaign_id = d.campaign_id \
                               AND t.contact_id = d.contact_id AND t.kind = 'open')"
                    )))
                    .bind(site.as_str())
                    .bind(previous.0),
                };
                q.fetch_one(self.reads()).await.map_err(map_err("contact"))
            }

            async fn snapshot_address(
                &self,
                site: &SiteId,
                campaign: CampaignId,
                email: &Email,
            ) -> StoreResult<SnapshotPage> {
                let mut tx = self.writes().begin().await.map_err(map_err("campaign"))?;
                let exists: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM deliveries d JOIN campaigns c ON c.id = d.campaign_id \
                     WHERE d.campaign_id = $1 AND c.site_id = $2",
                )
                .bind(campaign.0)
                .bind(site.as_str())
                .fetch_one(&mut *tx)
                .await
                .map_err(map_err("delivery"))?;
                let mut page = SnapshotPage {
                    complete: true,
                    ..Default::default()
                };
                if exists == 0 {
                    let contact: Option<i64> = sqlx::query_scalar(
                        "SELECT id FROM contacts WHERE site_id = $1 AND email = $2",
                    )
                    .bind(site.as_str())
                    .bind(email.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(map_err("contact"))?;
                    let now = Timestamp::now().millis();
                    let done = sqlx::query(
                        "INSERT INTO deliveries (campaign_id, contact_id, email, batch, state, updated_at) \
                         SELECT id, $2, $3, 0, 'pending', $4 FROM campaigns WHERE id = $1 AND site_id = $5",
                    )
                    .bind(campaign.0)
                    .bind(contact)
                    .bind(email.as_str())
                    .bind(now)
                    .bind(site.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err("delivery"))?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::NotFound(format!("campaign {campaign}")));
                    }
                    sqlx::query(
                        "UPDATE campaigns SET recipients = 1, snapshot_complete = $1, updated_at = $2 WHERE id = $3",
                    )
                    .bind(true)
                    .bind(now)
                    .bind(campaign.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err("campaign"))?;
                    page.added = 1;
                }
                tx.commit().await.map_err(map_err("campaign"))?;
                Ok(page)
            }

            async fn snapshot_next(
                &self,
                site: &SiteId,
                campaign: CampaignId,
                source: SnapshotSource,
                limit: u32,
            ) -> StoreResult<SnapshotPage> {
                let limit = i64::from(limit.clamp(1, MAX_SNAPSHOT_PAGE));
                let mut tx = self.writes().begin().await.map_err(map_err("campaign"))?;
                let cursor: Option<Option<i64>> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT snapshot_after FROM campaigns WHERE id = $1 AND site_id = $2 {}",
                    $lock
                )))
                .bind(campaign.0)
                .bind(site.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err("campaign"))?;
                let Some(cursor) = cursor else {
                    return Err(StoreError::NotFound(format!("campaign {campaign}")));
                };
                let after = cursor.unwrap_or(0);
                let rows = match source {
                    SnapshotSource::All => sqlx::query(
                        "SELECT id, email, email_subscription FROM contacts \
                         WHERE site_id = $1 AND id > $2 ORDER BY id LIMIT $3",
                    )
                    .bind(site.as_str())
                    .bind(after)
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await,
                    SnapshotSource::List(list) => sqlx::query(
                        "SELECT c.id, c.email, c.email_subscription FROM list_members m \
                         JOIN contacts c ON c.id = m.contact_id \
                         JOIN lists l ON l.id = m.list_id \
                         WHERE m.list_id = $1 AND l.site_id = $2 AND c.site_id = $2 AND m.contact_id > $3 \
                         ORDER BY m.contact_id LIMIT $4",
                    )
                    .bind(list.0)
                    .bind(site.as_str())
                    .bind(after)
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await,
                    SnapshotSource::NonOpeners(previous) => sqlx::query(
                        "SELECT c.id, c.email, c.email_subscription FROM deliveries d \
                         JOIN campaigns p ON p.id = d.campaign_id \
                         JOIN contacts c ON c.id = d.contact_id \
                         WHERE d.campaign_id = $1 AND p.site_id = $2 AND c.site_id = $2 \
                           AND d.state = 'sent' AND d.contact_id > $3 \
                           AND NOT EXISTS (SELECT 1 FROM tracking_events t WHERE t.campaign_id = $1 \
                               AND t.contact_id = d.contact_id AND t.kind = 'open') \
                         ORDER BY d.contact_id LIMIT $4",
                    )
                    .bind(previous.0)
                    .bind(site.as_str())
                    .bind(after)
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await,
                }
                .map_err(map_err("contact"))?;
                let candidates = rows
                    .iter()
                    .map(|r| {
                        Ok((
                            r.int("id")?,
                            r.opt_text("email")?,
                            r.text("email_subscription")?,
                        ))
                    })
                    .collect::<StoreResult<Vec<Candidate>>>()?;
                let complete = (candidates.len() as i64) < limit;
                let page = write_snapshot_page(&mut tx, site, campaign, &candidates, complete).await?;
                tx.commit().await.map_err(map_err("campaign"))?;
                Ok(page)
            }

            async fn snapshot_contacts(
                &self,
                site: &SiteId,
                campaign: CampaignId,
                contacts: &[ContactId],
                complete: bool,
            ) -> StoreResult<SnapshotPage> {
                let mut tx = self.writes().begin().await.map_err(map_err("campaign"))?;
                let mut candidates: Vec<Candidate> = Vec::with_capacity(contacts.len());
                for chunk in contacts.chunks(1000) {
                    let ids = crate::common::in_list(chunk.len(), 2, false);
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT id, email, email_subscription FROM contacts \
                         WHERE site_id = $1 AND id IN ({ids}) ORDER BY id"
                    )))
                    .bind(site.as_str());
                    for id in chunk {
                        q = q.bind(id.0);
                    }
                    for r in q.fetch_all(&mut *tx).await.map_err(map_err("contact"))? {
                        candidates.push((
                            r.int("id")?,
                            r.opt_text("email")?,
                            r.text("email_subscription")?,
                        ));
                    }
                }
                candidates.sort_by_key(|c| c.0);
                let page = write_snapshot_page(&mut tx, site, campaign, &candidates, complete).await?;
                tx.commit().await.map_err(map_err("campaign"))?;
                Ok(page)
            }

            async fn snapshot_cursor(
                &self,
                campaign: CampaignId,
            ) -> StoreResult<(Option<ContactId>, bool)> {
                let row = sqlx::query(
                    "SELECT snapshot_after, snapshot_complete FROM campaigns WHERE id = $1",
                )
                .bind(campaign.0)
                .fetch_optional(self.writes())
                .await
                .map_err(map_err("campaign"))?
                .ok_or_else(|| StoreError::NotFound(format!("campaign {campaign}")))?;
                let complete: bool = row
                    .try_get("snapshot_complete")
                    .map_err(|e| internal(format!("column snapshot_complete: {e}")))?;
                Ok((row.opt_int("snapshot_after")?.map(ContactId), complete))
            }

            async fn campaign_engagement(
                &self,
                site: &SiteId,
                campaign: CampaignId,
            ) -> StoreResult<Engagement> {
                let rows = sqlx::query(
                    "SELECT kind, COUNT(DISTINCT contact_id) AS n FROM tracking_events \
                     WHERE campaign_id = $1 AND site_id = $2 GROUP BY kind",
                )
                .bind(campaign.0)
                .bind(site.as_str())
                .fetch_all(self.reads())
                .await
                .map_err(map_err("tracking"))?;
                let mut e = Engagement::default();
                for r in rows {
                    let n = r.int("n")?;
                    match r.text("kind")?.as_str() {
                        "open" => e.opened = n,
                        "click" => e.clicked = n,
                        "unsubscribe" => e.unsubscribed = n,
                        _ => {}
                    }
                }
                let links = sqlx::query(
                    "SELECT url, COUNT(DISTINCT contact_id) AS uniq, COUNT(*) AS n FROM tracking_events \
                     WHERE campaign_id = $1 AND site_id = $2 AND kind = 'click' AND url IS NOT NULL \
                     GROUP BY url ORDER BY uniq DESC, url LIMIT 200",
                )
                .bind(campaign.0)
                .bind(site.as_str())
                .fetch_all(self.reads())
                .await
                .map_err(map_err("tracking"))?;
                for r in links {
                    e.links.push(LinkClicks {
                        url: r.text("url")?,
                        unique_clicks: r.int("uniq")?,
                        clicks: r.int("n")?,
                    });
                }
                Ok(e)
            }
        }
    };
}

pub(crate) use impl_campaign_store;
