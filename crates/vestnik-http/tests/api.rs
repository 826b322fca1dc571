//! The HTTP surface end to end: a real server on a loopback port, over SQLite and PostgreSQL.

use reqwest::StatusCode;
use serde_json::{Value, json};
use vestnik_domain::{Email, Role, SiteRole};
use vestnik_testkit::{Backend, TestServer};

async fn body(res: reqwest::Response) -> Value {
    let text = res.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("expected a JSON body, got: {text}"))
}

fn error_type(v: &Value) -> &str {
    v["error"]["type"]
        .as_str()
        .unwrap_or_else(|| panic!("no error.type in {v}"))
}

mod cases {
    use super::*;

    pub async fn health_checks_the_database(srv: TestServer) {
        let res = srv.client.get(srv.url("/health")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let v = body(res).await;
        assert_eq!(v["status"], "ok");
        let expected = match srv.backend() {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        };
        assert_eq!(v["database"], expected);
    }

    pub async fn metrics_count_requests_and_jobs(srv: TestServer) {
        srv.client.get(srv.url("/health")).send().await.unwrap();
        srv.store()
            .enqueue(&vestnik_domain::NewJob::new("demo", json!({})))
            .await
            .unwrap();
        let res = srv.client.get(srv.url("/metrics")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let text = res.text().await.unwrap();
        assert!(
            text.contains(
                r#"vestnik_http_requests_total{method="GET",route="/health",status="200"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains("vestnik_http_request_duration_seconds_bucket"),
            "{text}"
        );
        assert!(
            text.contains(r#"vestnik_jobs{state="pending"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"vestnik_jobs{state="dead"} 0"#), "{text}");
    }

    pub async fn unknown_routes_and_methods_answer_json(srv: TestServer) {
        let res = srv
            .client
            .get(srv.url("/no/such/thing"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert_eq!(error_type(&body(res).await), "not_found");
        let res = srv.client.delete(srv.url("/health")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(error_type(&body(res).await), "method_not_allowed");
        let res = srv
            .client
            .delete(srv.url(&format!(
                "/admin/api/sites/{}/keys/not-a-number",
                srv.site_id
            )))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(
            body(res).await["error"]["message"]
                .as_str()
                .unwrap()
                .contains("not-a-number")
        );
    }

    pub async fn site_keys_authenticate_and_are_refused_for_other_sites(srv: TestServer) {
        let me = |key: Option<&str>| {
            let mut req = srv.client.get(srv.url("/api/v1/site"));
            if let Some(k) = key {
                req = req.header("api-key", k);
            }
            req.send()
        };
        let res = me(None).await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert!(
            body(res).await["error"]["message"]
                .as_str()
                .unwrap()
                .contains("api-key")
        );
        let res = me(Some("0123:nope")).await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(error_type(&body(res).await), "unauthorized");

        // The seed's upper-case spelling is the same header.
        let res = srv
            .client
            .get(srv.url("/api/v1/site"))
            .header("API-KEY", &srv.api_key)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let v = body(res).await;
        assert_eq!(v["site_id"], srv.site_id.as_str());
        assert_eq!(v["name"], "Test shop");

        let (other, other_key) = srv.store().create_site("Other shop").await.unwrap();
        let res = srv
            .client
            .get(srv.url("/api/v1/site"))
            .header("api-key", &srv.api_key)
            .header("leadhit-site-id", other.id.as_str())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let res = srv
            .client
            .get(srv.url(&format!("/api/v1/sites/{}", other.id)))
            .header("api-key", &srv.api_key)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let res = srv
            .client
            .get(srv.url(&format!("/api/v1/sites/{}", other.id)))
            .header("api-key", other_key.plain.as_str())
            .header("leadhit-site-id", other.id.as_str())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(body(res).await["name"], "Other shop");
    }

    pub async fn malformed_json_is_400_with_its_position(srv: TestServer) {
        let res = srv
            .client
            .post(srv.url("/admin/api/login"))
            .header("content-type", "application/json")
            .body("{\n  \"email\": \"a@b.ru\",\n  \"password\": }")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let v = body(res).await;
        assert_eq!(error_type(&v), "invalid_json");
        assert_eq!(v["error"]["line"], 3);
        assert!(v["error"]["column"].as_u64().unwrap() > 0);
        assert!(v["error"]["message"].as_str().unwrap().contains("line 3"));

        let res = srv
            .client
            .post(srv.url("/admin/api/login"))
            .json(&json!({"email": "a@b.ru"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            body(res).await["error"]["message"]
                .as_str()
                .unwrap()
                .contains("password")
        );
    }

    pub async fn admin_manages_keys_and_revoked_keys_stop_working(srv: TestServer) {
        let res = srv
            .client
            .post(srv.url("/admin/api/login"))
            .json(&json!({"email": srv.owner_email, "password": "wrong password!"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let res = srv
            .client
            .get(srv.url("/admin/api/me"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

        let token = srv.owner_token().await;
        let me = body(
            srv.client
                .get(srv.url("/admin/api/me"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(me["sites"][0]["site_id"], srv.site_id.as_str());
        assert_eq!(me["sites"][0]["role"], "owner");

        let keys_url = srv.url(&format!("/admin/api/sites/{}/keys", srv.site_id));
        let res = srv
            .client
            .post(&keys_url)
            .bearer_auth(&token)
            .json(&json!({"label": "crm"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let created = body(res).await;
        let new_key = created["api_key"].as_str().unwrap().to_string();
        assert!(new_key.starts_with(&format!("{}:", srv.site_id)));
        let res = srv
            .client
            .get(srv.url("/api/v1/site"))
            .header("api-key", &new_key)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(body(res).await["key"]["label"], "crm");

        let listed = body(
            srv.client
                .get(&keys_url)
                .bearer_auth(&token)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(listed.as_array().unwrap().len(), 2);
        assert!(
            listed.to_string().find(&new_key).is_none(),
            "listings never show secrets"
        );

        let res = srv
            .client
            .delete(format!("{keys_url}/{}", created["id"]))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(body(res).await["revoked_at"].is_string());
        let res = srv
            .client
            .get(srv.url("/api/v1/site"))
            .header("api-key", &new_key)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert!(
            body(res).await["error"]["message"]
                .as_str()
                .unwrap()
                .contains("revoked")
        );

        // The session cookie works like the bearer token; logout ends both.
        let cookie = format!("vestnik_session={token}");
        let res = srv
            .client
            .get(srv.url("/admin/api/me"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let res = srv
            .client
            .post(srv.url("/admin/api/logout"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        let res = srv
            .client
            .get(srv.url("/admin/api/me"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }

    pub async fn viewers_cannot_manage_keys(srv: TestServer) {
        let store = srv.store();
        store
            .create_user(
                &Email::parse("viewer@test-shop.example").unwrap(),
                &vestnik_domain::user::hash_password("viewer password 1"),
                &[SiteRole {
                    site_id: srv.site_id.clone(),
                    role: Role::Viewer,
                }],
            )
            .await
            .unwrap();
        let login = body(
            srv.client
                .post(srv.url("/admin/api/login"))
                .json(
                    &json!({"email": "Viewer@Test-Shop.example", "password": "viewer password 1"}),
                )
                .send()
                .await
                .unwrap(),
        )
        .await;
        let token = login["token"].as_str().unwrap();
        let keys_url = srv.url(&format!("/admin/api/sites/{}/keys", srv.site_id));
        let res = srv
            .client
            .get(&keys_url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let res = srv
            .client
            .post(&keys_url)
            .bearer_auth(token)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert!(
            body(res).await["error"]["message"]
                .as_str()
                .unwrap()
                .contains("owner")
        );
    }

    /// Every documented route that names a site refuses another site's credentials.
    pub async fn every_site_route_refuses_another_sites_credentials(srv: TestServer) {
        let token = srv.owner_token().await;
        let (other, _) = srv.store().create_site("Other shop").await.unwrap();
        let spec = body(
            srv.client
                .get(srv.url("/openapi.json"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        let mut checked = 0;
        for (path, item) in spec["paths"].as_object().unwrap() {
            if !path.contains("{site_id}") {
                continue;
            }
            for method in item.as_object().unwrap().keys() {
                let url = path
                    .replace("{site_id}", other.id.as_str())
                    .replace("{key_id}", "1")
                    .replace("{id}", "1");
                let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                let res = srv
                    .client
                    .request(method.clone(), srv.url(&url))
                    .header("api-key", &srv.api_key)
                    .bearer_auth(&token)
                    .json(&json!({}))
                    .send()
                    .await
                    .unwrap();
                assert!(
                    [StatusCode::FORBIDDEN, StatusCode::NOT_FOUND].contains(&res.status()),
                    "{method} {url} answered {}",
                    res.status()
                );
                checked += 1;
            }
        }
        assert!(checked >= 4, "only {checked} site routes found");
    }

    /// Every documented route that names a record by id (a contact, a list) refuses another
    /// site's key: the record exists, but not for that key. Nothing about it is changed.
    pub async fn every_record_route_refuses_another_sites_key(srv: TestServer) {
        let store = srv.store();
        let contact = store
            .insert_contact(
                &srv.site_id,
                &vestnik_domain::NewContact {
                    email: Some(Email::parse("mine@shop.ru").unwrap()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let list = store.create_list(&srv.site_id, "Mine").await.unwrap();
        let (_, other_key) = store.create_site("Other shop").await.unwrap();
        let spec = body(
            srv.client
                .get(srv.url("/openapi.json"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        let mut checked = 0;
        for (path, item) in spec["paths"].as_object().unwrap() {
            // Admin routes name their site and are walked above with another site's session.
            if !(path.contains("{id}") || path.contains("{list_id}")) || path.contains("{site_id}")
            {
                continue;
            }
            for method in item.as_object().unwrap().keys() {
                let url = path
                    .replace("{id}", &contact.id.0.to_string())
                    .replace("{list_id}", &list.id.0.to_string());
                let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                let res = srv
                    .client
                    .request(method.clone(), srv.url(&url))
                    .header("api-key", other_key.plain.as_str())
                    .json(&json!({"emails": ["mine@shop.ru"]}))
                    .send()
                    .await
                    .unwrap();
                assert!(
                    [StatusCode::FORBIDDEN, StatusCode::NOT_FOUND].contains(&res.status()),
                    "{method} {url} with another site's key answered {}",
                    res.status()
                );
                checked += 1;
            }
        }
        assert!(checked >= 4, "only {checked} record routes found");
        assert_eq!(
            store
                .get_contact(&srv.site_id, contact.id)
                .await
                .unwrap()
                .id,
            contact.id,
            "not erased"
        );
        assert!(
            store
                .list_members(&srv.site_id, list.id, None, 10)
                .await
                .unwrap()
                .is_empty()
        );
    }

    pub async fn openapi_and_docs_describe_the_api(srv: TestServer) {
        let spec = body(
            srv.client
                .get(srv.url("/openapi.json"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
        for path in [
            "/health",
            "/metrics",
            "/api/v1/site",
            "/admin/api/login",
            "/admin/api/sites/{site_id}/keys",
            "/client/update_multilead/",
            "/client/multilead_bonus",
        ] {
            assert!(
                spec["paths"].get(path).is_some(),
                "{path} missing from the OpenAPI document"
            );
        }
        assert!(spec["components"]["securitySchemes"]["api_key"].is_object());
        let res = srv.client.get(srv.url("/docs")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.text().await.unwrap().contains("/openapi.json"));
    }

    pub async fn every_response_carries_a_request_id(srv: TestServer) {
        let res = srv.client.get(srv.url("/health")).send().await.unwrap();
        assert!(res.headers().get("x-request-id").is_some());
        let res = srv
            .client
            .get(srv.url("/health"))
            .header("x-request-id", "abc-123")
            .send()
            .await
            .unwrap();
        assert_eq!(res.headers()["x-request-id"], "abc-123");
    }
}

/// Bodies over the limit get 413 in JSON, and nothing is processed.
#[tokio::test]
async fn oversized_bodies_are_413() {
    let config = vestnik_http::HttpConfig {
        body_limit: 1024,
        ..Default::default()
    };
    let srv = TestServer::start_with(Backend::Sqlite, config)
        .await
        .unwrap();
    let big = "x".repeat(4096);
    let res = srv
        .client
        .post(srv.url("/admin/api/login"))
        .json(&json!({"email": "a@b.ru", "password": big}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_type(&body(res).await), "payload_too_large");
}

vestnik_testkit::server_cases_on_both_backends!(
    health_checks_the_database,
    metrics_count_requests_and_jobs,
    unknown_routes_and_methods_answer_json,
    site_keys_authenticate_and_are_refused_for_other_sites,
    malformed_json_is_400_with_its_position,
    admin_manages_keys_and_revoked_keys_stop_working,
    viewers_cannot_manage_keys,
    every_site_route_refuses_another_sites_credentials,
    every_record_route_refuses_another_sites_key,
    openapi_and_docs_describe_the_api,
    every_response_carries_a_request_id,
);
