//! Recommendations on both backends, from a small hand-built shop: every algorithm in its
//! exact order, only available offers, never the contact's cart or an excluded id, the same
//! answer twice, and nothing from another site.
//!
//! The shop (site A) has categories c1 (p1, p2, p3, n2 and the unavailable x) and c2 (p4, p5,
//! p6, n1); n1 and n2 arrived with a later import. In the 30-day window:
//!
//! | contact | viewed (in order)        | also                          |
//! |---------|--------------------------|-------------------------------|
//! | u1      | p1, p2                   | cart: p3                      |
//! | u2      | p1, p5, p4               |                               |
//! | u3      | p1, p5, p3, ghost        | ghost is not in the catalog   |
//! | u4      | p2, p6, p6               | then browsed category c1      |
//! | u5      | p6, x                    |                               |
//! | u6      | p1, p4 (40 days ago)     |                               |
//!
//! Orders: A-1 p3 ×10; A-2 p5 listed twice; A-3 p2, cancelled; A-4 p4, 40 days ago; A-5 x.
//! `top_offers` scores (view 1, order 5): p5 7, p3 6, p1 3, p6 3, p2 2, p4 1.

use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use vestnik_domain::ingest::{self, RawEvent};
use vestnik_domain::order::OrderItem;
use vestnik_domain::recommend::{Algorithm, RecommendationRequest};
use vestnik_domain::{
    CatalogOffer, ContactId, Email, EventToStore, Money, NewOrder, OrderStatus, SiteId, Store,
    Timestamp,
};
use vestnik_testkit::TestDb;

fn offer(id: &str, category: &str, available: bool) -> CatalogOffer {
    CatalogOffer {
        id: id.to_string(),
        available,
        offer_type: None,
        group_id: None,
        url: Some(format!("https://shop.example/p/{id}")),
        price: "100".into(),
        oldprice: None,
        currency_id: Some("RUR".into()),
        category_id: Some(category.to_string()),
        pictures: vec![],
        name: format!("Offer {id}"),
        type_prefix: None,
        vendor: None,
        model: None,
        description: None,
        params: vec![],
        extra: vec![],
    }
}

async fn import(s: &Arc<dyn Store>, site: &SiteId, offers: &[CatalogOffer]) {
    use vestnik_testkit::feed::{end_part, feed_parts, offers_part};
    let id = s.begin_import(site, "feed.xml").await.unwrap();
    let parts = feed_parts([offers_part(offers), end_part(offers.len() as u64, 0)]);
    s.import_catalog(site, id, parts).await.unwrap();
    // The next import's offers get a later first_seen_at.
    tokio::time::sleep(Duration::from_millis(5)).await;
}

fn email(who: &str) -> String {
    format!("{who}@shop.example")
}

