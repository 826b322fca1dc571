//! Orders on both backends: creation with the buyer's contact, status changes with their
//! history and outbox rows (in one transaction), and sites kept apart.

use serde_json::Value;
use vestnik_domain::{
    Email, Money, NewContact, NewOrder, OrderItem, OrderStatus, Phone, SiteId, StatusUpdate, Store,
    StoreError, Timestamp,
};
use vestnik_testkit::{Backend, TestDb};

fn order(order_id: &str, email: Option<&str>, phone: Option<&str>) -> NewOrder {
    NewOrder {
        order_id: order_id.to_string(),
        email: email.map(|e| Email::parse(e).unwrap()),
        phone: phone.map(|p| Phone::parse(p).unwrap()),
        items: vec![
            OrderItem {
                offer_id: "sku-1".into(),
                price: Money::parse("price", "1500.50").unwrap(),
                quantity: 2,
            },
            OrderItem {
                offer_id: "sku-2".into(),
                price: Money::parse("price", "0.10").unwrap(),
                quantity: 1,
            },
        ],
        total: Money::parse("total", "3001.10").unwrap(),
        created_at: None,
    }
}

/// The outbox rows about orders of a site, oldest first: `(ref_id, payload)`. Read with raw SQL
/// because consuming the outbox belongs to the automation engine, not to `OrderStore`.
async fn order_outbox(db: &TestDb, site: &SiteId) -> Vec<(i64, Value)> {
    use sqlx::Row;
    use sqlx::types::Json;
    const SQL: &str = "SELECT ref_id, payload FROM outbox WHERE site_id = $1 AND topic = 'order_status' ORDER BY id";
    let decode = |ref_id: i64, payload: Json<Value>| (ref_id, payload.0);
    match db.backend() {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url()).await.unwrap();
            let rows = sqlx::query(SQL)
                .bind(site.as_str())
                .fetch_all(&pool)
                .await
                .unwrap();
            rows.iter()
                .map(|r| decode(r.get("ref_id"), r.get("payload")))
                .collect()
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url()).await.unwrap();
            let rows = sqlx::query(SQL)
                .bind(site.as_str())
                .fetch_all(&pool)
                .await
                .unwrap();
            rows.iter()
                .map(|r| decode(r.get("ref_id"), r.get("payload")))
                .collect()
        }
    }
}

async fn new_site(s: &std::sync::Arc<dyn Store>, name: &str) -> SiteId {
    s.create_site(name).await.unwrap().0.id
}

mod cases {
    use super::*;

    pub async fn adds_an_order_as_submitted_and_creates_the_unknown_buyer(db: TestDb) {
        let s = db.store();
        let site = new_site(&s, "Shop").await;
        let before = Timestamp::now();
        let stored = s
            .add_order(&site, &order("f168148717", Some("Buyer@Shop.ru"), None))
            .await
            .unwrap();
        assert_eq!(stored.status, OrderStatus::Submitted);
        assert_eq!(stored.total.as_str(), "3001.10", "money kept as sent");
        assert_eq!(stored.items[1].price.as_str(), "0.10");
        let contact = s
            .find_contact(&site, Some(&Email::parse("buyer@shop.ru").unwrap()), None)
            .await
            .unwrap()
            .expect("the buyer became a contact");
        assert_eq!(stored.contact_id, Some(contact.id));

        let read = s.get_order(&site, "f168148717").await.unwrap();
        assert_eq!(read, stored);
        assert_eq!(read.status_history.len(), 1);
        assert_eq!(read.status_history[0].status, OrderStatus::Submitted);
        assert!(read.created_at >= before);
    }

