//! Segments on both backends: every kind of condition selects exactly the contacts it
//! should — counted and paged alike, and as the in-memory evaluator decides — and another
//! site's identical contacts, events, orders, lists and campaigns never count.

#[path = "segments/fixture.rs"]
mod fixture;

use serde_json::{Value, json};
use std::sync::Arc;
use vestnik_domain::segment::{Condition, SegmentId};
use vestnik_domain::{ContactId, Store, StoreError, Timestamp};
use vestnik_testkit::TestDb;

use fixture::{Fixture, fixture};

/// Counts and pages the condition, and checks both against `expected` and the evaluator.
async fn check(s: &Arc<dyn Store>, f: &Fixture, v: Value, expected: &[&str]) {
    let condition = Condition::parse(&v).unwrap_or_else(|e| panic!("{v}: {e}"));
    let mut want: Vec<ContactId> = expected.iter().map(|who| f.ids[who]).collect();
    want.sort();
    let evaluated: Vec<&str> = f
        .facts
        .iter()
        .filter(|(_, facts)| condition.matches(facts, f.now))
        .map(|(who, _)| *who)
        .collect();
    let mut expected_sorted = expected.to_vec();
    expected_sorted.sort();
    assert_eq!(evaluated, expected_sorted, "in memory: {v}");

    let count = s.count_segment(&f.site, &condition, f.now).await;
    assert_eq!(count.unwrap(), want.len() as i64, "count: {v}");
    let mut paged: Vec<ContactId> = Vec::new();
    let mut after = None;
    loop {
        let page = s
            .segment_members(&f.site, &condition, f.now, after, 2)
            .await
            .unwrap();
        paged.extend(&page);
        match page.last() {
            Some(last) if page.len() == 2 => after = Some(*last),
            _ => break,
        }
    }
    assert_eq!(paged, want, "members: {v}");
}

mod cases {
    use super::*;

    /// Both sites hold the same five people with the same history: a leak would double.
    async fn two_sites(db: &TestDb) -> (Fixture, Fixture) {
        let now = Timestamp::now();
        let mine = fixture(db, "Mine", now).await;
        let theirs = fixture(db, "Theirs", now).await;
        (mine, theirs)
    }

    pub async fn contact_fields_select_exactly(db: TestDb) {
        let s = db.store();
        let (f, _) = two_sites(&db).await;
        let everyone = ["anna", "boris", "vera", "gleb", "dina"];
        for (v, expected) in [
            (
                json!({"field": "city", "op": "eq", "value": "Москва"}),
                &["anna", "vera"][..],
            ),
            (json!({"field": "city", "op": "eq", "value": "москва"}), &[]),
            (
                json!({"field": "city", "op": "ne", "value": "Москва"}),
                &["boris", "gleb", "dina"],
            ),
            (
                json!({"field": "city", "op": "in", "value": ["Казань", "Москва"]}),
                &["anna", "boris", "vera"],
            ),
            (
                json!({"field": "city", "op": "not_in", "value": ["Москва"]}),
                &["boris", "gleb", "dina"],
            ),
            (
                json!({"field": "city", "op": "starts_with", "value": "Москва"}),
                &["anna", "vera", "dina"],
            ),
            (
                json!({"field": "city", "op": "contains", "value": "Сити"}),
                &["dina"],
            ),
            (json!({"field": "city", "op": "empty"}), &["gleb"]),
            (
                json!({"field": "city", "op": "not_empty"}),
                &["anna", "boris", "vera", "dina"],
            ),
            (
                json!({"field": "status", "op": "eq", "value": "customer"}),
                &["anna", "gleb"],
            ),
            (
                json!({"field": "status", "op": "in", "value": ["regular", "wholesale"]}),
                &["vera", "dina"],
            ),
            (json!({"field": "email", "op": "empty"}), &["boris"]),
            (json!({"field": "phone", "op": "not_empty"}), &["boris"]),
            (
                json!({"field": "email", "op": "starts_with", "value": "gl"}),
                &["gleb"],
            ),
            (
                json!({"field": "name", "op": "eq", "value": "Анна"}),
                &["anna"],
            ),
            (
                json!({"field": "company", "op": "contains", "value": "Ромашка"}),
                &["anna"],
            ),
            (
                json!({"field": "birthday", "op": "lt", "value": "2000-01-01"}),
                &["anna"],
            ),
            (
                json!({"field": "birthday", "op": "gte", "value": "2000-01-01"}),
                &["vera"],
            ),
            (
                json!({"field": "birthday", "op": "empty"}),
                &["boris", "gleb", "dina"],
            ),
            (
                json!({"field": "bonus", "op": "gt", "value": 100}),
                &["anna", "gleb"],
            ),
            (
                json!({"field": "bonus", "op": "eq", "value": 150.1}),
                &["anna"],
            ),
            (
                json!({"field": "bonus", "op": "eq", "value": 150}),
                &["gleb"],
            ),
            (
                json!({"field": "bonus", "op": "lt", "value": "99.51"}),
                &["boris", "vera", "dina"],
            ),
            (
                json!({"field": "bonus", "op": "ne", "value": 0}),
                &["anna", "vera", "gleb"],
            ),
            (
                json!({"field": "email_subscription", "op": "eq", "value": "unsubscribed"}),
                &["vera"],
            ),
            (
                json!({"field": "sms_subscription", "op": "ne", "value": "subscribed"}),
                &["anna"],
            ),
            (
                json!({"field": "created_at", "op": "within_days", "value": 1}),
                &everyone[..],
            ),
            (
                json!({"field": "created_at", "op": "older_than_days", "value": 1}),
                &[],
            ),
            (
                json!({"field": "created_at", "op": "gt", "value": "2000-01-01"}),
                &everyone[..],
            ),
            (
                json!({"field": "created_at", "op": "lte", "value": "2000-01-01T00:00:00Z"}),
                &[],
            ),
        ] {
            check(&s, &f, v, expected).await;
        }
    }

