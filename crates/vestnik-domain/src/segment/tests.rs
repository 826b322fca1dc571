use serde_json::{Value, json};

use super::*;
use crate::contact::{Bonus, Contact, ContactFields, Email, LeadStatus, Subscription};
use crate::ids::ContactId;
use crate::order::{Money, OrderStatus};

const DAY_MS: i64 = 86_400_000;
const NOW: Timestamp = Timestamp(1_800_000_000_000);

fn parse(v: Value) -> Condition {
    Condition::parse(&v).unwrap_or_else(|e| panic!("{v} should parse: {e}"))
}

fn error(v: Value) -> String {
    match Condition::parse(&v) {
        Ok(c) => panic!("{v} should be refused, parsed as {c:?}"),
        Err(e) => e.to_string(),
    }
}

fn contact() -> Contact {
    Contact {
        id: ContactId(1),
        site_id: SiteId::from_trusted("0".repeat(24)),
        email: Some(Email::parse("ivan@shop.ru").unwrap()),
        phone: None,
        fields: ContactFields {
            name: Some("Иван".into()),
            city: Some("Москва".into()),
            birthday: Some("1990-05-17".into()),
            ..Default::default()
        },
        status: LeadStatus::Customer,
        bonus: Bonus::parse("150.10").unwrap(),
        custom_fields: json!({"level": "gold", "age": 34, "b2b": true, "note": ""})
            .as_object()
            .cloned()
            .unwrap(),
        tags: vec!["vip".into(), "newsletter".into()],
        email_subscription: Subscription::Subscribed,
        sms_subscription: Subscription::Unsubscribed,
        created_at: Timestamp(NOW.0 - 10 * DAY_MS),
        updated_at: NOW,
    }
}

fn facts() -> ContactFacts {
    let mut f = ContactFacts::new(contact());
    f.lists = vec![ListId(7)];
    f.events = vec![
        EventFact {
            event_type: "productViewed".into(),
            at: Timestamp(NOW.0 - 2 * DAY_MS),
            category_id: None,
        },
        EventFact {
            event_type: "productViewed".into(),
            at: Timestamp(NOW.0 - 40 * DAY_MS),
            category_id: None,
        },
        EventFact {
            event_type: "productCategoryViewed".into(),
            at: Timestamp(NOW.0 - 5 * DAY_MS),
            category_id: Some("15".into()),
        },
    ];
    f.cart_items = 2;
    f.last_category_id = Some("15".into());
    let order = |id, total: &str, status, days_ago| OrderFact {
        id,
        total: Money::parse("total", total).unwrap(),
        status,
        created_at: Timestamp(NOW.0 - days_ago * DAY_MS),
    };
    f.orders = vec![
        order(1, "1000.10", OrderStatus::Delivered, 100),
        order(2, "0.20", OrderStatus::Paid, 20),
        order(3, "5000", OrderStatus::Cancelled, 3),
    ];
    f.engagement = vec![EngagementFact {
        campaign_id: 12,
        action: EngagementAction::Opened,
        at: Timestamp(NOW.0 - DAY_MS),
    }];
    f
}

fn holds(v: Value) -> bool {
    parse(v).matches(&facts(), NOW)
}

#[test]
fn the_issue_example_parses_and_round_trips() {
    let v = json!({"all": [
        {"field": "city", "op": "eq", "value": "Москва"},
        {"any": [{"tag": "vip"}, {"orders": "count", "op": "gte", "value": 2}]},
        {"not": {"event": "productViewed", "within_days": 30}}
    ]});
    let c = parse(v.clone());
    assert_eq!(c.to_json(), v);
    assert!(!c.matches(&facts(), NOW), "viewed a product 2 days ago");
}

