//! A catalog import on PostgreSQL: the whole feed in one transaction, one `unnest` statement
//! per chunk of offers. Readers keep seeing the previous catalog until the commit; an
//! unchanged offer (same content hash) is not rewritten.

use sqlx::Row;
use vestnik_domain::store::FeedParts;
use vestnik_domain::{FeedPart, ImportId, SiteId, StoreResult, Timestamp};

use super::PostgresStore;
use super::dialect::last_of_each;
use crate::common::catalog::check_running;
use crate::error::map_err;

/// Imports `parts` into `site`'s catalog; `Ok(Err(reason))` when the feed turned out broken
/// and everything was rolled back.
pub(crate) async fn import_catalog(
    store: &PostgresStore,
    site: &SiteId,
    import: ImportId,
    mut parts: Box<dyn FeedParts>,
) -> StoreResult<Result<(), String>> {
    let now = Timestamp::now().millis();
    let mut tx = store
        .writes()
        .begin()
        .await
        .map_err(map_err("catalog import"))?;
    // The lock keeps a newer import's `begin_import` from marking this one failed while it
    // commits; that one waits and then finds this import done.
    let state: Option<String> =
        sqlx::query("SELECT state FROM catalog_imports WHERE id = $1 AND site_id = $2 FOR UPDATE")
            .bind(import.0)
            .bind(site.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err("catalog import"))?
            .map(|r| r.get(0));
    check_running(import, state.as_deref())?;
    let had_offers: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM offers WHERE site_id = $1)")
            .bind(site.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(map_err("offer"))?;
    if had_offers {
        sqlx::query(
            "CREATE TEMP TABLE catalog_import_seen (offer_id TEXT PRIMARY KEY) ON COMMIT DROP",
        )
        .execute(&mut *tx)
        .await
        .map_err(map_err("catalog import"))?;
    }
    sqlx::query("DELETE FROM categories WHERE site_id = $1")
        .bind(site.as_str())
        .execute(&mut *tx)
        .await
        .map_err(map_err("category"))?;
    loop {
        // Returning early drops `tx`, which rolls everything back.
        let part = match parts.next_part().await {
            Ok(part) => part,
            Err(reason) => return Ok(Err(reason)),
        };
        match part {
            FeedPart::Categories(categories) => {
                let categories = last_of_each(&categories, |c| &c.id);
                let ids: Vec<&str> = categories.iter().map(|c| c.id.as_str()).collect();
                let parents: Vec<Option<&str>> =
                    categories.iter().map(|c| c.parent_id.as_deref()).collect();
                let names: Vec<&str> = categories.iter().map(|c| c.name.as_str()).collect();
                sqlx::query(
                    "INSERT INTO categories (site_id, category_id, parent_id, name) \
                     SELECT $1, i, p, n FROM unnest($2::text[], $3::text[], $4::text[]) AS t(i, p, n) \
                     ON CONFLICT (site_id, category_id) DO UPDATE SET parent_id = excluded.parent_id, \
                         name = excluded.name",
                )
                .bind(site.as_str())
                .bind(&ids)
                .bind(&parents)
                .bind(&names)
                .execute(&mut *tx)
                .await
                .map_err(map_err("category"))?;
            }
            FeedPart::Offers(offers) => {
                // One statement may not touch a row twice: a later duplicate id wins.
                let offers = last_of_each(&offers, |o| &o.id);
                let ids: Vec<&str> = offers.iter().map(|o| o.id.as_str()).collect();
                let available: Vec<bool> = offers.iter().map(|o| o.available).collect();
                let names: Vec<&str> = offers.iter().map(|o| o.name.as_str()).collect();
                let search: Vec<&str> = offers.iter().map(|o| o.search_name.as_str()).collect();
                let categories: Vec<Option<&str>> =
                    offers.iter().map(|o| o.category_id.as_deref()).collect();
                let data: Vec<&str> = offers.iter().map(|o| o.data.as_str()).collect();
                let hashes: Vec<i64> = offers.iter().map(|o| o.content_hash).collect();
                sqlx::query(
                    "INSERT INTO offers (site_id, offer_id, available, name, search_name, category_id, data, \
                         content_hash, import_id, first_seen_at, updated_at) \
                     SELECT $1, o, a, n, s, c, d::jsonb, h, $9, $10, $10 \
                     FROM unnest($2::text[], $3::bool[], $4::text[], $5::text[], $6::text[], $7::text[], \
                                 $8::bigint[]) AS t(o, a, n, s, c, d, h) \
                     ON CONFLICT (site_id, offer_id) DO UPDATE SET available = excluded.available, \
                         name = excluded.name, search_name = excluded.search_name, \
                         category_id = excluded.category_id, data = excluded.data, \
                         content_hash = excluded.content_hash, import_id = excluded.import_id, \
                         updated_at = excluded.updated_at \
                     WHERE offers.content_hash IS DISTINCT FROM excluded.content_hash \
                        OR offers.available <> excluded.available",
                )
                .bind(site.as_str())
                .bind(&ids)
                .bind(&available)
                .bind(&names)
                .bind(&search)
                .bind(&categories)
                .bind(&data)
                .bind(&hashes)
                .bind(import.0)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(map_err("offer"))?;
                if had_offers {
                    sqlx::query(
                        "INSERT INTO catalog_import_seen (offer_id) SELECT unnest($1::text[]) \
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(&ids)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err("catalog import"))?;
                }
            }
            FeedPart::End(summary) => {
                let retired = if had_offers {
                    sqlx::query(
                        "UPDATE offers SET available = false, updated_at = $2 \
                         WHERE site_id = $1 AND available \
                           AND NOT EXISTS (SELECT 1 FROM catalog_import_seen s \
                                           WHERE s.offer_id = offers.offer_id)",
                    )
                    .bind(site.as_str())
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err("offer"))?
                    .rows_affected()
                } else {
                    0
                };
                sqlx::query(
                    "UPDATE catalog_imports SET state = 'done', summary = $2, retired = $3, \
                         finished_at = $4 WHERE id = $1",
                )
                .bind(import.0)
                .bind(sqlx::types::Json(&summary))
                .bind(retired as i64)
                .bind(Timestamp::now().millis())
                .execute(&mut *tx)
                .await
                .map_err(map_err("catalog import"))?;
                tx.commit().await.map_err(map_err("catalog import"))?;
                return Ok(Ok(()));
            }
        }
    }
}
