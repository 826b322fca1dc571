//! The PostgreSQL side of operations whose SQL differs between backends: arrays
//! (`= ANY($1)`, `unnest`) for bulk work in one statement, and `FOR UPDATE SKIP LOCKED` claims.

use sqlx::{PgConnection, Row};
use std::time::Duration;
use vestnik_domain::{
    ContactId, EventToStore, Job, JobId, ListId, NewJob, SiteId, StoreResult, Timestamp,
};

use super::PostgresStore;
use crate::common::JOB_COLUMNS;
use crate::error::map_err;
use crate::rows;

pub(crate) async fn enqueue_many(
    store: &PostgresStore,
    jobs: &[NewJob],
) -> StoreResult<Vec<JobId>> {
    let now = Timestamp::now().millis();
    let kinds: Vec<&str> = jobs.iter().map(|j| j.kind.as_str()).collect();
    let sites: Vec<Option<&str>> = jobs
        .iter()
        .map(|j| j.site_id.as_ref().map(|s| s.as_str()))
        .collect();
    let payloads: Vec<String> = jobs.iter().map(|j| j.payload.to_string()).collect();
    let run_at: Vec<i64> = jobs.iter().map(|j| j.run_at.millis()).collect();
    let max_attempts: Vec<i64> = jobs.iter().map(|j| i64::from(j.max_attempts)).collect();
    // One statement for the whole batch; identity values follow ORDER BY ord, so sorted ids
    // are in input order.
    let rows = sqlx::query(
        "INSERT INTO jobs (kind, site_id, payload, run_at, max_attempts, created_at) \
         SELECT k, s, p::jsonb, r, m, $6 FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[]) \
             WITH ORDINALITY AS t(k, s, p, r, m, ord) ORDER BY ord \
         RETURNING id",
    )
    .bind(&kinds)
    .bind(&sites)
    .bind(&payloads)
    .bind(&run_at)
    .bind(&max_attempts)
    .bind(now)
    .fetch_all(store.writes())
    .await
    .map_err(map_err("job"))?;
    let mut ids: Vec<JobId> = rows.iter().map(|r| JobId(r.get(0))).collect();
    ids.sort();
    Ok(ids)
}

pub(crate) async fn claim_jobs(
    store: &PostgresStore,
    owner: &str,
    kinds: &[String],
    limit: u32,
    lease: Duration,
    now: Timestamp,
) -> StoreResult<Vec<Job>> {
    // Two branches, each walking its own partial index in order and stopping at LIMIT:
    // one OR over both makes PostgreSQL scan and sort every due row on each claim.
    let expired = format!(
        "UPDATE jobs SET lease_owner = $1, lease_until = $2, attempts = attempts + 1 \
         WHERE id IN (SELECT id FROM jobs WHERE state = 'running' AND lease_until < $3 AND kind = ANY($5) \
             ORDER BY lease_until LIMIT $4 FOR UPDATE SKIP LOCKED) \
         RETURNING {JOB_COLUMNS}"
    );
    let pending = format!(
        "UPDATE jobs SET state = 'running', lease_owner = $1, lease_until = $2, attempts = attempts + 1 \
         WHERE id IN (SELECT id FROM jobs WHERE state = 'pending' AND run_at <= $3 AND kind = ANY($5) \
             ORDER BY run_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) \
         RETURNING {JOB_COLUMNS}"
    );
    let mut claimed = Vec::new();
    for sql in [expired, pending] {
        let want = i64::from(limit) - claimed.len() as i64;
        if want <= 0 {
            break;
        }
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(owner)
            .bind(now.plus(lease).millis())
            .bind(now.millis())
            .bind(want)
            .bind(kinds)
            .fetch_all(store.writes())
            .await
            .map_err(map_err("job"))?;
        for row in rows {
            claimed.push(rows::job(&row)?);
        }
    }
    Ok(claimed)
}

pub(crate) async fn extend_leases(
    store: &PostgresStore,
    owner: &str,
    jobs: &[JobId],
    until: Timestamp,
) -> StoreResult<u64> {
    let ids: Vec<i64> = jobs.iter().map(|j| j.0).collect();
    Ok(sqlx::query(
        "UPDATE jobs SET lease_until = $1 WHERE state = 'running' AND lease_owner = $2 AND id = ANY($3)",
    )
    .bind(until.millis())
    .bind(owner)
    .bind(&ids)
    .execute(store.writes())
    .await
    .map_err(map_err("job"))?
    .rows_affected())
}

