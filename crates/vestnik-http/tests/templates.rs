//! Templates in the admin API: checked saves with line and column, versions, and previews
//! for a real contact (cart resolved to catalog offers, promo codes shown but not handed out).

use reqwest::StatusCode;
use serde_json::{Value, json};
use vestnik_testkit::TestServer;

const CART_MJML: &str = r#"<mjml><mj-body><mj-section>
{% for item in get_cart_items() [0:2] %}<mj-column>
<mj-image src="{{item.picture}}" /><mj-text>{{item.name}} — {{item.price}}</mj-text>
<mj-button href="{{item.url}}">Купить</mj-button></mj-column>{% endfor %}
</mj-section><mj-section><mj-column><mj-text>Код: {{ get_promocode() }}</mj-text></mj-column></mj-section>
</mj-body></mjml>"#;

async fn call(
    srv: &TestServer,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let token = srv.owner_token().await;
    let mut req = srv
        .client
        .request(
            method,
            srv.url(&format!("/admin/api/sites/{}{path}", srv.site_id)),
        )
        .bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

mod cases {
    use super::*;
    use reqwest::Method;

    pub async fn saves_are_checked_and_versioned(srv: TestServer) {
        let (status, err) = call(
            &srv,
            Method::POST,
            "/templates",
            Some(json!({"name": "Broken", "subject": "Hi", "body": "<p>\n{% for item in get_cart_items() %}\n</p>"})),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
        assert_eq!(err["error"]["type"], "template_error");
        assert!(err["error"]["line"].as_u64().is_some(), "{err}");

        let (status, err) = call(
            &srv,
            Method::POST,
            "/templates",
            Some(json!({"name": "Typo", "body": "<p>{{ get_cart_itemz() }}</p>"})),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            err["error"]["message"]
                .as_str()
                .unwrap()
                .contains("get_cart_items"),
            "{err}"
        );

        let (status, saved) = call(
            &srv,
            Method::POST,
            "/templates",
            Some(json!({"name": "Cart", "subject": "{{ lead.name }}, корзина ждёт", "body": CART_MJML})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{saved}");
        assert_eq!(saved["template"]["kind"], "mjml", "detected from the body");
        assert_eq!(saved["template"]["version"], 1);
        let id = saved["template"]["id"].as_i64().unwrap();

        let (status, _) = call(
            &srv,
            Method::POST,
            "/templates",
            Some(json!({"name": "Cart", "body": "<p>x</p>"})),
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT);

        let (status, saved) = call(
            &srv,
            Method::PUT,
            &format!("/templates/{id}"),
            Some(json!({"subject": "v2", "body": "<mjml><mj-body><mj-unknown-tag/></mj-body></mjml>"})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{saved}");
        assert_eq!(saved["template"]["version"], 2);
        assert!(
            saved["warnings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|w| w["message"].as_str().unwrap().contains("mj-unknown-tag")),
            "{saved}"
        );
        let (status, with_exit) = call(
            &srv,
            Method::POST,
            "/templates",
            Some(json!({"name": "Only with a name", "body": "<p>\n{% if not lead.name %}{{ exit() }}{% endif %}</p>"})),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "exit() is fine in a template: {with_exit}"
        );
        let warning = &with_exit["warnings"][0];
        assert_eq!(warning["line"], 2);
        assert!(
            warning["message"]
                .as_str()
                .unwrap()
                .contains("mass mailings"),
            "{with_exit}"
        );
        let (_, v1) = call(
            &srv,
            Method::GET,
            &format!("/templates/{id}?version=1"),
            None,
        )
        .await;
        assert_eq!(v1["subject"], "{{ lead.name }}, корзина ждёт");
        let (_, versions) = call(
            &srv,
            Method::GET,
            &format!("/templates/{id}/versions"),
            None,
        )
        .await;
        assert_eq!(versions.as_array().unwrap().len(), 2);
    }

    pub async fn a_preview_renders_the_contacts_cart_without_spending_a_code(srv: TestServer) {
        let store = srv.store();
        let site = srv.site_id.clone();
        let feed = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/testdata/feeds/shop-utf8.xml");
        vestnik_engine::import_feed(
            store.clone(),
            &site,
            &vestnik_engine::FeedSource::File(feed),
            &vestnik_engine::DownloadLimits::default(),
            None,
        )
        .await
        .unwrap();
        store
            .import_promo_codes(&site, "default", &["WELCOME-1".into()])
            .await
            .unwrap();
        let res = srv
            .client
            .post(srv.url("/api/v2/event"))
            .header("api-key", &srv.api_key)
            .json(&json!({
                "eventTypeKey": "cartUpdated",
                "keyValue": "anna@shop.ru",
                "params": [
                    {"name": "email", "value": "anna@shop.ru"},
                    {"name": "recycleStateId", "value": "r1"},
                    {"name": "products", "value": "[{\"productId\":\"1002\",\"quantity\":1,\"price\":1902.51},{\"productId\":\"1001\",\"quantity\":1,\"price\":18973.37}]"}
                ]
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let (_, saved) = call(
            &srv,
            Method::POST,
            "/templates",
            Some(
                json!({"name": "Cart", "subject": "{{ lead.email }}: корзина", "body": CART_MJML}),
            ),
        )
        .await;
        let id = saved["template"]["id"].as_i64().unwrap();

        for _ in 0..2 {
            let (status, preview) = call(
                &srv,
                Method::POST,
                &format!("/templates/{id}/preview"),
                Some(json!({"email": "Anna@Shop.ru"})),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{preview}");
            assert_eq!(preview["skipped"], false);
            assert_eq!(preview["subject"], "anna@shop.ru: корзина");
            let html = preview["html"].as_str().unwrap();
            assert!(
                html.contains("1902.51") && html.contains("18973.37"),
                "cart in cart order"
            );
            assert!(html.find("1902.51") < html.find("18973.37"));
            assert!(html.contains("https://cdn.shop.example/img/1002.jpg"));
            assert!(html.contains("WELCOME-1"), "the next code is shown");
            assert!(!preview["text"].as_str().unwrap().contains('<'));
        }
        assert_eq!(
            store
                .peek_promo_code(&site, "default")
                .await
                .unwrap()
                .as_deref(),
            Some("WELCOME-1"),
            "previews hand out nothing"
        );

        // The sample contact, an unsaved body, and an unknown contact.
        let (status, sample) = call(
            &srv,
            Method::POST,
            &format!("/templates/{id}/preview"),
            Some(json!({})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{sample}");
        let (status, draft) = call(
            &srv,
            Method::POST,
            &format!("/templates/{id}/preview"),
            Some(json!({"body": "<p>{% if not lead.name %}{{ exit() }}{% endif %}hi</p>", "email": "anna@shop.ru"})),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            draft["skipped"], true,
            "exit() for a contact without a name"
        );
        let (status, _) = call(
            &srv,
            Method::POST,
            &format!("/templates/{id}/preview"),
            Some(json!({"email": "nobody@shop.ru"})),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    pub async fn promo_codes_are_imported_and_listed_through_the_admin_api(srv: TestServer) {
        let (status, imported) = call(
            &srv,
            Method::POST,
            "/promo-pools/summer/codes",
            Some(json!({"codes": ["S-1", "S-2", "S-1", "has space", "x\ny"]})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{imported}");
        assert_eq!(imported["added"], 2);
        assert_eq!(imported["duplicates"], 1);
        assert_eq!(
            imported["skipped"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["line"].as_u64().unwrap())
                .collect::<Vec<_>>(),
            [4, 5]
        );
        let (status, err) = call(
            &srv,
            Method::POST,
            "/promo-pools/bad pool/codes",
            Some(json!({"codes": ["A"]})),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
        assert_eq!(err["error"]["field"], "pool");
        let (status, _) = call(
            &srv,
            Method::POST,
            "/promo-pools/summer/codes",
            Some(json!({"codes": []})),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let (_, pools) = call(&srv, Method::GET, "/promo-pools", None).await;
        assert_eq!(pools, json!([{"pool": "summer", "total": 2, "issued": 0}]));
    }
}

vestnik_testkit::server_cases_on_both_backends!(
    promo_codes_are_imported_and_listed_through_the_admin_api,
    saves_are_checked_and_versioned,
    a_preview_renders_the_contacts_cart_without_spending_a_code,
);
