//! Event ingestion end to end, over SQLite and PostgreSQL.

use reqwest::StatusCode;
use serde_json::{Value, json};
use vestnik_domain::{Email, Phone};
use vestnik_testkit::TestServer;

fn post(srv: &TestServer, path: &str, body: &Value) -> reqwest::RequestBuilder {
    srv.client
        .post(srv.url(path))
        .header("api-key", &srv.api_key)
        .json(body)
}

async fn send(srv: &TestServer, body: Value) -> (StatusCode, Value) {
    let res = post(srv, "/api/v2/event", &body).send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap())
}

fn product_viewed(email: &str, product: &str, price: f64) -> Value {
    json!({
        "eventTypeKey": "productViewed",
        "keyValue": email,
        "params": [
            {"name": "email", "value": email},
            {"name": "product", "value": json!({"productId": product, "price": price}).to_string()},
            {"name": "currencyCode", "value": "RUB"}
        ]
    })
}

mod cases {
    use super::*;

    pub async fn a_committed_event_updates_the_contacts_state(srv: TestServer) {
        let (status, v) = send(&srv, product_viewed("new@shop.ru", "A1", 100.0)).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(v["status"], "ok");
        assert!(v["eventId"].as_i64().unwrap() > 0);
        send(&srv, product_viewed("new@shop.ru", "B2", 50.0)).await;
        send(&srv, product_viewed("new@shop.ru", "A1", 90.0)).await;

        // The unknown locator created the contact.
        let store = srv.store();
        let contact = store
            .find_contact(
                &srv.site_id,
                Some(&Email::parse("new@shop.ru").unwrap()),
                None,
            )
            .await
            .unwrap()
            .expect("the event created the contact");
        assert_eq!(v["contactId"], contact.id.0);
        let state = store.contact_state(&srv.site_id, contact.id).await.unwrap();
        let viewed: Vec<&str> = state
            .viewed
            .iter()
            .map(|p| p["productId"].as_str().unwrap())
            .collect();
        assert_eq!(viewed, vec!["A1", "B2"], "most recent first, de-duplicated");
        assert_eq!(state.viewed[0]["price"], 90.0);
        assert!(state.last_activity_at.is_some());

        // The cart is replaced by each cartUpdated, and an empty list empties it.
        let cart = |products: Value| {
            json!({
                "eventTypeKey": "cartUpdated",
                "params": [
                    {"name": "phone", "value": "+7 916 000-00-01"},
                    {"name": "email", "value": "new@shop.ru"},
                    {"name": "products", "value": products.to_string()},
                    {"name": "recycleStateId", "value": "d59c6e6d"}
                ]
            })
        };
        let (status, _) = send(&srv, cart(json!([{"productId": "A1", "quantity": 2, "price": 90}, {"productId": "C3", "quantity": 1, "price": 10}]))).await;
        assert_eq!(status, StatusCode::OK);
        let state = store.contact_state(&srv.site_id, contact.id).await.unwrap();
        assert_eq!(state.cart.len(), 2);
        assert_eq!(state.recycle_state_id.as_deref(), Some("d59c6e6d"));
        send(&srv, cart(json!([]))).await;
        assert!(
            store
                .contact_state(&srv.site_id, contact.id)
                .await
                .unwrap()
                .cart
                .is_empty()
        );

        let wish = json!({"eventTypeKey": "productAddedToWishlist", "params": [
            {"name": "email", "value": "new@shop.ru"},
            {"name": "product", "value": "{\"productId\":\"W9\",\"price\":5}"}]});
        let search = json!({"eventTypeKey": "searchRequest", "params": [
            {"name": "email", "value": "new@shop.ru"}, {"name": "search", "value": "кружка"}]});
        assert_eq!(send(&srv, wish).await.0, StatusCode::OK);
        assert_eq!(send(&srv, search).await.0, StatusCode::OK);
        let state = store.contact_state(&srv.site_id, contact.id).await.unwrap();
        assert_eq!(state.wishlist[0]["productId"], "W9");
        assert_eq!(
            (state.last_search.as_deref(), state.last_search_found),
            (Some("кружка"), Some(false))
        );

        // Every stored event wrote an outbox row for automation, in order.
        let outbox = store.pending_outbox(&srv.site_id, 100).await.unwrap();
        assert_eq!(outbox.len(), 7);
        assert!(outbox.iter().all(|o| o.topic == "event"));
        assert_eq!(outbox[0].payload["event_type"], "productViewed");
        assert_eq!(outbox[6].payload["event_type"], "searchRequest");
    }