#[test]
fn every_kind_round_trips_through_its_canonical_json() {
    let every = json!({"any": [
        {"field": "status", "op": "in", "value": ["customer", "regular"]},
        {"field": "email_subscription", "op": "ne", "value": "unsubscribed"},
        {"field": "email", "op": "not_empty"},
        {"field": "name", "op": "starts_with", "value": "Ив"},
        {"field": "company", "op": "contains", "value": "ООО"},
        {"field": "birthday", "op": "lt", "value": "2000-01-01"},
        {"field": "bonus", "op": "gte", "value": 100.5},
        {"field": "bonus", "op": "gt", "value": "123456789012345678.5"},
        {"field": "created_at", "op": "within_days", "value": 7},
        {"field": "created_at", "op": "gte", "value": "2026-01-31T12:00:00Z"},
        {"custom": "level", "op": "not_in", "value": ["gold"]},
        {"custom": "age", "op": "lte", "value": 40},
        {"custom": "b2b", "op": "ne", "value": false},
        {"custom": "note", "op": "empty"},
        {"tag": "vip"},
        {"list": 7},
        {"event": "productViewed", "within_days": 30, "min_count": 3},
        {"event": "orderReturned"},
        {"viewed_category": "15", "within_days": 14},
        {"last_category": "15"},
        {"cart": "not_empty"},
        {"orders": "sum", "op": "gte", "value": 10000, "within_days": 365},
        {"orders": "last_status", "op": "eq", "value": "paid"},
        {"orders": "last_date", "op": "older_than_days", "value": 90},
        {"opened": 12},
        {"clicked": "any", "within_days": 30},
        {"not": {"all": []}}
    ]});
    let c = parse(every.clone());
    assert_eq!(c.to_json(), every);
    assert_eq!(Condition::parse(&c.to_json()), Ok(c));
}

#[test]
fn values_are_canonicalised() {
    let c = parse(json!({"all": [
        {"tag": "  vip "},
        {"orders": "sum", "op": "gt", "value": "0100.50"},
        {"viewed_category": 15}
    ]}));
    assert_eq!(
        c.to_json(),
        json!({"all": [
            {"tag": "vip"},
            {"orders": "sum", "op": "gt", "value": 100.5},
            {"viewed_category": "15"}
        ]})
    );
}

#[test]
fn errors_name_the_path_and_what_is_allowed() {
    assert_eq!(
        error(
            json!({"all": [{"tag": "vip"}, {"field": "city", "op": "between", "value": "Москва"}]})
        ),
        "condition.all[1].op: \"between\" is not an operator for city; use eq, ne, in, not_in, contains, starts_with, empty or not_empty"
    );
    let unknown = error(json!({"all": [{"field": "town", "op": "eq", "value": "Москва"}]}));
    assert!(
        unknown.starts_with("condition.all[0].field: \"town\" is not a contact field; use status,"),
        "{unknown}"
    );
    assert_eq!(
        error(json!({"any": [{"field": "status", "op": "eq", "value": "vip"}]})),
        "condition.any[0].value: status \"vip\" does not exist; use new, contacted, customer, manager, regular or wholesale"
    );
    assert_eq!(
        error(json!({"orders": "last_status", "op": "in", "value": ["paid", "shipped"]})),
        "condition.value[1]: order status \"shipped\" does not exist; use submitted, paid, delivered or cancelled"
    );
    assert_eq!(
        error(json!({"event": "productViewed", "within_days": 0})),
        "condition.within_days: a number of days is a whole number from 1 to 3650, got 0"
    );
    assert_eq!(
        error(json!({"tag": "vip", "within_days": 3})),
        "condition.within_days: not allowed here; a tag condition takes tag"
    );
    assert!(error(json!({"tag": "vip", "list": 3})).contains("one condition per object"));
    assert!(
        error(json!({"colour": "red"}))
            .starts_with("condition: \"colour\" is not a kind of condition; use one of all, any")
    );
    assert!(
        error(json!({"any": []})).starts_with("condition.any: an empty any group matches nobody")
    );
    assert!(
        error(json!({"field": "bonus", "op": "gt", "value": "1e3"}))
            .starts_with("condition.value: expected a number")
    );
    assert!(error(json!({"orders": "count", "op": "gte", "value": -1})).contains("0 or more"));
    assert!(
        error(json!({"orders": "last_date", "op": "within_days", "value": 5, "within_days": 3}))
            .contains("not allowed here")
    );
    assert!(
        error(json!({"field": "city", "op": "eq", "value": ""})).contains("use the operator empty")
    );
    assert!(
        error(json!({"field": "city", "op": "empty", "value": "x"}))
            .contains("empty takes no value")
    );
    assert!(
        error(json!({"field": "birthday", "op": "gt", "value": "17.05.1990"}))
            .contains("YYYY-MM-DD")
    );
    assert!(error(json!({"custom": "a\"b", "op": "empty"})).contains("without quotes"));
    assert!(
        error(json!({"custom": "age", "op": "contains", "value": 3}))
            .contains("not an operator for custom field age and a number")
    );
    assert!(error(json!({"opened": "some"})).contains("\"any\""));
    assert!(error(json!([1])).starts_with("condition: a condition is a JSON object"));
}

