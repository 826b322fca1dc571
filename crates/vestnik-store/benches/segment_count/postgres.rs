//! The PostgreSQL fixture: the same shape of data as the SQLite one (same sizes and
//! proportions), generated server-side with `generate_series` in a fresh schema, then
//! ANALYZEd as autovacuum would have done.

use sqlx::{Connection, PgConnection, Row};
use std::sync::Arc;
use std::time::Instant;
use vestnik_domain::{SiteId, Store, Timestamp};

use super::{
    Built, CITIES, CLICKS, CONTACTS, EVENTS, LIST_MEMBERS, NAMES, OPENS, ORDERS, STATUSES,
};

/// The values of a weighted table, each repeated by its weight: `arr[1 + floor(random() * n)]`
/// then draws with those weights.
fn weighted(table: &[(&str, u32)]) -> Vec<String> {
    table
        .iter()
        .flat_map(|(v, w)| std::iter::repeat_n(v.to_string(), *w as usize))
        .collect()
}

async fn fill_site(conn: &mut PgConnection, site: &str, scale: i64, now: i64) -> (i64, i64) {
    let contacts = CONTACTS as i64 / scale;
    sqlx::query(
        "INSERT INTO contacts (site_id, email, phone, name, city, birthday, status, bonus, custom_fields, tags, \
         email_subscription, created_at, updated_at) \
         SELECT $1, 'u' || g || '@example' || (g % 7) || '.ru', \
           CASE WHEN random() < 0.3 THEN '+7916' || lpad(g::text, 7, '0') END, \
           ($4::text[])[1 + floor(random() * cardinality($4::text[]))::int], \
           nullif(($5::text[])[1 + floor(random() * cardinality($5::text[]))::int], ''), \
           CASE WHEN random() < 0.5 THEN '19' || (50 + floor(random() * 49)::int) || '-0' || (1 + floor(random() * 8)::int) || '-1' || floor(random() * 9)::int END, \
           ($6::text[])[1 + floor(random() * cardinality($6::text[]))::int], \
           floor(random() * 2000)::int || '.' || lpad(floor(random() * 100)::int::text, 2, '0'), \
           CASE floor(random() * 10)::int WHEN 0 THEN '{\"level\": \"gold\"}'::jsonb WHEN 1 THEN '{\"level\": \"gold\"}'::jsonb \
             WHEN 2 THEN jsonb_build_object('level', 'silver', 'age', 18 + floor(random() * 52)::int) ELSE '{}'::jsonb END, \
           CASE floor(random() * 10)::int WHEN 0 THEN '[\"vip\"]'::jsonb WHEN 1 THEN '[\"newsletter\"]'::jsonb \
             WHEN 2 THEN '[\"newsletter\"]'::jsonb WHEN 3 THEN '[\"newsletter\", \"vip\"]'::jsonb ELSE '[]'::jsonb END, \
           CASE WHEN random() < 0.05 THEN 'unsubscribed' ELSE 'subscribed' END, \
           $3 - floor(random() * 730)::bigint * 86400000, $3 \
         FROM generate_series(1, $2) g",
    )
    .bind(site)
    .bind(contacts)
    .bind(now)
    .bind(NAMES.iter().map(|n| n.to_string()).collect::<Vec<_>>())
    .bind(weighted(CITIES))
    .bind(weighted(STATUSES))
    .execute(&mut *conn)
    .await
    .expect("contacts");
    let first: i64 = sqlx::query("SELECT min(id) FROM contacts WHERE site_id = $1")
        .bind(site)
        .fetch_one(&mut *conn)
        .await
        .expect("the first contact")
        .get(0);
    // Contact ids of the site are first .. first + contacts - 1 (one INSERT, one sequence).
    sqlx::query(
        "INSERT INTO events (site_id, event_type, key_value, contact_id, params, received_at) \
         SELECT $1, CASE WHEN r < 6 THEN 'productViewed' WHEN r < 8 THEN 'pageViewed' \
             WHEN r < 9 THEN 'productCategoryViewed' ELSE 'cartUpdated' END, \
           'c' || cid, cid, \
           CASE WHEN r < 6 THEN jsonb_build_object('product', jsonb_build_object('productId', 'P' || floor(random() * 5000)::int, 'price', 990)) \
             WHEN r < 8 THEN '{\"page\": {\"location\": \"https://shop.ru/\"}}'::jsonb \
             WHEN r < 9 THEN jsonb_build_object('category', jsonb_build_object('productCategoryId', (1 + floor(random() * 199)::int)::text)) \
             ELSE '{\"recycleStateId\": \"r\", \"products\": [{\"productId\": \"P1\", \"price\": 990, \"quantity\": 1}]}'::jsonb END, \
           at \
         FROM (SELECT floor(random() * 10)::int AS r, $4 + floor(random() * ($5 / 3))::bigint AS cid, \
                 $3 - floor(random() * 90 * 86400000)::bigint AS at FROM generate_series(1, $2)) s \
         ORDER BY at",
    )
    .bind(site)
    .bind(EVENTS as i64 / scale)
    .bind(now)
    .bind(first)
    .bind(contacts)
    .execute(&mut *conn)
    .await
    .expect("events");
    sqlx::query(
        "INSERT INTO contact_state (contact_id, site_id, viewed, cart, last_category_id, last_activity_at) \
         SELECT contact_id, $1, \
           '[{\"productId\": \"P1\", \"price\": 990, \"viewed_at\": \"2026-11-20T10:00:00Z\"}, {\"productId\": \"P7\", \"price\": 1490, \"viewed_at\": \"2026-11-19T10:00:00Z\"}]'::jsonb, \
           CASE WHEN contact_id % 4 = 0 THEN '[{\"productId\": \"P1\", \"price\": 990, \"quantity\": 1}]'::jsonb ELSE '[]'::jsonb END, \
           (contact_id % 200)::text, max(received_at) \
         FROM events WHERE site_id = $1 GROUP BY contact_id",
    )
    .bind(site)
    .execute(&mut *conn)
    .await
    .expect("behaviour state");
    sqlx::query(
        "INSERT INTO orders (site_id, order_id, contact_id, email, items, total, status, created_at, updated_at) \
         SELECT $1, 'N' || g, cid, 'c' || cid || '@example.ru', \
           jsonb_build_array(jsonb_build_object('offer_id', 'P1', 'price', total, 'quantity', 1)), total, status, at, at \
         FROM (SELECT g, $4 + floor(random() * ($5 * 3 / 20))::bigint AS cid, \
                 (300 + floor(random() * 29700)::int) || '.' || lpad(floor(random() * 100)::int::text, 2, '0') AS total, \
                 (ARRAY['submitted', 'paid', 'delivered', 'delivered', 'cancelled'])[1 + floor(random() * 5)::int] AS status, \
                 $3 - floor(random() * 730 * 86400000)::bigint AS at \
               FROM generate_series(1, $2) g) s",
    )
    .bind(site)
    .bind(ORDERS as i64 / scale)
    .bind(now)
    .bind(first)
    .bind(contacts)
    .execute(&mut *conn)
    .await
    .expect("orders");
    let list: i64 = sqlx::query(
        "INSERT INTO lists (site_id, name, created_at) VALUES ($1, 'Newsletter', 0) RETURNING id",
    )
    .bind(site)
    .fetch_one(&mut *conn)
    .await
    .expect("a list")
    .get(0);
    sqlx::query(
        "INSERT INTO list_members (list_id, contact_id, added_at) \
         SELECT $1, $3 + floor(random() * $4)::bigint, 0 FROM generate_series(1, $2) \
         ON CONFLICT DO NOTHING",
    )
    .bind(list)
    .bind(LIST_MEMBERS as i64 / scale)
    .bind(first)
    .bind(contacts)
    .execute(&mut *conn)
    .await
    .expect("list members");
    let campaign: i64 = sqlx::query(
        "WITH t AS (INSERT INTO templates (site_id, name, current_version, created_at, updated_at) \
                    VALUES ($1, 'Promo', 1, 0, 0) RETURNING id), \
              p AS (INSERT INTO smtp_providers (site_id, name, host, port, tls, pool_size, created_at, updated_at) \
                    VALUES ($1, 'smtp', '127.0.0.1', 25, 'none', 1, 0, 0) RETURNING id) \
         INSERT INTO campaigns (site_id, name, template_id, template_version, subject, from_email, from_name, \
           recipient_kind, provider_id, send_at, segment_size, interval_minutes, state, created_at, updated_at) \
         SELECT $1, 'Spring', t.id, 1, 'Hi', 'shop@example.com', 'Shop', 'all', p.id, 0, 1000, 0, 'done', 0, 0 \
         FROM t, p RETURNING id",
    )
    .bind(site)
    .fetch_one(&mut *conn)
    .await
    .expect("a campaign")
    .get(0);
    sqlx::query(
        "INSERT INTO tracking_events (site_id, campaign_id, contact_id, kind, url, created_at) \
         SELECT $1, $2, $4 + floor(random() * ($5 / 2))::bigint, \
           CASE WHEN g <= $6 THEN 'open' ELSE 'click' END, \
           CASE WHEN g <= $6 THEN NULL ELSE 'https://shop.ru/p/1' END, \
           $3 - floor(random() * 7 * 86400000)::bigint \
         FROM generate_series(1, $7) g",
    )
    .bind(site)
    .bind(campaign)
    .bind(now)
    .bind(first)
    .bind(contacts)
    .bind(OPENS as i64 / scale)
    .bind((OPENS + CLICKS) as i64 / scale)
    .execute(&mut *conn)
    .await
    .expect("tracking events");
    (campaign, list)
}