/// How many of `contacts` (distinct) are not contacts of `site`.
pub(crate) async fn count_missing_contacts(
    conn: &mut PgConnection,
    site: &SiteId,
    contacts: &[ContactId],
) -> StoreResult<i64> {
    let ids: Vec<i64> = contacts.iter().map(|c| c.0).collect();
    let row = sqlx::query(
        "SELECT (SELECT count(DISTINCT c) FROM unnest($2::bigint[]) AS c) \
              - (SELECT count(*) FROM contacts WHERE site_id = $1 AND id = ANY($2))",
    )
    .bind(site.as_str())
    .bind(&ids)
    .fetch_one(conn)
    .await
    .map_err(map_err("list"))?;
    Ok(row.get(0))
}

/// Adds members and, for each contact that was not a member yet, writes a `list_join` outbox
/// row (automation's "added to a list" trigger) in the same statement; returns how many joined.
pub(crate) async fn insert_members(
    conn: &mut PgConnection,
    list: ListId,
    contacts: &[ContactId],
    now: Timestamp,
) -> StoreResult<u64> {
    let ids: Vec<i64> = contacts.iter().map(|c| c.0).collect();
    Ok(sqlx::query(
        "WITH joined AS ( \
             INSERT INTO list_members (list_id, contact_id, added_at) \
             SELECT $1, c, $2 FROM unnest($3::bigint[]) AS c ON CONFLICT DO NOTHING \
             RETURNING contact_id) \
         INSERT INTO outbox (site_id, topic, ref_id, payload, created_at) \
         SELECT l.site_id, 'list_join', j.contact_id, \
                jsonb_build_object('list_id', $1::bigint, 'contact_id', j.contact_id), $2 \
         FROM joined j JOIN lists l ON l.id = $1",
    )
    .bind(list.0)
    .bind(now.millis())
    .bind(&ids)
    .execute(conn)
    .await
    .map_err(map_err("list member"))?
    .rows_affected())
}

pub(crate) async fn delete_members(
    conn: &mut PgConnection,
    list: ListId,
    contacts: &[ContactId],
) -> StoreResult<u64> {
    let ids: Vec<i64> = contacts.iter().map(|c| c.0).collect();
    Ok(
        sqlx::query("DELETE FROM list_members WHERE list_id = $1 AND contact_id = ANY($2)")
            .bind(list.0)
            .bind(&ids)
            .execute(conn)
            .await
            .map_err(map_err("list member"))?
            .rows_affected(),
    )
}

/// Inserts the events with one array per column (`unnest`): PostgreSQL parses and plans a
/// handful of parameters instead of thousands. Returns their ids in input order.
pub(crate) async fn insert_events(
    conn: &mut PgConnection,
    items: &[&EventToStore],
    contacts: &[Option<ContactId>],
) -> StoreResult<Vec<i64>> {
    let sites: Vec<&str> = items.iter().map(|i| i.site_id.as_str()).collect();
    let types: Vec<&str> = items.iter().map(|i| i.event.event_type.as_str()).collect();
    let keys: Vec<&str> = items.iter().map(|i| i.event.key_value.as_str()).collect();
    let contact_ids: Vec<Option<i64>> = contacts.iter().map(|c| c.map(|c| c.0)).collect();
    let params: Vec<&str> = items.iter().map(|i| i.event.params_json.as_str()).collect();
    let idempotency: Vec<Option<&str>> = items
        .iter()
        .map(|i| i.event.idempotency_key.as_deref())
        .collect();
    let received: Vec<i64> = items.iter().map(|i| i.received_at.millis()).collect();
    let rows = sqlx::query(
        "INSERT INTO events (site_id, event_type, key_value, contact_id, params, idempotency_key, received_at) \
         SELECT s, ty, k, c, p::jsonb, i, r \
         FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::bigint[]) \
             WITH ORDINALITY AS t(s, ty, k, c, p, i, r, ord) \
         ORDER BY ord \
         RETURNING id",
    )
    .bind(&sites)
    .bind(&types)
    .bind(&keys)
    .bind(&contact_ids)
    .bind(&params)
    .bind(&idempotency)
    .bind(&received)
    .fetch_all(&mut *conn)
    .await
    .map_err(map_err("event"))?;
    // Identity values follow ORDER BY ord; RETURNING's order is not promised.
    let mut ids: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    ids.sort_unstable();
    Ok(ids)
}

