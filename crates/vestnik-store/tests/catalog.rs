//! The product catalog on both backends: imports that switch in one go, unchanged offers left
//! unwritten, offers a new feed no longer lists kept as unavailable, broken feeds that leave
//! the catalog alone, and sites kept apart.

use std::sync::Arc;
use vestnik_domain::{
    CatalogCategory, CatalogOffer, FeedSettings, ImportOutcome, ImportState, ImportSummary,
    OfferExtra, OfferParam, SiteId, Store, StoreError,
};
use vestnik_testkit::TestDb;
use vestnik_testkit::feed::{categories_part, end_part, feed_parts, offers_part};

fn offer(id: &str, name: &str, price: &str) -> CatalogOffer {
    CatalogOffer {
        id: id.to_string(),
        available: true,
        offer_type: None,
        group_id: None,
        url: Some(format!("https://shop.example/p/{id}")),
        price: price.to_string(),
        oldprice: None,
        currency_id: Some("RUR".into()),
        category_id: Some("5".into()),
        pictures: vec![format!("https://cdn.shop.example/{id}.jpg")],
        name: name.to_string(),
        type_prefix: None,
        vendor: Some("Pikfoot".into()),
        model: None,
        description: Some("<p>«хлопок» & лён</p>".into()),
        params: vec![OfferParam {
            name: "Размер".into(),
            unit: Some("RU".into()),
            value: "42".into(),
        }],
        extra: vec![OfferExtra {
            name: "sales_notes".into(),
            attributes: [("lang".to_string(), "ru".to_string())].into(),
            value: "предоплата".into(),
        }],
    }
}

fn category(id: &str, parent: Option<&str>, name: &str) -> CatalogCategory {
    CatalogCategory {
        id: id.into(),
        parent_id: parent.map(str::to_string),
        name: name.into(),
    }
}

fn summary(offers: u64, categories: u64) -> ImportSummary {
    ImportSummary {
        offers,
        categories,
        skipped: 0,
        errors: vec![],
    }
}

async fn new_site(s: &Arc<dyn Store>, name: &str) -> SiteId {
    s.create_site(name).await.unwrap().0.id
}

/// Imports `offers` (in parts of two) and `categories` as one finished import.
async fn import(
    s: &Arc<dyn Store>,
    site: &SiteId,
    offers: &[CatalogOffer],
    categories: &[CatalogCategory],
) -> vestnik_domain::CatalogImport {
    let id = s.begin_import(site, "feed.xml").await.unwrap();
    let mut parts = vec![categories_part(categories)];
    parts.extend(offers.chunks(2).map(offers_part));
    parts.push(end_part(offers.len() as u64, categories.len() as u64));
    match s.import_catalog(site, id, feed_parts(parts)).await.unwrap() {
        ImportOutcome::Done(done) => done,
        ImportOutcome::Abandoned(reason) => panic!("import abandoned: {reason}"),
    }
}

/// The import that last wrote each offer, read with raw SQL: which rows an import rewrote is
/// not part of the `CatalogStore` interface.
async fn writer_of(db: &TestDb, offer_id: &str) -> i64 {
    use sqlx::Row;
    const SQL: &str = "SELECT import_id FROM offers WHERE offer_id = $1";
    match db.backend() {
        vestnik_testkit::Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url()).await.unwrap();
            sqlx::query(SQL)
                .bind(offer_id)
                .fetch_one(&pool)
                .await
                .unwrap()
                .get(0)
        }
        vestnik_testkit::Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url()).await.unwrap();
            sqlx::query(SQL)
                .bind(offer_id)
                .fetch_one(&pool)
                .await
                .unwrap()
                .get(0)
        }
    }
}

fn ids(offers: &[CatalogOffer]) -> Vec<&str> {
    offers.iter().map(|o| o.id.as_str()).collect()
}

mod cases {
    use super::*;

