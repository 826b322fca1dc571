//! Whole-import throughput of a large YML feed: parse + stage + switch, through
//! `import_feed` exactly as `vestnik feed import` runs it, on SQLite and PostgreSQL.
//!
//! `cargo bench -p vestnik-engine --bench feed_import [-- sqlite|postgres]`, `OFFERS` (default
//! 1 000 000) in the environment.
//!
//! The feed is written to a temporary file first, one offer at a time through a buffered
//! writer, so it never exists in memory as a whole (1 000 000 offers ≈ 700 MB). Offer `i`
//! looks like a clothing shop's:
//!
//! ```xml
//! <offer id="{i}" available="{i % 7 != 0}" group_id="g{i / 4}">
//!   <url>https://shop.example/p/{i}?utm_source=feed&amp;utm_medium=email</url>
//!   <price>{500 + i % 20000}.{i % 100:02}</price>        <!-- oldprice on every 3rd offer -->
//!   <currencyId>RUR</currencyId><categoryId>{2 + i % 2}</categoryId>
//!   <picture>https://cdn.shop.example/img/{i}-1.jpg</picture>
//!   <picture>https://cdn.shop.example/img/{i}-2.jpg</picture>
//!   <name>Платье модель {i}</name><vendor>Urban&amp;Co</vendor>
//!   <description><![CDATA[<p>Описание товара {i}: «хлопок» & лён</p>]]></description>
//!   <param name="Цвет">чёрный</param><param name="Размер" unit="RU">{40 + i % 12}</param>
//!   <vendorCode>VC-{i}</vendorCode>
//! </offer>
//! ```
//!
//! under three categories (Одежда > Платья, Куртки). Each backend gets a fresh database and
//! three imports: the feed (creates every offer), the same feed again (a scheduled refresh
//! of an unchanged catalog: nothing to rewrite), and a second feed in which every offer's
//! price differs (every offer rewritten in place). Peak RSS is the process's
//! VmHWM from /proc/self/status after both imports (it includes the tokio runtime and both
//! backends' pools, so it is an upper bound for the import itself).

use std::io::{BufWriter, Write};

