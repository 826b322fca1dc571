//! The SQLite side of operations whose SQL differs between backends: dynamic `IN (…)` lists
//! (SQLite has no arrays), per-row bulk inserts on the one writer connection, and job claims
//! under `BEGIN IMMEDIATE`.

use sqlx::types::Json;
use sqlx::{Row, SqliteConnection};
use std::collections::HashSet;
use std::time::Duration;
use vestnik_domain::{ContactId, Job, JobId, ListId, NewJob, SiteId, StoreResult, Timestamp};

use super::SqliteStore;
use crate::common::JOB_COLUMNS;
use crate::error::map_err;
use crate::rows;

/// Ids per `IN (…)`: well under SQLite's 32 766 bound parameters.
const ID_CHUNK: usize = 500;

/// `$first, $first+1, …` for a dynamic IN list.
fn numbered(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) async fn enqueue_many(store: &SqliteStore, jobs: &[NewJob]) -> StoreResult<Vec<JobId>> {
    let now = Timestamp::now().millis();
    let mut tx = store.writes().begin().await.map_err(map_err("job"))?;
    let mut ids = Vec::with_capacity(jobs.len());
    for j in jobs {
        let row = sqlx::query(
            "INSERT INTO jobs (kind, site_id, payload, run_at, max_attempts, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(&j.kind)
        .bind(j.site_id.as_ref().map(|s| s.as_str()))
        .bind(Json(&j.payload))
        .bind(j.run_at.millis())
        .bind(i64::from(j.max_attempts))
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(map_err("job"))?;
        ids.push(JobId(row.get(0)));
    }
    tx.commit().await.map_err(map_err("job"))?;
    Ok(ids)
}

pub(crate) async fn claim_jobs(
    store: &SqliteStore,
    owner: &str,
    kinds: &[String],
    limit: u32,
    lease: Duration,
    now: Timestamp,
) -> StoreResult<Vec<Job>> {
    // Two branches, each walking its own partial index in order and stopping at LIMIT:
    // one OR over both would make the database sort every due row on each claim.
    let kinds_in = numbered(5, kinds.len());
    let expired = format!(
        "UPDATE jobs SET lease_owner = $1, lease_until = $2, attempts = attempts + 1 \
         WHERE id IN (SELECT id FROM jobs WHERE state = 'running' AND lease_until < $3 AND kind IN ({kinds_in}) \
             ORDER BY lease_until LIMIT $4) \
         RETURNING {JOB_COLUMNS}"
    );
    let pending = format!(
        "UPDATE jobs SET state = 'running', lease_owner = $1, lease_until = $2, attempts = attempts + 1 \
         WHERE id IN (SELECT id FROM jobs WHERE state = 'pending' AND run_at <= $3 AND kind IN ({kinds_in}) \
             ORDER BY run_at, id LIMIT $4) \
         RETURNING {JOB_COLUMNS}"
    );
    let mut tx = store
        .writes()
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(map_err("job"))?;
    let mut claimed = Vec::new();
    for sql in [expired, pending] {
        let want = i64::from(limit) - claimed.len() as i64;
        if want <= 0 {
            break;
        }
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(owner)
            .bind(now.plus(lease).millis())
            .bind(now.millis())
            .bind(want);
        for k in kinds {
            q = q.bind(k.as_str());
        }
        for row in q.fetch_all(&mut *tx).await.map_err(map_err("job"))? {
            claimed.push(rows::job(&row)?);
        }
    }
    tx.commit().await.map_err(map_err("job"))?;
    Ok(claimed)
}

pub(crate) async fn extend_leases(
    store: &SqliteStore,
    owner: &str,
    jobs: &[JobId],
    until: Timestamp,
) -> StoreResult<u64> {
    let mut extended = 0;
    for chunk in jobs.chunks(ID_CHUNK) {
        let sql = format!(
            "UPDATE jobs SET lease_until = $1 WHERE state = 'running' AND lease_owner = $2 AND id IN ({})",
            numbered(3, chunk.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(until.millis())
            .bind(owner);
        for j in chunk {
            q = q.bind(j.0);
        }
        extended += q
            .execute(store.writes())
            .await
            .map_err(map_err("job"))?
            .rows_affected();
    }
    Ok(extended)
}

/// How many of `contacts` (distinct) are not contacts of `site`.
pub(crate) async fn count_missing_contacts(
    conn: &mut SqliteConnection,
    site: &SiteId,
    contacts: &[ContactId],
) -> StoreResult<i64> {
    let distinct: Vec<ContactId> = contacts
        .iter()
        .copied()
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut missing = 0;
    for chunk in distinct.chunks(ID_CHUNK) {
        let sql = format!(
            "SELECT count(*) FROM contacts WHERE site_id = $1 AND id IN ({})",
            numbered(2, chunk.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(site.as_str());
        for id in chunk {
            q = q.bind(id.0);
        }
        let found: i64 = q
            .fetch_one(&mut *conn)
            .await
            .map_err(map_err("list"))?
            .get(0);
        missing += chunk.len() as i64 - found;
    }
    Ok(missing)
}

/// Adds members and, for each contact that was not a member yet, writes a `list_join` outbox
/// row (automation's "added to a list" trigger); returns how many joined.
pub(crate) async fn insert_members(
    conn: &mut SqliteConnection,
    list: ListId,
    contacts: &[ContactId],
    now: Timestamp,
) -> StoreResult<u64> {
    let mut added = 0;
    for id in contacts {
        let joined = sqlx::query(
            "INSERT INTO list_members (list_id, contact_id, added_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(list.0)
        .bind(id.0)
        .bind(now.millis())
        .execute(&mut *conn)
        .await
        .map_err(map_err("list member"))?
        .rows_affected();
        if joined == 1 {
            sqlx::query(
                "INSERT INTO outbox (site_id, topic, ref_id, payload, created_at) \
                 SELECT site_id, 'list_join', $2, json_object('list_id', $1, 'contact_id', $2), $3 \
                 FROM lists WHERE id = $1",
            )
            .bind(list.0)
            .bind(id.0)
            .bind(now.millis())
            .execute(&mut *conn)
            .await
            .map_err(map_err("outbox"))?;
        }
        added += joined;
    }
    Ok(added)
}

pub(crate) async fn delete_members(
    conn: &mut SqliteConnection,
    list: ListId,
    contacts: &[ContactId],
) -> StoreResult<u64> {
    let mut removed = 0;
    for chunk in contacts.chunks(ID_CHUNK) {
        let sql = format!(
            "DELETE FROM list_members WHERE list_id = $1 AND contact_id IN ({})",
            numbered(2, chunk.len())
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(list.0);
        for id in chunk {
            q = q.bind(id.0);
        }
        removed += q
            .execute(&mut *conn)
            .await
            .map_err(map_err("list member"))?
            .rows_affected();
    }
    Ok(removed)
}

/// Stages offers on the bulk connection: one transaction, one cached upsert per offer (a
/// later duplicate id replaces the earlier one, as the feed's later entry wins).
pub(crate) use super::catalog_import::import_catalog;

/// Adds promo codes on the bulk connection; returns how many were new.
pub(crate) async fn insert_promo_codes(
    store: &SqliteStore,
    site: &SiteId,
    pool: &str,
    codes: &[String],
) -> StoreResult<u64> {
    let (site, pool, codes) = (site.as_str().to_string(), pool.to_string(), codes.to_vec());
    let now = Timestamp::now().millis();
    store
        .bulk(move |conn| {
            let tx = conn.transaction().map_err(super::bulk::sqlite_err)?;
            let mut added = 0u64;
            {
                let mut insert = tx
                    .prepare_cached(
                        "INSERT INTO promo_codes (site_id, pool, code, imported_at) VALUES (?1, ?2, ?3, ?4) \
                         ON CONFLICT (site_id, pool, code) DO NOTHING",
                    )
                    .map_err(super::bulk::sqlite_err)?;
                for code in &codes {
                    added += insert
                        .execute(rusqlite::params![site, pool, code, now])
                        .map_err(super::bulk::sqlite_err)? as u64;
                }
            }
            tx.commit().map_err(super::bulk::sqlite_err)?;
            Ok(added)
        })
        .await
}

/// A contact's events `e` (the contact is `$2`), as `FROM … WHERE …` to continue with `AND`.
/// Through the contact index (migration 0008), which drives: `CROSS JOIN` fixes the order, as
/// without statistics the planner would rather walk the site's events by `events_site_type_time`
/// and probe the index for each.
pub(crate) const EVENTS_OF_CONTACT: &str =
    "contact_events ce CROSS JOIN events e ON e.id = ce.event_id WHERE ce.contact_id = $2";

/// Recommendations (`common/recommend.rs`): SQLite reads JSON with `json_extract`/`json_each`;
/// a numeric `productId` is cast to text so it groups and joins with offer ids.
pub(crate) fn recommend_fragments() -> crate::common::recommend::Fragments {
    crate::common::recommend::Fragments {
        viewed_product_id: "CAST(json_extract(e.params, '$.product.productId') AS TEXT)",
        order_lines: "SELECT o.id AS order_pk, json_extract(i.value, '$.offer_id') AS offer_id \
                      FROM orders o, json_each(o.items) AS i \
                      WHERE o.site_id = $1 AND o.created_at >= $2 AND o.status <> 'cancelled'",
        json_text_list: |n| format!("(SELECT value FROM json_each(${n}))"),
        // SQLite's default collation is BINARY already.
        offer_id_order: "",
        // `events` has no index on the contact here (migrations 0008, 0009). The two sources
        // of the contact index are named, not the view: joined after `co`, the view was built
        // whole.
        events_of_co: "(SELECT contact_id, event_id FROM event_contacts \
                            WHERE contact_id IN (SELECT contact_id FROM co) \
                        UNION ALL SELECT s.contact_id, r.value FROM contact_state s, \
                            json_each(s.recent_events) r \
                            WHERE s.contact_id IN (SELECT contact_id FROM co)) ce \
                       CROSS JOIN events e ON e.id = ce.event_id",
    }
}