    pub async fn custom_fields_tags_and_lists_select_exactly(db: TestDb) {
        let s = db.store();
        let (f, theirs) = two_sites(&db).await;
        for (v, expected) in [
            (
                json!({"custom": "level", "op": "eq", "value": "gold"}),
                &["anna"][..],
            ),
            (
                json!({"custom": "level", "op": "in", "value": ["gold", "silver"]}),
                &["anna", "boris"],
            ),
            (
                json!({"custom": "level", "op": "ne", "value": "gold"}),
                &["boris", "vera", "gleb", "dina"],
            ),
            (
                json!({"custom": "level", "op": "starts_with", "value": "go"}),
                &["anna"],
            ),
            (
                json!({"custom": "level", "op": "gt", "value": "h"}),
                &["boris"],
            ),
            (
                json!({"custom": "level", "op": "empty"}),
                &["vera", "gleb", "dina"],
            ),
            (json!({"custom": "age", "op": "gt", "value": 30}), &["anna"]),
            (
                json!({"custom": "age", "op": "eq", "value": "34"}),
                &["boris"],
            ),
            (json!({"custom": "age", "op": "lt", "value": 25}), &["gleb"]),
            (
                json!({"custom": "age", "op": "eq", "value": 20.5}),
                &["gleb"],
            ),
            (
                json!({"custom": "age", "op": "ne", "value": 34}),
                &["boris", "vera", "gleb", "dina"],
            ),
            (json!({"custom": "age", "op": "empty"}), &["vera", "dina"]),
            (json!({"custom": "note", "op": "not_empty"}), &[]),
            (
                json!({"custom": "b2b", "op": "eq", "value": true}),
                &["anna"],
            ),
            (
                json!({"custom": "b2b", "op": "ne", "value": true}),
                &["boris", "vera", "gleb", "dina"],
            ),
            (json!({"tag": "vip"}), &["anna", "gleb"]),
            (json!({"tag": "b2b"}), &["gleb"]),
            (json!({"tag": "vi"}), &[]),
            (json!({"not": {"tag": "vip"}}), &["boris", "vera", "dina"]),
            (json!({"list": f.list.0}), &["anna", "vera"]),
            (
                json!({"not": {"list": f.list.0}}),
                &["boris", "gleb", "dina"],
            ),
        ] {
            check(&s, &f, v, expected).await;
        }
        // Another site's list id names nothing here.
        check(&s, &f, json!({"list": theirs.list.0}), &[]).await;
    }