// As in the `vestnik` binary, which `vestnik feed import` runs in.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use vestnik_engine::catalog_import::{DownloadLimits, FeedSource, ImportProgress, import_feed};
use vestnik_testkit::{Backend, TestDb};

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Writes the feed described in the module docs, prices moved by `price_shift` roubles;
/// returns its size in bytes.
fn generate(path: &Path, offers: usize, price_shift: usize) -> std::io::Result<u64> {
    let mut out = BufWriter::with_capacity(1 << 16, std::fs::File::create(path)?);
    out.write_all(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <yml_catalog date=\"2026-11-23 10:00\">\n<shop>\n<name>Generated</name>\n\
         <currencies><currency id=\"RUR\" rate=\"1\"/></currencies>\n<categories>\n\
         <category id=\"1\">Одежда</category>\n\
         <category id=\"2\" parentId=\"1\">Платья</category>\n\
         <category id=\"3\" parentId=\"1\">Куртки</category>\n\
         </categories>\n<offers>\n"
            .as_bytes(),
    )?;
    for i in 0..offers {
        let old = if i % 3 == 0 {
            format!("<oldprice>{}.00</oldprice>\n", 1000 + i % 20_000)
        } else {
            String::new()
        };
        write!(
            out,
            "<offer id=\"{i}\" available=\"{available}\" group_id=\"g{group}\">\n\
             <url>https://shop.example/p/{i}?utm_source=feed&amp;utm_medium=email</url>\n\
             <price>{rub}.{kop:02}</price>\n{old}<currencyId>RUR</currencyId>\n\
             <categoryId>{cat}</categoryId>\n\
             <picture>https://cdn.shop.example/img/{i}-1.jpg</picture>\n\
             <picture>https://cdn.shop.example/img/{i}-2.jpg</picture>\n\
             <name>Платье модель {i}</name>\n<vendor>Urban&amp;Co</vendor>\n\
             <description><![CDATA[<p>Описание товара {i}: «хлопок» & лён</p>]]></description>\n\
             <param name=\"Цвет\">чёрный</param>\n<param name=\"Размер\" unit=\"RU\">{size}</param>\n\
             <vendorCode>VC-{i}</vendorCode>\n</offer>\n",
            available = i % 7 != 0,
            group = i / 4,
            rub = 500 + (i + price_shift) % 20_000,
            kop = i % 100,
            cat = 2 + i % 2,
            size = 40 + i % 12,
        )?;
    }
    out.write_all(b"</offers>\n</shop>\n</yml_catalog>\n")?;
    out.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

/// Seconds until SQLite reports the whole WAL copied into the database file.
async fn wait_for_checkpoint(url: &str) -> f64 {
    use sqlx::Row;
    let started = Instant::now();
    let pool = sqlx::SqlitePool::connect(url).await.expect("a connection");
    loop {
        // (busy, frames in the WAL, frames checkpointed); busy while another checkpoint runs.
        let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&pool)
            .await
            .expect("a checkpoint answer");
        let (busy, log, done): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
        if busy == 0 && log == done {
            return started.elapsed().as_secs_f64();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// VmHWM (peak resident set) from /proc/self/status, in MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let only = std::env::args()
        .skip(1)
        .find(|a| a == "sqlite" || a == "postgres");
    let offers = env_count("OFFERS", 1_000_000);
    let dir = tempfile::tempdir().expect("a temp directory");
    let feed = dir.path().join("feed.xml");
    let repriced = dir.path().join("repriced.xml");
    let started = Instant::now();
    let bytes = generate(&feed, offers, 0).expect("the feed is written");
    generate(&repriced, offers, 1).expect("the repriced feed is written");
    println!(
        "generated {offers} offers, {:.0} MB in {:.1} s; peak RSS so far {:.0} MiB",
        bytes as f64 / 1e6,
        started.elapsed().as_secs_f64(),
        peak_rss_mib().unwrap_or(f64::NAN)
    );
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let name = if backend == Backend::Sqlite {
            "sqlite"
        } else {
            "postgres"
        };
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let Some(db) = TestDb::new(backend).await else {
            println!("{name}: skipped (database unreachable)");
            continue;
        };
        let store = db.store();
        let site = store.create_site("bench").await.expect("a site").0.id;
        for (label, file) in [
            ("first import (creates every offer)", &feed),
            ("same feed again (nothing changed)", &feed),
            ("every price changed (rewrites every offer)", &repriced),
        ] {
            let progress = Arc::new(ImportProgress::default());
            let started = Instant::now();
            let import = import_feed(
                store.clone(),
                &site,
                &FeedSource::File(file.clone()),
                &DownloadLimits::default(),
                Some(progress.clone()),
            )
            .await
            .expect("the feed imports");
            let secs = started.elapsed().as_secs_f64();
            let summary = import.summary.expect("a finished import has a summary");
            assert_eq!(summary.offers, offers as u64);
            println!(
                "{name}: {label}: {offers} offers in {secs:.2} s, {:.0} offers/s; peak RSS {:.0} MiB",
                offers as f64 / secs,
                peak_rss_mib().unwrap_or(f64::NAN)
            );
            if backend == Backend::Sqlite {
                // The import's WAL checkpoint runs after its commit, in the background; it
                // is reported apart and allowed to finish, so it does not eat into the next
                // import's figure (real refreshes are minutes apart).
                let waited = wait_for_checkpoint(&db.url()).await;
                println!("{name}:   then its WAL checkpoint finished {waited:.2} s later");
            }
        }
        let (all, available) = store.offer_counts(&site).await.expect("counts");
        assert_eq!(all, offers as u64);
        println!("{name}: {all} offers stored, {available} available");
    }
}
