//! Feed imports end to end on both backends: the shared sample feeds (UTF-8 and
//! windows-1251) give the same catalog, a file that is not a feed leaves the catalog alone,
//! and downloads from a local HTTP server honour the status and the size cap.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vestnik_domain::{ImportState, SiteId, Store};
use vestnik_engine::{DownloadLimits, FeedSource, ImportError, import_feed};
use vestnik_testkit::TestDb;

fn feed(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/testdata/feeds")
        .join(name)
}

async fn new_site(s: &Arc<dyn Store>, name: &str) -> SiteId {
    s.create_site(name).await.unwrap().0.id
}

/// Serves `body` with `status` to every connection on 127.0.0.1 until the test ends.
async fn serve_once(status: &'static str, body: Vec<u8>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let body = Arc::new(body);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let head = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&body).await;
            });
        }
    });
    format!("http://{addr}/feed.xml")
}

fn limits() -> DownloadLimits {
    DownloadLimits {
        max_bytes: 10 * 1024 * 1024,
        idle_timeout: Duration::from_secs(5),
        total_timeout: Duration::from_secs(20),
    }
}

/// A feed of `n` offers, ids 1..=n, all at `price`.
fn numbered_feed(n: usize, price: &str) -> String {
    let mut text = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<yml_catalog date=\"2026-11-23 10:00\"><shop>\
         <categories><category id=\"1\">Shoes</category></categories><offers>\n",
    );
    for id in 1..=n {
        text.push_str(&format!(
            "<offer id=\"{id}\" available=\"true\"><url>https://shop.example/p/{id}</url>\
             <price>{price}</price><currencyId>RUR</currencyId><categoryId>1</categoryId>\
             <name>Shoe {id}</name></offer>\n"
        ));
    }
    text.push_str("</offers></shop></yml_catalog>\n");
    text
}

mod cases {
    use super::*;

    pub async fn both_encodings_of_the_sample_feed_import_to_the_same_catalog(db: TestDb) {
        let s = db.store();
        let utf8_site = new_site(&s, "UTF-8").await;
        let cp1251_site = new_site(&s, "cp1251").await;
        let a = import_feed(
            s.clone(),
            &utf8_site,
            &FeedSource::File(feed("shop-utf8.xml")),
            &limits(),
            None,
        )
        .await
        .unwrap();
        let b = import_feed(
            s.clone(),
            &cp1251_site,
            &FeedSource::File(feed("shop-cp1251.xml")),
            &limits(),
            None,
        )
        .await
        .unwrap();
        assert_eq!(a.state, ImportState::Done);
        assert_eq!(a.summary, b.summary);
        let summary = a.summary.unwrap();
        assert_eq!(
            (summary.offers, summary.categories, summary.skipped),
            (23, 6, 1)
        );
        assert_eq!(summary.errors[0].offer_id.as_deref(), Some("1011"));
        assert_eq!(summary.errors[0].line, 140);

        assert_eq!(
            s.categories(&utf8_site).await.unwrap(),
            s.categories(&cp1251_site).await.unwrap()
        );
        let ids: Vec<String> = (1001..=1024).map(|n| n.to_string()).collect();
        let from_utf8 = s.offers_by_id(&utf8_site, &ids).await.unwrap();
        assert_eq!(from_utf8.len(), 23);
        assert_eq!(from_utf8, s.offers_by_id(&cp1251_site, &ids).await.unwrap());
        let first = &from_utf8[0];
        assert_eq!(first.name, "Кроссовки модель 1");
        assert_eq!(first.price, "18973.37");
        assert_eq!(
            first.description.as_deref(),
            Some("<p>Описание товара 1: «хлопок» & лён</p>")
        );
    }