    pub async fn an_import_stores_offers_exactly_as_parsed(db: TestDb) {
        let s = db.store();
        let site = new_site(&s, "Shop").await;
        let original = offer("1001", "Кроссовки модель 1", "18973.37");
        let done = import(
            &s,
            &site,
            std::slice::from_ref(&original),
            &[category("1", None, "Одежда")],
        )
        .await;
        assert_eq!(done.state, ImportState::Done);
        assert_eq!(done.retired, Some(0));
        assert_eq!(done.summary, Some(summary(1, 1)));
        let back = s.offers_by_id(&site, &["1001".to_string()]).await.unwrap();
        assert_eq!(
            back,
            vec![original],
            "every field, Cyrillic and price text intact"
        );
        assert_eq!(s.offer_counts(&site).await.unwrap(), (1, 1));
    }

    pub async fn a_new_feed_retires_missing_offers_instead_of_deleting_them(db: TestDb) {
        let s = db.store();
        let site = new_site(&s, "Shop").await;
        import(
            &s,
            &site,
            &[
                offer("a", "A", "1"),
                offer("b", "B", "2"),
                offer("c", "C", "3"),
            ],
            &[category("1", None, "Old"), category("2", Some("1"), "Gone")],
        )
        .await;
        let second = import(
            &s,
            &site,
            &[offer("a", "A2", "10"), offer("d", "D", "4")],
            &[category("1", None, "Renamed")],
        )
        .await;
        assert_eq!(second.retired, Some(2), "b and c are no longer listed");
        let all = s
            .offers_by_id(
                &site,
                &["d".into(), "c".into(), "a".into(), "b".into(), "zz".into()],
            )
            .await
            .unwrap();
        assert_eq!(
            ids(&all),
            ["d", "c", "a", "b"],
            "asked order, unknown skipped"
        );
        let by_id = |id: &str| all.iter().find(|o| o.id == id).unwrap();
        assert!(by_id("a").available && by_id("d").available);
        assert!(!by_id("b").available && !by_id("c").available);
        assert_eq!(by_id("a").name, "A2");
        assert_eq!(by_id("a").price, "10");
        assert_eq!(by_id("b").price, "2", "a retired offer keeps its last data");
        assert_eq!(s.offer_counts(&site).await.unwrap(), (4, 2));
        assert_eq!(
            s.categories(&site).await.unwrap(),
            vec![category("1", None, "Renamed")],
            "categories are replaced"
        );
        // Listed again later: available again.
        let third = import(&s, &site, &[offer("b", "B", "2")], &[]).await;
        assert_eq!(third.retired, Some(2), "a and d retired now");
        let b = s.offers_by_id(&site, &["b".into()]).await.unwrap();
        assert!(b[0].available);
    }

    pub async fn a_feed_broken_part_way_leaves_the_catalog_as_it_was(db: TestDb) {
        let s = db.store();
        let site = new_site(&s, "Shop").await;
        import(
            &s,
            &site,
            &[offer("a", "A", "1")],
            &[category("1", None, "One")],
        )
        .await;
        let id = s
            .begin_import(&site, "https://shop.example/broken.xml")
            .await
            .unwrap();
        let parts = feed_parts([
            categories_part(&[category("9", None, "Nine")]),
            offers_part(&[offer("x", "X", "9"), offer("a", "A changed", "5")]),
            Err("line 3: not a YML feed".to_string()),
        ]);
        let outcome = s.import_catalog(&site, id, parts).await.unwrap();
        assert_eq!(
            outcome,
            ImportOutcome::Abandoned("line 3: not a YML feed".into())
        );
        assert_eq!(s.offer_counts(&site).await.unwrap(), (1, 1));
        assert_eq!(
            s.offers_by_id(&site, &["a".into()]).await.unwrap()[0].name,
            "A",
            "the offer the broken feed changed is as it was"
        );
        assert_eq!(
            s.categories(&site).await.unwrap(),
            vec![category("1", None, "One")]
        );
        let history = s.imports(&site, 10).await.unwrap();
        assert_eq!(history.len(), 2);
        assert_eq!(history[0].state, ImportState::Failed, "newest first");
        assert_eq!(history[0].error.as_deref(), Some("line 3: not a YML feed"));
        assert!(history[0].finished_at.is_some());
        // A failed import takes no more parts.
        let again = s
            .import_catalog(&site, id, feed_parts([end_part(0, 0)]))
            .await;
        assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
        let failed = s.fail_import(&site, id, "twice").await;
        assert!(matches!(failed, Err(StoreError::Conflict(_))), "{failed:?}");
    }

