//! Tracking links end to end, over SQLite and PostgreSQL: the open pixel, click redirects,
//! the unsubscribe page and its RFC 8058 one-click POST, and what a damaged or foreign token
//! gets.

use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use vestnik_domain::campaign::UtmTags;
use vestnik_domain::template::{TemplateContent, TemplateKind};
use vestnik_domain::tracking::{
    LinkDecoration, MessageLinks, TRACKING_SECRET, TrackingKey, TrackingKind, TrackingToken,
};
use vestnik_domain::{ContactId, Email, NewContact, SiteId, Subscription};
use vestnik_testkit::{Backend, TestServer};

/// One scalar from SQL on a connection of its own: the campaign is created here without the
/// campaign API, and events are read back directly.
async fn scalar(srv: &TestServer, sql: String) -> i64 {
    use sqlx::Connection;
    let sql = sqlx::AssertSqlSafe(sql);
    match srv.backend() {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&srv.database_url())
                .await
                .unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&srv.database_url())
                .await
                .unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
        }
    }
}

/// A campaign of `site` (with the template and SMTP provider it needs).
async fn campaign(srv: &TestServer, site: &SiteId) -> i64 {
    let template = srv
        .store()
        .create_template(
            site,
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
        srv,
        format!(
            "INSERT INTO smtp_providers (site_id, name, host, port, tls, pool_size, created_at, updated_at) \
             VALUES ('{site}', 'smtp', '127.0.0.1', 25, 'none', 1, 0, 0) RETURNING id"
        ),
    )
    .await;
    scalar(
        srv,
        format!(
            "INSERT INTO campaigns (site_id, name, template_id, template_version, subject, from_email, from_name, \
             recipient_kind, provider_id, send_at, segment_size, interval_minutes, state, created_at, updated_at) \
             VALUES ('{site}', 'Spring', {}, 1, 'Hi', 'shop@example.com', 'Shop', 'all', {provider}, 0, 1000, 0, \
             'done', 0, 0) RETURNING id",
            template.id.0
        ),
    )
    .await
}