#[test]
fn depth_and_size_are_limited() {
    let mut deep = json!({"tag": "vip"});
    for _ in 0..MAX_DEPTH - 1 {
        deep = json!({"not": deep});
    }
    parse(deep.clone());
    let too_deep = json!({"not": deep});
    assert!(error(too_deep).contains("nest at most 8 levels"));

    let leaves: Vec<Value> = (0..MAX_LEAVES)
        .map(|i| json!({"tag": format!("t{i}")}))
        .collect();
    parse(json!({"any": leaves}));
    let mut more = leaves.clone();
    more.push(json!({"tag": "one more"}));
    assert_eq!(
        error(json!({"any": more})),
        "condition.any[100]: a condition holds at most 100 tests; split it into segments"
    );
}

#[test]
fn deserialises_through_the_checks() {
    let ok: Condition = serde_json::from_value(json!({"tag": "vip"})).unwrap();
    assert_eq!(ok, Condition::Tag("vip".into()));
    let bad = serde_json::from_value::<Condition>(json!({"tag": ""})).unwrap_err();
    assert!(bad.to_string().starts_with("condition.tag:"), "{bad}");
}

#[test]
fn contact_fields_match_exactly() {
    assert!(holds(
        json!({"field": "city", "op": "eq", "value": "Москва"})
    ));
    assert!(
        !holds(json!({"field": "city", "op": "eq", "value": "москва"})),
        "case counts"
    );
    assert!(holds(
        json!({"field": "city", "op": "in", "value": ["Казань", "Москва"]})
    ));
    assert!(holds(
        json!({"field": "name", "op": "starts_with", "value": "Ив"})
    ));
    assert!(holds(
        json!({"field": "email", "op": "contains", "value": "@shop."})
    ));
    assert!(holds(json!({"field": "phone", "op": "empty"})));
    assert!(!holds(json!({"field": "phone", "op": "not_empty"})));
    assert!(
        holds(json!({"field": "company", "op": "ne", "value": "ООО Ромашка"})),
        "a missing value is not equal"
    );
    assert!(!holds(
        json!({"field": "company", "op": "in", "value": ["ООО Ромашка"]})
    ));
    assert!(holds(
        json!({"field": "company", "op": "not_in", "value": ["ООО Ромашка"]})
    ));
    assert!(holds(
        json!({"field": "status", "op": "eq", "value": "customer"})
    ));
    assert!(holds(
        json!({"field": "sms_subscription", "op": "eq", "value": "unsubscribed"})
    ));
    assert!(holds(
        json!({"field": "birthday", "op": "lt", "value": "2000-01-01"})
    ));
    assert!(!holds(
        json!({"field": "birthday", "op": "gt", "value": "1990-05-17"})
    ));
    assert!(holds(
        json!({"field": "birthday", "op": "gte", "value": "1990-05-17"})
    ));
}

#[test]
fn bonus_and_dates_compare_exactly() {
    assert!(
        holds(json!({"field": "bonus", "op": "eq", "value": 150.1})),
        "150.10 = 150.1"
    );
    assert!(holds(
        json!({"field": "bonus", "op": "gt", "value": "150.09"})
    ));
    assert!(!holds(
        json!({"field": "bonus", "op": "gt", "value": "150.1"})
    ));
    assert!(holds(
        json!({"field": "created_at", "op": "within_days", "value": 11})
    ));
    assert!(!holds(
        json!({"field": "created_at", "op": "within_days", "value": 9})
    ));
    assert!(holds(
        json!({"field": "created_at", "op": "older_than_days", "value": 9})
    ));
    let created = contact().created_at;
    let day = Timestamp::parse_rfc3339(&created.to_rfc3339()).unwrap();
    let date = &day.to_rfc3339()[..10];
    assert!(
        holds(json!({"field": "created_at", "op": "lte", "value": date})),
        "lte a date includes that day"
    );
    assert!(
        !holds(json!({"field": "created_at", "op": "gt", "value": date})),
        "gt a date means after it"
    );
    assert!(holds(
        json!({"field": "created_at", "op": "gte", "value": date})
    ));
    assert!(!holds(
        json!({"field": "created_at", "op": "lt", "value": date})
    ));
}

