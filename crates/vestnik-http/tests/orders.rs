//! The seed's JSON-RPC orders node, `POST /api/v1/orders`, over the real server on SQLite and
//! PostgreSQL: the seed's shapes byte for byte, site isolation, and bad input never a 5xx.

use reqwest::StatusCode;
use serde_json::{Value, json};
use vestnik_domain::{Email, OrderStatus};
use vestnik_testkit::TestServer;

/// A call with the seed's header spelling (`API-KEY`) to the seed's path (trailing slash).
fn rpc(srv: &TestServer, key: &str) -> reqwest::RequestBuilder {
    srv.client
        .post(srv.url("/api/v1/orders/"))
        .header("API-KEY", key)
        .header("content-type", "application/json")
}

async fn call_text(srv: &TestServer, key: &str, body: &str) -> (StatusCode, String) {
    let res = rpc(srv, key).body(body.to_string()).send().await.unwrap();
    (res.status(), res.text().await.unwrap())
}

async fn call(srv: &TestServer, method: &str, params: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 7});
    let res = rpc(srv, &srv.api_key).json(&body).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

fn seed_error(message: &str) -> String {
    format!(
        r#"{{"jsonrpc": "2.0", "id": 0, "error": {{"message": "Server error", "code": -32000, "data": {{"message": "{message}", "args": ["{message}"], "type": "ValidationError"}}}}}}"#
    )
}

const ADD_F168: &str = r#"{"method": "add_order", "params": {"order_id": "f168148717", "email": "buyer@mail.ru",
    "items": [{"offer_id": "sku-1", "price": 1500.50, "quantity": 2}, {"offer_id": "sku-2", "price": "0.10", "quantity": 1}],
    "total": 3001.10}, "jsonrpc": "2.0", "id": 0}"#;

/// The seed's own example request, as its curl sends it.
const SEED_SET_PAID: &str = r#"{"method":"set_order_status","params":{"order_id":"f168148717","status":"paid"},"jsonrpc":"2.0","id":0}"#;

mod cases {
    use super::*;

    pub async fn set_order_status_answers_exactly_as_the_seed(srv: TestServer) {
        let (status, body) = call_text(&srv, &srv.api_key, ADD_F168).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body,
            r#"{"jsonrpc": "2.0", "result": {"status": "ok", "message": "Order added"}, "id": 0}"#
        );