    pub async fn a_file_that_is_not_a_feed_leaves_the_catalog_alone(db: TestDb) {
        let s = db.store();
        let site = new_site(&s, "Shop").await;
        import_feed(
            s.clone(),
            &site,
            &FeedSource::File(feed("shop-utf8.xml")),
            &limits(),
            None,
        )
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let html = dir.path().join("page.html");
        std::fs::write(&html, "<!DOCTYPE html><html><body>Not found</body></html>").unwrap();
        let err = import_feed(s.clone(), &site, &FeedSource::File(html), &limits(), None)
            .await
            .unwrap_err();
        assert!(matches!(err, ImportError::Feed(_)), "{err:?}");
        assert!(err.to_string().to_lowercase().contains("html"), "{err}");
        assert_eq!(s.offer_counts(&site).await.unwrap(), (23, 20));
        let history = s.imports(&site, 5).await.unwrap();
        assert_eq!(history[0].state, ImportState::Failed);
        assert_eq!(history[0].error.as_deref(), Some(err.to_string().as_str()));

        let missing = import_feed(
            s.clone(),
            &site,
            &FeedSource::File(dir.path().join("nope.xml")),
            &limits(),
            None,
        )
        .await
        .unwrap_err();
        assert!(
            missing.to_string().contains("cannot open the feed"),
            "{missing}"
        );

        // A well-formed feed whose every offer is broken would retire the whole catalog:
        // refused instead.
        let empty = dir.path().join("empty.xml");
        std::fs::write(
            &empty,
            "<?xml version=\"1.0\"?><yml_catalog><shop><offers><offer id=\"1\"><name>x</name></offer></offers></shop></yml_catalog>",
        )
        .unwrap();
        let err = import_feed(s.clone(), &site, &FeedSource::File(empty), &limits(), None)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("no valid offers"), "{err}");
        assert_eq!(s.offer_counts(&site).await.unwrap(), (23, 20));
    }

    pub async fn a_feed_cut_off_after_thousands_of_offers_changes_nothing(db: TestDb) {
        let s = db.store();
        let site = new_site(&s, "Shop").await;
        let dir = tempfile::tempdir().unwrap();
        let whole = dir.path().join("whole.xml");
        std::fs::write(&whole, numbered_feed(5_000, "10.00")).unwrap();
        let first = import_feed(s.clone(), &site, &FeedSource::File(whole), &limits(), None)
            .await
            .unwrap();
        assert_eq!(first.summary.unwrap().offers, 5_000);

        // The same shop, every price changed, the file broken off in its 4 500th offer:
        // several parts have reached the store's transaction by then.
        let mut text = numbered_feed(5_000, "99.00");
        let cut = text.find("<offer id=\"4500\"").unwrap() + 30;
        text.truncate(cut);
        let broken = dir.path().join("broken.xml");
        std::fs::write(&broken, text).unwrap();
        let err = import_feed(s.clone(), &site, &FeedSource::File(broken), &limits(), None)
            .await
            .unwrap_err();
        assert!(matches!(err, ImportError::Feed(_)), "{err:?}");
        assert_eq!(s.offer_counts(&site).await.unwrap(), (5_000, 5_000));
        let sample = s
            .offers_by_id(&site, &["1".into(), "4000".into()])
            .await
            .unwrap();
        assert!(sample.iter().all(|o| o.price == "10.00"), "{sample:?}");
        let history = s.imports(&site, 1).await.unwrap();
        assert_eq!(history[0].state, ImportState::Failed);
    }

    pub async fn a_feed_downloads_from_a_url_within_limits(db: TestDb) {
        let s = db.store();
        let site = new_site(&s, "Shop").await;
        let body = std::fs::read(feed("shop-cp1251.xml")).unwrap();
        let url = serve_once("200 OK", body.clone()).await;
        let progress = Arc::new(vestnik_engine::ImportProgress::default());
        let done = import_feed(
            s.clone(),
            &site,
            &FeedSource::parse(&url),
            &limits(),
            Some(progress.clone()),
        )
        .await
        .unwrap();
        assert_eq!(done.source, url);
        assert_eq!(done.summary.unwrap().offers, 23);
        assert_eq!(
            progress.bytes.load(std::sync::atomic::Ordering::Relaxed),
            body.len() as u64
        );

        let missing = serve_once("404 Not Found", b"no".to_vec()).await;
        let err = import_feed(
            s.clone(),
            &site,
            &FeedSource::parse(&missing),
            &limits(),
            None,
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("404"), "{err}");

        let small = DownloadLimits {
            max_bytes: 1000,
            ..limits()
        };
        let err = import_feed(s.clone(), &site, &FeedSource::parse(&url), &small, None)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("limit of 1000 bytes"), "{err}");
        assert_eq!(s.offer_counts(&site).await.unwrap(), (23, 20));
    }

    pub async fn a_saved_schedule_imports_and_reschedules_until_superseded(db: TestDb) {
        use vestnik_domain::{FeedSettings, JobState, Timestamp};
        use vestnik_engine::JobHandler;
        let s = db.store();
        let site = new_site(&s, "Shop").await;
        let url = serve_once("200 OK", std::fs::read(feed("shop-utf8.xml")).unwrap()).await;
        let saved = s
            .set_feed_settings(
                &site,
                &FeedSettings {
                    url: Some(url),
                    refresh_minutes: Some(60),
                },
            )
            .await
            .unwrap();
        s.enqueue(&vestnik_engine::feed_import_job(&site, Some(saved)))
            .await
            .unwrap();
        let kinds = [vestnik_engine::FEED_IMPORT_JOB.to_string()];
        let claim = || async {
            s.claim_jobs(
                "test",
                &kinds,
                10,
                // Long enough that the claim below, hours "later", does not take it back.
                Duration::from_secs(24 * 3600),
                Timestamp::now(),
            )
            .await
            .unwrap()
        };
        let handler = vestnik_engine::FeedImportJob {
            store: s.clone(),
            limits: limits(),
        };
        let first = claim().await;
        assert_eq!(first.len(), 1);
        handler.run(&first[0]).await.unwrap();
        assert_eq!(s.offer_counts(&site).await.unwrap(), (23, 20));
        let pending = s.list_jobs(Some(JobState::Pending), 10).await.unwrap();
        assert_eq!(pending.len(), 1, "the next run is scheduled");
        let in_minutes = (pending[0].run_at.millis() - Timestamp::now().millis()) / 60_000;
        assert!((58..=60).contains(&in_minutes), "{in_minutes} minutes");

        // Saved again: the old chain's next run finds itself superseded and ends.
        s.set_feed_settings(
            &site,
            &FeedSettings {
                url: None,
                refresh_minutes: None,
            },
        )
        .await
        .unwrap();
        let later = Timestamp::now().plus(Duration::from_secs(2 * 3600));
        let next = s
            .claim_jobs("test", &kinds, 10, Duration::from_secs(60), later)
            .await
            .unwrap();
        assert_eq!(next.len(), 1, "{next:#?}");
        handler.run(&next[0]).await.unwrap();
        assert_eq!(
            s.imports(&site, 10).await.unwrap().len(),
            1,
            "no second import"
        );
        assert!(
            s.list_jobs(Some(JobState::Pending), 10)
                .await
                .unwrap()
                .is_empty()
        );
    }
}

vestnik_testkit::db_cases_on_both_backends!(
    a_saved_schedule_imports_and_reschedules_until_superseded,
    both_encodings_of_the_sample_feed_import_to_the_same_catalog,
    a_file_that_is_not_a_feed_leaves_the_catalog_alone,
    a_feed_downloads_from_a_url_within_limits,
    a_feed_cut_off_after_thousands_of_offers_changes_nothing,
);
