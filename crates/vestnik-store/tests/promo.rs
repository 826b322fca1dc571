//! Promo code pools on both backends: imports count duplicates, each code is handed out at
//! most once even to concurrent claimers, previews do not consume, and sites stay apart.

use std::collections::HashSet;
use std::sync::Arc;
use vestnik_domain::promo::PromoPool;
use vestnik_domain::{NewContact, SiteId, Store};
use vestnik_testkit::TestDb;

async fn new_site(s: &Arc<dyn Store>, name: &str) -> SiteId {
    s.create_site(name).await.unwrap().0.id
}

fn codes(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i:04}")).collect()
}

mod cases {
    use super::*;

    pub async fn imports_count_duplicates_and_codes_go_out_in_order(db: TestDb) {
        let s = db.store();
        let site = new_site(&s, "Shop").await;
        let mut batch = codes("SALE", 3);
        batch.push("SALE-0001".into());
        let first = s.import_promo_codes(&site, "summer", &batch).await.unwrap();
        assert_eq!((first.added, first.duplicates), (3, 1));
        let again = s
            .import_promo_codes(&site, "summer", &["SALE-0002".into(), "SALE-0003".into()])
            .await
            .unwrap();
        assert_eq!((again.added, again.duplicates), (1, 1));

        let buyer = s
            .insert_contact(
                &site,
                &NewContact {
                    email: Some(vestnik_domain::Email::parse("a@shop.ru").unwrap()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(
            s.peek_promo_code(&site, "summer").await.unwrap().as_deref(),
            Some("SALE-0000")
        );
        assert_eq!(
            s.peek_promo_code(&site, "summer").await.unwrap().as_deref(),
            Some("SALE-0000"),
            "peeking hands nothing out"
        );
        let mut handed = Vec::new();
        for i in 0..4 {
            handed.push(
                s.claim_promo_code(&site, "summer", Some(buyer.id), &format!("campaign:{i}"))
                    .await
                    .unwrap()
                    .unwrap(),
            );
        }
        assert_eq!(handed, ["SALE-0000", "SALE-0001", "SALE-0002", "SALE-0003"]);
        // The same message rendered again (a retry, the web view) shows the same code.
        assert_eq!(
            s.claim_promo_code(&site, "summer", Some(buyer.id), "campaign:2")
                .await
                .unwrap()
                .as_deref(),
            Some("SALE-0002")
        );
        assert_eq!(
            s.claim_promo_code(&site, "summer", None, "campaign:1")
                .await
                .unwrap(),
            None,
            "exhausted"
        );
        assert_eq!(s.peek_promo_code(&site, "summer").await.unwrap(), None);
        assert_eq!(
            s.claim_promo_code(&site, "no-such-pool", None, "x")
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            s.promo_pools(&site).await.unwrap(),
            vec![PromoPool {
                pool: "summer".into(),
                total: 4,
                issued: 4
            }]
        );
    }

    pub async fn concurrent_claims_never_share_a_code(db: TestDb) {
        let s = db.store();
        let site = new_site(&s, "Shop").await;
        s.import_promo_codes(&site, "default", &codes("C", 30))
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for i in 0..50 {
            let s = s.clone();
            let site = site.clone();
            tasks.push(tokio::spawn(async move {
                s.claim_promo_code(&site, "default", None, &format!("render:{i}"))
                    .await
                    .unwrap()
            }));
        }
        let mut got = Vec::new();
        for t in tasks {
            if let Some(code) = t.await.unwrap() {
                got.push(code);
            }
        }
        assert_eq!(got.len(), 30, "every code handed out, 20 claims found none");
        assert_eq!(
            got.iter().collect::<HashSet<_>>().len(),
            30,
            "no code twice"
        );
    }

    pub async fn sites_never_share_codes(db: TestDb) {
        let s = db.store();
        let mine = new_site(&s, "Mine").await;
        let theirs = new_site(&s, "Theirs").await;
        s.import_promo_codes(&mine, "default", &codes("M", 2))
            .await
            .unwrap();
        let same = s
            .import_promo_codes(&theirs, "default", &codes("M", 2))
            .await
            .unwrap();
        assert_eq!(
            same.added, 2,
            "the same codes in another site's pool are not duplicates"
        );
        assert_eq!(
            s.claim_promo_code(&theirs, "default", None, "x")
                .await
                .unwrap()
                .as_deref(),
            Some("M-0000")
        );
        assert_eq!(
            s.promo_pools(&mine).await.unwrap()[0].issued,
            0,
            "their claim used their pool"
        );
    }
}

vestnik_testkit::db_cases_on_both_backends!(
    imports_count_duplicates_and_codes_go_out_in_order,
    concurrent_claims_never_share_a_code,
    sites_never_share_codes,
);
