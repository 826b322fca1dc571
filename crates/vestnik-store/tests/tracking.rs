//! Tracking storage on SQLite and PostgreSQL: the shared installation secret, opens and clicks
//! only for the site's own campaign and contact, unsubscribes once.

use std::sync::Arc;
use vestnik_domain::template::{TemplateContent, TemplateKind};
use vestnik_domain::{ContactId, Email, NewContact, SiteId, Store, Subscription, Timestamp};
use vestnik_testkit::{Backend, TestDb};

/// One scalar from SQL on a connection of its own: campaigns are created here without the
/// campaign API, and events are read back directly.
async fn scalar(db: &TestDb, sql: String) -> i64 {
    use sqlx::Connection;
    let sql = sqlx::AssertSqlSafe(sql);
    match db.backend() {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&db.url()).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&db.url()).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
        }
    }
}

/// A site with a template, an SMTP provider and one campaign; returns the site and campaign.
async fn site_with_campaign(db: &TestDb, name: &str) -> (SiteId, i64) {
    let s = db.store();
    let site = s.create_site(name).await.unwrap().0.id;
    let template = s
        .create_template(
            &site,
            "Promo",
            &TemplateContent {
                subject: "Hi".into(),
                body: "<p>Hi</p>".into(),
                kind: TemplateKind::Html,
            },
            "test",
        )
        .await
        .unwrap();
    let provider = scalar(
        db,
        format!(
            "INSERT INTO smtp_providers (site_id, name, host, port, tls, pool_size, created_at, updated_at) \
             VALUES ('{site}', 'smtp', '127.0.0.1', 25, 'none', 1, 0, 0) RETURNING id"
        ),
    )
    .await;
    let campaign = scalar(
        db,
        format!(
            "INSERT INTO campaigns (site_id, name, template_id, template_version, subject, from_email, from_name, \
             recipient_kind, provider_id, send_at, segment_size, interval_minutes, state, created_at, updated_at) \
             VALUES ('{site}', 'Spring', {}, 1, 'Hi', 'shop@example.com', 'Shop', 'all', {provider}, 0, 1000, 0, \
             'done', 0, 0) RETURNING id",
            template.id.0
        ),
    )
    .await;
    (site, campaign)
}

