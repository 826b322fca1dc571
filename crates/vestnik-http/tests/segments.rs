//! Segments in the admin API: saved with their live count, a count preview while editing,
//! bad conditions refused with the path of the bad node, and editors only for changes.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use vestnik_domain::{ContactFields, Email, LeadStatus, NewContact, Role, SiteRole};
use vestnik_testkit::TestServer;

async fn call(
    srv: &TestServer,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
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

/// Three contacts: two in Moscow (one a VIP customer), one in Kazan.
async fn contacts(srv: &TestServer) {
    let store = srv.store();
    let person = |email: &str, city: &str, status: LeadStatus, tags: &[&str]| NewContact {
        email: Some(Email::parse(email).unwrap()),
        fields: ContactFields {
            city: Some(city.into()),
            ..Default::default()
        },
        status,
        tags: tags.iter().map(|t| t.to_string()).collect(),
        ..Default::default()
    };
    store
        .insert_contacts(
            &srv.site_id,
            &[
                person("anna@shop.ru", "Москва", LeadStatus::Customer, &["vip"]),
                person("vera@shop.ru", "Москва", LeadStatus::New, &[]),
                person("boris@shop.ru", "Казань", LeadStatus::Customer, &[]),
            ],
        )
        .await
        .unwrap();
    // Another site's identical contacts never count here.
    let (other, _) = store.create_site("Other shop").await.unwrap();
    store
        .insert_contacts(
            &other.id,
            &[person(
                "anna@shop.ru",
                "Москва",
                LeadStatus::Customer,
                &["vip"],
            )],
        )
        .await
        .unwrap();
}

mod cases {
    use super::*;

    pub async fn segments_are_saved_with_their_live_count(srv: TestServer) {
        contacts(&srv).await;
        let token = srv.owner_token().await;
        let moscow = json!({"field": "city", "op": "eq", "value": "Москва"});
        let (status, created) = call(
            &srv,
            &token,
            Method::POST,
            "/segments",
            Some(json!({"name": " Москва ", "condition": moscow})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_eq!(created["name"], "Москва");
        assert_eq!(created["condition"], moscow);
        assert_eq!(created["count"], 2);
        let id = created["id"].as_i64().unwrap();

        let (status, dup) = call(
            &srv,
            &token,
            Method::POST,
            "/segments",
            Some(json!({"name": "Москва", "condition": {"tag": "vip"}})),
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT, "{dup}");

        let (status, got) = call(&srv, &token, Method::GET, &format!("/segments/{id}"), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(got["count"], 2);

        // New contacts count as soon as they exist: the count is live.
        srv.store()
            .insert_contact(
                &srv.site_id,
                &NewContact {
                    email: Some(Email::parse("dina@shop.ru").unwrap()),
                    fields: ContactFields {
                        city: Some("Москва".into()),
                        ..Default::default()
                    },
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let (_, got) = call(&srv, &token, Method::GET, &format!("/segments/{id}"), None).await;
        assert_eq!(got["count"], 3);

        let vip_customers =
            json!({"all": [{"tag": "vip"}, {"field": "status", "op": "eq", "value": "customer"}]});
        let (status, updated) = call(
            &srv,
            &token,
            Method::PUT,
            &format!("/segments/{id}"),
            Some(json!({"name": "VIP", "condition": vip_customers})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{updated}");
        assert_eq!(
            (updated["name"].as_str(), updated["count"].as_i64()),
            (Some("VIP"), Some(1))
        );

        let (_, listed) = call(&srv, &token, Method::GET, "/segments", None).await;
        assert_eq!(listed["segments"][0]["name"], "VIP");
        assert!(listed["segments"][0].get("count").is_none(), "{listed}");
        let (_, listed) = call(&srv, &token, Method::GET, "/segments?counts=true", None).await;
        assert_eq!(listed["segments"][0]["count"], 1);

        let (status, _) = call(
            &srv,
            &token,
            Method::DELETE,
            &format!("/segments/{id}"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, gone) =
            call(&srv, &token, Method::GET, &format!("/segments/{id}"), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{gone}");
        let (status, _) = call(
            &srv,
            &token,
            Method::DELETE,
            &format!("/segments/{id}"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    pub async fn the_preview_counts_an_unsaved_condition(srv: TestServer) {
        contacts(&srv).await;
        let token = srv.owner_token().await;
        for (condition, expected) in [
            (json!({"all": []}), 3),
            (
                json!({"field": "status", "op": "eq", "value": "customer"}),
                2,
            ),
            (
                json!({"any": [{"tag": "vip"}, {"field": "city", "op": "eq", "value": "Казань"}]}),
                2,
            ),
            (json!({"not": {"tag": "vip"}}), 2),
            (json!({"event": "productViewed", "within_days": 30}), 0),
        ] {
            let (status, body) = call(
                &srv,
                &token,
                Method::POST,
                "/segments/count",
                Some(json!({"condition": condition})),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(body, json!({"count": expected}), "{condition}");
        }
    }

    pub async fn bad_conditions_name_the_bad_node(srv: TestServer) {
        let token = srv.owner_token().await;
        let (status, err) = call(
            &srv,
            &token,
            Method::POST,
            "/segments/count",
            Some(json!({"condition": {"all": [{"tag": "vip"}, {"field": "city", "op": "between", "value": "Москва"}]}})),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
        assert_eq!(err["error"]["type"], "validation_failed");
        assert_eq!(err["error"]["field"], "condition.all[1].op");
        assert_eq!(
            err["error"]["message"],
            "condition.all[1].op: \"between\" is not an operator for city; use eq, ne, in, not_in, contains, starts_with, empty or not_empty"
        );

        let (status, err) = call(
            &srv,
            &token,
            Method::POST,
            "/segments",
            Some(json!({"name": "Broken", "condition": {"orders": "count", "op": "gte", "value": -1}})),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
        assert_eq!(err["error"]["field"], "condition.value");

        for (body, field) in [
            (json!({"name": "No condition"}), "condition"),
            (json!({"condition": {"all": []}}), "name"),
            (json!({"name": "  ", "condition": {"all": []}}), "name"),
        ] {
            let (status, err) = call(&srv, &token, Method::POST, "/segments", Some(body)).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
            assert_eq!(err["error"]["field"], field, "{err}");
        }
        let (_, listed) = call(&srv, &token, Method::GET, "/segments", None).await;
        assert_eq!(listed["segments"], json!([]), "nothing was saved");
    }

    pub async fn viewers_preview_but_do_not_change_segments(srv: TestServer) {
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
        let login: Value = srv
            .client
            .post(srv.url("/admin/api/login"))
            .json(&json!({"email": "viewer@test-shop.example", "password": "viewer password 1"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let viewer = login["token"].as_str().unwrap();
        let body = json!({"name": "VIP", "condition": {"tag": "vip"}});
        let (status, _) = call(&srv, viewer, Method::POST, "/segments", Some(body.clone())).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, count) = call(
            &srv,
            viewer,
            Method::POST,
            "/segments/count",
            Some(json!({"condition": {"tag": "vip"}})),
        )
        .await;
        assert_eq!((status, count), (StatusCode::OK, json!({"count": 0})));

        let owner = srv.owner_token().await;
        let (_, created) = call(&srv, &owner, Method::POST, "/segments", Some(body.clone())).await;
        let path = format!("/segments/{}", created["id"]);
        let (status, _) = call(&srv, viewer, Method::PUT, &path, Some(body)).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = call(&srv, viewer, Method::DELETE, &path, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, got) = call(&srv, viewer, Method::GET, &path, None).await;
        assert_eq!(
            (status, got["name"].as_str()),
            (StatusCode::OK, Some("VIP"))
        );
    }
}

vestnik_testkit::server_cases_on_both_backends!(
    segments_are_saved_with_their_live_count,
    the_preview_counts_an_unsaved_condition,
    bad_conditions_name_the_bad_node,
    viewers_preview_but_do_not_change_segments,
);
