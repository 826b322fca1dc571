//! Campaigns end to end on both backends, over real SMTP to an in-process SMTP server: the
//! form's checks before anything is sent, exactly one message per reachable recipient with
//! tracked links and unsubscribe headers, bounces, pause/resume, and a provider going down.

use mail_parser::MessageParser;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use vestnik_domain::campaign::{
    CampaignId, CampaignState, DkimAlgorithm, NewCampaign, NewProvider, Recipients, SmtpTls,
};
use vestnik_domain::template::{TemplateContent, TemplateId, TemplateKind};
use vestnik_domain::{Email, ListId, NewContact, SiteId, Store, Subscription, Timestamp};
use vestnik_engine::campaign::{
    CAMPAIGN_SEND_JOB, CampaignError, CampaignRequest, CampaignSendJob, MailContext, ProviderRef,
    RecipientsRequest, SendConfig, campaign_report, create_campaign, pause_campaign,
    resume_campaign,
};
use vestnik_engine::{JobRunner, RunnerConfig};
use vestnik_testkit::TestDb;
use vestnik_testkit::smtp::SmtpSink;

const PUBLIC_URL: &str = "https://vestnik.test";

const TEMPLATE: &str = r#"<mjml><mj-body><mj-section><mj-column>
<mj-text>Здравствуйте, {{ lead.name }}!</mj-text>
<mj-button href="https://shop.example/sale?from=mail">Скидки</mj-button>
<mj-text><a href="{{ unsubscribe_url }}">Отписаться</a> · <a href="{{ webview_url }}">В браузере</a> · <a href="mailto:help@shop.example">Помощь</a></mj-text>
</mj-column></mj-section></mj-body></mjml>"#;

struct Fixture {
    store: Arc<dyn Store>,
    ctx: MailContext,
    site: SiteId,
    template: TemplateId,
    list: ListId,
    sink: SmtpSink,
}

