//! The fixture of `segments.rs`: five people with fields, tags, custom fields, a list,
//! events, orders and campaign engagement, stored in a site, and the same facts in memory for
//! the evaluator.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use vestnik_domain::ingest::{self, RawEvent};
use vestnik_domain::segment::{
    ContactFacts, EngagementAction, EngagementFact, EventFact, OrderFact,
};
use vestnik_domain::template::{TemplateContent, TemplateKind};
use vestnik_domain::{
    Bonus, ContactFields, ContactId, Email, EventToStore, LeadStatus, ListId, Money, NewContact,
    NewOrder, OrderItem, OrderStatus, Phone, SiteId, Subscription, Timestamp,
};
use vestnik_testkit::{Backend, TestDb};

const DAY: i64 = 86_400_000;

/// One scalar from SQL on a connection of its own: campaigns are created without the
/// campaign API (as in `tracking.rs`).
async fn scalar(db: &TestDb, sql: String) -> i64 {
    use sqlx::Connection;
    let sql = sqlx::AssertSqlSafe(sql);
    match db.backend() {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&db.url()).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&db.url()).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
        }
    }
}

async fn campaign(db: &TestDb, site: &SiteId) -> i64 {
    let s = db.store();
    let template = s
        .create_template(
            site,
            "Promo",
            &TemplateContent {
                subject: "Hi".into(),
                body: "<p>Hi</p>".into(),
                kind: TemplateKind::Html,
            },
            "test",
        )
        .await
        .unwrap();
    let provider = scalar(
        db,
        format!(
            "INSERT INTO smtp_providers (site_id, name, host, port, tls, pool_size, created_at, updated_at) \
             VALUES ('{site}', 'smtp', '127.0.0.1', 25, 'none', 1, 0, 0) RETURNING id"
        ),
    )
    .await;
    scalar(
        db,
        format!(
            "INSERT INTO campaigns (site_id, name, template_id, template_version, subject, from_email, from_name, \
             recipient_kind, provider_id, send_at, segment_size, interval_minutes, state, created_at, updated_at) \
             VALUES ('{site}', 'Spring', {}, 1, 'Hi', 'shop@example.com', 'Shop', 'all', {provider}, 0, 1000, 0, \
             'done', 0, 0) RETURNING id",
            template.id.0
        ),
    )
    .await
}

