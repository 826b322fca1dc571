//! `MailSettingsStore` on both backends: a site's SMTP providers and DKIM sender domains.

macro_rules! impl_mail_settings_store {
    ($store:ty, $db:ty) => {
        use async_trait::async_trait;
        use sqlx::Row;
        use vestnik_domain::campaign::{
            DkimAlgorithm, NewProvider, ProviderId, SenderDomain, SenderDomainId, SmtpProvider,
            SmtpTls,
        };
        use vestnik_domain::store::MailSettingsStore;
        use vestnik_domain::{SiteId, StoreError, StoreResult, Timestamp};

        use crate::error::{internal, map_err};
        use crate::rows::Columns;

        type DbRow = <$db as sqlx::Database>::Row;

        const PROVIDER_COLUMNS: &str = "id, site_id, name, host, port, tls, username, password, \
             rate_per_sec, pool_size, created_at";
        fn provider_from_row(r: &DbRow) -> StoreResult<SmtpProvider> {
            let tls = r.text("tls")?;
            Ok(SmtpProvider {
                id: ProviderId(r.int("id")?),
                site_id: SiteId::from_trusted(r.text("site_id")?),
                name: r.text("name")?,
                host: r.text("host")?,
                port: u16::try_from(r.int("port")?)
                    .map_err(|_| internal("stored provider port out of range"))?,
                tls: SmtpTls::parse(&tls)
                    .ok_or_else(|| internal(format!("stored tls mode {tls:?} is unknown")))?,
                username: r.opt_text("username")?,
                password: r.opt_text("password")?,
                rate_per_sec: r
                    .try_get::<Option<f64>, _>("rate_per_sec")
                    .map_err(|e| internal(format!("column rate_per_sec: {e}")))?,
                pool_size: u32::try_from(r.int("pool_size")?).unwrap_or(1),
                created_at: Timestamp(r.int("created_at")?),
            })
        }

        #[async_trait]
        impl MailSettingsStore for $store {
            async fn create_provider(
                &self,
                site: &SiteId,
                p: &NewProvider,
            ) -> StoreResult<SmtpProvider> {
                p.validate()?;
                let now = Timestamp::now().millis();
                let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO smtp_providers (site_id, name, host, port, tls, username, password, \
                         rate_per_sec, pool_size, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING {PROVIDER_COLUMNS}"
                )))
                .bind(site.as_str())
                .bind(p.name.trim())
                .bind(p.host.trim())
                .bind(i64::from(p.port))
                .bind(p.tls.as_str())
                .bind(p.username.as_deref())
                .bind(p.password.as_deref())
                .bind(p.rate_per_sec)
                .bind(i64::from(p.pool_size))
                .bind(now)
                .fetch_one(self.writes())
                .await
                .map_err(|e| match crate::error::classify("provider", e) {
                    StoreError::Conflict(_) => StoreError::Conflict(format!(
                        "a provider named {:?} already exists",
                        p.name.trim()
                    )),
                    other => other,
                })?;
                provider_from_row(&row)
            }

            async fn providers(&self, site: &SiteId) -> StoreResult<Vec<SmtpProvider>> {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {PROVIDER_COLUMNS} FROM smtp_providers WHERE site_id = $1 ORDER BY name"
                )))
                .bind(site.as_str())
                .fetch_all(self.reads())
                .await
                .map_err(map_err("provider"))?;
                rows.iter().map(provider_from_row).collect()
            }

            async fn get_provider(
                &self,
                site: &SiteId,
                id: ProviderId,
            ) -> StoreResult<SmtpProvider> {
                let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {PROVIDER_COLUMNS} FROM smtp_providers WHERE site_id = $1 AND id = $2"
                )))
                .bind(site.as_str())
                .bind(id.0)
                .fetch_optional(self.reads())
                .await
                .map_err(map_err("provider"))?
                .ok_or_else(|| StoreError::NotFound(format!("provider {id}")))?;
                provider_from_row(&row)
            }

            async fn find_provider(
                &self,
                site: &SiteId,
                name: &str,
            ) -> StoreResult<Option<SmtpProvider>> {
                let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {PROVIDER_COLUMNS} FROM smtp_providers WHERE site_id = $1 AND name = $2"
                )))
                .bind(site.as_str())
                .bind(name.trim())
                .fetch_optional(self.reads())
                .await
                .map_err(map_err("provider"))?;
                row.as_ref().map(provider_from_row).transpose()
            }

            async fn delete_provider(&self, site: &SiteId, id: ProviderId) -> StoreResult<()> {
                let in_use: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM campaigns WHERE site_id = $1 AND provider_id = $2",
                )
                .bind(site.as_str())
                .bind(id.0)
                .fetch_one(self.writes())
                .await
                .map_err(map_err("provider"))?;
                if in_use > 0 {
                    return Err(StoreError::Conflict(format!(
                        "provider {id} is used by {in_use} campaign(s); it is kept for their reports"
                    )));
                }
                let done = sqlx::query("DELETE FROM smtp_providers WHERE site_id = $1 AND id = $2")
                    .bind(site.as_str())
                    .bind(id.0)
                    .execute(self.writes())
                    .await
                    .map_err(map_err("provider"))?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound(format!("provider {id}")));
                }
                Ok(())
            }

            async fn create_sender_domain(
                &self,
                site: &SiteId,
                domain: &str,
                selector: &str,
                algorithm: DkimAlgorithm,
                private_key: &str,
            ) -> StoreResult<SenderDomain> {
                let now = Timestamp::now().millis();
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO sender_domains (site_id, domain, selector, algorithm, private_key, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                )
                .bind(site.as_str())
                .bind(domain)
                .bind(selector)
                .bind(algorithm.as_str())
                .bind(private_key)
                .bind(now)
                .fetch_one(self.writes())
                .await
                .map_err(|e| match crate::error::classify("sender domain", e) {
                    StoreError::Conflict(_) => StoreError::Conflict(format!(
                        "the domain {domain} is already configured"
                    )),
                    other => other,
                })?;
                Ok(SenderDomain {
                    id: SenderDomainId(id),
                    domain: domain.to_string(),
                    selector: selector.to_string(),
                    algorithm,
                    private_key: private_key.to_string(),
                    created_at: Timestamp(now),
                })
            }

            async fn sender_domains(&self, site: &SiteId) -> StoreResult<Vec<SenderDomain>> {
                let rows = sqlx::query(
                    "SELECT id, domain, selector, algorithm, private_key, created_at \
                     FROM sender_domains WHERE site_id = $1 ORDER BY domain",
                )
                .bind(site.as_str())
                .fetch_all(self.reads())
                .await
                .map_err(map_err("sender domain"))?;
                rows.iter()
                    .map(|r| {
                        let alg = r.text("algorithm")?;
                        Ok(SenderDomain {
                            id: SenderDomainId(r.int("id")?),
                            domain: r.text("domain")?,
                            selector: r.text("selector")?,
                            algorithm: DkimAlgorithm::parse(&alg).ok_or_else(|| {
                                internal(format!("stored DKIM algorithm {alg:?} is unknown"))
                            })?,
                            private_key: r.text("private_key")?,
                            created_at: Timestamp(r.int("created_at")?),
                        })
                    })
                    .collect()
            }

            async fn find_sender_domain(
                &self,
                site: &SiteId,
                domain: &str,
            ) -> StoreResult<Option<SenderDomain>> {
                Ok(self
                    .sender_domains(site)
                    .await?
                    .into_iter()
                    .find(|d| d.domain == domain))
            }

        }
    };
}

pub(crate) use impl_mail_settings_store;
