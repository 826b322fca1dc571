//! Counting segments over a million contacts on SQLite, through `SegmentStore::count_segment`.
//!
//! `cargo bench -p vestnik-store --bench segment_count`. Builds a SQLite file: 1 000 000
//! contacts of one site and 100 000 of another (cities, statuses, tags, custom fields, bonus),
//! 400 000 events over 90 days (productViewed, pageViewed, productCategoryViewed,
//! cartUpdated; a third of the contacts active), 200 000 orders over two years, a
//! 200 000-member list and a campaign with 60 000 opens and clicks; the second site gets a
//! tenth of everything. Then times each condition (best and median of `RUNS`, default 5) and
//! pages through one segment the way the campaign sender does.
//!
//! The fixture takes about half a minute to build. `SEGMENT_BENCH_DB=/path/file.db` keeps
//! it there and reuses it on the next run (delete the file to rebuild).
//!
//! `-- postgres` measures PostgreSQL instead (`-- sqlite postgres` both): the same shape of
//! data generated server-side in a fresh schema of `VESTNIK_TEST_DATABASE_URL`, then ANALYZE
//! (`SEGMENT_BENCH_PG_SCHEMA=name` keeps it in that schema and reuses it).

use rusqlite::{Connection, params};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vestnik_domain::segment::Condition;
use vestnik_domain::store::SiteStore;
use vestnik_domain::{SiteId, Store, Timestamp};
use vestnik_store::{SqliteDurability, SqliteStore};
use vestnik_testkit::TestDb;

#[path = "segment_count/postgres.rs"]
mod postgres;

const CONTACTS: usize = 1_000_000;
const EVENTS: usize = 400_000;
const ORDERS: usize = 200_000;
const LIST_MEMBERS: usize = 200_000;
const OPENS: usize = 50_000;
const CLICKS: usize = 10_000;
const DAY: i64 = 86_400_000;

const CITIES: &[(&str, u32)] = &[
    ("Москва", 20),
    ("Санкт-Петербург", 12),
    ("Новосибирск", 5),
    ("Екатеринбург", 5),
    ("Казань", 4),
    ("Нижний Новгород", 4),
    ("Самара", 3),
    ("Краснодар", 3),
    ("", 14),
    ("Ростов-на-Дону", 3),
    ("Воронеж", 3),
    ("Пермь", 3),
    ("Уфа", 3),
    ("Омск", 3),
    ("Челябинск", 3),
    ("Волгоград", 3),
    ("Тюмень", 3),
    ("Иркутск", 3),
    ("Томск", 3),
];
const STATUSES: &[(&str, u32)] = &[
    ("new", 40),
    ("customer", 25),
    ("contacted", 15),
    ("regular", 10),
    ("manager", 5),
    ("wholesale", 5),
];
const NAMES: &[&str] = &[
    "Анна",
    "Иван",
    "Мария",
    "Сергей",
    "Ольга",
    "Дмитрий",
    "Елена",
    "Алексей",
];

fn pick<'a>(rng: &mut fastrand::Rng, table: &[(&'a str, u32)]) -> &'a str {
    let total: u32 = table.iter().map(|(_, w)| w).sum();
    let mut n = rng.u32(0..total);
    for (v, w) in table {
        if n < *w {
            return v;
        }
        n -= w;
    }
    table[0].0
}

/// What the builder tells the timing part.
pub(crate) struct Built {
    pub site: SiteId,
    pub campaign: i64,
    pub list: i64,
    /// The moment the fixture's "now" was.
    pub now: Timestamp,
}