    pub async fn behaviour_selects_exactly(db: TestDb) {
        let s = db.store();
        let (f, _) = two_sites(&db).await;
        for (v, expected) in [
            (
                json!({"event": "productViewed", "within_days": 30}),
                &["anna", "boris"][..],
            ),
            (
                json!({"event": "productViewed", "within_days": 7}),
                &["anna"],
            ),
            (json!({"event": "productViewed"}), &["anna", "boris"]),
            (
                json!({"event": "productViewed", "min_count": 3}),
                &["boris"],
            ),
            (
                json!({"event": "productViewed", "min_count": 2}),
                &["anna", "boris"],
            ),
            (
                json!({"event": "productViewed", "within_days": 30, "min_count": 2}),
                &["boris"],
            ),
            (
                json!({"not": {"event": "productViewed", "within_days": 30}}),
                &["vera", "gleb", "dina"],
            ),
            (json!({"event": "webinarJoined"}), &["vera"]),
            (json!({"event": "webinarJoined", "within_days": 30}), &[]),
            (json!({"viewed_category": "15"}), &["anna", "dina"]),
            (
                json!({"viewed_category": "15", "within_days": 30}),
                &["anna"],
            ),
            (json!({"viewed_category": 16}), &["vera"]),
            (json!({"last_category": "15"}), &["anna", "dina"]),
            (json!({"last_category": "16"}), &["vera"]),
            (json!({"cart": "not_empty"}), &["anna"]),
            (json!({"cart": "empty"}), &["boris", "vera", "gleb", "dina"]),
        ] {
            check(&s, &f, v, expected).await;
        }
    }

    pub async fn orders_select_exactly(db: TestDb) {
        let s = db.store();
        let (f, _) = two_sites(&db).await;
        for (v, expected) in [
            (
                json!({"orders": "count", "op": "gte", "value": 2}),
                &["anna", "boris", "gleb"][..],
            ),
            (
                json!({"orders": "count", "op": "eq", "value": 0}),
                &["vera", "dina"],
            ),
            (
                json!({"orders": "count", "op": "lt", "value": 1}),
                &["vera", "dina"],
            ),
            (
                json!({"orders": "count", "op": "ne", "value": 2}),
                &["vera", "dina"],
            ),
            (
                json!({"orders": "count", "op": "gte", "value": 1, "within_days": 30}),
                &["anna", "gleb"],
            ),
            (
                json!({"orders": "sum", "op": "eq", "value": "1000.3"}),
                &["anna"],
            ),
            (
                json!({"orders": "sum", "op": "gte", "value": 1000}),
                &["anna", "gleb"],
            ),
            (
                json!({"orders": "sum", "op": "gt", "value": 1000}),
                &["anna"],
            ),
            (
                json!({"orders": "sum", "op": "lt", "value": 500}),
                &["boris", "vera", "dina"],
            ),
            (
                json!({"orders": "sum", "op": "eq", "value": 0}),
                &["vera", "dina"],
            ),
            (
                json!({"orders": "sum", "op": "ne", "value": 350}),
                &["anna", "vera", "gleb", "dina"],
            ),
            (
                json!({"orders": "sum", "op": "gt", "value": 0, "within_days": 30}),
                &["anna", "gleb"],
            ),
            (
                json!({"orders": "sum", "op": "lte", "value": "0.2", "within_days": 30}),
                &["anna", "boris", "vera", "dina"],
            ),
            (
                json!({"orders": "last_status", "op": "eq", "value": "cancelled"}),
                &["anna"],
            ),
            (
                json!({"orders": "last_status", "op": "eq", "value": "submitted"}),
                &["gleb"],
            ),
            (
                json!({"orders": "last_status", "op": "in", "value": ["paid", "delivered"]}),
                &["boris"],
            ),
            (
                json!({"orders": "last_status", "op": "ne", "value": "submitted"}),
                &["anna", "boris", "vera", "dina"],
            ),
            (
                json!({"orders": "last_date", "op": "within_days", "value": 7}),
                &["anna", "gleb"],
            ),
            (
                json!({"orders": "last_date", "op": "older_than_days", "value": 30}),
                &["boris"],
            ),
            (
                json!({"orders": "last_date", "op": "lt", "value": "2000-01-01"}),
                &[],
            ),
            (
                json!({"orders": "last_date", "op": "gte", "value": "2000-01-01"}),
                &["anna", "boris", "gleb"],
            ),
        ] {
            check(&s, &f, v, expected).await;
        }
    }