pub(crate) async fn build(store: Arc<dyn Store>, url: &str) -> Built {
    let now = Timestamp::now();
    let site = store.create_site("Bench shop").await.expect("a site").0.id;
    let other = store.create_site("Other shop").await.expect("a site").0.id;
    let started = Instant::now();
    let mut conn = PgConnection::connect(url)
        .await
        .expect("a connection to the bench schema");
    let (campaign, list) = fill_site(&mut conn, site.as_str(), 1, now.0).await;
    fill_site(&mut conn, other.as_str(), 10, now.0).await;
    sqlx::query(
        "CREATE TABLE bench_fixture AS SELECT $1::text AS site_id, $2::bigint AS campaign, \
         $3::bigint AS list, $4::bigint AS now",
    )
    .bind(site.as_str())
    .bind(campaign)
    .bind(list)
    .bind(now.0)
    .execute(&mut conn)
    .await
    .expect("the fixture's record");
    sqlx::query("ANALYZE")
        .execute(&mut conn)
        .await
        .expect("ANALYZE");
    println!("fixture built in {:.1} s", started.elapsed().as_secs_f64());
    Built {
        site,
        campaign,
        list,
        now,
    }
}

/// The fixture a kept schema already holds.
pub(crate) async fn load(url: &str) -> Option<Built> {
    let mut conn = PgConnection::connect(url).await.ok()?;
    let row = sqlx::query("SELECT site_id, campaign, list, now FROM bench_fixture")
        .fetch_one(&mut conn)
        .await
        .ok()?;
    Some(Built {
        site: SiteId::from_trusted(row.get(0)),
        campaign: row.get(1),
        list: row.get(2),
        now: Timestamp(row.get(3)),
    })
}
