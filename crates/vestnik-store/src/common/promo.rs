//! `PromoStore` on both backends. Imports go through each backend's `dialect` (bulk rows);
//! the claim is one `UPDATE … RETURNING` whose inner SELECT takes `$lock` (`FOR UPDATE SKIP
//! LOCKED` on PostgreSQL, so concurrent nodes skip each other's pick instead of colliding;
//! nothing on SQLite, whose single writer already serialises).

macro_rules! impl_promo_store {
    ($store:ty, $dialect:path, $lock:literal) => {
        use async_trait::async_trait;
        use sqlx::Row;
        use vestnik_domain::promo::{PromoImport, PromoPool};
        use vestnik_domain::store::PromoStore;
        use vestnik_domain::{ContactId, SiteId, StoreResult, Timestamp};

        use crate::error::map_err;
        use $dialect as dialect;

        #[async_trait]
        impl PromoStore for $store {
            async fn import_promo_codes(
                &self,
                site: &SiteId,
                pool: &str,
                codes: &[String],
            ) -> StoreResult<PromoImport> {
                let added = dialect::insert_promo_codes(self, site, pool, codes).await?;
                Ok(PromoImport {
                    added,
                    duplicates: codes.len() as u64 - added,
                })
            }

            async fn claim_promo_code(
                &self,
                site: &SiteId,
                pool: &str,
                contact: Option<ContactId>,
                issued_for: &str,
            ) -> StoreResult<Option<String>> {
                if let Some(contact) = contact {
                    let issued: Option<String> = sqlx::query_scalar(
                        "SELECT code FROM promo_codes WHERE contact_id = $1 AND issued_for = $2 \
                             AND site_id = $3 AND pool = $4 ORDER BY id LIMIT 1",
                    )
                    .bind(contact.0)
                    .bind(issued_for)
                    .bind(site.as_str())
                    .bind(pool)
                    .fetch_optional(self.writes())
                    .await
                    .map_err(map_err("promo code"))?;
                    if issued.is_some() {
                        return Ok(issued);
                    }
                }
                let sql = concat!(
                    "UPDATE promo_codes SET contact_id = $3, issued_for = $4, issued_at = $5 \
                     WHERE issued_at IS NULL AND id = (SELECT id FROM promo_codes \
                         WHERE site_id = $1 AND pool = $2 AND issued_at IS NULL ORDER BY id LIMIT 1",
                    $lock,
                    ") RETURNING code"
                );
                let row = sqlx::query(sql)
                    .bind(site.as_str())
                    .bind(pool)
                    .bind(contact.map(|c| c.0))
                    .bind(issued_for)
                    .bind(Timestamp::now().millis())
                    .fetch_optional(self.writes())
                    .await
                    .map_err(map_err("promo code"))?;
                Ok(row.map(|r| r.get(0)))
            }

            async fn peek_promo_code(&self, site: &SiteId, pool: &str) -> StoreResult<Option<String>> {
                let row = sqlx::query(
                    "SELECT code FROM promo_codes WHERE site_id = $1 AND pool = $2 AND issued_at IS NULL \
                     ORDER BY id LIMIT 1",
                )
                .bind(site.as_str())
                .bind(pool)
                .fetch_optional(self.reads())
                .await
                .map_err(map_err("promo code"))?;
                Ok(row.map(|r| r.get(0)))
            }

            async fn promo_pools(&self, site: &SiteId) -> StoreResult<Vec<PromoPool>> {
                let rows = sqlx::query(
                    "SELECT pool, count(*), count(issued_at) FROM promo_codes WHERE site_id = $1 \
                     GROUP BY pool ORDER BY pool",
                )
                .bind(site.as_str())
                .fetch_all(self.reads())
                .await
                .map_err(map_err("promo code"))?;
                Ok(rows
                    .iter()
                    .map(|r| PromoPool {
                        pool: r.get(0),
                        total: r.get::<i64, _>(1).max(0) as u64,
                        issued: r.get::<i64, _>(2).max(0) as u64,
                    })
                    .collect())
            }
        }
    };
}
pub(crate) use impl_promo_store;