async fn contact(s: &Arc<dyn Store>, site: &SiteId, email: &str, sub: Subscription) -> ContactId {
    s.insert_contact(
        site,
        &NewContact {
            email: Some(Email::parse(email).unwrap()),
            email_subscription: sub,
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .id
}

async fn events(db: &TestDb, campaign: i64, kind: &str) -> i64 {
    scalar(
        db,
        format!(
            "SELECT COUNT(*) FROM tracking_events WHERE campaign_id = {campaign} AND kind = '{kind}'"
        ),
    )
    .await
}

mod cases {
    use super::*;

    pub async fn the_install_secret_is_created_once_and_shared_by_every_node(db: TestDb) {
        let a = db.store();
        let b = db.another_node().await;
        let (x, y, z) = tokio::join!(
            a.install_secret("tracking"),
            b.install_secret("tracking"),
            a.install_secret("tracking")
        );
        let secret = x.unwrap();
        assert_eq!(secret.len(), 43, "32 bytes as base64url: {secret}");
        assert_eq!(y.unwrap(), secret);
        assert_eq!(z.unwrap(), secret);
        assert_eq!(
            db.another_node()
                .await
                .install_secret("tracking")
                .await
                .unwrap(),
            secret
        );
        assert_ne!(a.install_secret("other").await.unwrap(), secret);
    }

    pub async fn opens_and_clicks_are_recorded_for_the_sites_own_campaign(db: TestDb) {
        let s = db.store();
        let (site, campaign) = site_with_campaign(&db, "Shop").await;
        let anna = contact(&s, &site, "anna@example.com", Subscription::Subscribed).await;
        let now = Timestamp::now();
        assert!(
            s.record_open(&site, campaign, Some(anna), now)
                .await
                .unwrap()
        );
        assert!(
            s.record_open(&site, campaign, Some(anna), now)
                .await
                .unwrap()
        );
        // A test send to an address that is no contact counts too, without a contact.
        assert!(s.record_open(&site, campaign, None, now).await.unwrap());
        assert_eq!(events(&db, campaign, "open").await, 3);
        let url = "https://shop.example/p/1?utm_source=vestnik";
        assert!(
            s.record_click(&site, campaign, Some(anna), url, now)
                .await
                .unwrap()
        );
        let stored = scalar(
            &db,
            format!(
                "SELECT COUNT(*) FROM tracking_events WHERE campaign_id = {campaign} AND kind = 'click' \
                 AND contact_id = {} AND url = '{url}' AND created_at = {}",
                anna.0,
                now.millis()
            ),
        )
        .await;
        assert_eq!(stored, 1);
    }

    pub async fn another_sites_campaign_or_contact_records_nothing(db: TestDb) {
        let s = db.store();
        let (site_a, campaign_a) = site_with_campaign(&db, "Shop A").await;
        let (site_b, campaign_b) = site_with_campaign(&db, "Shop B").await;
        let anna = contact(&s, &site_a, "anna@example.com", Subscription::Subscribed).await;
        let boris = contact(&s, &site_b, "boris@example.com", Subscription::Subscribed).await;
        let now = Timestamp::now();
        // Site A's token naming site B's campaign, or site B's contact, or nothing that exists.
        assert!(
            !s.record_open(&site_a, campaign_b, Some(anna), now)
                .await
                .unwrap()
        );
        assert!(
            !s.record_open(&site_a, campaign_a, Some(boris), now)
                .await
                .unwrap()
        );
        assert!(
            !s.record_open(&site_a, campaign_a + campaign_b, None, now)
                .await
                .unwrap()
        );
        assert!(
            !s.record_click(&site_a, campaign_a, Some(boris), "https://a.example/", now)
                .await
                .unwrap()
        );
        assert!(
            !s.unsubscribe(&site_a, campaign_a, boris, now)
                .await
                .unwrap()
        );
        assert!(
            !s.unsubscribe(&site_a, campaign_b, boris, now)
                .await
                .unwrap()
        );
        assert_eq!(
            scalar(&db, "SELECT COUNT(*) FROM tracking_events".into()).await,
            0
        );
        let boris_now = s.get_contact(&site_b, boris).await.unwrap();
        assert_eq!(boris_now.email_subscription, Subscription::Subscribed);
    }

    pub async fn unsubscribing_twice_changes_and_records_once(db: TestDb) {
        let s = db.store();
        let (site, campaign) = site_with_campaign(&db, "Shop").await;
        let anna = contact(&s, &site, "anna@example.com", Subscription::Subscribed).await;
        let now = Timestamp::now();
        assert!(s.unsubscribe(&site, campaign, anna, now).await.unwrap());
        assert!(!s.unsubscribe(&site, campaign, anna, now).await.unwrap());
        let after = s.get_contact(&site, anna).await.unwrap();
        assert_eq!(after.email_subscription, Subscription::Unsubscribed);
        assert_eq!(after.updated_at, now);
        assert_eq!(events(&db, campaign, "unsubscribe").await, 1);

        // Concurrent one-click POSTs (mail providers retry): still one change, one event.
        let boris = contact(&s, &site, "boris@example.com", Subscription::Pending).await;
        let other = db.another_node().await;
        let (x, y) = tokio::join!(
            s.unsubscribe(&site, campaign, boris, now),
            other.unsubscribe(&site, campaign, boris, now)
        );
        assert_eq!([x.unwrap(), y.unwrap()].iter().filter(|c| **c).count(), 1);
        assert_eq!(events(&db, campaign, "unsubscribe").await, 2);
    }

    pub async fn bounced_contacts_stay_bounced_and_a_gone_campaign_still_unsubscribes(db: TestDb) {
        let s = db.store();
        let (site, campaign) = site_with_campaign(&db, "Shop").await;
        let bounced = contact(&s, &site, "gone@example.com", Subscription::Bounced).await;
        let now = Timestamp::now();
        assert!(!s.unsubscribe(&site, campaign, bounced, now).await.unwrap());
        assert_eq!(
            s.get_contact(&site, bounced)
                .await
                .unwrap()
                .email_subscription,
            Subscription::Bounced
        );
        // The person asked: a campaign deleted since the mail went out does not stop that.
        let anna = contact(&s, &site, "anna@example.com", Subscription::Subscribed).await;
        assert!(
            s.unsubscribe(&site, campaign + 1000, anna, now)
                .await
                .unwrap()
        );
        assert_eq!(
            s.get_contact(&site, anna).await.unwrap().email_subscription,
            Subscription::Unsubscribed
        );
        assert_eq!(
            scalar(&db, "SELECT COUNT(*) FROM tracking_events".into()).await,
            0
        );
    }
}

vestnik_testkit::db_cases_on_both_backends!(
    the_install_secret_is_created_once_and_shared_by_every_node,
    opens_and_clicks_are_recorded_for_the_sites_own_campaign,
    another_sites_campaign_or_contact_records_nothing,
    unsubscribing_twice_changes_and_records_once,
    bounced_contacts_stay_bounced_and_a_gone_campaign_still_unsubscribes,
);
