//! Mass mailings in the admin API: providers checked by logging in, sender domains with the
//! DNS record to publish, the campaign form refused field by field before anything is sent,
//! and pause/resume/cancel as state changes a marketer can rely on.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use vestnik_testkit::TestServer;
use vestnik_testkit::smtp::SmtpSink;

async fn call(
    srv: &TestServer,
    method: Method,
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

/// A provider on the sink, a template, and a list with two subscribed contacts.
async fn ready(srv: &TestServer, sink: &SmtpSink) -> i64 {
    let (status, body) = call(
        srv,
        Method::POST,
        "/providers",
        Some(json!({"name": "main", "url": format!("smtp://127.0.0.1:{}", sink.port()), "tls": "none", "rate": 100})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["has_password"], false);
    let (status, body) = call(
        srv,
        Method::POST,
        "/templates",
        Some(json!({"name": "Sale", "subject": "Скидки, {{ lead.name }}", "body": "<p>Hi {{ lead.name }}</p>"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let template = body["template"]["id"].as_i64().unwrap();
    let res = srv
        .client
        .post(srv.url("/api/v1/lists"))
        .header("api-key", &srv.api_key)
        .json(&json!({"name": "Newsletter"}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    let res = srv
        .client
        .post(srv.url("/api/v1/contacts"))
        .header("api-key", &srv.api_key)
        .json(&json!([
            {"email": "anna@example.com", "name": "Анна", "lists": ["Newsletter"]},
            {"email": "boris@example.com", "name": "Борис", "lists": ["Newsletter"]}
        ]))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    template
}

fn form(template: i64) -> Value {
    json!({
        "name": "Чёрная пятница",
        "template_id": template,
        "from_email": "news@shop.example",
        "from_name": "Магазин",
        "recipients": {"list": "Newsletter"},
        "segment_size": 1,
        "interval_minutes": 30,
        "utm": {"source": "email", "campaign": "bf"}
    })
}

mod cases {
    use super::*;

    pub async fn providers_are_checked_by_logging_in(srv: TestServer) {
        let sink = SmtpSink::start();
        sink.require_auth("shop", "right");
        let (status, body) = call(
            &srv,
            Method::POST,
            "/providers",
            Some(json!({"name": "main", "url": format!("smtp://shop:wrong@127.0.0.1:{}", sink.port()), "tls": "none"})),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains("535"),
            "{body}"
        );
        let (status, body) = call(
            &srv,
            Method::POST,
            "/providers",
            Some(json!({"name": "main", "url": format!("smtp://shop:right@127.0.0.1:{}", sink.port()), "tls": "none", "rate": 20})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["has_password"], true);
        assert!(body.get("password").is_none(), "{body}");
        assert_eq!(body["rate_per_sec"], 20.0);
        let (status, _) = call(
            &srv,
            Method::POST,
            "/providers",
            Some(json!({"name": "main", "host": "127.0.0.1", "port": sink.port(), "tls": "none", "verify": false})),
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT);
        let (status, body) = call(
            &srv,
            Method::POST,
            "/providers",
            Some(json!({"name": "x", "url": "http://nope"})),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let (_, listed) = call(&srv, Method::GET, "/providers", None).await;
        assert_eq!(listed.as_array().unwrap().len(), 1);
    }

    pub async fn a_sender_domain_shows_the_dkim_record_to_publish(srv: TestServer) {
        let (status, body) = call(
            &srv,
            Method::POST,
            "/sender-domains",
            Some(json!({"domain": "Shop.Example", "selector": "mail1"})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["domain"], "shop.example");
        assert_eq!(body["dns_name"], "mail1._domainkey.shop.example");
        assert!(
            body["dns_value"]
                .as_str()
                .unwrap()
                .starts_with("v=DKIM1; k=rsa; p="),
            "{body}"
        );
        let (status, body) = call(
            &srv,
            Method::POST,
            "/sender-domains",
            Some(json!({"domain": "fast.example", "algorithm": "ed25519"})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert!(body["dns_value"].as_str().unwrap().contains("k=ed25519"));
        let (status, _) = call(
            &srv,
            Method::POST,
            "/sender-domains",
            Some(json!({"domain": "shop.example"})),
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT);
        let (status, body) = call(
            &srv,
            Method::POST,
            "/sender-domains",
            Some(json!({"domain": "not a domain"})),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let (_, listed) = call(&srv, Method::GET, "/sender-domains", None).await;
        assert_eq!(listed.as_array().unwrap().len(), 2);
        assert!(listed.to_string().find("PRIVATE").is_none());
    }

    pub async fn the_campaign_form_is_refused_field_by_field(srv: TestServer) {
        let sink = SmtpSink::start();
        let template = ready(&srv, &sink).await;
        let bad = |patch: Value| {
            let mut f = form(template);
            for (k, v) in patch.as_object().unwrap() {
                f[k] = v.clone();
            }
            f
        };
        for (patch, field) in [
            (json!({"from_email": "nope"}), "from_email"),
            (json!({"send_at": "2020-01-01T00:00:00Z"}), "send_at"),
            (json!({"send_at": "tomorrow"}), "send_at"),
            (json!({"recipients": {"to": "x"}}), "recipients.to"),
            (
                json!({"recipients": {"list": "Missing"}}),
                "recipients.list",
            ),
            (json!({"recipients": {}}), "recipients"),
            (json!({"template_id": 999}), "template_id"),
            (json!({"segment_size": 0}), "segment_size"),
        ] {
            let (status, body) =
                call(&srv, Method::POST, "/campaigns", Some(bad(patch.clone()))).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{patch} → {body}");
            assert_eq!(body["error"]["field"], field, "{patch} → {body}");
        }
        let (status, body) = call(
            &srv,
            Method::POST,
            "/templates",
            Some(json!({"name": "Exit", "body": "{% if not lead.name %}{{ exit() }}{% endif %}<p>x</p>"})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let exit_template = body["template"]["id"].as_i64().unwrap();
        let (status, body) = call(
            &srv,
            Method::POST,
            "/campaigns",
            Some(bad(json!({"template_id": exit_template}))),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            body["error"]["message"].as_str().unwrap().contains("exit"),
            "{body}"
        );
        let (_, listed) = call(&srv, Method::GET, "/campaigns", None).await;
        assert_eq!(listed.as_array().unwrap().len(), 0, "nothing was stored");
        assert_eq!(sink.count(), 0, "nothing was sent");
    }

    pub async fn the_web_view_shows_the_recipients_own_message(srv: TestServer) {
        let sink = SmtpSink::start();
        let template = ready(&srv, &sink).await;
        let mut f = form(template);
        f["send_at"] = json!("2099-01-01T10:00:00Z");
        let (status, body) = call(&srv, Method::POST, "/campaigns", Some(f)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let campaign = body["campaign"]["id"].as_i64().unwrap();
        let store = srv.store();
        let anna = store
            .find_contact(
                &srv.site_id,
                Some(&vestnik_domain::Email::parse("anna@example.com").unwrap()),
                None,
            )
            .await
            .unwrap()
            .unwrap();
        let secret = store
            .install_secret(vestnik_domain::tracking::TRACKING_SECRET)
            .await
            .unwrap();
        let key = vestnik_domain::tracking::TrackingKey::new(secret.as_bytes());
        let token = vestnik_domain::tracking::TrackingToken::new(
            vestnik_domain::tracking::TrackingKind::WebView,
            srv.site_id.clone(),
            campaign,
            Some(anna.id),
        );
        let url = token.url(&srv.base_url, &key);
        let res = srv.client.get(&url).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let html = res.text().await.unwrap();
        assert!(html.contains("Hi Анна"), "{html}");
        let mut damaged = url.clone();
        damaged.pop();
        damaged.push(if url.ends_with('A') { 'B' } else { 'A' });
        let res = srv.client.get(&damaged).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    }

    pub async fn the_public_api_sends_one_transactional_message(srv: TestServer) {
        let sink = SmtpSink::start();
        let template = ready(&srv, &sink).await;
        let send = |body: Value| {
            srv.client
                .post(srv.url("/api/v1/messages"))
                .header("api-key", &srv.api_key)
                .json(&body)
                .send()
        };
        let res = send(json!({"template_id": template, "to": "anna@example.com",
            "from_email": "orders@shop.example", "subject": "Заказ {{ order_id }}",
            "variables": {"order_id": "A-1"}}))
        .await
        .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["status"], "sent", "{body}");
        assert!(
            body["message_id"]
                .as_str()
                .unwrap()
                .ends_with("@shop.example")
        );
        assert_eq!(sink.count(), 1);
        let res =
            send(json!({"template_id": template, "to": "x", "from_email": "orders@shop.example"}))
                .await
                .unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let res = srv
            .client
            .post(srv.url("/api/v1/messages"))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }

    pub async fn a_campaign_is_scheduled_paused_resumed_and_cancelled(srv: TestServer) {
        let sink = SmtpSink::start();
        let template = ready(&srv, &sink).await;
        let mut f = form(template);
        f["send_at"] = json!("2099-01-01T10:00:00+03:00");
        let (status, body) = call(&srv, Method::POST, "/campaigns", Some(f)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["reachable"], 2);
        assert_eq!(body["campaign"]["state"], "scheduled");
        assert_eq!(body["campaign"]["segment_size"], 1);
        assert_eq!(body["campaign"]["utm"]["source"], "email");
        let warnings = body["warnings"].as_array().unwrap();
        assert!(
            warnings[0].as_str().unwrap().contains("shop.example"),
            "{body}"
        );
        let id = body["campaign"]["id"].as_i64().unwrap();

        let (status, report) = call(&srv, Method::GET, &format!("/campaigns/{id}"), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(report["deliveries"]["sent"], 0);
        assert_eq!(report["rates"]["opened"], 0.0);

        let (status, body) =
            call(&srv, Method::POST, &format!("/campaigns/{id}/pause"), None).await;
        assert_eq!(
            (status, body["state"].as_str()),
            (StatusCode::OK, Some("paused"))
        );
        let (status, body) =
            call(&srv, Method::POST, &format!("/campaigns/{id}/resume"), None).await;
        assert_eq!(
            (status, body["state"].as_str()),
            (StatusCode::OK, Some("scheduled"))
        );
        let (status, body) =
            call(&srv, Method::POST, &format!("/campaigns/{id}/cancel"), None).await;
        assert_eq!(
            (status, body["state"].as_str()),
            (StatusCode::OK, Some("cancelled"))
        );
        let (status, body) =
            call(&srv, Method::POST, &format!("/campaigns/{id}/resume"), None).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        let (status, body) = call(
            &srv,
            Method::POST,
            &format!("/campaigns/{id}/resend-non-openers"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        let (status, _) = call(&srv, Method::GET, "/campaigns/99999", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}

vestnik_testkit::server_cases_on_both_backends!(
    providers_are_checked_by_logging_in,
    a_sender_domain_shows_the_dkim_record_to_publish,
    the_campaign_form_is_refused_field_by_field,
    a_campaign_is_scheduled_paused_resumed_and_cancelled,
    the_web_view_shows_the_recipients_own_message,
    the_public_api_sends_one_transactional_message,
);