        let (status, body) = call_text(&srv, &srv.api_key, SEED_SET_PAID).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body,
            r#"{"jsonrpc": "2.0", "result": {"status": "ok", "message": "Order status changed"}, "id": 0}"#
        );
        let order = srv
            .store()
            .get_order(&srv.site_id, "f168148717")
            .await
            .unwrap();
        assert_eq!(order.status, OrderStatus::Paid);

        let (status, body) = call_text(&srv, &srv.api_key, SEED_SET_PAID).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, seed_error("Order status already set"));

        let shipped = SEED_SET_PAID.replace("\"paid\"", "\"shipped\"");
        let (status, body) = call_text(&srv, &srv.api_key, &shipped).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body,
            seed_error("Possible statuses: cancelled, delivered, paid, submitted")
        );

        let unknown = SEED_SET_PAID.replace("f168148717", "nope");
        let (status, body) = call_text(&srv, &srv.api_key, &unknown).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, seed_error("Order with this id doesn't exist"));

        // The path without the slash, the lower-case header, and params by position.
        let res = srv
            .client
            .post(srv.url("/api/v1/orders"))
            .header("api-key", &srv.api_key)
            .body(r#"{"jsonrpc": "2.0", "method": "set_order_status", "params": ["f168148717", "delivered"], "id": "x"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            res.text().await.unwrap(),
            r#"{"jsonrpc": "2.0", "result": {"status": "ok", "message": "Order status changed"}, "id": "x"}"#
        );
    }

    pub async fn add_order_stores_the_order_with_its_buyer_and_money_as_sent(srv: TestServer) {
        let (_, body) = call_text(&srv, &srv.api_key, ADD_F168).await;
        assert!(body.contains("Order added"), "{body}");
        let contact = srv
            .store()
            .find_contact(
                &srv.site_id,
                Some(&Email::parse("buyer@mail.ru").unwrap()),
                None,
            )
            .await
            .unwrap()
            .expect("the unknown buyer became a contact");

        call(
            &srv,
            "set_order_status",
            json!({"order_id": "f168148717", "status": "paid"}),
        )
        .await;
        let (status, body) = call_text(
            &srv,
            &srv.api_key,
            r#"{"jsonrpc": "2.0", "method": "get_order", "params": ["f168148717"], "id": 1}"#,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            body.contains(r#""items": [{"offer_id": "sku-1", "price": 1500.50, "quantity": 2}, {"offer_id": "sku-2", "price": 0.10, "quantity": 1}], "total": 3001.10"#),
            "prices and total keep their digits: {body}"
        );
        let v: Value = serde_json::from_str(&body).unwrap();
        let order = &v["result"];
        assert_eq!(order["order_id"], "f168148717");
        assert_eq!(order["status"], "paid");
        assert_eq!(order["email"], "buyer@mail.ru");
        assert_eq!(order["contact_id"], contact.id.0);
        let history: Vec<&str> = order["status_history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["status"].as_str().unwrap())
            .collect();
        assert_eq!(history, ["submitted", "paid"]);

        let (_, body) = call_text(&srv, &srv.api_key, ADD_F168).await;
        assert_eq!(body, seed_error("Order with this id already exists"));

        let v = call(
            &srv,
            "add_order",
            json!({"order_id": 1002, "phone": "8 (916) 123-45-67", "items": [{"offer_id": 77, "price": 10, "quantity": 1}],
                   "total": 10, "created_at": "2024-05-01T12:00:00+03:00"}),
        )
        .await;
        assert_eq!(v["result"]["status"], "ok", "{v}");
        let stored = srv.store().get_order(&srv.site_id, "1002").await.unwrap();
        assert_eq!(stored.created_at.to_rfc3339(), "2024-05-01T09:00:00Z");
        assert_eq!(stored.phone.unwrap().as_str(), "+79161234567");
        assert_eq!(stored.items[0].offer_id, "77");
    }

    pub async fn refuses_calls_without_a_valid_key_with_403(srv: TestServer) {
        let res = srv
            .client
            .post(srv.url("/api/v1/orders/"))
            .body(SEED_SET_PAID)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let (status, _) = call_text(&srv, "not-a-key", SEED_SET_PAID).await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        let store = srv.store();
        let extra = store.create_api_key(&srv.site_id, "old").await.unwrap();
        store
            .revoke_api_key(&srv.site_id, extra.record.id)
            .await
            .unwrap();
        let (status, body) = call_text(&srv, extra.plain.as_str(), ADD_F168).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(body.contains("revoked"), "{body}");
        assert!(
            store.get_order(&srv.site_id, "f168148717").await.is_err(),
            "a refused call stores nothing"
        );
    }

    pub async fn keys_of_one_site_never_see_another_sites_orders(srv: TestServer) {
        call_text(&srv, &srv.api_key, ADD_F168).await;
        let (_, other_key) = srv.store().create_site("Other shop").await.unwrap();
        let other_key = other_key.plain.as_str().to_string();

        let get = r#"{"jsonrpc": "2.0", "method": "get_order", "params": {"order_id": "f168148717"}, "id": 0}"#;
        let (status, body) = call_text(&srv, &other_key, get).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, seed_error("Order with this id doesn't exist"));
        let (_, body) = call_text(&srv, &other_key, SEED_SET_PAID).await;
        assert_eq!(body, seed_error("Order with this id doesn't exist"));
        assert_eq!(
            srv.store()
                .get_order(&srv.site_id, "f168148717")
                .await
                .unwrap()
                .status,
            OrderStatus::Submitted,
            "the other site's call changed nothing"
        );
        // The other site may use the same order number for its own order.
        let (_, body) = call_text(&srv, &other_key, ADD_F168).await;
        assert!(body.contains("Order added"), "{body}");

        // A key sent with another site's id header is refused outright.
        let res = rpc(&srv, &srv.api_key)
            .header("leadhit-site-id", "ffffffffffffffffffffffff")
            .body(get)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
    }

    pub async fn bad_input_gets_a_clear_error_never_a_5xx_and_stores_nothing(srv: TestServer) {
        let code = |body: &str| -> i64 {
            let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
            v["error"]["code"].as_i64().unwrap_or(0)
        };
        let (status, body) = call_text(&srv, &srv.api_key, "{\"jsonrpc\": \"2.0\", ").await;
        assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, -32700));
        let (status, body) = call_text(&srv, &srv.api_key, "").await;
        assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, -32700));
        let (status, body) =
            call_text(&srv, &srv.api_key, r#"{"method": "get_order", "id": 1}"#).await;
        assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, -32600));
        let (status, body) = call_text(
            &srv,
            &srv.api_key,
            r#"{"jsonrpc": "2.0", "method": "get_order", "params": ["1"], "id": 1, "extra": true}"#,
        )
        .await;
        assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, -32600));

        let v = call(&srv, "drop_orders", json!({})).await;
        assert_eq!(v["error"]["code"], -32601);
        assert!(
            v["error"]["data"]["message"]
                .as_str()
                .unwrap()
                .contains("/api/v1/orders/map")
        );
        let v = call(&srv, "get_order", json!({"order": "1"})).await;
        assert_eq!(v["error"]["code"], -32602);
        let v = call(&srv, "set_order_status", json!(["1"])).await;
        assert_eq!(v["error"]["code"], -32602);
        assert_eq!(v["id"], 7);

        // Wrong values: the seed's ValidationError, naming the field, and nothing stored.
        let bad_orders = [
            (
                json!({"order_id": "b1", "email": "not-an-email", "items": [{"offer_id": "a", "price": 1, "quantity": 1}], "total": 1}),
                "email",
            ),
            (
                json!({"order_id": "b1", "items": [{"offer_id": "a", "price": 1, "quantity": 1}], "total": 1}),
                "email",
            ),
            (
                json!({"order_id": "b1", "email": "new@mail.ru", "items": [{"offer_id": "a", "price": "abc", "quantity": 1}], "total": 1}),
                "items[0].price",
            ),
            (
                json!({"order_id": "b1", "email": "new@mail.ru", "items": [{"offer_id": "a", "price": 1, "quantity": 0}], "total": 1}),
                "items[0].quantity",
            ),
            (
                json!({"order_id": "b1", "email": "new@mail.ru", "items": [{"offer_id": "a", "price": 1, "quantity": 1, "color": "red"}], "total": 1}),
                "color",
            ),
            (
                json!({"order_id": "b1", "email": "new@mail.ru", "items": "sku-1", "total": 1}),
                "items",
            ),
            (
                json!({"order_id": "b1", "email": "new@mail.ru", "items": [{"offer_id": "a", "price": 1, "quantity": 1}], "total": -5}),
                "total",
            ),
            (
                json!({"order_id": "b1", "email": "new@mail.ru", "items": [{"offer_id": "a", "price": 1, "quantity": 1}], "total": "1e3"}),
                "total",
            ),
            (
                json!({"order_id": "b1", "email": "new@mail.ru", "items": [{"offer_id": "a", "price": 1, "quantity": 1}], "total": 1, "created_at": "yesterday"}),
                "created_at",
            ),
            (
                json!({"order_id": {"a": 1}, "email": "new@mail.ru", "items": [{"offer_id": "a", "price": 1, "quantity": 1}], "total": 1}),
                "order_id",
            ),
        ];
        for (params, field) in bad_orders {
            let v = call(&srv, "add_order", params.clone()).await;
            assert_eq!(v["error"]["code"], -32000, "{params}: {v}");
            assert_eq!(v["error"]["data"]["type"], "ValidationError");
            let message = v["error"]["data"]["message"].as_str().unwrap();
            assert!(message.contains(field), "{params}: {message}");
        }
        assert_eq!(
            srv.store().count_contacts(&srv.site_id).await.unwrap(),
            0,
            "nothing half-stored"
        );

        // A body over the limit is refused before it is read whole.
        let huge = format!(
            r#"{{"jsonrpc": "2.0", "method": "get_order", "params": ["{}"], "id": 1}}"#,
            "x".repeat(17 * 1024 * 1024)
        );
        let (status, _) = call_text(&srv, &srv.api_key, &huge).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    }

    pub async fn batches_run_in_order_and_answer_each_call(srv: TestServer) {
        let batch = format!(
            r#"[{ADD_F168}, {SEED_SET_PAID},
               {{"jsonrpc": "2.0", "method": "set_order_status", "params": ["f168148717", "delivered"]}},
               {{"jsonrpc": "2.0", "method": "get_order", "params": ["f168148717"], "id": "last"}},
               {{"jsonrpc": "2.0", "method": "nope", "id": 9}}]"#
        );
        let (status, body) = call_text(&srv, &srv.api_key, &batch).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            body.starts_with(r#"[{"jsonrpc": "2.0", "result": {"status": "ok", "message": "Order added"}, "id": 0}, {"jsonrpc": "2.0", "result": {"status": "ok", "message": "Order status changed"}, "id": 0}, "#),
            "{body}"
        );
        let v: Value = serde_json::from_str(&body).unwrap();
        let answers = v.as_array().unwrap();
        assert_eq!(answers.len(), 4, "the notification gets no answer");
        assert_eq!(answers[2]["id"], "last");
        assert_eq!(
            answers[2]["result"]["status"], "delivered",
            "the notification ran"
        );
        assert_eq!(answers[3]["error"]["code"], -32601);

        let (status, body) = call_text(&srv, &srv.api_key, "[]").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("-32600"), "{body}");
    }

    pub async fn the_method_map_is_json_for_programs_and_a_page_for_browsers(srv: TestServer) {
        let res = srv
            .client
            .get(srv.url("/api/v1/orders/map"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let map: Value = res.json().await.unwrap();
        let methods = map["methods"].as_array().unwrap();
        let names: Vec<&str> = methods
            .iter()
            .map(|m| m["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["add_order", "set_order_status", "get_order"]);
        for m in methods {
            assert!(!m["description"].as_str().unwrap().is_empty());
        }
        let set = &methods[1]["params"];
        assert_eq!(set[0]["name"], "order_id");
        assert_eq!(set[1]["name"], "status");

        let res = srv
            .client
            .get(srv.url("/api/v1/orders/map"))
            .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let page = res.text().await.unwrap();
        assert!(page.contains("<code>set_order_status</code>"));
        assert!(page.contains("submitted, paid, delivered, cancelled"));
    }

    pub async fn the_openapi_document_describes_the_node_with_the_seeds_example(srv: TestServer) {
        let doc: Value = srv
            .client
            .get(srv.url("/openapi.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let post = &doc["paths"]["/api/v1/orders"]["post"];
        assert_eq!(post["security"][0]["api_key"], json!([]));
        let examples = &post["requestBody"]["content"]["application/json"]["examples"];
        assert_eq!(
            examples["set_order_status"]["value"],
            json!({"method": "set_order_status", "params": {"order_id": "f168148717", "status": "paid"}, "jsonrpc": "2.0", "id": 0})
        );
        assert!(post["responses"]["403"].is_object());
        assert!(doc["paths"]["/api/v1/orders/map"]["get"].is_object());
    }
}

vestnik_testkit::server_cases_on_both_backends!(
    set_order_status_answers_exactly_as_the_seed,
    add_order_stores_the_order_with_its_buyer_and_money_as_sent,
    refuses_calls_without_a_valid_key_with_403,
    keys_of_one_site_never_see_another_sites_orders,
    bad_input_gets_a_clear_error_never_a_5xx_and_stores_nothing,
    batches_run_in_order_and_answer_each_call,
    the_method_map_is_json_for_programs_and_a_page_for_browsers,
    the_openapi_document_describes_the_node_with_the_seeds_example,
);