    pub async fn an_import_cut_off_mid_way_is_failed_by_the_next_one(db: TestDb) {
        let s = db.store();
        let site = new_site(&s, "Shop").await;
        let other = new_site(&s, "Other").await;
        import(&s, &site, &[offer("a", "A", "1")], &[]).await;
        // The process dies mid-import: the import stays "running" and its transaction is
        // gone with the process.
        let cut = s.begin_import(&site, "feed.xml").await.unwrap();
        let theirs = s.begin_import(&other, "feed.xml").await.unwrap();
        // After the restart, the next import of the site takes over.
        let next = s.begin_import(&site, "feed.xml").await.unwrap();
        let history = s.imports(&site, 10).await.unwrap();
        let cut_off = history.iter().find(|i| i.id == cut).unwrap();
        assert_eq!(cut_off.state, ImportState::Failed);
        assert!(cut_off.error.as_deref().unwrap().contains("interrupted"));
        let late = s
            .import_catalog(
                &site,
                cut,
                feed_parts([offers_part(&[offer("x", "X", "9")]), end_part(1, 0)]),
            )
            .await;
        assert!(matches!(late, Err(StoreError::Conflict(_))), "{late:?}");
        let done = s
            .import_catalog(&site, next, feed_parts([end_part(0, 0)]))
            .await
            .unwrap();
        let ImportOutcome::Done(done) = done else {
            panic!("{done:?}")
        };
        assert!(
            s.offers_by_id(&site, &["x".into()])
                .await
                .unwrap()
                .is_empty(),
            "the overtaken import's offer never reaches the catalog"
        );
        assert_eq!(done.retired, Some(1));
        assert_eq!(
            s.imports(&other, 1).await.unwrap()[0].state,
            ImportState::Running,
            "another site's import is left alone"
        );
        s.fail_import(&other, theirs, "test over").await.unwrap();
    }

    pub async fn a_duplicate_offer_id_keeps_the_later_entry(db: TestDb) {
        let s = db.store();
        let site = new_site(&s, "Shop").await;
        let id = s.begin_import(&site, "feed.xml").await.unwrap();
        let parts = feed_parts([
            offers_part(&[offer("a", "First", "1"), offer("a", "Second", "2")]),
            offers_part(&[offer("a", "Third", "3")]),
            end_part(3, 0),
        ]);
        s.import_catalog(&site, id, parts).await.unwrap();
        let a = s.offers_by_id(&site, &["a".into()]).await.unwrap();
        assert_eq!(a[0].name, "Third");
        assert_eq!(s.offer_counts(&site).await.unwrap(), (1, 1));
    }

    pub async fn a_refresh_rewrites_only_the_offers_that_changed(db: TestDb) {
        let s = db.store();
        let site = new_site(&s, "Shop").await;
        let first = import(
            &s,
            &site,
            &[offer("a", "A", "1"), offer("b", "B", "2")],
            &[],
        )
        .await;
        let second = import(
            &s,
            &site,
            &[offer("a", "A", "1"), offer("b", "B", "3")],
            &[],
        )
        .await;
        assert_eq!(
            writer_of(&db, "a").await,
            first.id.0,
            "unchanged: not rewritten"
        );
        assert_eq!(
            writer_of(&db, "b").await,
            second.id.0,
            "new price: rewritten"
        );
        assert_eq!(
            second.retired,
            Some(0),
            "an unchanged offer is still listed"
        );
        let both = s
            .offers_by_id(&site, &["a".into(), "b".into()])
            .await
            .unwrap();
        assert!(both.iter().all(|o| o.available));
        assert_eq!(both[1].price, "3");
    }