async fn fixture(db: &TestDb, subscribed: usize, unsubscribed: usize) -> Fixture {
    let store = db.store();
    let site = store.create_site("Shop").await.unwrap().0.id;
    let sink = SmtpSink::start();
    store
        .create_provider(
            &site,
            &NewProvider {
                name: "sink".into(),
                host: "127.0.0.1".into(),
                port: sink.port(),
                tls: SmtpTls::None,
                username: None,
                password: None,
                rate_per_sec: None,
                pool_size: 4,
            },
        )
        .await
        .unwrap();
    let template = store
        .create_template(
            &site,
            "Sale",
            &TemplateContent {
                subject: "Скидки для вас, {{ lead.name }}".into(),
                body: TEMPLATE.into(),
                kind: TemplateKind::Mjml,
            },
            "test",
        )
        .await
        .unwrap();
    let list = store.create_list(&site, "Newsletter").await.unwrap();
    let mut ids = Vec::new();
    for i in 0..subscribed + unsubscribed {
        let c = store
            .insert_contact(
                &site,
                &NewContact {
                    email: Some(Email::parse(&format!("user{i}@example.com")).unwrap()),
                    fields: vestnik_domain::ContactFields {
                        name: Some(format!("Анна {i}")),
                        ..Default::default()
                    },
                    email_subscription: if i < subscribed {
                        Subscription::Subscribed
                    } else {
                        Subscription::Unsubscribed
                    },
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        ids.push(c.id);
    }
    store.add_to_list(&site, list.id, &ids).await.unwrap();
    let ctx = MailContext::load(store.clone(), PUBLIC_URL).await.unwrap();
    Fixture {
        store,
        ctx,
        site,
        template: template.id,
        list: list.id,
        sink,
    }
}

fn request(f: &Fixture) -> CampaignRequest {
    CampaignRequest {
        name: Some("Black Friday".into()),
        template_id: f.template.0,
        subject: None,
        from_email: "news@shop.example".into(),
        from_name: "Магазин «Вестник»".into(),
        recipients: RecipientsRequest {
            list: Some(serde_json::json!("Newsletter")),
            ..Default::default()
        },
        send_at: None,
        segment_size: None,
        interval_minutes: None,
        provider: None,
        disable_banner: false,
        utm: None,
        draft: false,
    }
}

/// Runs a job runner with the campaign sender until the campaign leaves `sending`/`scheduled`.
async fn send_until_settled(f: &Fixture, campaign: CampaignId) -> CampaignState {
    let mut runner = JobRunner::new(
        f.store.clone(),
        "test-node",
        RunnerConfig {
            idle_poll: Duration::from_millis(20),
            ..Default::default()
        },
    );
    runner.register(
        CAMPAIGN_SEND_JOB,
        CampaignSendJob::new(
            f.ctx.clone(),
            SendConfig {
                provider_down_after: 4,
                retry_base: Duration::from_millis(20),
                ..Default::default()
            },
        ),
    );
    let stop = CancellationToken::new();
    let task = tokio::spawn(runner.run(stop.clone()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let state = loop {
        let c = f.store.get_campaign(&f.site, campaign).await.unwrap();
        if !matches!(c.state, CampaignState::Sending | CampaignState::Scheduled) {
            break c.state;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "campaign still {:?}",
            c.state
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
    state
}

mod cases {
    use super::*;

    pub async fn every_reachable_recipient_gets_one_tracked_message(db: TestDb) {
        let f = fixture(&db, 12, 3).await;
        let created = create_campaign(&f.ctx, &f.site, request(&f)).await.unwrap();
        assert_eq!(created.reachable, 12);
        assert_eq!(created.warnings.len(), 1, "{:?}", created.warnings);
        assert!(created.warnings[0].contains("shop.example"));
        let state = send_until_settled(&f, created.campaign.id).await;
        assert_eq!(state, CampaignState::Done);

        let messages = f.sink.messages();
        assert_eq!(messages.len(), 12);
        let recipients: HashSet<_> = messages.iter().map(|m| m.recipients[0].clone()).collect();
        assert_eq!(recipients.len(), 12, "a recipient got two messages");
        assert!(
            !recipients.contains("user13@example.com"),
            "unsubscribed got mail"
        );
        let c = created.campaign.id;
        let mut ids = HashSet::new();
        for m in &messages {
            let parsed = MessageParser::default().parse(&m.data).unwrap();
            let to = &m.recipients[0];
            let n: usize = to
                .trim_start_matches("user")
                .trim_end_matches("@example.com")
                .parse()
                .unwrap();
            assert_eq!(
                parsed.subject().unwrap(),
                format!("Скидки для вас, Анна {n}")
            );
            let from = parsed.from().unwrap().first().unwrap();
            assert_eq!(from.name().unwrap(), "Магазин «Вестник»");
            let id = parsed.message_id().unwrap().to_string();
            assert!(
                id.starts_with(&format!("c{c}.r"))
                    && id.ends_with(&format!(".{}@shop.example", f.site)),
                "{id}"
            );
            ids.insert(id);
            let html = parsed.body_html(0).unwrap();
            assert!(html.contains(&format!("Здравствуйте, Анна {n}!")));
            assert!(
                !html.contains("https://shop.example/sale"),
                "the shop link was not rewritten"
            );
            assert!(html.contains(&format!("{PUBLIC_URL}/t/c/")));
            assert!(
                html.contains(&format!("{PUBLIC_URL}/t/o/")),
                "no open pixel"
            );
            assert!(
                html.contains("mailto:help@shop.example"),
                "mailto was rewritten"
            );
            let unsubscribe = parsed.header_raw("List-Unsubscribe").unwrap().to_string();
            assert!(
                unsubscribe.contains(&format!("{PUBLIC_URL}/t/u/")),
                "{unsubscribe}"
            );
            assert!(
                html.contains(&format!("{PUBLIC_URL}/t/u/")),
                "unsubscribe link rewritten"
            );
            assert_eq!(
                parsed.header_raw("List-Unsubscribe-Post").unwrap().trim(),
                "List-Unsubscribe=One-Click"
            );
            assert!(parsed.body_text(0).unwrap().contains(&format!("Анна {n}")));
        }
        assert_eq!(ids.len(), 12, "Message-IDs must differ per recipient");

        let report = campaign_report(&f.ctx, &f.site, c).await.unwrap();
        assert_eq!(report.recipients, 12);
        assert_eq!(report.deliveries.sent, 12);
        assert_eq!(report.deliveries.possibly_duplicated, 0);
        assert_eq!(report.campaign.excluded.unsubscribed, 3);
        assert_eq!(report.rates.delivered, 100.0);
        assert!(report.campaign.finished_at.is_some());
    }

    pub async fn mail_from_a_configured_domain_carries_a_valid_dkim_signature(db: TestDb) {
        for algorithm in [DkimAlgorithm::Ed25519, DkimAlgorithm::Rsa2048] {
            let f = fixture(&db, 3, 0).await;
            let key = vestnik_engine::campaign::generate_dkim_key(algorithm, "shop.example", "v1")
                .unwrap();
            let domain = f
                .store
                .create_sender_domain(&f.site, "shop.example", "v1", algorithm, &key)
                .await
                .unwrap();
            let (record_name, record_value) = vestnik_engine::campaign::dkim_key(&domain)
                .unwrap()
                .dns_record();
            let created = create_campaign(&f.ctx, &f.site, request(&f)).await.unwrap();
            assert!(created.warnings.is_empty(), "{:?}", created.warnings);
            assert_eq!(
                send_until_settled(&f, created.campaign.id).await,
                CampaignState::Done
            );
            let messages = f.sink.messages();
            assert_eq!(messages.len(), 3);
            for m in messages {
                assert!(
                    m.data.starts_with(b"DKIM-Signature:"),
                    "{algorithm:?}: not signed"
                );
                vestnik_mail::verify_dkim(&m.data, &record_name, &record_value)
                    .await
                    .unwrap_or_else(|e| panic!("{algorithm:?}: {e}"));
            }
        }
    }

    pub async fn a_hard_bounce_is_recorded_and_the_address_marked(db: TestDb) {
        let f = fixture(&db, 5, 0).await;
        f.sink
            .reject_recipient("user2@example.com", 550, "5.1.1 No such user");
        let created = create_campaign(&f.ctx, &f.site, request(&f)).await.unwrap();
        assert_eq!(
            send_until_settled(&f, created.campaign.id).await,
            CampaignState::Done
        );
        let report = campaign_report(&f.ctx, &f.site, created.campaign.id)
            .await
            .unwrap();
        assert_eq!(
            (
                report.deliveries.sent,
                report.deliveries.failed,
                report.deliveries.bounced
            ),
            (4, 1, 1)
        );
        let bounced = f
            .store
            .find_contact(
                &f.site,
                Some(&Email::parse("user2@example.com").unwrap()),
                None,
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(bounced.email_subscription, Subscription::Bounced);
        // The next campaign leaves the bounced address out and says so.
        let next = create_campaign(&f.ctx, &f.site, request(&f)).await.unwrap();
        assert_eq!(next.reachable, 4);
    }

    pub async fn rate_limit_answers_slow_the_campaign_and_deferred_mail_goes_out_later(db: TestDb) {
        let f = fixture(&db, 12, 0).await;
        f.sink.rate_limit_every(3);
        let created = create_campaign(&f.ctx, &f.site, request(&f)).await.unwrap();
        assert_eq!(
            send_until_settled(&f, created.campaign.id).await,
            CampaignState::Done
        );
        let report = campaign_report(&f.ctx, &f.site, created.campaign.id)
            .await
            .unwrap();
        assert_eq!((report.deliveries.sent, report.deliveries.failed), (12, 0));
        let recipients: HashSet<_> = f
            .sink
            .messages()
            .iter()
            .map(|m| m.recipients[0].clone())
            .collect();
        assert_eq!(
            recipients.len(),
            12,
            "a deferred recipient never got the mail"
        );
        let note = report.campaign.throttle_note.unwrap_or_default();
        assert!(
            note.contains("421"),
            "the report says why it slowed: {note:?}"
        );
    }

    pub async fn a_segment_and_then_its_non_openers_get_the_campaign(db: TestDb) {
        let f = fixture(&db, 6, 0).await;
        // Contacts 0..=2 live in Kazan.
        for i in 0..3 {
            let mut c = f
                .store
                .find_contact(
                    &f.site,
                    Some(&Email::parse(&format!("user{i}@example.com")).unwrap()),
                    None,
                )
                .await
                .unwrap()
                .unwrap();
            c.fields.city = Some("Казань".into());
            f.store.update_contact(&f.site, &c).await.unwrap();
        }
        let condition = vestnik_domain::segment::Condition::parse(
            &serde_json::json!({"all": [{"field": "city", "op": "eq", "value": "Казань"}]}),
        )
        .unwrap();
        let segment = f
            .store
            .create_segment(&f.site, "Kazan", &condition)
            .await
            .unwrap();
        let mut req = request(&f);
        req.recipients = RecipientsRequest {
            segment_id: Some(segment.id.0),
            ..Default::default()
        };
        let created = create_campaign(&f.ctx, &f.site, req).await.unwrap();
        assert_eq!(created.reachable, 3);
        assert_eq!(
            send_until_settled(&f, created.campaign.id).await,
            CampaignState::Done
        );
        let mut got: Vec<String> = f
            .sink
            .messages()
            .iter()
            .map(|m| m.recipients[0].clone())
            .collect();
        got.sort();
        assert_eq!(
            got,
            [
                "user0@example.com",
                "user1@example.com",
                "user2@example.com"
            ]
        );

        // user1 opens it; the follow-up goes to the other two.
        let user1 = f
            .store
            .find_contact(
                &f.site,
                Some(&Email::parse("user1@example.com").unwrap()),
                None,
            )
            .await
            .unwrap()
            .unwrap();
        f.store
            .record_open(
                &f.site,
                created.campaign.id.0,
                Some(user1.id),
                Timestamp::now(),
            )
            .await
            .unwrap();
        let follow_up = vestnik_engine::campaign::resend_to_non_openers(
            &f.ctx,
            &f.site,
            created.campaign.id,
            Some("Напоминаем".into()),
            None,
        )
        .await
        .unwrap();
        assert_eq!(follow_up.reachable, 2);
        assert_eq!(follow_up.campaign.subject, "Напоминаем");
        assert_eq!(
            send_until_settled(&f, follow_up.campaign.id).await,
            CampaignState::Done
        );
        let messages = f.sink.messages();
        let mut second: Vec<String> = messages[3..]
            .iter()
            .map(|m| m.recipients[0].clone())
            .collect();
        second.sort();
        assert_eq!(second, ["user0@example.com", "user2@example.com"]);
    }

    pub async fn a_transactional_message_goes_out_at_once_with_its_variables(db: TestDb) {
        use vestnik_engine::campaign::{
            TransactionalOutcome, TransactionalRequest, send_transactional,
        };
        let f = fixture(&db, 1, 0).await;
        let template = f
            .store
            .create_template(
                &f.site,
                "Order",
                &TemplateContent {
                    subject: "Заказ {{ order_id }} принят".into(),
                    body: "<p>{{ lead.name }}, заказ {{ vars.order_id }} на {{ total }}.</p>\
                           {% if skip %}{{ exit() }}{% endif %}"
                        .into(),
                    kind: TemplateKind::Html,
                },
                "test",
            )
            .await
            .unwrap();
        let request = |to: &str, vars: serde_json::Value| TransactionalRequest {
            template_id: template.id.0,
            to: to.into(),
            from_email: "orders@shop.example".into(),
            from_name: "Магазин".into(),
            subject: None,
            provider: None,
            variables: vars.as_object().unwrap().clone(),
        };
        let sent = send_transactional(
            &f.ctx,
            &f.site,
            request(
                "user0@example.com",
                serde_json::json!({"order_id": "A-1042", "total": "4 990 ₽"}),
            ),
        )
        .await
        .unwrap();
        let TransactionalOutcome::Sent { message_id, .. } = sent else {
            panic!("not sent: {sent:?}");
        };
        let messages = f.sink.messages();
        assert_eq!(messages.len(), 1);
        let parsed = MessageParser::default().parse(&messages[0].data).unwrap();
        assert_eq!(parsed.subject().unwrap(), "Заказ A-1042 принят");
        assert_eq!(parsed.message_id().unwrap(), message_id);
        let html = parsed.body_html(0).unwrap();
        assert!(html.contains("Анна 0, заказ A-1042 на 4 990 ₽."), "{html}");
        // Not a contact: still sent, with an empty lead.
        let other = send_transactional(
            &f.ctx,
            &f.site,
            request(
                "stranger@example.com",
                serde_json::json!({"order_id": "B-7"}),
            ),
        )
        .await
        .unwrap();
        assert!(
            matches!(other, TransactionalOutcome::Sent { .. }),
            "{other:?}"
        );
        let skipped = send_transactional(
            &f.ctx,
            &f.site,
            request("user0@example.com", serde_json::json!({"skip": true})),
        )
        .await
        .unwrap();
        assert!(matches!(skipped, TransactionalOutcome::Skipped));
        let bad = send_transactional(&f.ctx, &f.site, request("nope", serde_json::json!({}))).await;
        assert!(
            matches!(bad, Err(CampaignError::Invalid(ref v)) if v.field == "to"),
            "{bad:?}"
        );
        assert_eq!(f.sink.count(), 2);
    }

    pub async fn a_paused_campaign_sends_nothing_until_resumed(db: TestDb) {
        let f = fixture(&db, 6, 0).await;
        let created = create_campaign(&f.ctx, &f.site, request(&f)).await.unwrap();
        let paused = pause_campaign(&f.ctx, &f.site, created.campaign.id)
            .await
            .unwrap();
        assert_eq!(paused.state, CampaignState::Paused);
        assert_eq!(
            send_until_settled(&f, created.campaign.id).await,
            CampaignState::Paused
        );
        assert_eq!(f.sink.count(), 0);
        resume_campaign(&f.ctx, &f.site, created.campaign.id)
            .await
            .unwrap();
        assert_eq!(
            send_until_settled(&f, created.campaign.id).await,
            CampaignState::Done
        );
        assert_eq!(f.sink.count(), 6);
    }

    pub async fn a_provider_going_down_pauses_the_campaign_with_the_reason(db: TestDb) {
        let f = fixture(&db, 8, 0).await;
        // A provider nobody listens on; created directly, as if it went down after creation.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let dead = f
            .store
            .create_provider(
                &f.site,
                &NewProvider {
                    name: "dead".into(),
                    host: "127.0.0.1".into(),
                    port,
                    tls: SmtpTls::None,
                    username: None,
                    password: None,
                    rate_per_sec: None,
                    pool_size: 2,
                },
            )
            .await
            .unwrap();
        let campaign = f
            .store
            .create_campaign(
                &f.site,
                &NewCampaign {
                    name: "Down".into(),
                    template_id: f.template,
                    template_version: 1,
                    subject: "Hi".into(),
                    from_email: Email::parse("news@shop.example").unwrap(),
                    from_name: String::new(),
                    recipients: Recipients::List { list_id: f.list },
                    provider_id: dead.id,
                    send_at: Timestamp::now(),
                    segment_size: 1000,
                    interval_minutes: 0,
                    disable_banner: false,
                    utm: None,
                    state: CampaignState::Scheduled,
                },
            )
            .await
            .unwrap();
        f.store
            .enqueue(&vestnik_engine::campaign::campaign_send_job(
                &f.site,
                campaign.id,
                Timestamp::now(),
            ))
            .await
            .unwrap();
        assert_eq!(
            send_until_settled(&f, campaign.id).await,
            CampaignState::Paused
        );
        let c = f.store.get_campaign(&f.site, campaign.id).await.unwrap();
        let reason = c.state_reason.unwrap_or_default();
        assert!(reason.starts_with("provider down"), "{reason}");
        let counts = f.store.delivery_counts(campaign.id).await.unwrap();
        assert_eq!((counts.sent, counts.deferred, counts.failed), (0, 8, 0));
    }

    pub async fn the_form_is_checked_before_anything_is_sent(db: TestDb) {
        let f = fixture(&db, 2, 0).await;
        let invalid_field = |r: Result<_, CampaignError>| match r {
            Err(CampaignError::Invalid(v)) => v.field,
            other => panic!("expected a validation error, got {other:?}"),
        };
        let mut bad_from = request(&f);
        bad_from.from_email = "not-an-address".into();
        assert_eq!(
            invalid_field(create_campaign(&f.ctx, &f.site, bad_from).await),
            "from_email"
        );
        let mut past = request(&f);
        past.send_at = Some("2020-01-01T10:00:00Z".into());
        assert_eq!(
            invalid_field(create_campaign(&f.ctx, &f.site, past).await),
            "send_at"
        );
        let mut bad_to = request(&f);
        bad_to.recipients = RecipientsRequest {
            to: Some("nobody".into()),
            ..Default::default()
        };
        assert_eq!(
            invalid_field(create_campaign(&f.ctx, &f.site, bad_to).await),
            "recipients.to"
        );
        f.store.create_list(&f.site, "Empty").await.unwrap();
        let mut empty = request(&f);
        empty.recipients.list = Some(serde_json::json!("Empty"));
        assert_eq!(
            invalid_field(create_campaign(&f.ctx, &f.site, empty).await),
            "recipients"
        );
        // exit() is refused in a mass mailing, as the seed says.
        let exiting = f
            .store
            .create_template(
                &f.site,
                "Exit",
                &TemplateContent {
                    subject: "x".into(),
                    body: "{% if not lead.name %}{{ exit() }}{% endif %}<p>hi</p>".into(),
                    kind: TemplateKind::Html,
                },
                "test",
            )
            .await
            .unwrap();
        let mut with_exit = request(&f);
        with_exit.template_id = exiting.id.0;
        match create_campaign(&f.ctx, &f.site, with_exit).await {
            Err(CampaignError::Template(m)) => assert!(m.contains("exit"), "{m}"),
            other => panic!("expected a template error, got {other:?}"),
        }
        // A provider that refuses the login.
        f.sink.require_auth("shop", "right");
        f.store
            .create_provider(
                &f.site,
                &NewProvider {
                    name: "auth".into(),
                    host: "127.0.0.1".into(),
                    port: f.sink.port(),
                    tls: SmtpTls::None,
                    username: Some("shop".into()),
                    password: Some("wrong".into()),
                    rate_per_sec: None,
                    pool_size: 1,
                },
            )
            .await
            .unwrap();
        let mut wrong_password = request(&f);
        wrong_password.provider = Some(ProviderRef::Name("auth".into()));
        match create_campaign(&f.ctx, &f.site, wrong_password).await {
            Err(CampaignError::Provider(m)) => {
                assert!(m.contains("auth") && m.contains("535"), "{m}")
            }
            other => panic!("expected a provider error, got {other:?}"),
        }
        assert!(f.store.campaigns(&f.site, 10).await.unwrap().is_empty());
        assert_eq!(f.sink.count(), 0);
    }
}

vestnik_testkit::db_cases_on_both_backends!(
    every_reachable_recipient_gets_one_tracked_message,
    mail_from_a_configured_domain_carries_a_valid_dkim_signature,
    a_hard_bounce_is_recorded_and_the_address_marked,
    rate_limit_answers_slow_the_campaign_and_deferred_mail_goes_out_later,
    a_segment_and_then_its_non_openers_get_the_campaign,
    a_transactional_message_goes_out_at_once_with_its_variables,
    a_paused_campaign_sends_nothing_until_resumed,
    a_provider_going_down_pauses_the_campaign_with_the_reason,
    the_form_is_checked_before_anything_is_sent,
);