    pub async fn engagement_and_groups_select_exactly(db: TestDb) {
        let s = db.store();
        let (f, theirs) = two_sites(&db).await;
        let c = f.campaign;
        for (v, expected) in [
            (json!({"opened": c}), &["anna", "gleb"][..]),
            (json!({"clicked": c}), &["gleb"]),
            (json!({"opened": "any"}), &["anna", "gleb"]),
            (json!({"opened": "any", "within_days": 3}), &["anna"]),
            (json!({"not": {"opened": c}}), &["boris", "vera", "dina"]),
            (json!({"opened": theirs.campaign}), &[]),
            (
                json!({"all": []}),
                &["anna", "boris", "vera", "gleb", "dina"],
            ),
            (json!({"not": {"all": []}}), &[]),
            (
                json!({"all": [
                    {"field": "status", "op": "eq", "value": "customer"},
                    {"any": [{"field": "city", "op": "eq", "value": "Москва"}, {"orders": "sum", "op": "gte", "value": 1000}]}
                ]}),
                &["anna", "gleb"],
            ),
            (
                json!({"all": [
                    {"field": "city", "op": "eq", "value": "Москва"},
                    {"any": [{"tag": "vip"}, {"orders": "count", "op": "gte", "value": 2}]},
                    {"not": {"event": "productViewed", "within_days": 30}}
                ]}),
                &[],
            ),
            (
                json!({"any": [{"tag": "b2b"}, {"field": "name", "op": "eq", "value": "Анна"}, {"viewed_category": 16}]}),
                &["anna", "vera", "gleb"],
            ),
            (
                json!({"not": {"any": [{"cart": "not_empty"}, {"orders": "count", "op": "eq", "value": 0}]}}),
                &["boris", "gleb"],
            ),
        ] {
            check(&s, &f, v, expected).await;
        }
        // A site with nobody counts nobody, whatever the others hold.
        let empty = s.create_site("Empty").await.unwrap().0.id;
        let all = Condition::parse(&json!({"all": []})).unwrap();
        assert_eq!(s.count_segment(&empty, &all, f.now).await.unwrap(), 0);
        assert!(
            s.segment_members(&empty, &all, f.now, None, 10)
                .await
                .unwrap()
                .is_empty()
        );
    }

    pub async fn segments_are_saved_per_site_with_unique_names(db: TestDb) {
        let s = db.store();
        let mine = s.create_site("Mine").await.unwrap().0.id;
        let theirs = s.create_site("Theirs").await.unwrap().0.id;
        let vip = Condition::parse(&json!({"tag": "vip"})).unwrap();
        let moscow =
            Condition::parse(&json!({"field": "city", "op": "eq", "value": "Москва"})).unwrap();

        let created = s.create_segment(&mine, "  VIP  ", &vip).await.unwrap();
        assert_eq!(created.name, "VIP");
        assert_eq!(created.condition, vip);
        assert_eq!(created.site_id, mine);
        let dup = s.create_segment(&mine, "VIP", &moscow).await;
        assert!(
            matches!(&dup, Err(StoreError::Conflict(m)) if m.contains("\"VIP\"")),
            "{dup:?}"
        );
        let bad = s.create_segment(&mine, " ", &vip).await;
        assert!(matches!(bad, Err(StoreError::Invalid(_))), "{bad:?}");
        s.create_segment(&theirs, "VIP", &vip).await.unwrap();
        let other = s.create_segment(&mine, "Москва", &moscow).await.unwrap();

        let listed = s.list_segments(&mine).await.unwrap();
        assert_eq!(
            listed.iter().map(|x| x.name.as_str()).collect::<Vec<_>>(),
            ["VIP", "Москва"]
        );
        assert_eq!(s.get_segment(&mine, created.id).await.unwrap(), created);

        let renamed = s
            .update_segment(&mine, created.id, "VIP Москва", &moscow)
            .await
            .unwrap();
        assert_eq!(
            (renamed.name.as_str(), &renamed.condition),
            ("VIP Москва", &moscow)
        );
        assert_eq!(renamed.created_at, created.created_at);
        let taken = s.update_segment(&mine, created.id, "Москва", &vip).await;
        assert!(matches!(taken, Err(StoreError::Conflict(_))), "{taken:?}");

        for result in [
            s.get_segment(&theirs, created.id).await.map(|_| ()),
            s.update_segment(&theirs, created.id, "x", &vip)
                .await
                .map(|_| ()),
            s.delete_segment(&theirs, created.id).await,
            s.get_segment(&mine, SegmentId(999_999)).await.map(|_| ()),
        ] {
            assert!(matches!(result, Err(StoreError::NotFound(_))), "{result:?}");
        }
        s.delete_segment(&mine, other.id).await.unwrap();
        assert!(matches!(
            s.delete_segment(&mine, other.id).await,
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(s.list_segments(&mine).await.unwrap().len(), 1);
        assert_eq!(s.list_segments(&theirs).await.unwrap().len(), 1);
    }
}

vestnik_testkit::db_cases_on_both_backends!(
    contact_fields_select_exactly,
    custom_fields_tags_and_lists_select_exactly,
    behaviour_selects_exactly,
    orders_select_exactly,
    engagement_and_groups_select_exactly,
    segments_are_saved_per_site_with_unique_names,
);
