//! Campaigns on both backends: providers, recipient snapshots that resume after a crash, and
//! delivery claims that hand each recipient to exactly one sender.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use vestnik_domain::campaign::{
    CampaignId, CampaignState, DeliveryResult, DeliveryState, DkimAlgorithm, NewCampaign,
    NewProvider, Recipients, SmtpTls, SnapshotSource,
};
use vestnik_domain::template::{TemplateContent, TemplateKind};
use vestnik_domain::{
    ContactId, Email, NewContact, SiteId, Store, StoreError, Subscription, Timestamp,
};
use vestnik_testkit::TestDb;

async fn new_site(s: &Arc<dyn Store>, name: &str) -> SiteId {
    s.create_site(name).await.unwrap().0.id
}

fn provider(name: &str) -> NewProvider {
    NewProvider {
        name: name.into(),
        host: "127.0.0.1".into(),
        port: 2525,
        tls: SmtpTls::None,
        username: Some("user".into()),
        password: Some("secret".into()),
        rate_per_sec: Some(100.0),
        pool_size: 4,
    }
}

async fn contact(
    s: &Arc<dyn Store>,
    site: &SiteId,
    email: Option<&str>,
    sub: Subscription,
) -> ContactId {
    let c = s
        .insert_contact(
            site,
            &NewContact {
                email: email.map(|e| Email::parse(e).unwrap()),
                phone: email
                    .is_none()
                    .then(|| vestnik_domain::Phone::parse("+79991234567").unwrap()),
                email_subscription: sub,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    c.id
}

/// A site with a provider, a template and a campaign to `recipients`.
async fn campaign(
    s: &Arc<dyn Store>,
    site: &SiteId,
    recipients: Recipients,
    segment_size: u32,
) -> CampaignId {
    let provider = match s.find_provider(site, "main").await.unwrap() {
        Some(p) => p,
        None => s.create_provider(site, &provider("main")).await.unwrap(),
    };
    let template = s
        .create_template(
            site,
            &format!("t{}", Timestamp::now().millis()),
            &TemplateContent {
                subject: "Hi".into(),
                body: "<p>Hi</p>".into(),
                kind: TemplateKind::Html,
            },
            "test",
        )
        .await
        .unwrap();
    s.create_campaign(
        site,
        &NewCampaign {
            name: "Sale".into(),
            template_id: template.id,
            template_version: template.version,
            subject: "Скидки".into(),
            from_email: Email::parse("news@shop.example").unwrap(),
            from_name: "Магазин".into(),
            recipients,
            provider_id: provider.id,
            send_at: Timestamp::now(),
            segment_size,
            interval_minutes: 0,
            disable_banner: false,
            utm: None,
            state: CampaignState::Scheduled,
        },
    )
    .await
    .unwrap()
    .id
}

fn sent(id: vestnik_domain::campaign::DeliveryId) -> DeliveryResult {
    DeliveryResult {
        id,
        state: DeliveryState::Sent,
        smtp_code: Some(250),
        reply: Some("250 OK".into()),
        retry_at: None,
        hard_bounce: false,
    }
}

mod cases {
    use super::*;

    pub async fn providers_are_per_site_and_hide_their_password(db: TestDb) {
        let s = db.store();
        let mine = new_site(&s, "Mine").await;
        let theirs = new_site(&s, "Theirs").await;
        let p = s.create_provider(&mine, &provider("main")).await.unwrap();
        assert_eq!(
            (p.port, p.tls, p.rate_per_sec),
            (2525, SmtpTls::None, Some(100.0))
        );
        assert_eq!(p.password.as_deref(), Some("secret"));
        assert!(!format!("{p:?}").contains("secret"));
        assert!(!serde_json::to_string(&p).unwrap().contains("secret"));
        let dup = s.create_provider(&mine, &provider("main")).await;
        assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
        s.create_provider(&theirs, &provider("main")).await.unwrap();
        let other = s.get_provider(&theirs, p.id).await;
        assert!(matches!(other, Err(StoreError::NotFound(_))));
        assert_eq!(s.providers(&mine).await.unwrap().len(), 1);

        let d = s
            .create_sender_domain(&mine, "shop.example", "v1", DkimAlgorithm::Ed25519, "KEY")
            .await
            .unwrap();
        assert_eq!(d.domain, "shop.example");
        assert!(
            s.find_sender_domain(&theirs, "shop.example")
                .await
                .unwrap()
                .is_none()
        );
        let found = s
            .find_sender_domain(&mine, "shop.example")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (found.selector.as_str(), found.private_key.as_str()),
            ("v1", "KEY")
        );
    }

    pub async fn a_snapshot_excludes_the_unreachable_and_resumes_without_duplicates(db: TestDb) {
        let s = db.store();
        let site = new_site(&s, "Shop").await;
        let list = s.create_list(&site, "Newsletter").await.unwrap();
        let mut members = Vec::new();
        for (email, sub) in [
            (Some("a@x.ru"), Subscription::Subscribed),
            (Some("b@x.ru"), Subscription::Unsubscribed),
            (Some("c@x.ru"), Subscription::Subscribed),
            (None, Subscription::Subscribed),
            (Some("d@x.ru"), Subscription::Bounced),
            (Some("e@x.ru"), Subscription::Subscribed),
            (Some("f@x.ru"), Subscription::Blocked),
            (Some("g@x.ru"), Subscription::Subscribed),
        ] {
            members.push(contact(&s, &site, email, sub).await);
        }
        // Not on the list: never a recipient.
        contact(&s, &site, Some("outsider@x.ru"), Subscription::Subscribed).await;
        s.add_to_list(&site, list.id, &members).await.unwrap();
        let c = campaign(&s, &site, Recipients::List { list_id: list.id }, 3).await;

        let mut added = 0;
        let mut pages = 0;
        loop {
            let page = s
                .snapshot_next(&site, c, SnapshotSource::List(list.id), 3)
                .await
                .unwrap();
            added += page.added;
            pages += 1;
            if page.complete {
                break;
            }
        }
        assert_eq!((added, pages), (4, 3));
        // A crash after the last page: running it again writes nobody twice.
        let again = s
            .snapshot_next(&site, c, SnapshotSource::List(list.id), 3)
            .await
            .unwrap();
        assert_eq!(again.added, 0);
        let campaign = s.get_campaign(&site, c).await.unwrap();
        assert_eq!(campaign.recipients_count, 4);
        assert_eq!(
            (
                campaign.excluded.unsubscribed,
                campaign.excluded.bounced,
                campaign.excluded.blocked
            ),
            (1, 1, 1)
        );
        assert!(s.snapshot_cursor(c).await.unwrap().1);
        // Segments of 3: the first three recipients are batch 0, the fourth batch 1.
        let now = Timestamp::now();
        let first = s
            .claim_deliveries(c, 0, "w", now.plus(Duration::from_secs(60)), 100, now)
            .await
            .unwrap();
        let emails: Vec<_> = first.iter().map(|d| d.email.as_str()).collect();
        assert_eq!(emails, ["a@x.ru", "c@x.ru", "e@x.ru"]);
        let rest = s
            .claim_deliveries(c, 1, "w", now.plus(Duration::from_secs(60)), 100, now)
            .await
            .unwrap();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].email, "g@x.ru");
    }

    pub async fn claims_are_exclusive_and_a_crash_window_is_resent_and_counted(db: TestDb) {
        let s = db.store();
        let site = new_site(&s, "Shop").await;
        for i in 0..40 {
            contact(
                &s,
                &site,
                Some(&format!("u{i}@x.ru")),
                Subscription::Subscribed,
            )
            .await;
        }
        let c = campaign(&s, &site, Recipients::All, 1000).await;
        while !s
            .snapshot_next(&site, c, SnapshotSource::All, 1000)
            .await
            .unwrap()
            .complete
        {}
        let now = Timestamp::now();
        let lease = now.plus(Duration::from_secs(30));
        let (a, b) = tokio::join!(
            s.claim_deliveries(c, 0, "node-a", lease, 15, now),
            s.claim_deliveries(c, 0, "node-b", lease, 15, now)
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.len() + b.len(), 30);
        let ids: HashSet<_> = a.iter().chain(&b).map(|d| d.id).collect();
        assert_eq!(ids.len(), 30, "a delivery was claimed twice");

        // node-a finishes; node-b "dies" holding its rows.
        let results: Vec<_> = a.iter().map(|d| sent(d.id)).collect();
        assert_eq!(
            s.record_deliveries(&site, "node-a", &results, now)
                .await
                .unwrap(),
            15
        );
        // A stale owner cannot write outcomes for rows it does not hold.
        let stale: Vec<_> = b.iter().map(|d| sent(d.id)).collect();
        assert_eq!(
            s.record_deliveries(&site, "node-a", &stale, now)
                .await
                .unwrap(),
            0
        );

        // Before the lease ends nobody else gets node-b's rows; after, they come back flagged.
        let early = s
            .claim_deliveries(c, 0, "node-c", now.plus(Duration::from_secs(90)), 100, now)
            .await
            .unwrap();
        assert_eq!(early.len(), 10, "only the untouched rows");
        assert!(early.iter().all(|d| !d.resumed_in_flight));
        let later = now.plus(Duration::from_secs(31));
        let resumed = s
            .claim_deliveries(
                c,
                0,
                "node-c",
                later.plus(Duration::from_secs(30)),
                100,
                later,
            )
            .await
            .unwrap();
        assert_eq!(resumed.len(), 15);
        assert!(
            resumed
                .iter()
                .all(|d| d.resumed_in_flight && d.attempts == 2)
        );

        // Outcomes: one hard bounce, one deferral, the rest sent.
        let mut results: Vec<_> = early.iter().chain(&resumed).map(|d| sent(d.id)).collect();
        results[0] = DeliveryResult {
            state: DeliveryState::Failed,
            smtp_code: Some(550),
            reply: Some("550 5.1.1 no such user".into()),
            hard_bounce: true,
            ..sent(results[0].id)
        };
        results[1] = DeliveryResult {
            state: DeliveryState::Deferred,
            smtp_code: Some(451),
            reply: Some("451 try later".into()),
            retry_at: Some(later.plus(Duration::from_secs(60))),
            ..sent(results[1].id)
        };
        assert_eq!(
            s.record_deliveries(&site, "node-c", &results, later)
                .await
                .unwrap(),
            25
        );
        let counts = s.delivery_counts(c).await.unwrap();
        assert_eq!(
            (
                counts.sent,
                counts.failed,
                counts.bounced,
                counts.deferred,
                counts.possibly_duplicated
            ),
            (38, 1, 1, 1, 15)
        );
        assert!(!counts.is_finished());
        let (retry_at, pending_batch) = s.next_delivery_work(c).await.unwrap();
        assert_eq!(retry_at, Some(later.plus(Duration::from_secs(60))));
        assert_eq!(pending_batch, None);
        // The bounced address is marked so the next campaign skips it.
        let bounced_email = early[0].email.clone();
        let bounced = s
            .find_contact(&site, Some(&Email::parse(&bounced_email).unwrap()), None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(bounced.email_subscription, Subscription::Bounced);
        // The deferred row is not due yet, then it is.
        let none = s
            .claim_deliveries(
                c,
                0,
                "node-c",
                later.plus(Duration::from_secs(30)),
                100,
                later,
            )
            .await
            .unwrap();
        assert!(none.is_empty());
        let due = later.plus(Duration::from_secs(61));
        let retry = s
            .claim_deliveries(c, 0, "node-c", due.plus(Duration::from_secs(30)), 100, due)
            .await
            .unwrap();
        assert_eq!(retry.len(), 1);
        assert_eq!(s.release_deliveries(c, "node-c").await.unwrap(), 1);
        assert_eq!(s.delivery_counts(c).await.unwrap().pending, 1);
    }

    pub async fn state_changes_are_compare_and_set(db: TestDb) {
        let s = db.store();
        let site = new_site(&s, "Shop").await;
        let other = new_site(&s, "Other").await;
        let c = campaign(&s, &site, Recipients::All, 10).await;
        let now = Timestamp::now();
        use CampaignState::*;
        assert!(
            !s.transition_campaign(&other, c, &[Scheduled], Sending, None, now)
                .await
                .unwrap()
        );
        assert!(
            s.transition_campaign(&site, c, &[Scheduled], Sending, None, now)
                .await
                .unwrap()
        );
        assert!(
            !s.transition_campaign(&site, c, &[Scheduled], Sending, None, now)
                .await
                .unwrap()
        );
        assert!(
            s.transition_campaign(&site, c, &[Sending], Paused, Some("provider down"), now)
                .await
                .unwrap()
        );
        let paused = s.get_campaign(&site, c).await.unwrap();
        assert_eq!(paused.state, Paused);
        assert_eq!(paused.state_reason.as_deref(), Some("provider down"));
        assert!(paused.started_at.is_some());
        assert!(
            s.transition_campaign(&site, c, &[Paused, Sending], Cancelled, None, now)
                .await
                .unwrap()
        );
        assert!(
            s.get_campaign(&site, c)
                .await
                .unwrap()
                .finished_at
                .is_some()
        );
        assert!(matches!(
            s.get_campaign(&other, c).await,
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(s.campaigns(&site, 10).await.unwrap().len(), 1);
    }

    pub async fn a_test_send_goes_to_one_address_once(db: TestDb) {
        let s = db.store();
        let site = new_site(&s, "Shop").await;
        let email = Email::parse("me@shop.example").unwrap();
        let c = campaign(
            &s,
            &site,
            Recipients::Address {
                email: email.clone(),
            },
            1000,
        )
        .await;
        assert_eq!(s.snapshot_address(&site, c, &email).await.unwrap().added, 1);
        assert_eq!(s.snapshot_address(&site, c, &email).await.unwrap().added, 0);
        let now = Timestamp::now();
        let claimed = s
            .claim_deliveries(c, 0, "w", now.plus(Duration::from_secs(5)), 10, now)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].contact_id, None);
        assert_eq!(claimed[0].email, "me@shop.example");
    }
}

vestnik_testkit::db_cases_on_both_backends!(
    providers_are_per_site_and_hide_their_password,
    a_snapshot_excludes_the_unreachable_and_resumes_without_duplicates,
    claims_are_exclusive_and_a_crash_window_is_resent_and_counted,
    state_changes_are_compare_and_set,
    a_test_send_goes_to_one_address_once,
);