    pub async fn bad_events_are_refused_with_the_param_named(srv: TestServer) {
        let cases = [
            (
                json!({"eventTypeKey": "productViewed", "keyValue": "k", "params": [{"name": "product", "value": "{oops"}]}),
                "product",
            ),
            (
                json!({"eventTypeKey": "cartUpdated", "keyValue": "k", "params": [{"name": "products", "value": "[]"}]}),
                "recycleStateId",
            ),
            (
                json!({"eventTypeKey": "signup", "params": [{"name": "plan", "value": "pro"}]}),
                "keyValue",
            ),
            (
                json!({"eventTypeKey": "signup", "params": [{"name": "email", "value": "nope"}]}),
                "email",
            ),
        ];
        for (body, param) in cases {
            let (status, v) = send(&srv, body.clone()).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(v["error"]["field"], param, "{v}");
        }
        let (status, v) = send(&srv, json!({"keyValue": "k"})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        assert!(
            srv.store()
                .pending_outbox(&srv.site_id, 10)
                .await
                .unwrap()
                .is_empty(),
            "nothing stored"
        );
    }

    pub async fn a_retried_event_with_the_same_id_is_stored_once(srv: TestServer) {
        let mut body = product_viewed("retry@shop.ru", "A1", 1.0);
        body["eventId"] = json!("evt-42");
        let (_, first) = send(&srv, body.clone()).await;
        let (status, second) = send(&srv, body).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(second["duplicate"], true);
        assert_eq!(second["eventId"], first["eventId"]);
        let custom = json!({"eventTypeKey": "newsletterSignup", "keyValue": "k1"});
        for _ in 0..2 {
            let res = post(&srv, "/api/v2/event", &custom)
                .header("Idempotency-Key", "hdr-1")
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK);
        }
        assert_eq!(
            srv.store()
                .pending_outbox(&srv.site_id, 10)
                .await
                .unwrap()
                .len(),
            2
        );
    }

    pub async fn the_batch_endpoint_answers_each_item(srv: TestServer) {
        let items = json!([
            product_viewed("a@shop.ru", "P1", 1.0),
            {"eventTypeKey": "productViewed", "keyValue": "k", "params": [{"name": "product", "value": "bad"}]},
            {"eventTypeKey": "orderReviewed", "keyValue": "k", "params": [{"name": "phone", "value": "+79160000002"}, {"name": "stars", "value": 5}]},
            {"not": "an event"}
        ]);
        let res = post(&srv, "/api/v2/events", &items).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let v: Value = res.json().await.unwrap();
        assert_eq!(
            (v["accepted"].as_u64(), v["rejected"].as_u64()),
            (Some(2), Some(2))
        );
        let statuses: Vec<&str> = v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["status"].as_str().unwrap())
            .collect();
        assert_eq!(statuses, vec!["ok", "error", "ok", "error"]);
        assert_eq!(v["results"][1]["error"]["field"], "product");
        assert!(
            srv.store()
                .find_contact(
                    &srv.site_id,
                    None,
                    Some(&Phone::parse("+79160000002").unwrap())
                )
                .await
                .unwrap()
                .is_some()
        );

        let too_many: Vec<Value> = (0..1001)
            .map(|_| json!({"eventTypeKey": "x", "keyValue": "k"}))
            .collect();
        let res = post(&srv, "/api/v2/events", &json!(too_many))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    pub async fn custom_event_types_are_registered_with_their_params(srv: TestServer) {
        send(&srv, json!({"eventTypeKey": "orderReviewed", "keyValue": "k", "params": [{"name": "stars", "value": 5}]})).await;
        send(&srv, json!({"eventTypeKey": "orderReviewed", "keyValue": "k", "params": [{"name": "comment", "value": "ok"}]})).await;
        send(&srv, product_viewed("a@shop.ru", "P1", 1.0)).await;
        let token = srv.owner_token().await;
        let res = srv
            .client
            .get(srv.url(&format!("/admin/api/sites/{}/event-types", srv.site_id)))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let v: Value = res.json().await.unwrap();
        let reviewed = v
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["key"] == "orderReviewed")
            .unwrap();
        assert_eq!(reviewed["is_standard"], false);
        assert_eq!(reviewed["event_count"], 2);
        assert_eq!(reviewed["params"], json!(["comment", "stars"]));
        let viewed = v
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["key"] == "productViewed")
            .unwrap();
        assert_eq!(viewed["is_standard"], true);
    }

    pub async fn events_of_one_site_never_touch_another(srv: TestServer) {
        let (other, other_key) = srv.store().create_site("Other").await.unwrap();
        let res = srv
            .client
            .post(srv.url("/api/v2/event"))
            .header("api-key", other_key.plain.as_str())
            .json(&product_viewed("shared@shop.ru", "X", 1.0))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let email = Email::parse("shared@shop.ru").unwrap();
        assert!(
            srv.store()
                .find_contact(&srv.site_id, Some(&email), None)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            srv.store()
                .find_contact(&other.id, Some(&email), None)
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            srv.store()
                .pending_outbox(&srv.site_id, 10)
                .await
                .unwrap()
                .is_empty()
        );
        let res = srv
            .client
            .post(srv.url("/api/v2/event"))
            .header("api-key", &srv.api_key)
            .header("leadhit-site-id", other.id.as_str())
            .json(&product_viewed("shared@shop.ru", "X", 1.0))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
    }
}

vestnik_testkit::server_cases_on_both_backends!(
    a_committed_event_updates_the_contacts_state,
    bad_events_are_refused_with_the_param_named,
    a_retried_event_with_the_same_id_is_stored_once,
    the_batch_endpoint_answers_each_item,
    custom_event_types_are_registered_with_their_params,
    events_of_one_site_never_touch_another,
);