    pub async fn search_finds_by_id_or_name_available_first(db: TestDb) {
        let s = db.store();
        let site = new_site(&s, "Shop").await;
        let mut gone = offer("3", "Red Dress old", "1");
        gone.available = false;
        import(
            &s,
            &site,
            &[
                offer("1", "Red Dress", "1"),
                offer("2", "Blue Jacket", "1"),
                gone,
                offer("4", "100%_cotton", "1"),
            ],
            &[],
        )
        .await;
        let found = s.search_offers(&site, "red dress", 10).await.unwrap();
        assert_eq!(ids(&found), ["1", "3"]);
        assert_eq!(ids(&s.search_offers(&site, "2", 10).await.unwrap()), ["2"]);
        assert_eq!(
            ids(&s.search_offers(&site, "%_", 10).await.unwrap()),
            ["4"],
            "LIKE wildcards in the query are plain characters"
        );
        assert_eq!(s.search_offers(&site, "dress", 1).await.unwrap().len(), 1);
        assert_eq!(
            ids(&s.search_offers(&site, "", 3).await.unwrap()),
            ["1", "2", "3"],
            "no query: the first offers by id"
        );
    }

    pub async fn sites_never_see_each_others_catalog(db: TestDb) {
        let s = db.store();
        let mine = new_site(&s, "Mine").await;
        let theirs = new_site(&s, "Theirs").await;
        import(
            &s,
            &mine,
            &[offer("a", "A", "1")],
            &[category("1", None, "One")],
        )
        .await;
        let their_import = s.begin_import(&theirs, "feed.xml").await.unwrap();
        assert!(
            s.offers_by_id(&theirs, &["a".into()])
                .await
                .unwrap()
                .is_empty()
        );
        assert!(s.search_offers(&theirs, "a", 10).await.unwrap().is_empty());
        assert!(s.categories(&theirs).await.unwrap().is_empty());
        assert_eq!(s.imports(&theirs, 10).await.unwrap().len(), 1);
        // Another site's import cannot be fed through mine.
        let foreign = s
            .import_catalog(
                &mine,
                their_import,
                feed_parts([offers_part(&[offer("z", "Z", "1")]), end_part(1, 0)]),
            )
            .await;
        assert!(
            matches!(foreign, Err(StoreError::NotFound(_))),
            "{foreign:?}"
        );
        assert!(
            s.offers_by_id(&mine, &["z".into()])
                .await
                .unwrap()
                .is_empty()
        );
        // Their (empty) import retires nothing of mine.
        let done = s
            .import_catalog(&theirs, their_import, feed_parts([end_part(0, 0)]))
            .await
            .unwrap();
        let ImportOutcome::Done(done) = done else {
            panic!("{done:?}")
        };
        assert_eq!(done.retired, Some(0));
        assert_eq!(s.offer_counts(&mine).await.unwrap(), (1, 1));
    }

    pub async fn feed_settings_are_kept_per_site(db: TestDb) {
        let s = db.store();
        let site = new_site(&s, "Shop").await;
        assert_eq!(s.feed_settings(&site).await.unwrap(), None);
        let settings = FeedSettings {
            url: Some("https://shop.example/yml.xml".into()),
            refresh_minutes: Some(60),
        };
        let first = s.set_feed_settings(&site, &settings).await.unwrap();
        assert_eq!(
            s.feed_settings(&site).await.unwrap(),
            Some((settings, first))
        );
        let off = FeedSettings {
            url: None,
            refresh_minutes: None,
        };
        let second = s.set_feed_settings(&site, &off).await.unwrap();
        assert!(
            second > first,
            "each save is told apart: {first:?} {second:?}"
        );
        assert_eq!(s.feed_settings(&site).await.unwrap(), Some((off, second)));
    }
}

vestnik_testkit::db_cases_on_both_backends!(
    an_import_stores_offers_exactly_as_parsed,
    an_import_cut_off_mid_way_is_failed_by_the_next_one,
    a_new_feed_retires_missing_offers_instead_of_deleting_them,
    a_feed_broken_part_way_leaves_the_catalog_as_it_was,
    a_duplicate_offer_id_keeps_the_later_entry,
    a_refresh_rewrites_only_the_offers_that_changed,
    search_finds_by_id_or_name_available_first,
    sites_never_see_each_others_catalog,
    feed_settings_are_kept_per_site,
);