#[test]
fn custom_fields_compare_by_type() {
    assert!(holds(
        json!({"custom": "level", "op": "eq", "value": "gold"})
    ));
    assert!(holds(json!({"custom": "age", "op": "gt", "value": 30})));
    assert!(
        !holds(json!({"custom": "age", "op": "eq", "value": "34"})),
        "text does not match a number"
    );
    assert!(holds(json!({"custom": "age", "op": "ne", "value": "34"})));
    assert!(
        !holds(json!({"custom": "level", "op": "gt", "value": 1})),
        "a number does not match text"
    );
    assert!(holds(json!({"custom": "b2b", "op": "eq", "value": true})));
    assert!(holds(json!({"custom": "b2b", "op": "ne", "value": false})));
    assert!(holds(json!({"custom": "note", "op": "empty"})));
    assert!(holds(json!({"custom": "missing", "op": "empty"})));
    assert!(!holds(json!({"custom": "age", "op": "empty"})));
    assert!(
        holds(json!({"custom": "level", "op": "lt", "value": "h"})),
        "text order"
    );
}

#[test]
fn tags_lists_and_behaviour() {
    assert!(holds(json!({"tag": "vip"})));
    assert!(!holds(json!({"tag": "VIP"})));
    assert!(holds(json!({"list": 7})));
    assert!(!holds(json!({"list": 8})));
    assert!(holds(json!({"event": "productViewed", "within_days": 30})));
    assert!(!holds(
        json!({"event": "productViewed", "within_days": 30, "min_count": 2})
    ));
    assert!(holds(json!({"event": "productViewed", "min_count": 2})));
    assert!(!holds(json!({"event": "searchRequest"})));
    assert!(holds(json!({"viewed_category": "15", "within_days": 7})));
    assert!(!holds(json!({"viewed_category": "15", "within_days": 3})));
    assert!(holds(json!({"last_category": "15"})));
    assert!(holds(json!({"cart": "not_empty"})));
    assert!(!holds(json!({"cart": "empty"})));
}

#[test]
fn orders_leave_cancelled_ones_out_of_count_and_sum() {
    assert!(holds(json!({"orders": "count", "op": "eq", "value": 2})));
    assert!(holds(
        json!({"orders": "count", "op": "eq", "value": 1, "within_days": 30})
    ));
    assert!(
        holds(json!({"orders": "sum", "op": "eq", "value": "1000.3"})),
        "0.1 + 0.2 sums exactly"
    );
    assert!(!holds(
        json!({"orders": "sum", "op": "gt", "value": "1000.3"})
    ));
    assert!(holds(
        json!({"orders": "sum", "op": "lt", "value": 1, "within_days": 30})
    ));
    assert!(
        holds(json!({"orders": "last_status", "op": "eq", "value": "cancelled"})),
        "the newest order counts, cancelled or not"
    );
    assert!(holds(
        json!({"orders": "last_date", "op": "within_days", "value": 5})
    ));
    assert!(!holds(
        json!({"orders": "last_date", "op": "older_than_days", "value": 5})
    ));

    let none = ContactFacts::new(contact());
    let check = |v: Value| parse(v).matches(&none, NOW);
    assert!(check(json!({"orders": "count", "op": "lt", "value": 1})));
    assert!(check(json!({"orders": "sum", "op": "eq", "value": 0})));
    assert!(!check(
        json!({"orders": "last_date", "op": "older_than_days", "value": 5})
    ));
    assert!(!check(
        json!({"orders": "last_status", "op": "in", "value": ["paid"]})
    ));
    assert!(check(
        json!({"orders": "last_status", "op": "ne", "value": "paid"})
    ));
}

#[test]
fn engagement_counts_a_click_as_an_open() {
    assert!(holds(json!({"opened": 12})));
    assert!(!holds(json!({"clicked": 12})));
    assert!(!holds(json!({"opened": 13})));
    assert!(holds(json!({"opened": "any", "within_days": 2})));
    let mut f = facts();
    f.engagement[0].action = EngagementAction::Clicked;
    assert!(parse(json!({"opened": 12})).matches(&f, NOW));
    assert!(parse(json!({"clicked": "any"})).matches(&f, NOW));
}

#[test]
fn groups_combine_and_an_empty_all_is_everyone() {
    assert!(holds(json!({"all": []})));
    assert!(holds(
        json!({"all": [{"tag": "vip"}, {"not": {"tag": "blocked"}}]})
    ));
    assert!(!holds(json!({"all": [{"tag": "vip"}, {"tag": "blocked"}]})));
    assert!(holds(json!({"any": [{"tag": "blocked"}, {"list": 7}]})));
}

#[test]
fn segment_names_are_trimmed_and_bounded() {
    assert_eq!(
        validate_segment_name("  Москва VIP ").unwrap(),
        "Москва VIP"
    );
    assert!(validate_segment_name(" ").is_err());
    assert!(validate_segment_name(&"x".repeat(201)).is_err());
    assert!(validate_segment_name("a\nb").is_err());
}