pub(crate) async fn insert_event_outbox(
    conn: &mut PgConnection,
    items: &[&EventToStore],
    event_ids: &[i64],
    contacts: &[Option<ContactId>],
    now: i64,
) -> StoreResult<()> {
    let sites: Vec<&str> = items.iter().map(|i| i.site_id.as_str()).collect();
    let payloads: Vec<String> = items
        .iter()
        .zip(contacts)
        .map(|(i, c)| serde_json::to_string(&crate::common::event_outbox_payload(i, *c)))
        .collect::<Result<_, _>>()
        .map_err(|e| crate::error::internal(format!("encoding an outbox payload: {e}")))?;
    sqlx::query(
        "INSERT INTO outbox (site_id, topic, ref_id, payload, created_at) \
         SELECT s, 'event', r, p::jsonb, $4 FROM unnest($1::text[], $2::bigint[], $3::text[]) AS t(s, r, p)",
    )
    .bind(&sites)
    .bind(event_ids)
    .bind(&payloads)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(map_err("outbox"))?;
    Ok(())
}

/// Keeps the last of each id: one `INSERT … ON CONFLICT DO UPDATE` may not touch a row twice.
pub(crate) fn last_of_each<T>(items: &[T], id: impl Fn(&T) -> &str) -> Vec<&T> {
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<&T> = items
        .iter()
        .rev()
        .filter(|i| seen.insert(id(i).to_string()))
        .collect();
    out.reverse();
    out
}

pub(crate) use super::catalog_import::import_catalog;

/// Adds promo codes with one statement per 10 000; returns how many were new.
pub(crate) async fn insert_promo_codes(
    store: &PostgresStore,
    site: &SiteId,
    pool: &str,
    codes: &[String],
) -> StoreResult<u64> {
    let now = Timestamp::now().millis();
    let mut tx = store
        .writes()
        .begin()
        .await
        .map_err(map_err("promo code"))?;
    let mut added = 0;
    for chunk in codes.chunks(10_000) {
        added += sqlx::query(
            "INSERT INTO promo_codes (site_id, pool, code, imported_at) \
             SELECT $1, $2, c, $4 FROM unnest($3::text[]) AS t(c) \
             ON CONFLICT (site_id, pool, code) DO NOTHING",
        )
        .bind(site.as_str())
        .bind(pool)
        .bind(chunk)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(map_err("promo code"))?
        .rows_affected();
    }
    tx.commit().await.map_err(map_err("promo code"))?;
    Ok(added)
}

/// A contact's events `e` (the contact is `$2`), as `FROM … WHERE …` to continue with `AND`
/// (through the `events_contact` index).
pub(crate) const EVENTS_OF_CONTACT: &str = "events e WHERE e.contact_id = $2";

/// Recommendations (`common/recommend.rs`): PostgreSQL reads JSONB with `->>` and
/// `jsonb_array_elements`, and orders offer ids under the "C" collation (byte order, as on
/// SQLite) whatever the database's default.
pub(crate) fn recommend_fragments() -> crate::common::recommend::Fragments {
    crate::common::recommend::Fragments {
        viewed_product_id: "(e.params->'product'->>'productId')",
        order_lines: "SELECT o.id AS order_pk, i.value->>'offer_id' AS offer_id \
                      FROM orders o CROSS JOIN LATERAL jsonb_array_elements(o.items) AS i(value) \
                      WHERE o.site_id = $1 AND o.created_at >= $2 AND o.status <> 'cancelled'",
        json_text_list: |n| {
            format!("(SELECT t.value FROM jsonb_array_elements_text(${n}::jsonb) AS t(value))")
        },
        offer_id_order: " COLLATE \"C\"",
        events_of_co: "co JOIN events e ON e.contact_id = co.contact_id",
    }
}