async fn contact(srv: &TestServer, site: &SiteId, email: &str) -> ContactId {
    srv.store()
        .insert_contact(
            site,
            &NewContact {
                email: Some(Email::parse(email).unwrap()),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .id
}

async fn subscription(srv: &TestServer, site: &SiteId, id: ContactId) -> Subscription {
    srv.store()
        .get_contact(site, id)
        .await
        .unwrap()
        .email_subscription
}

async fn events(srv: &TestServer, kind: &str) -> i64 {
    scalar(
        srv,
        format!("SELECT COUNT(*) FROM tracking_events WHERE kind = '{kind}'"),
    )
    .await
}

/// The server's key: every node reads the same installation secret.
async fn key(srv: &TestServer) -> TrackingKey {
    let secret = srv.store().install_secret(TRACKING_SECRET).await.unwrap();
    TrackingKey::new(secret.as_bytes())
}

/// The path of a token of `kind`.
fn path(token: &TrackingToken, key: &TrackingKey) -> String {
    format!("{}{}", token.kind.path(), token.encode(key))
}

/// Changes one character in the middle of the token part of a tracking path.
fn tampered(path: &str) -> String {
    let cut = path.len() - 10;
    let c = if &path[cut..cut + 1] == "A" { "B" } else { "A" };
    format!("{}{c}{}", &path[..cut], &path[cut + 1..])
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

mod cases {
    use super::*;

    pub async fn the_pixel_records_each_open_and_is_always_a_gif(srv: TestServer) {
        let site = srv.site_id.clone();
        let campaign = campaign(&srv, &site).await;
        let anna = contact(&srv, &site, "anna@example.com").await;
        let key = key(&srv).await;
        let open = path(
            &TrackingToken::new(TrackingKind::Open, site, campaign, Some(anna)),
            &key,
        );
        let bad_paths = [
            tampered(&open),
            "/t/o/not-a-token".to_string(),
            "/t/o/%FF%FE".to_string(),
        ];
        for p in [open.as_str(), open.as_str()]
            .into_iter()
            .chain(bad_paths.iter().map(String::as_str))
        {
            let res = srv.client.get(srv.url(p)).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::OK, "{p}");
            assert_eq!(res.headers()[CONTENT_TYPE], "image/gif");
            assert!(
                res.headers()[CACHE_CONTROL]
                    .to_str()
                    .unwrap()
                    .contains("no-store")
            );
            let body = res.bytes().await.unwrap();
            assert!(body.starts_with(b"GIF89a") && body.len() == 43, "{p}");
        }
        assert_eq!(events(&srv, "open").await, 2);
    }

    pub async fn a_click_redirects_to_exactly_the_signed_url(srv: TestServer) {
        let site = srv.site_id.clone();
        let campaign = campaign(&srv, &site).await;
        let anna = contact(&srv, &site, "anna@example.com").await;
        let key = key(&srv).await;
        let decoration = LinkDecoration {
            utm: Some(UtmTags {
                source: Some("vestnik".into()),
                medium: Some("email".into()),
                ..Default::default()
            }),
            disable_banner: true,
        };
        let links = MessageLinks::new(
            &key,
            &srv.base_url,
            site.clone(),
            campaign,
            Some(anna),
            &decoration,
        );
        let click = links.click_url("https://shop.example/p/1?utm_source=partner&a=1#reviews");
        let res = no_redirects().get(&click).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FOUND);
        let expected = "https://shop.example/p/1?utm_source=partner&a=1&utm_medium=email&vstk_nobanner=1#reviews";
        assert_eq!(res.headers()[LOCATION], expected);
        assert_eq!(
            scalar(
                &srv,
                format!(
                    "SELECT COUNT(*) FROM tracking_events WHERE kind = 'click' AND campaign_id = {campaign} \
                     AND contact_id = {} AND url = '{expected}'",
                    anna.0
                )
            )
            .await,
            1
        );

        // A URL with characters a header cannot carry still leads where it was signed to go.
        let cyrillic = links.click_url("https://shop.example/каталог?q=кеды");
        let res = no_redirects().get(&cyrillic).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FOUND);
        assert_eq!(
            res.headers()[LOCATION],
            "https://shop.example/%D0%BA%D0%B0%D1%82%D0%B0%D0%BB%D0%BE%D0%B3?q=%D0%BA%D0%B5%D0%B4%D1%8B\
             &utm_source=vestnik&utm_medium=email&vstk_nobanner=1"
        );
    }

    pub async fn a_damaged_link_is_a_400_page_and_records_nothing(srv: TestServer) {
        let site = srv.site_id.clone();
        let campaign = campaign(&srv, &site).await;
        let anna = contact(&srv, &site, "anna@example.com").await;
        let key = key(&srv).await;
        let click = path(
            &TrackingToken::click(site.clone(), campaign, Some(anna), "https://shop.example/"),
            &key,
        );
        let open_on_click_route = format!(
            "/t/c/{}",
            TrackingToken::new(TrackingKind::Open, site.clone(), campaign, Some(anna)).encode(&key)
        );
        let other_key = TrackingKey::new(b"another installation");
        let foreign = path(
            &TrackingToken::click(site.clone(), campaign, Some(anna), "https://evil.example/"),
            &other_key,
        );
        for p in [
            tampered(&click),
            click[..click.len() - 3].to_string(),
            open_on_click_route,
            foreign,
            "/t/c/x".to_string(),
        ] {
            let res = no_redirects().get(srv.url(&p)).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{p}");
            assert!(res.headers().get(LOCATION).is_none());
            assert!(
                res.headers()[CONTENT_TYPE]
                    .to_str()
                    .unwrap()
                    .starts_with("text/html")
            );
            let page = res.text().await.unwrap();
            assert!(page.contains("This link is damaged"), "{page}");
            assert!(page.contains("Ссылка повреждена"), "{page}");
        }
        assert_eq!(
            scalar(&srv, "SELECT COUNT(*) FROM tracking_events".into()).await,
            0
        );
    }

    pub async fn one_click_unsubscribes_once_and_a_get_never_does(srv: TestServer) {
        let site = srv.site_id.clone();
        let campaign = campaign(&srv, &site).await;
        let anna = contact(&srv, &site, "anna@example.com").await;
        let key = key(&srv).await;
        let unsubscribe = srv.url(&path(
            &TrackingToken::new(
                TrackingKind::Unsubscribe,
                site.clone(),
                campaign,
                Some(anna),
            ),
            &key,
        ));

        // Link scanners follow GETs: the page only asks.
        let res = srv.client.get(&unsubscribe).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let page = res.text().await.unwrap();
        assert!(page.contains("<form method=\"post\">"), "{page}");
        assert!(page.contains("Test shop"), "{page}");
        assert_eq!(
            subscription(&srv, &site, anna).await,
            Subscription::Subscribed
        );

        // RFC 8058: what a mail provider POSTs when the reader presses "unsubscribe".
        for _ in 0..2 {
            let res = srv
                .client
                .post(&unsubscribe)
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body("List-Unsubscribe=One-Click")
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            let page = res.text().await.unwrap();
            assert!(page.contains("You are unsubscribed"), "{page}");
        }
        assert_eq!(
            subscription(&srv, &site, anna).await,
            Subscription::Unsubscribed
        );
        assert_eq!(events(&srv, "unsubscribe").await, 1);

        // The confirm page's own form posts the same field (a browser adds its own headers).
        let boris = contact(&srv, &site, "boris@example.com").await;
        let res = srv
            .client
            .post(srv.url(&path(
                &TrackingToken::new(
                    TrackingKind::Unsubscribe,
                    site.clone(),
                    campaign,
                    Some(boris),
                ),
                &key,
            )))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            subscription(&srv, &site, boris).await,
            Subscription::Unsubscribed
        );

        let res = srv
            .client
            .post(tampered(&unsubscribe))
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let res = srv.client.get(tampered(&unsubscribe)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert_eq!(events(&srv, "unsubscribe").await, 2);
    }

    pub async fn a_token_for_one_site_cannot_touch_another_sites_contact(srv: TestServer) {
        let site_a = srv.site_id.clone();
        let campaign_a = campaign(&srv, &site_a).await;
        let (b, _) = srv.store().create_site("Other shop").await.unwrap();
        let campaign_b = campaign(&srv, &b.id).await;
        let boris = contact(&srv, &b.id, "boris@example.com").await;
        let key = key(&srv).await;
        // Validly signed, but naming site A with site B's contact or campaign.
        let unsubscribe = path(
            &TrackingToken::new(
                TrackingKind::Unsubscribe,
                site_a.clone(),
                campaign_a,
                Some(boris),
            ),
            &key,
        );
        let res = srv
            .client
            .post(srv.url(&unsubscribe))
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let open = path(
            &TrackingToken::new(TrackingKind::Open, site_a.clone(), campaign_b, Some(boris)),
            &key,
        );
        srv.client.get(srv.url(&open)).send().await.unwrap();
        let click = path(
            &TrackingToken::click(site_a, campaign_b, None, "https://shop.example/"),
            &key,
        );
        let res = no_redirects().get(srv.url(&click)).send().await.unwrap();
        // The reader still gets where the link was signed to go; nothing is recorded.
        assert_eq!(res.status(), StatusCode::FOUND);
        assert_eq!(
            subscription(&srv, &b.id, boris).await,
            Subscription::Subscribed
        );
        assert_eq!(
            scalar(&srv, "SELECT COUNT(*) FROM tracking_events".into()).await,
            0
        );
    }
}

vestnik_testkit::server_cases_on_both_backends!(
    the_pixel_records_each_open_and_is_always_a_gif,
    a_click_redirects_to_exactly_the_signed_url,
    a_damaged_link_is_a_400_page_and_records_nothing,
    one_click_unsubscribes_once_and_a_get_never_does,
    a_token_for_one_site_cannot_touch_another_sites_contact,
);