/// The five people of the fixture, as each site stores them.
pub struct Fixture {
    pub site: SiteId,
    pub now: Timestamp,
    pub ids: BTreeMap<&'static str, ContactId>,
    pub list: ListId,
    pub campaign: i64,
    pub facts: Vec<(&'static str, ContactFacts)>,
}

fn person(email: Option<&str>, phone: Option<&str>) -> NewContact {
    NewContact {
        email: email.map(|e| Email::parse(e).unwrap()),
        phone: phone.map(|p| Phone::parse(p).unwrap()),
        ..Default::default()
    }
}

fn people() -> Vec<(&'static str, NewContact)> {
    let mut anna = person(Some("anna@shop.ru"), None);
    anna.fields = ContactFields {
        name: Some("Анна".into()),
        city: Some("Москва".into()),
        company: Some("ООО Ромашка".into()),
        birthday: Some("1990-05-17".into()),
        ..Default::default()
    };
    anna.status = LeadStatus::Customer;
    anna.bonus = Bonus::parse("150.10").unwrap();
    anna.tags = vec!["vip".into()];
    anna.custom_fields = json!({"level": "gold", "age": 34, "b2b": true})
        .as_object()
        .cloned()
        .unwrap();
    anna.sms_subscription = Subscription::Unsubscribed;

    let mut boris = person(None, Some("+79161234567"));
    boris.fields.city = Some("Казань".into());
    boris.tags = vec!["newsletter".into()];
    boris.custom_fields = json!({"level": "silver", "age": "34", "note": ""})
        .as_object()
        .cloned()
        .unwrap();

    let mut vera = person(Some("vera@shop.ru"), None);
    vera.fields.city = Some("Москва".into());
    vera.fields.birthday = Some("2001-01-01".into());
    vera.status = LeadStatus::Regular;
    vera.bonus = Bonus::parse("99.5").unwrap();
    vera.email_subscription = Subscription::Unsubscribed;

    let mut gleb = person(Some("gleb@shop.ru"), None);
    gleb.status = LeadStatus::Customer;
    gleb.bonus = Bonus::parse("1.5e2").unwrap();
    gleb.tags = vec!["vip".into(), "b2b".into()];
    gleb.custom_fields = json!({"age": 20.5}).as_object().cloned().unwrap();

    let mut dina = person(Some("dina@shop.ru"), None);
    dina.fields.name = Some("Дина".into());
    dina.fields.city = Some("Москва-Сити".into());
    dina.status = LeadStatus::Wholesale;

    vec![
        ("anna", anna),
        ("boris", boris),
        ("vera", vera),
        ("gleb", gleb),
        ("dina", dina),
    ]
}

fn locator(who: &str) -> (&'static str, String) {
    match who {
        "boris" => ("phone", "+79161234567".into()),
        other => ("email", format!("{other}@shop.ru")),
    }
}

/// Who did it, the event type, how many days ago, and the params besides the locator.
type FixtureEvent = (&'static str, &'static str, i64, Vec<(&'static str, Value)>);

fn events() -> Vec<FixtureEvent> {
    let viewed = || {
        vec![(
            "product",
            json!({"productId": "P1", "price": 10}).to_string().into(),
        )]
    };
    let category = |id: Value| {
        vec![(
            "category",
            json!({"productCategoryId": id}).to_string().into(),
        )]
    };
    vec![
        ("anna", "productViewed", 2, viewed()),
        ("anna", "productViewed", 40, viewed()),
        ("anna", "productCategoryViewed", 5, category(json!("15"))),
        (
            "anna",
            "cartUpdated",
            1,
            vec![
                ("recycleStateId", json!("r1")),
                (
                    "products",
                    json!([{"productId": "P1", "price": 10, "quantity": 1}])
                        .to_string()
                        .into(),
                ),
            ],
        ),
        ("boris", "productViewed", 10, viewed()),
        ("boris", "productViewed", 11, viewed()),
        ("boris", "productViewed", 12, viewed()),
        (
            "boris",
            "cartUpdated",
            3,
            vec![("recycleStateId", json!("r2"))],
        ),
        ("vera", "productCategoryViewed", 1, category(json!(16))),
        ("vera", "webinarJoined", 100, vec![]),
        ("dina", "productCategoryViewed", 50, category(json!("15"))),
    ]
}

/// (who, order id, total, days ago, status)
fn orders() -> Vec<(&'static str, &'static str, &'static str, i64, OrderStatus)> {
    vec![
        ("anna", "A1", "1000.10", 100, OrderStatus::Delivered),
        ("anna", "A2", "0.20", 20, OrderStatus::Paid),
        ("anna", "A3", "5000", 3, OrderStatus::Cancelled),
        ("boris", "B1", "300", 200, OrderStatus::Submitted),
        // Created in the same millisecond as B1: the later id is the last order.
        ("boris", "B2", "50", 200, OrderStatus::Delivered),
        ("gleb", "G1", "999.99", 10, OrderStatus::Paid),
        ("gleb", "G2", "0.01", 5, OrderStatus::Submitted),
    ]
}

pub async fn fixture(db: &TestDb, name: &str, now: Timestamp) -> Fixture {
    let s = db.store();
    let site = s.create_site(name).await.unwrap().0.id;
    let at = |days: i64| Timestamp(now.0 - days * DAY);
    let mut ids = BTreeMap::new();
    let mut facts = BTreeMap::new();
    for (who, contact) in people() {
        let stored = s.insert_contact(&site, &contact).await.unwrap();
        ids.insert(who, stored.id);
        facts.insert(who, ContactFacts::new(stored));
    }

    let list = s.create_list(&site, "Newsletter").await.unwrap().id;
    s.add_to_list(&site, list, &[ids["anna"], ids["vera"]])
        .await
        .unwrap();
    for who in ["anna", "vera"] {
        facts.get_mut(who).unwrap().lists.push(list);
    }

    let mut batch = Vec::new();
    for (who, event_type, days, extra) in events() {
        let (loc, value) = locator(who);
        let mut params = vec![json!({"name": loc, "value": value})];
        params.extend(extra.iter().map(|(n, v)| json!({"name": n, "value": v})));
        let raw: RawEvent =
            serde_json::from_value(json!({"eventTypeKey": event_type, "params": params})).unwrap();
        let event = ingest::validate(raw, None).unwrap();
        let params: serde_json::Value = serde_json::from_str(&event.params_json).unwrap();
        let category_id = params
            .get("category")
            .and_then(|c| c.get("productCategoryId"))
            .map(|id| id.as_str().map_or_else(|| id.to_string(), str::to_string));
        let f = facts.get_mut(who).unwrap();
        f.events.push(EventFact {
            event_type: event_type.into(),
            at: at(days),
            category_id: category_id.clone(),
        });
        if event_type == "productCategoryViewed" {
            f.last_category_id = category_id;
        }
        batch.push(EventToStore::new(site.clone(), event, at(days)));
    }
    // Ingested oldest first, as they would have arrived.
    batch.sort_by_key(|e| e.received_at);
    s.ingest(batch).await.unwrap();
    facts.get_mut("anna").unwrap().cart_items = 1;

    for (who, order_id, total, days, status) in orders() {
        let (loc, value) = locator(who);
        let order = s
            .add_order(
                &site,
                &NewOrder {
                    order_id: order_id.into(),
                    email: (loc == "email").then(|| Email::parse(&value).unwrap()),
                    phone: (loc == "phone").then(|| Phone::parse(&value).unwrap()),
                    items: vec![OrderItem {
                        offer_id: "P1".into(),
                        price: Money::parse("price", total).unwrap(),
                        quantity: 1,
                    }],
                    total: Money::parse("total", total).unwrap(),
                    created_at: Some(at(days)),
                },
            )
            .await
            .unwrap();
        if status != OrderStatus::Submitted {
            s.set_order_status(&site, order_id, status).await.unwrap();
        }
        let mut fact = OrderFact::from(&order);
        fact.status = status;
        facts.get_mut(who).unwrap().orders.push(fact);
    }

    let campaign = campaign(db, &site).await;
    s.record_open(&site, campaign, Some(ids["anna"]), at(2))
        .await
        .unwrap();
    s.record_click(
        &site,
        campaign,
        Some(ids["gleb"]),
        "https://shop.ru/p/1",
        at(4),
    )
    .await
    .unwrap();
    s.record_open(&site, campaign, None, at(1)).await.unwrap();
    facts
        .get_mut("anna")
        .unwrap()
        .engagement
        .push(EngagementFact {
            campaign_id: campaign,
            action: EngagementAction::Opened,
            at: at(2),
        });
    facts
        .get_mut("gleb")
        .unwrap()
        .engagement
        .push(EngagementFact {
            campaign_id: campaign,
            action: EngagementAction::Clicked,
            at: at(4),
        });

    Fixture {
        site,
        now,
        ids,
        list,
        campaign,
        facts: facts.into_iter().collect(),
    }
}
