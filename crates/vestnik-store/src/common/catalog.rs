//! `CatalogStore` on both backends. The import transaction is each backend's `dialect`
//! (SQLite: the bulk connection, one prepared statement per row; PostgreSQL: `unnest`
//! arrays per chunk); the bookkeeping, the reads and the settings are the same SQL on both.

/// An offer's stored JSON back into the domain type; the `available` column wins over the
/// JSON, since retiring an offer only updates the column.
pub(crate) fn offer_from_row(
    r: &impl crate::rows::Columns,
) -> vestnik_domain::StoreResult<vestnik_domain::CatalogOffer> {
    let mut offer: vestnik_domain::CatalogOffer = serde_json::from_value(r.json("data")?)
        .map_err(|e| crate::error::internal(format!("stored offer is invalid: {e}")))?;
    offer.available = r.opt_bool("available")?.unwrap_or(false);
    Ok(offer)
}

/// `NotFound` unless the import's stored state (`None`: no such import of the site) is
/// `running`; `Conflict` when it already ended (or a newer import ended it).
pub(crate) fn check_running(
    import: vestnik_domain::ImportId,
    state: Option<&str>,
) -> vestnik_domain::StoreResult<()> {
    use vestnik_domain::StoreError;
    match state {
        Some("running") => Ok(()),
        Some(other) => Err(StoreError::Conflict(format!(
            "catalog import {} is already {other}",
            import.0
        ))),
        None => Err(StoreError::NotFound(format!("catalog import {}", import.0))),
    }
}

/// `%text%` for LIKE, with the pattern characters of `text` escaped by `\`.
pub(crate) fn contains_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

