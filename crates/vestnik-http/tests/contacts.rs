//! The contacts and lists API over the real server, on SQLite and PostgreSQL.

use reqwest::StatusCode;
use serde_json::{Value, json};
use vestnik_domain::{Email, PlainApiKey};
use vestnik_testkit::TestServer;

fn post(srv: &TestServer, path: &str, key: &str) -> reqwest::RequestBuilder {
    srv.client.post(srv.url(path)).header("api-key", key)
}

fn get(srv: &TestServer, path: &str, key: &str) -> reqwest::RequestBuilder {
    srv.client.get(srv.url(path)).header("api-key", key)
}

async fn send(req: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let res = req.send().await.unwrap();
    let status = res.status();
    let text = res.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (status, body)
}

async fn count(srv: &TestServer) -> i64 {
    srv.store().count_contacts(&srv.site_id).await.unwrap()
}

mod cases {
    use super::*;

    pub async fn a_batch_answers_each_contact_in_input_order(srv: TestServer) {
        let key = srv.api_key.clone();
        send(post(&srv, "/api/v1/lists", &key).json(&json!({"name": "Newsletter"}))).await;
        let (status, body) = send(post(&srv, "/api/v1/contacts", &key).json(&json!([
            {"email": "Ivan@Shop.ru", "name": "Ivan", "lists": ["Newsletter"], "tags": ["vip"],
             "custom_fields": {"size": "M"}, "sms_subscription": "unsubscribed"},
            {"email": "ivan@"},
            {"email": "olga@shop.ru", "favourite_colour": "red"},
            {"email": "petr@shop.ru", "tags": "vip"},
            {"email": "anna@shop.ru", "lists": ["Nwesletter"]},
            {"phone": "8 (916) 123-45-67", "birthday": "1990-02-28", "email_subscription": "pending"},
            {"email": "ivan@shop.ru", "city": "Moscow"}
        ])))
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let results = body["results"].as_array().unwrap();
        let statuses: Vec<&str> = results
            .iter()
            .map(|r| r["status"].as_str().unwrap())
            .collect();
        assert_eq!(
            statuses,
            vec![
                "created", "error", "error", "error", "error", "created", "updated"
            ]
        );
        for (i, r) in results.iter().enumerate() {
            assert_eq!(r["index"], i);
        }
        assert_eq!(results[1]["error"]["field"], "email");
        assert!(
            results[2]["error"]["message"]
                .as_str()
                .unwrap()
                .contains("favourite_colour")
        );
        assert_eq!(results[3]["error"]["field"], "tags");
        assert_eq!(results[4]["error"]["field"], "lists");
        assert!(
            results[4]["error"]["message"]
                .as_str()
                .unwrap()
                .contains("POST /api/v1/lists")
        );
        assert_eq!(
            results[0]["id"], results[6]["id"],
            "one person, matched case-insensitively"
        );
        assert_eq!(
            (
                body["created"].as_u64(),
                body["updated"].as_u64(),
                body["failed"].as_u64()
            ),
            (Some(2), Some(1), Some(4))
        );
        assert_eq!(count(&srv).await, 2, "failed items stored nothing");

        let (status, found) = send(get(&srv, "/api/v1/contacts?email=IVAN@shop.ru", &key)).await;
        assert_eq!(status, StatusCode::OK);
        let c = &found["contact"];
        assert_eq!(
            (c["name"].as_str(), c["city"].as_str()),
            (Some("Ivan"), Some("Moscow"))
        );
        assert_eq!(c["custom_fields"], json!({"size": "M"}));
        assert_eq!(c["tags"], json!(["vip"]));
        assert_eq!(c["sms_subscription"], "unsubscribed");
        assert_eq!(c["status"], "new");
        assert_eq!(found["lists"][0]["name"], "Newsletter");
        assert!(found["state"]["viewed"].is_array() && found["state"]["cart"].is_array());

        let (status, found) = send(get(&srv, "/api/v1/contacts?phone=%2B79161234567", &key)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(found["contact"]["birthday"], "1990-02-28");
        assert_eq!(found["contact"]["email_subscription"], "pending");
    }

    pub async fn the_overwrite_rule_decides_what_an_existing_contact_keeps(srv: TestServer) {
        let key = srv.api_key.clone();
        let first = json!({"email": "olga@shop.ru", "name": "Olga"});
        let (status, body) = send(post(&srv, "/api/v1/contacts", &key).json(&first)).await;
        assert_eq!(
            (status, body["results"][0]["status"].as_str()),
            (StatusCode::OK, Some("created"))
        );

        let change = json!({"email": "olga@shop.ru", "name": "Helga", "city": "Kazan"});
        let (_, body) =
            send(post(&srv, "/api/v1/contacts?overwrite=never", &key).json(&change)).await;
        assert_eq!(body["results"][0]["status"], "unchanged");
        let (_, body) =
            send(post(&srv, "/api/v1/contacts?overwrite=fill_empty", &key).json(&change)).await;
        assert_eq!(body["results"][0]["status"], "updated");
        let (_, found) = send(get(&srv, "/api/v1/contacts?email=olga@shop.ru", &key)).await;
        assert_eq!(found["contact"]["name"], "Olga");
        assert_eq!(found["contact"]["city"], "Kazan");
        let (_, body) = send(post(&srv, "/api/v1/contacts", &key).json(&change)).await;
        assert_eq!(body["results"][0]["status"], "updated");
        let (_, found) = send(get(&srv, "/api/v1/contacts?email=olga@shop.ru", &key)).await;
        assert_eq!(found["contact"]["name"], "Helga");

        let (status, body) =
            send(post(&srv, "/api/v1/contacts?overwrite=replace", &key).json(&change)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["error"]["field"], "overwrite");
    }

    pub async fn bad_input_gets_a_clear_4xx_and_stores_nothing(srv: TestServer) {
        let key = srv.api_key.clone();
        let contacts =
            |req: reqwest::RequestBuilder| req.header("content-type", "application/json");
        let (status, body) =
            send(contacts(post(&srv, "/api/v1/contacts", &key)).body("[{\"email\": ")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["type"], "invalid_json");
        for (raw, why) in [
            ("42", "a number"),
            ("[]", "an empty array"),
            ("\"x\"", "a string"),
        ] {
            let (status, body) =
                send(contacts(post(&srv, "/api/v1/contacts", &key)).body(raw)).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{why}: {body}");
        }
        // A single contact answers with its own error status.
        let (status, body) =
            send(post(&srv, "/api/v1/contacts", &key).json(&json!({"name": "No identity"}))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["error"]["field"], "email");
        let (status, body) = send(
            post(&srv, "/api/v1/contacts", &key)
                .json(&json!({"email": "a@shop.ru", "birthday": "28.02.1990"})),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["error"]["field"], "birthday");

        let too_many: Vec<Value> = (0..10_001)
            .map(|i| json!({"email": format!("user{i}@shop.ru")}))
            .collect();
        let (status, body) = send(post(&srv, "/api/v1/contacts", &key).json(&too_many)).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(body["error"]["message"].as_str().unwrap().contains("10000"));
        assert_eq!(count(&srv).await, 0);

        let (status, _) = send(get(&srv, "/api/v1/contacts", &key)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let (status, _) = send(get(&srv, "/api/v1/contacts?email=nobody@shop.ru", &key)).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = send(get(&srv, "/api/v1/contacts/abc/export", &key)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _) = send(get(&srv, "/api/v1/contacts?email=x", "nope")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }

    pub async fn a_whole_base_of_ten_thousand_contacts_imports_in_one_request(srv: TestServer) {
        let key = srv.api_key.clone();
        let base: Vec<Value> = (0..10_000)
            .map(|i| json!({"email": format!("user{i}@shop.ru"), "name": format!("User {i}")}))
            .collect();
        let (status, body) = send(post(&srv, "/api/v1/contacts", &key).json(&base)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["created"], 10_000);
        assert_eq!(count(&srv).await, 10_000);
    }

    pub async fn lists_are_created_once_and_change_members_in_bulk(srv: TestServer) {
        let key = srv.api_key.clone();
        let (status, list) =
            send(post(&srv, "/api/v1/lists", &key).json(&json!({"name": "Promo"}))).await;
        assert_eq!(status, StatusCode::CREATED);
        let (status, body) =
            send(post(&srv, "/api/v1/lists", &key).json(&json!({"name": " Promo "}))).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(body["error"]["type"], "conflict");
        let (status, _) = send(post(&srv, "/api/v1/lists", &key).json(&json!({"name": ""}))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let (_, lists) = send(get(&srv, "/api/v1/lists", &key)).await;
        assert_eq!(lists["lists"].as_array().unwrap().len(), 1);

        send(post(&srv, "/api/v1/contacts", &key).json(&json!([
            {"email": "one@shop.ru"}, {"email": "two@shop.ru", "phone": "+79160000002"}
        ])))
        .await;
        let members = format!("/api/v1/lists/{}/members", list["id"]);
        let (status, body) = send(post(&srv, &members, &key).json(&json!({
            "emails": ["ONE@shop.ru", "ghost@shop.ru"], "phones": ["+7 916 000-00-02"]
        })))
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            (body["matched"].as_u64(), body["changed"].as_u64()),
            (Some(2), Some(2))
        );
        assert_eq!(
            body["unmatched"],
            json!({"emails": ["ghost@shop.ru"], "phones": []})
        );
        let (_, found) = send(get(&srv, "/api/v1/contacts?email=two@shop.ru", &key)).await;
        assert_eq!(found["lists"][0]["name"], "Promo");

        let (status, body) =
            send(post(&srv, &members, &key).json(&json!({"emails": ["one@shop.ru", "bad@"]})))
                .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["error"]["field"], "emails[1]");
        let (status, _) = send(post(&srv, &members, &key).json(&json!({}))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let (status, _) =
            send(post(&srv, &members, &key).json(&json!({"emails": [], "ids": [1]}))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

        let (status, body) = send(
            post(&srv, &format!("{members}/remove"), &key)
                .json(&json!({"phones": ["+79160000002"]})),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["changed"], 1);
        let (_, found) = send(get(&srv, "/api/v1/contacts?email=two@shop.ru", &key)).await;
        assert_eq!(found["lists"], json!([]));

        let (status, _) = send(
            post(&srv, "/api/v1/lists/999999/members", &key)
                .json(&json!({"emails": ["one@shop.ru"]})),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    pub async fn export_and_erasure_are_audited_without_the_persons_email(srv: TestServer) {
        let key = srv.api_key.clone();
        let (_, body) = send(
            post(&srv, "/api/v1/contacts", &key)
                .json(&json!({"email": "ivan@shop.ru", "name": "Ivan"})),
        )
        .await;
        let id = body["results"][0]["id"].as_i64().unwrap();

        let (status, export) =
            send(get(&srv, &format!("/api/v1/contacts/{id}/export"), &key)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(export["contact"]["email"], "ivan@shop.ru");
        assert!(
            export["events"].is_array()
                && export["orders"].is_array()
                && export["state"].is_object()
        );

        let (status, erased) = send(
            srv.client
                .delete(srv.url(&format!("/api/v1/contacts/{id}")))
                .header("api-key", &key),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(erased["erased"], true);
        assert_eq!(erased["events_deleted"], 0);
        let (status, _) = send(get(&srv, "/api/v1/contacts?email=ivan@shop.ru", &key)).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = send(
            srv.client
                .delete(srv.url(&format!("/api/v1/contacts/{id}")))
                .header("api-key", &key),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        let key_id = srv
            .store()
            .find_api_key(&PlainApiKey::from_header(&key).hash())
            .await
            .unwrap()
            .unwrap()
            .id;
        let log = srv.store().audit_log(&srv.site_id, 10).await.unwrap();
        let actions: Vec<&str> = log.iter().map(|r| r.entry.action.as_str()).collect();
        assert_eq!(actions, vec!["contact.erase", "contact.export"]);
        for row in &log {
            assert_eq!(row.entry.actor, format!("api_key:{key_id}"));
            assert_eq!(row.entry.subject, format!("contact:{id}"));
            assert!(!serde_json::to_string(row).unwrap().contains("ivan@"));
        }
    }

    /// Every contacts and lists endpoint, called with another site's key, neither reads nor
    /// changes this site's data.
    pub async fn another_sites_key_never_reaches_this_sites_contacts_or_lists(srv: TestServer) {
        let key = srv.api_key.clone();
        let (_, list) =
            send(post(&srv, "/api/v1/lists", &key).json(&json!({"name": "Promo"}))).await;
        let (_, body) = send(
            post(&srv, "/api/v1/contacts", &key)
                .json(&json!({"email": "ivan@shop.ru", "name": "Ivan", "lists": ["Promo"]})),
        )
        .await;
        let id = body["results"][0]["id"].as_i64().unwrap();
        let (_, other_key) = srv.store().create_site("Other shop").await.unwrap();
        let foreign = other_key.plain.as_str().to_string();

        let (status, _) = send(get(&srv, "/api/v1/contacts?email=ivan@shop.ru", &foreign)).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = send(get(
            &srv,
            &format!("/api/v1/contacts/{id}/export"),
            &foreign,
        ))
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = send(
            srv.client
                .delete(srv.url(&format!("/api/v1/contacts/{id}")))
                .header("api-key", &foreign),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, body) = send(
            post(&srv, "/api/v1/contacts", &foreign)
                .json(&json!({"email": "ivan@shop.ru", "name": "Mallory"})),
        )
        .await;
        assert_eq!(
            (status, body["results"][0]["status"].as_str()),
            (StatusCode::OK, Some("created")),
            "a separate person in the other site"
        );
        let (status, body) = send(
            post(&srv, "/api/v1/contacts", &foreign)
                .json(&json!({"email": "x@shop.ru", "lists": ["Promo"]})),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "this site's list is unknown there: {body}"
        );
        let (_, lists) = send(get(&srv, "/api/v1/lists", &foreign)).await;
        assert_eq!(lists["lists"], json!([]));
        let members = format!("/api/v1/lists/{}/members", list["id"]);
        let (status, _) =
            send(post(&srv, &members, &foreign).json(&json!({"emails": ["ivan@shop.ru"]}))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = send(
            post(&srv, &format!("{members}/remove"), &foreign)
                .json(&json!({"emails": ["ivan@shop.ru"]})),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        // Our key with a header naming the other site is refused outright.
        let (status, _) = send(
            get(&srv, "/api/v1/contacts?email=ivan@shop.ru", &key)
                .header("leadhit-site-id", other_key.record.site_id.as_str()),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        let (_, found) = send(get(&srv, "/api/v1/contacts?email=ivan@shop.ru", &key)).await;
        assert_eq!(found["contact"]["name"], "Ivan", "untouched");
        assert_eq!(found["lists"][0]["name"], "Promo", "still a member");
        let ours = srv
            .store()
            .find_contact(
                &srv.site_id,
                Some(&Email::parse("ivan@shop.ru").unwrap()),
                None,
            )
            .await
            .unwrap();
        assert!(ours.is_some());
        assert!(
            srv.store()
                .audit_log(&srv.site_id, 10)
                .await
                .unwrap()
                .is_empty()
        );
    }

    pub async fn the_openapi_document_describes_contacts_and_lists(srv: TestServer) {
        let (_, spec) = send(srv.client.get(srv.url("/openapi.json"))).await;
        for (path, method) in [
            ("/api/v1/contacts", "post"),
            ("/api/v1/contacts", "get"),
            ("/api/v1/contacts/{id}/export", "get"),
            ("/api/v1/contacts/{id}", "delete"),
            ("/api/v1/lists", "post"),
            ("/api/v1/lists", "get"),
            ("/api/v1/lists/{list_id}/members", "post"),
            ("/api/v1/lists/{list_id}/members/remove", "post"),
        ] {
            assert!(
                spec["paths"][path][method].is_object(),
                "{method} {path} undocumented"
            );
        }
        let schemas = &spec["components"]["schemas"];
        for schema in ["ContactInput", "UpsertResponse", "MemberIdentifiers"] {
            assert!(
                schemas[schema]["example"].is_object(),
                "{schema} has no example"
            );
        }
    }
}

vestnik_testkit::server_cases_on_both_backends!(
    a_batch_answers_each_contact_in_input_order,
    the_overwrite_rule_decides_what_an_existing_contact_keeps,
    bad_input_gets_a_clear_4xx_and_stores_nothing,
    a_whole_base_of_ten_thousand_contacts_imports_in_one_request,
    lists_are_created_once_and_change_members_in_bulk,
    export_and_erasure_are_audited_without_the_persons_email,
    another_sites_key_never_reaches_this_sites_contacts_or_lists,
    the_openapi_document_describes_contacts_and_lists,
);
