use super::*;
use serde_json::json;

fn raw(v: Value) -> RawEvent {
    serde_json::from_value(v).expect("a well-formed body")
}

fn err(v: Value) -> EventError {
    validate(raw(v), None).expect_err("should be refused")
}

#[test]
fn accepts_the_seeds_product_viewed_example() {
    let e = validate(
        raw(json!({
            "eventTypeKey": "productViewed",
            "keyValue": "example@email.com",
            "params": [
                {"name": "phone", "value": "411786452"},
                {"name": "email", "value": "example@email.com"},
                {"name": "product", "value": "{\"productId\":\"WS01-L-Green\",\"price\":45.5,\"isInStock\":1,\"someProductProperty\":[\"green\"]}"},
                {"name": "currencyCode", "value": "USD"}
            ]
        })),
        None,
    )
    .unwrap();
    assert_eq!(e.standard, Some(StandardEvent::ProductViewed));
    assert_eq!(e.key_value, "example@email.com");
    let params: Value = serde_json::from_str(&e.params_json).unwrap();
    assert_eq!(params["product"]["productId"], "WS01-L-Green");
    assert_eq!(params["currencyCode"], "USD");
    assert_eq!(e.param_names, ["currencyCode", "email", "phone", "product"]);
    assert!(matches!(e.change, StateChange::Viewed(ref p) if p["price"] == 45.5));
}

#[test]
fn refuses_a_product_param_that_is_not_json_naming_it() {
    let e = err(json!({"eventTypeKey": "productViewed", "keyValue": "k",
        "params": [{"name": "product", "value": "{not json"}]}));
    assert_eq!(e.param.as_deref(), Some("product"));
    assert!(e.message.contains("JSON"));
}

#[test]
fn checks_each_standard_events_required_fields() {
    let cases = [
        (
            json!({"eventTypeKey": "pageViewed", "keyValue": "k", "params": [{"name": "page", "value": "{}"}]}),
            "page",
        ),
        (
            json!({"eventTypeKey": "productViewed", "keyValue": "k", "params": [{"name": "product", "value": "{\"productId\":\"1\"}"}]}),
            "product",
        ),
        (
            json!({"eventTypeKey": "productCategoryViewed", "keyValue": "k", "params": [{"name": "category", "value": "{}"}]}),
            "category",
        ),
        (
            json!({"eventTypeKey": "cartUpdated", "keyValue": "k", "params": [{"name": "products", "value": "[]"}]}),
            "recycleStateId",
        ),
        (
            json!({"eventTypeKey": "cartUpdated", "keyValue": "k", "params": [{"name": "recycleStateId", "value": "r"}, {"name": "products", "value": "[{\"productId\":\"1\",\"price\":1}]"}]}),
            "products",
        ),
        (
            json!({"eventTypeKey": "productImpressions", "keyValue": "k", "params": [{"name": "recomVariantId", "value": "12"}, {"name": "products", "value": "[]"}]}),
            "recomVariantId",
        ),
        (
            json!({"eventTypeKey": "productImpressions", "keyValue": "k", "params": [{"name": "recomVariantId", "value": "r1v2"}]}),
            "products",
        ),
        (
            json!({"eventTypeKey": "productAddedToWishlist", "keyValue": "k", "params": [{"name": "product", "value": "{\"price\":1}"}]}),
            "product",
        ),
        (
            json!({"eventTypeKey": "searchRequest", "keyValue": "k", "params": []}),
            "search",
        ),
        (
            json!({"eventTypeKey": "searchRequest", "keyValue": "k", "params": [{"name": "search", "value": "x"}, {"name": "isFound", "value": 2}]}),
            "isFound",
        ),
        (
            json!({"eventTypeKey": "productViewed", "keyValue": "k", "params": [{"name": "product", "value": "{\"productId\":\"1\",\"price\":1,\"isInStock\":5}"}]}),
            "product",
        ),
        (
            json!({"eventTypeKey": "pageViewed", "keyValue": "k", "params": [{"name": "page", "value": "{\"location\":\"/\"}"}, {"name": "currencyCode", "value": "rubles"}]}),
            "currencyCode",
        ),
    ];
    for (body, param) in cases {
        let e = err(body.clone());
        assert_eq!(e.param.as_deref(), Some(param), "{body}: {e:?}");
    }
}

#[test]
fn an_empty_cart_update_empties_the_cart() {
    let e = validate(
        raw(json!({"eventTypeKey": "cartUpdated", "keyValue": "k",
            "params": [{"name": "recycleStateId", "value": "d59c"}, {"name": "products", "value": "[]"}]})),
        None,
    )
    .unwrap();
    assert_eq!(
        e.change,
        StateChange::Cart {
            products: vec![],
            recycle_state_id: "d59c".into()
        }
    );
}

#[test]
fn key_value_defaults_from_the_locators_and_is_otherwise_required() {
    let e = validate(
        raw(json!({"eventTypeKey": "signup", "params": [{"name": "phone", "value": "8 916 123-45-67"}]})),
        None,
    )
    .unwrap();
    assert_eq!(e.key_value, "+79161234567");
    assert_eq!(e.phone.unwrap().as_str(), "+79161234567");
    let e = err(json!({"eventTypeKey": "signup", "params": [{"name": "plan", "value": "pro"}]}));
    assert_eq!(e.param.as_deref(), Some("keyValue"));
    let e = err(
        json!({"eventTypeKey": "signup", "params": [{"name": "email", "value": "not-an-email"}]}),
    );
    assert_eq!(e.param.as_deref(), Some("email"));
}