macro_rules! impl_catalog_store {
    ($store:ty, $conn:ty, $dialect:path) => {
        use async_trait::async_trait;
        use sqlx::Row;
        use vestnik_domain::store::{CatalogStore, FeedParts};
        use vestnik_domain::{
            CatalogCategory, CatalogImport, CatalogOffer, FeedSettings, ImportId, ImportOutcome,
            ImportState, ImportSummary, SiteId, StoreResult, Timestamp,
        };

        use crate::common::catalog::{check_running, contains_pattern, offer_from_row};
        use crate::error::{internal, map_err};
        use crate::rows::Columns;
        use $dialect as dialect;

        const IMPORT_COLUMNS: &str =
            "id, site_id, source, state, summary, retired, error, started_at, finished_at";

        fn import_from_row(r: &impl Columns) -> StoreResult<CatalogImport> {
            let state = r.text("state")?;
            let summary = match r.opt_json("summary")? {
                Some(v) => Some(
                    serde_json::from_value::<ImportSummary>(v)
                        .map_err(|e| internal(format!("stored import summary is invalid: {e}")))?,
                ),
                None => None,
            };
            Ok(CatalogImport {
                id: ImportId(r.int("id")?),
                site_id: SiteId::from_trusted(r.text("site_id")?),
                source: r.text("source")?,
                state: ImportState::parse(&state)
                    .ok_or_else(|| internal(format!("stored import state {state:?} is unknown")))?,
                summary,
                retired: r.opt_int("retired")?.map(|n| n.max(0) as u64),
                error: r.opt_text("error")?,
                started_at: Timestamp(r.int("started_at")?),
                finished_at: r.opt_int("finished_at")?.map(Timestamp),
            })
        }

        /// `NotFound` unless `import` is a running import of `site`.
        async fn ensure_running(conn: &mut $conn, site: &SiteId, import: ImportId) -> StoreResult<()> {
            let state: Option<String> =
                sqlx::query("SELECT state FROM catalog_imports WHERE id = $1 AND site_id = $2")
                    .bind(import.0)
                    .bind(site.as_str())
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(map_err("catalog import"))?
                    .map(|r| r.get(0));
            check_running(import, state.as_deref())
        }

        #[async_trait]
        impl CatalogStore for $store {
            async fn begin_import(&self, site: &SiteId, source: &str) -> StoreResult<ImportId> {
                let now = Timestamp::now().millis();
                let mut tx = self.writes().begin().await.map_err(map_err("catalog import"))?;
                // A site imports one feed at a time: an import still marked running was cut
                // off (a crash, a kill) or is overtaken by this one; its transaction, if any,
                // finds itself no longer running and rolls back.
                sqlx::query(
                    "UPDATE catalog_imports SET state = 'failed', finished_at = $2, \
                         error = 'interrupted: a newer import of this site started before it finished' \
                     WHERE site_id = $1 AND state = 'running'",
                )
                .bind(site.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(map_err("catalog import"))?;
                let row = sqlx::query(
                    "INSERT INTO catalog_imports (site_id, source, state, started_at) \
                     VALUES ($1, $2, 'running', $3) RETURNING id",
                )
                .bind(site.as_str())
                .bind(source)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(map_err("catalog import"))?;
                tx.commit().await.map_err(map_err("catalog import"))?;
                Ok(ImportId(row.get(0)))
            }

            async fn import_catalog(
                &self,
                site: &SiteId,
                import: ImportId,
                parts: Box<dyn FeedParts>,
            ) -> StoreResult<ImportOutcome> {
                match dialect::import_catalog(self, site, import, parts).await {
                    Ok(Err(reason)) => {
                        self.fail_import(site, import, &reason).await?;
                        Ok(ImportOutcome::Abandoned(reason))
                    }
                    Ok(Ok(())) => {
                        let sql = format!("SELECT {IMPORT_COLUMNS} FROM catalog_imports WHERE id = $1");
                        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                            .bind(import.0)
                            .fetch_one(self.writes())
                            .await
                            .map_err(map_err("catalog import"))?;
                        Ok(ImportOutcome::Done(import_from_row(&row)?))
                    }
                    Err(e) => {
                        // Rolled back; the import is recorded as failed unless something
                        // else (a newer import) already ended it.
                        if let Err(fail) = self.fail_import(site, import, &e.to_string()).await {
                            tracing::debug!(error = %fail, "recording a failed catalog import");
                        }
                        Err(e)
                    }
                }
            }

            async fn fail_import(&self, site: &SiteId, import: ImportId, error: &str) -> StoreResult<()> {
                let mut tx = self.writes().begin().await.map_err(map_err("catalog import"))?;
                if let Err(e) = ensure_running(&mut tx, site, import).await {
                    let _ = tx.rollback().await;
                    return Err(e);
                }
                sqlx::query(
                    "UPDATE catalog_imports SET state = 'failed', error = $2, finished_at = $3 WHERE id = $1",
                )
                .bind(import.0)
                .bind(error)
                .bind(Timestamp::now().millis())
                .execute(&mut *tx)
                .await
                .map_err(map_err("catalog import"))?;
                tx.commit().await.map_err(map_err("catalog import"))
            }

            async fn imports(&self, site: &SiteId, limit: u32) -> StoreResult<Vec<CatalogImport>> {
                let sql = format!(
                    "SELECT {IMPORT_COLUMNS} FROM catalog_imports WHERE site_id = $1 ORDER BY id DESC LIMIT $2"
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(site.as_str())
                    .bind(i64::from(limit))
                    .fetch_all(self.reads())
                    .await
                    .map_err(map_err("catalog import"))?
                    .iter()
                    .map(import_from_row)
                    .collect()
            }

            async fn offers_by_id(&self, site: &SiteId, ids: &[String]) -> StoreResult<Vec<CatalogOffer>> {
                let mut found: std::collections::HashMap<String, CatalogOffer> = Default::default();
                for chunk in ids.chunks(500) {
                    let sql = format!(
                        "SELECT offer_id, available, data FROM offers WHERE site_id = $1 AND offer_id IN ({})",
                        crate::common::in_list(chunk.len(), 2, false)
                    );
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(site.as_str());
                    for id in chunk {
                        q = q.bind(id.as_str());
                    }
                    for row in q.fetch_all(self.reads()).await.map_err(map_err("offer"))? {
                        found.insert(row.text("offer_id")?, offer_from_row(&row)?);
                    }
                }
                // In the order asked; an id asked twice is answered once.
                Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
            }

            async fn search_offers(
                &self,
                site: &SiteId,
                query: &str,
                limit: u32,
            ) -> StoreResult<Vec<CatalogOffer>> {
                // No query: the first offers by id, straight off the primary key, instead of
                // sorting a whole catalog (a million offers) by name for one page.
                let sql = if query.is_empty() {
                    "SELECT offer_id, available, data FROM offers WHERE site_id = $1 \
                     ORDER BY offer_id LIMIT $4"
                } else {
                    "SELECT offer_id, available, data FROM offers \
                     WHERE site_id = $1 AND (offer_id = $2 OR search_name LIKE $3 ESCAPE '\\') \
                     ORDER BY available DESC, name, offer_id LIMIT $4"
                };
                sqlx::query(sql)
                .bind(site.as_str())
                .bind(query)
                .bind(contains_pattern(query))
                .bind(i64::from(limit))
                .fetch_all(self.reads())
                .await
                .map_err(map_err("offer"))?
                .iter()
                .map(offer_from_row)
                .collect()
            }

            async fn random_offers(&self, site: &SiteId, count: u32) -> StoreResult<Vec<CatalogOffer>> {
                // A sort of the site's available offers by random(); fine for previews and
                // single sends. Mass sends should draw from a pool they load once.
                sqlx::query(
                    "SELECT offer_id, available, data FROM offers WHERE site_id = $1 AND available = true \
                     ORDER BY random() LIMIT $2",
                )
                .bind(site.as_str())
                .bind(i64::from(count))
                .fetch_all(self.reads())
                .await
                .map_err(map_err("offer"))?
                .iter()
                .map(offer_from_row)
                .collect()
            }

            async fn offer_counts(&self, site: &SiteId) -> StoreResult<(u64, u64)> {
                let row = sqlx::query(
                    "SELECT count(*), coalesce(sum(CASE WHEN available THEN 1 ELSE 0 END), 0) \
                     FROM offers WHERE site_id = $1",
                )
                .bind(site.as_str())
                .fetch_one(self.reads())
                .await
                .map_err(map_err("offer"))?;
                let all: i64 = row.get(0);
                let available: i64 = row.get(1);
                Ok((all.max(0) as u64, available.max(0) as u64))
            }

            async fn categories(&self, site: &SiteId) -> StoreResult<Vec<CatalogCategory>> {
                sqlx::query(
                    "SELECT category_id, parent_id, name FROM categories WHERE site_id = $1 ORDER BY category_id",
                )
                .bind(site.as_str())
                .fetch_all(self.reads())
                .await
                .map_err(map_err("category"))?
                .iter()
                .map(|r| {
                    Ok(CatalogCategory {
                        id: r.text("category_id")?,
                        parent_id: r.opt_text("parent_id")?,
                        name: r.text("name")?,
                    })
                })
                .collect()
            }

            async fn feed_settings(&self, site: &SiteId) -> StoreResult<Option<(FeedSettings, Timestamp)>> {
                sqlx::query("SELECT url, refresh_minutes, updated_at FROM feed_settings WHERE site_id = $1")
                    .bind(site.as_str())
                    .fetch_optional(self.reads())
                    .await
                    .map_err(map_err("feed settings"))?
                    .map(|r| {
                        let settings = FeedSettings {
                            url: r.opt_text("url")?,
                            refresh_minutes: r
                                .opt_int("refresh_minutes")?
                                .and_then(|m| u32::try_from(m).ok()),
                        };
                        Ok((settings, Timestamp(r.int("updated_at")?)))
                    })
                    .transpose()
            }

            async fn set_feed_settings(&self, site: &SiteId, settings: &FeedSettings) -> StoreResult<Timestamp> {
                // Strictly increasing per site, so two saves within one millisecond still
                // tell scheduled imports apart.
                let row = sqlx::query(
                    "INSERT INTO feed_settings (site_id, url, refresh_minutes, updated_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (site_id) DO UPDATE SET url = excluded.url, \
                         refresh_minutes = excluded.refresh_minutes, \
                         updated_at = CASE WHEN excluded.updated_at > feed_settings.updated_at \
                             THEN excluded.updated_at ELSE feed_settings.updated_at + 1 END \
                     RETURNING updated_at",
                )
                .bind(site.as_str())
                .bind(settings.url.as_deref())
                .bind(settings.refresh_minutes.map(i64::from))
                .bind(Timestamp::now().millis())
                .fetch_one(self.writes())
                .await
                .map_err(map_err("feed settings"))?;
                Ok(Timestamp(row.get(0)))
            }
        }
    };
}
pub(crate) use impl_catalog_store;