async fn ingest(
    s: &Arc<dyn Store>,
    site: &SiteId,
    who: &str,
    event_type: &str,
    params: serde_json::Value,
    at: Timestamp,
) {
    let mut list = vec![json!({"name": "email", "value": email(who)})];
    for (name, value) in params.as_object().unwrap() {
        // Objects and lists travel as JSON in a string, as shops send them.
        let value = match value {
            serde_json::Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        list.push(json!({"name": name, "value": value}));
    }
    let raw: RawEvent = serde_json::from_value(json!({
        "eventTypeKey": event_type,
        "keyValue": email(who),
        "params": list,
    }))
    .unwrap();
    let event = EventToStore::new(site.clone(), ingest::validate(raw, None).unwrap(), at);
    s.ingest(vec![event]).await.unwrap();
}

async fn view(s: &Arc<dyn Store>, site: &SiteId, who: &str, product: &str, at: Timestamp) {
    let params = json!({"product": {"productId": product, "price": 100}});
    ingest(s, site, who, "productViewed", params, at).await;
}

async fn order(
    s: &Arc<dyn Store>,
    site: &SiteId,
    order_id: &str,
    who: &str,
    offers: &[&str],
    at: Timestamp,
) {
    let items = offers
        .iter()
        .map(|o| OrderItem {
            offer_id: o.to_string(),
            price: Money::parse("price", "100").unwrap(),
            quantity: 10,
        })
        .collect();
    let new = NewOrder {
        order_id: order_id.into(),
        email: Some(Email::parse(&email(who)).unwrap()),
        phone: None,
        items,
        total: Money::parse("total", "1000").unwrap(),
        created_at: Some(at),
    };
    s.add_order(site, &new).await.unwrap();
}

fn days_ago(days: u64) -> Timestamp {
    Timestamp::now().minus(Duration::from_secs(days * 86_400))
}

/// The shop of the module docs.
struct Shop {
    store: Arc<dyn Store>,
    site: SiteId,
    contacts: HashMap<String, ContactId>,
}

impl Shop {
    async fn open(db: &TestDb) -> Shop {
        let s = db.store();
        let site = s.create_site("Shop A").await.unwrap().0.id;
        let mut catalog = vec![
            offer("p1", "c1", true),
            offer("p2", "c1", true),
            offer("p3", "c1", true),
            offer("x", "c1", false),
            offer("p4", "c2", true),
            offer("p5", "c2", true),
            offer("p6", "c2", true),
        ];
        import(&s, &site, &catalog).await;
        catalog.push(offer("n2", "c1", true));
        catalog.push(offer("n1", "c2", true));
        import(&s, &site, &catalog).await;

        for product in ["p1", "p4"] {
            view(&s, &site, "u6", product, days_ago(40)).await;
        }
        let views: [(&str, &[&str]); 5] = [
            ("u1", &["p1", "p2"]),
            ("u2", &["p1", "p5", "p4"]),
            ("u3", &["p1", "p5", "p3", "ghost"]),
            ("u4", &["p2", "p6", "p6"]),
            ("u5", &["p6", "x"]),
        ];
        let mut minute = 0;
        for (who, products) in views {
            for product in products {
                minute += 1;
                let at = days_ago(1).plus(Duration::from_secs(minute * 60));
                view(&s, &site, who, product, at).await;
            }
        }
        let category = json!({"category": {"productCategoryId": "c1"}});
        ingest(
            &s,
            &site,
            "u4",
            "productCategoryViewed",
            category,
            days_ago(0),
        )
        .await;
        let cart = json!({"recycleStateId": "r1",
            "products": [{"productId": "p3", "price": 100, "quantity": 1}]});
        ingest(&s, &site, "u1", "cartUpdated", cart, days_ago(0)).await;

        order(&s, &site, "A-1", "b1", &["p3"], days_ago(2)).await;
        order(&s, &site, "A-2", "b2", &["p5", "p5"], days_ago(2)).await;
        order(&s, &site, "A-3", "b1", &["p2"], days_ago(2)).await;
        s.set_order_status(&site, "A-3", OrderStatus::Cancelled)
            .await
            .unwrap();
        order(&s, &site, "A-4", "b2", &["p4"], days_ago(40)).await;
        order(&s, &site, "A-5", "b3", &["x"], days_ago(2)).await;

        let mut contacts = HashMap::new();
        for who in ["u1", "u2", "u3", "u4", "u5", "u6", "b1"] {
            let email = Email::parse(&email(who)).unwrap();
            let c = s.find_contact(&site, Some(&email), None).await.unwrap();
            contacts.insert(who.to_string(), c.unwrap().id);
        }
        Shop {
            store: s,
            site,
            contacts,
        }
    }

    fn contact(&self, who: &str) -> ContactId {
        self.contacts[who]
    }

    /// The ids `recommend` returns, asserting they are all available.
    async fn ids(&self, who: Option<&str>, request: &RecommendationRequest) -> Vec<String> {
        let contact = who.map(|w| self.contact(w));
        let offers = self
            .store
            .recommend(&self.site, contact, request)
            .await
            .unwrap();
        assert!(
            offers.iter().all(|o| o.available),
            "{request:?} returned an unavailable offer: {offers:?}"
        );
        offers.into_iter().map(|o| o.id).collect()
    }

    async fn top(&self, who: Option<&str>, algorithm: Algorithm) -> Vec<String> {
        self.ids(who, &RecommendationRequest::new(algorithm, 10))
            .await
    }
}

mod cases {
    use super::*;

    pub async fn top_offers_rank_views_and_weighted_purchases_in_the_window(db: TestDb) {
        let shop = Shop::open(&db).await;
        assert_eq!(
            shop.top(None, Algorithm::TopOffers).await,
            ["p5", "p3", "p1", "p6", "p2", "p4"],
            "p5: 2 views + 1 order (listed twice) = 7; p3: 1 + 5; p1 and p6 tie at 3, by id; \
             the cancelled order of p2 and the 40-day-old ones do not count"
        );
        let mut request = RecommendationRequest::new(Algorithm::TopOffers, 3);
        assert_eq!(shop.ids(None, &request).await, ["p5", "p3", "p1"]);
        request.days = 60;
        request.count = 10;
        assert_eq!(
            shop.ids(None, &request).await,
            ["p4", "p5", "p3", "p1", "p6", "p2"],
            "over 60 days p4 gains u6's view and order A-4 (7, ties p5, first by id), p1 u6's view"
        );
    }

    pub async fn also_viewed_ranks_by_co_viewers_and_skips_seeds(db: TestDb) {
        let shop = Shop::open(&db).await;
        assert_eq!(
            shop.top(Some("u1"), Algorithm::AlsoViewed).await,
            ["p5", "p4", "p6"],
            "co-viewers of p1/p2: u2, u3, u4 (u6 viewed p1 too long ago); p5 by two of them; \
             p3 is u1's cart, ghost is not in the catalog, p1 and p2 are the seeds"
        );
        assert_eq!(
            shop.top(Some("u4"), Algorithm::AlsoViewed).await,
            ["p1"],
            "co-viewers of p6/p2: u1 (p1) and u5 (x, unavailable)"
        );
        assert!(
            shop.top(Some("b1"), Algorithm::AlsoViewed).await.is_empty(),
            "b1 viewed nothing"
        );
        assert!(shop.top(None, Algorithm::AlsoViewed).await.is_empty());
    }

    pub async fn same_category_uses_the_browsed_category_else_the_last_viewed_offers(db: TestDb) {
        let shop = Shop::open(&db).await;
        assert_eq!(
            shop.top(Some("u4"), Algorithm::SameCategory).await,
            ["p3", "p1", "n2"],
            "u4 browsed c1 last (over p6's c2); p2 was viewed; n2 has no score"
        );
        assert_eq!(
            shop.top(Some("u2"), Algorithm::SameCategory).await,
            ["p6", "n1"],
            "u2 last viewed p4 (c2) and viewed p4, p5"
        );
        assert_eq!(
            shop.top(Some("u3"), Algorithm::SameCategory).await,
            ["p2", "n2"],
            "u3's last view (ghost) is not in the catalog, the one before is p3 (c1)"
        );
        assert_eq!(
            shop.top(Some("u1"), Algorithm::SameCategory).await,
            ["n2"],
            "c1 from p2, minus viewed p1, p2 and the cart's p3"
        );
        assert!(
            shop.top(Some("b1"), Algorithm::SameCategory)
                .await
                .is_empty()
        );
        assert!(shop.top(None, Algorithm::SameCategory).await.is_empty());
    }

    pub async fn new_arrivals_come_newest_first_then_by_id(db: TestDb) {
        let shop = Shop::open(&db).await;
        assert_eq!(
            shop.top(None, Algorithm::NewArrivals).await,
            ["n1", "n2", "p1", "p2", "p3", "p4", "p5", "p6"]
        );
        let request = RecommendationRequest::new(Algorithm::NewArrivals, 3);
        assert_eq!(shop.ids(None, &request).await, ["n1", "n2", "p1"]);
    }

    pub async fn cart_items_and_excluded_ids_are_never_recommended(db: TestDb) {
        let shop = Shop::open(&db).await;
        assert_eq!(
            shop.top(Some("u1"), Algorithm::TopOffers).await,
            ["p5", "p1", "p6", "p2", "p4"],
            "p3 is in u1's cart"
        );
        assert_eq!(
            shop.top(Some("u1"), Algorithm::NewArrivals).await,
            ["n1", "n2", "p1", "p2", "p4", "p5", "p6"]
        );
        let mut request = RecommendationRequest::new(Algorithm::TopOffers, 3);
        request.exclude = vec!["p5".into(), "p1".into()];
        assert_eq!(shop.ids(None, &request).await, ["p3", "p6", "p2"]);
        assert_eq!(
            shop.ids(Some("u1"), &request).await,
            ["p6", "p2", "p4"],
            "both the list and the cart"
        );
        request.algorithm = Algorithm::AlsoViewed;
        assert_eq!(shop.ids(Some("u1"), &request).await, ["p4", "p6"]);
    }

    pub async fn unavailable_offers_are_never_recommended(db: TestDb) {
        let shop = Shop::open(&db).await;
        // `ids` asserts availability; x, viewed and bought, must not show up anywhere.
        for who in [None, Some("u1"), Some("u4"), Some("u5")] {
            for algorithm in Algorithm::ALL {
                let ids = shop.top(who, algorithm).await;
                assert!(!ids.contains(&"x".to_string()), "{algorithm} for {who:?}");
            }
        }
        // The next feed drops p5: it is kept, unavailable, and no longer recommended.
        let catalog: Vec<CatalogOffer> = ["p1", "p2", "p3", "p4", "p6"]
            .iter()
            .map(|id| offer(id, if *id < "p4" { "c1" } else { "c2" }, true))
            .collect();
        import(&shop.store, &shop.site, &catalog).await;
        assert_eq!(
            shop.top(None, Algorithm::TopOffers).await,
            ["p3", "p1", "p6", "p2", "p4"]
        );
        assert_eq!(
            shop.top(Some("u1"), Algorithm::AlsoViewed).await,
            ["p4", "p6"]
        );
    }

    pub async fn the_same_state_gives_the_same_answer(db: TestDb) {
        let shop = Shop::open(&db).await;
        for who in [None, Some("u1"), Some("u2"), Some("u3"), Some("u4")] {
            for algorithm in Algorithm::ALL {
                let request = RecommendationRequest::new(algorithm, 100);
                let contact = who.map(|w| shop.contact(w));
                let first = shop.store.recommend(&shop.site, contact, &request).await;
                let second = shop.store.recommend(&shop.site, contact, &request).await;
                assert_eq!(first.unwrap(), second.unwrap(), "{algorithm} for {who:?}");
            }
        }
    }

    pub async fn another_sites_events_orders_and_offers_never_count(db: TestDb) {
        let shop = Shop::open(&db).await;
        let s = &shop.store;
        let other = s.create_site("Shop B").await.unwrap().0.id;
        let mut catalog: Vec<CatalogOffer> = ["p1", "p2", "p3", "p4", "p5", "p6"]
            .iter()
            .map(|id| offer(id, "c1", true))
            .collect();
        catalog.push(offer("x", "c1", true));
        import(s, &other, &catalog).await;
        catalog.push(offer("b-new", "c1", true));
        import(s, &other, &catalog).await;
        // Shop A's own contacts' addresses, on shop B: other contacts entirely.
        for who in ["u1", "u2", "u5", "w1", "w2"] {
            for product in ["p2", "p4", "x"] {
                view(s, &other, who, product, days_ago(1)).await;
            }
        }
        order(s, &other, "A-1", "w1", &["p6", "p4"], days_ago(1)).await;

        assert_eq!(
            shop.top(None, Algorithm::TopOffers).await,
            ["p5", "p3", "p1", "p6", "p2", "p4"]
        );
        assert_eq!(
            shop.top(Some("u1"), Algorithm::AlsoViewed).await,
            ["p5", "p4", "p6"]
        );
        assert_eq!(
            shop.top(None, Algorithm::NewArrivals).await,
            ["n1", "n2", "p1", "p2", "p3", "p4", "p5", "p6"]
        );
        let b_contact = s
            .find_contact(&other, Some(&Email::parse(&email("w1")).unwrap()), None)
            .await
            .unwrap()
            .unwrap()
            .id;
        for algorithm in [Algorithm::AlsoViewed, Algorithm::SameCategory] {
            let request = RecommendationRequest::new(algorithm, 10);
            let got = s
                .recommend(&shop.site, Some(b_contact), &request)
                .await
                .unwrap();
            assert!(
                got.is_empty(),
                "shop B's contact has no history in shop A: {got:?}"
            );
        }
    }
}

vestnik_testkit::db_cases_on_both_backends!(
    top_offers_rank_views_and_weighted_purchases_in_the_window,
    also_viewed_ranks_by_co_viewers_and_skips_seeds,
    same_category_uses_the_browsed_category_else_the_last_viewed_offers,
    new_arrivals_come_newest_first_then_by_id,
    cart_items_and_excluded_ids_are_never_recommended,
    unavailable_offers_are_never_recommended,
    the_same_state_gives_the_same_answer,
    another_sites_events_orders_and_offers_never_count,
);