fn fill_site(
    tx: &rusqlite::Transaction<'_>,
    site: &str,
    scale: usize,
    now: i64,
    rng: &mut fastrand::Rng,
) -> rusqlite::Result<(i64, i64)> {
    let contacts = CONTACTS / scale;
    let mut ids = Vec::with_capacity(contacts);
    {
        let mut insert = tx.prepare(
            "INSERT INTO contacts (site_id, email, phone, name, city, birthday, status, bonus, custom_fields, tags, \
             email_subscription, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12)",
        )?;
        for i in 0..contacts {
            let city = pick(rng, CITIES);
            let tags = match rng.u32(0..10) {
                0 => r#"["vip"]"#,
                1 | 2 => r#"["newsletter"]"#,
                3 => r#"["newsletter","vip"]"#,
                _ => "[]",
            };
            let custom = match rng.u32(0..10) {
                0 | 1 => r#"{"level":"gold"}"#.to_string(),
                2 => format!(r#"{{"level":"silver","age":{}}}"#, rng.u32(18..70)),
                _ => "{}".to_string(),
            };
            let subscription = if rng.u32(0..20) == 0 {
                "unsubscribed"
            } else {
                "subscribed"
            };
            insert.execute(params![
                site,
                format!("u{i}@example{}.ru", i % 7),
                (rng.u32(0..10) < 3).then(|| format!("+7916{:07}", i)),
                NAMES[rng.usize(0..NAMES.len())],
                (!city.is_empty()).then_some(city),
                (rng.bool()).then(|| format!(
                    "19{}-0{}-1{}",
                    rng.u32(50..99),
                    rng.u32(1..9),
                    rng.u32(0..9)
                )),
                pick(rng, STATUSES),
                format!("{}.{:02}", rng.u32(0..2000), rng.u32(0..100)),
                custom,
                tags,
                subscription,
                now - rng.i64(0..730) * DAY,
            ])?;
            ids.push(tx.last_insert_rowid());
        }
    }
    // A third of the contacts are active: events and state.
    let active = &ids[..ids.len() / 3];
    let mut events: Vec<(i64, &str, i64, String)> = Vec::with_capacity(EVENTS / scale);
    for _ in 0..EVENTS / scale {
        let contact = active[rng.usize(0..active.len())];
        let at = now - rng.i64(0..90 * DAY);
        let (kind, params) = match rng.u32(0..10) {
            0..=5 => (
                "productViewed",
                json!({"product": {"productId": format!("P{}", rng.u32(0..5000)), "price": 990}}),
            ),
            6 | 7 => (
                "pageViewed",
                json!({"page": {"location": "https://shop.ru/"}}),
            ),
            8 => (
                "productCategoryViewed",
                json!({"category": {"productCategoryId": format!("{}", rng.u32(1..200))}}),
            ),
            _ => (
                "cartUpdated",
                json!({"recycleStateId": "r", "products": [{"productId": "P1", "price": 990, "quantity": 1}]}),
            ),
        };
        events.push((contact, kind, at, params.to_string()));
    }
    events.sort_by_key(|e| e.2);
    {
        let mut insert = tx.prepare(
            "INSERT INTO events (site_id, event_type, key_value, contact_id, params, received_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for (contact, kind, at, params) in &events {
            insert.execute(params![
                site,
                kind,
                format!("c{contact}"),
                contact,
                params,
                at
            ])?;
        }
        let mut state = tx.prepare(
            "INSERT INTO contact_state (contact_id, site_id, viewed, cart, last_category_id, last_activity_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (contact_id) DO NOTHING",
        )?;
        for (contact, _, at, _) in events.iter().rev() {
            let cart = if contact % 4 == 0 {
                r#"[{"productId":"P1","price":990,"quantity":1}]"#
            } else {
                "[]"
            };
            let viewed = r#"[{"productId":"P1","price":990,"viewed_at":"2026-11-20T10:00:00Z"},{"productId":"P7","price":1490,"viewed_at":"2026-11-19T10:00:00Z"}]"#;
            state.execute(params![
                contact,
                site,
                viewed,
                cart,
                format!("{}", contact % 200),
                at
            ])?;
        }
        // The contact → events index the event writer keeps (migration 0008), and its note
        // that the states include every event (0010).
        tx.execute(
            "INSERT INTO event_contacts (contact_id, event_id) \
             SELECT contact_id, id FROM events WHERE site_id = ?1 AND contact_id IS NOT NULL",
            [site],
        )?;
        tx.execute(
            "UPDATE ingest_progress SET states_through = (SELECT max(id) FROM events)",
            [],
        )?;
    }
    {
        let mut insert = tx.prepare(
            "INSERT INTO orders (site_id, order_id, contact_id, email, items, total, status, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
        )?;
        let buyers = &ids[..ids.len() * 3 / 20];
        for n in 0..ORDERS / scale {
            let contact = buyers[rng.usize(0..buyers.len())];
            let status =
                ["submitted", "paid", "delivered", "delivered", "cancelled"][rng.usize(0..5)];
            let total = format!("{}.{:02}", rng.u32(300..30_000), rng.u32(0..100));
            insert.execute(params![
                site,
                format!("N{n}"),
                contact,
                format!("c{contact}@example.ru"),
                format!(r#"[{{"offer_id":"P1","price":"{total}","quantity":1}}]"#),
                total,
                status,
                now - rng.i64(0..730 * DAY),
            ])?;
        }
    }
    tx.execute(
        "INSERT INTO lists (site_id, name, created_at) VALUES (?1, 'Newsletter', ?2)",
        params![site, now],
    )?;
    let list = tx.last_insert_rowid();
    {
        let mut insert =
            tx.prepare("INSERT OR IGNORE INTO list_members (list_id, contact_id, added_at) VALUES (?1, ?2, ?3)")?;
        for _ in 0..LIST_MEMBERS / scale {
            insert.execute(params![list, ids[rng.usize(0..ids.len())], now])?;
        }
    }
    tx.execute(
        "INSERT INTO templates (site_id, name, current_version, created_at, updated_at) VALUES (?1, 'Promo', 1, 0, 0)",
        params![site],
    )?;
    let template = tx.last_insert_rowid();
    tx.execute(
        "INSERT INTO smtp_providers (site_id, name, host, port, tls, pool_size, created_at, updated_at) \
         VALUES (?1, 'smtp', '127.0.0.1', 25, 'none', 1, 0, 0)",
        params![site],
    )?;
    let provider = tx.last_insert_rowid();
    tx.execute(
        "INSERT INTO campaigns (site_id, name, template_id, template_version, subject, from_email, from_name, \
         recipient_kind, provider_id, send_at, segment_size, interval_minutes, state, created_at, updated_at) \
         VALUES (?1, 'Spring', ?2, 1, 'Hi', 'shop@example.com', 'Shop', 'all', ?3, 0, 1000, 0, 'done', 0, 0)",
        params![site, template, provider],
    )?;
    let campaign = tx.last_insert_rowid();
    {
        let mut insert = tx.prepare(
            "INSERT INTO tracking_events (site_id, campaign_id, contact_id, kind, url, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for i in 0..(OPENS + CLICKS) / scale {
            let (kind, url) = if i < OPENS / scale {
                ("open", None)
            } else {
                ("click", Some("https://shop.ru/p/1"))
            };
            insert.execute(params![
                site,
                campaign,
                ids[rng.usize(0..ids.len() / 2)],
                kind,
                url,
                now - rng.i64(0..7 * DAY)
            ])?;
        }
    }
    Ok((campaign, list))
}

async fn build(path: &Path) -> Built {
    let now = Timestamp::now();
    let store = SqliteStore::open(path, SqliteDurability::Normal)
        .await
        .expect("the bench database opens");
    let site = store.create_site("Bench shop").await.expect("a site").0.id;
    let other = store.create_site("Other shop").await.expect("a site").0.id;
    store.close().await;
    let started = Instant::now();
    let (site_str, other_str) = (site.as_str().to_string(), other.as_str().to_string());
    let file = path.to_path_buf();
    let (campaign, list) = tokio::task::spawn_blocking(move || -> rusqlite::Result<(i64, i64)> {
        let mut conn = Connection::open(&file)?;
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF; PRAGMA cache_size = -262144;")?;
        let mut rng = fastrand::Rng::with_seed(42);
        let tx = conn.transaction()?;
        let built = fill_site(&tx, &site_str, 1, now.0, &mut rng)?;
        fill_site(&tx, &other_str, 10, now.0, &mut rng)?;
        tx.execute(
            "CREATE TABLE IF NOT EXISTS bench_fixture (site_id TEXT, campaign INTEGER, list INTEGER, now INTEGER)",
            [],
        )?;
        tx.execute(
            "INSERT INTO bench_fixture VALUES (?1, ?2, ?3, ?4)",
            params![site_str, built.0, built.1, now.0],
        )?;
        tx.commit()?;
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
        Ok(built)
    })
    .await
    .expect("the builder thread")
    .expect("the fixture is written");
    println!("fixture built in {:.1} s", started.elapsed().as_secs_f64());
    Built {
        site,
        campaign,
        list,
        now,
    }
}

fn load(path: &Path) -> Option<Built> {
    let conn = Connection::open(path).ok()?;
    conn.query_row(
        "SELECT site_id, campaign, list, now FROM bench_fixture",
        [],
        |r| {
            Ok(Built {
                site: SiteId::from_trusted(r.get(0)?),
                campaign: r.get(1)?,
                list: r.get(2)?,
                now: Timestamp(r.get(3)?),
            })
        },
    )
    .ok()
}

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn summary(mut times: Vec<Duration>) -> String {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "best {:7.1} ms, median {:7.1} ms",
        ms(times[0]),
        ms(times[times.len() / 2])
    )
}

/// Where PostgreSQL is, as for the tests.
fn postgres_url() -> String {
    std::env::var("VESTNIK_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// Which backends to measure: SQLite unless the arguments name others.
fn backends() -> (bool, bool) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let postgres = args.iter().any(|a| a == "postgres");
    let sqlite = args.iter().any(|a| a == "sqlite") || !postgres;
    (sqlite, postgres)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let runs = env_count("RUNS", 5).max(1);
    let page = env_count("PAGE", 1000) as u32;
    let (sqlite, postgres) = backends();
    if sqlite {
        let kept = std::env::var_os("SEGMENT_BENCH_DB").map(PathBuf::from);
        let dir = tempfile::tempdir().expect("a temp directory");
        let path = kept.unwrap_or_else(|| dir.path().join("segments.db"));
        let built = match load(&path) {
            Some(b) => {
                println!("reusing the fixture in {}", path.display());
                b
            }
            None => build(&path).await,
        };
        let store = SqliteStore::open(&path, SqliteDurability::Normal)
            .await
            .expect("the bench database opens");
        println!("SQLite");
        measure(Arc::new(store.clone()), &built, runs, page).await;
        store.close().await;
    }
    if postgres {
        let kept = std::env::var("SEGMENT_BENCH_PG_SCHEMA").ok();
        let (store, built, _fresh) = match kept {
            Some(schema) => {
                let store = vestnik_store::PostgresStore::open(&postgres_url(), Some(&schema))
                    .await
                    .expect("PostgreSQL opens");
                let url = format!("{}?options=-c%20search_path%3D{schema}", postgres_url());
                let built = match postgres::load(&url).await {
                    Some(b) => {
                        println!("reusing the fixture in schema {schema}");
                        b
                    }
                    None => postgres::build(Arc::new(store.clone()), &url).await,
                };
                (Arc::new(store) as Arc<dyn Store>, built, None)
            }
            None => {
                let Some(db) = TestDb::postgres().await else {
                    println!("PostgreSQL: skipped (unreachable)");
                    return;
                };
                let built = postgres::build(db.store(), &db.url()).await;
                (db.store(), built, Some(db))
            }
        };
        println!("PostgreSQL");
        measure(store, &built, runs, page).await;
    }
}

async fn measure(store: Arc<dyn Store>, built: &Built, runs: usize, page: u32) {
    let total = store.count_contacts(&built.site).await.expect("a count");
    println!("site: {total} contacts; another site shares the database\n");

    let cases = [
        (
            "status = customer AND city = Москва AND productViewed in 30 days",
            json!({"all": [
                {"field": "status", "op": "eq", "value": "customer"},
                {"field": "city", "op": "eq", "value": "Москва"},
                {"event": "productViewed", "within_days": 30}
            ]}),
        ),
        (
            "orders count >= 2",
            json!({"orders": "count", "op": "gte", "value": 2}),
        ),
        ("opened campaign X", json!({"opened": built.campaign})),
        (
            "productViewed in 30 days (alone)",
            json!({"event": "productViewed", "within_days": 30}),
        ),
        (
            "NOT productViewed in 30 days",
            json!({"not": {"event": "productViewed", "within_days": 30}}),
        ),
        (
            "tag vip AND orders sum >= 20000 in 365 days",
            json!({"all": [{"tag": "vip"}, {"orders": "sum", "op": "gte", "value": 20000, "within_days": 365}]}),
        ),
        (
            "custom level = gold AND in list AND subscribed",
            json!({"all": [
                {"custom": "level", "op": "eq", "value": "gold"},
                {"list": built.list},
                {"field": "email_subscription", "op": "eq", "value": "subscribed"}
            ]}),
        ),
        (
            "last order delivered AND last order older than 90 days",
            json!({"all": [
                {"orders": "last_status", "op": "eq", "value": "delivered"},
                {"orders": "last_date", "op": "older_than_days", "value": 90}
            ]}),
        ),
        (
            "tag vip OR opened campaign X OR orders count >= 2",
            json!({"any": [{"tag": "vip"}, {"opened": built.campaign}, {"orders": "count", "op": "gte", "value": 2}]}),
        ),
        (
            "cart not empty AND NOT ordered in 7 days",
            json!({"all": [{"cart": "not_empty"}, {"not": {"orders": "count", "op": "gte", "value": 1, "within_days": 7}}]}),
        ),
    ];
    for (name, v) in &cases {
        let condition = Condition::parse(v).expect("a valid condition");
        let mut times = Vec::with_capacity(runs);
        let mut count = 0;
        for _ in 0..runs {
            let started = Instant::now();
            count = store
                .count_segment(&built.site, &condition, built.now)
                .await
                .expect("a count");
            times.push(started.elapsed());
        }
        println!("{name:<62} {count:>8} contacts  {}", summary(times));
    }

    for (name, v) in cases.iter().take(2) {
        let condition = Condition::parse(v).expect("a valid condition");
        let started = Instant::now();
        let (mut after, mut members, mut pages) = (None, 0usize, 0usize);
        loop {
            let ids = store
                .segment_members(&built.site, &condition, built.now, after, page)
                .await
                .expect("a page");
            members += ids.len();
            pages += 1;
            match ids.last() {
                Some(last) if ids.len() == page as usize => after = Some(*last),
                _ => break,
            }
        }
        println!(
            "paging {name:<54} {members:>8} in {pages} pages of {page}: {:.2} s",
            started.elapsed().as_secs_f64()
        );
    }
}