#[test]
fn custom_event_types_are_free_form_but_bounded() {
    let e = validate(
        raw(json!({"eventTypeKey": "order.refunded", "keyValue": "k"})),
        None,
    )
    .unwrap();
    assert_eq!((e.standard, e.change), (None, StateChange::None));
    assert_eq!(
        err(json!({"eventTypeKey": "has space", "keyValue": "k"}))
            .param
            .as_deref(),
        Some("eventTypeKey")
    );
    assert_eq!(
        err(json!({"eventTypeKey": "", "keyValue": "k"}))
            .param
            .as_deref(),
        Some("eventTypeKey")
    );
}

#[test]
fn the_idempotency_key_comes_from_the_body_or_the_header() {
    let body = json!({"eventTypeKey": "x", "keyValue": "k", "eventId": "e-1"});
    assert_eq!(
        validate(raw(body), Some("h-1"))
            .unwrap()
            .idempotency_key
            .as_deref(),
        Some("e-1")
    );
    let body = json!({"eventTypeKey": "x", "keyValue": "k"});
    assert_eq!(
        validate(raw(body), Some("h-1"))
            .unwrap()
            .idempotency_key
            .as_deref(),
        Some("h-1")
    );
}

#[test]
fn viewed_products_are_ordered_deduplicated_and_capped() {
    let mut s = ContactState::default();
    let at = Timestamp(1_700_000_000_000);
    for i in 0..(VIEWED_CAP + 5) {
        s.apply(
            &StateChange::Viewed(json!({"productId": format!("p{i}"), "price": 1})),
            at,
        );
    }
    s.apply(
        &StateChange::Viewed(json!({"productId": "p10", "price": 2})),
        at,
    );
    assert_eq!(s.viewed.len(), VIEWED_CAP);
    assert_eq!(s.viewed[0]["productId"], "p10");
    assert_eq!(s.viewed[0]["price"], 2);
    assert_eq!(
        s.viewed.iter().filter(|v| v["productId"] == "p10").count(),
        1
    );
    assert_eq!(s.viewed[1]["productId"], format!("p{}", VIEWED_CAP + 4));
    assert_eq!(s.last_activity_at, Some(at));
}

#[test]
fn a_cart_update_replaces_the_cart_and_keeps_its_recycle_state() {
    let mut s = ContactState::default();
    let at = Timestamp(1);
    s.apply(
        &StateChange::Cart {
            products: vec![json!({"productId": "a"}), json!({"productId": "b"})],
            recycle_state_id: "r1".into(),
        },
        at,
    );
    s.apply(
        &StateChange::Cart {
            products: vec![json!({"productId": "c"})],
            recycle_state_id: "r1".into(),
        },
        at,
    );
    assert_eq!(s.cart, vec![json!({"productId": "c"})]);
    assert_eq!(s.recycle_state_id.as_deref(), Some("r1"));
    s.apply(
        &StateChange::Search {
            query: "mug".into(),
            found: false,
        },
        at,
    );
    assert_eq!(
        (s.last_search.as_deref(), s.last_search_found),
        (Some("mug"), Some(false))
    );
}

/// The encoded entries the SQLite writer keeps must make the very lists `ContactState::apply`
/// makes: same order, same de-duplication (ids trimmed, numbers as text), same cap, same
/// bytes — including a list that was stored, read back and added to.
#[test]
fn list_entries_make_the_lists_contact_state_makes() {
    let products = [
        json!({"productId": "p1", "price": 1}),
        json!({"productId": " p2 ", "price": 2, "name": "Кружка \"big\""}),
        json!({"productId": 7, "price": 3}),
        json!({"productId": "7", "price": 4}),
        json!({"productId": "p1", "price": 5, "viewed_at": "sent by the shop"}),
        json!({"productId": "p2", "price": 6}),
        // Keys on both sides of either stamp, and the other list's stamp.
        json!({"productId": "p3", "price": 7, "zone": "z", "added_at": "x", "a": [1, {"b": null}]}),
    ];
    for (kind, cap) in [("viewed", VIEWED_CAP), ("wishlist", WISHLIST_CAP)] {
        let change = |p: &Value| match kind {
            "viewed" => StateChange::Viewed(p.clone()),
            _ => StateChange::Wishlist(p.clone()),
        };
        let list = |s: &ContactState| match kind {
            "viewed" => s.viewed.clone(),
            _ => s.wishlist.clone(),
        };
        let mut state = ContactState::default();
        let mut entries: Vec<ListEntry> = Vec::new();
        // Past the cap, with the products repeating, and the entries stored and read back
        // halfway through.
        for i in 0..cap * 2 {
            let at = Timestamp(1_700_000_000_000 + i as i64 * 1_000);
            let product = match i % 3 {
                0 => products[(i / 3) % products.len()].clone(),
                _ => json!({"productId": format!("x{i}"), "price": i}),
            };
            let change = change(&product);
            state.apply(&change, at);
            let entry = ListEntry::of_change(&change, at).expect("a list change has an entry");
            ListEntry::push(&mut entries, entry, cap);
            if i == cap / 2 {
                entries = ListEntry::decode_list(&ListEntry::encode_list(&entries));
            }
            assert_eq!(
                ListEntry::encode_list(&entries),
                serde_json::to_string(&list(&state)).expect("a list encodes"),
                "{kind} after event {i}"
            );
        }
        assert_eq!(entries.len(), cap);
    }
    assert!(ListEntry::of_change(&StateChange::Category("c".into()), Timestamp(1)).is_none());
    assert!(ListEntry::decode_list("not json").is_empty());
}