    pub async fn links_orders_to_the_existing_contact_by_email_then_phone(db: TestDb) {
        let s = db.store();
        let site = new_site(&s, "Shop").await;
        let by_phone = s
            .insert_contact(
                &site,
                &NewContact {
                    phone: Some(Phone::parse("+79161234567").unwrap()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let o = s
            .add_order(&site, &order("1", None, Some("8 916 123-45-67")))
            .await
            .unwrap();
        assert_eq!(o.contact_id, Some(by_phone.id));
        let o = s
            .add_order(
                &site,
                &order("2", Some("new@shop.ru"), Some("+79161234567")),
            )
            .await
            .unwrap();
        assert_eq!(
            o.contact_id,
            Some(by_phone.id),
            "an unknown email with a known phone is the same person"
        );
        assert_eq!(s.count_contacts(&site).await.unwrap(), 1);
    }

    pub async fn keeps_the_shops_creation_time(db: TestDb) {
        let s = db.store();
        let site = new_site(&s, "Shop").await;
        let mut o = order("7", Some("a@shop.ru"), None);
        o.created_at = Timestamp::parse_rfc3339("2024-05-01T12:00:00Z");
        let stored = s.add_order(&site, &o).await.unwrap();
        assert_eq!(stored.created_at.to_rfc3339(), "2024-05-01T12:00:00Z");
        assert_eq!(stored.status_history[0].changed_at, stored.created_at);
    }

    pub async fn a_duplicate_order_id_conflicts_and_leaves_nothing_behind(db: TestDb) {
        let s = db.store();
        let site = new_site(&s, "Shop").await;
        s.add_order(&site, &order("42", Some("a@shop.ru"), None))
            .await
            .unwrap();
        let outbox_before = order_outbox(&db, &site).await.len();
        let err = s
            .add_order(&site, &order("42", Some("someone-else@shop.ru"), None))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        assert_eq!(
            s.count_contacts(&site).await.unwrap(),
            1,
            "the second buyer's contact was rolled back with the order"
        );
        assert_eq!(order_outbox(&db, &site).await.len(), outbox_before);
        assert_eq!(
            s.get_order(&site, "42")
                .await
                .unwrap()
                .email
                .unwrap()
                .as_str(),
            "a@shop.ru"
        );
    }

    pub async fn refuses_an_invalid_order(db: TestDb) {
        let s = db.store();
        let site = new_site(&s, "Shop").await;
        let mut o = order("1", None, None);
        assert!(matches!(
            s.add_order(&site, &o).await,
            Err(StoreError::Invalid(_))
        ));
        o.email = Some(Email::parse("a@shop.ru").unwrap());
        o.items.clear();
        assert!(matches!(
            s.add_order(&site, &o).await,
            Err(StoreError::Invalid(_))
        ));
        assert_eq!(s.count_contacts(&site).await.unwrap(), 0);
    }

    pub async fn a_status_change_writes_history_and_outbox_in_one_go(db: TestDb) {
        let s = db.store();
        let site = new_site(&s, "Shop").await;
        let stored = s
            .add_order(&site, &order("f168148717", Some("a@shop.ru"), None))
            .await
            .unwrap();
        let outbox = order_outbox(&db, &site).await;
        assert_eq!(outbox.len(), 1, "a new order is a status fact too");
        assert_eq!(outbox[0].0, stored.id);
        assert_eq!(outbox[0].1["old_status"], Value::Null);
        assert_eq!(outbox[0].1["new_status"], "submitted");

        let StatusUpdate::Changed(change) = s
            .set_order_status(&site, "f168148717", OrderStatus::Paid)
            .await
            .unwrap()
        else {
            panic!("the status changes");
        };
        assert_eq!(change.old_status, Some(OrderStatus::Submitted));
        assert_eq!(change.new_status, OrderStatus::Paid);

        let outbox = order_outbox(&db, &site).await;
        assert_eq!(outbox.len(), 2);
        let (ref_id, payload) = &outbox[1];
        assert_eq!(*ref_id, stored.id, "ref_id is orders.id");
        assert_eq!(payload["order_id"], "f168148717");
        assert_eq!(payload["old_status"], "submitted");
        assert_eq!(payload["new_status"], "paid");
        assert_eq!(payload["contact_id"], stored.contact_id.unwrap().0);
        assert_eq!(payload["changed_at"], change.changed_at.to_rfc3339());

        s.set_order_status(&site, "f168148717", OrderStatus::Delivered)
            .await
            .unwrap();
        let read = s.get_order(&site, "f168148717").await.unwrap();
        assert_eq!(read.status, OrderStatus::Delivered);
        let history: Vec<_> = read.status_history.iter().map(|h| h.status).collect();
        assert_eq!(
            history,
            [
                OrderStatus::Submitted,
                OrderStatus::Paid,
                OrderStatus::Delivered
            ]
        );
        assert_eq!(read.status_history[1].changed_at, change.changed_at);
        assert_eq!(order_outbox(&db, &site).await.len(), 3);
    }

    pub async fn a_refused_status_change_writes_nothing(db: TestDb) {
        let s = db.store();
        let site = new_site(&s, "Shop").await;
        s.add_order(&site, &order("1", Some("a@shop.ru"), None))
            .await
            .unwrap();
        assert_eq!(
            s.set_order_status(&site, "1", OrderStatus::Submitted)
                .await
                .unwrap(),
            StatusUpdate::AlreadySet
        );
        assert!(matches!(
            s.set_order_status(&site, "nope", OrderStatus::Paid).await,
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(order_outbox(&db, &site).await.len(), 1, "only the creation");
        let read = s.get_order(&site, "1").await.unwrap();
        assert_eq!(read.status_history.len(), 1);
        assert_eq!(read.status, OrderStatus::Submitted);
    }

    pub async fn sites_never_see_each_others_orders(db: TestDb) {
        let s = db.store();
        let a = new_site(&s, "A").await;
        let b = new_site(&s, "B").await;
        s.add_order(&a, &order("1", Some("a@shop.ru"), None))
            .await
            .unwrap();
        assert!(matches!(
            s.get_order(&b, "1").await,
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            s.set_order_status(&b, "1", OrderStatus::Paid).await,
            Err(StoreError::NotFound(_))
        ));
        // The same shop order number in another site is another order, with its own buyer.
        let other = s
            .add_order(&b, &order("1", Some("a@shop.ru"), None))
            .await
            .unwrap();
        assert_eq!(s.count_contacts(&b).await.unwrap(), 1);
        assert_ne!(
            other.contact_id,
            s.get_order(&a, "1").await.unwrap().contact_id
        );
        assert_eq!(
            s.get_order(&a, "1").await.unwrap().status,
            OrderStatus::Submitted
        );
        assert!(order_outbox(&db, &b).await.len() == 1);
    }

    pub async fn concurrent_status_changes_each_record_a_real_transition(db: TestDb) {
        let s = db.store();
        let site = new_site(&s, "Shop").await;
        s.add_order(&site, &order("1", Some("a@shop.ru"), None))
            .await
            .unwrap();
        let other_node = db.another_node().await;
        let targets = [
            OrderStatus::Paid,
            OrderStatus::Cancelled,
            OrderStatus::Delivered,
        ];
        let mut tasks = Vec::new();
        for (i, status) in targets.into_iter().cycle().take(12).enumerate() {
            let store = if i % 2 == 0 {
                s.clone()
            } else {
                other_node.clone()
            };
            let site = site.clone();
            tasks.push(tokio::spawn(async move {
                store.set_order_status(&site, "1", status).await
            }));
        }
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) | Err(StoreError::Unavailable(_)) => {}
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        let read = s.get_order(&site, "1").await.unwrap();
        let history = &read.status_history;
        assert_eq!(history.last().unwrap().status, read.status);
        for pair in history.windows(2) {
            assert_ne!(
                pair[0].status, pair[1].status,
                "no transition to the same status"
            );
        }
        let outbox = order_outbox(&db, &site).await;
        assert_eq!(
            outbox.len(),
            history.len(),
            "one outbox row per history entry"
        );
        for (entry, (_, payload)) in history.iter().zip(&outbox) {
            assert_eq!(payload["new_status"], entry.status.as_str());
        }
        for pair in outbox.windows(2) {
            assert_eq!(pair[1].1["old_status"], pair[0].1["new_status"]);
        }
    }
}

vestnik_testkit::db_cases_on_both_backends!(
    adds_an_order_as_submitted_and_creates_the_unknown_buyer,
    links_orders_to_the_existing_contact_by_email_then_phone,
    keeps_the_shops_creation_time,
    a_duplicate_order_id_conflicts_and_leaves_nothing_behind,
    refuses_an_invalid_order,
    a_status_change_writes_history_and_outbox_in_one_go,
    a_refused_status_change_writes_nothing,
    sites_never_see_each_others_orders,
    concurrent_status_changes_each_record_a_real_transition,
);
